//! What a practice run reports about each task: with `--format json`, one JSON line on
//! stderr per state change (`started`, `passed`, `failed`, `solved`), at the top level,
//! so that an instructor can collect a room's progress from a shared file; and the
//! learner's progress, saved under `/var/lib/hako` (see `progress.rs`).

use serde::Serialize;

/// One task's state change.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    pub task: String,
    pub state: &'static str,
    pub ok: bool,
    pub attendee: String,
    pub host: String,
    pub version: &'static str,
    /// UTC, RFC 3339 (seconds).
    pub time: String,
    /// How many steps of the hint ladder the learner had seen for this task.
    pub hint: usize,
    /// From the prompt's detection to this line (passed and failed only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

/// The learner's name: `--name`, else the user who ran sudo, else the user.
pub fn attendee(name: Option<&str>) -> String {
    let raw = name
        .map(str::to_string)
        .or_else(|| std::env::var("SUDO_USER").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("USER").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "root".to_string());
    crate::ui::sanitize::clean(&raw).into_owned()
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (the civil calendar, proleptic
/// Gregorian, from days since 1970-01-01).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Event {
    pub fn new(task: &str, state: &'static str, attendee: &str, hint: usize) -> Event {
        Event {
            task: task.to_string(),
            state,
            ok: matches!(state, "passed" | "solved"),
            attendee: attendee.to_string(),
            host: crate::ui::sanitize::clean(&crate::sys::ns::hostname()).into_owned(),
            version: env!("CARGO_PKG_VERSION"),
            time: rfc3339(now_secs()),
            hint,
            latency_ms: None,
        }
    }

    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The p-th percentile (0–100) of `v`, nearest rank.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_000_000), "2026-11-30T00:53:20Z");
    }

    #[test]
    fn an_event_is_one_json_line_with_every_field() {
        let e = Event::new("proc", "passed", "ada", 2);
        let v: serde_json::Value = serde_json::from_str(&e.line()).unwrap();
        for k in [
            "task", "state", "ok", "attendee", "host", "version", "time", "hint",
        ] {
            assert!(v.get(k).is_some(), "{k} missing: {v}");
        }
        assert_eq!(v["ok"], true);
        assert_eq!(v["hint"], 2);
        assert!(!e.line().contains('\n'));
        assert!(!Event::new("proc", "failed", "ada", 0).ok);
        assert!(!Event::new("proc", "started", "ada", 0).ok);
    }

    #[test]
    fn percentiles() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 95.0), 5.0);
        assert_eq!(percentile(&[], 95.0), 0.0);
    }
}
