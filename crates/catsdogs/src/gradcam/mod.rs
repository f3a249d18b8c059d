//! Grad-CAM: where the network looked. The heatmap of Keras's Grad-CAM example (and of Deep
//! Learning with Python on VGG16), for any convolutional layer of VGG16 and any output of the
//! model: an ImageNet class of VGG16 with its top, or cat or dog of a trained cat/dog model.
//!
//! The arithmetic is the example's. The score explained is the class's logit, the last Dense
//! layer's output before its softmax or sigmoid (for a cat/dog model, whose one unit gives the
//! probability of a dog, the dog's score is that unit's logit and the cat's is its negation).
//! Its gradient with respect to the chosen layer's output (after the layer's ReLU) is averaged
//! over height and width, one weight per channel; the channels are summed with those weights,
//! the sum goes through a ReLU and is divided by its maximum, so the map lies in [0, 1] (a map
//! with no positive value stays 0). [`crate::plot::overlay`] upsamples it to the image and lays
//! it over it with a colour map.
//!
//! It takes one forward pass and one backward pass down to the chosen layer, in float32. The
//! layers before the chosen one run without autograd, and the backward pass computes the
//! gradient of the chosen layer's output only: no weight, frozen or trainable, gets a gradient.
//! It runs on the device that holds the model's weights, the CPU or a CUDA GPU.
//!
//! ```
//! use catsdogs::gradcam::{GradCam, Target};
//! use catsdogs::vgg16::Vgg16;
//! tch::manual_seed(0);
//! let vgg16 = Vgg16::new(true, tch::Device::Cpu);
//! let x = tch::Tensor::randn([1, 3, 224, 224], (tch::Kind::Float, tch::Device::Cpu)) * 50.0;
//! let explanation = GradCam::new("block5_conv3").target(Target::Class(281)).explain(&vgg16, &x)?;
//! assert_eq!(explanation.maps.size(), [1, 14, 14]);
//! assert_eq!(explanation.classes, [281]);
//! assert_eq!(explanation.class_name(0), "tabby");
//! let map = explanation.map(0)?;
//! assert!(map.iter().all(|v| (0.0..=1.0).contains(v)));
//! # Ok::<(), catsdogs::Error>(())
//! ```

mod explained;
mod files;

pub use explained::{Explained, Explanation};

use tch::{Device, Kind, Tensor};

use crate::console::hint;
use crate::error::Result;
use crate::model::{Activation, Layer, LayerKind, Sequential};
use crate::plot::Colormap;
use crate::vgg16::Vgg16;

/// The layer Grad-CAM explains unless told otherwise: VGG16's last convolution.
pub const DEFAULT_LAYER: &str = "block5_conv3";

/// The opacity of the heatmap over the image unless told otherwise, as in Keras's example.
pub const DEFAULT_OPACITY: f32 = 0.4;

/// Why Grad-CAM cannot explain what it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum GradCamError {
    /// The layer asked for is not one of the model's convolutions.
    #[error("{layer} is not a convolutional layer of {model} ({what}): Grad-CAM explains a Conv2D layer's output, so give {} one of {} ({DEFAULT_LAYER}, the last, is the usual choice)", hint("--layer", "GradCam::new"), convolutions.join(", "))]
    NotConvolutional {
        /// The model, in words.
        model: &'static str,
        /// The name asked for.
        layer: String,
        /// What that name is in the model, e.g. "a MaxPooling2D layer" or "no layer at all".
        what: String,
        /// The model's convolutional layers.
        convolutions: Vec<String>,
    },
    /// The model does not end in the class scores that Grad-CAM explains.
    #[error("{model} does not end in a Dense layer of class scores, so Grad-CAM has nothing to explain: use VGG16 with its top (include_top, with the weights that have the top) or a trained cat/dog model")]
    NoScores {
        /// The model, in words.
        model: &'static str,
    },
    /// A class index outside the model's classes.
    #[error("class index {class} is out of range: {model} has {classes} classes, so give {} an index from 0 to {}{}", hint("--class", "Target::Class"), classes - 1, if *classes == 2 { " (0 is cat, 1 is dog)" } else { "" })]
    Class {
        /// The model, in words.
        model: &'static str,
        /// The index asked for.
        class: usize,
        /// How many classes the model tells apart.
        classes: usize,
    },
}

/// A model that Grad-CAM can explain: its layers in order, the last a Dense layer of scores.
/// [`Vgg16`] with its top and the cat/dog [`Sequential`] are; a model of one's own can be.
pub trait Explainable {
    /// The model in words, for messages: "VGG16", "the cat/dog model".
    fn describe(&self) -> &'static str;
    /// The layers, first to last.
    fn layers(&self) -> &[Layer];
    /// One input sample's shape, `[3, height, width]`.
    fn input_shape(&self) -> &[i64];
}

