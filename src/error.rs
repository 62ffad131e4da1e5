//! hako's one error type: a sentence for the learner and the exit code it maps to.
//!
//! Every failure a learner can meet is turned into one clear sentence (what failed,
//! why it probably failed on this host, what to do) before it reaches `main`, which
//! prints it and exits with the code below. The codes follow `docker run`.

/// Exit codes, as `docker run` uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 2: the command line is wrong.
    Usage,
    /// 125: hako itself failed (a stage, a check, the setup).
    Failed,
    /// 126: the command exists in the rootfs but cannot be executed.
    CannotExec,
    /// 127: the command does not exist in the rootfs.
    NotFound,
    /// 130: the learner quit, or pressed Ctrl-C at a prompt.
    Interrupted,
    /// 143: hako got SIGTERM (or SIGHUP).
    Terminated,
}

impl Kind {
    pub fn code(self) -> i32 {
        match self {
            Kind::Usage => 2,
            Kind::Failed => 125,
            Kind::CannotExec => 126,
            Kind::NotFound => 127,
            Kind::Interrupted => 130,
            Kind::Terminated => 143,
        }
    }
}

/// The modules' own errors (`sys::SysError`, `rootfs::source::SourceError`,
/// `journal::JournalError`, …) become this one with `?` through their `From` impls.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct Error {
    pub kind: Kind,
    pub msg: String,
}

impl Error {
    pub fn new(kind: Kind, msg: impl Into<String>) -> Self {
        Error {
            kind,
            msg: msg.into(),
        }
    }
    pub fn usage(msg: impl Into<String>) -> Self {
        Self::new(Kind::Usage, msg)
    }
    pub fn failed(msg: impl Into<String>) -> Self {
        Self::new(Kind::Failed, msg)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
