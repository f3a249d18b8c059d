//! VGG16 as Keras builds it (`keras.applications.VGG16`): the same layer names (`block1_conv1`
//! ... `block5_pool`, then `flatten`, `fc1`, `fc2`, `predictions` with the top), the same
//! parameter counts, on NCHW input: the tutorial's network, a [`Network`] of
//! [`Backbone::Vgg16`] under its own name. Its pretrained weights come from [`crate::weights`]
//! (`Vgg16::load`).
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

use crate::applications::{vgg, Backbone, Network, Pooling};
pub use crate::applications::{MIN_INPUT_SIZE, TOP_INPUT_SIZE};
use crate::error::Result;
use crate::model::{ConvBase, Layer, LayerKind, Stack, Summary};
use crate::precision::Compute;

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
    vgg::layers(
        &vgg::VGG16_BLOCKS,
        include_top,
        Pooling::None,
        height,
        width,
    )
    .into_iter()
    .map(|spec| (spec.name, spec.kind))
    .collect()
}

/// VGG16, with or without its top (`include_top`), with a `trainable` flag per layer.
#[derive(Debug)]
pub struct Vgg16 {
    network: Network,
}

impl Vgg16 {
    /// VGG16 with fresh weights initialised like Keras (`weights=None`), for 224x224 input.
    /// Seed with `tch::manual_seed`.
    pub fn new(include_top: bool, device: Device) -> Self {
        Vgg16 {
            network: Network::new(Backbone::Vgg16, include_top, device),
        }
    }

    /// VGG16 as the network it is (a [`Network`] of [`Backbone::Vgg16`]).
    pub(crate) fn of(network: Network) -> Self {
        Vgg16 { network }
    }

    /// The network, for what [`Network`] offers beyond this API (pooling, preprocessing).
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The network, owned.
    pub fn into_network(self) -> Network {
        self.network
    }

    /// Computes the forward passes as `compute` says (float32 NCHW, Keras's arithmetic, unless
    /// set; see [`crate::precision`]).
    pub fn with_compute(self, compute: Compute) -> Self {
        Vgg16::of(self.network.with_compute(compute))
    }

    /// Keras's `input_shape=(height, width, 3)`: the image size the model is built for (224x224
    /// unless set). Without the top any size of at least 32x32 works; with the top only
    /// 224x224.
    pub fn with_input_size(self, height: i64, width: i64) -> Result<Self> {
        Ok(Vgg16::of(self.network.with_input_size(height, width)?))
    }

    /// Whether the model has the top (`flatten`, `fc1`, `fc2`, `predictions`).
    pub fn include_top(&self) -> bool {
        self.network.include_top()
    }

    /// The shape of one input sample, NCHW without the batch axis (`[3, 224, 224]`).
    pub fn input_shape(&self) -> &[i64] {
        self.network.input_shape()
    }

    /// The layers in order.
    pub fn layers(&self) -> &[Layer] {
        self.network.layers()
    }

    /// The index of the layer called `name`.
    pub fn layer_index(&self, name: &str) -> Result<usize> {
        self.network.layer_index(name)
    }

    /// Runs the whole network on a batch of preprocessed images (NCHW). With the top the result
    /// is the 1000 ImageNet class probabilities of each image.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.network.forward(x)
    }

    /// Runs the network on images up to and including the layer `name`, e.g. `block4_pool`.
    pub fn forward_to(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        self.network.forward_to(x, name)
    }

    /// Runs the network from the layer `name` on, given that layer's input (the output of the
    /// layer before it, e.g. `block4_pool`'s for `block5_conv1`).
    pub fn forward_from(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        self.network.forward_from(x, name)
    }

    /// Keras's `conv_base.trainable = trainable` for every layer.
    pub fn set_all_trainable(&mut self, trainable: bool) {
        self.network.set_all_trainable(trainable);
    }

    /// Keras's `layer.trainable = trainable` for the layer `name`.
    pub fn set_trainable(&mut self, name: &str, trainable: bool) -> Result<()> {
        self.network.set_trainable(name, trainable)
    }

    /// Layers before `name` frozen, `name` and every later layer trainable: "train from
    /// block5_conv1 on" is `trainable_from("block5_conv1")`.
    pub fn trainable_from(&mut self, name: &str) -> Result<()> {
        self.network.trainable_from(name)
    }

    /// Every weight with its name (`"block1_conv1/kernel"`, ...), sharing storage with the
    /// model's own.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.network.named_parameters()
    }

    /// All parameters: 138,357,544 with the top, 14,714,688 without.
    pub fn count_params(&self) -> i64 {
        self.network.count_params()
    }

    /// Moves every weight to `device`.
    pub fn to(&mut self, device: Device) {
        self.network.to(device);
    }

    /// Keras's `conv_base.summary()`: the input layer, then every layer.
    pub fn summary(&self) -> Summary {
        self.network.summary()
    }
}

impl ConvBase for Vgg16 {
    fn into_stack(self) -> Stack {
        self.network.into_stack()
    }
}
