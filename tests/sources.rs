//! The rootfs sources on real components, as root: a real dockerd (private socket,
//! state in a temp dir), a real registry on 127.0.0.1 (a free port of its own, plain
//! or with token auth whose tokens the test issues), skopeo to push, hostile tarballs.
//! Every service is started here and stopped by its PID; each test checks that the
//! walk left nothing behind (no temp dir, no container, no cgroup).
//!
//! These tests need root and fail (not skip) without it. Run them one at a time:
//! `cargo test -- --test-threads=1` (tests/run.sh does).

mod common;
use common::Tmp;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HAKO: &str = env!("CARGO_BIN_EXE_hako");

fn need_root() {
    assert_eq!(
        unsafe_free_euid(),
        0,
        "these tests start dockerd and build containers: run them as root (sudo bash tests/run.sh)"
    );
}

fn unsafe_free_euid() -> u32 {
    // /proc/self/status: "Uid: real effective saved fs"
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|u| u.parse().ok())
        .unwrap()
}

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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn signal(pid: u32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Stops a child by its PID: SIGTERM, then SIGKILL after `grace`.
fn stop(child: &mut Child, grace: Duration) {
    signal(child.id(), 15);
    let t = Instant::now();
    while t.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------- rootfs trees

/// A busybox rootfs tree: /bin/busybox and applet links (busybox-static).
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
        "sh", "ls", "cat", "echo", "id", "hostname", "mount", "ps", "true",
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

// ---------------------------------------------------------------- running hako

struct Run {
    out: Output,
    /// stderr with its line wrapping undone (words joined by one space).
    err: String,
    raw: String,
}

/// Runs the walk with its temp dir in `tmp` (so leftovers are seen), English, --auto.
fn hako(args: &[&str], tmp: &Path, env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(HAKO);
    c.args(["--auto", "--lang", "en"])
        .args(args)
        .args(["--", "/bin/sh", "-c", "exit 0"])
        .env("LANG", "C.UTF-8")
        .env("TMPDIR", tmp)
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let raw = String::from_utf8_lossy(&out.stderr).into_owned();
    let err = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    Run { out, err, raw }
}

impl Run {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    fn ok(&self) {
        assert_eq!(self.code(), 0, "the walk failed:\n{}", self.raw);
        assert!(
            self.raw
                .lines()
                .any(|l| l.contains('✔') && l.contains("chrooted")),
            "the rootfs check (the chrooted /bin/sh) did not pass:\n{}",
            self.raw
        );
    }
    fn failed_with(&self, words: &str) {
        assert_eq!(self.code(), 125, "expected exit 125:\n{}", self.raw);
        assert!(
            self.err.contains(words),
            "expected '{words}' in:\n{}",
            self.err
        );
    }
}

/// The cgroups on this host (v1 memory and cpu hierarchies, or the v2 root).
fn cgroups() -> BTreeSet<PathBuf> {
    let mut s = BTreeSet::new();
    for d in [
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/cpu",
        "/sys/fs/cgroup",
    ] {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                if e.path().is_dir() {
                    s.insert(e.path());
                }
            }
        }
    }
    s
}

/// Nothing of the walk is left: its temp dir is empty and no cgroup appeared.
fn nothing_left(tmp: &Path, cg_before: &BTreeSet<PathBuf>) {
    let left: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    let new: Vec<_> = cgroups()
        .difference(cg_before)
        .filter(|c| !another_live_run(c))
        .cloned()
        .collect();
    assert!(new.is_empty(), "cgroups left: {new:?}");
}

/// Whether a cgroup belongs to another hako run going on at the same time on this
/// machine: named in a journal whose owner is alive (this test's own runs have ended).
fn another_live_run(cgroup: &Path) -> bool {
    let name = cgroup.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir("/run/hako")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|j| j.contains(&name))
        .any(|j| {
            j.split("\"pid\":")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
        })
}

// ---------------------------------------------------------------- dockerd

/// A private dockerd: state in a temp dir, its own socket, no iptables, no bridge.
struct Dockerd {
    child: Child,
    dir: Tmp,
    sock: PathBuf,
    existed: Vec<(PathBuf, bool)>,
}

fn docker_leftover_paths() -> Vec<PathBuf> {
    let mut v = vec![
        PathBuf::from("/run/docker"),
        PathBuf::from("/run/containerd"),
    ];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            v.push(e.path().join("docker"));
        }
    }
    v.push(PathBuf::from("/sys/fs/cgroup/docker"));
    v
}

