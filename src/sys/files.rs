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
