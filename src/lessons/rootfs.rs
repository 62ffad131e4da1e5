//! rootfs: `ROOTFS=$(mktemp -d)`, filled from the source; checked by reading its shell,
//! the shell's ELF interpreter and libraries as the kernel would find them with the
//! rootfs as `/` (nothing from the rootfs runs: see `check`).

use super::context::Context;
use super::fragment::{quote, Fragment, ScriptCtx, ROOTFS};
use super::judge;
use super::lesson::Lesson;
use super::task::{self, Setup, Task, Verdict};
use crate::error::Result;
use crate::rootfs::{docker, host, oci, tarball, Rootfs, Source};
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, lang, t, t_in, tf, Lang};

pub struct RootfsLesson;

/// The shell a rootfs must hold (the container's first program), as the kernel finds it.
pub const SHELL: &str = "/bin/sh";

/// Tarball `p` unpacked into rootfs `r` (as the shell names it), owners kept as numbers.
fn untar(p: &std::path::Path, r: &str) -> String {
    let opts = tarball::compression(p)
        .map(|c| c.tar_flag())
        .unwrap_or("-xf");
    format!(
        "tar {opts} {} -C {r} --numeric-owner",
        quote(&p.display().to_string())
    )
}

/// The host's busybox `bb` copied into rootfs `r`, with a link for each of its commands.
fn busybox(bb: &std::path::Path, r: &str) -> String {
    format!(
        "cp {} {r}/bin/busybox\nfor a in $({r}/bin/busybox --list); do\n  [ \"$a\" = busybox ] || ln {r}/bin/busybox {r}/bin/\"$a\"\ndone",
        quote(&bb.display().to_string())
    )
}

impl RootfsLesson {
    /// The shell equivalent of the plain rootfs (without `--overlay`).
    fn shell_plain(&self, st: &Context) -> String {
        let article = format!(
            "# {}\n#   CID=$(docker container create bash)\n#   docker container export $CID | tar -x -C $ROOTFS\n#   ln -s /usr/local/bin/bash $ROOTFS/bin/bash\n#   docker container rm $CID",
            t("rootfs.sh_article")
        );
        match &st.opts.source {
            Source::Dir(p) => format!("ROOTFS={}\n{article}", p.display()),
            Source::Tar(p) => {
                format!(
                    "ROOTFS=$(mktemp -d)\n{}    # {}",
                    untar(p, "$ROOTFS"),
                    t("rootfs.sh_tar")
                )
            }
            Source::Docker(img) => format!(
                "ROOTFS=$(mktemp -d)\nCID=$(docker container create {img})    # {}\ndocker container export $CID | tar -x -C $ROOTFS\nln -s /usr/local/bin/bash $ROOTFS/bin/bash    # {}\ndocker container rm $CID",
                tf("rootfs.sh_create", &[("cmd", &docker::CREATE_CMD)]),
                t("rootfs.sh_bash_link")
            ),
            Source::Oci(r) => oci_shell(r),
            Source::Host => match host::find_busybox() {
                Some(bb) => format!(
                    "ROOTFS=$(mktemp -d)\nmkdir -p $ROOTFS/bin $ROOTFS/proc $ROOTFS/dev $ROOTFS/etc $ROOTFS/tmp\n{}\n{article}",
                    busybox(&bb, "$ROOTFS")
                ),
                None => format!(
                    "ROOTFS=$(mktemp -d)\nmkdir -p $ROOTFS/bin $ROOTFS/proc $ROOTFS/dev $ROOTFS/etc $ROOTFS/tmp\ncp -L /bin/sh $ROOTFS/bin/sh\nldd /bin/sh    # {}\n# {}\n{article}",
                    t("rootfs.sh_ldd"),
                    t("rootfs.sh_tools")
                ),
            },
        }
    }
}

