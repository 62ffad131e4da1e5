//! Telling an archive's compression from its first bytes, and the decompressed tar stream.

use std::io::{self, BufRead, Read};

/// The compression of an archive, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    pub fn label(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }

    /// The `tar` options that read it, for the shell equivalents.
    pub fn tar_flag(self) -> &'static str {
        match self {
            Compression::None => "-xf",
            Compression::Gzip => "-xzf",
            Compression::Xz => "-xJf",
            Compression::Zstd => "--zstd -xf",
        }
    }
}

/// Why a stream is not something hako can unpack, as a sentence fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotTar {
    Empty,
    Other(&'static str),
    Unknown,
}

fn is_tar_header(b: &[u8]) -> bool {
    if b.len() < 512 {
        // A tarball shorter than one header is no tarball (an empty archive is 1024
        // zero bytes).
        return false;
    }
    if &b[257..262] == b"ustar" {
        return true;
    }
    // An old (v7) header: only its checksum tells.
    let field = &b[148..156];
    let txt: String = field
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as char)
        .collect();
    let Ok(want) = u32::from_str_radix(txt.trim(), 8) else {
        return false;
    };
    let sum: u32 = b[..512]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if (148..156).contains(&i) {
                32
            } else {
                *c as u32
            }
        })
        .sum();
    sum == want || b[..512].iter().all(|c| *c == 0)
}

/// Tells the compression from the magic bytes (not the file name).
pub fn sniff(head: &[u8]) -> Result<Compression, NotTar> {
    if head.is_empty() {
        return Err(NotTar::Empty);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Compression::Gzip);
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Ok(Compression::Xz);
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Ok(Compression::Zstd);
    }
    if head.starts_with(b"BZh") {
        return Err(NotTar::Other("bzip2"));
    }
    if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        return Err(NotTar::Other("lz4"));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Err(NotTar::Other("zip"));
    }
    if is_tar_header(head) {
        return Ok(Compression::None);
    }
    Err(NotTar::Unknown)
}

/// A zstd stream of one or more frames (as `zstd` and `cat a.zst b.zst` write them).
struct Zstd<R: BufRead> {
    dec: Option<ruzstd::StreamingDecoder<R, ruzstd::FrameDecoder>>,
}

fn zstd_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))
}

impl<R: BufRead> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(dec) = self.dec.as_mut() else {
                return Ok(0);
            };
            let n = dec.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            if !dec.decoder.is_finished() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "zstd: the stream ends inside a frame",
                ));
            }
            let (mut src, fd) = self.dec.take().expect("present").into_parts();
            if src.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.dec = Some(ruzstd::StreamingDecoder::new_with_decoder(src, fd).map_err(zstd_err)?);
        }
    }
}

/// A stream told apart and opened: its compression, and the tar bytes.
pub type Opened<'a> = (Compression, Box<dyn Read + 'a>);

/// Reads the first bytes, tells the compression, and returns the decompressed stream.
pub fn open<'a, S: Read + 'a>(mut src: S) -> io::Result<Result<Opened<'a>, NotTar>> {
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match src.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    let kind = match sniff(&head) {
        Ok(k) => k,
        Err(e) => return Ok(Err(e)),
    };
    let joined = io::BufReader::with_capacity(256 * 1024, io::Cursor::new(head).chain(src));
    let r: Box<dyn Read + 'a> = match kind {
        Compression::None => Box::new(joined),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(joined)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(joined)),
        Compression::Zstd => Box::new(Zstd {
            dec: Some(ruzstd::StreamingDecoder::new(joined).map_err(zstd_err)?),
        }),
    };
    Ok(Ok((kind, r)))
}
