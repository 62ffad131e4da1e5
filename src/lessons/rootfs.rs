//! rootfs: `ROOTFS=$(mktemp -d)`, filled from the source; checked by running its
//! shell with the rootfs as `/`.

use super::{Check, Lesson};
use crate::error::Result;
use crate::i18n::{t, tf};
use crate::rootfs::{host, Rootfs, Source};
use crate::sys::process::run_chrooted;
use crate::walk::State;

pub struct RootfsLesson;

const SHELL: &str = "/bin/sh";

impl Lesson for RootfsLesson {
    fn id(&self) -> &'static str {
        "rootfs"
    }

    fn shell(&self, st: &State) -> String {
        let article = format!(
            "# {}\n#   CID=$(docker container create bash)\n#   docker container export $CID | tar -x -C $ROOTFS\n#   ln -s /usr/local/bin/bash $ROOTFS/bin/bash\n#   docker container rm $CID",
            t("rootfs.sh_article")
        );
        match &st.opts.source {
            Source::Dir(p) => format!("ROOTFS={}\n{article}", p.display()),
            Source::Host => match host::find_busybox() {
                Some(bb) => format!(
                    "ROOTFS=$(mktemp -d)\nmkdir -p $ROOTFS/bin $ROOTFS/proc $ROOTFS/dev $ROOTFS/etc $ROOTFS/tmp\ncp {} $ROOTFS/bin/busybox\nfor a in $($ROOTFS/bin/busybox --list); do ln -s busybox $ROOTFS/bin/$a; done\n{article}",
                    bb.display()
                ),
                None => format!(
                    "ROOTFS=$(mktemp -d)\nmkdir -p $ROOTFS/bin $ROOTFS/proc $ROOTFS/dev $ROOTFS/etc $ROOTFS/tmp\ncp -L /bin/sh $ROOTFS/bin/sh\nldd /bin/sh    # {}\n# {}\n{article}",
                    t("rootfs.sh_ldd"),
                    t("rootfs.sh_tools")
                ),
            },
        }
    }

    fn run(&self, st: &mut State) -> Result<Vec<String>> {
        let mut did = vec![];
        match st.opts.source.clone() {
            Source::Dir(p) => {
                did.push(tf("rootfs.did_dir", &[("path", &p.display())]));
                st.rootfs = Some(Rootfs {
                    path: p,
                    owned: false,
                    added: vec![],
                    shell: SHELL.into(),
                });
            }
            Source::Host => {
                let path = crate::rootfs::temp_path(&st.uuid);
                st.record(crate::journal::Item::Rootfs {
                    path: path.clone(),
                    kept: false,
                })?;
                crate::rootfs::create_temp(&path)?;
                did.push(tf("rootfs.did_mktemp", &[("path", &path.display())]));
                st.rootfs = Some(Rootfs {
                    path: path.clone(),
                    owned: true,
                    added: vec![],
                    shell: SHELL.into(),
                });
                match host::build(&path)? {
                    host::Built::Busybox { from, applets } => did.push(tf(
                        "rootfs.did_busybox",
                        &[("from", &from.display()), ("n", &applets)],
                    )),
                    host::Built::Elf { tools, libraries } => did.push(tf(
                        "rootfs.did_elf",
                        &[("tools", &tools.join(" ")), ("libs", &libraries.join(" "))],
                    )),
                }
            }
        }
        Ok(did)
    }

    fn check(&self, st: &mut State) -> Check {
        let mut c = Check::new(t("rootfs.hint"));
        let Some(r) = &st.rootfs else {
            c.row(t("rootfs.row_dir"), "-", t("rootfs.none"), false);
            return c;
        };
        let found = host::inside_to_host(&r.path, &r.shell);
        c.row(
            tf("rootfs.row_shell", &[("shell", &r.shell)]),
            found
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| t("rootfs.missing").to_string()),
            t("rootfs.inside"),
            found.is_some(),
        );
        if found.is_none() {
            c.hint = tf("rootfs.hint_no_sh", &[("root", &r.path.display())]);
            return c;
        }
        match host::resolve_inside(&r.path, &r.shell) {
            Ok(deps) => {
                let missing: Vec<&str> = deps
                    .iter()
                    .filter(|(_, ok)| !ok)
                    .map(|(n, _)| n.as_str())
                    .collect();
                let seen = if deps.is_empty() {
                    t("rootfs.static").to_string()
                } else {
                    deps.iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                c.row(
                    t("rootfs.row_deps"),
                    seen,
                    if missing.is_empty() {
                        t("rootfs.deps_inside").to_string()
                    } else {
                        tf("rootfs.deps_missing", &[("list", &missing.join(" "))])
                    },
                    missing.is_empty(),
                );
            }
            Err(e) => c.row(t("rootfs.row_deps"), e.msg, t("rootfs.deps_inside"), false),
        }
        let r42 = run_chrooted(&r.path, &[&r.shell, "-c", "exit 42"]);
        let (seen, ok) = match r42 {
            Ok(s) => (
                s.code()
                    .map(|c| format!("exit {c}"))
                    .unwrap_or_else(|| format!("{s}")),
                s.code() == Some(42),
            ),
            Err(e) => (format!("execve: {e}"), false),
        };
        c.row(t("rootfs.row_run"), seen, "exit 42", ok);
        c
    }
}
