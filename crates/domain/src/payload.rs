//! The payload rules: JSON that parses, yet that receivers cannot read, is refused at
//! publish instead of being retried against an ordered endpoint until it expires.
//!
//! JSON's grammar allows what most receivers reject: nesting deeper than their parsers'
//! recursion limits (serde_json stops at 128, Python's `json` at about 1000, and a
//! stack overflow is worse), numbers that overflow a double (`1e999999`, which
//! JavaScript reads as `Infinity` and strict parsers refuse), and `\u` escapes naming
//! half a UTF-16 surrogate pair (`"\ud800"`, which is no character at all). One such
//! event would hold its endpoint's lane for the whole retention.
//!
//! [`check_payload`] reads the raw text once, left to right, without recursion, so its
//! own depth never depends on the input's; it runs on text already parsed as JSON (the
//! API keeps `data` as a `RawValue`) and reports the first rule broken. Precision is not a
//! rule: `0.1` or a 30-digit integer fit a double, approximately, as JSON intends.

/// Arrays and objects nested deeper than this are refused unless configured otherwise:
/// far more than any real document needs, well within every common parser's limits.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// How strict [`check_payload`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadRules {
    /// `--max-payload-depth`: the deepest nesting of arrays and objects allowed; the
    /// value itself (`{…}`) is level 1.
    pub max_depth: usize,
}

impl Default for PayloadRules {
    fn default() -> Self {
        Self {
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// The rule a payload breaks. Messages read after the field's name ("`data` nests …")
/// and say what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error(
        "nests arrays and objects more than {limit} levels deep (at byte {offset}); \
         flatten it, or ask the operator to raise --max-payload-depth"
    )]
    TooDeep { limit: usize, offset: usize },
    #[error(
        "holds the number `{number}` (at byte {offset}), too large for a 64-bit \
         floating-point number, which receivers read as infinity or refuse; send it as a \
         string"
    )]
    NumberOutOfRange { number: String, offset: usize },
    #[error(
        "holds the escape `{escape}` (at byte {offset}), half of a UTF-16 surrogate pair \
         without its other half, which is not a character; send the character itself or \
         its complete pair (`\\ud83d\\ude00`)"
    )]
    LoneSurrogate { escape: String, offset: usize },
    #[error("is not valid JSON (at byte {offset})")]
    Malformed { offset: usize },
}

/// Longest number text an error repeats; the rest is elided.
const SHOWN_NUMBER: usize = 40;

/// Checks the raw JSON text of one value against `rules`; see the module docs.
pub fn check_payload(json: &str, rules: PayloadRules) -> Result<(), PayloadError> {
    let bytes = json.as_bytes();
    let mut depth = 0usize;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'[' | b'{' => {
                depth += 1;
                if depth > rules.max_depth {
                    return Err(PayloadError::TooDeep {
                        limit: rules.max_depth,
                        offset: at,
                    });
                }
                at += 1;
            }
            b']' | b'}' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or(PayloadError::Malformed { offset: at })?;
                at += 1;
            }
            b'"' => at = skip_string(bytes, at)?,
            b'-' | b'0'..=b'9' => at = check_number(json, at)?,
            _ => at += 1,
        }
    }
    Ok(())
}

/// Checks the string opening at `start` (its `"`); returns the offset just past its end.
fn skip_string(bytes: &[u8], start: usize) -> Result<usize, PayloadError> {
    let mut at = start + 1;
    loop {
        match bytes.get(at) {
            None => return Err(PayloadError::Malformed { offset: start }),
            Some(b'"') => return Ok(at + 1),
            Some(b'\\') => match bytes.get(at + 1) {
                Some(b'u') => at = check_unicode_escape(bytes, at)?,
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => at += 2,
                _ => return Err(PayloadError::Malformed { offset: at }),
            },
            Some(_) => at += 1,
        }
    }
}

/// The code unit of `\uXXXX` at `at`, if the text there is one.
fn code_unit(bytes: &[u8], at: usize) -> Option<u16> {
    let escape = bytes.get(at..at + 6)?;
    if &escape[..2] != b"\\u" {
        return None;
    }
    let hex = std::str::from_utf8(&escape[2..]).ok()?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(hex, 16).ok()
}

/// Checks the `\u` escape at `at` (with its pair, for a high surrogate); returns the
/// offset just past it.
fn check_unicode_escape(bytes: &[u8], at: usize) -> Result<usize, PayloadError> {
    let unit = code_unit(bytes, at).ok_or(PayloadError::Malformed { offset: at })?;
    let lone = || PayloadError::LoneSurrogate {
        escape: String::from_utf8_lossy(&bytes[at..at + 6]).into_owned(),
        offset: at,
    };
    match unit {
        0xD800..=0xDBFF => match code_unit(bytes, at + 6) {
            Some(0xDC00..=0xDFFF) => Ok(at + 12),
            _ => Err(lone()),
        },
        0xDC00..=0xDFFF => Err(lone()),
        _ => Ok(at + 6),
    }
}

