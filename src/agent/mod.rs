//! The agent: hako re-executed (`/proc/self/exe __agent`), which becomes the
//! container one step at a time, as the guide asks over a socketpair.
//!
//! ```text
//! guide (host namespaces)  ── typed messages ──  agent: joins the cgroup, unshares
//!                                                  └─ fork → PID 1 of the new PID namespace:
//!                                                     mounts, hostname, chroot, exec
//! ```
//! One JSON message per line. Each request gets exactly one reply, except `Exec`,
//! which gets none when it succeeds: the exec closes the socket (close-on-exec).

use crate::error::{Error, Kind, Result};
use crate::sys::Errno;
use crate::sys::{self, ns};
use crate::ui::i18n::{t, tf};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Child;

/// The agent's environment names live with the code that starts it (`sys::process`).
pub use crate::sys::process::{FD_ENV, GUIDE_ENV, TRACE_ENV};

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Write our own PID into these `cgroup.procs` files (what cgexec does).
    Join {
        procs: Vec<PathBuf>,
    },
    /// unshare(2) the five namespaces, then make / recursively private.
    Unshare,
    /// fork(2): the child is PID 1 of the new PID namespace and serves from now on.
    Fork,
    Getpid,
    MountProc {
        root: PathBuf,
    },
    Devpts {
        root: PathBuf,
    },
    DevNull {
        root: PathBuf,
    },
    Hostname {
        name: String,
    },
    /// chroot + chdir + drop CAP_SYS_CHROOT.
    Chroot {
        root: PathBuf,
    },
    /// The command's standard descriptors, for those of hako's that are terminals
    /// (`ttys`): a pty opened inside (after the chroot) when stdin is one, else a pipe
    /// each. The guide's ends (the master, or the pipes' read ends) come back attached
    /// to the reply (SCM_RIGHTS).
    OpenStdio {
        ttys: [bool; 3],
    },
    /// Close every fd but 0, 1, 2, then execve. No reply on success.
    Exec {
        path: String,
        argv: Vec<String>,
        env: Vec<(String, String)>,
    },
    /// Demonstration: the article's ptmx recipe and the fixed one, each in a forked
    /// child with a throwaway mount namespace.
    PtmxDemo {
        root: PathBuf,
    },
    /// Demonstration, after `Chroot`: the classic escape, tried by a forked child
    /// that still holds CAP_SYS_CHROOT, then by one without it.
    EscapeDemo,
    /// --trace on or off from now on (off while the lessons before --from run silently).
    Trace {
        on: bool,
    },
    /// `--harden`: one confining step (see `sys::harden`).
    Harden(HardenStep),
    /// `--harden`: look at something from inside, for a check (see `sys::harden`).
    Probe(Probe),
}

/// The confining steps of `--harden`, in the order the walk asks for them.
#[derive(Debug, Serialize, Deserialize)]
pub enum HardenStep {
    /// unshare(CLONE_NEWUSER); the guide then writes the maps.
    UnshareUser,
    /// setresgid/setgroups/setresuid to 0 inside, once the maps are written.
    BecomeRoot {
        guide: i32,
    },
    /// Leave the chroot, then pivot_root into `root` and detach the old root.
    PivotRoot {
        root: PathBuf,
    },
    CgroupNs,
    Masks,
    Caps {
        keep: u64,
    },
    NoNewPrivs,
    Seccomp,
}

/// What a check looks at from inside.
#[derive(Debug, Serialize, Deserialize)]
pub enum Probe {
    /// mount(2) of a tmpfs on /tmp, in a child (undone if it worked).
    Mount,
    /// unshare(CLONE_NEWUSER), in a child.
    UnshareUser,
    /// mknod of a block device and a read of its superblock, in a child.
    Mknod { major: u64, minor: u64 },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// Done; these paths were created (for a `dir:` rootfs, removed afterwards).
    Done {
        created: Vec<PathBuf>,
    },
    Forked {
        pid: i32,
    },
    Pid(i32),
    /// The command's descriptors are ready: a pty `/dev/pts/N` inside (its master
    /// attached), or pipes for these standard descriptors (their read ends attached, in
    /// this order).
    Stdio {
        pty: Option<u32>,
        pipes: Vec<i32>,
    },
    /// The step failed: errno, and the call or path it failed at.
    Failed {
        errno: i32,
        at: String,
    },
    Ptmx {
        article: Box<sys::demo::PtyOutcome>,
        fixed: Box<sys::demo::PtyOutcome>,
    },
    Escape {
        with_cap: Box<sys::demo::EscapeOutcome>,
        without: Box<sys::demo::EscapeOutcome>,
    },
    /// What a probe saw.
    Seen(sys::harden::Seen),
    /// What the masks step did to each path.
    Masked(Vec<(String, sys::harden::Masked)>),
}

