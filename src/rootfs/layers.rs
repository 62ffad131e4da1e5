//! `--overlay`: the layer cache and the overlay mounts built from it.
//!
//! Each layer is unpacked once, into `<cache>/layers/ALGO-HEX` (the cache of `oci:`
//! blobs, root's and writable by no one else), keyed by a digest: an `oci:` image's
//! layer digests, the sha256 of a `tar:` file, a `docker:` image's ID, or for `host`
//! the sha256 of what it copied (names, kinds, modes, owners, contents). A layer is
//! unpacked into a temporary directory beside its place and renamed into place, under
//! an flock(2) on `ALGO-HEX.lock`, so two runs never unpack the same layer at once and
//! no run ever sees half of one. Cached layers are never changed afterwards: an overlay
//! writes into its own upper directory, and nothing here chowns them.

use super::oci::{Algorithm, Cache, Digest, Hasher};
use crate::error::{Error, Result};
use crate::ui::i18n::tf;
use crate::ui::sanitize::clean_path;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The layer cache: `<cache>/layers`.
pub struct Layers {
    pub dir: PathBuf,
}

/// One cached layer.
#[derive(Debug, Clone)]
pub struct Layer {
    pub key: Digest,
    pub path: PathBuf,
    /// Unpacked by this run (false: found in the cache).
    pub fresh: bool,
}

fn cache_error(dir: &Path, e: impl std::fmt::Display) -> Error {
    Error::failed(tf(
        "err.layers",
        &[("dir", &clean_path(dir)), ("why", &e.to_string())],
    ))
}

/// Whether `p` is a directory itself (not a link to one).
fn is_dir_nofollow(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_dir())
}

impl Layers {
    /// The layer cache inside the `oci:` cache (`$HAKO_CACHE_DIR`, else /var/cache/hako),
    /// made 0700 when missing, used only when root's and writable by no one else; its
    /// path must be one overlayfs's options can name as it is.
    pub fn locate() -> Result<Layers> {
        let cache = Cache::locate()?;
        Layers::under(&cache.dir)
    }

    /// The layer cache inside the cache directory `cache` (checked as [`Cache::at`] does).
    pub fn under(cache: &Path) -> Result<Layers> {
        let dir = Cache::at(cache.join("layers"))?.dir;
        if !crate::sys::overlay::plain_for_options(&dir) {
            return Err(Error::failed(tf(
                "err.layers_path",
                &[("dir", &clean_path(&dir))],
            )));
        }
        Ok(Layers { dir })
    }

    /// Where the layer keyed `key` lives: `ALGO-HEX`, built from a validated digest only.
    pub fn path(&self, key: &Digest) -> PathBuf {
        self.dir.join(name(key))
    }

    /// The lock of `key`'s layer, held (flock LOCK_EX) until the file is dropped.
    fn lock(&self, key: &Digest) -> Result<std::fs::File> {
        let p = self.dir.join(format!("{}.lock", name(key)));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(crate::sys::files::O_NOFOLLOW)
            .open(&p)
            .map_err(|e| cache_error(&self.dir, e))?;
        crate::sys::overlay::lock(&f).map_err(|e| cache_error(&self.dir, e))?;
        Ok(f)
    }

