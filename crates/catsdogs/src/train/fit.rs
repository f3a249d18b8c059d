//! `fit`, `evaluate` and the epoch loop. One loop serves the images and the cached features:
//! a [`Source`] yields (input, labels) batches in the flow's order for the epoch, and the step
//! runs the model from the source's first layer on, so both paths share every line after the
//! input.
//!
//! Each epoch prints `Epoch 3/30`, a progress bar with the running (per-image) loss and
//! accuracy, and ends with Keras's line, validation included:
//! `8/8 [==============================] - 1s 150ms/step - loss: 0.3012 - acc: 0.8750 -
//! val_loss: 0.2871 - val_acc: 0.9000`.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::time::Instant;

use tch::{Device, Kind, Tensor};

use super::checkpoint::{Checkpoint, Settings};
use super::{binary_accuracy, interrupt, out_of_memory, Loss, RMSprop, TrainError};
use crate::cache::{CacheOptions, FeatureCache, Features, Request};
use crate::data::DirectoryIterator;
use crate::error::{Error, Result};
use crate::history::{EpochMetrics, History};
use crate::model::Sequential;
use crate::progress::Progress;

/// The options of [`CompiledModel::fit_with`], with Keras-like defaults: seed 0, feature cache
/// on, no checkpoints, full precision.
///
/// ```
/// use catsdogs::train::FitOptions;
/// let options = FitOptions::default().seed(7).checkpoints("runs/frozen").resume(true);
/// assert_eq!(options.seed, 7);
/// assert!(options.cache.enabled && !options.mixed_precision);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FitOptions {
    /// Seeds the dropout masks: libtorch is seeded with `seed + epoch` before each epoch. (The
    /// order of the images is the flow's: see `FlowOptions::seed`.)
    pub seed: u64,
    /// The feature cache (see [`crate::cache`]).
    pub cache: CacheOptions,
    /// Where a checkpoint is written after every epoch; `None` writes none.
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from the latest checkpoint in `checkpoint_dir`, if there is one.
    pub resume: bool,
    /// Run the layers under CUDA's float16 autocast. Off by default until measured not to
    /// change accuracy; it has no effect on the CPU.
    pub mixed_precision: bool,
}

impl FitOptions {
    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Turns the feature cache on or off.
    pub fn cache(mut self, enabled: bool) -> Self {
        self.cache.enabled = enabled;
        self
    }

    /// Sets the bytes of device memory that cached features may take (beyond it, they go to
    /// disk).
    pub fn cache_memory(mut self, bytes: u64) -> Self {
        self.cache.memory_budget = Some(bytes);
        self
    }

    /// Sets the folder of on-disk feature caches.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache.dir = Some(dir.into());
        self
    }

    /// Writes a checkpoint into `dir` after every epoch.
    pub fn checkpoints(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoint_dir = Some(dir.into());
        self
    }

    /// Continues from the latest checkpoint, if any.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Turns CUDA float16 autocast on or off.
    pub fn mixed_precision(mut self, on: bool) -> Self {
        self.mixed_precision = on;
        self
    }
}

/// A [`Sequential`] after Keras's `compile`: with its optimizer and loss, ready to `fit`,
/// `evaluate` and `predict`. It dereferences to the model, so `model.summary()`,
/// `model.save(...)` and `model.trainable_from(...)` work on it too; after changing which
/// layers are trainable, compile again, as in Keras.
#[derive(Debug)]
pub struct CompiledModel {
    model: Sequential,
    optimizer: RMSprop,
    loss: Loss,
    options: FitOptions,
    cache: FeatureCache,
}

impl Deref for CompiledModel {
    type Target = Sequential;
    fn deref(&self) -> &Sequential {
        &self.model
    }
}

impl DerefMut for CompiledModel {
    fn deref_mut(&mut self) -> &mut Sequential {
        &mut self.model
    }
}

