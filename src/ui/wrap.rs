//! Line breaking by display width, at the break opportunities of UAX #14 (the Unicode
//! line breaking algorithm, through the `unicode-linebreak` crate), with two tailorings:
//!
//! - a run of non-space ASCII (a command, a path, `--option`, a colour escape) is never
//!   split, where plain UAX #14 breaks after `/` and `-`;
//! - the small kana and the prolonged sound mark (class CJ) are treated as
//!   non-starters (the "strict" Japanese rule, which the crate leaves to the caller).
//!
//! UAX #14 itself keeps the other kinsoku rules: no line begins with 、。」） (classes
//! CL, CP, NS), none ends with 「（ (class OP).

use console::measure_text_width;
use unicode_linebreak::{break_property, linebreaks, BreakClass, BreakOpportunity};

/// Part of an unbreakable ASCII run: a visible ASCII character or the escape that starts
/// an ANSI colour sequence.
fn sticky(c: char) -> bool {
    c.is_ascii_graphic() || c == '\x1b'
}

/// The byte offsets where a line may end inside `s` (the end excluded).
pub fn breaks(s: &str) -> Vec<usize> {
    let mut out: Vec<usize> = vec![];
    let allowed: Vec<(usize, BreakOpportunity)> = linebreaks(s).collect();
    // UAX #14 keeps `/` with what precedes it even across spaces (rule LB13), which
    // would glue a path to the word before it: a space before an ASCII word that
    // does not close anything is a break too.
    // Likewise after Japanese text: 「す。/proc/sys」 may break before the path.
    let mut extra = vec![];
    for (i, c) in s.char_indices() {
        let Some(prev) = s[..i].chars().next_back() else {
            continue;
        };
        let word_start = c.is_ascii_graphic() && !")]}!?,.;:".contains(c);
        let after_space = prev == ' ';
        let after_japanese = !prev.is_ascii()
            && !matches!(
                break_property(prev as u32),
                BreakClass::OpenPunctuation | BreakClass::Quotation | BreakClass::NonBreakingGlue
            );
        if word_start && (after_space || after_japanese) {
            extra.push((i, BreakOpportunity::Allowed));
        }
    }
    let mut all: Vec<(usize, BreakOpportunity)> = allowed.into_iter().chain(extra).collect();
    all.sort_by_key(|(i, _)| *i);
    all.dedup_by_key(|(i, _)| *i);
    for (i, op) in all {
        if i == 0 || i >= s.len() {
            continue;
        }
        if op == BreakOpportunity::Mandatory {
            out.push(i);
            continue;
        }
        let before = s[..i].chars().next_back().unwrap_or(' ');
        let after = s[i..].chars().next().unwrap_or(' ');
        if sticky(before) && sticky(after) {
            continue;
        }
        if break_property(after as u32) == BreakClass::ConditionalJapaneseStarter {
            continue;
        }
        out.push(i);
    }
    out
}