/// Checks the number starting at `start`; returns the offset just past it.
fn check_number(json: &str, start: usize) -> Result<usize, PayloadError> {
    let bytes = json.as_bytes();
    let end = bytes[start..]
        .iter()
        .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .map_or(bytes.len(), |length| start + length);
    // Only ASCII was taken, so `start..end` lies on character boundaries.
    let text = &json[start..end];
    let value: f64 = text
        .parse()
        .map_err(|_| PayloadError::Malformed { offset: start })?;
    if value.is_finite() {
        Ok(end)
    } else {
        let mut number: String = text.chars().take(SHOWN_NUMBER).collect();
        if text.len() > SHOWN_NUMBER {
            number.push('…');
        }
        Err(PayloadError::NumberOutOfRange {
            number,
            offset: start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn check(text: &str) -> Result<(), PayloadError> {
        check_payload(text, PayloadRules::default())
    }

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn ordinary_payloads_pass() {
        for text in [
            r#"{}"#,
            r#"{"user_id":"usr_1","n":-12.5e3,"big":123456789012345678901234567890}"#,
            r#"{"tiny":1e-999999,"max":1.7976931348623157e308,"zero":-0}"#,
            r#"{"emoji":"\ud83d\ude00","raw":"😀","esc":"\"\\\/\b\f\n\r\t\u00e9"}"#,
            r#"{"s":"[[[[{{{{ not nesting, 1e999 not a number"}"#,
            r#"{"a":[true,false,null,{"b":[]}]}"#,
        ] {
            assert_eq!(check(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn nesting_is_limited_to_max_depth() {
        let rules = PayloadRules { max_depth: 3 };
        assert_eq!(check_payload(&nested(3), rules), Ok(()));
        assert_eq!(
            check_payload(&nested(4), rules),
            Err(PayloadError::TooDeep {
                limit: 3,
                offset: 3
            })
        );
        assert_eq!(check(&nested(DEFAULT_MAX_DEPTH)), Ok(()));
        // Far beyond any recursion limit: refused, and the check itself does not recurse.
        let err = check(&nested(130_000)).unwrap_err();
        assert!(matches!(err, PayloadError::TooDeep { limit: 64, .. }));
        assert!(err.to_string().contains("--max-payload-depth"), "{err}");
        let objects = format!("{}1{}", r#"{"a":"#.repeat(65), "}".repeat(65));
        assert!(matches!(check(&objects), Err(PayloadError::TooDeep { .. })));
    }

    #[test]
    fn numbers_must_fit_a_finite_double() {
        for number in ["1e999999", "-1e309", "1.8e308", "1E+400", &"9".repeat(400)] {
            let text = format!(r#"{{"n":[1,{number}]}}"#);
            let err = check(&text).unwrap_err();
            let PayloadError::NumberOutOfRange {
                number: shown,
                offset,
            } = &err
            else {
                panic!("{text}: {err:?}");
            };
            assert_eq!(*offset, 8, "{text}");
            assert!(number.starts_with(shown.trim_end_matches('…')), "{shown}");
            assert!(err.to_string().contains("as a string"), "{err}");
        }
    }

    #[test]
    fn lone_surrogate_escapes_are_refused() {
        for (text, escape) in [
            (r#"{"x":"\ud800"}"#, r"\ud800"),
            (r#"{"x":"a\uDBFFb"}"#, r"\uDBFF"),
            (r#"{"x":"\udc00"}"#, r"\udc00"),
            (r#"{"x":"\ud800\u0041"}"#, r"\ud800"),
            (r#"{"x":"\ud83d\ud83d\ude00"}"#, r"\ud83d"),
            (r#"{"\ud800":1}"#, r"\ud800"),
        ] {
            match check(text) {
                Err(PayloadError::LoneSurrogate { escape: got, .. }) => {
                    assert_eq!(got, escape, "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn text_that_is_not_json_is_malformed_not_a_panic() {
        for text in [
            r#""abc"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"\x"}"#,
            "]",
            "--1",
            "1e",
        ] {
            assert!(
                matches!(check(text), Err(PayloadError::Malformed { .. })),
                "{text}"
            );
        }
    }

    /// Any JSON value without the refused shapes: finite numbers, any (valid) strings.
    fn value(max_depth: u32) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(max_depth, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn depth_of(value: &Value) -> usize {
        match value {
            Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
            Value::Object(fields) => 1 + fields.values().map(depth_of).max().unwrap_or(0),
            _ => 0,
        }
    }

    proptest! {
        #[test]
        fn any_json_serde_writes_passes_within_its_depth(v in value(8)) {
            let text = serde_json::to_string(&json!({ "v": v })).unwrap();
            let depth = 1 + depth_of(&v);
            prop_assert_eq!(check_payload(&text, PayloadRules { max_depth: depth }), Ok(()));
            let shallower = PayloadRules { max_depth: depth - 1 };
            let refused = matches!(
                check_payload(&text, shallower),
                Err(PayloadError::TooDeep { .. })
            );
            prop_assert!(refused);
        }

        #[test]
        fn a_lone_surrogate_anywhere_in_a_string_is_found(
            before in "[a-z ]{0,10}",
            unit in 0xD800u16..=0xDFFF,
        ) {
            let text = format!(r#"{{"s":"{before}\u{unit:04x}"}}"#);
            let refused = matches!(check(&text), Err(PayloadError::LoneSurrogate { .. }));
            prop_assert!(refused);
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = check(&text);
        }

        /// serde_json, which refuses numbers out of a double's range, is the oracle.
        #[test]
        fn numbers_pass_exactly_when_serde_json_reads_them(
            mantissa in "-?[1-9][0-9]{0,3}(\\.[0-9]{1,3})?",
            exponent in -400i32..400,
        ) {
            let text = format!(r#"{{"n":[{mantissa}e{exponent}]}}"#);
            let readable = serde_json::from_str::<Value>(&text).is_ok();
            prop_assert_eq!(check(&text).is_ok(), readable);
        }
    }
}
