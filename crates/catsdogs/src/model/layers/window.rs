//! The window of a convolution or a pooling: its side, its stride, its dilation and the zeros
//! around the input (Keras's `'same'` and `'valid'`, PyTorch's symmetric padding), and the map
//! it gives.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::keras::{padding_name, KerasConfig, KerasRefusal};

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

/// The window of a convolution: Keras's `kernel_size`, `strides`, `padding`, `use_bias` and
/// `dilation_rate` (square windows, equal strides and dilations, as these networks have them).
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
    /// The step between the kernel's taps (1: next to each other).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub dilation_rate: i64,
}

fn one() -> i64 {
    1
}

fn is_one(n: &i64) -> bool {
    *n == 1
}

impl Default for Window {
    /// VGG's: 3x3, stride 1, 'same', with a bias.
    fn default() -> Self {
        Window::new(3, 1, Padding::Same)
    }
}

/// The largest kernel side, stride and padding a stored model may ask for (the networks here
/// use at most 7), which keeps every size computation far from overflowing.
pub(super) const MAX_WINDOW: i64 = 64;

impl Window {
    /// A window of `kernel_size`, `strides` and `padding`, with a bias.
    pub fn new(kernel_size: i64, strides: i64, padding: Padding) -> Self {
        Window {
            kernel_size,
            strides,
            padding,
            use_bias: true,
            dilation_rate: 1,
        }
    }

    /// The same window with its kernel's taps `dilation_rate` apart (Keras's `dilation_rate`).
    pub fn dilated(self, dilation_rate: i64) -> Self {
        Window {
            dilation_rate,
            ..self
        }
    }

    /// The positions the kernel spans along an axis: its side, dilated.
    pub(super) fn extent(&self) -> i64 {
        self.dilation_rate * (self.kernel_size - 1) + 1
    }

    /// The zeros (before, after) along an axis of `size` positions.
    pub(super) fn pads(&self, size: i64) -> (i64, i64) {
        self.padding.pads(size, self.extent(), self.strides)
    }

    /// The same window without a bias (`use_bias=False`).
    pub fn without_bias(self) -> Self {
        self.with_bias(false)
    }

    /// The same window with a bias or without.
    pub fn with_bias(self, use_bias: bool) -> Self {
        Window { use_bias, ..self }
    }

    pub(super) fn is_default(&self) -> bool {
        *self == Window::default()
    }

    /// Whether its sizes are sane: a kernel, stride and dilation of 1 to [`MAX_WINDOW`],
    /// padding of 0 to [`MAX_WINDOW`].
    fn is_sane(&self) -> bool {
        let padding = match self.padding {
            Padding::Symmetric(n) => n,
            Padding::Same | Padding::Valid => 0,
        };
        let sane = |n: i64, least: i64| (least..=MAX_WINDOW).contains(&n);
        sane(self.kernel_size, 1)
            && sane(self.strides, 1)
            && sane(self.dilation_rate, 1)
            && sane(padding, 0)
    }

    /// The output side along an axis of `size`, if the window fits it.
    fn output_side(&self, size: i64) -> Option<i64> {
        let (before, after) = self.pads(size);
        (size >= 1 && size + before + after >= self.extent())
            .then(|| self.padding.output_size(size, self.extent(), self.strides))
    }

    /// The map `[channels, height, width]` that the window makes of a map `input`
    /// (`[_, height, width]`), if the window is sane and fits it.
    pub(super) fn map(&self, channels: i64, input: &[i64]) -> Option<Vec<i64>> {
        match input {
            [_, h, w] if self.is_sane() => {
                Some(vec![channels, self.output_side(*h)?, self.output_side(*w)?])
            }
            _ => None,
        }
    }

    /// The window in words, for messages: `3x3 windows moved by 2, padding same` (and
    /// `dilated by 2` when they are).
    pub(super) fn describe(&self) -> String {
        let k = self.kernel_size;
        let dilated = match self.dilation_rate {
            1 => String::new(),
            d => format!(" dilated by {d}"),
        };
        format!(
            "{k}x{k} windows{dilated} moved by {}, padding {:?}",
            self.strides, self.padding
        )
    }
}

impl Window {
    /// The window of Keras's `kernel_size`, `strides`, `padding`, `use_bias` and
    /// `dilation_rate` in a convolution's config.
    pub(super) fn from_keras(config: &KerasConfig) -> Result<Window, KerasRefusal> {
        Ok(Window::new(
            config.square("kernel_size", None)?,
            config.square("strides", Some(1))?,
            config.padding()?,
        )
        .dilated(config.square("dilation_rate", Some(1))?)
        .with_bias(config.flag("use_bias", true)?))
    }

    /// The same keys of Keras's config.
    pub(super) fn keras_config(&self) -> Result<Map<String, Value>, KerasRefusal> {
        let (k, s, d) = (self.kernel_size, self.strides, self.dilation_rate);
        let json = json!({
            "kernel_size": [k, k],
            "strides": [s, s],
            "padding": padding_name(self.padding)?,
            "dilation_rate": [d, d],
            "use_bias": self.use_bias,
            "data_format": "channels_last",
        });
        Ok(json.as_object().cloned().unwrap_or_default())
    }
}
