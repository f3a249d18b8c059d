//! Stopping long work cleanly. The CLI calls [`stop_on_ctrl_c`]: the first Ctrl-C asks the work in
//! progress (training, evaluation, caching features, decoding images, drawing the sample) to stop
//! at its next step, where it ends with an [`Interrupted`] error instead of being killed, so that
//! temporary files are removed and finished work stays (every finished epoch is already in its
//! checkpoint); a second Ctrl-C ends the program at once.
//!
//! In a Jupyter kernel (evcxr, which marks the process that runs the cells with
//! `EVCXR_IS_RUNTIME`), the stop button sends SIGINT, which that process ignores (the kernel
//! launcher sees to it, so that the kernel itself survives). While `fit`, `evaluate`,
//! `predict_generator` or a feature-cache pass runs, it catches SIGINT instead: the first
//! interrupt stops the work at the next step, the variables of the notebook stay, and `fit`
//! prints what is saved and returns the History of the finished epochs; a second interrupt ends
//! the process at once (evcxr starts a new one, without the variables). Elsewhere the launcher
//! restarts the process that runs the cell (see `environment/catsdogs-kernel`).
//!
//! ```
//! use catsdogs::interrupt;
//! interrupt::request(); // what Ctrl-C does once the handler is installed
//! assert!(interrupt::take());
//! assert!(!interrupt::take());
//! ```

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// Whether the handler speaks to a notebook (the stop button) rather than a terminal (Ctrl-C).
static IN_KERNEL: AtomicBool = AtomicBool::new(false);
/// How many [`Stoppable`] guards are alive, and the SIGINT disposition the first one replaced.
static STOPPABLE: AtomicUsize = AtomicUsize::new(0);
static OUTSIDE: AtomicUsize = AtomicUsize::new(0);

/// Installs the SIGINT handler: the first Ctrl-C requests a stop, the second kills.
pub fn stop_on_ctrl_c() {
    install();
}

/// The disposition it replaces.
fn install() -> libc::sighandler_t {
    // SAFETY: `on_sigint` only stores to an atomic, writes a constant with write(2) and resets
    // the disposition, all async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )
    }
}

extern "C" fn on_sigint(_: libc::c_int) {
    REQUESTED.store(true, Ordering::SeqCst);
    let note: &[u8] = if IN_KERNEL.load(Ordering::SeqCst) {
        b"\nStopping at the next step (interrupt again to stop at once, losing the notebook's variables)...\n"
    } else {
        b"\nStopping at the next step (Ctrl-C again to quit now)...\n"
    };
    // SAFETY: write(2) and signal(2) are async-signal-safe; `note` is a valid buffer.
    unsafe {
        libc::write(2, note.as_ptr().cast(), note.len());
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

/// While alive, in a kernel, the stop button asks the work to stop at its next step (see the
/// module's documentation); outside a kernel it does nothing. Guards nest.
pub(crate) struct Stoppable {
    armed: bool,
}

/// A [`Stoppable`] guard for a pass that checks for a stop at every step.
pub(crate) fn stoppable() -> Stoppable {
    if !crate::console::is_notebook() {
        return Stoppable { armed: false };
    }
    if STOPPABLE.fetch_add(1, Ordering::SeqCst) == 0 {
        IN_KERNEL.store(true, Ordering::SeqCst);
        // A request that no pass took came while an earlier cell ran something else.
        REQUESTED.store(false, Ordering::SeqCst);
        OUTSIDE.store(install(), Ordering::SeqCst);
    }
    Stoppable { armed: true }
}

impl Drop for Stoppable {
    fn drop(&mut self) {
        if self.armed && STOPPABLE.fetch_sub(1, Ordering::SeqCst) == 1 {
            // SAFETY: restores the disposition that `stoppable` replaced.
            unsafe { libc::signal(libc::SIGINT, OUTSIDE.load(Ordering::SeqCst)) };
            REQUESTED.store(false, Ordering::SeqCst);
        }
    }
}

/// An [`Error::Interrupted`] if a stop was requested since the last check, with what was
/// running (e.g. "at epoch 2/30, step 7/320"). It says that nothing is kept; `fit` replaces
/// that with what its checkpoints hold.
pub fn check(during: impl FnOnce() -> String) -> Result<()> {
    if take() {
        Err(Error::Interrupted {
            during: during(),
            saved: "it keeps no partial result, so run it again to start over".to_string(),
        })
    } else {
        Ok(())
    }
}
