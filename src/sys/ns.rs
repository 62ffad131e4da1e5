//! What the agent does to become the container: unshare(2), mount(2), sethostname(2),
//! chroot(2), the capability drop, close_range(2), execve(2). Each function names its
//! man page and says why it is done the way it is.
#![allow(unsafe_code)]

use super::error::SysError;
use super::tracer::{trace, trace_as};
use nix::errno::Errno;
use nix::mount::mount;
pub use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use std::ffi::CString;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

/// The namespaces of `unshare -muinp`: mount, UTS, IPC, network, PID.
pub fn unshare_flags() -> CloneFlags {
    CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWPID
}

/// unshare(2). The caller enters the new mount, UTS, IPC and network namespaces at
/// once; CLONE_NEWPID only decides where its *children* go, so a fork follows.
pub fn unshare() -> Result<(), Errno> {
    let r = nix::sched::unshare(unshare_flags());
    trace(
        || "unshare(CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWNET|CLONE_NEWPID)".into(),
        "2 unshare",
        &r,
    );
    r
}

/// mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL): what `unshare(1)` does silently.
/// Without it, a host whose / is shared (systemd makes it so) would see every mount
/// made in the new namespace propagate back to it.
pub fn make_rprivate() -> Result<(), Errno> {
    let r = mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    );
    trace(
        || "mount(NULL, \"/\", NULL, MS_REC|MS_PRIVATE, NULL)".into(),
        "2 mount",
        &r,
    );
    r
}

/// fork(2). In the parent it returns the child's PID as the host sees it; in the
/// child (PID 1 of the new PID namespace) it returns 0.
pub fn fork() -> Result<Option<i32>, Errno> {
    // SAFETY: the agent is single-threaded (a fresh process that started no thread),
    // so the child may do anything the parent could.
    let r = match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Some(child.as_raw())),
        Ok(nix::unistd::ForkResult::Child) => return Ok(None),
        Err(e) => Err(e),
    };
    // Only the parent speaks: two processes writing the same line would interleave.
    trace_as(
        || "fork()".into(),
        "2 fork",
        &r,
        |p| p.map(|p| p.to_string()).unwrap_or_default(),
    );
    r
}

/// prctl(PR_SET_PDEATHSIG, SIGKILL): die with the parent (thread). Returns false when
/// the parent is already gone (the signal would never come).
pub fn die_with_parent(expected_parent: i32) -> bool {
    // SAFETY: prctl with integer arguments.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    let res = if r == 0 { Ok(()) } else { Err(Errno::last()) };
    trace(
        || "prctl(PR_SET_PDEATHSIG, SIGKILL)".into(),
        "2 prctl",
        &res,
    );
    r == 0 && nix::unistd::getppid().as_raw() == expected_parent
}

/// The options of the container's devpts (devpts(5)): an instance of its own
/// (`newinstance`), a `ptmx` anyone may open (`ptmxmode=0666`: the default 0000 makes
/// every openpty fail), and new terminals readable by their owner's group only.
pub const DEVPTS_OPTIONS: &str = "newinstance,ptmxmode=0666,mode=0620";

/// mount(2), traced, with the options as a string.
pub fn do_mount(
    source: &str,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), Errno> {
    let r = mount(Some(source), target, fstype, flags, data);
    trace(
        || {
            format!(
                "mount(\"{source}\", \"{}\", {}, {}, {})",
                target.display(),
                fstype.map(|f| format!("\"{f}\"")).unwrap_or("NULL".into()),
                flag_names(flags),
                data.map(|d| format!("\"{d}\"")).unwrap_or("NULL".into())
            )
        },
        "2 mount",
        &r,
    );
    r
}

/// MS_* flags as C writes them: `MS_NOSUID|MS_NOEXEC`, or `0`.
pub fn flag_names(flags: MsFlags) -> String {
    if flags.is_empty() {
        return "0".into();
    }
    flags
        .iter_names()
        .map(|(n, _)| n)
        .collect::<Vec<_>>()
        .join("|")
}

