//! The one reader of `/proc/PID/status` and `/proc/PID/stat` (proc(5)). Every layer that
//! wants a process's capability sets, its no_new_privs bit, its start time or its
//! scheduling policy asks here, so each file is parsed in one place.

use std::path::Path;

/// Which process: a PID, or the caller itself (`/proc/self`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Pid(i32),
    Me,
}

impl Who {
    fn dir(self) -> String {
        match self {
            Who::Pid(p) => format!("/proc/{p}"),
            Who::Me => "/proc/self".to_string(),
        }
    }
}

/// `/proc/PID/status`: `Name:\tvalue` lines, values with their whitespace runs made one
/// space (`Uid:\t0\t0\t0\t0` reads `0 0 0 0`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub lines: Vec<(String, String)>,
}

impl Status {
    /// Reads `/proc/PID/status`; `None` when the process is gone or unreadable.
    pub fn of(who: Who) -> Option<Status> {
        let text = std::fs::read_to_string(Path::new(&who.dir()).join("status")).ok()?;
        Some(Status::parse(&text))
    }

    pub fn parse(text: &str) -> Status {
        Status {
            lines: text
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| {
                    let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
                    (k.to_string(), v)
                })
                .collect(),
        }
    }

    /// The value of field `name` (`CapBnd`, `NoNewPrivs`, `Uid`…).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A hexadecimal field (the `Cap*` sets) as a number.
    pub fn hex(&self, name: &str) -> Option<u64> {
        u64::from_str_radix(self.field(name)?, 16).ok()
    }

    /// The lines whose name satisfies `keep`, in the file's order.
    pub fn select(&self, keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        self.lines
            .iter()
            .filter(|(k, _)| keep(k))
            .cloned()
            .collect()
    }
}

/// One field of `/proc/PID/status` (empty when absent or unreadable).
pub fn status_field(who: Who, name: &str) -> String {
    Status::of(who)
        .and_then(|s| s.field(name).map(str::to_string))
        .unwrap_or_default()
}

/// `/proc/PID/stat`: one line of space-separated fields, numbered from 1 as proc(5) does.
/// The command name (field 2) may hold spaces and parentheses, so fields 3 onwards are
/// counted after its last `)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stat {
    /// Field 2, without its parentheses.
    pub comm: String,
    /// Fields 3 onwards.
    rest: Vec<String>,
}

impl Stat {
    /// Reads `/proc/PID/stat`; `None` when the process is gone or the line is malformed.
    pub fn of(who: Who) -> Option<Stat> {
        let text = std::fs::read_to_string(Path::new(&who.dir()).join("stat")).ok()?;
        Stat::parse(&text)
    }

    pub fn parse(line: &str) -> Option<Stat> {
        let (head, rest) = line.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_string();
        Some(Stat {
            comm,
            rest: rest.split_whitespace().map(str::to_string).collect(),
        })
    }

    /// Field `n` (proc(5)'s numbering; 3 or more).
    pub fn field(&self, n: usize) -> Option<&str> {
        self.rest.get(n.checked_sub(3)?).map(String::as_str)
    }

    fn number(&self, n: usize) -> Option<u64> {
        self.field(n)?.parse().ok()
    }

    /// Field 3: R, S, D, Z (zombie), X (dead)…
    pub fn state(&self) -> Option<char> {
        self.field(3)?.chars().next()
    }

    /// Whether the process has ended (a zombie waiting to be reaped, or dead).
    pub fn ended(&self) -> bool {
        matches!(self.state(), Some('Z' | 'X'))
    }

    /// Field 4: the parent's PID.
    pub fn ppid(&self) -> Option<i32> {
        self.field(4)?.parse().ok()
    }

    /// Field 9: the kernel's PF_* flags.
    pub fn flags(&self) -> Option<u64> {
        self.number(9)
    }

    /// Field 22: the start time, in clock ticks since boot.
    pub fn start_time(&self) -> Option<u64> {
        self.number(22)
    }

