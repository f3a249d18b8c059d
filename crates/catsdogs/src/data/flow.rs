//! Keras's `ImageDataGenerator(preprocessing_function=preprocess_input)
//! .flow_from_directory(dir, target_size=(224, 224), batch_size=50, class_mode='binary')`.
//!
//! Files and labels follow Keras's rules (see [`list_images`]). The images are decoded once
//! into a memory-mapped cache (see the `image_cache` notes); batches are gathered from it,
//! preprocessed on the device, and come out as (N, 3, H, W) `f32` tensors with (N,) `f32`
//! labels, the class index as in Keras's binary mode. An epoch shuffles with the seed and the
//! epoch number, so the same epoch and seed always give the same order and the same tensors,
//! and the last, short batch is kept.
//!
//! With an augmenting generator ([`DirectoryIterator::is_augmented`]), each epoch transforms
//! the cached images afresh, in parallel, in the pass that fills the batches: image `i` of
//! epoch `e` gets the transform of [`transform_seed`]`(seed, e, i)`, so an epoch is the same
//! whether it runs in one go or is resumed. [`DirectoryIterator::batch`] and the `u8` images
//! stay the images as they are.
//!
//! ```no_run
//! use catsdogs::data::{FlowOptions, ImageDataGenerator, Preprocess};
//! let datagen = ImageDataGenerator::new(Preprocess::Vgg16);
//! let train = datagen.flow_from_directory("data/train", FlowOptions::default().batch_size(50))?;
//! // Found 16000 images belonging to 2 classes.
//! for batch in train.epoch(0, catsdogs::device()) {
//!     let batch = batch?;
//!     assert_eq!(batch.x.size()[1..], [3, 224, 224]);
//! }
//! # Ok::<(), catsdogs::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use super::augment::{transform_seed, Layout, Shape};
use super::generator::ImageDataGenerator;
use super::image_cache::{default_cache_dir, ImageCache};
use super::listing::list_images;
use super::load::check_target_size;
use super::preprocess::{f_preprocess_batch, Preprocess};
use super::rng::Rng;
use crate::error::{Error, Result};

/// How many batches the background thread prepares ahead of the consumer.
const PREFETCH: usize = 2;

/// The options of [`ImageDataGenerator::flow_from_directory`], with Keras's defaults except
/// the target size, which is VGG16's 224x224.
///
/// ```
/// let options = catsdogs::data::FlowOptions::default().batch_size(50).shuffle(false);
/// assert_eq!((options.target_size, options.batch_size, options.shuffle), ((224, 224), 50, false));
/// ```
#[derive(Clone, Debug)]
pub struct FlowOptions {
    /// (height, width) of the images, as in Keras.
    pub target_size: (u32, u32),
    /// Images per batch; the last batch of an epoch may be shorter.
    pub batch_size: usize,
    /// Whether each epoch visits the images in a new seeded order.
    pub shuffle: bool,
    /// The seed of the epoch orders.
    pub seed: u64,
    /// Where the decoded images are cached; `None` means [`default_cache_dir`], beside `dir`.
    pub cache_dir: Option<PathBuf>,
    /// Whether the decoded images are kept in a cache file (default true). Off, nothing is
    /// written (for a read-only data folder, say): each batch's images are decoded when it is
    /// gathered, which costs a decode per image per epoch.
    pub cache: bool,
}

impl Default for FlowOptions {
    fn default() -> Self {
        FlowOptions {
            target_size: (224, 224),
            batch_size: 32,
            shuffle: true,
            seed: 0,
            cache_dir: None,
            cache: true,
        }
    }
}

impl FlowOptions {
    /// Sets the (height, width) of the images.
    pub fn target_size(mut self, height: u32, width: u32) -> Self {
        self.target_size = (height, width);
        self
    }

    /// Sets the number of images per batch.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Turns shuffling on or off.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Sets the seed of the epoch orders.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the folder of the decoded-image cache.
    pub fn cache_dir(mut self, cache_dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(cache_dir.into());
        self
    }

