//! A network built from its table: Keras's `applications.ResNet50(include_top=...,
//! pooling=..., input_shape=...)` and the others, on NCHW input, with a `trainable` flag per
//! layer, cut anywhere one tensor flows (see [`crate::model`]).
//!
//! ```
//! use catsdogs::applications::{Backbone, Network};
//! tch::manual_seed(0);
//! let base = Network::new(Backbone::MobileNetV2, false, tch::Device::Cpu).with_input_size(64, 64).unwrap();
//! let x = tch::Tensor::zeros([1, 3, 64, 64], (tch::Kind::Float, tch::Device::Cpu));
//! assert_eq!(base.forward(&x).unwrap().size(), [1, 1280, 2, 2]);
//! // Cut between two blocks: the two halves compose to the whole.
//! let half = base.forward_to(&x, "block_12_add").unwrap();
//! assert_eq!(base.forward_from(&half, "block_13_expand").unwrap(), base.forward(&x).unwrap());
//! ```

use std::collections::HashMap;

use tch::{Device, Tensor};

use super::{Backbone, Flavor, Pooling, MIN_INPUT_SIZE, TOP_INPUT_SIZE};
use crate::data::Preprocess;
use crate::error::{Error, Result};
use crate::model::{keras_shape, ConvBase, Layer, LayerSpec, Row, Stack, Summary};
use crate::precision::Compute;

/// A network of a [`Backbone`], with or without its ImageNet top.
#[derive(Debug)]
pub struct Network {
    backbone: Backbone,
    flavor: Flavor,
    preprocess: Preprocess,
    stack: Stack,
    include_top: bool,
    pooling: Pooling,
    compute: Compute,
}

/// The stack of a network's layers, for images of `height` x `width`.
fn stack(backbone: Backbone, height: i64, width: i64, layers: Vec<Layer>) -> Stack {
    Stack::new(backbone.model_name(height), vec![3, height, width], layers)
        .expect("a network's table connects its layers")
}

impl Network {
    /// `backbone` with fresh weights initialised like Keras (`weights=None`), for 224x224
    /// input. Seed with `tch::manual_seed`.
    pub fn new(backbone: Backbone, include_top: bool, device: Device) -> Self {
        let layers = backbone
            .layers(
                Flavor::Keras,
                include_top,
                Pooling::None,
                TOP_INPUT_SIZE,
                TOP_INPUT_SIZE,
            )
            .into_iter()
            .map(|spec| Layer::from_spec(spec, device))
            .collect();
        Network::from_layers(backbone, Flavor::Keras, include_top, layers)
    }

    /// The network of the given layers (those of [`Backbone::layers`] for 224x224 images),
    /// preprocessing as `flavor`'s weights were trained.
    pub(crate) fn from_layers(
        backbone: Backbone,
        flavor: Flavor,
        include_top: bool,
        layers: Vec<Layer>,
    ) -> Self {
        Network {
            backbone,
            flavor,
            preprocess: match flavor {
                Flavor::Keras => backbone.preprocess(),
                Flavor::Torchvision => Preprocess::Torch,
            },
            stack: stack(backbone, TOP_INPUT_SIZE, TOP_INPUT_SIZE, layers),
            include_top,
            pooling: Pooling::None,
            compute: Compute::FP32,
        }
    }

    /// The same network, its images preprocessed as `preprocess` says.
    pub(crate) fn with_preprocess(self, preprocess: Preprocess) -> Self {
        Network { preprocess, ..self }
    }

    /// Computes the forward passes as `compute` says (float32 NCHW, Keras's arithmetic, unless
    /// set; see [`crate::precision`]).
    pub fn with_compute(mut self, compute: Compute) -> Self {
        self.compute = compute;
        self
    }

    /// Keras's `input_shape=(height, width, 3)`: the image size the model is built for (224x224
    /// unless set). Without the top any size of at least 32x32 works; with the top only
    /// 224x224.
    pub fn with_input_size(self, height: i64, width: i64) -> Result<Self> {
        let fits = if self.include_top {
            height == TOP_INPUT_SIZE && width == TOP_INPUT_SIZE
        } else {
            height >= MIN_INPUT_SIZE && width >= MIN_INPUT_SIZE
        };
        if !fits {
            return Err(Error::InputSize {
                model: self.stack.name.clone(),
                expected: self.sizes_taken(),
                height,
                width,
            });
        }
        let pooling = self.pooling;
        Ok(self.rebuilt(pooling, height, width))
    }

    /// Keras's `pooling=` without the top: `avg` or `max` reduce the last maps to one value per
    /// channel (`avg_pool` or `max_pool` in ResNet50, `global_average_pooling2d` or
    /// `global_max_pooling2d` in the others). With the top it is an error, as in Keras.
    pub fn with_pooling(self, pooling: Pooling) -> Result<Self> {
        if self.include_top && pooling != Pooling::None {
            return Err(Error::Options(format!(
                "{} with its top ends in its ImageNet classes; pooling={pooling} is for the network without it (include_top=false)",
                self.backbone.title()
            )));
        }
        let [_, height, width] = self.stack.input_shape[..] else {
            unreachable!("networks take images");
        };
        Ok(self.rebuilt(pooling, height, width))
    }

