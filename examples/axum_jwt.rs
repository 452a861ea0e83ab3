//! Plain axum (no MCP SDK) behind [`McpAuth`], checking JWT access tokens from an external
//! authorization server with [`JwtVerifier`]; the handler takes the verified [`AuthInfo`] as an
//! extractor (feature `axum`).
//!
//! ```sh
//! MCP_AUTH_ISSUER=https://auth.example.com cargo run --example axum_jwt
//! ```
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `MCP_AUTH_ISSUER` | (required) | the authorization server; its keys are found by RFC 8414 / OIDC discovery, and `iss` must equal it exactly |
//! | `MCP_AUTH_ADDR` | `127.0.0.1:3001` | listen address; the endpoint is `/mcp` |
//! | `MCP_AUTH_RESOURCE` | `http://<addr>/mcp` | canonical resource URI: tokens must name it in `aud` |
//! | `MCP_AUTH_SCOPES` | `mcp:read` | space-separated scopes every request needs |
//!
//! To try it locally, borrow the quickstart's dev issuer: start `cargo run --example quickstart`,
//! then run this example with `MCP_AUTH_ISSUER` set to the issuer it prints, and get a token for
//! this resource from that issuer with the quickstart's dev client:
//!
//! ```sh
//! curl -s -u quickstart:quickstart-secret -d grant_type=client_credentials -d scope=mcp:read \
//!     -d resource=http://127.0.0.1:3001/mcp <issuer>/token
//! curl -s -X POST http://127.0.0.1:3001/mcp -H "Authorization: Bearer <access_token>"
//! ```

use std::{env, net::SocketAddr, process::ExitCode};

use axum::{Json, Router, routing::post};
use mcp_auth::{AuthInfo, BoxError, McpAuth, verifier::JwtVerifier};
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<ExitCode, BoxError> {
    let Some(issuer) = env::var("MCP_AUTH_ISSUER").ok().filter(|v| !v.is_empty()) else {
        eprintln!(
            "set MCP_AUTH_ISSUER to the authorization server to trust, for example\n  \
             MCP_AUTH_ISSUER=https://auth.example.com cargo run --example axum_jwt\n\
             (see the top of examples/axum_jwt.rs to try it with the quickstart's dev issuer)"
        );
        return Ok(ExitCode::from(2));
    };
    let addr: SocketAddr = env_or("MCP_AUTH_ADDR", "127.0.0.1:3001").parse()?;
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let resource = env_or("MCP_AUTH_RESOURCE", &format!("http://{addr}/mcp"));
    let scopes = env_or("MCP_AUTH_SCOPES", "mcp:read");

    // Keys are fetched on first use and refreshed from the issuer's JWKS; the authorization
    // server need not be reachable yet.
    let verifier = JwtVerifier::discover(issuer.clone())?;
    let auth = McpAuth::builder(resource.clone())
        .authorization_server(issuer.clone())
        .verifier(verifier)
        .required_scopes(scopes.split_whitespace())
        .build()?;

    let app = Router::new().route("/mcp", post(whoami)).layer(auth);

    println!("resource: {resource}");
    println!("issuer:   {issuer}");
    println!("try:      curl -i -X POST {resource} -H \"Authorization: Bearer $TOKEN\"");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// Runs only for requests the layer let through, so the `AuthInfo` is always there; the
/// `Authorization` header itself has been removed (no token passthrough).
async fn whoami(info: AuthInfo) -> Json<Value> {
    Json(json!({
        "subject": info.subject(),
        "client_id": info.client_id(),
        "issuer": info.issuer(),
        "scopes": info.scopes(),
        "audiences": info.audiences(),
    }))
}

fn env_or(name: &str, default: &str) -> String {
    env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
