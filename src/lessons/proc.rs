//! proc: `mount -t proc proc $ROOTFS/proc`, inside the new namespaces.

use super::fragment::{Fragment, ScriptCtx, ROOTFS};
use super::{Check, Lesson};
use crate::agent::{Reply, Request};
use crate::error::Result;
use crate::sys::mountinfo;
use crate::ui::i18n::{t, tf};
use crate::walk::State;

pub struct Proc;

/// Adds what a step created inside a rootfs to what cleanup removes (`dir:` only;
/// a temp rootfs goes as a whole).
/// The commands of the stage, for rootfs `r` as the shell names it.
fn commands(r: &str) -> String {
    format!("mkdir -p {r}/proc\nmount -t proc proc {r}/proc")
}

pub fn record(st: &mut State, r: Reply) {
    if let (Some(rootfs), Reply::Done { created }) = (st.rootfs.as_mut(), r) {
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

    fn shell(&self, st: &State) -> String {
        commands(&st.rootfs_shown())
    }

    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![Fragment::Inside(commands(ROOTFS))]
    }

    fn run(&self, st: &mut State) -> Result<Vec<String>> {
        let root = st.root()?;
        st.record_added(&["proc"])?;
        let r = st
            .agent()?
            .call(Request::MountProc { root: root.clone() }, t("proc.step"))?;
        record(st, r);
        Ok(vec![format!(
            "mount(\"proc\", \"{}/proc\", \"proc\", 0, NULL)",
            root.display()
        )])
    }

    fn check(&self, st: &mut State) -> Check {
        let mut c = Check::new(t("proc.hint"));
        let (Some(rootfs), Some(pid1)) =
            (st.rootfs.as_ref(), st.agent.as_ref().and_then(|a| a.pid1))
        else {
            c.row(t("proc.row_pids"), "-", "-", false);
            return c;
        };
        let target = rootfs.path.join("proc");
        let host_count = std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                    .count()
            })
            .unwrap_or(0);
        let root = rootfs.path.clone();
        let pids = match st
            .agent
            .as_mut()
            .map(|a| a.call(Request::ListPids { root }, t("proc.step_list")))
        {
            Some(Ok(Reply::Pids(p))) => Some(p),
            _ => None,
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
            pids.as_deref() == Some(&[1]),
        );
        let agent_mounts = mountinfo::read(Some(pid1 as u32)).unwrap_or_default();
        let host_mounts = mountinfo::read(None).unwrap_or_default();
        let inside = agent_mounts
            .iter()
            .any(|m| m.mount_point == target && m.fstype == "proc");
        let outside = host_mounts.iter().any(|m| m.mount_point == target);
        c.row(
            tf("proc.row_mount_in", &[("pid", &pid1)]),
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