    /// The network's table for another image size or pooling, keeping every layer that has
    /// weights (they do not depend on either without the top).
    fn rebuilt(mut self, pooling: Pooling, height: i64, width: i64) -> Self {
        let specs = self
            .backbone
            .layers(self.flavor, self.include_top, pooling, height, width);
        let mut old: HashMap<String, Layer> = std::mem::take(&mut self.stack.layers)
            .into_iter()
            .map(|layer| (layer.name().to_string(), layer))
            .collect();
        let layers = specs
            .into_iter()
            .map(|spec: LayerSpec| match old.remove(&spec.name) {
                Some(layer) if !layer.weights().is_empty() => layer,
                previous => {
                    let mut layer = Layer::from_spec(spec, Device::Cpu);
                    layer.set_trainable(previous.is_none_or(|p| p.trainable()));
                    layer
                }
            })
            .collect();
        self.stack = stack(self.backbone, height, width, layers);
        self.pooling = pooling;
        self
    }

    /// The image sizes the model takes, in words.
    fn sizes_taken(&self) -> String {
        if self.include_top {
            format!("{TOP_INPUT_SIZE}x{TOP_INPUT_SIZE} with the top")
        } else {
            format!("at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}")
        }
    }

    /// Which network this is.
    pub fn backbone(&self) -> Backbone {
        self.backbone
    }

    /// Whose definition its layers follow (torchvision's when built from its weights).
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// How images are preprocessed for this network's weights: Keras's `preprocess_input` of
    /// its backbone, or torchvision's for torchvision's weights.
    pub fn preprocess(&self) -> Preprocess {
        self.preprocess
    }

    /// Whether the model has the ImageNet top.
    pub fn include_top(&self) -> bool {
        self.include_top
    }

    /// The pooling without the top.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// The shape of one input sample, NCHW without the batch axis (`[3, 224, 224]`).
    pub fn input_shape(&self) -> &[i64] {
        &self.stack.input_shape
    }

    /// The layers in order.
    pub fn layers(&self) -> &[Layer] {
        &self.stack.layers
    }

    /// The index of the layer called `name`.
    pub fn layer_index(&self, name: &str) -> Result<usize> {
        self.stack.layer_index(name)
    }

    /// Runs the whole network on a batch of preprocessed images (NCHW). With the top the result
    /// is the 1000 ImageNet class probabilities of each image.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let size = x.size();
        let fits = match size.as_slice() {
            [_, 3, h, w] if self.include_top => *h == TOP_INPUT_SIZE && *w == TOP_INPUT_SIZE,
            [_, 3, h, w] => *h >= MIN_INPUT_SIZE && *w >= MIN_INPUT_SIZE,
            _ => false,
        };
        if !fits {
            return Err(Error::Input {
                what: self.stack.name.clone(),
                expected: format!("NCHW input of 3 channels and {}", self.sizes_taken()),
                found: size,
            });
        }
        self.stack
            .forward_range(x, 0..self.stack.layers.len(), false, self.compute)
    }

    /// Runs the network on images up to and including the layer `name`, e.g. `block4_pool`.
    pub fn forward_to(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let end = self.stack.layer_index(name)? + 1;
        self.stack.forward_range(x, 0..end, false, self.compute)
    }

    /// Runs the network from the layer `name` on, given the tensor that flows into it (the
    /// output of the layer before it, e.g. `block4_pool`'s for `block5_conv1`); an error when
    /// `name` is inside a residual block, where two tensors flow in.
    pub fn forward_from(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let start = self.stack.layer_index(name)?;
        self.stack
            .forward_range(x, start..self.stack.layers.len(), false, self.compute)
    }

    /// Keras's `conv_base.trainable = trainable` for every layer.
    pub fn set_all_trainable(&mut self, trainable: bool) {
        for layer in &mut self.stack.layers {
            layer.set_trainable(trainable);
        }
    }

    /// Keras's `layer.trainable = trainable` for the layer `name`.
    pub fn set_trainable(&mut self, name: &str, trainable: bool) -> Result<()> {
        self.stack.set_trainable(name, trainable)
    }

    /// Layers before `name` frozen, `name` and every later layer trainable: "train from
    /// block5_conv1 on" is `trainable_from("block5_conv1")`.
    pub fn trainable_from(&mut self, name: &str) -> Result<()> {
        self.stack.trainable_from(name)
    }

    /// Every weight with its name (`"block1_conv1/kernel"`, `"conv1_bn/gamma"`, ...), sharing
    /// storage with the model's own.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.stack.named_parameters(false)
    }

    /// All parameters, as Keras counts them: VGG16 138,357,544 with the top and 14,714,688
    /// without; VGG19 143,667,240 and 20,024,384; ResNet50 25,636,712 and 23,587,712;
    /// MobileNetV2 3,538,984 and 2,257,984.
    pub fn count_params(&self) -> i64 {
        self.stack.count_params()
    }

    /// Moves every weight to `device`.
    pub fn to(&mut self, device: Device) {
        self.stack.move_to(device);
    }

    /// Keras's `conv_base.summary()`: the input layer, then every layer; with the "Connected
    /// to" column for the networks with branches.
    pub fn summary(&self) -> Summary {
        let input = Row::new(
            "input_1 (InputLayer)".to_string(),
            keras_shape(&self.stack.input_shape),
            (0, 0),
        );
        let mut rows = vec![input];
        rows.extend(self.stack.summary_rows(0));
        Summary::of_rows(&self.stack.name, rows, !self.stack.is_chain())
    }
}

impl ConvBase for Network {
    fn into_stack(self) -> Stack {
        self.stack
    }
}
