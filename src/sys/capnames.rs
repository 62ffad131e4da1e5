//! Capability names and bits (capabilities(7)), from the `caps` crate rather than a
//! table of our own, and the one copy of Docker's default capability set.

use caps::Capability;
use std::sync::OnceLock;

/// Capability names by bit number without the `CAP_` prefix (`SYS_ADMIN`), for every
/// capability the `caps` crate knows.
fn table() -> &'static [(u8, String)] {
    static TABLE: OnceLock<Vec<(u8, String)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut v: Vec<(u8, String)> = caps::all()
            .into_iter()
            .map(|c| {
                let name = c.to_string();
                let short = name.strip_prefix("CAP_").unwrap_or(&name).to_string();
                (c.index(), short)
            })
            .collect();
        v.sort();
        v
    })
}

/// The name of capability `bit` (`SYS_CHROOT` for 18), if the crate knows it.
pub fn name(bit: u32) -> Option<&'static str> {
    table()
        .iter()
        .find(|(b, _)| u32::from(*b) == bit)
        .map(|(_, n)| n.as_str())
}

/// The names of the capabilities in `mask`, by bit number.
pub fn names(mask: u64) -> Vec<&'static str> {
    table()
        .iter()
        .filter(|(b, _)| mask & (1u64 << b) != 0)
        .map(|(_, n)| n.as_str())
        .collect()
}

/// The bit of one capability, as a mask.
pub fn bit(c: Capability) -> u64 {
    c.bitmask()
}

/// Docker's default capabilities (moby `oci/caps/defaults.go`).
pub const DOCKER_DEFAULT: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FOWNER,
    Capability::CAP_FSETID,
    Capability::CAP_KILL,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_NET_RAW,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_MKNOD,
    Capability::CAP_AUDIT_WRITE,
    Capability::CAP_SETFCAP,
];

/// Docker's default set as a mask (0xa80425fb).
pub fn docker_mask() -> u64 {
    DOCKER_DEFAULT.iter().fold(0, |m, c| m | c.bitmask())
}

pub use caps::Capability as Cap;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bits_follow_capabilities_7() {
        assert_eq!(name(0), Some("CHOWN"));
        assert_eq!(name(18), Some("SYS_CHROOT"));
        assert_eq!(name(21), Some("SYS_ADMIN"));
        assert_eq!(name(40), Some("CHECKPOINT_RESTORE"));
        assert_eq!(bit(Cap::CAP_SYS_CHROOT), 1 << 18);
        assert_eq!(docker_mask(), 0xa80425fb);
        assert_eq!(names(docker_mask()).len(), 14);
        assert_eq!(names(1 << 27 | 1 << 5), ["KILL", "MKNOD"]);
    }
}
