//! `History`: what `fit` returns and what a model keeps (Keras's `model.history`): the logs of
//! every finished epoch, as Keras's `History.history` holds them, a list per metric (`loss`,
//! `acc`, `val_loss`, `val_acc`, and `lr` where a callback logs it), with the epochs' numbers
//! and wall times, and why training stopped early if it did. It is saved as JSON beside each
//! run, loaded again and plotted (see [`PlotHistory`](crate::plot::PlotHistory), which gives it
//! Keras users' `history.plot()`).
//!
//! ```
//! use catsdogs::history::{History, Logs};
//! let mut history = History::default();
//! let logs = Logs::from([("loss".into(), 0.5), ("acc".into(), 0.8), ("val_loss".into(), 0.4), ("val_acc".into(), 0.85)]);
//! history.push(0, &logs, 12.0);
//! let json = history.to_json();
//! assert_eq!(History::from_json(&json).unwrap(), history);
//! assert_eq!(history.acc(), [0.8]);
//! assert_eq!(history.history["val_loss"], [0.4]);
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The metrics of one epoch by name, as Keras's callbacks receive them: `loss`, `acc`,
/// `val_loss`, `val_acc`, ...
pub type Logs = BTreeMap<String, f64>;

/// The logs of the epochs of one training run, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Saved")]
pub struct History {
    /// The epochs' numbers, from 0 (Keras's `history.epoch`).
    pub epoch: Vec<usize>,
    /// Each metric's value at each epoch (Keras's `history.history`).
    pub history: BTreeMap<String, Vec<f64>>,
    /// The wall-clock seconds each epoch took, validation included.
    pub seconds: Vec<f64>,
    /// Why training stopped before its last epoch, when a callback stopped it (e.g.
    /// EarlyStopping's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// What a saved history may be: this format, or the one of earlier versions (a list of
/// epochs, each with loss, acc, val_loss, val_acc and seconds).
#[derive(Deserialize)]
#[serde(untagged)]
enum Saved {
    Current {
        epoch: Vec<usize>,
        history: BTreeMap<String, Vec<f64>>,
        seconds: Vec<f64>,
        #[serde(default)]
        stopped: Option<String>,
    },
    Epochs {
        epochs: Vec<SavedEpoch>,
    },
}

#[derive(Deserialize)]
struct SavedEpoch {
    loss: f64,
    acc: f64,
    val_loss: f64,
    val_acc: f64,
    seconds: f64,
}

impl TryFrom<Saved> for History {
    type Error = String;

    fn try_from(saved: Saved) -> std::result::Result<Self, Self::Error> {
        let history = match saved {
            Saved::Current {
                epoch,
                history,
                seconds,
                stopped,
            } => History {
                epoch,
                history,
                seconds,
                stopped,
            },
            Saved::Epochs { epochs } => {
                let mut history = History::default();
                for (i, e) in epochs.iter().enumerate() {
                    let logs = [
                        ("loss", e.loss),
                        ("acc", e.acc),
                        ("val_loss", e.val_loss),
                        ("val_acc", e.val_acc),
                    ];
                    let logs: Logs = logs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                    history.push(i, &logs, e.seconds);
                }
                history
            }
        };
        let epochs = history.epoch.len();
        let fits = history.seconds.len() == epochs
            && history
                .history
                .values()
                .all(|values| values.len() <= epochs);
        if fits {
            Ok(history)
        } else {
            Err(format!(
                "it has more values of a metric, or other wall times, than its {epochs} epoch(s)"
            ))
        }
    }
}

impl History {
    /// Appends the logs of the finished epoch `epoch` (counted from 0), which took `seconds`.
    /// As in Keras, each metric's list grows by the epochs that log it: one that a callback
    /// starts logging late (`lr`) is shorter than `loss`.
    pub fn push(&mut self, epoch: usize, logs: &Logs, seconds: f64) {
        for (name, &value) in logs {
            self.history.entry(name.clone()).or_default().push(value);
        }
        self.epoch.push(epoch);
        self.seconds.push(seconds);
    }

    /// The number of finished epochs.
    pub fn len(&self) -> usize {
        self.epoch.len()
    }

