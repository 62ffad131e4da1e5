//! The network of the `--net` lesson: links, addresses and routes through rtnetlink
//! (netlink(7), rtnetlink(7)) with the synchronous `netlink-packet-route` and
//! `netlink-sys` crates (no thread, no runtime: the guide must not start an async
//! runtime's threads before it forks), the forwarding sysctls (the kernel's
//! `ip-sysctl.rst`), the NAT rule through the `nft` program (nft(8): a program, not a
//! system call, and `--trace` says so), and the probes a check makes in the
//! container's network namespace.
//!
//! A netlink socket belongs to the network namespace it was created in (netlink(7)):
//! a socket made by a short-lived thread that first joined `/proc/PID/ns/net` with
//! setns(2) keeps talking to that namespace after the thread ends, so hako configures
//! the container's side from outside without ever leaving the host's namespaces
//! itself. setns(2) with `CLONE_NEWNET` moves only the calling thread.
#![allow(unsafe_code)]

use super::tracer::{trace, trace_as, trace_line, tracing};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::errno::Errno;
use nix::sched::CloneFlags;
pub use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An interface as rtnetlink describes it (RTM_NEWLINK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFF_UP: the administrator put it up.
    pub up: bool,
    /// The bridge it is a port of (IFLA_MASTER).
    pub master: Option<u32>,
    /// Its kind (IFLA_INFO_KIND: `veth`, `bridge`), when it has one.
    pub kind: Option<String>,
}

/// An IPv4 address on an interface (RTM_NEWADDR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

/// An IPv4 route of the main table (RTM_NEWROUTE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
}

/// A NETLINK_ROUTE socket, in the network namespace it was made in.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    /// How `--trace` names the namespace: `host`, or `/proc/PID/ns/net`.
    wher: String,
}

fn io(e: std::io::Error) -> Errno {
    super::common::io_errno(&e)
}

/// A link message that names an interface by index.
fn link_msg(index: u32) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m
}

impl Rtnl {
    fn new(wher: String) -> Result<Rtnl, Errno> {
        // socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), bind, connect to the kernel (port 0).
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(io)?;
        sock.bind_auto().map_err(io)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        Ok(Rtnl { sock, seq: 0, wher })
    }

    /// A socket in the host's (this thread's) network namespace.
    pub fn host() -> Result<Rtnl, Errno> {
        let r = Rtnl::new("host".into());
        trace(
            || "socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)".into(),
            "7 netlink",
            &r,
        );
        r
    }

    /// A socket in the network namespace of process `pid`: made by a thread that
    /// joined it (setns(2)) and ended.
    pub fn inside(pid: i32) -> Result<Rtnl, Errno> {
        let wher = format!("/proc/{pid}/ns/net");
        in_netns(pid, move || Rtnl::new(wher))?
    }

