//! limits: memory and CPU written into the cgroup's files, read back.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, UUID};
use super::judge;
use super::lesson::Lesson;
use super::task::{Setup, Task, Verdict};
use crate::error::Result;
use crate::spec::{CpuSpec, DEFAULT_PERIOD_US, DEFAULT_QUOTA_US};
use crate::sys::cgroup::{page_rounded, page_size, Layout, Op};
use crate::sys::demo::{finish_child, spawn_in_cgroup};
use crate::sys::read_trim;
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, lang, t, t_in, tf, Lang};

pub struct Limits;

fn plan(st: &Context, l: &Layout) -> Vec<Op> {
    let swap = l.swap_file(&st.uuid).exists() || st.cgroup.is_none();
    l.limit_plan(&st.uuid, st.opts.memory, st.opts.cpu, swap)
}

impl Lesson for Limits {
    fn id(&self) -> &'static str {
        "limits"
    }

    fn shell(&self, st: &Context) -> String {
        let Some(l) = &st.layout else {
            return String::new();
        };
        let mem = st.opts.memory;
        let cpu = st.opts.cpu;
        let uuid = &st.uuid;
        let raw: Vec<String> = plan(st, l).iter().map(Op::shell).collect();
        if l.version.is_v2() {
            format!(
                "cgset -r memory.max={mem} {uuid}\ncgset -r memory.swap.max=0 {uuid}     # {swap}\ncgset -r cpu.max=\"{q} {p}\" {uuid}\n# {raw_label}:\n{raw}",
                swap = t("limits.sh_swap"),
                q = cpu.quota_us,
                p = cpu.period_us,
                raw_label = t("limits.sh_raw"),
                raw = raw.join("\n")
            )
        } else {
            format!(
                "# {v2only}\ncgset -r memory.limit_in_bytes={mem} {uuid}\ncgset -r memory.memsw.limit_in_bytes={mem} {uuid}   # {swap}\ncgset -r cpu.cfs_period_us={p} {uuid}\ncgset -r cpu.cfs_quota_us={q} {uuid}\n# {raw_label}:\n{raw}",
                v2only = tf("limits.sh_v2only", &[("version", &l.version.label())]),
                swap = t("limits.sh_swap"),
                q = cpu.quota_us,
                p = cpu.period_us,
                raw_label = t("limits.sh_raw"),
                raw = raw.join("\n")
            )
        }
    }

    /// The same plan the lesson applies, the swap limit only where the kernel has
    /// the file (tested when the script runs).
    fn script(&self, sc: &ScriptCtx) -> Vec<Fragment> {
        let l = sc.layout;
        let swap = l.swap_file(UUID);
        let lines: Vec<String> = l
            .limit_plan(UUID, sc.memory, sc.cpu, true)
            .iter()
            .map(|op| match op {
                Op::Write { path, .. } if *path == swap => {
                    format!("[ ! -e {} ] || {}", path.display(), op.shell())
                }
                _ => op.shell(),
            })
            .collect();
        vec![Fragment::Host(lines.join("\n"))]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let l = st.layout()?.clone();
        st.cgroup()?;
        let ops = plan(st, &l);
        for op in &ops {
            op.apply()?;
        }
        let mut did: Vec<String> = ops.iter().map(Op::shell).collect();
        if !l.swap_file(&st.uuid).exists() {
            did.push(tf(
                "limits.no_swap_file",
                &[("path", &l.swap_file(&st.uuid).display())],
            ));
        }
        Ok(did)
    }

    fn check(&self, st: &mut Context) -> Check {
        evidence(st.layout.as_ref(), &st.uuid, st.opts.memory, st.opts.cpu)
    }

    fn task(&self) -> Option<&dyn Task> {
        Some(self)
    }

    fn has_demo(&self) -> bool {
        true
    }

    fn demo(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("limits.demo_hint"));
        let (Some(l), Some(_)) = (st.layout.clone(), st.cgroup.as_ref()) else {
            c.row(t("limits.demo_spin"), "-", t("err.no_cgroup"), false);
            return c;
        };
        memory_demo(st, &l, &mut c);
        cpu_demo(st, &l, &mut c);
        c
    }
}

