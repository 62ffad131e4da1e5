//! overlay (optional, `--overlay`): the rootfs as an overlay mount of the cached layers
//! (`lowerdir`, top layer first) with an upper and a work directory of this run's own.
//! Checked from the host: the mount's options in mountinfo, the shell in the merged
//! tree, a file written through it landing in the upper directory only, every lower
//! layer unchanged, and a whiteout hiding a lower file (in a scratch overlay on the same
//! layers). Shown with two overlays of the same layers at once.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx};
use super::judge;
use super::lesson::Lesson;
use super::task::{Setup, Task, Verdict};
use crate::error::Result;
use crate::journal::Item;
use crate::rootfs::layers::{self, Fingerprint, Mounted};
use crate::rootfs::Source;
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, lang, t, t_in, tf, Lang};
use crate::ui::sanitize::clean_path;

pub struct Overlay;

/// The lower layers as they were before the mount (compared in the check).
#[derive(Default)]
struct Before(Vec<Option<Fingerprint>>);

/// The overlay of this run, as planned from its rootfs (None: no overlay, `dir:`).
fn planned(st: &Context) -> Option<Mounted> {
    let r = st.rootfs.as_ref()?;
    let o = r.overlay.as_ref()?;
    let mut m = o.plan();
    m.options = crate::sys::overlay::options(&m.lowers, &m.upper, &m.work).unwrap_or_default();
    Some(m)
}

/// The cached layers of this run, top first (what must never change).
fn cached(st: &Context) -> Vec<std::path::PathBuf> {
    st.rootfs
        .as_ref()
        .and_then(|r| r.overlay.as_ref())
        .map(|o| o.cached())
        .unwrap_or_default()
}

/// The commands, for an overlay in `dir` on `lower` (`lowerdir=`'s text).
fn commands(dir: &str, lower: &str) -> String {
    format!(
        "mkdir -p {dir}/upper {dir}/work {dir}/root\nmount -t overlay overlay -o lowerdir={lower},upperdir={dir}/upper,workdir={dir}/work {dir}/root\nROOTFS={dir}/root    # {}\ngrep \" $ROOTFS \" /proc/self/mountinfo    # {}",
        t("overlay.sh_rootfs"),
        t("overlay.sh_mountinfo")
    )
}