impl Dockerd {
    fn start() -> Dockerd {
        let existed = docker_leftover_paths()
            .into_iter()
            .map(|p| {
                let e = p.exists();
                (p, e)
            })
            .collect();
        let dir = Tmp::new("dockerd");
        let sock = dir.path().join("docker.sock");
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("dockerd")
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
            ])
            .arg(format!("--data-root={}", dir.path().join("data").display()))
            .arg(format!("--exec-root={}", dir.path().join("exec").display()))
            .arg(format!("--pidfile={}", dir.path().join("pid").display()))
            .arg(format!("-H=unix://{}", sock.display()))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd is needed (apt-get install docker.io; tests/run.sh does)");
        let mut d = Dockerd {
            child,
            dir,
            sock,
            existed,
        };
        let t = Instant::now();
        loop {
            if let Ok(Some(s)) = d.child.try_wait() {
                panic!(
                    "dockerd exited ({s}): {}",
                    std::fs::read_to_string(d.dir.path().join("log")).unwrap_or_default()
                );
            }
            if d.sock.exists() && d.docker(&["version"]).status.success() {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "dockerd did not answer in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.host())
            .output()
            .unwrap()
    }

    /// `docker import` of a tarball as `name`, with a CMD or without.
    fn import(&self, tar: &Path, name: &str, cmd: bool) {
        let mut c = Command::new("docker");
        c.arg("import");
        if cmd {
            c.args(["--change", r#"CMD ["/bin/sh"]"#]);
        }
        c.arg(tar).arg(name).env("DOCKER_HOST", self.host());
        sh(&mut c);
    }

    fn containers(&self) -> String {
        let o = self.docker(&["ps", "-aq"]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

fn remove_cgroup_tree(p: &Path) {
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(p);
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(20));
        for (p, existed) in &self.existed {
            if !existed && p.exists() {
                if p.starts_with("/sys/fs/cgroup") {
                    remove_cgroup_tree(p);
                } else {
                    let _ = std::fs::remove_dir_all(p);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- registry

struct Registry {
    child: Child,
    dir: Tmp,
    port: u16,
}

impl Registry {
    /// Debian's docker-registry on 127.0.0.1:PORT; `auth` adds token auth
    /// (realm, certificate bundle).
    fn start(auth: Option<(&str, &Path)>) -> Registry {
        let dir = Tmp::new("registry");
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((realm, cert)) = auth {
            cfg.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: hako-test\n    issuer: hako-test-issuer\n    rootcertbundle: {}\n",
                cert.display()
            ));
        }
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
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the registry did not listen in 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The file that holds a blob in the registry's storage.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(10));
    }
}

fn skopeo_push(layout: &Path, dest: &str, all: bool) {
    let mut c = Command::new("skopeo");
    c.args(["copy", "--insecure-policy", "--dest-tls-verify=false"]);
    if all {
        c.arg("--all");
    }
    c.arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("docker://{dest}"));
    sh(&mut c);
}

// ---------------------------------------------------------------- OCI layouts

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{:x}", sha2::Sha256::digest(b))
}

/// An OCI image layout built by hand: gzip layers, a config with diff_ids, manifests.
struct Layout {
    dir: Tmp,
}

impl Layout {
    fn new() -> Layout {
        let dir = Tmp::new("layout");
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        Layout { dir }
    }

    fn blob(&self, b: &[u8]) -> (String, usize) {
        let d = sha256(b);
        std::fs::write(
            self.dir
                .path()
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
            b,
        )
        .unwrap();
        (d, b.len())
    }

    /// An image of these layers (directory trees, lowest first); returns its manifest's
    /// descriptor.
    fn image(&self, layers: &[&Path], arch: &str) -> serde_json::Value {
        let mut descs = vec![];
        let mut diff_ids = vec![];
        for l in layers {
            let t = Tmp::new("layer");
            let tar = t.path().join("l.tar");
            tar_of(l, &tar);
            let raw = std::fs::read(&tar).unwrap();
            diff_ids.push(sha256(&raw));
            let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
            gz.write_all(&raw).unwrap();
            let (d, n) = self.blob(&gz.finish().unwrap());
            descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n}));
        }
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let (cd, cn) = self.blob(config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
            "layers": descs,
        });
        let (md, mn) = self.blob(manifest.to_string().as_bytes());
        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
            "platform": {"architecture": arch, "os": "linux"}})
    }

    /// An index of several manifests; returns its descriptor.
    fn index(&self, manifests: Vec<serde_json::Value>) -> serde_json::Value {
        let idx = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        let (d, n) = self.blob(idx.to_string().as_bytes());
        serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": n})
    }

    /// index.json naming `top` as `latest`.
    fn finish(&self, mut top: serde_json::Value) {
        top.as_object_mut().unwrap().remove("platform");
        top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "latest"});
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
        std::fs::write(self.dir.path().join("index.json"), index.to_string()).unwrap();
    }
}