// ---------------------------------------------------------------- agent side

fn reply_to(stream: &mut UnixStream, r: &Reply) {
    let mut line = serde_json::to_string(r).unwrap_or_default();
    line.push('\n');
    let _ = stream.write_all(line.as_bytes());
}

fn failed(e: Errno, at: impl Into<String>) -> Reply {
    Reply::Failed {
        errno: e as i32,
        at: at.into(),
    }
}

fn made(
    r: std::result::Result<Vec<PathBuf>, (Errno, PathBuf)>,
) -> std::result::Result<Vec<PathBuf>, Reply> {
    r.map_err(|(e, p)| failed(e, p.display().to_string()))
}

/// What PID 1 keeps between requests: the command's ends of its terminal or pipes.
#[derive(Default)]
struct Kept {
    slave: Option<std::os::fd::OwnedFd>,
    ttys: [bool; 3],
    pipes: Vec<(i32, std::os::fd::OwnedFd)>,
}

fn serve(req: Request, sock: RawFd, kept: &mut Kept) -> Reply {
    use crate::sys::ns::MsFlags;
    let res: std::result::Result<Reply, Reply> = (|| match req {
        Request::Join { procs } => {
            let me = std::process::id().to_string();
            for p in &procs {
                sys::write_raw(p, &me).map_err(|e| failed(e, p.display().to_string()))?;
            }
            Ok(Reply::Done { created: vec![] })
        }
        Request::Unshare => {
            ns::unshare().map_err(|e| failed(e, "unshare"))?;
            ns::make_rprivate().map_err(|e| failed(e, "mount --make-rprivate /"))?;
            Ok(Reply::Done { created: vec![] })
        }
        Request::Fork => unreachable!("handled by the loop"),
        Request::Getpid => Ok(Reply::Pid(std::process::id() as i32)),
        Request::Trace { on } => {
            sys::set_trace(on);
            Ok(Reply::Done { created: vec![] })
        }
        Request::MountProc { root } => {
            let created = made(ns::make_inside(&root, "proc", false))?;
            made(
                ns::mount_inside("proc", &root, "proc", Some("proc"), MsFlags::empty(), None)
                    .map(|_| vec![]),
            )?;
            Ok(Reply::Done { created })
        }
        Request::Devpts { root } => {
            let mut created = made(ns::make_inside(&root, "dev/pts", false))?;
            made(
                ns::mount_inside(
                    "devpts",
                    &root,
                    "dev/pts",
                    Some("devpts"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                    Some(crate::sys::ns::DEVPTS_OPTIONS),
                )
                .map(|_| vec![]),
            )?;
            let ptmx = root.join("dev/ptmx");
            match std::fs::symlink_metadata(&ptmx) {
                Err(_) => {
                    sys::symlink("pts/ptmx", &ptmx)
                        .map_err(|e| failed(e, ptmx.display().to_string()))?;
                    created.push(ptmx);
                }
                Ok(m) if m.file_type().is_symlink() => {
                    let to = std::fs::read_link(&ptmx).unwrap_or_default();
                    if to != std::path::Path::new("pts/ptmx") {
                        return Err(failed(Errno::ELOOP, ptmx.display().to_string()));
                    }
                }
                // Something else is there (a device node from an image): cover it
                // with the new instance's ptmx, as a bind mount.
                Ok(_) => {
                    let src = root.join("dev/pts/ptmx");
                    made(
                        ns::mount_inside(
                            &src.to_string_lossy(),
                            &root,
                            "dev/ptmx",
                            None,
                            MsFlags::MS_BIND,
                            None,
                        )
                        .map(|_| vec![]),
                    )?;
                }
            }
            Ok(Reply::Done { created })
        }
        Request::DevNull { root } => {
            let mut created = made(ns::make_inside(&root, "dev", false))?;
            created.extend(made(ns::make_inside(&root, "dev/null", true))?);
            made(
                ns::mount_inside("/dev/null", &root, "dev/null", None, MsFlags::MS_BIND, None)
                    .map(|_| vec![]),
            )?;
            Ok(Reply::Done { created })
        }
        Request::Hostname { name } => {
            ns::sethostname(&name).map_err(|e| failed(e, "sethostname"))?;
            Ok(Reply::Done { created: vec![] })
        }
        Request::Chroot { root } => {
            ns::chroot(&root).map_err(|e| failed(e, "chroot"))?;
            ns::drop_sys_chroot().map_err(|e| failed(e, "CAP_SYS_CHROOT"))?;
            Ok(Reply::Done { created: vec![] })
        }
        Request::OpenStdio { ttys } => {
            use std::os::fd::AsFd;
            let mut give = vec![];
            let reply = if ttys[0] {
                let (master, slave, n) =
                    crate::sys::tty::open_pty().map_err(|e| failed(e, "/dev/ptmx"))?;
                kept.slave = Some(slave);
                give.push(master);
                Reply::Stdio {
                    pty: Some(n),
                    pipes: vec![],
                }
            } else {
                let mut pipes = vec![];
                for target in [1, 2].into_iter().filter(|t| ttys[*t as usize]) {
                    let (r, w) = crate::sys::tty::pipe().map_err(|e| failed(e, "pipe2"))?;
                    kept.pipes.push((target, w));
                    give.push(r);
                    pipes.push(target);
                }
                Reply::Stdio { pty: None, pipes }
            };
            kept.ttys = ttys;
            let line = serde_json::to_string(&reply).unwrap_or_default() + "\n";
            let fds: Vec<_> = give.iter().map(|f| f.as_fd()).collect();
            crate::sys::tty::send_fds(sock, &line, &fds).map_err(|e| failed(e, "SCM_RIGHTS"))?;
            // Already sent, with the fds: the loop must not send another reply.
            Err(Reply::Done { created: vec![] })
        }
        Request::Exec { path, argv, env } => {
            crate::sys::tty::take_stdio(kept.slave.as_ref(), kept.ttys, &kept.pipes)
                .map_err(|(at, e)| failed(e, at))?;
            *kept = Kept::default();
            // The socket closes at the exec; close_range closes everything else.
            crate::sys::tty::set_cloexec(sock).map_err(|e| failed(e, "FD_CLOEXEC"))?;
            ns::close_all_but_stdio(sock);
            let e = ns::execve(&path, &argv, &env);
            Err(failed(e, path))
        }
        Request::PtmxDemo { root } => {
            let article = sys::demo::in_child(|| sys::demo::ptmx_recipe(&root, true))
                .map_err(|e| failed(e, "fork"))?;
            let fixed = sys::demo::in_child(|| sys::demo::ptmx_recipe(&root, false))
                .map_err(|e| failed(e, "fork"))?;
            Ok(Reply::Ptmx {
                article: Box::new(article),
                fixed: Box::new(fixed),
            })
        }
        Request::EscapeDemo => {
            let with_cap =
                sys::demo::in_child(|| sys::demo::escape(false)).map_err(|e| failed(e, "fork"))?;
            let without =
                sys::demo::in_child(|| sys::demo::escape(true)).map_err(|e| failed(e, "fork"))?;
            Ok(Reply::Escape {
                with_cap: Box::new(with_cap),
                without: Box::new(without),
            })
        }
        Request::Harden(step) => harden(step),
        Request::Probe(p) => Ok(Reply::Seen(probe(p))),
    })();
    res.unwrap_or_else(|r| r)
}

fn harden(step: HardenStep) -> std::result::Result<Reply, Reply> {
    use sys::harden as h;
    let done = Reply::Done { created: vec![] };
    match step {
        HardenStep::UnshareUser => {
            h::unshare_user().map_err(|e| failed(e, "unshare(CLONE_NEWUSER)"))?
        }
        HardenStep::BecomeRoot { guide } => {
            h::become_root(guide).map_err(|e| failed(e, "setresuid(0, 0, 0)"))?
        }
        HardenStep::PivotRoot { root } => {
            h::leave_chroot().map_err(|(at, e)| failed(e, at))?;
            h::pivot_root(&root).map_err(|(at, e)| failed(e, at))?;
        }
        HardenStep::CgroupNs => {
            h::unshare_cgroup().map_err(|e| failed(e, "unshare(CLONE_NEWCGROUP)"))?
        }
        HardenStep::Masks => {
            return h::mask_paths()
                .map(Reply::Masked)
                .map_err(|(at, e)| failed(e, at))
        }
        HardenStep::Caps { keep } => h::cut_caps(keep).map_err(|e| failed(e, "capset"))?,
        HardenStep::NoNewPrivs => {
            h::no_new_privs().map_err(|e| failed(e, "prctl(PR_SET_NO_NEW_PRIVS)"))?
        }
        HardenStep::Seccomp => {
            let prog = h::filter().map_err(|_| failed(Errno::EINVAL, "seccompiler"))?;
            h::install_filter(&prog).map_err(|e| failed(e, "seccomp(SECCOMP_SET_MODE_FILTER)"))?
        }
    }
    Ok(done)
}

fn probe(p: Probe) -> sys::harden::Seen {
    use sys::harden as h;
    match p {
        Probe::Mount => h::try_mount(),
        Probe::UnshareUser => h::try_unshare_user(),
        Probe::Mknod { major, minor } => sys::demo::in_child(|| h::mknod_and_read(major, minor))
            .unwrap_or_else(|e| h::Seen::of::<()>(Err(e), |_| 0)),
    }
}

/// `hako __agent`: serve the guide until the exec, or until the guide goes away.
pub fn agent_main() -> i32 {
    let fd: RawFd = match std::env::var(FD_ENV).ok().and_then(|v| v.parse().ok()) {
        Some(fd) => fd,
        None => {
            eprintln!(
                "hako: __agent is hako's own helper process; it is not meant to be run by hand."
            );
            return Kind::Usage.code();
        }
    };
    sys::set_trace(std::env::var_os(TRACE_ENV).is_some());
    let guide: i32 = std::env::var(GUIDE_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if !ns::die_with_parent(guide) {
        return Kind::Failed.code();
    }
    // The socket had to survive hako's exec of the agent; it must not survive the
    // command's.
    if crate::sys::tty::set_cloexec(fd).is_err() {
        return Kind::Failed.code();
    }
    // The fd was passed to us for exactly this, and nothing else uses it.
    let mut stream = sys::process::stream_from_fd(fd);
    let mut reader = BufReader::new(stream.try_clone().expect("clone socket"));
    let mut line = String::new();
    let mut kept = Kept::default();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return 0, // the guide went away
            Ok(_) => {}
        }
        let Ok(req) = serde_json::from_str::<Request>(&line) else {
            reply_to(&mut stream, &failed(Errno::EINVAL, "message"));
            continue;
        };
        if let Request::Fork = req {
            let me = std::process::id() as i32;
            match ns::fork() {
                Err(e) => reply_to(&mut stream, &failed(e, "fork")),
                Ok(Some(child)) => {
                    // The parent: hand the socket over to PID 1 and wait for it, passing
                    // its status on (as `unshare -f` does).
                    reply_to(&mut stream, &Reply::Forked { pid: child });
                    drop(reader);
                    drop(stream);
                    return wait_for(child);
                }
                Ok(None) => {
                    // PID 1 of the new namespace. Its parent (the agent) is outside, so
                    // getppid() is 0 here; the guide watches the agent instead.
                    let _ = ns::die_with_parent(0);
                    let _ = me;
                    continue;
                }
            }
            continue;
        }
        let is_exec = matches!(req, Request::Exec { .. });
        let is_terminal = matches!(req, Request::OpenStdio { .. });
        let r = serve(req, stream.as_raw_fd(), &mut kept);
        if is_terminal && matches!(r, Reply::Done { .. }) {
            continue; // the reply went out with the master attached
        }
        let exec_failed = is_exec && matches!(r, Reply::Failed { .. });
        reply_to(&mut stream, &r);
        if exec_failed {
            let code = match &r {
                Reply::Failed { errno, .. } if *errno == Errno::ENOENT as i32 => {
                    Kind::NotFound.code()
                }
                _ => Kind::CannotExec.code(),
            };
            return code;
        }
    }
}

