//! devnull: `mount --bind /dev/null $ROOTFS/dev/null`.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, ROOTFS};
use super::judge;
use super::lesson::Lesson;
use super::task::{Setup, Task, Verdict};
use super::view::View;
use crate::error::Result;
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, lang, t, t_in, Lang};

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
        evidence(View::of(st).filter(|v| v.rootfs.is_some()).as_ref())
    }

    fn task(&self) -> Option<&dyn Task> {
        Some(self)
    }
}

/// The evidence, on the container's first process `view`: its /dev/null is the
/// character device 1:3, takes a write whole and gives nothing back.
pub fn evidence(view: Option<&View>) -> Check {
    let mut c = Check::new(t("devnull.hint"));
    let Some(view) = view.filter(|v| v.rootfs.is_some()) else {
        c.row(t("devnull.row_kind"), "-", "-", false);
        return c;
    };
    match use_null(view) {
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

fn use_null(view: &View) -> Result<crate::sys::probe::DeviceUse, crate::sys::probe::Errno> {
    view.find("dev/null")
        .and_then(|f| crate::sys::probe::use_device(&f.path()))
}

/// What the learner types inside the new namespaces: a file to mount on, and the
/// host's /dev/null bound over it.
pub fn lines(s: &Setup) -> Vec<String> {
    let n = judge::under(s, "dev/null");
    vec![
        format!("mkdir -p {}", judge::under(s, "dev")),
        format!("touch {n}"),
        format!("mount --bind /dev/null {n}"),
    ]
}

impl Task for Devnull {
    fn id(&self) -> &'static str {
        "devnull"
    }
    fn inside(&self) -> bool {
        true
    }
    fn solve(&self, s: &Setup) -> Vec<String> {
        lines(s)
    }
    fn judge(&self, s: &Setup) -> Verdict {
        judged(lang(), s)
    }
}

/// The judge, in language `l`. Known wrong ways: the bind in the host's mount table;
/// `dev/null` a plain file (touched, never mounted on: what is written there fills it).
fn judged(l: Lang, s: &Setup) -> Verdict {
    let found = judge::find(s);
    let view = found.view(s);
    // Whether it is a plain file is looked at before the evidence writes to it.
    let plain = view
        .as_ref()
        .and_then(|v| v.find("dev/null").ok())
        .is_some_and(|f| crate::sys::files::is_regular(&f.path()));
    let c = evidence(view.as_ref());
    let wrong = judge::wrong_gone(l, &found).or_else(|| judge::wrong_host_mount(l, s, "dev/null"));
    // A plain file is the article's first step (touch, then bind over it): half done.
    let half = plain.then(|| {
        fill(
            t_in(l, "devnull.wrong_file"),
            &[("path", &s.rootfs.join("dev/null").display())],
        )
    });
    judge::verdict_or_halfway(l, "devnull", c, wrong, half)
}
