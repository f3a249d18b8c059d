//! Poolings: Keras's `MaxPooling2D` and `AveragePooling2D` (padding 'valid' or 'same', whose
//! padded positions never count: TensorFlow's), and the global poolings that reduce each
//! channel's map to one value.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tch::{Kind, Tensor};

use super::keras::{padding_name, KerasConfig, KerasLayer, KerasRefusal};
use super::window::{Padding, Window};
use super::{Mode, Op};
use crate::error::Result;

fn valid() -> Padding {
    Padding::Valid
}

fn is_valid(padding: &Padding) -> bool {
    *padding == Padding::Valid
}

/// `MaxPooling2D(pool_size, strides, padding)`: the largest value of each window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxPooling2d {
    /// The side of the window.
    pub pool_size: i64,
    /// The step between windows.
    pub strides: i64,
    /// 'valid' (odd sizes round down) unless set; with 'same', padded positions never win.
    #[serde(default = "valid", skip_serializing_if = "is_valid")]
    pub padding: Padding,
}

impl MaxPooling2d {
    /// VGG's `MaxPooling2D((2, 2), strides=(2, 2))`.
    pub fn vgg() -> Self {
        MaxPooling2d {
            pool_size: 2,
            strides: 2,
            padding: Padding::Valid,
        }
    }
}

/// `AveragePooling2D(pool_size, strides, padding)`: the mean of each window; with 'same', the
/// mean of the window's positions inside the map, as TensorFlow takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AveragePooling2d {
    /// The side of the window.
    pub pool_size: i64,
    /// The step between windows.
    pub strides: i64,
    /// 'valid' or 'same'.
    #[serde(default = "valid", skip_serializing_if = "is_valid")]
    pub padding: Padding,
}

/// `x` padded as `window` pads it (with `value`), and the window's side and stride.
fn padded(x: &Tensor, window: &Window, value: f64) -> Result<(Tensor, i64, i64)> {
    let size = x.size();
    let (top, bottom) = window.pads(size[2]);
    let (left, right) = window.pads(size[3]);
    let x = if top + bottom + left + right == 0 {
        x.shallow_clone()
    } else {
        x.f_pad([left, right, top, bottom], "constant", Some(value))?
    };
    Ok((x, window.kernel_size, window.strides))
}

/// What the two poolings over windows share: their window, the shape it gives, and Keras's
/// config of it (`pool_size`, `strides`, which is the pool size when null, and `padding`);
/// each pools in its own `pool`.
macro_rules! window_poolings {
    ($($kind:ident),*) => {$(
        impl $kind {
            /// The window, if its padding is Keras's (PyTorch's symmetric padding is not a
            /// pooling's here).
            fn window(&self) -> Option<Window> {
                matches!(self.padding, Padding::Valid | Padding::Same)
                    .then(|| Window::new(self.pool_size, self.strides, self.padding))
            }
        }

        impl Op for $kind {
            fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
                self.window()?.map(*input.first()?, input)
            }

            fn expects(&self) -> String {
                match self.window() {
                    Some(window) => format!("maps that {} fit", window.describe()),
                    None => "padding 'valid' or 'same'".into(),
                }
            }

            fn run(&self, inputs: &[&Tensor], _: &[Tensor], _: Mode) -> Result<Tensor> {
                self.pool(inputs[0], &Window::new(self.pool_size, self.strides, self.padding))
            }
        }

        impl KerasLayer for $kind {
            fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
                config.channels_last()?;
                let pool_size = config.square("pool_size", Some(2))?;
                Ok($kind {
                    pool_size,
                    strides: config.square("strides", Some(pool_size))?,
                    padding: config.padding()?,
                })
            }

            fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
                let (k, s) = (self.pool_size, self.strides);
                Ok(json!({
                    "pool_size": [k, k],
                    "strides": [s, s],
                    "padding": padding_name(self.padding)?,
                    "data_format": "channels_last",
                }))
            }
        }
    )*};
}

window_poolings!(MaxPooling2d, AveragePooling2d);

impl MaxPooling2d {
    /// The largest value of each window; padded positions never win.
    fn pool(&self, x: &Tensor, window: &Window) -> Result<Tensor> {
        let (x, k, s) = padded(x, window, f64::NEG_INFINITY)?;
        Ok(x.f_max_pool2d([k, k], [s, s], [0, 0], [1, 1], false)?)
    }
}

impl AveragePooling2d {
    /// The mean over each window with zeros for the padding, divided by the share of the
    /// window inside the map (1 without padding).
    fn pool(&self, x: &Tensor, window: &Window) -> Result<Tensor> {
        let (padded_x, k, s) = padded(x, window, 0.0)?;
        let mean = padded_x.f_avg_pool2d([k, k], [s, s], [0, 0], false, true, None::<i64>)?;
        if padded_x.size() == x.size() {
            return Ok(mean);
        }
        let size = x.size();
        let ones = Tensor::f_ones([1, 1, size[2], size[3]], (mean.kind(), mean.device()))?;
        let (inside, _, _) = padded(&ones, window, 0.0)?;
        let share = inside.f_avg_pool2d([k, k], [s, s], [0, 0], false, true, None::<i64>)?;
        Ok(mean.f_div(&share)?)
    }
}

/// `GlobalAveragePooling2D()`: the mean of each channel's map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalAveragePooling2d {}

/// `GlobalMaxPooling2D()`: the largest value of each channel's map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalMaxPooling2d {}

/// The channels of a map `[channels, height, width]` of at least one pixel.
fn channels(input: &[i64]) -> Option<Vec<i64>> {
    match input {
        [c, h, w] if *h >= 1 && *w >= 1 => Some(vec![*c]),
        _ => None,
    }
}

impl Op for GlobalAveragePooling2d {
    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        channels(input)
    }

    fn expects(&self) -> String {
        "maps of at least one pixel".into()
    }

    fn run(&self, inputs: &[&Tensor], _: &[Tensor], _: Mode) -> Result<Tensor> {
        Ok(inputs[0].f_mean_dim([2i64, 3].as_slice(), false, None::<Kind>)?)
    }
}

impl Op for GlobalMaxPooling2d {
    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        channels(input)
    }

    fn expects(&self) -> String {
        "maps of at least one pixel".into()
    }

    fn run(&self, inputs: &[&Tensor], _: &[Tensor], _: Mode) -> Result<Tensor> {
        Ok(inputs[0].f_amax([2, 3], false)?)
    }
}

/// A global pooling's config: channels last, and no `keepdims`.
fn global_from_keras(config: &KerasConfig) -> std::result::Result<(), KerasRefusal> {
    config.channels_last()?;
    config.only(
        "keepdims",
        &[Value::from(false)],
        "catsdogs's global poolings give flat features only",
    )?;
    config.channels().map(|_| ())
}

impl KerasLayer for GlobalAveragePooling2d {
    fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        global_from_keras(config).map(|()| GlobalAveragePooling2d {})
    }

    fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
        Ok(json!({"data_format": "channels_last", "keepdims": false}))
    }
}

impl KerasLayer for GlobalMaxPooling2d {
    fn from_keras(config: &KerasConfig) -> std::result::Result<Self, KerasRefusal> {
        global_from_keras(config).map(|()| GlobalMaxPooling2d {})
    }

    fn keras_config(&self) -> std::result::Result<Value, KerasRefusal> {
        Ok(json!({"data_format": "channels_last", "keepdims": false}))
    }
}
