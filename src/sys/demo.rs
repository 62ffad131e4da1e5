//! The kernel side of the demonstrations (`--demos`, or "see it for real"): each one
//! runs in a process of its own, so that the walk's real container is never touched.
//!
//! - the article's ptmx recipe and the fixed one, each in a throwaway mount namespace
//!   (unshare(CLONE_NEWNS) in a forked child of PID 1, a tmpfs over `$ROOTFS/dev`);
//! - the chroot escape, in forked children of PID 1 after its chroot(2): one still
//!   holding CAP_SYS_CHROOT, one without it;
//! - the limits, in `hako __demo …` children the guide starts inside the cgroup.
#![allow(unsafe_code)]

use super::error::SysError;
use super::ns;
use super::tracer::trace;
use nix::errno::Errno;
use nix::mount::MsFlags;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Runs `f` in a forked child and returns what it returned (as JSON through a pipe).
/// The caller must be single-threaded (PID 1 of the container is).
pub fn in_child<T: Serialize + DeserializeOwned>(f: impl FnOnce() -> T) -> Result<T, Errno> {
    let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe()?;
    // SAFETY: the agent is single-threaded, so the child may do anything the parent
    // could; it leaves with _exit, never returning into the caller's code.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            drop(r);
            let out = serde_json::to_vec(&f()).unwrap_or_default();
            let mut file = std::fs::File::from(w);
            let _ = file.write_all(&out);
            drop(file);
            // SAFETY: _exit ends this forked copy at once, without running the
            // parent's atexit handlers or flushing its buffers a second time.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            // Our copy of the write end must close, or the read never sees EOF.
            drop(w);
            let mut buf = vec![];
            let _ = std::fs::File::from(r).read_to_end(&mut buf);
            while let Err(Errno::EINTR) = nix::sys::wait::waitpid(child, None) {}
            serde_json::from_slice(&buf).map_err(|_| Errno::EIO)
        }
    }
}

// ------------------------------------------------------------------ devpts

/// What happened when a program inside tried to open a pty through one recipe.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PtyOutcome {
    /// The step that failed (a path or a call) and its errno, if any did.
    pub failed_at: Option<(String, i32)>,
    /// The pty number the kernel reserved (TIOCGPTN), if the ptmx opened.
    pub n: Option<u32>,
    /// st_dev of the slave that opened, if it did.
    pub slave_dev: Option<u64>,
    /// st_dev of /dev/pts as the program inside sees it.
    pub pts_dev: u64,
    /// st_dev of the host's /dev/pts, and whether pts/N exists there.
    pub host_dev: u64,
    pub in_host: bool,
}

/// In a throwaway mount namespace, builds `$ROOTFS/dev` on a tmpfs with one recipe
/// (the article's: a bind of the host's ptmx; or the fixed one: a devpts instance
/// with ptmxmode and a relative link), chroots into `root` and does what openpty(3)
/// does. Runs in a child: its mounts and its chroot vanish with it.
pub fn ptmx_recipe(root: &Path, article: bool) -> PtyOutcome {
    let mut out = PtyOutcome::default();
    if let Err(e) = ptmx_inner(root, article, &mut out) {
        let (at, errno) = e.into_parts();
        out.failed_at = Some((at, errno as i32));
    }
    out
}

/// The call failed on path `p` (the outcome names the path, as the lesson shows it).
fn at<'a>(call: &'a str, p: &'a Path) -> impl Fn(Errno) -> SysError + 'a {
    move |e| SysError::on(call, p.display().to_string(), e)
}

