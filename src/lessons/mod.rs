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
pub mod limits;
pub mod masks;
pub mod namespaces;
pub mod nonewprivs;
pub mod pids;
pub mod pivot_root;
pub mod preflight;
pub mod proc;
pub mod rootfs;
pub mod seccomp;
pub mod shell;
mod table;
pub mod userns;
pub mod view;

pub use fragment::{Fragment, ScriptCtx};
pub use table::{
    entry, headings, parse_prose, prose, source, walk_with, Entry, Prose, Set, IDS, TABLE,
};

use crate::error::Result;
pub use context::Context;

/// The evidence types live in `ui` (the renderer shows them); lessons fill them.
pub use crate::ui::evidence::{Check, Row};

pub trait Lesson: Sync {
    fn id(&self) -> &'static str;
    /// The equivalent shell commands, with this run's real values.
    fn shell(&self, st: &Context) -> String;
    /// Its lines in `hako script`, from the same text as `shell` (none: only its title
    /// and summary, as comments).
    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![]
    }
    /// Does the stage for real; returns what it did, one line each.
    fn run(&self, st: &mut Context) -> Result<Vec<String>>;
    /// Reads the result back from the kernel, from the host, through a
    /// [`view::View`] of the container (`/proc/PID/...`, the cgroup files, a probe in
    /// one of its namespaces): never from what `run` said it did, so that it holds
    /// whoever performed the stage.
    fn check(&self, st: &mut Context) -> Check;
    /// Whether the lesson has a demonstration that runs for real ("see it", `--demos`).
    fn has_demo(&self) -> bool {
        false
    }
    /// Runs the demonstration, after the check, and returns what the kernel showed.
    fn demo(&self, _st: &mut Context) -> Check {
        Check::default()
    }
}
