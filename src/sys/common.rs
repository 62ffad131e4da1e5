//! What every sys module shares: the small file calls (write, mkdir, symlink, rmdir)
//! that need no module of their own. The sentence for a failed call is in `error`.

use super::error::failure;
use super::tracer::trace;
use crate::error::Error;
use crate::ui::i18n::tf;
use nix::errno::Errno;
use std::path::Path;

pub fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// write(2) of a value into a (kernel) file, traced, with the bare errno.
pub fn write_raw(path: &Path, value: &str) -> Result<(), Errno> {
    let r = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, value.as_bytes()))
        .map_err(|e| io_errno(&e));
    trace(
        || format!("write(\"{}\", \"{}\")", path.display(), value),
        "2 write",
        &r,
    );
    r
}

/// write(2) of a value into a (kernel) file, traced; the way cgroup files are set.
pub fn write_file(path: &Path, value: &str) -> Result<(), Error> {
    let r = write_raw(path, value);
    r.map_err(|e| {
        failure(
            &tf("do.write", &[("value", &value), ("path", &path.display())]),
            e,
        )
    })
}

/// mkdir(2), traced.
pub fn mkdir(path: &Path) -> Result<(), Error> {
    let r = nix::unistd::mkdir(path, nix::sys::stat::Mode::from_bits_truncate(0o755));
    trace(
        || format!("mkdir(\"{}\", 0755)", path.display()),
        "2 mkdir",
        &r,
    );
    r.map_err(|e| failure(&tf("do.mkdir", &[("path", &path.display())]), e))
}

/// mkdir(2) with mode 0700, traced: the temp rootfs, as `mktemp -d` makes it.
pub fn mkdir_private(path: &Path) -> Result<(), Errno> {
    let r = nix::unistd::mkdir(path, nix::sys::stat::Mode::from_bits_truncate(0o700));
    trace(
        || format!("mkdir(\"{}\", 0700)", path.display()),
        "2 mkdir",
        &r,
    );
    r
}

/// symlink(2), traced.
pub fn symlink(target: &str, link: &Path) -> Result<(), Errno> {
    let r = std::os::unix::fs::symlink(target, link).map_err(|e| io_errno(&e));
    trace(
        || format!("symlink(\"{target}\", \"{}\")", link.display()),
        "2 symlink",
        &r,
    );
    r
}

/// rmdir(2), traced.
pub fn rmdir(path: &Path) -> Result<(), Errno> {
    let r = std::fs::remove_dir(path).map_err(|e| io_errno(&e));
    trace(|| format!("rmdir(\"{}\")", path.display()), "2 rmdir", &r);
    r
}

pub fn read_trim(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A fresh directory under `$TMPDIR` for a unit test of sys (the test removes it).
#[cfg(test)]
pub fn scratch(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "hako-sys-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What a forked child reported before its execve(2) failed, read from the pipe it
/// holds close-on-exec: five bytes (the errno, native order, then the index of the
/// step), or nothing at all when the pipe closed at the exec. `steps` names the indexes
/// (an unknown one is "execve").
pub fn child_report(
    rd: &impl std::os::fd::AsFd,
    steps: &[&'static str],
) -> Option<(&'static str, Errno)> {
    let mut buf = [0u8; 5];
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(rd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    (got == buf.len()).then(|| {
        let errno = Errno::from_raw(i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]));
        (
            steps.get(buf[4] as usize).copied().unwrap_or("execve"),
            errno,
        )
    })
}
