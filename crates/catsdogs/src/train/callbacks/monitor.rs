//! What Keras's monitoring callbacks ([`EarlyStopping`](super::EarlyStopping),
//! [`ReduceLROnPlateau`](super::ReduceLROnPlateau), [`ModelCheckpoint`](super::ModelCheckpoint))
//! share: the metric they watch, which must be one that `fit` logs, and the direction in which
//! it improves, Keras's `mode`. Each callback resolves `auto` by its own Keras 2 rule (they
//! differ slightly; for fit's four metrics they agree: accuracies go up, losses down).

use std::fmt;

use crate::error::{Error, Result};

/// Keras's `mode`: whether the monitored metric improves by going down (`Min`), up (`Max`),
/// or as its name says (`Auto`, the default).
///
/// ```
/// use catsdogs::train::callbacks::Mode;
/// assert_eq!(Mode::default(), Mode::Auto);
/// assert_eq!(Mode::Max.to_string(), "max");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// From the metric's name (each callback's Keras rule).
    #[default]
    Auto,
    /// Lower is better (losses).
    Min,
    /// Higher is better (accuracies).
    Max,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Auto => "auto",
            Mode::Min => "min",
            Mode::Max => "max",
        })
    }
}

impl Mode {
    /// Whether higher is better: `Max`, or `Auto` where the callback's rule says so of the
    /// metric's name.
    pub(crate) fn higher_is_better(self, auto_says_max: bool) -> bool {
        match self {
            Mode::Min => false,
            Mode::Max => true,
            Mode::Auto => auto_says_max,
        }
    }
}

/// The metrics `fit` logs at the end of every epoch, which a callback can monitor.
pub const METRICS: [&str; 4] = ["loss", "acc", "val_loss", "val_acc"];

/// Refuses a metric that `fit` does not log (Keras only warns, at every epoch, and the callback
/// then does nothing): one sentence before the first epoch.
pub(crate) fn check_monitor(callback: &'static str, monitor: &str) -> Result<()> {
    if METRICS.contains(&monitor) {
        return Ok(());
    }
    Err(Error::Callback {
        callback,
        why: format!(
            "fit logs no metric {monitor:?}, so it cannot be monitored: give one of {}",
            METRICS.join(", ")
        ),
    })
}

/// Refuses a number that is not finite (NaN or infinite) for the argument `name`.
pub(crate) fn check_finite(callback: &'static str, name: &str, value: f64) -> Result<()> {
    if value.is_finite() {
        return Ok(());
    }
    Err(Error::Callback {
        callback,
        why: format!("{name} {value} is not a number it can compare with: give a finite one"),
    })
}

/// The best value before any epoch: the worst there is, in the metric's direction.
pub(crate) fn worst(higher_is_better: bool) -> f64 {
    if higher_is_better {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    }
}

/// A best value as a checkpoint's JSON keeps it, which has no infinities: `None` for the
/// infinite start value.
pub(crate) fn saved_best(best: f64) -> Option<f64> {
    best.is_finite().then_some(best)
}
