//! Keras's `ImageDataGenerator`: the preprocessing function and the augmentation arguments, with
//! Keras's names, meanings and defaults (no augmentation at all). What the arguments do is in
//! `augment` ([`ImageDataGenerator::get_random_transform`],
//! [`ImageDataGenerator::apply_transform`]); the batches are in `flow`
//! ([`ImageDataGenerator::flow_from_directory`]).
//!
//! ```
//! use catsdogs::data::{FillMode, ImageDataGenerator, Preprocess};
//! // ImageDataGenerator(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
//! //     shear_range=0.2, zoom_range=0.2, horizontal_flip=True, fill_mode='nearest',
//! //     preprocessing_function=preprocess_input)
//! let datagen = ImageDataGenerator::new(Preprocess::Vgg16)
//!     .rotation_range(40.0)
//!     .width_shift_range(0.2)
//!     .height_shift_range(0.2)
//!     .shear_range(0.2)
//!     .zoom_range(0.2)
//!     .horizontal_flip(true)
//!     .fill_mode(FillMode::Nearest);
//! assert_eq!(datagen, ImageDataGenerator::classic(Preprocess::Vgg16));
//! assert!(datagen.augments());
//! ```

use super::augment::{check_pair, check_range, FillMode, ShiftRange, ZoomRange};
use super::preprocess::Preprocess;
use crate::error::Result;

/// Keras's `ImageDataGenerator`: a preprocessing function, and the augmentation arguments
/// that Keras's `flow_from_directory` applies to each image before it (each off by default).
/// Bad values are refused with one sentence by [`check`](Self::check), which every use of the
/// generator runs first.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageDataGenerator {
    /// Applied to every batch (Keras's `preprocessing_function`), after the augmentation.
    pub preprocessing: Preprocess,
    /// Rotations drawn from `(-r, r)` degrees.
    pub rotation_range: f64,
    /// Horizontal shifts (see [`ShiftRange`]).
    pub width_shift_range: ShiftRange,
    /// Vertical shifts (see [`ShiftRange`]).
    pub height_shift_range: ShiftRange,
    /// Brightness factors drawn from `[lower, upper]` (1 leaves the image as it is).
    pub brightness_range: Option<[f64; 2]>,
    /// Shear angles drawn from `(-s, s)` degrees.
    pub shear_range: f64,
    /// Zoom factors, drawn for each axis on its own (see [`ZoomRange`]).
    pub zoom_range: ZoomRange,
    /// Channel shifts drawn from `(-r, r)`, on the 0-255 scale.
    pub channel_shift_range: f64,
    /// How points outside the image are filled.
    pub fill_mode: FillMode,
    /// The value outside the image with [`FillMode::Constant`].
    pub cval: f64,
    /// Mirror left to right half of the time.
    pub horizontal_flip: bool,
    /// Mirror top to bottom half of the time.
    pub vertical_flip: bool,
}

impl ImageDataGenerator {
    /// A generator that applies `preprocessing` to every batch, with no augmentation (Keras's
    /// defaults).
    pub fn new(preprocessing: Preprocess) -> Self {
        ImageDataGenerator {
            preprocessing,
            rotation_range: 0.0,
            width_shift_range: ShiftRange::default(),
            height_shift_range: ShiftRange::default(),
            brightness_range: None,
            shear_range: 0.0,
            zoom_range: ZoomRange::default(),
            channel_shift_range: 0.0,
            fill_mode: FillMode::Nearest,
            cval: 0.0,
            horizontal_flip: false,
            vertical_flip: false,
        }
    }

    /// The classic cats-vs-dogs setting: `rotation_range=40, width_shift_range=0.2,
    /// height_shift_range=0.2, shear_range=0.2, zoom_range=0.2, horizontal_flip=True,
    /// fill_mode='nearest'`.
    pub fn classic(preprocessing: Preprocess) -> Self {
        ImageDataGenerator::new(preprocessing)
            .rotation_range(40.0)
            .width_shift_range(0.2)
            .height_shift_range(0.2)
            .shear_range(0.2)
            .zoom_range(0.2)
            .horizontal_flip(true)
            .fill_mode(FillMode::Nearest)
    }

