//! The learner's terminal stays the learner's: no descriptor of it ever reaches the
//! container (a process holding one can type into it with TIOCSTI, and root of the
//! plain walk can on any terminal it holds, ioctl_tty(2)).
//!
//! When stdin is a terminal the command gets one of its own, as `docker run -it` gives:
//! a pty from the container's devpts (opened inside, after the chroot), its master
//! passed to the guide over the socket (SCM_RIGHTS, unix(7)), its slave made the
//! command's controlling terminal (setsid(2) + TIOCSCTTY). The guide relays bytes in raw
//! mode and forwards window-size changes. Otherwise a standard descriptor that is a
//! terminal becomes a pipe the guide relays, byte for byte; in every case the command
//! starts a session of its own (setsid), so the learner's terminal is not its
//! controlling terminal either.
#![allow(unsafe_code)]

use super::error::SysError;
use nix::errno::Errno;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Opens a pty through /dev/ptmx (inside the chroot: the container's own devpts) and
/// its slave; returns (master, slave, N of /dev/pts/N).
pub fn open_pty() -> Result<(OwnedFd, OwnedFd, u32), Errno> {
    let flags =
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC;
    let master = nix::fcntl::open("/dev/ptmx", flags, nix::sys::stat::Mode::empty())?;
    let mut n: libc::c_uint = 0;
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCGPTN writes one unsigned int; TIOCSPTLCK reads one int.
    unsafe {
        if libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) != 0
            || libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) != 0
        {
            return Err(Errno::last());
        }
    }
    let slave = nix::fcntl::open(
        format!("/dev/pts/{n}").as_str(),
        flags,
        nix::sys::stat::Mode::empty(),
    )?;
    super::tracer::trace(
        || format!("open(\"/dev/ptmx\") → /dev/pts/{n}"),
        "4 pts",
        &Ok::<(), Errno>(()),
    );
    Ok((master, slave, n))
}

/// fcntl(F_SETFD, FD_CLOEXEC): `fd` closes at the next execve(2). The agent's socket
/// has to survive hako's exec of the agent, and must not survive the command's.
pub fn set_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: fcntl on a descriptor number; no memory is passed.
    match unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    }
}

/// Sends `line` with several descriptors attached, in order.
pub fn send_fds(sock: RawFd, line: &str, fds: &[BorrowedFd<'_>]) -> Result<(), Errno> {
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let cmsg = [ControlMessage::ScmRights(&raw)];
    sendmsg::<()>(
        sock,
        &[IoSlice::new(line.as_bytes())],
        if raw.is_empty() { &[] } else { &cmsg },
        MsgFlags::empty(),
        None,
    )
    .map(|_| ())
}

/// Receives one message and every descriptor attached to it (close-on-exec).
pub fn recv_fds(sock: RawFd) -> Result<(String, Vec<OwnedFd>), Errno> {
    let mut buf = vec![0u8; 4096];
    let mut cmsg = nix::cmsg_space!([RawFd; 3]);
    let (n, out) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)?;
        let mut out = vec![];
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: the kernel just installed these descriptors in our table for us.
                out.extend(fds.iter().map(|f| unsafe { OwnedFd::from_raw_fd(*f) }));
            }
        }
        (msg.bytes, out)
    };
    Ok((String::from_utf8_lossy(&buf[..n]).into_owned(), out))
}

/// Which of the standard descriptors 0, 1, 2 are terminals (isatty(3)).
pub fn terminals() -> [bool; 3] {
    // SAFETY: isatty only looks at the descriptor number.
    [0, 1, 2].map(|fd| unsafe { libc::isatty(fd) } == 1)
}

/// pipe2(O_CLOEXEC): (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
}

