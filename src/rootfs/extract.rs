//! The one extractor every source goes through (`docker export`, a tarball, an image's
//! layers): a tar stream unpacked into the rootfs so that no entry can create, change
//! or link anything outside it.
//!
//! How:
//! - A name is split into components here; an absolute name or a `..` component is
//!   refused, never rewritten.
//! - Every directory on the way is opened one component at a time from the rootfs with
//!   `openat(O_NOFOLLOW|O_DIRECTORY)`: a symbolic link on the way (absolute, relative or
//!   chained, from this archive or an earlier layer) is refused, so nothing is written
//!   through it. The chain of open directories is kept from one entry to the next (tar
//!   archives are written depth first), so most entries cost no lookup at all.
//! - The last component is created with `O_CREAT|O_EXCL|O_NOFOLLOW`, `mkdirat`,
//!   `symlinkat`, `linkat` (without `AT_SYMLINK_FOLLOW`) or `mknodat`: an existing
//!   name is removed first (a layer replaces what is below it), never opened.
//! - A hard link's target is looked up the same way, inside the rootfs only.
//!
//! Policy (the README says the same):
//! - device nodes (character, block) are not created: they are counted and named;
//!   the container gets its /dev from the later lessons (devpts, /dev/null bound from
//!   the host). FIFOs are created.
//! - ownership is kept by number (uid, gid), as `tar --numeric-owner` as root and
//!   Docker do; names in the archive are ignored (the host's /etc/passwd is not the
//!   rootfs's).
//! - permission bits are kept, setuid, setgid and sticky included (an image's `su`
//!   needs them): the rootfs directory itself stays mode 0700, owned by root, so no
//!   user on the host can reach those files. An entry for the root directory (`./`)
//!   never changes it.
//! - regular files keep their modification time; directories and links get the time
//!   of extraction. Extended attributes (file capabilities, SELinux labels) are not
//!   restored.
//! - with whiteouts on (image layers), `.wh.NAME` removes NAME from the layers below
//!   and `.wh..wh..opq` empties its directory of what the layers below put there.
//!   A layer unpacked on its own for overlayfs (`--overlay`, [`Unpacker::for_overlay`])
//!   keeps them instead, in overlayfs's own form: `.wh.NAME` becomes NAME, a character
//!   device 0/0, and `.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on its
//!   directory, both made through the directory's descriptor.

//! - limits (see `limits`): the declared bytes of the regular files and the number of
//!   entries are capped per extraction, checked before an entry is written; a sparse
//!   file's holes stay holes (its logical size counts against the cap); the bytes the
//!   tar reader holds or skips between two entries are capped too.
//! - a signal (Ctrl-C, SIGTERM) stops the unpacking at the next read or buffer; the walk
//!   then removes the partial rootfs.
//! - a name or link target from the archive reaches a message only through
//!   `crate::ui::sanitize` (an entry may be named with escape sequences).

mod compress;
pub mod limits;

pub use compress::{open, sniff, Compression, NotTar};
pub use limits::Limits;

use crate::error::{Error, Kind};
use crate::sys::at::{self, DirFd};
use crate::sys::signals;
use crate::sys::Errno;
use crate::ui::i18n::{t, tf};
use crate::ui::sanitize::{clean, clean_bytes};
use std::cell::Cell;
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::Path;
use std::rc::Rc;

/// What one extraction did, for the lesson's "did" lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub fifos: u64,
    pub whiteouts: u64,
    /// Bytes of file content (logical: a sparse file's holes count).
    pub bytes: u64,
    /// Device nodes not created, by name (cleaned for the terminal).
    pub devices: Vec<String>,
}

/// Why an entry could not be unpacked (turned into one sentence by [`Fail::into_error`]).
/// Every `entry` is the archive's name already cleaned by `crate::ui::sanitize`.
#[derive(Debug)]
pub enum Fail {
    /// The entry would reach outside the rootfs, or is not something hako unpacks.
    Refused { entry: String, why: String },
    /// The archive itself: truncated, corrupt, or its stream broke.
    Read {
        entry: Option<String>,
        err: io::Error,
    },
    /// The host: disk full, or another error while writing.
    Write { entry: String, errno: Errno },
    /// The regular files would hold more than the byte cap (`total`: with this entry).
    TooBig {
        entry: String,
        total: u64,
        limits: Limits,
    },
    /// More entries than the entry cap.
    TooMany { entry: String, limits: Limits },
    /// The tar reader read more than its budget between two entries (`all`: the
    /// budget of the whole extraction ran out).
    Meta {
        entry: Option<String>,
        max: u64,
        all: bool,
    },
    /// SIGINT, SIGTERM or SIGHUP came in.
    Signal,
}

impl Fail {
    /// One sentence: what failed (with the entry's name), why, what to do. `src` says
    /// where the archive came from ("the tarball /x.tar.gz").
    pub fn into_error(self, src: &str, root: &Path) -> Error {
        let mut e = self.sentence(src, root);
        e.msg = capitalize(&e.msg);
        e
    }

    fn sentence(self, src: &str, root: &Path) -> Error {
        let at = |entry: Option<String>| match entry {
            Some(e) => tf("x.after_entry", &[("entry", &e)]),
            None => tf("x.at_start", &[]),
        };
        match self {
            Fail::Refused { entry, why } => Error::failed(tf(
                "err.x_refused",
                &[("entry", &entry), ("src", &src), ("why", &why)],
            )),
            Fail::Read { entry, err } => Error::failed(tf(
                "err.x_corrupt",
                &[
                    ("src", &src),
                    ("at", &at(entry)),
                    ("why", &clean(&err.to_string())),
                ],
            )),
            Fail::Write { entry, errno } if errno == Errno::ENOSPC || errno == Errno::EDQUOT => {
                Error::failed(tf(
                    "err.x_disk_full",
                    &[("entry", &entry), ("src", &src), ("root", &root.display())],
                ))
            }
            Fail::Write { entry, errno } => Error::failed(tf(
                "err.x_write",
                &[
                    ("entry", &entry),
                    ("src", &src),
                    ("errno", &errno),
                    ("why", &crate::sys::explain(errno)),
                ],
            )),
            Fail::TooBig {
                entry,
                total,
                limits,
            } => Error::failed(tf(
                "err.x_too_big",
                &[
                    ("src", &src),
                    ("entry", &entry),
                    ("total", &limits::human(total)),
                    ("max", &limits::human(limits.max_bytes)),
                    ("from", &limits.bytes_origin(root)),
                    ("suggest", &limits::suggest_bytes(total)),
                ],
            )),
            Fail::TooMany { entry, limits } => Error::failed(tf(
                "err.x_too_many",
                &[
                    ("src", &src),
                    ("entry", &entry),
                    ("max", &limits.max_entries),
                    ("from", &limits.entries_origin()),
                    ("suggest", &limits.max_entries.saturating_mul(2)),
                ],
            )),
            Fail::Meta { entry, max, all } => Error::failed(tf(
                "err.x_meta",
                &[
                    ("src", &src),
                    ("at", &at(entry)),
                    ("max", &limits::human(max)),
                    ("where", &t(if all { "x.meta_all" } else { "x.meta_gap" })),
                ],
            )),
            Fail::Signal => match signals::take() {
                Some(crate::sys::Signal::SIGINT) => Error::new(Kind::Interrupted, t("err.quit")),
                _ => Error::new(Kind::Terminated, t("err.terminated")),
            },
        }
    }
}

