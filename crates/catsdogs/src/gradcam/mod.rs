//! Grad-CAM: where the network looked. The heatmap of Keras's Grad-CAM example (and of Deep
//! Learning with Python on VGG16), for any convolutional layer (`Conv2D` or `DepthwiseConv2D`)
//! of VGG16, VGG19, ResNet50 or MobileNetV2, by its Keras name, and any output of the model: an
//! ImageNet class of a network with its top, or cat or dog of a trained cat/dog model. Unless
//! told otherwise it explains the network's last convolution (`block5_conv3` in VGG16).
//!
//! The arithmetic is the example's. The score explained is the class's logit, the last Dense
//! layer's output before its softmax or sigmoid (for a cat/dog model, whose one unit gives the
//! probability of a dog, the dog's score is that unit's logit and the cat's is its negation).
//! Its gradient with respect to the chosen layer's output (after the layer's own activation,
//! VGG's ReLU) is averaged over height and width, one weight per channel; the channels are
//! summed with those weights, the sum goes through a ReLU and is divided by its maximum, so the
//! map lies in [0, 1] (a map with no positive value stays 0). [`crate::plot::overlay`]
//! upsamples it to the image and lays it over it with a colour map.
//!
//! It takes one forward pass and one backward pass down to the chosen layer, in float32. The
//! layers before the chosen one run without autograd, and the backward pass computes the
//! gradient of the chosen layer's output only: no weight, frozen or trainable, gets a gradient.
//! In ResNet50 and MobileNetV2 a shortcut around the chosen layer carries no gradient to it, as
//! in Keras. It runs on the device that holds the model's weights, the CPU or a CUDA GPU.
//!
//! ```
//! use catsdogs::applications::Backbone;
//! use catsdogs::gradcam::{GradCam, Target};
//! tch::manual_seed(0);
//! let vgg16 = Backbone::Vgg16.application(true).build(tch::Device::Cpu)?;
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

use crate::error::{Error, Result};
use crate::model::{Activation, Dense, Layer, LayerKind, Model};
use crate::plot::Colormap;
use crate::precision::Compute;

/// VGG16's last convolution, the layer Grad-CAM explains in VGG16 unless told otherwise.
pub const DEFAULT_LAYER: &str = "block5_conv3";

/// The opacity of the heatmap over the image unless told otherwise, as in Keras's example.
pub const DEFAULT_OPACITY: f32 = 0.4;

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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GradCam {
    /// `None`: the model's last convolution.
    layer: Option<String>,
    target: Target,
    colormap: Colormap,
    opacity: Opacity,
}

/// [`DEFAULT_OPACITY`] unless set.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Opacity(f32);

impl Default for Opacity {
    fn default() -> Self {
        Opacity(DEFAULT_OPACITY)
    }
}

impl GradCam {
    /// Grad-CAM at the convolutional layer `layer` (its Keras name, e.g. `block5_conv3`), for
    /// the predicted class, drawn with `jet` at opacity 0.4. [`GradCam::default`] takes the
    /// model's last convolution.
    pub fn new(layer: impl Into<String>) -> Self {
        GradCam {
            layer: Some(layer.into()),
            ..GradCam::default()
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
        self.opacity = Opacity(opacity);
        self
    }

    /// The layer explained, when one was named ([`GradCam::new`]); `None` for the model's last
    /// convolution.
    pub fn layer(&self) -> Option<&str> {
        self.layer.as_deref()
    }

    /// The maps of a batch of preprocessed images `x` (N, 3, H, W), on any device (they are
    /// moved to the model's), with the model's predictions. See the module's notes.
    /// The model must end in a Dense layer of scores (an ImageNet top, or the cat/dog head).
    pub fn explain(&self, model: &Model, x: &Tensor) -> Result<Explanation> {
        let layers = model.layers();
        let index = conv_index(model, self.layer.as_deref())?;
        let (last, units) = scores_layer(model)?;
        if let Target::Class(class) = self.target {
            let classes = if units == 1 { 2 } else { units };
            if class >= classes {
                return Err(Error::Class {
                    model: model.name().to_string(),
                    class,
                    classes,
                });
            }
        }
        let device = model.device();
        let x = x.f_to_device(device)?.f_to_kind(Kind::Float)?;
        // The layers before `index` run without autograd; its output becomes a leaf that
        // requires a gradient, and the layers after it (to the scores' input) run with autograd.
        let (activation, features) = tch::with_grad(|| -> Result<_> {
            let mut no_grad = Some(tch::no_grad_guard());
            let mut activation = None;
            let features = model.run_tapped(
                &x,
                0..layers.len() - 1,
                false,
                Compute::FP32,
                &mut |i, y| {
                    if i != index {
                        return Ok(y);
                    }
                    drop(no_grad.take());
                    let leaf = y.f_detach()?.f_set_requires_grad(true)?;
                    activation = Some(leaf.shallow_clone());
                    Ok(leaf)
                },
            )?;
            let activation = activation.expect("the chosen layer comes before the scores");
            Ok((activation, features))
        })?;
        let logits = tch::with_grad(|| logit_layer(last)?.forward_t(&features, false))?;
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
            layer: layers[index].name().to_string(),
            maps: maps.f_to_device(Device::Cpu)?,
            classes: chosen,
            scores: Vec::try_from(scores.f_detach()?.f_to_device(Device::Cpu)?)?,
            probabilities,
        })
    }
}

/// Whether Grad-CAM explains `layer`'s output: a convolution's, plain or depthwise.
fn is_conv(layer: &Layer) -> bool {
    matches!(
        layer.kind(),
        LayerKind::Conv2d(_) | LayerKind::DepthwiseConv2d(_)
    )
}

/// The index of the convolutional layer `name` (the last one for `None`), or an error that
/// lists them.
fn conv_index(model: &Model, name: Option<&str>) -> Result<usize> {
    let layers = model.layers();
    let last = layers.iter().rposition(is_conv);
    let found = match name {
        None => last,
        Some(name) => layers.iter().position(|l| l.name() == name),
    };
    match found {
        Some(index) if is_conv(&layers[index]) => Ok(index),
        found => Err(Error::NotConvolutional {
            model: model.name().to_string(),
            layer: name.unwrap_or("the last convolution").to_string(),
            what: match found {
                Some(index) => format!("a {} layer", layers[index].kind().class_name()),
                None if name.is_none() => "it has no convolution".into(),
                None => "it has no layer of that name".into(),
            },
            convolutions: layers
                .iter()
                .filter(|l| is_conv(l))
                .map(|l| l.name().to_string())
                .collect(),
            default: last.map_or_else(|| "none".into(), |i| layers[i].name().to_string()),
        }),
    }
}

/// The last layer, a Dense one, and its number of units.
fn scores_layer(model: &Model) -> Result<(&Layer, usize)> {
    if let Some(last) = model.layers().last() {
        if let LayerKind::Dense(Dense { units, .. }) = last.kind() {
            return Ok((last, *units as usize));
        }
    }
    Err(Error::NoScores {
        model: model.name().to_string(),
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
        LayerKind::Dense(dense) => Dense {
            activation: Activation::Linear,
            ..*dense
        }
        .into(),
        other => other.clone(),
    };
    let weights = last.weights().iter().map(Tensor::shallow_clone).collect();
    let mut layer = Layer::with_weights(last.name(), kind, weights)?;
    layer.set_trainable(false);
    Ok(layer)
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
