//! Keras's `LearningRateScheduler(schedule)`, as tf_keras 2.21 has it: before every epoch the
//! learning rate becomes `schedule(epoch, lr)` (epoch counted from 0, `lr` the current one),
//! and after it the learning rate it trained with is logged as `lr`. A schedule that gives a
//! learning rate that is not a positive number ends training before that epoch, in one
//! sentence (Keras refuses only what is not a float).
//!
//! It keeps no state: the schedule is a function of the epoch and the learning rate, which
//! checkpoints keep with the optimizer.

use super::{Callback, Fit};
use crate::error::{Error, Result};
use crate::history::Logs;

const NAME: &str = "LearningRateScheduler";

/// Sets the learning rate before every epoch from a function of the epoch and the current
/// learning rate.
///
/// ```
/// use catsdogs::train::callbacks::LearningRateScheduler;
/// use catsdogs::train::FitOptions;
/// // Keras's example: the learning rate kept for 10 epochs, then lowered by e^-0.1 each epoch.
/// let scheduler = LearningRateScheduler::new(|epoch, lr| if epoch < 10 { lr } else { lr * (-0.1f64).exp() });
/// let options = FitOptions::default().callback(scheduler);
/// assert_eq!(options.callbacks.len(), 1);
/// ```
pub struct LearningRateScheduler {
    schedule: Box<dyn FnMut(usize, f64) -> f64>,
}

impl std::fmt::Debug for LearningRateScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NAME)
    }
}

impl LearningRateScheduler {
    /// `LearningRateScheduler(schedule)`: `schedule(epoch, lr)` gives the learning rate of
    /// epoch `epoch` (from 0).
    pub fn new(schedule: impl FnMut(usize, f64) -> f64 + 'static) -> Self {
        LearningRateScheduler {
            schedule: Box::new(schedule),
        }
    }
}

impl Callback for LearningRateScheduler {
    fn on_epoch_begin(&mut self, epoch: usize, fit: &mut Fit) -> Result<()> {
        let lr = (self.schedule)(epoch, fit.learning_rate()?);
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::Callback {
                callback: NAME,
                why: format!(
                    "the schedule gave the learning rate {lr} for epoch {}: it must give a positive number",
                    epoch + 1
                ),
            });
        }
        fit.set_learning_rate(lr)
    }

    fn on_epoch_end(&mut self, _: usize, logs: &mut Logs, fit: &mut Fit) -> Result<()> {
        logs.insert("lr".to_string(), fit.learning_rate()?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{drive, logs, tiny_model};
    use super::*;

    #[test]
    fn the_schedule_sets_each_epochs_rate_and_the_logs_say_it() {
        let mut model = tiny_model(1.0);
        let mut scheduler =
            LearningRateScheduler::new(|epoch, lr| if epoch < 2 { lr } else { lr * 0.5 });
        let epochs = vec![logs("loss", 1.0); 4];
        let run = drive(&mut scheduler, &mut model, &epochs).unwrap();
        let lrs: Vec<f64> = run.logs.iter().map(|l| l["lr"]).collect();
        assert_eq!(lrs, [1.0, 1.0, 0.5, 0.25]);
    }

    #[test]
    fn a_schedule_that_gives_no_learning_rate_stops_before_that_epoch() {
        let mut model = tiny_model(1.0);
        let mut scheduler =
            LearningRateScheduler::new(|epoch, lr| if epoch == 1 { 0.0 } else { lr });
        let error = drive(&mut scheduler, &mut model, &vec![logs("loss", 1.0); 3])
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            "LearningRateScheduler: the schedule gave the learning rate 0 for epoch 2: it must give a positive number"
        );
    }
}
