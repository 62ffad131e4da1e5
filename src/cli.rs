//! The command line (clap).

use crate::lessons::IDS;
use crate::rootfs::Source;
use crate::spec::{parse_cpu, parse_size, CpuSpec};
use crate::ui::i18n::Lang;
use crate::ui::render::{ColorWhen, Format};
use clap::{Parser, Subcommand};

const AFTER_HELP: &str = "\
Examples:
  sudo hako                          walk every lesson, asking before each step
  sudo hako --auto                   the same, without questions
  sudo hako --auto --demos           and see each limit and escape happen for real
  sudo hako --auto --trace           print every system call, with its man page
  sudo hako --auto --harden          and confine the shell as real runtimes do
  echo 'hostname; exit 3' | sudo hako --auto
                                     run a script in the finished container's shell
  sudo hako --memory 64M --cpu 50%   other limits than the article's
  sudo hako --rootfs dir:/srv/alpine use an existing root filesystem
  hako list                          the lessons (no root needed)
  hako show limits                   read one lesson (no root needed)
  hako script > walk.sh && sudo bash walk.sh
                                     the same walk as a shell script for this host
  LANG=ja_JP.UTF-8 hako show chroot  in Japanese

For instructors:
  hako doctor                        is this machine ready for the walk? (no root needed;
                                     every gap at once, exit 0 when ready)
  sudo hako --from hostname          start the visible walk at hostname (the lessons
                                     before it run silently to build its state)
  sudo hako --from proc --to devnull show three lessons, then clean up and exit 0
  sudo hako --pace 20                no questions, a 20-second pause after each lesson
  sudo hako --format json 2>walk.jsonl
                                     one JSON object per lesson (and per error) on stderr

Exit status (as docker run):
  0-255  the command's own status, once every check has passed
  2      usage error
  125    hako itself failed: a stage or its check, or the setup
  126    the command cannot be executed
  127    the command does not exist in the rootfs
  130    quit, or Ctrl-C at a prompt
  143    SIGTERM or SIGHUP";

