//! cgroup: `cgcreate -g cpu,memory:$UUID`, or the raw mkdir on cgroupfs.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, UUID};
use super::judge;
use super::lesson::Lesson;
use super::task::{Setup, Task, Verdict};
use crate::error::Result;
use crate::sys::cgroup::{Cgroup, Layout, Op};
use crate::sys::read_trim;
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, lang, t, t_in, tf, Lang};

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
        evidence(
            st.layout.as_ref(),
            st.cgroup.as_ref().map(|c| c.name.as_str()),
        )
    }

    fn task(&self) -> Option<&dyn Task> {
        Some(self)
    }
}

/// The evidence: cgroup `name`'s directories on `layout`, each with the files the kernel
/// makes for its controllers (v2: the root's `cgroup.subtree_control` too).
pub fn evidence(layout: Option<&Layout>, name: Option<&str>) -> Check {
    let mut c = Check::new(t("cgroup.hint"));
    let (Some(l), Some(name)) = (layout, name) else {
        c.row(t("cgroup.row_dir"), "-", t("cgroup.none"), false);
        return c;
    };
    for d in l.dirs(name) {
        let ok = d.is_dir();
        c.row(
            t("cgroup.row_dir"),
            d.display().to_string(),
            t("cgroup.exists"),
            ok,
        );
    }
    for f in l.controller_files(name) {
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

/// What the learner types: `cgcreate` where cgroup-tools is installed, else the
/// directories made by hand (on v2 with the controllers enabled first).
pub fn commands(s: &Setup, cgcreate: bool) -> Vec<String> {
    if cgcreate {
        return vec![format!("cgcreate -g cpu,memory:{}", s.uuid)];
    }
    let root = if s.layout.version.is_v2() {
        read_trim(&s.layout.memory.join("cgroup.subtree_control")).unwrap_or_default()
    } else {
        String::new()
    };
    s.layout
        .create_plan(&s.uuid, &root)
        .iter()
        .map(Op::shell)
        .collect()
}

impl Task for CgroupLesson {
    fn id(&self) -> &'static str {
        "cgroup"
    }
    fn inside(&self) -> bool {
        false
    }
    fn solve(&self, s: &Setup) -> Vec<String> {
        commands(s, crate::rootfs::host::which("cgcreate").is_some())
    }
    fn judge(&self, s: &Setup) -> Verdict {
        judged(lang(), s)
    }
}

/// The judge, in language `l`. Known wrong ways: the cgroup made in one hierarchy of
/// two (v1: `cgcreate -g memory:…`), or on v2 without the controllers enabled (its
/// directory has no `memory.max`, `cpu.max`).
fn judged(l: Lang, s: &Setup) -> Verdict {
    let c = evidence(Some(&s.layout), Some(&s.uuid));
    let dirs = s.layout.dirs(&s.uuid);
    let (have, lack): (Vec<_>, Vec<_>) = dirs.iter().partition(|d| d.is_dir());
    // Made in one hierarchy of two: a mistake with `cgcreate -g memory:…`, or the first of
    // two `mkdir`s: said as what is left to do.
    let half = (!have.is_empty() && !lack.is_empty()).then(|| {
        fill(
            t_in(l, "cgroup.wrong_partial"),
            &[
                ("have", &have[0].display()),
                ("lack", &lack[0].display()),
                ("uuid", &s.uuid),
            ],
        )
    });
    let wrong = if half.is_some() {
        None
    } else if lack.is_empty()
        && s.layout
            .controller_files(&s.uuid)
            .iter()
            .any(|f| !f.is_file())
    {
        let sub = read_trim(&s.layout.memory.join("cgroup.subtree_control")).unwrap_or_default();
        Some(fill(
            t_in(l, "cgroup.wrong_controllers"),
            &[
                (
                    "file",
                    &s.layout.memory.join("cgroup.subtree_control").display(),
                ),
                ("sub", &sub),
            ],
        ))
    } else {
        None
    };
    judge::verdict_or_halfway(l, "cgroup", c, wrong, half)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lessons::judge::tests::setup;

    #[test]
    fn the_commands_for_v1_and_v2() {
        let v1 = setup(false);
        assert_eq!(
            commands(&v1, true),
            ["cgcreate -g cpu,memory:0c0ffee0-1234-4abc-8def-0123456789ab"]
        );
        assert_eq!(
            commands(&v1, false),
            [
                "mkdir /sys/fs/cgroup/memory/0c0ffee0-1234-4abc-8def-0123456789ab",
                "mkdir /sys/fs/cgroup/cpu/0c0ffee0-1234-4abc-8def-0123456789ab"
            ]
        );
        let v2 = setup(true);
        let raw = commands(&v2, false);
        assert_eq!(
            raw.last().unwrap(),
            "mkdir /sys/fs/cgroup/0c0ffee0-1234-4abc-8def-0123456789ab"
        );
    }
}