fn this_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

fn other_arch() -> &'static str {
    if this_arch() == "amd64" {
        "arm64"
    } else {
        "amd64"
    }
}

/// Two layers: a busybox rootfs with /etc/secret and /etc/dir/{a,b}; then a layer that
/// whites out /etc/secret and makes /etc/dir opaque (keeping only its own /etc/dir/c).
fn layered_trees() -> (Tmp, Tmp) {
    let l1 = Tmp::new("l1");
    busybox_tree(l1.path());
    std::fs::write(l1.path().join("etc/secret"), "lower").unwrap();
    std::fs::create_dir_all(l1.path().join("etc/dir")).unwrap();
    std::fs::write(l1.path().join("etc/dir/a"), "a").unwrap();
    std::fs::write(l1.path().join("etc/dir/b"), "b").unwrap();
    let l2 = Tmp::new("l2");
    std::fs::create_dir_all(l2.path().join("etc/dir")).unwrap();
    std::fs::write(l2.path().join("etc/.wh.secret"), "").unwrap();
    std::fs::write(l2.path().join("etc/dir/.wh..wh..opq"), "").unwrap();
    std::fs::write(l2.path().join("etc/dir/c"), "c").unwrap();
    std::fs::write(l2.path().join("etc/upper"), "upper").unwrap();
    (l1, l2)
}

/// The one kept rootfs (--keep) in `tmp`.
fn kept_rootfs(tmp: &Path) -> PathBuf {
    let v: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(v.len(), 1, "expected one kept rootfs: {v:?}");
    v[0].clone()
}

// ================================================================ tests: docker

#[test]
#[ignore = "needs root"]
fn docker_bash_walks_and_leaves_no_container() {
    need_root();
    let d = Dockerd::start();
    let img = Tmp::new("img");
    let tree = img.path().join("tree");
    busybox_tree(&tree);
    // As the real bash image: bash in /usr/local/bin only.
    std::fs::create_dir_all(tree.join("usr/local/bin")).unwrap();
    std::os::unix::fs::symlink("/bin/busybox", tree.join("usr/local/bin/bash")).unwrap();
    let tar = img.path().join("rootfs.tar");
    tar_of(&tree, &tar);
    d.import(&tar, "bash:latest", true);
    d.import(&tar, "nocmd:latest", false);

    let tmp = Tmp::new("tmp");
    let host = d.host();
    let env = [("DOCKER_HOST", host.as_str())];
    for src in ["docker:bash", "docker:", "docker:nocmd"] {
        let cg = cgroups();
        let r = hako(&["--rootfs", src], tmp.path(), &env);
        r.ok();
        assert!(r.err.contains("created container"), "{}", r.err);
        assert!(r.err.contains("removed container"), "{}", r.err);
        assert!(
            r.err
                .contains("docker container export $CID | tar -x -C $ROOTFS"),
            "{}",
            r.err
        );
        nothing_left(tmp.path(), &cg);
        assert_eq!(d.containers(), "", "a container is left ({src})");
    }
    // The article's symlink, said and made.
    let r = hako(&["--rootfs", "docker:bash", "--keep"], tmp.path(), &env);
    r.ok();
    assert!(
        r.err.contains("linked /bin/bash → /usr/local/bin/bash"),
        "{}",
        r.err
    );
    let root = kept_rootfs(tmp.path());
    assert_eq!(
        std::fs::read_link(root.join("bin/bash")).unwrap(),
        Path::new("/usr/local/bin/bash")
    );
    std::fs::remove_dir_all(&root).unwrap();

    // An image that is not there and cannot be pulled (a registry port nobody serves).
    let cg = cgroups();
    let nowhere = format!("docker:127.0.0.1:{}/nosuch:latest", free_port());
    let r = hako(&["--rootfs", &nowhere], tmp.path(), &env);
    r.failed_with("could not be pulled");
    nothing_left(tmp.path(), &cg);
    assert_eq!(d.containers(), "");
}

