//! A shell for looking around: on the host (`run`), or inside the container confined
//! as its PID 1 is (`run_inside`), entered as nsenter(1) does it.
//!
//! setns(2) moves the *calling* thread into the namespace behind a `/proc/PID/ns/*`
//! descriptor. So the guide (which must stay in the host's namespaces) forks a child
//! that joins them; and because joining a PID namespace changes only where the
//! caller's *children* go (pid_namespaces(7)), that child forks once more, and the
//! grandchild execs the shell, inside. The child waits for it and passes its status on.
//!
//! On the host, the shell is the host's own (trusted) and gets the learner's terminal
//! as a job-control shell gives it to a job: a process group of its own made the
//! terminal's foreground group (setpgid(2), tcsetpgrp(3)), so Ctrl-C inside goes to the
//! shell, not to hako. When it exits, hako takes the terminal back and restores its
//! settings (termios(3)). Inside, the shell runs the container's programs: it never
//! gets a descriptor of the learner's terminal, only a pty of its own that hako relays
//! (see `run_inside`).
#![allow(unsafe_code)]

use nix::errno::Errno;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use std::ffi::CString;
use std::io::IsTerminal;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// How the host's shell runs.
pub struct Shell<'a> {
    /// The working directory.
    pub cwd: &'a Path,
    pub argv: &'a [&'a str],
    pub env: &'a [(String, String)],
}

/// What went wrong before the shell ran: the step (as the call) and the errno.
pub type Failed = super::error::SysError;

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
    CString::new(s).map_err(|_| Failed::new("execve", Errno::EINVAL))
}

/// Runs the host's shell on the learner's terminal and waits for it; returns its exit
/// The shell's program, arguments, environment and directory as C strings, with the
/// NULL-terminated pointer arrays execve(2) takes: made before fork, since a forked child
/// of a process with threads may not allocate. The pointers point into `argv`/`envp`,
/// which live as long as this value.
struct Prepared {
    path: CString,
    cwd: CString,
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    argv_p: Vec<*const libc::c_char>,
    envp_p: Vec<*const libc::c_char>,
}

impl Prepared {
    fn of(argv: &[&str], env: &[(String, String)], cwd: &Path) -> Result<Prepared, Failed> {
        let path = cstr(argv[0])?;
        let argv: Vec<CString> = argv.iter().map(|a| cstr(a)).collect::<Result<_, _>>()?;
        let envp: Vec<CString> = env
            .iter()
            .map(|(k, v)| cstr(&format!("{k}={v}")))
            .collect::<Result<_, _>>()?;
        let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
        argv_p.push(std::ptr::null());
        let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
        envp_p.push(std::ptr::null());
        Ok(Prepared {
            path,
            cwd: cstr(&cwd.display().to_string())?,
            _argv: argv,
            _envp: envp,
            argv_p,
            envp_p,
        })
    }
}

/// status (128+N after signal N).
pub fn run(sh: &Shell<'_>) -> Result<i32, Failed> {
    // Everything the children need is made here: after fork they may only make
    // async-signal-safe calls (the guide may have threads, e.g. a progress bar's).
    let c = Prepared::of(sh.argv, sh.env, sh.cwd)?;
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(Failed::at(STEPS[2]))?;
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
    // tcsetpgrp, prctl, signal, fork, chdir, execve, write, waitpid,
    // _exit) on memory prepared before the fork, and never returns.
    let child = match unsafe { nix::unistd::fork() } {
        Err(errno) => return Err(Failed::new(STEPS[2], errno)),
        Ok(ForkResult::Child) => unsafe {
            child_main(
                tty,
                guide.as_raw(),
                c.cwd.as_ptr(),
                c.path.as_ptr(),
                c.argv_p.as_ptr(),
                c.envp_p.as_ptr(),
                wr_raw,
            )
        },
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(wr);
    // Both sides set the group, whichever runs first (as shells do).
    let _ = nix::unistd::setpgid(child, child);
    if tty {
        with_sigttou_blocked(|| {
            let _ = nix::unistd::tcsetpgrp(&stdin, child);
        });
    }
    // The pipe closes when the shell has exec'd (close-on-exec) and the child dropped
    // its end; a report in it means a step failed.
    let report = super::common::child_report(&rd, &STEPS);
    let status = wait(child);
    super::tracer::trace_as(
        || {
            let (enter, root) = ("fork() + ", "");
            format!(
                "{enter}{root}chdir({:?}) + execve({:?}) + wait4()",
                sh.cwd.display().to_string(),
                sh.argv[0]
            )
        },
        "2 execve",
        &Ok::<i32, Errno>(status),
        |s| format!("exit {s}"),
    );
    super::process::take_terminal_back();
    if let Some(t) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSADRAIN, &t);
    }
    if let Some((step, errno)) = report {
        return Err(Failed::new(step, errno));
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

/// The child: its own process group in the foreground, then a grandchild that execs
/// the shell. Never returns.
#[allow(clippy::too_many_arguments)]
unsafe fn child_main(
    tty: bool,
    guide: i32,
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
        // Any other parent than the child means the child is gone.
        if libc::getppid() != me {
            libc::_exit(125);
        }
        if libc::chdir(cwd) != 0 {
            fail(wr, 4);
        }
        super::signals::defaults_for_exec(&[]);
        libc::execve(path, argv, envp);
        fail(wr, 5);
    }
    libc::close(wr);
    exit_as(pid)
}

