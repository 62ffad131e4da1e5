//! A check's evidence: rows of what was read, where from, and whether it holds. Lessons
//! fill it; the renderer and `--format json` show it.

/// What a check read, where from, what it was compared with, and whether it holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub label: String,
    pub seen: String,
    pub compared: String,
    pub ok: bool,
}

impl Row {
    pub fn new(
        label: impl Into<String>,
        seen: impl Into<String>,
        compared: impl Into<String>,
        ok: bool,
    ) -> Row {
        Row {
            label: label.into(),
            seen: seen.into(),
            compared: compared.into(),
            ok,
        }
    }
}

/// A lesson's evidence, and the hint to show when it does not hold.
#[derive(Debug, Clone, Default)]
pub struct Check {
    pub rows: Vec<Row>,
    pub hint: String,
}

impl Check {
    pub fn new(hint: impl Into<String>) -> Check {
        Check {
            rows: vec![],
            hint: hint.into(),
        }
    }
    pub fn row(
        &mut self,
        label: impl Into<String>,
        seen: impl Into<String>,
        compared: impl Into<String>,
        ok: bool,
    ) {
        self.rows.push(Row::new(label, seen, compared, ok));
    }
    /// A check with no evidence has not passed.
    pub fn passed(&self) -> bool {
        !self.rows.is_empty() && self.rows.iter().all(|r| r.ok)
    }
}
