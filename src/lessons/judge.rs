//! What the practice judges share: the learner's container found from the kernel alone,
//! the hint ladder's shape, and the wrong states that several stages can show.
//!
//! In `hako practice` nothing tells hako which process is the container: the learner
//! typed `cgexec … unshare …` themselves. It is found as the kernel shows it: the
//! processes in the run's cgroup (each hierarchy's `cgroup.procs`, cgroups(7)) and the
//! descendants of the learner's outer shell (`/proc/PID/stat`'s parent field), the one
//! whose PID namespace is not the host's and which is PID 1 there (the last `NSpid`
//! number in `/proc/PID/status`, proc(5)).

use super::task::{Setup, Verdict};
use super::view::{host_ns, View};
use crate::sys::mountinfo::{self, Mount};
use crate::sys::procfs::{self, Stat, Status, Who};
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, t_in, Lang};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The learner's container, as the kernel shows it now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// PID 1 of the container's PID namespace, as the host numbers it.
    pub pid1: Option<i32>,
    /// Whether that process is in the run's cgroup (every hierarchy of it).
    pub in_cgroup: bool,
    /// With no PID 1: a process that made a new PID namespace for its children but is
    /// itself still in the host's (`unshare -p` without `-f`).
    pub unforked: Option<i32>,
    /// Every process looked at: the cgroup's and the outer shell's descendants.
    pub seen: Vec<i32>,
}

/// The processes in the run's cgroup, in every hierarchy of it (merged, in order).
pub fn cgroup_pids(s: &Setup) -> Vec<i32> {
    let mut v: Vec<i32> = s
        .layout
        .procs_files(&s.uuid)
        .iter()
        .flat_map(|f| procfs::procs_in(f))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The processes in every hierarchy of the run's cgroup (v1: memory's and cpu's both).
fn in_all_hierarchies(s: &Setup, pid: i32) -> bool {
    let files = s.layout.procs_files(&s.uuid);
    !files.is_empty() && files.iter().all(|f| procfs::procs_in(f).contains(&pid))
}

/// The descendants of `root`, from a `(pid, parent)` list (pure).
pub fn descendants(root: i32, parents: &[(i32, i32)]) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (p, pp) in parents {
        children.entry(*pp).or_default().push(*p);
    }
    let mut out = vec![];
    let mut todo = vec![root];
    let mut seen = HashSet::new();
    while let Some(p) = todo.pop() {
        for c in children.get(&p).into_iter().flatten() {
            if seen.insert(*c) {
                out.push(*c);
                todo.push(*c);
            }
        }
    }
    out.sort_unstable();
    out
}

/// The descendants of the learner's outer shell.
fn shell_descendants(shell: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = procfs::all_pids()
        .into_iter()
        .filter_map(|p| Some((p, Stat::of(Who::Pid(p))?.ppid()?)))
        .collect();
    descendants(shell, &parents)
}

