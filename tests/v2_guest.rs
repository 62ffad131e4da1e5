//! cgroup v2, for real, in a QEMU guest.
//!
//! The development and CI machines are cgroup v1 hybrid, so hako's v2 path is proven in a
//! guest that boots Debian's own kernel under QEMU (TCG, no KVM) with cgroup2 on
//! /sys/fs/cgroup and an empty root `cgroup.subtree_control`. One boot runs
//! `tests/qemu/guest-walk.sh`: `hako list`, then the whole walk with `hako --auto` and a
//! verification script on the container shell's stdin, then a look at what was left behind;
//! then the walk with `--demos` (the OOM kill in `memory.events`, the throttling in
//! `cpu.stat`); then `--pids 20 --demos` (pids.max in the one v2 cgroup, the fork loop refused
//! with EAGAIN, `pids.events max` rising, a shell inside stopped below the limit); then hako inside two containers' cgroup namespaces (controllers not
//! delegated; a root with processes, where enabling them fails with EBUSY), which preflight
//! must recognise and explain.
//! Everything is read back from markers in the serial log (QEMU exits 0 whatever the guest did).
//!
//! Needs root and `tests/qemu/prepare.sh` run beforehand (QEMU, busybox-static, cpio, the guest
//! kernel). Without either it fails, never skips.
//!
//! The log parsing and the checks are plain functions, unit-tested below on
//! `tests/qemu/sample-serial.log`, so they can be worked on without booting anything.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const HAKO: &str = env!("CARGO_BIN_EXE_hako");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

// ───────────────────────────── serial log ─────────────────────────────

/// What the guest printed between `HAKO-GUEST-START` and `HAKO-GUEST-END`: top-level
/// `KEY=value` lines, and sections captured between `NAME-BEGIN` and `NAME-END`.
#[derive(Debug, Default)]
struct GuestLog {
    top: Vec<String>,
    sections: Vec<(String, Vec<String>)>,
}

impl GuestLog {
    fn parse(serial: &str) -> Result<GuestLog, String> {
        let lines: Vec<&str> = serial.lines().map(|l| l.trim_end_matches('\r')).collect();
        let start = lines
            .iter()
            .position(|l| *l == "HAKO-GUEST-START")
            .ok_or("the guest never printed HAKO-GUEST-START: the kernel or its /init failed")?;
        let end = lines[start..]
            .iter()
            .position(|l| *l == "HAKO-GUEST-END")
            .map(|i| start + i)
            .ok_or("the guest never printed HAKO-GUEST-END: it crashed, panicked or hung")?;
        let mut log = GuestLog::default();
        let mut open: Option<(String, Vec<String>)> = None;
        for line in &lines[start + 1..end] {
            match open.take() {
                Some((name, mut body)) => {
                    if line.len() == name.len() + 4
                        && line.starts_with(&name)
                        && line.ends_with("-END")
                    {
                        log.sections.push((name, body));
                    } else {
                        body.push(line.to_string());
                        open = Some((name, body));
                    }
                }
                None => match line.strip_suffix("-BEGIN") {
                    Some(name) if !name.is_empty() && !name.contains(['=', ' ']) => {
                        open = Some((name.to_string(), Vec::new()));
                    }
                    _ => log.top.push(line.to_string()),
                },
            }
        }
        if let Some((name, _)) = open {
            return Err(format!("section {name}-BEGIN has no {name}-END"));
        }
        Ok(log)
    }

    /// The value of the first top-level `KEY=value` line.
    fn value(&self, key: &str) -> Option<&str> {
        find_value(&self.top, key)
    }

    fn section(&self, name: &str) -> Option<&[String]> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, body)| body.as_slice())
    }

    /// The value of the first `KEY=value` line inside a section.
    fn section_value(&self, name: &str, key: &str) -> Option<&str> {
        self.section(name).and_then(|body| find_value(body, key))
    }
}

fn find_value<'a>(lines: &'a [String], key: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

/// `[a b c]` → `a b c` (the guest brackets values that may be empty).
fn bracketed(v: &str) -> &str {
    v.strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(v)
}

/// 8-4-4-4-12 lowercase or uppercase hex digits.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A random (version 4, RFC 4122 variant) UUID, as `uuid::Uuid::new_v4()` makes.
fn is_uuid_v4(s: &str) -> bool {
    is_uuid(s)
        && s.as_bytes()[14] == b'4'
        && matches!(s.as_bytes()[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B')
}

// ───────────────────────────── checks ─────────────────────────────

/// One item of the walk, with the evidence (passed) or the reason (failed).
#[derive(Debug)]
struct Check {
    id: &'static str,
    item: &'static str,
    ok: bool,
    detail: String,
}

fn check(id: &'static str, item: &'static str, result: Result<String, String>) -> Check {
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    Check {
        id,
        item,
        ok,
        detail,
    }
}

fn need<'a>(v: Option<&'a str>, what: &str) -> Result<&'a str, String> {
    v.ok_or_else(|| format!("no {what} line in the serial log"))
}

