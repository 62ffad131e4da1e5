//! The runner: walks the lessons in order, interactive or `--auto`, and holds the
//! state that passes between them. Whatever the walk created is removed on every
//! exit path (the end, a failed check, quit, a signal, a panic).

use super::{json, look};
use crate::ui::render;

use crate::error::{Error, Kind, Result};
use crate::journal;
use crate::lessons::{self, Lesson};
use crate::sys::signals;
use crate::ui::i18n::{t, tf};

pub use crate::lessons::context::{Context, ExecSeen, Options};

/// Hidden, test-only: a comma-separated list of lesson ids whose `run` is left out.
pub const SKIP_ENV: &str = "HAKO_TEST_SKIP";

enum Choice {
    Run,
    RunAndSee,
    More,
    Look,
    Quit,
}

fn ask(prompt: &str, demo: bool) -> Result<Choice> {
    let mut items = vec![(t("prompt.run"), Choice::Run)];
    if demo {
        items.push((t("prompt.see"), Choice::RunAndSee));
    }
    items.push((t("prompt.more"), Choice::More));
    items.push((t("prompt.look"), Choice::Look));
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
    let _ = term.write_str(&format!(
        "{} ",
        render::dim(&render::ascii(t("prompt.continue")))
    ));
    match term.read_line() {
        Ok(_) => Ok(()),
        Err(_) => Err(interrupted()),
    }
}

