//! `hako script`: the whole walk as one shell script for this host (its cgroup
//! version and files, its rootfs source), commented from the lessons. Unlike the
//! article's, it checks for its tools first, uses the devpts recipe that works, and
//! cleans up after itself on every exit.

use crate::error::{Error, Result};
use crate::lessons::{self, Fragment, ScriptCtx, Set};
use crate::rootfs::{host, Source};
use crate::spec::CpuSpec;
use crate::sys::cgroup::{self, Layout};
use crate::sys::mountinfo;
use crate::ui::i18n::{t, tf};

/// What the script is made for.
pub struct Plan {
    pub source: Source,
    pub memory: u64,
    pub cpu: CpuSpec,
    /// `--harden`: the confining steps too.
    pub harden: bool,
    /// `--pids N`: the pids limit too.
    pub pids: Option<u64>,
    /// `--net`: the network too, on this subnet (None: the script picks a free one).
    pub net: Option<Option<crate::spec::Subnet>>,
    /// `--overlay`: the rootfs as an overlay mount.
    pub overlay: bool,
}

/// A lesson's title and summary as `#` comment lines, wrapped by display width.
fn comment(id: &str, n: usize) -> String {
    let p = lessons::prose(id);
    let mut out = format!("\n# ── {n}. {} ({id}) ──\n", p.title);
    // The summary's Markdown as plain text (soft line breaks joined as the language
    // wants), wrapped at legal break points.
    let look = crate::ui::markdown::Look {
        width: 76,
        color: false,
        unicode: true,
    };
    for l in crate::ui::markdown::render(&p.summary, look) {
        if l.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str(&format!("# {l}\n"));
        }
    }
    out
}

/// `# text` lines for a UI string.
fn note(key: &str) -> String {
    lines(t(key))
}

/// `# text` lines, wrapped to 76 columns at legal break points.
fn lines(text: &str) -> String {
    crate::ui::render::wrap(text, 76)
        .iter()
        .map(|l| format!("# {l}\n"))
        .collect()
}

pub use crate::lessons::fragment::quote;

/// The script, for this host. Fails (one sentence) when this host has no cgroup
/// layout to write it for.
pub fn render(plan: &Plan) -> Result<String> {
    let mounts =
        mountinfo::read(None).map_err(|e| Error::failed(tf("err.mountinfo", &[("why", &e)])))?;
    if let Source::Oci(_) = plan.source {
        return Err(Error::usage(t("script.no_oci")));
    }
    let layout = cgroup::detect(&mounts)
        .map_err(|missing| Error::failed(tf("script.no_layout", &[("what", &missing)])))?;
    Ok(render_for(plan, &layout, host::find_busybox()))
}

