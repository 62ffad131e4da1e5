//! The `host` source: an offline rootfs made from this machine's own programs in a
//! few milliseconds. busybox (static) when the host has it; otherwise the host's
//! /bin/sh and a handful of tools, each with the ELF interpreter and shared libraries
//! its headers name (PT_INTERP, DT_NEEDED; what `ldd` shows), found by `lddtree`.

use crate::error::{Error, Result};
use crate::ui::i18n::tf;
use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Everyday tools copied when there is no busybox, if the host has them.
pub const TOOLS: &[&str] = &[
    "ls", "cat", "ps", "mount", "umount", "hostname", "id", "sleep", "dd", "chroot", "ip", "true",
    "false", "env", "mkdir", "uname", "tty", "stty", "head", "grep", "rm", "yes", "wc",
];

/// The multiarch directory names Debian-like loaders search by default.
const MULTIARCH: &[&str] = &[
    "x86_64-linux-gnu",
    "aarch64-linux-gnu",
    "i386-linux-gnu",
    "arm-linux-gnueabihf",
];

/// Hidden, test-only: pretend the host has no busybox, to exercise the ELF path.
pub const NO_BUSYBOX_ENV: &str = "HAKO_TEST_NO_BUSYBOX";

const PATH_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Built {
    Busybox {
        from: PathBuf,
        applets: usize,
    },
    Elf {
        tools: Vec<String>,
        libraries: Vec<String>,
    },
}

/// Finds a program on the usual paths (the walk runs as root, often under sudo, whose
/// PATH is reset anyway).
pub fn which(name: &str) -> Option<PathBuf> {
    let env_path = std::env::var("PATH").unwrap_or_default();
    env_path
        .split(':')
        .filter(|d| !d.is_empty())
        .chain(PATH_DIRS.iter().copied())
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

pub fn find_busybox() -> Option<PathBuf> {
    if std::env::var_os(NO_BUSYBOX_ENV).is_some() {
        return None;
    }
    which("busybox")
}

/// Copies a host program and everything the loader needs for it into `root`.
struct Copier<'a> {
    root: &'a Path,
    done: HashSet<PathBuf>,
    libraries: Vec<String>,
}

impl Copier<'_> {
    fn copy_file(&mut self, from: &Path, inside: &Path) -> Result<()> {
        if !self.done.insert(inside.to_path_buf()) {
            return Ok(());
        }
        let to = self.root.join(inside.strip_prefix("/").unwrap_or(inside));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_failed("mkdir", parent, e))?;
        }
        std::fs::copy(from, &to).map_err(|e| io_failed("copy", from, e))?;
        Ok(())
    }

    /// The program at `inside`, plus its interpreter and libraries, at the same paths.
    fn copy_program(&mut self, from: &Path, inside: &Path) -> Result<()> {
        self.copy_file(from, inside)?;
        let tree = lddtree::DependencyAnalyzer::new(PathBuf::from("/"))
            .analyze(from)
            .map_err(|e| Error::failed(tf("err.elf", &[("path", &from.display()), ("why", &e)])))?;
        if let Some(interp) = &tree.interpreter {
            let p = PathBuf::from(interp);
            let real = std::fs::canonicalize(&p).unwrap_or(p.clone());
            self.copy_file(&real, &p)?;
        }
        let mut libs: Vec<_> = tree.libraries.values().collect();
        libs.sort_by(|a, b| a.name.cmp(&b.name));
        for lib in libs {
            if !lib.found() {
                return Err(Error::failed(tf(
                    "err.lib_missing",
                    &[("lib", &lib.name), ("path", &from.display())],
                )));
            }
            let real = lib.realpath.clone().unwrap_or(lib.path.clone());
            if !self.libraries.contains(&lib.name) {
                self.libraries.push(lib.name.clone());
            }
            self.copy_file(&real, &lib.path)?;
        }
        Ok(())
    }
}

