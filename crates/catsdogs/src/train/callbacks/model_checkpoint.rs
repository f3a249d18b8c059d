//! Keras's `ModelCheckpoint(filepath, monitor, save_best_only, save_weights_only, mode)`, as
//! tf_keras 2.21 has it (saving once per epoch, `save_freq='epoch'`):
//!
//! - After every epoch the file name is `filepath.format(epoch=epoch + 1, **logs)`: Python's
//!   named fields with their format specs, e.g. `weights.{epoch:02d}-{val_loss:.4f}.safetensors`
//!   (see `pyformat`). A field other than `epoch` and the logs' metrics (`loss`, `acc`,
//!   `val_loss`, `val_acc`, and `lr` where a learning-rate callback before it logs it), or a
//!   spec that Python would refuse, is refused before the first epoch.
//! - With `save_best_only`, a file is written only when the monitored metric beats the best so
//!   far (strictly; no `min_delta`): `auto` mode maximises a metric whose name contains `acc`
//!   or starts with `fmeasure`, and minimises the others. The best is kept across `fit`s of the
//!   same callback, as in Keras, and goes into checkpoints.
//! - The file is the model as [`Model::save`](crate::model::Model::save) writes it, or with
//!   `save_weights_only` its weights alone (safetensors, named `layer/kernel` as
//!   [`Model::named_parameters`](crate::model::Model::named_parameters) names them).
//!
//! Where Keras overwrites any file at the path, this one replaces only a file that catsdogs
//! wrote (a safetensors file with catsdogs' metadata); any other file stops training with a
//! sentence, and is left as it was.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::monitor::{check_monitor, saved_best, worst, Mode, METRICS};
use super::pyformat::{NoValue, Number, Pattern, PatternError};
use super::{parse_state, Callback, Fit};
use crate::error::{Error, Result};
use crate::history::Logs;
use crate::tensor_file;

const NAME: &str = "ModelCheckpoint";

/// The metadata entry of a weights-only file: the model's name.
const WEIGHTS_KEY: &str = "catsdogs.weights";

/// Saves the model (or its weights) after every epoch, or only after those that improve the
/// monitored metric; see the module's notes for Keras's rule.
///
/// ```
/// use catsdogs::history::Logs;
/// use catsdogs::train::callbacks::ModelCheckpoint;
/// let checkpoint = ModelCheckpoint::new("runs/x/weights.{epoch:02d}-{val_loss:.2f}.safetensors")
///     .save_best_only(true);
/// let logs = Logs::from([("val_loss".to_string(), 0.2345)]);
/// let path = checkpoint.file_path(2, &logs)?;
/// assert_eq!(path.to_str(), Some("runs/x/weights.03-0.23.safetensors"));
/// # Ok::<(), catsdogs::Error>(())
/// ```
#[derive(Debug)]
pub struct ModelCheckpoint {
    filepath: String,
    pattern: std::result::Result<Pattern, PatternError>,
    monitor: String,
    save_best_only: bool,
    save_weights_only: bool,
    mode: Mode,
    best: Option<f64>,
}

/// What a checkpoint keeps of it.
#[derive(Serialize, Deserialize)]
struct State {
    best: Option<f64>,
}

impl ModelCheckpoint {
    /// `ModelCheckpoint(filepath)` with Keras's defaults: `monitor='val_loss'`,
    /// `save_best_only=False`, `save_weights_only=False`, `mode='auto'`.
    pub fn new(filepath: impl Into<String>) -> Self {
        let filepath = filepath.into();
        ModelCheckpoint {
            pattern: Pattern::parse(&filepath),
            filepath,
            monitor: "val_loss".to_string(),
            save_best_only: false,
            save_weights_only: false,
            mode: Mode::Auto,
            best: None,
        }
    }

    /// The metric that `save_best_only` watches.
    pub fn monitor(mut self, monitor: impl Into<String>) -> Self {
        self.monitor = monitor.into();
        self
    }

    /// Writes a file only when the monitored metric improves.
    pub fn save_best_only(mut self, best_only: bool) -> Self {
        self.save_best_only = best_only;
        self
    }

