//! What hako prepares before the learner's first command, and removes on every exit
//! path: the run's name (`$UUID`), the empty `$ROOTFS` (made and journaled as the
//! walk's rootfs is), the work directory beside it holding `$IMAGE`, and the cgroup
//! directories the learner will make under that name (each hierarchy's `$UUID`,
//! recorded in the journal before the learner can make them, so that `hako cleanup`
//! after a crash finds them, learner-made sub-cgroups included).

use super::image;
use crate::error::{Error, Result};
use crate::journal::{self, Item};
use crate::rootfs::Source;
use crate::sys::cgroup::Layout;
use crate::sys::mountinfo::Mount;
use crate::sys::tree::Id;
use crate::ui::i18n::{t, tf};
use std::path::{Path, PathBuf};

/// The file name of `$IMAGE` in the work directory.
pub const IMAGE_NAME: &str = "image.tar";

/// What practice made, and what it read of the host at the start.
pub struct Prepared {
    pub uuid: String,
    pub journal: journal::Entry,
    pub layout: Layout,
    pub host_mounts: Vec<Mount>,
    pub host_hostname: String,
    /// `$ROOTFS` and its identity when made.
    pub rootfs: Option<(PathBuf, Option<Id>)>,
    /// The work directory (holding `$IMAGE`) and its identity.
    pub work: Option<(PathBuf, Option<Id>)>,
    pub image: PathBuf,
    /// Each cgroup hierarchy's `$UUID` directory (made by the learner, or not).
    pub cgroups: Vec<PathBuf>,
    /// What was said while preparing (shown before the first goal).
    pub did: Vec<String>,
}

