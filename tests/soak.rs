//! The soak test, in CI's shorter form: `tests/soak.sh` with 20 walks and 9 interrupted
//! ones (the full form is 200 and 30: `sudo bash tests/soak.sh`).

mod common;
use common::*;

#[test]
#[ignore = "needs root"]
fn soak_leaves_nothing_behind() {
    require_root();
    let out = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/soak.sh"))
        .args(["20", "9"])
        .env("HAKO", HAKO)
        .output()
        .expect("run tests/soak.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("29 passed, 0 failed"), "{text}");
}
