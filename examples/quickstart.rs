//! A real MCP server (rmcp's streamable HTTP server) behind [`McpAuth`], with an embedded dev
//! authorization server so that it runs on one machine with nothing else installed.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! It prints the resource URL, the issuer URL, a ready token (`MCP_TOKEN=…`) and a `curl` line
//! that initializes an MCP session with it. Tools:
//!
//! - `whoami`: the caller's subject, client id and scopes, read from the verified [`AuthInfo`]
//!   (proof that the token's claims reach the tools);
//! - `list_notes`: the caller's notes; needs only the global scopes (`mcp:read` by default);
//! - `add_note`: adds a note; also needs `notes:write`, so a token without it gets
//!   `403 insufficient_scope` with `scope="mcp:read notes:write"` (the MCP step-up).
//!
//! Configuration, by environment:
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `MCP_AUTH_ADDR` | `127.0.0.1:3000` | listen address; the MCP endpoint is `/mcp` (port `0` picks a free port) |
//! | `MCP_AUTH_RESOURCE` | `http://<addr>/mcp` | canonical resource URI, as clients reach the server |
//! | `MCP_AUTH_ISSUER` | the embedded dev issuer | an external authorization server to trust, found by RFC 8414 / OIDC discovery; must equal its `issuer` exactly |
//! | `MCP_AUTH_SCOPES` | `mcp:read` | space-separated scopes every request needs |
//!
//! The embedded dev issuer ([`DevIssuer`]) approves every authorization request and is **not for
//! production**. It also accepts dynamic client registration and a pre-registered confidential
//! client `quickstart` / `quickstart-secret` for the `client_credentials` grant.
//!
//! The server stops cleanly on Ctrl-C or `SIGTERM`.

use std::{
    env,
    io::{self, Write},
    net::SocketAddr,
    time::Duration,
};

use mcp_auth::{BoxError, McpAuth, testing::DevIssuer, verifier::JwtVerifier};
use tokio::net::TcpListener;

#[path = "support/notes_server.rs"]
mod notes_server;

use notes_server::{WRITE_SCOPE, print_try_it, serve};

/// The pre-registered dev client, for the `client_credentials` grant.
const DEV_CLIENT_ID: &str = "quickstart";
const DEV_CLIENT_SECRET: &str = "quickstart-secret";

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

    // The authorization server: an external one found by discovery, or the embedded dev issuer.
    // `dev_issuer` keeps the dev issuer running until `main` returns.
    let (issuer, dev_issuer) = match env::var("MCP_AUTH_ISSUER") {
        Ok(issuer) if !issuer.is_empty() => (issuer, None),
        _ => {
            let dev = DevIssuer::builder()
                .client(DEV_CLIENT_ID, DEV_CLIENT_SECRET)
                .default_resource(resource.clone())
                .start()
                .await?;
            (dev.issuer().to_owned(), Some(dev))
        }
    };
    // Keys are fetched lazily: the authorization server need not be up yet.
    let verifier = JwtVerifier::discover(issuer.clone())?;

    let auth = McpAuth::builder(resource.clone())
        .authorization_server(issuer.clone())
        .verifier(verifier)
        .required_scopes(scopes.clone())
        .tool_scopes("add_note", [WRITE_SCOPE])
        .resource_name("mcp-auth quickstart")
        .build()?;

    print_banner(&resource, &issuer, &auth, dev_issuer.as_ref(), &scopes)?;

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
) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "mcp-auth quickstart: an MCP server behind McpAuth")?;
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
        "scopes:   {} (add_note also needs {WRITE_SCOPE})",
        scopes.join(" ")
    )?;
    let token = match dev {
        Some(dev) => {
            writeln!(
                out,
                "client:   {DEV_CLIENT_ID} / {DEV_CLIENT_SECRET} (client_credentials at {})",
                dev.token_endpoint()
            )?;
            let token = dev
                .token()
                .subject("quickstart-user")
                .client_id(DEV_CLIENT_ID)
                .scopes(scopes.iter().cloned())
                .audience(resource)
                .expires_in(Duration::from_secs(3_600))
                .sign();
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

fn env_or(name: &str, default: &str) -> String {
    env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
