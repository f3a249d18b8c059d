//! Keras's `applications`: the pretrained networks a reader reaches for, as the tutorial puts
//! it ("Keras includes a number of other pretrained networks if you want to try a different
//! one"). [`Backbone`] names one (VGG16, the tutorial's; VGG19; ResNet50; MobileNetV2) and
//! knows its table, its preprocessing, its ImageNet top and where fine-tuning starts;
//! [`Application`] is Keras's call of one (top or not, pooling, image size), which builds the
//! [`crate::model::Model`]. Pretrained weights come from [`crate::weights`]
//! (`Application::load`).
//!
//! The parts: `table` (how a table is written), `vgg` (VGG16 and VGG19), `resnet50`,
//! `mobilenet_v2`, `application` (a call, built) and this file (the names).
//!
//! ```
//! use catsdogs::applications::{Backbone, Pooling};
//! let base = Backbone::ResNet50.application(false).pooling(Pooling::Avg).input_size(64, 64).build(tch::Device::Cpu)?;
//! let x = tch::Tensor::zeros([1, 3, 64, 64], (tch::Kind::Float, tch::Device::Cpu));
//! assert_eq!(base.forward(&x)?.size(), [1, 2048]);
//! # Ok::<(), catsdogs::Error>(())
//! ```

mod application;
pub mod mobilenet_v2;
pub mod resnet50;
mod table;
pub mod vgg;

use std::fmt;
use std::str::FromStr;

pub use application::Application;

use crate::data::Preprocess;
use crate::error::{Error, Result};
use crate::model::LayerSpec;

/// The side of the images the ImageNet tops were trained on, which they need.
pub const TOP_INPUT_SIZE: i64 = 224;

/// The smallest input side without the top, as in Keras.
pub const MIN_INPUT_SIZE: i64 = 32;

/// One of the networks that Keras ships with ImageNet weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backbone {
    /// VGG16, the tutorial's: 13 convolutions in 5 blocks, 14.7 million parameters without
    /// the top.
    Vgg16,
    /// VGG19: 16 convolutions, 20.0 million parameters without the top.
    Vgg19,
    /// ResNet50: 16 residual bottleneck blocks with batch normalisation, 23.6 million.
    #[serde(rename = "resnet50")]
    ResNet50,
    /// MobileNetV2 (alpha 1.0): 17 inverted residual blocks of depthwise convolutions, 2.3
    /// million.
    #[serde(rename = "mobilenet_v2")]
    MobileNetV2,
}

/// Keras's `pooling=` without the top: the maps as they are, or their mean or maximum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// `pooling=None`: the last block's maps.
    #[default]
    None,
    /// `pooling='avg'`: `GlobalAveragePooling2D`.
    Avg,
    /// `pooling='max'`: `GlobalMaxPooling2D`.
    Max,
}

/// Whose definition of the network the layers follow: Keras's (its `.h5` files), or
/// torchvision's (its state dicts), where the two differ (see [`resnet50`] and
/// [`mobilenet_v2`]; the VGGs are the same).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Keras's definition.
    #[default]
    Keras,
    /// torchvision's definition.
    Torchvision,
}

impl Backbone {
    /// Every backbone, VGG16 first.
    pub const ALL: [Backbone; 4] = [
        Backbone::Vgg16,
        Backbone::Vgg19,
        Backbone::ResNet50,
        Backbone::MobileNetV2,
    ];

