//! One layer, Keras style: a name, a kind ([`LayerKind`]: `Conv2D`, `BatchNormalization`,
//! `Dense`, ...), the layers whose outputs it takes, its weights as libtorch tensors, and a
//! `trainable` flag. The same type serves the networks and the heads, so one forward loop runs
//! any range of layers.
//!
//! Activations are NCHW; see [`crate::model::layers`] for the weights' layouts.
//!
//! ```
//! use catsdogs::model::{Activation, Dense, Layer};
//! tch::manual_seed(0);
//! let dense = Layer::new("dense_1", Dense { inputs: 4, units: 2, activation: Activation::Relu }, tch::Device::Cpu);
//! assert_eq!(dense.count_params(), 4 * 2 + 2);
//! let y = dense.forward_t(&tch::Tensor::ones([3, 4], (tch::Kind::Float, tch::Device::Cpu)), false).unwrap();
//! assert_eq!(y.size(), [3, 2]);
//! ```

use tch::{Device, Kind, Tensor};

use super::layers::{Init, LayerKind, Mode, WeightSpec};
use crate::error::{Error, Result};
use crate::precision::Compute;

/// A layer as a network's table describes it, without weights: its name, what it computes,
/// and the layers it takes (empty: the previous one).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpec {
    /// Keras's name, e.g. `conv2_block1_1_conv`.
    pub name: String,
    /// What it computes.
    pub kind: LayerKind,
    /// The layers whose outputs it takes; empty means the previous layer's.
    pub inputs: Vec<String>,
}

/// A layer: name, kind, inputs, weights and `trainable` flag.
#[derive(Debug)]
pub struct Layer {
    name: String,
    kind: LayerKind,
    inputs: Vec<String>,
    weights: Vec<Tensor>,
    trainable: bool,
}

impl Layer {
    /// A new layer with Keras's default initialisation (see [`Init`]): `glorot_uniform`
    /// kernels, zero biases, and a batch normalisation that changes nothing. The numbers come
    /// from libtorch's CPU generator, so `tch::manual_seed` makes them the same on every
    /// device. Trainable; it takes the previous layer's output (see [`Layer::with_inputs`]).
    pub fn new(name: impl Into<String>, kind: impl Into<LayerKind>, device: Device) -> Self {
        let kind = kind.into();
        let (fan_in, fan_out) = kind.op().fan_in_out();
        let weights = kind
            .op()
            .weights()
            .into_iter()
            .map(|spec| {
                let cpu = (Kind::Float, Device::Cpu);
                let tensor = match spec.init {
                    Init::Glorot => {
                        let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
                        Tensor::zeros(&spec.shape, cpu).uniform(-limit, limit)
                    }
                    Init::Ones => Tensor::ones(&spec.shape, cpu),
                    Init::Zeros => Tensor::zeros(&spec.shape, cpu),
                };
                tensor.to_device(device)
            })
            .collect();
        Layer::assemble(name.into(), kind, weights)
    }

    /// The layer a table describes, with fresh weights as [`Layer::new`] makes them.
    pub fn from_spec(spec: LayerSpec, device: Device) -> Self {
        Layer::new(spec.name, spec.kind, device).with_inputs(spec.inputs)
    }

    /// A layer with the given weights (in [`LayerKind::weight_shapes`]'s order and shapes).
    /// A missing, extra or misshapen tensor is an error that names the layer and both shapes.
    pub fn with_weights(
        name: impl Into<String>,
        kind: impl Into<LayerKind>,
        weights: Vec<Tensor>,
    ) -> Result<Self> {
        let (name, kind) = (name.into(), kind.into());
        let expected = kind.op().weights();
        if weights.len() != expected.len() {
            let names: Vec<&str> = expected.iter().map(|w| w.name).collect();
            return Err(Error::WeightCount {
                layer: name,
                expected: expected.len(),
                names: names.join(", "),
                found: weights.len(),
            });
        }
        for (spec, tensor) in expected.iter().zip(&weights) {
            if tensor.size() != spec.shape {
                return Err(Error::WeightShape {
                    layer: name,
                    weight: spec.name.to_string(),
                    expected: spec.shape.clone(),
                    found: tensor.size(),
                });
            }
        }
        Ok(Layer::assemble(name, kind, weights))
    }

    fn assemble(name: String, kind: LayerKind, weights: Vec<Tensor>) -> Self {
        let mut layer = Layer {
            name,
            kind,
            inputs: Vec::new(),
            weights: weights
                .into_iter()
                .map(|t| t.to_kind(Kind::Float).detach())
                .collect(),
            trainable: true,
        };
        layer.set_trainable(true);
        layer
    }

