//! Extractors that answer with [`ApiError`] instead of axum's plain-text rejections.
//!
//! - [`JsonBody`]: a `Content-Type` other than JSON (`application/json` or
//!   `application/*+json`, absent included) is a 415, checked before the body is read;
//!   a body that is not JSON is a 400, JSON of the wrong shape (missing field, wrong
//!   type, unknown field) is a 422, a body over the limit is a 413.
//! - [`IdPath`]: a path id that does not even parse is a 404, like an id that exists only
//!   in another workspace, so malformed and foreign ids look the same.
//! - [`ApiQuery`]: a malformed query string is a 400.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use domain::IdError;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::de::{DeserializeOwned, Error as _, Unexpected};
use serde::{Deserialize, Deserializer};
use serde_json::error::Category;

use crate::Shared;
use crate::error::{ApiError, ApiResult};
use usecases::Truncated;

/// A JSON request body parsed into `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Shared> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> ApiResult<Self> {
        let content_type = req.headers().get(header::CONTENT_TYPE);
        if !content_type.is_some_and(is_json_media_type) {
            let sent = content_type
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            return Err(ApiError::UnsupportedMediaType(
                Truncated(&sent, 64).to_string(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    limit: state.config.max_body_bytes,
                }
            } else {
                ApiError::BadRequest(format!(
                    "The request body could not be read: {}",
                    rejection.body_text()
                ))
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// `application/json` or a structured `application/*+json` type, parameters (`charset`)
/// allowed, in any letter case (media types are case-insensitive).
fn is_json_media_type(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else {
        return false;
    };
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.len() > "+json".len() && subtype.ends_with("+json"))
}

/// Parses a JSON body, telling syntax errors (400) from shape errors (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let value = serde_json::from_slice(bytes).map_err(|error| match error.classify() {
        Category::Data => ApiError::Validation(format!(
            "The request body does not have the expected shape: {error}."
        )),
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::InvalidJson(format!("{error}."))
        }
    })?;
    // serde lets a struct be read from an array, by position; every body of this API is
    // an object with named fields, so anything else is refused rather than guessed at.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::Validation(
            "The request body must be a JSON object.".to_owned(),
        ));
    }
    Ok(value)
}

/// Reads a whole JSON number, `3` and `3.0` alike (JSON Schema's `integer` admits both),
/// for a `#[serde(deserialize_with)]` field; a fraction or a negative number is a shape
/// error, and a number past `u64` saturates so that the field's own rule words the
/// refusal.
pub fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(whole) = number.as_u64() {
        return Ok(whole);
    }
    match number.as_f64() {
        Some(value) if value >= 0.0 && value.fract() == 0.0 => Ok(value as u64),
        _ => Err(D::Error::invalid_value(
            Unexpected::Other(&number.to_string()),
            &"a whole number, 0 or more",
        )),
    }
}

/// A typed id taken from the path's single `{id}` parameter.
pub struct IdPath<T>(pub T);

impl<S, T> FromRequestParts<S> for IdPath<T>
where
    S: Send + Sync,
    T: FromStr<Err = IdError>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::NotFound(rejection.body_text()))?;
        raw.parse::<T>().map(IdPath).map_err(|IdError { kind, prefix, value }| {
            ApiError::NotFound(format!(
                "There is no {kind} `{value}`: {kind} ids are `{prefix}` followed by 26 characters."
            ))
        })
    }
}

/// Query parameters parsed into `T`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| {
                ApiError::BadRequest(format!(
                    "The query string is not valid: {}.",
                    rejection.body_text()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Named {
        name: String,
    }

    #[test]
    fn syntax_is_400_and_shape_is_422() {
        let status = |body: &str| parse_json::<Named>(body.as_bytes()).unwrap_err().status();
        assert_eq!(status("{"), StatusCode::BAD_REQUEST);
        assert_eq!(status(""), StatusCode::BAD_REQUEST);
        assert_eq!(status("name=x"), StatusCode::BAD_REQUEST);
        assert_eq!(status("{}"), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status(r#"{"name": 1}"#), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            status(r#"{"name": "a", "nmae": "b"}"#),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(status("[]"), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status(r#"["a"]"#), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(parse_json::<Named>(br#" {"name": "a"}"#).is_ok());
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        #[derive(Debug, serde::Deserialize)]
        struct Limit {
            #[serde(deserialize_with = "whole_number")]
            n: u64,
        }
        let read = |body: &str| parse_json::<Limit>(body.as_bytes()).map(|l| l.n);
        assert_eq!(read(r#"{"n": 3141}"#).unwrap(), 3141);
        assert_eq!(read(r#"{"n": 3141.0}"#).unwrap(), 3141);
        assert_eq!(read(r#"{"n": 1e30}"#).unwrap(), u64::MAX);
        for bad in ["1.5", "-1", "-1.0", "\"3\"", "null"] {
            let error = read(&format!(r#"{{"n": {bad}}}"#)).unwrap_err();
            assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
    }

    #[test]
    fn json_media_types_are_recognised() {
        let json = |text: &'static str| is_json_media_type(&HeaderValue::from_static(text));
        for accepted in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(json(accepted), "{accepted}");
        }
        for refused in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonp",
            "application/+json",
            "text/json",
        ] {
            assert!(!json(refused), "{refused}");
        }
    }
}