/// `--overlay` with `docker:`: the export becomes one layer of the cache, keyed by the
/// image's ID; the next run finds it there and creates no container at all.
#[test]
#[ignore = "needs root"]
fn docker_image_on_an_overlay_is_one_cached_layer_keyed_by_its_id() {
    need_root();
    let d = Dockerd::start();
    let img = Tmp::new("ovl-img");
    let tree = img.path().join("tree");
    busybox_tree(&tree);
    std::fs::create_dir_all(tree.join("usr/local/bin")).unwrap();
    std::os::unix::fs::symlink("/bin/busybox", tree.join("usr/local/bin/bash")).unwrap();
    let tar = img.path().join("rootfs.tar");
    tar_of(&tree, &tar);
    d.import(&tar, "bash:latest", true);
    let id = String::from_utf8_lossy(
        &d.docker(&["image", "inspect", "--format", "{{.Id}}", "bash:latest"])
            .stdout,
    )
    .trim()
    .to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    let cache = Tmp::new("ovl-cache");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let tmp = Tmp::new("tmp");
    let host = d.host();
    let cache_s = cache.s();
    let env = [
        ("DOCKER_HOST", host.as_str()),
        ("HAKO_CACHE_DIR", cache_s.as_str()),
    ];
    let layer = cache.path().join("layers").join(id.replacen(':', "-", 1));
    let cg = cgroups();
    let r = hako(&["--overlay", "--rootfs", "docker:bash"], tmp.path(), &env);
    r.ok();
    assert!(r.err.contains("created container"), "{}", r.err);
    assert!(r.err.contains("unpacked now into"), "{}", r.err);
    // The article's link goes into the upper directory, never into the layer.
    assert!(r.err.contains("linked /bin/bash"), "{}", r.err);
    assert!(
        layer.join("usr/local/bin/bash").exists(),
        "{}",
        layer.display()
    );
    assert!(std::fs::symlink_metadata(layer.join("bin/bash")).is_err());
    nothing_left(tmp.path(), &cg);
    assert_eq!(d.containers(), "");
    let r = hako(&["--overlay", "--rootfs", "docker:bash"], tmp.path(), &env);
    r.ok();
    assert!(r.err.contains("found in the cache"), "{}", r.err);
    assert!(!r.err.contains("created container"), "{}", r.err);
    nothing_left(tmp.path(), &cg);
    assert_eq!(d.containers(), "");
}

#[test]
#[ignore = "needs root"]
fn docker_daemon_not_running_says_so() {
    need_root();
    let tmp = Tmp::new("tmp");
    let cg = cgroups();
    let r = hako(
        &["--rootfs", "docker:bash"],
        tmp.path(),
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    r.failed_with("No Docker daemon answers on /nonexistent/docker.sock");
    assert!(
        r.err.contains("oci:bash"),
        "suggests another source: {}",
        r.err
    );
    nothing_left(tmp.path(), &cg);
    let r = hako(
        &["--rootfs", "docker:bash"],
        tmp.path(),
        &[("DOCKER_HOST", "tcp://10.0.0.1:2375")],
    );
    r.failed_with("unix socket");
    nothing_left(tmp.path(), &cg);
}

// ================================================================ tests: registry

#[test]
#[ignore = "needs root"]
fn oci_layers_whiteouts_and_cache() {
    need_root();
    let (l1, l2) = layered_trees();
    let lay = Layout::new();
    let m = lay.image(&[l1.path(), l2.path()], this_arch());
    lay.finish(m);
    let cache = Tmp::new("cache");
    let tmp = Tmp::new("tmp");
    let cache_s = cache.path().display().to_string();
    let env = [("HAKO_CACHE_DIR", cache_s.as_str())];
    let src;
    {
        let reg = Registry::start(None);
        skopeo_push(
            lay.dir.path(),
            &format!("{}/layered:latest", reg.addr()),
            false,
        );
        src = format!("oci:{}/layered:latest", reg.addr());
        let cg = cgroups();
        let r = hako(&["--rootfs", &src, "--keep"], tmp.path(), &env);
        r.ok();
        assert!(
            r.err.contains("run as root inside"),
            "the trust warning: {}",
            r.err
        );
        assert!(r.err.contains("2 layers"), "{}", r.err);
        assert!(r.err.contains("fetched"), "{}", r.err);
        let root = kept_rootfs(tmp.path());
        assert!(
            !root.join("etc/secret").exists(),
            "a whiteout removes its file"
        );
        assert!(
            !root.join("etc/dir/a").exists() && !root.join("etc/dir/b").exists(),
            "opaque dir"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("etc/dir/c")).unwrap(),
            "c"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("etc/upper")).unwrap(),
            "upper"
        );
        assert!(!root.join("etc/.wh.secret").exists());
        std::fs::remove_dir_all(&root).unwrap();
        nothing_left(tmp.path(), &cg);
    }
    // The registry is gone: the second run needs no network and says so.
    let cg = cgroups();
    let r = hako(&["--rootfs", &src], tmp.path(), &env);
    r.ok();
    assert!(r.err.contains("used the cache"), "{}", r.err);
    nothing_left(tmp.path(), &cg);
}

