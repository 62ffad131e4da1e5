//! The command line (clap).

use crate::i18n::Lang;
use crate::lessons::IDS;
use crate::rootfs::Source;
use crate::spec::{parse_cpu, parse_size, CpuSpec};
use clap::{Parser, Subcommand};

const AFTER_HELP: &str = "\
Examples:
  sudo hako                          walk every lesson, asking before each step
  sudo hako --auto                   the same, without questions
  sudo hako --auto --demos           and see each limit and escape happen for real
  sudo hako --auto --trace           print every system call, with its man page
  echo 'hostname; exit 3' | sudo hako --auto
                                     run a script in the finished container's shell
  sudo hako --memory 64M --cpu 50%   other limits than the article's
  sudo hako --rootfs dir:/srv/alpine use an existing root filesystem
  hako list                          the lessons (no root needed)
  hako show limits                   read one lesson (no root needed)
  hako script > walk.sh && sudo bash walk.sh
                                     the same walk as a shell script for this host
  LANG=ja_JP.UTF-8 hako show chroot  in Japanese

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

    /// The command to run inside the container [default: /bin/sh].
    #[arg(last = true, value_name = "CMD")]
    pub cmd: Vec<String>,
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
    },
    /// Print one lesson's text without running anything (no root needed).
    Show {
        /// The lesson's id, as `hako list` shows it.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(IDS))]
        id: String,
    },
    /// Print the whole walk as one shell script for this host (no root needed to
    /// print it): save it to a file, then `sudo bash walk.sh`.
    Script,
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
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }
}