/// Creates `rel` (a relative path) inside `root` as a directory (or, with `file`, an
/// empty file), refusing to go through a symlink: a rootfs is data hako does not trust,
/// and `dev -> /` must not lead a mount point onto the host. Returns what it created;
/// an error names the call (`mkdir`, or `open` for the file) and the path it stopped at.
pub fn make_inside(root: &Path, rel: &str, file: bool) -> Result<Vec<PathBuf>, SysError> {
    let mut cur = root.to_path_buf();
    let mut made = vec![];
    let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        cur.push(part);
        let last = i + 1 == parts.len();
        let call = if last && file { "open" } else { "mkdir" };
        let failed = |e: Errno, p: &Path| SysError::on(call, p.display().to_string(), e);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => return Err(failed(Errno::ELOOP, &cur)),
            Ok(m) if !last && !m.is_dir() => return Err(failed(Errno::ENOTDIR, &cur)),
            Ok(_) => {}
            Err(_) => {
                let r = if last && file {
                    let r = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&cur)
                        .map(|_| ())
                        .map_err(|e| super::common::io_errno(&e));
                    trace(
                        || format!("open(\"{}\", O_WRONLY|O_CREAT|O_EXCL, 0644)", cur.display()),
                        "2 open",
                        &r,
                    );
                    r
                } else {
                    let r = std::fs::create_dir(&cur).map_err(|e| super::common::io_errno(&e));
                    trace(
                        || format!("mkdir(\"{}\", 0777)", cur.display()),
                        "2 mkdir",
                        &r,
                    );
                    r
                };
                r.map_err(|e| failed(e, &cur))?;
                made.push(cur.clone());
            }
        }
    }
    Ok(made)
}

/// Opens `rel` inside `root` one component at a time with O_PATH|O_NOFOLLOW, so that no
/// symlink in the (untrusted) rootfs can send it elsewhere, and returns the fd. A mount
/// onto `/proc/self/fd/N` then lands on exactly that directory or file (what runc does).
/// An error names the call and the path it stopped at (`..` is refused with EXDEV, a
/// symlink with ELOOP).
pub fn open_inside(root: &Path, rel: &str) -> Result<std::os::fd::OwnedFd, SysError> {
    use nix::fcntl::{open, openat, OFlag};
    use nix::sys::stat::{fstat, Mode, SFlag};
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    const OPEN: &str = "open(O_PATH|O_NOFOLLOW)";
    let failed = |call: &str, e: Errno, p: &Path| SysError::on(call, p.display().to_string(), e);
    let mut cur =
        open(root, flags | OFlag::O_DIRECTORY, Mode::empty()).map_err(|e| failed(OPEN, e, root))?;
    let mut shown = root.to_path_buf();
    for part in rel.split('/').filter(|s| !s.is_empty() && *s != ".") {
        shown.push(part);
        if part == ".." {
            return Err(failed(OPEN, Errno::EXDEV, &shown));
        }
        let next = openat(&cur, part, flags, Mode::empty()).map_err(|e| failed(OPEN, e, &shown))?;
        let st = fstat(&next).map_err(|e| failed("fstat", e, &shown))?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK {
            return Err(failed(OPEN, Errno::ELOOP, &shown));
        }
        cur = next;
    }
    Ok(cur)
}

/// mount(2) onto a path inside the rootfs, through an fd from [`open_inside`]. An error
/// names the call (`mount`, or the open before it) and the path inside the rootfs.
pub fn mount_inside(
    source: &str,
    root: &Path,
    rel: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), SysError> {
    use std::os::fd::AsRawFd;
    let fd = open_inside(root, rel)?;
    let shown = root.join(rel);
    let target = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let r = mount(Some(source), &target, fstype, flags, data);
    trace(
        || {
            format!(
                "mount(\"{source}\", \"{}\", {}, {}, {}) /* fd {}: {}, opened with O_PATH|O_NOFOLLOW */",
                target.display(),
                fstype.map(|f| format!("\"{f}\"")).unwrap_or("NULL".into()),
                flag_names(flags),
                data.map(|d| format!("\"{d}\"")).unwrap_or("NULL".into()),
                fd.as_raw_fd(),
                shown.display(),
            )
        },
        "2 mount",
        &r,
    );
    r.map_err(|e| SysError::on("mount", shown.display().to_string(), e))
}

