//! The agent's side: `hako __agent` reads one request at a time and answers it, as
//! the agent, then (after `Fork`) as PID 1 of the new PID namespace.
//!
//! Every request has a function of its own that returns its reply or a [`Failure`];
//! the loop in [`agent_main`] sends what it returns. Three requests are handled by the
//! loop itself, because they change the loop: `Fork` (the parent stops serving and
//! waits), `OpenStdio` (its reply goes out with descriptors attached) and `Exec` (no
//! reply when it works: the process becomes the command).

use super::protocol::{line, parse, HardenStep, Probe, Reply, Request};
use crate::error::Kind;
use crate::sys::error::SysError;
use crate::sys::process::{FD_ENV, GUIDE_ENV, TRACE_ENV};
use crate::sys::{self, ns, Errno};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// A step that failed inside: the errno, and the call or path it failed at.
#[derive(Debug)]
struct Failure {
    errno: Errno,
    at: String,
}

impl Failure {
    fn new(errno: Errno, at: impl Into<String>) -> Failure {
        Failure {
            errno,
            at: at.into(),
        }
    }

    /// A kernel call that failed, with the call and what it acted on: the reply
    /// carries the path when there is one (`ns::make_inside`, `mount_inside`), else
    /// the call (`sys::tty::take_stdio`, `sys::harden`).
    fn of_sys(e: SysError) -> Failure {
        Failure::new(e.errno, e.place())
    }

    fn reply(self) -> Reply {
        Reply::Failed {
            errno: self.errno as i32,
            at: self.at,
        }
    }
}

/// A step's result: its reply, or the failure to report instead.
type Answer = std::result::Result<Reply, Failure>;

fn done(created: Vec<PathBuf>) -> Answer {
    Ok(Reply::Done { created })
}

/// What PID 1 keeps between requests: the command's ends of its terminal or pipes.
#[derive(Default)]
struct Kept {
    slave: Option<OwnedFd>,
    ttys: [bool; 3],
    pipes: Vec<(i32, OwnedFd)>,
}

// ---------------------------------------------------------------- one function per request

/// Write our own PID into these `cgroup.procs` files (what cgexec does).
fn join(procs: &[PathBuf]) -> Answer {
    let me = std::process::id().to_string();
    for p in procs {
        sys::write_raw(p, &me).map_err(|e| Failure::new(e, p.display().to_string()))?;
    }
    done(vec![])
}

fn unshare() -> Answer {
    ns::unshare().map_err(|e| Failure::new(e, "unshare"))?;
    ns::make_rprivate().map_err(|e| Failure::new(e, "mount --make-rprivate /"))?;
    done(vec![])
}

fn trace(on: bool) -> Answer {
    sys::set_trace(on);
    done(vec![])
}

fn mount_proc(root: &Path) -> Answer {
    let created = ns::make_inside(root, "proc", false).map_err(Failure::of_sys)?;
    ns::mount_inside(
        "proc",
        root,
        "proc",
        Some("proc"),
        ns::MsFlags::empty(),
        None,
    )
    .map_err(Failure::of_sys)?;
    done(created)
}

fn devpts(root: &Path) -> Answer {
    use ns::MsFlags;
    let mut created = ns::make_inside(root, "dev/pts", false).map_err(Failure::of_sys)?;
    ns::mount_inside(
        "devpts",
        root,
        "dev/pts",
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(ns::DEVPTS_OPTIONS),
    )
    .map_err(Failure::of_sys)?;
    // dev/ptmx, looked at and made by descriptor in the `dev` just made (never through a
    // `dev` the rootfs swapped for a link meanwhile).
    let ptmx = root.join("dev/ptmx");
    let at = |e| Failure::new(e, ptmx.display().to_string());
    let dev = sys::at::DirFd::open(root)
        .and_then(|r| r.sub("dev"))
        .map_err(at)?;
    match dev.lstat("ptmx") {
        Err(Errno::ENOENT) => {
            dev.symlink("pts/ptmx", "ptmx").map_err(at)?;
            created.push(ptmx);
        }
        Err(e) => return Err(at(e)),
        Ok(m) if sys::files::mode_is_symlink(m.st_mode) => {
            if dev.readlink("ptmx").unwrap_or_default() != b"pts/ptmx" {
                return Err(Failure::new(Errno::ELOOP, ptmx.display().to_string()));
            }
        }
        // Something else is there (a device node from an image): cover it with the
        // new instance's ptmx, as a bind mount.
        Ok(_) => {
            let src = root.join("dev/pts/ptmx");
            ns::mount_inside(
                &src.to_string_lossy(),
                root,
                "dev/ptmx",
                None,
                MsFlags::MS_BIND,
                None,
            )
            .map_err(Failure::of_sys)?;
        }
    }
    done(created)
}

