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
use crate::sys::files::{is_dir_nofollow, list_tree, make_dir, read_chunks, rename, Lstat};
use crate::ui::i18n::tf;
use crate::ui::sanitize::clean_path;
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

fn cache_error(dir: &Path, e: impl Into<CacheWhy>) -> Error {
    let CacheWhy(e) = e.into();
    Error::failed(tf(
        "err.layers",
        &[("dir", &clean_path(dir)), ("why", &crate::sys::explain(e))],
    ))
}

/// An I/O error as a learner reads it (the errno's sentence, not its raw text).
fn io_why(e: &std::io::Error) -> String {
    crate::sys::explain(crate::sys::io_errno(e))
}

/// Why the cache could not be used: the errno, from a system call's own or an I/O error.
struct CacheWhy(crate::sys::Errno);

impl From<crate::sys::Errno> for CacheWhy {
    fn from(e: crate::sys::Errno) -> Self {
        CacheWhy(e)
    }
}

impl From<std::io::Error> for CacheWhy {
    fn from(e: std::io::Error) -> Self {
        CacheWhy(crate::sys::io_errno(&e))
    }
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
    fn lock(&self, key: &Digest) -> Result<crate::sys::overlay::Locked> {
        let p = self.dir.join(format!("{}.lock", name(key)));
        crate::sys::overlay::locked(&p).map_err(|e| cache_error(&self.dir, e))
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
        make_dir(&tmp, 0o755).map_err(|e| cache_error(&self.dir, e))?;
        let did = match fill(&tmp) {
            Ok(d) => d,
            Err(e) => {
                let _ = crate::sys::tree::remove_tree(&tmp, None);
                return Err(e);
            }
        };
        rename(&tmp, &path).map_err(|e| cache_error(&self.dir, e))?;
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
        make_dir(&tmp, 0o755).map_err(|e| cache_error(&self.dir, e))?;
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
            rename(&tmp, &path).map_err(|e| cache_error(&self.dir, e))?;
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
    let mut h = Hasher::new(Algorithm::Sha256);
    read_chunks(p, |b| h.update(b))?;
    Ok(h.finish())
}

/// The key of a layer hako built itself (`host`): the sha256 over every name's path,
/// kind, mode, owner, and its content (a file's bytes, a link's target). A file with
/// several names (busybox's applets are hard links) is read once: its other names hash
/// the first one's path instead.
pub fn tree_digest(root: &Path) -> std::io::Result<Digest> {
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut seen: std::collections::HashMap<(u64, u64), PathBuf> = Default::default();
    for (rel, m) in list_tree(root)? {
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update(format!("\0{:o} {} {} {}\0", m.mode, m.uid, m.gid, m.size).as_bytes());
        let p = root.join(&rel);
        let id = (m.dev, m.ino);
        if m.is_symlink() {
            let target = crate::sys::files::read_link(&p)
                .ok_or_else(|| std::io::Error::other(format!("readlink {}", p.display())))?;
            h.update(target.as_os_str().as_encoded_bytes());
        } else if m.is_file() && m.nlink > 1 && seen.contains_key(&id) {
            h.update(b"=");
            h.update(seen[&id].as_os_str().as_encoded_bytes());
        } else if m.is_file() {
            if m.nlink > 1 {
                seen.insert(id, rel.clone());
            }
            read_chunks(&p, |b| h.update(b))?;
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
    let top = Lstat::of(root)?;
    let mut all = list_tree(root)?;
    all.insert(0, (PathBuf::new(), top));
    for (rel, m) in &all {
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update(
            format!(
                "\0{} {:o} {} {} {} {}.{}\n",
                m.ino, m.mode, m.uid, m.gid, m.size, m.mtime, m.mtime_nsec
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
        userns: &crate::sys::OwnedFd,
        outside: u32,
        mut record: impl FnMut(&Path) -> Result<()>,
    ) -> Result<Vec<String>> {
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
            make_dir(&at, 0o755).map_err(|e| fail(&at, io_why(&e)))?;
            crate::sys::overlay::idmapped_bind(&l.path, userns, &at)
                .map_err(|e| fail(&l.path, crate::sys::explain(e)))?;
            did.push(tf(
                "overlay.did_idmapped",
                &[("layer", &clean_path(&l.path)), ("at", &clean_path(&at))],
            ));
        }
        self.idmapped = true;
        let upper = self.dir.join("upper");
        make_dir(&upper, 0o755).map_err(|e| fail(&upper, io_why(&e)))?;
        crate::sys::files::lchown(&upper, outside, outside)
            .map_err(|e| fail(&upper, io_why(&e)))?;
        crate::sys::files::set_mode(&self.dir, 0o711).map_err(|e| fail(&self.dir, io_why(&e)))?;
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
            let _ = crate::sys::rmdir(&at);
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
        match make_dir(d, 0o755) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && is_dir_nofollow(d) => {}
            Err(e) => {
                return Err(Error::failed(tf(
                    "err.overlay_mount",
                    &[("path", &clean_path(d)), ("why", &io_why(&e))],
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
    make_dir(&dir, 0o700).map_err(|e| {
        Error::failed(tf(
            "err.overlay_mount",
            &[("path", &clean_path(&dir)), ("why", &io_why(&e))],
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
    use crate::sys::files::{exists_nofollow, read_text, write_new};
    write_new(&merged, text).map_err(std::io::Error::from)?;
    let seen = WriteSeen {
        in_merged: read_text(&merged).is_some_and(|s| s == text),
        in_upper: read_text(&m.upper.join(name)).is_some_and(|s| s == text),
        in_lowers: m
            .lowers
            .iter()
            .map(|l| exists_nofollow(&l.join(name)))
            .collect(),
    };
    crate::sys::files::remove_file(&merged)?;
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
            let Some(mut names) = crate::sys::files::names(&l.join(dir)) else {
                continue;
            };
            names.sort();
            for n in names {
                let rel = Path::new(dir).join(&n);
                if Lstat::of(&l.join(&rel)).is_ok_and(|m| m.is_file()) {
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
    crate::sys::files::remove_file(&m.root.join(rel))?;
    Ok(WhiteoutSeen {
        rel: rel.to_path_buf(),
        whiteout_in_upper: Lstat::of(&m.upper.join(rel)).is_ok_and(|w| w.is_whiteout()),
        hidden: !crate::sys::files::exists_nofollow(&m.root.join(rel)),
        still_in_lower: m
            .lowers
            .iter()
            .any(|l| Lstat::of(&l.join(rel)).is_ok_and(|x| x.is_file())),
    })
}

/// The whiteouts and opaque directories a cached layer holds in overlayfs's form.
pub fn count_whiteouts(layer: &Path) -> (usize, usize) {
    let Ok(all) = list_tree(layer) else {
        return (0, 0);
    };
    let mut w = 0;
    let mut o = 0;
    for (rel, m) in all {
        if m.is_whiteout() {
            w += 1;
        } else if m.is_dir()
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
        let p = crate::sys::tree::child_path(&dir, &n);
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
        use crate::sys::files::{remove_file, write_new};
        let base = std::env::temp_dir().join(format!("hako-layers-{}", std::process::id()));
        let _ = crate::sys::tree::remove_tree(&base, None);
        for d in [&base, &base.join("a"), &base.join("a/b")] {
            make_dir(d, 0o755).unwrap();
        }
        write_new(&base.join("a/b/f"), "x").unwrap();
        crate::sys::symlink("/etc/passwd", &base.join("a/l")).unwrap();
        let d1 = tree_digest(&base).unwrap();
        let f1 = fingerprint(&base).unwrap();
        assert_eq!(f1.names, 5);
        assert_eq!(tree_digest(&base).unwrap(), d1);
        assert_eq!(fingerprint(&base).unwrap(), f1);
        remove_file(&base.join("a/b/f")).unwrap();
        write_new(&base.join("a/b/f"), "y").unwrap();
        assert_ne!(tree_digest(&base).unwrap(), d1);
        assert_ne!(fingerprint(&base).unwrap(), f1);
        crate::sys::tree::remove_tree(&base, None).unwrap();
    }
}
