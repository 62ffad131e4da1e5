//! Languages: the UI catalogs (`lessons/<lang>/ui.txt`) and the lesson prose
//! (`lessons/<lang>/<id>.md`), all embedded at build time.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// English
    En,
    /// 日本語
    Ja,
}

#[cfg_attr(not(test), allow(dead_code))]
impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ja];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    /// `LC_ALL`, then `LC_MESSAGES`, then `LANG`, as the C library reads them:
    /// the first one that is set and not empty decides; `ja*` means Japanese.
    pub fn from_env() -> Lang {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Lang {
        for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Some(v) = get(var).filter(|v| !v.is_empty()) {
                return if v.starts_with("ja") {
                    Lang::Ja
                } else {
                    Lang::En
                };
            }
        }
        Lang::En
    }
}

static LANG: OnceLock<Lang> = OnceLock::new();

/// Sets the language for the whole run (once; later calls are ignored).
pub fn set_lang(l: Lang) {
    let _ = LANG.set(l);
}

pub fn lang() -> Lang {
    *LANG.get().unwrap_or(&Lang::En)
}

const UI_EN: &str = include_str!("../../lessons/en/ui.txt");
const UI_JA: &str = include_str!("../../lessons/ja/ui.txt");

/// Parses a catalog: `key = text` lines, `#` comments, `\n` for a line break.
pub fn parse_catalog(src: &'static str) -> HashMap<&'static str, String> {
    src.lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim(), v.trim().replace("\\n", "\n")))
        .collect()
}

fn catalog(l: Lang) -> &'static HashMap<&'static str, String> {
    static EN: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    static JA: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    match l {
        Lang::En => EN.get_or_init(|| parse_catalog(UI_EN)),
        Lang::Ja => JA.get_or_init(|| parse_catalog(UI_JA)),
    }
}

/// The UI text for `key` in the run's language (English if the key is missing there;
/// the key itself if it is missing everywhere — a test keeps both catalogs complete).
pub fn t(key: &str) -> &'static str {
    catalog(lang())
        .get(key)
        .or_else(|| catalog(Lang::En).get(key))
        .map(String::as_str)
        .unwrap_or_else(|| Box::leak(key.to_string().into_boxed_str()))
}

/// `t` in language `l`, whatever the run's (`--help` is built before the run's
/// language is final).
pub fn t_in(l: Lang, key: &str) -> &'static str {
    catalog(l)
        .get(key)
        .or_else(|| catalog(Lang::En).get(key))
        .map(String::as_str)
        .unwrap_or_else(|| Box::leak(key.to_string().into_boxed_str()))
}

/// `t` with `{name}` placeholders filled in.
pub fn tf(key: &str, args: &[(&str, &dyn Display)]) -> String {
    fill(t(key), args)
}

pub fn fill(template: &str, args: &[(&str, &dyn Display)]) -> String {
    let mut out = template.to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), &value.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lang_from_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Lang::from_vars(env(&[("LANG", "ja_JP.UTF-8")])), Lang::Ja);
        assert_eq!(Lang::from_vars(env(&[("LANG", "en_US.UTF-8")])), Lang::En);
        assert_eq!(
            Lang::from_vars(env(&[("LC_ALL", "C"), ("LANG", "ja_JP.UTF-8")])),
            Lang::En
        );
        assert_eq!(
            Lang::from_vars(env(&[("LC_ALL", ""), ("LC_MESSAGES", "ja_JP")])),
            Lang::Ja
        );
        assert_eq!(Lang::from_vars(env(&[])), Lang::En);
    }

    #[test]
    fn catalogs_have_the_same_keys_and_no_empty_text() {
        let en = parse_catalog(UI_EN);
        let ja = parse_catalog(UI_JA);
        assert!(en.len() > 20);
        for k in en.keys() {
            assert!(
                ja.contains_key(k),
                "ui key {k} missing in lessons/ja/ui.txt"
            );
        }
        for k in ja.keys() {
            assert!(
                en.contains_key(k),
                "ui key {k} missing in lessons/en/ui.txt"
            );
        }
        for (k, v) in en.iter().chain(ja.iter()) {
            assert!(!v.trim().is_empty(), "ui key {k} has empty text");
        }
    }

    #[test]
    fn placeholders_match_between_languages() {
        let en = parse_catalog(UI_EN);
        let ja = parse_catalog(UI_JA);
        let holes = |s: &str| {
            let mut v: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string()))
                .collect();
            v.sort();
            v
        };
        for (k, v) in &en {
            assert_eq!(holes(v), holes(&ja[k]), "placeholders differ for {k}");
        }
    }

    /// Every `t("…")`/`tf("…"` key used in the source exists in the catalogs.
    #[test]
    fn every_key_used_in_the_code_exists() {
        let en = parse_catalog(UI_EN);
        let mut missing = vec![];
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let src = std::fs::read_to_string(&path).unwrap();
                for pat in ["t(", "tf("] {
                    for (i, _) in src.match_indices(pat) {
                        let before = src[..i].chars().last();
                        if matches!(before, Some(c) if c.is_alphanumeric() || c == '_' || c == '.')
                        {
                            continue;
                        }
                        let rest = src[i + pat.len()..].trim_start();
                        let Some(rest) = rest.strip_prefix('"') else {
                            continue;
                        };
                        let key = &rest[..rest.find('"').unwrap()];
                        if key.contains('.') && !key.contains(' ') && !en.contains_key(key) {
                            missing.push(format!("{}: {key}", path.display()));
                        }
                    }
                }
                // Keys chosen by a match (errno.*) are string literals of their own.
                for (i, _) in src.match_indices("\"errno.") {
                    let rest = &src[i + 1..];
                    let key = &rest[..rest.find('"').unwrap()];
                    if !key.ends_with('.') && !en.contains_key(key) {
                        missing.push(format!("{}: {key}", path.display()));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "ui keys missing: {missing:#?}");
    }
}
