//! The callbacks every `fit` has: the stop button (and Ctrl-C), the stop on a loss that is not
//! a number, and the record of each epoch in the model's History.

use std::time::Instant;

use super::{Callback, Fit};
use crate::error::{Error, Result};
use crate::history::{History, Logs};
use crate::interrupt;
use crate::train::report::saved_note;

/// The stop button in a notebook, Ctrl-C on the command line: training stops before the next
/// step, the epoch in progress is not kept, and `fit` ends with [`Error::Interrupted`], which
/// says what the checkpoints hold and how to go on.
#[derive(Debug, Default)]
pub struct StopButton {
    epoch: usize,
}

impl StopButton {
    fn check(&self, fit: &mut Fit, step: usize) {
        if interrupt::take() {
            let finished = fit.history().len();
            fit.fail(Error::Interrupted {
                during: format!(
                    "at epoch {}/{}, step {step}/{} (that epoch is not saved)",
                    self.epoch + 1,
                    fit.epochs,
                    fit.steps
                ),
                saved: saved_note(fit.checkpoints.as_deref(), finished),
            });
        }
    }
}

impl Callback for StopButton {
    fn on_epoch_begin(&mut self, epoch: usize, fit: &mut Fit) -> Result<()> {
        self.epoch = epoch;
        self.check(fit, 1);
        Ok(())
    }

    /// Before every step but the first: a stop asked for during an epoch's last step is seen
    /// when the next epoch begins, after that epoch is validated and saved.
    fn on_train_batch_end(&mut self, batch: usize, _: &Logs, fit: &mut Fit) -> Result<()> {
        if batch + 1 < fit.steps {
            self.check(fit, batch + 2);
        }
        Ok(())
    }
}

/// Keras's `TerminateOnNaN`: a step whose loss is not a number (NaN or infinite) updates
/// nothing and ends training, with an error that says where and what to try. Every `fit` has
/// it.
#[derive(Debug, Default)]
pub struct TerminateOnNaN {
    epoch: usize,
}

impl Callback for TerminateOnNaN {
    fn on_epoch_begin(&mut self, epoch: usize, _: &mut Fit) -> Result<()> {
        self.epoch = epoch;
        Ok(())
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, fit: &mut Fit) -> Result<()> {
        let loss = logs.get("loss").copied().unwrap_or(f64::NAN);
        if !loss.is_finite() {
            let finished = fit.history().len();
            fit.fail(Error::NanLoss {
                value: loss,
                epoch: self.epoch + 1,
                epochs: fit.epochs,
                step: batch + 1,
                steps: fit.steps,
                saved: saved_note(fit.checkpoints.as_deref(), finished),
            });
        }
        Ok(())
    }
}

/// Keras's `History` callback: a new History when training begins (a resumed run's checkpoint
/// then gives back the one it saved), each epoch's logs and wall time appended as it ends.
#[derive(Debug)]
pub(crate) struct RecordHistory {
    started: Instant,
}

impl Default for RecordHistory {
    fn default() -> Self {
        RecordHistory {
            started: Instant::now(),
        }
    }
}

impl Callback for RecordHistory {
    fn on_train_begin(&mut self, fit: &mut Fit) -> Result<()> {
        *fit.model.history_mut() = History::default();
        Ok(())
    }

    fn on_epoch_begin(&mut self, _: usize, _: &mut Fit) -> Result<()> {
        self.started = Instant::now();
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, fit: &mut Fit) -> Result<()> {
        let seconds = self.started.elapsed().as_secs_f64();
        fit.model.history_mut().push(epoch, logs, seconds);
        Ok(())
    }
}
