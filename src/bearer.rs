//! `Authorization: Bearer <token>` extraction (RFC 6750 §2.1, RFC 9110 §11), and `DPoP
//! <token>` with its `DPoP` proof header (RFC 9449 §7).

use std::fmt;

use http::{HeaderMap, HeaderName, Uri, header};

use crate::challenge::{AuthError, AuthErrorKind, Scheme};

/// The header of a DPoP proof (RFC 9449 §4.1).
pub(crate) const DPOP: HeaderName = HeaderName::from_static("dpop");

/// The credentials of a request: its access token, the scheme it came with, and for `DPoP`
/// the proof.
pub(crate) struct Credentials<'a> {
    pub(crate) scheme: Scheme,
    pub(crate) token: &'a str,
    /// The `DPoP` header, for the `DPoP` scheme.
    pub(crate) proof: Option<&'a str>,
}

/// Never the token or the proof: only their sizes.
impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("scheme", &self.scheme)
            .field("token_len", &self.token.len())
            .field("proof_len", &self.proof.map(str::len))
            .finish()
    }
}

/// Finds the access token of a request, or the reason there is none.
///
/// Only the `Authorization` header is a valid carrier: OAuth 2.1 dropped the query method, and
/// MCP bodies are JSON-RPC, so a token in the query or a form body is refused with
/// `invalid_request` rather than ignored, to tell the client what is wrong. The `DPoP` scheme
/// is read only when `dpop` is on; its proof must come in exactly one `DPoP` header.
pub(crate) fn extract<'a>(
    headers: &'a HeaderMap,
    uri: &Uri,
    max_len: usize,
    dpop: bool,
) -> Result<Credentials<'a>, AuthError> {
    if uri.query().is_some_and(has_access_token_param) {
        return Err(AuthError::new(
            AuthErrorKind::InvalidRequest,
            "access tokens in the URI query are not accepted; use the Authorization header",
        ));
    }
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        if is_form(headers) {
            return Err(AuthError::new(
                AuthErrorKind::InvalidRequest,
                "access tokens in a form body are not accepted; use the Authorization header",
            ));
        }
        return Err(AuthError::new(
            AuthErrorKind::MissingToken,
            "authorization required: send an access token in the Authorization header",
        ));
    };
    if values.next().is_some() {
        return Err(AuthError::new(
            AuthErrorKind::InvalidRequest,
            "more than one Authorization header",
        ));
    }
    let (scheme, token) = parse(value.as_bytes(), max_len, dpop)?;
    let proof = match scheme {
        Scheme::Dpop => Some(proof(headers, max_len).map_err(|err| err.with_scheme(Scheme::Dpop))?),
        Scheme::Bearer => None,
    };
    Ok(Credentials {
        scheme,
        token,
        proof,
    })
}

/// The one `DPoP` proof header of a `DPoP` request.
fn proof(headers: &HeaderMap, max_len: usize) -> Result<&str, AuthError> {
    let mut proofs = headers.get_all(&DPOP).iter();
    let (Some(proof), None) = (proofs.next(), proofs.next()) else {
        return Err(match headers.get_all(&DPOP).iter().count() {
            0 => AuthError::new(AuthErrorKind::InvalidDpopProof, "the DPoP proof is missing"),
            _ => AuthError::new(AuthErrorKind::InvalidRequest, "more than one DPoP header"),
        });
    };
    let proof = proof.as_bytes();
    if proof.len() > max_len {
        return Err(AuthError::new(
            AuthErrorKind::InvalidDpopProof,
            "the DPoP proof is larger than this server accepts",
        ));
    }
    if !proof
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(AuthError::new(
            AuthErrorKind::InvalidDpopProof,
            "the DPoP proof is not a compact JWS",
        ));
    }
    // Checked to be ASCII above.
    std::str::from_utf8(proof).map_err(|_| {
        AuthError::new(
            AuthErrorKind::InvalidDpopProof,
            "the DPoP proof is not a compact JWS",
        )
    })
}

/// Parses one `Authorization` value into its scheme and token.
fn parse(value: &[u8], max_len: usize, dpop: bool) -> Result<(Scheme, &str), AuthError> {
    let value = value.trim_ascii();
    let (scheme, rest) = match value.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, &[][..]),
    };
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if dpop && scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        return Err(AuthError::new(
            AuthErrorKind::MissingToken,
            "authorization required: the Authorization scheme is not one this server accepts",
        ));
    };
    let token = token(rest.trim_ascii_start(), max_len).map_err(|err| err.with_scheme(scheme))?;
    Ok((scheme, token))
}

