//! Stopping training cleanly. The CLI calls [`stop_on_ctrl_c`]: the first Ctrl-C asks `fit` to
//! stop at the next step, abandoning the epoch in progress (every finished epoch is already in
//! its checkpoint) and returning an error that says how to resume; a second Ctrl-C ends the
//! program at once.
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
//! use catsdogs::train::interrupt;
//! interrupt::request(); // what Ctrl-C does once the handler is installed
//! assert!(interrupt::take());
//! assert!(!interrupt::take());
//! ```

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

/// Makes [`on_sigint`] SIGINT's handler; returns the disposition it replaces.
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

/// Whether this process runs the cells of a Jupyter notebook, on the evcxr kernel.
pub fn in_kernel() -> bool {
    std::env::var_os("EVCXR_IS_RUNTIME").is_some()
}

/// While alive, in a kernel, the stop button asks the work to stop at its next step (see the
/// module's documentation); outside a kernel it does nothing. Guards nest.
pub(crate) struct Stoppable {
    armed: bool,
}

/// A [`Stoppable`] guard for a pass that checks for a stop at every step.
pub(crate) fn stoppable() -> Stoppable {
    if !in_kernel() {
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

/// An [`Interrupted`](super::TrainError::Interrupted) error if a stop was requested. It says
/// that nothing is kept; `fit` replaces that with what its checkpoints hold.
pub(crate) fn check(during: impl FnOnce() -> String) -> Result<(), super::TrainError> {
    if take() {
        Err(super::TrainError::Interrupted {
            during: during(),
            saved: "it keeps no partial result, so run it again to start over".to_string(),
        })
    } else {
        Ok(())
    }
}