fn io_failed(what: &str, path: &Path, e: std::io::Error) -> Error {
    crate::sys::failure(
        &format!("{what} {}", path.display()),
        crate::sys::io_errno(&e),
    )
}

/// The skeleton every rootfs gets: the usual directories and a minimal /etc.
fn skeleton(root: &Path) -> Result<()> {
    for d in ["bin", "dev", "etc", "proc", "root", "tmp"] {
        let p = root.join(d);
        std::fs::create_dir_all(&p).map_err(|e| io_failed("mkdir", &p, e))?;
    }
    let tmp = root.join("tmp");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))
        .map_err(|e| io_failed("chmod 1777", &tmp, e))?;
    let files = [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/group", "root:x:0:\n"),
    ];
    for (f, content) in files {
        let p = root.join(f);
        std::fs::write(&p, content).map_err(|e| io_failed("write", &p, e))?;
    }
    Ok(())
}

/// Fills `root` (an empty directory) from the host.
pub fn build(root: &Path) -> Result<Built> {
    skeleton(root)?;
    let mut c = Copier {
        root,
        done: HashSet::new(),
        libraries: vec![],
    };
    if let Some(bb) = find_busybox() {
        c.copy_program(&bb, Path::new("/bin/busybox"))?;
        let applets = busybox_applets(&bb);
        // One more name for the rootfs's own copy per applet (a hard link, as `busybox
        // --install` makes): no new inode, unlike a symbolic link each. Never a link to
        // the host's binary: root inside could then change it.
        let bin = root.join("bin/busybox");
        for a in applets.iter().filter(|a| *a != "busybox") {
            let _ = std::fs::hard_link(&bin, root.join("bin").join(a));
        }
        return Ok(Built::Busybox {
            from: bb,
            applets: applets.len(),
        });
    }
    let sh = which("sh").ok_or_else(|| Error::failed(tf("err.no_host_sh", &[])))?;
    let sh_real = std::fs::canonicalize(&sh).unwrap_or(sh);
    c.copy_program(&sh_real, Path::new("/bin/sh"))?;
    let mut tools = vec!["sh".to_string()];
    for t in TOOLS {
        if let Some(p) = which(t) {
            let real = std::fs::canonicalize(&p).unwrap_or(p);
            c.copy_program(&real, &Path::new("/bin").join(t))?;
            tools.push(t.to_string());
        }
    }
    Ok(Built::Elf {
        tools,
        libraries: c.libraries,
    })
}

/// The applet names as busybox keeps them in its own binary: `applet_names`, one
/// NUL-terminated string per applet, sorted (busybox finds applets by binary search),
/// ending with an empty string. `busybox --list` prints exactly this table; reading it
/// spares a process. The table is found by its first entries, `[` and `[[` (the test
/// applets); `None` when they are not there or what follows does not look like the table.
pub fn applets_in_binary(bin: &[u8]) -> Option<Vec<String>> {
    const START: &[u8] = b"\0[\0[[\0";
    let at = bin.windows(START.len()).position(|w| w == START)? + 1;
    let mut names: Vec<String> = vec![];
    for raw in bin[at..].split(|b| *b == 0) {
        if raw.is_empty() {
            break;
        }
        let ok = raw.len() <= 64 && raw.iter().all(|b| b.is_ascii_graphic() && *b != b'/');
        let name = std::str::from_utf8(raw).ok().filter(|_| ok)?;
        if names.last().is_some_and(|prev| prev.as_str() >= name) {
            return None;
        }
        names.push(name.to_string());
    }
    (names.len() >= 10 && names.iter().any(|n| n == "sh")).then_some(names)
}

