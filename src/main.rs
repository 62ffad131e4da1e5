//! hako (箱): build a Linux container by hand, one lesson at a time, for real.

mod agent;
mod bench;
mod cli;
mod demos;
mod doctor;
mod error;
mod i18n;
mod journal;
mod lessons;
mod rootfs;
mod sanitize;
mod script;
mod spec;
mod sys;
mod ui;
mod walk;

use error::{Error, Kind};
use i18n::{t, tf};
use std::io::IsTerminal;

fn main() {
    let code = run();
    std::process::exit(code);
}

fn run() -> i32 {
    if std::env::args_os().nth(1).is_some_and(|a| a == "__agent") {
        return agent::agent_main();
    }
    if std::env::args_os().nth(1).is_some_and(|a| a == "__demo") {
        let args: Vec<String> = std::env::args().skip(2).collect();
        return demos::main(&args);
    }
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    i18n::set_lang(cli::lang_from_args(&args).unwrap_or_else(i18n::Lang::from_env));
    let cli = match cli::parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() && cli::wants_json(&args) => {
            let msg = console::strip_ansi_codes(&e.render().to_string())
                .trim()
                .to_string();
            walk::render::init_with(
                false,
                walk::render::ColorWhen::Never,
                walk::render::Format::Json,
            );
            walk::render::error_code(&msg, Kind::Usage.code());
            return Kind::Usage.code();
        }
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Kind::Usage.code()
            } else {
                0
            };
        }
    };
    i18n::set_lang(cli.lang.unwrap_or_else(i18n::Lang::from_env));
    if matches!(
        cli.command,
        Some(
            cli::Command::List
                | cli::Command::Doctor
                | cli::Command::Show { .. }
                | cli::Command::Completions { .. }
                | cli::Command::Manpage
        )
    ) {
        // `hako list | head` ends quietly, as cat would.
        sys::signals::default_sigpipe();
    }
    match cli.command {
        Some(cli::Command::List) => return list(),
        Some(cli::Command::Doctor) => {
            let color = match cli.color {
                walk::render::ColorWhen::Always => true,
                walk::render::ColorWhen::Never => false,
                walk::render::ColorWhen::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            return doctor::main(&cli.rootfs, cli.harden, color);
        }
        Some(cli::Command::Show { id }) => return show(&id, cli.color),
        Some(cli::Command::Cleanup { kept }) => return cleanup(kept),
        Some(cli::Command::Completions { shell }) => return cli::completions(shell),
        Some(cli::Command::Manpage) => return cli::manpage(),
        Some(cli::Command::Script) => {
            let plan = script::Plan {
                source: cli.rootfs.clone(),
                memory: cli.memory,
                cpu: cli.cpu,
                harden: cli.harden,
            };
            return match script::render(&plan) {
                Ok(s) => {
                    print!("{s}");
                    0
                }
                Err(e) => {
                    walk::render::error(&e.msg);
                    e.kind.code()
                }
            };
        }
        Some(cli::Command::BenchExtract { tarball, into }) => {
            return match rootfs::tarball::bench(&tarball, into.as_deref()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("hako: {}", e.msg);
                    e.kind.code()
                }
            }
        }
        None => {}
    }
    walk::render::init_with(cli.quiet && cli.auto(), cli.color, cli.format);
    sys::set_trace(cli.trace);
    sys::signals::install();
    // A panic unwinds through the walk, whose state removes what it made on the way
    // (Drop); then it is reported as hako's own failure.
    std::panic::set_hook(Box::new(|info| {
        walk::render::error(&tf("err.panic", &[("what", &info)]));
    }));
    match std::panic::catch_unwind(|| start(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            walk::render::error_code(&e.msg, e.kind.code());
            e.kind.code()
        }
        Err(_) => Kind::Failed.code(),
    }
}

