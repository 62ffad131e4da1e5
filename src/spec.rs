//! Parsing of `--memory SIZE`, `--cpu SPEC` and `--subnet CIDR`: pure functions, unit-tested.

/// The article's CFS period: one second, in microseconds.
pub const DEFAULT_PERIOD_US: u64 = 1_000_000;
/// The article's CPU quota, in microseconds per period.
pub const DEFAULT_QUOTA_US: u64 = 300_000;

/// A CPU bandwidth limit: `quota` microseconds of CPU time per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSpec {
    pub quota_us: u64,
    pub period_us: u64,
}

impl Default for CpuSpec {
    fn default() -> Self {
        CpuSpec {
            quota_us: DEFAULT_QUOTA_US,
            period_us: DEFAULT_PERIOD_US,
        }
    }
}

impl CpuSpec {
    /// The share of one CPU, as a percentage (30.0 for the article's values).
    pub fn percent(&self) -> f64 {
        self.quota_us as f64 * 100.0 / self.period_us as f64
    }
}

/// Reads a size as the kernel and `docker --memory` do: bytes, or a binary suffix
/// (`K`, `M`, `G`, `T`, with an optional `i`/`B`: `10M` is 10×2²⁰).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("the memory size is empty; give bytes or a size such as 10M".into());
    }
    if t.starts_with('-') {
        return Err(format!(
            "'{s}' is negative; a memory limit is a positive size such as 10000000 or 10M"
        ));
    }
    let lower = t.to_ascii_lowercase();
    let body = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (digits, shift) = match body.chars().last() {
        Some('k') => (&body[..body.len() - 1], 10),
        Some('m') => (&body[..body.len() - 1], 20),
        Some('g') => (&body[..body.len() - 1], 30),
        Some('t') => (&body[..body.len() - 1], 40),
        _ => (body, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{s}' is not a size; give bytes (10000000) or a number with K, M or G (512K, 10M, 1G)"
        ));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is too large for a memory limit"))?;
    let bytes = n
        .checked_mul(1u64 << shift)
        .filter(|b| *b <= i64::MAX as u64)
        .ok_or_else(|| format!("'{s}' is too large for a memory limit"))?;
    if bytes == 0 {
        return Err(format!(
            "'{s}' is zero; a memory limit of zero lets nothing run: give at least a few megabytes, e.g. 10M"
        ));
    }
    Ok(bytes)
}

/// Reads a CPU limit: a percentage of one CPU (`30%`), a fraction (`0.3`), or the raw
/// `"QUOTA PERIOD"` in microseconds (`"300000 1000000"`), as `cpu.max` takes it.
pub fn parse_cpu(s: &str) -> Result<CpuSpec, String> {
    let t = s.trim();
    let hint = "give a share of one CPU such as 30% or 0.3, or \"QUOTA PERIOD\" in microseconds such as \"300000 1000000\"";
    let mut words = t.split_whitespace();
    let spec = match (words.next(), words.next(), words.next()) {
        (Some(q), Some(p), None) => {
            let quota: u64 = q
                .parse()
                .map_err(|_| format!("'{s}': the quota '{q}' is not a whole number; {hint}"))?;
            let period: u64 = p
                .parse()
                .map_err(|_| format!("'{s}': the period '{p}' is not a whole number; {hint}"))?;
            CpuSpec {
                quota_us: quota,
                period_us: period,
            }
        }
        (Some(one), None, None) => {
            let (num, scale) = match one.strip_suffix('%') {
                Some(n) => (n, 100.0),
                None => (one, 1.0),
            };
            let v: f64 = num
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| format!("'{s}' is not a CPU limit; {hint}"))?;
            if v <= 0.0 {
                return Err(format!("'{s}' gives no CPU time at all; {hint}"));
            }
            let quota = (v / scale * DEFAULT_PERIOD_US as f64).round();
            if quota > 1e12 {
                return Err(format!("'{s}' is too large for a CPU limit; {hint}"));
            }
            CpuSpec {
                quota_us: quota as u64,
                period_us: DEFAULT_PERIOD_US,
            }
        }
        _ => return Err(format!("'{s}' is not a CPU limit; {hint}")),
    };
    if spec.quota_us == 0 {
        return Err(format!("'{s}' gives no CPU time at all; {hint}"));
    }
    if !(1_000..=1_000_000).contains(&spec.period_us) {
        return Err(format!(
            "'{s}': the kernel accepts a period from 1000 to 1000000 microseconds (1 ms to 1 s); {hint}"
        ));
    }
    if spec.quota_us < 1_000 {
        return Err(format!(
            "'{s}': the kernel's smallest quota is 1000 microseconds per period; ask for a larger share"
        ));
    }
    Ok(spec)
}

