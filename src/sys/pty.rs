//! The practice shell's terminal: a new pty on the host's devpts whose slave is the
//! controlling terminal of a new session (the learner's shell leads it), and what hako
//! reads of it from outside to know when a command has "returned to the prompt":
//! the terminal's foreground process group (TIOCGPGRP on the master, ioctl_tty(2)),
//! what its leader is blocked in (`/proc/PID/syscall`, proc(5)), and how many typed
//! bytes are still unread (TIOCINQ on the slave, ioctl_tty(2)).
//!
//! hako keeps a descriptor of the slave (never given to anyone): through it, it discards
//! what was typed into the terminal and not read (tcflush(3) TCIFLUSH) when the
//! container's PID 1 ends, so nothing the container pushed into the terminal's input
//! (TIOCSTI) reaches the outer shell, which runs as the host's root.
#![allow(unsafe_code)]

use super::error::SysError;
use nix::errno::Errno;
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// The learner's shell on its pty.
#[derive(Debug)]
pub struct PtyShell {
    /// The shell's PID (a child of hako, the session leader).
    pub pid: i32,
    pub master: OwnedFd,
    /// Held by hako only (close-on-exec): for TIOCINQ and the input flush.
    pub slave: OwnedFd,
    /// N of /dev/pts/N.
    pub pts: u32,
}

fn cstr(s: &str) -> Result<CString, SysError> {
    CString::new(s).map_err(|_| SysError::new("execve", Errno::EINVAL))
}

/// Steps the child reports by number through a pipe (no allocation after fork).
const STEPS: [&str; 5] = ["setsid", "TIOCSCTTY", "dup2", "chdir", "execve"];