impl Lesson for RootfsLesson {
    fn id(&self) -> &'static str {
        "rootfs"
    }

    fn shell(&self, st: &Context) -> String {
        let plain = self.shell_plain(st);
        if st.opts.overlay && !matches!(st.opts.source, Source::Dir(_)) {
            let cache = crate::rootfs::oci::Cache::path().join("layers");
            return format!(
                "{plain}\n# {}",
                tf("rootfs.sh_overlay", &[("dir", &cache.display())])
            );
        }
        plain
    }

    /// A rootfs of the script's own (in `$OWNED`, removed at the end) or the `dir:`
    /// given, then the mount points the later lessons need, made from the host so that
    /// the clean-up knows what was added. Nothing of the image runs before it is
    /// confined: a `chroot "$ROOTFS" /bin/sh` here would run the image's code as the
    /// host's root with every capability, so the script only looks.
    fn script(&self, sc: &ScriptCtx) -> Vec<Fragment> {
        let made = "ROOTFS=$(mktemp -d -t hako.XXXXXX)\nOWNED=1\nsay \"created $ROOTFS\"\n";
        let mut s = String::new();
        let mut notes = vec![];
        match sc.source {
            Source::Dir(p) => {
                s.push_str(&format!("ROOTFS={}\n", quote(&p.display().to_string())));
                s.push_str(&format!(
                    "[ -x \"$ROOTFS/bin/sh\" ] || {{ say {}; exit 1; }}\n",
                    quote(&tf("script.no_sh", &[("root", &p.display())]))
                ));
            }
            Source::Tar(p) => {
                s.push_str(made);
                s.push_str(&format!("{}\n", untar(p, ROOTFS)));
            }
            Source::Docker(img) => {
                s.push_str(made);
                s.push_str(&format!(
                    "CID=$(docker container create {img} {cmd})\ndocker container export \"$CID\" | tar -x -C \"$ROOTFS\"\ndocker container rm \"$CID\" >/dev/null\n[ -e \"$ROOTFS/bin/bash\" ] || [ ! -e \"$ROOTFS/usr/local/bin/bash\" ] || ln -s /usr/local/bin/bash \"$ROOTFS/bin/bash\"\n",
                    img = quote(img),
                    cmd = docker::CREATE_CMD,
                ));
            }
            // hako script refuses oci: before it writes anything.
            Source::Oci(_) => {}
            Source::Host => {
                s.push_str(made);
                s.push_str("mkdir -p \"$ROOTFS/bin\" \"$ROOTFS/etc\" \"$ROOTFS/root\" \"$ROOTFS/tmp\"\nchmod 1777 \"$ROOTFS/tmp\"\n");
                s.push_str("echo 'root:x:0:0:root:/root:/bin/sh' > \"$ROOTFS/etc/passwd\"\necho 'root:x:0:' > \"$ROOTFS/etc/group\"\n");
                match sc.busybox {
                    Some(bb) => s.push_str(&format!("{}\n", busybox(bb, ROOTFS))),
                    None => {
                        let found: Vec<&str> = host::TOOLS
                            .iter()
                            .copied()
                            .filter(|t| host::which(t).is_some())
                            .collect();
                        notes.push((s, t("rootfs.sh_ldd")));
                        s = format!(
                            "copy_program() {{\n  cp -L \"$1\" \"$ROOTFS/bin/$2\"\n  for lib in $(ldd \"$1\" 2>/dev/null | grep -o '/[^ ]*'); do\n    [ -e \"$ROOTFS$lib\" ] || cp --parents -L \"$lib\" \"$ROOTFS\"\n  done\n}}\ncopy_program \"$(type -P sh)\" sh\nfor t in {}; do\n  p=$(type -P \"$t\" || true)\n  [ -z \"$p\" ] || copy_program \"$p\" \"$t\"\ndone\n",
                            found.join(" ")
                        );
                    }
                }
            }
        }
        s.push_str("[ -e \"$ROOTFS/bin/sh\" ] || [ -L \"$ROOTFS/bin/sh\" ] || { say \"walk.sh: there is no /bin/sh in $ROOTFS\"; exit 1; }");
        let mut out = vec![];
        for (before, note) in notes {
            out.push(Fragment::Host(before.trim_end().to_string()));
            out.push(Fragment::Note(note.to_string()));
        }
        out.push(Fragment::Host(s));
        out.push(Fragment::Note(t("script.points").to_string()));
        out.push(Fragment::Host(
            r#"for d in proc dev dev/pts; do
  [ -e "$ROOTFS/$d" ] || { mkdir "$ROOTFS/$d"; added "$ROOTFS/$d"; }
done
[ -e "$ROOTFS/dev/null" ] || { : > "$ROOTFS/dev/null"; added "$ROOTFS/dev/null"; }
[ -e "$ROOTFS/dev/ptmx" ] || [ -L "$ROOTFS/dev/ptmx" ] || { ln -s pts/ptmx "$ROOTFS/dev/ptmx"; added "$ROOTFS/dev/ptmx"; }"#
                .to_string(),
        ));
        out
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let mut did = vec![];
        if st.opts.overlay && !matches!(st.opts.source, Source::Dir(_)) {
            return layered(st);
        }
        match st.opts.source.clone() {
            Source::Dir(p) => {
                did.push(tf("rootfs.did_dir", &[("path", &p.display())]));
                st.journal.identify(&p)?;
                st.rootfs = Some(Rootfs {
                    id: crate::sys::tree::id_of(&p),
                    path: p,
                    owned: false,
                    added: Default::default(),
                    shell: SHELL.into(),
                    overlay: None,
                });
            }
            source => {
                // Named in advance and recorded in the journal before it exists; set as
                // the rootfs before it is filled, so that a failure half-way still has
                // the partial rootfs removed by the walk's cleanup.
                let path = crate::rootfs::temp_path(&st.uuid);
                st.record(crate::journal::Item::Rootfs {
                    path: path.clone(),
                    kept: false,
                })?;
                crate::rootfs::create_temp(&path)?;
                st.journal.identify(&path)?;
                did.push(tf("rootfs.did_mktemp", &[("path", &path.display())]));
                st.rootfs = Some(Rootfs {
                    id: crate::sys::tree::id_of(&path),
                    path: path.clone(),
                    owned: true,
                    added: Default::default(),
                    shell: SHELL.into(),
                    overlay: None,
                });
                match source {
                    Source::Host => match host::build(&path)? {
                        host::Built::Busybox { from, applets } => did.push(tf(
                            "rootfs.did_busybox",
                            &[("from", &from.display()), ("n", &applets)],
                        )),
                        host::Built::Elf { tools, libraries } => did.push(tf(
                            "rootfs.did_elf",
                            &[("tools", &tools.join(" ")), ("libs", &libraries.join(" "))],
                        )),
                    },
                    Source::Tar(p) => did.extend(tarball::fill(&path, &p)?),
                    Source::Docker(img) => {
                        let name = format!("hako-{}", &st.uuid[..8]);
                        let item = crate::journal::Item::Container {
                            name: name.clone(),
                            socket: docker::socket()?,
                        };
                        st.record(item.clone())?;
                        let r = docker::fill(&path, &img, &name);
                        // fill removes the container on every path it returns by.
                        st.journal.done(&item);
                        did.extend(r?);
                    }
                    Source::Oci(r) => {
                        did.push(t("rootfs.trust").to_string());
                        did.extend(oci::fill(&path, &r, st.opts.insecure)?);
                    }
                    Source::Dir(_) => unreachable!("handled above"),
                }
                if !matches!(st.opts.source, Source::Host) {
                    if let Some(line) = bash_link(&path)? {
                        did.push(line);
                    }
                }
            }
        }
        Ok(did)
    }

    fn check(&self, st: &mut Context) -> Check {
        if let Some(o) = st.rootfs.as_ref().and_then(|r| r.overlay.as_ref()) {
            // The layers are there, each a directory of the cache; the shell is looked
            // for in the merged tree by the overlay lesson, once it is mounted.
            let mut c = Check::new(t("rootfs.hint"));
            let n = o.layers.len();
            for (i, l) in o.layers.iter().enumerate() {
                let there = crate::sys::tree::open_dir_nofollow(&l.path).is_ok();
                c.row(
                    tf("rootfs.row_layer", &[("i", &(i + 1)), ("n", &n)]),
                    crate::ui::sanitize::clean_path(&l.path),
                    t("rootfs.layer_cached"),
                    there,
                );
            }
            if n == 0 {
                c.row(t("rootfs.row_dir"), "-", t("rootfs.none"), false);
            }
            return c;
        }
        evidence(
            st.rootfs
                .as_ref()
                .map(|r| (r.path.as_path(), r.shell.as_str())),
        )
    }

    fn task(&self) -> Option<&dyn Task> {
        Some(self)
    }
}

