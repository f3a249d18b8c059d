//! Keras's `TensorBoard(log_dir)`, writing what tf_keras 2.21 writes with its defaults
//! (`update_freq='epoch'`) for the scalars: after every epoch, in `log_dir/train/`, each log
//! that is not a validation's as `epoch_<name>` (`epoch_loss`, `epoch_acc`, and `epoch_lr`
//! where a learning-rate callback before it logs `lr`) and the optimizer's learning rate as
//! `epoch_learning_rate` (tf_keras writes that one only for a learning-rate schedule, Keras 3
//! always; both read it when the epoch ends, after a ReduceLROnPlateau before it may have
//! lowered it for the next epoch: here it is the rate of the epoch's last step, the one it
//! trained with); in `log_dir/validation/`, each `val_<name>` log as `epoch_<name>` (`epoch_loss`,
//! `epoch_acc`). The step is the epoch, from 0. Each run writes new event files (see
//! `events`), created at the first epoch's end, which TensorBoard reads while they grow:
//! `tensorboard --logdir runs/` (`environment/lab --tensorboard`). The model's graph, weight
//! histograms and profiles, which Keras can add, are not written.

mod events;

use std::path::{Path, PathBuf};

use self::events::EventFile;
use super::{Callback, Fit};
use crate::error::{Error, Result};
use crate::history::Logs;

const NAME: &str = "TensorBoard";

/// Writes each epoch's logs for TensorBoard into `log_dir/train/` and `log_dir/validation/`;
/// see the module's notes.
///
/// ```
/// use catsdogs::train::callbacks::{Callback, TensorBoard};
/// let tensorboard = TensorBoard::new("runs/logs/frozen");
/// assert_eq!(tensorboard.config(), "TensorBoard(log_dir=runs/logs/frozen)");
/// ```
#[derive(Debug)]
pub struct TensorBoard {
    log_dir: PathBuf,
    train: Option<EventFile>,
    validation: Option<EventFile>,
    learning_rate: Option<f64>,
}

impl TensorBoard {
    /// `TensorBoard(log_dir=log_dir)`.
    pub fn new(log_dir: impl Into<PathBuf>) -> Self {
        TensorBoard {
            log_dir: log_dir.into(),
            train: None,
            validation: None,
            learning_rate: None,
        }
    }

    fn writer<'a>(slot: &'a mut Option<EventFile>, dir: &Path) -> Result<&'a mut EventFile> {
        if slot.is_none() {
            *slot = Some(EventFile::create(dir)?);
        }
        Ok(slot.as_mut().expect("just created"))
    }
}

impl Callback for TensorBoard {
    fn config(&self) -> String {
        format!("{NAME}(log_dir={})", self.log_dir.display())
    }

    fn on_train_begin(&mut self, _: &mut Fit) -> Result<()> {
        if self.log_dir.exists() && !self.log_dir.is_dir() {
            return Err(Error::Callback {
                callback: NAME,
                why: format!(
                    "log_dir {} is a file: give a folder (it is created if needed)",
                    self.log_dir.display()
                ),
            });
        }
        self.train = None;
        self.validation = None;
        Ok(())
    }

    fn on_train_batch_end(&mut self, _: usize, _: &Logs, fit: &mut Fit) -> Result<()> {
        self.learning_rate = Some(fit.learning_rate()?);
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, fit: &mut Fit) -> Result<()> {
        let step = epoch as i64;
        let learning_rate = match self.learning_rate.take() {
            Some(lr) => lr,
            None => fit.learning_rate()?,
        };
        let train = Self::writer(&mut self.train, &self.log_dir.join("train"))?;
        for (name, &value) in logs.iter().filter(|(n, _)| !n.starts_with("val_")) {
            train.scalar(&format!("epoch_{name}"), value, step)?;
        }
        train.scalar("epoch_learning_rate", learning_rate, step)?;
        let validation = Self::writer(&mut self.validation, &self.log_dir.join("validation"))?;
        for (name, &value) in logs.iter() {
            if let Some(name) = name.strip_prefix("val_") {
                validation.scalar(&format!("epoch_{name}"), value, step)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::super::testing::{drive, tiny_model};
    use super::events::{Event, What};
    use super::*;

    /// The events of the one file in `dir`, from its records.
    fn events(dir: &Path) -> Vec<Event> {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("events.out.tfevents.") && name.ends_with(".v2"),
            "{name}"
        );
        let bytes = std::fs::read(&files[0]).unwrap();
        let mut events = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let length = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
            let data = &bytes[at + 12..at + 12 + length];
            assert_eq!(
                &bytes[at + 12 + length..at + 16 + length],
                &events::record(data)[12 + length..]
            );
            events.push(Event::decode(data).unwrap());
            at += 16 + length;
        }
        events
    }

    /// (step, tag, value) of each scalar event.
    fn scalars(events: &[Event]) -> Vec<(i64, String, f32)> {
        events
            .iter()
            .filter_map(|e| match &e.what {
                Some(What::Summary(s)) => {
                    let v = &s.value[0];
                    let bytes = v.tensor.as_ref().unwrap().tensor_content.clone();
                    Some((
                        e.step,
                        v.tag.clone(),
                        f32::from_le_bytes(bytes.try_into().unwrap()),
                    ))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_epoch_writes_train_and_validation_scalars_as_keras_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut tensorboard = TensorBoard::new(dir.path());
        let mut model = tiny_model(0.5);
        let epoch = |loss: f64| {
            Logs::from([
                ("loss".to_string(), loss),
                ("acc".to_string(), 0.75),
                ("val_loss".to_string(), loss * 2.0),
                ("val_acc".to_string(), 0.5),
            ])
        };
        drive(&mut tensorboard, &mut model, &[epoch(1.0), epoch(0.25)]).unwrap();
        let train = events(&dir.path().join("train"));
        assert_eq!(
            train[0].what,
            Some(What::FileVersion("brain.Event:2".to_string()))
        );
        let expected = |step: i64, loss: f32| {
            vec![
                (step, "epoch_acc".to_string(), 0.75),
                (step, "epoch_loss".to_string(), loss),
                (step, "epoch_learning_rate".to_string(), 0.5),
            ]
        };
        assert_eq!(
            scalars(&train),
            [expected(0, 1.0), expected(1, 0.25)].concat()
        );
        let validation = scalars(&events(&dir.path().join("validation")));
        assert_eq!(
            validation,
            [
                (0, "epoch_acc".to_string(), 0.5),
                (0, "epoch_loss".to_string(), 2.0),
                (1, "epoch_acc".to_string(), 0.5),
                (1, "epoch_loss".to_string(), 0.5),
            ]
        );
    }
}
