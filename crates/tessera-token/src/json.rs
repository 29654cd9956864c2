//! JSON parsing that refuses duplicate member names at any depth.
//!
//! RFC 7515 §5.2 and RFC 7519 §4 let a parser either reject duplicate member names or take the
//! last one; different libraries taking different ones is how a token means one thing to one
//! verifier and another to the next. Tessera rejects them.

use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Map, Value};
use std::borrow::Cow;
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

impl JsonRefusal {
    /// A short description for error messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            JsonRefusal::NotUtf8 => "not UTF-8",
            JsonRefusal::NotJson => "not JSON",
            JsonRefusal::DuplicateMember => "duplicate member name",
            JsonRefusal::NotObject => "not a JSON object",
        }
    }
}

/// A top-level JSON object whose registered member names were put in slots (in the order of the
/// names given) and whose other members were kept in a map.
#[derive(Debug)]
pub(crate) struct SlottedObject<const N: usize> {
    /// The registered members, by position in the names given.
    pub(crate) slots: [Option<Value>; N],
    /// Every other member.
    pub(crate) rest: Map<String, Value>,
}

/// A member name, borrowed from the input when it has no escapes.
struct MemberName<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

struct SlottedSeed<'n, const N: usize> {
    names: &'n [&'static str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for SlottedSeed<'_, N> {
    type Value = SlottedObject<N>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for SlottedSeed<'_, N> {
    type Value = SlottedObject<N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = SlottedObject {
            slots: std::array::from_fn(|_| None),
            rest: Map::new(),
        };
        while let Some(MemberName(name)) = map.next_key()? {
            let StrictValue(value) = map.next_value()?;
            let duplicate = match self.names.iter().position(|known| *known == name) {
                Some(index) => object.slots[index].replace(value).is_some(),
                None => object.rest.insert(name.into_owned(), value).is_some(),
            };
            if duplicate {
                return Err(A::Error::custom(DUPLICATE));
            }
        }
        Ok(object)
    }

    // Any other JSON type at the top level is refused as "not an object".
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(A::Error::custom(NOT_OBJECT))
    }
}

const NOT_OBJECT: &str = "top-level value is not an object";

/// Parses `bytes` as a UTF-8 JSON object with no duplicate member names at any depth, putting the
/// members named in `names` into slots and keeping the rest in a map.
pub(crate) fn parse_slotted<const N: usize>(
    bytes: &[u8],
    names: &[&'static str; N],
) -> Result<SlottedObject<N>, JsonRefusal> {
    let text = std::str::from_utf8(bytes).map_err(|_| JsonRefusal::NotUtf8)?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = SlottedSeed { names }
        .deserialize(&mut deserializer)
        .and_then(|object| {
            deserializer.end()?;
            Ok(object)
        });
    parsed.map_err(|err| {
        let message = err.to_string();
        if message.starts_with(DUPLICATE) {
            JsonRefusal::DuplicateMember
        } else if message.starts_with(NOT_OBJECT) {
            JsonRefusal::NotObject
        } else {
            JsonRefusal::NotJson
        }
    })
}

/// Parses `bytes` as a UTF-8 JSON object with no duplicate member names at any depth.
#[cfg(test)]
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonRefusal> {
    parse_slotted(bytes, &[]).map(|object| object.rest)
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
    fn slots_take_registered_names_and_catch_their_duplicates() {
        let object = parse_slotted(br#"{"b":2,"x":{"y":1},"a":"1"}"#, &["a", "b", "c"]).unwrap();
        assert_eq!(object.slots[0], Some(Value::from("1")));
        assert_eq!(object.slots[1], Some(Value::from(2)));
        assert_eq!(object.slots[2], None);
        assert_eq!(object.rest.len(), 1);
        assert_eq!(
            parse_slotted(br#"{"a":1,"b":2,"a":3}"#, &["a", "b"]).unwrap_err(),
            JsonRefusal::DuplicateMember
        );
        assert_eq!(
            parse_slotted(br#"{"\u0062":1,"b":2}"#, &["a", "b"]).unwrap_err(),
            JsonRefusal::DuplicateMember
        );
        assert_eq!(
            parse_slotted(br#"{"a":1,"z":[{"q":1,"q":1}]}"#, &["a"]).unwrap_err(),
            JsonRefusal::DuplicateMember
        );
    }

    #[test]
    fn rejects_non_objects_and_bad_text() {
        assert_eq!(parse_object(b"[1]"), Err(JsonRefusal::NotObject));
        assert_eq!(parse_object(b"\"s\""), Err(JsonRefusal::NotObject));
        assert_eq!(parse_object(b"null"), Err(JsonRefusal::NotObject));
        assert_eq!(parse_object(b"12"), Err(JsonRefusal::NotObject));
        assert_eq!(parse_object(b"{} x"), Err(JsonRefusal::NotJson));
        assert_eq!(parse_object(b"{\"a\":}"), Err(JsonRefusal::NotJson));
        assert_eq!(parse_object(b"{\"a\":\xff}"), Err(JsonRefusal::NotUtf8));
        assert_eq!(parse_object(b""), Err(JsonRefusal::NotJson));
    }
}
