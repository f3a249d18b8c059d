//! Keras's `BackupAndRestore(backup_dir, delete_checkpoint=False)`: a checkpoint after every
//! epoch (model, optimizer, History, the callbacks' states; see
//! [`Checkpoint`](crate::train::Checkpoint)), and a run that finds one carries on after its
//! epoch, exactly as if it had not stopped. A run that was not asked to resume refuses a
//! folder that holds one, so that a finished run is never extended or overwritten by mistake.

use std::path::PathBuf;

use super::{Callback, Fit};
use crate::error::{Error, Result};
use crate::history::Logs;
use crate::train::checkpoint::Checkpoint;

/// Checkpoints in `dir` after every epoch, and resumption from the latest.
#[derive(Debug)]
pub struct BackupAndRestore {
    dir: PathBuf,
    resume: bool,
}

impl BackupAndRestore {
    /// Checkpoints in `dir`; a run carries on from the latest one there only if `resume`
    /// (otherwise a folder holding one is refused).
    pub fn new(dir: impl Into<PathBuf>, resume: bool) -> Self {
        BackupAndRestore {
            dir: dir.into(),
            resume,
        }
    }
}

impl Callback for BackupAndRestore {
    fn on_train_begin(&mut self, fit: &mut Fit) -> Result<()> {
        let Some(checkpoint) = Checkpoint::latest(&self.dir)? else {
            return Ok(());
        };
        if !self.resume {
            return Err(Error::CheckpointExists {
                dir: self.dir.clone(),
                epoch: checkpoint.epoch,
            });
        }
        checkpoint.restore(fit)?;
        if let Some(reason) = checkpoint.stopped() {
            crate::say!(
                "{} holds a run that stopped after epoch {} ({reason}), so there is nothing to train; to train it again, delete that folder or give another one.",
                self.dir.display(),
                checkpoint.epoch
            );
        } else if checkpoint.epoch >= fit.epochs {
            crate::say!(
                "{} holds all {} epochs of this run already, so there is nothing to train; to train it again, delete that folder or give another one.",
                self.dir.display(),
                checkpoint.epoch
            );
        } else {
            crate::say!(
                "Resuming after epoch {}/{} from {}.",
                checkpoint.epoch,
                fit.epochs,
                checkpoint.path.display()
            );
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, _: &mut Logs, fit: &mut Fit) -> Result<()> {
        Checkpoint::save(&self.dir, epoch + 1, fit)
    }
}
