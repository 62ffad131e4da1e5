//! The one layer that touches the kernel. Everything else calls these functions and
//! gets back hako's [`Error`](crate::error::Error) with a sentence a learner can act on.

pub mod at;
pub mod bpf;
pub mod capnames;
pub mod cgroup;
pub mod common;
pub mod demo;
pub mod error;
pub mod files;
pub mod harden;
pub mod mountinfo;
pub mod net;
pub mod ns;
pub mod nsenter;
pub mod overlay;
pub mod pids;
pub mod probe;
pub mod process;
pub mod procfs;
pub mod ptrace;
pub mod pty;
pub mod signals;
pub mod tracer;
pub mod tree;
pub mod tty;

/// The kernel's error numbers and signal names, for the layers above (which never name
/// `nix` or `libc` themselves).
pub use nix::errno::Errno;
pub use nix::sys::signal::Signal;
pub use nix::unistd::Pid;
/// An open descriptor (a user namespace held for idmapped mounts…), for those above `sys`.
pub use std::os::fd::OwnedFd;

pub use common::*;
pub use error::{explain, failure, SysError};
pub use tracer::*;
