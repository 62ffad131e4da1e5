//! The journal: what a run created, written to `/run/hako/<uuid>.json` *before* each
//! thing is created and struck off once it is undone. When a run dies before it could
//! clean up (kill -9, a power cut of the terminal), the next `hako` run or `hako
//! cleanup` finds the entries whose owner is dead and removes what they name, after
//! checking each path is one hako could have made: a tampered journal must not make
//! hako delete anything else.

use crate::i18n::tf;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where journals live; a test may point it elsewhere.
pub fn dir() -> PathBuf {
    std::env::var_os("HAKO_JOURNAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/hako"))
}

/// A process, named by its PID and its start time (so a reused PID is not mistaken).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proc {
    pub pid: i32,
    pub start: u64,
}

impl Proc {
    /// The start time of `pid` in clock ticks since boot (proc(5), /proc/PID/stat field 22).
    pub fn of(pid: i32) -> Option<Proc> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let rest = &s[s.rfind(')')? + 2..];
        // A zombie has finished: only its exit status waits to be collected.
        if rest.starts_with('Z') || rest.starts_with('X') {
            return None;
        }
        let start = rest.split(' ').nth(19)?.parse().ok()?;
        Some(Proc { pid, start })
    }

    pub fn me() -> Proc {
        Proc::of(std::process::id() as i32).unwrap_or(Proc {
            pid: std::process::id() as i32,
            start: 0,
        })
    }

    /// Whether this very process (same PID, same start) still exists.
    pub fn alive(&self) -> bool {
        Proc::of(self.pid).is_some_and(|p| p.start == self.start)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Item {
    /// A temp rootfs hako made (`kept`: asked to keep it with --keep).
    Rootfs { path: PathBuf, kept: bool },
    /// A cgroup directory.
    Cgroup { path: PathBuf },
    /// The agent or PID 1.
    Process(Proc),
    /// A mount point, file or link hako made inside a `dir:` rootfs it does not own.
    Added { path: PathBuf, under: PathBuf },
    /// A Docker container created for `docker:` (named `hako-<8 hex>`), on that socket.
    Container { name: String, socket: PathBuf },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub owner: Proc,
    pub items: Vec<Item>,
}

/// This run's journal file.
pub struct Entry {
    path: PathBuf,
    pub journal: Journal,
    /// Strike-offs wait in memory until [`Entry::release`] (the end of a clean-up):
    /// undoing an item twice is harmless, so a clean-up that dies half-way only leaves
    /// items a later one finds already gone. One write instead of one per item.
    held: bool,
}

impl Entry {
    pub fn new(uuid: &str) -> Entry {
        Entry {
            path: dir().join(format!("{uuid}.json")),
            journal: Journal {
                owner: Proc::me(),
                items: vec![],
            },
            held: false,
        }
    }

    /// Holds the strike-offs of [`Entry::done`] in memory (see `held`).
    pub fn hold(&mut self) {
        self.held = true;
    }

    /// Writes what was held.
    pub fn release(&mut self) {
        if std::mem::take(&mut self.held) {
            let _ = self.save();
        }
    }

    fn save(&self) -> std::io::Result<()> {
        let d = dir();
        if !d.exists() {
            std::fs::create_dir_all(&d)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))?;
        }
        if self.journal.items.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        // Written whole, then renamed: a reader never sees half a journal.
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&self.journal).unwrap_or_default())?;
        std::fs::rename(&tmp, &self.path)
    }

    /// Records an item; call it before creating the thing.
    pub fn add(&mut self, item: Item) -> crate::error::Result<()> {
        if !self.journal.items.contains(&item) {
            self.journal.items.push(item);
        }
        self.save().map_err(|e| {
            crate::error::Error::failed(tf(
                "err.journal",
                &[("path", &self.path.display()), ("why", &e)],
            ))
        })
    }

    /// Strikes an item off once it is undone.
    pub fn done(&mut self, item: &Item) {
        self.journal.items.retain(|i| i != item);
        if !self.held {
            let _ = self.save();
        }
    }

    pub fn set_kept(&mut self, path: &Path) {
        for i in &mut self.journal.items {
            if let Item::Rootfs { path: p, kept } = i {
                if p == path {
                    *kept = true;
                }
            }
        }
        let _ = self.save();
    }
}

