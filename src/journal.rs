//! The journal: what a run created, written to `/run/hako/<uuid>.json` *before* each
//! thing is created and struck off once it is undone. When a run dies before it could
//! clean up (kill -9, a power cut of the terminal), the next `hako` run or `hako
//! cleanup` finds the entries whose owner is dead and removes what they name. A journal
//! is believed only when it and its directory are root's and writable by no one else;
//! even then each path must be one that very run could have made (its UUID is the
//! file's name), a process is signalled only when it runs hako's own program, and
//! files are removed by descriptor, only while they are still what hako made: a
//! tampered journal must not make hako delete, kill or send anything else.

use crate::sys::procfs::{Stat, Who};
use crate::sys::tree::Id;
use crate::ui::i18n::{t, tf};
use serde::{Deserialize, Serialize};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

pub mod net;

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
        let stat = Stat::of(Who::Pid(pid))?;
        // A zombie has finished: only its exit status waits to be collected.
        if stat.ended() {
            return None;
        }
        Some(Proc {
            pid,
            start: stat.start_time()?,
        })
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
    /// A change to the network (the `--net` lesson), made in the network namespace
    /// whose inode is `netns`: undone only from that same namespace.
    Net { netns: u64, change: net::NetChange },
    /// `--overlay`: an overlay mounted at this point inside the run's temp directory
    /// (`root`, or a demonstration's `NAME/root`), recorded before it is mounted.
    Overlay { path: PathBuf },
}

/// The identity (device, inode) of a path an item names, taken right after hako made
/// it (or, for a `dir:` rootfs, when the walk took it): a clean-up removes only that
/// very file. Kept beside the items, so that an older hako still reads the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ident {
    pub path: PathBuf,
    pub id: Id,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub owner: Proc,
    pub items: Vec<Item>,
    /// The identity of the hako executable that wrote the journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<Id>,
    /// The identities of what the items name, once made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<Ident>,
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

/// Writes a journal whole (a temp file, then a rename: a reader never sees half of
/// one), root-only (0600, whatever the umask).
fn write_journal(path: &Path, j: &Journal) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(crate::sys::files::O_NOFOLLOW)
        .open(&tmp)?;
    f.write_all(&serde_json::to_vec(j).map_err(std::io::Error::from)?)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

impl Entry {
    pub fn new(uuid: &str) -> Entry {
        Entry {
            path: dir().join(format!("{uuid}.json")),
            journal: Journal {
                owner: Proc::me(),
                items: vec![],
                exe: crate::sys::tree::exe_id(std::process::id() as i32),
                ids: vec![],
            },
            held: false,
        }
    }

    /// Holds the strike-offs of [`Entry::done`] in memory (see `held`).
    pub fn hold(&mut self) {
        self.held = true;
    }

    /// Writes what was held.
    pub fn release(&mut self) -> Result<(), JournalError> {
        if std::mem::take(&mut self.held) {
            self.prune();
            return self.save().map_err(|err| JournalError::Update {
                path: self.path.clone(),
                err,
            });
        }
        Ok(())
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
        write_journal(&self.path, &self.journal)
    }

    /// Records an item; call it before creating the thing.
    pub fn add(&mut self, item: Item) -> crate::error::Result<()> {
        if !self.journal.items.contains(&item) {
            self.journal.items.push(item);
        }
        self.save().map_err(|err| {
            JournalError::Record {
                path: self.path.clone(),
                err,
            }
            .into()
        })
    }

    /// Records the identity of `path`, just made (or just taken as a `dir:` rootfs).
    pub fn identify(&mut self, path: &Path) -> crate::error::Result<()> {
        let Some(id) = crate::sys::tree::id_of(path) else {
            return Ok(());
        };
        self.journal.ids.retain(|i| i.path != path);
        self.journal.ids.push(Ident {
            path: path.to_path_buf(),
            id,
        });
        self.save().map_err(|err| {
            JournalError::Record {
                path: self.path.clone(),
                err,
            }
            .into()
        })
    }

    /// Strikes an item off once it is undone.
    pub fn done(&mut self, item: &Item) {
        self.journal.items.retain(|i| i != item);
        if !self.held {
            // A strike-off that is not written leaves an item naming what is gone:
            // `hako cleanup` finds it gone and says nothing. The walk holds its
            // strike-offs during clean-up and says a failed write there (`release`).
            let _ = self.save();
        }
    }

    /// Drops the identities no other item needs any more.
    fn prune(&mut self) {
        let named: Vec<PathBuf> = self
            .journal
            .items
            .iter()
            .flat_map(|i| match i {
                Item::Rootfs { path, .. } | Item::Cgroup { path } => vec![path.clone()],
                Item::Added { path, under } => vec![path.clone(), under.clone()],
                _ => vec![],
            })
            .collect();
        self.journal.ids.retain(|i| named.contains(&i.path));
    }

