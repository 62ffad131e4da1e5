//! The `oci:REF` source: an image pulled from a registry by hako itself, with no
//! Docker at all, over the distribution API (what `docker pull` does):
//!
//! 1. `GET /v2/REPO/manifests/TAG`, accepting the OCI and Docker v2 media types; a 401
//!    with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is answered by fetching
//!    an anonymous token from the realm, as Docker Hub wants.
//! 2. An index (multi-arch) names one manifest per platform: hako takes this machine's.
//! 3. The manifest lists the layers; each blob (`GET /v2/REPO/blobs/DIGEST`, often a
//!    redirect to a CDN, where the Authorization header is not sent on) is checked
//!    against its descriptor's size and digest, kept in the cache, and unpacked in order
//!    through the extractor, whiteouts applied.
//!
//! Nothing the registry sends is trusted: every digest is parsed as [`Digest`] while the
//! JSON is read (so a cache path is only ever built from validated hex), manifests and
//! indexes are capped at [`MAX_MANIFEST`] bytes, a blob may not be longer than its
//! descriptor says, and realms and redirects follow the rules of [`policy`].
//!
//! The cache (`$HAKO_CACHE_DIR`, else /var/cache/hako) holds blobs by digest and
//! tag → digest, so the same reference a second time needs no network. It is used only
//! when it is root's and no one else may write in it.

mod digest;
pub mod policy;

pub use digest::{Algorithm, Digest, Hasher};

use super::extract::{self, Counted, Unpacker};
use crate::error::{Error, Result};
use crate::ui::i18n::{t, tf};
use crate::ui::render;
use digest::shown;
pub use policy::is_loopback_host;
use policy::{Policy, MAX_HOPS};
use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DOCKER_HUB: &str = "docker.io";
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// The largest manifest, index or config hako reads (real ones are a few KiB).
pub const MAX_MANIFEST: u64 = 4 << 20;
/// The most of an error body or a token answer hako reads.
const MAX_SMALL: u64 = 1 << 20;
/// The most of a registry's error body shown (sanitised).
const SHOWN_BODY: usize = 200;

const ACCEPT: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// `[REGISTRY/]REPO[:TAG][@DIGEST]`, read the way Docker reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// As written (`docker.io` when none was).
    pub registry: String,
    pub repo: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// `host[:port]` or `[v6]:port`: letters, digits, '.', '-' in dot-separated labels.
fn registry_ok(r: &str) -> bool {
    let port_ok = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = r.strip_prefix('[') {
        let Some((h, after)) = rest.split_once(']') else {
            return false;
        };
        return h.parse::<std::net::Ipv6Addr>().is_ok()
            && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok));
    }
    let host = match r.split_once(':') {
        Some((h, p)) => {
            if !port_ok(p) {
                return false;
            }
            h
        }
        None => r,
    };
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Why an `oci:` reference is refused: one catalog phrase naming the text (sanitised),
/// followed by examples of good references.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("{}", tf("oci.ref_empty", &[]))]
    Empty,
    #[error("{}; {}", .0, t("oci.ref_eg"))]
    Digest(#[from] digest::BadDigest),
    #[error("{}; {}", tf("oci.ref_registry", &[("text", &shown(.0))]), t("oci.ref_eg"))]
    Registry(String),
    #[error("{}; {}", tf("oci.ref_name", &[("text", &shown(.0))]), t("oci.ref_eg"))]
    Name(String),
    #[error("{}; {}", tf("oci.ref_tag", &[("text", &shown(.0))]), t("oci.ref_eg"))]
    Tag(String),
}

impl Reference {
    pub fn parse(s: &str) -> std::result::Result<Reference, RefError> {
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(Digest::parse(d)?)),
            None => (s, None),
        };
        let (name, tag) = match name.rfind(':') {
            Some(i) if !name[i + 1..].contains('/') => {
                (&name[..i], Some(name[i + 1..].to_string()))
            }
            _ => (name, None),
        };
        let (registry, repo) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if !registry_ok(&registry) {
            return Err(RefError::Registry(registry));
        }
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_string()
        } else {
            registry
        };
        let repo = if registry == DOCKER_HUB && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo
        };
        let repo_ok = !repo.is_empty()
            && repo.len() <= 255
            && repo.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
                    && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            });
        if !repo_ok {
            return Err(RefError::Name(s.to_string()));
        }
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(RefError::Tag(t.clone()));
            }
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".into())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repo,
            tag,
            digest,
        })
    }

    /// The host that serves the API.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The digest when one was given, else the tag.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.api_host())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repo)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// This machine's platform as image indexes name it (`GOARCH`).
pub fn platform() -> (&'static str, Option<&'static str>) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", Some("v8")),
        "arm" => ("arm", Some("v7")),
        "x86" => ("386", None),
        "powerpc64" => ("ppc64le", None),
        "riscv64" => ("riscv64", None),
        "s390x" => ("s390x", None),
        "loongarch64" => ("loong64", None),
        other => (other, None),
    }
}

