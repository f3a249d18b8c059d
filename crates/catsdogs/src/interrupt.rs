//! Stopping long work cleanly. The CLI calls [`stop_on_ctrl_c`]: the first Ctrl-C asks the work in
//! progress (training, evaluation, caching features, decoding images, drawing the sample) to stop
//! at its next step, where it ends with an [`Error::Interrupted`] instead of being killed, so that
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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use signal_hook::consts::SIGINT;
use signal_hook::SigId;

use crate::error::{Error, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// Whether the handler speaks to a notebook (the stop button) rather than a terminal (Ctrl-C).
static IN_KERNEL: AtomicBool = AtomicBool::new(false);
/// In a kernel: how many [`Stoppable`] guards are alive, and the actions the first installed.
static STOPPABLE: Mutex<(usize, Vec<SigId>)> = Mutex::new((0, Vec::new()));

/// Installs the SIGINT handling for the rest of the program: the first Ctrl-C requests a stop,
/// the second ends the program at once. Installing it again changes nothing.
pub fn stop_on_ctrl_c() {
    static INSTALLED: OnceLock<Vec<SigId>> = OnceLock::new();
    INSTALLED.get_or_init(install);
}

/// The two actions on SIGINT, through signal-hook: while a stop is pending, end the process at
/// once (exit status 130, as a shell reports a Ctrl-C); otherwise ask for a stop and say so.
fn install() -> Vec<SigId> {
    // SAFETY: both actions only load and store atomics and call write(2) and _exit(2), which
    // are async-signal-safe.
    let actions = unsafe {
        [
            signal_hook::low_level::register(SIGINT, || {
                if REQUESTED.load(Ordering::SeqCst) {
                    signal_hook::low_level::exit(130);
                }
            }),
            signal_hook::low_level::register(SIGINT, on_sigint),
        ]
    };
    // Registering fails only for a forbidden signal, which SIGINT is not.
    actions
        .into_iter()
        .filter_map(std::result::Result::ok)
        .collect()
}

fn on_sigint() {
    REQUESTED.store(true, Ordering::SeqCst);
    let note: &[u8] = if IN_KERNEL.load(Ordering::SeqCst) {
        b"\nStopping at the next step (interrupt again to stop at once, losing the notebook's variables)...\n"
    } else {
        b"\nStopping at the next step (Ctrl-C again to quit now)...\n"
    };
    // SAFETY: write(2) is async-signal-safe; `note` is a valid buffer.
    unsafe {
        libc::write(2, note.as_ptr().cast(), note.len());
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
    let mut guards = STOPPABLE.lock().unwrap_or_else(|e| e.into_inner());
    if guards.0 == 0 {
        IN_KERNEL.store(true, Ordering::SeqCst);
        // A request that no pass took came while an earlier cell ran something else.
        REQUESTED.store(false, Ordering::SeqCst);
        guards.1 = install();
    }
    guards.0 += 1;
    Stoppable { armed: true }
}

impl Drop for Stoppable {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut guards = STOPPABLE.lock().unwrap_or_else(|e| e.into_inner());
        guards.0 -= 1;
        if guards.0 == 0 {
            // With its last action removed, signal-hook leaves SIGINT ignored: what the kernel's
            // launcher gave the cell process.
            for action in guards.1.drain(..) {
                signal_hook::low_level::unregister(action);
            }
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
