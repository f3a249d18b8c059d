//! One layer, Keras style: a name, a kind (`Conv2D`, `MaxPooling2D`, `Flatten`, `Dense`,
//! `Dropout`), its weights as libtorch tensors, and a `trainable` flag. The same type serves the
//! VGG16 base and the head, so one forward loop runs any range of layers.
//!
//! One concept in one file (over 400 lines with its examples): the layer kinds, their shapes,
//! initialisation, checks and forward pass.
//!
//! Weight layouts (what [`Layer::weights`] holds, and what saved files hold):
//! - `Conv2D`: `kernel` of shape (filters, in_channels, 3, 3), libtorch's OIHW; `bias` (filters).
//! - `Dense`: `kernel` of shape (inputs, units), as in Keras; `bias` (units).
//!
//! Activations are NCHW. `Flatten` flattens NCHW (channel-major), so a `Dense` after it reads
//! features in that order; weights from Keras, which flattens NHWC, are permuted on import.
//!
//! ```
//! use catsdogs::model::{Activation, Layer, LayerKind};
//! tch::manual_seed(0);
//! let dense = Layer::new("dense_1", LayerKind::Dense { inputs: 4, units: 2, activation: Activation::Relu }, tch::Device::Cpu);
//! assert_eq!(dense.count_params(), 4 * 2 + 2);
//! let y = dense.forward_t(&tch::Tensor::ones([3, 4], (tch::Kind::Float, tch::Device::Cpu)), false).unwrap();
//! assert_eq!(y.size(), [3, 2]);
//! ```

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::precision::Compute;

/// The activation applied at the end of a `Conv2D` or `Dense` layer, as Keras's `activation=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// None: the layer's affine output as is.
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// Exponentials normalised over the features of each sample.
    Softmax,
}

impl Activation {
    /// Applies the activation; sigmoid and softmax, which give the probabilities that the loss
    /// reads, always in float32.
    fn apply(self, x: Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Linear => x,
            Activation::Relu => x.f_relu()?,
            Activation::Sigmoid => x.f_to_kind(Kind::Float)?.f_sigmoid()?,
            Activation::Softmax => x.f_softmax(1, Kind::Float)?,
        })
    }
}

/// What a layer computes. Sizes are those needed to know the weights' shapes without a forward
/// pass, so that a model can be rebuilt from this description alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// `Conv2D(filters, (3, 3), padding='same')` over `in_channels` input channels, stride 1.
    Conv2d {
        /// Channels of the input.
        in_channels: i64,
        /// Channels of the output.
        filters: i64,
        /// Applied after the convolution.
        activation: Activation,
    },
    /// `MaxPooling2D((2, 2), strides=(2, 2))`, padding 'valid' (odd sizes round down).
    MaxPool2d,
    /// `Flatten()`: each sample's features in one row, in NCHW order.
    Flatten,
    /// `Dense(units)` on `inputs` features. An input that is not flat yet is flattened first.
    Dense {
        /// Features per sample of the input.
        inputs: i64,
        /// Features per sample of the output.
        units: i64,
        /// Applied after the affine map.
        activation: Activation,
    },
    /// `Dropout(rate)`: inverted dropout, active only in training.
    Dropout {
        /// Fraction of the features zeroed, in [0, 1).
        rate: f64,
    },
}

