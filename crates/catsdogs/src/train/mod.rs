//! Training, as the tutorial's Keras does it: `compile` with an optimizer (`RMSprop`, or `Adam`
//! or `SGD`) and binary cross-entropy, `fit` on the data module's batches printing Keras's epoch lines and returning a
//! [`History`](crate::History), then `evaluate` and `predict`.
//!
//! ```no_run
//! use catsdogs::data::{FlowOptions, ImageDataGenerator, Preprocess};
//! use catsdogs::model::{Activation, Sequential};
//! use catsdogs::train::{Compile, FitOptions, Loss, RMSprop};
//! use catsdogs::vgg16::Vgg16;
//! # fn main() -> catsdogs::Result<()> {
//! let datagen = ImageDataGenerator::new(Preprocess::Vgg16);
//! let train = datagen.flow_from_directory("data/train", FlowOptions::default().batch_size(50))?;
//! let validation = datagen.flow_from_directory("data/validation", FlowOptions::default().batch_size(50))?;
//! let conv_base = Vgg16::load("weights/vgg16_notop.h5", false, catsdogs::device())?;
//! let mut model = Sequential::new(conv_base)
//!     .flatten()
//!     .dropout(0.5)
//!     .dense(256, Activation::Relu)
//!     .dense(1, Activation::Sigmoid);
//! model.freeze_base();
//! let mut model = model.compile(RMSprop::new(2e-5), Loss::BinaryCrossentropy);
//! let history = model.fit_with(&train, 30, &validation, FitOptions::default().checkpoints("runs/frozen").resume(true))?;
//! // Epoch 1/30
//! // 320/320 [==============================] - 12s 38ms/step - loss: 0.4012 - acc: 0.8123 - val_loss: ...
//! # Ok(()) }
//! ```
//!
//! - [`optimizer`](Optimizer): Keras 2.2's RMSprop, Adam and SGD, with states that
//!   checkpoints save.
//! - [`loss`](Loss): binary cross-entropy and accuracy with Keras's clipping and rounding.
//! - [`options`](FitOptions): seed, feature cache, checkpoints, precision.
//! - [`fit`](CompiledModel::fit): the epoch loop, on the images or on cached features (see
//!   [`crate::features`], read through `inputs`), with a checkpoint after every epoch and exact
//!   resumption; `report` is what it prints, `classes` the labels it accepts.
//! - [`evaluate`](CompiledModel::evaluate) and [`predict`](Predict).
//! - [`checkpoint`](Checkpoint): model, optimizer state, History and epoch, written atomically.
//! - [`crate::interrupt`]: Ctrl-C in the CLI, or the stop button in a notebook, stops at the
//!   next step and says how to resume.
//! - [`submit`]: Kaggle's `test1.zip` to a submission CSV.

mod checkpoint;
mod classes;
mod evaluate;
mod fit;
mod inputs;
mod loss;
mod optimizer;
mod options;
mod predict;
mod report;
pub mod submit;

pub use checkpoint::Checkpoint;
pub use fit::{CompiledModel, FP16_LOSS_SCALE};
pub use loss::{binary_accuracy, Loss, EPSILON};
pub use optimizer::{Adam, Optimizer, RMSprop, SGD};
pub use options::FitOptions;
pub use predict::{input_size, load_images, predict_files, FilePredictions, Predict};

use crate::model::Sequential;

/// Keras's `model.compile(optimizer, loss, metrics=['acc'])` for a [`Sequential`].
pub trait Compile {
    /// The model ready to `fit`, with its optimizer and loss; accuracy is always measured.
    fn compile(self, optimizer: impl Optimizer + 'static, loss: Loss) -> CompiledModel;
}

impl Compile for Sequential {
    fn compile(self, optimizer: impl Optimizer + 'static, loss: Loss) -> CompiledModel {
        CompiledModel::new(self, Box::new(optimizer), loss)
    }
}
