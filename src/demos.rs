//! `hako __demo NAME …`: the programs the limits demonstration runs inside the
//! cgroup (the guide starts them there; see `sys::demo::spawn_in_cgroup`). Each one
//! reports on stdout, one `key=value` line at a time, so that what it managed before
//! the kernel stopped it is still known.

use std::io::Write;
use std::time::{Duration, Instant};

/// Entry point for `hako __demo …`; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    match args {
        [name, bytes] if name == "alloc" => alloc(bytes.parse().unwrap_or(0)),
        [name, period, quota] if name == "spin" => spin(
            period.parse().unwrap_or(1_000_000),
            quota.parse().unwrap_or(0),
        ),
        [name, bound, current] if name == "forks" => forks(bound.parse().unwrap_or(0), current),
        [name] if name == "userns" => crate::sys::harden::hold_userns(),
        [name, root, major, minor] if name == "mknod" => {
            mknod(root, major.parse().unwrap_or(0), minor.parse().unwrap_or(0))
        }
        _ => {
            eprintln!(
                "hako: __demo is hako's own helper for the limits demonstration; it is not meant to be run by hand."
            );
            2
        }
    }
}

/// Allocates `bytes` one MiB at a time and writes to every page, so that each page
/// is really charged to the cgroup (an allocation alone charges nothing). Reports
/// each MiB it got. Past the limit, the kernel's OOM killer ends it with SIGKILL.
fn alloc(bytes: u64) -> i32 {
    const MIB: usize = 1 << 20;
    let mut kept: Vec<Vec<u8>> = vec![];
    let mut out = std::io::stdout().lock();
    for i in 0..bytes.div_ceil(MIB as u64) {
        let mut chunk = vec![0u8; MIB];
        for page in chunk.chunks_mut(4096) {
            page[0] = 1;
        }
        kept.push(chunk);
        let _ = writeln!(out, "mib={}", i + 1);
        let _ = out.flush();
    }
    let _ = writeln!(out, "survived=1");
    0
}

/// A busy loop. First it runs until it is throttled once (a pause in wall time much
/// longer than the scheduler's own), so that the measurement starts with a fresh
/// period; then it spins for whole periods, at least one second, and reports the CPU
/// time it got against the wall time.
fn spin(period_us: u64, quota_us: u64) -> i32 {
    let period = Duration::from_micros(period_us.max(1000));
    let pause = Duration::from_micros((period_us.saturating_sub(quota_us) / 2).max(20_000));
    let mut out = std::io::stdout().lock();
    let start = Instant::now();
    let mut last = start;
    let mut aligned = false;
    if quota_us < period_us {
        while start.elapsed() < period * 3 {
            let now = Instant::now();
            if now - last > pause {
                aligned = true;
                break;
            }
            last = now;
        }
    }
    let periods = (1_000_000u64.div_ceil(period_us.max(1))).max(1) as u32;
    let wall = period * periods;
    let cpu0 = crate::sys::demo::cpu_time_us();
    let t0 = Instant::now();
    while t0.elapsed() < wall {
        std::hint::black_box(0u64);
    }
    let wall_us = t0.elapsed().as_micros() as u64;
    let cpu_us = crate::sys::demo::cpu_time_us().saturating_sub(cpu0);
    let _ = writeln!(
        out,
        "cpu_us={cpu_us}\nwall_us={wall_us}\naligned={}",
        aligned as u8
    );
    0
}

/// The pids demonstration: fork(2) until the kernel refuses (at most `bound` times),
/// every child blocked; then one thread. Reports what it got and the cgroup's
/// `pids.current` (read from the path `current`) at that moment, then waits for a line
/// on stdin (the guide looks from the host meanwhile), releases every child and reaps it.
fn forks(bound: usize, current: &str) -> i32 {
    use crate::sys::demo::{fork_until_refused, release, thread_refused};
    let mut out = std::io::stdout().lock();
    let (held, refused) = match fork_until_refused(bound.min(100_000)) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(out, "pipe_errno={}", e as i32);
            return 1;
        }
    };
    let thread = thread_refused();
    let now = crate::sys::read_trim(std::path::Path::new(current)).unwrap_or_default();
    let _ = writeln!(
        out,
        "forked={}\nfork_errno={}\nthread_errno={}\ncurrent={now}\nfull=1",
        held.children.len(),
        refused.map(|e| e as i32).unwrap_or(0),
        thread.map(|e| e as i32).unwrap_or(0),
    );
    let _ = out.flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let reaped = release(held);
    let _ = writeln!(out, "reaped={reaped}");
    0
}

/// The article's root and the disk (`--harden`, the caps demonstration): as the host's
/// root, chroot into the rootfs, mknod the host's root device, read its superblock's
/// magic, unlink the node. Prints what it saw as one JSON line.
fn mknod(root: &str, major: u64, minor: u64) -> i32 {
    let seen = match crate::sys::ns::chroot(std::path::Path::new(root)) {
        Ok(()) => crate::sys::harden::mknod_and_read(major, minor),
        Err(e) => crate::sys::harden::Seen {
            errno: Some(e as i32),
            n: 0,
            text: "chroot".into(),
        },
    };
    println!("{}", serde_json::to_string(&seen).unwrap_or_default());
    0
}

/// Runs `hako __demo mknod` (see [`mknod`]) and returns what it saw.
pub fn mknod_as_host_root(
    root: &std::path::Path,
    major: u32,
    minor: u32,
) -> Option<crate::sys::harden::Seen> {
    let out = std::process::Command::new("/proc/self/exe")
        .args(["__demo", "mknod"])
        .arg(root)
        .args([major.to_string(), minor.to_string()])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    crate::sys::trace_as(
        || {
            format!(
                "fork() + execve(\"/proc/self/exe\", [\"hako\", \"__demo\", \"mknod\", \"{}\", \"{major}\", \"{minor}\"])",
                root.display()
            )
        },
        "2 execve",
        &Ok::<(), crate::sys::Errno>(()),
        |_| "0".into(),
    );
    serde_json::from_slice(&out.stdout).ok()
}

/// The `key=value` lines of a demo's output: the last value of `key`.
pub fn value(out: &str, key: &str) -> Option<u64> {
    let pfx = format!("{key}=");
    out.lines()
        .rev()
        .find_map(|l| l.strip_prefix(pfx.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_last_value() {
        assert_eq!(super::value("mib=1\nmib=2\n", "mib"), Some(2));
        assert_eq!(super::value("cpu_us=5\n", "wall_us"), None);
    }
}
