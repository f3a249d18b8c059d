//! Exact feature caches, the main speed idea: when every layer before some point of a model is
//! frozen and deterministic, and the images are not augmented, that part of the network is a
//! fixed function of each image. Its output is computed once per image and the rest of the
//! network is trained on it: block5_pool's output for the frozen-base experiment (the head then
//! trains in seconds an epoch), block4_pool's for the block5 fine-tune.
//!
//! - **The cut** ([`cut`]) is the model's first trainable layer, or its first `Dropout` if that
//!   comes earlier: every layer before it is frozen and computes the same in training and in
//!   inference.
//! - **Augmentation**: a flow that augments ([`DirectoryIterator::is_augmented`]) gives new
//!   images every epoch, so no features of it are cached, at any cut: each step on it runs the
//!   whole network (said in one line when `fit` starts). The other flows (validation, test)
//!   stay cached, since their images are fixed.
//! - **The key** ([`key`]) is a SHA-256 over the flow's image-cache key (the files, their order
//!   and the resize), its preprocessing, the content hash of the layers before the cut
//!   ([`Sequential::parameters_hash`]), the cut layer's name and the dtype. Equal keys mean
//!   equal features.
//! - **Where**: always in a file on disk, `features-<key>.bin` in the flow's cache folder beside
//!   the split (or `CacheOptions::dir`), written atomically as they are computed, checksummed and
//!   memory-mapped, so that every later run with the same key finds them: a resumed run, a rerun
//!   with other head settings (learning rate, epochs, dropout, optimizer, callbacks), another
//!   notebook, a new kernel, the command line. The feature files of a cache folder stay within
//!   a disk budget ([`DEFAULT_DISK_BUDGET`], `CacheOptions::disk_budget`), the ones used longest
//!   ago removed first (see `disk`). Besides the file, a copy is kept in the training device's
//!   memory while the copies stay within a memory budget (on a GPU, half its memory; on the
//!   CPU none by default: reading the rows from the mapped file is as fast, see
//!   BENCHMARKS.md), the copies used longest ago making room for new ones. A disk without room
//!   leaves the features in memory alone; when neither has room, nothing is cached and every
//!   step runs the whole network, with a printed note. The features found are the process's
//!   too: equal keys mean equal features whichever model asks, so a model built again (a
//!   notebook's cell run again) finds the features of the one before without opening a file.
//!
//! The module's parts: [`key`](cut) (where the cut is and what the features' key is), `store`
//! (features in memory or in a memory-mapped file), `disk` (the feature files on disk, their
//! budget, listing and removal), and this file (the cache: look up, or compute and keep).
//!
//! Batches of features come in the same order as the flow's batches of images, and the cached
//! prefix uses no random numbers, so a cached run draws the same dropout masks as an uncached
//! one: the tests check that losses, gradients and updated weights agree.
//!
//! ```
//! use catsdogs::applications::Backbone;
//! use catsdogs::model::{Activation, Sequential};
//! let mut model = Sequential::new(&Backbone::Vgg16.application(false).build(tch::Device::Cpu)?)
//!     .flatten()
//!     .dropout(0.5)
//!     .dense(256, Activation::Relu)
//!     .dense(1, Activation::Sigmoid);
//! model.freeze_base();
//! assert_eq!(model.layers()[catsdogs::features::cut(&model) - 1].name(), "block5_pool");
//! model.trainable_from("block5_conv1")?;
//! assert_eq!(model.layers()[catsdogs::features::cut(&model) - 1].name(), "block4_pool");
//! # Ok::<(), catsdogs::Error>(())
//! ```

mod disk;
mod key;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tch::{Device, Tensor};

use crate::console::human_bytes;
use crate::data::{default_cache_dir, DirectoryIterator};
use crate::error::{Error, Result};
use crate::fsutil::mark_used;
use crate::model::Model;
use crate::precision::Compute;
use crate::progress::Progress;

