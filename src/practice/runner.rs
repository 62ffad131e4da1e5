//! The practice loop: the learner's shell on a pty hako relays, the key prefix the
//! shell never sees (Ctrl-] then h, s, c, e, q), "returned to the prompt", and the
//! current task judged from the kernel each time it has.
//!
//! Returned to the prompt: after an Enter, (1) the output has been quiet for
//! [`QUIET`] (and some came after the Enter: the shell's own echo of it), (2) nothing
//! typed is left unread in the terminal (TIOCINQ), and (3) the leader of the terminal's
//! foreground process group (TIOCGPGRP on the master) is asleep reading the terminal
//! (`/proc/PID/syscall`: a read of fd 0, or a poll before one). This holds for the
//! outer shell, for the shell `unshare … /bin/bash` starts (a new process group that
//! job control makes the foreground one, while `unshare` waits), and for the shell
//! `exec capsh … --shell=/bin/sh` becomes (the same process, the same group).

use super::events::{self, Event};
use super::progress::Progress;
use super::setup::{self, Prepared};
use crate::error::{Error, Kind, Result};
use crate::lessons::task::{Setup, Task, Verdict};
use crate::lessons::{self, Set};
use crate::rootfs::Source;
use crate::sys::pty::{self, PtyShell};
use crate::sys::{signals, tty, Signal};
use crate::ui::i18n::{lang, t, tf};
use crate::ui::render;
use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The key that starts a command to hako: Ctrl-] (as telnet's escape).
pub const PREFIX: u8 = 0x1d;
/// How long the output must have been quiet.
pub const QUIET: Duration = Duration::from_millis(30);
/// After an Enter that the shell did not echo (echo off), the quiet alone is enough
/// after this long.
const NO_ECHO: Duration = Duration::from_millis(300);
/// A replayed line that has not come back to a prompt by then stops the replay.
const REPLAY_WAIT: Duration = Duration::from_secs(60);

/// `hako practice`'s options.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: Source,
    pub insecure: bool,
    /// `--replay FILE`.
    pub replay: Option<PathBuf>,
    /// `--name NAME`: the attendee in JSON lines and the progress file.
    pub name: Option<String>,
    /// `--from ID`: hako types the earlier tasks' solve lines first.
    pub from: Option<String>,
    /// `--pids N` (or `--all`): the pids lesson is a task too, with this limit.
    pub pids: Option<u64>,
    /// `--overlay` (or `--all`): the image goes into `$LAYER`, and the overlay lesson is a
    /// task: `$ROOTFS` becomes an overlay mount of it.
    pub overlay: bool,
}

/// What the learner (a key after the prefix) or a replay file asks of hako.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// A line typed into the shell, then Enter.
    Line(String),
    Hint,
    Solve,
    Check,
    Explain,
    Quit,
    /// An unknown key after the prefix: the keys are shown.
    Help,
}

/// A replay file: each line is typed as it is, except blank lines and `#` comments;
/// `#hako: hint|solve|check|explain|quit` does what that key does.
pub fn parse_replay(text: &str) -> Vec<Cmd> {
    let mut v = vec![];
    for line in text.lines() {
        let l = line.trim_end_matches('\r');
        let trimmed = l.trim();
        if let Some(d) = trimmed.strip_prefix("#hako:") {
            match d.trim() {
                "hint" => v.push(Cmd::Hint),
                "solve" => v.push(Cmd::Solve),
                "check" => v.push(Cmd::Check),
                "explain" => v.push(Cmd::Explain),
                "quit" => v.push(Cmd::Quit),
                _ => {}
            }
        } else if !trimmed.is_empty() && !trimmed.starts_with('#') {
            v.push(Cmd::Line(l.to_string()));
        }
    }
    v
}

/// The learner's bytes split: what goes to the shell, the commands to hako, and
/// whether an Enter went through. `prefix` carries a Ctrl-] across reads.
pub fn split_keys(bytes: &[u8], prefix: &mut bool) -> (Vec<u8>, Vec<Cmd>, bool) {
    let mut fwd = Vec::with_capacity(bytes.len());
    let mut cmds = vec![];
    let mut enter = false;
    for &b in bytes {
        if *prefix {
            *prefix = false;
            match b {
                PREFIX => fwd.push(PREFIX),
                b'h' | b'H' => cmds.push(Cmd::Hint),
                b's' | b'S' => cmds.push(Cmd::Solve),
                b'c' | b'C' => cmds.push(Cmd::Check),
                b'e' | b'E' => cmds.push(Cmd::Explain),
                b'q' | b'Q' => cmds.push(Cmd::Quit),
                _ => cmds.push(Cmd::Help),
            }
        } else if b == PREFIX {
            *prefix = true;
        } else {
            if b == b'\r' || b == b'\n' {
                enter = true;
            }
            fwd.push(b);
        }
    }
    (fwd, cmds, enter)
}