/// The cache: `blobs/ALGO/HEX` and `refs/REGISTRY/REPO/TAG` (a digest). Every path in
/// it is built from validated parts: a [`Digest`]'s hex, a parsed [`Reference`].
pub struct Cache {
    pub dir: PathBuf,
}

impl Cache {
    /// `$HAKO_CACHE_DIR` (absolute), else /var/cache/hako, created 0700 when missing.
    /// Used only when it is a directory of root's that no group or other may write in,
    /// as the journal directory: whoever could write there could choose what hako
    /// unpacks as root.
    pub fn locate() -> Result<Cache> {
        Cache::at(Cache::path())
    }

    /// Where the cache is (`$HAKO_CACHE_DIR` when absolute, else /var/cache/hako), without
    /// making or checking it (for the text a lesson shows).
    pub fn path() -> PathBuf {
        std::env::var_os("HAKO_CACHE_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| PathBuf::from("/var/cache/hako"))
    }

    pub fn at(dir: PathBuf) -> Result<Cache> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        if std::fs::symlink_metadata(&dir).is_err() {
            let made = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir);
            if let Err(e) = made {
                return Err(Error::failed(tf(
                    "err.oci_cache",
                    &[("dir", &shown(&dir.to_string_lossy())), ("why", &e)],
                )));
            }
        }
        let unsafe_dir = match std::fs::symlink_metadata(&dir) {
            Ok(m) => !m.file_type().is_dir() || m.uid() != 0 || m.mode() & 0o022 != 0,
            Err(_) => true,
        };
        if unsafe_dir {
            return Err(Error::failed(tf(
                "err.oci_cache_unsafe",
                &[("dir", &shown(&dir.to_string_lossy()))],
            )));
        }
        Ok(Cache { dir })
    }

    pub fn blob(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    fn tag_file(&self, r: &Reference) -> Option<PathBuf> {
        let tag = r.tag.as_ref()?;
        Some(
            self.dir
                .join("refs")
                .join(r.registry.replace(':', "_"))
                .join(&r.repo)
                .join(tag),
        )
    }

    /// The digest the tag had at the last pull, when its manifest is still cached.
    pub fn tag(&self, r: &Reference) -> Option<Digest> {
        let f = std::fs::File::open(self.tag_file(r)?).ok()?;
        let mut s = String::new();
        f.take(256).read_to_string(&mut s).ok()?;
        let d = Digest::parse(s.trim()).ok()?;
        self.blob(&d).is_file().then_some(d)
    }

    fn set_tag(&self, r: &Reference, digest: &Digest) -> io::Result<()> {
        let Some(p) = self.tag_file(r) else {
            return Ok(());
        };
        write_atomic(&p, digest.to_string().as_bytes())
    }

    /// A cached small blob (a manifest), if it is a regular file no larger than the cap
    /// whose bytes match `digest` (and `size` when a descriptor gave one). A file that
    /// does not match is left alone: it is fetched again and replaced.
    fn read_small(&self, digest: &Digest, size: Option<u64>) -> Option<Vec<u8>> {
        let p = self.blob(digest);
        let m = std::fs::symlink_metadata(&p).ok()?;
        if !m.file_type().is_file() || m.len() > MAX_MANIFEST || size.is_some_and(|s| s != m.len())
        {
            return None;
        }
        let mut b = vec![];
        std::fs::File::open(&p)
            .ok()?
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut b)
            .ok()?;
        (Digest::of(digest.algorithm(), &b) == *digest).then_some(b)
    }

    /// Whether the cached blob for `d` is a regular file of the descriptor's size whose
    /// bytes hash to its digest (read in full: a blob is believed only once checked).
    fn holds(&self, d: &Descriptor) -> bool {
        let p = self.blob(&d.digest);
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            return false;
        };
        if !m.file_type().is_file() || m.len() != d.size {
            return false;
        }
        let Ok(mut f) = std::fs::File::open(&p) else {
            return false;
        };
        let mut h = Hasher::new(d.digest.algorithm());
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        h.finish() == d.digest
    }
}

/// A new file next to `p`, created by this run (never an existing one), and its name.
fn fresh_beside(p: &Path) -> io::Result<(std::fs::File, PathBuf)> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = p.with_file_name(format!(".{name}.part{}-{nanos}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    Ok((f, tmp))
}

fn write_atomic(p: &Path, data: &[u8]) -> io::Result<()> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    let (mut f, tmp) = fresh_beside(p)?;
    let r = f.write_all(data).and_then(|_| std::fs::rename(&tmp, p));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Hashes what is read through it.
struct Hashing<Rd> {
    inner: Rd,
    h: Hasher,
}

impl<Rd: Read> Read for Hashing<Rd> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.h.update(&buf[..n]);
        Ok(n)
    }
}

/// Up to `max` bytes of `r`, and whether there was more.
fn read_capped(r: impl Read, max: u64) -> io::Result<(Vec<u8>, bool)> {
    let mut b = vec![];
    r.take(max + 1).read_to_end(&mut b)?;
    let over = b.len() as u64 > max;
    b.truncate(max as usize);
    Ok((b, over))
}