/// The evidence: the rootfs's shell (`(rootfs, shell)`) found as the kernel would find
/// it with the rootfs as `/`, runnable on this machine, its libraries inside.
pub fn evidence(rootfs: Option<(&std::path::Path, &str)>) -> Check {
    let mut c = Check::new(t("rootfs.hint"));
    let Some((path, shell)) = rootfs else {
        c.row(t("rootfs.row_dir"), "-", t("rootfs.none"), false);
        return c;
    };
    let found = host::inside_to_host(path, shell);
    c.row(
        tf("rootfs.row_shell", &[("shell", &shell)]),
        found
            .as_ref()
            .map(|p| crate::ui::sanitize::clean_path(p))
            .unwrap_or_else(|| t("rootfs.missing").to_string()),
        t("rootfs.inside"),
        found.is_some(),
    );
    if found.is_none() {
        c.hint = tf("rootfs.hint_no_sh", &[("root", &path.display())]);
        return c;
    }
    // Nothing from the rootfs runs here: its programs are the image's, and until the
    // later lessons confine them they would run with every capability of the host's
    // root (a hostile /bin/sh could write through /proc/1/root). The check reads what
    // execve(2) and the loader would read instead, each file opened through
    // openat2(RESOLVE_IN_ROOT), as they would find it chrooted.
    // Why not run it unprivileged instead (a user namespace mapping 0 to an id no one
    // has, no capabilities, no_new_privs, new namespaces)? That proves a little more
    // (the kernel itself loads the interpreter), but it still runs the image's code,
    // and the mapped id must be able to reach the rootfs, which a `dir:` rootfs (its
    // modes are its owner's) may not allow. Reading the headers cannot be made to
    // run anything, and is the same for every source.
    let found = match host::inspect(path, shell) {
        Ok(i) => i,
        Err(e) => {
            c.row(t("rootfs.row_deps"), e.msg, t("rootfs.deps_inside"), false);
            return c;
        }
    };
    let want = tf(
        "rootfs.exec_want",
        &[(
            "arch",
            &host::host_machine()
                .map(|m| goblin::elf::header::machine_to_str(m).trim_start_matches("EM_"))
                .unwrap_or("?")
                .to_lowercase(),
        )],
    );
    c.row(
        tf("rootfs.row_exec", &[("shell", &shell)]),
        found.seen.clone(),
        want,
        found.runs,
    );
    if !found.runs {
        return c;
    }
    let deps = &found.deps;
    let missing: Vec<&str> = deps
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n.as_str())
        .collect();
    let seen = if deps.is_empty() {
        t("rootfs.static").to_string()
    } else {
        deps.iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    c.row(
        t("rootfs.row_deps"),
        seen,
        if missing.is_empty() {
            t("rootfs.deps_inside").to_string()
        } else {
            tf("rootfs.deps_missing", &[("list", &missing.join(" "))])
        },
        missing.is_empty(),
    );
    c
}

