//! Keras's `models.Sequential` and `layers`: the tutorial's model is the VGG16 conv base followed
//! by a small head, and is written the same way:
//!
//! ```
//! use catsdogs::model::{Activation, Sequential};
//! use catsdogs::vgg16::Vgg16;
//! let conv_base = Vgg16::new(false, tch::Device::Cpu);
//! let mut model = Sequential::new(conv_base)
//!     .flatten()
//!     .dropout(0.5)
//!     .dense(256, Activation::Relu)
//!     .dense(1, Activation::Sigmoid);
//! model.freeze_base();
//! let summary = model.summary();
//! assert_eq!(summary.total_params(), 21_137_729);
//! assert_eq!(summary.trainable_params(), 6_423_041);
//! ```
//!
//! The model is one list of [`Layer`]s in Keras's order (the base's, then the head's); a layer
//! takes the previous one's output unless it names the layers it takes (ResNet50's and
//! MobileNetV2's shortcuts). Any range of it that one tensor flows into runs with
//! [`Sequential::forward_range`]: a frozen prefix can run once and be cached, and the rest
//! trained on the cache.
//!
//! The parts: `kind` (what a layer computes, as data), `shape` (the shapes it gives and takes),
//! `ops` (the computation), `layer` (a layer with its weights), `graph` (how layers connect),
//! `stack` (layers and graph together), `summary` (Keras's table) and this file (Sequential).

mod graph;
mod kind;
mod layer;
mod ops;
mod shape;
mod stack;
mod summary;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

pub use kind::{Activation, LayerKind, Padding, Window};
pub use layer::{Layer, LayerSpec};
pub use stack::Stack;
pub use summary::Summary;
pub(crate) use summary::{keras_shape, Row};

use crate::error::{Error, Result};
use crate::precision::Compute;
use crate::tensor_file;

