//! namespaces: `cgexec -g cpu,memory:$UUID unshare -muinpf`, by the agent.

use super::context::Context;
use super::fragment::{ScriptCtx, UUID};
use super::judge;
use super::lesson::Lesson;
use super::task::{Setup, Task, Verdict};
use super::view::{host_ns, View};
use crate::agent::Agent;
use crate::error::Result;
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, lang, t, t_in, tf, Lang};

pub struct Namespaces;

/// The namespaces compared, as /proc/PID/ns names them.
pub const COMPARED: [&str; 5] = ["mnt", "uts", "ipc", "net", "pid_for_children"];

/// Whether `/proc/PID/cgroup` content puts the process in cgroup `name` for `ctl`
/// (v1: a line `N:...ctl...:/name`; v2: `0::/name`).
pub fn in_cgroup(content: &str, ctl: &str, name: &str, v2: bool) -> bool {
    content.lines().any(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        let path_ok = path == format!("/{name}") || path.ends_with(&format!("/{name}"));
        if v2 {
            ctls.is_empty() && path_ok
        } else {
            ctls.split(',').any(|c| c == ctl) && path_ok
        }
    })
}

/// The interfaces in a `/proc/PID/net/dev`.
pub fn interfaces(net_dev: &str) -> Vec<String> {
    net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Starts the agent and has it join the cgroup (what cgexec does); returns what it did.
pub fn spawn_and_join(st: &mut Context) -> Result<Vec<String>> {
    let procs = st.join_files()?;
    st.cgroup()?;
    let agent = Agent::spawn()?;
    let apid = agent.pid();
    st.agent = Some(agent);
    if let Some(p) = crate::journal::Proc::of(apid) {
        st.record(crate::journal::Item::Process(p))?;
    }
    let a = st.agent()?;
    let mut did = vec![tf("ns.did_spawn", &[("pid", &apid)])];
    a.join(&procs)?;
    did.push(tf(
        "ns.did_join",
        &[
            ("pid", &apid),
            (
                "files",
                &procs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ],
    ));
    Ok(did)
}

/// The shell joins the cgroup: its PID into each `cgroup.procs`.
fn join(procs: &[std::path::PathBuf]) -> String {
    procs
        .iter()
        .map(|p| format!("echo $$ > {}", p.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// unshare(1) with the walk's namespaces, and `extra` options.
fn unshare(extra: &str) -> String {
    format!("unshare --mount --uts --ipc --net --pid --fork{extra} --propagation private")
}

/// Into the user namespace process `pid` holds (the userns lesson's), as its root.
fn nsenter(pid: &str) -> String {
    format!("nsenter --user --target {pid} --setuid 0 --setgid 0")
}

/// The script's container: a shell joins the cgroup (what cgexec does; the pids
/// hierarchy's too with `--pids`), then becomes
/// unshare, whose child runs `$INNER` then `$LAST` (the steps the lessons put there) in
/// the new namespaces; with `--harden`, inside the user namespace `$HOLDER` holds, with
/// a cgroup namespace too. The status is kept for the end of the script.
pub fn join_then_exec(sc: &ScriptCtx) -> String {
    let mut enter = unshare("");
    let mut after = "";
    if sc.harden {
        enter = format!(
            "{} {}",
            nsenter("\"$HOLDER\""),
            unshare(&format!(" {}", super::cgroupns::UNSHARE))
        );
        after = "kill \"$HOLDER\" 2>/dev/null; HOLDER=\n";
    }
    format!(
        "set +e\nsh -c '{join}\nexec {enter} /bin/sh -c \"$INNER$LAST\"'\nstatus=$?\n{after}set -e\n",
        join = join(&sc.layout.procs_files_with(UUID, sc.pids.is_some())),
    )
}

/// The pids lesson set a limit: the agent joins the pids hierarchy too.
fn with_pids(st: &Context) -> bool {
    st.cgroup.as_ref().is_some_and(|c| c.pids)
}

impl Lesson for Namespaces {
    fn id(&self) -> &'static str {
        "namespaces"
    }

    fn shell(&self, st: &Context) -> String {
        let procs = st.join_files().unwrap_or_default();
        let ctls = if with_pids(st) {
            "cpu,memory,pids"
        } else {
            "cpu,memory"
        };
        format!(
            "cgexec -g {ctls}:{uuid} unshare -muinpf /bin/sh    # {article}\n# {by_hand}\n{join}\n{unshare} /bin/sh",
            uuid = st.uuid,
            article = t("ns.sh_article"),
            by_hand = t("ns.sh_by_hand"),
            join = join(&procs),
            unshare = unshare(""),
        )
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        // With --harden the userns lesson started the agent already, in the cgroup.
        let mut did = if st.agent.is_some() {
            vec![]
        } else {
            spawn_and_join(st)?
        };
        let a = st.agent()?;
        a.unshare()?;
        did.push(t("ns.did_unshare").to_string());
        did.push(t("ns.did_private").to_string());
        let pid = a.fork()?;
        did.push(tf("ns.did_fork", &[("pid", &pid)]));
        if let Some(p) = crate::journal::Proc::of(pid) {
            st.record(crate::journal::Item::Process(p))?;
        }
        Ok(did)
    }

    fn check(&self, st: &mut Context) -> Check {
        let view = View::of(st).filter(|_| st.agent.as_ref().is_some_and(|a| a.pid1.is_some()));
        let v2 = st.layout.as_ref().is_some_and(|l| l.version.is_v2());
        evidence(view.as_ref(), v2, with_pids(st))
    }

    fn task(&self) -> Option<&dyn Task> {
        Some(self)
    }
}

/// The evidence: the container's first process (`view`) in the cgroup for each
/// controller (pids too when `pids`), in namespaces of its own, with a network of only
/// `lo`.
pub fn evidence(view: Option<&View>, v2: bool, pids: bool) -> Check {
    let mut c = Check::new(t("ns.hint"));
    let Some(view) = view else {
        c.row(t("ns.row_pid1"), "-", t("ns.no_pid1"), false);
        return c;
    };
    let pid = view.pid.to_string();
    let cg = view.cgroup();
    let ctls: &[&str] = if pids {
        &["memory", "cpu", "pids"]
    } else {
        &["memory", "cpu"]
    };
    for ctl in ctls.iter().copied() {
        let ok = in_cgroup(&cg, ctl, &view.uuid, v2);
        let line = cg
            .lines()
            .find(|l| {
                if v2 {
                    l.starts_with("0::")
                } else {
                    l.split(':')
                        .nth(1)
                        .is_some_and(|c| c.split(',').any(|x| x == ctl))
                }
            })
            .unwrap_or("-")
            .to_string();
        c.row(
            tf("ns.row_cgroup", &[("pid", &pid), ("ctl", &ctl)]),
            crate::ui::sanitize::clean(&line),
            format!("/{}", view.uuid),
            ok,
        );
    }
    for name in COMPARED {
        let inside = view.ns(name);
        let outside = host_ns(name);
        c.row(
            format!("ns/{name}"),
            inside.clone(),
            tf("ns.host_is", &[("v", &outside)]),
            !inside.is_empty() && inside != outside,
        );
    }
    let net = crate::sys::files::read_text(&view.proc("net/dev")).unwrap_or_default();
    let host_net = crate::sys::files::read_text(std::path::Path::new("/proc/self/net/dev"))
        .unwrap_or_default();
    let ifs = interfaces(&net);
    c.row(
        t("ns.row_net"),
        ifs.join(" "),
        tf("ns.host_is", &[("v", &interfaces(&host_net).join(" "))]),
        ifs == ["lo"],
    );
    c
}

/// What the learner types: the article's `cgexec … unshare -muinpf` with a shell that
/// keeps the terminal at `exec capsh` (`shell`: bash, or busybox sh); without cgexec,
/// the shell joins the cgroup itself first.
pub fn commands(s: &Setup, cgexec: bool, shell: &str) -> Vec<String> {
    let pids = if s.pids.is_some() { ",pids" } else { "" };
    if cgexec {
        return vec![format!(
            "cgexec -g cpu,memory{pids}:{} unshare -muinpf {shell}",
            s.uuid
        )];
    }
    let procs = s.layout.procs_files_with(&s.uuid, s.pids.is_some());
    vec![format!(
        "sh -c '{} && exec unshare -muinpf {shell}'",
        procs
            .iter()
            .map(|p| format!("echo $$ > {}", p.display()))
            .collect::<Vec<_>>()
            .join(" && ")
    )]
}

impl Task for Namespaces {
    fn id(&self) -> &'static str {
        "namespaces"
    }
    fn inside(&self) -> bool {
        false
    }
    fn solve(&self, s: &Setup) -> Vec<String> {
        commands(
            s,
            crate::rootfs::host::which("cgexec").is_some(),
            &judge::inner_shell(),
        )
    }
    fn judge(&self, s: &Setup) -> Verdict {
        judged(lang(), s)
    }
}

/// The judge, in language `l`. Known wrong ways: `unshare -p` without `-f` (the shell
/// stays in the host's PID namespace, only its children enter the new one); the
/// container outside the cgroup (unshare without cgexec); a namespace left shared with
/// the host (an option missing). dash as the shell passes, with a warning for the chroot
/// stage.
/// Whether process `pid` is in the run's cgroup of the pids hierarchy (v2: the one
/// cgroup, so always when it is in the cgroup at all).
fn in_pids_cgroup(s: &Setup, pid: i32) -> bool {
    s.layout
        .pids_dir(&s.uuid)
        .is_some_and(|d| crate::sys::procfs::procs_in(&d.join("cgroup.procs")).contains(&pid))
}

fn judged(l: Lang, s: &Setup) -> Verdict {
    let found = judge::find(s);
    let view = found.view(s);
    let v2 = s.layout.version.is_v2();
    let c = evidence(view.as_ref(), v2, false);
    let wrong = match (found.pid1, found.unforked) {
        (None, Some(p)) => Some(fill(t_in(l, "namespaces.wrong_nofork"), &[("pid", &p)])),
        (Some(p), _) if !found.in_cgroup => Some(fill(
            t_in(l, "namespaces.wrong_cgroup"),
            &[("pid", &p), ("uuid", &s.uuid)],
        )),
        // `--pids` on v1: the pids hierarchy's cgroup is one more the shell must join,
        // or the limit set in the pids task counts none of the container's processes.
        (Some(p), _) if s.pids.is_some() && !in_pids_cgroup(s, p) => Some(fill(
            t_in(l, "namespaces.wrong_pids"),
            &[
                ("pid", &p),
                ("uuid", &s.uuid),
                (
                    "dir",
                    &s.layout.pids_dir(&s.uuid).unwrap_or_default().display(),
                ),
            ],
        )),
        (Some(p), _) => {
            let shared: Vec<&str> = COMPARED
                .iter()
                .copied()
                .filter(|n| view.as_ref().is_some_and(|v| v.ns(n) == host_ns(n)))
                .collect();
            (!shared.is_empty()).then(|| {
                fill(
                    t_in(l, "namespaces.wrong_shared"),
                    &[("pid", &p), ("list", &shared.join(", "))],
                )
            })
        }
        _ => None,
    };
    match judge::verdict(l, "namespaces", c, wrong) {
        Verdict::Passed { line, check } if found.pid1.is_some_and(judge::runs_dash) => {
            Verdict::Passed {
                line: format!("{line} {}", t_in(l, "namespaces.passed_dash")),
                check,
            }
        }
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_pid_cgroup() {
        let v1 = "9:name=systemd:/\n4:memory:/u\n1:cpu,cpuacct:/u\n0::/\n";
        assert!(in_cgroup(v1, "memory", "u", false));
        assert!(in_cgroup(v1, "cpu", "u", false));
        assert!(!in_cgroup(v1, "cpuacct", "x", false));
        assert!(!in_cgroup("4:memory:/\n", "memory", "u", false));
        assert!(in_cgroup("0::/u\n", "memory", "u", true));
        assert!(!in_cgroup("0::/\n", "memory", "u", true));
    }

    #[test]
    fn reads_net_dev() {
        let s = "Inter-|   Receive\n face |bytes\n    lo: 0 0\n  eth0: 1 2\n";
        assert_eq!(interfaces(s), ["lo", "eth0"]);
    }

    #[test]
    fn the_commands_join_the_cgroup_then_unshare() {
        let v1 = crate::lessons::judge::tests::setup(false);
        let u = &v1.uuid;
        assert_eq!(
            commands(&v1, true, "/bin/bash"),
            [format!(
                "cgexec -g cpu,memory:{u} unshare -muinpf /bin/bash"
            )]
        );
        assert_eq!(
            commands(&v1, false, "/bin/bash"),
            [format!("sh -c 'echo $$ > /sys/fs/cgroup/memory/{u}/cgroup.procs && echo $$ > /sys/fs/cgroup/cpu/{u}/cgroup.procs && exec unshare -muinpf /bin/bash'")]
        );
        let v2 = crate::lessons::judge::tests::setup(true);
        assert_eq!(
            commands(&v2, false, "/bin/busybox sh"),
            [format!("sh -c 'echo $$ > /sys/fs/cgroup/{u}/cgroup.procs && exec unshare -muinpf /bin/busybox sh'")]
        );
    }
}