impl Lesson for Overlay {
    fn id(&self) -> &'static str {
        "overlay"
    }

    fn shell(&self, st: &Context) -> String {
        if let Source::Dir(p) = &st.opts.source {
            return format!("# {}", tf("overlay.sh_dir", &[("path", &p.display())]));
        }
        let Some(m) = planned(st).filter(|m| !m.lowers.is_empty()) else {
            return commands("$DIR", "$LAYER_N:…:$LAYER_1");
        };
        let dir = m.dir.display().to_string();
        if !st.opts.harden {
            let lower: Vec<String> = m.lowers.iter().map(|l| l.display().to_string()).collect();
            return commands(&dir, &lower.join(":"));
        }
        // --harden: each cached layer first mounted idmapped at $DIR/lower-N (as mount(8)
        // writes it from util-linux 2.39), and those are the lower directories.
        let cached = cached(st);
        let n = cached.len();
        let mut s = format!(
            "# {}
",
            t("overlay.sh_idmap")
        );
        for (i, l) in cached.iter().rev().enumerate() {
            s.push_str(&format!(
                "mkdir {dir}/lower-{i}\nmount --bind -o X-mount.idmap=0:{o}:{c} {} {dir}/lower-{i}\n",
                l.display(),
                o = crate::sys::harden::MAP_OUTSIDE,
                c = crate::sys::harden::MAP_COUNT,
            ));
        }
        s.push_str(&format!(
            "install -d -o {o} -g {o} {dir}/upper    # {}\n",
            t("overlay.sh_upper_owner"),
            o = crate::sys::harden::MAP_OUTSIDE
        ));
        let lower: Vec<String> = (0..n).rev().map(|i| format!("{dir}/lower-{i}")).collect();
        s.push_str(&commands(&dir, &lower.join(":")));
        s
    }

    /// The tree the rootfs step unpacked becomes the one lower layer; its whiteouts, if
    /// it has any (an image layer's), are turned into overlayfs's form first.
    fn script(&self, sc: &ScriptCtx) -> Vec<Fragment> {
        if !sc.overlay {
            return vec![];
        }
        if let Source::Dir(p) = sc.source {
            return vec![Fragment::Note(tf(
                "overlay.sh_dir",
                &[("path", &p.display())],
            ))];
        }
        let mut out = vec![];
        if sc.harden {
            out.push(Fragment::Note(t("overlay.script_harden").to_string()));
        }
        out.extend([
            Fragment::Note(t("overlay.script_whiteouts").to_string()),
            Fragment::Host(
                r#"LOWER=$ROOTFS
find "$LOWER" -xdev -name '.wh..wh..opq' -type f | while read -r f; do
  setfattr -n trusted.overlay.opaque -v y "$(dirname "$f")" && rm "$f"
done
find "$LOWER" -xdev -name '.wh.*' -type f | while read -r f; do
  n=$(basename "$f"); mknod "$(dirname "$f")/${n#.wh.}" c 0 0 && rm "$f"
done
OVL=$(mktemp -d -t hako-ovl.XXXXXX)
mkdir "$OVL/upper" "$OVL/work" "$OVL/root"
mount -t overlay overlay -o lowerdir="$LOWER",upperdir="$OVL/upper",workdir="$OVL/work" "$OVL/root"
ROOTFS=$OVL/root
grep " $ROOTFS " /proc/self/mountinfo >&2"#
                    .to_string(),
            ),
        ]);
        out
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        if let Source::Dir(p) = &st.opts.source {
            return Ok(vec![tf("overlay.did_dir", &[("path", &p.display())])]);
        }
        if planned(st).is_none() {
            return Err(crate::error::Error::failed(t("err.no_rootfs")));
        }
        // The cached layers as they are now, to compare in the check (not timed: this
        // reads every name, the mount itself does not).
        let before = cached(st)
            .iter()
            .map(|l| layers::fingerprint(l).ok())
            .collect();
        *st.scratch.get::<Before>() = Before(before);
        let mut did = vec![];
        if st.opts.harden {
            // The container's root is an unprivileged id on the host: each layer is
            // mounted idmapped so that it looks owned by that root, unchanged.
            let ns = crate::sys::harden::mapped_userns().map_err(|e| {
                crate::error::Error::failed(tf(
                    "err.overlay_idmap",
                    &[
                        ("path", &"/proc/PID/ns/user"),
                        ("why", &crate::sys::explain(e)),
                    ],
                ))
            })?;
            let journal = &mut st.journal;
            let Some(o) = st.rootfs.as_mut().and_then(|r| r.overlay.as_mut()) else {
                return Err(crate::error::Error::failed(t("err.no_rootfs")));
            };
            did.extend(o.idmap(&ns, crate::sys::harden::MAP_OUTSIDE, |p| {
                journal.add(Item::Overlay {
                    path: p.to_path_buf(),
                })
            })?);
        }
        let Some(plan) = planned(st) else {
            return Err(crate::error::Error::failed(t("err.no_rootfs")));
        };
        st.record(Item::Overlay {
            path: plan.root.clone(),
        })?;
        let t0 = std::time::Instant::now();
        let m = layers::mount(plan)?;
        let took = t0.elapsed();
        crate::bench::figure("overlay_mount_us", took.as_micros());
        did.extend(vec![
            tf(
                "overlay.did_mount",
                &[
                    ("n", &m.lowers.len()),
                    ("root", &clean_path(&m.root)),
                    ("ms", &format!("{:.2}", took.as_secs_f64() * 1000.0)),
                ],
            ),
            tf("overlay.did_upper", &[("upper", &clean_path(&m.upper))]),
        ]);
        if matches!(st.opts.source, Source::Docker(_) | Source::Oci(_)) {
            // Into the upper directory, through the merged tree: never into a layer.
            if let Some(line) = super::rootfs::bash_link(&m.root)? {
                did.push(line);
            }
        }
        if st.opts.keep {
            did.push(tf("overlay.did_keep", &[("upper", &clean_path(&m.upper))]));
        }
        Ok(did)
    }

    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("overlay.hint"));
        if let Source::Dir(p) = &st.opts.source {
            c.row(
                t("overlay.row_dir"),
                clean_path(p),
                t("overlay.dir_as_is"),
                true,
            );
            return c;
        }
        let Some(m) = planned(st) else {
            c.row(t("overlay.row_mount"), "-", t("err.no_rootfs"), false);
            return c;
        };
        // 1. The mount, as the kernel lists it.
        let seen = crate::sys::overlay::mounted_at(&m.root);
        let want = [
            format!(
                "lowerdir={}",
                m.lowers
                    .iter()
                    .map(|l| l.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":")
            ),
            format!("upperdir={}", m.upper.display()),
            format!("workdir={}", m.work.display()),
        ];
        let ok = seen
            .as_ref()
            .is_some_and(|o| want.iter().all(|w| o.split(',').any(|x| x == w)));
        c.row(
            tf("overlay.row_mount", &[("root", &clean_path(&m.root))]),
            seen.clone()
                .map(|o| crate::ui::sanitize::clean(&o).into_owned())
                .unwrap_or_else(|| t("overlay.not_mounted").to_string()),
            t("overlay.want_options"),
            ok,
        );
        if !ok {
            return c;
        }
        // 2. The shell, in the merged tree.
        if let Some(r) = st.rootfs.as_ref() {
            let shell = super::rootfs::evidence(Some((r.path.as_path(), r.shell.as_str())));
            if !shell.passed() {
                c.hint = shell.hint;
            }
            c.rows.extend(shell.rows);
        }
        // 3. A write through the merged tree lands in the upper directory only.
        let name = format!(".hako-overlay-{}", &st.uuid[..8]);
        match layers::write_through(&m, &name, &st.uuid) {
            Ok(w) => {
                let in_lowers = w.in_lowers.iter().filter(|x| **x).count();
                c.row(
                    tf("overlay.row_write", &[("name", &name)]),
                    tf(
                        "overlay.write_seen",
                        &[
                            ("merged", &yes(w.in_merged)),
                            ("upper", &yes(w.in_upper)),
                            ("lowers", &in_lowers),
                        ],
                    ),
                    t("overlay.write_want"),
                    w.in_merged && w.in_upper && in_lowers == 0,
                );
            }
            Err(e) => c.row(
                tf("overlay.row_write", &[("name", &name)]),
                e.to_string(),
                t("overlay.write_want"),
                false,
            ),
        }
        // 4. Every cached layer as it was before the mount.
        let before = std::mem::take(st.scratch.get::<Before>());
        let after: Vec<Option<Fingerprint>> = cached(st)
            .iter()
            .map(|l| layers::fingerprint(l).ok())
            .collect();
        let same = !after.is_empty()
            && before.0.len() == after.len()
            && before
                .0
                .iter()
                .zip(&after)
                .all(|(b, a)| b.is_some() && b == a);
        let names: usize = after.iter().flatten().map(|f| f.names).sum();
        c.row(
            tf("overlay.row_lowers", &[("n", &after.len())]),
            tf(
                if same {
                    "overlay.lowers_same"
                } else {
                    "overlay.lowers_changed"
                },
                &[("names", &names)],
            ),
            t("overlay.lowers_want"),
            same,
        );
        *st.scratch.get::<Before>() = before;
        // 5. A whiteout, in a scratch overlay of the same layers.
        whiteout_rows(st, &m, &mut c);
        // 6. Under --harden: the owners, shifted through the idmapped layers only.
        if m.lowers != cached(st) {
            owner_rows(st, &m, &mut c);
        }
        c
    }

    fn has_demo(&self) -> bool {
        true
    }

    fn task(&self) -> Option<&dyn Task> {
        Some(self)
    }

    /// Two overlays of the same cached layers mounted at once, each writing the same
    /// name: each reads back its own text, each upper holds only its own, the layers
    /// have neither.
    fn demo(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("overlay.demo_hint"));
        let Some(m) = planned(st) else {
            c.row(t("overlay.demo_row"), "-", t("overlay.row_dir"), false);
            return c;
        };
        let mut mounted = vec![];
        for name in ["demo-a", "demo-b"] {
            match mount_scratch(st, &m, name) {
                Ok(x) => mounted.push(x),
                Err(e) => {
                    c.row(t("overlay.demo_row"), e.msg, t("overlay.demo_want"), false);
                    break;
                }
            }
        }
        if mounted.len() == 2 {
            let file = "hako-demo.txt";
            let texts = ["written by container A\n", "written by container B\n"];
            let mut wrote = true;
            for (x, text) in mounted.iter().zip(texts) {
                wrote &= crate::sys::files::write_new(&x.root.join(file), text).is_ok();
            }
            for (i, (x, text)) in mounted.iter().zip(texts).enumerate() {
                let merged = crate::sys::files::read_text(&x.root.join(file));
                let upper = crate::sys::files::read_text(&x.upper.join(file));
                let in_lower = x
                    .lowers
                    .iter()
                    .any(|l| crate::sys::files::exists_nofollow(&l.join(file)));
                let who = if i == 0 { "A" } else { "B" };
                c.row(
                    tf(
                        "overlay.demo_reads",
                        &[("who", &who), ("path", &clean_path(&x.root.join(file)))],
                    ),
                    merged
                        .as_deref()
                        .map(|s| s.trim().to_string())
                        .unwrap_or_else(|| "-".into()),
                    text.trim(),
                    wrote && merged.as_deref() == Some(text),
                );
                c.row(
                    tf("overlay.demo_upper", &[("who", &who)]),
                    tf(
                        "overlay.demo_upper_seen",
                        &[
                            ("upper", &clean_path(&x.upper)),
                            ("own", &yes(upper.as_deref() == Some(text))),
                            ("lower", &yes(in_lower)),
                        ],
                    ),
                    t("overlay.demo_upper_want"),
                    upper.as_deref() == Some(text) && !in_lower,
                );
            }
        }
        for x in mounted {
            for l in layers::drop_scratch(&x) {
                c.row(t("overlay.demo_row"), l, t("overlay.demo_want"), false);
            }
            st.journal.done(&Item::Overlay { path: x.root });
        }
        c
    }
}

