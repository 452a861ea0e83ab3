//! Rejections: [`AuthError`], the `WWW-Authenticate` challenge, and [`OnRejection`].

use std::{borrow::Cow, fmt, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::callback::Callback;

/// Why the layer refused a request.
///
/// It is attached to the extensions of every rejection response, so outer layers (logging,
/// metrics) can read the reason:
///
/// ```
/// # use http::Response;
/// # fn log(response: &Response<()>) {
/// if let Some(err) = response.extensions().get::<mcp_auth::challenge::AuthError>() {
///     eprintln!("rejected: {:?}: {err}", err.kind());
/// }
/// # }
/// ```
///
/// # Formatting
///
/// The `Display` text (also sent as `error_description`) is not stable API.
#[derive(Clone, Debug)]
pub struct AuthError {
    kind: AuthErrorKind,
    description: Cow<'static, str>,
    scope: Option<Arc<str>>,
    retry_after: Option<Duration>,
    /// The scheme of the request's credentials: its challenge carries the error.
    scheme: Scheme,
    /// A fresh `DPoP-Nonce` for the client, for `use_dpop_nonce`.
    dpop_nonce: Option<Arc<str>>,
}

/// An HTTP authentication scheme the layer accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `Bearer` (RFC 6750).
    Bearer,
    /// `DPoP` (RFC 9449): a token bound to a key the client proves it holds.
    Dpop,
}

/// The kind of an [`AuthError`], with the response it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// `400 invalid_request`: a malformed `Authorization` header, two of them, or a token sent
    /// in the query or a form body.
    InvalidRequest,
    /// `401 invalid_token`: the token is bad, expired, or meant for another resource.
    InvalidToken,
    /// `403 insufficient_scope`: the token lacks a scope the request needs.
    InsufficientScope,
    /// `401 invalid_dpop_proof` (RFC 9449): the `DPoP` proof is missing, malformed, replayed,
    /// or does not match the request or the token.
    InvalidDpopProof,
    /// `401 use_dpop_nonce` (RFC 9449 §9): the proof must carry the nonce sent in the
    /// `DPoP-Nonce` header.
    UseDpopNonce,
    /// `400` with the JSON-RPC error `-32020` (`HeaderMismatch`, MCP 2026-07-28): an
    /// `Mcp-Method` or `Mcp-Name` header disagrees with the body, is repeated, or is malformed.
    /// No challenge: the credentials are not the problem.
    HeaderMismatch,
    /// `401` without an error code (RFC 6750 §3.1): no bearer credentials at all.
    MissingToken,
    /// `403`: the `Origin` header names an origin that is not allowed. Checked before
    /// authentication; the challenge carries no error code.
    OriginNotAllowed,
    /// `413`: the request body is larger than the layer will read.
    PayloadTooLarge,
    /// `408`: the request body did not arrive in time.
    RequestTimeout,
    /// `404`: the `Mcp-Session-Id` is bound to another principal (or to none the layer knows),
    /// answered as if the session did not exist.
    SessionNotFound,
    /// `415`: a `POST` whose body the per-operation rules must read is not JSON.
    UnsupportedMediaType,
    /// `503` with `Retry-After`: the verifier cannot decide now. No challenge.
    VerifierUnavailable,
}

impl AuthErrorKind {
    /// The HTTP status this kind of rejection gets.
    #[must_use]
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest | Self::HeaderMismatch => StatusCode::BAD_REQUEST,
            Self::InvalidToken
            | Self::MissingToken
            | Self::InvalidDpopProof
            | Self::UseDpopNonce => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope | Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::SessionNotFound => StatusCode::NOT_FOUND,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::VerifierUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 error code for the challenge, or the code used in the JSON body.
    #[must_use]
    pub fn error_code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::HeaderMismatch => "header_mismatch",
            Self::MissingToken => "unauthorized",
            Self::OriginNotAllowed => "forbidden_origin",
            Self::PayloadTooLarge => "request_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::SessionNotFound => "session_not_found",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::VerifierUnavailable => "temporarily_unavailable",
        }
    }

    /// Whether the response carries a `WWW-Authenticate: Bearer` challenge.
    fn has_challenge(self) -> bool {
        matches!(
            self,
            Self::InvalidRequest
                | Self::InvalidToken
                | Self::InsufficientScope
                | Self::InvalidDpopProof
                | Self::UseDpopNonce
                | Self::MissingToken
                | Self::OriginNotAllowed
        )
    }
}

