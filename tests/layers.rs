//! The layering of `src/`, checked (pure: reads the sources, needs no root). See
//! ARCHITECTURE.md.
//!
//! Every path a file names (`use crate::…`, `use super::…`, `crate::x::y` in code, a child
//! module named from its parent, `hako::…` in the binary) is resolved to the file that
//! defines it. The test fails when
//! - a file imports a layer above its own ([`LAYERS`], lowest first);
//! - files import each other, directly or around a loop;
//! - `unsafe` (comments included), `libc::` or `nix::` appears outside `src/sys/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may import its own layer and the layers below it,
/// never one above. Within a layer, files may import each other as long as no loop forms.
const LAYERS: &[&[&str]] = &[
    // Pure leaves: the error type and exit codes, `--memory`/`--cpu` parsing, bench figures.
    &["error", "spec", "bench"],
    // What people see: rendering, catalogs, the sanitiser, evidence rows, text layout.
    &["ui"],
    // Every kernel call; the only place for unsafe, libc and nix.
    &["sys"],
    // On top of the kernel layer: the rootfs sources, the run journal, the agent (protocol,
    // serve, client), and the `hako __demo` programs a lesson runs.
    &["rootfs", "journal", "agent", "demos"],
    // The lessons.
    &["lessons"],
    // The runners: the guided walk, and hands-on practice over the same lessons.
    &["walk", "practice"],
    // Commands: the command line, the subcommands, the binary.
    &["cli", "commands", "doctor", "script", "book", "main"],
];

/// Imports that go against the layers today, each with the reason it is tolerated.
const ALLOWED_UPWARD: &[(&str, &str, &[&str])] = &[];

/// Parent files (`mod.rs`) that still hold shared types their children import, so an edge
/// child → parent is tolerated there (a `mod.rs` should only declare and re-export).
/// Each is a loop that remains; see ARCHITECTURE.md.
const PARENTS_STILL_SHARED: &[&str] = &[];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&layer))
}

// ------------------------------------------------------------------ reading sources

/// The text with comments removed and string and char literal contents blanked (newlines
/// kept), so that only code remains.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if ch == 'r'
            && (next == Some('"') || next == Some('#'))
            && !c
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(ch);
                i += 1;
                continue;
            }
            out.push('"');
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (0..hashes).all(|k| c.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                out.push(blank(c[j]));
                j += 1;
            }
            out.push('"');
            i = j;
        } else if ch == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < c.len() {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{1b}') or a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                out.push_str("' '");
                i = j + 1;
            } else if c.get(i + 2) == Some(&'\'') {
                out.push_str("' '");
                i += 3;
            } else {
                out.push(ch);
                i += 1;
            }
        } else {
            out.push(ch);
            i += 1;
        }
    }
    out
}

/// One `.rs` file of `src/` and the module path it defines (`src/sys/mod.rs` → `sys`).
struct File {
    path: String,
    module: Vec<String>,
    raw: String,
    code: String,
}

fn files() -> Vec<File> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let base = root();
    let mut paths = vec![];
    walk(&base.join("src"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let inner = rel
                .strip_prefix("src/")
                .unwrap()
                .strip_suffix(".rs")
                .unwrap();
            let mut module: Vec<String> = inner.split('/').map(str::to_string).collect();
            if module.last().is_some_and(|m| m == "mod" || m == "lib") {
                module.pop();
            }
            let raw = std::fs::read_to_string(&p).unwrap();
            let code = code_only(&raw);
            File {
                path: rel,
                module,
                raw,
                code,
            }
        })
        .collect()
}

// ------------------------------------------------------------------ paths in code

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Expands the tree of one `use` (`crate::{a, b::{c, self}}`) into plain paths.
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    fn parse(s: &[char], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        let mut path = prefix;
        loop {
            while *i < s.len() && s[*i].is_whitespace() {
                *i += 1;
            }
            if *i < s.len() && s[*i] == '{' {
                *i += 1;
                loop {
                    parse(s, i, path.clone(), out);
                    while *i < s.len() && s[*i].is_whitespace() {
                        *i += 1;
                    }
                    match s.get(*i) {
                        Some(',') => *i += 1,
                        Some('}') => {
                            *i += 1;
                            return;
                        }
                        _ => return,
                    }
                    while *i < s.len() && s[*i].is_whitespace() {
                        *i += 1;
                    }
                    if s.get(*i) == Some(&'}') {
                        *i += 1;
                        return;
                    }
                }
            }
            let start = *i;
            while *i < s.len() && (is_ident(s[*i]) || s[*i] == '*') {
                *i += 1;
            }
            let seg: String = s[start..*i].iter().collect();
            if seg.is_empty() {
                out.push(path);
                return;
            }
            if seg != "self" || path.is_empty() {
                path.push(seg);
            }
            if s.get(*i) == Some(&':') && s.get(*i + 1) == Some(&':') {
                *i += 2;
                continue;
            }
            // ` as alias`: skip it.
            while *i < s.len() && s[*i].is_whitespace() {
                *i += 1;
            }
            if s[*i..].starts_with(&['a', 's']) {
                *i += 2;
                while *i < s.len() && (s[*i].is_whitespace() || is_ident(s[*i])) {
                    *i += 1;
                }
            }
            out.push(path);
            return;
        }
    }
    let s: Vec<char> = tree.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    parse(&s, &mut i, vec![], &mut out);
    out
}