/// The registry's HTTP side: bearer token, redirects followed by hand under [`Policy`].
pub struct Client {
    agent: ureq::Agent,
    /// `http://` or `https://` and the API host.
    base: String,
    repo: String,
    host: String,
    policy: Policy,
    token: Option<String>,
}

/// What went wrong talking to a registry, before it becomes a sentence.
#[derive(Debug)]
enum Net {
    /// No answer: DNS, refused, TLS, timeout.
    Unreachable(String),
    /// An answer, but not the one wanted (the reason already sanitised).
    Status(u16, String),
    /// Refused by hako's own rules ([`policy`]).
    Policy(String),
}

/// An error body, sanitised and cut short.
fn body_hint(resp: ureq::http::Response<ureq::Body>) -> String {
    let (b, _) = read_capped(resp.into_body().into_reader(), MAX_SMALL).unwrap_or_default();
    crate::ui::sanitize::clean_truncated(&b, SHOWN_BODY)
}

/// Where a `Location` leads from `scheme://authority`; `None` when it is no URL at all.
fn next_url(scheme: &str, authority: &str, loc: &str) -> Option<String> {
    if let Some(rest) = loc.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    if loc.starts_with('/') {
        return Some(format!("{scheme}://{authority}{loc}"));
    }
    // An absolute URL of any scheme (judged by the policy), else nothing usable.
    let (sch, _) = loc.split_once(':')?;
    let is_scheme = sch.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && sch
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    is_scheme.then(|| loc.to_string())
}

