//! The lesson contract, and the registry of lessons in the article's order.
//!
//! A lesson is an id, its prose (`lessons/<lang>/<id>.md`, embedded at build time),
//! a shell equivalent rendered with this run's values, `run`, and `check`, which reads
//! evidence back from the kernel. Each works on a [`Context`] (`context.rs`); a check
//! looks at the container through a [`view::View`] (`view.rs`).

pub mod beyond;
pub mod caps;
pub mod cgroup;
pub mod cgroupns;
pub mod chroot;
mod confine;
pub mod context;
pub mod devnull;
pub mod devpts;
pub mod fragment;
pub mod hostname;
pub mod judge;
pub mod lesson;
pub mod limits;
pub mod masks;
pub mod namespaces;
pub mod net;
pub mod nonewprivs;
pub mod overlay;
pub mod pids;
pub mod pivot_root;
pub mod preflight;
pub mod proc;
pub mod rootfs;
pub mod seccomp;
pub mod shell;
mod table;
pub mod task;
pub mod userns;
pub mod view;

pub use fragment::{Fragment, ScriptCtx};
pub use table::{
    entry, headings, parse_prose, prose, source, walk_with, Entry, Prose, Set, IDS, TABLE,
};

pub use context::Context;

/// The evidence types live in `ui` (the renderer shows them); lessons fill them.
pub use crate::ui::evidence::{Check, Row};
pub use lesson::Lesson;
