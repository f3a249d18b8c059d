//! The layer kinds' Keras configs, read and written: each kind implements [`KerasLayer`] in
//! its own file (what its Keras class's config means, which of its weights Keras's layer
//! saves), over the typed reading of a config that every kind shares here. A config that asks
//! for what a kind does not compute (`groups=2`, `padding='causal'`, channels first, unequal
//! strides) is refused with a phrase that says so, never read as something else.
//!
//! ```
//! use catsdogs::model::{Activation, Dense, KerasConfig, KerasLayer};
//! let config = serde_json::json!({"name": "dense_1", "units": 256, "activation": "relu"});
//! let dense = Dense::from_keras(&KerasConfig::new(&config, &[512])?)?;
//! assert_eq!(dense, Dense { inputs: 512, units: 256, activation: Activation::Relu });
//! let maps = KerasConfig::new(&config, &[512, 7, 7])?;
//! assert!(Dense::from_keras(&maps).unwrap_err().starts_with("takes maps of (None, 7, 7, 512)"));
//! # Ok::<(), String>(())
//! ```

use serde_json::{Map, Value};

use super::core::Activation;
use super::window::Padding;
use crate::model::summary::keras_shape;

/// What a kind of layer is in Keras: read from a Keras config, written as one.
pub trait KerasLayer: Sized {
    /// The kind that Keras's `config` describes, for the input the config's layer takes; a
    /// phrase saying what this kind lacks otherwise (`has groups=2, where catsdogs's Conv2D
    /// has groups=1 only`).
    fn from_keras(config: &KerasConfig) -> Result<Self, String>;

    /// The kind's own keys of Keras's config (the caller adds `name`, `trainable` and
    /// `dtype`); a phrase saying why Keras has no such layer, where it has none.
    fn keras_config(&self) -> Result<Value, String>;
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
    pub fn new(config: &'a Value, input: &'a [i64]) -> Result<Self, String> {
        let config = config
            .as_object()
            .ok_or_else(|| format!("has the config {config}, which is not a JSON object"))?;
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
    pub fn channels(&self) -> Result<i64, String> {
        match self.input {
            [channels, _, _] => Ok(*channels),
            _ => Err(format!(
                "takes {}, which are not maps (None, height, width, channels)",
                keras_shape(self.input)
            )),
        }
    }

    /// The input's features, if it is flat.
    pub fn features(&self) -> Result<i64, String> {
        match self.input {
            [features] => Ok(*features),
            _ => Err(format!(
                "takes maps of {}, where catsdogs runs it on flat features only (Keras would run it at each position): put a Flatten or a GlobalAveragePooling2D before it",
                keras_shape(self.input)
            )),
        }
    }

    /// The value of `key` as `read` reads it (`what` it is, in words), `default` when
    /// missing.
    fn typed<T>(
        &self,
        key: &str,
        default: Option<T>,
        read: fn(&'a Value) -> Option<T>,
        what: &str,
    ) -> Result<T, String> {
        match self.get(key) {
            None => default.ok_or_else(|| format!("has no {key}")),
            Some(value) => {
                read(value).ok_or_else(|| format!("has {key}={value}, where catsdogs reads {what}"))
            }
        }
    }

    /// The value of `key` as a number, `default` when missing.
    pub fn number(&self, key: &str, default: Option<f64>) -> Result<f64, String> {
        self.typed(key, default, Value::as_f64, "one number")
    }

    /// The value of `key` as a whole number, `default` when missing.
    pub fn int(&self, key: &str, default: Option<i64>) -> Result<i64, String> {
        self.typed(key, default, Value::as_i64, "one whole number")
    }

    /// The value of `key` as true or false, `default` when missing.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, String> {
        self.typed(key, Some(default), Value::as_bool, "true or false")
    }

    /// The value of `key` as text, `default` when missing.
    pub fn text(&self, key: &str, default: &'a str) -> Result<&'a str, String> {
        self.typed(key, Some(default), Value::as_str, "a name")
    }

    /// A window's side or step: one number, or a pair of equal ones (`[3, 3]`), `default`
    /// when missing.
    pub fn square(&self, key: &str, default: Option<i64>) -> Result<i64, String> {
        let Some(value) = self.get(key) else {
            return default.ok_or_else(|| format!("has no {key}"));
        };
        let pair: Option<Vec<i64>> = match value {
            Value::Array(items) => items.iter().map(Value::as_i64).collect(),
            other => other.as_i64().map(|n| vec![n, n]),
        };
        match pair.as_deref() {
            Some([a, b]) if a == b => Ok(*a),
            Some([_, _]) => Err(format!(
                "has {key}={value}, where catsdogs runs square windows, equal strides and equal dilations only"
            )),
            _ => Err(format!(
                "has {key}={value}, where catsdogs reads a number or a pair"
            )),
        }
    }

    /// Keras's `activation` (linear when missing).
    pub fn activation(&self) -> Result<Activation, String> {
        let Some(value) = self.get("activation") else {
            return Ok(Activation::Linear);
        };
        // Keras 3 may write a built-in function as {"class_name": "function", "config": "relu"}.
        let name = value
            .as_str()
            .or_else(|| value.get("config").and_then(Value::as_str));
        name.and_then(Activation::from_keras).ok_or_else(|| {
            format!(
                "has the activation {value}, where catsdogs has linear, relu, sigmoid and softmax"
            )
        })
    }

    /// Keras's `padding`, 'valid' or 'same'.
    pub fn padding(&self) -> Result<Padding, String> {
        match self.text("padding", "valid")? {
            "valid" => Ok(Padding::Valid),
            "same" => Ok(Padding::Same),
            other => Err(format!(
                "has padding '{other}', where catsdogs runs 'valid' and 'same'"
            )),
        }
    }

    /// An error unless `key` is missing or one of `allowed`: an option this crate does not
    /// compute (`why`, e.g. "catsdogs's Conv2D has groups=1 only").
    pub fn only(&self, key: &str, allowed: &[Value], why: &str) -> Result<(), String> {
        match self.get(key) {
            Some(value) if !allowed.contains(value) => {
                Err(format!("has {key}={value}, where {why}"))
            }
            _ => Ok(()),
        }
    }

    /// An error unless the layer's data is channels last, as Keras's is by default.
    pub fn channels_last(&self) -> Result<(), String> {
        self.only(
            "data_format",
            &[Value::from("channels_last")],
            "catsdogs reads channels-last models only",
        )
    }
}

/// Keras's `padding` of a window: `"valid"` or `"same"`; PyTorch's symmetric padding has no
/// Keras name.
pub(super) fn padding_name(padding: Padding) -> Result<&'static str, String> {
    match padding {
        Padding::Valid => Ok("valid"),
        Padding::Same => Ok("same"),
        Padding::Symmetric(n) => Err(format!(
            "pads {n} zeros on every side (PyTorch's padding={n}), which Keras's padding cannot say"
        )),
    }
}