#[derive(Debug, Parser)]
#[command(
    name = "hako",
    version,
    about = "Build a Linux container by hand, one lesson at a time, for real (箱: box).",
    long_about = "Build a Linux container by hand, one lesson at a time, for real.\n\nhako follows the article 「仮想環境とコンテナを絶対に理解したい」: a root filesystem, a cgroup with limits, namespaces, /proc, /dev, a hostname, chroot with a capability drop, and a shell inside. Each lesson explains itself, shows the equivalent shell command, runs the stage through the kernel's own system calls and checks the result by reading it back. The walk needs root; `list` and `show` do not.\n\nhako's own words go to stderr; stdout belongs to the command inside the container.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Ask nothing: run every lesson and stop with exit 125 at the first failed check.
    #[arg(long)]
    pub auto: bool,

    /// Language of the lessons and messages [default: from LC_ALL, LC_MESSAGES or LANG].
    #[arg(long, global = true, value_enum)]
    pub lang: Option<Lang>,

    /// Where the container's files come from: `host` (busybox or the host's own
    /// /bin/sh with its libraries, offline, the default), `dir:PATH` (an existing
    /// directory, used in place and never deleted), `tar:PATH` (a tarball: plain,
    /// gzip, xz or zstd), `docker:IMAGE` (the article's way: `docker:` alone is the
    /// `bash` image) or `oci:IMAGE` (pulled from a registry by hako, no Docker needed:
    /// `oci:bash`, `oci:debian:12`, `oci:ghcr.io/OWNER/NAME:TAG`).
    #[arg(long, global = true, value_name = "SOURCE", default_value = "host", value_parser = |s: &str| s.parse::<Source>())]
    pub rootfs: Source,

    /// Memory limit: bytes, or K, M, G (binary: 10M = 10×2²⁰ bytes), as `docker --memory` reads it.
    #[arg(long, global = true, value_name = "SIZE", default_value = "10000000", value_parser = parse_size)]
    pub memory: u64,

    /// CPU limit: a share of one CPU (`30%`, `0.3`) or "QUOTA PERIOD" in microseconds.
    #[arg(long, global = true, value_name = "SPEC", default_value = "300000 1000000", value_parser = parse_cpu)]
    pub cpu: CpuSpec,

    /// With --rootfs oci:…, allow plain HTTP to a registry that is not on this
    /// machine (loopback registries may always use it).
    #[arg(long)]
    pub insecure: bool,

    /// Cap on the bytes one extraction (tar:, docker:, oci:) may write, counted by the
    /// files' declared sizes: bytes, or K, M, G, T [default: the smaller of 8G and 90% of
    /// the free space where the rootfs goes].
    #[arg(long, value_name = "SIZE", value_parser = parse_unpack_size)]
    pub max_unpack: Option<u64>,

    /// Cap on the number of entries one extraction may unpack [default: 1000000].
    #[arg(long, value_name = "N", value_parser = parse_entries)]
    pub max_entries: Option<u64>,

    /// Keep the temporary rootfs afterwards and print its path.
    #[arg(long)]
    pub keep: bool,

    /// With --auto: print nothing unless something fails.
    #[arg(long)]
    pub quiet: bool,

    /// Print each system call as hako makes it, with its man page.
    #[arg(long)]
    pub trace: bool,

    /// Run each lesson's demonstration after its check (the memory kill, the CPU
    /// throttling, the two ptmx recipes, the chroot escape). Interactive walks offer
    /// them one by one.
    #[arg(long)]
    pub demos: bool,

    /// Colours on stderr: `auto` (when stderr is a terminal and NO_COLOR is not set),
    /// `always` or `never`.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value = "auto"
    )]
    pub color: ColorWhen,

    /// hako's own output on stderr: `text`, or `json` (one JSON object per line: one per
    /// lesson, with its shell equivalent, what it did, its evidence and verdict; errors
    /// as {"error", "exit"}). Implies --auto.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub format: Format,

    /// Start the visible walk at this lesson: the lessons before it run silently to
    /// build the state it needs (their checks still run, and stop the walk on failure).
    #[arg(long, value_name = "ID", value_parser = clap::builder::PossibleValuesParser::new(IDS))]
    pub from: Option<String>,

    /// Stop the walk after this lesson, cleaning up (exit 0).
    #[arg(long, value_name = "ID", value_parser = clap::builder::PossibleValuesParser::new(IDS))]
    pub to: Option<String>,

    /// --auto, with a pause of SECONDS after each lesson (for a live demo).
    #[arg(long, value_name = "SECONDS", value_parser = parse_pace)]
    pub pace: Option<std::time::Duration>,
    /// Go past the article and confine the shell the way real runtimes do, one lesson
    /// per measure: a user namespace, pivot_root, a cgroup namespace, masked /proc
    /// paths, a small capability set, no_new_privs and a seccomp filter.
    #[arg(long, global = true)]
    pub harden: bool,

    /// Add the pids lesson: at most N processes and threads in the container's cgroup
    /// (`pids.max`), shown stopping a fork loop. `--pids` alone means 64 [at least 8:
    /// hako's agent and the container's PID 1 count too].
    #[arg(long, global = true, value_name = "N", num_args = 0..=1, default_missing_value = "64", value_parser = parse_pids)]
    pub pids: Option<u64>,

    /// Every optional lesson: --harden's, --pids (64 unless --pids N says otherwise),
    /// --overlay and --net.
    #[arg(long, global = true)]
    pub all: bool,

    /// Add the overlay lesson: the rootfs becomes an overlay mount of cached image
    /// layers (unpacked once into the cache) with an upper directory of this run's own
    /// (with --harden, the layers are idmapped mounts).
    #[arg(long, global = true)]
    pub overlay: bool,

    /// Add the network lesson: a veth pair into the container, a bridge on the host,
    /// addresses and a default route, forwarding and a masquerade rule (nftables), and
    /// /etc/resolv.conf in the rootfs; all removed afterwards.
    #[arg(long, global = true)]
    pub net: bool,

    /// The network lesson's IPv4 subnet (private, /8 to /30) [default: a free /24 in
    /// 10.200.0.0/16, read from the host's routes]. Implies --net.
    #[arg(long, global = true, value_name = "CIDR", value_parser = crate::spec::parse_subnet)]
    pub subnet: Option<crate::spec::Subnet>,

    /// The command to run inside the container [default: /bin/sh].
    #[arg(last = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

pub use crate::lessons::pids::DEFAULT_PIDS;

/// `--pids N`: a whole number from 8 (hako's own processes in the cgroup leave room for
/// the shell) to the kernel's PID_MAX_LIMIT.
fn parse_pids(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (8..=4_194_304).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?} is not a pids limit: write a whole number from 8 to 4194304, such as 64 (hako's agent and the container's PID 1 count against it too)"
        )),
    }
}

