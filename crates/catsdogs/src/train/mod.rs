//! Training, as the tutorial's Keras does it: `fit` on the data module's batches, printing
//! Keras's epoch lines and returning a [`History`](crate::History), with callbacks around its
//! epochs and steps; then `evaluate` and `predict`. These are methods of the one
//! [`Model`](crate::model::Model), which `compile` (with an optimizer of
//! [`crate::optimizers`] and a loss of [`crate::losses`]) readies for them.
//!
//! ```no_run
//! use catsdogs::applications::Backbone;
//! use catsdogs::data::{FlowOptions, ImageDataGenerator, Preprocess};
//! use catsdogs::losses::Loss;
//! use catsdogs::model::{Activation, Sequential};
//! use catsdogs::optimizers::RMSprop;
//! use catsdogs::train::FitOptions;
//! # fn main() -> catsdogs::Result<()> {
//! let datagen = ImageDataGenerator::new(Preprocess::Vgg16);
//! let train = datagen.flow_from_directory("data/train", FlowOptions::default().batch_size(50))?;
//! let validation = datagen.flow_from_directory("data/validation", FlowOptions::default().batch_size(50))?;
//! let conv_base = Backbone::Vgg16.application(false).load("weights/vgg16_notop.h5", catsdogs::device())?;
//! let mut model = Sequential::new(&conv_base)
//!     .flatten()
//!     .dropout(0.5)
//!     .dense(256, Activation::Relu)
//!     .dense(1, Activation::Sigmoid);
//! model.freeze_base();
//! model.compile(RMSprop::new(2e-5), Loss::BinaryCrossentropy);
//! let history = model.fit_with(&train, 30, &validation, FitOptions::default().checkpoints("runs/frozen").resume(true))?;
//! // Epoch 1/30
//! // 320/320 [==============================] - 12s 38ms/step - loss: 0.4012 - acc: 0.8123 - val_loss: ...
//! # Ok(()) }
//! ```
//!
//! - [`options`](FitOptions): seed, feature cache, checkpoints, callbacks.
//! - `fit`: the epochs and steps, on the images or on cached features (see [`crate::features`],
//!   read through `inputs`); `report` is what it prints, `classes` the labels it accepts.
//! - [`callbacks`]: Keras's callbacks, and `fit`'s own (progress, the stop button, the stop on
//!   NaN, the History, checkpoints with exact resumption).
//! - `evaluate` and `predict`.
//! - [`checkpoint`](Checkpoint): model, optimizer state, History, epoch and the callbacks'
//!   states, written atomically.
//! - [`submit`]: Kaggle's `test1.zip` to a submission CSV.

pub mod callbacks;
mod checkpoint;
mod classes;
mod evaluate;
mod fit;
mod inputs;
mod options;
mod predict;
mod report;
pub mod submit;

pub use checkpoint::Checkpoint;
pub use fit::FP16_LOSS_SCALE;
pub use options::FitOptions;
pub use predict::{input_size, load_images, predict_files, FilePredictions};
