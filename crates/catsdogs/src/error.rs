//! Errors are values. Every failure a user can meet (a bad JPEG, a missing weight file, a wrong
//! folder layout, a batch too large for memory) reads as one sentence that names the thing and
//! says what to do. Each module has its own error enum; [`Error`] gathers them for callers that
//! use several modules, such as the notebooks and the CLI.

use std::path::Path;

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read, written or locked.
    #[error(transparent)]
    File(#[from] crate::fsutil::FileError),
    /// A file exists but its content is not what was expected.
    #[error("{path}: {why}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong and what to do.
        why: String,
    },
    /// A tensor file could not be read or written.
    #[error(transparent)]
    TensorFile(#[from] crate::tensor_file::TensorFileError),
    /// A precision that the device cannot compute.
    #[error(transparent)]
    Precision(#[from] crate::precision::PrecisionError),
    /// libtorch refused an operation; the message is libtorch's own.
    #[error("libtorch: {}", torch_message(.0))]
    Torch(#[from] tch::TchError),
    /// A model could not be built, run or loaded.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// A weights file could not be read or does not fit VGG16.
    #[error(transparent)]
    Weights(#[from] crate::weights::WeightsError),
    /// Training, evaluation or prediction stopped.
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    /// Predictions could not be decoded into ImageNet classes.
    #[error(transparent)]
    ImageNet(#[from] crate::imagenet::ImageNetError),
    /// Data could not be split, loaded or batched.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// An image could not be shown or encoded.
    #[error(transparent)]
    Display(#[from] crate::display::DisplayError),
    /// A figure could not be drawn from the data given.
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
    /// Grad-CAM could not explain what it was asked to.
    #[error(transparent)]
    GradCam(#[from] crate::gradcam::GradCamError),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// libtorch's own words: without tch's "Internal torch error: " prefix and without the C++ stack
/// that libtorch appends after "Exception raised from".
fn torch_message(error: &tch::TchError) -> String {
    match error {
        tch::TchError::Torch(message) => message
            .split("\nException raised from")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        other => other.to_string(),
    }
}

impl Error {
    /// An I/O error with the path and the action that failed.
    pub fn io(what: &'static str, path: &Path, reason: std::io::Error) -> Self {
        Error::File(crate::fsutil::FileError::io(what, path, reason))
    }
}
