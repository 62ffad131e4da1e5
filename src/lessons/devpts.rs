//! devpts: a devpts instance of the container's own, and `dev/ptmx -> pts/ptmx`.

use super::{Check, Lesson};
use crate::agent::{Reply, Request};
use crate::error::Result;
use crate::i18n::{t, tf};
use crate::walk::State;
use std::os::unix::fs::MetadataExt;

pub struct Devpts;

impl Lesson for Devpts {
    fn id(&self) -> &'static str {
        "devpts"
    }

    fn shell(&self, st: &State) -> String {
        let r = st.rootfs_shown();
        format!(
            "# {article}\n#   mkdir -p {r}/dev/pts\n#   mount -t devpts devpts {r}/dev/pts\n#   touch {r}/dev/ptmx\n#   mount --bind /dev/pts/ptmx {r}/dev/pts/ptmx\n#   ln -sf /dev/pts/ptmx {r}/dev/ptmx\n# {ours}\nmkdir -p {r}/dev/pts\nmount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts {r}/dev/pts\nln -sf pts/ptmx {r}/dev/ptmx",
            article = t("devpts.sh_article"),
            ours = t("devpts.sh_ours"),
        )
    }

    fn run(&self, st: &mut State) -> Result<Vec<String>> {
        let root = st.root()?;
        st.record_added(&["dev", "dev/pts", "dev/ptmx"])?;
        let r = st
            .agent()?
            .call(Request::Devpts { root: root.clone() }, t("devpts.step"))?;
        super::proc::record(st, r);
        Ok(vec![
            format!(
                "mount(\"devpts\", \"{}/dev/pts\", \"devpts\", MS_NOSUID|MS_NOEXEC, \"newinstance,ptmxmode=0666,mode=0620\")",
                root.display()
            ),
            format!("symlink(\"pts/ptmx\", \"{}/dev/ptmx\")", root.display()),
        ])
    }

    fn check(&self, st: &mut State) -> Check {
        let mut c = Check::new(t("devpts.hint"));
        let Ok(root) = st.root() else {
            c.row(t("devpts.row_open"), "-", "-", false);
            return c;
        };
        let host_dev = std::fs::metadata("/dev/pts").map(|m| m.dev()).unwrap_or(0);
        let probe = st
            .agent
            .as_mut()
            .map(|a| a.call(Request::ProbePty { root }, t("devpts.step_probe")));
        match probe {
            Some(Ok(Reply::Pty { n, dev, pts_dev })) => {
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
            Some(Err(e)) => c.row(t("devpts.row_open"), e.msg, t("devpts.opened"), false),
            _ => c.row(t("devpts.row_open"), "-", t("devpts.opened"), false),
        }
        c
    }
}
