//! Property tests (proptest) of the layer's invariants, through its real `Service`, against
//! independent oracles (`tests/oracles`):
//!
//! - the inner service runs only after a successful verification, audience and scope check,
//!   exactly when the oracle's decision says so;
//! - the inner service gets the request body byte for byte (and its trailers), whatever the
//!   chunking, whether the layer reads the body or not;
//! - every `WWW-Authenticate` value the layer writes parses back (RFC 9110) into the
//!   parameters meant;
//! - a token is accepted for a resource exactly when its audience is an RFC 3986-equivalent
//!   spelling of the resource URI.
//!
//! Each property runs 256 cases by default; `PROPTEST_CASES` changes that.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod oracles;

use std::{
    cell::Cell,
    collections::{BTreeMap, VecDeque},
    convert::Infallible,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use mcp_auth::{
    AuthInfo, McpAuth, McpAuthBuilder, VerifyError, body::RequestBody, challenge::AuthError,
    dpop::Dpop, policy::ScopeHierarchy, testing::FnVerifier, verifier::jwt::Algorithm,
};
use oracles::{challenge, rfc3986};
use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use serde_json::json;
use tower::{Layer, ServiceExt, service_fn};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const ALIAS: &str = "api://mcp";

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// What the inner service saw of one request.
#[derive(Debug)]
struct Seen {
    body: Bytes,
    trailers: Option<HeaderMap>,
    info: Option<AuthInfo>,
    authorization: bool,
    /// How many verifications had finished when the inner service ran.
    verified_before: usize,
}

/// An inner service that records what it saw, and answers `200`.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    verified: Arc<AtomicUsize>,
}

impl Recorder {
    fn calls(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    async fn send<B>(&self, auth: &McpAuth, req: Request<B>) -> Response<Bytes>
    where
        B: Body<Data = Bytes, Error = Infallible> + Send + 'static,
    {
        let recorder = self.clone();
        let inner = service_fn(move |req: Request<RequestBody<B>>| {
            let recorder = recorder.clone();
            async move {
                let verified_before = recorder.verified.load(Ordering::SeqCst);
                let authorization = req.headers().contains_key(header::AUTHORIZATION);
                let info = req.extensions().get::<AuthInfo>().cloned();
                let collected = req.into_body().collect().await.unwrap();
                let trailers = collected.trailers().cloned();
                recorder.seen.lock().unwrap().push(Seen {
                    body: collected.to_bytes(),
                    trailers,
                    info,
                    authorization,
                    verified_before,
                });
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
            }
        });
        let res = auth.layer(inner).oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
    }
}

/// A verifier that answers from `answers` by token, counting finished verifications.
fn verifier(
    answers: Vec<(&'static str, Result<AuthInfo, VerifyError>)>,
    verified: Arc<AtomicUsize>,
) -> FnVerifier<impl Fn(&str) -> Result<AuthInfo, VerifyError> + Send + Sync + 'static> {
    FnVerifier::new(move |token: &str| {
        verified.fetch_add(1, Ordering::SeqCst);
        answers
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, answer)| answer.clone())
            .unwrap_or_else(|| Err(VerifyError::invalid_token("unknown token")))
    })
}

fn builder(resource: &str) -> McpAuthBuilder {
    McpAuth::builder(resource).authorization_server("https://auth.example.com")
}

fn tools_call(tool: &str) -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}})
}

/// `items` without repeats, in first-seen order.
fn dedup<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// (a) The inner service runs exactly when verification, audience and scopes allow it.

const SCOPES: [&str; 10] = [
    "mcp",
    "mcp:read",
    "mcp:write",
    "admin",
    "files",
    "files:read",
    "files:read:own",
    // A URI scope, whose colons are not levels, and what would be its parents.
    "https",
    "https://api.example.com",
    "https://api.example.com:8443/read",
];
const TOOLS: [&str; 3] = ["delete_file", "read_file", "echo"];
const AUDIENCES: [&str; 9] = [
    RESOURCE,
    "HTTPS://MCP.example.COM:443/mcp",
    "https://mcp.example.com/./mcp",
    "https://mcp.example.com/mcp/",
    "https://mcp.example.com/MCP",
    "https://other.example.com/mcp",
    "https://mcp.example.com",
    ALIAS,
    "API://mcp",
];

