//! The one model type, Keras's `Model`: layers in Keras's order connected as a graph, each with
//! its weights and `trainable` flag, and what `compile` gave it (optimizer, loss) and `fit` left
//! in it (its [`History`]). The applications ([`crate::applications`]: VGG16 and the others)
//! build one; [`Sequential::new`] starts the tutorial's model from one, and the head's layers
//! are added as Keras's `model.add(...)` adds them:
//!
//! ```
//! use catsdogs::applications::Backbone;
//! use catsdogs::model::{Activation, Sequential};
//! let conv_base = Backbone::Vgg16.application(false).build(tch::Device::Cpu)?;
//! let mut model = Sequential::new(&conv_base)
//!     .flatten()
//!     .dropout(0.5)
//!     .dense(256, Activation::Relu)
//!     .dense(1, Activation::Sigmoid);
//! model.freeze_base();
//! let summary = model.summary();
//! assert_eq!(summary.total_params(), 21_137_729);
//! assert_eq!(summary.trainable_params(), 6_423_041);
//! # Ok::<(), catsdogs::Error>(())
//! ```
//!
//! A layer takes the previous one's output unless it names the layers it takes (ResNet50's and
//! MobileNetV2's shortcuts). Any range of the model that one tensor flows into runs with
//! [`Model::forward_range`]: a frozen prefix can run once and be cached, and the rest trained
//! on the cache. Training itself (`fit`, `evaluate`, `predict`) is the training layer's view of
//! the same model ([`crate::train`]).
//!
//! The parts: `layers` (each kind of layer in one place: its weights, shapes, computation and
//! saved form), `layer` (a layer with its weights), `prepared` (its weights as a computation
//! takes them, kept while unchanged), `graph` (how layers connect, checked),
//! `run` (forward passes, precision, parameters), `saving` (the saved form, versioned),
//! `summary` (Keras's table) and this file (the model, its building and its flags).

mod graph;
mod layer;
pub mod layers;
mod prepared;
mod run;
mod saving;
mod summary;

use std::collections::BTreeMap;

use tch::Device;

pub use layer::{Layer, LayerSpec};
pub use layers::{
    Activation, ActivationLayer, Add, AveragePooling2d, BatchNormalization, Conv2d, Dense,
    DepthwiseConv2d, Dropout, Flatten, GlobalAveragePooling2d, GlobalMaxPooling2d, KerasConfig,
    KerasLayer, KerasRefusal, LayerKind, MaxPooling2d, Op, Padding, Relu, Rescaling, Window,
    ZeroPadding2d,
};
pub(crate) use summary::keras_shape;
pub use summary::Summary;

use graph::Graph;

use crate::data::Preprocess;
use crate::error::{Error, Result};
use crate::history::History;
use crate::losses::Loss;
use crate::optimizers::Optimizer;
use crate::precision::{Compute, Precision};

/// A model: its layers, how they connect, and what compile and fit gave it.
#[derive(Debug)]
pub struct Model {
    name: String,
    layers: Vec<Layer>,
    graph: Graph,
    /// A layer that the builder could not add (see [`Model::check`]).
    rejected: Option<Layer>,
    /// The model that a [`Sequential`] starts with, as Keras nests it: its name and how many of
    /// the first layers are its.
    base: Option<(String, usize)>,
    preprocess: Preprocess,
    precision: Precision,
    compute: Option<Compute>,
    compiled: Option<Compiled>,
    history: History,
    /// The class folders `fit` trained on, with their labels, which `evaluate` then expects.
    class_indices: Option<BTreeMap<String, u32>>,
}

/// What Keras's `compile` gives a model: the optimizer and the loss (accuracy is always
/// measured).
#[derive(Debug)]
pub struct Compiled {
    /// The update rule.
    pub optimizer: Box<dyn Optimizer>,
    /// The loss.
    pub loss: Loss,
    /// The optimizer's configuration as compiled, before callbacks change its learning rate:
    /// what a resumed run must share.
    pub compiled_with: String,
}

