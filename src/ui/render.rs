//! How hako's own words look on stderr: decided once (colour, quiet, width, text or
//! JSON), then used by the runner. Stdout is never written here: it belongs to the command.
//!
//! Colour is decided once, as bat does: `--color always|never`, else `NO_COLOR`, else
//! whether stderr is a terminal; every styled string goes through [`paint`], which
//! applies that decision (console's own `style()` would look at stdout instead).

use crate::ui::evidence::Check;
use console::{measure_text_width, Term};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// When stderr is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

/// `--format`: how hako writes its own words on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: wrapped text, aligned evidence, colours on a terminal.
    Text,
    /// For tools: one JSON object per line (one per lesson; errors as {"error", "exit"}).
    Json,
}

#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub quiet: bool,
    pub width: usize,
    pub unicode: bool,
    pub color: bool,
    pub json: bool,
}

/// `eprintln!` that does not panic when stderr is gone (a closed pipe, a hung-up
/// terminal): the walk must still reach its clean-up.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
pub(crate) use say;

static LOOK: OnceLock<Look> = OnceLock::new();
/// Lessons before `--from` run silently (a failed check still shows).
static SILENT: AtomicBool = AtomicBool::new(false);

/// The look, passed to the agent (a re-executed hako that never calls `init`).
const LOOK_ENV: &str = "HAKO_LOOK";

pub fn init(quiet: bool) {
    init_with(quiet, ColorWhen::Auto, Format::Text);
}

/// Decides the look for the whole run. Call before any thread or child exists.
pub fn init_with(quiet: bool, when: ColorWhen, format: Format) {
    let term = Term::stderr();
    let json = format == Format::Json;
    let color = !json
        && match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => term.is_term() && std::env::var_os("NO_COLOR").is_none(),
        };
    console::set_colors_enabled_stderr(color);
    console::set_colors_enabled(color);
    let width = term
        .size_checked()
        .map(|(_, w)| w as usize)
        .unwrap_or(100)
        .clamp(40, 110);
    let look = Look {
        quiet,
        width,
        unicode: utf8_locale(),
        color,
        json,
    };
    // The agent inherits the decision (it prints --trace lines of its own). Nothing
    // else runs yet: setting the environment is safe here.
    std::env::set_var(LOOK_ENV, format!("{}{}", u8::from(color), u8::from(json)));
    let _ = LOOK.set(look);
}

pub fn look() -> Look {
    *LOOK.get_or_init(|| {
        let env = std::env::var(LOOK_ENV).unwrap_or_default();
        Look {
            quiet: false,
            width: 100,
            unicode: utf8_locale(),
            color: env.starts_with('1'),
            json: env.get(1..2) == Some("1"),
        }
    })
}

/// Whether the locale says UTF-8 (else the renderer keeps to ASCII).
pub fn utf8_locale() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .map(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
        .unwrap_or(false)
}

pub fn json() -> bool {
    look().json
}

/// Lessons before `--from`: nothing is shown unless a check fails.
pub fn set_silent(on: bool) {
    SILENT.store(on, Ordering::SeqCst);
}

pub fn silent() -> bool {
    SILENT.load(Ordering::SeqCst)
}

/// `console::style`, with the colour decided once at `init`.
pub fn paint<D>(d: D) -> console::StyledObject<D> {
    console::style(d).force_styling(look().color)
}

pub fn dim(s: &str) -> String {
    paint(s).dim().to_string()
}

pub fn bold(s: &str) -> String {
    paint(s).bold().to_string()
}

/// One JSON object, one line, on stderr.
pub fn emit(v: &serde_json::Value) {
    say!("{v}");
}

fn out(s: &str) {
    let l = look();
    if !l.quiet && !l.json && !silent() {
        say!("{}", ascii(s));
    }
}

/// When the locale is not UTF-8, the few symbols hako's own text uses, in ASCII
/// (box-drawing rules, arrows, dots); other text is left as it is.
pub fn ascii(s: &str) -> std::borrow::Cow<'_, str> {
    if look().unicode || s.is_ascii() {
        return s.into();
    }
    transliterate(s).into()
}

pub fn transliterate(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '─' | '━' | '—' | '–' => o.push('-'),
            '│' => o.push('|'),
            '·' | '•' => o.push('.'),
            '…' => o.push_str("..."),
            '→' | '⟶' => o.push_str("->"),
            '←' => o.push_str("<-"),
            '↓' => o.push('v'),
            '×' => o.push('x'),
            'µ' => o.push('u'),
            '≠' => o.push_str("!="),
            '≤' => o.push_str("<="),
            '≥' => o.push_str(">="),
            '✔' => o.push_str("[ok]"),
            '✘' => o.push_str("[FAIL]"),
            '“' | '”' => o.push('"'),
            '‘' | '’' => o.push('\''),
            c => o.push(c),
        }
    }
    o
}