/// The evidence: the memory limit (page-rounded), the swap limit where the kernel has
/// its file, and the CPU quota and period, read back from cgroup `uuid`'s files.
pub fn evidence(layout: Option<&Layout>, uuid: &str, memory: u64, cpu: CpuSpec) -> Check {
    let mut c = Check::new(t("limits.hint"));
    let Some(l) = layout else {
        c.row(t("limits.row_memory"), "-", "-", false);
        return c;
    };
    let page = page_size();
    let want = page_rounded(memory, page);
    let mem_file = l.memory_file(uuid);
    let got = read_trim(&mem_file).unwrap_or_default();
    let shown_want = if want == memory {
        want.to_string()
    } else {
        tf(
            "limits.rounded",
            &[
                ("want", &memory),
                ("got", &want),
                ("page", &page),
                ("pages", &(want / page)),
            ],
        )
    };
    c.row(
        format!(
            "{} ({})",
            t("limits.row_memory"),
            mem_file.file_name().unwrap().to_string_lossy()
        ),
        got.clone(),
        shown_want,
        got == want.to_string(),
    );
    let swap_file = l.swap_file(uuid);
    if swap_file.exists() {
        let got = read_trim(&swap_file).unwrap_or_default();
        let want = if l.version.is_v2() {
            "0".to_string()
        } else {
            want.to_string()
        };
        c.row(
            format!(
                "{} ({})",
                t("limits.row_swap"),
                swap_file.file_name().unwrap().to_string_lossy()
            ),
            got.clone(),
            want.clone(),
            got == want,
        );
    }
    let cdir = l.cpu.join(uuid);
    let (got, want) = if l.version.is_v2() {
        (
            read_trim(&cdir.join("cpu.max")).unwrap_or_default(),
            format!("{} {}", cpu.quota_us, cpu.period_us),
        )
    } else {
        (
            format!(
                "{} {}",
                read_trim(&cdir.join("cpu.cfs_quota_us")).unwrap_or_default(),
                read_trim(&cdir.join("cpu.cfs_period_us")).unwrap_or_default()
            ),
            format!("{} {}", cpu.quota_us, cpu.period_us),
        )
    };
    let label = if l.version.is_v2() {
        "cpu.max"
    } else {
        "cfs_quota_us cfs_period_us"
    };
    c.row(
        format!("{} ({label})", t("limits.row_cpu")),
        got.clone(),
        tf(
            "limits.cpu_share",
            &[("want", &want), ("pct", &format!("{:.0}", cpu.percent()))],
        ),
        got == want,
    );
    c
}

/// The memory counters the demonstration reads: (name, value, primary). The OOM
/// evidence is primary: v2's memory.events (`max`: the limit was hit; `oom_kill`),
/// v1's memory.oom_control `oom_kill`. v1's failcnt counters are shown only when
/// they rose: with the memory+swap limit set, the kernel may charge against
/// memory.memsw.* first, and memory.failcnt can stay 0 while the OOM killer acts.
fn mem_counters(l: &Layout, uuid: &str) -> Vec<(String, Option<u64>, bool)> {
    let m = l.memory.join(uuid);
    if l.version.is_v2() {
        vec![
            (
                "memory.events max".into(),
                crate::sys::cgroup::key_value(&m.join("memory.events"), "max"),
                true,
            ),
            (
                "memory.events oom_kill".into(),
                crate::sys::cgroup::key_value(&m.join("memory.events"), "oom_kill"),
                true,
            ),
        ]
    } else {
        let num = |f: &str| read_trim(&m.join(f)).and_then(|v| v.parse().ok());
        let mut v = vec![(
            "memory.oom_control oom_kill".into(),
            crate::sys::cgroup::key_value(&m.join("memory.oom_control"), "oom_kill"),
            true,
        )];
        v.push(("memory.failcnt".into(), num("memory.failcnt"), false));
        if m.join("memory.memsw.failcnt").exists() {
            v.push((
                "memory.memsw.failcnt".into(),
                num("memory.memsw.failcnt"),
                false,
            ));
        }
        v
    }
}

fn cpu_counters(l: &Layout, uuid: &str) -> Vec<(String, Option<u64>)> {
    let f = l.cpu.join(uuid).join("cpu.stat");
    let time = if l.version.is_v2() {
        "throttled_usec"
    } else {
        "throttled_time"
    };
    ["nr_periods", "nr_throttled", time]
        .iter()
        .map(|k| {
            (
                format!("cpu.stat {k}"),
                crate::sys::cgroup::key_value(&f, k),
            )
        })
        .collect()
}

