//! Keras's preprocessing layer `Rescaling`: the pixels scaled and shifted inside the model
//! (`Rescaling(1./255)`, `Rescaling(1./127.5, offset=-1)`).

use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::keras::{KerasConfig, KerasLayer, KerasRefusal};
use super::{Mode, Op};
use crate::error::Result;

/// `Rescaling(scale, offset)`: `x * scale + offset`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rescaling {
    /// The factor.
    pub scale: f64,
    /// Added after the factor.
    pub offset: f64,
}

impl Op for Rescaling {
    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        (self.scale.is_finite() && self.offset.is_finite()).then(|| input.to_vec())
    }

    fn expects(&self) -> String {
        format!(
            "a finite scale and offset (it has {} and {})",
            self.scale, self.offset
        )
    }

    fn run(&self, inputs: &[&Tensor], _: &[Tensor], _: Mode) -> Result<Tensor> {
        Ok(inputs[0]
            .f_mul_scalar(self.scale)?
            .f_add_scalar(self.offset)?)
    }
}

impl KerasLayer for Rescaling {
    fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        Ok(Rescaling {
            scale: config.number("scale", None)?,
            offset: config.number("offset", Some(0.0))?,
        })
    }

    fn keras_config(&self) -> std::result::Result<serde_json::Value, KerasRefusal> {
        Ok(serde_json::json!({"scale": self.scale, "offset": self.offset}))
    }
}