/// The hierarchy of every decision case: `admin` ⊇ `mcp:write` ⊇ `mcp:read`, and the colon
/// prefix rule.
fn hierarchy() -> ScopeHierarchy {
    ScopeHierarchy::new()
        .implies("admin", ["mcp:write"])
        .implies("mcp:write", ["mcp:read"])
        .with_prefix_rule()
}

/// Whether a grant of `granted` satisfies a requirement for `required`, under [`hierarchy`].
fn covers(granted: &str, required: &str) -> bool {
    let implied: &[&str] = match granted {
        "admin" => &["mcp:write"],
        "mcp:write" => &["mcp:read"],
        _ => &[],
    };
    granted == required
        || (!required.contains('/') && required.starts_with(&format!("{granted}:")))
        || implied.iter().any(|narrower| covers(narrower, required))
}

#[derive(Clone, Debug)]
enum Token {
    None,
    Malformed,
    Invalid,
    Unavailable,
    Valid {
        audiences: Vec<&'static str>,
        scopes: Vec<&'static str>,
    },
}

#[derive(Clone, Debug)]
struct Decision {
    token: Token,
    exclusive: bool,
    required: Vec<&'static str>,
    tool_rules: Vec<(&'static str, Vec<&'static str>)>,
    method_rule: Option<Vec<&'static str>>,
    /// Tools called (`None`: `tools/list`); more than one is a batch.
    calls: Vec<Option<&'static str>>,
}

fn pick<T: Clone + std::fmt::Debug + 'static>(pool: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(pool)
}

fn decision() -> impl Strategy<Value = Decision> {
    let scopes = || proptest::collection::vec(pick(&SCOPES), 0..3);
    let token = prop_oneof![
        1 => Just(Token::None),
        1 => Just(Token::Malformed),
        1 => Just(Token::Invalid),
        1 => Just(Token::Unavailable),
        8 => (proptest::collection::vec(pick(&AUDIENCES), 0..3), scopes())
            .prop_map(|(audiences, scopes)| Token::Valid { audiences, scopes }),
    ];
    (
        token,
        any::<bool>(),
        scopes(),
        proptest::collection::vec(
            (pick(&TOOLS), proptest::collection::vec(pick(&SCOPES), 1..3)),
            0..3,
        ),
        proptest::option::of(proptest::collection::vec(pick(&SCOPES), 1..3)),
        proptest::collection::vec(proptest::option::of(pick(&TOOLS)), 1..3),
    )
        .prop_map(
            |(token, exclusive, required, tool_rules, method_rule, calls)| Decision {
                token,
                exclusive,
                required,
                tool_rules,
                method_rule,
                calls,
            },
        )
}

/// The oracle: the status the request must get (`200`: the inner service runs).
fn decide(case: &Decision) -> StatusCode {
    let (audiences, scopes) = match &case.token {
        Token::None => return StatusCode::UNAUTHORIZED,
        Token::Malformed => return StatusCode::BAD_REQUEST,
        Token::Invalid => return StatusCode::UNAUTHORIZED,
        Token::Unavailable => return StatusCode::SERVICE_UNAVAILABLE,
        Token::Valid { audiences, scopes } => (audiences, scopes),
    };
    let ours = |aud: &&str| rfc3986::equivalent(aud, RESOURCE) || *aud == ALIAS;
    let meant = if case.exclusive {
        !audiences.is_empty() && audiences.iter().all(ours)
    } else {
        audiences.iter().any(ours)
    };
    if !meant {
        return StatusCode::UNAUTHORIZED;
    }
    let mut needed: Vec<&str> = case.required.clone();
    let rules = !case.tool_rules.is_empty() || case.method_rule.is_some();
    if rules {
        for call in &case.calls {
            if call.is_some()
                && let Some(method) = &case.method_rule
            {
                needed.extend(method);
            }
            for (tool, tool_scopes) in &case.tool_rules {
                if *call == Some(*tool) {
                    needed.extend(tool_scopes);
                }
            }
        }
    }
    let satisfied = needed
        .iter()
        .all(|required| scopes.iter().any(|granted| covers(granted, required)));
    if satisfied {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    }
}