    /// The layer keyed `key`, unpacked by `fill` into a fresh directory (then renamed
    /// into place) unless the cache holds it already. Returns the layer and what `fill`
    /// said.
    pub fn ensure(
        &self,
        key: &Digest,
        fill: impl FnOnce(&Path) -> Result<Vec<String>>,
    ) -> Result<(Layer, Vec<String>)> {
        let _lock = self.lock(key)?;
        let path = self.path(key);
        if is_dir_nofollow(&path) {
            return Ok((
                Layer {
                    key: key.clone(),
                    path,
                    fresh: false,
                },
                vec![],
            ));
        }
        // Under the lock, a temporary directory of this key is a dead run's: it goes.
        let tmp = self.dir.join(format!(".tmp-{}", name(key)));
        let _ = crate::sys::tree::remove_tree(&tmp, None);
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&tmp)
            .map_err(|e| cache_error(&self.dir, e))?;
        let did = match fill(&tmp) {
            Ok(d) => d,
            Err(e) => {
                let _ = crate::sys::tree::remove_tree(&tmp, None);
                return Err(e);
            }
        };
        std::fs::rename(&tmp, &path).map_err(|e| cache_error(&self.dir, e))?;
        Ok((
            Layer {
                key: key.clone(),
                path,
                fresh: true,
            },
            did,
        ))
    }

    /// A layer whose key is known only once it is built (`host`: the hash of what was
    /// copied; `docker:` when the image had to be pulled first): `build` fills a fresh
    /// directory, `key_of` names it, and it is renamed into place unless the cache
    /// already holds that key (then the fresh one goes).
    pub fn adopt<T>(
        &self,
        build: impl FnOnce(&Path) -> Result<T>,
        key_of: impl FnOnce(&Path) -> Result<Digest>,
    ) -> Result<(Layer, T)> {
        let tmp = self
            .dir
            .join(format!(".tmp-build-{}", uuid::Uuid::new_v4().simple()));
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&tmp)
            .map_err(|e| cache_error(&self.dir, e))?;
        let built = build(&tmp).and_then(|t| key_of(&tmp).map(|k| (t, k)));
        let (t, key) = match built {
            Ok(x) => x,
            Err(e) => {
                let _ = crate::sys::tree::remove_tree(&tmp, None);
                return Err(e);
            }
        };
        let _lock = self.lock(&key)?;
        let path = self.path(&key);
        let fresh = !is_dir_nofollow(&path);
        if fresh {
            std::fs::rename(&tmp, &path).map_err(|e| cache_error(&self.dir, e))?;
        } else {
            let _ = crate::sys::tree::remove_tree(&tmp, None);
        }
        Ok((Layer { key, path, fresh }, t))
    }
}

/// `--overlay` for `oci:`: each of the image's layers unpacked once into the layer
/// cache, keyed by its digest (a cached layer needs not even its blob). Returns the
/// layers, bottom first, and what was said.
pub fn oci_layers(
    cache: &Layers,
    r: &super::oci::Reference,
    insecure: bool,
) -> Result<(Vec<Layer>, Vec<String>)> {
    let (mut img, mut did) = super::oci::resolve_layers(r, insecure)?;
    let digests = img.digests();
    let mut out = vec![];
    for (i, d) in digests.iter().enumerate() {
        let (layer, _) = cache.ensure(d, |tmp| img.unpack_layer(i, tmp))?;
        out.push(layer);
    }
    let fresh = out.iter().filter(|l| l.fresh).count();
    did.push(tf(
        "overlay.did_layers",
        &[
            ("n", &out.len()),
            ("fresh", &fresh),
            ("dir", &clean_path(&cache.dir)),
        ],
    ));
    Ok((out, did))
}

/// `ALGO-HEX`: a digest as a file name (only validated lowercase hex).
fn name(key: &Digest) -> String {
    format!("{}-{}", key.algorithm().name(), key.hex())
}

/// The sha256 of a file's bytes (the key of a `tar:` layer).
pub fn file_digest(p: &Path) -> std::io::Result<Digest> {
    let mut f = std::fs::File::open(p)?;
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(h.finish())
}

/// Every name under `root` (relative, sorted, depth first), with its metadata; links
/// are never followed, another mount is never entered.
fn walk(root: &Path) -> std::io::Result<Vec<(PathBuf, std::fs::Metadata)>> {
    let top = std::fs::symlink_metadata(root)?;
    let mut out = vec![];
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(root.join(&rel))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for n in names.into_iter().rev() {
            let r = rel.join(&n);
            let m = std::fs::symlink_metadata(root.join(&r))?;
            if m.file_type().is_dir() && m.dev() == top.dev() {
                stack.push(r.clone());
            }
            out.push((r, m));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The key of a layer hako built itself (`host`): the sha256 over every name's path,
/// kind, mode, owner, and its content (a file's bytes, a link's target). A file with
/// several names (busybox's applets are hard links) is read once: its other names hash
/// the first one's path instead.
pub fn tree_digest(root: &Path) -> std::io::Result<Digest> {
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut seen: std::collections::HashMap<(u64, u64), PathBuf> = Default::default();
    for (rel, m) in walk(root)? {
        use std::os::unix::ffi::OsStrExt;
        h.update(rel.as_os_str().as_bytes());
        h.update(format!("\0{:o} {} {} {}\0", m.mode(), m.uid(), m.gid(), m.len()).as_bytes());
        let p = root.join(&rel);
        if m.file_type().is_symlink() {
            h.update(std::fs::read_link(&p)?.as_os_str().as_bytes());
        } else if m.file_type().is_file() && m.nlink() > 1 && seen.contains_key(&(m.dev(), m.ino()))
        {
            h.update(b"=");
            h.update(seen[&(m.dev(), m.ino())].as_os_str().as_bytes());
        } else if m.file_type().is_file() {
            if m.nlink() > 1 {
                seen.insert((m.dev(), m.ino()), rel.clone());
            }
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(crate::sys::files::O_NOFOLLOW)
                .open(&p)?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match f.read(&mut buf)? {
                    0 => break,
                    n => h.update(&buf[..n]),
                }
            }
        }
        h.update(b"\n");
    }
    Ok(h.finish())
}

/// What a layer looks like from outside, to tell whether anything changed it: the
/// number of names and a hash over each one's path, inode, mode, owner, size and
/// modification time (read with lstat: nothing is opened, nothing followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub names: usize,
    pub digest: Digest,
}

