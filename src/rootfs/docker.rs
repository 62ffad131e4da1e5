//! The `docker:IMAGE` source: the article's own steps. A container is created from the
//! image (not started), its filesystem is streamed out (`docker container export`)
//! straight into the extractor, and the container is removed again on every path.
//!
//! hako speaks the Docker Engine API itself, over the daemon's unix socket
//! (`DOCKER_HOST=unix://…`, default /var/run/docker.sock), with a small HTTP/1.1 client:
//! no `docker` CLI is needed, the export streams through hako's own extractor, and each
//! step's answer (a missing image, a stopped daemon) becomes one clear sentence.
//! podman's Docker-compatible socket answers the same calls. API version 1.41 is what
//! Debian's dockerd 20.10 speaks; newer daemons still accept it.

use super::extract::{self, Counted, Unpacker};
use crate::error::{Error, Result};
use crate::sys::net::UnixStream;
use crate::ui::i18n::{t, tf};
use crate::ui::render;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// The article's image: `docker container create bash`.
pub const ARTICLE_IMAGE: &str = "bash";
const API: &str = "/v1.41";
/// The command given at create time, so images without a CMD can be created too.
pub const CREATE_CMD: &str = "/bin/sh";

/// The daemon's socket: `DOCKER_HOST` (unix:// only), else /var/run/docker.sock.
pub fn socket() -> Result<PathBuf> {
    socket_from(std::env::var("DOCKER_HOST").ok().as_deref())
}

pub fn socket_from(host: Option<&str>) -> Result<PathBuf> {
    match host.filter(|h| !h.is_empty()) {
        None => Ok(PathBuf::from("/var/run/docker.sock")),
        Some(h) => match h.strip_prefix("unix://") {
            Some(p) if p.starts_with('/') => Ok(PathBuf::from(p)),
            _ => Err(Error::failed(tf("err.docker_host", &[("host", &h)]))),
        },
    }
}

/// One HTTP/1.1 exchange over the unix socket.
pub struct Response {
    pub status: u16,
    pub body: Body,
}

/// A response body: by Content-Length, chunked, or up to the end of the connection.
pub enum Body {
    Length(io::Take<BufReader<UnixStream>>),
    Chunked(Chunked),
    Eof(BufReader<UnixStream>),
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Length(r) => {
                let left = r.limit();
                let n = r.read(buf)?;
                if n == 0 && left > 0 && !buf.is_empty() {
                    return Err(cut(t("docker.http_early")));
                }
                Ok(n)
            }
            Body::Chunked(c) => c.read(buf),
            Body::Eof(r) => r.read(buf),
        }
    }
}

/// `Transfer-Encoding: chunked`.
pub struct Chunked {
    r: BufReader<UnixStream>,
    left: u64,
    done: bool,
}

/// An answer that is not the HTTP it should be (a phrase from the catalogs).
fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// An answer cut short (a phrase from the catalogs).
fn cut(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, why)
}

impl Chunked {
    fn line(&mut self) -> io::Result<String> {
        let mut l = String::new();
        if self.r.read_line(&mut l)? == 0 {
            return Err(cut(t("docker.http_chunked_eof")));
        }
        Ok(l.trim_end().to_string())
    }
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let l = self.line()?;
            let size = l.split(';').next().unwrap_or("").trim();
            self.left =
                u64::from_str_radix(size, 16).map_err(|_| bad(t("docker.http_chunk_size")))?;
            if self.left == 0 {
                while !self.line()?.is_empty() {}
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left as usize);
        let n = self.r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(cut(t("docker.http_chunk_eof")));
        }
        self.left -= n as u64;
        if self.left == 0 && !self.line()?.is_empty() {
            return Err(bad(t("docker.http_crlf")));
        }
        Ok(n)
    }
}

/// A client for one daemon socket.
pub struct Engine {
    pub sock: PathBuf,
    /// How long one read or write may wait: a socket that accepts and never answers must not
    /// hold hako (or its clean-up) forever.
    pub timeout: std::time::Duration,
}

