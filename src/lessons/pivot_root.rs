//! pivot_root (`--harden`): the rootfs becomes the root of the mount namespace, and the
//! host's root is unmounted from it, so that no chroot escape has anywhere to go.

use super::confine::step;
use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, ROOTFS};
use super::lesson::Lesson;
use super::view::View;
use crate::agent::HardenStep;
use crate::error::Result;
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

pub struct PivotRoot;

/// Rootfs `r` (as the shell names it) becomes `/`; the old root is detached with `umount`.
fn commands(r: &str, umount: &str) -> String {
    format!(
        "mount --rbind {r} {r}    # {point}\ncd {r}\npivot_root . .    # {stack}\nmount --make-rslave .\n{umount} -l .    # {detach}\ncd /",
        point = t("pivot.sh_point"),
        stack = t("pivot.sh_stack"),
        detach = t("pivot.sh_detach"),
    )
}

impl Lesson for PivotRoot {
    fn id(&self) -> &'static str {
        "pivot_root"
    }

    fn shell(&self, st: &Context) -> String {
        commands(&st.rootfs_shown(), "umount")
    }

    /// umount(8) from the copy the script put in the rootfs (`.hako`).
    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![Fragment::Last(commands(ROOTFS, "/.hako/umount"))]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let root = st.root()?;
        step(st, HardenStep::PivotRoot { root: root.clone() })?;
        Ok(vec![
            t("pivot.did_leave").to_string(),
            format!(
                "mount(\"{r}\", \"{r}\", NULL, MS_BIND|MS_REC, NULL); chdir(\"{r}\")",
                r = root.display()
            ),
            "pivot_root(\".\", \".\"); fchdir(old root)".into(),
            "mount(NULL, \".\", NULL, MS_SLAVE|MS_REC, NULL); umount2(\".\", MNT_DETACH); chdir(\"/\")"
                .into(),
        ])
    }

    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("pivot.hint"));
        let Some(view) = View::of(st) else {
            c.row(t("pivot.row_host_root"), "-", t("err.no_agent"), false);
            return c;
        };
        let pid = view.pid;
        let host_root = st
            .host_mounts
            .iter()
            .find(|m| m.mount_point == std::path::Path::new("/"))
            .cloned();
        let inside = view.mounts();
        if let Some(h) = &host_root {
            let found = inside.iter().any(|m| {
                (m.major, m.minor) == (h.major, h.minor) && m.root == std::path::Path::new("/")
            });
            c.row(
                tf("pivot.row_host_root", &[("pid", &pid)]),
                if found {
                    t("proc.present").to_string()
                } else {
                    t("proc.absent").to_string()
                },
                tf(
                    "pivot.want_absent",
                    &[
                        ("dev", &format!("{}:{}", h.major, h.minor)),
                        ("fs", &h.fstype),
                    ],
                ),
                !found && !inside.is_empty(),
            );
        }
        let points: Vec<String> = inside
            .iter()
            .map(|m| m.mount_point.display().to_string())
            .collect();
        let want = st.rootfs_shown();
        // `/` inside is the rootfs directory, as its filesystem names it: the whole path
        // when /tmp is on the host's root filesystem, its tail when /tmp is a mount of its own.
        let slash = inside
            .iter()
            .find(|m| m.mount_point == std::path::Path::new("/"));
        let ok = slash.is_some_and(|m| {
            let r = m.root.display().to_string();
            if r == "/" {
                host_root
                    .as_ref()
                    .is_some_and(|h| (h.major, h.minor) != (m.major, m.minor))
            } else {
                want.ends_with(&r)
            }
        });
        c.row(
            t("pivot.row_slash"),
            slash
                .map(|m| format!("{} ({}:{})", m.root.display(), m.major, m.minor))
                .unwrap_or("-".into()),
            want.clone(),
            ok,
        );
        // Only the container's own mounts: its root and what hako mounted under /proc
        // and /dev (a host mount such as /sys/fs/cgroup or /tmp here would be a leak).
        let own = !points.is_empty()
            && points.iter().all(|p| {
                p == "/" || p.starts_with("/proc") || p.starts_with("/dev") || p.starts_with("/sys")
            });
        c.row(
            t("pivot.row_mounts"),
            points.join(" "),
            t("pivot.want_own"),
            own,
        );
        // The escape, tried again by a child of PID 1 that holds CAP_SYS_CHROOT.
        let host = super::chroot::host_root();
        match st.agent.as_mut().map(|a| a.escape_demo()) {
            Some(Ok((with_cap, _))) => {
                let out = (with_cap.root_dev, with_cap.root_ino) == host;
                c.row(
                    tf(
                        "chroot.demo_with",
                        &[("cap", &with_cap.cap_eff), ("dir", &with_cap.dir)],
                    ),
                    super::chroot::escape_seen(&with_cap),
                    tf("pivot.want_stay", &[("dev", &host.0), ("ino", &host.1)]),
                    !out,
                );
            }
            _ => c.row(t("pivot.row_escape"), "-", t("chroot.demo_not_run"), false),
        }
        c
    }
}