fn start(cli: cli::Cli) -> Result<i32, Error> {
    if cli.quiet && !cli.auto() {
        return Err(Error::usage(t("err.quiet_needs_auto")));
    }
    refuse_up_front(&cli)?;
    if !sys::is_root() {
        return Err(Error::failed(t("err.need_root")));
    }
    let tty = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !cli.auto() && !tty {
        walk::render::note(t("note.auto_no_tty"));
    }
    rootfs::extract::limits::set_flags(cli.max_unpack, cli.max_entries);
    let opts = walk::Options {
        interactive: !cli.auto() && tty,
        memory: cli.memory,
        cpu: cli.cpu,
        keep: cli.keep,
        source: cli.rootfs,
        insecure: cli.insecure,
        cmd: cli.cmd,
        demos: cli.demos,
        from: cli.from,
        to: cli.to,
        pace: cli.pace,
        harden: cli.harden,
    };
    walk::run(opts)
}

/// The least `--memory` the walk accepts. Measured: the agent and the container's PID 1
/// start with -- /bin/true at 600 KiB on a v1 host and fail at 512 KiB (the kernel
/// charges a new process's page tables and stack to the cgroup, and fork(2) fails
/// with ENOMEM below that); 4 MiB leaves room for other kernels and a busybox shell.
pub const MEMORY_FLOOR: u64 = 4 << 20;

/// Options the walk could only fail on later, refused before anything is made (exit 2):
/// an optional lesson in --from/--to without --harden, a memory limit too small for
/// the agent, a CPU limit above the CPUs this process may use.
fn refuse_up_front(cli: &cli::Cli) -> Result<(), Error> {
    if !cli.harden {
        for (opt, id) in [("--from", &cli.from), ("--to", &cli.to)] {
            if let Some(id) = id.as_deref().filter(|id| lessons::HARDEN.contains(id)) {
                return Err(Error::usage(tf(
                    "err.optional_needs_harden",
                    &[("opt", &opt), ("id", &id)],
                )));
            }
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

/// A size as `--memory` reads it: 4M, 600K, or bytes.
fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{}M", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{}K", n >> 10)
    } else {
        n.to_string()
    }
}

fn cleanup(kept: bool) -> i32 {
    walk::render::init(false);
    if !sys::is_root() {
        walk::render::error(t("err.cleanup_root"));
        return Kind::Failed.code();
    }
    let said = journal::clean_orphans(kept);
    if said.is_empty() {
        walk::render::note(t("cleanup.nothing"));
    } else {
        for l in &said {
            walk::render::note(l);
        }
    }
    walk::render::note(t("cleanup.reset"));
    0
}

/// `hako list`: number, id and title, then marks: the lessons with a demonstration,
/// the optional ones (--harden), and any not walked yet.
fn list() -> i32 {
    let all = lessons::walk_for(true);
    for (i, id) in lessons::IDS.iter().enumerate() {
        let p = lessons::prose(id);
        let lesson = all.iter().find(|l| l.id() == *id);
        let mut marks = vec![];
        if lesson.is_some_and(|l| l.has_demo()) {
            marks.push(t("list.demo"));
        }
        if lessons::HARDEN.contains(id) {
            marks.push(t("list.optional"));
        }
        if lesson.is_none() {
            marks.push(t("list.later"));
        }
        let marks = if marks.is_empty() {
            String::new()
        } else {
            format!("  {}", tf("list.marks", &[("marks", &marks.join(", "))]))
        };
        println!("{:>2}  {:<11} {}{}", i + 1, id, p.title, marks);
    }
    0
}

/// `hako show ID`: the lesson rendered from its Markdown (colour on a terminal unless
/// NO_COLOR or `--color never`; plain text without Markdown marks in a pipe).
fn show(id: &str, when: walk::render::ColorWhen) -> i32 {
    use walk::render::ColorWhen;
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
        unicode: walk::utf8_locale(),
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in ui::markdown::render(src, look) {
        let line = if look.unicode {
            line
        } else {
            walk::render::transliterate(&line)
        };
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    0
}