/// Every check of the guest walk. Each one stands alone, so a report shows all that fail.
fn check_walk(log: &GuestLog) -> Vec<Check> {
    let mut c = Vec::new();

    // The guest itself: a cgroup v2 host where nothing is enabled yet.
    c.push(check(
        "v2-mounted",
        "guest: cgroup2 is mounted on /sys/fs/cgroup",
        {
            need(log.value("CGROUP-MOUNT"), "CGROUP-MOUNT").and_then(|m| {
                if m.starts_with("cgroup2 /sys/fs/cgroup cgroup2 ") {
                    Ok(m.to_string())
                } else {
                    Err(format!("/proc/mounts says {m:?}"))
                }
            })
        },
    ));
    c.push(check(
        "subtree-before",
        "guest: root cgroup.subtree_control is empty before hako runs",
        need(log.value("SUBTREE-BEFORE"), "SUBTREE-BEFORE").and_then(|v| match bracketed(v) {
            "" => Ok("empty".into()),
            s => Err(format!(
                "it already holds {s:?}: the guest's /init must not enable controllers"
            )),
        }),
    ));
    c.push(check(
        "list",
        "hako list runs in the guest (exit 0, names the preflight lesson)",
        {
            need(log.value("HAKO-LIST-EXIT"), "HAKO-LIST-EXIT").and_then(|status| {
                let text: Vec<&String> = ["HAKO-LIST-STDOUT", "HAKO-LIST-STDERR"]
                    .iter()
                    .flat_map(|s| log.section(s).unwrap_or(&[]))
                    .collect();
                if status != "0" {
                    Err(format!("exit status {status}"))
                } else if !text.iter().any(|l| l.contains("preflight")) {
                    Err(format!(
                        "exit 0 but it printed {} line(s), none naming `preflight`",
                        text.len()
                    ))
                } else {
                    Ok(format!("exit 0, {} line(s)", text.len()))
                }
            })
        },
    ));

    // Inside the container.
    c.push(check(
        "exit-7",
        "hako --auto exits with the shell's status 7",
        need(log.value("HAKO-EXIT"), "HAKO-EXIT").and_then(|v| match v {
            "7" => Ok("7".into()),
            "143" => Err("143: killed by the guest's 150 s timeout (the walk hung)".into()),
            s => Err(format!("exit status {s}")),
        }),
    ));
    let stdout_value = |key: &str| log.section_value("HAKO-STDOUT", key);
    let cgroup_uuid: Result<&str, String> =
        need(stdout_value("IN-CGROUP"), "IN-CGROUP (hako's stdout)").and_then(|v| {
            match v.strip_prefix("0::/") {
                Some(u) if is_uuid_v4(u) => Ok(u),
                _ => Err(format!(
                    "/proc/self/cgroup inside is {v:?}, not 0::/<UUID v4>"
                )),
            }
        });
    c.push(check(
        "in-cgroup",
        "inside: /proc/self/cgroup is 0::/<UUID v4>",
        cgroup_uuid.clone().map(|u| format!("0::/{u}")),
    ));
    c.push(check(
        "in-pid",
        "inside: the shell is PID 1",
        need(stdout_value("IN-PID"), "IN-PID (hako's stdout)").and_then(|v| match v {
            "1" => Ok("$$ = 1".into()),
            s => Err(format!("$$ inside is {s}")),
        }),
    ));
    c.push(check(
        "in-hostname",
        "inside: hostname is the cgroup's UUID",
        need(stdout_value("IN-HOSTNAME"), "IN-HOSTNAME (hako's stdout)").and_then(|h| {
            match &cgroup_uuid {
                Ok(u) if h == *u => Ok(h.to_string()),
                Ok(u) => Err(format!("hostname inside is {h:?}, the cgroup is {u}")),
                Err(_) if is_uuid_v4(h) => Err(format!(
                    "hostname {h} is a UUID, but there is no cgroup UUID to match"
                )),
                Err(_) => Err(format!("hostname inside is {h:?}, not a UUID")),
            }
        }),
    ));
    c.push(check(
        "in-alloc",
        "inside: a 50 MB allocation (dd bs=50M) fails under the memory limit",
        need(stdout_value("IN-ALLOC"), "IN-ALLOC (hako's stdout)").and_then(|v| {
            if stdout_value("IN-DEVZERO") == Some("mknod-failed") {
                Err("no /dev/zero inside and mknod failed: dd's failure proves nothing".into())
            } else if v == "0" {
                Err("dd exited 0: 50 MB fit in the container".into())
            } else {
                Ok(format!("dd exited {v}"))
            }
        }),
    ));

    // hako's own words, on stderr.
    let stderr = log.section("HAKO-STDERR").unwrap_or(&[]);
    let text = stderr.join("\n");
    // Lesson prose is the same on every host and may compare v1 with v2 by name. It is printed
    // as paragraphs at the left margin (rendered from Markdown: its backticks are gone), while
    // what belongs to *this* host (the shell equivalents, what hako did, the checks, the
    // summary) is indented under its heading: judge that part, and within it only what is not
    // in backticks (a shell comment may quote the article's command).
    let host = host_specific(stderr);
    let has = |needle: &'static str| -> Result<String, String> {
        if stderr.is_empty() {
            Err("hako's stderr is empty".into())
        } else if let Some(l) = host.iter().find(|l| l.contains(needle)) {
            Ok(l.trim().to_string())
        } else if text.contains(needle) {
            Err(format!(
                "{needle:?} is only in backticked prose, in no command, action or check"
            ))
        } else {
            Err(format!("{needle:?} is not in hako's stderr"))
        }
    };
    let lacks = |needle: &'static str| -> Result<String, String> {
        if stderr.is_empty() {
            Err("hako's stderr is empty: nothing to judge".into())
        } else if let Some(i) = host.iter().position(|l| l.contains(needle)) {
            Err(format!("a v1 file on a v2 host: {:?}", stderr[i].trim()))
        } else {
            Ok(format!("no {needle:?} outside backticked prose"))
        }
    };
    c.push(check(
        "memory.max",
        "stderr shows memory.max (in a command, action or check)",
        has("memory.max"),
    ));
    c.push(check(
        "memory.swap.max",
        "stderr shows memory.swap.max (in a command, action or check)",
        has("memory.swap.max"),
    ));
    c.push(check(
        "cpu.max",
        "stderr shows cpu.max (in a command, action or check)",
        has("cpu.max"),
    ));
    c.push(check(
        "no-v1-memory",
        "stderr never shows memory.limit_in_bytes (v1) outside `backticked` prose",
        lacks("memory.limit_in_bytes"),
    ));
    c.push(check(
        "no-v1-cpu",
        "stderr never shows cfs_quota_us (v1) outside `backticked` prose",
        lacks("cfs_quota_us"),
    ));
    c.push(check(
        "cgset",
        "stderr shows the v2 shell equivalent `cgset -r memory.max=`",
        has("cgset -r memory.max="),
    ));
    c.push(check(
        "enable",
        "stderr says it enabled +memory in cgroup.subtree_control",
        has("+memory"),
    ));
    c.push(check(
        "left-on",
        "stderr says it left the controllers enabled",
        {
            // e.g. "left the controllers memory cpu enabled in /sys/fs/cgroup/cgroup.subtree_control"
            let line = host.iter().find(|l| {
                let l = l.to_lowercase();
                ["left", "leave", "leaving", "kept", "still enabled"]
                    .iter()
                    .any(|w| l.contains(w))
                    && ["memory", "controller"].iter().any(|w| l.contains(w))
                    && l.contains("subtree_control")
            });
            match line {
                Some(l) => Ok(l.trim().to_string()),
                None if stderr.is_empty() => Err("hako's stderr is empty".into()),
                None => Err(
                    "no line saying it left the controllers on: `left`, `leave` or \
                         `kept`, with `memory` or `controller`, and `subtree_control`"
                        .into(),
                ),
            }
        },
    ));
    c.push(check(
        "oom_kill",
        "stderr reports oom_kill (memory.events in the summary)",
        has("oom_kill"),
    ));

    // What is left on the guest after hako exits.
    c.push(check(
        "no-cgroup-left",
        "after: no UUID-named (or hako*) cgroup under /sys/fs/cgroup",
        {
            match log.section("CGROUP-LS-AFTER") {
                None => Err("no CGROUP-LS-AFTER section in the serial log".into()),
                Some(ls) => {
                    let left: Vec<&String> = ls
                        .iter()
                        .filter(|n| is_uuid(n) || n.starts_with("hako"))
                        .collect();
                    if left.is_empty() {
                        Ok(format!("{} entries, none a cgroup of hako's", ls.len()))
                    } else {
                        Err(format!("left behind: {left:?}"))
                    }
                }
            }
        },
    ));
    c.push(check(
        "subtree-after",
        "after: root cgroup.subtree_control still has memory and cpu",
        need(log.value("SUBTREE-AFTER"), "SUBTREE-AFTER").and_then(|v| {
            let on: Vec<&str> = bracketed(v).split_whitespace().collect();
            let missing: Vec<&str> = ["memory", "cpu"]
                .into_iter()
                .filter(|c| !on.contains(c))
                .collect();
            if missing.is_empty() {
                Ok(bracketed(v).to_string())
            } else {
                Err(format!(
                    "it holds {:?}: {} missing",
                    bracketed(v),
                    missing.join(" and ")
                ))
            }
        }),
    ));
    let empty_section = |name: &str, what: &str| -> Result<String, String> {
        match log.section(name) {
            None => Err(format!("no {name} section in the serial log")),
            Some([]) => Ok("none".into()),
            Some(lines) => Err(format!("{what}: {lines:?}")),
        }
    };
    c.push(check(
        "no-tmp-left",
        "after: nothing left in /tmp (the temporary rootfs is gone)",
        empty_section("TMP-AFTER", "left in /tmp"),
    ));
    c.push(check(
        "no-mount-left",
        "after: no mount left under /tmp or /run/hako",
        empty_section("MOUNTS-AFTER", "still mounted"),
    ));
    c.push(check(
        "no-process-left",
        "after: no hako process left running",
        empty_section("HAKO-PROCS-AFTER", "still running"),
    ));
    c
}

