//! Strict JSON for what a verifier reads: a JWS header, a token's claims, an introspection
//! answer.
//!
//! [`Object::parse`] refuses a duplicate member name at every level (`serde_json` keeps the
//! last one silently, which lets a token show one `scope` to one parser and another to the
//! next), anything but an object at the top, and trailing data. It borrows every string
//! that has no escape from the input, and keeps an object's members sorted by name, so that
//! reading a claim is a binary search and a token's claims cost one allocation per object or
//! array rather than one per member. [`Object::into_map`] gives the `serde_json` map that
//! would have been parsed directly.

use std::{borrow::Cow, cmp::Ordering, fmt};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON value whose strings borrow from the input where they can.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Self>),
    Object(Object<'a>),
}

/// A JSON object: its members sorted by name ([`by_name`]), no name twice.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

/// The order of an object's members: by length, then by bytes. Any total order serves the
/// binary search; this one settles most comparisons of claim names by their lengths.
fn by_name(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Why [`Object::parse`] refused its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// An object names a member twice (after unescaping).
    Duplicate,
    /// Not JSON, not an object, or trailing data.
    Malformed,
}

const DUPLICATE: &str = "duplicate member";

impl<'a> Object<'a> {
    /// Parses `json`, which must be one object (see the [module docs](self)).
    pub(crate) fn parse(json: &'a [u8]) -> Result<Self, Refusal> {
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        let parsed = deserializer
            .deserialize_map(ValueVisitor)
            .and_then(|value| deserializer.end().map(|()| value));
        match parsed {
            Ok(Json::Object(object)) => Ok(object),
            Ok(_) => Err(Refusal::Malformed),
            Err(err) if err.to_string().starts_with(DUPLICATE) => Err(Refusal::Duplicate),
            Err(_) => Err(Refusal::Malformed),
        }
    }

    /// A view of a `serde_json` map (an introspection answer), borrowing its strings.
    pub(crate) fn from_map(map: &'a Map<String, Value>) -> Self {
        // A map's keys are unique already.
        let mut members: Vec<_> = map
            .iter()
            .map(|(name, value)| (Cow::Borrowed(name.as_str()), Json::from_value(value)))
            .collect();
        members.sort_unstable_by(|(a, _), (b, _)| by_name(a, b));
        Self(members)
    }

    /// The member `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Json<'a>> {
        let at = self.0.binary_search_by(|(n, _)| by_name(n, name)).ok()?;
        Some(&self.0[at].1)
    }

    /// Whether there is a member `name`.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The members, in [`by_name`] order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.0.iter().map(|(name, value)| (&**name, value))
    }

    /// The members as a `serde_json` map, keeping those `keep` says yes to.
    pub(crate) fn into_map_filtered(self, keep: impl Fn(&str) -> bool) -> Map<String, Value> {
        self.0
            .into_iter()
            .filter(|(name, _)| keep(name))
            .map(|(name, value)| (name.into_owned(), value.into_value()))
            .collect()
    }

    /// The object as a `serde_json` map.
    pub(crate) fn into_map(self) -> Map<String, Value> {
        self.into_map_filtered(|_| true)
    }
}

impl<'a> Json<'a> {
    /// A view of a `serde_json` value, borrowing its strings.
    pub(crate) fn from_value(value: &'a Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::Number(n.clone()),
            Value::String(s) => Self::String(Cow::Borrowed(s)),
            Value::Array(items) => Self::Array(items.iter().map(Self::from_value).collect()),
            Value::Object(map) => Self::Object(Object::from_map(map)),
        }
    }

    /// The `serde_json` value.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(b),
            Self::Number(n) => Value::Number(n),
            Self::String(s) => Value::String(s.into_owned()),
            Self::Array(items) => Value::Array(items.into_iter().map(Self::into_value).collect()),
            Self::Object(object) => Value::Object(object.into_map()),
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    pub(crate) fn is_string(&self) -> bool {
        matches!(self, Self::String(_))
    }

    /// Whether this is the same JSON value as `value` (numbers compare as `serde_json`
    /// compares them).
    pub(crate) fn eq_value(&self, value: &Value) -> bool {
        match (self, value) {
            (Self::Null, Value::Null) => true,
            (Self::Bool(a), Value::Bool(b)) => a == b,
            (Self::Number(a), Value::Number(b)) => a == b,
            (Self::String(a), Value::String(b)) => a == b,
            (Self::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.eq_value(b))
            }
            (Self::Object(a), Value::Object(b)) => {
                a.0.len() == b.len()
                    && a.iter()
                        .all(|(name, a)| b.get(name).is_some_and(|b| a.eq_value(b)))
            }
            _ => false,
        }
    }
}