type R<T> = Result<T, Fail>;

/// A sentence that starts with a name ("the tarball …") starts with a capital.
pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Why an archive name is refused; shown as a catalog phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadName {
    #[error("{}", tf("x.absolute", &[]))]
    Absolute,
    #[error("{}", tf("x.dotdot", &[]))]
    DotDot,
}

/// Splits an archive name into components. `Err` says why it is refused.
pub fn components(name: &[u8]) -> Result<Vec<&[u8]>, BadName> {
    if name.first() == Some(&b'/') {
        return Err(BadName::Absolute);
    }
    let mut v = vec![];
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(BadName::DotDot),
            c => v.push(c),
        }
    }
    Ok(v)
}

/// Components joined back, cleaned for a message.
fn join(comps: &[&[u8]]) -> String {
    clean_bytes(&comps.join(&b'/'))
}

/// Why the reader of the tar stream stopped on its own (a `Read` can only say "error").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Signal,
    Meta,
}

/// What the tar stream's reader shares with the loop over entries.
#[derive(Debug, Default)]
struct Meter {
    /// Bytes read from the stream so far.
    read: Cell<u64>,
    /// The reader fails past this many bytes (while the tar reader looks for the next
    /// entry; `None`: no limit, while a file's content is read and counted by `copy`).
    until: Cell<Option<u64>>,
    stop: Cell<Option<Stop>>,
}

impl Meter {
    /// Allows `budget` more bytes; returns where the count stands.
    fn arm(&self, budget: u64) -> u64 {
        let at = self.read.get();
        self.until.set(Some(at.saturating_add(budget)));
        at
    }

    /// Lifts the limit; returns the bytes read since `arm` returned `at`.
    fn disarm(&self, at: u64) -> u64 {
        self.until.set(None);
        self.read.get() - at
    }
}

/// The decompressed tar stream, counted, and checked for a signal at every read.
struct Metered<Rd> {
    inner: Rd,
    m: Rc<Meter>,
}

impl<Rd: Read> Read for Metered<Rd> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if signals::peek().is_some() {
            self.m.stop.set(Some(Stop::Signal));
            return Err(io::Error::other("stopped by a signal"));
        }
        let n = self.inner.read(buf)?;
        let read = self.m.read.get() + n as u64;
        self.m.read.set(read);
        if self.m.until.get().is_some_and(|u| read > u) {
            self.m.stop.set(Some(Stop::Meta));
            return Err(io::Error::other("too many bytes between two entries"));
        }
        Ok(n)
    }
}

/// An entry's metadata, from its header and PAX records.
struct Head {
    kind: tar::EntryType,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
}

/// Unpacks tar streams into one rootfs directory.
pub struct Unpacker {
    root: DirFd,
    root_path: std::path::PathBuf,
    /// The directories of the last entry's path, open, from the root down.
    stack: Vec<(Vec<u8>, DirFd)>,
    umask: u32,
    buf: Vec<u8>,
    /// In a layer: the paths this layer has written (an opaque whiteout keeps them).
    layer: Option<HashSet<Vec<u8>>>,
    limits: Limits,
    /// Over every stream this unpacker reads (an image's layers are one extraction):
    /// the entries seen, the declared bytes of regular files, and what is left of the
    /// budget of bytes read between entries.
    entries: u64,
    declared: u64,
    meta_left: u64,
    /// The budget of the current gap between two entries.
    meta_budget: u64,
    /// Owners are kept only when hako runs as root: a normal user (the unit tests) cannot
    /// give a file away, and tries nothing.
    owners: bool,
    /// Whiteouts are kept in overlayfs's form rather than applied (a layer of its own).
    overlay: bool,
    pub stats: Stats,
}

const BUF: usize = 1 << 20;
/// The granularity at which zeros in a sparse file become holes (a page, the usual
/// filesystem block).
const HOLE: usize = 4096;

impl Unpacker {
    /// An unpacker into `root`, with the caps of this run (flags, or the defaults for the
    /// free space of `root`'s filesystem).
    pub fn new(root: &Path) -> Result<Unpacker, Error> {
        let dir = DirFd::open(root).map_err(|e| {
            crate::sys::failure(&tf("do.open_dir", &[("path", &root.display())]), e)
        })?;
        let limits = Limits::for_root(&dir);
        Ok(Self::with_limits(dir, root, limits))
    }

    fn with_limits(root: DirFd, path: &Path, limits: Limits) -> Unpacker {
        Unpacker {
            root,
            root_path: path.to_path_buf(),
            stack: vec![],
            umask: at::umask(),
            buf: vec![0; BUF],
            layer: None,
            limits,
            entries: 0,
            declared: 0,
            meta_left: limits.meta_total(),
            meta_budget: 0,
            owners: crate::sys::is_root(),
            overlay: false,
            stats: Stats::default(),
        }
    }

    /// This unpacker writes one layer alone, for overlayfs: its whiteouts are kept in
    /// overlayfs's own form (a character device 0/0, the opaque xattr), not applied.
    pub fn for_overlay(mut self) -> Unpacker {
        self.overlay = true;
        self
    }

    /// Unpacks one (decompressed) tar stream. `whiteouts`: it is an image layer.
    /// `src` names it in errors.
    pub fn unpack(&mut self, input: impl Read, whiteouts: bool, src: &str) -> Result<(), Error> {
        self.layer = whiteouts.then(HashSet::new);
        self.stack.clear();
        let meter = Rc::new(Meter::default());
        let r = self.unpack_inner(
            Metered {
                inner: input,
                m: meter.clone(),
            },
            &meter,
        );
        self.layer = None;
        self.stack.clear();
        // A read that failed because the reader stopped itself says why.
        let r = match (r, meter.stop.get()) {
            (Err(Fail::Read { .. }), Some(Stop::Signal)) => Err(Fail::Signal),
            (Err(Fail::Read { entry, .. }), Some(Stop::Meta)) => Err(Fail::Meta {
                entry,
                max: self.meta_budget,
                all: self.meta_budget < limits::META_PER_ENTRY,
            }),
            (r, _) => r,
        };
        r.map_err(|f| f.into_error(src, &self.root_path))
    }

