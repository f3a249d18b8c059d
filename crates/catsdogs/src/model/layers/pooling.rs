//! Poolings: Keras's `MaxPooling2D` (padding 'valid') and the global poolings that reduce each
//! channel's map to one value.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::window::{Padding, Window};
use super::{Mode, Op};
use crate::error::Result;

/// `MaxPooling2D(pool_size, strides)`, padding 'valid' (odd sizes round down).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxPooling2d {
    /// The side of the window.
    pub pool_size: i64,
    /// The step between windows.
    pub strides: i64,
}

impl MaxPooling2d {
    /// VGG's `MaxPooling2D((2, 2), strides=(2, 2))`.
    pub fn vgg() -> Self {
        MaxPooling2d {
            pool_size: 2,
            strides: 2,
        }
    }

    fn window(&self) -> Window {
        Window::new(self.pool_size, self.strides, Padding::Valid)
    }
}

impl Op for MaxPooling2d {
    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        self.window().map(*input.first()?, input)
    }

    fn expects(&self) -> String {
        format!("maps that {} fit", self.window().describe())
    }

    fn run(&self, inputs: &[&Tensor], _: &[Tensor], _: Mode) -> Result<Tensor> {
        let (k, s) = (self.pool_size, self.strides);
        Ok(inputs[0].f_max_pool2d([k, k], [s, s], [0, 0], [1, 1], false)?)
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
