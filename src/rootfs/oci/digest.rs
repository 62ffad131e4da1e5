//! A content digest (`sha256:HEX` or `sha512:HEX`), checked when it is read.
//!
//! A registry chooses every digest hako sees: in a manifest, an index, a config, a
//! `Docker-Content-Digest` header. hako builds cache paths from them, so a digest is
//! accepted only as a known algorithm followed by exactly the right number of lowercase
//! hex digits (64 for sha256, 128 for sha512): nothing else can reach a path. Anything
//! else is refused while the JSON is parsed, with the offending text shown sanitised.

use sha2::Digest as _;
use std::fmt;

/// The algorithms the OCI image spec registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated digest: only lowercase hex of the algorithm's exact length.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algo: Algorithm,
    hex: String,
}

/// Untrusted text, made safe and short enough for a sentence.
pub fn shown(s: &str) -> String {
    crate::ui::sanitize::clean_truncated(s.as_bytes(), 100)
}

impl Digest {
    /// Reads `ALGO:HEX`; the error names the text (sanitised when shown).
    pub fn parse(s: &str) -> Result<Digest, BadDigest> {
        let bad = || BadDigest(s.to_string());
        let (algo, hex) = s.split_once(':').ok_or_else(bad)?;
        let algo = match algo {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(bad()),
        };
        let hex_ok = hex.len() == algo.hex_len()
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex_ok {
            return Err(bad());
        }
        Ok(Digest {
            algo,
            hex: hex.to_string(),
        })
    }

    /// The digest of `bytes` with `algo`.
    pub fn of(algo: Algorithm, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(algo);
        h.update(bytes);
        h.finish()
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algo
    }

    /// The validated hex: `[0-9a-f]{64}` or `[0-9a-f]{128}`, safe as a file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// `sha256:` and the first 12 hex digits, for the lesson's lines.
    pub fn short(&self) -> String {
        format!("{}:{}", self.algo.name(), &self.hex[..12])
    }
}

/// A text that is not a digest; shown as a catalog phrase naming it, sanitised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", crate::ui::i18n::tf("oci.bad_digest", &[("text", &shown(.0))]))]
pub struct BadDigest(pub String);

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo.name(), self.hex)
    }
}

impl std::str::FromStr for Digest {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Digest, BadDigest> {
        Digest::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Hashes bytes with a digest's algorithm.
#[derive(Clone)]
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(algo: Algorithm) -> Hasher {
        match algo {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }

    pub fn finish(self) -> Digest {
        let (algo, hex) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, format!("{:x}", h.finalize())),
            Hasher::Sha512(h) => (Algorithm::Sha512, format!("{:x}", h.finalize())),
        };
        Digest { algo, hex }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_lowercase_hex() {
        let h64 = "0123456789abcdef".repeat(4);
        let h128 = h64.repeat(2);
        assert!(Digest::parse(&format!("sha256:{h64}")).is_ok());
        assert!(Digest::parse(&format!("sha512:{h128}")).is_ok());
        for bad in [
            String::new(),
            "sha256:".into(),
            format!("sha256:{}", h64.to_uppercase()),
            format!("sha256:{h64}0"),
            format!("sha256:{}", &h64[1..]),
            format!("sha512:{h64}"),
            format!("md5:{h64}"),
            "sha256:../../../../tmp/x/victim".into(),
            "sha256:/abs".into(),
            format!("sha256:{}é", &h64[..62]),
            format!("sha256:{}\u{1b}[", &h64[..62]),
            h64.clone(),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_show_the_text_sanitised() {
        let e = Digest::parse("sha256:\u{1b}]0;owned\u{7}").unwrap_err();
        let e = e.to_string();
        assert!(!e.contains('\u{1b}') && e.contains("\\x1b"), "{e}");
    }

    #[test]
    fn parsed_while_deserialising() {
        #[derive(serde::Deserialize)]
        struct D {
            #[allow(dead_code)]
            digest: Digest,
        }
        let e = serde_json::from_str::<D>(r#"{"digest":"sha256:../../etc/passwd"}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("is not a digest"), "{e}");
        let h = Digest::of(Algorithm::Sha256, b"");
        assert_eq!(
            h.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let d: D = serde_json::from_str(&format!(r#"{{"digest":"{h}"}}"#)).unwrap();
        assert_eq!(d.digest, h);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics_nor_escapes(s in "\\PC*", raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            for text in [s.clone(), String::from_utf8_lossy(&raw).into_owned(), format!("sha256:{s}")] {
                if let Ok(d) = Digest::parse(&text) {
                    proptest::prop_assert!(d.hex().bytes().all(|b| b.is_ascii_hexdigit()));
                    let root = std::path::Path::new("/cache");
                    let p = root.join("blobs").join(d.algorithm().name()).join(d.hex());
                    proptest::prop_assert!(p.starts_with(root));
                    proptest::prop_assert!(p.components().all(|c| matches!(c, std::path::Component::RootDir | std::path::Component::Normal(_))));
                }
            }
        }

        #[test]
        fn hex_of_the_right_length_is_accepted(h in "[0-9a-f]{64}") {
            let d = Digest::parse(&format!("sha256:{h}")).unwrap();
            proptest::prop_assert_eq!(d.hex(), h.as_str());
        }
    }
}
