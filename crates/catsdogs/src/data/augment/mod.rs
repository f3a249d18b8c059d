//! Augmentation as Keras's `ImageDataGenerator` has it: [`ImageDataGenerator::get_random_transform`]
//! draws a [`TransformParams`] (Keras's dictionary, with Keras's names), and
//! [`ImageDataGenerator::apply_transform`] applies it: the affine transform (rotation, shift,
//! shear, zoom) with the fill mode, then the channel shift, the flips and the brightness, in
//! Keras's order.
//!
//! For given parameters the result equals Keras's `apply_transform` on the same `load_img`
//! array: the geometric part is `scipy.ndimage.affine_transform(order=1)` with scipy's edge
//! rules (see `affine`), the brightness goes through Pillow's rule (see `color`).
//! `tests/augment_parity.rs` checks both against Keras itself.
//!
//! The draws are our own seeded generator's, not NumPy's: each image of each epoch gets its
//! own seed ([`transform_seed`]), so an epoch is the same whether it runs in one go, is resumed,
//! or is computed on any number of threads.
//!
//! ```
//! use catsdogs::data::{ImageDataGenerator, Preprocess, TransformParams};
//! let datagen = ImageDataGenerator::new(Preprocess::None).fill_mode("constant".parse()?);
//! let x = ndarray::Array3::from_shape_fn((3, 4, 3), |(r, c, _)| (10 * r + c) as f32);
//! // Keras's tx moves the image sideways: one pixel to the left here.
//! let params = TransformParams { tx: 1.0, ..TransformParams::default() };
//! let y = datagen.apply_transform(x, &params)?;
//! assert_eq!(y.slice(ndarray::s![0, .., 0]).to_vec(), [1.0, 2.0, 3.0, 0.0]);
//! # Ok::<(), catsdogs::Error>(())
//! ```

mod affine;
mod arguments;
mod color;
mod random;
mod ranges;

use ndarray::Array3;

use super::generator::ImageDataGenerator;
use crate::error::{AugmentProblem, Error, Result};
use affine::{Affine, Warp};
pub(crate) use affine::{Layout, Pixel, Shape};
pub use arguments::AUGMENT_ARGUMENTS;
pub use random::transform_seed;
pub(crate) use ranges::{check_pair, check_range};
pub use ranges::{FillMode, ShiftRange, ZoomRange};

/// One transform, with the names of the dictionary that Keras's `get_random_transform` returns
/// and `apply_transform` takes. Angles are in degrees; `tx` and `ty` in pixels; missing
/// entries of a JSON object are the identity's (as Keras's `dict.get` defaults).
///
/// ```
/// let params: catsdogs::data::TransformParams = r#"{"theta": 30, "zx": 0.8}"#.parse()?;
/// assert_eq!((params.theta, params.zx, params.zy, params.brightness), (30.0, 0.8, 1.0, None));
/// assert!(r#"{"rotation": 30}"#.parse::<catsdogs::data::TransformParams>().is_err());
/// # Ok::<(), catsdogs::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransformParams {
    /// Rotation, in degrees.
    pub theta: f64,
    /// Keras's shift "in the x direction", in pixels: drawn from `height_shift_range` (as a
    /// fraction of the height), yet it moves the image along its rows, left for a positive
    /// `tx`, because Keras builds its matrix in (x, y) order and then swaps the axes.
    pub tx: f64,
    /// The shift "in the y direction", in pixels: drawn from `width_shift_range`, it moves the
    /// image up and down, up for a positive `ty`.
    pub ty: f64,
    /// Shear angle, in degrees.
    pub shear: f64,
    /// Zoom along x (1 is none).
    pub zx: f64,
    /// Zoom along y (1 is none).
    pub zy: f64,
    /// Mirror left to right, after the affine transform.
    pub flip_horizontal: bool,
    /// Mirror top to bottom, after the affine transform.
    pub flip_vertical: bool,
    /// Added to every value, clipped to the image's own range.
    pub channel_shift_intensity: Option<f64>,
    /// Pillow's brightness factor (1 is none).
    pub brightness: Option<f64>,
}

impl Default for TransformParams {
    /// The identity: no change at all.
    fn default() -> Self {
        TransformParams {
            theta: 0.0,
            tx: 0.0,
            ty: 0.0,
            shear: 0.0,
            zx: 1.0,
            zy: 1.0,
            flip_horizontal: false,
            flip_vertical: false,
            channel_shift_intensity: None,
            brightness: None,
        }
    }
}

impl std::str::FromStr for TransformParams {
    type Err = Error;

