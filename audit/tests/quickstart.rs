//! The audit against this repository's quickstart stack: the examples' notes server (rmcp's
//! streamable HTTP server, `examples/support/notes_server.rs`) behind `McpAuth`, configured as
//! `examples/quickstart.rs` configures it, on a loopback port. Every check passes, in both
//! modes.

use std::time::Duration;

use axum::{
    body::{Body, to_bytes},
    extract::Request,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use http::{StatusCode, header};
use mcp_auth::{
    McpAuth,
    testing::{DevIssuer, KeyAlgorithm},
    verifier::JwtVerifier,
};
use mcp_auth_audit::{CHECKS, Config, Mode, Outcome, Report, TrustedIssuer, run};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

/// The MCP server of the examples.
#[allow(dead_code)]
#[path = "../../examples/support/notes_server.rs"]
mod notes_server;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A tool (answered by a middleware inside `McpAuth`, where a tool would run) that returns the
/// request headers it received, for `trusted.no-passthrough`.
const ECHO_TOOL: &str = "echo_headers";

#[tokio::test]
async fn black_box_audit_of_the_quickstart_passes_every_check() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    // The quickstart's embedded dev issuer.
    let issuer = DevIssuer::builder()
        .client("quickstart", "quickstart-secret")
        .default_resource(url.clone())
        .start()
        .await?;
    serve_quickstart(listener, &url, issuer.issuer())?;

    let report = run(&config(&url)?, None).await;

    assert_all_pass(&report, Mode::BlackBox);
    assert!(report.conforms());
    // The checks that need a trusted issuer say why they did not run.
    let finding = report.finding("trusted.valid-token").ok_or("no finding")?;
    assert_eq!(finding.outcome, Outcome::Skip);
    assert!(
        finding.detail.contains("--trusted-issuer"),
        "{}",
        finding.detail
    );
    Ok(())
}

#[tokio::test]
async fn trusted_audit_of_the_quickstart_passes_every_check() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    // The quickstart trusting the audit's issuer (MCP_AUTH_ISSUER=<the issuer>).
    let issuer = TrustedIssuer::start(([127, 0, 0, 1], 0).into(), KeyAlgorithm::Rs256).await?;
    serve_quickstart(listener, &url, issuer.issuer())?;

    let config = config(&url)?
        .tool(
            "add_note",
            ["notes:write"],
            json!({ "text": "written by mcp-auth-audit" }),
        )
        .echo_tool(ECHO_TOOL);
    let report = run(&config, Some(&issuer)).await;

    assert_all_pass(&report, Mode::Trusted);
    assert!(report.conforms());
    assert_eq!(report.mode(), "trusted");
    // The step-up names the write scope, and the passthrough check saw a real echo.
    let step_up = report.finding("trusted.step-up").ok_or("no finding")?;
    assert!(
        step_up.detail.contains("scope=\"mcp:read notes:write\""),
        "{}",
        step_up.detail
    );
    let echo = report
        .finding("trusted.no-passthrough")
        .ok_or("no finding")?;
    assert!(echo.detail.contains("without the token"), "{}", echo.detail);
    // The JSON output carries the same findings, with their clauses.
    let json = report.to_json();
    assert_eq!(json["conforms"], true);
    assert_eq!(json["checks"].as_array().map(Vec::len), Some(CHECKS.len()));
    assert_eq!(json["checks"][0]["id"], CHECKS[0].id);
    assert_eq!(json["checks"][0]["clause"], CHECKS[0].clause);
    issuer.shutdown().await;
    Ok(())
}

fn config(url: &str) -> Result<Config, mcp_auth_audit::ConfigError> {
    Ok(Config::new(url)?
        .requests_per_second(25.0)
        .timeout(Duration::from_secs(10)))
}

/// Every check of `mode` (and every black-box check) passed; trusted checks in black-box mode
/// are skipped.
fn assert_all_pass(report: &Report, mode: Mode) {
    // The table, shown when the test fails (or with --nocapture).
    let mut table = Vec::new();
    report.write_table(&mut table, false).ok();
    println!("{}", String::from_utf8_lossy(&table));
    let mut wrong = Vec::new();
    for finding in &report.findings {
        let expected = if mode == Mode::BlackBox && finding.check.mode == Mode::Trusted {
            Outcome::Skip
        } else {
            Outcome::Pass
        };
        if finding.outcome != expected {
            wrong.push(format!(
                "{} {:?} (expected {expected:?}): {}",
                finding.check.id, finding.outcome, finding.detail
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    assert_eq!(report.findings.len(), CHECKS.len());
}

/// The quickstart's layer (`examples/quickstart.rs` with its default environment) in front of
/// the notes server, trusting `issuer`, served on `listener`.
fn serve_quickstart(listener: TcpListener, url: &str, issuer: &str) -> TestResult {
    let addr = listener.local_addr()?;
    let auth = McpAuth::builder(url)
        .verifier(JwtVerifier::discover(issuer)?)
        .required_scopes(["mcp:read"])
        .tool_scopes("add_note", [notes_server::WRITE_SCOPE])
        .resource_name("mcp-auth quickstart")
        .build()?;
    let app = notes_server::router(notes_server::server_config(url, addr))
        .layer(middleware::from_fn(echo_headers))
        .layer(auth);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(())
}

/// Answers a `tools/call` of [`ECHO_TOOL`] with the request's headers; passes anything else on.
async fn echo_headers(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let message: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if message["method"] != "tools/call" || message["params"]["name"] != ECHO_TOOL {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    }
    let headers: Map<String, Value> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                Value::from(value.to_str().unwrap_or("<binary>")),
            )
        })
        .collect();
    let answer = json!({
        "jsonrpc": "2.0",
        "id": message["id"],
        "result": { "content": [{ "type": "text", "text": Value::Object(headers).to_string() }] },
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}
