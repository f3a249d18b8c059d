//! VGG16 as Keras builds it (`keras.applications.VGG16`): the same layer names (`block1_conv1`
//! ... `block5_pool`, then `flatten`, `fc1`, `fc2`, `predictions` with the top), the same
//! parameter counts, on NCHW input. A network from a table ([`architecture`]); its pretrained
//! weights come from [`crate::weights`] (`Vgg16::load`).
//!
//! ```
//! use catsdogs::vgg16::Vgg16;
//! let conv_base = Vgg16::new(false, tch::Device::Cpu).with_input_size(64, 64).unwrap();
//! let x = tch::Tensor::zeros([1, 3, 64, 64], (tch::Kind::Float, tch::Device::Cpu));
//! assert_eq!(conv_base.forward(&x).unwrap().size(), [1, 512, 2, 2]);
//! // Cut at a layer: the two halves compose to the whole.
//! let block4 = conv_base.forward_to(&x, "block4_pool").unwrap();
//! assert_eq!(block4.size(), [1, 512, 4, 4]);
//! assert_eq!(conv_base.forward_from(&block4, "block5_conv1").unwrap(), conv_base.forward(&x).unwrap());
//! ```

use tch::{Device, Tensor};

use crate::error::{Error, Result};
use crate::model::{keras_shape, Activation, ConvBase, Layer, LayerKind, Stack, Summary};
use crate::precision::Compute;

/// Filters of each block's convolutions, and how many convolutions each block has.
const BLOCKS: [(i64, usize); 5] = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)];

/// The side of the images the top (fc1 ... predictions) was trained on.
pub const TOP_INPUT_SIZE: i64 = 224;

/// The smallest input side without the top, as in Keras.
pub const MIN_INPUT_SIZE: i64 = 32;

/// VGG16's layers in order, with their Keras names, for input images of `height` x `width`
/// (which only the top's `fc1` depends on).
///
/// ```
/// let layers = catsdogs::vgg16::architecture(true, 224, 224);
/// assert_eq!(layers.len(), 22);
/// assert_eq!(layers[0].0, "block1_conv1");
/// assert_eq!(layers[17].0, "block5_pool");
/// assert_eq!(layers[21].0, "predictions");
/// ```
pub fn architecture(include_top: bool, height: i64, width: i64) -> Vec<(String, LayerKind)> {
    let mut layers = Vec::new();
    let mut in_channels = 3;
    let (mut h, mut w) = (height, width);
    for (block, (filters, convs)) in BLOCKS.into_iter().enumerate() {
        for conv in 1..=convs {
            layers.push((
                format!("block{}_conv{conv}", block + 1),
                LayerKind::Conv2d {
                    in_channels,
                    filters,
                    activation: Activation::Relu,
                },
            ));
            in_channels = filters;
        }
        layers.push((format!("block{}_pool", block + 1), LayerKind::MaxPool2d));
        (h, w) = (h / 2, w / 2);
    }
    if include_top {
        let dense = |inputs, units, activation| LayerKind::Dense {
            inputs,
            units,
            activation,
        };
        layers.push(("flatten".into(), LayerKind::Flatten));
        layers.push((
            "fc1".into(),
            dense(in_channels * h * w, 4096, Activation::Relu),
        ));
        layers.push(("fc2".into(), dense(4096, 4096, Activation::Relu)));
        layers.push(("predictions".into(), dense(4096, 1000, Activation::Softmax)));
    }
    layers
}

/// VGG16, with or without its top (`include_top`), with a `trainable` flag per layer.
#[derive(Debug)]
pub struct Vgg16 {
    stack: Stack,
    include_top: bool,
    compute: Compute,
}

impl Vgg16 {
    /// VGG16 with fresh weights initialised like Keras (`weights=None`), for 224x224 input.
    /// Seed with `tch::manual_seed`.
    pub fn new(include_top: bool, device: Device) -> Self {
        let layers = architecture(include_top, TOP_INPUT_SIZE, TOP_INPUT_SIZE)
            .into_iter()
            .map(|(name, kind)| Layer::new(name, kind, device))
            .collect();
        Vgg16::from_layers(layers, include_top)
    }

    /// VGG16 of the given layers (those of [`architecture`]).
    pub(crate) fn from_layers(layers: Vec<Layer>, include_top: bool) -> Self {
        Vgg16 {
            stack: Stack {
                name: "vgg16".to_string(),
                input_shape: vec![3, TOP_INPUT_SIZE, TOP_INPUT_SIZE],
                layers,
            },
            include_top,
            compute: Compute::FP32,
        }
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
    pub fn with_input_size(mut self, height: i64, width: i64) -> Result<Self> {
        let fits = if self.include_top {
            height == TOP_INPUT_SIZE && width == TOP_INPUT_SIZE
        } else {
            height >= MIN_INPUT_SIZE && width >= MIN_INPUT_SIZE
        };
        if !fits {
            return Err(Error::InputSize {
                model: "vgg16".into(),
                expected: self.sizes_taken(),
                height,
                width,
            });
        }
        self.stack.input_shape = vec![3, height, width];
        Ok(self)
    }

    /// The image sizes the model takes, in words.
    fn sizes_taken(&self) -> String {
        if self.include_top {
            format!("{TOP_INPUT_SIZE}x{TOP_INPUT_SIZE} with the top")
        } else {
            format!("at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}")
        }
    }

    /// Whether the model has the top (`flatten`, `fc1`, `fc2`, `predictions`).
    pub fn include_top(&self) -> bool {
        self.include_top
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
                what: "vgg16".into(),
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

    /// Runs the network from the layer `name` on, given that layer's input (the output of the
    /// layer before it, e.g. `block4_pool`'s for `block5_conv1`).
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

    /// Every weight with its name (`"block1_conv1/kernel"`, ...), sharing storage with the
    /// model's own.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.stack.named_parameters(false)
    }

    /// All parameters: 138,357,544 with the top, 14,714,688 without.
    pub fn count_params(&self) -> i64 {
        self.stack.count_params()
    }

    /// Moves every weight to `device`.
    pub fn to(&mut self, device: Device) {
        self.stack.move_to(device);
    }

    /// Keras's `conv_base.summary()`: the input layer, then every layer.
    pub fn summary(&self) -> Summary {
        let mut rows = vec![(
            "input_1 (InputLayer)".to_string(),
            keras_shape(&self.stack.input_shape),
            0,
            0,
        )];
        rows.extend(self.stack.summary_rows(0));
        Summary::new(&self.stack.name, rows)
    }
}

impl ConvBase for Vgg16 {
    fn into_stack(self) -> Stack {
        self.stack
    }
}
