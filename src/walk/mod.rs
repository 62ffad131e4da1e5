//! The runner: walks the lessons in order, interactive or `--auto`, and holds the
//! state that passes between them. Whatever the walk created is removed on every
//! exit path (the end, a failed check, quit, a signal, a panic).

pub mod render;

use crate::agent::Agent;
use crate::error::{Error, Kind, Result};
use crate::i18n::{t, tf};
use crate::journal::{self, Item};
use crate::lessons::{self, Lesson};
use crate::rootfs::{Rootfs, Source};
use crate::spec::CpuSpec;
use crate::sys::cgroup::{Cgroup, Layout};
use crate::sys::mountinfo::Mount;
use crate::sys::signals;

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
}

/// What passes from one lesson to the next.
pub struct State {
    pub opts: Options,
    /// The container's name: the cgroup's and, later, the hostname inside.
    pub uuid: String,
    /// The host's mount table, read once at preflight.
    pub host_mounts: Vec<Mount>,
    pub layout: Option<Layout>,
    pub rootfs: Option<Rootfs>,
    pub cgroup: Option<Cgroup>,
    /// The agent, and PID 1 after the fork.
    pub agent: Option<Agent>,
    /// The host's hostname when the walk started, to show it never changed.
    pub host_hostname: String,
    /// What the guide saw of the command, stopped at its exec.
    pub exec: Option<ExecSeen>,
    /// What this run created, on disk, so that a run that dies is cleaned up later.
    pub journal: journal::Entry,
    /// The current lesson's demonstration was asked for (`--demos`, or "see it").
    pub demo_now: bool,
    /// The chroot escape, tried inside before the exec: (with CAP_SYS_CHROOT, without).
    pub escape: Option<(
        crate::sys::demo::EscapeOutcome,
        crate::sys::demo::EscapeOutcome,
    )>,
}

