//! cgroupns (`--harden`): a cgroup namespace, made after the cgroup was joined, so that
//! the container's cgroup is `/` to it.

use super::confine::{pid1, step};
use super::context::Context;
use super::lesson::Lesson;
use super::view::{host_ns, View};
use crate::agent::HardenStep;
use crate::error::Result;
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

pub struct Cgroupns;

/// The paths of a /proc/PID/cgroup text (the third field of each line).
pub fn paths(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .collect()
}

/// unshare(1)'s option for a new cgroup namespace.
pub const UNSHARE: &str = "--cgroup";

impl Lesson for Cgroupns {
    fn id(&self) -> &'static str {
        "cgroupns"
    }

    fn shell(&self, _st: &Context) -> String {
        format!(
            "unshare {UNSHARE} …    # {with}\ncat /proc/self/cgroup    # {see}",
            with = t("cgroupns.sh_with"),
            see = t("cgroupns.sh_see"),
        )
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let pid = pid1(st)?;
        step(st, HardenStep::CgroupNs)?;
        Ok(vec![tf("cgroupns.did", &[("pid", &pid)])])
    }

    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("cgroupns.hint"));
        let Some(view) = View::of(st) else {
            c.row("/proc/self/cgroup", "-", t("err.no_agent"), false);
            return c;
        };
        // /proc/PID/cgroup as a thread in the container's cgroup namespace reads it,
        // and as the host does.
        let inside = crate::sys::probe::cgroup_seen_from(view.pid).unwrap_or_default();
        let host_view = view.cgroup();
        let ps = paths(&inside);
        let mut shown: Vec<&str> = ps.clone();
        shown.dedup();
        c.row(
            t("cgroupns.row_inside"),
            crate::ui::sanitize::clean(&shown.join(" ")),
            tf(
                "cgroupns.want_root",
                &[(
                    "host",
                    &paths(&host_view)
                        .into_iter()
                        .find(|p| *p != "/")
                        .unwrap_or("-"),
                )],
            ),
            !ps.is_empty() && ps.iter().all(|p| *p == "/"),
        );
        let (a, b) = (view.ns("cgroup"), host_ns("cgroup"));
        c.row(
            "ns/cgroup",
            a.clone(),
            tf("ns.host_is", &[("v", &b)]),
            !a.is_empty() && a != b,
        );
        let fs: Vec<String> = view
            .mounts()
            .iter()
            .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
            .map(|m| crate::ui::sanitize::clean_path(&m.mount_point))
            .collect();
        c.row(
            t("cgroupns.row_fs"),
            if fs.is_empty() {
                t("shell.none").to_string()
            } else {
                fs.join(" ")
            },
            t("shell.none"),
            fs.is_empty(),
        );
        c
    }
}
