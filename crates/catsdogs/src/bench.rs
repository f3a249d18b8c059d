//! Timings of the crate's own hot paths, for `catsdogs bench` and for notebooks: decoding and
//! resizing JPEGs exactly as [`load_img`] does (and the content hash that keys their cache),
//! augmented epochs of a flow ([`augment`]), and a model's forward pass (VGG16's, or any
//! other's); and [`agreement`],
//! which checks that the CPU and a GPU compute the same forward pass.
//!
//! Each timing runs the work once untimed (to warm the page cache, the allocators and, on CUDA,
//! cuDNN's autotuner), then once timed. The Python peers in `environment/peers/` time the same
//! work the same way, so `environment/bench` can put the numbers side by side.
//!
//! ```
//! use catsdogs::applications::Backbone;
//! use catsdogs::bench;
//! let model = Backbone::Vgg16.application(false).input_size(32, 32).build(tch::Device::Cpu)?;
//! let timing = bench::forward(&model, 2, 1)?;
//! assert_eq!(timing.images, 2);
//! assert!(timing.images_per_second() > 0.0);
//! # Ok::<(), catsdogs::Error>(())
//! ```

use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use crate::data::{load_img, read_image_file, DirectoryIterator};
use crate::error::{Error, Result};
use crate::gradcam::GradCam;
use crate::model::Model;

/// How long some images took.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Timing {
    /// Images processed in the timed pass.
    pub images: usize,
    /// Wall-clock seconds of the timed pass.
    pub seconds: f64,
}

