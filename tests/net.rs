//! The network lesson (`--net`), as root on the real kernel. Every test that runs a walk
//! builds its own two network namespaces with `ip`: a "host" one, where hako runs
//! (`nsenter --net`), and an "upstream" one behind it, joined by a veth pair and the
//! host namespace's default route. No packet reaches the machine's own interfaces.

mod common;
use common::*;
use std::process::Command;

/// Two named network namespaces: `host` (192.0.2.2/24, default route via the upstream)
/// and `up` (192.0.2.1/24), removed on drop.
struct Topo {
    host: String,
    up: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A shell command run in namespace `ns` (only its network namespace is entered).
fn sh_in(ns: &str, script: &str) -> String {
    let out = Command::new("nsenter")
        .args([&format!("--net=/run/netns/{ns}"), "sh", "-c", script])
        .output()
        .expect("run nsenter");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Topo {
    fn new(tag: &str) -> Topo {
        let id = std::process::id();
        let t = Topo {
            host: format!("hkt-{tag}-{id}-h"),
            up: format!("hkt-{tag}-{id}-u"),
        };
        let _ = Command::new("ip").args(["netns", "del", &t.host]).output();
        let _ = Command::new("ip").args(["netns", "del", &t.up]).output();
        ip(&["netns", "add", &t.host]);
        ip(&["netns", "add", &t.up]);
        // The pair is made inside the upstream namespace, its peer created directly in
        // the host namespace: it never exists in the machine's own namespace.
        ip(&[
            "-n", &t.up, "link", "add", "up0", "type", "veth", "peer", "name", "uplink0", "netns",
            &t.host,
        ]);
        ip(&["-n", &t.up, "addr", "add", "192.0.2.1/24", "dev", "up0"]);
        ip(&["-n", &t.up, "link", "set", "up0", "up"]);
        ip(&["-n", &t.up, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &t.host,
            "addr",
            "add",
            "192.0.2.2/24",
            "dev",
            "uplink0",
        ]);
        ip(&["-n", &t.host, "link", "set", "uplink0", "up"]);
        ip(&["-n", &t.host, "link", "set", "lo", "up"]);
        ip(&["-n", &t.host, "route", "add", "default", "via", "192.0.2.1"]);
        // Forwarding off everywhere in the host namespace, so that the lesson has to turn
        // it on per interface, and put it back.
        sh_in(&t.host, "echo 0 > /proc/sys/net/ipv4/ip_forward");
        t
    }

    /// hako, run in the host namespace (with the clean environment of `common::hako`).
    fn hako(&self, args: &[&str]) -> Command {
        let mut n = Command::new("nsenter");
        n.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LANG", "C.UTF-8")
            .arg(format!("--net=/run/netns/{}", self.host))
            .arg(HAKO)
            .args(args);
        n
    }

    /// Every `net.ipv4.conf.*` value and `ip_forward` of the host namespace.
    fn sysctls(&self) -> String {
        sh_in(
            &self.host,
            "cat /proc/sys/net/ipv4/ip_forward; grep -r . /proc/sys/net/ipv4/conf/ 2>/dev/null | sort",
        )
    }

    /// The interfaces of the host namespace, one name a line.
    fn links(&self) -> Vec<String> {
        sh_in(&self.host, "ip -o link show | awk -F': ' '{print $2}'")
            .lines()
            .map(|l| l.split('@').next().unwrap_or(l).to_string())
            .collect()
    }

    fn nft_tables(&self) -> String {
        sh_in(&self.host, "nft list tables")
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.host])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.up]).output();
    }
}

/// A TCP listener on 192.0.2.1:PORT in the upstream namespace (a thread that joined it
/// with setns(2)): it answers one connection and returns the peer address it saw.
fn upstream_listener(ns: &str) -> (u16, std::thread::JoinHandle<Option<String>>) {
    use std::io::{BufRead, BufReader, Write};
    let (tx, rx) = std::sync::mpsc::channel();
    let path = format!("/run/netns/{ns}");
    let h = std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap();
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let l = std::net::TcpListener::bind(("192.0.2.1", 0)).unwrap();
        tx.send(l.local_addr().unwrap().port()).unwrap();
        l.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let (s, peer) = loop {
            match l.accept() {
                Ok(x) => break x,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Err(_) => return None,
            }
        };
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut line = String::new();
        let _ = BufReader::new(&s).read_line(&mut line);
        let _ = (&s).write_all(b"UPSTREAM=hello\n");
        Some(peer.ip().to_string())
    });
    (rx.recv().unwrap(), h)
}

