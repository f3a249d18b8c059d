//! Keras's callbacks: what happens around `fit`'s epochs and steps, plugged in rather than wired
//! into its loop. A [`Callback`] is told when training begins and ends, when each epoch begins
//! and ends (with the epoch's logs: `loss`, `acc`, `val_loss`, `val_acc`), and after each
//! training step (with the running logs); through the [`Fit`] it is given it can read the model
//! and its history, read and set the optimizer's learning rate, and stop training.
//!
//! `fit` itself runs on callbacks: the progress bar ([`ProgbarLogger`]), the stop button and
//! Ctrl-C ([`StopButton`]), the stop on a loss that is not a number ([`TerminateOnNaN`]), the
//! model's [`History`](crate::History) and the checkpoints that a run resumes from
//! ([`BackupAndRestore`]). A callback of one's own is a trait impl, in a notebook cell too:
//!
//! ```
//! use catsdogs::history::Logs;
//! use catsdogs::train::callbacks::{Callback, Fit};
//! /// Halves the learning rate after every epoch whose validation loss did not improve.
//! struct HalveOnPlateau { best: f64 }
//! impl Callback for HalveOnPlateau {
//!     fn on_epoch_end(&mut self, _epoch: usize, logs: &mut Logs, fit: &mut Fit) -> catsdogs::Result<()> {
//!         let loss = logs["val_loss"];
//!         if loss < self.best {
//!             self.best = loss;
//!         } else {
//!             let lr = fit.learning_rate()?;
//!             fit.set_learning_rate(lr / 2.0)?;
//!         }
//!         Ok(())
//!     }
//! }
//! let halve = HalveOnPlateau { best: f64::INFINITY };
//! assert_eq!(halve.name(), "HalveOnPlateau");
//! ```
//!
//! Keras's own callbacks, with Keras 2's names, arguments and rules (tf_keras 2.21, the last
//! of Keras 2, is the reference): [`EarlyStopping`], [`ReduceLROnPlateau`],
//! [`LearningRateScheduler`], [`ModelCheckpoint`], [`CSVLogger`] and [`TensorBoard`], each in
//! its own file with the rule it follows. Their arguments are checked when training begins,
//! before the first epoch, each refusal one sentence ([`Error::Callback`]).
//!
//! A callback with a state that later epochs depend on (a best value, a count of epochs
//! waited) gives it through [`Callback::state`] (and tensors, such as EarlyStopping's best
//! weights, through [`Callback::state_tensors`]) and takes it back through
//! [`Callback::set_state`] (and [`Callback::set_state_tensors`]), so that a run resumed from a
//! checkpoint goes on exactly as an uninterrupted one would.

mod backup;
mod builtin;
mod csv_logger;
mod early_stopping;
mod learning_rate_scheduler;
mod model_checkpoint;
mod monitor;
mod progbar;
mod pyformat;
mod reduce_lr_on_plateau;
mod tensorboard;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use tch::Tensor;

pub(crate) use backup::how_to_start_over;
pub use backup::BackupAndRestore;
pub(crate) use builtin::RecordHistory;
pub use builtin::{StopButton, TerminateOnNaN};
pub use csv_logger::CSVLogger;
pub use early_stopping::EarlyStopping;
pub use learning_rate_scheduler::LearningRateScheduler;
pub use model_checkpoint::ModelCheckpoint;
pub use monitor::Mode;
pub use progbar::ProgbarLogger;
pub use reduce_lr_on_plateau::ReduceLROnPlateau;
pub use tensorboard::TensorBoard;

use super::checkpoint::Settings;
use crate::error::{Error, Result};
use crate::history::{History, Logs};
use crate::model::Model;

/// Something that happens around `fit`'s epochs and steps, as Keras's `Callback`. Every hook
/// does nothing unless implemented. Epochs and steps are counted from 0, as in Keras.
pub trait Callback {
    /// The callback's name, for messages and for its state in checkpoints: its type's name.
    fn name(&self) -> String {
        let full = std::any::type_name::<Self>();
        let path = full.split('<').next().unwrap_or(full);
        path.rsplit("::").next().unwrap_or(path).to_string()
    }

    /// What it was made with, e.g. `EarlyStopping(monitor=val_loss, patience=3)`: a run can
    /// only resume with callbacks made alike. Its name unless implemented.
    fn config(&self) -> String {
        self.name()
    }

