//! The walk as a learner and an instructor see it: in a real terminal (tmux), piped,
//! in a non-UTF-8 locale, from and to a lesson, paced, and as JSON for tools.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

// ------------------------------------------------------------------ helpers

/// Fails when anything of the run whose output is `out` is still on the machine: its
/// temp rootfs, a mount under it, its cgroups. For runs whose `UUID=` line is not
/// shown (--from, --format json): the run is found by its rootfs, `hako.<12 hex>`,
/// named after the UUID, which the later lessons' shell equivalents show. (Other runs
/// on the same machine are left out of it.)
fn assert_run_left_nothing(out: &str) {
    let at = out.find("/hako.").expect("the output names the rootfs");
    let tag: String = out[at + 6..].chars().take(12).collect();
    assert!(tag.chars().all(|c| c.is_ascii_hexdigit()), "{tag}");
    let root = format!(
        "{}/hako.{tag}",
        &out[..at].rsplit(['"', ' ', '\n']).next().unwrap()
    );
    let mut left = vec![];
    if Path::new(&root).exists() {
        left.push(format!("rootfs {root}"));
    }
    let prefix = format!("{}-{}", &tag[..8], &tag[8..]);
    for h in ["memory", "cpu", "pids", "unified", ""] {
        let d = Path::new("/sys/fs/cgroup").join(h);
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                left.push(format!("cgroup {}", e.path().display()));
            }
        }
    }
    if std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(&format!("/hako.{tag}"))
    {
        left.push(format!("a mount under {root}"));
    }
    assert!(
        left.is_empty(),
        "left behind: {left:?}\n--- output ---\n{out}"
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

/// The article's walk, from the lesson table.
fn all() -> Vec<&'static str> {
    hako::lessons::walk_with(&[])
        .iter()
        .map(|l| l.id())
        .collect()
}

// ------------------------------------------------------------------ the look