    /// Marks a rootfs as kept (`--keep`), so `hako cleanup` leaves it. Written now, or
    /// by [`Entry::release`] when held.
    pub fn set_kept(&mut self, path: &Path) -> Result<(), JournalError> {
        for i in &mut self.journal.items {
            if let Item::Rootfs { path: p, kept } = i {
                if p == path {
                    *kept = true;
                }
            }
        }
        if self.held {
            return Ok(());
        }
        self.save().map_err(|err| JournalError::Update {
            path: self.path.clone(),
            err,
        })
    }
}

/// A journal that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Recording before creating: the run stops, since nothing could undo it later.
    #[error("{}", tf("err.journal", &[("path", &.path.display()), ("why", &.err)]))]
    Record { path: PathBuf, err: std::io::Error },
    /// Updating after undoing or keeping: the journal on disk is out of date.
    #[error("{}", tf("cleanup.journal_unsaved", &[("path", &.path.display()), ("why", &.err)]))]
    Update { path: PathBuf, err: std::io::Error },
}

impl From<JournalError> for crate::error::Error {
    fn from(e: JournalError) -> Self {
        crate::error::Error::failed(e.to_string())
    }
}

/// The largest journal hako reads (its own are a few hundred bytes).
pub const MAX_BYTES: u64 = 1 << 20;

/// Why a journal file as a whole is not acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distrust {
    /// Not owned by root (the file or its directory).
    Owner,
    /// Writable by group or others (the file or its directory).
    Mode,
    /// Not a regular file (a link, a FIFO, a device, a directory).
    Kind,
    /// Its name is not `<uuid>.json`.
    Name,
    /// Larger than [`MAX_BYTES`].
    Size,
    /// Not a journal (JSON of another shape, or not JSON at all).
    Parse(String),
}

impl Distrust {
    fn say(&self) -> String {
        match self {
            Distrust::Owner => t("cleanup.jwhy_owner").to_string(),
            Distrust::Mode => t("cleanup.jwhy_mode").to_string(),
            Distrust::Kind => t("cleanup.jwhy_kind").to_string(),
            Distrust::Name => t("cleanup.jwhy_name").to_string(),
            Distrust::Size => tf("cleanup.jwhy_size", &[("max", &MAX_BYTES)]),
            Distrust::Parse(e) => tf("cleanup.jwhy_parse", &[("why", &clean(e))]),
        }
    }
}

/// Whether a file (or directory) with this owner and mode may be believed: root's,
/// and writable by no one else.
pub fn trusted_meta(uid: u32, mode: u32) -> Result<(), Distrust> {
    if uid != 0 {
        return Err(Distrust::Owner);
    }
    if mode & 0o022 != 0 {
        return Err(Distrust::Mode);
    }
    Ok(())
}

/// The UUID a journal file name carries (`<uuid>.json`), in its canonical form.
pub fn uuid_of_name(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".json")?;
    is_uuid(stem).then(|| stem.to_ascii_lowercase())
}

/// Reads a journal's bytes (after the file was found trustworthy). Never panics.
pub fn parse(bytes: &[u8]) -> Result<Journal, Distrust> {
    if bytes.len() as u64 > MAX_BYTES {
        return Err(Distrust::Size);
    }
    serde_json::from_slice::<Journal>(bytes).map_err(|e| Distrust::Parse(e.to_string()))
}

/// One journal file as found.
#[derive(Debug)]
pub enum Found {
    /// Its owner is dead: what it names may be cleaned up.
    Orphan {
        file: PathBuf,
        uuid: String,
        journal: Journal,
    },
    /// Root's and well-formed, but unreadable as a journal: nothing in it is acted on,
    /// the file goes.
    Broken { file: PathBuf },
    /// Not believed: left alone, with a sentence.
    Refused { file: PathBuf, why: Distrust },
}

/// The journals whose owner is dead, and those hako refuses to read. Each file is
/// opened without following a link and judged through its descriptor: root-owned, not
/// group- or world-writable, a regular file named `<uuid>.json`, in a directory that
/// is root-owned and not group- or world-writable either.
pub fn orphans() -> Vec<Found> {
    use crate::sys::tree;
    let d = dir();
    let Ok((dfd, dm)) = tree::open_dir_nofollow(&d) else {
        return vec![];
    };
    if let Err(why) = trusted_meta(dm.uid, dm.mode) {
        return vec![Found::Refused { file: d, why }];
    }
    let mut v = vec![];
    let Ok(mut names) = dfd.names() else {
        return v;
    };
    names.sort();
    for n in names {
        let shown = String::from_utf8_lossy(&n).into_owned();
        if !shown.ends_with(".json") {
            continue;
        }
        let file = d.join(std::ffi::OsStr::from_bytes(&n));
        let Some(uuid) = uuid_of_name(&shown) else {
            v.push(Found::Refused {
                file,
                why: Distrust::Name,
            });
            continue;
        };
        let (mut f, m) = match tree::open_read_at(&dfd, &n) {
            Ok(x) => x,
            Err(crate::sys::Errno::ENOENT) => continue,
            Err(_) => {
                v.push(Found::Refused {
                    file,
                    why: Distrust::Kind,
                });
                continue;
            }
        };
        let judged = if !m.is_file() {
            Err(Distrust::Kind)
        } else if m.size > MAX_BYTES {
            Err(Distrust::Size)
        } else {
            trusted_meta(m.uid, m.mode)
        };
        if let Err(why) = judged {
            v.push(Found::Refused { file, why });
            continue;
        }
        let mut bytes = vec![];
        use std::io::Read;
        if (&mut f)
            .take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .is_err()
        {
            continue;
        }
        match parse(&bytes) {
            Ok(j) if !j.owner.alive() => v.push(Found::Orphan {
                file,
                uuid,
                journal: j,
            }),
            Ok(_) => {}
            Err(Distrust::Size) => v.push(Found::Refused {
                file,
                why: Distrust::Size,
            }),
            // Unreadable: nothing in it can be trusted, so nothing in it is acted on.
            Err(_) => v.push(Found::Broken { file }),
        }
    }
    v
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

/// The places a journal's paths may lie in, as this machine has them.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    /// Where a temp rootfs may be made.
    pub tmp: Vec<PathBuf>,
    /// The cgroup mounts.
    pub cgroup_mounts: Vec<PathBuf>,
    /// The Docker socket this hako would use.
    pub docker_socket: Option<PathBuf>,
}

