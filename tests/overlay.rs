//! `--overlay`, as root on the real kernel: the walk for `tar:`, `host` and `oci:` (a
//! real registry on 127.0.0.1), whiteouts and opaque directories in overlayfs's form,
//! the cache reused, two runs at once on the same layers, `hako cleanup --cache`, a
//! kill -9 followed by `hako cleanup` leaving no mount, and nothing left behind. Each
//! test has its own cache (`HAKO_CACHE_DIR`), temp directory (`TMPDIR`) and journal
//! directory (`HAKO_JOURNAL_DIR`).
//!
//! These tests need root and fail (not skip) without it.

mod common;
use common::*;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sh(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A busybox rootfs tree (busybox-static), with a few files to look at.
fn busybox_tree(dir: &Path) {
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is needed (apt-get install busybox-static; tests/run.sh does)");
    for d in ["bin", "etc", "tmp", "proc", "dev"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy(bb, dir.join("bin/busybox")).unwrap();
    for a in [
        "sh", "ls", "cat", "echo", "id", "hostname", "mount", "ps", "true", "sleep", "stat",
    ] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(a)).unwrap();
    }
    std::fs::write(dir.join("etc/hostname"), "image\n").unwrap();
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

/// Where one test's runs keep their things.
struct Place {
    cache: Tmp,
    tmp: Tmp,
    journal: Tmp,
}

impl Place {
    fn new() -> Place {
        let p = Place {
            cache: Tmp::new("ovl-cache"),
            tmp: Tmp::new("ovl-tmp"),
            journal: Tmp::new("ovl-journal"),
        };
        // The cache must be root's and 0700-ish, as hako checks.
        use std::os::unix::fs::PermissionsExt;
        for d in [&p.cache, &p.journal] {
            std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        p
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = hako();
        c.args(args)
            .env("TMPDIR", self.tmp.path())
            .env("HAKO_CACHE_DIR", self.cache.path())
            .env("HAKO_JOURNAL_DIR", self.journal.path());
        c
    }

    fn walk(&self, rootfs: &str, extra: &[&str], script: &str) -> Run {
        let mut args = vec!["--auto", "--lang", "en", "--color", "never", "--overlay"];
        args.extend(["--rootfs", rootfs]);
        args.extend(extra);
        args.extend(["--", "/bin/sh", "-c", script]);
        run_with(self.command(&args), "")
    }

    fn layers(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.cache.path().join("layers"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        v.sort();
        v
    }

    /// Nothing of the runs is left: the temp dir is empty, no mount names it.
    fn nothing_left(&self) {
        let left: Vec<_> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(&self.tmp.s()) && !mounts.contains(&self.cache.s()),
            "a mount is left:\n{mounts}"
        );
        let journals: Vec<_> = std::fs::read_dir(self.journal.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(journals.is_empty(), "journals left: {journals:?}");
    }
}

fn row<'a>(stderr: &'a str, label: &str) -> &'a str {
    stderr
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{stderr}"))
}

fn passed(r: &Run) {
    r.assert_no_panic();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let e = &r.stderr;
    for label in [
        "(/proc/self/mountinfo)",
        "written through the merged tree",
        "before the mount and now",
        "removed in a scratch overlay",
        "as execve(2) would find it chrooted",
    ] {
        assert!(row(e, label).contains('✔'), "{label}: {e}");
    }
}

/// The container writes a file, which must land in the upper directory only.
const WRITE: &str = "echo inside > /written && cat /written && cat /etc/hostname";

#[test]
#[ignore = "needs root"]
fn a_tar_walks_on_an_overlay_and_the_cache_is_reused() {
    require_root();
    let p = Place::new();
    let tree = Tmp::new("tree");
    busybox_tree(tree.path());
    let t = Tmp::new("tarfile");
    let tar = t.path().join("rootfs.tar");
    tar_of(tree.path(), &tar);
    let src = format!("tar:{}", tar.display());
    // --keep: what is kept is the upper directory, with the container's write only.
    let r = p.walk(&src, &["--keep"], WRITE);
    passed(&r);
    assert!(
        r.stdout.contains("inside") && r.stdout.contains("image"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("unpacked now into"), "{}", r.stderr);
    assert!(
        r.stderr.contains("kept its upper directory"),
        "{}",
        r.stderr
    );
    let layers = p.layers();
    assert_eq!(layers.len(), 1, "{layers:?}");
    assert!(!layers[0].join("written").exists(), "the layer was written");
    let kept: Vec<PathBuf> = std::fs::read_dir(p.tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let upper = kept[0].join("upper");
    assert_eq!(
        std::fs::read_to_string(upper.join("written")).unwrap(),
        "inside\n"
    );
    assert!(
        !upper.join("bin/busybox").exists(),
        "the upper holds only changes"
    );
    assert!(!kept[0].join("root").exists() && !kept[0].join("work").exists());
    std::fs::remove_dir_all(&kept[0]).unwrap();
    // The same tarball again: found in the cache, the layer untouched.
    let before = std::fs::symlink_metadata(&layers[0]).unwrap();
    let r = p.walk(&src, &[], WRITE);
    passed(&r);
    assert!(r.stderr.contains("found in the cache"), "{}", r.stderr);
    assert_eq!(p.layers(), layers);
    let after = std::fs::symlink_metadata(&layers[0]).unwrap();
    assert_eq!(
        (before.ino(), before.mtime(), before.mtime_nsec()),
        (after.ino(), after.mtime(), after.mtime_nsec())
    );
    // The mount took at most a few milliseconds (the lesson says how long).
    let line = row(&r.stderr, "cached layer(s) at");
    let ms: f64 = line
        .split(" in ")
        .nth(1)
        .and_then(|s| s.split(" ms").next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(ms < 50.0, "the overlay mount took {ms} ms");
    p.nothing_left();
    // hako cleanup --cache empties the cache.
    let c = run_with(p.command(&["cleanup", "--cache"]), "");
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert!(c.stderr.contains("emptied the cache"), "{}", c.stderr);
    assert_eq!(std::fs::read_dir(p.cache.path()).unwrap().count(), 0);
}

#[test]
#[ignore = "needs root"]
fn the_host_rootfs_on_an_overlay_with_two_containers_at_once() {
    require_root();
    let p = Place::new();
    let r = p.walk(
        "host",
        &["--demos"],
        "echo inside > /written && cat /written",
    );
    passed(&r);
    let e = &r.stderr;
    for who in ["A", "B"] {
        assert!(
            row(e, &format!("container {who} reads")).contains('✔'),
            "{e}"
        );
        assert!(
            row(e, &format!("container {who}'s upper directory")).contains('✔'),
            "{e}"
        );
    }
    assert_eq!(p.layers().len(), 1);
    // The same host tree again: the same key, found in the cache.
    let r = p.walk("host", &[], "true");
    passed(&r);
    assert!(r.stderr.contains("found in the cache"), "{}", r.stderr);
    assert_eq!(p.layers().len(), 1);
    p.nothing_left();
}

/// A tar layer with a whiteout and an opaque directory, unpacked for overlayfs by the
/// extractor itself: the `.wh.` files become a character device 0/0 and the opaque
/// xattr; nothing named `.wh.` is left.
#[test]
#[ignore = "needs root"]
fn whiteouts_become_overlayfs_whiteouts_at_unpack_time() {
    require_root();
    let tree = Tmp::new("wh");
    std::fs::create_dir_all(tree.path().join("etc/dir")).unwrap();
    std::fs::write(tree.path().join("etc/.wh.gone"), "").unwrap();
    std::fs::write(tree.path().join("etc/dir/.wh..wh..opq"), "").unwrap();
    std::fs::write(tree.path().join("etc/dir/c"), "c").unwrap();
    let t = Tmp::new("whtar");
    let tar = t.path().join("l.tar");
    tar_of(tree.path(), &tar);
    let out = Tmp::new("whout");
    let layer = out.path().join("layer");
    std::fs::create_dir(&layer).unwrap();
    hako::rootfs::tarball::fill_layer(&layer, &tar).unwrap();
    let gone = std::fs::symlink_metadata(layer.join("etc/gone")).unwrap();
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
    assert!(!layer.join("etc/.wh.gone").exists());
    assert!(!layer.join("etc/dir/.wh..wh..opq").exists());
    assert_eq!(
        std::fs::read_to_string(layer.join("etc/dir/c")).unwrap(),
        "c"
    );
    let attr = sh(Command::new("getfattr")
        .args(["--only-values", "-n", "trusted.overlay.opaque"])
        .arg(layer.join("etc/dir")));
    assert_eq!(String::from_utf8_lossy(&attr.stdout), "y");
    // Mounted over a lower layer, they hide what it has.
    let lower = out.path().join("lower");
    std::fs::create_dir_all(lower.join("etc/dir")).unwrap();
    std::fs::write(lower.join("etc/gone"), "lower").unwrap();
    std::fs::write(lower.join("etc/dir/a"), "a").unwrap();
    let (u, w, m) = (
        out.path().join("u"),
        out.path().join("w"),
        out.path().join("m"),
    );
    for d in [&u, &w, &m] {
        std::fs::create_dir(d).unwrap();
    }
    sh(Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o"])
        .arg(format!(
            "lowerdir={}:{},upperdir={},workdir={}",
            layer.display(),
            lower.display(),
            u.display(),
            w.display()
        ))
        .arg(&m));
    let hidden = !m.join("etc/gone").exists() && !m.join("etc/dir/a").exists();
    let kept = m.join("etc/dir/c").exists();
    sh(Command::new("umount").arg(&m));
    assert!(
        hidden && kept,
        "the whiteout and the opaque dir hide the lower files"
    );
}

#[test]
#[ignore = "needs root"]
fn two_runs_at_once_unpack_once_and_see_their_own_writes() {
    require_root();
    let p = Place::new();
    let tree = Tmp::new("tree2");
    busybox_tree(tree.path());
    let t = Tmp::new("tarfile2");
    let tar = t.path().join("rootfs.tar");
    tar_of(tree.path(), &tar);
    let src = format!("tar:{}", tar.display());
    let spawn = |who: &str| {
        let script =
            format!("echo {who} > /mine; sleep 1; echo SEEN=$(cat /mine); ls / | grep -c mine");
        let mut c = p.command(&[
            "--auto",
            "--lang",
            "en",
            "--color",
            "never",
            "--overlay",
            "--rootfs",
            &src,
            "--",
            "/bin/sh",
            "-c",
            &script,
        ]);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let a = spawn("a");
    let b = spawn("b");
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for (o, who) in [(&a, "a"), (&b, "b")] {
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{out}\n{err}");
        assert!(out.contains(&format!("SEEN={who}")), "{out}");
    }
    let fresh = [&a, &b]
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("unpacked now into"))
        .count();
    assert_eq!(fresh, 1, "one run unpacked the layer, the other found it");
    assert_eq!(p.layers().len(), 1);
    p.nothing_left();
}

#[test]
#[ignore = "needs root"]
fn kill_9_then_cleanup_leaves_no_mount() {
    require_root();
    let p = Place::new();
    let mut c = p.command(&[
        "--auto",
        "--lang",
        "en",
        "--color",
        "never",
        "--overlay",
        "--rootfs",
        "host",
        "--",
        "/bin/sh",
        "-c",
        "echo READY; sleep 60",
    ]);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert!(line.contains("READY"), "{line}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        mounts.contains(&p.tmp.s()),
        "the overlay is mounted:\n{mounts}"
    );
    signal(child.id(), "-KILL");
    child.wait().unwrap();
    // Its container dies with it (the parent-death signal); the mount stays until
    // hako cleanup reads the journal.
    let t = Instant::now();
    let c = loop {
        let c = run_with(p.command(&["cleanup"]), "");
        if c.stderr.contains("unmounted the overlay") || t.elapsed() > Duration::from_secs(10) {
            break c;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert!(c.stderr.contains("unmounted the overlay"), "{}", c.stderr);
    p.nothing_left();
}

#[test]
#[ignore = "needs root"]
fn a_dir_rootfs_gets_no_overlay() {
    require_root();
    let p = Place::new();
    let tree = Tmp::new("dirtree");
    busybox_tree(tree.path());
    let r = p.walk(&format!("dir:{}", tree.s()), &[], "true");
    r.assert_no_panic();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("is your own tree"), "{}", r.stderr);
    assert!(row(&r.stderr, "(no overlay)").contains('✔'));
    assert!(!p.cache.path().join("layers").exists() || p.layers().is_empty());
    p.nothing_left();
}

// ---------------------------------------------------------------- oci: on a registry

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's docker-registry on 127.0.0.1 (a free port of its own), stopped by its PID.
struct Registry {
    child: Child,
    dir: Tmp,
    port: u16,
}

impl Registry {
    fn start() -> Registry {
        let dir = Tmp::new("ovl-registry");
        let port = free_port();
        let cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry is needed (apt-get install docker-registry)");
        let mut r = Registry { child, dir, port };
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(s)) = r.child.try_wait() {
                panic!(
                    "the registry exited ({s}): {}",
                    std::fs::read_to_string(r.dir.path().join("log")).unwrap_or_default()
                );
            }
            assert!(t.elapsed() < Duration::from_secs(30), "no registry in 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        signal(self.child.id(), "-TERM");
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{:x}", sha2::Sha256::digest(b))
}

/// An OCI layout of these layers (trees, lowest first), pushed with skopeo.
fn push_image(layers: &[&Path], dest: &str) {
    let lay = Tmp::new("ovl-layout");
    let blobs = lay.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(
        lay.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let blob = |b: &[u8]| {
        let d = sha256(b);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), b).unwrap();
        (d, b.len())
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let (mut descs, mut diff_ids) = (vec![], vec![]);
    for l in layers {
        let t = Tmp::new("ovl-layer");
        let tar = t.path().join("l.tar");
        tar_of(l, &tar);
        let raw = std::fs::read(&tar).unwrap();
        diff_ids.push(sha256(&raw));
        let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        let (d, n) = blob(&gz.finish().unwrap());
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n}));
    }
    let config = serde_json::json!({"architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let (cd, cn) = blob(config.to_string().as_bytes());
    let manifest = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
        "layers": descs});
    let (md, mn) = blob(manifest.to_string().as_bytes());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]});
    std::fs::write(lay.path().join("index.json"), index.to_string()).unwrap();
    sh(Command::new("skopeo")
        .args(["copy", "--insecure-policy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:latest", lay.path().display()))
        .arg(format!("docker://{dest}")));
}

