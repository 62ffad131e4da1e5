//! Nothing left behind on any exit path, the journal and `hako cleanup`, overlapping
//! runs, a rootfs that cannot reach the host. As root, on the real kernel.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn journal_dir() -> PathBuf {
    PathBuf::from("/run/hako")
}

#[test]
#[ignore = "needs root"]
fn kill_9_then_cleanup_leaves_nothing() {
    require_root();
    let (mut child, said) = start_until(
        &["--auto", "--", "/bin/sleep", "100"],
        &[],
        "inside the container now",
    );
    let r = Run {
        code: 0,
        stdout: String::new(),
        stderr: said,
    };
    let uuid = r.uuid().unwrap();
    signal(child.id(), "-9");
    child.wait().unwrap();
    // The container's processes die with hako (parent-death signal on the agent and PID 1).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let rootfs = r.rootfs().unwrap();
    let alive: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|p| {
            std::fs::read_link(p.path().join("exe")).is_ok_and(|e| e.starts_with(&rootfs))
                && !std::fs::read_to_string(p.path().join("stat"))
                    .unwrap_or_default()
                    .contains(") Z")
        })
        .map(|p| p.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(alive.is_empty(), "the container outlived hako: {alive:?}");
    assert!(
        journal_dir().join(format!("{uuid}.json")).exists(),
        "the journal names what is left"
    );
    let c = run(&["cleanup"], "");
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert!(
        c.stderr.contains("removed the cgroup") && c.stderr.contains("removed the rootfs"),
        "{}",
        c.stderr
    );
    assert!(c.stderr.contains("reset"));
    r.assert_nothing_left();
    assert!(!journal_dir().join(format!("{uuid}.json")).exists());
}

