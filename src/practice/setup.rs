//! What hako prepares before the learner's first command, and removes on every exit
//! path: the run's name (`$UUID`), its directory (made and journaled as the walk's
//! rootfs is, `$TMPDIR/hako.<12 hex>`) holding the empty `$ROOTFS` and `$IMAGE` (with
//! `--overlay`, the empty `$LAYER` and `$OVL` too), and the
//! cgroup directories the learner will make under that name (each hierarchy's `$UUID`,
//! recorded in the journal before the learner can make them, so that `hako cleanup`
//! after a crash finds them, learner-made sub-cgroups included).

use super::image;
use crate::error::{Error, Result};
use crate::journal::{self, Item};
use crate::rootfs::Source;
use crate::sys::cgroup::Layout;
use crate::sys::mountinfo::Mount;
use crate::sys::tree::Id;
use crate::ui::i18n::tf;
use std::path::{Path, PathBuf};

/// The file name of `$IMAGE` in the run's directory.
pub const IMAGE_NAME: &str = "image.tar";

/// What practice made, and what it read of the host at the start.
pub struct Prepared {
    pub uuid: String,
    pub journal: journal::Entry,
    pub layout: Layout,
    pub host_mounts: Vec<Mount>,
    pub host_hostname: String,
    /// The run's directory (`$TMPDIR/hako.<12 hex>`, journaled) and its identity: it
    /// holds `$ROOTFS` and `$IMAGE`.
    pub top: Option<(PathBuf, Option<Id>)>,
    /// `$ROOTFS`: `rootfs` in the run's directory.
    pub rootfs: PathBuf,
    pub image: PathBuf,
    /// With `--overlay`: `$LAYER` and `$OVL`, empty directories beside `$ROOTFS`.
    pub overlay: Option<(PathBuf, PathBuf)>,
    /// Each cgroup hierarchy's `$UUID` directory (made by the learner, or not).
    pub cgroups: Vec<PathBuf>,
    /// What was said while preparing (shown before the first goal).
    pub did: Vec<String>,
}

/// The host tools the article has the learner type, each with the Debian package that
/// brings it.
pub const TOOLS: [(&str, &str); 8] = [
    ("tar", "tar"),
    ("cgcreate", "cgroup-tools"),
    ("cgset", "cgroup-tools"),
    ("cgexec", "cgroup-tools"),
    ("unshare", "util-linux"),
    ("mount", "mount"),
    ("capsh", "libcap2-bin"),
    ("hostname", "hostname"),
];

/// The tools of [`TOOLS`] this host lacks, and the packages to install, in order, each
/// once.
pub fn missing_tools(have: impl Fn(&str) -> bool) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut tools = vec![];
    let mut pkgs: Vec<&str> = vec![];
    for (t, p) in TOOLS {
        if !have(t) {
            tools.push(t);
            if !pkgs.contains(&p) {
                pkgs.push(p);
            }
        }
    }
    (tools, pkgs)
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
pub fn prepare(source: &Source, insecure: bool, overlay: bool) -> Result<Prepared> {
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
        top: None,
        rootfs: PathBuf::new(),
        image: PathBuf::new(),
        overlay: None,
        did: vec![],
    };
    for d in p.cgroups.clone() {
        p.journal.add(Item::Cgroup { path: d })?;
    }
    let (tools, pkgs) = missing_tools(|t| crate::rootfs::host::which(t).is_some());
    if !tools.is_empty() {
        p.did.push(tf(
            "practice.missing_tools",
            &[("tools", &tools.join(", ")), ("pkgs", &pkgs.join(" "))],
        ));
    }
    // One directory, journaled as the walk's rootfs is (named after the UUID): $ROOTFS
    // in it, empty, as `mktemp -d` makes it, and $IMAGE beside it. An older hako
    // reading this journal knows every item in it.
    let top = crate::rootfs::temp_path(&p.uuid);
    p.journal.add(Item::Rootfs {
        path: top.clone(),
        kept: false,
    })?;
    crate::rootfs::create_temp(&top)?;
    p.journal.identify(&top)?;
    p.top = Some((top.clone(), crate::sys::tree::id_of(&top)));
    let root = top.join("rootfs");
    crate::rootfs::create_temp(&root)?;
    p.rootfs = root.clone();
    p.did
        .push(tf("rootfs.did_mktemp", &[("path", &root.display())]));
    if overlay {
        // $LAYER and $OVL, named as `Setup::layer` and `Setup::ovl` name them.
        let (layer, ovl) = (root.with_file_name("layer"), root.with_file_name("ovl"));
        for d in [&layer, &ovl] {
            crate::rootfs::create_temp(d)?;
            p.did
                .push(tf("rootfs.did_mktemp", &[("path", &d.display())]));
        }
        p.overlay = Some((layer, ovl));
    }
    let work = top.clone();
    let tree = top.join("tree");
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
        &self.rootfs
    }

    /// Removes what practice made: the cgroups (the processes still in them killed
    /// first, by PID, as listed in their `cgroup.procs`; sub-cgroups first), every
    /// mount under the run's directory (deepest first, detached; an overlay mounted at
    /// `$ROOTFS` itself is one of them), then that directory with `$ROOTFS`, `$IMAGE`
    /// (and `$LAYER`, `$OVL`) in it.
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
        if let Some((top, id)) = self.top.take() {
            let n = crate::sys::tree::unmount_under(&top);
            if n > 0 {
                said.push(tf(
                    "practice.clean_mounts",
                    &[("n", &n), ("path", &top.display())],
                ));
            }
            match crate::rootfs::remove_tree_as(&top, id) {
                Ok(()) => said.push(tf("clean.rootfs", &[("path", &top.display())])),
                Err(_) if !top.exists() => {}
                Err(e) => said.push(e.msg),
            }
            if !top.exists() {
                self.journal.done(&Item::Rootfs {
                    path: top,
                    kept: false,
                });
            }
        }
        if let Err(e) = self.journal.release() {
            said.push(e.to_string());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tools_name_their_packages_once() {
        let (t, p) = missing_tools(|t| !t.starts_with("cg") && t != "capsh");
        assert_eq!(t, ["cgcreate", "cgset", "cgexec", "capsh"]);
        assert_eq!(p, ["cgroup-tools", "libcap2-bin"]);
        assert_eq!(missing_tools(|_| true), (vec![], vec![]));
    }

    #[test]
    fn every_cgroup_hierarchy_gets_the_name() {
        let m = crate::sys::mountinfo::parse(
            "1 0 0:1 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n2 0 0:2 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n3 0 0:3 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n4 0 0:4 / /proc rw - proc proc rw\n",
        );
        assert_eq!(
            cgroup_dirs(&m, "u"),
            [
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/u"),
                PathBuf::from("/sys/fs/cgroup/memory/u"),
                PathBuf::from("/sys/fs/cgroup/unified/u")
            ]
        );
    }
}
