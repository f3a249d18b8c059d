//! Keras 2.2's `loss='binary_crossentropy'` and `metrics=['acc']`, on the model's sigmoid
//! probabilities:
//!
//! - the loss clips each probability to `[1e-7, 1 - 1e-7]` (Keras's `epsilon`) and then takes
//!   `-(y ln p + (1 - y) ln(1 - p))`, averaged over the batch;
//! - the accuracy rounds `p` half to even, as `K.round` does, so `p > 0.5` is class 1 and
//!   `0.5` itself is class 0.
//!
//! ```
//! use catsdogs::losses::{binary_accuracy, Loss};
//! use tch::Tensor;
//! let p = Tensor::from_slice(&[0.0f32, 0.5, 0.9]);
//! let y = Tensor::from_slice(&[0.0f32, 1.0, 1.0]);
//! // 0 is clipped to 1e-7, so its loss is -ln(1 - 1e-7), tiny but not zero.
//! let loss = Loss::BinaryCrossentropy.f_compute(&p, &y).unwrap().double_value(&[]);
//! let expected = (-(1.0f32 - 1e-7).ln() - 0.5f32.ln() - 0.9f32.ln()) as f64 / 3.0;
//! assert!((loss - expected).abs() < 1e-6);
//! assert_eq!(binary_accuracy(&p, &y).unwrap().int64_value(&[]), 2); // 0.5 counts as a cat
//! ```

use tch::{Kind, Tensor};

use crate::error::Result;

/// Keras's `epsilon()`: how far from 0 and 1 probabilities are clipped.
pub const EPSILON: f64 = 1e-7;

/// The loss a model is compiled with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// `'binary_crossentropy'` on probabilities, clipped as Keras clips them.
    BinaryCrossentropy,
}

impl Loss {
    /// The batch's mean loss, a scalar that autograd can differentiate. `p` holds one
    /// probability per sample (shaped (N,) or (N, 1)), `y` the labels (N,).
    pub fn f_compute(self, p: &Tensor, y: &Tensor) -> Result<Tensor> {
        match self {
            Loss::BinaryCrossentropy => {
                let p = p.f_reshape([-1])?.f_to_kind(Kind::Float)?;
                let p = p.f_clamp(EPSILON, 1.0 - EPSILON)?;
                let one_minus_y = y.f_neg()?.f_add_scalar(1.0)?;
                let one_minus_p = p.f_neg()?.f_add_scalar(1.0)?;
                let log_likelihood = y
                    .f_mul(&p.f_log()?)?
                    .f_add(&one_minus_y.f_mul(&one_minus_p.f_log()?)?)?;
                Ok(log_likelihood.f_mean(Kind::Float)?.f_neg()?)
            }
        }
    }

    /// Keras's name of the loss, e.g. `binary_crossentropy`.
    pub fn name(self) -> &'static str {
        match self {
            Loss::BinaryCrossentropy => "binary_crossentropy",
        }
    }

    /// The loss of a Keras training config: its name (`"binary_crossentropy"`), or its class
    /// with the default config (`{"class_name": "BinaryCrossentropy", "config": {...}}`); the
    /// loss this crate does not have otherwise.
    ///
    /// ```
    /// use catsdogs::losses::Loss;
    /// let loss = serde_json::json!("binary_crossentropy");
    /// assert_eq!(Loss::from_keras(&loss), Ok(Loss::BinaryCrossentropy));
    /// let logits = serde_json::json!({"class_name": "BinaryCrossentropy", "config": {"from_logits": true}});
    /// assert!(Loss::from_keras(&logits).is_err());
    /// ```
    pub fn from_keras(loss: &serde_json::Value) -> std::result::Result<Loss, UnknownLoss> {
        let name = loss
            .as_str()
            .or_else(|| loss["config"].as_str())
            .or_else(|| loss["class_name"].as_str());
        let config = &loss["config"];
        let plain = config["from_logits"].as_bool() != Some(true)
            && config["label_smoothing"].as_f64().unwrap_or(0.0) == 0.0;
        match name {
            Some("binary_crossentropy" | "BinaryCrossentropy") if plain => {
                Ok(Loss::BinaryCrossentropy)
            }
            _ => Err(UnknownLoss(loss.clone())),
        }
    }
}

/// A Keras loss config that this crate does not compute; it reads as what a model was
/// compiled with.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("the loss {0}, where catsdogs has binary_crossentropy (on probabilities) only")]
pub struct UnknownLoss(pub serde_json::Value);

/// How many of the probabilities `p` round to the labels `y` (an `Int64` scalar on their
/// device): Keras's `binary_accuracy` times the batch size.
pub fn binary_accuracy(p: &Tensor, y: &Tensor) -> Result<Tensor> {
    let predicted = p.f_reshape([-1])?.f_gt(0.5)?.f_to_kind(Kind::Float)?;
    Ok(predicted.f_eq_tensor(y)?.f_sum(Kind::Int64)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keras's formula equals libtorch's `binary_cross_entropy` on the clipped probabilities,
    /// and at 0 and 1 the clip makes it finite: -ln(1e-7) = 16.118.
    #[test]
    fn matches_libtorch_on_clipped_probabilities() {
        let p = Tensor::from_slice(&[0.0f32, 1e-9, 0.2, 0.5, 0.7, 1.0]);
        let y = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0]);
        let ours = Loss::BinaryCrossentropy.f_compute(&p, &y).unwrap();
        let clipped = p.clamp(EPSILON, 1.0 - EPSILON);
        let theirs = clipped.binary_cross_entropy::<Tensor>(&y, None, tch::Reduction::Mean);
        assert!((ours.double_value(&[]) - theirs.double_value(&[])).abs() < 1e-6);
        let worst = Loss::BinaryCrossentropy
            .f_compute(
                &Tensor::from_slice(&[0.0f32]),
                &Tensor::from_slice(&[1.0f32]),
            )
            .unwrap()
            .double_value(&[]);
        assert!((worst - 16.118_095).abs() < 1e-3, "{worst}");
    }

    #[test]
    fn gradient_is_zero_where_the_clip_is_active() {
        let p = Tensor::from_slice(&[0.0f32, 0.25]).set_requires_grad(true);
        let y = Tensor::from_slice(&[1.0f32, 1.0]);
        Loss::BinaryCrossentropy
            .f_compute(&p, &y)
            .unwrap()
            .backward();
        let grad = p.grad();
        assert_eq!(grad.double_value(&[0]), 0.0);
        // d/dp of -ln(p) / 2 at 0.25 is -2.
        assert!((grad.double_value(&[1]) + 2.0).abs() < 1e-6);
    }

    #[test]
    fn half_is_class_zero() {
        let p = Tensor::from_slice(&[0.5f32, 0.500_001, 0.499_999]);
        let ones = Tensor::from_slice(&[1.0f32, 1.0, 1.0]);
        assert_eq!(binary_accuracy(&p, &ones).unwrap().int64_value(&[]), 1);
        assert_eq!(
            binary_accuracy(&p, &ones.zeros_like())
                .unwrap()
                .int64_value(&[]),
            2
        );
        let column = p.view([3, 1]);
        assert_eq!(binary_accuracy(&column, &ones).unwrap().int64_value(&[]), 1);
    }
}
