//! beyond: what real runtimes add, set beside what this container's shell had (read
//! from the host at the chroot check, when the command was stopped at its exec).

use super::context::{Context, ExecSeen};
use super::lesson::Lesson;
use crate::error::Result;
use crate::sys::capnames::Cap;
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

pub struct Beyond;

/// `runc spec` (the OCI template runc writes): AUDIT_WRITE, KILL, NET_BIND_SERVICE
/// in every set, `noNewPrivileges: true`, no seccomp section, no user namespace.
pub const RUNC_SPEC_CAPS: u64 = 1 << (Cap::CAP_AUDIT_WRITE as u32)
    | 1 << (Cap::CAP_KILL as u32)
    | 1 << (Cap::CAP_NET_BIND_SERVICE as u32);
/// `docker run` with no options: Docker's 14 default capabilities, its default
/// seccomp profile, and no no_new_privs.
fn docker_caps() -> u64 {
    crate::sys::capnames::docker_mask()
}

const SYS_ADMIN: u32 = Cap::CAP_SYS_ADMIN as u32;
const MKNOD: u32 = Cap::CAP_MKNOD as u32;
const DAC_READ_SEARCH: u32 = Cap::CAP_DAC_READ_SEARCH as u32;

pub fn has(mask: u64, bit: u32) -> bool {
    mask & (1 << bit) != 0
}

/// The names of the capabilities in a mask.
pub fn names(mask: u64) -> Vec<&'static str> {
    crate::sys::capnames::names(mask)
}

/// A mask, in words: `000001fffefbffff: 39 capabilities, among them SYS_ADMIN MKNOD`.
fn describe(mask: u64) -> String {
    let risky: Vec<&str> = [SYS_ADMIN, MKNOD, DAC_READ_SEARCH]
        .iter()
        .filter(|b| has(mask, **b))
        .filter_map(|b| crate::sys::capnames::name(*b))
        .collect();
    let n = names(mask).len();
    if risky.is_empty() {
        tf(
            "beyond.caps_n",
            &[("mask", &format!("{mask:016x}")), ("n", &n)],
        )
    } else {
        tf(
            "beyond.caps_risky",
            &[
                ("mask", &format!("{mask:016x}")),
                ("n", &n),
                ("list", &risky.join(" ")),
            ],
        )
    }
}

/// The ways out that remain, judged from the shell's own evidence: (way, open?, why).
pub fn ways_out(seen: &ExecSeen, v1_hierarchies: bool) -> Vec<(&'static str, bool, String)> {
    let eff = seen.caps("CapEff");
    let eff = if eff == u64::MAX { 0 } else { eff };
    let filtered = seen.field("Seccomp") != "0";
    let cap = |bit: u32| has(eff, bit) && !filtered;
    vec![
        ("mount(2)", cap(SYS_ADMIN), "CAP_SYS_ADMIN".into()),
        ("mknod(2)", cap(MKNOD), "CAP_MKNOD".into()),
        (
            "open_by_handle_at(2)",
            cap(DAC_READ_SEARCH),
            "CAP_DAC_READ_SEARCH".into(),
        ),
        (
            "release_agent",
            cap(SYS_ADMIN) && v1_hierarchies,
            "CAP_SYS_ADMIN + cgroup v1".into(),
        ),
    ]
}