/// The numbers of `NSpid` (one per nested PID namespace, the outermost first).
pub fn nspid(status_value: &str) -> Vec<i32> {
    status_value
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

fn ns_of(pid: i32, name: &str) -> String {
    crate::sys::files::read_link(Path::new(&format!("/proc/{pid}/ns/{name}")))
        .map(|l| l.display().to_string())
        .unwrap_or_default()
}

fn start_time(pid: i32) -> u64 {
    Stat::of(Who::Pid(pid))
        .and_then(|s| s.start_time())
        .unwrap_or(0)
}

/// Finds the learner's container.
pub fn find(s: &Setup) -> Found {
    let host_pid = host_ns("pid");
    let depth = Status::of(Who::Me)
        .and_then(|st| st.field("NSpid").map(|v| nspid(v).len()))
        .unwrap_or(1);
    let in_cg = cgroup_pids(s);
    let mut seen = in_cg.clone();
    seen.extend(shell_descendants(s.shell_pid));
    seen.sort_unstable();
    seen.dedup();
    let mut ones = vec![];
    let mut unforked = vec![];
    for &p in &seen {
        let Some(st) = Status::of(Who::Pid(p)) else {
            continue;
        };
        let ns = ns_of(p, "pid");
        if ns.is_empty() {
            continue;
        }
        let ids = nspid(st.field("NSpid").unwrap_or(""));
        if ns != host_pid {
            if ids.len() == depth + 1 && ids.last() == Some(&1) {
                ones.push(p);
            }
        } else if ns_of(p, "pid_for_children") != host_pid {
            // A new PID namespace for the children: its link reads ENOENT until the
            // first child is made in it, then names the new namespace.
            unforked.push(p);
        }
    }
    // The newest first, those in the cgroup before the others.
    let pick = |v: &[i32]| {
        v.iter()
            .copied()
            .max_by_key(|p| (in_cg.contains(p), start_time(*p)))
    };
    let pid1 = pick(&ones);
    Found {
        pid1,
        in_cgroup: pid1.is_some_and(|p| in_all_hierarchies(s, p)),
        unforked: if pid1.is_none() {
            pick(&unforked)
        } else {
            None
        },
        seen,
    }
}

impl Found {
    /// The view a lesson's evidence reads, on the container's PID 1.
    pub fn view(&self, s: &Setup) -> Option<View> {
        self.pid1.map(|p| view_of(s, p))
    }

    /// The processes in the container's PID namespace (PID 1 first).
    pub fn members(&self) -> Vec<i32> {
        let Some(p1) = self.pid1 else {
            return vec![];
        };
        let ns = ns_of(p1, "pid");
        let mut v = vec![p1];
        v.extend(
            self.seen
                .iter()
                .copied()
                .filter(|p| *p != p1 && ns_of(*p, "pid") == ns),
        );
        v
    }
}

/// A view of process `pid` as the run's container.
pub fn view_of(s: &Setup, pid: i32) -> View {
    View::found(pid, &s.uuid, Some(s.rootfs.clone()), s.layout.dirs(&s.uuid))
}

/// The mounts the host's mount table has under the rootfs now that it did not have
/// when practice started: mounted before `unshare`, or propagated out of the
/// container's mount namespace (shared propagation).
pub fn host_mounts_under(s: &Setup) -> Vec<Mount> {
    let now = mountinfo::read(None).unwrap_or_default();
    now.into_iter()
        .filter(|m| m.mount_point.starts_with(&s.rootfs))
        .filter(|m| {
            !s.host_mounts
                .iter()
                .any(|h| h.id == m.id && h.mount_point == m.mount_point)
        })
        .collect()
}

/// The first new host mount at `rel` of the rootfs, if any.
pub fn host_mount_at(s: &Setup, rel: &str) -> Option<Mount> {
    let at = s.rootfs.join(rel);
    host_mounts_under(s)
        .into_iter()
        .find(|m| m.mount_point == at)
}

/// The known wrong state "a mount of the container's is in the host's mount table".
pub fn wrong_host_mount(l: Lang, s: &Setup, rel: &str) -> Option<String> {
    let m = host_mount_at(s, rel)?;
    Some(fill(
        t_in(l, "task.wrong_host_mount"),
        &[
            ("fstype", &crate::ui::sanitize::clean(&m.fstype)),
            ("path", &s.rootfs.join(rel).display()),
        ],
    ))
}

/// The known wrong state of a stage typed inside when no container is left: its PID 1
/// ended (the shell left with `exit`, or an `exec` that failed, such as capsh running a
/// /bin/bash the rootfs lacks, or dash's `exec capsh`), taking its namespaces with it.
pub fn wrong_gone(l: Lang, found: &Found) -> Option<String> {
    found
        .pid1
        .is_none()
        .then(|| t_in(l, "task.wrong_gone").to_string())
}

/// The verdict from a lesson's evidence and the known wrong state seen, if any: passed
/// when every row holds and nothing wrong was seen, its line `<id>.passed`.
pub fn verdict(l: Lang, id: &str, check: Check, wrong: Option<String>) -> Verdict {
    if wrong.is_none() && check.passed() {
        Verdict::Passed {
            line: t_in(l, &format!("{id}.passed")).to_string(),
            check,
        }
    } else {
        Verdict::Failed { line: wrong, check }
    }
}

/// [`verdict`], where the state seen may also be half of the stage done (`half`: what is
/// left to do), which is not a mistake: [`Verdict::Halfway`] unless something is wrong.
pub fn verdict_or_halfway(
    l: Lang,
    id: &str,
    check: Check,
    wrong: Option<String>,
    half: Option<String>,
) -> Verdict {
    match (wrong, half) {
        (None, Some(line)) if !check.passed() => Verdict::Halfway { line, check },
        (wrong, _) => verdict(l, id, check, wrong),
    }
}

/// The shell the learner runs in the new namespaces: the host's bash, else busybox sh
/// (Debian's dash loses the terminal at `exec capsh`: see the chroot task).
pub fn inner_shell() -> String {
    if crate::rootfs::host::which("bash").is_some() {
        return "/bin/bash".into();
    }
    match crate::rootfs::host::find_busybox() {
        Some(bb) => format!("{} sh", bb.display()),
        None => "/bin/sh".into(),
    }
}

/// Whether process `pid` runs dash (its executable's name, `/proc/PID/exe`).
pub fn runs_dash(pid: i32) -> bool {
    crate::sys::files::read_link(Path::new(&format!("/proc/{pid}/exe")))
        .is_some_and(|p| is_dash(&p))
}

/// Whether an executable path is dash's.
pub fn is_dash(exe: &Path) -> bool {
    exe.file_name()
        .is_some_and(|n| n.to_string_lossy().trim_end_matches(" (deleted)") == "dash")
}

/// A path shown in a hint, as the learner's shell would take it: quoted only when it
/// holds a character the shell would treat specially.
pub fn shown(p: &Path) -> String {
    let s = p.display().to_string();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,=@%".contains(c));
    if plain {
        s
    } else {
        super::fragment::quote(&s)
    }
}

/// `p` joined under the rootfs, shown.
pub fn under(s: &Setup, rel: &str) -> String {
    shown(&s.rootfs.join(rel))
}

/// The paths of cgroup `name`'s directories (for tests and hints).
pub fn dirs(s: &Setup) -> Vec<PathBuf> {
    s.layout.dirs(&s.uuid)
}

#[cfg(test)]
pub mod tests {
    use super::super::task::{goal, ladder};
    use super::*;
    use crate::sys::cgroup::{Layout, Version};

    /// A setup for the pure tests, on the v1 hybrid layout or v2.
    pub fn setup(v2: bool) -> Setup {
        let layout = if v2 {
            Layout {
                version: Version::V2,
                memory: "/sys/fs/cgroup".into(),
                cpu: "/sys/fs/cgroup".into(),
                unified: Some("/sys/fs/cgroup".into()),
                pids: Some("/sys/fs/cgroup".into()),
            }
        } else {
            Layout {
                version: Version::Hybrid,
                memory: "/sys/fs/cgroup/memory".into(),
                cpu: "/sys/fs/cgroup/cpu".into(),
                unified: Some("/sys/fs/cgroup/unified".into()),
                pids: Some("/sys/fs/cgroup/pids".into()),
            }
        };
        Setup {
            uuid: "0c0ffee0-1234-4abc-8def-0123456789ab".into(),
            rootfs: "/tmp/hako.r00t".into(),
            image: "/tmp/hako.img/rootfs.tar".into(),
            shell_pid: 1,
            layout,
            host_hostname: "host".into(),
            host_mounts: vec![],
            pids: None,
            overlay: false,
        }
    }

    #[test]
    fn descendants_of_a_tree() {
        let parents = [(10, 1), (11, 10), (12, 11), (13, 1), (14, 12), (15, 99)];
        assert_eq!(descendants(10, &parents), [11, 12, 14]);
        assert_eq!(descendants(15, &parents), Vec::<i32>::new());
        // A loop (a reused PID read mid-change) does not hang.
        assert_eq!(descendants(1, &[(2, 1), (1, 2)]), [1, 2]);
    }

    #[test]
    fn paths_quoted_only_when_needed() {
        assert_eq!(shown(Path::new("/tmp/hako.x1")), "/tmp/hako.x1");
        assert_eq!(shown(Path::new("/tmp/a b")), "'/tmp/a b'");
        assert_eq!(shown(Path::new("/tmp/it's")), "'/tmp/it'\\''s'");
    }

    #[test]
    fn nspid_numbers() {
        assert_eq!(nspid("4242 1"), [4242, 1]);
        assert_eq!(nspid("7"), [7]);
        assert_eq!(nspid(""), Vec::<i32>::new());
    }

    #[test]
    fn dash_by_its_executable() {
        assert!(is_dash(Path::new("/usr/bin/dash")));
        assert!(is_dash(Path::new("/bin/dash (deleted)")));
        assert!(!is_dash(Path::new("/usr/bin/bash")));
        assert!(!is_dash(Path::new("/tmp/r/bin/busybox")));
    }

    /// Every line a judge can print exists in both catalogs, and the values it names
    /// are the ones the judge fills in (a placeholder left over would show as `{x}`).
    #[test]
    fn every_judge_line_is_in_both_catalogs() {
        let keys: [(&str, &[&str]); 30] = [
            ("limits.wrong_cpu", &["files", "got", "want"]),
            ("task.wrong_host_mount", &["fstype", "path"]),
            ("task.wrong_gone", &[]),
            ("rootfs.wrong_nested", &["sub", "rootfs"]),
            ("cgroup.wrong_partial", &["have", "lack", "uuid"]),
            ("cgroup.wrong_controllers", &["file", "sub"]),
            ("limits.wrong_names", &["file", "other", "version"]),
            ("limits.wrong_value", &["file", "got", "want", "rounded"]),
            ("limits.wrong_swap", &["file", "got"]),
            ("namespaces.passed_dash", &[]),
            ("namespaces.wrong_nofork", &["pid"]),
            ("namespaces.wrong_cgroup", &["pid", "uuid"]),
            ("namespaces.wrong_shared", &["pid", "list"]),
            ("proc.wrong_host_pidns", &[]),
            ("proc.wrong_slash_proc", &["path"]),
            ("devpts.wrong_host_ptmx", &["ptmx"]),
            ("devpts.wrong_no_ptmx", &["ptmx"]),
            ("devnull.wrong_file", &["path"]),
            ("hostname.wrong_host", &["now", "was"]),
            ("chroot.wrong_cap", &["pid", "bnd"]),
            ("chroot.wrong_dash", &["pid"]),
            ("rootfs.passed", &[]),
            ("cgroup.passed", &[]),
            ("limits.passed", &[]),
            ("namespaces.passed", &[]),
            ("proc.passed", &[]),
            ("devpts.passed", &[]),
            ("devnull.passed", &[]),
            ("hostname.passed", &[]),
            ("chroot.passed", &[]),
        ];
        for l in [Lang::En, Lang::Ja] {
            for (key, names) in keys {
                let text = t_in(l, key);
                assert_ne!(text, key, "{key} is missing");
                let args: Vec<(&str, &dyn std::fmt::Display)> = names
                    .iter()
                    .map(|n| (*n, &"x" as &dyn std::fmt::Display))
                    .collect();
                let filled = fill(text, &args);
                assert!(!filled.contains('{'), "{key} ({l:?}): {filled}");
                for n in names {
                    assert!(
                        text.contains(&format!("{{{n}}}")),
                        "{key} ({l:?}) lacks {{{n}}}"
                    );
                }
            }
        }
    }

    #[test]
    fn goals_and_ladders_are_filled_in_both_languages() {
        for l in [Lang::En, Lang::Ja] {
            for v2 in [false, true] {
                let s = setup(v2);
                for id in [
                    "rootfs",
                    "cgroup",
                    "limits",
                    "namespaces",
                    "proc",
                    "devpts",
                    "devnull",
                    "hostname",
                    "chroot",
                ] {
                    let g = goal(l, id, &s);
                    assert!(!g.is_empty() && !g.contains('{'), "{id}: {g}");
                    assert_ne!(g, format!("{id}.goal"));
                    let h = ladder(l, id, &s, &["x".into()]);
                    for step in &h[..2] {
                        assert!(!step.contains('{') && !step.ends_with("hint_what"));
                        assert!(!step.ends_with("hint_tool"), "{id}: {step}");
                    }
                    assert_eq!(h[2], "x");
                }
            }
        }
    }
}