impl Model {
    /// The model `name` of `layers` for input samples of `input_shape` (`[3, height, width]`):
    /// an error naming the layer if one takes a layer that does not come before it, or an input
    /// it cannot take. Its images are not preprocessed (see [`Model::with_preprocess`]).
    pub fn new(name: impl Into<String>, input_shape: Vec<i64>, layers: Vec<Layer>) -> Result<Self> {
        let name = name.into();
        let graph = Graph::of(&name, &layers, &input_shape)?;
        Ok(Model {
            name,
            layers,
            graph,
            rejected: None,
            base: None,
            preprocess: Preprocess::None,
            precision: Precision::Fp32,
            compute: None,
            compiled: None,
            history: History::default(),
            class_indices: None,
        })
    }

    /// The same model, its images preprocessed as `preprocess` says (what its weights were
    /// trained on).
    pub fn with_preprocess(mut self, preprocess: Preprocess) -> Self {
        self.preprocess = preprocess;
        self
    }

    /// How images are preprocessed for this model's weights: Keras's `preprocess_input` of its
    /// network, or torchvision's for torchvision's weights; [`Preprocess::None`] unless set.
    pub fn preprocess(&self) -> Preprocess {
        self.preprocess
    }

    /// Keras's `model.name`: `vgg16`, `resnet50`, `sequential_1`, ...
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The layers, in Keras's order (a [`Sequential`]'s base's first).
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The shape of one input sample, NCHW without the batch axis (e.g. `[3, 224, 224]`).
    pub fn input_shape(&self) -> &[i64] {
        self.graph.input_shape()
    }

    /// The shape of one sample at the output of each layer.
    pub fn output_shapes(&self) -> &[Vec<i64>] {
        self.graph.output_shapes()
    }

    /// The shape of one sample of the model's output.
    pub fn output_shape(&self) -> &[i64] {
        self.output_shapes()
            .last()
            .map_or(self.input_shape(), Vec::as_slice)
    }

    /// The index of the layer called `name` in [`Model::layers`], or an error listing them.
    pub fn layer_index(&self, name: &str) -> Result<usize> {
        self.layers
            .iter()
            .position(|l| l.name() == name)
            .ok_or_else(|| Error::UnknownLayer {
                model: self.name.clone(),
                layer: name.to_string(),
                known: self.layers.iter().map(|l| l.name().to_string()).collect(),
            })
    }

    /// The layer called `name`.
    pub fn layer(&self, name: &str) -> Result<&Layer> {
        Ok(&self.layers[self.layer_index(name)?])
    }

    /// Whether every layer could be added: an error naming the one that could not (a builder
    /// method such as [`Model::dropout`] with a rate of 5 adds nothing and leaves it here).
    /// Every pass over the model checks it first.
    pub fn check(&self) -> Result<()> {
        match &self.rejected {
            None => Ok(()),
            Some(layer) => Err(self.graph.clone().push(&self.name, layer).expect_err(
                "a rejected layer is rejected again by the graph it was rejected from",
            )),
        }
    }

