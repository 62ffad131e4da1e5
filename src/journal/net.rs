//! The host-side network changes of the `--net` lesson, as the journal records them
//! (before each is made) and undoes them: the host end of the veth pair, the bridge
//! (only when the run created it), the run's nftables table, and each interface's
//! `forwarding` value that the run turned on, with the value to put back.
//!
//! Every name is derived from the run's UUID ([`names`]), so a tampered journal cannot
//! make hako delete another interface or table: [`vet`] accepts only those names, and
//! forwarding values of `0` or `1` on a valid interface name other than `all` and
//! `default`.

use crate::sys::net::{self, NftError};
use crate::ui::i18n::tf;
use serde::{Deserialize, Serialize};

/// One change to the network, recorded before it is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetChange {
    /// An interface this run created on the host: its veth end, or its bridge.
    Link { name: String },
    /// This run's nftables table (family `ip`).
    Table { name: String },
    /// An interface's `net.ipv4.conf.IF.forwarding`, turned on; `was` goes back.
    Forwarding { ifname: String, was: String },
}

/// The names of run `uuid`'s network things (interface names fit in 15 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The bridge on the host: `hk-<8 hex>-br`.
    pub bridge: String,
    /// The veth end that stays on the host: `hk-<8 hex>-h`.
    pub host_end: String,
    /// The veth end that moves into the container (renamed `eth0` there): `hk-<8 hex>-c`.
    pub peer: String,
    /// The nftables table: `hako-<8 hex>`.
    pub table: String,
}

/// The names run `uuid` uses.
pub fn names(uuid: &str) -> Names {
    let short: String = uuid
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    Names {
        bridge: format!("hk-{short}-br"),
        host_end: format!("hk-{short}-h"),
        peer: format!("hk-{short}-c"),
        table: format!("hako-{short}"),
    }
}

/// Whether `c`, found in run `uuid`'s journal, names only what that run could change.
pub fn vet(uuid: &str, c: &NetChange) -> bool {
    let n = names(uuid);
    match c {
        NetChange::Link { name } => *name == n.bridge || *name == n.host_end,
        NetChange::Table { name } => *name == n.table,
        NetChange::Forwarding { ifname, was } => {
            net::valid_ifname(ifname)
                && ifname != "all"
                && ifname != "default"
                && matches!(was.as_str(), "0" | "1")
        }
    }
}

/// What undoing a change came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undone {
    /// It was gone already (or never made).
    Nothing,
    /// Undone; the sentence.
    Done(String),
    /// It could not be undone; the sentence.
    Failed(String),
}

/// Undoes `c` in this process's network namespace.
pub fn undo(c: &NetChange) -> Undone {
    match c {
        NetChange::Link { name } => {
            let r = net::Rtnl::host().and_then(|mut r| r.delete_link(name));
            match r {
                Ok(()) => Undone::Done(tf("cleanup.net_link", &[("name", name)])),
                Err(crate::sys::Errno::ENODEV) => Undone::Nothing,
                Err(e) => Undone::Failed(tf(
                    "cleanup.net_failed",
                    &[("what", name), ("why", &crate::sys::explain(e))],
                )),
            }
        }
        NetChange::Table { name } => {
            if net::nft(&["list", "table", "ip", name], None).is_err() {
                // Not there (or no nft to have made it).
                return Undone::Nothing;
            }
            match net::nft(&["delete", "table", "ip", name], None) {
                Ok(_) => Undone::Done(tf("cleanup.net_table", &[("name", name)])),
                Err(NftError::Missing) => Undone::Nothing,
                Err(NftError::Refused(why)) => Undone::Failed(tf(
                    "cleanup.net_failed",
                    &[("what", name), ("why", &crate::ui::sanitize::clean(&why))],
                )),
            }
        }
        NetChange::Forwarding { ifname, was } => {
            let Some(now) = net::forwarding(ifname) else {
                return Undone::Nothing;
            };
            if now == *was {
                return Undone::Nothing;
            }
            let path = net::forwarding_path(ifname);
            match net::set_forwarding(ifname, was) {
                Ok(()) => Undone::Done(tf(
                    "cleanup.net_forwarding",
                    &[("path", &path.display()), ("was", was)],
                )),
                Err(e) => Undone::Failed(tf(
                    "cleanup.net_failed",
                    &[("what", &path.display()), ("why", &crate::sys::explain(e))],
                )),
            }
        }
    }
}

/// Whether `c` is still there to undo (in this network namespace).
pub fn remains(c: &NetChange) -> bool {
    match c {
        NetChange::Link { name } => net::Rtnl::host()
            .and_then(|mut r| r.link(name))
            .is_ok_and(|l| l.is_some()),
        NetChange::Table { name } => net::nft(&["list", "table", "ip", name], None).is_ok(),
        NetChange::Forwarding { ifname, was } => net::forwarding(ifname).is_some_and(|v| v != *was),
    }
}

/// How a change is named in a sentence.
pub fn shown(c: &NetChange) -> String {
    let clean = |s: &str| crate::ui::sanitize::clean(s).into_owned();
    match c {
        NetChange::Link { name } | NetChange::Table { name } => clean(name),
        NetChange::Forwarding { ifname, .. } => {
            clean(&net::forwarding_path(ifname).display().to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "0d1a2b3c-0000-4000-8000-00000000abcd";

    #[test]
    fn names_fit_and_derive_from_the_uuid() {
        let n = names(U);
        assert_eq!(n.bridge, "hk-0d1a2b3c-br");
        assert_eq!(n.host_end, "hk-0d1a2b3c-h");
        assert_eq!(n.peer, "hk-0d1a2b3c-c");
        assert_eq!(n.table, "hako-0d1a2b3c");
        for name in [&n.bridge, &n.host_end, &n.peer] {
            assert!(net::valid_ifname(name), "{name}");
        }
    }

    #[test]
    fn only_this_runs_names_are_accepted() {
        let link = |s: &str| NetChange::Link { name: s.into() };
        assert!(vet(U, &link("hk-0d1a2b3c-br")));
        assert!(vet(U, &link("hk-0d1a2b3c-h")));
        for bad in ["eth0", "lo", "docker0", "hk-ffffffff-br", "hk-0d1a2b3c-c"] {
            assert!(!vet(U, &link(bad)), "{bad}");
        }
        let table = |s: &str| NetChange::Table { name: s.into() };
        assert!(vet(U, &table("hako-0d1a2b3c")));
        assert!(!vet(U, &table("filter")));
        assert!(!vet(U, &table("hako-0d1a2b3c; flush ruleset")));
        let fwd = |i: &str, w: &str| NetChange::Forwarding {
            ifname: i.into(),
            was: w.into(),
        };
        assert!(vet(U, &fwd("eth0", "0")));
        assert!(!vet(U, &fwd("eth0", "2")));
        assert!(!vet(U, &fwd("all", "0")));
        assert!(!vet(U, &fwd("default", "0")));
        assert!(!vet(U, &fwd("../../ip_forward", "0")));
    }
}