fn shown(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// A process in the cgroup touches more memory than the limit allows.
fn memory_demo(st: &Context, l: &Layout, c: &mut Check) {
    let procs = l.procs_files(&st.uuid);
    let bytes = st.opts.memory + (32 << 20);
    let before = mem_counters(l, &st.uuid);
    let label = tf("limits.demo_alloc", &[("mib", &(bytes >> 20))]);
    let limit = read_trim(&l.memory_file(&st.uuid)).unwrap_or_default();
    let compared = tf("limits.demo_limit", &[("limit", &limit)]);
    let child = match spawn_in_cgroup(&["alloc".into(), bytes.to_string()], &procs) {
        Ok(ch) => ch,
        Err(e) => {
            c.row(label, crate::sys::explain(e), compared, false);
            return;
        }
    };
    let (out, status) = finish_child(child, std::time::Duration::from_secs(60));
    let mib = crate::demos::value(&out, "mib").unwrap_or(0);
    let survived = crate::demos::value(&out, "survived").is_some();
    let killed = crate::sys::process::killed_by(&status, crate::sys::Signal::SIGKILL);
    let seen = if killed {
        tf("limits.demo_killed", &[("mib", &mib)])
    } else if survived {
        t("limits.demo_survived").to_string()
    } else {
        tf("limits.demo_exited", &[("status", &status), ("mib", &mib)])
    };
    c.row(
        label,
        seen,
        compared,
        killed || (!survived && !status.success()),
    );
    let after = mem_counters(l, &st.uuid);
    let risen = |(_, b, _): &(String, Option<u64>, bool),
                 (_, a, _): &(String, Option<u64>, bool)| {
        matches!((b, a), (Some(b), Some(a)) if a > b)
    };
    let any = before.iter().zip(after.iter()).any(|(b, a)| risen(b, a));
    for (b, a) in before.iter().zip(after.iter()) {
        let rose = risen(b, a);
        let (name, primary) = (&b.0, b.2);
        if !primary && !rose {
            continue;
        }
        // Killed by SIGKILL: the OOM killer acted, and its counter must say so. A
        // process that ended on a refused charge (ENOMEM in a system call) counts
        // no OOM kill, but the limit was hit: some counter rose.
        let oom_row = name.ends_with("oom_kill");
        let (ok, compared) = if rose {
            (true, t("limits.demo_rose"))
        } else if oom_row && killed {
            (false, t("limits.demo_must_rise"))
        } else if oom_row {
            (any, t("limits.demo_no_oom"))
        } else {
            (any, t("limits.demo_must_rise"))
        };
        c.row(
            name.clone(),
            format!("{} → {}", shown(b.1), shown(a.1)),
            compared,
            ok,
        );
    }
}

/// A busy loop in the cgroup, throttled by the CPU quota.
fn cpu_demo(st: &Context, l: &Layout, c: &mut Check) {
    let cpu = st.opts.cpu;
    let procs = l.procs_files(&st.uuid);
    let before = cpu_counters(l, &st.uuid);
    let label = t("limits.demo_spin").to_string();
    let compared = tf(
        "limits.demo_quota",
        &[("pct", &format!("{:.0}", cpu.percent()))],
    );
    let args = vec![
        "spin".to_string(),
        cpu.period_us.to_string(),
        cpu.quota_us.to_string(),
    ];
    let child = match spawn_in_cgroup(&args, &procs) {
        Ok(ch) => ch,
        Err(e) => {
            c.row(label, crate::sys::explain(e), compared, false);
            return;
        }
    };
    let limit =
        std::time::Duration::from_micros(cpu.period_us * 6) + std::time::Duration::from_secs(5);
    let (out, _status) = finish_child(child, limit);
    let after = cpu_counters(l, &st.uuid);
    let throttles = cpu.quota_us < cpu.period_us;
    match (
        crate::demos::value(&out, "cpu_us"),
        crate::demos::value(&out, "wall_us"),
    ) {
        (Some(cpu_us), Some(wall_us)) if wall_us > 0 => {
            let share = cpu_us as f64 * 100.0 / wall_us as f64;
            let bound = (cpu.percent() * 2.0).clamp(cpu.percent() + 10.0, 100.0);
            c.row(
                label,
                tf(
                    "limits.demo_share",
                    &[
                        ("cpu", &format!("{:.2}", cpu_us as f64 / 1e6)),
                        ("wall", &format!("{:.2}", wall_us as f64 / 1e6)),
                        ("pct", &format!("{share:.0}")),
                    ],
                ),
                compared,
                !throttles || share < bound,
            );
        }
        _ => c.row(label, t("limits.demo_no_report"), compared, false),
    }
    for ((name, b), (_, a)) in before.iter().zip(after.iter()).skip(1) {
        let rose = matches!((b, a), (Some(b), Some(a)) if a > b);
        c.row(
            name.clone(),
            format!("{} → {}", shown(*b), shown(*a)),
            if throttles {
                t("limits.demo_must_rise")
            } else {
                t("limits.demo_no_throttle")
            },
            rose || !throttles,
        );
    }
    if let (Some((name, Some(b))), Some((_, Some(a)))) = (before.first(), after.first()) {
        c.row(
            name.clone(),
            format!("{b} → {a}"),
            t("limits.demo_periods"),
            a > b,
        );
    }
}

/// The article's limits, which the practice goal names: 10000000 bytes of memory, and
/// 30% of one CPU (300000 µs in each 1000000 µs period).
pub const ARTICLE_MEMORY: u64 = 10_000_000;

/// What the learner types: `cgset` where cgroup-tools is installed, else `echo` into
/// the files; the names of this host's cgroup version, the swap limit only where its file
/// exists (`swap`), the period before the quota (v1 checks the quota against it).
pub fn commands(s: &Setup, cgset: bool, swap: bool) -> Vec<String> {
    let ops = s
        .layout
        .limit_plan(&s.uuid, ARTICLE_MEMORY, CpuSpec::default(), swap);
    if !cgset {
        return ops.iter().map(Op::shell).collect();
    }
    ops.iter()
        .map(|op| match op {
            Op::Write { path, value } => {
                let file = path.file_name().unwrap_or_default().to_string_lossy();
                let v = if value.contains(' ') {
                    format!("\"{value}\"")
                } else {
                    value.clone()
                };
                format!("cgset -r {file}={v} {}", s.uuid)
            }
            Op::Mkdir(_) => op.shell(),
        })
        .collect()
}

impl Task for Limits {
    fn id(&self) -> &'static str {
        "limits"
    }
    fn inside(&self) -> bool {
        false
    }
    fn solve(&self, s: &Setup) -> Vec<String> {
        commands(
            s,
            crate::rootfs::host::which("cgset").is_some(),
            s.layout.swap_file(&s.uuid).exists(),
        )
    }
    fn judge(&self, s: &Setup) -> Verdict {
        judged(lang(), s)
    }
}

