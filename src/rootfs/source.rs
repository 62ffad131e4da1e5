//! `--rootfs SOURCE`: where the container's files come from.

use super::{docker, oci};
use crate::error::Error;
use crate::ui::i18n::tf;
use crate::ui::sanitize::clean;
use std::path::PathBuf;
use std::str::FromStr;

/// `--rootfs SOURCE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The host's busybox, or its /bin/sh and a few tools with their libraries.
    Host,
    /// An existing directory, used in place and never deleted.
    Dir(PathBuf),
    /// A tarball (plain, gzip, xz or zstd), unpacked into a new directory.
    Tar(PathBuf),
    /// An image on a Docker (or podman) daemon: the article's create + export.
    Docker(String),
    /// An image pulled from a registry by hako itself.
    Oci(oci::Reference),
}

/// Why a `--rootfs` value is refused. Each is one sentence from the catalogs; the
/// learner's text in it is sanitised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// `dir:` with nothing after it.
    #[error("{}", tf("src.dir_no_path", &[]))]
    DirNoPath,
    /// `tar:` with nothing after it.
    #[error("{}", tf("src.tar_no_path", &[]))]
    TarNoPath,
    #[error("{}", tf("src.not_dir", &[("path", &clean(.0))]))]
    NotDir(String),
    #[error("{}", tf("src.not_file", &[("path", &clean(.0))]))]
    NotFile(String),
    /// The directory cannot be read (the path, the system's reason).
    #[error("{}", tf("src.dir_unusable", &[("path", &clean(.0)), ("why", &clean(.1))]))]
    DirUnusable(String, String),
    /// The tarball cannot be read (the path, the system's reason).
    #[error("{}", tf("src.tar_unusable", &[("path", &clean(.0)), ("why", &clean(.1))]))]
    TarUnusable(String, String),
    #[error("{}", tf("src.bad_image", &[("image", &clean(.0))]))]
    BadImage(String),
    /// The `oci:` reference is refused.
    #[error(transparent)]
    Oci(#[from] oci::RefError),
    #[error("{}", tf("src.unknown", &[("source", &clean(.0))]))]
    Unknown(String),
}

impl From<SourceError> for Error {
    fn from(e: SourceError) -> Error {
        Error::usage(e.to_string())
    }
}

impl FromStr for Source {
    type Err = SourceError;
    fn from_str(s: &str) -> std::result::Result<Source, SourceError> {
        if s == "host" {
            return Ok(Source::Host);
        }
        if let Some(p) = s.strip_prefix("dir:") {
            if p.is_empty() {
                return Err(SourceError::DirNoPath);
            }
            let path = PathBuf::from(p);
            return match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => {
                    Ok(Source::Dir(std::fs::canonicalize(&path).unwrap_or(path)))
                }
                Ok(_) => Err(SourceError::NotDir(p.into())),
                Err(e) => Err(SourceError::DirUnusable(p.into(), e.to_string())),
            };
        }
        if let Some(p) = s.strip_prefix("tar:") {
            if p.is_empty() {
                return Err(SourceError::TarNoPath);
            }
            let path = PathBuf::from(p);
            return match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => {
                    Ok(Source::Tar(std::fs::canonicalize(&path).unwrap_or(path)))
                }
                Ok(_) => Err(SourceError::NotFile(p.into())),
                Err(e) => Err(SourceError::TarUnusable(p.into(), e.to_string())),
            };
        }
        if s == "docker" || s == "docker:" {
            return Ok(Source::Docker(docker::ARTICLE_IMAGE.into()));
        }
        if let Some(img) = s.strip_prefix("docker:") {
            if img
                .chars()
                .any(|c| c.is_whitespace() || crate::ui::sanitize::is_unsafe(c))
            {
                return Err(SourceError::BadImage(img.into()));
            }
            return Ok(Source::Docker(img.into()));
        }
        if let Some(r) = s.strip_prefix("oci:") {
            return oci::Reference::parse(r)
                .map(Source::Oci)
                .map_err(SourceError::from);
        }
        Err(SourceError::Unknown(s.into()))
    }
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Host => "host".into(),
            Source::Dir(p) => format!("dir:{}", crate::ui::sanitize::clean_path(p)),
            Source::Tar(p) => format!("tar:{}", crate::ui::sanitize::clean_path(p)),
            Source::Docker(i) => format!("docker:{}", crate::ui::sanitize::clean(i)),
            Source::Oci(r) => format!("oci:{}", crate::ui::sanitize::clean(&r.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!("host".parse::<Source>(), Ok(Source::Host));
        assert_eq!("dir:/".parse::<Source>(), Ok(Source::Dir("/".into())));
        assert!("dir:/nonexistent/x"
            .parse::<Source>()
            .unwrap_err()
            .to_string()
            .contains("cannot be used"));
        assert!("bogus:x"
            .parse::<Source>()
            .unwrap_err()
            .to_string()
            .contains("not a rootfs source"));
        assert_eq!(
            "docker:".parse::<Source>(),
            Ok(Source::Docker("bash".into()))
        );
        assert_eq!(
            "docker".parse::<Source>(),
            Ok(Source::Docker("bash".into()))
        );
        assert_eq!(
            "docker:debian:12".parse::<Source>(),
            Ok(Source::Docker("debian:12".into()))
        );
        assert!("tar:".parse::<Source>().is_err());
        assert!("tar:/nonexistent.tar"
            .parse::<Source>()
            .unwrap_err()
            .to_string()
            .contains("cannot be used"));
        assert!("tar:/etc"
            .parse::<Source>()
            .unwrap_err()
            .to_string()
            .contains("not a file"));
        assert!(matches!(
            "tar:/etc/passwd".parse::<Source>(),
            Ok(Source::Tar(_))
        ));
        assert!(matches!("oci:bash".parse::<Source>(), Ok(Source::Oci(_))));
        assert!("oci:".parse::<Source>().is_err());
        assert!("dir:".parse::<Source>().is_err());
        assert!("dir:/etc/passwd"
            .parse::<Source>()
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
    }
}
