//! `--harden`, as root, on the real kernel: the whole walk ends in a shell that a
//! verification script (on its stdin) finds confined, each measure's check fails when
//! that measure is left out, and the ways out are shown failing.

mod common;
use common::*;

/// Printed from inside the hardened container, one `KEY=value` a line.
const INSIDE: &str = r#"
while read -r k v; do case $k in Cap*|NoNewPrivs:|Seccomp:) echo "${k%:}=$v";; esac; done < /proc/self/status
read -r a b c < /proc/self/uid_map; echo "UIDMAP=$a $b $c"
while read -r id parent dev root mp rest; do [ "$mp" = / ] && echo "ROOTMNT=$dev $root"; done < /proc/self/mountinfo
echo "MOUNTS=$(wc -l < /proc/self/mountinfo)"
echo "CGROUP=$(cut -d: -f3 /proc/self/cgroup | sort -u | tr '\n' ' ')"
echo "TIMER_LIST=$(wc -c < /proc/timer_list)"
echo "KEYS=$(wc -c < /proc/keys)"
(echo 1 > /proc/sys/net/ipv4/ip_forward) 2>/dev/null; echo "PROCSYS=$?"
mount -t tmpfs none /tmp 2>/dev/null; echo "MOUNT=$?"
chroot / true 2>/dev/null; echo "CHROOT=$?"
unshare -U true 2>/dev/null; echo "UNSHARE=$?"
ls / | tr '\n' ' ' | sed 's/^/LS=/'; echo
exit 7
"#;

/// Docker's 14 capabilities less CAP_SYS_CHROOT (the chroot lesson dropped it).
const SET: &str = "00000000a80025fb";

#[test]
#[ignore = "needs root"]
fn the_hardened_walk_ends_in_a_confined_shell() {
    require_root();
    let r = run(&["--auto", "--harden"], INSIDE);
    r.assert_no_panic();
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(!r.stderr.contains('✘'), "{}", r.stderr);
    let o = &r.stdout;
    for set in ["CapBnd", "CapEff", "CapPrm"] {
        assert_eq!(marker(o, set), SET, "{set}");
    }
    assert_eq!(marker(o, "CapInh"), "0000000000000000");
    assert_eq!(marker(o, "CapAmb"), "0000000000000000");
    assert_eq!(marker(o, "NoNewPrivs"), "1");
    assert_eq!(marker(o, "Seccomp"), "2");
    assert_eq!(marker(o, "UIDMAP"), "0 100000 65536", "not the identity");
    // / inside is the rootfs directory of the host's filesystem, not the host's root.
    let rootfs = r.rootfs().expect("the rootfs line");
    let rootmnt = marker(o, "ROOTMNT");
    assert!(
        rootmnt.ends_with(&format!(" {}", rootfs.display())),
        "/ inside is {rootmnt}"
    );
    let mounts: usize = marker(o, "MOUNTS").parse().unwrap();
    assert!(
        mounts < 20,
        "{mounts} mounts inside: the host's are still there"
    );
    assert_eq!(marker(o, "CGROUP").trim(), "/");
    assert_eq!(marker(o, "TIMER_LIST"), "0", "masked");
    assert_eq!(marker(o, "KEYS"), "0", "masked");
    assert_ne!(marker(o, "PROCSYS"), "0", "/proc/sys is written");
    assert_ne!(marker(o, "MOUNT"), "0", "mount works inside");
    assert_ne!(marker(o, "CHROOT"), "0", "chroot works inside");
    assert_ne!(marker(o, "UNSHARE"), "0", "a new user namespace inside");
    assert!(!marker(o, "LS").contains("sys"), "{}", marker(o, "LS"));

    // From the host, at the exec stop and in the checks.
    let line = |needle: &str| {
        r.stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{}", r.stderr))
            .to_string()
    };
    assert!(line("status Uid, from the host").contains("100000 100000"));
    assert!(line("the host's root mount in /proc/").contains("absent"));
    let escape = line("with CAP_SYS_CHROOT (CapEff 000001ffffffffff)");
    assert!(
        escape.contains('✔') && escape.contains("stays inside"),
        "{escape}"
    );
    assert!(line("status Seccomp, at the exec stop").contains('✔'));
    assert!(line("unshare(CLONE_NEWUSER) inside, after the filter").contains("EPERM"));
    assert!(line("mount(2) inside").contains("EPERM"));
    r.assert_nothing_left();
}