fn wait_for(child: i32) -> i32 {
    loop {
        match sys::pids::wait(child, false) {
            Ok(Some(c)) => return c,
            Ok(None) => continue,
            Err(Errno::EINTR) => continue,
            Err(_) => return Kind::Failed.code(),
        }
    }
}

// ---------------------------------------------------------------- guide side

/// The guide's handle on the agent and, after the fork, on PID 1.
pub struct Agent {
    child: Child,
    stream: UnixStream,
    reader: BufReader<UnixStream>,
    /// PID 1 of the new PID namespace, as the host sees it.
    pub pid1: Option<i32>,
    /// PID 1 is stopped at its exec, traced by the guide.
    pub stopped: bool,
    /// The command's exit status, once it ended (the agent is reaped then).
    pub status: Option<i32>,
    /// The master of the command's terminal, when it has one.
    pub master: Option<std::os::fd::OwnedFd>,
    /// The read ends of the pipes that stand for hako's terminal as the command's
    /// stdout or stderr (stdin not a terminal): (1 or 2, read end).
    pub pipes: Vec<(i32, std::os::fd::OwnedFd)>,
    /// The command is in a session of its own while hako's terminal is not its own:
    /// Ctrl-C reaches hako only, which passes it on to the command's process group.
    pub forward_sigint: bool,
}

