//! cgroup: `cgcreate -g cpu,memory:$UUID`, or the raw mkdir on cgroupfs.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, UUID};
use super::lesson::Lesson;
use crate::error::Result;
use crate::sys::cgroup::{Cgroup, Layout, Op};
use crate::sys::read_trim;
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

pub struct CgroupLesson;

/// The root's `cgroup.subtree_control` on v2 (empty elsewhere).
fn root_subtree(l: &Layout) -> String {
    if l.version.is_v2() {
        read_trim(&l.memory.join("cgroup.subtree_control")).unwrap_or_default()
    } else {
        String::new()
    }
}

impl Lesson for CgroupLesson {
    fn id(&self) -> &'static str {
        "cgroup"
    }

    fn shell(&self, st: &Context) -> String {
        let Some(l) = &st.layout else {
            return format!("cgcreate -g cpu,memory:{}", st.uuid);
        };
        let plan = l.create_plan(&st.uuid, &root_subtree(l));
        let raw: Vec<String> = plan.iter().map(Op::shell).collect();
        format!(
            "UUID={uuid}\ncgcreate -g cpu,memory:$UUID      # {article}\n# {raw_label} ({version}):\n{raw}",
            uuid = st.uuid,
            article = t("cgroup.sh_article"),
            raw_label = t("cgroup.sh_raw"),
            version = l.version.label(),
            raw = raw.join("\n")
        )
    }

    /// On v2 the controllers are enabled when the root lacks them (read when the
    /// script runs), then the directories made as the lesson makes them.
    fn script(&self, sc: &ScriptCtx) -> Vec<Fragment> {
        let l = sc.layout;
        let mut s = String::new();
        if l.version.is_v2() {
            s.push_str(&format!(
                "for c in memory cpu; do\n  grep -qw \"$c\" {m}/cgroup.subtree_control || echo \"+$c\" > {m}/cgroup.subtree_control\ndone\n",
                m = l.memory.display()
            ));
        }
        let made: Vec<String> = l
            .dirs(UUID)
            .into_iter()
            .map(|d| Op::Mkdir(d).shell())
            .collect();
        s.push_str(&made.join("\n"));
        vec![Fragment::Host(s)]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let l = st.layout()?.clone();
        let plan = l.create_plan(&st.uuid, &root_subtree(&l));
        let journal = &mut st.journal;
        let (cg, r) = Cgroup::create(&l, &st.uuid, &plan, &mut |p| {
            journal.add(crate::journal::Item::Cgroup {
                path: p.to_path_buf(),
            })
        });
        let enabled = cg.enabled.clone();
        // Recorded before the error is looked at: what exists is removed at the end.
        st.cgroup = Some(cg);
        r?;
        let mut did: Vec<String> = plan.iter().map(Op::shell).collect();
        if !enabled.is_empty() {
            did.push(tf(
                "cgroup.did_enabled",
                &[
                    ("list", &enabled.join(" ")),
                    ("path", &l.memory.join("cgroup.subtree_control").display()),
                ],
            ));
        }
        Ok(did)
    }

    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("cgroup.hint"));
        let (Some(l), Some(cg)) = (&st.layout, &st.cgroup) else {
            c.row(t("cgroup.row_dir"), "-", t("cgroup.none"), false);
            return c;
        };
        for d in l.dirs(&cg.name) {
            let ok = d.is_dir();
            c.row(
                t("cgroup.row_dir"),
                d.display().to_string(),
                t("cgroup.exists"),
                ok,
            );
        }
        for f in l.controller_files(&cg.name) {
            let ok = f.is_file();
            c.row(
                t("cgroup.row_file"),
                f.display().to_string(),
                t("cgroup.by_kernel"),
                ok,
            );
        }
        if l.version.is_v2() {
            let sub = read_trim(&l.memory.join("cgroup.subtree_control")).unwrap_or_default();
            let lack = crate::sys::cgroup::missing_controllers(&sub);
            c.row(
                "cgroup.subtree_control",
                sub.clone(),
                "memory cpu",
                lack.is_empty(),
            );
        }
        c
    }
}
