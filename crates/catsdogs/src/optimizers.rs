//! Keras 2.2's optimizers, written out, behind one [`Optimizer`] trait, so that a notebook swaps
//! the optimizer in one line, as Keras users do: `model.compile(Adam::new(1e-4), ...)`. For each
//! trainable weight `w` with gradient `g`:
//!
//! One idea in one file (over 400 lines with its tests against Keras's rules): the optimizers.
//!
//! ```text
//! RMSprop(lr, rho = 0.9, epsilon = 1e-7), accumulator a (zeros at first):
//!     a = rho * a + (1 - rho) * g^2
//!     w = w - lr * g / (sqrt(a) + epsilon)
//! Adam(lr, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7), moments m and v, step t from 1:
//!     lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
//!     m = beta_1 * m + (1 - beta_1) * g
//!     v = beta_2 * v + (1 - beta_2) * g^2
//!     w = w - lr_t * m / (sqrt(v) + epsilon)
//! SGD(lr, momentum = 0, nesterov = false), velocity u:
//!     u = momentum * u - lr * g
//!     w = w + u                            (nesterov: w = w + momentum * u - lr * g)
//! ```
//!
//! `lr` is honoured as given. (Current tf_keras ignores `lr=` and puts RMSprop's `epsilon` inside
//! the square root; that is not what the tutorial ran.) The state (accumulators, moments, the
//! step count) is named after the weights, so a checkpoint saves and restores it exactly.
//!
//! Each optimizer also reads and writes Keras's config of it ([`from_keras`],
//! [`Optimizer::keras_config`]) and says how Keras's files name its state
//! ([`Optimizer::keras_state`]), so that a Keras model file's compiled optimizer carries on here
//! and ours in Keras.
//!
//! ```
//! use catsdogs::optimizers::{Optimizer, RMSprop};
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

use serde_json::{json, Value};
use tch::{Device, Tensor};

use crate::error::{Error, Result};

/// What `compile` takes: an update rule of the weights from their gradients, with a state that
/// checkpoints save.
pub trait Optimizer: std::fmt::Debug {
    /// One update of every weight in `params` (named as by
    /// [`crate::model::Model::trainable_parameters`]) from the gradient that the last
    /// backward pass left in it. A weight without a gradient is left alone.
    fn step(&mut self, params: &[(String, Tensor)]) -> Result<()>;

    /// The state by name, for a checkpoint (on the weights' device).
    fn state(&self) -> Vec<(String, Tensor)>;

    /// Restores a state saved from [`state`](Self::state), moved to `device`.
    fn load_state(&mut self, state: Vec<(String, Tensor)>, device: Device) -> Result<()>;

    /// How it was configured, e.g. `RMSprop(lr=2e-5, rho=0.9, epsilon=1e-7)`: a resumed run
    /// must use the same.
    fn config(&self) -> String;

    /// The learning rate.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate, as Keras's callbacks set `model.optimizer.lr`.
    fn set_learning_rate(&mut self, lr: f64);

    /// Keras's class name and config of this optimizer: `("RMSprop", {"learning_rate": 2e-5,
    /// "rho": 0.9, ...})`, which [`from_keras`] reads back.
    fn keras_config(&self) -> (&'static str, Value);

    /// How Keras's files name this optimizer's state.
    fn keras_state(&self) -> KerasState;
}

/// How Keras's files hold an optimizer's state: per trainable weight, its slots in Keras's order
/// (tf_keras's name of each, with the suffix of its name in [`Optimizer::state`] after the
/// weight's: RMSprop's `velocity` is `"block5_conv1/kernel"` itself, Adam's `m` and `v` are
/// `".../m"` and `".../v"`), and where the step count Keras calls `iteration` goes, if this
/// optimizer counts steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KerasState {
    /// (tf_keras's slot name, suffix of the name here), in Keras's order.
    pub slots: &'static [(&'static str, &'static str)],
    /// The name in [`Optimizer::state`] of the step count.
    pub iterations: Option<&'static str>,
}

