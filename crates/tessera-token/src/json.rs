//! JSON parsing that refuses duplicate member names at any depth.
//!
//! RFC 7515 §5.2 and RFC 7519 §4 let a parser either reject duplicate member names or take the
//! last one; different libraries taking different ones is how a token means one thing to one
//! verifier and another to the next. Tessera rejects them.

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON value parsed without duplicate member names.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // Finite by construction: serde_json refuses NaN and infinities in its input.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let StrictValue(value) = map.next_value()?;
            if members.insert(name, value).is_some() {
                return Err(A::Error::custom(DUPLICATE));
            }
        }
        Ok(Value::Object(members))
    }
}

const DUPLICATE: &str = "duplicate member name";

/// Why a JSON text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonRefusal {
    /// The bytes are not UTF-8.
    NotUtf8,
    /// The text is not JSON (or has trailing data).
    NotJson,
    /// Some object has the same member name twice.
    DuplicateMember,
    /// The top-level value is not an object.
    NotObject,
}

/// Parses `bytes` as a UTF-8 JSON object with no duplicate member names at any depth.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonRefusal> {
    let text = std::str::from_utf8(bytes).map_err(|_| JsonRefusal::NotUtf8)?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = StrictValue::deserialize(&mut deserializer).and_then(|value| {
        deserializer.end()?;
        Ok(value)
    });
    match parsed {
        Ok(StrictValue(Value::Object(members))) => Ok(members),
        Ok(_) => Err(JsonRefusal::NotObject),
        Err(err) if err.to_string().starts_with(DUPLICATE) => Err(JsonRefusal::DuplicateMember),
        Err(_) => Err(JsonRefusal::NotJson),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_objects() {
        let members = parse_object(br#"{"a":1,"b":[{"c":null}],"d":"x"}"#).unwrap();
        assert_eq!(members.len(), 3);
    }

    #[test]
    fn rejects_duplicates_at_every_depth() {
        assert_eq!(
            parse_object(br#"{"a":1,"a":2}"#),
            Err(JsonRefusal::DuplicateMember)
        );
        assert_eq!(
            parse_object(br#"{"a":{"b":1,"b":1}}"#),
            Err(JsonRefusal::DuplicateMember)
        );
        assert_eq!(
            parse_object(br#"{"a":[{"b":1,"b":2}]}"#),
            Err(JsonRefusal::DuplicateMember)
        );
        // Escapes are decoded before comparing: "\u0061" is "a".
        assert_eq!(
            parse_object(br#"{"a":1,"\u0061":2}"#),
            Err(JsonRefusal::DuplicateMember)
        );
    }

    #[test]
    fn rejects_non_objects_and_bad_text() {
        assert_eq!(parse_object(b"[1]"), Err(JsonRefusal::NotObject));
        assert_eq!(parse_object(b"\"s\""), Err(JsonRefusal::NotObject));
        assert_eq!(parse_object(b"{} x"), Err(JsonRefusal::NotJson));
        assert_eq!(parse_object(b"{\"a\":}"), Err(JsonRefusal::NotJson));
        assert_eq!(parse_object(b"{\"a\":\xff}"), Err(JsonRefusal::NotUtf8));
        assert_eq!(parse_object(b""), Err(JsonRefusal::NotJson));
    }
}
