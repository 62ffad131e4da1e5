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

use crate::error::Error;
use crate::i18n::tf;
use crate::sys::at::{self, DirFd};
use nix::errno::Errno;
use std::collections::HashSet;
use std::io::{self, BufRead, Read, Write};
use std::path::Path;

/// What one extraction did, for the lesson's "did" lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub fifos: u64,
    pub whiteouts: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Device nodes not created, by name.
    pub devices: Vec<String>,
}

/// Why an entry could not be unpacked (turned into one sentence by [`Fail::into_error`]).
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
        match self {
            Fail::Refused { entry, why } => Error::failed(tf(
                "err.x_refused",
                &[("entry", &entry), ("src", &src), ("why", &why)],
            )),
            Fail::Read { entry, err } => {
                let at = match entry {
                    Some(e) => tf("x.after_entry", &[("entry", &e)]),
                    None => tf("x.at_start", &[]),
                };
                Error::failed(tf(
                    "err.x_corrupt",
                    &[("src", &src), ("at", &at), ("why", &err)],
                ))
            }
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

/// The compression of an archive, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    pub fn label(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }

    /// The `tar` options that read it, for the shell equivalents.
    pub fn tar_flag(self) -> &'static str {
        match self {
            Compression::None => "-xf",
            Compression::Gzip => "-xzf",
            Compression::Xz => "-xJf",
            Compression::Zstd => "--zstd -xf",
        }
    }
}

/// Why a stream is not something hako can unpack, as a sentence fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotTar {
    Empty,
    Other(&'static str),
    Unknown,
}

fn is_tar_header(b: &[u8]) -> bool {
    if b.len() < 512 {
        // A tarball shorter than one header is no tarball (an empty archive is 1024
        // zero bytes).
        return false;
    }
    if &b[257..262] == b"ustar" {
        return true;
    }
    // An old (v7) header: only its checksum tells.
    let field = &b[148..156];
    let txt: String = field
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as char)
        .collect();
    let Ok(want) = u32::from_str_radix(txt.trim(), 8) else {
        return false;
    };
    let sum: u32 = b[..512]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if (148..156).contains(&i) {
                32
            } else {
                *c as u32
            }
        })
        .sum();
    sum == want || b[..512].iter().all(|c| *c == 0)
}

/// Tells the compression from the magic bytes (not the file name).
pub fn sniff(head: &[u8]) -> Result<Compression, NotTar> {
    if head.is_empty() {
        return Err(NotTar::Empty);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Compression::Gzip);
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Ok(Compression::Xz);
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Ok(Compression::Zstd);
    }
    if head.starts_with(b"BZh") {
        return Err(NotTar::Other("bzip2"));
    }
    if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        return Err(NotTar::Other("lz4"));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Err(NotTar::Other("zip"));
    }
    if is_tar_header(head) {
        return Ok(Compression::None);
    }
    Err(NotTar::Unknown)
}

/// A zstd stream of one or more frames (as `zstd` and `cat a.zst b.zst` write them).
struct Zstd<R: BufRead> {
    dec: Option<ruzstd::StreamingDecoder<R, ruzstd::FrameDecoder>>,
}

fn zstd_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))
}

impl<R: BufRead> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(dec) = self.dec.as_mut() else {
                return Ok(0);
            };
            let n = dec.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            if !dec.decoder.is_finished() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "zstd: the stream ends inside a frame",
                ));
            }
            let (mut src, fd) = self.dec.take().expect("present").into_parts();
            if src.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.dec = Some(ruzstd::StreamingDecoder::new_with_decoder(src, fd).map_err(zstd_err)?);
        }
    }
}

/// A stream told apart and opened: its compression, and the tar bytes.
pub type Opened<'a> = (Compression, Box<dyn Read + 'a>);

