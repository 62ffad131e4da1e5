//! Extraction limits, through the real binary as root: a gzip bomb, a sparse file, too
//! many entries, names with escape sequences, and SIGTERM in the middle of a long
//! unpacking. Each stops with one sentence and its exit code, and leaves nothing behind.
//! Every archive is made here, in a temp dir, and removed afterwards.

mod common;
use common::Tmp;

use common::require_root;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Out {
    code: i32,
    stdout: String,
    /// stderr as bytes (to look for raw control characters) and as text.
    raw: Vec<u8>,
    err: String,
}

fn hako_cmd(args: &[&str], tmp: &Path, cmd: &[&str]) -> Command {
    let mut c = common::hako();
    c.args(["--auto", "--lang", "en", "--color", "never"])
        .args(args)
        .arg("--")
        .args(cmd)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn hako(args: &[&str], tmp: &Path, cmd: &[&str]) -> Out {
    let o = hako_cmd(args, tmp, cmd).output().unwrap();
    out(o)
}

fn out(o: std::process::Output) -> Out {
    let err = String::from_utf8_lossy(&o.stderr);
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: err.split_whitespace().collect::<Vec<_>>().join(" "),
        raw: o.stderr,
    }
}

impl Out {
    fn failed_with(&self, what: &str) {
        assert_eq!(self.code, 125, "exit status:\n{}", self.err);
        assert!(self.err.contains(what), "{what:?} not in:\n{}", self.err);
        assert!(!self.err.contains("panicked"), "{}", self.err);
    }
}

/// Nothing of the run is left: its temp dir is empty, and no journal names it.
fn nothing_left(tmp: &Path) {
    let left: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    let t = tmp.to_string_lossy().into_owned();
    for j in std::fs::read_dir("/run/hako")
        .into_iter()
        .flatten()
        .flatten()
    {
        let s = std::fs::read_to_string(j.path()).unwrap_or_default();
        assert!(
            !s.contains(&t),
            "a journal still names {t}: {}",
            j.path().display()
        );
    }
}

fn busybox_tree(dir: &Path) {
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is needed (apt-get install busybox-static; tests/run.sh does)");
    for d in ["bin", "etc", "tmp", "proc", "dev"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy(bb, dir.join("bin/busybox")).unwrap();
    for a in ["sh", "ls", "cat", "du", "true", "stat"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(a)).unwrap();
    }
}

fn tar_of(dir: &Path, out: &Path, sparse: bool) {
    let mut c = Command::new("tar");
    c.arg("-C").arg(dir).arg("--numeric-owner");
    if sparse {
        c.arg("--sparse");
    }
    let st = c.arg("-cf").arg(out).arg(".").status().unwrap();
    assert!(st.success(), "tar failed");
}

