//! What the `--harden` lessons share: one step or probe asked of PID 1 (or the agent)
//! (what the host reads of the container is in `view`).

use super::context::Context;
use crate::agent::{HardenStep, Probe};
use crate::error::{Error, Result};
use crate::sys::harden::Seen;
use crate::ui::i18n::t;

/// Asks the agent (PID 1 once it exists) for one confining step.
pub fn step(st: &mut Context, s: HardenStep) -> Result<()> {
    st.agent()?.harden(s)
}

/// Asks PID 1 to look at something from inside; None when it could not answer.
pub fn probe(st: &mut Context, p: Probe) -> Option<Seen> {
    st.agent.as_mut()?.probe(p).ok()
}

pub fn pid1(st: &Context) -> Result<i32> {
    st.agent
        .as_ref()
        .and_then(|a| a.pid1)
        .ok_or_else(|| Error::failed(t("err.no_agent")))
}