// ------------------------------------------------------------------ inside, confined

/// Every namespace the look-around shell can join, in the order it joins them: the user
/// namespace first (with `--harden` it owns all the others, so root in it may join
/// them), the mount namespace last.
pub const JOINED: [&str; 7] = ["user", "ipc", "uts", "net", "pid", "cgroup", "mnt"];

/// The namespaces of `pid` that are not the guide's own (those the shell joins).
pub fn joined(pid: i32) -> Vec<&'static str> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: String| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    JOINED
        .into_iter()
        .filter(|n| {
            let theirs = id(format!("/proc/{pid}/ns/{n}"));
            theirs.is_some() && theirs != id(format!("/proc/self/ns/{n}"))
        })
        .collect()
}

/// A look-around shell confined as the container's PID 1 is now (which is the command
/// after its exec, or what the command will be).
pub struct Inside<'a> {
    /// PID 1 of the container, as the host sees it.
    pub pid: i32,
    /// The container's `cgroup.procs` files: the shell joins its cgroups first.
    pub procs: &'a [std::path::PathBuf],
    /// The working directory, under PID 1's root.
    pub cwd: &'a Path,
    pub argv: &'a [&'a str],
    pub env: &'a [(String, String)],
}

/// The confinement copied from PID 1's /proc/PID/status (proc(5)).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Confinement {
    pub inh: u64,
    pub prm: u64,
    pub eff: u64,
    pub bnd: u64,
    pub no_new_privs: bool,
    pub seccomp: bool,
}

/// Reads PID's capability sets, no_new_privs and seccomp mode.
pub fn confinement_of(pid: i32) -> Option<Confinement> {
    let status = super::procfs::Status::of(super::procfs::Who::Pid(pid))?;
    let field = |name: &str| status.field(name);
    let hex = |name: &str| status.hex(name);
    Some(Confinement {
        inh: hex("CapInh")?,
        prm: hex("CapPrm")?,
        eff: hex("CapEff")?,
        bnd: hex("CapBnd")?,
        no_new_privs: field("NoNewPrivs")? == "1",
        seccomp: field("Seccomp")? != "0",
    })
}

const IN_STEPS: [&str; 14] = [
    "open /proc/PID/ns",
    "setns",
    "fork",
    "chroot",
    "chdir",
    "execve",
    "setresuid",
    "cgroup.procs",
    "open /dev/ptmx",
    "SCM_RIGHTS",
    "TIOCSCTTY",
    "capset",
    "prctl(PR_SET_NO_NEW_PRIVS)",
    "seccomp",
];

fn in_failed(errno: Errno, step: usize) -> Failed {
    Failed::new(IN_STEPS[step], errno)
}