pub fn fingerprint(root: &Path) -> std::io::Result<Fingerprint> {
    let mut h = Hasher::new(Algorithm::Sha256);
    let top = std::fs::symlink_metadata(root)?;
    let mut all = walk(root)?;
    all.insert(0, (PathBuf::new(), top));
    for (rel, m) in &all {
        use std::os::unix::ffi::OsStrExt;
        h.update(rel.as_os_str().as_bytes());
        h.update(
            format!(
                "\0{} {:o} {} {} {} {}.{}\n",
                m.ino(),
                m.mode(),
                m.uid(),
                m.gid(),
                m.len(),
                m.mtime(),
                m.mtime_nsec()
            )
            .as_bytes(),
        );
    }
    Ok(Fingerprint {
        names: all.len(),
        digest: h.finish(),
    })
}

/// An overlay hako mounted: `dir/upper`, `dir/work`, mounted at `dir/root`.
#[derive(Debug, Clone)]
pub struct Mounted {
    pub dir: PathBuf,
    pub root: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// The lower directories, top layer first (as in `lowerdir=`).
    pub lowers: Vec<PathBuf>,
    pub options: String,
}

impl Mounted {
    /// The names an overlay in `dir` uses (before it is mounted).
    pub fn plan(dir: &Path, lowers: &[PathBuf]) -> Mounted {
        Mounted {
            dir: dir.to_path_buf(),
            root: dir.join("root"),
            upper: dir.join("upper"),
            work: dir.join("work"),
            lowers: lowers.to_vec(),
            options: String::new(),
        }
    }
}

/// A run's overlay: its directory (`$TMPDIR/hako.…`, 0700), holding `upper`, `work` and
/// the mount point `root`, and the layers, bottom first.
#[derive(Debug, Clone)]
pub struct RunOverlay {
    pub dir: PathBuf,
    pub layers: Vec<Layer>,
    /// `--harden`: the layers are mounted idmapped at `dir/lower-N` (N from the bottom),
    /// and those are the lower directories.
    pub idmapped: bool,
}

impl RunOverlay {
    /// The lower directories as `lowerdir=` names them: the top layer first.
    pub fn lowers(&self) -> Vec<PathBuf> {
        if self.idmapped {
            return (0..self.layers.len())
                .rev()
                .map(|i| self.dir.join(format!("lower-{i}")))
                .collect();
        }
        self.layers.iter().rev().map(|l| l.path.clone()).collect()
    }

    /// The cached layers themselves, top first (what must never change).
    pub fn cached(&self) -> Vec<PathBuf> {
        self.layers.iter().rev().map(|l| l.path.clone()).collect()
    }

