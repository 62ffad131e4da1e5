//! Where the controllers live: v1, hybrid or v2, found in mountinfo, and the paths of a
//! cgroup's directories and files on each.

use crate::sys::mountinfo::Mount;
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

impl Layout {
    /// The directories of cgroup `name`: one per hierarchy on v1, one on v2.
    pub fn dirs(&self, name: &str) -> Vec<PathBuf> {
        let mut v = vec![self.memory.join(name)];
        if self.cpu != self.memory {
            v.push(self.cpu.join(name));
        }
        v
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::cgroup::samples::{HYBRID, V1, V2};
    use crate::sys::mountinfo::parse;

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
}