    fn unpack_inner(&mut self, input: impl Read, meter: &Meter) -> R<()> {
        let mut ar = tar::Archive::new(input);
        let mut entries = ar
            .entries()
            .map_err(|err| Fail::Read { entry: None, err })?;
        let mut last: Option<Vec<u8>> = None;
        loop {
            self.meta_budget = limits::META_PER_ENTRY.min(self.meta_left);
            let at = meter.arm(self.meta_budget);
            let next = entries.next();
            self.meta_left = self.meta_left.saturating_sub(meter.disarm(at));
            let Some(e) = next else { return Ok(()) };
            let mut e = e.map_err(|err| Fail::Read {
                entry: last.as_deref().map(clean_bytes),
                err,
            })?;
            if signals::peek().is_some() {
                return Err(Fail::Signal);
            }
            let name = e.path_bytes().into_owned();
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                return Err(Fail::TooMany {
                    entry: clean_bytes(&name),
                    limits: self.limits,
                });
            }
            self.entry(&mut e, &name)?;
            last = Some(name);
        }
    }

    fn dir(&self, depth: usize) -> &DirFd {
        if depth == 0 {
            &self.root
        } else {
            &self.stack[depth - 1].1
        }
    }

    /// Opens (creating when missing) the directories `parents`, one component at a
    /// time, never through a link. Returns the depth of the last one.
    fn enter(&mut self, parents: &[&[u8]], entry: &str) -> R<usize> {
        let mut common = 0;
        while common < self.stack.len()
            && common < parents.len()
            && self.stack[common].0 == parents[common]
        {
            common += 1;
        }
        self.stack.truncate(common);
        for (i, c) in parents.iter().enumerate().skip(common) {
            let cur = self.dir(i);
            let d = match cur.sub(*c) {
                Ok(d) => d,
                Err(Errno::ENOENT) => {
                    match cur.mkdir(*c, 0o755) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(errno) => return Err(write_fail(entry, errno)),
                    }
                    cur.sub(*c).map_err(|errno| write_fail(entry, errno))?
                }
                Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
                    return Err(Fail::Refused {
                        entry: entry.into(),
                        why: self.not_a_dir(i, c, &parents[..=i]),
                    })
                }
                Err(errno) => return Err(write_fail(entry, errno)),
            };
            self.stack.push((c.to_vec(), d));
        }
        Ok(parents.len())
    }

    /// Why `comps` (whose last component is `c` in directory `depth`) cannot be entered.
    fn not_a_dir(&self, depth: usize, c: &[u8], comps: &[&[u8]]) -> String {
        let dir = self.dir(depth);
        let path = join(comps);
        match dir.lstat(c) {
            Ok(st) if crate::sys::files::mode_is_symlink(st.st_mode) => {
                let to = dir.readlink(c).map(|t| clean_bytes(&t)).unwrap_or_default();
                tf("x.through_link", &[("path", &path), ("target", &to)])
            }
            _ => tf("x.not_dir", &[("path", &path)]),
        }
    }

    /// A fresh walk (for a hard link's target): no directory is created.
    fn lookup(&self, parents: &[&[u8]]) -> Result<DirFd, Errno> {
        let mut cur = self.root.sub(".")?;
        for c in parents {
            cur = cur.sub(*c)?;
        }
        Ok(cur)
    }

    /// Removes whatever `name` is in `dir` (a directory with all it holds).
    fn clear(dir: &DirFd, name: &[u8], entry: &str) -> R<()> {
        match dir.remove_all(name) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(errno) => Err(write_fail(entry, errno)),
        }
    }

    /// Runs `make` once; if the name exists, removes it and runs `make` again.
    fn replace(
        dir: &DirFd,
        name: &[u8],
        entry: &str,
        mut make: impl FnMut() -> Result<(), Errno>,
    ) -> R<()> {
        match make() {
            Ok(()) => Ok(()),
            Err(Errno::EEXIST) => {
                Self::clear(dir, name, entry)?;
                make().map_err(|errno| write_fail(entry, errno))
            }
            Err(errno) => Err(write_fail(entry, errno)),
        }
    }

    /// Reads the header (and PAX records) of an entry.
    fn head<S: Read>(e: &mut tar::Entry<S>, raw: &[u8], entry: &str) -> R<Head> {
        let h = e.header();
        let mut kind = h.entry_type();
        let corrupt = |err: io::Error| Fail::Read {
            entry: Some(entry.into()),
            err,
        };
        let mode = h.mode().map_err(corrupt)? & 0o7777;
        let (mut uid, mut gid) = (h.uid().map_err(corrupt)?, h.gid().map_err(corrupt)?);
        let mtime = h.mtime().unwrap_or(0);
        if kind == tar::EntryType::Regular && raw.ends_with(b"/") {
            kind = tar::EntryType::Directory;
        }
        // A global PAX header's own records are its data, which `pax_extensions` would
        // read whole into memory: it is left to the tar reader to skip (within the budget).
        let global = kind.is_pax_global_extensions() || kind.is_pax_local_extensions();
        let pax = if global { Ok(None) } else { e.pax_extensions() };
        if let Ok(Some(pax)) = pax {
            for x in pax.flatten() {
                let v = x.value().ok().and_then(|v| v.parse::<u64>().ok());
                match (x.key(), v) {
                    (Ok("uid"), Some(v)) => uid = v,
                    (Ok("gid"), Some(v)) => gid = v,
                    _ => {}
                }
            }
        }
        Ok(Head {
            kind,
            mode,
            uid: uid as u32,
            gid: gid as u32,
            mtime,
        })
    }

    fn entry<S: Read>(&mut self, e: &mut tar::Entry<S>, raw: &[u8]) -> R<()> {
        let entry = clean_bytes(raw);
        let comps = components(raw).map_err(|why| Fail::Refused {
            entry: entry.clone(),
            why: why.to_string(),
        })?;
        let h = Self::head(e, raw, &entry)?;
        let Some((last, parents)) = comps.split_last() else {
            // The root itself: its mode and owner stay as mktemp made them (0700, root).
            return if h.kind == tar::EntryType::Directory || h.kind.is_pax_global_extensions() {
                Ok(())
            } else {
                Err(Fail::Refused {
                    entry,
                    why: tf("x.is_root", &[]),
                })
            };
        };
        let last: &[u8] = last;
        if self.layer.is_some() && last.starts_with(b".wh.") {
            return self.whiteout(&comps, parents, last, &entry);
        }
        if let Some(seen) = self.layer.as_mut() {
            seen.insert(comps.join(&b'/'));
        }
        use tar::EntryType as T;
        match h.kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                self.file(e, &h, parents, last, &entry)?;
            }
            T::Directory => self.directory(&h, parents, last, &entry)?,
            T::Symlink => {
                let target = e
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                self.symlink(&h, parents, last, &target, &entry)?;
            }
            T::Link => {
                let target = e
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                self.hardlink(&comps, parents, last, &target, &entry)?;
            }
            T::Fifo => {
                let depth = self.enter(parents, &entry)?;
                let dir = self.dir(depth);
                Self::replace(dir, last, &entry, || dir.mkfifo(last, h.mode))?;
                self.chown_name(depth, last, &h, &entry)?;
                self.stats.fifos += 1;
            }
            T::Char | T::Block => self.stats.devices.push(entry),
            // Global PAX headers and other metadata-only entries carry no file.
            _ => {}
        }
        Ok(())
    }

    /// `.wh.NAME` removes NAME from the layers below; `.wh..wh..opq` empties its
    /// directory of what the layers below put there.
    fn whiteout(&mut self, comps: &[&[u8]], parents: &[&[u8]], last: &[u8], entry: &str) -> R<()> {
        let depth = self.enter(parents, entry)?;
        if self.overlay {
            return self.overlay_whiteout(depth, last, entry);
        }
        if last == b".wh..wh..opq" {
            let prefix = comps[..comps.len() - 1].join(&b'/');
            let dir = self.dir(depth);
            let names = dir.names().map_err(|errno| write_fail(entry, errno))?;
            let seen = self.layer.as_ref().expect("layer");
            for n in names {
                let mut p = prefix.clone();
                if !p.is_empty() {
                    p.push(b'/');
                }
                p.extend_from_slice(&n);
                if !seen.contains(&p) {
                    Self::clear(dir, &n, entry)?;
                }
            }
            self.stats.whiteouts += 1;
        } else if last.starts_with(b".wh..wh.") {
            // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): nothing to do.
        } else {
            let target = &last[4..];
            if target.is_empty() || target == b"." || target == b".." || target.contains(&b'/') {
                return Err(Fail::Refused {
                    entry: entry.into(),
                    why: tf("x.bad_whiteout", &[]),
                });
            }
            Self::clear(self.dir(depth), target, entry)?;
            self.stats.whiteouts += 1;
        }
        Ok(())
    }

    /// A whiteout in overlayfs's form, in the directory at `depth`: `.wh..wh..opq` marks
    /// that directory opaque (fsetxattr on its descriptor), `.wh.NAME` becomes NAME, a
    /// character device 0/0 (replacing what this layer had put there).
    fn overlay_whiteout(&mut self, depth: usize, last: &[u8], entry: &str) -> R<()> {
        match whiteout_kind(last) {
            Some(WhiteoutKind::Opaque) => {
                self.dir(depth)
                    .set_opaque()
                    .map_err(|errno| write_fail(entry, errno))?;
                self.stats.whiteouts += 1;
            }
            Some(WhiteoutKind::Aufs) => {}
            Some(WhiteoutKind::Name(target)) => {
                let dir = self.dir(depth);
                Self::replace(dir, target, entry, || dir.whiteout(target))?;
                self.stats.whiteouts += 1;
            }
            None => {
                return Err(Fail::Refused {
                    entry: entry.into(),
                    why: tf("x.bad_whiteout", &[]),
                })
            }
        }
        Ok(())
    }

    /// A regular file: its declared size is checked against the cap before anything is
    /// created, and its content counted again as it is written.
    fn file<S: Read>(
        &mut self,
        e: &mut tar::Entry<S>,
        h: &Head,
        parents: &[&[u8]],
        last: &[u8],
        entry: &str,
    ) -> R<()> {
        let too_big = |total| Fail::TooBig {
            entry: entry.into(),
            total,
            limits: self.limits,
        };
        let total = self.declared.saturating_add(e.size());
        if total > self.limits.max_bytes {
            return Err(too_big(total));
        }
        self.declared = total;
        let depth = self.enter(parents, entry)?;
        let dir = self.dir(depth);
        let mut file = None;
        Self::replace(dir, last, entry, || {
            file = Some(dir.create(last, h.mode)?);
            Ok(())
        })?;
        let f = file.expect("created");
        let room = self.limits.max_bytes.saturating_sub(self.stats.bytes);
        let sparse = h.kind == tar::EntryType::GNUSparse;
        let n = match copy(e, &f, &mut self.buf, sparse, room) {
            Ok(n) => n,
            Err(Copy::Read(err)) => {
                return Err(Fail::Read {
                    entry: Some(entry.into()),
                    err,
                })
            }
            Err(Copy::Write(errno)) => return Err(write_fail(entry, errno)),
            Err(Copy::Over(n)) => {
                return Err(Fail::TooBig {
                    entry: entry.into(),
                    total: self.stats.bytes.saturating_add(n),
                    limits: self.limits,
                })
            }
            Err(Copy::Signal) => return Err(Fail::Signal),
        };
        self.stats.bytes += n;
        let wr = |errno| write_fail(entry, errno);
        if self.owners && (h.uid != 0 || h.gid != 0) {
            at::fchown(&f, h.uid, h.gid).map_err(wr)?;
        }
        if h.mode & !(0o777 & !self.umask) != 0 {
            at::fchmod(&f, h.mode).map_err(wr)?;
        }
        at::set_mtime(&f, h.mtime as i64).map_err(wr)?;
        self.stats.files += 1;
        Ok(())
    }

    fn directory(&mut self, h: &Head, parents: &[&[u8]], last: &[u8], entry: &str) -> R<()> {
        let depth = self.enter(parents, entry)?;
        let dir = self.dir(depth);
        let wr = |errno| write_fail(entry, errno);
        let mut fresh = true;
        match dir.mkdir(last, h.mode) {
            Ok(()) => {}
            Err(Errno::EEXIST) => match dir.lstat(last) {
                Ok(st) if crate::sys::files::mode_is_dir(st.st_mode) => {
                    fresh = false;
                    if self.owners && (st.st_uid != h.uid || st.st_gid != h.gid) {
                        dir.chown(last, h.uid, h.gid).map_err(wr)?;
                    }
                    if st.st_mode & 0o7777 != h.mode {
                        dir.chmod(last, h.mode).map_err(wr)?;
                    }
                }
                _ => {
                    Self::clear(dir, last, entry)?;
                    dir.mkdir(last, h.mode).map_err(wr)?;
                }
            },
            Err(errno) => return Err(wr(errno)),
        }
        if fresh {
            if self.owners && (h.uid != 0 || h.gid != 0) {
                dir.chown(last, h.uid, h.gid).map_err(wr)?;
            }
            if h.mode & !(0o777 & !self.umask) != 0 {
                dir.chmod(last, h.mode).map_err(wr)?;
            }
        }
        self.stats.dirs += 1;
        Ok(())
    }

    fn symlink(
        &mut self,
        h: &Head,
        parents: &[&[u8]],
        last: &[u8],
        target: &[u8],
        entry: &str,
    ) -> R<()> {
        if target.is_empty() {
            return Err(Fail::Refused {
                entry: entry.into(),
                why: tf("x.empty_link", &[]),
            });
        }
        let depth = self.enter(parents, entry)?;
        let dir = self.dir(depth);
        Self::replace(dir, last, entry, || dir.symlink(target, last))?;
        self.chown_name(depth, last, h, entry)?;
        self.stats.symlinks += 1;
        Ok(())
    }

    /// A hard link: its target is looked up inside the rootfs only, never through a link.
    fn hardlink(
        &mut self,
        comps: &[&[u8]],
        parents: &[&[u8]],
        last: &[u8],
        target: &[u8],
        entry: &str,
    ) -> R<()> {
        let shown = clean_bytes(target);
        let tcomps = components(target).map_err(|why| Fail::Refused {
            entry: entry.into(),
            why: tf("x.link_target", &[("target", &shown), ("why", &why)]),
        })?;
        let Some((tlast, tparents)) = tcomps.split_last() else {
            return Err(Fail::Refused {
                entry: entry.into(),
                why: tf("x.link_root", &[]),
            });
        };
        if tcomps == comps {
            return Ok(());
        }
        let missing = |errno: Errno| Fail::Refused {
            entry: entry.into(),
            why: tf("x.link_missing", &[("target", &shown), ("errno", &errno)]),
        };
        let from = self.lookup(tparents).map_err(missing)?;
        let depth = self.enter(parents, entry)?;
        let dir = self.dir(depth);
        match Self::replace(dir, last, entry, || dir.hardlink(&from, *tlast, last)) {
            Err(Fail::Write { errno, .. })
                if matches!(errno, Errno::ENOENT | Errno::EPERM | Errno::EXDEV) =>
            {
                return Err(missing(errno))
            }
            r => r?,
        }
        self.stats.hardlinks += 1;
        Ok(())
    }

    /// The owner of a name that is not opened (a link, a FIFO), when it is not root.
    fn chown_name(&self, depth: usize, last: &[u8], h: &Head, entry: &str) -> R<()> {
        if self.owners && (h.uid != 0 || h.gid != 0) {
            self.dir(depth)
                .chown(last, h.uid, h.gid)
                .map_err(|errno| write_fail(entry, errno))?;
        }
        Ok(())
    }
}

