//! The vocabulary of delivery outcomes shared by the store, the dispatcher and the API.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not attempted yet.
    Pending,
    /// Received a 2xx.
    Delivered,
    /// Failed at least once and will be tried again.
    Failed,
    /// Given up: the event grew older than the retention before a 2xx.
    Expired,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    /// Whether the dispatcher still has work to do for it.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Failed)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a delivery status: use pending, delivered, failed or expired")]
pub struct StatusError(pub String);

impl FromStr for DeliveryStatus {
    type Err = StatusError;
    fn from_str(s: &str) -> Result<Self, StatusError> {
        match s {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            "expired" => Ok(Self::Expired),
            other => Err(StatusError(other.chars().take(64).collect())),
        }
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// No complete answer within the attempt timeout.
    Timeout,
    /// DNS failure, refused or reset connection.
    Connect,
    /// Handshake failed: untrusted, expired or wrong-host certificate, old protocol.
    Tls,
    /// The receiver answered, but not with a 2xx (redirects included) nor a 410.
    HttpStatus,
    /// The receiver answered `410 Gone`: it wants no more deliveries, so the endpoint is
    /// disabled (Standard Webhooks).
    Gone,
    /// The endpoint's address is not public and the service is not in `--dev`.
    SsrfBlocked,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::HttpStatus => "http_status",
            Self::Gone => "gone",
            Self::SsrfBlocked => "ssrf_blocked",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "timeout" => Self::Timeout,
            "connect" => Self::Connect,
            "tls" => Self::Tls,
            "http_status" => Self::HttpStatus,
            "gone" => Self::Gone,
            "ssrf_blocked" => Self::SsrfBlocked,
            other => return Err(format!("unknown error class `{other}`")),
        })
    }
}
