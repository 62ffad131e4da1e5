//! A hostile registry, served by the test itself (a few lines of HTTP/1.1 on a std
//! `TcpListener`), against `--rootfs oci:`: digests that climb out of the cache or name
//! an absolute path (in layers, an index, a config, a header), a non-ASCII digest, a blob
//! longer than its descriptor, a 100 MB manifest, escape sequences in error bodies; and,
//! inside a network namespace the test creates (a veth pair inside it, 10.200.0.1/24,
//! nothing else), token realms and redirects that aim at loopback, at plain HTTP, at
//! another scheme, or go round in circles.
//!
//! For each: exit 125 with one sentence on stderr (no panic, no raw errno), the canary
//! files outside unchanged (hashed before and after), and nothing of the run left (no temp
//! dir, no cgroup, no journal, no partial file in the cache).
//!
//! These tests need root and fail (not skip) without it. Run them one at a time:
//! `cargo test --test hostile_registry -- --test-threads=1`.

mod common;
use common::Tmp;

use sha2::Digest as _;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------- temp dirs

fn sha256_hex(b: &[u8]) -> String {
    format!("{:x}", sha2::Sha256::digest(b))
}

/// Every file under `dir`, with its content's hash (and the names of the entries).
fn hashes(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.push((p.clone(), "dir".into()));
                stack.push(p);
            } else {
                out.push((p.clone(), sha256_hex(&std::fs::read(&p).unwrap())));
            }
        }
    }
    out.sort();
    out
}

/// Canary files outside the cache, named where a traversal digest would lead.
struct Canary {
    dir: Tmp,
    before: Vec<(PathBuf, String)>,
}

impl Canary {
    fn new() -> Canary {
        let dir = Tmp::new("canary");
        std::fs::write(
            dir.path().join("victim"),
            "a file a registry must not touch\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("abs"), "another one\n").unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/deep"), "and a third\n").unwrap();
        let before = hashes(dir.path());
        Canary { dir, before }
    }

    /// `sha256:../../../../tmp/…/victim`, relative to `CACHE/blobs/sha256/`.
    fn traversal(&self, cache: &Path) -> String {
        let up = "../".repeat(cache.components().count() + 1);
        format!(
            "sha256:{up}{}/victim",
            self.dir
                .path()
                .display()
                .to_string()
                .trim_start_matches('/')
        )
    }

    fn absolute(&self) -> String {
        format!("sha256:{}/abs", self.dir.path().display())
    }

    fn unchanged(&self) {
        assert_eq!(
            hashes(self.dir.path()),
            self.before,
            "a file outside the cache was changed or removed"
        );
    }
}

// ---------------------------------------------------------------- the server

/// One answer of the hostile registry.
enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A JSON-looking body of `len` bytes, written in chunks as the client reads.
    Endless { len: u64 },
}

fn ok_json(body: impl Into<Vec<u8>>) -> Reply {
    Reply::Full {
        status: 200,
        headers: vec![(
            "Content-Type".into(),
            "application/vnd.oci.image.manifest.v1+json".into(),
        )],
        body: body.into(),
    }
}

fn status(code: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    Reply::Full {
        status: code,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
    }
}

type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// Serves `listener` forever on a thread (it dies with the test process); counts requests.
fn serve(listener: TcpListener, h: Handler) -> Arc<AtomicUsize> {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let h = h.clone();
            std::thread::spawn(move || answer(s, &*h));
        }
    });
    hits
}

fn answer(mut s: TcpStream, h: &dyn Fn(&str) -> Reply) {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.set_write_timeout(Some(Duration::from_secs(10))).ok();
    let mut buf = vec![];
    let mut b = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
    let req = String::from_utf8_lossy(&buf).into_owned();
    let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
    match h(&path) {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status} X\r\n");
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str(&format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ));
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
        Reply::Endless { len } => {
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(b"{\"schemaVersion\":2,\"x\":\"");
            let chunk = vec![b'a'; 64 * 1024];
            let mut sent = 0u64;
            while sent < len {
                // Stops as soon as hako hangs up.
                if s.write_all(&chunk).is_err() {
                    return;
                }
                sent += chunk.len() as u64;
            }
        }
    }
    let _ = s.flush();
}

