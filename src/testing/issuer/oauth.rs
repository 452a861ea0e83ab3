//! The OAuth 2.1 pieces every endpoint of the dev issuer uses: request parameters, HTTP Basic
//! client credentials, PKCE, redirect URI matching and the RFC 6749 §5.2 error response.

use aws_lc_rs::{constant_time, digest};
use axum::{
    Json,
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;
use url::Url;

use crate::testing::encoding::{b64url, b64url_decode};

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
pub(super) struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl OAuthError {
    pub(super) fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
        }
    }

    pub(super) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    pub(super) fn invalid_client(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            ..Self::new("invalid_client", description)
        }
    }

    pub(super) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    /// The RFC 6749 error code (`invalid_request`, ...).
    pub(super) fn code(&self) -> &'static str {
        self.code
    }

    /// The human-readable `error_description`.
    pub(super) fn description(&self) -> &str {
        &self.description
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = (self.status, no_store(), Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"dev-issuer\""),
            );
        }
        response
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, for answers that carry credentials.
pub(super) fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// Request parameters; every name but `resource` may appear at most once (RFC 6749 §3.1,
/// §3.2), and empty values count as absent.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn parse(input: &[u8]) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(input)
            .into_owned()
            .filter(|(_, value)| !value.is_empty())
            .collect();
        for (i, (name, _)) in pairs.iter().enumerate() {
            if name != "resource" && pairs[..i].iter().any(|(seen, _)| seen == name) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter repeated: {}",
                    printable(name)
                )));
            }
        }
        Ok(Self(pairs))
    }

    /// Parses a form body, insisting on the form content type.
    pub(super) fn form(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Self::parse(body)
    }

    pub(super) fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
pub(super) fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let id = unescape(id);
    (!id.is_empty()).then(|| (id, unescape(secret)))
}

/// RFC 7636 §4.6 with S256, and the §4.1 verifier syntax.
pub(super) fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = b64url(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref());
    well_formed
        && constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

/// Whether `challenge` has the form of an S256 PKCE challenge: the base64url SHA-256 hash.
pub(super) fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && b64url_decode(challenge).is_some_and(|hash| hash.len() == 32)
}

/// Exact match, or RFC 8252 §7.3 loopback: any port for `http` on 127.0.0.1, [::1] or localhost.
pub(super) fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(mut registered), Ok(mut given)) = (Url::parse(registered), Url::parse(given)) else {
        return false;
    };
    let loopback = |u: &Url| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
    };
    if !loopback(&registered) || !loopback(&given) {
        return false;
    }
    let _ = registered.set_port(None);
    let _ = given.set_port(None);
    registered == given
}

/// Input echoed into an error description: short, printable ASCII only.
pub(super) fn printable(input: &str) -> String {
    input
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(verifier: &str) -> String {
        b64url(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref())
    }

    #[test]
    fn pkce_s256_checks_the_verifier_and_its_syntax() {
        // Expected value computed independently (Python hashlib + base64).
        let verifier = "dBjftJeZ4CVP-mJ0kvZEtOg9UfhdPQW-1oCPGpbX6hI";
        let expected = "u6BrRYktrnAbe6LCK5sUCQKP7jEfKkTiiMrzpFijWfE";
        assert_eq!(challenge(verifier), expected);
        assert!(pkce_matches(verifier, expected));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mJ0kvZEtOg9UfhdPQW-1oCPGpbX6hJ",
            expected
        ));
        assert!(!pkce_matches("short", &challenge("short")));
        assert!(!pkce_matches(
            &"a".repeat(129),
            &challenge(&"a".repeat(129))
        ));
        let spaced = format!("{verifier} x");
        assert!(!pkce_matches(&spaced, &challenge(&spaced)));
    }

    #[test]
    fn s256_challenges_are_43_base64url_characters_of_a_hash() {
        assert!(is_s256_challenge(&challenge("v")));
        assert!(!is_s256_challenge(&challenge("v")[..42]));
        assert!(!is_s256_challenge(&format!("{}=", &challenge("v")[..42])));
        assert!(!is_s256_challenge(&"+".repeat(43)));
    }

    #[test]
    fn params_reject_repeats_but_allow_several_resources() {
        assert!(Params::parse(b"a=1&a=2").is_err());
        let params = Params::parse(b"resource=x&resource=y&a=&b=%20").map_err(|e| e.code);
        let params = params.expect("valid");
        assert_eq!(params.all("resource"), ["x", "y"]);
        assert_eq!(params.one("a"), None, "empty counts as absent");
        assert_eq!(params.one("b"), Some(" "));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = |raw: &str| HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(raw)));
        let value = header("my%3Aid:p%40ss+word").expect("ascii");
        assert_eq!(
            parse_basic(&value),
            Some(("my:id".to_owned(), "p@ss word".to_owned()))
        );
        for bad in ["Basic !!!", "Bearer abc", "Basic", ""] {
            let value = HeaderValue::from_str(bad).expect("ascii");
            assert_eq!(parse_basic(&value), None, "{bad}");
        }
        assert_eq!(parse_basic(&header(":secret").expect("ascii")), None);
        assert_eq!(parse_basic(&header("nocolon").expect("ascii")), None);
    }

    #[test]
    fn loopback_redirects_match_on_any_port() {
        struct Case {
            registered: &'static str,
            given: &'static str,
            matches: bool,
        }
        let cases = [
            Case {
                registered: "http://127.0.0.1/cb",
                given: "http://127.0.0.1:5000/cb",
                matches: true,
            },
            Case {
                registered: "http://localhost:1/cb",
                given: "http://localhost:2/cb",
                matches: true,
            },
            Case {
                registered: "http://127.0.0.1/cb",
                given: "http://127.0.0.1:5000/other",
                matches: false,
            },
            Case {
                registered: "https://app.example/cb",
                given: "https://app.example:8443/cb",
                matches: false,
            },
            Case {
                registered: "https://app.example/cb",
                given: "https://app.example/cb",
                matches: true,
            },
            Case {
                registered: "http://127.0.0.1/cb",
                given: "http://evil.example/cb",
                matches: false,
            },
        ];
        for case in cases {
            assert_eq!(
                redirect_matches(case.registered, case.given),
                case.matches,
                "{} vs {}",
                case.registered,
                case.given
            );
        }
    }

    #[test]
    fn printable_truncates_and_masks() {
        assert_eq!(printable("ok:scope"), "ok:scope");
        assert_eq!(printable("a\r\nb\"é"), "a??b\"?");
        assert_eq!(printable(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn oauth_error_status_and_body() {
        let response = OAuthError::invalid_client("nope").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let header = |name| response.headers().get(name).map(HeaderValue::as_bytes);
        assert_eq!(
            header(header::WWW_AUTHENTICATE),
            Some(&b"Basic realm=\"dev-issuer\""[..])
        );
        assert_eq!(header(header::CACHE_CONTROL), Some(&b"no-store"[..]));
        let response = OAuthError::invalid_grant("used").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
}
