//! seccomp (`--harden`): the filter, last, just before the exec; then the exec itself.

use super::confine::{probe, step};
use super::context::Context;
use super::fragment::{Fragment, ScriptCtx};
use super::lesson::Lesson;
use super::view::View;
use crate::agent::{HardenStep, Probe};
use crate::error::Result;
use crate::sys::harden::blocked;
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

pub struct Seccomp;

/// unshare(CLONE_NEWUSER) as PID 1 tried it just before the filter (for the
/// demonstration) and just after it (for the check and the demonstration): once
/// the exec is done, nothing inside takes requests any more.
#[derive(Default)]
struct Unshare {
    before: Option<crate::sys::harden::Seen>,
    after: Option<crate::sys::harden::Seen>,
}

/// What the filter installed in `pid` answers to unshare(CLONE_NEWUSER), as the host
/// reads and runs it (`crate::sys::bpf`); None when it cannot be read or says neither
/// "allowed" nor an errno.
fn unshare_by_filter(pid: i32) -> Option<crate::sys::harden::Seen> {
    use crate::sys::bpf;
    let prog = bpf::filter_of(pid).ok()?;
    let call = bpf::Call::unshare_newuser();
    let r = bpf::outcome(bpf::run(&prog, &call)?)?;
    Some(crate::sys::harden::Seen::of(r, |_| 0))
}

impl Lesson for Seccomp {
    fn id(&self) -> &'static str {
        "seccomp"
    }

    fn shell(&self, st: &Context) -> String {
        let names: Vec<&str> = blocked().iter().map(|(n, _)| *n).collect();
        let lines: Vec<String> = crate::ui::render::wrap(&names.join(" "), 70)
            .into_iter()
            .map(|l| format!("#   {l}"))
            .collect();
        format!(
            "# {none}\n# {list}\n{lines}\n#   unshare/clone + CLONE_NEWUSER; clone3 → ENOSYS\n#   personality(x) unless x is {pers}\nexec {cmd}",
            none = t("seccomp.sh_none"),
            list = t("seccomp.sh_list"),
            lines = lines.join("\n"),
            cmd = super::chroot::argv(st).join(" "),
            pers = crate::sys::harden::PERSONALITY_ALLOWED
                .iter()
                .map(|v| format!("{v:#x}"))
                .collect::<Vec<_>>()
                .join(", "),
        )
    }

    /// No command sets a filter: the script says so.
    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![Fragment::Note(t("seccomp.sh_none").to_string())]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let root = st.root()?;
        let argv = super::chroot::argv(st);
        let path = super::chroot::resolve_command(&root, &argv[0])?;
        let mut did = vec![];
        if st.demo_wanted {
            let before = probe(st, Probe::UnshareUser);
            st.scratch.get::<Unshare>().before = before;
        }
        step(st, HardenStep::Seccomp)?;
        did.push(tf("seccomp.did", &[("n", &(blocked().len() + 4))]));
        let after = probe(st, Probe::UnshareUser);
        st.scratch.get::<Unshare>().after = after;
        super::chroot::exec_and_stop(st, &path, &argv, &mut did)?;
        Ok(did)
    }

    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("seccomp.hint"));
        let Some(view) = View::of(st) else {
            c.row("Seccomp", "-", t("err.no_agent"), false);
            return c;
        };
        let (pid, field) = (view.pid, view.status("Seccomp"));
        c.row(
            tf("seccomp.row_status", &[("pid", &pid)]),
            if field.is_empty() {
                "-".into()
            } else {
                field.clone()
            },
            t("seccomp.want_2"),
            field == "2",
        );
        // The filter PID 1 runs, read back from the kernel (PID 1 is stopped at its
        // exec under hako's ptrace) and asked about unshare(CLONE_NEWUSER); when it
        // cannot be read, the call PID 1 made itself just after installing it.
        let after = unshare_by_filter(pid).or_else(|| st.scratch.get::<Unshare>().after.clone());
        c.row(
            t("seccomp.row_probe"),
            after.as_ref().map(|s| s.shown()).unwrap_or("-".into()),
            t("caps.want_eperm"),
            after.is_some_and(|s| s.errno == Some(crate::sys::Errno::EPERM as i32)),
        );
        super::chroot::fd_rows(&super::chroot::look_at(pid), &mut c);
        c
    }

    fn has_demo(&self) -> bool {
        true
    }

    fn demo(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("seccomp.demo_hint"));
        let Unshare { before, after } = st.scratch.take::<Unshare>();
        c.row(
            t("seccomp.demo_before"),
            before.as_ref().map(|s| s.shown()).unwrap_or("-".into()),
            t("seccomp.demo_want_ok"),
            before.is_some_and(|s| s.errno.is_none()),
        );
        c.row(
            t("seccomp.demo_after"),
            after.as_ref().map(|s| s.shown()).unwrap_or("-".into()),
            t("caps.want_eperm"),
            after.is_some_and(|s| s.errno == Some(crate::sys::Errno::EPERM as i32)),
        );
        if let Some(e) = &st.exec {
            super::chroot::fd_rows(e, &mut c);
        }
        c
    }
}
