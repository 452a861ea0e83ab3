//! What a token looks like before anything about it is verified: a JWS compact
//! serialisation and its (unverified) issuer, or an opaque string.
//!
//! Verifiers use it to say "not mine" ([`VerifyError::foreign_token`]) without a network call,
//! so a token is only ever sent to the authorization server that can have issued it.
//!
//! [`VerifyError::foreign_token`]: super::VerifyError::foreign_token

use std::fmt;

use super::json::Json;
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

/// Reads the shape of `token`. Lenient on purpose: it only routes; the verifier that the
/// token is routed to parses it strictly.
pub(crate) fn shape(token: &str) -> Shape {
    #[derive(Deserialize)]
    struct Header<'a> {
        #[serde(borrow)]
        alg: Option<&'a str>,
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
    let issuer = URL_SAFE_NO_PAD.decode(claims).ok().and_then(|claims| {
        RoutingClaims::read_issuer(&claims).and_then(|c| c.issuer().map(str::to_owned))
    });
    Shape::Jwt { issuer }
}

/// What is read from a JWT's claims before anything about it is verified: `iss` (who can
/// have issued it, so whose keys check it) and `iat` (to tell a key published since the last
/// fetch of the issuer's set from an unknown one). The rest of the claims is skipped, not
/// parsed: it is parsed once the signature holds.
#[derive(Debug, Default)]
pub(crate) struct RoutingClaims<'a> {
    pub(crate) iss: Option<Json<'a>>,
    pub(crate) iat: Option<Json<'a>>,
}

impl<'a> RoutingClaims<'a> {
    /// Reads them from the decoded claims: `None` unless they are a JSON object with at most
    /// one `iss` and one `iat`.
    pub(crate) fn read(json: &'a [u8]) -> Option<Self> {
        Self::read_with(json, true)
    }

    /// Only the `iss` (for [`shape`]: whatever else the claims hold is the verifier's to
    /// judge).
    fn read_issuer(json: &'a [u8]) -> Option<Self> {
        Self::read_with(json, false)
    }

    fn read_with(json: &'a [u8], iat: bool) -> Option<Self> {
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        let claims = deserializer.deserialize_map(RoutingVisitor { iat }).ok()?;
        deserializer.end().ok()?;
        Some(claims)
    }

    /// The `iss`, when it is a string.
    pub(crate) fn issuer(&self) -> Option<&str> {
        self.iss.as_ref().and_then(Json::as_str)
    }
}

/// Reads `iss`, and `iat` when asked to.
struct RoutingVisitor {
    iat: bool,
}

impl<'de> Visitor<'de> for RoutingVisitor {
    type Value = RoutingClaims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut claims = RoutingClaims::default();
        while let Some(name) = access.next_key::<Name>()? {
            let slot = match name {
                Name::Iss => &mut claims.iss,
                Name::Iat if self.iat => &mut claims.iat,
                Name::Iat | Name::Other => {
                    access.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.replace(access.next_value()?).is_some() {
                return Err(de::Error::custom("duplicate member"));
            }
        }
        Ok(claims)
    }
}

/// A member name of the claims, without allocating it.
enum Name {
    Iss,
    Iat,
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
                Ok(match name {
                    "iss" => Name::Iss,
                    "iat" => Name::Iat,
                    _ => Name::Other,
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
    fn the_verifier_reads_iss_and_iat_once_each() {
        fn read(json: &str) -> Option<RoutingClaims<'_>> {
            RoutingClaims::read(json.as_bytes())
        }
        let claims = read(r#"{"iss":"a","iat":5,"x":{"y":[1,{"z":2}]}}"#).expect("reads");
        assert_eq!(claims.issuer(), Some("a"));
        assert_eq!(claims.iat, Some(Json::Number(5.into())));
        assert!(read(r#"{"iss":"a","iat":5,"iat":6}"#).is_none());
        assert!(read(r#"{"iss":"a","iss":"a"}"#).is_none());
        assert!(read(r#"["a",5]"#).is_none());
        assert!(read(r#"{"iss":"a"} {}"#).is_none(), "trailing data");
        assert!(read(r#"{"iss":"a","x":"#).is_none());
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
