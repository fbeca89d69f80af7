//! Which addresses an endpoint may reach, and which URLs may be registered.
//!
//! Outside `--dev`, webhooks go only to public unicast addresses: never to loopback,
//! private, link-local, CGNAT, multicast, unspecified, documentation/benchmark/reserved
//! ranges or cloud metadata services, in IPv4 or IPv6, including IPv4 addresses wrapped in
//! IPv6 (mapped, NAT64, 6to4). The same classification is applied when a URL is
//! registered and again, by the sender, to the address each attempt actually connects to.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Loopback,
    Private,
    LinkLocal,
    /// 100.64.0.0/10, carrier-grade NAT.
    SharedCgnat,
    Multicast,
    Unspecified,
    Broadcast,
    /// Cloud instance metadata services (169.254.169.254, 100.100.100.200, fd00:ec2::254).
    Metadata,
    /// Documentation, benchmarking, protocol-assignment and other reserved ranges.
    Reserved,
}

impl AddressClass {
    pub fn is_public(self) -> bool {
        self == Self::Public
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Public => "public",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::SharedCgnat => "carrier-grade NAT",
            Self::Multicast => "multicast",
            Self::Unspecified => "unspecified",
            Self::Broadcast => "broadcast",
            Self::Metadata => "cloud metadata",
            Self::Reserved => "reserved",
        })
    }
}

fn article(class: AddressClass) -> &'static str {
    if matches!(class, AddressClass::Unspecified) {
        "an"
    } else {
        "a"
    }
}

pub fn classify_ip(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        return Metadata;
    }
    if ip == Ipv4Addr::BROADCAST {
        return Broadcast;
    }
    let table: &[([u8; 4], u32, AddressClass)] = &[
        ([0, 0, 0, 0], 8, Unspecified),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, SharedCgnat),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Reserved),
        ([192, 88, 99, 0], 24, Reserved),
        ([192, 168, 0, 0], 16, Private),
        ([198, 18, 0, 0], 15, Reserved),
        ([198, 51, 100, 0], 24, Reserved),
        ([203, 0, 113, 0], 24, Reserved),
        ([224, 0, 0, 0], 4, Multicast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    table
        .iter()
        .find(|(net, bits, _)| in_v4(ip, *net, *bits))
        .map_or(Public, |(_, _, class)| *class)
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    (u128::from(ip) & mask) == (u128::from(net) & mask)
}

fn embedded_v4(ip: Ipv6Addr, at_octet: usize) -> Ipv4Addr {
    let o = ip.octets();
    Ipv4Addr::new(
        o[at_octet],
        o[at_octet + 1],
        o[at_octet + 2],
        o[at_octet + 3],
    )
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    if ip.is_unspecified() {
        return Unspecified;
    }
    if ip.is_loopback() {
        return Loopback;
    }
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Metadata;
    }
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) addresses reach the
    // IPv4 address inside them.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if in_v6(ip, Ipv6Addr::UNSPECIFIED, 96) {
        return classify_v4(embedded_v4(ip, 12));
    }
    let net = |s: &str| s.parse::<Ipv6Addr>().expect("literal network");
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) route to the IPv4 address they embed.
    if in_v6(ip, net("64:ff9b::"), 96) {
        return classify_v4(embedded_v4(ip, 12));
    }
    if in_v6(ip, net("2002::"), 16) {
        return classify_v4(embedded_v4(ip, 2));
    }
    let table: &[(&str, u32, AddressClass)] = &[
        ("fc00::", 7, Private),
        ("fe80::", 10, LinkLocal),
        ("fec0::", 10, Private),
        ("ff00::", 8, Multicast),
        ("2001:db8::", 32, Reserved),
        ("100::", 64, Reserved),
        ("2001::", 23, Reserved),
        ("64:ff9b:1::", 48, Reserved),
    ];
    if let Some((_, _, class)) = table.iter().find(|(n, bits, _)| in_v6(ip, net(n), *bits)) {
        return *class;
    }
    // Global unicast is 2000::/3; everything else is unassigned or special.
    if in_v6(ip, net("2000::"), 3) {
        Public
    } else {
        Reserved
    }
}

/// Whether a URL may be registered, and whether its addresses may be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// `--dev`: allow `http://` and loopback/private addresses.
    pub dev: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("`{0}` is not a valid absolute URL")]
    Invalid(String),
    #[error("the URL must use https (http is allowed only when the service runs with --dev)")]
    NotHttps,
    #[error("the URL must use http or https")]
    BadScheme,
    #[error("the URL must not contain a user name or password")]
    Credentials,
    #[error("the URL is longer than 2048 characters")]
    TooLong,
    #[error("the URL must name a host")]
    NoHost,
    #[error(
        "`{host}` is {} {class} address; webhooks are delivered only to public addresses \
         (use --dev to allow it during development)",
        article(*class)
    )]
    NotPublic { host: String, class: AddressClass },
}