#[test]
fn inner_service_runs_only_after_verification_audience_and_scopes() {
    let rt = runtime();
    let passed = [Cell::new(0_usize), Cell::new(0)];
    runner()
        .run(&decision(), |case| {
            let recorder = Recorder::default();
            let mut answers = vec![
                ("t-invalid", Err(VerifyError::invalid_token("bad token"))),
                ("t-down", Err(VerifyError::unavailable("as down"))),
            ];
            if let Token::Valid { audiences, scopes } = &case.token {
                let info = AuthInfo::builder()
                    .issuer("https://auth.example.com")
                    .subject("alice")
                    .audiences(audiences.iter().copied())
                    .scopes(scopes.iter().copied())
                    .build();
                answers.push(("t-valid", Ok(info)));
            }
            let mut auth = builder(RESOURCE)
                .verifier(verifier(answers, Arc::clone(&recorder.verified)))
                .audience(ALIAS)
                .exclusive_audience(case.exclusive)
                .scope_hierarchy(hierarchy())
                .required_scopes(case.required.iter().copied());
            for (tool, scopes) in &case.tool_rules {
                auth = auth.tool_scopes(*tool, scopes.iter().copied());
            }
            if let Some(scopes) = &case.method_rule {
                auth = auth.method_scopes("tools/call", scopes.iter().copied());
            }
            let auth = auth.build().unwrap();

            let messages: Vec<serde_json::Value> = case
                .calls
                .iter()
                .map(|call| match call {
                    Some(tool) => tools_call(tool),
                    None => json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
                })
                .collect();
            let body = match messages.as_slice() {
                [one] => one.to_string(),
                many => serde_json::Value::from(many.to_vec()).to_string(),
            };
            let mut req = Request::post("/mcp").header(header::CONTENT_TYPE, "application/json");
            req = match &case.token {
                Token::None => req,
                Token::Malformed => req.header(header::AUTHORIZATION, "Bearer a b"),
                Token::Invalid => req.header(header::AUTHORIZATION, "Bearer t-invalid"),
                Token::Unavailable => req.header(header::AUTHORIZATION, "Bearer t-down"),
                Token::Valid { .. } => req.header(header::AUTHORIZATION, "Bearer t-valid"),
            };
            let req = req.body(Full::new(Bytes::from(body.clone()))).unwrap();
            let res = rt.block_on(recorder.send(&auth, req));

            let want = decide(&case);
            prop_assert_eq!(res.status(), want, "{:?}", case);
            let calls = recorder.calls();
            prop_assert_eq!(calls.len(), usize::from(want == StatusCode::OK));
            if let [seen] = calls.as_slice() {
                prop_assert!(seen.verified_before >= 1, "ran before the verification");
                prop_assert!(!seen.authorization, "the token was passed on");
                let info = seen.info.as_ref().expect("AuthInfo in the extensions");
                prop_assert_eq!(info.subject(), Some("alice"));
                prop_assert_eq!(&seen.body[..], body.as_bytes());
            } else {
                prop_assert!(res.extensions().get::<AuthError>().is_some());
            }
            let outcome = &passed[usize::from(want == StatusCode::OK)];
            outcome.set(outcome.get() + 1);
            Ok(())
        })
        .unwrap();
    // Both outcomes were exercised, so the property cannot hold for the wrong reason.
    assert!(passed[0].get() > 0 && passed[1].get() > 0, "{passed:?}");
}

// ---------------------------------------------------------------------------------------------
// (b) The body arrives byte for byte, whatever the chunking.