    /// Sends one request and collects the answers until the kernel's ACK or the end of
    /// the dump; a negative error code becomes the errno.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        said: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, Errno> {
        let r = self.request_quiet(msg, flags);
        // (NLM_F_EXCL shares a bit with NLM_F_DUMP: a dump has both of its bits.)
        if flags & NLM_F_DUMP != NLM_F_DUMP {
            trace(
                || format!("sendmsg(NETLINK_ROUTE [{}], {said})", self.wher),
                "7 rtnetlink",
                &r,
            );
        }
        r
    }

    fn request_quiet(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, Errno> {
        self.seq += 1;
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | flags;
        hdr.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf[..]);
        self.sock.send(&buf, 0).map_err(io)?;
        let mut out = vec![];
        loop {
            let (bytes, _) = self.sock.recv_from_full().map_err(io)?;
            let mut off = 0;
            while off < bytes.len() {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[off..])
                    .map_err(|_| Errno::EBADMSG)?;
                let len = m.header.length as usize;
                if m.header.sequence_number == self.seq {
                    match m.payload {
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(out),
                                Some(c) => Err(Errno::from_raw(-c.get())),
                            };
                        }
                        NetlinkPayload::InnerMessage(i) => out.push(i),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    /// Every interface (RTM_GETLINK, a dump).
    pub fn links(&mut self) -> Result<Vec<Link>, Errno> {
        let got = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            "RTM_GETLINK",
        )?;
        Ok(got
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(&l)),
                _ => None,
            })
            .collect())
    }

    /// The interface called `name`, if any.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>, Errno> {
        Ok(self.links()?.into_iter().find(|l| l.name == name))
    }

    fn index(&mut self, name: &str) -> Result<u32, Errno> {
        self.link(name)?.map(|l| l.index).ok_or(Errno::ENODEV)
    }

    /// Every IPv4 address (RTM_GETADDR, a dump).
    pub fn addrs(&mut self) -> Result<Vec<Addr>, Errno> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        let got = self.request(
            RouteNetlinkMessage::GetAddress(m),
            NLM_F_DUMP,
            "RTM_GETADDR",
        )?;
        Ok(got
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => a.attributes.iter().find_map(|at| match at {
                    AddressAttribute::Local(std::net::IpAddr::V4(ip))
                    | AddressAttribute::Address(std::net::IpAddr::V4(ip)) => Some(Addr {
                        index: a.header.index,
                        ip: *ip,
                        prefix: a.header.prefix_len,
                    }),
                    _ => None,
                }),
                _ => None,
            })
            .collect())
    }

    /// The IPv4 routes of the main table (RTM_GETROUTE, a dump).
    pub fn routes(&mut self) -> Result<Vec<Route>, Errno> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        let got = self.request(RouteNetlinkMessage::GetRoute(m), NLM_F_DUMP, "RTM_GETROUTE")?;
        let mut out = vec![];
        for m in got {
            let RouteNetlinkMessage::NewRoute(r) = m else {
                continue;
            };
            let table = r
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                })
                .unwrap_or(r.header.table as u32);
            if table != RouteHeader::RT_TABLE_MAIN as u32 {
                continue;
            }
            let mut route = Route {
                dst: Ipv4Addr::UNSPECIFIED,
                prefix: r.header.destination_prefix_length,
                gateway: None,
                oif: None,
            };
            for a in &r.attributes {
                match a {
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => route.dst = *ip,
                    RouteAttribute::Gateway(RouteAddress::Inet(ip)) => route.gateway = Some(*ip),
                    RouteAttribute::Oif(i) => route.oif = Some(*i),
                    _ => {}
                }
            }
            out.push(route);
        }
        Ok(out)
    }

    /// `ip link add HOST type veth peer name PEER` (RTM_NEWLINK, IFLA_INFO_KIND veth,
    /// VETH_INFO_PEER), veth(4).
    pub fn add_veth(&mut self, host: &str, peer: &str) -> Result<(), Errno> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.into()));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(host.into()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            &format!("RTM_NEWLINK {host} type veth peer {peer}"),
        )
        .map(|_| ())
    }

    /// `ip link add NAME type bridge` (RTM_NEWLINK, IFLA_INFO_KIND bridge).
    pub fn add_bridge(&mut self, name: &str) -> Result<(), Errno> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            &format!("RTM_NEWLINK {name} type bridge"),
        )
        .map(|_| ())
    }

    /// `ip link del NAME` (RTM_DELLINK). Deleting one end of a veth pair deletes both.
    pub fn delete_link(&mut self, name: &str) -> Result<(), Errno> {
        let i = self.index(name)?;
        self.request(
            RouteNetlinkMessage::DelLink(link_msg(i)),
            NLM_F_ACK,
            &format!("RTM_DELLINK {name}"),
        )
        .map(|_| ())
    }

    /// `ip link set NAME master BRIDGE` (RTM_SETLINK, IFLA_MASTER).
    pub fn set_master(&mut self, name: &str, bridge: &str) -> Result<(), Errno> {
        let (i, b) = (self.index(name)?, self.index(bridge)?);
        let mut m = link_msg(i);
        m.attributes.push(LinkAttribute::Controller(b));
        self.request(
            RouteNetlinkMessage::SetLink(m),
            NLM_F_ACK,
            &format!("RTM_SETLINK {name} master {bridge}"),
        )
        .map(|_| ())
    }

    /// `ip link set NAME up` (RTM_SETLINK, IFF_UP in the flags and the change mask).
    pub fn set_up(&mut self, name: &str) -> Result<(), Errno> {
        let mut m = link_msg(self.index(name)?);
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request(
            RouteNetlinkMessage::SetLink(m),
            NLM_F_ACK,
            &format!("RTM_SETLINK {name} up"),
        )
        .map(|_| ())
    }

    /// `ip link set NAME netns PID name NEW` (RTM_SETLINK, IFLA_NET_NS_PID and
    /// IFLA_IFNAME): the interface moves into the network namespace of `pid` and takes
    /// its new name there.
    pub fn move_to(&mut self, name: &str, pid: i32, new: &str) -> Result<(), Errno> {
        let mut m = link_msg(self.index(name)?);
        m.attributes.push(LinkAttribute::NetNsPid(pid as u32));
        m.attributes.push(LinkAttribute::IfName(new.into()));
        self.request(
            RouteNetlinkMessage::SetLink(m),
            NLM_F_ACK,
            &format!("RTM_SETLINK {name} netns {pid} name {new}"),
        )
        .map(|_| ())
    }

    /// `ip addr add IP/PREFIX dev NAME` (RTM_NEWADDR).
    pub fn add_addr(&mut self, name: &str, ip: Ipv4Addr, prefix: u8) -> Result<(), Errno> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = self.index(name)?;
        m.attributes
            .push(AddressAttribute::Local(std::net::IpAddr::V4(ip)));
        m.attributes
            .push(AddressAttribute::Address(std::net::IpAddr::V4(ip)));
        let host = u32::from(ip);
        let bcast = host | (u32::MAX.checked_shr(prefix as u32).unwrap_or(0));
        m.attributes
            .push(AddressAttribute::Broadcast(Ipv4Addr::from(bcast)));
        self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            &format!("RTM_NEWADDR {ip}/{prefix} dev {name}"),
        )
        .map(|_| ())
    }

    /// `ip route add default via GW` (RTM_NEWROUTE, main table, a gateway).
    pub fn add_default_route(&mut self, gw: Ipv4Addr) -> Result<(), Errno> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
        self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            &format!("RTM_NEWROUTE default via {gw}"),
        )
        .map(|_| ())
    }
}