/// The article's `ln -s /usr/local/bin/bash $ROOTFS/bin/bash`: the `bash` image keeps
/// bash in /usr/local/bin, and `capsh --` runs /bin/bash. Added only when the image has
/// /usr/local/bin/bash and no /bin/bash; the path is resolved inside the rootfs.
pub fn bash_link(root: &std::path::Path) -> Result<Option<String>> {
    if host::inside_to_host(root, "/usr/local/bin/bash").is_none()
        || host::inside_to_host(root, "/bin/bash").is_some()
    {
        return Ok(None);
    }
    // /bin as the image resolves it, opened as a directory inside the rootfs
    // (openat2 RESOLVE_IN_ROOT): the link is made there by descriptor, never through a
    // path the image could point at the host.
    use crate::sys::at::DirFd;
    let Ok(bin) = DirFd::open(root).and_then(|r| r.dir_in_root("/bin")) else {
        return Ok(None);
    };
    let fail = |e| {
        crate::sys::failure(
            &tf(
                "do.symlink",
                &[(
                    "path",
                    &crate::ui::sanitize::clean_path(&root.join("bin/bash")),
                )],
            ),
            e,
        )
    };
    match bin.unlink("bash") {
        Ok(()) | Err(crate::sys::Errno::ENOENT) => {}
        Err(e) => return Err(fail(e)),
    }
    bin.symlink("/usr/local/bin/bash", "bash").map_err(fail)?;
    Ok(Some(t("rootfs.did_bash_link").to_string()))
}

