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
use crate::i18n::{t, tf};
use crate::sys::{self, ns};
use nix::errno::Errno;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Child;

/// The environment variable that tells the agent which fd is its end of the socket.
pub const FD_ENV: &str = "HAKO_AGENT_FD";
pub const GUIDE_ENV: &str = "HAKO_GUIDE_PID";
pub const TRACE_ENV: &str = "HAKO_AGENT_TRACE";

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
    /// The PIDs visible in `<root>/proc`.
    ListPids {
        root: PathBuf,
    },
    Devpts {
        root: PathBuf,
    },
    ProbePty {
        root: PathBuf,
    },
    DevNull {
        root: PathBuf,
    },
    ProbeNull {
        root: PathBuf,
    },
    Hostname {
        name: String,
    },
    GetHostname,
    /// chroot + chdir + drop CAP_SYS_CHROOT.
    Chroot {
        root: PathBuf,
    },
    /// Open a pty inside (after the chroot) for the command; the master comes back
    /// attached to the reply (SCM_RIGHTS).
    OpenTerminal,
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
    Pids(Vec<i32>),
    /// The pty's number, its slave's st_dev, and the st_dev of `<root>/dev/pts`.
    Pty {
        n: u32,
        dev: u64,
        pts_dev: u64,
    },
    Null {
        is_char: bool,
        major: u64,
        minor: u64,
        wrote: usize,
        read: usize,
    },
    Hostname(String),
    /// A pty is open: `/dev/pts/N` inside; its master is attached.
    Terminal {
        n: u32,
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

/// What PID 1 keeps between requests: the slave of the command's terminal.
#[derive(Default)]
struct Kept {
    slave: Option<std::os::fd::OwnedFd>,
}

fn serve(req: Request, sock: RawFd, kept: &mut Kept) -> Reply {
    use nix::mount::MsFlags;
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
        Request::MountProc { root } => {
            let created = made(ns::make_inside(&root, "proc", false))?;
            made(
                ns::mount_inside("proc", &root, "proc", Some("proc"), MsFlags::empty(), None)
                    .map(|_| vec![]),
            )?;
            Ok(Reply::Done { created })
        }
        Request::ListPids { root } => {
            let mut pids: Vec<i32> = std::fs::read_dir(root.join("proc"))
                .map_err(|e| failed(sys::io_errno(&e), "proc"))?
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect();
            pids.sort_unstable();
            Ok(Reply::Pids(pids))
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
                    Some("newinstance,ptmxmode=0666,mode=0620"),
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
        Request::ProbePty { root } => {
            use std::os::unix::fs::MetadataExt;
            let (n, dev) = ns::pty_probe(&root).map_err(|e| failed(e, "dev/ptmx"))?;
            let pts_dev = std::fs::metadata(root.join("dev/pts"))
                .map(|m| m.dev())
                .unwrap_or(0);
            Ok(Reply::Pty { n, dev, pts_dev })
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
        Request::ProbeNull { root } => {
            use std::io::Read;
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            let p = root.join("dev/null");
            let m = std::fs::metadata(&p).map_err(|e| failed(sys::io_errno(&e), "dev/null"))?;
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p)
                .map_err(|e| failed(sys::io_errno(&e), "dev/null"))?;
            let wrote = f.write(b"hako").unwrap_or(0);
            let mut buf = [0u8; 16];
            let read = f.read(&mut buf).unwrap_or(usize::MAX);
            Ok(Reply::Null {
                is_char: m.file_type().is_char_device(),
                major: libc::major(m.rdev()) as u64,
                minor: libc::minor(m.rdev()) as u64,
                wrote,
                read,
            })
        }
        Request::Hostname { name } => {
            ns::sethostname(&name).map_err(|e| failed(e, "sethostname"))?;
            Ok(Reply::Done { created: vec![] })
        }
        Request::GetHostname => Ok(Reply::Hostname(ns::hostname())),
        Request::Chroot { root } => {
            ns::chroot(&root).map_err(|e| failed(e, "chroot"))?;
            ns::drop_sys_chroot().map_err(|e| failed(e, "CAP_SYS_CHROOT"))?;
            Ok(Reply::Done { created: vec![] })
        }
        Request::OpenTerminal => {
            let (master, slave, n) =
                crate::sys::tty::open_pty().map_err(|e| failed(e, "/dev/ptmx"))?;
            kept.slave = Some(slave);
            let line = serde_json::to_string(&Reply::Terminal { n }).unwrap_or_default() + "\n";
            use std::os::fd::AsFd;
            crate::sys::tty::send_fd(sock, &line, master.as_fd())
                .map_err(|e| failed(e, "SCM_RIGHTS"))?;
            // Already sent, with the fd: the loop must not send another reply.
            Err(Reply::Done { created: vec![] })
        }
        Request::Exec { path, argv, env } => {
            if let Some(slave) = kept.slave.take() {
                crate::sys::tty::make_controlling(&slave).map_err(|e| failed(e, "TIOCSCTTY"))?;
            }
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
    })();
    res.unwrap_or_else(|r| r)
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
    // SAFETY of ownership: the fd was passed to us for exactly this, and nothing else uses it.
    let mut stream = unsafe_stream(fd);
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
        let is_terminal = matches!(req, Request::OpenTerminal);
        let r = serve(req, stream.as_raw_fd(), &mut kept);
        if is_terminal && matches!(r, Reply::Done { .. }) {
            continue; // the reply went out with the master attached
        }
        let exec_failed = is_exec && matches!(r, Reply::Failed { .. });
        reply_to(&mut stream, &r);
        if exec_failed {
            let code = match &r {
                Reply::Failed { errno, .. } if *errno == libc::ENOENT => Kind::NotFound.code(),
                _ => Kind::CannotExec.code(),
            };
            return code;
        }
    }
}

