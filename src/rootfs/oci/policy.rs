//! Where a registry may send hako: the network policy for token realms and redirects.
//!
//! The registry the learner named is trusted to be reached; what it answers is not. A
//! `WWW-Authenticate` realm and a `Location` are URLs the registry chose, so each is
//! judged before hako follows it:
//!
//! - only `http` and `https`, never from `https` down to `http`;
//! - plain `http` only to a loopback host, or anywhere with `--insecure`;
//! - when the named registry is not on this machine, no hop may lead (as resolved) to a
//!   loopback, unspecified or link-local address: a remote registry must not aim a root
//!   process at services that listen only on this machine or its link (127/8, ::1,
//!   ::ffff:127.0.0.0/104, 0.0.0.0, ::, 169.254/16, fe80::/10);
//! - at most [`MAX_HOPS`] redirects.
//!
//! The same address rule is applied again when ureq connects ([`Guard`]), so a name that
//! resolves differently the second time (DNS rebinding) still cannot reach those addresses.

use super::digest::shown;
use crate::ui::i18n::tf;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Redirects followed for one request, at most.
pub const MAX_HOPS: usize = 5;

/// An address a remote registry may not send hako to.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_loopback() || a.is_unspecified() || a.is_link_local(),
        IpAddr::V6(a) => {
            a.is_loopback()
                || a.is_unspecified()
                || (a.segments()[0] & 0xffc0) == 0xfe80
                || a.to_ipv4_mapped()
                    .is_some_and(|v4| forbidden(IpAddr::V4(v4)))
        }
    }
}

/// The scheme, authority, host and port of a URL a registry sent.
#[derive(Debug)]
pub struct Target {
    pub scheme: String,
    pub authority: String,
    pub host: String,
    pub port: u16,
}

/// Splits a URL; `None` when it is not an absolute URL with a host.
pub fn target(url: &str) -> Option<Target> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let auth = uri.authority()?;
    let port = auth
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let host = auth.host().trim_start_matches('[').trim_end_matches(']');
    Some(Target {
        scheme,
        authority: auth.as_str().to_string(),
        host: host.to_string(),
        port,
    })
}

/// The rules for one pull.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The API host of the registry the learner named (`host[:port]`).
    pub registry: String,
    /// That registry is on this machine.
    pub registry_loopback: bool,
    /// `--insecure`: plain HTTP off this machine is allowed.
    pub insecure: bool,
}

impl Policy {
    fn host_of(authority: &str) -> &str {
        if let Some(rest) = authority.strip_prefix('[') {
            rest.split(']').next().unwrap_or("")
        } else if authority.matches(':').count() == 1 {
            authority.split(':').next().unwrap_or("")
        } else {
            authority
        }
    }

    /// Whether `host` is the named registry's own (which the learner chose).
    fn is_registry(&self, host: &str) -> bool {
        host.eq_ignore_ascii_case(Self::host_of(&self.registry))
    }

    /// Judges a URL the registry sent (a realm or a redirect), reached from a URL of
    /// scheme `from`. `resolve` gives the addresses of a host and port. The error is a
    /// phrase for `err.oci_policy`.
    pub fn judge(
        &self,
        from: &str,
        url: &str,
        resolve: impl Fn(&str, u16) -> Vec<IpAddr>,
    ) -> Result<Target, String> {
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        if let Some(s) = scheme.filter(|s| s != "http" && s != "https") {
            return Err(tf(
                "oci.policy_scheme",
                &[("url", &shown(url)), ("scheme", &shown(&s))],
            ));
        }
        let t = target(url).ok_or_else(|| tf("oci.bad_url", &[("url", &shown(url))]))?;
        if from == "https" && t.scheme == "http" {
            return Err(tf("oci.policy_downgrade", &[("url", &shown(url))]));
        }
        if t.scheme == "http" && !self.insecure && !is_loopback_host(&t.authority) {
            return Err(tf("oci.no_plain_http", &[("url", &shown(url))]));
        }
        if !self.registry_loopback && !self.is_registry(&t.host) {
            if let Some(ip) = resolve(&t.host, t.port)
                .into_iter()
                .find(|ip| forbidden(*ip))
            {
                return Err(tf(
                    "oci.policy_local",
                    &[
                        ("registry", &shown(&self.registry)),
                        ("url", &shown(url)),
                        ("ip", &ip),
                    ],
                ));
            }
        }
        Ok(t)
    }
}