fn link_of(l: &LinkMessage) -> Link {
    let mut out = Link {
        index: l.header.index,
        name: String::new(),
        up: l.header.flags.contains(LinkFlags::Up),
        master: None,
        kind: None,
    };
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => out.name = n.clone(),
            LinkAttribute::Controller(m) => out.master = Some(*m),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        out.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Runs `f` on a thread that first joined the network namespace of `pid`
/// (setns(2) on `/proc/PID/ns/net`, CLONE_NEWNET), and returns its answer.
pub fn in_netns<T: Send + 'static>(
    pid: i32,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Errno> {
    let path = format!("/proc/{pid}/ns/net");
    let h = std::thread::spawn(move || {
        let fd = std::fs::File::open(&path).map_err(|e| super::common::io_errno(&e))?;
        let r = nix::sched::setns(&fd, CloneFlags::CLONE_NEWNET);
        trace(
            || format!("setns(open(\"{path}\"), CLONE_NEWNET)"),
            "2 setns",
            &r,
        );
        r?;
        Ok(f())
    });
    h.join().map_err(|_| Errno::EIO)?
}

/// The identity of this process's network namespace (the inode of
/// `/proc/self/ns/net`, namespaces(7)).
pub fn netns_id() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/net").ok().map(|m| m.ino())
}

/// The identity of the network namespace of process `pid`.
pub fn netns_of(pid: i32) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|m| m.ino())
}