pub fn render_for(plan: &Plan, l: &Layout, busybox: Option<std::path::PathBuf>) -> String {
    let mut s = String::new();
    let source = match (&plan.source, &busybox) {
        (Source::Dir(p), _) => format!("dir:{}", p.display()),
        (Source::Host, Some(bb)) => format!("host (busybox {})", bb.display()),
        (Source::Host, None) => "host (/bin/sh + tools + libraries)".into(),
        (other, _) => other.describe(),
    };
    s.push_str("#!/usr/bin/env bash\n");
    s.push_str(&lines(&tf(
        "script.head",
        &[("version", &l.version.label()), ("source", &source)],
    )));
    s.push_str(&note("script.save"));
    s.push_str(&note("script.cmd"));
    s.push_str("set -eu\n\n");
    s.push_str("CMD=${CMD:-/bin/sh}\n");
    s.push_str("say() { printf '%s\\n' \"$*\" >&2; }\n");

    let sc = ScriptCtx {
        source: &plan.source,
        busybox: busybox.as_deref(),
        layout: l,
        memory: plan.memory,
        cpu: plan.cpu,
        harden: plan.harden,
        pids: plan.pids,
        net: plan.net,
        overlay: plan.overlay,
    };
    // Every lesson of the walk, numbered as the walk numbers it, with its own lines;
    // those after the last that has any (nothing of theirs runs) are left out.
    let steps: Vec<(&str, Vec<Fragment>)> = lessons::walk_with(&Set::on(
        plan.harden,
        plan.pids.is_some(),
        plan.overlay,
        plan.net.is_some(),
    ))
    .iter()
    .map(|l| (l.id(), l.script(&sc)))
    .collect();
    let end = steps
        .iter()
        .rposition(|(_, f)| !f.is_empty())
        .map_or(0, |i| i + 1);
    for (i, (id, fragments)) in steps.into_iter().take(end).enumerate() {
        s.push_str(&comment(id, i + 1));
        for f in fragments {
            match f {
                Fragment::Host(text) => s.push_str(&format!("{}\n", text.trim_end())),
                Fragment::Inside(text) => s.push_str(&format!("inside {}\n", quote(&text))),
                Fragment::Last(text) => s.push_str(&format!("inside_last {}\n", quote(&text))),
                Fragment::Note(text) => s.push_str(&lines(&text)),
            }
        }
        if i == 0 {
            // After the first look at the host, before anything is made.
            s.push_str(&setup(l, plan.pids.is_some()));
        }
    }

    let mem_dir = l.memory.display();
    let cpu_dir = l.cpu.display();
    s.push_str(&format!("\n{}", note("script.counted")));
    if l.version.is_v2() {
        s.push_str(&format!(
            "grep -H . {mem_dir}/$UUID/memory.peak {mem_dir}/$UUID/memory.events {cpu_dir}/$UUID/cpu.stat >&2 || true\n",
        ));
    } else {
        s.push_str(&format!(
            "grep -H . {mem_dir}/$UUID/memory.max_usage_in_bytes {mem_dir}/$UUID/memory.failcnt {cpu_dir}/$UUID/cpu.stat >&2 || true\n",
        ));
    }
    if let Some(d) = plan.pids.and_then(|_| l.pids_dir("$UUID")) {
        s.push_str(&format!(
            "grep -H . {d}/pids.events {d}/pids.peak >&2 2>/dev/null || true\n",
            d = d.display()
        ));
    }
    s.push_str("exit $status\n");
    s
}

