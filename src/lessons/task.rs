//! A lesson as a hands-on task (`hako practice`): the learner types the stage, and the
//! lesson's own kernel evidence judges it.
//!
//! A lesson that can be practised returns a [`Task`] from `Lesson::task`. The practice
//! runner (`crate::practice`) shows the goal, re-judges after each command that returned
//! to the prompt, and offers the hint ladder and the solve lines. A judge reads the kernel
//! from the host (the processes in the run's cgroup, `/proc/PID/*`, the cgroup files, the
//! mount tables, probes that join the container's namespaces): never the typed text.

use crate::sys::cgroup::Layout;
use crate::sys::mountinfo::Mount;
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, lang, t_in, Lang};
use std::path::PathBuf;

/// What hako prepared before the learner's first command, and what it read of the host
/// then: all a judge knows besides what it reads from the kernel.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The run's name: `$UUID` in the learner's shell (the cgroup's and hostname's name).
    pub uuid: String,
    /// `$ROOTFS`: the empty directory hako made (and journaled) for the learner to fill.
    pub rootfs: PathBuf,
    /// `$IMAGE`: the tarball hako prepared from the chosen source, to unpack into `$ROOTFS`.
    pub image: PathBuf,
    /// The learner's outer shell (host PID): the session leader on the practice pty.
    pub shell_pid: i32,
    /// Where the cgroup controllers are mounted on this host (v1, hybrid or v2).
    pub layout: Layout,
    /// The host's hostname when practice started.
    pub host_hostname: String,
    /// The host's mount table when practice started.
    pub host_mounts: Vec<Mount>,
    /// `--pids N`: the pids task is practised too, with this limit.
    pub pids: Option<u64>,
    /// `--overlay`: the image is unpacked into `$LAYER` and `$ROOTFS` is an overlay
    /// mount of it (the overlay task).
    pub overlay: bool,
}

impl Setup {
    /// `$LAYER` (with `--overlay`): the empty directory beside `$ROOTFS` for the image's
    /// one layer, the overlay's lower directory.
    pub fn layer(&self) -> PathBuf {
        self.rootfs.with_file_name("layer")
    }

    /// `$OVL` (with `--overlay`): the directory beside `$ROOTFS` for the overlay's
    /// `upper` and `work` directories.
    pub fn ovl(&self) -> PathBuf {
        self.rootfs.with_file_name("ovl")
    }
}

/// What a judge concluded.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The kernel shows the stage done: one status line, and the evidence.
    Passed { line: String, check: Check },
    /// Not done (yet), or done in a known wrong way. `line`: one sentence saying what the
    /// kernel shows and why it is wrong, when the state is a known mistake; `None` when
    /// the stage simply has not been done.
    Failed { line: Option<String>, check: Check },
    /// Under way: the state between two commands of one stage (the memory limit set, not
    /// yet the CPU's; `dev/null` touched, not yet bound over). Not a mistake: `line`
    /// says what is left to do.
    Halfway { line: String, check: Check },
}

impl Verdict {
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Passed { .. })
    }
}

/// One lesson, practised.
pub trait Task: Sync {
    /// The lesson's id.
    fn id(&self) -> &'static str;
    /// Whether the learner types this stage inside the container's shell (after
    /// `unshare`), not in the outer host shell.
    fn inside(&self) -> bool;
    /// The goal in one or two sentences, not the command: the lesson's `<id>.goal`,
    /// filled with this run's values.
    fn goal(&self, s: &Setup) -> String {
        goal(lang(), self.id(), s)
    }
    /// The hint ladder: what to achieve, which tool or system call (`<id>.hint_what`,
    /// `<id>.hint_tool`), the exact commands with this run's values (the solve lines).
    fn hints(&self, s: &Setup) -> [String; 3] {
        ladder(lang(), self.id(), s, &self.solve(s))
    }
    /// The lines "solve" types into the shell, in order.
    fn solve(&self, s: &Setup) -> Vec<String>;
    /// Reads the kernel and judges the stage.
    fn judge(&self, s: &Setup) -> Verdict;
}

/// The hint ladder: what to achieve and which tool (the lesson's `<id>.hint_what` and
/// `<id>.hint_tool`, filled with this run's values), then the exact lines.
pub fn ladder(l: Lang, id: &str, s: &Setup, lines: &[String]) -> [String; 3] {
    let args = values(s);
    let args: Vec<(&str, &dyn std::fmt::Display)> = args
        .iter()
        .map(|(k, v)| (*k, v as &dyn std::fmt::Display))
        .collect();
    [
        fill(t_in(l, &format!("{id}.hint_what")), &args),
        fill(t_in(l, &format!("{id}.hint_tool")), &args),
        lines.join("\n"),
    ]
}

/// The goal, `<id>.goal`, filled with this run's values.
pub fn goal(l: Lang, id: &str, s: &Setup) -> String {
    let args = values(s);
    let args: Vec<(&str, &dyn std::fmt::Display)> = args
        .iter()
        .map(|(k, v)| (*k, v as &dyn std::fmt::Display))
        .collect();
    fill(t_in(l, &format!("{id}.goal")), &args)
}

/// The values a goal or a hint may name: `{uuid}`, `{rootfs}`, `{image}`, `{layer}`,
/// `{ovl}`, the
/// cgroup version's `{version}`, `{memory_file}`, `{cpu_files}`, the pids limit `{max}`
/// and the pids cgroup's directory `{pids_dir}`.
fn values(s: &Setup) -> Vec<(&'static str, String)> {
    let v2 = s.layout.version.is_v2();
    vec![
        ("max", s.pids.map(|n| n.to_string()).unwrap_or_default()),
        (
            "pids_dir",
            s.layout
                .pids_dir(&s.uuid)
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        ),
        ("uuid", s.uuid.clone()),
        ("rootfs", s.rootfs.display().to_string()),
        ("image", s.image.display().to_string()),
        ("layer", s.layer().display().to_string()),
        ("ovl", s.ovl().display().to_string()),
        ("version", s.layout.version.label().to_string()),
        (
            "memory_file",
            if v2 {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            }
            .to_string(),
        ),
        (
            "cpu_files",
            if v2 {
                "cpu.max"
            } else {
                "cpu.cfs_quota_us, cpu.cfs_period_us"
            }
            .to_string(),
        ),
    ]
}
