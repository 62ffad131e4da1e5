//! limits: memory and CPU written into the cgroup's files, read back.

use super::{Check, Lesson};
use crate::error::Result;
use crate::i18n::{t, tf};
use crate::sys::cgroup::{page_rounded, page_size, Layout, Op};
use crate::sys::read_trim;
use crate::walk::State;

pub struct Limits;

fn plan(st: &State, l: &Layout) -> Vec<Op> {
    let swap = l.swap_file(&st.uuid).exists() || st.cgroup.is_none();
    l.limit_plan(&st.uuid, st.opts.memory, st.opts.cpu, swap)
}

impl Lesson for Limits {
    fn id(&self) -> &'static str {
        "limits"
    }

    fn shell(&self, st: &State) -> String {
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

    fn run(&self, st: &mut State) -> Result<Vec<String>> {
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

    fn check(&self, st: &mut State) -> Check {
        let mut c = Check::new(t("limits.hint"));
        let Some(l) = &st.layout else {
            c.row(t("limits.row_memory"), "-", "-", false);
            return c;
        };
        let page = page_size();
        let want = page_rounded(st.opts.memory, page);
        let mem_file = l.memory_file(&st.uuid);
        let got = read_trim(&mem_file).unwrap_or_default();
        let shown_want = if want == st.opts.memory {
            want.to_string()
        } else {
            tf(
                "limits.rounded",
                &[
                    ("want", &st.opts.memory),
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
        let swap_file = l.swap_file(&st.uuid);
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
        let cpu = st.opts.cpu;
        let cdir = l.cpu.join(&st.uuid);
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
}
