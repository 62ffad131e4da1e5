//! `--rootfs SOURCE`: where the container's files come from.

use super::{docker, oci};
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

impl FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Source, String> {
        if s == "host" {
            return Ok(Source::Host);
        }
        if let Some(p) = s.strip_prefix("dir:") {
            if p.is_empty() {
                return Err("dir: needs a path, e.g. --rootfs dir:/srv/rootfs".into());
            }
            let path = PathBuf::from(p);
            return match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => {
                    Ok(Source::Dir(std::fs::canonicalize(&path).unwrap_or(path)))
                }
                Ok(_) => Err(format!(
                    "'{}' is not a directory; give a directory that holds a root filesystem",
                    crate::ui::sanitize::clean(p)
                )),
                Err(e) => Err(format!(
                    "the directory '{}' cannot be used ({e}); create it, or use --rootfs host",
                    crate::ui::sanitize::clean(p)
                )),
            };
        }
        if let Some(p) = s.strip_prefix("tar:") {
            if p.is_empty() {
                return Err("tar: needs a path, e.g. --rootfs tar:alpine-minirootfs.tar.gz".into());
            }
            let path = PathBuf::from(p);
            return match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => {
                    Ok(Source::Tar(std::fs::canonicalize(&path).unwrap_or(path)))
                }
                Ok(_) => Err(format!(
                    "'{}' is not a file; give a tarball (.tar, .tar.gz, .tar.xz or .tar.zst)",
                    crate::ui::sanitize::clean(p)
                )),
                Err(e) => Err(format!(
                    "the tarball '{}' cannot be used ({e}); check the path, or use --rootfs host",
                    crate::ui::sanitize::clean(p)
                )),
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
                return Err(format!(
                    "'{}' is not an image name; give one as docker shows it, e.g. docker:bash or docker:debian:12",
                    crate::ui::sanitize::clean(img)
                ));
            }
            return Ok(Source::Docker(img.into()));
        }
        if let Some(r) = s.strip_prefix("oci:") {
            return oci::Reference::parse(r).map(Source::Oci);
        }
        Err(format!(
            "'{}' is not a rootfs source; use host (the default), dir:PATH, tar:PATH, docker:IMAGE or oci:IMAGE",
            crate::ui::sanitize::clean(s)
        ))
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
            .contains("cannot be used"));
        assert!("bogus:x"
            .parse::<Source>()
            .unwrap_err()
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
            .contains("cannot be used"));
        assert!("tar:/etc"
            .parse::<Source>()
            .unwrap_err()
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
            .contains("not a directory"));
    }
}
