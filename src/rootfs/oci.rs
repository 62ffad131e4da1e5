//! The `oci:REF` source: an image pulled from a registry by hako itself, with no
//! Docker at all, over the distribution API (what `docker pull` does):
//!
//! 1. `GET /v2/REPO/manifests/TAG`, accepting the OCI and Docker v2 media types; a 401
//!    with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is answered by fetching
//!    an anonymous token from the realm, as Docker Hub wants.
//! 2. An index (multi-arch) names one manifest per platform: hako takes this machine's.
//! 3. The manifest lists the layers; each blob (`GET /v2/REPO/blobs/DIGEST`, often a
//!    redirect to a CDN, where the Authorization header is not sent on) is checked
//!    against its sha256 digest, kept in the cache, and unpacked in order through the
//!    extractor, whiteouts applied.
//!
//! The cache (`$HAKO_CACHE_DIR`, else `$XDG_CACHE_HOME/hako`, else /var/cache/hako)
//! holds blobs by digest and tag → digest, so the same reference a second time needs
//! no network.

use super::extract::{self, Counted, Unpacker};
use crate::error::{Error, Result};
use crate::i18n::{t, tf};
use crate::walk::render;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DOCKER_HUB: &str = "docker.io";
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

const ACCEPT: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// `[REGISTRY/]REPO[:TAG][@sha256:DIGEST]`, read the way Docker reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// As written (`docker.io` when none was).
    pub registry: String,
    pub repo: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

fn valid_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

impl Reference {
    pub fn parse(s: &str) -> std::result::Result<Reference, String> {
        let eg = "e.g. oci:bash, oci:debian:12 or oci:ghcr.io/OWNER/IMAGE:TAG";
        if s.is_empty() {
            return Err(format!("oci: needs an image, {eg}"));
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => {
                if !valid_digest(d) {
                    return Err(format!(
                        "'{d}' is not a sha256 digest (sha256: and 64 hex digits); {eg}"
                    ));
                }
                (n, Some(d.to_string()))
            }
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
            && repo.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
                    && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            });
        if !repo_ok {
            return Err(format!(
                "'{s}' is not an image name (lowercase letters, digits, '.', '_', '-' and '/'); {eg}"
            ));
        }
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(format!(
                    "'{t}' is not a tag (letters, digits, '.', '_', '-'); {eg}"
                ));
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
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
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

/// `localhost`, 127.0.0.0/8 or ::1, with or without a port.
pub fn is_loopback_host(authority: &str) -> bool {
    if let Ok(ip) = authority.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(authority)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
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

/// The cache: `blobs/sha256/HEX` and `refs/REGISTRY/REPO/TAG` (a digest).
pub struct Cache {
    pub dir: PathBuf,
}

impl Cache {
    pub fn locate() -> Cache {
        let dir = std::env::var_os("HAKO_CACHE_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .map(|p| p.join("hako"))
            })
            .unwrap_or_else(|| PathBuf::from("/var/cache/hako"));
        Cache { dir }
    }

    pub fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.join("blobs/sha256").join(hex)
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

    pub fn tag(&self, r: &Reference) -> Option<String> {
        let d = std::fs::read_to_string(self.tag_file(r)?).ok()?;
        let d = d.trim().to_string();
        (valid_digest(&d) && self.blob(&d).is_file()).then_some(d)
    }

    fn set_tag(&self, r: &Reference, digest: &str) -> io::Result<()> {
        let Some(p) = self.tag_file(r) else {
            return Ok(());
        };
        write_atomic(&p, digest.as_bytes())
    }

    /// A cached blob's bytes, if present and whole (small blobs: manifests).
    fn read_small(&self, digest: &str) -> Option<Vec<u8>> {
        let b = std::fs::read(self.blob(digest)).ok()?;
        if sha256(&b) == digest {
            Some(b)
        } else {
            let _ = std::fs::remove_file(self.blob(digest));
            None
        }
    }
}

fn write_atomic(p: &Path, data: &[u8]) -> io::Result<()> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = p.with_extension(format!("tmp{}", std::process::id()));
    let r = std::fs::write(&tmp, data).and_then(|_| std::fs::rename(&tmp, p));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

/// Hashes what is read through it.
struct Hashing<Rd> {
    inner: Rd,
    h: Sha256,
}

impl<Rd: Read> Read for Hashing<Rd> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.h.update(&buf[..n]);
        Ok(n)
    }
}

