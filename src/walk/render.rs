//! How hako's own words look on stderr: decided once (colour, quiet, width), then
//! used by the runner. Stdout is never written here: it belongs to the command.

use crate::lessons::Check;
use console::{measure_text_width, style, Term};
use std::sync::OnceLock;
use unicode_width::UnicodeWidthChar;

#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub quiet: bool,
    pub width: usize,
    pub unicode: bool,
}

static LOOK: OnceLock<Look> = OnceLock::new();

pub fn init(quiet: bool) {
    let term = Term::stderr();
    let color = term.is_term() && std::env::var_os("NO_COLOR").is_none();
    console::set_colors_enabled_stderr(color);
    let width = term
        .size_checked()
        .map(|(_, w)| w as usize)
        .unwrap_or(100)
        .clamp(40, 110);
    let _ = LOOK.set(Look {
        quiet,
        width,
        unicode: crate::walk::utf8_locale(),
    });
}

pub fn look() -> Look {
    *LOOK.get().unwrap_or(&Look {
        quiet: false,
        width: 100,
        unicode: true,
    })
}

fn out(s: &str) {
    if !look().quiet {
        eprintln!("{s}");
    }
}

/// Wraps text to `width` display columns. Latin words break at spaces; Japanese may
/// break between any two wide characters (but not before closing punctuation).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![];
    for para in text.lines() {
        let indent: String = para.chars().take_while(|c| *c == ' ').collect();
        let mut line = String::new();
        let mut col = 0usize;
        let mut tokens: Vec<String> = vec![];
        let mut word = String::new();
        for c in para.trim_start().chars() {
            if c == ' ' {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
                tokens.push(" ".into());
            } else if c.width().unwrap_or(1) >= 2 && !"、。，．）」』！？".contains(c) {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
                word.push(c);
            } else if "、。，．）」』！？".contains(c) {
                word.push(c);
                tokens.push(std::mem::take(&mut word));
            } else {
                if word
                    .chars()
                    .last()
                    .is_some_and(|p| p.width().unwrap_or(1) >= 2)
                {
                    tokens.push(std::mem::take(&mut word));
                }
                word.push(c);
            }
        }
        if !word.is_empty() {
            tokens.push(word);
        }
        line.push_str(&indent);
        col += indent.len();
        for tok in tokens {
            let w = measure_text_width(&tok);
            if tok == " " {
                if col > indent.len() {
                    line.push(' ');
                    col += 1;
                }
                continue;
            }
            if col + w > width && col > indent.len() {
                lines.push(line.trim_end().to_string());
                line = indent.clone();
                col = indent.len();
            }
            line.push_str(&tok);
            col += w;
        }
        lines.push(line.trim_end().to_string());
    }
    lines
}

pub fn header(i: usize, n: usize, id: &str, title: &str) {
    out("");
    let rule = if look().unicode { "─" } else { "-" };
    let head = format!("[{i}/{n}] {title}  ({id})");
    out(&style(&head).bold().cyan().to_string());
    out(&rule.repeat(measure_text_width(&head).min(look().width)));
}

pub fn paragraph(text: &str) {
    for l in wrap(text, look().width) {
        out(&l);
    }
}

pub fn shell_block(label: &str, text: &str) {
    out("");
    out(&style(label).dim().to_string());
    for l in text.lines() {
        let styled = if l.trim_start().starts_with('#') {
            style(format!("  {l}")).dim().to_string()
        } else {
            style(format!("  {l}")).yellow().to_string()
        };
        out(&styled);
    }
}

pub fn did(label: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    out("");
    out(&style(label).dim().to_string());
    for l in lines {
        out(&format!("  {l}"));
    }
}

fn mark(ok: bool) -> String {
    let (u, a) = if ok {
        ("✔", "[ok]")
    } else {
        ("✘", "[FAIL]")
    };
    let m = if look().unicode { u } else { a };
    if ok {
        style(m).green().to_string()
    } else {
        style(m).red().bold().to_string()
    }
}

/// Evidence as aligned rows: mark, label, what was seen, what it was compared with.
pub fn check(label: &str, c: &Check, force: bool) {
    let show = |s: &str| {
        if force || !look().quiet {
            eprintln!("{s}");
        }
    };
    show("");
    show(&style(label).dim().to_string());
    let lw = c
        .rows
        .iter()
        .map(|r| measure_text_width(&r.label))
        .max()
        .unwrap_or(0);
    for r in &c.rows {
        let pad = " ".repeat(lw - measure_text_width(&r.label));
        let cmp = if r.compared.is_empty() {
            String::new()
        } else {
            style(format!("  ({})", r.compared)).dim().to_string()
        };
        show(&format!(
            "  {} {}{pad}  {}{cmp}",
            mark(r.ok),
            r.label,
            r.seen
        ));
    }
}

/// A progress bar counting bytes, on stderr: hidden when stderr is not a terminal
/// (indicatif's own rule) and with --quiet. `len` unknown: a spinner with the count.
pub fn bytes_bar(len: Option<u64>, msg: String) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    if look().quiet {
        return ProgressBar::hidden();
    }
    let target = ProgressDrawTarget::stderr();
    let bar = match len {
        Some(n) => ProgressBar::with_draw_target(Some(n), target).with_style(
            ProgressStyle::with_template(
                "  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        ),
        None => ProgressBar::with_draw_target(None, target).with_style(
            ProgressStyle::with_template("  {spinner} {msg} {bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_message(msg);
    bar
}

pub fn note(s: &str) {
    out(s);
}

pub fn blank() {
    out("");
}

/// Errors are shown even with --quiet.
pub fn error(s: &str) {
    let prefix = style("hako:").red().bold().to_string();
    for (i, l) in wrap(s, look().width.saturating_sub(6)).iter().enumerate() {
        if i == 0 {
            eprintln!("{prefix} {l}");
        } else {
            eprintln!("      {l}");
        }
    }
}

/// One traced system call, as strace would write it, and where to read about it.
/// The agent prints these too (it inherits --trace), before `init` ever ran there.
pub fn trace_line(call: &str, man: &str) {
    let arrow = if crate::walk::utf8_locale() {
        "⟶"
    } else {
        "->"
    };
    eprintln!(
        "{}   {}",
        style(format!("  {arrow} {call}")).magenta(),
        style(format!("man {man}")).dim()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_latin_at_spaces() {
        let l = wrap("aaa bbb ccc ddd", 8);
        assert_eq!(l, vec!["aaa bbb", "ccc ddd"]);
    }

    #[test]
    fn wraps_japanese_by_display_width() {
        let text = "これは日本語の文章です。折り返しは表示幅で行います。";
        for l in wrap(text, 20) {
            assert!(measure_text_width(&l) <= 20, "{l}");
            assert!(!l.starts_with('。') && !l.starts_with('、'));
        }
        assert_eq!(wrap(text, 20).concat(), text);
    }

    #[test]
    fn keeps_indent_and_long_words() {
        let l = wrap("  /a/very/long/path/that/does/not/fit x", 10);
        assert_eq!(l[0], "  /a/very/long/path/that/does/not/fit");
        assert_eq!(l[1], "  x");
    }
}
