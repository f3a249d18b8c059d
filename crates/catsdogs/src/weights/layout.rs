//! The tensor layouts of the weight formats, and their conversion to this crate's (see
//! [`crate::model`]): Keras's HWIO convolution kernels, (k, k, channels, 1) depthwise kernels
//! and `fc1` rows in NHWC-flatten order; torchvision's (units, inputs) dense kernels.

use tch::Tensor;

use super::torchvision;
use crate::applications::Backbone;
use crate::error::{fmt_shape, Result};
use crate::model::{Dense, LayerKind};

/// Tensor names and layouts of the formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// Keras's `.h5`: each layer's weights in order (`block1_conv1_W_1:0`, `conv1_conv/kernel:0`),
    /// kernels HWIO and (inputs, units), `fc1` rows in NHWC order.
    Keras,
    /// `features.0.weight`, `layer1.0.bn1.running_mean`: kernels OIHW and (units, inputs).
    Torchvision,
    /// `block1_conv1/kernel`, this crate's layout.
    Own,
}

impl Layout {
    /// A weight's name in a file of this layout: `{layer}/{weight}`, or torchvision's (for
    /// Keras's files, the name under which [`super::Weights`] keeps it while reading).
    pub(super) fn name(
        self,
        backbone: Backbone,
        layer: &str,
        weight: &str,
        index: usize,
    ) -> String {
        match self {
            Layout::Keras | Layout::Own => format!("{layer}/{weight}"),
            Layout::Torchvision => torchvision::name(backbone, layer, weight, index),
        }
    }

    /// The tensors a layer needs, as named and shaped in this layout, e.g. `kernel (3, 3, 3, 64)
    /// and bias (64,)` or `features.0.weight (64, 3, 3, 3) and features.0.bias (64,)`.
    pub(super) fn describe(
        self,
        backbone: Backbone,
        layer: &str,
        kind: &LayerKind,
        index: usize,
    ) -> String {
        let parts: Vec<String> = kind
            .weight_shapes()
            .iter()
            .map(|(weight, own)| {
                let name = match self {
                    Layout::Torchvision => self.name(backbone, layer, weight, index),
                    Layout::Keras | Layout::Own => weight.to_string(),
                };
                format!("{name} {}", fmt_shape(&self.shape(kind, weight, own)))
            })
            .collect();
        parts.join(" and ")
    }

    /// The shape of a weight in a file of this layout, given its shape in this crate's.
    pub(super) fn shape(self, kind: &LayerKind, weight: &str, own: &[i64]) -> Vec<i64> {
        match (self, kind, weight) {
            (Layout::Keras, LayerKind::Conv2d(_), "kernel") => {
                vec![own[2], own[3], own[1], own[0]]
            }
            (Layout::Keras, LayerKind::DepthwiseConv2d(_), "depthwise_kernel") => {
                vec![own[2], own[3], own[0], own[1]]
            }
            (Layout::Torchvision, LayerKind::Dense(_), "kernel") => vec![own[1], own[0]],
            _ => own.to_vec(),
        }
    }

    /// How a weight's values lie in this layout, if not as in this crate's: the shape to view
    /// them as, and the order of its axes that is this crate's (then viewed as this crate's
    /// shape). `flatten_input` is the map shape (C, H, W) that a Flatten right before this
    /// layer flattens, if there is one.
    fn arrangement(
        self,
        kind: &LayerKind,
        weight: &str,
        own: &[i64],
        flatten_input: Option<&[i64]>,
    ) -> Option<(Vec<i64>, Vec<i64>)> {
        let file = self.shape(kind, weight, own);
        match (self, kind, weight, flatten_input) {
            // Keras's HWIO to libtorch's OIHW.
            (Layout::Keras, LayerKind::Conv2d(_), "kernel", _) => Some((file, vec![3, 2, 0, 1])),
            // Keras's (k, k, channels, 1) to libtorch's grouped (channels, 1, k, k).
            (Layout::Keras, LayerKind::DepthwiseConv2d(_), "depthwise_kernel", _) => {
                Some((file, vec![2, 3, 0, 1]))
            }
            // Keras's rows are (h, w, c) of the flattened map, ours (c, h, w).
            (Layout::Keras, LayerKind::Dense(Dense { units, .. }), "kernel", Some(&[c, h, w])) => {
                Some((vec![h, w, c, *units], vec![2, 0, 1, 3]))
            }
            (Layout::Torchvision, LayerKind::Dense(_), "kernel", _) => Some((file, vec![1, 0])),
            _ => None,
        }
    }

