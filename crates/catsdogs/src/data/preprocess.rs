//! Keras's `preprocess_input`, on arrays ([`preprocess_input`]) and on batches of tensors
//! ([`preprocess_batch`]) with the same `f32` arithmetic, so both give identical numbers.
//!
//! - [`Preprocess::Vgg16`] is Keras's "caffe" mode, which VGG16's ImageNet weights from Keras
//!   expect: RGB to BGR, then minus the mean pixel [103.939, 116.779, 123.68] (B, G, R), with no
//!   scaling.
//! - [`Preprocess::Tf`] is Keras's "tf" mode, which MobileNetV2's ImageNet weights expect:
//!   divide by 127.5, then subtract 1 (values in [-1, 1]), in RGB order.
//! - [`Preprocess::Torch`] is torchvision's (and Keras's "torch" mode): divide by 255, then
//!   subtract the ImageNet mean [0.485, 0.456, 0.406] and divide by the std [0.229, 0.224,
//!   0.225], in RGB order. Use it with torchvision's weights.
//!
//! ```
//! use catsdogs::data::{preprocess_input, Preprocess};
//! let x = ndarray::Array3::from_shape_vec((1, 1, 3), vec![10.0f32, 20.0, 30.0]).unwrap();
//! let y = preprocess_input(x, Preprocess::Vgg16);
//! assert_eq!(y.as_slice().unwrap(), [30.0 - 103.939f32, 20.0 - 116.779f32, 10.0 - 123.68f32]);
//! ```

use std::str::FromStr;

use ndarray::{Array3, Axis};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// How pixels become network inputs; chosen together with the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preprocess {
    /// Pixels as they are, 0 to 255, RGB.
    None,
    /// Keras's caffe mode for VGG16: BGR, minus the ImageNet mean pixel.
    Vgg16,
    /// torchvision's: RGB / 255, minus the ImageNet mean, divided by the std.
    Torch,
    /// Keras's tf mode for MobileNetV2: RGB / 127.5 - 1.
    Tf,
}

/// The caffe mean pixel, in BGR order.
const CAFFE_MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];
/// torchvision's ImageNet mean and std, in RGB order.
const TORCH_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const TORCH_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// Keras's tf mode: divide by this, then subtract 1.
const TF_SCALE: f32 = 127.5;

impl FromStr for Preprocess {
    type Err = Error;

    /// Parses `none`, `vgg16` (or `caffe`), `torch` and `tf`.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Preprocess::None),
            "vgg16" | "caffe" => Ok(Preprocess::Vgg16),
            "torch" => Ok(Preprocess::Torch),
            "tf" => Ok(Preprocess::Tf),
            _ => Err(Error::UnknownName {
                what: "preprocessing",
                given: s.to_string(),
                known: "none, vgg16, torch or tf",
            }),
        }
    }
}

impl Preprocess {
    /// Where RGB channel `c` (0, 1 or 2) goes in the network's input: BGR for VGG16's caffe
    /// mode, RGB otherwise.
    pub(crate) fn position(self, c: usize) -> usize {
        match self {
            Preprocess::Vgg16 => 2 - c,
            Preprocess::None | Preprocess::Torch | Preprocess::Tf => c,
        }
    }

    /// A value `v` of RGB channel `c` (0, 1 or 2) as the network's input.
    pub(crate) fn value(self, c: usize, v: f32) -> f32 {
        match self {
            Preprocess::None => v,
            Preprocess::Vgg16 => v - CAFFE_MEAN_BGR[2 - c],
            Preprocess::Torch => (v / 255.0 - TORCH_MEAN[c]) / TORCH_STD[c],
            Preprocess::Tf => v / TF_SCALE - 1.0,
        }
    }

    /// Preprocesses, in place, an image laid out (3, H, W) with RGB channel `c` in plane
    /// [`position(c)`](Self::position), each plane `plane` values long.
    pub(crate) fn apply_planar(self, image: &mut [f32], plane: usize) {
        for c in 0..3 {
            let at = self.position(c) * plane;
            for v in &mut image[at..at + plane] {
                *v = self.value(c, *v);
            }
        }
    }
}

/// Keras's `preprocess_input` on one image of shape (height, width, 3), RGB, values 0 to 255.
/// An array whose last axis is not 3 long is returned unchanged.
pub fn preprocess_input(mut x: Array3<f32>, mode: Preprocess) -> Array3<f32> {
    if x.len_of(Axis(2)) != 3 {
        return x;
    }
    for mut pixel in x.lanes_mut(Axis(2)) {
        let rgb = [pixel[0], pixel[1], pixel[2]];
        for (c, v) in rgb.into_iter().enumerate() {
            pixel[mode.position(c)] = mode.value(c, v);
        }
    }
    x
}