impl Agent {
    pub fn spawn() -> Result<Agent> {
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| sys::failure(t("do.socketpair"), sys::io_errno(&e)))?;
        let child = sys::process::spawn_agent(theirs.as_raw_fd())
            .map_err(|e| sys::failure(t("do.spawn_agent"), e))?;
        // Our copy of the agent's end closes here: only the agent holds it now, so when
        // it (or PID 1 after it) exits or execs, a read here sees EOF.
        drop(theirs);
        let reader = BufReader::new(
            ours.try_clone()
                .map_err(|e| sys::failure(t("do.socketpair"), sys::io_errno(&e)))?,
        );
        Ok(Agent {
            child,
            stream: ours,
            reader,
            pid1: None,
            stopped: false,
            status: None,
            master: None,
            pipes: vec![],
            forward_sigint: false,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn send(&mut self, req: &Request) -> Result<()> {
        let mut line = serde_json::to_string(req).unwrap_or_default();
        line.push('\n');
        self.stream
            .write_all(line.as_bytes())
            .map_err(|_| self.died())
    }

    /// Reads one reply; EOF means the agent is gone.
    pub fn recv(&mut self) -> Result<Option<Reply>> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => serde_json::from_str(&line)
                .map(Some)
                .map_err(|_| Error::failed(tf("err.agent_garbled", &[("line", &line.trim())]))),
            Err(_) => Ok(None),
        }
    }