impl AuthError {
    pub(crate) fn new(kind: AuthErrorKind, description: impl Into<Cow<'static, str>>) -> Self {
        let scheme = match kind {
            AuthErrorKind::InvalidDpopProof | AuthErrorKind::UseDpopNonce => Scheme::Dpop,
            _ => Scheme::Bearer,
        };
        Self {
            kind,
            description: description.into(),
            scope: None,
            retry_after: None,
            scheme,
            dpop_nonce: None,
        }
    }

    /// The same error, for a request that authenticated with `scheme`.
    pub(crate) fn with_scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn with_dpop_nonce(mut self, nonce: Arc<str>) -> Self {
        self.dpop_nonce = Some(nonce);
        self
    }

    pub(crate) fn with_scope(mut self, scope: Arc<str>) -> Self {
        self.scope = Some(scope);
        self
    }

    pub(crate) fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// The kind of rejection.
    #[must_use]
    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }

    /// The human-readable reason, also sent as `error_description`.
    #[must_use]
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The space-separated scopes the request needs, for `insufficient_scope`.
    #[must_use]
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The suggested retry delay, for `VerifierUnavailable`.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The scheme whose challenge carries the error: the one the request authenticated with.
    #[must_use]
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.description)
    }
}

impl std::error::Error for AuthError {}

/// Makes the body of rejection responses.
///
/// The status, the `WWW-Authenticate` challenge and the other headers are always set by the
/// layer; this only chooses the body and its content type. The default,
/// [`DefaultOnRejection`], writes `{"error":"…","error_description":"…"}`.
///
/// Closures `Fn(&AuthError) -> (HeaderValue, Bytes)` implement it:
///
/// ```
/// use bytes::Bytes;
/// use http::HeaderValue;
/// use mcp_auth::{McpAuth, challenge::AuthError, testing::StaticVerifier};
///
/// let auth = McpAuth::builder("https://mcp.example.com/mcp")
///     .authorization_server("https://auth.example.com")
///     .verifier(StaticVerifier::new())
///     .on_rejection(|err: &AuthError| {
///         (HeaderValue::from_static("text/plain"), Bytes::from(err.to_string()))
///     })
///     .build()?;
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
pub trait OnRejection: Send + Sync + 'static {
    /// Returns the content type and the body for the rejection `err`.
    fn on_rejection(&self, err: &AuthError) -> (HeaderValue, Bytes);
}

impl<F> OnRejection for F
where
    F: Fn(&AuthError) -> (HeaderValue, Bytes) + Send + Sync + 'static,
{
    fn on_rejection(&self, err: &AuthError) -> (HeaderValue, Bytes) {
        self(err)
    }
}

/// The default rejection body: a small JSON object with `error` and `error_description`
/// (and `scope` for `insufficient_scope`); for a header mismatch, the JSON-RPC error the MCP
/// transport specifies (`{"jsonrpc":"2.0","id":null,"error":{"code":-32020,…}}`).
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct DefaultOnRejection;

impl OnRejection for DefaultOnRejection {
    fn on_rejection(&self, err: &AuthError) -> (HeaderValue, Bytes) {
        if err.kind == AuthErrorKind::HeaderMismatch {
            return json_rpc_error(-32_020, err.description());
        }
        #[derive(serde::Serialize)]
        struct Body<'a> {
            error: &'static str,
            error_description: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            scope: Option<&'a str>,
        }
        let body = Body {
            error: err.kind.error_code(),
            error_description: err.description(),
            scope: err.scope(),
        };
        // Serialising borrowed strings into a `Vec` cannot fail.
        let json = serde_json::to_vec(&body).unwrap_or_default();
        (
            HeaderValue::from_static("application/json"),
            Bytes::from(json),
        )
    }
}

/// A JSON-RPC error response without an `id` (the layer answers before the server reads it).
fn json_rpc_error(code: i64, message: &str) -> (HeaderValue, Bytes) {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    });
    (
        HeaderValue::from_static("application/json"),
        Bytes::from(body.to_string()),
    )
}

/// Builds the rejection responses for one layer configuration.
#[derive(Debug)]
pub(crate) struct Challenger {
    /// `Bearer resource_metadata="…"`, pre-quoted, when Bearer tokens are accepted.
    bearer: Option<String>,
    /// `DPoP algs="…", resource_metadata="…"`, pre-quoted, when DPoP is accepted.
    dpop: Option<String>,
    /// `scope="…"` for the global requirement, pre-quoted, for 401s.
    scope: Option<String>,
    /// The challenges for a request without credentials (and a refused `Origin`), the most
    /// frequent rejection: they carry no error and no description.
    bare: Vec<HeaderValue>,
    default_retry_after: Duration,
    on_rejection: Callback<dyn OnRejection>,
}

