//! Keras's `BatchNormalization` over the channels: with its moving statistics outside training
//! or when frozen (TensorFlow 2's Keras), with the batch's in training, moving its statistics
//! toward them.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tch::{Kind, Tensor};

use super::keras::{KerasConfig, KerasLayer, KerasRefusal};
use super::{Init, Mode, Op, WeightSpec};
use crate::error::Result;

/// `BatchNormalization(epsilon, momentum)` over the channels. A frozen one, or any one outside
/// training, normalises with its moving statistics; a trainable one in training normalises with
/// the batch's and updates the moving ones.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNormalization {
    /// Channels of the input.
    pub channels: i64,
    /// Added to the variance before its square root.
    pub epsilon: f64,
    /// How much of the moving statistics each training step keeps.
    pub momentum: f64,
}

impl Op for BatchNormalization {
    fn weights(&self) -> Vec<WeightSpec> {
        let shape = vec![self.channels];
        let statistic = |name, init| WeightSpec {
            trained: false,
            ..WeightSpec::trained(name, shape.clone(), init)
        };
        vec![
            WeightSpec::trained("gamma", shape.clone(), Init::Ones),
            WeightSpec::trained("beta", shape.clone(), Init::Zeros),
            statistic("moving_mean", Init::Zeros),
            statistic("moving_variance", Init::Ones),
        ]
    }

    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        let sane = self.epsilon > 0.0 && (0.0..=1.0).contains(&self.momentum);
        (sane && self.channels >= 1 && input.first() == Some(&self.channels))
            .then(|| input.to_vec())
    }

    fn expects(&self) -> String {
        format!(
            "inputs of {} channels, with an epsilon above 0 and a momentum in [0, 1] (it has {} and {})",
            self.channels, self.epsilon, self.momentum
        )
    }

    /// Batch normalisation over axis 1. With batch statistics it normalises with the batch's
    /// mean and (biased) variance, as Keras does in training, and moves the moving statistics
    /// toward them by `1 - momentum`; otherwise with the moving statistics. cuDNN and oneDNN
    /// take reduced-precision inputs with float32 parameters.
    fn run(&self, inputs: &[&Tensor], weights: &[Tensor], mode: Mode) -> Result<Tensor> {
        let [gamma, beta, mean, variance] = weights else {
            unreachable!("Layer::with_weights checks the number of weights");
        };
        let x = mode.compute.prepare(inputs[0])?;
        if !(mode.train && mode.trainable) {
            return Ok(x.f_batch_norm(
                Some(gamma),
                Some(beta),
                Some(mean),
                Some(variance),
                false,
                0.0,
                self.epsilon,
                true,
            )?);
        }
        let y = x.f_batch_norm(
            Some(gamma),
            Some(beta),
            None::<&Tensor>,
            None::<&Tensor>,
            true,
            0.0,
            self.epsilon,
            true,
        )?;
        let _guard = tch::no_grad_guard();
        let axes: Vec<i64> = (0..x.dim() as i64).filter(|&axis| axis != 1).collect();
        let (batch_variance, batch_mean) = x
            .f_detach()?
            .f_to_kind(Kind::Float)?
            .f_var_mean_correction(axes.as_slice(), 0, false)?;
        for (moving, batch) in [(mean, batch_mean), (variance, batch_variance)] {
            let moved = (moving * self.momentum) + (batch * (1.0 - self.momentum));
            moving.shallow_clone().f_copy_(&moved)?;
        }
        Ok(y)
    }
}

impl KerasLayer for BatchNormalization {
    /// Over the channels (the last axis of Keras's maps, or the features).
    fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        let last = config.input().len() as i64;
        let axis = config.get("axis").cloned().unwrap_or(json!(-1));
        let axes: Vec<Value> = vec![json!(-1), json!(last), json!([-1]), json!([last])];
        if !axes.contains(&axis) {
            return Err(KerasRefusal::Axis(axis));
        }
        config.only(
            "renorm",
            &[Value::from(false)],
            "catsdogs has no batch renormalisation",
        )?;
        let yes = [Value::from(true)];
        let why = "catsdogs's BatchNormalization always has its center and scale";
        config.only("center", &yes, why)?;
        config.only("scale", &yes, why)?;
        Ok(BatchNormalization {
            channels: *config.input().first().unwrap_or(&0),
            epsilon: config.number("epsilon", Some(1e-3))?,
            momentum: config.number("momentum", Some(0.99))?,
        })
    }

    fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
        Ok(json!({
            "axis": -1,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": true,
            "scale": true,
        }))
    }
}
