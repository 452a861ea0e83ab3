//! The layer through its real `Service`: every branch of the request flow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use mcp_auth::{
    AuthInfo, ConfigError, McpAuth, TokenVerifier, VerifyError,
    challenge::{AuthError, AuthErrorKind},
    policy::ScopeHierarchy,
    testing::StaticVerifier,
};
use serde_json::Value;

/// The request body the inner service gets.
type Inner = mcp_auth::body::RequestBody<Full<Bytes>>;
use tower::{Layer, Service, ServiceExt, service_fn};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const METADATA_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const CHALLENGE: &str =
    "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\"";

fn info(aud: &[&str], scopes: &[&str]) -> AuthInfo {
    AuthInfo::builder()
        .issuer("https://auth.example.com")
        .subject("alice")
        .client_id("client-1")
        .audiences(aud.iter().copied())
        .scopes(scopes.iter().copied())
        .build()
}

fn verifier() -> StaticVerifier {
    StaticVerifier::new()
        .with_token("good", info(&[RESOURCE], &["mcp:read"]))
        .with_token("noscope", info(&[RESOURCE], &[]))
        .with_token("otherscope", info(&[RESOURCE], &["files:read"]))
        .with_token("admin", info(&[RESOURCE], &["admin"]))
        .with_token(
            "wrongaud",
            info(&["https://other.example.com/mcp"], &["mcp:read"]),
        )
        .with_token(
            "prefixaud",
            info(&["https://mcp.example.com"], &["mcp:read"]),
        )
        .with_token(
            "slashaud",
            info(&["https://mcp.example.com/mcp/"], &["mcp:read"]),
        )
        .with_token("noaud", info(&[], &["mcp:read"]))
        .with_token(
            "upperaud",
            info(&["HTTPS://MCP.EXAMPLE.COM/mcp"], &["mcp:read"]),
        )
        .with_token(
            "manyaud",
            info(&["https://a.example", RESOURCE], &["mcp:read"]),
        )
        .with_token("aliasaud", info(&["api://mcp"], &["mcp:read"]))
}

fn layer(verifier: impl TokenVerifier) -> McpAuth {
    McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(verifier)
        .required_scopes(["mcp:read"])
        .scope_hierarchy(ScopeHierarchy::new().implies("admin", ["mcp:read"]))
        .audience("api://mcp")
        .allowed_origins(["https://app.example.com"])
        .public_path("/health")
        .build()
        .unwrap()
}

/// What the inner service saw.
#[derive(Clone, Default)]
struct Seen {
    calls: Arc<AtomicUsize>,
}

/// An inner service that echoes what it received.
fn echo(
    seen: Seen,
) -> impl Service<Request<Inner>, Response = Response<Full<Bytes>>, Error = Infallible> + Clone {
    service_fn(move |req: Request<Inner>| {
        let seen = seen.clone();
        async move {
            seen.calls.fetch_add(1, Ordering::SeqCst);
            let saw_auth = req.headers().contains_key(header::AUTHORIZATION);
            let subject = req
                .extensions()
                .get::<AuthInfo>()
                .and_then(|i| i.subject().map(str::to_owned));
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let mut res = Response::new(Full::new(body));
            res.headers_mut()
                .insert("x-saw-authorization", saw_auth.to_string().parse().unwrap());
            res.headers_mut().insert(
                "x-subject",
                subject.unwrap_or_else(|| "-".into()).parse().unwrap(),
            );
            Ok(res)
        }
    })
}

struct Outcome {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    error: Option<AuthError>,
}

async fn send(auth: &McpAuth, seen: &Seen, req: Request<Full<Bytes>>) -> Outcome {
    let res = auth.layer(echo(seen.clone())).oneshot(req).await.unwrap();
    let error = res.extensions().get::<AuthError>().cloned();
    let (parts, body) = res.into_parts();
    Outcome {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
        error,
    }
}

fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut req = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Full::new(Bytes::from_static(b"{\"jsonrpc\":\"2.0\"}")))
        .unwrap()
}

