//! The whole walk, as root, on the real kernel: the container is checked from inside
//! (a verification script on the shell's stdin) and from outside (the host's hostname,
//! mount table, cgroups and temp dirs).

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

/// Printed from inside the container, one `KEY=value` a line. The allocation runs in a
/// subshell with the highest OOM score (inherited by `yes` and `dd`), so that the cgroup's
/// OOM killer takes its processes, never the shell (PID 1: its death would end the
/// container before the script is through).
const INSIDE: &str = r#"
echo "HOSTNAME=$(hostname)"
echo "PID=$$"
printf 'PIDS='; for p in /proc/[0-9]*; do printf '%s ' "${p#/proc/}"; done; echo
while read -r k v; do case $k in Cap*) echo "${k%:}=$v";; esac; done < /proc/self/status
while read -r src mp rest; do echo "MOUNT=$mp"; done < /proc/self/mounts
while read -r l; do case $l in *:*) echo "IF=${l%%:*}";; esac; done < /proc/net/dev
chroot / true 2>/dev/null; echo "CHROOT=$?"
(echo 1000 > /proc/self/oom_score_adj; yes | dd bs=50M count=1 iflag=fullblock of=/dev/null 2>/dev/null); echo "ALLOC=$?"
echo READY=1
"#;

fn host_state() -> (String, Vec<String>) {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.split(' ').nth(4).unwrap_or("").to_string())
        .collect();
    mounts.sort();
    (hostname, mounts)
}

/// The whole walk with the verification script. The cgroup's OOM killer picks its victim
/// itself: when it ends the shell (PID 1) after the script's allocation, the run says so
/// (`shell.did_oom`) and is tried once more, since which process the kernel kills is not
/// hako's to decide. Any other failure fails at once, with the status, stdout and the end
/// of stderr.
fn full_walk(env: &[(&str, &str)]) -> Run {
    match one_walk(env) {
        Err(r) if r.code == 137 && r.stderr.contains("OOM killer") => {
            eprintln!("the OOM killer ended the shell itself; trying once more");
            one_walk(env).unwrap_or_else(|r| panic!("{}", never_ran(&r)))
        }
        Err(r) => panic!("{}", never_ran(&r)),
        Ok(r) => r,
    }
}

fn never_ran(r: &Run) -> String {
    let tail: Vec<&str> = r.stderr.lines().rev().take(80).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!(
        "the shell never ran the script: status {}\nstdout:\n{}\nthe end of stderr:\n{}",
        r.code,
        r.stdout,
        tail.join("\n")
    )
}

fn one_walk(env: &[(&str, &str)]) -> Result<Run, Run> {
    require_root();
    let before = host_state();
    let mut cmd = hako();
    cmd.arg("--auto").envs(env.iter().copied());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(INSIDE.as_bytes()).unwrap();
    let err = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(err), &mut s).unwrap();
        s
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut stdout = String::new();
    let mut during = None;
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        stdout.push_str(&line);
        if line.trim() == "READY=1" {
            // The container is running now: the host must look as it did.
            during = Some(host_state());
            stdin.write_all(b"exit 7\n").unwrap();
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    let r = Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr: err_thread.join().unwrap(),
    };
    let Some(during) = during else {
        return Err(r);
    };
    assert_eq!(
        during.0, before.0,
        "the host's hostname changed while the container ran"
    );
    assert_eq!(
        during.1, before.1,
        "the host's mount table changed while the container ran"
    );
    Ok(r)
}

