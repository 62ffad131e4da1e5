//! Removing what hako made, through descriptors. A path is never handed to the kernel
//! whole: each directory on the way is opened with `O_NOFOLLOW|O_DIRECTORY` inside the
//! one before, each name is looked at with `statx(AT_SYMLINK_NOFOLLOW)` before it is
//! removed with `unlinkat`, a directory that is the root of a mount (or on another
//! device) is never entered, and the top of what is removed must still be the very
//! file hako created (its device and inode number, recorded when it was made).
//!
//! Why: a `dir:` rootfs belongs to someone else, who may swap `dev` for a symbolic
//! link to a host directory while the container runs; a journal may be crafted; a
//! mount may be left inside a tree. Removing by path would follow all of them.
#![allow(unsafe_code)]

use super::at::DirFd;
use nix::errno::Errno;
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

pub type R<T> = Result<T, Errno>;

/// What names a file for as long as it exists: its device and inode number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Id {
    pub dev: u64,
    pub ino: u64,
}

/// What `statx` says about one name.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub id: Id,
    /// `S_IFMT` bits of the mode.
    pub kind: u32,
    pub size: u64,
    pub uid: u32,
    pub mode: u32,
    /// The name is the root of a mount (`STATX_ATTR_MOUNT_ROOT`).
    pub mount_root: bool,
    /// The mount the name lives on (`STATX_MNT_ID`), when the kernel says.
    pub mnt_id: Option<u64>,
}

impl Meta {
    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.kind == libc::S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.kind == libc::S_IFLNK
    }
}

/// statx(2) of `name` in `dir` (or of `dir` itself when `name` is empty), never
/// following a link and never triggering an automount.
pub fn statx_at(dir: BorrowedFd<'_>, name: &[u8]) -> R<Meta> {
    let c = CString::new(name).map_err(|_| Errno::EINVAL)?;
    let mut flags = libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT;
    if name.is_empty() {
        flags |= libc::AT_EMPTY_PATH;
    }
    let mut sx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // statx(2): fills the buffer for the name relative to the open directory.
    let r = unsafe {
        libc::statx(
            dir.as_raw_fd(),
            c.as_ptr(),
            flags,
            libc::STATX_TYPE
                | libc::STATX_MODE
                | libc::STATX_INO
                | libc::STATX_SIZE
                | libc::STATX_UID
                | libc::STATX_MNT_ID,
            sx.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(Errno::last());
    }
    // SAFETY of the read: the kernel filled the structure (r == 0); it started zeroed.
    let sx = unsafe { sx.assume_init() };
    let attr = libc::STATX_ATTR_MOUNT_ROOT as u64;
    Ok(Meta {
        id: Id {
            dev: libc::makedev(sx.stx_dev_major, sx.stx_dev_minor),
            ino: sx.stx_ino,
        },
        kind: u32::from(sx.stx_mode) & libc::S_IFMT,
        size: sx.stx_size,
        uid: sx.stx_uid,
        mode: u32::from(sx.stx_mode) & 0o7777,
        mount_root: sx.stx_attributes_mask & attr != 0 && sx.stx_attributes & attr != 0,
        mnt_id: (sx.stx_mask & libc::STATX_MNT_ID != 0).then_some(sx.stx_mnt_id),
    })
}

/// The identity of `path` itself (a link at the end is not followed).
pub fn id_of(path: &Path) -> Option<Id> {
    let (dir, name) = open_parent(path).ok()?;
    statx_at(dir.fd(), &name).ok().map(|m| m.id)
}

/// The directory holding `path` (reached as the path says: it is hako's own choice,
/// the temp dir or the `dir:` rootfs the learner named) and the last name.
fn open_parent(path: &Path) -> R<(DirFd, Vec<u8>)> {
    let name = path.file_name().ok_or(Errno::EINVAL)?;
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(Errno::EINVAL);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((DirFd::open(parent)?, name.as_bytes().to_vec()))
}

/// Whether `m` is still on the same mount as `top` (and not the root of another).
fn same_mount(top: &Meta, m: &Meta) -> bool {
    if m.mount_root || m.id.dev != top.id.dev {
        return false;
    }
    match (top.mnt_id, m.mnt_id) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// The mount points that lie strictly under `top` in this process's mount table,
/// deepest first.
pub fn mounts_under(top: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = super::mountinfo::read(None)
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| p != top && p.starts_with(top))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v.dedup();
    v
}

/// umount2(2) with MNT_DETACH of every mount under `top`, deepest first (a mount the
/// walk left, or one that was never hako's: either way it is not removed through).
/// Returns how many were detached.
pub fn unmount_under(top: &Path) -> usize {
    let mut n = 0;
    // A mount may hide another on the same point: repeat until none is left (bounded).
    for _ in 0..8 {
        let points = mounts_under(top);
        if points.is_empty() {
            break;
        }
        for p in &points {
            make_private(p);
        }
        for p in points {
            // umount2(2): detach the mount now, the kernel frees it once unused.
            if nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH).is_ok() {
                n += 1;
            }
        }
    }
    n
}