/// Whether a network namespace with inode `ino` still exists: some process is in it
/// (`/proc/PID/ns/net`), or it is bound under `/run/netns` (ip-netns(8)). A namespace
/// that is gone took its interfaces, nftables tables and `net.ipv4.conf` values with it.
pub fn netns_exists(ino: u64) -> bool {
    use std::os::unix::fs::MetadataExt;
    let procs = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .map(|e| e.path().join("ns/net"));
    let bound = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path());
    procs
        .chain(bound)
        .any(|p| std::fs::metadata(p).is_ok_and(|m| m.ino() == ino))
}

/// Whether `name` can be an interface name: 1 to 15 bytes (IFNAMSIZ - 1), no `/`, no
/// white space, not `.` or `..` (the kernel's dev_valid_name()).
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
}

/// `/proc/sys/net/ipv4/conf/IF/forwarding` (ip-sysctl.rst).
pub fn forwarding_path(ifname: &str) -> PathBuf {
    PathBuf::from(format!("/proc/sys/net/ipv4/conf/{ifname}/forwarding"))
}

/// The forwarding value of interface `ifname` in this namespace (None: no such
/// interface, or a name that cannot be one).
pub fn forwarding(ifname: &str) -> Option<String> {
    if !valid_ifname(ifname) {
        return None;
    }
    super::common::read_trim(&forwarding_path(ifname))
}

/// Writes `0` or `1` to interface `ifname`'s forwarding (only those values, only a
/// valid name: a journal names it).
pub fn set_forwarding(ifname: &str, value: &str) -> Result<(), Errno> {
    if !valid_ifname(ifname) || !matches!(value, "0" | "1") {
        return Err(Errno::EINVAL);
    }
    super::common::write_raw(&forwarding_path(ifname), value)
}

/// `net.ipv4.ip_forward`, read only (writing it rewrites other conf values).
pub fn ip_forward() -> Option<String> {
    super::common::read_trim(Path::new("/proc/sys/net/ipv4/ip_forward"))
}

/// What running `nft` gave.
#[derive(Debug)]
pub enum NftError {
    /// It could not be started (not installed: package nftables).
    Missing,
    /// It ran and refused; its words (stderr, first lines).
    Refused(String),
}

/// Where `nft` is, if anywhere on the usual paths.
pub fn nft_path() -> Option<PathBuf> {
    [
        "/usr/sbin/nft",
        "/sbin/nft",
        "/usr/bin/nft",
        "/usr/local/sbin/nft",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Runs `nft ARGS` (with `input` on its standard input, for `-f -`), nft(8). This is a
/// program, not a system call: it builds the nf_tables netlink messages itself.
pub fn nft(args: &[&str], input: Option<&str>) -> Result<String, NftError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let prog = nft_path().ok_or(NftError::Missing)?;
    let mut cmd = Command::new(&prog);
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut run = || -> std::io::Result<std::process::Output> {
        let mut child = cmd.spawn()?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(text.as_bytes())?;
        }
        child.wait_with_output()
    };
    let out = run();
    if tracing() {
        let status = match &out {
            Ok(o) => o.status.code().map_or("-".into(), |c| c.to_string()),
            Err(e) => e.to_string(),
        };
        let mut line = format!("{} {} (exit {status})", prog.display(), args.join(" "));
        if let Some(text) = input {
            line.push_str(&format!(" <<< {:?}", text.trim()));
        }
        trace_line(
            &format!("{line}   [a program, not a system call: it speaks netlink to nf_tables]"),
            "8 nft",
        );
    }
    let out = out.map_err(|_| NftError::Missing)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(NftError::Refused(
            err.lines().take(3).collect::<Vec<_>>().join(" "),
        ))
    }
}

