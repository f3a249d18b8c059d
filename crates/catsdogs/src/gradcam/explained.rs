//! What Grad-CAM gives back: the maps and the predictions ([`Explanation`]), and with the
//! images they belong to ([`Explained`]), ready to be drawn.

use image::RgbImage;
use ndarray::Array2;
use tch::{Device, Kind, Tensor};

use crate::display::Png;
use crate::error::Result;
use crate::plot::{overlay, probability, Colormap};

/// The cat/dog model's classes, by index.
const CAT_DOG: [&str; 2] = ["cat", "dog"];

/// Grad-CAM's maps of a batch of images, and the model's predictions for them.
#[derive(Debug)]
pub struct Explanation {
    /// The layer whose output the maps are at, e.g. `block5_conv3`.
    pub layer: String,
    /// (images, height, width) float32 on the CPU, at the layer's resolution (14x14 for
    /// `block5_conv3` at 224x224): after the ReLU and the division by the maximum, so in [0, 1].
    pub maps: Tensor,
    /// The class each map explains (for a cat/dog model 0 is cat, 1 is dog).
    pub classes: Vec<usize>,
    /// The score each map explains, before the final activation: the class's logit.
    pub scores: Vec<f32>,
    /// The model's output (images, units) float32 on the CPU: ImageNet's 1000 class
    /// probabilities, or a cat/dog model's one probability of a dog.
    pub probabilities: Tensor,
}

impl Explanation {
    /// The number of images.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Image `i`'s map as an array (height, width).
    pub fn map(&self, i: usize) -> Result<Array2<f32>> {
        let map = self.maps.f_get(i as i64)?.f_contiguous()?;
        let (height, width) = (map.size()[0] as usize, map.size()[1] as usize);
        let values = Vec::<f32>::try_from(map.f_flatten(0, -1)?)?;
        Ok(Array2::from_shape_vec((height, width), values)
            .expect("a map has height x width values"))
    }

    /// The name of the class image `i`'s map explains: `dog`, `tabby`, ...
    pub fn class_name(&self, i: usize) -> String {
        self.name_of(self.classes[i])
    }

    /// The model's top class for image `i` and its probability.
    pub fn prediction(&self, i: usize) -> Result<(usize, f32)> {
        let row = self.probabilities.f_get(i as i64)?;
        if self.units() == 1 {
            let dog = row.f_double_value(&[0])? as f32;
            return Ok(if dog > 0.5 { (1, dog) } else { (0, 1.0 - dog) });
        }
        let class = row.f_argmax(0, false)?.f_int64_value(&[])? as usize;
        Ok((class, row.f_double_value(&[class as i64])? as f32))
    }

    /// The name of class `class` of this model.
    pub fn name_of(&self, class: usize) -> String {
        match self.units() {
            1 => CAT_DOG[class].to_string(),
            crate::imagenet::CLASS_COUNT => crate::imagenet::class_index()[class].1.clone(),
            _ => format!("class {class}"),
        }
    }

    /// Output units of the model: 1 for a cat/dog model, 1000 for ImageNet's.
    fn units(&self) -> usize {
        self.probabilities.size().get(1).map_or(1, |&u| u as usize)
    }

    /// Explanations of consecutive batches as one (at `layer` when there are none).
    pub(super) fn concat(layer: &str, parts: Vec<Explanation>) -> Result<Explanation> {
        if parts.len() == 1 {
            return Ok(parts.into_iter().next().expect("one part"));
        }
        let layer = parts.first().map_or(layer, |p| p.layer.as_str());
        let cat = |tensors: Vec<&Tensor>, empty: &[i64]| -> Result<Tensor> {
            Ok(match tensors.is_empty() {
                true => Tensor::f_zeros(empty, (Kind::Float, Device::Cpu))?,
                false => Tensor::f_cat(&tensors, 0)?,
            })
        };
        Ok(Explanation {
            layer: layer.to_string(),
            maps: cat(parts.iter().map(|p| &p.maps).collect(), &[0, 0, 0])?,
            probabilities: cat(parts.iter().map(|p| &p.probabilities).collect(), &[0, 1])?,
            classes: parts.iter().flat_map(|p| p.classes.clone()).collect(),
            scores: parts.iter().flat_map(|p| p.scores.clone()).collect(),
        })
    }
}

/// Images with their [`Explanation`]: what a notebook shows and the CLI writes.
#[derive(Debug)]
pub struct Explained {
    /// The images' file names.
    pub names: Vec<String>,
    /// The images, at their own size.
    pub images: Vec<RgbImage>,
    /// The maps and predictions.
    pub explanation: Explanation,
    /// The true class of each image, when known (from a flow).
    pub truths: Option<Vec<usize>>,
    pub(super) colormap: Colormap,
    pub(super) opacity: f32,
}

impl Explained {
    /// Each image with its map laid over it (see [`overlay`]).
    pub fn overlays(&self) -> Result<Vec<RgbImage>> {
        (0..self.images.len())
            .map(|i| {
                let map = self.explanation.map(i)?;
                overlay(&self.images[i], &map, self.colormap, self.opacity)
            })
            .collect()
    }

    /// Each image beside its overlay, two images to a row: the image captioned with its name
    /// and the model's answer (`cat.7.jpg: P(dog) 0.97` for a cat/dog model, `tabby 0.81` for
    /// ImageNet's classes; `(truth: cat)` after it when known), the overlay with the class it
    /// explains (`Grad-CAM of dog`). A figure of kind `grad-cam`.
    pub fn figure(&self) -> Result<Png> {
        let overlays = self.overlays()?;
        let mut images = Vec::with_capacity(2 * overlays.len());
        let mut captions = Vec::with_capacity(2 * overlays.len());
        for (i, overlaid) in overlays.into_iter().enumerate() {
            let e = &self.explanation;
            let answer = match e.units() {
                1 => format!(
                    "P(dog) {}",
                    probability(e.probabilities.f_double_value(&[i as i64, 0])?)
                ),
                _ => {
                    let (class, p) = e.prediction(i)?;
                    format!("{} {}", e.name_of(class), probability(f64::from(p)))
                }
            };
            let mut caption = format!("{}: {answer}", self.names[i]);
            if let Some(truths) = &self.truths {
                caption.push_str(&format!(" (truth: {})", e.name_of(truths[i])));
            }
            images.extend([self.images[i].clone(), overlaid]);
            captions.extend([caption, format!("Grad-CAM of {}", e.class_name(i))]);
        }
        crate::plot::grid_figure(&images, &captions, 4, "grad-cam")
    }
}