/// mount(2) with `MS_PRIVATE | MS_REC` on the mount at `p` (reached without following a
/// symbolic link anywhere on the way: openat2(2) `RESOLVE_NO_SYMLINKS`, then the
/// descriptor's `/proc/self/fd/N`): it and every mount under it leave their peer groups.
/// A bind of a shared `/` made under the rootfs (`mount --bind / $ROOTFS/x` on a systemd
/// host) is a peer of the host's `/`; detaching what lies under it while it is still one
/// would propagate to the host's own mounts at the same places (/proc, /sys…).
fn make_private(p: &Path) {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    let Ok(fd) = nix::fcntl::openat2(nix::fcntl::AT_FDCWD, p, how) else {
        return;
    };
    let magic = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let r = nix::mount::mount(
        None::<&str>,
        magic.as_str(),
        None::<&str>,
        nix::mount::MsFlags::MS_PRIVATE | nix::mount::MsFlags::MS_REC,
        None::<&str>,
    );
    super::tracer::trace(
        || format!("mount(NULL, \"{}\", NULL, MS_PRIVATE|MS_REC)", p.display()),
        "2 mount",
        &r,
    );
}

/// The identity of the program process `pid` runs (`/proc/PID/exe`, followed: stat(2)
/// of that magic link names the executable even when it was deleted since).
pub fn exe_id(pid: i32) -> Option<Id> {
    nix::sys::stat::stat(format!("/proc/{pid}/exe").as_str())
        .ok()
        .map(|s| Id {
            dev: s.st_dev,
            ino: s.st_ino,
        })
}

/// Opens the directory `path`, its last name without following a link, and says what
/// it is (fstat through the descriptor).
pub fn open_dir_nofollow(path: &Path) -> R<(DirFd, Meta)> {
    let (parent, name) = open_parent(path)?;
    let d = parent.sub(name.as_slice())?;
    let m = statx_at(d.fd(), b"")?;
    Ok((d, m))
}

/// Opens `name` in `dir` for reading, never through a link, never blocking on a FIFO,
/// never as a controlling terminal; says what it is through the descriptor.
pub fn open_read_at(dir: &DirFd, name: &[u8]) -> R<(std::fs::File, Meta)> {
    use nix::fcntl::OFlag;
    // openat(2)
    let fd = nix::fcntl::openat(
        dir.fd(),
        name,
        OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let f = std::fs::File::from(fd);
    use std::os::fd::AsFd;
    let m = statx_at(f.as_fd(), b"")?;
    Ok((f, m))
}

/// Why a removal stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The name is gone already.
    Gone,
    /// Another file stands at the path now (its device and inode are not the recorded ones).
    Changed,
    /// A directory on the way is a symbolic link, not a directory, or another mount.
    Path(Errno),
    /// Something inside is the root of a mount, or on another device: not entered.
    Mount(PathBuf),
    /// The kernel refused.
    Errno(Errno),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::ui::i18n::{t, tf};
        match self {
            Refusal::Gone => write!(f, "{}", t("tree.gone")),
            Refusal::Changed => write!(f, "{}", t("tree.changed")),
            Refusal::Path(e) => write!(f, "{}", tf("tree.path", &[("errno", e)])),
            Refusal::Mount(p) => write!(
                f,
                "{}",
                tf(
                    "tree.mount",
                    &[("path", &crate::ui::sanitize::clean_path(p))]
                )
            ),
            Refusal::Errno(e) => write!(f, "{e}: {}", e.desc()),
        }
    }
}