/// What a `.wh.` name of an image layer means (the OCI image-spec, "Whiteouts").
#[derive(Debug, PartialEq, Eq)]
pub enum WhiteoutKind<'a> {
    /// `.wh..wh..opq`: the directory is opaque.
    Opaque,
    /// Other `.wh..wh.` names: aufs's own bookkeeping, nothing to do.
    Aufs,
    /// `.wh.NAME`: NAME is deleted.
    Name(&'a [u8]),
}

/// The meaning of the last component `last` of a layer's entry, when it starts with
/// `.wh.`; `None` when it names nothing a whiteout may name (empty, `.`, `..`, a `/`).
pub fn whiteout_kind(last: &[u8]) -> Option<WhiteoutKind<'_>> {
    if last == b".wh..wh..opq" {
        return Some(WhiteoutKind::Opaque);
    }
    if last.starts_with(b".wh..wh.") {
        return Some(WhiteoutKind::Aufs);
    }
    let target = last.strip_prefix(b".wh.")?;
    if target.is_empty() || target == b"." || target == b".." || target.contains(&b'/') {
        return None;
    }
    Some(WhiteoutKind::Name(target))
}

fn write_fail(entry: &str, errno: Errno) -> Fail {
    Fail::Write {
        entry: entry.into(),
        errno,
    }
}

