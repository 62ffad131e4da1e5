//! hako (箱): build a Linux container by hand, one lesson at a time, for real.

use hako::commands::{cleanup, list, refuse_up_front, show};
use hako::error::{Error, Kind};
use hako::ui::i18n;
use hako::ui::i18n::{t, tf};
use hako::{agent, cli, demos, doctor, rootfs, script, sys, ui, walk};
use std::io::IsTerminal;

fn main() {
    let code = run();
    std::process::exit(code);
}

fn run() -> i32 {
    // --trace lines from the kernel layer reach the screen through the renderer.
    sys::set_trace_sink(ui::render::trace_line);
    if std::env::args_os().nth(1).is_some_and(|a| a == "__agent") {
        return agent::agent_main();
    }
    if std::env::args_os().nth(1).is_some_and(|a| a == "__book") {
        let args: Vec<String> = std::env::args().skip(2).collect();
        return hako::book::main(&args);
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
            ui::render::init_with(
                false,
                ui::render::ColorWhen::Never,
                ui::render::Format::Json,
            );
            ui::render::error_code(&msg, Kind::Usage.code());
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
                ui::render::ColorWhen::Always => true,
                ui::render::ColorWhen::Never => false,
                ui::render::ColorWhen::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            return doctor::main(&cli.rootfs, cli.harden(), cli.pids(), cli.net(), color);
        }
        Some(cli::Command::Show { id }) => return show(&id, cli.color),
        Some(cli::Command::Cleanup { kept, cache }) => return cleanup(kept, cache),
        Some(cli::Command::Completions { shell }) => return cli::completions(shell),
        Some(cli::Command::Manpage) => return cli::manpage(),
        Some(cli::Command::Script) => {
            let plan = script::Plan {
                source: cli.rootfs.clone(),
                memory: cli.memory,
                cpu: cli.cpu,
                harden: cli.harden(),
                pids: cli.pids(),
                overlay: cli.overlay(),
                net: cli.net().then_some(cli.subnet),
            };
            return match script::render(&plan) {
                Ok(s) => {
                    print!("{s}");
                    0
                }
                Err(e) => {
                    ui::render::error(&e.msg);
                    e.kind.code()
                }
            };
        }
        Some(cli::Command::Practice { .. }) => {}
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
    let format = match &cli.command {
        Some(cli::Command::Practice { format, .. }) => *format,
        _ => cli.format,
    };
    ui::render::init_with(cli.quiet && cli.auto(), cli.color, format);
    sys::set_trace(cli.trace);
    sys::signals::install();
    // A panic unwinds through the walk, whose state removes what it made on the way
    // (Drop); then it is reported as hako's own failure.
    std::panic::set_hook(Box::new(|info| {
        ui::render::error(&tf("err.panic", &[("what", &info)]));
    }));
    match std::panic::catch_unwind(|| start(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            ui::render::error_code(&e.msg, e.kind.code());
            e.kind.code()
        }
        Err(_) => Kind::Failed.code(),
    }
}

fn start(cli: cli::Cli) -> Result<i32, Error> {
    let pids = cli.pids();
    let overlay = cli.overlay();
    if let Some(cli::Command::Practice {
        replay, name, from, ..
    }) = cli.command
    {
        if !sys::is_root() {
            return Err(Error::failed(t("err.need_root")));
        }
        return hako::practice::run(hako::practice::Options {
            source: cli.rootfs,
            insecure: cli.insecure,
            replay,
            name,
            from,
            pids,
            overlay,
        });
    }
    if cli.quiet && !cli.auto() {
        return Err(Error::usage(t("err.quiet_needs_auto")));
    }
    refuse_up_front(&cli)?;
    if !sys::is_root() {
        return Err(Error::failed(t("err.need_root")));
    }
    let tty = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !cli.auto() && !tty {
        ui::render::note(t("note.auto_no_tty"));
    }
    rootfs::extract::limits::set_flags(cli.max_unpack, cli.max_entries);
    let (harden, pids, overlay, net) = (cli.harden(), cli.pids(), cli.overlay(), cli.net());
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
        harden,
        pids,
        overlay,
        net,
        subnet: cli.subnet,
    };
    walk::run(opts)
}
