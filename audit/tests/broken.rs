//! The audit against servers that get things wrong on purpose: every seeded defect is reported
//! as a failure of the right check, and nothing they do right is flagged.
//!
//! The broken server (a small axum app) serves correct metadata at the path-inserted
//! well-known URL, refuses foreign `Origin`s with 403, two `Authorization` headers and form
//! tokens with 400, and hides the token from its tools. Its seeded defects:
//!
//! 1. no metadata at the root well-known URL;
//! 2. its 401 without credentials has `error="invalid_token"` and no `resource_metadata`;
//! 3. it accepts tokens in the query string;
//! 4. it accepts any token with three dot-separated parts (so foreign audiences, and worse);
//! 5. a call of `add_note` without `notes:write` gets a 200 with a JSON-RPC error, not a 403.
//!
//! The audience-blind variant verifies tokens properly (signature, issuer, times, algorithm,
//! with `mcp_auth`'s `JwtVerifier`) but never looks at the audience, and its echo tool sees the
//! `Authorization` header (defect 6): besides defects 1 to 3, only the audience checks and the
//! passthrough check may fail there.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::any,
};
use mcp_auth::{
    TokenVerifier,
    testing::{DevIssuer, KeyAlgorithm, decode_unverified},
    verifier::JwtVerifier,
};
use mcp_auth_audit::{CHECKS, Config, Mode, Outcome, Report, TrustedIssuer, run};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const ECHO_TOOL: &str = "echo_headers";

/// The checks the literal broken server must fail, in both modes (black-box: with a forged
/// token, which it accepts).
const BROKEN_BLACK_BOX_FAILURES: &[&str] = &[
    // Defect 1.
    "prm.root",
    // Defect 2.
    "challenge.resource-metadata",
    "challenge.no-error",
    // Defect 3.
    "transport.query-token",
    // Defect 4: every JWT-shaped token gets in.
    "token.alg-none",
    "token.expired",
    "token.forged",
];

/// What the trusted mode adds for the literal broken server.
const BROKEN_TRUSTED_FAILURES: &[&str] = &[
    // Defect 4.
    "trusted.wrong-audience",
    "trusted.no-audience",
    "trusted.expired",
    "trusted.not-yet-valid",
    "trusted.wrong-issuer",
    "trusted.alg-hs256",
    "trusted.alg-none",
    "trusted.unknown-key",
    "trusted.bad-signature",
    // Defect 5.
    "trusted.step-up",
];

#[tokio::test]
async fn black_box_audit_reports_every_seeded_defect_and_nothing_else() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let url = serve(issuer.issuer(), Acceptance::JwtShaped).await?;

    let report = run(&Config::new(&url)?.requests_per_second(25.0), None).await;

    assert_outcomes(
        &report,
        Mode::BlackBox,
        BROKEN_BLACK_BOX_FAILURES,
        &[
            // The 401 has no resource_metadata to follow.
            "challenge.resource-metadata-document",
        ],
    );
    assert!(
        !report.conforms(),
        "MUST failures make the exit code non-zero"
    );
    assert_detail(&report, "challenge.no-error", "error=\"invalid_token\"");
    assert_detail(&report, "prm.root", "404");
    assert_detail(&report, "transport.query-token", "expected 4xx, got 200");
    Ok(())
}

