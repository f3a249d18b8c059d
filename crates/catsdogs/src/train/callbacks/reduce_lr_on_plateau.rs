//! Keras's `ReduceLROnPlateau(monitor, factor, patience, mode, min_delta, cooldown, min_lr)`,
//! as tf_keras 2.21 has it:
//!
//! - `auto` mode maximises a metric whose name contains `acc`, and minimises the others; a
//!   value improves when it beats the best by more than `min_delta` (`value < best -
//!   min_delta` in min mode, `value > best + min_delta` in max mode).
//! - After every epoch the learning rate it trained with is logged as `lr`. Then, in
//!   cooldown, the cooldown counter drops by one and `wait` goes back to 0. An improvement sets
//!   the best and `wait` to 0; otherwise, outside cooldown, `wait` grows by one, and once it
//!   reaches `patience` the learning rate becomes `max(lr * factor, min_lr)` (only while it is
//!   above `min_lr`, compared in float32 as Keras keeps it), the cooldown counter `cooldown`
//!   and `wait` 0.
//!
//! The learning rate itself is float64 here (Keras keeps it in float32). Its state (wait, the
//! cooldown counter, the best) goes into checkpoints, and the learning rate with the optimizer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::monitor::{check_finite, check_monitor, saved_best, worst, Mode};
use super::pyformat::repr;
use super::{parse_state, Callback, Fit};
use crate::error::{Error, Result};
use crate::history::Logs;

const NAME: &str = "ReduceLROnPlateau";

/// Lowers the learning rate when the monitored metric stops improving; see the module's notes
/// for Keras's rule.
///
/// ```
/// use catsdogs::train::callbacks::{Callback, ReduceLROnPlateau};
/// let reduce = ReduceLROnPlateau::new("val_loss").factor(0.2).patience(2).min_lr(1e-7);
/// assert_eq!(
///     reduce.config(),
///     "ReduceLROnPlateau(monitor=val_loss, factor=0.2, patience=2, mode=auto, min_delta=0.0001, cooldown=0, min_lr=1e-7)"
/// );
/// ```
#[derive(Debug)]
pub struct ReduceLROnPlateau {
    monitor: String,
    factor: f64,
    patience: usize,
    mode: Mode,
    min_delta: f64,
    cooldown: usize,
    min_lr: f64,
    wait: usize,
    cooldown_counter: usize,
    best: f64,
}

/// What a checkpoint keeps of it.
#[derive(Serialize, Deserialize)]
struct State {
    wait: usize,
    cooldown_counter: usize,
    best: Option<f64>,
}

impl ReduceLROnPlateau {
    /// `ReduceLROnPlateau(monitor=monitor)` with Keras's defaults: `factor=0.1`,
    /// `patience=10`, `mode='auto'`, `min_delta=1e-4`, `cooldown=0`, `min_lr=0`.
    pub fn new(monitor: impl Into<String>) -> Self {
        ReduceLROnPlateau {
            monitor: monitor.into(),
            factor: 0.1,
            patience: 10,
            mode: Mode::Auto,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            wait: 0,
            cooldown_counter: 0,
            best: f64::INFINITY,
        }
    }

    /// The learning rate is multiplied by `factor` (between 0 and 1).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Epochs without improvement after which the learning rate is reduced.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Whether the metric improves going down or up.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// How much better than the best a value must be to count as an improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    /// Epochs after a reduction during which epochs without improvement are not counted.
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The learning rate is never reduced below `min_lr`.
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    fn higher_is_better(&self) -> bool {
        self.mode.higher_is_better(self.monitor.contains("acc"))
    }

    fn improves(&self, value: f64) -> bool {
        if self.higher_is_better() {
            value > self.best + self.min_delta
        } else {
            value < self.best - self.min_delta
        }
    }

    fn check(&self) -> Result<()> {
        check_monitor(NAME, &self.monitor)?;
        let refuse = |why: String| {
            Err(Error::Callback {
                callback: NAME,
                why,
            })
        };
        if !(self.factor > 0.0 && self.factor < 1.0) {
            return refuse(format!(
                "a factor of {} would not reduce the learning rate: give a factor between 0 and 1, such as 0.1",
                self.factor
            ));
        }
        check_finite(NAME, "min_delta", self.min_delta)?;
        if self.min_delta < 0.0 {
            return refuse(format!(
                "min_delta {} is negative, so a worse value would count as an improvement: give 0 or more",
                self.min_delta
            ));
        }
        if !(self.min_lr.is_finite() && self.min_lr >= 0.0) {
            return refuse(format!(
                "min_lr {} is not a learning rate: give 0 or a positive number such as 1e-7",
                self.min_lr
            ));
        }
        Ok(())
    }
}

impl Callback for ReduceLROnPlateau {
    fn config(&self) -> String {
        format!(
            "{NAME}(monitor={}, factor={}, patience={}, mode={}, min_delta={}, cooldown={}, min_lr={:e})",
            self.monitor,
            self.factor,
            self.patience,
            self.mode,
            self.min_delta,
            self.cooldown,
            self.min_lr
        )
    }

