//! The learner's terminal stays the learner's: a program in the container tries to type
//! a command into it (ioctl TIOCSTI on fds 0, 1, 2 and on /dev/tty), from the command
//! and from the look-around shell, plain and `--harden`, with stdin a pipe and stdout a
//! terminal, and with stderr the only terminal. The learner's shell is a real
//! interactive bash in tmux: whatever reached its terminal's input would run once hako
//! ends. Inside, /proc/self/fd holds 0, 1 and 2 only.

mod common;
use common::Tmp;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A static program for inside the container: lists its descriptors (`FDS=0 1 2 `, the
/// directory's own left out), then types argv[1] and a newline with TIOCSTI on each of
/// fds 0-2 and on /dev/tty, and says how each went (`STI fd1: typed`, or the error).
const PROBE_C: &str = r#"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
static const char *sti(int fd, const char *text) {
    for (const char *c = text; *c; c++)
        if (ioctl(fd, TIOCSTI, c) != 0) return strerror(errno);
    return "typed";
}
int main(int argc, char **argv) {
    char text[512];
    snprintf(text, sizeof text, "%s\n", argc > 1 ? argv[1] : "true");
    DIR *d = opendir("/proc/self/fd");
    printf("FDS=");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) printf("%s ", e->d_name);
        closedir(d);
    }
    printf("\n");
    for (int fd = 0; fd <= 2; fd++) printf("STI fd%d: %s\n", fd, sti(fd, text));
    int t = open("/dev/tty", O_RDWR | O_NOCTTY);
    printf("STI /dev/tty: %s\n", t < 0 ? strerror(errno) : sti(t, text));
    printf("PROBED\n");
    return 0;
}
"#;

/// A busybox rootfs (`dir:`) with the probe at /probe and a /dev/tty node (so that the
/// container could open its controlling terminal, if it had the learner's).
fn rootfs(tag: &str) -> (Tmp, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("hako-tty-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = Tmp(dir.clone());
    assert!(
        Path::new("/usr/lib/x86_64-linux-gnu/libc.a").exists(),
        "a static libc is needed to build the probe: apt-get install -y libc6-dev"
    );
    let src = dir.join("probe.c");
    std::fs::write(&src, PROBE_C).unwrap();
    let probe = dir.join("probe");
    let out = Command::new("gcc")
        .args(["-static", "-O", "-o"])
        .arg(&probe)
        .arg(&src)
        .output()
        .expect("gcc is needed (build-essential)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = dir.join("root");
    for d in ["bin", "dev", "proc", "tmp", "etc", "sys"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    // Writable for root of a user namespace too (--harden), as /tmp is.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is needed (tests/run.sh installs it)");
    std::fs::copy(bb, root.join("bin/busybox")).unwrap();
    for a in [
        "sh", "ls", "cat", "grep", "echo", "true", "touch", "sleep", "id", "readlink",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::copy(&probe, root.join("probe")).unwrap();
    let st = Command::new("mknod")
        .args(["-m", "666"])
        .arg(root.join("dev/tty"))
        .args(["c", "5", "0"])
        .status()
        .unwrap();
    assert!(st.success());
    (tmp, root, probe)
}

/// A learner's terminal: an interactive bash in a tmux window of a private server.
struct Learner {
    sock: String,
}

impl Learner {
    fn start() -> Learner {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let l = Learner {
            sock: format!("hako-tty-{}-{nanos}", std::process::id()),
        };
        let cmd = "env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                   LANG=C.UTF-8 TERM=xterm-256color HOME=/root 'PS1=learner$ ' \
                   bash --norc --noprofile -i";
        let ok = l
            .tmux(&["new-session", "-d", "-x", "160", "-y", "50", cmd])
            .status
            .success();
        assert!(ok, "tmux could not start (tests/run.sh installs it)");
        l.tmux(&["set-option", "-g", "history-limit", "50000"]);
        l.wait_for(|s| s.contains("learner$"), 10);
        l
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.sock)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "0"])
                .stdout,
        )
        .into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "0"];
        a.extend_from_slice(keys);
        self.tmux(&a);
    }

    /// Types a line and Enter.
    fn line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "0", "-l", text]);
        self.keys(&["Enter"]);
    }

    fn wait_for(&self, ok: impl Fn(&str) -> bool, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the terminal never got there:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `cmd` at the learner's prompt, waits for it to end (`DONE=<status>` at the
    /// start of a line, which the typed line itself does not have), then gives whatever
    /// was typed into the terminal time to reach bash.
    fn run(&self, cmd: &str, secs: u64) -> (i32, String) {
        let before = self
            .screen()
            .lines()
            .filter(|l| l.starts_with("DONE="))
            .count();
        self.line(&format!("{cmd}; echo DONE=$?"));
        let s = self.wait_for(
            |s| s.lines().filter(|l| l.starts_with("DONE=")).count() > before,
            secs,
        );
        let code = s
            .lines()
            .filter_map(|l| l.strip_prefix("DONE="))
            .next_back()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(-1);
        std::thread::sleep(Duration::from_millis(1500));
        // What this command showed, not what earlier ones did.
        let s = self.screen();
        let from = s.rfind(&format!("{cmd}; echo DONE=$?")).unwrap_or(0);
        (code, s[from..].to_string())
    }
}