/// The registry's HTTP side: bearer token, redirects, plain HTTP only where allowed.
pub struct Client {
    agent: ureq::Agent,
    /// `http://` or `https://` and the API host.
    base: String,
    repo: String,
    host: String,
    insecure: bool,
    token: Option<String>,
}

/// What went wrong talking to a registry, before it becomes a sentence.
#[derive(Debug)]
enum Net {
    /// No answer: DNS, refused, TLS, timeout.
    Unreachable(String),
    /// An answer, but not the one wanted.
    Status(u16, String),
    /// Refused by hako's own rules (plain HTTP elsewhere than loopback).
    Policy(String),
}

fn url_host(url: &str) -> Option<(String, String)> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    Some((
        uri.scheme_str()?.to_string(),
        uri.authority()?.as_str().to_string(),
    ))
}

impl Client {
    pub fn new(r: &Reference, insecure: bool) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .user_agent(format!("hako/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let host = r.api_host().to_string();
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
            insecure,
            token: None,
        }
    }

    fn plain_ok(&self, authority: &str) -> bool {
        self.insecure || is_loopback_host(authority)
    }

    /// GET with the token, following redirects by hand: the Authorization header goes
    /// only to the registry's own host, and plain HTTP only to loopback (or --insecure).
    fn get_once(
        &self,
        url: &str,
        accept: Option<&str>,
    ) -> std::result::Result<ureq::http::Response<ureq::Body>, Net> {
        let mut url = url.to_string();
        for _ in 0..10 {
            let (scheme, authority) =
                url_host(&url).ok_or_else(|| Net::Policy(format!("bad URL {url}")))?;
            if scheme == "http" && !self.plain_ok(&authority) {
                return Err(Net::Policy(tf("oci.no_plain_http", &[("url", &url)])));
            }
            let mut req = self.agent.get(&url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if authority == self.host {
                if let Some(t) = &self.token {
                    req = req.header("Authorization", format!("Bearer {t}"));
                }
            }
            let resp = req.call().map_err(|e| Net::Unreachable(e.to_string()))?;
            let s = resp.status().as_u16();
            if (300..400).contains(&s) {
                let loc = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| Net::Status(s, "a redirect without Location".into()))?;
                url = if loc.starts_with("http://") || loc.starts_with("https://") {
                    loc.to_string()
                } else if loc.starts_with('/') {
                    format!("{scheme}://{authority}{loc}")
                } else {
                    return Err(Net::Status(s, format!("an unusable redirect to {loc}")));
                };
                continue;
            }
            return Ok(resp);
        }
        Err(Net::Status(310, "too many redirects".into()))
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
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        self.token = Some(self.fetch_token(&challenge)?);
        self.get_once(&url, accept)
    }

    /// The anonymous token the challenge asks for.
    fn fetch_token(&self, challenge: &str) -> std::result::Result<String, Net> {
        let Some(params) = challenge
            .trim()
            .strip_prefix("Bearer ")
            .or_else(|| challenge.trim().strip_prefix("bearer "))
        else {
            return Err(Net::Status(
                401,
                tf("oci.needs_login", &[("challenge", &challenge)]),
            ));
        };
        let p = parse_challenge(params);
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let realm = get("realm")
            .ok_or_else(|| Net::Status(401, tf("oci.needs_login", &[("challenge", &challenge)])))?;
        let mut url = realm.clone();
        let mut sep = if realm.contains('?') { '&' } else { '?' };
        if let Some(s) = get("service") {
            url.push_str(&format!("{sep}service={}", super::docker::enc(&s)));
            sep = '&';
        }
        let scope = get("scope").unwrap_or_else(|| format!("repository:{}:pull", self.repo));
        url.push_str(&format!("{sep}scope={}", super::docker::enc(&scope)));
        let (scheme, authority) =
            url_host(&url).ok_or_else(|| Net::Policy(format!("bad token realm {realm}")))?;
        if scheme == "http" && !self.plain_ok(&authority) {
            return Err(Net::Policy(tf("oci.no_plain_http", &[("url", &realm)])));
        }
        let resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| Net::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| Net::Unreachable(e.to_string()))?;
        if status != 200 {
            return Err(Net::Status(
                status,
                format!(
                    "the token service {realm} answered {status}: {}",
                    body.trim()
                ),
            ));
        }
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .map(String::from)
            .ok_or_else(|| Net::Status(status, format!("the token service {realm} gave no token")))
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

/// A descriptor in a manifest or an index.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
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