pub use disk::{
    cache_folder, feature_files, files_of_cache_folder, remove, FeatureFile, DEFAULT_DISK_BUDGET,
};
use key::shape_at;
pub use key::{cut, key};
pub use store::Features;
use store::{open_file, write_file, Dtype, Meta, Storage};

/// Whether and where `fit` caches features.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheOptions {
    /// Cache at all (default true). Off, every step runs the whole network.
    pub enabled: bool,
    /// Bytes of device memory that copies of the features may take; `None` means half a GPU's
    /// memory, and none on the CPU (the features are read from their memory-mapped files).
    pub memory_budget: Option<u64>,
    /// Bytes of disk that the feature files of a cache folder may take; `None` means
    /// [`DEFAULT_DISK_BUDGET`].
    pub disk_budget: Option<u64>,
    /// The folder of feature files; `None` means the flow's image-cache folder.
    pub dir: Option<PathBuf>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            enabled: true,
            memory_budget: None,
            disk_budget: None,
            dir: None,
        }
    }
}

/// The features computed so far, oldest used first, shared by every `fit` and `evaluate`.
struct FeatureCache {
    entries: Vec<Features>,
}

static CACHE: Mutex<FeatureCache> = Mutex::new(FeatureCache {
    entries: Vec::new(),
});

fn cache() -> MutexGuard<'static, FeatureCache> {
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The features held in memory or opened from disk, oldest used first.
pub fn entries() -> Vec<Features> {
    cache().entries.clone()
}

/// Drops every feature held, freeing their memory (files on disk stay).
pub fn clear() {
    cache().entries.clear();
}

/// What the caller of [`features`] asks for.
pub(crate) struct Request<'a> {
    pub(crate) model: &'a Model,
    pub(crate) flow: &'a DirectoryIterator,
    pub(crate) options: &'a CacheOptions,
    /// How the layers compute (part of the key; the features are kept in its kind).
    pub(crate) compute: Compute,
    pub(crate) device: Device,
    /// Compute the features if no cache holds them (else only look them up).
    pub(crate) make: bool,
}

/// The features of `request.flow` at the model's cut: from memory, else from their file (written
/// by this process or an earlier one), else (if `request.make`) computed now into their file,
/// with a copy in memory if the budget allows. `None` when caching is off, the cut is 0, or
/// there is no room on disk or in memory.
pub(crate) fn features(request: &Request) -> Result<Option<Features>> {
    if request.make && request.cacheable() && request.flow.is_augmented() {
        crate::say!(
            "The images of {} are augmented, new every epoch: their features are not cached, \
             and every step on them runs the whole network.",
            request.flow.directory.display()
        );
    }
    let Some(key) = request.key()? else {
        return Ok(None);
    };
    if let Some(found) = cache().find(&key) {
        return Ok(Some(found));
    }
    let cut = cut(request.model);
    let dir = request.dir();
    let path = disk::file_path(&dir, &key);
    let found = match open_file(&path, &key)? {
        Some(features) => {
            mark_used(&path);
            crate::say!(
                "Using the {} outputs of {} images cached in {}.",
                features.meta.layer,
                features.meta.count,
                path.display()
            );
            Some(load_into_memory(features, request))
        }
        None if request.make => compute(request, cut, key, &dir, &path)?,
        None => None,
    };
    if let Some(features) = &found {
        cache().entries.push(features.clone());
    }
    Ok(found)
}

impl FeatureCache {
    /// The features of `key`, now the most recently used.
    fn find(&mut self, key: &str) -> Option<Features> {
        let at = self.entries.iter().position(|f| f.meta.key == key)?;
        let found = self.entries.remove(at);
        self.entries.push(found.clone());
        Some(found)
    }

    /// Whether `bytes` more fit in device memory within `budget`, making room by dropping the
    /// features in memory used longest ago; nothing is dropped for what could never fit.
    fn make_room(&mut self, bytes: u64, budget: u64) -> bool {
        if bytes > budget {
            return false;
        }
        let used = |entries: &[Features]| -> u64 {
            entries
                .iter()
                .filter(|f| !f.on_disk())
                .map(|f| f.bytes())
                .sum()
        };
        while used(&self.entries) + bytes > budget {
            match self.entries.iter().position(|f| !f.on_disk()) {
                Some(oldest) => drop(self.entries.remove(oldest)),
                None => return false,
            }
        }
        true
    }