impl LayerKind {
    /// Keras's class name for the summary: `Conv2D`, `MaxPooling2D`, `Flatten`, `Dense`,
    /// `Dropout`.
    pub fn class_name(&self) -> &'static str {
        match self {
            LayerKind::Conv2d { .. } => "Conv2D",
            LayerKind::MaxPool2d => "MaxPooling2D",
            LayerKind::Flatten => "Flatten",
            LayerKind::Dense { .. } => "Dense",
            LayerKind::Dropout { .. } => "Dropout",
        }
    }

    /// The weights' names and shapes, in Keras's order (`kernel`, then `bias`), in this crate's
    /// layout (see the module's documentation). Empty for layers without weights.
    ///
    /// ```
    /// use catsdogs::model::{Activation, LayerKind};
    /// let conv = LayerKind::Conv2d { in_channels: 3, filters: 64, activation: Activation::Relu };
    /// assert_eq!(conv.weight_shapes(), vec![("kernel", vec![64, 3, 3, 3]), ("bias", vec![64])]);
    /// ```
    pub fn weight_shapes(&self) -> Vec<(&'static str, Vec<i64>)> {
        match *self {
            LayerKind::Conv2d {
                in_channels,
                filters,
                ..
            } => vec![
                ("kernel", vec![filters, in_channels, 3, 3]),
                ("bias", vec![filters]),
            ],
            LayerKind::Dense { inputs, units, .. } => {
                vec![("kernel", vec![inputs, units]), ("bias", vec![units])]
            }
            LayerKind::MaxPool2d | LayerKind::Flatten | LayerKind::Dropout { .. } => vec![],
        }
    }

    /// The shape of one sample of the output, given one sample of the input (NCHW without the
    /// batch axis: `[channels, height, width]`, or `[features]` once flat).
    pub fn output_shape(&self, input: &[i64]) -> Vec<i64> {
        match *self {
            LayerKind::Conv2d { filters, .. } => {
                let mut shape = input.to_vec();
                if let Some(channels) = shape.first_mut() {
                    *channels = filters;
                }
                shape
            }
            LayerKind::MaxPool2d => input
                .iter()
                .enumerate()
                .map(|(axis, &size)| if axis == 0 { size } else { size / 2 })
                .collect(),
            LayerKind::Flatten => vec![input.iter().product()],
            LayerKind::Dense { units, .. } => vec![units],
            LayerKind::Dropout { .. } => input.to_vec(),
        }
    }

    /// Whether this layer can take samples of shape `input` and its sizes are sane: positive
    /// sizes within what the weights readers accept, a dropout rate in [0, 1), maps at least 2x2
    /// before a pooling. A sentence saying what is wrong otherwise.
    ///
    /// ```
    /// use catsdogs::model::LayerKind;
    /// assert!(LayerKind::Dropout { rate: 0.5 }.check_input(&[10]).is_ok());
    /// assert!(LayerKind::Dropout { rate: 5.0 }.check_input(&[10]).is_err());
    /// assert!(LayerKind::MaxPool2d.check_input(&[64, 1, 1]).is_err());
    /// ```
    pub fn check_input(&self, input: &[i64]) -> Result<(), String> {
        let elements = |shape: &[i64]| crate::tensor_file::checked_elements(shape);
        match *self {
            LayerKind::Conv2d {
                in_channels,
                filters,
                ..
            } => {
                elements(&[filters, in_channels, 3, 3])?;
                if in_channels < 1 || filters < 1 {
                    return Err(format!(
                        "a convolution of {in_channels} to {filters} channels"
                    ));
                }
                match input {
                    [channels, _, _] if *channels == in_channels => Ok(()),
                    _ => Err(format!(
                        "a convolution over {in_channels} channels gets samples of shape {input:?}"
                    )),
                }
            }
            LayerKind::MaxPool2d => match input {
                [_, height, width] if *height >= 2 && *width >= 2 => Ok(()),
                _ => Err(format!("a 2x2 pooling gets samples of shape {input:?}")),
            },
            LayerKind::Flatten => Ok(()),
            LayerKind::Dense { inputs, units, .. } => {
                elements(&[inputs, units])?;
                let features = input.iter().product::<i64>();
                if units < 1 || inputs != features {
                    return Err(format!(
                        "a dense layer of {inputs} inputs and {units} units gets samples of {features} features"
                    ));
                }
                Ok(())
            }
            LayerKind::Dropout { rate } => {
                if (0.0..1.0).contains(&rate) {
                    Ok(())
                } else {
                    Err(format!("a dropout rate of {rate}, outside [0, 1)"))
                }
            }
        }
    }

    fn fan_in_out(&self) -> (i64, i64) {
        match *self {
            LayerKind::Conv2d {
                in_channels,
                filters,
                ..
            } => (9 * in_channels, 9 * filters),
            LayerKind::Dense { inputs, units, .. } => (inputs, units),
            _ => (0, 0),
        }
    }
}

/// A layer: name, kind, weights and `trainable` flag.
#[derive(Debug)]
pub struct Layer {
    name: String,
    kind: LayerKind,
    weights: Vec<Tensor>,
    trainable: bool,
}

impl Layer {
    /// A new layer with Keras's default initialisation: `glorot_uniform` kernels (uniform in
    /// ±sqrt(6 / (fan_in + fan_out))) and zero biases. The numbers come from libtorch's CPU
    /// generator, so `tch::manual_seed` makes them the same on every device. Trainable.
    pub fn new(name: impl Into<String>, kind: LayerKind, device: Device) -> Self {
        let (fan_in, fan_out) = kind.fan_in_out();
        let weights = kind
            .weight_shapes()
            .into_iter()
            .map(|(weight, shape)| {
                let tensor = Tensor::zeros(&shape, (Kind::Float, Device::Cpu));
                let tensor = if weight == "kernel" {
                    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
                    tensor.uniform(-limit, limit)
                } else {
                    tensor
                };
                tensor.to_device(device)
            })
            .collect();
        Layer::assemble(name.into(), kind, weights)
    }

