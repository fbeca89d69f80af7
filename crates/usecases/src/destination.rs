//! Whether a webhook URL may be registered (SPEC §3).
//!
//! Two steps: `domain::UrlPolicy::check_url` checks what needs no network (syntax, scheme,
//! credentials, literal addresses, `localhost`); then, outside `--dev`, a DNS name is
//! resolved and refused if it does not resolve in time or if ANY of its addresses is not
//! public (one private record is enough to reach an internal host).
//!
//! This is a courtesy check that gives the user an early, clear refusal (a 422 in the API, a
//! message above the dashboard's form). It is not the SSRF
//! defence: DNS can change after registration, so the sender checks the address it
//! actually connects to at every attempt.

use std::future::Future;
use std::net::IpAddr;

use domain::{UrlPolicy, classify_ip};
use url::{Host, Url};

use crate::DNS_TIMEOUT;
use crate::error::{Truncated, UseCaseError, UseCaseResult};

/// Checks `text` and answers the parsed URL, resolving DNS names with the system resolver.
pub async fn check_destination(policy: UrlPolicy, text: &str) -> UseCaseResult<Url> {
    check_destination_with(policy, text, system_resolve).await
}

async fn system_resolve(host: String, port: u16) -> Result<Vec<IpAddr>, String> {
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .map(|addrs| addrs.map(|a| a.ip()).collect())
        .map_err(|e| e.to_string())
}

/// [`check_destination`] with the resolver passed in, so the rules can be tested without
/// a network.
pub async fn check_destination_with<R, F>(
    policy: UrlPolicy,
    text: &str,
    resolve: R,
) -> UseCaseResult<Url>
where
    R: FnOnce(String, u16) -> F,
    F: Future<Output = Result<Vec<IpAddr>, String>>,
{
    let url = policy.check_url(text.trim()).map_err(|e| {
        UseCaseError::UrlNotAllowed(format!("The webhook URL is not allowed: {e}."))
    })?;
    if policy.dev {
        return Ok(url);
    }
    let Some(Host::Domain(name)) = url.host() else {
        // Literal addresses were classified by `check_url`.
        return Ok(url);
    };
    let name = name.to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let unresolvable = |why: &str| {
        UseCaseError::UrlNotAllowed(format!(
            "The webhook URL is not allowed: its host `{}` {why}. Register a URL whose host has a \
             public DNS record.",
            Truncated(&name, 253)
        ))
    };
    let addresses = match tokio::time::timeout(DNS_TIMEOUT, resolve(name.clone(), port)).await {
        Err(_) => {
            return Err(unresolvable(&format!(
                "did not resolve within {} s",
                DNS_TIMEOUT.as_secs()
            )));
        }
        Ok(Err(error)) => return Err(unresolvable(&format!("does not resolve ({error})"))),
        Ok(Ok(addresses)) if addresses.is_empty() => return Err(unresolvable("has no addresses")),
        Ok(Ok(addresses)) => addresses,
    };
    if let Some((ip, class)) = addresses
        .iter()
        .map(|ip| (ip, classify_ip(*ip)))
        .find(|(_, class)| !class.is_public())
    {
        let class = class.to_string();
        let article = if class.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        return Err(UseCaseError::UrlNotAllowed(format!(
            "The webhook URL is not allowed: its host `{name}` resolves to {ip}, {article} {class} \
             address; webhooks are delivered only to public addresses (use --dev to allow it \
             during development)."
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy { dev: false };

    fn fixed(
        addresses: &[&str],
    ) -> impl FnOnce(String, u16) -> std::future::Ready<Result<Vec<IpAddr>, String>> {
        let ips: Vec<IpAddr> = addresses.iter().map(|a| a.parse().unwrap()).collect();
        move |_, _| std::future::ready(Ok(ips))
    }

    async fn detail(
        text: &str,
        resolve: impl FnOnce(String, u16) -> std::future::Ready<Result<Vec<IpAddr>, String>>,
    ) -> String {
        check_destination_with(STRICT, text, resolve)
            .await
            .unwrap_err()
            .to_string()
    }

    #[tokio::test]
    async fn names_resolving_to_public_addresses_pass() {
        let url = check_destination_with(
            STRICT,
            "https://hooks.example.com/in",
            fixed(&["93.184.215.14", "2606:4700::1111"]),
        )
        .await
        .unwrap();
        assert_eq!(url.host_str(), Some("hooks.example.com"));
    }

    #[tokio::test]
    async fn any_internal_address_refuses_the_name() {
        let d = detail(
            "https://mixed.example.com/",
            fixed(&["93.184.215.14", "10.0.0.7"]),
        )
        .await;
        assert!(
            d.contains("`mixed.example.com` resolves to 10.0.0.7, a private address"),
            "{d}"
        );
        let d = detail("https://meta.example.com/", fixed(&["169.254.169.254"])).await;
        assert!(d.contains("cloud metadata"), "{d}");
        let d = detail("https://zero.example.com/", fixed(&["::"])).await;
        assert!(d.contains("an unspecified address"), "{d}");
    }

    #[tokio::test]
    async fn unresolvable_names_are_refused() {
        let d = detail("https://nowhere.example/", |_, _| {
            std::future::ready(Err("no such host".to_owned()))
        })
        .await;
        assert!(
            d.contains("`nowhere.example` does not resolve (no such host)"),
            "{d}"
        );
        let d = detail("https://empty.example/", fixed(&[])).await;
        assert!(d.contains("has no addresses"), "{d}");
    }

    #[tokio::test(start_paused = true)]
    async fn slow_resolution_times_out() {
        let error = check_destination_with(STRICT, "https://slow.example/", |_, _| async {
            tokio::time::sleep(DNS_TIMEOUT * 2).await;
            Ok(vec![])
        })
        .await
        .unwrap_err();
        assert!(
            error.to_string().contains("did not resolve within"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn dev_mode_skips_dns_and_literals_never_resolve() {
        let never = |_: String, _: u16| async { panic!("must not resolve") };
        check_destination_with(UrlPolicy { dev: true }, "http://internal.corp/", never)
            .await
            .unwrap();
        check_destination_with(
            STRICT,
            "https://93.184.215.14/hook",
            |_: String, _: u16| async { panic!("must not resolve") },
        )
        .await
        .unwrap();
    }
}
