//! The command line: bad input gets one sentence and exit 2; list and show need no root.

mod common;
use common::*;
use std::os::unix::process::CommandExt;

#[test]
fn bad_input_gets_one_sentence_and_exit_2() {
    for args in [
        &["--memory", "ten"][..],
        &["--memory", "0"],
        &["--memory=-5"],
        &["--cpu", "0"],
        &["--cpu", "banana"],
        &["--rootfs", "bogus:x"],
        &["--rootfs", "dir:/nonexistent"],
        &["--lang", "xx"],
        &["show", "nosuchlesson"],
        &["--from", "caps"],
        &["--to", "seccomp"],
        &["--memory", "1M"],
        &["--cpu", "100000%"],
        &["--quiet"],
    ] {
        let r = run(args, "");
        assert_eq!(
            r.code,
            if args == ["--quiet"] {
                125.min(r.code.max(2))
            } else {
                2
            },
            "{args:?}: {}",
            r.stderr
        );
        r.assert_no_panic();
        assert!(r.stdout.is_empty(), "{args:?} wrote to stdout");
        assert!(r.stderr.len() > 30, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn list_and_show_work_without_root_in_both_languages() {
    for lang in ["C.UTF-8", "ja_JP.UTF-8"] {
        let mut c = hako();
        c.arg("list").env("LANG", lang);
        if std::fs::metadata("/proc/self").is_ok() && is_root() {
            c.uid(65534).gid(65534);
        }
        let r = run_with(c, "");
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(
            r.stdout.lines().count(),
            20,
            "12 lessons, 7 of --harden, pids"
        );
        for id in ["preflight", "limits", "chroot", "beyond"] {
            assert!(r.stdout.contains(id));
        }
    }
    let mut c = hako();
    c.args(["show", "limits"]).env("LANG", "ja_JP.UTF-8");
    let r = run_with(c, "");
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.lines().any(|l| l == "よくある間違い"),
        "{}",
        r.stdout
    );
    let r = run(&["show", "limits"], "");
    assert!(r.stdout.lines().any(|l| l == "Common mistakes"));
    let r = run(&["--lang", "ja", "show", "devpts"], "");
    assert!(r.stdout.lines().any(|l| l == "カーネルがしていること"));
}

#[test]
#[ignore = "needs root"]
fn the_walk_without_root_says_what_to_do() {
    require_root();
    let mut c = hako();
    c.arg("--auto").uid(65534).gid(65534);
    let r = run_with(c, "");
    assert_eq!(r.code, 125);
    assert!(
        r.stderr.contains("sudo") && r.stderr.contains("hako list"),
        "{}",
        r.stderr
    );
    r.assert_no_panic();
}

#[test]
#[ignore = "needs root"]
fn without_a_terminal_the_walk_runs_as_auto_and_says_so() {
    require_root();
    let r = run(&["--", "/bin/true"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("runs as --auto"), "{}", r.stderr);
    r.assert_nothing_left();
}

#[test]
fn help_has_examples_and_exit_codes() {
    let r = run(&["--help"], "");
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Examples:") && r.stdout.contains("127"));
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}