#[tokio::test]
async fn trusted_audit_reports_every_seeded_defect_and_nothing_else() -> TestResult {
    let issuer = TrustedIssuer::start(([127, 0, 0, 1], 0).into(), KeyAlgorithm::Es256).await?;
    let url = serve(issuer.issuer(), Acceptance::JwtShaped).await?;

    let config = Config::new(&url)?
        .requests_per_second(25.0)
        .tool("add_note", ["notes:write"], json!({ "text": "audit" }))
        .echo_tool(ECHO_TOOL);
    let report = run(&config, Some(&issuer)).await;

    let failures: Vec<&str> = BROKEN_BLACK_BOX_FAILURES
        .iter()
        .chain(BROKEN_TRUSTED_FAILURES)
        .copied()
        .collect();
    assert_outcomes(
        &report,
        Mode::Trusted,
        &failures,
        &[
            "challenge.resource-metadata-document",
            // It needs no scope for initialize.
            "trusted.insufficient-scope",
        ],
    );
    // Defect 5 is named for what it is.
    assert_detail(&report, "trusted.step-up", "200 with JSON-RPC error");
    assert_detail(&report, "trusted.step-up", "in-band");
    // With a token it accepts in the header, the query token is accepted too.
    assert_detail(
        &report,
        "transport.query-token",
        "a token the server accepts",
    );
    assert_detail(&report, "trusted.wrong-audience", "expected 401, got 200");
    issuer.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn audience_blind_server_fails_only_the_audience_checks() -> TestResult {
    let issuer = TrustedIssuer::start(([127, 0, 0, 1], 0).into(), KeyAlgorithm::Rs256).await?;
    let verifier = JwtVerifier::discover(issuer.issuer())?;
    let url = serve(
        issuer.issuer(),
        Acceptance::AudienceBlind(Arc::new(verifier)),
    )
    .await?;

    let config = Config::new(&url)?
        .requests_per_second(25.0)
        .echo_tool(ECHO_TOOL);
    let report = run(&config, Some(&issuer)).await;

    assert_outcomes(
        &report,
        Mode::Trusted,
        &[
            "prm.root",
            "challenge.resource-metadata",
            "challenge.no-error",
            "transport.query-token",
            "trusted.wrong-audience",
            "trusted.no-audience",
            "trusted.no-passthrough",
        ],
        &[
            "challenge.resource-metadata-document",
            // No --tool given: the audit calls no tool it was not told to.
            "trusted.step-up",
            // It needs no scope for initialize.
            "trusted.insufficient-scope",
        ],
    );
    assert_detail(&report, "trusted.step-up", "--tool");
    assert_detail(
        &report,
        "trusted.no-passthrough",
        "received the access token",
    );
    issuer.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_request_budget_and_the_rate_limit_bound_the_audit() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let url = serve(issuer.issuer(), Acceptance::JwtShaped).await?;

    let started = Instant::now();
    let config = Config::new(&url)?.requests_per_second(4.0).max_requests(6);
    let report = run(&config, None).await;

    assert_eq!(report.requests, 6);
    // Six requests at four per second: the last one leaves 1.25 s after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(1_200),
        "{:?}",
        started.elapsed()
    );
    let spent = report
        .findings
        .iter()
        .filter(|finding| finding.detail.contains("request budget spent"))
        .count();
    assert!(spent >= 10, "{spent} checks skipped for the budget");
    assert_detail(&report, "token.forged", "request budget spent (6 requests");
    Ok(())
}