/// What [`Challenger::new`] builds from.
pub(crate) struct ChallengeParts<'a> {
    pub(crate) metadata_url: &'a str,
    pub(crate) global_scope: Option<&'a str>,
    /// Whether `Bearer` tokens are accepted (all but DPoP-required configurations).
    pub(crate) bearer: bool,
    /// The accepted DPoP proof algorithms, when DPoP is accepted.
    pub(crate) dpop_algs: Option<&'a str>,
    pub(crate) default_retry_after: Duration,
    pub(crate) on_rejection: Callback<dyn OnRejection>,
}

impl Challenger {
    pub(crate) fn new(parts: ChallengeParts<'_>) -> Self {
        let mut metadata = String::from("resource_metadata=");
        push_quoted(&mut metadata, parts.metadata_url);
        let bearer = parts.bearer.then(|| format!("Bearer {metadata}"));
        let dpop = parts.dpop_algs.map(|algs| {
            let mut out = String::from("DPoP algs=");
            push_quoted(&mut out, algs);
            out.push_str(", ");
            out.push_str(&metadata);
            out
        });
        let scope = parts.global_scope.map(|scope| {
            let mut out = String::from("scope=");
            push_quoted(&mut out, scope);
            out
        });
        let mut challenger = Self {
            bearer,
            dpop,
            scope,
            bare: Vec::new(),
            default_retry_after: parts.default_retry_after,
            on_rejection: parts.on_rejection,
        };
        challenger.bare =
            challenger.build_challenges(&AuthError::new(AuthErrorKind::MissingToken, ""));
        challenger
    }

    /// The `WWW-Authenticate` values for `err`, one per accepted scheme, if its kind has a
    /// challenge.
    pub(crate) fn www_authenticate(&self, err: &AuthError) -> Vec<HeaderValue> {
        match err.kind {
            AuthErrorKind::MissingToken | AuthErrorKind::OriginNotAllowed
                if err.scope.is_none() =>
            {
                self.bare.clone()
            }
            _ => self.build_challenges(err),
        }
    }

    fn build_challenges(&self, err: &AuthError) -> Vec<HeaderValue> {
        if !err.kind.has_challenge() {
            return Vec::new();
        }
        // The error goes on the challenge of the scheme the request used, or on the one
        // accepted scheme.
        let error_on = match (err.scheme, &self.bearer, &self.dpop) {
            (Scheme::Dpop, _, Some(_)) | (Scheme::Bearer, None, Some(_)) => Scheme::Dpop,
            _ => Scheme::Bearer,
        };
        [(Scheme::Bearer, &self.bearer), (Scheme::Dpop, &self.dpop)]
            .into_iter()
            .filter_map(|(scheme, prefix)| {
                let prefix = prefix.as_ref()?;
                self.challenge(prefix, err, scheme == error_on)
            })
            .collect()
    }

    fn challenge(&self, prefix: &str, err: &AuthError, with_error: bool) -> Option<HeaderValue> {
        let mut value = String::with_capacity(prefix.len() + 96);
        value.push_str(prefix);
        match (err.scope(), &self.scope) {
            (Some(scope), _) => {
                value.push_str(", scope=");
                push_quoted(&mut value, scope);
            }
            (None, Some(global)) => {
                value.push_str(", ");
                value.push_str(global);
            }
            (None, None) => {}
        }
        // RFC 6750 §3.1: no error code when the request carried no credentials; a refused
        // `Origin` has no RFC 6750 code either.
        if with_error
            && !matches!(
                err.kind,
                AuthErrorKind::MissingToken | AuthErrorKind::OriginNotAllowed
            )
        {
            value.push_str(", error=\"");
            value.push_str(err.kind.error_code());
            value.push_str("\", error_description=");
            push_description(&mut value, err.description());
        }
        // `push_quoted` leaves only visible ASCII and spaces, which are valid in a header.
        HeaderValue::from_str(&value).ok()
    }