/// sethostname(2): only the new UTS namespace sees it.
pub fn sethostname(name: &str) -> Result<(), Errno> {
    let r = nix::unistd::sethostname(name);
    trace(
        || format!("sethostname(\"{name}\", {})", name.len()),
        "2 sethostname",
        &r,
    );
    r
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// chroot(2) + chdir("/"): chroot alone leaves the working directory outside.
pub fn chroot(root: &Path) -> Result<(), Errno> {
    let r = nix::unistd::chroot(root);
    trace(|| format!("chroot(\"{}\")", root.display()), "2 chroot", &r);
    r?;
    let r = nix::unistd::chdir("/");
    trace(|| "chdir(\"/\")".into(), "2 chdir", &r);
    r
}

/// Drops CAP_SYS_CHROOT from the bounding set (prctl PR_CAPBSET_DROP, what capsh
/// --drop does) and from the inheritable and ambient sets: for root, execve(2) gives
/// (inheritable | bounding) plus ambient, so either would bring it back. The current
/// effective set keeps it until the exec.
pub fn drop_sys_chroot() -> Result<(), Errno> {
    use caps::{CapSet, Capability};
    let c = Capability::CAP_SYS_CHROOT;
    let mut r: Result<(), Errno> = Ok(());
    for (set, name) in [
        (CapSet::Bounding, "prctl(PR_CAPBSET_DROP, CAP_SYS_CHROOT)"),
        (CapSet::Inheritable, "capset(inheritable -= CAP_SYS_CHROOT)"),
        (
            CapSet::Ambient,
            "prctl(PR_CAP_AMBIENT_LOWER, CAP_SYS_CHROOT)",
        ),
    ] {
        let one = caps::drop(None, set, c).map_err(|_| Errno::last());
        trace(|| name.into(), "7 capabilities", &one);
        if r.is_ok() {
            r = one;
        }
    }
    r
}

/// close_range(2): every descriptor but 0, 1, 2 and `keep` (which is close-on-exec).
/// An inherited directory fd is a way out of a chroot (fchdir to it).
pub fn close_all_but_stdio(keep: RawFd) {
    // SAFETY: closing descriptors this process owns; nothing else refers to them.
    unsafe {
        if keep > 3 {
            libc::close_range(3, (keep - 1) as libc::c_uint, 0);
        }
        libc::close_range((keep.max(2) + 1) as libc::c_uint, libc::c_uint::MAX, 0);
    }
    if super::tracer::tracing() {
        super::tracer::trace_line(
            &format!("close_range(3, ~0U, 0) (but fd {keep}, close-on-exec) = 0"),
            "2 close_range",
        );
    }
}

/// execve(2). Returns only on failure.
pub fn execve(path: &str, argv: &[String], env: &[(String, String)]) -> Errno {
    let to_c = |s: &str| CString::new(s).unwrap_or_default();
    let p = to_c(path);
    let a: Vec<CString> = argv.iter().map(|s| to_c(s)).collect();
    let e: Vec<CString> = env.iter().map(|(k, v)| to_c(&format!("{k}={v}"))).collect();
    match nix::unistd::execve(&p, &a, &e) {
        Err(e) => {
            // On success there is no one left to print the line: the guide prints it
            // when it sees the exec stop (ptrace).
            trace(|| exec_call(path, argv), "2 execve", &Err::<(), _>(e));
            e
        }
        Ok(never) => match never {},
    }
}

/// `execve("/bin/sh", ["/bin/sh"], envp)`, as a trace line shows it.
pub fn exec_call(path: &str, argv: &[String]) -> String {
    let args: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    format!("execve({path:?}, [{}], envp)", args.join(", "))
}

/// What openpty(3) does first: open(ptmx), ioctl(TIOCGPTN) for the number N the
/// kernel reserved, ioctl(TIOCSPTLCK, 0) to unlock the pair. Traced.
pub fn open_ptmx(ptmx: &Path) -> Result<(std::fs::File, u32), Errno> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(ptmx)
        .map_err(|e| super::common::io_errno(&e));
    trace_as(
        || format!("open(\"{}\", O_RDWR|O_NOCTTY)", ptmx.display()),
        "4 pts",
        &f,
        |f| f.as_raw_fd().to_string(),
    );
    let f = f?;
    let mut n: libc::c_uint = 0;
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCGPTN writes one unsigned int; TIOCSPTLCK reads one int.
    let r = match unsafe { libc::ioctl(f.as_raw_fd(), libc::TIOCGPTN, &mut n) } {
        0 => Ok(n),
        _ => Err(Errno::last()),
    };
    trace_as(
        || format!("ioctl({}, TIOCGPTN)", f.as_raw_fd()),
        "2 ioctl_tty",
        &r,
        |n| format!("0 (N = {n})"),
    );
    r?;
    // SAFETY: as above.
    let r = match unsafe { libc::ioctl(f.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    };
    trace(
        || format!("ioctl({}, TIOCSPTLCK, 0)", f.as_raw_fd()),
        "2 ioctl_tty",
        &r,
    );
    r?;
    Ok((f, n))
}

/// What openpty(3) does next: open the name "/dev/pts/N". Returns the node's st_dev.
pub fn open_slave(path: &Path) -> Result<u64, Errno> {
    use std::os::unix::fs::MetadataExt;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path)
        .map_err(|e| super::common::io_errno(&e));
    trace(
        || format!("open(\"{}\", O_RDWR|O_NOCTTY)", path.display()),
        "4 pts",
        &slave,
    );
    Ok(slave?
        .metadata()
        .map_err(|e| super::common::io_errno(&e))?
        .dev())
}