/// Lines joined with single spaces: hako wraps its sentences to the terminal's width, so a
/// phrase may be cut across lines.
fn joined(lines: &[String]) -> String {
    lines
        .iter()
        .flat_map(|l| l.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A check row of hako's, passed (`[ok]` or `✔`) or failed.
fn row_passed(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("[ok]") || l.starts_with('✔')
}

/// The demonstration's row for counter `name` (e.g. `memory.events oom_kill`), as
/// (before, after, row passed): `[ok] memory.events oom_kill   0 → 1  (…)`.
fn counter_row(lines: &[String], name: &str) -> Result<(u64, u64, bool), String> {
    // The arrow is `→`, or `->` where the locale is not UTF-8 (the guest's).
    let arrow = |l: &str| {
        l.find('→')
            .map(|i| (i, '→'.len_utf8()))
            .or(l.find("->").map(|i| (i, 2)))
    };
    let line = lines
        .iter()
        .find(|l| l.contains(name) && arrow(l).is_some())
        .ok_or_else(|| format!("no `{name} A → B` row in the demonstration"))?;
    let rest = line.split_once(name).unwrap().1;
    let (i, n) = arrow(rest).ok_or_else(|| format!("no arrow after {name} in {line:?}"))?;
    let (before, after) = (&rest[..i], &rest[i + n..]);
    let num = |s: Option<&str>| s.and_then(|v| v.parse::<u64>().ok());
    match (
        num(before.split_whitespace().last()),
        num(after.split_whitespace().next()),
    ) {
        (Some(a), Some(b)) => Ok((a, b, row_passed(line))),
        _ => Err(format!("cannot read two numbers in {:?}", line.trim())),
    }
}

/// The walk with `--demos`: the limits lesson's OOM kill must show in `memory.events` and its
/// busy loop's throttling in `cpu.stat`, by their v2 names.
fn check_demos(log: &GuestLog) -> Vec<Check> {
    let mut c = Vec::new();
    let stderr = log.section("HAKO-DEMOS-STDERR");
    let lines: &[String] = stderr.unwrap_or(&[]);
    let missing = || -> String {
        match stderr {
            None => "no HAKO-DEMOS-STDERR section in the serial log".into(),
            Some(_) => "hako --demos printed no `Seen for real` block".into(),
        }
    };
    // The limits lesson's demonstration block: from its `Seen for real:` to the next lesson.
    let demo: Vec<String> = {
        let start = lines
            .iter()
            .position(|l| l.contains("memory.events") && (l.contains('→') || l.contains("->")))
            .and_then(|i| {
                lines[..i]
                    .iter()
                    .rposition(|l| l.starts_with("Seen for real"))
            });
        match start {
            Some(i) => lines[i..]
                .iter()
                .skip(1)
                .take_while(|l| !l.trim().is_empty())
                .cloned()
                .collect(),
            None => vec![],
        }
    };
    c.push(check(
        "demos-exit",
        "demos: hako --auto --demos -- /bin/true exits 0",
        need(log.value("HAKO-DEMOS-EXIT"), "HAKO-DEMOS-EXIT").and_then(|v| match v {
            "0" => Ok("0".into()),
            "143" => Err("143: killed by the guest's 150 s timeout (the walk hung)".into()),
            s => Err(format!(
                "exit status {s}; hako said: {}",
                tail(&lines.join("\n"), 6)
            )),
        }),
    ));
    c.push(check(
        "demos-killed",
        "demos: the process past the memory limit is killed (SIGKILL)",
        if demo.is_empty() {
            Err(missing())
        } else {
            match demo.iter().find(|l| l.contains("SIGKILL")) {
                Some(l) if row_passed(l) => Ok(l.trim().to_string()),
                Some(l) => Err(format!("the row failed: {:?}", l.trim())),
                None => Err(format!(
                    "no row says SIGKILL: {:?}",
                    demo.first().map(|l| l.trim())
                )),
            }
        },
    ));
    let rose = |name: &str| -> Result<String, String> {
        if demo.is_empty() {
            return Err(missing());
        }
        let (a, b, passed) = counter_row(&demo, name)?;
        if b > a && passed {
            Ok(format!("{name}: {a} → {b}"))
        } else if b > a {
            Err(format!(
                "{name} rose ({a} → {b}) but hako marked the row failed"
            ))
        } else {
            Err(format!("{name} did not rise: {a} → {b}"))
        }
    };
    c.push(check(
        "demos-memory.events-max",
        "demos: memory.events max rises (the limit was hit)",
        rose("memory.events max"),
    ));
    c.push(check(
        "demos-memory.events-oom_kill",
        "demos: memory.events oom_kill rises (the memory kill)",
        rose("memory.events oom_kill"),
    ));
    c.push(check(
        "demos-nr_throttled",
        "demos: cpu.stat nr_throttled rises (the busy loop was throttled)",
        rose("cpu.stat nr_throttled"),
    ));
    c.push(check(
        "demos-throttled_usec",
        "demos: cpu.stat throttled_usec rises",
        rose("cpu.stat throttled_usec"),
    ));
    c.push(check(
        "demos-no-v1",
        "demos: no v1 counter (failcnt, oom_control, throttled_time) in the demonstration",
        if demo.is_empty() {
            Err(missing())
        } else {
            match demo.iter().find(|l| {
                ["memory.failcnt", "memory.oom_control", "throttled_time"]
                    .iter()
                    .any(|v1| l.contains(v1))
            }) {
                Some(l) => Err(format!("a v1 counter on a v2 host: {:?}", l.trim())),
                None => Ok(format!("{} rows, all v2", demo.len())),
            }
        },
    ));
    c.push(check(
        "demos-no-cgroup-left",
        "demos: no cgroup of hako's left after the --demos walk",
        match log.section("DEMOS-CGROUP-LS-AFTER") {
            None => Err("no DEMOS-CGROUP-LS-AFTER section in the serial log".into()),
            Some(ls) => match ls.iter().find(|n| is_uuid(n) || n.starts_with("hako")) {
                Some(n) => Err(format!("left behind: {n}")),
                None => Ok("none".into()),
            },
        },
    ));
    c
}

/// `--pids 20 --demos --from pids`: the pids lesson on v2. hako enables `+pids` and writes
/// `pids.max` in the container's one cgroup (no v1 pids hierarchy); the fork loop is refused
/// with EAGAIN at the limit and `pids.events max` rises; a shell inside starts fewer than 20
/// background sleeps; no cgroup is left.
fn check_pids(log: &GuestLog) -> Vec<Check> {
    let mut c = Vec::new();
    let stderr: &[String] = log.section("HAKO-PIDS-STDERR").unwrap_or(&[]);
    let row = |needle: &str| -> Result<String, String> {
        match stderr.iter().find(|l| l.contains(needle)) {
            Some(l) if row_passed(l) => Ok(l.trim().to_string()),
            Some(l) => Err(format!("the row failed: {:?}", l.trim())),
            None => Err(format!("no {needle:?} row in HAKO-PIDS-STDERR")),
        }
    };
    let with = |r: Result<String, String>, want: &[&str]| {
        r.and_then(|l| match want.iter().find(|w| !l.contains(*w)) {
            None => Ok(l),
            Some(w) => Err(format!("no {w:?} in {l:?}")),
        })
    };
    c.push(check(
        "pids-exit",
        "pids: hako --auto --pids 20 --demos exits 0",
        need(log.value("HAKO-PIDS-EXIT"), "HAKO-PIDS-EXIT").and_then(|v| match v {
            "0" => Ok("0".into()),
            s => Err(format!(
                "exit status {s}; hako said: {}",
                tail(&stderr.join("\n"), 6)
            )),
        }),
    ));
    c.push(check(
        "pids-enabled",
        "pids: +pids enabled in the root's cgroup.subtree_control",
        row("pids enabled for the children (cgroup.subtree_control)").and_then(|l| {
            // The value read: between the label and the `  (expected)` part.
            let seen = l
                .split_once("(cgroup.subtree_control)")
                .and_then(|(_, r)| r.split_once("  ("))
                .map(|(v, _)| v.trim().to_string())
                .unwrap_or_default();
            if seen.split_whitespace().any(|w| w == "pids") {
                Ok(seen)
            } else {
                Err(format!("pids is not in {seen:?}"))
            }
        }),
    ));
    c.push(check(
        "pids-max",
        "pids: pids.max reads back 20, in the container's own v2 cgroup",
        with(row("task limit (pids.max)"), &[" 20 "]).and_then(|l| {
            match stderr.iter().find(|d| {
                let d = d.trim();
                d.starts_with("echo 20 > /sys/fs/cgroup/") && d.ends_with("/pids.max")
            }) {
                Some(d) if d.contains("/sys/fs/cgroup/pids/") => {
                    Err(format!("a v1 path on a v2 host: {:?}", d.trim()))
                }
                Some(_) => Ok(l),
                None => Err("no `echo 20 > /sys/fs/cgroup/UUID/pids.max` line".into()),
            }
        }),
    ));
    c.push(check(
        "pids-eagain",
        "pids: the fork loop gets 19 children, then EAGAIN",
        with(
            row("fork() in a loop inside the cgroup"),
            &["19 children", "EAGAIN"],
        ),
    ));
    c.push(check(
        "pids-thread",
        "pids: a thread at the limit is refused too (EAGAIN)",
        with(row("one more thread, at the limit"), &["EAGAIN"]),
    ));
    c.push(check(
        "pids-events",
        "pids: pids.events max rises",
        counter_row(stderr, "pids.events max").and_then(|(a, b, passed)| {
            if b > a && passed {
                Ok(format!("{a} → {b}"))
            } else {
                Err(format!("{a} → {b}, row passed: {passed}"))
            }
        }),
    ));
    c.push(check(
        "pids-reaped",
        "pids: every child reaped, pids.current back to 0",
        with(row("children reaped by the loop"), &["all 19"])
            .and_then(|_| row("tasks afterwards (pids.current)")),
    ));
    c.push(check(
        "pids-joined",
        "pids: the agent's /proc/PID/cgroup line is the one v2 cgroup",
        with(row("cgroup, pids"), &["0::/"]),
    ));
    c.push(check(
        "pids-inside",
        "pids: a shell inside starts fewer than 20 background sleeps, then can't fork",
        need(
            log.section_value("HAKO-PIDS-STDOUT", "PIDS-STARTED"),
            "PIDS-STARTED",
        )
        .and_then(|n| match n.parse::<u32>() {
            Ok(k) if (10..20).contains(&k) => Ok(k),
            _ => Err(format!("{n} sleeps started under pids.max 20")),
        })
        .and_then(|k| {
            let err = log
                .section_value("HAKO-PIDS-STDOUT", "PIDS-ERR")
                .unwrap_or("");
            if err.contains("fork") {
                Ok(format!("{k} started; {err}"))
            } else {
                Err(format!("{k} started, but the error was {err:?}"))
            }
        }),
    ));
    c.push(check(
        "pids-no-cgroup-left",
        "pids: no cgroup of hako's left after the --pids walk",
        match log.section("PIDS-CGROUP-LS-AFTER") {
            None => Err("no PIDS-CGROUP-LS-AFTER section in the serial log".into()),
            Some(ls) => match ls.iter().find(|n| is_uuid(n) || n.starts_with("hako")) {
                Some(n) => Err(format!("left behind: {n}")),
                None => Ok("none".into()),
            },
        },
    ));
    c
}

/// `--overlay --demos --from overlay`: the overlay module loaded by the guest's /init, the
/// rootfs an overlay of the cached layer (in /run/hako-cache), every check of the lesson
/// passing (the options in mountinfo, a write landing in the upper directory only, the layer
/// unchanged, a whiteout hiding a lower file), the two overlays of the demonstration each
/// seeing its own write, the container's write read back inside, and no overlay left mounted.
fn check_overlay(log: &GuestLog) -> Vec<Check> {
    let mut c = Vec::new();
    let stderr: &[String] = log.section("HAKO-OVERLAY-STDERR").unwrap_or(&[]);
    let row = |needle: &str| -> Result<String, String> {
        match stderr.iter().find(|l| l.contains(needle)) {
            Some(l) if row_passed(l) => Ok(l.trim().to_string()),
            Some(l) => Err(format!("the row failed: {:?}", l.trim())),
            None => Err(format!("no {needle:?} row in HAKO-OVERLAY-STDERR")),
        }
    };
    c.push(check(
        "overlay-exit",
        "overlay: hako --auto --overlay --demos exits 0 (the overlay module loaded)",
        need(log.value("HAKO-OVERLAY-EXIT"), "HAKO-OVERLAY-EXIT").and_then(|v| match v {
            "0" => Ok("0".into()),
            s => Err(format!(
                "exit status {s} (overlay in /proc/filesystems: {}); hako said: {}",
                log.value("OVERLAY-FS").unwrap_or("?"),
                tail(&stderr.join("\n"), 6)
            )),
        }),
    ));
    c.push(check(
        "overlay-mount",
        "overlay: the mount in mountinfo, lowerdir in the cache",
        row("(/proc/self/mountinfo)").and_then(|l| {
            if l.contains("lowerdir=/run/hako-cache/layers/sha256-")
                && l.contains("upperdir=/tmp/hako.")
            {
                Ok(l)
            } else {
                Err(format!("not this run's options: {l:?}"))
            }
        }),
    ));
    for (id, item, needle) in [
        (
            "overlay-write",
            "overlay: a write lands in the upper directory only",
            "written through the merged tree",
        ),
        (
            "overlay-lowers",
            "overlay: the layer is unchanged",
            "before the mount and now",
        ),
        (
            "overlay-whiteout",
            "overlay: a whiteout hides the lower file",
            "removed in a scratch overlay",
        ),
        (
            "overlay-demo-a",
            "overlay: container A reads its own write",
            "container A reads",
        ),
        (
            "overlay-demo-b",
            "overlay: container B reads its own write",
            "container B reads",
        ),
    ] {
        c.push(check(id, item, row(needle)));
    }
    c.push(check(
        "overlay-inside",
        "overlay: the container's own write read back inside",
        need(
            log.section_value("HAKO-OVERLAY-STDOUT", "OVL-READ"),
            "OVL-READ",
        )
        .and_then(|v| match v {
            "inside" => Ok(v.to_string()),
            v => Err(format!("read {v:?}")),
        }),
    ));
    c.push(check(
        "overlay-no-mount-left",
        "overlay: no overlay left mounted after the walk",
        match log.section("OVL-MOUNTS-LEFT") {
            None => Err("no OVL-MOUNTS-LEFT section in the serial log".into()),
            Some([]) => Ok("none".into()),
            Some(m) => Err(format!("left mounted: {}", m.join("; "))),
        },
    ));
    c
}

/// hako inside a container's cgroup namespace: each unusual layout is recognised in
/// preflight, which explains it and says what to do (exit 125, nothing left).
fn check_layouts(log: &GuestLog) -> Vec<Check> {
    let mut c = Vec::new();
    // The guest's own setup of a case, before anything about hako.
    let setup = |case: &str, controllers: Option<&str>| -> Result<(), String> {
        if let Some(why) = log.value("LAYOUTS") {
            return Err(format!("case not run: {why}"));
        }
        match log.value(&format!("{case}-REMOUNT")) {
            Some("ok") => {}
            Some(v) => return Err(format!("setup: remounting cgroup2 in the namespace {v}")),
            None => return Err(format!("no {case}-REMOUNT line in the serial log")),
        }
        if log.value(&format!("{case}-NESTED")) != Some("yes") {
            return Err("setup: /sys/fs/cgroup in the namespace has no cgroup.type".into());
        }
        match (controllers, log.value(&format!("{case}-CONTROLLERS"))) {
            (Some(want), Some(got)) if bracketed(got).is_empty() != want.is_empty() => Err(
                format!("setup: its cgroup.controllers is {got}, the case needs {want:?}"),
            ),
            _ => Ok(()),
        }
    };
    let said = |case: &str, needles: &[&str]| -> Result<String, String> {
        let name = format!("{case}-STDERR");
        let text = joined(
            log.section(&name)
                .ok_or_else(|| format!("no {name} section in the serial log"))?,
        );
        let exit = need(log.value(&format!("{case}-HAKO-EXIT")), "…-HAKO-EXIT")?;
        if exit != "125" {
            return Err(format!(
                "hako exited {exit}, not 125 (stopped at preflight)"
            ));
        }
        if !text.contains("'preflight'") {
            return Err("hako did not stop at the preflight check".into());
        }
        match needles.iter().find(|n| !text.contains(*n)) {
            Some(n) => Err(format!("hako's stderr does not say {n:?}")),
            None => Ok(needles.join(" · ")),
        }
    };
    c.push(check(
        "ns-not-delegated",
        "container: memory and cpu not delegated are named, with what to do",
        setup("ND", Some("")).and_then(|_| {
            said(
                "ND",
                &[
                    "memory cpu not offered",
                    "does not delegate memory cpu",
                    "Delegate=yes",
                ],
            )
        }),
    ));
    c.push(check(
        "ns-ebusy-kernel",
        "container: the kernel refuses +memory +cpu at a root with processes (EBUSY)",
        setup("BOX", Some("cpu memory")).and_then(|_| {
            match need(log.value("BOX-RAW-ENABLE"), "BOX-RAW-ENABLE")? {
                v if v.contains("busy") => Ok(v.to_string()),
                v => Err(format!("the shell's own write gave {v:?}, not EBUSY")),
            }
        }),
    ));
    c.push(check(
        "ns-nested",
        "container: preflight says hako runs in a container or cgroup namespace",
        setup("BOX", None).and_then(|_| said("BOX", &["inside a container or a cgroup namespace"])),
    ));
    c.push(check(
        "ns-ebusy-explained",
        "container: preflight predicts the EBUSY, names the rule and the way out",
        setup("BOX", Some("cpu memory")).and_then(|_| {
            said(
                "BOX",
                &[
                    "would fail with EBUSY",
                    "no internal processes",
                    "/sys/fs/cgroup/init/cgroup.procs",
                ],
            )
        }),
    ));
    c.push(check(
        "final-nothing-left",
        "after every run: no cgroup of hako's, nothing in /tmp",
        match (log.section("FINAL-CGROUP-LS"), log.section("FINAL-TMP")) {
            (Some(ls), Some(tmp)) => {
                let left: Vec<&String> = ls
                    .iter()
                    .filter(|n| is_uuid(n) || n.starts_with("hako"))
                    .chain(tmp.iter())
                    .collect();
                if left.is_empty() {
                    Ok("none".into())
                } else {
                    Err(format!("left behind: {left:?}"))
                }
            }
            _ => Err("no FINAL-CGROUP-LS or FINAL-TMP section in the serial log".into()),
        },
    ));
    c
}

/// Every check of the boot: the walk, the demonstrations, the unusual layouts.
fn check_all(log: &GuestLog) -> Vec<Check> {
    let mut c = check_walk(log);
    c.extend(check_demos(log));
    c.extend(check_pids(log));
    c.extend(check_overlay(log));
    c.extend(check_layouts(log));
    c
}

/// hako's stderr lines with every `backticked` span blanked out (line count kept). A span
/// may wrap onto the next line but never crosses a blank line; a paragraph with an odd number
/// of backticks is kept whole, so a stray backtick cannot hide anything.
fn host_specific(stderr: &[String]) -> Vec<String> {
    let text = stderr.join("\n");
    let mut out = String::with_capacity(text.len());
    for (i, para) in text.split("\n\n").enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        if para.matches('`').count() % 2 == 1 {
            out.push_str(para);
            continue;
        }
        let mut quoted = false;
        for ch in para.chars() {
            match ch {
                '`' => quoted = !quoted,
                '\n' => out.push('\n'),
                _ if quoted => {}
                _ => out.push(ch),
            }
        }
    }
    out.split('\n')
        .filter(|l| l.starts_with(' ') || l.starts_with('\t'))
        .map(str::to_string)
        .collect()
}

fn report(checks: &[Check]) -> String {
    checks
        .iter()
        .map(|c| {
            format!(
                "  {} {:<70} {}\n",
                if c.ok { "✔" } else { "✘" },
                c.item,
                c.detail
            )
        })
        .collect()
}

// ───────────────────────────── the boot ─────────────────────────────

fn qemu_dir() -> PathBuf {
    match std::env::var_os("HAKO_QEMU_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(REPO).join("target/qemu"),
    }
}

fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

const PREPARE: &str = "run `sudo tests/qemu/prepare.sh` first (it installs qemu-system-x86, busybox-static and cpio and fetches the guest kernel)";

#[test]
#[ignore = "needs root"]
fn cgroup_v2_walk_in_a_qemu_guest() {
    match effective_uid() {
        Some(0) => {}
        uid => panic!(
            "the cgroup v2 guest test must run as root, as CI does (effective uid: {}); it is \
             never skipped: run `sudo cargo test --test v2_guest` after `sudo tests/qemu/prepare.sh`",
            uid.map_or_else(|| "unknown".to_string(), |u| u.to_string())
        ),
    }
    if on_path("qemu-system-x86_64").is_none() {
        panic!("qemu-system-x86_64 is not on PATH: {PREPARE}");
    }
    let kernel = qemu_dir().join("vmlinuz");
    if !kernel.exists() {
        panic!("no guest kernel at {}: {PREPARE}", kernel.display());
    }

    // util-linux unshare (busybox's has no -C) for the container cases; it needs only the
    // libc that run-guest.sh copies for hako.
    let unshare = on_path("unshare")
        .unwrap_or_else(|| panic!("unshare (util-linux) is not on PATH: install util-linux"));
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("v2-guest-serial.log");
    let _ = fs::remove_file(&log_path);
    let qemu = Path::new(REPO).join("tests/qemu");
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(qemu.join("run-guest.sh"))
        .arg(HAKO)
        .arg(qemu.join("guest-walk.sh"))
        .arg(&unshare)
        .env("HAKO_GUEST_LOG", &log_path)
        .output()
        .expect("cannot run bash tests/qemu/run-guest.sh");
    let elapsed = started.elapsed();
    let harness = String::from_utf8_lossy(&out.stderr);
    eprint!("{harness}");
    let serial = fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        out.status.success(),
        "tests/qemu/run-guest.sh failed ({}):\n{harness}\nlast lines of the serial log {}:\n{}",
        out.status,
        log_path.display(),
        tail(&serial, 40)
    );
    let log = GuestLog::parse(&serial).unwrap_or_else(|e| {
        panic!(
            "serial log {}: {e}\nlast lines:\n{}",
            log_path.display(),
            tail(&serial, 40)
        )
    });
    let checks = check_all(&log);
    let span = |from: &str, to: &str| match (log.value(from), log.value(to)) {
        (Some(a), Some(b)) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(a), Ok(b)) => format!("{:.1} s", b - a),
            _ => "?".into(),
        },
        _ => "?".into(),
    };
    let walk = span("HAKO-WALK-START", "HAKO-WALK-END");
    let demos = span("HAKO-DEMOS-START", "HAKO-DEMOS-END");
    eprintln!(
        "cgroup v2 guest: whole test {:.1} s, hako --auto in the guest {walk}, with --demos {demos}; serial log {}\n{}",
        elapsed.as_secs_f64(),
        log_path.display(),
        report(&checks)
    );
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
    assert!(
        failed.is_empty(),
        "{} of {} checks failed in the cgroup v2 guest (serial log: {}):\n{}\nhako's stderr in the guest:\n{}",
        failed.len(),
        checks.len(),
        log_path.display(),
        failed.iter().map(|c| format!("  ✘ {}: {}\n", c.item, c.detail)).collect::<String>(),
        log.section("HAKO-STDERR").map(|l| l.join("\n")).unwrap_or_default()
    );
}

