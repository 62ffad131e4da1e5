//! hako (箱): build a Linux container by hand, one lesson at a time, for real.

mod cli;
mod error;
mod i18n;
mod lessons;
mod rootfs;
mod spec;
mod sys;
mod walk;

use clap::Parser;
use error::{Error, Kind};
use i18n::{t, tf};
use std::io::IsTerminal;

fn main() {
    let code = run();
    std::process::exit(code);
}

fn run() -> i32 {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { Kind::Usage.code() } else { 0 };
        }
    };
    i18n::set_lang(cli.lang.unwrap_or_else(i18n::Lang::from_env));
    match cli.command {
        Some(cli::Command::List) => return list(),
        Some(cli::Command::Show { id }) => return show(&id),
        Some(cli::Command::BenchExtract { tarball }) => {
            return match rootfs::tarball::bench(&tarball) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("hako: {}", e.msg);
                    e.kind.code()
                }
            }
        }
        None => {}
    }
    walk::render::init(cli.quiet && cli.auto);
    sys::set_trace(cli.trace);
    sys::signals::install();
    match start(cli) {
        Ok(code) => code,
        Err(e) => {
            walk::render::error(&e.msg);
            e.kind.code()
        }
    }
}

fn start(cli: cli::Cli) -> Result<i32, Error> {
    if cli.quiet && !cli.auto {
        return Err(Error::usage(t("err.quiet_needs_auto")));
    }
    if !sys::is_root() {
        return Err(Error::failed(t("err.need_root")));
    }
    let tty = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !cli.auto && !tty {
        walk::render::note(t("note.auto_no_tty"));
    }
    let opts = walk::Options {
        interactive: !cli.auto && tty,
        memory: cli.memory,
        cpu: cli.cpu,
        keep: cli.keep,
        quiet: cli.quiet,
        source: cli.rootfs,
        insecure: cli.insecure,
        cmd: cli.cmd,
    };
    walk::run(opts)
}

fn list() -> i32 {
    let runs: Vec<&str> = lessons::walk().iter().map(|l| l.id()).collect();
    for (i, id) in lessons::IDS.iter().enumerate() {
        let p = lessons::prose(id);
        let later = if runs.contains(id) { "" } else { t("list.later") };
        println!("{:>2}  {:<11} {}{}", i + 1, id, p.title, later);
    }
    0
}

fn show(id: &str) -> i32 {
    let src = lessons::source(id, i18n::lang()).unwrap_or_default();
    print!("{src}");
    if !src.ends_with('\n') {
        println!();
    }
    let _ = tf;
    0
}
