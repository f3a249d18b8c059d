//! Keras's core layers: `Dense`, `Dropout`, `Activation` and `ReLU`, and the activation
//! functions that `Conv2D` and `Dense` end with.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tch::{Kind, Tensor};

use super::keras::{KerasConfig, KerasLayer, KerasRefusal};
use super::{Init, Mode, Op, WeightSpec};
use crate::error::Result;

/// The activation applied at the end of a `Conv2D` or `Dense` layer, as Keras's `activation=`,
/// or by an `Activation` layer.
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
    /// The activation Keras names `name` (`"relu"`), if this crate has it.
    pub fn from_keras(name: &str) -> Option<Self> {
        serde_json::from_value(json!(name)).ok()
    }

    /// Keras's name of the activation.
    pub fn keras_name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Softmax => "softmax",
        }
    }

    /// Applies the activation; sigmoid and softmax, which give the probabilities that the loss
    /// reads, always in float32.
    pub fn apply(self, x: Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Linear => x,
            Activation::Relu => x.f_relu()?,
            Activation::Sigmoid => x.f_to_kind(Kind::Float)?.f_sigmoid()?,
            Activation::Softmax => x.f_softmax(1, Kind::Float)?,
        })
    }

    /// [`apply`](Activation::apply) to a layer's own new output, which nothing else holds:
    /// ReLU in place, sparing a copy of the maps (the same values).
    pub(super) fn apply_to_new(self, mut x: Tensor) -> Result<Tensor> {
        match self {
            Activation::Relu => Ok(x.f_relu_()?),
            other => other.apply(x),
        }
    }
}

/// `Dense(units)` on `inputs` features, then `activation`. An input that is not flat yet is
/// flattened first (NCHW order).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// Features per sample of the input.
    pub inputs: i64,
    /// Features per sample of the output.
    pub units: i64,
    /// Applied after the affine map.
    pub activation: Activation,
}

impl Op for Dense {
    fn weights(&self) -> Vec<WeightSpec> {
        vec![
            WeightSpec::trained("kernel", vec![self.inputs, self.units], Init::Glorot),
            WeightSpec::trained("bias", vec![self.units], Init::Zeros),
        ]
    }

    fn fan_in_out(&self) -> (i64, i64) {
        (self.inputs, self.units)
    }

    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        let features = input.iter().product::<i64>();
        (self.units >= 1 && self.inputs >= 1 && features == self.inputs).then(|| vec![self.units])
    }

    fn expects(&self) -> String {
        format!(
            "{} features per sample, for {} units",
            self.inputs, self.units
        )
    }

    fn prepares_weights(&self) -> bool {
        true
    }

    fn run(&self, inputs: &[&Tensor], weights: &[Tensor], mode: Mode) -> Result<Tensor> {
        let x = inputs[0];
        let x = if x.dim() > 2 {
            x.f_flatten(1, -1)?
        } else {
            x.shallow_clone()
        };
        let [kernel, bias] = weights else {
            unreachable!("Layer::with_weights checks the number of weights");
        };
        let x = mode.compute.prepare(&x)?;
        self.activation.apply_to_new(bias.f_addmm(&x, kernel)?)
    }
}

/// `Dropout(rate)`: inverted dropout, active only in training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dropout {
    /// Fraction of the features zeroed, in [0, 1).
    pub rate: f64,
}

impl Op for Dropout {
    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        (0.0..1.0).contains(&self.rate).then(|| input.to_vec())
    }

    fn expects(&self) -> String {
        format!("a rate in [0, 1), not {}", self.rate)
    }

    fn run(&self, inputs: &[&Tensor], _: &[Tensor], mode: Mode) -> Result<Tensor> {
        Ok(inputs[0].f_dropout(self.rate, mode.train)?)
    }
}

/// `Activation(activation)` as a layer of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationLayer {
    /// The function applied.
    pub activation: Activation,
}

impl Op for ActivationLayer {
    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        Some(input.to_vec())
    }

    fn expects(&self) -> String {
        "any input".into()
    }

    fn run(&self, inputs: &[&Tensor], _: &[Tensor], _: Mode) -> Result<Tensor> {
        self.activation.apply(inputs[0].shallow_clone())
    }
}

/// `ReLU(max_value)`: `max(x, 0)`, capped at `max_value` when there is one (MobileNetV2's
/// `ReLU(6.)`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Relu {
    /// The cap, if any.
    pub max_value: Option<f64>,
}

impl Op for Relu {
    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        self.max_value
            .is_none_or(|cap| cap > 0.0)
            .then(|| input.to_vec())
    }

    fn expects(&self) -> String {
        format!("a positive max_value, not {:?}", self.max_value)
    }

    fn run(&self, inputs: &[&Tensor], _: &[Tensor], _: Mode) -> Result<Tensor> {
        Ok(match self.max_value {
            Some(cap) => inputs[0].f_clamp(0.0, cap)?,
            None => inputs[0].f_relu()?,
        })
    }
}

impl KerasLayer for Dense {
    fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        config.only("lora_rank", &[], "catsdogs's Dense has no LoRA")?;
        let yes = [Value::from(true)];
        config.only("use_bias", &yes, "catsdogs's Dense always has a bias")?;
        Ok(Dense {
            inputs: config.features()?,
            units: config.int("units", None)?,
            activation: config.activation()?,
        })
    }

    fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
        Ok(json!({
            "units": self.units,
            "activation": self.activation.keras_name(),
            "use_bias": true,
        }))
    }
}

impl KerasLayer for Dropout {
    fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        config.only(
            "noise_shape",
            &[],
            "catsdogs's Dropout drops each value on its own",
        )?;
        Ok(Dropout {
            rate: config.number("rate", None)?,
        })
    }

    fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
        Ok(json!({"rate": self.rate}))
    }
}

impl KerasLayer for ActivationLayer {
    fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        Ok(ActivationLayer {
            activation: config.activation()?,
        })
    }

    fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
        Ok(json!({"activation": self.activation.keras_name()}))
    }
}

impl KerasLayer for Relu {
    fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        let zero = [Value::from(0.0), Value::from(0)];
        config.only(
            "negative_slope",
            &zero,
            "catsdogs's ReLU has negative_slope=0 only",
        )?;
        config.only("threshold", &zero, "catsdogs's ReLU has threshold=0 only")?;
        let max_value = match config.get("max_value") {
            None => None,
            Some(_) => Some(config.number("max_value", None)?),
        };
        Ok(Relu { max_value })
    }

    fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
        Ok(json!({"max_value": self.max_value, "negative_slope": 0.0, "threshold": 0.0}))
    }
}
