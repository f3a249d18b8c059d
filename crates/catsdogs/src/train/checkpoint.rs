//! Checkpoints: after every epoch, `fit` writes the model, the optimizer's state, the History
//! and the epoch into `<dir>/epoch-NNNN/`. The files go into a temporary folder first, which is
//! then renamed into place ([`AtomicFolder`]), so a checkpoint folder is either complete or
//! absent; a failed write removes its temporary folder, and the next checkpoint removes those
//! of writes that were killed. The state records each file's SHA-256, so a checkpoint damaged
//! later is recognised. The newest checkpoint and the one before it are kept: when the newest
//! is damaged, [`Checkpoint::latest`] falls back to the one before, and says so.
//!
//! The callbacks' states go with it: their JSON in the state file, their tensors (EarlyStopping's
//! best weights) in `callbacks.safetensors` when any has some, and the reason training stopped
//! when a callback stopped it, so that resuming a stopped run trains no further.
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
//!     let model = catsdogs::model::Model::load(checkpoint.model_path(), catsdogs::device())?;
//! }
//! # Ok::<(), catsdogs::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::Device;

use super::callbacks::{how_to_start_over, Fit, Stop};
use crate::error::{Error, Result};
use crate::fsutil::{write_atomic, AtomicFolder};
use crate::hashing::sha256_hex;
use crate::history::History;
use crate::model::Model;
use crate::tensor_file::{self};

const FORMAT: &str = "catsdogs checkpoint 3";
/// The format before the callbacks' states and the learning rate were kept, still read.
const FORMAT_2: &str = "catsdogs checkpoint 2";
const MODEL: &str = "model.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const HISTORY: &str = "history.json";
const STATE: &str = "state.json";
/// The tensors of the callbacks' states, named `<callback key>/<tensor name>`.
const CALLBACKS: &str = "callbacks.safetensors";

/// What a run was started with; resuming needs the same, or the result would differ from an
/// uninterrupted run (and its History would mix two validation sets).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Settings {
    pub(crate) seed: u64,
    pub(crate) batch_size: usize,
    /// (height, width) of the images (absent in older checkpoints).
    #[serde(default)]
    pub(crate) target_size: (u32, u32),
    /// The training flow's image-cache key: the same images in the same order.
    pub(crate) train_images: String,
    /// The validation flow's (absent in older checkpoints).
    #[serde(default)]
    pub(crate) validation_images: String,
    pub(crate) optimizer: String,
    pub(crate) loss: String,
    /// How the layers computed, e.g. `bf16`.
    pub(crate) compute: String,
    /// What the callbacks were made with, in order.
    #[serde(default)]
    pub(crate) callbacks: Vec<String>,
    /// The training flow's generator, when it augments (absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) augmentation: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    format: String,
    epoch: usize,
    rng: String,
    settings: Settings,
    /// SHA-256 of the checkpoint's other files, by name.
    files: BTreeMap<String, String>,
    /// The optimizer's learning rate after the epoch (callbacks may change it).
    #[serde(default)]
    learning_rate: Option<f64>,
    /// The callbacks' states after the epoch, by their keys.
    #[serde(default)]
    callbacks: BTreeMap<String, serde_json::Value>,
    /// Why a callback stopped training after this epoch, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stopped: Option<String>,
}

