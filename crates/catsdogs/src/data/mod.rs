//! Data: everything between Kaggle's `train.zip` and batches of tensors, as the tutorial's
//! `ImageDataGenerator(preprocessing_function=preprocess_input).flow_from_directory(...)`.
//!
//! - [`split`]: `train.zip` (or its folder) to `train/`, `validation/` and `test/` class folders
//!   and a manifest.
//! - [`load_img`], [`img_to_array`], [`preprocess_input`]: Keras's image loading, pixel for
//!   pixel (JPEGs through libjpeg-turbo's decoder, as Pillow decodes them).
//! - [`ImageDataGenerator::flow_from_directory`]: Keras's classes, file order, labels and
//!   batches, from images decoded once into a memory-mapped cache.
//! - [`ImageDataGenerator`]'s augmentation ([`ImageDataGenerator::get_random_transform`],
//!   [`ImageDataGenerator::apply_transform`]): Keras's rotation, shifts, shear, zoom, flips,
//!   fill modes, channel shift and brightness, applied to the cached images each epoch.
//! - [`sample`]: a synthetic Kaggle-like `train.zip` for machines without Kaggle's data.
//!
//! The decoded images live beside the folder, in `<parent>/.catsdogs-cache/<name>/`, one file per
//! folder and target size: outside the class folders, so neither we nor Keras take it for a
//! class. [`FlowOptions::cache_dir`] puts them elsewhere, and [`FlowOptions::cache`] off writes
//! nothing (for a read-only data folder, say). The cache is keyed by the files' content (each
//! file read and hashed with XXH3-128 whenever a flow opens) and the resize rule
//! ([`DirectoryIterator::cache_key`]), and may be deleted at any time.
//!
//! ```no_run
//! use catsdogs::data::{sample, split, FlowOptions, ImageDataGenerator, Preprocess, SampleOptions, SplitOptions};
//! sample("sample/train.zip".as_ref(), &SampleOptions::default())?;
//! split("sample/train.zip".as_ref(), "sample".as_ref(), &SplitOptions::sizes(400, 100, 100))?;
//! let datagen = ImageDataGenerator::new(Preprocess::Vgg16);
//! let train = datagen.flow_from_directory("sample/train", FlowOptions::default().batch_size(50))?;
//! # Ok::<(), catsdogs::Error>(())
//! ```

use crate::error::{Error, Result};

mod augment;
mod decode;

mod flow;
mod generator;
mod image_cache;
mod listing;
mod load;
mod manifest;
mod npy;
mod preprocess;
mod rng;
mod sample;
mod split;

pub use crate::error::MAX_IMAGE_PIXELS;
pub use augment::{
    transform_seed, FillMode, ShiftRange, TransformParams, ZoomRange, AUGMENT_ARGUMENTS,
};
pub use decode::{decode_rgb, read_bounded, read_image_file, MAX_IMAGE_FILE_BYTES};
pub use flow::{Batch, DirectoryIterator, FlowOptions};
pub use generator::ImageDataGenerator;
pub use image_cache::default_cache_dir;
pub use listing::{is_image_name, list_images, ImageList, WHITE_LIST_FORMATS};
pub(crate) use load::resize_nearest_into;
pub use load::{img_to_array, load_img, nearest_indices, MAX_TARGET_SIDE};
pub use manifest::{
    refuse_output_inside_split, Manifest, ManifestFile, SkippedEntry, SplitSettings, MANIFEST_FILE,
};
pub use npy::{npy_bytes, read_npy, write_npy};
pub use preprocess::{f_preprocess_batch, preprocess_batch, preprocess_input, Preprocess};
pub use sample::{sample, SampleOptions, SampleReport, HARD_SWAP, MAX_PER_CLASS, SYNTHETIC_TEXT};
pub use split::{split, SplitOptions, SplitReport, CLASSES, SPLITS, SYNTHETIC_NOTE};

/// Refuses a batch size of 0, which would hold no images.
pub fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::EmptyBatch);
    }
    Ok(())
}

/// Parses a target size written `HEIGHTxWIDTH`, such as `224x224`, into (height, width).
///
/// ```
/// assert_eq!(catsdogs::data::parse_target_size("224x160").unwrap(), (224, 160));
/// assert!(catsdogs::data::parse_target_size("224").is_err());
/// ```
pub fn parse_target_size(s: &str) -> Result<(u32, u32)> {
    let parsed = s
        .split_once(['x', 'X'])
        .and_then(|(h, w)| Some((h.trim().parse().ok()?, w.trim().parse().ok()?)));
    match parsed {
        Some((height, width)) => {
            load::check_target_size(height, width)?;
            Ok((height, width))
        }
        None => Err(Error::TargetSizeSyntax(s.to_string())),
    }
}
