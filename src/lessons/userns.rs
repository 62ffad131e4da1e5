//! userns (`--harden`): a user namespace first, before every other namespace, so that
//! they are all owned by it. Root inside is uid 100000 outside.

use super::confine::step;
use super::context::Context;
use super::fragment::{quote, Fragment, ScriptCtx, ROOTFS};
use super::lesson::Lesson;
use super::view::{host_ns, View};
use crate::agent::HardenStep;
use crate::error::Result;
use crate::sys::harden::{map_line, MAP_COUNT, MAP_OUTSIDE};
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

pub struct Userns;

/// The rootfs `r` (as the shell names it) owned by the ids root inside maps to.
fn chown(r: &str) -> String {
    format!("chown -R {MAP_OUTSIDE}:{MAP_OUTSIDE} {r}")
}

/// The maps of the user namespace that process `pid` (as the shell names it) is in.
fn maps(pid: &str) -> String {
    let map = map_line();
    format!("echo '{map}' > /proc/{pid}/uid_map\necho '{map}' > /proc/{pid}/gid_map")
}

impl Lesson for Userns {
    fn id(&self) -> &'static str {
        "userns"
    }

    fn shell(&self, st: &Context) -> String {
        let r = st.rootfs_shown();
        let last = MAP_OUTSIDE + MAP_COUNT - 1;
        format!(
            "{chown}    # {own}\n\
             unshare --user --map-users={MAP_OUTSIDE},0,{MAP_COUNT} --map-groups={MAP_OUTSIDE},0,{MAP_COUNT} --setgroups allow …    # {tool}\n\
             # {by_hand}\n\
             {maps}\n\
             # {inside} (ids {MAP_OUTSIDE}-{last} on the host)",
            chown = chown(&r),
            own = t("userns.sh_own"),
            tool = t("userns.sh_tool"),
            by_hand = t("userns.sh_by_hand"),
            inside = t("userns.sh_inside"),
            maps = maps("$AGENT"),
        )
    }

    /// A waiting process holds the user namespace; the script writes its maps from the
    /// host. setpriv and umount are copied into the rootfs first (after pivot_root only
    /// its files are left), and the owners changed with the rest.
    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        let r = ROOTFS;
        vec![Fragment::Host(format!(
            r#"[ -n "$OWNED" ] || {{ say {refuse}; exit 1; }}
mkdir -p {r}/.hako
for t in setpriv umount; do
  p=$(command -v "$t")
  cp -L "$p" {r}/.hako/"$t"
  for lib in $(ldd "$p" 2>/dev/null | grep -o '/[^ ]*'); do
    [ -e {r}"$lib" ] || cp --parents -L "$lib" {r}
  done
done
{chown}
unshare --user sleep infinity &
HOLDER=$!
while [ "$(readlink /proc/$HOLDER/ns/user)" = "$(readlink /proc/self/ns/user)" ]; do sleep 0.01; done
{maps}"#,
            refuse = quote(t("script.harden_owned")),
            chown = chown(r),
            maps = maps("$HOLDER"),
        ))]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let mut did = vec![];
        let root = st.root()?;
        let owned = st.rootfs.as_ref().is_some_and(|r| r.owned);
        let idmapped = st
            .rootfs
            .as_ref()
            .and_then(|r| r.overlay.as_ref())
            .is_some_and(|o| o.idmapped);
        if idmapped {
            // --overlay: the layers are idmapped mounts and the upper directory is root
            // inside's already (the overlay lesson): nothing to chown, the cache untouched.
            did.push(tf("userns.did_idmapped", &[("uid", &MAP_OUTSIDE)]));
        } else if owned {
            let n = crate::sys::harden::shift_owners(&root).map_err(|e| {
                crate::sys::failure(&tf("userns.step_chown", &[("path", &e.place())]), e.errno)
            })?;
            did.push(tf(
                "userns.did_chown",
                &[("n", &n), ("root", &root.display()), ("uid", &MAP_OUTSIDE)],
            ));
        } else {
            // A directory hako does not own keeps its owners: make the mount points now,
            // as the host's root, since root inside cannot write there.
            st.record_added(&["proc", "dev", "dev/pts", "dev/null", "dev/ptmx"])?;
            let mut made = vec![];
            for (rel, file) in [("proc", false), ("dev/pts", false), ("dev/null", true)] {
                made.extend(crate::sys::ns::make_inside(&root, rel, file).map_err(|e| {
                    crate::sys::failure(&tf("do.mkdir", &[("path", &e.place())]), e.errno)
                })?);
            }
            // The link is made by descriptor in the `dev` just made: a `dev` the
            // directory's owner swapped for a link meanwhile is refused, never followed.
            let ptmx = root.join("dev/ptmx");
            let fail = |e| {
                crate::sys::failure(
                    &tf(
                        "do.symlink",
                        &[("path", &crate::ui::sanitize::clean_path(&ptmx))],
                    ),
                    e,
                )
            };
            let dev = crate::sys::at::DirFd::open(&root)
                .and_then(|r| r.sub("dev"))
                .map_err(fail)?;
            match dev.lstat("ptmx") {
                Ok(_) => {}
                Err(crate::sys::Errno::ENOENT) => {
                    dev.symlink("pts/ptmx", "ptmx").map_err(fail)?;
                    made.push(ptmx);
                }
                Err(e) => return Err(fail(e)),
            }
            did.push(tf("userns.did_points", &[("n", &made.len())]));
            for p in &made {
                st.journal.identify(p)?;
            }
            if let Some(r) = st.rootfs.as_mut() {
                r.added.extend(made);
            }
        }
        did.extend(super::namespaces::spawn_and_join(st)?);
        let agent = st.agent()?.pid();
        step(st, HardenStep::UnshareUser)?;
        did.push(tf("userns.did_unshare", &[("pid", &agent)]));
        for file in ["uid_map", "gid_map"] {
            let path = std::path::PathBuf::from(format!("/proc/{agent}/{file}"));
            crate::sys::write_file(&path, &map_line())?;
            did.push(format!("echo '{}' > {}", map_line(), path.display()));
        }
        let guide = std::process::id() as i32;
        step(st, HardenStep::BecomeRoot { guide })?;
        did.push("setresgid(0, 0, 0); setgroups(0, NULL); setresuid(0, 0, 0)".into());
        Ok(did)
    }

    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("userns.hint"));
        let alive = st.agent.as_mut().is_some_and(|a| a.alive());
        let Some(view) = View::of(st).filter(|_| alive) else {
            c.row("uid_map", "-", t("err.no_agent"), false);
            return c;
        };
        let agent = view.pid;
        let want = map_line();
        for file in ["uid_map", "gid_map"] {
            let seen = crate::sys::files::read_text(&view.proc(file))
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            c.row(
                format!("/proc/{agent}/{file}"),
                if seen.is_empty() {
                    "-".into()
                } else {
                    seen.clone()
                },
                tf("userns.want_map", &[("map", &want)]),
                seen == want,
            );
        }
        let uid = view.status("Uid");
        c.row(
            tf("userns.row_uid", &[("pid", &agent)]),
            uid.clone(),
            tf("userns.want_uid", &[("uid", &MAP_OUTSIDE)]),
            uid.split(' ').all(|u| u == MAP_OUTSIDE.to_string()) && !uid.is_empty(),
        );
        let (inside, host) = (view.ns("user"), host_ns("user"));
        c.row(
            "ns/user",
            inside.clone(),
            tf("ns.host_is", &[("v", &host)]),
            !inside.is_empty() && inside != host,
        );
        c
    }
}
