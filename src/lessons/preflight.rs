//! preflight: what this host offers, and what to do about each gap.

use super::context::Context;
use super::fragment::{quote, Fragment, ScriptCtx};
use super::lesson::Lesson;
use crate::error::{Error, Result};
use crate::rootfs::{host, Source};
use crate::sys::cgroup::{self, Layout, Obstacle, Version};
use crate::sys::mountinfo::Mount;
use crate::sys::procfs::{Status, Who};
use crate::sys::{mountinfo, read_trim};
use crate::ui::evidence::Check;
use std::path::{Path, PathBuf};

pub struct Preflight;

/// The namespaces the walk needs, as /proc/self/ns names them.
pub const NEEDED_NS: [&str; 5] = ["mnt", "uts", "ipc", "net", "pid"];

pub use crate::rootfs::tmpdir;
use crate::ui::i18n::{t, tf};

fn noexec(path: &Path) -> bool {
    crate::sys::files::noexec(path)
}

fn offered_namespaces() -> Vec<String> {
    let mut v = crate::sys::files::names(std::path::Path::new("/proc/self/ns")).unwrap_or_default();
    v.sort();
    v
}

/// The capabilities missing from this process's bounding set (CapBnd in
/// /proc/self/status, up to /proc/sys/kernel/cap_last_cap): what even root cannot
/// have here, read at run time because hosts differ (a container, a systemd unit).
pub fn bounding_set_lacks() -> Option<Vec<&'static str>> {
    let bnd = Status::of(Who::Me)?.hex("CapBnd")?;
    let last: usize = read_trim(Path::new("/proc/sys/kernel/cap_last_cap"))?
        .parse()
        .ok()?;
    Some(
        (0..=last.min(63))
            .filter(|b| bnd & (1u64 << b) == 0)
            .filter_map(|b| crate::sys::capnames::name(b as u32))
            .collect(),
    )
}

/// What preflight says about a layout beyond where memory and cpu are: the hybrid's
/// unified hierarchy, a container or cgroup namespace, real-time tasks in cpu's way.
fn layout_notes(l: &Layout, mounts: &[Mount]) -> Vec<String> {
    let mut notes = vec![];
    match l.version {
        Version::Hybrid => {
            if let Some(u) = &l.unified {
                let have = read_trim(&u.join("cgroup.controllers")).unwrap_or_default();
                notes.push(hybrid_note(u, &have));
            }
        }
        Version::V2 => {
            let p = cgroup::Parent::read(l, mounts);
            if p.in_container() {
                notes.push(tf(
                    "pre.nested",
                    &[
                        ("path", &p.path.display()),
                        ("root", &p.mount_root.display()),
                        ("own", &p.own),
                    ],
                ));
            }
            if cgroup::missing_controllers(&p.subtree).contains(&"cpu") {
                let rt = cgroup::realtime_outside_root();
                if !rt.is_empty() {
                    let list: Vec<String> = rt
                        .iter()
                        .take(5)
                        .map(|(pid, name, cg)| format!("{pid} {name} ({cg})"))
                        .collect();
                    notes.push(tf("pre.rt_tasks", &[("list", &list.join(", "))]));
                }
            }
        }
        Version::V1 => {}
    }
    notes
}

/// The hybrid layout of this project's hosts: a cgroup2 mount beside the v1 hierarchies
/// that holds none of the controllers hako needs (here only hugetlb).
fn hybrid_note(unified: &Path, controllers: &str) -> String {
    if controllers.trim().is_empty() {
        tf("pre.hybrid_none", &[("path", &unified.display())])
    } else {
        tf(
            "pre.hybrid",
            &[("path", &unified.display()), ("list", &controllers.trim())],
        )
    }
}

/// What to do when the chosen rootfs source cannot work here.
fn source_hint(src: &Source) -> String {
    match src {
        Source::Docker(_) => match crate::rootfs::docker::socket() {
            Ok(sock) => tf(
                "err.docker_down",
                &[("sock", &sock.display()), ("why", &t("pre.no_socket"))],
            ),
            Err(e) => e.msg,
        },
        _ => t("pre.hint").to_string(),
    }
}

