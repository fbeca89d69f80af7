//! The SSRF guard: the name resolver of the sender's HTTP client.
//!
//! The client opens connections only to the addresses this resolver returns, so dropping
//! every non-public address here (outside `--dev`) means an attempt can never connect to
//! loopback, private, link-local, metadata or other internal addresses, whatever a name
//! resolves to at that moment. This is why the check survives DNS rebinding: it is made
//! when connecting, against the very addresses connected to, not when the URL was
//! registered. IP literals do not pass through a resolver; the sender checks them with
//! `UrlPolicy` before sending.
//!
//! When nothing public remains the lookup fails with [`SsrfBlocked`], which the sender
//! finds in the error's source chain and records as `ssrf_blocked`.

use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use domain::classify_ip;
use futures::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Resolves a host name to its addresses. The system resolver in production; tests put a
/// fixed table in its place.
pub(crate) type Lookup =
    Arc<dyn Fn(String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> + Send + Sync>;

/// The operating system's resolver, through tokio's blocking pool.
pub(crate) fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    })
}

/// Every address of a host was refused by the address policy.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{host}` resolves only to non-public addresses ({refused}); webhooks are delivered \
     only to public addresses"
)]
pub(crate) struct SsrfBlocked {
    host: String,
    /// The refused addresses with their class, for the activity log.
    refused: String,
}

/// A [`Resolve`] that keeps only the addresses the service may connect to.
pub(crate) struct GuardedResolver {
    /// `--dev` keeps every address.
    dev: bool,
    lookup: Lookup,
}

impl GuardedResolver {
    pub(crate) fn new(dev: bool, lookup: Lookup) -> Self {
        Self { dev, lookup }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let dev = self.dev;
        let host = name.as_str().to_owned();
        let lookup = Arc::clone(&self.lookup);
        Box::pin(async move {
            let found = lookup(host.clone()).await?;
            let allowed = allowed_addresses(dev, &host, found)?;
            // Port 0: the connector puts the URL's port in.
            let addrs: Addrs = Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The addresses of `host` that may be connected to, in the resolver's order.
fn allowed_addresses(
    dev: bool,
    host: &str,
    found: Vec<IpAddr>,
) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
    if found.is_empty() {
        return Err(
            io::Error::new(io::ErrorKind::NotFound, "the host name has no addresses").into(),
        );
    }
    if dev {
        return Ok(found);
    }
    let (allowed, refused): (Vec<IpAddr>, Vec<IpAddr>) = found
        .into_iter()
        .partition(|ip| classify_ip(*ip).is_public());
    if !allowed.is_empty() {
        return Ok(allowed);
    }
    let mut listed = String::new();
    for (i, ip) in refused.iter().take(3).enumerate() {
        let separator = if i == 0 { "" } else { ", " };
        let _ = write!(listed, "{separator}{ip} is {}", classify_ip(*ip));
    }
    if refused.len() > 3 {
        let _ = write!(listed, ", and {} more", refused.len() - 3);
    }
    Err(Box::new(SsrfBlocked {
        host: host.to_owned(),
        refused: listed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn strict_keeps_only_public_addresses() {
        let found = ips(&["127.0.0.1", "8.8.8.8", "10.0.0.1", "2606:4700::1111", "::1"]);
        let kept = allowed_addresses(false, "mixed.test", found).unwrap();
        assert_eq!(kept, ips(&["8.8.8.8", "2606:4700::1111"]));
    }

    #[test]
    fn strict_refuses_a_name_with_only_internal_addresses() {
        let found = ips(&["127.0.0.1", "169.254.169.254", "::ffff:10.0.0.1", "fd00::1"]);
        let error = allowed_addresses(false, "rebind.test", found).unwrap_err();
        let blocked = error
            .downcast_ref::<SsrfBlocked>()
            .expect("an SsrfBlocked error");
        let text = blocked.to_string();
        assert!(text.contains("rebind.test"), "{text}");
        assert!(text.contains("127.0.0.1 is loopback"), "{text}");
        assert!(text.contains("169.254.169.254 is cloud metadata"), "{text}");
        assert!(text.contains("and 1 more"), "{text}");
    }

    #[test]
    fn dev_keeps_everything() {
        let found = ips(&["127.0.0.1", "::1"]);
        assert_eq!(
            allowed_addresses(true, "localhost", found.clone()).unwrap(),
            found
        );
    }

    #[test]
    fn no_addresses_is_a_lookup_failure_not_a_block() {
        let error = allowed_addresses(false, "empty.test", Vec::new()).unwrap_err();
        assert!(error.downcast_ref::<SsrfBlocked>().is_none());
        assert!(error.downcast_ref::<io::Error>().is_some());
    }
}
