//! The lesson contract, and the registry of lessons in the article's order.
//!
//! A lesson is an id, its prose (`lessons/<lang>/<id>.md`, embedded at build time),
//! a shell equivalent rendered with this run's values, `run`, and `check`, which reads
//! evidence back from the kernel. Each works on a [`Context`] (`context.rs`); a check
//! looks at the container through a [`view::View`] (`view.rs`).

pub mod beyond;
pub mod caps;
pub mod cgroup;
pub mod cgroupns;
pub mod chroot;
mod confine;
pub mod context;
pub mod devnull;
pub mod devpts;
pub mod hostname;
pub mod limits;
pub mod masks;
pub mod namespaces;
pub mod nonewprivs;
pub mod pids;
pub mod pivot_root;
pub mod preflight;
pub mod proc;
pub mod rootfs;
pub mod seccomp;
pub mod shell;
pub mod userns;
pub mod view;

use crate::error::Result;
use crate::ui::i18n::{lang, Lang};
pub use context::Context;

/// The evidence types live in `ui` (the renderer shows them); lessons fill them.
pub use crate::ui::evidence::{Check, Row};

pub trait Lesson: Sync {
    fn id(&self) -> &'static str;
    /// The equivalent shell commands, with this run's real values.
    fn shell(&self, st: &Context) -> String;
    /// Does the stage for real; returns what it did, one line each.
    fn run(&self, st: &mut Context) -> Result<Vec<String>>;
    /// Reads the result back from the kernel, from the host, through a
    /// [`view::View`] of the container (`/proc/PID/...`, the cgroup files, a probe in
    /// one of its namespaces): never from what `run` said it did, so that it holds
    /// whoever performed the stage.
    fn check(&self, st: &mut Context) -> Check;
    /// Whether the lesson has a demonstration that runs for real ("see it", `--demos`).
    fn has_demo(&self) -> bool {
        false
    }
    /// Runs the demonstration, after the check, and returns what the kernel showed.
    fn demo(&self, _st: &mut Context) -> Check {
        Check::default()
    }
}

/// The lessons only `--harden` runs (optional in `hako list`).
pub const HARDEN: [&str; 7] = [
    "userns",
    "pivot_root",
    "cgroupns",
    "masks",
    "caps",
    "nonewprivs",
    "seccomp",
];

/// The lesson only `--pids` (or `--all`) runs (optional in `hako list`).
pub const PIDS: &str = "pids";

/// The lessons the walk runs, in order: the article's, and with `harden` the confining
/// ones where they must happen. The user namespace comes before every other namespace
/// (they are then owned by it); the others come after the chroot, seccomp last. With
/// `pids`, the pids limit right after the memory and CPU limits: in place before any
/// process joins the cgroup.
pub fn walk_for(harden: bool, pids: bool) -> Vec<&'static dyn Lesson> {
    let all: Vec<&'static dyn Lesson> = vec![
        &preflight::Preflight,
        &rootfs::RootfsLesson,
        &cgroup::CgroupLesson,
        &limits::Limits,
        &pids::Pids,
        &userns::Userns,
        &namespaces::Namespaces,
        &proc::Proc,
        &devpts::Devpts,
        &devnull::Devnull,
        &hostname::Hostname,
        &chroot::Chroot,
        &pivot_root::PivotRoot,
        &cgroupns::Cgroupns,
        &masks::Masks,
        &caps::Caps,
        &nonewprivs::NoNewPrivs,
        &seccomp::Seccomp,
        &shell::Shell,
        &beyond::Beyond,
    ];
    all.into_iter()
        .filter(|l| harden || !HARDEN.contains(&l.id()))
        .filter(|l| pids || l.id() != PIDS)
        .collect()
}

/// The article's walk.
#[cfg(test)]
pub fn walk() -> Vec<&'static dyn Lesson> {
    walk_for(false, false)
}

