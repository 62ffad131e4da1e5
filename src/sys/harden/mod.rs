//! `--harden`: what real runtimes do past the article, as system calls. Each function
//! names its man page and says why it is done the way it is, and in which order:
//!
//! 1. a user namespace first (unshare(CLONE_NEWUSER), the guide writes the maps, then
//!    setresuid(0)), because every namespace created after it is owned by it, so that
//!    root inside has its capabilities over them and over nothing of the host's;
//! 2. pivot_root(2) in place of chroot, then the old root detached;
//! 3. a cgroup namespace;
//! 4. masked and read-only paths in /proc (mount(2) needs CAP_SYS_ADMIN: before the cut);
//! 5. the capability cut;
//! 6. no_new_privs (seccomp without CAP_SYS_ADMIN needs it);
//! 7. seccomp last, just before the execve: the filter then covers only the command.
//!
//! One file per measure, in that order: `userns.rs` (which also shifts a rootfs's owners
//! into the mapped range), `pivot.rs`, `cgroupns.rs`, `masks.rs`, `caps.rs`, `nnp.rs`,
//! `seccomp.rs`; and `probes.rs`, the attempts inside that show a measure holds.

mod caps;
mod cgroupns;
mod masks;
mod nnp;
mod pivot;
mod probes;
mod seccomp;
mod userns;

pub use caps::{cut_caps, docker_mask};
pub use cgroupns::unshare_cgroup;
pub use masks::{try_mask_paths, Masked, MASKED, READ_ONLY};
pub use nnp::no_new_privs;
pub use pivot::{try_leave_chroot, try_pivot_root};
pub use probes::{mknod_and_read, try_mount, try_unshare_user, Seen, EXT_MAGIC};
pub use seccomp::{blocked, filter, install_filter, FilterError, PERSONALITY_ALLOWED};
pub use userns::{
    become_root, hold_userns, map_line, mapped_userns, shift_owners, unshare_user, MAP_COUNT,
    MAP_OUTSIDE,
};
