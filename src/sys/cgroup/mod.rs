//! cgroups, v1 (and hybrid) and v2, behind one small interface.
//!
//! The layout is detected once from mountinfo (`layout.rs`). What hako writes is computed
//! as a plan first (`plan.rs`: pure, unit-tested for both versions), then applied
//! (`apply.rs`): the same plan renders the shell equivalent, so what is shown is what is
//! done. `counters.rs` reads a cgroup back; `diagnose.rs` is preflight's reasoning about
//! what can stand between hako and `+memory +cpu`, and the sentences for a failed write.

mod apply;
mod counters;
mod diagnose;
mod layout;
mod plan;
#[cfg(test)]
mod samples;

pub use apply::{remove_dirs, Cgroup};
pub use counters::{key_value, page_size, pids_in};
pub use diagnose::{
    enable_failure, is_kernel_thread, is_realtime, own_v2_cgroup, realtime_outside_root,
    sched_policy, Obstacle, Parent,
};
pub use layout::{detect, Layout, Missing, Version};
pub use plan::{missing_controllers, page_rounded, Op};