/// The article's lessons that offer a task, in the walk's order; with `pids`, the pids
/// lesson's too; with `overlay`, the overlay lesson's (right after the rootfs's).
pub fn tasks(pids: bool, overlay: bool) -> Vec<&'static dyn Task> {
    lessons::TABLE
        .iter()
        .filter(|e| {
            e.set == Set::Article
                || (pids && e.set == Set::Pids)
                || (overlay && e.set == Set::Overlay)
        })
        .filter_map(|e| e.lesson.task())
        .collect()
}

/// A judge's line as shown after `✔ id — `: sanitised, without the id again when the
/// line starts with it.
fn shown_line(id: &str, line: &str) -> String {
    let l = line
        .strip_prefix(id)
        .and_then(|r| r.strip_prefix(" — "))
        .unwrap_or(line);
    crate::ui::sanitize::clean(l).into_owned()
}

/// Where hako's words and the shell's output go.
struct Screen {
    /// The learner's terminal is in raw mode: lines end in CR LF, and a status line
    /// clears the prompt's line and draws the prompt again after it.
    raw: bool,
    json: bool,
    /// Where the shell's output goes (the learner's terminal, or stdout).
    out: RawFd,
    /// What the shell wrote since its last newline (the prompt, at a prompt).
    tail: Vec<u8>,
}

impl Screen {
    fn shell_output(&mut self, b: &[u8]) {
        let _ = pty::write_all(self.out, b);
        match b.iter().rposition(|c| *c == b'\n') {
            Some(i) => self.tail = b[i + 1..].to_vec(),
            None => self.tail.extend_from_slice(b),
        }
        if self.tail.len() > 4096 {
            self.tail.drain(..self.tail.len() - 4096);
        }
    }

    /// Lines of hako's own, between prompts.
    fn say(&mut self, lines: &[String]) {
        if self.json || lines.is_empty() {
            return;
        }
        if self.raw {
            let mut s = String::from("\r\x1b[K");
            for l in lines {
                s.push_str(&render::ascii(l).replace('\n', "\r\n"));
                s.push_str("\r\n");
            }
            let _ = pty::write_all(2, s.as_bytes());
            let _ = pty::write_all(self.out, &self.tail);
        } else {
            let mut s = String::new();
            for l in lines {
                s.push_str(&render::ascii(l));
                s.push('\n');
            }
            let _ = pty::write_all(2, s.as_bytes());
        }
    }

    fn emit(&self, e: &Event) {
        if self.json {
            let _ = pty::write_all(2, format!("{}\n", e.line()).as_bytes());
        }
    }
}

/// The shell, the learner's terminal in raw mode, and what practice prepared: on every
/// way out (including a panic's unwinding) the shell's session is ended first, then
/// the terminal restored, then everything prepared removed.
struct Live {
    shell: PtyShell,
    raw: Option<tty::RawMode>,
    prepared: Prepared,
}