/// The script's own machinery: the container's name, the clean-up (set before anything
/// is made), and the lists of steps to run inside the new namespaces.
fn setup(l: &Layout, pids: bool) -> String {
    let cgroups: Vec<String> = l
        .dirs_with("$UUID", pids)
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    let mut s = format!("\n{}", note("script.cleanup"));
    s.push_str(&format!(
        r#"UUID=$(cat /proc/sys/kernel/random/uuid)
say "UUID=$UUID"
ROOTFS=
OWNED=
OVL=
LOWER=
ADDED=
CGROUPS="{cgroups}"
added() {{ ADDED="$1 $ADDED"; }}
HOLDER=
NET_UNDO=
cleanup() {{
  status=$?
  trap - EXIT INT TERM HUP
  [ -z "$HOLDER" ] || kill "$HOLDER" 2>/dev/null || true
  [ -z "$NET_UNDO" ] || eval "$NET_UNDO" || true
  for d in $CGROUPS; do
    [ -d "$d" ] || continue
    for i in 1 2 3 4 5 6 7 8 9 10; do
      pids=$(cat "$d/cgroup.procs" 2>/dev/null || true)
      [ -n "$pids" ] || break
      kill -9 $pids 2>/dev/null || true
      sleep 0.1
    done
    rmdir "$d" || say "walk.sh: $d: rmdir failed"
  done
  if [ -n "$OVL" ]; then
    umount "$OVL/root" 2>/dev/null || true
    rm -rf --one-file-system "$OVL" && say "removed $OVL"
    ROOTFS=$LOWER
  fi
  if [ -n "$ROOTFS" ] && [ -d "$ROOTFS" ]; then
    if grep -qF " $ROOTFS/" /proc/self/mountinfo; then
      say "walk.sh: $ROOTFS: still mounted (findmnt -R $ROOTFS)"
    elif [ -n "$OWNED" ]; then
      rm -rf --one-file-system "$ROOTFS" && say "removed $ROOTFS"
    else
      for p in $ADDED; do
        if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir "$p"; else rm -f "$p"; fi
      done
    fi
  fi
  exit $status
}}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
"#,
        cgroups = cgroups.join(" ")
    ));
    s.push_str(&format!("\n{}", note("script.inside")));
    s.push_str(
        r#"INNER='set -e
'
LAST=
inside() { INNER="$INNER$1
"; }
inside_last() { LAST="$LAST$1
"; }
export ROOTFS UUID CMD INNER LAST HOLDER
"#,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::mountinfo::parse;

    const HYBRID: &str = "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
    const V2: &str = "26 24 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    const HYBRID_PIDS: &str = "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";

    fn plan() -> Plan {
        Plan {
            source: Source::Host,
            memory: 10_000_000,
            cpu: CpuSpec::default(),
            harden: false,
            pids: None,
            net: None,
            overlay: false,
        }
    }

    #[test]
    fn the_overlay_step_mounts_the_unpacked_tree_and_needs_setfattr() {
        let mut p = plan();
        p.overlay = true;
        let l = cgroup::detect(&parse(V2)).unwrap();
        let s = render_for(&p, &l, None);
        assert!(s.contains("command -v setfattr"), "{s}");
        assert!(s.contains("apt-get install attr"), "{s}");
        assert!(s.contains("setfattr -n trusted.overlay.opaque -v y"), "{s}");
        assert!(
            s.contains("mknod \"$(dirname \"$f\")/${n#.wh.}\" c 0 0"),
            "{s}"
        );
        assert!(
            s.contains("mount -t overlay overlay -o lowerdir=\"$LOWER\",upperdir=\"$OVL/upper\",workdir=\"$OVL/work\" \"$OVL/root\""),
            "{s}"
        );
        assert!(
            s.contains("umount \"$OVL/root\""),
            "the clean-up unmounts it"
        );
        assert!(s.contains("3. "), "overlay is lesson 3");
        let plain = render_for(&plan(), &l, None);
        assert!(!plain.contains("lowerdir"), "no overlay without --overlay");
        assert!(!plain.contains("setfattr"));
        p.source = Source::Dir("/srv/r".into());
        let d = render_for(&p, &l, None);
        assert!(!d.contains("mount -t overlay"), "dir: gets no overlay");
    }

    #[test]
    fn v1_and_v2_scripts_use_their_own_files() {
        let v1 = render_for(&plan(), &cgroup::detect(&parse(HYBRID)).unwrap(), None);
        assert!(v1.contains("/sys/fs/cgroup/memory/$UUID/memory.limit_in_bytes"));
        assert!(v1.contains("/sys/fs/cgroup/cpu/$UUID/cpu.cfs_quota_us"));
        assert!(!v1.contains("/memory.max\n"));
        assert!(v1.contains("copy_program"), "no busybox: the ELF copy");
        let v2 = render_for(
            &plan(),
            &cgroup::detect(&parse(V2)).unwrap(),
            Some("/bin/busybox".into()),
        );
        assert!(v2.contains("/sys/fs/cgroup/$UUID/memory.max"));
        assert!(v2.contains("cgroup.subtree_control"));
        assert!(v2.contains("/bin/busybox --list"));
        for s in [&v1, &v2] {
            assert!(s.contains("trap cleanup EXIT"));
            assert!(s.contains("ptmxmode=0666"));
            assert!(s.contains("--shell=/bin/sh"));
            assert!(!s.contains("mount --bind /dev/pts/ptmx"));
        }
    }

    #[test]
    fn the_hardened_script_has_every_step_and_names_the_missing_one() {
        let mut p = plan();
        p.harden = true;
        let s = render_for(&p, &cgroup::detect(&parse(HYBRID)).unwrap(), None);
        for needle in [
            "unshare --user",
            "/uid_map",
            "/gid_map",
            "nsenter --user",
            "--fork --cgroup",
            "pivot_root . .",
            "/.hako/umount -l .",
            "mount --bind /dev/null",
            "remount,bind,ro",
            "--no-new-privs",
            "--bounding-set=-all,+chown",
            "seccomp(2)",
        ] {
            assert!(s.contains(needle), "no {needle:?}");
        }
        assert!(!s.contains("capsh --chroot"));
        let plain = render_for(&plan(), &cgroup::detect(&parse(HYBRID)).unwrap(), None);
        assert!(!plain.contains("pivot_root"));
    }

    /// The steps are numbered as the walk numbers the lessons, and each lesson's lines
    /// are in the script as the lesson wrote them.
    #[test]
    fn the_steps_are_the_lessons_own() {
        for (harden, pids) in [
            (false, None),
            (true, None),
            (false, Some(20)),
            (true, Some(20)),
        ] {
            let mut p = plan();
            p.harden = harden;
            p.pids = pids;
            let l = cgroup::detect(&parse(V2)).unwrap();
            let s = render_for(&p, &l, None);
            let sc = ScriptCtx {
                source: &p.source,
                busybox: None,
                layout: &l,
                memory: p.memory,
                cpu: p.cpu,
                harden,
                pids,
                net: None,
                overlay: false,
            };
            let walk = lessons::walk_with(&Set::on(harden, pids.is_some(), false, false));
            for (i, lesson) in walk.iter().enumerate() {
                let fragments = lesson.script(&sc);
                if lesson.id() != "beyond" {
                    let head = format!("# ── {}. ", i + 1);
                    let line = s
                        .lines()
                        .find(|l| l.starts_with(&head))
                        .unwrap_or_else(|| panic!("no step {}", i + 1));
                    assert!(line.ends_with(&format!("({}) ──", lesson.id())), "{line}");
                }
                for f in fragments {
                    let text = match f {
                        Fragment::Host(t) => t,
                        Fragment::Inside(t) | Fragment::Last(t) => quote(&t),
                        Fragment::Note(_) => continue,
                    };
                    assert!(s.contains(text.trim_end()), "{}: {text}", lesson.id());
                }
            }
            assert_eq!(s.matches(crate::sys::ns::DEVPTS_OPTIONS).count(), 1);
        }
    }

    #[test]
    fn the_pids_step_uses_each_versions_files_and_joins_the_hierarchy() {
        let mut p = plan();
        p.pids = Some(20);
        let v1 = render_for(&p, &cgroup::detect(&parse(HYBRID_PIDS)).unwrap(), None);
        assert!(v1.contains("mkdir /sys/fs/cgroup/pids/$UUID\n"), "{v1}");
        assert!(v1.contains("echo 20 > /sys/fs/cgroup/pids/$UUID/pids.max"));
        assert!(
            v1.contains("/sys/fs/cgroup/pids/$UUID/cgroup.procs"),
            "joined"
        );
        assert!(v1.contains("CGROUPS=\"/sys/fs/cgroup/memory/$UUID /sys/fs/cgroup/cpu/$UUID /sys/fs/cgroup/pids/$UUID\""));
        assert!(v1.contains("5. "), "pids is lesson 5");
        assert!(v1.contains("(namespaces)"));
        let v2 = render_for(&p, &cgroup::detect(&parse(V2)).unwrap(), None);
        assert!(v2.contains("echo +pids > /sys/fs/cgroup/cgroup.subtree_control"));
        assert!(v2.contains("echo 20 > /sys/fs/cgroup/$UUID/pids.max"));
        assert!(!v2.contains("mkdir /sys/fs/cgroup/pids"));
        let plain = render_for(&plan(), &cgroup::detect(&parse(HYBRID_PIDS)).unwrap(), None);
        assert!(!plain.contains("pids.max"), "no pids step without --pids");
        p.harden = true;
        let hard = render_for(&p, &cgroup::detect(&parse(HYBRID_PIDS)).unwrap(), None);
        assert!(hard
            .lines()
            .any(|l| l.starts_with("# ── 6. ") && l.ends_with("(userns) ──")));
        assert!(hard.contains("pids.max"));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a'b"), "'a'\\''b'");
    }
}