    /// Whether no epoch has finished.
    pub fn is_empty(&self) -> bool {
        self.epoch.is_empty()
    }

    /// The values of metric `name` per epoch (empty if it was never logged).
    pub fn metric(&self, name: &str) -> &[f64] {
        self.history.get(name).map_or(&[], Vec::as_slice)
    }

    /// Training loss per epoch (Keras: `history.history['loss']`).
    pub fn loss(&self) -> &[f64] {
        self.metric("loss")
    }

    /// Training accuracy per epoch.
    pub fn acc(&self) -> &[f64] {
        self.metric("acc")
    }

    /// Validation loss per epoch.
    pub fn val_loss(&self) -> &[f64] {
        self.metric("val_loss")
    }

    /// Validation accuracy per epoch.
    pub fn val_acc(&self) -> &[f64] {
        self.metric("val_acc")
    }

    /// The best epoch of `metric` (its number, from 0) and its value: the highest for a name
    /// with `acc` in it, the lowest otherwise (Keras's `mode='auto'`), the first on a tie;
    /// `None` when no epoch logged a number for it.
    ///
    /// ```
    /// use catsdogs::history::{History, Logs};
    /// let mut history = History::default();
    /// for (epoch, acc) in [0.8, 0.9, 0.9].into_iter().enumerate() {
    ///     history.push(epoch, &Logs::from([("val_acc".into(), acc), ("val_loss".into(), 1.0 - acc)]), 1.0);
    /// }
    /// assert_eq!(history.best("val_acc"), Some((1, 0.9)));
    /// assert_eq!(history.best("val_loss").map(|(epoch, _)| epoch), Some(1));
    /// assert_eq!(history.best("lr"), None);
    /// ```
    pub fn best(&self, metric: &str) -> Option<(usize, f64)> {
        let values = self.metric(metric);
        // A metric logged late is aligned with the last epochs.
        let epochs = &self.epoch[self.epoch.len().saturating_sub(values.len())..];
        let higher = metric.contains("acc");
        epochs.iter().zip(values).filter(|(_, v)| !v.is_nan()).fold(
            None,
            |best: Option<(usize, f64)>, (&epoch, &value)| match best {
                Some((_, b)) if (higher && value <= b) || (!higher && value >= b) => best,
                _ => Some((epoch, value)),
            },
        )
    }

    /// The history as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a History always serialises")
    }

    /// Parses a history written by [`History::to_json`] (or by earlier versions).
    pub fn from_json(json: &str) -> serde_json::Result<Self> {
        serde_json::from_str(json)
    }

    /// Writes the history as JSON, atomically (a temporary file renamed into place).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::fsutil::write_atomic(path.as_ref(), self.to_json().as_bytes())
    }

    /// Reads a history saved by [`History::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
        Self::from_json(&text).map_err(|e| Error::Invalid {
            path: path.to_path_buf(),
            why: format!("it is not a training history ({e}); delete it and train again"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histories_of_earlier_versions_load() {
        let old = r#"{"epochs": [{"loss": 0.5, "acc": 0.8, "val_loss": 0.4, "val_acc": 0.85, "seconds": 12.0}]}"#;
        let history = History::from_json(old).unwrap();
        assert_eq!(history.epoch, [0]);
        assert_eq!(history.val_acc(), [0.85]);
        assert_eq!(history.seconds, [12.0]);
    }

    #[test]
    fn uneven_histories_are_refused() {
        let uneven = r#"{"epoch": [0], "history": {"loss": [0.5, 0.4]}, "seconds": [1.0]}"#;
        let error = History::from_json(uneven).unwrap_err().to_string();
        assert!(error.contains("than its 1 epoch(s)"), "{error}");
    }

    #[test]
    fn a_metric_logged_late_has_fewer_values() {
        let mut history = History::default();
        history.push(0, &Logs::from([("loss".into(), 1.0)]), 1.0);
        let later = Logs::from([("loss".into(), 0.5), ("lr".into(), 1e-3)]);
        history.push(1, &later, 1.0);
        assert_eq!(history.loss(), [1.0, 0.5]);
        assert_eq!(history.metric("lr"), [1e-3]);
        let again = History::from_json(&history.to_json()).unwrap();
        assert_eq!(again, history);
    }
}
