//! The guide's look at the command right after its execve(2): PTRACE_SEIZE with
//! PTRACE_O_TRACEEXEC stops the process at the exec, so even `/bin/true`, which would
//! be a zombie before anyone looked, can be inspected; then PTRACE_DETACH lets it go.
//! See ptrace(2).

use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

pub enum AtExec {
    /// Stopped right after a successful exec.
    Stopped,
    /// Ended before its exec (the exec failed, or it was killed).
    Ended,
}

pub fn seize(pid: i32) -> Result<(), Errno> {
    let r = ptrace::seize(Pid::from_raw(pid), Options::PTRACE_O_TRACEEXEC);
    super::tracer::trace(
        || format!("ptrace(PTRACE_SEIZE, {pid}, 0, PTRACE_O_TRACEEXEC)"),
        "2 ptrace",
        &r,
    );
    r
}

/// Waits for the exec stop, passing on any other signal the process gets meanwhile.
pub fn wait_exec(pid: i32) -> Result<AtExec, Errno> {
    let p = Pid::from_raw(pid);
    loop {
        match waitpid(p, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::PtraceEvent(_, _, ev)) if ev == libc::PTRACE_EVENT_EXEC => {
                return Ok(AtExec::Stopped)
            }
            Ok(WaitStatus::PtraceEvent(_, _, _)) => ptrace::cont(p, None)?,
            Ok(WaitStatus::Stopped(_, sig)) => ptrace::cont(p, Some(sig))?,
            Ok(WaitStatus::Exited(..)) => return Ok(AtExec::Ended),
            Ok(WaitStatus::Signaled(..)) => return Ok(AtExec::Ended),
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Lets the stopped process go on, untraced.
pub fn release(pid: i32) -> Result<(), Errno> {
    let r = ptrace::detach(Pid::from_raw(pid), None);
    super::tracer::trace(
        || format!("ptrace(PTRACE_DETACH, {pid}, 0, 0)"),
        "2 ptrace",
        &r,
    );
    r
}