/// The journals whose owner is dead.
pub fn orphans() -> Vec<(PathBuf, Journal)> {
    let Ok(rd) = std::fs::read_dir(dir()) else {
        return vec![];
    };
    let mut v = vec![];
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        match std::fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice::<Journal>(&b).ok())
        {
            Some(j) if !j.owner.alive() => v.push((p, j)),
            Some(_) => {}
            // Unreadable: nothing in it can be trusted, so nothing in it is acted on.
            None => v.push((
                p,
                Journal {
                    owner: Proc { pid: 0, start: 0 },
                    items: vec![],
                },
            )),
        }
    }
    v
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

/// A cgroup path is acted on only if it is `<a cgroup mount point>/<uuid>`.
pub fn valid_cgroup(path: &Path) -> bool {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
    else {
        return false;
    };
    is_uuid(name)
        && crate::sys::mountinfo::read(None)
            .unwrap_or_default()
            .iter()
            .any(|m| (m.fstype == "cgroup" || m.fstype == "cgroup2") && m.mount_point == parent)
}

/// A rootfs path is acted on only if it is a real directory named `hako.*` directly in
/// a temp directory.
pub fn valid_rootfs(path: &Path) -> bool {
    let name_ok = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n.starts_with("hako.") && n.len() > 8 && n[5..].bytes().all(|b| b.is_ascii_alphanumeric())
    });
    let parent_ok = path.parent().is_some_and(|p| {
        p == crate::lessons::preflight::tmpdir()
            || p == Path::new("/tmp")
            || p == Path::new("/var/tmp")
    });
    let dir_ok = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    name_ok
        && parent_ok
        && dir_ok
        && path
            .components()
            .all(|c| !matches!(c, std::path::Component::ParentDir))
}

/// What a `dir:` rootfs may have had added: an empty dir, an empty file, or the ptmx link.
pub fn valid_added(path: &Path, under: &Path) -> bool {
    if !path.starts_with(under)
        || path == under
        || path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return false;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::read_link(path).is_ok_and(|t| t == Path::new("pts/ptmx"))
        }
        Ok(m) if m.is_dir() => std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none()),
        Ok(m) => m.is_file() && m.len() == 0,
        Err(_) => false,
    }
}

/// Undoes one item of a dead run; returns what was said, if anything was done.
pub fn undo(item: &Item, kept_too: bool) -> Option<String> {
    match item {
        Item::Process(p) => {
            if p.alive() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                return Some(tf("cleanup.killed", &[("pid", &p.pid)]));
            }
            None
        }
        Item::Cgroup { path } => {
            if !path.exists() {
                return None;
            }
            if !valid_cgroup(path) {
                return Some(tf("cleanup.refused", &[("path", &path.display())]));
            }
            Some(
                match crate::sys::cgroup::remove_dirs(&mut vec![path.clone()]) {
                    Ok(()) => tf("cleanup.cgroup", &[("path", &path.display())]),
                    Err(e) => e.msg,
                },
            )
        }
        Item::Rootfs { path, kept } => {
            if !path.exists() || (*kept && !kept_too) {
                return None;
            }
            if !valid_rootfs(path) {
                return Some(tf("cleanup.refused", &[("path", &path.display())]));
            }
            Some(match crate::rootfs::remove_tree(path) {
                Ok(()) => tf("cleanup.rootfs", &[("path", &path.display())]),
                Err(e) => e.msg,
            })
        }
        Item::Container { name, socket } => {
            let ok = name.len() == 13
                && name.starts_with("hako-")
                && name[5..].bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Some(tf("cleanup.refused", &[("path", &name)]));
            }
            if !socket.exists() {
                return None;
            }
            Some(match crate::rootfs::docker::remove_by_name(socket, name) {
                Ok(()) => tf("cleanup.container", &[("name", &name)]),
                Err(e) => tf("cleanup.container_failed", &[("name", &name), ("why", &e)]),
            })
        }
        Item::Added { path, under } => {
            if std::fs::symlink_metadata(path).is_err() {
                return None;
            }
            if !valid_added(path, under) {
                return Some(tf("cleanup.refused", &[("path", &path.display())]));
            }
            let r = if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir(path)
            } else {
                std::fs::remove_file(path)
            };
            r.ok()
                .map(|_| tf("cleanup.added", &[("path", &path.display())]))
        }
    }
}

