//! The compact JWS: parsing a token into header, claims and signature, strictly (canonical
//! base64url, JSON objects without duplicate members), and the RFC 9068 `typ` rule.

use std::{borrow::Cow, fmt};

use base64::Engine as _;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::verifier::VerifyError;

/// The three parts of a compact JWS: header and claims decoded but not yet parsed, the
/// signature checked for form.
///
/// The header is read by [`header`](Self::header) (the members the verifier uses, without
/// building a map) or [`header_object`](Self::header_object). The claims are parsed by
/// [`claims`](Self::claims) once the signature is verified: until then only what picks the key
/// is read from them (`RoutingClaims`). A forged token's payload is parsed in full only when
/// no key can decide now (the `503` path), so that a token its own claims refute is still a
/// `401`.
pub(crate) struct ParsedToken<'a> {
    /// The decoded header (JSON, not yet parsed).
    header: Vec<u8>,
    /// The decoded claims (JSON, not yet parsed).
    pub(crate) payload: Vec<u8>,
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
        let header = b64_decode(header_b64).ok_or_else(malformed)?;
        let payload = b64_decode(claims_b64).ok_or_else(malformed)?;
        // The signature is decoded again by the crypto backend; check its form here so that
        // only canonical encodings are accepted.
        if signature.is_empty() || !is_canonical_b64(signature) {
            return Err(malformed());
        }
        Ok(Self {
            header,
            payload,
            signing_input,
            signature,
        })
    }

    /// The header members a token verifier reads, checked as strictly as
    /// [`header_object`](Self::header_object) checks the whole header (a JSON object without
    /// duplicate members at any level), without building it.
    pub(crate) fn header(&self) -> Result<JwsHeader<'_>, VerifyError> {
        let mut deserializer = serde_json::Deserializer::from_slice(&self.header);
        let header = deserializer
            .deserialize_map(HeaderVisitor)
            .and_then(|header| deserializer.end().map(|()| header));
        header.map_err(|err| strict_error(&err))
    }

    /// The header as a JSON object, parsed strictly.
    pub(crate) fn header_object(&self) -> Result<Map<String, Value>, VerifyError> {
        strict_object(&self.header)
    }

    /// The claims, parsed strictly (a JSON object without duplicate members).
    pub(crate) fn claims(&self) -> Result<Map<String, Value>, VerifyError> {
        strict_object(&self.payload)
    }
}

/// A header member the verifier reads: absent, a string, or any other JSON value.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) enum Member<'a> {
    #[default]
    Absent,
    Str(Cow<'a, str>),
    Other,
}

impl Member<'_> {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            Self::Absent | Self::Other => None,
        }
    }
}

/// What a token verifier reads from a JWS header.
#[derive(Debug, Default)]
pub(crate) struct JwsHeader<'a> {
    pub(crate) alg: Member<'a>,
    pub(crate) kid: Member<'a>,
    pub(crate) typ: Member<'a>,
    /// `crit` or `b64` is present: no extension is understood.
    pub(crate) critical: bool,
}

/// Reads a [`JwsHeader`], refusing duplicate members at every level as [`strict_object`]
/// does, and borrowing its strings from the decoded header.
struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = JwsHeader<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut header = JwsHeader::default();
        let mut names = Names::default();
        while let Some(Text(name)) = access.next_key()? {
            let slot = match &*name {
                "alg" => &mut header.alg,
                "kid" => &mut header.kid,
                "typ" => &mut header.typ,
                other => {
                    header.critical |= other == "crit" || other == "b64";
                    access.next_value::<Checked<'_>>()?;
                    names.add(name)?;
                    continue;
                }
            };
            *slot = access.next_value::<Checked<'_>>()?.0;
            names.add(name)?;
        }
        Ok(header)
    }
}

/// A JSON value checked for duplicate members at every level and not kept, except a string,
/// which is borrowed when it has no escapes.
struct Checked<'a>(Member<'a>);

