//! The book's table of contents and its chapter pages, derived from the lesson table: a new
//! lesson needs no edit in `book/`. `hako __book book/src` writes them; `tests/book.rs`
//! fails when what is committed differs from what the table gives.
//!
//! Each lesson's page only includes its prose file (`{{#include …}}`), so the text lives in
//! `lessons/<lang>/<id>.md` alone.

use crate::lessons::{parse_prose, source, TABLE};
use crate::ui::i18n::Lang;
use std::path::{Path, PathBuf};

/// The heading of each language's part of the book.
fn part(l: Lang) -> &'static str {
    match l {
        Lang::Ja => "日本語",
        Lang::En => "English",
    }
}

/// A lesson's page: nothing but the include of its prose file.
pub fn chapter(l: Lang, id: &str) -> String {
    format!("{{{{#include ../../../lessons/{}/{id}.md}}}}\n", l.code())
}

/// The first `# ` heading of a Markdown file (the title of a page that is not a lesson).
fn title_of(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .unwrap_or_default()
        .trim()
        .to_string())
}

/// `SUMMARY.md` for the book whose sources are in `src`: the introduction, then per
/// language every lesson of the table in walk order, then the instructors' chapter.
pub fn summary(src: &Path) -> std::io::Result<String> {
    let mut s = String::from("# Summary\n\n[hako (箱)](README.md)\n");
    for l in [Lang::Ja, Lang::En] {
        s.push_str(&format!("\n# {}\n\n", part(l)));
        let mut n = 0;
        for e in TABLE {
            n += 1;
            let title = parse_prose(source(e.id, l).unwrap_or_default()).title;
            s.push_str(&format!("{n}. [{title}]({}/{}.md)\n", l.code(), e.id));
        }
        let instructor = format!("{}/instructor.md", l.code());
        n += 1;
        s.push_str(&format!(
            "{n}. [{}]({instructor})\n",
            title_of(&src.join(&instructor))?
        ));
    }
    Ok(s)
}

/// Writes `SUMMARY.md` and every lesson's page under `src` where they differ from what the
/// table gives; returns the files it wrote.
pub fn write(src: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = vec![(src.join("SUMMARY.md"), summary(src)?)];
    for l in Lang::ALL {
        for e in TABLE {
            files.push((
                src.join(l.code()).join(format!("{}.md", e.id)),
                chapter(l, e.id),
            ));
        }
    }
    let mut wrote = vec![];
    for (path, text) in files {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text)?;
            wrote.push(path);
        }
    }
    Ok(wrote)
}

/// `hako __book DIR` (hidden): [`write`], saying what it wrote. Exit 0, or 1 with the error.
pub fn main(args: &[String]) -> i32 {
    let dir = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| "book/src".into());
    match write(&dir) {
        Ok(wrote) => {
            for p in wrote {
                eprintln!("wrote {}", p.display());
            }
            0
        }
        Err(e) => {
            eprintln!(
                "hako __book: cannot write the book's pages under {}: {e}",
                dir.display()
            );
            1
        }
    }
}
