//! overlayfs and the layer cache's kernel calls: the overlay mount itself (mount(2) of
//! type `overlay`, Documentation/filesystems/overlayfs.rst), its removal (umount2(2)),
//! overlayfs's own forms of a whiteout (a character device 0/0, mknod(2)) and of an
//! opaque directory (the `trusted.overlay.opaque` xattr, setxattr(2)), and the lock a
//! layer is unpacked under (flock(2)).
#![allow(unsafe_code)]

use super::at::DirFd;
use super::tracer::trace;
use nix::errno::Errno;
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The xattr that marks a directory opaque: what the layers below hold there is hidden.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// The longest option string mount(2) takes (one page, its last byte the NUL).
pub const MAX_OPTIONS: usize = 4095;

/// Whether `p` can be named in overlayfs's options as it is: `:` separates the lower
/// directories, `,` the options, `=` and `\` would have to be escaped. hako's own paths
/// (the cache, the temp directory) never hold them; one that does is refused, not
/// escaped.
pub fn plain_for_options(p: &Path) -> bool {
    p.is_absolute()
        && p.to_str().is_some_and(|s| {
            !s.bytes()
                .any(|b| matches!(b, b':' | b',' | b'=' | b'\\') || b < 0x20)
        })
}

/// The mount options of an overlay: `lowerdir=TOP:…:BOTTOM,upperdir=U,workdir=W`.
/// `lowers` is given top layer first, as overlayfs wants it. `None`: a path that cannot
/// be written there, or options longer than a page.
pub fn options(lowers: &[PathBuf], upper: &Path, work: &Path) -> Option<String> {
    if lowers.is_empty()
        || !lowers.iter().all(|l| plain_for_options(l))
        || !plain_for_options(upper)
        || !plain_for_options(work)
    {
        return None;
    }
    let lower: Vec<&str> = lowers.iter().filter_map(|l| l.to_str()).collect();
    let s = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.to_str()?,
        work.to_str()?
    );
    (s.len() <= MAX_OPTIONS).then_some(s)
}

/// mount(2) of an overlay at `target` with the options of [`options`].
pub fn mount(target: &Path, options: &str) -> Result<(), Errno> {
    super::ns::do_mount(
        "overlay",
        target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(options),
    )
}

/// umount2(2) with MNT_DETACH: the mount leaves the tree now, the kernel frees it once
/// no one uses it.
pub fn unmount(target: &Path) -> Result<(), Errno> {
    let r = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
    trace(
        || format!("umount2(\"{}\", MNT_DETACH)", target.display()),
        "2 umount",
        &r,
    );
    r
}

/// Whether an overlay is mounted exactly at `target` in this process's mount table,
/// and its options (the super options of mountinfo) if so.
pub fn mounted_at(target: &Path) -> Option<String> {
    super::mountinfo::read(None)
        .ok()?
        .into_iter()
        .rev()
        .find(|m| m.mount_point == target && m.fstype == "overlay")
        .map(|m| m.super_options)
}

impl DirFd {
    /// mknodat(2): `name` here as overlayfs's whiteout, a character device 0/0 (only
    /// root, CAP_MKNOD, may make one).
    pub fn whiteout(&self, name: &[u8]) -> Result<(), Errno> {
        nix::sys::stat::mknodat(
            self.fd(),
            name,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
    }

    /// fsetxattr(2) of `trusted.overlay.opaque=y` on this directory itself, through its
    /// descriptor (never through a path a link could redirect).
    pub fn set_opaque(&self) -> Result<(), Errno> {
        set_xattr(self.fd(), OPAQUE_XATTR, b"y")
    }

    /// Whether this directory carries `trusted.overlay.opaque=y`.
    pub fn is_opaque(&self) -> bool {
        get_xattr(self.fd(), OPAQUE_XATTR).is_some_and(|v| v == b"y")
    }

    /// Whether `name` here is a whiteout (a character device 0/0).
    pub fn is_whiteout(&self, name: &[u8]) -> bool {
        self.lstat(name)
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0)
    }
}

