//! net (optional, `--net`): a veth pair with one end in the container's network
//! namespace, a bridge on the host with an address, the container's address and default
//! route, forwarding on the bridge and the uplink only, a masquerade rule in an
//! nftables table of hako's own, and `/etc/resolv.conf` in the rootfs. Configured from
//! outside, through rtnetlink (`crate::sys::net`), right after the namespaces lesson.

use super::context::Context;
use super::fragment::{quote, Fragment, ScriptCtx};
use super::lesson::Lesson;
use super::view::View;
use crate::error::{Error, Result};
use crate::journal::net::{names, Names, NetChange};
use crate::journal::Item;
use crate::spec::Subnet;
use crate::sys::net::Ipv4Addr;
use crate::sys::net::{self as knet, Rtnl};
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

pub struct Net;

/// Where the automatic subnets are taken from: the /24s of 10.200.0.0/16, in order.
pub const AUTO_BASE: [u8; 2] = [10, 200];

/// The name the container's end takes inside.
pub const INSIDE_NAME: &str = "eth0";

/// The first /24 of 10.200.0.0/16 that touches none of `taken` (the host's routes and
/// addresses, as network/prefix; the default route, /0, touches everything and is
/// left out).
pub fn pick(taken: &[(Ipv4Addr, u8)]) -> Option<Subnet> {
    (0..=255u8)
        .map(|n| Subnet {
            net: Ipv4Addr::new(AUTO_BASE[0], AUTO_BASE[1], n, 0),
            prefix: 24,
        })
        .find(|s| {
            !taken
                .iter()
                .filter(|(_, p)| *p > 0)
                .any(|(ip, p)| s.overlaps(*ip, *p))
        })
}

/// What the host has: its routes and addresses (what a subnet must avoid) and the
/// interface of its default route.
struct Host {
    taken: Vec<(Ipv4Addr, u8)>,
    uplink: Option<String>,
}

fn read_host() -> std::result::Result<Host, crate::sys::Errno> {
    let mut r = Rtnl::host()?;
    let routes = r.routes()?;
    let addrs = r.addrs()?;
    let links = r.links()?;
    let mut taken: Vec<(Ipv4Addr, u8)> = routes.iter().map(|r| (r.dst, r.prefix)).collect();
    taken.extend(addrs.iter().map(|a| (a.ip, a.prefix)));
    let uplink = routes
        .iter()
        .find(|r| r.prefix == 0)
        .and_then(|r| r.oif)
        .and_then(|i| links.iter().find(|l| l.index == i))
        .map(|l| l.name.clone());
    Ok(Host { taken, uplink })
}

/// What the lesson decided in `run`, for its check and its demonstration.
#[derive(Default)]
struct Notes {
    subnet: Option<Subnet>,
    uplink: Option<String>,
    /// `net.ipv4.ip_forward` before the lesson (it must not change).
    ip_forward: Option<String>,
    /// The name servers written to the rootfs's resolv.conf (empty: none).
    dns: Vec<Ipv4Addr>,
    /// Whether resolv.conf was written.
    resolv_written: bool,
}

/// The lesson's values for its shell text: this run's names, the subnet it will use
/// (or used), the uplink, the container's PID.
struct Values {
    n: Names,
    subnet: Option<Subnet>,
    uplink: Option<String>,
    pid: String,
}

fn values(st: &Context) -> Values {
    let host = read_host().ok();
    let subnet = st
        .opts
        .subnet
        .or_else(|| host.as_ref().and_then(|h| pick(&h.taken)));
    Values {
        n: names(&st.uuid),
        subnet,
        uplink: host.and_then(|h| h.uplink),
        pid: View::of(st)
            .map(|v| v.pid.to_string())
            .unwrap_or_else(|| "$PID".into()),
    }
}

