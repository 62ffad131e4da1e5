//! Crafted journals and a `dir:` rootfs whose owner swaps `dev` for a link: `hako
//! cleanup` (and every run's start) must not kill, remove or send anything that is not
//! what that run made. As root, on the real kernel; each test uses a fresh UUID and
//! removes its own files.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn journal_dir() -> PathBuf {
    PathBuf::from("/run/hako")
}

fn fresh_uuid() -> String {
    let s = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap();
    s.trim().to_string()
}

/// The temp rootfs name hako gives run `uuid`.
fn rootfs_name(uuid: &str) -> String {
    let hex: String = uuid
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(12)
        .collect();
    format!("hako.{hex}")
}

/// Writes `/run/hako/<uuid>.json` naming `items`, owned by a dead run; mode 0600.
fn write_journal(uuid: &str, items: &[String]) -> PathBuf {
    std::fs::create_dir_all(journal_dir()).unwrap();
    let f = journal_dir().join(format!("{uuid}.json"));
    std::fs::write(
        &f,
        format!(
            r#"{{"owner":{{"pid":999999,"start":1}},"items":[{}]}}"#,
            items.join(",")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    f
}

fn start_time(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(19).unwrap().parse().unwrap()
}

/// The journal's own sentence: names the journal and says what was left alone.
fn assert_refused(out: &str, journal: &Path, what: &str) {
    let name = journal.display().to_string();
    assert!(
        out.lines()
            .any(|l| l.contains(&name) && l.contains(what) && l.contains("alone")),
        "no sentence refusing {what} in {name}:\n{out}"
    );
}

#[test]
#[ignore = "needs root"]
fn a_journal_naming_an_unrelated_process_kills_nothing() {
    require_root();
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = sleeper.id();
    let uuid = fresh_uuid();
    let f = write_journal(
        &uuid,
        &[format!(
            r#"{{"Process":{{"pid":{pid},"start":{}}}}}"#,
            start_time(pid)
        )],
    );
    let r = run(&["cleanup"], "");
    let alive = sleeper.try_wait().unwrap().is_none();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = std::fs::remove_file(&f);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_no_panic();
    assert!(
        alive,
        "hako cleanup killed an unrelated process:\n{}",
        r.stderr
    );
    assert_refused(&r.stderr, &f, &pid.to_string());
    assert!(!f.exists(), "the refused journal stayed");
}

#[test]
#[ignore = "needs root"]
fn a_journal_naming_another_runs_cgroup_removes_nothing() {
    require_root();
    let uuid = fresh_uuid();
    let other = fresh_uuid();
    let mut made = vec![];
    for h in ["pids", "memory"] {
        let p = Path::new("/sys/fs/cgroup").join(h).join(&other);
        if std::fs::create_dir(&p).is_ok() {
            made.push(p);
        }
    }
    assert!(
        !made.is_empty(),
        "no cgroup v1 pids or memory hierarchy here"
    );
    let items: Vec<String> = made
        .iter()
        .map(|p| format!(r#"{{"Cgroup":{{"path":"{}"}}}}"#, p.display()))
        .collect();
    let f = write_journal(&uuid, &items);
    let r = run(&["cleanup"], "");
    let survived = made.iter().all(|p| p.exists());
    for p in &made {
        let _ = std::fs::remove_dir(p);
    }
    let _ = std::fs::remove_file(&f);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        survived,
        "a cgroup not of that run was removed:\n{}",
        r.stderr
    );
    assert_refused(&r.stderr, &f, &other);
}

#[test]
#[ignore = "needs root"]
fn a_journal_naming_a_listening_socket_sends_it_nothing() {
    require_root();
    let uuid = fresh_uuid();
    let sock = std::env::temp_dir().join(format!("hako-test-{uuid}.sock"));
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    // Whatever connects is read for a moment and hung up on, so that a hako that does
    // connect fails this test instead of hanging it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let heard = std::thread::spawn(move || {
        use std::io::Read;
        let mut heard = vec![];
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut c, _)) => {
                    c.set_nonblocking(false).unwrap();
                    c.set_read_timeout(Some(std::time::Duration::from_millis(300)))
                        .unwrap();
                    let mut buf = [0u8; 4096];
                    let n = c.read(&mut buf).unwrap_or(0);
                    heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        heard
    });
    let f = write_journal(
        &uuid,
        &[format!(
            r#"{{"Container":{{"name":"hako-{}","socket":"{}"}}}}"#,
            &uuid[..8],
            sock.display()
        )],
    );
    let r = run(&["cleanup"], "");
    std::thread::sleep(std::time::Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let heard = heard.join().unwrap();
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(&f);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        heard.is_empty(),
        "hako connected to a socket that is not Docker's ({heard:?}):\n{}",
        r.stderr
    );
    assert_refused(&r.stderr, &f, &sock.display().to_string());
}

