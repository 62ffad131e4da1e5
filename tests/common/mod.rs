//! Helpers for the tests that run the real binary against the real kernel, as root.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

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
        .env("LANG", "C.UTF-8")
        // No learner's saved practice (`hako list` marks what they did by hand): a
        // directory that does not exist, unless a test gives its own.
        .env("HAKO_STATE_DIR", "/nonexistent/hako-test-state");
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

/// A real terminal for hako: a tmux session on a private server, as a learner's
/// terminal would be (send-keys to type, capture-pane to read the screen).
pub struct Tmux {
    sock: String,
}

impl Tmux {
    /// Starts `hako ARGS` in a new `cols`×`rows` window; the shell prints `EXIT=<code>`
    /// when hako ends.
    pub fn start(args: &str, cols: u16, rows: u16) -> Tmux {
        Self::start_env("", args, cols, rows)
    }

    /// `start`, with more `NAME=value` words for env(1) before hako (e.g. `NO_COLOR=1`).
    pub fn start_env(env: &str, args: &str, cols: u16, rows: u16) -> Tmux {
        let sock = format!("hako-test-{}-{}", std::process::id(), uuid_ish());
        let t = Tmux { sock };
        let cmd = format!(
            "env LANG=C.UTF-8 TERM=xterm-256color {env} {HAKO} {args}; echo EXIT=$?; sleep 600"
        );
        let ok = t
            .tmux(&[
                "new-session",
                "-d",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
                &cmd,
            ])
            .status
            .success();
        assert!(
            ok,
            "tmux could not start (is tmux installed? tests/run.sh installs it)"
        );
        t.tmux(&["set-option", "-g", "history-limit", "50000"]);
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.sock)
            .args(args)
            .output()
            .expect("run tmux")
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "0"];
        a.extend_from_slice(keys);
        self.tmux(&a);
    }

    /// Types text literally (no key names).
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "0", "-l", text]);
    }

    /// Everything the window showed, history included, wrapped lines joined.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "0"])
                .stdout,
        )
        .into_owned()
    }

    /// The visible screen with its colours and attributes as escape codes.
    pub fn screen_styled(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-e", "-t", "0"]).stdout)
            .into_owned()
    }

    /// Waits until the screen holds `text` (after `from`, if given); returns the screen.
    pub fn wait_for(&self, text: &str, secs: u64) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the terminal never showed {text:?}:\n{s}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Waits for hako to end; returns its exit code and the whole screen.
    pub fn exit(&self, secs: u64) -> Run {
        let s = self.wait_for("EXIT=", secs);
        let code = s
            .lines()
            .find_map(|l| l.trim().strip_prefix("EXIT="))
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(-1);
        Run {
            code,
            stdout: String::new(),
            stderr: s,
        }
    }

    /// The PID of hako in the window.
    pub fn hako_pid(&self) -> u32 {
        let out = self.tmux(&["list-panes", "-t", "0", "-F", "#{pane_pid}"]);
        let shell: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let kids = Command::new("pgrep")
            .args(["-P", &shell.to_string()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&kids.stdout)
            .lines()
            .find_map(|l| l.trim().parse().ok())
            .expect("hako is running in the window")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // This test's own tmux server only (a private socket), by its own command.
        let _ = self.tmux(&["kill-server"]);
    }
}

fn uuid_ish() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

/// Starts hako and reads its stderr until `marker` appears; returns the child and what
/// it said so far.
pub fn start_until(args: &[&str], env: &[(&str, &str)], marker: &str) -> (Child, String) {
    let mut c = hako();
    c.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "hako ended before {marker}:\n{said}"
        );
        said.push_str(&line);
        if line.contains(marker) {
            break;
        }
    }
    // Keep draining stderr in the background so hako never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
    });
    (child, said)
}

pub fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

/// A scratch directory of a test's own under `$TMPDIR`, unique to this process and call,
/// removed on drop.
pub struct Tmp(pub PathBuf);

impl Tmp {
    pub fn new(tag: &str) -> Tmp {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "hako-test-{tag}-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn s(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
