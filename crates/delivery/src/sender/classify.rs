//! How a failed attempt is named: its [`ErrorClass`] and a short sentence for the log.
//!
//! An answer that is not a 2xx is `http_status`, except `410 Gone`: by Standard Webhooks
//! the receiver wants no more deliveries, so it is `gone` and the lane disables the
//! endpoint (the message says so, since it is the activity log's line for it).
//!
//! reqwest reports failures as one error type with a chain of sources (hyper, the
//! connector, `io::Error`, rustls, our SSRF guard). The class is decided by what is found
//! in that chain, most specific first: the SSRF guard, then rustls, then a timeout, then
//! everything else as a connection failure. Messages are built from the inner errors only,
//! never from reqwest's outer message, because that one repeats the URL and receivers put
//! tokens in URLs.

use std::error::Error as StdError;
use std::io;
use std::time::{Duration, SystemTime};

use domain::ErrorClass;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;

use super::resolver::SsrfBlocked;

/// The error and its causes, outermost first. `io::Error::source` skips the error it
/// wraps (it returns that error's own source), so the walk steps into it explicitly;
/// otherwise a rustls error inside an `io::Error` would never be seen.
fn causes<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut chain = Vec::new();
    let mut next = Some(error);
    // The bound only guards against a (buggy) cyclic chain.
    while let Some(current) = next.filter(|_| chain.len() < 32) {
        chain.push(current);
        next = match current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
    }
    chain
}

fn find<'a, T: StdError + 'static>(chain: &[&'a (dyn StdError + 'static)]) -> Option<&'a T> {
    chain.iter().find_map(|e| e.downcast_ref::<T>())
}