/// An IPv4 subnet for the `--net` lesson (`--subnet 10.200.0.0/24`): the bridge takes
/// its first address, the container its second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub net: std::net::Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    fn mask(prefix: u8) -> u32 {
        u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0)
    }

    /// The `n`th address of the subnet (1: the bridge's, 2: the container's).
    pub fn host(&self, n: u32) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::from(u32::from(self.net) + n)
    }

    /// Whether this subnet and `net/prefix` share any address.
    pub fn overlaps(&self, net: std::net::Ipv4Addr, prefix: u8) -> bool {
        let p = self.prefix.min(prefix);
        let m = Subnet::mask(p);
        u32::from(self.net) & m == u32::from(net) & m
    }

    /// Whether it lies in the private ranges of RFC 1918.
    pub fn private(&self) -> bool {
        let last = std::net::Ipv4Addr::from(u32::from(self.net) | !Subnet::mask(self.prefix));
        // Both ends in the same private range (is_private: 10/8, 172.16/12, 192.168/16).
        self.net.is_private()
            && last.is_private()
            && self.net.octets()[..2] <= last.octets()[..2]
            && self.net.octets()[0] == last.octets()[0]
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// `--subnet CIDR`: a private IPv4 network (RFC 1918: 10/8, 172.16/12, 192.168/16)
/// written with its host bits zero, from /8 to /30 (room for the bridge and the
/// container). One sentence when it is not one.
pub fn parse_subnet(s: &str) -> Result<Subnet, String> {
    let t = s.trim();
    let example = "such as 10.200.0.0/24";
    let Some((ip, len)) = t.split_once('/') else {
        return Err(format!(
            "{s:?} is not a subnet: write an IPv4 network with its prefix length, {example}"
        ));
    };
    let (Ok(net), Ok(prefix)) = (ip.parse::<std::net::Ipv4Addr>(), len.parse::<u8>()) else {
        return Err(format!(
            "{s:?} is not a subnet: write an IPv4 network with its prefix length, {example}"
        ));
    };
    if !(8..=30).contains(&prefix) {
        return Err(format!(
            "{s:?}: the prefix length must be from 8 to 30 (a bridge and a container need two addresses), {example}"
        ));
    }
    let sub = Subnet { net, prefix };
    if u32::from(net) & !Subnet::mask(prefix) != 0 {
        let n = std::net::Ipv4Addr::from(u32::from(net) & Subnet::mask(prefix));
        return Err(format!(
            "{s:?} has host bits set: the network is written {n}/{prefix}"
        ));
    }
    if !sub.private() {
        return Err(format!(
            "{s:?} is not a private network: use one inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, {example}"
        ));
    }
    Ok(sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_reads_them() {
        assert_eq!(parse_size("10000000"), Ok(10_000_000));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("10M"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("10m"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("100b"), Ok(100));
    }

    #[test]
    fn bad_sizes_say_why() {
        for bad in [
            "ten",
            "0",
            "-5",
            "",
            "10X",
            "M",
            "1.5M",
            "99999999999999999999T",
        ] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.len() > 20, "{bad}: {e}");
        }
        assert!(parse_size("-5").unwrap_err().contains("negative"));
        assert!(parse_size("0").unwrap_err().contains("zero"));
    }

    #[test]
    fn cpu_specs() {
        let article = CpuSpec {
            quota_us: 300_000,
            period_us: 1_000_000,
        };
        assert_eq!(parse_cpu("30%"), Ok(article));
        assert_eq!(parse_cpu("0.3"), Ok(article));
        assert_eq!(parse_cpu("300000 1000000"), Ok(article));
        assert_eq!(parse_cpu("  300000   1000000 "), Ok(article));
        assert_eq!(parse_cpu("150%").unwrap().quota_us, 1_500_000);
        assert_eq!(parse_cpu("2").unwrap().quota_us, 2_000_000);
        assert_eq!(parse_cpu("50000 100000").unwrap().percent(), 50.0);
    }

    #[test]
    fn bad_cpu_specs_say_why() {
        for bad in [
            "0",
            "banana",
            "0%",
            "-1",
            "1 2 3",
            "300000 0",
            "100 1000000",
            "5000 5000000",
            "nan",
            "inf",
        ] {
            assert!(parse_cpu(bad).is_err(), "{bad} accepted");
        }
    }
}

#[cfg(test)]
mod subnet_tests {
    use super::*;

    #[test]
    fn subnets() {
        let s = parse_subnet("10.200.3.0/24").unwrap();
        assert_eq!(s.to_string(), "10.200.3.0/24");
        assert_eq!(s.host(1).to_string(), "10.200.3.1");
        assert_eq!(s.host(2).to_string(), "10.200.3.2");
        assert!(s.overlaps("10.200.0.0".parse().unwrap(), 16));
        assert!(s.overlaps("10.200.3.128".parse().unwrap(), 25));
        assert!(!s.overlaps("10.200.4.0".parse().unwrap(), 24));
        assert!(parse_subnet("192.168.7.0/30").is_ok());
        assert!(parse_subnet("172.31.0.0/16").is_ok());
        for bad in [
            "10.200.3.1/24",
            "8.8.8.0/24",
            "172.32.0.0/16",
            "10.0.0.0/31",
            "10.0.0.0/4",
            "10.0.0.0",
            "ten/24",
            "",
            "10.0.0.0/x",
        ] {
            assert!(parse_subnet(bad).is_err(), "{bad}");
        }
        assert!(parse_subnet("10.200.3.1/24")
            .unwrap_err()
            .contains("10.200.3.0/24"));
    }
}
