//! A learner's progress, saved under `/var/lib/hako` (root's, 0700): one file per
//! learner, `practice-<name>.json`, with each task done (when, passed or solved, how
//! many hints). hako runs as root: the directory and the file are reached by descriptor
//! (openat, never following a link), believed only when root owns them and no one
//! else may write them, and never through a user's home directory.

use crate::sys::at::DirFd;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where progress files live; a test may point it elsewhere.
pub fn dir() -> PathBuf {
    std::env::var_os("HAKO_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/hako"))
}

/// One task, done.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Done {
    /// "passed" or "solved".
    pub state: String,
    /// Seconds since the epoch.
    pub time: u64,
    pub hints: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    pub attendee: String,
    pub done: BTreeMap<String, Done>,
    /// Hints seen for tasks not done yet.
    #[serde(default)]
    pub hints: BTreeMap<String, usize>,
    #[serde(skip)]
    changed: bool,
}

/// The file name for `attendee`: letters, digits, `_` and `-` kept, anything else
/// as `%XX`, so that no name can climb out of the directory.
pub fn file_name(attendee: &str) -> String {
    let mut s = String::from("practice-");
    for b in attendee.bytes().take(64) {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s.push_str(".json");
    s
}

/// The state directory, opened without following a link, when it is root's and
/// writable by no one else; otherwise why not, in a few words.
fn open_dir(d: &Path, create: bool) -> Result<DirFd, String> {
    let (Some(up), Some(name)) = (d.parent(), d.file_name()) else {
        return Err("not a directory".into());
    };
    let parent = DirFd::open(up).map_err(|e| format!("{}: {}", up.display(), e.desc()))?;
    if create {
        let _ = parent.mkdir(name, 0o700);
    }
    let dir = parent.sub(name).map_err(|e| e.desc().to_string())?;
    let m = crate::sys::tree::statx_at(dir.fd(), b"").map_err(|e| e.desc().to_string())?;
    if m.uid == 0 && m.mode & 0o077 == 0 {
        Ok(dir)
    } else {
        Err("not a directory that only root may write".into())
    }
}

impl Progress {
    /// The saved progress of `attendee` (empty when there is none, or when the file
    /// is not to be believed).
    pub fn load(attendee: &str) -> Progress {
        Self::load_from(&dir(), attendee)
    }

    pub fn load_from(d: &Path, attendee: &str) -> Progress {
        let empty = Progress {
            attendee: attendee.to_string(),
            ..Default::default()
        };
        let Ok(dir) = open_dir(d, false) else {
            return empty;
        };
        let Ok((f, m)) = crate::sys::tree::open_read_at(&dir, file_name(attendee).as_bytes())
        else {
            return empty;
        };
        if !m.is_file() || m.uid != 0 || m.mode & 0o022 != 0 || m.size > 1 << 20 {
            return empty;
        }
        let mut bytes = vec![];
        use std::io::Read;
        if f.take(1 << 20).read_to_end(&mut bytes).is_err() {
            return empty;
        }
        match serde_json::from_slice::<Progress>(&bytes) {
            Ok(mut p) => {
                p.attendee = attendee.to_string();
                p
            }
            Err(_) => empty,
        }
    }

    pub fn record(&mut self, task: &str, state: &str, hints: usize, time: u64) {
        self.hints.remove(task);
        self.done.insert(
            task.to_string(),
            Done {
                state: state.to_string(),
                time,
                hints,
            },
        );
        self.changed = true;
    }

    pub fn hinted(&mut self, task: &str, hints: usize) {
        self.hints.insert(task.to_string(), hints);
        self.changed = true;
    }

    /// Writes the file (a new file, then a rename over the old one), when anything
    /// changed. A failure is said in one sentence, never fatal.
    pub fn save(&self) {
        if !self.changed {
            return;
        }
        if let Err(why) = self.save_in(&dir()) {
            crate::ui::render::note(&crate::ui::i18n::tf(
                "practice.progress_unsaved",
                &[("path", &dir().display()), ("why", &why)],
            ));
        }
    }

    pub fn save_in(&self, d: &Path) -> Result<(), String> {
        let dir = open_dir(d, true)?;
        let name = file_name(&self.attendee);
        let tmp = format!("{name}.tmp");
        let _ = dir.unlink(tmp.as_str());
        let mut f = dir
            .create(tmp.as_str(), 0o600)
            .map_err(|e| e.desc().to_string())?;
        let text = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        use std::io::Write;
        f.write_all(&text).map_err(|e| e.to_string())?;
        drop(f);
        dir.rename(tmp.as_str(), name.as_str())
            .map_err(|e| e.desc().to_string())
    }
}

/// The lessons `attendee` did by hand in practice (for `hako list`).
pub fn done_by(attendee: &str) -> Vec<String> {
    Progress::load(attendee).done.into_keys().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_in_the_directory() {
        assert_eq!(file_name("ada"), "practice-ada.json");
        assert_eq!(file_name("../etc/x"), "practice-%2E%2E%2Fetc%2Fx.json");
        assert!(!file_name("a/b").contains('/'));
        assert!(!file_name("..").contains(".."));
    }

    #[test]
    fn written_and_read_back() {
        let base = std::env::temp_dir().join(format!("hako-progress-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let mut p = Progress {
            attendee: "ada".into(),
            ..Default::default()
        };
        p.hinted("rootfs", 2);
        p.record("preflight", "passed", 0, 10);
        p.record("rootfs", "solved", 3, 20);
        let r = p.save_in(&base);
        if crate::sys::is_root() {
            r.unwrap();
            let q = Progress::load_from(&base, "ada");
            assert_eq!(q.done.len(), 2);
            assert_eq!(q.done["rootfs"].state, "solved");
            assert!(q.hints.is_empty());
        } else {
            // A directory a normal user made is not root's: never believed.
            assert!(r.is_err());
            assert!(Progress::load_from(&base, "ada").done.is_empty());
        }
        let _ = std::fs::remove_dir_all(&base);
    }
}