    /// This crate's shape of a weight of `kind`.
    fn own_shape(kind: &LayerKind, weight: &str) -> Vec<i64> {
        let spec = kind.op().weights().into_iter().find(|w| w.name == weight);
        spec.map(|w| w.shape).unwrap_or_default()
    }

    /// Converts a weight from this layout to this crate's (see [`Layout::arrangement`]).
    pub(super) fn to_own(
        self,
        tensor: Tensor,
        kind: &LayerKind,
        weight: &str,
        flatten_input: Option<&[i64]>,
    ) -> Result<Tensor> {
        let own = Layout::own_shape(kind, weight);
        let converted = match self.arrangement(kind, weight, &own, flatten_input) {
            Some((view, order)) => tensor.f_reshape(view)?.f_permute(order)?.f_reshape(own)?,
            None => tensor,
        };
        Ok(converted.f_contiguous()?)
    }

    /// Converts a weight from this crate's layout to this one's: [`Layout::to_own`] undone.
    pub(super) fn to_file(
        self,
        tensor: Tensor,
        kind: &LayerKind,
        weight: &str,
        flatten_input: Option<&[i64]>,
    ) -> Result<Tensor> {
        let own = Layout::own_shape(kind, weight);
        let converted = match self.arrangement(kind, weight, &own, flatten_input) {
            Some((view, order)) => {
                let permuted: Vec<i64> = order.iter().map(|&axis| view[axis as usize]).collect();
                let mut back = vec![0; order.len()];
                for (i, &axis) in order.iter().enumerate() {
                    back[axis as usize] = i as i64;
                }
                let file = self.shape(kind, weight, &own);
                tensor
                    .f_reshape(permuted)?
                    .f_permute(back)?
                    .f_reshape(file)?
            }
            None => tensor,
        };
        Ok(converted.f_contiguous()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, Conv2d, DepthwiseConv2d, Padding, Window};
    use tch::{Device, Kind};

    /// Keras's layout and back is the identity, and a Dense after a Flatten of (c, h, w) maps
    /// reads Keras's (h, w, c) rows: row (h, w, c) there is row (c, h, w) here.
    #[test]
    fn keras_layouts_convert_both_ways() {
        let ramp = |shape: &[i64]| {
            let n: i64 = shape.iter().product();
            Tensor::arange(n, (Kind::Float, Device::Cpu)).reshape(shape)
        };
        let conv = LayerKind::from(Conv2d::vgg(3, 4, Activation::Relu));
        let depthwise = LayerKind::from(DepthwiseConv2d {
            channels: 4,
            window: Window::new(3, 1, Padding::Same),
        });
        let dense = LayerKind::from(Dense {
            inputs: 2 * 3 * 5,
            units: 7,
            activation: Activation::Linear,
        });
        let maps = [2, 3, 5];
        for (kind, weight, flatten) in [
            (&conv, "kernel", None),
            (&depthwise, "depthwise_kernel", None),
            (&dense, "kernel", Some(&maps[..])),
        ] {
            let own_shape = kind.op().weights()[0].shape.clone();
            let keras = ramp(&Layout::Keras.shape(kind, weight, &own_shape));
            let own = Layout::Keras
                .to_own(keras.copy(), kind, weight, flatten)
                .unwrap();
            assert_eq!(own.size(), own_shape);
            let back = Layout::Keras.to_file(own, kind, weight, flatten).unwrap();
            assert_eq!(back, keras, "{weight}");
        }
        let keras = ramp(&[30, 7]);
        let own = Layout::Keras
            .to_own(keras.copy(), &dense, "kernel", Some(&maps))
            .unwrap();
        // Keras's row (h=1, w=4, c=1) is (1 * 5 + 4) * 2 + 1 = 19; ours (c=1, h=1, w=4) is
        // (1 * 3 + 1) * 5 + 4 = 24.
        assert_eq!(own.get(24), keras.get(19));
    }
}