/// A body that yields given frames, optionally pausing (`Pending`) before some of them.
struct Chunked {
    frames: VecDeque<(bool, Frame<Bytes>)>,
    paused: bool,
}

impl Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some((pause, _)) = this.frames.front()
            && *pause
            && !this.paused
        {
            this.paused = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.paused = false;
        Poll::Ready(this.frames.pop_front().map(|(_, frame)| Ok(frame)))
    }
}

#[derive(Clone, Debug)]
struct BodyCase {
    body: Vec<u8>,
    /// Frame sizes, used in turn; what is left goes in one last frame.
    sizes: Vec<(usize, bool)>,
    trailers: bool,
    /// Per-operation rules: the layer reads the body before passing it on.
    rules: bool,
    content_length: bool,
}

fn body_case() -> impl Strategy<Value = BodyCase> {
    let rules = any::<bool>();
    (
        rules,
        any::<String>(),
        proptest::collection::vec(any::<u8>(), 0..2048),
    )
        .prop_flat_map(|(rules, text, bytes)| {
            // With rules the body must be JSON-RPC the layer accepts; the argument is any
            // text, so frames split multi-byte characters and escapes.
            let body = if rules {
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": text}}})
                .to_string()
                .into_bytes()
            } else {
                bytes
            };
            (
                Just(body),
                proptest::collection::vec((0_usize..64, any::<bool>()), 0..40),
                any::<bool>(),
                Just(rules),
                any::<bool>(),
            )
        })
        .prop_map(|(body, sizes, trailers, rules, content_length)| BodyCase {
            body,
            sizes,
            trailers,
            rules,
            content_length,
        })
}

#[test]
fn inner_service_gets_the_body_byte_for_byte_whatever_the_chunking() {
    let rt = runtime();
    let frames_seen = Cell::new(0_usize);
    runner()
        .run(&body_case(), |case| {
            let recorder = Recorder::default();
            let info = AuthInfo::builder()
                .subject("alice")
                .audience(RESOURCE)
                .scopes(["mcp:read", "tools:echo"])
                .build();
            let mut auth = builder(RESOURCE)
                .verifier(verifier(
                    vec![("t-valid", Ok(info))],
                    Arc::clone(&recorder.verified),
                ))
                .required_scopes(["mcp:read"]);
            if case.rules {
                auth = auth.tool_scopes("echo", ["tools:echo"]);
            }
            let auth = auth.build().unwrap();

            let mut frames = VecDeque::new();
            let mut rest = &case.body[..];
            for &(size, pause) in &case.sizes {
                let (chunk, tail) = rest.split_at(size.min(rest.len()));
                frames.push_back((pause, Frame::data(Bytes::copy_from_slice(chunk))));
                rest = tail;
            }
            if !rest.is_empty() {
                frames.push_back((false, Frame::data(Bytes::copy_from_slice(rest))));
            }
            frames_seen.set(frames_seen.get() + frames.len());
            let trailers = case.trailers.then(|| {
                let mut map = HeaderMap::new();
                map.insert("x-checksum", HeaderValue::from_static("abc"));
                map
            });
            if let Some(map) = &trailers {
                frames.push_back((true, Frame::trailers(map.clone())));
            }
            let mut req = Request::post("/mcp")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::AUTHORIZATION, "Bearer t-valid");
            if case.content_length {
                req = req.header(header::CONTENT_LENGTH, case.body.len());
            }
            let req = req
                .body(Chunked {
                    frames,
                    paused: false,
                })
                .unwrap();
            let res = rt.block_on(recorder.send(&auth, req));

            prop_assert_eq!(res.status(), StatusCode::OK);
            let calls = recorder.calls();
            prop_assert_eq!(calls.len(), 1);
            prop_assert_eq!(&calls[0].body[..], &case.body[..]);
            prop_assert_eq!(&calls[0].trailers, &trailers);
            Ok(())
        })
        .unwrap();
    assert!(frames_seen.get() > 0);
}

// ---------------------------------------------------------------------------------------------
// (c) Every WWW-Authenticate value parses back into the parameters meant.

