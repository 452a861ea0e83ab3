//! `Authorization: Bearer <token>` extraction (RFC 6750 §2.1, RFC 9110 §11), and `DPoP
//! <token>` with its `DPoP` proof header (RFC 9449 §7).

use std::{fmt, ops::Range};

use http::{HeaderMap, HeaderName, Uri, header};

use crate::challenge::{AuthError, AuthErrorKind, Scheme};

/// The header of a DPoP proof (RFC 9449 §4.1).
pub(crate) const DPOP: HeaderName = HeaderName::from_static("dpop");

/// The credentials of a request: the scheme, where its access token is, and for `DPoP` the
/// proof.
pub(crate) struct Credentials {
    pub(crate) scheme: Scheme,
    /// Where the access token is in the `Authorization` value ([`token_at`] reads it there): a
    /// `b64token`, so ASCII. The token is read in place and never copied.
    pub(crate) token: Range<usize>,
    /// The `DPoP` header, for the `DPoP` scheme.
    pub(crate) proof: Option<String>,
}

/// Never the token or the proof: only their sizes.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_sizes(f, self.scheme, self.token.len(), self.proof.as_deref())
    }
}

/// The `Debug` output of credentials of every kind: the scheme and the sizes of the token and
/// the proof, never their text.
pub(crate) fn debug_sizes(
    f: &mut fmt::Formatter<'_>,
    scheme: Scheme,
    token_len: usize,
    proof: Option<&str>,
) -> fmt::Result {
    f.debug_struct("Credentials")
        .field("scheme", &scheme)
        .field("token_len", &token_len)
        .field("proof_len", &proof.map(str::len))
        .finish()
}

/// The token that [`extract`] found at `at` in the `Authorization` value `value`.
///
/// [`extract`] checked that it is a `b64token`, so ASCII: this fails only for another value.
pub(crate) fn token_at(value: &[u8], at: Range<usize>) -> Result<&str, AuthError> {
    value
        .get(at)
        .and_then(|token| std::str::from_utf8(token).ok())
        .ok_or_else(malformed)
}

/// Finds the access token of a request, or the reason there is none.
///
/// Only the `Authorization` header is a valid carrier: OAuth 2.1 dropped the query method, and
/// MCP bodies are JSON-RPC, so a token in the query or a form body is refused with
/// `invalid_request` rather than ignored, to tell the client what is wrong. The `DPoP` scheme
/// is read only when `dpop` is on; its proof must come in exactly one `DPoP` header.
pub(crate) fn extract(
    headers: &HeaderMap,
    uri: &Uri,
    max_len: usize,
    dpop: bool,
) -> Result<Credentials, AuthError> {
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
        Scheme::Dpop => Some(
            proof(headers, max_len)
                .map_err(|err| err.with_scheme(Scheme::Dpop))?
                .to_owned(),
        ),
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

/// Parses one `Authorization` value into its scheme and where its token is.
fn parse(value: &[u8], max_len: usize, dpop: bool) -> Result<(Scheme, Range<usize>), AuthError> {
    // Trimmed at the end only, so that the token, a suffix of `value`, is found by its length.
    let value = value.trim_ascii_end();
    let trimmed = value.trim_ascii_start();
    let (scheme, rest) = match trimmed.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => (&trimmed[..i], &trimmed[i..]),
        None => (trimmed, &[][..]),
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
    let token = rest.trim_ascii_start();
    check_token(token, max_len).map_err(|err| err.with_scheme(scheme))?;
    Ok((scheme, value.len() - token.len()..value.len()))
}

/// Why credentials are not an RFC 6750 `b64token`.
fn malformed() -> AuthError {
    AuthError::new(
        AuthErrorKind::InvalidRequest,
        "the credentials are malformed (not an RFC 6750 b64token)",
    )
}

/// The token of the credentials must be a non-empty `b64token` of at most `max_len` bytes.
fn check_token(token: &[u8], max_len: usize) -> Result<(), AuthError> {
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
    Ok(())
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
///
/// Two ranges and three bytes: letters (either case), `-./0-9` (0x2D to 0x39, one range), then
/// `_`, `~` and `+`. Each range is a signed comparison, which SSE2 has for bytes (unsigned it
/// has not). A 765-byte token takes 49 ns where two ranges and six bytes, unsigned, took 71 ns
/// (criterion, this machine).
fn is_b64token_char(b: u8) -> bool {
    // ASCII letters differ from their lower case by the 0x20 bit only.
    let letter = below((b | 0x20).wrapping_sub(b'a'), 26);
    let dash_to_nine = below(b.wrapping_sub(b'-'), 13);
    letter | dash_to_nine | (b == b'_') | (b == b'~') | (b == b'+')
}

/// `x < n`, as a signed comparison after moving both by 128 (an order-keeping shift).
#[inline(always)]
fn below(x: u8, n: u8) -> bool {
    ((x ^ 0x80) as i8) < ((n ^ 0x80) as i8)
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
                .map(|credentials| {
                    let value = headers[header::AUTHORIZATION].as_bytes();
                    token_at(value, credentials.token).unwrap()
                })
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
        let token = token_at(ok[header::AUTHORIZATION].as_bytes(), got.token).unwrap();
        assert_eq!(
            (got.scheme, token, got.proof.as_deref()),
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
        // Where the token is, in a value with spaces around it.
        let spaced = HeaderValue::from_static(" \tBearer \t tok== \t");
        let at = parse(spaced.as_bytes(), 64, false).unwrap().1;
        assert_eq!(token_at(spaced.as_bytes(), at).ok(), Some("tok=="));
        assert_eq!(
            token_at(b"Bearer tok", 7..11).unwrap_err().kind(),
            AuthErrorKind::InvalidRequest
        );
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