/// Reads the first bytes, tells the compression, and returns the decompressed stream.
pub fn open<'a, S: Read + 'a>(mut src: S) -> io::Result<Result<Opened<'a>, NotTar>> {
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match src.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    let kind = match sniff(&head) {
        Ok(k) => k,
        Err(e) => return Ok(Err(e)),
    };
    let joined = io::BufReader::with_capacity(256 * 1024, io::Cursor::new(head).chain(src));
    let r: Box<dyn Read + 'a> = match kind {
        Compression::None => Box::new(joined),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(joined)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(joined)),
        Compression::Zstd => Box::new(Zstd {
            dec: Some(ruzstd::StreamingDecoder::new(joined).map_err(zstd_err)?),
        }),
    };
    Ok(Ok((kind, r)))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Splits an archive name into components. `Err` says why it is refused.
pub fn components(name: &[u8]) -> Result<Vec<&[u8]>, String> {
    if name.first() == Some(&b'/') {
        return Err(tf("x.absolute", &[]));
    }
    let mut v = vec![];
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(tf("x.dotdot", &[])),
            c => v.push(c),
        }
    }
    Ok(v)
}

fn join(comps: &[&[u8]]) -> String {
    comps.iter().map(|c| lossy(c)).collect::<Vec<_>>().join("/")
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
    pub stats: Stats,
}

const BUF: usize = 1 << 20;

impl Unpacker {
    pub fn new(root: &Path) -> Result<Unpacker, Error> {
        let dir = DirFd::open(root).map_err(|e| {
            crate::sys::failure(&tf("do.open_dir", &[("path", &root.display())]), e)
        })?;
        Ok(Unpacker {
            root: dir,
            root_path: root.to_path_buf(),
            stack: vec![],
            umask: at::umask(),
            buf: vec![0; BUF],
            layer: None,
            stats: Stats::default(),
        })
    }

    /// Unpacks one (decompressed) tar stream. `whiteouts`: it is an image layer.
    /// `src` names it in errors.
    pub fn unpack(&mut self, input: impl Read, whiteouts: bool, src: &str) -> Result<(), Error> {
        self.layer = whiteouts.then(HashSet::new);
        self.stack.clear();
        let r = self.unpack_inner(input);
        self.layer = None;
        self.stack.clear();
        r.map_err(|f| f.into_error(src, &self.root_path))
    }

