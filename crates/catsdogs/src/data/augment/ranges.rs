//! The kinds of value that Keras's augmentation arguments take: a shift range (a fraction, a
//! number of pixels, or a list of choices), a zoom range (a float or a `[lower, upper]` pair),
//! and a fill mode; and the checks that refuse a bad one with one sentence.

use std::fmt;
use std::str::FromStr;

use crate::error::{AugmentProblem, Error, Result};

/// How `width_shift_range` and `height_shift_range` are read, as Keras reads them.
///
/// ```
/// use catsdogs::data::ShiftRange;
/// assert_eq!(ShiftRange::from(0.2), ShiftRange::Float(0.2));
/// assert_eq!(ShiftRange::from(2), ShiftRange::Int(2));
/// assert_eq!(ShiftRange::from(vec![-4.0, 4.0]), ShiftRange::Choices(vec![-4.0, 4.0]));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum ShiftRange {
    /// A shift drawn uniformly from `(-v, v)`: a fraction of the side when `v < 1`, pixels when
    /// `v >= 1`. `0.0` shifts nothing (Keras's default).
    Float(f64),
    /// `n` pixels as Keras reads a Python int: a whole number of pixels drawn from `0..n`, with a
    /// random sign, so `2` gives -1, 0 or +1.
    Int(i64),
    /// One of these values, with a random sign; fractions of the side when all are below 1.
    Choices(Vec<f64>),
}

impl Default for ShiftRange {
    fn default() -> Self {
        ShiftRange::Float(0.0)
    }
}

impl From<f64> for ShiftRange {
    fn from(v: f64) -> Self {
        ShiftRange::Float(v)
    }
}

impl From<i32> for ShiftRange {
    fn from(n: i32) -> Self {
        ShiftRange::Int(i64::from(n))
    }
}

impl From<Vec<f64>> for ShiftRange {
    fn from(choices: Vec<f64>) -> Self {
        ShiftRange::Choices(choices)
    }
}

impl From<&[f64]> for ShiftRange {
    fn from(choices: &[f64]) -> Self {
        ShiftRange::Choices(choices.to_vec())
    }
}

impl ShiftRange {
    /// Whether it shifts at all (Keras's `if self.width_shift_range:`).
    pub fn shifts(&self) -> bool {
        match self {
            ShiftRange::Float(v) => *v != 0.0,
            ShiftRange::Int(n) => *n != 0,
            ShiftRange::Choices(choices) => !choices.is_empty(),
        }
    }

    /// Refuses a negative or non-finite range, or a non-finite choice.
    pub(crate) fn check(&self, name: &str) -> Result<()> {
        match self {
            ShiftRange::Float(v) => check_range(name, *v, "0.2 (a fifth of the side)"),
            ShiftRange::Int(n) if *n < 0 => Err(Error::Augmentation {
                argument: format!("{name} {n}"),
                problem: AugmentProblem::NegativePixels,
            }),
            ShiftRange::Int(_) => Ok(()),
            ShiftRange::Choices(choices) => match choices.iter().find(|v| !v.is_finite()) {
                Some(v) => Err(Error::Augmentation {
                    argument: name.to_string(),
                    problem: AugmentProblem::ChoiceNotFinite(*v),
                }),
                None => Ok(()),
            },
        }
    }
}

impl fmt::Display for ShiftRange {
    /// As Keras's argument is written: `0.2`, `2`, `[-10, 10]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShiftRange::Float(v) => write!(f, "{v:?}"),
            ShiftRange::Int(n) => write!(f, "{n}"),
            ShiftRange::Choices(choices) => write!(f, "{choices:?}"),
        }
    }
}

/// `zoom_range` as Keras takes it: a float `z` for `[1 - z, 1 + z]`, or a `[lower, upper]` pair.
///
/// ```
/// use catsdogs::data::ZoomRange;
/// assert_eq!(ZoomRange::from(0.25).bounds(), [0.75, 1.25]);
/// assert_eq!(ZoomRange::from([0.8, 1.0]).bounds(), [0.8, 1.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ZoomRange {
    /// `[1 - z, 1 + z]`; `0.0` zooms nothing (Keras's default).
    Float(f64),
    /// `[lower, upper]`.
    Pair([f64; 2]),
}

impl Default for ZoomRange {
    fn default() -> Self {
        ZoomRange::Float(0.0)
    }
}

