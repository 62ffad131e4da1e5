//! `--trace`: every system call hako makes, written as strace would, with its man page.
//! The lines go to a sink `main` installs (the renderer), so this layer never imports
//! the screen.

use nix::errno::Errno;
use std::sync::atomic::{AtomicBool, Ordering};

static TRACE: AtomicBool = AtomicBool::new(false);

/// Where `--trace` lines go: one function, installed once by `main` (the renderer's
/// `trace_line`). The kernel layer never imports the screen; it hands lines to this sink.
pub type TraceSink = fn(call: &str, man: &str);
static SINK: std::sync::OnceLock<TraceSink> = std::sync::OnceLock::new();

/// Installs the trace sink (the first call wins).
pub fn set_trace_sink(sink: TraceSink) {
    let _ = SINK.set(sink);
}

/// Hands one traced call to the sink; without one, a plain line on stderr.
pub fn trace_line(call: &str, man: &str) {
    match SINK.get() {
        Some(sink) => sink(call, man),
        None => eprintln!("  -> {call}   man {man}"),
    }
}

/// `--trace`: print every syscall hako makes, with its man page.
pub fn set_trace(on: bool) {
    TRACE.store(on, Ordering::Relaxed);
}

pub fn tracing() -> bool {
    TRACE.load(Ordering::Relaxed)
}

/// Prints one traced call: `mount("proc", "/tmp/x/proc", "proc", 0, NULL) = 0   man 2 mount`.
pub fn trace<T>(call: impl FnOnce() -> String, man: &str, r: &Result<T, Errno>) {
    trace_as(call, man, r, |_| "0".to_string());
}

/// `trace`, for a call whose result is a value (a PID, a descriptor, a path).
pub fn trace_as<T>(
    call: impl FnOnce() -> String,
    man: &str,
    r: &Result<T, Errno>,
    ok: impl FnOnce(&T) -> String,
) {
    if tracing() {
        trace_line(&format!("{} = {}", call(), result_text(r, ok)), man);
    }
}

/// How strace writes a result: the value, or `-1 ENOENT (No such file or directory)`.
pub fn result_text<T>(r: &Result<T, Errno>, ok: impl FnOnce(&T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => format!("-1 {e:?} ({})", e.desc()),
    }
}