    /// Reads Keras's dictionary written as JSON, such as `{"theta": 30, "tx": 5}`.
    fn from_str(json: &str) -> Result<Self> {
        let params: TransformParams =
            serde_json::from_str(json).map_err(|e| Error::Augmentation {
                argument: format!("the transform {json}"),
                problem: AugmentProblem::NotParameters(e.to_string()),
            })?;
        params.check()?;
        Ok(params)
    }
}

impl TransformParams {
    /// Refuses a parameter that is not a finite number.
    fn check(&self) -> Result<()> {
        let numbers = [
            ("theta", Some(self.theta)),
            ("tx", Some(self.tx)),
            ("ty", Some(self.ty)),
            ("shear", Some(self.shear)),
            ("zx", Some(self.zx)),
            ("zy", Some(self.zy)),
            ("channel_shift_intensity", self.channel_shift_intensity),
            ("brightness", self.brightness),
        ];
        match numbers
            .iter()
            .find(|(_, v)| v.is_some_and(|v| !v.is_finite()))
        {
            Some((name, Some(v))) => Err(Error::Augmentation {
                argument: format!("transform parameter {name}"),
                problem: AugmentProblem::ParameterNotFinite(*v),
            }),
            _ => Ok(()),
        }
    }
}

impl ImageDataGenerator {
    /// Keras's `apply_transform(x, transform_parameters)` on an image array (height, width,
    /// channels), as `img_to_array` gives it, with the generator's `fill_mode` and `cval`.
    ///
    /// ```
    /// use catsdogs::data::{ImageDataGenerator, Preprocess, TransformParams};
    /// let x = ndarray::Array3::from_shape_fn((5, 7, 3), |(r, c, k)| (r * 7 + c + k) as f32);
    /// let flip = TransformParams { flip_horizontal: true, ..TransformParams::default() };
    /// let y = ImageDataGenerator::new(Preprocess::None).apply_transform(x.clone(), &flip)?;
    /// assert_eq!(y[[2, 0, 1]], x[[2, 6, 1]]);
    /// # Ok::<(), catsdogs::Error>(())
    /// ```
    pub fn apply_transform(&self, x: Array3<f32>, params: &TransformParams) -> Result<Array3<f32>> {
        let (rows, cols, channels) = x.dim();
        let shape = Shape {
            rows,
            cols,
            channels,
        };
        let src = x.as_standard_layout();
        let src = src
            .as_slice()
            .expect("a standard-layout array is one slice");
        let mut out = vec![0f32; src.len()];
        let layout = Layout::interleaved(channels);
        self.transform_into(src, shape, params, &mut out, &layout)?;
        Ok(Array3::from_shape_vec((rows, cols, channels), out).expect("the same shape"))
    }

    /// Keras's `random_transform(x, seed)`: [`get_random_transform`](Self::get_random_transform)
    /// then [`apply_transform`](Self::apply_transform).
    ///
    /// ```
    /// use catsdogs::data::{ImageDataGenerator, Preprocess};
    /// let x = ndarray::Array3::from_shape_fn((8, 8, 3), |(r, c, _)| (r * 8 + c) as f32);
    /// let datagen = ImageDataGenerator::classic(Preprocess::None);
    /// let y = datagen.random_transform(x.clone(), 3)?;
    /// assert_eq!(y, datagen.random_transform(x, 3)?);
    /// # Ok::<(), catsdogs::Error>(())
    /// ```
    pub fn random_transform(&self, x: Array3<f32>, seed: u64) -> Result<Array3<f32>> {
        let params = self.get_random_transform(x.shape(), seed)?;
        self.apply_transform(x, &params)
    }

    /// [`apply_transform`](Self::apply_transform) from any pixels (the decoded cache's `u8`
    /// ones, say) into `out`, laid out as `layout` says (the colour steps work on every value
    /// alike, so they do not mind the layout).
    pub(crate) fn transform_into<P: Pixel>(
        &self,
        src: &[P],
        shape: Shape,
        params: &TransformParams,
        out: &mut [f32],
        layout: &Layout,
    ) -> Result<()> {
        self.check()?;
        params.check()?;
        if src.is_empty() {
            return Ok(()); // no pixels to move
        }
        let p = params;
        let geometry = [p.theta, p.tx, p.ty, p.shear, p.zx, p.zy];
        let warp = Warp {
            affine: Affine::keras(geometry, shape.rows, shape.cols),
            fill_mode: self.fill_mode,
            cval: self.cval,
            flip_horizontal: params.flip_horizontal,
            flip_vertical: params.flip_vertical,
        };
        warp.apply(src, shape, out, layout);
        if let Some(intensity) = params.channel_shift_intensity {
            color::channel_shift(out, intensity);
        }
        if let Some(factor) = params.brightness {
            color::brightness(out, factor);
        }
        Ok(())
    }
}
