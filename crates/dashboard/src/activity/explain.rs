//! The words that make the activity log explain itself: a failed attempt's reason in
//! the row, and the delivery an untried one waits behind.

use domain::ErrorClass;
use usecases::EndpointHealth;

use super::DeliveryRow;

/// The longest reason message shown in a row; the delivery's page has it whole.
const MAX_REASON: usize = 100;

/// "Connection failed: the connection was refused", "HTTP 401: the receiver answered
/// 401 Unauthorized", from a delivery's `last_error` ("class: message").
pub(crate) fn reason(last_error: &str, status: Option<u16>) -> String {
    let (class, message) = match last_error.split_once(": ") {
        Some((class, message)) => match class.parse::<ErrorClass>() {
            Ok(class) => (Some(class), message),
            Err(_) => (None, last_error),
        },
        None => match last_error.parse::<ErrorClass>() {
            Ok(class) => (Some(class), ""),
            Err(_) => (None, last_error),
        },
    };
    let label = match class {
        Some(ErrorClass::Timeout) => "Timed out".to_owned(),
        Some(ErrorClass::Connect) => "Connection failed".to_owned(),
        Some(ErrorClass::Tls) => "TLS failed".to_owned(),
        Some(ErrorClass::HttpStatus) | Some(ErrorClass::Gone) => match status {
            Some(code) => format!("HTTP {code}"),
            None => "HTTP error".to_owned(),
        },
        Some(ErrorClass::SsrfBlocked) => "Blocked address".to_owned(),
        None => String::new(),
    };
    let message = shorten(message);
    match (label.is_empty(), message.is_empty()) {
        (true, _) => message,
        (false, true) => label,
        (false, false) => format!("{label}: {message}"),
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_REASON {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_REASON - 1).collect();
    format!("{}…", cut.trim_end())
}

/// The row, with the head it waits behind when it is open, untried and not the head.
pub(crate) fn held(mut row: DeliveryRow, health: &EndpointHealth) -> DeliveryRow {
    let open = matches!(row.status, "pending" | "failed");
    let id = row.id.parse().ok();
    if let (true, Some(id)) = (open, id)
        && let Some(head) = health.holds_back(&id, row.attempts)
    {
        row.waiting_behind = Some(head.to_string());
        // It goes when the head is through, not at a time of its own.
        row.next_retry = "after the head".to_owned();
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_class_and_keep_the_message() {
        assert_eq!(
            reason("connect: the connection was refused", None),
            "Connection failed: the connection was refused"
        );
        assert_eq!(
            reason(
                "http_status: the receiver answered 401 Unauthorized",
                Some(401)
            ),
            "HTTP 401: the receiver answered 401 Unauthorized"
        );
        assert_eq!(reason("timeout", None), "Timed out");
        assert_eq!(reason("something odd", None), "something odd");
        let long = format!("tls: {}", "x".repeat(300));
        assert!(reason(&long, None).chars().count() < 120);
    }
}
