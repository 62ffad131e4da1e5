//! Short-lived probes a check makes from the host, whoever built the container.
//!
//! Most of a container can be read from outside (`/proc/PID/...`); two things only the
//! kernel's answer to a call can tell: what a name means in another namespace (the
//! hostname, the cgroup paths as the container sees them) and what a device does when
//! it is used. For the first, a thread of hako's joins one namespace of the container
//! (setns(2) moves only the calling thread; the UTS and cgroup namespaces may be joined
//! by one thread of a process with several) and ends with its answer, so that hako
//! itself never leaves the host's namespaces. For the second, the device is opened
//! through `/proc/PID/root` (proc(5)), which reaches the files of the container's mount
//! namespace: the same inode the container would open.

use super::tracer::{trace, trace_as};
pub use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Runs `f` on a thread that first joined the namespace `/proc/PID/ns/NAME` (`uts`
/// or `cgroup`), and returns its answer. The thread ends with `f`, taking its
/// namespace with it.
pub fn in_ns<T: Send + 'static>(
    pid: i32,
    name: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Errno> {
    let flag = match name {
        "uts" => CloneFlags::CLONE_NEWUTS,
        "cgroup" => CloneFlags::CLONE_NEWCGROUP,
        _ => return Err(Errno::EINVAL),
    };
    let path = format!("/proc/{pid}/ns/{name}");
    let h = std::thread::spawn(move || {
        let fd = std::fs::File::open(&path).map_err(|e| super::common::io_errno(&e))?;
        // setns(2): moves this thread only into the namespace behind the descriptor.
        let r = nix::sched::setns(&fd, flag);
        trace(
            || format!("setns(open(\"{path}\"), {flag:?})"),
            "2 setns",
            &r,
        );
        r?;
        Ok(f())
    });
    h.join().map_err(|_| Errno::EIO)?
}

/// The hostname in the UTS namespace of `pid` (uname(2) from a thread that joined it).
pub fn hostname_of(pid: i32) -> Result<String, Errno> {
    in_ns(pid, "uts", || {
        nix::sys::utsname::uname().map(|u| u.nodename().to_string_lossy().into_owned())
    })?
}

/// `/proc/PID/cgroup` as a process in `pid`'s cgroup namespace reads it (the paths
/// are relative to that namespace's root, cgroup_namespaces(7)).
pub fn cgroup_seen_from(pid: i32) -> Result<String, Errno> {
    in_ns(pid, "cgroup", move || {
        std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .map_err(|e| super::common::io_errno(&e))
    })?
}

/// A file of the container, found as a process rooted in it would find it.
#[derive(Debug)]
pub struct InRoot(OwnedFd);

impl InRoot {
    /// The path that reopens it (`/proc/self/fd/N`, proc(5)): the same inode on the
    /// same mount, whatever the name.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.0.as_raw_fd()))
    }
}

/// `rel`, looked up with `root` as `/`: openat2(2) with `RESOLVE_IN_ROOT` (absolute
/// links and `..` stay under it, as after chroot), as `O_PATH` (which opens nothing:
/// no device driver runs, no FIFO waits).
pub fn find_in_root(root: &Path, rel: &str) -> Result<InRoot, Errno> {
    // open(2) of the root itself, as a directory to look up from.
    let dir = nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT);
    let rel = rel.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let r = nix::fcntl::openat2(dir.as_fd(), rel, how);
    trace(
        || {
            format!(
                "openat2(\"{}\", \"{rel}\", O_PATH, RESOLVE_IN_ROOT)",
                root.display()
            )
        },
        "2 openat2",
        &r,
    );
    r.map(InRoot)
}

/// A pty opened through the container's `/dev/ptmx` (looked up under `root` as the
/// container would, so `pts/ptmx` and `/dev/pts/ptmx` both mean its own instance):
/// its number N, the st_dev of its slave `dev/pts/N`, and the st_dev of `dev/pts`.
pub fn pty_in_root(root: &Path) -> Result<(u32, u64, u64), Errno> {
    let ptmx = find_in_root(root, "dev/ptmx")?;
    let (_master, n) = super::ns::open_ptmx(&ptmx.path())?;
    let slave = find_in_root(root, &format!("dev/pts/{n}"))?;
    let dev = super::ns::open_slave(&slave.path())?;
    let pts = find_in_root(root, "dev/pts")?;
    let pts_dev = nix::sys::stat::fstat(pts.0.as_fd())?.st_dev;
    Ok((n, dev, pts_dev))
}