/// The applets a busybox binary offers (read from the binary, else `busybox --list`),
/// or a basic set if it won't say.
fn busybox_applets(bb: &Path) -> Vec<String> {
    if let Some(names) = std::fs::read(bb).ok().and_then(|b| applets_in_binary(&b)) {
        return names;
    }
    let listed = std::process::Command::new(bb)
        .arg("--list")
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .filter(|a| !a.is_empty() && !a.contains('/'))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if listed.is_empty() {
        std::iter::once("sh")
            .chain(TOOLS.iter().copied())
            .map(str::to_string)
            .collect()
    } else {
        listed
    }
}

// ------------------------------------------------------------ untrusted rootfs

/// The most bytes of one file of an untrusted rootfs read to parse its ELF headers
/// (the largest shell or C library is a few MB; a sparse 2 GiB "shell" is refused).
pub const MAX_ELF_BYTES: u64 = 128 << 20;

/// At most this many files (programs, interpreters, libraries) looked at per check.
const MAX_OBJECTS: usize = 256;

/// A `#!` script's interpreter may itself be a script, up to this depth (as the
/// kernel's binfmt_script allows a few levels).
const MAX_SCRIPT_DEPTH: usize = 4;

/// What the rootfs check found, without running anything from the rootfs: the image's
/// programs are untrusted, and before the later lessons confine them they would run
/// with every capability of the host's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// What execve(2) would find at the path, in words (already sanitised).
    pub seen: String,
    /// An executable ELF program for this machine (or a script whose interpreter is).
    pub runs: bool,
    /// The ELF interpreter and every library (transitively), each with whether it was
    /// found inside the rootfs. Names are sanitised.
    pub deps: Vec<(String, bool)>,
}

/// The ELF machine (`e_machine`) of the machine hako was built for; `None` when hako
/// does not know it (then any machine is accepted).
pub fn host_machine() -> Option<u16> {
    use goblin::elf::header::*;
    if cfg!(target_arch = "x86_64") {
        Some(EM_X86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(EM_AARCH64)
    } else if cfg!(target_arch = "x86") {
        Some(EM_386)
    } else if cfg!(target_arch = "arm") {
        Some(EM_ARM)
    } else if cfg!(target_arch = "riscv64") {
        Some(EM_RISCV)
    } else if cfg!(target_arch = "powerpc64") {
        Some(EM_PPC64)
    } else if cfg!(target_arch = "s390x") {
        Some(EM_S390)
    } else {
        None
    }
}

fn machine_name(m: u16) -> String {
    goblin::elf::header::machine_to_str(m)
        .trim_start_matches("EM_")
        .to_lowercase()
}

/// The headers of one ELF file that the loader reads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ElfInfo {
    bits: u8,
    /// ET_EXEC or ET_DYN: something execve(2) or the loader can map.
    loadable: bool,
    machine: u16,
    interp: Option<String>,
    needed: Vec<String>,
    rpath: Vec<String>,
    runpath: Vec<String>,
    musl: bool,
}

/// What one path holds, read through [`DirFd::open_in_root`].
#[derive(Debug)]
enum Content {
    Missing(Errno),
    NotRegular(u32),
    NotExecutable(u32),
    TooLarge(u64),
    Script(String),
    Elf(ElfInfo, u32),
    NotElf,
}

use crate::sys::at::{DirFd, InRoot};
use crate::sys::Errno;

/// PT_INTERP, DT_NEEDED, DT_RPATH and DT_RUNPATH of an ELF file's bytes (goblin parses;
/// nothing is mapped or run). `None` when the bytes are not ELF.
fn parse_elf(bytes: &[u8]) -> Option<ElfInfo> {
    let elf = goblin::elf::Elf::parse(bytes).ok()?;
    let split = |v: &[&str]| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(':'))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let interp = elf.interpreter.map(str::to_string);
    Some(ElfInfo {
        bits: if elf.is_64 { 64 } else { 32 },
        loadable: matches!(
            elf.header.e_type,
            goblin::elf::header::ET_EXEC | goblin::elf::header::ET_DYN
        ),
        machine: elf.header.e_machine,
        musl: interp.as_deref().is_some_and(|i| i.contains("ld-musl")),
        interp,
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        rpath: split(&elf.rpaths),
        runpath: split(&elf.runpaths),
    })
}

