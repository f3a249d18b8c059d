//! Keras's `EarlyStopping(monitor, min_delta, patience, mode, baseline, restore_best_weights,
//! start_from_epoch)`, as tf_keras 2.21 has it (the rule of Keras 2.12 and later):
//!
//! - `auto` mode maximises a metric whose name ends in `acc`, `accuracy` or `auc`, and
//!   minimises the others; `min_delta` counts as its absolute value, negated in min mode, and
//!   a value improves when `value - min_delta` beats the best (so in min mode it must be
//!   lower by more than `min_delta`).
//! - Epochs before `start_from_epoch` are not watched. After each watched epoch, `wait` grows
//!   by one; an improvement sets the best (and, with `restore_best_weights`, keeps the
//!   weights), and resets `wait` only if the value also improves on `baseline` (when given).
//!   Otherwise, training stops once `wait >= patience`, from the second epoch on.
//! - With `restore_best_weights`, the best epoch's weights go back into the model when
//!   training ends, whether or not it stopped early (the first watched epoch's, if none
//!   improved), as Keras does since 2.12 (before, only when it stopped early).
//!
//! Its state (wait, best, best and stopped epoch, best weights) goes into checkpoints.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::Tensor;

use super::monitor::{check_finite, check_monitor, saved_best, worst, Mode};
use super::{parse_state, Callback, Fit};
use crate::error::Result;
use crate::history::Logs;
use crate::model::Model;

const NAME: &str = "EarlyStopping";

/// Stops training when the monitored metric has stopped improving; see the module's notes
/// for Keras's rule.
///
/// ```
/// use catsdogs::train::callbacks::{Callback, EarlyStopping};
/// use catsdogs::train::FitOptions;
/// let early = EarlyStopping::new("val_loss").patience(3).restore_best_weights(true);
/// assert_eq!(
///     early.config(),
///     "EarlyStopping(monitor=val_loss, min_delta=0, patience=3, mode=auto, baseline=None, \
///      restore_best_weights=true, start_from_epoch=0)"
/// );
/// let options = FitOptions::default().callback(early);
/// assert_eq!(options.callbacks.len(), 1);
/// ```
#[derive(Debug)]
pub struct EarlyStopping {
    monitor: String,
    min_delta: f64,
    patience: usize,
    mode: Mode,
    baseline: Option<f64>,
    restore_best_weights: bool,
    start_from_epoch: usize,
    wait: usize,
    stopped_epoch: usize,
    best: f64,
    best_epoch: usize,
    best_weights: Option<Vec<(String, Tensor)>>,
}

/// What a checkpoint keeps of it, besides the best weights.
#[derive(Serialize, Deserialize)]
struct State {
    wait: usize,
    stopped_epoch: usize,
    best: Option<f64>,
    best_epoch: usize,
}

impl EarlyStopping {
    /// `EarlyStopping(monitor=monitor)` with Keras's defaults: `min_delta=0`, `patience=0`,
    /// `mode='auto'`, no baseline, `restore_best_weights=False`, `start_from_epoch=0`.
    pub fn new(monitor: impl Into<String>) -> Self {
        EarlyStopping {
            monitor: monitor.into(),
            min_delta: 0.0,
            patience: 0,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            wait: 0,
            stopped_epoch: 0,
            best: f64::INFINITY,
            best_epoch: 0,
            best_weights: None,
        }
    }

    /// The least change that counts as an improvement (its absolute value, as in Keras).
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta.abs();
        self
    }

    /// Epochs without improvement after which training stops.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Whether the metric improves going down or up.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// A value the metric must beat for `wait` to start again.
    pub fn baseline(mut self, baseline: f64) -> Self {
        self.baseline = Some(baseline);
        self
    }

    /// Puts the best epoch's weights back when training ends.
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }

    /// Epochs (from 0) before which the metric is not watched: a warm-up.
    pub fn start_from_epoch(mut self, epoch: usize) -> Self {
        self.start_from_epoch = epoch;
        self
    }

    /// The best epoch so far, counted from 0 (Keras's `best_epoch`).
    pub fn best_epoch(&self) -> usize {
        self.best_epoch
    }

    /// The epoch after which it stopped training, from 0 (0 if it did not; Keras's
    /// `stopped_epoch`).
    pub fn stopped_epoch(&self) -> usize {
        self.stopped_epoch
    }

    /// The best value of the metric so far (infinite before the first watched epoch).
    pub fn best(&self) -> f64 {
        self.best
    }

    fn higher_is_better(&self) -> bool {
        let name = &self.monitor;
        let auto = name.ends_with("acc") || name.ends_with("accuracy") || name.ends_with("auc");
        self.mode.higher_is_better(auto)
    }

    /// Keras's `_is_improvement`: `value - min_delta` beats `reference`, with `min_delta`
    /// negated in min mode.
    fn is_improvement(&self, value: f64, reference: f64) -> bool {
        if self.higher_is_better() {
            value - self.min_delta > reference
        } else {
            value + self.min_delta < reference
        }
    }
}