/// The nftables ruleset: one table of hako's own, one NAT chain, one rule.
pub fn ruleset(table: &str, subnet: &str, uplink: &str) -> String {
    format!(
        "table ip {table} {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n    ip saddr {subnet} oifname \"{uplink}\" masquerade\n  }}\n}}\n"
    )
}

/// The shell lines, with `$`-names or this run's values.
fn lines(
    n: &Names,
    subnet: &str,
    bridge_ip: &str,
    inside_ip: &str,
    pid: &str,
    uplink: Option<&str>,
) -> Vec<String> {
    let enter = format!("nsenter --net=/proc/{pid}/ns/net");
    let mut v = vec![
        format!("ip link add {} type bridge", n.bridge),
        format!("ip addr add {bridge_ip} dev {}", n.bridge),
        format!("ip link set {} up", n.bridge),
        format!("ip link add {} type veth peer name {}", n.host_end, n.peer),
        format!("ip link set {} master {} up", n.host_end, n.bridge),
        format!("ip link set {} netns {pid} name {INSIDE_NAME}", n.peer),
        format!("{enter} ip link set lo up"),
        format!("{enter} ip addr add {inside_ip} dev {INSIDE_NAME}"),
        format!("{enter} ip link set {INSIDE_NAME} up"),
        format!(
            "{enter} ip route add default via {}",
            bridge_ip.split('/').next().unwrap_or(bridge_ip)
        ),
    ];
    match uplink {
        Some(up) => {
            v.push(format!(
                "sysctl -w net.ipv4.conf.{}.forwarding=1 net.ipv4.conf.{up}.forwarding=1",
                n.bridge
            ));
            v.push(format!(
                "nft -f - <<EOF\n{}EOF",
                ruleset(&n.table, subnet, up)
            ));
        }
        None => v.push(format!("sysctl -w net.ipv4.conf.{}.forwarding=1", n.bridge)),
    }
    v
}

fn cidr(ip: Ipv4Addr, s: &Subnet) -> String {
    format!("{ip}/{}", s.prefix)
}

