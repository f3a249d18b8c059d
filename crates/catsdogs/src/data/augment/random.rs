//! Keras's `get_random_transform`: the parameters of one transform, drawn from the generator's
//! ranges by the rules Keras reads them with, from a seed alone (our seeded generator's draws,
//! not NumPy's).

use super::ranges::ShiftRange;
use super::TransformParams;
use crate::data::generator::ImageDataGenerator;
use crate::data::rng::Rng;
use crate::error::{AugmentProblem, Error, Result};

/// The seed of the transform of image `index` in epoch `epoch` of a flow seeded `seed`: the same
/// triple always gives the same transform, and any other triple an independent one.
///
/// ```
/// use catsdogs::data::transform_seed;
/// assert_eq!(transform_seed(0, 3, 7), transform_seed(0, 3, 7));
/// assert_ne!(transform_seed(0, 3, 7), transform_seed(0, 4, 7));
/// ```
pub fn transform_seed(seed: u64, epoch: usize, index: usize) -> u64 {
    /// Keeps these draws apart from the epoch orders, which use `Rng::new(seed, epoch)`.
    const AUGMENT: u64 = 0x6175_676D_656E_7421;
    let epoch_seed = Rng::new(seed ^ AUGMENT, epoch as u64).next_u64();
    Rng::new(epoch_seed, index as u64).next_u64()
}

/// A number drawn uniformly from `[low, high)`.
fn uniform(rng: &mut Rng, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.unit()
}

/// A number drawn from `(-range, range)`, or 0 for a range of 0 (Keras draws nothing then).
fn symmetric(rng: &mut Rng, range: f64) -> f64 {
    if range != 0.0 {
        uniform(rng, -range, range)
    } else {
        0.0
    }
}

/// A shift in pixels along a side of `side` pixels, as Keras reads `range`.
fn shift(rng: &mut Rng, range: &ShiftRange, side: usize) -> f64 {
    let sign = |rng: &mut Rng| if rng.below(2) == 0 { -1.0 } else { 1.0 };
    let (value, largest) = match range {
        _ if !range.shifts() => return 0.0,
        ShiftRange::Float(v) => (symmetric(rng, *v), *v),
        // A Python int n: numpy's choice(n), from 0..n, times a random sign.
        ShiftRange::Int(n) => (rng.below(*n as u64) as f64 * sign(rng), *n as f64),
        ShiftRange::Choices(choices) => {
            let pick = choices[rng.below(choices.len() as u64) as usize];
            let largest = choices.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (pick * sign(rng), largest)
        }
    };
    if largest < 1.0 {
        value * side as f64 // a fraction of the side
    } else {
        value
    }
}

impl ImageDataGenerator {
    /// Keras's `get_random_transform(img_shape, seed)`: parameters drawn from the generator's
    /// ranges, for an image of `shape` (height, width, channels), from `seed` alone.
    ///
    /// ```
    /// use catsdogs::data::{ImageDataGenerator, Preprocess};
    /// let datagen = ImageDataGenerator::new(Preprocess::None).rotation_range(40.0).horizontal_flip(true);
    /// let params = datagen.get_random_transform(&[224, 224, 3], 7)?;
    /// assert!(params.theta.abs() <= 40.0 && params.theta != 0.0);
    /// assert_eq!(params, datagen.get_random_transform(&[224, 224, 3], 7)?);
    /// # Ok::<(), catsdogs::Error>(())
    /// ```
    pub fn get_random_transform(&self, shape: &[usize], seed: u64) -> Result<TransformParams> {
        self.check()?;
        let &[rows, cols, ..] = shape else {
            return Err(Error::Augmentation {
                argument: "get_random_transform".into(),
                problem: AugmentProblem::NotAnImageShape(shape.to_vec()),
            });
        };
        let rng = &mut Rng::new(seed, 0);
        let theta = symmetric(rng, self.rotation_range);
        let tx = shift(rng, &self.height_shift_range, rows);
        let ty = shift(rng, &self.width_shift_range, cols);
        let shear = symmetric(rng, self.shear_range);
        let [low, high] = self.zoom_range.bounds();
        let (zx, zy) = if low == 1.0 && high == 1.0 {
            (1.0, 1.0)
        } else {
            (uniform(rng, low, high), uniform(rng, low, high))
        };
        let flip_horizontal = self.horizontal_flip && rng.unit() < 0.5;
        let flip_vertical = self.vertical_flip && rng.unit() < 0.5;
        let channel_shift_intensity =
            (self.channel_shift_range != 0.0).then(|| symmetric(rng, self.channel_shift_range));
        let brightness = self
            .brightness_range
            .map(|[low, high]| uniform(rng, low, high));
        Ok(TransformParams {
            theta,
            tx,
            ty,
            shear,
            zx,
            zy,
            flip_horizontal,
            flip_vertical,
            channel_shift_intensity,
            brightness,
        })
    }
}