#[test]
#[ignore = "needs root"]
fn oci_multi_arch_index_takes_this_machine() {
    need_root();
    let good = Tmp::new("good");
    busybox_tree(good.path());
    let bad = Tmp::new("bad");
    std::fs::create_dir_all(bad.path().join("bin")).unwrap();
    std::fs::write(bad.path().join("bin/sh"), "not for this machine").unwrap();
    let lay = Layout::new();
    let other = lay.image(&[bad.path()], other_arch());
    let mine = lay.image(&[good.path()], this_arch());
    let idx = lay.index(vec![other, mine]);
    lay.finish(idx);
    let reg = Registry::start(None);
    skopeo_push(
        lay.dir.path(),
        &format!("{}/multi:latest", reg.addr()),
        true,
    );
    let cache = Tmp::new("cache");
    let tmp = Tmp::new("tmp");
    let cache_s = cache.path().display().to_string();
    let cg = cgroups();
    let r = hako(
        &["--rootfs", &format!("oci:{}/multi:latest", reg.addr())],
        tmp.path(),
        &[("HAKO_CACHE_DIR", &cache_s)],
    );
    r.ok();
    assert!(
        r.err
            .contains(&format!("took the manifest for linux/{}", this_arch())),
        "{}",
        r.err
    );
    nothing_left(tmp.path(), &cg);
}

#[test]
#[ignore = "needs root"]
fn oci_errors_unreachable_not_found_digest_mismatch() {
    need_root();
    let tmp = Tmp::new("tmp");
    let cache = Tmp::new("cache");
    let cache_s = cache.path().display().to_string();
    let env = [("HAKO_CACHE_DIR", cache_s.as_str())];
    let cg = cgroups();
    // Nobody listens.
    let r = hako(
        &[
            "--rootfs",
            &format!("oci:127.0.0.1:{}/x:latest", free_port()),
        ],
        tmp.path(),
        &env,
    );
    r.failed_with("cannot be reached");
    nothing_left(tmp.path(), &cg);

    let (l1, _) = layered_trees();
    let lay = Layout::new();
    let m = lay.image(&[l1.path()], this_arch());
    let manifest_digest = m["digest"].as_str().unwrap().to_string();
    lay.finish(m);
    let reg = Registry::start(None);
    skopeo_push(lay.dir.path(), &format!("{}/img:latest", reg.addr()), false);
    // Not there.
    let r = hako(
        &["--rootfs", &format!("oci:{}/nosuch:latest", reg.addr())],
        tmp.path(),
        &env,
    );
    r.failed_with("was not found");
    nothing_left(tmp.path(), &cg);
    // A layer altered in the registry's storage.
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            lay.dir
                .path()
                .join("blobs/sha256")
                .join(manifest_digest.trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let f = reg.blob_file(layer);
    let mut data = std::fs::read(&f).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x55;
    std::fs::write(&f, &data).unwrap();
    let r = hako(
        &["--rootfs", &format!("oci:{}/img:latest", reg.addr())],
        tmp.path(),
        &env,
    );
    r.failed_with("did not match its digest");
    nothing_left(tmp.path(), &cg);
    assert!(
        !cache
            .path()
            .join("blobs/sha256")
            .join(layer.trim_start_matches("sha256:"))
            .exists(),
        "a bad blob is not kept in the cache"
    );
}

// ---------------------------------------------------------------- token auth

fn b64(data: &[u8], url: bool) -> String {
    let alpha: &[u8] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut o = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..=c.len() {
            o.push(alpha[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if !url {
            for _ in c.len()..3 {
                o.push('=');
            }
        }
    }
    o
}

/// A token service of the test's own: RS256 JWTs for whatever scope is asked,
/// signed with a key whose certificate the registry trusts (sent as x5c).
struct TokenServer {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    _dir: Tmp,
    cert: PathBuf,
}

fn query_param(q: &str, k: &str) -> Vec<String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(n, _)| *n == k)
        .map(|(_, v)| {
            let mut out = vec![];
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' && i + 2 < b.len() {
                    out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap_or(b'?'));
                    i += 3;
                } else {
                    out.push(if b[i] == b'+' { b' ' } else { b[i] });
                    i += 1;
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        })
        .collect()
}

