//! `fit`: the epochs and their steps, and nothing else. One loop serves the images and the
//! cached features: [`Inputs`] yields (input, labels) batches in the flow's order for the
//! epoch, and the step runs the model from the inputs' first layer on, so both paths share
//! every line after the input. What happens around the epochs and steps (the progress bar, the
//! stop button, the stop on a loss that is not a number, the History, checkpoints and
//! resumption, and the callbacks given) is the callbacks' ([`super::callbacks`]).

use tch::{Kind, Tensor};

use super::callbacks::{
    BackupAndRestore, Callback, CallbackList, Fit, ProgbarLogger, RecordHistory, Stop, StopButton,
    TerminateOnNaN,
};
use super::checkpoint::Settings;
use super::classes::{check_classes, same_classes};
use super::evaluate::evaluate_source;
use super::inputs::{source, Inputs};
use super::report::{saved_note, Totals};
use super::FitOptions;
use crate::data::DirectoryIterator;
use crate::device::out_of_memory;
use crate::error::{Error, Result};
use crate::history::{History, Logs};
use crate::interrupt;
use crate::losses::binary_accuracy;
use crate::model::Model;
use crate::optimizers::check_learning_rate;
use crate::precision::Compute;

/// The loss scale of float16 training: 2^10, which keeps the gradients of a loss near 1 far
/// above float16's smallest numbers and far below its largest.
pub const FP16_LOSS_SCALE: f64 = 1024.0;

impl Model {
    /// Keras's `fit_generator(train, epochs=epochs, validation_data=validation)` with the
    /// default [`FitOptions`]: see [`fit_with`](Model::fit_with).
    pub fn fit(
        &mut self,
        train: &DirectoryIterator,
        epochs: usize,
        validation: &DirectoryIterator,
    ) -> Result<History> {
        self.fit_with(train, epochs, validation, FitOptions::default())
    }

    /// Keras's `fit_generator(train, epochs=epochs, validation_data=validation,
    /// callbacks=...)`: prints `Epoch n/N` and Keras's line per epoch and returns the
    /// [`History`], which the model keeps too ([`Model::history`]).
    ///
    /// Everything is checked before the first step: a compiled model, at least one epoch, a
    /// learning rate that is a positive number, flows of the same two classes (binary
    /// cross-entropy needs exactly two), and the checkpoint folder (a run there is resumed only
    /// when asked, and only with the same model and settings). A callback may end training
    /// early (EarlyStopping); the History then says why. The stop button (or Ctrl-C) ends it
    /// at the next step with [`Error::Interrupted`], which says what the checkpoints hold; the
    /// model keeps the finished epochs' weights and History.
    pub fn fit_with(
        &mut self,
        train: &DirectoryIterator,
        epochs: usize,
        validation: &DirectoryIterator,
        options: FitOptions,
    ) -> Result<History> {
        if epochs == 0 {
            return Err(Error::NoEpochs);
        }
        self.check()?;
        check_learning_rate(self.compiled()?.optimizer.as_ref())?;
        let compute = self.compute()?;
        check_classes(train, "training")?;
        let what = format!("the training folder {}", train.directory.display());
        same_classes(&train.class_indices, &what, validation)?;
        self.set_class_indices(train.class_indices.clone());

        let FitOptions {
            seed,
            cache,
            checkpoint_dir,
            resume,
            fresh,
            callbacks,
        } = options;
        let mut all: Vec<Box<dyn Callback>> = vec![
            Box::new(StopButton::default()),
            Box::new(ProgbarLogger::default()),
        ];
        // A TerminateOnNaN of the user's takes the place of fit's own, so none runs twice.
        let own_nan_check = !callbacks.iter().any(|c| c.name() == "TerminateOnNaN");
        all.extend(callbacks);
        if own_nan_check {
            all.push(Box::new(TerminateOnNaN::default()));
        }
        all.push(Box::new(RecordHistory::default()));
        if let Some(dir) = &checkpoint_dir {
            all.push(Box::new(BackupAndRestore::new(dir, resume).fresh(fresh)));
        }
        let mut list = CallbackList::new(all);
        let compiled = self.compiled()?;
        let settings = Settings {
            seed,
            batch_size: train.batch_size(),
            target_size: train.target_size(),
            train_images: train.cache_key().to_string(),
            validation_images: validation.cache_key().to_string(),
            optimizer: compiled.compiled_with.clone(),
            loss: compiled.loss.name().to_string(),
            compute: compute.to_string(),
            callbacks: list.configs(),
            augmentation: train
                .is_augmented()
                .then(|| train.generator().keras_arguments()),
        };
        let _stoppable = interrupt::stoppable();
        let mut fit = Fit {
            epochs,
            steps: train.len(),
            checkpoints: checkpoint_dir,
            initial_epoch: 0,
            stop: None,
            settings,
            states: Default::default(),
            state_tensors: Default::default(),
            restored: Default::default(),
            restored_tensors: Default::default(),
            model: self,
        };
        let passes = Passes {
            train,
            validation,
            cache: &cache,
            compute,
            seed,
        };
        let trained = passes
            .run(&mut fit, &mut list)
            .map_err(|error| match error {
                // A stop during the features' caching or a validation: say what is saved.
                Error::Interrupted { during, .. } => Error::Interrupted {
                    during,
                    saved: saved_note(fit.checkpoints.as_deref(), fit.history().len()),
                },
                other => other,
            });
        trained?;
        match fit.stop.take() {
            Some(Stop::Failed(error)) => return Err(error),
            Some(Stop::Finished(reason)) => fit.model.history_mut().stopped = Some(reason),
            None => {}
        }
        list.train_end(&mut fit)?;
        Ok(self.history().clone())
    }
}