fn assert_inside(r: &Run) {
    let out = &r.stdout;
    assert_eq!(
        r.code, 7,
        "hako passes the shell's status on:\n{}",
        r.stderr
    );
    let uuid = r.uuid().expect("a UUID in the cgroup lesson");
    assert!(is_uuid(&uuid));
    assert_eq!(
        marker(out, "HOSTNAME"),
        uuid,
        "the hostname inside is the UUID"
    );
    assert_eq!(marker(out, "PID"), "1", "the shell is PID 1");
    let pids: Vec<&str> = marker(out, "PIDS").split_whitespace().collect();
    assert!(
        pids.len() <= 3 && pids.contains(&"1"),
        "only the container's processes are visible: {pids:?}"
    );
    for set in ["CapBnd", "CapEff"] {
        let v = u64::from_str_radix(marker(out, set), 16).unwrap();
        assert_eq!(v & (1 << 18), 0, "{set} still has CAP_SYS_CHROOT: {v:x}");
    }
    let mounts: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("MOUNT="))
        .collect();
    for m in ["/proc", "/dev/pts", "/dev/null"] {
        assert!(mounts.contains(&m), "{m} is not mounted inside: {mounts:?}");
    }
    let ifs: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("IF=")).collect();
    assert_eq!(ifs, ["lo"], "only lo in the network namespace");
    assert_ne!(
        marker(out, "CHROOT"),
        "0",
        "chroot / true must fail without CAP_SYS_CHROOT"
    );
    assert_ne!(
        marker(out, "ALLOC"),
        "0",
        "a 50 MB allocation must fail under the 10 MB limit"
    );
    // The closing summary shows the limit was hit: a refused charge (failcnt) or a
    // kill by the cgroup's OOM killer (oom_kill), read before the cgroup is removed.
    let counter = |name: &str| {
        r.stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(
        counter("memory.failcnt") + counter("memory.oom_control oom_kill") > 0,
        "the summary should count the refused allocation:\n{}",
        r.stderr
    );
}

#[test]
#[ignore = "needs root"]
fn the_walk_reaches_an_isolated_shell_with_busybox() {
    let r = full_walk(&[]);
    r.assert_no_panic();
    assert!(r.stderr.contains("busybox"), "{}", r.stderr);
    assert_inside(&r);
    r.assert_nothing_left();
    // hako's own words are all on stderr: stdout is only what the script printed.
    assert!(
        r.stdout.lines().all(|l| l.contains('=')),
        "stdout: {}",
        r.stdout
    );
}