/// Why a copy stopped.
#[derive(Debug)]
enum Copy {
    /// The archive's fault.
    Read(io::Error),
    /// The host's.
    Write(Errno),
    /// More than the room the byte cap leaves (the count so far).
    Over(u64),
    Signal,
}

/// Copies an entry's content into the new file with one large buffer, and returns its
/// (logical) size. `sparse`: runs of zeros (a GNU sparse file's holes, which the tar
/// reader hands out as zeros) are skipped, not written, so they stay holes. At most
/// `room` bytes; a signal stops it at the next buffer.
fn copy(
    src: &mut impl Read,
    f: &std::fs::File,
    buf: &mut [u8],
    sparse: bool,
    room: u64,
) -> Result<u64, Copy> {
    let mut w = f;
    let mut total = 0u64;
    loop {
        let mut n = 0;
        while n < buf.len() {
            match src.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(Copy::Read(err)),
            }
        }
        if signals::peek().is_some() {
            return Err(Copy::Signal);
        }
        if n == 0 {
            break;
        }
        if total + n as u64 > room {
            return Err(Copy::Over(total + n as u64));
        }
        let wrote = if sparse {
            write_sparse(f, &buf[..n], total)
        } else {
            w.write_all(&buf[..n])
        };
        wrote.map_err(|e| Copy::Write(crate::sys::io_errno(&e)))?;
        total += n as u64;
        if n < buf.len() {
            break;
        }
    }
    if sparse {
        // A hole at the end has no data after it: the length makes it.
        f.set_len(total)
            .map_err(|e| Copy::Write(crate::sys::io_errno(&e)))?;
    }
    Ok(total)
}

