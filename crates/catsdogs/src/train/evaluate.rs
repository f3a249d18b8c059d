//! Keras's `evaluate_generator`: the mean loss and accuracy of a compiled model over a flow's
//! images, from cached features when `fit` left them, and the check that a flow's classes are
//! those the model was trained on.

use tch::Tensor;

use super::classes::{check_classes, same_classes};
use super::inputs::{source, Inputs};
use super::report::{metrics_text, Totals};
use crate::data::DirectoryIterator;
use crate::device::out_of_memory;
use crate::error::Result;
use crate::features::CacheOptions;
use crate::interrupt;
use crate::losses::{binary_accuracy, Loss};
use crate::model::Model;
use crate::precision::Compute;
use crate::progress::Progress;

/// Mean loss and accuracy of `model` over a source's images, by `loss`, without training;
/// with a progress bar if one is given.
pub(super) fn evaluate_source(
    model: &Model,
    loss: Loss,
    source: &Inputs,
    progress: Option<&Progress>,
    compute: Compute,
) -> Result<(f64, f64)> {
    let _guard = tch::no_grad_guard();
    let device = model.device();
    let flow = source.flow();
    let end = model.layers().len();
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
            let p = model.run(&x, source.start()..end, false, compute)?;
            let value = loss.f_compute(&p, &y)?.f_double_value(&[])?;
            let correct = binary_accuracy(&p, &y)?.f_int64_value(&[])?;
            Ok((value, correct, y.size()[0] as usize))
        };
        let (value, correct, images) = batch
            .and_then(run)
            .map_err(|e| out_of_memory(e, device, flow.batch_size(), at))?;
        totals.add(value, correct, images);
        if let Some(progress) = progress {
            let (loss, acc) = totals.means();
            progress.set(step as u64 + 1, &metrics_text("", loss, acc));
        }
    }
    Ok(totals.means())
}

impl Model {
    /// Refuses a flow that [`evaluate`](Model::evaluate) cannot measure this model on: not two
    /// classes, or other classes than the model was trained on.
    pub(crate) fn check_evaluation(&self, flow: &DirectoryIterator) -> Result<()> {
        check_classes(flow, "evaluation")?;
        match self.class_indices() {
            Some(classes) => same_classes(classes, "the model's training folder", flow),
            None => Ok(()),
        }
    }

    /// Keras's `evaluate_generator(flow)`: the mean loss (the compiled one) and accuracy over
    /// the flow's images, as `(loss, acc)`. Reuses features that `fit` cached for the same
    /// images and weights.
    pub fn evaluate(&self, flow: &DirectoryIterator) -> Result<(f64, f64)> {
        self.evaluate_with(flow, &CacheOptions::default())
    }

    /// [`evaluate`](Model::evaluate), looking for cached features as `cache` says (in its
    /// folder; nowhere when it is off).
    pub fn evaluate_with(
        &self,
        flow: &DirectoryIterator,
        cache: &CacheOptions,
    ) -> Result<(f64, f64)> {
        self.check()?;
        let loss = self.compiled()?.loss;
        self.check_evaluation(flow)?;
        let compute = self.compute()?;
        let _stoppable = interrupt::stoppable();
        let source = source(self, cache, flow, compute, false)?;
        let progress = Progress::new(flow.len() as u64);
        let (loss, acc) = evaluate_source(self, loss, &source, Some(&progress), compute)?;
        progress.finish(&metrics_text("", loss, acc));
        Ok((loss, acc))
    }
}
