//! Step 5 of `--harden`: the capability cut, to Docker's default set.

use crate::sys::tracer::trace;
use caps::Capability;
use nix::errno::Errno;

/// Docker's default capability set is kept once, in `capnames`.
pub use crate::sys::capnames::docker_mask;

/// Whether the mask `keep` holds capability `c`: bit `c.index()`, its number in
/// capabilities(7).
fn keeps(keep: u64, c: Capability) -> bool {
    keep & (1 << c.index()) != 0
}

/// Cuts every capability set to `keep` (capabilities(7)): the bounding set one
/// PR_CAPBSET_DROP at a time (which needs CAP_SETPCAP, so it goes first), the ambient set
/// cleared, then capset(2) of effective, permitted and inheritable at once. From here on
/// mount(2) and everything else outside the set fail with EPERM, in this process already.
pub fn cut_caps(keep: u64) -> Result<(), Errno> {
    use caps::{CapSet, CapsHashSet};
    let all = caps::all();
    for c in &all {
        if !keeps(keep, *c) && caps::has_cap(None, CapSet::Bounding, *c).unwrap_or(false) {
            let r = caps::drop(None, CapSet::Bounding, *c).map_err(|_| Errno::last());
            trace(|| format!("prctl(PR_CAPBSET_DROP, {c})"), "2 prctl", &r);
            r?;
        }
    }
    let r = caps::clear(None, CapSet::Ambient).map_err(|_| Errno::last());
    trace(
        || "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)".into(),
        "2 prctl",
        &r,
    );
    r?;
    let set: CapsHashSet = all
        .iter()
        .copied()
        .filter(|c| keeps(keep, *c))
        .collect::<Vec<Capability>>()
        .into_iter()
        .collect();
    let inh: CapsHashSet = Default::default();
    // Effective must stay within permitted at every step: shrink it first.
    for (s, v, name) in [
        (CapSet::Effective, &set, "effective"),
        (CapSet::Permitted, &set, "permitted"),
        (CapSet::Inheritable, &inh, "inheritable"),
    ] {
        let r = caps::set(None, s, v).map_err(|_| Errno::last());
        trace(
            || {
                format!(
                    "capset({name} = {keep:#x})",
                    keep = if name == "inheritable" { 0 } else { keep }
                )
            },
            "2 capset",
            &r,
        );
        r?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::capnames::DOCKER_DEFAULT;
    use std::collections::BTreeSet;

    /// Docker's mask keeps exactly its fourteen capabilities of all the kernel knows,
    /// and drops the ones a container must not hold.
    #[test]
    fn dockers_mask_keeps_its_fourteen_and_drops_the_rest() {
        let keep = docker_mask();
        let kept: BTreeSet<String> = caps::all()
            .into_iter()
            .filter(|c| keeps(keep, *c))
            .map(|c| c.to_string())
            .collect();
        let docker: BTreeSet<String> = DOCKER_DEFAULT.iter().map(|c| c.to_string()).collect();
        assert_eq!(kept, docker);
        for c in [
            Capability::CAP_SYS_ADMIN,
            Capability::CAP_SYS_MODULE,
            Capability::CAP_SYS_PTRACE,
            Capability::CAP_NET_ADMIN,
            Capability::CAP_DAC_READ_SEARCH,
            Capability::CAP_SYS_RAWIO,
        ] {
            assert!(!keeps(keep, c), "{c} kept");
        }
        assert!(keeps(keep, Capability::CAP_NET_BIND_SERVICE));
        assert!(caps::all().into_iter().all(|c| !keeps(0, c)));
    }
}
