//! catsdogs: the support crate behind the notebooks that rebuild the tutorial "Cats vs Dogs
//! part 2: 98.6% accuracy with Keras and transfer learning" in Rust, with libtorch (through
//! `tch`) doing the compute.
//!
//! One module per concept, each named after its Keras counterpart where there is one.

pub mod bench;
pub mod cache;
pub mod cache_file;
pub mod console;
pub mod data;
pub mod device;
pub mod display;
pub mod error;
pub mod fsutil;
pub mod gradcam;
pub mod hashing;
pub mod history;
pub mod imagenet;
pub mod interrupt;
pub mod model;
pub mod notebook;
pub mod plot;
pub mod precision;
pub mod progress;
pub mod tensor_file;
pub mod train;
pub mod vgg16;
pub mod weights;

pub use device::device;
pub use error::{Error, Result};
pub use history::History;
/// The image crate, re-exported so that notebooks can name its types (`RgbImage`).
pub use image;
/// libtorch's Rust bindings, re-exported so that notebooks need only `:dep catsdogs`.
pub use tch;

/// The names a notebook uses, in the tutorial's vocabulary: `use catsdogs::prelude::*;`.
pub mod prelude {
    pub use crate::data::{
        img_to_array, load_img, preprocess_input, FlowOptions, ImageDataGenerator, Preprocess,
    };
    pub use crate::device;
    pub use crate::display::{Png, Table};
    pub use crate::gradcam::{GradCam, Target};
    pub use crate::history::History;
    pub use crate::imagenet::{decode_predictions, predictions_table};
    pub use crate::model::{Activation, Sequential};
    pub use crate::notebook::Notebook;
    pub use crate::plot::{self, Interpretation};
    pub use crate::precision::Precision;
    pub use crate::train::run::save_test_metrics;
    pub use crate::train::{load_images, Compile, FitOptions, Loss, Predict, RMSprop};
    pub use crate::vgg16::Vgg16;
}