    pub(crate) fn response(&self, err: AuthError) -> Response<Bytes> {
        let (content_type, body) = self.on_rejection.on_rejection(&err);
        let mut res = Response::new(body);
        *res.status_mut() = err.kind.status();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, content_type);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let challenges = self.www_authenticate(&err);
        if !challenges.is_empty() {
            for challenge in challenges {
                headers.append(header::WWW_AUTHENTICATE, challenge);
            }
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(if err.dpop_nonce.is_some() {
                    "WWW-Authenticate, DPoP-Nonce"
                } else {
                    "WWW-Authenticate"
                }),
            );
        }
        if let Some(nonce) = err.dpop_nonce.as_deref()
            && let Ok(nonce) = HeaderValue::from_str(nonce)
        {
            headers.insert(DPOP_NONCE, nonce);
        }
        if err.kind == AuthErrorKind::VerifierUnavailable {
            let retry = err.retry_after.unwrap_or(self.default_retry_after);
            // Whole seconds, at least one: `Retry-After: 0` would invite a hot loop.
            let secs = retry
                .as_secs()
                .saturating_add(u64::from(retry.subsec_nanos() > 0));
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        crate::observe::rejected(&err);
        res.extensions_mut().insert(err);
        res
    }
}

/// The `DPoP-Nonce` response header (RFC 9449 §8).
pub(crate) const DPOP_NONCE: header::HeaderName = header::HeaderName::from_static("dpop-nonce");

/// Appends `value` as an RFC 9110 quoted-string.
///
/// `"` and `\` are escaped; anything that is not visible ASCII, space or tab (control
/// characters, non-ASCII) becomes `?`, so the result is always a valid header value and cannot
/// break out of the parameter.
pub(crate) fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' ' | '\t' | '!'..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
}

