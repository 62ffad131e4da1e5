//! The runner: walks the lessons in order, interactive or `--auto`, and holds the
//! state that passes between them. Whatever the walk created is removed on every
//! exit path (the end, a failed check, quit, a signal, a panic).

pub mod render;

use crate::error::{Error, Kind, Result};
use crate::i18n::{t, tf};
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
    pub quiet: bool,
    pub source: Source,
    /// Plain HTTP to a registry off this machine (`--insecure`).
    pub insecure: bool,
    pub cmd: Vec<String>,
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
    /// What was left as it is on purpose, said in the closing lines.
    pub notes: Vec<String>,
}

impl State {
    pub fn new(opts: Options) -> State {
        State {
            opts,
            uuid: uuid::Uuid::new_v4().to_string(),
            host_mounts: vec![],
            layout: None,
            rootfs: None,
            cgroup: None,
            notes: vec![],
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

    pub fn cgroup(&self) -> Result<&Cgroup> {
        self.cgroup
            .as_ref()
            .ok_or_else(|| Error::failed(t("err.no_cgroup")))
    }

    /// Removes everything the walk created, newest first; returns what it said.
    /// Safe to call more than once.
    pub fn cleanup(&mut self) -> Vec<String> {
        let mut said = vec![];
        if let Some(mut cg) = self.cgroup.take() {
            let dirs: Vec<String> = cg.created.iter().map(|d| d.display().to_string()).collect();
            match cg.remove() {
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
                        ("path", &cg.layout.memory.join("cgroup.subtree_control").display()),
                    ],
                ));
            }
        }
        if let Some(r) = self.rootfs.take() {
            said.extend(r.cleanup(self.opts.keep));
        }
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

enum Choice {
    Run,
    More,
    Quit,
}

fn ask(prompt: &str) -> Result<Choice> {
    let items = [t("prompt.run"), t("prompt.more"), t("prompt.quit")];
    let r = dialoguer::Select::new()
        .with_prompt(prompt)
        .items(&items)
        .default(0)
        .interact_on_opt(&console::Term::stderr());
    match r {
        Ok(Some(0)) => Ok(Choice::Run),
        Ok(Some(1)) => Ok(Choice::More),
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
    if st.opts.interactive {
        loop {
            render::blank();
            match ask(t("prompt.what"))? {
                Choice::Run => break,
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
    let did = lesson.run(st)?;
    render::did(t("label.did"), &did);
    check_signals()?;
    let check = lesson.check(st);
    let ok = check.passed();
    render::check(t("label.check"), &check, !ok);
    if !ok {
        return Err(Error::failed(tf(
            "err.check_failed",
            &[("lesson", &lesson.id()), ("hint", &check.hint)],
        )));
    }
    if st.opts.interactive {
        wait_enter()?;
    }
    Ok(())
}

/// Walks every lesson; returns the exit code.
pub fn run(opts: Options) -> Result<i32> {
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
    let said = st.cleanup();
    if !said.is_empty() {
        render::blank();
        render::note(&console::style(t("label.cleanup")).dim().to_string());
        for l in &said {
            render::note(&format!("  {l}"));
        }
    }
    result
}
