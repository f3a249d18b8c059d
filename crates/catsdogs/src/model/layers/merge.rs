//! Keras's `Add`: the sum of two or more inputs of one shape (a residual block's shortcut and
//! its last convolution).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tch::Tensor;

use super::keras::{KerasConfig, KerasLayer, KerasRefusal};
use super::{Mode, Op};
use crate::error::Result;

/// `Add()`: the sum of its inputs, which have one shape (the graph checks it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Add {}

impl Op for Add {
    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        Some(input.to_vec())
    }

    fn expects(&self) -> String {
        "two or more inputs of one shape".into()
    }

    fn inputs(&self) -> (usize, Option<usize>) {
        (2, None)
    }

    fn run(&self, inputs: &[&Tensor], _: &[Tensor], _: Mode) -> Result<Tensor> {
        let mut sum = inputs[0].shallow_clone();
        for input in &inputs[1..] {
            sum = sum.f_add(input)?;
        }
        Ok(sum)
    }
}

impl KerasLayer for Add {
    fn from_keras(_: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        Ok(Add {})
    }

    fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
        Ok(json!({}))
    }
}
