//! "Look around": at any prompt, a shell at the stage reached so far, the second
//! terminal of a live workshop, built in. Before the namespaces exist it runs on the
//! host, in the rootfs, with `$UUID`, `$ROOTFS` and `$CGROUP` set; once the container's
//! PID 1 exists it runs inside its namespaces (mnt, uts, ipc, net, pid), entered as
//! nsenter(1) does; after the chroot lesson, inside its root directory too. Exiting it
//! returns to the same question.

use crate::lessons::context::Context;
use crate::sys::nsenter::{self, Shell};
use crate::ui::i18n::{t, tf};
use crate::ui::render;
use std::path::{Path, PathBuf};

/// Where the look-around shell runs, decided from the state.
#[derive(Debug, PartialEq)]
enum Place {
    Host,
    /// In the namespaces of PID 1 (its host PID); chrooted in the rootfs or not.
    Inside {
        pid1: i32,
        chrooted: bool,
    },
}

fn place(st: &Context) -> Place {
    let pid1 = st
        .agent
        .as_ref()
        .filter(|a| a.status.is_none())
        .and_then(|a| a.pid1)
        .filter(|p| Path::new(&format!("/proc/{p}/ns")).exists());
    match pid1 {
        Some(pid1) => Place::Inside {
            pid1,
            chrooted: in_rootfs(st, pid1),
        },
        None => Place::Host,
    }
}

/// Whether PID 1's root directory is the rootfs by now (chroot, or pivot_root with
/// `--harden`): the same device and inode as the rootfs directory.
fn in_rootfs(st: &Context, pid1: i32) -> bool {
    let Some(r) = st.rootfs.as_ref() else {
        return false;
    };
    crate::lessons::view::View::found(pid1, &st.uuid, Some(r.path.clone()), vec![]).rooted()
}

/// The variables the shell gets: a small, known environment, like the container's.
fn env(st: &Context, inside: bool) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PATH".to_string(),
            crate::lessons::chroot::PATH_INSIDE.to_string(),
        ),
        (
            "TERM".to_string(),
            std::env::var("TERM").unwrap_or_else(|_| "xterm".into()),
        ),
        ("HOME".to_string(), "/".to_string()),
        (
            "PS1".to_string(),
            format!(
                "(hako: {}) # ",
                if inside {
                    t("look.ps1_inside")
                } else {
                    t("look.ps1_host")
                }
            ),
        ),
        ("UUID".to_string(), st.uuid.clone()),
    ];
    for k in ["LANG", "LC_ALL"] {
        if let Ok(v) = std::env::var(k) {
            env.push((k.to_string(), v));
        }
    }
    if let Some(r) = &st.rootfs {
        env.push(("ROOTFS".into(), r.path.display().to_string()));
    }
    if let Some(cg) = &st.cgroup {
        let mem = cg.layout.memory.join(&cg.name);
        let cpu = cg.layout.cpu.join(&cg.name);
        env.push(("CGROUP".into(), mem.display().to_string()));
        if cpu != mem {
            env.push(("CGROUP_CPU".into(), cpu.display().to_string()));
        }
    }
    env
}

/// Opens the look-around shell and waits for it to end. A shell that cannot start is
/// reported and the walk goes on: looking around is never a stage of the container.
pub fn shell(st: &Context) {
    let here = place(st);
    let inside = here != Place::Host;
    let env = env(st, inside);
    let root = st.rootfs.as_ref().map(|r| r.path.clone());
    let (target, cwd, what): (Option<i32>, PathBuf, String) = match here {
        Place::Host => {
            let cwd = root
                .clone()
                .or_else(|| std::env::current_dir().ok())
                .unwrap_or_else(|| PathBuf::from("/"));
            let what = tf("look.host", &[("dir", &cwd.display())]);
            (None, cwd, what)
        }
        Place::Inside { pid1, chrooted } => {
            let ns = nsenter::joined(pid1).join(" ");
            if chrooted {
                let what = tf(
                    "look.inside_chroot",
                    &[("pid", &pid1), ("ns", &ns), ("root", &root_shown(&root))],
                );
                (Some(pid1), PathBuf::from("/"), what)
            } else {
                let cwd = root.clone().unwrap_or_else(|| PathBuf::from("/"));
                let what = tf(
                    "look.inside",
                    &[("pid", &pid1), ("ns", &ns), ("dir", &cwd.display())],
                );
                (Some(pid1), cwd, what)
            }
        }
    };
    render::blank();
    render::paragraph(&render::dim(&what));
    let argv = ["/bin/sh", "-i"];
    let procs = match (&st.layout, target) {
        (Some(l), Some(_)) => l.procs_files(&st.uuid),
        _ => vec![],
    };
    let r = match target {
        // Before the container's PID 1 exists: the host's own shell, trusted, on the
        // learner's terminal.
        None => nsenter::run(&Shell {
            cwd: &cwd,
            argv: &argv,
            env: &env,
        }),
        // Inside: confined as PID 1 is, on a pty of its own.
        Some(pid) => nsenter::run_inside(&nsenter::Inside {
            pid,
            procs: &procs,
            cwd: &cwd,
            argv: &argv,
            env: &env,
        }),
    };
    match r {
        Ok(status) => render::note(&render::dim(&tf("look.back", &[("status", &status)]))),
        Err(f) => render::paragraph(&tf(
            "look.failed",
            &[("step", &f.call), ("why", &crate::sys::explain(f.errno))],
        )),
    }
}

fn root_shown(root: &Option<PathBuf>) -> String {
    root.as_ref()
        .map(|r| r.display().to_string())
        .unwrap_or_default()
}
