//! The agent's protocol: what the guide asks (`Request`) and what the agent answers
//! (`Reply`), one JSON message per line each way over the socketpair.
//!
//! Each request gets exactly one reply, except `Exec`, which gets none when it
//! succeeds: the exec closes the socket (close-on-exec). The guide's side of this is
//! `client::Agent` (one method per request), the agent's is `serve`.

use crate::sys;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Write our own PID into these `cgroup.procs` files (what cgexec does).
    Join {
        procs: Vec<PathBuf>,
    },
    /// unshare(2) the five namespaces, then make / recursively private.
    Unshare,
    /// fork(2): the child is PID 1 of the new PID namespace and serves from now on.
    Fork,
    MountProc {
        root: PathBuf,
    },
    Devpts {
        root: PathBuf,
    },
    DevNull {
        root: PathBuf,
    },
    Hostname {
        name: String,
    },
    /// chroot + chdir + drop CAP_SYS_CHROOT.
    Chroot {
        root: PathBuf,
    },
    /// The command's standard descriptors, for those of hako's that are terminals
    /// (`ttys`): a pty opened inside (after the chroot) when stdin is one, else a pipe
    /// each. The guide's ends (the master, or the pipes' read ends) come back attached
    /// to the reply (SCM_RIGHTS).
    OpenStdio {
        ttys: [bool; 3],
    },
    /// Close every fd but 0, 1, 2, then execve. No reply on success.
    Exec {
        path: String,
        argv: Vec<String>,
        env: Vec<(String, String)>,
    },
    /// Demonstration: the article's ptmx recipe and the fixed one, each in a forked
    /// child with a throwaway mount namespace.
    PtmxDemo {
        root: PathBuf,
    },
    /// Demonstration, after `Chroot`: the classic escape, tried by a forked child
    /// that still holds CAP_SYS_CHROOT, then by one without it.
    EscapeDemo,
    /// --trace on or off from now on (off while the lessons before --from run silently).
    Trace {
        on: bool,
    },
    /// `--harden`: one confining step (see `sys::harden`).
    Harden(HardenStep),
    /// `--harden`: look at something from inside, for a check (see `sys::harden`).
    Probe(Probe),
}

/// The confining steps of `--harden`, in the order the walk asks for them.
#[derive(Debug, Serialize, Deserialize)]
pub enum HardenStep {
    /// unshare(CLONE_NEWUSER); the guide then writes the maps.
    UnshareUser,
    /// setresgid/setgroups/setresuid to 0 inside, once the maps are written.
    BecomeRoot {
        guide: i32,
    },
    /// Leave the chroot, then pivot_root into `root` and detach the old root.
    PivotRoot {
        root: PathBuf,
    },
    CgroupNs,
    Masks,
    Caps {
        keep: u64,
    },
    NoNewPrivs,
    Seccomp,
}

/// What a check looks at from inside.
#[derive(Debug, Serialize, Deserialize)]
pub enum Probe {
    /// mount(2) of a tmpfs on /tmp, in a child (undone if it worked).
    Mount,
    /// unshare(CLONE_NEWUSER), in a child.
    UnshareUser,
    /// mknod of a block device and a read of its superblock, in a child.
    Mknod { major: u64, minor: u64 },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// Done; these paths were created (for a `dir:` rootfs, removed afterwards).
    Done {
        created: Vec<PathBuf>,
    },
    Forked {
        pid: i32,
    },
    /// The command's descriptors are ready: a pty `/dev/pts/N` inside (its master
    /// attached), or pipes for these standard descriptors (their read ends attached, in
    /// this order).
    Stdio {
        pty: Option<u32>,
        pipes: Vec<i32>,
    },
    /// The step failed: errno, and the call or path it failed at.
    Failed {
        errno: i32,
        at: String,
    },
    Ptmx {
        article: Box<sys::demo::PtyOutcome>,
        fixed: Box<sys::demo::PtyOutcome>,
    },
    Escape {
        with_cap: Box<sys::demo::EscapeOutcome>,
        without: Box<sys::demo::EscapeOutcome>,
    },
    /// What a probe saw.
    Seen(sys::harden::Seen),
    /// What the masks step did to each path.
    Masked(Vec<(String, sys::harden::Masked)>),
}

impl Reply {
    /// The variant's name, for an "expected X, got Y" sentence.
    pub fn name(&self) -> &'static str {
        match self {
            Reply::Done { .. } => "Done",
            Reply::Forked { .. } => "Forked",
            Reply::Stdio { .. } => "Stdio",
            Reply::Failed { .. } => "Failed",
            Reply::Ptmx { .. } => "Ptmx",
            Reply::Escape { .. } => "Escape",
            Reply::Seen(_) => "Seen",
            Reply::Masked(_) => "Masked",
        }
    }
}

/// One message as its line on the socket (JSON, then a newline).
pub fn line<T: Serialize>(msg: &T) -> String {
    // Serialising these plain enums cannot fail (no maps with non-string keys, no
    // custom serialisers).
    let mut s = serde_json::to_string(msg).unwrap_or_default();
    s.push('\n');
    s
}

