//! Stopping long work cleanly. The CLI calls [`stop_on_ctrl_c`]: the first Ctrl-C asks the work in
//! progress (training, evaluation, caching features, decoding images, drawing the sample) to stop
//! at its next step, where it ends with an [`Interrupted`] error instead of being killed, so that
//! temporary files are removed and finished work stays (every finished epoch is already in its
//! checkpoint); a second Ctrl-C ends the program at once.
//!
//! In JupyterLab, interrupting an evcxr kernel ends the process that runs the cell, so there
//! the per-epoch checkpoints are what keep the work, and `FitOptions::resume` picks it up.
//!
//! ```
//! use catsdogs::interrupt;
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

/// Work stopped by Ctrl-C or [`request`], with what was running, e.g. "at epoch 2/30, step 7/320".
#[derive(Debug, thiserror::Error)]
#[error("interrupted {during}")]
pub struct Interrupted {
    /// What was running.
    pub during: String,
}

/// An [`Interrupted`] error if a stop was requested since the last check.
pub fn check(during: impl FnOnce() -> String) -> Result<(), Interrupted> {
    if take() {
        Err(Interrupted { during: during() })
    } else {
        Ok(())
    }
}
