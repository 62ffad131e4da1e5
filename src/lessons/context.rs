//! What the lessons work on: the run's [`Options`], the [`Context`] that passes from
//! one lesson to the next, and each lesson's own [`Scratch`]. The lessons layer owns
//! these types; the walk (the runner) creates a context and hands it to each lesson.

use crate::agent::Agent;
use crate::error::{Error, Result};
use crate::journal::{self, Item};
use crate::rootfs::{Rootfs, Source};
use crate::spec::CpuSpec;
use crate::sys::cgroup::{Cgroup, Layout};
use crate::sys::mountinfo::Mount;
use crate::ui::i18n::{t, tf};
use std::any::{Any, TypeId};
use std::collections::HashMap;

/// A lesson's notes to itself, between its `run` and its `check` or `demo`, each
/// under a type the lesson declares privately (so no other lesson can read or
/// write them). A lesson that finds no note gets the type's default.
#[derive(Default)]
pub struct Scratch(HashMap<TypeId, Box<dyn Any>>);

impl Scratch {
    /// The note of type `T`, made with its default when there is none.
    pub fn get<T: Any + Default>(&mut self) -> &mut T {
        self.0
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut::<T>()
            .expect("a scratch slot holds the type it is keyed by")
    }

    /// Takes the note of type `T` out (the default when there was none).
    pub fn take<T: Any + Default>(&mut self) -> T {
        self.0
            .remove(&TypeId::of::<T>())
            .and_then(|b| b.downcast::<T>().ok())
            .map(|b| *b)
            .unwrap_or_default()
    }
}

/// The run's options, from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub interactive: bool,
    pub memory: u64,
    pub cpu: CpuSpec,
    pub keep: bool,
    pub source: Source,
    /// Plain HTTP to a registry off this machine (`--insecure`).
    pub insecure: bool,
    pub cmd: Vec<String>,
    /// `--demos`: run every lesson's demonstration after its check.
    pub demos: bool,
    /// `--from ID`: the lessons before it run silently, to build the state it needs.
    pub from: Option<String>,
    /// `--to ID`: the walk stops after it, cleaning up.
    pub to: Option<String>,
    /// `--pace SECONDS`: a pause after each lesson of an `--auto` walk.
    pub pace: Option<std::time::Duration>,
    /// `--harden`: the confining lessons too.
    pub harden: bool,
    /// `--pids N`: the pids lesson, with this limit.
    pub pids: Option<u64>,
    /// `--net`: the network lesson.
    pub net: bool,
    /// `--subnet CIDR`: the network lesson's subnet (None: a free one is picked).
    pub subnet: Option<crate::spec::Subnet>,
    /// `--overlay`: the rootfs is an overlay of cached layers.
    pub overlay: bool,
}

impl Options {
    /// A walk without a command line: the article's limits, `/bin/sh`, no optional lesson
    /// (what `hako doctor` examines, and what the unit tests start from).
    pub fn quiet(source: crate::rootfs::Source) -> Options {
        Options {
            interactive: false,
            memory: 10_000_000,
            cpu: Default::default(),
            keep: false,
            source,
            insecure: false,
            cmd: vec![],
            demos: false,
            from: None,
            to: None,
            pace: None,
            harden: false,
            pids: None,
            net: false,
            subnet: None,
            overlay: false,
        }
    }
}

/// What passes from one lesson to the next: the run's options, what the walk built
/// (rootfs, cgroup, agent), and the few facts a later lesson needs from an earlier one.
/// A lesson's notes to itself (from its `run` to its `check` or `demo`) live in
/// [`Scratch`], under a type only that lesson names.
pub struct Context {
    pub opts: Options,
    /// The container's name: the cgroup's and, later, the hostname inside.
    pub uuid: String,
    /// The host's mount table, read once by preflight (for the cgroup layout, the
    /// pivot_root check and the caps demonstration).
    pub host_mounts: Vec<Mount>,
    /// Where the cgroup controllers are mounted (preflight).
    pub layout: Option<Layout>,
    /// The rootfs (the rootfs lesson), removed at the end unless kept.
    pub rootfs: Option<Rootfs>,
    /// The container's cgroup (the cgroup lesson), removed at the end.
    pub cgroup: Option<Cgroup>,
    /// The agent, and PID 1 after the fork.
    pub agent: Option<Agent>,
    /// The host's hostname when the walk started, for the hostname check to show it
    /// never changed.
    pub host_hostname: String,
    /// What the guide saw of the command, stopped at its exec (written by chroot, or
    /// seccomp under `--harden`): a snapshot, because the beyond lesson and the
    /// summary come after the command ended. The checks of chroot and seccomp read
    /// PID 1 itself.
    pub exec: Option<ExecSeen>,
    /// What this run created, on disk, so that a run that dies is cleaned up later.
    pub journal: journal::Entry,
    /// Set by the runner before a lesson's `run`: its demonstration will follow the
    /// check (`--demos`, or "see it"). chroot and seccomp prepare theirs before the exec.
    pub demo_wanted: bool,
    /// The cgroup's counters just before the command started: (file, key, value).
    /// Written by the shell lesson, read by its check and by the walk's summary.
    pub at_command: Option<Vec<(String, String, String)>>,
    /// Each lesson's notes to itself, by a type of its own.
    pub scratch: Scratch,
}