/// The `#!` line's interpreter, if the bytes start with one.
fn shebang(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(b"#!")?;
    let line = rest.split(|b| *b == b'\n').next()?;
    let line = &line[..line.len().min(256)];
    let text = String::from_utf8_lossy(line);
    text.split_whitespace().next().map(str::to_string)
}

/// Reads what `path` holds inside the rootfs: only a regular file is opened, and only
/// its first [`MAX_ELF_BYTES`].
fn read_in_root(root: &DirFd, path: &str, need_exec: bool) -> Content {
    use std::io::Read;
    let (f, st) = match root.open_in_root(path) {
        Ok(InRoot::File(f, st)) => (f, st),
        Ok(InRoot::Other(mode)) => return Content::NotRegular(mode),
        Err(e) => return Content::Missing(e),
    };
    let mode = st.st_mode & 0o7777;
    if need_exec && mode & 0o111 == 0 {
        return Content::NotExecutable(mode);
    }
    if st.st_size as u64 > MAX_ELF_BYTES {
        return Content::TooLarge(st.st_size as u64);
    }
    let mut bytes = vec![];
    if let Err(e) = f.take(MAX_ELF_BYTES).read_to_end(&mut bytes) {
        return Content::Missing(crate::sys::io_errno(&e));
    }
    if let Some(i) = shebang(&bytes) {
        return Content::Script(i);
    }
    match parse_elf(&bytes) {
        Some(info) if info.loadable => Content::Elf(info, mode),
        _ => Content::NotElf,
    }
}

/// The directories the loader searches after DT_RPATH/DT_RUNPATH: /etc/ld.so.conf
/// (with its `include`s) for glibc, /etc/ld-musl-ARCH.path for musl, then the built-in
/// defaults (Debian's loader knows the multiarch directories even without a config).
fn search_dirs(root: &DirFd, musl: bool, machine: u16) -> Vec<String> {
    let mut dirs = vec![];
    if musl {
        let arch = match machine_name(machine).as_str() {
            "x86_64" => "x86_64",
            "aarch64" => "aarch64",
            "386" => "i386",
            "arm" => "armhf",
            m => m,
        }
        .to_string();
        let conf = read_small(root, &format!("/etc/ld-musl-{arch}.path"));
        dirs.extend(
            conf.split(|c: char| c == ':' || c.is_whitespace())
                .filter(|d| d.starts_with('/'))
                .map(str::to_string),
        );
        dirs.extend(["/lib", "/usr/local/lib", "/usr/lib"].map(String::from));
        return dirs;
    }
    ld_so_conf(root, "/etc/ld.so.conf", 0, &mut dirs);
    for t in MULTIARCH {
        dirs.push(format!("/lib/{t}"));
        dirs.push(format!("/usr/lib/{t}"));
    }
    dirs.extend(["/lib64", "/usr/lib64", "/lib", "/usr/lib"].map(String::from));
    dirs
}

/// A small text file of the rootfs (at most 64 KiB), or "" if it is not there or not a
/// regular file.
fn read_small(root: &DirFd, path: &str) -> String {
    use std::io::Read;
    let Ok(InRoot::File(f, _)) = root.open_in_root(path) else {
        return String::new();
    };
    let mut b = vec![];
    let _ = f.take(64 << 10).read_to_end(&mut b);
    String::from_utf8_lossy(&b).into_owned()
}

