//! What the crate says while it works, and how much: Keras's `verbose`.
//!
//! Every message of the crate (`Found 400 images belonging to 2 classes.`, `Epoch 3/30`, the
//! progress lines, warnings) goes through [`say!`](crate::say) or [`warn`], never through
//! `println!`: a reader that goes away (`catsdogs flow DIR | head -1`) then only silences the
//! messages instead of panicking in the middle of the work, and [`set_verbose`] quiets them.
//!
//! - `2` (the default): every message, and progress as a line every few seconds or a bar in a
//!   terminal.
//! - `1`: every message; progress only as its final line (Keras's one line per epoch).
//! - `0`: nothing but warnings (on stderr).
//!
//! ```
//! catsdogs::console::set_verbose(0);
//! catsdogs::say!("not shown");
//! assert_eq!(catsdogs::console::verbose(), 0);
//! catsdogs::console::set_verbose(2);
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

static VERBOSE: AtomicU8 = AtomicU8::new(2);

/// True when this code runs inside an evcxr notebook kernel (evcxr sets `EVCXR_IS_RUNTIME` in
/// the process that runs the cells' code).
pub fn is_notebook() -> bool {
    std::env::var_os("EVCXR_IS_RUNTIME").is_some()
}

/// Sets how much the crate prints: 0 (warnings only), 1 (no live progress) or 2 (everything).
/// Values above 2 count as 2.
pub fn set_verbose(level: u8) {
    VERBOSE.store(level.min(2), Ordering::Relaxed);
}

/// How much the crate prints now (see [`set_verbose`]).
pub fn verbose() -> u8 {
    VERBOSE.load(Ordering::Relaxed)
}

/// Prints one line on stdout when [`verbose`] is at least `level`; a closed stdout is ignored.
pub fn line_at(level: u8, args: std::fmt::Arguments) {
    if verbose() >= level {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{args}");
        let _ = out.flush();
    }
}

/// Prints a warning line on stderr, whatever the verbosity; a closed stderr is ignored.
pub fn warn(args: std::fmt::Arguments) {
    let _ = writeln!(std::io::stderr().lock(), "warning: {args}");
}

/// `1.6 GB`, `800 KB`: decimal units, one decimal.
pub fn human_bytes(bytes: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// `println!` for the crate's messages: shown unless [`set_verbose`]`(0)`, and never a panic.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::line_at(1, format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(819_200), "819.2 KB");
        assert_eq!(human_bytes(1_605_632_000), "1.6 GB");
    }
}