/// Scope tokens (RFC 6749 §3.3) with the characters a naive challenge parser trips on.
const HOSTILE_SCOPES: [&str; 7] = [
    "mcp:read",
    "a,b",
    "x=y",
    "q;r",
    "p'q",
    "!#$%&()*+-./:<=>?@[]^_`{|}~",
    "files:write",
];
/// Resource paths with the characters a URL path keeps as they are.
const PATHS: [&str; 4] = ["/mcp", "/a,b;c=d/mcp", "/x'y(z)*!$&+@:~", ""];
const DPOP_ALGS: [Algorithm; 3] = [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Ps256];

#[derive(Clone, Debug)]
enum Rejected {
    NoToken,
    Malformed,
    Invalid(String),
    InsufficientScope,
    DpopWithoutProof,
}

#[derive(Clone, Debug)]
struct ChallengeCase {
    path: &'static str,
    required: Vec<&'static str>,
    rule: Vec<&'static str>,
    /// DPoP: the algorithms, and whether it is required.
    dpop: Option<(Vec<Algorithm>, bool)>,
    rejected: Rejected,
}

fn challenge_case() -> impl Strategy<Value = ChallengeCase> {
    let scopes = |min| proptest::collection::vec(pick(&HOSTILE_SCOPES), min..4);
    let rejected = prop_oneof![
        Just(Rejected::NoToken),
        Just(Rejected::Malformed),
        any::<String>().prop_map(Rejected::Invalid),
        // Hostile descriptions: quotes, backslashes, line breaks, non-ASCII.
        "[\"\\\\\r\n\t é,=;]{0,12}".prop_map(Rejected::Invalid),
        Just(Rejected::InsufficientScope),
        Just(Rejected::DpopWithoutProof),
    ];
    (
        pick(&PATHS),
        scopes(0),
        scopes(1),
        proptest::option::of((
            proptest::sample::subsequence(DPOP_ALGS.to_vec(), 1..=3),
            any::<bool>(),
        )),
        rejected,
    )
        .prop_map(|(path, required, rule, dpop, rejected)| ChallengeCase {
            path,
            required,
            rule,
            dpop,
            rejected,
        })
}

