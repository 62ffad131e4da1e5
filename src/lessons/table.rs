//! The lesson table: one line per lesson, in the order of the walk. Everything that
//! lists lessons is derived from it: the walk's order and its optional sets, the prose
//! (`lessons/<lang>/<id>.md`, embedded at build time), `hako list`, `--from`/`--to`/`show`'s
//! accepted ids, the step numbers of `hako script`, and the test that the book lists
//! every lesson.
//!
//! Adding a lesson: its module (`src/lessons/<id>.rs` and its `mod` line), its two prose
//! files, one line below, and its `<id>.*` strings in the ui catalogs.

use super::beyond;
use super::caps;
use super::cgroup;
use super::cgroupns;
use super::chroot;
use super::devnull;
use super::devpts;
use super::hostname;
use super::lesson::Lesson;
use super::limits;
use super::masks;
use super::namespaces;
use super::net;
use super::nonewprivs;
use super::overlay;
use super::pids;
use super::pivot_root;
use super::preflight;
use super::proc;
use super::rootfs;
use super::seccomp;
use super::shell;
use super::userns;
use crate::ui::i18n::{lang, Lang};

/// Which walks a lesson belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    /// The article's walk: always walked.
    Article,
    /// The confining lessons, walked with `--harden`.
    Harden,
    /// The pids limit, walked with `--pids` (or `--all`).
    Pids,
    /// The rootfs as an overlay of cached layers, walked with `--overlay`.
    Overlay,
    /// The network, walked with `--net` (or `--all`).
    Net,
}

impl Set {
    /// The option that adds this set to the walk (`None`: always walked).
    pub fn option(self) -> Option<&'static str> {
        match self {
            Set::Article => None,
            Set::Harden => Some("--harden"),
            Set::Pids => Some("--pids"),
            Set::Overlay => Some("--overlay"),
            Set::Net => Some("--net"),
        }
    }

    /// The optional sets a run asked for: `--harden`, `--pids`, `--overlay`, `--net`
    /// (`--all` asks for every one).
    pub fn on(harden: bool, pids: bool, overlay: bool, net: bool) -> Vec<Set> {
        [
            (harden, Set::Harden),
            (pids, Set::Pids),
            (overlay, Set::Overlay),
            (net, Set::Net),
        ]
        .into_iter()
        .filter_map(|(on, set)| on.then_some(set))
        .collect()
    }
}

/// One line of the table.
pub struct Entry {
    pub id: &'static str,
    pub set: Set,
    pub lesson: &'static dyn Lesson,
    en: &'static str,
    ja: &'static str,
}

impl Entry {
    /// The lesson's Markdown in language `l`.
    pub fn source(&self, l: Lang) -> &'static str {
        match l {
            Lang::Ja => self.ja,
            Lang::En => self.en,
        }
    }
}

macro_rules! table {
    ($($id:ident: $lesson:expr, $set:ident;)*) => {
        /// Every lesson, in the order of the walk with every option.
        pub static TABLE: &[Entry] = &[$(Entry {
            id: stringify!($id),
            set: Set::$set,
            lesson: &$lesson,
            en: include_str!(concat!("../../lessons/en/", stringify!($id), ".md")),
            ja: include_str!(concat!("../../lessons/ja/", stringify!($id), ".md")),
        }),*];
        /// Every lesson id, in the same order.
        pub const IDS: &[&str] = &[$(stringify!($id)),*];
    };
}