/// One ustar header, written by hand (any name at all, and any size).
fn header(name: &[u8], kind: u8, link: &[u8], size: u64) -> Vec<u8> {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, v: &[u8]| h[at..at + v.len()].copy_from_slice(v);
    put(&mut h, 0, name);
    put(&mut h, 100, b"0000644\0");
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{size:011o}\0").as_bytes());
    put(&mut h, 136, b"15000000000\0");
    h[156] = kind;
    put(&mut h, 157, link);
    put(&mut h, 257, b"ustar\x0000");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    h.to_vec()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(vec![], flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A gzip file whose tar holds one file `bomb` of `gib` GiB of zeros: gzip members
/// one after the other (as `cat a.gz b.gz` makes them), one MiB of zeros compressed
/// once and repeated, so the file is about a thousandth of what it expands to.
fn gzip_bomb(path: &Path, gib: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(&gz(&header(b"bomb", b'0', b"", gib << 30)))
        .unwrap();
    let mib = gz(&vec![0u8; 1 << 20]);
    for _ in 0..(gib << 10) {
        f.write_all(&mib).unwrap();
    }
    f.write_all(&gz(&[0u8; 1024])).unwrap();
    f.flush().unwrap();
}

#[test]
#[ignore = "needs root"]
fn a_gzip_bomb_stops_at_the_byte_cap() {
    require_root();
    let t = Tmp::new("bomb");
    let tmp = Tmp::new("bomb-tmp");
    let bomb = t.path().join("bomb.tar.gz");
    gzip_bomb(&bomb, 1);
    let size = std::fs::metadata(&bomb).unwrap().len();
    assert!(size < 3 << 20, "the bomb is {size} bytes");
    let arg = format!("tar:{}", bomb.display());
    let t0 = Instant::now();
    let r = hako(
        &["--rootfs", &arg, "--max-unpack", "64M"],
        tmp.path(),
        &["/bin/true"],
    );
    r.failed_with("stopped unpacking the tarball");
    r.failed_with("at the entry 'bomb': its regular files would hold 1.00 GiB or more, over the cap of 64.00 MiB on one extraction (set with --max-unpack)");
    r.failed_with("--max-unpack 2G");
    assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
    nothing_left(tmp.path());
}

#[test]
#[ignore = "needs root"]
fn a_sparse_file_keeps_its_holes_or_is_refused_by_the_cap() {
    require_root();
    let t = Tmp::new("sparse");
    let tmp = Tmp::new("sparse-tmp");
    let tree = t.path().join("tree");
    busybox_tree(&tree);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(tree.join("big")).unwrap();
        f.set_len(2 << 30).unwrap();
        f.write_all_at(b"start", 1 << 20).unwrap();
        f.write_all_at(b"end", (2 << 30) - 3).unwrap();
    }
    let tar = t.path().join("sparse.tar");
    tar_of(&tree, &tar, true);
    std::fs::remove_dir_all(&tree).unwrap();
    let arg = format!("tar:{}", tar.display());
    // A cap lower than its logical size: refused before it is written.
    let r = hako(
        &["--rootfs", &arg, "--max-unpack", "1G"],
        tmp.path(),
        &["/bin/true"],
    );
    r.failed_with("at the entry './big': its regular files would hold 2.00 GiB or more, over the cap of 1.00 GiB");
    nothing_left(tmp.path());
    // Under the cap: unpacked with its holes (du counts the blocks in use, in KiB).
    let r = hako(
        &["--rootfs", &arg, "--max-unpack", "3G"],
        tmp.path(),
        &[
            "/bin/sh",
            "-c",
            "echo DU=$(du -k /big); echo SIZE=$(stat -c %s /big)",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(common::marker(&r.stdout, "SIZE"), (2u64 << 30).to_string());
    let kib: u64 = common::marker(&r.stdout, "DU")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(kib < 1024, "the holes were written: {kib} KiB in use");
    nothing_left(tmp.path());
}

#[test]
#[ignore = "needs root"]
fn too_many_entries_stop_at_the_entry_cap() {
    require_root();
    let t = Tmp::new("many");
    let tmp = Tmp::new("many-tmp");
    let tree = t.path().join("tree");
    busybox_tree(&tree);
    std::fs::create_dir(tree.join("many")).unwrap();
    for i in 0..200 {
        std::fs::write(tree.join(format!("many/{i}")), b"x").unwrap();
    }
    let tar = t.path().join("many.tar");
    tar_of(&tree, &tar, false);
    let arg = format!("tar:{}", tar.display());
    let r = hako(
        &["--rootfs", &arg, "--max-entries", "100"],
        tmp.path(),
        &["/bin/true"],
    );
    r.failed_with(
        "it has more than 100 entries, the cap on one extraction (set with --max-entries)",
    );
    r.failed_with("--max-entries 200");
    nothing_left(tmp.path());
    // The default lets it through.
    let r = hako(&["--rootfs", &arg], tmp.path(), &["/bin/true"]);
    assert_eq!(r.code, 0, "{}", r.err);
    nothing_left(tmp.path());
}

#[test]
#[ignore = "needs root"]
fn entry_names_with_escape_sequences_reach_the_terminal_escaped() {
    require_root();
    let t = Tmp::new("esc");
    let tmp = Tmp::new("esc-tmp");
    let cases: [(&[u8], u8, &[u8], &str); 3] = [
        (
            b"\x1b]0;pwned\x07/../../x",
            b'0',
            b"",
            "\\x1b]0;pwned\\x07/../../x",
        ),
        ("\u{9b}31m/../x".as_bytes(), b'0', b"", "\\x9b31m/../x"),
        (
            b"h",
            b'1',
            b"../\x1b[2J\x1b]0;pwned\x07",
            "\\x1b[2J\\x1b]0;pwned\\x07",
        ),
    ];
    for (i, (name, kind, link, shown)) in cases.into_iter().enumerate() {
        let mut tar = header(name, kind, link, if kind == b'0' { 1 } else { 0 });
        if kind == b'0' {
            tar.extend_from_slice(&[b'x'; 512]);
        }
        tar.extend_from_slice(&[0; 1024]);
        let f = t.path().join(format!("{i}.tar"));
        std::fs::write(&f, tar).unwrap();
        let r = hako(
            &["--rootfs", &format!("tar:{}", f.display())],
            tmp.path(),
            &["/bin/true"],
        );
        r.failed_with("refused the entry");
        assert!(r.err.contains(shown), "{shown} not in:\n{}", r.err);
        let text = String::from_utf8_lossy(&r.raw);
        assert!(
            !r.raw.contains(&0x1b) && !r.raw.contains(&0x07) && !text.contains('\u{9b}'),
            "a raw control character reached stderr: {text:?}"
        );
        nothing_left(tmp.path());
    }
}

#[test]
#[ignore = "needs root"]
fn sigterm_ends_a_long_unpacking_promptly_with_nothing_left() {
    require_root();
    let t = Tmp::new("term");
    let tmp = Tmp::new("term-tmp");
    let bomb = t.path().join("bomb.tar.gz");
    gzip_bomb(&bomb, 16);
    let arg = format!("tar:{}", bomb.display());
    let mut child = hako_cmd(
        &["--rootfs", &arg, "--max-unpack", "20G"],
        tmp.path(),
        &["/bin/true"],
    )
    .spawn()
    .unwrap();
    // Wait until the bomb is being written.
    let t0 = Instant::now();
    let started = loop {
        let growing = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .any(|d| std::fs::metadata(d.path().join("bomb")).is_ok_and(|m| m.len() > 0));
        if growing || t0.elapsed() > Duration::from_secs(60) {
            break growing;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let sent = Instant::now();
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let o = loop {
        if let Some(_st) = child.try_wait().unwrap() {
            break child.wait_with_output().unwrap();
        }
        if sent.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("hako did not end within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let r = out(o);
    assert!(started, "the unpacking never started:\n{}", r.err);
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "{:?} after SIGTERM",
        sent.elapsed()
    );
    assert_eq!(r.code, 143, "{}", r.err);
    assert!(r.err.contains("Stopped by a signal"), "{}", r.err);
    nothing_left(tmp.path());
}

#[test]
#[ignore = "needs root"]
fn the_default_cap_is_sized_by_the_free_space_where_the_rootfs_goes() {
    require_root();
    let t = Tmp::new("small");
    let tree = t.path().join("tree");
    busybox_tree(&tree);
    let tar = t.path().join("rootfs.tar");
    tar_of(&tree, &tar, false);
    let small = t.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "hako-test-xl-small"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(small.clone());
    let r = hako(
        &["--rootfs", &format!("tar:{}", tar.display())],
        &small,
        &["/bin/true"],
    );
    // 1 MiB of tmpfs (an empty directory takes no page there): 90% of it.
    r.failed_with(&format!("over the cap of 921.60 KiB on one extraction (hako's default: the smaller of 8.00 GiB and 90% of the 1.00 MiB free on the filesystem of {})", small.display()));
    r.failed_with("at the entry './bin/busybox'");
    nothing_left(&small);
}