impl Roots {
    pub fn here() -> Roots {
        let mut tmp = vec![crate::rootfs::tmpdir()];
        for p in ["/tmp", "/var/tmp"] {
            if !tmp.iter().any(|t| t == Path::new(p)) {
                tmp.push(PathBuf::from(p));
            }
        }
        Roots {
            tmp,
            cgroup_mounts: crate::sys::mountinfo::read(None)
                .unwrap_or_default()
                .into_iter()
                .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
                .map(|m| m.mount_point)
                .collect(),
            docker_socket: crate::rootfs::docker::socket().ok(),
        }
    }
}

/// What hako adds inside a `dir:` rootfs, relative to it.
pub const ADDED: [&str; 5] = ["proc", "dev", "dev/pts", "dev/null", "dev/ptmx"];

/// The name of run `uuid`'s temp rootfs (see [`crate::rootfs::temp_path`]).
pub fn rootfs_name(uuid: &str) -> String {
    let short: String = uuid
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(12)
        .collect();
    format!("hako.{short}")
}

/// The name of run `uuid`'s Docker container.
pub fn container_name(uuid: &str) -> String {
    format!("hako-{}", uuid.get(..8).unwrap_or(""))
}

/// Absolute, and made only of plain names (no `.`, no `..`, no `//`), written as such.
fn plain(p: &Path) -> bool {
    p.is_absolute()
        && p.as_os_str() == p.components().collect::<PathBuf>().as_os_str()
        && p.components()
            .skip(1)
            .all(|c| matches!(c, Component::Normal(_)))
        && p.components().count() > 1
}

/// Why an item of a journal is not something its run could have made (the reason in
/// `cleanup.refused_in`); names and paths here are hako's own, not the journal's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unvetted {
    #[error("{}", tf("cleanup.why_rootfs", &[("name", name)]))]
    Rootfs { name: String },
    #[error("{}", tf("cleanup.why_cgroup", &[("uuid", uuid)]))]
    Cgroup { uuid: String },
    #[error("{}", t("cleanup.why_added"))]
    Added,
    #[error("{}", tf("cleanup.why_container", &[("name", name), ("socket", &socket.display())]))]
    Container { name: String, socket: PathBuf },
    #[error("{}", t("cleanup.why_net"))]
    Net,
    #[error("{}", tf("cleanup.why_overlay", &[("name", name)]))]
    Overlay { name: String },
}

/// Where an overlay of run `uuid` may be mounted, relative to its temp directory: the
/// rootfs, and the scratch overlays of the overlay lesson's check and demonstration;
/// under `--harden`, also `lower-N`, the idmapped layers (see [`overlay_point`]).
pub const OVERLAY_POINTS: [&str; 4] = ["root", "probe/root", "demo-a/root", "demo-b/root"];

/// The most idmapped layers a run mounts (`lower-0` … `lower-999`).
pub const MAX_LOWERS: usize = 1000;

/// Whether `rel` (relative to a run's temp directory) is a place an overlay lesson mounts.
pub fn overlay_point(rel: &Path) -> bool {
    if OVERLAY_POINTS.iter().any(|p| rel == Path::new(p)) {
        return true;
    }
    rel.to_str()
        .and_then(|r| r.strip_prefix("lower-"))
        .is_some_and(|n| {
            !n.is_empty()
                && n.len() <= 3
                && n.bytes().all(|b| b.is_ascii_digit())
                && (n == "0" || !n.starts_with('0'))
                && n.parse::<usize>().is_ok_and(|i| i < MAX_LOWERS)
        })
}

