//! `$IMAGE`: the tarball the learner unpacks into `$ROOTFS`, as the article unpacks
//! `docker export`. hako fills a directory from the chosen source (the same sources as
//! the walk's rootfs lesson), then writes the tar by walking that directory through
//! descriptors (openat, never following a link, never leaving its filesystem): a
//! link is stored as a link, a second name of the same file as a hard link.

use crate::error::{Error, Result};
use crate::rootfs::{docker, host, oci, tarball, Source};
use crate::sys::at::DirFd;
use crate::sys::tree::{self, Meta};
use crate::ui::i18n::tf;
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Fills `dir` (empty, hako's own) from `source`; returns what was done, one line each.
/// `record` is called before anything outside the directory is created (a Docker
/// container), so that the journal names it first.
pub fn fill(
    dir: &Path,
    source: &Source,
    uuid: &str,
    insecure: bool,
    record: &mut dyn FnMut(crate::journal::Item) -> Result<()>,
    done: &mut dyn FnMut(&crate::journal::Item),
) -> Result<Vec<String>> {
    Ok(match source {
        Source::Host => match host::build(dir)? {
            host::Built::Busybox { from, applets } => vec![tf(
                "rootfs.did_busybox",
                &[("from", &from.display()), ("n", &applets)],
            )],
            host::Built::Elf { tools, libraries } => vec![tf(
                "rootfs.did_elf",
                &[("tools", &tools.join(" ")), ("libs", &libraries.join(" "))],
            )],
        },
        Source::Tar(p) => tarball::fill(dir, p)?,
        Source::Dir(_) => vec![],
        Source::Docker(img) => {
            let name = crate::journal::container_name(uuid);
            let item = crate::journal::Item::Container {
                name: name.clone(),
                socket: docker::socket()?,
            };
            record(item.clone())?;
            let r = docker::fill(dir, img, &name);
            done(&item);
            r?
        }
        Source::Oci(r) => oci::fill(dir, r, insecure)?,
    })
}

/// Writes the tree under `root` as a tar archive into the new file `name` of `out`
/// (created 0600, never through a link). Returns the number of entries.
pub fn write_tar(root: &Path, out: &DirFd, name: &str) -> Result<usize> {
    let fail = |why: &dyn std::fmt::Display| {
        Error::failed(tf(
            "practice.err_image",
            &[("path", &root.display()), ("why", why)],
        ))
    };
    let (top, meta) = tree::open_dir_nofollow(root).map_err(|e| fail(&e))?;
    let file = out.create(name, 0o600).map_err(|e| fail(&e))?;
    let mut b = tar::Builder::new(std::io::BufWriter::new(file));
    let mut w = Walk {
        b: &mut b,
        top: meta,
        seen: HashMap::new(),
        n: 0,
    };
    w.dir(&top, Path::new("")).map_err(|e| fail(&e))?;
    let n = w.n;
    let inner = b.into_inner().map_err(|e| fail(&e))?;
    let f = inner.into_inner().map_err(|e| fail(&e.error()))?;
    f.sync_all().map_err(|e| fail(&e))?;
    Ok(n)
}

struct Walk<'a, W: std::io::Write> {
    b: &'a mut tar::Builder<W>,
    top: Meta,
    /// The first name of each regular file with more than one (a hard link after).
    seen: HashMap<(u64, u64), PathBuf>,
    n: usize,
}

fn io(e: crate::sys::Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

impl<W: std::io::Write> Walk<'_, W> {
    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(size);
        h
    }

    fn dir(&mut self, dir: &DirFd, rel: &Path) -> std::io::Result<()> {
        let mut names = dir.names().map_err(io)?;
        names.sort();
        for n in names {
            let path = rel.join(std::ffi::OsStr::from_bytes(&n));
            let m = tree::statx_at(dir.fd(), &n).map_err(io)?;
            let st = dir.lstat(n.as_slice()).map_err(io)?;
            if m.is_dir() {
                // Never into another filesystem mounted inside.
                if m.mount_root || m.id.dev != self.top.id.dev {
                    continue;
                }
                let mut h = Self::header(tar::EntryType::Directory, m.mode, 0);
                self.b.append_data(&mut h, &path, std::io::empty())?;
                self.n += 1;
                let sub = dir.sub(n.as_slice()).map_err(io)?;
                self.dir(&sub, &path)?;
            } else if m.is_symlink() {
                let target = dir.readlink(n.as_slice()).map_err(io)?;
                let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
                self.b
                    .append_link(&mut h, &path, std::ffi::OsStr::from_bytes(&target))?;
                self.n += 1;
            } else if m.is_file() {
                let key = (m.id.dev, m.id.ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.seen.get(&key) {
                        let mut h = Self::header(tar::EntryType::Link, m.mode, 0);
                        self.b.append_link(&mut h, &path, first)?;
                        self.n += 1;
                        continue;
                    }
                    self.seen.insert(key, path.clone());
                }
                let (f, fm) = tree::open_read_at(dir, &n).map_err(io)?;
                if fm.id != m.id {
                    // Swapped between the look and the open: left out.
                    continue;
                }
                let mut h = Self::header(tar::EntryType::Regular, m.mode, fm.size);
                self.b
                    .append_data(&mut h, &path, std::io::Read::take(f, fm.size))?;
                self.n += 1;
            }
            // Devices, FIFOs and sockets are not part of an image (the learner makes
            // /dev by mounting).
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_becomes_a_tar_with_links_kept() {
        let d = crate::sys::scratch("practice-image");
        let src = d.join("src");
        std::fs::create_dir_all(src.join("bin")).unwrap();
        std::fs::create_dir_all(src.join("proc")).unwrap();
        std::fs::write(src.join("bin/busybox"), b"elf").unwrap();
        std::fs::hard_link(src.join("bin/busybox"), src.join("bin/sh")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", src.join("bin/evil")).unwrap();
        let out = DirFd::open(&d).unwrap();
        let n = write_tar(&src, &out, "image.tar").unwrap();
        assert_eq!(n, 5);
        let mut a = tar::Archive::new(std::fs::File::open(d.join("image.tar")).unwrap());
        let mut kinds = vec![];
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            kinds.push((
                e.path().unwrap().display().to_string(),
                e.header().entry_type(),
                e.header().size().unwrap(),
            ));
        }
        assert!(kinds.contains(&("bin/busybox".into(), tar::EntryType::Regular, 3)));
        assert!(kinds.contains(&("bin/sh".into(), tar::EntryType::Link, 0)));
        assert!(kinds.contains(&("bin/evil".into(), tar::EntryType::Symlink, 0)));
        assert!(kinds.iter().any(|k| k.0 == "proc" || k.0 == "proc/"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