    /// Sends a request and returns its reply; a `Failed` reply becomes an error that
    /// says what failed and why.
    pub fn call(&mut self, req: Request, what: &str) -> Result<Reply> {
        self.send(&req)?;
        match self.recv()? {
            Some(Reply::Failed { errno, at }) => {
                let e = Errno::from_raw(errno);
                Err(sys::failure(
                    &tf("do.agent_step", &[("what", &what), ("at", &at)]),
                    e,
                ))
            }
            Some(r) => Ok(r),
            None => Err(self.died()),
        }
    }

    /// Asks PID 1 to stand in for each of hako's standard descriptors that is a
    /// terminal: a pty of the command's own when stdin is one, else pipes. Keeps the
    /// guide's ends; returns the reply (None when no descriptor is a terminal).
    pub fn open_stdio(&mut self) -> Result<Option<Reply>> {
        let ttys = crate::sys::tty::terminals();
        if !ttys.iter().any(|t| *t) {
            return Ok(None);
        }
        self.send(&Request::OpenStdio { ttys })?;
        let (line, mut fds) = crate::sys::tty::recv_fds(self.stream.as_raw_fd())
            .map_err(|e| sys::failure(t("do.open_terminal"), e))?;
        match serde_json::from_str::<Reply>(line.trim()) {
            Ok(Reply::Stdio { pty, pipes }) if fds.len() == pty.map_or(pipes.len(), |_| 1) => {
                if pty.is_some() {
                    self.master = fds.pop();
                } else {
                    self.pipes = pipes.iter().copied().zip(fds).collect();
                    self.forward_sigint = true;
                }
                Ok(Some(Reply::Stdio { pty, pipes }))
            }
            Ok(Reply::Failed { errno, at }) => Err(sys::failure(
                &tf(
                    "do.agent_step",
                    &[("what", &t("do.open_terminal")), ("at", &at)],
                ),
                Errno::from_raw(errno),
            )),
            _ if line.is_empty() => Err(self.died()),
            _ => Err(Error::failed(tf(
                "err.agent_garbled",
                &[("line", &line.trim())],
            ))),
        }
    }