    /// A manifest or index by tag or digest: from the cache when it has it.
    fn manifest(&mut self, reference: &str) -> Result<(String, Vec<u8>)> {
        let known = if valid_digest(reference) {
            Some(reference.to_string())
        } else {
            self.cache.tag(self.r)
        };
        if let Some(d) = &known {
            if let Some(b) = self.cache.read_small(d) {
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
        let body = resp
            .into_body()
            .with_config()
            .limit(8 << 20)
            .read_to_vec()
            .map_err(|e| self.net_error(Net::Unreachable(e.to_string()), &what))?;
        if status != 200 {
            let why = String::from_utf8_lossy(&body)
                .trim()
                .chars()
                .take(300)
                .collect::<String>();
            return Err(self.net_error(Net::Status(status, why), &what));
        }
        let digest = sha256(&body);
        if valid_digest(reference) && digest != reference {
            return Err(Error::failed(tf(
                "err.oci_digest",
                &[("what", &what), ("want", &reference), ("got", &digest)],
            )));
        }
        self.fetched += 1;
        let keep = write_atomic(&self.cache.blob(&digest), &body).and_then(|_| {
            if valid_digest(reference) {
                Ok(())
            } else {
                self.cache.set_tag(self.r, &digest)
            }
        });
        if let Err(e) = keep {
            return Err(self.cache_error(e));
        }
        Ok((digest, body))
    }

    fn cache_error(&self, e: io::Error) -> Error {
        let errno = crate::sys::io_errno(&e);
        if errno == nix::errno::Errno::ENOSPC || errno == nix::errno::Errno::EDQUOT {
            Error::failed(tf(
                "err.oci_cache_full",
                &[("dir", &self.cache.dir.display())],
            ))
        } else {
            Error::failed(tf(
                "err.oci_cache",
                &[("dir", &self.cache.dir.display()), ("why", &e)],
            ))
        }
    }

    /// Makes sure the blob is in the cache, whole and checked; downloads it if not.
    fn blob(&mut self, d: &Descriptor, label: &str) -> Result<PathBuf> {
        let path = self.cache.blob(&d.digest);
        if path.is_file() {
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
            let why = resp.into_body().read_to_string().unwrap_or_default();
            return Err(self.net_error(
                Net::Status(status, why.trim().chars().take(300).collect()),
                &what,
            ));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.cache_error(e))?;
        }
        let tmp = path.with_extension(format!("part{}", std::process::id()));
        let bar = render::bytes_bar(
            (d.size > 0).then_some(d.size),
            tf("oci.downloading", &[("layer", &label)]),
        );
        let r = self.download(resp.into_body().into_reader(), &tmp, &bar);
        bar.finish_and_clear();
        let got = match r {
            Ok(g) => g,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if got.0 != d.digest || (d.size > 0 && got.1 != d.size) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::failed(tf(
                "err.oci_digest",
                &[
                    ("what", &what),
                    ("want", &d.digest),
                    ("got", &format!("{} ({} bytes)", got.0, got.1)),
                ],
            )));
        }
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.cache_error(e)
        })?;
        self.fetched += 1;
        Ok(path)
    }

    /// Streams a blob into `tmp`, hashing it; returns (digest, size).
    fn download(
        &self,
        body: impl Read,
        tmp: &Path,
        bar: &indicatif::ProgressBar,
    ) -> Result<(String, u64)> {
        let mut f = std::fs::File::create(tmp).map_err(|e| self.cache_error(e))?;
        let mut src = Hashing {
            inner: Counted {
                inner: body,
                bar: bar.clone(),
            },
            h: Sha256::new(),
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
                        &[("host", &self.r.api_host()), ("why", &e)],
                    )))
                }
            };
            f.write_all(&buf[..n]).map_err(|e| self.cache_error(e))?;
            total += n as u64;
        }
        Ok((format!("sha256:{:x}", src.h.finalize()), total))
    }
}

