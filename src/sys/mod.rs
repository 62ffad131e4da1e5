//! The one layer that touches the kernel. Everything else calls these functions and
//! gets back hako's [`Error`](crate::error::Error) with a sentence a learner can act on.

pub mod at;
pub mod bpf;
pub mod cgroup;
pub mod demo;
pub mod harden;
pub mod mountinfo;
pub mod ns;
pub mod nsenter;
pub mod probe;
pub mod process;
pub mod ptrace;
pub mod signals;
pub mod tree;
pub mod tty;

use crate::error::Error;
use crate::i18n::tf;
use nix::errno::Errno;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

static TRACE: AtomicBool = AtomicBool::new(false);

/// `--trace`: print every syscall hako makes, with its man page.
pub fn set_trace(on: bool) {
    TRACE.store(on, Ordering::Relaxed);
}

pub fn tracing() -> bool {
    TRACE.load(Ordering::Relaxed)
}

/// Prints one traced call: `mount("proc", "/tmp/x/proc", "proc", 0, NULL) = 0   man 2 mount`.
pub fn trace<T>(call: impl FnOnce() -> String, man: &str, r: &Result<T, Errno>) {
    trace_as(call, man, r, |_| "0".to_string());
}

/// `trace`, for a call whose result is a value (a PID, a descriptor, a path).
pub fn trace_as<T>(
    call: impl FnOnce() -> String,
    man: &str,
    r: &Result<T, Errno>,
    ok: impl FnOnce(&T) -> String,
) {
    if tracing() {
        crate::walk::render::trace_line(&format!("{} = {}", call(), result_text(r, ok)), man);
    }
}

/// How strace writes a result: the value, or `-1 ENOENT (No such file or directory)`.
pub fn result_text<T>(r: &Result<T, Errno>, ok: impl FnOnce(&T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => format!("-1 {e:?} ({})", e.desc()),
    }
}

/// Why an errno probably happened, for a learner, in the run's language.
pub fn explain(e: Errno) -> String {
    let key = match e {
        Errno::EPERM | Errno::EACCES => "errno.eperm",
        Errno::ENOENT => "errno.enoent",
        Errno::EBUSY => "errno.ebusy",
        Errno::ENOMEM => "errno.enomem",
        Errno::EINVAL => "errno.einval",
        Errno::EROFS => "errno.erofs",
        Errno::ENOSPC => "errno.enospc",
        Errno::EEXIST => "errno.eexist",
        Errno::ELOOP => "errno.eloop",
        Errno::ENOTDIR => "errno.enotdir",
        _ => "errno.other",
    };
    tf(key, &[("errno", &e), ("desc", &e.desc())])
}

/// One sentence for a failed call: what hako tried, what the kernel said, why, what to do.
pub fn failure(what: &str, e: Errno) -> Error {
    Error::failed(tf(
        "err.syscall",
        &[("what", &what), ("errno", &e), ("why", &explain(e))],
    ))
}

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