/// The wait for one read or write in a walk: a pull may be silent for a while between layers.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// The wait during clean-up, where the daemon only has to remove a container.
pub const CLEANUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What went wrong talking to the daemon. Its `Display` is the reason that goes into a
/// catalog sentence's `{why}` (the daemon's own words sanitised).
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The request did not reach the daemon, or its answer was not HTTP.
    #[error("{0}")]
    Unreachable(#[from] io::Error),
    /// The daemon answered with an error status and this message.
    #[error("{message}")]
    Refused { status: u16, message: String },
    /// The pull's progress stream reported this error.
    #[error("{0}")]
    Pull(String),
}

impl Engine {
    pub fn new(sock: PathBuf) -> Engine {
        Engine {
            sock,
            timeout: TIMEOUT,
        }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> std::result::Result<Response, DockerError> {
        let stream = crate::sys::net::connect_unix(&self.sock, self.timeout)
            .map_err(DockerError::Unreachable)?;
        let mut w = &stream;
        let body = json.unwrap_or("");
        let head = format!(
            "{method} {API}{path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: hako/{}\r\nConnection: close\r\n{}Content-Length: {}\r\n\r\n",
            env!("CARGO_PKG_VERSION"),
            if json.is_some() { "Content-Type: application/json\r\n" } else { "" },
            body.len()
        );
        w.write_all(head.as_bytes())
            .and_then(|_| w.write_all(body.as_bytes()))
            .map_err(DockerError::Unreachable)?;
        let mut r = BufReader::with_capacity(
            256 * 1024,
            stream.try_clone().map_err(DockerError::Unreachable)?,
        );
        let mut status_line = String::new();
        r.read_line(&mut status_line)
            .map_err(DockerError::Unreachable)?;
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| DockerError::Unreachable(bad(t("docker.http_not_http"))))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).map_err(DockerError::Unreachable)? == 0 {
                return Err(DockerError::Unreachable(bad(t("docker.http_headers"))));
            }
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    length = v.parse::<u64>().ok();
                } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                }
            }
        }
        let body = if chunked {
            Body::Chunked(Chunked {
                r,
                left: 0,
                done: false,
            })
        } else if let Some(n) = length {
            Body::Length(r.take(n))
        } else {
            Body::Eof(r)
        };
        Ok(Response { status, body })
    }
}

impl Response {
    /// The body as text (small answers only).
    pub fn text(mut self) -> String {
        let mut s = String::new();
        let _ = (&mut self.body).take(1 << 20).read_to_string(&mut s);
        s
    }

    /// The daemon's `{"message": …}`, or the body as it is; cleaned and cut short, since it
    /// may carry what a registry said (see crate::ui::sanitize).
    /// The answer as an error: its status and its message.
    pub fn refused(self) -> DockerError {
        let status = self.status;
        DockerError::Refused {
            status,
            message: self.message(),
        }
    }

    pub fn message(self) -> String {
        let t = self.text();
        let m = serde_json::from_str::<serde_json::Value>(&t)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
            .unwrap_or_else(|| t.trim().to_string());
        crate::ui::sanitize::clean_truncated(m.as_bytes(), 300)
    }
}

/// Percent-encodes a query value or path segment.
pub fn enc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// Percent-encodes an image name for a path (`/images/NAME/json`): `/`, `:` and `@`
/// stay, as the daemon's router expects them.
pub fn enc_path(s: &str) -> String {
    enc(s)
        .replace("%2F", "/")
        .replace("%3A", ":")
        .replace("%40", "@")
}

/// True when the image name carries a tag or a digest (`bash:5`, `x@sha256:…`).
pub fn has_tag(image: &str) -> bool {
    image.contains('@')
        || image
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
}

fn unreachable(sock: &Path, e: DockerError) -> Error {
    Error::failed(tf(
        "err.docker_down",
        &[("sock", &sock.display()), ("why", &e)],
    ))
}