    /// Writes the weights alone instead of the whole model.
    pub fn save_weights_only(mut self, weights_only: bool) -> Self {
        self.save_weights_only = weights_only;
        self
    }

    /// Whether the metric improves going down or up.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The best value of the monitored metric saved so far, if any.
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    fn higher_is_better(&self) -> bool {
        let name = &self.monitor;
        let auto = name.contains("acc") || name.starts_with("fmeasure");
        self.mode.higher_is_better(auto)
    }

    fn refuse(&self, why: String) -> Error {
        Error::Callback {
            callback: NAME,
            why: format!("the filepath {:?} {why}", self.filepath),
        }
    }

    /// The pattern, if Python would format it with an epoch and fit's logs.
    fn checked_pattern(&self) -> Result<&Pattern> {
        let pattern = self
            .pattern
            .as_ref()
            .map_err(|why| self.refuse(why.to_string()))?;
        for field in pattern.fields() {
            let value = match field {
                "epoch" => Number::Int(1),
                name if METRICS.contains(&name) || name == "lr" => Number::Float(1.0),
                name => {
                    return Err(self.refuse(format!(
                        "names the field {{{name}}}, which is not one of Keras's: give epoch or one of {}, lr",
                        METRICS.join(", ")
                    )))
                }
            };
            pattern
                .check(field, value)
                .map_err(|why| self.refuse(why.to_string()))?;
        }
        Ok(pattern)
    }

    /// Keras's `_get_file_path`: the file of epoch `epoch` (from 0, written from 1) with these
    /// logs.
    pub fn file_path(&self, epoch: usize, logs: &Logs) -> Result<PathBuf> {
        let pattern = self.checked_pattern()?;
        let text = pattern
            .format(|name| match name {
                "epoch" => Some(Number::Int(epoch as i64 + 1)),
                name => logs.get(name).copied().map(Number::Float),
            })
            .map_err(|NoValue(name)| {
                self.refuse(format!(
                    "names {{{name}}}, which the logs of epoch {} do not hold: put ReduceLROnPlateau or LearningRateScheduler before it for lr",
                    epoch + 1
                ))
            })?;
        Ok(PathBuf::from(text))
    }

    /// Writes the model or its weights to `path`, replacing only a file that catsdogs wrote.
    fn save(&self, path: &Path, fit: &Fit) -> Result<()> {
        if path.is_dir() {
            return Err(Error::Callback {
                callback: NAME,
                why: format!("{} is a folder: give a file path", path.display()),
            });
        }
        let ours = |path: &Path| {
            tensor_file::metadata(path).is_ok_and(|m| m.keys().any(|k| k.starts_with("catsdogs.")))
        };
        if path.exists() && !ours(path) {
            return Err(Error::Callback {
                callback: NAME,
                why: format!(
                    "{} exists and is not a file that catsdogs wrote, so it is left as it was: give another filepath",
                    path.display()
                ),
            });
        }
        if self.save_weights_only {
            let metadata = HashMap::from([(WEIGHTS_KEY.to_string(), fit.model.name().to_string())]);
            tensor_file::write(path, &fit.model.named_parameters(), metadata)
        } else {
            fit.model.save(path)
        }
    }
}

impl Callback for ModelCheckpoint {
    fn config(&self) -> String {
        format!(
            "{NAME}(filepath={}, monitor={}, save_best_only={}, save_weights_only={}, mode={})",
            self.filepath, self.monitor, self.save_best_only, self.save_weights_only, self.mode
        )
    }