impl Timing {
    /// Throughput of the timed pass.
    pub fn images_per_second(&self) -> f64 {
        self.images as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

/// Loads every file of `paths` with [`load_img`] at `target_size` (height, width) on a pool of
/// `threads` threads: one untimed pass, then a timed one.
pub fn decode(paths: &[PathBuf], target_size: (u32, u32), threads: usize) -> Result<Timing> {
    over_files(paths, threads, |path| {
        load_img(path, Some(target_size)).map(drop)
    })
}

/// Reads every file of `paths` and hashes it as the decoded-image cache does each time it opens
/// (the price of a cache keyed on content), on a pool of `threads` threads: one untimed pass,
/// then a timed one.
pub fn content_hash(paths: &[PathBuf], threads: usize) -> Result<Timing> {
    over_files(paths, threads, |path| {
        read_image_file(path).map(|bytes| drop(crate::hashing::content_hash(&bytes)))
    })
}

/// Runs `work` on every file of `paths` on a pool of `threads` threads: one untimed pass, then
/// a timed one.
fn over_files(
    paths: &[PathBuf],
    threads: usize,
    work: impl Fn(&PathBuf) -> Result<()> + Sync,
) -> Result<Timing> {
    if paths.is_empty() {
        return Err(Error::NoImagesToDecode);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|reason| Error::Threads { threads, reason })?;
    let pass = || -> Result<f64> {
        let start = Instant::now();
        pool.install(|| paths.par_iter().try_for_each(&work))?;
        Ok(start.elapsed().as_secs_f64())
    };
    pass()?;
    Ok(Timing {
        images: paths.len(),
        seconds: pass()?,
    })
}

/// Runs `epochs` epochs of `flow` (augmented when its generator augments) on the CPU, batch by
/// batch as training reads them, each cut short after the batch that reaches `images` images
/// when given: one untimed epoch (epoch 0), then epochs 1 to `epochs` timed.
///
/// ```no_run
/// use catsdogs::data::{FlowOptions, ImageDataGenerator, Preprocess};
/// let flow = ImageDataGenerator::classic(Preprocess::Vgg16)
///     .flow_from_directory("data/train", FlowOptions::default())?;
/// let timing = catsdogs::bench::augment(&flow, 2, None)?;
/// assert_eq!(timing.images, 2 * flow.samples());
/// # Ok::<(), catsdogs::Error>(())
/// ```
pub fn augment(flow: &DirectoryIterator, epochs: usize, images: Option<usize>) -> Result<Timing> {
    if epochs == 0 || images == Some(0) {
        return Err(Error::NothingToTime("augmentation"));
    }
    let wanted = images.unwrap_or(usize::MAX);
    let run = |epoch: usize| -> Result<usize> {
        let mut seen = 0;
        for batch in flow.epoch(epoch, Device::Cpu) {
            seen += batch?.indices.len();
            if seen >= wanted {
                break;
            }
        }
        Ok(seen)
    };
    run(0)?;
    let start = Instant::now();
    let mut seen = 0;
    for epoch in 1..=epochs {
        seen += run(epoch)?;
    }
    Ok(Timing {
        images: seen,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Runs `model` (without gradients) on `iterations` batches of `batch` random images of its
/// input size, on the device its weights are on: one untimed batch, then the timed ones.
pub fn forward(model: &Model, batch: usize, iterations: usize) -> Result<Timing> {
    if batch == 0 || iterations == 0 {
        return Err(Error::NothingToTime("forward"));
    }
    let _no_grad = tch::no_grad_guard();
    let (device, x) = random_batch(model, batch)?;
    timed(device, batch, iterations, || model.forward(&x))
}

/// The device that holds `model`'s weights, and `batch` random images (normal) of its input
/// shape there.
fn random_batch(model: &Model, batch: usize) -> Result<(Device, Tensor)> {
    let device = model.device();
    let mut shape = vec![batch as i64];
    shape.extend_from_slice(model.input_shape());
    Ok((
        device,
        Tensor::f_randn(shape.as_slice(), (Kind::Float, device))?,
    ))
}

/// Runs `work` (on `batch` images; what it returns is dropped) once untimed, then `iterations`
/// times timed, waiting for the GPU when `device` is one.
fn timed<T>(
    device: Device,
    batch: usize,
    iterations: usize,
    mut work: impl FnMut() -> Result<T>,
) -> Result<Timing> {
    let mut run = |count: usize| -> Result<f64> {
        let start = Instant::now();
        for _ in 0..count {
            drop(work()?);
        }
        if let Device::Cuda(index) = device {
            tch::Cuda::synchronize(index as i64);
        }
        Ok(start.elapsed().as_secs_f64())
    };
    run(1)?;
    Ok(Timing {
        images: batch * iterations,
        seconds: run(iterations)?,
    })
}

/// Grad-CAM and the plain forward pass of the same model on the same images.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct GradCamTiming {
    /// Grad-CAM: a forward pass and a backward pass down to the layer, and the map.
    pub grad_cam: Timing,
    /// The model's forward pass alone, without gradients.
    pub forward: Timing,
}

/// Times `cam` on `model` against `model`'s forward pass (without gradients), each on
/// `iterations` batches of `batch` random images of the model's input size, on the device its
/// weights are on: one untimed batch, then the timed ones.
///
/// ```
/// use catsdogs::applications::Backbone;
/// use catsdogs::gradcam::GradCam;
/// use catsdogs::experiments::Experiment;
/// let base = Backbone::Vgg16.application(false).input_size(32, 32).build(tch::Device::Cpu)?;
/// let model = Experiment::Frozen.model(base)?;
/// let timing = catsdogs::bench::grad_cam(&model, &GradCam::default(), 1, 1)?;
/// assert_eq!((timing.grad_cam.images, timing.forward.images), (1, 1));
/// # Ok::<(), catsdogs::Error>(())
/// ```
pub fn grad_cam(
    model: &Model,
    cam: &GradCam,
    batch: usize,
    iterations: usize,
) -> Result<GradCamTiming> {
    if batch == 0 || iterations == 0 {
        return Err(Error::NothingToTime("Grad-CAM"));
    }
    let (device, x) = random_batch(model, batch)?;
    let grad_cam = timed(device, batch, iterations, || cam.explain(model, &x))?;
    let forward = timed(device, batch, iterations, || {
        tch::no_grad(|| model.forward_t(&x, false))
    })?;
    Ok(GradCamTiming { grad_cam, forward })
}

/// How far a GPU's forward pass is from the CPU's on the same weights and images.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Agreement {
    /// The largest absolute difference between the two outputs.
    pub max_abs_diff: f64,
    /// The largest absolute value of the CPU's output, the scale of the difference.
    pub max_abs: f64,
}

impl Agreement {
    /// The largest difference relative to the output's scale.
    pub fn relative(&self) -> f64 {
        self.max_abs_diff / self.max_abs.max(f64::MIN_POSITIVE)
    }
}

/// Runs `model`, whose weights are on the CPU, on `batch` random images of its input size (in
/// the range of VGG16's preprocessed pixels) on the CPU, then moves it to `device` and runs it
/// on the same images there. The model is left on `device`.
///
/// ```
/// use catsdogs::applications::Backbone;
/// let mut model = Backbone::Vgg16.application(false).input_size(32, 32).build(tch::Device::Cpu)?;
/// let same = catsdogs::bench::agreement(&mut model, 1, tch::Device::Cpu)?;
/// assert_eq!(same.max_abs_diff, 0.0);
/// assert!(same.max_abs > 0.0);
/// # Ok::<(), catsdogs::Error>(())
/// ```
pub fn agreement(model: &mut Model, batch: usize, device: Device) -> Result<Agreement> {
    let _no_grad = tch::no_grad_guard();
    let mut shape = vec![batch as i64];
    shape.extend_from_slice(model.input_shape());
    let x = (Tensor::f_rand(shape.as_slice(), (Kind::Float, Device::Cpu))? - 0.5) * 255.0;
    let cpu = model.forward(&x)?;
    model.to(device);
    let other = model
        .forward(&x.f_to_device(device)?)?
        .f_to_device(Device::Cpu)?;
    let max = |t: Tensor| -> Result<f64> { Ok(t.f_abs()?.f_max()?.f_double_value(&[])?) };
    Ok(Agreement {
        max_abs_diff: max(cpu.f_sub(&other)?)?,
        max_abs: max(cpu)?,
    })
}
