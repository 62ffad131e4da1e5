//! Unusual layouts, as preflight explains them: what can stand between hako and
//! `+memory +cpu` in a v2 parent (not offered, not delegated, processes in a nested root,
//! real-time processes outside the root), and the sentence for a failed enable.

use super::counters::pids_in;
use super::layout::Layout;
use super::plan::missing_controllers;
use crate::error::Error;
use crate::sys::mountinfo::Mount;
use crate::ui::i18n::tf;
use std::path::{Path, PathBuf};

/// The cgroup2 directory hako would make its cgroup in (v2: the mount point), as
/// preflight sees it. Filled by [`Parent::read`]; pure data, so that the reasoning in
/// [`Parent::obstacle`] is unit-tested on samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parent {
    /// The cgroup2 mount point (`/sys/fs/cgroup`).
    pub path: PathBuf,
    /// The mount's root within the hierarchy, from mountinfo: `/` for a whole hierarchy,
    /// `/docker/…` for a bind of a subtree, `/..` when the mount was made outside this
    /// process's cgroup namespace.
    pub mount_root: PathBuf,
    /// The directory has `cgroup.type`: it is not the kernel's root cgroup (the root has
    /// no such file), so the "no internal processes" rule applies to it.
    pub nested: bool,
    /// Its `cgroup.controllers`: what its own parent delegates to it.
    pub controllers: String,
    /// Its `cgroup.subtree_control`: what it passes on to its children.
    pub subtree: String,
    /// Its `cgroup.procs`.
    pub procs: Vec<i32>,
    /// This process's v2 cgroup as `/proc/self/cgroup` names it (the `0::` line).
    pub own: String,
}

/// Why hako cannot enable `+memory +cpu` in the parent, as preflight predicts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obstacle {
    /// `cgroup.controllers` lacks them: at the kernel's root, the kernel does not offer
    /// them (`cgroup_disable=`, or a v1 hierarchy holds them); below it, the parent of
    /// this cgroup does not delegate them.
    NotOffered { lack: Vec<&'static str> },
    /// A nested cgroup (a container's or a cgroup namespace's root) with processes in it:
    /// writing its `subtree_control` fails with EBUSY.
    InternalProcesses {
        lack: Vec<&'static str>,
        procs: usize,
    },
}

impl Parent {
    /// Reads the parent of a v2 layout from the kernel.
    pub fn read(layout: &Layout, mounts: &[Mount]) -> Parent {
        let path = layout.memory.clone();
        let mount_root = mounts
            .iter()
            .rev()
            .find(|m| m.fstype == "cgroup2" && m.mount_point == path)
            .map(|m| m.root.clone())
            .unwrap_or_else(|| PathBuf::from("/"));
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|s| own_v2_cgroup(&s))
            .unwrap_or_default();
        Parent {
            nested: path.join("cgroup.type").exists(),
            controllers: crate::sys::common::read_trim(&path.join("cgroup.controllers"))
                .unwrap_or_default(),
            subtree: crate::sys::common::read_trim(&path.join("cgroup.subtree_control"))
                .unwrap_or_default(),
            procs: pids_in(std::slice::from_ref(&path)),
            mount_root,
            own,
            path,
        }
    }

    /// hako sees a part of the hierarchy only: it runs in a container or a cgroup namespace.
    pub fn in_container(&self) -> bool {
        self.nested || self.mount_root != Path::new("/")
    }

    /// What will stop hako from enabling memory and cpu here, if anything.
    pub fn obstacle(&self) -> Option<Obstacle> {
        let lack = missing_controllers(&self.controllers);
        if !lack.is_empty() {
            return Some(Obstacle::NotOffered { lack });
        }
        let lack = missing_controllers(&self.subtree);
        if self.nested && !lack.is_empty() && !self.procs.is_empty() {
            return Some(Obstacle::InternalProcesses {
                lack,
                procs: self.procs.len(),
            });
        }
        None
    }

    /// The sentence that explains an obstacle and says what to do.
    pub fn explain(&self, o: &Obstacle) -> String {
        let path = self.path.display();
        match o {
            Obstacle::NotOffered { lack } if self.in_container() => tf(
                "cg2.not_delegated",
                &[("list", &lack.join(" ")), ("path", &path)],
            ),
            Obstacle::NotOffered { lack } => tf(
                "cg2.not_offered",
                &[("list", &lack.join(" ")), ("path", &path)],
            ),
            Obstacle::InternalProcesses { lack, procs } => tf(
                "cg2.internal_procs",
                &[
                    ("path", &path),
                    ("n", procs),
                    (
                        "list",
                        &lack
                            .iter()
                            .map(|c| format!("+{c}"))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                ],
            ),
        }
    }
}

/// The path of the `0::` line of a `/proc/PID/cgroup` (the v2 hierarchy).
pub fn own_v2_cgroup(proc_cgroup: &str) -> Option<String> {
    proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim().to_string())
}