/// The directories one ld.so.conf names, following `include` (a `*` in the last
/// component is matched against that directory's names, in order).
fn ld_so_conf(root: &DirFd, path: &str, depth: usize, dirs: &mut Vec<String>) {
    if depth > 4 {
        return;
    }
    for line in read_small(root, path).lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pat) = line.strip_prefix("include") {
            let pat = pat.trim();
            let pat = if pat.starts_with('/') {
                pat.to_string()
            } else {
                format!("/etc/{pat}")
            };
            for f in glob_in_root(root, &pat) {
                ld_so_conf(root, &f, depth + 1, dirs);
            }
        } else if !line.is_empty() && !line.starts_with("hwcap") {
            dirs.extend(
                line.split(|c: char| c == ':' || c == ',' || c.is_whitespace())
                    .filter(|d| d.starts_with('/'))
                    .map(str::to_string),
            );
        }
    }
}

/// The paths a pattern with `*`s in its last component names inside the rootfs, sorted.
fn glob_in_root(root: &DirFd, pat: &str) -> Vec<String> {
    let (dir, last) = pat.rsplit_once('/').unwrap_or(("", pat));
    if !last.contains('*') {
        return vec![pat.to_string()];
    }
    let Ok(d) = root.dir_in_root(if dir.is_empty() { "/" } else { dir }) else {
        return vec![];
    };
    let mut out: Vec<String> = d
        .names()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| String::from_utf8(n).ok())
        .filter(|n| glob_match(last, n))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    out.sort();
    out.truncate(256);
    out
}

/// `*` matches any run of characters (the only wildcard ld.so.conf files use).
fn glob_match(pat: &str, name: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Inspects `prog` (a path inside `root`) as execve(2) and the loader would find it
/// with `root` as `/`, without running anything: every file is opened through
/// openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS), only regular files are read (a FIFO
/// or device at the path cannot make hako wait), and only their headers are parsed.
pub fn inspect(root: &Path, prog: &str) -> Result<Inspected> {
    let dir = DirFd::open(root).map_err(|e| {
        crate::sys::failure(
            &format!("open {}", crate::ui::sanitize::clean_path(root)),
            e,
        )
    })?;
    Ok(inspect_in(&dir, prog))
}

fn inspect_in(root: &DirFd, prog: &str) -> Inspected {
    let clean = |s: &str| crate::ui::sanitize::clean(s).into_owned();
    let mut path = prog.to_string();
    let mut chain: Vec<String> = vec![];
    for _ in 0..=MAX_SCRIPT_DEPTH {
        let said = |s: String, chain: &[String]| -> String {
            chain.iter().rev().fold(s, |acc, i| {
                tf("rootfs.kind_script", &[("interp", i), ("then", &acc)])
            })
        };
        let no = |s: String, chain: &[String]| Inspected {
            seen: said(s, chain),
            runs: false,
            deps: vec![],
        };
        match read_in_root(root, &path, true) {
            Content::Missing(e) => return no(tf("rootfs.kind_missing", &[("errno", &e)]), &chain),
            Content::NotRegular(mode) => {
                return no(
                    tf("rootfs.kind_not_regular", &[("kind", &kind_word(mode))]),
                    &chain,
                )
            }
            Content::NotExecutable(mode) => {
                return no(
                    tf("rootfs.kind_not_exec", &[("mode", &format!("{mode:04o}"))]),
                    &chain,
                )
            }
            Content::TooLarge(n) => {
                return no(
                    tf(
                        "rootfs.kind_too_large",
                        &[("size", &n), ("max", &MAX_ELF_BYTES)],
                    ),
                    &chain,
                )
            }
            Content::NotElf => return no(tf("rootfs.kind_not_elf", &[]), &chain),
            Content::Script(i) => {
                chain.push(clean(&i));
                path = i;
            }
            Content::Elf(info, mode) => {
                if host_machine().is_some_and(|m| m != info.machine) {
                    return no(
                        tf(
                            "rootfs.kind_machine",
                            &[("machine", &machine_name(info.machine))],
                        ),
                        &chain,
                    );
                }
                let seen = tf(
                    "rootfs.kind_elf",
                    &[
                        ("bits", &info.bits),
                        ("machine", &machine_name(info.machine)),
                        ("mode", &format!("{mode:04o}")),
                    ],
                );
                return Inspected {
                    seen: said(seen, &chain),
                    runs: true,
                    deps: loader_needs(root, &path, &info),
                };
            }
        }
    }
    Inspected {
        seen: tf("rootfs.kind_not_elf", &[]),
        runs: false,
        deps: vec![],
    }
}

fn kind_word(mode: u32) -> &'static str {
    crate::sys::at::kind_word(mode)
}