// ───────────────────── unit tests of the parsing and the checks ─────────────────────

const SAMPLE: &str = include_str!("qemu/sample-serial.log");

fn failed_ids(serial: &str) -> Vec<&'static str> {
    let log = GuestLog::parse(serial).expect("sample parses");
    check_all(&log)
        .into_iter()
        .filter(|c| !c.ok)
        .map(|c| c.id)
        .collect()
}

#[test]
fn sample_log_passes_every_check() {
    let log = GuestLog::parse(SAMPLE).unwrap();
    let checks = check_all(&log);
    assert!(checks.iter().all(|c| c.ok), "{}", report(&checks));
    assert_eq!(log.value("HAKO-EXIT"), Some("7"));
    assert_eq!(log.section_value("HAKO-STDOUT", "IN-PID"), Some("1"));
    // Inside lines are not top-level values, and top-level values are not in sections.
    assert_eq!(log.value("IN-PID"), None);
    assert_eq!(log.section("TMP-AFTER"), Some(&[][..]));
}

#[test]
fn carriage_returns_from_the_serial_console_are_ignored() {
    let crlf = SAMPLE.replace('\n', "\r\n");
    assert_eq!(failed_ids(&crlf), Vec::<&str>::new());
}

#[test]
fn a_missing_marker_is_an_error_that_says_which() {
    let no_end = SAMPLE.replace("HAKO-GUEST-END", "");
    assert!(GuestLog::parse(&no_end)
        .unwrap_err()
        .contains("HAKO-GUEST-END"));
    let no_start = SAMPLE.replace("HAKO-GUEST-START", "");
    assert!(GuestLog::parse(&no_start)
        .unwrap_err()
        .contains("HAKO-GUEST-START"));
    let open = SAMPLE.replace("HAKO-STDERR-END\n", "");
    assert!(GuestLog::parse(&open).unwrap_err().contains("HAKO-STDERR"));
}