    fn on_train_begin(&mut self, _: &mut Fit) -> Result<()> {
        self.check()?;
        self.best = worst(self.higher_is_better());
        self.cooldown_counter = 0;
        self.wait = 0;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, fit: &mut Fit) -> Result<()> {
        let lr = fit.learning_rate()?;
        logs.insert("lr".to_string(), lr);
        let Some(&current) = logs.get(&self.monitor) else {
            return Ok(());
        };
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        if self.improves(current) {
            self.best = current;
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience && (lr as f32) > (self.min_lr as f32) {
                let new_lr = (lr * self.factor).max(self.min_lr);
                fit.set_learning_rate(new_lr)?;
                crate::say!(
                    "Epoch {}: {NAME} reducing learning rate to {}.",
                    epoch + 1,
                    repr(new_lr)
                );
                self.cooldown_counter = self.cooldown;
                self.wait = 0;
            }
        }
        Ok(())
    }

    fn state(&self) -> Option<Value> {
        let state = State {
            wait: self.wait,
            cooldown_counter: self.cooldown_counter,
            best: saved_best(self.best),
        };
        Some(serde_json::to_value(state).expect("states serialise"))
    }

    fn set_state(&mut self, state: Value) -> Result<()> {
        let state: State = parse_state(NAME, state)?;
        self.wait = state.wait;
        self.cooldown_counter = state.cooldown_counter;
        self.best = state.best.unwrap_or(worst(self.higher_is_better()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{drive, drive_from, logs, tiny_model};
    use super::*;

    fn plateau() -> ReduceLROnPlateau {
        ReduceLROnPlateau::new("val_loss")
            .factor(0.5)
            .patience(2)
            .cooldown(1)
            .min_delta(0.1)
            .min_lr(0.2)
    }

    const LOSSES: [f64; 10] = [1.0, 0.95, 0.92, 0.5, 0.45, 0.44, 0.43, 0.42, 0.41, 0.40];

    fn epochs() -> Vec<Logs> {
        LOSSES.iter().map(|&v| logs("val_loss", v)).collect()
    }

    fn lrs(logged: &[Logs]) -> Vec<f64> {
        logged.iter().map(|l| l["lr"]).collect()
    }

    #[test]
    fn the_learning_rate_falls_by_keras_rule_with_cooldown_min_delta_and_min_lr() {
        // Reduced after epochs 3 (two epochs within 0.1 of 1.0), 6 (within 0.1 of 0.5) and 8
        // (one epoch of cooldown; then 0.25 * 0.5 is held at min_lr 0.2); at 0.2 no further.
        let mut model = tiny_model(1.0);
        let mut reduce = plateau();
        let run = drive(&mut reduce, &mut model, &epochs()).unwrap();
        assert_eq!(
            lrs(&run.logs),
            [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]
        );
        assert_eq!(model.compiled().unwrap().optimizer.learning_rate(), 0.2);
    }

    #[test]
    fn an_accuracy_is_watched_going_up() {
        let mut model = tiny_model(1.0);
        let mut reduce = ReduceLROnPlateau::new("val_acc").patience(1).min_delta(0.0);
        let accuracies: Vec<Logs> = [0.5, 0.6, 0.6, 0.7]
            .iter()
            .map(|&v| logs("val_acc", v))
            .collect();
        let run = drive(&mut reduce, &mut model, &accuracies).unwrap();
        assert_eq!(lrs(&run.logs), [1.0, 1.0, 1.0, 0.1]);
    }

    #[test]
    fn a_resumed_reduction_goes_on_as_the_uninterrupted_one() {
        let mut model = tiny_model(1.0);
        let mut first = plateau();
        let before = drive(&mut first, &mut model, &epochs()[..6]).unwrap();
        let mut resumed = plateau();
        let after = drive_from(&mut resumed, &mut model, 6, &epochs()[6..], Some(&first)).unwrap();
        let all: Vec<Logs> = before.logs.into_iter().chain(after.logs).collect();
        assert_eq!(
            lrs(&all),
            [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]
        );
    }

    #[test]
    fn bad_arguments_are_one_sentence_before_the_first_epoch() {
        let mut model = tiny_model(1.0);
        let cases = [
            (
                ReduceLROnPlateau::new("val_loss").factor(1.0),
                "ReduceLROnPlateau: a factor of 1 would not reduce the learning rate: give a factor between 0 and 1, such as 0.1",
            ),
            (
                ReduceLROnPlateau::new("val_loss").min_lr(-1e-3),
                "ReduceLROnPlateau: min_lr -0.001 is not a learning rate: give 0 or a positive number such as 1e-7",
            ),
            (
                ReduceLROnPlateau::new("val_loss").min_delta(-0.5),
                "ReduceLROnPlateau: min_delta -0.5 is negative, so a worse value would count as an improvement: give 0 or more",
            ),
            (
                ReduceLROnPlateau::new("accuracy"),
                "ReduceLROnPlateau: fit logs no metric \"accuracy\", so it cannot be monitored: give one of loss, acc, val_loss, val_acc",
            ),
        ];
        for (mut reduce, sentence) in cases {
            let error = drive(&mut reduce, &mut model, &epochs()).err().unwrap();
            assert_eq!(error.to_string(), sentence);
        }
    }
}