/// The token of the credentials: a non-empty `b64token` of at most `max_len` bytes.
fn token(token: &[u8], max_len: usize) -> Result<&str, AuthError> {
    let malformed = || {
        AuthError::new(
            AuthErrorKind::InvalidRequest,
            "the credentials are malformed (not an RFC 6750 b64token)",
        )
    };
    if token.is_empty() {
        return Err(AuthError::new(
            AuthErrorKind::InvalidRequest,
            "the credentials are empty",
        ));
    }
    // Size first, so an oversized value costs no more than its length.
    if token.len() > max_len {
        return Err(AuthError::new(
            AuthErrorKind::InvalidToken,
            "the access token is larger than this server accepts",
        ));
    }
    if !is_b64token(token) {
        return Err(malformed());
    }
    // `is_b64token` admits ASCII only, so this cannot fail.
    std::str::from_utf8(token).map_err(|_| malformed())
}

/// RFC 6750 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    // Comparisons only, folded without an early exit, so that the compiler checks 16 or 32
    // bytes at a time: this runs on every request, over about a kilobyte (a lookup table
    // cannot be vectorised, and cost four times as much).
    body_len > 0
        && token[..body_len]
            .iter()
            .fold(true, |ok, &b| ok & is_b64token_char(b))
}

/// Whether `b` is a `b64token` character before the `=` padding, without branches.
fn is_b64token_char(b: u8) -> bool {
    // ASCII letters differ from their lower case by the 0x20 bit only.
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter
        | digit
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

fn has_access_token_param(query: &str) -> bool {
    // Cheap pre-check; the parse handles percent-encoded names.
    (query.contains("access") || query.contains('%'))
        && form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "access_token")
}