/// A file of the top layer, its owner in the cache and through the overlay: the cache
/// keeps the host's ids, the overlay shows them shifted into the container's range.
fn owner_rows(st: &Context, m: &Mounted, c: &mut Check) {
    let cached = cached(st);
    let rel = layers::lower_file(&cached);
    let (in_cache, merged) = match &rel {
        Some(rel) => (
            cached
                .iter()
                .find_map(|l| crate::sys::files::owner(&l.join(rel))),
            crate::sys::files::owner(&m.root.join(rel)),
        ),
        None => (None, None),
    };
    let shown = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |u| u.to_string());
    let outside = crate::sys::harden::MAP_OUTSIDE;
    c.row(
        tf(
            "overlay.row_owner",
            &[(
                "path",
                &rel.as_ref()
                    .map(|r| format!("/{}", clean_path(r)))
                    .unwrap_or_else(|| "-".into()),
            )],
        ),
        tf(
            "overlay.owner_seen",
            &[("cache", &shown(in_cache)), ("merged", &shown(merged))],
        ),
        tf("overlay.owner_want", &[("outside", &outside)]),
        matches!((in_cache, merged), (Some(a), Some(b)) if b == a + outside),
    );
}

fn yes(b: bool) -> String {
    t(if b { "overlay.yes" } else { "overlay.no" }).to_string()
}

