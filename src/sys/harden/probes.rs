//! The probes: what a process inside tries, to show that a measure holds (a mount, a new
//! user namespace, a block device of the host's read through mknod(2)).

use super::userns::unshare_user;
use crate::sys::tracer::{trace, trace_as};
use nix::errno::Errno;
use nix::mount::MsFlags;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What one probe inside saw: the errno, or a number (bytes read, a magic value).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Seen {
    pub errno: Option<i32>,
    pub n: u64,
    pub text: String,
}

impl Seen {
    pub fn of<T>(r: Result<T, Errno>, n: impl FnOnce(&T) -> u64) -> Seen {
        match r {
            Ok(v) => Seen {
                errno: None,
                n: n(&v),
                text: String::new(),
            },
            Err(e) => Seen {
                errno: Some(e as i32),
                n: 0,
                text: String::new(),
            },
        }
    }
    /// `= 0`, or `= -1 EPERM`.
    pub fn shown(&self) -> String {
        match self.errno {
            None => format!("= {}", self.n),
            Some(e) => format!("= -1 {}", Errno::from_raw(e)),
        }
    }
}

/// In a child: mount a tmpfs on a directory the probe makes itself (undone at once if
/// it worked, and the directory removed), so that the answer does not depend on what
/// the rootfs holds: mount(2) looks the target up before it checks CAP_SYS_ADMIN, so a
/// missing /tmp would read ENOENT. When root inside may not create a directory in `/`
/// (a `dir:` rootfs whose owner is not mapped), the target is `/proc`, which the proc
/// lesson mounted: a tmpfs that got on it would be detached at once, uncovering proc.
pub fn try_mount() -> Seen {
    crate::sys::demo::in_child(|| {
        let own = format!("/.hako-mnt-{}", std::process::id());
        let made = nix::unistd::mkdir(
            own.as_str(),
            nix::sys::stat::Mode::from_bits_truncate(0o700),
        );
        trace(|| format!("mkdir(\"{own}\", 0700)"), "2 mkdir", &made);
        let target = if made.is_ok() { own.as_str() } else { "/proc" };
        let r = nix::mount::mount(
            Some("tmpfs"),
            target,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        );
        trace(
            || format!("mount(\"tmpfs\", \"{target}\", \"tmpfs\", 0, NULL)"),
            "2 mount",
            &r,
        );
        if r.is_ok() {
            let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
        }
        if made.is_ok() {
            let _ = std::fs::remove_dir(&own);
        }
        Seen::of(r, |_| 0)
    })
    .unwrap_or_else(|e| Seen::of::<()>(Err(e), |_| 0))
}

/// In a child: unshare(CLONE_NEWUSER), the call the filter refuses.
pub fn try_unshare_user() -> Seen {
    crate::sys::demo::in_child(|| Seen::of(unshare_user(), |_| 0))
        .unwrap_or_else(|e| Seen::of::<()>(Err(e), |_| 0))
}

/// The magic number of ext2/3/4, at byte 1080 of the device (superblock at 1024,
/// s_magic at 0x38).
pub const EXT_MAGIC: u16 = 0xEF53;

/// The disk way out: mknod(2) of a block device (`major`:`minor`, the host's root) in
/// /tmp (or /), then open it read-only and read the 2-byte magic of its superblock, then
/// unlink the node. Nothing is ever written to the device. Returns the magic in `n`, or
/// the errno of the step that failed in `errno` and the step in `text`.
pub fn mknod_and_read(major: u64, minor: u64) -> Seen {
    use std::io::{Read, Seek, SeekFrom};
    let dir = if Path::new("/tmp").is_dir() {
        "/tmp"
    } else {
        "/"
    };
    let node = format!(
        "{}/.hako-disk-{}",
        dir.trim_end_matches('/'),
        std::process::id()
    );
    let dev = libc::makedev(major as u32, minor as u32);
    let r = nix::sys::stat::mknod(
        node.as_str(),
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        dev,
    );
    trace(
        || format!("mknod(\"{node}\", S_IFBLK|0600, makedev({major}, {minor}))"),
        "2 mknod",
        &r,
    );
    if let Err(e) = r {
        return Seen {
            errno: Some(e as i32),
            n: 0,
            text: "mknod".into(),
        };
    }
    let read = (|| -> Result<u16, Errno> {
        let mut f = std::fs::File::open(&node).map_err(|e| crate::sys::common::io_errno(&e))?;
        f.seek(SeekFrom::Start(1080))
            .map_err(|e| crate::sys::common::io_errno(&e))?;
        let mut b = [0u8; 2];
        f.read_exact(&mut b)
            .map_err(|e| crate::sys::common::io_errno(&e))?;
        Ok(u16::from_le_bytes(b))
    })();
    trace_as(
        || format!("open(\"{node}\", O_RDONLY) + pread(2 bytes at 1080)"),
        "2 open",
        &read,
        |m| format!("magic {m:#06x}"),
    );
    let _ = std::fs::remove_file(&node);
    match read {
        Ok(m) => Seen {
            errno: None,
            n: m as u64,
            text: String::new(),
        },
        Err(e) => Seen {
            errno: Some(e as i32),
            n: 0,
            text: "open".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_is_shown_as_strace_would() {
        let ok = Seen::of(Ok::<u64, Errno>(0xEF53), |m| *m);
        assert_eq!(ok.errno, None);
        assert_eq!(ok.n, u64::from(EXT_MAGIC));
        assert_eq!(ok.shown(), "= 61267");
        let refused = Seen::of(Err::<(), Errno>(Errno::EPERM), |_| 7);
        assert_eq!(refused.errno, Some(libc::EPERM));
        assert_eq!(refused.n, 0);
        // Errno's Display: the name, then strerror's sentence.
        assert!(
            refused.shown().starts_with("= -1 EPERM"),
            "{}",
            refused.shown()
        );
    }
}
