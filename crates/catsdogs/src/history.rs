//! `History`: what `fit` returns, one row of metrics per epoch, as in Keras's `History.history`.
//! It is saved as JSON beside each run, loaded again and plotted (see
//! [`PlotHistory`](crate::plot::PlotHistory), which gives it Keras users' `history.plot()`).
//!
//! ```
//! use catsdogs::history::{EpochMetrics, History};
//! let mut history = History::default();
//! history.push(EpochMetrics { loss: 0.5, acc: 0.8, val_loss: 0.4, val_acc: 0.85, seconds: 12.0 });
//! let json = history.to_json();
//! assert_eq!(History::from_json(&json).unwrap(), history);
//! assert_eq!(history.acc(), vec![0.8]);
//! ```

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::error::{Error, Result};

/// The metrics of one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Mean training loss over the epoch's batches.
    pub loss: f64,
    /// Training accuracy over the epoch's images.
    pub acc: f64,
    /// Loss on the validation data after the epoch.
    pub val_loss: f64,
    /// Accuracy on the validation data after the epoch.
    pub val_acc: f64,
    /// Wall-clock seconds the epoch took, validation included.
    pub seconds: f64,
}

/// Per-epoch metrics of one training run, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One entry per finished epoch.
    pub epochs: Vec<EpochMetrics>,
}

impl History {
    /// Appends one finished epoch.
    pub fn push(&mut self, metrics: EpochMetrics) {
        self.epochs.push(metrics);
    }

    /// Training loss per epoch (Keras: `history.history['loss']`).
    pub fn loss(&self) -> Vec<f64> {
        self.column(|m| m.loss)
    }

    /// Training accuracy per epoch.
    pub fn acc(&self) -> Vec<f64> {
        self.column(|m| m.acc)
    }

    /// Validation loss per epoch.
    pub fn val_loss(&self) -> Vec<f64> {
        self.column(|m| m.val_loss)
    }

    /// Validation accuracy per epoch.
    pub fn val_acc(&self) -> Vec<f64> {
        self.column(|m| m.val_acc)
    }

    fn column(&self, f: impl Fn(&EpochMetrics) -> f64) -> Vec<f64> {
        self.epochs.iter().map(f).collect()
    }

    /// The history as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a History always serialises")
    }

    /// Parses a history written by [`History::to_json`].
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
            path: path.display().to_string(),
            why: format!("it is not a training history ({e}); delete it and train again"),
        })
    }
}