/// Where a pass over a flow reads its inputs: the images, or their features at a cut.
enum Source<'a> {
    Images(&'a DirectoryIterator),
    Features(&'a DirectoryIterator, Features),
}

impl Source<'_> {
    fn flow(&self) -> &DirectoryIterator {
        match self {
            Source::Images(flow) | Source::Features(flow, _) => flow,
        }
    }

    /// The index of the first layer to run on this source's batches.
    fn start(&self) -> usize {
        match self {
            Source::Images(_) => 0,
            Source::Features(_, features) => features.start(),
        }
    }

    /// The (input, labels) batches of `epoch`, in the flow's order for that epoch.
    fn batches(
        &self,
        epoch: usize,
        device: Device,
    ) -> Box<dyn Iterator<Item = Result<(Tensor, Tensor)>> + '_> {
        match self {
            Source::Images(flow) => Box::new(
                flow.epoch(epoch, device)
                    .map(|batch| batch.map(|b| (b.x, b.y)).map_err(Error::from)),
            ),
            Source::Features(flow, features) => {
                let order = flow.epoch_order(epoch);
                let batch_size = flow.batch_size();
                Box::new((0..order.len()).step_by(batch_size).map(move |first| {
                    let indices = &order[first..(first + batch_size).min(order.len())];
                    let labels: Vec<f32> =
                        indices.iter().map(|&i| flow.classes[i] as f32).collect();
                    let y = Tensor::f_from_slice(&labels)?.f_to_device(device)?;
                    Ok((features.batch(indices, device)?, y))
                }))
            }
        }
    }
}

/// Per-image sums over an epoch or an evaluation.
#[derive(Default)]
struct Totals {
    loss: f64,
    correct: i64,
    images: usize,
}

impl Totals {
    fn add(&mut self, mean_loss: f64, correct: i64, images: usize) {
        self.loss += mean_loss * images as f64;
        self.correct += correct;
        self.images += images;
    }

    fn means(&self) -> (f64, f64) {
        let n = self.images.max(1) as f64;
        (self.loss / n, self.correct as f64 / n)
    }
}

/// Keras's number format in progress lines: `%.4f`, or `%.4e` below 1e-3.
fn keras_number(value: f64) -> String {
    if value.abs() > 1e-3 {
        format!("{value:.4}")
    } else {
        let formatted = format!("{value:.4e}");
        // Rust writes `1.2340e-5`; Python writes `1.2340e-05`.
        match formatted.split_once('e') {
            Some((mantissa, exponent)) => {
                let (sign, digits) = match exponent.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exponent),
                };
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => formatted,
        }
    }
}

/// `loss: 0.3012 - acc: 0.8750`, with `prefix` before each name (`val_`).
fn metrics_text(prefix: &str, loss: f64, acc: f64) -> String {
    format!(
        "{prefix}loss: {} - {prefix}acc: {}",
        keras_number(loss),
        keras_number(acc)
    )
}

impl CompiledModel {
    pub(crate) fn new(model: Sequential, optimizer: RMSprop, loss: Loss) -> Self {
        CompiledModel {
            model,
            optimizer,
            loss,
            options: FitOptions::default(),
            cache: FeatureCache::default(),
        }
    }