/// The device (`st_dev`) of the file `rel` names under `root`, looked up as a process
/// rooted there would (fstat(2) of the descriptor `find_in_root` opened). For the
/// container's `dev/ptmx`: a ptmx node that lies on a devpts opens ptys in that devpts
/// instance, so a node on the host's devpts (a bind of the host's `/dev/pts/ptmx`)
/// makes them in the host's.
pub fn dev_in_root(root: &Path, rel: &str) -> Result<u64, Errno> {
    let f = find_in_root(root, rel)?;
    Ok(nix::sys::stat::fstat(f.0.as_fd())?.st_dev)
}

/// What a device node did when used: its type and number, and one write and one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceUse {
    pub is_char: bool,
    pub major: u64,
    pub minor: u64,
    /// Bytes write(2) took of four.
    pub wrote: usize,
    /// Bytes read(2) gave back (0 is end of file).
    pub read: usize,
}

/// stat(2) of `path`, then open(2) it for reading and writing, write four bytes and
/// read once. Only a character device is opened (anything else is described, not used).
pub fn use_device(path: &Path) -> Result<DeviceUse, Errno> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::metadata(path).map_err(|e| super::common::io_errno(&e))?;
    let mut seen = DeviceUse {
        is_char: m.file_type().is_char_device(),
        major: nix::sys::stat::major(m.rdev()),
        minor: nix::sys::stat::minor(m.rdev()),
        wrote: 0,
        read: usize::MAX,
    };
    if !seen.is_char {
        return Ok(seen);
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| super::common::io_errno(&e))?;
    seen.wrote = f.write(b"hako").unwrap_or(0);
    let mut buf = [0u8; 16];
    seen.read = f.read(&mut buf).unwrap_or(usize::MAX);
    Ok(seen)
}

/// At most `limit` bytes of `path` (a masked file gives none; an unmasked one such as
/// /proc/kcore must not be read whole).
pub fn read_some(path: &Path, limit: u64) -> Result<u64, Errno> {
    let r = std::fs::File::open(path).and_then(|f| {
        let mut buf = vec![];
        f.take(limit).read_to_end(&mut buf).map(|n| n as u64)
    });
    let r = r.map_err(|e| super::common::io_errno(&e));
    trace_as(
        || format!("read(\"{}\", {limit})", path.display()),
        "2 read",
        &r,
        |n| format!("{n} bytes"),
    );
    r
}

/// open(2) of `path` for writing, then close, without writing anything.
pub fn open_for_write(path: &Path) -> Result<(), Errno> {
    let r = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map(|_| ())
        .map_err(|e| super::common::io_errno(&e));
    trace(
        || format!("open(\"{}\", O_WRONLY)", path.display()),
        "2 open",
        &r,
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_null_swallows_and_gives_nothing() {
        let u = use_device(Path::new("/dev/null")).unwrap();
        assert_eq!((u.is_char, u.major, u.minor), (true, 1, 3));
        assert_eq!((u.wrote, u.read), (4, 0));
    }

    #[test]
    fn a_regular_file_is_described_not_used() {
        let dir = std::env::temp_dir().join(format!("hako-probe-{}", std::process::id()));
        std::fs::write(&dir, b"x").unwrap();
        let u = use_device(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert!(!u.is_char);
        assert_eq!(u.wrote, 0);
    }

    #[test]
    fn reads_are_bounded() {
        assert_eq!(read_some(Path::new("/dev/zero"), 100).unwrap(), 100);
        assert_eq!(read_some(Path::new("/dev/null"), 100).unwrap(), 0);
        assert_eq!(
            read_some(Path::new("/nonexistent-hako"), 1),
            Err(Errno::ENOENT)
        );
    }

    #[test]
    fn lookups_stay_under_the_root() {
        let root = std::env::temp_dir().join(format!("hako-inroot-{}", std::process::id()));
        std::fs::create_dir_all(root.join("dev")).unwrap();
        std::os::unix::fs::symlink("/dev/null", root.join("dev/abs")).unwrap();
        std::fs::write(root.join("dev/null"), b"").unwrap();
        // The absolute link means the root's /dev/null (a plain file here), not the host's.
        let u = use_device(&find_in_root(&root, "/dev/abs").unwrap().path()).unwrap();
        assert!(!u.is_char);
        let missing = find_in_root(&root, "../../etc/passwd").unwrap_err();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(missing, Errno::ENOENT);
    }

    #[test]
    fn only_uts_and_cgroup_are_joined_by_a_thread() {
        assert_eq!(in_ns(1, "mnt", || ()), Err(Errno::EINVAL));
    }
}
