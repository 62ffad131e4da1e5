//! devnull: `mount --bind /dev/null $ROOTFS/dev/null`.

use super::fragment::{Fragment, ScriptCtx, ROOTFS};
use super::{Check, Lesson};
use crate::agent::{Reply, Request};
use crate::error::Result;
use crate::ui::i18n::t;
use crate::walk::State;

pub struct Devnull;

/// The host's /dev/null on the rootfs's (`r` as the shell names it).
fn bind(r: &str) -> String {
    format!("mount --bind /dev/null {r}/dev/null")
}

impl Lesson for Devnull {
    fn id(&self) -> &'static str {
        "devnull"
    }

    fn shell(&self, st: &State) -> String {
        let r = st.rootfs_shown();
        format!("touch {r}/dev/null\n{}", bind(&r))
    }

    /// The file to mount on is made from the host, before (the script's clean-up
    /// knows what it added).
    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![Fragment::Inside(bind(ROOTFS))]
    }

    fn run(&self, st: &mut State) -> Result<Vec<String>> {
        let root = st.root()?;
        st.record_added(&["dev", "dev/null"])?;
        let r = st
            .agent()?
            .call(Request::DevNull { root: root.clone() }, t("devnull.step"))?;
        super::proc::record(st, r);
        Ok(vec![format!(
            "mount(\"/dev/null\", \"{}/dev/null\", NULL, MS_BIND, NULL)",
            root.display()
        )])
    }

    fn check(&self, st: &mut State) -> Check {
        let mut c = Check::new(t("devnull.hint"));
        let Ok(root) = st.root() else {
            c.row(t("devnull.row_kind"), "-", "-", false);
            return c;
        };
        match st
            .agent
            .as_mut()
            .map(|a| a.call(Request::ProbeNull { root }, t("devnull.step_probe")))
        {
            Some(Ok(Reply::Null {
                is_char,
                major,
                minor,
                wrote,
                read,
            })) => {
                let kind = if is_char {
                    t("devnull.char")
                } else {
                    t("devnull.not_char")
                };
                c.row(
                    t("devnull.row_kind"),
                    format!("{kind} {major}:{minor}"),
                    format!("{} 1:3", t("devnull.char")),
                    is_char && major == 1 && minor == 3,
                );
                c.row(t("devnull.row_write"), format!("{wrote}"), "4", wrote == 4);
                c.row(
                    t("devnull.row_read"),
                    format!("{read}"),
                    t("devnull.eof"),
                    read == 0,
                );
            }
            Some(Err(e)) => c.row(t("devnull.row_kind"), e.msg, "1:3", false),
            _ => c.row(t("devnull.row_kind"), "-", "1:3", false),
        }
        c
    }
}
