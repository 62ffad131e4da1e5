//! Where a run's rootfs lives and how it goes: the temp directory, named in advance so
//! that the journal can record it, and its removal without leaving its filesystem.

use crate::error::{Error, Result};
use crate::sys::tree::Id;
use crate::ui::i18n::tf;
use std::path::{Path, PathBuf};

/// The temp directory the rootfs goes in: `$TMPDIR` when absolute, else /tmp.
pub fn tmpdir() -> PathBuf {
    std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// The temp rootfs of run `uuid`: `$TMPDIR/hako.<first 12 hex digits>`, named in
/// advance so that the journal can record it before it exists.
pub fn temp_path(uuid: &str) -> PathBuf {
    let short: String = uuid
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(12)
        .collect();
    tmpdir().join(format!("hako.{short}"))
}

/// Creates the directory named by [`temp_path`], mode 0700 (as mktemp does); fails if
/// anything is there already.
pub fn create_temp(path: &Path) -> Result<()> {
    crate::sys::mkdir_private(path)
        .map_err(|e| crate::sys::failure(&tf("do.mktemp", &[("path", &path.display())]), e))
}

/// Removes a directory tree without ever leaving its filesystem: what is mounted under
/// it is detached first, a mount still in place is not descended into (and the removal
/// stops with an error), a link is removed, never followed (see [`crate::sys::tree`]).
pub fn remove_tree(root: &Path) -> Result<()> {
    remove_tree_as(root, None)
}

/// [`remove_tree`], only while `root` is still the directory `id` names (when recorded).
pub fn remove_tree_as(root: &Path, id: Option<Id>) -> Result<()> {
    crate::sys::tree::remove_tree(root, id).map_err(|why| {
        Error::failed(tf(
            "err.rootfs_remove",
            &[("path", &root.display()), ("why", &why)],
        ))
    })
}