    /// Keras's `model.add(layer)`: `layer` after the others, taking the last one's output
    /// unless it names its inputs; one that cannot be added is kept aside for
    /// [`Model::check`] to report.
    #[allow(
        clippy::should_implement_trait,
        reason = "Keras's name; nothing is summed"
    )]
    pub fn add(mut self, layer: Layer) -> Self {
        if self.rejected.is_some() || self.graph.push(&self.name, &layer).is_err() {
            self.rejected.get_or_insert(layer);
        } else {
            self.layers.push(layer);
        }
        self
    }

    /// Adds a layer of `kind` named as Keras names unnamed layers of the head: `prefix_N` for
    /// the N-th of its class after the base. Its weights go to the model's device.
    fn add_named(self, prefix: &str, kind: LayerKind) -> Self {
        let start = self.base_len();
        let count = self.layers[start..]
            .iter()
            .filter(|l| l.kind().class_name() == kind.class_name())
            .count();
        let layer = Layer::new(format!("{prefix}_{}", count + 1), kind, self.device());
        self.add(layer)
    }

    /// `model.add(layers.Flatten())`, named `flatten_1`, `flatten_2`, ...
    pub fn flatten(self) -> Self {
        self.add_named("flatten", Flatten {}.into())
    }

    /// `model.add(layers.Dropout(rate))`, named `dropout_1`, ...
    pub fn dropout(self, rate: f64) -> Self {
        self.add_named("dropout", Dropout { rate }.into())
    }

    /// `model.add(layers.Dense(units, activation=...))`, named `dense_1`, ..., initialised like
    /// Keras (see [`Layer::new`]; seed with `tch::manual_seed`). Its inputs are all features of
    /// the previous layer's output.
    pub fn dense(self, units: i64, activation: Activation) -> Self {
        let inputs = self.output_shape().iter().product();
        let kind = Dense {
            inputs,
            units,
            activation,
        };
        self.add_named("dense", kind.into())
    }

    /// How many of the first layers belong to the model a [`Sequential`] started with (0 for
    /// other models).
    pub fn base_len(&self) -> usize {
        self.base.as_ref().map_or(0, |(_, len)| *len)
    }

    /// The name of the model a [`Sequential`] started with, as Keras names it (`vgg16`,
    /// `resnet50`, `mobilenetv2_1.00_224`); the model's own name for other models.
    pub fn base_name(&self) -> &str {
        self.base.as_ref().map_or(&self.name, |(name, _)| name)
    }

    /// Keras's `layer.trainable = trainable` for the layer `name`.
    pub fn set_trainable(&mut self, name: &str, trainable: bool) -> Result<()> {
        let index = self.layer_index(name)?;
        self.layers[index].set_trainable(trainable);
        Ok(())
    }

    /// Keras's `model.trainable = trainable`: every layer.
    pub fn set_all_trainable(&mut self, trainable: bool) {
        for layer in &mut self.layers {
            layer.set_trainable(trainable);
        }
    }

    /// `conv_base.trainable = False` for a [`Sequential`]'s base: its layers frozen, the head's
    /// unchanged.
    pub fn freeze_base(&mut self) {
        let len = self.base_len();
        for layer in &mut self.layers[..len] {
            layer.set_trainable(false);
        }
    }

    /// Fine-tuning as in the tutorial: layers before `name` frozen, `name` and every later
    /// layer trainable ("train from block5_conv1 on" is `trainable_from("block5_conv1")`).
    pub fn trainable_from(&mut self, name: &str) -> Result<()> {
        let start = self.layer_index(name)?;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.set_trainable(i >= start);
        }
        Ok(())
    }

    /// The index of the first trainable layer: everything before it is frozen and can be
    /// computed once. `None` if the whole model is frozen.
    pub fn first_trainable(&self) -> Option<usize> {
        self.layers.iter().position(Layer::trainable)
    }

    /// Computes in `precision` from now on (see [`crate::precision`]). A new model computes in
    /// float32, channels-last on the CPU (as the command line does unless asked otherwise).
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
        self.compute = None;
    }

    /// The same model, computing in `precision`.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.set_precision(precision);
        self
    }

    /// Computes exactly as `compute` says, whatever the device (for comparisons and tests,
    /// e.g. bf16 on a CPU without bf16 hardware, or fp32 in NCHW); overrides the precision.
    pub fn with_compute(mut self, compute: Compute) -> Self {
        self.compute = Some(compute);
        self
    }

    /// The precision asked for.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Keras's `model.compile(optimizer, loss, metrics=['acc'])`: the model will train with
    /// `optimizer` (fresh state) and `loss`. Compile again after changing which layers are
    /// trainable, as in Keras.
    pub fn compile(&mut self, optimizer: impl Optimizer + 'static, loss: Loss) {
        self.compile_boxed(Box::new(optimizer), loss);
    }

    /// [`compile`](Model::compile) with an optimizer chosen at run time (as a saved model's
    /// training config names it).
    pub fn compile_boxed(&mut self, optimizer: Box<dyn Optimizer>, loss: Loss) {
        self.compiled = Some(Compiled {
            compiled_with: optimizer.config(),
            optimizer,
            loss,
        });
    }

    /// What [`compile`](Model::compile) gave the model, or an error saying to compile it.
    pub fn compiled(&self) -> Result<&Compiled> {
        self.compiled.as_ref().ok_or_else(|| Error::NotCompiled {
            model: self.name.clone(),
        })
    }

    /// [`compiled`](Model::compiled), to change (the optimizer's learning rate, its state).
    pub fn compiled_mut(&mut self) -> Result<&mut Compiled> {
        let name = self.name.clone();
        self.compiled
            .as_mut()
            .ok_or(Error::NotCompiled { model: name })
    }

    /// Keras's `model.history`: the epochs of the last `fit`, also when it was stopped.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The class folders the last `fit` trained on, with their labels (Keras's
    /// `class_indices` of its flow).
    pub fn class_indices(&self) -> Option<&BTreeMap<String, u32>> {
        self.class_indices.as_ref()
    }

    /// Records the class folders `fit` trains on.
    pub(crate) fn set_class_indices(&mut self, classes: BTreeMap<String, u32>) {
        self.class_indices = Some(classes);
    }

    /// The history, for `fit` to extend.
    pub(crate) fn history_mut(&mut self) -> &mut History {
        &mut self.history
    }

    /// The device that holds the weights (the CPU for a model without weights).
    pub fn device(&self) -> Device {
        self.layers
            .iter()
            .find_map(|l| l.weights().first().map(tch::Tensor::device))
            .unwrap_or(Device::Cpu)
    }

    /// Moves every weight to `device`.
    pub fn to(&mut self, device: Device) {
        for layer in &mut self.layers {
            layer.move_to(device);
        }
    }
}

