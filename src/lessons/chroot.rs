//! chroot: chroot + chdir, the CAP_SYS_CHROOT drop, close_range, then execve of the
//! command; checked from the host while the command is stopped at its exec.

use super::context::{Context, ExecSeen};
use super::fragment::{Fragment, ScriptCtx, CMD, ROOTFS};
use super::judge;
use super::lesson::Lesson;
use super::task::{Setup, Task, Verdict};
use super::view::View;
use crate::agent::Stdio;
use crate::error::{Error, Kind, Result};
use crate::rootfs::host::inside_to_host;
use crate::sys::capnames::Cap;
use crate::sys::demo::EscapeOutcome;
use crate::sys::procfs::{Status, Who};
use crate::sys::ptrace::{self, AtExec};
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, lang, t, t_in, tf, Lang};
use std::path::Path;

pub struct Chroot;

/// The PATH the command gets inside, as Docker sets it.
pub const PATH_INSIDE: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// CAP_SYS_CHROOT's bit (capability 18, capabilities(7)).
pub const CAP_SYS_CHROOT_BIT: u64 = 1 << (Cap::CAP_SYS_CHROOT as u32);

/// The command line: `-- CMD ARG…`, or the rootfs's shell.
/// Into rootfs `r` without the right to chroot again, running `cmd` (quoted for the
/// shell) with /bin/sh (capsh's default shell is /bin/bash, which busybox lacks).
fn capsh(r: &str, cmd: &str) -> String {
    format!("exec capsh --chroot={r} --drop=cap_sys_chroot --shell=/bin/sh -- -c {cmd}")
}

pub fn argv(st: &Context) -> Vec<String> {
    if st.opts.cmd.is_empty() {
        vec![st
            .rootfs
            .as_ref()
            .map(|r| r.shell.clone())
            .unwrap_or_else(|| "/bin/sh".into())]
    } else {
        st.opts.cmd.clone()
    }
}

/// Finds the command inside the rootfs before anything irreversible: 127 when it is not
/// there, 126 when it cannot be executed. Returns its path inside.
pub fn resolve_command(root: &Path, name: &str) -> Result<String> {
    let candidates: Vec<String> = if name.contains('/') {
        vec![name.to_string()]
    } else {
        PATH_INSIDE
            .split(':')
            .map(|d| format!("{d}/{name}"))
            .collect()
    };
    for c in &candidates {
        if let Some(host) = inside_to_host(root, c) {
            if crate::sys::files::is_executable_file(&host) {
                return Ok(c.clone());
            }
            if name.contains('/') {
                return Err(Error::new(
                    Kind::CannotExec,
                    tf(
                        "err.cmd_not_exec",
                        &[("cmd", &name), ("root", &root.display())],
                    ),
                ));
            }
        }
    }
    Err(Error::new(
        Kind::NotFound,
        tf(
            "err.cmd_missing",
            &[("cmd", &name), ("root", &root.display())],
        ),
    ))
}

