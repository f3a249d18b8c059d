//! Keras's `ProgbarLogger`: `Epoch 3/30`, a progress bar with the epoch's running loss and
//! accuracy, and Keras's line at the end of the epoch, validation included:
//! `8/8 [==============================] - 1s 150ms/step - loss: 0.3012 - acc: 0.8750 -
//! val_loss: 0.2871 - val_acc: 0.9000`.

use super::{Callback, Fit};
use crate::error::Result;
use crate::history::Logs;
use crate::progress::Progress;
use crate::train::report::logs_text;

/// The progress of each epoch, as Keras prints it. Every `fit` has it; how much it shows
/// follows [`crate::console::verbose`].
#[derive(Default)]
pub struct ProgbarLogger {
    progress: Option<Progress>,
}

impl Callback for ProgbarLogger {
    fn on_epoch_begin(&mut self, epoch: usize, fit: &mut Fit) -> Result<()> {
        crate::say!("Epoch {}/{}", epoch + 1, fit.epochs);
        self.progress = Some(Progress::new(fit.steps as u64));
        Ok(())
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, _: &mut Fit) -> Result<()> {
        if let Some(progress) = &self.progress {
            progress.set(batch as u64 + 1, &logs_text(logs));
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, _: usize, logs: &mut Logs, _: &mut Fit) -> Result<()> {
        if let Some(progress) = self.progress.take() {
            progress.finish(&logs_text(logs));
        }
        Ok(())
    }
}