impl Explainable for Vgg16 {
    fn describe(&self) -> &'static str {
        "VGG16"
    }

    fn layers(&self) -> &[Layer] {
        Vgg16::layers(self)
    }

    fn input_shape(&self) -> &[i64] {
        Vgg16::input_shape(self)
    }
}

impl Explainable for Sequential {
    fn describe(&self) -> &'static str {
        "the cat/dog model"
    }

    fn layers(&self) -> &[Layer] {
        Sequential::layers(self)
    }

    fn input_shape(&self) -> &[i64] {
        Sequential::input_shape(self)
    }
}

/// Which score of the model a map explains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Target {
    /// The model's answer for each image: its top class (ImageNet's top-1; cat or dog, dog
    /// when the probability of a dog is above 0.5).
    #[default]
    Predicted,
    /// Class `c` for every image: an ImageNet class index (0 to 999) with VGG16's top; 0 (cat)
    /// or 1 (dog) with a cat/dog model.
    Class(usize),
}

/// Grad-CAM's settings: the layer, the score explained, and how maps are drawn over images.
/// It holds no model, so a notebook can keep it in a variable; each call takes the model.
#[derive(Clone, Debug, PartialEq)]
pub struct GradCam {
    layer: String,
    target: Target,
    colormap: Colormap,
    opacity: f32,
}

impl Default for GradCam {
    /// [`DEFAULT_LAYER`], the predicted class, `jet` at [`DEFAULT_OPACITY`], as Keras's example.
    fn default() -> Self {
        GradCam::new(DEFAULT_LAYER)
    }
}

impl GradCam {
    /// Grad-CAM at the convolutional layer `layer` (its Keras name, e.g. `block5_conv3`), for
    /// the predicted class, drawn with `jet` at opacity 0.4.
    pub fn new(layer: impl Into<String>) -> Self {
        GradCam {
            layer: layer.into(),
            target: Target::Predicted,
            colormap: Colormap::Jet,
            opacity: DEFAULT_OPACITY,
        }
    }

    /// Explains `target` instead of the predicted class.
    pub fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// Draws the maps with `colormap`.
    pub fn colormap(mut self, colormap: Colormap) -> Self {
        self.colormap = colormap;
        self
    }

    /// Lays the maps over the images at `opacity`, from 0 (the image alone) to 1 (the map alone).
    pub fn opacity(mut self, opacity: f32) -> Self {
        self.opacity = opacity;
        self
    }

    /// The layer explained.
    pub fn layer(&self) -> &str {
        &self.layer
    }

    /// The maps of a batch of preprocessed images `x` (N, 3, H, W), on any device (they are
    /// moved to the model's), with the model's predictions. See the module's notes.
    pub fn explain(&self, model: &impl Explainable, x: &Tensor) -> Result<Explanation> {
        let layers = model.layers();
        let index = conv_index(model, &self.layer)?;
        let (last, units) = scores_layer(model)?;
        if let Target::Class(class) = self.target {
            let classes = if units == 1 { 2 } else { units };
            if class >= classes {
                let model = model.describe();
                return Err(GradCamError::Class {
                    model,
                    class,
                    classes,
                }
                .into());
            }
        }
        let device = device_of(layers);
        let x = x.f_to_device(device)?.f_to_kind(Kind::Float)?;
        let activation = tch::no_grad(|| run(&layers[..=index], &x))?.f_set_requires_grad(true)?;
        let (features, logits) = tch::with_grad(|| -> Result<_> {
            let features = run(&layers[index + 1..layers.len() - 1], &activation)?;
            let logits = logit_layer(last)?.forward_t(&features, false)?;
            Ok((features, logits))
        })?;
        let probabilities = tch::no_grad(|| last.forward_t(&features, false))?
            .f_to_device(Device::Cpu)?
            .f_view([x.size()[0], units as i64])?;
        let chosen = choose(self.target, &probabilities, units)?;
        let signs = score_signs(&chosen, units).f_to_device(device)?;
        let scores = tch::with_grad(|| {
            logits
                .f_mul(&signs)?
                .f_sum_dim_intlist(1, false, Kind::Float)
        })?;
        let gradient =
            Tensor::f_run_backward(&[scores.f_sum(Kind::Float)?], &[&activation], false, false)?;
        let maps = tch::no_grad(|| weighted_map(&activation, &gradient[0]))?;
        Ok(Explanation {
            layer: self.layer.clone(),
            maps: maps.f_to_device(Device::Cpu)?,
            classes: chosen,
            scores: Vec::try_from(scores.f_detach()?.f_to_device(Device::Cpu)?)?,
            probabilities,
        })
    }
}

