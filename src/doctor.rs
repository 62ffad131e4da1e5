//! `hako doctor`: is this machine ready for `sudo hako`? Runs without root, changes
//! nothing, and lists every gap at once, for an instructor preparing a room.
//!
//! It asks the preflight lesson (the walk's own first stage) what it sees, so the
//! two never disagree, and adds what preflight takes for granted: the per-user
//! namespace limits in /proc/sys/user. Exit 0 exactly when every row holds, root
//! included: the default walk would then get past preflight here. Otherwise exit 1.
//! Docker and registries are reported for information only and never contacted.

use crate::lessons::preflight::{Preflight, NEEDED_NS};
use crate::lessons::{Check, Lesson};
use crate::rootfs::Source;
use crate::ui::i18n::{t, tf};
use std::io::Write;

/// The namespaces the hardened walk adds to the plain one.
const HARDEN_NS: [&str; 2] = ["user", "cgroup"];

/// /proc/sys/user/max_<ns>_namespaces for each of `names` that is 0 (none may be made).
fn zero_limits(names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .filter_map(|n| {
            let file = format!("/proc/sys/user/max_{n}_namespaces");
            let v = std::fs::read_to_string(&file).ok()?;
            (v.trim() == "0").then(|| (n.to_string(), file))
        })
        .collect()
}

/// The rows, the information lines, and the hints of the failed rows.
pub fn examine(
    source: &Source,
    harden: bool,
    pids: Option<u64>,
    net: bool,
) -> (Check, Vec<String>) {
    let opts = crate::walk::Options {
        harden,
        pids,
        net,
        ..crate::walk::Options::quiet(source.clone())
    };
    let mut st = crate::walk::Context::new(opts);
    let mut info = match Preflight.run(&mut st) {
        Ok(lines) => lines,
        Err(e) => vec![e.msg],
    };
    let mut c = Preflight.check(&mut st);
    let mut names: Vec<&str> = NEEDED_NS.to_vec();
    if harden {
        let offered: Vec<String> = std::fs::read_dir("/proc/self/ns")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let lack: Vec<&str> = HARDEN_NS
            .iter()
            .copied()
            .filter(|n| !offered.iter().any(|o| o == n))
            .collect();
        c.row(
            t("doctor.row_harden_ns"),
            HARDEN_NS.join(" "),
            if lack.is_empty() {
                t("pre.ns_all").to_string()
            } else {
                tf("pre.ns_missing", &[("list", &lack.join(" "))])
            },
            lack.is_empty(),
        );
        names.extend(HARDEN_NS);
    }
    let zero = zero_limits(&names);
    c.row(
        t("doctor.row_max_ns"),
        "/proc/sys/user/max_*_namespaces",
        if zero.is_empty() {
            t("doctor.max_ns_ok").to_string()
        } else {
            let list: Vec<String> = zero.iter().map(|(_, f)| f.clone()).collect();
            tf("doctor.max_ns_zero", &[("list", &list.join(" "))])
        },
        zero.is_empty(),
    );
    if !matches!(source, Source::Docker(_)) {
        info.retain(|l| !l.starts_with("docker"));
        let sock = crate::rootfs::docker::socket()
            .unwrap_or_else(|_| std::path::PathBuf::from("/var/run/docker.sock"));
        info.push(tf(
            "doctor.docker_info",
            &[
                ("sock", &sock.display()),
                (
                    "state",
                    &if sock.exists() {
                        t("doctor.present")
                    } else {
                        t("doctor.absent")
                    },
                ),
            ],
        ));
    }
    info.push(t("doctor.registry_info").to_string());
    (c, info)
}

/// What to do about each failed row, in the order of the rows (matched by label, as
/// preflight names its rows).
fn fixes(c: &Check) -> Vec<String> {
    let mut out = vec![];
    for r in c.rows.iter().filter(|r| !r.ok) {
        let l = r.label.as_str();
        let fix = if l == t("pre.row_root") {
            t("doctor.fix_root").to_string()
        } else if l == t("pre.row_cgroup") {
            t("pre.hint_cgroup").to_string()
        } else if l == t("pre.row_tmp") {
            tf(
                "pre.hint_noexec",
                &[("path", &crate::rootfs::tmpdir().display())],
            )
        } else if l == t("pre.row_nft") {
            t("pre.nft_hint").to_string()
        } else if l == t("pre.row_source") {
            t("doctor.fix_source").to_string()
        } else if l == t("pre.row_ns")
            || l == t("doctor.row_harden_ns")
            || l == t("doctor.row_max_ns")
        {
            t("doctor.fix_ns").to_string()
        } else {
            c.hint.clone()
        };
        out.push(format!("{}: {fix}", r.label));
    }
    out
}

/// `hako doctor`: prints the report on stdout; 0 when ready, 1 when not.
pub fn main(source: &Source, harden: bool, pids: Option<u64>, net: bool, color: bool) -> i32 {
    let (c, info) = examine(source, harden, pids, net);
    let unicode = crate::ui::render::utf8_locale();
    let st = |s: console::Style| s.force_styling(color);
    let width = console::Term::stdout()
        .size_checked()
        .map(|(_, w)| usize::from(w).clamp(40, 110))
        .unwrap_or(80);
    let mut lines = vec![
        st(console::Style::new().bold())
            .apply_to(t("doctor.title"))
            .to_string(),
        String::new(),
    ];
    let lw = c
        .rows
        .iter()
        .map(|r| console::measure_text_width(&r.label))
        .max()
        .unwrap_or(0);
    for r in &c.rows {
        let mark = match (r.ok, unicode) {
            (true, true) => st(console::Style::new().green()).apply_to("✔").to_string(),
            (true, false) => "[ok]".to_string(),
            (false, true) => st(console::Style::new().red().bold())
                .apply_to("✘")
                .to_string(),
            (false, false) => "[FAIL]".to_string(),
        };
        let pad = " ".repeat(lw - console::measure_text_width(&r.label));
        let cmp = if r.compared.is_empty() {
            String::new()
        } else {
            st(console::Style::new().dim())
                .apply_to(format!("  ({})", r.compared))
                .to_string()
        };
        lines.push(format!(
            "  {mark} {}{pad}  {}{cmp}",
            r.label,
            crate::ui::sanitize::clean(&r.seen)
        ));
    }
    lines.push(String::new());
    lines.push(t("doctor.info").to_string());
    let bullet = if unicode { "•" } else { "-" };
    for l in &info {
        for (i, w) in crate::ui::wrap::wrap(&crate::ui::sanitize::clean(l), width - 4)
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 { bullet } else { " " };
            lines.push(format!("  {lead} {w}"));
        }
    }
    lines.push(String::new());
    let gaps = fixes(&c);
    if gaps.is_empty() {
        lines.push(
            st(console::Style::new().green().bold())
                .apply_to(t("doctor.ready"))
                .to_string(),
        );
    } else {
        lines.push(
            st(console::Style::new().red().bold())
                .apply_to(tf("doctor.gaps", &[("n", &gaps.len())]))
                .to_string(),
        );
        for g in &gaps {
            for (i, w) in crate::ui::wrap::wrap(&crate::ui::sanitize::clean(g), width - 4)
                .into_iter()
                .enumerate()
            {
                let lead = if i == 0 { bullet } else { " " };
                lines.push(format!("  {lead} {w}"));
            }
        }
    }
    let mut out = std::io::stdout().lock();
    for l in lines {
        let l = if unicode {
            l
        } else {
            crate::ui::render::transliterate(&l)
        };
        if writeln!(out, "{l}").is_err() {
            break;
        }
    }
    i32::from(!gaps.is_empty())
}
