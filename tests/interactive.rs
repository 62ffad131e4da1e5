//! The walk as a learner and an instructor see it: in a real terminal (tmux), piped,
//! in a non-UTF-8 locale, from and to a lesson, paced, and as JSON for tools.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

// ------------------------------------------------------------------ helpers

/// What hako may leave on this machine: temp rootfs directories, cgroups named by a
/// UUID, mounts under a hako rootfs. Compared before and after a run (the tests run
/// one at a time), for runs whose UUID is not printed (--from, --format json).
fn traces() -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    let tmp = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
    for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("hako.") {
            s.insert(format!("rootfs {tmp}/{n}"));
        }
    }
    for h in ["memory", "cpu", "pids", "unified", ""] {
        let d = Path::new("/sys/fs/cgroup").join(h);
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if is_uuid(&n) {
                s.insert(format!("cgroup {}", e.path().display()));
            }
        }
    }
    for l in std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
    {
        if l.contains("/hako.") {
            s.insert(format!("mount {l}"));
        }
    }
    s
}

fn assert_no_new_traces(before: &BTreeSet<String>, out: &str) {
    let after = traces();
    let new: Vec<&String> = after.difference(before).collect();
    assert!(
        new.is_empty(),
        "left behind: {new:?}\n--- output ---\n{out}"
    );
}

fn run_env(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let mut c = hako();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run_with(c, stdin)
}

/// The lesson ids whose headers `[i/n] title  (id)` the text shows, in order.
fn headers(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('['))
        .filter_map(|l| {
            let l = l.trim_end();
            let open = l.rfind('(')?;
            l.ends_with(')')
                .then(|| l[open + 1..l.len() - 1].to_string())
        })
        .collect()
}

const ALL: [&str; 12] = [
    "preflight",
    "rootfs",
    "cgroup",
    "limits",
    "namespaces",
    "proc",
    "devpts",
    "devnull",
    "hostname",
    "chroot",
    "shell",
    "beyond",
];

// ------------------------------------------------------------------ the look

