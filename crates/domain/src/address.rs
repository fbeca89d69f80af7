//! Which addresses an endpoint may reach, and which URLs may be registered.
//!
//! Outside `--dev`, webhooks go only to public unicast addresses: never to loopback,
//! private, link-local, CGNAT, multicast, unspecified, documentation/benchmark/reserved
//! ranges or cloud metadata services, in IPv4 or IPv6, including IPv4 addresses wrapped in
//! IPv6 (mapped, NAT64, 6to4). One table, `SPECIAL_PURPOSE`, lists every refused block
//! after IANA's special-purpose registries. The same classification is applied when a URL is
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
    /// Cloud instance metadata and host services (169.254.169.254, 100.100.100.200,
    /// 168.63.129.16, fd00:ec2::254).
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

/// What a special-purpose block means for delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Treatment {
    /// Never delivered to, reported as this class.
    Refuse(AddressClass),
    /// IPv6 that reaches the IPv4 address at this octet: classified as that address.
    EmbedsV4 { at_octet: usize },
}

/// One row of [`SPECIAL_PURPOSE`]: a network and what it means.
#[derive(Debug, Clone, Copy)]
struct Block {
    net: IpAddr,
    bits: u8,
    treatment: Treatment,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, bits: u8, class: AddressClass) -> Block {
    Block {
        net: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        bits,
        treatment: Treatment::Refuse(class),
    }
}

const fn v6(segments: [u16; 8], bits: u8, treatment: Treatment) -> Block {
    let [a, b, c, d, e, f, g, h] = segments;
    Block {
        net: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
        bits,
        treatment,
    }
}

const fn refuse(class: AddressClass) -> Treatment {
    Treatment::Refuse(class)
}

const fn embeds_v4(at_octet: usize) -> Treatment {
    Treatment::EmbedsV4 { at_octet }
}

/// The one table of addresses webhooks never go to. It follows IANA's IPv4 and IPv6
/// Special-Purpose Address Registries: every block marked "Globally Reachable: False" is
/// here, plus multicast, the deprecated relay/site-local blocks and cloud metadata
/// services. The blocks those registries mark globally reachable (AS112, AMT,
/// 2620:4f:8000::/48) are ordinary destinations, except where they sit inside a refused
/// block (the anycast addresses of 192.0.0.0/24 and 2001::/23 stay refused: nothing
/// legitimate receives webhooks there). The longest matching block decides, so the order
/// of rows is free; IPv6 outside 2000::/3 (global unicast) is refused even when no row
/// names it.
#[rustfmt::skip]
const SPECIAL_PURPOSE: &[Block] = {
    use AddressClass::*;
    &[
        // IPv4: iana.org/assignments/iana-ipv4-special-registry
        v4(0, 0, 0, 0, 8, Unspecified),           // RFC 791 "this network"
        v4(10, 0, 0, 0, 8, Private),              // RFC 1918 private-use
        v4(100, 64, 0, 0, 10, SharedCgnat),       // RFC 6598 shared address space
        v4(100, 100, 100, 200, 32, Metadata),     // Alibaba Cloud metadata
        v4(127, 0, 0, 0, 8, Loopback),            // RFC 1122 loopback
        v4(168, 63, 129, 16, 32, Metadata),       // Azure host endpoint (WireServer)
        v4(169, 254, 0, 0, 16, LinkLocal),        // RFC 3927 link-local
        v4(169, 254, 169, 254, 32, Metadata),     // AWS, GCP, Azure, OCI metadata
        v4(172, 16, 0, 0, 12, Private),           // RFC 1918 private-use
        v4(192, 0, 0, 0, 24, Reserved),           // RFC 6890 IETF protocol assignments
        v4(192, 0, 2, 0, 24, Reserved),           // RFC 5737 documentation (TEST-NET-1)
        v4(192, 88, 99, 0, 24, Reserved),         // RFC 7526 deprecated 6to4 relay anycast
        v4(192, 168, 0, 0, 16, Private),          // RFC 1918 private-use
        v4(198, 18, 0, 0, 15, Reserved),          // RFC 2544 benchmarking
        v4(198, 51, 100, 0, 24, Reserved),        // RFC 5737 documentation (TEST-NET-2)
        v4(203, 0, 113, 0, 24, Reserved),         // RFC 5737 documentation (TEST-NET-3)
        v4(224, 0, 0, 0, 4, Multicast),           // RFC 5771 multicast
        v4(240, 0, 0, 0, 4, Reserved),            // RFC 1112 reserved
        v4(255, 255, 255, 255, 32, Broadcast),    // RFC 919 limited broadcast
        // IPv6: iana.org/assignments/iana-ipv6-special-registry
        v6([0, 0, 0, 0, 0, 0, 0, 0], 128, refuse(Unspecified)),      // RFC 4291 unspecified
        v6([0, 0, 0, 0, 0, 0, 0, 1], 128, refuse(Loopback)),         // RFC 4291 loopback
        v6([0, 0, 0, 0, 0, 0, 0, 0], 96, embeds_v4(12)),             // RFC 4291 IPv4-compatible
        v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, embeds_v4(12)),        // RFC 4291 IPv4-mapped
        v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, embeds_v4(12)),     // RFC 6052 NAT64
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, refuse(Reserved)),  // RFC 8215 local-use NAT64
        v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, refuse(Reserved)),      // RFC 6666 discard-only
        v6([0x100, 0, 0, 1, 0, 0, 0, 0], 64, refuse(Reserved)),      // RFC 9780 dummy prefix
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, refuse(Reserved)),     // RFC 2928 IETF assignments
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, refuse(Reserved)), // RFC 3849 documentation
        v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, embeds_v4(2)),         // RFC 3056 6to4
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, refuse(Reserved)),     // RFC 9637 documentation
        v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, refuse(Reserved)),     // RFC 9602 SRv6 SIDs
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, refuse(Private)),       // RFC 4193 unique-local
        v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128, refuse(Metadata)), // AWS metadata
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, refuse(LinkLocal)),    // RFC 4291 link-local
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, refuse(Private)),      // RFC 3879 site-local
        v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, refuse(Multicast)),     // RFC 4291 multicast
    ]
};