#[test]
fn every_challenge_parses_back_into_the_parameters_meant() {
    let rt = runtime();
    let with_error = Cell::new(0_usize);
    runner()
        .run(&challenge_case(), |case| {
            // With DPoP required, a token is refused at the proof before anything else: only
            // the rejections that come before it are checked there.
            let dpop_required = case.dpop.as_ref().is_some_and(|(_, required)| *required);
            prop_assume!(
                !dpop_required
                    || matches!(
                        case.rejected,
                        Rejected::NoToken | Rejected::Malformed | Rejected::DpopWithoutProof
                    )
            );
            let recorder = Recorder::default();
            let description = match &case.rejected {
                Rejected::Invalid(description) => description.clone(),
                _ => "bad token".to_owned(),
            };
            let info = AuthInfo::builder()
                .subject("alice")
                .audience(format!("https://mcp.example.com{}", case.path))
                .build();
            let mut auth = builder(&format!("https://mcp.example.com{}", case.path))
                .verifier(verifier(
                    vec![
                        ("t-invalid", Err(VerifyError::invalid_token(description))),
                        ("t-valid", Ok(info)),
                    ],
                    Arc::clone(&recorder.verified),
                ))
                .required_scopes(case.required.iter().copied())
                .tool_scopes("delete_file", case.rule.iter().copied());
            if let Some((algs, required)) = &case.dpop {
                let dpop = if *required {
                    Dpop::required()
                } else {
                    Dpop::allowed()
                };
                auth = auth.dpop(dpop.algorithms(algs.iter().copied()));
            }
            let auth = auth.build().unwrap();

            let authorization = match &case.rejected {
                Rejected::NoToken => None,
                Rejected::Malformed => Some("Bearer a b".to_owned()),
                Rejected::Invalid(_) => Some("Bearer t-invalid".to_owned()),
                Rejected::InsufficientScope => Some("Bearer t-valid".to_owned()),
                Rejected::DpopWithoutProof => Some("DPoP t-valid".to_owned()),
            };
            let mut req = Request::post("/mcp").header(header::CONTENT_TYPE, "application/json");
            if let Some(value) = &authorization {
                req = req.header(header::AUTHORIZATION, value);
            }
            let body = tools_call("delete_file").to_string();
            let res =
                rt.block_on(recorder.send(&auth, req.body(Full::new(Bytes::from(body))).unwrap()));
            prop_assert!(recorder.calls().is_empty());
            let err = res
                .extensions()
                .get::<AuthError>()
                .expect("a rejection carries its error")
                .clone();

            // The challenges meant: one per accepted scheme, Bearer first.
            let dpop_algs = case.dpop.as_ref().map(|(algs, _)| {
                algs.iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            let mut schemes = Vec::new();
            if !dpop_required {
                schemes.push("Bearer");
            }
            if dpop_algs.is_some() {
                schemes.push("DPoP");
            }
            let used_dpop = authorization
                .as_deref()
                .is_some_and(|a| a.starts_with("DPoP"))
                && dpop_algs.is_some();
            let error_on = if used_dpop || dpop_required {
                "DPoP"
            } else {
                "Bearer"
            };
            let global = dedup(case.required.iter().copied()).join(" ");
            let (status, error, scope) = match &case.rejected {
                Rejected::NoToken => (StatusCode::UNAUTHORIZED, None, global),
                Rejected::Malformed => (StatusCode::BAD_REQUEST, Some("invalid_request"), global),
                Rejected::Invalid(_) => (StatusCode::UNAUTHORIZED, Some("invalid_token"), global),
                Rejected::InsufficientScope => (
                    StatusCode::FORBIDDEN,
                    Some("insufficient_scope"),
                    dedup(case.required.iter().chain(&case.rule).copied()).join(" "),
                ),
                Rejected::DpopWithoutProof if dpop_algs.is_some() => {
                    (StatusCode::UNAUTHORIZED, Some("invalid_dpop_proof"), global)
                }
                // DPoP off: the scheme is not one the layer accepts, as if there were no token.
                Rejected::DpopWithoutProof => (StatusCode::UNAUTHORIZED, None, global),
            };
            prop_assert_eq!(res.status(), status);
            let values: Vec<&str> = res
                .headers()
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .map(|v| v.to_str().expect("visible ASCII"))
                .collect();
            prop_assert_eq!(values.len(), schemes.len(), "{:?}", values);
            for (value, scheme) in values.iter().zip(&schemes) {
                let parsed = challenge::parse(value);
                prop_assert!(parsed.is_some(), "unparsable: {}", value);
                let parsed = parsed.unwrap();
                prop_assert_eq!(parsed.len(), 1, "{}", value);
                let got = &parsed[0];
                prop_assert_eq!(&got.scheme, scheme);
                let mut want = BTreeMap::new();
                want.insert("resource_metadata", auth.metadata().url().to_owned());
                if *scheme == "DPoP" {
                    want.insert("algs", dpop_algs.clone().unwrap());
                }
                if !scope.is_empty() {
                    want.insert("scope", scope.clone());
                }
                if let Some(code) = error
                    && *scheme == error_on
                {
                    want.insert("error", code.to_owned());
                    let meant = match &case.rejected {
                        Rejected::Invalid(description) => description.clone(),
                        _ => err.description().to_owned(),
                    };
                    want.insert("error_description", challenge::description_form(&meant));
                    with_error.set(with_error.get() + 1);
                }
                let got: BTreeMap<&str, String> = got
                    .params
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.clone()))
                    .collect();
                prop_assert_eq!(got, want, "{}", value);
            }
            Ok(())
        })
        .unwrap();
    assert!(with_error.get() > 0);
}

// ---------------------------------------------------------------------------------------------
// (d) Audiences: accepted exactly when RFC 3986-equivalent to the resource.