    /// `--harden`: each cached layer mounted idmapped at `dir/lower-N` with the user
    /// namespace `userns` (root inside is the map's first id outside), so that the
    /// container's root owns what the host's root owns in the layer, without a chown;
    /// the upper directory's root is made the container root's (it is this run's own,
    /// not a layer) and the run's directory traversable (0711) for it. `record` journals
    /// each mount point before it is mounted.
    pub fn idmap(
        &mut self,
        userns: &std::os::fd::OwnedFd,
        outside: u32,
        mut record: impl FnMut(&Path) -> Result<()>,
    ) -> Result<Vec<String>> {
        use std::os::unix::fs::PermissionsExt;
        let fail = |p: &Path, why: String| {
            Error::failed(tf(
                "err.overlay_idmap",
                &[("path", &clean_path(p)), ("why", &why)],
            ))
        };
        let mut did = vec![];
        for (i, l) in self.layers.iter().enumerate() {
            let at = self.dir.join(format!("lower-{i}"));
            record(&at)?;
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(&at)
                .map_err(|e| fail(&at, e.to_string()))?;
            use std::os::fd::AsFd;
            crate::sys::overlay::idmapped_bind(&l.path, userns.as_fd(), &at)
                .map_err(|e| fail(&l.path, crate::sys::explain(e)))?;
            did.push(tf(
                "overlay.did_idmapped",
                &[("layer", &clean_path(&l.path)), ("at", &clean_path(&at))],
            ));
        }
        self.idmapped = true;
        let upper = self.dir.join("upper");
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&upper)
            .map_err(|e| fail(&upper, e.to_string()))?;
        std::os::unix::fs::lchown(&upper, Some(outside), Some(outside))
            .map_err(|e| fail(&upper, e.to_string()))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o711))
            .map_err(|e| fail(&self.dir, e.to_string()))?;
        did.push(tf(
            "overlay.did_upper_owner",
            &[("upper", &clean_path(&upper)), ("uid", &outside)],
        ));
        Ok(did)
    }

    /// The idmapped lower mounts (`dir/lower-N`), unmounted.
    fn unmount_lowers(&self) -> Vec<String> {
        let mut said = vec![];
        for i in 0..self.layers.len() {
            let at = self.dir.join(format!("lower-{i}"));
            if crate::sys::overlay::any_mount_at(&at) {
                if let Err(e) = crate::sys::overlay::unmount(&at) {
                    said.push(tf(
                        "err.overlay_umount",
                        &[("path", &clean_path(&at)), ("why", &crate::sys::explain(e))],
                    ));
                }
            }
            let _ = std::fs::remove_dir(&at);
        }
        said
    }

    /// The run's own overlay (not mounted yet).
    pub fn plan(&self) -> Mounted {
        Mounted::plan(&self.dir, &self.lowers())
    }

    /// Unmounts the overlay and removes the run's directory (by descriptor, while it is
    /// still the directory `id` names); with `keep`, only the upper directory stays.
    pub fn cleanup(self, id: Option<crate::sys::tree::Id>, keep: bool) -> Vec<String> {
        let mut said = vec![];
        let m = self.plan();
        if keep {
            if let Err(e) = unmount(&m.root) {
                said.push(e.msg);
            }
            said.extend(self.unmount_lowers());
            for d in [&m.work, &m.root] {
                if let Err(e) = super::temp::remove_tree(d) {
                    said.push(e.msg);
                }
            }
            said.push(tf(
                "clean.overlay_kept",
                &[("upper", &clean_path(&m.upper))],
            ));
            return said;
        }
        match super::temp::remove_tree_as(&self.dir, id) {
            Ok(()) => said.push(tf("clean.overlay", &[("path", &clean_path(&self.dir))])),
            Err(e) => said.push(e.msg),
        }
        said
    }
}

/// Makes `upper`, `work` and `root` in the directory `m.dir` (root's, 0700: hako's own)
/// and mounts the overlay at `root`. The caller journals `m.root` first.
pub fn mount(mut m: Mounted) -> Result<Mounted> {
    let opts = crate::sys::overlay::options(&m.lowers, &m.upper, &m.work).ok_or_else(|| {
        Error::failed(tf(
            "err.overlay_options",
            &[
                ("n", &m.lowers.len()),
                ("max", &crate::sys::overlay::MAX_OPTIONS),
            ],
        ))
    })?;
    for d in [&m.upper, &m.work, &m.root] {
        match std::fs::DirBuilder::new().mode(0o755).create(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && is_dir_nofollow(d) => {}
            Err(e) => {
                return Err(Error::failed(tf(
                    "err.overlay_mount",
                    &[("path", &clean_path(d)), ("why", &e.to_string())],
                )))
            }
        }
    }
    crate::sys::overlay::mount(&m.root, &opts).map_err(|e| {
        Error::failed(tf(
            "err.overlay_mount",
            &[
                ("path", &clean_path(&m.root)),
                ("why", &crate::sys::explain(e)),
            ],
        ))
    })?;
    m.options = opts;
    Ok(m)
}

