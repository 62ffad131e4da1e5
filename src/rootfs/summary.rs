//! What an extraction wrote, in a learner's words.

use super::extract;
use crate::ui::i18n::tf;

/// The lines that tell what an extraction wrote (and what it left out on purpose).
pub fn summary(s: &extract::Stats) -> Vec<String> {
    let mut v = vec![tf(
        "rootfs.did_stats",
        &[
            ("files", &s.files),
            ("dirs", &s.dirs),
            ("symlinks", &s.symlinks),
            ("hardlinks", &s.hardlinks),
            ("bytes", &indicatif::HumanBytes(s.bytes)),
        ],
    )];
    if !s.devices.is_empty() {
        let mut names = s
            .devices
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if s.devices.len() > 5 {
            names.push_str(", …");
        }
        v.push(tf(
            "rootfs.did_devices",
            &[("n", &s.devices.len()), ("names", &names)],
        ));
    }
    v
}
