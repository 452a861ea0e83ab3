//! The quickstart's MCP server (rmcp's streamable HTTP server, same tools) behind [`McpAuth`],
//! verifying **opaque** access tokens by RFC 7662 token introspection: the resource server
//! discovers the `introspection_endpoint` from the issuer's metadata and asks it about each new
//! token, authenticating as a confidential client.
//!
//! ```sh
//! cargo run --example introspection --features introspection
//! ```
//!
//! Without `MCP_AUTH_ISSUER` it starts an embedded dev authorization server that issues opaque
//! tokens, and prints one (`MCP_TOKEN=…`) with a `curl` line. Tools:
//!
//! - `whoami`: the caller's subject, client id and scopes, from the introspection answer;
//! - `list_notes`: the caller's notes; needs only the global scopes (`mcp:read` by default);
//! - `add_note`: adds a note; also needs `notes:write` (else `403 insufficient_scope`).
//!
//! Configuration, by environment:
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `MCP_AUTH_ADDR` | `127.0.0.1:3000` | listen address; the MCP endpoint is `/mcp` (port `0` picks a free port) |
//! | `MCP_AUTH_RESOURCE` | `http://<addr>/mcp` | canonical resource URI, as clients reach the server |
//! | `MCP_AUTH_ISSUER` | the embedded dev issuer | the authorization server whose `introspection_endpoint` is found by RFC 8414 / OIDC discovery; must equal its `issuer` exactly |
//! | `MCP_AUTH_SCOPES` | `mcp:read` | space-separated scopes every request needs |
//! | `MCP_AUTH_CLIENT_ID` | `introspection-rs` with the dev issuer; **required** with `MCP_AUTH_ISSUER` | this resource server's client id at the authorization server |
//! | `MCP_AUTH_CLIENT_SECRET` | `introspection-rs-secret` with the dev issuer; **required** with `MCP_AUTH_ISSUER` | its client secret (`client_secret_basic`) |
//!
//! With `MCP_AUTH_ISSUER` set, the client credentials must be given too: the example prints an
//! error and exits with status `2` rather than introspect with made-up credentials.
//!
//! ```sh
//! MCP_AUTH_ISSUER=https://auth.example.com MCP_AUTH_CLIENT_ID=my-rs \
//!     MCP_AUTH_CLIENT_SECRET=… cargo run --example introspection --features introspection
//! ```
//!
//! Answers are cached (keyed by a hash of the token) until the token's `exp`, at most 60 s, so
//! a revoked token stops working within a minute; inactive tokens are remembered for 5 s. When
//! the authorization server cannot be reached the client gets `503` with `Retry-After`, never
//! `401`.
//!
//! The embedded dev issuer ([`DevIssuer`]) approves every authorization request and is **not for
//! production**.
//!
//! The server stops cleanly on Ctrl-C or `SIGTERM`.

use std::{
    env,
    io::{self, Write},
    net::SocketAddr,
    time::Duration,
};

use mcp_auth::{BoxError, McpAuth, testing::DevIssuer, verifier::IntrospectionVerifier};
use tokio::net::TcpListener;

#[path = "support/notes_server.rs"]
mod notes_server;