    fn unpack_inner(&mut self, input: impl Read) -> R<()> {
        let mut ar = tar::Archive::new(input);
        let entries = ar
            .entries()
            .map_err(|err| Fail::Read { entry: None, err })?;
        let mut last: Option<String> = None;
        for e in entries {
            let mut e = e.map_err(|err| Fail::Read {
                entry: last.clone(),
                err,
            })?;
            let name = e.path_bytes().into_owned();
            self.entry(&mut e, &name)?;
            last = Some(lossy(&name));
        }
        Ok(())
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
                        Err(errno) => {
                            return Err(Fail::Write {
                                entry: entry.into(),
                                errno,
                            })
                        }
                    }
                    cur.sub(*c).map_err(|errno| Fail::Write {
                        entry: entry.into(),
                        errno,
                    })?
                }
                Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
                    return Err(Fail::Refused {
                        entry: entry.into(),
                        why: self.not_a_dir(i, c, &parents[..=i]),
                    })
                }
                Err(errno) => {
                    return Err(Fail::Write {
                        entry: entry.into(),
                        errno,
                    })
                }
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
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                let to = dir.readlink(c).map(|t| lossy(&t)).unwrap_or_default();
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
            Err(errno) => Err(Fail::Write {
                entry: entry.into(),
                errno,
            }),
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
                make().map_err(|errno| Fail::Write {
                    entry: entry.into(),
                    errno,
                })
            }
            Err(errno) => Err(Fail::Write {
                entry: entry.into(),
                errno,
            }),
        }
    }

    fn entry<S: Read>(&mut self, e: &mut tar::Entry<S>, raw: &[u8]) -> R<()> {
        let entry = lossy(raw);
        let comps = components(raw).map_err(|why| Fail::Refused {
            entry: entry.clone(),
            why,
        })?;
        let h = e.header();
        let mut kind = h.entry_type();
        let corrupt = |err: io::Error| Fail::Read {
            entry: Some(entry.clone()),
            err,
        };
        let mode = h.mode().map_err(corrupt)? & 0o7777;
        let (mut uid, mut gid) = (h.uid().map_err(corrupt)?, h.gid().map_err(corrupt)?);
        let mtime = h.mtime().unwrap_or(0);
        if kind == tar::EntryType::Regular && raw.ends_with(b"/") {
            kind = tar::EntryType::Directory;
        }
        if let Ok(Some(pax)) = e.pax_extensions() {
            for x in pax.flatten() {
                let v = x.value().ok().and_then(|v| v.parse::<u64>().ok());
                match (x.key(), v) {
                    (Ok("uid"), Some(v)) => uid = v,
                    (Ok("gid"), Some(v)) => gid = v,
                    _ => {}
                }
            }
        }
        let (uid, gid) = (uid as u32, gid as u32);

        let Some((last, parents)) = comps.split_last() else {
            // The root itself: its mode and owner stay as mktemp made them (0700, root).
            return if kind == tar::EntryType::Directory || kind.is_pax_global_extensions() {
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
            let depth = self.enter(parents, &entry)?;
            if last == b".wh..wh..opq" {
                let prefix = comps[..comps.len() - 1].join(&b'/');
                let dir = self.dir(depth);
                let names = dir.names().map_err(|errno| Fail::Write {
                    entry: entry.clone(),
                    errno,
                })?;
                let seen = self.layer.as_ref().expect("layer");
                for n in names {
                    let mut p = prefix.clone();
                    if !p.is_empty() {
                        p.push(b'/');
                    }
                    p.extend_from_slice(&n);
                    if !seen.contains(&p) {
                        Self::clear(dir, &n, &entry)?;
                    }
                }
                self.stats.whiteouts += 1;
            } else if last.starts_with(b".wh..wh.") {
                // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): nothing to do.
            } else {
                let target = &last[4..];
                if target.is_empty() || target == b"." || target == b".." || target.contains(&b'/')
                {
                    return Err(Fail::Refused {
                        entry,
                        why: tf("x.bad_whiteout", &[]),
                    });
                }
                Self::clear(self.dir(depth), target, &entry)?;
                self.stats.whiteouts += 1;
            }
            return Ok(());
        }
        if let Some(seen) = self.layer.as_mut() {
            seen.insert(comps.join(&b'/'));
        }

        use tar::EntryType as T;
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                let depth = self.enter(parents, &entry)?;
                let dir = self.dir(depth);
                let mut file = None;
                Self::replace(dir, last, &entry, || {
                    file = Some(dir.create(last, mode)?);
                    Ok(())
                })?;
                let f = file.expect("created");
                let wr = |errno| Fail::Write {
                    entry: entry.clone(),
                    errno,
                };
                let n = copy(e, &f, &mut self.buf, &entry)?;
                self.stats.bytes += n;
                if uid != 0 || gid != 0 {
                    at::fchown(&f, uid, gid).map_err(wr)?;
                }
                if mode & !(0o777 & !self.umask) != 0 {
                    at::fchmod(&f, mode).map_err(wr)?;
                }
                at::set_mtime(&f, mtime as i64).map_err(wr)?;
                self.stats.files += 1;
            }
            T::Directory => {
                let depth = self.enter(parents, &entry)?;
                let dir = self.dir(depth);
                let wr = |errno| Fail::Write {
                    entry: entry.clone(),
                    errno,
                };
                let mut fresh = true;
                match dir.mkdir(last, mode) {
                    Ok(()) => {}
                    Err(Errno::EEXIST) => match dir.lstat(last) {
                        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                            fresh = false;
                            if st.st_uid != uid || st.st_gid != gid {
                                dir.chown(last, uid, gid).map_err(wr)?;
                            }
                            if st.st_mode & 0o7777 != mode {
                                dir.chmod(last, mode).map_err(wr)?;
                            }
                        }
                        _ => {
                            Self::clear(dir, last, &entry)?;
                            dir.mkdir(last, mode).map_err(wr)?;
                        }
                    },
                    Err(errno) => return Err(wr(errno)),
                }
                if fresh {
                    if uid != 0 || gid != 0 {
                        dir.chown(last, uid, gid).map_err(wr)?;
                    }
                    if mode & !(0o777 & !self.umask) != 0 {
                        dir.chmod(last, mode).map_err(wr)?;
                    }
                }
                self.stats.dirs += 1;
            }
            T::Symlink => {
                let target = e
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                if target.is_empty() {
                    return Err(Fail::Refused {
                        entry,
                        why: tf("x.empty_link", &[]),
                    });
                }
                let depth = self.enter(parents, &entry)?;
                let dir = self.dir(depth);
                Self::replace(dir, last, &entry, || dir.symlink(&target[..], last))?;
                if uid != 0 || gid != 0 {
                    dir.chown(last, uid, gid).map_err(|errno| Fail::Write {
                        entry: entry.clone(),
                        errno,
                    })?;
                }
                self.stats.symlinks += 1;
            }
            T::Link => {
                let target = e
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                let tcomps = components(&target).map_err(|why| Fail::Refused {
                    entry: entry.clone(),
                    why: tf(
                        "x.link_target",
                        &[("target", &lossy(&target)), ("why", &why)],
                    ),
                })?;
                let Some((tlast, tparents)) = tcomps.split_last() else {
                    return Err(Fail::Refused {
                        entry,
                        why: tf("x.link_root", &[]),
                    });
                };
                if tcomps == comps {
                    return Ok(());
                }
                let from = self.lookup(tparents).map_err(|errno| Fail::Refused {
                    entry: entry.clone(),
                    why: tf(
                        "x.link_missing",
                        &[("target", &lossy(&target)), ("errno", &errno)],
                    ),
                })?;
                let depth = self.enter(parents, &entry)?;
                let dir = self.dir(depth);
                let r = Self::replace(dir, last, &entry, || dir.hardlink(&from, *tlast, last));
                match r {
                    Err(Fail::Write { errno, .. })
                        if matches!(errno, Errno::ENOENT | Errno::EPERM | Errno::EXDEV) =>
                    {
                        return Err(Fail::Refused {
                            entry,
                            why: tf(
                                "x.link_missing",
                                &[("target", &lossy(&target)), ("errno", &errno)],
                            ),
                        })
                    }
                    r => r?,
                }
                self.stats.hardlinks += 1;
            }
            T::Fifo => {
                let depth = self.enter(parents, &entry)?;
                let dir = self.dir(depth);
                Self::replace(dir, last, &entry, || dir.mkfifo(last, mode))?;
                if uid != 0 || gid != 0 {
                    dir.chown(last, uid, gid).map_err(|errno| Fail::Write {
                        entry: entry.clone(),
                        errno,
                    })?;
                }
                self.stats.fifos += 1;
            }
            T::Char | T::Block => self.stats.devices.push(entry),
            // Global PAX headers and other metadata-only entries carry no file.
            _ => {}
        }
        Ok(())
    }
}

/// Copies an entry's content into the new file with one large buffer. A read error is
/// the archive's fault, a write error the host's.
fn copy(src: &mut impl Read, f: &std::fs::File, buf: &mut [u8], entry: &str) -> R<u64> {
    let mut w = f;
    let mut total = 0u64;
    loop {
        let mut n = 0;
        while n < buf.len() {
            match src.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    return Err(Fail::Read {
                        entry: Some(entry.into()),
                        err,
                    })
                }
            }
        }
        if n == 0 {
            return Ok(total);
        }
        w.write_all(&buf[..n]).map_err(|e| Fail::Write {
            entry: entry.into(),
            errno: crate::sys::io_errno(&e),
        })?;
        total += n as u64;
        if n < buf.len() {
            return Ok(total);
        }
    }
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
    impl Tmp {
        pub fn new() -> Tmp {
            let p = crate::rootfs::temp_path(&uuid::Uuid::new_v4().to_string());
            crate::rootfs::create_temp(&p).unwrap();
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
}