/// What is wrong with a damaged checkpoint folder.
#[derive(Debug, thiserror::Error)]
enum Damage {
    /// One of its files cannot be read.
    #[error("{file}: {reason}")]
    Unreadable {
        file: &'static str,
        reason: std::io::Error,
    },
    /// Its state is not one that `fit` wrote for its epoch.
    #[error("{STATE} is not a checkpoint state written by fit")]
    NotAState,
    /// One of its files differs from the hash its state recorded.
    #[error("{0} is not as it was written")]
    Changed(&'static str),
    /// Its history cannot be read.
    #[error("{0}")]
    History(Error),
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
    state: State,
}

fn folder_name(epoch: usize) -> String {
    format!("epoch-{epoch:04}")
}

/// The epoch of a checkpoint folder's name, if it is one.
fn folder_epoch(name: &str) -> Option<usize> {
    name.strip_prefix("epoch-")?.parse().ok()
}

impl Checkpoint {
    /// The latest intact checkpoint in `dir`, or `None` if there is none (or no `dir`). A
    /// damaged newer one is passed over with a message; when every one is damaged, the error
    /// names the newest and says what to do.
    pub fn latest(dir: impl AsRef<Path>) -> Result<Option<Checkpoint>> {
        let dir = dir.as_ref();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(None);
        };
        let mut epochs: Vec<usize> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| folder_epoch(&e.file_name().to_string_lossy()))
            .collect();
        epochs.sort_unstable_by(|a, b| b.cmp(a));
        let mut damaged: Vec<(PathBuf, Damage)> = Vec::new();
        for epoch in epochs {
            let path = dir.join(folder_name(epoch));
            match Checkpoint::read(&path, epoch) {
                Ok(checkpoint) => {
                    for (bad, why) in &damaged {
                        crate::say!(
                            "The checkpoint {} is damaged ({why}); using the one of epoch {epoch} instead.",
                            bad.display()
                        );
                    }
                    return Ok(Some(checkpoint));
                }
                Err(why) => damaged.push((path, why)),
            }
        }
        match damaged.into_iter().next() {
            None => Ok(None),
            Some((path, why)) => Err(Error::Invalid {
                path: path.to_path_buf(),
                why: format!(
                    "is a damaged checkpoint ({why}) and there is no intact one before it: delete {} to start over",
                    dir.display()
                ),
            }),
        }
    }

    /// The checkpoint in `path` if it is complete and every file matches its recorded hash.
    fn read(path: &Path, epoch: usize) -> Result<Checkpoint, Damage> {
        let unreadable = |file| move |reason| Damage::Unreadable { file, reason };
        let state = read_state(path, epoch)?;
        let optional = state.files.contains_key(CALLBACKS).then_some(CALLBACKS);
        for name in [MODEL, OPTIMIZER, HISTORY].into_iter().chain(optional) {
            let bytes = std::fs::read(path.join(name)).map_err(unreadable(name))?;
            if state.files.get(name) != Some(&sha256_hex(&bytes)) {
                return Err(Damage::Changed(name));
            }
        }
        let history = History::load(path.join(HISTORY)).map_err(Damage::History)?;
        Ok(Checkpoint {
            epoch,
            history,
            path: path.to_path_buf(),
            state,
        })
    }

    /// Removes the checkpoints that `fit` wrote in `dir` (the folders `epoch-NNNN` whose state
    /// file is one of its checkpoints'), and `dir` itself when that leaves it empty; nothing
    /// else. Returns the number of epochs the newest removed one held (0 when there was none).
    pub fn remove_all(dir: impl AsRef<Path>) -> Result<usize> {
        let dir = dir.as_ref();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(0);
        };
        let ours: Vec<(usize, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| Some((folder_epoch(&e.file_name().to_string_lossy())?, e.path())))
            .filter(|(epoch, path)| read_state(path, *epoch).is_ok())
            .collect();
        for (_, path) in &ours {
            std::fs::remove_dir_all(path).map_err(|e| Error::io("cannot remove", path, e))?;
        }
        // Only when empty: anything else in it is not ours to remove.
        let _ = std::fs::remove_dir(dir);
        Ok(ours.iter().map(|(epoch, _)| *epoch).max().unwrap_or(0))
    }

    /// The model file, loadable with [`Model::load`].
    pub fn model_path(&self) -> PathBuf {
        self.path.join(MODEL)
    }

    /// Why a callback stopped the run after this checkpoint's epoch, if one did (such a run
    /// trains no further when resumed).
    pub fn stopped(&self) -> Option<&str> {
        self.state.stopped.as_deref()
    }

    /// Writes the checkpoint after `epoch` epochs into `dir`, then removes all but it and the
    /// newest one before it. A failure leaves the earlier checkpoints as they were and says
    /// which checkpoint could not be written.
    pub(crate) fn save(dir: &Path, epoch: usize, fit: &Fit) -> Result<()> {
        let model = &*fit.model;
        let optimizer = model.compiled()?.optimizer.as_ref();
        let name = folder_name(epoch);
        let path = dir.join(&name);
        let failed = |e: Error| {
            Error::Invalid {
            path: path.to_path_buf(),
            why: format!(
                "the checkpoint of epoch {epoch} could not be written ({}); the earlier checkpoints are kept",
                os_reason(&e)
            ),
        }
        };
        let written = (|| -> Result<AtomicFolder> {
            let folder = AtomicFolder::create(&path, |name| folder_epoch(name).is_some())?;
            let temp = folder.path();
            model.save(temp.join(MODEL))?;
            let metadata = HashMap::from([("optimizer".to_string(), optimizer.config())]);
            tensor_file::write(&temp.join(OPTIMIZER), &optimizer.state(), metadata)?;
            model.history().save(temp.join(HISTORY))?;
            let tensors: Vec<(String, tch::Tensor)> = fit
                .state_tensors
                .iter()
                .flat_map(|(key, tensors)| {
                    tensors
                        .iter()
                        .map(move |(name, t)| (format!("{key}/{name}"), t.shallow_clone()))
                })
                .collect();
            let optional = (!tensors.is_empty()).then_some(CALLBACKS);
            if optional.is_some() {
                tensor_file::write(&temp.join(CALLBACKS), &tensors, HashMap::new())?;
            }
            let mut files = BTreeMap::new();
            for file in [MODEL, OPTIMIZER, HISTORY].into_iter().chain(optional) {
                let at = temp.join(file);
                let bytes = std::fs::read(&at).map_err(|e| Error::io("cannot read", &at, e))?;
                files.insert(file.to_string(), sha256_hex(&bytes));
            }
            let state = State {
                format: FORMAT.into(),
                epoch,
                rng: "tch::manual_seed(seed + epoch) before each epoch (epochs counted from 0)"
                    .into(),
                settings: fit.settings.clone(),
                files,
                learning_rate: Some(optimizer.learning_rate()),
                callbacks: fit.states.clone(),
                stopped: match &fit.stop {
                    Some(Stop::Finished(reason)) => Some(reason.clone()),
                    _ => None,
                },
            };
            let json = serde_json::to_string_pretty(&state).expect("states serialise");
            write_atomic(&temp.join(STATE), json.as_bytes())?;
            Ok(folder)
        })()
        .map_err(failed)?;
        written.commit().map_err(failed)?;
        let mut epochs: Vec<usize> = std::fs::read_dir(dir)
            .map_err(|e| Error::io("cannot list", dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| folder_epoch(&e.file_name().to_string_lossy()))
            .filter(|&e| e != epoch)
            .collect();
        epochs.sort_unstable_by(|a, b| b.cmp(a));
        for old in epochs.into_iter().skip(1) {
            let _ = std::fs::remove_dir_all(dir.join(folder_name(old)));
        }
        Ok(())
    }

    /// Puts the checkpoint into the run: its weights into the model, its state and learning
    /// rate into the optimizer, its History, the epoch to go on from, and the callbacks'
    /// states; after checking that the model has the same layers and `trainable` flags and
    /// that the run's settings equal the checkpoint's.
    pub(crate) fn restore(&self, fit: &mut Fit) -> Result<()> {
        let mismatch = |why: String| Error::CheckpointMismatch {
            dir: self.path.to_path_buf(),
            why,
            start_over: how_to_start_over(self.path.parent().unwrap_or(&self.path)),
        };
        if self.state.settings != fit.settings {
            return Err(mismatch(differences(&self.state.settings, &fit.settings)));
        }
        let saved = Model::load(self.model_path(), Device::Cpu)?;
        let describe = |m: &Model| -> Vec<String> {
            m.layers()
                .iter()
                .map(|l| format!("{} {:?} trainable={}", l.name(), l.kind(), l.trainable()))
                .collect()
        };
        let (ours, theirs) = (describe(fit.model), describe(&saved));
        if ours != theirs {
            let first = ours
                .iter()
                .zip(&theirs)
                .find(|(a, b)| a != b)
                .map_or("a different number of layers".to_string(), |(a, b)| {
                    format!("the model has {a} where the checkpoint has {b}")
                });
            return Err(mismatch(first));
        }
        {
            let _guard = tch::no_grad_guard();
            for ((_, mut weight), (_, value)) in fit
                .model
                .named_parameters()
                .into_iter()
                .zip(saved.named_parameters())
            {
                weight.f_copy_(&value)?;
            }
        }
        let device = fit.model.device();
        let (state, _) = tensor_file::read(&self.path.join(OPTIMIZER))?;
        let optimizer = &mut fit.model.compiled_mut()?.optimizer;
        optimizer.load_state(state.into_iter().collect(), device)?;
        if let Some(lr) = self.state.learning_rate {
            optimizer.set_learning_rate(lr);
        }
        *fit.model.history_mut() = self.history.clone();
        fit.initial_epoch = self.epoch;
        fit.restored = self.state.callbacks.clone();
        fit.restored_tensors = BTreeMap::new();
        if self.state.files.contains_key(CALLBACKS) {
            let (tensors, _) = tensor_file::read(&self.path.join(CALLBACKS))?;
            for (full, tensor) in tensors {
                let Some((key, name)) = full.split_once('/') else {
                    continue;
                };
                fit.restored_tensors
                    .entry(key.to_string())
                    .or_default()
                    .push((name.to_string(), tensor.f_to_device(device)?));
            }
            for tensors in fit.restored_tensors.values_mut() {
                tensors.sort_by(|a, b| a.0.cmp(&b.0));
            }
        }
        if let Some(reason) = &self.state.stopped {
            fit.stop_training(reason.clone());
        }
        Ok(())
    }
}