    /// The keys of the features held, whose files stay on disk while this process runs.
    fn keys(&self) -> Vec<String> {
        self.entries.iter().map(|f| f.meta.key.clone()).collect()
    }
}

/// Whether a copy of `bytes` of features goes into the request's device memory, after making
/// room within the memory budget.
fn fits_in_memory(request: &Request, bytes: u64) -> bool {
    let budget = request
        .options
        .memory_budget
        .unwrap_or_else(|| default_budget(request.device));
    cache().make_room(bytes, budget)
}

/// Copies features read from disk into device memory when they fit the budget.
fn load_into_memory(features: Features, request: &Request) -> Features {
    if !fits_in_memory(request, features.bytes()) {
        return features;
    }
    let all: Vec<usize> = (0..features.meta.count).collect();
    match features.batch(&all, request.device) {
        Ok(tensor) => Features {
            storage: Storage::Memory(tensor),
            ..features
        },
        Err(_) => features, // no room after all: read them from the file
    }
}

/// Computes the features of `request` at `cut` into the file `path` of `dir` (after making room
/// within the disk budget), with a copy in memory if it fits; in memory alone when the disk has
/// no room; `None` (said) if neither has.
fn compute(
    request: &Request,
    cut: usize,
    key: String,
    dir: &Path,
    path: &Path,
) -> Result<Option<Features>> {
    let sample_shape = shape_at(request.model, cut);
    let meta = Meta {
        key,
        layer: request.model.layers()[cut - 1].name().to_string(),
        start: cut,
        count: request.flow.samples(),
        sample_shape,
        dtype: Dtype::of(request.compute.kind),
    };
    let bytes = meta.count as u64 * meta.sample_bytes();
    let what = format!(
        "the {} outputs of {} images of {} ({})",
        meta.layer,
        meta.count,
        request.flow.directory.display(),
        human_bytes(bytes)
    );
    let mut shape = vec![meta.count as i64];
    shape.extend(&meta.sample_shape);
    let memory = if fits_in_memory(request, bytes) {
        Tensor::f_empty(&shape, (meta.dtype.kind(), request.device)).ok()
    } else {
        None
    };
    let budget = request.options.disk_budget.unwrap_or(DEFAULT_DISK_BUDGET);
    let keep = cache().keys();
    let room = disk::make_room(dir, bytes, budget, &keep);
    let copy = |all: &Tensor, start: usize, batch: &Tensor| -> Result<()> {
        let rows = batch.size()[0];
        all.f_narrow(0, start as i64, rows)?.f_copy_(batch)?;
        Ok(())
    };
    let started = Instant::now();
    let (storage, file) = match (room, memory) {
        (Ok(removed), memory) => {
            for file in removed {
                crate::say!(
                    "Removed {} ({}, last used longest ago) to keep the feature files of {} within {}.",
                    file.path.display(),
                    human_bytes(file.bytes),
                    disk::cache_folder(dir).display(),
                    crate::console::human_gib(budget)
                );
            }
            let also = match &memory {
                Some(_) => format!(" (and in {})", device_memory(request.device)),
                None => String::new(),
            };
            crate::say!("Caching {what} in {}{also}:", path.display());
            write_file(request, path, &meta, |start, batch| match &memory {
                Some(all) => copy(all, start, batch),
                None => Ok(()),
            })?;
            let storage = match memory {
                Some(all) => Storage::Memory(all),
                None => match open_file(path, &meta.key)? {
                    Some(features) => features.storage,
                    None => {
                        return Err(Error::Invalid {
                            path: path.to_path_buf(),
                            why: "it was not readable right after writing; check the disk".into(),
                        })
                    }
                },
            };
            (storage, Some(path.to_path_buf()))
        }
        (Err(why), Some(all)) => {
            crate::say!(
                "Caching {what} in {} only, not in {}: {why}.",
                device_memory(request.device),
                dir.display()
            );
            run_prefix(request, cut, |start, batch| copy(&all, start, batch))?;
            (Storage::Memory(all), None)
        }
        (Err(why), None) => {
            crate::say!(
                "Not caching {what}: they fit neither the memory budget nor the disk at {} \
                 ({why}); every step runs the whole network.",
                dir.display()
            );
            return Ok(None);
        }
    };
    crate::say!("Cached in {:.1}s.", started.elapsed().as_secs_f64());
    Ok(Some(Features {
        meta,
        storage,
        file,
    }))
}

