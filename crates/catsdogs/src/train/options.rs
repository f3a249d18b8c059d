//! The options of `fit`, Keras-like: a seed, the feature cache, checkpoints and resumption,
//! and callbacks. How the layers compute is the model's (`Model::set_precision`).

use std::fmt;
use std::path::PathBuf;

use super::callbacks::Callback;
use crate::features::CacheOptions;

/// The options of [`Model::fit_with`](crate::model::Model::fit_with), with Keras-like
/// defaults: seed 0, feature cache on, no checkpoints, no callbacks of one's own.
///
/// ```
/// use catsdogs::train::FitOptions;
/// use catsdogs::train::callbacks::TerminateOnNaN;
/// let options = FitOptions::default().seed(7).checkpoints("runs/frozen").resume(true)
///     .callback(TerminateOnNaN::default());
/// assert_eq!(options.seed, 7);
/// assert!(options.cache.enabled);
/// assert_eq!(options.callbacks.len(), 1);
/// ```
#[derive(Default)]
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
    /// Keras's `callbacks=[...]`, called in order after `fit`'s own.
    pub callbacks: Vec<Box<dyn Callback>>,
}

impl fmt::Debug for FitOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let callbacks: Vec<String> = self.callbacks.iter().map(|c| c.config()).collect();
        f.debug_struct("FitOptions")
            .field("seed", &self.seed)
            .field("cache", &self.cache)
            .field("checkpoint_dir", &self.checkpoint_dir)
            .field("resume", &self.resume)
            .field("callbacks", &callbacks)
            .finish()
    }
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

    /// Writes a checkpoint into `dir` after every epoch (Keras's `BackupAndRestore`).
    pub fn checkpoints(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoint_dir = Some(dir.into());
        self
    }

    /// Continues from the latest checkpoint, if any.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Adds a callback, called after `fit`'s own and those added before it.
    pub fn callback(mut self, callback: impl Callback + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }
}