fn ptmx_inner(root: &Path, article: bool, out: &mut PtyOutcome) -> Result<(), SysError> {
    let flags = nix::sched::CloneFlags::CLONE_NEWNS;
    let r = nix::sched::unshare(flags);
    trace(|| "unshare(CLONE_NEWNS)".into(), "2 unshare", &r);
    r.map_err(SysError::at("unshare"))?;
    ns::make_rprivate().map_err(|e| SysError::on("mount --make-rprivate", "/", e))?;
    let dev = root.join("dev");
    let pts = dev.join("pts");
    let ptmx = dev.join("ptmx");
    // A scratch /dev for this child only: the walk's own dev/ptmx and dev/null stay.
    ns::do_mount(
        "tmpfs",
        &dev,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=755"),
    )
    .map_err(at("mount -t tmpfs", &dev))?;
    let r = nix::unistd::mkdir(&pts, nix::sys::stat::Mode::from_bits_truncate(0o755));
    trace(
        || format!("mkdir(\"{}\", 0755)", pts.display()),
        "2 mkdir",
        &r,
    );
    r.map_err(at("mkdir", &pts))?;
    if article {
        // mount -t devpts devpts $ROOTFS/dev/pts
        ns::do_mount("devpts", &pts, Some("devpts"), MsFlags::empty(), None)
            .map_err(at("mount -t devpts", &pts))?;
        // touch $ROOTFS/dev/ptmx
        let r = std::fs::File::create(&ptmx)
            .map(|_| ())
            .map_err(|e| super::common::io_errno(&e));
        trace(
            || format!("open(\"{}\", O_WRONLY|O_CREAT, 0644)", ptmx.display()),
            "2 open",
            &r,
        );
        r.map_err(at("touch", &ptmx))?;
        // mount --bind /dev/pts/ptmx $ROOTFS/dev/pts/ptmx
        let inner = pts.join("ptmx");
        ns::do_mount("/dev/pts/ptmx", &inner, None, MsFlags::MS_BIND, None)
            .map_err(at("mount --bind", &inner))?;
        // ln -sf /dev/pts/ptmx $ROOTFS/dev/ptmx
        let r = std::fs::remove_file(&ptmx).map_err(|e| super::common::io_errno(&e));
        trace(|| format!("unlink(\"{}\")", ptmx.display()), "2 unlink", &r);
        super::common::symlink("/dev/pts/ptmx", &ptmx).map_err(at("ln -s", &ptmx))?;
    } else {
        ns::do_mount(
            "devpts",
            &pts,
            Some("devpts"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some(ns::DEVPTS_OPTIONS),
        )
        .map_err(at("mount -t devpts", &pts))?;
        super::common::symlink("pts/ptmx", &ptmx).map_err(at("ln -s", &ptmx))?;
    }
    // The host's devpts, kept open to look for pts/N there after the chroot.
    let host = std::fs::File::open("/dev/pts")
        .map_err(|e| SysError::on("open", "/dev/pts", super::common::io_errno(&e)))?;
    out.host_dev = host.metadata().map(|m| m.dev()).unwrap_or(0);
    ns::chroot(root).map_err(at("chroot", root))?;
    out.pts_dev = std::fs::metadata("/dev/pts").map(|m| m.dev()).unwrap_or(0);
    let (_master, n) =
        ns::open_ptmx(Path::new("/dev/ptmx")).map_err(at("open", Path::new("/dev/ptmx")))?;
    out.n = Some(n);
    out.in_host = nix::sys::stat::fstatat(
        &host,
        n.to_string().as_str(),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .is_ok();
    let slave = PathBuf::from(format!("/dev/pts/{n}"));
    out.slave_dev = Some(ns::open_slave(&slave).map_err(at("open", &slave))?);
    Ok(())
}

// ------------------------------------------------------------------ chroot escape

/// One attempt at the classic chroot escape, from inside the chroot.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EscapeOutcome {
    /// CapEff of the process that tried (from its /proc/self/status).
    pub cap_eff: String,
    /// The directory inside that it chrooted into first.
    pub dir: String,
    /// The call that failed, and its errno.
    pub failed_at: Option<(String, i32)>,
    /// st_dev and st_ino of "/" after the attempt.
    pub root_dev: u64,
    pub root_ino: u64,
    /// What "/" holds after the attempt.
    pub listing: Vec<String>,
}

fn cap_eff() -> String {
    super::procfs::status_field(super::procfs::Who::Me, "CapEff")
}

/// The classic escape, tried by a process already chrooted (PID 1 after the chroot
/// lesson, whose effective set still holds CAP_SYS_CHROOT until its exec):
/// chroot into a subdirectory (the working directory is now outside the root), climb
/// with chdir(".."), then chroot("."). With `as_after_exec`, CAP_SYS_CHROOT is first
/// taken from the permitted and effective sets, which is what the exec will do.
/// Nothing is written: the subdirectory is one that already exists.
pub fn escape(as_after_exec: bool) -> EscapeOutcome {
    let mut out = EscapeOutcome::default();
    if as_after_exec {
        use caps::{CapSet, Capability};
        for set in [CapSet::Effective, CapSet::Permitted] {
            let r = caps::drop(None, set, Capability::CAP_SYS_CHROOT).map_err(|_| Errno::EPERM);
            trace(
                || {
                    format!(
                        "capset({} -= CAP_SYS_CHROOT)",
                        format!("{set:?}").to_lowercase()
                    )
                },
                "7 capabilities",
                &r,
            );
        }
    }
    out.cap_eff = cap_eff();
    let dir = ["dev", "proc", "tmp", "bin", "etc"]
        .into_iter()
        .find(|d| std::fs::symlink_metadata(Path::new("/").join(d)).is_ok_and(|m| m.is_dir()))
        .unwrap_or(".");
    out.dir = dir.to_string();
    let r = nix::unistd::chroot(dir);
    trace(|| format!("chroot(\"{dir}\")"), "2 chroot", &r);
    if let Err(e) = r {
        out.failed_at = Some((format!("chroot(\"{dir}\")"), e as i32));
        return out;
    }
    // The working directory is the old root, now outside the new one: ".." is no
    // longer stopped by the process's root, and climbs to the real one.
    let mut r = Ok(());
    for _ in 0..64 {
        r = nix::unistd::chdir("..");
    }
    trace(|| "chdir(\"..\") ×64".into(), "2 chdir", &r);
    let r = nix::unistd::chroot(".");
    trace(|| "chroot(\".\")".into(), "2 chroot", &r);
    if let Err(e) = r {
        out.failed_at = Some(("chroot(\".\")".into(), e as i32));
        return out;
    }
    let _ = nix::unistd::chdir("/");
    if let Ok(m) = std::fs::metadata("/") {
        out.root_dev = m.dev();
        out.root_ino = m.ino();
    }
    let mut names: Vec<String> = std::fs::read_dir("/")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    out.listing = names;
    out
}

// ------------------------------------------------------------------ limits

/// Starts `/proc/self/exe __demo ARGS…` inside the cgroup: between fork and exec the
/// child writes "0" (itself) into every `cgroup.procs` given, as `cgexec` would, so
/// the program is charged to the cgroup from its first page. Its stdout is a pipe.
pub fn spawn_in_cgroup(args: &[String], procs: &[PathBuf]) -> Result<std::process::Child, Errno> {
    spawn_in(args, procs, std::process::Stdio::null())
}

/// [`spawn_in_cgroup`], with the child's stdin a pipe (to tell it when to go on).
pub fn spawn_in_cgroup_with_stdin(
    args: &[String],
    procs: &[PathBuf],
) -> Result<std::process::Child, Errno> {
    spawn_in(args, procs, std::process::Stdio::piped())
}

fn spawn_in(
    args: &[String],
    procs: &[PathBuf],
    stdin: std::process::Stdio,
) -> Result<std::process::Child, Errno> {
    use std::os::unix::process::CommandExt;
    let files: Vec<std::ffi::CString> = procs
        .iter()
        .map(|p| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap_or_default())
        .collect();
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.arg("__demo")
        .args(args)
        .stdin(stdin)
        .stdout(std::process::Stdio::piped());
    // SAFETY: between fork and exec only open, write, close and prctl are called, on
    // memory prepared before the fork; nothing is allocated.
    unsafe {
        cmd.pre_exec(move || {
            for f in &files {
                let fd = libc::open(f.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                let err = std::io::Error::last_os_error();
                libc::close(fd);
                if !ok {
                    return Err(err);
                }
            }
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            Ok(())
        });
    }
    let r = cmd.spawn().map_err(|e| super::common::io_errno(&e));
    if super::tracer::tracing() {
        for p in procs {
            super::tracer::trace_line(
                &format!(
                    "write(\"{}\", \"0\") = 0   (in the child, before its execve)",
                    p.display()
                ),
                "2 write",
            );
        }
    }
    super::tracer::trace_as(
        || {
            format!(
                "fork() + execve(\"/proc/self/exe\", [\"hako\", \"__demo\", {}])",
                args.iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        "2 execve",
        &r,
        |c| c.id().to_string(),
    );
    r
}

/// Reads a demo child's stdout until it closes or `limit` passes (then SIGKILL to
/// that child, by its PID), and reaps it.
pub fn finish_child(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> (String, std::process::ExitStatus) {
    let deadline = std::time::Instant::now() + limit;
    let mut out = vec![];
    if let Some(mut pipe) = child.stdout.take() {
        if !read_pipe(&mut pipe, deadline, &mut out, |_| false) {
            let _ = child.kill();
        }
    }
    let status = loop {
        match child.wait() {
            Ok(s) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => {
                let _ = child.kill();
            }
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), status)
}

/// This process's CPU time so far (user + system), in microseconds: getrusage(2).
pub fn cpu_time_us() -> u64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            let t =
                |tv: nix::sys::time::TimeVal| tv.tv_sec() as u64 * 1_000_000 + tv.tv_usec() as u64;
            t(u.user_time()) + t(u.system_time())
        })
        .unwrap_or(0)
}

// ------------------------------------------------------------------ pids

/// Children of the pids demonstration, each blocked in read(2) on a pipe until it is
/// released.
pub struct Held {
    pub children: Vec<nix::unistd::Pid>,
    release: Option<OwnedFd>,
}

/// fork(2) in a loop, at most `bound` times, until the kernel refuses; each child
/// blocks reading a pipe whose write end only this process holds. Returns the children
/// and the errno of the refused fork (`None` if `bound` forks all succeeded). The caller
/// must be single-threaded (`hako __demo forks` is).
pub fn fork_until_refused(bound: usize) -> Result<(Held, Option<Errno>), Errno> {
    let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe()?;
    let mut held = Held {
        children: vec![],
        release: Some(w),
    };
    let raw_r = r.as_raw_fd();
    let raw_w = held.release.as_ref().map(|w| w.as_raw_fd()).unwrap_or(-1);
    for _ in 0..bound {
        // SAFETY: single-threaded caller; the child only calls close, read and _exit,
        // which are async-signal-safe, on descriptors that existed before the fork.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => unsafe {
                libc::close(raw_w);
                let mut b = 0u8;
                // read(2) returns 0 (EOF) once every write end is closed.
                while libc::read(raw_r, (&mut b as *mut u8).cast(), 1) != 0 {
                    if *libc::__errno_location() != libc::EINTR {
                        break;
                    }
                }
                libc::_exit(0)
            },
            Ok(nix::unistd::ForkResult::Parent { child }) => held.children.push(child),
            Err(e) => return Ok((held, Some(e))),
        }
    }
    Ok((held, None))
}