// ---------------------------------------------------------------- images

fn this_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn desc(media: &str, digest: &str, size: usize) -> serde_json::Value {
    serde_json::json!({"mediaType": media, "digest": digest, "size": size})
}

const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

fn good_config() -> (Vec<u8>, String) {
    let b = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    (b.to_vec(), format!("sha256:{}", sha256_hex(b)))
}

fn manifest(config: serde_json::Value, layers: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layers,
    }))
    .unwrap()
}

fn good_config_desc() -> serde_json::Value {
    let (b, d) = good_config();
    desc(CONFIG, &d, b.len())
}

// ---------------------------------------------------------------- running hako

/// The cgroups on this host (v1 hierarchies and the v2 root).
fn cgroups() -> BTreeSet<PathBuf> {
    let mut s = BTreeSet::new();
    for d in [
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/cpu",
        "/sys/fs/cgroup/pids",
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

/// Whether a cgroup belongs to another hako run going on at the same time on this
/// machine: named in a journal whose owner is alive.
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

/// One walk against the hostile registry, in its own TMPDIR and cache.
struct Walk {
    tmp: Tmp,
    cache: Tmp,
}

impl Walk {
    fn new() -> Walk {
        Walk {
            tmp: Tmp::new("tmp"),
            cache: Tmp::new("cache"),
        }
    }

    /// Runs hako (in the network namespace `netns` when given) up to the rootfs lesson.
    fn run(&self, netns: Option<&str>, args: &[&str]) -> common::Run {
        let mut c = match netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).arg(common::HAKO);
                c.env_clear()
                    .env(
                        "PATH",
                        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    )
                    .env("LANG", "C.UTF-8");
                c
            }
            None => common::hako(),
        };
        c.args(["--auto", "--lang", "en", "--to", "rootfs"])
            .args(args)
            .args(["--", "/bin/true"])
            .env("TMPDIR", self.tmp.path())
            .env("HAKO_CACHE_DIR", self.cache.path());
        let cg = cgroups();
        let r = common::run_with(c, "");
        self.nothing_left(&r, &cg);
        r
    }

    fn nothing_left(&self, r: &common::Run, cg_before: &BTreeSet<PathBuf>) {
        r.assert_no_panic();
        r.assert_nothing_left();
        let left: Vec<_> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}\n{}", r.stderr);
        let new: Vec<_> = cgroups()
            .difference(cg_before)
            .filter(|c| !another_live_run(c))
            .cloned()
            .collect();
        assert!(new.is_empty(), "cgroups left: {new:?}");
        let tmp = self.tmp.s();
        let journals: Vec<_> = std::fs::read_dir("/run/hako")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| std::fs::read_to_string(e.path()).is_ok_and(|j| j.contains(tmp.as_str())))
            .map(|e| e.path())
            .collect();
        assert!(journals.is_empty(), "journals left: {journals:?}");
        let parts: Vec<_> = hashes(self.cache.path())
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| p.to_string_lossy().contains(".part"))
            .collect();
        assert!(
            parts.is_empty(),
            "partial files left in the cache: {parts:?}"
        );
    }
}