/// What the limit files read now: (memory, memory+swap or swap, cpu) as the kernel
/// writes them, None where a file cannot be read.
struct Read {
    memory: Option<String>,
    swap: Option<String>,
    cpu: Option<String>,
}

fn read_limits(s: &Setup) -> Read {
    let cdir = s.layout.cpu.join(&s.uuid);
    Read {
        memory: read_trim(&s.layout.memory_file(&s.uuid)),
        swap: read_trim(&s.layout.swap_file(&s.uuid)),
        cpu: if s.layout.version.is_v2() {
            read_trim(&cdir.join("cpu.max"))
        } else {
            match (
                read_trim(&cdir.join("cpu.cfs_quota_us")),
                read_trim(&cdir.join("cpu.cfs_period_us")),
            ) {
                (Some(q), Some(p)) => Some(format!("{q} {p}")),
                _ => None,
            }
        },
    }
}

/// Whether a memory limit file reads "no limit" (v2 `max`; v1 the page counter's
/// maximum, 9223372036854771712 with 4 KiB pages).
pub fn memory_unlimited(v: &str) -> bool {
    v == "max" || v.parse::<u64>().is_ok_and(|n| n >= 1 << 62)
}

/// Whether the CPU limit reads "no limit": `QUOTA PERIOD` (v2 `cpu.max`; v1
/// `cpu.cfs_quota_us` and `cpu.cfs_period_us`) with the quota `max` (v2) or `-1` (v1).
pub fn cpu_unlimited(v: &str) -> bool {
    matches!(v.split_whitespace().next(), Some("max" | "-1"))
}