/// Closes the pipe's write end (every child reads EOF and exits), then reaps each child
/// with waitpid(2); returns how many were reaped.
pub fn release(mut held: Held) -> usize {
    drop(held.release.take());
    let mut reaped = 0;
    for pid in &held.children {
        loop {
            match nix::sys::wait::waitpid(*pid, None) {
                Err(Errno::EINTR) => continue,
                Ok(_) => reaped += 1,
                Err(_) => {}
            }
            break;
        }
    }
    reaped
}

/// Tries to start one thread (clone(2) with CLONE_THREAD, through std): the errno
/// when the kernel refuses it, `None` when it ran.
pub fn thread_refused() -> Option<Errno> {
    match std::thread::Builder::new()
        .stack_size(64 << 10)
        .spawn(|| ())
    {
        Ok(h) => {
            let _ = h.join();
            None
        }
        Err(e) => Some(super::common::io_errno(&e)),
    }
}

/// Reads a demo child's stdout until a line `marker` arrives, the pipe closes or
/// `limit` passes (poll(2), then read(2)); returns what it read.
pub fn read_until(
    child: &mut std::process::Child,
    marker: &str,
    limit: std::time::Duration,
) -> String {
    let deadline = std::time::Instant::now() + limit;
    let mut out = vec![];
    if let Some(pipe) = child.stdout.as_mut() {
        let want = format!("{marker}\n");
        read_pipe(pipe, deadline, &mut out, |o| {
            String::from_utf8_lossy(o).contains(&want)
        });
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads `pipe` into `out` (poll(2), then read(2)) until `done(out)`, the pipe closes or
/// fails, or `deadline` passes; false only in that last case.
fn read_pipe(
    pipe: &mut std::process::ChildStdout,
    deadline: std::time::Instant,
    out: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> bool,
) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut buf = [0u8; 4096];
    while !done(out) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&*pipe),
            PollFlags::POLLIN,
        )];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Err(_) => break,
            Ok(_) => {}
        }
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
        }
    }
    true
}
