//! A shell for looking around, on the learner's own terminal: on the host, or inside
//! the namespaces of a running process, as nsenter(1) does it.
//!
//! setns(2) moves the *calling* thread into the namespace behind a `/proc/PID/ns/*`
//! descriptor. So the guide (which must stay in the host's namespaces) forks a child
//! that joins them; and because joining a PID namespace changes only where the
//! caller's *children* go (pid_namespaces(7)), that child forks once more, and the
//! grandchild execs the shell, inside. The child waits for it and passes its status on.
//!
//! The shell gets the terminal as a job-control shell gives it to a job: a process
//! group of its own made the terminal's foreground group (setpgid(2), tcsetpgrp(3)),
//! so Ctrl-C inside goes to the shell, not to hako. When it exits, hako takes the
//! terminal back and restores its settings (termios(3)).
#![allow(unsafe_code)]

use nix::errno::Errno;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use std::ffi::CString;
use std::io::IsTerminal;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// The namespaces entered, in nsenter's order (the mount namespace last: entering it
/// changes the root and the working directory).
pub const NAMESPACES: [&str; 5] = ["ipc", "uts", "net", "pid", "mnt"];

/// Where and how the shell runs.
pub struct Shell<'a> {
    /// Join this process's namespaces; `None`: stay on the host.
    pub target: Option<i32>,
    /// After entering, chroot(2) here (the stage after the chroot lesson).
    pub chroot: Option<&'a Path>,
    /// The working directory (inside the chroot, when there is one).
    pub cwd: &'a Path,
    pub argv: &'a [&'a str],
    pub env: &'a [(String, String)],
}

/// What went wrong before the shell ran: the errno, and which step.
#[derive(Debug, Clone, Copy)]
pub struct Failed {
    pub errno: Errno,
    pub step: &'static str,
}

/// Steps the child reports by number through the pipe (no allocation after fork).
const STEPS: [&str; 7] = [
    "open /proc/PID/ns",
    "setns",
    "fork",
    "chroot",
    "chdir",
    "execve",
    "setpgid",
];

fn cstr(s: &str) -> Result<CString, Failed> {
    CString::new(s).map_err(|_| Failed {
        errno: Errno::EINVAL,
        step: "execve",
    })
}

/// Runs the shell and waits for it; returns its exit status (128+N after signal N).
pub fn run(sh: &Shell<'_>) -> Result<i32, Failed> {
    // Everything the children need is made here: after fork they may only make
    // async-signal-safe calls (the guide may have threads, e.g. a progress bar's).
    let path = cstr(sh.argv[0])?;
    let argv: Vec<CString> = sh.argv.iter().map(|a| cstr(a)).collect::<Result<_, _>>()?;
    let envp: Vec<CString> = sh
        .env
        .iter()
        .map(|(k, v)| cstr(&format!("{k}={v}")))
        .collect::<Result<_, _>>()?;
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    let cwd = cstr(&sh.cwd.display().to_string())?;
    let root = match sh.chroot {
        Some(r) => Some(cstr(&r.display().to_string())?),
        None => None,
    };
    let mut ns: Vec<OwnedFd> = vec![];
    if let Some(pid) = sh.target {
        for n in NAMESPACES {
            let p = format!("/proc/{pid}/ns/{n}");
            let fd = nix::fcntl::open(
                p.as_str(),
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|errno| Failed {
                errno,
                step: STEPS[0],
            })?;
            ns.push(fd);
        }
    }
    let ns_raw: Vec<RawFd> = ns.iter().map(|f| f.as_raw_fd()).collect();
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|errno| Failed {
        errno,
        step: STEPS[2],
    })?;
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let saved = if tty {
        nix::sys::termios::tcgetattr(&stdin).ok()
    } else {
        None
    };
    let guide = nix::unistd::getpid();
    let wr_raw = wr.as_raw_fd();

    // SAFETY: the child runs only async-signal-safe calls (setpgid, sigprocmask,
    // tcsetpgrp, prctl, signal, setns, fork, chroot, chdir, execve, write, waitpid,
    // _exit) on memory prepared before the fork, and never returns.
    let child = match unsafe { nix::unistd::fork() } {
        Err(errno) => {
            return Err(Failed {
                errno,
                step: STEPS[2],
            })
        }
        Ok(ForkResult::Child) => unsafe {
            child_main(
                tty,
                guide.as_raw(),
                &ns_raw,
                root.as_ref().map(|r| r.as_ptr()),
                cwd.as_ptr(),
                path.as_ptr(),
                argv_p.as_ptr(),
                envp_p.as_ptr(),
                wr_raw,
            )
        },
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(wr);
    drop(ns);
    // Both sides set the group, whichever runs first (as shells do).
    let _ = nix::unistd::setpgid(child, child);
    if tty {
        with_sigttou_blocked(|| {
            let _ = nix::unistd::tcsetpgrp(&stdin, child);
        });
    }
    // The pipe closes when the shell has exec'd (close-on-exec) and the child dropped
    // its end; a report in it means a step failed.
    let mut buf = [0u8; 5];
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(&rd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    let status = wait(child);
    super::trace_as(
        || {
            let enter = match sh.target {
                Some(pid) => format!(
                    "open(\"/proc/{pid}/ns/{{{}}}\") + fork() + setns(fd, 0) ×{} + fork() + ",
                    NAMESPACES.join(","),
                    NAMESPACES.len()
                ),
                None => "fork() + ".to_string(),
            };
            let root = sh
                .chroot
                .map(|r| format!("chroot({:?}) + ", r.display().to_string()))
                .unwrap_or_default();
            format!(
                "{enter}{root}chdir({:?}) + execve({:?}) + wait4()",
                sh.cwd.display().to_string(),
                sh.argv[0]
            )
        },
        "2 setns",
        &Ok::<i32, Errno>(status),
        |s| format!("exit {s}"),
    );
    super::process::take_terminal_back();
    if let Some(t) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSADRAIN, &t);
    }
    if got == buf.len() {
        let errno = Errno::from_raw(i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]));
        let step = STEPS.get(buf[4] as usize).copied().unwrap_or("execve");
        return Err(Failed { errno, step });
    }
    Ok(status)
}

