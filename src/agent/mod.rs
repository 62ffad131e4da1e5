//! The agent: hako re-executed (`/proc/self/exe __agent`), which becomes the
//! container one step at a time, as the guide asks over a socketpair.
//!
//! ```text
//! guide (host namespaces)  ── typed messages ──  agent: joins the cgroup, unshares
//!                                                  └─ fork → PID 1 of the new PID namespace:
//!                                                     mounts, hostname, chroot, exec
//! ```
//! `protocol` holds the messages, `serve` the agent's side, `client` the guide's.

pub mod client;
pub mod protocol;
pub mod serve;

pub use client::{Agent, AgentError, Stdio};
pub use protocol::{HardenStep, Probe};
pub use serve::agent_main;