/// Whether `item`, found in the journal of run `uuid`, names only what that run could
/// have made: checked on the text alone (the live checks come when it is undone).
/// `Err` is the sentence's reason.
pub fn vet(uuid: &str, item: &Item, roots: &Roots) -> Result<(), Unvetted> {
    match item {
        Item::Rootfs { path, .. } => {
            let name = rootfs_name(uuid);
            let ok = plain(path)
                && path.file_name().is_some_and(|n| n == name.as_str())
                && path
                    .parent()
                    .is_some_and(|p| roots.tmp.iter().any(|t| t == p));
            if ok {
                Ok(())
            } else {
                Err(Unvetted::Rootfs { name })
            }
        }
        Item::Cgroup { path } => {
            let ok = plain(path)
                && path.file_name().is_some_and(|n| n == uuid)
                && path
                    .parent()
                    .is_some_and(|p| roots.cgroup_mounts.iter().any(|m| m == p));
            if ok {
                Ok(())
            } else {
                Err(Unvetted::Cgroup {
                    uuid: uuid.to_string(),
                })
            }
        }
        Item::Added { path, under } => {
            let ok = plain(under)
                && plain(path)
                && path
                    .strip_prefix(under)
                    .is_ok_and(|rel| ADDED.iter().any(|a| rel == Path::new(a)));
            if ok {
                Ok(())
            } else {
                Err(Unvetted::Added)
            }
        }
        Item::Container { name, socket } => {
            let ok = *name == container_name(uuid)
                && roots.docker_socket.as_deref() == Some(socket.as_path());
            if ok {
                Ok(())
            } else {
                Err(Unvetted::Container {
                    name: container_name(uuid),
                    socket: roots
                        .docker_socket
                        .clone()
                        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock")),
                })
            }
        }
        Item::Net { change, .. } => {
            if net::vet(uuid, change) {
                Ok(())
            } else {
                Err(Unvetted::Net)
            }
        }
        Item::Overlay { path } => {
            let name = rootfs_name(uuid);
            let ok = plain(path)
                && roots
                    .tmp
                    .iter()
                    .any(|t| path.strip_prefix(t.join(&name)).is_ok_and(overlay_point));
            if ok {
                Ok(())
            } else {
                Err(Unvetted::Overlay { name })
            }
        }
        Item::Process(_) => Ok(()),
    }
}

/// The recorded identity of `path` in a journal, if any.
fn ident(j: &Journal, path: &Path) -> Option<Id> {
    j.ids.iter().find(|i| i.path == path).map(|i| i.id)
}

/// Whether process `pid` runs this hako's program, or the one that wrote the journal
/// (`recorded`, an executable named hako: the run before an upgrade), compared by
/// identity (device, inode) of `/proc/PID/exe`.
fn runs_hako(pid: i32, recorded: Option<Id>) -> bool {
    let Some(its) = crate::sys::tree::exe_id(pid) else {
        return false;
    };
    if crate::sys::tree::exe_id(std::process::id() as i32) == Some(its) {
        return true;
    }
    recorded == Some(its)
        && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == "hako" || n == "hako (deleted)")
        })
}

/// Shows an untrusted string (a path from a journal) safely.
fn clean(s: &str) -> String {
    crate::ui::sanitize::clean(s).into_owned()
}

fn shown(p: &Path) -> String {
    crate::ui::sanitize::clean_path(p)
}

/// What one item of a dead run's journal came to.
enum Outcome {
    /// Nothing to do (gone already, or kept).
    Nothing,
    /// Done; the sentence that says so.
    Done(String),
    /// Refused, or failed; the sentence.
    Said(String),
    /// Left for now, to be undone from elsewhere (another network namespace); the sentence.
    Elsewhere(String),
}