fn dev_null(root: &Path) -> Answer {
    let mut created = ns::make_inside(root, "dev", false).map_err(Failure::of_sys)?;
    created.extend(ns::make_inside(root, "dev/null", true).map_err(Failure::of_sys)?);
    ns::mount_inside(
        "/dev/null",
        root,
        "dev/null",
        None,
        ns::MsFlags::MS_BIND,
        None,
    )
    .map_err(Failure::of_sys)?;
    done(created)
}

fn hostname(name: &str) -> Answer {
    ns::sethostname(name).map_err(|e| Failure::new(e, "sethostname"))?;
    done(vec![])
}

/// chroot + chdir + drop CAP_SYS_CHROOT.
fn chroot(root: &Path) -> Answer {
    ns::chroot(root).map_err(|e| Failure::new(e, "chroot"))?;
    ns::drop_sys_chroot().map_err(|e| Failure::new(e, "CAP_SYS_CHROOT"))?;
    done(vec![])
}

/// The command's standard descriptors: a pty opened here when stdin is a terminal,
/// else a pipe for each of stdout and stderr that is one. Keeps the command's ends in
/// `kept`; returns the reply and the guide's ends, which go out attached to it.
fn open_stdio(
    ttys: [bool; 3],
    kept: &mut Kept,
) -> std::result::Result<(Reply, Vec<OwnedFd>), Failure> {
    let mut give = vec![];
    let reply = if ttys[0] {
        let (master, slave, n) = sys::tty::open_pty().map_err(|e| Failure::new(e, "/dev/ptmx"))?;
        kept.slave = Some(slave);
        give.push(master);
        Reply::Stdio {
            pty: Some(n),
            pipes: vec![],
        }
    } else {
        let mut pipes = vec![];
        for target in [1, 2].into_iter().filter(|t| ttys[*t as usize]) {
            let (r, w) = sys::tty::pipe().map_err(|e| Failure::new(e, "pipe2"))?;
            kept.pipes.push((target, w));
            give.push(r);
            pipes.push(target);
        }
        Reply::Stdio { pty: None, pipes }
    };
    kept.ttys = ttys;
    Ok((reply, give))
}

/// Put the command's descriptors in place, close every other one, execve. Returns
/// only when something failed (on success this process is the command now).
fn exec(
    path: &str,
    argv: &[String],
    env: &[(String, String)],
    sock: RawFd,
    kept: &mut Kept,
) -> Failure {
    if let Err(e) = sys::tty::take_stdio(kept.slave.as_ref(), kept.ttys, &kept.pipes) {
        return Failure::of_sys(e);
    }
    *kept = Kept::default();
    // The socket closes at the exec; close_range closes everything else.
    if let Err(e) = sys::tty::set_cloexec(sock) {
        return Failure::new(e, "FD_CLOEXEC");
    }
    ns::close_all_but_stdio(sock);
    Failure::new(ns::execve(path, argv, env), path)
}

