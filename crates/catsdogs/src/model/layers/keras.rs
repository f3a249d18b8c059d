//! The layer kinds' Keras configs, read and written: each kind implements [`KerasLayer`] in
//! its own file (what its Keras class's config means, which of its weights Keras's layer
//! saves), over the typed reading of a config that every kind shares here. A config that asks
//! for what a kind does not compute (`groups=2`, `padding='causal'`, channels first, unequal
//! strides) is refused with a phrase that says so, never read as something else.
//!
//! ```
//! use catsdogs::model::{Activation, Dense, KerasConfig, KerasLayer, KerasRefusal};
//! let config = serde_json::json!({"name": "dense_1", "units": 256, "activation": "relu"});
//! let dense = Dense::from_keras(&KerasConfig::new(&config, &[512])?)?;
//! assert_eq!(dense, Dense { inputs: 512, units: 256, activation: Activation::Relu });
//! let maps = KerasConfig::new(&config, &[512, 7, 7])?;
//! assert_eq!(Dense::from_keras(&maps), Err(KerasRefusal::NotFlat(vec![512, 7, 7])));
//! # Ok::<(), KerasRefusal>(())
//! ```

use serde_json::{Map, Value};

use super::core::Activation;
use super::window::Padding;
use crate::model::summary::keras_shape;

/// What a kind of layer is in Keras: read from a Keras config, written as one.
pub trait KerasLayer: Sized {
    /// The kind that Keras's `config` describes, for the input the config's layer takes; what
    /// this kind lacks otherwise (`has groups=2, where catsdogs's Conv2D has groups=1 only`).
    fn from_keras(config: &KerasConfig) -> Result<Self, KerasRefusal>;

    /// The kind's own keys of Keras's config (the caller adds `name`, `trainable` and
    /// `dtype`); why Keras has no such layer, where it has none.
    fn keras_config(&self) -> Result<Value, KerasRefusal>;
}

/// Why a layer's Keras config cannot be read as one of this crate's kinds, or a kind cannot be
/// written as Keras's config. It reads as a phrase about the layer (`has groups=2, where
/// catsdogs's Conv2D has groups=1 only`), which the caller completes with the file and the
/// layer ([`crate::Error::KerasLayer`], [`crate::Error::KerasExport`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum KerasRefusal {
    /// The config is not a JSON object.
    #[error("has the config {0}, which is not a JSON object")]
    NotAnObject(Value),
    /// A layer that takes maps was given another input (its shape, in this crate's layout).
    #[error("takes {}, which are not maps (None, height, width, channels)", keras_shape(.0))]
    NotMaps(Vec<i64>),
    /// A layer that this crate runs on flat features only was given maps.
    #[error("takes maps of {}, where catsdogs runs it on flat features only (Keras would run it at each position): put a Flatten or a GlobalAveragePooling2D before it", keras_shape(.0))]
    NotFlat(Vec<i64>),
    /// A key that the config needs is missing.
    #[error("has no {0}")]
    Missing(String),
    /// A key with a value that this crate does not read, or does not compute.
    #[error("has {key}={value}, where {instead}")]
    Value {
        /// The key.
        key: String,
        /// Its value.
        value: Value,
        /// What this crate reads or computes, e.g. `catsdogs's Conv2D has groups=1 only`.
        instead: &'static str,
    },
    /// An activation that this crate does not have.
    #[error("has the activation {0}, where catsdogs has linear, relu, sigmoid and softmax")]
    Activation(Value),
    /// A padding other than 'valid' and 'same'.
    #[error("has padding '{0}', where catsdogs runs 'valid' and 'same'")]
    Padding(String),
    /// A depthwise convolution that ends in an activation.
    #[error("ends in the activation {0}, where catsdogs's DepthwiseConv2D has none: put an Activation layer after it")]
    DepthwiseActivation(Value),
    /// A batch normalisation over another axis than the channels.
    #[error(
        "normalises over the axis {0}, where catsdogs normalises over the channels (axis -1) only"
    )]
    Axis(Value),
    /// PyTorch's symmetric padding of `n` zeros, which Keras's `padding` cannot say.
    #[error(
        "pads {0} zeros on every side (PyTorch's padding={0}), which Keras's padding cannot say"
    )]
    SymmetricPadding(i64),
}

/// A layer's Keras config, with the shape of one sample of its (first) input in this crate's
/// layout (`[channels, height, width]` or `[features]`), read key by key.
#[derive(Clone, Copy, Debug)]
pub struct KerasConfig<'a> {
    config: &'a Map<String, Value>,
    input: &'a [i64],
}

impl<'a> KerasConfig<'a> {
    /// The config `config` (a JSON object) of a layer whose input samples have shape `input`.
    pub fn new(config: &'a Value, input: &'a [i64]) -> Result<Self, KerasRefusal> {
        let config = config
            .as_object()
            .ok_or_else(|| KerasRefusal::NotAnObject(config.clone()))?;
        Ok(KerasConfig { config, input })
    }