/// The optimizer that Keras's `class_name` (`RMSprop`, tf_keras's `Custom>RMSprop`, `Adam`,
/// `SGD`) and `config` describe; what this crate lacks when it has no such optimizer (a
/// schedule for the learning rate, `amsgrad`, `centered`, clipping, weight decay).
///
/// ```
/// use catsdogs::optimizers::{from_keras, Optimizer};
/// let config = serde_json::json!({"learning_rate": 1e-4, "rho": 0.9, "epsilon": 1e-7});
/// let rmsprop = from_keras("Custom>RMSprop", &config).unwrap();
/// assert_eq!(rmsprop.config(), "RMSprop(lr=1e-4, rho=0.9, epsilon=1e-7)");
/// assert_eq!(rmsprop.keras_config().1["learning_rate"], 1e-4);
/// let amsgrad = serde_json::json!({"learning_rate": 1e-3, "amsgrad": true});
/// let refusal = from_keras("Adam", &amsgrad).unwrap_err();
/// assert_eq!(refusal.to_string(), "Adam with amsgrad=true, which catsdogs's Adam does not have");
/// ```
pub fn from_keras(
    class_name: &str,
    config: &Value,
) -> std::result::Result<Box<dyn Optimizer>, OptimizerRefusal> {
    let class = class_name.trim_start_matches("Custom>");
    let given = |key: &str| config.get(key).filter(|v| !v.is_null());
    let option = |key: &str, value: &Value| OptimizerOption {
        class: class.to_string(),
        key: key.to_string(),
        value: value.clone(),
    };
    let number = |key: &str, default: f64| match given(key) {
        None => Ok(default),
        Some(value) => value
            .as_f64()
            .ok_or_else(|| OptimizerRefusal::NotANumber(option(key, value))),
    };
    // Options that change what a step does, which these optimizers do not have.
    let absent: [(&str, Value); 8] = [
        ("weight_decay", json!(0.0)),
        ("clipnorm", Value::Null),
        ("clipvalue", Value::Null),
        ("global_clipnorm", Value::Null),
        ("use_ema", json!(false)),
        ("decay", json!(0.0)),
        ("gradient_accumulation_steps", Value::Null),
        ("amsgrad", json!(false)),
    ];
    for (key, neutral) in absent {
        if let Some(value) = given(key) {
            if *value != neutral && value.as_f64() != Some(0.0) {
                return Err(OptimizerRefusal::Lacks(option(key, value)));
            }
        }
    }
    let lr = match given("learning_rate").or_else(|| given("lr")) {
        Some(value) => value
            .as_f64()
            .ok_or_else(|| OptimizerRefusal::Schedule(option("learning_rate", value)))?,
        None => return Err(OptimizerRefusal::NoLearningRate(class.to_string())),
    };
    let flag = |key: &str| given(key).and_then(Value::as_bool).unwrap_or(false);
    match class {
        "RMSprop" => {
            if number("momentum", 0.0)? != 0.0 || flag("centered") {
                return Err(OptimizerRefusal::RmspropMomentum);
            }
            Ok(Box::new(RMSprop {
                rho: number("rho", 0.9)?,
                epsilon: number("epsilon", 1e-7)?,
                ..RMSprop::new(lr)
            }))
        }
        "Adam" => Ok(Box::new(Adam {
            beta_1: number("beta_1", 0.9)?,
            beta_2: number("beta_2", 0.999)?,
            epsilon: number("epsilon", 1e-7)?,
            ..Adam::new(lr)
        })),
        "SGD" => Ok(Box::new(
            SGD::new(lr).with_momentum(number("momentum", 0.0)?, flag("nesterov")),
        )),
        other => Err(OptimizerRefusal::Unknown(other.to_string())),
    }
}

/// An option of a Keras optimizer's config, as [`OptimizerRefusal`] names it.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerOption {
    /// The optimizer's class, e.g. `Adam`.
    pub class: String,
    /// The option, e.g. `amsgrad`.
    pub key: String,
    /// Its value.
    pub value: Value,
}

/// Why a Keras optimizer's config cannot be followed by this crate's optimizers: it reads as
/// what a model was compiled with (`Adam with amsgrad=true, which catsdogs's Adam does not
/// have`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OptimizerRefusal {
    /// An option whose value is not a number.
    #[error("{} with {}={}, where catsdogs reads one number", .0.class, .0.key, .0.value)]
    NotANumber(OptimizerOption),
    /// An option that this crate's optimizer does not have.
    #[error("{} with {}={}, which catsdogs's {} does not have", .0.class, .0.key, .0.value, .0.class)]
    Lacks(OptimizerOption),
    /// A learning rate that is not one number (a schedule).
    #[error("{} with the learning rate {}, where catsdogs takes one number (no schedule)", .0.class, .0.value)]
    Schedule(OptimizerOption),
    /// A config without a learning rate.
    #[error("{0} without a learning_rate")]
    NoLearningRate(String),
    /// RMSprop with momentum, or centered.
    #[error("RMSprop with momentum or centered=true, which catsdogs's RMSprop does not have")]
    RmspropMomentum,
    /// An optimizer this crate does not have.
    #[error("the optimizer {0}, which catsdogs does not have (it has RMSprop, Adam and SGD)")]
    Unknown(String),
}