/// Runs `layers` (connected as their inputs say) on `x`, the model's input, up to layer
/// `end - 1`, in float32 with dropout off; each layer's output goes through `tap` (see
/// `Graph::run_tapped`). `model` names the model in messages. For layers that are not a
/// [`Stack`]'s, such as those of a model that Grad-CAM explains.
pub(crate) fn run_layers_tapped(
    layers: &[Layer],
    model: &str,
    x: &Tensor,
    end: usize,
    tap: &mut dyn FnMut(usize, Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let graph = graph::Graph::of(layers)
        .map_err(|why| Error::Options(format!("{model} cannot run: {why}")))?;
    graph.run_tapped(layers, model, x, 0..end, false, Compute::FP32, tap)
}

/// A network that a [`Sequential`] can start with, as the tutorial's starts with VGG16's conv
/// base: its layers, in order, with the shape of one input sample. [`crate::vgg16::Vgg16`]
/// and [`crate::applications::Network`] are ones.
pub trait ConvBase {
    /// The network as a stack of layers, named as Keras names the model (e.g. `vgg16`).
    fn into_stack(self) -> Stack;
}

/// Keras's `models.Sequential` whose first element is a conv base (a [`ConvBase`] such as
/// [`crate::vgg16::Vgg16`]).
#[derive(Debug)]
pub struct Sequential {
    stack: Stack,
    base_name: String,
    base_len: usize,
}

/// What [`Sequential::save`] writes beside the weights, to rebuild the model.
#[derive(Serialize, Deserialize)]
struct Architecture {
    name: String,
    input_shape: Vec<i64>,
    base_name: String,
    base_len: usize,
    layers: Vec<LayerConfig>,
}

#[derive(Serialize, Deserialize)]
struct LayerConfig {
    name: String,
    kind: LayerKind,
    trainable: bool,
    /// The layers it takes, when not the previous one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    inputs: Vec<String>,
}

const ARCHITECTURE_KEY: &str = "catsdogs.architecture";

impl Architecture {
    /// Checks a stored architecture's frame before any layer is built from it: an image input
    /// of sane size, at least one layer, and a base within the model. The layers are checked
    /// once built (see [`Stack::check`]).
    fn check(&self) -> Result<(), String> {
        let max = i64::from(crate::data::MAX_TARGET_SIDE);
        let side = |n: i64| (1..=max).contains(&n);
        if !matches!(self.input_shape[..], [3, h, w] if side(h) && side(w)) {
            return Err(format!(
                "its input shape {:?} is not 3 channels of 1 to {max} pixels a side",
                self.input_shape
            ));
        }
        if self.layers.is_empty() {
            return Err("it has no layers".into());
        }
        if self.base_len > self.layers.len() {
            return Err("its base is longer than the model".into());
        }
        Ok(())
    }
}

impl Sequential {
    /// `model = models.Sequential(); model.add(conv_base)`.
    pub fn new(conv_base: impl ConvBase) -> Self {
        let mut stack = conv_base.into_stack();
        let base_name = std::mem::replace(&mut stack.name, "sequential_1".to_string());
        Sequential {
            base_len: stack.layers.len(),
            base_name,
            stack,
        }
    }

    fn add(mut self, prefix: &str, kind: LayerKind) -> Self {
        let count = self.stack.layers[self.base_len..]
            .iter()
            .filter(|l| l.kind().class_name() == kind.class_name())
            .count();
        let device = self
            .stack
            .layers
            .iter()
            .find_map(|l| l.weights().first().map(Tensor::device))
            .unwrap_or(Device::Cpu);
        let name = format!("{prefix}_{}", count + 1);
        self.stack.push(Layer::new(name, kind, device));
        self
    }

    fn output_shape(&self) -> Vec<i64> {
        self.stack
            .output_shapes()
            .pop()
            .unwrap_or_else(|| self.stack.input_shape.clone())
    }

    /// `model.add(layers.Flatten())`, named `flatten_1`, `flatten_2`, ...
    pub fn flatten(self) -> Self {
        self.add("flatten", LayerKind::Flatten)
    }

    /// `model.add(layers.Dropout(rate))`, named `dropout_1`, ...
    pub fn dropout(self, rate: f64) -> Self {
        self.add("dropout", LayerKind::Dropout { rate })
    }

    /// `model.add(layers.Dense(units, activation=...))`, named `dense_1`, ..., initialised like
    /// Keras (see [`Layer::new`]; seed with `tch::manual_seed`). Its inputs are all features of
    /// the previous layer's output.
    pub fn dense(self, units: i64, activation: Activation) -> Self {
        let inputs = self.output_shape().iter().product();
        self.add(
            "dense",
            LayerKind::Dense {
                inputs,
                units,
                activation,
            },
        )
    }

    /// `conv_base.trainable = False`: every layer of the base frozen, the head unchanged.
    pub fn freeze_base(&mut self) {
        for layer in &mut self.stack.layers[..self.base_len] {
            layer.set_trainable(false);
        }
    }

    /// Fine-tuning as in the tutorial: layers before `name` frozen, `name` and every later layer
    /// (the rest of the base and the head) trainable.
    pub fn trainable_from(&mut self, name: &str) -> Result<()> {
        self.stack.trainable_from(name)
    }

    /// Sets one layer's `trainable` flag.
    pub fn set_trainable(&mut self, name: &str, trainable: bool) -> Result<()> {
        self.stack.set_trainable(name, trainable)
    }

    /// The layers, the base's first.
    pub fn layers(&self) -> &[Layer] {
        &self.stack.layers
    }

    /// How many of [`Sequential::layers`] belong to the conv base.
    pub fn base_len(&self) -> usize {
        self.base_len
    }

    /// The conv base's name as Keras names the model (`vgg16`, `resnet50`,
    /// `mobilenetv2_1.00_224`), which the summary's first row shows.
    pub fn base_name(&self) -> &str {
        &self.base_name
    }

    /// The index of the layer called `name` in [`Sequential::layers`].
    pub fn layer_index(&self, name: &str) -> Result<usize> {
        self.stack.layer_index(name)
    }

    /// The index of the first trainable layer: everything before it is frozen and can be
    /// computed once. `None` if the whole model is frozen.
    pub fn first_trainable(&self) -> Option<usize> {
        self.stack.layers.iter().position(Layer::trainable)
    }

    /// The shape of one input sample, NCHW without the batch axis (e.g. `[3, 224, 224]`).
    pub fn input_shape(&self) -> &[i64] {
        &self.stack.input_shape
    }

    /// The last index at or before `index` where a single tensor flows into the rest of the
    /// model, so that layers from there on can run on it alone: `index` itself in a chain of
    /// layers, the start of the residual block that holds it in ResNet50 or MobileNetV2.
    ///
    /// ```
    /// use catsdogs::applications::{Backbone, Network};
    /// let base = Network::new(Backbone::ResNet50, false, tch::Device::Cpu);
    /// let model = catsdogs::model::Sequential::new(base);
    /// let inside = model.layer_index("conv5_block1_2_conv").unwrap();
    /// assert_eq!(model.layers()[model.cut_before(inside)].name(), "conv5_block1_1_conv");
    /// ```
    pub fn cut_before(&self, index: usize) -> usize {
        self.stack.cut_before(index)
    }

    /// The shape of one sample of the tensor that flows into layer `index` (the input's for
    /// 0), where [`Sequential::cut_before`] is `index`.
    pub fn shape_into(&self, index: usize) -> Vec<i64> {
        self.stack.shape_into(index)
    }

    /// Runs the whole model on a batch of images (NCHW). `train` turns dropout on.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.stack
            .forward_range(x, 0..self.stack.layers.len(), train, Compute::FP32)
    }

    /// Runs layers `range` on `x`, the tensor that flows into layer `range.start` (for example
    /// a cached output of layer `range.start - 1`); an error if several do (a range that
    /// starts inside a residual block).
    pub fn forward_range(&self, x: &Tensor, range: Range<usize>, train: bool) -> Result<Tensor> {
        self.stack.forward_range(x, range, train, Compute::FP32)
    }

    /// The layers as a stack, which runs any range of them computed as a
    /// [`Compute`] says.
    pub(crate) fn stack(&self) -> &Stack {
        &self.stack
    }

    /// Every weight with its name (`"block1_conv1/kernel"`, `"dense_1/bias"`, ...), sharing
    /// storage with the model's own.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.stack.named_parameters(false)
    }

    /// The weights of trainable layers, named as in [`Sequential::named_parameters`]: what the
    /// optimiser updates.
    pub fn trainable_parameters(&self) -> Vec<(String, Tensor)> {
        self.stack.named_parameters(true)
    }

    /// A content hash (SHA-256, hex) of the kinds and weights of layers `range`: a cache key for
    /// their outputs.
    pub fn parameters_hash(&self, range: Range<usize>) -> Result<String> {
        self.stack.parameters_hash(range)
    }

    /// Moves every weight to `device`.
    pub fn to(&mut self, device: Device) {
        self.stack.move_to(device);
    }

    /// Keras's `model.summary()`: the base as one row (`vgg16 (Model)`), then the head's layers.
    pub fn summary(&self) -> Summary {
        let shapes = self.stack.output_shapes();
        let base = &self.stack.layers[..self.base_len];
        let mut rows = Vec::new();
        if !base.is_empty() {
            rows.push(Row::new(
                format!("{} (Model)", self.base_name),
                keras_shape(&shapes[self.base_len - 1]),
                (
                    base.iter().map(Layer::count_params).sum(),
                    base.iter().map(Layer::count_trainable_params).sum(),
                ),
            ));
        }
        rows.extend(self.stack.summary_rows(self.base_len));
        Summary::of_rows(&self.stack.name, rows, false)
    }

    /// Saves the weights and the architecture (layers, names, `trainable` flags) as one
    /// safetensors file, written atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let architecture = Architecture {
            name: self.stack.name.clone(),
            input_shape: self.stack.input_shape.clone(),
            base_name: self.base_name.clone(),
            base_len: self.base_len,
            layers: self
                .stack
                .layers
                .iter()
                .map(|l| LayerConfig {
                    name: l.name().to_string(),
                    kind: l.kind().clone(),
                    trainable: l.trainable(),
                    inputs: l.inputs().to_vec(),
                })
                .collect(),
        };
        let metadata = HashMap::from([(
            ARCHITECTURE_KEY.to_string(),
            serde_json::to_string(&architecture).expect("architectures serialise"),
        )]);
        tensor_file::write(path.as_ref(), &self.named_parameters(), metadata)
    }

    /// Loads a model written by [`Sequential::save`] onto `device`.
    pub fn load(path: impl AsRef<Path>, device: Device) -> Result<Self> {
        let path = path.as_ref();
        let (mut tensors, metadata) = tensor_file::read(path)?;
        let invalid = |why: String| Error::Architecture {
            path: path.display().to_string(),
            why,
        };
        let json = metadata
            .get(ARCHITECTURE_KEY)
            .ok_or_else(|| invalid(format!("no '{ARCHITECTURE_KEY}' entry")))?;
        let architecture: Architecture =
            serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
        architecture.check().map_err(invalid)?;
        let mut layers = Vec::with_capacity(architecture.layers.len());
        for config in architecture.layers {
            let weights = config
                .kind
                .weight_shapes()
                .iter()
                .map(|(weight, _)| {
                    let name = format!("{}/{weight}", config.name);
                    let tensor = tensors
                        .remove(&name)
                        .ok_or_else(|| invalid(format!("the tensor {name} is missing")))?;
                    tensor_file::weight(path, &name, tensor)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut layer =
                Layer::with_weights(config.name, config.kind, weights)?.with_inputs(config.inputs);
            layer.set_trainable(config.trainable);
            layers.push(layer);
        }
        let mut stack =
            Stack::new(architecture.name, architecture.input_shape, layers).map_err(invalid)?;
        stack.check().map_err(invalid)?;
        stack.move_to(device);
        Ok(Sequential {
            stack,
            base_name: architecture.base_name,
            base_len: architecture.base_len,
        })
    }
}
