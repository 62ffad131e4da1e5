//! The pids lesson (`--pids N`), as root on the real kernel: the limit read back, the
//! fork loop refused with EAGAIN in the demonstration, a shell inside that cannot start
//! more background processes than the limit allows, and nothing left afterwards.

mod common;
use common::*;

/// Run inside the container by PID 1: a child shell starts background sleeps until a
/// fork fails (busybox sh then ends that shell), and PID 1 counts them with builtins
/// only (at the limit, it could not fork `wc` or `cat`).
const INSIDE: &str = r#"sh -c 'i=0; while [ $i -lt 40 ]; do sleep 2 & i=$((i+1)); echo started; done' >/tmp/log 2>/tmp/err
echo "INNER=$?"
n=0; while read -r l; do n=$((n+1)); done </tmp/log
echo "STARTED=$n"
read -r e </tmp/err; echo "ERR=$e"
"#;

fn row<'a>(stderr: &'a str, label: &str) -> &'a str {
    stderr
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{stderr}"))
}

#[test]
#[ignore = "needs root"]
fn a_pids_limit_stops_forks_inside_and_leaves_nothing() {
    require_root();
    let r = run(
        &[
            "--auto", "--color", "never", "--pids", "20", "--demos", "--", "/bin/sh", "-c", INSIDE,
        ],
        "",
    );
    r.assert_no_panic();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let e = &r.stderr;
    // preflight says the controller is there, the lesson ran with its number.
    assert!(row(e, "pids controller (--pids)").contains('✔'), "{e}");
    assert!(e.contains("(pids)"), "{e}");
    // The check: the limit read back, nothing inside yet.
    let max = row(e, "(pids.max)");
    assert!(max.contains('✔') && max.contains("20  (20)"), "{max}");
    assert!(row(e, "tasks in the cgroup now (pids.current)").contains("✔"));
    // The demonstration: 19 children and EAGAIN (the loop itself is the 20th), a thread
    // refused too, pids.events max risen, every child reaped, the host unaffected.
    let forks = row(e, "fork() in a loop inside the cgroup");
    assert!(
        forks.contains('✔') && forks.contains("19 children"),
        "{forks}"
    );
    assert!(forks.contains("EAGAIN"), "{forks}");
    let thread = row(e, "one more thread, at the limit");
    assert!(
        thread.contains('✔') && thread.contains("EAGAIN"),
        "{thread}"
    );
    assert!(row(e, "tasks at the limit, read from the host").contains("20  (pids.max 20)"));
    let events = row(e, "pids.events max ");
    assert!(events.contains('✔') && events.contains('→'), "{events}");
    assert!(row(e, "children reaped by the loop").contains("19  (all 19)"));
    assert!(row(e, "tasks afterwards").contains('✔'));
    assert!(row(e, "hako on the host starts a process").contains('✔'));
    // The agent joined the pids hierarchy (v1) or the one v2 cgroup.
    assert!(row(e, "cgroup, pids").contains('✔'), "{e}");
    // Inside: the loop stopped at the limit with "can't fork", far below 40.
    let started: u32 = marker(&r.stdout, "STARTED").parse().unwrap();
    assert!(
        (10..20).contains(&started),
        "started {started} sleeps under pids.max 20:\n{}",
        r.stdout
    );
    assert_ne!(marker(&r.stdout, "INNER"), "0", "{}", r.stdout);
    assert!(
        marker(&r.stdout, "ERR").contains("Resource temporarily unavailable"),
        "{}",
        r.stdout
    );
    // The summary counted the refusals, and everything is gone.
    assert!(e.contains("at most 20 tasks"), "{e}");
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn without_pids_the_walk_has_no_pids_lesson() {
    require_root();
    let r = run(
        &[
            "--auto",
            "--color",
            "never",
            "--to",
            "limits",
            "--",
            "/bin/true",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("(pids)"), "{}", r.stderr);
    assert!(!r.stderr.contains("pids controller"), "{}", r.stderr);
    r.assert_nothing_left();
}

#[test]
fn list_shows_pids_as_optional_and_the_script_sets_pids_max() {
    let r = run(&["list"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains(" pids "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(line.contains("--pids"), "{line}");
    let r = run(&["--lang", "ja", "list"], "");
    assert!(r.stdout.contains("任意: --pids"), "{}", r.stdout);

    let r = run(&["script", "--pids", "33"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("33 > "), "{}", r.stdout);
    assert!(r.stdout.contains("/pids.max"), "{}", r.stdout);
    let plain = run(&["script"], "");
    assert!(!plain.stdout.contains("pids.max"));
    let all = run(&["script", "--all"], "");
    assert!(all.stdout.contains("64 > ") && all.stdout.contains("pivot_root"));

    let r = run(&["--pids", "3"], "");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("pids limit"), "{}", r.stderr);
}

#[test]
#[ignore = "needs root"]
fn a_dead_runs_pids_cgroup_is_removed_by_cleanup() {
    require_root();
    let (mut child, said) = start_until(
        &["--auto", "--pids", "16", "--", "/bin/sleep", "100"],
        &[],
        "inside the container now",
    );
    let dead = Run {
        code: 0,
        stdout: String::new(),
        stderr: said,
    };
    let uuid = dead.uuid().expect("the run's UUID");
    let layout = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let pids_dir = if layout.contains(" - cgroup cgroup ") {
        format!("/sys/fs/cgroup/pids/{uuid}")
    } else {
        format!("/sys/fs/cgroup/{uuid}")
    };
    assert_eq!(
        std::fs::read_to_string(format!("{pids_dir}/pids.max"))
            .unwrap()
            .trim(),
        "16"
    );
    signal(child.id(), "-9");
    child.wait().unwrap();
    let r = run(&["cleanup"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !std::path::Path::new(&pids_dir).exists(),
        "{pids_dir} is left:\n{}",
        r.stderr
    );
    dead.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn the_check_fails_when_the_limit_is_not_set() {
    require_root();
    let mut c = hako();
    c.args([
        "--auto",
        "--color",
        "never",
        "--pids",
        "20",
        "--",
        "/bin/true",
    ])
    .env("HAKO_TEST_SKIP", "pids");
    let r = run_with(c, "");
    assert_eq!(r.code, 125, "{}", r.stderr);
    assert!(
        r.stderr.contains("'pids' lesson did not hold"),
        "{}",
        r.stderr
    );
    r.assert_nothing_left();
}