impl TokenServer {
    fn start() -> TokenServer {
        let dir = Tmp::new("token");
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        sh(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=hako-test-token",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null()));
        let der = sh(Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert))
        .stdout;
        let x5c = b64(&der, false);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(vec![]));
        let seen2 = seen.clone();
        let keydir = dir.path().to_path_buf();
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(mut s) = s else { continue };
                let mut buf = vec![0u8; 16384];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let line = req.lines().next().unwrap_or("").to_string();
                let ua = req
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("user-agent:"))
                    .unwrap_or("")
                    .to_string();
                seen2.lock().unwrap().push(format!("{line} | {ua}"));
                let path = line.split_whitespace().nth(1).unwrap_or("");
                let q = path.split_once('?').map(|(_, q)| q).unwrap_or("");
                let access: Vec<serde_json::Value> = query_param(q, "scope")
                    .iter()
                    .filter_map(|sc| {
                        let mut p = sc.splitn(3, ':');
                        let (t, name, acts) = (p.next()?, p.next()?, p.next()?);
                        Some(serde_json::json!({"type": t, "name": name, "actions": acts.split(',').collect::<Vec<_>>()}))
                    })
                    .collect();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
                let claims = serde_json::json!({"iss": "hako-test-issuer", "sub": "", "aud": "hako-test",
                    "exp": now + 600, "nbf": now - 60, "iat": now - 60, "jti": format!("{now}-{n}"), "access": access});
                let input = format!(
                    "{}.{}",
                    b64(header.to_string().as_bytes(), true),
                    b64(claims.to_string().as_bytes(), true)
                );
                let signed = Command::new("openssl")
                    .args(["dgst", "-sha256", "-sign"])
                    .arg(keydir.join("key.pem"))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .and_then(|mut c| {
                        c.stdin.take().unwrap().write_all(input.as_bytes())?;
                        c.wait_with_output()
                    })
                    .map(|o| o.stdout)
                    .unwrap_or_default();
                let token = format!("{input}.{}", b64(&signed, true));
                let body =
                    serde_json::json!({"token": token, "access_token": token, "expires_in": 600})
                        .to_string();
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenServer {
            port,
            seen,
            _dir: dir,
            cert,
        }
    }
    fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}

#[test]
#[ignore = "needs root"]
fn oci_bearer_token_flow_against_a_token_auth_registry() {
    need_root();
    let ts = TokenServer::start();
    let reg = Registry::start(Some((&ts.realm(), &ts.cert)));
    let good = Tmp::new("good");
    busybox_tree(good.path());
    let lay = Layout::new();
    let m = lay.image(&[good.path()], this_arch());
    lay.finish(m);
    skopeo_push(
        lay.dir.path(),
        &format!("{}/private/img:latest", reg.addr()),
        false,
    );
    ts.seen.lock().unwrap().clear();
    let cache = Tmp::new("cache");
    let tmp = Tmp::new("tmp");
    let cache_s = cache.path().display().to_string();
    let cg = cgroups();
    let r = hako(
        &[
            "--rootfs",
            &format!("oci:{}/private/img:latest", reg.addr()),
        ],
        tmp.path(),
        &[("HAKO_CACHE_DIR", &cache_s)],
    );
    r.ok();
    let seen = ts.seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|l| l.contains("service=hako-test")
            && l.contains("scope=repository%3Aprivate%2Fimg%3Apull")
            && l.contains("hako/")),
        "hako asked the realm for a pull token: {seen:?}"
    );
    nothing_left(tmp.path(), &cg);
}

// ---------------------------------------------------------------- redirects