/// What one `fit` passes over: the flows, where their features are cached, and how the layers
/// compute.
struct Passes<'a> {
    train: &'a DirectoryIterator,
    validation: &'a DirectoryIterator,
    cache: &'a crate::features::CacheOptions,
    compute: Compute,
    seed: u64,
}

impl Passes<'_> {
    /// The epochs from the first one to train, each ended with its validation and the
    /// callbacks' `on_epoch_end`, until the last or a callback stops.
    fn run(&self, fit: &mut Fit, list: &mut CallbackList) -> Result<()> {
        list.train_begin(fit)?;
        let train = source(fit.model, self.cache, self.train, self.compute, true)?;
        let validation = source(fit.model, self.cache, self.validation, self.compute, true)?;
        let params = fit.model.trainable_parameters();
        for epoch in fit.initial_epoch..fit.epochs {
            // A resumed run that a callback had stopped (EarlyStopping) trains no further.
            if fit.stop.is_some() {
                return Ok(());
            }
            list.epoch_begin(epoch, fit)?;
            if matches!(fit.stop, Some(Stop::Failed(_))) {
                return Ok(());
            }
            tch::manual_seed(self.seed.wrapping_add(epoch as u64) as i64);
            let Some((loss, acc)) = self.epoch(epoch, &train, &params, fit, list)? else {
                return Ok(());
            };
            let loss_fn = fit.model.compiled()?.loss;
            let (val_loss, val_acc) =
                evaluate_source(fit.model, loss_fn, &validation, None, self.compute)?;
            let mut logs = Logs::from([
                ("loss".to_string(), loss),
                ("acc".to_string(), acc),
                ("val_loss".to_string(), val_loss),
                ("val_acc".to_string(), val_acc),
            ]);
            list.epoch_end(epoch, &mut logs, fit)?;
            if fit.stop.is_some() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The training steps of `epoch`: the epoch's mean loss and accuracy, or `None` when a
    /// callback failed training during it.
    fn epoch(
        &self,
        epoch: usize,
        train: &Inputs,
        params: &[(String, Tensor)],
        fit: &mut Fit,
        list: &mut CallbackList,
    ) -> Result<Option<(f64, f64)>> {
        let device = fit.model.device();
        let steps = fit.steps;
        let mut totals = Totals::default();
        for (step, batch) in train.batches(epoch, device).enumerate() {
            let at = || {
                format!(
                    "at epoch {}/{}, step {}/{steps}",
                    epoch + 1,
                    fit.epochs,
                    step + 1
                )
            };
            let (loss, correct, images) = batch
                .and_then(|(x, y)| {
                    train_step(fit.model, params, &x, &y, train.start(), self.compute)
                })
                .map_err(|e| out_of_memory(e, device, self.train.batch_size(), at))?;
            totals.add(loss, correct, images);
            let (loss, acc) = totals.means();
            let logs = Logs::from([("loss".to_string(), loss), ("acc".to_string(), acc)]);
            list.train_batch_end(step, &logs, fit)?;
            if matches!(fit.stop, Some(Stop::Failed(_))) {
                return Ok(None);
            }
        }
        Ok(Some(totals.means()))
    }
}

/// One step of gradient descent on a batch that enters the model at layer `start`. Returns the
/// batch's mean loss, the number of correct predictions and the number of images. A loss that
/// is not finite updates nothing. The layers compute as `compute` says; the loss, the gradients
/// of the float32 weights and the update are float32. In float16 the loss is scaled by
/// [`FP16_LOSS_SCALE`] before the backward pass (so that small gradients do not vanish) and the
/// gradients unscaled after it; a step whose gradients overflowed is skipped.
fn train_step(
    model: &mut Model,
    params: &[(String, Tensor)],
    x: &Tensor,
    y: &Tensor,
    start: usize,
    compute: Compute,
) -> Result<(f64, i64, usize)> {
    for (_, weight) in params {
        weight.shallow_clone().zero_grad();
    }
    let end = model.layers().len();
    let p = model.run(x, start..end, true, compute)?;
    let compiled = model.compiled_mut()?;
    let (loss, correct) = (compiled.loss.f_compute(&p, y)?, binary_accuracy(&p, y)?);
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
    compiled.optimizer.step(params)?;
    Ok((value, correct, images))
}

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
