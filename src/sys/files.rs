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