    /// Turns the decoded-image cache on or off (see [`FlowOptions::cache`]).
    pub fn cache(mut self, cache: bool) -> Self {
        self.cache = cache;
        self
    }
}

impl ImageDataGenerator {
    /// Lists the images of `dir` (one sub-folder per class), prints Keras's
    /// `Found N images belonging to K classes.`, and maps their decoded-image cache, decoding
    /// them first if the cache does not hold them yet.
    pub fn flow_from_directory(
        &self,
        dir: impl AsRef<Path>,
        options: FlowOptions,
    ) -> Result<DirectoryIterator> {
        let dir = dir.as_ref();
        let (height, width) = options.target_size;
        self.check()?;
        check_target_size(height, width)?;
        super::check_batch_size(options.batch_size)?;
        let list = list_images(dir)?;
        crate::say!(
            "Found {} images belonging to {} classes.",
            list.filenames.len(),
            list.class_indices.len()
        );
        if let Some(note) = synthetic_note(dir) {
            crate::say!(
                "These are synthetic sample images, not Kaggle's photos (see {}).",
                note.display()
            );
        }
        let cache_dir = options
            .cache_dir
            .clone()
            .unwrap_or_else(|| default_cache_dir(dir));
        let cache_dir = options.cache.then_some(cache_dir.as_path());
        let cache = ImageCache::open_or_build(dir, &list, (height, width), cache_dir)?;
        let labels = list.classes.iter().map(|&c| c as f32).collect();
        Ok(DirectoryIterator {
            directory: dir.to_path_buf(),
            filenames: list.filenames,
            classes: list.classes,
            class_indices: list.class_indices,
            options,
            generator: Arc::new(self.clone()),
            images: Arc::new(Images { cache, labels }),
        })
    }
}

/// The `SYNTHETIC.txt` that `split` leaves next to the split folders of the synthetic sample.
fn synthetic_note(dir: &Path) -> Option<PathBuf> {
    let parent = dir.parent().unwrap_or(dir);
    [dir, parent]
        .into_iter()
        .map(|d| d.join("SYNTHETIC.txt"))
        .find(|p| p.is_file())
}

/// The images of a flow, shared with the prefetching thread.
struct Images {
    cache: ImageCache,
    labels: Vec<f32>,
}

impl Images {
    /// (N, H, W, 3) `u8` and (N,) `f32` labels on the CPU.
    fn gather(&self, indices: &[usize], height: u32, width: u32) -> Result<(Tensor, Tensor)> {
        self.check_indices(indices)?;
        let mut pixels = vec![0u8; indices.len() * self.cache.image_len()];
        pixels
            .par_chunks_mut(self.cache.image_len())
            .zip(indices.par_iter())
            .try_for_each(|(out, &i)| self.cache.image_into(i, out))?;
        let shape = [indices.len() as i64, i64::from(height), i64::from(width), 3];
        let x = Tensor::f_from_data_size(&pixels, &shape, Kind::Uint8)?;
        Ok((x, self.labels_of(indices)?))
    }

    /// Refuses an index beyond the flow's images.
    fn check_indices(&self, indices: &[usize]) -> Result<()> {
        let count = self.cache.count();
        match indices.iter().find(|&&i| i >= count) {
            Some(&index) => Err(Error::Index {
                index,
                samples: count,
            }),
            None => Ok(()),
        }
    }

    /// (N,) `f32` labels of the images at `indices`.
    fn labels_of(&self, indices: &[usize]) -> Result<Tensor> {
        let labels: Vec<f32> = indices.iter().map(|&i| self.labels[i]).collect();
        Ok(Tensor::f_from_slice(&labels)?)
    }