/// The cgroup directories named `uuid` in every cgroup hierarchy of `mounts`.
pub fn cgroup_dirs(mounts: &[Mount], uuid: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .map(|m| m.mount_point.join(uuid))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Prepares a practice run; whatever it made is removed by [`Prepared::cleanup`] (also
/// on drop), even when preparing fails half-way.
pub fn prepare(source: &Source, insecure: bool) -> Result<Prepared> {
    let host_mounts = crate::sys::mountinfo::read(None)
        .map_err(|e| Error::failed(tf("err.mountinfo", &[("why", &e)])))?;
    let layout = crate::sys::cgroup::detect(&host_mounts)
        .map_err(|m| Error::failed(tf("pre.layout_missing", &[("what", &m)])))?;
    let uuid = uuid::Uuid::new_v4().to_string();
    let mut p = Prepared {
        journal: journal::Entry::new(&uuid),
        cgroups: cgroup_dirs(&host_mounts, &uuid),
        uuid,
        layout,
        host_mounts,
        host_hostname: crate::sys::ns::hostname(),
        rootfs: None,
        work: None,
        image: PathBuf::new(),
        did: vec![],
    };
    for d in p.cgroups.clone() {
        p.journal.add(Item::Cgroup { path: d })?;
    }
    // $ROOTFS: empty, as `mktemp -d` makes it.
    let root = crate::rootfs::temp_path(&p.uuid);
    p.journal.add(Item::Rootfs {
        path: root.clone(),
        kept: false,
    })?;
    crate::rootfs::create_temp(&root)?;
    p.journal.identify(&root)?;
    p.rootfs = Some((root.clone(), crate::sys::tree::id_of(&root)));
    p.did
        .push(tf("rootfs.did_mktemp", &[("path", &root.display())]));
    // The work directory, and $IMAGE in it.
    let work = crate::rootfs::tmpdir().join(journal::work_name(&p.uuid));
    p.journal.add(Item::Work { path: work.clone() })?;
    crate::rootfs::create_temp(&work)?;
    p.journal.identify(&work)?;
    p.work = Some((work.clone(), crate::sys::tree::id_of(&work)));
    let tree = work.join("tree");
    let from: PathBuf = match source {
        Source::Dir(d) => d.clone(),
        _ => {
            crate::sys::mkdir_private(&tree).map_err(|e| {
                crate::sys::failure(&tf("do.mktemp", &[("path", &tree.display())]), e)
            })?;
            let uuid = p.uuid.clone();
            let journal = &mut p.journal;
            let mut record = |i: Item| journal.add(i);
            let mut done_list: Vec<Item> = vec![];
            let mut done = |i: &Item| done_list.push(i.clone());
            let r = image::fill(&tree, source, &uuid, insecure, &mut record, &mut done);
            for i in &done_list {
                p.journal.done(i);
            }
            p.did.extend(r?);
            tree.clone()
        }
    };
    let dir = crate::sys::at::DirFd::open(&work)
        .map_err(|e| crate::sys::failure(&tf("do.mktemp", &[("path", &work.display())]), e))?;
    let n = image::write_tar(&from, &dir, IMAGE_NAME)?;
    p.image = work.join(IMAGE_NAME);
    p.did.push(tf(
        "practice.did_image",
        &[
            ("path", &p.image.display()),
            ("n", &n),
            ("source", &source.describe()),
        ],
    ));
    if from == tree {
        // The tree was only the tar's source.
        let _ = crate::sys::tree::remove_tree(&tree, None);
    }
    Ok(p)
}

impl Prepared {
    /// `$ROOTFS`.
    pub fn root(&self) -> &Path {
        self.rootfs
            .as_ref()
            .map(|(p, _)| p.as_path())
            .unwrap_or(Path::new(""))
    }

    /// Removes what practice made: the cgroups (the processes still in them killed
    /// first, by PID, as listed in their `cgroup.procs`; sub-cgroups first), every
    /// mount under `$ROOTFS` (deepest first, detached), `$ROOTFS`, the work directory.
    /// Never through a link, never across a mount. Safe to call more than once.
    pub fn cleanup(&mut self) -> Vec<String> {
        let mut said = vec![];
        self.journal.hold();
        let mut removed = vec![];
        for d in std::mem::take(&mut self.cgroups) {
            if !d.exists() {
                self.journal.done(&Item::Cgroup { path: d });
                continue;
            }
            let mut v = vec![d.clone()];
            match crate::sys::cgroup::remove_dirs(&mut v) {
                Ok(()) => {
                    removed.push(d.display().to_string());
                    self.journal.done(&Item::Cgroup { path: d });
                }
                Err(e) => said.push(e.msg),
            }
        }
        if !removed.is_empty() {
            said.push(tf("clean.cgroup", &[("dirs", &removed.join(", "))]));
        }
        if let Some((root, id)) = self.rootfs.take() {
            let n = crate::sys::tree::unmount_under(&root);
            if n > 0 {
                said.push(tf(
                    "practice.clean_mounts",
                    &[("n", &n), ("path", &root.display())],
                ));
            }
            match crate::rootfs::remove_tree_as(&root, id) {
                Ok(()) => said.push(tf("clean.rootfs", &[("path", &root.display())])),
                Err(e) if !root.exists() => {
                    let _ = e;
                }
                Err(e) => said.push(e.msg),
            }
            if !root.exists() {
                self.journal.done(&Item::Rootfs {
                    path: root,
                    kept: false,
                });
            }
        }
        if let Some((work, id)) = self.work.take() {
            match crate::rootfs::remove_tree_as(&work, id) {
                Ok(()) => said.push(tf("clean.rootfs", &[("path", &work.display())])),
                Err(_) if !work.exists() => {}
                Err(e) => said.push(e.msg),
            }
            if !work.exists() {
                self.journal.done(&Item::Work { path: work });
            }
        }
        if let Err(e) = self.journal.release() {
            said.push(e.to_string());
        }
        let _ = t;
        said
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // The safety net for a panic or an early error: nothing practice made survives.
        for l in self.cleanup() {
            crate::ui::render::note(&l);
        }
    }
}