    fn on_train_begin(&mut self, _: &mut Fit) -> Result<()> {
        self.checked_pattern()?;
        if self.save_best_only {
            check_monitor(NAME, &self.monitor)?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, fit: &mut Fit) -> Result<()> {
        let path = self.file_path(epoch, logs)?;
        if !self.save_best_only {
            return self.save(&path, fit);
        }
        let Some(&current) = logs.get(&self.monitor) else {
            return Ok(());
        };
        let higher = self.higher_is_better();
        let best = self.best.unwrap_or(worst(higher));
        let improves = if higher {
            current > best
        } else {
            current < best
        };
        if improves {
            self.save(&path, fit)?;
            self.best = Some(current);
        }
        Ok(())
    }

    fn state(&self) -> Option<Value> {
        let state = State {
            best: self.best.and_then(saved_best),
        };
        Some(serde_json::to_value(state).expect("states serialise"))
    }

    fn set_state(&mut self, state: Value) -> Result<()> {
        let state: State = parse_state(NAME, state)?;
        self.best = state.best;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{drive, logs, tiny_model};
    use super::*;
    use crate::model::Model;

    fn file_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_best_epochs_are_saved_under_their_formatted_names() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = dir.path().join("m.{epoch:02d}-{val_loss:.4f}.safetensors");
        let mut checkpoint = ModelCheckpoint::new(pattern.to_str().unwrap()).save_best_only(true);
        let mut model = tiny_model(0.1);
        let epochs: Vec<Logs> = [0.5, 0.6, 0.4]
            .iter()
            .map(|&v| logs("val_loss", v))
            .collect();
        drive(&mut checkpoint, &mut model, &epochs).unwrap();
        assert_eq!(
            file_names(dir.path()),
            ["m.01-0.5000.safetensors", "m.03-0.4000.safetensors"]
        );
        assert_eq!(checkpoint.best(), Some(0.4));
        let saved = Model::load(dir.path().join("m.03-0.4000.safetensors"), tch::Device::Cpu);
        let bias = saved.unwrap().layer("dense_1").unwrap().weights()[1].double_value(&[0]);
        assert_eq!(bias, 2.0, "the model of epoch 3 (from 1)");
    }

    #[test]
    fn weights_only_files_hold_the_named_weights() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.safetensors");
        let mut checkpoint = ModelCheckpoint::new(path.to_str().unwrap())
            .save_weights_only(true)
            .monitor("val_acc")
            .save_best_only(true);
        let mut model = tiny_model(0.1);
        let epochs: Vec<Logs> = [0.5, 0.7, 0.6]
            .iter()
            .map(|&v| logs("val_acc", v))
            .collect();
        drive(&mut checkpoint, &mut model, &epochs).unwrap();
        let (tensors, metadata) = tensor_file::read(&path).unwrap();
        assert_eq!(tensors["dense_1/bias"].double_value(&[0]), 1.0);
        assert_eq!(metadata[WEIGHTS_KEY], "tiny");
    }

    #[test]
    fn a_field_keras_does_not_know_is_refused_before_the_first_epoch() {
        let mut model = tiny_model(0.1);
        let cases = [
            (
                "w.{val_los:.2f}",
                "ModelCheckpoint: the filepath \"w.{val_los:.2f}\" names the field {val_los}, which is not one of Keras's: give epoch or one of loss, acc, val_loss, val_acc, lr",
            ),
            (
                "w.{epoch:02d",
                "ModelCheckpoint: the filepath \"w.{epoch:02d\" its field {epoch:02d is not closed",
            ),
            (
                "w.{val_loss:02d}",
                "ModelCheckpoint: the filepath \"w.{val_loss:02d}\" its field val_loss is a number with decimals, which the type d does not format: use a spec such as .4f",
            ),
        ];
        for (pattern, sentence) in cases {
            let mut checkpoint = ModelCheckpoint::new(pattern);
            let error = drive(&mut checkpoint, &mut model, &[]).err().unwrap();
            assert_eq!(error.to_string(), sentence);
        }
    }

    #[test]
    fn a_file_that_catsdogs_did_not_write_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, b"mine").unwrap();
        let mut checkpoint = ModelCheckpoint::new(path.to_str().unwrap());
        let mut model = tiny_model(0.1);
        let error = drive(&mut checkpoint, &mut model, &[logs("val_loss", 1.0)])
            .err()
            .unwrap();
        assert!(
            error.to_string().ends_with(
                "notes.txt exists and is not a file that catsdogs wrote, so it is left as it was: give another filepath"
            ),
            "{error}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"mine");
    }
}
