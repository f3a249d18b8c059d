//! What `fit` and `evaluate` say: Keras's numbers in progress lines, per-image totals, and the
//! sentence that tells what the checkpoints hold when a run stops.

use super::{Checkpoint, FitOptions};
use crate::console::hint;

/// Per-image sums over an epoch or an evaluation.
#[derive(Default)]
pub(super) struct Totals {
    loss: f64,
    correct: i64,
    images: usize,
}

impl Totals {
    pub(super) fn add(&mut self, mean_loss: f64, correct: i64, images: usize) {
        self.loss += mean_loss * images as f64;
        self.correct += correct;
        self.images += images;
    }

    pub(super) fn means(&self) -> (f64, f64) {
        let n = self.images.max(1) as f64;
        (self.loss / n, self.correct as f64 / n)
    }
}

/// Keras's number format in progress lines: `%.4f`, or `%.4e` below 1e-3.
fn keras_number(value: f64) -> String {
    if value.abs() > 1e-3 {
        format!("{value:.4}")
    } else {
        let formatted = format!("{value:.4e}");
        // Rust writes `1.2340e-5`; Python writes `1.2340e-05`.
        match formatted.split_once('e') {
            Some((mantissa, exponent)) => {
                let (sign, digits) = match exponent.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exponent),
                };
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => formatted,
        }
    }
}

/// `loss: 0.3012 - acc: 0.8750`, with `prefix` before each name (`val_`).
pub(super) fn metrics_text(prefix: &str, loss: f64, acc: f64) -> String {
    format!(
        "{prefix}loss: {} - {prefix}acc: {}",
        keras_number(loss),
        keras_number(acc)
    )
}

/// How many epochs the checkpoint folder holds now.
pub(super) fn saved_epochs(options: &FitOptions) -> usize {
    options
        .checkpoint_dir
        .as_ref()
        .and_then(|dir| Checkpoint::latest(dir).ok().flatten())
        .map_or(0, |c| c.epoch)
}

/// What the checkpoints hold after `epochs` epochs, and how to continue.
pub(super) fn saved_note(options: &FitOptions, epochs: usize) -> String {
    match (&options.checkpoint_dir, epochs) {
        (None, _) => format!(
            "no checkpoint folder was set ({}), so nothing is saved",
            hint("--out", "FitOptions::checkpoints")
        ),
        (Some(dir), 0) => format!(
            "no epoch had finished, so {} holds nothing yet",
            dir.display()
        ),
        (Some(dir), n) => format!(
            "{} saved in {}: run again with {} to continue from epoch {}",
            if n == 1 {
                "epoch 1 is".to_string()
            } else {
                format!("epochs 1-{n} are")
            },
            dir.display(),
            hint("--resume", "FitOptions::resume(true)"),
            n + 1
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_like_keras() {
        assert_eq!(keras_number(0.123_456), "0.1235");
        assert_eq!(keras_number(1.0), "1.0000");
        assert_eq!(keras_number(1.234e-5), "1.2340e-05");
        assert_eq!(keras_number(0.0), "0.0000e+00");
        assert_eq!(
            metrics_text("val_", 0.25, 0.9),
            "val_loss: 0.2500 - val_acc: 0.9000"
        );
    }
}
