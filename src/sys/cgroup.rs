//! cgroups, v1 (and hybrid) and v2, behind one small interface.
//!
//! The layout is detected once from mountinfo. What hako writes is computed as a
//! plan first (pure, unit-tested for both versions), then applied: the same plan
//! renders the shell equivalent, so what is shown is what is done.

use super::mountinfo::Mount;
use crate::error::{Error, Result};
use crate::spec::CpuSpec;
use crate::ui::i18n::tf;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Only v1 hierarchies.
    V1,
    /// v1 controllers plus a cgroup2 mount (systemd's "hybrid"), as on this project's hosts.
    Hybrid,
    /// One unified hierarchy.
    V2,
}

impl Version {
    pub fn is_v2(self) -> bool {
        self == Version::V2
    }
    pub fn label(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::Hybrid => "v1 (hybrid)",
            Version::V2 => "v2",
        }
    }
}

/// Where the memory and cpu controllers live on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub version: Version,
    /// The hierarchy that holds the memory controller (v2: the unified root).
    pub memory: PathBuf,
    /// The hierarchy that holds the cpu controller (v2: the unified root).
    pub cpu: PathBuf,
    /// The cgroup2 mount, if any (v2: the root; hybrid: e.g. `/sys/fs/cgroup/unified`).
    pub unified: Option<PathBuf>,
    /// The hierarchy that holds the pids controller, for `--pids`: v1 its own mount
    /// (`/sys/fs/cgroup/pids`), v2 the unified root; `None` when v1 has no pids mount.
    pub pids: Option<PathBuf>,
}

/// What a host lacks for a cgroup layout hako can use; shown as the missing names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    /// No cgroup mount at all: neither cgroup2 nor v1's memory and cpu.
    #[error("cgroup2, memory, cpu")]
    All,
    /// v1's memory hierarchy.
    #[error("memory")]
    Memory,
    /// v1's cpu hierarchy.
    #[error("cpu")]
    Cpu,
}

/// Finds the cgroup layout in mountinfo. `Err` names what is missing.
pub fn detect(mounts: &[Mount]) -> std::result::Result<Layout, Missing> {
    let v1 = |ctl: &str| {
        mounts
            .iter()
            .find(|m| m.fstype == "cgroup" && m.has_super_option(ctl))
            .map(|m| m.mount_point.clone())
    };
    let unified = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup2")
        // Prefer the conventional place when there are several.
        .min_by_key(|m| m.mount_point != Path::new("/sys/fs/cgroup"))
        .map(|m| m.mount_point.clone());
    match (v1("memory"), v1("cpu"), &unified) {
        (Some(memory), Some(cpu), _) => Ok(Layout {
            version: if unified.is_some() {
                Version::Hybrid
            } else {
                Version::V1
            },
            memory,
            cpu,
            unified,
            pids: v1("pids"),
        }),
        (None, None, Some(root)) => Ok(Layout {
            version: Version::V2,
            memory: root.clone(),
            cpu: root.clone(),
            pids: Some(root.clone()),
            unified,
        }),
        (None, None, None) => Err(Missing::All),
        (None, _, _) => Err(Missing::Memory),
        (Some(_), _, _) => Err(Missing::Cpu),
    }
}

/// One thing hako does to cgroupfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Mkdir(PathBuf),
    Write { path: PathBuf, value: String },
}

impl Op {
    /// The raw shell line for this operation.
    pub fn shell(&self) -> String {
        match self {
            Op::Mkdir(p) => format!("mkdir {}", p.display()),
            Op::Write { path, value } => {
                let v = if value.contains(' ') {
                    format!("\"{value}\"")
                } else {
                    value.clone()
                };
                format!("echo {v} > {}", path.display())
            }
        }
    }

    pub fn apply(&self) -> Result<()> {
        match self {
            Op::Mkdir(p) => super::common::mkdir(p),
            Op::Write { path, value } if path.ends_with("cgroup.subtree_control") => {
                super::common::write_raw(path, value).map_err(|e| enable_failure(path, value, e))
            }
            Op::Write { path, value } => super::common::write_file(path, value),
        }
    }
}

