//! The book (book/, mdBook) builds, and its chapters include the lesson files rather
//! than copying them. mdbook is installed by tests/setup/mdbook.sh (run by
//! tests/run.sh); without it this test fails and says so.

use hako::lessons::IDS;
use hako::ui::i18n::Lang;
use std::path::{Path, PathBuf};

fn mdbook() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cargo"));
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([cargo_home.join("bin"), home.join(".cargo/bin")])
        .map(|d| d.join("mdbook"))
        .find(|p| p.is_file())
        .expect("mdbook is not installed: run `bash tests/setup/mdbook.sh` (tests/run.sh does)")
}

#[test]
#[ignore = "needs root"]
fn the_book_builds_and_includes_the_lessons() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("hako-book-{}", std::process::id()));
    let status = std::process::Command::new(mdbook())
        .arg("build")
        .arg(root.join("book"))
        .arg("-d")
        .arg(&out)
        .status()
        .expect("run mdbook");
    assert!(status.success(), "mdbook build failed");
    // The included text is in the pages: the Japanese and English limits lessons.
    let ja = std::fs::read_to_string(out.join("ja/limits.html")).unwrap();
    let en = std::fs::read_to_string(out.join("en/limits.html")).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    assert!(ja.contains("9998336") && ja.contains("よくある間違い"));
    assert!(en.contains("9998336") && en.contains("Common mistakes"));
}

/// The book (book/src) lists every lesson of the table in both languages, in walk order,
/// and each chapter includes its lesson file instead of holding a copy: what is committed is
/// exactly what `hako::book` derives from the lesson table.
#[test]
fn every_lesson_is_in_the_book() {
    let src = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/book/src"));
    let fix = "run `hako __book book/src` (it writes SUMMARY.md and the chapter pages from the lesson table)";
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).unwrap();
    assert_eq!(
        summary,
        hako::book::summary(src).unwrap(),
        "book/src/SUMMARY.md is not the table's: {fix}"
    );
    for l in Lang::ALL {
        for id in IDS {
            let chapter = src.join(l.code()).join(format!("{id}.md"));
            let text = std::fs::read_to_string(&chapter)
                .unwrap_or_else(|_| panic!("{} is missing: {fix}", chapter.display()));
            assert_eq!(
                text,
                hako::book::chapter(l, id),
                "{} must only include the lesson file: {fix}",
                chapter.display()
            );
        }
    }
}