#[test]
fn uuid_patterns() {
    assert!(is_uuid_v4("3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f88"));
    assert!(!is_uuid_v4("3f2c9a4e-8b1d-1c6f-9e2a-7d5b1c0e4f88")); // version 1
    assert!(!is_uuid_v4("3f2c9a4e-8b1d-4c6f-7e2a-7d5b1c0e4f88")); // wrong variant
    assert!(!is_uuid_v4("3f2c9a4e8b1d4c6f9e2a7d5b1c0e4f88"));
    assert!(is_uuid("3f2c9a4e-8b1d-1c6f-9e2a-7d5b1c0e4f88"));
    assert!(!is_uuid("cgroup.subtree_control"));
}

/// Each defect, put into the sample alone, fails exactly the checks it should.
#[test]
fn each_defect_fails_its_own_check() {
    let uuid = "3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f88";
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "CGROUP-MOUNT=cgroup2 /sys/fs/cgroup",
            "CGROUP-MOUNT=cgroup2 /sys/fs/cgroup/unified",
            &["v2-mounted"],
        ),
        (
            "SUBTREE-BEFORE=[]",
            "SUBTREE-BEFORE=[cpu memory]",
            &["subtree-before"],
        ),
        ("HAKO-LIST-EXIT=0", "HAKO-LIST-EXIT=2", &["list"]),
        ("HAKO-EXIT=7", "HAKO-EXIT=125", &["exit-7"]),
        ("HAKO-EXIT=7", "HAKO-EXIT=143", &["exit-7"]),
        (
            "IN-CGROUP=0::/",
            "IN-CGROUP=0::/hako/",
            &["in-cgroup", "in-hostname"],
        ),
        (
            "IN-CGROUP=0::/3f2c9a4e-8b1d-4c6f",
            "IN-CGROUP=0::/3f2c9a4e-8b1d-1c6f",
            &["in-cgroup", "in-hostname"],
        ),
        ("IN-PID=1", "IN-PID=4", &["in-pid"]),
        (
            "HAKO-OVERLAY-EXIT=0",
            "HAKO-OVERLAY-EXIT=125",
            &["overlay-exit"],
        ),
        ("OVL-READ=inside", "OVL-READ=", &["overlay-inside"]),
        (
            "OVL-MOUNTS-LEFT-BEGIN\n",
            "OVL-MOUNTS-LEFT-BEGIN\noverlay /tmp/hako.8a1c5e46ec13/root overlay rw 0 0\n",
            &["overlay-no-mount-left"],
        ),
        (
            "[ok] /etc/group removed in a scratch overlay",
            "[FAIL] /etc/group removed in a scratch overlay",
            &["overlay-whiteout"],
        ),
        (
            &format!("IN-HOSTNAME={uuid}"),
            "IN-HOSTNAME=guest",
            &["in-hostname"],
        ),
        ("IN-ALLOC=1", "IN-ALLOC=0", &["in-alloc"]),
        ("IN-DEVZERO=made", "IN-DEVZERO=mknod-failed", &["in-alloc"]),
        ("memory.swap.max", "memory.swapmax", &["memory.swap.max"]),
        ("cpu.max", "cpu.quota", &["cpu.max"]),
        ("cpu.max reads", "cpu.cfs_quota_us reads", &["no-v1-cpu"]),
        (
            "✔ memory.max reads",
            "✔ memory.limit_in_bytes reads",
            &["no-v1-memory"],
        ),
        (
            "cgset -r memory.max=",
            "cgset -r memory.limit_in_bytes=",
            &["cgset", "no-v1-memory"],
        ),
        (
            "left +memory +cpu enabled",
            "disabled +memory +cpu",
            &["left-on"],
        ),
        ("oom 1 oom_kill 0", "oom 1 oomkill 0", &["oom_kill"]),
        (
            "\nCGROUP-LS-AFTER-BEGIN\n",
            &format!("\nCGROUP-LS-AFTER-BEGIN\n{uuid}\n"),
            &["no-cgroup-left"],
        ),
        // The walk with --demos.
        ("HAKO-DEMOS-EXIT=0", "HAKO-DEMOS-EXIT=125", &["demos-exit"]),
        (
            "killed by SIGKILL (the OOM killer)",
            "it survived: nothing stopped it",
            &["demos-killed"],
        ),
        (
            "0 → 35  (rose",
            "0 → 0  (rose",
            &["demos-memory.events-max"],
        ),
        (
            "0 → 1  (rose",
            "1 → 1  (rose",
            &["demos-memory.events-oom_kill"],
        ),
        (
            "[ok] memory.events oom_kill",
            "[FAIL] memory.events oom_kill",
            &["demos-memory.events-oom_kill"],
        ),
        ("0 → 2  (must", "2 → 2  (must", &["demos-nr_throttled"]),
        ("0 → 1336242", "0 → 0", &["demos-throttled_usec"]),
        (
            "cpu.stat throttled_usec ",
            "cpu.stat throttled_time ",
            &["demos-throttled_usec", "demos-no-v1"],
        ),
        (
            "DEMOS-CGROUP-LS-AFTER-BEGIN\n",
            &format!("DEMOS-CGROUP-LS-AFTER-BEGIN\n{uuid}\n"),
            &["demos-no-cgroup-left"],
        ),
        // The walk with --pids 20 --demos.
        ("HAKO-PIDS-EXIT=0", "HAKO-PIDS-EXIT=125", &["pids-exit"]),
        (
            "subtree_control)  cpu memory pids",
            "subtree_control)  cpu memory",
            &["pids-enabled"],
        ),
        (
            "echo 20 > /sys/fs/cgroup/",
            "echo 20 > /sys/fs/cgroup/pids/",
            &["pids-max"],
        ),
        (
            "19 children, then fork failed: EAGAIN",
            "27 children, and fork never failed",
            &["pids-eagain"],
        ),
        (
            "refused: EAGAIN (Try again)",
            "it started",
            &["pids-thread"],
        ),
        ("0 -> 2  (must rise", "2 -> 2  (must rise", &["pids-events"]),
        (
            "[ok] children reaped",
            "[FAIL] children reaped",
            &["pids-reaped"],
        ),
        (
            "cgroup, pids     0::/",
            "cgroup, pids     8:pids:/",
            &["pids-joined"],
        ),
        ("PIDS-STARTED=17", "PIDS-STARTED=40", &["pids-inside"]),
        (
            "PIDS-CGROUP-LS-AFTER-BEGIN\n",
            &format!("PIDS-CGROUP-LS-AFTER-BEGIN\n{uuid}\n"),
            &["pids-no-cgroup-left"],
        ),
        // hako in a container's cgroup namespace.
        (
            "ND-CONTROLLERS=[]",
            "ND-CONTROLLERS=[cpu memory]",
            &["ns-not-delegated"],
        ),
        ("ND-HAKO-EXIT=125", "ND-HAKO-EXIT=0", &["ns-not-delegated"]),
        ("does not delegate", "will not give", &["ns-not-delegated"]),
        (
            "BOX-RAW-ENABLE=sh: write error: Device or resource busy",
            "BOX-RAW-ENABLE=ok",
            &["ns-ebusy-kernel"],
        ),
        ("no internal processes", "one rule", &["ns-ebusy-explained"]),
        (
            "hako runs inside a container",
            "hako runs in a container",
            &["ns-nested"],
        ),
        (
            "BOX-NESTED=yes",
            "BOX-NESTED=no",
            &["ns-ebusy-kernel", "ns-nested", "ns-ebusy-explained"],
        ),
        (
            "BOX-REMOUNT=ok",
            "BOX-REMOUNT=failed",
            &["ns-ebusy-kernel", "ns-nested", "ns-ebusy-explained"],
        ),
        (
            "FINAL-CGROUP-LS-BEGIN\n",
            "LAYOUTS=no /extra/unshare\nFINAL-CGROUP-LS-BEGIN\n",
            &[
                "ns-not-delegated",
                "ns-ebusy-kernel",
                "ns-nested",
                "ns-ebusy-explained",
            ],
        ),
        (
            "FINAL-TMP-BEGIN\n",
            "FINAL-TMP-BEGIN\nhako.4a11ff82bb14\n",
            &["final-nothing-left"],
        ),
        (
            "SUBTREE-AFTER=[cpu memory]",
            "SUBTREE-AFTER=[memory]",
            &["subtree-after"],
        ),
        (
            "SUBTREE-AFTER=[cpu memory]",
            "SUBTREE-AFTER=[]",
            &["subtree-after"],
        ),
        (
            "TMP-AFTER-BEGIN\n",
            "TMP-AFTER-BEGIN\ntmp.Qx81bZ\n",
            &["no-tmp-left"],
        ),
        (
            "MOUNTS-AFTER-BEGIN\n",
            "MOUNTS-AFTER-BEGIN\nproc /tmp/tmp.Qx81bZ/proc proc rw 0 0\n",
            &["no-mount-left"],
        ),
        (
            "HAKO-PROCS-AFTER-BEGIN\n",
            "HAKO-PROCS-AFTER-BEGIN\n212 hako --auto\n",
            &["no-process-left"],
        ),
    ];
    for (from, to, expected) in cases {
        assert!(SAMPLE.contains(from), "the sample has no {from:?}");
        let mut got = failed_ids(&SAMPLE.replace(from, to));
        let mut expected = expected.to_vec();
        got.sort_unstable();
        expected.sort_unstable();
        assert_eq!(got, expected, "after replacing {from:?} with {to:?}");
    }
    // Both mentions of +memory gone: the enable check fails.
    let no_enable = SAMPLE.replace("+memory", "memory");
    assert_eq!(failed_ids(&no_enable), vec!["enable"]);
    // hako list that names no lesson fails `list`, even though the walk's stderr names one.
    let no_lessons = SAMPLE.replace("preflight   root?", "x");
    assert_eq!(failed_ids(&no_lessons), vec!["list"]);
    let list_empty = {
        let log = SAMPLE.split_once("HAKO-LIST-STDOUT-BEGIN\n").unwrap();
        let rest = log.1.split_once("HAKO-LIST-STDOUT-END").unwrap().1;
        format!(
            "{}HAKO-LIST-STDOUT-BEGIN\nHAKO-LIST-STDOUT-END{}",
            log.0, rest
        )
    };
    assert_eq!(failed_ids(&list_empty), vec!["list"]);
}