/// Wraps text to `width` display columns at the legal break points of UAX #14
/// (see [`crate::ui::wrap`]).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    crate::ui::wrap::wrap(text, width)
}

/// A lesson's Markdown (a section of "explain more"), rendered for stderr: styled with
/// colour, and without Markdown marks when there is none.
pub fn markdown(md: &str) {
    let l = look();
    let lines = crate::ui::markdown::render(
        md,
        crate::ui::markdown::Look {
            width: l.width,
            color: l.color,
            unicode: l.unicode,
        },
    );
    for line in lines {
        out(&line);
    }
}

pub fn header(i: usize, n: usize, id: &str, title: &str) {
    out("");
    let rule = if look().unicode { "─" } else { "-" };
    let head = format!("[{i}/{n}] {title}  ({id})");
    out(&paint(&head).bold().cyan().to_string());
    out(&rule.repeat(measure_text_width(&head).min(look().width)));
}

pub fn paragraph(text: &str) {
    for l in wrap(text, look().width) {
        out(&l);
    }
}

/// One bullet of a list: the text wrapped under itself, after the bullet.
pub fn bullet(text: &str) {
    let mark = if look().unicode { "•" } else { "-" };
    for (i, l) in wrap(text, look().width.saturating_sub(2))
        .iter()
        .enumerate()
    {
        if i == 0 {
            out(&format!("{mark} {l}"));
        } else {
            out(&format!("  {l}"));
        }
    }
}

pub fn shell_block(label: &str, text: &str) {
    out("");
    out(&dim(label));
    for l in text.lines() {
        let styled = if l.trim_start().starts_with('#') {
            paint(format!("  {l}")).dim().to_string()
        } else {
            paint(format!("  {l}")).yellow().to_string()
        };
        out(&styled);
    }
}

pub fn did(label: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    out("");
    out(&dim(label));
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
        paint(m).green().to_string()
    } else {
        paint(m).red().bold().to_string()
    }
}

/// Evidence as aligned rows: mark, label, what was seen, what it was compared with.
pub fn check(label: &str, c: &Check, force: bool) {
    let show = |s: &str| {
        if !look().json && (force || (!look().quiet && !silent())) {
            say!("{}", ascii(s));
        }
    };
    show("");
    show(&dim(label));
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
            paint(format!("  ({})", r.compared)).dim().to_string()
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
/// (indicatif's own rule, checked here too), with --quiet, in JSON and in silent
/// lessons. `len` unknown: a spinner with the count.
pub fn bytes_bar(len: Option<u64>, msg: String) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    if !bar_shown() {
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

fn bar_shown() -> bool {
    let l = look();
    !l.quiet && !l.json && !silent() && Term::stderr().is_term()
}

/// A line of narration; in JSON, `{"note": …}` (unless silent or quiet).
pub fn note(s: &str) {
    let l = look();
    if l.json {
        if !l.quiet && !silent() {
            emit(&serde_json::json!({ "note": console::strip_ansi_codes(s) }));
        }
        return;
    }
    out(s);
}

pub fn blank() {
    out("");
}

/// Errors are shown even with --quiet (for hako's own failure, 125).
pub fn error(s: &str) {
    error_code(s, 125);
}

/// An error and the exit code it leads to; in JSON, `{"error": …, "exit": code}`.
pub fn error_code(s: &str, code: i32) {
    if look().json {
        emit(&serde_json::json!({ "error": s, "exit": code }));
        return;
    }
    let prefix = paint("hako:").red().bold().to_string();
    for (i, l) in wrap(&ascii(s), look().width.saturating_sub(6))
        .iter()
        .enumerate()
    {
        if i == 0 {
            say!("{prefix} {l}");
        } else {
            say!("      {l}");
        }
    }
}

/// One traced system call, as strace would write it, and where to read about it.
/// The agent prints these too (it inherits --trace), before `init` ever ran there.
pub fn trace_line(call: &str, man: &str) {
    if silent() {
        return;
    }
    if look().json {
        emit(&serde_json::json!({ "trace": call, "man": man }));
        return;
    }
    let arrow = if utf8_locale() { "⟶" } else { "->" };
    say!(
        "{}   {}",
        paint(format!("  {arrow} {}", ascii(call))).magenta(),
        paint(format!("man {man}")).dim()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_fallbacks_keep_other_text() {
        assert_eq!(
            transliterate("── a → b … ✔ ✘ ──"),
            "-- a -> b ... [ok] [FAIL] --"
        );
        assert_eq!(transliterate("箱 · x"), "箱 . x");
    }
}
