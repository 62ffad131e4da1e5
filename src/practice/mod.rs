//! `hako practice`: the learner types every stage on a shell hako relays, and after each
//! command the current lesson's [`crate::lessons::task::Task`] judges it from the kernel.
