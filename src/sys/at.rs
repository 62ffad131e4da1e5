//! Directory-relative file operations (`openat`, `mkdirat`, `symlinkat`, `linkat`,
//! `unlinkat`, `mknodat`, `fchownat`): the calls the rootfs extractor makes, always on
//! a single name inside a directory it already holds open, never following a symbolic
//! link in the last component. That is what keeps an archive's entries inside the
//! rootfs: a path is never handed to the kernel whole.

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::unistd::{Gid, Uid, UnlinkatFlags};
use nix::NixPath;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// An open directory; every operation is on one name inside it.
#[derive(Debug)]
pub struct DirFd(OwnedFd);

pub type R<T> = Result<T, Errno>;

fn mode(bits: u32) -> Mode {
    Mode::from_bits_truncate(bits & 0o7777)
}

impl DirFd {
    /// Opens a directory by its (host) path; it may itself be reached through links
    /// (the rootfs directory comes from mktemp, not from an archive).
    pub fn open(path: &Path) -> R<DirFd> {
        nix::fcntl::openat(
            nix::fcntl::AT_FDCWD,
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map(DirFd)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// The bytes an unprivileged user could still write on this directory's filesystem
    /// (`fstatvfs(3)`: `f_bavail × f_frsize`).
    pub fn free_bytes(&self) -> R<u64> {
        let s = nix::sys::statvfs::fstatvfs(self.fd())?;
        Ok((s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64))
    }

    /// The directory `name` inside this one; a symbolic link there is refused by the
    /// kernel (ELOOP or ENOTDIR), never followed.
    pub fn sub<N: ?Sized + NixPath>(&self, name: &N) -> R<DirFd> {
        nix::fcntl::openat(
            self.fd(),
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map(DirFd)
    }

    /// `lstat` of a name in this directory.
    pub fn lstat<N: ?Sized + NixPath>(&self, name: &N) -> R<FileStat> {
        nix::sys::stat::fstatat(self.fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)
    }

    pub fn readlink<N: ?Sized + NixPath>(&self, name: &N) -> R<Vec<u8>> {
        use std::os::unix::ffi::OsStringExt;
        nix::fcntl::readlinkat(self.fd(), name).map(|s| s.into_vec())
    }

    pub fn mkdir<N: ?Sized + NixPath>(&self, name: &N, perm: u32) -> R<()> {
        nix::sys::stat::mkdirat(self.fd(), name, mode(perm))
    }

    /// A new regular file, created here and only here (`O_CREAT|O_EXCL|O_NOFOLLOW`:
    /// an existing name, a link included, is EEXIST, never opened).
    pub fn create<N: ?Sized + NixPath>(&self, name: &N, perm: u32) -> R<File> {
        nix::fcntl::openat(
            self.fd(),
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            mode(perm),
        )
        .map(File::from)
    }

    pub fn symlink<T: ?Sized + NixPath, N: ?Sized + NixPath>(&self, target: &T, name: &N) -> R<()> {
        nix::unistd::symlinkat(target, self.fd(), name)
    }

    /// A hard link `name` here to `from_name` in `from` (a link itself is linked,
    /// not followed).
    pub fn hardlink<M: ?Sized + NixPath, N: ?Sized + NixPath>(
        &self,
        from: &DirFd,
        from_name: &M,
        name: &N,
    ) -> R<()> {
        nix::unistd::linkat(from.fd(), from_name, self.fd(), name, AtFlags::empty())
    }

    pub fn mkfifo<N: ?Sized + NixPath>(&self, name: &N, perm: u32) -> R<()> {
        nix::sys::stat::mknodat(self.fd(), name, SFlag::S_IFIFO, mode(perm), 0)
    }

    pub fn unlink<N: ?Sized + NixPath>(&self, name: &N) -> R<()> {
        nix::unistd::unlinkat(self.fd(), name, UnlinkatFlags::NoRemoveDir)
    }

    /// renameat(2) of `from` to `to`, both in this directory (a link is renamed, never
    /// followed; `to` is replaced whole, never written through).
    pub fn rename<A: ?Sized + NixPath, B: ?Sized + NixPath>(&self, from: &A, to: &B) -> R<()> {
        nix::fcntl::renameat(self.fd(), from, self.fd(), to)
    }

    pub fn rmdir<N: ?Sized + NixPath>(&self, name: &N) -> R<()> {
        nix::unistd::unlinkat(self.fd(), name, UnlinkatFlags::RemoveDir)
    }

    /// `lchown`: the owner of the name itself (a link is not followed).
    pub fn chown<N: ?Sized + NixPath>(&self, name: &N, uid: u32, gid: u32) -> R<()> {
        nix::unistd::fchownat(
            self.fd(),
            name,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
    }

    /// chmod of a name that is not a link (checked by the caller).
    pub fn chmod<N: ?Sized + NixPath>(&self, name: &N, perm: u32) -> R<()> {
        nix::sys::stat::fchmodat(
            self.fd(),
            name,
            mode(perm),
            nix::sys::stat::FchmodatFlags::NoFollowSymlink,
        )
        .or_else(|e| {
            // Linux refuses AT_SYMLINK_NOFOLLOW on older kernels/libcs (EOPNOTSUPP);
            // the name was checked to be a directory, so following is the same.
            if e == Errno::EOPNOTSUPP || e == Errno::ENOTSUP {
                nix::sys::stat::fchmodat(
                    self.fd(),
                    name,
                    mode(perm),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
            } else {
                Err(e)
            }
        })
    }

    /// The names in this directory (without `.` and `..`).
    pub fn names(&self) -> R<Vec<Vec<u8>>> {
        let fd = nix::fcntl::openat(
            self.fd(),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let mut d = nix::dir::Dir::from_fd(fd)?;
        let mut v = vec![];
        for e in d.iter() {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                v.push(n.to_vec());
            }
        }
        Ok(v)
    }

    /// `rm -rf name`, inside this directory only: it never follows a link and never
    /// leaves the filesystem the directory is on.
    pub fn remove_all(&self, name: &[u8]) -> R<()> {
        match self.unlink(name) {
            Ok(()) => return Ok(()),
            Err(Errno::EISDIR) | Err(Errno::EPERM) => {}
            Err(e) => return Err(e),
        }
        let sub = self.sub(name)?;
        let here = nix::sys::stat::fstat(self.fd())?;
        let there = nix::sys::stat::fstat(sub.fd())?;
        if here.st_dev != there.st_dev {
            return Err(Errno::EXDEV);
        }
        for n in sub.names()? {
            sub.remove_all(&n)?;
        }
        drop(sub);
        self.rmdir(name)
    }
}

/// `futimens`: sets a file's modification (and access) time.
pub fn set_mtime(f: &File, secs: i64) -> R<()> {
    let ts = nix::sys::time::TimeSpec::new(secs, 0);
    nix::sys::stat::futimens(f, &ts, &ts)
}

pub fn fchown(f: &File, uid: u32, gid: u32) -> R<()> {
    nix::unistd::fchown(f, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
}

pub fn fchmod(f: &File, perm: u32) -> R<()> {
    nix::sys::stat::fchmod(f, mode(perm))
}

/// The process's umask (read by setting it and putting it back at once).
pub fn umask() -> u32 {
    let old = nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
    nix::sys::stat::umask(old);
    old.bits()
}

/// What a path inside an untrusted rootfs names, looked up by the kernel with the
/// rootfs as `/` (see [`DirFd::open_in_root`]).
#[derive(Debug)]
pub enum InRoot {
    /// A regular file, open for reading, and its `fstat`.
    File(File, FileStat),
    /// Something else (a directory, FIFO, socket, device): its `st_mode`. Never opened
    /// for reading: opening a FIFO waits for a writer, a device may do anything.
    Other(u32),
}

/// `S_IFMT` of a mode as a word: what a file is when it is not a regular file.
pub fn kind_word(st_mode: u32) -> &'static str {
    match st_mode & libc::S_IFMT {
        libc::S_IFREG => "regular file",
        libc::S_IFDIR => "directory",
        libc::S_IFIFO => "FIFO",
        libc::S_IFSOCK => "socket",
        libc::S_IFCHR => "character device",
        libc::S_IFBLK => "block device",
        libc::S_IFLNK => "symbolic link",
        _ => "unknown file type",
    }
}

impl DirFd {
    /// openat2(2) of `path` with this directory as `/` (`RESOLVE_IN_ROOT`: absolute
    /// links and `..` stay inside, as after chroot; `RESOLVE_NO_MAGICLINKS`: no
    /// /proc-style jumps) and `flags`. EAGAIN (a rename raced the lookup) is retried.
    fn openat2_in_root(&self, path: &str, flags: OFlag) -> R<OwnedFd> {
        use nix::fcntl::{OpenHow, ResolveFlag};
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let rel = path.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        let mut tries = 0;
        loop {
            match nix::fcntl::openat2(self.fd(), rel, how) {
                Err(Errno::EAGAIN) if tries < 16 => tries += 1,
                r => return r,
            }
        }
    }

    /// A file of an untrusted rootfs, for reading: looked up as `O_PATH` (which opens
    /// nothing: no FIFO wait, no device driver), `fstat`ed, and only if it is a regular
    /// file reopened `O_RDONLY|O_NONBLOCK|O_NOCTTY` through `/proc/self/fd/N` (the same
    /// inode, whatever the rootfs's owner renames meanwhile).
    pub fn open_in_root(&self, path: &str) -> R<InRoot> {
        let o = self.openat2_in_root(path, OFlag::O_PATH)?;
        let st = nix::sys::stat::fstat(o.as_fd())?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Ok(InRoot::Other(st.st_mode));
        }
        use std::os::fd::AsRawFd;
        let again = format!("/proc/self/fd/{}", o.as_raw_fd());
        let f = nix::fcntl::open(
            again.as_str(),
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let st2 = nix::sys::stat::fstat(f.as_fd())?;
        if (st2.st_dev, st2.st_ino) != (st.st_dev, st.st_ino) {
            return Err(Errno::ESTALE);
        }
        Ok(InRoot::File(File::from(f), st))
    }

    /// A directory of an untrusted rootfs, resolved as in [`DirFd::open_in_root`]
    /// (`O_DIRECTORY`: anything else is ENOTDIR, never opened).
    pub fn dir_in_root(&self, path: &str) -> R<DirFd> {
        self.openat2_in_root(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map(DirFd)
    }
}