#[derive(Clone, Debug)]
struct Resource {
    scheme: &'static str,
    host: &'static str,
    port: Option<&'static str>,
    segments: Vec<&'static str>,
}

impl Resource {
    fn uri(&self) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let path: String = self.segments.iter().map(|s| format!("/{s}")).collect();
        format!("{}://{}{port}{path}", self.scheme, self.host)
    }
}

fn resource() -> impl Strategy<Value = Resource> {
    let https = (
        Just("https"),
        pick(&["mcp.example.com", "h.example", "127.0.0.1", "[::1]"]),
        proptest::option::of(pick(&["443", "8443"])),
    );
    let http = (
        Just("http"),
        pick(&["127.0.0.1", "localhost", "[::1]"]),
        proptest::option::of(pick(&["80", "3000"])),
    );
    (
        prop_oneof![https, http],
        proptest::collection::vec(pick(&["mcp", "a", "b-c", "x_y.z", "~u", "v1"]), 0..3),
    )
        .prop_map(|((scheme, host, port), segments)| Resource {
            scheme,
            host,
            port,
            segments,
        })
}

/// One way to spell (or misspell) the resource in a token's `aud`.
#[derive(Clone, Copy, Debug)]
enum Spelling {
    // Equivalent spellings (RFC 3986 §6.2.2, §6.2.3).
    UpperScheme,
    UpperHost,
    DefaultPort,
    EmptyPort,
    EncodeUnreserved,
    LowerHexEncode,
    DotSegment,
    DotDotSegment,
    RootSlash,
    // Other resources, or no valid URI.
    UpperPath,
    TrailingSlash,
    OtherPort,
    OtherHost,
    OtherScheme,
    Userinfo,
    Query,
    Fragment,
    EncodedSlash,
    DoubleSlash,
    AuthorityInPath,
    SchemeInPath,
    LeadingZeroPort,
    NumericHost,
}

const SPELLINGS: [Spelling; 23] = [
    Spelling::UpperScheme,
    Spelling::UpperHost,
    Spelling::DefaultPort,
    Spelling::EmptyPort,
    Spelling::EncodeUnreserved,
    Spelling::LowerHexEncode,
    Spelling::DotSegment,
    Spelling::DotDotSegment,
    Spelling::RootSlash,
    Spelling::UpperPath,
    Spelling::TrailingSlash,
    Spelling::OtherPort,
    Spelling::OtherHost,
    Spelling::OtherScheme,
    Spelling::Userinfo,
    Spelling::Query,
    Spelling::Fragment,
    Spelling::EncodedSlash,
    Spelling::DoubleSlash,
    Spelling::AuthorityInPath,
    Spelling::SchemeInPath,
    Spelling::LeadingZeroPort,
    Spelling::NumericHost,
];

