//! Progress on long work (decoding images, training epochs, predicting), drawn like Keras's
//! progress bar: ` 37/320 [===>..........................] - ETA: 1:02 - loss: 0.31`, and ended
//! with Keras's final line: `320/320 [==============================] - 12s 38ms/step - loss: ...`.
//! Every long pass of the crate (fit's epochs, evaluate, predict_generator, the feature cache,
//! Grad-CAM over many images, the split) shows it through this one type.
//!
//! Where it is drawn:
//! - in a terminal (the CLI), an `indicatif` bar redraws that line in place on stderr;
//! - in the "Rust (catsdogs)" kernel ([`crate::console::live`]), the bar is one display under
//!   the cell that redraws itself in place a few times a second, as Keras's does in Jupyter,
//!   and ends as the final line;
//! - elsewhere (a notebook under plain evcxr, a pipe), evcxr forwards output only line by line
//!   and JupyterLab cannot rewrite an earlier line, so the bar is printed as a new line at most
//!   every few seconds (`CATSDOGS_PROGRESS_SECONDS`, default 10): an epoch of two minutes shows a
//!   dozen lines of live progress, and a short one shows only its final line, on stdout.
//!
//! Live progress shows at [`crate::console::verbose`] 2, the final line at 1 and above.
//!
//! ```
//! let progress = catsdogs::progress::Progress::new(320);
//! progress.set(160, "loss: 0.5000");
//! progress.inc(160, "loss: 0.4000");
//! progress.finish("loss: 0.4000 - acc: 0.8000");
//! ```

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Width of the bar between the brackets, as in Keras.
const BAR_WIDTH: usize = 30;

/// How often a live display redraws the bar at most: Keras redraws it every 0.05 s, which is
/// more than an eye needs and costs a message to the browser each time.
const LIVE_EVERY: Duration = Duration::from_millis(200);

/// A progress bar over `total` steps. It may be advanced from several threads.
pub struct Progress {
    total: u64,
    /// Counts the steps and the time; draws itself only in a terminal.
    bar: ProgressBar,
    /// Where else the bar goes, outside a terminal.
    view: View,
}

/// Where the bar goes.
enum View {
    /// Drawn by `indicatif` (in a terminal), or hidden.
    Indicatif,
    /// Printed as a line at most `every` (when the last was printed).
    Lines {
        last: Mutex<Instant>,
        every: Duration,
    },
    /// Redrawn in place as the live display `id` at most every [`LIVE_EVERY`] (when it was
    /// last drawn, if it was).
    Live {
        id: String,
        last: Mutex<Option<Instant>>,
    },
}

impl Progress {
    /// A bar over `total` steps.
    pub fn new(total: u64) -> Self {
        let live = crate::console::verbose() >= 2;
        let terminal = std::io::stderr().is_terminal() && !crate::console::is_notebook();
        if terminal || !live {
            let target = if live {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            };
            return Self::drawn_on(target, total);
        }
        let view = if crate::console::live() {
            View::Live {
                id: crate::console::display_id(),
                last: Mutex::new(None),
            }
        } else {
            let every = std::env::var("CATSDOGS_PROGRESS_SECONDS")
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map_or(Duration::from_secs(10), Duration::from_secs_f64);
            View::Lines {
                last: Mutex::new(Instant::now()),
                every,
            }
        };
        Progress {
            total,
            bar: ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden()),
            view,
        }
    }

    /// A bar that `indicatif` draws on `target`, styled like Keras's.
    fn drawn_on(target: ProgressDrawTarget, total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), target);
        let keras = move |state: &ProgressState, out: &mut dyn std::fmt::Write| {
            let done = state.pos();
            let timing = eta(done, total, state.elapsed());
            let _ = out.write_str(&line(done, total, &timing, ""));
        };
        let style = ProgressStyle::with_template("{keras}{msg}")
            .expect("the template names only known keys")
            .with_key("keras", keras);
        bar.set_style(style);
        Progress {
            total,
            bar,
            view: View::Indicatif,
        }
    }

    /// Advances by `n` steps; `detail` (e.g. running loss and accuracy) follows the bar.
    pub fn inc(&self, n: u64, detail: &str) {
        self.bar.inc(n);
        self.show(detail);
    }

    /// Sets the number of steps done; `detail` (e.g. running loss and accuracy) follows the bar.
    pub fn set(&self, done: u64, detail: &str) {
        self.bar.set_position(done);
        self.show(detail);
    }

    fn show(&self, detail: &str) {
        if let View::Indicatif = self.view {
            let suffix = if detail.is_empty() {
                String::new()
            } else {
                format!(" - {detail}")
            };
            self.bar.set_message(suffix);
        } else if crate::console::verbose() >= 2 {
            if let Some(text) = self.due(detail, Instant::now()) {
                crate::console::emit(&text);
            }
        }
    }

    /// What to print at `now` outside a terminal: a new line, or the live display redrawn;
    /// nothing when the last was printed too recently (or, for lines, when the bar is full,
    /// since its final line follows).
    fn due(&self, detail: &str, now: Instant) -> Option<String> {
        let done = self.bar.position();
        let bar_line = || {
            let timing = eta(done, self.total, self.bar.elapsed());
            line(done, self.total, &timing, detail)
        };
        match &self.view {
            View::Indicatif => None,
            View::Lines { last, every } => {
                let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
                if done >= self.total || now.duration_since(*last) < *every {
                    return None;
                }
                *last = now;
                Some(format!("{}\n", bar_line()))
            }
            View::Live { id, last } => {
                let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
                if last.is_some_and(|at| now.duration_since(at) < LIVE_EVERY) {
                    return None;
                }
                *last = Some(now);
                Some(redraw(id, bar_line()))
            }
        }
    }

    /// Ends the bar with Keras's final line, full width, total time and time per step, then
    /// `detail`: `320/320 [==============================] - 12s 38ms/step - loss: ...`. A live
    /// bar becomes that line in place.
    pub fn finish(&self, detail: &str) {
        let timing = total_time(self.total, self.bar.elapsed());
        self.bar.finish_and_clear();
        let last = line(self.total, self.total, &timing, detail);
        match &self.view {
            View::Live { id, .. } if crate::console::verbose() >= 1 => {
                crate::console::emit(&redraw(id, last))
            }
            View::Live { .. } => {}
            View::Indicatif | View::Lines { .. } => crate::say!("{last}"),
        }
    }
}