// The user namespace comes before every other namespace (they are then owned by it);
// the other confining lessons come after the chroot, seccomp last before the shell.
// The pids limit comes right after the memory and CPU limits: in place before any
// process joins the cgroup. The network comes right after the namespaces (its
// namespace exists from then on), before anything drops a capability.
table! {
    preflight: preflight::Preflight, Article;
    rootfs: rootfs::RootfsLesson, Article;
    overlay: overlay::Overlay, Overlay;
    cgroup: cgroup::CgroupLesson, Article;
    limits: limits::Limits, Article;
    pids: pids::Pids, Pids;
    userns: userns::Userns, Harden;
    namespaces: namespaces::Namespaces, Article;
    net: net::Net, Net;
    proc: proc::Proc, Article;
    devpts: devpts::Devpts, Article;
    devnull: devnull::Devnull, Article;
    hostname: hostname::Hostname, Article;
    chroot: chroot::Chroot, Article;
    pivot_root: pivot_root::PivotRoot, Harden;
    cgroupns: cgroupns::Cgroupns, Harden;
    masks: masks::Masks, Harden;
    caps: caps::Caps, Harden;
    nonewprivs: nonewprivs::NoNewPrivs, Harden;
    seccomp: seccomp::Seccomp, Harden;
    shell: shell::Shell, Article;
    beyond: beyond::Beyond, Article;
}

/// The line of lesson `id`.
pub fn entry(id: &str) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.id == id)
}

/// The lessons walked with the optional sets `on` (the article's are always walked).
pub fn walk_with(on: &[Set]) -> Vec<&'static dyn Lesson> {
    TABLE
        .iter()
        .filter(|e| e.set == Set::Article || on.contains(&e.set))
        .map(|e| e.lesson)
        .collect()
}

/// A lesson's prose: the title, the summary shown before every run, and the sections
/// (kernel, shell, what you will see, common mistakes) shown under "explain more".
#[derive(Debug, Clone)]
pub struct Prose {
    pub title: String,
    pub summary: String,
    pub sections: Vec<(String, String)>,
}

/// The fixed section headings, in order, per language.
pub fn headings(l: Lang) -> [&'static str; 4] {
    match l {
        Lang::En => [
            "What the kernel does",
            "The shell equivalent",
            "What you will see",
            "Common mistakes",
        ],
        Lang::Ja => [
            "カーネルがしていること",
            "シェルで書くと",
            "確かめること",
            "よくある間違い",
        ],
    }
}

pub fn parse_prose(src: &str) -> Prose {
    let mut title = String::new();
    let mut summary = String::new();
    let mut sections: Vec<(String, String)> = vec![];
    for line in src.lines() {
        if let Some(t) = line.strip_prefix("# ") {
            if title.is_empty() {
                title = t.trim().to_string();
                continue;
            }
        }
        if let Some(h) = line.strip_prefix("## ") {
            sections.push((h.trim().to_string(), String::new()));
            continue;
        }
        let body = match sections.last_mut() {
            Some((_, b)) => b,
            None => &mut summary,
        };
        body.push_str(line);
        body.push('\n');
    }
    let trim = |s: &mut String| *s = s.trim().to_string();
    trim(&mut summary);
    sections.iter_mut().for_each(|(_, b)| trim(b));
    Prose {
        title,
        summary,
        sections,
    }
}

/// Lesson `id`'s Markdown in language `l`.
pub fn source(id: &str, l: Lang) -> Option<&'static str> {
    entry(id).map(|e| e.source(l))
}