fn set_xattr(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> Result<(), Errno> {
    let n = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // fsetxattr(2): on the open file itself.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

fn get_xattr(fd: BorrowedFd<'_>, name: &str) -> Option<Vec<u8>> {
    let n = CString::new(name).ok()?;
    let mut buf = [0u8; 64];
    // fgetxattr(2): into a buffer of ours, its length given.
    let r = unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            n.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x0000_0004;

/// An idmapped copy of the directory `src` attached at `target` (an empty directory):
/// open_tree(2) with OPEN_TREE_CLONE (a detached bind mount of `src`), mount_setattr(2)
/// with MOUNT_ATTR_IDMAP and the user namespace `userns` (its uid and gid maps then
/// shift every owner seen through this mount; the files themselves are not changed), and
/// move_mount(2) onto `target`. See mount_setattr(2), "Idmapped mounts".
pub fn idmapped_bind(src: &Path, userns: &OwnedFd, target: &Path) -> Result<(), Errno> {
    use std::os::unix::ffi::OsStrExt;
    let csrc = CString::new(src.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let ctgt = CString::new(target.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let empty = CString::new("").expect("no NUL");
    // open_tree(2): a detached copy of the mount tree at src.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            csrc.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    let r = if fd < 0 { Err(Errno::last()) } else { Ok(()) };
    trace(
        || {
            format!(
                "open_tree(AT_FDCWD, \"{}\", OPEN_TREE_CLONE)",
                src.display()
            )
        },
        "2 open_tree",
        &r,
    );
    r?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    let tree = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // mount_setattr(2): idmap the detached mount (it is not attached anywhere yet).
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    let r = if r < 0 { Err(Errno::last()) } else { Ok(()) };
    trace(
        || "mount_setattr(fd, \"\", AT_EMPTY_PATH, {MOUNT_ATTR_IDMAP, userns_fd})".into(),
        "2 mount_setattr",
        &r,
    );
    r?;
    // move_mount(2): attach it at target.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            ctgt.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    let r = if r < 0 { Err(Errno::last()) } else { Ok(()) };
    trace(
        || {
            format!(
                "move_mount(fd, \"\", AT_FDCWD, \"{}\", MOVE_MOUNT_F_EMPTY_PATH)",
                target.display()
            )
        },
        "2 move_mount",
        &r,
    );
    r
}

/// Whether anything is mounted exactly at `target` in this process's mount table.
pub fn any_mount_at(target: &Path) -> bool {
    super::mountinfo::read(None)
        .map(|v| v.iter().any(|m| m.mount_point == target))
        .unwrap_or(false)
}

/// The lock file at `path` (created 0600 when missing, open(2) with O_NOFOLLOW: never
/// through a link), locked with [`lock`]: held until the returned file is dropped.
pub fn locked(path: &Path) -> std::io::Result<Locked> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    lock(&f).map_err(std::io::Error::from)?;
    Ok(Locked(f))
}

/// A lock file held locked; the lock goes with it (close(2) releases flock(2)).
pub struct Locked(#[allow(dead_code)] std::fs::File);

/// flock(2) LOCK_EX on an open file: waits while another run holds it. Released when
/// the file is closed (or the process ends, however it ends).
pub fn lock(f: &std::fs::File) -> Result<(), Errno> {
    loop {
        // flock(2) on a descriptor of ours.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            return Ok(());
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_the_top_layer_first_and_refuse_what_cannot_be_written() {
        let l = vec![PathBuf::from("/c/l/2"), PathBuf::from("/c/l/1")];
        assert_eq!(
            options(&l, Path::new("/t/u"), Path::new("/t/w")).as_deref(),
            Some("lowerdir=/c/l/2:/c/l/1,upperdir=/t/u,workdir=/t/w")
        );
        for bad in ["/c/a:b", "/c/a,b", "/c/a=b", "/c/a\\b", "rel", "/c/a\nb"] {
            assert_eq!(
                options(&[PathBuf::from(bad)], Path::new("/t/u"), Path::new("/t/w")),
                None,
                "{bad:?}"
            );
        }
        assert_eq!(options(&[], Path::new("/t/u"), Path::new("/t/w")), None);
        let many: Vec<PathBuf> = (0..200)
            .map(|i| PathBuf::from(format!("/var/cache/hako/layers/sha256/{i:064}")))
            .collect();
        assert_eq!(options(&many, Path::new("/t/u"), Path::new("/t/w")), None);
    }
}