/// Reads any JSON value: an object's members sorted and checked for a name given twice.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // JSON has no NaN or infinity; a number out of range is refused by serde_json.
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Seed)? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some(name) = access.next_key_seed(NameSeed)? {
            members.push((name, access.next_value_seed(Seed)?));
        }
        members.sort_unstable_by(|(a, _), (b, _)| by_name(a, b));
        if members.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err(de::Error::custom(DUPLICATE));
        }
        Ok(Json::Object(Object(members)))
    }
}

impl<'de> serde::Deserialize<'de> for Json<'de> {
    /// Strictly, as [`Object::parse`] reads members.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// A value, through [`ValueVisitor`].
struct Seed;

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = Json<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// A member name, borrowed when it has no escapes.
struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        match deserializer.deserialize_str(ValueVisitor)? {
            Json::String(name) => Ok(name),
            _ => Err(de::Error::custom("a member name is a string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// What `serde_json` parses, as an oracle for inputs without duplicate names.
    fn oracle(json: &str) -> Result<Map<String, Value>, Refusal> {
        match serde_json::from_str(json) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(Refusal::Malformed),
        }
    }

    #[test]
    fn parses_what_serde_json_parses_into_the_same_map() {
        for json in [
            r#"{}"#,
            r#"{"b":1,"a":[1,2.5,-3,"x",null,true,{"c":{}}],"é":"\u00e9","e":"a\"b"}"#,
            r#"{"n":18446744073709551615,"m":-9223372036854775808,"f":1e308,"z":0.0}"#,
            r#" {"ws" : [ ] } "#,
            r#"{"nested":{"z":1,"a":{"y":[{"x":null}]}}}"#,
        ] {
            let ours = Object::parse(json.as_bytes()).map(Object::into_map);
            assert_eq!(ours, oracle(json), "{json}");
        }
    }

    #[test]
    fn duplicates_are_refused_at_every_level_after_unescaping() {
        for json in [
            r#"{"scope":"a","scope":"b"}"#,
            r#"{"scope":"a","sc\u006fpe":"b"}"#,
            r#"{"cnf":{"jkt":"a","jkt":"b"}}"#,
            r#"{"a":[{"x":1,"x":2}]}"#,
            r#"{"a":1,"b":2,"c":3,"a":4}"#,
        ] {
            assert_eq!(
                Object::parse(json.as_bytes()),
                Err(Refusal::Duplicate),
                "{json}"
            );
        }
        let many: String = (0..1000).map(|i| format!(r#""m{i}":{i},"#)).collect();
        let unique = format!("{{{many}\"last\":0}}");
        assert_eq!(
            Object::parse(unique.as_bytes()).expect("parses").0.len(),
            1001
        );
        let twice = format!("{{{many}\"m999\":0}}");
        assert_eq!(Object::parse(twice.as_bytes()), Err(Refusal::Duplicate));
    }

    #[test]
    fn anything_but_one_object_is_malformed() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        for json in [
            "",
            "[]",
            r#""s""#,
            "1",
            "null",
            r#"{"a":1} {}"#,
            r#"{"a":1"#,
            r#"{"a":"\ud800"}"#,
            r#"{1:2}"#,
            "{\"a\":\"\u{0}\"}",
            deep.as_str(),
        ] {
            assert_eq!(
                Object::parse(json.as_bytes()),
                Err(Refusal::Malformed),
                "{json:.40}"
            );
        }
        assert_eq!(Object::parse(b"{\"a\":\"\xff\"}"), Err(Refusal::Malformed));
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let object =
            Object::parse(br#"{"plain":"abc","escaped":"a\nb","k\u0031":1}"#).expect("parses");
        assert!(matches!(
            object.get("plain"),
            Some(Json::String(Cow::Borrowed("abc")))
        ));
        assert!(matches!(object.get("escaped"), Some(Json::String(Cow::Owned(s))) if s == "a\nb"));
        assert_eq!(object.get("k1"), Some(&Json::Number(1.into())));
        assert_eq!(object.get("missing"), None);
    }

    #[test]
    fn views_of_serde_json_values_compare_equal_to_them() {
        let value = json!({"a": [1, "x", null, {"b": true}], "c": 2.5, "d": {}});
        let Value::Object(map) = &value else {
            unreachable!()
        };
        let view = Object::from_map(map);
        assert_eq!(view.clone().into_map(), *map);
        assert!(Json::Object(view.clone()).eq_value(&value));
        assert!(
            !Json::Object(view)
                .eq_value(&json!({"a": [1, "x", null, {"b": false}], "c": 2.5, "d": {}}))
        );
        assert!(Json::Number(1.into()).eq_value(&json!(1)));
        assert!(!Json::Number(1.into()).eq_value(&json!(1.0)));
        assert!(!Json::String("1".into()).eq_value(&json!(1)));
    }
}