/// The device that holds the weights of `layers` (the CPU for layers without weights).
pub(crate) fn device_of(layers: &[Layer]) -> Device {
    layers
        .iter()
        .find_map(|l| l.weights().first().map(Tensor::device))
        .unwrap_or(Device::Cpu)
}

/// The index of the convolutional layer `name`, or an error that lists them.
fn conv_index(model: &impl Explainable, name: &str) -> Result<usize, GradCamError> {
    let layers = model.layers();
    let is_conv = |l: &Layer| matches!(l.kind(), LayerKind::Conv2d { .. });
    match layers.iter().position(|l| l.name() == name) {
        Some(index) if is_conv(&layers[index]) => Ok(index),
        found => Err(GradCamError::NotConvolutional {
            model: model.describe(),
            layer: name.to_string(),
            what: match found {
                Some(index) => format!("a {} layer", layers[index].kind().class_name()),
                None => "it has no layer of that name".into(),
            },
            convolutions: layers
                .iter()
                .filter(|l| is_conv(l))
                .map(|l| l.name().to_string())
                .collect(),
        }),
    }
}

/// The last layer, a Dense one, and its number of units.
fn scores_layer(model: &impl Explainable) -> Result<(&Layer, usize), GradCamError> {
    if let Some(last) = model.layers().last() {
        if let LayerKind::Dense { units, .. } = last.kind() {
            return Ok((last, *units as usize));
        }
    }
    Err(GradCamError::NoScores {
        model: model.describe(),
    })
}

/// (images, units): +1 at each image's class, or for a cat/dog model's one unit +1 for dog
/// and -1 for cat (whose logit is the dog's, negated). A row's dot product with the logits is
/// the score explained.
fn score_signs(classes: &[usize], units: usize) -> Tensor {
    let mut signs = vec![0f32; classes.len() * units];
    for (i, &class) in classes.iter().enumerate() {
        match units {
            1 => signs[i] = if class == 1 { 1.0 } else { -1.0 },
            _ => signs[i * units + class] = 1.0,
        }
    }
    Tensor::from_slice(&signs).view([classes.len() as i64, units as i64])
}

/// The Dense layer `last` without its activation: the same weights (shared, without
/// gradients), a linear output.
fn logit_layer(last: &Layer) -> Result<Layer> {
    let kind = match last.kind() {
        LayerKind::Dense { inputs, units, .. } => LayerKind::Dense {
            inputs: *inputs,
            units: *units,
            activation: Activation::Linear,
        },
        other => other.clone(),
    };
    let weights = last.weights().iter().map(Tensor::shallow_clone).collect();
    let mut layer = Layer::with_weights(last.name(), kind, weights)?;
    layer.set_trainable(false);
    Ok(layer)
}

/// Runs `layers` in order on `x`, in float32, dropout off.
fn run(layers: &[Layer], x: &Tensor) -> Result<Tensor> {
    let mut x = x.shallow_clone();
    for layer in layers {
        x = layer.forward_t(&x, false)?;
    }
    Ok(x)
}

/// The class each image's map explains: `target`'s, or the predicted one.
fn choose(target: Target, probabilities: &Tensor, units: usize) -> Result<Vec<usize>> {
    let rows = probabilities.size()[0] as usize;
    Ok(match target {
        Target::Class(class) => vec![class; rows],
        Target::Predicted if units == 1 => {
            let p: Vec<f32> = Vec::try_from(probabilities.f_flatten(0, -1)?)?;
            p.iter().map(|&p| usize::from(p > 0.5)).collect()
        }
        Target::Predicted => {
            let top: Vec<i64> = Vec::try_from(probabilities.f_argmax(1, false)?)?;
            top.into_iter().map(|c| c as usize).collect()
        }
    })
}

/// The Grad-CAM maps (N, h, w) from a layer's output (N, C, h, w) and the score's gradient
/// there: channels weighted by their mean gradient, summed, ReLU, divided by the maximum.
fn weighted_map(activation: &Tensor, gradient: &Tensor) -> Result<Tensor> {
    let weights = gradient.f_mean_dim(&[2i64, 3][..], true, Kind::Float)?;
    let map = activation
        .f_detach()?
        .f_mul(&weights)?
        .f_sum_dim_intlist(1, false, Kind::Float)?
        .f_relu()?;
    let max = map.f_amax(&[1i64, 2][..], true)?;
    Ok(map.f_div(&max.f_clamp_min(f64::from(f32::MIN_POSITIVE))?)?)
}
