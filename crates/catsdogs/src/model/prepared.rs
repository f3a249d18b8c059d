//! A layer's weights as its computation takes them (cast to bfloat16, kernels channels-last:
//! [`Compute::prepare`]), kept between batches while the weights are unchanged, so that
//! inference and frozen layers cast and lay out their kernels once rather than at every batch
//! (a tenth of VGG16's bf16 forward pass on the CPU went to these copies).
//!
//! Kept copies are only ever handed out where no gradient can reach the weights: the layer is
//! frozen, or autograd is off (`tch::no_grad`, as in `predict`, `evaluate` and validation).
//! Where gradients flow into the weights, each pass casts them afresh, in the graph.
//!
//! A kept copy is valid while each weight is the same storage at the same version: libtorch
//! moves a tensor's version on at every in-place write (an optimizer's step, a restored
//! checkpoint, `copy_`), so a changed weight is prepared again, and the copy is equal, value
//! for value, to what preparing the weight now would give.
//!
//! ```
//! use catsdogs::applications::Backbone;
//! use catsdogs::precision::Compute;
//! tch::manual_seed(0);
//! let base = Backbone::Vgg16.application(false).input_size(32, 32).build(tch::Device::Cpu)?;
//! let base = base.with_compute(Compute::FP32.with_channels_last(true));
//! let x = tch::Tensor::rand([1, 3, 32, 32], (tch::Kind::Float, tch::Device::Cpu));
//! // The first pass prepares the kernels, the second reuses them: the same output.
//! let (first, second) = tch::no_grad(|| (base.forward(&x), base.forward(&x)));
//! assert!(first?.equal(&second?));
//! # Ok::<(), catsdogs::Error>(())
//! ```

use std::sync::{Mutex, PoisonError};

use tch::{Device, Kind, Tensor};

use crate::error::Result;
use crate::precision::Compute;

/// Which tensor a weight is, and at which version of its values.
type Stamp = (usize, i64);

/// The prepared weights of one layer, if a pass without gradients made them.
#[derive(Debug, Default)]
pub(crate) struct PreparedWeights {
    kept: Mutex<Option<Kept>>,
}

#[derive(Debug)]
struct Kept {
    compute: Compute,
    stamps: Vec<Stamp>,
    weights: Vec<Tensor>,
}

impl PreparedWeights {
    /// `weights` prepared for `compute`: the kept copies while they are valid (see the
    /// module's documentation), else prepared now (and kept, where no gradient can reach
    /// them).
    pub(crate) fn get(&self, weights: &[Tensor], compute: Compute) -> Result<Vec<Tensor>> {
        if weights.iter().any(Tensor::requires_grad) && grad_enabled() {
            return weights.iter().map(|w| compute.prepare(w)).collect();
        }
        let stamps = weights.iter().map(stamp).collect::<Result<Vec<_>>>()?;
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let valid = kept
            .as_ref()
            .is_some_and(|k| k.compute == compute && k.stamps == stamps);
        if !valid {
            let prepared = weights
                .iter()
                .map(|w| compute.prepare(&w.f_detach()?))
                .collect::<Result<_>>()?;
            *kept = Some(Kept {
                compute,
                stamps,
                weights: prepared,
            });
        }
        let kept = kept.as_ref().expect("prepared just above");
        Ok(kept.weights.iter().map(Tensor::shallow_clone).collect())
    }

