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
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static VERBOSE: AtomicU8 = AtomicU8::new(2);

/// True when this code runs inside an evcxr notebook kernel (evcxr sets `EVCXR_IS_RUNTIME` in
/// the process that runs the cells' code).
pub fn is_notebook() -> bool {
    std::env::var_os("EVCXR_IS_RUNTIME").is_some()
}

/// Whether displays redraw in place here: in the "Rust (catsdogs)" kernel, whose launcher sets
/// `CATSDOGS_LIVE_DISPLAY=1` for the proxy that understands them
/// (`environment/kernel_proxy.py`). Progress then redraws its bar in place
/// ([`crate::progress`]), and `display::DisplayHandle` its content.
pub fn live() -> bool {
    is_notebook() && std::env::var_os("CATSDOGS_LIVE_DISPLAY").is_some_and(|v| v == "1")
}

/// What starts a live display's line on stdout: `CATSDOGS_LIVE_DISPLAY <id> <bundle as JSON>`,
/// which the kernel's proxy turns into a display (the first time) or its update.
const LIVE_MARK: &str = "CATSDOGS_LIVE_DISPLAY";

/// A new id for a live display (Jupyter's `display_id`): unique in this process and across
/// processes, without spaces.
pub fn display_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("catsdogs-{}-{nanos:x}-{n}", std::process::id())
}

/// The line that shows `bundle` ((MIME type, content) pairs) as the live display `id`, or
/// redraws it there: the mark, the id and the bundle as one line of JSON.
///
/// ```
/// let line = catsdogs::console::display_line("d1", vec![("text/plain", "1/2".to_string())]);
/// assert_eq!(line, "CATSDOGS_LIVE_DISPLAY d1 {\"text/plain\":\"1/2\"}\n");
/// ```
pub fn display_line(id: &str, bundle: Vec<(&str, String)>) -> String {
    let json: serde_json::Map<String, serde_json::Value> = bundle
        .into_iter()
        .map(|(mime, text)| (mime.to_string(), text.into()))
        .collect();
    format!("{LIVE_MARK} {id} {}\n", serde_json::Value::Object(json))
}

/// Prints `text` to stdout at once, whatever the verbosity (what a person asked to see, such
/// as a display); a closed stdout is ignored, as there is no one to show anything to.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
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

/// A size in GiB for messages about budgets given in GiB (`--cache-memory`, `--cache-disk`):
/// whole numbers without decimals.
///
/// ```
/// assert_eq!(catsdogs::console::human_gib(16 << 30), "16 GiB");
/// assert_eq!(catsdogs::console::human_gib(3 << 29), "1.5 GiB");
/// ```
pub fn human_gib(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    if bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
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