struct Case {
    name: &'static str,
    method: Method,
    uri: &'static str,
    headers: &'static [(&'static str, &'static str)],
    status: StatusCode,
    /// The exact `WWW-Authenticate`, or `None` when there must be none.
    challenge: Option<&'static str>,
    /// The `error` in the JSON body of a rejection.
    error: Option<&'static str>,
    inner_called: bool,
}

fn case(
    name: &'static str,
    headers: &'static [(&'static str, &'static str)],
    status: StatusCode,
    challenge: Option<&'static str>,
    error: Option<&'static str>,
) -> Case {
    Case {
        name,
        method: Method::POST,
        uri: "/mcp",
        headers,
        status,
        challenge,
        error,
        inner_called: status.is_success(),
    }
}

const MISSING: &str = "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\"";
const NO_AUD: &str = "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\", error=\"invalid_token\", error_description=\"the access token names no audience: it must be issued for this resource\"";
const AUD: &str = "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\", error=\"invalid_token\", error_description=\"the access token is not meant for this resource (audience mismatch)\"";
const UNKNOWN: &str = "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\", error=\"invalid_token\", error_description=\"unknown access token\"";
const SCOPE: &str = "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\", error=\"insufficient_scope\", error_description=\"the access token lacks a scope this request needs\"";