/// Refuses a learning rate that is not a positive number, before training starts.
pub(crate) fn check_learning_rate(optimizer: &dyn Optimizer) -> Result<()> {
    let lr = optimizer.learning_rate();
    if lr.is_finite() && lr > 0.0 {
        return Ok(());
    }
    Err(Error::LearningRate(lr))
}

/// Per-weight tensors of an optimizer's state, zeros at first, named after the weights (with
/// a suffix when an optimizer keeps several per weight).
#[derive(Debug, Default)]
struct Slots {
    tensors: BTreeMap<String, Tensor>,
}

impl Slots {
    /// The slot `name` of weight `weight`, zeros like it at first.
    fn get(&mut self, name: String, weight: &Tensor) -> Result<&mut Tensor> {
        if !self.tensors.contains_key(&name) {
            let zeros = weight.f_zeros_like()?;
            self.tensors.insert(name.clone(), zeros);
        }
        Ok(self.tensors.get_mut(&name).expect("just inserted"))
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.tensors
            .iter()
            .map(|(name, t)| (name.clone(), t.shallow_clone()))
            .collect()
    }

    fn load(&mut self, state: Vec<(String, Tensor)>, device: Device) -> Result<()> {
        self.tensors = state
            .into_iter()
            .map(|(name, t)| Ok((name, t.f_to_device(device)?)))
            .collect::<Result<_>>()?;
        Ok(())
    }
}

/// The gradients of `params` that exist, with their names and weights, under no-grad.
fn with_gradients(params: &[(String, Tensor)]) -> Result<Vec<(&String, &Tensor, Tensor)>> {
    let mut found = Vec::with_capacity(params.len());
    for (name, weight) in params {
        let grad = weight.f_grad()?;
        if grad.defined() {
            found.push((name, weight, grad));
        }
    }
    Ok(found)
}

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
    accumulators: Slots,
}

impl RMSprop {
    /// `optimizers.RMSprop(lr=lr)` with Keras 2.2's `rho = 0.9` and `epsilon = 1e-7`.
    pub fn new(lr: f64) -> Self {
        RMSprop {
            lr,
            rho: 0.9,
            epsilon: 1e-7,
            accumulators: Slots::default(),
        }
    }
}

impl Optimizer for RMSprop {
    fn step(&mut self, params: &[(String, Tensor)]) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for (name, weight, grad) in with_gradients(params)? {
            let a = self.accumulators.get(name.clone(), weight)?;
            let _ = a.f_mul_scalar_(self.rho)?;
            let _ = a.f_add_(&grad.f_square()?.f_mul_scalar(1.0 - self.rho)?)?;
            let denominator = a.f_sqrt()?.f_add_scalar(self.epsilon)?;
            let update = grad.f_div(&denominator)?.f_mul_scalar(self.lr)?;
            let _ = weight.shallow_clone().f_sub_(&update)?;
        }
        Ok(())
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.accumulators.state()
    }

    fn load_state(&mut self, state: Vec<(String, Tensor)>, device: Device) -> Result<()> {
        self.accumulators.load(state, device)
    }

    fn config(&self) -> String {
        format!(
            "RMSprop(lr={:e}, rho={}, epsilon={:e})",
            self.lr, self.rho, self.epsilon
        )
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn keras_config(&self) -> (&'static str, Value) {
        let config = json!({
            "learning_rate": self.lr,
            "rho": self.rho,
            "momentum": 0.0,
            "epsilon": self.epsilon,
            "centered": false,
        });
        ("RMSprop", config)
    }

    fn keras_state(&self) -> KerasState {
        KerasState {
            slots: &[("velocity", "")],
            iterations: None,
        }
    }
}

/// Keras's `Adam(lr)`: moments with decays `beta_1` and `beta_2`, Keras 2.2's bias correction
/// folded into the step size, `epsilon` outside the square root.
#[derive(Debug)]
pub struct Adam {
    /// The learning rate (Keras's default 1e-3).
    pub lr: f64,
    /// Decay of the first moment (0.9).
    pub beta_1: f64,
    /// Decay of the second moment (0.999).
    pub beta_2: f64,
    /// Added to the root of the second moment (1e-7).
    pub epsilon: f64,
    moments: Slots,
    steps: u64,
}