/// Keras's `models.Sequential` whose first element is a model (the tutorial's conv base).
pub struct Sequential;

impl Sequential {
    /// `model = models.Sequential(); model.add(conv_base)`: a model named `sequential_1` that
    /// starts with a copy of `conv_base`'s layers (shown as one row in its summary, as Keras
    /// shows a nested model) and preprocesses images and computes as it does; add the head's
    /// layers to it with [`Model::flatten`], [`Model::dropout`] and [`Model::dense`]. The copy
    /// leaves `conv_base` as it is, so a notebook cell that builds the model runs again.
    #[allow(clippy::new_ret_no_self, reason = "Keras's Sequential() makes a Model")]
    pub fn new(conv_base: &Model) -> Model {
        let layers: Vec<Layer> = conv_base.layers.iter().map(Layer::copy).collect();
        Sequential::nest("sequential_1", conv_base, layers)
    }

    /// `Sequential([base], name=name)` taking `base` itself, its weights moved rather than
    /// copied: how a saved Sequential with a nested model loads
    /// ([`crate::weights::load_model`]).
    pub fn of(name: impl Into<String>, mut base: Model) -> Model {
        let layers = std::mem::take(&mut base.layers);
        Sequential::nest(name, &base, layers)
    }

    /// The Sequential `name` of `layers`, which are `base`'s (or copies of them).
    fn nest(name: impl Into<String>, base: &Model, layers: Vec<Layer>) -> Model {
        Model {
            name: name.into(),
            base: Some((base.name.clone(), layers.len())),
            layers,
            graph: base.graph.clone(),
            rejected: None,
            preprocess: base.preprocess,
            precision: base.precision,
            compute: base.compute,
            compiled: None,
            history: History::default(),
            class_indices: None,
        }
    }
}
