//! Readable in a terminal and in a pipe: lessons rendered from their Markdown, Japanese
//! wrapped at legal break points only, `hako list`'s marks, the options refused up
//! front, the completions, and `hako doctor` as root and as a normal user.

mod common;
use common::*;

use hako::lessons::IDS;

/// Characters no line may begin with, and those no line may end with (kinsoku).
const NO_START: &str = "、。，．」』）】ー！？ァィゥェォッャュョヮぁぃぅぇぉっゃゅょゎ";
const NO_END: &str = "「『（【";

fn assert_kinsoku(what: &str, lines: &[&str]) {
    for w in lines.windows(2) {
        let (a, b) = (w[0].trim_end(), w[1].trim_start());
        if a.is_empty() || b.is_empty() {
            continue;
        }
        let first = b.chars().next().unwrap();
        let last = a.chars().next_back().unwrap();
        assert!(
            !NO_START.contains(first),
            "{what}: a line begins with {first}:\n{a}\n{b}"
        );
        assert!(
            !NO_END.contains(last),
            "{what}: a line ends with {last}:\n{a}\n{b}"
        );
    }
}

/// A snapshot of what `hako show` prints in a pipe: the text only, no Markdown marks.
#[test]
fn show_in_a_pipe_is_plain_text_without_markdown_marks() {
    for lang in ["en", "ja"] {
        for &id in IDS {
            let r = run(&["--lang", lang, "show", id], "");
            assert_eq!(r.code, 0, "{lang} {id}: {}", r.stderr);
            let out = &r.stdout;
            assert!(!out.contains('\x1b'), "{lang} {id}: colour in a pipe");
            assert!(!out.contains("**"), "{lang} {id}: ** left:\n{out}");
            assert!(!out.contains("```"), "{lang} {id}: a fence left:\n{out}");
            for l in out.lines() {
                assert!(!l.starts_with('#'), "{lang} {id}: a heading mark: {l}");
                // Code blocks (indented four) are shown as written.
                assert!(
                    console::measure_text_width(l) <= 80 || l.starts_with("    "),
                    "{lang} {id}: wider than 80 columns: {l}"
                );
            }
            let lines: Vec<&str> = out.lines().collect();
            assert_kinsoku(&format!("show {lang} {id}"), &lines);
            // The title is the first line, underlined.
            assert!(lines.len() > 5, "{lang} {id}: {out}");
            assert!(
                lines[1].chars().all(|c| c == '─'),
                "{lang} {id}: {}",
                lines[1]
            );
        }
    }
    // NO_COLOR and --color never keep it plain on a terminal too; --color always styles.
    let r = run(&["--color", "always", "show", "limits"], "");
    assert!(r.stdout.contains("\x1b["), "no style with --color always");
    assert!(!r.stdout.contains("**"));
}

/// `hako script --lang ja` put 「ィ」 at the start of a line and 「 at the end of one.
#[test]
fn script_in_japanese_breaks_lines_at_legal_points_only() {
    for extra in [&[][..], &["--harden"]] {
        let mut args = vec!["script", "--lang", "ja"];
        args.extend_from_slice(extra);
        let r = run(&args, "");
        assert_eq!(r.code, 0, "{}", r.stderr);
        let comments: Vec<&str> = r
            .stdout
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim_start())
            .collect();
        assert!(comments.len() > 50, "{}", r.stdout);
        assert_kinsoku("hako script --lang ja", &comments);
        for l in r.stdout.lines().filter(|l| l.starts_with("# ")) {
            assert!(
                console::measure_text_width(l) <= 78,
                "a comment wider than 78 columns: {l}"
            );
        }
    }
}

#[test]
fn list_keeps_its_columns_and_marks_demos_and_optional_lessons() {
    let r = run(&["list"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), IDS.len());
    for (i, (l, id)) in lines.iter().zip(IDS).enumerate() {
        let mut w = l.split_whitespace();
        assert_eq!(w.next(), Some((i + 1).to_string().as_str()), "{l}");
        assert_eq!(w.next(), Some(*id), "{l}");
    }
    let line = |id: &str| {
        *lines
            .iter()
            .find(|l| l.contains(&format!(" {id} ")))
            .unwrap()
    };
    assert!(line("limits").ends_with("(demo)"), "{}", line("limits"));
    assert!(line("userns").ends_with("(optional: --harden)"));
    assert!(line("seccomp").ends_with("(demo, optional: --harden)"));
    assert!(!line("hostname").contains('('), "{}", line("hostname"));
    let r = run(&["--lang", "ja", "list"], "");
    assert!(r.stdout.contains("実演あり") && r.stdout.contains("任意: --harden"));
}