fn is_form(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|ct| {
        let ct = ct.as_bytes();
        let essence = ct.split(|&b| b == b';').next().unwrap_or_default();
        essence
            .trim_ascii()
            .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
    })
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    struct Case {
        name: &'static str,
        headers: &'static [&'static [u8]],
        uri: &'static str,
        form: bool,
        want: Result<&'static str, AuthErrorKind>,
    }

    const fn case(
        name: &'static str,
        headers: &'static [&'static [u8]],
        want: Result<&'static str, AuthErrorKind>,
    ) -> Case {
        Case {
            name,
            headers,
            uri: "/mcp",
            form: false,
            want,
        }
    }

    #[test]
    fn b64token_characters_are_exactly_the_rfc_6750_set() {
        for b in 0..=u8::MAX {
            let rfc = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_b64token_char(b), rfc, "byte {b:#04x}");
            // And in a token long enough to be checked many bytes at a time.
            let mut token = vec![b'a'; 100];
            token[57] = b;
            assert_eq!(is_b64token(&token), rfc, "byte {b:#04x} inside a token");
        }
    }

    #[test]
    fn extraction_table() {
        use AuthErrorKind::*;
        let cases = [
            case(
                "plain",
                &[b"Bearer abc.def-ghi_jkl~mno+pqr/stu=="],
                Ok("abc.def-ghi_jkl~mno+pqr/stu=="),
            ),
            case("lower scheme", &[b"bearer abc"], Ok("abc")),
            case("upper scheme", &[b"BEARER abc"], Ok("abc")),
            case("extra spaces", &[b"Bearer   abc"], Ok("abc")),
            case("surrounding whitespace", &[b" Bearer abc \t"], Ok("abc")),
            case("none", &[], Err(MissingToken)),
            case("basic", &[b"Basic dXNlcjpwYXNz"], Err(MissingToken)),
            case("dpop", &[b"DPoP abc"], Err(MissingToken)),
            case("scheme prefix", &[b"Bearerabc"], Err(MissingToken)),
            case("scheme only", &[b"Bearer"], Err(InvalidRequest)),
            case("scheme and space", &[b"Bearer "], Err(InvalidRequest)),
            case("two tokens", &[b"Bearer abc def"], Err(InvalidRequest)),
            case("comma", &[b"Bearer abc,def"], Err(InvalidRequest)),
            case("quote", &[b"Bearer \"abc\""], Err(InvalidRequest)),
            case("only padding", &[b"Bearer ==="], Err(InvalidRequest)),
            case("padding inside", &[b"Bearer ab=c"], Err(InvalidRequest)),
            case("non-ascii", &[b"Bearer ab\xc3\xa9"], Err(InvalidRequest)),
            case("tab separator", &[b"Bearer\tabc"], Ok("abc")),
            case(
                "two headers",
                &[b"Bearer abc", b"Bearer abc"],
                Err(InvalidRequest),
            ),
            case(
                "bearer and basic",
                &[b"Bearer abc", b"Basic xyz"],
                Err(InvalidRequest),
            ),
            Case {
                name: "query token",
                headers: &[],
                uri: "/mcp?access_token=abc",
                form: false,
                want: Err(InvalidRequest),
            },
            Case {
                name: "query token with header",
                headers: &[b"Bearer abc"],
                uri: "/mcp?x=1&access_token=abc",
                form: false,
                want: Err(InvalidRequest),
            },
            Case {
                name: "encoded query token",
                headers: &[],
                uri: "/mcp?access%5Ftoken=abc",
                form: false,
                want: Err(InvalidRequest),
            },
            Case {
                name: "other query",
                headers: &[b"Bearer abc"],
                uri: "/mcp?session=1&access=2",
                form: false,
                want: Ok("abc"),
            },
            Case {
                name: "form without header",
                headers: &[],
                uri: "/mcp",
                form: true,
                want: Err(InvalidRequest),
            },
            Case {
                name: "form with header",
                headers: &[b"Bearer abc"],
                uri: "/mcp",
                form: true,
                want: Ok("abc"),
            },
        ];
        for case in cases {
            let mut headers = HeaderMap::new();
            for value in case.headers {
                headers.append(
                    header::AUTHORIZATION,
                    HeaderValue::from_bytes(value).unwrap(),
                );
            }
            if case.form {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
                );
            }
            let uri: Uri = case.uri.parse().unwrap();
            let got = extract(&headers, &uri, 64, false)
                .map(|credentials| credentials.token)
                .map_err(|e| e.kind());
            assert_eq!(got, case.want, "{}", case.name);
        }
    }

    #[test]
    fn dpop_credentials() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(*name, HeaderValue::from_static(value));
            }
            headers
        };
        let uri: Uri = "/mcp".parse().unwrap();
        let ok = with(&[("authorization", "DPoP tok"), ("dpop", "a.b.c")]);
        let got = extract(&ok, &uri, 64, true).expect("DPoP credentials");
        assert_eq!(
            (got.scheme, got.token, got.proof),
            (Scheme::Dpop, "tok", Some("a.b.c"))
        );
        // With DPoP off, the scheme is not one the server accepts.
        assert_eq!(
            extract(&ok, &uri, 64, false).unwrap_err().kind(),
            AuthErrorKind::MissingToken
        );
        let cases = [
            (
                "no proof",
                with(&[("authorization", "dpop tok")]),
                AuthErrorKind::InvalidDpopProof,
            ),
            (
                "two proofs",
                with(&[
                    ("authorization", "DPoP tok"),
                    ("dpop", "a.b.c"),
                    ("dpop", "a.b.c"),
                ]),
                AuthErrorKind::InvalidRequest,
            ),
            (
                "not a JWS",
                with(&[("authorization", "DPoP tok"), ("dpop", "a b")]),
                AuthErrorKind::InvalidDpopProof,
            ),
        ];
        for (name, headers, kind) in cases {
            assert_eq!(
                extract(&headers, &uri, 64, true).unwrap_err().kind(),
                kind,
                "{name}"
            );
        }
        // A Bearer request's DPoP header is not read.
        let bearer = with(&[("authorization", "Bearer tok"), ("dpop", "x y")]);
        let got = extract(&bearer, &uri, 64, true).expect("Bearer credentials");
        assert_eq!((got.scheme, got.proof), (Scheme::Bearer, None));
    }

    #[test]
    fn oversized_token_is_rejected_by_length() {
        let token = "a".repeat(65);
        let value = format!("Bearer {token}");
        let err = parse(value.as_bytes(), 64, false).unwrap_err();
        assert_eq!(err.kind(), AuthErrorKind::InvalidToken);
        assert!(parse(value.as_bytes(), 65, false).is_ok());
        // Length is checked before content: a huge malformed value is still "too large".
        let huge = format!("Bearer {}", "\"".repeat(100));
        assert_eq!(
            parse(huge.as_bytes(), 64, false).unwrap_err().kind(),
            AuthErrorKind::InvalidToken
        );
    }
}
