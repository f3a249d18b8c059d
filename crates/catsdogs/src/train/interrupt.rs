//! Stopping training cleanly. The CLI calls [`stop_on_ctrl_c`]: the first Ctrl-C asks `fit` to
//! stop at the next step, abandoning the epoch in progress (every finished epoch is already in
//! its checkpoint) and returning an error that says how to resume; a second Ctrl-C ends the
//! program at once.
//!
//! In JupyterLab, interrupting an evcxr kernel ends the process that runs the cell, so there
//! the per-epoch checkpoints are what keep the work, and `FitOptions::resume` picks it up.
//!
//! ```
//! use catsdogs::train::interrupt;
//! interrupt::request(); // what Ctrl-C does once the handler is installed
//! assert!(interrupt::take());
//! assert!(!interrupt::take());
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Installs the SIGINT handler: the first Ctrl-C requests a stop, the second kills.
pub fn stop_on_ctrl_c() {
    // SAFETY: `on_sigint` only stores to an atomic, writes a constant with write(2) and resets
    // the disposition, all async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

extern "C" fn on_sigint(_: libc::c_int) {
    REQUESTED.store(true, Ordering::SeqCst);
    const NOTE: &[u8] = b"\nStopping at the next step (Ctrl-C again to quit now)...\n";
    // SAFETY: write(2) and signal(2) are async-signal-safe; NOTE is a valid buffer.
    unsafe {
        libc::write(2, NOTE.as_ptr().cast(), NOTE.len());
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

/// Asks running training, evaluation or caching to stop at its next step, as Ctrl-C does.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether a stop was requested since the last call; clears the request.
pub fn take() -> bool {
    REQUESTED.swap(false, Ordering::SeqCst)
}

/// An [`Interrupted`](super::TrainError::Interrupted) error if a stop was requested (the
/// caller adds what is saved).
pub(crate) fn check(during: impl FnOnce() -> String) -> Result<(), super::TrainError> {
    if take() {
        Err(super::TrainError::Interrupted {
            during: during(),
            saved: String::new(),
        })
    } else {
        Ok(())
    }
}
