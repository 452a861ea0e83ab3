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
//! | `MCP_AUTH_TENANTS` | none | tenants for a `{tenant}` in `MCP_AUTH_ISSUER` (Entra multi-tenant: `https://login.microsoftonline.com/{tenant}/v2.0`) |
//! | `MCP_AUTH_AUDIENCES` | none | space-separated audiences accepted besides the resource (Entra's app id URI, Auth0's API identifier) |
//! | `MCP_AUTH_CLIENT_IDS` | any client | space-separated clients whose tokens are accepted (`client_id`, `azp`, `cid` or `appid`) |
//! | `MCP_AUTH_SCOPE_CLAIMS` | `scope scp` | space-separated claims (or dotted paths such as `realm_access.roles`) the scopes are read from |
//! | `MCP_AUTH_REQUIRED_CLAIMS` | none | space-separated `name=value` claims a token must carry (`token_use=access` for Cognito) |
//! | `MCP_AUTH_CLIENT_ID_AUDIENCE` | off | `1`: a token without `aud` issued to one of `MCP_AUTH_CLIENT_IDS` counts as meant for this resource (Cognito; see the README) |
//! | `MCP_AUTH_DPOP` | `off` | `off`, `allowed` (Bearer and DPoP) or `required` (DPoP-bound tokens only) |
//! | `MCP_AUTH_REDIS_URL` | none | `redis://` or `rediss://` URL: session bindings and DPoP replay detection shared by replicas |
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

use mcp_auth::{
    BoxError, McpAuth, McpAuthBuilder,
    dpop::Dpop,
    store::RedisStore,
    testing::DevIssuer,
    verifier::{
        JwtVerifier,
        jwt::{JwtVerifierBuilder, TrustedIssuer},
    },
};
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
    // Keys are fetched lazily: the authorization server need not be up yet. The verifier
    // reports its issuers, which the metadata lists.
    let verifier = provider_settings(JwtVerifier::builder(), &issuer, &resource)?.build()?;

    let auth = layer_settings(McpAuth::builder(resource.clone()))?
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

/// The verifier settings real providers need, from the environment (see the module docs).
fn provider_settings(
    mut verifier: JwtVerifierBuilder,
    issuer: &str,
    resource: &str,
) -> Result<JwtVerifierBuilder, BoxError> {
    let mut trusted = TrustedIssuer::discover(issuer);
    let tenants = env_list("MCP_AUTH_TENANTS");
    if !tenants.is_empty() {
        trusted = trusted.tenants(tenants);
    }
    verifier = verifier.issuer(trusted);
    let clients = env_list("MCP_AUTH_CLIENT_IDS");
    if !clients.is_empty() {
        verifier = verifier.allowed_clients(clients.clone());
    }
    let scope_claims = env_list("MCP_AUTH_SCOPE_CLAIMS");
    if !scope_claims.is_empty() {
        verifier = verifier.scope_claims(scope_claims);
    }
    for pair in env_list("MCP_AUTH_REQUIRED_CLAIMS") {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("MCP_AUTH_REQUIRED_CLAIMS: {pair:?} is not name=value"))?;
        verifier = verifier.require_claim_value(name, value);
    }
    if env_or("MCP_AUTH_CLIENT_ID_AUDIENCE", "0") == "1" {
        if clients.is_empty() {
            return Err("MCP_AUTH_CLIENT_ID_AUDIENCE=1 needs MCP_AUTH_CLIENT_IDS".into());
        }
        verifier = verifier.danger_assume_audience_for_clients(resource, clients);
    }
    Ok(verifier)
}

/// The layer settings from the environment: audiences, DPoP and the Redis store.
fn layer_settings(mut auth: McpAuthBuilder) -> Result<McpAuthBuilder, BoxError> {
    for audience in env_list("MCP_AUTH_AUDIENCES") {
        auth = auth.audience(audience);
    }
    let redis = match env::var("MCP_AUTH_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(RedisStore::new(&url)?),
        _ => None,
    };
    let dpop = match env_or("MCP_AUTH_DPOP", "off").as_str() {
        "off" => None,
        "allowed" => Some(Dpop::allowed()),
        "required" => Some(Dpop::required()),
        other => {
            return Err(format!("MCP_AUTH_DPOP: {other:?} is not off, allowed or required").into());
        }
    };
    if let Some(dpop) = dpop {
        auth = auth.dpop(match &redis {
            Some(redis) => dpop.replay_store(redis.clone()),
            None => dpop,
        });
    }
    if let Some(redis) = redis {
        auth = auth.session_store(redis);
    }
    Ok(auth)
}

/// A space-separated environment variable, as a list.
fn env_list(name: &str) -> Vec<String> {
    env::var(name)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn env_or(name: &str, default: &str) -> String {
    env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
