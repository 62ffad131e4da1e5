//! shell: the command runs, in the container, until it exits.

use super::{Check, Lesson};
use crate::error::{Error, Result};
use crate::i18n::{t, tf};
use crate::walk::State;

pub struct Shell;

impl Lesson for Shell {
    fn id(&self) -> &'static str {
        "shell"
    }

    fn shell(&self, st: &State) -> String {
        format!(
            "exec {}    # {}",
            super::chroot::argv(st).join(" "),
            t("shell.sh_exec")
        )
    }

    fn run(&self, st: &mut State) -> Result<Vec<String>> {
        let a = st.agent()?;
        let pid1 = a.pid1.ok_or_else(|| Error::failed(t("err.no_agent")))?;
        if !a.stopped {
            return Err(Error::failed(t("err.not_stopped")));
        }
        crate::walk::render::note(&crate::walk::render::dim(t("shell.enter")));
        crate::sys::ptrace::release(pid1)
            .map_err(|e| crate::sys::failure(t("chroot.step_seize"), e))?;
        a.stopped = false;
        let stop = || {
            matches!(
                crate::sys::signals::peek(),
                Some(nix::sys::signal::Signal::SIGTERM | nix::sys::signal::Signal::SIGHUP)
            )
        };
        let agent = a.pid();
        if let Some(master) = a.master.take() {
            // The learner's keys go to the container's terminal, raw: Ctrl-C becomes a
            // byte the container's line discipline turns into SIGINT for its own
            // foreground process group.
            use std::os::fd::{AsFd, AsRawFd};
            let raw = crate::sys::tty::RawMode::enter();
            let stdin = std::io::stdin();
            let links = [
                crate::sys::tty::Link {
                    from: master.as_fd(),
                    to: crate::sys::tty::terminal_out(),
                    ends: true,
                },
                crate::sys::tty::Link {
                    from: stdin.as_fd(),
                    to: master.as_raw_fd(),
                    ends: false,
                },
            ];
            crate::sys::tty::relay(&links, Some(master.as_raw_fd()), || {
                stop() || crate::sys::tty::ended(agent)
            });
            crate::sys::tty::discard_pending(&master);
            drop(raw);
        } else if !a.pipes.is_empty() {
            // hako's terminal, seen through pipes: the command's output reaches it byte
            // for byte; Ctrl-C reaches hako, which passes it on.
            use std::os::fd::AsFd;
            let pipes = std::mem::take(&mut a.pipes);
            let links: Vec<crate::sys::tty::Link> = pipes
                .iter()
                .map(|(to, from)| crate::sys::tty::Link {
                    from: from.as_fd(),
                    to: *to,
                    ends: true,
                })
                .collect();
            crate::sys::tty::relay(&links, None, || {
                if crate::sys::signals::peek() == Some(nix::sys::signal::Signal::SIGINT) {
                    crate::sys::signals::take();
                    a.pass_sigint();
                }
                stop() || crate::sys::tty::ended(agent)
            });
        }
        let status = a.wait_command();
        crate::sys::process::take_terminal_back();
        // Whatever the container made the learner's terminal answer, or typed, is not
        // left for the learner's shell to read.
        for fd in 0..3 {
            crate::sys::tty::flush_input(fd);
        }
        let status = status?;
        Ok(vec![tf("shell.did_exit", &[("status", &status)])])
    }

    fn check(&self, st: &mut State) -> Check {
        let mut c = Check::new(t("shell.hint"));
        let status = st.agent.as_ref().and_then(|a| a.status);
        c.row(
            t("shell.row_status"),
            status.map(|s| s.to_string()).unwrap_or("-".into()),
            t("shell.status_passed"),
            status.is_some(),
        );
        let left = st.cgroup.as_ref().map(|cg| cg.pids()).unwrap_or_default();
        c.row(
            t("shell.row_left"),
            if left.is_empty() {
                t("shell.none").to_string()
            } else {
                format!("{left:?}")
            },
            t("shell.none"),
            left.is_empty() && st.cgroup.is_some(),
        );
        c
    }
}