impl Lesson for Beyond {
    fn id(&self) -> &'static str {
        "beyond"
    }

    fn shell(&self, st: &Context) -> String {
        let pid = st
            .exec
            .as_ref()
            .map(|e| e.pid.to_string())
            .unwrap_or_else(|| "$PID".into());
        format!(
            "# {seen}\ngrep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/{pid}/status\ncat /proc/{pid}/uid_map\ncapsh --decode=$(awk '/^CapEff/ {{print $2}}' /proc/{pid}/status)\n# {runc}\ncd \"$(mktemp -d)\" && runc spec && grep -E -A5 '\"bounding\"|noNewPrivileges|seccomp' config.json",
            seen = t("beyond.sh_seen"),
            runc = t("beyond.sh_runc"),
        )
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let Some(seen) = st.exec.as_ref() else {
            return Ok(vec![t("beyond.no_evidence").to_string()]);
        };
        let v1 = st.layout.as_ref().is_some_and(|l| !l.version.is_v2());
        let mut did = vec![tf("beyond.did_read", &[("pid", &seen.pid)])];
        for (way, open, why) in ways_out(seen, v1) {
            did.push(if open {
                tf("beyond.way_open", &[("way", &way), ("why", &why)])
            } else {
                tf("beyond.way_closed", &[("way", &way), ("why", &why)])
            });
        }
        Ok(did)
    }

    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("beyond.hint"));
        let Some(seen) = st.exec.as_ref() else {
            c.row(t("beyond.row_caps"), "-", t("beyond.no_evidence"), false);
            return c;
        };
        let reference = |runc: String, docker: String| {
            tf("beyond.reference", &[("runc", &runc), ("docker", &docker)])
        };
        for set in ["CapBnd", "CapEff"] {
            let v = seen.caps(set);
            c.row(
                tf("beyond.row_set", &[("set", &set)]),
                if v == u64::MAX {
                    "-".to_string()
                } else {
                    describe(v)
                },
                reference(
                    format!(
                        "{RUNC_SPEC_CAPS:016x} ({})",
                        names(RUNC_SPEC_CAPS).join(" ")
                    ),
                    format!("{:016x} ({})", docker_caps(), names(docker_caps()).len()),
                ),
                v != u64::MAX,
            );
        }
        let nnp = seen.field("NoNewPrivs").to_string();
        c.row(
            "NoNewPrivs",
            if nnp.is_empty() {
                "-".into()
            } else {
                nnp.clone()
            },
            reference("1".into(), t("beyond.docker_nnp").into()),
            nnp == "0" || nnp == "1",
        );
        let sc = seen.field("Seccomp").to_string();
        c.row(
            "Seccomp",
            match sc.as_str() {
                "0" => t("beyond.seccomp_0").to_string(),
                "" => "-".into(),
                v => tf("beyond.seccomp_n", &[("v", &v)]),
            },
            reference(
                t("beyond.runc_seccomp").into(),
                t("beyond.docker_seccomp").into(),
            ),
            ["0", "1", "2"].contains(&sc.as_str()),
        );
        let identity = seen.uid_map == "0 0 4294967295";
        c.row(
            "uid_map",
            if identity {
                tf("beyond.map_identity", &[("map", &seen.uid_map)])
            } else if seen.uid_map.is_empty() {
                "-".into()
            } else {
                seen.uid_map.clone()
            },
            if identity {
                reference(t("beyond.runc_map").into(), t("beyond.docker_map").into())
            } else {
                reference(
                    t("beyond.runc_map_none").into(),
                    t("beyond.docker_map_none").into(),
                )
            },
            !seen.uid_map.is_empty(),
        );
        c.row(
            t("beyond.row_root"),
            if st.opts.harden {
                tf("beyond.root_pivot", &[("root", &seen.root)])
            } else {
                tf("beyond.root_chroot", &[("root", &seen.root)])
            },
            reference("pivot_root(2)".into(), "pivot_root(2)".into()),
            !seen.root.is_empty(),
        );
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_masks_are_the_documented_sets() {
        assert_eq!(
            names(RUNC_SPEC_CAPS),
            ["KILL", "NET_BIND_SERVICE", "AUDIT_WRITE"]
        );
        let docker = names(docker_caps());
        assert_eq!(docker.len(), 14);
        for c in ["CHOWN", "SYS_CHROOT", "MKNOD", "SETFCAP", "NET_RAW"] {
            assert!(docker.contains(&c), "{c}");
        }
        assert!(!docker.contains(&"SYS_ADMIN"));
    }

    #[test]
    fn the_articles_shell_leaves_every_way_out_open() {
        let seen = ExecSeen {
            status: vec![
                ("CapEff".into(), "000001fffefbffff".into()),
                ("Seccomp".into(), "0".into()),
            ],
            ..Default::default()
        };
        assert!(ways_out(&seen, true).iter().all(|(_, open, _)| *open));
        let docker = ExecSeen {
            status: vec![
                ("CapEff".into(), format!("{:016x}", docker_caps())),
                ("Seccomp".into(), "2".into()),
            ],
            ..Default::default()
        };
        assert!(ways_out(&docker, true).iter().all(|(_, open, _)| !*open));
    }

    #[test]
    fn the_check_fails_without_evidence() {
        let opts = crate::lessons::context::Options {
            memory: 1,
            ..crate::lessons::context::Options::quiet(crate::rootfs::Source::Host)
        };
        let mut st = Context::new(opts);
        assert!(!Beyond.check(&mut st).passed());
        st.exec = Some(ExecSeen {
            pid: 7,
            root: "/tmp/r".into(),
            exe: "/tmp/r/bin/sh".into(),
            status: vec![
                ("CapBnd".into(), "000001fffefbffff".into()),
                ("CapEff".into(), "000001fffefbffff".into()),
                ("NoNewPrivs".into(), "0".into()),
                ("Seccomp".into(), "0".into()),
            ],
            uid_map: "0 0 4294967295".into(),
            fds: vec![],
        });
        assert!(Beyond.check(&mut st).passed());
    }
}
