//! No code of an image runs with the host's privilege before it is confined, and no
//! file of an untrusted rootfs can make hako wait; the `--harden` checks do not depend
//! on what the rootfs holds. As root, on the real kernel.

mod common;
use common::Tmp as Scratch;
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sh(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A busybox rootfs (busybox-static) with the applets the walk uses; `/bin/sh` is left
/// for the caller; `/tmp` only when asked.
fn busybox_tree(dir: &Path, with_tmp: bool) {
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is needed (apt-get install busybox-static; tests/run.sh does)");
    for d in ["bin", "etc", "proc", "dev"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    if with_tmp {
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
    }
    std::fs::copy(bb, dir.join("bin/busybox")).unwrap();
    for a in [
        "ls", "cat", "echo", "id", "hostname", "mount", "ps", "true", "sleep",
    ] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(a)).unwrap();
    }
}

fn tar_of(dir: &Path, out: &Path) {
    sh(Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("--numeric-owner")
        .arg("-cf")
        .arg(out)
        .arg("."));
}

/// A static program that, run as root from inside the rootfs, tries every way it knows
/// to write `victim` (a host path outside the rootfs), then exits 42 as `sh -c 'exit
/// 42'` would: through /proc/1/root and /proc/PPID/root after mounting proc, by `..`
/// from its directory, and by the classic chroot escape.
const HOSTILE_C: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { (void)!write(fd, "pwned\n", 6); close(fd); }
}

int main(void) {
    char p[4096];
    mkdir("/proc", 0755);
    mount("proc", "/proc", "proc", 0, NULL);
    snprintf(p, sizeof p, "/proc/1/root%s", VICTIM); put(p);
    snprintf(p, sizeof p, "/proc/%d/root%s", (int)getppid(), VICTIM); put(p);
    snprintf(p, sizeof p, "../../../../../../../..%s", VICTIM); put(p);
    mkdir("/.x", 0700);
    if (chroot("/.x") == 0) {
        for (int i = 0; i < 64; i++) (void)!chdir("..");
        if (chroot(".") == 0) put(VICTIM);
    }
    return 42;
}
"#;

/// Compiles [`HOSTILE_C`] statically (gcc and the static C library are needed; the
/// CI image has them: build-essential).
fn hostile_sh(out: &Path, victim: &Path, work: &Path) {
    let src = work.join("hostile.c");
    std::fs::write(&src, HOSTILE_C).unwrap();
    sh(Command::new("gcc")
        .arg("-static")
        .arg("-O1")
        .arg(format!("-DVICTIM=\"{}\"", victim.display()))
        .arg("-o")
        .arg(out)
        .arg(&src));
}

/// Runs hako as the tests do, with its temp dir in `tmp`, and a deadline: a hang is a
/// failure, not a stuck test.
fn hako_in(tmp: &Path, args: &[&str], limit: Duration) -> (i32, String) {
    let mut c = hako();
    c.args(["--auto", "--lang", "en"])
        .args(args)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(tmp.join("stderr.txt")).unwrap(),
        ));
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "hako did not end within {limit:?}:\n{}",
                std::fs::read_to_string(tmp.join("stderr.txt")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = std::fs::read_to_string(tmp.join("stderr.txt")).unwrap_or_default();
    let _ = std::fs::remove_file(tmp.join("stderr.txt"));
    (status.code().unwrap_or(-1), err)
}

/// What is in `tmp` besides the test's own files: what a run left behind.
fn left_in(tmp: &Path, own: &[&str]) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !own.contains(&n.as_str()))
        .collect()
}

#[test]
#[ignore = "needs root"]
fn a_hostile_sh_in_a_tarball_writes_nothing_on_the_host() {
    require_root();
    let s = Scratch::new("hostile");
    let victim_dir = Scratch::new("victim");
    let victim = victim_dir.path().join("victim");
    let tree = s.path().join("tree");
    busybox_tree(&tree, true);
    hostile_sh(&tree.join("bin/sh"), &victim, s.path());
    // It exits 42, so a check that ran `sh -c 'exit 42'` would have passed.
    let tar = s.path().join("hostile.tar");
    tar_of(&tree, &tar);
    let tmp = s.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let tar_src = format!("tar:{}", tar.display());
    // The same tree as a `dir:` rootfs: checked the same way, run by nobody.
    let dir_src = format!("dir:{}", tree.display());
    let runs = [
        (&tar_src, false),
        (&tar_src, true),
        (&dir_src, false),
        (&dir_src, true),
    ];
    for (src, harden) in runs {
        let mut args = vec!["--rootfs", src.as_str()];
        if harden {
            args.push("--harden");
        }
        args.extend(["--", "/bin/true"]);
        let (code, err) = hako_in(&tmp, &args, Duration::from_secs(240));
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            !victim.exists(),
            "the image's /bin/sh wrote {} on the host ({src}, harden: {harden}):\n{err}",
            victim.display()
        );
        // The check reads the shell instead of running it, and says so.
        let row = err
            .lines()
            .find(|l| l.contains("as execve(2) would find it chrooted"))
            .unwrap_or_else(|| panic!("no rootfs row:\n{err}"));
        assert!(
            row.contains('✔') && row.contains("ELF 64-bit"),
            "{row}\n{err}"
        );
        assert!(err.contains("nothing from the rootfs is run"), "{err}");
        assert_eq!(code, 0, "{src}, harden: {harden}\n{err}");
        assert_eq!(left_in(&tmp, &[]), Vec::<String>::new(), "{err}");
    }
}