/// `rm -rf path`, by descriptor: only when `path` is a directory whose identity is
/// `expect` (when one was recorded); what is mounted under it is detached first; a
/// link inside is removed, never followed; a mount inside is never entered.
pub fn remove_tree(path: &Path, expect: Option<Id>) -> Result<(), Refusal> {
    let (parent, name) = open_parent(path).map_err(Refusal::Path)?;
    let m = match statx_at(parent.fd(), &name) {
        Err(Errno::ENOENT) => return Err(Refusal::Gone),
        Err(e) => return Err(Refusal::Errno(e)),
        Ok(m) => m,
    };
    if !m.is_dir() || expect.is_some_and(|e| e != m.id) {
        return Err(Refusal::Changed);
    }
    unmount_under(path);
    let top = parent.sub(name.as_slice()).map_err(Refusal::Path)?;
    let t = statx_at(top.fd(), b"").map_err(Refusal::Errno)?;
    if t.id != m.id {
        return Err(Refusal::Changed);
    }
    empty(&top, &t, path)?;
    drop(top);
    parent.rmdir(name.as_slice()).map_err(Refusal::Errno)
}

/// Removes everything inside the open directory `dir`, staying on `top`'s mount.
fn empty(dir: &DirFd, top: &Meta, shown: &Path) -> Result<(), Refusal> {
    let mut first_err = None;
    for n in dir.names().map_err(Refusal::Errno)? {
        let r = remove_one(dir, &n, top, &shown.join(std::ffi::OsStr::from_bytes(&n)));
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

fn remove_one(dir: &DirFd, name: &[u8], top: &Meta, shown: &Path) -> Result<(), Refusal> {
    let m = match statx_at(dir.fd(), name) {
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Refusal::Errno(e)),
        Ok(m) => m,
    };
    if !m.is_dir() {
        // A file, a link (the link itself), a device node, a socket: unlinkat(2).
        return match dir.unlink(name) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(Refusal::Errno(e)),
        };
    }
    if !same_mount(top, &m) {
        return Err(Refusal::Mount(shown.to_path_buf()));
    }
    let sub = dir.sub(name).map_err(Refusal::Path)?;
    let s = statx_at(sub.fd(), b"").map_err(Refusal::Errno)?;
    if s.id != m.id || !same_mount(top, &s) {
        // Swapped between the look and the open: leave it.
        return Err(Refusal::Mount(shown.to_path_buf()));
    }
    empty(&sub, top, shown)?;
    drop(sub);
    dir.rmdir(name).map_err(Refusal::Errno)
}

/// Removes `rel` inside the directory `under` (a `dir:` rootfs): each directory on the
/// way is opened without following links and must be on `under`'s mount; the last name
/// must be `expect` when recorded, and in any case an empty directory, an empty file
/// or the link `pts/ptmx` (what hako makes). `under_id`, when recorded, must still be
/// the rootfs's identity.
pub fn remove_added(
    under: &Path,
    under_id: Option<Id>,
    rel: &Path,
    expect: Option<Id>,
) -> Result<(), Refusal> {
    let names: Vec<&[u8]> = rel
        .components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n.as_bytes()),
            _ => Err(Refusal::Path(Errno::EINVAL)),
        })
        .collect::<Result<_, _>>()?;
    let Some((last, dirs)) = names.split_last() else {
        return Err(Refusal::Path(Errno::EINVAL));
    };
    let (parent, name) = open_parent(under).map_err(Refusal::Path)?;
    let root = parent.sub(name.as_slice()).map_err(Refusal::Path)?;
    let top = statx_at(root.fd(), b"").map_err(Refusal::Errno)?;
    if under_id.is_some_and(|i| i != top.id) {
        return Err(Refusal::Changed);
    }
    let mut dir = root;
    for d in dirs {
        let next = match dir.sub(*d) {
            Err(Errno::ENOENT) => return Err(Refusal::Gone),
            Err(e) => return Err(Refusal::Path(e)),
            Ok(n) => n,
        };
        let m = statx_at(next.fd(), b"").map_err(Refusal::Errno)?;
        if !same_mount(&top, &m) {
            return Err(Refusal::Path(Errno::EXDEV));
        }
        dir = next;
    }
    let m = match statx_at(dir.fd(), last) {
        Err(Errno::ENOENT) => return Err(Refusal::Gone),
        Err(e) => return Err(Refusal::Errno(e)),
        Ok(m) => m,
    };
    if expect.is_some_and(|e| e != m.id) || !same_mount(&top, &m) {
        return Err(Refusal::Changed);
    }
    if m.is_dir() {
        // rmdir removes only an empty directory: nothing the owner put there goes.
        dir.rmdir(*last).map_err(Refusal::Errno)
    } else if (m.is_file() && m.size == 0)
        || (m.is_symlink() && dir.readlink(*last).is_ok_and(|t| t == b"pts/ptmx"))
    {
        dir.unlink(*last).map_err(Refusal::Errno)
    } else {
        Err(Refusal::Changed)
    }
}