/// The RFC 1071 checksum of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum = sum.wrapping_add(w as u32);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request (icmp(7), RFC 792): type 8, code 0, identifier, sequence, data.
pub fn echo_request(id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(data);
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// Whether `packet` (an IPv4 datagram as a raw socket gives it: header first) is the
/// echo reply to (`id`, `seq`) from `from`.
pub fn is_echo_reply(packet: &[u8], from: Ipv4Addr, id: u16, seq: u16) -> bool {
    let Some(&v) = packet.first() else {
        return false;
    };
    let ihl = ((v & 0x0f) as usize) * 4;
    if v >> 4 != 4 || packet.len() < ihl + 8 || ihl < 20 {
        return false;
    }
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let icmp = &packet[ihl..];
    src == from
        && icmp[0] == 0
        && u16::from_be_bytes([icmp[4], icmp[5]]) == id
        && u16::from_be_bytes([icmp[6], icmp[7]]) == seq
}

/// One ICMP echo from a raw socket (raw(7), needs CAP_NET_RAW) made in the network
/// namespace of `pid`, to `to`: the round trip's time, or the errno (ETIMEDOUT: no
/// answer within `wait`).
pub fn ping_from(pid: i32, to: Ipv4Addr, wait: Duration) -> Result<Duration, Errno> {
    let r = in_netns(pid, move || ping(to, wait))?;
    trace_as(
        || {
            format!("[in /proc/{pid}/ns/net] socket(AF_INET, SOCK_RAW, IPPROTO_ICMP); sendto({to}, ICMP_ECHO); recv")
        },
        "7 raw",
        &r,
        |d| format!("echo reply after {d:?}"),
    );
    r
}

fn ping(to: Ipv4Addr, wait: Duration) -> Result<Duration, Errno> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // socket(2): a raw ICMP socket; what it receives starts with the IP header.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMP,
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new descriptor this function owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let id = (std::process::id() & 0xffff) as u16;
    let seq = 1;
    let pkt = echo_request(id, seq, b"hako ping");
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(to).to_be(),
        },
        sin_zero: [0; 8],
    };
    let start = std::time::Instant::now();
    // sendto(2).
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            pkt.as_ptr().cast(),
            pkt.len(),
            0,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(Errno::last());
    }
    let mut buf = [0u8; 1500];
    loop {
        let left = wait.checked_sub(start.elapsed()).ok_or(Errno::ETIMEDOUT)?;
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // poll(2), then recv(2).
        let p = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as libc::c_int) };
        if p < 0 {
            let e = Errno::last();
            if e == Errno::EINTR {
                continue;
            }
            return Err(e);
        }
        if p == 0 {
            return Err(Errno::ETIMEDOUT);
        }
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(Errno::last());
        }
        if is_echo_reply(&buf[..n as usize], to, id, seq) {
            return Ok(start.elapsed());
        }
    }
}

/// What a TCP round trip between the container and a listener on the host showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTrip {
    /// The peer address the host's listener saw (the container's own, inside a bridge).
    pub seen_by_host: std::net::SocketAddr,
    /// What the container read back.
    pub reply: String,
    /// The listener's address.
    pub listener: std::net::SocketAddr,
}

impl RoundTrip {
    /// The peer's IPv4 address (None for IPv6).
    pub fn peer_v4(&self) -> Option<Ipv4Addr> {
        match self.seen_by_host.ip() {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        }
    }
}