/// What the host sees of `pid`: its root, its executable, its status lines, its uid map.
pub fn look_at(pid: i32) -> ExecSeen {
    let link = |f: &str| {
        crate::sys::files::read_link(Path::new(&format!("/proc/{pid}/{f}")))
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    let status = Status::of(Who::Pid(pid))
        .unwrap_or_default()
        .select(|k| k.starts_with("Cap") || k == "NoNewPrivs" || k == "Seccomp");
    ExecSeen {
        pid,
        root: link("root"),
        exe: link("exe"),
        status,
        uid_map: crate::sys::files::read_text(Path::new(&format!("/proc/{pid}/uid_map")))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        fds: fds_of(pid),
    }
}

/// The descriptors `pid` holds (`/proc/PID/fd`), in order: number, target, and whether
/// it is a terminal (a tty or pty device, by major number, devices(7)) that is not on
/// the container's own devpts (`/proc/PID/root/dev/pts`, told apart by st_dev).
pub fn fds_of(pid: i32) -> Vec<(i32, String, bool)> {
    let own_pts = crate::sys::files::dev_of(Path::new(&format!("/proc/{pid}/root/dev/pts")));
    crate::sys::procfs::fds(pid)
        .into_iter()
        .map(|f| {
            let target = f
                .target
                .map(|p| crate::ui::sanitize::clean_path(&p))
                .unwrap_or_else(|| "?".into());
            let foreign = f.tty_on.is_some_and(|dev| Some(dev) != own_pts);
            (f.n, target, foreign)
        })
        .collect()
}

/// The rows that show which descriptors reached the command: only 0, 1 and 2, and
/// none of them a terminal of hako's (the learner's).
pub fn fd_rows(seen: &ExecSeen, c: &mut Check) {
    let shown: Vec<String> = seen
        .fds
        .iter()
        .map(|(n, to, _)| format!("{n} → {to}"))
        .collect();
    c.row(
        tf("chroot.row_fds", &[("pid", &seen.pid)]),
        if shown.is_empty() {
            "-".to_string()
        } else {
            shown.join(", ")
        },
        t("chroot.want_fds"),
        !seen.fds.is_empty() && seen.fds.iter().all(|(n, _, _)| (0..=2).contains(n)),
    );
    let foreign: Vec<String> = seen
        .fds
        .iter()
        .filter(|(_, _, f)| *f)
        .map(|(n, to, _)| format!("{n} → {to}"))
        .collect();
    c.row(
        t("chroot.row_ttys"),
        if foreign.is_empty() {
            t("shell.none").to_string()
        } else {
            foreign.join(", ")
        },
        t("chroot.want_ttys"),
        foreign.is_empty(),
    );
}

/// Sends the exec to PID 1 and stops the command right after it (ptrace), so that the
/// host can look at it; records what it saw in `st.exec`.
pub fn exec_and_stop(
    st: &mut Context,
    path: &str,
    argv: &[String],
    did: &mut Vec<String>,
) -> Result<()> {
    let path = path.to_string();
    let argv = argv.to_vec();
    let uuid = st.uuid.clone();
    let a = st.agent()?;
    let pid1 = a.pid1.ok_or_else(|| Error::failed(t("err.no_agent")))?;
    ptrace::seize(pid1).map_err(|e| crate::sys::failure(t("chroot.step_seize"), e))?;
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
    let env = vec![
        ("PATH".to_string(), PATH_INSIDE.to_string()),
        ("HOME".to_string(), "/root".to_string()),
        ("HOSTNAME".to_string(), uuid),
        ("TERM".to_string(), term),
    ];
    let asked = std::time::Instant::now();
    a.exec(&path, &argv, &env)?;
    did.push("close_range(3, ~0U, 0)".into());
    match ptrace::wait_exec(pid1).map_err(|e| crate::sys::failure(t("chroot.step_seize"), e))? {
        AtExec::Stopped => {
            crate::bench::figure("exec_us", crate::bench::us(asked));
            crate::sys::trace(
                || crate::sys::ns::exec_call(&path, &argv),
                "2 execve",
                &Ok::<(), crate::sys::Errno>(()),
            );
            a.stopped = true;
            did.push(tf(
                "chroot.did_exec",
                &[("cmd", &argv.join(" ")), ("pid", &pid1)],
            ));
        }
        AtExec::Ended => {
            let e = a.exec_failure()?;
            let kind = if e == crate::sys::Errno::ENOENT {
                Kind::NotFound
            } else {
                Kind::CannotExec
            };
            return Err(Error::new(
                kind,
                tf(
                    "err.exec_failed",
                    &[
                        ("cmd", &path),
                        ("errno", &e),
                        ("why", &crate::sys::explain(e)),
                    ],
                ),
            ));
        }
    }
    st.exec = Some(look_at(pid1));
    if crate::bench::on() {
        if let Ok(cg) = st.cgroup() {
            crate::bench::figure("charged_bytes", cg.memory_usage().unwrap_or(0));
        }
    }
    Ok(())
}

/// With `--harden` the exec comes later: PID 1 is looked at as it is now. Its root is the
/// rootfs; CAP_SYS_CHROOT is gone from the bounding and inheritable sets (its effective
/// set keeps it until the exec, which the pivot_root lesson uses).
fn check_before_exec(st: &Context, mut c: Check) -> Check {
    let Some((pid, want_root)) = View::of(st).and_then(|v| {
        let r = v.rootfs.as_ref()?.display().to_string();
        Some((v.pid, r))
    }) else {
        c.row(t("chroot.row_root"), "-", t("err.no_agent"), false);
        return c;
    };
    let seen = look_at(pid);
    c.row(
        tf("chroot.row_root", &[("pid", &pid)]),
        seen.root.clone(),
        want_root.clone(),
        seen.root == want_root,
    );
    for set in ["CapBnd", "CapInh"] {
        let v = seen.caps(set);
        c.row(
            tf("chroot.row_cap", &[("set", &set)]),
            seen.field(set).to_string(),
            t("chroot.bit_clear"),
            v != u64::MAX && v & CAP_SYS_CHROOT_BIT == 0,
        );
    }
    c
}

impl Lesson for Chroot {
    fn id(&self) -> &'static str {
        "chroot"
    }

    fn shell(&self, st: &Context) -> String {
        let r = st.rootfs_shown();
        let cmd = format!("'exec {}'", argv(st).join(" "));
        format!(
            "exec capsh --chroot={r} --drop=cap_sys_chroot -- -c {cmd}    # {article}\n{}    # {busybox}",
            capsh(&r, &cmd),
            article = t("chroot.sh_article"),
            busybox = t("chroot.sh_busybox"),
        )
    }

    /// With `--harden`, pivot_root takes the chroot's place.
    fn script(&self, sc: &ScriptCtx) -> Vec<Fragment> {
        if sc.harden {
            return vec![Fragment::Note(t("script.harden_no_chroot").to_string())];
        }
        vec![Fragment::Last(capsh(ROOTFS, &format!("\"exec {CMD}\"")))]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let root = st.root()?;
        let argv = argv(st);
        let path = resolve_command(&root, &argv[0])?;
        let host_cmd = inside_to_host(&root, &path).unwrap_or_default();
        let mut did = vec![tf(
            "chroot.did_found",
            &[("cmd", &path), ("host", &host_cmd.display())],
        )];
        let demo = st.demo_wanted;
        let a = st.agent()?;
        a.chroot(&root)?;
        did.push(format!("chroot(\"{}\") + chdir(\"/\")", root.display()));
        did.push("prctl(PR_CAPBSET_DROP, CAP_SYS_CHROOT); capset(inheritable, ambient -= CAP_SYS_CHROOT)".into());
        match a.open_stdio()? {
            Some(Stdio::Pty(n)) => did.push(tf("chroot.did_terminal", &[("n", &n)])),
            Some(Stdio::Pipes(pipes)) => {
                let fds: Vec<String> = pipes.iter().map(|p| p.to_string()).collect();
                did.push(tf("chroot.did_pipes", &[("fds", &fds.join(", "))]))
            }
            None => {}
        }
        did.push(t("chroot.did_session").to_string());
        // The demonstration must run here, between the chroot and the exec: after the
        // exec nothing inside takes requests any more.
        let escape = if demo { Some(a.escape_demo()?) } else { None };
        if st.opts.harden {
            // --harden: the exec waits for the confining lessons; seccomp does it last.
            st.scratch.get::<Escape>().0 = escape;
            did.push(t("chroot.did_later").to_string());
            return Ok(did);
        }
        exec_and_stop(st, &path, &argv, &mut did)?;
        if escape.is_some() {
            st.scratch.get::<Escape>().0 = escape;
        }
        Ok(did)
    }

    fn check(&self, st: &mut Context) -> Check {
        if st.opts.harden {
            return check_before_exec(st, Check::new(t("chroot.hint")));
        }
        // PID 1 as the host sees it now: stopped at its exec (by hako), or running
        // the command (by hand).
        evidence(View::of(st).as_ref(), true)
    }

    fn task(&self) -> Option<&dyn Task> {
        Some(self)
    }

    fn has_demo(&self) -> bool {
        true
    }

    /// The escape, as tried inside between the chroot and the exec (see `run`).
    fn demo(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("chroot.demo_hint"));
        let Some((with_cap, without)) = st.scratch.take::<Escape>().0 else {
            c.row(t("chroot.demo_with"), "-", t("chroot.demo_not_run"), false);
            return c;
        };
        let host = host_root();
        let escaped =
            with_cap.failed_at.is_none() && (with_cap.root_dev, with_cap.root_ino) == host;
        c.row(
            tf(
                "chroot.demo_with",
                &[("cap", &with_cap.cap_eff), ("dir", &with_cap.dir)],
            ),
            escape_seen(&with_cap),
            tf(
                "chroot.demo_host_root",
                &[("dev", &host.0), ("ino", &host.1)],
            ),
            escaped,
        );
        let eperm = without
            .failed_at
            .as_ref()
            .is_some_and(|(_, e)| *e == (crate::sys::Errno::EPERM as i32));
        c.row(
            tf(
                "chroot.demo_without",
                &[("cap", &without.cap_eff), ("dir", &without.dir)],
            ),
            escape_seen(&without),
            t("chroot.demo_want_eperm"),
            eperm,
        );
        c
    }
}

