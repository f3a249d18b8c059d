//! What a layer computes, as data: Keras's layer classes with the sizes that fix their weights'
//! shapes, so that a model can be rebuilt from its description alone (what
//! [`super::Sequential::save`] stores). Their shapes and checks are in `shape.rs`, their
//! computation in `ops.rs`.
//!
//! Weight layouts (what [`super::Layer::weights`] holds, and what saved files hold):
//! - `Conv2D`: `kernel` (filters, in_channels, k, k), libtorch's OIHW; `bias` (filters) if used.
//! - `DepthwiseConv2D`: `depthwise_kernel` (channels, 1, k, k), libtorch's grouped OIHW; `bias`
//!   (channels) if used.
//! - `BatchNormalization`: `gamma`, `beta`, `moving_mean`, `moving_variance`, each (channels);
//!   the last two are statistics, never trained by the optimizer (Keras's non-trainable weights).
//! - `Dense`: `kernel` (inputs, units), as in Keras; `bias` (units).
//!
//! A VGG layer's description is written as it was before the other networks came (a `Conv2D`
//! of 3x3, stride 1, 'same', with bias, stores no window; `MaxPooling2D((2, 2))` is the unit
//! `max_pool2d`), so that saved VGG models load and their feature caches keep their keys.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::Result;

/// The activation applied at the end of a `Conv2D` or `Dense` layer, as Keras's `activation=`,
/// or by an `Activation` layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// None: the layer's affine output as is.
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// Exponentials normalised over the features of each sample.
    Softmax,
}

impl Activation {
    /// Applies the activation; sigmoid and softmax, which give the probabilities that the loss
    /// reads, always in float32.
    pub(super) fn apply(self, x: Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Linear => x,
            Activation::Relu => x.f_relu()?,
            Activation::Sigmoid => x.f_to_kind(Kind::Float)?.f_sigmoid()?,
            Activation::Softmax => x.f_softmax(1, Kind::Float)?,
        })
    }
}

/// Keras's `padding=` of a convolution, and PyTorch's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// `'same'`: `ceil(size / stride)` outputs along each axis, with the zeros that takes split
    /// as TensorFlow splits them: the odd one at the bottom and at the right.
    #[default]
    Same,
    /// `'valid'`: no zeros; `(size - kernel) / stride + 1` outputs.
    Valid,
    /// `n` zeros on every side, PyTorch's `padding=n` (torchvision's definitions).
    Symmetric(i64),
}

impl Padding {
    /// The zeros (before, after) along an axis of `size` positions, for a window of `kernel`
    /// positions moved by `stride`.
    ///
    /// ```
    /// use catsdogs::model::Padding;
    /// assert_eq!(Padding::Same.pads(224, 3, 2), (0, 1)); // Keras: the extra row at the bottom
    /// assert_eq!(Padding::Same.pads(56, 3, 1), (1, 1));
    /// assert_eq!(Padding::Symmetric(1).pads(224, 3, 2), (1, 1)); // PyTorch
    /// assert_eq!(Padding::Valid.pads(224, 7, 2), (0, 0));
    /// ```
    pub fn pads(self, size: i64, kernel: i64, stride: i64) -> (i64, i64) {
        match self {
            Padding::Valid => (0, 0),
            Padding::Symmetric(n) => (n, n),
            Padding::Same => {
                let outputs = (size + stride - 1) / stride.max(1);
                let total = ((outputs - 1) * stride + kernel - size).max(0);
                (total / 2, total - total / 2)
            }
        }
    }

    /// The positions of the output along an axis of `size` positions.
    pub fn output_size(self, size: i64, kernel: i64, stride: i64) -> i64 {
        let (before, after) = self.pads(size, kernel, stride);
        (size + before + after - kernel) / stride.max(1) + 1
    }
}

/// The window of a convolution: Keras's `kernel_size`, `strides`, `padding` and `use_bias`
/// (square windows and equal strides, as these networks have them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The side of the kernel.
    pub kernel_size: i64,
    /// The step between windows, along both axes.
    pub strides: i64,
    /// Zeros around the input.
    pub padding: Padding,
    /// Whether the layer adds a bias.
    pub use_bias: bool,
}