    /// The value of `key`; `None` when it is missing or null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.config.get(key).filter(|v| !v.is_null())
    }

    /// The shape of one sample of the input, in this crate's layout.
    pub fn input(&self) -> &'a [i64] {
        self.input
    }

    /// The input's channels, if it is maps.
    pub fn channels(&self) -> Result<i64, KerasRefusal> {
        match self.input {
            [channels, _, _] => Ok(*channels),
            _ => Err(KerasRefusal::NotMaps(self.input.to_vec())),
        }
    }

    /// The input's features, if it is flat.
    pub fn features(&self) -> Result<i64, KerasRefusal> {
        match self.input {
            [features] => Ok(*features),
            _ => Err(KerasRefusal::NotFlat(self.input.to_vec())),
        }
    }

    /// The value of `key` as `read` reads it (`instead` says what that is, in words),
    /// `default` when missing.
    fn typed<T>(
        &self,
        key: &str,
        default: Option<T>,
        read: fn(&'a Value) -> Option<T>,
        instead: &'static str,
    ) -> Result<T, KerasRefusal> {
        match self.get(key) {
            None => default.ok_or_else(|| KerasRefusal::Missing(key.to_string())),
            Some(value) => read(value).ok_or_else(|| KerasRefusal::Value {
                key: key.to_string(),
                value: value.clone(),
                instead,
            }),
        }
    }

    /// The value of `key` as a number, `default` when missing.
    pub fn number(&self, key: &str, default: Option<f64>) -> Result<f64, KerasRefusal> {
        self.typed(key, default, Value::as_f64, "catsdogs reads one number")
    }

    /// The value of `key` as a whole number, `default` when missing.
    pub fn int(&self, key: &str, default: Option<i64>) -> Result<i64, KerasRefusal> {
        self.typed(
            key,
            default,
            Value::as_i64,
            "catsdogs reads one whole number",
        )
    }

    /// The value of `key` as true or false, `default` when missing.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, KerasRefusal> {
        self.typed(
            key,
            Some(default),
            Value::as_bool,
            "catsdogs reads true or false",
        )
    }

    /// The value of `key` as text, `default` when missing.
    pub fn text(&self, key: &str, default: &'a str) -> Result<&'a str, KerasRefusal> {
        self.typed(key, Some(default), Value::as_str, "catsdogs reads a name")
    }

    /// A window's side or step: one number, or a pair of equal ones (`[3, 3]`), `default`
    /// when missing.
    pub fn square(&self, key: &str, default: Option<i64>) -> Result<i64, KerasRefusal> {
        let Some(value) = self.get(key) else {
            return default.ok_or_else(|| KerasRefusal::Missing(key.to_string()));
        };
        let pair: Option<Vec<i64>> = match value {
            Value::Array(items) => items.iter().map(Value::as_i64).collect(),
            other => other.as_i64().map(|n| vec![n, n]),
        };
        let instead = match pair.as_deref() {
            Some([a, b]) if a == b => return Ok(*a),
            Some([_, _]) => "catsdogs runs square windows, equal strides and equal dilations only",
            _ => "catsdogs reads a number or a pair",
        };
        Err(KerasRefusal::Value {
            key: key.to_string(),
            value: value.clone(),
            instead,
        })
    }

    /// Keras's `activation` (linear when missing).
    pub fn activation(&self) -> Result<Activation, KerasRefusal> {
        let Some(value) = self.get("activation") else {
            return Ok(Activation::Linear);
        };
        // Keras 3 may write a built-in function as {"class_name": "function", "config": "relu"}.
        let name = value
            .as_str()
            .or_else(|| value.get("config").and_then(Value::as_str));
        name.and_then(Activation::from_keras)
            .ok_or_else(|| KerasRefusal::Activation(value.clone()))
    }

    /// Keras's `padding`, 'valid' or 'same'.
    pub fn padding(&self) -> Result<Padding, KerasRefusal> {
        match self.text("padding", "valid")? {
            "valid" => Ok(Padding::Valid),
            "same" => Ok(Padding::Same),
            other => Err(KerasRefusal::Padding(other.to_string())),
        }
    }

    /// An error unless `key` is missing or one of `allowed`: an option this crate does not
    /// compute (`instead` says what it computes, e.g. "catsdogs's Conv2D has groups=1 only").
    pub fn only(
        &self,
        key: &str,
        allowed: &[Value],
        instead: &'static str,
    ) -> Result<(), KerasRefusal> {
        match self.get(key) {
            Some(value) if !allowed.contains(value) => Err(KerasRefusal::Value {
                key: key.to_string(),
                value: value.clone(),
                instead,
            }),
            _ => Ok(()),
        }
    }

    /// An error unless the layer's data is channels last, as Keras's is by default.
    pub fn channels_last(&self) -> Result<(), KerasRefusal> {
        self.only(
            "data_format",
            &[Value::from("channels_last")],
            "catsdogs reads channels-last models only",
        )
    }
}

/// Keras's `padding` of a window: `"valid"` or `"same"`; PyTorch's symmetric padding has no
/// Keras name.
pub(super) fn padding_name(padding: Padding) -> Result<&'static str, KerasRefusal> {
    match padding {
        Padding::Valid => Ok("valid"),
        Padding::Same => Ok("same"),
        Padding::Symmetric(n) => Err(KerasRefusal::SymmetricPadding(n)),
    }
}