    /// The same layer taking the outputs of the layers named `inputs` (in Keras, the layers it
    /// is called on) instead of the previous layer's: a branch, or an `Add`'s operands.
    ///
    /// ```
    /// use catsdogs::model::{Add, Layer};
    /// let add = Layer::new("block_2_add", Add {}, tch::Device::Cpu)
    ///     .with_inputs(["block_1_project_BN", "block_2_project_BN"]);
    /// assert_eq!(add.inputs(), ["block_1_project_BN", "block_2_project_BN"]);
    /// ```
    pub fn with_inputs<S: Into<String>>(mut self, inputs: impl IntoIterator<Item = S>) -> Self {
        self.inputs = inputs.into_iter().map(Into::into).collect();
        self
    }

    /// The layer's name, e.g. `block5_conv1` or `dense_1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the layer computes.
    pub fn kind(&self) -> &LayerKind {
        &self.kind
    }

    /// A copy with weights of its own (equal to these), the same inputs and `trainable` flag.
    pub fn copy(&self) -> Layer {
        let weights = self.weights.iter().map(Tensor::copy).collect();
        let mut layer = Layer::assemble(self.name.clone(), self.kind.clone(), weights)
            .with_inputs(self.inputs.clone());
        layer.set_trainable(self.trainable);
        layer
    }

    /// The layers whose outputs it takes; empty means the previous layer's (or the model's
    /// input for the first layer).
    pub fn inputs(&self) -> &[String] {
        &self.inputs
    }

    /// The weights in [`LayerKind::weight_shapes`]'s order (empty for layers without weights).
    pub fn weights(&self) -> &[Tensor] {
        &self.weights
    }

    /// Each weight with its specification.
    fn specified(&self) -> impl Iterator<Item = (WeightSpec, &Tensor)> {
        self.kind.op().weights().into_iter().zip(&self.weights)
    }

    /// The weights with their names, `"<layer>/kernel"`, `"<layer>/gamma"`, ... (shallow
    /// copies sharing storage with the layer's own).
    pub fn named_weights(&self) -> Vec<(String, Tensor)> {
        self.specified()
            .map(|(spec, t)| (format!("{}/{}", self.name, spec.name), t.shallow_clone()))
            .collect()
    }

    /// The weights that the optimizer updates: none if the layer is frozen, else all but a
    /// batch normalisation's moving statistics. Named as in [`Layer::named_weights`].
    pub fn trainable_weights(&self) -> Vec<(String, Tensor)> {
        if !self.trainable {
            return Vec::new();
        }
        self.specified()
            .filter(|(spec, _)| spec.trained)
            .map(|(spec, t)| (format!("{}/{}", self.name, spec.name), t.shallow_clone()))
            .collect()
    }

    /// Keras's `layer.trainable`.
    pub fn trainable(&self) -> bool {
        self.trainable
    }

    /// Sets Keras's `layer.trainable`; the weights' `requires_grad` follows it (never for
    /// moving statistics).
    pub fn set_trainable(&mut self, trainable: bool) {
        self.trainable = trainable;
        for (spec, tensor) in self.specified() {
            let _ = tensor.set_requires_grad(trainable && spec.trained);
        }
    }

    /// Number of weights (Keras's `count_params`).
    pub fn count_params(&self) -> i64 {
        self.weights.iter().map(Tensor::numel).sum::<usize>() as i64
    }

    /// Number of weights the optimizer updates (the summary's trainable parameters).
    pub fn count_trainable_params(&self) -> i64 {
        self.trainable_weights()
            .iter()
            .map(|(_, t)| t.numel())
            .sum::<usize>() as i64
    }

    /// Moves the weights to `device`, keeping `trainable`.
    pub fn move_to(&mut self, device: Device) {
        self.weights = self
            .weights
            .iter()
            .map(|t| t.to_device(device).detach())
            .collect();
        self.set_trainable(self.trainable);
    }

    /// Runs the layer on a batch (NCHW, or (batch, features) once flat) in float32. `train`
    /// turns dropout on (and batch statistics for a trainable batch normalisation). An input of
    /// the wrong size is an error naming the layer and both sizes.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.run(&[x], train, Compute::FP32)
    }

    /// Runs the layer on its inputs (one, or several for `Add`), computed as `compute` says:
    /// the input and the weights in its kind (the float32 weights are cast, so gradients reach
    /// them in float32) and layout. An input the layer cannot take (see
    /// [`Op::output_shape`](super::Op::output_shape)) is an error naming the layer, what it
    /// needs and the batch's shape.
    pub fn run(&self, inputs: &[&Tensor], train: bool, compute: Compute) -> Result<Tensor> {
        let size = inputs[0].size();
        let fits = size.len() >= 2
            && self.kind.op().output_shape(&size[1..]).is_some()
            && inputs.iter().all(|input| input.size() == size);
        if !fits {
            return Err(Error::Input {
                what: format!("layer {}", self.name),
                expected: self.kind.op().expects(),
                found: size,
            });
        }
        let mode = Mode {
            train,
            trainable: self.trainable,
            compute,
        };
        self.kind.op().run(inputs, &self.weights, mode)
    }
}