/// The evidence, on process `view` (the container's first, after its exec): its root
/// is the rootfs, CAP_SYS_CHROOT is gone from its bounding and effective sets, it runs a
/// program of the rootfs's, and (`fds`) it holds only 0, 1, 2, none a terminal of
/// hako's. `hako practice` leaves the descriptors out: there the learner's own shell
/// holds the practice pty, by design.
pub fn evidence(view: Option<&View>, fds: bool) -> Check {
    let mut c = Check::new(t("chroot.hint"));
    let Some((view, want_root)) = view.and_then(|v| {
        let r = v.rootfs.as_ref()?.display().to_string();
        Some((v, r))
    }) else {
        c.row(t("chroot.row_root"), "-", t("chroot.no_exec"), false);
        return c;
    };
    let seen = &look_at(view.pid);
    c.row(
        tf("chroot.row_root", &[("pid", &seen.pid)]),
        seen.root.clone(),
        want_root.clone(),
        seen.root == want_root,
    );
    let host_bnd = crate::sys::procfs::status_field(Who::Me, "CapBnd");
    for set in ["CapBnd", "CapEff"] {
        let v = seen.caps(set);
        c.row(
            tf("chroot.row_cap", &[("set", &set)]),
            seen.field(set).to_string(),
            tf("chroot.no_sys_chroot", &[("host", &host_bnd)]),
            v != u64::MAX && v & CAP_SYS_CHROOT_BIT == 0,
        );
    }
    let hako = crate::sys::files::read_link(Path::new("/proc/self/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    c.row(
        t("chroot.row_exe"),
        crate::ui::sanitize::clean(&seen.exe),
        tf("chroot.not_hako", &[("hako", &hako)]),
        !seen.exe.is_empty() && seen.exe != hako && seen.exe.starts_with(&want_root),
    );
    if fds {
        fd_rows(seen, &mut c);
    }
    c
}

/// The chroot escape, tried inside between the chroot and the exec (`run`), shown
/// by the demonstration: (with CAP_SYS_CHROOT, without).
#[derive(Default)]
struct Escape(Option<(EscapeOutcome, EscapeOutcome)>);

/// The device and inode of the host's `/`, which an escape reaches.
pub fn host_root() -> (u64, u64) {
    crate::sys::files::identity(Path::new("/")).unwrap_or((0, 0))
}

/// What an escape attempt saw: where it got out to, or the call that failed.
pub fn escape_seen(o: &EscapeOutcome) -> String {
    match &o.failed_at {
        None => tf(
            "chroot.demo_escaped",
            &[
                ("dev", &o.root_dev),
                ("ino", &o.root_ino),
                ("list", &o.listing.join(" ")),
            ],
        ),
        Some((at, e)) => format!("{at} = -1 {}", crate::sys::Errno::from_raw(*e)),
    }
}

/// What the learner types in the container's shell: into the rootfs without the right
/// to chroot again, running its /bin/sh (capsh's default is /bin/bash, which busybox
/// lacks). With `exec`, the shell becomes PID 1's new program; dash cannot (it gives
/// the terminal back to a process group its PID namespace cannot see, and dies), so
/// under dash capsh runs as its child.
pub fn lines(s: &Setup, dash: bool) -> Vec<String> {
    let cmd = format!(
        "capsh --chroot={} --drop=cap_sys_chroot --shell=/bin/sh --",
        judge::shown(&s.rootfs)
    );
    vec![if dash { cmd } else { format!("exec {cmd}") }]
}

impl Task for Chroot {
    fn id(&self) -> &'static str {
        "chroot"
    }
    fn inside(&self) -> bool {
        true
    }
    fn solve(&self, s: &Setup) -> Vec<String> {
        lines(s, judge::find(s).pid1.is_some_and(judge::runs_dash))
    }
    fn judge(&self, s: &Setup) -> Verdict {
        judged(lang(), s)
    }
}

