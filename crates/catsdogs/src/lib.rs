//! catsdogs: the support crate behind the notebooks that rebuild the tutorial "Cats vs Dogs
//! part 2: 98.6% accuracy with Keras and transfer learning" in Rust, with libtorch (through
//! `tch`) doing the compute.
//!
//! One module per concept, each named after its Keras counterpart where there is one, in five
//! layers. A module uses modules of its own layer and the layers below it, never above, and no
//! two modules use each other (`tests/source_rules.rs` reads the `use crate::` lines and fails
//! on an upward use or a cycle):
//!
//! ```text
//! 5 presentation  plot, display, notebook, experiments, bench,   what a person sees and runs
//!                 gradcam                                         figures, inline output, the
//!                   notebooks' context, the tutorial's two runs, where the network looked
//! 4 training      train, features                                 fit, evaluate, predict,
//!                   callbacks, checkpoints, submit; exact feature caches
//! 3 network       model, optimizers, losses, history,             the one Model (layers and
//!                 applications, weights, imagenet                 their graph, Sequential,
//!                   compile), VGG16/VGG19/ResNet50/MobileNetV2 from their tables, weight
//!                   import (Keras .h5, torchvision, safetensors), Keras's model files
//!                   (load_model, save_keras), ImageNet's classes
//! 2 data          data                                            split, sample, load_img,
//!                   preprocess, flow_from_directory, the decoded-image cache, augmentation
//! 1 utilities     error, fsutil, tensor_file, cache_file,         atomic files and locks,
//!                 hashing, console, progress, interrupt,          tensor and cache files,
//!                 device, precision                               messages, Ctrl-C, device,
//!                                                                 memory and precision
//! ```
//!
//! Errors are one flat [`Error`] at the bottom (as candle-core has it): every function returns
//! it, so no error converts back and forth between modules, and each variant reads as one
//! sentence that says what to do.

pub mod applications;
pub mod bench;
pub mod cache_file;
pub mod console;
pub mod data;
pub mod device;
pub mod display;
pub mod error;
pub mod experiments;
pub mod features;
pub mod fsutil;
pub mod gradcam;
pub mod hashing;
pub mod history;
pub mod imagenet;
pub mod interrupt;
pub mod losses;
pub mod model;
pub mod notebook;
pub mod optimizers;
pub mod plot;
pub mod precision;
pub mod progress;
pub mod tensor_file;
pub mod train;
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
    pub use crate::applications::{Application, Backbone, Pooling};
    pub use crate::data::{
        img_to_array, load_img, preprocess_input, FlowOptions, ImageDataGenerator, Preprocess,
    };
    pub use crate::device;
    pub use crate::display::predictions_table;
    pub use crate::display::{DisplayHandle, Png, Table};
    pub use crate::experiments::{runs, runs_table, save_test_metrics};
    pub use crate::gradcam::{GradCam, Target};
    pub use crate::history::History;
    pub use crate::imagenet::decode_predictions;
    pub use crate::losses::Loss;
    pub use crate::model::{Activation, Model, Sequential};
    pub use crate::notebook::Notebook;
    pub use crate::optimizers::{Adam, RMSprop, SGD};
    pub use crate::plot::{self, Interpretation, LiveCurves, PlotHistory};
    pub use crate::precision::Precision;
    pub use crate::train::callbacks::{
        CSVLogger, Callback, EarlyStopping, LearningRateScheduler, Mode, ModelCheckpoint,
        ReduceLROnPlateau, TensorBoard, TerminateOnNaN,
    };
    pub use crate::train::{load_images, FitOptions};
    pub use crate::weights::load_model;
}