impl Default for Window {
    /// VGG's: 3x3, stride 1, 'same', with a bias.
    fn default() -> Self {
        Window::new(3, 1, Padding::Same)
    }
}

impl Window {
    /// A window of `kernel_size`, `strides` and `padding`, with a bias.
    pub fn new(kernel_size: i64, strides: i64, padding: Padding) -> Self {
        Window {
            kernel_size,
            strides,
            padding,
            use_bias: true,
        }
    }

    /// The same window without a bias (`use_bias=False`).
    pub fn without_bias(self) -> Self {
        Window {
            use_bias: false,
            ..self
        }
    }

    fn is_default(&self) -> bool {
        *self == Window::default()
    }
}

/// What a layer computes. Sizes are those needed to know the weights' shapes without a forward
/// pass, so that a model can be rebuilt from this description alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// `Conv2D(filters, window)` over `in_channels` input channels, then `activation`.
    Conv2d {
        /// Channels of the input.
        in_channels: i64,
        /// Channels of the output.
        filters: i64,
        /// Applied after the convolution.
        activation: Activation,
        /// Kernel size, strides, padding and bias (VGG's 3x3 'same' with bias unless set).
        #[serde(default, skip_serializing_if = "Window::is_default")]
        window: Window,
    },
    /// `DepthwiseConv2D(window)` with `depth_multiplier=1`: one kernel per channel.
    DepthwiseConv2d {
        /// Channels of the input and of the output.
        channels: i64,
        /// Kernel size, strides, padding and bias.
        window: Window,
    },
    /// `BatchNormalization(epsilon, momentum)` over the channels. A frozen one, or any one
    /// outside training, normalises with its moving statistics (TensorFlow 2's Keras); a
    /// trainable one in training normalises with the batch's and updates the moving ones.
    BatchNorm {
        /// Channels of the input.
        channels: i64,
        /// Added to the variance before its square root.
        epsilon: f64,
        /// How much of the moving statistics each training step keeps.
        momentum: f64,
    },
    /// `ZeroPadding2D(((top, bottom), (left, right)))`.
    ZeroPadding2d {
        /// Rows of zeros above and below, columns left and right.
        padding: [i64; 4],
    },
    /// `MaxPooling2D((2, 2))`: a 2x2 window moved by 2, padding 'valid' (odd sizes round down).
    MaxPool2d,
    /// `MaxPooling2D(pool_size, strides)` of another window, padding 'valid'.
    MaxPool2dWith {
        /// The side of the window.
        pool_size: i64,
        /// The step between windows.
        strides: i64,
    },
    /// `GlobalAveragePooling2D()`: the mean of each channel's map.
    GlobalAveragePooling2d,
    /// `GlobalMaxPooling2D()`: the largest value of each channel's map.
    GlobalMaxPooling2d,
    /// `Activation(activation)` as a layer of its own.
    Activation {
        /// The function applied.
        activation: Activation,
    },
    /// `ReLU(6.)`: `min(max(x, 0), 6)`.
    Relu6,
    /// `Add()`: the sum of its inputs, which have one shape.
    Add,
    /// `Flatten()`: each sample's features in one row, in NCHW order.
    Flatten,
    /// `Dense(units)` on `inputs` features. An input that is not flat yet is flattened first.
    Dense {
        /// Features per sample of the input.
        inputs: i64,
        /// Features per sample of the output.
        units: i64,
        /// Applied after the affine map.
        activation: Activation,
    },
    /// `Dropout(rate)`: inverted dropout, active only in training.
    Dropout {
        /// Fraction of the features zeroed, in [0, 1).
        rate: f64,
    },
}

/// The names of a batch normalisation's weights, in Keras's order.
const BATCH_NORM_WEIGHTS: [&str; 4] = ["gamma", "beta", "moving_mean", "moving_variance"];

impl LayerKind {
    /// VGG's `Conv2D(filters, (3, 3), padding='same')` followed by `activation`.
    ///
    /// ```
    /// use catsdogs::model::{Activation, LayerKind, Padding, Window};
    /// let conv = LayerKind::conv(3, 64, Activation::Relu);
    /// assert_eq!(conv, LayerKind::Conv2d { in_channels: 3, filters: 64, activation: Activation::Relu, window: Window::new(3, 1, Padding::Same) });
    /// ```
    pub fn conv(in_channels: i64, filters: i64, activation: Activation) -> Self {
        LayerKind::Conv2d {
            in_channels,
            filters,
            activation,
            window: Window::default(),
        }
    }