#[test]
#[ignore = "needs root"]
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
#[ignore = "needs root"]
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
#[ignore = "needs root"]
fn from_hostname_starts_the_visible_walk_at_hostname() {
    require_root();
    let r = run(
        &["--auto", "--from", "hostname", "--trace"],
        "hostname; exit 5",
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    let walk = all();
    let at = walk.iter().position(|id| *id == "hostname").unwrap();
    assert_eq!(headers(&r.stderr), walk[at..], "{}", r.stderr);
    let step = format!("[{}/{}]", at + 1, walk.len());
    assert!(r.stderr.contains(&step), "{}", r.stderr);
    // The silent lessons built what hostname needs: a UTS namespace of its own.
    assert!(is_uuid(r.stdout.trim()), "{}", r.stdout);
    assert!(r.stderr.matches('✔').count() >= 4, "{}", r.stderr);
    // --trace is quiet in the silent lessons, hako's and the agent's, and back at
    // hostname, where PID 1 (the agent's child) makes the call.
    let head = r.stderr.find("(hostname)").unwrap();
    assert!(!r.stderr[..head].contains('⟶'), "{}", r.stderr);
    assert!(r.stderr.contains("⟶ sethostname("), "{}", r.stderr);
    assert_run_left_nothing(&r.stderr);
}

#[test]
#[ignore = "needs root"]
fn to_stops_the_walk_after_that_lesson_and_cleans_up() {
    require_root();
    let r = run(&["--auto", "--from", "proc", "--to", "devnull"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let walk = all();
    let at = |id: &str| walk.iter().position(|i| *i == id).unwrap();
    assert_eq!(headers(&r.stderr), walk[at("proc")..=at("devnull")]);
    assert!(r.stderr.contains("Cleaning up"), "{}", r.stderr);
    assert_run_left_nothing(&r.stderr);

    let r = run(&["--from", "devnull", "--to", "proc"], "");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--from devnull comes after --to proc"));
}

#[test]
#[ignore = "needs root"]
fn a_silent_lesson_that_fails_is_shown_and_stops_the_walk() {
    require_root();
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
    assert_run_left_nothing(&r.stderr);
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
#[ignore = "needs root"]
fn format_json_gives_one_object_per_lesson_and_stdout_stays_the_commands() {
    require_root();
    let r = run(&["--format", "json"], "hostname; exit 3");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(is_uuid(r.stdout.trim()), "stdout: {:?}", r.stdout);
    let objs = json_lines(&r.stderr);
    let lessons: Vec<&serde_json::Value> = objs.iter().filter(|o| o.get("id").is_some()).collect();
    let ids: Vec<&str> = lessons.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, all());
    for (i, o) in lessons.iter().enumerate() {
        assert_eq!(o["lesson"], i + 1);
        assert_eq!(o["of"], all().len());
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
    assert_run_left_nothing(&r.stderr);
}

#[test]
#[ignore = "needs root"]
fn format_json_writes_errors_as_objects_too() {
    require_root();
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
    assert_run_left_nothing(&r.stderr);

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

// ------------------------------------------------------------------ a real terminal

/// The screen waits for an answer: a menu (its last item at the bottom) or Enter.
fn at_prompt(s: &str) -> bool {
    let end = s.trim_end();
    end.ends_with("Quit (clean up and exit)") || end.ends_with("continue…")
}

/// Presses Enter at each prompt, the way a learner would, until the screen shows
/// `text`; each press waits for the screen to move on, so no key is typed ahead.
fn enter_until(t: &Tmux, text: &str, secs: u64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let s = t.screen();
        if s.contains(text) {
            return s;
        }
        if at_prompt(&s) {
            t.keys(&["Enter"]);
            while t.screen() == s {
                assert!(std::time::Instant::now() < deadline, "stuck:\n{s}");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the terminal never showed {text:?}:\n{s}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Enter at every prompt until lesson `id` asks what to do.
fn walk_to(t: &Tmux, id: &str) -> String {
    let head = format!("({id})");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let s = enter_until(t, &head, 60);
        let i = s.find(&head).unwrap();
        if at_prompt(&s) && s[i..].contains("What now?") {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "never at {id}:\n{s}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs root"]
fn enter_at_every_prompt_reaches_a_shell_that_answers_and_its_status_is_hakos() {
    require_root();
    let t = Tmux::start("", 110, 40);
    // "Explain more" on the way: the lesson's sections, then the same question again.
    let s = walk_to(&t, "hostname");
    assert!(!s.contains("What the kernel does"), "{s}");
    t.keys(&["Down", "Enter"]);
    let s = t.wait_for("Common mistakes", 10);
    let more = s.rfind("Common mistakes").unwrap();
    assert!(s[..more].contains("What the kernel does"), "{s}");
    t.wait_for("What now?", 5);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !at_prompt(&t.screen()) {
        assert!(std::time::Instant::now() < deadline, "{}", t.screen());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Then Enter, and Enter, until the container's shell.
    enter_until(&t, "inside the container now", 60);
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.type_text("echo ANSWER=$((6*7)); hostname");
    t.keys(&["Enter"]);
    let s = t.wait_for("ANSWER=42", 10);
    assert!(
        s.lines().any(|l| is_uuid(l.trim())),
        "the shell's hostname is the UUID:\n{s}"
    );
    t.type_text("exit 7");
    t.keys(&["Enter"]);
    // The check of the shell, and the last lesson, still ask.
    enter_until(&t, "EXIT=", 60);
    let r = t.exit(10);
    assert_eq!(r.code, 7, "{}", r.stderr);
    let ticks = r.stderr.matches('✔').count();
    assert!(ticks >= 10, "only {ticks} ✔ on the screen:\n{}", r.stderr);
    assert!(!r.stderr.contains('✘'), "{}", r.stderr);
    for id in all() {
        assert!(
            r.stderr.contains(&format!("({id})")),
            "no {id}:\n{}",
            r.stderr
        );
    }
    r.assert_no_panic();
    r.assert_nothing_left();
}

/// Quit at lesson `id`: the walk cleans up what it made so far and exits 130.
fn quit_at(id: &str) {
    let t = Tmux::start("", 110, 40);
    walk_to(&t, id);
    // The last item is Quit, whatever comes before it.
    t.keys(&["Up", "Enter"]);
    let r = t.exit(20);
    assert_eq!(r.code, 130, "quit at {id}:\n{}", r.stderr);
    assert!(r.stderr.contains("Quit:"), "{}", r.stderr);
    r.assert_no_panic();
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn quit_before_anything_exists_exits_130() {
    require_root();
    quit_at("preflight");
}

#[test]
#[ignore = "needs root"]
fn quit_once_the_agent_and_its_mounts_exist_cleans_up_and_exits_130() {
    require_root();
    quit_at("devpts");
}

#[test]
#[ignore = "needs root"]
fn quit_with_the_command_stopped_at_its_exec_cleans_up_and_exits_130() {
    require_root();
    quit_at("shell");
}

#[test]
#[ignore = "needs root"]
fn colours_in_a_terminal_unless_no_color_or_never() {
    require_root();
    for (env, args, coloured) in [
        ("", "--to preflight", true),
        ("NO_COLOR=1", "--to preflight", false),
        ("", "--to preflight --color never", false),
    ] {
        let t = Tmux::start_env(env, args, 110, 40);
        let s = walk_to(&t, "preflight");
        assert!(s.contains("[1/12]"), "{s}");
        let styled = t.screen_styled();
        assert_eq!(
            styled.contains("\x1b["),
            coloured,
            "{env} {args}:\n{styled:?}"
        );
        t.keys(&["Enter"]);
        enter_until(&t, "EXIT=", 20);
        assert_eq!(t.exit(5).code, 0);
    }
}

#[test]
#[ignore = "needs root"]
fn pace_walks_a_terminal_without_a_key_pressed() {
    require_root();
    let t = Tmux::start("--pace 0.2 --to hostname", 110, 40);
    let r = t.exit(60);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("What now?"), "{}", r.stderr);
    assert!(r.stderr.contains("(hostname)"), "{}", r.stderr);
    r.assert_nothing_left();
}

// ------------------------------------------------------------------ look around

/// Chooses "Look around" (the item before Quit), waits for its shell, runs `line`
/// and `exit`, and waits until the walk asks again; returns the screen.
fn look_around(t: &Tmux, line: &str, until: &str) -> String {
    let count = |text: &str| t.screen().matches(text).count();
    let (back, prompt, out) = (count("Back to the walk"), count("(hako: "), count(until));
    t.keys(&["Up", "Up", "Enter"]);
    wait_more(t, "(hako: ", prompt);
    t.type_text(line);
    t.keys(&["Enter"]);
    wait_more(t, until, out + 1);
    t.type_text("exit");
    t.keys(&["Enter"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = t.screen();
        if s.matches("Back to the walk").count() > back && at_prompt(&s) {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "no way back:\n{s}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Waits until `text` shows more than `seen` times (a new one, not an old one).
fn wait_more(t: &Tmux, text: &str, seen: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while t.screen().matches(text).count() <= seen {
        assert!(
            std::time::Instant::now() < deadline,
            "no new {text:?}:\n{}",
            t.screen()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn value_after<'a>(s: &'a str, key: &str) -> &'a str {
    s.lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .next_back()
        .unwrap_or_else(|| panic!("no {key} line:\n{s}"))
        .trim()
}

#[test]
#[ignore = "needs root"]
fn look_around_on_the_host_then_inside_the_namespaces_and_the_walk_goes_on() {
    require_root();
    let t = Tmux::start("", 110, 40);
    let host_uts = std::fs::read_link("/proc/self/ns/uts").unwrap();
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();

    // Before the namespaces: on the host, in the rootfs, the cgroup named.
    walk_to(&t, "limits");
    let s = look_around(
        &t,
        "echo HERE=$(pwd); echo ROOT=$ROOTFS; echo CG=$CGROUP; ls $CGROUP | grep -c '^memory' | sed s/^/FILES=/",
        "FILES=",
    );
    let here = value_after(&s, "HERE=");
    assert!(here.contains("/hako."), "{s}");
    assert_eq!(here, value_after(&s, "ROOT="), "{s}");
    assert!(value_after(&s, "CG=").starts_with("/sys/fs/cgroup/"), "{s}");
    assert_ne!(value_after(&s, "FILES="), "0", "{s}");

    // After the hostname lesson: inside the namespaces the agent made.
    walk_to(&t, "chroot");
    let s = look_around(
        &t,
        "echo NAME=$(hostname) UTS=$(readlink /proc/self/ns/uts) PID=$$",
        "PID=",
    );
    let line = s.lines().rev().find(|l| l.starts_with("NAME=")).unwrap();
    let name = line
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("NAME=");
    assert!(is_uuid(name), "the hostname inside is the UUID: {line}");
    assert_ne!(name, host_name.trim());
    assert!(!line.contains(&*host_uts.to_string_lossy()), "{line}");
    let pid: u32 = line.rsplit("PID=").next().unwrap().trim().parse().unwrap();
    assert!(
        pid < 10,
        "the shell is in the container's PID namespace: {line}"
    );
    assert!(
        s.contains("Back to the walk (the look-around shell exited with 0)"),
        "{s}"
    );

    // After the chroot lesson: chrooted as the command will be.
    walk_to(&t, "shell");
    look_around(
        &t,
        "test -d \"$ROOTFS\" || echo CHROOTED=yes; echo PWD=$(pwd)",
        "PWD=",
    );

    // The walk goes on to the container's own shell, whose status is hako's.
    enter_until(&t, "inside the container now", 30);
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.type_text("exit 4");
    t.keys(&["Enter"]);
    enter_until(&t, "EXIT=", 60);
    let r = t.exit(10);
    assert!(r.stderr.contains("CHROOTED=yes"), "{}", r.stderr);
    assert_eq!(r.code, 4, "{}", r.stderr);
    r.assert_no_panic();
    r.assert_nothing_left();
}

#[test]
fn completions_come_from_the_options_and_bash_can_load_them() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let r = run(&["completions", shell], "");
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        for w in ["from", "pace", "format"] {
            assert!(r.stdout.contains(w), "{shell} completions lack {w}");
        }
        // The lesson ids, where the shell completes values.
        if ["bash", "zsh", "fish"].contains(&shell) {
            assert!(r.stdout.contains("hostname"), "{shell}: no lesson ids");
        }
    }
    // bash itself loads the script, and completing `hako --from h` offers hostname.
    let script = run(&["completions", "bash"], "").stdout;
    let probe = format!(
        "{script}\nCOMP_WORDS=(hako --from h); COMP_CWORD=2; COMP_LINE='hako --from h'; \
         COMP_POINT=${{#COMP_LINE}}; _hako hako h --from; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hostname");
    // Hidden: not in --help.
    assert!(!run(&["--help"], "").stdout.contains("completions"));
}

#[test]
fn the_man_page_comes_from_the_options_and_man_can_read_it() {
    let r = run(&["manpage"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(".TH hako 1"), "{}", r.stdout);
    for w in [
        "\\-\\-from",
        "\\-\\-pace",
        "\\-\\-format",
        "Exit status",
        "143",
    ] {
        assert!(r.stdout.contains(w), "the man page lacks {w}");
    }
    let dir = tempdir("man");
    let page = dir.join("hako.1");
    std::fs::write(&page, &r.stdout).unwrap();
    let out = Command::new("man")
        .env("MANWIDTH", "100")
        .env("LANG", "C.UTF-8")
        .arg("-l")
        .arg(&page)
        .output()
        .expect("man(1) is needed (tests/run.sh installs man-db)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("--pace") && text.contains("SYNOPSIS"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_in_japanese_with_lang_ja_or_a_japanese_locale() {
    let r = run(&["--lang", "ja", "--help"], "");
    assert_eq!(r.code, 0);
    for w in ["使い方", "終了ステータス", "講師の方へ", "--from", "143"] {
        assert!(
            r.stdout.contains(w),
            "--lang ja --help lacks {w}:\n{}",
            r.stdout
        );
    }
    let r = run_env(&["-h"], &[("LANG", "ja_JP.UTF-8")], "");
    assert!(r.stdout.contains("使い方"), "{}", r.stdout);
    // The command after -- is not hako's: its --lang does not count.
    let r = run(&["--help", "--", "x", "--lang", "ja"], "");
    assert!(r.stdout.contains("Usage:"), "{}", r.stdout);
}