    /// Field 41: the scheduling policy (1 SCHED_FIFO, 2 SCHED_RR, 6 SCHED_DEADLINE…).
    pub fn policy(&self) -> Option<u32> {
        self.field(41)?.parse().ok()
    }
}

/// Every process the caller's `/proc` lists (getdents64(2) of `/proc`, proc(5)), in order.
pub fn all_pids() -> Vec<i32> {
    let mut v: Vec<i32> = super::files::names(Path::new("/proc"))
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

/// The PIDs a `cgroup.procs` (or v1 `tasks`) file lists, as the caller's PID namespace
/// numbers them (cgroups(7)); empty when it cannot be read.
pub fn procs_in(file: &Path) -> Vec<i32> {
    super::files::read_text(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_read_with_one_space() {
        let s = Status::parse(
            "Name:\tsh\nUid:\t0\t0\t0\t0\nCapBnd:\t000001ffffffffff\nNoNewPrivs:\t1\n",
        );
        assert_eq!(s.field("Uid"), Some("0 0 0 0"));
        assert_eq!(s.hex("CapBnd"), Some(0x1ff_ffff_ffff));
        assert_eq!(s.field("NoNewPrivs"), Some("1"));
        assert_eq!(s.field("Seccomp"), None);
        assert_eq!(s.select(|k| k.starts_with("Cap")).len(), 1);
    }

    #[test]
    fn stat_fields_count_after_the_command_name() {
        // A name with spaces and a parenthesis must not shift the fields.
        let mut line = String::from("42 (a b) c) S 1");
        for n in 5..=45 {
            line.push_str(&format!(" {n}"));
        }
        let st = Stat::parse(&line).unwrap();
        assert_eq!(st.comm, "a b) c");
        assert_eq!(st.state(), Some('S'));
        assert_eq!(st.field(4), Some("1"));
        assert_eq!(st.ppid(), Some(1));
        assert_eq!(st.flags(), Some(9));
        assert_eq!(st.start_time(), Some(22));
        assert_eq!(st.policy(), Some(41));
        assert!(!st.ended());
        assert!(Stat::parse("no parenthesis").is_none());
    }

    #[test]
    fn this_process_reads() {
        let me = Stat::of(Who::Me).unwrap();
        assert!(me.start_time().is_some());
        assert!(Status::of(Who::Me).unwrap().hex("CapEff").is_some());
        assert_eq!(
            status_field(Who::Pid(std::process::id() as i32), "Pid"),
            std::process::id().to_string()
        );
    }
}

/// One descriptor a process holds, as `/proc/PID/fd/N` shows it (proc(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fd {
    pub n: i32,
    /// Where the link points (a path, `pipe:[…]`, `socket:[…]`…); None when unreadable.
    pub target: Option<std::path::PathBuf>,
    /// For a terminal (a character device with a tty or pty major number, devices(7)):
    /// the device its node sits on (`st_dev`), which tells devpts instances apart.
    pub tty_on: Option<u64>,
}

/// The descriptors `pid` holds, in order (readdir and readlink of `/proc/PID/fd`, stat of
/// each: a terminal is told by its major number).
pub fn fds(pid: i32) -> Vec<Fd> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let dir = std::path::PathBuf::from(format!("/proc/{pid}/fd"));
    let mut fds: Vec<Fd> = super::files::names(&dir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| {
            let n: i32 = name.parse().ok()?;
            let path = dir.join(&name);
            let tty_on = std::fs::metadata(&path).ok().and_then(|m| {
                let major = super::files::dev_major(m.rdev());
                (m.file_type().is_char_device() && matches!(major, 4 | 5 | 136..=143))
                    .then(|| m.dev())
            });
            Some(Fd {
                n,
                target: super::files::read_link(&path),
                tty_on,
            })
        })
        .collect();
    fds.sort_by_key(|f| f.n);
    fds
}
