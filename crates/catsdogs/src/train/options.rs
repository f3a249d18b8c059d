//! The options of `fit` and `evaluate`, Keras-like: a seed, the feature cache, checkpoints and
//! resumption, and the precision of the layers.

use std::path::PathBuf;

use tch::Device;

use crate::error::Result;
use crate::features::CacheOptions;
use crate::precision::{Compute, Precision};

/// The options of [`CompiledModel::fit_with`](super::CompiledModel::fit_with), with Keras-like defaults: seed 0, feature cache
/// on, no checkpoints, and the device's fast precision (`auto`: bf16 where the hardware has it,
/// fp32 elsewhere; see [`crate::precision`]).
///
/// ```
/// use catsdogs::precision::Precision;
/// use catsdogs::train::FitOptions;
/// let options = FitOptions::default().seed(7).checkpoints("runs/frozen").resume(true);
/// assert_eq!(options.seed, 7);
/// assert!(options.cache.enabled && options.precision == Precision::Auto);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FitOptions {
    /// Seeds the dropout masks: libtorch is seeded with `seed + epoch` before each epoch. (The
    /// order of the images is the flow's: see `FlowOptions::seed`.)
    pub seed: u64,
    /// The feature cache (see [`crate::features`]).
    pub cache: CacheOptions,
    /// Where a checkpoint is written after every epoch; `None` writes none.
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from the latest checkpoint in `checkpoint_dir`, if there is one.
    pub resume: bool,
    /// The precision of the layers (default `auto`).
    pub precision: Precision,
    /// Exactly how to compute, whatever the device: overrides `precision` (for comparisons
    /// and tests, e.g. bf16 on a CPU without bf16 hardware, or fp32 channels-last).
    pub compute: Option<Compute>,
}

impl FitOptions {
    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Turns the feature cache on or off.
    pub fn cache(mut self, enabled: bool) -> Self {
        self.cache.enabled = enabled;
        self
    }

    /// Sets the bytes of device memory that cached features may take (beyond it, they go to
    /// disk).
    pub fn cache_memory(mut self, bytes: u64) -> Self {
        self.cache.memory_budget = Some(bytes);
        self
    }

    /// Sets the folder of on-disk feature caches.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache.dir = Some(dir.into());
        self
    }

    /// Writes a checkpoint into `dir` after every epoch.
    pub fn checkpoints(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoint_dir = Some(dir.into());
        self
    }

    /// Continues from the latest checkpoint, if any.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Sets the precision of the layers.
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Computes exactly as `compute` says, whatever the device (see
    /// [`compute`](Self::compute)).
    pub fn compute(mut self, compute: Compute) -> Self {
        self.compute = Some(compute);
        self
    }

    /// How the layers compute on `device`: [`compute`](Self::compute) if set, else the
    /// precision resolved for the device (an error says when it cannot be had there).
    pub fn compute_on(&self, device: Device) -> Result<Compute> {
        match self.compute {
            Some(compute) => Ok(compute),
            None => self.precision.resolve(device),
        }
    }
}
