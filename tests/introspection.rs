//! `IntrospectionVerifier` behind `McpAuth`, against the dev issuer's RFC 7662 endpoint on
//! loopback with fixed answers and faults: the response rules, client authentication, failure
//! behaviour (503, never 401), single flight, the negative cache and expiry at `exp`. Each
//! case asserts the exact status and `error` code, and the number of introspection calls
//! where it matters; each failure is followed by the same request succeeding once the fault
//! is gone.

#![cfg(feature = "introspection")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod introspection_support;
mod layer_support;

use std::{
    convert::Infallible,
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use mcp_auth::{
    BoxError, McpAuth, TokenVerifier,
    challenge::{AuthError, AuthErrorKind},
    testing::{Endpoint, Fault},
    verifier::{
        IntrospectionVerifier,
        introspection::{ClientAuthRequest, ClientAuthenticator, IntrospectionVerifierBuilder},
    },
};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tower::{Layer, ServiceExt, service_fn};

use introspection_support::{CLIENT_ID, CLIENT_SECRET, ISSUER, active, active_with, issuer, now};
use layer_support::{App, RESOURCE, error_code};

/// The status and `error` code a case must get.
type Expected = (StatusCode, Option<&'static str>);

const OK: Expected = (StatusCode::OK, None);
const INVALID: Expected = (StatusCode::UNAUTHORIZED, Some("invalid_token"));
const FORBIDDEN: Expected = (StatusCode::FORBIDDEN, Some("insufficient_scope"));
/// `503` carries `Retry-After` and no challenge.
const UNAVAILABLE: Expected = (StatusCode::SERVICE_UNAVAILABLE, None);

/// A generous HTTP timeout, so that a loaded machine does not turn a slow answer into a 503;
/// only [`slow_server_is_cut_off_by_the_http_timeout`] uses a short one.
fn builder(endpoint: &str) -> IntrospectionVerifierBuilder {
    IntrospectionVerifier::builder()
        .endpoint(endpoint)
        .issuer(ISSUER)
        .client_secret_basic(CLIENT_ID, CLIENT_SECRET)
        .http_timeout(Duration::from_secs(5))
}

fn layer(verifier: IntrospectionVerifier) -> McpAuth {
    McpAuth::builder(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(verifier)
        .required_scopes(["mcp:read"])
        .build()
        .unwrap()
}

/// [`layer`] around the counting inner service.
fn layered(verifier: IntrospectionVerifier) -> App {
    App::new(layer(verifier))
}

fn outcome<B>(res: &Response<B>) -> (StatusCode, Option<String>) {
    (res.status(), error_code(res))
}

fn expected((status, code): Expected) -> (StatusCode, Option<String>) {
    (status, code.map(str::to_owned))
}

#[tokio::test]
async fn answer_rules_through_the_layer() {
    let issuer = issuer().await;
    let app = layered(
        builder(&issuer.introspection_endpoint())
            .leeway(Duration::ZERO)
            .build()
            .unwrap(),
    );
    let now = now() as u64;
    let cases: Vec<(&str, Value, Expected)> = vec![
        ("active", active(), OK),
        ("inactive", json!({"active": false}), INVALID),
        (
            "inactive with claims",
            active_with(|a| {
                a.insert("active".into(), json!(false));
            }),
            INVALID,
        ),
        (
            "wrong audience",
            active_with(|a| {
                a.insert("aud".into(), json!("https://other.example.com/mcp"));
            }),
            INVALID,
        ),
        (
            "audience array with resource",
            active_with(|a| {
                a.insert("aud".into(), json!(["https://other.example.com", RESOURCE]));
            }),
            OK,
        ),
        (
            "missing audience",
            active_with(|a| {
                a.remove("aud");
            }),
            INVALID,
        ),
        (
            "missing exp is accepted",
            active_with(|a| {
                a.remove("exp");
            }),
            OK,
        ),
        (
            "expired",
            active_with(|a| {
                a.insert("exp".into(), json!(now - 5));
            }),
            INVALID,
        ),
        (
            "not yet valid",
            active_with(|a| {
                a.insert("nbf".into(), json!(now + 300));
            }),
            INVALID,
        ),
        (
            "issued in the future",
            active_with(|a| {
                a.insert("iat".into(), json!(now + 300));
            }),
            INVALID,
        ),
        (
            "wrong issuer",
            active_with(|a| {
                a.insert("iss".into(), json!("https://evil.example.com"));
            }),
            INVALID,
        ),
        (
            "missing issuer",
            active_with(|a| {
                a.remove("iss");
            }),
            OK,
        ),
        (
            "refresh token",
            active_with(|a| {
                a.insert("token_type".into(), json!("refresh_token"));
            }),
            INVALID,
        ),
        (
            "refresh token by token_use (Ory Hydra)",
            active_with(|a| {
                a.insert("token_use".into(), json!("refresh_token"));
            }),
            INVALID,
        ),
        (
            "access token by token_use (Ory Hydra)",
            active_with(|a| {
                a.insert("token_use".into(), json!("access_token"));
            }),
            OK,
        ),
        (
            "ID token by token_use",
            active_with(|a| {
                a.insert("token_use".into(), json!("id"));
            }),
            INVALID,
        ),
        (
            "malformed token_use",
            active_with(|a| {
                a.insert("token_use".into(), json!(1));
            }),
            INVALID,
        ),
        (
            "dpop-bound token",
            active_with(|a| {
                a.insert("token_type".into(), json!("DPoP"));
                a.insert("cnf".into(), json!({"jkt": "abc"}));
            }),
            INVALID,
        ),
        // A DPoP token whose key is not named cannot be checked: never a bearer token.
        (
            "dpop token that names no key",
            active_with(|a| {
                a.insert("token_type".into(), json!("DPoP"));
            }),
            INVALID,
        ),
        (
            "token bound by a method the layer cannot check",
            active_with(|a| {
                a.insert("cnf".into(), json!({"kid": "client-key-1"}));
            }),
            INVALID,
        ),
        (
            "missing scope",
            active_with(|a| {
                a.insert("scope".into(), json!("mcp:write"));
            }),
            FORBIDDEN,
        ),
        (
            "no scope at all",
            active_with(|a| {
                a.remove("scope");
            }),
            FORBIDDEN,
        ),
        // What the authorization server said makes the token unacceptable: 401, never a
        // 503 that keeps the client retrying a dead token.
        (
            "malformed exp",
            active_with(|a| {
                a.insert("exp".into(), json!("tomorrow"));
            }),
            INVALID,
        ),
        (
            "negative exp",
            active_with(|a| {
                a.insert("exp".into(), json!(-1));
            }),
            INVALID,
        ),
        (
            "malformed audience",
            active_with(|a| {
                a.insert("aud".into(), json!(42));
            }),
            INVALID,
        ),
        (
            "scope with a tab",
            active_with(|a| {
                a.insert("scope".into(), json!("mcp:read\tnotes:write"));
            }),
            INVALID,
        ),
        (
            "scope with a newline",
            active_with(|a| {
                a.insert("scope".into(), json!("mcp:read\nnotes:write"));
            }),
            INVALID,
        ),
        ("active missing", json!({"sub": "alice"}), UNAVAILABLE),
        (
            "active as string",
            active_with(|a| {
                a.insert("active".into(), json!("true"));
            }),
            UNAVAILABLE,
        ),
    ];
    let mut passed = 0;
    for (i, (name, answer, want)) in cases.into_iter().enumerate() {
        let token = format!("opaque-token-case-{i}");
        issuer.set_introspection_answer(&token, answer);
        let before = issuer.requests(Endpoint::Introspection);
        let res = app.call(&token).await;
        assert_eq!(outcome(&res), expected(want), "{name}");
        assert_eq!(
            issuer.requests(Endpoint::Introspection),
            before + 1,
            "{name}: one call"
        );
        if want == OK {
            passed += 1;
            assert_eq!(res.headers()["x-subject"], "alice", "{name}");
        }
        if want == UNAVAILABLE {
            assert!(res.headers().contains_key(header::RETRY_AFTER), "{name}");
        }
    }
    assert_eq!(
        app.inner_calls(),
        passed,
        "the inner service ran only for accepted tokens"
    );
}

#[tokio::test]
async fn opt_ins_change_the_missing_aud_and_exp_rules() {
    let issuer = issuer().await;
    issuer.set_introspection_answer(
        "no-aud",
        active_with(|a| {
            a.remove("aud");
        }),
    );
    issuer.set_introspection_answer(
        "no-exp",
        active_with(|a| {
            a.remove("exp");
        }),
    );
    issuer.set_introspection_answer(
        "other-aud",
        active_with(|a| {
            a.insert("aud".into(), json!("https://other.example.com"));
        }),
    );

    let assume = layered(
        builder(&issuer.introspection_endpoint())
            .danger_assume_audience(RESOURCE)
            .build()
            .unwrap(),
    );
    assert_eq!(outcome(&assume.call("no-aud").await), expected(OK));
    // An answer that names another audience is still refused.
    assert_eq!(outcome(&assume.call("other-aud").await), expected(INVALID));

    let strict = layered(
        builder(&issuer.introspection_endpoint())
            .require_expiry(true)
            .build()
            .unwrap(),
    );
    assert_eq!(outcome(&strict.call("no-exp").await), expected(INVALID));

    // The verifier-side audience check, for use without the layer.
    let own = builder(&issuer.introspection_endpoint())
        .audiences(["https://other.example.com"])
        .build()
        .unwrap();
    assert!(own.verify("other-aud").await.is_ok());
    assert!(own.verify("no-exp").await.unwrap_err().is_invalid_token());
}

#[tokio::test]
async fn client_secret_basic_sends_form_encoded_credentials_and_the_hint() {
    let issuer = issuer().await;
    issuer.set_introspection_answer("tok", active());
    let app = layered(builder(&issuer.introspection_endpoint()).build().unwrap());
    assert_eq!(outcome(&app.call("tok").await), expected(OK));
    let received = issuer.last_introspection_request().unwrap();
    assert_eq!(received.params("token"), ["tok"]);
    assert_eq!(received.param("token_type_hint"), Some("access_token"));
    assert_eq!(received.param("client_id"), None);
    assert_eq!(received.param("client_secret"), None);
    assert!(received.uses_basic_auth());
    let auth = received.header("authorization").unwrap();
    let decoded = STANDARD
        .decode(auth.strip_prefix("Basic ").unwrap())
        .unwrap();
    // RFC 6749 §2.3.1: both parts form-encoded before Basic encoding.
    assert_eq!(String::from_utf8(decoded).unwrap(), "rs:s%3Acret%2F%2B");

    // Control: the issuer really checks the credentials; a wrong secret is our problem, 503.
    let wrong = layered(
        builder(&issuer.introspection_endpoint())
            .client_secret_basic(CLIENT_ID, "s:cret/-")
            .build()
            .unwrap(),
    );
    let res = wrong.call("tok").await;
    assert_eq!(outcome(&res), expected(UNAVAILABLE));
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(issuer.requests(Endpoint::Introspection), 2);
}

#[tokio::test]
async fn client_secret_post_puts_credentials_in_the_body() {
    let issuer = issuer().await;
    issuer.set_introspection_answer("tok", active());
    let verifier = builder(&issuer.introspection_endpoint())
        .client_secret_post(CLIENT_ID, CLIENT_SECRET)
        .build()
        .unwrap();
    assert_eq!(outcome(&layered(verifier).call("tok").await), expected(OK));
    let received = issuer.last_introspection_request().unwrap();
    assert_eq!(received.param("client_id"), Some("rs"));
    assert_eq!(received.param("client_secret"), Some("s:cret/+"));
    assert_eq!(received.params("token"), ["tok"]);
    assert!(received.header("authorization").is_none());
    assert!(!received.uses_basic_auth());
}

#[derive(Debug)]
struct Assertion {
    fail: bool,
}

impl ClientAuthenticator for Assertion {
    fn authenticate(&self, request: &mut ClientAuthRequest) -> Result<(), BoxError> {
        if self.fail {
            return Err("signing key unavailable".into());
        }
        let aud = request.endpoint().to_owned();
        request.append_param(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        );
        request.append_param("client_assertion", format!("assertion-for-{aud}"));
        // The dev issuer authenticates clients by secret only: send it along.
        request.append_param("client_id", CLIENT_ID);
        request.append_param("client_secret", CLIENT_SECRET);
        // Cannot replace the token.
        request.append_param("token", "other");
        request.insert_header(
            http::HeaderName::from_static("x-rs"),
            HeaderValue::from_static("1"),
        );
        Ok(())
    }
}

#[tokio::test]
async fn custom_client_authentication_hook() {
    let issuer = issuer().await;
    issuer.set_introspection_answer("tok", active());
    let verifier = builder(&issuer.introspection_endpoint())
        .client_authenticator(Assertion { fail: false })
        .build()
        .unwrap();
    assert_eq!(outcome(&layered(verifier).call("tok").await), expected(OK));
    let received = issuer.last_introspection_request().unwrap();
    assert_eq!(
        received.param("client_assertion"),
        Some(format!("assertion-for-{}", issuer.introspection_endpoint()).as_str())
    );
    assert_eq!(received.header("x-rs"), Some("1"));
    assert_eq!(received.params("token"), ["tok"]);
    assert!(!received.uses_basic_auth(), "the hook replaces Basic");
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);

    // A hook that fails: 503, and nothing is sent.
    let failing = builder(&issuer.introspection_endpoint())
        .client_authenticator(Assertion { fail: true })
        .build()
        .unwrap();
    let res = layered(failing).call("tok").await;
    assert_eq!(outcome(&res), expected(UNAVAILABLE));
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);
}

/// How a case breaks the introspection call.
enum Break {
    /// The endpoint fails on the wire.
    Fault(Fault),
    /// The endpoint answers `200` with this body for the token.
    Answer(Value),
}

#[tokio::test]
async fn server_failures_get_503_never_401_and_recovery_needs_no_restart() {
    let issuer = issuer().await;
    // Where a followed redirect would lead: a server that says the token is fine.
    let elsewhere = introspection_support::issuer().await;
    let verifier = builder(&issuer.introspection_endpoint())
        .max_response_size(1024)
        .build()
        .unwrap();
    let app = layered(verifier);
    let status = |code| Break::Fault(Fault::Status(code));
    // Whatever the status says, the body of these is a valid active answer: only `200 OK` is
    // an answer.
    let cases = [
        ("500", status(500)),
        ("503", status(503)),
        ("401 for our credentials", status(401)),
        ("400", status(400)),
        ("404", status(404)),
        ("201 with an active answer", status(201)),
        ("202 with an active answer", status(202)),
        ("203 with an active answer", status(203)),
        ("204 no body", status(204)),
        (
            "redirect",
            Break::Fault(Fault::Redirect(elsewhere.introspection_endpoint())),
        ),
        ("html", Break::Fault(Fault::Garbage)),
        ("too large", Break::Fault(Fault::Huge(4096))),
        ("truncated", Break::Fault(Fault::Truncated)),
        ("connection reset", Break::Fault(Fault::Reset)),
        ("json array", Break::Answer(json!([true]))),
        ("json string", Break::Answer(json!("active"))),
        ("empty object", Break::Answer(json!({}))),
        ("null", Break::Answer(Value::Null)),
    ];
    for (i, (name, broken)) in cases.into_iter().enumerate() {
        let token = format!("opaque-failure-case-{i}");
        elsewhere.set_introspection_answer(&token, active());
        let calls = issuer.requests(Endpoint::Introspection);
        match broken {
            Break::Fault(fault) => {
                issuer.set_introspection_answer(&token, active());
                issuer.set_fault(Endpoint::Introspection, Some(fault));
            }
            Break::Answer(answer) => issuer.set_introspection_answer(&token, answer),
        }
        let res = app.call(&token).await;
        assert_eq!(outcome(&res), expected(UNAVAILABLE), "{name}");
        assert!(res.headers().contains_key(header::RETRY_AFTER), "{name}");
        assert_eq!(
            issuer.requests(Endpoint::Introspection),
            calls + 1,
            "{name}"
        );
        assert_eq!(app.inner_calls(), i, "{name}: never a pass");

        // Control: errors are not cached; once the server is back the same token works.
        issuer.set_fault(Endpoint::Introspection, None);
        issuer.set_introspection_answer(&token, active());
        assert_eq!(outcome(&app.call(&token).await), expected(OK), "{name}");
        assert_eq!(
            issuer.requests(Endpoint::Introspection),
            calls + 2,
            "{name}"
        );
        assert_eq!(app.inner_calls(), i + 1, "{name}");
    }
    assert_eq!(
        elsewhere.requests(Endpoint::Introspection),
        0,
        "redirects are not followed"
    );
}

#[tokio::test]
async fn slow_server_is_cut_off_by_the_http_timeout() {
    let issuer = issuer().await;
    issuer.set_introspection_answer("tok", active());
    // The server would answer "active", but long after the timeout.
    issuer.set_delay(Endpoint::Introspection, Duration::from_secs(30));
    let verifier = builder(&issuer.introspection_endpoint())
        .http_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let app = layered(verifier.clone());
    let started = Instant::now();
    let res = app.call("tok").await;
    assert_eq!(outcome(&res), expected(UNAVAILABLE));
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(app.inner_calls(), 0);
    // Bounded by the 500 ms HTTP timeout, not by the server's 30 s (with room for a loaded
    // machine).
    assert!(started.elapsed() < Duration::from_secs(10), "no hang");
    let err = verifier.verify("tok").await.unwrap_err();
    assert!(err.is_unavailable());
    assert_eq!(err.description(), "introspection request timed out");

    // Control: the same token, answered in time.
    issuer.set_delay(Endpoint::Introspection, Duration::ZERO);
    assert_eq!(outcome(&app.call("tok").await), expected(OK));
    assert_eq!(app.inner_calls(), 1);
}

#[tokio::test]
async fn unreachable_server_gets_503_and_recovers_without_restart() {
    let issuer = issuer().await;
    issuer.set_introspection_answer("tok", active());
    let verifier = builder(&issuer.introspection_endpoint()).build().unwrap();
    let app = layered(verifier.clone());
    for name in ["connection reset", "connection refused"] {
        if name == "connection reset" {
            issuer.set_fault(Endpoint::Introspection, Some(Fault::Reset));
        } else {
            issuer.stop().await;
        }
        let res = app.call("tok").await;
        assert_eq!(outcome(&res), expected(UNAVAILABLE), "{name}");
        assert!(res.headers().contains_key(header::RETRY_AFTER), "{name}");
        assert_eq!(app.inner_calls(), 0, "{name}");
        let err = verifier.verify("tok").await.unwrap_err();
        assert_eq!(
            err.description(),
            "introspection endpoint is not reachable",
            "{name}"
        );
    }
    assert_eq!(
        issuer.requests(Endpoint::Introspection),
        2,
        "the reset requests arrived; the refused ones could not"
    );

    // Control: the same address serves again and the same token passes.
    issuer.set_fault(Endpoint::Introspection, None);
    issuer.restart().await.unwrap();
    assert_eq!(outcome(&app.call("tok").await), expected(OK));
    assert_eq!(app.inner_calls(), 1);
}

#[tokio::test]
async fn rejection_reason_is_kept_in_response_extensions() {
    let issuer = issuer().await;
    issuer.set_introspection_answer("tok", active());
    issuer.set_fault(Endpoint::Introspection, Some(Fault::Status(502)));
    let auth = layer(builder(&issuer.introspection_endpoint()).build().unwrap());
    let call = || {
        let inner = service_fn(
            |_req: Request<mcp_auth::body::RequestBody<Full<Bytes>>>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            },
        );
        let req = Request::post(RESOURCE)
            .header(header::AUTHORIZATION, "Bearer tok")
            .body(Full::new(Bytes::new()))
            .unwrap();
        auth.clone().layer(inner).oneshot(req)
    };
    let res = call().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    let err = res.extensions().get::<AuthError>().unwrap();
    assert_eq!(err.kind(), AuthErrorKind::VerifierUnavailable);
    assert_eq!(
        err.description(),
        "introspection endpoint answered with an error"
    );

    // Control: an accepted request carries no rejection.
    issuer.set_fault(Endpoint::Introspection, None);
    let res = call().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.extensions().get::<AuthError>().is_none());
}

