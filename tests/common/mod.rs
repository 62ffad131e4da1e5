//! Helpers for the tests that run the real binary against the real kernel, as root.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const HAKO: &str = env!("CARGO_BIN_EXE_hako");

/// These tests build containers on the real kernel: without root they fail, loudly.
pub fn require_root() {
    assert!(
        nix_is_root(),
        "this test builds a container on the real kernel and needs root: run `sudo bash tests/run.sh`"
    );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        .unwrap_or(false)
}

/// hako with a clean, English environment (as bat's tests do).
pub fn hako() -> Command {
    let mut c = Command::new(HAKO);
    c.env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LANG", "C.UTF-8");
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The UUID this run used (from the cgroup lesson's `UUID=…` line).
    pub fn uuid(&self) -> Option<String> {
        self.stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("UUID="))
            .map(str::to_string)
    }

    /// The temp rootfs this run created.
    pub fn rootfs(&self) -> Option<PathBuf> {
        self.stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("created "))
            .map(PathBuf::from)
    }

    /// Fails the test when anything this run made is still on the machine.
    pub fn assert_nothing_left(&self) {
        let mut left = vec![];
        if let Some(u) = self.uuid() {
            for h in ["memory", "cpu", "pids", "unified", ""] {
                let p = Path::new("/sys/fs/cgroup").join(h).join(&u);
                if p.exists() {
                    left.push(format!("cgroup {}", p.display()));
                }
            }
        }
        if let Some(r) = self.rootfs() {
            if r.exists() {
                left.push(format!("rootfs {}", r.display()));
            }
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            if mounts.contains(r.to_str().unwrap()) {
                left.push(format!("a mount under {}", r.display()));
            }
            for p in std::fs::read_dir("/proc").unwrap().flatten() {
                if let Ok(exe) = std::fs::read_link(p.path().join("exe")) {
                    if exe.starts_with(&r) {
                        left.push(format!("process {:?} ({})", p.file_name(), exe.display()));
                    }
                }
            }
        }
        assert!(
            left.is_empty(),
            "left behind: {left:?}\n--- stderr ---\n{}",
            self.stderr
        );
    }

    pub fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked"),
            "hako panicked:\n{}",
            self.stderr
        );
    }
}

pub fn run_with(mut cmd: Command, stdin: &str) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start hako");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).ok();
    let out: Output = child.wait_with_output().expect("wait for hako");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run(args: &[&str], stdin: &str) -> Run {
    let mut c = hako();
    c.args(args);
    run_with(c, stdin)
}

/// The value after `KEY=` on a line of the container's stdout.
pub fn marker<'a>(out: &'a str, key: &str) -> &'a str {
    let pfx = format!("{key}=");
    out.lines()
        .find_map(|l| l.strip_prefix(pfx.as_str()))
        .unwrap_or_else(|| panic!("no {key}= line in the container's output:\n{out}"))
}

pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}
