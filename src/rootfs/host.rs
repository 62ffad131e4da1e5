//! The `host` source: an offline rootfs made from this machine's own programs in a
//! few milliseconds. busybox (static) when the host has it; otherwise the host's
//! /bin/sh and a handful of tools, each with the ELF interpreter and shared libraries
//! its headers name (PT_INTERP, DT_NEEDED; what `ldd` shows), found by `lddtree`.

use crate::error::{Error, Result};
use crate::i18n::tf;
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
    let _ = std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777));
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

/// What the loader needs to run `prog` (a path inside `root`) with `root` as `/`:
/// the interpreter and each library, and whether it is there inside.
pub fn resolve_inside(root: &Path, prog: &str) -> Result<Vec<(String, bool)>> {
    let host_path = inside_to_host(root, prog).ok_or_else(|| {
        Error::failed(tf(
            "err.not_in_rootfs",
            &[("prog", &prog), ("root", &root.display())],
        ))
    })?;
    // The loader's built-in search path (Debian's ld.so knows the multiarch
    // directories even without an ld.so.conf), taken inside the rootfs.
    let builtin: Vec<PathBuf> = MULTIARCH
        .iter()
        .flat_map(|t| [format!("lib/{t}"), format!("usr/lib/{t}")])
        .chain(["lib64".to_string(), "usr/lib64".to_string()])
        .map(|d| root.join(d))
        .collect();
    let tree = lddtree::DependencyAnalyzer::new(root.to_path_buf())
        .library_paths(builtin)
        .analyze(&host_path)
        .map_err(|e| {
            Error::failed(tf(
                "err.elf",
                &[("path", &host_path.display()), ("why", &e)],
            ))
        })?;
    let mut out = vec![];
    if let Some(i) = &tree.interpreter {
        out.push((i.clone(), inside_to_host(root, i).is_some()));
    }
    let mut libs: Vec<_> = tree.libraries.values().collect();
    libs.sort_by(|a, b| a.name.cmp(&b.name));
    for l in libs {
        out.push((l.name.clone(), l.found() && l.path.starts_with(root)));
    }
    Ok(out)
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

    #[test]
    fn resolves_paths_inside_a_root() {
        let d = crate::rootfs::temp_path(&uuid::Uuid::new_v4().to_string());
        crate::rootfs::create_temp(&d).unwrap();
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
        crate::rootfs::remove_tree(&d).unwrap();
    }
}