/// The name under which Adam's step count is saved with its moments.
const ADAM_STEPS: &str = "adam.iterations";

impl Adam {
    /// `optimizers.Adam(lr=lr)` with Keras 2.2's `beta_1 = 0.9`, `beta_2 = 0.999` and
    /// `epsilon = 1e-7`.
    pub fn new(lr: f64) -> Self {
        Adam {
            lr,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            moments: Slots::default(),
            steps: 0,
        }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &[(String, Tensor)]) -> Result<()> {
        let _guard = tch::no_grad_guard();
        self.steps += 1;
        let t = self.steps as f64;
        let lr_t = self.lr * (1.0 - self.beta_2.powf(t)).sqrt() / (1.0 - self.beta_1.powf(t));
        for (name, weight, grad) in with_gradients(params)? {
            let m = self.moments.get(format!("{name}/m"), weight)?;
            let _ = m.f_mul_scalar_(self.beta_1)?;
            let _ = m.f_add_(&grad.f_mul_scalar(1.0 - self.beta_1)?)?;
            let m = m.shallow_clone();
            let v = self.moments.get(format!("{name}/v"), weight)?;
            let _ = v.f_mul_scalar_(self.beta_2)?;
            let _ = v.f_add_(&grad.f_square()?.f_mul_scalar(1.0 - self.beta_2)?)?;
            let denominator = v.f_sqrt()?.f_add_scalar(self.epsilon)?;
            let update = m.f_div(&denominator)?.f_mul_scalar(lr_t)?;
            let _ = weight.shallow_clone().f_sub_(&update)?;
        }
        Ok(())
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut state = self.moments.state();
        state.push((
            ADAM_STEPS.to_string(),
            Tensor::from_slice(&[self.steps as i64]),
        ));
        state
    }

    fn load_state(&mut self, mut state: Vec<(String, Tensor)>, device: Device) -> Result<()> {
        self.steps = match state.iter().position(|(name, _)| name == ADAM_STEPS) {
            Some(at) => u64::try_from(state.remove(at).1.f_int64_value(&[0])?).unwrap_or(0),
            None => 0,
        };
        self.moments.load(state, device)
    }

    fn config(&self) -> String {
        format!(
            "Adam(lr={:e}, beta_1={}, beta_2={}, epsilon={:e})",
            self.lr, self.beta_1, self.beta_2, self.epsilon
        )
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn keras_config(&self) -> (&'static str, Value) {
        let config = json!({
            "learning_rate": self.lr,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": false,
        });
        ("Adam", config)
    }

    fn keras_state(&self) -> KerasState {
        KerasState {
            slots: &[("m", "/m"), ("v", "/v")],
            iterations: Some(ADAM_STEPS),
        }
    }
}

/// Keras's `SGD(lr, momentum, nesterov)`: plain gradient descent, with Keras's momentum (a
/// velocity that keeps `momentum` of itself) and Nesterov's look-ahead if asked.
#[derive(Debug)]
pub struct SGD {
    /// The learning rate (Keras's default 0.01).
    pub lr: f64,
    /// The share of the last step kept (0: none).
    pub momentum: f64,
    /// Nesterov's momentum.
    pub nesterov: bool,
    velocities: Slots,
}

impl SGD {
    /// `optimizers.SGD(lr=lr)`, without momentum.
    pub fn new(lr: f64) -> Self {
        SGD {
            lr,
            momentum: 0.0,
            nesterov: false,
            velocities: Slots::default(),
        }
    }

    /// `SGD(lr, momentum=momentum, nesterov=nesterov)`.
    pub fn with_momentum(mut self, momentum: f64, nesterov: bool) -> Self {
        self.momentum = momentum;
        self.nesterov = nesterov;
        self
    }
}

impl Optimizer for SGD {
    fn step(&mut self, params: &[(String, Tensor)]) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for (name, weight, grad) in with_gradients(params)? {
            let u = self.velocities.get(name.clone(), weight)?;
            let _ = u.f_mul_scalar_(self.momentum)?;
            let _ = u.f_sub_(&grad.f_mul_scalar(self.lr)?)?;
            let update = if self.nesterov {
                u.f_mul_scalar(self.momentum)?
                    .f_sub(&grad.f_mul_scalar(self.lr)?)?
            } else {
                u.shallow_clone()
            };
            let _ = weight.shallow_clone().f_add_(&update)?;
        }
        Ok(())
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.velocities.state()
    }