impl Request<'_> {
    /// Whether caching is on and the model has a frozen, deterministic prefix to cache.
    fn cacheable(&self) -> bool {
        self.options.enabled && cut(self.model) > 0
    }

    /// The key of the features asked for; `None` when caching is off, nothing can be cached,
    /// or the flow augments its images (its features then differ every epoch).
    pub(crate) fn key(&self) -> Result<Option<String>> {
        if !self.cacheable() || self.flow.is_augmented() {
            return Ok(None);
        }
        let dtype = self.compute.to_string();
        key(self.model, self.flow, cut(self.model), &dtype).map(Some)
    }

    fn dir(&self) -> PathBuf {
        let images = self.flow.cache_path().and_then(Path::parent);
        match (&self.options.dir, images) {
            (Some(dir), _) => dir.clone(),
            (None, Some(images)) => images.to_path_buf(),
            (None, None) => default_cache_dir(&self.flow.directory),
        }
    }
}

/// Runs layers `0..cut` on every image of the flow in file order, one batch at a time, and
/// hands each output with its first row's index to `sink`.
fn run_prefix(
    request: &Request,
    cut: usize,
    mut sink: impl FnMut(usize, &Tensor) -> Result<()>,
) -> Result<()> {
    let _guard = tch::no_grad_guard();
    let flow = request.flow;
    let all: Vec<usize> = (0..flow.samples()).collect();
    let progress = Progress::new(flow.len() as u64);
    for (step, indices) in all.chunks(flow.batch_size()).enumerate() {
        crate::interrupt::check(|| {
            format!(
                "while caching features ({step}/{} batches done)",
                flow.len()
            )
        })?;
        let mut run = || -> Result<()> {
            let x = flow.batch(indices, request.device)?.x;
            let y = request.model.run(&x, 0..cut, false, request.compute)?;
            sink(indices[0], &y)
        };
        run().map_err(|e| {
            crate::device::out_of_memory(e, request.device, flow.batch_size(), || {
                format!("while caching features, batch {}", step + 1)
            })
        })?;
        progress.inc(1, "");
    }
    progress.finish("");
    Ok(())
}

/// The default memory budget of the copies: half a GPU's memory (of 8 GiB if unknown), where a
/// copy saves a transfer per batch; none on the CPU, where the rows read from the mapped file
/// are as fast (BENCHMARKS.md) and the page cache holds them without taking the process's
/// memory.
fn default_budget(device: Device) -> u64 {
    if !device.is_cuda() {
        return 0;
    }
    crate::device::memory_bytes(device).unwrap_or(8 << 30) / 2
}

fn device_memory(device: Device) -> &'static str {
    if device.is_cuda() {
        "GPU memory"
    } else {
        "CPU memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cut_stops_at_a_frozen_dropout() {
        use crate::model::Activation;
        let base = crate::applications::Backbone::Vgg16.application(false);
        let mut model = crate::model::Sequential::new(&base.build(Device::Cpu).unwrap())
            .flatten()
            .dropout(0.5)
            .dense(1, Activation::Sigmoid);
        model.trainable_from("dense_1").unwrap();
        assert_eq!(model.layers()[cut(&model)].name(), "dropout_1");
        model.trainable_from("block1_conv1").unwrap();
        assert_eq!(cut(&model), 0);
    }
}