fn respell(resource: &Resource, spellings: &[Spelling]) -> String {
    let default_port = if resource.scheme == "https" {
        "443"
    } else {
        "80"
    };
    let mut scheme = resource.scheme.to_owned();
    let mut host = resource.host.to_owned();
    let mut port = resource.port.map(str::to_owned);
    let mut segments: Vec<String> = resource.segments.iter().map(|s| (*s).to_owned()).collect();
    let mut userinfo = String::new();
    let mut suffix = String::new();
    let mut root_slash = false;
    let mut authority_in_path = false;
    let mut scheme_in_path = false;
    for spelling in spellings {
        match spelling {
            Spelling::UpperScheme => scheme = scheme.to_ascii_uppercase(),
            Spelling::UpperHost => host = host.to_ascii_uppercase(),
            Spelling::DefaultPort => port = Some(default_port.to_owned()),
            Spelling::EmptyPort => port = Some(String::new()),
            Spelling::EncodeUnreserved | Spelling::LowerHexEncode => {
                if let Some(segment) = segments.first_mut()
                    && let Some(c) = segment.chars().next()
                {
                    let hex = format!("%{:02X}", c as u32);
                    let hex = match spelling {
                        Spelling::LowerHexEncode => hex.to_ascii_lowercase(),
                        _ => hex,
                    };
                    *segment = format!("{hex}{}", &segment[c.len_utf8()..]);
                }
            }
            Spelling::DotSegment => segments.insert(0, ".".to_owned()),
            Spelling::DotDotSegment => {
                segments.insert(0, "..".to_owned());
                segments.insert(0, "x".to_owned());
            }
            Spelling::RootSlash => root_slash = true,
            Spelling::UpperPath => {
                for segment in &mut segments {
                    *segment = segment.to_ascii_uppercase();
                }
            }
            Spelling::TrailingSlash => segments.push(String::new()),
            Spelling::OtherPort => port = Some("9443".to_owned()),
            Spelling::OtherHost => host = format!("{host}.evil.example"),
            Spelling::OtherScheme => {
                scheme = if scheme.eq_ignore_ascii_case("https") {
                    "http".to_owned()
                } else {
                    "https".to_owned()
                };
            }
            Spelling::Userinfo => userinfo = "user@".to_owned(),
            Spelling::Query => suffix.push_str("?x=1"),
            Spelling::Fragment => suffix.push_str("#top"),
            Spelling::EncodedSlash => {
                if segments.len() >= 2 {
                    let second = segments.remove(1);
                    segments[0] = format!("{}%2F{second}", segments[0]);
                }
            }
            Spelling::DoubleSlash => segments.insert(0, String::new()),
            Spelling::AuthorityInPath => authority_in_path = true,
            Spelling::SchemeInPath => scheme_in_path = true,
            Spelling::LeadingZeroPort => {
                port = Some(format!("0{}", port.as_deref().unwrap_or(default_port)));
            }
            Spelling::NumericHost => {
                if host == "127.0.0.1" {
                    host = "2130706433".to_owned();
                }
            }
        }
    }
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    let mut path: String = segments.iter().map(|s| format!("/{s}")).collect();
    if path.is_empty() && root_slash {
        path.push('/');
    }
    let uri = if authority_in_path {
        // No authority: a path that starts with what looks like one.
        format!("{scheme}:/.//{userinfo}{host}{port}{path}{suffix}")
    } else {
        format!("{scheme}://{userinfo}{host}{port}{path}{suffix}")
    };
    if scheme_in_path {
        // No scheme: a relative reference whose dot segments leave what looks like one.
        format!("{}/../{uri}", resource.scheme)
    } else {
        uri
    }
}

#[test]
fn audiences_are_accepted_exactly_when_equivalent_to_the_resource() {
    let rt = runtime();
    let strategy = (
        resource(),
        proptest::collection::vec(pick(&SPELLINGS), 0..4),
    );
    let outcomes = [Cell::new(0_usize), Cell::new(0)];
    runner()
        .run(&strategy, |(resource, spellings)| {
            let uri = resource.uri();
            let audience = respell(&resource, &spellings);
            let recorder = Recorder::default();
            let info = AuthInfo::builder()
                .subject("alice")
                .audience(audience.clone())
                .build();
            let auth = builder(&uri)
                .verifier(verifier(
                    vec![("t", Ok(info))],
                    Arc::clone(&recorder.verified),
                ))
                .build()
                .unwrap();
            let req = Request::post("/mcp")
                .header(header::AUTHORIZATION, "Bearer t")
                .body(Full::new(Bytes::new()))
                .unwrap();
            let accepted = rt.block_on(recorder.send(&auth, req)).status() == StatusCode::OK;
            let equivalent = rfc3986::equivalent(&audience, &uri);
            prop_assert_eq!(
                accepted,
                equivalent,
                "audience {:?} for resource {:?}",
                audience,
                uri
            );
            let outcome = &outcomes[usize::from(accepted)];
            outcome.set(outcome.get() + 1);
            Ok(())
        })
        .unwrap();
    assert!(
        outcomes[0].get() > 0 && outcomes[1].get() > 0,
        "{outcomes:?}"
    );
}