/// `dir/name`, `name` a directory entry's bytes as getdents64(2) gave them (any bytes
/// but `/` and NUL, not necessarily UTF-8).
pub fn child_path(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(std::ffi::OsStr::from_bytes(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sys::common::scratch;

    #[test]
    fn removes_a_tree_but_not_through_a_link() {
        let base = scratch("link");
        let outside = base.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), "x").unwrap();
        let t = base.join("tree");
        std::fs::create_dir_all(t.join("a/b")).unwrap();
        std::fs::write(t.join("a/b/f"), "y").unwrap();
        std::os::unix::fs::symlink(&outside, t.join("a/link")).unwrap();
        let id = id_of(&t).unwrap();
        remove_tree(&t, Some(id)).unwrap();
        assert!(!t.exists());
        assert!(outside.join("keep").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_changed_top_is_left_alone() {
        let base = scratch("changed");
        let t = base.join("tree");
        std::fs::create_dir_all(&t).unwrap();
        let id = id_of(&t).unwrap();
        std::fs::remove_dir(&t).unwrap();
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(t.join("f"), "x").unwrap();
        // Same path, another directory (a new inode, or at least not provably ours).
        if id_of(&t) != Some(id) {
            assert_eq!(remove_tree(&t, Some(id)), Err(Refusal::Changed));
            assert!(t.join("f").exists());
        }
        assert_eq!(remove_tree(&base.join("none"), None), Err(Refusal::Gone));
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn an_addition_behind_a_swapped_link_is_not_removed() {
        let base = scratch("added");
        let root = base.join("root");
        let host = base.join("host");
        std::fs::create_dir_all(root.join("dev")).unwrap();
        std::fs::create_dir_all(host.join("pts")).unwrap();
        std::fs::write(host.join("null"), "").unwrap();
        std::fs::write(root.join("dev/null"), "").unwrap();
        let rid = id_of(&root);
        let nid = id_of(&root.join("dev/null"));
        // The owner swaps dev for a link to a host directory.
        std::fs::rename(root.join("dev"), base.join("dev.old")).unwrap();
        std::os::unix::fs::symlink(&host, root.join("dev")).unwrap();
        for (rel, id) in [("dev/null", nid), ("dev/null", None), ("dev/pts", None)] {
            assert!(matches!(
                remove_added(&root, rid, Path::new(rel), id),
                Err(Refusal::Path(_))
            ));
        }
        assert!(host.join("null").exists() && host.join("pts").exists());
        // A file that is not empty is never one hako made.
        std::fs::write(root.join("proc"), "data").unwrap();
        assert_eq!(
            remove_added(&root, rid, Path::new("proc"), None),
            Err(Refusal::Changed)
        );
        std::fs::write(root.join("proc"), "").unwrap();
        assert_eq!(remove_added(&root, rid, Path::new("proc"), None), Ok(()));
        assert!(remove_added(&root, rid, Path::new("../x"), None).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