/// A path a file names, and the inline module (`mod tests { … }`) it is written in.
struct Named {
    path: Vec<String>,
    inline: Vec<String>,
}

/// Every path of `code` that starts with `crate`, `super`, `self`, `hako` or one of
/// `children` (the modules this file declares), with its enclosing inline modules.
fn named_paths(code: &str, children: &BTreeSet<String>) -> Vec<Named> {
    let c: Vec<char> = code.chars().collect();
    let mut out = vec![];
    // Open braces, each marked with the inline module it opened (if any).
    let mut braces: Vec<Option<String>> = vec![];
    let mut pending_mod: Option<String> = None;
    let mut i = 0;
    let word_at = |i: usize| -> String {
        let mut j = i;
        while j < c.len() && is_ident(c[j]) {
            j += 1;
        }
        c[i..j].iter().collect()
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '{' {
            braces.push(pending_mod.take());
            i += 1;
            continue;
        }
        if ch == '}' {
            braces.pop();
            i += 1;
            continue;
        }
        if ch == ';' {
            pending_mod = None;
        }
        let starts_word = is_ident(ch) && (i == 0 || !(is_ident(c[i - 1]) || c[i - 1] == '$'));
        if !starts_word {
            i += 1;
            continue;
        }
        let w = word_at(i);
        let inline: Vec<String> = braces.iter().flatten().cloned().collect();
        if w == "mod" {
            let mut j = i + 3;
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            pending_mod = Some(word_at(j));
            i = j;
            continue;
        }
        let preceded_by_colons = i >= 2 && c[i - 1] == ':' && c[i - 2] == ':';
        if w == "use" {
            let end = c[i..]
                .iter()
                .position(|x| *x == ';')
                .map(|p| i + p)
                .unwrap_or(c.len());
            let tree: String = c[i + 3..end].iter().collect();
            for path in expand_use(&tree) {
                out.push(Named {
                    path,
                    inline: inline.clone(),
                });
            }
            i = end;
            continue;
        }
        let rooted = ["crate", "super", "self", "hako"].contains(&w.as_str())
            || (children.contains(&w) && !preceded_by_colons);
        if rooted && !preceded_by_colons {
            let mut path = vec![w.clone()];
            let mut j = i + w.len();
            while c.get(j) == Some(&':')
                && c.get(j + 1) == Some(&':')
                && c.get(j + 2).is_some_and(|x| is_ident(*x))
            {
                let seg = word_at(j + 2);
                j += 2 + seg.len();
                path.push(seg);
            }
            if path.len() > 1 {
                out.push(Named {
                    path,
                    inline: inline.clone(),
                });
            }
            i = j;
            continue;
        }
        i += w.len();
    }
    out
}

/// The absolute module path a named path points into, or None when it leaves the crate
/// (std, other crates) or cannot be told.
fn absolute(file: &File, n: &Named, children: &BTreeSet<String>) -> Option<Vec<String>> {
    let mut here: Vec<String> = file.module.clone();
    here.extend(n.inline.iter().cloned());
    let p = &n.path;
    let first = p.first()?.as_str();
    let (mut abs, rest) = match first {
        "crate" | "hako" => (vec![], &p[1..]),
        "self" => (here.clone(), &p[1..]),
        "super" => {
            let mut base = here.clone();
            let mut k = 0;
            while p.get(k).is_some_and(|s| s == "super") {
                base.pop()?;
                k += 1;
            }
            (base, &p[k..])
        }
        _ if children.contains(first) && n.inline.is_empty() => (file.module.clone(), &p[..]),
        _ => return None,
    };
    abs.extend(rest.iter().filter(|s| *s != "*").cloned());
    Some(abs)
}

/// The file that defines the longest prefix of `abs`.
fn resolve<'a>(by_module: &'a BTreeMap<Vec<String>, String>, abs: &[String]) -> Option<&'a String> {
    (1..=abs.len()).rev().find_map(|k| by_module.get(&abs[..k]))
}

struct Edge {
    from: String,
    to: String,
    /// The module path named, in the target.
    abs: Vec<String>,
}