/// A TCP listener of hako's on `addr` (port chosen by the kernel) in the host's
/// namespace, and a connection to it from a socket made in the network namespace of
/// `pid` (tcp(7)): the container sends a line, the host answers with the address it
/// saw, the container reads it.
pub fn tcp_round_trip(pid: i32, addr: Ipv4Addr) -> Result<RoundTrip, Errno> {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind((addr, 0)).map_err(io)?;
    let at = listener.local_addr().map_err(io)?;
    listener.set_nonblocking(true).map_err(io)?;
    let inside = std::thread::spawn(move || {
        in_netns(pid, move || -> Result<String, Errno> {
            let mut s =
                std::net::TcpStream::connect_timeout(&at, Duration::from_secs(3)).map_err(io)?;
            s.set_read_timeout(Some(Duration::from_secs(3)))
                .map_err(io)?;
            s.write_all(b"hello from the container\n").map_err(io)?;
            let mut line = String::new();
            BufReader::new(s).read_line(&mut line).map_err(io)?;
            Ok(line.trim().to_string())
        })
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    let accepted = loop {
        match listener.accept() {
            Ok(x) => break Ok(x),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() > deadline {
                    break Err(Errno::ETIMEDOUT);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => break Err(io(e)),
        }
    };
    let served = accepted.and_then(|(s, peer)| {
        s.set_nonblocking(false).map_err(io)?;
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(io)?;
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).map_err(io)?;
        (&s).write_all(format!("the host saw you as {}\n", peer.ip()).as_bytes())
            .map_err(io)?;
        Ok(peer)
    });
    let reply = inside.join().map_err(|_| Errno::EIO)?;
    let r = served.and_then(|peer| {
        Ok(RoundTrip {
            seen_by_host: peer,
            reply: reply??,
            listener: at,
        })
    });
    trace_as(
        || format!("bind({at}); listen; [in /proc/{pid}/ns/net] connect({at}); accept"),
        "7 tcp",
        &r,
        |t| format!("peer {}", t.seen_by_host),
    );
    r
}

/// The other direction: a TCP listener made in the network namespace of `pid` on
/// `addr` (the container's own address), and a connection to it from the host. The
/// listener answers with the address it saw.
pub fn tcp_into(pid: i32, addr: Ipv4Addr) -> Result<RoundTrip, Errno> {
    use std::io::{BufRead, BufReader, Write};
    let (tx, rx) = std::sync::mpsc::channel::<Result<std::net::SocketAddr, Errno>>();
    let inside = std::thread::spawn(move || {
        in_netns(pid, move || -> Result<std::net::SocketAddr, Errno> {
            let bound = std::net::TcpListener::bind((addr, 0)).and_then(|l| {
                let at = l.local_addr()?;
                Ok((l, at))
            });
            let (l, at) = match bound {
                Ok(x) => x,
                Err(e) => {
                    let _ = tx.send(Err(io(e)));
                    return Err(Errno::EIO);
                }
            };
            let _ = tx.send(Ok(at));
            l.set_nonblocking(true).map_err(io)?;
            let deadline = std::time::Instant::now() + Duration::from_secs(4);
            let (s, peer) = loop {
                match l.accept() {
                    Ok(x) => break x,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if std::time::Instant::now() > deadline {
                            return Err(Errno::ETIMEDOUT);
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => return Err(io(e)),
                }
            };
            s.set_nonblocking(false).map_err(io)?;
            s.set_read_timeout(Some(Duration::from_secs(3)))
                .map_err(io)?;
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).map_err(io)?;
            (&s).write_all(format!("the container saw you as {}\n", peer.ip()).as_bytes())
                .map_err(io)?;
            Ok(peer)
        })
    });
    let at = rx
        .recv_timeout(Duration::from_secs(4))
        .map_err(|_| Errno::ETIMEDOUT)?;
    let r = at.and_then(|at| {
        let mut s =
            std::net::TcpStream::connect_timeout(&at, Duration::from_secs(3)).map_err(io)?;
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(io)?;
        s.write_all(b"hello from the host\n").map_err(io)?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).map_err(io)?;
        let peer = inside.join().map_err(|_| Errno::EIO)???;
        Ok(RoundTrip {
            seen_by_host: peer,
            reply: line.trim().to_string(),
            listener: at,
        })
    });
    trace_as(
        || format!("[in /proc/{pid}/ns/net] bind({addr}:0); listen; connect; accept"),
        "7 tcp",
        &r,
        |t| format!("the listener saw {}", t.seen_by_host),
    );
    r
}

/// The IPv4 name servers of a resolv.conf text (resolv.conf(5)), in order.
pub fn nameservers(text: &str) -> Vec<Ipv4Addr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver"))
                .then(|| w.next())
                .flatten()
                .and_then(|a| a.parse().ok())
        })
        .collect()
}

