//! The practice tasks' judges against the real kernel: each stage of the article performed
//! by hand with the real commands (tar, mkdir and echo into cgroupfs, cgcreate, cgset,
//! cgexec, unshare, mount, hostname, capsh), each judge asked before and after its stage,
//! and each known wrong way made for real, to see its own line.
//!
//! The container's shell is a bash (busybox sh in the guest) reading commands from a pipe: the test writes one
//! command, then an `echo` of a marker, and reads up to the marker, so that the judge runs
//! when the command has ended, as the practice runner's does at the prompt.

mod common;

use hako::lessons::task::{Setup, Task, Verdict};
use hako::sys::cgroup::{detect, Layout};
use hako::sys::mountinfo;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

fn task(id: &str) -> &'static dyn Task {
    hako::lessons::entry(id)
        .and_then(|e| e.lesson.task())
        .unwrap_or_else(|| panic!("{id} has no task"))
}

fn sh(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .unwrap()
        .success()
}

/// What the test made, removed on every path (a failed assertion included).
struct Made {
    dir: PathBuf,
    rootfs: PathBuf,
    layout: Layout,
    uuid: String,
    children: Vec<Child>,
}

impl Made {
    fn kill_all(&mut self) {
        // The container's processes first (by the PIDs the cgroup lists: all started by
        // this test), then the children this test spawned.
        for _ in 0..50 {
            let mut any = false;
            for f in self.layout.procs_files(&self.uuid) {
                for p in std::fs::read_to_string(&f).unwrap_or_default().lines() {
                    if let Ok(pid) = p.trim().parse::<i32>() {
                        let _ = hako::sys::pids::kill(pid, hako::sys::Signal::SIGKILL);
                        any = true;
                    }
                }
            }
            if !any {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        self.kill_all();
        // Whatever the host still has mounted under the rootfs, deepest first.
        let mut under: Vec<PathBuf> = mountinfo::read(None)
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.mount_point)
            .filter(|p| p.starts_with(&self.rootfs))
            .collect();
        under.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for p in under {
            let _ = Command::new("umount").arg("-l").arg(&p).status();
        }
        for d in self.layout.dirs(&self.uuid).into_iter().rev() {
            for _ in 0..50 {
                if !d.exists() || std::fs::remove_dir(&d).is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        let still = mountinfo::read(None)
            .unwrap_or_default()
            .iter()
            .any(|m| m.mount_point.starts_with(&self.dir));
        if !still {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A shell of the container's, reading commands from a pipe.
struct Shell {
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
    n: u32,
}

impl Shell {
    /// Sends `cmd`, which replaces the shell (`exec`), alone: a shell that reads its
    /// input from a pipe in blocks (busybox sh) would take the marker's line with it.
    /// Then waits for the new program to answer.
    fn exec(&mut self, cmd: &str) -> String {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(1));
        self.run("true")
    }

    /// Runs `cmd` in the shell and waits for it to end; returns what it printed.
    fn run(&mut self, cmd: &str) -> String {
        self.n += 1;
        let mark = format!("__done_{}__", self.n);
        writeln!(self.stdin, "{cmd}\necho {mark}").unwrap();
        self.stdin.flush().unwrap();
        let mut got = String::new();
        loop {
            let mut line = String::new();
            let n = self.out.read_line(&mut line).unwrap();
            assert!(n > 0, "the shell ended while running `{cmd}`:\n{got}");
            if line.trim() == mark {
                return got;
            }
            got.push_str(&line);
        }
    }
}

/// Starts `argv` (an `unshare …` line) with its stdin and stdout piped.
fn start(made: &mut Made, argv: &[&str]) -> Shell {
    let mut c = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = c.stdin.take().unwrap();
    let out = BufReader::new(c.stdout.take().unwrap());
    made.children.push(c);
    let mut s = Shell { stdin, out, n: 0 };
    s.run("true");
    s
}

fn passed(v: &Verdict) -> bool {
    v.passed()
}

fn line(v: &Verdict) -> String {
    match v {
        Verdict::Failed { line, .. } => line.clone().unwrap_or_default(),
        Verdict::Passed { line, .. } | Verdict::Halfway { line, .. } => line.clone(),
    }
}

/// The judge fails with no known wrong way (the stage simply not done).
fn not_done(id: &str, s: &Setup) {
    let v = task(id).judge(s);
    assert!(!passed(&v), "{id} passed before its stage: {v:?}");
    if let Verdict::Failed { line: Some(l), .. } = &v {
        panic!("{id}: a wrong-way line before anything was done: {l}");
    }
}

fn passes(id: &str, s: &Setup) {
    let t0 = std::time::Instant::now();
    let v = task(id).judge(s);
    let took = t0.elapsed();
    assert!(passed(&v), "{id} did not pass: {v:?}");
    assert!(
        took < std::time::Duration::from_millis(500),
        "{id}'s judge took {took:?}"
    );
    eprintln!("✔ {} ({took:?})", line(&v));
}

/// The judge sees half of the stage done (not a mistake): a line of what is left.
fn halfway(id: &str, s: &Setup, words: &[&str]) {
    let v = task(id).judge(s);
    assert!(
        matches!(v, Verdict::Halfway { .. }),
        "{id}: not half done: {v:?}"
    );
    let l = line(&v);
    for w in words {
        assert!(l.contains(w), "{id}: {w:?} not in the line: {l:?}");
    }
    eprintln!("… {l}");
}

fn wrong(id: &str, s: &Setup, words: &[&str]) {
    let v = task(id).judge(s);
    assert!(
        matches!(v, Verdict::Failed { line: Some(_), .. }),
        "{id}: not a wrong way: {v:?}"
    );
    let l = line(&v);
    for w in words {
        assert!(l.contains(w), "{id}: {w:?} not in the line: {l:?} ({v:?})");
    }
    eprintln!("✘ {l}");
}

/// A busybox-static rootfs as a tarball, the way hako prepares `$IMAGE`.
fn image(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    for d in ["bin", "dev", "etc", "proc", "tmp"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
    }
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is needed (apt-get install busybox-static)");
    std::fs::copy(bb, src.join("bin/busybox")).unwrap();
    for a in ["sh", "ls", "cat", "hostname", "sleep", "echo", "mount"] {
        std::os::unix::fs::symlink("busybox", src.join("bin").join(a)).unwrap();
    }
    let img = dir.join("image.tar");
    assert!(Command::new("tar")
        .arg("-cf")
        .arg(&img)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap()
        .success());
    std::fs::remove_dir_all(&src).unwrap();
    img
}

fn setup_for(made: &Made, image: &Path) -> Setup {
    Setup {
        uuid: made.uuid.clone(),
        rootfs: made.rootfs.clone(),
        image: image.to_path_buf(),
        shell_pid: std::process::id() as i32,
        layout: made.layout.clone(),
        host_hostname: hako::sys::ns::hostname(),
        host_mounts: mountinfo::read(None).unwrap(),
        pids: None,
        overlay: false,
    }
}

fn new_made() -> Made {
    let mounts = mountinfo::read(None).unwrap();
    let layout = detect(&mounts).expect("a cgroup layout");
    let uuid = format!("hako-practice-test-{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("hako-practice-test.{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rootfs = dir.join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    Made {
        dir,
        rootfs,
        layout,
        uuid,
        children: vec![],
    }
}

fn have(tool: &str) -> bool {
    sh(&format!("command -v {tool} >/dev/null"))
}

/// Set by the cgroup v2 guest (below), which has busybox, capsh and no cgroup-tools,
/// bash or dash: there the stages are typed in the forms that need none of them.
fn in_guest() -> bool {
    std::env::var_os("HAKO_PRACTICE_GUEST").is_some()
}

/// `argv` started in the run's cgroup: through cgexec, or (without cgroup-tools) by a
/// shell that writes itself into each `cgroup.procs` first, as solve types it.
fn in_cgroup(s: &Setup, argv: &[&str]) -> Vec<String> {
    if have("cgexec") {
        let mut v = vec![
            "cgexec".to_string(),
            "-g".into(),
            format!("cpu,memory:{}", s.uuid),
        ];
        v.extend(argv.iter().map(|a| a.to_string()));
        return v;
    }
    let join: Vec<String> = s
        .layout
        .procs_files(&s.uuid)
        .iter()
        .map(|f| format!("echo $$ > {}", f.display()))
        .collect();
    vec![
        "sh".into(),
        "-c".into(),
        format!("{} && exec {}", join.join(" && "), argv.join(" ")),
    ]
}

#[test]
#[ignore = "needs root"]
fn each_stage_by_hand_passes_only_after_it_and_each_wrong_way_says_so() {
    common::require_root();
    let tools: &[&str] = if in_guest() {
        &["capsh", "unshare", "tar"]
    } else {
        &[
            "cgcreate", "cgset", "cgexec", "capsh", "unshare", "tar", "bash",
        ]
    };
    for tool in tools {
        assert!(
            have(tool),
            "{tool} is needed by this test (see tests/run.sh)"
        );
    }
    let bash = if have("bash") { "/bin/bash" } else { "/bin/sh" };
    let mut made = new_made();
    let img = image(&made.dir);
    let s = setup_for(&made, &img);
    let v2 = s.layout.version.is_v2();
    let r = s.rootfs.display().to_string();
    let u = s.uuid.clone();

    // rootfs: nothing yet; one level too deep; then as the hint says.
    not_done("rootfs", &s);
    std::fs::create_dir(made.rootfs.join("nested")).unwrap();
    assert!(sh(&format!("tar -xf {} -C {r}/nested", img.display())));
    wrong("rootfs", &s, &["too deep", "nested"]);
    assert!(sh(&format!("rm -rf {r}/nested")));
    for l in task("rootfs").solve(&s) {
        assert!(sh(&l), "{l}");
    }
    passes("rootfs", &s);

    // cgroup: nothing; one hierarchy of two (v1), or (v2) a directory whose parent does
    // not hand the controllers down; then cgcreate, or the missing step by hand.
    not_done("cgroup", &s);
    std::fs::create_dir(s.layout.memory.join(&u)).unwrap();
    if v2 {
        let sub = s.layout.memory.join("cgroup.subtree_control");
        let before = std::fs::read_to_string(&sub).unwrap();
        if !(before.contains("memory") && before.contains("cpu")) {
            wrong("cgroup", &s, &["subtree_control", "+memory +cpu"]);
            assert!(sh(&format!("echo '+memory +cpu' > {}", sub.display())));
        }
    } else {
        halfway("cgroup", &s, &["does not", "cgcreate -g cpu,memory:"]);
        if have("cgcreate") {
            assert!(sh(&format!("cgcreate -g cpu,memory:{u}")));
        } else {
            std::fs::create_dir(s.layout.cpu.join(&u)).unwrap();
        }
    }
    passes("cgroup", &s);

    // limits: nothing; the CPU set by hand and the memory with the other version's
    // name (which the kernel refuses); then cgset, as solve types it.
    not_done("limits", &s);
    let (other, cpu) = if v2 {
        (
            "memory.limit_in_bytes",
            "echo '300000 1000000' > {d}/cpu.max",
        )
    } else {
        (
            "memory.max",
            "echo 1000000 > {d}/cpu.cfs_period_us && echo 300000 > {d}/cpu.cfs_quota_us",
        )
    };
    let cdir = s.layout.cpu.join(&u).display().to_string();
    assert!(sh(&cpu.replace("{d}", &cdir)));
    let mdir = s.layout.memory.join(&u);
    assert!(
        !sh(&format!(
            "echo 10000000 > {}/{other} 2>/dev/null",
            mdir.display()
        )),
        "the other version's file took a write"
    );
    let right = if v2 {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    halfway("limits", &s, &[right, other]);
    for l in task("limits").solve(&s) {
        assert!(sh(&l), "{l}");
    }
    passes("limits", &s);

    // namespaces: nothing; unshare without -f; unshare outside the cgroup; then right.
    not_done("namespaces", &s);
    let argv = in_cgroup(&s, &["unshare", "-muinp", "sleep", "600"]);
    let mut nofork = Command::new(&argv[0]).args(&argv[1..]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    wrong("namespaces", &s, &["without -f", &nofork.id().to_string()]);
    let _ = nofork.kill();
    let _ = nofork.wait();
    let mut outside = Command::new("unshare")
        .args(["-muinpf", "sleep", "600"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    wrong("namespaces", &s, &["is not in the cgroup", &u]);
    // Its PID 1 (the sleep unshare forked) first, by the PID the judge found: it would
    // outlive unshare.
    if let Some(p) = hako::lessons::judge::find(&s).pid1 {
        let _ = hako::sys::pids::kill(p, hako::sys::Signal::SIGKILL);
    }
    let _ = outside.kill();
    let _ = outside.wait();

    // The mount before unshare: proc on the host's $ROOTFS/proc, copied into the
    // container's mount namespace when it is made.
    assert!(sh(&format!("mount -t proc proc {r}/proc")));
    let argv = in_cgroup(&s, &["unshare", "-muinpf", bash, "-s"]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut shell = start(&mut made, &argv);
    passes("namespaces", &s);

    // proc: in the host's table; once gone there, the container's copy is the host's
    // PID namespace's; then as solve types it.
    wrong("proc", &s, &["host's own mount table", "proc"]);
    assert!(sh(&format!("umount {r}/proc")));
    wrong("proc", &s, &["lists the host's processes"]);
    shell.run(&format!("umount {r}/proc"));
    not_done("proc", &s);
    for l in task("proc").solve(&s) {
        shell.run(&l);
    }
    passes("proc", &s);
    // A child of the shell in the container does not stop it passing.
    shell.run("sleep 600 &");
    passes("proc", &s);
    shell.run("kill $!; wait");

    // devpts: the article's recipe, then the instance's own ptmx.
    not_done("devpts", &s);
    for l in [
        format!("mkdir -p {r}/dev/pts"),
        format!("mount -t devpts -o newinstance,ptmxmode=0666 devpts {r}/dev/pts"),
        format!("touch {r}/dev/ptmx"),
        format!("mount --bind /dev/pts/ptmx {r}/dev/pts/ptmx"),
        format!("ln -sf /dev/pts/ptmx {r}/dev/ptmx"),
    ] {
        shell.run(&l);
    }
    wrong("devpts", &s, &["host's devpts", "link to pts/ptmx"]);
    shell.run(&format!("umount {r}/dev/pts/ptmx"));
    shell.run(&format!("rm -f {r}/dev/ptmx"));
    halfway("devpts", &s, &["ln -sf pts/ptmx"]);
    for l in task("devpts").solve(&s) {
        shell.run(&l);
    }
    passes("devpts", &s);

    // devnull: a plain file, then the bind.
    not_done("devnull", &s);
    shell.run(&format!("touch {r}/dev/null"));
    halfway("devnull", &s, &["plain file"]);
    for l in task("devnull").solve(&s) {
        shell.run(&l);
    }
    passes("devnull", &s);

    // hostname: the host's name changed (here: a setup that remembers another one, so
    // the host's real name is never touched), then inside.
    not_done("hostname", &s);
    for l in task("hostname").solve(&s) {
        shell.run(&l);
    }
    passes("hostname", &s);
    let mut moved = s.clone();
    moved.host_hostname = "not-this-host".into();
    wrong(
        "hostname",
        &moved,
        &["not-this-host", "hostname ran in the host's"],
    );

    // chroot: a chroot that keeps CAP_SYS_CHROOT (a child of the shell), then capsh.
    not_done("chroot", &s);
    shell.run(&format!("chroot {r} /bin/sleep 600 &"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    wrong("chroot", &s, &["CAP_SYS_CHROOT", "--drop=cap_sys_chroot"]);
    shell.run("kill $!; wait");
    let lines = task("chroot").solve(&s);
    assert!(lines[0].starts_with("exec capsh"), "{lines:?}");
    for l in &lines {
        shell.exec(l);
    }
    passes("chroot", &s);
    assert_eq!(shell.run("hostname").trim(), u);
    // Its / is the rootfs: the image's directories, not the host's /usr.
    let ls = shell.run("ls /");
    let names: Vec<&str> = ls.split_whitespace().collect();
    assert!(names.contains(&"bin") && !names.contains(&"usr"), "{ls}");

    // The container gone (its PID 1 ended): each stage typed inside says so.
    made.kill_all();
    for id in ["proc", "devpts", "devnull", "hostname", "chroot"] {
        wrong(id, &s, &["No process of the container is left"]);
    }

    // dash as the container's shell: the namespaces task warns, chroot says why.
    if Path::new("/bin/dash").exists() && have("cgexec") {
        let _dash = start(
            &mut made,
            &[
                "cgexec",
                "-g",
                &format!("cpu,memory:{u}"),
                "unshare",
                "-muinpf",
                "/bin/dash",
                "-s",
            ],
        );
        let v = task("namespaces").judge(&s);
        assert!(v.passed(), "{v:?}");
        assert!(line(&v).contains("dash"), "{}", line(&v));
        wrong("chroot", &s, &["dash", "Cannot set tty process group"]);
        let l = task("chroot").solve(&s);
        assert!(l[0].starts_with("capsh "), "{l:?}");
        made.kill_all();
    }
    drop(made);
    assert!(!Path::new(&r).exists(), "the rootfs was left behind");
    for d in s.layout.dirs(&u) {
        assert!(!d.exists(), "{} was left behind", d.display());
    }
}

/// The same stages, judged on a real cgroup v2 host: the test binary itself boots in the
/// QEMU guest of `tests/qemu/run-guest.sh` (cgroup2 on /sys/fs/cgroup, its root handing no
/// controller down, busybox for the tools), with util-linux's unshare and capsh (and its
/// libcap) copied in, and runs the test above there. Needs `tests/qemu/prepare.sh` first.
#[test]
#[ignore = "needs root"]
fn the_judges_hold_on_cgroup_v2_in_a_qemu_guest() {
    common::require_root();
    assert!(
        !in_guest(),
        "the guest runs only the stages test (--exact), never this one"
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let qemu = repo.join("tests/qemu");
    assert!(
        repo.join("target/qemu/vmlinuz").exists() || std::env::var_os("HAKO_QEMU_DIR").is_some(),
        "no guest kernel: run tests/qemu/prepare.sh (as root) first"
    );
    let which = |t: &str| {
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
    };
    let capsh = which("capsh");
    let unshare = which("unshare");
    // capsh's own libraries besides libc (which run-guest.sh copies for the binary).
    let ldd = Command::new("ldd").arg(&capsh).output().unwrap();
    let libs: Vec<PathBuf> = String::from_utf8_lossy(&ldd.stdout)
        .lines()
        .filter_map(|l| l.split("=> ").nth(1))
        .filter_map(|r| r.split_whitespace().next())
        .filter(|p| p.starts_with('/') && !p.contains("libc.so"))
        .map(PathBuf::from)
        .collect();
    let me = std::env::current_exe().unwrap();
    let work = std::env::temp_dir().join(format!("hako-practice-guest.{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let script = work.join("guest.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         for f in /extra/*.so*; do cp \"$f\" /lib/x86_64-linux-gnu/; done\n\
         cp /extra/capsh /extra/unshare /usr/bin/\n\
         echo \"PRACTICE-LAYOUT=$(cat /sys/fs/cgroup/cgroup.controllers)\"\n\
         HAKO_PRACTICE_GUEST=1 /usr/bin/hako --include-ignored --test-threads=1 --nocapture \\\n\
           --exact each_stage_by_hand_passes_only_after_it_and_each_wrong_way_says_so 2>&1\n\
         echo \"PRACTICE-EXIT=$?\"\n",
    )
    .unwrap();
    let log = work.join("serial.log");
    let mut cmd = Command::new("bash");
    cmd.arg(qemu.join("run-guest.sh"))
        .arg(&me)
        .arg(&script)
        .arg(&capsh)
        .arg(&unshare)
        .args(&libs)
        .env("HAKO_GUEST_LOG", &log)
        .env("HAKO_GUEST_TIMEOUT", "480");
    let out = cmd.output().unwrap();
    let serial = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&work);
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let shown: Vec<&str> = serial
        .lines()
        .filter(|l| l.starts_with('✔') || l.starts_with('✘') || l.starts_with("PRACTICE-"))
        .collect();
    eprintln!("{}", shown.join("\n"));
    assert!(out.status.success(), "run-guest.sh failed:\n{serial}");
    assert!(
        serial.lines().any(|l| l == "PRACTICE-EXIT=0")
            && serial.contains("test result: ok. 1 passed"),
        "the stages test failed in the cgroup v2 guest:\n{serial}"
    );
    // It ran on v2, in the forms without cgroup-tools: the raw writes were judged.
    assert!(serial.contains("cgroup.subtree_control"), "{serial}");
    assert!(serial.contains("memory.max"), "{serial}");
}