    fn load_state(&mut self, state: Vec<(String, Tensor)>, device: Device) -> Result<()> {
        self.velocities.load(state, device)
    }

    fn config(&self) -> String {
        format!(
            "SGD(lr={:e}, momentum={}, nesterov={})",
            self.lr, self.momentum, self.nesterov
        )
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn keras_config(&self) -> (&'static str, Value) {
        let config = json!({
            "learning_rate": self.lr,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
        });
        ("SGD", config)
    }

    /// Keras keeps a velocity only with momentum.
    fn keras_state(&self) -> KerasState {
        let slots: &'static [(&'static str, &'static str)] = if self.momentum == 0.0 {
            &[]
        } else {
            &[("m", "")]
        };
        KerasState {
            slots,
            iterations: None,
        }
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
    fn rmsprop_moves_each_weight_by_lr_over_root_of_one_minus_rho_at_first() {
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

    /// Runs `optimizer` for four steps on one weight vector whose gradients are given, and
    /// `rule` (Keras's update in f64, on each element) beside it; they must agree.
    fn follows_keras(
        mut optimizer: impl Optimizer,
        mut rule: impl FnMut(usize, f64, &mut Vec<f64>) -> f64,
    ) {
        let start = [0.5f64, -1.5, 2.0];
        let grads = [
            [0.3, -2.0, 0.01],
            [-0.1, -1.0, 4.0],
            [0.2, 0.5, -3.0],
            [1.0, 0.0, 0.2],
        ];
        let w = Tensor::from_slice(&start.map(|v| v as f32)).set_requires_grad(true);
        let params = vec![("w".to_string(), w.shallow_clone())];
        let mut expected = start.to_vec();
        let mut state: Vec<Vec<f64>> = vec![Vec::new(); start.len()];
        for (t, g) in grads.iter().enumerate() {
            w.shallow_clone().zero_grad();
            let g32 = Tensor::from_slice(&g.map(|v| v as f32));
            (&w * &g32).sum(Kind::Float).backward();
            optimizer.step(&params).unwrap();
            for (i, value) in expected.iter_mut().enumerate() {
                *value += rule(t + 1, g[i], &mut state[i]);
            }
        }
        for (i, value) in expected.iter().enumerate() {
            let got = w.double_value(&[i as i64]);
            assert!((got - value).abs() < 1e-6, "{i}: {got} vs {value}");
        }
    }

    #[test]
    fn adam_follows_keras_2_2() {
        let (lr, b1, b2, eps) = (0.01, 0.9, 0.999, 1e-7);
        follows_keras(Adam::new(lr), |t, g, s| {
            s.resize(2, 0.0);
            let t = t as f64;
            let lr_t = lr * (1.0 - f64::powf(b2, t)).sqrt() / (1.0 - f64::powf(b1, t));
            s[0] = b1 * s[0] + (1.0 - b1) * g;
            s[1] = b2 * s[1] + (1.0 - b2) * g * g;
            -lr_t * s[0] / (s[1].sqrt() + eps)
        });
    }

    #[test]
    fn sgd_follows_keras_2_2_with_and_without_momentum() {
        for (momentum, nesterov) in [(0.0, false), (0.9, false), (0.9, true)] {
            let lr = 0.05;
            let sgd = SGD::new(lr).with_momentum(momentum, nesterov);
            follows_keras(sgd, |_, g, s| {
                s.resize(1, 0.0);
                s[0] = momentum * s[0] - lr * g;
                if nesterov {
                    momentum * s[0] - lr * g
                } else {
                    s[0]
                }
            });
        }
    }

    #[test]
    fn adam_saves_and_restores_its_step_count() {
        let w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let params = vec![("w".to_string(), w.shallow_clone())];
        let mut adam = Adam::new(0.1);
        for _ in 0..3 {
            w.shallow_clone().zero_grad();
            (&w * 2.0).sum(Kind::Float).backward();
            adam.step(&params).unwrap();
        }
        let mut restored = Adam::new(0.1);
        restored.load_state(adam.state(), Device::Cpu).unwrap();
        assert_eq!(restored.steps, 3);
        assert_eq!(restored.state().len(), 3, "m, v and the step count");
    }

    #[test]
    fn a_learning_rate_that_is_not_positive_is_refused() {
        for lr in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = check_learning_rate(&SGD::new(lr)).unwrap_err().to_string();
            assert!(err.contains("is not a positive number"), "{err}");
        }
        assert!(check_learning_rate(&Adam::new(1e-3)).is_ok());
    }
}
