//! What fastai's `ClassificationInterpretation` offers and Keras lacked: after `evaluate`, where
//! the model goes wrong. A confusion matrix, and the test images it was most confidently wrong
//! about, with their probabilities.
//!
//! ```no_run
//! # use catsdogs::prelude::*;
//! # fn f(model: &catsdogs::model::Model, test: &catsdogs::data::DirectoryIterator) -> catsdogs::Result<()> {
//! let interpretation = Interpretation::new(test, &model.predict_generator(test)?)?;
//! interpretation.confusion_matrix()?;
//! interpretation.top_losses(8)?;
//! # Ok(()) }
//! ```

use tch::{Kind, Tensor};

use super::{confusion_matrix, image_grid, rgb_images};
use crate::data::DirectoryIterator;
use crate::display::Png;
use crate::error::{Error, Result};

/// The most wrong images an [`Interpretation`] keeps to show.
pub const MAX_TOP_LOSSES: usize = 64;

/// A flow's true classes, the model's probabilities of class 1 for each of its images, and the
/// images it got most confidently wrong (at most [`MAX_TOP_LOSSES`]). It owns what it shows, so
/// a notebook can keep it in a variable.
pub struct Interpretation {
    classes: Vec<u32>,
    probabilities: Vec<f32>,
    class_names: Vec<String>,
    /// The first [`MAX_TOP_LOSSES`] of [`Interpretation::top_loss_indices`], as (N, H, W, 3) u8.
    wrong_images: Tensor,
}

impl Interpretation {
    /// `probabilities`: the model's output for `flow`'s images in file order, one per image, as
    /// `predict_generator` gives them.
    pub fn new(flow: &DirectoryIterator, probabilities: &Tensor) -> Result<Self> {
        let probabilities: Vec<f32> =
            Vec::try_from(probabilities.f_to_kind(Kind::Float)?.f_flatten(0, -1)?)?;
        if probabilities.len() != flow.samples() {
            return Err(Error::Invalid {
                path: flow.directory.to_path_buf(),
                why: format!(
                    "{} probabilities for {} images; pass the predictions of this same flow",
                    probabilities.len(),
                    flow.samples()
                ),
            });
        }
        let mut class_names = vec![String::new(); flow.class_indices.len()];
        for (name, &index) in &flow.class_indices {
            class_names[index as usize] = name.clone();
        }
        let mut interpretation = Interpretation {
            classes: flow.classes.clone(),
            probabilities,
            class_names,
            wrong_images: Tensor::empty([0], (tch::Kind::Uint8, tch::Device::Cpu)),
        };
        interpretation.wrong_images =
            flow.f_images_u8(&interpretation.top_loss_indices(MAX_TOP_LOSSES))?;
        Ok(interpretation)
    }

    /// The predicted class of each image: 1 when its probability is above 0.5, as Keras's
    /// binary accuracy counts it.
    pub fn predicted(&self) -> Vec<u32> {
        self.probabilities
            .iter()
            .map(|&p| u32::from(p > 0.5))
            .collect()
    }

    /// Counts of (true class, predicted class), drawn as a matrix.
    pub fn confusion_matrix(&self) -> Result<Png> {
        confusion_matrix(&self.classes, &self.predicted(), &self.class_names)
    }

    /// The indices of the wrongly classified images, the most confidently wrong first (the
    /// largest binary cross-entropy), at most `count` of them.
    pub fn top_loss_indices(&self, count: usize) -> Vec<usize> {
        let predicted = self.predicted();
        let mut wrong: Vec<usize> = (0..self.probabilities.len())
            .filter(|&i| predicted[i] != self.classes[i])
            .collect();
        let confidence = |i: usize| (self.probabilities[i] - self.classes[i] as f32).abs();
        wrong.sort_by(|&a, &b| confidence(b).total_cmp(&confidence(a)).then(a.cmp(&b)));
        wrong.truncate(count);
        wrong
    }

    /// A grid of the `count` (at most [`MAX_TOP_LOSSES`]) most confidently wrong images,
    /// captioned like `dog 0.98 (truth: cat)`: the predicted class and the model's probability
    /// for it.
    pub fn top_losses(&self, count: usize) -> Result<Png> {
        let indices = self.top_loss_indices(count.min(MAX_TOP_LOSSES));
        let images = rgb_images(&self.wrong_images.f_narrow(0, 0, indices.len() as i64)?)?;
        let captions = indices
            .iter()
            .map(|&i| {
                let p = self.probabilities[i];
                let (class, confidence) = if p > 0.5 { (1, p) } else { (0, 1.0 - p) };
                let truth = &self.class_names[self.classes[i] as usize];
                format!(
                    "{} {} (truth: {truth})",
                    self.class_names[class],
                    super::probability(f64::from(confidence))
                )
            })
            .collect::<Vec<_>>();
        image_grid(&images, &captions, 4)
    }
}