impl Lesson for Preflight {
    fn id(&self) -> &'static str {
        "preflight"
    }

    fn shell(&self, _st: &Context) -> String {
        format!(
            "id -u                                  # {}\nls /proc/self/ns                       # {}\ngrep cgroup /proc/self/mountinfo       # {}\nfindmnt -T {} -o TARGET,OPTIONS   # {}",
            t("pre.sh_root"),
            t("pre.sh_ns"),
            t("pre.sh_cgroup"),
            tmpdir().display(),
            t("pre.sh_noexec")
        )
    }

    /// Root, the tools the script calls, and the cgroup files it was written for.
    fn script(&self, sc: &ScriptCtx) -> Vec<Fragment> {
        let mut s = format!(
            "if [ \"$(id -u)\" != 0 ]; then say {}; exit 1; fi\n",
            quote(t("script.need_root"))
        );
        let mut tools = vec![
            "mktemp", "unshare", "mount", "capsh", "chroot", "hostname", "cp", "ln", "mkdir",
            "rmdir", "grep", "cat",
        ];
        if sc.busybox.is_none() && *sc.source == Source::Host {
            tools.push("ldd");
        }
        if sc.harden {
            tools.extend([
                "nsenter",
                "setpriv",
                "pivot_root",
                "umount",
                "chown",
                "ldd",
                "readlink",
            ]);
        }
        if sc.net.is_some() {
            tools.extend([
                "ip", "nft", "sysctl", "nsenter", "awk", "seq", "readlink", "cut",
            ]);
        }
        if sc.overlay {
            tools.extend(["find", "mknod", "umount"]);
        }
        s.push_str(&format!(
            "missing=\nfor tool in {}; do\n  command -v \"$tool\" >/dev/null 2>&1 || missing=\"$missing $tool\"\ndone\nif [ -n \"$missing\" ]; then say \"{}\"; exit 1; fi\n",
            tools.join(" "),
            t("script.missing").replace("{list}", "$missing")
        ));
        if sc.net.is_some() {
            s.push_str(&format!(
                "command -v nft >/dev/null 2>&1 || {{ say {}; exit 1; }}\ncommand -v ip >/dev/null 2>&1 || {{ say {}; exit 1; }}\n",
                quote(t("script.need_nft")),
                quote(t("script.need_ip"))
            ));
        }
        if sc.overlay {
            s.push_str(&format!(
                "command -v setfattr >/dev/null 2>&1 || {{ say {}; exit 1; }}\n",
                quote(t("script.need_setfattr"))
            ));
        }
        let l = sc.layout;
        let probe = if l.version.is_v2() {
            l.memory.join("cgroup.controllers")
        } else {
            l.memory.join("memory.limit_in_bytes")
        };
        s.push_str(&format!(
            "if [ ! -e {probe} ]; then say {}; exit 1; fi",
            quote(&tf("script.other_host", &[("path", &probe.display())])),
            probe = probe.display()
        ));
        vec![Fragment::Host(s)]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        // Hidden, test-only: another mount table, to stand for a host without cgroups.
        st.host_mounts = match std::env::var_os("HAKO_TEST_MOUNTINFO") {
            Some(p) => mountinfo::read_file(std::path::Path::new(&p)),
            None => mountinfo::read(None),
        }
        .map_err(|e| Error::failed(tf("err.mountinfo", &[("why", &e)])))?;
        let mut did = vec![];
        match cgroup::detect(&st.host_mounts) {
            Ok(l) => {
                did.push(tf(
                    "pre.layout",
                    &[
                        ("version", &l.version.label()),
                        ("memory", &l.memory.display()),
                        ("cpu", &l.cpu.display()),
                    ],
                ));
                did.extend(layout_notes(&l, &st.host_mounts));
                st.layout = Some(l);
            }
            Err(missing) => did.push(tf("pre.layout_missing", &[("what", &missing)])),
        }
        did.push(tf(
            "pre.namespaces",
            &[("list", &offered_namespaces().join(" "))],
        ));
        if let Some(lack) = bounding_set_lacks() {
            did.push(if lack.is_empty() {
                t("pre.capbnd_full").to_string()
            } else {
                let names: Vec<String> = lack.iter().map(|n| format!("CAP_{n}")).collect();
                tf("pre.capbnd_lacks", &[("list", &names.join(" "))])
            });
        }
        let bb = host::find_busybox();
        did.push(match (&st.opts.source, bb) {
            (Source::Host, Some(p)) => tf("pre.source_busybox", &[("path", &p.display())]),
            (Source::Host, None) => t("pre.source_elf").to_string(),
            (s, _) => tf("pre.source_other", &[("source", &s.describe())]),
        });
        let docker = crate::rootfs::docker::socket()
            .unwrap_or_else(|_| PathBuf::from("/var/run/docker.sock"));
        did.push(if docker.exists() {
            tf("pre.docker_yes", &[("sock", &docker.display())])
        } else {
            tf("pre.docker_no", &[("sock", &docker.display())])
        });
        Ok(did)
    }

    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("pre.hint"));
        let root = crate::sys::is_root();
        c.row(
            t("pre.row_root"),
            if root { "euid 0" } else { t("pre.not_root") },
            t("pre.need_root"),
            root,
        );
        let ns = offered_namespaces();
        let missing: Vec<&str> = NEEDED_NS
            .iter()
            .copied()
            .filter(|n| !ns.iter().any(|x| x == n))
            .collect();
        c.row(
            t("pre.row_ns"),
            NEEDED_NS.join(" "),
            if missing.is_empty() {
                t("pre.ns_all").to_string()
            } else {
                tf("pre.ns_missing", &[("list", &missing.join(" "))])
            },
            missing.is_empty(),
        );
        // What to do about an unusual v2 layout, when one is in the way.
        let mut cgroup_hint = None;
        match &st.layout {
            Some(l) => {
                let (ok, seen) = if l.version == Version::V2 {
                    let parent = cgroup::Parent::read(l, &st.host_mounts);
                    match parent.obstacle() {
                        None => (true, tf("pre.v2_ok", &[("path", &l.memory.display())])),
                        Some(o) => {
                            cgroup_hint = Some(parent.explain(&o));
                            let seen = match &o {
                                Obstacle::NotOffered { lack } => tf(
                                    "pre.v2_lack",
                                    &[
                                        ("list", &lack.join(" ")),
                                        ("path", &l.memory.join("cgroup.controllers").display()),
                                    ],
                                ),
                                Obstacle::InternalProcesses { procs, .. } => tf(
                                    "pre.v2_busy",
                                    &[("n", procs), ("path", &l.memory.display())],
                                ),
                            };
                            (false, seen)
                        }
                    }
                } else {
                    (
                        l.memory.join("memory.limit_in_bytes").exists()
                            && l.cpu.join("cpu.cfs_quota_us").exists(),
                        format!("memory {} · cpu {}", l.memory.display(), l.cpu.display()),
                    )
                };
                c.row(t("pre.row_cgroup"), seen, l.version.label(), ok);
            }
            None => c.row(
                t("pre.row_cgroup"),
                t("pre.cgroup_none"),
                t("pre.cgroup_need"),
                false,
            ),
        }
        let tmp = tmpdir();
        let nx = noexec(&tmp);
        c.row(
            t("pre.row_tmp"),
            tmp.display().to_string(),
            if nx {
                t("pre.tmp_noexec")
            } else {
                t("pre.tmp_exec")
            },
            !nx,
        );
        let src_ok = match &st.opts.source {
            Source::Host => host::find_busybox().is_some() || host::which("sh").is_some(),
            Source::Dir(p) => p.is_dir(),
            Source::Tar(p) => p.is_file(),
            Source::Docker(_) => crate::rootfs::docker::socket().is_ok_and(|s| s.exists()),
            Source::Oci(_) => true,
        };
        c.row(
            t("pre.row_source"),
            st.opts.source.describe(),
            t("pre.source_usable"),
            src_ok,
        );
        let pids_ok = st.opts.pids.is_none_or(|_| pids_row(st, &mut c));
        let nft_ok = !st.opts.net || nft_row(&mut c);
        if !root {
            c.hint = t("err.need_root").to_string();
        } else if nx {
            c.hint = tf("pre.hint_noexec", &[("path", &tmp.display())]);
        } else if st.layout.is_none() || !c.rows[2].ok {
            c.hint = cgroup_hint.unwrap_or_else(|| t("pre.hint_cgroup").to_string());
        } else if !src_ok {
            c.hint = source_hint(&st.opts.source);
        } else if !pids_ok {
            c.hint = t("pre.pids_hint").to_string();
        } else if !nft_ok {
            c.hint = t("pre.nft_hint").to_string();
        }
        c
    }
}