use notes_server::{WRITE_SCOPE, print_try_it, serve};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let addr: SocketAddr = env_or("MCP_AUTH_ADDR", "127.0.0.1:3000")
        .parse()
        .map_err(|err| format!("MCP_AUTH_ADDR is not a socket address: {err}"))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|err| format!("cannot listen on {addr}: {err}"))?;
    let addr = listener.local_addr()?;
    let resource = env::var("MCP_AUTH_RESOURCE").unwrap_or_else(|_| format!("http://{addr}/mcp"));
    let scopes: Vec<String> = env_or("MCP_AUTH_SCOPES", "mcp:read")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let external_issuer = env_var("MCP_AUTH_ISSUER");
    let (client_id, client_secret) = match &external_issuer {
        // An external authorization server knows this resource server by its own credentials;
        // defaults would only fail later, at the first request, as a 503.
        Some(_) => {
            let (Some(id), Some(secret)) = (
                env_var("MCP_AUTH_CLIENT_ID"),
                env_var("MCP_AUTH_CLIENT_SECRET"),
            ) else {
                eprintln!(
                    "error: MCP_AUTH_ISSUER is set, so MCP_AUTH_CLIENT_ID and \
                     MCP_AUTH_CLIENT_SECRET must be set too (this resource server's client \
                     credentials at that authorization server)"
                );
                std::process::exit(2);
            };
            (id, secret)
        }
        None => (
            env_or("MCP_AUTH_CLIENT_ID", "introspection-rs"),
            env_or("MCP_AUTH_CLIENT_SECRET", "introspection-rs-secret"),
        ),
    };

    // The authorization server: an external one found by discovery, or the embedded dev issuer
    // (issuing opaque tokens, with this resource server registered as a confidential client).
    // `dev_issuer` keeps the dev issuer running until `main` returns.
    let (issuer, dev_issuer) = match external_issuer {
        Some(issuer) => (issuer, None),
        None => {
            let dev = DevIssuer::builder()
                .client(client_id.clone(), client_secret.clone())
                .default_resource(resource.clone())
                .opaque_tokens(true)
                .start()
                .await?;
            (dev.issuer().to_owned(), Some(dev))
        }
    };
    // The endpoint is discovered lazily: the authorization server need not be up yet.
    let verifier = IntrospectionVerifier::builder()
        .discover(issuer.clone())
        .client_secret_basic(client_id.clone(), client_secret)
        .build()?;

    let auth = McpAuth::builder(resource.clone())
        .authorization_server(issuer.clone())
        .verifier(verifier)
        .required_scopes(scopes.clone())
        .tool_scopes("add_note", [WRITE_SCOPE])
        .resource_name("mcp-auth introspection example")
        .build()?;

    print_banner(
        &resource,
        &issuer,
        &auth,
        dev_issuer.as_ref(),
        &scopes,
        &client_id,
    )?;

    serve(listener, &resource, addr, auth).await?;
    if let Some(dev) = dev_issuer {
        dev.shutdown().await;
    }
    Ok(())
}

fn print_banner(
    resource: &str,
    issuer: &str,
    auth: &McpAuth,
    dev: Option<&DevIssuer>,
    scopes: &[String],
    client_id: &str,
) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "mcp-auth introspection example: an MCP server behind McpAuth, opaque tokens"
    )?;
    writeln!(out, "resource: {resource}")?;
    writeln!(out, "metadata: {}", auth.metadata().url())?;
    match dev {
        Some(_) => writeln!(
            out,
            "issuer:   {issuer} (embedded dev issuer, approves everything: not for production)"
        )?,
        None => writeln!(out, "issuer:   {issuer}")?,
    }
    writeln!(
        out,
        "introspecting as client {client_id} (secret not shown)"
    )?;
    writeln!(
        out,
        "scopes:   {} (add_note also needs {WRITE_SCOPE})",
        scopes.join(" ")
    )?;
    let token = match dev {
        Some(dev) => {
            let token = dev.opaque_token(
                &dev.token()
                    .subject("introspection-user")
                    .client_id(client_id)
                    .scopes(scopes.iter().cloned())
                    .audience(resource)
                    .expires_in(Duration::from_secs(3_600)),
            );
            writeln!(out)?;
            writeln!(out, "MCP_TOKEN={token}")?;
            token
        }
        None => {
            writeln!(out)?;
            writeln!(
                out,
                "Get a token for {resource} from {issuer}, then: export MCP_TOKEN=<token>"
            )?;
            "$MCP_TOKEN".to_owned()
        }
    };
    print_try_it(&mut out, resource, &token)
}

/// The variable's value, if set and not empty.
fn env_var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.is_empty())
}

fn env_or(name: &str, default: &str) -> String {
    env_var(name).unwrap_or_else(|| default.to_owned())
}