/// The interpreter and the libraries (transitively) the loader would look for, each
/// with whether it is inside the rootfs, as an ELF file of the program's class and
/// machine (a 32-bit library in a 64-bit search path is skipped, as the loader does).
fn loader_needs(root: &DirFd, prog: &str, info: &ElfInfo) -> Vec<(String, bool)> {
    let clean = |s: &str| crate::ui::sanitize::clean(s).into_owned();
    let mut out = vec![];
    if let Some(i) = &info.interp {
        let ok = matches!(read_in_root(root, i, false), Content::Elf(ref e, _) if e.machine == info.machine);
        out.push((clean(i), ok));
    }
    let defaults = search_dirs(root, info.musl, info.machine);
    let mut seen: HashSet<String> = HashSet::new();
    let mut libs: Vec<(String, bool)> = vec![];
    // (name, the object that needs it, its directory, rpath, runpath)
    let mut todo: Vec<(String, String, Vec<String>, Vec<String>)> = info
        .needed
        .iter()
        .map(|n| {
            (
                n.clone(),
                prog.to_string(),
                info.rpath.clone(),
                info.runpath.clone(),
            )
        })
        .collect();
    let mut looked = 0usize;
    while let Some((name, from, rpath, runpath)) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        looked += 1;
        if looked > MAX_OBJECTS {
            break;
        }
        let origin = from.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let origin = if origin.is_empty() { "/" } else { origin };
        let expand = |d: &String| d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin);
        let candidates: Vec<String> = if name.contains('/') {
            vec![name.clone()]
        } else {
            // DT_RPATH is searched only when there is no DT_RUNPATH (ld.so(8)).
            let first: Vec<String> = if runpath.is_empty() { rpath } else { runpath };
            first
                .iter()
                .map(expand)
                .chain(defaults.iter().cloned())
                .map(|d| format!("{}/{name}", d.trim_end_matches('/')))
                .collect()
        };
        let mut found = None;
        for c in candidates {
            if let Content::Elf(e, _) = read_in_root(root, &c, false) {
                if e.machine == info.machine && e.bits == info.bits {
                    found = Some((c, e));
                    break;
                }
            }
        }
        libs.push((clean(&name), found.is_some()));
        if let Some((path, e)) = found {
            for n in &e.needed {
                todo.push((n.clone(), path.clone(), e.rpath.clone(), e.runpath.clone()));
            }
        }
    }
    libs.sort();
    out.extend(libs);
    out
}