fn io_kind(chain: &[&(dyn StdError + 'static)]) -> Option<io::ErrorKind> {
    find::<io::Error>(chain).map(io::Error::kind)
}

/// The innermost cause's own message, shortened. For the outer error alone (no causes)
/// a neutral sentence, because reqwest's own message names the URL.
fn innermost(chain: &[&(dyn StdError + 'static)]) -> String {
    match chain {
        [] | [_] => "the request could not be made".to_owned(),
        [.., last] => {
            let text = last.to_string();
            let mut end = text.len().min(200);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text[..end].to_owned()
        }
    }
}

/// The class and message of an attempt that got no response.
pub(super) fn request_error(error: &reqwest::Error, timeout: Duration) -> (ErrorClass, String) {
    let chain = causes(error);
    if let Some(blocked) = find::<SsrfBlocked>(&chain) {
        return (ErrorClass::SsrfBlocked, format!("not sent: {blocked}"));
    }
    if let Some(tls) = find::<rustls::Error>(&chain) {
        return (ErrorClass::Tls, tls_message(tls));
    }
    if error.is_timeout() || io_kind(&chain) == Some(io::ErrorKind::TimedOut) {
        return (
            ErrorClass::Timeout,
            format!("no complete answer within {timeout:?}"),
        );
    }
    let message = match io_kind(&chain) {
        Some(io::ErrorKind::ConnectionRefused) => "the connection was refused".to_owned(),
        Some(io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted) => {
            "the connection was reset by the receiver".to_owned()
        }
        // hyper-util's connector names a failed lookup "dns error"; its type is private.
        _ if chain.iter().any(|e| e.to_string() == "dns error") => {
            format!("the host name could not be resolved: {}", innermost(&chain))
        }
        _ => format!("the connection failed: {}", innermost(&chain)),
    };
    (ErrorClass::Connect, message)
}

/// A clause saying why reading a response body stopped early.
pub(super) fn body_error(error: &reqwest::Error, timeout: Duration) -> String {
    let chain = causes(error);
    if error.is_timeout() {
        format!("reading its body did not finish within {timeout:?}")
    } else {
        format!("reading its body failed: {}", innermost(&chain))
    }
}

fn tls_message(error: &rustls::Error) -> String {
    use rustls::{CertificateError as C, Error as E};
    let what = match error {
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the certificate has expired".to_owned()
        }
        E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "the certificate is not valid yet".to_owned()
        }
        E::InvalidCertificate(C::UnknownIssuer) => {
            "the certificate is not issued by a trusted authority (self-signed or unknown CA)"
                .to_owned()
        }
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "the certificate is not valid for the host name".to_owned()
        }
        E::InvalidCertificate(C::Revoked) => "the certificate is revoked".to_owned(),
        E::PeerIncompatible(_) => {
            "no protocol version or cipher suite in common (TLS 1.2 is the minimum)".to_owned()
        }
        E::AlertReceived(alert) => format!("the receiver aborted the handshake ({alert:?})"),
        E::InvalidMessage(_) => "the receiver does not speak TLS on this port".to_owned(),
        other => other.to_string(),
    };
    format!("TLS handshake failed: {what}")
}

/// The class and message of an answer that is not a 2xx; `redirect_note` is appended
/// for a 3xx (see [`redirect_note`]).
pub(crate) fn refusal(status: StatusCode, redirect_note: Option<String>) -> (ErrorClass, String) {
    if status == StatusCode::GONE {
        return (
            ErrorClass::Gone,
            format!("the receiver answered {status}; the endpoint was disabled"),
        );
    }
    let mut message = format!("the receiver answered {status}");
    if let Some(note) = redirect_note {
        message.push_str(&note);
    }
    (ErrorClass::HttpStatus, message)
}

/// `Retry-After` as seconds or as an HTTP date relative to `now` (a past date is zero).
pub(super) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Appended to the message of a 3xx: where it pointed (origin only, since paths and
/// queries may hold tokens) and that it was not followed.
pub(super) fn redirect_note(location: Option<&HeaderValue>) -> String {
    let target = location
        .and_then(|v| v.to_str().ok())
        .and_then(|v| url::Url::parse(v).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|origin| origin != "null");
    match target {
        Some(origin) => format!(", a redirect to {origin}; redirects are not followed"),
        None => ", a redirect; redirects are not followed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_as_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let later = "Sun, 06 Nov 1994 08:51:37 GMT";
        assert_eq!(
            parse_retry_after(later, now),
            Some(Duration::from_secs(120))
        );
        // The obsolete forms of RFC 9110 are accepted too.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:51:37 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn only_410_is_gone_and_its_message_says_the_endpoint_was_disabled() {
        let (class, message) = refusal(StatusCode::GONE, None);
        assert_eq!(class, ErrorClass::Gone);
        assert_eq!(
            message,
            "the receiver answered 410 Gone; the endpoint was disabled"
        );
        for other in [404, 429, 500, 503] {
            let status = StatusCode::from_u16(other).unwrap();
            let (class, message) = refusal(status, None);
            assert_eq!(class, ErrorClass::HttpStatus);
            assert_eq!(message, format!("the receiver answered {status}"));
        }
        let note = redirect_note(None);
        let (_, message) = refusal(StatusCode::FOUND, Some(note.clone()));
        assert_eq!(message, format!("the receiver answered 302 Found{note}"));
    }

    #[test]
    fn redirect_note_shows_the_origin_only() {
        let absolute = HeaderValue::from_static("https://other.example:8443/path?token=s3cr3t");
        let note = redirect_note(Some(&absolute));
        assert_eq!(
            note,
            ", a redirect to https://other.example:8443; redirects are not followed"
        );
        let relative = HeaderValue::from_static("/elsewhere?token=s3cr3t");
        assert!(!redirect_note(Some(&relative)).contains("s3cr3t"));
        assert!(redirect_note(None).contains("not followed"));
    }

    #[test]
    fn the_walk_steps_into_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, tls);
        let chain = causes(&wrapped);
        assert!(find::<rustls::Error>(&chain).is_some());
        assert!(tls_message(find::<rustls::Error>(&chain).unwrap()).contains("expired"));
    }
}