/// The controllers that `subtree_control` (a v2 file's content) lacks of memory and cpu.
pub fn missing_controllers(subtree_control: &str) -> Vec<&'static str> {
    ["memory", "cpu"]
        .into_iter()
        .filter(|c| !subtree_control.split_whitespace().any(|w| w == *c))
        .collect()
}

impl Layout {
    /// The directories of cgroup `name`: one per hierarchy on v1, one on v2.
    pub fn dirs(&self, name: &str) -> Vec<PathBuf> {
        let mut v = vec![self.memory.join(name)];
        if self.cpu != self.memory {
            v.push(self.cpu.join(name));
        }
        v
    }

    /// What creating cgroup `name` takes. On v2, `root_subtree` is the content of the
    /// root's `cgroup.subtree_control`: missing controllers are enabled first.
    pub fn create_plan(&self, name: &str, root_subtree: &str) -> Vec<Op> {
        let mut ops = vec![];
        if self.version.is_v2() {
            let missing = missing_controllers(root_subtree);
            if !missing.is_empty() {
                let value = missing
                    .iter()
                    .map(|c| format!("+{c}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                ops.push(Op::Write {
                    path: self.memory.join("cgroup.subtree_control"),
                    value,
                });
            }
        }
        ops.extend(self.dirs(name).into_iter().map(Op::Mkdir));
        ops
    }

    /// What setting the limits takes. `swap_file` says whether the swap limit file
    /// exists (v2 `memory.swap.max`; v1 `memory.memsw.limit_in_bytes`, only where the
    /// kernel accounts swap).
    pub fn limit_plan(&self, name: &str, memory: u64, cpu: CpuSpec, swap_file: bool) -> Vec<Op> {
        let m = self.memory.join(name);
        let c = self.cpu.join(name);
        let w = |path: PathBuf, value: String| Op::Write { path, value };
        let mut ops = vec![];
        if self.version.is_v2() {
            ops.push(w(m.join("memory.max"), memory.to_string()));
            if swap_file {
                ops.push(w(m.join("memory.swap.max"), "0".into()));
            }
            ops.push(w(
                c.join("cpu.max"),
                format!("{} {}", cpu.quota_us, cpu.period_us),
            ));
        } else {
            ops.push(w(m.join("memory.limit_in_bytes"), memory.to_string()));
            if swap_file {
                // memory + swap together: the same value leaves no room for swap.
                ops.push(w(m.join("memory.memsw.limit_in_bytes"), memory.to_string()));
            }
            // The period first: the quota is checked against it.
            ops.push(w(c.join("cpu.cfs_period_us"), cpu.period_us.to_string()));
            ops.push(w(c.join("cpu.cfs_quota_us"), cpu.quota_us.to_string()));
        }
        ops
    }

    /// The swap-limit file of cgroup `name` on this layout.
    pub fn swap_file(&self, name: &str) -> PathBuf {
        self.memory.join(name).join(if self.version.is_v2() {
            "memory.swap.max"
        } else {
            "memory.memsw.limit_in_bytes"
        })
    }

    /// The memory-limit file.
    pub fn memory_file(&self, name: &str) -> PathBuf {
        self.memory.join(name).join(if self.version.is_v2() {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        })
    }

    /// The files that show the controllers are there, for the cgroup check.
    pub fn controller_files(&self, name: &str) -> Vec<PathBuf> {
        let m = self.memory.join(name);
        let c = self.cpu.join(name);
        if self.version.is_v2() {
            vec![m.join("memory.max"), c.join("cpu.max")]
        } else {
            vec![m.join("memory.limit_in_bytes"), c.join("cpu.cfs_quota_us")]
        }
    }

    /// The `cgroup.procs` files a process writes itself into to join (cgexec).
    pub fn procs_files(&self, name: &str) -> Vec<PathBuf> {
        self.procs_files_with(name, false)
    }

    /// The directories of cgroup `name`, with the pids hierarchy's own on v1 when `pids`.
    pub fn dirs_with(&self, name: &str, pids: bool) -> Vec<PathBuf> {
        let mut v = self.dirs(name);
        if let Some(d) = self.pids_dir(name).filter(|d| pids && !v.contains(d)) {
            v.push(d);
        }
        v
    }

