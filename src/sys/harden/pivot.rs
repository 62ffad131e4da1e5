//! Step 2 of `--harden`: pivot_root(2) in place of chroot (and the way out of the
//! chroot lesson's chroot first), then the old root detached.

use crate::sys::error::SysError;
use crate::sys::tracer::trace;
use nix::errno::Errno;
use nix::mount::MsFlags;
use std::path::Path;

fn stat_of(p: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Leaves the chroot the chroot lesson made, as any process holding CAP_SYS_CHROOT can
/// (the escape of the chroot lesson's demonstration): chroot into a directory below,
/// climb with chdir("..") until "." is its own parent (the root of the mount
/// namespace), chroot("."). pivot_root(2) works on the mount namespace's root, which the
/// chroot never changed.
pub fn try_leave_chroot() -> Result<(), SysError> {
    let r = nix::unistd::chroot("dev").or_else(|_| nix::unistd::chroot("proc"));
    trace(|| "chroot(\"dev\")".into(), "2 chroot", &r);
    r.map_err(SysError::at("chroot(\"dev\")"))?;
    let mut n = 0;
    while n < 4096 && stat_of(".") != stat_of("..") {
        nix::unistd::chdir("..").map_err(SysError::at("chdir(\"..\")"))?;
        n += 1;
    }
    trace(
        || format!("chdir(\"..\") ×{n}"),
        "2 chdir",
        &Ok::<(), Errno>(()),
    );
    let r = nix::unistd::chroot(".");
    trace(|| "chroot(\".\")".into(), "2 chroot", &r);
    r.map_err(SysError::at("chroot(\".\")"))
}

/// What runc does (libcontainer/rootfs_linux.go, pivotRoot): bind $ROOTFS on itself
/// (pivot_root wants a mount point), chdir into it, pivot_root(".", "."), which stacks
/// the old root on top of the new one; fchdir to the old root, make it rslave (so that
/// its unmount cannot travel anywhere), umount2(".", MNT_DETACH), chdir("/"). See
/// pivot_root(2), mount_namespaces(7).
pub fn try_pivot_root(root: &Path) -> Result<(), SysError> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let at = SysError::at;
    crate::sys::ns::do_mount(
        &root.to_string_lossy(),
        root,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(at("mount --rbind $ROOTFS $ROOTFS"))?;
    let old = open(
        "/",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(at("open(\"/\")"))?;
    let r = nix::unistd::chdir(root);
    trace(|| format!("chdir(\"{}\")", root.display()), "2 chdir", &r);
    r.map_err(at("chdir($ROOTFS)"))?;
    let r = nix::unistd::pivot_root(".", ".");
    trace(|| "pivot_root(\".\", \".\")".into(), "2 pivot_root", &r);
    r.map_err(at("pivot_root(\".\", \".\")"))?;
    let r = nix::unistd::fchdir(&old);
    trace(|| "fchdir(old root)".into(), "2 fchdir", &r);
    r.map_err(at("fchdir(old root)"))?;
    let r = nix::mount::mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    );
    trace(
        || "mount(NULL, \".\", NULL, MS_SLAVE|MS_REC, NULL)".into(),
        "2 mount",
        &r,
    );
    r.map_err(at("mount --make-rslave ."))?;
    let r = nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH);
    trace(|| "umount2(\".\", MNT_DETACH)".into(), "2 umount2", &r);
    r.map_err(at("umount2(\".\", MNT_DETACH)"))?;
    let r = nix::unistd::chdir("/");
    trace(|| "chdir(\"/\")".into(), "2 chdir", &r);
    r.map_err(at("chdir(\"/\")"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The climb out of a chroot stops where "." is its own parent: true at "/" only.
    #[test]
    fn the_root_is_its_own_parent() {
        assert!(stat_of("/").is_some());
        assert_eq!(stat_of("/"), stat_of("/.."));
        assert_ne!(stat_of("/proc"), stat_of("/proc/.."));
        assert_eq!(stat_of("/no/such/path/for/hako"), None);
    }
}
