//! Starting processes in ways std cannot on its own: chrooted, for the rootfs check.
#![allow(unsafe_code)]

use nix::errno::Errno;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// Runs `argv` with `root` as its root directory (chroot(2) + chdir("/") in the child,
/// between fork and exec), with stdio on /dev/null. The proof that a rootfs works:
/// the kernel resolves the program, its interpreter and libraries inside it.
pub fn run_chrooted(root: &Path, argv: &[&str]) -> Result<ExitStatus, Errno> {
    let shown = root.display().to_string();
    let root = root.to_path_buf();
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", "/bin:/usr/bin:/sbin:/usr/sbin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec the closure only makes two syscalls (chroot,
    // chdir) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::chroot(&root)?;
            nix::unistd::chdir("/")?;
            Ok(())
        });
    }
    let r = cmd.status().map_err(|e| super::io_errno(&e));
    super::trace_as(
        || {
            format!(
                "fork() + chroot(\"{}\") + chdir(\"/\") + execve(\"{}\", {:?}) + wait4()",
                shown, argv[0], argv
            )
        },
        "2 chroot",
        &r,
        |s| format!("{s}"),
    );
    r
}

/// Starts `/proc/self/exe __agent` with `fd` (its end of the socketpair) kept open
/// across the exec, and a parent-death signal: if the guide dies, so does the agent.
pub fn spawn_agent(fd: std::os::fd::RawFd) -> Result<std::process::Child, Errno> {
    let guide = std::process::id();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("__agent")
        .env(crate::agent::FD_ENV, fd.to_string())
        .env(crate::agent::GUIDE_ENV, guide.to_string());
    if super::tracing() {
        cmd.env(crate::agent::TRACE_ENV, "1");
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
    let r = cmd.spawn().map_err(|e| super::io_errno(&e));
    super::trace_as(
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