impl Drop for Learner {
    fn drop(&mut self) {
        // This test's own tmux server only (a private socket).
        let _ = self.tmux(&["kill-server"]);
    }
}

fn canary(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("hako-canary-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Whether TIOCSTI works on this kernel at all (dev.tty.legacy_tiocsti): if it does,
/// the probe run straight from the learner's shell must type its canary in, which shows
/// that the probe and the test would see an injection.
fn tiocsti_on() -> bool {
    std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}

/// The lines `STI …: result` in `text`; none of them may say `typed`.
fn assert_nothing_typed(text: &str, what: &str) {
    let sti: Vec<&str> = text.lines().filter(|l| l.starts_with("STI ")).collect();
    assert_eq!(sti.len(), 4, "{what}: the probe did not report:\n{text}");
    for l in sti {
        assert!(!l.ends_with("typed"), "{what}: {l}\n{text}");
    }
}

fn assert_fds_012(text: &str, what: &str) {
    let fds = text
        .lines()
        .find_map(|l| l.strip_prefix("FDS="))
        .unwrap_or_else(|| panic!("{what}: no FDS= line:\n{text}"));
    assert_eq!(fds.trim(), "0 1 2", "{what}: /proc/self/fd inside");
}

/// The probe as the command: with stdin a pipe and stdout a terminal, then with stderr
/// the only terminal; nothing reaches the learner's shell, and inside only 0, 1, 2.
fn command_cannot_type(harden: bool) {
    require_root();
    let tag = if harden { "h" } else { "p" };
    let (tmp, root, probe) = rootfs(tag);
    let t = Learner::start();
    let flags = if harden { "--auto --harden" } else { "--auto" };

    // The control: straight from the learner's shell, the probe types its canary in.
    if tiocsti_on() {
        let c = canary(&format!("{tag}-control"));
        t.run(&format!("{} 'touch {}'", probe.display(), c.display()), 20);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !c.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            c.exists(),
            "the control probe typed nothing:\n{}",
            t.screen()
        );
        std::fs::remove_file(&c).unwrap();
    }

    // stdin a pipe, stdout (and stderr) the terminal.
    let c1 = canary(&format!("{tag}-stdout"));
    let (code, screen) = t.run(
        &format!(
            "echo | {HAKO} {flags} --rootfs dir:{} -- /probe 'touch {}'",
            root.display(),
            c1.display()
        ),
        120,
    );
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("PROBED"), "{screen}");
    assert_nothing_typed(&screen, "stdout a terminal");
    assert_fds_012(&screen, "stdout a terminal");
    assert!(
        !c1.exists(),
        "the container typed into the learner's shell:\n{screen}"
    );

    // stderr the only terminal: stdout to a file.
    let c2 = canary(&format!("{tag}-stderr"));
    let out = tmp.0.join("out.txt");
    let (code, screen) = t.run(
        &format!(
            "echo | {HAKO} {flags} --rootfs dir:{} -- /probe 'touch {}' > {}",
            root.display(),
            c2.display(),
            out.display()
        ),
        120,
    );
    assert_eq!(code, 0, "{screen}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert_nothing_typed(&text, "stderr the only terminal");
    assert_fds_012(&text, "stderr the only terminal");
    assert!(
        !c2.exists(),
        "the container typed into the learner's shell:\n{screen}"
    );
    // The walk's own check saw the same from the host.
    assert!(screen.contains("/fd: what the command holds"), "{screen}");
    assert!(!screen.contains('✘'), "{screen}");
    drop(t);
    let _ = std::fs::remove_file(&c1);
    let _ = std::fs::remove_file(&c2);
}

#[test]
#[ignore = "needs root"]
fn the_command_cannot_type_into_the_learners_terminal() {
    command_cannot_type(false);
}

#[test]
#[ignore = "needs root"]
fn the_hardened_command_cannot_type_into_the_learners_terminal() {
    command_cannot_type(true);
}

/// Enter at each prompt of the walk until lesson `id` asks what to do.
fn walk_to(t: &Learner, id: &str) {
    let head = format!("({id})");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = t.screen();
        let at_prompt = s.trim_end().ends_with("Quit (clean up and exit)")
            || s.trim_end().ends_with("continue…");
        if let Some(i) = s.rfind(&head) {
            if at_prompt && s[i..].contains("What now?") {
                return;
            }
        }
        if at_prompt {
            t.keys(&["Enter"]);
            while t.screen() == s {
                assert!(Instant::now() < deadline, "stuck:\n{s}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        assert!(Instant::now() < deadline, "never at {id}:\n{s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The look-around shell, once the command is stopped at its exec: it runs the probe,
/// which can type into the shell's own terminal (a pty of the container's) but nothing
/// reaches the learner's; and it is confined as the command: the cgroup, no
/// CAP_SYS_CHROOT, and with --harden the user namespace, no_new_privs and seccomp.
fn look_around_cannot_type(harden: bool) {
    require_root();
    let tag = if harden { "lh" } else { "lp" };
    let (_tmp, root, _) = rootfs(tag);
    let t = Learner::start();
    let flags = if harden { "--harden" } else { "" };
    let host = canary(&format!("{tag}-look"));
    let name = host.file_name().unwrap().to_string_lossy().to_string();
    t.line(&format!(
        "{HAKO} {flags} --rootfs dir:{} -- /bin/sh; echo DONE=$?",
        root.display()
    ));
    walk_to(&t, "shell");
    // "Look around" is the item before Quit.
    t.keys(&["Up", "Up", "Enter"]);
    t.wait_for(|s| s.contains("(hako: "), 20);
    // Inside, /tmp is the rootfs's: the probe's text, typed into the look-around shell's
    // own terminal, touches <rootfs>/tmp/NAME; typed into the learner's, /tmp/NAME.
    t.line(&format!(
        "/probe 'touch /tmp/{name}'; grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp)' /proc/self/status; echo CG=$(grep -c \"$UUID\" /proc/self/cgroup) UP=$(grep -c '/[.][.]' /proc/self/cgroup) UIDMAP=$(cat /proc/self/uid_map)"
    ));
    let s = t.wait_for(|s| s.lines().any(|l| l.starts_with("CG=")), 20);
    let field = |k: &str| {
        s.lines()
            .filter_map(|l| l.strip_prefix(k))
            .next_back()
            .unwrap_or_else(|| panic!("no {k} line:\n{s}"))
            .trim()
            .to_string()
    };
    let bnd = u64::from_str_radix(&field("CapBnd:"), 16).unwrap();
    assert_eq!(
        bnd & (1 << 18),
        0,
        "CAP_SYS_CHROOT in the look-around shell:\n{s}"
    );
    // In the container's cgroups: named by the UUID, or with --harden (a cgroup
    // namespace rooted there) seen as `/`, never above it (`/..`).
    let cg = field("CG=");
    assert!(cg.contains("UP=0 "), "above the container's cgroup:\n{s}");
    if !harden {
        assert!(!cg.starts_with('0'), "not in the container's cgroup:\n{s}");
    }
    if harden {
        assert_eq!(field("NoNewPrivs:"), "1", "{s}");
        assert_eq!(field("Seccomp:"), "2", "{s}");
        assert_eq!(field("CapEff:"), "00000000a80025fb", "{s}");
        let map: Vec<&str> = cg
            .split("UIDMAP=")
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(map, ["0", "100000", "65536"], "{s}");
    }
    if tiocsti_on() {
        // Its own terminal is the container's: there the text was typed, and ran inside.
        let inside = root.join("tmp").join(&name);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !inside.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            inside.exists(),
            "the probe typed nothing, even in its own terminal:\n{s}"
        );
    }
    t.line("exit");
    t.wait_for(|s| s.contains("Back to the walk"), 20);
    // Quit the walk (the last item), back to the learner's shell.
    t.wait_for(|s| s.trim_end().ends_with("Quit (clean up and exit)"), 20);
    t.keys(&["Up", "Enter"]);
    let s = t.wait_for(|s| s.lines().any(|l| l.starts_with("DONE=")), 60);
    assert!(s.lines().any(|l| l == "DONE=130"), "{s}");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !host.exists(),
        "the look-around shell typed into the learner's shell:\n{}",
        t.screen()
    );
}

#[test]
#[ignore = "needs root"]
fn the_look_around_shell_cannot_type_into_the_learners_terminal() {
    look_around_cannot_type(false);
}

#[test]
#[ignore = "needs root"]
fn the_hardened_look_around_shell_cannot_type_into_the_learners_terminal() {
    look_around_cannot_type(true);
}
