//! What is read back from a cgroup: the PIDs in it, the memory charged, the counters a
//! closing summary shows; and the page size the kernel rounds a memory limit to.

use super::layout::Layout;
use std::path::{Path, PathBuf};

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

/// The memory charged to the cgroup now (v2 `memory.current`, v1 `memory.usage_in_bytes`).
pub fn memory_usage(layout: &Layout, name: &str) -> Option<u64> {
    let f = if layout.version.is_v2() {
        "memory.current"
    } else {
        "memory.usage_in_bytes"
    };
    crate::sys::common::read_trim(&layout.memory.join(name).join(f))?
        .parse()
        .ok()
}

/// The counters a closing summary shows: (file, key, value).
pub fn counters(layout: &Layout, name: &str, pids: bool) -> Vec<(String, String, String)> {
    let mut out = vec![];
    let m = layout.memory.join(name);
    let c = layout.cpu.join(name);
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
    if layout.version.is_v2() {
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
    if let Some(p) = layout.pids_dir(name).filter(|_| pids) {
        add_kv(&p, "pids.events", &["max"]);
    }
    let singles: &[&str] = if layout.version.is_v2() {
        &["memory.peak"]
    } else {
        &["memory.max_usage_in_bytes", "memory.failcnt"]
    };
    for f in singles {
        if let Some(v) = crate::sys::common::read_trim(&m.join(f)) {
            out.push((f.to_string(), String::new(), v));
        }
    }
    if let Some(p) = layout.pids_dir(name).filter(|_| pids) {
        if let Some(v) = crate::sys::common::read_trim(&p.join("pids.peak")) {
            out.push(("pids.peak".into(), String::new(), v));
        }
    }
    out
}

/// The value of `key` in a cgroup file of `key value` lines (cpu.stat, memory.events,
/// memory.oom_control, pids.events); None when the file or the key is missing.
pub fn key_value(path: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::cgroup::layout::Version;

    /// A v2 cgroup's files written in a scratch directory: the counters are read from
    /// them, keys outside the chosen ones left out, and the PIDs listed once each.
    #[test]
    fn reads_a_v2_cgroups_files() {
        let root = std::env::temp_dir().join(format!("hako-counters-{}", std::process::id()));
        let dir = root.join("u");
        std::fs::create_dir_all(&dir).unwrap();
        let put = |f: &str, s: &str| std::fs::write(dir.join(f), s).unwrap();
        put("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
        put(
            "cpu.stat",
            "usage_usec 10\nnr_periods 7\nnr_throttled 2\nthrottled_usec 9\n",
        );
        put("memory.peak", "4096\n");
        put("memory.current", "8192\n");
        put("pids.events", "max 5\n");
        put("pids.peak", "20\n");
        put("cgroup.procs", "12\n3\n12\n");
        let layout = Layout {
            version: Version::V2,
            memory: root.clone(),
            cpu: root.clone(),
            unified: Some(root.clone()),
            pids: Some(root.clone()),
        };
        let got = counters(&layout, "u", true);
        let without_pids = counters(&layout, "u", false);
        let usage = memory_usage(&layout, "u");
        let pids = pids_in(std::slice::from_ref(&dir));
        std::fs::remove_dir_all(&root).unwrap();
        let kv = |f: &str, k: &str, v: &str| (f.to_string(), k.to_string(), v.to_string());
        assert_eq!(
            got,
            [
                kv("memory.events", "max", "3"),
                kv("memory.events", "oom", "1"),
                kv("memory.events", "oom_kill", "1"),
                kv("cpu.stat", "nr_periods", "7"),
                kv("cpu.stat", "nr_throttled", "2"),
                kv("cpu.stat", "throttled_usec", "9"),
                kv("pids.events", "max", "5"),
                kv("memory.peak", "", "4096"),
                kv("pids.peak", "", "20"),
            ]
        );
        assert_eq!(without_pids.len(), 7);
        assert_eq!(usage, Some(8192));
        assert_eq!(pids, [3, 12]);
    }
}
