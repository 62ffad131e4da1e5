//! The lesson contract, and the registry of lessons in the article's order.
//!
//! A lesson is an id, its prose (`lessons/<lang>/<id>.md`, embedded at build time),
//! a shell equivalent rendered with this run's values, `run`, and `check`, which reads
//! evidence back from the kernel.

pub mod beyond;
pub mod caps;
pub mod cgroup;
pub mod cgroupns;
pub mod chroot;
mod confine;
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

pub use fragment::{Fragment, ScriptCtx};
pub use table::{
    entry, headings, parse_prose, prose, source, walk_with, Entry, Prose, Set, IDS, TABLE,
};

use crate::error::Result;
use crate::walk::State;

/// The evidence types live in `ui` (the renderer shows them); lessons fill them.
pub use crate::ui::evidence::{Check, Row};

/// What the `--harden` lessons pass on to their checks.
#[derive(Debug, Default)]
pub struct HardenNotes {
    /// What the masks step did to each path.
    pub masked: Vec<(String, crate::sys::harden::Masked)>,
    /// unshare(CLONE_NEWUSER) tried before the filter (the seccomp demonstration).
    pub unshare_before: Option<crate::sys::harden::Seen>,
    /// The same call after the filter, before the exec (the seccomp check).
    pub unshare_after: Option<crate::sys::harden::Seen>,
}

pub trait Lesson: Sync {
    fn id(&self) -> &'static str;
    /// The equivalent shell commands, with this run's real values.
    fn shell(&self, st: &State) -> String;
    /// Its lines in `hako script`, from the same text as `shell` (none: only its title
    /// and summary, as comments).
    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![]
    }
    /// Does the stage for real; returns what it did, one line each.
    fn run(&self, st: &mut State) -> Result<Vec<String>>;
    /// Reads the result back from the kernel.
    fn check(&self, st: &mut State) -> Check;
    /// Whether the lesson has a demonstration that runs for real ("see it", `--demos`).
    fn has_demo(&self) -> bool {
        false
    }
    /// Runs the demonstration, after the check, and returns what the kernel showed.
    fn demo(&self, _st: &mut State) -> Check {
        Check::default()
    }
}
