//! Small questions about files that std does not answer.

use nix::errno::Errno;
use std::path::Path;

/// statvfs(3): whether the filesystem holding `path` is mounted noexec (false when
/// the question cannot be asked).
pub fn noexec(path: &Path) -> bool {
    nix::sys::statvfs::statvfs(path)
        .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_NOEXEC))
        .unwrap_or(false)
}

/// major(3): the major number of a device number (`st_rdev`).
pub fn dev_major(rdev: u64) -> u64 {
    libc::major(rdev) as u64
}

/// minor(3): the minor number of a device number (`st_rdev`).
pub fn dev_minor(rdev: u64) -> u64 {
    libc::minor(rdev) as u64
}

/// mkfifo(3): a named pipe at `path` with permission bits `mode`.
pub fn mkfifo(path: &Path, mode: u32) -> Result<(), Errno> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(mode))
}

/// The file-type bits of a `st_mode` (inode(7)): whether it is a symbolic link.
pub fn mode_is_symlink(st_mode: u32) -> bool {
    st_mode & libc::S_IFMT == libc::S_IFLNK
}

/// The file-type bits of a `st_mode` (inode(7)): whether it is a directory.
pub fn mode_is_dir(st_mode: u32) -> bool {
    st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// open(2)'s O_NOFOLLOW, for `OpenOptionsExt::custom_flags`: refuse a symbolic link.
pub const O_NOFOLLOW: i32 = libc::O_NOFOLLOW;

/// stat(2), following links: the (device, inode) that names a file (`/proc/PID/root` and
/// a rootfs compare equal when they are the same directory).
pub fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| (m.dev(), m.ino())).ok()
}

/// stat(2): the device a file sits on (`st_dev`), which tells devpts instances apart.
pub fn dev_of(path: &Path) -> Option<u64> {
    identity(path).map(|(dev, _)| dev)
}

/// stat(2), following links: whether `path` is a regular file.
pub fn is_regular(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// lstat(2): whether the name exists, a symbolic link or not.
pub fn exists_nofollow(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// stat(2), following links: a regular file with an execute bit (what execve(2) needs).
pub fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// readlink(2) (`/proc/PID/{root,exe,ns/*,fd/N}`); None when it cannot be read.
pub fn read_link(path: &Path) -> Option<std::path::PathBuf> {
    std::fs::read_link(path).ok()
}

/// read(2) of a small text file the kernel writes (`/proc`, cgroup files); None when it
/// cannot be read.
pub fn read_text(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// getdents64(2): the names in a directory (those that are UTF-8); None when it cannot be
/// read.
pub fn names(dir: &Path) -> Option<Vec<String>> {
    Some(
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect(),
    )
}

/// open(2) with O_CREAT|O_EXCL|O_NOFOLLOW, then write(2): a new file of hako's own
/// (a demonstration's), never one that was there, never through a link.
pub fn write_new(path: &Path, text: &str) -> Result<(), Errno> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(O_NOFOLLOW)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| super::common::io_errno(&e))
}

/// lstat(2): the owner (uid) of the name itself.
pub fn owner(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|m| m.uid())
}

/// mkdir(2) of `path` with `mode` (before the umask); fails if anything is there.
pub fn make_dir(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(mode).create(path)
}

/// rename(2) within one filesystem: the new name appears whole or not at all.
pub fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)
}

/// lchown(2): the owner of `path` itself, never of what a link names.
pub fn lchown(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
}

/// chmod(2) of a directory hako made itself.
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// lstat(2): whether `path` is a directory itself (a link to one is not).
pub fn is_dir_nofollow(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_dir())
}

/// Reads the file at `path` from start to end into `f`, a chunk at a time; open(2) with
/// O_NOFOLLOW, so a link is refused rather than followed.
pub fn read_chunks(path: &Path, mut f: impl FnMut(&[u8])) -> std::io::Result<()> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NOFOLLOW)
        .open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => f(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// What lstat(2) says of one name (never what a link names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lstat {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    /// The device number a device node stands for.
    pub rdev: u64,
}

impl Lstat {
    pub fn of(path: &Path) -> std::io::Result<Lstat> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(path)?;
        Ok(Lstat {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            dev: m.dev(),
            ino: m.ino(),
            nlink: m.nlink(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
            rdev: m.rdev(),
        })
    }
    pub fn is_dir(&self) -> bool {
        mode_is_dir(self.mode)
    }
    pub fn is_symlink(&self) -> bool {
        mode_is_symlink(self.mode)
    }
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
    /// A character device 0/0: overlayfs's whiteout.
    pub fn is_whiteout(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFCHR && self.rdev == 0
    }
}

/// unlink(2) of a name (a link itself, never what it names).
pub fn remove_file(path: &Path) -> std::io::Result<()> {
    std::fs::remove_file(path)
}

/// Every name under `root` (relative, sorted, depth first) with its [`Lstat`]: links
/// are never followed, a directory on another device (a mount) is never entered.
pub fn list_tree(root: &Path) -> std::io::Result<Vec<(std::path::PathBuf, Lstat)>> {
    let top = Lstat::of(root)?;
    let mut out = vec![];
    let mut stack = vec![std::path::PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(root.join(&rel))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for n in names.into_iter().rev() {
            let r = rel.join(&n);
            let m = Lstat::of(&root.join(&r))?;
            if m.is_dir() && m.dev == top.dev {
                stack.push(r.clone());
            }
            out.push((r, m));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
