//! The findings of the security review (issue #10), each through the real `Service`: a
//! rotated key, the `Origin` defaults, alternate spellings of the resource's host.

#![cfg(feature = "testing")]

use std::time::{Duration, SystemTime};

use axum::{Router, body::Body, routing::any};
use http::{Method, Request, Response, StatusCode, header};
use mcp_auth::{
    AuthInfo, McpAuth, StreamExpiry,
    testing::{DevIssuer, Endpoint, StaticVerifier},
    verifier::{JwtVerifier, jwt::TrustedIssuer},
};
use tower::ServiceExt;

const RESOURCE: &str = "http://127.0.0.1:3000/mcp";

fn app(auth: McpAuth) -> Router {
    Router::new()
        .route("/mcp", any(|| async { "reached the tools" }))
        .layer(auth)
}

async fn send(app: &Router, method: Method, headers: &[(&str, &str)]) -> Response<Body> {
    let mut req = Request::builder().method(method).uri("/mcp");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    app.clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible")
}

fn retry_after(res: &Response<Body>) -> Option<u64> {
    res.headers()
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A key published after our last fetch is not a forgery: until a refetch is allowed, its
/// tokens get `503` with a `Retry-After` no longer than the cooldown, then `200`, without a
/// restart. A forged kid on a token issued before the fetch stays `401`, and the flood of
/// forged kids still costs at most one fetch per interval.
#[tokio::test]
async fn a_rotated_key_is_undecidable_until_the_next_fetch_not_invalid() {
    let issuer = DevIssuer::builder()
        .default_resource(RESOURCE)
        .start()
        .await
        .expect("issuer starts");
    let cooldown = Duration::from_secs(3);
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .jwks_min_refresh_interval(cooldown)
        .build()
        .expect("verifier builds");
    let app = app(McpAuth::builder(RESOURCE)
        .verifier(verifier)
        .build()
        .expect("layer builds"));
    let bearer = |token: &str| format!("Bearer {token}");

    // The first token makes the layer fetch the key set.
    let old = issuer.token().subject("alice").sign();
    let res = send(&app, Method::POST, &[("authorization", &bearer(&old))]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let fetched = SystemTime::now();

    // A second later the authorization server rotates; a token with the new key arrives.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _new_key = issuer.rotate_key();
    let new = issuer.token().subject("alice").sign();
    let res = send(&app, Method::POST, &[("authorization", &bearer(&new))]).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let wait = retry_after(&res).expect("Retry-After on the 503");
    assert!(
        (1..=cooldown.as_secs()).contains(&wait),
        "Retry-After {wait} s is within the cooldown"
    );
    assert!(!res.headers().contains_key(header::WWW_AUTHENTICATE));

    // A forged kid on a token issued before the fetch is a forgery, during the cooldown too.
    let forged = issuer
        .token()
        .subject("mallory")
        .kid("forged")
        .issued_at(fetched - Duration::from_secs(600))
        .sign();
    let res = send(&app, Method::POST, &[("authorization", &bearer(&forged))]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // So is one whose own claims refuse it, whatever key signed it: an unknown kid with an
    // `iat` after the fetch buys no 503 when the token is expired or dated in the future.
    let day = Duration::from_secs(86_400);
    for (what, forged) in [
        (
            "issued now, expired an hour ago",
            issuer
                .token()
                .subject("mallory")
                .kid("forged")
                .issued_at(SystemTime::now())
                .expires_at(SystemTime::now() - Duration::from_secs(3_600)),
        ),
        (
            "issued tomorrow, expired an hour ago",
            issuer
                .token()
                .subject("mallory")
                .kid("forged")
                .issued_at(SystemTime::now() + day)
                .expires_at(SystemTime::now() - Duration::from_secs(3_600)),
        ),
        (
            "issued tomorrow",
            issuer
                .token()
                .subject("mallory")
                .kid("forged")
                .issued_at(SystemTime::now() + day)
                .expires_at(SystemTime::now() + day + day),
        ),
    ] {
        let res = send(
            &app,
            Method::POST,
            &[("authorization", &bearer(&forged.sign()))],
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(error_code(&res).as_deref(), Some("invalid_token"), "{what}");
    }
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        1,
        "no fetch during the cooldown"
    );

    // Once the cooldown passes, the same token is accepted: the layer fetched again.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let res = send(&app, Method::POST, &[("authorization", &bearer(&new))]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
    // The old key is still published, and its tokens still work.
    let res = send(&app, Method::POST, &[("authorization", &bearer(&old))]).await;
    assert_eq!(res.status(), StatusCode::OK);
}

fn alice() -> StaticVerifier {
    StaticVerifier::new().with_token(
        "alice",
        AuthInfo::builder()
            .subject("alice")
            .audience(RESOURCE)
            .build(),
    )
}

fn error_code(res: &Response<Body>) -> Option<String> {
    let value = res.headers().get(header::WWW_AUTHENTICATE)?.to_str().ok()?;
    let start = value.find("error=\"")? + 7;
    let end = value[start..].find('"')? + start;
    Some(value[start..end].to_owned())
}

/// The MCP transport requires `Origin` validation; it is on without configuration.
#[tokio::test]
async fn origin_is_checked_by_default() {
    let default = app(McpAuth::builder(RESOURCE)
        .authorization_server("http://127.0.0.1:9")
        .verifier(alice())
        .build()
        .expect("layer builds"));
    let token = ("authorization", "Bearer alice");
    let preflight = ("access-control-request-method", "POST");
    struct Case {
        name: &'static str,
        method: Method,
        headers: Vec<(&'static str, &'static str)>,
        status: StatusCode,
    }
    let cases = [
        Case {
            name: "no Origin (not a browser)",
            method: Method::POST,
            headers: vec![token],
            status: StatusCode::OK,
        },
        Case {
            name: "the resource's own origin",
            method: Method::POST,
            headers: vec![token, ("origin", "http://127.0.0.1:3000")],
            status: StatusCode::OK,
        },
        Case {
            name: "another origin",
            method: Method::POST,
            headers: vec![token, ("origin", "https://evil.example")],
            status: StatusCode::FORBIDDEN,
        },
        Case {
            name: "another port of the same host",
            method: Method::POST,
            headers: vec![token, ("origin", "http://127.0.0.1:3001")],
            status: StatusCode::FORBIDDEN,
        },
        Case {
            name: "the opaque origin",
            method: Method::POST,
            headers: vec![token, ("origin", "null")],
            status: StatusCode::FORBIDDEN,
        },
        Case {
            name: "a preflight from another origin",
            method: Method::OPTIONS,
            headers: vec![preflight, ("origin", "https://evil.example")],
            status: StatusCode::FORBIDDEN,
        },
        Case {
            name: "a preflight from the resource's origin",
            method: Method::OPTIONS,
            headers: vec![preflight, ("origin", "http://127.0.0.1:3000")],
            status: StatusCode::OK,
        },
        // A browser's preflight always names its origin: one without needs a token. (Not a
        // defence by itself: anyone can add the header. What keeps a preflight harmless is
        // that it carries no body to the handler: `a_preflight_reaches_the_handler_without_a_body`.)
        Case {
            name: "a preflight without Origin",
            method: Method::OPTIONS,
            headers: vec![preflight],
            status: StatusCode::UNAUTHORIZED,
        },
        Case {
            name: "the same with a token",
            method: Method::OPTIONS,
            headers: vec![preflight, token],
            status: StatusCode::OK,
        },
    ];
    for case in &cases {
        let res = send(&default, case.method.clone(), &case.headers).await;
        assert_eq!(res.status(), case.status, "{}", case.name);
        if case.status == StatusCode::FORBIDDEN {
            // Refused before authentication: the challenge carries no error, the body says
            // why.
            assert_eq!(error_code(&res), None, "{}", case.name);
            let body = axum::body::to_bytes(res.into_body(), 1024)
                .await
                .expect("body");
            assert!(
                String::from_utf8_lossy(&body).contains("forbidden_origin"),
                "{}",
                case.name
            );
        }
    }

    // An allow-list adds origins; the resource's own stays allowed.
    let listed = app(McpAuth::builder(RESOURCE)
        .authorization_server("http://127.0.0.1:9")
        .verifier(alice())
        .allowed_origins(["https://app.example.com"])
        .build()
        .expect("layer builds"));
    for (origin, status) in [
        ("https://app.example.com", StatusCode::OK),
        ("http://127.0.0.1:3000", StatusCode::OK),
        ("https://evil.example", StatusCode::FORBIDDEN),
        ("null", StatusCode::FORBIDDEN),
    ] {
        let res = send(&listed, Method::POST, &[token, ("origin", origin)]).await;
        assert_eq!(res.status(), status, "{origin}");
    }

    // Only the explicit danger switch turns the check off.
    let any = app(McpAuth::builder(RESOURCE)
        .authorization_server("http://127.0.0.1:9")
        .verifier(alice())
        .danger_allow_any_origin(true)
        .build()
        .expect("layer builds"));
    for case in &cases {
        let res = send(&any, case.method.clone(), &case.headers).await;
        // Every origin passes; a request without a token still needs one.
        let status = match case.status {
            StatusCode::FORBIDDEN => StatusCode::OK,
            status => status,
        };
        assert_eq!(res.status(), status, "{} (any origin)", case.name);
    }
}

/// A CORS preflight passes without a token, and so carries nothing a token would vouch for:
/// an `OPTIONS` that brings a body is no preflight, and a preflight reaches the handler with
/// an empty body whatever follows its headers. The headers are the client's to write: a
/// handler that answers any method would otherwise run a tool call with no token at all.
#[tokio::test]
async fn a_preflight_reaches_the_handler_without_a_body() {
    let app = Router::new()
        .route(
            "/mcp",
            any(
                |headers: http::HeaderMap, body: axum::body::Bytes| async move {
                    // What the handler was given beside the body.
                    let given: Vec<&str> = ["mcp-session-id", "last-event-id", "upgrade"]
                        .into_iter()
                        .filter(|name| headers.contains_key(*name))
                        .collect();
                    format!("{} bytes{}", body.len(), given.join(" "))
                },
            ),
        )
        .layer(
            McpAuth::builder(RESOURCE)
                .authorization_server("http://127.0.0.1:9")
                .verifier(alice())
                .build()
                .expect("layer builds"),
        );
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete"}}"#;
    let send = |headers: &[(&'static str, String)], body: &'static str| {
        let mut req = Request::builder().method(Method::OPTIONS).uri("/mcp");
        for (name, value) in [
            ("origin", "http://127.0.0.1:3000"),
            ("access-control-request-method", "POST"),
        ] {
            req = req.header(name, value);
        }
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let req = req.body(Body::from(body)).expect("request");
        let app = app.clone();
        async move {
            let res = app.oneshot(req).await.expect("infallible");
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 1024)
                .await
                .expect("body");
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let length = ("content-length", call.len().to_string());
    let token = ("authorization", "Bearer alice".to_owned());

    // A body declared by its length, or chunked: no preflight, a token is needed.
    let (status, _) = send(std::slice::from_ref(&length), call).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let chunked = ("transfer-encoding", "chunked".to_owned());
    let (status, _) = send(&[chunked], call).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Control: with a token, the same request is served, body and all.
    let (status, body) = send(&[length, token.clone()], call).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("{} bytes", call.len()));

    // A body no header announced (as HTTP/2 allows) is not handed on.
    let (status, body) = send(&[], call).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "0 bytes");
    // A browser's preflight, with `Content-Length: 0` or none: passes, as before.
    let (status, body) = send(&[("content-length", "0".to_owned())], "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "0 bytes"));
    let (status, body) = send(&[], "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "0 bytes"));

    // Nor a session: a preflight naming a session id (to resume its stream, or end it, at a
    // handler that takes any method for a GET or a DELETE) goes on without it.
    let session = ("mcp-session-id", "victims-session".to_owned());
    let last_event = ("last-event-id", "42".to_owned());
    let (status, body) = send(&[session, last_event], "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "0 bytes"));
    // An upgrade is no preflight (a browser's never asks for one): it needs a token.
    let upgrade = ("upgrade", "websocket".to_owned());
    let (status, _) = send(std::slice::from_ref(&upgrade), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = send(&[upgrade, token], "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "0 bytesupgrade"));
}

/// Audiences compare as RFC 3986 normalises URIs, never as a browser re-reads a host: an
/// alternate spelling of `127.0.0.1` is another resource.
#[tokio::test]
async fn alternate_spellings_of_the_host_are_other_audiences() {
    let verifier = StaticVerifier::new();
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server("http://127.0.0.1:9")
        .verifier(verifier.clone())
        .build()
        .expect("layer builds");
    let app = app(auth);
    let cases = [
        ("http://127.0.0.1:3000/mcp", StatusCode::OK),
        ("HTTP://127.0.0.1:3000/mcp", StatusCode::OK),
        ("http://127.0.0.1:3000/./mcp", StatusCode::OK),
        ("http://2130706433:3000/mcp", StatusCode::UNAUTHORIZED),
        ("http://0x7f.0.0.1:3000/mcp", StatusCode::UNAUTHORIZED),
        ("http://0177.0.0.1:3000/mcp", StatusCode::UNAUTHORIZED),
        ("http://127.1:3000/mcp", StatusCode::UNAUTHORIZED),
        ("http://127.0.0.1:03000/mcp", StatusCode::UNAUTHORIZED),
        (
            "http://[::ffff:127.0.0.1]:3000/mcp",
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (i, (audience, status)) in cases.iter().enumerate() {
        let token = format!("token-{i}");
        verifier.insert(
            token.clone(),
            AuthInfo::builder().subject("a").audience(*audience).build(),
        );
        let value = format!("Bearer {token}");
        let res = send(&app, Method::POST, &[("authorization", &value)]).await;
        assert_eq!(res.status(), *status, "{audience}");
        if *status == StatusCode::UNAUTHORIZED {
            assert_eq!(
                error_code(&res).as_deref(),
                Some("invalid_token"),
                "{audience}"
            );
        }
    }
}

/// An endless event stream: one `data:` frame every 50 ms.
struct Ticks(tokio::time::Interval);

impl http_body::Body for Ticks {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.0.poll_tick(cx).map(|_| {
            Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
                b"data: tick\n\n",
            ))))
        })
    }
}

/// An event stream opened with a token ends when the token expires (plus 60 s of leeway), so
/// the client reconnects with a fresh one: by default the streams opened by `GET`, with
/// `StreamExpiry::All` the responses to `POST` too; with `StreamExpiry::Never`, none.
#[tokio::test]
async fn event_streams_end_when_their_token_expires_if_asked() {
    use http_body_util::BodyExt;

    let stream = || async {
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::new(Ticks(tokio::time::interval(
                Duration::from_millis(50),
            ))))
            .expect("response")
    };
    let build = |policy: Option<StreamExpiry>| {
        // Expired 58 s ago: still within the verifier's 60 s of leeway, and its stream ends
        // 2 s from now.
        let exp = SystemTime::now() - Duration::from_secs(58);
        let verifier = StaticVerifier::new().with_token(
            "alice",
            AuthInfo::builder()
                .subject("alice")
                .audience(RESOURCE)
                .expires_at(exp)
                .build(),
        );
        let mut auth = McpAuth::builder(RESOURCE)
            .authorization_server("http://127.0.0.1:9")
            .verifier(verifier);
        if let Some(policy) = policy {
            auth = auth.stream_expiry(policy);
        }
        let auth = auth.build().expect("layer builds");
        Router::new().route("/mcp", any(stream)).layer(auth)
    };
    let frames_within = |app: Router, method: Method, limit: Duration| async move {
        let res = send(&app, method, &[("authorization", "Bearer alice")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let mut body = res.into_body();
        let mut frames = 0_u32;
        let ended = tokio::time::timeout(limit, async {
            while let Some(frame) = body.frame().await {
                frame.expect("frame");
                frames += 1;
            }
        })
        .await
        .is_ok();
        (ended, frames)
    };

    let ends = [
        ("default, GET", None, Method::GET),
        ("All, GET", Some(StreamExpiry::All), Method::GET),
        ("All, POST", Some(StreamExpiry::All), Method::POST),
    ];
    for (name, policy, method) in ends {
        let (ended, frames) = frames_within(build(policy), method, Duration::from_secs(6)).await;
        assert!(ended, "{name}: the stream ended at the token's expiry");
        assert!(
            frames >= 10,
            "{name}: it streamed until then: {frames} frames"
        );
    }

    // Controls: a POST response stream by default, and any stream with `Never`, are still
    // going after the same time.
    let goes_on = [
        ("default, POST", None, Method::POST),
        ("Never, GET", Some(StreamExpiry::Never), Method::GET),
    ];
    for (name, policy, method) in goes_on {
        let (ended, frames) = frames_within(build(policy), method, Duration::from_secs(4)).await;
        assert!(!ended, "{name}: the stream goes on");
        assert!(frames >= 40, "{name}: {frames} frames");
    }
}

/// A flood of distinct garbage tokens is not a flood of introspection calls: the calls in
/// flight stay within the bound, what cannot get a slot gets `503` with `Retry-After` (never a
/// queue without end, never a pass), cached good tokens are served throughout, and new tokens
/// work again afterwards.
#[tokio::test]
async fn an_introspection_flood_is_bounded() {
    use mcp_auth::{testing::Endpoint, verifier::IntrospectionVerifier};

    const BOUND: usize = 8;
    let issuer = DevIssuer::builder()
        .client("rs", "rs-secret")
        .default_resource(RESOURCE)
        .start()
        .await
        .expect("issuer starts");
    issuer.set_delay(Endpoint::Introspection, Duration::from_millis(50));
    let verifier = IntrospectionVerifier::builder()
        .endpoint(issuer.introspection_endpoint())
        .issuer(issuer.issuer())
        .client_secret_basic("rs", "rs-secret")
        .max_concurrent_requests(BOUND)
        .build()
        .expect("verifier builds");
    let app = app(McpAuth::builder(RESOURCE)
        .verifier(verifier)
        .build()
        .expect("layer builds"));
    let good = format!(
        "Bearer {}",
        issuer.opaque_token(&issuer.token().subject("alice"))
    );
    assert_eq!(
        send(&app, Method::POST, &[("authorization", &good)])
            .await
            .status(),
        StatusCode::OK,
        "the good token is cached before the flood"
    );

    let mut flood = Vec::new();
    for i in 0..5_000 {
        let app = app.clone();
        flood.push(tokio::spawn(async move {
            let value = format!("Bearer garbage-{i}");
            let res = send(&app, Method::POST, &[("authorization", &value)]).await;
            (
                res.status(),
                res.headers().contains_key(header::RETRY_AFTER),
            )
        }));
    }
    // While the flood runs, the cached token is served, each request promptly.
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let res = send(&app, Method::POST, &[("authorization", &good)]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a cached token waited {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut refused, mut unavailable) = (0, 0);
    for task in flood {
        let (status, retry_after) = task.await.expect("joins");
        match status {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(retry_after, "503 without Retry-After");
                unavailable += 1;
            }
            other => panic!("a garbage token got {other}"),
        }
    }
    assert_eq!(refused + unavailable, 5_000);
    assert!(unavailable > 0, "the bound was reached ({refused} refused)");
    let peak = issuer.peak_concurrency(Endpoint::Introspection);
    assert!(
        (1..=BOUND as u64).contains(&peak),
        "{peak} introspection calls in flight at once"
    );
    assert!(
        issuer.requests(Endpoint::Introspection) < 5_000,
        "not one call per garbage token"
    );
    // Control: once the flood is over, a new token is introspected and accepted.
    let fresh = format!(
        "Bearer {}",
        issuer.opaque_token(&issuer.token().subject("bob"))
    );
    assert_eq!(
        send(&app, Method::POST, &[("authorization", &fresh)])
            .await
            .status(),
        StatusCode::OK
    );
}

/// An `exp` so late that adding the layer's expiry leeway overflows the clock (a custom
/// verifier may return any time) ends no stream: the request passes, never a panic. Its
/// control, an ordinary `exp`, passes the same way.
#[tokio::test]
async fn an_exp_at_the_end_of_time_passes_without_a_panic() {
    let end_of_time = SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(u64::try_from(i64::MAX).expect("fits")))
        .expect("the latest time this platform has");
    let info = |exp: SystemTime| {
        AuthInfo::builder()
            .subject("alice")
            .audience(RESOURCE)
            .expires_at(exp)
            .build()
    };
    let verifier = StaticVerifier::new()
        .with_token("late", info(end_of_time))
        .with_token(
            "usual",
            info(SystemTime::now() + Duration::from_secs(3_600)),
        );
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(verifier)
        .stream_expiry(StreamExpiry::All)
        .build()
        .expect("builds");
    let app = app(auth);
    for token in ["usual", "late"] {
        for method in [Method::GET, Method::POST] {
            let value = format!("Bearer {token}");
            let res = send(&app, method.clone(), &[("authorization", &value)]).await;
            assert_eq!(res.status(), StatusCode::OK, "{token} {method}");
        }
    }
}
