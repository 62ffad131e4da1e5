//! sys's error type: which call failed, on what, and the errno the kernel gave.
//!
//! A [`SysError`] keeps the facts; its `Display` is the learner's sentence (the
//! catalogs' `err.syscall` with the errno's explanation), and it becomes hako's
//! [`Error`](crate::error::Error) (exit code 125) at the boundary with `?`.

use crate::ui::i18n::tf;
use nix::errno::Errno;
use std::fmt;

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
pub fn failure(what: &str, e: Errno) -> crate::error::Error {
    SysError::new(what, e).into()
}

/// A kernel call that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysError {
    /// The call as a learner would type it, e.g. `chroot(".")` or `mount --make-rslave .`.
    pub call: String,
    /// The path or object it acted on, when the call alone does not say it.
    pub what: Option<String>,
    /// What the kernel answered.
    pub errno: Errno,
}

impl SysError {
    pub fn new(call: impl Into<String>, errno: Errno) -> SysError {
        SysError {
            call: call.into(),
            what: None,
            errno,
        }
    }

    /// The same call, on `what` (a path, a file name).
    pub fn on(call: impl Into<String>, what: impl Into<String>, errno: Errno) -> SysError {
        SysError {
            call: call.into(),
            what: Some(what.into()),
            errno,
        }
    }

    /// A `map_err` adapter: `r.map_err(SysError::at("chroot(\".\")"))`.
    pub fn at(call: &str) -> impl Fn(Errno) -> SysError + '_ {
        move |e| SysError::new(call, e)
    }

    /// Where it failed, in one string: the object if there is one, else the call
    /// (what the agent's `Failed { at }` reply and the demos' `failed_at` carry).
    pub fn place(&self) -> String {
        self.what.clone().unwrap_or_else(|| self.call.clone())
    }

    /// The pair the agent's protocol carries today: where, and the errno.
    pub fn into_parts(self) -> (String, Errno) {
        (self.place(), self.errno)
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.what {
            Some(w) => format!("{} ({})", self.call, crate::ui::sanitize::clean(w)),
            None => self.call.clone(),
        };
        f.write_str(&tf(
            "err.syscall",
            &[
                ("what", &what),
                ("errno", &self.errno),
                ("why", &explain(self.errno)),
            ],
        ))
    }
}

impl std::error::Error for SysError {}

impl From<SysError> for crate::error::Error {
    fn from(e: SysError) -> Self {
        crate::error::Error::failed(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_call_and_the_errno() {
        let e = SysError::at("chroot(\".\")")(Errno::EPERM);
        assert_eq!(e.call, "chroot(\".\")");
        assert_eq!(e.errno, Errno::EPERM);
        assert_eq!(e.place(), "chroot(\".\")");
        let on = SysError::on("mount", "/tmp/x\x1b[2J", Errno::ENOENT);
        assert_eq!(
            on.clone().into_parts(),
            ("/tmp/x\x1b[2J".into(), Errno::ENOENT)
        );
        // The sentence names the call and the errno, and carries no raw escape.
        let s = on.to_string();
        assert!(s.contains("mount") && s.contains("ENOENT"), "{s}");
        assert!(!s.contains('\x1b'), "{s}");
    }

    #[test]
    fn becomes_hakos_error_with_code_125() {
        let e: crate::error::Error = SysError::new("rmdir", Errno::EBUSY).into();
        assert_eq!(e.kind.code(), 125);
        assert!(e.msg.contains("EBUSY"), "{}", e.msg);
    }
}
