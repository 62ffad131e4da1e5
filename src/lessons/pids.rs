//! pids (optional, `--pids N`): the pids controller next to memory and cpu, a limit on
//! the number of tasks (processes and threads) in the cgroup, read back; shown stopping a
//! fork loop of hako's own.

use super::context::Context;
use super::fragment::{quote, Fragment, ScriptCtx, UUID};
use super::judge;
use super::lesson::Lesson;
use super::task::{Setup, Task, Verdict};
use crate::error::{Error, Result};
use crate::sys::cgroup::{Layout, Op};
use crate::sys::read_trim;
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, lang, t, t_in, tf, Lang};
use std::path::{Path, PathBuf};

pub struct Pids;

/// The pids limit `--pids` alone (and `--all`) sets.
pub const DEFAULT_PIDS: u64 = 64;

/// The root's `cgroup.subtree_control` on v2 (empty elsewhere).
fn root_subtree(l: &Layout) -> String {
    if l.version.is_v2() {
        read_trim(&l.memory.join("cgroup.subtree_control")).unwrap_or_default()
    } else {
        String::new()
    }
}

fn max_of(st: &Context) -> u64 {
    st.opts.pids.unwrap_or(DEFAULT_PIDS)
}

/// The shell equivalent of `plan` on layout `l`: the cgroup-tools lines, then the raw ones.
pub fn shell_for(l: &Layout, uuid: &str, max: u64, plan: &[Op]) -> String {
    let raw: Vec<String> = plan.iter().map(Op::shell).collect();
    let tools = if l.version.is_v2() {
        format!(
            "cgset -r pids.max={max} {uuid}     # {}",
            t("pids.sh_v2_tools")
        )
    } else {
        format!(
            "cgcreate -g pids:{uuid}     # {}\ncgset -r pids.max={max} {uuid}",
            t("pids.sh_tools")
        )
    };
    format!(
        "{tools}\n# {} ({}):\n{}",
        t("pids.sh_raw"),
        l.version.label(),
        raw.join("\n")
    )
}

fn shown(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn errno_name(n: u64) -> String {
    if n == 0 {
        "-".into()
    } else {
        let e = crate::sys::Errno::from_raw(n as i32);
        format!("{e:?} ({})", e.desc())
    }
}

impl Lesson for Pids {
    fn id(&self) -> &'static str {
        "pids"
    }

    fn shell(&self, st: &Context) -> String {
        let max = max_of(st);
        let Some(l) = &st.layout else {
            return format!(
                "cgcreate -g pids:{u}\ncgset -r pids.max={max} {u}",
                u = st.uuid
            );
        };
        let plan = l.pids_plan(&st.uuid, max, &root_subtree(l));
        shell_for(l, &st.uuid, max, &plan)
    }

    /// The raw lines of the shell text: on v1 the directory in the pids hierarchy, on v2
    /// `+pids` where the root lacks it; then `pids.max`, read back.
    fn script(&self, sc: &ScriptCtx) -> Vec<Fragment> {
        let Some(max) = sc.pids else {
            return vec![];
        };
        let l = sc.layout;
        let Some(dir) = l.pids_dir(UUID) else {
            return vec![Fragment::Host(format!(
                "say {}; exit 1",
                quote(t("pids.no_hierarchy"))
            ))];
        };
        let mut lines = vec![];
        if l.version.is_v2() {
            lines.push(format!(
                "grep -qw pids {m}/cgroup.subtree_control || echo +pids > {m}/cgroup.subtree_control",
                m = l.memory.display()
            ));
        }
        // (on v2 the line above does what the plan's write would: the plan is asked
        // as if the root had pids already)
        lines.extend(l.pids_plan(UUID, max, "pids").iter().map(Op::shell));
        lines.push(format!("cat {}", dir.join("pids.max").display()));
        vec![Fragment::Host(lines.join("\n"))]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let l = st.layout()?.clone();
        st.cgroup()?;
        let max = max_of(st);
        let plan = l.pids_plan(&st.uuid, max, &root_subtree(&l));
        if plan.is_empty() {
            return Err(Error::failed(t("pids.no_hierarchy")));
        }
        let mut did = vec![];
        for op in &plan {
            if let Op::Mkdir(p) = op {
                // Journaled before it exists, removed with the other cgroup directories.
                st.record(crate::journal::Item::Cgroup { path: p.clone() })?;
            }
            op.apply()?;
            did.push(op.shell());
            let cg = st
                .cgroup
                .as_mut()
                .ok_or_else(|| Error::failed(t("err.no_cgroup")))?;
            match op {
                Op::Mkdir(p) => cg.created.push(p.clone()),
                Op::Write { path, .. } if path.ends_with("cgroup.subtree_control") => {
                    cg.enabled.push("pids".into());
                    did.push(tf("pids.did_enabled", &[("path", &path.display())]));
                }
                Op::Write { .. } => {}
            }
        }
        if let Some(cg) = st.cgroup.as_mut() {
            cg.pids = true;
        }
        Ok(did)
    }

    fn check(&self, st: &mut Context) -> Check {
        let Some(l) = st.layout.as_ref() else {
            let mut c = Check::new(t("pids.hint"));
            c.row(t("pids.row_max"), "-", t("pids.no_hierarchy_short"), false);
            return c;
        };
        evidence(l, &st.uuid, max_of(st), true)
    }

    fn task(&self) -> Option<&dyn Task> {
        Some(self)
    }

    fn has_demo(&self) -> bool {
        true
    }

    fn demo(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("pids.demo_hint"));
        let (Some(dir), Ok(procs)) = (
            st.layout.as_ref().and_then(|l| l.pids_dir(&st.uuid)),
            st.join_files(),
        ) else {
            c.row(t("pids.demo_forks"), "-", t("err.no_cgroup"), false);
            return c;
        };
        fork_demo(&dir, &procs, max_of(st), &mut c);
        c
    }
}