impl Live {
    /// Ends every process of the shell's session (SIGKILL, by PID, each checked by its
    /// start time), discards what is left typed or unread on the pty, and reaps the
    /// shell.
    fn end_session(&mut self) {
        let sid = self.shell.pid;
        for _ in 0..3 {
            let mut any = false;
            for (pid, s, start) in pty::sessions() {
                if s == sid {
                    any |= pty::kill_if(pid, start);
                }
            }
            if !any {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        pty::discard_typed(&self.shell.slave);
        tty::discard_pending(&self.shell.master);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(2) {
            match crate::sys::pids::wait(sid, true) {
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                _ => break,
            }
        }
    }

    /// The normal end: the session, the terminal, then the clean-up's own lines.
    fn finish(&mut self) -> Vec<String> {
        self.end_session();
        drop(self.raw.take());
        self.prepared.cleanup()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.end_session();
        drop(self.raw.take());
        // `prepared` cleans up as it drops, after this.
    }
}

/// The run's state between prompts.
struct Practice {
    setup: Setup,
    tasks: Vec<&'static dyn Task>,
    current: usize,
    hints: Vec<usize>,
    solved: Vec<bool>,
    last_fail: Option<String>,
    /// Since the last Enter, and whether output came after it; `None` at a prompt.
    awaiting: Option<(Instant, bool)>,
    last_output: Instant,
    queue: VecDeque<Cmd>,
    replay: bool,
    /// From prompt detection to the status line, in milliseconds, each judgement.
    latencies: Vec<f64>,
    /// The container's PID 1, watched: when it ends, the pty's input is discarded.
    pid1: Option<(i32, OwnedFd)>,
    attendee: String,
    screen: Screen,
    progress: Progress,
    all_done_said: bool,
    tty_rdev: u64,
    /// `--from`: the tasks before this one are done by hako (their solve lines typed).
    given: usize,
    /// The task whose solve lines hako typed for `--from`.
    typed_for: Option<usize>,
    /// Those lines, typed before anything queued.
    auto: VecDeque<Cmd>,
    /// The lines of a solve still to be typed after the one just typed: until the last,
    /// a half-done stage is hako's own typing, not a mistake to point out.
    solving: usize,
}

fn interrupted(sig: Signal) -> Error {
    match sig {
        Signal::SIGTERM | Signal::SIGHUP => Error::new(Kind::Terminated, t("err.terminated")),
        _ => Error::new(Kind::Interrupted, t("err.quit")),
    }
}

/// The shell hako starts: bash when the host has it (without the learner's rc files,
/// so the prompt is predictable), else sh.
fn shell_argv() -> Vec<&'static str> {
    for b in ["/bin/bash", "/usr/bin/bash"] {
        if crate::sys::files::is_executable_file(std::path::Path::new(b)) {
            return vec![b, "--noprofile", "--norc", "-i"];
        }
    }
    vec!["/bin/sh", "-i"]
}

fn shell_env(p: &Prepared) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
        (
            "TERM".to_string(),
            std::env::var("TERM").unwrap_or_else(|_| "xterm".into()),
        ),
        ("HOME".to_string(), "/root".to_string()),
        ("PS1".to_string(), "(hako practice) # ".to_string()),
        // The learner's commands stay out of root's history file.
        ("HISTFILE".to_string(), String::new()),
        ("UUID".to_string(), p.uuid.clone()),
        ("ROOTFS".to_string(), p.root().display().to_string()),
        ("IMAGE".to_string(), p.image.display().to_string()),
    ];
    if let Some((layer, ovl)) = &p.overlay {
        env.push(("LAYER".to_string(), layer.display().to_string()));
        env.push(("OVL".to_string(), ovl.display().to_string()));
    }
    for k in ["LANG", "LC_ALL"] {
        if let Ok(v) = std::env::var(k) {
            env.push((k.to_string(), v));
        }
    }
    env
}

/// Runs `hako practice`; returns the exit code.
pub fn run(opts: Options) -> Result<i32> {
    let queue: VecDeque<Cmd> = match &opts.replay {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(s) => parse_replay(&s).into(),
            Err(e) => {
                return Err(Error::usage(tf(
                    "practice.replay_read",
                    &[("path", &f.display()), ("why", &e)],
                )))
            }
        },
        None => VecDeque::new(),
    };
    let all = tasks(opts.pids.is_some(), opts.overlay);
    let from = match &opts.from {
        None => 0,
        Some(id) => all.iter().position(|t| t.id() == id).ok_or_else(|| {
            let ids: Vec<&str> = all.iter().map(|t| t.id()).collect();
            Error::usage(tf(
                "practice.err_from",
                &[
                    ("id", &crate::ui::sanitize::clean(id)),
                    ("ids", &ids.join(", ")),
                ],
            ))
        })?,
    };
    let found = crate::journal::clean_orphans(false);
    if !found.is_empty() {
        render::note(t("cleanup.found"));
        for l in &found {
            render::note(&format!("  {l}"));
        }
    }
    let prepared = setup::prepare(&opts.source, opts.insecure, opts.overlay)?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let argv = shell_argv();
    let shell = match pty::spawn_shell(&argv, &shell_env(&prepared), &cwd) {
        Ok(s) => s,
        Err(f) => {
            return Err(Error::failed(tf(
                "practice.err_shell",
                &[("step", &f.call), ("why", &crate::sys::explain(f.errno))],
            )))
        }
    };
    let interactive = opts.replay.is_none() && tty::terminals()[0];
    let out = if interactive { tty::terminal_out() } else { 1 };
    let json = render::json();
    let tty_rdev = pty::rdev(&shell.slave);
    let setup = Setup {
        uuid: prepared.uuid.clone(),
        rootfs: prepared.root().to_path_buf(),
        image: prepared.image.clone(),
        shell_pid: shell.pid,
        layout: prepared.layout.clone(),
        host_hostname: prepared.host_hostname.clone(),
        host_mounts: prepared.host_mounts.clone(),
        pids: opts.pids,
        overlay: opts.overlay,
    };
    let did = prepared.did.clone();
    let mut live = Live {
        shell,
        raw: None,
        prepared,
    };
    let tasks = tasks(opts.pids.is_some(), opts.overlay);
    let n = tasks.len();
    let attendee = events::attendee(opts.name.as_deref());
    let mut p = Practice {
        setup,
        tasks,
        current: 0,
        hints: vec![0; n],
        solved: vec![false; n],
        last_fail: None,
        awaiting: Some((Instant::now(), false)),
        last_output: Instant::now(),
        queue,
        replay: opts.replay.is_some(),
        latencies: vec![],
        pid1: None,
        progress: Progress::load(&attendee),
        attendee,
        screen: Screen {
            raw: false,
            json,
            out,
            tail: vec![],
        },
        all_done_said: false,
        tty_rdev,
        given: from,
        typed_for: None,
        auto: VecDeque::new(),
        solving: 0,
    };
    // The introduction, before the terminal goes raw.
    let mut intro = vec![
        render::bold(&tf("practice.title", &[("n", &n)])),
        render::dim(&did.join("\n")),
        tf(
            "practice.vars",
            &[
                ("uuid", &p.setup.uuid),
                ("rootfs", &p.setup.rootfs.display()),
                ("image", &p.setup.image.display()),
            ],
        ),
    ];
    if opts.overlay {
        intro.push(tf(
            "practice.vars_overlay",
            &[
                ("layer", &p.setup.layer().display()),
                ("ovl", &p.setup.ovl().display()),
            ],
        ));
    }
    if interactive {
        intro.push(render::dim(t("practice.keys")));
    }
    if n == 0 {
        intro.push(t("practice.no_tasks").to_string());
    } else if from > 0 {
        intro.push(tf("practice.from", &[("id", &p.tasks[from].id())]));
    } else {
        intro.push(p.goal_line());
        p.screen.emit(&p.event("started"));
    }
    p.screen.say(&intro);
    if interactive {
        live.raw = tty::RawMode::enter();
        p.screen.raw = live.raw.is_some();
        tty::copy_winsize(0, live.shell.master.as_raw_fd());
    }
    let r = p.relay(&mut live, interactive);
    // Every task passed: what the container was, read before the clean-up removes it.
    let summary = if n > 0 && p.current == n {
        p.summary()
    } else {
        vec![]
    };
    let said = live.finish();
    if !json && !summary.is_empty() {
        render::blank();
        for l in &summary {
            render::note(l);
        }
    }
    if !json && !said.is_empty() {
        render::blank();
        render::note(&render::dim(t("label.cleanup")));
        for l in &said {
            render::note(&format!("  {l}"));
        }
    }
    p.report_latency();
    p.progress.save();
    r
}