/// Pulls the image (or takes it from the cache) and unpacks its layers into `root`.
pub fn fill(root: &Path, r: &Reference, insecure: bool) -> Result<Vec<String>> {
    let mut p = Pull {
        r,
        cache: Cache::locate(),
        insecure,
        client: None,
        cached: 0,
        fetched: 0,
    };
    let mut did = vec![];
    let (top, body) = p.manifest(r.reference())?;
    let mut m: Manifest = serde_json::from_slice(&body)
        .map_err(|e| Error::failed(tf("err.oci_manifest", &[("image", &r), ("why", &e)])))?;
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
                    ("have", &have.join(", ")),
                ],
            ))
        })?;
        let (_, b) = p.manifest(&d.digest)?;
        m = serde_json::from_slice(&b)
            .map_err(|e| Error::failed(tf("err.oci_manifest", &[("image", &r), ("why", &e)])))?;
        did.push(tf(
            "oci.did_index",
            &[
                ("arch", &format!("linux/{arch}")),
                ("digest", &short(&d.digest)),
            ],
        ));
        digest = d.digest.clone();
    }
    if m.schema_version == 1 || m.layers.is_empty() && m.manifests.is_empty() {
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
            &[("image", &r), ("media", &bad.media_type)],
        )));
    }
    did.push(tf(
        "oci.did_manifest",
        &[
            ("image", &r),
            ("digest", &short(&digest)),
            ("n", &m.layers.len()),
        ],
    ));
    let mut u = Unpacker::new(root)?;
    let n = m.layers.len();
    let mut whiteouts = 0;
    for (i, l) in m.layers.iter().enumerate() {
        let label = format!("{}/{n} {}", i + 1, short(&l.digest));
        let path = p.blob(l, &label)?;
        let before = u.stats.whiteouts;
        unpack_layer(&mut u, &path, l, &label, &p.cache)?;
        whiteouts += u.stats.whiteouts - before;
    }
    did.push(tf(
        "oci.did_layers",
        &[("n", &n), ("whiteouts", &whiteouts)],
    ));
    did.extend(super::summary(&u.stats));
    if p.fetched == 0 {
        did.push(tf("oci.did_cache", &[("dir", &p.cache.dir.display())]));
    } else {
        did.push(tf(
            "oci.did_fetched",
            &[
                ("fetched", &p.fetched),
                ("cached", &p.cached),
                ("dir", &p.cache.dir.display()),
            ],
        ));
    }
    Ok(did)
}

fn short(d: &str) -> String {
    let h = d.strip_prefix("sha256:").unwrap_or(d);
    format!("sha256:{}", &h[..h.len().min(12)])
}

/// Unpacks one cached layer, checking its digest again as it is read.
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
            &[("dir", &cache.dir.display()), ("why", &e)],
        ))
    })?;
    let bar = render::bytes_bar(
        f.metadata().ok().map(|m| m.len()),
        tf("oci.unpacking", &[("layer", &label)]),
    );
    let mut h = Hashing {
        inner: Counted {
            inner: f,
            bar: bar.clone(),
        },
        h: Sha256::new(),
    };
    let r = match extract::open(&mut h) {
        Ok(Ok((_, stream))) => u.unpack(stream, true, &src),
        Ok(Err(why)) => Err(super::tarball::not_tar(&src, why)),
        Err(e) => Err(Error::failed(tf(
            "err.x_corrupt",
            &[("src", &src), ("at", &tf("x.at_start", &[])), ("why", &e)],
        ))),
    };
    let _ = io::copy(&mut h, &mut io::sink());
    bar.finish_and_clear();
    let got = format!("sha256:{:x}", h.h.finalize());
    if got != l.digest {
        let _ = std::fs::remove_file(path);
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
        let idx: Manifest = serde_json::from_str(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:a","size":1,"platform":{"architecture":"arm","os":"linux","variant":"v6"}},
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b","size":1,"platform":{"architecture":"arm","os":"linux","variant":"v7"}},
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:c","size":1,"platform":{"architecture":"amd64","os":"linux"}},
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:d","size":1,"platform":{"architecture":"unknown","os":"unknown"}}]}"#,
        )
        .unwrap();
        assert!(idx.is_index());
        assert_eq!(pick(&idx, "amd64", None).unwrap().digest, "sha256:c");
        assert_eq!(pick(&idx, "arm", Some("v7")).unwrap().digest, "sha256:b");
        assert!(pick(&idx, "s390x", None).is_none());
    }
}
