//! `fit`, the epoch loop and one training step. One loop serves the images and the cached
//! features: [`Inputs`] yields (input, labels) batches in the flow's order for the epoch, and
//! the step runs the model from the inputs' first layer on, so both paths share every line
//! after the input.
//!
//! One idea in one file (over 400 lines): the compiled model and its fit.
//!
//! Each epoch prints `Epoch 3/30`, a progress bar with the running (per-image) loss and
//! accuracy, and ends with Keras's line, validation included:
//! `8/8 [==============================] - 1s 150ms/step - loss: 0.3012 - acc: 0.8750 -
//! val_loss: 0.2871 - val_acc: 0.9000`.

use std::time::Instant;

use tch::{Device, Kind, Tensor};

use super::checkpoint::{Checkpoint, Settings};
use super::classes::{check_classes, same_classes, Classes};
use super::inputs::{request, Inputs};
use super::optimizer::check_learning_rate;
use super::predict::model_device;
use super::report::{metrics_text, saved_epochs, saved_note, Totals};
use super::{binary_accuracy, FitOptions, Loss, Optimizer};
use crate::console::hint;
use crate::data::DirectoryIterator;
use crate::device::out_of_memory;
use crate::error::{Error, Result};
use crate::features::FeatureCache;
use crate::history::{EpochMetrics, History};
use crate::interrupt;
use crate::model::Sequential;
use crate::precision::Compute;
use crate::progress::Progress;

/// Where a [`CompiledModel::fit`] starts: after the epochs of the checkpoint it resumes.
pub(crate) struct Start {
    done: usize,
    history: History,
}

/// A [`Sequential`] after Keras's `compile`: with its optimizer and loss, ready to `fit`,
/// `evaluate` and `predict`; `summary`, `save` and `trainable_from` work on it too, and
/// [`model`](CompiledModel::model) gives the rest. After changing which layers are trainable,
/// compile again, as in Keras.
#[derive(Debug)]
pub struct CompiledModel {
    pub(super) model: Sequential,
    optimizer: Box<dyn Optimizer>,
    pub(super) loss: Loss,
    options: FitOptions,
    cache: FeatureCache,
    /// The class folders the model was trained on, which `evaluate` then expects.
    pub(super) classes: Option<Classes>,
}

impl CompiledModel {
    pub(crate) fn new(model: Sequential, optimizer: Box<dyn Optimizer>, loss: Loss) -> Self {
        CompiledModel {
            model,
            optimizer,
            loss,
            options: FitOptions::default(),
            cache: FeatureCache::default(),
            classes: None,
        }
    }

    /// Keras's `compile` again, e.g. after changing which layers are trainable: a new
    /// optimizer (with fresh state) and loss.
    pub fn compile(&mut self, optimizer: impl Optimizer + 'static, loss: Loss) {
        self.optimizer = Box::new(optimizer);
        self.loss = loss;
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer {
        self.optimizer.as_ref()
    }

    /// The options of the last [`fit_with`](Self::fit_with) (the defaults before), which
    /// [`fit`](Self::fit) and [`evaluate`](Self::evaluate) use.
    pub fn options(&self) -> &FitOptions {
        &self.options
    }

    /// Says which class folders the model was trained on (as `fit` records them), so that
    /// [`evaluate`](Self::evaluate) refuses folders with other classes.
    pub(crate) fn expect_classes(&mut self, classes: Classes) {
        self.classes = Some(classes);
    }

    /// The cached features, to see what is cached where.
    pub fn feature_cache(&self) -> &FeatureCache {
        &self.cache
    }

    /// The model, without optimizer.
    pub fn into_inner(self) -> Sequential {
        self.model
    }

    /// The model (its layers, summary, weights).
    pub fn model(&self) -> &Sequential {
        &self.model
    }

    /// Keras's `model.summary()` of the compiled model.
    pub fn summary(&self) -> crate::model::Summary {
        self.model.summary()
    }

    /// Saves the model (see [`Sequential::save`]).
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        self.model.save(path)
    }

    /// Layers before `name` frozen, `name` and every later one trainable (see
    /// [`Sequential::trainable_from`]); compile again afterwards, as in Keras.
    pub fn trainable_from(&mut self, name: &str) -> Result<()> {
        self.model.trainable_from(name)
    }

    pub(super) fn device(&self) -> Device {
        model_device(&self.model)
    }

    /// How the layers compute, from the options, on the model's device.
    pub(crate) fn compute(&self) -> Result<Compute> {
        self.options.compute_on(self.device())
    }

