//! What hako writes to cgroupfs, as a list of operations computed before anything is done
//! (pure): the lesson applies it and the script prints it, so both say the same.

use super::layout::Layout;
use crate::spec::CpuSpec;
use std::path::PathBuf;

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
}

/// The controllers that `subtree_control` (a v2 file's content) lacks of memory and cpu.
pub fn missing_controllers(subtree_control: &str) -> Vec<&'static str> {
    ["memory", "cpu"]
        .into_iter()
        .filter(|c| !subtree_control.split_whitespace().any(|w| w == *c))
        .collect()
}

impl Layout {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::cgroup::layout::detect;
    use crate::sys::cgroup::samples::{HYBRID, V2};
    use crate::sys::mountinfo::parse;

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
}