#[tokio::test]
async fn request_flow_table() {
    use StatusCode as S;
    let ok = S::OK;
    let cases = [
        case(
            "valid token passes",
            &[("authorization", "Bearer good")],
            ok,
            None,
            None,
        ),
        case(
            "scheme is case-insensitive",
            &[("authorization", "bEaReR good")],
            ok,
            None,
            None,
        ),
        case(
            "broader scope covers required",
            &[("authorization", "Bearer admin")],
            ok,
            None,
            None,
        ),
        case(
            "audience host case-insensitive",
            &[("authorization", "Bearer upperaud")],
            ok,
            None,
            None,
        ),
        case(
            "one of many audiences",
            &[("authorization", "Bearer manyaud")],
            ok,
            None,
            None,
        ),
        case(
            "configured extra audience",
            &[("authorization", "Bearer aliasaud")],
            ok,
            None,
            None,
        ),
        case(
            "missing token gets 401 without error",
            &[],
            S::UNAUTHORIZED,
            Some(MISSING),
            Some("unauthorized"),
        ),
        case(
            "other scheme is no bearer credentials",
            &[("authorization", "Basic dTpw")],
            S::UNAUTHORIZED,
            Some(MISSING),
            Some("unauthorized"),
        ),
        case(
            "unknown token",
            &[("authorization", "Bearer nope")],
            S::UNAUTHORIZED,
            Some(UNKNOWN),
            Some("invalid_token"),
        ),
        case(
            "wrong audience",
            &[("authorization", "Bearer wrongaud")],
            S::UNAUTHORIZED,
            Some(AUD),
            Some("invalid_token"),
        ),
        case(
            "origin-only audience",
            &[("authorization", "Bearer prefixaud")],
            S::UNAUTHORIZED,
            Some(AUD),
            Some("invalid_token"),
        ),
        case(
            "trailing slash audience on a path",
            &[("authorization", "Bearer slashaud")],
            S::UNAUTHORIZED,
            Some(AUD),
            Some("invalid_token"),
        ),
        case(
            "missing audience",
            &[("authorization", "Bearer noaud")],
            S::UNAUTHORIZED,
            Some(NO_AUD),
            Some("invalid_token"),
        ),
        case(
            "no scopes",
            &[("authorization", "Bearer noscope")],
            S::FORBIDDEN,
            Some(SCOPE),
            Some("insufficient_scope"),
        ),
        case(
            "other scopes",
            &[("authorization", "Bearer otherscope")],
            S::FORBIDDEN,
            Some(SCOPE),
            Some("insufficient_scope"),
        ),
        case(
            "allowed origin",
            &[
                ("origin", "https://app.example.com"),
                ("authorization", "Bearer good"),
            ],
            ok,
            None,
            None,
        ),
        case(
            "allowed origin any case",
            &[
                ("origin", "https://APP.example.com"),
                ("authorization", "Bearer good"),
            ],
            ok,
            None,
            None,
        ),
        case(
            "bad origin before auth",
            &[
                ("origin", "https://evil.example.com"),
                ("authorization", "Bearer good"),
            ],
            S::FORBIDDEN,
            Some(MISSING),
            Some("forbidden_origin"),
        ),
        case(
            "bad origin without token",
            &[("origin", "https://evil.example.com")],
            S::FORBIDDEN,
            Some(MISSING),
            Some("forbidden_origin"),
        ),
        case(
            "null origin",
            &[("origin", "null")],
            S::FORBIDDEN,
            Some(MISSING),
            Some("forbidden_origin"),
        ),
        case(
            "a second, bad origin",
            &[
                ("origin", "https://app.example.com"),
                ("origin", "https://evil.example.com"),
                ("authorization", "Bearer good"),
            ],
            S::FORBIDDEN,
            Some(MISSING),
            Some("forbidden_origin"),
        ),
        Case {
            name: "malformed header",
            method: Method::POST,
            uri: "/mcp",
            headers: &[("authorization", "Bearer a b")],
            status: S::BAD_REQUEST,
            challenge: Some(
                "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\", error=\"invalid_request\", error_description=\"the credentials are malformed (not an RFC 6750 b64token)\"",
            ),
            error: Some("invalid_request"),
            inner_called: false,
        },
        Case {
            name: "empty bearer",
            method: Method::POST,
            uri: "/mcp",
            headers: &[("authorization", "Bearer ")],
            status: S::BAD_REQUEST,
            challenge: Some(
                "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\", error=\"invalid_request\", error_description=\"the credentials are empty\"",
            ),
            error: Some("invalid_request"),
            inner_called: false,
        },
        Case {
            name: "two authorization headers",
            method: Method::POST,
            uri: "/mcp",
            headers: &[
                ("authorization", "Bearer good"),
                ("authorization", "Bearer good"),
            ],
            status: S::BAD_REQUEST,
            challenge: Some(
                "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\", error=\"invalid_request\", error_description=\"more than one Authorization header\"",
            ),
            error: Some("invalid_request"),
            inner_called: false,
        },
        Case {
            name: "token in query",
            method: Method::POST,
            uri: "/mcp?access_token=good",
            headers: &[],
            status: S::BAD_REQUEST,
            challenge: Some(
                "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\", error=\"invalid_request\", error_description=\"access tokens in the URI query are not accepted; use the Authorization header\"",
            ),
            error: Some("invalid_request"),
            inner_called: false,
        },
        Case {
            name: "token in query and header",
            method: Method::POST,
            uri: "/mcp?access_token=good",
            headers: &[("authorization", "Bearer good")],
            status: S::BAD_REQUEST,
            challenge: None,
            error: Some("invalid_request"),
            inner_called: false,
        },
        Case {
            name: "form body without header",
            method: Method::POST,
            uri: "/mcp",
            headers: &[("content-type", "application/x-www-form-urlencoded")],
            status: S::BAD_REQUEST,
            challenge: None,
            error: Some("invalid_request"),
            inner_called: false,
        },
        Case {
            name: "preflight from an allowed origin passes without auth",
            method: Method::OPTIONS,
            uri: "/mcp",
            headers: &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
            ],
            status: S::OK,
            challenge: None,
            error: None,
            inner_called: true,
        },
        Case {
            name: "preflight from another origin is refused",
            method: Method::OPTIONS,
            uri: "/mcp",
            headers: &[
                ("origin", "https://evil.example.com"),
                ("access-control-request-method", "POST"),
            ],
            status: S::FORBIDDEN,
            challenge: Some(MISSING),
            error: Some("forbidden_origin"),
            inner_called: false,
        },
        Case {
            name: "plain OPTIONS needs auth",
            method: Method::OPTIONS,
            uri: "/mcp",
            headers: &[],
            status: S::UNAUTHORIZED,
            challenge: Some(MISSING),
            error: Some("unauthorized"),
            inner_called: false,
        },
        Case {
            name: "public path passes without token",
            method: Method::GET,
            uri: "/health",
            headers: &[],
            status: S::OK,
            challenge: None,
            error: None,
            inner_called: true,
        },
        Case {
            name: "public path is exact",
            method: Method::GET,
            uri: "/health/x",
            headers: &[],
            status: S::UNAUTHORIZED,
            challenge: Some(MISSING),
            error: Some("unauthorized"),
            inner_called: false,
        },
        Case {
            name: "public path still checks origin",
            method: Method::GET,
            uri: "/health",
            headers: &[("origin", "https://evil.example.com")],
            status: S::FORBIDDEN,
            challenge: Some(MISSING),
            error: Some("forbidden_origin"),
            inner_called: false,
        },
    ];
    for case in cases {
        let seen = Seen::default();
        let auth = layer(verifier());
        let out = send(
            &auth,
            &seen,
            request(case.method.clone(), case.uri, case.headers),
        )
        .await;
        assert_eq!(out.status, case.status, "{}", case.name);
        let challenge = out.headers.get(header::WWW_AUTHENTICATE);
        match case.challenge {
            Some(expected) => assert_eq!(challenge.unwrap(), expected, "{}", case.name),
            None if case.error == Some("invalid_request") => {
                assert!(
                    challenge.is_some(),
                    "{}: 400 carries a challenge",
                    case.name
                );
            }
            None => assert!(challenge.is_none(), "{}: unexpected challenge", case.name),
        }
        if let Some(challenge) = challenge {
            let challenge = challenge.to_str().unwrap();
            assert!(challenge.starts_with(CHALLENGE), "{}", case.name);
            assert_eq!(
                out.headers[header::ACCESS_CONTROL_EXPOSE_HEADERS],
                "WWW-Authenticate",
                "{}",
                case.name
            );
        }
        assert_eq!(
            seen.calls.load(Ordering::SeqCst),
            usize::from(case.inner_called),
            "{}: inner called",
            case.name
        );
        match case.error {
            Some(code) => {
                let body: Value = serde_json::from_slice(&out.body).unwrap();
                assert_eq!(body["error"], code, "{}", case.name);
                assert!(
                    body["error_description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{}",
                    case.name
                );
                assert_eq!(
                    out.headers[header::CONTENT_TYPE],
                    "application/json",
                    "{}",
                    case.name
                );
                assert_eq!(
                    out.error.unwrap().kind().error_code(),
                    code,
                    "{}",
                    case.name
                );
            }
            None => {
                assert!(out.error.is_none(), "{}", case.name);
                // The inner service never sees the token.
                assert_eq!(out.headers["x-saw-authorization"], "false", "{}", case.name);
                // A preflight (the only `OPTIONS` that passes here) goes on without its
                // body; anything else with the body unchanged.
                let body = if case.method == Method::OPTIONS {
                    ""
                } else {
                    "{\"jsonrpc\":\"2.0\"}"
                };
                assert_eq!(out.body, body, "{}: body", case.name);
            }
        }
    }
}