#[test]
#[ignore = "needs root"]
fn the_next_run_cleans_up_what_a_dead_run_left() {
    require_root();
    let (mut child, said) = start_until(
        &["--auto", "--", "/bin/sleep", "100"],
        &[],
        "inside the container now",
    );
    let dead = Run {
        code: 0,
        stdout: String::new(),
        stderr: said,
    };
    signal(child.id(), "-9");
    child.wait().unwrap();
    let r = run(&["--auto", "--", "/bin/true"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Left behind by an earlier run"),
        "{}",
        r.stderr
    );
    dead.assert_nothing_left();
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn a_tampered_journal_deletes_nothing_else() {
    require_root();
    let victim = PathBuf::from("/tmp/hako-test-victim");
    let _ = std::fs::create_dir_all(&victim);
    std::fs::write(victim.join("keep-me"), "x").unwrap();
    let journal = serde_json_line(&[
        r#"{"Rootfs":{"path":"/etc","kept":false}}"#,
        r#"{"Rootfs":{"path":"/tmp/hako-test-victim","kept":false}}"#,
        r#"{"Rootfs":{"path":"/tmp/hako.x/../../etc","kept":false}}"#,
        r#"{"Cgroup":{"path":"/sys/fs/cgroup/memory"}}"#,
        r#"{"Added":{"path":"/etc/passwd","under":"/srv"}}"#,
        r#"{"Added":{"path":"/tmp/hako-test-victim/keep-me","under":"/tmp/hako-test-victim"}}"#,
    ]);
    std::fs::create_dir_all(journal_dir()).unwrap();
    let f = journal_dir().join("00000000-0000-4000-8000-000000000000.json");
    std::fs::write(&f, journal).unwrap();
    let r = run(&["cleanup"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(Path::new("/etc/passwd").exists());
    assert!(
        victim.join("keep-me").exists(),
        "a non-hako path named in a journal was deleted"
    );
    assert!(Path::new("/sys/fs/cgroup/memory").exists());
    assert!(
        r.stderr.contains("left /etc alone") || r.stderr.contains("alone"),
        "{}",
        r.stderr
    );
    std::fs::remove_dir_all(&victim).unwrap();
    let _ = std::fs::remove_file(&f);
}

fn serde_json_line(items: &[&str]) -> String {
    format!(
        r#"{{"owner":{{"pid":999999,"start":1}},"items":[{}]}}"#,
        items.join(",")
    )
}

#[test]
#[ignore = "needs root"]
fn cleanup_leaves_live_runs_alone() {
    require_root();
    let (mut a, said_a) = start_until(
        &["--auto", "--", "/bin/sleep", "2"],
        &[],
        "inside the container now",
    );
    let (mut b, said_b) = start_until(
        &["--auto", "--", "/bin/sleep", "2"],
        &[],
        "inside the container now",
    );
    let c = run(&["cleanup"], "");
    assert!(
        !c.stderr.contains("removed"),
        "cleanup touched a live run: {}",
        c.stderr
    );
    assert_eq!(a.wait().unwrap().code(), Some(0));
    assert_eq!(b.wait().unwrap().code(), Some(0));
    for s in [said_a, said_b] {
        Run {
            code: 0,
            stdout: String::new(),
            stderr: s,
        }
        .assert_nothing_left();
    }
}

#[test]
#[ignore = "needs root"]
fn a_kept_rootfs_is_not_a_leftover_unless_asked() {
    require_root();
    let r = run(&["--auto", "--keep", "--", "/bin/true"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let kept = r.rootfs().unwrap();
    assert!(r
        .stderr
        .contains(&format!("kept the rootfs (--keep): {}", kept.display())));
    assert!(kept.join("bin/sh").exists() || kept.join("bin/busybox").exists());
    let c = run(&["cleanup"], "");
    assert!(kept.exists(), "cleanup removed a kept rootfs: {}", c.stderr);
    let c = run(&["cleanup", "--kept"], "");
    assert!(!kept.exists(), "cleanup --kept left it: {}", c.stderr);
}

/// A copy of a working rootfs, made by a kept run.
fn kept_rootfs() -> PathBuf {
    let r = run(&["--auto", "--keep", "--", "/bin/true"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.rootfs().unwrap()
}

/// The walk to `/bin/true` on a `dir:` rootfs.
fn walk_dir(root: &Path) -> Run {
    let arg = format!("dir:{}", root.display());
    run(&["--auto", "--rootfs", &arg, "--", "/bin/true"], "")
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            v.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    v.sort();
    v
}

#[test]
#[ignore = "needs root"]
fn a_dir_rootfs_gets_back_what_hako_added() {
    require_root();
    let root = kept_rootfs();
    for d in ["proc", "dev"] {
        std::fs::remove_dir_all(root.join(d)).unwrap();
    }
    let before = listing(&root);
    let r = walk_dir(&root);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("removed what hako added"), "{}", r.stderr);
    assert_eq!(listing(&root), before, "the dir: rootfs changed");
    r.assert_nothing_left();
    run(&["cleanup", "--kept"], "");
}

#[test]
#[ignore = "needs root"]
fn a_rootfs_whose_dev_and_proc_lead_to_the_host_changes_nothing_outside() {
    require_root();
    let root = kept_rootfs();
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    for (name, target) in [("dev", "/"), ("proc", "../../../etc")] {
        let _ = std::fs::remove_dir_all(root.join(name));
        let _ = std::fs::remove_file(root.join(name));
        std::os::unix::fs::symlink(target, root.join(name)).unwrap();
        let r = walk_dir(&root);
        assert_eq!(r.code, 125, "{name} -> {target}: {}", r.stderr);
        assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
        r.assert_no_panic();
        std::fs::remove_file(root.join(name)).unwrap();
        std::fs::create_dir(root.join(name)).unwrap();
    }
    for p in ["/pts", "/null", "/ptmx", "/proc/../pts"] {
        assert!(!Path::new(p).exists(), "{p} was created on the host");
    }
    let mounts_after = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    assert_eq!(
        mounts_before, mounts_after,
        "the host's mount table changed"
    );
    run(&["cleanup", "--kept"], "");
}

#[test]
#[ignore = "needs root"]
fn a_panic_cleans_up_and_exits_125() {
    require_root();
    let mut c = hako();
    c.args(["--auto", "--", "/bin/true"])
        .env("HAKO_TEST_PANIC", "devpts");
    let r = run_with(c, "");
    assert_eq!(r.code, 125, "{}", r.stderr);
    assert!(r.stderr.contains("hit a bug"), "{}", r.stderr);
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn ctrl_c_at_a_prompt_cleans_up_and_exits_130() {
    require_root();
    let t = Tmux::start("", 110, 40);
    walk_to(&t, "cgroup");
    t.keys(&["C-c"]);
    let r = t.exit(20);
    assert_eq!(r.code, 130, "{}", r.stderr);
    r.assert_nothing_left();
}

/// Presses Enter until the header of `id` shows and its prompt waits.
fn walk_to(t: &Tmux, id: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let s = t.screen();
        if let Some(i) = s.find(&format!("({id})")) {
            if s[i..].contains("Quit (clean up") {
                return;
            }
        } else if s.trim_end().ends_with("Quit (clean up and exit)")
            || s.trim_end().ends_with("continue…")
        {
            t.keys(&["Enter"]);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reached {id}:\n{s}"
        );
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
}

#[test]
#[ignore = "needs root"]
fn quit_at_a_prompt_cleans_up_and_exits_130() {
    require_root();
    let t = Tmux::start("", 110, 40);
    walk_to(&t, "namespaces");
    // Quit is the last item (Up from the first wraps to it).
    t.keys(&["Up", "Enter"]);
    let r = t.exit(20);
    assert_eq!(r.code, 130, "{}", r.stderr);
    assert!(r.stderr.contains("Quit:"), "{}", r.stderr);
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn sighup_at_a_prompt_cleans_up_and_exits_143() {
    require_root();
    let t = Tmux::start("", 110, 40);
    walk_to(&t, "limits");
    signal(t.hako_pid(), "-HUP");
    let r = t.exit(20);
    assert_eq!(r.code, 143, "{}", r.stderr);
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn in_a_terminal_the_shell_has_a_pty_of_its_own() {
    require_root();
    let t = Tmux::start("--auto", 90, 30);
    t.wait_for("inside the container now", 30);
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.type_text("echo TTY=$(tty) SIZE=$(stty size); exit 4");
    t.keys(&["Enter"]);
    let r = t.exit(20);
    assert!(r.stderr.contains("TTY=/dev/pts/0"), "{}", r.stderr);
    assert!(
        r.stderr.contains("SIZE=30 90"),
        "stty size inside matches the window:\n{}",
        r.stderr
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn ctrl_c_in_the_shell_goes_to_the_shell() {
    require_root();
    let t = Tmux::start("--auto", 90, 30);
    t.wait_for("inside the container now", 30);
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.type_text("sleep 100");
    t.keys(&["Enter"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    t.keys(&["C-c"]);
    t.type_text("echo STILL=here; exit 6");
    t.keys(&["Enter"]);
    let r = t.exit(20);
    assert!(r.stderr.contains("STILL=here"), "{}", r.stderr);
    assert_eq!(r.code, 6, "{}", r.stderr);
    r.assert_nothing_left();
}
