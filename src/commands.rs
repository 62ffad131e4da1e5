//! The small subcommands and the checks made before a walk starts: `hako list`, `hako show`,
//! `hako cleanup`, and the options refused up front.

use crate::error::{Error, Kind};
use crate::ui::i18n;
use crate::ui::i18n::{t, tf};
use crate::{cli, journal, lessons, sys, ui};

/// The least `--memory` the walk accepts. Measured: the agent and the container's PID 1
/// start with -- /bin/true at 600 KiB on a v1 host and fail at 512 KiB (the kernel
/// charges a new process's page tables and stack to the cgroup, and fork(2) fails
/// with ENOMEM below that); 4 MiB leaves room for other kernels and a busybox shell.
pub const MEMORY_FLOOR: u64 = 4 << 20;

/// Options the walk could only fail on later, refused before anything is made (exit 2):
/// an optional lesson in --from/--to without its option (--harden, --pids), a memory limit too small for
/// the agent, a CPU limit above the CPUs this process may use.
pub fn refuse_up_front(cli: &cli::Cli) -> Result<(), Error> {
    let on = sets(cli);
    for (opt, id) in [("--from", &cli.from), ("--to", &cli.to)] {
        let Some(e) = id.as_deref().and_then(lessons::entry) else {
            continue;
        };
        if let Some(option) = e.set.option().filter(|_| !on.contains(&e.set)) {
            return Err(Error::usage(tf(
                "err.optional_needs_harden",
                &[("opt", &opt), ("id", &e.id), ("option", &option)],
            )));
        }
    }
    if cli.memory < MEMORY_FLOOR {
        return Err(Error::usage(tf(
            "err.memory_floor",
            &[
                ("given", &human_bytes(cli.memory)),
                ("floor", &human_bytes(MEMORY_FLOOR)),
            ],
        )));
    }
    // sched_getaffinity(2), through the standard library (it also honours a cgroup
    // quota hako itself runs under).
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let (q, p) = (cli.cpu.quota_us, cli.cpu.period_us);
    if p > 0 && q > cpus * p {
        return Err(Error::usage(tf(
            "err.cpu_above_cpus",
            &[
                ("share", &format!("{:.0}%", q as f64 * 100.0 / p as f64)),
                ("cpus", &cpus),
                ("max", &format!("{}%", cpus * 100)),
            ],
        )));
    }
    Ok(())
}

/// The optional lesson sets the command line turns on.
pub fn sets(cli: &cli::Cli) -> Vec<lessons::Set> {
    lessons::Set::on(cli.harden(), cli.pids().is_some(), cli.overlay(), cli.net())
}

/// A size as `--memory` reads it: 4M, 600K, or bytes.
pub fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{}M", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{}K", n >> 10)
    } else {
        n.to_string()
    }
}

pub fn cleanup(kept: bool, cache: bool) -> i32 {
    ui::render::init(false);
    if !sys::is_root() {
        ui::render::error(t("err.cleanup_root"));
        return Kind::Failed.code();
    }
    let mut said = journal::clean_orphans(kept);
    if cache {
        match crate::rootfs::layers::empty_cache() {
            Ok(s) => said.extend(s),
            Err(e) => {
                for l in &said {
                    ui::render::note(l);
                }
                ui::render::error(&e.msg);
                return e.kind.code();
            }
        }
    }
    if said.is_empty() {
        ui::render::note(t("cleanup.nothing"));
    } else {
        for l in &said {
            ui::render::note(l);
        }
    }
    ui::render::note(t("cleanup.reset"));
    0
}

/// `hako list`: number, id and title, then marks: the lessons with a demonstration,
/// and the optional ones with the option that adds them (--harden, --pids).
pub fn list() -> i32 {
    // What this learner did by hand in `hako practice` (readable by root only).
    let done = crate::practice::progress::Progress::load(&crate::practice::events::attendee(None));
    for (i, e) in lessons::TABLE.iter().enumerate() {
        let p = lessons::prose(e.id);
        let mut marks = vec![];
        match done.done.get(e.id).map(|d| d.state.as_str()) {
            Some("solved") => marks.push(t("list.solved").to_string()),
            Some(_) => marks.push(t("list.by_hand").to_string()),
            None => {}
        }
        if e.lesson.has_demo() {
            marks.push(t("list.demo").to_string());
        }
        if let Some(option) = e.set.option() {
            marks.push(tf("list.optional", &[("option", &option)]));
        }
        let marks = if marks.is_empty() {
            String::new()
        } else {
            format!("  {}", tf("list.marks", &[("marks", &marks.join(", "))]))
        };
        println!("{:>2}  {:<11} {}{}", i + 1, e.id, p.title, marks);
    }
    0
}

/// `hako show ID`: the lesson rendered from its Markdown (colour on a terminal unless
/// NO_COLOR or `--color never`; plain text without Markdown marks in a pipe).
pub fn show(id: &str, when: ui::render::ColorWhen) -> i32 {
    use ui::render::ColorWhen;
    let src = lessons::source(id, i18n::lang()).unwrap_or_default();
    let term = console::Term::stdout();
    let color = match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => term.is_term() && std::env::var_os("NO_COLOR").is_none(),
    };
    let width = term
        .size_checked()
        .map(|(_, w)| usize::from(w).clamp(40, 110))
        .unwrap_or(80);
    let look = ui::markdown::Look {
        width,
        color,
        unicode: ui::render::utf8_locale(),
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in ui::markdown::render(src, look) {
        let line = if look.unicode {
            line
        } else {
            ui::render::transliterate(&line)
        };
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    0
}
