//! The rules of Admin Webhooks that need no I/O: typed ids, the event catalog,
//! subscription matching, signatures, backoff and what follows an attempt, the address
//! policy for endpoints, endpoint controls (rate limits, custom headers), the rules a published payload must follow and the exact bytes
//! of a delivered body.
//!
//! Everything here is deterministic given its inputs (randomness is passed in or drawn
//! from the thread RNG only where a fresh secret or id is the point), so the store, the
//! dispatcher and the API can share one definition of each rule.

pub mod address;
pub mod api_key;
pub mod attempt;
pub mod backoff;
pub mod catalog;
pub mod custom_headers;
pub mod delivery;
pub mod duration;
pub mod event;
pub mod ids;
pub mod listener;
pub mod payload;
pub mod rate_limit;
pub mod signature;
pub mod subscription;

pub use address::{AddressClass, UrlError, UrlPolicy, classify_ip};
pub use attempt::{AttemptVerdict, HeadSchedule, NextState, Readiness};
pub use backoff::Backoff;
pub use catalog::{BUILTIN_EVENT_TYPES, EventTypeDef, TypeNameError, validate_type_name};
pub use custom_headers::{CustomHeader, CustomHeaders, HeaderError};
pub use delivery::{DeliveryStatus, ErrorClass};
pub use ids::{ApiKeyId, AttemptId, DeliveryId, EventId, IdError, WebhookId, WorkspaceId};
pub use payload::{PayloadError, PayloadRules, check_payload};
pub use rate_limit::{RateLimit, RateLimitError, RatePeriod};
pub use subscription::{Subscription, SubscriptionError};