impl From<f64> for ZoomRange {
    fn from(z: f64) -> Self {
        ZoomRange::Float(z)
    }
}

impl From<[f64; 2]> for ZoomRange {
    fn from(pair: [f64; 2]) -> Self {
        ZoomRange::Pair(pair)
    }
}

impl ZoomRange {
    /// `[lower, upper]`, as Keras stores it.
    pub fn bounds(&self) -> [f64; 2] {
        match *self {
            ZoomRange::Float(z) => [1.0 - z, 1.0 + z],
            ZoomRange::Pair(pair) => pair,
        }
    }

    /// Refuses a negative or non-finite range, a pair in the wrong order, and zoom factors below
    /// 0.
    pub(crate) fn check(&self) -> Result<()> {
        match *self {
            ZoomRange::Float(z) => {
                check_range("zoom_range", z, "0.2 (zoom factors 0.8 to 1.2)")?;
                if z > 1.0 {
                    return Err(Error::Augmentation {
                        argument: format!("zoom_range {z}"),
                        problem: AugmentProblem::ZoomAboveOne,
                    });
                }
                Ok(())
            }
            ZoomRange::Pair([lower, upper]) => check_pair("zoom_range", lower, upper, "[0.8,1.2]"),
        }
    }
}

/// How `apply_transform` fills the points that fall outside the image, as Keras's `fill_mode`
/// (scipy.ndimage's modes of the same names).
///
/// For a row `abcd`: `nearest` gives `aaaa|abcd|dddd`, `constant` gives `kkkk|abcd|kkkk` with
/// `k = cval`, `reflect` gives `dcba|abcd|dcba`, and `wrap` gives `bc|abcd|bca`: scipy's own
/// `wrap`, which repeats with period `side - 1` (its `grid-wrap` would give `cd|abcd|abc`).
/// A point between pixels is mapped into the image by the rule, then interpolated linearly.
///
/// ```
/// use catsdogs::data::FillMode;
/// assert_eq!("reflect".parse::<FillMode>().unwrap(), FillMode::Reflect);
/// assert!("mirror".parse::<FillMode>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FillMode {
    /// The nearest edge pixel (Keras's default).
    #[default]
    Nearest,
    /// `cval`.
    Constant,
    /// The image mirrored about its edge, the edge pixel repeated.
    Reflect,
    /// The image repeated.
    Wrap,
}

impl FromStr for FillMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().trim_matches(['\'', '"']) {
            "nearest" => Ok(FillMode::Nearest),
            "constant" => Ok(FillMode::Constant),
            "reflect" => Ok(FillMode::Reflect),
            "wrap" => Ok(FillMode::Wrap),
            other => Err(Error::UnknownName {
                what: "fill mode",
                given: other.to_string(),
                known: "nearest, constant, reflect or wrap",
            }),
        }
    }
}

impl fmt::Display for FillMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FillMode::Nearest => "nearest",
            FillMode::Constant => "constant",
            FillMode::Reflect => "reflect",
            FillMode::Wrap => "wrap",
        })
    }
}

/// Refuses a range that is negative or not a finite number.
pub(crate) fn check_range(name: &str, value: f64, example: &'static str) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::Augmentation {
            argument: format!("{name} {value}"),
            problem: AugmentProblem::NotFinite(example),
        });
    }
    if value < 0.0 {
        return Err(Error::Augmentation {
            argument: format!("{name} {value}"),
            problem: AugmentProblem::Negative(example),
        });
    }
    Ok(())
}

/// Refuses a `[lower, upper]` pair of factors that is not finite, goes below 0, or is in the
/// wrong order.
pub(crate) fn check_pair(name: &str, lower: f64, upper: f64, example: &'static str) -> Result<()> {
    if !(lower.is_finite() && upper.is_finite()) {
        return Err(Error::Augmentation {
            argument: format!("{name} [{lower}, {upper}]"),
            problem: AugmentProblem::PairNotFinite(example),
        });
    }
    if lower < 0.0 {
        return Err(Error::Augmentation {
            argument: format!("{name} [{lower}, {upper}]"),
            problem: AugmentProblem::PairBelowZero(example),
        });
    }
    if lower > upper {
        return Err(Error::Augmentation {
            argument: format!("{name} [{lower}, {upper}]"),
            problem: AugmentProblem::PairWrongOrder { lower, upper },
        });
    }
    Ok(())
}
