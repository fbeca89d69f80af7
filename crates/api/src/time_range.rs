//! `since` / `until` as lists and replays take them: the rules and their words live in
//! the use cases ([`usecases::time_range`]); here, only the status each place answers
//! with (400 for a query string, 422 for a JSON body).

pub use usecases::time_range::{TimeRange, TimeRangeError};

use crate::error::ApiError;

/// The API's answer to a refused time or range.
pub trait RangeRefusal {
    /// In a query string: 400.
    fn bad_request(self) -> ApiError;
    /// In a JSON body: 422.
    fn validation(self) -> ApiError;
}

impl RangeRefusal for TimeRangeError {
    fn bad_request(self) -> ApiError {
        ApiError::BadRequest(self.to_string())
    }

    fn validation(self) -> ApiError {
        ApiError::Validation(self.to_string())
    }
}