fn edges(files: &[File]) -> Vec<Edge> {
    let by_module: BTreeMap<Vec<String>, String> = files
        .iter()
        .filter(|f| f.path != "src/main.rs")
        .map(|f| (f.module.clone(), f.path.clone()))
        .collect();
    let mut out = vec![];
    for f in files {
        if f.path == "src/lib.rs" {
            continue; // it only declares the modules
        }
        let children: BTreeSet<String> = f
            .code
            .lines()
            .filter_map(|l| {
                let l = l.trim().strip_prefix("pub ").unwrap_or(l.trim());
                let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
                let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
                Some(name.trim().to_string())
            })
            .collect();
        for n in named_paths(&f.code, &children) {
            if f.path == "src/main.rs" && n.path[0] != "hako" {
                continue;
            }
            if f.path != "src/main.rs" && n.path[0] == "hako" {
                continue;
            }
            let Some(abs) = absolute(f, &n, &children) else {
                continue;
            };
            let Some(to) = resolve(&by_module, &abs) else {
                continue;
            };
            if *to != f.path {
                out.push(Edge {
                    from: f.path.clone(),
                    to: to.clone(),
                    abs,
                });
            }
        }
    }
    out
}

fn layer_of(path: &str) -> String {
    let inner = path.strip_prefix("src/").unwrap();
    let first = inner.split('/').next().unwrap();
    first.strip_suffix(".rs").unwrap_or(first).to_string()
}

// ------------------------------------------------------------------ the checks