/// In the command, just before exec: a new session (setsid(2)), so that it shares no
/// controlling terminal with hako; then each standard descriptor that was a terminal is
/// replaced (dup2(2)): by `slave`, which becomes the controlling terminal (TIOCSCTTY,
/// ioctl_tty(2)), or by the pipe hako relays. Fails if a terminal other than `slave`
/// would still reach the command; the error names the call that failed.
pub fn take_stdio(
    slave: Option<&OwnedFd>,
    ttys: [bool; 3],
    pipes: &[(i32, OwnedFd)],
) -> Result<(), SysError> {
    nix::unistd::setsid().map_err(SysError::at("setsid"))?;
    if let Some(slave) = slave {
        // SAFETY: TIOCSCTTY takes an int argument (0: do not steal).
        if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
            return Err(SysError::new("TIOCSCTTY", Errno::last()));
        }
        for (target, tty) in ttys.iter().enumerate() {
            // SAFETY: dup2 onto a standard descriptor, which this process owns.
            if *tty && unsafe { libc::dup2(slave.as_raw_fd(), target as i32) } < 0 {
                return Err(SysError::new("dup2", Errno::last()));
            }
        }
    }
    for (target, end) in pipes {
        // SAFETY: as above.
        if unsafe { libc::dup2(end.as_raw_fd(), *target) } < 0 {
            return Err(SysError::new("dup2", Errno::last()));
        }
    }
    let own = slave.and_then(|s| nix::sys::stat::fstat(s).ok());
    for fd in 0..3 {
        // SAFETY: isatty only looks at the descriptor number.
        if unsafe { libc::isatty(fd) } == 1 {
            // SAFETY: a standard descriptor, open (isatty just said so).
            let st = nix::sys::stat::fstat(unsafe { BorrowedFd::borrow_raw(fd) })
                .map_err(SysError::at("fstat"))?;
            let ours = own.is_some_and(|o| (o.st_dev, o.st_ino) == (st.st_dev, st.st_ino));
            if !ours {
                return Err(SysError::new(
                    "a terminal of hako's on fd 0-2",
                    Errno::EPERM,
                ));
            }
        }
    }
    Ok(())
}

/// Copies the window size of `from` (the learner's terminal) to `to` (the pty).
pub fn copy_winsize(from: RawFd, to: RawFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills a winsize; TIOCSWINSZ reads one.
    unsafe {
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

/// The learner's terminal in raw mode for as long as this lives; restored on drop
/// (the normal end, an error, a panic, SIGTERM handled by the walk).
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSAFLUSH, &self.saved);
    }
}

/// One stream hako copies, byte for byte: from a descriptor it holds to one of its own.
pub struct Link<'a> {
    pub from: BorrowedFd<'a>,
    pub to: RawFd,
    /// The container's side (a pty master or a pipe): when all of these are closed,
    /// the relay ends. The learner's side (stdin) is not.
    pub ends: bool,
}

/// Where the container's terminal output goes: the learner's terminal, as hako's stdout
/// if that is one, else its stderr, else its stdin.
pub fn terminal_out() -> RawFd {
    match terminals() {
        [_, true, _] => 1,
        [_, false, true] => 2,
        _ => 0,
    }
}

/// The learner's terminal and the container's own pty: the terminal in raw mode, the
/// learner's keys to the master (Ctrl-C becomes a byte the container's line discipline
/// turns into SIGINT for its own foreground group), the container's output to the
/// terminal, the window size passed on; until the pty closes or `stop()` says so. Then
/// what the container left unread in the pty is discarded.
pub fn relay_pty(master: &OwnedFd, stop: impl FnMut() -> bool) {
    let raw = RawMode::enter();
    let stdin = std::io::stdin();
    let links = [
        Link {
            from: master.as_fd(),
            to: terminal_out(),
            ends: true,
        },
        Link {
            from: stdin.as_fd(),
            to: master.as_raw_fd(),
            ends: false,
        },
    ];
    relay(&links, Some(master.as_raw_fd()), stop);
    discard_pending(master);
    drop(raw);
}

/// hako's terminals seen through pipes: each pipe's bytes copied unchanged to hako's
/// descriptor it stands for, until every pipe is closed or `stop()` says so.
pub fn relay_pipes(pipes: &[(RawFd, OwnedFd)], stop: impl FnMut() -> bool) {
    let links: Vec<Link> = pipes
        .iter()
        .map(|(to, from)| Link {
            from: from.as_fd(),
            to: *to,
            ends: true,
        })
        .collect();
    relay(&links, None, stop);
}

