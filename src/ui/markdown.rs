//! The lessons' Markdown, for a terminal: headings, bold and code in their own styles,
//! bullets for lists, code blocks indented; without colour (a pipe, NO_COLOR) the same
//! layout with no Markdown marks at all. Paragraphs are wrapped by [`super::wrap`].
//!
//! A soft line break (a newline inside a paragraph of the source) becomes a space
//! between Latin words and nothing between two Japanese characters, as a browser
//! renders Japanese.

use super::wrap::wrap;
use console::Style;
use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};

/// How to draw: width in columns, colour or not, and whether the locale shows Unicode
/// symbols (a bullet and a rule) or only ASCII.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub width: usize,
    pub color: bool,
    pub unicode: bool,
}

struct Out {
    look: Look,
    lines: Vec<String>,
    /// The inline text of the block being read, styled.
    buf: String,
    last: Option<char>,
    soft: bool,
    attr: Attr,
    /// Open lists: the next number of an ordered one (None for bullets), and the
    /// column where the text of its current item starts.
    lists: Vec<(Option<u64>, usize)>,
    /// The marker of the item whose first line is not written yet.
    marker: Option<String>,
    code: Option<String>,
    quote: usize,
}

impl Out {
    fn text(&mut self, t: &str, code: bool) {
        let Some(first) = t.chars().next() else {
            return;
        };
        if std::mem::take(&mut self.soft) {
            let joined = self.last.is_some_and(|p| !p.is_ascii()) && !first.is_ascii();
            if !joined && !self.buf.is_empty() {
                self.buf.push(' ');
            }
        }
        let mut a = self.attr;
        a.yellow |= code;
        self.buf
            .push_str(&a.style(self.look.color).apply_to(t).to_string());
        self.last = t.chars().next_back();
    }

    fn indent(&self) -> usize {
        self.lists.last().map_or(0, |l| l.1) + 2 * self.quote
    }

    /// Writes the gathered inline text as wrapped lines.
    fn flush(&mut self) {
        let text = std::mem::take(&mut self.buf);
        self.last = None;
        self.soft = false;
        if text.trim().is_empty() && self.marker.is_none() {
            return;
        }
        let ind = self.indent();
        let pad = " ".repeat(ind);
        let first = match self.marker.take() {
            Some(m) => format!(
                "{}{m}",
                " ".repeat(ind.saturating_sub(console::measure_text_width(&m)))
            ),
            None => pad.clone(),
        };
        let width = self.look.width.saturating_sub(ind).max(20);
        for (i, l) in wrap(&text, width).into_iter().enumerate() {
            let lead = if i == 0 { &first } else { &pad };
            self.lines.push(format!("{lead}{l}").trim_end().to_string());
        }
    }

    fn blank(&mut self) {
        if self.lines.last().is_some_and(|l| !l.is_empty()) {
            self.lines.push(String::new());
        }
    }
}

/// What is open around the text being read.
#[derive(Debug, Clone, Copy, Default)]
struct Attr {
    bold: bool,
    italic: bool,
    cyan: bool,
    yellow: bool,
}

impl Attr {
    fn style(self, color: bool) -> Style {
        let mut s = Style::new().force_styling(color);
        if self.bold {
            s = s.bold();
        }
        if self.italic {
            s = s.italic();
        }
        if self.cyan {
            s = s.cyan();
        }
        if self.yellow {
            s = s.yellow();
        }
        s
    }
}

