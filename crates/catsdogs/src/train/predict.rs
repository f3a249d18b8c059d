//! Keras's `model.predict(x)` and `predict_generator(flow)`: the probability of class 1 (dogs)
//! for each image, without training, computed as the model's precision says. Works on any
//! model that ends in one sigmoid unit, compiled or not.
//!
//! ```
//! use catsdogs::applications::Backbone;
//! use catsdogs::model::{Activation, Sequential};
//! let conv_base = Backbone::Vgg16.application(false).input_size(32, 32).build(tch::Device::Cpu)?;
//! let model = Sequential::new(&conv_base).flatten().dense(1, Activation::Sigmoid);
//! let x = tch::Tensor::zeros([3, 3, 32, 32], (tch::Kind::Float, tch::Device::Cpu));
//! let p = model.predict(&x)?;
//! assert_eq!(p.size(), [3]);
//! # Ok::<(), catsdogs::Error>(())
//! ```

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::data::{self, DirectoryIterator, Preprocess};
use crate::device::out_of_memory;
use crate::error::{Error, Result};
use crate::interrupt;
use crate::model::Model;
use crate::precision::Compute;

/// Keras's batch size for `predict`.
const PREDICT_BATCH_SIZE: usize = 32;

impl Model {
    /// The probabilities (N,) on the CPU of a batch of preprocessed images (N, 3, H, W), run in
    /// chunks of 32 as Keras does.
    pub fn predict(&self, x: &Tensor) -> Result<Tensor> {
        probabilities(self, x, PREDICT_BATCH_SIZE, self.compute()?)
    }

    /// The probabilities of every image of `flow`, in the order of its `filenames` (whatever
    /// its shuffling), so they line up with `flow.classes`.
    pub fn predict_generator(&self, flow: &DirectoryIterator) -> Result<Tensor> {
        predict_flow(self, flow, self.compute()?)
    }
}

/// The probabilities of every image of `flow`, in the order of its `filenames`; stops at the
/// next batch when asked (see [`interrupt`]).
fn predict_flow(model: &Model, flow: &DirectoryIterator, compute: Compute) -> Result<Tensor> {
    let _stoppable = interrupt::stoppable();
    let all: Vec<usize> = (0..flow.samples()).collect();
    let mut outputs = Vec::new();
    for (step, indices) in all.chunks(flow.batch_size()).enumerate() {
        interrupt::check(|| {
            format!(
                "while predicting on {}, step {}/{}",
                flow.directory.display(),
                step + 1,
                flow.len()
            )
        })?;
        let batch = flow.batch(indices, model.device())?;
        outputs.push(probabilities(model, &batch.x, flow.batch_size(), compute)?);
    }
    Ok(Tensor::f_cat(&outputs, 0)?)
}

/// The (height, width) of the images a model takes, from its input shape.
pub fn input_size(model: &Model) -> Result<(u32, u32)> {
    match model.input_shape() {
        [3, height, width] => Ok((*height as u32, *width as u32)),
        other => Err(Error::Options(format!(
            "the model's input shape {other:?} is not (3, height, width)"
        ))),
    }
}

/// Loads image files as the flows do (Keras's `load_img` with `target_size = (height,
/// width)`, then `preprocess`), as one batch (N, 3, H, W) on the CPU, ready for
/// [`Model::predict`].
pub fn load_images(
    paths: &[impl AsRef<Path>],
    target_size: (u32, u32),
    preprocess: Preprocess,
) -> Result<Tensor> {
    let (height, width) = target_size;
    let mut pixels = Vec::with_capacity(paths.len() * (height * width * 3) as usize);
    for path in paths {
        let image = data::load_img(path.as_ref(), Some(target_size))?;
        pixels.extend_from_slice(image.as_raw());
    }
    pixels_to_batch(&pixels, target_size, preprocess)
}

/// RGB pixels of N images of `target_size`, row after row, as a preprocessed batch.
pub(crate) fn pixels_to_batch(
    pixels: &[u8],
    target_size: (u32, u32),
    preprocess: Preprocess,
) -> Result<Tensor> {
    let (height, width) = (i64::from(target_size.0), i64::from(target_size.1));
    let count = pixels.len() as i64 / (height * width * 3);
    let images = Tensor::f_from_data_size(pixels, &[count, height, width, 3], Kind::Uint8)?;
    data::f_preprocess_batch(&images, preprocess)
}

/// The probabilities of a batch, in chunks of `batch_size`, without training, computed as
/// `compute` says: shared by `predict`, `predict_generator` and the submission.
pub(crate) fn probabilities(
    model: &Model,
    x: &Tensor,
    batch_size: usize,
    compute: Compute,
) -> Result<Tensor> {
    let _guard = tch::no_grad_guard();
    let device = model.device();
    let end = model.layers().len();
    let mut outputs = Vec::new();
    for chunk in x.f_split(batch_size.max(1) as i64, 0)? {
        let run = || -> Result<Tensor> {
            let p = model.run(&chunk.f_to_device(device)?, 0..end, false, compute)?;
            Ok(p.f_reshape([-1])?
                .f_to_kind(Kind::Float)?
                .f_to_device(Device::Cpu)?)
        };
        outputs.push(run().map_err(|e| {
            out_of_memory(e, device, batch_size, || "while predicting".to_string())
        })?);
    }
    Ok(Tensor::f_cat(&outputs, 0)?)
}
