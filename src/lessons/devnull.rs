//! devnull: `mount --bind /dev/null $ROOTFS/dev/null`.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, ROOTFS};
use super::lesson::Lesson;
use super::view::View;
use crate::error::Result;
use crate::ui::evidence::Check;
use crate::ui::i18n::t;

pub struct Devnull;

/// The host's /dev/null on the rootfs's (`r` as the shell names it).
fn bind(r: &str) -> String {
    format!("mount --bind /dev/null {r}/dev/null")
}

impl Lesson for Devnull {
    fn id(&self) -> &'static str {
        "devnull"
    }

    fn shell(&self, st: &Context) -> String {
        let r = st.rootfs_shown();
        format!("touch {r}/dev/null\n{}", bind(&r))
    }

    /// The file to mount on is made from the host, before (the script's clean-up
    /// knows what it added).
    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![Fragment::Inside(bind(ROOTFS))]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let root = st.root()?;
        st.record_added(&["dev", "dev/null"])?;
        let created = st.agent()?.dev_null(&root)?;
        super::proc::record(st, created);
        Ok(vec![format!(
            "mount(\"/dev/null\", \"{}/dev/null\", NULL, MS_BIND, NULL)",
            root.display()
        )])
    }

    /// From the host: the container's /dev/null, reached through `/proc/PID/root`
    /// (its mount namespace) and looked up as from inside, is the character device
    /// 1:3, takes a write whole and gives nothing back.
    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("devnull.hint"));
        let Some(view) = View::of(st).filter(|v| v.rootfs.is_some()) else {
            c.row(t("devnull.row_kind"), "-", "-", false);
            return c;
        };
        match view
            .find("dev/null")
            .and_then(|f| crate::sys::probe::use_device(&f.path()))
        {
            Ok(u) => {
                let kind = if u.is_char {
                    t("devnull.char")
                } else {
                    t("devnull.not_char")
                };
                c.row(
                    t("devnull.row_kind"),
                    format!("{kind} {}:{}", u.major, u.minor),
                    format!("{} 1:3", t("devnull.char")),
                    u.is_char && u.major == 1 && u.minor == 3,
                );
                c.row(
                    t("devnull.row_write"),
                    format!("{}", u.wrote),
                    "4",
                    u.wrote == 4,
                );
                c.row(
                    t("devnull.row_read"),
                    format!("{}", u.read),
                    t("devnull.eof"),
                    u.read == 0,
                );
            }
            Err(e) => c.row(
                t("devnull.row_kind"),
                format!("dev/null: {e}"),
                "1:3",
                false,
            ),
        }
        c
    }
}
