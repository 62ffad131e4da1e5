//! The contract every lesson keeps: its shell text, its script lines, the stage done for
//! real, the check read back from the kernel, and an optional demonstration.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx};
use super::task::Task;
use crate::error::Result;
use crate::ui::evidence::Check;

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
    /// [`super::view::View`] of the container (`/proc/PID/...`, the cgroup files, a probe in
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
    /// The lesson as a hands-on task for `hako practice` (none: hako performs it).
    fn task(&self) -> Option<&dyn Task> {
        None
    }
}