#[test]
fn options_the_walk_could_only_fail_on_later_are_refused_up_front() {
    for (args, says) in [
        (&["--auto", "--from", "caps"][..], "--harden"),
        (&["--auto", "--to", "userns"], "--harden"),
        (&["--auto", "--memory", "1M"], "4M"),
        (&["--auto", "--memory", "4K"], "4M"),
        (&["--auto", "--cpu", "100000%"], "CPU"),
        (&["--auto", "--cpu", "999000000 1000"], "CPU"),
    ] {
        let r = run(args, "");
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        r.assert_no_panic();
        assert!(r.uuid().is_none(), "{args:?}: a run started: {}", r.stderr);
    }
    // With --harden the optional lessons are fine, and 4M is enough for the agent.
    let r = run(&["--lang", "ja", "--auto", "--from", "caps"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--harden"), "{}", r.stderr);
}

#[test]
#[ignore = "needs root"]
fn the_smallest_memory_accepted_still_runs_the_walk() {
    require_root();
    let r = run(&["--auto", "--memory", "4M", "--", "/bin/true"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_nothing_left();
}

#[test]
fn completions_offer_no_hidden_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let r = run(&["completions", shell], "");
        assert_eq!(r.code, 0, "{}", r.stderr);
        for hidden in ["__agent", "__demo", "manpage", "bench-extract"] {
            assert!(!r.stdout.contains(hidden), "{shell}: {hidden} offered");
        }
        for shown in ["list", "show", "doctor", "harden"] {
            assert!(r.stdout.contains(shown), "{shell}: {shown} missing");
        }
    }
}

/// `hako doctor ARGS`, as root or as nobody (through setpriv, with no groups).
fn doctor(args: &[&str], as_nobody: bool) -> Run {
    let mut c = hako();
    c.arg("doctor").args(args);
    if as_nobody {
        let mut s = std::process::Command::new("setpriv");
        s.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(c.get_program())
            .args(c.get_args())
            .env("LANG", "C.UTF-8");
        return run_with(s, "");
    }
    run_with(c, "")
}

#[test]
#[ignore = "needs root"]
fn doctor_as_root_and_as_a_normal_user() {
    require_root();
    let root = doctor(&[], false);
    root.assert_no_panic();
    assert!(root.stdout.contains("running as root"), "{}", root.stdout);
    assert!(root.stdout.contains("namespace limits"), "{}", root.stdout);
    assert!(root.stdout.contains("registries"), "{}", root.stdout);
    // The walk runs on this machine (the other tests prove it): doctor agrees.
    assert_eq!(root.code, 0, "{}", root.stdout);
    assert!(root.stdout.contains("Ready"));
    assert!(!root.stdout.contains('✘'), "{}", root.stdout);

    let user = doctor(&[], true);
    user.assert_no_panic();
    assert_eq!(user.code, 1, "{}\n{}", user.stdout, user.stderr);
    assert!(user.stdout.contains("Not ready: 1 gap"), "{}", user.stdout);
    assert!(user.stdout.contains("sudo hako"), "{}", user.stdout);
    // Everything else is read without root, and the same as root sees it.
    let rows = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("  ✔") || l.starts_with("  ✘"))
            .map(String::from)
            .collect()
    };
    let (r, u) = (rows(&root.stdout), rows(&user.stdout));
    assert_eq!(r.len(), u.len());
    assert!(u[0].contains('✘'));
    assert_eq!(r[1..], u[1..], "root and a user see the same machine");

    let ja = doctor(&["--lang", "ja"], true);
    assert_eq!(ja.code, 1);
    assert!(ja.stdout.contains("準備未完了"), "{}", ja.stdout);
    let lines: Vec<&str> = ja.stdout.lines().collect();
    assert_kinsoku("doctor --lang ja", &lines);

    // --harden adds the namespaces it needs.
    let h = doctor(&["--harden"], false);
    assert!(h.stdout.contains("namespaces for --harden"), "{}", h.stdout);
}

