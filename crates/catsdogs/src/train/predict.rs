//! Keras's `model.predict(x)` and `predict_generator(flow)`: the probability of class 1 (dogs)
//! for each image, without training, computed as the model's precision says. Works on any
//! model that ends in one sigmoid unit, compiled or not. [`predict_files`] predicts image files
//! a batch at a time, so that its memory stays the same whatever their number. An answer that
//! is not a number (NaN, from a model whose arithmetic overflowed) is an error that names the
//! image, never a result.
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

use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use crate::data::{self, DirectoryIterator, Preprocess};
use crate::device::out_of_memory;
use crate::error::{Error, Result};
use crate::interrupt;
use crate::model::Model;
use crate::precision::Compute;
use crate::progress::Progress;
use crate::tensor_file::first_non_finite;

/// Keras's batch size for `predict`.
const PREDICT_BATCH_SIZE: usize = 32;

impl Model {
    /// The probabilities (N,) on the CPU of a batch of preprocessed images (N, 3, H, W), run in
    /// chunks of 32 as Keras does.
    pub fn predict(&self, x: &Tensor) -> Result<Tensor> {
        let name = |i: usize| format!("image {i} of the batch");
        probabilities(self, x, PREDICT_BATCH_SIZE, self.compute()?, &name)
    }

    /// The probabilities of every image of `flow`, in the order of its `filenames` (whatever
    /// its shuffling), so they line up with `flow.classes`.
    pub fn predict_generator(&self, flow: &DirectoryIterator) -> Result<Tensor> {
        predict_flow(self, flow, self.compute()?)
    }
}

/// The probabilities of every image of `flow`, in the order of its `filenames`, with Keras's
/// progress bar; stops at the next batch when asked (see [`interrupt`]).
fn predict_flow(model: &Model, flow: &DirectoryIterator, compute: Compute) -> Result<Tensor> {
    let _stoppable = interrupt::stoppable();
    let all: Vec<usize> = (0..flow.samples()).collect();
    let progress = Progress::new(flow.len() as u64);
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
        let name = |i: usize| {
            flow.directory
                .join(&flow.filenames[indices[i]])
                .display()
                .to_string()
        };
        outputs.push(probabilities(
            model,
            &batch.x,
            flow.batch_size(),
            compute,
            &name,
        )?);
        progress.inc(1, "");
    }
    progress.finish("");
    Ok(Tensor::f_cat(&outputs, 0)?)
}

/// The (height, width) of the images a model takes, from its input shape.
pub fn input_size(model: &Model) -> Result<(u32, u32)> {
    match model.input_shape() {
        [3, height, width] => Ok((*height as u32, *width as u32)),
        other => Err(Error::InputShape(other.to_vec())),
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

/// The answers of one batch of [`predict_files`]: each file with its probability of a dog, or
/// the error that kept it from being read.
pub type FilePredictions<'a, P> = Vec<(&'a P, Result<f64>)>;

/// The probability of a dog for each image file, `batch_size` files at a time (one batch per
/// item, in the files' order): each batch is decoded in parallel as `load_img` does at the
/// model's input size, preprocessed and predicted as the model says, so that the memory taken
/// stays that of one batch whatever the number of files. A file that cannot be read (missing,
/// not an image) is answered with its error, and the others are predicted; an error of the
/// model ends the batch.
///
/// ```
/// use catsdogs::applications::Backbone;
/// use catsdogs::model::{Activation, Sequential};
/// use catsdogs::train::predict_files;
/// let dir = tempfile::tempdir().unwrap();
/// let files: Vec<_> = (0..5).map(|i| dir.path().join(format!("{i}.png"))).collect();
/// for file in &files[..4] {
///     image::RgbImage::new(8, 8).save(file).unwrap();
/// }
/// let base = Backbone::Vgg16.application(false).input_size(32, 32).build(tch::Device::Cpu)?;
/// let model = Sequential::new(&base).flatten().dense(1, Activation::Sigmoid);
/// let batches: Vec<_> = predict_files(&model, &files, 2).collect::<Result<_, _>>()?;
/// assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
/// assert!(batches[2][0].1.is_err(), "4.png does not exist");
/// # Ok::<(), catsdogs::Error>(())
/// ```
pub fn predict_files<'a, P: AsRef<Path> + Sync>(
    model: &'a Model,
    paths: &'a [P],
    batch_size: usize,
) -> impl Iterator<Item = Result<FilePredictions<'a, P>>> + 'a {
    paths.chunks(batch_size.max(1)).map(move |chunk| {
        let target_size = input_size(model)?;
        let loaded: Vec<Result<image::RgbImage>> = chunk
            .par_iter()
            .map(|path| data::load_img(path.as_ref(), Some(target_size)))
            .collect();
        let readable: Vec<usize> = (0..chunk.len()).filter(|&i| loaded[i].is_ok()).collect();
        let mut pixels = Vec::new();
        for image in loaded.iter().flatten() {
            pixels.extend_from_slice(image.as_raw());
        }
        let mut answers: Vec<Result<f64>> = loaded.into_iter().map(|l| l.map(|_| 0.0)).collect();
        if !readable.is_empty() {
            let x = pixels_to_batch(&pixels, target_size, model.preprocess())?;
            let name = |i: usize| chunk[readable[i]].as_ref().display().to_string();
            let p = probabilities(model, &x, batch_size, model.compute()?, &name)?;
            for (row, &i) in readable.iter().enumerate() {
                answers[i] = Ok(p.f_double_value(&[row as i64])?);
            }
        }
        Ok(chunk.iter().zip(answers).collect())
    })
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
/// `compute` says: shared by `predict`, `predict_generator`, [`predict_files`] and the
/// submission. An answer that is not a number is an error that names its image (`name` gives
/// the name of the image at an index of `x`).
pub(crate) fn probabilities(
    model: &Model,
    x: &Tensor,
    batch_size: usize,
    compute: Compute,
    name: &dyn Fn(usize) -> String,
) -> Result<Tensor> {
    let _guard = tch::no_grad_guard();
    let device = model.device();
    let end = model.layers().len();
    let mut outputs: Vec<Tensor> = Vec::new();
    for chunk in x.f_split(batch_size.max(1) as i64, 0)? {
        let run = || -> Result<Tensor> {
            let p = model.run(&chunk.f_to_device(device)?, 0..end, false, compute)?;
            Ok(p.f_reshape([-1])?
                .f_to_kind(Kind::Float)?
                .f_to_device(Device::Cpu)?)
        };
        let p = run()
            .map_err(|e| out_of_memory(e, device, batch_size, || "while predicting".to_string()))?;
        if let Some((i, value)) = first_non_finite(&p)? {
            let before: usize = outputs.iter().map(Tensor::numel).sum();
            return Err(Error::NotFinite {
                what: format!("the dog probability of {}", name(before + i)),
                value,
            });
        }
        outputs.push(p);
    }
    Ok(Tensor::f_cat(&outputs, 0)?)
}