/// What an `oci:` pull does, by hand with curl (the distribution API).
fn oci_shell(r: &oci::Reference) -> String {
    let host = r.api_host();
    let scheme = if r.is_loopback() { "http" } else { "https" };
    let repo = &r.repo;
    let token = if r.registry == oci::DOCKER_HUB {
        format!(
            "TOKEN=$(curl -s 'https://auth.docker.io/token?service=registry.docker.io&scope=repository:{repo}:pull' | jq -r .token)\n"
        )
    } else {
        format!("# {}\n", t("rootfs.sh_oci_token"))
    };
    format!(
        "ROOTFS=$(mktemp -d)\n# {}\n{token}curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' \\\n  {scheme}://{host}/v2/{repo}/manifests/{}\n# {}\nfor DIGEST in $LAYERS; do\n  curl -sL -H \"Authorization: Bearer $TOKEN\" {scheme}://{host}/v2/{repo}/blobs/$DIGEST | tar -xz -C $ROOTFS\ndone    # {}",
        t("rootfs.sh_oci"),
        r.reference(),
        t("rootfs.sh_oci_pick"),
        t("rootfs.sh_oci_layers")
    )
}

/// What the learner types: the image unpacked into the empty directory, as the article
/// unpacks `docker export` (GNU tar finds the compression itself); with `--overlay`,
/// into `$LAYER`, the overlay's lower directory.
pub fn unpack(s: &Setup) -> String {
    let into = if s.overlay {
        s.layer()
    } else {
        s.rootfs.clone()
    };
    format!(
        "tar -xf {} -C {}",
        judge::shown(&s.image),
        judge::shown(&into)
    )
}

impl Task for RootfsLesson {
    fn id(&self) -> &'static str {
        "rootfs"
    }
    fn inside(&self) -> bool {
        false
    }
    /// With `--overlay`, the image goes into `$LAYER` (`rootfs.layer.goal`).
    fn goal(&self, s: &Setup) -> String {
        task::goal(lang(), if s.overlay { LAYER_ID } else { "rootfs" }, s)
    }
    fn hints(&self, s: &Setup) -> [String; 3] {
        let id = if s.overlay { LAYER_ID } else { "rootfs" };
        task::ladder(lang(), id, s, &self.solve(s))
    }
    fn solve(&self, s: &Setup) -> Vec<String> {
        vec![unpack(s)]
    }
    fn judge(&self, s: &Setup) -> Verdict {
        if s.overlay {
            judged_layer(lang(), s)
        } else {
            judged(lang(), s)
        }
    }
}

/// The catalog prefix of the rootfs task's goal, hints and passed line under
/// `--overlay` (the image into `$LAYER`).
const LAYER_ID: &str = "rootfs.layer";

/// The judge under `--overlay`: the image's tree in `$LAYER`, its shell resolvable in
/// it. A known wrong way: the image unpacked straight into `$ROOTFS`, where the overlay
/// is to be mounted.
fn judged_layer(l: Lang, s: &Setup) -> Verdict {
    let layer = s.layer();
    let c = evidence(Some((&layer, SHELL)));
    let wrong = if c.passed() {
        None
    } else {
        wrong_unpacked(l, s)
    };
    judge::verdict(l, LAYER_ID, c, wrong)
}

/// With `--overlay`, the known wrong way "the image unpacked straight into `$ROOTFS`":
/// no overlay mounted there, and the image's shell in `$ROOTFS` itself (the sentence
/// asks for `$LAYER` too only while `$LAYER` lacks it).
pub fn wrong_unpacked(l: Lang, s: &Setup) -> Option<String> {
    if crate::sys::overlay::mounted_at(&s.rootfs).is_some()
        || host::inside_to_host(&s.rootfs, SHELL).is_none()
    {
        return None;
    }
    let key = if host::inside_to_host(&s.layer(), SHELL).is_some() {
        "overlay.wrong_unpacked_too"
    } else {
        "overlay.wrong_unpacked"
    };
    Some(fill(
        t_in(l, key),
        &[
            ("rootfs", &s.rootfs.display()),
            ("layer", &s.layer().display()),
        ],
    ))
}

/// The judge, in language `l`. A known wrong way: the image unpacked one level too deep
/// (`$ROOTFS/NAME/bin/sh`, from `-C` given a subdirectory or a tarball of a directory).
fn judged(l: Lang, s: &Setup) -> Verdict {
    let c = evidence(Some((&s.rootfs, SHELL)));
    let mut wrong = None;
    if host::inside_to_host(&s.rootfs, SHELL).is_none() {
        let names = crate::sys::files::names(&s.rootfs).unwrap_or_default();
        if let [one] = names.as_slice() {
            let sub = s.rootfs.join(one);
            if host::inside_to_host(&sub, SHELL).is_some() {
                wrong = Some(fill(
                    t_in(l, "rootfs.wrong_nested"),
                    &[
                        ("sub", &crate::ui::sanitize::clean_path(&sub)),
                        ("rootfs", &s.rootfs.display()),
                    ],
                ));
            }
        }
    }
    judge::verdict(l, "rootfs", c, wrong)
}