use std::os::unix::fs::OpenOptionsExt;

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sys::common::scratch;

    #[test]
    fn making_inside_names_the_call_and_the_path_it_stopped_at() {
        let root = scratch("make");
        let made = make_inside(&root, "dev/null", true).unwrap();
        assert_eq!(made, vec![root.join("dev"), root.join("dev/null")]);
        assert!(root.join("dev/null").is_file());
        std::os::unix::fs::symlink("/", root.join("proc")).unwrap();
        let e = make_inside(&root, "proc/x", false).unwrap_err();
        assert_eq!((e.call.as_str(), e.errno), ("mkdir", Errno::ELOOP));
        assert_eq!(e.place(), root.join("proc").display().to_string());
        let e = make_inside(&root, "dev/null/x", false).unwrap_err();
        assert_eq!(e.errno, Errno::ENOTDIR);
        assert_eq!(e.place(), root.join("dev/null").display().to_string());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn opening_inside_refuses_a_link_and_dot_dot() {
        let root = scratch("open");
        std::fs::create_dir(root.join("dev")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        assert!(open_inside(&root, "dev").is_ok());
        let e = open_inside(&root, "etc").unwrap_err();
        assert_eq!(e.errno, Errno::ELOOP);
        assert_eq!(e.place(), root.join("etc").display().to_string());
        let e = open_inside(&root, "dev/../..").unwrap_err();
        assert_eq!(e.errno, Errno::EXDEV);
        let e = open_inside(&root, "nope").unwrap_err();
        assert_eq!(
            (e.call.as_str(), e.errno),
            ("open(O_PATH|O_NOFOLLOW)", Errno::ENOENT)
        );
        assert_eq!(e.place(), root.join("nope").display().to_string());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