/// Exit 125 and exactly one `hako: …` sentence (its wrapped lines joined) that holds
/// `words`, with no raw errno and no escape byte from the registry; returns the sentence.
fn refused(r: &common::Run, words: &str) -> String {
    assert_eq!(r.code, 125, "expected exit 125:\n{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("hako: "))
        .collect();
    assert_eq!(starts.len(), 1, "one error sentence:\n{}", r.stderr);
    let mut e = lines[starts[0]].trim_start_matches("hako: ").to_string();
    for l in &lines[starts[0] + 1..] {
        if !l.starts_with("      ") {
            break;
        }
        e.push(' ');
        e.push_str(l.trim());
    }
    assert!(e.contains(words), "expected '{words}' in: {e}");
    assert!(
        e.trim_end().ends_with('.') || e.trim_end().ends_with('。'),
        "a sentence: {e}"
    );
    assert!(!e.contains("os error"), "a raw errno: {e}");
    assert!(
        !r.stderr.contains('\u{1b}'),
        "an escape byte reached stderr"
    );
    assert!(!r.stderr.contains('\u{9b}'), "a C1 CSI reached stderr");
    eprintln!("refused as expected: {e}");
    e
}

/// A registry on 127.0.0.1 that answers everything with `h`.
fn loopback_registry(
    h: impl Fn(&str) -> Reply + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (addr, serve(l, Arc::new(h)))
}

/// Serves `top` as the tag `latest`, and `blobs` by path.
fn image_registry(
    top: Vec<u8>,
    header: Option<String>,
    blobs: Vec<(String, Vec<u8>)>,
) -> impl Fn(&str) -> Reply + Send + Sync + 'static {
    move |path: &str| {
        if path.ends_with("/manifests/latest") {
            let mut r = ok_json(top.clone());
            if let (Some(h), Reply::Full { headers, .. }) = (&header, &mut r) {
                headers.push(("Docker-Content-Digest".into(), h.clone()));
            }
            return r;
        }
        for (p, b) in &blobs {
            if path.ends_with(p.as_str()) {
                return ok_json(b.clone());
            }
        }
        status(404, &[], br#"{"errors":[{"code":"NOT_FOUND"}]}"#)
    }
}

// ================================================================ tests: the door

/// Layer, config and index digests that climb out of the cache, or are absolute.
#[test]
#[ignore = "needs root"]
fn traversal_and_absolute_digests_are_refused_and_touch_nothing() {
    common::require_root();
    let canary = Canary::new();
    let (cfg, cfg_digest) = good_config();
    let w = Walk::new();
    let evil = [canary.traversal(w.cache.path()), canary.absolute()];
    for bad in &evil {
        let as_layer = manifest(good_config_desc(), vec![desc(LAYER, bad, 10)]);
        let as_config = manifest(desc(CONFIG, bad, 10), vec![]);
        let as_index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": bad, "size": 10,
                "platform": {"architecture": this_arch(), "os": "linux"}
            }]
        }))
        .unwrap();
        for (what, top) in [
            ("layer", as_layer),
            ("config", as_config),
            ("index", as_index),
        ] {
            let (addr, _) = loopback_registry(image_registry(
                top,
                None,
                vec![(cfg_digest.clone(), cfg.clone())],
            ));
            let r = w.run(None, &["--rootfs", &format!("oci:{addr}/evil:latest")]);
            let e = refused(&r, "is not a digest");
            assert!(
                e.contains(bad.as_str()),
                "the sentence names the {what} descriptor: {e}"
            );
            canary.unchanged();
        }
    }
    // The same digest in the Docker-Content-Digest header of a good manifest.
    let top = manifest(good_config_desc(), vec![]);
    let (addr, _) = loopback_registry(image_registry(top, Some(evil[0].clone()), vec![]));
    let r = w.run(None, &["--rootfs", &format!("oci:{addr}/evil:latest")]);
    refused(&r, "Docker-Content-Digest");
    canary.unchanged();
}

/// A digest of non-ASCII text (hako once cut it at a byte index and panicked).
#[test]
#[ignore = "needs root"]
fn a_non_ascii_digest_is_refused_without_a_panic() {
    common::require_root();
    let canary = Canary::new();
    let w = Walk::new();
    let weird = format!("sha256:{}", "é".repeat(32));
    let top = manifest(good_config_desc(), vec![desc(LAYER, &weird, 10)]);
    let (addr, _) = loopback_registry(image_registry(top, None, vec![]));
    let r = w.run(None, &["--rootfs", &format!("oci:{addr}/evil:latest")]);
    refused(&r, "is not a digest");
    canary.unchanged();
}