/// Undoes one item of a dead run; returns what was said, if anything was done.
fn undo(
    file: &Path,
    uuid: &str,
    j: &Journal,
    item: &Item,
    kept_too: bool,
    roots: &Roots,
) -> Outcome {
    let refuse = |what: &str, why: &str| {
        Outcome::Said(tf(
            "cleanup.refused_in",
            &[("what", &what), ("journal", &shown(file)), ("why", &why)],
        ))
    };
    if let Err(why) = vet(uuid, item, roots) {
        let what = match item {
            Item::Rootfs { path, .. }
            | Item::Cgroup { path }
            | Item::Added { path, .. }
            | Item::Overlay { path } => shown(path),
            Item::Container { name, socket } => format!("{} ({})", clean(name), shown(socket)),
            Item::Process(p) => p.pid.to_string(),
            Item::Net { change, .. } => net::shown(change),
        };
        return refuse(&what, &why.to_string());
    }
    match item {
        Item::Net { netns, change } => {
            if crate::sys::net::netns_id() != Some(*netns) {
                if !crate::sys::net::netns_exists(*netns) {
                    // Gone, and everything in it with it.
                    return Outcome::Nothing;
                }
                return Outcome::Elsewhere(tf(
                    "cleanup.net_elsewhere",
                    &[("what", &net::shown(change)), ("netns", netns)],
                ));
            }
            match net::undo(change) {
                net::Undone::Nothing => Outcome::Nothing,
                net::Undone::Done(s) => Outcome::Done(s),
                net::Undone::Failed(s) => Outcome::Said(s),
            }
        }
        Item::Process(p) => {
            if !p.alive() {
                return Outcome::Nothing;
            }
            // Signalled only if it runs this very hako's program (what a hako fork
            // runs) and started when the journal says: never an unrelated process.
            if !runs_hako(p.pid, j.exe) {
                return refuse(
                    &p.pid.to_string(),
                    &tf("cleanup.why_process", &[("pid", &p.pid)]),
                );
            }
            Outcome::Done(
                match crate::sys::pids::kill(p.pid, crate::sys::Signal::SIGKILL) {
                    // ESRCH: it ended between the check and the signal.
                    Ok(()) | Err(crate::sys::Errno::ESRCH) => {
                        tf("cleanup.killed", &[("pid", &p.pid)])
                    }
                    Err(e) => tf(
                        "cleanup.kill_failed",
                        &[("pid", &p.pid), ("why", &crate::sys::explain(e))],
                    ),
                },
            )
        }
        Item::Cgroup { path } => {
            if std::fs::symlink_metadata(path).is_err() {
                return Outcome::Nothing;
            }
            match crate::sys::cgroup::remove_dirs(&mut vec![path.clone()]) {
                Ok(()) => Outcome::Done(tf("cleanup.cgroup", &[("path", &shown(path))])),
                Err(e) => Outcome::Said(e.msg),
            }
        }
        Item::Overlay { path } => {
            // Only what is mounted exactly at one of the run's own mount points.
            if !crate::sys::overlay::any_mount_at(path) {
                return Outcome::Nothing;
            }
            match crate::sys::overlay::unmount(path) {
                Ok(()) => Outcome::Done(tf("cleanup.overlay", &[("path", &shown(path))])),
                Err(e) => refuse(&shown(path), &crate::sys::explain(e)),
            }
        }
        Item::Rootfs { path, kept } => {
            if std::fs::symlink_metadata(path).is_err() || (*kept && !kept_too) {
                return Outcome::Nothing;
            }
            match crate::sys::tree::remove_tree(path, ident(j, path)) {
                Ok(()) => Outcome::Done(tf("cleanup.rootfs", &[("path", &shown(path))])),
                Err(crate::sys::tree::Refusal::Gone) => Outcome::Nothing,
                Err(why) => refuse(&shown(path), &why.to_string()),
            }
        }
        Item::Container { name, socket } => {
            // Only to a socket root owns (the daemon's), never to any other listener.
            match std::fs::symlink_metadata(socket) {
                Err(_) => return Outcome::Nothing,
                Ok(m) => {
                    use std::os::unix::fs::{FileTypeExt, MetadataExt};
                    if !m.file_type().is_socket() || m.uid() != 0 {
                        return refuse(
                            &shown(socket),
                            &tf(
                                "cleanup.why_container",
                                &[("name", &container_name(uuid)), ("socket", &shown(socket))],
                            ),
                        );
                    }
                }
            }
            Outcome::Done(match crate::rootfs::docker::remove_by_name(socket, name) {
                Ok(()) => tf("cleanup.container", &[("name", &name)]),
                Err(e) => tf(
                    "cleanup.container_failed",
                    &[("name", &name), ("why", &clean(&e.to_string()))],
                ),
            })
        }
        Item::Added { path, under } => {
            if std::fs::symlink_metadata(path).is_err() {
                return Outcome::Nothing;
            }
            // Tied to the dir: rootfs that same journal recorded (its identity).
            let Some(root) = ident(j, under) else {
                return refuse(
                    &shown(path),
                    &tf("cleanup.why_added_root", &[("under", &shown(under))]),
                );
            };
            let rel = path.strip_prefix(under).unwrap_or(path);
            match crate::sys::tree::remove_added(under, Some(root), rel, ident(j, path)) {
                Ok(()) => Outcome::Done(tf("cleanup.added", &[("path", &shown(path))])),
                Err(crate::sys::tree::Refusal::Gone) => Outcome::Nothing,
                Err(why) => refuse(&shown(path), &why.to_string()),
            }
        }
    }
}

