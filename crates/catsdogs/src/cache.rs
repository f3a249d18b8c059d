//! Exact feature caches, the main speed idea: when every layer before some point of a model is
//! frozen and deterministic, and the images are not augmented, that part of the network is a
//! fixed function of each image. Its output is computed once per image and the rest of the
//! network is trained on it: block5_pool's output for the frozen-base experiment (the head then
//! trains in seconds an epoch), block4_pool's for the block5 fine-tune.
//!
//! - **The cut** ([`cut`]) is the model's first trainable layer, or its first `Dropout` if that
//!   comes earlier: every layer before it is frozen and computes the same in training and in
//!   inference. The data module's flows never augment, so the images are fixed too.
//! - **The key** ([`key`]) is a SHA-256 over the flow's image-cache key (the files, their order
//!   and the resize), its preprocessing, the content hash of the layers before the cut
//!   ([`Sequential::parameters_hash`]), the cut layer's name and the dtype. Equal keys mean
//!   equal features.
//! - **Where**: in memory on the training device (GPU or CPU) while the total stays within a
//!   budget (by default half the device's memory); otherwise in a file on disk, written
//!   atomically and memory-mapped, that later runs with the same key reuse; when neither has
//!   room, nothing is cached and every step runs the whole network, with a printed note.
//!
//! Batches of features come in the same order as the flow's batches of images, and the cached
//! prefix uses no random numbers, so a cached run draws the same dropout masks as an uncached
//! one: the tests check that losses, gradients and updated weights agree.
//!
//! ```
//! use catsdogs::model::{Activation, Sequential};
//! use catsdogs::vgg16::Vgg16;
//! let mut model = Sequential::new(Vgg16::new(false, tch::Device::Cpu))
//!     .flatten()
//!     .dropout(0.5)
//!     .dense(256, Activation::Relu)
//!     .dense(1, Activation::Sigmoid);
//! model.freeze_base();
//! assert_eq!(model.layers()[catsdogs::cache::cut(&model) - 1].name(), "block5_pool");
//! model.trainable_from("block5_conv1").unwrap();
//! assert_eq!(model.layers()[catsdogs::cache::cut(&model) - 1].name(), "block4_pool");
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use crate::cache_file::{CacheFile, CacheFileWriter};
use crate::console::human_bytes;
use crate::data::{default_cache_dir, DirectoryIterator};
use crate::error::{Error, Result};
use crate::fsutil::available_space;
use crate::hashing::hex;
use crate::model::{LayerKind, Sequential};
use crate::precision::Compute;
use crate::progress::Progress;

const MAGIC: &[u8; 8] = b"CDFEAT02";
/// Changes whenever the same key could give other numbers.
const FORMAT: &str = "catsdogs features v2, little-endian, NCHW rows in file order";

/// Whether and where [`crate::train::CompiledModel::fit`] caches features.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheOptions {
    /// Cache at all (default true). Off, every step runs the whole network.
    pub enabled: bool,
    /// Bytes of device memory that cached features may take; `None` means half the device's
    /// memory (half the available RAM on the CPU).
    pub memory_budget: Option<u64>,
    /// The folder of feature files; `None` means the flow's image-cache folder.
    pub dir: Option<PathBuf>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            enabled: true,
            memory_budget: None,
            dir: None,
        }
    }
}

/// Where a set of features lives.
#[derive(Debug)]
enum Storage {
    /// One tensor on the training device.
    Memory(Tensor),
    /// A memory-mapped feature file: the rows are its payload.
    Disk(Arc<CacheFile>),
}

/// The outputs of the layers before a model's cut, for every image of a flow, in file order.
/// Clones share the data.
#[derive(Debug)]
pub struct Features {
    meta: Meta,
    storage: Storage,
}

impl Clone for Features {
    fn clone(&self) -> Self {
        let storage = match &self.storage {
            Storage::Memory(tensor) => Storage::Memory(tensor.shallow_clone()),
            Storage::Disk(file) => Storage::Disk(Arc::clone(file)),
        };
        Features {
            meta: self.meta.clone(),
            storage,
        }
    }
}

/// What a set of features is; with [`FORMAT`], the header of a feature file.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Meta {
    key: String,
    layer: String,
    start: usize,
    count: usize,
    sample_shape: Vec<i64>,
    /// The kind the features are kept in: the kind the layers computed them in.
    dtype: Dtype,
}