#[test]
fn output_to_a_pipe_has_no_escape_codes_even_from_a_colour_terminal() {
    require_root();
    // A tarball source, so the long work (extraction) would draw a progress bar.
    let dir = tempdir("pipe");
    let tree = dir.join("tree");
    for d in ["bin", "etc", "tmp", "proc", "dev"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is needed (tests/run.sh installs it)");
    std::fs::copy(bb, tree.join("bin/busybox")).unwrap();
    for a in ["sh", "hostname", "cat"] {
        std::os::unix::fs::symlink("busybox", tree.join("bin").join(a)).unwrap();
    }
    let tar = dir.join("root.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&tree)
        .args(["-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let src = format!("tar:{}", tar.display());
    let r = run_env(
        &["--auto", "--trace", "--demos", "--rootfs", &src],
        &[("TERM", "xterm-256color"), ("COLORTERM", "truecolor")],
        "hostname; exit 0",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stderr.contains('\x1b') && !r.stdout.contains('\x1b'),
        "an escape code went to a pipe:\n{:?}",
        r.stderr
    );
    assert!(!r.stderr.contains('\r'), "spinner debris:\n{:?}", r.stderr);
    assert!(r.stderr.matches('✔').count() >= 10, "{}", r.stderr);
    r.assert_nothing_left();

    // --color always is the one way to get colours into a pipe; stdout stays clean.
    let r = run_env(&["--auto", "--color", "always"], &[], "exit 0");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("\x1b["), "no colour with --color always");
    assert!(!r.stdout.contains('\x1b'));
    r.assert_nothing_left();
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("hako-itest-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_locale_that_is_not_utf8_gets_ascii_marks_and_rules() {
    require_root();
    let r = run_env(&["--auto", "--demos"], &[("LANG", "C")], "exit 0");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.matches("[ok]").count() >= 10, "{}", r.stderr);
    for c in r.stderr.chars() {
        assert!(
            !matches!(c, '✔' | '✘' | '…' | '•' | '→' | '\u{2500}'..='\u{257f}'),
            "{c:?} in a C locale:\n{}",
            r.stderr
        );
    }
    r.assert_nothing_left();
}

// ------------------------------------------------------------------ for instructors

#[test]
fn from_hostname_starts_the_visible_walk_at_hostname() {
    require_root();
    let before = traces();
    let r = run(&["--auto", "--from", "hostname"], "hostname; exit 5");
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(
        headers(&r.stderr),
        ["hostname", "chroot", "shell", "beyond"],
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("[9/12]"), "{}", r.stderr);
    // The silent lessons built what hostname needs: a UTS namespace of its own.
    assert!(is_uuid(r.stdout.trim()), "{}", r.stdout);
    assert!(r.stderr.matches('✔').count() >= 4, "{}", r.stderr);
    assert_no_new_traces(&before, &r.stderr);
}

#[test]
fn to_stops_the_walk_after_that_lesson_and_cleans_up() {
    require_root();
    let before = traces();
    let r = run(&["--auto", "--from", "proc", "--to", "devnull"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(headers(&r.stderr), ["proc", "devpts", "devnull"]);
    assert!(r.stderr.contains("Cleaning up"), "{}", r.stderr);
    assert_no_new_traces(&before, &r.stderr);

    let r = run(&["--from", "devnull", "--to", "proc"], "");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--from devnull comes after --to proc"));
}

#[test]
fn a_silent_lesson_that_fails_is_shown_and_stops_the_walk() {
    require_root();
    let before = traces();
    let r = run_env(
        &["--auto", "--from", "hostname"],
        &[("HAKO_TEST_SKIP", "proc")],
        "",
    );
    assert_eq!(r.code, 125, "{}", r.stderr);
    assert_eq!(headers(&r.stderr), ["proc"], "{}", r.stderr);
    assert!(r.stderr.contains('✘'), "{}", r.stderr);
    assert!(
        r.stderr.contains("'proc' lesson did not hold"),
        "{}",
        r.stderr
    );
    assert_no_new_traces(&before, &r.stderr);
}

// ------------------------------------------------------------------ JSON

fn json_lines(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not one JSON object ({e}): {l:?}\n{stderr}"))
        })
        .collect()
}

#[test]
fn format_json_gives_one_object_per_lesson_and_stdout_stays_the_commands() {
    require_root();
    let before = traces();
    let r = run(&["--format", "json"], "hostname; exit 3");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(is_uuid(r.stdout.trim()), "stdout: {:?}", r.stdout);
    let objs = json_lines(&r.stderr);
    let lessons: Vec<&serde_json::Value> = objs.iter().filter(|o| o.get("id").is_some()).collect();
    let ids: Vec<&str> = lessons.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ALL);
    for (i, o) in lessons.iter().enumerate() {
        assert_eq!(o["lesson"], i + 1);
        assert_eq!(o["of"], 12);
        assert_eq!(o["verdict"], "passed", "{o}");
        assert!(!o["title"].as_str().unwrap().is_empty());
        assert!(!o["shell"].as_str().unwrap().is_empty(), "{o}");
        assert!(o["did"].is_array());
        let ev = o["evidence"].as_array().unwrap();
        assert!(!ev.is_empty(), "{o}");
        for row in ev {
            assert_eq!(row["ok"], true, "{o}");
            assert!(row["label"].is_string() && row["seen"].is_string());
        }
    }
    assert_eq!(objs.last().unwrap()["exit"], 3);
    assert!(!r.stderr.contains('\x1b'));
    assert_no_new_traces(&before, &r.stderr);
}

#[test]
fn format_json_writes_errors_as_objects_too() {
    require_root();
    let before = traces();
    let r = run_env(
        &["--format", "json", "--trace"],
        &[("HAKO_TEST_SKIP", "limits")],
        "",
    );
    assert_eq!(r.code, 125, "{}", r.stderr);
    let objs = json_lines(&r.stderr);
    let limits = objs.iter().find(|o| o["id"] == "limits").unwrap();
    assert_eq!(limits["verdict"], "failed");
    assert!(!limits["hint"].as_str().unwrap().is_empty());
    assert!(objs.iter().any(|o| o.get("trace").is_some()), "--trace");
    let last = objs.last().unwrap();
    assert_eq!(last["exit"], 125, "{last}");
    assert!(last["error"].as_str().unwrap().contains("limits"));
    assert_no_new_traces(&before, &r.stderr);

    // A usage error, when the line asked for JSON.
    let r = run(&["--format", "json", "--memory", "ten"], "");
    assert_eq!(r.code, 2);
    let objs = json_lines(&r.stderr);
    assert_eq!(objs.len(), 1, "{}", r.stderr);
    assert_eq!(objs[0]["exit"], 2);
    assert!(objs[0]["error"].as_str().unwrap().contains("ten"));
}

// ------------------------------------------------------------------ conventions

#[test]
fn version_names_the_crate() {
    let r = run(&["--version"], "");
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout.trim(),
        format!("hako {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_documents_the_exit_codes_and_the_instructor_options() {
    let r = run(&["--help"], "");
    assert_eq!(r.code, 0);
    for w in [
        "--from", "--to", "--pace", "--format", "--color", "125", "130", "143",
    ] {
        assert!(r.stdout.contains(w), "--help lacks {w}:\n{}", r.stdout);
    }
}