/// The scheduling policy in a `/proc/PID/stat` line (field 41): 1 SCHED_FIFO, 2 SCHED_RR,
/// 6 SCHED_DEADLINE are real-time. The command name (field 2) may hold spaces and
/// parentheses, so the fields are counted after its last `)`.
pub fn sched_policy(stat: &str) -> Option<u32> {
    crate::sys::procfs::Stat::parse(stat)?.policy()
}

pub fn is_realtime(policy: u32) -> bool {
    matches!(policy, 1 | 2 | 6)
}

/// Whether a `/proc/PID/stat` line is a kernel thread's (PF_KTHREAD in field 9, flags).
/// Kernel threads stay in the root cgroup: the real-time ones (migration/N) do not count.
pub fn is_kernel_thread(stat: &str) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    crate::sys::procfs::Stat::parse(stat)
        .and_then(|s| s.flags())
        .is_some_and(|f| f & PF_KTHREAD != 0)
}

/// Real-time processes that are not in the v2 root cgroup, as (pid, name, cgroup): while
/// one exists, a kernel built with CONFIG_RT_GROUP_SCHED refuses `+cpu` with EINVAL.
/// Inside a cgroup namespace a path starting with `/..` lies outside it: such a process
/// may be in the real root, so it is not counted either.
pub fn realtime_outside_root() -> Vec<(i32, String, String)> {
    let mut out = vec![];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        if !sched_policy(&stat).is_some_and(is_realtime) || is_kernel_thread(&stat) {
            continue;
        }
        let cg = std::fs::read_to_string(e.path().join("cgroup"))
            .ok()
            .and_then(|s| own_v2_cgroup(&s))
            .unwrap_or_default();
        if cg != "/" && !cg.is_empty() && !cg.starts_with("/..") {
            let name = crate::sys::procfs::Stat::parse(&stat)
                .map(|s| s.comm)
                .unwrap_or_default();
            out.push((pid, name, cg));
        }
    }
    out.sort();
    out
}