#[test]
#[ignore = "needs root"]
fn doctor_finds_a_noexec_tmpdir() {
    require_root();
    // A tmpfs of this test's own, mounted noexec, as TMPDIR.
    let dir = std::env::temp_dir().join(format!("hako-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "noexec,size=1m", "hako-doctor"])
        .arg(&dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount a noexec tmpfs on {}", dir.display());
    let mut c = hako();
    c.arg("doctor").env("TMPDIR", &dir);
    let r = run_with(c, "");
    let _ = std::process::Command::new("umount").arg(&dir).status();
    let _ = std::fs::remove_dir(&dir);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("noexec"), "{}", r.stdout);
    assert!(r.stdout.contains("TMPDIR="), "{}", r.stdout);
    assert!(r.stdout.contains("Not ready: 1 gap"), "{}", r.stdout);
}

/// The summary's counter rows: (name, value), between its title and the first bullet.
fn summary_rows(stderr: &str) -> Vec<(String, String)> {
    let Some(at) = stderr.find("What this container was") else {
        panic!("no summary:\n{stderr}");
    };
    stderr[at..]
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  "))
        .map(|l| {
            let l = l.trim();
            let cut = l.find("  ").unwrap_or(l.len());
            (l[..cut].to_string(), l[cut..].trim().to_string())
        })
        .collect()
}

#[test]
#[ignore = "needs root"]
fn the_summary_tells_the_demonstrations_apart_and_points_to_harden() {
    require_root();
    let r = run(&["--auto", "--demos", "--", "/bin/true"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("for your command alone"), "{}", r.stderr);
    let rows = summary_rows(&r.stderr);
    assert!(!rows.is_empty(), "{}", r.stderr);
    // /bin/true is neither killed nor throttled: the demonstrations' kill and
    // throttles are reported apart, not as the command's.
    for (name, value) in &rows {
        if name.ends_with("oom_kill") || name.ends_with("nr_throttled") {
            assert_eq!(value, "0", "{name} counted for /bin/true:\n{}", r.stderr);
        }
    }
    let at = r
        .stderr
        .find("Before your command, the demonstrations")
        .unwrap_or_else(|| panic!("{}", r.stderr));
    let apart: String = r.stderr[at..]
        .split("\n\n")
        .next()
        .unwrap()
        .split(['•'])
        .next()
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(apart.contains("oom_kill 1"), "{apart}");
    assert!(apart.contains("nr_throttled"), "{apart}");
    // The demonstration's evidence: no v1 failcnt row that did not rise.
    for l in r
        .stderr
        .lines()
        .filter(|l| l.contains("failcnt") && l.contains('→'))
    {
        let (a, b) = l.split_once(" → ").unwrap();
        let a: u64 = a.split_whitespace().last().unwrap().parse().unwrap();
        let b: u64 = b.split_whitespace().next().unwrap().parse().unwrap();
        assert!(b > a, "a failcnt row that did not rise: {l}");
    }
    assert!(
        r.stderr.contains("Next: `sudo hako --harden`"),
        "{}",
        r.stderr
    );
    r.assert_nothing_left();

    // Without demonstrations, the counters are the cgroup's own, and no line about them.
    let r = run(&["--auto", "--", "/bin/true"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("for your command alone"), "{}", r.stderr);
    assert!(r.stderr.contains("sudo hako --harden"));
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn a_command_killed_for_memory_is_reported_as_the_oom_killers() {
    require_root();
    let r = run(
        &[
            "--auto",
            "--",
            "/bin/sh",
            "-c",
            "s=x; while true; do s=\"$s$s\"; done",
        ],
        "",
    );
    assert_eq!(r.code, 137, "{}", r.stderr);
    assert!(r.stderr.contains("OOM killer"), "{}", r.stderr);
    assert!(!r.stderr.contains("exited with status 137"), "{}", r.stderr);
    let rows = summary_rows(&r.stderr);
    let oom = rows
        .iter()
        .find(|(n, _)| n.ends_with("oom_kill"))
        .unwrap_or_else(|| panic!("no oom_kill row: {rows:?}"));
    assert_ne!(oom.1, "0", "{rows:?}");
    r.assert_nothing_left();
}

/// "Explain more" in a terminal: the sections rendered (headings without `##`, bold
/// without `**`, no code fences), Japanese wrapped at legal points, colour on.
#[test]
#[ignore = "needs root"]
fn explain_more_renders_the_markdown_in_a_terminal() {
    require_root();
    let t = Tmux::start("--lang ja", 90, 50);
    t.wait_for("やめる", 30);
    std::thread::sleep(std::time::Duration::from_millis(300));
    // The second item is "explain more".
    t.keys(&["Down", "Enter"]);
    let s = t.wait_for("よくある間違い", 10);
    let at = s.find("カーネルがしていること").expect("the first section");
    let more = &s[at..];
    assert!(!more.contains("**"), "{more}");
    assert!(!more.contains("```"), "{more}");
    assert!(
        !more.lines().any(|l| l.trim_start().starts_with("## ")),
        "{more}"
    );
    let lines: Vec<&str> = more.lines().collect();
    assert_kinsoku("explain more", &lines);
    // Prose is wrapped to the terminal; code blocks (indented four) are as written.
    for l in lines.iter().filter(|l| !l.starts_with("    ")) {
        assert!(console::measure_text_width(l) <= 90, "{l}");
    }
    let styled = t.screen_styled();
    assert!(styled.contains("\x1b["), "no style on a colour terminal");
    // Quit: the last item.
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.keys(&["Up", "Enter"]);
    let r = t.exit(20);
    assert_eq!(r.code, 130, "{}", r.stderr);
    r.assert_nothing_left();
}