impl UrlPolicy {
    /// Checks what can be checked without DNS: syntax, scheme, credentials and literal
    /// addresses (including `localhost` names). Names are resolved and checked by the
    /// caller with [`UrlPolicy::check_ip`].
    pub fn check_url(&self, text: &str) -> Result<Url, UrlError> {
        if text.len() > 2048 {
            return Err(UrlError::TooLong);
        }
        let url =
            Url::parse(text).map_err(|_| UrlError::Invalid(text.chars().take(200).collect()))?;
        match (url.scheme(), self.dev) {
            ("https", _) | ("http", true) => {}
            ("http", false) => return Err(UrlError::NotHttps),
            _ => return Err(UrlError::BadScheme),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        match url.host() {
            None => return Err(UrlError::NoHost),
            Some(Host::Ipv4(v4)) => self.check_ip(&v4.to_string(), IpAddr::V4(v4))?,
            Some(Host::Ipv6(v6)) => self.check_ip(&v6.to_string(), IpAddr::V6(v6))?,
            Some(Host::Domain(name)) => {
                let lower = name.to_ascii_lowercase();
                let lower = lower.trim_end_matches('.');
                if !self.dev && (lower == "localhost" || lower.ends_with(".localhost")) {
                    return Err(UrlError::NotPublic {
                        host: name.to_owned(),
                        class: AddressClass::Loopback,
                    });
                }
            }
        }
        Ok(url)
    }

    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), UrlError> {
        let class = classify_ip(ip);
        if self.dev || class.is_public() {
            Ok(())
        } else {
            Err(UrlError::NotPublic {
                host: host.to_owned(),
                class,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressClass::*;

    fn class(s: &str) -> AddressClass {
        classify_ip(s.parse().unwrap())
    }

    #[test]
    fn every_refused_class_is_recognised() {
        let cases = [
            ("127.0.0.1", Loopback),
            ("127.255.1.2", Loopback),
            ("::1", Loopback),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("fd12::1", Private),
            ("169.254.1.1", LinkLocal),
            ("fe80::1", LinkLocal),
            ("100.64.0.1", SharedCgnat),
            ("100.127.255.255", SharedCgnat),
            ("224.0.0.1", Multicast),
            ("ff02::1", Multicast),
            ("0.0.0.0", Unspecified),
            ("::", Unspecified),
            ("255.255.255.255", Broadcast),
            ("169.254.169.254", Metadata),
            ("100.100.100.200", Metadata),
            ("fd00:ec2::254", Metadata),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:169.254.169.254", Metadata),
            ("64:ff9b::a00:1", Private),
            ("2002:7f00:1::", Loopback),
            ("192.0.2.1", Reserved),
            ("203.0.113.42", Reserved),
            ("2001:db8::1", Reserved),
            ("240.0.0.1", Reserved),
        ];
        for (ip, want) in cases {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(class(ip), Public, "{ip}");
        }
    }

    #[test]
    fn strict_policy_refuses_http_literals_and_localhost() {
        let strict = UrlPolicy { dev: false };
        assert_eq!(
            strict.check_url("http://example.com/").unwrap_err(),
            UrlError::NotHttps
        );
        assert!(matches!(
            strict.check_url("https://127.0.0.1/"),
            Err(UrlError::NotPublic { .. })
        ));
        assert!(matches!(
            strict.check_url("https://[::ffff:7f00:1]/"),
            Err(UrlError::NotPublic { .. })
        ));
        assert!(matches!(
            strict.check_url("https://LOCALHOST./x"),
            Err(UrlError::NotPublic { .. })
        ));
        assert!(matches!(
            strict.check_url("https://a.b.localhost/x"),
            Err(UrlError::NotPublic { .. })
        ));
        assert_eq!(
            strict.check_url("https://u:p@example.com/").unwrap_err(),
            UrlError::Credentials
        );
        assert_eq!(
            strict.check_url("ftp://example.com/").unwrap_err(),
            UrlError::BadScheme
        );
        assert!(matches!(
            strict.check_url("not a url"),
            Err(UrlError::Invalid(_))
        ));
        strict.check_url("https://example.com/webhook").unwrap();
    }

    #[test]
    fn dev_policy_allows_http_and_loopback() {
        let dev = UrlPolicy { dev: true };
        dev.check_url("http://127.0.0.1:8000/webhook").unwrap();
        dev.check_url("http://localhost/webhook").unwrap();
    }
}
