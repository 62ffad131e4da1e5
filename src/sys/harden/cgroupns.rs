//! Step 3 of `--harden`: the cgroup namespace.

use crate::sys::tracer::trace;
use nix::errno::Errno;

/// unshare(CLONE_NEWCGROUP): the caller's current cgroup becomes the root of what it
/// sees in /proc/self/cgroup and in any cgroup filesystem it mounts.
pub fn unshare_cgroup() -> Result<(), Errno> {
    let r = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP);
    trace(|| "unshare(CLONE_NEWCGROUP)".into(), "2 unshare", &r);
    r
}