impl Context {
    pub fn new(opts: Options) -> Context {
        let uuid = uuid::Uuid::new_v4().to_string();
        Context {
            opts,
            journal: journal::Entry::new(&uuid),
            uuid,
            host_mounts: vec![],
            layout: None,
            rootfs: None,
            cgroup: None,
            agent: None,
            host_hostname: crate::sys::ns::hostname(),
            exec: None,
            demo_wanted: false,
            at_command: None,
            scratch: Scratch::default(),
        }
    }

    /// The rootfs path, as the shell equivalents show it (`$ROOTFS` until it exists).
    pub fn rootfs_shown(&self) -> String {
        self.rootfs
            .as_ref()
            .map(|r| r.path.display().to_string())
            .unwrap_or_else(|| "$ROOTFS".to_string())
    }

    pub fn layout(&self) -> Result<&Layout> {
        self.layout
            .as_ref()
            .ok_or_else(|| Error::failed(t("err.no_layout")))
    }

    /// Records in the journal something about to be created.
    pub fn record(&mut self, item: Item) -> Result<()> {
        self.journal.add(item)
    }

    /// For a `dir:` rootfs (which hako does not own), records each of `rels` that does
    /// not exist yet, before a step may create it.
    pub fn record_added(&mut self, rels: &[&str]) -> Result<()> {
        let Some(r) = self.rootfs.as_ref().filter(|r| !r.owned) else {
            return Ok(());
        };
        let under = r.path.clone();
        for rel in rels {
            let path = under.join(rel);
            if !crate::sys::files::exists_nofollow(&path) {
                self.journal.add(Item::Added {
                    path,
                    under: under.clone(),
                })?;
            }
        }
        Ok(())
    }

    pub fn agent(&mut self) -> Result<&mut Agent> {
        self.agent
            .as_mut()
            .ok_or_else(|| Error::failed(t("err.no_agent")))
    }

    pub fn root(&self) -> Result<std::path::PathBuf> {
        self.rootfs
            .as_ref()
            .map(|r| r.path.clone())
            .ok_or_else(|| Error::failed(t("err.no_rootfs")))
    }

    /// The `cgroup.procs` files a process joins the container's cgroup through: the
    /// pids hierarchy's too (v1) once the pids lesson made its directory.
    pub fn join_files(&self) -> Result<Vec<std::path::PathBuf>> {
        let pids = self.cgroup.as_ref().is_some_and(|c| c.pids);
        Ok(self.layout()?.procs_files_with(&self.uuid, pids))
    }

    pub fn cgroup(&self) -> Result<&Cgroup> {
        self.cgroup
            .as_ref()
            .ok_or_else(|| Error::failed(t("err.no_cgroup")))
    }