#[test]
#[ignore = "needs root"]
fn a_fifo_as_bin_sh_does_not_hang_hako() {
    require_root();
    let s = Scratch::new("fifo");
    let tree = s.path().join("tree");
    busybox_tree(&tree, true);
    nix_mkfifo(&tree.join("bin/sh"));
    let tar = s.path().join("fifo.tar");
    tar_of(&tree, &tar);
    std::fs::remove_dir_all(&tree).unwrap();
    let tmp = s.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let src = format!("tar:{}", tar.display());

    // By itself: the check says what /bin/sh is, at once, and the walk stops with 125.
    let start = Instant::now();
    let (code, err) = hako_in(
        &tmp,
        &["--rootfs", &src, "--", "/bin/true"],
        Duration::from_secs(60),
    );
    assert!(start.elapsed() < Duration::from_secs(30), "{err}");
    assert_eq!(code, 125, "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains('✘') && l.contains("a FIFO, not a program")),
        "{err}"
    );
    assert_eq!(left_in(&tmp, &[]), Vec::<String>::new(), "{err}");

    // SIGTERM as soon as the rootfs lesson starts: hako ends promptly, 143 (or 125 when
    // the check was quicker than the signal), and leaves nothing.
    let (mut child, said) = start_until(
        &[
            "--auto",
            "--lang",
            "en",
            "--rootfs",
            &src,
            "--",
            "/bin/true",
        ],
        &[("TMPDIR", tmp.to_str().unwrap())],
        "(rootfs)",
    );
    signal(child.id(), "-TERM");
    let start = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code().unwrap_or(-1);
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hako did not end within 20 s of SIGTERM:\n{said}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code == 143 || code == 125, "exit {code}:\n{said}");
    assert_eq!(left_in(&tmp, &[]), Vec::<String>::new(), "{said}");
}

fn nix_mkfifo(p: &Path) {
    sh(Command::new("mkfifo").arg(p));
}

#[test]
#[ignore = "needs root"]
fn the_hardened_walk_passes_on_a_rootfs_without_tmp() {
    require_root();
    let s = Scratch::new("notmp");
    let tree = s.path().join("tree");
    busybox_tree(&tree, false);
    std::os::unix::fs::symlink("busybox", tree.join("bin/sh")).unwrap();
    let tar = s.path().join("notmp.tar");
    tar_of(&tree, &tar);
    std::fs::remove_dir_all(&tree).unwrap();
    let tmp = s.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // A `dir:` rootfs too: its owner is not mapped, so root inside may not make a
    // directory in its / (the probe then mounts on /proc); nothing is left in it.
    let dir = s.path().join("dir");
    busybox_tree(&dir, false);
    std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).unwrap();
    let before = left_in(&dir, &[]);
    for src in [
        format!("tar:{}", tar.display()),
        format!("dir:{}", dir.display()),
    ] {
        let (code, err) = hako_in(
            &tmp,
            &["--rootfs", &src, "--harden", "--", "/bin/true"],
            Duration::from_secs(240),
        );
        assert!(!err.contains('✘'), "{src}\n{err}");
        let row = err
            .lines()
            .find(|l| l.contains("mount(2) inside"))
            .unwrap_or_else(|| panic!("no mount row:\n{err}"));
        assert!(row.contains('✔') && row.contains("EPERM"), "{row}");
        assert_eq!(code, 0, "{src}\n{err}");
        assert_eq!(left_in(&tmp, &[]), Vec::<String>::new(), "{err}");
    }
    let mut after = left_in(&dir, &[]);
    let mut before = before;
    after.sort();
    before.sort();
    assert_eq!(after, before, "the dir: rootfs changed");
}