/// [`preprocess_input`] on a batch: `images` is (N, H, W, 3) `u8`, on any device; the result is
/// (N, 3, H, W) `f32` on the same device, with the same arithmetic, so the numbers are equal.
///
/// Panics if `images` is not 4-dimensional with 3 channels last; [`f_preprocess_batch`] returns
/// an error instead.
///
/// ```
/// use catsdogs::data::{preprocess_batch, Preprocess};
/// let images = tch::Tensor::from_slice(&[10u8, 20, 30]).view([1, 1, 1, 3]);
/// let x = preprocess_batch(&images, Preprocess::Vgg16);
/// assert_eq!(x.size(), [1, 3, 1, 1]);
/// assert_eq!(x.double_value(&[0, 0, 0, 0]) as f32, 30.0 - 103.939f32);
/// ```
pub fn preprocess_batch(images: &Tensor, mode: Preprocess) -> Tensor {
    f_preprocess_batch(images, mode).unwrap_or_else(|e| panic!("preprocess_batch: {e}"))
}

/// [`preprocess_batch`], returning an error for a tensor of the wrong shape.
pub fn f_preprocess_batch(images: &Tensor, mode: Preprocess) -> Result<Tensor> {
    let size = images.size();
    if size.len() != 4 || size[3] != 3 {
        return Err(Error::Input {
            what: "preprocess_batch".to_string(),
            expected: "images shaped (N, H, W, 3)".to_string(),
            found: size,
        });
    }
    let device = images.device();
    // Per-channel constants as (1, 3, 1, 1) tensors on the device: a plain scalar divisor
    // would let CUDA multiply by its reciprocal instead of dividing.
    let channels = |values: [f32; 3]| -> Result<Tensor> {
        Ok(Tensor::f_from_slice(&values)?
            .f_view([1, 3, 1, 1])?
            .f_to_device(device)?)
    };
    // Layout work on the u8 pixels (BGR flip, NCHW copy), then one conversion to f32 and the
    // arithmetic in place: fewer passes over the 4-times larger floats.
    let images = match mode {
        Preprocess::Vgg16 => images.f_flip([3])?,
        Preprocess::None | Preprocess::Torch | Preprocess::Tf => images.shallow_clone(),
    };
    let mut x = images
        .f_permute([0, 3, 1, 2])?
        .f_contiguous()?
        .f_to_kind(Kind::Float)?;
    // In-place operations return the same tensor.
    let x = match mode {
        Preprocess::None => x,
        Preprocess::Vgg16 => x.f_sub_(&channels(CAFFE_MEAN_BGR)?)?,
        Preprocess::Torch => x
            .f_div_(&channels([255.0; 3])?)?
            .f_sub_(&channels(TORCH_MEAN)?)?
            .f_div_(&channels(TORCH_STD)?)?,
        Preprocess::Tf => x
            .f_div_(&channels([TF_SCALE; 3])?)?
            .f_sub_(&channels([1.0; 3])?)?,
    };
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixels() -> Array3<f32> {
        Array3::from_shape_fn((2, 3, 3), |(y, x, c)| (y * 97 + x * 31 + c * 7) as f32)
    }

    #[test]
    fn array_and_batch_paths_give_identical_bits() {
        let x = pixels();
        let u8s: Vec<u8> = x.iter().map(|&v| v as u8).collect();
        let images = Tensor::from_slice(&u8s).view([1, 2, 3, 3]);
        for mode in [
            Preprocess::None,
            Preprocess::Vgg16,
            Preprocess::Torch,
            Preprocess::Tf,
        ] {
            let expected = preprocess_input(x.clone(), mode);
            let batch = preprocess_batch(&images, mode);
            let mut got = vec![0f32; 18];
            batch.copy_data(&mut got, 18);
            // batch is (1, 3, H, W): compare channel-major.
            for ((y, xx, c), &v) in expected.indexed_iter() {
                assert_eq!(got[c * 6 + y * 3 + xx].to_bits(), v.to_bits(), "{mode:?}");
            }
        }
    }

    #[test]
    fn torch_mode_divides_then_normalises() {
        let x = Array3::from_elem((1, 1, 3), 255.0f32);
        let y = preprocess_input(x, Preprocess::Torch);
        assert_eq!(y[[0, 0, 0]], (1.0f32 - 0.485) / 0.229);
        assert_eq!(y[[0, 0, 2]], (1.0f32 - 0.406) / 0.225);
    }

    #[test]
    fn names_parse() {
        assert_eq!("VGG16".parse::<Preprocess>().unwrap(), Preprocess::Vgg16);
        assert!("imagenet".parse::<Preprocess>().is_err());
    }
}
