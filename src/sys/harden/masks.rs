//! Step 4 of `--harden`: runc's masked and read-only paths, mounted over the
//! container's /proc and /sys.

use crate::sys::error::SysError;
use crate::sys::tracer::trace;
use nix::mount::MsFlags;
use nix::sys::statvfs::FsFlags;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// runc's default masked paths (`maskedPaths` of `runc spec` and of Docker): files get
/// /dev/null bound over them, directories an empty read-only tmpfs.
pub const MASKED: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// runc's default read-only paths (`readonlyPaths`): bound on themselves, then remounted
/// read-only.
pub const READ_ONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// What happened to one path of [`MASKED`] or [`READ_ONLY`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Masked {
    /// /dev/null bound over a file.
    Null,
    /// An empty read-only tmpfs over a directory.
    Tmpfs,
    /// Bound on itself, remounted read-only.
    ReadOnly,
    /// Not there (no such file in this kernel, or /sys is not mounted inside).
    Absent,
}

/// The mount flags a read-only remount must keep: in a user namespace the kernel refuses
/// a remount that would clear nosuid, nodev, noexec or the atime flags of a mount made
/// outside it (they are locked), as runc's comment in `remountReadonly` explains.
fn kept_flags(path: &str) -> MsFlags {
    match nix::sys::statvfs::statvfs(path) {
        Ok(st) => kept_of(st.flags()),
        Err(_) => MsFlags::empty(),
    }
}

/// The mount flags of [`kept_flags`] among the flags statvfs(3) reports for a mount.
fn kept_of(f: FsFlags) -> MsFlags {
    let mut m = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            m |= ms;
        }
    }
    m
}

/// Masks [`MASKED`] and makes [`READ_ONLY`] read-only, after pivot_root (the paths are
/// the container's own). Returns what happened to each path.
pub fn try_mask_paths() -> Result<Vec<(String, Masked)>, SysError> {
    let mut out = vec![];
    let null = Path::new("/dev/null");
    for p in MASKED {
        let path = Path::new(p);
        let m = match std::fs::symlink_metadata(path) {
            Err(_) => Masked::Absent,
            Ok(m) if m.is_dir() => {
                crate::sys::ns::do_mount(
                    "tmpfs",
                    path,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    Some("mode=0555"),
                )
                .map_err(|e| SysError::on("mount -t tmpfs -o ro", p, e))?;
                Masked::Tmpfs
            }
            Ok(_) => {
                crate::sys::ns::do_mount(
                    &null.to_string_lossy(),
                    path,
                    None,
                    MsFlags::MS_BIND,
                    None,
                )
                .map_err(|e| SysError::on("mount --bind /dev/null", p, e))?;
                Masked::Null
            }
        };
        out.push((p.to_string(), m));
    }
    for p in READ_ONLY {
        let path = Path::new(p);
        if std::fs::symlink_metadata(path).is_err() {
            out.push((p.to_string(), Masked::Absent));
            continue;
        }
        crate::sys::ns::do_mount(p, path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)
            .map_err(|e| SysError::on("mount --rbind", p, e))?;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kept_flags(p);
        let r = nix::mount::mount(None::<&str>, path, None::<&str>, flags, None::<&str>);
        trace(
            || {
                format!(
                    "mount(NULL, \"{p}\", NULL, {}, NULL)",
                    crate::sys::ns::flag_names(flags)
                )
            },
            "2 mount",
            &r,
        );
        r.map_err(|e| SysError::on("mount -o remount,bind,ro", p, e))?;
        out.push((p.to_string(), Masked::ReadOnly));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The locked flags are kept, read-only is not carried over from the old mount (the
    /// remount sets it), and a path statvfs cannot read keeps nothing.
    #[test]
    fn a_read_only_remount_keeps_the_locked_flags() {
        let proc_like = FsFlags::ST_NOSUID
            | FsFlags::ST_NODEV
            | FsFlags::ST_NOEXEC
            | FsFlags::ST_RELATIME
            | FsFlags::ST_RDONLY;
        assert_eq!(
            kept_of(proc_like),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME
        );
        assert_eq!(
            kept_of(FsFlags::ST_NOATIME | FsFlags::ST_NODIRATIME),
            MsFlags::MS_NOATIME | MsFlags::MS_NODIRATIME
        );
        assert_eq!(kept_of(FsFlags::empty()), MsFlags::empty());
        assert_eq!(kept_flags("/no/such/path/for/hako"), MsFlags::empty());
    }

    /// runc's lists: absolute paths under /proc or /sys, none twice, none in both lists,
    /// and none below another (a mount over a parent would hide the child's).
    #[test]
    fn the_masked_and_read_only_lists_are_runcs_shape() {
        let all: Vec<&str> = MASKED.iter().chain(READ_ONLY.iter()).copied().collect();
        for p in &all {
            assert!(p.starts_with("/proc/") || p.starts_with("/sys/"), "{p}");
            assert!(
                !p.ends_with('/') && !p.contains("//") && !p.contains(".."),
                "{p}"
            );
        }
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
                assert!(
                    !Path::new(b).starts_with(a) && !Path::new(a).starts_with(b),
                    "{a} {b}"
                );
            }
        }
        assert!(MASKED.contains(&"/proc/kcore") && MASKED.contains(&"/sys/firmware"));
        assert!(READ_ONLY.contains(&"/proc/sys") && READ_ONLY.contains(&"/proc/sysrq-trigger"));
    }
}