/// Whether `pid`'s root is the rootfs.
fn rooted(s: &Setup, pid: i32) -> bool {
    judge::view_of(s, pid).rooted()
}

/// The judge, in language `l`: the container's PID 1 once it is rooted in the rootfs
/// (`exec capsh`), else the newest process of its PID namespace that is (capsh run as a
/// child, as under dash). Known wrong ways: CAP_SYS_CHROOT kept in the bounding set (a
/// chroot with no `--drop`); dash as the container's shell before the chroot (its
/// `exec capsh` would end the container).
fn judged(l: Lang, s: &Setup) -> Verdict {
    let found = judge::find(s);
    let Some(pid1) = found.pid1 else {
        return judge::verdict(
            l,
            "chroot",
            evidence(None, false),
            judge::wrong_gone(l, &found),
        );
    };
    let target = if rooted(s, pid1) {
        pid1
    } else {
        found
            .members()
            .into_iter()
            .filter(|p| rooted(s, *p))
            .max_by_key(|p| {
                crate::sys::procfs::Stat::of(Who::Pid(*p))
                    .and_then(|st| st.start_time())
                    .unwrap_or(0)
            })
            .unwrap_or(pid1)
    };
    let view = judge::view_of(s, target);
    let c = evidence(Some(&view), false);
    let wrong = if view.rooted() {
        let bnd = Status::of(Who::Pid(target))
            .and_then(|st| st.hex("CapBnd"))
            .unwrap_or(0);
        (bnd & CAP_SYS_CHROOT_BIT != 0).then(|| {
            fill(
                t_in(l, "chroot.wrong_cap"),
                &[("pid", &target), ("bnd", &format!("{bnd:016x}"))],
            )
        })
    } else if judge::runs_dash(pid1) {
        Some(fill(t_in(l, "chroot.wrong_dash"), &[("pid", &pid1)]))
    } else {
        None
    };
    judge::verdict(l, "chroot", c, wrong)
}

#[cfg(test)]
mod task_tests {
    use super::*;

    #[test]
    fn capsh_with_exec_except_under_dash() {
        let s = crate::lessons::judge::tests::setup(false);
        assert_eq!(
            lines(&s, false),
            ["exec capsh --chroot=/tmp/hako.r00t --drop=cap_sys_chroot --shell=/bin/sh --"]
        );
        assert_eq!(
            lines(&s, true),
            ["capsh --chroot=/tmp/hako.r00t --drop=cap_sys_chroot --shell=/bin/sh --"]
        );
    }
}