/// The known wrong state the limit files show, if any (pure): one limit set and the
/// other left at "no limit" (its line written with the other cgroup version's names,
/// files that cannot exist here: the write fails and nothing changes); the memory set
/// but not memory+swap (v1 with swap accounting); the memory or the CPU set to another
/// value (v1: a quota against the default period of 100000 µs). `cpu` is `QUOTA PERIOD`.
pub fn wrong_state(
    l: Lang,
    s: &Setup,
    memory: &str,
    swap: Option<&str>,
    cpu: &str,
) -> Option<String> {
    state(l, s, memory, swap, cpu).map(|(line, _)| line)
}

/// [`wrong_state`], and whether the state is only half of the stage (`true`: one limit
/// set and not yet the other, or memory+swap still to write: the stage's later commands
/// are to come, nothing is wrong yet).
fn state(
    l: Lang,
    s: &Setup,
    memory: &str,
    swap: Option<&str>,
    cpu: &str,
) -> Option<(String, bool)> {
    let v2 = s.layout.version.is_v2();
    let (mem_name, cpu_name, other_mem, other_cpu) = if v2 {
        (
            "memory.max",
            "cpu.max",
            "memory.limit_in_bytes",
            "cpu.cfs_quota_us",
        )
    } else {
        (
            "memory.limit_in_bytes",
            "cpu.cfs_quota_us",
            "memory.max",
            "cpu.max",
        )
    };
    let version = s.layout.version.label();
    let mem_off = memory_unlimited(memory);
    let cpu_off = cpu_unlimited(cpu);
    if mem_off && !cpu_off {
        return Some((
            fill(
                t_in(l, "limits.wrong_names"),
                &[
                    ("file", &mem_name),
                    ("other", &other_mem),
                    ("version", &version),
                ],
            ),
            true,
        ));
    }
    if cpu_off && !mem_off {
        return Some((
            fill(
                t_in(l, "limits.wrong_names"),
                &[
                    ("file", &cpu_name),
                    ("other", &other_cpu),
                    ("version", &version),
                ],
            ),
            true,
        ));
    }
    if mem_off {
        return None;
    }
    let cpu_want = format!("{} {}", DEFAULT_QUOTA_US, DEFAULT_PERIOD_US);
    if cpu.split_whitespace().collect::<Vec<_>>().join(" ") != cpu_want {
        let files = if v2 {
            "cpu.max"
        } else {
            "cpu.cfs_quota_us cpu.cfs_period_us"
        };
        return Some((
            fill(
                t_in(l, "limits.wrong_cpu"),
                &[("files", &files), ("got", &cpu), ("want", &cpu_want)],
            ),
            false,
        ));
    }
    let want = page_rounded(ARTICLE_MEMORY, page_size()).to_string();
    if memory != want {
        return Some((
            fill(
                t_in(l, "limits.wrong_value"),
                &[
                    ("file", &mem_name),
                    ("got", &memory),
                    ("want", &ARTICLE_MEMORY),
                    ("rounded", &want),
                ],
            ),
            false,
        ));
    }
    if let Some(sw) = swap {
        let unset = if v2 { sw != "0" } else { memory_unlimited(sw) };
        if unset {
            let file = if v2 {
                "memory.swap.max"
            } else {
                "memory.memsw.limit_in_bytes"
            };
            return Some((
                fill(
                    t_in(l, "limits.wrong_swap"),
                    &[("file", &file), ("got", &sw)],
                ),
                true,
            ));
        }
    }
    None
}