fn interrupted() -> Error {
    match signals::take() {
        Some(crate::sys::Signal::SIGTERM) | Some(crate::sys::Signal::SIGHUP) => {
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

/// How a lesson is walked: shown and asked about, or run silently before `--from`.
#[derive(Clone, Copy)]
struct Mode {
    /// Before `--from`: nothing shown unless its check fails; no question, no demo.
    silent: bool,
    /// Ask before running, and wait for Enter after.
    interactive: bool,
    /// `--pace`: the pause after the lesson.
    pace: Option<std::time::Duration>,
}

/// `demos_ran`: set when a demonstration ran (its processes were counted by the
/// container's cgroup, which the summary then says apart).
fn step(
    st: &mut Context,
    lesson: &dyn Lesson,
    (i, n): (usize, usize),
    mode: Mode,
    demos_ran: &mut bool,
) -> Result<()> {
    let prose = lessons::prose(lesson.id());
    let mut rec = json::LessonRecord {
        lesson: i,
        of: n,
        id: lesson.id().to_string(),
        title: prose.title.clone(),
        verdict: "passed",
        ..Default::default()
    };
    render::set_silent(mode.silent);
    let r = step_in(st, lesson, i, n, mode, &mut rec, demos_ran);
    render::set_silent(false);
    if render::json() {
        match &r {
            Ok(()) => {}
            Err(e) if matches!(e.kind, Kind::Interrupted | Kind::Terminated) => {
                rec.verdict = "stopped"
            }
            Err(_) if rec.verdict == "passed" => rec.verdict = "error",
            Err(_) => {}
        }
        if (!mode.silent && !render::look().quiet) || r.is_err() {
            rec.emit();
        }
    }
    r
}

fn step_in(
    st: &mut Context,
    lesson: &dyn Lesson,
    i: usize,
    n: usize,
    mode: Mode,
    rec: &mut json::LessonRecord,
    demos_ran: &mut bool,
) -> Result<()> {
    let prose = lessons::prose(lesson.id());
    render::header(i, n, lesson.id(), &prose.title);
    render::markdown(&prose.summary);
    rec.shell = lesson.shell(st);
    render::shell_block(t("label.shell"), &rec.shell);
    st.demo_wanted = st.opts.demos && lesson.has_demo() && !mode.silent;
    if mode.interactive {
        loop {
            render::blank();
            // A Ctrl-C typed while the text was printing arrived as a signal already.
            check_signals()?;
            match ask(t("prompt.what"), lesson.has_demo())? {
                Choice::Run => break,
                Choice::RunAndSee => {
                    st.demo_wanted = true;
                    break;
                }
                Choice::More => {
                    for (h, body) in &prose.sections {
                        render::blank();
                        render::note(&render::bold(h));
                        render::markdown(body);
                    }
                }
                Choice::Look => look::shell(st),
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
    rec.did = did;
    check_signals()?;
    let check = lesson.check(st);
    crate::bench::figure(&format!("lesson_us.{}", lesson.id()), crate::bench::us(t0));
    let ok = check.passed();
    if !ok && mode.silent {
        // A lesson before --from failed: now it is shown, from its header.
        render::set_silent(false);
        render::header(i, n, lesson.id(), &prose.title);
    }
    render::check(t("label.check"), &check, !ok);
    rec.evidence(&check);
    if !ok {
        rec.verdict = "failed";
        return Err(Error::failed(tf(
            "err.check_failed",
            &[("lesson", &lesson.id()), ("hint", &check.hint)],
        )));
    }
    if st.demo_wanted {
        check_signals()?;
        *demos_ran = true;
        let seen = lesson.demo(st);
        let ok = seen.passed();
        render::check(t("label.demo"), &seen, !ok);
        rec.demo = Some(seen.rows.clone());
        st.demo_wanted = false;
        if !ok {
            rec.verdict = "failed";
            rec.hint = seen.hint.clone();
            return Err(Error::failed(tf(
                "err.demo_failed",
                &[("lesson", &lesson.id()), ("hint", &seen.hint)],
            )));
        }
    }
    if mode.interactive {
        check_signals()?;
        wait_enter()?;
    } else if let Some(pause) = mode.pace {
        pace(pause)?;
    }
    Ok(())
}

/// `--pace`: waits, and still answers Ctrl-C, SIGTERM and SIGHUP at once.
fn pace(pause: std::time::Duration) -> Result<()> {
    let end = std::time::Instant::now() + pause;
    loop {
        check_signals()?;
        let now = std::time::Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(std::time::Duration::from_millis(100)));
    }
}

/// `--trace` stays quiet in the lessons before `--from`, in hako and in the agent
/// (which prints the calls it makes itself), and comes back at `--from`.
fn quiet_trace(st: &mut Context, quiet: bool) {
    crate::sys::set_trace(!quiet);
    if quiet {
        return;
    }
    // PID 1 stopped at its exec serves no more requests; nothing is left to trace there.
    if let Some(a) = st
        .agent
        .as_mut()
        .filter(|a| !a.stopped && a.status.is_none())
    {
        let _ = a.trace(true);
    }
}

/// The positions (0-based) of `--from` and `--to` in `ids`; a usage error when
/// `--to` comes before `--from`.
fn span(ids: &[&str], from: Option<&str>, to: Option<&str>) -> Result<(usize, usize)> {
    let pos = |id: Option<&str>, default: usize| {
        id.and_then(|id| ids.iter().position(|x| *x == id))
            .unwrap_or(default)
    };
    let (a, b) = (pos(from, 0), pos(to, ids.len().saturating_sub(1)));
    if a > b {
        return Err(Error::usage(tf(
            "err.from_after_to",
            &[("from", &ids[a]), ("to", &ids[b])],
        )));
    }
    Ok((a, b))
}

/// A counter that only grows (events, periods, failures), as opposed to a peak.
fn cumulative(file: &str) -> bool {
    !matches!(file, "memory.peak" | "memory.max_usage_in_bytes")
}

/// The counter's name as the summary shows it: `file key`, or `file`.
fn counter_name(file: &str, key: &str) -> String {
    if key.is_empty() {
        file.to_string()
    } else {
        format!("{file} {key}")
    }
}

/// After the shell: the cgroup's counters (read before it is removed), and what this
/// container did and did not isolate. When demonstrations ran in the cgroup, the
/// counters that only grow are given for the command alone, and what the
/// demonstrations added before it is said apart (a peak cannot be split: it is
/// marked as including them).
fn summary(st: &Context, demos_ran: bool) {
    let end = st
        .cgroup
        .as_ref()
        .map(|cg| cg.counters())
        .unwrap_or_default();
    let start = st.at_command.as_ref().filter(|_| demos_ran);
    let mut counters: Vec<(String, String)> = vec![];
    let mut by_demos: Vec<String> = vec![];
    for (file, key, value) in &end {
        let name = counter_name(file, key);
        let before = start.and_then(|s| {
            s.iter()
                .find(|(f, k, _)| f == file && k == key)
                .and_then(|(_, _, v)| v.parse::<u64>().ok())
        });
        match (before, value.parse::<u64>()) {
            (Some(b), Ok(v)) if cumulative(file) => {
                if b > 0 {
                    by_demos.push(format!("{name} {b}"));
                }
                counters.push((name, v.saturating_sub(b).to_string()));
            }
            _ if start.is_some() && !cumulative(file) => {
                counters.push((name, tf("sum.peak_with_demos", &[("value", value)])));
            }
            _ => counters.push((name, value.clone())),
        }
    }
    let map = st
        .exec
        .as_ref()
        .map(|e| e.uid_map.clone())
        .unwrap_or_default();
    let mut lines = if st.opts.harden {
        vec![
            t("sum.isolated").to_string(),
            t("sum.net").to_string(),
            tf("sum.userns", &[("map", &map)]),
            t("sum.hardened").to_string(),
        ]
    } else {
        vec![
            t("sum.isolated").to_string(),
            t("sum.net").to_string(),
            tf("sum.no_userns", &[("map", &map)]),
            t("sum.chroot").to_string(),
            t("sum.not_confined").to_string(),
        ]
    };
    if let Some(max) = st.opts.pids {
        lines.insert(1, tf("sum.pids", &[("max", &max)]));
    }
    if st.opts.net {
        if let Some(i) = lines.iter().position(|l| l == t("sum.net")) {
            lines[i] = t("sum.net_on").to_string();
        }
    }
    if start.is_some() {
        let list = if by_demos.is_empty() {
            t("sum.demos_nothing").to_string()
        } else {
            by_demos.join(", ")
        };
        lines.insert(0, tf("sum.demos_apart", &[("list", &list)]));
    }
    if render::json() {
        json::summary(&counters, &lines);
        return;
    }
    render::blank();
    render::note(&render::bold(t("sum.title")));
    if start.is_some() {
        render::note(&render::dim(t("sum.command_only")));
    }
    for (name, value) in &counters {
        render::note(&format!("  {name:<34} {value}"));
    }
    render::blank();
    for line in lines {
        render::bullet(&line);
    }
    if !st.opts.harden {
        render::blank();
        render::paragraph(t("sum.next_harden"));
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
    let lessons = lessons::walk_with(&lessons::Set::on(
        opts.harden,
        opts.pids.is_some(),
        opts.overlay,
        opts.net,
    ));
    let ids: Vec<&str> = lessons.iter().map(|l| l.id()).collect();
    let (from, to) = span(&ids, opts.from.as_deref(), opts.to.as_deref())?;
    let mut st = Context::new(opts);
    let n = lessons.len();
    let mut result = Ok(0);
    let mut demos_ran = false;
    let tracing = crate::sys::tracing();
    for (i, lesson) in lessons.iter().enumerate().take(to + 1) {
        if from > 0 && i <= from && tracing {
            quiet_trace(&mut st, i < from);
        }
        let mode = Mode {
            silent: i < from,
            interactive: st.opts.interactive && i >= from,
            // No pause after the last lesson shown.
            pace: st.opts.pace.filter(|_| i >= from && i < to),
        };
        if let Err(e) = step(&mut st, *lesson, (i + 1, n), mode, &mut demos_ran) {
            result = Err(e);
            break;
        }
    }
    if result.is_ok() {
        if let Some(status) = st.agent.as_ref().and_then(|a| a.status) {
            summary(&st, demos_ran);
            result = Ok(status);
        }
    }
    let t0 = std::time::Instant::now();
    let said = st.cleanup();
    crate::bench::figure("cleanup_us", crate::bench::us(t0));
    if render::json() {
        if !said.is_empty() {
            json::cleanup(&said);
        }
        if let Ok(code) = result {
            json::exit(code);
        }
    } else if !said.is_empty() {
        render::blank();
        render::note(&render::dim(t("label.cleanup")));
        for l in &said {
            render::note(&format!("  {l}"));
        }
    }
    result
}