impl Block {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                ip.to_bits() & mask == net.to_bits() & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                ip.to_bits() & mask == net.to_bits() & mask
            }
            _ => false,
        }
    }
}

/// The most specific block holding `ip`, if any.
fn special_block(ip: IpAddr) -> Option<&'static Block> {
    SPECIAL_PURPOSE
        .iter()
        .filter(|block| block.contains(ip))
        .max_by_key(|block| block.bits)
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    match special_block(IpAddr::V4(ip)).map(|block| block.treatment) {
        Some(Treatment::Refuse(class)) => class,
        // Only IPv6 rows embed; an IPv4 row naming it would be a mistake in the table.
        Some(Treatment::EmbedsV4 { .. }) | None => AddressClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    match special_block(IpAddr::V6(ip)).map(|block| block.treatment) {
        Some(Treatment::Refuse(class)) => class,
        Some(Treatment::EmbedsV4 { at_octet }) => {
            let o = ip.octets();
            classify_v4(Ipv4Addr::new(
                o[at_octet],
                o[at_octet + 1],
                o[at_octet + 2],
                o[at_octet + 3],
            ))
        }
        // Global unicast is 2000::/3; everything else is unassigned or special.
        None if ip.segments()[0] & 0xe000 == 0x2000 => AddressClass::Public,
        None => AddressClass::Reserved,
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

    /// Each block of the table, written out independently of it: its first and last
    /// address (with the class each is refused as) and the public addresses just outside.
    type BlockCase = (&'static str, End, End, &'static [&'static str]);
    type End = (&'static str, AddressClass);

    #[rustfmt::skip]
    const BLOCKS: &[BlockCase] = &[
        ("0.0.0.0/8", ("0.0.0.0", Unspecified), ("0.255.255.255", Unspecified), &["1.0.0.0"]),
        ("10.0.0.0/8", ("10.0.0.0", Private), ("10.255.255.255", Private), &["9.255.255.255", "11.0.0.0"]),
        ("100.64.0.0/10", ("100.64.0.0", SharedCgnat), ("100.127.255.255", SharedCgnat), &["100.63.255.255", "100.128.0.0"]),
        ("100.100.100.200/32", ("100.100.100.200", Metadata), ("100.100.100.200", Metadata), &[]),
        ("127.0.0.0/8", ("127.0.0.0", Loopback), ("127.255.255.255", Loopback), &["126.255.255.255", "128.0.0.0"]),
        ("168.63.129.16/32", ("168.63.129.16", Metadata), ("168.63.129.16", Metadata), &["168.63.129.15", "168.63.129.17"]),
        ("169.254.0.0/16", ("169.254.0.0", LinkLocal), ("169.254.255.255", LinkLocal), &["169.253.255.255", "169.255.0.0"]),
        ("169.254.169.254/32", ("169.254.169.254", Metadata), ("169.254.169.254", Metadata), &[]),
        ("172.16.0.0/12", ("172.16.0.0", Private), ("172.31.255.255", Private), &["172.15.255.255", "172.32.0.0"]),
        ("192.0.0.0/24", ("192.0.0.0", Reserved), ("192.0.0.255", Reserved), &["191.255.255.255", "192.0.1.0"]),
        ("192.0.2.0/24", ("192.0.2.0", Reserved), ("192.0.2.255", Reserved), &["192.0.1.255", "192.0.3.0"]),
        ("192.88.99.0/24", ("192.88.99.0", Reserved), ("192.88.99.255", Reserved), &["192.88.98.255", "192.88.100.0"]),
        ("192.168.0.0/16", ("192.168.0.0", Private), ("192.168.255.255", Private), &["192.167.255.255", "192.169.0.0"]),
        ("198.18.0.0/15", ("198.18.0.0", Reserved), ("198.19.255.255", Reserved), &["198.17.255.255", "198.20.0.0"]),
        ("198.51.100.0/24", ("198.51.100.0", Reserved), ("198.51.100.255", Reserved), &["198.51.99.255", "198.51.101.0"]),
        ("203.0.113.0/24", ("203.0.113.0", Reserved), ("203.0.113.255", Reserved), &["203.0.112.255", "203.0.114.0"]),
        ("224.0.0.0/4", ("224.0.0.0", Multicast), ("239.255.255.255", Multicast), &["223.255.255.255"]),
        ("240.0.0.0/4", ("240.0.0.0", Reserved), ("255.255.255.254", Reserved), &[]),
        ("255.255.255.255/32", ("255.255.255.255", Broadcast), ("255.255.255.255", Broadcast), &[]),
        ("::/128", ("::", Unspecified), ("::", Unspecified), &[]),
        ("::1/128", ("::1", Loopback), ("::1", Loopback), &[]),
        // The embedding blocks' ends wrap 0.0.0.0 and 255.255.255.255.
        ("::/96", ("::", Unspecified), ("::255.255.255.255", Broadcast), &["::8.8.8.8"]),
        ("::ffff:0:0/96", ("::ffff:0.0.0.0", Unspecified), ("::ffff:255.255.255.255", Broadcast), &["::ffff:8.8.8.8"]),
        ("64:ff9b::/96", ("64:ff9b::", Unspecified), ("64:ff9b::ffff:ffff", Broadcast), &["64:ff9b::808:808"]),
        ("64:ff9b:1::/48", ("64:ff9b:1::", Reserved), ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", Reserved), &[]),
        ("100::/64", ("100::", Reserved), ("100::ffff:ffff:ffff:ffff", Reserved), &[]),
        ("100:0:0:1::/64", ("100:0:0:1::", Reserved), ("100:0:0:1:ffff:ffff:ffff:ffff", Reserved), &[]),
        ("2001::/23", ("2001::", Reserved), ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved), &["2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:200::"]),
        ("2001:db8::/32", ("2001:db8::", Reserved), ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", Reserved), &["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"]),
        ("2002::/16", ("2002::", Unspecified), ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Broadcast), &["2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2003::", "2002:808:808::"]),
        ("3fff::/20", ("3fff::", Reserved), ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved), &["3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "3fff:1000::"]),
        ("5f00::/16", ("5f00::", Reserved), ("5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved), &[]),
        ("fc00::/7", ("fc00::", Private), ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Private), &[]),
        ("fd00:ec2::254/128", ("fd00:ec2::254", Metadata), ("fd00:ec2::254", Metadata), &[]),
        ("fe80::/10", ("fe80::", LinkLocal), ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", LinkLocal), &[]),
        ("fec0::/10", ("fec0::", Private), ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Private), &[]),
        ("ff00::/8", ("ff00::", Multicast), ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Multicast), &[]),
    ];

    #[test]
    fn every_special_purpose_block_is_refused_from_end_to_end() {
        for (block, (first, first_class), (last, last_class), public) in BLOCKS {
            assert_eq!(class(first), *first_class, "{block}: first address {first}");
            assert_eq!(class(last), *last_class, "{block}: last address {last}");
            for outside in *public {
                assert_eq!(class(outside), Public, "{block}: {outside} just outside");
            }
        }
    }

    #[test]
    fn the_table_and_its_test_name_the_same_blocks() {
        let parse = |cidr: &str| {
            let (net, bits) = cidr.split_once('/').unwrap();
            (net.parse::<IpAddr>().unwrap(), bits.parse::<u8>().unwrap())
        };
        let tested: Vec<(IpAddr, u8)> = BLOCKS.iter().map(|(cidr, ..)| parse(cidr)).collect();
        let table: Vec<(IpAddr, u8)> = SPECIAL_PURPOSE.iter().map(|b| (b.net, b.bits)).collect();
        assert_eq!(
            tested, table,
            "every block of SPECIAL_PURPOSE needs its row in BLOCKS"
        );
        for block in SPECIAL_PURPOSE {
            assert!(block.contains(block.net), "{}/{}", block.net, block.bits);
        }
    }

    #[test]
    fn the_newly_refused_blocks_are_refused_when_registered() {
        let strict = UrlPolicy { dev: false };
        for url in [
            "https://168.63.129.16/",
            "https://[3fff::1]/",
            "https://[3fff:fff::1]/x",
        ] {
            assert!(
                matches!(strict.check_url(url), Err(UrlError::NotPublic { .. })),
                "{url}"
            );
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