    /// The sentence for an agent that went away mid-walk.
    pub fn died(&mut self) -> Error {
        let status = self.child.wait().ok();
        use std::os::unix::process::ExitStatusExt;
        match status.and_then(|s| s.signal()) {
            Some(9) => Error::failed(t("err.agent_killed")),
            Some(sig) => Error::failed(tf("err.agent_signal", &[("sig", &sig)])),
            None => Error::failed(tf(
                "err.agent_exited",
                &[("code", &status.and_then(|s| s.code()).unwrap_or(-1))],
            )),
        }
    }

    /// Waits for the agent, which waits for PID 1 and passes its status on. Ctrl-C
    /// belongs to the command meanwhile (the terminal sends it there too); SIGTERM or
    /// SIGHUP to hako end the container: SIGTERM to PID 1, then SIGKILL after a grace
    /// period, since PID 1 ignores signals it has no handler for.
    pub fn wait_command(&mut self) -> Result<i32> {
        use crate::sys::pids::kill;
        use crate::sys::signals;
        use crate::sys::Signal;
        let agent = self.pid();
        let mut term_at: Option<std::time::Instant> = None;
        loop {
            match sys::pids::wait(agent, term_at.is_some()) {
                Ok(Some(c)) => {
                    self.status = Some(c);
                    break;
                }
                Ok(None) | Err(Errno::EINTR) => {}
                Err(_) => {
                    self.status = Some(Kind::Failed.code());
                    break;
                }
            }
            match signals::peek() {
                Some(Signal::SIGINT) => {
                    signals::take();
                    self.pass_sigint();
                }
                Some(_) if term_at.is_none() => {
                    if let Some(p) = self.pid1 {
                        let _ = kill(p, Signal::SIGTERM);
                    }
                    term_at = Some(std::time::Instant::now());
                }
                _ => {}
            }
            if let Some(t0) = term_at {
                if t0.elapsed() > std::time::Duration::from_millis(1500) {
                    if let Some(p) = self.pid1 {
                        let _ = kill(p, Signal::SIGKILL);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        if term_at.is_some() {
            signals::take();
            return Err(Error::new(Kind::Terminated, t("err.terminated")));
        }
        Ok(self.status.unwrap_or(0))
    }

    /// Ctrl-C typed while the command runs in a session of its own (pipes for hako's
    /// terminal): SIGINT to its process group, as the terminal would have sent it.
    pub fn pass_sigint(&self) {
        use crate::sys::pids::kill;
        use crate::sys::Signal;
        if let (true, Some(p), None) = (self.forward_sigint, self.pid1, self.status) {
            let _ = kill(-p, Signal::SIGINT);
        }
    }

    /// Ends the container now: SIGKILL to PID 1 and the agent (PID 1 of a namespace
    /// ignores every other signal it has no handler for), then reaps the agent.
    pub fn kill(&mut self) {
        use crate::sys::pids::kill;
        use crate::sys::Signal;
        if self.status.is_some() {
            return; // reaped: its PID may belong to someone else by now
        }
        if let Some(p) = self.pid1 {
            let _ = kill(p, Signal::SIGKILL);
        }
        let _ = kill(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }

    pub fn alive(&mut self) -> bool {
        self.status.is_none() && matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.alive() {
            self.kill();
        }
    }
}