/// Starts `argv` on a new pty: fork(2); the child makes a new session (setsid(2)),
/// takes the slave as its controlling terminal (TIOCSCTTY) and as fds 0, 1, 2, closes
/// every other descriptor (close_range(2)), gets the default signal dispositions and an
/// empty mask back, changes to `cwd` and execs with exactly `env`.
pub fn spawn_shell(
    argv: &[&str],
    env: &[(String, String)],
    cwd: &Path,
) -> Result<PtyShell, SysError> {
    let (master, slave, pts) = super::tty::open_pty().map_err(SysError::at("open /dev/ptmx"))?;
    // Everything the child needs is made before the fork: a forked child of a process
    // that may have threads must not allocate.
    let path = cstr(argv[0])?;
    let args: Vec<CString> = argv.iter().map(|a| cstr(a)).collect::<Result<_, _>>()?;
    let envs: Vec<CString> = env
        .iter()
        .map(|(k, v)| cstr(&format!("{k}={v}")))
        .collect::<Result<_, _>>()?;
    let cwd = cstr(&cwd.display().to_string())?;
    let mut argv_p: Vec<*const libc::c_char> = args.iter().map(|c| c.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envs.iter().map(|c| c.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(SysError::at("pipe2"))?;
    let slave_raw = slave.as_raw_fd();
    let wr_raw = wr.as_raw_fd();
    // SAFETY: the child makes only async-signal-safe calls on memory prepared before
    // the fork, and never returns.
    let child = match unsafe { nix::unistd::fork() } {
        Err(e) => return Err(SysError::new("fork", e)),
        Ok(nix::unistd::ForkResult::Child) => unsafe {
            shell_child(
                slave_raw,
                wr_raw,
                cwd.as_ptr(),
                path.as_ptr(),
                argv_p.as_ptr(),
                envp_p.as_ptr(),
            )
        },
        Ok(nix::unistd::ForkResult::Parent { child }) => child.as_raw(),
    };
    drop(wr);
    // The pipe closes at the exec (close-on-exec); a report in it names the failed step.
    let report = super::common::child_report(&rd, &STEPS);
    super::tracer::trace(
        || {
            format!(
                "open(\"/dev/ptmx\") → /dev/pts/{pts} + fork() + setsid() + ioctl(TIOCSCTTY) + execve({:?})",
                argv[0]
            )
        },
        "4 pts",
        &Ok::<(), Errno>(()),
    );
    if let Some((step, errno)) = report {
        let _ = super::pids::wait(child, false);
        return Err(SysError::new(step, errno));
    }
    Ok(PtyShell {
        pid: child,
        master,
        slave,
        pts,
    })
}

unsafe fn fail(wr: RawFd, step: usize) -> ! {
    let e = Errno::last_raw().to_ne_bytes();
    let msg = [e[0], e[1], e[2], e[3], step as u8];
    libc::write(wr, msg.as_ptr().cast(), msg.len());
    libc::_exit(127)
}

unsafe fn shell_child(
    slave: RawFd,
    wr: RawFd,
    cwd: *const libc::c_char,
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> ! {
    if libc::setsid() < 0 {
        fail(wr, 0);
    }
    if libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0 {
        fail(wr, 1);
    }
    for fd in 0..3 {
        if libc::dup2(slave, fd) < 0 {
            fail(wr, 2);
        }
    }
    // Nothing of hako's but the terminal reaches the shell (the report pipe is
    // close-on-exec and closes at the exec).
    for fd in 3..wr {
        libc::close(fd);
    }
    libc::syscall(libc::SYS_close_range, wr + 1, u32::MAX, 0);
    super::signals::defaults_for_exec(&[
        libc::SIGTTOU,
        libc::SIGTTIN,
        libc::SIGWINCH,
        libc::SIGCHLD,
    ]);
    if libc::chdir(cwd) != 0 {
        fail(wr, 3);
    }
    libc::execve(path, argv, envp);
    fail(wr, 4)
}

/// TIOCGPGRP on the master: the foreground process group of the pty (its ID as hako's
/// PID namespace sees it).
pub fn foreground(master: &OwnedFd) -> Option<i32> {
    let mut pgrp: libc::pid_t = 0;
    // SAFETY: TIOCGPGRP writes one pid_t.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPGRP, &mut pgrp) };
    (r == 0 && pgrp > 0).then_some(pgrp)
}

/// TIOCINQ (FIONREAD) on the slave: bytes typed into the terminal and not read yet.
pub fn typed_unread(slave: &OwnedFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let r = unsafe { libc::ioctl(slave.as_raw_fd(), libc::FIONREAD, &mut n) };
    if r == 0 {
        n.max(0) as usize
    } else {
        0
    }
}

/// tcflush(3) TCIFLUSH on the slave: what was typed into the terminal (by a key, by
/// hako, or pushed with TIOCSTI) and not read yet is discarded.
pub fn discard_typed(slave: &OwnedFd) {
    // SAFETY: tcflush only looks at the descriptor number.
    unsafe { libc::tcflush(slave.as_raw_fd(), libc::TCIFLUSH) };
}

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const READ: i64 = 0;
    pub const WAITING: [i64; 6] = [7, 23, 270, 271, 232, 281]; // poll select pselect6 ppoll epoll_wait epoll_pwait
}
#[cfg(target_arch = "aarch64")]
mod nr {
    pub const READ: i64 = 63;
    pub const WAITING: [i64; 3] = [72, 73, 22]; // pselect6 ppoll epoll_pwait
}

/// What `/proc/PID/syscall` says a process is blocked in (proc(5)): `read` on fd 0,
/// or a wait for input (poll, select and their kin, which shells with line editing
/// use before they read).
pub fn waiting_syscall(text: &str) -> bool {
    let mut it = text.split_whitespace();
    let Some(Ok(n)) = it.next().map(str::parse::<i64>) else {
        return false;
    };
    if n == nr::READ {
        let fd = it
            .next()
            .and_then(|a| i64::from_str_radix(a.trim_start_matches("0x"), 16).ok());
        return fd == Some(0);
    }
    nr::WAITING.contains(&n)
}

/// Whether process `pid` is asleep in a read of its terminal: its state is S and its
/// `/proc/PID/syscall` is a read of fd 0 or a wait for input, with fd 0 a terminal
/// whose identity is `tty` (st_rdev of the slave).
pub fn reading_terminal(pid: i32, tty: u64) -> bool {
    let stat = super::procfs::Stat::of(super::procfs::Who::Pid(pid));
    if stat.and_then(|s| s.state()) != Some('S') {
        return false;
    }
    let Ok(sc) = std::fs::read_to_string(format!("/proc/{pid}/syscall")) else {
        return false;
    };
    if !waiting_syscall(&sc) {
        return false;
    }
    nix::sys::stat::stat(format!("/proc/{pid}/fd/0").as_str()).is_ok_and(|s| s.st_rdev == tty)
}

/// st_rdev of a descriptor (a terminal's device number).
pub fn rdev(fd: &OwnedFd) -> u64 {
    nix::sys::stat::fstat(fd).map(|s| s.st_rdev).unwrap_or(0)
}

/// The session (proc(5) stat field 6) and start time (field 22) of every process.
pub fn sessions() -> Vec<(i32, i32, u64)> {
    let mut v = vec![];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Some(st) = super::procfs::Stat::of(super::procfs::Who::Pid(pid)) else {
            continue;
        };
        let sid = st.field(6).and_then(|s| s.parse().ok()).unwrap_or(0);
        if let Some(start) = st.start_time() {
            v.push((pid, sid, start));
        }
    }
    v
}

/// The PIDs of process `pid` in each PID namespace it is in, outermost first
/// (`NSpid` in /proc/PID/status).
pub fn ns_pids(pid: i32) -> Vec<i32> {
    super::procfs::status_field(super::procfs::Who::Pid(pid), "NSpid")
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `/proc/PID/uid_map` (user_namespaces(7)), its fields joined by single spaces.
pub fn uid_map(pid: i32) -> Option<String> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).ok()?;
    Some(t.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// pidfd_open(2): a descriptor that becomes readable when process `pid` ends.
pub fn pidfd(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; it returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just gave us this descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let _ = super::tty::set_cloexec(fd.as_raw_fd());
    Some(fd)
}

/// poll(2) for input on `fds`, at most `ms` milliseconds: which are readable (or hung
/// up). EINTR comes back as an empty answer (a signal: the caller looks at its flags).
pub fn ready(fds: &[BorrowedFd<'_>], ms: u16) -> Vec<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut p: Vec<PollFd> = fds
        .iter()
        .map(|f| PollFd::new(*f, PollFlags::POLLIN))
        .collect();
    match poll(&mut p, PollTimeout::from(ms)) {
        Ok(_) => p
            .iter()
            .map(|f| {
                f.revents()
                    .unwrap_or(PollFlags::empty())
                    .intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
            })
            .collect(),
        Err(_) => vec![false; fds.len()],
    }
}

/// read(2) of what is there: `Ok(0)` at the end (EOF, or EIO from a master whose
/// slaves all closed), `Err(EAGAIN)`/`Err(EINTR)` to try again.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    match nix::unistd::read(fd, buf) {
        Err(Errno::EIO) => Ok(0),
        r => r,
    }
}

/// write(2) of all of `b`.
pub fn write_all(fd: RawFd, mut b: &[u8]) -> Result<(), Errno> {
    // SAFETY: the caller holds `fd` open for the whole call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    while !b.is_empty() {
        match nix::unistd::write(fd, b) {
            Ok(n) => b = &b[n..],
            Err(Errno::EINTR) | Err(Errno::EAGAIN) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// SIGKILL to `pid`, only while it is the process that started at `start` (proc(5)
/// stat field 22), so a reused PID is never hit.
pub fn kill_if(pid: i32, start: u64) -> bool {
    let same = super::procfs::Stat::of(super::procfs::Who::Pid(pid)).and_then(|s| s.start_time())
        == Some(start);
    same && super::pids::kill(pid, nix::sys::signal::Signal::SIGKILL).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_lines() {
        #[cfg(target_arch = "x86_64")]
        {
            assert!(waiting_syscall(
                "0 0x0 0x7ffc1 0x1 0x0 0x0 0x0 0x7ffc0 0x7f12\n"
            ));
            assert!(!waiting_syscall(
                "0 0x3 0x7ffc1 0x1 0x0 0x0 0x0 0x7ffc0 0x7f12"
            ));
            assert!(waiting_syscall("7 0x7ffd 0x1 0xffffffff 0 0 0 0x1 0x2"));
            assert!(!waiting_syscall("61 0xffffffff 0x7ffd 0x2 0 0 0 0x1 0x2"));
        }
        assert!(!waiting_syscall("running"));
        assert!(!waiting_syscall(""));
    }
}
