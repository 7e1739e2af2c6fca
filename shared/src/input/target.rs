//! Which targets a deployment may fetch: the SSRF guard's classifier.
//!
//! A public fetch service must not become a way into private networks or
//! cloud metadata endpoints. This module decides from the URL alone (a
//! Worker has no DNS API), so names are judged by their shape (`localhost`,
//! `*.internal`, …) and IP literals by their range, including IPv4 written
//! inside IPv6. Production Workers cannot reach private networks anyway; the
//! guard makes the refusal explicit, early and testable.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::wire::error::FetchError;

/// Whether an IPv4 address is loopback, private, link-local, shared,
/// unspecified, multicast, reserved or broadcast.
pub fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    ip.is_loopback()                         // 127/8
        || ip.is_private()                   // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local()                // 169.254/16, cloud metadata
        || a == 0                            // 0/8 "this network", incl. 0.0.0.0
        || (a == 100 && (64..128).contains(&b)) // 100.64/10 carrier-grade NAT
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // 192.0.0/24 IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // 198.18/15 benchmarking
        || ip.is_multicast()                 // 224/4
        || a >= 240 // 240/4 reserved, 255.255.255.255 broadcast
}

/// Whether an IPv6 address is loopback, unspecified, unique-local,
/// link-local, multicast, or an IPv4 address that is private.
pub fn is_private_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_private_v4(v4);
    }
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96).
    if (seg[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified())
        || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        let o = ip.octets();
        return is_private_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || (seg[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (seg[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (seg[0] & 0xffc0) == 0xfec0 // fec0::/10 site-local (deprecated)
        || ip.is_multicast()
}

/// Whether a host name is one that resolves to private space by convention.
pub fn is_private_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || [".localhost", ".local", ".internal", ".home.arpa", ".lan"].iter().any(|s| name.ends_with(s))
        || name == "metadata"
}

/// Whether the URL's host is private by the rules above.
pub fn is_private_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => is_private_v4(ip),
        Some(Host::Ipv6(ip)) => is_private_v6(ip),
        Some(Host::Domain(name)) => is_private_name(name),
        None => true,
    }
}

/// The deployment's rules for targets, checked before every request and
/// again at every redirect hop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Whether private, loopback and link-local targets may be fetched.
    pub allow_private: bool,
    /// When not empty, the only hosts that may be fetched; these are allowed
    /// even when private.
    pub allowed_hosts: Vec<String>,
}

impl TargetPolicy {
    /// The policy of a deployment's limits.
    pub fn from_limits(limits: &crate::wire::config::Limits) -> Self {
        Self { allow_private: limits.allow_private_targets, allowed_hosts: limits.allowed_hosts.clone() }
    }

    /// Refuse `url` unless these rules allow it.
    pub fn check(&self, url: &Url) -> Result<(), FetchError> {
        check_scheme(url)?;
        let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if !self.allowed_hosts.is_empty() {
            let listed = self
                .allowed_hosts
                .iter()
                .any(|h| h.trim().trim_start_matches('[').trim_end_matches(']').eq_ignore_ascii_case(&host));
            return if listed {
                Ok(())
            } else {
                Err(FetchError::BlockedTarget(format!("{host} is not in this deployment's ALLOWED_HOSTS")))
            };
        }
        check_target(url, self.allow_private)
    }
}

/// Only `http` and `https` are fetched.
pub fn check_scheme(url: &Url) -> Result<(), FetchError> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(FetchError::InvalidUrl(format!("scheme {other}: is not http or https"))),
    }
}

/// Refuse a target unless it is http(s) and public, or private targets are
/// allowed by configuration.
pub fn check_target(url: &Url, allow_private: bool) -> Result<(), FetchError> {
    check_scheme(url)?;
    if !allow_private && is_private_host(url) {
        return Err(FetchError::BlockedTarget(format!(
            "{} is a private, loopback or link-local address; this deployment only fetches public hosts",
            url.host_str().unwrap_or("(no host)")
        )));
    }
    Ok(())
}

/// Only absolute http(s) URLs with a host can be fetched. Returns the parsed
/// URL, so callers that go on to check the target do not parse it again.
pub fn check_url(url: &str) -> Result<url::Url, FetchError> {
    let parsed = url::Url::parse(url).map_err(|e| FetchError::InvalidUrl(format!("{e}")))?;
    check_scheme(&parsed)?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(FetchError::InvalidUrl("no host".into()));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(u: &str) -> bool {
        check_target(&Url::parse(u).unwrap(), false).is_err()
    }

    #[test]
    fn every_private_v4_range_is_blocked() {
        for u in [
            "http://127.0.0.1/",
            "http://127.255.0.9/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0.0.0.0/",
            "http://0/",
            "http://100.64.0.1/",
            "http://198.18.0.1/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://2130706433/", // 127.0.0.1 as one decimal number
            "http://0x7f.0.0.1/", // hex octet
            "http://0177.0.0.1/", // octal octet
        ] {
            assert!(blocked(u), "{u}");
        }
    }

    #[test]
    fn every_private_v6_range_is_blocked() {
        for u in [
            "http://[::1]/",
            "http://[::]/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[fe80::1]/",
            "http://[fec0::1]/",
            "http://[ff02::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::10.0.0.1]/",
            "http://[64:ff9b::192.168.0.1]/",
        ] {
            assert!(blocked(u), "{u}");
        }
    }

    #[test]
    fn private_names_are_blocked() {
        for u in [
            "http://localhost:8787/",
            "http://LOCALHOST./",
            "http://a.localhost/",
            "http://db.internal/",
            "http://printer.local/",
            "http://metadata/",
        ] {
            assert!(blocked(u), "{u}");
        }
    }

    #[test]
    fn an_allow_list_admits_only_its_hosts_even_private_ones() {
        let p = TargetPolicy {
            allow_private: false,
            allowed_hosts: vec!["127.0.0.2".into(), "Shop.Example".into(), "[::1]".into()],
        };
        let ok = |u: &str| p.check(&Url::parse(u).unwrap()).is_ok();
        assert!(ok("http://127.0.0.2:9000/x"));
        assert!(ok("https://shop.example/p"));
        assert!(ok("http://[::1]:80/"));
        assert!(!ok("http://127.0.0.1:9000/x"));
        assert!(!ok("https://other.example/"));
        assert!(!ok("ftp://shop.example/"));
        let open = TargetPolicy::default();
        assert!(open.check(&Url::parse("http://10.0.0.1/").unwrap()).is_err());
        assert!(open.check(&Url::parse("https://example.com/").unwrap()).is_ok());
    }

    #[test]
    fn public_targets_pass_and_the_allowance_opens_private_ones() {
        for u in [
            "https://example.com/p",
            "http://93.184.216.34/",
            "http://[2606:4700::1111]/",
            "http://172.32.0.1/",
            "http://100.128.0.1/",
            "http://[::ffff:8.8.8.8]/",
        ] {
            assert!(!blocked(u), "{u}");
        }
        assert!(check_target(&Url::parse("http://127.0.0.1:9/").unwrap(), true).is_ok());
        let e = check_target(&Url::parse("file:///etc/passwd").unwrap(), true).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidUrl);
        let e = check_target(&Url::parse("http://10.0.0.1/").unwrap(), false).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::BlockedTarget);
    }
}
