//! The window of a convolution or a pooling: its side, its stride and the zeros around the
//! input (Keras's `'same'` and `'valid'`, PyTorch's symmetric padding), and the map it gives.

use serde::{Deserialize, Serialize};

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
        }
    }

    /// The same window without a bias (`use_bias=False`).
    pub fn without_bias(self) -> Self {
        Window {
            use_bias: false,
            ..self
        }
    }

    pub(super) fn is_default(&self) -> bool {
        *self == Window::default()
    }

    /// Whether its sizes are sane: a kernel and stride of 1 to [`MAX_WINDOW`], padding of 0
    /// to [`MAX_WINDOW`].
    fn is_sane(&self) -> bool {
        let padding = match self.padding {
            Padding::Symmetric(n) => n,
            Padding::Same | Padding::Valid => 0,
        };
        let sane = |n: i64, least: i64| (least..=MAX_WINDOW).contains(&n);
        sane(self.kernel_size, 1) && sane(self.strides, 1) && sane(padding, 0)
    }

    /// The output side along an axis of `size`, if the window fits it.
    fn output_side(&self, size: i64) -> Option<i64> {
        let (before, after) = self.padding.pads(size, self.kernel_size, self.strides);
        (size >= 1 && size + before + after >= self.kernel_size).then(|| {
            self.padding
                .output_size(size, self.kernel_size, self.strides)
        })
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

    /// The window in words, for messages: `3x3 windows moved by 2, padding same`.
    pub(super) fn describe(&self) -> String {
        let k = self.kernel_size;
        format!(
            "{k}x{k} windows moved by {}, padding {:?}",
            self.strides, self.padding
        )
    }
}