/// `--pace`: seconds, whole or not (`20`, `1.5`), at most an hour.
fn parse_pace(s: &str) -> Result<std::time::Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=3600.0).contains(&v) => Ok(std::time::Duration::from_secs_f64(v)),
        _ => Err(format!(
            "{s:?} is not a pause in seconds: write a number from 0 to 3600, such as 20 or 1.5"
        )),
    }
}

/// `--max-unpack`: a size as `--memory` reads it, with its own sentence when it is not one.
fn parse_unpack_size(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|_| {
        format!("{s:?} is not a size for --max-unpack: give bytes or a number with K, M, G or T, such as 512M or 20G")
    })
}

/// `--max-entries`: a whole number, at least 1.
fn parse_entries(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "{s:?} is not a number of entries: write a whole number of at least 1, such as 2000000"
        )),
    }
}

impl Cli {
    /// No questions: `--auto`, or what implies it (`--pace`, `--format json`).
    pub fn auto(&self) -> bool {
        self.auto || self.pace.is_some() || self.format == Format::Json
    }

    /// `--harden`, or `--all`.
    pub fn harden(&self) -> bool {
        self.harden || self.all
    }

    /// `--overlay`, or `--all`.
    pub fn overlay(&self) -> bool {
        self.overlay || self.all
    }

    /// The pids limit when the pids lesson runs: `--pids [N]`, or `--all`.
    pub fn pids(&self) -> Option<u64> {
        self.pids.or(self.all.then_some(DEFAULT_PIDS))
    }

    /// Whether the network lesson runs: `--net`, `--subnet`, or `--all`.
    pub fn net(&self) -> bool {
        self.net || self.subnet.is_some() || self.all
    }
}

/// Whether the raw arguments ask for `--format json` (to write a usage error as JSON
/// when clap could not parse the rest).
pub fn wants_json(args: &[String]) -> bool {
    args.iter().any(|a| a == "--format=json")
        || args
            .windows(2)
            .any(|w| w[0] == "--format" && w[1] == "json")
}

/// `--lang` as the raw arguments give it (before `--`), to write `--help` and the
/// usage errors in that language before clap has parsed anything.
pub fn lang_from_args(args: &[String]) -> Option<Lang> {
    let mut it = args.iter().skip(1).take_while(|a| *a != "--");
    while let Some(a) = it.next() {
        let v = if a == "--lang" {
            it.next().map(String::as_str)
        } else {
            a.strip_prefix("--lang=")
        };
        match v {
            Some("ja") => return Some(Lang::Ja),
            Some("en") => return Some(Lang::En),
            _ => {}
        }
    }
    None
}

/// Parses the command line with the help in the run's language (set before). clap
/// lets every text it shows from hako be replaced (about, each option's help, the
/// subcommands, the examples, the headings through a template); its own words for
/// `-h`/`-V` and its error messages stay English.
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let m = localized(Cli::command(), crate::ui::i18n::lang()).try_get_matches()?;
    Cli::from_arg_matches(&m)
}

/// The command with its texts from the catalog of `lang` (English stays as written
/// in the doc comments above, which also make the man page and completions).
fn localized(cmd: clap::Command, lang: Lang) -> clap::Command {
    if lang != Lang::Ja {
        return cmd;
    }
    let t = |key: &str| crate::ui::i18n::t_in(lang, key);
    let mut cmd = cmd
        .about(t("help.about"))
        .long_about(t("help.long_about"))
        .after_help(t("help.after"))
        .help_template(t("help.template"));
    for (id, text) in [
        ("auto", t("help.auto")),
        ("lang", t("help.lang")),
        ("rootfs", t("help.rootfs")),
        ("memory", t("help.memory")),
        ("cpu", t("help.cpu")),
        ("insecure", t("help.insecure")),
        ("max_unpack", t("help.max_unpack")),
        ("max_entries", t("help.max_entries")),
        ("keep", t("help.keep")),
        ("quiet", t("help.quiet")),
        ("trace", t("help.trace")),
        ("demos", t("help.demos")),
        ("harden", t("help.harden")),
        ("pids", t("help.pids")),
        ("all", t("help.all")),
        ("overlay", t("help.overlay")),
        ("net", t("help.net")),
        ("subnet", t("help.subnet")),
        ("color", t("help.color")),
        ("format", t("help.format")),
        ("from", t("help.from")),
        ("to", t("help.to")),
        ("pace", t("help.pace")),
        ("cmd", t("help.cmd")),
    ] {
        cmd = cmd.mut_arg(id, |a| a.help(text).long_help(None::<&str>));
    }
    for (id, text) in [
        ("list", t("help.list")),
        ("cleanup", t("help.cleanup")),
        ("show", t("help.show")),
        ("script", t("help.script")),
        ("doctor", t("help.doctor")),
        ("practice", t("help.practice")),
    ] {
        cmd = cmd.mut_subcommand(id, |s| s.about(text).long_about(None::<&str>));
    }
    cmd.mut_subcommand("cleanup", |s| s.mut_arg("kept", |a| a.help(t("help.kept"))))
        .mut_subcommand("show", |s| s.mut_arg("id", |a| a.help(t("help.id"))))
}

