//! The `tar:PATH` source: a tarball (a `docker export`, a distribution's minirootfs),
//! plain or compressed with gzip, xz or zstd, told apart by its first bytes.

use super::extract::{self, Compression, Counted, NotTar, Unpacker};
use crate::error::{Error, Result};
use crate::ui::i18n::tf;
use crate::ui::render;
use crate::ui::sanitize::clean_path;
use std::path::Path;

/// The compression of the file, from its magic bytes (for the shell equivalent).
pub fn compression(path: &Path) -> Option<Compression> {
    use std::io::Read;
    let mut head = vec![0u8; 512];
    let mut f = std::fs::File::open(path).ok()?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    head.truncate(n);
    extract::sniff(&head).ok()
}

/// The sentence for a stream that is no tarball hako can read.
pub fn not_tar(src: &str, why: NotTar) -> Error {
    Error::failed(extract::capitalize(&match why {
        NotTar::Empty => tf("err.x_empty", &[("src", &src)]),
        NotTar::Other(kind) => tf("err.x_other_format", &[("src", &src), ("kind", &kind)]),
        NotTar::Unknown => tf("err.x_not_tar", &[("src", &src)]),
    }))
}

/// Unpacks the tarball into `root`; returns what it did.
pub fn fill(root: &Path, tarball: &Path) -> Result<Vec<String>> {
    fill_as(root, tarball, false)
}

/// Unpacks the tarball into `root` as one layer for overlayfs (`--overlay`): its
/// whiteouts, if any, kept in overlayfs's form.
pub fn fill_layer(root: &Path, tarball: &Path) -> Result<Vec<String>> {
    fill_as(root, tarball, true)
}

fn fill_as(root: &Path, tarball: &Path, layer: bool) -> Result<Vec<String>> {
    // A downloaded file's name is not trusted to be free of escape sequences either.
    let shown = clean_path(tarball);
    let src = tf("x.src_tarball", &[("path", &shown)]);
    let f = std::fs::File::open(tarball)
        .map_err(|e| Error::failed(tf("err.tar_open", &[("path", &shown), ("why", &e)])))?;
    let len = f.metadata().map(|m| m.len()).ok();
    let name = tarball
        .file_name()
        .map(|n| clean_path(Path::new(n)))
        .unwrap_or_default();
    let bar = render::bytes_bar(len, name);
    let counted = Counted {
        inner: f,
        bar: bar.clone(),
    };
    let (kind, stream) = match extract::open(counted) {
        Ok(Ok(x)) => x,
        Ok(Err(why)) => {
            bar.finish_and_clear();
            return Err(not_tar(&src, why));
        }
        Err(e) => {
            bar.finish_and_clear();
            return Err(Error::failed(tf(
                "err.tar_open",
                &[("path", &shown), ("why", &e)],
            )));
        }
    };
    let mut u = Unpacker::new(root)?;
    if layer {
        u = u.for_overlay();
    }
    let r = u.unpack(stream, layer, &src);
    bar.finish_and_clear();
    r?;
    let mut did = vec![tf(
        "rootfs.did_tar",
        &[
            ("path", &shown),
            ("kind", &kind.label()),
            ("size", &indicatif::HumanBytes(len.unwrap_or(0))),
        ],
    )];
    did.extend(super::summary::summary(&u.stats));
    Ok(did)
}

/// `hako bench-extract TARBALL`: unpacks the tarball with hako's extractor and with
/// GNU `tar -x` (as root: owners kept, like hako) into fresh directories, and prints
/// both times and their ratio on stdout: `hako 0.412 s  tar 0.530 s  ratio 0.78`.
/// With `into`, only unpacks with hako's extractor into that directory (`bench/run.sh`
/// times it beside `tar -x` with hyperfine).
pub fn bench(tarball: &Path, into: Option<&Path>) -> Result<()> {
    use std::time::Instant;
    if let Some(dir) = into {
        return fill(dir, tarball).map(|_| ());
    }
    let a = super::temp::temp_path(&uuid::Uuid::new_v4().to_string());
    super::temp::create_temp(&a)?;
    let t0 = Instant::now();
    let r = fill(&a, tarball);
    let hako = t0.elapsed().as_secs_f64();
    // Both said: the unpack's failure first, else a directory left behind.
    let removed = super::temp::remove_tree(&a);
    r?;
    removed?;
    let b = super::temp::temp_path(&uuid::Uuid::new_v4().to_string());
    super::temp::create_temp(&b)?;
    let t1 = Instant::now();
    let st = std::process::Command::new("tar")
        .arg("-xf")
        .arg(tarball)
        .arg("-C")
        .arg(&b)
        .arg("--numeric-owner")
        .status();
    let tar = t1.elapsed().as_secs_f64();
    let removed = super::temp::remove_tree(&b);
    match st {
        Ok(s) if s.success() => {}
        other => {
            let why = match other {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            };
            return Err(Error::failed(tf(
                "err.bench_tar",
                &[("tarball", &clean_path(tarball)), ("why", &why)],
            )));
        }
    }
    removed?;
    println!("hako {hako:.3} s  tar {tar:.3} s  ratio {:.2}", hako / tar);
    Ok(())
}
