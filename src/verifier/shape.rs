//! What a token looks like before anything about it is verified: a JWS compact
//! serialisation and its (unverified) issuer, or an opaque string.
//!
//! Verifiers use it to say "not mine" ([`VerifyError::foreign_token`]) without a network call,
//! so a token is only ever sent to the authorization server that can have issued it.
//!
//! [`VerifyError::foreign_token`]: super::VerifyError::foreign_token

use std::{borrow::Cow, fmt};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{
    Deserialize, Deserializer,
    de::{self, IgnoredAny, MapAccess, Visitor},
};

/// The shape of a token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A signed JWT (three base64url parts, a header with `alg`), with its unverified `iss`
    /// when the claims carry a string one.
    Jwt { issuer: Option<String> },
    /// Anything else: an opaque token (or one too malformed to say whose it is).
    Opaque,
}

/// The shape of a token over a verifier's `max` size, to say whose it is before it is
/// refused: one more than four times too large is not decoded, and reads as opaque (the
/// verifier of opaque tokens refuses it, a JWT verifier passes it on).
pub(crate) fn shape_of_oversize(token: &str, max: usize) -> Shape {
    if token.len() / 4 > max {
        Shape::Opaque
    } else {
        shape(token)
    }
}

/// Reads the shape of `token`. Lenient on purpose: it only routes; the verifier that the
/// token is routed to parses it strictly.
pub(crate) fn shape(token: &str) -> Shape {
    #[derive(Deserialize)]
    struct Header<'a> {
        // A `Cow`: an `alg` written with escapes is still a string (a `&str` would refuse it,
        // and the token would read as opaque where the JWT verifier reads it as a JWT).
        #[serde(borrow)]
        alg: Option<Cow<'a, str>>,
    }
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Shape::Opaque;
    };
    let Ok(header) = URL_SAFE_NO_PAD.decode(header) else {
        return Shape::Opaque;
    };
    if !serde_json::from_slice::<Header<'_>>(&header).is_ok_and(|h| h.alg.is_some()) {
        return Shape::Opaque;
    }
    let issuer = URL_SAFE_NO_PAD
        .decode(claims)
        .ok()
        .and_then(|claims| unverified_issuer(&claims));
    Shape::Jwt { issuer }
}

/// The `iss` of a JWT's decoded claims, when they are a JSON object with one string `iss`.
/// The rest of the claims is skipped, not parsed: whatever else they hold is the verifier's
/// to judge.
fn unverified_issuer(json: &[u8]) -> Option<String> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let iss = deserializer.deserialize_map(IssuerVisitor).ok()?;
    deserializer.end().ok()?;
    match iss? {
        Member::String(iss) => Some(iss.into_owned()),
        Member::Other(_) => None,
    }
}

/// A member's value: a string, or anything else (skipped, not kept).
#[derive(Deserialize)]
#[serde(untagged)]
enum Member<'a> {
    String(#[serde(borrow)] Cow<'a, str>),
    Other(IgnoredAny),
}

/// Reads `iss`, refusing a second one.
struct IssuerVisitor;

impl<'de> Visitor<'de> for IssuerVisitor {
    type Value = Option<Member<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut iss = None;
        while let Some(name) = access.next_key::<Name>()? {
            match name {
                Name::Iss => {
                    if iss.replace(access.next_value()?).is_some() {
                        return Err(de::Error::custom("duplicate member"));
                    }
                }
                Name::Other => {
                    access.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(iss)
    }
}

/// A member name of the claims, without allocating it.
enum Name {
    Iss,
    Other,
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = Name;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_str<E>(self, name: &str) -> Result<Name, E> {
                Ok(if name == "iss" {
                    Name::Iss
                } else {
                    Name::Other
                })
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn the_issuer_is_read_once_from_an_object() {
        let read = |json: &str| unverified_issuer(json.as_bytes());
        assert_eq!(
            read(r#"{"iss":"a","iat":5,"x":{"y":[1,{"z":2}]}}"#).as_deref(),
            Some("a")
        );
        assert_eq!(read(r#"{"iss":"a","iat":5,"iat":6}"#).as_deref(), Some("a"));
        assert_eq!(read(r#"{"iss":"a","iss":"a"}"#), None);
        assert_eq!(read(r#"{"iss":5}"#), None);
        assert_eq!(read(r#"{"iss":{"a":[1,{"b":2}]},"x":1}"#), None);
        assert_eq!(read(r#"{"iss":["a"]}"#), None);
        assert_eq!(read(r#"{"iss":"a\u0062"}"#).as_deref(), Some("ab"));
        assert_eq!(read(r#"["a",5]"#), None);
        assert_eq!(read(r#"{"iss":"a"} {}"#), None, "trailing data");
        assert_eq!(read(r#"{"iss":"a","x":"#), None);
    }

    #[test]
    fn shapes() {
        let header = b64(r#"{"alg":"RS256"}"#);
        let claims = b64(r#"{"iss":"https://as.example.com","sub":"a"}"#);
        let jwt = |h: &str, c: &str| format!("{h}.{c}.c2ln");
        let cases = [
            (
                "jwt",
                jwt(&header, &claims),
                Shape::Jwt {
                    issuer: Some("https://as.example.com".into()),
                },
            ),
            (
                "jwt without iss",
                jwt(&header, &b64(r#"{"sub":"a"}"#)),
                Shape::Jwt { issuer: None },
            ),
            (
                "jwt with a numeric iss",
                jwt(&header, &b64(r#"{"iss":5}"#)),
                Shape::Jwt { issuer: None },
            ),
            (
                "jwt with unreadable claims",
                jwt(&header, "%%%"),
                Shape::Jwt { issuer: None },
            ),
            (
                "jwt with two iss",
                jwt(
                    &header,
                    &b64(r#"{"iss":"https://as.example.com","iss":"x"}"#),
                ),
                Shape::Jwt { issuer: None },
            ),
            (
                "jwt whose claims are an array",
                jwt(&header, &b64(r#"["https://as.example.com"]"#)),
                Shape::Jwt { issuer: None },
            ),
            (
                "jwt with an escaped iss name",
                jwt(
                    &header,
                    &b64(r#"{"i\u0073s":"https://as.example.com","x":[{"y":1}]}"#),
                ),
                Shape::Jwt {
                    issuer: Some("https://as.example.com".into()),
                },
            ),
            (
                "jwt with two iat (the verifier's to refuse)",
                jwt(
                    &header,
                    &b64(r#"{"iss":"https://as.example.com","iat":1,"iat":2}"#),
                ),
                Shape::Jwt {
                    issuer: Some("https://as.example.com".into()),
                },
            ),
            (
                "jwt whose alg has escapes",
                jwt(&b64(r#"{"alg":"RS\u0032\u0035\u0036"}"#), &claims),
                Shape::Jwt {
                    issuer: Some("https://as.example.com".into()),
                },
            ),
            ("opaque", "dev-at-abcdef".to_owned(), Shape::Opaque),
            ("google style", "ya29.a0AfH6SMB".to_owned(), Shape::Opaque),
            (
                "header without alg",
                jwt(&b64(r#"{"typ":"JWT"}"#), &claims),
                Shape::Opaque,
            ),
            (
                "four parts",
                format!("{}.x", jwt(&header, &claims)),
                Shape::Opaque,
            ),
            ("empty", String::new(), Shape::Opaque),
        ];
        for (name, token, want) in cases {
            assert_eq!(shape(&token), want, "{name}");
        }
    }
}