/// Each measure, left out (HAKO_TEST_SKIP), makes its own check fail: the walk stops
/// there with 125 and says which lesson.
#[test]
#[ignore = "needs root"]
fn each_measure_fails_its_check_when_left_out() {
    require_root();
    for id in harden_ids() {
        let mut c = hako();
        c.args(["--auto", "--harden"]).env("HAKO_TEST_SKIP", id);
        let r = run_with(c, "exit 0\n");
        r.assert_no_panic();
        assert_eq!(r.code, 125, "{id} left out:\n{}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("The check of the '{id}' lesson did not hold")),
            "{id} left out, another lesson failed:\n{}",
            r.stderr
        );
        r.assert_nothing_left();
    }
}

#[test]
#[ignore = "needs root"]
fn demos_show_the_ways_out_failing() {
    require_root();
    let r = run(&["--auto", "--harden", "--demos", "--", "/bin/true"], "");
    r.assert_no_panic();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains('✘'), "{}", r.stderr);
    let line = |needle: &str| {
        r.stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{}", r.stderr))
            .to_string()
    };
    // The disk: made by the article's root; refused to root inside.
    let article = line("the article's root (the host's root, chrooted): mknod");
    assert!(
        article.contains("magic")
            || article.contains("mknod = 0")
            || article.contains("no block device"),
        "{article}"
    );
    assert!(line("root inside (CAP_MKNOD in its user namespace)").contains("mknod = -1 EPERM"));
    // seccomp: the same call, before and after the filter.
    assert!(line("unshare(CLONE_NEWUSER) before the filter").contains("= 0"));
    assert!(line("the same, after the filter").contains("EPERM"));
    // The chroot escape: out before pivot_root, inside after it.
    assert!(line("with CAP_SYS_CHROOT (CapEff").contains("out: / is dev"));
    r.assert_nothing_left();
}

#[test]
fn list_shows_the_confining_lessons_as_optional() {
    let out = hako().arg("list").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for id in harden_ids() {
        let l = text
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(id))
            .unwrap_or_else(|| panic!("{id} not listed:\n{text}"));
        assert!(l.contains("--harden"), "{l}");
    }
}

/// `hako script --harden > walk.sh && sudo bash walk.sh`: the same measures as shell
/// commands (seccomp excepted: it has no command-line equivalent).
#[test]
#[ignore = "needs root"]
fn the_hardened_script_confines_the_shell_too() {
    require_root();
    let mut c = hako();
    c.args(["script", "--harden"]);
    let made = run_with(c, "");
    assert_eq!(made.code, 0, "{}", made.stderr);
    for needle in [
        "pivot_root . .",
        "setpriv",
        "--no-new-privs",
        "uid_map",
        "seccomp",
    ] {
        assert!(made.stdout.contains(needle), "no {needle:?} in the script");
    }
    let dir = std::env::temp_dir().join(format!("hako-hscript-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("walk.sh");
    std::fs::write(&file, &made.stdout).unwrap();
    let mut bash = std::process::Command::new("bash");
    bash.arg(&file).env_clear().env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    let r = run_with(bash, INSIDE);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(r.code, 7, "{}", r.stderr);
    let o = &r.stdout;
    assert_eq!(marker(o, "CapBnd"), SET);
    assert_eq!(marker(o, "NoNewPrivs"), "1");
    assert_eq!(marker(o, "UIDMAP"), "0 100000 65536");
    assert_eq!(marker(o, "CGROUP").trim(), "/");
    assert_eq!(marker(o, "TIMER_LIST"), "0");
    let rootfs = r.rootfs().expect("the rootfs line");
    assert!(marker(o, "ROOTMNT").ends_with(&format!(" {}", rootfs.display())));
    assert_ne!(marker(o, "MOUNT"), "0");
    r.assert_nothing_left();
}

/// The lessons only `--harden` walks, from the lesson table.
fn harden_ids() -> Vec<&'static str> {
    hako::lessons::TABLE
        .iter()
        .filter(|e| e.set == hako::lessons::Set::Harden)
        .map(|e| e.id)
        .collect()
}
