//! A network of Keras's `applications` as a call describes it, before it is built:
//! `ResNet50(include_top=False, pooling='avg', input_shape=(64, 64, 3))` is
//! `Backbone::ResNet50.application(false).pooling(Pooling::Avg).input_size(64, 64)`. `build`
//! makes the [`Model`] with fresh weights (`weights=None`); the weights module loads pretrained
//! ones into the same description (`load`, `from_weights`).
//!
//! ```
//! use catsdogs::applications::{Backbone, Pooling};
//! let base = Backbone::ResNet50.application(false).pooling(Pooling::Avg).build(tch::Device::Cpu)?;
//! assert_eq!(base.summary().total_params(), 23_587_712);
//! assert!(Backbone::Vgg16.application(true).input_size(64, 64).build(tch::Device::Cpu).is_err());
//! # Ok::<(), catsdogs::Error>(())
//! ```

use tch::Device;

use super::{Backbone, Flavor, Pooling, MIN_INPUT_SIZE, TOP_INPUT_SIZE};
use crate::data::Preprocess;
use crate::error::{Error, Result};
use crate::model::{Layer, LayerSpec, Model};

/// Keras's arguments of an application: which network, with its ImageNet top or not, the
/// pooling without it, the image size, and whose definition (Keras's unless torchvision's
/// weights say otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Application {
    /// The network.
    pub backbone: Backbone,
    /// With the ImageNet top (`include_top=True`).
    pub include_top: bool,
    /// `pooling=` without the top.
    pub pooling: Pooling,
    /// `input_shape=(height, width, 3)`, as (height, width).
    pub input_size: (i64, i64),
    /// Whose definition the layers follow.
    pub flavor: Flavor,
}

impl Backbone {
    /// Keras's call of this network, `include_top` or not, for 224x224 images, without pooling,
    /// in Keras's definition: set the rest with [`Application`]'s methods.
    pub fn application(self, include_top: bool) -> Application {
        Application {
            backbone: self,
            include_top,
            pooling: Pooling::None,
            input_size: (TOP_INPUT_SIZE, TOP_INPUT_SIZE),
            flavor: Flavor::Keras,
        }
    }
}

impl Application {
    /// Keras's `pooling=` without the top: `avg` or `max` reduce the last maps to one value per
    /// channel (`avg_pool` or `max_pool` in ResNet50, `global_average_pooling2d` or
    /// `global_max_pooling2d` in the others). With the top it is an error when built, as in
    /// Keras.
    pub fn pooling(self, pooling: Pooling) -> Self {
        Application { pooling, ..self }
    }

    /// Keras's `input_shape=(height, width, 3)`: the image size the model is built for (224x224
    /// unless set). Without the top any size of at least 32x32 works; with the top only
    /// 224x224.
    pub fn input_size(self, height: i64, width: i64) -> Self {
        Application {
            input_size: (height, width),
            ..self
        }
    }

    /// The same network as `flavor` defines it (torchvision's, for its weights).
    pub fn flavor(self, flavor: Flavor) -> Self {
        Application { flavor, ..self }
    }

    /// The layers of the network, after checking that it can be built: an image size it takes,
    /// and no pooling with the top.
    pub fn layers(&self) -> Result<Vec<LayerSpec>> {
        let (height, width) = self.input_size;
        let fits = if self.include_top {
            height == TOP_INPUT_SIZE && width == TOP_INPUT_SIZE
        } else {
            height >= MIN_INPUT_SIZE && width >= MIN_INPUT_SIZE
        };
        if !fits {
            return Err(Error::InputSize {
                model: self.backbone.model_name(TOP_INPUT_SIZE),
                expected: if self.include_top {
                    format!("{TOP_INPUT_SIZE}x{TOP_INPUT_SIZE} with the top")
                } else {
                    format!("at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}")
                },
                height,
                width,
            });
        }
        if self.include_top && self.pooling != Pooling::None {
            return Err(Error::PoolingWithTop {
                model: self.backbone.title().to_string(),
                pooling: self.pooling.to_string(),
            });
        }
        Ok(self
            .backbone
            .layers(self.flavor, self.include_top, self.pooling, height, width))
    }

    /// Keras's `weights=None`: the network with fresh weights initialised like Keras, on
    /// `device`. Seed with `tch::manual_seed`.
    pub fn build(self, device: Device) -> Result<Model> {
        let layers = self
            .layers()?
            .into_iter()
            .map(|spec| Layer::from_spec(spec, device))
            .collect();
        self.assemble(layers)
    }

    /// The model of `layers` (those of [`Application::layers`], with their weights), named as
    /// Keras names it and preprocessing images as its weights were trained: Keras's
    /// `preprocess_input` of the network, or torchvision's for its flavor.
    pub(crate) fn assemble(self, layers: Vec<Layer>) -> Result<Model> {
        let (height, width) = self.input_size;
        let preprocess = match self.flavor {
            Flavor::Keras => self.backbone.preprocess(),
            Flavor::Torchvision => Preprocess::Torch,
        };
        Ok(Model::new(
            self.backbone.model_name(height),
            vec![3, height, width],
            layers,
        )?
        .with_preprocess(preprocess))
    }
}