#[test]
#[ignore = "needs root"]
fn a_rootfs_reaching_files_through_a_bind_mount_or_a_link_keeps_them() {
    require_root();
    let uuid = fresh_uuid();
    let canary = std::env::temp_dir().join(format!("hako-test-canary-{uuid}"));
    std::fs::create_dir_all(canary.join("sub")).unwrap();
    for f in ["a", "sub/b"] {
        std::fs::write(canary.join(f), "keep me").unwrap();
    }
    let fake = Path::new("/tmp").join(rootfs_name(&uuid));
    std::fs::create_dir_all(fake.join("mnt")).unwrap();
    std::os::unix::fs::symlink(&canary, fake.join("link")).unwrap();
    let ok = Command::new("mount")
        .args(["--bind"])
        .arg(&canary)
        .arg(fake.join("mnt"))
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount --bind failed");
    let f = write_journal(
        &uuid,
        &[format!(
            r#"{{"Rootfs":{{"path":"{}","kept":false}}}}"#,
            fake.display()
        )],
    );
    let r = run(&["cleanup"], "");
    let kept = ["a", "sub/b"]
        .iter()
        .all(|n| std::fs::read_to_string(canary.join(n)).is_ok_and(|s| s == "keep me"));
    // Whatever hako did, leave nothing: the mount (if still there), the fake, the canary.
    let _ = Command::new("umount")
        .arg("-l")
        .arg(fake.join("mnt"))
        .stderr(std::process::Stdio::null())
        .status();
    if fake.exists() {
        let _ = std::fs::remove_file(fake.join("link"));
        let _ = std::fs::remove_dir(fake.join("mnt"));
        let _ = std::fs::remove_dir(&fake);
    }
    let _ = std::fs::remove_dir_all(&canary);
    let _ = std::fs::remove_file(&f);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_no_panic();
    assert!(
        kept,
        "files reached through a bind mount or a link were removed:\n{}",
        r.stderr
    );
}

/// What a test does to a journal file to make it untrustworthy.
type Spoil = fn(&Path);