/// The first row of evidence (marked ✔ or ✘) whose line contains `label`.
fn row<'a>(stderr: &'a str, label: &str) -> &'a str {
    stderr
        .lines()
        .find(|l| l.contains(label) && (l.contains('✔') || l.contains('✘')))
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{stderr}"))
}

#[test]
#[ignore = "needs root"]
fn the_walk_with_net_reaches_upstream_through_nat_and_leaves_nothing() {
    require_root();
    let t = Topo::new("walk");
    // A taken /24: the lesson must pick the next one.
    ip(&["-n", &t.host, "addr", "add", "10.200.0.1/24", "dev", "lo"]);
    let before = (t.sysctls(), t.links(), t.nft_tables());
    let (port, listener) = upstream_listener(&t.up);
    let inside = format!(
        "echo LINKS=$(ip -o link | wc -l); \
         ping -c1 -W3 192.0.2.1 >/dev/null && echo PING=ok; \
         echo hi | nc 192.0.2.1 {port}; \
         echo NS=$(grep -c ^nameserver /etc/resolv.conf)"
    );
    let r = run_with(
        t.hako(&[
            "--auto", "--net", "--demos", "--color", "never", "--", "/bin/sh", "-c", &inside,
        ]),
        "",
    );
    r.assert_no_panic();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let e = &r.stderr;
    // The subnet: 10.200.0.0/24 is taken by the host namespace, so the next one.
    assert!(e.contains("subnet 10.200.1.0/24"), "{e}");
    for label in [
        "interfaces inside",
        "addresses inside",
        "default route inside",
        "bridge hk-",
        "veth end hk-",
        "the container's end and address on the host",
        "net.ipv4.conf.uplink0.forwarding",
        "net.ipv4.ip_forward",
        "nft list table ip hako-",
        "ICMP echo from inside to 10.200.1.1",
        "TCP from inside to a listener on 10.200.1.1",
        "TCP from the host to a listener inside",
    ] {
        assert!(row(e, label).contains('✔'), "{label}:\n{e}");
    }
    assert!(row(e, "addresses inside").contains("10.200.1.2/24"), "{e}");
    assert!(
        row(e, "nft list table").contains("ip saddr 10.200.1.0/24 oifname \"uplink0\" masquerade"),
        "{e}"
    );
    assert!(e.contains("net.ipv4.conf.uplink0.forwarding: 0 → 1"), "{e}");
    // Inside: lo and eth0, the upstream answered a ping and a connection.
    assert_eq!(marker(&r.stdout, "LINKS"), "2", "{}", r.stdout);
    assert_eq!(marker(&r.stdout, "PING"), "ok", "{}", r.stdout);
    assert_eq!(marker(&r.stdout, "UPSTREAM"), "hello", "{}", r.stdout);
    // NAT really done: the upstream saw the host namespace's address, not 10.200.1.2.
    let seen = listener.join().unwrap();
    assert_eq!(seen.as_deref(), Some("192.0.2.2"), "{e}");
    // resolv.conf: the host's name servers that another namespace can reach.
    let host_ns = std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("nameserver") && !l.contains(" 127.") && !l.contains(':'))
        .count();
    if std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .contains("nameserver 127.")
    {
        // A local stub: the servers come from systemd-resolved's own file, if any.
    } else {
        assert_eq!(marker(&r.stdout, "NS"), host_ns.to_string(), "{}", r.stdout);
    }
    // Nothing left: interfaces, tables, every sysctl value as it was.
    assert_eq!(t.links(), before.1, "{e}");
    assert_eq!(t.nft_tables(), before.2, "{e}");
    assert_eq!(t.sysctls(), before.0, "{e}");
    r.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn a_killed_run_is_undone_by_cleanup_in_its_namespace() {
    require_root();
    let t = Topo::new("kill");
    let before = (t.sysctls(), t.links(), t.nft_tables());
    let mut c = t.hako(&["--auto", "--net", "--", "/bin/sleep", "100"]);
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut said = String::new();
    {
        use std::io::BufRead;
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        loop {
            let mut line = String::new();
            assert!(
                err.read_line(&mut line).unwrap() > 0,
                "hako ended early:\n{said}"
            );
            said.push_str(&line);
            if line.contains("inside the container now") {
                break;
            }
        }
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut rest);
        });
    }
    // nsenter execs hako itself (no fork for a network namespace): this is hako.
    signal(child.id(), "-9");
    child.wait().unwrap();
    let dead = Run {
        code: 0,
        stdout: String::new(),
        stderr: said,
    };
    let uuid = dead.uuid().expect("the run's UUID");
    let short = &uuid[..8];
    // Left behind by the kill: the bridge, the table, the forwarding values.
    assert!(
        t.links().iter().any(|l| *l == format!("hk-{short}-br")),
        "{:?}",
        t.links()
    );
    assert!(t.nft_tables().contains(&format!("hako-{short}")));
    assert_ne!(t.sysctls(), before.0);
    // From another namespace, cleanup leaves the network alone (and says so).
    let elsewhere = run(&["cleanup"], "");
    assert_eq!(elsewhere.code, 0, "{}", elsewhere.stderr);
    assert!(
        elsewhere.stderr.contains("another network namespace"),
        "{}",
        elsewhere.stderr
    );
    assert!(t.nft_tables().contains(&format!("hako-{short}")));
    // In its namespace, it undoes everything.
    let r = run_with(t.hako(&["cleanup"]), "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("removed the nftables table ip hako-{short}")),
        "{}",
        r.stderr
    );
    assert!(r
        .stderr
        .contains("put /proc/sys/net/ipv4/conf/uplink0/forwarding back to 0"));
    assert_eq!(t.links(), before.1, "{}", r.stderr);
    assert_eq!(t.nft_tables(), before.2, "{}", r.stderr);
    assert_eq!(t.sysctls(), before.0, "{}", r.stderr);
    assert!(!std::path::Path::new(&format!("/run/hako/{uuid}.json")).exists());
    dead.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn a_killed_runs_changes_go_with_its_namespace() {
    require_root();
    let t = Topo::new("gone");
    let mut c = t.hako(&["--auto", "--net", "--", "/bin/sleep", "100"]);
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut said = String::new();
    {
        use std::io::BufRead;
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        loop {
            let mut line = String::new();
            assert!(
                err.read_line(&mut line).unwrap() > 0,
                "hako ended early:\n{said}"
            );
            said.push_str(&line);
            if line.contains("inside the container now") {
                break;
            }
        }
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut rest);
        });
    }
    signal(child.id(), "-9");
    child.wait().unwrap();
    let dead = Run {
        code: 0,
        stdout: String::new(),
        stderr: said,
    };
    let uuid = dead.uuid().expect("the run's UUID");
    // The namespace goes, and with it the bridge, the table and its sysctls.
    drop(t);
    let r = run(&["cleanup"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stderr.contains("another network namespace"),
        "{}",
        r.stderr
    );
    assert!(
        !std::path::Path::new(&format!("/run/hako/{uuid}.json")).exists(),
        "{}",
        r.stderr
    );
    dead.assert_nothing_left();
}