/// The lesson ids in order, and their prose in both languages, from one list.
macro_rules! lesson_table {
    ($($id:literal),* $(,)?) => {
        /// Every lesson id, in the order of the walk with `--harden`.
        pub const IDS: &[&str] = &[$($id),*];
        /// (id, en, ja)
        const PROSE: &[(&str, &str, &str)] = &[
            $(($id,
               include_str!(concat!("../../lessons/en/", $id, ".md")),
               include_str!(concat!("../../lessons/ja/", $id, ".md")))),*
        ];
    };
}
lesson_table!(
    "preflight",
    "rootfs",
    "cgroup",
    "limits",
    "pids",
    "userns",
    "namespaces",
    "proc",
    "devpts",
    "devnull",
    "hostname",
    "chroot",
    "pivot_root",
    "cgroupns",
    "masks",
    "caps",
    "nonewprivs",
    "seccomp",
    "shell",
    "beyond",
);

/// A lesson's prose: the title, the summary shown before every run, and the sections
/// (kernel, shell, what you will see, common mistakes) shown under "explain more".
#[derive(Debug, Clone)]
pub struct Prose {
    pub title: String,
    pub summary: String,
    pub sections: Vec<(String, String)>,
}

/// The fixed section headings, in order, per language.
#[cfg(test)]
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

pub fn source(id: &str, l: Lang) -> Option<&'static str> {
    PROSE
        .iter()
        .find(|(i, _, _)| *i == id)
        .map(|(_, en, ja)| if l == Lang::Ja { *ja } else { *en })
}

/// The prose of lesson `id` in the run's language.
pub fn prose(id: &str) -> Prose {
    parse_prose(source(id, lang()).unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The book (book/src) lists every lesson in both languages, in order, and each
    /// chapter includes its lesson file instead of holding a copy.
    #[test]
    fn every_lesson_is_in_the_book() {
        let book = concat!(env!("CARGO_MANIFEST_DIR"), "/book/src");
        let summary = std::fs::read_to_string(format!("{book}/SUMMARY.md")).unwrap();
        for l in Lang::ALL {
            let mut at = 0;
            for id in IDS {
                let link = format!("]({}/{id}.md)", l.code());
                let pos = summary[at..].find(&link).unwrap_or_else(|| {
                    panic!("book/src/SUMMARY.md lacks {link} (or it is out of order)")
                });
                at += pos + link.len();
                let chapter = format!("{book}/{}/{id}.md", l.code());
                let text = std::fs::read_to_string(&chapter)
                    .unwrap_or_else(|_| panic!("{chapter} is missing"));
                assert_eq!(
                    text.trim(),
                    format!("{{{{#include ../../../lessons/{}/{id}.md}}}}", l.code()),
                    "{chapter} must include the lesson file, not copy it"
                );
            }
        }
    }

    #[test]
    fn walk_follows_the_article_order() {
        let ids: Vec<&str> = walk().iter().map(|l| l.id()).collect();
        let article: Vec<&str> = IDS
            .iter()
            .copied()
            .filter(|i| !HARDEN.contains(i) && *i != PIDS)
            .collect();
        assert_eq!(ids, article);
        let all: Vec<&str> = walk_for(true, true).iter().map(|l| l.id()).collect();
        assert_eq!(all[..], IDS[..]);
        let hard: Vec<&str> = walk_for(true, false).iter().map(|l| l.id()).collect();
        assert!(!hard.contains(&PIDS) && hard.len() + 1 == IDS.len());
        // The pids limit is set before any process joins the cgroup.
        let pids: Vec<&str> = walk_for(false, true).iter().map(|l| l.id()).collect();
        let at = |id: &str| pids.iter().position(|i| *i == id).unwrap();
        assert_eq!(at("limits") + 1, at("pids"));
        assert!(at("pids") < at("namespaces"));
        assert!(all.iter().position(|i| *i == "pids") < all.iter().position(|i| *i == "userns"));
        // The user namespace before every other namespace; seccomp last before the shell.
        let hard = all;
        let at = |id: &str| hard.iter().position(|i| *i == id).unwrap();
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