impl Client {
    pub fn new(r: &Reference, insecure: bool) -> Client {
        let host = r.api_host().to_string();
        let policy = Policy {
            registry: host.clone(),
            registry_loopback: r.is_loopback(),
            insecure,
        };
        let config = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .user_agent(format!("hako/{}", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::default(),
            policy::Guard {
                policy: policy.clone(),
                inner: Default::default(),
            },
        );
        let scheme = if r.is_loopback() || insecure {
            "http"
        } else {
            "https"
        };
        Client {
            agent,
            base: format!("{scheme}://{host}"),
            repo: r.repo.clone(),
            host,
            policy,
            token: None,
        }
    }

    /// GET with the token, following at most [`MAX_HOPS`] redirects by hand: each hop
    /// is judged by the policy, and the Authorization header goes only to the registry's
    /// own host.
    fn get_once(
        &self,
        url: &str,
        accept: Option<&str>,
    ) -> std::result::Result<ureq::http::Response<ureq::Body>, Net> {
        let mut url = url.to_string();
        let mut hops = 0;
        loop {
            let tgt = policy::target(&url)
                .ok_or_else(|| Net::Policy(tf("oci.bad_url", &[("url", &shown(&url))])))?;
            let mut req = self.agent.get(&url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if tgt.authority == self.host {
                if let Some(t) = &self.token {
                    req = req.header("Authorization", format!("Bearer {t}"));
                }
            }
            let resp = req
                .call()
                .map_err(|e| Net::Unreachable(shown(&e.to_string())))?;
            let s = resp.status().as_u16();
            if !(300..400).contains(&s) || s == 304 {
                return Ok(resp);
            }
            let loc = resp
                .headers()
                .get("location")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .ok_or_else(|| Net::Status(s, t("oci.redirect_nowhere").to_string()))?;
            let next = next_url(&tgt.scheme, &tgt.authority, &loc)
                .ok_or_else(|| Net::Policy(tf("oci.bad_url", &[("url", &shown(&loc))])))?;
            hops += 1;
            if hops > MAX_HOPS {
                return Err(Net::Policy(tf("oci.too_many_hops", &[("n", &MAX_HOPS)])));
            }
            self.policy
                .judge(&tgt.scheme, &next, policy::system_resolve)
                .map_err(Net::Policy)?;
            url = next;
        }
    }

    /// GET, answering one bearer challenge.
    fn get(
        &mut self,
        path: &str,
        accept: Option<&str>,
    ) -> std::result::Result<ureq::http::Response<ureq::Body>, Net> {
        let url = format!("{}/v2/{}/{}", self.base, self.repo, path);
        let resp = self.get_once(&url, accept)?;
        if resp.status().as_u16() != 401 || self.token.is_some() {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        self.token = Some(self.fetch_token(&challenge)?);
        self.get_once(&url, accept)
    }

    /// The anonymous token the challenge asks for.
    fn fetch_token(&self, challenge: &str) -> std::result::Result<String, Net> {
        let login = || {
            Net::Status(
                401,
                tf("oci.needs_login", &[("challenge", &shown(challenge))]),
            )
        };
        let Some(params) = challenge
            .trim()
            .strip_prefix("Bearer ")
            .or_else(|| challenge.trim().strip_prefix("bearer "))
        else {
            return Err(login());
        };
        let p = parse_challenge(params);
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let realm = get("realm").ok_or_else(login)?;
        let from = self.base.split("://").next().unwrap_or("https");
        self.policy
            .judge(from, &realm, policy::system_resolve)
            .map_err(Net::Policy)?;
        let mut url = realm.clone();
        let mut sep = if realm.contains('?') { '&' } else { '?' };
        if let Some(s) = get("service") {
            url.push_str(&format!("{sep}service={}", super::docker::enc(&s)));
            sep = '&';
        }
        let scope = get("scope").unwrap_or_else(|| format!("repository:{}:pull", self.repo));
        url.push_str(&format!("{sep}scope={}", super::docker::enc(&scope)));
        // The realm is followed like any URL the registry sends: redirects judged too.
        let resp = self.get_once(&url, None)?;
        let status = resp.status().as_u16();
        let (body, _) = read_capped(resp.into_body().into_reader(), MAX_SMALL)
            .map_err(|e| Net::Unreachable(shown(&e.to_string())))?;
        if status != 200 {
            return Err(Net::Status(
                status,
                tf(
                    "oci.token_status",
                    &[
                        ("realm", &shown(&realm)),
                        ("status", &status),
                        (
                            "body",
                            &crate::ui::sanitize::clean_truncated(&body, SHOWN_BODY),
                        ),
                    ],
                ),
            ));
        }
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
            .map(String::from)
            .ok_or_else(|| Net::Status(status, tf("oci.token_none", &[("realm", &shown(&realm))])))
    }
}

/// `realm="…",service="…",scope="…"` → pairs (quoted values may hold commas).
pub fn parse_challenge(s: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(i) => (q[..i].to_string(), &q[i + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(i) => (after[..i].trim().to_string(), &after[i..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((k, v));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// A descriptor in a manifest or an index: its digest is parsed (and refused when it
/// is not one) as the JSON is read; its size is required, as the OCI spec says.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Not fetched (hako takes no settings from the image), but checked like the rest.
    #[allow(dead_code)]
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

impl Manifest {
    pub fn is_index(&self) -> bool {
        self.media_type.contains("index")
            || self.media_type.contains("manifest.list")
            || (!self.manifests.is_empty() && self.layers.is_empty())
    }
}

/// The index entry for this machine (os linux, this architecture; the variant when
/// the index gives several).
pub fn pick<'a>(idx: &'a Manifest, arch: &str, variant: Option<&str>) -> Option<&'a Descriptor> {
    let fits: Vec<&Descriptor> = idx
        .manifests
        .iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == arch)
        })
        .collect();
    fits.iter()
        .find(|d| d.platform.as_ref().and_then(|p| p.variant.as_deref()) == variant)
        .or_else(|| fits.first())
        .copied()
}

/// How a pull went, for the lesson's lines.
struct Pull<'a> {
    r: &'a Reference,
    cache: Cache,
    insecure: bool,
    client: Option<Client>,
    /// Blobs read from the cache and from the network.
    cached: usize,
    fetched: usize,
}

/// A manifest asked for by tag, or by digest (from the reference or an index, with the
/// descriptor's size when there is one).
enum Want<'a> {
    Tag(&'a str),
    Digest(&'a Digest, Option<u64>),
}

impl Pull<'_> {
    fn client(&mut self) -> &mut Client {
        let (r, insecure) = (self.r, self.insecure);
        self.client.get_or_insert_with(|| Client::new(r, insecure))
    }

    fn net_error(&self, e: Net, what: &str) -> Error {
        match e {
            Net::Unreachable(why) => Error::failed(tf(
                "err.oci_unreachable",
                &[("host", &self.r.api_host()), ("why", &why)],
            )),
            Net::Policy(why) => Error::failed(tf("err.oci_policy", &[("why", &why)])),
            Net::Status(404, _) => Error::failed(tf(
                "err.oci_not_found",
                &[
                    ("image", &self.r),
                    ("what", &what),
                    ("host", &self.r.api_host()),
                ],
            )),
            Net::Status(401, why) | Net::Status(403, why) => {
                Error::failed(tf("err.oci_denied", &[("image", &self.r), ("why", &why)]))
            }
            Net::Status(s, why) => Error::failed(tf(
                "err.oci_status",
                &[
                    ("host", &self.r.api_host()),
                    ("what", &what),
                    ("status", &s),
                    ("why", &why),
                ],
            )),
        }
    }

    fn mismatch(&self, what: &str, want: &dyn fmt::Display, got: &dyn fmt::Display) -> Error {
        Error::failed(tf(
            "err.oci_digest",
            &[("what", &what), ("want", want), ("got", got)],
        ))
    }

    /// A manifest or index: from the cache when it has it whole, else fetched (at most
    /// [`MAX_MANIFEST`] bytes) and checked against the digest asked for, the
    /// descriptor's size and the `Docker-Content-Digest` header.
    fn manifest(&mut self, want: Want) -> Result<(Digest, Vec<u8>)> {
        let (reference, known, size) = match &want {
            Want::Tag(t) => (t.to_string(), self.cache.tag(self.r), None),
            Want::Digest(d, s) => (d.to_string(), Some((*d).clone()), *s),
        };
        if let Some(d) = &known {
            if let Some(b) = self.cache.read_small(d, size) {
                self.cached += 1;
                return Ok((d.clone(), b));
            }
        }
        let what = tf("oci.what_manifest", &[("ref", &reference)]);
        let resp = self
            .client()
            .get(&format!("manifests/{reference}"), Some(&ACCEPT.join(", ")))
            .map_err(|e| self.net_error(e, &what))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let why = body_hint(resp);
            return Err(self.net_error(Net::Status(status, why), &what));
        }
        let header = resp
            .headers()
            .get("docker-content-digest")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let (body, over) = read_capped(resp.into_body().into_reader(), MAX_MANIFEST)
            .map_err(|e| self.net_error(Net::Unreachable(shown(&e.to_string())), &what))?;
        if over {
            return Err(Error::failed(tf(
                "err.oci_too_big",
                &[
                    ("what", &what),
                    ("host", &self.r.api_host()),
                    ("max", &format!("{} MiB", MAX_MANIFEST >> 20)),
                ],
            )));
        }
        if let Some(h) = header {
            let h = Digest::parse(h.trim()).map_err(|e| {
                Error::failed(tf(
                    "err.oci_header",
                    &[("what", &what), ("host", &self.r.api_host()), ("why", &e)],
                ))
            })?;
            let got = Digest::of(h.algorithm(), &body);
            if got != h {
                return Err(self.mismatch(&what, &h, &got));
            }
        }
        let digest = match &want {
            Want::Digest(d, _) => {
                let got = Digest::of(d.algorithm(), &body);
                if got != **d {
                    return Err(self.mismatch(&what, d, &got));
                }
                got
            }
            Want::Tag(_) => Digest::of(Algorithm::Sha256, &body),
        };
        if let Some(s) = size {
            if s != body.len() as u64 {
                let got = format!("{} bytes", body.len());
                return Err(self.mismatch(&what, &format!("{s} bytes"), &got));
            }
        }
        self.fetched += 1;
        let keep = write_atomic(&self.cache.blob(&digest), &body).and_then(|_| match want {
            Want::Tag(_) => self.cache.set_tag(self.r, &digest),
            Want::Digest(..) => Ok(()),
        });
        if let Err(e) = keep {
            return Err(self.cache_error(e));
        }
        Ok((digest, body))
    }

    fn cache_error(&self, e: io::Error) -> Error {
        let dir = shown(&self.cache.dir.to_string_lossy());
        let errno = crate::sys::io_errno(&e);
        if errno == crate::sys::Errno::ENOSPC || errno == crate::sys::Errno::EDQUOT {
            Error::failed(tf("err.oci_cache_full", &[("dir", &dir)]))
        } else {
            Error::failed(tf("err.oci_cache", &[("dir", &dir), ("why", &e)]))
        }
    }

    /// Makes sure the blob is in the cache, whole and checked (size and digest); downloads
    /// it if not. Only the temporary file this run created is ever removed.
    fn blob(&mut self, d: &Descriptor, label: &str) -> Result<PathBuf> {
        let path = self.cache.blob(&d.digest);
        if self.cache.holds(d) {
            self.cached += 1;
            return Ok(path);
        }
        let what = tf("oci.what_blob", &[("digest", &d.digest)]);
        let resp = self
            .client()
            .get(&format!("blobs/{}", d.digest), None)
            .map_err(|e| self.net_error(e, &what))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let why = body_hint(resp);
            return Err(self.net_error(Net::Status(status, why), &what));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.cache_error(e))?;
        }
        let (file, tmp) = fresh_beside(&path).map_err(|e| self.cache_error(e))?;
        let bar = render::bytes_bar(
            (d.size > 0).then_some(d.size),
            tf("oci.downloading", &[("layer", &label)]),
        );
        let r = self.download(resp.into_body().into_reader(), file, d, &what, &bar);
        bar.finish_and_clear();
        let r = r.and_then(|_| std::fs::rename(&tmp, &path).map_err(|e| self.cache_error(e)));
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        self.fetched += 1;
        Ok(path)
    }

    /// Streams a blob into `f`, hashing it; stops as soon as more bytes arrive than the
    /// descriptor's size; fails unless the size and the digest both match.
    fn download(
        &self,
        body: impl Read,
        mut f: std::fs::File,
        d: &Descriptor,
        what: &str,
        bar: &indicatif::ProgressBar,
    ) -> Result<()> {
        let mut src = Hashing {
            inner: Counted {
                inner: body,
                bar: bar.clone(),
            }
            .take(d.size.saturating_add(1)),
            h: Hasher::new(d.digest.algorithm()),
        };
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::failed(tf(
                        "err.oci_unreachable",
                        &[
                            ("host", &self.r.api_host()),
                            ("why", &shown(&e.to_string())),
                        ],
                    )))
                }
            };
            total += n as u64;
            if total > d.size {
                return Err(Error::failed(tf(
                    "err.oci_too_long",
                    &[("what", &what), ("size", &d.size)],
                )));
            }
            f.write_all(&buf[..n]).map_err(|e| self.cache_error(e))?;
        }
        let got = src.h.finish();
        if got != d.digest || total != d.size {
            return Err(self.mismatch(
                what,
                &format!("{} ({} bytes)", d.digest, d.size),
                &format!("{got} ({total} bytes)"),
            ));
        }
        f.sync_all().map_err(|e| self.cache_error(e))
    }
}