/// Every check in `failures` failed, every one in `skipped` (and the trusted ones in
/// black-box mode) was skipped, and every other one passed.
fn assert_outcomes(report: &Report, mode: Mode, failures: &[&str], skipped: &[&str]) {
    let mut table = Vec::new();
    report.write_table(&mut table, false).ok();
    println!("{}", String::from_utf8_lossy(&table));
    for id in failures.iter().chain(skipped) {
        assert!(CHECKS.iter().any(|check| check.id == *id), "no check {id}");
    }
    let mut wrong = Vec::new();
    for finding in &report.findings {
        let id = finding.check.id;
        let expected = if failures.contains(&id) {
            Outcome::Fail
        } else if skipped.contains(&id)
            || (mode == Mode::BlackBox && finding.check.mode == Mode::Trusted)
        {
            Outcome::Skip
        } else {
            Outcome::Pass
        };
        if finding.outcome != expected {
            wrong.push(format!(
                "{id}: {:?}, expected {expected:?}: {}",
                finding.outcome, finding.detail
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

fn assert_detail(report: &Report, id: &str, needle: &str) {
    let detail = report.finding(id).map(|finding| finding.detail.as_str());
    assert!(
        detail.is_some_and(|detail| detail.contains(needle)),
        "{id}: {detail:?} does not contain {needle:?}"
    );
}

/// How the broken server decides that a token is good.
#[derive(Clone)]
enum Acceptance {
    /// Any token with three dot-separated parts (defect 4).
    JwtShaped,
    /// A proper verification, without any audience check.
    AudienceBlind(Arc<JwtVerifier>),
}

struct Broken {
    url: String,
    origin: String,
    issuer: String,
    acceptance: Acceptance,
}

/// Serves the broken server on a loopback port; returns its MCP URL.
async fn serve(issuer: &str, acceptance: Acceptance) -> Result<String, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let url = format!("{origin}/mcp");
    let state = Arc::new(Broken {
        url: url.clone(),
        origin,
        issuer: issuer.to_owned(),
        acceptance,
    });
    // Defect 1: nothing at /.well-known/oauth-protected-resource.
    let app = Router::new()
        .route("/.well-known/oauth-protected-resource/mcp", any(metadata))
        .route("/mcp", any(mcp))
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn metadata(State(state): State<Arc<Broken>>, method: Method) -> Response {
    let cors = [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    match method {
        Method::OPTIONS => (
            StatusCode::NO_CONTENT,
            cors,
            [(header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS")],
        )
            .into_response(),
        Method::GET | Method::HEAD => {
            let document = json!({
                "resource": state.url,
                "authorization_servers": [state.issuer],
                "scopes_supported": ["mcp:read", "notes:write"],
                "bearer_methods_supported": ["header"],
            });
            (
                cors,
                [(header::CONTENT_TYPE, "application/json")],
                document.to_string(),
            )
                .into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

async fn mcp(
    State(state): State<Arc<Broken>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Right: a foreign Origin is refused first, preflights included.
    if let Some(origin) = headers.get(header::ORIGIN)
        && origin.as_bytes() != state.origin.as_bytes()
    {
        return StatusCode::FORBIDDEN.into_response();
    }
    if method == Method::OPTIONS {
        return StatusCode::NO_CONTENT.into_response();
    }
    let authorizations: Vec<&str> = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    // Right: two Authorization headers are a malformed request.
    if authorizations.len() > 1 {
        return challenge(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let form = headers.get(header::CONTENT_TYPE).is_some_and(|value| {
        value
            .as_bytes()
            .starts_with(b"application/x-www-form-urlencoded")
    });
    let token = match authorizations.first() {
        Some(value) => value
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
            .map(|_| value[7..].to_owned()),
        // Defect 3: the query string is a token carrier.
        None => url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .find(|(name, _)| name == "access_token")
            .map(|(_, value)| value.into_owned()),
    };
    let Some(token) = token else {
        // Right: a form token is refused.
        if form {
            return challenge(StatusCode::BAD_REQUEST, "invalid_request");
        }
        // Defect 2: error= on a request without credentials, and no resource_metadata.
        return challenge(StatusCode::UNAUTHORIZED, "invalid_token");
    };
    let scopes = match &state.acceptance {
        // Defect 4.
        Acceptance::JwtShaped if token.split('.').count() == 3 => decode_unverified(&token)
            .and_then(|(_, claims)| claims["scope"].as_str().map(str::to_owned))
            .unwrap_or_default(),
        Acceptance::JwtShaped => return challenge(StatusCode::UNAUTHORIZED, "invalid_token"),
        Acceptance::AudienceBlind(verifier) => match verifier.verify(&token).await {
            Ok(info) => info.scopes().join(" "),
            Err(err) if err.is_unavailable() => {
                let wait = err.retry_after().unwrap_or(Duration::from_secs(1));
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, wait.as_secs().max(1).to_string())],
                )
                    .into_response();
            }
            Err(_) => return challenge(StatusCode::UNAUTHORIZED, "invalid_token"),
        },
    };
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    // Defect 6 (audience-blind variant): the tools see the Authorization header.
    let leaks = matches!(state.acceptance, Acceptance::AudienceBlind(_));
    answer(&message, &scopes, &headers, leaks)
}

/// A JSON-RPC answer, as a sessionless MCP server gives it.
fn answer(message: &Value, scopes: &str, headers: &HeaderMap, leaks: bool) -> Response {
    let id = message["id"].clone();
    let result = match message["method"].as_str().unwrap_or_default() {
        "initialize" => json!({
            "protocolVersion": "2025-06-18",
            "capabilities": { "tools": {} },
            "serverInfo": { "name": "broken", "version": "0" },
        }),
        method if method.starts_with("notifications/") => {
            return StatusCode::ACCEPTED.into_response();
        }
        "tools/list" => json!({ "tools": [
            { "name": "add_note", "inputSchema": { "type": "object" } },
            { "name": ECHO_TOOL, "inputSchema": { "type": "object" } },
        ] }),
        "tools/call" if message["params"]["name"] == "add_note" => {
            if !scopes.split(' ').any(|scope| scope == "notes:write") {
                // Defect 5: an in-band error instead of a 403 step-up.
                let error = json!({
                    "jsonrpc": "2.0",
                    "id": id,
                    "error": { "code": -32603, "message": "notes:write is required" },
                });
                return json_response(&error);
            }
            json!({ "content": [{ "type": "text", "text": "note added" }] })
        }
        "tools/call" if message["params"]["name"] == ECHO_TOOL => {
            // Right (unless `leaks`): the tool never sees the token.
            let seen: Map<String, Value> = headers
                .iter()
                .filter(|(name, _)| leaks || *name != header::AUTHORIZATION)
                .map(|(name, value)| {
                    (
                        name.to_string(),
                        Value::from(value.to_str().unwrap_or_default()),
                    )
                })
                .collect();
            json!({ "content": [{ "type": "text", "text": Value::Object(seen).to_string() }] })
        }
        _ => json!({}),
    };
    json_response(&json!({ "jsonrpc": "2.0", "id": id, "result": result }))
}

fn json_response(message: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        message.to_string(),
    )
        .into_response()
}

/// A Bearer challenge with `error` and `scope`, and never `resource_metadata` (defect 2).
fn challenge(status: StatusCode, error: &str) -> Response {
    let value = format!("Bearer error=\"{error}\", scope=\"mcp:read\"");
    (status, [(header::WWW_AUTHENTICATE, value)]).into_response()
}
