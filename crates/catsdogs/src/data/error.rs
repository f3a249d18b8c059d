//! The data module's errors: each one names the file or folder and says what to do.

use std::path::Path;

/// Pillow refuses images of more than twice `Image.MAX_IMAGE_PIXELS` (2 x 89,478,485) pixels
/// with a `DecompressionBombError`, so Keras cannot load them either. We refuse them before
/// allocating anything, which also bounds the memory a lying header can ask for.
pub const MAX_IMAGE_PIXELS: u64 = 2 * 89_478_485;

/// Any failure of the data module.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file or folder.
        path: String,
        /// The operating system's reason.
        reason: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: std::io::Error,
    },
    /// A file that should be an image cannot be decoded.
    #[error("{path} is not an image that Keras could load ({why}): remove it or replace it with a JPEG, PNG, BMP, PPM or TIFF file")]
    NotAnImage {
        /// The file.
        path: String,
        /// What the decoder said.
        why: String,
    },
    /// An image in a format that Keras (Pillow) loads but this crate does not decode.
    #[error("{path} is a {format} image: Keras (through Pillow) would load it, but catsdogs decodes only JPEG, PNG, BMP, PPM and TIFF: convert it to one of those, or remove it")]
    Unsupported {
        /// The file.
        path: String,
        /// The format found in its content, e.g. `GIF`.
        format: String,
    },
    /// A JPEG ends before its last row of pixels.
    #[error("{path} is truncated (the file ends before its last row of pixels): copy or download it again, or remove it")]
    Truncated {
        /// The file.
        path: String,
    },
    /// An image header claims more pixels than Pillow would decode.
    #[error("{path} claims to be {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS} that Pillow (and so Keras) decodes: remove it or shrink it")]
    TooLarge {
        /// The file.
        path: String,
        /// Width from the header.
        width: u64,
        /// Height from the header.
        height: u64,
    },
    /// A file or folder that is needed does not exist.
    #[error("{path} does not exist: {hint}")]
    Missing {
        /// The file or folder.
        path: String,
        /// What to do.
        hint: &'static str,
    },
    /// A folder given to `flow_from_directory` has no class sub-folders.
    #[error("{path} has no class folders (such as cats/ and dogs/): give a split folder such as data/split/train")]
    NoClasses {
        /// The folder.
        path: String,
    },
    /// A class folder holds no image files.
    #[error("class folder {path} holds no images (png, jpg, jpeg, bmp, ppm, tif or tiff): add images or remove the folder")]
    EmptyClass {
        /// The class folder.
        path: String,
    },
    /// An option is out of range.
    #[error("{0}")]
    Options(String),
    /// A sample index is out of range.
    #[error("image index {index} is out of range: the flow has {samples} images")]
    Index {
        /// The index asked for.
        index: usize,
        /// The number of images.
        samples: usize,
    },
    /// A file (a zip, a manifest, a cache, an output folder) is not what was expected.
    #[error("{path}: {why}")]
    Invalid {
        /// The file or folder.
        path: String,
        /// What is wrong and what to do.
        why: String,
    },
    /// libtorch refused an operation.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Ctrl-C stopped the work (see [`crate::interrupt`]).
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
    /// A file could not be written, or a folder locked (see [`crate::fsutil`]).
    #[error(transparent)]
    File(#[from] crate::fsutil::FileError),
}

/// Shorthands that name the path.
impl DataError {
    pub(crate) fn read(path: &Path, reason: std::io::Error) -> Self {
        DataError::Read {
            path: path.display().to_string(),
            reason,
        }
    }

    pub(crate) fn write(path: &Path, reason: std::io::Error) -> Self {
        DataError::Write {
            path: path.display().to_string(),
            reason,
        }
    }

    pub(crate) fn invalid(path: &Path, why: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.display().to_string(),
            why: why.into(),
        }
    }

    pub(crate) fn not_an_image(path: &Path, why: impl Into<String>) -> Self {
        DataError::NotAnImage {
            path: path.display().to_string(),
            why: why.into(),
        }
    }
}
