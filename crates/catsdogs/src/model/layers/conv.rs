//! Convolutions: Keras's `Conv2D` (with its activation) and `DepthwiseConv2D`
//! (`depth_multiplier=1`), over windows with Keras's and PyTorch's paddings.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tch::Tensor;

use super::keras::{KerasConfig, KerasLayer, KerasRefusal};
use super::window::Window;
use super::{Activation, Init, Mode, Op, WeightSpec};
use crate::error::Result;
use crate::precision::Compute;

/// `Conv2D(filters, window)` over `in_channels` input channels, then `activation`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2d {
    /// Channels of the input.
    pub in_channels: i64,
    /// Channels of the output.
    pub filters: i64,
    /// Applied after the convolution.
    pub activation: Activation,
    /// Kernel size, strides, padding and bias (VGG's 3x3 'same' with bias unless set).
    #[serde(default, skip_serializing_if = "Window::is_default")]
    pub window: Window,
}

impl Conv2d {
    /// VGG's `Conv2D(filters, (3, 3), padding='same')` followed by `activation`.
    ///
    /// ```
    /// use catsdogs::model::{Activation, Conv2d, Padding, Window};
    /// let conv = Conv2d::vgg(3, 64, Activation::Relu);
    /// assert_eq!(conv.window, Window::new(3, 1, Padding::Same));
    /// ```
    pub fn vgg(in_channels: i64, filters: i64, activation: Activation) -> Self {
        Conv2d {
            in_channels,
            filters,
            activation,
            window: Window::default(),
        }
    }
}

/// `DepthwiseConv2D(window)` with `depth_multiplier=1`: one kernel per channel.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepthwiseConv2d {
    /// Channels of the input and of the output.
    pub channels: i64,
    /// Kernel size, strides, padding and bias.
    pub window: Window,
}

/// The kernel (named `kernel`), and the bias if the window has one.
fn kernel_and_bias(
    kernel: (&'static str, Vec<i64>),
    window: &Window,
    outputs: i64,
) -> Vec<WeightSpec> {
    let mut weights = vec![WeightSpec::trained(kernel.0, kernel.1, Init::Glorot)];
    if window.use_bias {
        weights.push(WeightSpec::trained("bias", vec![outputs], Init::Zeros));
    }
    weights
}

/// The map a convolution of `in_channels` to `out_channels` over `window` gives, if the input
/// is maps of `in_channels` that the window fits.
fn conv_map(
    in_channels: i64,
    out_channels: i64,
    window: &Window,
    input: &[i64],
) -> Option<Vec<i64>> {
    if in_channels < 1 || out_channels < 1 || input.first() != Some(&in_channels) {
        return None;
    }
    window.map(out_channels, input)
}

/// A convolution of `x` by the weights (OIHW kernel, then the bias if any, prepared for
/// `compute`) over `window`, in `groups` channel groups. Symmetric padding goes to the
/// convolution itself (VGG's call, unchanged); TensorFlow's uneven 'same' padding (stride 2)
/// pads the map with zeros first.
fn convolve(
    x: &Tensor,
    weights: &[Tensor],
    window: &Window,
    groups: i64,
    compute: Compute,
) -> Result<Tensor> {
    let x = compute.prepare(x)?;
    let (kernel, bias) = (&weights[0], weights.get(1));
    let size = x.size();
    let (s, d) = (window.strides, window.dilation_rate);
    let (top, bottom) = window.pads(size[2]);
    let (left, right) = window.pads(size[3]);
    Ok(if top == bottom && left == right {
        x.f_conv2d(kernel, bias, [s, s], [top, left], [d, d], groups)?
    } else {
        x.f_constant_pad_nd([left, right, top, bottom])?.f_conv2d(
            kernel,
            bias,
            [s, s],
            [0, 0],
            [d, d],
            groups,
        )?
    })
}

impl Op for Conv2d {
    fn weights(&self) -> Vec<WeightSpec> {
        let k = self.window.kernel_size;
        let kernel = ("kernel", vec![self.filters, self.in_channels, k, k]);
        kernel_and_bias(kernel, &self.window, self.filters)
    }

    fn fan_in_out(&self) -> (i64, i64) {
        let area = self.window.kernel_size * self.window.kernel_size;
        (area * self.in_channels, area * self.filters)
    }

    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        conv_map(self.in_channels, self.filters, &self.window, input)
    }

    fn expects(&self) -> String {
        format!(
            "maps of {} channels that {} fit, giving {} filters",
            self.in_channels,
            self.window.describe(),
            self.filters
        )
    }

    fn prepares_weights(&self) -> bool {
        true
    }

    fn run(&self, inputs: &[&Tensor], weights: &[Tensor], mode: Mode) -> Result<Tensor> {
        let y = convolve(inputs[0], weights, &self.window, 1, mode.compute)?;
        self.activation.apply_to_new(y)
    }
}

impl Op for DepthwiseConv2d {
    fn weights(&self) -> Vec<WeightSpec> {
        let k = self.window.kernel_size;
        let kernel = ("depthwise_kernel", vec![self.channels, 1, k, k]);
        kernel_and_bias(kernel, &self.window, self.channels)
    }

    /// Keras's depthwise kernel is (k, k, channels, 1).
    fn fan_in_out(&self) -> (i64, i64) {
        let area = self.window.kernel_size * self.window.kernel_size;
        (area * self.channels, area)
    }

    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        conv_map(self.channels, self.channels, &self.window, input)
    }

    fn expects(&self) -> String {
        format!(
            "maps of {} channels that {} fit",
            self.channels,
            self.window.describe()
        )
    }

    fn prepares_weights(&self) -> bool {
        true
    }

    fn run(&self, inputs: &[&Tensor], weights: &[Tensor], mode: Mode) -> Result<Tensor> {
        convolve(
            inputs[0],
            weights,
            &self.window,
            self.channels,
            mode.compute,
        )
    }
}

impl KerasLayer for Conv2d {
    fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        config.channels_last()?;
        let one = [Value::from(1)];
        config.only("groups", &one, "catsdogs's Conv2D has groups=1 only")?;
        Ok(Conv2d {
            in_channels: config.channels()?,
            filters: config.int("filters", None)?,
            activation: config.activation()?,
            window: Window::from_keras(config)?,
        })
    }

    fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
        let mut keys = self.window.keras_config()?;
        keys.insert("filters".into(), json!(self.filters));
        keys.insert("groups".into(), json!(1));
        keys.insert("activation".into(), json!(self.activation.keras_name()));
        Ok(Value::Object(keys))
    }
}

impl KerasLayer for DepthwiseConv2d {
    fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        config.channels_last()?;
        let one = [Value::from(1)];
        config.only(
            "depth_multiplier",
            &one,
            "catsdogs's DepthwiseConv2D has depth_multiplier=1 only",
        )?;
        if config.activation()? != Activation::Linear {
            return Err(KerasRefusal::DepthwiseActivation(
                config.get("activation").cloned().unwrap_or_default(),
            ));
        }
        Ok(DepthwiseConv2d {
            channels: config.channels()?,
            window: Window::from_keras(config)?,
        })
    }

    fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
        let mut keys = self.window.keras_config()?;
        keys.insert("depth_multiplier".into(), json!(1));
        keys.insert("activation".into(), json!("linear"));
        Ok(Value::Object(keys))
    }
}