    /// Keras's class name for the summary: `Conv2D`, `BatchNormalization`, `Dense`, ...
    pub fn class_name(&self) -> &'static str {
        match self {
            LayerKind::Conv2d { .. } => "Conv2D",
            LayerKind::DepthwiseConv2d { .. } => "DepthwiseConv2D",
            LayerKind::BatchNorm { .. } => "BatchNormalization",
            LayerKind::ZeroPadding2d { .. } => "ZeroPadding2D",
            LayerKind::MaxPool2d | LayerKind::MaxPool2dWith { .. } => "MaxPooling2D",
            LayerKind::GlobalAveragePooling2d => "GlobalAveragePooling2D",
            LayerKind::GlobalMaxPooling2d => "GlobalMaxPooling2D",
            LayerKind::Activation { .. } => "Activation",
            LayerKind::Relu6 => "ReLU",
            LayerKind::Add => "Add",
            LayerKind::Flatten => "Flatten",
            LayerKind::Dense { .. } => "Dense",
            LayerKind::Dropout { .. } => "Dropout",
        }
    }

    /// The weights' names and shapes, in Keras's order (`kernel`, then `bias`; `gamma`, `beta`,
    /// `moving_mean`, `moving_variance`), in this crate's layout (see the module's
    /// documentation). Empty for layers without weights.
    ///
    /// ```
    /// use catsdogs::model::{Activation, LayerKind};
    /// let conv = LayerKind::conv(3, 64, Activation::Relu);
    /// assert_eq!(conv.weight_shapes(), vec![("kernel", vec![64, 3, 3, 3]), ("bias", vec![64])]);
    /// let bn = LayerKind::BatchNorm { channels: 8, epsilon: 1e-3, momentum: 0.99 };
    /// assert_eq!(bn.weight_shapes()[3], ("moving_variance", vec![8]));
    /// ```
    pub fn weight_shapes(&self) -> Vec<(&'static str, Vec<i64>)> {
        let with_bias = |kernel: (&'static str, Vec<i64>), window: &Window, outputs: i64| {
            let mut weights = vec![kernel];
            if window.use_bias {
                weights.push(("bias", vec![outputs]));
            }
            weights
        };
        match self {
            LayerKind::Conv2d {
                in_channels,
                filters,
                window,
                ..
            } => {
                let k = window.kernel_size;
                let kernel = ("kernel", vec![*filters, *in_channels, k, k]);
                with_bias(kernel, window, *filters)
            }
            LayerKind::DepthwiseConv2d { channels, window } => {
                let k = window.kernel_size;
                let kernel = ("depthwise_kernel", vec![*channels, 1, k, k]);
                with_bias(kernel, window, *channels)
            }
            LayerKind::BatchNorm { channels, .. } => BATCH_NORM_WEIGHTS
                .iter()
                .map(|name| (*name, vec![*channels]))
                .collect(),
            LayerKind::Dense { inputs, units, .. } => {
                vec![("kernel", vec![*inputs, *units]), ("bias", vec![*units])]
            }
            _ => vec![],
        }
    }

    /// Whether the optimizer trains the weight `weight` when the layer is trainable: every
    /// weight but a batch normalisation's moving statistics.
    pub fn trains(weight: &str) -> bool {
        !matches!(weight, "moving_mean" | "moving_variance")
    }

    /// The fan-in and fan-out of the kernel, as Keras's `glorot_uniform` counts them.
    pub(super) fn fan_in_out(&self) -> (i64, i64) {
        match self {
            LayerKind::Conv2d {
                in_channels,
                filters,
                window,
                ..
            } => {
                let area = window.kernel_size * window.kernel_size;
                (area * in_channels, area * filters)
            }
            // Keras's depthwise kernel is (k, k, channels, 1).
            LayerKind::DepthwiseConv2d { channels, window } => {
                let area = window.kernel_size * window.kernel_size;
                (area * channels, area)
            }
            LayerKind::Dense { inputs, units, .. } => (*inputs, *units),
            _ => (0, 0),
        }
    }
}
