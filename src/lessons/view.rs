//! The container as a check sees it: from the host, through the kernel.
//!
//! A check is given a [`View`] (the container's first process, its rootfs, its cgroup
//! directories, its name) and reads `/proc/PID/{ns,mountinfo,status,root,fd,cgroup}`,
//! the cgroup files, and where only a call can tell, a short-lived probe
//! (`crate::sys::probe`). Nothing in it asks hako's agent what it did, so a check holds
//! whoever performed the stage: hako, or a learner by hand.

use super::context::Context;
use crate::sys::files;
use crate::sys::mountinfo::{self, Mount};
use crate::sys::probe;
use std::path::{Path, PathBuf};

/// What a check knows of the container before it reads anything.
#[derive(Debug, Clone)]
pub struct View {
    /// The container's first process, as the host numbers it: PID 1 inside once it
    /// was forked; before that (the user namespace lesson), the process that holds
    /// the container's namespaces.
    pub pid: i32,
    /// The container's name (its cgroup's, and its hostname's).
    pub uuid: String,
    /// The rootfs, as the host names it.
    pub rootfs: Option<PathBuf>,
    /// The container's cgroup directories (one on v2; memory's and cpu's on v1).
    pub cgroups: Vec<PathBuf>,
}

impl View {
    /// The view of this run's container; None until a process holds its namespaces.
    pub fn of(ctx: &Context) -> Option<View> {
        let a = ctx.agent.as_ref()?;
        let pid = a.pid1.unwrap_or_else(|| a.pid());
        let cgroups = match (&ctx.layout, &ctx.cgroup) {
            (Some(l), Some(cg)) => l.dirs(&cg.name),
            _ => vec![],
        };
        Some(View::found(
            pid,
            &ctx.uuid,
            ctx.rootfs.as_ref().map(|r| r.path.clone()),
            cgroups,
        ))
    }

    /// The view of a container found some other way (`hako practice` finds the
    /// learner's from the kernel: see `super::judge`).
    pub fn found(pid: i32, uuid: &str, rootfs: Option<PathBuf>, cgroups: Vec<PathBuf>) -> View {
        View {
            pid,
            uuid: uuid.to_string(),
            rootfs,
            cgroups,
        }
    }

    /// `/proc/PID/<rel>`.
    pub fn proc(&self, rel: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{rel}", self.pid))
    }

    /// The namespace the process is in, as `/proc/PID/ns/<name>` names it
    /// (`mnt:[4026531841]`); empty when it cannot be read.
    pub fn ns(&self, name: &str) -> String {
        link(&self.proc(&format!("ns/{name}")))
    }

    /// One field of `/proc/PID/status` (`CapBnd`, `NoNewPrivs`, `Uid`…).
    pub fn status(&self, field: &str) -> String {
        status_field(
            &files::read_text(&self.proc("status")).unwrap_or_default(),
            field,
        )
    }

    /// `/proc/PID/mountinfo`: the mounts of the container's mount namespace, their
    /// mount points as the process names them (relative to its root).
    pub fn mounts(&self) -> Vec<Mount> {
        mountinfo::read(Some(self.pid as u32)).unwrap_or_default()
    }

    /// `/proc/PID/cgroup`, as the host reads it.
    pub fn cgroup(&self) -> String {
        files::read_text(&self.proc("cgroup")).unwrap_or_default()
    }

    /// Whether the process's `/` is already the rootfs (after chroot or pivot_root):
    /// the same directory (device and inode) as the rootfs the host names.
    pub fn rooted(&self) -> bool {
        match &self.rootfs {
            Some(r) => {
                files::identity(&self.proc("root")).is_some_and(|a| Some(a) == files::identity(r))
            }
            None => true,
        }
    }

    /// The path by which the container's process names `rel` of the rootfs: `/rel`
    /// once it is rooted there, `$ROOTFS/rel` before.
    pub fn own_path(&self, rel: &str) -> PathBuf {
        own_path(self.rootfs.as_deref(), self.rooted(), rel)
    }

    /// The container's `rel` as the host reaches it, through `/proc/PID/root`
    /// (proc(5)): in the container's mount namespace, whatever is mounted there.
    pub fn inside(&self, rel: &str) -> PathBuf {
        reach(self.pid, &self.own_path(rel))
    }

    /// The container's `rel`, looked up as a process rooted in it would (an absolute
    /// link stays inside): see `crate::sys::probe::find_in_root`.
    pub fn find(&self, rel: &str) -> Result<probe::InRoot, probe::Errno> {
        probe::find_in_root(&self.inside(""), rel)
    }

    /// The device the container's /dev/ptmx node lies on (looked up as from inside):
    /// a node on a devpts opens ptys in that instance.
    pub fn ptmx_dev(&self) -> Result<u64, probe::Errno> {
        probe::dev_in_root(&self.inside(""), "dev/ptmx")
    }

