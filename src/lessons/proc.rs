//! proc: `mount -t proc proc $ROOTFS/proc`, inside the new namespaces.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, ROOTFS};
use super::judge;
use super::lesson::Lesson;
use super::task::{Setup, Task, Verdict};
use super::view::{self, View};
use crate::error::Result;
use crate::sys::mountinfo;
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, lang, t, t_in, tf, Lang};

pub struct Proc;

/// Adds what a step created inside a rootfs to what cleanup removes (`dir:` only;
/// a temp rootfs goes as a whole).
/// The commands of the stage, for rootfs `r` as the shell names it.
fn commands(r: &str) -> String {
    format!("mkdir -p {r}/proc\nmount -t proc proc {r}/proc")
}

pub fn record(st: &mut Context, created: Vec<std::path::PathBuf>) {
    if let Some(rootfs) = st.rootfs.as_mut() {
        for p in &created {
            let _ = st.journal.identify(p);
        }
        rootfs.added.extend(created);
    }
}

impl Lesson for Proc {
    fn id(&self) -> &'static str {
        "proc"
    }

    fn shell(&self, st: &Context) -> String {
        commands(&st.rootfs_shown())
    }

    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![Fragment::Inside(commands(ROOTFS))]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let root = st.root()?;
        st.record_added(&["proc"])?;
        let created = st.agent()?.mount_proc(&root)?;
        record(st, created);
        Ok(vec![format!(
            "mount(\"proc\", \"{}/proc\", \"proc\", 0, NULL)",
            root.display()
        )])
    }

    /// From the host: the PIDs the container's own /proc lists (reached through
    /// `/proc/PID/root`), and where the mount table of PID 1 and the host's have a
    /// proc mount at the rootfs's /proc.
    fn check(&self, st: &mut Context) -> Check {
        evidence(View::of(st).filter(|v| v.rootfs.is_some()).as_ref(), true)
    }

    fn task(&self) -> Option<&dyn Task> {
        Some(self)
    }
}

/// The evidence, on the container's first process `view`: its /proc lists only PID 1
/// (`only_pid1`; else PID 1 first, and that PID 1 is the container's own, by its start
/// time: the learner's shell may have children), the proc mount is in its mount table,
/// and not in the host's.
pub fn evidence(view: Option<&View>, only_pid1: bool) -> Check {
    let mut c = Check::new(t("proc.hint"));
    let Some(view) = view.filter(|v| v.rootfs.is_some()) else {
        c.row(t("proc.row_pids"), "-", "-", false);
        return c;
    };
    let host_count = crate::sys::files::names(std::path::Path::new("/proc"))
        .map(|names| view::pids_in(names.into_iter()).len())
        .unwrap_or(0);
    let pids = view.pids();
    let ok = if only_pid1 {
        pids.as_deref() == Some(&[1])
    } else {
        pids.as_ref().is_some_and(|p| p.first() == Some(&1)) && own_pid1(view)
    };
    c.row(
        t("proc.row_pids"),
        match &pids {
            Some(p) => p
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            None => "-".into(),
        },
        tf("proc.host_count", &[("n", &host_count)]),
        ok,
    );
    // PID 1 names the mount point from its own root; the host from its.
    let inside = view::mounted_at(&view.mounts(), &view.own_path("proc"), "proc");
    let target = view.rootfs.clone().unwrap_or_default().join("proc");
    let outside = mountinfo::read(None)
        .unwrap_or_default()
        .iter()
        .any(|m| m.mount_point == target);
    c.row(
        tf("proc.row_mount_in", &[("pid", &view.pid)]),
        if inside {
            t("proc.present")
        } else {
            t("proc.absent")
        },
        t("proc.want_present"),
        inside,
    );
    c.row(
        t("proc.row_mount_host"),
        if outside {
            t("proc.present")
        } else {
            t("proc.absent")
        },
        t("proc.want_absent"),
        !outside,
    );
    c
}

/// Whether the PID 1 the container's /proc lists is the container's first process
/// (the same start time): a proc of the host's PID namespace lists the host's init.
fn own_pid1(view: &View) -> bool {
    use crate::sys::procfs::Stat;
    let inside = crate::sys::files::read_text(&view.inside("proc/1/stat"))
        .and_then(|l| Stat::parse(&l))
        .and_then(|s| s.start_time());
    let outside = Stat::of(crate::sys::procfs::Who::Pid(view.pid)).and_then(|s| s.start_time());
    inside.is_some() && inside == outside
}

/// What the learner types inside the new namespaces.
pub fn lines(s: &Setup) -> Vec<String> {
    let r = judge::under(s, "proc");
    vec![format!("mkdir -p {r}"), format!("mount -t proc proc {r}")]
}

impl Task for Proc {
    fn id(&self) -> &'static str {
        "proc"
    }
    fn inside(&self) -> bool {
        true
    }
    fn solve(&self, s: &Setup) -> Vec<String> {
        lines(s)
    }
    fn judge(&self, s: &Setup) -> Verdict {
        judged(lang(), s)
    }
}

/// The judge, in language `l`. Known wrong ways: the proc in the host's mount table
/// (mounted before `unshare`, or propagated out of a shared mount); a proc of the
/// host's PID namespace at `$ROOTFS/proc` (mounted by a process outside the new one);
/// proc mounted over the container's `/proc` instead of the rootfs's.
fn judged(l: Lang, s: &Setup) -> Verdict {
    let found = judge::find(s);
    let view = found.view(s);
    let c = evidence(view.as_ref(), false);
    let mut wrong = judge::wrong_gone(l, &found).or_else(|| judge::wrong_host_mount(l, s, "proc"));
    if let (None, Some(v)) = (&wrong, &view) {
        let at = v.own_path("proc");
        let mounts = v.mounts();
        if view::mounted_at(&mounts, &at, "proc") && v.pids().is_some() && !own_pid1(v) {
            wrong = Some(t_in(l, "proc.wrong_host_pidns").to_string());
        } else if !view::mounted_at(&mounts, &at, "proc")
            && mounts
                .iter()
                .filter(|m| m.mount_point == std::path::Path::new("/proc"))
                .count()
                > 1
        {
            wrong = Some(fill(
                t_in(l, "proc.wrong_slash_proc"),
                &[("path", &s.rootfs.join("proc").display())],
            ));
        }
    }
    judge::verdict(l, "proc", c, wrong)
}
