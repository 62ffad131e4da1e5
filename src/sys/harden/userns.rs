//! Step 1 of `--harden`: the user namespace: unshare(CLONE_NEWUSER), the map line the
//! guide writes, the switch to root inside, and the owners of a rootfs shifted into the
//! mapped range.
#![allow(unsafe_code)]

use crate::sys::error::SysError;
use crate::sys::tracer::trace;
use nix::errno::Errno;
use std::path::Path;

/// Root inside is this uid (and gid) outside, for 65536 ids: what `dockerd
/// --userns-remap` and podman give a container, and where /etc/subuid ranges start.
pub const MAP_OUTSIDE: u32 = 100_000;
pub const MAP_COUNT: u32 = 65_536;

/// The line for /proc/PID/uid_map and gid_map: inside, outside, count.
pub fn map_line() -> String {
    format!("0 {MAP_OUTSIDE} {MAP_COUNT}")
}

/// unshare(CLONE_NEWUSER): the caller enters a new user namespace with every
/// capability *in it*, and none over anything owned by the host's. Its ids are
/// unmapped until someone in the parent namespace writes the maps.
pub fn unshare_user() -> Result<(), Errno> {
    let r = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER);
    trace(|| "unshare(CLONE_NEWUSER)".into(), "2 unshare", &r);
    r
}

/// After the maps: setresgid(0,0,0), setgroups(0, NULL), setresuid(0,0,0). Until then
/// the process still carries the host's uid 0 for files, which is what the user
/// namespace is meant to end. The uid change also clears the parent-death signal and the
/// dumpable flag (credentials changed, see prctl(2)): both are set again.
pub fn become_root(guide: i32) -> Result<(), Errno> {
    // SAFETY: plain system calls with integer arguments.
    let r = match unsafe { libc::setresgid(0, 0, 0) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    };
    trace(|| "setresgid(0, 0, 0)".into(), "2 setresgid", &r);
    r?;
    // SAFETY: an empty list.
    let r = match unsafe { libc::setgroups(0, std::ptr::null()) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    };
    trace(|| "setgroups(0, NULL)".into(), "2 setgroups", &r);
    r?;
    // SAFETY: as above.
    let r = match unsafe { libc::setresuid(0, 0, 0) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    };
    trace(|| "setresuid(0, 0, 0)".into(), "2 setresuid", &r);
    r?;
    // SAFETY: prctl with integer arguments.
    let r = match unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    };
    trace(|| "prctl(PR_SET_DUMPABLE, 1)".into(), "2 prctl", &r);
    if !crate::sys::ns::die_with_parent(guide) {
        return Err(Errno::ESRCH);
    }
    Ok(())
}

/// A user namespace with hako's map (root inside is [`MAP_OUTSIDE`] outside, for
/// [`MAP_COUNT`] ids), held by a descriptor, for idmapped mounts (mount_setattr(2)): a
/// child, `hako __demo userns`, calls unshare(CLONE_NEWUSER) and waits; the guide writes
/// its uid_map and gid_map, opens /proc/PID/ns/user, then closes the child's stdin and
/// reaps it. The namespace lives as long as the descriptor does; no process runs in it.
pub fn mapped_userns() -> Result<std::os::fd::OwnedFd, Errno> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new("/proc/self/exe")
        .args(["__demo", "userns"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| crate::sys::common::io_errno(&e))?;
    let pid = child.id();
    let mut line = String::new();
    let ready = child
        .stdout
        .take()
        .map(|o| std::io::BufReader::new(o).read_line(&mut line));
    let r = (|| {
        if !matches!(ready, Some(Ok(n)) if n > 0) || line.trim() != "ready" {
            return Err(Errno::ECHILD);
        }
        for file in ["uid_map", "gid_map"] {
            crate::sys::common::write_raw(Path::new(&format!("/proc/{pid}/{file}")), &map_line())?;
        }
        let f = std::fs::File::open(format!("/proc/{pid}/ns/user"))
            .map_err(|e| crate::sys::common::io_errno(&e))?;
        Ok(std::os::fd::OwnedFd::from(f))
    })();
    drop(child.stdin.take());
    let _ = child.wait();
    trace(
        || {
            format!("unshare(CLONE_NEWUSER) in a child, uid_map/gid_map \"{}\", open(\"/proc/{pid}/ns/user\")", map_line())
        },
        "7 user_namespaces",
        &r.as_ref().map(|_| ()).map_err(|e| *e),
    );
    r
}

/// `hako __demo userns`: the child of [`mapped_userns`]: unshare(CLONE_NEWUSER), say
/// `ready`, wait for stdin to close.
pub fn hold_userns() -> i32 {
    use std::io::{Read, Write};
    if unshare_user().is_err() {
        return 1;
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    let mut sink = vec![];
    let _ = std::io::stdin().read_to_end(&mut sink);
    0
}

/// The id outside for id `id` inside: shifted by [`MAP_OUTSIDE`] within the mapped range,
/// left alone past it (no id inside maps there: it shows as the overflow id).
fn shifted(id: u32) -> u32 {
    if id < MAP_COUNT {
        MAP_OUTSIDE + id
    } else {
        id
    }
}

/// Shifts the owners of a rootfs hako made into the mapped range (uid u → MAP_OUTSIDE + u
/// for u < MAP_COUNT), without following links, as `podman`'s and `docker
/// --userns-remap`'s storage does: root inside then owns its files. chown clears the
/// set-user-ID and set-group-ID bits, so the mode is put back after it.
pub fn shift_owners(root: &Path) -> Result<u64, SysError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut n = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let at = |call: &'static str| {
            let p = p.display().to_string();
            move |e: std::io::Error| SysError::on(call, p, crate::sys::common::io_errno(&e))
        };
        let m = std::fs::symlink_metadata(&p).map_err(at("lstat"))?;
        std::os::unix::fs::lchown(&p, Some(shifted(m.uid())), Some(shifted(m.gid())))
            .map_err(at("lchown"))?;
        if !m.file_type().is_symlink() && m.mode() & 0o6000 != 0 {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m.mode() & 0o7777))
                .map_err(at("chmod"))?;
        }
        n += 1;
        if m.is_dir()
            && m.dev()
                == std::fs::symlink_metadata(root)
                    .map(|r| r.dev())
                    .unwrap_or(0)
        {
            // A directory left unread would keep the host's owners inside.
            let rd = std::fs::read_dir(&p).map_err(at("opendir"))?;
            for e in rd {
                stack.push(e.map_err(at("readdir"))?.path());
            }
        }
    }
    trace(
        || {
            format!(
                "lchown(…) ×{n} under \"{}\" (uid/gid + {MAP_OUTSIDE})",
                root.display()
            )
        },
        "2 lchown",
        &Ok::<(), Errno>(()),
    );
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_line_and_the_shift_agree() {
        assert_eq!(map_line(), "0 100000 65536");
        let f: Vec<u32> = map_line().split(' ').map(|n| n.parse().unwrap()).collect();
        // Inside 0 is the first id outside; the last mapped id is the range's end.
        assert_eq!(shifted(f[0]), f[1]);
        assert_eq!(shifted(f[2] - 1), f[1] + f[2] - 1);
        assert_eq!(shifted(1000), 101_000);
        // Past the range: unchanged (nobody's, seen inside as the overflow id).
        assert_eq!(shifted(MAP_COUNT), MAP_COUNT);
        assert_eq!(shifted(u32::MAX), u32::MAX);
    }
}
