//! `hako practice`: the learner types every stage on a shell hako relays, and after each
//! command the current lesson's [`crate::lessons::task::Task`] judges it from the kernel.

pub mod events;
pub mod image;
pub mod progress;
pub mod runner;
pub mod setup;

pub use runner::{run, Options};