/// The rendered lines of `md`.
pub fn render(md: &str, look: Look) -> Vec<String> {
    let mut o = Out {
        look,
        lines: vec![],
        buf: String::new(),
        last: None,
        soft: false,
        attr: Attr::default(),
        lists: vec![],
        marker: None,
        code: None,
        quote: 0,
    };
    for ev in Parser::new(md) {
        match ev {
            Event::Start(Tag::Heading { level, .. }) => {
                o.flush();
                o.blank();
                o.attr.bold = true;
                o.attr.cyan = level == HeadingLevel::H1;
            }
            Event::End(TagEnd::Heading(level)) => {
                o.attr = Attr::default();
                let ind = o.indent();
                let width = o.look.width.saturating_sub(ind);
                let text = std::mem::take(&mut o.buf);
                o.last = None;
                o.soft = false;
                let plain = console::strip_ansi_codes(&text).to_string();
                for l in wrap(&text, width) {
                    o.lines.push(format!("{}{l}", " ".repeat(ind)));
                }
                if level == HeadingLevel::H1 {
                    let rule = if o.look.unicode { "─" } else { "-" };
                    let n = console::measure_text_width(&plain).min(width);
                    o.lines.push(rule.repeat(n));
                }
            }
            Event::Start(Tag::Paragraph) if o.marker.is_none() => {
                o.flush();
                if o.lists.is_empty() {
                    o.blank();
                }
            }
            Event::End(TagEnd::Paragraph) => o.flush(),
            Event::Start(Tag::List(start)) => {
                o.flush();
                if o.lists.is_empty() {
                    o.blank();
                }
                let at = o.lists.last().map_or(0, |l| l.1);
                o.lists.push((start, at));
            }
            Event::End(TagEnd::List(_)) => {
                o.flush();
                o.lists.pop();
            }
            Event::Start(Tag::Item) => {
                o.flush();
                let bullet = if o.look.unicode { "•" } else { "-" };
                let outer = match o.lists.len() {
                    n if n >= 2 => o.lists[n - 2].1,
                    _ => 0,
                };
                if let Some((num, at)) = o.lists.last_mut() {
                    let m = match num {
                        Some(n) => {
                            *n += 1;
                            format!("{}. ", *n - 1)
                        }
                        None => format!("{bullet} "),
                    };
                    *at = outer + console::measure_text_width(&m);
                    o.marker = Some(m);
                }
            }
            Event::End(TagEnd::Item) => o.flush(),
            Event::Start(Tag::BlockQuote(_)) => {
                o.flush();
                o.blank();
                o.quote += 1;
            }
            Event::End(TagEnd::BlockQuote(_)) => {
                o.flush();
                o.quote -= 1;
            }
            Event::Start(Tag::CodeBlock(_)) => {
                o.flush();
                if o.lists.is_empty() {
                    o.blank();
                }
                o.code = Some(String::new());
            }
            Event::End(TagEnd::CodeBlock) => {
                let code = o.code.take().unwrap_or_default();
                let pad = " ".repeat(o.indent() + 4);
                let st = Style::new().force_styling(o.look.color).yellow();
                for l in code.trim_end_matches('\n').lines() {
                    let l = if l.is_empty() {
                        String::new()
                    } else {
                        format!("{pad}{}", st.apply_to(l))
                    };
                    o.lines.push(l);
                }
            }
            Event::Start(Tag::Strong) => o.attr.bold = true,
            Event::End(TagEnd::Strong) => o.attr.bold = false,
            Event::Start(Tag::Emphasis) => o.attr.italic = true,
            Event::End(TagEnd::Emphasis) => o.attr.italic = false,
            Event::Text(t) => match o.code.as_mut() {
                Some(c) => c.push_str(&t),
                None => o.text(&t, false),
            },
            Event::Code(t) => o.text(&t, true),
            Event::SoftBreak => o.soft = true,
            Event::HardBreak => {
                o.buf.push('\n');
                o.last = None;
            }
            Event::Rule => {
                o.flush();
                o.blank();
                let rule = if o.look.unicode { "─" } else { "-" };
                o.lines.push(rule.repeat(o.look.width.min(40)));
            }
            Event::Html(t) | Event::InlineHtml(t) => o.text(&t, false),
            _ => {}
        }
    }
    o.flush();
    while o.lines.last().is_some_and(|l| l.is_empty()) {
        o.lines.pop();
    }
    while o.lines.first().is_some_and(|l| l.is_empty()) {
        o.lines.remove(0);
    }
    o.lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Look = Look {
        width: 60,
        color: false,
        unicode: true,
    };

    #[test]
    fn plain_has_no_markdown_marks() {
        let md = "# Title\n\nSome **bold** and `code` here.\n\n## Part\n\n- one\n- two\n\n```sh\necho hi\n```\n";
        let l = render(md, PLAIN);
        let all = l.join("\n");
        assert!(
            !all.contains("**") && !all.contains("```") && !all.contains('`'),
            "{all}"
        );
        assert!(l.iter().all(|x| !x.starts_with('#')), "{all}");
        assert_eq!(l[0], "Title");
        assert!(l.contains(&"Some bold and code here.".to_string()), "{all}");
        assert!(l.contains(&"• one".to_string()), "{all}");
        assert!(l.contains(&"    echo hi".to_string()), "{all}");
    }

    #[test]
    fn soft_breaks_join_japanese_without_a_space() {
        let l = render("日本語の文が\n続きます。Latin words\nare spaced.", PLAIN);
        assert_eq!(l, vec!["日本語の文が続きます。Latin words are spaced."]);
        let l = render("`memory.max`\nに書きます。", PLAIN);
        assert_eq!(l, vec!["memory.max に書きます。"]);
    }

    #[test]
    fn colour_styles_bold_and_code() {
        let look = Look {
            color: true,
            ..PLAIN
        };
        let all = render("a **b** `c`", look).join("\n");
        assert!(all.contains("\x1b[1m"), "{all:?}");
        assert!(all.contains("\x1b[33m"), "{all:?}");
        assert_eq!(console::strip_ansi_codes(&all), "a b c");
    }

    #[test]
    fn list_items_wrap_under_their_text() {
        let look = Look { width: 24, ..PLAIN };
        let l = render(
            "- **CAP_SYS_ADMIN: mount(2).** Root inside can mount proc",
            look,
        );
        assert!(l[0].starts_with("• CAP_SYS_ADMIN"), "{l:?}");
        assert!(l[1..].iter().all(|x| x.starts_with("  ")), "{l:?}");
        let l = render("1. one two three four five six seven eight\n2. b", look);
        assert!(l[0].starts_with("1. one"), "{l:?}");
        assert!(
            l[1].starts_with("   ") && !l[1].starts_with("    "),
            "{l:?}"
        );
        assert!(
            l.iter().all(|x| console::measure_text_width(x) <= 24),
            "{l:?}"
        );
        assert_eq!(l.last().unwrap(), "2. b");
    }
}