/// The lesson prose compares v1 with v2 by name: that is teaching, not a v1 file used on a v2
/// host. Prose is printed at the left margin; what belongs to this host is indented under its
/// heading, and within it a name counts as shown only outside backticks.
#[test]
fn prose_at_the_margin_is_not_evidence() {
    let lines: Vec<String> = [
        "prose names memory.limit_in_bytes at the margin",
        "  # the article's `cgset -r memory.limit_in_bytes` x",
        "  echo 1 > memory.max",
        "",
    ]
    .iter()
    .map(|l| l.to_string())
    .collect();
    assert_eq!(
        host_specific(&lines),
        vec!["  # the article's  x", "  echo 1 > memory.max"],
        "only indented lines count, without their backticked spans"
    );
    // The sample's prose names the v1 files at the margin and passes, backticks or not.
    let unquoted = SAMPLE
        .replace("`memory.limit_in_bytes`", "memory.limit_in_bytes")
        .replace("`cpu.cfs_quota_us`", "cpu.cfs_quota_us");
    assert!(
        failed_ids(&unquoted).is_empty(),
        "{:?}",
        failed_ids(&unquoted)
    );
    // A v1 file in an indented command fails.
    let v1_cmd = SAMPLE.replacen(
        "  ✔ memory.max reads back",
        "  ✔ memory.limit_in_bytes reads back",
        1,
    );
    assert!(failed_ids(&v1_cmd).contains(&"no-v1-memory"));
    // memory.max named only in the prose: not shown for this host.
    let prose_only = SAMPLE
        .replace("memory.max", "memory.MAX")
        .replace("`memory.MAX`", "`memory.max`");
    let log = GuestLog::parse(&prose_only).unwrap();
    let checks = check_walk(&log);
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
    assert_eq!(
        failed.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec!["memory.max", "cgset"]
    );
    assert!(
        failed[0].detail.contains("only in backticked prose"),
        "{}",
        failed[0].detail
    );
}

/// What the walk leaves missing today shows up as failed checks with a reason, not a panic.
#[test]
fn an_empty_walk_fails_cleanly() {
    let serial = "HAKO-GUEST-START\nCGROUP-MOUNT=cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\nSUBTREE-BEFORE=[]\n\
                  HAKO-STDERR-BEGIN\nHAKO-STDERR-END\nHAKO-STDOUT-BEGIN\nHAKO-STDOUT-END\nHAKO-EXIT=0\n\
                  HAKO-GUEST-EXIT=0\nHAKO-GUEST-END\n";
    let log = GuestLog::parse(serial).unwrap();
    let checks = check_walk(&log);
    let passed: Vec<&str> = checks.iter().filter(|c| c.ok).map(|c| c.id).collect();
    assert_eq!(passed, vec!["v2-mounted", "subtree-before"]);
    assert!(checks.iter().all(|c| !c.detail.is_empty()));
    // Neither the demonstrations nor the container cases ran: each says so.
    let rest: Vec<Check> = check_demos(&log)
        .into_iter()
        .chain(check_pids(&log))
        .chain(check_layouts(&log))
        .collect();
    assert!(
        rest.iter().all(|c| !c.ok && !c.detail.is_empty()),
        "{}",
        report(&rest)
    );
}
