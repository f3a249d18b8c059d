//! Checkpoints: after every epoch, `fit` writes the model, the optimizer's state, the History
//! and the epoch into `<dir>/epoch-NNNN/`. The files go into a temporary folder first, which is
//! then renamed into place, so a checkpoint folder is either complete or absent; older
//! checkpoints are removed after the new one is in place.
//!
//! The random numbers need no saving: `fit` seeds libtorch with `seed + epoch` before each
//! epoch (the dropout masks), and the data module orders each epoch by its seed and the epoch
//! number, so the state at the start of an epoch is a function of the seed and the epoch, both
//! recorded. A resumed run therefore repeats the uninterrupted one exactly.
//!
//! ```no_run
//! use catsdogs::train::Checkpoint;
//! if let Some(checkpoint) = Checkpoint::latest("runs/frozen/checkpoints")? {
//!     println!("{} epochs done", checkpoint.epoch);
//!     let model = catsdogs::model::Sequential::load(checkpoint.model_path(), catsdogs::device())?;
//! }
//! # Ok::<(), catsdogs::Error>(())
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::Device;

use super::{RMSprop, TrainError};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::history::History;
use crate::model::Sequential;
use crate::weights::safetensors;

const FORMAT: &str = "catsdogs checkpoint 1";
const MODEL: &str = "model.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const HISTORY: &str = "history.json";
const STATE: &str = "state.json";

/// What a run was started with; resuming needs the same, or the result would differ from an
/// uninterrupted run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Settings {
    pub(crate) seed: u64,
    pub(crate) batch_size: usize,
    /// The training flow's image-cache key: the same images in the same order.
    pub(crate) train_images: String,
    pub(crate) optimizer: String,
    pub(crate) loss: String,
    pub(crate) mixed_precision: bool,
}

#[derive(Serialize, Deserialize)]
struct State {
    format: String,
    epoch: usize,
    rng: String,
    settings: Settings,
}

/// A checkpoint on disk: the state after `epoch` finished epochs.
#[derive(Debug)]
pub struct Checkpoint {
    /// Epochs finished.
    pub epoch: usize,
    /// Their metrics.
    pub history: History,
    /// The checkpoint's own folder, `<dir>/epoch-NNNN`.
    pub path: PathBuf,
    settings: Settings,
}

fn folder_name(epoch: usize) -> String {
    format!("epoch-{epoch:04}")
}

/// The epoch of a checkpoint folder's name, if it is one.
fn folder_epoch(name: &str) -> Option<usize> {
    name.strip_prefix("epoch-")?.parse().ok()
}

impl Checkpoint {
    /// The latest complete checkpoint in `dir`, or `None` if there is none (or no `dir`).
    pub fn latest(dir: impl AsRef<Path>) -> Result<Option<Checkpoint>> {
        let dir = dir.as_ref();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(None);
        };
        let latest = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| folder_epoch(&e.file_name().to_string_lossy()))
            .max();
        let Some(epoch) = latest else {
            return Ok(None);
        };
        let path = dir.join(folder_name(epoch));
        let state_path = path.join(STATE);
        let text = std::fs::read_to_string(&state_path)
            .map_err(|e| Error::io("cannot read", &state_path, e))?;
        let state: State = serde_json::from_str(&text)
            .ok()
            .filter(|s: &State| s.format == FORMAT && s.epoch == epoch)
            .ok_or_else(|| Error::Invalid {
                path: state_path.display().to_string(),
                why: "it is not a checkpoint state written by fit; delete its folder".into(),
            })?;
        Ok(Some(Checkpoint {
            epoch,
            history: History::load(path.join(HISTORY))?,
            path,
            settings: state.settings,
        }))
    }

    /// The model file, loadable with [`Sequential::load`].
    pub fn model_path(&self) -> PathBuf {
        self.path.join(MODEL)
    }

    /// Writes the checkpoint after `epoch` epochs into `dir`, then removes older ones.
    pub(crate) fn save(
        dir: &Path,
        epoch: usize,
        model: &Sequential,
        optimizer: &RMSprop,
        history: &History,
        settings: &Settings,
    ) -> Result<()> {
        let name = folder_name(epoch);
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        model.save(tmp.join(MODEL))?;
        let metadata = HashMap::from([("optimizer".to_string(), optimizer.config())]);
        safetensors::write(&tmp.join(OPTIMIZER), &optimizer.state(), metadata)?;
        history.save(tmp.join(HISTORY))?;
        let state = State {
            format: FORMAT.into(),
            epoch,
            rng: "tch::manual_seed(seed + epoch) before each epoch (epochs counted from 0)".into(),
            settings: settings.clone(),
        };
        let json = serde_json::to_string_pretty(&state).expect("states serialise");
        write_atomic(&tmp.join(STATE), json.as_bytes())?;
        let path = dir.join(&name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("cannot rename into", &path, e))?;
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))? {
            let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
            let file_name = entry.file_name().to_string_lossy().to_string();
            let stale_tmp = file_name.starts_with(".epoch-") && file_name.contains(".tmp-");
            if folder_epoch(&file_name).is_some_and(|e| e != epoch) || stale_tmp {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(())
    }

    /// Puts the checkpoint's weights into `model` and its state into `optimizer`, after
    /// checking that the model has the same layers and `trainable` flags and that `settings`
    /// equal the checkpoint's.
    pub(crate) fn restore(
        &self,
        model: &Sequential,
        optimizer: &mut RMSprop,
        settings: &Settings,
        device: Device,
    ) -> Result<()> {
        let mismatch = |why: String| TrainError::CheckpointMismatch {
            dir: self.path.display().to_string(),
            why,
        };
        if &self.settings != settings {
            return Err(mismatch(differences(&self.settings, settings)).into());
        }
        let saved = Sequential::load(self.model_path(), Device::Cpu)?;
        let describe = |m: &Sequential| -> Vec<String> {
            m.layers()
                .iter()
                .map(|l| format!("{} {:?} trainable={}", l.name(), l.kind(), l.trainable()))
                .collect()
        };
        let (ours, theirs) = (describe(model), describe(&saved));
        if ours != theirs {
            let first = ours
                .iter()
                .zip(&theirs)
                .find(|(a, b)| a != b)
                .map_or("a different number of layers".to_string(), |(a, b)| {
                    format!("the model has {a} where the checkpoint has {b}")
                });
            return Err(mismatch(first).into());
        }
        let _guard = tch::no_grad_guard();
        for ((_, mut weight), (_, value)) in model
            .named_parameters()
            .into_iter()
            .zip(saved.named_parameters())
        {
            weight.f_copy_(&value)?;
        }
        let (state, _) = safetensors::read(&self.path.join(OPTIMIZER))?;
        optimizer.load_state(state.into_iter().collect(), device)
    }
}

/// `seed 1 (now 2), batch_size 50 (now 32)`: the settings that differ.
fn differences(saved: &Settings, now: &Settings) -> String {
    let (saved, now) = (
        serde_json::to_value(saved).expect("settings serialise"),
        serde_json::to_value(now).expect("settings serialise"),
    );
    let (Some(saved), Some(now)) = (saved.as_object(), now.as_object()) else {
        return String::new();
    };
    let differing: Vec<String> = saved
        .iter()
        .filter(|(k, v)| now.get(*k) != Some(v))
        .map(|(k, v)| {
            let new = now.get(k).cloned().unwrap_or_default();
            format!("the checkpoint has {k} {v} but this run {new}")
        })
        .collect();
    differing.join(", ")
}
