//! Listener endpoints: the endpoints `admin-webhooks listen` attaches to, which the
//! service never connects to. Their deliveries go out over the stream the command opened
//! to the service, and the command reports each attempt's outcome back.
//!
//! A listener is an ordinary endpoint row whose URL is `listen://<name>`: one scheme no
//! registration accepts (only `https://`, and `http://` in `--dev`), so an endpoint is a
//! listener exactly when its URL says so, in every backend and every edge.

/// The scheme of every listener's URL.
pub const LISTENER_SCHEME: &str = "listen://";

/// The longest listener name.
pub const MAX_LISTENER_NAME: usize = 40;

/// Whether an endpoint with this URL is a listener.
pub fn is_listener_url(url: &str) -> bool {
    url.starts_with(LISTENER_SCHEME)
}

/// The URL of the listener called `name` (already checked by [`check_listener_name`]).
pub fn listener_url(name: &str) -> String {
    format!("{LISTENER_SCHEME}{name}")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a listener name is 1 to {MAX_LISTENER_NAME} lowercase letters, digits or `-`, starting \
     with a letter or digit (for example `alice-laptop`)"
)]
pub struct ListenerNameError;

/// Checks a listener's name: it becomes the host part of `listen://<name>`.
pub fn check_listener_name(name: &str) -> Result<(), ListenerNameError> {
    let mut chars = name.chars();
    let first_ok = matches!(chars.next(), Some('a'..='z' | '0'..='9'));
    let rest_ok = chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'));
    if first_ok && rest_ok && name.len() <= MAX_LISTENER_NAME {
        Ok(())
    } else {
        Err(ListenerNameError)
    }
}

/// A listener name made from any text (a host name): lowercased, other characters
/// turned into `-`, cut to the longest name; `listener` when nothing usable is left.
pub fn listener_name_from(text: &str) -> String {
    let mut name: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name = name
        .trim_matches('-')
        .chars()
        .take(MAX_LISTENER_NAME)
        .collect();
    let name = name.trim_end_matches('-').to_owned();
    if check_listener_name(&name).is_ok() {
        name
    } else {
        "listener".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_is_known_by_its_url() {
        assert!(is_listener_url(&listener_url("alice-laptop")));
        assert!(!is_listener_url("https://listen.example.com/"));
        assert!(!is_listener_url("http://localhost:3000/listen://"));
    }

    #[test]
    fn names_are_checked_and_made_from_host_names() {
        for good in ["a", "alice-laptop", "mbp-2", "9lives"] {
            check_listener_name(good).unwrap();
        }
        for bad in ["", "-a", "Alice", "a b", "a.b", &"a".repeat(41)] {
            assert!(check_listener_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            listener_name_from("Alice's MacBook.local"),
            "alice-s-macbook-local"
        );
        assert_eq!(listener_name_from("--"), "listener");
        assert_eq!(listener_name_from(&"x".repeat(50)).len(), MAX_LISTENER_NAME);
    }
}