/// `hako completions SHELL`: the completion script, on stdout.
pub fn completions(shell: clap_complete::Shell) -> i32 {
    clap_complete::generate(shell, &mut for_completion(), "hako", &mut std::io::stdout());
    0
}

/// The command as completion scripts offer it: the same options, and only the
/// subcommands `--help` shows (clap_complete would offer the hidden ones too).
pub fn for_completion() -> clap::Command {
    use clap::CommandFactory;
    let full = Cli::command();
    let visible: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let mut cmd = clap::Command::new("hako")
        .version(env!("CARGO_PKG_VERSION"))
        .about(full.get_about().cloned().unwrap_or_default())
        .subcommands(visible);
    for a in full.get_arguments() {
        cmd = cmd.arg(a.clone());
    }
    cmd
}

/// `hako manpage`: hako(1) in roff, on stdout.
pub fn manpage() -> i32 {
    use clap::CommandFactory;
    let mut out = Vec::new();
    if clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .is_err()
    {
        return 125;
    }
    use std::io::Write;
    match std::io::stdout().write_all(&out) {
        Ok(()) => 0,
        Err(_) => 125,
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the lessons, one line each (no root needed).
    List,
    /// Remove what an interrupted run left behind (found through the journal in /run/hako).
    Cleanup {
        /// Also remove the root filesystems kept with --keep.
        #[arg(long)]
        kept: bool,
        /// Also empty the cache (image blobs and the layers of --overlay).
        #[arg(long)]
        cache: bool,
    },
    /// Print one lesson's text without running anything (no root needed).
    Show {
        /// The lesson's id, as `hako list` shows it.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(IDS))]
        id: String,
    },
    /// Check whether this machine is ready for `sudo hako` (no root needed, nothing
    /// changed): every gap at once, with what to do; exit 0 only when the default walk
    /// will get past its preflight here, root included. Docker and registries are
    /// reported for information and never contacted.
    Doctor,
    /// Print the whole walk as one shell script for this host (no root needed to
    /// print it): save it to a file, then `sudo bash walk.sh`.
    Script,
    /// Hands-on: you type every stage of the article's walk on a real shell, and the
    /// kernel judges each one after your command returns to the prompt. Ctrl-] then h
    /// (hint), s (solve: hako types it), c (check now), e (explain), q (quit and clean up).
    Practice {
        /// Type this file's lines into the shell as if typed, each after the prompt
        /// came back, then end as quit does (for tests and demonstrations). Lines
        /// `#hako: hint|solve|check|explain|quit` act as those keys.
        #[arg(long, value_name = "FILE")]
        replay: Option<std::path::PathBuf>,
        /// The attendee's name in the JSON lines and the progress file [default: the
        /// user who ran sudo].
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Start at this task: hako types the earlier tasks' solve lines first, so that
        /// your shell is where that stage begins (inside the container's namespaces
        /// once past `namespaces`).
        #[arg(long = "from", id = "practice_from", value_name = "ID")]
        from: Option<String>,
        /// hako's own output on stderr: `text`, or `json` (one line per task state
        /// change: started, passed, failed, solved).
        #[arg(
            long = "format",
            id = "practice_format",
            value_enum,
            value_name = "FORMAT",
            default_value = "text"
        )]
        format: Format,
    },
    /// Print a completion script for SHELL, generated from these options (hidden):
    /// `hako completions bash > /etc/bash_completion.d/hako`.
    #[command(hide = true)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page, generated from these options (hidden):
    /// `hako manpage > /usr/local/share/man/man1/hako.1`.
    #[command(hide = true)]
    Manpage,
    /// Times hako's extractor against GNU `tar -x` on the same tarball (for the
    /// benchmark; hidden).
    #[command(hide = true)]
    BenchExtract {
        tarball: std::path::PathBuf,
        /// Only unpack, with hako's extractor, into this existing empty directory
        /// (for `bench/run.sh`, which times it beside `tar -x`).
        #[arg(long, value_name = "DIR")]
        into: Option<std::path::PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_articles() {
        let c = Cli::try_parse_from(["hako"]).unwrap();
        assert_eq!(c.memory, 10_000_000);
        assert_eq!(c.cpu, CpuSpec::default());
        assert_eq!(c.rootfs, Source::Host);
        assert!(c.cmd.is_empty());
        assert!(!c.insecure);
        assert_eq!((c.max_unpack, c.max_entries), (None, None));
    }

    #[test]
    fn extraction_caps() {
        let c =
            Cli::try_parse_from(["hako", "--max-unpack", "64M", "--max-entries", "100"]).unwrap();
        assert_eq!((c.max_unpack, c.max_entries), (Some(64 << 20), Some(100)));
        let e = Cli::try_parse_from(["hako", "--max-unpack", "lots"]).unwrap_err();
        assert!(e.to_string().contains("--max-unpack"), "{e}");
    }

    #[test]
    fn rootfs_sources() {
        let c = Cli::try_parse_from(["hako", "--rootfs", "docker:", "--insecure"]).unwrap();
        assert_eq!(c.rootfs, Source::Docker("bash".into()));
        assert!(c.insecure);
        let c = Cli::try_parse_from(["hako", "--rootfs", "oci:127.0.0.1:5000/x:y"]).unwrap();
        assert!(matches!(c.rootfs, Source::Oci(_)));
    }

    #[test]
    fn script_takes_the_walks_options() {
        let c = Cli::try_parse_from(["hako", "script", "--memory", "64M", "--lang", "ja"]).unwrap();
        assert!(matches!(c.command, Some(Command::Script)));
        assert_eq!(c.memory, 64 << 20);
    }

    #[test]
    fn instructor_options() {
        let c = Cli::try_parse_from(["hako", "--from", "hostname", "--to", "chroot"]).unwrap();
        assert_eq!(c.from.as_deref(), Some("hostname"));
        assert_eq!(c.to.as_deref(), Some("chroot"));
        assert!(!c.auto());
        let c = Cli::try_parse_from(["hako", "--pace", "1.5"]).unwrap();
        assert_eq!(c.pace, Some(std::time::Duration::from_millis(1500)));
        assert!(c.auto());
        let c = Cli::try_parse_from(["hako", "--format", "json", "--color", "never"]).unwrap();
        assert!(c.auto());
        assert_eq!(c.color, ColorWhen::Never);
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wants_json(&args(&["hako", "--format", "json", "--bad"])));
        assert!(wants_json(&args(&["hako", "--format=json"])));
        assert!(!wants_json(&args(&["hako", "--", "--format", "json"])[..2]));
    }

    #[test]
    fn pids_and_all() {
        let c = Cli::try_parse_from(["hako", "--pids", "20"]).unwrap();
        assert_eq!((c.pids(), c.harden()), (Some(20), false));
        let c = Cli::try_parse_from(["hako", "--pids", "--auto"]).unwrap();
        assert_eq!(c.pids(), Some(DEFAULT_PIDS));
        assert!(c.auto());
        let c = Cli::try_parse_from(["hako", "--pids", "--", "/bin/true"]).unwrap();
        assert_eq!(c.pids(), Some(DEFAULT_PIDS));
        assert_eq!(c.cmd, ["/bin/true"]);
        let c = Cli::try_parse_from(["hako", "--all"]).unwrap();
        assert_eq!((c.pids(), c.harden()), (Some(DEFAULT_PIDS), true));
        assert!(c.overlay());
        let c = Cli::try_parse_from(["hako", "--all", "--pids", "100"]).unwrap();
        assert_eq!(c.pids(), Some(100));
        let c = Cli::try_parse_from(["hako", "script", "--pids", "9"]).unwrap();
        assert_eq!(c.pids(), Some(9));
        let c = Cli::try_parse_from(["hako"]).unwrap();
        assert_eq!((c.pids(), c.harden()), (None, false));
        for bad in ["0", "7", "many", "-1", "4194305"] {
            let e = Cli::try_parse_from(["hako", "--pids", bad]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn net_and_subnet() {
        let c = Cli::try_parse_from(["hako", "--net"]).unwrap();
        assert!(c.net() && c.subnet.is_none());
        let c = Cli::try_parse_from(["hako", "--subnet", "192.168.50.0/24"]).unwrap();
        assert!(c.net());
        assert_eq!(c.subnet.unwrap().to_string(), "192.168.50.0/24");
        assert!(Cli::try_parse_from(["hako", "--all"]).unwrap().net());
        assert!(!Cli::try_parse_from(["hako"]).unwrap().net());
        for bad in ["8.8.8.0/24", "10.0.0.1/24", "10.0.0.0/31", "nope"] {
            let e = Cli::try_parse_from(["hako", "--subnet", bad]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn lang_before_parsing() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            lang_from_args(&a(&["hako", "--lang", "ja", "-h"])),
            Some(Lang::Ja)
        );
        assert_eq!(lang_from_args(&a(&["hako", "--lang=en"])), Some(Lang::En));
        assert_eq!(
            lang_from_args(&a(&["hako", "--", "x", "--lang", "ja"])),
            None
        );
        assert_eq!(lang_from_args(&a(&["hako", "--lang"])), None);
    }

    #[test]
    fn help_in_japanese_replaces_every_text_of_hako() {
        let mut cmd = localized(Cli::command(), Lang::Ja);
        cmd.build();
        let help = cmd.render_long_help().to_string();
        assert!(help.contains("使い方"), "{help}");
        for a in cmd.get_arguments() {
            if let Some(h) = a.get_help() {
                let h = h.to_string();
                if !["help", "version"].contains(&a.get_id().as_str()) {
                    assert!(!h.is_ascii(), "{}: {h}", a.get_id());
                }
            }
        }
        for s in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
            if s.get_name() != "help" {
                assert!(!about.is_ascii(), "{}: {about}", s.get_name());
            }
        }
    }

    #[test]
    fn completions_offer_no_hidden_subcommand() {
        let mut cmd = for_completion();
        cmd.build();
        let names: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
        for hidden in [
            "completions",
            "manpage",
            "bench-extract",
            "__agent",
            "__demo",
        ] {
            assert!(!names.contains(&hidden), "{hidden} in {names:?}");
        }
        for shown in ["list", "show", "script", "cleanup", "doctor", "practice"] {
            assert!(names.contains(&shown), "{shown} missing from {names:?}");
        }
        assert!(cmd.get_arguments().any(|a| a.get_id() == "harden"));
    }

    #[test]
    fn practice_options() {
        let c = Cli::try_parse_from([
            "hako", "practice", "--replay", "/tmp/x", "--format", "json", "--name", "ada",
            "--lang", "ja", "--rootfs", "host",
        ])
        .unwrap();
        match c.command {
            Some(Command::Practice {
                replay,
                name,
                format,
                from,
            }) => {
                assert_eq!(from, None);
                assert_eq!(replay.as_deref(), Some(std::path::Path::new("/tmp/x")));
                assert_eq!(name.as_deref(), Some("ada"));
                assert_eq!(format, Format::Json);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.lang, Some(Lang::Ja));
        assert!(Cli::try_parse_from(["hako", "practice", "--format", "xml"]).is_err());
    }

    #[test]
    fn command_after_double_dash() {
        let c = Cli::try_parse_from(["hako", "--auto", "--", "/bin/echo", "-n", "x"]).unwrap();
        assert_eq!(c.cmd, ["/bin/echo", "-n", "x"]);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["hako", "--memory", "ten"][..],
            &["hako", "--memory", "0"],
            &["hako", "--memory=-5"],
            &["hako", "--cpu", "0"],
            &["hako", "--cpu", "banana"],
            &["hako", "--rootfs", "bogus:x"],
            &["hako", "--rootfs", "dir:/nonexistent"],
            &["hako", "--rootfs", "tar:/nonexistent.tar"],
            &["hako", "--rootfs", "oci:NOT/valid"],
            &["hako", "--lang", "xx"],
            &["hako", "show", "nosuchlesson"],
            &["hako", "--from", "nosuchlesson"],
            &["hako", "--to", "x"],
            &["hako", "--pace", "-1"],
            &["hako", "--pace", "soon"],
            &["hako", "--color", "sometimes"],
            &["hako", "--format", "xml"],
            &["hako", "--max-unpack", "lots"],
            &["hako", "--max-unpack", "0"],
            &["hako", "--max-entries", "0"],
            &["hako", "--max-entries", "-3"],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }
}
