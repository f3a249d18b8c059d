//! Progress on long work (decoding images, training epochs, predicting), drawn like Keras's
//! progress bar: `  37/320 [===>..........................] - ETA: 1:02 - loss: 0.31`.
//!
//! In a terminal the bar is redrawn in place. In a notebook, evcxr forwards output only line by
//! line and JupyterLab cannot rewrite an earlier line, so the bar is printed as a new line at most
//! every few seconds (`CATSDOGS_PROGRESS_SECONDS`, default 10): an epoch of two minutes shows a
//! dozen lines of live progress, and a short one shows only its final line.
//!
//! ```
//! let progress = catsdogs::progress::Progress::new(320, "");
//! progress.set(160, "loss: 0.5000");
//! progress.finish("done");
//! ```

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Width of the bar between the brackets, as in Keras.
const BAR_WIDTH: usize = 30;

/// A progress bar over `total` steps.
pub struct Progress {
    total: u64,
    prefix: String,
    start: Instant,
    state: Mutex<State>,
    terminal: bool,
    interval: Duration,
}

struct State {
    done: u64,
    last_draw: Instant,
}

impl Progress {
    /// A bar over `total` steps; `prefix` (may be empty) is printed before it.
    pub fn new(total: u64, prefix: &str) -> Self {
        let interval = std::env::var("CATSDOGS_PROGRESS_SECONDS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .map_or(Duration::from_secs(10), Duration::from_secs_f64);
        let start = Instant::now();
        Progress {
            total,
            prefix: prefix.to_string(),
            start,
            state: Mutex::new(State {
                done: 0,
                last_draw: start,
            }),
            terminal: std::io::stderr().is_terminal()
                && std::env::var_os("EVCXR_IS_RUNTIME").is_none(),
            interval,
        }
    }

    /// Advances by `n` steps.
    pub fn inc(&self, n: u64, detail: &str) {
        let done = self.state.lock().expect("progress state").done + n;
        self.set(done, detail);
    }

    /// Sets the number of steps done; `detail` (e.g. running loss and accuracy) follows the bar.
    pub fn set(&self, done: u64, detail: &str) {
        let mut state = self.state.lock().expect("progress state");
        state.done = done.min(self.total);
        let now = Instant::now();
        let due = if self.terminal {
            Duration::from_millis(100)
        } else {
            self.interval
        };
        if now.duration_since(state.last_draw) < due || state.done >= self.total {
            return;
        }
        state.last_draw = now;
        let line = self.render(state.done, &self.eta(state.done, now), detail);
        if self.terminal {
            eprint!("\r{line}\x1b[K");
            let _ = std::io::stderr().flush();
        } else {
            println!("{line}");
        }
    }

    /// Ends the bar with its full width and `detail`, e.g. Keras's
    /// `320/320 [==============================] - 12s 38ms/step - loss: ...`.
    pub fn finish(&self, detail: &str) {
        let elapsed = self.start.elapsed();
        let per_step = elapsed.as_secs_f64() / self.total.max(1) as f64;
        let timing = format!("{}s {}", elapsed.as_secs(), format_per_step(per_step));
        let line = self.render(self.total, &timing, detail);
        if self.terminal {
            eprint!("\r\x1b[K");
        }
        println!("{line}");
    }

    fn eta(&self, done: u64, now: Instant) -> String {
        if done == 0 {
            return "ETA: ?".into();
        }
        let per_step = now.duration_since(self.start).as_secs_f64() / done as f64;
        let left = (per_step * (self.total - done) as f64).round() as u64;
        if left >= 3600 {
            format!(
                "ETA: {}:{:02}:{:02}",
                left / 3600,
                left / 60 % 60,
                left % 60
            )
        } else if left >= 60 {
            format!("ETA: {}:{:02}", left / 60, left % 60)
        } else {
            format!("ETA: {left}s")
        }
    }

    fn render(&self, done: u64, timing: &str, detail: &str) -> String {
        let digits = self.total.to_string().len();
        let mut line = format!(
            "{}{done:>digits$}/{} {} - {timing}",
            self.prefix,
            self.total,
            bar(done, self.total)
        );
        if !detail.is_empty() {
            line.push_str(" - ");
            line.push_str(detail);
        }
        line
    }
}

/// Keras's bar: `[====>.....]`, full `=` when done.
pub fn bar(done: u64, total: u64) -> String {
    let filled = (BAR_WIDTH as u64 * done)
        .checked_div(total)
        .map_or(BAR_WIDTH, |f| f as usize);
    let mut s = String::with_capacity(BAR_WIDTH + 2);
    s.push('[');
    if filled > 0 {
        s.push_str(&"=".repeat(filled - 1));
        s.push(if done < total { '>' } else { '=' });
    }
    s.push_str(&".".repeat(BAR_WIDTH - filled));
    s.push(']');
    s
}

/// Keras's time per step: `38ms/step`, `2s/step` or `512us/step`.
fn format_per_step(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.0}s/step")
    } else if seconds >= 1e-3 {
        format!("{:.0}ms/step", seconds * 1e3)
    } else {
        format!("{:.0}us/step", seconds * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_matches_keras_drawing() {
        assert_eq!(bar(0, 320), format!("[{}]", ".".repeat(30)));
        assert_eq!(
            bar(160, 320),
            format!("[{}>{}]", "=".repeat(14), ".".repeat(15))
        );
        assert_eq!(bar(320, 320), format!("[{}]", "=".repeat(30)));
    }

    #[test]
    fn per_step_units() {
        assert_eq!(format_per_step(0.038), "38ms/step");
        assert_eq!(format_per_step(2.2), "2s/step");
        assert_eq!(format_per_step(0.0005), "500us/step");
    }
}