/// The state of the checkpoint folder `path` of `epoch`, if its state file is one that `fit`
/// wrote (its other files may be damaged since).
fn read_state(path: &Path, epoch: usize) -> Result<State, Damage> {
    let text = std::fs::read_to_string(path.join(STATE)).map_err(|reason| Damage::Unreadable {
        file: STATE,
        reason,
    })?;
    serde_json::from_str(&text)
        .ok()
        .filter(|s: &State| [FORMAT, FORMAT_2].contains(&s.format.as_str()) && s.epoch == epoch)
        .ok_or(Damage::NotAState)
}

/// The operating system's reason of a file error (not the temporary path it names), or the
/// whole message.
fn os_reason(error: &Error) -> String {
    match error {
        Error::Io { reason, .. } | Error::Write { reason, .. } => reason.to_string(),
        other => other.to_string(),
    }
}

/// The augmentation of `settings`, in words.
fn augmentation(settings: &Settings) -> String {
    settings
        .augmentation
        .clone()
        .unwrap_or_else(|| "no augmentation".into())
}

/// What differs between the settings of a checkpoint and of this run, in words: "the
/// training images are not those the checkpoint was trained with (...)", "the seed is 2, the
/// checkpoint's 1 (--seed, or FitOptions::seed)"... Images of another size are said once, not
/// as changed images.
fn differences(saved: &Settings, now: &Settings) -> String {
    let size = |(h, w): (u32, u32)| format!("{h}x{w}");
    let compared = [
        (
            "the images are",
            size(now.target_size),
            size(saved.target_size),
            Some(("--target-size", "FlowOptions::target_size")),
        ),
        (
            "the seed is",
            now.seed.to_string(),
            saved.seed.to_string(),
            Some(("--seed", "FitOptions::seed")),
        ),
        (
            "the batches hold",
            format!("{} images", now.batch_size),
            format!("{} images", saved.batch_size),
            Some(("--batch-size", "FlowOptions::batch_size")),
        ),
        (
            "the optimizer is",
            now.optimizer.clone(),
            saved.optimizer.clone(),
            Some(("--lr", "compile")),
        ),
        ("the loss is", now.loss.clone(), saved.loss.clone(), None),
        (
            "the layers compute in",
            now.compute.clone(),
            saved.compute.clone(),
            Some(("--precision", "FitOptions::precision")),
        ),
        (
            "the training images' augmentation is",
            augmentation(now),
            augmentation(saved),
            Some(("--augment", "RunOptions::augment")),
        ),
    ];
    let mut said: Vec<String> = compared
        .into_iter()
        .filter(|(_, now, then, _)| now != then)
        .map(|(what, now, then, flag)| {
            let flag = flag.map_or(String::new(), |(cli, api)| format!(" ({cli}, or {api})"));
            format!("{what} {now}, the checkpoint's {then}{flag}")
        })
        .collect();
    if saved.callbacks != now.callbacks {
        let list = |configs: &[String]| {
            if configs.is_empty() {
                "none".to_string()
            } else {
                configs.join(", ")
            }
        };
        said.push(format!(
            "the callbacks are {}, the checkpoint's {}",
            list(&now.callbacks),
            list(&saved.callbacks)
        ));
    }
    if saved.target_size == now.target_size {
        for (what, same) in [
            ("training", saved.train_images == now.train_images),
            (
                "validation",
                saved.validation_images == now.validation_images,
            ),
        ] {
            if !same {
                said.push(format!("the {what} images are not those the checkpoint was trained with (files were added, removed, renamed or changed)"));
            }
        }
    }
    said.join(", and ")
}