/// A blob that goes on past its descriptor's size: reading stops, nothing is kept.
#[test]
#[ignore = "needs root"]
fn a_blob_longer_than_its_descriptor_is_cut_off() {
    common::require_root();
    let canary = Canary::new();
    let w = Walk::new();
    let blob = vec![b'x'; 3 << 20];
    let d = format!("sha256:{}", sha256_hex(&blob));
    let top = manifest(good_config_desc(), vec![desc(LAYER, &d, 1024)]);
    let (addr, _) = loopback_registry(image_registry(top, None, vec![(d.clone(), blob)]));
    let r = w.run(None, &["--rootfs", &format!("oci:{addr}/evil:latest")]);
    refused(&r, "longer than the 1024 bytes its descriptor states");
    let kept = w
        .cache
        .path()
        .join("blobs/sha256")
        .join(d.trim_start_matches("sha256:"));
    assert!(!kept.exists(), "the long blob was kept in the cache");
    canary.unchanged();
}

/// A 100 MB manifest, streamed: hako stops after its cap (4 MiB) with a sentence.
#[test]
#[ignore = "needs root"]
fn a_huge_manifest_is_refused_after_its_cap() {
    common::require_root();
    let canary = Canary::new();
    let w = Walk::new();
    let (addr, _) = loopback_registry(|path: &str| {
        if path.contains("/manifests/") {
            Reply::Endless { len: 100 << 20 }
        } else {
            status(404, &[], b"")
        }
    });
    let t = std::time::Instant::now();
    let r = w.run(None, &["--rootfs", &format!("oci:{addr}/evil:latest")]);
    refused(&r, "is larger than 4 MiB");
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "took {:?}",
        t.elapsed()
    );
    canary.unchanged();
}

/// Error bodies (the registry's and the token service's) reach the terminal only
/// sanitised and cut short.
#[test]
#[ignore = "needs root"]
fn error_bodies_are_sanitised_and_truncated() {
    common::require_root();
    let w = Walk::new();
    let mut body = b"\x1b]0;pwned\x07\x1b[2J\xc2\x9b31m".to_vec();
    body.extend(vec![b'z'; 5000]);
    let b = body.clone();
    let (addr, _) = loopback_registry(move |_| status(500, &[], &b));
    let r = w.run(None, &["--rootfs", &format!("oci:{addr}/evil:latest")]);
    refused(&r, "answered 500");
    assert!(r.stderr.contains("\\x1b]0;pwned"), "{}", r.stderr);
    assert!(
        !r.stderr.contains(&"z".repeat(300)),
        "the body was not cut short"
    );

    let b = body.clone();
    let port = Arc::new(std::sync::OnceLock::<String>::new());
    let p2 = port.clone();
    let (addr, _) = loopback_registry(move |path: &str| {
        if path.starts_with("/token") {
            status(403, &[], &b)
        } else {
            let realm = format!("Bearer realm=\"http://{}/token\"", p2.get().unwrap());
            status(401, &[("WWW-Authenticate", &realm)], b"")
        }
    });
    port.set(addr.clone()).unwrap();
    let r = w.run(None, &["--rootfs", &format!("oci:{addr}/evil:latest")]);
    refused(&r, "token service");
    assert!(r.stderr.contains("\\x1b]0;pwned"), "{}", r.stderr);
    assert!(
        !r.stderr.contains(&"z".repeat(300)),
        "the body was not cut short"
    );
}

// ================================================================ tests: network policy