/// `--overlay`: the run's directory (made and journaled as the temp rootfs is), then
/// each layer of the source unpacked once into the layer cache, or found there. The
/// overlay lesson mounts them.
fn layered(st: &mut Context) -> Result<Vec<String>> {
    use crate::rootfs::layers::{self, Layers, RunOverlay};
    let mut did = vec![];
    let dir = crate::rootfs::temp_path(&st.uuid);
    st.record(crate::journal::Item::Rootfs {
        path: dir.clone(),
        kept: false,
    })?;
    crate::rootfs::create_temp(&dir)?;
    st.journal.identify(&dir)?;
    did.push(tf("rootfs.did_mktemp", &[("path", &dir.display())]));
    let plan = RunOverlay {
        dir: dir.clone(),
        layers: vec![],
        idmapped: false,
    };
    st.rootfs = Some(Rootfs {
        id: crate::sys::tree::id_of(&dir),
        path: plan.plan().root,
        owned: true,
        added: Default::default(),
        shell: SHELL.into(),
        overlay: Some(plan),
    });
    let cache = Layers::locate()?;
    let hash_failed = |path: &std::path::Path, e: std::io::Error| {
        crate::error::Error::failed(tf(
            "err.layers",
            &[
                ("dir", &crate::ui::sanitize::clean_path(path)),
                ("why", &e.to_string()),
            ],
        ))
    };
    let got: Vec<layers::Layer> = match st.opts.source.clone() {
        Source::Host => {
            let (layer, built) = cache.adopt(host::build, |tmp| {
                layers::tree_digest(tmp).map_err(|e| hash_failed(tmp, e))
            })?;
            did.push(match built {
                host::Built::Busybox { from, applets } => tf(
                    "rootfs.did_busybox",
                    &[("from", &from.display()), ("n", &applets)],
                ),
                host::Built::Elf { tools, libraries } => tf(
                    "rootfs.did_elf",
                    &[("tools", &tools.join(" ")), ("libs", &libraries.join(" "))],
                ),
            });
            vec![layer]
        }
        Source::Tar(p) => {
            let key = layers::file_digest(&p).map_err(|e| hash_failed(&p, e))?;
            let (layer, said) = cache.ensure(&key, |tmp| tarball::fill_layer(tmp, &p))?;
            did.extend(said);
            vec![layer]
        }
        Source::Docker(img) => {
            let name = format!("hako-{}", &st.uuid[..8]);
            let item = crate::journal::Item::Container {
                name: name.clone(),
                socket: docker::socket()?,
            };
            st.record(item.clone())?;
            let fill = |tmp: &std::path::Path| docker::fill(tmp, &img, &name);
            let id = || docker::image_id(&img).and_then(|i| oci::Digest::parse(&i).ok());
            let r = match id() {
                Some(key) => cache.ensure(&key, fill),
                None => cache.adopt(fill, |_| {
                    id().ok_or_else(|| {
                        crate::error::Error::failed(tf(
                            "err.docker_no_image",
                            &[("image", &img), ("why", &"no image ID")],
                        ))
                    })
                }),
            };
            // fill removes the container on every path it returns by.
            st.journal.done(&item);
            let (layer, said) = r?;
            did.extend(said);
            vec![layer]
        }
        Source::Oci(r) => {
            did.push(t("rootfs.trust").to_string());
            let (got, said) = layers::oci_layers(&cache, &r, st.opts.insecure)?;
            did.extend(said);
            got
        }
        Source::Dir(_) => unreachable!("a dir: rootfs gets no overlay"),
    };
    for (i, l) in got.iter().enumerate() {
        did.push(tf(
            if l.fresh {
                "rootfs.did_layer_fresh"
            } else {
                "rootfs.did_layer_cached"
            },
            &[
                ("i", &(i + 1)),
                ("n", &got.len()),
                ("key", &l.key.short()),
                ("path", &crate::ui::sanitize::clean_path(&l.path)),
            ],
        ));
    }
    if let Some(o) = st.rootfs.as_mut().and_then(|r| r.overlay.as_mut()) {
        o.layers = got;
    }
    Ok(did)
}
