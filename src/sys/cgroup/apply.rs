//! Doing a plan: mkdir and writes in cgroupfs, the cgroup hako made (its directories,
//! what it enabled), and its removal with rmdir(2).

use super::counters::{self, pids_in};
use super::diagnose::enable_failure;
use super::layout::Layout;
use super::plan::Op;
use crate::error::{Error, Result};
use crate::ui::i18n::tf;
use std::path::{Path, PathBuf};

impl Op {
    /// Does this operation: mkdir(2), or a write (a refused `+controller` explained by
    /// [`enable_failure`]).
    pub fn apply(&self) -> Result<()> {
        match self {
            Op::Mkdir(p) => crate::sys::common::mkdir(p),
            Op::Write { path, value } if path.ends_with("cgroup.subtree_control") => {
                crate::sys::common::write_raw(path, value)
                    .map_err(|e| enable_failure(path, value, e))
            }
            Op::Write { path, value } => crate::sys::common::write_file(path, value),
        }
    }
}

/// Removes cgroup directories, newest first, with rmdir(2) (a cgroup cannot be removed
/// any other way, and only when empty): what is still inside is killed first. Each
/// directory leaves `dirs` once it is gone.
pub fn remove_dirs(dirs: &mut Vec<PathBuf>) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while let Some(dir) = dirs.last().cloned() {
        // A cgroup made inside it (by the container, or by a learner in `hako
        // practice`, under any name) goes first: rmdir(2) of a cgroup with children
        // fails with EBUSY.
        remove_children(&dir)?;
        match crate::sys::common::rmdir(&dir) {
            Ok(()) | Err(nix::errno::Errno::ENOENT) => {
                dirs.pop();
            }
            Err(nix::errno::Errno::EBUSY) if std::time::Instant::now() < deadline => {
                for pid in pids_in(std::slice::from_ref(&dir)) {
                    let r = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    crate::sys::tracer::trace(|| format!("kill({pid}, SIGKILL)"), "2 kill", &r);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => {
                return Err(Error::failed(tf(
                    "err.cgroup_remove",
                    &[
                        ("path", &dir.display()),
                        ("why", &crate::sys::error::explain(e)),
                    ],
                )))
            }
        }
    }
    Ok(())
}

/// Removes every cgroup under `dir` (not `dir` itself), deepest first. cgroupfs holds
/// only directories (the cgroups) and the kernel's files: no link to follow.
fn remove_children(dir: &Path) -> Result<()> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut subs: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subs.sort();
    for s in subs {
        remove_dirs(&mut vec![s])?;
    }
    Ok(())
}

/// A cgroup hako created: its directories, and what it enabled on the way.
#[derive(Debug, Clone)]
pub struct Cgroup {
    pub name: String,
    pub layout: Layout,
    /// The directories created, in order (removed in reverse).
    pub created: Vec<PathBuf>,
    /// Controllers enabled in the root's subtree_control (v2), left on afterwards.
    pub enabled: Vec<String>,
    /// The pids lesson set `pids.max` here (`--pids`).
    pub pids: bool,
}

impl Cgroup {
    /// Applies a create plan, recording each directory as soon as it exists.
    pub fn create(
        layout: &Layout,
        name: &str,
        plan: &[Op],
        before_mkdir: &mut dyn FnMut(&Path) -> Result<()>,
    ) -> (Cgroup, Result<()>) {
        let mut cg = Cgroup {
            name: name.to_string(),
            layout: layout.clone(),
            created: vec![],
            enabled: vec![],
            pids: false,
        };
        for op in plan {
            if let Op::Mkdir(p) = op {
                if let Err(e) = before_mkdir(p) {
                    return (cg, Err(e));
                }
            }
            if let Err(e) = op.apply() {
                return (cg, Err(e));
            }
            match op {
                Op::Mkdir(p) => cg.created.push(p.clone()),
                Op::Write { value, .. } => cg.enabled.extend(
                    value
                        .split_whitespace()
                        .map(|v| v.trim_start_matches('+').to_string()),
                ),
            }
        }
        (cg, Ok(()))
    }

    pub fn memory_dir(&self) -> PathBuf {
        self.layout.memory.join(&self.name)
    }

    pub fn cpu_dir(&self) -> PathBuf {
        self.layout.cpu.join(&self.name)
    }

    /// The PIDs still in the cgroup (all hierarchies).
    pub fn pids(&self) -> Vec<i32> {
        pids_in(&self.created)
    }

    /// Removes the directories (rmdir, never rm -r), killing what is still inside
    /// first (the cgroup is hako's own, so everything in it is hako's).
    pub fn remove(&mut self) -> Result<()> {
        remove_dirs(&mut self.created)
    }

    /// The memory charged to the cgroup now (v2 `memory.current`, v1 `memory.usage_in_bytes`).
    pub fn memory_usage(&self) -> Option<u64> {
        counters::memory_usage(&self.layout, &self.name)
    }

    /// The counters a closing summary shows: (file, key, value).
    pub fn counters(&self) -> Vec<(String, String, String)> {
        counters::counters(&self.layout, &self.name, self.pids)
    }
}