/// The name servers a container behind NAT can use, from the host's `/etc/resolv.conf`
/// text `etc` and the text of the upstream list `upstream` (systemd-resolved's
/// `/run/systemd/resolve/resolv.conf`, when there is one): the host's own servers,
/// unless one is on loopback (a local stub such as 127.0.0.53, which is the container's
/// own loopback once inside); then the stub's upstream servers, those not on loopback.
/// Returns them, whether they came from the upstream list, and whether a stub was seen.
pub fn choose_nameservers(etc: &str, upstream: Option<&str>) -> (Vec<Ipv4Addr>, bool, bool) {
    let host = nameservers(etc);
    if !host.iter().any(|a| a.is_loopback()) {
        return (host, false, false);
    }
    let up: Vec<Ipv4Addr> = nameservers(upstream.unwrap_or(""))
        .into_iter()
        .filter(|a| !a.is_loopback())
        .collect();
    let from_up = !up.is_empty();
    (up, from_up, true)
}

/// [`choose_nameservers`] on this host's files: the servers, the file they came from
/// (None: none), and whether the host's resolv.conf names a local stub.
pub fn usable_nameservers() -> (Vec<Ipv4Addr>, Option<PathBuf>, bool) {
    let etc = Path::new("/etc/resolv.conf");
    let up = Path::new("/run/systemd/resolve/resolv.conf");
    let (v, from_up, stub) = choose_nameservers(
        &std::fs::read_to_string(etc).unwrap_or_default(),
        std::fs::read_to_string(up).ok().as_deref(),
    );
    let from = match (v.is_empty(), from_up) {
        (true, _) => None,
        (false, true) => Some(up.to_path_buf()),
        (false, false) => Some(etc.to_path_buf()),
    };
    (v, from, stub)
}

/// Writes `text` as `etc/resolv.conf` of the rootfs `root`, by descriptors: `etc`
/// opened with openat2(2) RESOLVE_IN_ROOT (an image's links stay inside it), a new file
/// made there with O_CREAT|O_EXCL|O_NOFOLLOW, then renamed over `resolv.conf`
/// (renameat(2) replaces a symbolic link itself, never what it points at). `etc` is
/// made (0755) when the rootfs has none.
pub fn write_resolv_conf(root: &Path, text: &str) -> Result<(), Errno> {
    use std::io::Write;
    let top = super::at::DirFd::open(root)?;
    let etc = match top.dir_in_root("etc") {
        Ok(d) => d,
        Err(Errno::ENOENT) => {
            top.mkdir("etc", 0o755)?;
            top.dir_in_root("etc")?
        }
        Err(e) => return Err(e),
    };
    let tmp = ".resolv.conf.hako";
    let _ = etc.unlink(tmp);
    let r = (|| {
        let mut f = etc.create(tmp, 0o644)?;
        f.write_all(text.as_bytes())
            .map_err(|e| super::common::io_errno(&e))?;
        drop(f);
        nix::fcntl::renameat(etc.fd(), tmp, etc.fd(), "resolv.conf")
    })();
    trace(
        || {
            format!(
                "openat2(\"{}\", \"etc\", RESOLVE_IN_ROOT); openat(etc, \"{tmp}\", O_CREAT|O_EXCL|O_NOFOLLOW); renameat(etc, \"{tmp}\", etc, \"resolv.conf\")",
                root.display()
            )
        },
        "2 renameat",
        &r,
    );
    if r.is_err() {
        let _ = etc.unlink(tmp);
    }
    r
}

/// A stream socket of the unix family (the Docker daemon's), for those above `sys`.
pub use std::os::unix::net::UnixStream;