#[test]
#[ignore = "needs root"]
fn an_oci_image_walks_on_an_overlay_of_its_layers() {
    require_root();
    let l1 = Tmp::new("ovl-l1");
    busybox_tree(l1.path());
    std::fs::write(l1.path().join("etc/secret"), "lower").unwrap();
    std::fs::create_dir_all(l1.path().join("etc/dir")).unwrap();
    std::fs::write(l1.path().join("etc/dir/a"), "a").unwrap();
    let l2 = Tmp::new("ovl-l2");
    std::fs::create_dir_all(l2.path().join("etc/dir")).unwrap();
    std::fs::write(l2.path().join("etc/.wh.secret"), "").unwrap();
    std::fs::write(l2.path().join("etc/dir/.wh..wh..opq"), "").unwrap();
    std::fs::write(l2.path().join("etc/dir/c"), "c").unwrap();
    let p = Place::new();
    let reg = Registry::start();
    let image = format!("127.0.0.1:{}/layered:latest", reg.port);
    push_image(&[l1.path(), l2.path()], &image);
    let src = format!("oci:{image}");
    let look = "echo SECRET=$(cat /etc/secret 2>/dev/null || echo none); echo DIR=$(ls /etc/dir)";
    let r = p.walk(&src, &[], look);
    passed(&r);
    assert_eq!(marker(&r.stdout, "SECRET"), "none", "{}", r.stdout);
    assert_eq!(marker(&r.stdout, "DIR"), "c", "{}", r.stdout);
    assert!(r.stderr.contains("layer 2/2"), "{}", r.stderr);
    assert_eq!(p.layers().len(), 2);
    // Again, with the registry gone: every layer from the cache, no blob needed.
    drop(reg);
    let r = p.walk(&src, &[], look);
    // The manifest is cached by tag; the layers need nothing from the network.
    passed(&r);
    assert_eq!(marker(&r.stdout, "DIR"), "c", "{}", r.stdout);
    assert_eq!(
        r.stderr.matches("found in the cache").count(),
        2,
        "{}",
        r.stderr
    );
    p.nothing_left();
}