/// The judge, in language `l`.
fn judged(l: Lang, s: &Setup) -> Verdict {
    let c = evidence(Some(&s.layout), &s.uuid, ARTICLE_MEMORY, CpuSpec::default());
    let r = read_limits(s);
    let (wrong, half) = match (&r.memory, &r.cpu) {
        (Some(m), Some(cpu)) => match state(l, s, m, r.swap.as_deref(), cpu) {
            Some((line, true)) => (None, Some(line)),
            Some((line, false)) => (Some(line), None),
            None => (None, None),
        },
        _ => (None, None),
    };
    judge::verdict_or_halfway(l, "limits", c, wrong, half)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lessons::judge::tests::setup;

    #[test]
    fn the_commands_name_this_hosts_files() {
        let v1 = setup(false);
        let u = &v1.uuid;
        assert_eq!(
            commands(&v1, true, true),
            [
                format!("cgset -r memory.limit_in_bytes=10000000 {u}"),
                format!("cgset -r memory.memsw.limit_in_bytes=10000000 {u}"),
                format!("cgset -r cpu.cfs_period_us=1000000 {u}"),
                format!("cgset -r cpu.cfs_quota_us=300000 {u}"),
            ]
        );
        assert_eq!(
            commands(&v1, false, false),
            [
                format!("echo 10000000 > /sys/fs/cgroup/memory/{u}/memory.limit_in_bytes"),
                format!("echo 1000000 > /sys/fs/cgroup/cpu/{u}/cpu.cfs_period_us"),
                format!("echo 300000 > /sys/fs/cgroup/cpu/{u}/cpu.cfs_quota_us"),
            ]
        );
        let v2 = setup(true);
        assert_eq!(
            commands(&v2, true, true),
            [
                format!("cgset -r memory.max=10000000 {u}"),
                format!("cgset -r memory.swap.max=0 {u}"),
                format!("cgset -r cpu.max=\"300000 1000000\" {u}"),
            ]
        );
        assert_eq!(
            commands(&v2, false, false),
            [
                format!("echo 10000000 > /sys/fs/cgroup/{u}/memory.max"),
                format!("echo \"300000 1000000\" > /sys/fs/cgroup/{u}/cpu.max"),
            ]
        );
    }

    #[test]
    fn no_limit_as_each_version_writes_it() {
        assert!(memory_unlimited("max"));
        assert!(memory_unlimited("9223372036854771712"));
        assert!(!memory_unlimited("9998336"));
        assert!(cpu_unlimited("-1 100000"));
        assert!(cpu_unlimited("max 100000"));
        assert!(!cpu_unlimited("300000 100000"));
        assert!(!cpu_unlimited("300000 1000000"));
    }

    #[test]
    fn wrong_states_name_the_right_files() {
        let want = page_rounded(ARTICLE_MEMORY, page_size()).to_string();
        for l in [Lang::En, Lang::Ja] {
            let v1 = setup(false);
            let unl = "9223372036854771712";
            // v2's memory.max on v1: the memory stays unlimited, the cpu quota was set.
            let w = wrong_state(l, &v1, unl, Some(unl), "300000 1000000").unwrap();
            assert!(
                w.contains("memory.limit_in_bytes") && w.contains("memory.max"),
                "{w}"
            );
            let w = wrong_state(l, &v1, &want, Some(&want), "-1 1000000").unwrap();
            assert!(
                w.contains("cpu.cfs_quota_us") && w.contains("cpu.max"),
                "{w}"
            );
            let w = wrong_state(l, &v1, &want, Some(unl), "300000 1000000").unwrap();
            assert!(w.contains("memory.memsw.limit_in_bytes"), "{w}");
            let w = wrong_state(l, &v1, "10485760", None, "300000 1000000").unwrap();
            assert!(w.contains("10485760") && w.contains("10000000"), "{w}");
            assert_eq!(wrong_state(l, &v1, unl, None, "-1 100000"), None);
            // A quota against v1's default period: 300% of a CPU, not 30%.
            let w = wrong_state(l, &v1, &want, Some(&want), "300000 100000").unwrap();
            assert!(
                w.contains("300000 100000") && w.contains("300000 1000000"),
                "{w}"
            );
            assert_eq!(
                wrong_state(l, &v1, &want, Some(&want), "300000 1000000"),
                None
            );
            let v2 = setup(true);
            let w = wrong_state(l, &v2, "max", Some("max"), "300000 1000000").unwrap();
            assert!(
                w.contains("memory.max") && w.contains("memory.limit_in_bytes"),
                "{w}"
            );
            let w = wrong_state(l, &v2, &want, Some("0"), "max 100000").unwrap();
            assert!(
                w.contains("cpu.max") && w.contains("cpu.cfs_quota_us"),
                "{w}"
            );
            assert_eq!(
                wrong_state(l, &v2, &want, Some("0"), "300000 1000000"),
                None
            );
        }
    }
}