#[test]
#[ignore = "needs root"]
fn a_subnet_the_host_uses_is_refused_with_one_sentence() {
    require_root();
    let t = Topo::new("taken");
    ip(&["-n", &t.host, "addr", "add", "10.77.0.1/24", "dev", "lo"]);
    let before = (t.sysctls(), t.links(), t.nft_tables());
    let r = run_with(
        t.hako(&[
            "--auto",
            "--color",
            "never",
            "--subnet",
            "10.77.0.0/16",
            "--",
            "/bin/true",
        ]),
        "",
    );
    r.assert_no_panic();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--subnet 10.77.0.0/16 overlaps 10.77.0.")
            && r.stderr
                .contains("a route or address this host already has"),
        "{}",
        r.stderr
    );
    assert_eq!((t.sysctls(), t.links(), t.nft_tables()), before);
    r.assert_nothing_left();
}

#[test]
fn bad_subnets_are_usage_errors_with_one_sentence() {
    for (bad, says) in [
        ("8.8.8.0/24", "not a private network"),
        (
            "10.0.0.1/24",
            "host bits set: the network is written 10.0.0.0/24",
        ),
        ("10.0.0.0/31", "prefix length must be from 8 to 30"),
        ("ten", "not a subnet"),
    ] {
        let r = run(&["--subnet", bad, "--auto"], "");
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{bad}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}

#[test]
fn list_shows_net_as_optional_and_the_script_has_its_lines() {
    let r = run(&["list"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains(" net "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(line.contains("--net"), "{line}");
    let r = run(&["script", "--subnet", "10.123.4.0/24"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = &r.stdout;
    for want in [
        "SUBNET=10.123.4.0/24",
        "ip link add $BR type bridge",
        "ip link set $VC netns $PID name eth0",
        "nsenter --net=/proc/$PID/ns/net ip route add default via $BRIDGE_IP",
        "sysctl -w net.ipv4.conf.$BR.forwarding=1 net.ipv4.conf.$UPLINK.forwarding=1",
        "nft -f - <<EOF",
        "ip saddr $SUBNET oifname \"$UPLINK\" masquerade",
        "package nftables",
        "package iproute2",
        "NET_UNDO=",
    ] {
        assert!(s.contains(want), "{want}:\n{s}");
    }
    assert!(!s.contains("ip_forward"), "{s}");
    let plain = run(&["script"], "");
    assert!(!plain.stdout.contains("nft"), "{}", plain.stdout);
}

#[test]
#[ignore = "needs root"]
fn the_script_with_net_runs_and_undoes_itself_in_a_namespace_of_the_tests_own() {
    require_root();
    let made = run(&["script", "--net"], "");
    assert_eq!(made.code, 0, "{}", made.stderr);
    let t = Topo::new("script");
    let before = (t.sysctls(), t.links(), t.nft_tables());
    let dir = Tmp::new("netscript");
    let file = dir.path().join("walk.sh");
    std::fs::write(&file, &made.stdout).unwrap();
    let mut bash = Command::new("nsenter");
    bash.env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .arg(format!("--net=/run/netns/{}", t.host))
        .arg("bash")
        .arg(&file);
    let r = run_with(
        bash,
        "ping -c1 -W3 192.0.2.1 >/dev/null && echo PING=ok\nip route | grep -q '^default via 10.200.0.1' && echo ROUTE=ok\n",
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(marker(&r.stdout, "PING"), "ok", "{}", r.stderr);
    assert_eq!(marker(&r.stdout, "ROUTE"), "ok", "{}", r.stderr);
    assert!(
        r.stderr.contains("net: 10.200.0.0/24, bridge hk-"),
        "{}",
        r.stderr
    );
    assert_eq!(t.links(), before.1, "{}", r.stderr);
    assert_eq!(t.nft_tables(), before.2, "{}", r.stderr);
    assert_eq!(t.sysctls(), before.0, "{}", r.stderr);
}

#[test]
#[ignore = "needs root"]
fn a_journal_naming_other_interfaces_tables_or_sysctls_changes_nothing() {
    require_root();
    let t = Topo::new("forged");
    sh_in(&t.host, "nft add table ip filter");
    let before = (t.sysctls(), t.links(), t.nft_tables());
    let ino = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/run/netns/{}", t.host))
            .unwrap()
            .ino()
    };
    let uuid = "0d1a2b3c-0000-4000-8000-00000000f00d";
    let net = |change: &str| format!(r#"{{"Net":{{"netns":{ino},"change":{change}}}}}"#);
    let items = [
        net(r#"{"Link":{"name":"uplink0"}}"#),
        net(r#"{"Link":{"name":"lo"}}"#),
        net(r#"{"Table":{"name":"filter"}}"#),
        net(r#"{"Forwarding":{"ifname":"all","was":"1"}}"#),
        net(r#"{"Forwarding":{"ifname":"uplink0","was":"7"}}"#),
    ];
    let journal = format!(
        r#"{{"owner":{{"pid":2147483000,"start":1}},"items":[{}]}}"#,
        items.join(",")
    );
    std::fs::create_dir_all("/run/hako").unwrap();
    let file = format!("/run/hako/{uuid}.json");
    std::fs::write(&file, journal).unwrap();
    let r = run_with(t.hako(&["cleanup"]), "");
    let _ = std::fs::remove_file(&file);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("left uplink0 alone"), "{}", r.stderr);
    assert!(r.stderr.contains("left filter alone"), "{}", r.stderr);
    assert_eq!(
        (t.sysctls(), t.links(), t.nft_tables()),
        before,
        "{}",
        r.stderr
    );
}