/// Runs the shell confined as PID 1 is, on a pty of its own that hako relays, and
/// waits for it; returns its exit status (128+N after signal N).
///
/// As nsenter(1) with `--all --root` does, and more: a child is joined to the
/// container's cgroups (the guide writes its PID into `cgroup.procs`), enters the user
/// namespace first when there is one and becomes root in it (setresgid, setgroups,
/// setresuid), then the other namespaces, then forks (a PID namespace takes only the
/// children of who joins it). The grandchild takes PID 1's root (fchdir to
/// `/proc/PID/root` opened before, chroot(".")), opens a pty on the devpts found there,
/// sends the master to the guide (SCM_RIGHTS), makes the slave its controlling terminal
/// in a session of its own, copies PID 1's capability sets (bounding, ambient cleared,
/// then effective, permitted and inheritable), no_new_privs and hako's seccomp filter
/// when PID 1 has them, and execs the shell. So the image's programs never run with
/// more than the container has, and no descriptor of the learner's terminal reaches
/// them.
pub fn run_inside(sh: &Inside<'_>) -> Result<i32, Failed> {
    use std::os::fd::AsFd;
    let conf = confinement_of(sh.pid).ok_or(in_failed(Errno::ESRCH, 0))?;
    let filter = if conf.seccomp {
        Some(super::harden::filter().map_err(|_| in_failed(Errno::EINVAL, 13))?)
    } else {
        None
    };
    let c = Prepared::of(sh.argv, sh.env, sh.cwd)?;
    let open = |p: &str, dir: bool| {
        let mut fl = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC;
        if dir {
            fl |= nix::fcntl::OFlag::O_DIRECTORY;
        }
        nix::fcntl::open(p, fl, nix::sys::stat::Mode::empty()).map_err(|e| in_failed(e, 0))
    };
    let names = joined(sh.pid);
    let mut ns: Vec<OwnedFd> = vec![];
    for n in &names {
        ns.push(open(&format!("/proc/{}/ns/{n}", sh.pid), false)?);
    }
    let user = names.first() == Some(&"user");
    let root = open(&format!("/proc/{}/root", sh.pid), true)?;
    let ns_raw: Vec<RawFd> = ns.iter().map(|f| f.as_raw_fd()).collect();
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| in_failed(e, 2))?;
    let (go_rd, go_wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| in_failed(e, 2))?;
    let (ours, theirs) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| in_failed(e, 9))?;
    let guide = nix::unistd::getpid().as_raw();
    let plan = Plan {
        guide,
        go: go_rd.as_raw_fd(),
        go_wr: go_wr.as_raw_fd(),
        ours: ours.as_raw_fd(),
        sock: theirs.as_raw_fd(),
        rd: rd.as_raw_fd(),
        wr: wr.as_raw_fd(),
        user,
        ns: &ns_raw,
        root: root.as_raw_fd(),
        cwd: c.cwd.as_ptr(),
        path: c.path.as_ptr(),
        argv: c.argv_p.as_ptr(),
        envp: c.envp_p.as_ptr(),
        conf,
        filter: filter.as_deref(),
    };
    // SAFETY: the child runs only async-signal-safe calls on memory prepared before the
    // fork, and never returns.
    let child = match unsafe { nix::unistd::fork() } {
        Err(e) => return Err(in_failed(e, 2)),
        Ok(ForkResult::Child) => unsafe { inside_child(&plan) },
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(theirs);
    drop(wr);
    drop(go_rd);
    drop(ns);
    drop(root);
    let kill_child = |f: Failed| {
        let _ = kill(child, Signal::SIGKILL);
        let _ = waitpid(child, None);
        Err(f)
    };
    for p in sh.procs {
        if let Err(e) = super::common::write_raw(p, &child.as_raw().to_string()) {
            return kill_child(in_failed(e, 7));
        }
    }
    if nix::unistd::write(&go_wr, b"g").is_err() {
        return kill_child(in_failed(Errno::EPIPE, 2));
    }
    drop(go_wr);
    let master = match super::tty::recv_fds(ours.as_raw_fd()) {
        Ok((_, mut fds)) => fds.pop(),
        Err(_) => None,
    };
    drop(ours);
    let mut signalled = false;
    if let Some(master) = master {
        let raw = super::tty::RawMode::enter();
        let stdin = std::io::stdin();
        let links = [
            super::tty::Link {
                from: master.as_fd(),
                to: super::tty::terminal_out(),
                ends: true,
            },
            super::tty::Link {
                from: stdin.as_fd(),
                to: master.as_raw_fd(),
                ends: false,
            },
        ];
        super::tty::relay(&links, Some(master.as_raw_fd()), || {
            signalled = matches!(
                super::signals::peek(),
                Some(Signal::SIGTERM | Signal::SIGHUP)
            );
            signalled || super::tty::ended(child.as_raw())
        });
        // What the shell left typed into its own terminal goes with it.
        super::tty::discard_pending(&master);
        // Closing the master hangs the shell's terminal up (SIGHUP to its session).
        drop(master);
        drop(raw);
    }
    let report = super::common::child_report(&rd, &IN_STEPS);
    let status = wait_or_kill(child, signalled);
    super::tracer::trace_as(
        || {
            format!(
                "write(cgroup.procs) + setns(/proc/{pid}/ns/{{{}}}) + fork() + fchdir(/proc/{pid}/root) + chroot(\".\") + open(\"/dev/ptmx\") + setsid() + capset() + execve({:?}) + wait4()",
                names.join(","),
                sh.argv[0],
                pid = sh.pid,
            )
        },
        "1 nsenter",
        &Ok::<i32, Errno>(status),
        |s| format!("exit {s}"),
    );
    if let Some((step, errno)) = report {
        return Err(Failed::new(step, errno));
    }
    Ok(status)
}

