//! `hako script`: the whole walk as one shell script for this host (its cgroup
//! version and files, its rootfs source), commented from the lessons. Unlike the
//! article's, it checks for its tools first, uses the devpts recipe that works, and
//! cleans up after itself on every exit.

use crate::error::{Error, Result};
use crate::lessons;
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
}

/// A lesson's number in the walk these options make (as `hako` numbers it).
fn number(id: &str, harden: bool, pids: bool) -> usize {
    lessons::walk_for(harden, pids)
        .iter()
        .position(|l| l.id() == id)
        .map(|i| i + 1)
        .unwrap_or(0)
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

/// Single-quotes a value for the shell.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

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
    let num = |id: &str| number(id, plan.harden, plan.pids.is_some());
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

    // preflight
    s.push_str(&comment("preflight", num("preflight")));
    s.push_str(&format!(
        "if [ \"$(id -u)\" != 0 ]; then say {}; exit 1; fi\n",
        quote(t("script.need_root"))
    ));
    let mut tools = vec![
        "mktemp", "unshare", "mount", "capsh", "chroot", "hostname", "cp", "ln", "mkdir", "rmdir",
        "grep", "cat",
    ];
    if busybox.is_none() && plan.source == Source::Host {
        tools.push("ldd");
    }
    if plan.harden {
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
    s.push_str(&format!(
        "missing=\nfor tool in {}; do\n  command -v \"$tool\" >/dev/null 2>&1 || missing=\"$missing $tool\"\ndone\nif [ -n \"$missing\" ]; then say \"{}\"; exit 1; fi\n",
        tools.join(" "),
        t("script.missing").replace("{list}", "$missing")
    ));
    let mem_dir = l.memory.display().to_string();
    let cpu_dir = l.cpu.display().to_string();
    let probe = if l.version.is_v2() {
        format!("{mem_dir}/cgroup.controllers")
    } else {
        format!("{mem_dir}/memory.limit_in_bytes")
    };
    s.push_str(&format!(
        "if [ ! -e {probe} ]; then say {}; exit 1; fi\n",
        quote(&tf("script.other_host", &[("path", &probe)]))
    ));

    // the clean-up, set before anything is made
    let cgroups: Vec<String> = l
        .dirs_with("$UUID", plan.pids.is_some())
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    s.push_str(&format!("\n{}", note("script.cleanup")));
    s.push_str(&format!(
        r#"UUID=$(cat /proc/sys/kernel/random/uuid)
say "UUID=$UUID"
ROOTFS=
OWNED=
ADDED=
CGROUPS="{cgroups}"
added() {{ ADDED="$1 $ADDED"; }}
HOLDER=
cleanup() {{
  status=$?
  trap - EXIT INT TERM HUP
  [ -z "$HOLDER" ] || kill "$HOLDER" 2>/dev/null || true
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

    // rootfs
    s.push_str(&comment("rootfs", num("rootfs")));
    match (&plan.source, &busybox) {
        (Source::Dir(p), _) => {
            s.push_str(&format!("ROOTFS={}\n", quote(&p.display().to_string())));
            s.push_str(&format!(
                "[ -x \"$ROOTFS/bin/sh\" ] || {{ say {}; exit 1; }}\n",
                quote(&tf("script.no_sh", &[("root", &p.display())]))
            ));
        }
        (Source::Tar(p), _) => {
            s.push_str("ROOTFS=$(mktemp -d -t hako.XXXXXX)\nOWNED=1\nsay \"created $ROOTFS\"\n");
            s.push_str(&format!(
                "tar -xf {} -C \"$ROOTFS\" --numeric-owner\n",
                quote(&p.display().to_string())
            ));
        }
        (Source::Docker(img), _) => {
            s.push_str("ROOTFS=$(mktemp -d -t hako.XXXXXX)\nOWNED=1\nsay \"created $ROOTFS\"\n");
            s.push_str(&format!(
                "CID=$(docker container create {img} {cmd})\ndocker container export \"$CID\" | tar -x -C \"$ROOTFS\"\ndocker container rm \"$CID\" >/dev/null\n[ -e \"$ROOTFS/bin/bash\" ] || [ ! -e \"$ROOTFS/usr/local/bin/bash\" ] || ln -s /usr/local/bin/bash \"$ROOTFS/bin/bash\"\n",
                img = quote(img),
                cmd = crate::rootfs::docker::CREATE_CMD,
            ));
        }
        (Source::Oci(_), _) => unreachable!("refused in render()"),
        (Source::Host, bb) => {
            s.push_str("ROOTFS=$(mktemp -d -t hako.XXXXXX)\nOWNED=1\nsay \"created $ROOTFS\"\n");
            s.push_str("mkdir -p \"$ROOTFS/bin\" \"$ROOTFS/etc\" \"$ROOTFS/root\" \"$ROOTFS/tmp\"\nchmod 1777 \"$ROOTFS/tmp\"\n");
            s.push_str("echo 'root:x:0:0:root:/root:/bin/sh' > \"$ROOTFS/etc/passwd\"\necho 'root:x:0:' > \"$ROOTFS/etc/group\"\n");
            match bb {
                Some(bb) => s.push_str(&format!(
                    "cp {} \"$ROOTFS/bin/busybox\"\nfor a in $(\"$ROOTFS/bin/busybox\" --list); do\n  [ \"$a\" = busybox ] || ln \"$ROOTFS/bin/busybox\" \"$ROOTFS/bin/$a\"\ndone\n",
                    quote(&bb.display().to_string())
                )),
                None => {
                    s.push_str(&note("rootfs.sh_ldd"));
                    s.push_str("copy_program() {\n  cp -L \"$1\" \"$ROOTFS/bin/$2\"\n  for lib in $(ldd \"$1\" 2>/dev/null | grep -o '/[^ ]*'); do\n    [ -e \"$ROOTFS$lib\" ] || cp --parents -L \"$lib\" \"$ROOTFS\"\n  done\n}\n");
                    s.push_str("copy_program \"$(type -P sh)\" sh\n");
                    let found: Vec<&str> = host::TOOLS
                        .iter()
                        .copied()
                        .filter(|t| host::which(t).is_some())
                        .collect();
                    s.push_str(&format!(
                        "for t in {}; do\n  p=$(type -P \"$t\" || true)\n  [ -z \"$p\" ] || copy_program \"$p\" \"$t\"\ndone\n",
                        found.join(" ")
                    ));
                }
            }
        }
    }
    // Nothing of the image runs before it is confined: a `chroot "$ROOTFS" /bin/sh` here would
    // run the image's code as the host's root with every capability. The script only looks.
    s.push_str("[ -e \"$ROOTFS/bin/sh\" ] || [ -L \"$ROOTFS/bin/sh\" ] || { say \"walk.sh: there is no /bin/sh in $ROOTFS\"; exit 1; }\n");

    // cgroup
    s.push_str(&comment("cgroup", num("cgroup")));
    if l.version.is_v2() {
        s.push_str(&format!(
            "for c in memory cpu; do\n  grep -qw \"$c\" {m}/cgroup.subtree_control || echo \"+$c\" > {m}/cgroup.subtree_control\ndone\n",
            m = mem_dir
        ));
    }
    for d in l.dirs("$UUID") {
        s.push_str(&format!("mkdir {}\n", d.display()));
    }

    // limits: the same plan the limits lesson applies (this host's files), the swap
    // limit only where the kernel has the file.
    s.push_str(&comment("limits", num("limits")));
    let swap = l.swap_file("$UUID");
    for op in l.limit_plan("$UUID", plan.memory, plan.cpu, true) {
        match &op {
            crate::sys::cgroup::Op::Write { path, .. } if *path == swap => {
                s.push_str(&format!("[ ! -e {} ] || {}\n", path.display(), op.shell()))
            }
            _ => s.push_str(&format!("{}\n", op.shell())),
        }
    }

    // pids: the same plan the pids lesson applies; on v2 +pids only where it is missing
    if let Some(max) = plan.pids {
        s.push_str(&comment("pids", num("pids")));
        if l.version.is_v2() {
            s.push_str(&format!(
                "grep -qw pids {m}/cgroup.subtree_control || echo +pids > {m}/cgroup.subtree_control\n",
                m = mem_dir
            ));
        }
        // (on v2 the line above did what the plan would: it is left out of it)
        for op in l.pids_plan("$UUID", max, "pids") {
            s.push_str(&format!("{}\n", op.shell()));
        }
        if let Some(d) = l.pids_dir("$UUID") {
            s.push_str(&format!("cat {}/pids.max\n", d.display()));
        }
    }

    // the mount points, made from the host so that the clean-up knows them
    s.push_str(&format!("\n{}", note("script.points")));
    s.push_str(
        r#"for d in proc dev dev/pts; do
  [ -e "$ROOTFS/$d" ] || { mkdir "$ROOTFS/$d"; added "$ROOTFS/$d"; }
done
[ -e "$ROOTFS/dev/null" ] || { : > "$ROOTFS/dev/null"; added "$ROOTFS/dev/null"; }
[ -e "$ROOTFS/dev/ptmx" ] || [ -L "$ROOTFS/dev/ptmx" ] || { ln -s pts/ptmx "$ROOTFS/dev/ptmx"; added "$ROOTFS/dev/ptmx"; }
"#,
    );

    if plan.harden {
        harden_steps(&mut s, l, plan.pids.is_some());
    } else {
        // namespaces … chroot: the inside, as one script run by unshare's child
        s.push_str(&comment("namespaces", num("namespaces")));
        s.push_str(&comment("proc", num("proc")));
        s.push_str(&comment("devpts", num("devpts")));
        s.push_str(&note("devpts.sh_ours"));
        s.push_str(&comment("devnull", num("devnull")));
        s.push_str(&comment("hostname", num("hostname")));
        s.push_str(&comment("chroot", num("chroot")));
        s.push_str(
            r#"INNER='
    set -e
    mount -t proc proc "$ROOTFS/proc"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$ROOTFS/dev/pts"
    [ -L "$ROOTFS/dev/ptmx" ] || mount --bind "$ROOTFS/dev/pts/ptmx" "$ROOTFS/dev/ptmx"
    mount --bind /dev/null "$ROOTFS/dev/null"
    hostname "$UUID"
    exec capsh --chroot="$ROOTFS" --drop=cap_sys_chroot --shell=/bin/sh -- -c "exec $CMD"
    '
    export ROOTFS UUID CMD INNER
    "#,
        );
        s.push_str(&comment("shell", num("shell")));
        s.push_str(&join_then_exec(
            l,
            plan.pids.is_some(),
            "unshare -muinpf --propagation private /bin/sh -c \"$INNER\"",
            "",
        ));
    }
    s.push_str(&format!("\n{}", note("script.counted")));
    if l.version.is_v2() {
        s.push_str(&format!(
            "grep -H . {m}/$UUID/memory.peak {m}/$UUID/memory.events {c}/$UUID/cpu.stat >&2 || true\n",
            m = mem_dir,
            c = cpu_dir
        ));
    } else {
        s.push_str(&format!(
            "grep -H . {m}/$UUID/memory.max_usage_in_bytes {m}/$UUID/memory.failcnt {c}/$UUID/cpu.stat >&2 || true\n",
            m = mem_dir,
            c = cpu_dir
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

/// `--harden`: the same container, confined. The user namespace is made first by a
/// waiting process, whose maps the script writes from the host; nsenter then enters it as
/// uid 0 and unshares the rest, so that every other namespace belongs to it. The masks go
/// on $ROOTFS/proc before pivot_root (the recursive bind carries them along); after
/// pivot_root only the rootfs's files are left, so setpriv and umount are copied into
/// $ROOTFS/.hako with their libraries. seccomp has no command-line equivalent.
fn harden_steps(s: &mut String, l: &Layout, pids: bool) {
    use crate::sys::harden::{map_line, MAP_OUTSIDE};
    let keep: Vec<String> = crate::lessons::beyond::names(crate::lessons::caps::kept())
        .iter()
        .map(|n| format!("+{}", n.to_lowercase()))
        .collect();
    s.push_str(&comment("userns", number("userns", true, pids)));
    s.push_str(&format!(
        r#"[ -n "$OWNED" ] || {{ say {refuse}; exit 1; }}
mkdir -p "$ROOTFS/.hako"
for t in setpriv umount; do
  p=$(command -v "$t")
  cp -L "$p" "$ROOTFS/.hako/$t"
  for lib in $(ldd "$p" 2>/dev/null | grep -o '/[^ ]*'); do
    [ -e "$ROOTFS$lib" ] || cp --parents -L "$lib" "$ROOTFS"
  done
done
chown -R {u}:{u} "$ROOTFS"
unshare --user sleep infinity &
HOLDER=$!
while [ "$(readlink /proc/$HOLDER/ns/user)" = "$(readlink /proc/self/ns/user)" ]; do sleep 0.01; done
echo '{map}' > /proc/$HOLDER/uid_map
echo '{map}' > /proc/$HOLDER/gid_map
"#,
        refuse = quote(t("script.harden_owned")),
        u = MAP_OUTSIDE,
        map = map_line(),
    ));
    s.push_str(&comment("namespaces", number("namespaces", true, pids)));
    s.push_str(&comment("proc", number("proc", true, pids)));
    s.push_str(&comment("devpts", number("devpts", true, pids)));
    s.push_str(&comment("devnull", number("devnull", true, pids)));
    s.push_str(&comment("hostname", number("hostname", true, pids)));
    s.push_str(&note("script.harden_no_chroot"));
    s.push_str(&comment("pivot_root", number("pivot_root", true, pids)));
    s.push_str(&comment("cgroupns", number("cgroupns", true, pids)));
    s.push_str(&comment("masks", number("masks", true, pids)));
    s.push_str(&comment("caps", number("caps", true, pids)));
    s.push_str(&comment("nonewprivs", number("nonewprivs", true, pids)));
    s.push_str(&comment("seccomp", number("seccomp", true, pids)));
    s.push_str(&note("seccomp.sh_none"));
    let (masked, ro) = crate::lessons::masks::proc_names();
    s.push_str(&format!(
        r#"INNER='
set -e
mount -t proc proc "$ROOTFS/proc"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$ROOTFS/dev/pts"
[ -L "$ROOTFS/dev/ptmx" ] || mount --bind "$ROOTFS/dev/pts/ptmx" "$ROOTFS/dev/ptmx"
mount --bind /dev/null "$ROOTFS/dev/null"
hostname "$UUID"
for p in {masked}; do
  if [ -d "$ROOTFS/proc/$p" ]; then mount -t tmpfs -o ro tmpfs "$ROOTFS/proc/$p"
  elif [ -e "$ROOTFS/proc/$p" ]; then mount --bind /dev/null "$ROOTFS/proc/$p"; fi
done
for p in {ro}; do
  [ -e "$ROOTFS/proc/$p" ] || continue
  mount --bind "$ROOTFS/proc/$p" "$ROOTFS/proc/$p"
  mount -o remount,bind,ro "$ROOTFS/proc/$p"
done
mount --make-rslave /
mount --rbind "$ROOTFS" "$ROOTFS"
cd "$ROOTFS"
pivot_root . .
/.hako/umount -l .
cd /
exec /.hako/setpriv --bounding-set=-all,{keep} --inh-caps=-all --ambient-caps=-all --no-new-privs -- /bin/sh -c "exec $CMD"
'
export ROOTFS UUID CMD INNER HOLDER
"#,
        masked = masked.join(" "),
        ro = ro.join(" "),
        keep = keep.join(","),
    ));
    s.push_str(&comment("shell", number("shell", true, pids)));
    s.push_str(&join_then_exec(
        l,
        pids,
        "nsenter --user --target \"$HOLDER\" --setuid 0 --setgid 0 unshare -muinpf --cgroup --propagation private /bin/sh -c \"$INNER\"",
        "kill \"$HOLDER\" 2>/dev/null; HOLDER=\n",
    ));
}

/// The shell step: a shell writes its PID into the cgroup (what cgexec does), then
/// execs `exec` (inside single quotes); `after` runs once it has ended.
fn join_then_exec(l: &Layout, pids: bool, exec: &str, after: &str) -> String {
    let procs: Vec<String> = l
        .procs_files_with("$UUID", pids)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    format!(
        "set +e\nsh -c 'for f in \"$@\"; do echo $$ > \"$f\"; done\nexec {exec}' sh {}\nstatus=$?\n{after}set -e\n",
        procs.join(" ")
    )
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
        }
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
        assert!(v2.contains("busybox\" --list"));
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
            "unshare -muinpf --cgroup",
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