/// Appends an `error_description`: RFC 6750 §3 allows `%x20-21 / %x23-5B / %x5D-7E` only, so
/// `"` and `\` become `'` and anything else outside that range becomes `?`.
fn push_description(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => out.push('\''),
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal RFC 9110 quoted-string parser, to check that quoting round-trips.
    fn unquote(s: &str) -> Option<String> {
        let inner = s.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return None,
                c => out.push(c),
            }
        }
        Some(out)
    }

    #[test]
    fn quoting_round_trips_and_stays_a_valid_header() {
        let cases = [
            "plain",
            "",
            "with \"quotes\"",
            "back\\slash",
            "ends with backslash\\",
            "\\\"",
            "tab\tand space",
            "a\", error=\"injected",
        ];
        for case in cases {
            let mut out = String::new();
            push_quoted(&mut out, case);
            assert_eq!(unquote(&out).as_deref(), Some(case), "{case:?}");
            assert!(HeaderValue::from_str(&out).is_ok(), "{case:?}");
        }
    }

    #[test]
    fn quoting_replaces_what_a_header_cannot_carry() {
        for case in ["new\r\nline", "nul\0", "non-ascii é", "del\x7f"] {
            let mut out = String::new();
            push_quoted(&mut out, case);
            assert!(HeaderValue::from_str(&out).is_ok(), "{case:?}");
            assert!(out.is_ascii(), "{case:?}");
            assert!(!out.contains(['\r', '\n', '\0', '\x7f']), "{case:?}");
            assert!(unquote(&out).is_some(), "{case:?}");
        }
    }

    #[test]
    fn every_byte_quotes_to_a_valid_header() {
        for b in 0..=u8::MAX {
            let s = String::from_utf8_lossy(&[b, b'"', b]).into_owned();
            let mut out = String::new();
            push_quoted(&mut out, &s);
            assert!(HeaderValue::from_str(&out).is_ok(), "byte {b}");
            assert!(unquote(&out).is_some(), "byte {b}");
        }
    }

    #[test]
    fn error_description_stays_in_the_rfc_6750_charset() {
        let mut out = String::new();
        push_description(&mut out, "a \"quoted\" \\ value\nnext é");
        assert_eq!(out, "\"a 'quoted' ' value?next ?\"");
        let inner = &out[1..out.len() - 1];
        assert!(
            inner
                .bytes()
                .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        );
    }

    #[test]
    fn challenge_parameters() {
        let challenger = Challenger::new(ChallengeParts {
            metadata_url: "https://h.example/.well-known/oauth-protected-resource/mcp",
            global_scope: Some("mcp:read"),
            bearer: true,
            dpop_algs: None,
            default_retry_after: Duration::from_secs(5),
            on_rejection: Callback::new(Arc::new(DefaultOnRejection)),
        });
        let missing = AuthError::new(AuthErrorKind::MissingToken, "no token");
        assert_eq!(
            challenger.www_authenticate(&missing),
            [
                "Bearer resource_metadata=\"https://h.example/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\""
            ]
        );
        let scope = AuthError::new(AuthErrorKind::InsufficientScope, "needs more")
            .with_scope(Arc::from("mcp:read files:write"));
        assert_eq!(
            challenger.www_authenticate(&scope),
            [
                "Bearer resource_metadata=\"https://h.example/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read files:write\", error=\"insufficient_scope\", error_description=\"needs more\""
            ]
        );
        let unavailable = AuthError::new(AuthErrorKind::VerifierUnavailable, "down");
        assert!(challenger.www_authenticate(&unavailable).is_empty());
        let res = challenger.response(unavailable.with_retry_after(Duration::from_millis(1500)));
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn retry_after_of_the_longest_delay_does_not_overflow() {
        // Found by the `challenge` fuzz target: `u64::MAX` seconds and a fraction overflowed
        // the rounding up (a panic with overflow checks, `Retry-After: 1` without).
        let challenger = |default: Duration| {
            Challenger::new(ChallengeParts {
                metadata_url: "https://h.example/prm",
                global_scope: None,
                bearer: true,
                dpop_algs: None,
                default_retry_after: default,
                on_rejection: Callback::new(Arc::new(DefaultOnRejection)),
            })
        };
        let down = || AuthError::new(AuthErrorKind::VerifierUnavailable, "down");
        let longest = u64::MAX.to_string();
        let res = challenger(Duration::MAX).response(down());
        assert_eq!(res.headers()[header::RETRY_AFTER], longest.as_str());
        let suggested = down().with_retry_after(Duration::new(u64::MAX, 1));
        let res = challenger(Duration::from_secs(5)).response(suggested);
        assert_eq!(res.headers()[header::RETRY_AFTER], longest.as_str());
        // Control: a fraction still rounds up below the limit.
        let suggested = down().with_retry_after(Duration::new(u64::MAX - 1, 1));
        let res = challenger(Duration::from_secs(5)).response(suggested);
        assert_eq!(res.headers()[header::RETRY_AFTER], longest.as_str());
    }

    #[test]
    fn dpop_challenges_carry_algs_and_the_error_of_the_scheme_used() {
        let parts = |bearer: bool| ChallengeParts {
            metadata_url: "https://h.example/prm",
            global_scope: None,
            bearer,
            dpop_algs: Some("ES256 EdDSA"),
            default_retry_after: Duration::from_secs(5),
            on_rejection: Callback::new(Arc::new(DefaultOnRejection)),
        };
        let both = Challenger::new(parts(true));
        let missing = AuthError::new(AuthErrorKind::MissingToken, "");
        assert_eq!(
            both.www_authenticate(&missing),
            [
                "Bearer resource_metadata=\"https://h.example/prm\"",
                "DPoP algs=\"ES256 EdDSA\", resource_metadata=\"https://h.example/prm\"",
            ]
        );
        let bearer_bad = AuthError::new(AuthErrorKind::InvalidToken, "bad");
        assert_eq!(
            both.www_authenticate(&bearer_bad),
            [
                "Bearer resource_metadata=\"https://h.example/prm\", error=\"invalid_token\", error_description=\"bad\"",
                "DPoP algs=\"ES256 EdDSA\", resource_metadata=\"https://h.example/prm\"",
            ]
        );
        let proof = AuthError::new(AuthErrorKind::InvalidDpopProof, "replayed");
        assert_eq!(
            both.www_authenticate(&proof)[1],
            "DPoP algs=\"ES256 EdDSA\", resource_metadata=\"https://h.example/prm\", error=\"invalid_dpop_proof\", error_description=\"replayed\""
        );
        // DPoP required: one challenge, which carries every error.
        let required = Challenger::new(parts(false));
        assert_eq!(
            required.www_authenticate(&bearer_bad),
            [
                "DPoP algs=\"ES256 EdDSA\", resource_metadata=\"https://h.example/prm\", error=\"invalid_token\", error_description=\"bad\""
            ]
        );
        let nonce = AuthError::new(AuthErrorKind::UseDpopNonce, "nonce needed")
            .with_dpop_nonce(Arc::from("n-1"));
        let res = required.response(nonce);
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()["dpop-nonce"], "n-1");
        assert!(
            res.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("error=\"use_dpop_nonce\"")
        );
    }
}