/// Relays until every container-side link is closed (EOF, or EIO from a pty master
/// whose slaves are all closed) or `stop()` says so (checked at least every 200 ms);
/// then copies what the container side still has buffered. `winsize`: a pty master
/// that follows the learner's window size (SIGWINCH, flag from `sys::signals`).
pub fn relay(links: &[Link<'_>], winsize: Option<RawFd>, mut stop: impl FnMut() -> bool) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut open: Vec<bool> = links.iter().map(|_| true).collect();
    let mut buf = [0u8; 8192];
    if let Some(m) = winsize {
        copy_winsize(0, m);
    }
    let done = |open: &[bool]| !links.iter().zip(open).any(|(l, o)| l.ends && *o);
    let mut stopping = false;
    let mut drained = 0;
    while !done(&open) {
        if let Some(m) = winsize {
            if super::signals::take_winch() {
                copy_winsize(0, m);
            }
        }
        if !stopping && stop() {
            stopping = true;
        }
        if stopping {
            // What is buffered, not a container that keeps writing.
            drained += 1;
            if drained > 64 {
                return;
            }
        }
        let idx: Vec<usize> = (0..links.len())
            .filter(|i| open[*i] && (!stopping || links[*i].ends))
            .collect();
        let mut fds: Vec<PollFd> = idx
            .iter()
            .map(|i| PollFd::new(links[*i].from, PollFlags::POLLIN))
            .collect();
        let wait = if stopping { 0u16 } else { 200u16 };
        match poll(&mut fds, PollTimeout::from(wait)) {
            Err(Errno::EINTR) => continue,
            Ok(0) if stopping => return,
            Ok(0) => continue,
            Err(_) => return,
            Ok(_) => {}
        }
        let ready: Vec<usize> = idx
            .iter()
            .zip(&fds)
            .filter(|(_, f)| {
                f.revents()
                    .unwrap_or(PollFlags::empty())
                    .intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
            })
            .map(|(i, _)| *i)
            .collect();
        for i in ready {
            let l = &links[i];
            match nix::unistd::read(l.from, &mut buf) {
                Ok(0) | Err(Errno::EIO) => open[i] = false,
                Ok(n) => {
                    if write_all(l.to, &buf[..n]).is_err() && !l.ends {
                        open[i] = false;
                    }
                }
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                Err(_) => open[i] = false,
            }
        }
    }
}

/// tcflush(3) TCIFLUSH: what was typed into terminal `fd` and not read yet is
/// discarded. Done on the learner's terminal when the container's part ends, so that
/// nothing the container made the terminal answer (or typed) reaches the learner's shell.
pub fn flush_input(fd: RawFd) {
    // SAFETY: isatty and tcflush only look at the descriptor number.
    unsafe {
        if libc::isatty(fd) == 1 {
            libc::tcflush(fd, libc::TCIFLUSH);
        }
    }
}

/// tcflush(3) TCIOFLUSH on a pty master once the container's side has ended: what was
/// typed into that terminal (TIOCSTI included) and not read, and what it wrote and
/// nobody relayed, goes with it.
pub fn discard_pending(master: &OwnedFd) {
    // SAFETY: tcflush only looks at the descriptor number.
    unsafe { libc::tcflush(master.as_raw_fd(), libc::TCIOFLUSH) };
}

/// Whether `pid` (a child of ours) has ended, without reaping it (waitid(2), WNOWAIT).
pub fn ended(pid: i32) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    matches!(
        waitid(
            Id::Pid(nix::unistd::Pid::from_raw(pid)),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
        ),
        Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) | Err(Errno::ECHILD)
    )
}

fn write_all(fd: RawFd, mut b: &[u8]) -> Result<(), Errno> {
    // SAFETY: fd is open for the whole call (stdout, or the master we hold).
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