    /// Whether it changes the images at all: a flow of an augmenting generator gives new
    /// images every epoch.
    pub fn augments(&self) -> bool {
        self.rotation_range != 0.0
            || self.width_shift_range.shifts()
            || self.height_shift_range.shifts()
            || self.brightness_range.is_some()
            || self.shear_range != 0.0
            || self.zoom_range.bounds() != [1.0, 1.0]
            || self.channel_shift_range != 0.0
            || self.horizontal_flip
            || self.vertical_flip
    }

    /// Refuses, with one sentence, a negative or non-finite range, a zoom or brightness pair in
    /// the wrong order or below 0, and a non-finite `cval`.
    ///
    /// ```
    /// use catsdogs::data::{ImageDataGenerator, Preprocess};
    /// let datagen = ImageDataGenerator::new(Preprocess::None).zoom_range([1.2, 0.8]);
    /// assert!(datagen.check().unwrap_err().to_string().contains("wrong order"));
    /// ```
    pub fn check(&self) -> Result<()> {
        check_range("rotation_range", self.rotation_range, "40 (degrees)")?;
        self.width_shift_range.check("width_shift_range")?;
        self.height_shift_range.check("height_shift_range")?;
        if let Some([lower, upper]) = self.brightness_range {
            check_pair("brightness_range", lower, upper, "[0.5,1.5]")?;
        }
        check_range("shear_range", self.shear_range, "0.2 (degrees)")?;
        self.zoom_range.check()?;
        check_range("channel_shift_range", self.channel_shift_range, "20")?;
        if !self.cval.is_finite() {
            return Err(crate::Error::Augmentation {
                argument: format!("cval {}", self.cval),
                problem: crate::error::AugmentProblem::CvalNotFinite,
            });
        }
        Ok(())
    }

    /// Sets `rotation_range`, in degrees.
    pub fn rotation_range(mut self, degrees: f64) -> Self {
        self.rotation_range = degrees;
        self
    }

    /// Sets `width_shift_range`: a fraction such as `0.2`, pixels such as `10`, or choices.
    pub fn width_shift_range(mut self, range: impl Into<ShiftRange>) -> Self {
        self.width_shift_range = range.into();
        self
    }

    /// Sets `height_shift_range`: a fraction such as `0.2`, pixels such as `10`, or choices.
    pub fn height_shift_range(mut self, range: impl Into<ShiftRange>) -> Self {
        self.height_shift_range = range.into();
        self
    }

    /// Sets `brightness_range`, `[lower, upper]`.
    pub fn brightness_range(mut self, range: [f64; 2]) -> Self {
        self.brightness_range = Some(range);
        self
    }

    /// Sets `shear_range`, in degrees.
    pub fn shear_range(mut self, degrees: f64) -> Self {
        self.shear_range = degrees;
        self
    }

    /// Sets `zoom_range`: `0.2` for `[0.8, 1.2]`, or a `[lower, upper]` pair.
    pub fn zoom_range(mut self, range: impl Into<ZoomRange>) -> Self {
        self.zoom_range = range.into();
        self
    }

    /// Sets `channel_shift_range`, on the 0-255 scale.
    pub fn channel_shift_range(mut self, range: f64) -> Self {
        self.channel_shift_range = range;
        self
    }

    /// Sets `fill_mode`.
    pub fn fill_mode(mut self, mode: FillMode) -> Self {
        self.fill_mode = mode;
        self
    }

    /// Sets `cval`, the value outside the image with `fill_mode` constant.
    pub fn cval(mut self, value: f64) -> Self {
        self.cval = value;
        self
    }

    /// Sets `horizontal_flip`.
    pub fn horizontal_flip(mut self, flip: bool) -> Self {
        self.horizontal_flip = flip;
        self
    }

    /// Sets `vertical_flip`.
    pub fn vertical_flip(mut self, flip: bool) -> Self {
        self.vertical_flip = flip;
        self
    }
}