/// The system resolver's answer (empty when the name does not resolve: the request then
/// fails as unreachable).
pub fn system_resolve(host: &str, port: u16) -> Vec<IpAddr> {
    (host, port)
        .to_socket_addrs()
        .map(|a| a.map(|s: SocketAddr| s.ip()).collect())
        .unwrap_or_default()
}

/// ureq's resolver, minus the forbidden addresses for every host but the registry's own
/// (and a proxy's), when the registry is not on this machine.
#[derive(Debug)]
pub struct Guard {
    pub policy: Policy,
    pub inner: ureq::unversioned::resolver::DefaultResolver,
}

impl ureq::unversioned::resolver::Resolver for Guard {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.inner.resolve(uri, config, timeout)?;
        let host = uri
            .host()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']');
        let proxy = config.proxy().is_some_and(|p| p.host() == host);
        if self.policy.registry_loopback || self.policy.is_registry(host) || proxy {
            return Ok(addrs);
        }
        let mut kept = self.empty();
        for a in addrs.iter().filter(|a| !forbidden(a.ip())) {
            kept.push(*a);
        }
        if kept.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(kept)
    }
}

/// `localhost`, 127.0.0.0/8 or ::1, with or without a port.
pub fn is_loopback_host(authority: &str) -> bool {
    if let Ok(ip) = authority.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(authority)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote() -> Policy {
        Policy {
            registry: "10.200.0.1:5000".into(),
            registry_loopback: false,
            insecure: true,
        }
    }

    fn none(_: &str, _: u16) -> Vec<IpAddr> {
        vec![]
    }

    #[test]
    fn forbidden_addresses() {
        for a in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
            "::",
            "169.254.169.254",
            "fe80::1",
            "febf::1",
            "::ffff:169.254.1.1",
        ] {
            assert!(forbidden(a.parse().unwrap()), "{a}");
        }
        for a in [
            "10.200.0.1",
            "8.8.8.8",
            "2001:db8::1",
            "fec0::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!forbidden(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn schemes_and_downgrades() {
        let p = remote();
        for bad in [
            "ftp://10.200.0.2/x",
            "file:///etc/passwd",
            "gopher://x/",
            "/relative",
        ] {
            assert!(p.judge("http", bad, none).is_err(), "{bad}");
        }
        assert!(p.judge("https", "http://10.200.0.2/x", none).is_err());
        assert!(p.judge("https", "https://10.200.0.2/x", none).is_ok());
        assert!(p.judge("http", "http://10.200.0.2/x", none).is_ok());
        let strict = Policy {
            insecure: false,
            ..remote()
        };
        assert!(strict.judge("http", "http://10.200.0.2/x", none).is_err());
        let e = strict
            .judge("https", "ftp://\u{1b}[31m/x", none)
            .unwrap_err();
        assert!(!e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn no_loopback_from_a_remote_registry() {
        let p = remote();
        for url in [
            "http://127.0.0.1:5000/token",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://0.0.0.0/x",
            "http://169.254.169.254/latest",
            "http://[fe80::1]/x",
        ] {
            assert!(p.judge("http", url, system_resolve).is_err(), "{url}");
        }
        // Judged on the resolved address, not the name.
        let lo = |_: &str, _: u16| vec!["127.0.0.1".parse().unwrap()];
        assert!(p.judge("http", "http://cdn.example/x", lo).is_err());
        // The registry's own host is the learner's choice.
        assert!(p.judge("http", "http://10.200.0.1:5000/v2/", lo).is_ok());
        // A registry on loopback may use loopback.
        let local = Policy {
            registry: "127.0.0.1:5000".into(),
            registry_loopback: true,
            insecure: false,
        };
        assert!(local
            .judge("http", "http://localhost:6000/token", system_resolve)
            .is_ok());
        assert!(local.judge("http", "http://10.1.1.1/x", none).is_err());
    }
}