#[test]
#[ignore = "needs root"]
fn with_harden_the_layers_are_idmapped_and_never_chowned() {
    require_root();
    let p = Place::new();
    let inside =
        "echo UID=$(id -u); echo x > /mine && echo WROTE=$?; echo OWNER=$(stat -c %u /bin/busybox)";
    let r = p.walk("host", &["--harden"], inside);
    passed(&r);
    let e = &r.stderr;
    assert!(
        row(e, "in the cache and through the overlay").contains('✔'),
        "{e}"
    );
    assert!(e.contains("mounted idmapped at"), "{e}");
    assert!(e.contains("nothing to chown"), "{e}");
    assert_eq!(marker(&r.stdout, "UID"), "0", "{}", r.stdout);
    assert_eq!(marker(&r.stdout, "WROTE"), "0", "root inside writes /");
    assert_eq!(
        marker(&r.stdout, "OWNER"),
        "0",
        "root inside owns the layer's files"
    );
    // The cached layer keeps the host's owners: never chowned.
    let layer = &p.layers()[0];
    let m = std::fs::symlink_metadata(layer.join("bin/busybox")).unwrap();
    assert_eq!(m.uid(), 0);
    p.nothing_left();
}

#[test]
fn all_includes_the_overlay() {
    let r = run(&["script", "--all"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("mount -t overlay overlay"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("command -v setfattr"), "{}", r.stdout);
}