/// The prose of lesson `id` in the run's language.
pub fn prose(id: &str) -> Prose {
    parse_prose(source(id, lang()).unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The article's lessons that can be practised, in order, and where each is typed.
    const PRACTISED: [(&str, bool); 9] = [
        ("rootfs", false),
        ("cgroup", false),
        ("limits", false),
        ("namespaces", false),
        ("proc", true),
        ("devpts", true),
        ("devnull", true),
        ("hostname", true),
        ("chroot", true),
    ];

    #[test]
    fn every_article_stage_is_a_task() {
        for (id, inside) in PRACTISED {
            let e = entry(id).unwrap();
            let task = e
                .lesson
                .task()
                .unwrap_or_else(|| panic!("{id} has no task"));
            assert_eq!(task.id(), id);
            assert_eq!(task.inside(), inside, "{id}");
            for v2 in [false, true] {
                let s = crate::lessons::judge::tests::setup(v2);
                assert!(!task.solve(&s).is_empty(), "{id}");
                let h = task.hints(&s);
                assert_eq!(h[2], task.solve(&s).join("\n"));
                // The exact command names this run's values.
                let r = s.rootfs.display().to_string();
                assert!(
                    h[2].contains(&s.uuid) || h[2].contains(&r),
                    "{id}: {}",
                    h[2]
                );
                assert!(!task.goal(&s).is_empty());
            }
        }
    }

    #[test]
    fn every_line_names_its_own_lesson() {
        for e in TABLE {
            assert_eq!(e.id, e.lesson.id(), "the table's line for {}", e.id);
        }
        assert_eq!(IDS.len(), TABLE.len());
    }

    #[test]
    fn every_lesson_has_complete_prose_in_every_language() {
        for id in IDS {
            for l in Lang::ALL {
                let src = source(id, l).unwrap_or_else(|| panic!("no prose for {id}"));
                let p = parse_prose(src);
                let file = format!("lessons/{}/{id}.md", l.code());
                assert!(!p.title.is_empty(), "{file}: no '# ' title");
                assert!(!p.summary.is_empty(), "{file}: empty summary");
                let names: Vec<&str> = p.sections.iter().map(|(h, _)| h.as_str()).collect();
                assert_eq!(
                    names,
                    headings(l),
                    "{file}: sections must be exactly these, in order"
                );
                for (h, body) in &p.sections {
                    assert!(!body.is_empty(), "{file}: section '{h}' is empty");
                }
            }
        }
    }

    #[test]
    fn walk_follows_the_article_order() {
        let ids = |on: &[Set]| -> Vec<&str> { walk_with(on).iter().map(|l| l.id()).collect() };
        let article: Vec<&str> = TABLE
            .iter()
            .filter(|e| e.set == Set::Article)
            .map(|e| e.id)
            .collect();
        assert_eq!(ids(&[]), article);
        let all = ids(&Set::on(true, true, true, true));
        assert_eq!(all[..], IDS[..]);
        // The network right after the namespaces.
        let net = ids(&[Set::Net]);
        let at = |id: &str| net.iter().position(|i| *i == id).unwrap();
        assert_eq!(at("namespaces") + 1, at("net"));
        assert!(at("net") < at("chroot"));
        assert!(!ids(&[]).contains(&"net"));
        let hard = ids(&Set::on(true, false, false, false));
        // Every lesson but the three other optional ones (pids, overlay, net).
        assert!(!hard.contains(&"pids") && hard.len() + 3 == IDS.len());
        // The overlay right after the rootfs it mounts.
        let ov = ids(&[Set::Overlay]);
        let at = |id: &str| ov.iter().position(|i| *i == id).unwrap();
        assert_eq!(at("rootfs") + 1, at("overlay"));
        // The pids limit is set before any process joins the cgroup.
        let pids = ids(&Set::on(false, true, false, false));
        let at = |id: &str| pids.iter().position(|i| *i == id).unwrap();
        assert_eq!(at("limits") + 1, at("pids"));
        assert!(at("pids") < at("namespaces"));
        // The user namespace before every other namespace; seccomp last before the shell.
        let at = |id: &str| all.iter().position(|i| *i == id).unwrap();
        assert!(at("pids") < at("userns"));
        assert!(at("userns") < at("namespaces"));
        assert_eq!(at("seccomp") + 1, at("shell"));
        assert!(at("masks") < at("caps") && at("caps") < at("nonewprivs"));
    }

    #[test]
    fn prose_parser_splits_sections() {
        let p = parse_prose("# T\n\nsum\n\n## A\na\n## B\n\nb\n");
        assert_eq!(p.title, "T");
        assert_eq!(p.summary, "sum");
        assert_eq!(
            p.sections,
            vec![("A".into(), "a".into()), ("B".into(), "b".into())]
        );
    }
}