impl<'de> serde::Deserialize<'de> for Checked<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Checked(Member::Other))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Checked(Member::Other))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Checked(Member::Other))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Checked(Member::Other))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Checked(Member::Other))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Checked(Member::Str(Cow::Borrowed(v))))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Checked(Member::Str(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Checked(Member::Str(Cow::Owned(v))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Checked<'_>>()?.is_some() {}
        Ok(Checked(Member::Other))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut names = Names::default();
        while let Some(Text(name)) = access.next_key()? {
            access.next_value::<Checked<'_>>()?;
            names.add(name)?;
        }
        Ok(Checked(Member::Other))
    }
}

/// A member name, borrowed when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_str(CheckedVisitor)?.0 {
            Member::Str(text) => Ok(Self(text)),
            Member::Absent | Member::Other => Err(de::Error::custom("expected a string")),
        }
    }
}

/// The member names of one object, to refuse a duplicate (compared after unescaping, as
/// `serde_json` compares them).
#[derive(Default)]
struct Names<'a>(Vec<Cow<'a, str>>);

impl<'a> Names<'a> {
    fn add<E: de::Error>(&mut self, name: Cow<'a, str>) -> Result<(), E> {
        // Headers have a handful of members; past that, a sorted list keeps a hostile one with
        // thousands from costing a quadratic scan.
        const SCAN: usize = 16;
        let names = &mut self.0;
        if names.len() < SCAN {
            if names.contains(&name) {
                return Err(de::Error::custom(DUPLICATE));
            }
            names.push(name);
            if names.len() == SCAN {
                names.sort_unstable();
            }
            return Ok(());
        }
        match names.binary_search(&name) {
            Ok(_) => Err(de::Error::custom(DUPLICATE)),
            Err(at) => {
                names.insert(at, name);
                Ok(())
            }
        }
    }
}

/// Canonical, unpadded base64url (RFC 7515 §2): no padding, no whitespace, no stray bits.
fn b64_decode(part: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()
}

/// Whether `part` is canonical, unpadded base64url, without decoding it (the crypto backend
/// decodes the signature once, when it checks it): every character in the alphabet, a length
/// that is not 1 modulo 4, and the unused low bits of the last character zero.
fn is_canonical_b64(part: &str) -> bool {
    let bytes = part.as_bytes();
    let Some(&last) = bytes.last() else {
        return true;
    };
    // Comparisons folded without an early exit, so the compiler checks many bytes at a time.
    let alphabet = bytes
        .iter()
        .fold(true, |ok, &b| ok & b64url_value(b).is_some());
    let unused_bits = match bytes.len() % 4 {
        0 => 0,
        2 => 0b1111,
        3 => 0b11,
        _ => return false,
    };
    alphabet && b64url_value(last).is_some_and(|value| value & unused_bits == 0)
}

/// The 6-bit value of a base64url character.
fn b64url_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// Parses a JSON object, rejecting duplicate member names at every level (serde_json keeps
/// the last one silently, which lets a token show one `scope` to one parser and another to
/// the next).
fn strict_object(bytes: &[u8]) -> Result<Map<String, Value>, VerifyError> {
    match serde_json::from_slice::<StrictValue>(bytes) {
        Ok(StrictValue(Value::Object(map))) => Ok(map),
        Ok(_) => Err(VerifyError::invalid_token("token is malformed")),
        Err(err) => Err(strict_error(&err)),
    }
}