/// Resolves a path as the kernel would with `root` as `/`: symlinks (absolute ones
/// relative to `root`), `..` clamped at `root`. `None` if it does not exist.
pub fn inside_to_host(root: &Path, path: &str) -> Option<PathBuf> {
    let mut cur = root.to_path_buf();
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .rev()
        .map(String::from)
        .collect();
    let mut hops = 0;
    while let Some(comp) = todo.pop() {
        match comp.as_str() {
            "." => continue,
            ".." => {
                if cur != root {
                    cur.pop();
                }
                continue;
            }
            _ => {}
        }
        let next = cur.join(&comp);
        let meta = std::fs::symlink_metadata(&next).ok()?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = std::fs::read_link(&next).ok()?;
            let t = target.to_string_lossy().to_string();
            if t.starts_with('/') {
                cur = root.to_path_buf();
            }
            todo.extend(
                t.split('/')
                    .filter(|s| !s.is_empty())
                    .rev()
                    .map(String::from),
            );
        } else {
            cur = next;
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_applet_table() {
        let mut bin = b"\x7fELF junk\0sh\0".to_vec();
        let names = [
            "[", "[[", "ash", "cat", "hostname", "ls", "mount", "ps", "sh", "true",
        ];
        bin.push(0);
        for n in names {
            bin.extend_from_slice(n.as_bytes());
            bin.push(0);
        }
        bin.extend_from_slice(b"\0more\0");
        assert_eq!(applets_in_binary(&bin).unwrap(), names);
        // Out of order, or no table at all: not trusted (busybox --list decides).
        let unsorted = b"x\0[\0[[\0ash\0sh\0cat\0hostname\0ls\0mount\0ps\0true\0yes\0\0";
        assert_eq!(applets_in_binary(unsorted), None);
        assert_eq!(applets_in_binary(b"\x7fELF no table\0"), None);
    }

    /// The table read from the host's busybox is what `busybox --list` prints.
    #[test]
    fn the_applet_table_is_busybox_list() {
        let bb = which("busybox").expect("busybox on PATH (tests/setup installs busybox-static)");
        let listed = std::process::Command::new(&bb)
            .arg("--list")
            .output()
            .unwrap();
        let listed: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(
            applets_in_binary(&std::fs::read(&bb).unwrap()),
            Some(listed)
        );
    }

    fn scratch() -> PathBuf {
        let d = crate::rootfs::temp::temp_path(&uuid::Uuid::new_v4().to_string());
        crate::rootfs::temp::create_temp(&d).unwrap();
        d
    }

    #[test]
    fn reads_shebangs_and_globs() {
        assert_eq!(
            shebang(b"#!/bin/busybox sh\necho"),
            Some("/bin/busybox".into())
        );
        assert_eq!(shebang(b"#! /bin/sh"), Some("/bin/sh".into()));
        assert_eq!(shebang(b"\x7fELF"), None);
        assert!(glob_match("*.conf", "libc.conf"));
        assert!(glob_match("x86*gnu.conf", "x86_64-linux-gnu.conf"));
        assert!(!glob_match("*.conf", "libc.conf.bak"));
        assert!(!glob_match("a*b*c", "ab"));
        assert!(glob_match("plain", "plain"));
    }

    /// The host's own shell copied with its loader and libraries (as the host source
    /// does) is found runnable with everything inside; without libc, libc is missing.
    #[test]
    fn inspects_a_dynamic_shell_without_running_it() {
        let d = scratch();
        let sh = which("sh").unwrap();
        let real = std::fs::canonicalize(&sh).unwrap();
        let mut c = Copier {
            root: &d,
            done: HashSet::new(),
            libraries: vec![],
        };
        c.copy_program(&real, Path::new("/bin/sh")).unwrap();
        let i = inspect(&d, "/bin/sh").unwrap();
        assert!(i.runs, "{i:?}");
        assert!(i.seen.contains("ELF"), "{i:?}");
        if !i.deps.is_empty() {
            assert!(i.deps.iter().all(|(_, ok)| *ok), "{i:?}");
            assert!(i.deps.iter().any(|(n, _)| n.starts_with("libc.")), "{i:?}");
            // Take libc away: the check names it.
            let libc = lddtree::DependencyAnalyzer::new(PathBuf::from("/"))
                .analyze(&real)
                .unwrap()
                .libraries
                .values()
                .find(|l| l.name.starts_with("libc."))
                .map(|l| l.path.clone())
                .unwrap();
            std::fs::remove_file(d.join(libc.strip_prefix("/").unwrap())).unwrap();
            let i = inspect(&d, "/bin/sh").unwrap();
            assert!(
                i.deps.iter().any(|(n, ok)| n.starts_with("libc.") && !ok),
                "{i:?}"
            );
        }
        crate::rootfs::temp::remove_tree(&d).unwrap();
    }

    /// Links are followed as the kernel would with the rootfs as `/` (absolute ones
    /// inside it, `..` clamped); a FIFO is named, never opened; a script's interpreter
    /// is looked at in turn.
    #[test]
    fn inspects_what_an_untrusted_rootfs_has_at_bin_sh() {
        let d = scratch();
        std::fs::create_dir_all(d.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", d.join("bin")).unwrap();
        let bb = which("busybox").expect("busybox (busybox-static)");
        std::fs::copy(&bb, d.join("usr/bin/busybox")).unwrap();
        let check = |target: Option<&str>| {
            let _ = std::fs::remove_file(d.join("usr/bin/sh"));
            if let Some(t) = target {
                std::os::unix::fs::symlink(t, d.join("usr/bin/sh")).unwrap();
            }
            inspect(&d, "/bin/sh").unwrap()
        };
        // An absolute link resolves inside the rootfs, not on the host.
        let i = check(Some("/bin/busybox"));
        assert!(i.runs && i.deps.is_empty(), "{i:?}");
        // `..` stops at the rootfs's /: the host's /bin/busybox is not reached.
        let i = check(Some("../../../../../../../../../usr/bin/nothing"));
        assert!(!i.runs && i.seen.contains("ENOENT"), "{i:?}");
        // /proc/self/exe is the rootfs's own /proc (empty here), not the host's.
        std::fs::create_dir_all(d.join("proc")).unwrap();
        assert!(!check(Some("/proc/self/exe")).runs);
        // A FIFO: named at once, not opened (an open would wait for a writer).
        let _ = check(None);
        crate::sys::files::mkfifo(&d.join("usr/bin/sh"), 0o755).unwrap();
        let i = inspect(&d, "/bin/sh").unwrap();
        assert!(!i.runs && i.seen.contains("FIFO"), "{i:?}");
        std::fs::remove_file(d.join("usr/bin/sh")).unwrap();
        // A script whose interpreter is busybox.
        std::fs::write(d.join("usr/bin/sh"), "#!/bin/busybox sh\nexit 0\n").unwrap();
        std::fs::set_permissions(d.join("usr/bin/sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let i = inspect(&d, "/bin/sh").unwrap();
        assert!(i.runs && i.seen.contains("/bin/busybox"), "{i:?}");
        // Not executable; not a program at all.
        std::fs::set_permissions(d.join("usr/bin/sh"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let i = inspect(&d, "/bin/sh").unwrap();
        assert!(!i.runs && i.seen.contains("0644"), "{i:?}");
        std::fs::write(d.join("usr/bin/sh"), "just text").unwrap();
        std::fs::set_permissions(d.join("usr/bin/sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        assert!(!inspect(&d, "/bin/sh").unwrap().runs);
        crate::rootfs::temp::remove_tree(&d).unwrap();
    }

    #[test]
    fn resolves_paths_inside_a_root() {
        let d = crate::rootfs::temp::temp_path(&uuid::Uuid::new_v4().to_string());
        crate::rootfs::temp::create_temp(&d).unwrap();
        std::fs::create_dir_all(d.join("usr/bin")).unwrap();
        std::fs::write(d.join("usr/bin/busybox"), "x").unwrap();
        std::os::unix::fs::symlink("usr/bin", d.join("bin")).unwrap();
        std::os::unix::fs::symlink("/bin/busybox", d.join("usr/bin/sh")).unwrap();
        std::os::unix::fs::symlink("../../../../../etc/passwd", d.join("usr/bin/up")).unwrap();
        assert_eq!(
            inside_to_host(&d, "/bin/sh"),
            Some(d.join("usr/bin/busybox"))
        );
        // `..` stops at the root, as it does after chroot.
        assert_eq!(inside_to_host(&d, "/usr/bin/up"), None);
        assert_eq!(inside_to_host(&d, "/nope"), None);
        crate::rootfs::temp::remove_tree(&d).unwrap();
    }
}