/// The line that shows `line` as the live display `id`, as plain text (Keras's bar is text).
fn redraw(id: &str, line: String) -> String {
    crate::console::display_line(id, vec![("text/plain", line)])
}

/// ` 37/320 [===>.....] - timing - detail`, the count right-aligned to the total's width.
fn line(done: u64, total: u64, timing: &str, detail: &str) -> String {
    let done = done.min(total);
    let digits = total.to_string().len();
    let mut line = format!("{done:>digits$}/{total} {} - {timing}", bar(done, total));
    if !detail.is_empty() {
        let _ = write!(line, " - {detail}");
    }
    line
}

/// Keras's bar: `[====>.....]`, full `=` when done.
pub fn bar(done: u64, total: u64) -> String {
    let filled = (BAR_WIDTH as u64 * done)
        .checked_div(total)
        .map_or(BAR_WIDTH, |f| (f as usize).min(BAR_WIDTH));
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

/// Keras's estimate of the time left, from the mean time per step so far: `ETA: 1:02`.
fn eta(done: u64, total: u64, elapsed: Duration) -> String {
    if done == 0 {
        return "ETA: ?".into();
    }
    let left = elapsed.as_secs_f64() / done as f64 * total.saturating_sub(done) as f64;
    // Keras formats seconds with %d, which truncates.
    let s = left as u64;
    if left > 3600.0 {
        format!("ETA: {}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
    } else if left > 60.0 {
        format!("ETA: {}:{:02}", s / 60, s % 60)
    } else {
        format!("ETA: {s}s")
    }
}

/// Keras's timing at the end: total seconds, then time per step: `12s 38ms/step`.
fn total_time(total: u64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    let per_step = seconds / total.max(1) as f64;
    format!("{seconds:.0}s {}", format_per_step(per_step))
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
    use std::sync::Arc;

    /// A bar over `total` steps shown as the live display `id`.
    fn live(total: u64, id: &str) -> Progress {
        Progress {
            total,
            bar: ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden()),
            view: View::Live {
                id: id.into(),
                last: Mutex::new(None),
            },
        }
    }

    /// The bar of a live display's line, without its timing.
    fn live_text(line: &str, id: &str) -> String {
        let json = line
            .strip_prefix(&format!("CATSDOGS_LIVE_DISPLAY {id} "))
            .expect("a live display's line");
        let bundle: serde_json::Value = serde_json::from_str(json).unwrap();
        let text = bundle["text/plain"].as_str().unwrap();
        assert_eq!(bundle.as_object().unwrap().len(), 1, "{bundle}");
        text.to_string()
    }

    #[test]
    fn a_live_bar_redraws_one_display_a_few_times_a_second() {
        let progress = live(4, "bar-1");
        let start = Instant::now();
        progress.bar.set_position(1);
        let first = progress
            .due("loss: 0.5", start)
            .expect("the first step shows");
        let text = live_text(&first, "bar-1");
        assert!(
            text.starts_with(&format!("1/4 [======>{}] - ETA: ", ".".repeat(23)))
                && text.ends_with(" - loss: 0.5"),
            "{text}"
        );
        progress.bar.set_position(2);
        assert_eq!(progress.due("loss: 0.4", start + LIVE_EVERY / 2), None);
        let later = progress
            .due("loss: 0.4", start + LIVE_EVERY)
            .expect("redrawn");
        assert!(live_text(&later, "bar-1").starts_with("2/4 [="), "{later}");
        progress.bar.set_position(4);
        let full = progress
            .due("loss: 0.3", start + LIVE_EVERY * 2)
            .expect("a full bar shows");
        assert!(live_text(&full, "bar-1").starts_with(&format!("4/4 [{}]", "=".repeat(30))));
    }

    #[test]
    fn printed_lines_come_at_most_every_period_and_not_for_a_full_bar() {
        let start = Instant::now();
        let progress = Progress {
            total: 4,
            bar: ProgressBar::with_draw_target(Some(4), ProgressDrawTarget::hidden()),
            view: View::Lines {
                last: Mutex::new(start),
                every: Duration::from_secs(10),
            },
        };
        progress.bar.set_position(1);
        assert_eq!(progress.due("", start + Duration::from_secs(9)), None);
        let line = progress.due("", start + Duration::from_secs(10)).unwrap();
        assert!(
            line.starts_with("1/4 [======>") && line.ends_with('\n'),
            "{line}"
        );
        progress.bar.set_position(4);
        assert_eq!(progress.due("", start + Duration::from_secs(30)), None);
    }

    #[test]
    fn bar_matches_keras_drawing() {
        assert_eq!(bar(0, 320), format!("[{}]", ".".repeat(30)));
        assert_eq!(
            bar(160, 320),
            format!("[{}>{}]", "=".repeat(14), ".".repeat(15))
        );
        assert_eq!(bar(320, 320), format!("[{}]", "=".repeat(30)));
        assert_eq!(bar(400, 320), format!("[{}]", "=".repeat(30)));
        assert_eq!(bar(0, 0), format!("[{}]", "=".repeat(30)));
    }

    #[test]
    fn per_step_units() {
        assert_eq!(format_per_step(0.038), "38ms/step");
        assert_eq!(format_per_step(2.2), "2s/step");
        assert_eq!(format_per_step(0.0005), "500us/step");
    }

    #[test]
    fn final_line_is_keras_s() {
        let timing = total_time(320, Duration::from_millis(12_300));
        assert_eq!(
            line(320, 320, &timing, "loss: 0.1234 - acc: 0.9500"),
            "320/320 [==============================] - 12s 38ms/step - loss: 0.1234 - acc: 0.9500"
        );
        // Keras rounds the total seconds (%.0f) rather than truncating them.
        assert_eq!(total_time(10, Duration::from_millis(12_600)), "13s 1s/step");
    }

    #[test]
    fn eta_is_formatted_like_keras() {
        let eta_for = |left_seconds: f64| eta(1, 2, Duration::from_secs_f64(left_seconds));
        assert_eq!(eta(0, 320, Duration::from_secs(5)), "ETA: ?");
        assert_eq!(eta_for(59.9), "ETA: 59s");
        assert_eq!(eta_for(60.0), "ETA: 60s");
        assert_eq!(eta_for(62.7), "ETA: 1:02");
        assert_eq!(eta_for(3600.0), "ETA: 60:00");
        assert_eq!(eta_for(3661.5), "ETA: 1:01:01");
        // 37 of 320 steps in 8 s: 283 steps left at 8/37 s each, 61.2 s.
        assert_eq!(eta(37, 320, Duration::from_secs(8)), "ETA: 1:01");
    }

    #[test]
    fn live_line_pads_the_count_and_appends_the_detail() {
        assert_eq!(
            line(37, 320, "ETA: 1:01", "loss: 0.31"),
            format!(" 37/320 [==>{}] - ETA: 1:01 - loss: 0.31", ".".repeat(27))
        );
        assert_eq!(
            line(5, 8, "ETA: 3s", ""),
            format!("5/8 [{}>{}] - ETA: 3s", "=".repeat(17), ".".repeat(12))
        );
    }

    /// A terminal in memory that keeps the lines indicatif wrote (not the blanks that clear them).
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            200
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.trim().is_empty() {
                self.0.lock().unwrap().push(s.to_string());
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_terminal_bar_is_drawn_like_keras() {
        let screen = Screen::default();
        let target = ProgressDrawTarget::term_like(Box::new(screen.clone()));
        let progress = Progress::drawn_on(target, 320);
        progress.set(37, "loss: 0.31");
        let drawn = screen
            .0
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a line was drawn");
        // The ETA depends on the time the test took; the rest is fixed.
        let (head, tail) = drawn.split_once(" - ETA: ").expect("an ETA");
        assert_eq!(head, format!(" 37/320 [==>{}]", ".".repeat(27)));
        assert!(tail.ends_with("s - loss: 0.31"), "{drawn}");
    }
}
