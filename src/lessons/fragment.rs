//! A lesson's lines in `hako script`: the same commands the lesson shows, written with
//! the script's names for this run's values (`"$ROOTFS"`, `$UUID`, `$CMD`).

use crate::rootfs::Source;
use crate::spec::CpuSpec;
use crate::sys::cgroup::Layout;
use std::path::Path;

/// The rootfs as the script names it: `{ROOTFS}/proc` is quoted for the shell.
pub const ROOTFS: &str = "\"$ROOTFS\"";
/// The container's name (its cgroup and its hostname) as the script names it.
pub const UUID: &str = "$UUID";
/// The command the container runs, as the script names it (inside double quotes).
pub const CMD: &str = "$CMD";

/// What the script is written for.
pub struct ScriptCtx<'a> {
    pub source: &'a Source,
    /// The host's busybox, for a `host` rootfs.
    pub busybox: Option<&'a Path>,
    pub layout: &'a Layout,
    pub memory: u64,
    pub cpu: CpuSpec,
    /// `--harden`: the confining steps too.
    pub harden: bool,
    /// `--pids N`: the pids limit too.
    pub pids: Option<u64>,
    /// `--net`: the network too, on this subnet (None inside: the script picks one).
    pub net: Option<Option<crate::spec::Subnet>>,
    /// `--overlay`: the rootfs becomes an overlay.
    pub overlay: bool,
}

/// Where a lesson's lines go in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fragment {
    /// Run by the script itself, on the host, where the lesson stands.
    Host(String),
    /// Run inside the new namespaces, before the root changes (collected in `$INNER`).
    Inside(String),
    /// Run inside too, after every `Inside` step: the change of root and the exec.
    Last(String),
    /// A remark, as `#` comment lines.
    Note(String),
}

/// Single-quotes a value for the shell.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
