//! A terminal of the command's own, as `docker run -it` gives: a pty from the
//! container's devpts (opened inside, after the chroot), its master passed to the guide
//! over the socket (SCM_RIGHTS, unix(7)), its slave made the command's controlling
//! terminal (setsid(2) + TIOCSCTTY, ioctl_tty(2)). The guide relays bytes in raw mode
//! and forwards window-size changes.
#![allow(unsafe_code)]

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
    super::trace(
        || format!("open(\"/dev/ptmx\") → /dev/pts/{n}"),
        "4 pts",
        &Ok::<(), Errno>(()),
    );
    Ok((master, slave, n))
}

/// Sends `line` with `fd` attached.
pub fn send_fd(sock: RawFd, line: &str, fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        sock,
        &[IoSlice::new(line.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(|_| ())
}

/// Receives one message and the fd attached to it.
pub fn recv_fd(sock: RawFd) -> Result<(String, Option<OwnedFd>), Errno> {
    let mut buf = vec![0u8; 4096];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let (n, fd) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)?;
        let mut fd = None;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: the kernel just installed this descriptor in our table for us.
                fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
            }
        }
        (msg.bytes, fd)
    };
    Ok((String::from_utf8_lossy(&buf[..n]).into_owned(), fd))
}

/// In the command, just before exec: a new session whose controlling terminal is
/// `slave`, which also becomes stdin, stdout and stderr.
pub fn make_controlling(slave: &OwnedFd) -> Result<(), Errno> {
    nix::unistd::setsid()?;
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal).
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(Errno::last());
    }
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, which this process owns.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(Errno::last());
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

/// Relays between the learner's terminal and the pty master until the command closes
/// its terminal, or `stop()` says so (checked whenever a signal interrupts the wait).
/// SIGWINCH (flag from `sys::signals`) resizes the pty.
pub fn relay(master: &OwnedFd, mut stop: impl FnMut() -> bool) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let stdin = std::io::stdin();
    let mut buf = [0u8; 8192];
    let mut stdin_open = true;
    copy_winsize(0, master.as_raw_fd());
    loop {
        if super::signals::take_winch() {
            copy_winsize(0, master.as_raw_fd());
        }
        if stop() {
            return;
        }
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(200u16)) {
            Err(Errno::EINTR) | Ok(0) => continue,
            Err(_) => return,
            Ok(_) => {}
        }
        let m_ev = fds[0].revents().unwrap_or(PollFlags::empty());
        let s_ev = fds
            .get(1)
            .and_then(|f| f.revents())
            .unwrap_or(PollFlags::empty());
        if m_ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            match nix::unistd::read(master.as_fd(), &mut buf) {
                Ok(0) | Err(Errno::EIO) => return, // every slave closed: the command ended
                Ok(n) => {
                    let _ = write_all(1, &buf[..n]);
                }
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                Err(_) => return,
            }
        }
        if s_ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) => stdin_open = false,
                Ok(n) => {
                    let _ = write_all(master.as_raw_fd(), &buf[..n]);
                }
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                Err(_) => stdin_open = false,
            }
        }
    }
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
