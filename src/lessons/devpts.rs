//! devpts: a devpts instance of the container's own, and `dev/ptmx -> pts/ptmx`.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, ROOTFS};
use super::judge;
use super::lesson::Lesson;
use super::task::{Setup, Task, Verdict};
use super::view::View;
use crate::error::Result;
use crate::sys::ns::DEVPTS_OPTIONS;
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, lang, t, t_in, tf, Lang};

pub struct Devpts;

/// The container's own devpts instance on rootfs `r` (as the shell names it).
fn mount(r: &str) -> String {
    format!("mount -t devpts -o {DEVPTS_OPTIONS} devpts {r}/dev/pts")
}

impl Lesson for Devpts {
    fn id(&self) -> &'static str {
        "devpts"
    }

    fn shell(&self, st: &Context) -> String {
        let r = st.rootfs_shown();
        format!(
            "# {article}\n#   mkdir -p {r}/dev/pts\n#   mount -t devpts devpts {r}/dev/pts\n#   touch {r}/dev/ptmx\n#   mount --bind /dev/pts/ptmx {r}/dev/pts/ptmx\n#   ln -sf /dev/pts/ptmx {r}/dev/ptmx\n# {ours}\nmkdir -p {r}/dev/pts\n{mount}\nln -sf pts/ptmx {r}/dev/ptmx",
            article = t("devpts.sh_article"),
            ours = t("devpts.sh_ours"),
            mount = mount(&r),
        )
    }

    /// The directory and the link are made from the host, before (the script's clean-up
    /// knows what it added); where the rootfs has a ptmx of its own, the instance's is
    /// bound over it.
    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        let r = ROOTFS;
        vec![
            Fragment::Note(t("devpts.sh_ours").to_string()),
            Fragment::Inside(format!(
                "{}\n[ -L {r}/dev/ptmx ] || mount --bind {r}/dev/pts/ptmx {r}/dev/ptmx",
                mount(r)
            )),
        ]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let root = st.root()?;
        st.record_added(&["dev", "dev/pts", "dev/ptmx"])?;
        let created = st.agent()?.devpts(&root)?;
        super::proc::record(st, created);
        Ok(vec![
            format!(
                "mount(\"devpts\", \"{}/dev/pts\", \"devpts\", MS_NOSUID|MS_NOEXEC, \"{DEVPTS_OPTIONS}\")",
                root.display()
            ),
            format!("symlink(\"pts/ptmx\", \"{}/dev/ptmx\")", root.display()),
        ])
    }

    /// From the host: a pty opened through the container's /dev/ptmx (reached
    /// through `/proc/PID/root`, so in its mount namespace, and looked up as from
    /// inside), whose slave lies on the devpts mounted at the container's /dev/pts,
    /// not on the host's.
    fn check(&self, st: &mut Context) -> Check {
        evidence(View::of(st).filter(|v| v.rootfs.is_some()).as_ref())
    }

    fn task(&self) -> Option<&dyn Task> {
        Some(self)
    }

    fn has_demo(&self) -> bool {
        true
    }

    /// The two recipes side by side, each in a throwaway mount namespace.
    fn demo(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("devpts.demo_hint"));
        let Ok(root) = st.root() else {
            c.row(t("devpts.demo_article"), "-", "-", false);
            return c;
        };
        let r = st.agent.as_mut().map(|a| a.ptmx_demo(&root));
        let (article, fixed) = match r {
            Some(Ok(both)) => both,
            Some(Err(e)) => {
                c.row(t("devpts.demo_article"), e.msg, "-", false);
                return c;
            }
            _ => {
                c.row(t("devpts.demo_article"), "-", t("err.no_agent"), false);
                return c;
            }
        };
        // The article's recipe: the pty is reserved in the host's instance, and its
        // name does not exist inside.
        let n = article.n.map(|n| n.to_string()).unwrap_or("?".into());
        let failed_open = article.failed_at.as_ref().is_some_and(|(at, e)| {
            at.starts_with("/dev/pts/") && *e == (crate::sys::Errno::ENOENT as i32)
        });
        // --harden: root inside a user namespace cannot even open the host's ptmx (mode
        // 000, and no capability of its own reaches the host's inodes).
        let refused = st.opts.harden
            && article.failed_at.as_ref().is_some_and(|(at, e)| {
                at == "/dev/ptmx" && *e == (crate::sys::Errno::EACCES as i32)
            });
        c.row(
            t("devpts.demo_article"),
            outcome(&article),
            if refused {
                t("devpts.demo_want_userns")
            } else {
                t("devpts.demo_want_fail")
            },
            failed_open || refused,
        );
        // Under --harden the article's recipe is refused before it opens anything, so
        // there is no pty in the host's instance to show.
        if !refused {
            c.row(
                tf("devpts.demo_in_host", &[("n", &n)]),
                if article.in_host {
                    tf(
                        "devpts.demo_exists",
                        &[("d", &format!("{:#x}", article.host_dev))],
                    )
                } else {
                    t("devpts.demo_absent").to_string()
                },
                t("devpts.demo_want_host"),
                article.in_host,
            );
        }
        c.row(
            t("devpts.demo_fixed"),
            outcome(&fixed),
            t("devpts.demo_want_open"),
            fixed.failed_at.is_none()
                && fixed
                    .slave_dev
                    .is_some_and(|d| d == fixed.pts_dev && d != fixed.host_dev),
        );
        c
    }
}

