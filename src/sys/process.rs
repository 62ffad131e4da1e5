//! Starting processes in ways std cannot on its own: the agent.
//!
//! (The rootfs check no longer runs the image's /bin/sh chrooted: in a plain chroot it
//! had every capability of the host's root and no namespace, so a hostile shell could
//! write through /proc/1/root. It reads the shell's ELF headers instead: see
//! `rootfs::host::inspect`.)
#![allow(unsafe_code)]

use nix::errno::Errno;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};

/// The agent's end of the socketpair, as a descriptor number.
pub const FD_ENV: &str = "HAKO_AGENT_FD";
/// The guide's PID, so the agent can tell when it is orphaned.
pub const GUIDE_ENV: &str = "HAKO_GUIDE_PID";
/// Set when `--trace` is on: the agent traces its own calls.
pub const TRACE_ENV: &str = "HAKO_AGENT_TRACE";

/// Starts `/proc/self/exe __agent` with `fd` (its end of the socketpair) kept open
/// across the exec, and a parent-death signal: if the guide dies, so does the agent.
pub fn spawn_agent(fd: std::os::fd::RawFd) -> Result<std::process::Child, Errno> {
    let guide = std::process::id();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("__agent")
        .env(FD_ENV, fd.to_string())
        .env(GUIDE_ENV, guide.to_string());
    if super::tracer::tracing() {
        cmd.env(TRACE_ENV, "1");
    }
    // SAFETY: only async-signal-safe calls (fcntl, prctl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // The socket is close-on-exec; this end must survive the exec.
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let r = cmd.spawn().map_err(|e| super::common::io_errno(&e));
    super::tracer::trace_as(
        || "fork() + execve(\"/proc/self/exe\", [\"hako\", \"__agent\"])".into(),
        "2 execve",
        &r,
        |c| c.id().to_string(),
    );
    r
}

/// After an interactive shell with job control ends, the terminal's foreground
/// process group is still the shell's: take it back (tcsetpgrp(3), with SIGTTOU
/// blocked so that doing it from the background does not stop hako).
pub fn take_terminal_back() {
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return;
    }
    let mut set = SigSet::empty();
    set.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old));
    let _ = nix::unistd::tcsetpgrp(&stdin, nix::unistd::getpgrp());
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
}

/// Takes ownership of socket descriptor `fd` (unix(7)): the agent's end of the socketpair,
/// passed across the exec and used by nothing else in this process.
pub fn stream_from_fd(fd: std::os::fd::RawFd) -> std::os::unix::net::UnixStream {
    use std::os::fd::FromRawFd;
    // SAFETY: `fd` is the socket the guide passed, owned by this process alone.
    unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) }
}

/// Whether a child ended killed by `sig` (wait(2)'s WIFSIGNALED and WTERMSIG).
pub fn killed_by(status: &ExitStatus, sig: nix::sys::signal::Signal) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(sig as i32)
}

/// fork(2) + execve(2) of hako's own program, on the host, with `args` and no input or
/// output, waited for: whether the host can still start a process (the pids
/// demonstration runs it while the container's cgroup is at its limit).
pub fn run_self_on_host(args: &[&str]) -> Result<ExitStatus, Errno> {
    let r = Command::new("/proc/self/exe")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| super::common::io_errno(&e));
    super::tracer::trace_as(
        || format!("fork() + execve(\"/proc/self/exe\", {args:?}) + wait4()"),
        "2 execve",
        &r,
        |s| format!("{s}"),
    );
    r
}