    /// Keras's `compile` again, e.g. after changing which layers are trainable: a new
    /// optimizer (with fresh state) and loss.
    pub fn compile(&mut self, optimizer: RMSprop, loss: Loss) {
        self.optimizer = optimizer;
        self.loss = loss;
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &RMSprop {
        &self.optimizer
    }

    /// The options of the last [`fit_with`](Self::fit_with) (the defaults before), which
    /// [`fit`](Self::fit) and [`evaluate`](Self::evaluate) use.
    pub fn options(&self) -> &FitOptions {
        &self.options
    }

    /// The cached features, to see what is cached where.
    pub fn feature_cache(&self) -> &FeatureCache {
        &self.cache
    }

    /// The model, without optimizer.
    pub fn into_inner(self) -> Sequential {
        self.model
    }

    fn device(&self) -> Device {
        model_device(&self.model)
    }

    /// Keras's `fit_generator(train, epochs=epochs, validation_data=validation)`, with the
    /// [`options`](Self::options) in force. Prints `Epoch n/N` and Keras's line per epoch and
    /// returns the [`History`]. Asked to stop (see [`interrupt`]), it stops at the next step
    /// with [`TrainError::Interrupted`], which says what is saved; in a notebook it prints that
    /// sentence instead and returns the History of the finished epochs.
    pub fn fit(
        &mut self,
        train: &DirectoryIterator,
        epochs: usize,
        validation: &DirectoryIterator,
    ) -> Result<History> {
        let options = self.options.clone();
        let mut history = History::default();
        let mut done = 0;
        if let Some(dir) = &options.checkpoint_dir {
            if let Some(checkpoint) = Checkpoint::latest(dir)? {
                if !options.resume {
                    return Err(TrainError::CheckpointExists {
                        dir: dir.display().to_string(),
                        epoch: checkpoint.epoch,
                    }
                    .into());
                }
                let settings = self.settings(train);
                let device = self.device();
                checkpoint.restore(&self.model, &mut self.optimizer, &settings, device)?;
                println!(
                    "Resuming after epoch {}/{epochs} from {}.",
                    checkpoint.epoch,
                    checkpoint.path.display()
                );
                done = checkpoint.epoch;
                history = checkpoint.history;
            }
        }
        if done >= epochs {
            return Ok(history);
        }
        if options.mixed_precision && !self.device().is_cuda() {
            println!("Mixed precision is for CUDA; on the CPU every layer runs in float32.");
        }
        let _stoppable = interrupt::stoppable();
        match self.epochs(train, validation, done..epochs, &mut history) {
            Ok(()) => Ok(history),
            Err(Error::Train(TrainError::Interrupted { during, .. })) => {
                let stopped = TrainError::Interrupted {
                    during,
                    saved: saved_note(&options, saved_epochs(&options)),
                };
                if !interrupt::in_kernel() {
                    return Err(stopped.into());
                }
                // In a notebook the cell keeps what it had: the History so far. On stdout, which
                // evcxr delivers before it ends the cell (stderr may come after).
                let epochs = history.epochs.len();
                println!(
                    "{stopped}; fit returns the History of the {epochs} finished epoch{}",
                    if epochs == 1 { "" } else { "s" }
                );
                Ok(history)
            }
            Err(other) => Err(other),
        }
    }

    /// [`fit`](Self::fit) with `options` (kept for later calls).
    pub fn fit_with(
        &mut self,
        train: &DirectoryIterator,
        epochs: usize,
        validation: &DirectoryIterator,
        options: FitOptions,
    ) -> Result<History> {
        self.options = options;
        self.fit(train, epochs, validation)
    }

    fn settings(&self, train: &DirectoryIterator) -> Settings {
        Settings {
            seed: self.options.seed,
            batch_size: train.batch_size(),
            train_images: train.cache_key().to_string(),
            optimizer: self.optimizer.config(),
            loss: self.loss.name().to_string(),
            mixed_precision: self.options.mixed_precision,
        }
    }

    /// Frees cached features that none of `flows` can use with the model as it is now.
    fn keep_cache_for(&mut self, flows: &[&DirectoryIterator]) -> Result<()> {
        let mut keys = Vec::new();
        for flow in flows {
            keys.extend(request(&self.model, &self.options, flow, false).key()?);
        }
        self.cache.retain(&keys);
        Ok(())
    }

    /// Where a pass over `flow` reads its inputs: cached features if the cache has them (or,
    /// with `compute`, can make them), else the images.
    fn source<'a>(&mut self, flow: &'a DirectoryIterator, compute: bool) -> Result<Source<'a>> {
        let request = request(&self.model, &self.options, flow, compute);
        Ok(match self.cache.features(&request)? {
            Some(features) => Source::Features(flow, features),
            None => Source::Images(flow),
        })
    }

    fn epochs(
        &mut self,
        train: &DirectoryIterator,
        validation: &DirectoryIterator,
        epochs: std::ops::Range<usize>,
        history: &mut History,
    ) -> Result<()> {
        self.keep_cache_for(&[train, validation])?;
        let train_source = self.source(train, true)?;
        let validation_source = self.source(validation, true)?;
        let params = self.model.trainable_parameters();
        let settings = self.settings(train);
        let total = epochs.end;
        for epoch in epochs {
            println!("Epoch {}/{total}", epoch + 1);
            tch::manual_seed(self.options.seed.wrapping_add(epoch as u64) as i64);
            let started = Instant::now();
            let steps = train.len();
            let progress = Progress::new(steps as u64, "");
            let mut totals = Totals::default();
            let device = self.device();
            for (step, batch) in train_source.batches(epoch, device).enumerate() {
                let at = || format!("at epoch {}/{total}, step {}/{steps}", epoch + 1, step + 1);
                interrupt::check(|| format!("{} (that epoch is not saved)", at()))?;
                let (loss, correct, images) = batch
                    .and_then(|(x, y)| self.train_step(&params, &x, &y, train_source.start()))
                    .map_err(|e| out_of_memory(e, device, train.batch_size(), at))?;
                if !loss.is_finite() {
                    return Err(TrainError::NanLoss {
                        value: loss,
                        epoch: epoch + 1,
                        epochs: total,
                        step: step + 1,
                        steps,
                        saved: saved_note(&self.options, epoch),
                    }
                    .into());
                }
                totals.add(loss, correct, images);
                let (loss, acc) = totals.means();
                progress.set(step as u64 + 1, &metrics_text("", loss, acc));
            }
            let (loss, acc) = totals.means();
            let (val_loss, val_acc) = self.evaluate_source(&validation_source, None)?;
            let metrics = EpochMetrics {
                loss,
                acc,
                val_loss,
                val_acc,
                seconds: started.elapsed().as_secs_f64(),
            };
            progress.finish(&format!(
                "{} - {}",
                metrics_text("", loss, acc),
                metrics_text("val_", val_loss, val_acc)
            ));
            history.push(metrics);
            if let Some(dir) = &self.options.checkpoint_dir {
                Checkpoint::save(
                    dir,
                    epoch + 1,
                    &self.model,
                    &self.optimizer,
                    history,
                    &settings,
                )?;
            }
        }
        Ok(())
    }

    /// One step of gradient descent on a batch that enters the model at layer `start`. Returns
    /// the batch's mean loss, the number of correct predictions and the number of images. A
    /// loss that is not finite updates nothing.
    fn train_step(
        &mut self,
        params: &[(String, Tensor)],
        x: &Tensor,
        y: &Tensor,
        start: usize,
    ) -> Result<(f64, i64, usize)> {
        for (_, weight) in params {
            weight.shallow_clone().zero_grad();
        }
        let end = self.model.layers().len();
        let (loss, correct) = tch::autocast(self.options.mixed_precision, || -> Result<_> {
            let p = self.model.forward_range(x, start..end, true)?;
            Ok((self.loss.f_compute(&p, y)?, binary_accuracy(&p, y)?))
        })?;
        let value = loss.f_double_value(&[])?;
        let images = y.size()[0] as usize;
        let correct = correct.f_int64_value(&[])?;
        if value.is_finite() {
            loss.f_backward()?;
            self.optimizer.step(params)?;
        }
        Ok((value, correct, images))
    }

    /// Mean loss and accuracy over a source's images, without training; with a progress bar
    /// if one is given.
    fn evaluate_source(&self, source: &Source, progress: Option<&Progress>) -> Result<(f64, f64)> {
        let _guard = tch::no_grad_guard();
        let device = self.device();
        let flow = source.flow();
        let end = self.model.layers().len();
        let mut totals = Totals::default();
        for (step, batch) in source.batches(0, device).enumerate() {
            let at = || {
                format!(
                    "while evaluating on {}, step {}/{}",
                    flow.directory.display(),
                    step + 1,
                    flow.len()
                )
            };
            interrupt::check(at)?;
            let run = |(x, y): (Tensor, Tensor)| -> Result<(f64, i64, usize)> {
                let p = tch::autocast(self.options.mixed_precision, || {
                    self.model.forward_range(&x, source.start()..end, false)
                })?;
                let loss = self.loss.f_compute(&p, &y)?.f_double_value(&[])?;
                let correct = binary_accuracy(&p, &y)?.f_int64_value(&[])?;
                Ok((loss, correct, y.size()[0] as usize))
            };
            let (loss, correct, images) = batch
                .and_then(run)
                .map_err(|e| out_of_memory(e, device, flow.batch_size(), at))?;
            totals.add(loss, correct, images);
            if let Some(progress) = progress {
                let (loss, acc) = totals.means();
                progress.set(step as u64 + 1, &metrics_text("", loss, acc));
            }
        }
        Ok(totals.means())
    }

    /// Keras's `evaluate_generator(flow)`: the mean loss and accuracy over the flow's images,
    /// as `(loss, acc)`. Reuses features that `fit` cached for the same images and weights.
    pub fn evaluate(&mut self, flow: &DirectoryIterator) -> Result<(f64, f64)> {
        let _stoppable = interrupt::stoppable();
        let source = self.source(flow, false)?;
        let progress = Progress::new(flow.len() as u64, "");
        let (loss, acc) = self.evaluate_source(&source, Some(&progress))?;
        progress.finish(&metrics_text("", loss, acc));
        Ok((loss, acc))
    }
}