    /// The `cgroup.procs` files to join, the pids hierarchy's too when `pids` (v1).
    pub fn procs_files_with(&self, name: &str, pids: bool) -> Vec<PathBuf> {
        self.dirs_with(name, pids)
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    /// The directory of cgroup `name` in the pids hierarchy (v2: the one cgroup).
    pub fn pids_dir(&self, name: &str) -> Option<PathBuf> {
        self.pids.as_ref().map(|p| p.join(name))
    }

    /// What the pids lesson does: on v1 a directory in the pids hierarchy, on v2
    /// `+pids` in the root's `subtree_control` when `root_subtree` lacks it (the cgroup
    /// exists already); then `pids.max`. Empty when this layout has no pids hierarchy.
    pub fn pids_plan(&self, name: &str, max: u64, root_subtree: &str) -> Vec<Op> {
        let Some(dir) = self.pids_dir(name) else {
            return vec![];
        };
        let mut ops = vec![];
        if self.version.is_v2() {
            if !root_subtree.split_whitespace().any(|w| w == "pids") {
                ops.push(Op::Write {
                    path: self.memory.join("cgroup.subtree_control"),
                    value: "+pids".into(),
                });
            }
        } else {
            ops.push(Op::Mkdir(dir.clone()));
        }
        ops.push(Op::Write {
            path: dir.join("pids.max"),
            value: max.to_string(),
        });
        ops
    }
}

/// Rounds a memory limit the way the kernel stores it: down to whole pages.
pub fn page_rounded(bytes: u64, page: u64) -> u64 {
    bytes / page * page
}

pub fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map(|v| v as u64)
        .unwrap_or(4096)
}