#[test]
#[ignore = "needs root"]
fn a_journal_others_could_write_is_ignored() {
    require_root();
    // Each case: a fake rootfs the journal names, with a file inside that must survive.
    let cases: [(&str, Spoil); 3] = [
        ("writable", |f| {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o666)).unwrap()
        }),
        ("group", |f| {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o620)).unwrap()
        }),
        ("not root's", |f| {
            std::os::unix::fs::chown(f, Some(65534), Some(65534)).unwrap()
        }),
    ];
    for (label, spoil) in cases {
        let uuid = fresh_uuid();
        let fake = Path::new("/tmp").join(rootfs_name(&uuid));
        std::fs::create_dir_all(&fake).unwrap();
        std::fs::write(fake.join("keep"), "x").unwrap();
        let f = write_journal(
            &uuid,
            &[format!(
                r#"{{"Rootfs":{{"path":"{}","kept":false}}}}"#,
                fake.display()
            )],
        );
        spoil(&f);
        let r = run(&["cleanup"], "");
        let kept = fake.join("keep").exists();
        let still = f.exists();
        let _ = std::fs::remove_file(&f);
        let _ = std::fs::remove_dir_all(&fake);
        assert_eq!(r.code, 0, "{label}: {}", r.stderr);
        assert!(
            kept,
            "{label}: a journal others could write was obeyed:\n{}",
            r.stderr
        );
        assert!(still, "{label}: the journal itself was removed");
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains("ignored the journal") && l.contains(&f.display().to_string())),
            "{label}: no sentence:\n{}",
            r.stderr
        );
    }
    // A link named like a journal is not followed.
    let uuid = fresh_uuid();
    let target = std::env::temp_dir().join(format!("hako-test-target-{uuid}.json"));
    std::fs::write(&target, r#"{"owner":{"pid":999999,"start":1},"items":[]}"#).unwrap();
    let link = journal_dir().join(format!("{uuid}.json"));
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let r = run(&["cleanup"], "");
    let _ = std::fs::remove_file(&link);
    let _ = std::fs::remove_file(&target);
    assert!(
        r.stderr.contains("ignored the journal") && r.stderr.contains("not a regular file"),
        "{}",
        r.stderr
    );
}

/// A copy of a working rootfs, made by a kept run.
fn kept_rootfs() -> PathBuf {
    let r = run(&["--auto", "--keep", "--", "/bin/true"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.rootfs().unwrap()
}

#[test]
#[ignore = "needs root"]
fn a_dir_rootfs_whose_dev_becomes_a_link_during_the_run_removes_nothing_outside() {
    require_root();
    let root = kept_rootfs();
    for d in ["proc", "dev"] {
        std::fs::remove_dir_all(root.join(d)).unwrap();
    }
    // The host directory the owner points `dev` at: what hako would have added, in
    // the very shapes it adds them (an empty file, an empty dir, the ptmx link).
    let uuid = fresh_uuid();
    let host = std::env::temp_dir().join(format!("hako-test-hostdev-{uuid}"));
    std::fs::create_dir_all(host.join("pts")).unwrap();
    std::fs::write(host.join("null"), "").unwrap();
    std::os::unix::fs::symlink("pts/ptmx", host.join("ptmx")).unwrap();
    let arg = format!("dir:{}", root.display());
    let (mut child, said) = start_until(
        &["--auto", "--rootfs", &arg, "--", "/bin/sh", "-c", "sleep 2"],
        &[],
        "inside the container now",
    );
    // The owner swaps dev for a link while the shell runs.
    let moved = root.join("dev.moved");
    std::fs::rename(root.join("dev"), &moved).unwrap();
    std::os::unix::fs::symlink(&host, root.join("dev")).unwrap();
    let status = child.wait().unwrap();
    let survived = |tag: &str| {
        let ok = host.join("null").is_file()
            && host.join("pts").is_dir()
            && std::fs::read_link(host.join("ptmx")).is_ok_and(|t| t == Path::new("pts/ptmx"));
        assert!(ok, "{tag}: files outside the rootfs were removed\n{said}");
    };
    survived("the run");
    let c = run(&["cleanup"], "");
    c.assert_no_panic();
    survived("hako cleanup");
    assert!(status.code().is_some(), "hako died of a signal");
    // The kept rootfs goes with `cleanup --kept`, its `dev` still a link to the host
    // directory: the link is removed, never followed.
    let _ = std::fs::remove_dir_all(&moved);
    run(&["cleanup", "--kept"], "");
    survived("cleanup --kept");
    if std::fs::symlink_metadata(&root).is_ok() {
        // Its journal may have gone with another run's clean-up: remove it by hand.
        let _ = std::fs::remove_file(root.join("dev"));
        let _ = std::fs::remove_dir_all(&root);
    }
    std::fs::remove_dir_all(&host).unwrap();
}
