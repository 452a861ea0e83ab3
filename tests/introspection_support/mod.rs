//! Shared helpers for the introspection tests: RFC 7662 answers for a fixed issuer and
//! resource, and a [`DevIssuer`] that gives them for chosen tokens, to the resource server's
//! client. Needs `mod layer_support;` beside it.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use mcp_auth::testing::DevIssuer;
use serde_json::{Value, json};

pub use crate::layer_support::RESOURCE;
/// The issuer the answers name (and the verifier trusts); its introspection endpoint is the
/// dev issuer's.
pub const ISSUER: &str = "https://as.example.com";
/// The resource server's client at the authorization server. The secret needs form-encoding
/// in HTTP Basic (RFC 6749 §2.3.1).
pub const CLIENT_ID: &str = "rs";
pub const CLIENT_SECRET: &str = "s:cret/+";

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// A well-formed active answer for this resource.
pub fn active() -> Value {
    json!({
        "active": true,
        "iss": ISSUER,
        "sub": "alice",
        "client_id": "client-1",
        "scope": "mcp:read mcp:write",
        "aud": RESOURCE,
        "token_type": "Bearer",
        "iat": now() as u64,
        "exp": now() as u64 + 3600,
    })
}

/// `active()` with `f` applied.
pub fn active_with(f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut answer = active();
    f(answer.as_object_mut().expect("object"));
    answer
}

/// A dev issuer that knows the resource server's client. Tokens it was not told about
/// ([`DevIssuer::set_introspection_answer`]) are inactive.
pub async fn issuer() -> DevIssuer {
    DevIssuer::builder()
        .client(CLIENT_ID, CLIENT_SECRET)
        .start()
        .await
        .expect("dev issuer starts")
}
