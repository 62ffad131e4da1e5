//! proc: `mount -t proc proc $ROOTFS/proc`, inside the new namespaces.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, ROOTFS};
use super::lesson::Lesson;
use super::view::{self, View};
use crate::error::Result;
use crate::sys::mountinfo;
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

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
        let mut c = Check::new(t("proc.hint"));
        let Some(view) = View::of(st).filter(|v| v.rootfs.is_some()) else {
            c.row(t("proc.row_pids"), "-", "-", false);
            return c;
        };
        let host_count = crate::sys::files::names(std::path::Path::new("/proc"))
            .map(|names| view::pids_in(names.into_iter()).len())
            .unwrap_or(0);
        let pids = view.pids();
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
            pids.as_deref() == Some(&[1]),
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
}