/// The evidence, on the container's first process `view`: a pty opened through its
/// /dev/ptmx has its slave on the devpts at its /dev/pts, not on the host's.
pub fn evidence(view: Option<&View>) -> Check {
    let mut c = Check::new(t("devpts.hint"));
    let Some(view) = view.filter(|v| v.rootfs.is_some()) else {
        c.row(t("devpts.row_open"), "-", "-", false);
        return c;
    };
    let host_dev = crate::sys::files::dev_of(std::path::Path::new("/dev/pts")).unwrap_or(0);
    match view.pty() {
        Ok((n, dev, pts_dev)) => {
            c.row(
                t("devpts.row_open"),
                format!("/dev/pts/{n}"),
                t("devpts.opened"),
                true,
            );
            c.row(
                tf("devpts.row_dev", &[("n", &n)]),
                format!("st_dev {dev:#x}"),
                tf("devpts.same_as_inside", &[("d", &format!("{pts_dev:#x}"))]),
                dev == pts_dev,
            );
            c.row(
                t("devpts.row_host"),
                format!("st_dev {host_dev:#x}"),
                tf("devpts.differs", &[("d", &format!("{dev:#x}"))]),
                host_dev != dev,
            );
        }
        Err(e) => c.row(
            t("devpts.row_open"),
            format!("dev/ptmx: {e}"),
            t("devpts.opened"),
            false,
        ),
    }
    c
}

/// One recipe's result, in words: where openpty failed, or which pty opened where.
fn outcome(o: &crate::sys::demo::PtyOutcome) -> String {
    match (&o.failed_at, o.n, o.slave_dev) {
        (Some((at, e)), _, _) => tf(
            "devpts.demo_failed",
            &[("at", at), ("errno", &crate::sys::Errno::from_raw(*e))],
        ),
        (None, Some(n), Some(dev)) => tf(
            "devpts.demo_opened",
            &[("n", &n), ("d", &format!("{dev:#x}"))],
        ),
        _ => "-".into(),
    }
}

/// What the learner types inside the new namespaces: a devpts instance of the
/// container's own, and `dev/ptmx` a link to its `ptmx`.
pub fn lines(s: &Setup) -> Vec<String> {
    let pts = judge::under(s, "dev/pts");
    vec![
        format!("mkdir -p {pts}"),
        format!("mount -t devpts -o {DEVPTS_OPTIONS} devpts {pts}"),
        format!("ln -sf pts/ptmx {}", judge::under(s, "dev/ptmx")),
    ]
}

impl Task for Devpts {
    fn id(&self) -> &'static str {
        "devpts"
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

/// The judge, in language `l`. Known wrong ways: the devpts in the host's mount table;
/// the article's recipe (a bind of the host's `/dev/pts/ptmx`), whose ptys open in the
/// host's instance (told by the st_dev of the ptmx node: on the host's devpts); a devpts
/// of its own with no `dev/ptmx` to open it by.
fn judged(l: Lang, s: &Setup) -> Verdict {
    let found = judge::find(s);
    let view = found.view(s);
    let c = evidence(view.as_ref());
    let mut wrong =
        judge::wrong_gone(l, &found).or_else(|| judge::wrong_host_mount(l, s, "dev/pts"));
    // devpts mounted, no `dev/ptmx` yet: the stage's second command is still to come.
    let mut half = None;
    if let (None, Some(v)) = (&wrong, &view) {
        let host_dev = crate::sys::files::dev_of(std::path::Path::new("/dev/pts")).unwrap_or(0);
        match v.ptmx_dev() {
            Ok(dev) if dev == host_dev => {
                wrong = Some(fill(
                    t_in(l, "devpts.wrong_host_ptmx"),
                    &[("ptmx", &s.rootfs.join("dev/ptmx").display())],
                ));
            }
            Err(crate::sys::Errno::ENOENT)
                if crate::sys::mountinfo::read(Some(v.pid as u32))
                    .unwrap_or_default()
                    .iter()
                    .any(|m| m.mount_point == v.own_path("dev/pts") && m.fstype == "devpts") =>
            {
                half = Some(fill(
                    t_in(l, "devpts.wrong_no_ptmx"),
                    &[("ptmx", &s.rootfs.join("dev/ptmx").display())],
                ));
            }
            _ => {}
        }
    }
    judge::verdict_or_halfway(l, "devpts", c, wrong, half)
}