/// Removes a container by name, as `docker container rm -f` does (for `hako cleanup`,
/// after a run was killed while a container existed). 404 counts as removed.
pub fn remove_by_name(sock: &Path, name: &str) -> std::result::Result<(), DockerError> {
    let engine = Engine {
        sock: sock.to_path_buf(),
        timeout: CLEANUP_TIMEOUT,
    };
    match engine.request(
        "DELETE",
        &format!("/containers/{}?force=1&v=1", enc(name)),
        None,
    ) {
        Ok(r) if r.status < 300 || r.status == 404 => Ok(()),
        Ok(r) => Err(r.refused()),
        Err(e) => Err(e),
    }
}

/// A created container, removed when dropped if nobody removed it before.
struct Container<'a> {
    engine: &'a Engine,
    id: String,
    removed: bool,
}

impl Container<'_> {
    fn remove(&mut self) -> std::result::Result<(), DockerError> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        match self.engine.request(
            "DELETE",
            &format!("/containers/{}?force=1&v=1", self.id),
            None,
        ) {
            Ok(r) if r.status < 300 || r.status == 404 => Ok(()),
            Ok(r) => Err(r.refused()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        // Only on a path that already failed (fill removes it and says so otherwise); if
        // this removal fails too, the journal still names the container and `hako
        // cleanup` removes it, saying so.
        let _ = self.remove();
    }
}

/// Asks the daemon to pull the image (as `docker container create` does when the
/// image is missing). `Err` is the daemon's reason.
fn pull(engine: &Engine, image: &str) -> std::result::Result<(), DockerError> {
    let mut q = format!("/images/create?fromImage={}", enc(image));
    if !has_tag(image) {
        q.push_str("&tag=latest");
    }
    let r = engine.request("POST", &q, None)?;
    if r.status >= 300 {
        return Err(r.refused());
    }
    let bar = render::bytes_bar(None, tf("docker.pulling", &[("image", &image)]));
    let mut err = None;
    for line in BufReader::new(r.body).lines() {
        let Ok(line) = line else { break };
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                err = Some(crate::ui::sanitize::clean_truncated(e.as_bytes(), 300));
            } else if let Some(s) = v.get("status").and_then(|s| s.as_str()) {
                bar.set_message(format!(
                    "{}: {}",
                    crate::ui::sanitize::clean(image),
                    crate::ui::sanitize::clean_truncated(s.as_bytes(), 80)
                ));
                bar.tick();
            }
        }
    }
    bar.finish_and_clear();
    match err {
        Some(e) => Err(DockerError::Pull(e)),
        None => Ok(()),
    }
}

/// Creates a container from `image`, streams its export into `root`, removes it.
/// `name` names the container (so a leftover is recognisable: `hako-…`).
pub fn fill(root: &Path, image: &str, name: &str) -> Result<Vec<String>> {
    let sock = socket()?;
    let engine = Engine::new(sock.clone());
    let mut did = vec![];
    let create_body = serde_json::json!({
        "Image": image,
        "Cmd": [CREATE_CMD],
        "Labels": {"hako": "rootfs"},
    })
    .to_string();
    let create = |e: &Engine| {
        e.request(
            "POST",
            &format!("/containers/create?name={}", enc(name)),
            Some(&create_body),
        )
    };
    let mut r = create(&engine).map_err(|e| unreachable(&sock, e))?;
    if r.status == 404 {
        pull(&engine, image).map_err(|why| {
            Error::failed(tf(
                "err.docker_no_image",
                &[("image", &image), ("why", &why)],
            ))
        })?;
        did.push(tf("docker.pulled", &[("image", &image)]));
        r = create(&engine).map_err(|e| unreachable(&sock, e))?;
    }
    if r.status >= 300 {
        let status = r.status;
        let why = r.message();
        let key = if status == 404 {
            "err.docker_no_image"
        } else {
            "err.docker_create"
        };
        return Err(Error::failed(tf(key, &[("image", &image), ("why", &why)])));
    }
    let v: serde_json::Value = serde_json::from_str(&r.text()).unwrap_or_default();
    let id = v
        .get("Id")
        .and_then(|i| i.as_str())
        .map(String::from)
        .ok_or_else(|| {
            Error::failed(tf(
                "err.docker_create",
                &[("image", &image), ("why", &"no Id in the answer")],
            ))
        })?;
    let mut c = Container {
        engine: &engine,
        id: id.clone(),
        removed: false,
    };
    let short = &id[..id.len().min(12)];
    did.push(tf("docker.created", &[("id", &short), ("image", &image)]));

    // The image's size, for the progress bar (the export is about that long).
    let size = engine
        .request("GET", &format!("/images/{}/json", enc_path(image)), None)
        .ok()
        .filter(|r| r.status == 200)
        .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.text()).ok())
        .and_then(|v| v.get("Size").and_then(|s| s.as_u64()));

    let result = export(&engine, &c.id, root, image, size);
    let removed = c.remove();
    let stats = result?;
    match removed {
        Ok(()) => did.push(tf("docker.removed", &[("id", &short)])),
        Err(why) => did.push(tf("docker.remove_failed", &[("id", &short), ("why", &why)])),
    }
    did.extend(super::summary::summary(&stats));
    Ok(did)
}