#[test]
#[ignore = "needs root"]
fn the_walk_reaches_an_isolated_shell_without_busybox() {
    let r = full_walk(&[("HAKO_TEST_NO_BUSYBOX", "1")]);
    assert!(
        r.stderr.contains("libc.so.6"),
        "the ELF path copies libraries:\n{}",
        r.stderr
    );
    assert_inside(&r);
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn the_host_side_lessons_show_v1_files_and_read_back() {
    require_root();
    let r = run(&["--auto"], "exit\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    for needle in [
        "memory.limit_in_bytes",
        "cpu.cfs_quota_us",
        "9998336",
        "cgset -r memory.max",
        "works on cgroup v2 only",
    ] {
        assert!(
            r.stderr.contains(needle),
            "stderr lacks {needle}:\n{}",
            r.stderr
        );
    }
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn the_commands_status_is_hakos() {
    require_root();
    for (cmd, code) in [("exit 0", 0), ("exit 3", 3), ("exit 255", 255)] {
        let r = run(&["--auto", "--", "/bin/sh", "-c", cmd], "");
        assert_eq!(r.code, code, "{cmd}: {}", r.stderr);
        r.assert_nothing_left();
    }
}

#[test]
#[ignore = "needs root"]
fn a_command_that_exits_at_once_is_still_checked() {
    require_root();
    let r = run(&["--auto", "--", "/bin/true"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("/proc/") && r.stderr.contains("CapBnd without CAP_SYS_CHROOT"));
    assert!(!r.stderr.contains('✘'), "{}", r.stderr);
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn a_missing_command_is_127_and_a_non_executable_one_126() {
    require_root();
    let r = run(&["--auto", "--", "/no/such/cmd"], "");
    assert_eq!(r.code, 127, "{}", r.stderr);
    assert!(
        r.stderr.contains("does not exist in the rootfs"),
        "{}",
        r.stderr
    );
    r.assert_nothing_left();
    let r = run(&["--auto", "--", "/etc/passwd"], "");
    assert_eq!(r.code, 126, "{}", r.stderr);
    assert!(r.stderr.contains("cannot be executed"), "{}", r.stderr);
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn a_memory_limit_too_small_to_run_anything_fails_clearly() {
    require_root();
    // Refused before anything is made (below the floor hako measured for its agent).
    let r = run(&["--auto", "--memory", "4K"], "echo hi\n");
    assert_eq!(r.code, 2, "{}", r.stderr);
    r.assert_no_panic();
    assert!(
        r.stderr.contains("--memory"),
        "the sentence says what to do:\n{}",
        r.stderr
    );
    r.assert_nothing_left();
}

/// Every check fails when its stage is left out: no check passes without the kernel
/// doing the thing.
#[test]
#[ignore = "needs root"]
fn each_check_fails_when_its_stage_is_skipped() {
    require_root();
    // Every lesson of the article's walk that does a stage (preflight and beyond only look).
    let staged = hako::lessons::walk_with(&[])
        .into_iter()
        .map(|l| l.id())
        .filter(|id| !["preflight", "beyond"].contains(id));
    for id in staged {
        let mut c = hako();
        c.args(["--auto", "--", "/bin/true"])
            .env("HAKO_TEST_SKIP", id);
        let r = run_with(c, "");
        assert_eq!(
            r.code, 125,
            "skipping {id} must fail its check:\n{}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains(&format!("The check of the '{id}' lesson did not hold")),
            "skipping {id}: the failure names another lesson:\n{}",
            r.stderr
        );
        assert!(r.stderr.contains('✘'));
        r.assert_nothing_left();
    }
}

#[test]
#[ignore = "needs root"]
fn sigterm_during_the_shell_ends_the_container_and_cleans_up() {
    require_root();
    let (mut child, said) = start_until(
        &["--auto", "--", "/bin/sleep", "100"],
        &[],
        "inside the container now",
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    signal(child.id(), "-15");
    let status = child.wait().unwrap();
    let r = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: said,
    };
    assert_eq!(r.code, 143, "{}", r.stderr);
    r.assert_nothing_left();
}

/// `--auto --quiet`: nothing of hako's on success (stdout is the command's), only the
/// error on failure; and nothing left behind either way (the rootfs goes to a private
/// TMPDIR, the journal to a private directory: both must be empty afterwards).
#[test]
#[ignore = "needs root"]
fn quiet_prints_nothing_but_errors() {
    require_root();
    let base = std::env::temp_dir().join(format!("hako-quiet-test.{}", std::process::id()));
    let (tmp, journals) = (base.join("tmp"), base.join("journal"));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::create_dir_all(&journals).unwrap();
    let quiet = |args: &[&str]| {
        let mut c = hako();
        c.args(["--auto", "--quiet", "--"])
            .args(args)
            .env("TMPDIR", &tmp)
            .env("HAKO_JOURNAL_DIR", &journals);
        let r = run_with(c, "");
        let left: Vec<_> = [&tmp, &journals]
            .iter()
            .flat_map(|d| std::fs::read_dir(d).unwrap().flatten().map(|e| e.path()))
            .collect();
        assert!(left.is_empty(), "{args:?} left {left:?}");
        r.assert_no_panic();
        r
    };
    let r = quiet(&["/bin/sh", "-c", "echo out; exit 3"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.stdout, "out\n");
    assert_eq!(r.stderr, "", "--quiet printed on success");
    let r = quiet(&["/bin/true"]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let r = quiet(&["/no/such/cmd"]);
    assert_eq!(r.code, 127, "{}", r.stderr);
    assert!(
        r.stderr.contains("does not exist in the rootfs"),
        "{}",
        r.stderr
    );
    for chatter in ["UUID=", "preflight", "✔", "[ok]"] {
        assert!(!r.stderr.contains(chatter), "{chatter:?} in:\n{}", r.stderr);
    }
    std::fs::remove_dir_all(&base).unwrap();
}
