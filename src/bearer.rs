//! `Authorization: Bearer <token>` extraction (RFC 6750 §2.1, RFC 9110 §11).

use http::{HeaderMap, Uri, header};

use crate::challenge::{AuthError, AuthErrorKind};

/// Finds the bearer token of a request, or the reason there is none.
///
/// Only the `Authorization` header is a valid carrier: OAuth 2.1 dropped the query method, and
/// MCP bodies are JSON-RPC, so a token in the query or a form body is refused with
/// `invalid_request` rather than ignored, to tell the client what is wrong.
pub(crate) fn extract<'a>(
    headers: &'a HeaderMap,
    uri: &Uri,
    max_len: usize,
) -> Result<&'a str, AuthError> {
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
    parse(value.as_bytes(), max_len)
}

/// Parses one `Authorization` value.
fn parse(value: &[u8], max_len: usize) -> Result<&str, AuthError> {
    let value = value.trim_ascii();
    let (scheme, rest) = match value.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(AuthError::new(
            AuthErrorKind::MissingToken,
            "authorization required: the Authorization scheme is not Bearer",
        ));
    }
    let token = rest.trim_ascii_start();
    if token.is_empty() {
        return Err(AuthError::new(
            AuthErrorKind::InvalidRequest,
            "the Bearer credentials are empty",
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
        return Err(AuthError::new(
            AuthErrorKind::InvalidRequest,
            "the Bearer credentials are malformed",
        ));
    }
    // `is_b64token` admits ASCII only, so this cannot fail.
    std::str::from_utf8(token).map_err(|_| {
        AuthError::new(
            AuthErrorKind::InvalidRequest,
            "the Bearer credentials are malformed",
        )
    })
}

/// RFC 6750 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    body_len > 0
        && token[..body_len].iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
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
            let got = extract(&headers, &uri, 64).map_err(|e| e.kind());
            assert_eq!(got, case.want, "{}", case.name);
        }
    }

    #[test]
    fn oversized_token_is_rejected_by_length() {
        let token = "a".repeat(65);
        let value = format!("Bearer {token}");
        let err = parse(value.as_bytes(), 64).unwrap_err();
        assert_eq!(err.kind(), AuthErrorKind::InvalidToken);
        assert!(parse(value.as_bytes(), 65).is_ok());
        // Length is checked before content: a huge malformed value is still "too large".
        let huge = format!("Bearer {}", "\"".repeat(100));
        assert_eq!(
            parse(huge.as_bytes(), 64).unwrap_err().kind(),
            AuthErrorKind::InvalidToken
        );
    }
}