#[allow(unsafe_code)]
fn unsafe_stream(fd: RawFd) -> UnixStream {
    // SAFETY: fd is the socket the guide passed, owned by this process alone.
    unsafe { UnixStream::from_raw_fd(fd) }
}

fn wait_for(child: i32) -> i32 {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(child), None) {
            Ok(WaitStatus::Exited(_, c)) => return c,
            Ok(WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) => continue,
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

    /// Asks PID 1 for a terminal of the command's own; keeps the master.
    pub fn open_terminal(&mut self) -> Result<u32> {
        self.send(&Request::OpenTerminal)?;
        let (line, fd) = crate::sys::tty::recv_fd(self.stream.as_raw_fd())
            .map_err(|e| sys::failure(t("do.open_terminal"), e))?;
        match serde_json::from_str::<Reply>(line.trim()) {
            Ok(Reply::Terminal { n }) if fd.is_some() => {
                self.master = fd;
                Ok(n)
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
        use crate::sys::signals;
        use nix::sys::signal::{kill, Signal};
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        use nix::unistd::Pid;
        let agent = Pid::from_raw(self.pid());
        let mut term_at: Option<std::time::Instant> = None;
        loop {
            let flags = term_at.map(|_| WaitPidFlag::WNOHANG);
            match waitpid(agent, flags) {
                Ok(WaitStatus::Exited(_, c)) => {
                    self.status = Some(c);
                    break;
                }
                Ok(WaitStatus::Signaled(_, s, _)) => {
                    self.status = Some(128 + s as i32);
                    break;
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => {
                    self.status = Some(Kind::Failed.code());
                    break;
                }
            }
            match signals::peek() {
                Some(Signal::SIGINT) => {
                    signals::take();
                }
                Some(_) if term_at.is_none() => {
                    if let Some(p) = self.pid1 {
                        let _ = kill(Pid::from_raw(p), Signal::SIGTERM);
                    }
                    term_at = Some(std::time::Instant::now());
                }
                _ => {}
            }
            if let Some(t0) = term_at {
                if t0.elapsed() > std::time::Duration::from_millis(1500) {
                    if let Some(p) = self.pid1 {
                        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
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

    /// Ends the container now: SIGKILL to PID 1 and the agent (PID 1 of a namespace
    /// ignores every other signal it has no handler for), then reaps the agent.
    pub fn kill(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        if self.status.is_some() {
            return; // reaped: its PID may belong to someone else by now
        }
        if let Some(p) = self.pid1 {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGKILL);
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