/// The image's ID (`sha256:…`, the digest of its config) as the daemon says it, when it
/// has the image: the key of its layer under `--overlay` (parsed as a digest there).
pub fn image_id(image: &str) -> Option<String> {
    let engine = Engine::new(socket().ok()?);
    let r = engine
        .request("GET", &format!("/images/{}/json", enc_path(image)), None)
        .ok()
        .filter(|r| r.status == 200)?;
    let v: serde_json::Value = serde_json::from_str(&r.text()).ok()?;
    Some(v.get("Id")?.as_str()?.to_string())
}

fn export(
    engine: &Engine,
    id: &str,
    root: &Path,
    image: &str,
    size: Option<u64>,
) -> Result<extract::Stats> {
    let src = tf(
        "x.src_export",
        &[("image", &image), ("id", &&id[..id.len().min(12)])],
    );
    let r = engine
        .request("GET", &format!("/containers/{id}/export"), None)
        .map_err(|e| unreachable(&engine.sock, e))?;
    if r.status != 200 {
        let why = r.message();
        return Err(Error::failed(tf(
            "err.docker_export",
            &[("image", &image), ("why", &why)],
        )));
    }
    let bar = render::bytes_bar(size, tf("docker.exporting", &[("image", &image)]));
    let counted = Counted {
        inner: r.body,
        bar: bar.clone(),
    };
    let mut u = Unpacker::new(root)?;
    let res = match extract::open(counted) {
        Ok(Ok((_, stream))) => u.unpack(stream, false, &src),
        Ok(Err(why)) => Err(super::tarball::not_tar(&src, why)),
        Err(e) => Err(Error::failed(tf(
            "err.docker_export",
            &[("image", &image), ("why", &e)],
        ))),
    };
    bar.finish_and_clear();
    res.map(|()| u.stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host() {
        assert_eq!(
            socket_from(None).unwrap(),
            PathBuf::from("/var/run/docker.sock")
        );
        assert_eq!(
            socket_from(Some("")).unwrap(),
            PathBuf::from("/var/run/docker.sock")
        );
        assert_eq!(
            socket_from(Some("unix:///run/podman/podman.sock")).unwrap(),
            PathBuf::from("/run/podman/podman.sock")
        );
        assert!(socket_from(Some("tcp://1.2.3.4:2375"))
            .unwrap_err()
            .msg
            .contains("tcp://1.2.3.4:2375"));
    }

    #[test]
    fn tags() {
        assert!(!has_tag("bash"));
        assert!(has_tag("bash:5"));
        assert!(!has_tag("localhost:5000/bash"));
        assert!(has_tag("localhost:5000/bash:1"));
        assert!(has_tag("bash@sha256:00"));
        assert_eq!(enc("a/b:c d"), "a%2Fb%3Ac%20d");
        assert_eq!(enc_path("localhost:5000/a/b:1"), "localhost:5000/a/b:1");
    }
}
