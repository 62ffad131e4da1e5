//! What the `--harden` lessons share: one step or probe asked of PID 1 (or the agent),
//! and the lines of /proc/PID/status read from the host.

use crate::agent::{HardenStep, Probe, Reply};
use crate::error::{Error, Result};
use crate::sys::harden::Seen;
use crate::ui::i18n::{t, tf};
use crate::walk::State;

/// Asks the agent (PID 1 once it exists) for one confining step.
pub fn step(st: &mut State, s: HardenStep, what: &str) -> Result<Reply> {
    st.agent()?.call(crate::agent::Request::Harden(s), what)
}

/// Asks PID 1 to look at something from inside; None when it could not answer.
pub fn probe(st: &mut State, p: Probe) -> Option<Seen> {
    let a = st.agent.as_mut()?;
    match a.call(crate::agent::Request::Probe(p), t("harden.step_probe")) {
        Ok(Reply::Seen(s)) => Some(s),
        _ => None,
    }
}

pub fn pid1(st: &State) -> Result<i32> {
    st.agent
        .as_ref()
        .and_then(|a| a.pid1)
        .ok_or_else(|| Error::failed(t("err.no_agent")))
}

/// One line of /proc/PID/status, as the host reads it (`CapBnd`, `NoNewPrivs`, `Uid`…).
pub fn status(pid: i32, field: &str) -> String {
    crate::sys::procfs::status_field(crate::sys::procfs::Who::Pid(pid), field)
}

/// `Reply` that is not the expected one.
pub fn unexpected(r: Reply) -> Error {
    Error::failed(tf("err.agent_unexpected", &[("what", &format!("{r:?}"))]))
}