/// Removes what dead runs left; with `kept_too`, also the rootfs kept with --keep.
/// Returns one line per thing removed (or refused).
pub fn clean_orphans(kept_too: bool) -> Vec<String> {
    let mut said = vec![];
    let roots = Roots::here();
    for found in orphans() {
        let (file, uuid, j) = match found {
            Found::Orphan {
                file,
                uuid,
                journal,
            } => (file, uuid, journal),
            Found::Broken { file } => {
                if let Err(err) = std::fs::remove_file(&file) {
                    said.push(JournalError::Update { path: file, err }.to_string());
                }
                continue;
            }
            Found::Refused { file, why } => {
                said.push(tf(
                    "cleanup.journal_refused",
                    &[("path", &shown(&file)), ("why", &why.say())],
                ));
                continue;
            }
        };
        // Processes first (they hold the cgroup busy), then the cgroups, then files;
        // added paths deepest first.
        let mut items = j.items.clone();
        items.sort_by_key(|i| match i {
            Item::Process(_) | Item::Container { .. } => 0,
            Item::Net { .. } => 1,
            Item::Cgroup { .. } | Item::Overlay { .. } => 1,
            Item::Added { .. } => 2,
            Item::Rootfs { .. } => 3,
        });
        // The network changes newest first (the table and forwarding before the links).
        let nets: Vec<Item> = j
            .items
            .iter()
            .rev()
            .filter(|i| matches!(i, Item::Net { .. }))
            .cloned()
            .collect();
        items.retain(|i| !matches!(i, Item::Net { .. }));
        let at = items
            .iter()
            .position(|i| !matches!(i, Item::Process(_) | Item::Container { .. }))
            .unwrap_or(items.len());
        items.splice(at..at, nets);
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
            let out = undo(&file, &uuid, &j, item, kept_too, &roots);
            let refused = matches!(out, Outcome::Said(_));
            let elsewhere = matches!(out, Outcome::Elsewhere(_));
            match out {
                Outcome::Done(s) => {
                    if let Item::Process(_) = item {
                        // Give the kernel a moment to empty the cgroup after the kill.
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    said.push(s);
                }
                Outcome::Said(s) | Outcome::Elsewhere(s) => said.push(s),
                Outcome::Nothing => {}
            }
            let still = match item {
                _ if elsewhere => true,
                // A refused item is struck off: it was never hako's to undo.
                _ if refused => false,
                Item::Rootfs { path, .. } | Item::Cgroup { path } | Item::Added { path, .. } => {
                    std::fs::symlink_metadata(path).is_ok()
                }
                Item::Overlay { path } => crate::sys::overlay::any_mount_at(path),
                Item::Process(_) | Item::Container { .. } => false,
                // (from another namespace: gone with it, or `elsewhere` above)
                Item::Net { netns, change } => {
                    crate::sys::net::netns_id() == Some(*netns) && net::remains(change)
                }
            };
            if still {
                remaining.push(item.clone());
            }
        }
        if remaining.is_empty() {
            if let Err(err) = std::fs::remove_file(&file) {
                if err.kind() != std::io::ErrorKind::NotFound {
                    said.push(JournalError::Update { path: file, err }.to_string());
                }
            }
        } else {
            // In the journal's own order (what was made first stays first).
            remaining.sort_by_key(|i| j.items.iter().position(|x| x == i));
            // The identities the remaining items need go with them.
            let mut e = Entry {
                path: file.clone(),
                journal: Journal {
                    owner: j.owner,
                    exe: j.exe,
                    items: remaining,
                    ids: j.ids.clone(),
                },
                held: false,
            };
            e.prune();
            if let Err(err) = write_journal(&file, &e.journal) {
                said.push(JournalError::Update { path: file, err }.to_string());
            }
        }
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "0d1a2b3c-0000-4000-8000-00000000abcd";

    fn roots() -> Roots {
        Roots {
            tmp: vec![PathBuf::from("/tmp"), PathBuf::from("/var/tmp")],
            cgroup_mounts: vec![
                PathBuf::from("/sys/fs/cgroup/memory"),
                PathBuf::from("/sys/fs/cgroup/pids"),
            ],
            docker_socket: Some(PathBuf::from("/var/run/docker.sock")),
        }
    }

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

    fn ok(item: Item) -> bool {
        vet(U, &item, &roots()).is_ok()
    }

    #[test]
    fn tampered_paths_are_refused() {
        let rootfs = |p: &str| Item::Rootfs {
            path: p.into(),
            kept: false,
        };
        assert!(ok(rootfs("/tmp/hako.0d1a2b3c0000")));
        assert!(ok(rootfs("/var/tmp/hako.0d1a2b3c0000")));
        for p in [
            "/",
            "/etc",
            "/tmp/../etc",
            "/tmp/hako.",
            "/tmp/hako.x/../../etc",
            "/tmp/hako.0d1a2b3c0000/..",
            "/tmp/./hako.0d1a2b3c0000",
            "/tmp/hako.ffffffffffff",
            "/srv/hako.0d1a2b3c0000",
            "tmp/hako.0d1a2b3c0000",
        ] {
            assert!(!ok(rootfs(p)), "{p}");
        }
        let cg = |p: &str| Item::Cgroup { path: p.into() };
        assert!(ok(cg(&format!("/sys/fs/cgroup/pids/{U}"))));
        for p in [
            "/sys/fs/cgroup/memory".to_string(),
            format!("/etc/{U}"),
            "/sys/fs/cgroup/memory/system.slice".into(),
            "/sys/fs/cgroup/memory/0d1a2b3c-0000-4000-8000-000000000000".into(),
            format!("/sys/fs/cgroup/memory/x/{U}"),
        ] {
            assert!(!ok(cg(&p)), "{p}");
        }
        let added = |p: &str, u: &str| Item::Added {
            path: p.into(),
            under: u.into(),
        };
        assert!(ok(added("/srv/root/dev/null", "/srv/root")));
        assert!(!ok(added("/etc/passwd", "/srv/root")));
        assert!(!ok(added("/srv/root/../../etc", "/srv/root")));
        assert!(!ok(added("/etc", "/etc")));
        assert!(!ok(added("/srv/root/etc/shadow", "/srv/root")));
        let docker = |n: &str, s: &str| Item::Container {
            name: n.into(),
            socket: s.into(),
        };
        assert!(ok(docker("hako-0d1a2b3c", "/var/run/docker.sock")));
        assert!(!ok(docker("hako-0d1a2b3c", "/tmp/listener.sock")));
        assert!(!ok(docker("hako-deadbeef", "/var/run/docker.sock")));
        assert!(!ok(docker("my-database", "/var/run/docker.sock")));
        let ov = |p: &str| Item::Overlay { path: p.into() };
        assert!(ok(ov("/tmp/hako.0d1a2b3c0000/root")));
        assert!(ok(ov("/var/tmp/hako.0d1a2b3c0000/demo-a/root")));
        assert!(ok(ov("/tmp/hako.0d1a2b3c0000/lower-0")));
        assert!(ok(ov("/tmp/hako.0d1a2b3c0000/lower-12")));
        for p in [
            "/tmp/hako.0d1a2b3c0000",
            "/tmp/hako.0d1a2b3c0000/upper",
            "/tmp/hako.0d1a2b3c0000/root/..",
            "/tmp/hako.0d1a2b3c0000/x/root",
            "/tmp/hako.ffffffffffff/root",
            "/",
            "/proc",
            "/tmp/hako.0d1a2b3c0000/../../proc",
            "/tmp/hako.0d1a2b3c0000/lower-",
            "/tmp/hako.0d1a2b3c0000/lower-01",
            "/tmp/hako.0d1a2b3c0000/lower-1000",
            "/tmp/hako.0d1a2b3c0000/lower-1/x",
            "/tmp/hako.0d1a2b3c0000/lower--1",
        ] {
            assert!(!ok(ov(p)), "{p}");
        }
    }

    #[test]
    fn only_root_owned_unwritable_journals_are_believed() {
        assert_eq!(trusted_meta(0, 0o600), Ok(()));
        assert_eq!(trusted_meta(0, 0o644), Ok(()));
        assert_eq!(trusted_meta(1000, 0o600), Err(Distrust::Owner));
        assert_eq!(trusted_meta(0, 0o620), Err(Distrust::Mode));
        assert_eq!(trusted_meta(0, 0o602), Err(Distrust::Mode));
        assert_eq!(uuid_of_name(&format!("{U}.json")).as_deref(), Some(U));
        assert_eq!(uuid_of_name("x.json"), None);
        assert_eq!(uuid_of_name(&format!("{U}.tmp")), None);
        assert_eq!(uuid_of_name(&format!("../{U}.json")), None);
    }

    #[test]
    fn an_old_journal_still_reads() {
        let j = parse(
            br#"{"owner":{"pid":1,"start":2},"items":[{"Rootfs":{"path":"/tmp/hako.0d1a2b3c0000","kept":false}}]}"#,
        )
        .unwrap();
        assert_eq!(j.exe, None);
        assert_eq!(j.items.len(), 1);
        assert!(parse(b"\xff\xfe").is_err());
        assert!(parse(&vec![b' '; MAX_BYTES as usize + 1]).is_err());
    }

    #[test]
    fn identities_go_with_what_names_them() {
        let mut e = Entry {
            path: PathBuf::from("/nonexistent/j.json"),
            journal: Journal {
                owner: Proc { pid: 1, start: 1 },
                items: vec![],
                exe: None,
                ids: vec![],
            },
            held: true,
        };
        let r = Item::Rootfs {
            path: "/tmp/hako.x".into(),
            kept: false,
        };
        e.journal.items.push(r.clone());
        e.journal.ids.push(Ident {
            path: "/tmp/hako.x".into(),
            id: Id { dev: 1, ino: 2 },
        });
        e.prune();
        assert_eq!(e.journal.ids.len(), 1);
        e.done(&r);
        e.prune();
        assert!(e.journal.items.is_empty() && e.journal.ids.is_empty());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn roots() -> Roots {
        Roots {
            tmp: vec![PathBuf::from("/tmp"), PathBuf::from("/var/tmp")],
            cgroup_mounts: vec![PathBuf::from("/sys/fs/cgroup/pids")],
            docker_socket: Some(PathBuf::from("/var/run/docker.sock")),
        }
    }

    /// A path made of pieces an attacker would try: `..`, `.`, empty, the real roots.
    fn path() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("..".to_string()),
            Just(".".to_string()),
            Just("".to_string()),
            Just("tmp".to_string()),
            Just("sys/fs/cgroup/pids".to_string()),
            Just("hako.0d1a2b3c0000".to_string()),
            Just("0d1a2b3c-0000-4000-8000-00000000abcd".to_string()),
            Just("dev".to_string()),
            Just("null".to_string()),
            Just("etc".to_string()),
            "[a-z.\\-/]{0,12}",
        ];
        let built = (any::<bool>(), prop::collection::vec(piece, 0..6))
            .prop_map(|(abs, v)| format!("{}{}", if abs { "/" } else { "" }, v.join("/")));
        // Paths hako does accept, with what an attacker would add or change.
        let near = (
            prop_oneof![
                Just("/tmp/hako.0d1a2b3c0000".to_string()),
                Just("/var/tmp/hako.0d1a2b3c0000".to_string()),
                Just("/sys/fs/cgroup/pids/0d1a2b3c-0000-4000-8000-00000000abcd".to_string()),
                Just("/srv/r/dev/null".to_string()),
                Just("/srv/r".to_string()),
                Just("/var/run/docker.sock".to_string()),
            ],
            prop_oneof![
                Just(String::new()),
                Just("/..".to_string()),
                Just("/.".to_string()),
                Just("/".to_string()),
                Just("/../../etc".to_string()),
                "/[a-z.]{1,4}",
            ],
            any::<bool>(),
        )
            .prop_map(|(base, tail, dot)| {
                let b = if dot {
                    base.replacen('/', "/./", 2)
                } else {
                    base
                };
                format!("{b}{tail}")
            });
        prop_oneof![built, near]
    }

    fn item() -> impl Strategy<Value = Item> {
        prop_oneof![
            (path(), any::<bool>()).prop_map(|(p, kept)| Item::Rootfs {
                path: p.into(),
                kept
            }),
            path().prop_map(|p| Item::Cgroup { path: p.into() }),
            (path(), path()).prop_map(|(p, u)| Item::Added {
                path: p.into(),
                under: u.into()
            }),
            path().prop_map(|p| Item::Overlay { path: p.into() }),
            (
                prop_oneof![Just("hako-0d1a2b3c".to_string()), "[a-z0-9\\-]{0,16}"],
                path()
            )
                .prop_map(|(n, s)| Item::Container {
                    name: n,
                    socket: s.into()
                }),
        ]
    }

    /// Whether `p` lies where an accepted item may: the walk of its components never
    /// climbs and it sits directly in one of `parents`.
    fn directly_in(p: &Path, parents: &[PathBuf]) -> bool {
        p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
            && p.parent().is_some_and(|d| parents.iter().any(|r| r == d))
    }

    /// An item the vetting accepts names only a path inside its allowed root.
    fn stays_in_root(uuid: &str, item: &Item, r: &Roots) -> Result<(), TestCaseError> {
        if vet(uuid, item, r).is_err() {
            return Ok(());
        }
        match item {
            Item::Rootfs { path, .. } => {
                prop_assert!(directly_in(path, &r.tmp), "{}", path.display());
                prop_assert_eq!(
                    path.file_name().unwrap().to_str().unwrap(),
                    rootfs_name(uuid)
                );
            }
            Item::Cgroup { path } => {
                prop_assert!(directly_in(path, &r.cgroup_mounts), "{}", path.display());
                prop_assert_eq!(path.file_name().unwrap().to_str().unwrap(), uuid);
            }
            Item::Added { path, under } => {
                prop_assert!(path
                    .components()
                    .all(|c| matches!(c, Component::RootDir | Component::Normal(_))));
                let rel = path.strip_prefix(under).unwrap();
                prop_assert!(ADDED.iter().any(|a| rel == Path::new(a)));
            }
            Item::Container { name, socket } => {
                prop_assert_eq!(name, &container_name(uuid));
                prop_assert_eq!(Some(socket), r.docker_socket.as_ref());
            }
            Item::Overlay { path } => {
                prop_assert!(path
                    .components()
                    .all(|c| matches!(c, Component::RootDir | Component::Normal(_))));
                prop_assert!(r
                    .tmp
                    .iter()
                    .any(|t| path.starts_with(t.join(rootfs_name(uuid)))));
            }
            Item::Process(_) => {}
            Item::Net { change, .. } => prop_assert!(net::vet(uuid, change)),
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn arbitrary_json_never_panics(s in "\\{\"owner\":\\{\"pid\":-?[0-9]{1,12},\"start\":[0-9]{1,22}\\},\"items\":\\[.{0,64}\\]\\}") {
            if let Ok(j) = parse(s.as_bytes()) {
                for i in &j.items {
                    stays_in_root("0d1a2b3c-0000-4000-8000-00000000abcd", i, &roots())?;
                }
            }
        }

        #[test]
        fn an_accepted_path_stays_in_its_root(item in item(), name in "[0-9a-f\\-]{36}") {
            let uuid = if is_uuid(&name) { name } else { "0d1a2b3c-0000-4000-8000-00000000abcd".into() };
            let r = roots();
            let text = serde_json::to_vec(&Journal {
                owner: Proc { pid: 1, start: 1 },
                items: vec![item],
                exe: None,
                ids: vec![],
            }).unwrap();
            let j = parse(&text).unwrap();
            let item = &j.items[0];
            stays_in_root(&uuid, item, &r)?;
        }
    }
}
