//! What a token looks like before anything about it is verified: a JWS compact
//! serialisation and its (unverified) issuer, or an opaque string.
//!
//! Verifiers use it to say "not mine" ([`VerifyError::foreign_token`]) without a network call,
//! so a token is only ever sent to the authorization server that can have issued it.
//!
//! [`VerifyError::foreign_token`]: super::VerifyError::foreign_token

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;

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
    #[derive(Deserialize)]
    struct Claims {
        iss: Option<serde_json::Value>,
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
        .and_then(|claims| serde_json::from_slice::<Claims>(&claims).ok())
        .and_then(|claims| match claims.iss {
            Some(serde_json::Value::String(iss)) => Some(iss),
            _ => None,
        });
    Shape::Jwt { issuer }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
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