/// A registry front on 127.0.0.1 that answers a blob with a redirect to another host
/// (localhost, another port), as Docker Hub sends blobs to its CDN. The other host must
/// not get the registry's Authorization header. (A loopback stand-in: the Debian
/// registry's filesystem storage serves blobs itself.)
#[test]
#[ignore = "needs root"]
fn oci_redirect_to_another_host_drops_authorization() {
    need_root();
    let good = Tmp::new("good");
    busybox_tree(good.path());
    let lay = Layout::new();
    let m = lay.image(&[good.path()], this_arch());
    let mdigest = m["digest"].as_str().unwrap().to_string();
    lay.finish(m);
    let blobs = lay.dir.path().join("blobs/sha256");
    let cdn = TcpListener::bind("127.0.0.1:0").unwrap();
    let cdn_port = cdn.local_addr().unwrap().port();
    let cdn_auth = Arc::new(Mutex::new(vec![]));
    {
        let blobs = blobs.clone();
        let seen = cdn_auth.clone();
        std::thread::spawn(move || {
            for s in cdn.incoming() {
                let Ok(mut s) = s else { continue };
                let req = read_request(&mut s);
                seen.lock()
                    .unwrap()
                    .push(req.to_ascii_lowercase().contains("authorization:"));
                let hex = req
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .rsplit(':')
                    .next()
                    .unwrap_or("")
                    .to_string();
                let body = std::fs::read(blobs.join(&hex)).unwrap_or_default();
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(&body);
            }
        });
    }
    let front = TcpListener::bind("127.0.0.1:0").unwrap();
    let front_port = front.local_addr().unwrap().port();
    let front_auth = Arc::new(Mutex::new(vec![]));
    {
        let blobs = blobs.clone();
        let seen = front_auth.clone();
        std::thread::spawn(move || {
            for s in front.incoming() {
                let Ok(mut s) = s else { continue };
                let req = read_request(&mut s);
                let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                let authed = req
                    .to_ascii_lowercase()
                    .contains("authorization: bearer front-token");
                seen.lock().unwrap().push(authed);
                if path.starts_with("/token") {
                    let body = r#"{"token":"front-token"}"#;
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                } else if !authed {
                    let _ = write!(s, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{front_port}/token\",service=\"front\",scope=\"repository:r/img:pull\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                } else if path.contains("/manifests/") {
                    let body =
                        std::fs::read(blobs.join(mdigest.trim_start_matches("sha256:"))).unwrap();
                    let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                    let _ = s.write_all(&body);
                } else {
                    let digest = path.rsplit('/').next().unwrap_or("");
                    let _ = write!(s, "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://localhost:{cdn_port}/cdn/{digest}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                }
            }
        });
    }
    let cache = Tmp::new("cache");
    let tmp = Tmp::new("tmp");
    let cache_s = cache.path().display().to_string();
    let cg = cgroups();
    let r = hako(
        &[
            "--rootfs",
            &format!("oci:127.0.0.1:{front_port}/r/img:latest"),
        ],
        tmp.path(),
        &[("HAKO_CACHE_DIR", &cache_s)],
    );
    r.ok();
    let cdn_seen = cdn_auth.lock().unwrap().clone();
    assert!(!cdn_seen.is_empty(), "the blobs came from the other host");
    assert!(
        cdn_seen.iter().all(|a| !a),
        "Authorization was sent to another host"
    );
    assert!(
        front_auth.lock().unwrap().iter().any(|a| *a),
        "the token was used on the registry itself"
    );
    nothing_left(tmp.path(), &cg);
}

fn read_request(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![];
    let mut b = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

// ================================================================ tests: tarballs

#[test]
#[ignore = "needs root"]
fn tar_plain_gzip_xz_zstd_by_magic_bytes() {
    need_root();
    let t = Tmp::new("tars");
    let tree = t.path().join("tree");
    busybox_tree(&tree);
    let plain = t.path().join("plain.img");
    tar_of(&tree, &plain);
    let tmp = Tmp::new("tmp");
    let mut files = vec![(plain.clone(), "tar")];
    for (tool, kind) in [("gzip", "gzip"), ("xz", "xz"), ("zstd", "zstd")] {
        let out = t.path().join(format!("{kind}.img"));
        let data = sh(Command::new(tool).args(["-c"]).arg(&plain)).stdout;
        std::fs::write(&out, data).unwrap();
        files.push((out, kind));
    }
    for (f, kind) in files {
        let cg = cgroups();
        let r = hako(
            &["--rootfs", &format!("tar:{}", f.display())],
            tmp.path(),
            &[],
        );
        r.ok();
        assert!(r.err.contains(&format!("({kind},")), "{kind}: {}", r.err);
        nothing_left(tmp.path(), &cg);
    }
    // Truncated: exit 125, one sentence, no partial rootfs left.
    let gz = t.path().join("gzip.img");
    let data = std::fs::read(&gz).unwrap();
    let cut = t.path().join("cut.tar.gz");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let cg = cgroups();
    let r = hako(
        &["--rootfs", &format!("tar:{}", cut.display())],
        tmp.path(),
        &[],
    );
    r.failed_with("is truncated or corrupt");
    nothing_left(tmp.path(), &cg);
}

/// One raw entry: name, type flag, link target, content.
type Raw<'a> = (&'a str, u8, &'a str, &'a [u8]);

/// ustar headers written by hand: hostile archives the tar crate would not write.
fn raw_tar(entries: &[Raw]) -> Vec<u8> {
    let mut out = vec![];
    for (name, kind, link, data) in entries {
        let mut h = [0u8; 512];
        let put = |h: &mut [u8; 512], at: usize, v: &[u8]| h[at..at + v.len()].copy_from_slice(v);
        put(&mut h, 0, name.as_bytes());
        put(&mut h, 100, b"0000644\0");
        put(&mut h, 108, b"0000000\0");
        put(&mut h, 116, b"0000000\0");
        put(&mut h, 124, format!("{:011o}\0", data.len()).as_bytes());
        put(&mut h, 136, b"00000000000\0");
        h[156] = *kind;
        put(&mut h, 157, link.as_bytes());
        put(&mut h, 257, b"ustar\x0000");
        put(&mut h, 148, b"        ");
        let sum: u32 = h.iter().map(|b| *b as u32).sum();
        put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn snapshot(p: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = vec![];
    let mut todo = vec![p.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            let m = std::fs::symlink_metadata(&path).unwrap();
            if m.is_dir() {
                todo.push(path.clone());
                v.push((path, b"<dir>".to_vec()));
            } else {
                v.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    v.sort();
    v
}

#[test]
#[ignore = "needs root"]
fn hostile_tarballs_write_nothing_outside_the_rootfs() {
    need_root();
    let outside = Tmp::new("outside");
    std::fs::write(outside.path().join("victim"), "original").unwrap();
    let o = outside.path().display().to_string();
    let victim = format!("{o}/victim");
    let up = format!("../../../../../../../..{o}");
    let up_victim = format!("../../../../../../../..{victim}");
    let cases: Vec<(&str, Vec<Raw>, &str)> = vec![
        ("dotdot", vec![(&up_victim, b'0', "", b"pwned")], "../../"),
        (
            "absolute",
            vec![(&victim, b'0', "", b"pwned")],
            victim.as_str(),
        ),
        (
            "absolute symlink",
            vec![("l", b'2', &o, b""), ("l/victim", b'0', "", b"pwned")],
            "l/victim",
        ),
        (
            "relative symlink",
            vec![("l", b'2', &up, b""), ("l/new", b'0', "", b"pwned")],
            "l/new",
        ),
        (
            "chained symlinks",
            vec![
                ("a", b'2', "b", b""),
                ("b", b'2', &o, b""),
                ("a/victim", b'0', "", b"pwned"),
            ],
            "a/victim",
        ),
        ("hard link outside", vec![("h", b'1', &victim, b"")], "h"),
        (
            "hard link by dotdot",
            vec![("h", b'1', &up_victim, b"")],
            "h",
        ),
        (
            "hard link via symlink",
            vec![("l", b'2', &o, b""), ("h", b'1', "l/victim", b"")],
            "h",
        ),
    ];
    let t = Tmp::new("hostile");
    let tmp = Tmp::new("tmp");
    for (what, entries, name) in cases {
        let before = snapshot(outside.path());
        let f = t.path().join(format!("{}.tar", what.replace(' ', "-")));
        std::fs::write(&f, raw_tar(&entries)).unwrap();
        let cg = cgroups();
        let r = hako(
            &["--rootfs", &format!("tar:{}", f.display())],
            tmp.path(),
            &[],
        );
        r.failed_with("refused the entry");
        assert!(
            r.err.contains(name),
            "{what}: the entry is named: {}",
            r.err
        );
        assert_eq!(
            snapshot(outside.path()),
            before,
            "{what}: a byte changed outside the rootfs"
        );
        nothing_left(tmp.path(), &cg);
    }
}

#[test]
#[ignore = "needs root"]
fn disk_full_says_so_and_leaves_nothing() {
    need_root();
    let t = Tmp::new("full");
    let tree = t.path().join("tree");
    busybox_tree(&tree);
    let tar = t.path().join("rootfs.tar");
    tar_of(&tree, &tar);
    let small = t.path().join("small");
    std::fs::create_dir(&small).unwrap();
    sh(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "hako-test-full"])
        .arg(&small));
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(small.clone());
    let cg = cgroups();
    // A cap above the free space (the default would stop it first, tests/extract_limits.rs).
    let r = hako(
        &[
            "--rootfs",
            &format!("tar:{}", tar.display()),
            "--max-unpack",
            "1G",
        ],
        &small,
        &[],
    );
    r.failed_with("No space left");
    nothing_left(&small, &cg);
}