/// The device of a model's weights.
pub(crate) fn model_device(model: &Sequential) -> Device {
    model
        .named_parameters()
        .first()
        .map_or(Device::Cpu, |(_, w)| w.device())
}

/// What the feature cache is asked for a pass over `flow`.
fn request<'a>(
    model: &'a Sequential,
    options: &'a FitOptions,
    flow: &'a DirectoryIterator,
    compute: bool,
) -> Request<'a> {
    Request {
        model,
        flow,
        options: &options.cache,
        autocast: options.mixed_precision,
        device: model_device(model),
        compute,
    }
}

/// How many epochs the checkpoint folder holds now.
fn saved_epochs(options: &FitOptions) -> usize {
    options
        .checkpoint_dir
        .as_ref()
        .and_then(|dir| Checkpoint::latest(dir).ok().flatten())
        .map_or(0, |c| c.epoch)
}

/// What the checkpoints hold after `epochs` epochs, and how to continue.
fn saved_note(options: &FitOptions, epochs: usize) -> String {
    match (&options.checkpoint_dir, epochs) {
        (None, _) => {
            "no checkpoint folder was set (FitOptions::checkpoints, or --out in the CLI), \
                      so nothing is saved"
                .into()
        }
        (Some(dir), 0) => format!(
            "no epoch had finished, so {} holds nothing yet",
            dir.display()
        ),
        (Some(dir), n) => format!(
            "{} saved in {}: run again with --resume (FitOptions::resume(true) in a notebook) \
             to continue from epoch {}",
            if n == 1 {
                "epoch 1 is".to_string()
            } else {
                format!("epochs 1-{n} are")
            },
            dir.display(),
            n + 1
        ),
    }
}

/// The probabilities of a batch, in chunks of `batch_size`, without training: shared by
/// `predict`, `predict_generator` and the submission.
pub(crate) fn probabilities(model: &Sequential, x: &Tensor, batch_size: usize) -> Result<Tensor> {
    let _guard = tch::no_grad_guard();
    let device = model_device(model);
    let end = model.layers().len();
    let mut outputs = Vec::new();
    for chunk in x.f_split(batch_size.max(1) as i64, 0)? {
        let run = || -> Result<Tensor> {
            let p = model.forward_range(&chunk.f_to_device(device)?, 0..end, false)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_like_keras() {
        assert_eq!(keras_number(0.123_456), "0.1235");
        assert_eq!(keras_number(1.0), "1.0000");
        assert_eq!(keras_number(1.234e-5), "1.2340e-05");
        assert_eq!(keras_number(0.0), "0.0000e+00");
        assert_eq!(
            metrics_text("val_", 0.25, 0.9),
            "val_loss: 0.2500 - val_acc: 0.9000"
        );
    }
}
