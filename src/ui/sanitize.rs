//! Untrusted text made safe for a terminal or a JSON line.
//!
//! A tar entry's name, a link target, a registry's error body, an image reference and anything a
//! container prints about itself may hold escape sequences that move the cursor, retitle the
//! window or hide text. Before such a string reaches hako's output it goes through [`clean`]:
//! C0 controls (tab and newline included, since a name holding them would forge lines), DEL, the C1
//! controls (U+0080..U+009F: U+009B is a CSI on its own), and the bidirectional overrides and
//! isolates (U+202A..U+202E, U+2066..U+2069, which reorder what the reader sees) are shown
//! escaped as `\xNN` or `\u{NNNN}`; everything else passes unchanged. Invalid UTF-8 is shown as
//! `\xNN` per byte by [`clean_bytes`].
//!
//! This module imports nothing of hako: every layer may use it.

#![allow(dead_code)] // callers land with the trust work (issue 13)

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is.
pub fn is_unsafe(c: char) -> bool {
    let u = c as u32;
    u < 0x20 || u == 0x7f || (0x80..=0x9f).contains(&u) || is_bidi_control(c)
}

fn is_bidi_control(c: char) -> bool {
    matches!(c as u32, 0x202a..=0x202e | 0x2066..=0x2069 | 0x200e | 0x200f | 0x061c)
}

fn push_escaped(out: &mut String, c: char) {
    use std::fmt::Write;
    let u = c as u32;
    if u < 0x100 {
        let _ = write!(out, "\\x{u:02x}");
    } else {
        let _ = write!(out, "\\u{{{u:04x}}}");
    }
}

/// `s` with every dangerous character escaped; borrowed when there is none (the common case).
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Bytes of unknown encoding (a file name, a body): valid UTF-8 runs go through [`clean`], each
/// invalid byte is shown as `\xNN`.
pub fn clean_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(&clean(chunk.valid()));
        for byte in chunk.invalid() {
            use std::fmt::Write;
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// [`clean_bytes`], cut to at most `max` characters of the cleaned text, with `…` when cut: for
/// a body a server sent, shown only as a hint of what went wrong.
pub fn clean_truncated(b: &[u8], max: usize) -> String {
    let s = clean_bytes(b);
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// A path's bytes, cleaned (a path from an archive or a rootfs is not trusted to be UTF-8).
pub fn clean_path(p: &std::path::Path) -> String {
    clean_bytes(p.as_os_str().as_encoded_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(clean("usr/bin/ls ルート"), Cow::Borrowed(_)));
        assert_eq!(clean("usr/bin/ls ルート"), "usr/bin/ls ルート");
    }

    #[test]
    fn escapes_and_controls_are_shown_escaped() {
        assert_eq!(clean("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(clean("x\u{9b}31m"), "x\\x9b31m");
        assert_eq!(clean("line\nforged"), "line\\x0aforged");
        assert_eq!(clean("del\x7f"), "del\\x7f");
        assert_eq!(clean("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        assert_eq!(clean("\u{2066}x"), "\\u{2066}x");
    }

    #[test]
    fn invalid_utf8_is_shown_by_byte() {
        assert_eq!(clean_bytes(b"ok\xff\x1b"), "ok\\xff\\x1b");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(clean_truncated(b"  short \n", 10), "short \\x0a".trim());
        let long = vec![b'a'; 500];
        let t = clean_truncated(&long, 20);
        assert_eq!(t.chars().count(), 21);
        assert!(t.ends_with('…'));
    }

    #[test]
    fn nothing_unsafe_survives_any_input() {
        // Every byte value, alone and in pairs: the output never holds a dangerous character.
        for a in 0u8..=255 {
            for b in [0u8, 0x1b, 0x9b, 0xc2, 0xe2, b'a'] {
                let s = clean_bytes(&[a, b, 0x80, 0x9b]);
                assert!(!s.chars().any(is_unsafe), "{s:?}");
            }
        }
    }
}