#[test]
fn every_module_has_a_layer() {
    let mut missing = BTreeSet::new();
    for f in files() {
        if f.path == "src/lib.rs" {
            continue;
        }
        let l = layer_of(&f.path);
        if rank(&l).is_none() {
            missing.insert(l);
        }
    }
    assert!(
        missing.is_empty(),
        "modules with no layer in LAYERS: {missing:?}"
    );
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let files = files();
    let all = edges(&files);
    assert!(
        all.len() > 300,
        "the parser found only {} imports",
        all.len()
    );
    let mut bad = BTreeSet::new();
    for e in &all {
        let (lf, lt) = (layer_of(&e.from), layer_of(&e.to));
        let (Some(rf), Some(rt)) = (rank(&lf), rank(&lt)) else {
            continue;
        };
        if rt <= rf {
            continue;
        }
        let tolerated = ALLOWED_UPWARD.iter().any(|(a, b, items)| {
            *a == lf && *b == lt && e.abs.get(1).is_some_and(|i| items.contains(&i.as_str()))
        });
        if !tolerated {
            bad.insert(format!(
                "{} imports {} ({})",
                e.from,
                e.abs.join("::"),
                e.to
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "imports of a layer above:\n{}",
        Vec::from_iter(bad).join("\n")
    );
}

/// Whether `from` lies inside the module `to` defines (`src/sys/ns.rs` in `src/sys/mod.rs`,
/// `src/rootfs/oci/policy.rs` in `src/rootfs/oci.rs`).
fn is_child_of(from: &str, to: &str) -> bool {
    let dir = match to.strip_suffix("/mod.rs") {
        Some(d) => d.to_string(),
        None => to.strip_suffix(".rs").unwrap_or(to).to_string(),
    };
    from != to && Path::new(from).starts_with(&dir)
}

#[test]
fn no_child_imports_its_parents_file() {
    let files = files();
    let mut bad = BTreeSet::new();
    for e in edges(&files) {
        if is_child_of(&e.from, &e.to) && !PARENTS_STILL_SHARED.contains(&e.to.as_str()) {
            bad.insert(format!(
                "{} imports {} ({})",
                e.from,
                e.abs.join("::"),
                e.to
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "a child imports its parent's file:\n{}",
        Vec::from_iter(bad).join("\n")
    );
}

/// A `mod.rs` (and `lib.rs`) only declares its modules and re-exports: whatever its children
/// share lives in a file of its own, so no child has to import its parent's file.
#[test]
fn a_mod_rs_only_declares_and_re_exports() {
    let mut bad = vec![];
    for f in files() {
        if !(f.path.ends_with("/mod.rs") || f.path == "src/lib.rs") {
            continue;
        }
        // Statements of the file, comments and strings blanked (`code_only`).
        for stmt in f.code.split(';') {
            let s = stmt.trim();
            let s = s.trim_start_matches(|c: char| c == '}' || c.is_whitespace());
            // Attributes (`#[cfg(test)]`, `#![allow(…)]`) may stand before a declaration.
            let mut rest = s;
            while rest.starts_with('#') {
                match rest.find(']') {
                    Some(i) => rest = rest[i + 1..].trim_start(),
                    None => break,
                }
            }
            let ok = rest.is_empty()
                || [
                    "mod ",
                    "pub mod ",
                    "pub(crate) mod ",
                    "use ",
                    "pub use ",
                    "pub(crate) use ",
                ]
                .iter()
                .any(|k| rest.starts_with(k));
            if !ok {
                bad.push(format!("{}: {}", f.path, rest.lines().next().unwrap_or("")));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "a mod.rs holds more than declarations:\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_two_files_import_each_other() {
    let files = files();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        graph.entry(f.path.clone()).or_default();
    }
    for e in edges(&files) {
        let child_to_parent =
            PARENTS_STILL_SHARED.contains(&e.to.as_str()) && is_child_of(&e.from, &e.to);
        let upward_tolerated = ALLOWED_UPWARD
            .iter()
            .any(|(a, b, _)| *a == layer_of(&e.from) && *b == layer_of(&e.to));
        if !child_to_parent && !upward_tolerated {
            graph.entry(e.from).or_default().insert(e.to);
        }
    }
    // Tarjan's strongly connected components: any component of two files or more is a loop.
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        loops: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        for w in &t.g[v] {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = vec![];
            loop {
                let w = t.stack.pop().unwrap();
                t.on.remove(w);
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.loops.push(comp);
            }
        }
    }
    let mut t = T {
        g: &graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on: BTreeSet::new(),
        next: 0,
        loops: vec![],
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    let shown: Vec<String> = t.loops.iter().map(|c| c.join(" ⇄ ")).collect();
    assert!(
        shown.is_empty(),
        "files that import each other:\n{}",
        shown.join("\n")
    );
}

/// Whether `line` holds `w` as a word of its own (`unsafe` but not `is_unsafe`; `nix::` but
/// not `unix::`).
fn word(line: &str, w: &str) -> bool {
    line.match_indices(w).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + w.len()..].chars().next();
        let glued_before = before.is_some_and(is_ident);
        let glued_after = w.ends_with(is_ident) && after.is_some_and(is_ident);
        !glued_before && !glued_after
    })
}

#[test]
fn only_sys_touches_the_kernel() {
    let mut bad = vec![];
    for f in files() {
        if f.path.starts_with("src/sys/") {
            continue;
        }
        for (n, line) in f.raw.lines().enumerate() {
            if word(line, "unsafe") || word(line, "libc::") || word(line, "nix::") {
                bad.push(format!("{}:{}: {}", f.path, n + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "kernel access outside src/sys:\n{}",
        bad.join("\n")
    );
}

/// The lessons read the kernel only through `sys` (its procfs reader, its file questions,
/// its probes): no file, process, descriptor or socket call of std's in `src/lessons`, so
/// that every check's evidence comes through the one layer that names its man pages.
#[test]
fn lessons_read_the_kernel_through_sys() {
    let mut bad = vec![];
    for f in files()
        .iter()
        .filter(|f| f.path.starts_with("src/lessons/"))
    {
        for (n, line) in f.code.lines().enumerate() {
            for w in [
                "std::fs",
                "std::os",
                "std::process::Command",
                "std::net",
                "File::",
            ] {
                if line.contains(w) {
                    bad.push(format!("{}:{}: {}", f.path, n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "kernel calls in the lessons, outside src/sys:\n{}",
        bad.join("\n")
    );
}

#[test]
fn only_sys_allows_unsafe_code() {
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(
        toml.contains("unsafe_code = \"deny\""),
        "Cargo.toml must deny unsafe_code"
    );
    let outside: Vec<String> = files()
        .into_iter()
        .filter(|f| !f.path.starts_with("src/sys/") && f.raw.contains("allow(unsafe_code)"))
        .map(|f| f.path)
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
}

// ------------------------------------------------------------------ the parser itself

#[test]
fn the_parser_reads_use_trees_and_skips_comments_and_strings() {
    let trees = expand_use("crate::{cli, sys::{self, Errno as E}, ui::*}");
    let shown: Vec<String> = trees.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        shown,
        [
            "crate::cli",
            "crate::sys",
            "crate::sys::Errno",
            "crate::ui::*"
        ]
    );
    let code = code_only(
        "let a = \"crate::walk::x\"; // crate::walk\n/* crate::walk */ crate::sys::y; 'a'; '{';",
    );
    assert!(!code.contains("walk"), "{code}");
    assert!(code.contains("crate::sys::y"));
    let children = BTreeSet::from(["ns".to_string()]);
    let named = named_paths(
        "mod ns;\nfn f() { ns::go(); }\nmod tests { use super::*; }",
        &children,
    );
    assert_eq!(named[0].path, ["ns", "go"]);
    assert_eq!(named[1].path, ["super", "*"]);
    assert_eq!(named[1].inline, ["tests"]);
}