    /// The name a command line or a notebook parameter takes: `vgg16`, `vgg19`, `resnet50`,
    /// `mobilenet_v2`.
    pub fn name(self) -> &'static str {
        match self {
            Backbone::Vgg16 => "vgg16",
            Backbone::Vgg19 => "vgg19",
            Backbone::ResNet50 => "resnet50",
            Backbone::MobileNetV2 => "mobilenet_v2",
        }
    }

    /// Keras's function name: `VGG16`, `VGG19`, `ResNet50`, `MobileNetV2`.
    pub fn title(self) -> &'static str {
        match self {
            Backbone::Vgg16 => "VGG16",
            Backbone::Vgg19 => "VGG19",
            Backbone::ResNet50 => "ResNet50",
            Backbone::MobileNetV2 => "MobileNetV2",
        }
    }

    /// The model's name in Keras for input images of `height` (MobileNetV2's names its alpha
    /// and size): what a summary shows and a saved model records.
    pub fn model_name(self, height: i64) -> String {
        match self {
            Backbone::MobileNetV2 => format!("mobilenetv2_1.00_{height}"),
            other => other.name().to_string(),
        }
    }

    /// The backbone of a model named `name` by [`Backbone::model_name`].
    pub fn of_model_name(name: &str) -> Option<Backbone> {
        Backbone::ALL.into_iter().find(|b| {
            name == b.name() || (*b == Backbone::MobileNetV2 && name.starts_with("mobilenetv2_"))
        })
    }

    /// Keras's `preprocess_input` for this network's ImageNet weights: 'caffe' (BGR, minus the
    /// mean pixel) for the VGGs and ResNet50, 'tf' (RGB scaled to [-1, 1]) for MobileNetV2.
    pub fn preprocess(self) -> Preprocess {
        match self {
            Backbone::MobileNetV2 => Preprocess::Tf,
            _ => Preprocess::Vgg16,
        }
    }

    /// The layers in Keras's order, with the top (for 224x224 images) or else the `pooling`
    /// asked for, for images of `height` x `width`, as `flavor` defines the network.
    ///
    /// ```
    /// use catsdogs::applications::{Backbone, Flavor, Pooling};
    /// let vgg19 = Backbone::Vgg19.layers(Flavor::Keras, true, Pooling::None, 224, 224);
    /// assert_eq!(vgg19.last().unwrap().name, "predictions");
    /// ```
    pub fn layers(
        self,
        flavor: Flavor,
        include_top: bool,
        pooling: Pooling,
        height: i64,
        width: i64,
    ) -> Vec<LayerSpec> {
        match self {
            Backbone::Vgg16 => vgg::layers(&vgg::VGG16_BLOCKS, include_top, pooling, height, width),
            Backbone::Vgg19 => vgg::layers(&vgg::VGG19_BLOCKS, include_top, pooling, height, width),
            Backbone::ResNet50 => resnet50::layers(flavor, include_top, pooling, height, width),
            Backbone::MobileNetV2 => {
                mobilenet_v2::layers(flavor, include_top, pooling, height, width)
            }
        }
    }

    /// The last layer of the network without its top: `block5_pool`, `conv5_block3_out`,
    /// `out_relu`.
    pub fn last_base_layer(self) -> &'static str {
        match self {
            Backbone::Vgg16 | Backbone::Vgg19 => "block5_pool",
            Backbone::ResNet50 => "conv5_block3_out",
            Backbone::MobileNetV2 => "out_relu",
        }
    }

    /// Where the tutorial's fine-tuning starts: the first layer of the last stage, at 14x14
    /// inputs for 224x224 images. VGG's `block5_conv1`, ResNet50's `conv5_block1_1_conv`, and
    /// MobileNetV2's `block_13_expand` (the block that brings the maps to 7x7, then blocks 14
    /// to 16 and `Conv_1`).
    pub fn finetune_from(self) -> &'static str {
        match self {
            Backbone::Vgg16 | Backbone::Vgg19 => "block5_conv1",
            Backbone::ResNet50 => "conv5_block1_1_conv",
            Backbone::MobileNetV2 => "block_13_expand",
        }
    }

    /// The pooling of the tutorial's conv base: none for the VGGs (the tutorial flattens
    /// block5_pool's 7x7x512 maps), `avg` for ResNet50 and MobileNetV2, as their own tops
    /// pool, so that the head reads 2048 or 1280 features instead of 100,352 or 62,720.
    pub fn tutorial_pooling(self) -> Pooling {
        match self {
            Backbone::Vgg16 | Backbone::Vgg19 => Pooling::None,
            Backbone::ResNet50 | Backbone::MobileNetV2 => Pooling::Avg,
        }
    }

    /// Keras's weights file for this network (without the extension), with the top or not.
    pub fn weights_file(self, include_top: bool) -> &'static str {
        match (self, include_top) {
            (Backbone::Vgg16, true) => "vgg16_weights_tf_dim_ordering_tf_kernels",
            (Backbone::Vgg16, false) => "vgg16_weights_tf_dim_ordering_tf_kernels_notop",
            (Backbone::Vgg19, true) => "vgg19_weights_tf_dim_ordering_tf_kernels",
            (Backbone::Vgg19, false) => "vgg19_weights_tf_dim_ordering_tf_kernels_notop",
            (Backbone::ResNet50, true) => "resnet50_weights_tf_dim_ordering_tf_kernels",
            (Backbone::ResNet50, false) => "resnet50_weights_tf_dim_ordering_tf_kernels_notop",
            (Backbone::MobileNetV2, true) => {
                "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224"
            }
            (Backbone::MobileNetV2, false) => {
                "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top"
            }
        }
    }
}

impl fmt::Display for Backbone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backbone {
    type Err = Error;

    /// Parses `vgg16`, `vgg19`, `resnet50` and `mobilenet_v2` (any case; Keras's function
    /// names too, and `mobilenetv2`).
    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.to_ascii_lowercase().replace('_', "");
        Backbone::ALL
            .into_iter()
            .find(|b| b.name().replace('_', "") == wanted)
            .ok_or_else(|| Error::UnknownName {
                what: "network",
                given: s.to_string(),
                known: "vgg16, vgg19, resnet50 or mobilenet_v2",
            })
    }
}

impl FromStr for Pooling {
    type Err = Error;

    /// Parses `none`, `avg` and `max`.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Pooling::None),
            "avg" => Ok(Pooling::Avg),
            "max" => Ok(Pooling::Max),
            _ => Err(Error::UnknownName {
                what: "pooling",
                given: s.to_string(),
                known: "none, avg or max",
            }),
        }
    }
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pooling::None => "none",
            Pooling::Avg => "avg",
            Pooling::Max => "max",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_both_ways() {
        for backbone in Backbone::ALL {
            assert_eq!(backbone.name().parse::<Backbone>().unwrap(), backbone);
            assert_eq!(backbone.title().parse::<Backbone>().unwrap(), backbone);
            let model = backbone.model_name(224);
            assert_eq!(Backbone::of_model_name(&model), Some(backbone));
        }
        assert!("resnet101".parse::<Backbone>().is_err());
        assert_eq!("avg".parse::<Pooling>().unwrap(), Pooling::Avg);
    }
}
