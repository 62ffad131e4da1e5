//! shell: the command runs, in the container, until it exits.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx};
use super::lesson::Lesson;
use crate::error::{Error, Result};
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

pub struct Shell;

/// The cgroup's OOM kill count (v1 memory.oom_control, v2 memory.events), from its
/// counters.
fn oom_kills(counters: &[(String, String, String)]) -> Option<u64> {
    counters
        .iter()
        .find(|(f, k, _)| k == "oom_kill" && (f == "memory.events" || f == "memory.oom_control"))
        .and_then(|(_, _, v)| v.parse().ok())
}

/// The command ended with status 137 (SIGKILL) and the cgroup's OOM killer acted
/// while it ran: the kernel killed it for the memory limit.
fn oom_killed(st: &Context, status: i32) -> bool {
    if status != 128 + crate::sys::Signal::SIGKILL as i32 {
        return false;
    }
    let before = st.at_command.as_deref().and_then(oom_kills).unwrap_or(0);
    let now = st
        .cgroup
        .as_ref()
        .and_then(|cg| oom_kills(&cg.counters()))
        .unwrap_or(0);
    now > before
}

impl Lesson for Shell {
    fn id(&self) -> &'static str {
        "shell"
    }

    fn shell(&self, st: &Context) -> String {
        format!(
            "exec {}    # {}",
            super::chroot::argv(st).join(" "),
            t("shell.sh_exec")
        )
    }

    /// The container starts here, once the other lessons have put their steps in
    /// `$INNER` and `$LAST`.
    fn script(&self, sc: &ScriptCtx) -> Vec<Fragment> {
        vec![Fragment::Host(super::namespaces::join_then_exec(sc))]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        // What the cgroup counted before the command: the summary tells the
        // command's own share apart, and an OOM kill is recognised as the command's.
        st.at_command = st.cgroup.as_ref().map(|cg| cg.counters());
        let a = st.agent()?;
        let pid1 = a.pid1.ok_or_else(|| Error::failed(t("err.no_agent")))?;
        if !a.stopped {
            return Err(Error::failed(t("err.not_stopped")));
        }
        crate::ui::render::note(&crate::ui::render::dim(t("shell.enter")));
        crate::sys::ptrace::release(pid1)
            .map_err(|e| crate::sys::failure(t("chroot.step_seize"), e))?;
        a.stopped = false;
        let stop = || {
            matches!(
                crate::sys::signals::peek(),
                Some(crate::sys::Signal::SIGTERM | crate::sys::Signal::SIGHUP)
            )
        };
        let agent = a.pid();
        if let Some(master) = a.master.take() {
            crate::sys::tty::relay_pty(&master, || stop() || crate::sys::tty::ended(agent));
        } else if !a.pipes.is_empty() {
            // hako's terminal, seen through pipes: Ctrl-C reaches hako, which passes it on.
            let pipes = std::mem::take(&mut a.pipes);
            crate::sys::tty::relay_pipes(&pipes, || {
                if crate::sys::signals::peek() == Some(crate::sys::Signal::SIGINT) {
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
        if oom_killed(st, status) {
            return Ok(vec![tf("shell.did_oom", &[("status", &status)])]);
        }
        Ok(vec![tf("shell.did_exit", &[("status", &status)])])
    }

    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("shell.hint"));
        let status = st.agent.as_ref().and_then(|a| a.status);
        let seen = match status {
            Some(s) if oom_killed(st, s) => tf("shell.status_oom", &[("status", &s)]),
            Some(s) => s.to_string(),
            None => "-".into(),
        };
        c.row(
            t("shell.row_status"),
            seen,
            t("shell.status_passed"),
            status.is_some(),
        );
        // A process the kernel is still taking down (the agent after its last reply, a
        // command the OOM killer ended, still releasing its memory) is listed until its
        // exit is through: "left" is what is still there a moment later.
        let mut left = st.cgroup.as_ref().map(|cg| cg.pids()).unwrap_or_default();
        for _ in 0..100 {
            if left.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            left = st.cgroup.as_ref().map(|cg| cg.pids()).unwrap_or_default();
        }
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