impl State {
    pub fn new(opts: Options) -> State {
        let uuid = uuid::Uuid::new_v4().to_string();
        State {
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
            demo_now: false,
            escape: None,
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
            if std::fs::symlink_metadata(&path).is_err() {
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
            // Struck off by PID: once reaped, /proc no longer gives their start times.
            let pids = [Some(a.pid()), a.pid1];
            let ours: Vec<Item> = self
                .journal
                .journal
                .items
                .iter()
                .filter(|i| matches!(i, Item::Process(p) if pids.contains(&Some(p.pid))))
                .cloned()
                .collect();
            for i in ours {
                self.journal.done(&i);
            }
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
            let path = r.path.clone();
            let owned = r.owned;
            said.extend(r.cleanup(self.opts.keep));
            if owned && self.opts.keep {
                self.journal.set_kept(&path);
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
                    .filter(|i| matches!(i, Item::Added { path, .. } if std::fs::symlink_metadata(path).is_err()))
                    .cloned()
                    .collect();
                for i in added {
                    self.journal.done(&i);
                }
            }
        }
        self.journal.release();
        said
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // The safety net for a panic: nothing the walk made survives it.
        for l in self.cleanup() {
            render::note(&l);
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

pub fn utf8_locale() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .map(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
        .unwrap_or(false)
}

/// Hidden, test-only: a comma-separated list of lesson ids whose `run` is left out.
pub const SKIP_ENV: &str = "HAKO_TEST_SKIP";

enum Choice {
    Run,
    RunAndSee,
    More,
    Quit,
}

fn ask(prompt: &str, demo: bool) -> Result<Choice> {
    let mut items = vec![(t("prompt.run"), Choice::Run)];
    if demo {
        items.push((t("prompt.see"), Choice::RunAndSee));
    }
    items.push((t("prompt.more"), Choice::More));
    items.push((t("prompt.quit"), Choice::Quit));
    let r = dialoguer::Select::new()
        .with_prompt(prompt)
        .items(items.iter().map(|(s, _)| *s))
        .default(0)
        .interact_on_opt(&console::Term::stderr());
    match r {
        Ok(Some(i)) if i < items.len() => Ok(items.swap_remove(i).1),
        Ok(_) => Ok(Choice::Quit),
        Err(_) => Err(interrupted()),
    }
}

fn wait_enter() -> Result<()> {
    let term = console::Term::stderr();
    let _ = term.write_str(&format!("{} ", console::style(t("prompt.continue")).dim()));
    match term.read_line() {
        Ok(_) => Ok(()),
        Err(_) => Err(interrupted()),
    }
}

fn interrupted() -> Error {
    match signals::take() {
        Some(nix::sys::signal::Signal::SIGTERM) | Some(nix::sys::signal::Signal::SIGHUP) => {
            Error::new(Kind::Terminated, t("err.terminated"))
        }
        _ => Error::new(Kind::Interrupted, t("err.quit")),
    }
}

/// Stops the walk when a signal came in since the last step.
fn check_signals() -> Result<()> {
    if signals::peek().is_some() {
        return Err(interrupted());
    }
    Ok(())
}

fn step(st: &mut State, lesson: &dyn Lesson, i: usize, n: usize) -> Result<()> {
    let prose = lessons::prose(lesson.id());
    render::header(i, n, lesson.id(), &prose.title);
    render::paragraph(&prose.summary);
    render::shell_block(t("label.shell"), &lesson.shell(st));
    st.demo_now = st.opts.demos && lesson.has_demo();
    if st.opts.interactive {
        loop {
            render::blank();
            // A Ctrl-C typed while the text was printing arrived as a signal already.
            check_signals()?;
            match ask(t("prompt.what"), lesson.has_demo())? {
                Choice::Run => break,
                Choice::RunAndSee => {
                    st.demo_now = true;
                    break;
                }
                Choice::More => {
                    for (h, body) in &prose.sections {
                        render::blank();
                        render::note(&console::style(h).bold().to_string());
                        render::paragraph(body);
                    }
                }
                Choice::Quit => return Err(Error::new(Kind::Interrupted, t("err.quit"))),
            }
        }
    }
    check_signals()?;
    // Hidden, test-only: leave a stage out to prove its check then fails.
    if std::env::var("HAKO_TEST_PANIC").is_ok_and(|v| v == lesson.id()) {
        panic!("HAKO_TEST_PANIC={}", lesson.id());
    }
    let t0 = std::time::Instant::now();
    let did = if std::env::var(SKIP_ENV).is_ok_and(|v| v.split(',').any(|s| s == lesson.id())) {
        vec![t("note.skipped").to_string()]
    } else {
        lesson.run(st)?
    };
    render::did(t("label.did"), &did);
    check_signals()?;
    let check = lesson.check(st);
    crate::bench::figure(&format!("lesson_us.{}", lesson.id()), crate::bench::us(t0));
    let ok = check.passed();
    render::check(t("label.check"), &check, !ok);
    if !ok {
        return Err(Error::failed(tf(
            "err.check_failed",
            &[("lesson", &lesson.id()), ("hint", &check.hint)],
        )));
    }
    if st.demo_now {
        check_signals()?;
        let seen = lesson.demo(st);
        let ok = seen.passed();
        render::check(t("label.demo"), &seen, !ok);
        st.demo_now = false;
        if !ok {
            return Err(Error::failed(tf(
                "err.demo_failed",
                &[("lesson", &lesson.id()), ("hint", &seen.hint)],
            )));
        }
    }
    if st.opts.interactive {
        check_signals()?;
        wait_enter()?;
    }
    Ok(())
}

/// After the shell: the cgroup's counters (read before it is removed), and what this
/// container did and did not isolate.
fn summary(st: &State) {
    render::blank();
    render::note(&console::style(t("sum.title")).bold().to_string());
    if let Some(cg) = &st.cgroup {
        for (file, key, value) in cg.counters() {
            let name = if key.is_empty() {
                file
            } else {
                format!("{file} {key}")
            };
            render::note(&format!("  {name:<34} {value}"));
        }
    }
    render::blank();
    let map = st
        .exec
        .as_ref()
        .map(|e| e.uid_map.clone())
        .unwrap_or_default();
    for line in [
        t("sum.isolated").to_string(),
        t("sum.net").to_string(),
        tf("sum.no_userns", &[("map", &map)]),
        t("sum.chroot").to_string(),
        t("sum.not_confined").to_string(),
    ] {
        render::paragraph(&format!("• {line}"));
    }
}

/// Walks every lesson; returns the exit code.
pub fn run(opts: Options) -> Result<i32> {
    let started = std::time::Instant::now();
    let found = journal::clean_orphans(false);
    if !found.is_empty() {
        render::note(t("cleanup.found"));
        for l in &found {
            render::note(&format!("  {l}"));
        }
    }
    crate::bench::figure("orphans_us", crate::bench::us(started));
    let mut st = State::new(opts);
    let lessons = lessons::walk();
    let n = lessons.len();
    let mut result = Ok(0);
    for (i, lesson) in lessons.iter().enumerate() {
        if let Err(e) = step(&mut st, *lesson, i + 1, n) {
            result = Err(e);
            break;
        }
    }
    if result.is_ok() {
        if let Some(status) = st.agent.as_ref().and_then(|a| a.status) {
            summary(&st);
            result = Ok(status);
        }
    }
    let t0 = std::time::Instant::now();
    let said = st.cleanup();
    crate::bench::figure("cleanup_us", crate::bench::us(t0));
    if !said.is_empty() {
        render::blank();
        render::note(&console::style(t("label.cleanup")).dim().to_string());
        for l in &said {
            render::note(&format!("  {l}"));
        }
    }
    result
}
