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
//! the process at once (evcxr starts a new one, without the variables). When the pass ends,
//! SIGINT is ignored again, as before it: the launcher reads which of the two the process does
//! (`/proc/PID/status`), and ends the process that runs any other cell (see
//! `environment/catsdogs-kernel`).
//!
//! ```
//! use catsdogs::interrupt;
//! interrupt::request(); // what Ctrl-C does once the handler is installed
//! assert!(interrupt::take());
//! assert!(!interrupt::take());
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// Whether the handler speaks to a notebook (the stop button) rather than a terminal (Ctrl-C).
static IN_KERNEL: AtomicBool = AtomicBool::new(false);
/// Whether [`stop_on_ctrl_c`] installed the handler for the rest of the program.
static FOR_GOOD: AtomicBool = AtomicBool::new(false);
/// In a kernel: how many [`Stoppable`] guards are alive, and the SIGINT action that the first
/// one replaced, given back when the last one ends.
static STOPPABLE: Mutex<(usize, Option<Action>)> = Mutex::new((0, None));

/// Installs the SIGINT handling for the rest of the program: the first Ctrl-C requests a stop,
/// the second ends the program at once. Installing it again changes nothing.
pub fn stop_on_ctrl_c() {
    let guards = STOPPABLE.lock().unwrap_or_else(|e| e.into_inner());
    if !FOR_GOOD.swap(true, Ordering::SeqCst) && guards.0 == 0 {
        Action::handler().set();
    }
}

/// SIGINT's action at the operating system: what the kernel's launcher reads (in
/// `/proc/PID/status`) to tell a pass that stops on request from code that does not. So it is
/// set and given back as a whole (with `sigaction(2)`), never left caught after a pass.
struct Action(libc::sigaction);

// SAFETY: a `sigaction` is plain data (a handler's address, a mask and flags).
unsafe impl Send for Action {}

impl Action {
    /// The action that runs [`on_sigint`], restarting the calls it interrupts.
    fn handler() -> Action {
        // SAFETY: an all-zero sigaction is valid (an empty mask, no flags); it is then filled in.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        Action(action)
    }

    /// Makes this SIGINT's action; returns the one it replaces.
    fn set(&self) -> Action {
        // SAFETY: both pointers are valid; sigaction(2) fails only for a forbidden signal,
        // which SIGINT is not.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGINT, &self.0, &mut old);
            Action(old)
        }
    }
}

/// While a stop is pending, ends the process at once (exit status 130, as a shell reports a
/// Ctrl-C); otherwise asks for a stop and says so. Only atomics, write(2) and _exit(2), which
/// are async-signal-safe.
extern "C" fn on_sigint(_: libc::c_int) {
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit(2) is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
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
    Stoppable::arm()
}

impl Stoppable {
    /// Catches SIGINT until the last guard ends.
    fn arm() -> Stoppable {
        let mut guards = STOPPABLE.lock().unwrap_or_else(|e| e.into_inner());
        if guards.0 == 0 {
            IN_KERNEL.store(true, Ordering::SeqCst);
            // A request that no pass took came while an earlier cell ran something else.
            REQUESTED.store(false, Ordering::SeqCst);
            guards.1 = Some(Action::handler().set());
        }
        guards.0 += 1;
        Stoppable { armed: true }
    }
}

impl Drop for Stoppable {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut guards = STOPPABLE.lock().unwrap_or_else(|e| e.into_inner());
        guards.0 -= 1;
        if guards.0 == 0 {
            // SIGINT goes back to what the kernel's launcher gave the cell process (ignored),
            // unless stop_on_ctrl_c asked for the handler for good meanwhile.
            if let Some(before) = guards.1.take() {
                if !FOR_GOOD.load(Ordering::SeqCst) {
                    before.set();
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// SIGINT's handler at the operating system now.
    fn current() -> libc::sighandler_t {
        // SAFETY: a null new action only reads the current one.
        unsafe {
            let mut now: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGINT, std::ptr::null(), &mut now);
            now.sa_sigaction
        }
    }

    #[test]
    fn a_pass_catches_sigint_only_while_it_runs_unless_stop_on_ctrl_c_keeps_it() {
        // SAFETY: as in Action::handler.
        let mut ignored: libc::sigaction = unsafe { std::mem::zeroed() };
        ignored.sa_sigaction = libc::SIG_IGN;
        Action(ignored).set(); // what the kernel's launcher gives the cell process
        let handler = Action::handler().0.sa_sigaction;
        let outer = Stoppable::arm();
        assert_eq!(current(), handler);
        drop(Stoppable::arm());
        assert_eq!(
            current(),
            handler,
            "a nested guard leaves the handler to the outer one"
        );
        drop(outer);
        assert_eq!(
            current(),
            libc::SIG_IGN,
            "after the pass, code that cannot stop is seen as such"
        );

        let pass = Stoppable::arm();
        stop_on_ctrl_c();
        drop(pass);
        assert_eq!(
            current(),
            handler,
            "stop_on_ctrl_c keeps the handler for good"
        );
    }
}