/// A network namespace of the test's own: `lo` up and a dummy interface with
/// 10.200.0.1/24 (a veth pair with both ends inside), nothing else (no route out). Removed on drop.
struct Netns {
    name: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip(8)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    fn new() -> Netns {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "hako-hostile-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        // A veth pair with both ends inside (the dummy module may be missing).
        ip(&[
            "-n", &ns.name, "link", "add", "h0", "type", "veth", "peer", "name", "h1",
        ]);
        ip(&["-n", &ns.name, "addr", "add", "10.200.0.1/24", "dev", "h0"]);
        ip(&["-n", &ns.name, "link", "set", "h0", "up"]);
        ip(&["-n", &ns.name, "link", "set", "h1", "up"]);
        ns
    }

    /// A listener bound inside the namespace (a thread enters it just for the bind).
    fn listen(&self, addr: &str) -> TcpListener {
        let path = format!("/run/netns/{}", self.name);
        let addr = addr.to_string();
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            TcpListener::bind(&addr).unwrap()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Where a redirect or a realm points, as the registry sends it.
#[derive(Clone, Copy)]
enum Via {
    Redirect,
    Realm,
}

/// A registry at `at` in `ns` whose manifest answer sends hako to `to` (a redirect, or
/// the realm of a bearer challenge); anything else is a manifest with a traversal digest
/// (so reaching it at all is seen).
fn sending_registry(ns: &Netns, at: &str, via: Via, to: String) -> (String, Arc<AtomicUsize>) {
    let l = ns.listen(at);
    let addr = l.local_addr().unwrap().to_string();
    let hits = serve(
        l,
        Arc::new(move |path: &str| {
            if !path.contains("/manifests/") {
                return status(404, &[], b"");
            }
            match via {
                Via::Redirect => status(307, &[("Location", &to)], b""),
                Via::Realm => status(
                    401,
                    &[(
                        "WWW-Authenticate",
                        &format!("Bearer realm=\"{to}\",service=\"x\""),
                    )],
                    b"",
                ),
            }
        }),
    );
    (addr, hits)
}

/// A listener that must never be reached: counts connections.
fn decoy(ns: &Netns, at: &str) -> (String, Arc<AtomicUsize>) {
    let l = ns.listen(at);
    let addr = l.local_addr().unwrap().to_string();
    let hits = serve(
        l,
        Arc::new(|_: &str| status(200, &[], b"{\"token\":\"t\"}")),
    );
    (addr, hits)
}

/// A registry off loopback (10.200.0.1, reached with --insecure) may not send hako to
/// loopback, unspecified or link-local addresses, by address or by a name that resolves
/// there; nor to another scheme.
#[test]
#[ignore = "needs root"]
fn a_remote_registry_cannot_aim_hako_at_loopback_or_other_schemes() {
    common::require_root();
    let canary = Canary::new();
    let ns = Netns::new();
    let w = Walk::new();
    let (lo, lo_hits) = decoy(&ns, "127.0.0.1:0");
    let lo_port = lo.rsplit(':').next().unwrap().to_string();

    // A control: the same registry, answering with a bad manifest, is reached (so the
    // refusals below are the policy's, not an unreachable address's).
    let control = manifest(good_config_desc(), vec![desc(LAYER, "sha256:/abs", 1)]);
    let l = ns.listen("10.200.0.1:0");
    let addr = l.local_addr().unwrap().to_string();
    serve(l, Arc::new(image_registry(control, None, vec![])));
    let r = w.run(
        Some(&ns.name),
        &["--insecure", "--rootfs", &format!("oci:{addr}/evil:latest")],
    );
    refused(&r, "is not a digest");

    let cases: Vec<(Via, String, &str)> = vec![
        (
            Via::Realm,
            format!("http://127.0.0.1:{lo_port}/token"),
            "an address of this machine or its link",
        ),
        (
            Via::Redirect,
            format!("http://127.0.0.1:{lo_port}/x"),
            "an address of this machine or its link",
        ),
        (
            Via::Redirect,
            format!("http://localhost:{lo_port}/x"),
            "an address of this machine or its link",
        ),
        (
            Via::Redirect,
            format!("http://[::ffff:127.0.0.1]:{lo_port}/x"),
            "an address of this machine or its link",
        ),
        (
            Via::Realm,
            format!("http://0.0.0.0:{lo_port}/token"),
            "an address of this machine or its link",
        ),
        (
            Via::Redirect,
            "http://169.254.169.254/latest/meta-data".into(),
            "an address of this machine or its link",
        ),
        (Via::Redirect, "ftp://10.200.0.1/x".into(), "a ftp: URL"),
        (Via::Realm, "file:///etc/shadow".into(), "a file: URL"),
        (
            Via::Redirect,
            "gopher://10.200.0.1:70/x".into(),
            "a gopher: URL",
        ),
    ];
    for (via, to, words) in cases {
        let (addr, hits) = sending_registry(&ns, "10.200.0.1:0", via, to.clone());
        let r = w.run(
            Some(&ns.name),
            &["--insecure", "--rootfs", &format!("oci:{addr}/evil:latest")],
        );
        refused(&r, words);
        assert!(
            hits.load(Ordering::SeqCst) >= 1,
            "the registry was not asked"
        );
        assert_eq!(
            lo_hits.load(Ordering::SeqCst),
            0,
            "hako connected to loopback after {to}"
        );
        canary.unchanged();
    }
}

/// Plain HTTP only to loopback (without --insecure): a loopback registry may not send
/// hako to plain HTTP elsewhere, by redirect or realm.
#[test]
#[ignore = "needs root"]
fn plain_http_off_loopback_is_refused_without_insecure() {
    common::require_root();
    let ns = Netns::new();
    let w = Walk::new();
    let (far, far_hits) = decoy(&ns, "10.200.0.1:0");
    for via in [Via::Redirect, Via::Realm] {
        let (addr, _) = sending_registry(&ns, "127.0.0.1:0", via, format!("http://{far}/x"));
        let r = w.run(
            Some(&ns.name),
            &["--rootfs", &format!("oci:{addr}/evil:latest")],
        );
        refused(&r, "is plain HTTP off this machine");
        assert_eq!(far_hits.load(Ordering::SeqCst), 0, "plain HTTP went out");
    }
}

/// Redirects that go round: at most 5 hops, then a sentence.
#[test]
#[ignore = "needs root"]
fn redirects_stop_after_five_hops() {
    common::require_root();
    let ns = Netns::new();
    let w = Walk::new();
    let l = ns.listen("10.200.0.1:0");
    let addr = l.local_addr().unwrap().to_string();
    let hops = serve(
        l,
        Arc::new(|path: &str| {
            let n: u32 = path
                .rsplit("hop=")
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let base = path.split('?').next().unwrap_or("/");
            status(307, &[("Location", &format!("{base}?hop={}", n + 1))], b"")
        }),
    );
    let r = w.run(
        Some(&ns.name),
        &["--insecure", "--rootfs", &format!("oci:{addr}/evil:latest")],
    );
    refused(&r, "more than 5 times");
    assert_eq!(
        hops.load(Ordering::SeqCst),
        6,
        "the first request and 5 hops"
    );
}

/// The cache is used only when it is root's and no one else may write in it: a cache
/// others could fill would choose what hako unpacks as root.
#[test]
#[ignore = "needs root"]
fn a_cache_others_may_write_is_refused() {
    common::require_root();
    use std::os::unix::fs::PermissionsExt;
    let (addr, hits) = loopback_registry(|_| status(404, &[], b""));
    for how in ["world-writable", "group-writable", "not root's"] {
        let w = Walk::new();
        match how {
            "world-writable" => {
                std::fs::set_permissions(w.cache.path(), std::fs::Permissions::from_mode(0o777))
                    .unwrap()
            }
            "group-writable" => {
                std::fs::set_permissions(w.cache.path(), std::fs::Permissions::from_mode(0o770))
                    .unwrap()
            }
            _ => std::os::unix::fs::chown(w.cache.path(), Some(65534), Some(65534)).unwrap(),
        }
        let r = w.run(None, &["--rootfs", &format!("oci:{addr}/img:latest")]);
        let e = refused(&r, "only root may write in");
        assert!(e.contains(&w.cache.s()), "names the cache ({how}): {e}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the registry was asked");
    // A missing cache is made, root's and 0700.
    let w = Walk::new();
    let fresh = w.cache.path().join("made");
    let mut c = common::hako();
    c.args(["--auto", "--lang", "en", "--to", "rootfs"])
        .args([
            "--rootfs",
            &format!("oci:{addr}/img:latest"),
            "--",
            "/bin/true",
        ])
        .env("TMPDIR", w.tmp.path())
        .env("HAKO_CACHE_DIR", &fresh);
    let r = common::run_with(c, "");
    refused(&r, "was not found");
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the new cache's mode");
}

/// A layer tarball of a static busybox (`/bin/sh` for the rootfs check).
fn busybox_layer() -> Vec<u8> {
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is needed (apt-get install busybox-static; tests/run.sh does)");
    let tree = Tmp::new("tree");
    std::fs::create_dir_all(tree.path().join("bin")).unwrap();
    std::fs::copy(bb, tree.path().join("bin/busybox")).unwrap();
    for a in ["sh", "true"] {
        std::os::unix::fs::symlink("busybox", tree.path().join("bin").join(a)).unwrap();
    }
    let out = Command::new("tar")
        .arg("-C")
        .arg(tree.path())
        .args(["--numeric-owner", "-cf", "-", "."])
        .output()
        .unwrap();
    assert!(out.status.success(), "tar failed");
    out.stdout
}

/// What is in the cache is believed only once checked: a blob there that is a symlink
/// (to a canary outside) or has the right size but other bytes is fetched again and
/// replaced, never unpacked, and the file outside is left alone.
#[test]
#[ignore = "needs root"]
fn a_cached_blob_is_checked_before_it_is_believed() {
    common::require_root();
    let canary = Canary::new();
    let layer = busybox_layer();
    let hex = sha256_hex(&layer);
    let d = format!("sha256:{hex}");
    let (cfg, cfg_digest) = good_config();
    let top = manifest(good_config_desc(), vec![desc(LAYER, &d, layer.len())]);
    let blob_hits = Arc::new(AtomicUsize::new(0));
    let seen = blob_hits.clone();
    let inner = image_registry(
        top,
        None,
        vec![(d.clone(), layer.clone()), (cfg_digest, cfg)],
    );
    let (addr, _) = loopback_registry(move |path: &str| {
        if path.contains("/blobs/") {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        inner(path)
    });
    type Plant<'a> = Box<dyn Fn(&Path) + 'a>;
    let planted: [(&str, Plant); 2] = [
        (
            "a symlink to a file outside",
            Box::new(|p: &Path| {
                std::os::unix::fs::symlink(canary.dir.path().join("victim"), p).unwrap()
            }),
        ),
        (
            "a file of the right size with other bytes",
            Box::new(|p: &Path| std::fs::write(p, vec![b'!'; layer.len()]).unwrap()),
        ),
    ];
    for (what, plant) in planted {
        let w = Walk::new();
        let blobs = w.cache.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let before = blob_hits.load(Ordering::SeqCst);
        plant(&blobs.join(&hex));
        let r = w.run(None, &["--rootfs", &format!("oci:{addr}/img:latest")]);
        assert_eq!(r.code, 0, "{what}: the walk failed:\n{}", r.stderr);
        assert!(
            blob_hits.load(Ordering::SeqCst) > before,
            "{what}: the blob was not fetched again"
        );
        let kept = blobs.join(&hex);
        let m = std::fs::symlink_metadata(&kept).unwrap();
        assert!(
            m.file_type().is_file(),
            "{what}: the cache entry is not a file"
        );
        assert_eq!(sha256_hex(&std::fs::read(&kept).unwrap()), hex, "{what}");
        canary.unchanged();
    }
}
