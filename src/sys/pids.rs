//! Signals and waits on processes by PID: the agent's and the journal's. Outside `sys`,
//! a PID is a plain `i32`; here it becomes nix's `Pid`.

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// kill(2): `sig` to process `pid` (a negative `pid` names a process group).
pub fn kill(pid: i32, sig: Signal) -> Result<(), Errno> {
    nix::sys::signal::kill(Pid::from_raw(pid), sig)
}

/// waitpid(2) on `pid`: `Some(code)` once it ended (its exit code, or 128 + the signal
/// that killed it, as a shell reports it), `None` while it runs (only with `nohang`) or
/// when it stopped. EINTR is returned to the caller, which decides whether to retry.
pub fn wait(pid: i32, nohang: bool) -> Result<Option<i32>, Errno> {
    let flags = nohang.then_some(WaitPidFlag::WNOHANG);
    match waitpid(Pid::from_raw(pid), flags)? {
        WaitStatus::Exited(_, c) => Ok(Some(c)),
        WaitStatus::Signaled(_, s, _) => Ok(Some(128 + s as i32)),
        _ => Ok(None),
    }
}