impl Lesson for Net {
    fn id(&self) -> &'static str {
        "net"
    }

    fn shell(&self, st: &Context) -> String {
        let v = values(st);
        let (sub, br, ins) = match &v.subnet {
            Some(s) => (s.to_string(), cidr(s.host(1), s), cidr(s.host(2), s)),
            None => ("$SUBNET".into(), "$BRIDGE_IP/24".into(), "$IP/24".into()),
        };
        let mut out = lines(&v.n, &sub, &br, &ins, &v.pid, v.uplink.as_deref()).join("\n");
        out.push_str(&format!(
            "\n# {}\necho nameserver … > {}/etc/resolv.conf",
            t("net.sh_resolv"),
            st.rootfs_shown()
        ));
        out
    }

    /// A background job on the host waits for the container's network namespace, then
    /// configures it; inside, the container waits for its `eth0` before going on. The
    /// clean-up removes the veth (with the namespace), the bridge, the table, and puts
    /// the forwarding values back.
    fn script(&self, sc: &ScriptCtx) -> Vec<Fragment> {
        let Some(given) = sc.net else {
            return vec![];
        };
        let n = Names {
            bridge: "$BR".into(),
            host_end: "$VH".into(),
            peer: "$VC".into(),
            table: "$TABLE".into(),
        };
        let cfg = lines(
            &n,
            "$SUBNET",
            "$BRIDGE_IP/$PREFIX",
            "$IP/$PREFIX",
            "$PID",
            Some("$UPLINK"),
        );
        let subnet = match given {
            Some(s) => format!("SUBNET={s}"),
            None => format!(
                "# {}\nSUBNET=\nfor n in $(seq 0 255); do\n  c={a}.{b}.$n\n  ip -4 route show | grep -q \"^$c\\.\" || ip -4 addr show | grep -q \" $c\\.\" || {{ SUBNET=$c.0/24; break; }}\ndone\n[ -n \"$SUBNET\" ] || {{ say {}; exit 1; }}",
                t("net.sh_pick"),
                quote(t("net.no_free_subnet")),
                a = AUTO_BASE[0],
                b = AUTO_BASE[1]
            ),
        };
        let host = format!(
            "N=${{UUID%%-*}}; BR=hk-$N-br; VH=hk-$N-h; VC=hk-$N-c; TABLE=hako-$N\n{subnet}\nPREFIX=${{SUBNET#*/}}; BASE=${{SUBNET%.*/*}}\nBRIDGE_IP=$BASE.1; IP=$BASE.2\nUPLINK=$(ip -4 route show default | awk '{{for(i=1;i<NF;i++) if($i==\"dev\") print $(i+1); exit}}')\n[ -n \"$UPLINK\" ] || {{ say {no_uplink}; exit 1; }}\nFWD_UP=$(cat /proc/sys/net/ipv4/conf/$UPLINK/forwarding)\nNET_UNDO=\"nft delete table ip $TABLE 2>/dev/null; ip link del $VH 2>/dev/null; ip link del $BR 2>/dev/null; sysctl -qw net.ipv4.conf.$UPLINK.forwarding=$FWD_UP\"\nsay \"net: $SUBNET, bridge $BR ($BRIDGE_IP), container $IP, out through $UPLINK\"\n(\n  # {wait}\n  for i in $(seq 1 200); do\n    for p in $(cat $(echo $CGROUPS | cut -d' ' -f1)/cgroup.procs 2>/dev/null); do\n      [ \"$(readlink /proc/$p/ns/net)\" != \"$(readlink /proc/self/ns/net)\" ] && PID=$p && break 2\n    done\n    sleep 0.05\n  done\n  [ -n \"${{PID:-}}\" ] || exit 1\n  set -e\n{cfg}\n  mkdir -p \"$ROOTFS/etc\"; rm -f \"$ROOTFS/etc/.resolv.conf.walk\"\n  printf '%s\\n' {dns} > \"$ROOTFS/etc/.resolv.conf.walk\"\n  grep '^nameserver' /etc/resolv.conf | grep -v ' 127\\.' >> \"$ROOTFS/etc/.resolv.conf.walk\" 2>/dev/null || true\n  mv -T \"$ROOTFS/etc/.resolv.conf.walk\" \"$ROOTFS/etc/resolv.conf\" 2>/dev/null || true\n) &",
            no_uplink = quote(t("net.no_uplink_script")),
            wait = t("net.sh_wait"),
            dns = quote(&format!("# {}", t("net.sh_resolv"))),
            // Not indented: the here-document's EOF must start its line.
            cfg = cfg.join("\n"),
        );
        vec![
            Fragment::Host(host),
            Fragment::Inside(
                "i=0; until ip route show default 2>/dev/null | grep -q via; do i=$((i+1)); [ $i -lt 200 ] || exit 1; sleep 0.05; done".into(),
            ),
        ]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let pid = View::of(st)
            .filter(|_| st.agent.as_ref().is_some_and(|a| a.pid1.is_some()))
            .map(|v| v.pid)
            .ok_or_else(|| Error::failed(t("net.no_pid1")))?;
        let netns = knet::netns_id().ok_or_else(|| Error::failed(t("net.no_netns")))?;
        let fail = |what: &str, e: crate::sys::Errno| crate::sys::failure(what, e);
        let host = read_host().map_err(|e| fail("RTM_GETROUTE", e))?;
        let n = names(&st.uuid);
        let mut did = vec![];
        let subnet = match st.opts.subnet {
            Some(s) => {
                if let Some((ip, p)) = host
                    .taken
                    .iter()
                    .find(|(ip, p)| *p > 0 && s.overlaps(*ip, *p))
                {
                    return Err(Error::usage(tf(
                        "net.subnet_taken",
                        &[("subnet", &s), ("route", &format!("{ip}/{p}"))],
                    )));
                }
                did.push(tf("net.did_subnet_given", &[("subnet", &s)]));
                s
            }
            None => {
                let s = pick(&host.taken).ok_or_else(|| Error::failed(t("net.no_free_subnet")))?;
                did.push(tf("net.did_subnet_picked", &[("subnet", &s)]));
                s
            }
        };
        let (br_ip, in_ip) = (subnet.host(1), subnet.host(2));
        let notes = Notes {
            subnet: Some(subnet),
            uplink: host.uplink.clone(),
            ip_forward: knet::ip_forward(),
            ..Notes::default()
        };
        *st.scratch.get::<Notes>() = notes;
        let mut r = Rtnl::host().map_err(|e| fail("socket(AF_NETLINK)", e))?;
        let record = |st: &mut Context, change: NetChange| st.record(Item::Net { netns, change });
        // The bridge: made only when absent, removed only if made here.
        let exists = r
            .link(&n.bridge)
            .map_err(|e| fail("RTM_GETLINK", e))?
            .is_some();
        if exists {
            did.push(tf("net.did_bridge_there", &[("name", &n.bridge)]));
        } else {
            record(
                st,
                NetChange::Link {
                    name: n.bridge.clone(),
                },
            )?;
            r.add_bridge(&n.bridge)
                .map_err(|e| fail(&format!("ip link add {} type bridge", n.bridge), e))?;
            did.push(format!("ip link add {} type bridge", n.bridge));
        }
        let has_addr = r
            .addrs()
            .map_err(|e| fail("RTM_GETADDR", e))?
            .iter()
            .any(|a| a.ip == br_ip);
        if exists && !has_addr {
            return Err(Error::failed(tf(
                "net.bridge_no_addr",
                &[("name", &n.bridge), ("ip", &cidr(br_ip, &subnet))],
            )));
        }
        if !has_addr {
            r.add_addr(&n.bridge, br_ip, subnet.prefix)
                .map_err(|e| fail(&format!("ip addr add {br_ip} dev {}", n.bridge), e))?;
            did.push(format!(
                "ip addr add {} dev {}",
                cidr(br_ip, &subnet),
                n.bridge
            ));
        }
        r.set_up(&n.bridge)
            .map_err(|e| fail(&format!("ip link set {} up", n.bridge), e))?;
        did.push(format!("ip link set {} up", n.bridge));
        // The veth pair: journaled by its host end (deleting it deletes both ends).
        record(
            st,
            NetChange::Link {
                name: n.host_end.clone(),
            },
        )?;
        r.add_veth(&n.host_end, &n.peer).map_err(|e| {
            fail(
                &format!("ip link add {} type veth peer name {}", n.host_end, n.peer),
                e,
            )
        })?;
        did.push(format!(
            "ip link add {} type veth peer name {}",
            n.host_end, n.peer
        ));
        r.set_master(&n.host_end, &n.bridge).map_err(|e| {
            fail(
                &format!("ip link set {} master {}", n.host_end, n.bridge),
                e,
            )
        })?;
        r.set_up(&n.host_end)
            .map_err(|e| fail(&format!("ip link set {} up", n.host_end), e))?;
        did.push(format!("ip link set {} master {} up", n.host_end, n.bridge));
        r.move_to(&n.peer, pid, INSIDE_NAME).map_err(|e| {
            fail(
                &format!("ip link set {} netns {pid} name {INSIDE_NAME}", n.peer),
                e,
            )
        })?;
        did.push(format!(
            "ip link set {} netns {pid} name {INSIDE_NAME}",
            n.peer
        ));
        // Inside, from outside: a socket made in the container's network namespace.
        let mut c =
            Rtnl::inside(pid).map_err(|e| fail(&format!("setns(/proc/{pid}/ns/net)"), e))?;
        let inside = |what: String, r: std::result::Result<(), crate::sys::Errno>| {
            r.map(|()| format!("nsenter --net=/proc/{pid}/ns/net {what}"))
                .map_err(|e| fail(&what, e))
        };
        did.push(inside("ip link set lo up".into(), c.set_up("lo"))?);
        did.push(inside(
            format!("ip addr add {} dev {INSIDE_NAME}", cidr(in_ip, &subnet)),
            c.add_addr(INSIDE_NAME, in_ip, subnet.prefix),
        )?);
        did.push(inside(
            format!("ip link set {INSIDE_NAME} up"),
            c.set_up(INSIDE_NAME),
        )?);
        did.push(inside(
            format!("ip route add default via {br_ip}"),
            c.add_default_route(br_ip),
        )?);
        // Forwarding on the bridge and the uplink only (ip_forward rewrites the rest).
        let mut fwd = vec![n.bridge.clone()];
        fwd.extend(host.uplink.clone());
        for ifname in fwd {
            let was = knet::forwarding(&ifname).unwrap_or_default();
            if was == "1" {
                did.push(tf("net.did_fwd_already", &[("name", &ifname)]));
                continue;
            }
            record(
                st,
                NetChange::Forwarding {
                    ifname: ifname.clone(),
                    was: if was == "0" { was.clone() } else { "0".into() },
                },
            )?;
            knet::set_forwarding(&ifname, "1")
                .map_err(|e| fail(&format!("sysctl -w net.ipv4.conf.{ifname}.forwarding=1"), e))?;
            did.push(tf("net.did_fwd", &[("name", &ifname), ("was", &was)]));
        }
        // The masquerade rule, out through the default route's interface.
        match &host.uplink {
            Some(up) => {
                record(
                    st,
                    NetChange::Table {
                        name: n.table.clone(),
                    },
                )?;
                let rules = ruleset(&n.table, &subnet.to_string(), up);
                knet::nft(&["-f", "-"], Some(&rules)).map_err(|e| match e {
                    knet::NftError::Missing => Error::failed(t("net.no_nft")),
                    knet::NftError::Refused(why) => Error::failed(tf(
                        "net.nft_refused",
                        &[("why", &crate::ui::sanitize::clean(&why))],
                    )),
                })?;
                did.push(tf(
                    "net.did_nft",
                    &[("table", &n.table), ("subnet", &subnet), ("uplink", up)],
                ));
            }
            None => did.push(t("net.did_no_uplink").to_string()),
        }
        did.extend(resolv(st));
        Ok(did)
    }

    fn check(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("net.hint"));
        let notes = std::mem::take(st.scratch.get::<Notes>());
        let (Some(view), Some(subnet)) = (View::of(st), notes.subnet) else {
            c.row(t("net.row_inside"), "-", t("net.no_pid1"), false);
            return c;
        };
        let n = names(&st.uuid);
        let (br_ip, in_ip) = (subnet.host(1), subnet.host(2));
        // Inside: read through a netlink socket made in the container's namespace.
        let inside =
            Rtnl::inside(view.pid).and_then(|mut r| Ok((r.links()?, r.addrs()?, r.routes()?)));
        match &inside {
            Ok((links, addrs, routes)) => {
                let shown: Vec<String> = links
                    .iter()
                    .map(|l| {
                        format!(
                            "{} {}",
                            crate::ui::sanitize::clean(&l.name),
                            if l.up { "UP" } else { "DOWN" }
                        )
                    })
                    .collect();
                let ok = links.len() == 2
                    && links.iter().all(|l| l.up)
                    && links.iter().any(|l| l.name == "lo")
                    && links.iter().any(|l| l.name == INSIDE_NAME);
                c.row(
                    t("net.row_inside"),
                    shown.join(", "),
                    tf("net.inside_expect", &[("eth", &INSIDE_NAME)]),
                    ok,
                );
                let eth = links
                    .iter()
                    .find(|l| l.name == INSIDE_NAME)
                    .map(|l| l.index);
                let mine: Vec<String> = addrs
                    .iter()
                    .map(|a| format!("{}/{}", a.ip, a.prefix))
                    .collect();
                c.row(
                    t("net.row_inside_addr"),
                    mine.join(", "),
                    format!("{} ({INSIDE_NAME}), 127.0.0.1/8 (lo)", cidr(in_ip, &subnet)),
                    addrs.iter().any(|a| {
                        Some(a.index) == eth && a.ip == in_ip && a.prefix == subnet.prefix
                    }),
                );
                let gw = routes
                    .iter()
                    .find(|r| r.prefix == 0)
                    .and_then(|r| r.gateway);
                c.row(
                    t("net.row_route"),
                    gw.map_or_else(|| t("net.none").to_string(), |g| format!("default via {g}")),
                    format!("default via {br_ip}"),
                    gw == Some(br_ip),
                );
            }
            Err(e) => c.row(t("net.row_inside"), crate::sys::explain(*e), "-", false),
        }
        // Outside: the host's own view.
        let host = Rtnl::host().and_then(|mut r| Ok((r.links()?, r.addrs()?)));
        match &host {
            Ok((links, addrs)) => {
                let br = links.iter().find(|l| l.name == n.bridge);
                let br_addrs: Vec<String> = addrs
                    .iter()
                    .filter(|a| Some(a.index) == br.map(|b| b.index))
                    .map(|a| format!("{}/{}", a.ip, a.prefix))
                    .collect();
                c.row(
                    tf("net.row_bridge", &[("name", &n.bridge)]),
                    match br {
                        Some(b) => format!(
                            "{} {}",
                            if b.up { "UP" } else { "DOWN" },
                            br_addrs.join(", ")
                        ),
                        None => t("net.absent").to_string(),
                    },
                    format!("UP {}", cidr(br_ip, &subnet)),
                    br.is_some_and(|b| b.up) && br_addrs.contains(&cidr(br_ip, &subnet)),
                );
                let end = links.iter().find(|l| l.name == n.host_end);
                c.row(
                    tf("net.row_host_end", &[("name", &n.host_end)]),
                    match end {
                        Some(e) => format!(
                            "{} {}",
                            if e.up { "UP" } else { "DOWN" },
                            e.master
                                .and_then(|m| links.iter().find(|l| l.index == m))
                                .map_or_else(
                                    || t("net.no_master").to_string(),
                                    |m| { tf("net.master", &[("name", &m.name)]) }
                                )
                        ),
                        None => t("net.absent").to_string(),
                    },
                    format!("UP {}", tf("net.master", &[("name", &n.bridge)])),
                    end.is_some_and(|e| e.up && e.master == br.map(|b| b.index)),
                );
                let leaked =
                    links.iter().any(|l| l.name == n.peer) || addrs.iter().any(|a| a.ip == in_ip);
                c.row(
                    t("net.row_not_on_host"),
                    if leaked {
                        t("net.on_host").to_string()
                    } else {
                        t("net.only_inside").to_string()
                    },
                    t("net.only_inside"),
                    !leaked,
                );
            }
            Err(e) => c.row(t("net.row_bridge"), crate::sys::explain(*e), "-", false),
        }
        // Forwarding: on the bridge and the uplink; ip_forward untouched.
        let mut fwd = vec![n.bridge.clone()];
        fwd.extend(notes.uplink.clone());
        for ifname in &fwd {
            let v = knet::forwarding(ifname).unwrap_or_else(|| "-".into());
            c.row(
                format!("net.ipv4.conf.{ifname}.forwarding"),
                v.clone(),
                "1",
                v == "1",
            );
        }
        let now = knet::ip_forward();
        c.row(
            "net.ipv4.ip_forward",
            now.clone().unwrap_or_else(|| "-".into()),
            tf(
                "net.unchanged",
                &[("v", &notes.ip_forward.clone().unwrap_or_else(|| "-".into()))],
            ),
            now == notes.ip_forward,
        );
        // The rule, as nft lists it.
        match &notes.uplink {
            Some(up) => {
                let listed = knet::nft(&["list", "table", "ip", &n.table], None);
                let rule = listed.as_ref().ok().and_then(|l| {
                    l.lines()
                        .map(str::trim)
                        .find(|l| l.contains("masquerade"))
                        .map(str::to_string)
                });
                let want = format!("ip saddr {subnet} oifname \"{up}\" masquerade");
                c.row(
                    format!("nft list table ip {}", n.table),
                    rule.clone().unwrap_or_else(|| t("net.absent").to_string()),
                    want.clone(),
                    rule.as_deref() == Some(want.as_str()),
                );
            }
            None => c.row(
                t("net.row_nat"),
                t("net.did_no_uplink"),
                t("net.nat_none"),
                true,
            ),
        }
        // The bridge answers: an ICMP echo and a TCP exchange, from inside.
        let ping = knet::ping_from(view.pid, br_ip, std::time::Duration::from_secs(2));
        c.row(
            tf("net.row_ping", &[("ip", &br_ip)]),
            match &ping {
                Ok(d) => tf(
                    "net.ping_reply",
                    &[("ms", &format!("{:.2}", d.as_secs_f64() * 1000.0))],
                ),
                Err(e) => crate::sys::explain(*e),
            },
            t("net.ping_expect"),
            ping.is_ok(),
        );
        let tcp = knet::tcp_round_trip(view.pid, br_ip);
        c.row(
            tf("net.row_tcp", &[("ip", &br_ip)]),
            match &tcp {
                Ok(rt) => tf(
                    "net.tcp_seen",
                    &[
                        ("peer", &rt.seen_by_host.ip()),
                        ("reply", &crate::ui::sanitize::clean(&rt.reply)),
                    ],
                ),
                Err(e) => crate::sys::explain(*e),
            },
            tf("net.tcp_expect", &[("ip", &in_ip)]),
            tcp.as_ref()
                .is_ok_and(|rt| rt.peer_v4() == Some(in_ip) && !rt.reply.is_empty()),
        );
        // resolv.conf, read back through the rootfs without following its links.
        if notes.resolv_written {
            let text = view
                .rootfs
                .as_ref()
                .and_then(|r| crate::sys::probe::find_in_root(r, "etc/resolv.conf").ok())
                .and_then(|f| crate::sys::files::read_text(&f.path()))
                .unwrap_or_default();
            let got = knet::nameservers(&text);
            let show = |v: &[Ipv4Addr]| {
                v.iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            c.row(
                t("net.row_resolv"),
                if got.is_empty() {
                    t("net.none").to_string()
                } else {
                    show(&got)
                },
                if notes.dns.is_empty() {
                    t("net.none").to_string()
                } else {
                    show(&notes.dns)
                },
                got == notes.dns,
            );
        }
        *st.scratch.get::<Notes>() = notes;
        c
    }

    fn has_demo(&self) -> bool {
        true
    }

    /// The other direction: a listener of hako's inside the container, on its own
    /// address, reached from the host through the bridge.
    fn demo(&self, st: &mut Context) -> Check {
        let mut c = Check::new(t("net.demo_hint"));
        let subnet = st.scratch.get::<Notes>().subnet;
        let (Some(view), Some(subnet)) = (View::of(st), subnet) else {
            c.row(t("net.demo_row"), "-", t("net.no_pid1"), false);
            return c;
        };
        let in_ip = subnet.host(2);
        let r = knet::tcp_into(view.pid, in_ip);
        c.row(
            tf("net.demo_row", &[("ip", &in_ip)]),
            match &r {
                Ok(rt) => tf(
                    "net.demo_seen",
                    &[
                        ("peer", &rt.seen_by_host.ip()),
                        ("reply", &crate::ui::sanitize::clean(&rt.reply)),
                    ],
                ),
                Err(e) => crate::sys::explain(*e),
            },
            tf("net.demo_expect", &[("ip", &subnet.host(1))]),
            r.as_ref()
                .is_ok_and(|rt| rt.peer_v4() == Some(subnet.host(1))),
        );
        c
    }
}