#[tokio::test]
async fn authorized_request_carries_auth_info_and_no_authorization() {
    let seen = Seen::default();
    let out = send(
        &layer(verifier()),
        &seen,
        request(Method::POST, "/mcp", &[("authorization", "Bearer good")]),
    )
    .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.headers["x-subject"], "alice");
    assert_eq!(out.headers["x-saw-authorization"], "false");
}

#[tokio::test]
async fn insufficient_scope_lists_all_required_scopes() {
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(verifier())
        .required_scopes(["mcp:read", "files:read", "mcp:read"])
        .build()
        .unwrap();
    let out = send(
        &auth,
        &Seen::default(),
        request(
            Method::POST,
            "/mcp",
            &[("authorization", "Bearer otherscope")],
        ),
    )
    .await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    let challenge = out.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains("scope=\"mcp:read files:read\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    let body: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(body["scope"], "mcp:read files:read");
}

#[tokio::test]
async fn no_required_scopes_means_no_scope_parameter() {
    let auth = McpAuth::new(RESOURCE, "https://auth.example.com", verifier());
    let out = send(&auth, &Seen::default(), request(Method::POST, "/mcp", &[])).await;
    assert_eq!(out.status, StatusCode::UNAUTHORIZED);
    assert_eq!(out.headers[header::WWW_AUTHENTICATE], CHALLENGE);
    let ok = send(
        &auth,
        &Seen::default(),
        request(Method::POST, "/mcp", &[("authorization", "Bearer noscope")]),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn unavailable_verifier_gets_503_with_retry_after() {
    let verifier = verifier();
    verifier.set_unavailable(true);
    let seen = Seen::default();
    let auth = layer(verifier.clone());
    let out = send(
        &auth,
        &seen,
        request(Method::POST, "/mcp", &[("authorization", "Bearer good")]),
    )
    .await;
    assert_eq!(out.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(out.headers[header::RETRY_AFTER], "5");
    assert!(out.headers.get(header::WWW_AUTHENTICATE).is_none());
    let body: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(seen.calls.load(Ordering::SeqCst), 0);
    assert_eq!(verifier.calls(), 1);

    // Recovery needs no restart.
    verifier.set_unavailable(false);
    let out = send(
        &auth,
        &seen,
        request(Method::POST, "/mcp", &[("authorization", "Bearer good")]),
    )
    .await;
    assert_eq!(out.status, StatusCode::OK);
}

#[derive(Debug)]
struct Hanging;

#[async_trait]
impl TokenVerifier for Hanging {
    async fn verify(&self, _token: &str) -> Result<AuthInfo, VerifyError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn hanging_verifier_gets_503_after_the_timeout() {
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(Hanging)
        .verify_timeout(Duration::from_secs(3))
        .retry_after(Duration::from_secs(7))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let out = send(
        &auth,
        &Seen::default(),
        request(Method::POST, "/mcp", &[("authorization", "Bearer good")]),
    )
    .await;
    assert_eq!(out.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(out.headers[header::RETRY_AFTER], "7");
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}

#[tokio::test]
async fn verifier_retry_after_wins() {
    let auth = McpAuth::new(
        RESOURCE,
        "https://auth.example.com",
        mcp_auth::testing::FnVerifier::new(|_: &str| {
            Err(VerifyError::unavailable("down").with_retry_after(Duration::from_secs(30)))
        }),
    );
    let out = send(
        &auth,
        &Seen::default(),
        request(Method::POST, "/mcp", &[("authorization", "Bearer x")]),
    )
    .await;
    assert_eq!(out.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(out.headers[header::RETRY_AFTER], "30");
}

#[tokio::test]
async fn oversized_token_is_rejected_without_calling_the_verifier() {
    let verifier = verifier();
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(verifier.clone())
        .max_token_size(16)
        .build()
        .unwrap();
    let big = format!("Bearer {}", "a".repeat(17));
    let req = Request::post("/mcp")
        .header(header::AUTHORIZATION, big)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let out = send(&auth, &Seen::default(), req).await;
    assert_eq!(out.status, StatusCode::UNAUTHORIZED);
    assert_eq!(out.error.unwrap().kind(), AuthErrorKind::InvalidToken);
    assert_eq!(verifier.calls(), 0);
}

#[tokio::test]
async fn attacker_text_is_not_echoed_into_the_challenge() {
    let auth = layer(verifier());
    let values: [&[u8]; 3] = [
        b"Bearer a\"b",
        b"Bearer x, error=\"forged\"",
        b"Bearer \xff\xfe",
    ];
    for value in values {
        let mut req = request(Method::POST, "/mcp", &[]);
        req.headers_mut().insert(
            header::AUTHORIZATION,
            http::HeaderValue::from_bytes(value).unwrap(),
        );
        let value = String::from_utf8_lossy(value);
        let out = send(&auth, &Seen::default(), req).await;
        assert_eq!(out.status, StatusCode::BAD_REQUEST, "{value}");
        let challenge = out.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(!challenge.contains("forged"), "{challenge}");
        assert!(!String::from_utf8_lossy(&out.body).contains("forged"));
    }
}

#[tokio::test]
async fn metadata_is_served_at_both_well_known_paths() {
    let auth = layer(verifier());
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let seen = Seen::default();
        // Served before the Origin check and without a token.
        let out = send(
            &auth,
            &seen,
            request(Method::GET, path, &[("origin", "https://evil.example.com")]),
        )
        .await;
        assert_eq!(out.status, StatusCode::OK, "{path}");
        assert_eq!(seen.calls.load(Ordering::SeqCst), 0);
        assert_eq!(out.headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(out.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(out.headers[header::CACHE_CONTROL], "public, max-age=3600");
        assert_eq!(
            out.headers[header::CONTENT_LENGTH],
            out.body.len().to_string().as_str()
        );
        let doc: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(doc["resource"], RESOURCE);
        assert_eq!(
            doc["authorization_servers"],
            serde_json::json!(["https://auth.example.com"])
        );
        assert_eq!(
            doc["scopes_supported"],
            serde_json::json!(["mcp:read", "admin"])
        );
        assert_eq!(
            doc["bearer_methods_supported"],
            serde_json::json!(["header"])
        );
    }
    let head = send(
        &auth,
        &Seen::default(),
        request(
            Method::HEAD,
            "/.well-known/oauth-protected-resource/mcp",
            &[],
        ),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_ne!(head.headers[header::CONTENT_LENGTH], "0");

    let options = send(
        &auth,
        &Seen::default(),
        request(
            Method::OPTIONS,
            "/.well-known/oauth-protected-resource/mcp",
            &[],
        ),
    )
    .await;
    assert_eq!(options.status, StatusCode::NO_CONTENT);
    assert_eq!(
        options.headers[header::ACCESS_CONTROL_ALLOW_METHODS],
        "GET, HEAD, OPTIONS"
    );

    let post = send(
        &auth,
        &Seen::default(),
        request(
            Method::POST,
            "/.well-known/oauth-protected-resource/mcp",
            &[],
        ),
    )
    .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers[header::ALLOW], "GET, HEAD, OPTIONS");
}

#[tokio::test]
async fn metadata_document_fields() {
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .authorization_server("https://login.example.org/tenant")
        .verifier(verifier())
        .required_scopes(["mcp:read"])
        .scopes_supported(["mcp:read", "mcp:write"])
        .resource_name("Notes MCP")
        .resource_documentation("https://docs.example.com/mcp")
        .metadata_field("x_custom", serde_json::json!({"a": 1}))
        .metadata_max_age(Duration::from_secs(60))
        .build()
        .unwrap();
    let out = send(
        &auth,
        &Seen::default(),
        request(
            Method::GET,
            "/.well-known/oauth-protected-resource/mcp",
            &[],
        ),
    )
    .await;
    let doc: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "resource": RESOURCE,
            "authorization_servers": ["https://auth.example.com", "https://login.example.org/tenant"],
            "scopes_supported": ["mcp:read", "mcp:write"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Notes MCP",
            "resource_documentation": "https://docs.example.com/mcp",
            "x_custom": {"a": 1},
        })
    );
    assert_eq!(out.headers[header::CACHE_CONTROL], "public, max-age=60");
    assert_eq!(auth.metadata().url(), METADATA_URL);
}

#[tokio::test]
async fn root_resource_serves_one_well_known_path() {
    let auth = McpAuth::new(
        "https://mcp.example.com",
        "https://auth.example.com",
        verifier(),
    );
    let out = send(
        &auth,
        &Seen::default(),
        request(Method::GET, "/.well-known/oauth-protected-resource", &[]),
    )
    .await;
    assert_eq!(out.status, StatusCode::OK);
    let out = send(&auth, &Seen::default(), request(Method::POST, "/", &[])).await;
    assert_eq!(
        out.headers[header::WWW_AUTHENTICATE],
        "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource\""
    );
}

#[tokio::test]
async fn custom_rejection_body_keeps_status_challenge_and_extension() {
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(verifier())
        .on_rejection(|err: &AuthError| {
            (
                http::HeaderValue::from_static("text/plain"),
                Bytes::from(format!("nope: {}", err.kind().error_code())),
            )
        })
        .build()
        .unwrap();
    let out = send(
        &auth,
        &Seen::default(),
        request(Method::POST, "/mcp", &[("authorization", "Bearer nope")]),
    )
    .await;
    assert_eq!(out.status, StatusCode::UNAUTHORIZED);
    assert_eq!(out.body, "nope: invalid_token");
    assert_eq!(out.headers[header::CONTENT_TYPE], "text/plain");
    assert!(out.headers.contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(out.error.unwrap().kind(), AuthErrorKind::InvalidToken);
}

#[tokio::test]
async fn poll_ready_is_propagated_and_rejections_skip_the_inner_service() {
    let (mock, mut handle) = tower_test::mock::pair::<Request<Inner>, Response<Full<Bytes>>>();
    let mut service = layer(verifier()).layer(mock);

    handle.allow(0);
    let waker = futures_task_noop();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(service.poll_ready(&mut cx).is_pending());

    handle.allow(1);
    assert!(service.poll_ready(&mut cx).is_ready());
    let res = service
        .call(request(Method::POST, "/mcp", &[]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The rejected call did not use the permit: the inner service is ready for the next one.
    assert!(service.poll_ready(&mut cx).is_ready());
    let call = service.call(request(
        Method::POST,
        "/mcp",
        &[("authorization", "Bearer good")],
    ));
    let answer = tokio::spawn(async move {
        let (req, send) = handle.next_request().await.unwrap();
        assert!(!req.headers().contains_key(header::AUTHORIZATION));
        assert_eq!(
            req.extensions().get::<AuthInfo>().unwrap().subject(),
            Some("alice")
        );
        send.send_response(Response::new(Full::new(Bytes::from_static(b"inner"))));
    });
    let res = call.await.unwrap();
    answer.await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "inner");
}

fn futures_task_noop() -> std::task::Waker {
    std::task::Waker::noop().clone()
}

#[test]
fn infallible_inner_stays_infallible() {
    fn assert_infallible<S: Service<Request<Full<Bytes>>, Error = Infallible>>(_: &S) {}
    let service = layer(verifier()).layer(echo(Seen::default()));
    assert_infallible(&service);
}

#[test]
fn config_errors_name_the_offending_input() {
    let base = || McpAuth::builder(RESOURCE).verifier(StaticVerifier::new());
    let err = |b: mcp_auth::McpAuthBuilder| b.build().unwrap_err();

    assert_eq!(err(base()), ConfigError::MissingAuthorizationServer);
    assert_eq!(
        err(McpAuth::builder(RESOURCE).authorization_server("https://a.example")),
        ConfigError::MissingVerifier
    );
    assert!(matches!(
        err(McpAuth::builder("http://mcp.example.com/mcp")
            .authorization_server("https://a.example")
            .verifier(StaticVerifier::new())),
        ConfigError::InvalidResource { resource, .. } if resource == "http://mcp.example.com/mcp"
    ));
    assert!(matches!(
        err(base().authorization_server("http://a.example")),
        ConfigError::InvalidAuthorizationServer { url, .. } if url == "http://a.example"
    ));
    assert!(matches!(
        err(base().authorization_server("https://a.example").required_scopes(["offline_access"])),
        ConfigError::InvalidScope { scope, .. } if scope == "offline_access"
    ));
    assert!(matches!(
        err(base()
            .authorization_server("https://a.example")
            .required_scopes(["a b"])),
        ConfigError::InvalidScope { .. }
    ));
    assert!(matches!(
        err(base()
            .authorization_server("https://a.example")
            .allowed_origins(["https://a.example/path"])),
        ConfigError::InvalidOrigin { .. }
    ));
    assert!(matches!(
        err(base()
            .authorization_server("https://a.example")
            .public_path("health")),
        ConfigError::InvalidPath { .. }
    ));
    assert!(matches!(
        err(base()
            .authorization_server("https://a.example")
            .metadata_field("resource", "x")),
        ConfigError::InvalidMetadataField { .. }
    ));
    assert!(matches!(
        err(base()
            .authorization_server("https://a.example")
            .audience("")),
        ConfigError::InvalidAudience { .. }
    ));
    assert!(matches!(
        err(base()
            .authorization_server("https://a.example")
            .max_token_size(0)),
        ConfigError::InvalidSetting {
            name: "max_token_size",
            ..
        }
    ));
    // The dangerous opt-in allows http anywhere.
    assert!(
        McpAuth::builder("http://mcp.example.com/mcp")
            .authorization_server("http://a.example")
            .verifier(StaticVerifier::new())
            .danger_allow_http(true)
            .build()
            .is_ok()
    );
}

#[test]
#[should_panic(expected = "invalid McpAuth configuration")]
fn new_panics_on_invalid_configuration() {
    let _ = McpAuth::new(
        "not a url",
        "https://auth.example.com",
        StaticVerifier::new(),
    );
}

#[test]
fn debug_output_never_shows_tokens() {
    let auth = layer(verifier());
    let debug = format!("{auth:?}");
    assert!(!debug.contains("good"), "{debug}");
    assert!(!debug.contains("wrongaud"), "{debug}");
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_extractor_reads_auth_info() {
    use axum::{Router, body::Body, routing::post};
    let app = Router::new()
        .route(
            "/mcp",
            post(|info: AuthInfo| async move { info.subject().unwrap_or("-").to_owned() }),
        )
        .route(
            "/health",
            axum::routing::get(
                |info: Option<AuthInfo>| async move { format!("{}", info.is_some()) },
            ),
        )
        .layer(layer(verifier()));
    let res = app
        .clone()
        .oneshot(
            Request::post("/mcp")
                .header(header::AUTHORIZATION, "Bearer good")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "alice");
    let res = app
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "false");
}

/// A token's `AuthInfo` remembers the layer whose audience and global scope checks it passed,
/// so that a cached token is not checked again there: that must never let it past another
/// layer's checks, nor past a per-tool rule of the same layer.
#[tokio::test]
async fn a_token_that_passed_one_layer_is_still_checked_by_every_other() {
    const OTHER: &str = "https://other.example.com/mcp";
    // One `AuthInfo` for every request that brings the token, as a token cache hands it out.
    let verifier = StaticVerifier::new().with_token(
        "shared",
        info(&[RESOURCE, OTHER], &["mcp:read", "notes:read"]),
    );
    let build = |resource: &str, scopes: &[&str]| {
        McpAuth::builder(resource)
            .authorization_server("https://auth.example.com")
            .verifier(verifier.clone())
            .required_scopes(scopes.iter().copied())
            .tool_scopes("add_note", ["notes:write"])
            .build()
            .unwrap()
    };
    let passes = build(RESOURCE, &["mcp:read"]);
    let wants_more = build(OTHER, &["files:read"]);
    let other_resource = build("https://third.example.com/mcp", &["mcp:read"]);
    let seen = Seen::default();
    let post = |body: &str| {
        Request::post("/mcp")
            .header("authorization", "Bearer shared")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap()
    };
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let add_note = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add_note","arguments":{}}}"#;
    let get = || request(Method::GET, "/mcp", &[("authorization", "Bearer shared")]);

    for round in 0..3 {
        // Each layer in turn, each with several requests in a row, so that each finds the
        // token as it left it itself, and as another layer left it.
        for _ in 0..2 {
            for _ in 0..2 {
                let out = send(&passes, &seen, get()).await;
                assert_eq!(out.status, StatusCode::OK, "round {round}");
                let out = send(&passes, &seen, post(list)).await;
                assert_eq!(out.status, StatusCode::OK, "round {round}");
                // The layer that passed the token a moment ago: its per-tool rule still holds.
                let out = send(&passes, &seen, post(add_note)).await;
                assert_eq!(out.status, StatusCode::FORBIDDEN, "round {round}");
                let challenge = out.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
                assert!(challenge.contains("notes:write"), "{challenge}");
            }
            for req in [get(), get(), post(list), post(list), get()] {
                let out = send(&wants_more, &seen, req).await;
                assert_eq!(out.status, StatusCode::FORBIDDEN, "round {round}");
                let challenge = out.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
                assert!(
                    challenge.contains("error=\"insufficient_scope\""),
                    "{challenge}"
                );
                assert!(challenge.contains("files:read"), "{challenge}");
            }
            for req in [get(), get(), post(list), post(list), get()] {
                let out = send(&other_resource, &seen, req).await;
                assert_eq!(out.status, StatusCode::UNAUTHORIZED, "round {round}");
                let challenge = out.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
                assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
            }
        }
        // A clone of a layer is the same layer.
        let out = send(&passes.clone(), &seen, get()).await;
        assert_eq!(out.status, StatusCode::OK);
    }
    // Only the passing requests reached the inner service.
    assert_eq!(seen.calls.load(Ordering::SeqCst), 3 * (2 * 2 * 2 + 1));
}