/// With `--pids`: whether this host offers the pids controller (v1: a pids hierarchy in
/// mountinfo; v2: `pids` in the root's `cgroup.controllers`). Adds the row, returns it.
fn pids_row(st: &Context, c: &mut Check) -> bool {
    let (seen, ok) = match &st.layout {
        Some(l) if l.version.is_v2() => {
            let f = l.memory.join("cgroup.controllers");
            let have = read_trim(&f).unwrap_or_default();
            if have.split_whitespace().any(|w| w == "pids") {
                (tf("pre.pids_v2", &[("path", &f.display())]), true)
            } else {
                (tf("pre.pids_none_v2", &[("path", &f.display())]), false)
            }
        }
        Some(Layout { pids: Some(p), .. }) => (tf("pre.pids_v1", &[("path", &p.display())]), true),
        _ => (t("pre.pids_none_v1").to_string(), false),
    };
    c.row(t("pre.row_pids"), seen, t("pre.pids_need"), ok);
    ok
}

/// With `--net`: whether the `nft` program is here (the NAT rule is written with it).
/// Adds the row, returns it.
fn nft_row(c: &mut Check) -> bool {
    let found = crate::sys::net::nft_path();
    c.row(
        t("pre.row_nft"),
        match &found {
            Some(p) => tf("pre.nft_found", &[("path", &p.display())]),
            None => t("pre.nft_missing").to_string(),
        },
        t("pre.nft_need"),
        found.is_some(),
    );
    found.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(mountinfo: &str) -> Context {
        let mut st = Context::new(crate::lessons::context::Options {
            pids: Some(20),
            ..crate::lessons::context::Options::quiet(crate::rootfs::Source::Host)
        });
        st.layout = cgroup::detect(&mountinfo::parse(mountinfo)).ok();
        st
    }

    #[test]
    fn the_pids_row_says_where_the_controller_is_or_that_it_is_not() {
        let hybrid = "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let mut c = Check::new("");
        assert!(!pids_row(&state(hybrid), &mut c));
        assert!(c.rows[0].seen.contains("no pids hierarchy"), "{:?}", c.rows);
        let with = format!("{hybrid}39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n");
        let mut c = Check::new("");
        assert!(pids_row(&state(&with), &mut c));
        assert!(
            c.rows[0].seen.contains("/sys/fs/cgroup/pids"),
            "{:?}",
            c.rows
        );
        assert!(!t("pre.pids_hint").is_empty());
    }

    #[test]
    fn the_hybrid_note_says_what_the_unified_hierarchy_holds() {
        // This project's hosts: /sys/fs/cgroup/unified/cgroup.controllers reads "hugetlb".
        let n = hybrid_note(Path::new("/sys/fs/cgroup/unified"), "hugetlb\n");
        assert!(n.contains("/sys/fs/cgroup/unified"), "{n}");
        assert!(n.contains("only hugetlb"), "{n}");
        assert!(n.contains("v1"), "{n}");
        let none = hybrid_note(Path::new("/sys/fs/cgroup/unified"), "");
        assert!(none.contains("no controller"), "{none}");
    }
}
