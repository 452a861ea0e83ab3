//! The compact JWS: parsing a token into header, claims and signature, strictly (canonical
//! base64url, JSON objects without duplicate members), and the RFC 9068 `typ` rule.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::verifier::VerifyError;

/// The three parts of a compact JWS, decoded and parsed.
pub(crate) struct ParsedToken<'a> {
    pub(crate) header: Map<String, Value>,
    pub(crate) claims: Map<String, Value>,
    pub(crate) signing_input: &'a str,
    pub(crate) signature: &'a str,
}

impl<'a> ParsedToken<'a> {
    pub(crate) fn parse(token: &'a str) -> Result<Self, VerifyError> {
        let malformed = || VerifyError::invalid_token("token is malformed");
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
        let header = strict_object(&b64_decode(header_b64).ok_or_else(malformed)?)?;
        let claims = strict_object(&b64_decode(claims_b64).ok_or_else(malformed)?)?;
        // The signature is decoded again by the crypto backend; check its form here so that
        // only canonical encodings are accepted.
        if signature.is_empty() || !is_canonical_b64(signature) {
            return Err(malformed());
        }
        Ok(Self {
            header,
            claims,
            signing_input,
            signature,
        })
    }
}

/// Canonical, unpadded base64url (RFC 7515 §2): no padding, no whitespace, no stray bits.
fn b64_decode(part: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()
}

/// Whether `part` is canonical, unpadded base64url, without keeping what it decodes to (a
/// signature of up to 1 KiB, RSA-8192's, is decoded on the stack).
fn is_canonical_b64(part: &str) -> bool {
    let mut buf = [0_u8; 1024];
    match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode_slice(part, &mut buf) {
        Ok(_) => true,
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => b64_decode(part).is_some(),
        Err(base64::DecodeSliceError::DecodeError(_)) => false,
    }
}

/// Parses a JSON object, rejecting duplicate member names at every level (serde_json keeps
/// the last one silently, which lets a token show one `scope` to one parser and another to
/// the next).
fn strict_object(bytes: &[u8]) -> Result<Map<String, Value>, VerifyError> {
    match serde_json::from_slice::<StrictValue>(bytes) {
        Ok(StrictValue(Value::Object(map))) => Ok(map),
        Ok(_) => Err(VerifyError::invalid_token("token is malformed")),
        Err(err) if err.to_string().starts_with(DUPLICATE) => {
            Err(VerifyError::invalid_token("token has a duplicate member"))
        }
        Err(_) => Err(VerifyError::invalid_token("token is malformed")),
    }
}

const DUPLICATE: &str = "duplicate member";

struct StrictValue(Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
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
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
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
        let mut values = Vec::new();
        while let Some(StrictValue(value)) = seq.next_element()? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let StrictValue(value) = access.next_value()?;
            if map.insert(key, value).is_some() {
                return Err(de::Error::custom(DUPLICATE));
            }
        }
        Ok(Value::Object(map))
    }
}

/// RFC 9068 §2.1 / RFC 8725 §3.11: `at+jwt` always; `JWT` or no `typ` unless strict. Media
/// types compare case-insensitively, and the `application/` prefix may be left out.
pub(crate) fn check_typ(typ: Option<&Value>, strict: bool) -> Result<(), VerifyError> {
    let rejected = || VerifyError::invalid_token("token type is not accepted");
    let typ = match typ {
        None if strict => return Err(rejected()),
        None => return Ok(()),
        Some(Value::String(typ)) => typ.as_str(),
        Some(_) => return Err(rejected()),
    };
    let bare = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    if bare.eq_ignore_ascii_case("at+jwt") || (!strict && bare.eq_ignore_ascii_case("jwt")) {
        Ok(())
    } else {
        Err(rejected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_rules_follow_rfc_9068() {
        let v = |s: &str| Value::String(s.to_owned());
        let cases = [
            (None, false, true),
            (None, true, false),
            (Some(v("at+jwt")), true, true),
            (Some(v("AT+JWT")), true, true),
            (Some(v("application/at+jwt")), true, true),
            (Some(v("Application/At+Jwt")), true, true),
            (Some(v("JWT")), false, true),
            (Some(v("application/jwt")), false, true),
            (Some(v("JWT")), true, false),
            (Some(v("dpop+jwt")), false, false),
            (Some(v("JOSE")), false, false),
            (Some(v("application/")), false, false),
            (Some(Value::Bool(true)), false, false),
        ];
        for (typ, strict, ok) in cases {
            assert_eq!(
                check_typ(typ.as_ref(), strict).is_ok(),
                ok,
                "{typ:?} strict={strict}"
            );
        }
    }

    #[test]
    fn duplicate_members_are_rejected_at_every_level() {
        assert!(strict_object(br#"{"scope":"a","scope":"b"}"#).is_err());
        assert!(strict_object(br#"{"cnf":{"jkt":"a","jkt":"b"}}"#).is_err());
        assert!(strict_object(br#"{"a":[{"x":1,"x":2}]}"#).is_err());
        let ok = strict_object(br#"{"a":[1,2.5,"x",null,true,{"b":{}}]}"#).expect("parses");
        assert_eq!(ok["a"][1], Value::from(2.5));
        assert_eq!(
            strict_object(br#"{"scope":"a","scope":"b"}"#)
                .unwrap_err()
                .description(),
            "token has a duplicate member"
        );
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(strict_object(deep.as_bytes()).is_err());
    }

    #[test]
    fn base64url_must_be_canonical() {
        assert_eq!(b64_decode("YQ"), Some(b"a".to_vec()));
        assert_eq!(b64_decode("YR"), None, "non-zero trailing bits");
        assert_eq!(b64_decode("YQ=="), None, "padding");
        assert_eq!(b64_decode("Y Q"), None, "whitespace");
        assert_eq!(b64_decode("Y+Q/"), None, "standard alphabet");
    }
}