/// Copies of the weights that `fit` can change: every weight of the trainable layers (batch
/// normalisation's moving statistics too). Frozen layers keep theirs through `fit`, so putting
/// these back restores the whole model, as Keras's `set_weights(best_weights)` does.
fn changing_weights(model: &Model) -> Result<Vec<(String, Tensor)>> {
    let _guard = tch::no_grad_guard();
    model
        .layers()
        .iter()
        .filter(|l| l.trainable())
        .flat_map(|l| l.named_weights())
        .map(|(name, weight)| {
            let mut copy = weight.f_empty_like()?;
            copy.f_copy_(&weight)?;
            Ok((name, copy))
        })
        .collect()
}

impl Callback for EarlyStopping {
    fn config(&self) -> String {
        let baseline = self.baseline.map_or("None".to_string(), |b| b.to_string());
        format!(
            "{NAME}(monitor={}, min_delta={}, patience={}, mode={}, baseline={baseline}, restore_best_weights={}, start_from_epoch={})",
            self.monitor,
            self.min_delta,
            self.patience,
            self.mode,
            self.restore_best_weights,
            self.start_from_epoch
        )
    }

    fn on_train_begin(&mut self, _: &mut Fit) -> Result<()> {
        check_monitor(NAME, &self.monitor)?;
        check_finite(NAME, "min_delta", self.min_delta)?;
        if let Some(baseline) = self.baseline {
            check_finite(NAME, "baseline", baseline)?;
        }
        self.wait = 0;
        self.stopped_epoch = 0;
        self.best = worst(self.higher_is_better());
        self.best_weights = None;
        self.best_epoch = 0;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, fit: &mut Fit) -> Result<()> {
        let Some(&current) = logs.get(&self.monitor) else {
            return Ok(());
        };
        if epoch < self.start_from_epoch {
            return Ok(());
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(changing_weights(fit.model)?);
            self.best_epoch = epoch;
        }
        self.wait += 1;
        if self.is_improvement(current, self.best) {
            self.best = current;
            self.best_epoch = epoch;
            if self.restore_best_weights {
                self.best_weights = Some(changing_weights(fit.model)?);
            }
            if self
                .baseline
                .is_none_or(|baseline| self.is_improvement(current, baseline))
            {
                self.wait = 0;
            }
            return Ok(());
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = epoch;
            fit.stop_training(format!(
                "{NAME}: {} did not improve for {} epoch(s) after epoch {} ({})",
                self.monitor,
                self.wait,
                self.best_epoch + 1,
                self.best
            ));
        }
        Ok(())
    }

    fn on_train_end(&mut self, fit: &mut Fit) -> Result<()> {
        if self.stopped_epoch > 0 {
            crate::say!("Epoch {}: early stopping", self.stopped_epoch + 1);
        }
        let Some(best) = &self.best_weights else {
            return Ok(());
        };
        if !self.restore_best_weights {
            return Ok(());
        }
        crate::say!(
            "Restoring model weights from the end of the best epoch: {}.",
            self.best_epoch + 1
        );
        let _guard = tch::no_grad_guard();
        let weights: std::collections::HashMap<String, Tensor> =
            fit.model.named_parameters().into_iter().collect();
        for (name, value) in best {
            if let Some(weight) = weights.get(name) {
                weight.shallow_clone().f_copy_(value)?;
            }
        }
        Ok(())
    }

    fn state(&self) -> Option<Value> {
        let state = State {
            wait: self.wait,
            stopped_epoch: self.stopped_epoch,
            best: saved_best(self.best),
            best_epoch: self.best_epoch,
        };
        Some(serde_json::to_value(state).expect("states serialise"))
    }