    /// Keras's `fit_generator(train, epochs=epochs, validation_data=validation)`, with the
    /// [`options`](Self::options) in force. Prints `Epoch n/N` and Keras's line per epoch and
    /// returns the [`History`].
    ///
    /// Everything is checked before the first step: at least one epoch, a learning rate that
    /// is a positive number, flows of the same two classes (binary cross-entropy needs exactly
    /// two), and the checkpoint folder (a run there is resumed only when asked, and only with
    /// the same model and settings). Asked to stop (see [`interrupt`]), it stops at the next
    /// step with [`Error::Interrupted`], which says what is saved; in a notebook it prints
    /// that sentence instead and returns the History of the finished epochs.
    pub fn fit(
        &mut self,
        train: &DirectoryIterator,
        epochs: usize,
        validation: &DirectoryIterator,
    ) -> Result<History> {
        let start = self.start(train, epochs, validation)?;
        self.run(start, train, epochs, validation)
    }

    /// The first half of [`fit`](Self::fit): checks everything and restores the checkpoint to
    /// resume from, without training.
    pub(crate) fn start(
        &mut self,
        train: &DirectoryIterator,
        epochs: usize,
        validation: &DirectoryIterator,
    ) -> Result<Start> {
        if epochs == 0 {
            return Err(Error::Options(format!(
                "0 epochs train nothing: give {} of at least 1",
                hint("--epochs", "epochs")
            )));
        }
        check_learning_rate(self.optimizer.as_ref())?;
        self.compute()?;
        check_classes(train, "training")?;
        let what = format!("the training folder {}", train.directory.display());
        same_classes(&train.class_indices, &what, validation)?;
        self.classes = Some(train.class_indices.clone());
        let mut start = Start {
            done: 0,
            history: History::default(),
        };
        let Some(dir) = self.options.checkpoint_dir.clone() else {
            return Ok(start);
        };
        if let Some(checkpoint) = Checkpoint::latest(&dir)? {
            if !self.options.resume {
                return Err(Error::CheckpointExists {
                    dir: dir.display().to_string(),
                    epoch: checkpoint.epoch,
                });
            }
            let settings = self.settings(train, validation)?;
            let device = self.device();
            checkpoint.restore(&self.model, self.optimizer.as_mut(), &settings, device)?;
            crate::say!(
                "Resuming after epoch {}/{epochs} from {}.",
                checkpoint.epoch,
                checkpoint.path.display()
            );
            start = Start {
                done: checkpoint.epoch,
                history: checkpoint.history,
            };
        }
        Ok(start)
    }

    /// The second half of [`fit`](Self::fit): the epochs after `start`.
    pub(crate) fn run(
        &mut self,
        start: Start,
        train: &DirectoryIterator,
        epochs: usize,
        validation: &DirectoryIterator,
    ) -> Result<History> {
        let options = self.options.clone();
        let Start { done, mut history } = start;
        if done >= epochs {
            return Ok(history);
        }
        let _stoppable = interrupt::stoppable();
        match self.epochs(train, validation, done..epochs, &mut history) {
            Ok(()) => Ok(history),
            Err(Error::Interrupted { during, .. }) => {
                let stopped = Error::Interrupted {
                    during,
                    saved: saved_note(&options, saved_epochs(&options)),
                };
                if !crate::console::is_notebook() {
                    return Err(stopped);
                }
                // In a notebook the cell keeps what it had: the History so far. On stdout, which
                // evcxr delivers before it ends the cell (stderr may come after).
                let epochs = history.epochs.len();
                crate::console::line_at(
                    0,
                    format_args!(
                        "{stopped}; fit returns the History of the {epochs} finished epoch{}",
                        if epochs == 1 { "" } else { "s" }
                    ),
                );
                Ok(history)
            }
            Err(other) => Err(other),
        }
    }

    /// Sets the options that [`fit`](Self::fit), [`evaluate`](Self::evaluate) and the feature
    /// cache use from now on.
    pub fn set_options(&mut self, options: FitOptions) {
        self.options = options;
    }

    /// [`set_options`](Self::set_options), then [`fit`](Self::fit): the options stay in force
    /// for later calls.
    pub fn fit_with(
        &mut self,
        train: &DirectoryIterator,
        epochs: usize,
        validation: &DirectoryIterator,
        options: FitOptions,
    ) -> Result<History> {
        self.set_options(options);
        self.fit(train, epochs, validation)
    }

    fn settings(
        &self,
        train: &DirectoryIterator,
        validation: &DirectoryIterator,
    ) -> Result<Settings> {
        Ok(Settings {
            seed: self.options.seed,
            batch_size: train.batch_size(),
            target_size: train.target_size(),
            train_images: train.cache_key().to_string(),
            validation_images: validation.cache_key().to_string(),
            optimizer: self.optimizer.config(),
            compute: self.compute()?.to_string(),
            loss: self.loss.name().to_string(),
        })
    }