#[tokio::test]
async fn oversized_tokens_are_refused_without_a_call() {
    let issuer = issuer().await;
    let verifier = builder(&issuer.introspection_endpoint())
        .max_token_size(64)
        .build()
        .unwrap();
    let err = verifier.verify(&"a".repeat(65)).await.unwrap_err();
    assert!(err.is_invalid_token());
    assert!(verifier.verify("").await.unwrap_err().is_invalid_token());
    assert_eq!(issuer.requests(Endpoint::Introspection), 0);

    // Control: a token at the limit is introspected.
    issuer.set_introspection_answer("a".repeat(64), active());
    assert!(verifier.verify(&"a".repeat(64)).await.is_ok());
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);

    // Too large, and not this server's (`owns_tokens`): foreign, for the next verifier of a
    // chain; this server's own: refused. Far too large (more than four times): the same,
    // without decoding it.
    let owning = builder(&issuer.introspection_endpoint())
        .max_token_size(64)
        .owns_tokens(|token| token.starts_with("a"))
        .build()
        .unwrap();
    for len in [65, 1000] {
        let err = owning.verify(&"b".repeat(len)).await.unwrap_err();
        assert!(err.is_foreign_token(), "{len}: {err:?}");
        let err = owning.verify(&"a".repeat(len)).await.unwrap_err();
        assert!(err.is_invalid_token(), "{len}: {err:?}");
    }
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_new_token_share_one_call() {
    let issuer = issuer().await;
    issuer.set_introspection_answer("fresh", active());
    // Every task is running before any sends its request, and the answer takes long enough
    // for all of them to join the one call even on a loaded machine.
    issuer.set_delay(Endpoint::Introspection, Duration::from_secs(1));
    let app = Arc::new(layered(
        builder(&issuer.introspection_endpoint()).build().unwrap(),
    ));
    let start = Arc::new(Barrier::new(200));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let app = Arc::clone(&app);
        let start = Arc::clone(&start);
        tasks.spawn(async move {
            start.wait().await;
            app.call("fresh").await.status()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    assert_eq!(statuses.len(), 200);
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(
        issuer.requests(Endpoint::Introspection),
        1,
        "exactly one introspection call"
    );
    assert_eq!(app.inner_calls(), 200);

    // Later requests hit the cache.
    issuer.set_delay(Endpoint::Introspection, Duration::ZERO);
    assert_eq!(outcome(&app.call("fresh").await), expected(OK));
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_a_failure_too() {
    let issuer = issuer().await;
    issuer.set_fault(Endpoint::Introspection, Some(Fault::Status(500)));
    // A failure is not cached, so a task that came after the call ended would make a second
    // one: all tasks start together, and the call lasts long enough for every one to join it.
    issuer.set_delay(Endpoint::Introspection, Duration::from_millis(1500));
    let app = Arc::new(layered(
        builder(&issuer.introspection_endpoint()).build().unwrap(),
    ));
    let start = Arc::new(Barrier::new(100));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let app = Arc::clone(&app);
        let start = Arc::clone(&start);
        tasks.spawn(async move {
            start.wait().await;
            app.call("fresh").await.status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(
        issuer.requests(Endpoint::Introspection),
        1,
        "one call for the whole burst"
    );
    // The failure is not remembered.
    issuer.set_fault(Endpoint::Introspection, None);
    issuer.set_delay(Endpoint::Introspection, Duration::ZERO);
    issuer.set_introspection_answer("fresh", active());
    assert_eq!(outcome(&app.call("fresh").await), expected(OK));
    assert_eq!(issuer.requests(Endpoint::Introspection), 2);
}

/// Long enough for the requests that must hit the cache to do so on a loaded machine.
const NEGATIVE_TTL: Duration = Duration::from_millis(1500);
const MAX_TTL: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn inactive_tokens_are_cached_briefly() {
    let issuer = issuer().await;
    let app = layered(
        builder(&issuer.introspection_endpoint())
            .negative_cache_ttl(NEGATIVE_TTL)
            .build()
            .unwrap(),
    );
    for _ in 0..50 {
        assert_eq!(outcome(&app.call("garbage").await), expected(INVALID));
    }
    assert_eq!(
        issuer.requests(Endpoint::Introspection),
        1,
        "one call for 50 requests with the same bad token"
    );
    // A refusal after an active answer's checks is cached the same way.
    issuer.set_introspection_answer(
        "wrong-iss",
        active_with(|a| {
            a.insert("iss".into(), json!("https://evil.example.com"));
        }),
    );
    for _ in 0..10 {
        assert_eq!(outcome(&app.call("wrong-iss").await), expected(INVALID));
    }
    assert_eq!(issuer.requests(Endpoint::Introspection), 2);

    // The cache keeps its own clock: a real wait, from after the last insertion.
    tokio::time::sleep(NEGATIVE_TTL + Duration::from_millis(250)).await;
    assert_eq!(outcome(&app.call("garbage").await), expected(INVALID));
    assert_eq!(
        issuer.requests(Endpoint::Introspection),
        3,
        "asked again once the negative entry expired"
    );

    // With the negative cache off, every bad token costs a call.
    let uncached = layered(
        builder(&issuer.introspection_endpoint())
            .negative_cache_ttl(Duration::ZERO)
            .build()
            .unwrap(),
    );
    uncached.call("garbage").await;
    uncached.call("garbage").await;
    assert_eq!(issuer.requests(Endpoint::Introspection), 5);
}

/// `verify_now` never calls the server: a token it holds no verdict on is `None`, one the
/// server answered is that answer (acceptance or refusal), and what `verify` refuses before
/// any call is refused at once too.
#[tokio::test]
async fn verify_now_answers_from_the_cache_and_never_calls() {
    let issuer = issuer().await;
    issuer.set_introspection_answer("tok", active());
    let verifier = builder(&issuer.introspection_endpoint())
        .negative_cache_ttl(NEGATIVE_TTL)
        .cache_max_ttl(MAX_TTL)
        .build()
        .unwrap();
    for token in ["tok", "garbage"] {
        assert!(
            verifier.verify_now(token).is_none(),
            "{token}: not asked yet"
        );
    }
    assert_eq!(issuer.requests(Endpoint::Introspection), 0);

    // Refused before any call, by `verify` and `verify_now` alike.
    let foreign_jwt = jwt_from("https://elsewhere.example");
    let oversized = "a".repeat(64 * 1024);
    for (name, token, foreign) in [
        ("empty", "", false),
        ("oversized", oversized.as_str(), false),
        ("another issuer's JWT", foreign_jwt.as_str(), true),
    ] {
        let now = verifier.verify_now(token).expect(name).expect_err(name);
        let verified = verifier.verify(token).await.expect_err(name);
        assert_eq!(now.kind(), verified.kind(), "{name}");
        assert_eq!(now.description(), verified.description(), "{name}");
        assert_eq!(now.is_foreign_token(), foreign, "{name}: {now:?}");
    }
    assert_eq!(issuer.requests(Endpoint::Introspection), 0);

    // Control: once `verify` has the server's answers, `verify_now` gives them, uncalled.
    assert!(verifier.verify("tok").await.is_ok());
    assert!(
        verifier
            .verify("garbage")
            .await
            .unwrap_err()
            .is_invalid_token()
    );
    assert_eq!(issuer.requests(Endpoint::Introspection), 2);
    let info = verifier.verify_now("tok").expect("cached").expect("active");
    assert_eq!(
        info.subject(),
        verifier.verify("tok").await.unwrap().subject()
    );
    let refused = verifier.verify_now("garbage").expect("cached").unwrap_err();
    assert!(refused.is_invalid_token(), "{refused:?}");
    assert_eq!(issuer.requests(Endpoint::Introspection), 2);
}

/// An unsigned JWT naming `iss`: its shape says whose it is.
fn jwt_from(iss: &str) -> String {
    let part =
        |value: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
    format!(
        "{}.{}.c2lnbmF0dXJl",
        part(json!({"alg": "RS256", "typ": "at+jwt"})),
        part(json!({"iss": iss, "sub": "someone"}))
    )
}

#[tokio::test]
async fn valid_answers_live_until_the_max_ttl() {
    let issuer = issuer().await;
    issuer.set_introspection_answer("tok", active());
    let app = layered(
        builder(&issuer.introspection_endpoint())
            .cache_max_ttl(MAX_TTL)
            .build()
            .unwrap(),
    );
    for _ in 0..20 {
        assert_eq!(outcome(&app.call("tok").await), expected(OK));
    }
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);
    // Revoked at the server: honoured until the entry expires, refused after.
    issuer.set_introspection_answer("tok", json!({"active": false}));
    tokio::time::sleep(MAX_TTL + Duration::from_millis(250)).await;
    assert_eq!(outcome(&app.call("tok").await), expected(INVALID));
    assert_eq!(issuer.requests(Endpoint::Introspection), 2);
}

#[tokio::test]
async fn cached_answers_expire_at_exp() {
    let issuer = issuer().await;
    // Room for the first two calls on a loaded machine; the cache policy itself (the entry
    // ends at `exp`) is unit-tested in the crate.
    let exp = now() + 3.0;
    issuer.set_introspection_answer(
        "short",
        active_with(|a| {
            a.insert("exp".into(), json!(exp));
        }),
    );
    let app = layered(
        builder(&issuer.introspection_endpoint())
            .leeway(Duration::ZERO)
            .cache_max_ttl(Duration::from_secs(3600))
            .build()
            .unwrap(),
    );
    assert_eq!(outcome(&app.call("short").await), expected(OK));
    assert_eq!(outcome(&app.call("short").await), expected(OK));
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);
    let wait = exp - now() + 0.2;
    tokio::time::sleep(Duration::from_secs_f64(wait.max(0.0))).await;
    // The entry is gone; the server still says "active" with the old exp, which is refused.
    assert_eq!(outcome(&app.call("short").await), expected(INVALID));
    assert_eq!(issuer.requests(Endpoint::Introspection), 2);
}

#[tokio::test]
async fn cache_can_be_turned_off() {
    let issuer = issuer().await;
    issuer.set_introspection_answer("tok", active());
    let app = layered(
        builder(&issuer.introspection_endpoint())
            .cache_capacity(0)
            .build()
            .unwrap(),
    );
    for _ in 0..3 {
        assert_eq!(outcome(&app.call("tok").await), expected(OK));
    }
    assert_eq!(issuer.requests(Endpoint::Introspection), 3);
}

#[test]
fn debug_redacts_the_client_secret() {
    for verifier in [
        builder("https://as.example.com/introspect")
            .client_secret_basic("rs", "hunter2")
            .build()
            .unwrap(),
        builder("https://as.example.com/introspect")
            .client_secret_post("rs", "hunter2")
            .build()
            .unwrap(),
    ] {
        let debug = format!("{verifier:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }
    let debug = format!(
        "{:?}",
        builder("https://as.example.com/introspect").client_secret_basic("rs", "hunter2")
    );
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[test]
fn plain_http_is_refused_except_on_loopback() {
    use mcp_auth::ConfigError as IntrospectionConfigError;
    let err = builder("http://as.example.com/introspect")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, IntrospectionConfigError::InvalidUrl { .. }),
        "{err}"
    );
    assert!(builder("http://localhost:9000/introspect").build().is_ok());
    assert!(
        builder("http://as.example.com/introspect")
            .danger_allow_http(true)
            .build()
            .is_ok()
    );
    let err = IntrospectionVerifier::discover("http://as.example.com", "rs", "x").unwrap_err();
    assert!(
        matches!(err, IntrospectionConfigError::InvalidIssuer { .. }),
        "{err}"
    );
    let err = builder("https://as.example.com/introspect")
        .http_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            IntrospectionConfigError::InvalidSetting {
                name: "http_timeout",
                ..
            }
        ),
        "{err}"
    );
}

/// Serves every connection one `200` answer with the JSON `body` of the moment, after reading
/// the request: an introspection endpoint whose bytes the test chooses.
async fn raw_answer_server(body: Arc<std::sync::Mutex<String>>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0_u8; 4096];
                // The head, then as much body as it announces.
                loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|line| line.strip_prefix("content-length:"))
                            .and_then(|n| n.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

/// An answer that names a member twice reads one way here and another in `serde_json` (the
/// last one wins): `"active": false, …, "active": true` is no answer, `503`, never a pass.
/// Its control: the same answer without the first `active` passes.
#[tokio::test]
async fn an_answer_naming_a_member_twice_is_no_answer() {
    let valid = active().to_string();
    let twice = format!(r#"{{"active":false,{}"#, &valid[1..]);
    assert_eq!(
        serde_json::from_str::<Value>(&twice).unwrap()["active"],
        true
    );
    let body = Arc::new(std::sync::Mutex::new(twice));
    let endpoint = raw_answer_server(Arc::clone(&body)).await;
    let verifier = builder(&endpoint).cache_capacity(0).build().unwrap();
    let app = layered(verifier.clone());
    let res = app.call("tok").await;
    assert_eq!(outcome(&res), expected(UNAVAILABLE));
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(app.inner_calls(), 0);
    let err = verifier.verify("tok").await.unwrap_err();
    assert_eq!(
        err.description(),
        "introspection response names a member twice"
    );

    // Control: the answer as the server meant it.
    *body.lock().unwrap() = valid;
    assert_eq!(outcome(&app.call("tok").await), expected(OK));
    assert_eq!(app.inner_calls(), 1);
}