    /// Whether the callback only shows the run (a live figure) and changes nothing in it. Such
    /// a callback is left out of the settings that a resumed run must share and keeps no state
    /// in checkpoints, so that adding or removing it never keeps a run from resuming. False
    /// unless implemented.
    fn display_only(&self) -> bool {
        false
    }

    /// Before the first epoch (of a resumed run, before the first epoch it trains).
    fn on_train_begin(&mut self, fit: &mut Fit) -> Result<()> {
        let _ = fit;
        Ok(())
    }

    /// Before epoch `epoch`.
    fn on_epoch_begin(&mut self, epoch: usize, fit: &mut Fit) -> Result<()> {
        let _ = (epoch, fit);
        Ok(())
    }

    /// After training step `batch` of the epoch, with the epoch's running `loss` and `acc`.
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, fit: &mut Fit) -> Result<()> {
        let _ = (batch, logs, fit);
        Ok(())
    }

    /// After epoch `epoch` and its validation, with its logs; a callback may add to them (as
    /// Keras's learning-rate callbacks add `lr`), and later callbacks and the history see it.
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, fit: &mut Fit) -> Result<()> {
        let _ = (epoch, logs, fit);
        Ok(())
    }

    /// After the last epoch, or after the epoch at which a callback stopped training (not when
    /// training failed).
    fn on_train_end(&mut self, fit: &mut Fit) -> Result<()> {
        let _ = fit;
        Ok(())
    }

    /// The state that later epochs depend on, for checkpoints; `None` for a callback without
    /// one.
    fn state(&self) -> Option<Value> {
        None
    }

    /// Takes back a state that [`state`](Callback::state) gave, when a run resumes.
    fn set_state(&mut self, state: Value) -> Result<()> {
        let _ = state;
        Ok(())
    }

    /// The tensors of the state (EarlyStopping's best weights), by name, which checkpoints
    /// save beside [`state`](Callback::state) in a tensor file; none unless implemented.
    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Takes back the tensors that [`state_tensors`](Callback::state_tensors) gave, on the
    /// model's device, when a run resumes (after [`set_state`](Callback::set_state)).
    fn set_state_tensors(&mut self, tensors: Vec<(String, Tensor)>) -> Result<()> {
        let _ = tensors;
        Ok(())
    }
}

/// A state that [`Callback::state`] gave, read back for `set_state`; a state that is not one
/// `callback` wrote (a damaged checkpoint) is refused in one sentence.
pub(crate) fn parse_state<T: serde::de::DeserializeOwned>(
    callback: &'static str,
    state: Value,
) -> Result<T> {
    serde_json::from_value(state).map_err(|e| Error::Callback {
        callback,
        why: format!(
            "the checkpoint holds a state of it that it did not write ({e}): resume from another checkpoint folder, or start over"
        ),
    })
}

/// How a callback ends training.
#[derive(Debug)]
pub(crate) enum Stop {
    /// After this epoch, normally, for this reason (Keras's `model.stop_training = True`).
    Finished(String),
    /// Now, with this error; the epoch in progress is not kept (the stop button, a loss that is
    /// not a number).
    Failed(Error),
}

/// The `fit` in progress, as callbacks see it: Keras's `self.model` and `self.params`.
pub struct Fit<'a> {
    /// The model being trained.
    pub model: &'a mut Model,
    /// The epochs asked for.
    pub epochs: usize,
    /// Training steps per epoch.
    pub steps: usize,
    /// Where checkpoints go, if anywhere.
    pub(crate) checkpoints: Option<PathBuf>,
    /// The first epoch to train (after those of a checkpoint resumed).
    pub(crate) initial_epoch: usize,
    pub(crate) stop: Option<Stop>,
    /// What the run was started with, which a resumed run must share.
    pub(crate) settings: Settings,
    /// The callbacks' states after the last epoch, by their keys.
    pub(crate) states: BTreeMap<String, Value>,
    /// The tensors of the callbacks' states after the last epoch, by their keys.
    pub(crate) state_tensors: BTreeMap<String, Vec<(String, Tensor)>>,
    /// States to give the callbacks when training begins (a resumed run's).
    pub(crate) restored: BTreeMap<String, Value>,
    /// Tensors of states to give the callbacks when training begins (a resumed run's).
    pub(crate) restored_tensors: BTreeMap<String, Vec<(String, Tensor)>>,
}

