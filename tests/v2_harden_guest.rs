//! `--harden` on cgroup v2, for real, in the QEMU guest of `tests/v2_guest.rs` (kept in a file
//! of its own so that the two grow apart without stepping on each other).
//!
//! One boot runs `tests/qemu/guest-harden.sh`: the whole `hako --auto --harden` walk with a
//! verification script on the shell's stdin. The guest's /init first moves its root to a
//! tmpfs (`HAKO_GUEST_TMPFS_ROOT=1`), as a real initramfs does, because pivot_root(2) refuses
//! to work when the root is the initramfs itself. Needs root and `tests/qemu/prepare.sh`; it
//! fails, never skips, without either.

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;

const HAKO: &str = env!("CARGO_BIN_EXE_hako");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn qemu_dir() -> PathBuf {
    match std::env::var_os("HAKO_QEMU_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(REPO).join("target/qemu"),
    }
}

/// The value of the first `KEY=value` line of the serial log.
fn value<'a>(log: &'a str, key: &str) -> Option<&'a str> {
    let pfx = format!("{key}=");
    log.lines()
        .find_map(|l| l.trim_end().strip_prefix(pfx.as_str()))
}

#[test]
#[ignore = "needs root"]
fn hardened_walk_in_the_cgroup_v2_guest() {
    common::require_root();
    let kernel = qemu_dir().join("vmlinuz");
    assert!(
        kernel.exists(),
        "no guest kernel at {}: run `sudo tests/qemu/prepare.sh` first",
        kernel.display()
    );
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("v2-harden-serial.log");
    let _ = std::fs::remove_file(&log_path);
    let qemu = Path::new(REPO).join("tests/qemu");
    let out = Command::new("bash")
        .arg(qemu.join("run-guest.sh"))
        .arg(HAKO)
        .arg(qemu.join("guest-harden.sh"))
        .env("HAKO_GUEST_LOG", &log_path)
        .env("HAKO_GUEST_TMPFS_ROOT", "1")
        .output()
        .expect("cannot run bash tests/qemu/run-guest.sh");
    let serial = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        out.status.success(),
        "tests/qemu/run-guest.sh failed ({}):\n{}\n{serial}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v = |k: &str| {
        value(&serial, k).unwrap_or_else(|| panic!("no {k}= in the serial log:\n{serial}"))
    };
    assert!(v("ROOT-FS").starts_with("tmpfs / "), "{}", v("ROOT-FS"));
    assert_eq!(v("HAKO-EXIT"), "7", "{serial}");
    assert_eq!(v("IN-CapBnd"), "00000000a80025fb");
    assert_eq!(v("IN-NoNewPrivs"), "1");
    assert_eq!(v("IN-Seccomp"), "2");
    assert_eq!(v("IN-UIDMAP"), "0 100000 65536");
    assert!(v("IN-ROOTMNT").contains("hako."), "{}", v("IN-ROOTMNT"));
    assert_eq!(
        v("IN-CGROUP").trim(),
        "/",
        "cgroup v2 inside a cgroup namespace"
    );
    assert_eq!(v("IN-TIMER_LIST"), "0");
    assert_ne!(v("IN-MOUNT"), "0");
    assert_ne!(v("IN-UNSHARE"), "0");
    // Nothing left in the guest: no cgroup of hako's, no temp rootfs.
    let section = |name: &str| -> Vec<&str> {
        serial
            .lines()
            .skip_while(|l| *l != format!("{name}-BEGIN"))
            .skip(1)
            .take_while(|l| *l != format!("{name}-END"))
            .collect()
    };
    // --overlay --harden where the layer's filesystem cannot be idmapped (tmpfs before 6.3):
    // one sentence, exit 125, nothing mounted, the cached layer still the host root's.
    assert_eq!(v("OVL-HARDEN-EXIT"), "125", "{serial}");
    let said = section("OVL-HARDEN-STDERR").join(" ");
    assert!(
        said.contains("Could not make an idmapped mount") && said.contains("never chowns"),
        "{said}"
    );
    assert!(
        section("OVL-HARDEN-MOUNTS").is_empty(),
        "{:?}",
        section("OVL-HARDEN-MOUNTS")
    );
    assert_eq!(v("OVL-LAYER-OWNER"), "0", "the cached layer was chowned");
    let cg = section("CGROUP-LS-AFTER");
    assert!(!cg.is_empty(), "no CGROUP-LS-AFTER section");
    assert!(
        cg.iter().all(|n| n.len() != 36 && !n.starts_with("hako")),
        "left behind: {cg:?}"
    );
    assert!(
        section("TMP-AFTER").is_empty(),
        "{:?}",
        section("TMP-AFTER")
    );
}
