//! masks (`--harden`): runc's masked and read-only paths in the container's /proc.

use super::confine::{probe, step, unexpected};
use super::fragment::{Fragment, ScriptCtx, ROOTFS};
use super::{Check, Lesson};
use crate::agent::{HardenStep, Probe, Reply};
use crate::error::Result;
use crate::sys::harden::{Masked, MASKED, READ_ONLY};
use crate::ui::i18n::{t, tf};
use crate::walk::State;

pub struct Masks;

/// The files a check reads: masked, they give nothing.
pub const READ: [&str; 3] = ["/proc/kcore", "/proc/keys", "/proc/timer_list"];
/// The file a check opens for writing: root inside may write it (its own network
/// namespace's setting) unless /proc/sys is read-only.
pub const WRITE: &str = "/proc/sys/net/ipv4/ip_forward";

impl Lesson for Masks {
    fn id(&self) -> &'static str {
        "masks"
    }

    fn shell(&self, _st: &State) -> String {
        commands("/proc")
    }

    /// On the rootfs's /proc before pivot_root (the recursive bind carries the masks
    /// along): after it, the host's mount(8) is gone.
    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![Fragment::Inside(commands(&format!("{ROOTFS}/proc")))]
    }

    fn run(&self, st: &mut State) -> Result<Vec<String>> {
        let list = match step(st, HardenStep::Masks, t("masks.step"))? {
            Reply::Masked(l) => l,
            other => return Err(unexpected(other)),
        };
        let pick = |k: Masked| -> Vec<String> {
            list.iter()
                .filter(|(_, m)| *m == k)
                .map(|(p, _)| p.clone())
                .collect()
        };
        let mut did = vec![];
        for (k, key) in [
            (Masked::Null, "masks.did_null"),
            (Masked::Tmpfs, "masks.did_tmpfs"),
            (Masked::ReadOnly, "masks.did_ro"),
            (Masked::Absent, "masks.did_absent"),
        ] {
            let l = pick(k);
            if !l.is_empty() {
                did.push(tf(key, &[("list", &l.join(" "))]));
            }
        }
        st.hardened.masked = list;
        Ok(did)
    }

    fn check(&self, st: &mut State) -> Check {
        let mut c = Check::new(t("masks.hint"));
        for p in READ {
            let absent = st
                .hardened
                .masked
                .iter()
                .any(|(q, m)| q == p && *m == Masked::Absent);
            if absent {
                c.row(
                    tf("masks.row_read", &[("path", &p)]),
                    t("masks.absent"),
                    t("masks.want_empty"),
                    true,
                );
                continue;
            }
            let seen = probe(
                st,
                Probe::Read {
                    path: p.to_string(),
                },
            );
            c.row(
                tf("masks.row_read", &[("path", &p)]),
                seen.as_ref()
                    .map(|s| match s.errno {
                        None => tf("masks.bytes", &[("n", &s.n)]),
                        Some(_) => s.shown(),
                    })
                    .unwrap_or("-".into()),
                t("masks.want_empty"),
                seen.is_some_and(|s| s.errno.is_none() && s.n == 0),
            );
        }
        let seen = probe(
            st,
            Probe::OpenWrite {
                path: WRITE.to_string(),
            },
        );
        c.row(
            tf("masks.row_write", &[("path", &WRITE)]),
            seen.as_ref().map(|s| s.shown()).unwrap_or("-".into()),
            t("masks.want_erofs"),
            seen.is_some_and(|s| s.errno == Some(crate::sys::Errno::EROFS as i32)),
        );
        c
    }
}

/// The masked and the read-only paths under /proc, as names relative to it (for the
/// shell equivalent here and in `hako script --harden`).
/// The masks on the container's proc, mounted at `proc` (as the shell names it).
fn commands(proc: &str) -> String {
    let (files, ro) = proc_names();
    format!(
        "# {masked}\nfor p in {files}; do\n  if [ -d {proc}/$p ]; then mount -t tmpfs -o ro tmpfs {proc}/$p\n  elif [ -e {proc}/$p ]; then mount --bind /dev/null {proc}/$p; fi\ndone\n# {ro_label}\nfor p in {ro}; do\n  [ -e {proc}/$p ] || continue\n  mount --bind {proc}/$p {proc}/$p\n  mount -o remount,bind,ro {proc}/$p\ndone",
        masked = t("masks.sh_masked"),
        ro_label = t("masks.sh_ro"),
        files = files.join(" "),
        ro = ro.join(" "),
    )
}

pub fn proc_names() -> (Vec<&'static str>, Vec<&'static str>) {
    let under_proc = |list: &'static [&'static str]| {
        list.iter()
            .filter(|p| p.starts_with("/proc/"))
            .map(|p| p.trim_start_matches("/proc/"))
            .collect()
    };
    (under_proc(&MASKED), under_proc(&READ_ONLY))
}
