//! Hidden, for `bench/run.sh`: with `HAKO_BENCH=1` in its environment, hako prints a few
//! figures on stderr, one `hako-bench: KEY VALUE` line each, even with `--quiet`: each
//! lesson's time (run + check), the stretch from the exec request to the exec stop, and
//! the memory charged to the run's cgroup at that stop. Nothing else changes.

use std::fmt::Display;
use std::sync::OnceLock;

pub const ENV: &str = "HAKO_BENCH";

pub fn on() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os(ENV).is_some())
}

/// Prints one figure, when asked for.
pub fn figure(key: &str, value: impl Display) {
    if on() {
        eprintln!("hako-bench: {key} {value}");
    }
}

/// Microseconds since `t0`.
pub fn us(t0: std::time::Instant) -> u128 {
    t0.elapsed().as_micros()
}
