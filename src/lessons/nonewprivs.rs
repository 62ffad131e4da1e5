//! nonewprivs (`--harden`): prctl(PR_SET_NO_NEW_PRIVS, 1).

use super::confine::step;
use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, CMD};
use super::lesson::Lesson;
use super::view::View;
use crate::agent::HardenStep;
use crate::error::Result;
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

pub struct NoNewPrivs;

/// setpriv(1)'s option for the flag.
pub const NO_NEW_PRIVS: &str = "--no-new-privs";

impl Lesson for NoNewPrivs {
    fn id(&self) -> &'static str {
        "nonewprivs"
    }

    fn shell(&self, _st: &Context) -> String {
        format!(
            "setpriv {NO_NEW_PRIVS} …    # {}\ngrep NoNewPrivs /proc/self/status",
            t("nnp.sh")
        )
    }

    /// One setpriv(1) for the capabilities and the flag, from the copy in `.hako`
    /// (after pivot_root only the rootfs's files are left), then the command.
    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![Fragment::Last(format!(
            "exec /.hako/setpriv {} {NO_NEW_PRIVS} -- /bin/sh -c \"exec {CMD}\"",
            super::caps::setpriv_args()
        ))]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        step(st, HardenStep::NoNewPrivs)?;
        Ok(vec!["prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)".into()])
    }

    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("nnp.hint"));
        let Some(view) = View::of(st) else {
            c.row("NoNewPrivs", "-", t("err.no_agent"), false);
            return c;
        };
        let (pid, v) = (view.pid, view.status("NoNewPrivs"));
        c.row(
            tf(
                "harden.row_status",
                &[("pid", &pid), ("field", &"NoNewPrivs")],
            ),
            if v.is_empty() { "-".into() } else { v.clone() },
            "1",
            v == "1",
        );
        c
    }
}
