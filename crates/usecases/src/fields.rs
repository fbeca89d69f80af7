//! Rules for the free-text fields both edges take (names, descriptions, categories):
//! trimmed, bounded, and for required ones non-empty, each refusal a validation error
//! naming the field.

use crate::error::{UseCaseError, UseCaseResult};

/// A required text field: trimmed, 1..=`max` characters, no control characters.
pub fn required(field: &'static str, value: &str, max: usize) -> UseCaseResult<String> {
    let value = optional(field, value, max)?;
    if value.is_empty() {
        return Err(UseCaseError::validation(
            field,
            format!("`{field}` must not be empty."),
        ));
    }
    Ok(value)
}

/// An optional text field: trimmed, at most `max` characters, no control characters.
pub fn optional(field: &'static str, value: &str, max: usize) -> UseCaseResult<String> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(UseCaseError::validation(
            field,
            format!("`{field}` must be at most {max} characters."),
        ));
    }
    // Control characters would corrupt logs and the dashboard; newlines are not needed in
    // any of these fields.
    if value.chars().any(char::is_control) {
        return Err(UseCaseError::validation(
            field,
            format!("`{field}` must not contain control characters."),
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        assert_eq!(required("name", "  ci  ", 10).unwrap(), "ci");
        assert!(required("name", "   ", 10).is_err());
        assert!(required("name", "abcdefghijk", 10).is_err());
        assert!(optional("description", "a\u{7}b", 10).is_err());
        assert_eq!(optional("description", "", 10).unwrap(), "");
    }
}