/// Mounts a scratch overlay `name` in the run's directory on the same layers (journaled
/// before it is mounted).
fn mount_scratch(st: &mut Context, m: &Mounted, name: &str) -> Result<Mounted> {
    let x = layers::scratch(&m.dir, name, &m.lowers)?;
    st.record(Item::Overlay {
        path: x.root.clone(),
    })?;
    match layers::mount(x.clone()) {
        Ok(x) => Ok(x),
        Err(e) => {
            layers::drop_scratch(&x);
            st.journal.done(&Item::Overlay { path: x.root });
            Err(e)
        }
    }
}

/// A lower file removed through a scratch overlay of the same layers: the kernel writes
/// a whiteout (a character device 0/0) into that overlay's upper directory, the name
/// disappears from its merged tree, and the layer keeps the file.
fn whiteout_rows(st: &mut Context, m: &Mounted, c: &mut Check) {
    let Some(rel) = layers::lower_file(&m.lowers) else {
        c.row(
            tf("overlay.row_whiteout", &[("path", &"-")]),
            t("overlay.no_lower_file"),
            t("overlay.whiteout_want"),
            false,
        );
        return;
    };
    let shown = format!("/{}", clean_path(&rel));
    let x = match mount_scratch(st, m, "probe") {
        Ok(x) => x,
        Err(e) => {
            c.row(
                tf("overlay.row_whiteout", &[("path", &shown)]),
                e.msg,
                t("overlay.whiteout_want"),
                false,
            );
            return;
        }
    };
    let seen = layers::whiteout_through(&x, &rel);
    let left = layers::drop_scratch(&x);
    st.journal.done(&Item::Overlay {
        path: x.root.clone(),
    });
    match seen {
        Ok(w) => c.row(
            tf("overlay.row_whiteout", &[("path", &shown)]),
            tf(
                "overlay.whiteout_seen",
                &[
                    ("upper", &yes(w.whiteout_in_upper)),
                    ("hidden", &yes(w.hidden)),
                    ("lower", &yes(w.still_in_lower)),
                ],
            ),
            t("overlay.whiteout_want"),
            w.whiteout_in_upper && w.hidden && w.still_in_lower && left.is_empty(),
        ),
        Err(e) => c.row(
            tf("overlay.row_whiteout", &[("path", &shown)]),
            e.to_string(),
            t("overlay.whiteout_want"),
            false,
        ),
    }
    for l in left {
        c.row(
            tf("overlay.row_whiteout", &[("path", &shown)]),
            l,
            t("overlay.whiteout_want"),
            false,
        );
    }
}