/// The element types of features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Dtype {
    Float32,
    Bfloat16,
    Float16,
}

impl Dtype {
    fn of(kind: Kind) -> Dtype {
        match kind {
            Kind::BFloat16 => Dtype::Bfloat16,
            Kind::Half => Dtype::Float16,
            _ => Dtype::Float32,
        }
    }

    fn kind(self) -> Kind {
        match self {
            Dtype::Float32 => Kind::Float,
            Dtype::Bfloat16 => Kind::BFloat16,
            Dtype::Float16 => Kind::Half,
        }
    }

    fn size(self) -> u64 {
        match self {
            Dtype::Float32 => 4,
            Dtype::Bfloat16 | Dtype::Float16 => 2,
        }
    }
}

impl Meta {
    /// Bytes of one image's features.
    fn sample_bytes(&self) -> u64 {
        self.sample_shape.iter().product::<i64>() as u64 * self.dtype.size()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    format: String,
    #[serde(flatten)]
    meta: Meta,
}

impl Features {
    /// The index of the first layer to run on these features (the cut).
    pub fn start(&self) -> usize {
        self.meta.start
    }

    /// The name of the last cached layer, e.g. `block5_pool`.
    pub fn layer(&self) -> &str {
        &self.meta.layer
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.meta.count
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.meta.count == 0
    }

    /// The cache key (see the module's notes).
    pub fn key(&self) -> &str {
        &self.meta.key
    }

    /// Bytes taken.
    pub fn bytes(&self) -> u64 {
        self.meta.count as u64 * self.meta.sample_bytes()
    }

    /// Where they are: `CPU memory`, `GPU memory` or the file's path.
    pub fn location(&self) -> String {
        match &self.storage {
            Storage::Memory(t) if t.device().is_cuda() => "GPU memory".into(),
            Storage::Memory(_) => "CPU memory".into(),
            Storage::Disk(file) => file.path().display().to_string(),
        }
    }

    /// Whether they are in a memory-mapped file rather than in device memory.
    pub fn on_disk(&self) -> bool {
        matches!(self.storage, Storage::Disk(_))
    }

    /// The features of the images at `indices`, as one batch on `device`.
    pub fn batch(&self, indices: &[usize], device: Device) -> Result<Tensor> {
        let meta = &self.meta;
        if let Some(&bad) = indices.iter().find(|&&i| i >= meta.count) {
            return Err(crate::error::Error::Index {
                index: bad,
                samples: meta.count,
            });
        }
        let mut shape = vec![indices.len() as i64];
        shape.extend(&meta.sample_shape);
        match &self.storage {
            Storage::Memory(all) => {
                let rows: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
                let rows = Tensor::f_from_slice(&rows)?.f_to_device(all.device())?;
                Ok(all.f_index_select(0, &rows)?.f_to_device(device)?)
            }
            Storage::Disk(file) => {
                let row = meta.sample_bytes() as usize;
                let mut bytes = Vec::with_capacity(indices.len() * row);
                for &i in indices {
                    bytes.extend_from_slice(&file.payload()[i * row..][..row]);
                }
                let kind = meta.dtype.kind();
                Ok(Tensor::f_from_data_size(&bytes, &shape, kind)?.f_to_device(device)?)
            }
        }
    }
}

/// The index of the first layer that must run at every training step: the first trainable
/// layer, or the first `Dropout` if that comes earlier. Layers before it can be cached; 0 means
/// none can.
pub fn cut(model: &Sequential) -> usize {
    let layers = model.layers();
    let first_random = layers
        .iter()
        .position(|l| matches!(l.kind(), LayerKind::Dropout { .. }))
        .unwrap_or(layers.len());
    model
        .first_trainable()
        .unwrap_or(layers.len())
        .min(first_random)
}

/// The cache key of the outputs of layers `0..cut` of `model` on the images of `flow`,
/// computed in `dtype` (e.g. `float32`).
pub fn key(
    model: &Sequential,
    flow: &DirectoryIterator,
    cut: usize,
    dtype: &str,
) -> Result<String> {
    let layer = cut
        .checked_sub(1)
        .and_then(|i| model.layers().get(i))
        .map_or("input", |l| l.name());
    let mut hasher = Sha256::new();
    for part in [
        FORMAT,
        flow.cache_key(),
        &format!("{:?}", flow.preprocessing()),
        &model.parameters_hash(0..cut)?,
        layer,
        dtype,
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    Ok(hex(&hasher.finalize()))
}

/// The features computed so far, shared by `fit`, `evaluate` and their repeats.
#[derive(Debug, Default)]
pub struct FeatureCache {
    entries: Vec<Features>,
}

/// What the caller of [`FeatureCache::features`] asks for.
pub(crate) struct Request<'a> {
    pub(crate) model: &'a Sequential,
    pub(crate) flow: &'a DirectoryIterator,
    pub(crate) options: &'a CacheOptions,
    /// How the layers compute (part of the key; the features are kept in its kind).
    pub(crate) compute: Compute,
    pub(crate) device: Device,
    /// Compute the features if no cache holds them (else only look them up).
    pub(crate) make: bool,
}

impl FeatureCache {
    /// The features held in memory or opened from disk.
    pub fn entries(&self) -> &[Features] {
        &self.entries
    }

