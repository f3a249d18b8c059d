//! Keras 2.2's `optimizers.RMSprop`, written out: for each trainable weight `w` with gradient `g`
//! and accumulator `a` (zeros at first),
//!
//! ```text
//! a = rho * a + (1 - rho) * g^2
//! w = w - lr * g / (sqrt(a) + epsilon)
//! ```
//!
//! with `rho = 0.9` and `epsilon = 1e-7`, and the `lr` given honoured. This is libtorch's
//! `RMSprop(alpha=0.9, eps=1e-7)` too. (Current tf_keras ignores `lr=` and puts `epsilon` inside
//! the square root; that is not what the tutorial ran.) The accumulators are named after the
//! weights, so they can be saved in a checkpoint and restored.
//!
//! ```
//! use catsdogs::train::RMSprop;
//! use tch::{Kind, Tensor};
//! let w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
//! let params = vec![("w".to_string(), w.shallow_clone())];
//! (&w * 3.0).sum(Kind::Float).backward(); // g = 3
//! let mut rmsprop = RMSprop::new(0.01);
//! rmsprop.step(&params).unwrap();
//! // a = 0.1 * 9 = 0.9; w = 1 - 0.01 * 3 / (sqrt(0.9) + 1e-7)
//! let expected = 1.0 - 0.01 * 3.0 / (0.9f64.sqrt() + 1e-7);
//! assert!((w.double_value(&[0]) - expected).abs() < 1e-7);
//! ```

use std::collections::BTreeMap;

use tch::{Device, Tensor};

use crate::error::Result;

/// Keras's `RMSprop(lr)`: learning rate, decay `rho` of the squared-gradient average, and
/// `epsilon` added to its square root.
#[derive(Debug)]
pub struct RMSprop {
    /// The learning rate (the tutorial's 2e-5, then 1e-5).
    pub lr: f64,
    /// Decay of the running average of squared gradients (0.9).
    pub rho: f64,
    /// Added to the root of the average, outside it (1e-7).
    pub epsilon: f64,
    accumulators: BTreeMap<String, Tensor>,
}

impl RMSprop {
    /// `optimizers.RMSprop(lr=lr)` with Keras 2.2's `rho = 0.9` and `epsilon = 1e-7`.
    pub fn new(lr: f64) -> Self {
        RMSprop {
            lr,
            rho: 0.9,
            epsilon: 1e-7,
            accumulators: BTreeMap::new(),
        }
    }

    /// One update of every weight in `params` (named as by
    /// [`crate::model::Sequential::trainable_parameters`]) from the gradient that the last
    /// backward pass left in it. A weight without a gradient is left alone.
    pub fn step(&mut self, params: &[(String, Tensor)]) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for (name, weight) in params {
            let grad = weight.f_grad()?;
            if !grad.defined() {
                continue;
            }
            let accumulator = match self.accumulators.get_mut(name) {
                Some(a) => a,
                None => {
                    let zeros = weight.f_zeros_like()?;
                    self.accumulators.entry(name.clone()).or_insert(zeros)
                }
            };
            let _ = accumulator.f_mul_scalar_(self.rho)?;
            let _ = accumulator.f_add_(&grad.f_square()?.f_mul_scalar(1.0 - self.rho)?)?;
            let denominator = accumulator.f_sqrt()?.f_add_scalar(self.epsilon)?;
            let update = grad.f_div(&denominator)?.f_mul_scalar(self.lr)?;
            let _ = weight.shallow_clone().f_sub_(&update)?;
        }
        Ok(())
    }

    /// The accumulators by weight name, for a checkpoint (on the weights' device).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.accumulators
            .iter()
            .map(|(name, a)| (name.clone(), a.shallow_clone()))
            .collect()
    }

    /// Restores accumulators saved from [`RMSprop::state`], moved to `device`.
    pub fn load_state(&mut self, state: Vec<(String, Tensor)>, device: Device) -> Result<()> {
        self.accumulators = state
            .into_iter()
            .map(|(name, a)| Ok((name, a.f_to_device(device)?)))
            .collect::<Result<_>>()?;
        Ok(())
    }

    /// Refuses a learning rate that is not a positive number, before training starts.
    pub(crate) fn check(&self) -> Result<()> {
        if self.lr.is_finite() && self.lr > 0.0 {
            return Ok(());
        }
        Err(super::Error::Options(format!(
            "the learning rate {} is not a positive number: give {} such as 2e-5",
            self.lr,
            crate::console::hint("--lr", "RMSprop::new(lr)")
        )))
    }

    /// How the optimizer was configured, e.g. `RMSprop(lr=2e-5, rho=0.9, epsilon=1e-7)`.
    pub fn config(&self) -> String {
        format!(
            "RMSprop(lr={:e}, rho={}, epsilon={:e})",
            self.lr, self.rho, self.epsilon
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::OptimizerConfig;
    use tch::Kind;

    /// libtorch's own RMSprop with alpha 0.9 and eps 1e-7 is the same formula: three steps of
    /// both on the same weights and gradients agree to float rounding.
    #[test]
    fn matches_libtorch_rmsprop() {
        tch::manual_seed(1);
        let init = Tensor::randn([4, 3], (Kind::Float, Device::Cpu));
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let theirs = vs.root().var_copy("w", &init);
        let mut torch_opt = tch::nn::RmsProp {
            alpha: 0.9,
            eps: 1e-7,
            wd: 0.0,
            momentum: 0.0,
            centered: false,
        }
        .build(&vs, 0.01)
        .unwrap();
        let ours = init.copy().set_requires_grad(true);
        let params = vec![("w".to_string(), ours.shallow_clone())];
        let mut rmsprop = RMSprop::new(0.01);
        for step in 0..3 {
            let target = Tensor::randn([4, 3], (Kind::Float, Device::Cpu));
            let loss = |w: &Tensor| (w - &target).square().sum(Kind::Float) * (step + 1) as f64;
            torch_opt.zero_grad();
            loss(&theirs).backward();
            torch_opt.step();
            ours.shallow_clone().zero_grad();
            loss(&ours).backward();
            rmsprop.step(&params).unwrap();
        }
        let difference = (&ours - &theirs).abs().max().double_value(&[]);
        assert!(difference < 1e-6, "differs by {difference}");
        assert!((&ours - &init).abs().min().double_value(&[]) > 1e-3);
    }

    #[test]
    fn first_step_moves_each_weight_by_lr_over_root_of_one_minus_rho() {
        // a = 0.1 g^2, so g / sqrt(a) = sign(g) / sqrt(0.1), whatever the gradient's size.
        let w = Tensor::from_slice(&[0.0f32, 0.0]).set_requires_grad(true);
        (&w * Tensor::from_slice(&[0.1f32, -50.0]))
            .sum(Kind::Float)
            .backward();
        let mut rmsprop = RMSprop::new(2e-5);
        rmsprop.step(&[("w".into(), w.shallow_clone())]).unwrap();
        let step = 2e-5 / 0.1f64.sqrt();
        assert!((w.double_value(&[0]) + step).abs() < 1e-9);
        assert!((w.double_value(&[1]) - step).abs() < 1e-9);
        assert_eq!(rmsprop.state()[0].0, "w");
    }
}