    /// Frees cached features that none of `flows` can use with the model as it is now.
    fn keep_cache_for(&mut self, flows: &[&DirectoryIterator]) -> Result<()> {
        let mut keys = Vec::new();
        for flow in flows {
            keys.extend(request(&self.model, &self.options, flow, false)?.key()?);
        }
        self.cache.retain(&keys);
        Ok(())
    }

    /// Where a pass over `flow` reads its inputs: cached features if the cache has them (or,
    /// with `make`, can make them), else the images.
    pub(super) fn source<'a>(
        &mut self,
        flow: &'a DirectoryIterator,
        make: bool,
    ) -> Result<Inputs<'a>> {
        let request = request(&self.model, &self.options, flow, make)?;
        Ok(match self.cache.features(&request)? {
            Some(features) => Inputs::Features(flow, features),
            None => Inputs::Images(flow),
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
        let settings = self.settings(train, validation)?;
        let compute = self.compute()?;
        let total = epochs.end;
        for epoch in epochs {
            crate::say!("Epoch {}/{total}", epoch + 1);
            tch::manual_seed(self.options.seed.wrapping_add(epoch as u64) as i64);
            let started = Instant::now();
            let steps = train.len();
            let progress = Progress::new(steps as u64);
            let mut totals = Totals::default();
            let device = self.device();
            for (step, batch) in train_source.batches(epoch, device).enumerate() {
                let at = || format!("at epoch {}/{total}, step {}/{steps}", epoch + 1, step + 1);
                interrupt::check(|| format!("{} (that epoch is not saved)", at()))?;
                let (loss, correct, images) = batch
                    .and_then(|(x, y)| {
                        self.train_step(&params, &x, &y, train_source.start(), compute)
                    })
                    .map_err(|e| out_of_memory(e, device, train.batch_size(), at))?;
                if !loss.is_finite() {
                    return Err(Error::NanLoss {
                        value: loss,
                        epoch: epoch + 1,
                        epochs: total,
                        step: step + 1,
                        steps,
                        saved: saved_note(&self.options, epoch),
                    });
                }
                totals.add(loss, correct, images);
                let (loss, acc) = totals.means();
                progress.set(step as u64 + 1, &metrics_text("", loss, acc));
            }
            let (loss, acc) = totals.means();
            let (val_loss, val_acc) = self.evaluate_source(&validation_source, None, compute)?;
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
                    self.optimizer.as_ref(),
                    history,
                    &settings,
                )?;
            }
        }
        Ok(())
    }

    /// One step of gradient descent on a batch that enters the model at layer `start`. Returns
    /// the batch's mean loss, the number of correct predictions and the number of images. A
    /// loss that is not finite updates nothing. The layers compute as `compute` says; the loss,
    /// the gradients of the float32 weights and the update are float32. In float16 the loss is
    /// scaled by [`FP16_LOSS_SCALE`] before the backward pass (so that small gradients do not
    /// vanish) and the gradients unscaled after it; a step whose gradients overflowed is
    /// skipped.
    fn train_step(
        &mut self,
        params: &[(String, Tensor)],
        x: &Tensor,
        y: &Tensor,
        start: usize,
        compute: Compute,
    ) -> Result<(f64, i64, usize)> {
        for (_, weight) in params {
            weight.shallow_clone().zero_grad();
        }
        let end = self.model.layers().len();
        let p = self
            .model
            .stack()
            .forward_range(x, start..end, true, compute)?;
        let (loss, correct) = (self.loss.f_compute(&p, y)?, binary_accuracy(&p, y)?);
        let value = loss.f_double_value(&[])?;
        let images = y.size()[0] as usize;
        let correct = correct.f_int64_value(&[])?;
        if !value.is_finite() {
            return Ok((value, correct, images));
        }
        if compute.kind == Kind::Half {
            loss.f_mul_scalar(FP16_LOSS_SCALE)?.f_backward()?;
            if !unscale_gradients(params, FP16_LOSS_SCALE)? {
                return Ok((value, correct, images));
            }
        } else {
            loss.f_backward()?;
        }
        self.optimizer.step(params)?;
        Ok((value, correct, images))
    }
}

/// The loss scale of float16 training: 2^10, which keeps the gradients of a loss near 1 far
/// above float16's smallest numbers and far below its largest.
pub const FP16_LOSS_SCALE: f64 = 1024.0;

/// Divides the gradients of `params` by `scale`; false if any of them is not finite (the step
/// must then be skipped).
fn unscale_gradients(params: &[(String, Tensor)], scale: f64) -> Result<bool> {
    let _guard = tch::no_grad_guard();
    let mut finite = true;
    for (_, weight) in params {
        let mut grad = weight.f_grad()?;
        if grad.defined() {
            let _ = grad.f_div_scalar_(scale)?;
            finite &= grad.f_isfinite()?.f_all()?.f_int64_value(&[])? == 1;
        }
    }
    Ok(finite)
}