/// Writes `data` at `offset`, skipping every block of `HOLE` zeros (a hole).
fn write_sparse(f: &std::fs::File, data: &[u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut run: Option<usize> = None;
    for (i, block) in data.chunks(HOLE).enumerate() {
        let at = i * HOLE;
        match (is_zero(block), run) {
            (true, Some(start)) => {
                f.write_all_at(&data[start..at], offset + start as u64)?;
                run = None;
            }
            (false, None) => run = Some(at),
            _ => {}
        }
    }
    if let Some(start) = run {
        f.write_all_at(&data[start..], offset + start as u64)?;
    }
    Ok(())
}

fn is_zero(b: &[u8]) -> bool {
    static ZEROS: [u8; HOLE] = [0; HOLE];
    b == &ZEROS[..b.len()]
}

/// Counts the bytes read through it, for a progress bar.
pub struct Counted<Rd> {
    pub inner: Rd,
    pub bar: indicatif::ProgressBar,
}

impl<Rd: Read> Read for Counted<Rd> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::PathBuf;

    /// One entry of a hand-made tarball: any name at all, as a hostile archive has.
    pub struct E<'a> {
        pub name: &'a str,
        pub kind: u8,
        pub link: &'a str,
        pub data: &'a [u8],
        pub mode: u32,
        pub uid: u32,
    }

    pub fn f<'a>(name: &'a str, data: &'a [u8]) -> E<'a> {
        E {
            name,
            kind: b'0',
            link: "",
            data,
            mode: 0o644,
            uid: 0,
        }
    }
    pub fn d(name: &str) -> E<'_> {
        E {
            name,
            kind: b'5',
            link: "",
            data: b"",
            mode: 0o755,
            uid: 0,
        }
    }
    pub fn sym<'a>(name: &'a str, to: &'a str) -> E<'a> {
        E {
            name,
            kind: b'2',
            link: to,
            data: b"",
            mode: 0o777,
            uid: 0,
        }
    }
    pub fn hard<'a>(name: &'a str, to: &'a str) -> E<'a> {
        E {
            name,
            kind: b'1',
            link: to,
            data: b"",
            mode: 0o644,
            uid: 0,
        }
    }

    /// Writes ustar headers by hand (the tar crate's builder refuses hostile names).
    pub fn raw_tar(entries: &[E]) -> Vec<u8> {
        let mut out = vec![];
        for e in entries {
            let mut h = [0u8; 512];
            let put = |h: &mut [u8; 512], at: usize, len: usize, v: &[u8]| {
                h[at..at + v.len().min(len)].copy_from_slice(&v[..v.len().min(len)]);
            };
            put(&mut h, 0, 100, e.name.as_bytes());
            put(&mut h, 100, 8, format!("{:07o}\0", e.mode).as_bytes());
            put(&mut h, 108, 8, format!("{:07o}\0", e.uid).as_bytes());
            put(&mut h, 116, 8, format!("{:07o}\0", e.uid).as_bytes());
            put(
                &mut h,
                124,
                12,
                format!("{:011o}\0", e.data.len()).as_bytes(),
            );
            put(
                &mut h,
                136,
                12,
                format!("{:011o}\0", 1_700_000_000u64).as_bytes(),
            );
            h[156] = e.kind;
            put(&mut h, 157, 100, e.link.as_bytes());
            put(&mut h, 257, 8, b"ustar\x0000");
            if e.kind == b'3' || e.kind == b'4' {
                put(&mut h, 329, 8, b"0000001\0");
                put(&mut h, 337, 8, b"0000003\0");
            }
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|b| *b as u32).sum();
            put(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(e.data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    pub struct Tmp(pub PathBuf);
    impl Default for Tmp {
        fn default() -> Self {
            Self::new()
        }
    }
    impl Tmp {
        pub fn new() -> Tmp {
            let p = crate::rootfs::temp::temp_path(&uuid::Uuid::new_v4().to_string());
            crate::rootfs::temp::create_temp(&p).unwrap();
            Tmp(p)
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn unpack(root: &Path, tar: &[u8], layer: bool) -> Result<Stats, Error> {
        let mut u = Unpacker::new(root)?;
        let (_, s) = open(io::Cursor::new(tar.to_vec())).unwrap().unwrap();
        u.unpack(s, layer, "the test archive")?;
        Ok(u.stats)
    }

    /// Every file under `p`, with its content (for "nothing changed outside").
    fn snapshot(p: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut v = vec![];
        let mut todo = vec![p.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                let m = std::fs::symlink_metadata(&path).unwrap();
                if m.is_dir() {
                    todo.push(path.clone());
                    v.push((path, b"<dir>".to_vec()));
                } else if m.file_type().is_symlink() {
                    v.push((
                        path.clone(),
                        std::fs::read_link(&path)
                            .unwrap()
                            .into_os_string()
                            .into_encoded_bytes(),
                    ));
                } else {
                    v.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        v.sort();
        v
    }

    #[test]
    fn unpacks_a_plain_tree() {
        let root = Tmp::new();
        let mut suid = f("bin/su", b"#!/bin/sh\n");
        suid.mode = 0o4755;
        let mut fifo = f("run/fifo", b"");
        fifo.kind = b'6';
        let mut dev = f("dev/sda", b"");
        dev.kind = b'4';
        let mut tmp = d("tmp/");
        tmp.mode = 0o1777;
        let tar = raw_tar(&[
            d("./"),
            d("bin/"),
            f("bin/busybox", b"BUSYBOX"),
            sym("bin/sh", "busybox"),
            hard("bin/ash", "bin/busybox"),
            suid,
            f("etc/deep/missing/parents", b"x"),
            fifo,
            dev,
            tmp,
        ]);
        let s = unpack(&root.0, &tar, false).unwrap();
        let r = &root.0;
        assert_eq!(std::fs::read(r.join("bin/busybox")).unwrap(), b"BUSYBOX");
        assert_eq!(
            std::fs::read_link(r.join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert_eq!(
            std::fs::metadata(r.join("bin/ash")).unwrap().ino(),
            std::fs::metadata(r.join("bin/busybox")).unwrap().ino()
        );
        assert_eq!(
            std::fs::metadata(r.join("bin/su"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o4755
        );
        assert_eq!(
            std::fs::metadata(r.join("tmp"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o1777
        );
        assert_eq!(
            std::fs::metadata(r.join("bin/busybox")).unwrap().mtime(),
            1_700_000_000
        );
        assert!(r.join("etc/deep/missing/parents").is_file());
        assert!(std::fs::symlink_metadata(r.join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo_like());
        assert!(!r.join("dev/sda").exists(), "no device node is created");
        assert_eq!(s.devices, vec!["dev/sda".to_string()]);
        // The root entry ./ leaves the rootfs directory as mktemp made it.
        assert_eq!(
            std::fs::metadata(r).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!((s.files, s.symlinks, s.hardlinks, s.fifos), (3, 1, 1, 1));
    }

    trait FifoLike {
        fn is_fifo_like(&self) -> bool;
    }
    impl FifoLike for std::fs::FileType {
        fn is_fifo_like(&self) -> bool {
            use std::os::unix::fs::FileTypeExt;
            self.is_fifo()
        }
    }

    #[test]
    #[ignore = "needs root"]
    fn keeps_ownership_by_number() {
        assert!(
            crate::sys::is_root(),
            "this test needs root (chown): run the tests as root"
        );
        let root = Tmp::new();
        let mut e = f("home/u/file", b"x");
        e.uid = 1234;
        let mut dd = d("home/u/");
        dd.uid = 1234;
        let mut l = sym("home/u/link", "file");
        l.uid = 1234;
        unpack(&root.0, &raw_tar(&[dd, e, l]), false).unwrap();
        for p in ["home/u", "home/u/file", "home/u/link"] {
            let m = std::fs::symlink_metadata(root.0.join(p)).unwrap();
            assert_eq!((m.uid(), m.gid()), (1234, 1234), "{p}");
        }
    }

    /// One hostile archive per escape: each is refused, names its entry, and not a byte
    /// changes outside the rootfs.
    #[test]
    fn hostile_archives_write_nothing_outside() {
        let outside = Tmp::new();
        std::fs::write(outside.0.join("victim"), b"original").unwrap();
        let o = outside.0.display().to_string();
        let victim = format!("{o}/victim");
        let rel_up = format!("../../../../../../../..{o}");
        let up_victim = format!("../../../../../../..{victim}");
        let cases: Vec<(&str, Vec<E>, &str)> = vec![
            (
                "dotdot",
                vec![f("../../../../../../../../tmp/hako-evil", b"x")],
                "../../",
            ),
            (
                "dotdot inside",
                vec![d("a/"), f("a/../../evil", b"x")],
                "a/../../evil",
            ),
            ("absolute", vec![f(&victim, b"pwned")], &victim),
            (
                "absolute symlink",
                vec![sym("l", &o), f("l/victim", b"pwned")],
                "l/victim",
            ),
            (
                "relative symlink",
                vec![sym("l", &rel_up), f("l/victim", b"pwned")],
                "l/victim",
            ),
            (
                "chained symlinks",
                vec![sym("a", "b"), sym("b", &o), f("a/victim", b"pwned")],
                "a/victim",
            ),
            (
                "symlink dir then new file",
                vec![sym("etc", &o), f("etc/new", b"pwned")],
                "etc/new",
            ),
            ("hard link out by ..", vec![hard("h", &up_victim)], "h"),
            ("hard link out absolute", vec![hard("h", &victim)], "h"),
            (
                "hard link through a symlink",
                vec![sym("l", &o), hard("h", "l/victim")],
                "h",
            ),
        ];
        for (what, entries, name) in cases {
            let before = snapshot(&outside.0);
            let root = Tmp::new();
            let err = unpack(&root.0, &raw_tar(&entries), false).unwrap_err();
            assert!(
                err.msg.contains(name),
                "{what}: the error names the entry: {}",
                err.msg
            );
            assert!(err.msg.contains("refused"), "{what}: {}", err.msg);
            assert_eq!(
                snapshot(&outside.0),
                before,
                "{what}: something changed outside"
            );
            assert!(!Path::new("/tmp/hako-evil").exists());
        }
    }

    /// Entries that replace a link never write through it.
    #[test]
    fn a_file_over_a_symlink_replaces_the_link() {
        let outside = Tmp::new();
        std::fs::write(outside.0.join("victim"), b"original").unwrap();
        let victim = outside.0.join("victim").display().to_string();
        let o = outside.0.display().to_string();
        let root = Tmp::new();
        let tar = raw_tar(&[
            sym("s", &victim),
            f("s", b"new content"),
            sym("d", &o),
            d("d/"),
            f("d/victim", b"inside"),
            sym("h", &victim),
            hard("h2", "h"),
        ]);
        unpack(&root.0, &tar, false).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"original");
        assert_eq!(std::fs::read(root.0.join("s")).unwrap(), b"new content");
        assert!(std::fs::symlink_metadata(root.0.join("d"))
            .unwrap()
            .is_dir());
        assert_eq!(std::fs::read(root.0.join("d/victim")).unwrap(), b"inside");
        // A hard link to a symlink is a second name of the link, not of its target.
        assert!(std::fs::symlink_metadata(root.0.join("h2"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_dir(&outside.0).unwrap().count(), 1);
    }

    #[test]
    fn whiteout_names_are_read_by_the_image_spec() {
        assert_eq!(whiteout_kind(b".wh..wh..opq"), Some(WhiteoutKind::Opaque));
        assert_eq!(whiteout_kind(b".wh..wh.plnk"), Some(WhiteoutKind::Aufs));
        assert_eq!(whiteout_kind(b".wh.x"), Some(WhiteoutKind::Name(b"x")));
        assert_eq!(
            whiteout_kind(b".wh..hidden"),
            Some(WhiteoutKind::Name(b".hidden"))
        );
        for bad in [&b".wh."[..], b".wh..", b".wh...", b".wh.a/b", b"x"] {
            assert_eq!(
                whiteout_kind(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn whiteouts_remove_what_the_layers_below_had() {
        let root = Tmp::new();
        let l1 = raw_tar(&[
            d("a/"),
            f("a/x", b"1"),
            f("a/y", b"1"),
            d("b/"),
            f("b/z", b"1"),
            d("b/sub/"),
            f("b/sub/w", b"1"),
        ]);
        let l2 = raw_tar(&[
            f("b/new", b"2"),
            d("a/"),
            f("a/.wh.x", b""),
            d("b/"),
            f("b/.wh..wh..opq", b""),
            f("a/.wh.nothing", b""),
        ]);
        let mut u = Unpacker::new(&root.0).unwrap();
        for l in [l1, l2] {
            let (_, s) = open(io::Cursor::new(l)).unwrap().unwrap();
            u.unpack(s, true, "layer").unwrap();
        }
        let r = &root.0;
        assert!(!r.join("a/x").exists(), "a whiteout removes its file");
        assert!(r.join("a/y").exists());
        assert!(
            !r.join("a/.wh.x").exists(),
            "the whiteout itself is not unpacked"
        );
        assert!(
            !r.join("b/z").exists() && !r.join("b/sub").exists(),
            "an opaque directory hides the layers below"
        );
        assert!(
            r.join("b/new").exists(),
            "but keeps what its own layer wrote"
        );
        assert!(!r.join("b/.wh..wh..opq").exists());
        assert_eq!(u.stats.whiteouts, 3);
        // A whiteout cannot name something outside its directory.
        let bad = raw_tar(&[f("a/.wh...", b"")]);
        let (_, s) = open(io::Cursor::new(bad)).unwrap().unwrap();
        assert!(u
            .unpack(s, true, "layer")
            .unwrap_err()
            .msg
            .contains(".wh..."));
    }

    #[test]
    fn truncated_and_corrupt_archives_say_so() {
        let tar = raw_tar(&[f("a", &[7u8; 5000]), f("b", b"x")]);
        let root = Tmp::new();
        let e = unpack(&root.0, &tar[..2000], false).unwrap_err();
        assert!(e.msg.contains("truncated or corrupt"), "{}", e.msg);
        let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let root = Tmp::new();
        let e = unpack(&root.0, &gz[..gz.len() / 2], false).unwrap_err();
        assert!(e.msg.contains("truncated or corrupt"), "{}", e.msg);
        let mut bad = gz.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        bad[mid + 1] ^= 0xff;
        let root = Tmp::new();
        assert!(unpack(&root.0, &bad, false).is_err());
    }

    #[test]
    fn compression_is_told_by_magic_bytes() {
        let tar = raw_tar(&[f("hello", b"world")]);
        assert_eq!(sniff(&tar), Ok(Compression::None));
        let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(sniff(&gz), Ok(Compression::Gzip));
        let mut xz = liblzma::write::XzEncoder::new(vec![], 1);
        xz.write_all(&tar).unwrap();
        let xz = xz.finish().unwrap();
        assert_eq!(sniff(&xz), Ok(Compression::Xz));
        for data in [gz, xz] {
            let root = Tmp::new();
            unpack(&root.0, &data, false).unwrap();
            assert_eq!(std::fs::read(root.0.join("hello")).unwrap(), b"world");
        }
        assert_eq!(sniff(b""), Err(NotTar::Empty));
        assert_eq!(sniff(b"BZh91AY&SY"), Err(NotTar::Other("bzip2")));
        assert_eq!(sniff(b"hello, this is text"), Err(NotTar::Unknown));
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Ok(Compression::Zstd));
    }

    #[test]
    fn names_are_split_safely() {
        assert_eq!(
            components(b"./a//b/./c/").unwrap(),
            vec![&b"a"[..], b"b", b"c"]
        );
        assert!(components(b"./").unwrap().is_empty());
        assert!(components(b"/etc/passwd").is_err());
        assert!(components(b"a/../b").is_err());
        assert!(components(b"..").is_err());
        assert!(components(b"a/..b").is_ok());
    }

    fn unpack_limited(root: &Path, tar: &[u8], limits: Limits) -> Result<Stats, Error> {
        let dir = DirFd::open(root).unwrap();
        let mut u = Unpacker::with_limits(dir, root, limits);
        let (_, s) = open(io::Cursor::new(tar.to_vec())).unwrap().unwrap();
        u.unpack(s, false, "the test archive")?;
        Ok(u.stats)
    }

    /// A GNU sparse entry (type 'S'): `chunks` of data at their offsets in a file of
    /// `real` bytes, the rest holes.
    pub fn sparse_tar(name: &str, real: u64, chunks: &[(u64, &[u8])]) -> Vec<u8> {
        let mut h = [0u8; 512];
        let put = |h: &mut [u8; 512], at: usize, v: &[u8]| h[at..at + v.len()].copy_from_slice(v);
        put(&mut h, 0, name.as_bytes());
        put(&mut h, 100, b"0000644\0");
        put(&mut h, 108, b"0000000\0");
        put(&mut h, 116, b"0000000\0");
        let stored: usize = chunks.iter().map(|c| c.1.len()).sum();
        put(&mut h, 124, format!("{stored:011o}\0").as_bytes());
        put(
            &mut h,
            136,
            format!("{:011o}\0", 1_700_000_000u64).as_bytes(),
        );
        h[156] = b'S';
        put(&mut h, 257, b"ustar  \0");
        assert!(chunks.len() <= 4);
        for (i, (off, data)) in chunks.iter().enumerate() {
            let at = 386 + i * 24;
            put(&mut h, at, format!("{off:011o}\0").as_bytes());
            put(&mut h, at + 12, format!("{:011o}\0", data.len()).as_bytes());
        }
        put(&mut h, 483, format!("{real:011o}\0").as_bytes());
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| *b as u32).sum();
        put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
        let mut out = h.to_vec();
        for (_, data) in chunks {
            out.extend_from_slice(data);
        }
        out.resize(out.len().div_ceil(512) * 512, 0);
        out.resize(out.len() + 1024, 0);
        out
    }

    fn no_raw_control(msg: &str) {
        assert!(
            !msg.chars().any(crate::ui::sanitize::is_unsafe),
            "a raw control character reached the message: {msg:?}"
        );
    }

    #[test]
    fn the_byte_cap_stops_before_writing_and_says_which_flag_raises_it() {
        let root = Tmp::new();
        let big = vec![7u8; 3000];
        let tar = raw_tar(&[f("a", &big), f("b", &big), f("c", b"never")]);
        let l = Limits::new(Some(5000), None, None);
        let e = unpack_limited(&root.0, &tar, l).unwrap_err();
        assert_eq!(e.kind, Kind::Failed);
        assert!(
            e.msg
                .starts_with("Hako stopped unpacking the test archive at the entry 'b'"),
            "{}",
            e.msg
        );
        assert!(e.msg.contains("5.86 KiB or more"), "{}", e.msg);
        assert!(e.msg.contains("cap of 4.88 KiB"), "{}", e.msg);
        assert!(e.msg.contains("set with --max-unpack"), "{}", e.msg);
        assert!(e.msg.contains("--max-unpack 2M"), "{}", e.msg);
        // Checked before: 'b' was never created, 'a' was written whole.
        assert_eq!(std::fs::read(root.0.join("a")).unwrap().len(), 3000);
        assert!(!root.0.join("b").exists());
        // Under the cap, the same archive unpacks.
        let root = Tmp::new();
        let s = unpack_limited(&root.0, &tar, Limits::new(Some(6005), None, None)).unwrap();
        assert_eq!(s.bytes, 6005);
        // The default's sentence names the free space it came from.
        let root = Tmp::new();
        let l = Limits::new(None, None, Some(4000));
        let e = unpack_limited(&root.0, &tar, l).unwrap_err();
        assert!(
            e.msg
                .contains("hako's default: the smaller of 8.00 GiB and 90% of the 3.91 KiB free"),
            "{}",
            e.msg
        );
        assert!(e.msg.contains("cap of 3.52 KiB"), "{}", e.msg);
    }

    #[test]
    fn the_entry_cap_counts_every_entry() {
        let root = Tmp::new();
        let names: Vec<String> = (0..20).map(|i| format!("d/f{i}")).collect();
        let mut entries = vec![d("d/")];
        entries.extend(names.iter().map(|n| f(n, b"x")));
        let tar = raw_tar(&entries);
        let e = unpack_limited(&root.0, &tar, Limits::new(None, Some(10), None)).unwrap_err();
        assert!(
            e.msg
                .contains("at the entry 'd/f9': it has more than 10 entries"),
            "{}",
            e.msg
        );
        assert!(e.msg.contains("set with --max-entries"), "{}", e.msg);
        assert!(e.msg.contains("--max-entries 20"), "{}", e.msg);
        assert!(!root.0.join("d/f9").exists());
        let root = Tmp::new();
        let s = unpack_limited(&root.0, &tar, Limits::new(None, Some(21), None)).unwrap();
        assert_eq!(s.files, 20);
    }

    #[test]
    fn caps_hold_across_the_layers_of_one_extraction() {
        let root = Tmp::new();
        let dir = DirFd::open(&root.0).unwrap();
        let mut u = Unpacker::with_limits(dir, &root.0, Limits::new(Some(1500), Some(100), None));
        for (i, name) in ["one", "two"].iter().enumerate() {
            let (_, s) = open(io::Cursor::new(raw_tar(&[f(name, &[1u8; 1000])])))
                .unwrap()
                .unwrap();
            let r = u.unpack(s, true, "layer");
            assert_eq!(r.is_ok(), i == 0, "{r:?}");
        }
    }

    #[test]
    fn a_sparse_file_keeps_its_holes_and_counts_its_logical_size() {
        let root = Tmp::new();
        let real: u64 = 2 << 30;
        let a = [b'a'; 512];
        let z = [b'z'; 512];
        let tar = sparse_tar("big", real, &[(1 << 20, &a), (real - 512, &z)]);
        assert!(tar.len() < 4096);
        let s = unpack_limited(&root.0, &tar, Limits::new(Some(4 << 30), None, None)).unwrap();
        assert_eq!(s.bytes, real);
        let p = root.0.join("big");
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.len(), real);
        assert!(
            m.blocks() < 1024,
            "holes were written: {} blocks of 512 bytes",
            m.blocks()
        );
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(&p).unwrap();
        let mut b = [0u8; 1024];
        f.read_exact_at(&mut b, (1 << 20) - 256).unwrap();
        assert!(b[..256].iter().all(|x| *x == 0) && b[256..768].iter().all(|x| *x == b'a'));
        f.read_exact_at(&mut b[..512], real - 512).unwrap();
        assert!(b[..512].iter().all(|x| *x == b'z'));
        // A cap below its logical size refuses it before it is created.
        let root = Tmp::new();
        let e = unpack_limited(&root.0, &tar, Limits::new(Some(1 << 30), None, None)).unwrap_err();
        assert!(
            e.msg.contains("'big'") && e.msg.contains("2.00 GiB or more"),
            "{}",
            e.msg
        );
        assert!(!root.0.join("big").exists());
    }

    #[test]
    fn zeros_become_holes_only_by_whole_blocks() {
        let root = Tmp::new();
        let p = root.0.join("f");
        let f = std::fs::File::create(&p).unwrap();
        let mut data = vec![0u8; 5 * HOLE];
        data[10] = 1;
        data[3 * HOLE + 5] = 2;
        write_sparse(&f, &data, 0).unwrap();
        f.set_len(data.len() as u64).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), data);
        assert!(is_zero(&[0; 100]) && !is_zero(&[0, 0, 1]) && is_zero(&[]));
    }

    #[test]
    fn names_with_escape_sequences_reach_messages_escaped() {
        let cases: Vec<(Vec<E>, &str)> = vec![
            (
                vec![f("\x1b]0;pwned\x07/../../x", b"x")],
                "\\x1b]0;pwned\\x07/../../x",
            ),
            (vec![f("\u{9b}31m/../x", b"x")], "\\x9b31m/../x"),
            (vec![hard("h", "../\x1b[2J\u{9b}31m")], "\\x1b[2J\\x9b31m"),
            (
                vec![sym("l\x1b[1m", "/etc/\x1b]0;t\x07"), f("l\x1b[1m/x", b"x")],
                "/etc/\\x1b]0;t\\x07",
            ),
        ];
        for (entries, shown) in cases {
            let root = Tmp::new();
            let e = unpack(&root.0, &raw_tar(&entries), false).unwrap_err();
            assert!(e.msg.contains("refused"), "{}", e.msg);
            assert!(e.msg.contains(shown), "{shown} in {}", e.msg);
            no_raw_control(&e.msg);
        }
        // A device's name reaches the summary escaped too.
        let mut dev = f("dev/\x1b[31mtty", b"");
        dev.kind = b'3';
        let root = Tmp::new();
        let s = unpack(&root.0, &raw_tar(&[dev]), false).unwrap();
        assert_eq!(s.devices, vec!["dev/\\x1b[31mtty".to_string()]);
    }

    #[test]
    fn a_long_name_larger_than_the_budget_is_refused() {
        let root = Tmp::new();
        let mut long = E {
            name: "././@LongLink",
            kind: b'L',
            link: "",
            data: &[],
            mode: 0o644,
            uid: 0,
        };
        let name = vec![b'a'; (limits::META_PER_ENTRY + 1) as usize];
        long.data = &name;
        let tar = raw_tar(&[f("first", b"1"), long, f("short", b"x")]);
        let e = unpack(&root.0, &tar, false).unwrap_err();
        assert!(e.msg.contains("after the entry 'first'"), "{}", e.msg);
        assert!(
            e.msg.contains("more than 16.00 MiB of headers"),
            "{}",
            e.msg
        );
        assert!(!root.0.join("short").exists());
    }

    #[test]
    fn the_budget_between_entries_also_holds_in_all() {
        let root = Tmp::new();
        let data = vec![b'x'; 8 << 20];
        let global = |name| E {
            name,
            kind: b'g',
            link: "",
            data: &data,
            mode: 0o644,
            uid: 0,
        };
        let tar = raw_tar(&[global("g1"), global("g2"), global("g3"), f("after", b"x")]);
        let l = Limits::new(None, Some(10), None);
        let e = unpack_limited(&root.0, &tar, l).unwrap_err();
        assert!(e.msg.contains("came in all"), "{}", e.msg);
        assert!(!root.0.join("after").exists());
        // With room for the entries, the same archive passes (each gap is under 16 MiB).
        let root = Tmp::new();
        unpack_limited(&root.0, &tar, Limits::new(None, Some(10_000), None)).unwrap();
        assert!(root.0.join("after").exists());
    }
}