/// A message read back from its line; None when the line is not one.
pub fn parse<T: for<'de> Deserialize<'de>>(line: &str) -> Option<T> {
    serde_json::from_str(line.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::demo::{EscapeOutcome, PtyOutcome};
    use crate::sys::harden::{Masked, Seen};

    /// Each message survives its line: written, read back and written again, the
    /// same text (the types hold no float or map whose order could differ).
    fn round_trip<T: Serialize + for<'de> Deserialize<'de>>(msg: &T) -> String {
        let first = line(msg);
        assert!(first.ends_with('\n') && !first[..first.len() - 1].contains('\n'));
        let back: T = parse(&first).expect("the line reads back");
        assert_eq!(line(&back), first);
        first
    }

    #[test]
    fn every_request_round_trips() {
        let root = PathBuf::from("/tmp/hako-x/rootfs");
        let all = vec![
            Request::Join {
                procs: vec![PathBuf::from("/sys/fs/cgroup/hako/x/cgroup.procs")],
            },
            Request::Unshare,
            Request::Fork,
            Request::MountProc { root: root.clone() },
            Request::Devpts { root: root.clone() },
            Request::DevNull { root: root.clone() },
            Request::Hostname {
                name: "0b5c-uuid".into(),
            },
            Request::Chroot { root: root.clone() },
            Request::OpenStdio {
                ttys: [true, false, true],
            },
            Request::Exec {
                path: "/bin/sh".into(),
                argv: vec!["sh".into(), "-c".into(), "echo \"hi\"\n".into()],
                env: vec![("PATH".into(), "/bin".into())],
            },
            Request::PtmxDemo { root: root.clone() },
            Request::EscapeDemo,
            Request::Trace { on: true },
            Request::Harden(HardenStep::UnshareUser),
            Request::Harden(HardenStep::BecomeRoot { guide: 4242 }),
            Request::Harden(HardenStep::PivotRoot { root }),
            Request::Harden(HardenStep::CgroupNs),
            Request::Harden(HardenStep::Masks),
            Request::Harden(HardenStep::Caps { keep: 0xa80425fb }),
            Request::Harden(HardenStep::NoNewPrivs),
            Request::Harden(HardenStep::Seccomp),
            Request::Probe(Probe::Mount),
            Request::Probe(Probe::UnshareUser),
            Request::Probe(Probe::Mknod { major: 8, minor: 0 }),
        ];
        let mut lines: Vec<String> = all.iter().map(round_trip).collect();
        // No two requests share a line.
        let n = lines.len();
        lines.sort();
        lines.dedup();
        assert_eq!(lines.len(), n);
    }

    #[test]
    fn every_reply_round_trips() {
        let pty = PtyOutcome {
            failed_at: Some(("/dev/pts/3".into(), 2)),
            n: Some(3),
            slave_dev: None,
            pts_dev: 25,
            host_dev: 24,
            in_host: true,
        };
        let escape = EscapeOutcome {
            cap_eff: "000001ffffffffff".into(),
            dir: "/tmp/.hako-escape".into(),
            failed_at: None,
            root_dev: 2049,
            root_ino: 2,
            listing: vec!["bin".into(), "home".into()],
        };
        let all = vec![
            Reply::Done {
                created: vec![PathBuf::from("/r/proc")],
            },
            Reply::Forked { pid: 1234 },
            Reply::Stdio {
                pty: Some(4),
                pipes: vec![],
            },
            Reply::Stdio {
                pty: None,
                pipes: vec![1, 2],
            },
            Reply::Failed {
                errno: 1,
                at: "sethostname".into(),
            },
            Reply::Ptmx {
                article: Box::new(pty.clone()),
                fixed: Box::new(PtyOutcome::default()),
            },
            Reply::Escape {
                with_cap: Box::new(escape),
                without: Box::new(EscapeOutcome::default()),
            },
            Reply::Seen(Seen {
                errno: Some(1),
                n: 0,
                text: "EPERM".into(),
            }),
            Reply::Masked(vec![
                ("/proc/kcore".into(), Masked::Null),
                ("/proc/acpi".into(), Masked::Tmpfs),
                ("/proc/sys".into(), Masked::ReadOnly),
                ("/proc/scsi".into(), Masked::Absent),
            ]),
        ];
        let mut names = vec![];
        for r in &all {
            let l = round_trip(r);
            // The name an "expected X, got Y" sentence uses is the variant on the wire.
            assert!(l.contains(r.name()), "{l} names {}", r.name());
            names.push(r.name());
        }
        names.dedup();
        assert_eq!(names.len(), 8);
    }

    #[test]
    fn a_line_that_is_no_message_is_refused() {
        assert!(parse::<Request>("").is_none());
        assert!(parse::<Request>("{\"Nope\":1}\n").is_none());
        assert!(parse::<Reply>("\"Unshare\"\n").is_none());
        assert!(matches!(
            parse::<Request>("\"Unshare\"\n"),
            Some(Request::Unshare)
        ));
    }
}