/// The sentence for a failed write of `value` into a v2 `cgroup.subtree_control` at
/// `path`, by errno: each cause hako knows gets its own explanation and what to do.
pub fn enable_failure(path: &Path, value: &str, e: nix::errno::Errno) -> Error {
    use nix::errno::Errno;
    let dir = path.parent().unwrap_or(path);
    let args: &[(&str, &dyn std::fmt::Display)] = &[
        ("value", &value),
        ("path", &path.display()),
        ("dir", &dir.display()),
    ];
    match e {
        // cgroup_subtree_control_write → cgroup_vet_subtree_control_enable: a non-root
        // cgroup with processes cannot hand controllers to children.
        Errno::EBUSY => Error::failed(tf("cg2.enable_ebusy", args)),
        // The cpu controller refuses while real-time tasks are outside the root
        // (cpu_cgroup_can_attach / sched_rt_can_attach with CONFIG_RT_GROUP_SCHED).
        Errno::EINVAL if value.split_whitespace().any(|w| w == "+cpu") => {
            Error::failed(tf("cg2.enable_rt", args))
        }
        // A controller that the parent does not offer (not in its cgroup.controllers).
        Errno::ENOENT => Error::failed(tf("cg2.enable_enoent", args)),
        _ => crate::sys::error::failure(
            &tf("do.write", &[("value", &value), ("path", &path.display())]),
            e,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::cgroup::layout::detect;
    use crate::sys::cgroup::samples::V2;
    use crate::sys::mountinfo::parse;

    /// Real lines from a QEMU guest (Debian 6.1): a shell moved into /box, then
    /// `unshare -Cm` and cgroup2 mounted again inside (what a container with its own cgroup
    /// namespace sees), a cgroup namespace without a new mount (the mount was made outside
    /// it: `/..`), and a bind of /box over /sys/fs/cgroup (a container without one).
    const V2_CGROUPNS_REMOUNT: &str =
        "31 30 0:24 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n";
    const V2_CGROUPNS_OLD_MOUNT: &str =
        "27 22 0:24 /.. /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n";
    const V2_BIND_OF_BOX: &str = "\
31 30 0:24 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw
36 31 0:24 /box /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw
";

    fn parent(mountinfo: &str) -> Parent {
        let mounts = parse(mountinfo);
        let l = detect(&mounts).unwrap();
        let mut p = Parent::read(&l, &mounts);
        // Only the mount root comes from the sample; the files are set by each test.
        p.nested = false;
        p.controllers = "cpuset cpu io memory hugetlb pids rdma misc".into();
        p.subtree = String::new();
        p.procs = vec![];
        p
    }

    #[test]
    fn the_mount_root_tells_a_namespace_or_a_bind() {
        assert_eq!(parent(V2).mount_root, PathBuf::from("/"));
        assert!(!parent(V2).in_container());
        assert_eq!(
            parent(V2_CGROUPNS_OLD_MOUNT).mount_root,
            PathBuf::from("/..")
        );
        assert!(parent(V2_CGROUPNS_OLD_MOUNT).in_container());
        // The last mount on the mount point is the one seen there.
        assert_eq!(parent(V2_BIND_OF_BOX).mount_root, PathBuf::from("/box"));
        // A fresh mount inside a cgroup namespace shows "/": only cgroup.type tells.
        let mut p = parent(V2_CGROUPNS_REMOUNT);
        assert!(!p.in_container());
        p.nested = true;
        assert!(p.in_container());
    }

    #[test]
    fn the_kernels_root_with_processes_is_no_obstacle() {
        // The root cgroup is exempt from the "no internal processes" rule.
        let mut p = parent(V2);
        p.procs = vec![1, 2, 3];
        assert_eq!(p.obstacle(), None);
    }

    #[test]
    fn a_nested_root_with_processes_will_refuse_with_ebusy() {
        let mut p = parent(V2_CGROUPNS_REMOUNT);
        p.nested = true;
        p.procs = vec![1, 7];
        p.subtree = "memory".into();
        assert_eq!(
            p.obstacle(),
            Some(Obstacle::InternalProcesses {
                lack: vec!["cpu"],
                procs: 2
            })
        );
        let said = p.explain(&p.obstacle().unwrap());
        assert!(said.contains("EBUSY") && said.contains("+cpu"), "{said}");
        assert!(said.contains("/sys/fs/cgroup/init"), "{said}");
        // Already enabled (a runtime that moved its processes to a leaf did so): fine.
        p.subtree = "cpu memory pids".into();
        p.procs = vec![];
        assert_eq!(p.obstacle(), None);
        // Empty: nothing is in the way either.
        p.subtree = String::new();
        assert_eq!(p.obstacle(), None);
    }

    #[test]
    fn controllers_not_offered_are_told_apart_from_not_delegated() {
        let mut p = parent(V2);
        p.controllers = "cpuset cpu io pids".into();
        let o = p.obstacle().unwrap();
        assert_eq!(
            o,
            Obstacle::NotOffered {
                lack: vec!["memory"]
            }
        );
        assert!(
            p.explain(&o).contains("cgroup_disable"),
            "{}",
            p.explain(&o)
        );
        // The same gap below the root: the parent did not delegate it.
        p.nested = true;
        p.controllers = String::new();
        let o = p.obstacle().unwrap();
        assert_eq!(
            o,
            Obstacle::NotOffered {
                lack: vec!["memory", "cpu"]
            }
        );
        assert!(p.explain(&o).contains("deleg"), "{}", p.explain(&o));
    }

    #[test]
    fn own_cgroup_and_scheduling_policy() {
        let hybrid = "9:name=systemd:/\n4:memory:/process_api/30dc\n0::/\n";
        assert_eq!(own_v2_cgroup(hybrid).as_deref(), Some("/"));
        assert_eq!(own_v2_cgroup("0::/box\n").as_deref(), Some("/box"));
        assert_eq!(own_v2_cgroup("4:memory:/x\n"), None);
        // Real /proc/PID/stat lines: a SCHED_FIFO kernel thread and an ordinary process
        // whose name holds a space and a parenthesis.
        let fifo = "18 (migration/0) S 2 0 0 0 -1 69238848 0 0 0 0 0 6 0 0 -100 0 1 0 24 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 17 0 99 1 0 0 0 0 0 0 0 0 0 0 0";
        assert_eq!(sched_policy(fifo), Some(1));
        assert!(is_realtime(1));
        assert!(is_kernel_thread(fifo));
        let other = "1 (a b) c) S 0 0 0 0 -1 4194560 105157 30219444 0 7405 137 804 63595 32008 20 0 13 0 24 45989888 3664 18446744073709551615 1 1 0 0 0 0 0 4096 1256 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";
        assert_eq!(sched_policy(other), Some(0));
        assert!(!is_kernel_thread(other));
        assert!(!is_realtime(0));
        assert_eq!(sched_policy("1 (x) S 0"), None);
    }

    #[test]
    fn failed_enables_map_to_their_causes() {
        use nix::errno::Errno;
        let path = Path::new("/sys/fs/cgroup/cgroup.subtree_control");
        let busy = enable_failure(path, "+memory +cpu", Errno::EBUSY).msg;
        assert!(busy.contains("no internal processes"), "{busy}");
        let rt = enable_failure(path, "+memory +cpu", Errno::EINVAL).msg;
        assert!(rt.contains("real-time"), "{rt}");
        // EINVAL without +cpu is not the real-time rule: the plain errno sentence.
        let other = enable_failure(path, "+memory", Errno::EINVAL).msg;
        assert!(!other.contains("real-time"), "{other}");
        let gone = enable_failure(path, "+memory", Errno::ENOENT).msg;
        assert!(gone.contains("cgroup.controllers"), "{gone}");
        for m in [&busy, &rt, &gone] {
            assert!(!m.contains("{"), "unfilled placeholder in {m}");
        }
    }
}
