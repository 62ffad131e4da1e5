//! masks (`--harden`): runc's masked and read-only paths in the container's /proc.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, ROOTFS};
use super::lesson::Lesson;
use super::view::View;
use crate::error::Result;
use crate::sys::harden::{Masked, Seen, MASKED, READ_ONLY};
use crate::sys::probe;
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

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

    fn shell(&self, _st: &Context) -> String {
        commands("/proc")
    }

    /// On the rootfs's /proc before pivot_root (the recursive bind carries the masks
    /// along): after it, the host's mount(8) is gone.
    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![Fragment::Inside(commands(&format!("{ROOTFS}/proc")))]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let list = st.agent()?.mask_paths()?;
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
        Ok(did)
    }

    /// From the host, through `/proc/PID/root` (the container's mount namespace):
    /// the masked files give nothing (or are not there at all), and /proc/sys is
    /// read-only.
    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("masks.hint"));
        let Some(view) = View::of(st) else {
            c.row(t("masks.row_read"), "-", t("err.no_agent"), false);
            return c;
        };
        for p in READ {
            let r = view.find(p).and_then(|f| probe::read_some(&f.path(), 4096));
            if r == Err(probe::Errno::ENOENT) {
                c.row(
                    tf("masks.row_read", &[("path", &p)]),
                    t("masks.absent"),
                    t("masks.want_empty"),
                    true,
                );
                continue;
            }
            let ok = r == Ok(0);
            let seen = Seen::of(r, |n| *n);
            c.row(
                tf("masks.row_read", &[("path", &p)]),
                match seen.errno {
                    None => tf("masks.bytes", &[("n", &seen.n)]),
                    Some(_) => seen.shown(),
                },
                t("masks.want_empty"),
                ok,
            );
        }
        let w = view
            .find(WRITE)
            .and_then(|f| probe::open_for_write(&f.path()));
        let seen = Seen::of(w, |_| 0);
        c.row(
            tf("masks.row_write", &[("path", &WRITE)]),
            seen.shown(),
            t("masks.want_erofs"),
            seen.errno == Some(crate::sys::Errno::EROFS as i32),
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