/// The evidence: the pids controller attached to cgroup `uuid` (v1: its directory in the
/// pids hierarchy; v2: `+pids` in the root's `cgroup.subtree_control`), `pids.max` reading
/// `max`, and, when `empty` (before anything joins), `pids.current` 0.
pub fn evidence(l: &Layout, uuid: &str, max: u64, empty: bool) -> Check {
    let mut c = Check::new(t("pids.hint"));
    let Some(dir) = l.pids_dir(uuid) else {
        c.row(t("pids.row_max"), "-", t("pids.no_hierarchy_short"), false);
        return c;
    };
    if l.version.is_v2() {
        let sub = root_subtree(l);
        c.row(
            format!("{} (cgroup.subtree_control)", t("pids.row_enabled")),
            sub.clone(),
            "pids",
            sub.split_whitespace().any(|w| w == "pids"),
        );
    } else {
        c.row(
            t("pids.row_dir"),
            dir.display().to_string(),
            t("pids.exists"),
            dir.is_dir(),
        );
    }
    let max = max.to_string();
    let got = read_trim(&dir.join("pids.max")).unwrap_or_default();
    c.row(
        format!("{} (pids.max)", t("pids.row_max")),
        crate::ui::sanitize::clean(&got).into_owned(),
        max.clone(),
        got == max,
    );
    if empty {
        let now = read_trim(&dir.join("pids.current")).unwrap_or_default();
        c.row(
            format!("{} (pids.current)", t("pids.row_current")),
            now.clone(),
            t("pids.current_empty"),
            now == "0",
        );
    }
    c
}

/// What the learner types: the cgroup in the pids hierarchy too (v1), or the controller
/// handed down (v2), then the limit; with cgroup-tools (`tools`) or by hand.
pub fn commands(s: &Setup, max: u64, tools: bool) -> Vec<String> {
    let l = &s.layout;
    let Some(dir) = l.pids_dir(&s.uuid) else {
        return vec![];
    };
    let mut v = vec![];
    if l.version.is_v2() {
        if !root_subtree(l).split_whitespace().any(|w| w == "pids") {
            v.push(format!(
                "echo +pids > {}",
                l.memory.join("cgroup.subtree_control").display()
            ));
        }
    } else if tools {
        v.push(format!("cgcreate -g pids:{}", s.uuid));
    } else {
        v.push(format!("mkdir -p {}", dir.display()));
    }
    if tools {
        v.push(format!("cgset -r pids.max={max} {}", s.uuid));
    } else {
        v.push(format!("echo {max} > {}", dir.join("pids.max").display()));
    }
    v
}

impl Task for Pids {
    fn id(&self) -> &'static str {
        "pids"
    }
    fn inside(&self) -> bool {
        false
    }
    fn solve(&self, s: &Setup) -> Vec<String> {
        commands(
            s,
            s.pids.unwrap_or(DEFAULT_PIDS),
            crate::rootfs::host::which("cgset").is_some(),
        )
    }
    fn judge(&self, s: &Setup) -> Verdict {
        judged(lang(), s)
    }
}