    /// A layer with the given weights (in [`LayerKind::weight_shapes`]'s order and shapes).
    /// A missing, extra or misshapen tensor is an error that names the layer and both shapes.
    pub fn with_weights(
        name: impl Into<String>,
        kind: LayerKind,
        weights: Vec<Tensor>,
    ) -> Result<Self> {
        let name = name.into();
        let expected = kind.weight_shapes();
        if weights.len() != expected.len() {
            return Err(Error::WeightCount {
                layer: name,
                expected: expected.len(),
                found: weights.len(),
            });
        }
        for ((weight, shape), tensor) in expected.iter().zip(&weights) {
            if tensor.size() != *shape {
                return Err(Error::WeightShape {
                    layer: name,
                    weight: weight.to_string(),
                    expected: shape.clone(),
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
            weights: weights
                .into_iter()
                .map(|t| t.to_kind(Kind::Float).detach())
                .collect(),
            trainable: true,
        };
        layer.set_trainable(true);
        layer
    }

    /// The layer's name, e.g. `block5_conv1` or `dense_1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the layer computes.
    pub fn kind(&self) -> &LayerKind {
        &self.kind
    }

    /// The weights, `kernel` then `bias` (empty for layers without weights).
    pub fn weights(&self) -> &[Tensor] {
        &self.weights
    }

    /// The weights with their names, `"<layer>/kernel"` and `"<layer>/bias"` (shallow copies
    /// sharing storage with the layer's own).
    pub fn named_weights(&self) -> Vec<(String, Tensor)> {
        self.kind
            .weight_shapes()
            .iter()
            .zip(&self.weights)
            .map(|((weight, _), t)| (format!("{}/{weight}", self.name), t.shallow_clone()))
            .collect()
    }

    /// Keras's `layer.trainable`.
    pub fn trainable(&self) -> bool {
        self.trainable
    }

    /// Sets Keras's `layer.trainable`; the weights' `requires_grad` follows it.
    pub fn set_trainable(&mut self, trainable: bool) {
        self.trainable = trainable;
        for weight in &self.weights {
            let _ = weight.set_requires_grad(trainable);
        }
    }

    /// Number of weights (Keras's `count_params`).
    pub fn count_params(&self) -> i64 {
        self.weights.iter().map(Tensor::numel).sum::<usize>() as i64
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
    /// turns dropout on. An input of the wrong size is an error naming the layer and both sizes.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_with(x, train, Compute::FP32)
    }

    /// [`forward_t`](Self::forward_t) computed as `compute` says: the input and the weights in
    /// its kind (the float32 weights are cast, so gradients reach them in float32) and layout.
    pub fn forward_with(&self, x: &Tensor, train: bool, compute: Compute) -> Result<Tensor> {
        match (&self.kind, self.weights.as_slice()) {
            (
                LayerKind::Conv2d {
                    in_channels,
                    activation,
                    ..
                },
                [kernel, bias],
            ) => {
                let size = x.size();
                if size.len() != 4 || size[1] != *in_channels {
                    return Err(
                        self.input_error(format!("NCHW input with {in_channels} channels"), &size)
                    );
                }
                let (x, kernel) = (compute.prepare(x)?, compute.prepare(kernel)?);
                let bias = compute.prepare(bias)?;
                let y = x.f_conv2d(&kernel, Some(&bias), [1, 1], [1, 1], [1, 1], 1)?;
                activation.apply(y)
            }
            (LayerKind::MaxPool2d, []) => {
                let size = x.size();
                if size.len() != 4 || size[2] < 2 || size[3] < 2 {
                    return Err(self.input_error("NCHW input of at least 2x2".into(), &size));
                }
                Ok(x.f_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)?)
            }
            (LayerKind::Flatten, []) => Ok(x.f_flatten(1, -1)?),
            (
                LayerKind::Dense {
                    inputs, activation, ..
                },
                [kernel, bias],
            ) => {
                let x = if x.dim() > 2 {
                    x.f_flatten(1, -1)?
                } else {
                    x.shallow_clone()
                };
                let size = x.size();
                if size.len() != 2 || size[1] != *inputs {
                    return Err(
                        self.input_error(format!("input with {inputs} features per sample"), &size)
                    );
                }
                let (x, kernel) = (compute.prepare(&x)?, compute.prepare(kernel)?);
                activation.apply(compute.prepare(bias)?.f_addmm(&x, &kernel)?)
            }
            (LayerKind::Dropout { rate }, []) => Ok(x.f_dropout(*rate, train)?),
            _ => unreachable!("Layer::with_weights checks the number of weights"),
        }
    }

    fn input_error(&self, expected: String, found: &[i64]) -> crate::Error {
        Error::Input {
            what: format!("layer {}", self.name),
            expected,
            found: found.to_vec(),
        }
    }
}