    /// (N, 3, H, W) `f32`, preprocessed: the images at `indices` transformed as `generator`
    /// draws them for `epoch`, each on the rayon pool in one pass that writes the network's
    /// layout (the preprocessing's channel order and arithmetic) straight into the batch's
    /// tensor; and (N,) `f32` labels; on the CPU.
    fn gather_augmented(
        &self,
        indices: &[usize],
        (height, width): (u32, u32),
        generator: &ImageDataGenerator,
        (seed, epoch): (u64, usize),
    ) -> Result<(Tensor, Tensor)> {
        self.check_indices(indices)?;
        let shape = Shape {
            rows: height as usize,
            cols: width as usize,
            channels: 3,
        };
        let plane = shape.rows * shape.cols;
        let preprocessing = generator.preprocessing;
        let layout = Layout::planar(3, plane, |c| preprocessing.position(c));
        let len = self.cache.image_len();
        let size = [indices.len() as i64, 3, i64::from(height), i64::from(width)];
        let x = Tensor::f_empty(size, (Kind::Float, Device::Cpu))?;
        if x.numel() == 0 {
            return Ok((x, self.labels_of(indices)?)); // no batch: nothing to write
        }
        // SAFETY: `x` is a new, contiguous CPU tensor of `indices.len() * len` f32 values that
        // nothing else refers to until this function returns it, and the slice does not
        // outlive it.
        let values = unsafe {
            std::slice::from_raw_parts_mut(x.data_ptr().cast::<f32>(), indices.len() * len)
        };
        values
            .par_chunks_mut(len)
            .zip(indices.par_iter())
            .try_for_each(|(out, &i)| {
                let dims = [shape.rows, shape.cols, shape.channels];
                let params =
                    generator.get_random_transform(&dims, transform_seed(seed, epoch, i))?;
                generator.transform_into(&self.cache.image(i)?, shape, &params, out, &layout)?;
                preprocessing.apply_planar(out, plane);
                Ok::<(), Error>(())
            })?;
        Ok((x, self.labels_of(indices)?))
    }
}

/// A batch: preprocessed images, labels and the images' indices in the flow.
#[derive(Debug)]
pub struct Batch {
    /// (N, 3, H, W) `f32`, preprocessed, on the flow's device.
    pub x: Tensor,
    /// (N,) `f32` labels: the class index (0 or 1 for cats and dogs).
    pub y: Tensor,
    /// Which images of the flow these are.
    pub indices: Vec<usize>,
}

/// Keras's `DirectoryIterator`: the images of a folder, their labels, and batches of them.
pub struct DirectoryIterator {
    /// The folder that was listed.
    pub directory: PathBuf,
    /// Image paths relative to the folder, in Keras's order.
    pub filenames: Vec<String>,
    /// The label of each image.
    pub classes: Vec<u32>,
    /// Class folder name to label.
    pub class_indices: BTreeMap<String, u32>,
    options: FlowOptions,
    generator: Arc<ImageDataGenerator>,
    images: Arc<Images>,
}

impl std::fmt::Debug for DirectoryIterator {
    /// A summary: the folder, the counts and the settings, not every file name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryIterator")
            .field("directory", &self.directory)
            .field("samples", &self.samples())
            .field("class_indices", &self.class_indices)
            .field("options", &self.options)
            .field("generator", &self.generator)
            .field("cache_key", &self.cache_key())
            .finish()
    }
}

impl DirectoryIterator {
    /// The number of images.
    pub fn samples(&self) -> usize {
        self.filenames.len()
    }

    /// Batches per epoch, the last short batch included (Keras's `len()`).
    pub fn len(&self) -> usize {
        self.samples().div_ceil(self.options.batch_size)
    }

    /// Whether the flow has no images (never true: an empty class folder is an error).
    pub fn is_empty(&self) -> bool {
        self.samples() == 0
    }

    /// Images per batch.
    pub fn batch_size(&self) -> usize {
        self.options.batch_size
    }

    /// (height, width) of the images.
    pub fn target_size(&self) -> (u32, u32) {
        self.options.target_size
    }

    /// The preprocessing applied to batches.
    pub fn preprocessing(&self) -> Preprocess {
        self.generator.preprocessing
    }

    /// The generator that made the flow: its preprocessing and augmentation.
    pub fn generator(&self) -> &ImageDataGenerator {
        &self.generator
    }