/// Writes the rootfs's `/etc/resolv.conf` (an owned rootfs only: a `dir:` rootfs is the
/// learner's own tree), and says what it did.
fn resolv(st: &mut Context) -> Vec<String> {
    let (servers, from, stub) = knet::usable_nameservers();
    let Some(root) = st
        .rootfs
        .as_ref()
        .filter(|r| r.owned)
        .map(|r| r.path.clone())
    else {
        return vec![t("net.resolv_dir").to_string()];
    };
    let mut did = vec![];
    if stub {
        did.push(t("net.resolv_stub").to_string());
    }
    if servers.is_empty() {
        did.push(t("net.resolv_none").to_string());
        return did;
    }
    let from = from.map(|p| p.display().to_string()).unwrap_or_default();
    let mut text = format!("# {}\n", tf("net.resolv_head", &[("from", &from)]));
    for s in &servers {
        text.push_str(&format!("nameserver {s}\n"));
    }
    match knet::write_resolv_conf(&root, &text) {
        Ok(()) => {
            let notes = st.scratch.get::<Notes>();
            notes.dns = servers.clone();
            notes.resolv_written = true;
            did.push(tf(
                "net.did_resolv",
                &[
                    (
                        "list",
                        &servers
                            .iter()
                            .map(|a| a.to_string())
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    ("from", &from),
                ],
            ));
        }
        Err(e) => did.push(tf("net.resolv_failed", &[("why", &crate::sys::explain(e))])),
    }
    did
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_free_24_is_picked() {
        assert_eq!(pick(&[]).unwrap().to_string(), "10.200.0.0/24");
        let taken = [
            (ip("0.0.0.0"), 0),
            (ip("10.200.0.0"), 24),
            (ip("10.200.1.7"), 32),
            (ip("192.0.2.0"), 24),
        ];
        assert_eq!(pick(&taken).unwrap().to_string(), "10.200.2.0/24");
        assert!(pick(&[(ip("10.200.0.0"), 16)]).is_none());
        assert!(pick(&[(ip("10.0.0.0"), 8)]).is_none());
    }

    #[test]
    fn the_ruleset_names_the_subnet_and_the_uplink() {
        let s = crate::spec::parse_subnet("10.200.3.0/24").unwrap();
        let r = ruleset("hako-0d1a2b3c", &s.to_string(), "eth0");
        assert!(r.starts_with("table ip hako-0d1a2b3c {"), "{r}");
        assert!(
            r.contains("type nat hook postrouting priority srcnat;"),
            "{r}"
        );
        assert!(
            r.contains("ip saddr 10.200.3.0/24 oifname \"eth0\" masquerade"),
            "{r}"
        );
    }

    #[test]
    fn the_shell_text_has_this_runs_values() {
        let n = names("0d1a2b3c-0000-4000-8000-00000000abcd");
        let l = lines(
            &n,
            "10.200.3.0/24",
            "10.200.3.1/24",
            "10.200.3.2/24",
            "4242",
            Some("eth0"),
        )
        .join("\n");
        assert!(l.contains("ip link add hk-0d1a2b3c-br type bridge"), "{l}");
        assert!(
            l.contains("ip link set hk-0d1a2b3c-c netns 4242 name eth0"),
            "{l}"
        );
        assert!(
            l.contains("nsenter --net=/proc/4242/ns/net ip route add default via 10.200.3.1"),
            "{l}"
        );
        assert!(
            l.contains("net.ipv4.conf.hk-0d1a2b3c-br.forwarding=1 net.ipv4.conf.eth0.forwarding=1"),
            "{l}"
        );
        assert!(
            l.contains("ip saddr 10.200.3.0/24 oifname \"eth0\" masquerade"),
            "{l}"
        );
        assert!(!l.contains("ip_forward"), "{l}");
    }
}
