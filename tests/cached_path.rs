//! The layer's path for a token the verifier answers without waiting
//! (`TokenVerifier::verify_now`, by default `verify_cached`): such a request is decided in
//! `call`, without `verify`; every check still applies to it, and whatever that path does not
//! decide goes on to the full path with the verifier's answer, not a second verification.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use mcp_auth::{
    AuthInfo, McpAuth, TokenVerifier,
    dpop::Dpop,
    verifier::{VerifierChain, VerifyError},
};
use tower::{Layer, ServiceExt};

mod layer_support;

use layer_support::RESOURCE;
/// The thumbprint of the client certificate `certificate-bound` is bound to.
const CERTIFICATE: &str = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2";
const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

/// What a fake verifier below knows, and how often each of its two ways was asked: `verify`,
/// and the one that answers without waiting.
#[derive(Debug, Default)]
struct Fake {
    known: HashMap<&'static str, AuthInfo>,
    /// Tokens with this prefix are not this verifier's to judge.
    foreign_prefix: Option<&'static str>,
    verify_calls: AtomicUsize,
    fast_calls: AtomicUsize,
}

impl Fake {
    fn knowing(tokens: impl IntoIterator<Item = (&'static str, AuthInfo)>) -> Self {
        Self {
            known: tokens.into_iter().collect(),
            ..Self::default()
        }
    }

    /// `(verify, verify_cached or verify_now)` calls so far.
    fn calls(&self) -> (usize, usize) {
        (
            self.verify_calls.load(Ordering::SeqCst),
            self.fast_calls.load(Ordering::SeqCst),
        )
    }
}

/// A verifier that knows a few tokens, and remembers the ones `verify` accepted: those it
/// answers from `verify_cached`.
#[derive(Debug)]
struct Remembering {
    fake: Fake,
    remembered: Mutex<HashMap<String, AuthInfo>>,
}

impl Remembering {
    fn with(tokens: impl IntoIterator<Item = (&'static str, AuthInfo)>) -> Arc<Self> {
        Arc::new(Self {
            fake: Fake::knowing(tokens),
            remembered: Mutex::default(),
        })
    }
}

impl std::ops::Deref for Remembering {
    type Target = Fake;

    fn deref(&self) -> &Fake {
        &self.fake
    }
}

#[async_trait]
impl TokenVerifier for Remembering {
    async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        self.verify_calls.fetch_add(1, Ordering::SeqCst);
        let info = self
            .known
            .get(token)
            .cloned()
            .ok_or_else(|| VerifyError::invalid_token("unknown token"))?;
        self.remembered
            .lock()
            .unwrap()
            .insert(token.to_owned(), info.clone());
        Ok(info)
    }