/// The judge, in language `l`. A known wrong way: another limit than asked. Nothing of the
/// pids controller yet (no directory in its v1 hierarchy, no `+pids` handed down on v2)
/// is the stage not begun: the evidence rows say what is missing.
fn judged(l: Lang, s: &Setup) -> Verdict {
    let max = s.pids.unwrap_or(DEFAULT_PIDS);
    let c = evidence(&s.layout, &s.uuid, max, false);
    let wrong = s.layout.pids_dir(&s.uuid).and_then(|d| {
        read_trim(&d.join("pids.max"))
            .filter(|v| v.as_str() != max.to_string())
            .map(|v| {
                fill(
                    t_in(l, "pids.wrong_value"),
                    &[
                        ("got", &crate::ui::sanitize::clean(&v)),
                        ("max", &max),
                        ("file", &d.join("pids.max").display()),
                    ],
                )
            })
    });
    judge::verdict(l, "pids", c, wrong)
}

/// `hako __demo forks` in the cgroup: fork(2) until refused, one thread more, the host
/// forking at the same moment, then every child released and reaped.
fn fork_demo(dir: &Path, procs: &[PathBuf], max: u64, c: &mut Check) {
    use std::io::Write;
    let events = dir.join("pids.events");
    let has_events = events.exists();
    let before = crate::sys::cgroup::key_value(&events, "max");
    let bound = max + 8;
    let label = tf("pids.demo_forks", &[("bound", &bound)]);
    let expect = tf("pids.demo_expect", &[("max", &max)]);
    let args = vec![
        "forks".to_string(),
        bound.to_string(),
        dir.join("pids.current").display().to_string(),
    ];
    let mut child = match crate::sys::demo::spawn_in_cgroup_with_stdin(&args, procs) {
        Ok(ch) => ch,
        Err(e) => {
            c.row(label, crate::sys::explain(e), expect, false);
            return;
        }
    };
    let limit = std::time::Duration::from_secs(30);
    let mut out = crate::sys::demo::read_until(&mut child, "full=1", limit);
    // At the limit: the host's view, and a process of the host's own.
    let at_limit = read_trim(&dir.join("pids.current")).unwrap_or_default();
    let host = crate::sys::process::run_self_on_host(&["--version"]);
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"go\n");
    }
    let (rest, _status) = crate::sys::demo::finish_child(child, limit);
    out.push_str(&rest);
    let value = |k: &str| crate::demos::value(&out, k);
    let Some(forked) = value("forked") else {
        c.row(label, t("pids.demo_no_report"), expect, false);
        return;
    };
    let errno = value("fork_errno").unwrap_or(0);
    let eagain = errno == crate::sys::Errno::EAGAIN as u64;
    c.row(
        label,
        if errno == 0 {
            tf("pids.demo_never", &[("n", &forked)])
        } else {
            tf(
                "pids.demo_refused",
                &[("n", &forked), ("errno", &errno_name(errno))],
            )
        },
        expect,
        eagain && forked < max,
    );
    let thread = value("thread_errno").unwrap_or(0);
    c.row(
        t("pids.demo_thread"),
        if thread == 0 {
            t("pids.demo_thread_ran").to_string()
        } else {
            tf(
                "pids.demo_thread_refused",
                &[("errno", &errno_name(thread))],
            )
        },
        t("pids.demo_threads_count"),
        thread == crate::sys::Errno::EAGAIN as u64,
    );
    c.row(
        format!("{} (pids.current)", t("pids.demo_current")),
        at_limit.clone(),
        tf("pids.demo_equals_max", &[("max", &max)]),
        at_limit == max.to_string(),
    );
    if has_events {
        let after = crate::sys::cgroup::key_value(&events, "max");
        let rose = matches!((before, after), (Some(b), Some(a)) if a > b);
        c.row(
            "pids.events max",
            format!("{} → {}", shown(before), shown(after)),
            t("pids.demo_must_rise"),
            rose,
        );
    }
    let reaped = value("reaped");
    c.row(
        t("pids.demo_reaped"),
        shown(reaped),
        tf("pids.demo_reaped_all", &[("n", &forked)]),
        reaped == Some(forked),
    );
    // The demo process itself was reaped by finish_child: nothing of it is left.
    let mut now = String::new();
    for _ in 0..50 {
        now = read_trim(&dir.join("pids.current")).unwrap_or_default();
        if now == "0" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    c.row(
        format!("{} (pids.current)", t("pids.demo_after")),
        now.clone(),
        "0",
        now == "0",
    );
    let ok = host.as_ref().is_ok_and(|s| s.success());
    c.row(
        t("pids.demo_host"),
        match &host {
            Ok(s) => tf(
                "pids.demo_host_ran",
                &[("status", &s.code().map_or("-".into(), |c| c.to_string()))],
            ),
            Err(e) => crate::sys::explain(*e),
        },
        t("pids.demo_outside"),
        ok,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::cgroup::detect;
    use crate::sys::mountinfo::parse;

    const HYBRID: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
    const V1_NO_PIDS: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
    const V2: &str = "26 24 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";

    /// The task's lines: v1 makes the cgroup in the pids hierarchy too; v2 hands the
    /// controller down first (the test's v2 root is not this host's: its
    /// subtree_control cannot be read, so `+pids` is always written); with or without
    /// cgroup-tools.
    #[test]
    fn the_task_types_the_pids_hierarchy_and_the_limit() {
        let mut s = super::judge::tests::setup(false);
        s.pids = Some(20);
        let u = &s.uuid;
        assert_eq!(
            commands(&s, 20, true),
            [
                format!("cgcreate -g pids:{u}"),
                format!("cgset -r pids.max=20 {u}")
            ]
        );
        assert_eq!(
            commands(&s, 20, false),
            [
                format!("mkdir -p /sys/fs/cgroup/pids/{u}"),
                format!("echo 20 > /sys/fs/cgroup/pids/{u}/pids.max")
            ]
        );
        let mut s = super::judge::tests::setup(true);
        s.pids = Some(20);
        let u = s.uuid.clone();
        let lines = commands(&s, 20, false);
        assert_eq!(
            lines.last().unwrap(),
            &format!("echo 20 > /sys/fs/cgroup/{u}/pids.max")
        );
        assert!(!lines.iter().any(|l| l.contains("mkdir")), "{lines:?}");
        // The third hint is the lines; the goal names the limit.
        let hints = Task::hints(&Pids, &s);
        assert_eq!(hints[2], Task::solve(&Pids, &s).join("\n"));
        assert!(Task::goal(&Pids, &s).contains("20"));
    }

    fn lines(plan: &[Op]) -> Vec<String> {
        plan.iter().map(Op::shell).collect()
    }

    #[test]
    fn v1_plan_is_a_directory_in_the_pids_hierarchy() {
        let l = detect(&parse(HYBRID)).unwrap();
        assert_eq!(l.pids, Some(PathBuf::from("/sys/fs/cgroup/pids")));
        assert_eq!(
            lines(&l.pids_plan("u", 20, "")),
            [
                "mkdir /sys/fs/cgroup/pids/u",
                "echo 20 > /sys/fs/cgroup/pids/u/pids.max"
            ]
        );
        // The agent joins the pids hierarchy too, only when the lesson runs.
        assert_eq!(l.procs_files("u").len(), 2);
        let with = l.procs_files_with("u", true);
        assert_eq!(with.len(), 3);
        assert_eq!(with[2], PathBuf::from("/sys/fs/cgroup/pids/u/cgroup.procs"));
        let sh = shell_for(&l, "u", 20, &l.pids_plan("u", 20, ""));
        assert!(sh.starts_with("cgcreate -g pids:u"), "{sh}");
        assert!(sh.contains("cgset -r pids.max=20 u"), "{sh}");
        assert!(sh.contains("mkdir /sys/fs/cgroup/pids/u"), "{sh}");
    }

    #[test]
    fn v1_without_a_pids_mount_has_no_plan() {
        let l = detect(&parse(V1_NO_PIDS)).unwrap();
        assert_eq!(l.pids, None);
        assert!(l.pids_plan("u", 20, "").is_empty());
        assert_eq!(l.procs_files_with("u", true).len(), 2);
    }

    #[test]
    fn v2_plan_enables_pids_in_the_same_cgroup() {
        let l = detect(&parse(V2)).unwrap();
        assert_eq!(
            lines(&l.pids_plan("u", 64, "cpu memory")),
            [
                "echo +pids > /sys/fs/cgroup/cgroup.subtree_control",
                "echo 64 > /sys/fs/cgroup/u/pids.max"
            ]
        );
        assert_eq!(
            lines(&l.pids_plan("u", 64, "cpuset cpu io memory pids")),
            ["echo 64 > /sys/fs/cgroup/u/pids.max"]
        );
        // One cgroup: nothing more to join.
        assert_eq!(
            l.procs_files_with("u", true),
            [PathBuf::from("/sys/fs/cgroup/u/cgroup.procs")]
        );
        let sh = shell_for(&l, "u", 64, &l.pids_plan("u", 64, ""));
        assert!(sh.starts_with("cgset -r pids.max=64 u"), "{sh}");
        assert!(!sh.contains("cgcreate"), "{sh}");
    }
}