impl Fit<'_> {
    /// Keras's `self.model.stop_training = True`: training ends after this epoch, for
    /// `reason` (which the History and the run's summary keep).
    pub fn stop_training(&mut self, reason: impl Into<String>) {
        if self.stop.is_none() {
            self.stop = Some(Stop::Finished(reason.into()));
        }
    }

    /// Ends training now with `error`: the epoch in progress is not kept, and `fit` returns
    /// the error.
    pub fn fail(&mut self, error: Error) {
        if !matches!(self.stop, Some(Stop::Failed(_))) {
            self.stop = Some(Stop::Failed(error));
        }
    }

    /// The optimizer's learning rate.
    pub fn learning_rate(&self) -> Result<f64> {
        Ok(self.model.compiled()?.optimizer.learning_rate())
    }

    /// Sets the optimizer's learning rate, as Keras's callbacks set `model.optimizer.lr`.
    pub fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        self.model.compiled_mut()?.optimizer.set_learning_rate(lr);
        Ok(())
    }

    /// The epochs finished so far (the model's History).
    pub fn history(&self) -> &History {
        self.model.history()
    }

    /// Whether a callback has stopped training (after this epoch, or now).
    pub fn stopping(&self) -> bool {
        self.stop.is_some()
    }
}

#[cfg(test)]
impl<'a> Fit<'a> {
    /// A fit of `epochs` epochs of one step each on `model`, without checkpoints, for driving
    /// callbacks by hand in tests.
    pub(crate) fn for_tests(model: &'a mut Model, epochs: usize) -> Self {
        Fit {
            model,
            epochs,
            steps: 1,
            checkpoints: None,
            initial_epoch: 0,
            stop: None,
            settings: Settings {
                seed: 0,
                batch_size: 1,
                target_size: (1, 1),
                train_images: String::new(),
                validation_images: String::new(),
                optimizer: String::new(),
                loss: String::new(),
                compute: String::new(),
                callbacks: Vec::new(),
                augmentation: None,
            },
            states: BTreeMap::new(),
            state_tensors: BTreeMap::new(),
            restored: BTreeMap::new(),
            restored_tensors: BTreeMap::new(),
        }
    }
}

/// The callbacks of one `fit`, in order, each called at every hook; each callback's state is
/// kept under a key of its position and name (positions counted without the
/// [display-only](Callback::display_only) ones, which keep none).
pub(crate) struct CallbackList {
    callbacks: Vec<Box<dyn Callback>>,
    /// Each callback's key, `None` for a display-only one.
    keys: Vec<Option<String>>,
}

impl CallbackList {
    pub(crate) fn new(callbacks: Vec<Box<dyn Callback>>) -> Self {
        let mut index = 0;
        let keys = callbacks
            .iter()
            .map(|callback| {
                (!callback.display_only()).then(|| {
                    index += 1;
                    format!("{}:{}", index - 1, callback.name())
                })
            })
            .collect();
        CallbackList { callbacks, keys }
    }

    /// What the callbacks that act on the run were made with, in order.
    pub(crate) fn configs(&self) -> Vec<String> {
        self.callbacks
            .iter()
            .filter(|c| !c.display_only())
            .map(|c| c.config())
            .collect()
    }

    /// The callbacks that keep states, with their keys.
    fn keyed(&mut self) -> impl Iterator<Item = (&String, &mut Box<dyn Callback>)> {
        self.keys
            .iter()
            .zip(&mut self.callbacks)
            .filter_map(|(key, callback)| Some((key.as_ref()?, callback)))
    }

    /// Every callback's `on_train_begin`, then the states of a resumed run given back.
    pub(crate) fn train_begin(&mut self, fit: &mut Fit) -> Result<()> {
        for callback in &mut self.callbacks {
            callback.on_train_begin(fit)?;
        }
        for (key, callback) in self.keyed() {
            if let Some(state) = fit.restored.remove(key) {
                callback.set_state(state)?;
            }
            if let Some(tensors) = fit.restored_tensors.remove(key) {
                callback.set_state_tensors(tensors)?;
            }
        }
        Ok(())
    }

    pub(crate) fn epoch_begin(&mut self, epoch: usize, fit: &mut Fit) -> Result<()> {
        for callback in &mut self.callbacks {
            callback.on_epoch_begin(epoch, fit)?;
        }
        Ok(())
    }

    pub(crate) fn train_batch_end(
        &mut self,
        batch: usize,
        logs: &Logs,
        fit: &mut Fit,
    ) -> Result<()> {
        for callback in &mut self.callbacks {
            callback.on_train_batch_end(batch, logs, fit)?;
        }
        Ok(())
    }