impl Practice {
    fn task(&self) -> Option<&'static dyn Task> {
        self.tasks.get(self.current).copied()
    }

    fn goal_line(&self) -> String {
        match self.task() {
            Some(task) => tf(
                "practice.goal",
                &[
                    ("i", &(self.current + 1)),
                    ("n", &self.tasks.len()),
                    ("id", &task.id()),
                    ("goal", &task.goal(&self.setup)),
                ],
            ),
            None => String::new(),
        }
    }

    fn event(&self, state: &'static str) -> Event {
        let id = self.task().map(|t| t.id()).unwrap_or("");
        let hint = self.hints.get(self.current).copied().unwrap_or(0);
        Event::new(id, state, &self.attendee, hint)
    }

    /// The relay, until quit, the shell's end, the replay's end or a signal.
    fn relay(&mut self, live: &mut Live, interactive: bool) -> Result<i32> {
        let stdin = std::io::stdin();
        let mut read_stdin = !self.replay;
        let mut stdin_ended = false;
        let mut prefix = false;
        let mut buf = [0u8; 8192];
        let master_raw = live.shell.master.as_raw_fd();
        loop {
            if let Some(sig) = signals::take() {
                return Err(interrupted(sig));
            }
            if interactive && signals::take_winch() {
                tty::copy_winsize(0, master_raw);
            }
            let wait = if let Some((since, _)) = self.awaiting {
                // A command that runs long is looked at less often.
                if since.elapsed() < Duration::from_secs(2) {
                    5
                } else {
                    50
                }
            } else if !self.queue.is_empty() || !self.auto.is_empty() {
                1
            } else {
                200
            };
            let (m, s, w) = {
                let mut fds = vec![live.shell.master.as_fd()];
                if read_stdin {
                    fds.push(stdin.as_fd());
                }
                if let Some((_, fd)) = &self.pid1 {
                    fds.push(fd.as_fd());
                }
                let r = pty::ready(&fds, wait);
                let s = read_stdin && r.get(1).copied().unwrap_or(false);
                let w = self.pid1.is_some() && r.last().copied().unwrap_or(false);
                (r.first().copied().unwrap_or(false), s, w)
            };
            if m {
                if let Ok(k) = pty::read(live.shell.master.as_fd(), &mut buf) {
                    if k > 0 {
                        self.screen.shell_output(&buf[..k]);
                        self.last_output = Instant::now();
                        if let Some(a) = &mut self.awaiting {
                            a.1 = true;
                        }
                    }
                }
            }
            if w {
                // The container's PID 1 ended: whatever it left typed into the
                // terminal must not reach the outer shell, which hako stopped while the
                // container held the terminal and lets go only now.
                pty::discard_typed(&live.shell.slave);
                self.pid1 = None;
                let _ = crate::sys::pids::kill(live.shell.pid, Signal::SIGCONT);
            }
            if s {
                match pty::read(stdin.as_fd(), &mut buf) {
                    Ok(0) => {
                        read_stdin = false;
                        stdin_ended = true;
                    }
                    Ok(k) => {
                        let (fwd, cmds, enter) = split_keys(&buf[..k], &mut prefix);
                        if !fwd.is_empty() {
                            let _ = pty::write_all(master_raw, &fwd);
                        }
                        if enter {
                            self.awaiting = Some((Instant::now(), false));
                        }
                        for c in cmds {
                            if self.act(c) {
                                return Ok(0);
                            }
                        }
                    }
                    Err(crate::sys::Errno::EINTR) | Err(crate::sys::Errno::EAGAIN) => {}
                    Err(_) => {
                        read_stdin = false;
                        stdin_ended = true;
                    }
                }
            }
            if let Ok(Some(_)) = crate::sys::pids::wait(live.shell.pid, true) {
                // Drain what the shell wrote last.
                while pty::ready(&[live.shell.master.as_fd()], 0)[0] {
                    match pty::read(live.shell.master.as_fd(), &mut buf) {
                        Ok(k) if k > 0 => self.screen.shell_output(&buf[..k]),
                        _ => break,
                    }
                }
                self.screen.say(&[t("practice.shell_ended").to_string()]);
                return Ok(0);
            }
            if let Some((since, seen)) = self.awaiting {
                let quiet = self.last_output.elapsed() >= QUIET;
                if quiet && (seen || since.elapsed() >= NO_ECHO) && self.at_prompt(live) {
                    self.awaiting = None;
                    self.on_prompt(live);
                } else if self.replay && since.elapsed() > REPLAY_WAIT {
                    self.screen.say(&[tf(
                        "practice.replay_stuck",
                        &[("secs", &REPLAY_WAIT.as_secs())],
                    )]);
                    return Ok(0);
                }
            }
            if self.awaiting.is_none() {
                while let Some((c, queued)) = self
                    .auto
                    .pop_front()
                    .map(|c| (c, false))
                    .or_else(|| self.queue.pop_front().map(|c| (c, true)))
                {
                    if let Cmd::Line(l) = &c {
                        if queued && self.solving > 0 {
                            self.solving -= 1;
                        }
                        // A learner may have half typed a line before asking for the
                        // solve: Ctrl-U first clears it (a replay types at a clean prompt).
                        let mut b = if interactive { vec![0x15] } else { vec![] };
                        b.extend_from_slice(l.as_bytes());
                        b.push(b'\r');
                        let _ = pty::write_all(master_raw, &b);
                        self.awaiting = Some((Instant::now(), false));
                        break;
                    }
                    if self.act(c) {
                        return Ok(0);
                    }
                }
                if self.awaiting.is_none() && self.queue.is_empty() && self.auto.is_empty() {
                    if self.replay {
                        return Ok(0);
                    }
                    if stdin_ended && !interactive {
                        return Ok(0);
                    }
                }
            }
        }
    }

    /// The prompt test (see the module's comment), once output has been quiet.
    fn at_prompt(&self, live: &Live) -> bool {
        if pty::typed_unread(&live.shell.slave) > 0 {
            return false;
        }
        match pty::foreground(&live.shell.master) {
            Some(pg) => pty::reading_terminal(pg, self.tty_rdev),
            None => false,
        }
    }

    fn on_prompt(&mut self, live: &Live) {
        let t0 = Instant::now();
        // Hidden, test-only: a panic at the third prompt, to prove nothing survives it.
        if self.latencies.len() == 2
            && std::env::var("HAKO_TEST_PANIC").is_ok_and(|v| v == "practice")
        {
            panic!("HAKO_TEST_PANIC=practice");
        }
        self.judge(false, t0);
        self.watch_pid1(live);
        self.give();
    }

    /// `--from`: types the current task's solve lines when it comes before the first
    /// task the learner does; once per task (a task they do not pass stops it).
    fn give(&mut self) {
        if self.current >= self.given || !self.auto.is_empty() {
            return;
        }
        if self.typed_for == Some(self.current) {
            self.given = self.current;
            self.screen.say(&[t("practice.from_stopped").to_string()]);
            return;
        }
        if let Some(task) = self.task() {
            self.typed_for = Some(self.current);
            self.auto = task.solve(&self.setup).into_iter().map(Cmd::Line).collect();
        }
    }

    /// Watches the container's PID 1 once the foreground is a PID namespace's init
    /// (the shell `unshare -f` started, or what it exec'd).
    fn watch_pid1(&mut self, live: &Live) {
        if self.pid1.as_ref().is_some_and(|(p, _)| {
            crate::sys::procfs::Stat::of(crate::sys::procfs::Who::Pid(*p)).is_some()
        }) {
            return;
        }
        self.pid1 = None;
        let Some(pg) = pty::foreground(&live.shell.master) else {
            return;
        };
        let chain = pty::ns_pids(pg);
        if chain.len() >= 2 && chain.last() == Some(&1) && pg != live.shell.pid {
            if let Some(fd) = pty::pidfd(pg) {
                // The outer shell only waits for the container meanwhile: stopped, it
                // cannot read the terminal in the moment between PID 1's end and
                // hako's flush. (A hang-up sends its session leader SIGCONT with
                // SIGHUP, so hako's own death never leaves it stopped.)
                let _ = crate::sys::pids::kill(live.shell.pid, Signal::SIGSTOP);
                self.pid1 = Some((pg, fd));
            }
        }
    }

    /// Judges the current task (and the next ones, while they pass); says what changed.
    /// `forced` (the `c` key): a failure is said even when it was said before, and
    /// "not yet" when nothing is wrong but nothing is done either.
    fn judge(&mut self, forced: bool, t0: Instant) {
        let mut lines = vec![];
        let mut evs = vec![];
        loop {
            let Some(task) = self.task() else {
                if !self.all_done_said && !self.tasks.is_empty() {
                    lines.push(render::bold(t("practice.all_done")));
                    self.all_done_said = true;
                }
                break;
            };
            let id = task.id();
            match task.judge(&self.setup) {
                Verdict::Passed { line, .. } => {
                    let line = shown_line(id, &line);
                    lines.push(
                        render::paint(tf("practice.passed", &[("id", &id), ("line", &line)]))
                            .green()
                            .to_string(),
                    );
                    let state = if self.solved[self.current] {
                        "solved"
                    } else {
                        "passed"
                    };
                    // What hako did for `--from` is not the learner's.
                    if self.current >= self.given {
                        evs.push(self.event(state));
                        self.progress.record(
                            id,
                            state,
                            self.hints[self.current],
                            events::now_secs(),
                        );
                    }
                    self.current += 1;
                    self.last_fail = None;
                    if self.task().is_some() && self.current >= self.given {
                        lines.push(self.goal_line());
                        evs.push(self.event("started"));
                    }
                }
                Verdict::Failed {
                    line: Some(line), ..
                } => {
                    let line = shown_line(id, &line);
                    if (self.current < self.given || self.solving > 0) && !forced {
                        // A stage hako is typing (for `--from`, or a solve), half done.
                        break;
                    }
                    if forced || self.last_fail.as_deref() != Some(line.as_str()) {
                        lines.push(
                            render::paint(tf("practice.failed", &[("id", &id), ("line", &line)]))
                                .red()
                                .to_string(),
                        );
                        evs.push(self.event("failed"));
                        self.last_fail = Some(line);
                    }
                    break;
                }
                Verdict::Halfway { line, .. } => {
                    // Half of a stage done: what is left, once (not a failure, no JSON
                    // line: nothing changed state).
                    let line = shown_line(id, &line);
                    if (self.current < self.given || self.solving > 0) && !forced {
                        break;
                    }
                    if forced || self.last_fail.as_deref() != Some(line.as_str()) {
                        lines.push(
                            render::paint(tf("practice.halfway", &[("id", &id), ("line", &line)]))
                                .yellow()
                                .to_string(),
                        );
                        self.last_fail = Some(line);
                    }
                    break;
                }
                Verdict::Failed { line: None, .. } => {
                    self.last_fail = None;
                    if forced {
                        lines.push(render::dim(&tf("practice.not_yet", &[("id", &id)])));
                    }
                    break;
                }
            }
        }
        self.screen.say(&lines);
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        self.latencies.push(ms);
        for mut e in evs {
            if e.state != "started" {
                e.latency_ms = Some((ms * 1000.0).round() / 1000.0);
            }
            self.screen.emit(&e);
        }
    }

    /// The next step of the current task's hint ladder (the last one again at the top).
    fn hint(&mut self) {
        let Some(task) = self.task() else {
            return;
        };
        let id = task.id();
        let hints = task.hints(&self.setup);
        let k = self.hints[self.current].min(2);
        self.hints[self.current] = (k + 1).max(self.hints[self.current]);
        self.progress.hinted(id, self.hints[self.current]);
        self.screen.say(&[render::paint(tf(
            "practice.hint",
            &[("k", &(k + 1)), ("id", &id), ("text", &hints[k])],
        ))
        .yellow()
        .to_string()]);
    }

    /// The current task's solve lines, typed before anything else queued.
    fn solve(&mut self) {
        let Some(task) = self.task() else {
            return;
        };
        let lines = task.solve(&self.setup);
        self.solved[self.current] = true;
        self.solving = lines.len();
        self.screen.say(&[render::dim(&tf(
            "practice.solve",
            &[("id", &task.id()), ("n", &lines.len())],
        ))]);
        for l in lines.into_iter().rev() {
            self.queue.push_front(Cmd::Line(l));
        }
    }

    /// Does what a key (or a replay directive) asks; `true` to quit.
    fn act(&mut self, c: Cmd) -> bool {
        let Some(task) = self.task() else {
            return matches!(c, Cmd::Quit);
        };
        let id = task.id();
        match c {
            Cmd::Quit => return true,
            Cmd::Line(_) => {}
            Cmd::Help => self.screen.say(&[t("practice.unknown_key").to_string()]),
            Cmd::Check => self.judge(true, Instant::now()),
            Cmd::Hint => self.hint(),
            Cmd::Solve => self.solve(),
            Cmd::Explain => {
                let src = lessons::source(id, lang()).unwrap_or("");
                let l = render::look();
                let look = crate::ui::markdown::Look {
                    width: l.width,
                    color: l.color,
                    unicode: l.unicode,
                };
                let lines = crate::ui::markdown::render(src, look);
                self.screen.say(&lines);
            }
        }
        false
    }

    /// The walk's closing summary, for the container the learner built: the cgroup's
    /// counters, what it isolated and what it did not, and what the learner did.
    fn summary(&self) -> Vec<String> {
        let cg = crate::sys::cgroup::Cgroup {
            name: self.setup.uuid.clone(),
            layout: self.setup.layout.clone(),
            created: vec![],
            enabled: vec![],
            pids: false,
        };
        let mut v = vec![render::bold(t("sum.title"))];
        for (file, key, value) in cg.counters() {
            let name = if key.is_empty() {
                file
            } else {
                format!("{file} {key}")
            };
            v.push(format!("  {name:<34} {value}"));
        }
        let map = self
            .pid1
            .as_ref()
            .and_then(|(p, _)| pty::uid_map(*p))
            .unwrap_or_else(|| "0 0 4294967295".into());
        for l in [
            t("sum.isolated").to_string(),
            t("sum.net").to_string(),
            tf("sum.no_userns", &[("map", &map)]),
            t("sum.chroot").to_string(),
            t("sum.not_confined").to_string(),
        ] {
            v.push(format!("• {l}"));
        }
        let pick = |solved: bool| -> String {
            let ids: Vec<&str> = (self.given..self.tasks.len())
                .filter(|i| self.solved[*i] == solved)
                .map(|i| self.tasks[i].id())
                .collect();
            if ids.is_empty() {
                "-".into()
            } else {
                ids.join(", ")
            }
        };
        v.push(tf(
            "practice.summary_did",
            &[
                ("hand", &pick(false)),
                ("solved", &pick(true)),
                ("hints", &self.hints.iter().sum::<usize>()),
            ],
        ));
        v
    }

    /// The latency figures: in JSON, one closing line; with `HAKO_BENCH`, bench lines.
    fn report_latency(&self) {
        let v = &self.latencies;
        let (p50, p95, max) = (
            events::percentile(v, 50.0),
            events::percentile(v, 95.0),
            v.iter().cloned().fold(0.0, f64::max),
        );
        crate::bench::figure("practice_judgements", v.len());
        crate::bench::figure("practice_latency_p50_ms", format!("{p50:.3}"));
        crate::bench::figure("practice_latency_p95_ms", format!("{p95:.3}"));
        crate::bench::figure("practice_latency_max_ms", format!("{max:.3}"));
        if self.screen.json {
            let done: Vec<&str> = self.tasks[..self.current].iter().map(|t| t.id()).collect();
            let line = serde_json::json!({
                "practice": "end",
                "done": done,
                "of": self.tasks.len(),
                "judged": v.len(),
                "latency_ms": { "p50": p50, "p95": p95, "max": max },
            });
            let _ = pty::write_all(2, format!("{line}\n").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ui::evidence::Check;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// How far the fake learner got; each fake task passes once it reaches its step.
    static STEP: AtomicUsize = AtomicUsize::new(0);
    /// The tests that move STEP take turns.
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

    struct Fake {
        id: &'static str,
        at: usize,
    }

    impl Task for Fake {
        fn id(&self) -> &'static str {
            self.id
        }
        fn inside(&self) -> bool {
            false
        }
        fn goal(&self, _: &Setup) -> String {
            format!("do {}", self.id)
        }
        fn hints(&self, _: &Setup) -> [String; 3] {
            ["what".into(), "which".into(), format!("echo {}", self.id)]
        }
        fn solve(&self, _: &Setup) -> Vec<String> {
            vec![format!("echo {}", self.id), "true".into()]
        }
        fn judge(&self, _: &Setup) -> Verdict {
            let now = STEP.load(Ordering::SeqCst);
            if now >= self.at {
                Verdict::Passed {
                    line: format!("{} — done", self.id),
                    check: Check::default(),
                }
            } else if now == 99 {
                Verdict::Failed {
                    line: Some("wrong way".into()),
                    check: Check::default(),
                }
            } else {
                Verdict::Failed {
                    line: None,
                    check: Check::default(),
                }
            }
        }
    }

    static A: Fake = Fake { id: "a", at: 1 };
    static B: Fake = Fake { id: "b", at: 2 };
    static C: Fake = Fake { id: "c", at: 2 };

    fn practice() -> Practice {
        let layout = crate::sys::cgroup::detect(&crate::sys::mountinfo::parse(
            "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        ))
        .unwrap();
        Practice {
            setup: Setup {
                uuid: "u".into(),
                rootfs: "/nonexistent".into(),
                image: "/nonexistent.tar".into(),
                shell_pid: 0,
                layout,
                host_hostname: "h".into(),
                host_mounts: vec![],
                pids: None,
                overlay: false,
            },
            tasks: vec![&A, &B, &C],
            current: 0,
            hints: vec![0; 3],
            solved: vec![false; 3],
            last_fail: None,
            awaiting: None,
            last_output: Instant::now(),
            queue: VecDeque::new(),
            replay: true,
            latencies: vec![],
            pid1: None,
            attendee: "t".into(),
            // JSON: nothing is written but the events, on stderr.
            screen: Screen {
                raw: false,
                json: true,
                out: 1,
                tail: vec![],
            },
            progress: Progress::default(),
            all_done_said: false,
            tty_rdev: 0,
            given: 0,
            typed_for: None,
            auto: VecDeque::new(),
            solving: 0,
        }
    }

    #[test]
    fn judging_advances_only_on_what_passes_and_chains_what_already_holds() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let mut p = practice();
        STEP.store(0, Ordering::SeqCst);
        p.judge(false, Instant::now());
        assert_eq!((p.current, p.last_fail.as_deref()), (0, None));
        STEP.store(99, Ordering::SeqCst);
        p.judge(false, Instant::now());
        // 99 passes every fake task whose step is lower: here all of them.
        assert_eq!(p.current, 3);
        assert!(p.all_done_said);
        let mut p = practice();
        STEP.store(1, Ordering::SeqCst);
        p.judge(false, Instant::now());
        assert_eq!(p.current, 1);
        // b and c both hold at step 2: one prompt passes both.
        STEP.store(2, Ordering::SeqCst);
        p.judge(false, Instant::now());
        assert_eq!(p.current, 3);
        assert_eq!(p.latencies.len(), 2);
        assert_eq!(p.progress.done.len(), 3);
    }

    #[test]
    fn a_known_mistake_is_remembered_and_said_once() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let mut p = practice();
        p.tasks = vec![&Fake { id: "z", at: 1000 }];
        STEP.store(99, Ordering::SeqCst);
        p.judge(false, Instant::now());
        assert_eq!(p.last_fail.as_deref(), Some("wrong way"));
        assert_eq!(p.current, 0);
    }

    #[test]
    fn hints_climb_the_ladder_and_solve_queues_the_lines_first() {
        let mut p = practice();
        p.queue.push_back(Cmd::Line("later".into()));
        for want in [1, 2, 3, 3] {
            p.hint();
            assert_eq!(p.hints[0], want);
        }
        p.solve();
        assert!(p.solved[0]);
        assert_eq!(
            p.queue.iter().cloned().collect::<Vec<_>>(),
            vec![
                Cmd::Line("echo a".into()),
                Cmd::Line("true".into()),
                Cmd::Line("later".into())
            ]
        );
    }

    #[test]
    fn replay_files() {
        let v = parse_replay(
            "# a comment\n\nls -l\r\n  #hako: hint\n#hako: solve\necho '#x'\n#hako: bogus\n",
        );
        assert_eq!(
            v,
            vec![
                Cmd::Line("ls -l".into()),
                Cmd::Hint,
                Cmd::Solve,
                Cmd::Line("echo '#x'".into())
            ]
        );
    }

    #[test]
    fn the_prefix_is_never_forwarded() {
        let mut p = false;
        let (f, c, e) = split_keys(b"ls\x1dh\r", &mut p);
        assert_eq!((f.as_slice(), c, e), (&b"ls\r"[..], vec![Cmd::Hint], true));
        let (f, c, e) = split_keys(b"a\x1d", &mut p);
        assert_eq!((f.as_slice(), c.len(), e, p), (&b"a"[..], 0, false, true));
        let (f, c, _) = split_keys(b"q", &mut p);
        assert_eq!((f.len(), c, p), (0, vec![Cmd::Quit], false));
        let (f, c, _) = split_keys(b"\x1d\x1d\x1dz", &mut p);
        assert_eq!((f, c), (vec![PREFIX], vec![Cmd::Help]));
        let (_, c, _) = split_keys(b"\x1ds\x1dc\x1de", &mut p);
        assert_eq!(c, vec![Cmd::Solve, Cmd::Check, Cmd::Explain]);
    }
}
