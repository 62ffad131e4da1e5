//! The bad-input matrix: every flag value, source and host condition that can be
//! wrong gets one clear sentence, the right exit code, no panic, and nothing left.

mod common;
use common::*;
use std::os::unix::process::CommandExt;

struct Case {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    as_nobody: bool,
    code: i32,
    says: &'static str,
}

fn case(name: &'static str, args: &[&str], code: i32, says: &'static str) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        as_nobody: false,
        code,
        says,
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let p = std::path::PathBuf::from(format!("/tmp/hako-matrix-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
#[ignore = "needs root"]
fn every_bad_input_gets_a_sentence_and_its_exit_code() {
    require_root();
    let empty_tar = scratch("empty.tar");
    std::fs::write(&empty_tar, b"").unwrap();
    let corrupt = scratch("corrupt.tar.gz");
    std::fs::write(&corrupt, [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
    let no_shell = scratch("noshell");
    std::fs::create_dir_all(no_shell.join("bin")).unwrap();
    let no_cgroups = scratch("mountinfo");
    std::fs::write(&no_cgroups, "22 1 0:21 / /proc rw - proc proc rw\n").unwrap();
    let tar_arg = format!("tar:{}", empty_tar.display());
    let corrupt_arg = format!("tar:{}", corrupt.display());
    let dir_arg = format!("dir:{}", no_shell.display());

    let mut cases = vec![
        case("--memory ten", &["--memory", "ten"], 2, "is not a size"),
        case("--memory 0", &["--memory", "0"], 2, "zero"),
        case("--memory -5", &["--memory=-5"], 2, "negative"),
        case("--cpu 0", &["--cpu", "0"], 2, "no CPU time"),
        case("--cpu banana", &["--cpu", "banana"], 2, "not a CPU limit"),
        case(
            "--rootfs bogus:x",
            &["--rootfs", "bogus:x"],
            2,
            "not a rootfs source",
        ),
        case(
            "--rootfs dir:/nonexistent",
            &["--rootfs", "dir:/nonexistent"],
            2,
            "cannot be used",
        ),
        case("--lang xx", &["--lang", "xx"], 2, "invalid value"),
        case(
            "show nosuchlesson",
            &["show", "nosuchlesson"],
            2,
            "invalid value",
        ),
        case(
            "--quiet without --auto",
            &["--quiet"],
            2,
            "--quiet only works with --auto",
        ),
        case(
            "an empty tarball",
            &["--auto", "--rootfs", &tar_arg],
            125,
            "is empty",
        ),
        case(
            "a corrupt tarball",
            &["--auto", "--rootfs", &corrupt_arg],
            125,
            "corrupt",
        ),
        case(
            "a rootfs without a shell",
            &["--auto", "--rootfs", &dir_arg],
            125,
            "has no /bin/sh",
        ),
        case(
            "a missing command",
            &["--auto", "--", "/no/such/command"],
            127,
            "does not exist in the rootfs",
        ),
        case(
            "a command that cannot run",
            &["--auto", "--", "/etc/passwd"],
            126,
            "cannot be executed",
        ),
        case(
            "a memory limit too small to run anything",
            &["--auto", "--memory", "4K"],
            2,
            "--memory",
        ),
    ];
    let mut c = case(
        "controllers unavailable",
        &["--auto"],
        125,
        "memory and cpu controllers",
    );
    c.env
        .push(("HAKO_TEST_MOUNTINFO", no_cgroups.display().to_string()));
    cases.push(c);
    let mut c = case("a non-root user", &["--auto"], 125, "needs root");
    c.as_nobody = true;
    cases.push(c);

    let mut wrong = vec![];
    for c in &cases {
        let mut cmd = hako();
        cmd.args(&c.args);
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
        if c.as_nobody {
            cmd.uid(65534).gid(65534);
        }
        let r = run_with(cmd, "");
        r.assert_no_panic();
        r.assert_nothing_left();
        let sentence_ok = r.stderr.contains(c.says);
        // The error is one message, with what to do: more than a bare errno.
        let last = r
            .stderr
            .lines()
            .skip_while(|l| !l.starts_with("hako:") && !l.starts_with("error:"))
            .collect::<Vec<_>>()
            .join(" ");
        if r.code != c.code || !sentence_ok || last.len() < 40 || !r.stdout.is_empty() {
            wrong.push(format!(
                "{}: exit {} (want {}), says {:?} (want {:?}), stdout {:?}",
                c.name, r.code, c.code, last, c.says, r.stdout
            ));
        }
    }
    for p in [&empty_tar, &corrupt, &no_cgroups] {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_dir_all(&no_shell);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