/// Unmounts the overlay at `m.root` when it is there (MNT_DETACH).
pub fn unmount(root: &Path) -> Result<bool> {
    if crate::sys::overlay::mounted_at(root).is_none() {
        return Ok(false);
    }
    crate::sys::overlay::unmount(root).map_err(|e| {
        Error::failed(tf(
            "err.overlay_umount",
            &[
                ("path", &clean_path(root)),
                ("why", &crate::sys::explain(e)),
            ],
        ))
    })?;
    Ok(true)
}

/// A scratch overlay's directory `base/name` (0700), planned on `lowers` (top first).
pub fn scratch(base: &Path, name: &str, lowers: &[PathBuf]) -> Result<Mounted> {
    let dir = base.join(name);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| {
            Error::failed(tf(
                "err.overlay_mount",
                &[("path", &clean_path(&dir)), ("why", &e.to_string())],
            ))
        })?;
    Ok(Mounted::plan(&dir, lowers))
}

/// Unmounts a scratch overlay and removes its directory; what went wrong, if anything.
pub fn drop_scratch(m: &Mounted) -> Vec<String> {
    let mut said = vec![];
    if let Err(e) = unmount(&m.root) {
        said.push(e.msg);
    }
    if let Err(e) = super::temp::remove_tree(&m.dir) {
        said.push(e.msg);
    }
    said
}

/// What a file written through an overlay's merged directory left where.
#[derive(Debug, Clone)]
pub struct WriteSeen {
    pub in_merged: bool,
    pub in_upper: bool,
    /// For each lower directory (top first): whether it has the name.
    pub in_lowers: Vec<bool>,
}

/// Writes `name` (at the top of the tree) through the merged directory, looks for it
/// in the upper and every lower directory, then removes it again.
pub fn write_through(m: &Mounted, name: &str, text: &str) -> std::io::Result<WriteSeen> {
    let merged = m.root.join(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(crate::sys::files::O_NOFOLLOW)
        .open(&merged)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))?;
    let seen = WriteSeen {
        in_merged: std::fs::read_to_string(&merged).is_ok_and(|s| s == text),
        in_upper: std::fs::read_to_string(m.upper.join(name)).is_ok_and(|s| s == text),
        in_lowers: m
            .lowers
            .iter()
            .map(|l| std::fs::symlink_metadata(l.join(name)).is_ok())
            .collect(),
    };
    std::fs::remove_file(&merged)?;
    Ok(seen)
}

/// What removing a lower layer's file through the merged directory did.
#[derive(Debug, Clone)]
pub struct WhiteoutSeen {
    pub rel: PathBuf,
    /// The upper directory now has a character device 0/0 under that name.
    pub whiteout_in_upper: bool,
    /// The merged directory no longer shows the name.
    pub hidden: bool,
    /// The lower layer still has the file.
    pub still_in_lower: bool,
}

/// A regular file of the top-most layer that has one (first in `etc`, else anywhere
/// near the top), as a path relative to the layer: what a whiteout is shown on.
pub fn lower_file(lowers: &[PathBuf]) -> Option<PathBuf> {
    for l in lowers {
        for dir in ["etc", "bin", ""] {
            let Ok(rd) = std::fs::read_dir(l.join(dir)) else {
                continue;
            };
            let mut names: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
            names.sort();
            for n in names {
                let rel = Path::new(dir).join(&n);
                if std::fs::symlink_metadata(l.join(&rel)).is_ok_and(|m| m.file_type().is_file()) {
                    return Some(rel);
                }
            }
        }
    }
    None
}

/// Removes `rel` (a lower layer's regular file) through the merged directory of a
/// scratch overlay and reads what the kernel did: a whiteout in the upper directory,
/// the name gone from the merged view, the lower file untouched.
pub fn whiteout_through(m: &Mounted, rel: &Path) -> std::io::Result<WhiteoutSeen> {
    std::fs::remove_file(m.root.join(rel))?;
    let w = std::fs::symlink_metadata(m.upper.join(rel));
    use std::os::unix::fs::FileTypeExt;
    Ok(WhiteoutSeen {
        rel: rel.to_path_buf(),
        whiteout_in_upper: w.is_ok_and(|w| w.file_type().is_char_device() && w.rdev() == 0),
        hidden: std::fs::symlink_metadata(m.root.join(rel)).is_err(),
        still_in_lower: m
            .lowers
            .iter()
            .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok_and(|x| x.file_type().is_file())),
    })
}