    /// Drops every feature held, freeing their memory (files on disk stay).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Keeps only the features whose key is in `keys`, freeing the rest.
    pub(crate) fn retain(&mut self, keys: &[String]) {
        self.entries.retain(|f| keys.contains(&f.meta.key));
    }

    /// The features of `request.flow` at the model's cut: from memory, else from a file with
    /// the same key, else (if `request.make`) computed now, in memory if the budget allows
    /// and on disk otherwise. `None` when caching is off, the cut is 0, or there is no room.
    pub(crate) fn features(&mut self, request: &Request) -> Result<Option<Features>> {
        let Some(key) = request.key()? else {
            return Ok(None);
        };
        let cut = cut(request.model);
        if let Some(found) = self.entries.iter().find(|f| f.meta.key == key) {
            return Ok(Some(found.clone()));
        }
        let dir = request.dir();
        let path = dir.join(format!("features-{key}.bin"));
        let found = match open_file(&path, &key)? {
            Some(features) => {
                crate::say!(
                    "Using the {} outputs of {} images cached in {}.",
                    features.meta.layer,
                    features.meta.count,
                    path.display()
                );
                Some(self.load_into_memory(features, request))
            }
            None if request.make => self.compute(request, cut, key, &dir, &path)?,
            None => None,
        };
        if let Some(features) = &found {
            self.entries.push(features.clone());
        }
        Ok(found)
    }

    fn memory_used(&self) -> u64 {
        self.entries
            .iter()
            .filter(|f| !f.on_disk())
            .map(|f| f.bytes())
            .sum()
    }

    /// Room left in the memory budget.
    fn memory_left(&self, request: &Request) -> u64 {
        let budget = request
            .options
            .memory_budget
            .unwrap_or_else(|| default_budget(request.device));
        budget.saturating_sub(self.memory_used())
    }

