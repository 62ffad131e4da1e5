//! The container's root directory, and how what the walk made in it is removed.

use super::temp::remove_tree_as;
use crate::sys::tree::Id;
use crate::ui::i18n::tf;
use std::path::PathBuf;

/// The container's root directory.
#[derive(Debug)]
pub struct Rootfs {
    pub path: PathBuf,
    /// True when hako created the directory (mktemp -d) and so removes it.
    pub owned: bool,
    /// What hako added inside a directory it does not own, removed afterwards
    /// (newest last).
    pub added: Added,
    /// The shell, as a path inside the rootfs.
    pub shell: String,
    /// The directory's identity (device, inode) when the walk took it: what cleanup
    /// removes (or removes from) must still be that very directory.
    pub id: Option<Id>,
    /// `--overlay`: the run's directory and its layers; `path` is then its `root`.
    pub overlay: Option<super::layers::RunOverlay>,
}

/// The paths hako added inside a `dir:` rootfs, each with its identity taken as it
/// is recorded (right after it was made): cleanup removes only that very file.
#[derive(Debug, Default)]
pub struct Added(Vec<(PathBuf, Option<Id>)>);

impl Extend<PathBuf> for Added {
    fn extend<I: IntoIterator<Item = PathBuf>>(&mut self, iter: I) {
        for p in iter {
            let id = crate::sys::tree::id_of(&p);
            self.0.push((p, id));
        }
    }
}

impl Rootfs {
    /// The directory the journal names (`Item::Rootfs`): the run's directory under
    /// `--overlay`, else the rootfs itself.
    pub fn journal_path(&self) -> PathBuf {
        self.overlay
            .as_ref()
            .map(|o| o.dir.clone())
            .unwrap_or_else(|| self.path.clone())
    }

    /// Removes what the walk made: the whole directory when hako created it (unless
    /// kept), or only what it added inside a `dir:` rootfs. Always by descriptor,
    /// never through a link or across a mount, and only while the recorded identity
    /// still matches.
    pub fn cleanup(mut self, keep: bool) -> Vec<String> {
        let mut said = vec![];
        if let Some(o) = self.overlay.take() {
            self.owned = false;
            return o.cleanup(self.id, keep);
        }
        if self.owned {
            if keep {
                said.push(tf("clean.rootfs_kept", &[("path", &self.path.display())]));
            } else {
                match remove_tree_as(&self.path, self.id) {
                    Ok(()) => said.push(tf("clean.rootfs", &[("path", &self.path.display())])),
                    Err(e) => said.push(e.msg),
                }
            }
        } else {
            let mut removed = vec![];
            while let Some((p, id)) = self.added.0.pop() {
                let Ok(rel) = p.strip_prefix(&self.path) else {
                    continue;
                };
                match crate::sys::tree::remove_added(&self.path, self.id, rel, id) {
                    Ok(()) => removed.push(p.display().to_string()),
                    Err(crate::sys::tree::Refusal::Gone) => {}
                    Err(why) => said.push(tf(
                        "clean.added_refused",
                        &[("path", &p.display()), ("why", &why)],
                    )),
                }
            }
            if !removed.is_empty() {
                said.insert(0, tf("clean.dir_added", &[("paths", &removed.join(", "))]));
            }
        }
        self.owned = false;
        said
    }
}
