//! Training, as the tutorial's Keras does it: `compile` with `RMSprop` and binary
//! cross-entropy, `fit` on the data module's batches printing Keras's epoch lines and returning a
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
//! - [`optimizer`](RMSprop): Keras 2.2's RMSprop, with a state that checkpoints save.
//! - [`loss`](Loss): binary cross-entropy and accuracy with Keras's clipping and rounding.
//! - [`fit`](CompiledModel::fit): the epoch loop, on the images or on cached features (see
//!   [`crate::cache`]), with a checkpoint after every epoch and exact resumption.
//! - [`checkpoint`](Checkpoint): model, optimizer state, History and epoch, written atomically.
//! - [`crate::interrupt`]: Ctrl-C in the CLI, or the stop button in a notebook, stops at the next step
//!   and says how to resume.
//! - [`run`]: the tutorial's two experiments end to end, as `catsdogs train` runs them.
//! - [`submit`]: Kaggle's `test1.zip` to a submission CSV.

mod checkpoint;
mod fit;
mod loss;
mod optimizer;
mod predict;
pub mod run;
pub mod submit;

pub use checkpoint::Checkpoint;
pub use fit::{CompiledModel, FitOptions};
pub use loss::{binary_accuracy, Loss, EPSILON};
pub use optimizer::RMSprop;
pub use predict::{input_size, load_images, Predict};

use crate::error::Error;
use crate::model::Sequential;

/// Keras's `model.compile(optimizer, loss, metrics=['acc'])` for a [`Sequential`].
pub trait Compile {
    /// The model ready to `fit`, with its optimizer and loss; accuracy is always measured.
    fn compile(self, optimizer: RMSprop, loss: Loss) -> CompiledModel;
}

impl Compile for Sequential {
    fn compile(self, optimizer: RMSprop, loss: Loss) -> CompiledModel {
        CompiledModel::new(self, optimizer, loss)
    }
}

/// Turns libtorch's out-of-memory failures into [`Error::OutOfMemory`]; other errors pass.
pub(crate) fn out_of_memory(
    error: crate::Error,
    device: tch::Device,
    batch_size: usize,
    during: impl FnOnce() -> String,
) -> crate::Error {
    if !matches!(error, Error::Torch(_)) {
        return error;
    }
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default();
    let lower = line.to_ascii_lowercase();
    let Some(found) = [
        "out of memory",
        "not enough memory",
        "can't allocate memory",
    ]
    .iter()
    .find_map(|pattern| lower.find(pattern)) else {
        return error;
    };
    // libtorch's own sentence, without our prefix ("libtorch: ") and libtorch's source location
    // ("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: ").
    let before = &line[..found];
    let sentence = [before.rfind(". "), before.rfind(": ")]
        .into_iter()
        .flatten()
        .max()
        .map_or(0, |i| i + 2);
    let message = line[sentence..].trim();
    Error::OutOfMemory {
        device: if device.is_cuda() { "GPU" } else { "CPU" }.into(),
        during: during(),
        batch_size,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_out_of_memory_reads_as_one_sentence() {
        let torch = tch::TchError::Torch(
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total)\nframes"
                .into(),
        );
        let error = out_of_memory(torch.into(), tch::Device::Cuda(0), 50, || {
            "at epoch 2/30, step 7/320".into()
        });
        assert_eq!(
            error.to_string(),
            "out of memory on the GPU at epoch 2/30, step 7/320 with batches of 50 images: lower \
             batch_size (for example to 25); libtorch said: CUDA out of memory. \
             Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total)"
        );
        let other = out_of_memory(
            tch::TchError::Torch(
                "shape mismatch\nException raised from check at shape.cpp:1 (most recent call \
                 first):\nframe #0: f()"
                    .into(),
            )
            .into(),
            tch::Device::Cpu,
            50,
            String::new,
        );
        assert_eq!(other.to_string(), "libtorch: shape mismatch");
    }
}