/// Reads the image's manifest (through an index for this machine's platform): the
/// pull so far, the manifest, and what was said.
fn resolve<'a>(r: &'a Reference, insecure: bool) -> Result<(Pull<'a>, Manifest, Vec<String>)> {
    let mut p = Pull {
        r,
        cache: Cache::locate()?,
        insecure,
        client: None,
        cached: 0,
        fetched: 0,
    };
    let bad_manifest = |e: serde_json::Error| {
        Error::failed(tf(
            "err.oci_manifest",
            &[
                ("image", &r),
                (
                    "why",
                    &crate::ui::sanitize::clean_truncated(e.to_string().as_bytes(), 300),
                ),
            ],
        ))
    };
    let mut did = vec![];
    let top_ref = r.reference();
    let want = match &r.digest {
        Some(d) => Want::Digest(d, None),
        None => Want::Tag(&top_ref),
    };
    let (top, body) = p.manifest(want)?;
    let mut m: Manifest = serde_json::from_slice(&body).map_err(bad_manifest)?;
    let mut digest = top.clone();
    if m.is_index() {
        let (arch, variant) = platform();
        let d = pick(&m, arch, variant).cloned().ok_or_else(|| {
            let have: Vec<String> = m
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .filter(|p| p.os != "unknown")
                .map(|p| {
                    format!(
                        "{}/{}{}",
                        p.os,
                        p.architecture,
                        p.variant
                            .as_ref()
                            .map(|v| format!("/{v}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            Error::failed(tf(
                "err.oci_no_platform",
                &[
                    ("image", &r),
                    ("arch", &format!("linux/{arch}")),
                    ("have", &shown(&have.join(", "))),
                ],
            ))
        })?;
        let (_, b) = p.manifest(Want::Digest(&d.digest, Some(d.size)))?;
        m = serde_json::from_slice(&b).map_err(bad_manifest)?;
        did.push(tf(
            "oci.did_index",
            &[
                ("arch", &format!("linux/{arch}")),
                ("digest", &d.digest.short()),
            ],
        ));
        digest = d.digest.clone();
    }
    if m.schema_version == 1 || m.layers.is_empty() && m.manifests.is_empty() || m.is_index() {
        return Err(Error::failed(tf(
            "err.oci_manifest",
            &[("image", &r), ("why", &t("oci.no_layers"))],
        )));
    }
    if let Some(bad) = m
        .layers
        .iter()
        .find(|l| !l.media_type.is_empty() && !l.media_type.contains("tar"))
    {
        return Err(Error::failed(tf(
            "err.oci_layer_type",
            &[("image", &r), ("media", &shown(&bad.media_type))],
        )));
    }
    did.push(tf(
        "oci.did_manifest",
        &[
            ("image", &r),
            ("digest", &digest.short()),
            ("n", &m.layers.len()),
        ],
    ));
    Ok((p, m, did))
}

/// An image resolved to its manifest, whose layers can each be unpacked on their own
/// (`--overlay`: into the layer cache, whiteouts kept in overlayfs's form).
pub struct Resolved<'a> {
    pull: Pull<'a>,
    manifest: Manifest,
}

/// Reads the image's manifest for `--overlay`; returns it and what was said.
pub fn resolve_layers(r: &Reference, insecure: bool) -> Result<(Resolved<'_>, Vec<String>)> {
    let (pull, manifest, did) = resolve(r, insecure)?;
    Ok((Resolved { pull, manifest }, did))
}

impl Resolved<'_> {
    /// The layers' digests, bottom first.
    pub fn digests(&self) -> Vec<Digest> {
        self.manifest
            .layers
            .iter()
            .map(|l| l.digest.clone())
            .collect()
    }

    /// Layer `i` (its blob fetched, or taken from the cache, and checked) unpacked alone
    /// into `dir`, whiteouts in overlayfs's form.
    pub fn unpack_layer(&mut self, i: usize, dir: &Path) -> Result<Vec<String>> {
        let n = self.manifest.layers.len();
        let l = self.manifest.layers[i].clone();
        let label = format!("{}/{n} {}", i + 1, l.digest.short());
        let path = self.pull.blob(&l, &label)?;
        let mut u = Unpacker::new(dir)?.for_overlay();
        unpack_layer(&mut u, &path, &l, &label, &self.pull.cache)?;
        Ok(vec![])
    }
}

/// Pulls the image (or takes it from the cache) and unpacks its layers into `root`.
pub fn fill(root: &Path, r: &Reference, insecure: bool) -> Result<Vec<String>> {
    let (mut p, m, mut did) = resolve(r, insecure)?;
    let mut u = Unpacker::new(root)?;
    let n = m.layers.len();
    let mut whiteouts = 0;
    for (i, l) in m.layers.iter().enumerate() {
        let label = format!("{}/{n} {}", i + 1, l.digest.short());
        let path = p.blob(l, &label)?;
        let before = u.stats.whiteouts;
        unpack_layer(&mut u, &path, l, &label, &p.cache)?;
        whiteouts += u.stats.whiteouts - before;
    }
    did.push(tf(
        "oci.did_layers",
        &[("n", &n), ("whiteouts", &whiteouts)],
    ));
    did.extend(super::summary::summary(&u.stats));
    let dir = shown(&p.cache.dir.to_string_lossy());
    if p.fetched == 0 {
        did.push(tf("oci.did_cache", &[("dir", &dir)]));
    } else {
        did.push(tf(
            "oci.did_fetched",
            &[
                ("fetched", &p.fetched),
                ("cached", &p.cached),
                ("dir", &dir),
            ],
        ));
    }
    Ok(did)
}

/// Unpacks one cached, checked layer, hashing it again as it is read (the file is
/// never removed here: it was checked before, and is not this step's to delete).
fn unpack_layer(
    u: &mut Unpacker,
    path: &Path,
    l: &Descriptor,
    label: &str,
    cache: &Cache,
) -> Result<()> {
    let src = tf("x.src_layer", &[("layer", &label)]);
    let f = std::fs::File::open(path).map_err(|e| {
        Error::failed(tf(
            "err.oci_cache",
            &[("dir", &shown(&cache.dir.to_string_lossy())), ("why", &e)],
        ))
    })?;
    let bar = render::bytes_bar(Some(l.size), tf("oci.unpacking", &[("layer", &label)]));
    let mut h = Hashing {
        inner: Counted {
            inner: f,
            bar: bar.clone(),
        }
        .take(l.size.saturating_add(1)),
        h: Hasher::new(l.digest.algorithm()),
    };
    let r = match extract::open(&mut h) {
        Ok(Ok((_, stream))) => u.unpack(stream, true, &src),
        Ok(Err(why)) => Err(super::tarball::not_tar(&src, why)),
        Err(e) => Err(Error::failed(tf(
            "err.x_corrupt",
            &[("src", &src), ("at", &tf("x.at_start", &[])), ("why", &e)],
        ))),
    };
    // The rest of the blob, for its digest (a tar ends before its padding does).
    let drained = io::copy(&mut h, &mut io::sink());
    bar.finish_and_clear();
    if let (Ok(_), Err(e)) = (&r, drained) {
        return Err(Error::failed(tf(
            "err.oci_cache",
            &[("dir", &shown(&cache.dir.to_string_lossy())), ("why", &e)],
        )));
    }
    let got = h.h.finish();
    if got != l.digest {
        return Err(Error::failed(tf(
            "err.oci_digest",
            &[("what", &src), ("want", &l.digest), ("got", &got)],
        )));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn references_as_docker_reads_them() {
        let b = p("bash");
        assert_eq!(
            (b.registry.as_str(), b.repo.as_str(), b.tag.as_deref()),
            ("docker.io", "library/bash", Some("latest"))
        );
        assert_eq!(b.api_host(), "registry-1.docker.io");
        assert_eq!(b.to_string(), "docker.io/library/bash:latest");
        let d = p("debian:12");
        assert_eq!(
            (d.repo.as_str(), d.tag.as_deref()),
            ("library/debian", Some("12"))
        );
        let u = p("user/img");
        assert_eq!(u.repo, "user/img");
        let l = p("127.0.0.1:5000/x/y:t");
        assert_eq!(
            (l.registry.as_str(), l.repo.as_str(), l.tag.as_deref()),
            ("127.0.0.1:5000", "x/y", Some("t"))
        );
        assert!(l.is_loopback());
        assert!(p("localhost/x").is_loopback());
        assert!(!p("ghcr.io/a/b").is_loopback());
        let h = "a".repeat(64);
        let g = p(&format!("ghcr.io/a/b@sha256:{h}"));
        assert_eq!(g.tag, None);
        assert_eq!(g.reference(), format!("sha256:{h}"));
        for bad in ["", "UPPER", "a//b", "x:", "x@sha256:12", "x:-t", "a b"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.1.2.3:1",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1:5000",
            "registry-1.docker.io",
            "[2001:db8::1]:5000",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn where_a_location_leads() {
        let n = |l: &str| next_url("https", "reg.example:5000", l);
        assert_eq!(n("/v2/x").as_deref(), Some("https://reg.example:5000/v2/x"));
        assert_eq!(
            n("//cdn.example/b").as_deref(),
            Some("https://cdn.example/b")
        );
        assert_eq!(n("ftp://h/x").as_deref(), Some("ftp://h/x"));
        assert_eq!(
            n("FILE:///etc/shadow").as_deref(),
            Some("FILE:///etc/shadow")
        );
        for bad in ["", "relative/path", "1ab:x", "\u{e9}:x"] {
            assert_eq!(n(bad), None, "{bad}");
        }
        // Whatever the scheme's case, the policy sees it.
        let p = Policy {
            registry: "reg.example".into(),
            registry_loopback: false,
            insecure: false,
        };
        assert!(p
            .judge("https", "FILE:///etc/shadow", |_, _| vec![])
            .is_err());
    }

    #[test]
    fn bearer_challenge() {
        let c = parse_challenge(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/bash:pull,push""#,
        );
        assert_eq!(
            c[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(c[1], ("service".into(), "registry.docker.io".into()));
        assert_eq!(
            c[2],
            ("scope".into(), "repository:library/bash:pull,push".into())
        );
    }

    #[test]
    fn picks_this_platform() {
        let h = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let idx: Manifest = serde_json::from_str(&format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"platform":{{"architecture":"arm","os":"linux","variant":"v6"}}}},
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"platform":{{"architecture":"arm","os":"linux","variant":"v7"}}}},
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}},
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"platform":{{"architecture":"unknown","os":"unknown"}}}}]}}"#,
            h('a'),
            h('b'),
            h('c'),
            h('d')
        ))
        .unwrap();
        assert!(idx.is_index());
        assert_eq!(
            pick(&idx, "amd64", None).unwrap().digest.to_string(),
            h('c')
        );
        assert_eq!(
            pick(&idx, "arm", Some("v7")).unwrap().digest.to_string(),
            h('b')
        );
        assert!(pick(&idx, "s390x", None).is_none());
    }

    #[test]
    fn a_bad_descriptor_is_refused_while_parsing_and_named() {
        for bad in [
            "sha256:../../../../tmp/x/victim",
            "sha256:/abs",
            "sha256:\u{e9}\u{e9}",
            "sha256:\\u001b[2J",
        ] {
            for json in [
                format!(r#"{{"schemaVersion":2,"layers":[{{"digest":"{bad}","size":1}}]}}"#),
                format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":"{bad}","size":1}}]}}"#),
                format!(
                    r#"{{"schemaVersion":2,"config":{{"digest":"{bad}","size":1}},"layers":[]}}"#
                ),
            ] {
                let e = serde_json::from_str::<Manifest>(&json)
                    .unwrap_err()
                    .to_string();
                assert!(e.contains("is not a digest"), "{e}");
                assert!(!e.contains('\u{1b}'), "{e}");
            }
        }
        // A descriptor without a size is refused too (the size bounds the download).
        let h = "a".repeat(64);
        let no_size = format!(r#"{{"schemaVersion":2,"layers":[{{"digest":"sha256:{h}"}}]}}"#);
        assert!(serde_json::from_str::<Manifest>(&no_size).is_err());
    }

    #[test]
    fn the_cache_must_be_roots_and_paths_stay_inside() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("hako-cache-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        if !crate::sys::is_root() {
            // Not root: a directory this user owns is refused.
            assert!(Cache::at(root.clone()).is_err());
            let _ = std::fs::remove_dir_all(&root);
            return;
        }
        let c = Cache::at(root.clone()).unwrap();
        let mode = std::fs::metadata(&root).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let d = Digest::of(Algorithm::Sha256, b"x");
        assert!(c.blob(&d).starts_with(&root));
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = Cache::at(root.clone()).err().unwrap();
        assert!(e.msg.contains("only root may write"), "{}", e.msg);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn registries_are_host_names_or_addresses() {
        for good in [
            "ghcr.io/a/b",
            "127.0.0.1:5000/a",
            "[::1]:5000/a",
            "localhost/a",
            "my-reg.example.com:443/a",
        ] {
            assert!(Reference::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "../a/b",
            "..:1/a",
            "a..b/x",
            "-x.io/a",
            "x.io:99999999/a",
            "[::1/a",
            "a.io:/x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        let e = Reference::parse("x.io/A\u{1b}[2J").unwrap_err().to_string();
        assert!(!e.contains('\u{1b}'), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn references_never_panic_nor_leave_the_cache(
            s in "\\PC{0,80}",
            t in "[a-zA-Z0-9._:/@\\[\\]-]{0,80}",
        ) {
            let cache = Cache { dir: PathBuf::from("/cache") };
            for text in [s.clone(), t.clone()] {
                if let Ok(r) = Reference::parse(&text) {
                    let shown = r.to_string();
                    proptest::prop_assert!(!shown.chars().any(crate::ui::sanitize::is_unsafe));
                    if let Some(p) = cache.tag_file(&r) {
                        proptest::prop_assert!(p.starts_with("/cache/refs"));
                        proptest::prop_assert!(
                            p.components().skip(1).all(|c| matches!(c, std::path::Component::Normal(_))),
                            "{}", p.display()
                        );
                    }
                    if let Some(d) = &r.digest {
                        proptest::prop_assert!(cache.blob(d).starts_with("/cache/blobs"));
                    }
                }
            }
        }
    }
}