    /// Copies features read from disk into device memory when they fit the budget.
    fn load_into_memory(&self, features: Features, request: &Request) -> Features {
        if features.bytes() > self.memory_left(request) {
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

    fn compute(
        &self,
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
        let memory = if bytes <= self.memory_left(request) {
            Tensor::f_empty(&shape, (meta.dtype.kind(), request.device)).ok()
        } else {
            None
        };
        let started = Instant::now();
        let features = if let Some(all) = memory {
            crate::say!("Caching {what} in {}:", device_memory(request.device));
            run_prefix(request, cut, |start, batch| {
                let rows = batch.size()[0];
                Ok(all.f_narrow(0, start as i64, rows)?.f_copy_(batch)?)
            })?;
            Features {
                meta,
                storage: Storage::Memory(all),
            }
        } else if disk_has_room(dir, bytes) {
            crate::say!("Caching {what} on disk, in {}:", path.display());
            write_file(request, path, &meta)?;
            open_file(path, &meta.key)?.ok_or_else(|| Error::Invalid {
                path: path.display().to_string(),
                why: "it was not readable right after writing; check the disk".into(),
            })?
        } else {
            crate::say!(
                "Not caching {what}: they fit neither the memory budget ({} left) nor the disk \
                 at {}; every step runs the whole network.",
                human_bytes(self.memory_left(request)),
                dir.display()
            );
            return Ok(None);
        };
        crate::say!("Cached in {:.1}s.", started.elapsed().as_secs_f64());
        Ok(Some(features))
    }
}

impl Request<'_> {
    /// The key of the features asked for; `None` when caching is off or nothing can be cached.
    pub(crate) fn key(&self) -> Result<Option<String>> {
        let cut = cut(self.model);
        if !self.options.enabled || cut == 0 {
            return Ok(None);
        }
        let dtype = self.compute.to_string();
        key(self.model, self.flow, cut, &dtype).map(Some)
    }

    fn dir(&self) -> PathBuf {
        self.options
            .dir
            .clone()
            .unwrap_or_else(|| default_cache_dir(&self.flow.directory))
    }
}

/// The shape of one sample at the input of layer `cut`.
fn shape_at(model: &Sequential, cut: usize) -> Vec<i64> {
    let mut shape = model.input_shape().to_vec();
    for layer in &model.layers()[..cut] {
        shape = layer.kind().output_shape(&shape);
    }
    shape
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
            let y = request
                .model
                .forward_range_with(&x, 0..cut, false, request.compute)?;
            sink(indices[0], &y)
        };
        run().map_err(|e| {
            crate::train::out_of_memory(e, request.device, flow.batch_size(), || {
                format!("while caching features, batch {}", step + 1)
            })
        })?;
        progress.inc(1, "");
    }
    progress.finish("");
    Ok(())
}

/// Computes the features of `meta` and writes them to `path` as a [`crate::cache_file`], the
/// rows in file order.
fn write_file(request: &Request, path: &Path, meta: &Meta) -> Result<()> {
    let header = Header {
        format: FORMAT.into(),
        meta: meta.clone(),
    };
    let mut file = CacheFileWriter::create(path, MAGIC, &header)?;
    run_prefix(request, meta.start, |_, batch| {
        let values = batch
            .f_to_device(Device::Cpu)?
            .f_to_kind(meta.dtype.kind())?
            .f_contiguous()?;
        let mut bytes = vec![0u8; values.numel() * meta.dtype.size() as usize];
        values.f_copy_data_u8(&mut bytes, values.numel())?;
        file.write_payload(&bytes)
    })?;
    file.commit()
}

/// Opens a feature file with the given key; `None` if there is none, or it is stale or broken
/// (then it is recomputed and replaced).
fn open_file(path: &Path, key: &str) -> Result<Option<Features>> {
    let Some(file) = CacheFile::open(path, MAGIC) else {
        return Ok(None);
    };
    let header = file.header::<Header>().filter(|header| {
        let meta = &header.meta;
        header.format == FORMAT
            && meta.key == key
            && file.payload().len() as u64 == meta.count as u64 * meta.sample_bytes()
    });
    let Some(header) = header else {
        crate::say!(
            "Ignoring {}: it is not a complete feature file for this key.",
            path.display()
        );
        return Ok(None);
    };
    Ok(Some(Features {
        meta: header.meta,
        storage: Storage::Disk(Arc::new(file)),
    }))
}

/// Whether `dir` (created if needed) has room for `bytes` and a margin of 1 GiB.
fn disk_has_room(dir: &Path, bytes: u64) -> bool {
    std::fs::create_dir_all(dir).is_ok()
        && available_space(dir).is_some_and(|free| free >= bytes.saturating_add(1 << 30))
}

/// Half the device's memory: the GPU's total (8 GiB if unknown), or the available RAM.
fn default_budget(device: Device) -> u64 {
    const GIB: u64 = 1 << 30;
    let memory = crate::device::memory_bytes(device);
    memory.unwrap_or(if device.is_cuda() { 8 * GIB } else { 4 * GIB }) / 2
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
        let mut model = Sequential::new(crate::vgg16::Vgg16::new(false, Device::Cpu))
            .flatten()
            .dropout(0.5)
            .dense(1, Activation::Sigmoid);
        model.trainable_from("dense_1").unwrap();
        assert_eq!(model.layers()[cut(&model)].name(), "dropout_1");
        model.trainable_from("block1_conv1").unwrap();
        assert_eq!(cut(&model), 0);
    }
}
