//! caps (`--harden`): every capability set cut to Docker's default list.

use super::beyond::names;
use super::chroot::CAP_SYS_CHROOT_BIT;
use super::confine::{probe, step};
use super::context::Context;
use super::lesson::Lesson;
use super::view::View;
use crate::agent::{HardenStep, Probe};
use crate::error::Result;
use crate::sys::harden::docker_mask;
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

pub struct Caps;

/// What the walk keeps: Docker's 14, less CAP_SYS_CHROOT, which the chroot lesson took
/// from the bounding set already (the bounding set never grows back).
/// setpriv(1)'s options that keep only [`kept`] in every set.
pub fn setpriv_args() -> String {
    let plus: Vec<String> = names(kept())
        .iter()
        .map(|n| format!("+{}", n.to_lowercase()))
        .collect();
    format!(
        "--bounding-set=-all,{} --inh-caps=-all --ambient-caps=-all",
        plus.join(",")
    )
}

pub fn kept() -> u64 {
    docker_mask() & !CAP_SYS_CHROOT_BIT
}

/// The host's / as major:minor, when it is a block device (major ≠ 0).
pub fn host_root_dev(st: &Context) -> Option<(u32, u32, String)> {
    st.host_mounts
        .iter()
        .find(|m| m.mount_point == std::path::Path::new("/"))
        .map(|m| (m.major, m.minor, m.fstype.clone()))
}

impl Lesson for Caps {
    fn id(&self) -> &'static str {
        "caps"
    }

    fn shell(&self, _st: &Context) -> String {
        let drop: Vec<String> = names(((1u64 << 41) - 1) & !kept())
            .iter()
            .map(|n| format!("cap_{}", n.to_lowercase()))
            .collect();
        format!(
            "capsh --drop={drop} --inh= --    # {capsh}\nsetpriv {args} …    # {setpriv}",
            drop = drop.join(","),
            args = setpriv_args(),
            capsh = t("caps.sh_capsh"),
            setpriv = t("caps.sh_setpriv"),
        )
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        step(st, HardenStep::Caps { keep: kept() })?;
        Ok(vec![tf(
            "caps.did",
            &[
                ("mask", &format!("{:016x}", kept())),
                ("list", &names(kept()).join(" ")),
            ],
        )])
    }

    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("caps.hint"));
        let Some(view) = View::of(st) else {
            c.row("CapBnd", "-", t("err.no_agent"), false);
            return c;
        };
        let pid = view.pid;
        let want = format!("{:016x}", kept());
        for (set, expect) in [
            ("CapBnd", want.as_str()),
            ("CapEff", want.as_str()),
            ("CapInh", "0000000000000000"),
            ("CapAmb", "0000000000000000"),
        ] {
            let v = view.status(set);
            c.row(
                tf("harden.row_status", &[("pid", &pid), ("field", &set)]),
                v.clone(),
                expect.to_string(),
                v == expect,
            );
        }
        let seen = probe(st, Probe::Mount);
        c.row(
            t("caps.row_mount"),
            seen.as_ref().map(|s| s.shown()).unwrap_or("-".into()),
            t("caps.want_eperm"),
            seen.is_some_and(|s| s.errno == Some(crate::sys::Errno::EPERM as i32)),
        );
        c
    }

    fn has_demo(&self) -> bool {
        true
    }

    /// The disk: mknod of the host's root device and a read of its superblock, by the
    /// article's root (host root in the rootfs) and by root inside this container.
    fn demo(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("caps.demo_hint"));
        let Some((major, minor, fs)) = host_root_dev(st) else {
            c.row(t("caps.demo_article"), "-", t("caps.demo_no_root"), false);
            return c;
        };
        if major == 0 {
            c.row(
                t("caps.demo_article"),
                tf(
                    "caps.demo_no_dev",
                    &[("fs", &fs), ("dev", &format!("0:{minor}"))],
                ),
                t("caps.demo_nothing"),
                true,
            );
            return c;
        }
        let dev = format!("{major}:{minor}");
        let article = st
            .root()
            .ok()
            .and_then(|r| crate::demos::mknod_as_host_root(&r, major, minor));
        let magic = |n: u64| {
            if n == crate::sys::harden::EXT_MAGIC as u64 {
                tf("caps.demo_magic_ext", &[("m", &format!("{n:#06x}"))])
            } else {
                tf("caps.demo_magic", &[("m", &format!("{n:#06x}"))])
            }
        };
        c.row(
            tf("caps.demo_article_dev", &[("dev", &dev)]),
            match &article {
                Some(s) if s.errno.is_none() => magic(s.n),
                // The node was made: the capability way out is there. Something above
                // this host (a hypervisor, an LSM) refuses even the host's root the disk.
                Some(s) if s.text == "open" => tf("caps.demo_host_refuses", &[("r", &s.shown())]),
                Some(s) => format!("{} {}", s.text, s.shown()),
                None => "-".into(),
            },
            t("caps.demo_want_read"),
            article
                .as_ref()
                .is_some_and(|s| s.errno.is_none() || s.text == "open"),
        );
        let inside = probe(
            st,
            Probe::Mknod {
                major: major as u64,
                minor: minor as u64,
            },
        );
        c.row(
            tf("caps.demo_inside", &[("dev", &dev)]),
            match &inside {
                Some(s) if s.errno.is_none() => magic(s.n),
                Some(s) => format!("{} {}", s.text, s.shown()),
                None => "-".into(),
            },
            t("caps.demo_want_eperm"),
            inside.is_some_and(|s| s.errno == Some(crate::sys::Errno::EPERM as i32)),
        );
        c
    }
}