    /// Removes everything the walk created, newest first; returns what it said.
    /// Safe to call more than once.
    pub fn cleanup(&mut self) -> Vec<String> {
        let mut said = vec![];
        self.journal.hold();
        if let Some(mut a) = self.agent.take() {
            if a.alive() {
                a.kill();
                said.push(t("clean.agent").to_string());
            }
            // Killed and reaped now (or long gone): strike them all, whatever their
            // state when they were recorded.
            let procs: Vec<Item> = self
                .journal
                .journal
                .items
                .iter()
                .filter(|i| matches!(i, Item::Process(_)))
                .cloned()
                .collect();
            for p in procs {
                self.journal.done(&p);
            }
        }
        // The network (--net), newest change first: the journal names each one.
        let nets: Vec<Item> = self
            .journal
            .journal
            .items
            .iter()
            .rev()
            .filter(|i| matches!(i, Item::Net { .. }))
            .cloned()
            .collect();
        for i in nets {
            if let Item::Net { change, .. } = &i {
                match journal::net::undo(change) {
                    journal::net::Undone::Nothing => {}
                    journal::net::Undone::Done(s) => said.push(s),
                    journal::net::Undone::Failed(s) => {
                        said.push(s);
                        continue;
                    }
                }
            }
            self.journal.done(&i);
        }
        if let Some(mut cg) = self.cgroup.take() {
            let all = cg.created.clone();
            let dirs: Vec<String> = all.iter().map(|d| d.display().to_string()).collect();
            let r = cg.remove();
            for d in all.iter().filter(|d| !cg.created.contains(d)) {
                self.journal.done(&Item::Cgroup { path: d.clone() });
            }
            match r {
                Ok(()) if !dirs.is_empty() => {
                    said.push(tf("clean.cgroup", &[("dirs", &dirs.join(", "))]))
                }
                Ok(()) => {}
                Err(e) => said.push(e.msg),
            }
            if !cg.enabled.is_empty() {
                said.push(tf(
                    "clean.controllers_left",
                    &[
                        ("controllers", &cg.enabled.join(" ")),
                        (
                            "path",
                            &cg.layout.memory.join("cgroup.subtree_control").display(),
                        ),
                    ],
                ));
            }
        }
        if let Some(r) = self.rootfs.take() {
            let path = r.journal_path();
            let owned = r.owned;
            said.extend(r.cleanup(self.opts.keep));
            if owned && self.opts.keep {
                if let Err(e) = self.journal.set_kept(&path) {
                    said.push(e.to_string());
                }
            } else if !path.exists() || !owned {
                self.journal.done(&Item::Rootfs {
                    path: path.clone(),
                    kept: false,
                });
            }
            if !owned {
                let added: Vec<Item> = self
                    .journal
                    .journal
                    .items
                    .iter()
                    .filter(|i| matches!(i, Item::Added { path, .. } if !crate::sys::files::exists_nofollow(path)))
                    .cloned()
                    .collect();
                for i in added {
                    self.journal.done(&i);
                }
            }
        }
        // The overlays are gone once unmounted (or never were).
        let overlays: Vec<Item> = self
            .journal
            .journal
            .items
            .iter()
            .filter(
                |i| matches!(i, Item::Overlay { path } if !crate::sys::overlay::any_mount_at(path)),
            )
            .cloned()
            .collect();
        for i in overlays {
            self.journal.done(&i);
        }
        if let Err(e) = self.journal.release() {
            said.push(e.to_string());
        }
        said
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // The safety net for a panic: nothing the walk made survives it.
        for l in self.cleanup() {
            crate::ui::render::note(&l);
        }
    }
}

/// The command as the guide saw it from the host, stopped at its exec.
#[derive(Debug, Clone, Default)]
pub struct ExecSeen {
    pub pid: i32,
    /// `/proc/PID/root`.
    pub root: String,
    /// `/proc/PID/exe`.
    pub exe: String,
    /// The Cap*, NoNewPrivs and Seccomp lines of `/proc/PID/status`.
    pub status: Vec<(String, String)>,
    pub uid_map: String,
    /// `/proc/PID/fd`: each descriptor, what it points at, and whether it is a
    /// terminal that is not the container's own (one of hako's).
    pub fds: Vec<(i32, String, bool)>,
}

impl ExecSeen {
    pub fn field(&self, name: &str) -> &str {
        self.status
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
    pub fn caps(&self, name: &str) -> u64 {
        u64::from_str_radix(self.field(name), 16).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Debug, PartialEq)]
    struct Mine(u32);
    #[derive(Default, Debug, PartialEq)]
    struct Theirs(String);

    #[test]
    fn scratch_keeps_each_type_apart() {
        let mut s = Scratch::default();
        assert_eq!(*s.get::<Mine>(), Mine(0));
        s.get::<Mine>().0 = 7;
        s.get::<Theirs>().0.push('x');
        assert_eq!(s.get::<Mine>().0, 7);
        assert_eq!(s.take::<Theirs>(), Theirs("x".into()));
        assert_eq!(s.take::<Theirs>(), Theirs::default());
        assert_eq!(s.take::<Mine>(), Mine(7));
    }
}