/// Waits for the child; a SIGTERM or SIGHUP to hako meanwhile hangs up the shell's
/// process group (the walk then ends as it would at a prompt).
fn wait(child: Pid) -> i32 {
    let mut hung_up = false;
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, c)) => return c,
            Ok(WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) => continue,
            Err(Errno::EINTR) => {
                if !hung_up
                    && matches!(
                        super::signals::peek(),
                        Some(Signal::SIGTERM | Signal::SIGHUP)
                    )
                {
                    let _ = kill(Pid::from_raw(-child.as_raw()), Signal::SIGHUP);
                    let _ = kill(Pid::from_raw(-child.as_raw()), Signal::SIGCONT);
                    hung_up = true;
                }
            }
            Err(_) => return 125,
        }
    }
}

fn with_sigttou_blocked(f: impl FnOnce()) {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old));
    f();
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
}

/// Reports `step` failing with errno to the guide, then exits.
unsafe fn fail(wr: RawFd, step: usize) -> ! {
    let e = Errno::last_raw().to_ne_bytes();
    let msg = [e[0], e[1], e[2], e[3], step as u8];
    libc::write(wr, msg.as_ptr().cast(), msg.len());
    libc::_exit(127)
}

/// The child: its own process group in the foreground, the namespaces, then a
/// grandchild that execs the shell. Never returns.
#[allow(clippy::too_many_arguments)]
unsafe fn child_main(
    tty: bool,
    guide: i32,
    ns: &[RawFd],
    root: Option<*const libc::c_char>,
    cwd: *const libc::c_char,
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    wr: RawFd,
) -> ! {
    if libc::setpgid(0, 0) != 0 {
        fail(wr, 6);
    }
    if tty {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTTOU);
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        libc::tcsetpgrp(0, libc::getpid());
        libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    // If hako dies, the shell goes too (it would hold the terminal otherwise).
    libc::prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as libc::c_ulong,
        0,
        0,
        0,
    );
    if libc::getppid() != guide {
        libc::_exit(125);
    }
    // The keys typed in the shell's group reach this waiting child too.
    libc::signal(libc::SIGINT, libc::SIG_IGN);
    libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    libc::signal(libc::SIGTSTP, libc::SIG_IGN);
    for fd in ns {
        if libc::setns(*fd, 0) != 0 {
            fail(wr, 1);
        }
    }
    let me = libc::getpid();
    let pid = libc::fork();
    if pid < 0 {
        fail(wr, 2);
    }
    if pid == 0 {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        // Its parent is outside its PID namespace when one was entered: getppid()
        // then says 0. Any other value than 0 or the child means the child is gone.
        let parent = libc::getppid();
        if parent != me && parent != 0 {
            libc::_exit(125);
        }
        if let Some(r) = root {
            if libc::chroot(r) != 0 {
                fail(wr, 3);
            }
        }
        if libc::chdir(cwd) != 0 {
            fail(wr, 4);
        }
        for s in [
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTSTP,
            libc::SIGTERM,
            libc::SIGHUP,
        ] {
            libc::signal(s, libc::SIG_DFL);
        }
        // Rust ignores SIGPIPE; a shell's pipelines need it back.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(path, argv, envp);
        fail(wr, 5);
    }
    libc::close(wr);
    let mut status = 0;
    loop {
        let r = libc::waitpid(pid, &mut status, 0);
        if r == pid {
            break;
        }
        if r < 0 && Errno::last_raw() != libc::EINTR {
            libc::_exit(125);
        }
    }
    if libc::WIFEXITED(status) {
        libc::_exit(libc::WEXITSTATUS(status))
    }
    libc::_exit(128 + libc::WTERMSIG(status))
}