    /// Every callback's `on_epoch_end`, each followed by its state's record, so that a later
    /// callback (the checkpoint) finds the states of all before it.
    pub(crate) fn epoch_end(&mut self, epoch: usize, logs: &mut Logs, fit: &mut Fit) -> Result<()> {
        for (callback, key) in self.callbacks.iter_mut().zip(&self.keys) {
            callback.on_epoch_end(epoch, logs, fit)?;
            let Some(key) = key.clone() else {
                continue;
            };
            if let Some(state) = callback.state() {
                fit.states.insert(key.clone(), state);
            }
            let tensors = callback.state_tensors();
            if tensors.is_empty() {
                fit.state_tensors.remove(&key);
            } else {
                fit.state_tensors.insert(key, tensors);
            }
        }
        Ok(())
    }

    pub(crate) fn train_end(&mut self, fit: &mut Fit) -> Result<()> {
        for callback in &mut self.callbacks {
            callback.on_train_end(fit)?;
        }
        Ok(())
    }
}

/// Callbacks driven by hand, as `fit` drives them, on a tiny model and made-up logs.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::losses::Loss;
    use crate::model::Activation;
    use crate::optimizers::SGD;

    /// One sigmoid unit on 3 inputs, compiled with SGD at `lr`.
    pub(crate) fn tiny_model(lr: f64) -> Model {
        let mut model = Model::new("tiny", vec![3, 1, 1], Vec::new())
            .unwrap()
            .flatten()
            .dense(1, Activation::Sigmoid);
        model.compile(SGD::new(lr), Loss::BinaryCrossentropy);
        model
    }

    /// The tiny model's bias, which [`drive`] sets to the epoch number at each epoch's start.
    pub(crate) fn bias(model: &Model) -> f64 {
        model.layer("dense_1").unwrap().weights()[1].double_value(&[0])
    }

    /// Logs of one metric.
    pub(crate) fn logs(name: &str, value: f64) -> Logs {
        Logs::from([(name.to_string(), value)])
    }

    /// What a driven run did: each epoch's logs after the callback, and why it stopped.
    pub(crate) struct Driven {
        pub(crate) logs: Vec<Logs>,
        pub(crate) stopped: Option<String>,
    }

    /// Runs `callback` over epochs `first..` with `epochs` (one log per epoch) as fit does:
    /// train begins, each epoch begins (with the bias set to the epoch number, standing for
    /// its training) and ends with its logs, until the last or a stop; then train ends.
    /// With `resumed`, the state of that callback is given to this one after train begins, as
    /// a checkpoint gives it back.
    pub(crate) fn drive_from(
        callback: &mut dyn Callback,
        model: &mut Model,
        first: usize,
        epochs: &[Logs],
        resumed: Option<&dyn Callback>,
    ) -> Result<Driven> {
        let mut fit = Fit::for_tests(model, first + epochs.len());
        callback.on_train_begin(&mut fit)?;
        if let Some(earlier) = resumed {
            if let Some(state) = earlier.state() {
                callback.set_state(state)?;
            }
            let tensors = earlier.state_tensors();
            if !tensors.is_empty() {
                callback.set_state_tensors(tensors)?;
            }
        }
        let mut seen = Vec::new();
        for (epoch, logs) in (first..).zip(epochs) {
            callback.on_epoch_begin(epoch, &mut fit)?;
            {
                let _guard = tch::no_grad_guard();
                let mut bias = fit.model.layer("dense_1")?.weights()[1].shallow_clone();
                let _ = bias.f_fill_(epoch as f64)?;
            }
            callback.on_train_batch_end(0, logs, &mut fit)?;
            let mut logs = logs.clone();
            callback.on_epoch_end(epoch, &mut logs, &mut fit)?;
            seen.push(logs);
            if fit.stopping() {
                break;
            }
        }
        let stopped = match fit.stop.take() {
            Some(Stop::Failed(error)) => return Err(error),
            Some(Stop::Finished(reason)) => {
                fit.stop = Some(Stop::Finished(reason.clone()));
                Some(reason)
            }
            None => None,
        };
        callback.on_train_end(&mut fit)?;
        Ok(Driven {
            logs: seen,
            stopped,
        })
    }

    /// [`drive_from`] epoch 0.
    pub(crate) fn drive(
        callback: &mut dyn Callback,
        model: &mut Model,
        epochs: &[Logs],
    ) -> Result<Driven> {
        drive_from(callback, model, 0, epochs, None)
    }
}