    /// A pty opened through the container's /dev/ptmx: its number, its slave's
    /// st_dev, and the st_dev of the container's /dev/pts.
    pub fn pty(&self) -> Result<(u32, u64, u64), probe::Errno> {
        probe::pty_in_root(&self.inside(""))
    }

    /// The PIDs the container's `/proc` lists (None when it lists nothing readable).
    pub fn pids(&self) -> Option<Vec<i32>> {
        Some(pids_in(files::names(&self.inside("proc"))?.into_iter()))
    }

    /// The hostname in the container's UTS namespace (a probe that joins it).
    pub fn hostname(&self) -> Result<String, probe::Errno> {
        probe::hostname_of(self.pid)
    }
}

/// The host's own namespace `name` (`/proc/self/ns/<name>`).
pub fn host_ns(name: &str) -> String {
    link(Path::new(&format!("/proc/self/ns/{name}")))
}

fn link(p: &Path) -> String {
    files::read_link(p)
        .map(|l| l.display().to_string())
        .unwrap_or_default()
}

/// One field of a `/proc/PID/status` text, its words joined by one space; empty
/// when absent.
pub fn status_field(text: &str, field: &str) -> String {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .and_then(|r| r.strip_prefix(':'))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_default()
}

/// `rel` as a process names it: under its root once rooted, under the rootfs before.
pub fn own_path(rootfs: Option<&Path>, rooted: bool, rel: &str) -> PathBuf {
    let rel = rel.trim_start_matches('/');
    match rootfs {
        Some(r) if !rooted => r.join(rel),
        _ => Path::new("/").join(rel),
    }
}

/// The host's path to `own` (a path as process `pid` names it): `/proc/PID/root/own`.
pub fn reach(pid: i32, own: &Path) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/root")).join(own.strip_prefix("/").unwrap_or(own))
}

/// The PIDs among a `/proc` directory's names, in order.
pub fn pids_in(names: impl Iterator<Item = String>) -> Vec<i32> {
    let mut pids: Vec<i32> = names.filter_map(|n| n.parse().ok()).collect();
    pids.sort_unstable();
    pids
}

/// Whether `mounts` hold a mount of `fstype` at `at`.
pub fn mounted_at(mounts: &[Mount], at: &Path, fstype: &str) -> bool {
    mounts
        .iter()
        .any(|m| m.mount_point == at && m.fstype == fstype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let s = "Name:\tsh\nUid:\t0\t0\t0\t0\nCapBnd:\t000001ffffffffff\nSeccomp:\t2\nSeccomp_filters:\t1\n";
        assert_eq!(status_field(s, "Uid"), "0 0 0 0");
        assert_eq!(status_field(s, "CapBnd"), "000001ffffffffff");
        assert_eq!(status_field(s, "Seccomp"), "2");
        assert_eq!(status_field(s, "NoNewPrivs"), "");
    }

    #[test]
    fn paths_before_and_after_the_root_changes() {
        let r = Path::new("/tmp/hako-1");
        assert_eq!(
            own_path(Some(r), false, "proc"),
            Path::new("/tmp/hako-1/proc")
        );
        assert_eq!(own_path(Some(r), true, "/dev/null"), Path::new("/dev/null"));
        assert_eq!(own_path(None, false, "proc"), Path::new("/proc"));
        assert_eq!(
            reach(42, Path::new("/tmp/hako-1/dev/pts")),
            Path::new("/proc/42/root/tmp/hako-1/dev/pts")
        );
        assert_eq!(reach(42, Path::new("/")), Path::new("/proc/42/root"));
    }

    #[test]
    fn pids_of_a_proc_listing() {
        let names = ["self", "1", "sys", "12", "thread-self", "3"].map(String::from);
        assert_eq!(pids_in(names.into_iter()), [1, 3, 12]);
    }

    #[test]
    fn a_proc_mount_where_the_rootfs_has_it() {
        let text = "36 25 0:5 / /tmp/r/proc rw,nosuid - proc proc rw\n\
                    37 25 0:6 / /tmp/r/dev/pts rw - devpts devpts rw,mode=620\n";
        let m: Vec<Mount> = text.lines().filter_map(mountinfo::parse_line).collect();
        assert!(mounted_at(&m, Path::new("/tmp/r/proc"), "proc"));
        assert!(!mounted_at(&m, Path::new("/proc"), "proc"));
        assert!(!mounted_at(&m, Path::new("/tmp/r/dev/pts"), "proc"));
    }

    #[test]
    fn the_hosts_own_namespaces_are_named() {
        assert!(host_ns("mnt").starts_with("mnt:["));
        assert_eq!(host_ns("nonexistent"), "");
    }
}
