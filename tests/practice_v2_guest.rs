//! `hako practice` on cgroup v2, for real: a learner's whole practice replayed in the QEMU
//! guest of `tests/qemu/run-guest.sh` (Debian's kernel, cgroup2 on /sys/fs/cgroup with no
//! controller handed down yet, busybox for the tools, no bash, no cgroup-tools), typed in
//! the forms that host offers: the v2 file names written with `echo`, the shell put into the
//! cgroup by writing its PID to `cgroup.procs`, busybox sh as both shells, util-linux's
//! `unshare` and libcap's `capsh` copied in. Every task must turn ✔ in order, judged by the
//! kernel, and the container's hostname must be the UUID.
//!
//! Needs root and `tests/qemu/prepare.sh` first (tests/run.sh does both).

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the learner types, on a v2 host without cgroup-tools or bash.
const REPLAY: &str = r#"tar -xf $IMAGE -C $ROOTFS
echo '+memory +cpu' > /sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/$UUID
echo 10000000 > /sys/fs/cgroup/$UUID/memory.max
echo 0 > /sys/fs/cgroup/$UUID/memory.swap.max
echo '300000 1000000' > /sys/fs/cgroup/$UUID/cpu.max
sh -c 'echo $$ > /sys/fs/cgroup/$UUID/cgroup.procs && exec unshare -muinpf /bin/sh'
mount -t proc proc $ROOTFS/proc
mkdir -p $ROOTFS/dev/pts
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts $ROOTFS/dev/pts
ln -sf pts/ptmx $ROOTFS/dev/ptmx
touch $ROOTFS/dev/null
mount --bind /dev/null $ROOTFS/dev/null
hostname $UUID
exec capsh --chroot=$ROOTFS --drop=cap_sys_chroot --shell=/bin/sh --
echo "GUEST-HOSTNAME=$(hostname)"
"#;

/// The path a program is found at on this host, links resolved.
fn which(t: &str) -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {t}"))
        .output()
        .unwrap();
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !p.is_empty(),
        "{t} is needed on this host (see tests/run.sh)"
    );
    std::fs::canonicalize(p).unwrap()
}

/// The shared libraries `ldd` names for `bin`, libc excepted (run-guest.sh copies it).
fn libs_of(bin: &Path) -> Vec<PathBuf> {
    let ldd = Command::new("ldd").arg(bin).output().unwrap();
    String::from_utf8_lossy(&ldd.stdout)
        .lines()
        .filter_map(|l| l.split("=> ").nth(1))
        .filter_map(|r| r.split_whitespace().next())
        .filter(|p| p.starts_with('/') && !p.contains("libc.so"))
        .map(PathBuf::from)
        .collect()
}

#[test]
#[ignore = "needs root"]
fn a_whole_practice_replayed_on_cgroup_v2_in_a_qemu_guest() {
    common::require_root();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        repo.join("target/qemu/vmlinuz").exists() || std::env::var_os("HAKO_QEMU_DIR").is_some(),
        "no guest kernel: run tests/qemu/prepare.sh (as root) first"
    );
    let capsh = which("capsh");
    let unshare = which("unshare");
    let mut libs = libs_of(&capsh);
    libs.extend(libs_of(&unshare));
    libs.sort();
    libs.dedup();
    let work = common::Tmp::new("practice-v2");
    let replay = work.path().join("replay.txt");
    std::fs::write(&replay, REPLAY).unwrap();
    let script = work.path().join("guest.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         for f in /extra/*.so*; do cp \"$f\" /lib/x86_64-linux-gnu/; done\n\
         cp /extra/capsh /extra/unshare /usr/bin/\n\
         mkdir -p /var/lib\n\
         echo \"PRACTICE-CONTROLLERS=$(cat /sys/fs/cgroup/cgroup.subtree_control)\"\n\
         hako practice --replay /extra/replay.txt --name guest </dev/null 2>&1\n\
         echo \"PRACTICE-EXIT=$?\"\n\
         echo \"PRACTICE-LEFT=$(ls /sys/fs/cgroup | grep -c -- '-.*-.*-') $(ls /tmp | grep -c hako)\"\n",
    )
    .unwrap();
    let log = work.path().join("serial.log");
    let out = Command::new("bash")
        .arg(repo.join("tests/qemu/run-guest.sh"))
        .arg(env!("CARGO_BIN_EXE_hako"))
        .arg(&script)
        .arg(&capsh)
        .arg(&unshare)
        .arg(&replay)
        .args(&libs)
        .env("HAKO_GUEST_LOG", &log)
        .env("HAKO_GUEST_TIMEOUT", "420")
        .output()
        .unwrap();
    let serial = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "run-guest.sh failed:\n{serial}");
    // The guest started with no controller handed down: the learner's own write did it.
    assert!(
        serial.lines().any(|l| l.trim() == "PRACTICE-CONTROLLERS="),
        "the guest's root handed controllers down before the practice:\n{serial}"
    );
    let passed: Vec<&str> = serial
        .lines()
        // `✔ id — …`, or `[ok] id - …` where the guest's locale is not UTF-8.
        .filter_map(|l| l.split("✔ ").nth(1).or_else(|| l.split("[ok] ").nth(1)))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        passed,
        [
            "rootfs",
            "cgroup",
            "limits",
            "namespaces",
            "proc",
            "devpts",
            "devnull",
            "hostname",
            "chroot"
        ],
        "every task turns ✔ in order on cgroup v2:\n{serial}"
    );
    let uuid = serial
        .lines()
        .find_map(|l| l.split("UUID=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .expect("the practice names its UUID");
    assert!(
        serial.contains(&format!("GUEST-HOSTNAME={uuid}")),
        "the hostname inside is the UUID:\n{serial}"
    );
    assert!(
        serial.contains("memory.max"),
        "the v2 files were judged:\n{serial}"
    );
    assert!(
        !serial.contains("could not be saved"),
        "the progress is saved under /var/lib/hako:\n{serial}"
    );
    assert!(
        serial.lines().any(|l| l.trim() == "PRACTICE-EXIT=0"),
        "hako practice ended with status 0:\n{serial}"
    );
    assert!(
        serial.lines().any(|l| l.trim() == "PRACTICE-LEFT=0 0"),
        "nothing is left in the guest (cgroups, temp dirs):\n{serial}"
    );
}