/// Wraps text to `width` display columns (colour escapes count as nothing). Each input
/// line is wrapped on its own and keeps its leading spaces on every line it becomes; a
/// piece that cannot be broken and is wider than the line stands alone on its line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![];
    for para in text.lines() {
        let body = para.trim_start_matches(' ');
        let indent = &para[..para.len() - body.len()];
        let body = body.trim_end();
        let mut cuts = breaks(body);
        cuts.push(body.len());
        let mut line = String::from(indent);
        let mut start = 0;
        let mut empty = true;
        for end in cuts {
            let piece = &body[start..end];
            start = end;
            let visible = piece.trim_end();
            let candidate = format!("{line}{visible}");
            if !empty && measure_text_width(&candidate) > width {
                lines.push(line.trim_end().to_string());
                line = String::from(indent);
            }
            line.push_str(piece);
            empty = false;
        }
        lines.push(line.trim_end().to_string());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_START: &str = "、。」）』ー！？ァィゥェォッャュョぁぃぅぇぉっゃゅょ";
    const NO_END: &str = "「（『";

    fn legal(lines: &[String]) {
        for w in lines.windows(2) {
            let first = w[1].trim_start().chars().next().unwrap_or(' ');
            let last = w[0].chars().next_back().unwrap_or(' ');
            assert!(!NO_START.contains(first), "line starts with {first}: {w:?}");
            assert!(!NO_END.contains(last), "line ends with {last}: {w:?}");
        }
    }

    #[test]
    fn latin_at_spaces() {
        assert_eq!(wrap("aaa bbb ccc ddd", 8), vec!["aaa bbb", "ccc ddd"]);
    }

    #[test]
    fn japanese_by_display_width_and_kinsoku() {
        let text = "これは日本語の文章です。折り返しは表示幅で行います。";
        for w in 6..30 {
            let l = wrap(text, w);
            legal(&l);
            for x in &l {
                assert!(measure_text_width(x) <= w, "{x}");
            }
            assert_eq!(l.concat(), text);
        }
    }

    /// The two lines `hako script --lang ja` broke wrongly at 76 columns.
    #[test]
    fn the_lines_that_broke_wrongly() {
        let a = "名前空間はプロセスに「何が見えるか」を決め、コントロールグループ(cgroup)は「どれだけ使えるか」を決めて、使った量を数えます。";
        let b = "信頼できないイメージは、ホストのセキュリティを持ったまま動きます。信頼できるイメージだけを使ってください。";
        for text in [a, b] {
            for w in 10..80 {
                let l = wrap(text, w);
                legal(&l);
                assert_eq!(l.concat(), text, "width {w}");
            }
        }
        let l = wrap(a, 74);
        assert!(l[0].ends_with('は'), "{l:?}");
        assert!(l[1].starts_with('「'), "{l:?}");
    }

    #[test]
    fn ascii_runs_are_never_split() {
        let l = wrap("  /a/very/long/path/that/does/not/fit x", 10);
        assert_eq!(l, vec!["  /a/very/long/path/that/does/not/fit", "  x"]);
        let text =
            "ここで--memoryと/sys/fs/cgroup/memory.maxを読み、unshare --mount --pidを使います。";
        for w in 6..40 {
            let l = wrap(text, w);
            legal(&l);
            let joined = l.join("\n");
            for run in ["--memory", "/sys/fs/cgroup/memory.max", "--mount", "--pid"] {
                assert!(joined.contains(run), "{run} split at {w}: {l:?}");
            }
        }
    }

    #[test]
    fn a_path_after_a_space_may_start_a_line() {
        let l = wrap(
            "memory at /sys/fs/cgroup/memory, cpu at /sys/fs/cgroup/cpu",
            44,
        );
        assert_eq!(l[0], "memory at /sys/fs/cgroup/memory, cpu at");
        assert_eq!(l[1], "/sys/fs/cgroup/cpu");
    }

    #[test]
    fn a_path_after_japanese_may_start_a_line() {
        let text = "/proc/sys は書き込み可能です。/proc/sys/kernel/core_pattern にパイプを書けば";
        let l = wrap(text, 30);
        assert!(
            l.iter()
                .any(|x| x.starts_with("/proc/sys/kernel/core_pattern")),
            "{l:?}"
        );
        assert!(l[0].ends_with('。'), "{l:?}");
        // Not after an opening bracket.
        let l = wrap("あいうえおかきくけ「/proc」", 10);
        assert!(l.iter().all(|x| !x.ends_with('「')), "{l:?}");
    }

    #[test]
    fn colour_escapes_count_as_nothing() {
        let s = format!(
            "{} two three",
            console::style("one").bold().force_styling(true)
        );
        let l = wrap(&s, 9);
        assert_eq!(l.len(), 2, "{l:?}");
        assert_eq!(console::strip_ansi_codes(&l[0]), "one two");
    }
}