    /// Drops the kept copies (the weights were replaced).
    pub(crate) fn clear(&self) {
        *self.kept.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

fn stamp(weight: &Tensor) -> Result<Stamp> {
    Ok((weight.data_ptr() as usize, weight.f_internal_version()?))
}

/// Whether autograd records operations here (not inside `tch::no_grad`): whether an operation
/// on a tensor that requires a gradient gives one that does.
fn grad_enabled() -> bool {
    let probe = Tensor::ones([1], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    probe.neg().requires_grad()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, Conv2d, Layer};

    fn weights() -> Vec<Tensor> {
        let kernel = Tensor::rand([4, 3, 3, 3], (Kind::Float, Device::Cpu));
        vec![kernel, Tensor::rand([4], (Kind::Float, Device::Cpu))]
    }

    fn prepared_equals_fresh(got: &[Tensor], weights: &[Tensor], compute: Compute) {
        for (got, weight) in got.iter().zip(weights) {
            let fresh = compute.prepare(weight).unwrap();
            assert_eq!(got.kind(), fresh.kind());
            assert_eq!(got.stride(), fresh.stride());
            assert!(got.equal(&fresh));
        }
    }

    #[test]
    fn kept_copies_are_reused_until_a_weight_changes() {
        let weights = weights();
        let cache = PreparedWeights::default();
        let compute = Compute::BF16;
        let first = cache.get(&weights, compute).unwrap();
        prepared_equals_fresh(&first, &weights, compute);
        let again = cache.get(&weights, compute).unwrap();
        assert_eq!(
            first[0].data_ptr(),
            again[0].data_ptr(),
            "reused, not cast again"
        );
        // An in-place write (an optimizer's step) makes the next pass prepare again.
        let _ = tch::no_grad(|| weights[0].shallow_clone().f_add_scalar_(1.0)).unwrap();
        let changed = cache.get(&weights, compute).unwrap();
        assert_ne!(first[0].data_ptr(), changed[0].data_ptr());
        prepared_equals_fresh(&changed, &weights, compute);
        // Another computation prepares again too.
        let fp32 = Compute::FP32.with_channels_last(true);
        prepared_equals_fresh(&cache.get(&weights, fp32).unwrap(), &weights, fp32);
        cache.clear();
        prepared_equals_fresh(&cache.get(&weights, compute).unwrap(), &weights, compute);
    }

    #[test]
    fn weights_that_gradients_reach_are_prepared_in_the_graph() {
        let weights: Vec<Tensor> = weights()
            .into_iter()
            .map(|w| w.set_requires_grad(true))
            .collect();
        let cache = PreparedWeights::default();
        let compute = Compute::BF16;
        let traced = cache.get(&weights, compute).unwrap();
        assert!(traced.iter().all(Tensor::requires_grad));
        prepared_equals_fresh(&traced, &weights, compute);
        // The gradient reaches the float32 weight.
        traced[1].sum(Kind::Float).backward();
        assert!(weights[1]
            .grad()
            .equal(&Tensor::ones([4], (Kind::Float, Device::Cpu))));
        // Without gradients the same weights are kept, detached.
        let kept = tch::no_grad(|| cache.get(&weights, compute)).unwrap();
        assert!(!kept.iter().any(Tensor::requires_grad));
        let again = tch::no_grad(|| cache.get(&weights, compute)).unwrap();
        assert_eq!(kept[0].data_ptr(), again[0].data_ptr());
        assert!(grad_enabled());
        assert!(!tch::no_grad(grad_enabled));
    }

    fn conv_layer() -> Layer {
        Layer::new("conv", Conv2d::vgg(3, 4, Activation::Relu), Device::Cpu)
    }

    /// The slow path: the weights prepared afresh, the convolution, then a ReLU that copies.
    fn unprepared(layer: &Layer, x: &Tensor, compute: Compute) -> Tensor {
        let [kernel, bias] = layer.weights() else {
            unreachable!("a Conv2d with a bias")
        };
        let (kernel, bias) = (
            compute.prepare(kernel).unwrap(),
            compute.prepare(bias).unwrap(),
        );
        compute
            .prepare(x)
            .unwrap()
            .conv2d(&kernel, Some(&bias), [1, 1], [1, 1], [1, 1], 1)
            .relu()
    }

    #[test]
    fn a_frozen_layer_computes_with_kept_weights_as_with_fresh_ones() {
        let mut layer = conv_layer();
        layer.set_trainable(false);
        let x = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu));
        for compute in [
            Compute::BF16,
            Compute::FP32,
            Compute::FP32.with_channels_last(true),
        ] {
            for _ in 0..2 {
                let got = layer.run(&[&x], true, compute).unwrap();
                assert!(got.equal(&unprepared(&layer, &x, compute)), "{compute}");
            }
            // The weights change in place (a restored checkpoint): prepared again.
            let _ = tch::no_grad(|| layer.weights()[0].shallow_clone().f_mul_scalar_(0.5)).unwrap();
            let got = layer.run(&[&x], true, compute).unwrap();
            assert!(got.equal(&unprepared(&layer, &x, compute)), "{compute}");
            assert!(got.equal(&layer.copy().run(&[&x], true, compute).unwrap()));
        }
    }

    #[test]
    fn a_trainable_layer_gets_the_same_gradients_with_its_relu_in_place() {
        let layer = conv_layer();
        let x = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu));
        for compute in [Compute::BF16, Compute::FP32] {
            let gradients = |y: Tensor| {
                y.to_kind(Kind::Float).sum(Kind::Float).backward();
                let grads: Vec<Tensor> = layer.weights().iter().map(Tensor::grad).collect();
                let copies = grads.iter().map(Tensor::copy).collect::<Vec<_>>();
                grads.iter().for_each(|g| _ = g.shallow_clone().zero_());
                copies
            };
            let fast = gradients(layer.run(&[&x], true, compute).unwrap());
            let slow = gradients(unprepared(&layer, &x, compute));
            for (fast, slow) in fast.iter().zip(&slow) {
                assert!(fast.equal(slow), "{compute}");
            }
        }
    }
}
