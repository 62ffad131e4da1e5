//! preflight: what this host offers, and what to do about each gap.

use super::{Check, Lesson};
use crate::error::{Error, Result};
use crate::i18n::{t, tf};
use crate::rootfs::{host, Source};
use crate::sys::cgroup::{self, Version};
use crate::sys::{mountinfo, read_trim};
use crate::walk::State;
use std::path::{Path, PathBuf};

pub struct Preflight;

/// The namespaces the walk needs, as /proc/self/ns names them.
pub const NEEDED_NS: [&str; 5] = ["mnt", "uts", "ipc", "net", "pid"];

/// The temp directory the rootfs goes in.
pub fn tmpdir() -> PathBuf {
    std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

fn noexec(path: &Path) -> bool {
    nix::sys::statvfs::statvfs(path)
        .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_NOEXEC))
        .unwrap_or(false)
}

fn offered_namespaces() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/proc/self/ns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// On v2, the controllers the root offers (`cgroup.controllers`).
fn v2_controllers(root: &Path) -> String {
    read_trim(&root.join("cgroup.controllers")).unwrap_or_default()
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

    fn shell(&self, _st: &State) -> String {
        format!(
            "id -u                                  # {}\nls /proc/self/ns                       # {}\ngrep cgroup /proc/self/mountinfo       # {}\nfindmnt -T {} -o TARGET,OPTIONS   # {}",
            t("pre.sh_root"),
            t("pre.sh_ns"),
            t("pre.sh_cgroup"),
            tmpdir().display(),
            t("pre.sh_noexec")
        )
    }

    fn run(&self, st: &mut State) -> Result<Vec<String>> {
        // Hidden, test-only: another mount table, to stand for a host without cgroups.
        st.host_mounts = match std::env::var_os("HAKO_TEST_MOUNTINFO") {
            Some(p) => std::fs::read_to_string(p).map(|s| mountinfo::parse(&s)),
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
                st.layout = Some(l);
            }
            Err(missing) => did.push(tf("pre.layout_missing", &[("what", &missing)])),
        }
        did.push(tf(
            "pre.namespaces",
            &[("list", &offered_namespaces().join(" "))],
        ));
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

    fn check(&self, st: &mut State) -> Check {
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
        match &st.layout {
            Some(l) => {
                let (ok, seen) = if l.version == Version::V2 {
                    let have = v2_controllers(&l.memory);
                    let lack = cgroup::missing_controllers(&have);
                    (
                        lack.is_empty(),
                        if lack.is_empty() {
                            tf("pre.v2_ok", &[("path", &l.memory.display())])
                        } else {
                            tf(
                                "pre.v2_lack",
                                &[
                                    ("list", &lack.join(" ")),
                                    ("path", &l.memory.join("cgroup.controllers").display()),
                                ],
                            )
                        },
                    )
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
        if !root {
            c.hint = t("err.need_root").to_string();
        } else if nx {
            c.hint = tf("pre.hint_noexec", &[("path", &tmp.display())]);
        } else if st.layout.is_none() || !c.rows[2].ok {
            c.hint = t("pre.hint_cgroup").to_string();
        } else if !src_ok {
            c.hint = source_hint(&st.opts.source);
        }
        c
    }
}