/// Waits for the child; after SIGTERM or SIGHUP to hako (the shell's terminal is hung
/// up by then), SIGKILL after a second if it is still there.
fn wait_or_kill(child: Pid, signalled: bool) -> i32 {
    use nix::sys::wait::WaitPidFlag;
    let t0 = std::time::Instant::now();
    loop {
        let flags = signalled.then_some(WaitPidFlag::WNOHANG);
        match waitpid(child, flags) {
            Ok(WaitStatus::Exited(_, c)) => return c,
            Ok(WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return 125,
        }
        if signalled {
            if t0.elapsed() > std::time::Duration::from_secs(1) {
                let _ = kill(child, Signal::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Everything the child and grandchild need, made before the fork.
struct Plan<'a> {
    guide: i32,
    go: RawFd,
    go_wr: RawFd,
    ours: RawFd,
    sock: RawFd,
    rd: RawFd,
    wr: RawFd,
    user: bool,
    ns: &'a [RawFd],
    root: RawFd,
    cwd: *const libc::c_char,
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    conf: Confinement,
    filter: Option<&'a [libc::sock_filter]>,
}

unsafe fn die_with(parent: i32) {
    libc::prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as libc::c_ulong,
        0,
        0,
        0,
    );
    if libc::getppid() != parent {
        libc::_exit(125);
    }
}

/// The child: waits until the guide put it in the cgroups, joins the namespaces, forks
/// the grandchild and passes its status on. Never returns.
unsafe fn inside_child(p: &Plan<'_>) -> ! {
    // Nothing it prints may reach the learner's terminal: no trace lines here.
    super::tracer::set_trace(false);
    libc::close(p.ours);
    libc::close(p.rd);
    libc::close(p.go_wr);
    die_with(p.guide);
    libc::signal(libc::SIGINT, libc::SIG_IGN);
    libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    libc::signal(libc::SIGTSTP, libc::SIG_IGN);
    let mut b = [0u8; 1];
    if libc::read(p.go, b.as_mut_ptr().cast(), 1) != 1 {
        libc::_exit(125);
    }
    libc::close(p.go);
    for (i, fd) in p.ns.iter().enumerate() {
        if libc::setns(*fd, 0) != 0 {
            fail(p.wr, 1);
        }
        if i == 0 && p.user {
            // Root inside the user namespace, as PID 1 became (the uid change also
            // clears the parent-death signal: set it again).
            if libc::setresgid(0, 0, 0) != 0
                || libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresuid(0, 0, 0) != 0
            {
                fail(p.wr, 6);
            }
            die_with(p.guide);
        }
    }
    let me = libc::getpid();
    let pid = libc::fork();
    if pid < 0 {
        fail(p.wr, 2);
    }
    if pid == 0 {
        inside_grandchild(p, me);
    }
    libc::close(p.sock);
    libc::close(p.wr);
    exit_as(pid)
}

/// The grandchild, in the PID namespace: PID 1's root, a pty of its own, PID 1's
/// capabilities and filter, then the shell. Never returns.
unsafe fn inside_grandchild(p: &Plan<'_>, parent: i32) -> ! {
    libc::prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as libc::c_ulong,
        0,
        0,
        0,
    );
    // Its parent is outside the PID namespace: getppid() says 0 there.
    let pp = libc::getppid();
    if pp != parent && pp != 0 {
        libc::_exit(125);
    }
    if libc::fchdir(p.root) != 0 || libc::chroot(c".".as_ptr()) != 0 {
        fail(p.wr, 3);
    }
    libc::close(p.root);
    if libc::chdir(p.cwd) != 0 {
        fail(p.wr, 4);
    }
    // A pty on the devpts this root holds (the container's own, after the devpts
    // lesson): open(/dev/ptmx), unlock, TIOCGPTPEER for the slave (no path lookup).
    let master = libc::open(
        c"/dev/ptmx".as_ptr(),
        libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
    );
    if master < 0 {
        fail(p.wr, 8);
    }
    let mut unlock: libc::c_int = 0;
    if libc::ioctl(master, libc::TIOCSPTLCK, &mut unlock) != 0 {
        fail(p.wr, 8);
    }
    let slave = libc::ioctl(master, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY);
    if slave < 0 {
        fail(p.wr, 8);
    }
    if send_one(p.sock, master) != 0 {
        fail(p.wr, 9);
    }
    libc::close(master);
    libc::close(p.sock);
    if libc::setsid() < 0 || libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0 {
        fail(p.wr, 10);
    }
    for target in 0..3 {
        if libc::dup2(slave, target) < 0 {
            fail(p.wr, 10);
        }
    }
    if slave > 2 {
        libc::close(slave);
    }
    // Every other descriptor closes at the exec (the report pipe is among them).
    libc::close_range(
        3,
        libc::c_uint::MAX,
        libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
    );
    if set_caps(&p.conf) != 0 {
        fail(p.wr, 11);
    }
    if p.conf.no_new_privs && super::harden::no_new_privs().is_err() {
        fail(p.wr, 12);
    }
    if let Some(prog) = p.filter {
        if super::harden::install_filter(prog).is_err() {
            fail(p.wr, 13);
        }
    }
    super::signals::defaults_for_exec(&[]);
    libc::execve(p.path, p.argv, p.envp);
    fail(p.wr, 5)
}

/// sendmsg(2) of one byte with `fd` attached (SCM_RIGHTS), without allocating.
unsafe fn send_one(sock: RawFd, fd: RawFd) -> libc::c_int {
    let mut cbuf = [0u64; 4];
    let byte = [b'm'];
    let mut iov = libc::iovec {
        iov_base: byte.as_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
    let c = libc::CMSG_FIRSTHDR(&msg);
    (*c).cmsg_level = libc::SOL_SOCKET;
    (*c).cmsg_type = libc::SCM_RIGHTS;
    (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
    std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
    if libc::sendmsg(sock, &msg, 0) == 1 {
        0
    } else {
        -1
    }
}

/// PID 1's capability sets (capabilities(7)): the bounding set one PR_CAPBSET_DROP at a
/// time, the ambient set cleared, then capset(2) of effective, permitted and
/// inheritable. The exec then computes the shell's sets as it computes the command's.
unsafe fn set_caps(c: &Confinement) -> libc::c_int {
    for bit in 0..64u64 {
        if c.bnd & (1 << bit) == 0
            && libc::prctl(libc::PR_CAPBSET_READ, bit as libc::c_ulong, 0, 0, 0) == 1
            && libc::prctl(libc::PR_CAPBSET_DROP, bit as libc::c_ulong, 0, 0, 0) != 0
        {
            return -1;
        }
    }
    if libc::prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
        0,
        0,
    ) != 0
    {
        return -1;
    }
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let half = |v: u64, hi: bool| if hi { (v >> 32) as u32 } else { v as u32 };
    let data = [false, true].map(|hi| Data {
        effective: half(c.eff, hi),
        permitted: half(c.prm, hi),
        inheritable: half(c.inh, hi),
    });
    libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) as libc::c_int
}

/// Waits for the child `pid` (waitpid(2), again after EINTR) and leaves with its status, as
/// a shell reports it: its exit code, or 128 + the signal that killed it. Only async-signal-
/// safe calls: it runs in a forked child.
unsafe fn exit_as(pid: libc::pid_t) -> ! {
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
