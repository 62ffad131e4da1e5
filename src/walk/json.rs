//! `--format json`: one JSON object per lesson on stderr, for the tooling of workshops
//! and for CI. Every other line hako writes is then a JSON object too (`{"note"}`,
//! `{"trace", "man"}`, `{"error", "exit"}`, and `{"exit"}` at the end), while stdout
//! stays the command's.

use crate::ui::evidence::{Check, Row};
use serde::Serialize;

/// What one lesson showed, in the order a learner reads it.
#[derive(Debug, Default, Serialize)]
pub struct LessonRecord {
    /// 1-based position in the walk, and the walk's length.
    pub lesson: usize,
    pub of: usize,
    pub id: String,
    pub title: String,
    /// The equivalent shell commands, with this run's values.
    pub shell: String,
    /// What hako did, one line each.
    pub did: Vec<String>,
    /// The evidence read back from the kernel.
    pub evidence: Vec<Row>,
    /// The demonstration's evidence, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demo: Option<Vec<Row>>,
    /// `passed`, `failed` (a check or demonstration did not hold), `error` (the stage
    /// itself failed) or `stopped` (quit or a signal before the end of the lesson).
    pub verdict: &'static str,
    /// The hint, when the verdict is not `passed`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hint: String,
}

impl LessonRecord {
    pub fn evidence(&mut self, c: &Check) {
        self.evidence = c.rows.clone();
        if !c.passed() {
            self.hint = c.hint.clone();
        }
    }

    /// One line, the fields in the order above.
    pub fn emit(&self) {
        if let Ok(line) = serde_json::to_string(self) {
            crate::ui::render::say!("{line}");
        }
    }
}

/// The end of a walk that ended well: `{"exit": code}`.
pub fn exit(code: i32) {
    crate::ui::render::emit(&serde_json::json!({ "exit": code }));
}

/// The summary after the shell: the cgroup's counters and what was isolated.
pub fn summary(counters: &[(String, String)], notes: &[String]) {
    let counters: Vec<serde_json::Value> = counters
        .iter()
        .map(|(k, v)| serde_json::json!({ "name": k, "value": v }))
        .collect();
    crate::ui::render::emit(
        &serde_json::json!({ "summary": { "counters": counters, "notes": notes } }),
    );
}

/// What the clean-up removed.
pub fn cleanup(said: &[String]) {
    crate::ui::render::emit(&serde_json::json!({ "cleanup": said }));
}