    fn verify_cached(&self, token: &str) -> Option<AuthInfo> {
        self.fast_calls.fetch_add(1, Ordering::SeqCst);
        self.remembered.lock().unwrap().get(token).cloned()
    }
}

fn info(subject: &str, scopes: &[&str]) -> AuthInfo {
    AuthInfo::builder()
        .subject(subject)
        .issuer("https://as.example")
        .audience(RESOURCE)
        .scopes(scopes.iter().copied())
        .expires_at(SystemTime::now() + Duration::from_secs(3600))
        .build()
}

fn layer(verifier: &Arc<Remembering>) -> mcp_auth::McpAuthBuilder {
    McpAuth::builder(RESOURCE)
        .authorization_server("https://as.example")
        .verifier(Arc::clone(verifier))
}

/// What a request sends besides its token.
#[derive(Clone, Copy, Default)]
struct Extra {
    body: Option<&'static str>,
    content_type: Option<&'static str>,
    session: Option<&'static str>,
    /// The client certificate's thumbprint, as a proxy in front would pass it.
    certificate: Option<&'static str>,
}

/// The response of `auth` around an inner service that answers with the subject of the
/// `AuthInfo` it got (and checks that no token reached it); the inner service's calls are
/// counted in `inner`.
async fn call(
    auth: &McpAuth,
    token: &str,
    extra: Extra,
    inner: &Arc<AtomicUsize>,
) -> Response<Bytes> {
    let service = layer_support::inner_service(Arc::clone(inner));
    let mut req = Request::post(RESOURCE)
        .header(
            header::CONTENT_TYPE,
            extra.content_type.unwrap_or("application/json"),
        )
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(session) = extra.session {
        req = req.header("mcp-session-id", session);
    }
    if let Some(thumbprint) = extra.certificate {
        req = req.header("x-client-cert-sha256", thumbprint);
    }
    let body = extra.body.unwrap_or(LIST);
    let req = req
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let res = auth.layer(service).oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let mut res = Response::from_parts(parts, body.collect().await.unwrap().to_bytes());
    // The subject the inner service saw, as the body, for the assertions.
    if let Some(subject) = res.headers().get("x-subject") {
        *res.body_mut() = Bytes::copy_from_slice(subject.as_bytes());
    }
    res
}

fn challenge(res: &Response<Bytes>) -> String {
    res.headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_token_passed_before_is_answered_without_verify() {
    let verifier = Remembering::with([("alice-token", info("alice", &["mcp:read"]))]);
    let auth = layer(&verifier)
        .required_scopes(["mcp:read"])
        .build()
        .unwrap();
    let inner = Arc::new(AtomicUsize::new(0));

    // First sight: not cached, so `verify` decides, and this layer checks audience and scopes.
    let res = call(&auth, "alice-token", Extra::default(), &inner).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "alice");
    assert_eq!(verifier.calls(), (1, 1));

    // Seen again: answered from `verify_cached`, `verify` is not called, and the inner
    // service gets the same `AuthInfo`, without the token.
    for round in 2..=4 {
        let res = call(&auth, "alice-token", Extra::default(), &inner).await;
        assert_eq!(res.status(), StatusCode::OK, "round {round}");
        assert_eq!(res.body(), "alice");
        assert_eq!(verifier.calls(), (1, round));
    }
    assert_eq!(inner.load(Ordering::SeqCst), 4);

    // Control: another token is not answered from the cache.
    let res = call(&auth, "unknown", Extra::default(), &inner).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&res).contains(r#"error="invalid_token""#),
        "{}",
        challenge(&res)
    );
    assert_eq!(verifier.calls(), (2, 5));
    assert_eq!(inner.load(Ordering::SeqCst), 4);
}