fn ptmx_demo(root: &Path) -> Answer {
    let article = sys::demo::in_child(|| sys::demo::ptmx_recipe(root, true))
        .map_err(|e| Failure::new(e, "fork"))?;
    let fixed = sys::demo::in_child(|| sys::demo::ptmx_recipe(root, false))
        .map_err(|e| Failure::new(e, "fork"))?;
    Ok(Reply::Ptmx {
        article: Box::new(article),
        fixed: Box::new(fixed),
    })
}

fn escape_demo() -> Answer {
    let with_cap =
        sys::demo::in_child(|| sys::demo::escape(false)).map_err(|e| Failure::new(e, "fork"))?;
    let without =
        sys::demo::in_child(|| sys::demo::escape(true)).map_err(|e| Failure::new(e, "fork"))?;
    Ok(Reply::Escape {
        with_cap: Box::new(with_cap),
        without: Box::new(without),
    })
}

fn harden(step: HardenStep) -> Answer {
    use sys::harden as h;
    match step {
        HardenStep::UnshareUser => {
            h::unshare_user().map_err(|e| Failure::new(e, "unshare(CLONE_NEWUSER)"))?
        }
        HardenStep::BecomeRoot { guide } => {
            h::become_root(guide).map_err(|e| Failure::new(e, "setresuid(0, 0, 0)"))?
        }
        HardenStep::PivotRoot { root } => {
            h::try_leave_chroot().map_err(Failure::of_sys)?;
            h::try_pivot_root(&root).map_err(Failure::of_sys)?;
        }
        HardenStep::CgroupNs => {
            h::unshare_cgroup().map_err(|e| Failure::new(e, "unshare(CLONE_NEWCGROUP)"))?
        }
        HardenStep::Masks => {
            return h::try_mask_paths()
                .map(Reply::Masked)
                .map_err(Failure::of_sys)
        }
        HardenStep::Caps { keep } => h::cut_caps(keep).map_err(|e| Failure::new(e, "capset"))?,
        HardenStep::NoNewPrivs => {
            h::no_new_privs().map_err(|e| Failure::new(e, "prctl(PR_SET_NO_NEW_PRIVS)"))?
        }
        HardenStep::Seccomp => {
            let prog = h::filter().map_err(|_| Failure::new(Errno::EINVAL, "seccompiler"))?;
            h::install_filter(&prog)
                .map_err(|e| Failure::new(e, "seccomp(SECCOMP_SET_MODE_FILTER)"))?
        }
    }
    done(vec![])
}

/// What a check looks at from inside; a probe always has an answer (what it saw,
/// errno included).
fn probe(p: Probe) -> Answer {
    use sys::harden as h;
    Ok(Reply::Seen(match p {
        Probe::Mount => h::try_mount(),
        Probe::UnshareUser => h::try_unshare_user(),
        Probe::Mknod { major, minor } => sys::demo::in_child(|| h::mknod_and_read(major, minor))
            .unwrap_or_else(|e| h::Seen::of::<()>(Err(e), |_| 0)),
    }))
}

// ---------------------------------------------------------------- the loop

fn reply_to(stream: &mut UnixStream, r: &Reply) {
    // A guide that went away reads nothing; the next read here sees EOF and ends.
    let _ = stream.write_all(line(r).as_bytes());
}

fn answer(stream: &mut UnixStream, a: Answer) {
    reply_to(stream, &a.unwrap_or_else(Failure::reply));
}