impl Task for Overlay {
    fn id(&self) -> &'static str {
        "overlay"
    }
    fn inside(&self) -> bool {
        false
    }
    fn solve(&self, s: &Setup) -> Vec<String> {
        task_lines(s)
    }
    fn judge(&self, s: &Setup) -> Verdict {
        judged(lang(), s)
    }
}

/// What the learner types (`hako practice --overlay`): the upper and work directories
/// in `$OVL`, then `$LAYER` mounted read-only below the upper one, at `$ROOTFS`.
fn task_lines(s: &Setup) -> Vec<String> {
    let ovl = s.ovl();
    let (upper, work) = (ovl.join("upper"), ovl.join("work"));
    vec![
        format!("mkdir -p {} {}", judge::shown(&upper), judge::shown(&work)),
        format!(
            "mount -t overlay overlay -o {} {}",
            judge::shown(std::path::Path::new(&format!(
                "lowerdir={},upperdir={},workdir={}",
                s.layer().display(),
                upper.display(),
                work.display()
            ))),
            judge::shown(&s.rootfs)
        ),
    ]
}

/// One option's value in an overlay's super options (`lowerdir=…`), if it is there.
fn option<'a>(options: &'a str, name: &str) -> Option<&'a str> {
    options
        .split(',')
        .find_map(|o| o.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

/// What the kernel shows of an overlay's options, judged: the known wrong ways first
/// (`None`: nothing wrong seen in them), then whether they hold.
fn options_judged(l: Lang, s: &Setup, options: &str) -> (Option<String>, bool) {
    let layer = s.layer();
    let lower_ok = option(options, "lowerdir")
        .is_some_and(|v| v.split(':').any(|d| std::path::Path::new(d) == layer));
    let upper = option(options, "upperdir").is_some();
    if !upper {
        let line = fill(
            t_in(l, "overlay.wrong_no_upper"),
            &[("rootfs", &s.rootfs.display())],
        );
        return (Some(line), false);
    }
    (None, lower_ok)
}

/// The judge: the host's mount table has an overlay at `$ROOTFS` whose options name
/// `$LAYER` as a lower directory and an upper directory, and `/bin/sh` resolves
/// through it. Known wrong ways: an overlay with no upper directory (read-only), and
/// the image unpacked straight into `$ROOTFS` with no overlay there. The upper and work
/// directories made, no overlay mounted yet: under way.
fn judged(l: Lang, s: &Setup) -> Verdict {
    let mut c = Check::new(t_in(l, "overlay.hint"));
    let seen = crate::sys::overlay::mounted_at(&s.rootfs);
    let mounted = seen.is_some();
    let (wrong, ok) = match &seen {
        Some(o) => options_judged(l, s, o),
        None => (super::rootfs::wrong_unpacked(l, s), false),
    };
    c.row(
        fill(
            t_in(l, "overlay.row_mount"),
            &[("root", &clean_path(&s.rootfs))],
        ),
        seen.map(|o| crate::ui::sanitize::clean(&o).into_owned())
            .unwrap_or_else(|| t_in(l, "overlay.not_mounted").to_string()),
        fill(
            t_in(l, "overlay.want_task"),
            &[("layer", &clean_path(&s.layer()))],
        ),
        ok,
    );
    if ok {
        let shell = super::rootfs::evidence(Some((&s.rootfs, super::rootfs::SHELL)));
        if !shell.passed() {
            c.hint = shell.hint;
        }
        c.rows.extend(shell.rows);
    }
    let ovl = s.ovl();
    let made = ["upper", "work"]
        .iter()
        .all(|d| crate::sys::files::exists_nofollow(&ovl.join(d)));
    let half = (made && !mounted).then(|| {
        fill(
            t_in(l, "overlay.half_dirs"),
            &[("rootfs", &s.rootfs.display())],
        )
    });
    judge::verdict_or_halfway(l, "overlay", c, wrong, half)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Setup {
        let mut s = judge::tests::setup(false);
        s.rootfs = "/tmp/hako.0c0ffee01234/rootfs".into();
        s.image = "/tmp/hako.0c0ffee01234/image.tar".into();
        s.overlay = true;
        s
    }

    #[test]
    fn the_solve_lines_name_this_runs_directories() {
        let s = setup();
        assert_eq!(
            task_lines(&s),
            [
                "mkdir -p /tmp/hako.0c0ffee01234/ovl/upper /tmp/hako.0c0ffee01234/ovl/work",
                "mount -t overlay overlay -o lowerdir=/tmp/hako.0c0ffee01234/layer,upperdir=/tmp/hako.0c0ffee01234/ovl/upper,workdir=/tmp/hako.0c0ffee01234/ovl/work /tmp/hako.0c0ffee01234/rootfs",
            ]
        );
        assert_eq!(
            super::super::rootfs::unpack(&s),
            "tar -xf /tmp/hako.0c0ffee01234/image.tar -C /tmp/hako.0c0ffee01234/layer"
        );
        let mut plain = s.clone();
        plain.overlay = false;
        assert_eq!(
            super::super::rootfs::unpack(&plain),
            "tar -xf /tmp/hako.0c0ffee01234/image.tar -C /tmp/hako.0c0ffee01234/rootfs"
        );
    }

    #[test]
    fn an_overlay_without_an_upper_directory_is_a_known_mistake() {
        let s = setup();
        for l in [Lang::En, Lang::Ja] {
            let (wrong, ok) = options_judged(
                l,
                &s,
                "ro,lowerdir=/tmp/hako.0c0ffee01234/layer,redirect_dir=nofollow",
            );
            let wrong = wrong.expect("read-only overlay named");
            assert!(
                !ok && wrong.contains("/tmp/hako.0c0ffee01234/rootfs"),
                "{wrong}"
            );
            assert!(!wrong.contains('{'), "{wrong}");
        }
        let good = "rw,lowerdir=/tmp/hako.0c0ffee01234/layer/,upperdir=/tmp/hako.0c0ffee01234/ovl/upper,workdir=/tmp/hako.0c0ffee01234/ovl/work,uuid=on";
        assert_eq!(options_judged(Lang::En, &s, good), (None, true));
        let other = "rw,lowerdir=/srv/other,upperdir=/u,workdir=/w";
        assert_eq!(options_judged(Lang::En, &s, other), (None, false));
        assert_eq!(
            option(good, "workdir"),
            Some("/tmp/hako.0c0ffee01234/ovl/work")
        );
        assert_eq!(option(good, "upper"), None);
    }

    #[test]
    fn the_tasks_lines_are_in_both_catalogs() {
        let s = setup();
        for l in [Lang::En, Lang::Ja] {
            for key in [
                "overlay.goal",
                "overlay.hint_what",
                "overlay.hint_tool",
                "overlay.passed",
                "overlay.wrong_no_upper",
                "overlay.wrong_unpacked",
                "overlay.wrong_unpacked_too",
                "overlay.want_task",
                "overlay.half_dirs",
                "rootfs.layer.goal",
                "rootfs.layer.hint_what",
                "rootfs.layer.hint_tool",
                "rootfs.layer.passed",
            ] {
                assert_ne!(t_in(l, key), key, "{key} missing ({l:?})");
            }
            for id in ["overlay", "rootfs.layer"] {
                let g = super::super::task::goal(l, id, &s);
                assert!(!g.contains('{'), "{g}");
                for h in super::super::task::ladder(l, id, &s, &task_lines(&s)) {
                    assert!(!h.contains('{'), "{h}");
                }
            }
        }
    }
}
