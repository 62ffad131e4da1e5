//! Signals the guide catches: SIGINT, SIGTERM and SIGHUP only set a flag (no
//! SA_RESTART, so a blocking read returns EINTR) and the walk decides what to do at
//! its next step: clean up, then exit 130 or 143. Handlers, unlike SIG_IGN, are reset
//! by execve, so the command in the container gets the default dispositions.
#![allow(unsafe_code)]

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::sync::atomic::{AtomicI32, Ordering};

static PENDING: AtomicI32 = AtomicI32::new(0);
static WINCH: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_winch(_: libc::c_int) {
    WINCH.store(1, Ordering::SeqCst);
}

/// Whether the terminal was resized since the last call.
pub fn take_winch() -> bool {
    WINCH.swap(0, Ordering::SeqCst) != 0
}

extern "C" fn on_signal(sig: libc::c_int) {
    // Keep the most serious one: a SIGTERM is not overwritten by a later SIGINT.
    let prev = PENDING.load(Ordering::SeqCst);
    if prev != libc::SIGTERM && prev != libc::SIGHUP {
        PENDING.store(sig, Ordering::SeqCst);
    }
}

pub fn install() {
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only touches an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(s, &act) };
    }
    let winch = SigAction::new(
        SigHandler::Handler(on_winch),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: as above.
    let _ = unsafe { sigaction(Signal::SIGWINCH, &winch) };
}

/// SIGPIPE back to its default (Rust ignores it), for output meant for pipes.
pub fn default_sigpipe() {
    // SAFETY: setting a default disposition.
    let _ = unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// The signal received since the last `take`, if any.
pub fn take() -> Option<Signal> {
    match PENDING.swap(0, Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

pub fn peek() -> Option<Signal> {
    match PENDING.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// The signals a child sets back to their default disposition before execve(2): those
/// the guide catches or ignores (Rust ignores SIGPIPE; a shell's pipelines need it).
const EXEC_DEFAULTS: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTSTP,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGPIPE,
];

/// In a child between fork(2) and execve(2): [`EXEC_DEFAULTS`] and `more` back to their
/// default dispositions (signal(2)), and no signal blocked (sigprocmask(2)), as a
/// program expects to start. Only async-signal-safe calls.
///
/// # Safety
/// Meant for the forked child only, where nothing else runs.
pub unsafe fn defaults_for_exec(more: &[libc::c_int]) {
    for s in EXEC_DEFAULTS.iter().chain(more) {
        libc::signal(*s, libc::SIG_DFL);
    }
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
}