/// The refusal for a header or claims that did not parse.
fn strict_error(err: &serde_json::Error) -> VerifyError {
    if err.to_string().starts_with(DUPLICATE) {
        VerifyError::invalid_token("token has a duplicate member")
    } else {
        VerifyError::invalid_token("token is malformed")
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
pub(crate) fn check_typ(typ: &Member<'_>, strict: bool) -> Result<(), VerifyError> {
    let rejected = || VerifyError::invalid_token("token type is not accepted");
    let typ = match typ {
        Member::Absent if strict => return Err(rejected()),
        Member::Absent => return Ok(()),
        Member::Str(typ) => &**typ,
        Member::Other => return Err(rejected()),
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
        let v = |s: &'static str| Member::Str(Cow::Borrowed(s));
        let cases = [
            (Member::Absent, false, true),
            (Member::Absent, true, false),
            (v("at+jwt"), true, true),
            (v("AT+JWT"), true, true),
            (v("application/at+jwt"), true, true),
            (v("Application/At+Jwt"), true, true),
            (v("JWT"), false, true),
            (v("application/jwt"), false, true),
            (v("JWT"), true, false),
            (v("dpop+jwt"), false, false),
            (v("JOSE"), false, false),
            (v("application/"), false, false),
            (Member::Other, false, false),
        ];
        for (typ, strict, ok) in cases {
            assert_eq!(
                check_typ(&typ, strict).is_ok(),
                ok,
                "{typ:?} strict={strict}"
            );
        }
    }

    fn header_of(json: &str) -> Result<JwsHeader<'static>, VerifyError> {
        let token = format!("{}.e30.c2ln", b64(json));
        let parsed = ParsedToken::parse(&token).expect("parts");
        // Owned, so the test can return it.
        let own = |m: Member<'_>| match m {
            Member::Str(s) => Member::Str(Cow::Owned(s.into_owned())),
            Member::Absent => Member::Absent,
            Member::Other => Member::Other,
        };
        parsed.header().map(|h| JwsHeader {
            alg: own(h.alg),
            kid: own(h.kid),
            typ: own(h.typ),
            critical: h.critical,
        })
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    #[test]
    fn the_header_is_read_as_strictly_as_the_whole_object() {
        let h =
            header_of(r#"{"alg":"RS256","kid":"k\u0031","typ":5,"x":{"y":[1]}}"#).expect("parses");
        assert_eq!(h.alg.as_str(), Some("RS256"));
        assert_eq!(h.kid.as_str(), Some("k1"), "escapes are read");
        assert_eq!(h.typ, Member::Other);
        assert!(!h.critical);
        assert!(
            header_of(r#"{"alg":"RS256","crit":["exp"]}"#)
                .expect("ok")
                .critical
        );
        assert!(
            header_of(r#"{"alg":"RS256","b64":false}"#)
                .expect("ok")
                .critical
        );
        assert_eq!(header_of(r#"{"kid":null}"#).expect("ok").kid, Member::Other);
        assert_eq!(header_of("{}").expect("ok").alg, Member::Absent);

        // Wherever `strict_object` refuses a header, so does `header`, with the same reason.
        let wide: String = (0..40).map(|i| format!(r#""m{i}":{i},"#)).collect();
        for json in [
            r#"{"alg":"RS256","alg":"none"}"#,
            r#"{"alg":"RS256","al\u0067":"none"}"#,
            r#"{"x":1,"x":2}"#,
            r#"{"jwk":{"kty":"EC","kty":"RSA"}}"#,
            r#"{"a":[{"x":1,"x":2}]}"#,
            &format!(r#"{{{wide}"m7":0}}"#),
            &format!(r#"{{{wide}"m39":0}}"#),
            &format!(r#"{{{wide}"m40":0}}"#),
            r#"["alg"]"#,
            r#"{"alg":"RS256"} {}"#,
            r#"{"alg":"RS256""#,
            "",
        ] {
            let token = format!("{}.e30.c2ln", b64(json));
            let parsed = ParsedToken::parse(&token).expect("parts");
            let whole = parsed.header_object().map(|_| ());
            let read = parsed.header().map(|_| ());
            assert_eq!(
                read.as_ref().map_err(VerifyError::description),
                whole.as_ref().map_err(VerifyError::description),
                "{json}"
            );
        }
        assert!(header_of(&format!(r#"{{{wide}"m40":0}}"#)).is_ok());
        assert!(header_of(&format!(r#"{{{wide}"m39":0}}"#)).is_err());
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
    fn the_canonical_form_check_agrees_with_decoding() {
        // Every string of up to 3 characters over a few of each kind, and longer ones around
        // the last character: canonical exactly when the strict decoder accepts it.
        let chars = [
            "A", "Q", "B", "g", "w", "_", "-", "9", "=", "+", "/", " ", "é",
        ];
        let mut cases = vec![String::new()];
        for len in 1..=3 {
            let shorter: Vec<String> = cases
                .iter()
                .filter(|c| c.chars().count() == len - 1)
                .cloned()
                .collect();
            for prefix in shorter {
                for c in chars {
                    cases.push(format!("{prefix}{c}"));
                }
            }
        }
        for prefix in ["", "AAAA", "AAAAAAAAA"] {
            for c in chars {
                cases.push(format!("{prefix}A{c}"));
                cases.push(format!("{prefix}AA{c}"));
            }
        }
        for case in cases {
            assert_eq!(
                is_canonical_b64(&case),
                b64_decode(&case).is_some(),
                "{case:?}"
            );
        }
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
