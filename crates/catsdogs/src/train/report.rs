//! What `fit` and `evaluate` say: Keras's numbers in progress lines, per-image totals, and the
//! sentence that tells what the checkpoints hold when a run stops.

use std::path::Path;

use crate::history::Logs;

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

/// Keras's logs in a progress line: `loss: 0.3012 - acc: 0.8750 - val_loss: 0.2871 -
/// val_acc: 0.9000`, loss and accuracy first, then the others by name.
pub(crate) fn logs_text(logs: &Logs) -> String {
    let first = ["loss", "acc", "val_loss", "val_acc"];
    let ordered = first
        .iter()
        .filter_map(|name| Some((*name, *logs.get(*name)?)))
        .chain(
            logs.iter()
                .filter(|(name, _)| !first.contains(&name.as_str()))
                .map(|(name, value)| (name.as_str(), *value)),
        );
    let parts: Vec<String> = ordered
        .map(|(name, value)| format!("{name}: {}", keras_number(value)))
        .collect();
    parts.join(" - ")
}

/// `loss: 0.3012 - acc: 0.8750`, with `prefix` before each name (`val_`).
pub(super) fn metrics_text(prefix: &str, loss: f64, acc: f64) -> String {
    format!(
        "{prefix}loss: {} - {prefix}acc: {}",
        keras_number(loss),
        keras_number(acc)
    )
}

/// What the checkpoints hold after `epochs` epochs, and how to continue.
pub(crate) fn saved_note(checkpoints: Option<&Path>, epochs: usize) -> String {
    match (checkpoints, epochs) {
        (None, _) => {
            "no checkpoint folder was set (--out, or FitOptions::checkpoints), so nothing is saved"
                .to_string()
        }
        (Some(dir), 0) => format!(
            "no epoch had finished, so {} holds nothing yet",
            dir.display()
        ),
        (Some(dir), n) => format!(
            "{} saved in {}: run again with --resume (FitOptions::resume(true)) to continue from epoch {}",
            if n == 1 {
                "epoch 1 is".to_string()
            } else {
                format!("epochs 1-{n} are")
            },
            dir.display(),
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
        let logs = Logs::from([
            ("val_acc".into(), 0.9),
            ("lr".into(), 1e-5),
            ("loss".into(), 0.25),
            ("acc".into(), 0.5),
            ("val_loss".into(), 0.3),
        ]);
        assert_eq!(
            logs_text(&logs),
            "loss: 0.2500 - acc: 0.5000 - val_loss: 0.3000 - val_acc: 0.9000 - lr: 1.0000e-05"
        );
    }
}