/// The PIDs in these cgroup directories.
pub fn pids_in(dirs: &[PathBuf]) -> Vec<i32> {
    let mut v: Vec<i32> = dirs
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|s| {
            s.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Removes cgroup directories, newest first, with rmdir(2) (a cgroup cannot be removed
/// any other way, and only when empty): what is still inside is killed first. Each
/// directory leaves `dirs` once it is gone.
pub fn remove_dirs(dirs: &mut Vec<PathBuf>) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while let Some(dir) = dirs.last().cloned() {
        match super::common::rmdir(&dir) {
            Ok(()) | Err(nix::errno::Errno::ENOENT) => {
                dirs.pop();
            }
            Err(nix::errno::Errno::EBUSY) if std::time::Instant::now() < deadline => {
                for pid in pids_in(std::slice::from_ref(&dir)) {
                    let r = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    super::tracer::trace(|| format!("kill({pid}, SIGKILL)"), "2 kill", &r);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => {
                return Err(Error::failed(tf(
                    "err.cgroup_remove",
                    &[("path", &dir.display()), ("why", &super::error::explain(e))],
                )))
            }
        }
    }
    Ok(())
}

/// A cgroup hako created: its directories, and what it enabled on the way.
#[derive(Debug, Clone)]
pub struct Cgroup {
    pub name: String,
    pub layout: Layout,
    /// The directories created, in order (removed in reverse).
    pub created: Vec<PathBuf>,
    /// Controllers enabled in the root's subtree_control (v2), left on afterwards.
    pub enabled: Vec<String>,
    /// The pids lesson set `pids.max` here (`--pids`).
    pub pids: bool,
}

impl Cgroup {
    /// Applies a create plan, recording each directory as soon as it exists.
    pub fn create(
        layout: &Layout,
        name: &str,
        plan: &[Op],
        before_mkdir: &mut dyn FnMut(&Path) -> Result<()>,
    ) -> (Cgroup, Result<()>) {
        let mut cg = Cgroup {
            name: name.to_string(),
            layout: layout.clone(),
            created: vec![],
            enabled: vec![],
            pids: false,
        };
        for op in plan {
            if let Op::Mkdir(p) = op {
                if let Err(e) = before_mkdir(p) {
                    return (cg, Err(e));
                }
            }
            if let Err(e) = op.apply() {
                return (cg, Err(e));
            }
            match op {
                Op::Mkdir(p) => cg.created.push(p.clone()),
                Op::Write { value, .. } => cg.enabled.extend(
                    value
                        .split_whitespace()
                        .map(|v| v.trim_start_matches('+').to_string()),
                ),
            }
        }
        (cg, Ok(()))
    }

    pub fn memory_dir(&self) -> PathBuf {
        self.layout.memory.join(&self.name)
    }

    pub fn cpu_dir(&self) -> PathBuf {
        self.layout.cpu.join(&self.name)
    }

    /// The PIDs still in the cgroup (all hierarchies).
    pub fn pids(&self) -> Vec<i32> {
        pids_in(&self.created)
    }

    /// Removes the directories (rmdir, never rm -r), killing what is still inside
    /// first (the cgroup is hako's own, so everything in it is hako's).
    pub fn remove(&mut self) -> Result<()> {
        remove_dirs(&mut self.created)
    }

    /// The memory charged to the cgroup now (v2 `memory.current`, v1 `memory.usage_in_bytes`).
    pub fn memory_usage(&self) -> Option<u64> {
        let f = if self.layout.version.is_v2() {
            "memory.current"
        } else {
            "memory.usage_in_bytes"
        };
        super::common::read_trim(&self.memory_dir().join(f))?
            .parse()
            .ok()
    }

    /// The counters a closing summary shows: (file, key, value).
    pub fn counters(&self) -> Vec<(String, String, String)> {
        let mut out = vec![];
        let m = self.memory_dir();
        let c = self.cpu_dir();
        let mut add_kv = |dir: &Path, file: &str, keys: &[&str]| {
            if let Ok(s) = std::fs::read_to_string(dir.join(file)) {
                for l in s.lines() {
                    if let Some((k, v)) = l.split_once(' ') {
                        if keys.contains(&k) {
                            out.push((file.to_string(), k.to_string(), v.trim().to_string()));
                        }
                    }
                }
            }
        };
        if self.layout.version.is_v2() {
            add_kv(&m, "memory.events", &["max", "oom", "oom_kill"]);
            add_kv(
                &c,
                "cpu.stat",
                &["nr_periods", "nr_throttled", "throttled_usec"],
            );
        } else {
            add_kv(
                &c,
                "cpu.stat",
                &["nr_periods", "nr_throttled", "throttled_time"],
            );
            add_kv(&m, "memory.oom_control", &["oom_kill"]);
        }
        if let Some(p) = self.layout.pids_dir(&self.name).filter(|_| self.pids) {
            add_kv(&p, "pids.events", &["max"]);
        }
        let singles: &[&str] = if self.layout.version.is_v2() {
            &["memory.peak"]
        } else {
            &["memory.max_usage_in_bytes", "memory.failcnt"]
        };
        for f in singles {
            if let Some(v) = super::common::read_trim(&m.join(f)) {
                out.push((f.to_string(), String::new(), v));
            }
        }
        if let Some(p) = self.layout.pids_dir(&self.name).filter(|_| self.pids) {
            if let Some(v) = super::common::read_trim(&p.join("pids.peak")) {
                out.push(("pids.peak".into(), String::new(), v));
            }
        }
        out
    }
}

// ───────────── unusual layouts: what can stand between hako and +memory +cpu ─────────────

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
            controllers: super::common::read_trim(&path.join("cgroup.controllers"))
                .unwrap_or_default(),
            subtree: super::common::read_trim(&path.join("cgroup.subtree_control"))
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
    super::procfs::Stat::parse(stat)?.policy()
}

pub fn is_realtime(policy: u32) -> bool {
    matches!(policy, 1 | 2 | 6)
}

/// Whether a `/proc/PID/stat` line is a kernel thread's (PF_KTHREAD in field 9, flags).
/// Kernel threads stay in the root cgroup: the real-time ones (migration/N) do not count.
pub fn is_kernel_thread(stat: &str) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    super::procfs::Stat::parse(stat)
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
            let name = super::procfs::Stat::parse(&stat)
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
        _ => super::error::failure(
            &tf("do.write", &[("value", &value), ("path", &path.display())]),
            e,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::mountinfo::parse;

    /// This project's host: v1 controllers, cgroup2 at /sys/fs/cgroup/unified.
    pub const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    /// Older distributions: cpu and cpuacct co-mounted, no cgroup2.
    pub const V1: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
";
    /// Recent distributions (Ubuntu 22.04+, Fedora, Debian 12).
    pub const V2: &str = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
26 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn detects_hybrid() {
        let l = detect(&parse(HYBRID)).unwrap();
        assert_eq!(l.version, Version::Hybrid);
        assert_eq!(l.memory, PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(l.cpu, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(l.unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
    }

    #[test]
    fn detects_v1_with_comounted_cpu() {
        let l = detect(&parse(V1)).unwrap();
        assert_eq!(l.version, Version::V1);
        assert_eq!(l.cpu, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
    }

    #[test]
    fn detects_v2() {
        let l = detect(&parse(V2)).unwrap();
        assert_eq!(l.version, Version::V2);
        assert_eq!(l.memory, PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(l.dirs("u"), vec![PathBuf::from("/sys/fs/cgroup/u")]);
    }

    #[test]
    fn reports_what_is_missing() {
        assert_eq!(detect(&parse("")).unwrap_err(), Missing::All);
        let only_cpu = "28 25 0:25 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        assert_eq!(detect(&parse(only_cpu)).unwrap_err(), Missing::Memory);
    }

    #[test]
    fn v2_create_plan_enables_missing_controllers() {
        let l = detect(&parse(V2)).unwrap();
        let plan = l.create_plan("u", "");
        assert_eq!(
            plan[0],
            Op::Write {
                path: "/sys/fs/cgroup/cgroup.subtree_control".into(),
                value: "+memory +cpu".into()
            }
        );
        assert_eq!(plan[1], Op::Mkdir("/sys/fs/cgroup/u".into()));
        assert_eq!(l.create_plan("u", "cpuset cpu io memory pids").len(), 1);
        assert_eq!(
            l.create_plan("u", "memory")[0].shell(),
            "echo +cpu > /sys/fs/cgroup/cgroup.subtree_control"
        );
    }

    #[test]
    fn v1_create_plan_is_one_dir_per_hierarchy() {
        let l = detect(&parse(HYBRID)).unwrap();
        let plan = l.create_plan("u", "");
        assert_eq!(
            plan,
            vec![
                Op::Mkdir("/sys/fs/cgroup/memory/u".into()),
                Op::Mkdir("/sys/fs/cgroup/cpu/u".into())
            ]
        );
    }

    #[test]
    fn limit_plans_use_each_versions_files() {
        let cpu = CpuSpec::default();
        let v2 = detect(&parse(V2))
            .unwrap()
            .limit_plan("u", 10_000_000, cpu, true);
        let lines: Vec<String> = v2.iter().map(Op::shell).collect();
        assert_eq!(
            lines,
            [
                "echo 10000000 > /sys/fs/cgroup/u/memory.max",
                "echo 0 > /sys/fs/cgroup/u/memory.swap.max",
                "echo \"300000 1000000\" > /sys/fs/cgroup/u/cpu.max",
            ]
        );
        let v1 = detect(&parse(HYBRID))
            .unwrap()
            .limit_plan("u", 10_000_000, cpu, true);
        let lines: Vec<String> = v1.iter().map(Op::shell).collect();
        assert_eq!(
            lines,
            [
                "echo 10000000 > /sys/fs/cgroup/memory/u/memory.limit_in_bytes",
                "echo 10000000 > /sys/fs/cgroup/memory/u/memory.memsw.limit_in_bytes",
                "echo 1000000 > /sys/fs/cgroup/cpu/u/cpu.cfs_period_us",
                "echo 300000 > /sys/fs/cgroup/cpu/u/cpu.cfs_quota_us",
            ]
        );
        let no_swap = detect(&parse(HYBRID))
            .unwrap()
            .limit_plan("u", 1, cpu, false);
        assert_eq!(no_swap.len(), 3);
    }

    #[test]
    fn pages_round_down() {
        assert_eq!(page_rounded(10_000_000, 4096), 9_998_336);
        assert_eq!(page_rounded(4096, 4096), 4096);
    }
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