/// socket(2) + connect(2) to the unix socket at `path` (unix(7)), with `timeout` on
/// every read and write of it (SO_RCVTIMEO, SO_SNDTIMEO: socket(7)), so that a silent
/// peer cannot hang hako.
pub fn connect_unix(path: &Path, timeout: std::time::Duration) -> std::io::Result<UnixStream> {
    let stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        assert!(valid_ifname("eth0"));
        assert!(valid_ifname("hk-0123abcd-br"));
        for bad in ["", ".", "..", "a/b", "a b", "sixteen-chars-xx", "x:1"] {
            assert!(!valid_ifname(bad), "{bad}");
        }
        assert!(forwarding("../../../kernel/x").is_none());
        assert_eq!(set_forwarding("eth0", "2"), Err(Errno::EINVAL));
        assert_eq!(set_forwarding("a/b", "1"), Err(Errno::EINVAL));
    }

    #[test]
    fn an_echo_request_checks_out() {
        let p = echo_request(0x1234, 1, b"hako");
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        assert_eq!(&p[..2], &[8, 0]);
        // The reply: an IP header (20 bytes, from 10.0.0.1), type 0, same id and seq.
        let mut reply = vec![0x45u8; 1];
        reply.extend_from_slice(&[0; 11]);
        reply.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        let mut icmp = p.clone();
        icmp[0] = 0;
        reply.extend_from_slice(&icmp);
        assert!(is_echo_reply(&reply, Ipv4Addr::new(10, 0, 0, 1), 0x1234, 1));
        assert!(!is_echo_reply(
            &reply,
            Ipv4Addr::new(10, 0, 0, 9),
            0x1234,
            1
        ));
        assert!(!is_echo_reply(
            &reply,
            Ipv4Addr::new(10, 0, 0, 1),
            0x1234,
            2
        ));
        assert!(!is_echo_reply(
            &reply[..20],
            Ipv4Addr::new(10, 0, 0, 1),
            0x1234,
            1
        ));
    }

    #[test]
    fn resolv_conf_servers() {
        let t = "# x\nnameserver 127.0.0.53\nnameserver ::1\noptions edns0\nnameserver 10.0.0.2\n";
        assert_eq!(
            nameservers(t),
            [Ipv4Addr::new(127, 0, 0, 53), Ipv4Addr::new(10, 0, 0, 2)]
        );
        assert!(nameservers("").is_empty());
    }

    #[test]
    fn resolv_conf_never_goes_through_the_images_links() {
        let base = std::env::temp_dir().join(format!("hako-resolv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("victim"), "host's\n").unwrap();
        // resolv.conf, a link out of the rootfs: replaced, not followed.
        std::os::unix::fs::symlink(outside.join("victim"), root.join("etc/resolv.conf")).unwrap();
        write_resolv_conf(&root, "nameserver 10.0.0.2\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(outside.join("victim")).unwrap(),
            "host's\n"
        );
        let m = std::fs::symlink_metadata(root.join("etc/resolv.conf")).unwrap();
        assert!(m.file_type().is_file());
        assert_eq!(
            std::fs::read_to_string(root.join("etc/resolv.conf")).unwrap(),
            "nameserver 10.0.0.2\n"
        );
        // etc itself, a link out: looked up inside the rootfs, where it leads nowhere.
        let root2 = base.join("root2");
        std::fs::create_dir_all(&root2).unwrap();
        std::os::unix::fs::symlink(&outside, root2.join("etc")).unwrap();
        assert!(write_resolv_conf(&root2, "nameserver 10.0.0.2\n").is_err());
        assert!(!outside.join("resolv.conf").exists());
        assert!(!outside.join(".resolv.conf.hako").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_local_stub_gives_way_to_its_upstream_servers() {
        let plain = "nameserver 10.0.0.2\n";
        assert_eq!(
            choose_nameservers(plain, None),
            (vec![Ipv4Addr::new(10, 0, 0, 2)], false, false)
        );
        let stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\n";
        let up = "nameserver 192.168.1.1\nnameserver 127.0.0.1\nnameserver fe80::1\n";
        assert_eq!(
            choose_nameservers(stub, Some(up)),
            (vec![Ipv4Addr::new(192, 168, 1, 1)], true, true)
        );
        // A stub without an upstream list: no DNS, said so.
        assert_eq!(choose_nameservers(stub, None), (vec![], false, true));
        assert_eq!(choose_nameservers("", None), (vec![], false, false));
    }
}