    /// Whether each epoch gives new, randomly transformed images (the generator augments):
    /// then no two epochs see the same pixels, and features computed from them cannot be
    /// cached.
    pub fn is_augmented(&self) -> bool {
        self.generator.augments()
    }

    /// The content key of the decoded-image cache: SHA-256 (hex) over the files' content
    /// hashes (XXH3-128, read when the flow opened), names and the resize settings. Equal keys
    /// mean equal images in equal order.
    pub fn cache_key(&self) -> &str {
        self.images.cache.key()
    }

    /// The memory-mapped file that holds the decoded images; `None` with the cache off.
    pub fn cache_path(&self) -> Option<&Path> {
        self.images.cache.path()
    }

    /// The order in which epoch `epoch` visits the images: a seeded permutation, new for each
    /// epoch, or `0..samples` when shuffling is off.
    pub fn epoch_order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.samples()).collect();
        if self.options.shuffle {
            Rng::new(self.options.seed, epoch as u64).shuffle(&mut order);
        }
        order
    }

    /// The batch of the images at `indices` as they are (never augmented), preprocessed, on
    /// `device`: what `predict` and the feature cache read.
    pub fn batch(&self, indices: &[usize], device: Device) -> Result<Batch> {
        let (height, width) = self.options.target_size;
        let (x, y) = self.images.gather(indices, height, width)?;
        self.finish(x, y, indices.to_vec(), device, false)
    }

    /// The batches of epoch `epoch`, in [`epoch_order`](Self::epoch_order), augmented when
    /// the generator augments. A background thread gathers the next batches from the cache
    /// while the current one is in use; augmenting, it transforms and preprocesses them there
    /// too, on the rayon pool.
    pub fn epoch(&self, epoch: usize, device: Device) -> impl Iterator<Item = Result<Batch>> + '_ {
        let order = self.epoch_order(epoch);
        let batch_size = self.options.batch_size;
        let (height, width) = self.options.target_size;
        let images = Arc::clone(&self.images);
        let augmented = self.is_augmented();
        let generator = Arc::clone(&self.generator);
        let seed = self.options.seed;
        let (sender, receiver) = std::sync::mpsc::sync_channel(PREFETCH);
        std::thread::spawn(move || {
            for indices in order.chunks(batch_size) {
                let gathered = if augmented {
                    let size = (height, width);
                    images.gather_augmented(indices, size, &generator, (seed, epoch))
                } else {
                    images.gather(indices, height, width)
                };
                if sender.send((gathered, indices.to_vec())).is_err() {
                    break; // the consumer stopped early
                }
            }
        });
        receiver.into_iter().map(move |(gathered, indices)| {
            let (x, y) = gathered?;
            self.finish(x, y, indices, device, augmented)
        })
    }

    /// The images at `indices` as (N, H, W, 3) `u8` on the CPU, for plots and grids.
    ///
    /// Panics if an index is out of range; [`f_images_u8`](Self::f_images_u8) returns an error.
    pub fn images_u8(&self, indices: &[usize]) -> Tensor {
        self.f_images_u8(indices)
            .unwrap_or_else(|e| panic!("images_u8: {e}"))
    }

    /// [`images_u8`](Self::images_u8), returning an error for an index out of range.
    pub fn f_images_u8(&self, indices: &[usize]) -> Result<Tensor> {
        let (height, width) = self.options.target_size;
        Ok(self.images.gather(indices, height, width)?.0)
    }

    /// Moves a gathered batch to `device` and preprocesses it there, unless it is
    /// `preprocessed` already.
    fn finish(
        &self,
        x: Tensor,
        y: Tensor,
        indices: Vec<usize>,
        device: Device,
        preprocessed: bool,
    ) -> Result<Batch> {
        let x = x.f_to_device(device)?;
        let x = if preprocessed {
            x
        } else {
            f_preprocess_batch(&x, self.preprocessing())?
        };
        Ok(Batch {
            x,
            y: y.f_to_device(device)?,
            indices,
        })
    }
}