/// The whiteouts and opaque directories a cached layer holds in overlayfs's form.
pub fn count_whiteouts(layer: &Path) -> (usize, usize) {
    use std::os::unix::fs::FileTypeExt;
    let Ok(all) = walk(layer) else {
        return (0, 0);
    };
    let mut w = 0;
    let mut o = 0;
    for (rel, m) in all {
        if m.file_type().is_char_device() && m.rdev() == 0 {
            w += 1;
        } else if m.file_type().is_dir()
            && crate::sys::at::DirFd::open(&layer.join(&rel)).is_ok_and(|d| d.is_opaque())
        {
            o += 1;
        }
    }
    (w, o)
}

/// `hako cleanup --cache`: empties the cache directory (blobs, tags, layers), each
/// name removed by descriptor, never through a link, never across a mount; refused
/// while an overlay mounted from it is in use. Returns what it said.
pub fn empty_cache() -> Result<Vec<String>> {
    let cache = Cache::locate()?;
    let dir = cache.dir;
    let busy = crate::sys::mountinfo::read(None)
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.fstype == "overlay")
        .any(|m| {
            m.super_options
                .split([',', ':', '='])
                .any(|p| Path::new(p).starts_with(&dir))
        });
    if busy {
        return Err(Error::failed(tf(
            "err.cache_busy",
            &[("dir", &clean_path(&dir))],
        )));
    }
    let (dfd, _) = crate::sys::tree::open_dir_nofollow(&dir).map_err(|e| cache_error(&dir, e))?;
    let mut removed = 0;
    let mut said = vec![];
    for n in dfd.names().map_err(|e| cache_error(&dir, e))? {
        use std::os::unix::ffi::OsStrExt;
        let p = dir.join(std::ffi::OsStr::from_bytes(&n));
        let r = match dfd.lstat(n.as_slice()) {
            Ok(st) if crate::sys::files::mode_is_dir(st.st_mode) => {
                crate::sys::tree::remove_tree(&p, crate::sys::tree::id_of(&p))
                    .map_err(|w| w.to_string())
            }
            Ok(_) => dfd.unlink(n.as_slice()).map_err(|e| e.desc().to_string()),
            Err(e) => Err(e.desc().to_string()),
        };
        match r {
            Ok(()) => removed += 1,
            Err(why) => said.push(tf(
                "cleanup.cache_refused",
                &[("path", &clean_path(&p)), ("why", &why)],
            )),
        }
    }
    said.insert(
        0,
        tf(
            "cleanup.cache",
            &[("dir", &clean_path(&dir)), ("n", &removed)],
        ),
    );
    Ok(said)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_is_named_by_its_validated_digest_only() {
        let h = "a".repeat(64);
        for bad in [
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{h}/.."),
            format!("md5:{h}"),
            "sha256:../../etc".to_string(),
            format!("sha256:{}", &h[..63]),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad}");
        }
        let d = Digest::parse(&format!("sha256:{h}")).unwrap();
        let l = Layers {
            dir: PathBuf::from("/var/cache/hako/layers"),
        };
        assert_eq!(
            l.path(&d),
            PathBuf::from(format!("/var/cache/hako/layers/sha256-{h}"))
        );
    }

    #[test]
    fn a_tree_digest_follows_content_and_a_fingerprint_follows_metadata() {
        let base = std::env::temp_dir().join(format!("hako-layers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::write(base.join("a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", base.join("a/l")).unwrap();
        let d1 = tree_digest(&base).unwrap();
        let f1 = fingerprint(&base).unwrap();
        assert_eq!(f1.names, 5);
        assert_eq!(tree_digest(&base).unwrap(), d1);
        assert_eq!(fingerprint(&base).unwrap(), f1);
        std::fs::write(base.join("a/b/f"), "y").unwrap();
        assert_ne!(tree_digest(&base).unwrap(), d1);
        assert_ne!(fingerprint(&base).unwrap(), f1);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
