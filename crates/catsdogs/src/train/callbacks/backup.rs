//! Keras's `BackupAndRestore(backup_dir, delete_checkpoint=False)`: a checkpoint after every
//! epoch (model, optimizer, History, the callbacks' states; see
//! [`Checkpoint`](crate::train::Checkpoint)), and a run that finds one carries on after its
//! epoch, exactly as if it had not stopped, and says so in one line with how to start over. A
//! run that was not asked to resume refuses a folder that holds one, so that a finished run is
//! never extended or overwritten by mistake; a run asked to start over ([`fresh`]) removes the
//! checkpoints there first, and nothing else.
//!
//! [`fresh`]: BackupAndRestore::fresh

use std::path::{Path, PathBuf};

use super::{Callback, Fit};
use crate::error::{Error, Result};
use crate::history::Logs;
use crate::train::checkpoint::Checkpoint;

/// Checkpoints in `dir` after every epoch, and resumption from the latest.
#[derive(Debug)]
pub struct BackupAndRestore {
    dir: PathBuf,
    resume: bool,
    fresh: bool,
}

impl BackupAndRestore {
    /// Checkpoints in `dir`; a run carries on from the latest one there only if `resume`
    /// (otherwise a folder holding one is refused).
    pub fn new(dir: impl Into<PathBuf>, resume: bool) -> Self {
        BackupAndRestore {
            dir: dir.into(),
            resume,
            fresh: false,
        }
    }

    /// Starts over when `fresh`: the checkpoints an earlier run wrote in the folder are
    /// removed when training begins (see [`Checkpoint::remove_all`]), whatever `resume` says.
    pub fn fresh(mut self, fresh: bool) -> Self {
        self.fresh = fresh;
        self
    }
}

/// How to start over instead of carrying on from the checkpoints in `dir`, in the notebook and
/// on the command line: "to start over, set FRESH = true ..., or delete DIR (or give another
/// --out)".
pub(crate) fn how_to_start_over(dir: &Path) -> String {
    format!(
        "to start over, set FRESH = true in the notebook's parameters (FitOptions::fresh(true)), \
         or delete {} (or give `catsdogs train` another --out)",
        dir.display()
    )
}

impl Callback for BackupAndRestore {
    fn on_train_begin(&mut self, fit: &mut Fit) -> Result<()> {
        if self.fresh {
            let removed = Checkpoint::remove_all(&self.dir)?;
            if removed > 0 {
                crate::say!(
                    "Starting over: the checkpoints of the earlier run in {} (after epoch {removed}) are removed.",
                    self.dir.display()
                );
            }
        }
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
        let start_over = how_to_start_over(&self.dir);
        if let Some(reason) = checkpoint.stopped() {
            crate::say!(
                "{} holds a run that stopped after epoch {} ({reason}), so there is nothing to train; {start_over}.",
                self.dir.display(),
                checkpoint.epoch
            );
        } else if checkpoint.epoch >= fit.epochs {
            crate::say!(
                "{} holds all {} epochs of this run already, so there is nothing to train; {start_over}.",
                self.dir.display(),
                checkpoint.epoch
            );
        } else {
            crate::say!(
                "Resuming after epoch {}/{} from {}; {start_over}.",
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
