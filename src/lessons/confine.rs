//! What the `--harden` lessons share: one step or probe asked of PID 1 (or the agent)
//! (what the host reads of the container is in `view`).

use super::context::Context;
use crate::agent::{HardenStep, Probe, Reply};
use crate::error::{Error, Result};
use crate::sys::harden::Seen;
use crate::ui::i18n::{t, tf};

/// Asks the agent (PID 1 once it exists) for one confining step.
pub fn step(st: &mut Context, s: HardenStep, what: &str) -> Result<Reply> {
    st.agent()?.call(crate::agent::Request::Harden(s), what)
}

/// Asks PID 1 to look at something from inside; None when it could not answer.
pub fn probe(st: &mut Context, p: Probe) -> Option<Seen> {
    let a = st.agent.as_mut()?;
    match a.call(crate::agent::Request::Probe(p), t("harden.step_probe")) {
        Ok(Reply::Seen(s)) => Some(s),
        _ => None,
    }
}

pub fn pid1(st: &Context) -> Result<i32> {
    st.agent
        .as_ref()
        .and_then(|a| a.pid1)
        .ok_or_else(|| Error::failed(t("err.no_agent")))
}

/// `Reply` that is not the expected one.
pub fn unexpected(r: Reply) -> Error {
    Error::failed(tf("err.agent_unexpected", &[("what", &format!("{r:?}"))]))
}