/// The exit status of an agent whose exec failed: 127 when the command is not there,
/// 126 when it could not run (as a shell says).
fn exec_status(f: &Failure) -> i32 {
    if f.errno == Errno::ENOENT {
        Kind::NotFound.code()
    } else {
        Kind::CannotExec.code()
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
    if sys::tty::set_cloexec(fd).is_err() {
        return Kind::Failed.code();
    }
    // The fd was passed to us for exactly this, and nothing else uses it.
    let mut stream = sys::process::stream_from_fd(fd);
    let Ok(clone) = stream.try_clone() else {
        return Kind::Failed.code();
    };
    let mut reader = BufReader::new(clone);
    let mut text = String::new();
    let mut kept = Kept::default();
    loop {
        text.clear();
        match reader.read_line(&mut text) {
            Ok(0) | Err(_) => return 0, // the guide went away
            Ok(_) => {}
        }
        let Some(req) = parse::<Request>(&text) else {
            answer(&mut stream, Err(Failure::new(Errno::EINVAL, "message")));
            continue;
        };
        match req {
            Request::Fork => match ns::fork() {
                Err(e) => answer(&mut stream, Err(Failure::new(e, "fork"))),
                Ok(Some(child)) => {
                    // The parent: hand the socket over to PID 1 and wait for it,
                    // passing its status on (as `unshare -f` does).
                    reply_to(&mut stream, &Reply::Forked { pid: child });
                    drop(reader);
                    drop(stream);
                    return wait_for(child);
                }
                Ok(None) => {
                    // PID 1 of the new namespace. Its parent (the agent) is outside,
                    // so getppid() is 0 here; the guide watches the agent instead.
                    let _ = ns::die_with_parent(0);
                }
            },
            Request::OpenStdio { ttys } => match open_stdio(ttys, &mut kept) {
                Ok((reply, give)) => {
                    let fds: Vec<_> = give.iter().map(|f| f.as_fd()).collect();
                    if let Err(e) = sys::tty::send_fds(stream.as_raw_fd(), &line(&reply), &fds) {
                        answer(&mut stream, Err(Failure::new(e, "SCM_RIGHTS")));
                    }
                }
                Err(f) => answer(&mut stream, Err(f)),
            },
            Request::Exec { path, argv, env } => {
                let f = exec(&path, &argv, &env, stream.as_raw_fd(), &mut kept);
                let status = exec_status(&f);
                reply_to(&mut stream, &f.reply());
                return status;
            }
            Request::Join { procs } => answer(&mut stream, join(&procs)),
            Request::Unshare => answer(&mut stream, unshare()),
            Request::MountProc { root } => answer(&mut stream, mount_proc(&root)),
            Request::Devpts { root } => answer(&mut stream, devpts(&root)),
            Request::DevNull { root } => answer(&mut stream, dev_null(&root)),
            Request::Hostname { name } => answer(&mut stream, hostname(&name)),
            Request::Chroot { root } => answer(&mut stream, chroot(&root)),
            Request::PtmxDemo { root } => answer(&mut stream, ptmx_demo(&root)),
            Request::EscapeDemo => answer(&mut stream, escape_demo()),
            Request::Trace { on } => answer(&mut stream, trace(on)),
            Request::Harden(step) => answer(&mut stream, harden(step)),
            Request::Probe(p) => answer(&mut stream, probe(p)),
        }
    }
}

/// The agent after the fork: wait for PID 1 and pass its status on.
fn wait_for(child: i32) -> i32 {
    loop {
        match sys::pids::wait(child, false) {
            Ok(Some(c)) => return c,
            Ok(None) | Err(Errno::EINTR) => continue,
            Err(_) => return Kind::Failed.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_becomes_the_failed_reply() {
        let r = Failure::new(Errno::EPERM, "sethostname").reply();
        assert!(
            matches!(&r, Reply::Failed { errno, at } if *errno == Errno::EPERM as i32 && at == "sethostname")
        );
        let r = Failure::of_sys(SysError::on("mkdir", "/r/proc", Errno::ENOENT)).reply();
        assert!(matches!(&r, Reply::Failed { at, .. } if at == "/r/proc"));
        let r = Failure::of_sys(SysError::new("setsid", Errno::EPERM)).reply();
        assert!(matches!(&r, Reply::Failed { at, .. } if at == "setsid"));
    }

    #[test]
    fn a_failed_exec_exits_as_a_shell_would() {
        assert_eq!(
            exec_status(&Failure::new(Errno::ENOENT, "/bin/nope")),
            Kind::NotFound.code()
        );
        assert_eq!(
            exec_status(&Failure::new(Errno::EACCES, "/etc/passwd")),
            Kind::CannotExec.code()
        );
    }
}
