//! Layers that only move values: Keras's `Flatten` (each sample's features in one row, in NCHW
//! order) and `ZeroPadding2D`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tch::Tensor;

use super::keras::{KerasConfig, KerasLayer, KerasRefusal};
use super::window::MAX_WINDOW;
use super::{Mode, Op};
use crate::error::Result;

/// `Flatten()`: each sample's features in one row, in NCHW (channel-major) order, so a `Dense`
/// after it reads features in that order; weights from Keras, which flattens NHWC, are permuted
/// on import.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flatten {}

impl Op for Flatten {
    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        Some(vec![input.iter().product()])
    }

    fn expects(&self) -> String {
        "any input".into()
    }

    fn run(&self, inputs: &[&Tensor], _: &[Tensor], _: Mode) -> Result<Tensor> {
        Ok(inputs[0].f_flatten(1, -1)?)
    }
}

/// `ZeroPadding2D(((top, bottom), (left, right)))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZeroPadding2d {
    /// Rows of zeros above and below, columns left and right.
    pub padding: [i64; 4],
}

impl Op for ZeroPadding2d {
    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        let [top, bottom, left, right] = self.padding;
        let sane = self.padding.iter().all(|p| (0..=MAX_WINDOW).contains(p));
        match input {
            [c, h, w] if sane => Some(vec![*c, h + top + bottom, w + left + right]),
            _ => None,
        }
    }

    fn expects(&self) -> String {
        format!(
            "maps, padded by 0 to {MAX_WINDOW} zeros a side (it asks for {:?})",
            self.padding
        )
    }

    fn run(&self, inputs: &[&Tensor], _: &[Tensor], _: Mode) -> Result<Tensor> {
        let [top, bottom, left, right] = self.padding;
        Ok(inputs[0].f_constant_pad_nd([left, right, top, bottom])?)
    }
}

impl KerasLayer for Flatten {
    fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        config.channels_last().map(|()| Flatten {})
    }

    fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
        Ok(json!({"data_format": "channels_last"}))
    }
}

impl KerasLayer for ZeroPadding2d {
    /// Keras's `padding`: `n` on every side, `(rows, columns)`, or `((top, bottom), (left,
    /// right))`.
    fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        config.channels_last()?;
        let value = config.get("padding").cloned().unwrap_or(json!(1));
        let sides: Option<Vec<Vec<i64>>> = match &value {
            Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    Value::Array(pair) => pair.iter().map(Value::as_i64).collect(),
                    other => other.as_i64().map(|n| vec![n, n]),
                })
                .collect(),
            other => other.as_i64().map(|n| vec![vec![n, n], vec![n, n]]),
        };
        match sides.as_deref() {
            Some([rows, columns]) if rows.len() == 2 && columns.len() == 2 => Ok(ZeroPadding2d {
                padding: [rows[0], rows[1], columns[0], columns[1]],
            }),
            _ => Err(KerasRefusal::Value {
                key: "padding".to_string(),
                value,
                instead: "catsdogs reads n, (rows, columns) or ((top, bottom), (left, right))",
            }),
        }
    }

    fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
        let [top, bottom, left, right] = self.padding;
        Ok(json!({"padding": [[top, bottom], [left, right]], "data_format": "channels_last"}))
    }
}