/// A token the verifier holds as accepted is refused, on every request, wherever the full
/// path refuses it; and it is never verified twice for one request.
#[tokio::test]
async fn every_check_still_applies_to_a_cached_token() {
    let other_audience = AuthInfo::builder()
        .subject("mallory")
        .audience("https://other.example/mcp")
        .scopes(["mcp:read"])
        .build();
    let bound = AuthInfo::builder()
        .subject("bob")
        .audience(RESOURCE)
        .scopes(["mcp:read"])
        .key_thumbprint("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
        .build();
    let certificate_bound = AuthInfo::builder()
        .subject("dave")
        .audience(RESOURCE)
        .scopes(["mcp:read"])
        .certificate_thumbprint(CERTIFICATE)
        .build();
    let verifier = Remembering::with([
        ("reader", info("alice", &["mcp:read"])),
        ("writer", info("carol", &["mcp:read", "notes:write"])),
        ("elsewhere", other_audience),
        ("bound", bound),
        ("certificate-bound", certificate_bound),
    ]);
    // The tokens are all in the verifier's cache before any request below.
    for token in [
        "reader",
        "writer",
        "elsewhere",
        "bound",
        "certificate-bound",
    ] {
        verifier.verify(token).await.unwrap();
    }
    let verified = verifier.calls().0;
    // A proxy in front passes the client certificate's thumbprint; the callback counts
    // its calls.
    let certificate_checks = Arc::new(AtomicUsize::new(0));
    let checks = Arc::clone(&certificate_checks);
    let reads = layer(&verifier)
        .required_scopes(["mcp:read"])
        .certificate_binding(move |headers: &http::HeaderMap, _: &http::Extensions| {
            checks.fetch_add(1, Ordering::SeqCst);
            headers
                .get("x-client-cert-sha256")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .build()
        .unwrap();
    let writes = layer(&verifier)
        .required_scopes(["mcp:read", "notes:write"])
        .build()
        .unwrap();
    let per_tool = layer(&verifier)
        .required_scopes(["mcp:read"])
        .tool_scopes("add_note", ["notes:write"])
        .build()
        .unwrap();
    let dpop_only = layer(&verifier).dpop(Dpop::required()).build().unwrap();
    let inner = Arc::new(AtomicUsize::new(0));
    let add_note = Extra {
        body: Some(
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add_note","arguments":{}}}"#,
        ),
        ..Extra::default()
    };

    struct Case {
        name: &'static str,
        auth: &'static str,
        token: &'static str,
        extra: Extra,
        status: StatusCode,
        /// Text the challenge (or, for a `404` or `415`, nothing) must contain.
        challenge: &'static str,
    }
    let cases = [
        Case {
            name: "another resource's token",
            auth: "reads",
            token: "elsewhere",
            extra: Extra::default(),
            status: StatusCode::UNAUTHORIZED,
            challenge: r#"error="invalid_token""#,
        },
        Case {
            name: "a scope the layer requires is missing",
            auth: "writes",
            token: "reader",
            extra: Extra::default(),
            status: StatusCode::FORBIDDEN,
            challenge: r#"scope="mcp:read notes:write""#,
        },
        Case {
            name: "a key-bound token sent as a bearer token",
            auth: "reads",
            token: "bound",
            extra: Extra::default(),
            status: StatusCode::UNAUTHORIZED,
            challenge: r#"error="invalid_token""#,
        },
        Case {
            name: "a certificate-bound token from a connection without the certificate",
            auth: "reads",
            token: "certificate-bound",
            extra: Extra::default(),
            status: StatusCode::UNAUTHORIZED,
            challenge: r#"error="invalid_token""#,
        },
        Case {
            name: "a certificate-bound token with another certificate",
            auth: "reads",
            token: "certificate-bound",
            extra: Extra {
                certificate: Some("another-certificate"),
                ..Extra::default()
            },
            status: StatusCode::UNAUTHORIZED,
            challenge: r#"error="invalid_token""#,
        },
        Case {
            name: "a bearer token where DPoP is required",
            auth: "dpop_only",
            token: "reader",
            extra: Extra::default(),
            status: StatusCode::UNAUTHORIZED,
            challenge: "DPoP",
        },
        Case {
            name: "a tool call needing a scope the token lacks",
            auth: "per_tool",
            token: "reader",
            extra: add_note,
            status: StatusCode::FORBIDDEN,
            challenge: r#"scope="mcp:read notes:write""#,
        },
        Case {
            name: "a body that is not JSON where tools are scoped",
            auth: "per_tool",
            token: "reader",
            extra: Extra {
                content_type: Some("text/plain"),
                ..Extra::default()
            },
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            challenge: "",
        },
        Case {
            name: "a session the layer never bound",
            auth: "reads",
            token: "reader",
            extra: Extra {
                session: Some("no-such-session"),
                ..Extra::default()
            },
            status: StatusCode::NOT_FOUND,
            challenge: "",
        },
    ];
    let auth = |name: &str| match name {
        "reads" => &reads,
        "writes" => &writes,
        "per_tool" => &per_tool,
        _ => &dpop_only,
    };
    // Each token passes `reads` (or is refused by it) first, so that this layer's mark is on
    // the ones it accepts: the refusals below are of tokens this layer, or another, passed.
    let with_certificate = Extra {
        certificate: Some(CERTIFICATE),
        ..Extra::default()
    };
    for (token, extra) in [
        ("reader", Extra::default()),
        ("writer", Extra::default()),
        ("certificate-bound", with_certificate),
    ] {
        assert_eq!(
            call(&reads, token, extra, &inner).await.status(),
            StatusCode::OK,
            "{token}"
        );
    }
    for case in &cases {
        for round in 1..=2 {
            let before = inner.load(Ordering::SeqCst);
            let res = call(auth(case.auth), case.token, case.extra, &inner).await;
            assert_eq!(res.status(), case.status, "{} (request {round})", case.name);
            assert!(
                challenge(&res).contains(case.challenge),
                "{}: {}",
                case.name,
                challenge(&res)
            );
            assert_eq!(
                inner.load(Ordering::SeqCst),
                before,
                "{}: not passed on",
                case.name
            );
        }
    }
    assert_eq!(verifier.calls().0, verified, "no token was verified again");

    // Controls: the same layers pass the requests the cases changed.
    let controls = [
        (&writes, "writer", Extra::default(), "carol"),
        (&per_tool, "writer", add_note, "carol"),
        (&per_tool, "reader", Extra::default(), "alice"),
        (&reads, "reader", Extra::default(), "alice"),
        (&reads, "certificate-bound", with_certificate, "dave"),
    ];
    let checks_before = certificate_checks.load(Ordering::SeqCst);
    for (auth, token, extra, subject) in controls {
        for _ in 0..2 {
            let res = call(auth, token, extra, &inner).await;
            assert_eq!(res.status(), StatusCode::OK, "{token}");
            assert_eq!(res.body(), subject);
        }
    }
    assert_eq!(
        verifier.calls().0,
        verified,
        "every control was a cached answer"
    );
    assert_eq!(
        certificate_checks.load(Ordering::SeqCst) - checks_before,
        2,
        "the certificate asked for once a request with a certificate-bound token"
    );
}

/// A chain answers from its first verifier's cache only: a token the first verifier does not
/// hold goes through `verify`, which asks the verifiers in order.
#[tokio::test]
async fn a_chain_answers_from_its_first_verifiers_cache() {
    let first = Remembering::with([("first-token", info("alice", &["mcp:read"]))]);
    let second = Remembering::with([("second-token", info("bob", &["mcp:read"]))]);
    first.verify("first-token").await.unwrap();
    second.verify("second-token").await.unwrap();
    let chain = VerifierChain::new()
        .with_shared_verifier(Arc::clone(&first) as Arc<dyn TokenVerifier>)
        .with_shared_verifier(Arc::clone(&second) as Arc<dyn TokenVerifier>);
    assert_eq!(
        chain
            .verify_cached("first-token")
            .as_ref()
            .and_then(AuthInfo::subject),
        Some("alice")
    );
    // The first verifier refuses it (not foreign): `verify` would not reach the second.
    assert!(chain.verify_cached("second-token").is_none());
    assert!(
        chain
            .verify("second-token")
            .await
            .unwrap_err()
            .is_invalid_token()
    );
}

/// A verifier that decides some tokens without waiting (`verify_now`), and leaves the others
/// (`wait-*`) to `verify`.
#[derive(Debug, Default)]
struct Deciding(Fake);

impl Deciding {
    fn with(tokens: impl IntoIterator<Item = (&'static str, AuthInfo)>) -> Arc<Self> {
        Arc::new(Self(Fake::knowing(tokens)))
    }

    fn answer(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        match token {
            "revoked" => Err(VerifyError::invalid_token("token was revoked")),
            "down" => Err(VerifyError::unavailable("keys cannot be fetched")
                .with_retry_after(Duration::from_secs(7))),
            "opaque" => Err(VerifyError::foreign_token("token is not a JWT")),
            _ if self
                .foreign_prefix
                .is_some_and(|prefix| token.starts_with(prefix)) =>
            {
                Err(VerifyError::foreign_token("token issuer is not trusted"))
            }
            _ => {
                let known = token.strip_prefix("wait-").unwrap_or(token);
                self.known
                    .get(known)
                    .cloned()
                    .ok_or_else(|| VerifyError::invalid_token("unknown token"))
            }
        }
    }
}

impl std::ops::Deref for Deciding {
    type Target = Fake;

    fn deref(&self) -> &Fake {
        &self.0
    }
}

#[async_trait]
impl TokenVerifier for Deciding {
    async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        self.verify_calls.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        self.answer(token)
    }

    fn verify_now(&self, token: &str) -> Option<Result<AuthInfo, VerifyError>> {
        self.fast_calls.fetch_add(1, Ordering::SeqCst);
        (!token.starts_with("wait-")).then(|| self.answer(token))
    }
}

/// A token the verifier decides without waiting, new to it or not, is decided in `call`:
/// `verify` is never called, acceptance or refusal, and every check of the layer applies
/// (audience and global scopes included, which the layer checks there once for each token).
#[tokio::test]
async fn a_token_the_verifier_decides_at_once_never_reaches_verify() {
    let other_audience = AuthInfo::builder()
        .subject("mallory")
        .audience("https://other.example/mcp")
        .scopes(["mcp:read"])
        .build();
    let verifier = Deciding::with([
        ("reader", info("alice", &["mcp:read"])),
        ("writer", info("carol", &["mcp:read", "notes:write"])),
        ("elsewhere", other_audience),
    ]);
    let layer = |scopes: &[&str]| {
        McpAuth::builder(RESOURCE)
            .authorization_server("https://as.example")
            .verifier(Arc::clone(&verifier))
            .required_scopes(scopes.iter().copied())
            .build()
            .unwrap()
    };
    let reads = layer(&["mcp:read"]);
    let writes = layer(&["mcp:read", "notes:write"]);
    let inner = Arc::new(AtomicUsize::new(0));

    // A new token, accepted at once: passed on, twice (the second time with this layer's
    // mark on it).
    for round in 1..=2 {
        let res = call(&reads, "reader", Extra::default(), &inner).await;
        assert_eq!(res.status(), StatusCode::OK, "round {round}");
        assert_eq!(res.body(), "alice");
    }
    assert_eq!(verifier.calls(), (0, 2));
    assert_eq!(inner.load(Ordering::SeqCst), 2);

    // Refusals, each on every request: the verifier's, and the layer's own.
    let refusals: [(&McpAuth, &str, StatusCode, &[&str]); 6] = [
        (
            &reads,
            "revoked",
            StatusCode::UNAUTHORIZED,
            &[
                r#"error="invalid_token""#,
                r#"error_description="token was revoked""#,
            ],
        ),
        (
            &reads,
            "opaque",
            StatusCode::UNAUTHORIZED,
            &[r#"error="invalid_token""#],
        ),
        (
            &reads,
            "unknown",
            StatusCode::UNAUTHORIZED,
            &[r#"error_description="unknown token""#],
        ),
        (
            &reads,
            "elsewhere",
            StatusCode::UNAUTHORIZED,
            &[r#"error="invalid_token""#, "audience"],
        ),
        (
            &writes,
            "reader",
            StatusCode::FORBIDDEN,
            &[
                r#"error="insufficient_scope""#,
                r#"scope="mcp:read notes:write""#,
            ],
        ),
        (&reads, "down", StatusCode::SERVICE_UNAVAILABLE, &[]),
    ];
    for (auth, token, status, parts) in refusals {
        for round in 1..=2 {
            let res = call(auth, token, Extra::default(), &inner).await;
            assert_eq!(res.status(), status, "{token} (request {round})");
            for part in parts {
                assert!(
                    challenge(&res).contains(part),
                    "{token}: {}",
                    challenge(&res)
                );
            }
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(res.headers()[header::RETRY_AFTER], "7", "{token}");
                assert!(!res.headers().contains_key(header::WWW_AUTHENTICATE));
            }
        }
    }
    assert_eq!(verifier.calls(), (0, 14), "every answer was given at once");
    assert_eq!(inner.load(Ordering::SeqCst), 2, "no refusal passed on");

    // Controls: the same layers pass what they refused above, given the right token.
    for (auth, token, subject) in [(&writes, "writer", "carol"), (&reads, "writer", "carol")] {
        let res = call(auth, token, Extra::default(), &inner).await;
        assert_eq!(res.status(), StatusCode::OK, "{token}");
        assert_eq!(res.body(), subject);
    }
    assert_eq!(verifier.calls(), (0, 16));

    // A token the verifier cannot decide at once goes to `verify`, once a request.
    for round in 1..=2 {
        let res = call(&reads, "wait-reader", Extra::default(), &inner).await;
        assert_eq!(res.status(), StatusCode::OK, "round {round}");
        assert_eq!(res.body(), "alice");
        assert_eq!(verifier.calls(), (round, 16 + round));
    }
    let res = call(&reads, "wait-elsewhere", Extra::default(), &inner).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(verifier.calls(), (3, 19));
}

/// A chain answers without waiting when every verifier it asks does: those before the owner
/// call the token foreign, and the owner decides. One that cannot tell leaves the whole
/// answer to `verify`.
#[tokio::test]
async fn a_chain_answers_at_once_when_its_verifiers_do() {
    let first = Deciding::with([("first-token", info("alice", &["mcp:read"]))]);
    let second = Deciding::with([("second-token", info("bob", &["mcp:read"]))]);
    let chain = VerifierChain::new()
        .with_shared_verifier(Arc::clone(&first) as Arc<dyn TokenVerifier>)
        .with_shared_verifier(Arc::clone(&second) as Arc<dyn TokenVerifier>);
    let subject = |answer: Option<Result<AuthInfo, VerifyError>>| {
        answer
            .expect("decided at once")
            .ok()
            .and_then(|info| info.subject().map(str::to_owned))
    };

    assert_eq!(
        subject(chain.verify_now("first-token")),
        Some("alice".into())
    );
    assert_eq!((first.calls().1, second.calls().1), (1, 0));
    // The first verifier refuses it (it is not foreign to it): the second is not asked.
    let refused = chain.verify_now("second-token").expect("decided at once");
    assert!(refused.unwrap_err().is_invalid_token());
    assert_eq!((first.calls().1, second.calls().1), (2, 0));
    // Foreign to both: the chain's answer is foreign, from the last.
    let foreign = chain.verify_now("opaque").expect("decided at once");
    assert!(foreign.unwrap_err().is_foreign_token());
    assert_eq!((first.calls().1, second.calls().1), (3, 1));
    // The first cannot tell now: neither can the chain, and the second is not asked.
    assert!(chain.verify_now("wait-first-token").is_none());
    assert_eq!((first.calls().1, second.calls().1), (4, 1));
    assert_eq!((first.calls().0, second.calls().0), (0, 0));
    // Nothing in the chain: foreign.
    let empty = VerifierChain::new().verify_now("first-token");
    assert!(
        empty
            .expect("decided at once")
            .unwrap_err()
            .is_foreign_token()
    );

    // A foreign answer passes the token on at once, to the verifier that owns it.
    let first = Arc::new(Deciding(Fake {
        foreign_prefix: Some("second-"),
        ..Fake::default()
    }));
    let routed = VerifierChain::new()
        .with_shared_verifier(Arc::clone(&first) as Arc<dyn TokenVerifier>)
        .with_shared_verifier(Arc::clone(&second) as Arc<dyn TokenVerifier>);
    assert_eq!(
        subject(routed.verify_now("second-token")),
        Some("bob".into())
    );
    assert_eq!((first.calls().1, second.calls().1), (1, 2));
    // Control: the same chain, through `verify`.
    let verified = routed.verify("second-token").await.unwrap();
    assert_eq!(verified.subject(), Some("bob"));
    assert_eq!((first.calls().0, second.calls().0), (1, 1));
}

/// A verifier that implements only `verify_cached` answers `verify_now` with it: its cached
/// acceptances, and `None` for everything else.
#[tokio::test]
async fn verify_now_defaults_to_the_cached_acceptance() {
    let verifier = Remembering::with([("alice-token", info("alice", &["mcp:read"]))]);
    assert!(verifier.verify_now("alice-token").is_none());
    verifier.verify("alice-token").await.unwrap();
    let now = verifier.verify_now("alice-token").expect("cached");
    assert_eq!(now.unwrap().subject(), Some("alice"));
    assert!(
        verifier.verify_now("unknown").is_none(),
        "a refusal is not cached"
    );
    assert_eq!(verifier.calls(), (1, 3));
}