    fn set_state(&mut self, state: Value) -> Result<()> {
        let state: State = parse_state(NAME, state)?;
        self.wait = state.wait;
        self.stopped_epoch = state.stopped_epoch;
        self.best = state.best.unwrap_or(worst(self.higher_is_better()));
        self.best_epoch = state.best_epoch;
        Ok(())
    }

    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.best_weights.as_ref().map_or_else(Vec::new, |weights| {
            weights
                .iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect()
        })
    }

    fn set_state_tensors(&mut self, tensors: Vec<(String, Tensor)>) -> Result<()> {
        self.best_weights = Some(tensors);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{bias, drive, drive_from, logs, tiny_model};
    use super::*;

    fn val_loss(values: &[f64]) -> Vec<Logs> {
        values.iter().map(|&v| logs("val_loss", v)).collect()
    }

    #[test]
    fn min_delta_counts_against_the_loss_and_the_best_weights_come_back() {
        // wait: 0 (best 1.0), 1, 0 (0.85 beats 1.0 by more than 0.1), 1, 2 = patience: stop.
        let mut model = tiny_model(0.1);
        let mut early = EarlyStopping::new("val_loss")
            .min_delta(-0.1)
            .patience(2)
            .restore_best_weights(true);
        let epochs = val_loss(&[1.0, 0.95, 0.85, 0.9, 0.8, 0.79]);
        let run = drive(&mut early, &mut model, &epochs).unwrap();
        assert_eq!(run.logs.len(), 5);
        assert_eq!(early.stopped_epoch(), 4);
        assert_eq!(early.best_epoch(), 2);
        assert_eq!(early.best(), 0.85);
        assert_eq!(bias(&model), 2.0);
        assert_eq!(
            run.stopped.unwrap(),
            "EarlyStopping: val_loss did not improve for 2 epoch(s) after epoch 3 (0.85)"
        );
    }

    #[test]
    fn an_accuracy_goes_up_and_a_baseline_not_beaten_keeps_the_wait() {
        // auto mode maximises val_acc; every improvement falls short of the baseline 0.8, so
        // wait never restarts: 1, 2, 3 (improving each time), then 4 >= 3 stops at epoch 3.
        let mut model = tiny_model(0.1);
        let mut early = EarlyStopping::new("val_acc")
            .patience(3)
            .baseline(0.8)
            .restore_best_weights(true);
        let epochs: Vec<Logs> = [0.5, 0.6, 0.7, 0.65, 0.66, 0.67]
            .iter()
            .map(|&v| logs("val_acc", v))
            .collect();
        let run = drive(&mut early, &mut model, &epochs).unwrap();
        assert_eq!(run.logs.len(), 4);
        assert_eq!(early.stopped_epoch(), 3);
        assert_eq!(bias(&model), 2.0);
    }

    #[test]
    fn epochs_before_start_from_epoch_are_not_watched() {
        let mut model = tiny_model(0.1);
        let mut early = EarlyStopping::new("val_loss")
            .patience(1)
            .start_from_epoch(2);
        let run = drive(
            &mut early,
            &mut model,
            &val_loss(&[5.0, 4.0, 3.0, 3.0, 3.0]),
        )
        .unwrap();
        assert_eq!(run.logs.len(), 4);
        assert_eq!(early.stopped_epoch(), 3);
        assert_eq!(early.best_epoch(), 2);
        assert_eq!(bias(&model), 3.0, "no restore asked for");
    }

    #[test]
    fn the_best_weights_come_back_also_when_patience_never_ran_out() {
        // Keras 2.12 and later: restored at the end of training whenever asked for.
        let mut model = tiny_model(0.1);
        let mut early = EarlyStopping::new("val_loss")
            .patience(5)
            .restore_best_weights(true);
        let run = drive(&mut early, &mut model, &val_loss(&[1.0, 0.5, 0.7])).unwrap();
        assert_eq!(run.logs.len(), 3);
        assert_eq!(run.stopped, None);
        assert_eq!(early.stopped_epoch(), 0);
        assert_eq!(bias(&model), 1.0);
    }

    #[test]
    fn a_resumed_early_stopping_stops_and_restores_as_the_uninterrupted_one() {
        let epochs = val_loss(&[1.0, 0.95, 0.85, 0.9, 0.8, 0.79]);
        let make = || {
            EarlyStopping::new("val_loss")
                .min_delta(0.1)
                .patience(2)
                .restore_best_weights(true)
        };
        let mut model = tiny_model(0.1);
        let mut first = make();
        drive(&mut first, &mut model, &epochs[..4]).unwrap();
        let mut model = tiny_model(0.1);
        let mut resumed = make();
        let run = drive_from(&mut resumed, &mut model, 4, &epochs[4..], Some(&first)).unwrap();
        assert_eq!(run.logs.len(), 1);
        assert_eq!(resumed.stopped_epoch(), 4);
        assert_eq!(bias(&model), 2.0);
    }

    #[test]
    fn bad_arguments_are_one_sentence_before_the_first_epoch() {
        let mut model = tiny_model(0.1);
        let error = drive(&mut EarlyStopping::new("val_los"), &mut model, &[])
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            "EarlyStopping: fit logs no metric \"val_los\", so it cannot be monitored: give one of loss, acc, val_loss, val_acc"
        );
        let nan = EarlyStopping::new("loss").baseline(f64::NAN);
        let error = drive(&mut { nan }, &mut model, &[]).err().unwrap();
        assert_eq!(
            error.to_string(),
            "EarlyStopping: baseline NaN is not a number it can compare with: give a finite one"
        );
    }
}