/// Removes what dead runs left; with `kept_too`, also the rootfs kept with --keep.
/// Returns one line per thing removed (or refused).
pub fn clean_orphans(kept_too: bool) -> Vec<String> {
    let mut said = vec![];
    for (file, j) in orphans() {
        // Processes first (they hold the cgroup busy), then the cgroups, then files;
        // added paths deepest first.
        let mut items = j.items.clone();
        items.sort_by_key(|i| match i {
            Item::Process(_) | Item::Container { .. } => 0,
            Item::Cgroup { .. } => 1,
            Item::Added { .. } => 2,
            Item::Rootfs { .. } => 3,
        });
        let mut added: Vec<&Item> = items
            .iter()
            .filter(|i| matches!(i, Item::Added { .. }))
            .collect();
        added.reverse();
        let mut remaining = vec![];
        for item in items
            .iter()
            .filter(|i| !matches!(i, Item::Added { .. }))
            .chain(added)
        {
            if let Item::Process(_) = item {
                // Give the kernel a moment to empty the cgroup after the kill.
                if let Some(s) = undo(item, kept_too) {
                    said.push(s);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                continue;
            }
            if let Some(s) = undo(item, kept_too) {
                said.push(s);
            }
            let still = match item {
                Item::Rootfs { path, .. } | Item::Cgroup { path } | Item::Added { path, .. } => {
                    std::fs::symlink_metadata(path).is_ok()
                }
                Item::Process(_) | Item::Container { .. } => false,
            };
            if still {
                remaining.push(item.clone());
            }
        }
        if remaining.is_empty() {
            let _ = std::fs::remove_file(&file);
        } else {
            let j = Journal {
                owner: j.owner,
                items: remaining,
            };
            let _ = std::fs::write(&file, serde_json::to_vec(&j).unwrap_or_default());
        }
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_start_time_is_read() {
        let me = Proc::me();
        assert!(me.start > 0);
        assert!(me.alive());
        assert!(!Proc {
            pid: me.pid,
            start: me.start + 1
        }
        .alive());
    }

    #[test]
    fn tampered_paths_are_refused() {
        assert!(!valid_rootfs(Path::new("/")));
        assert!(!valid_rootfs(Path::new("/etc")));
        assert!(!valid_rootfs(Path::new("/tmp/../etc")));
        assert!(!valid_rootfs(Path::new("/tmp/hako.")));
        assert!(!valid_rootfs(Path::new("/tmp/hako.x/../../etc")));
        assert!(!valid_cgroup(Path::new("/sys/fs/cgroup/memory")));
        assert!(!valid_cgroup(Path::new(
            "/etc/0d1a2b3c-0000-4000-8000-000000000000"
        )));
        assert!(!valid_cgroup(Path::new(
            "/sys/fs/cgroup/memory/system.slice"
        )));
        assert!(!valid_added(
            Path::new("/etc/passwd"),
            Path::new("/srv/root")
        ));
        assert!(!valid_added(
            Path::new("/srv/root/../../etc"),
            Path::new("/srv/root")
        ));
        assert!(!valid_added(Path::new("/etc"), Path::new("/etc")));
    }
}
