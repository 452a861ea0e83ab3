//! `Bearer token → 401 | 403 | 503 | inner service`: OAuth 2.1 resource-server middleware for
//! MCP servers.
//!
//! # Overview
//!
//! MCP servers reached over HTTP must act as OAuth 2.1 resource servers (MCP Authorization
//! specification, revision 2026-07-28, compatible with 2025-06-18 and 2025-11-25). [`McpAuth`]
//! is a tower [`Layer`](tower_layer::Layer) that gives any axum, hyper or rmcp server that role:
//!
//! 1. It serves RFC 9728 protected-resource metadata at
//!    `/.well-known/oauth-protected-resource/<path>` and at the root form, so clients find the
//!    authorization server.
//! 2. It refuses a request whose `Origin` is neither the resource's own nor an allowed one with
//!    `403` before anything else (on by default), and lets CORS preflights through (without
//!    a body).
//! 3. It takes the bearer token from the `Authorization` header (and only from there), asks a
//!    [`TokenVerifier`] about it, requires that the token is meant for this resource (RFC 8707
//!    audience) and carries the required scopes (honouring scope hierarchies).
//! 4. It answers failures the way MCP clients expect: `401` with
//!    `WWW-Authenticate: Bearer resource_metadata="…"`, `403 insufficient_scope` with the scopes
//!    to ask for, `400 invalid_request` for malformed requests, and `503` with `Retry-After`
//!    when the verifier cannot decide — never a pass and never a `401` that would make a
//!    client throw a good token away.
//! 5. With per-operation rules ([`McpAuthBuilder::tool_scopes`] and friends) it reads JSON-RPC
//!    bodies, bounded, and answers `403 insufficient_scope` naming every scope a tool call,
//!    prompt or resource needs, so clients can step up.
//! 6. It passes authorized requests on **without** their `Authorization` header (no token
//!    passthrough) and with the verified [`AuthInfo`] in the request extensions, and binds the
//!    `Mcp-Session-Id` the server hands out to the caller (another principal gets `404`).
//! 7. Optionally it requires sender-constrained tokens: [`dpop`] (RFC 9449) and
//!    certificate-bound tokens ([`binding`], RFC 8705); state shared by replicas goes to a
//!    [`store::Store`] (Redis with the `redis` feature).
//!
//! Verifiers: [`verifier::JwtVerifier`] (JWT access tokens, JWKS, discovery),
//! `verifier::IntrospectionVerifier` (opaque tokens, RFC 7662, feature `introspection`), their
//! compositions, or your own [`TokenVerifier`]. The layer runs on Tokio with the timer enabled,
//! as axum, hyper and rmcp servers do.
//!
//! # Example
//!
//! ```
//! use axum::{Router, body::Body, routing::post};
//! use http::{Request, StatusCode, header};
//! use mcp_auth::{AuthInfo, McpAuth, testing::StaticVerifier};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mcp_auth::BoxError> {
//! // In production: `JwtVerifier` or `IntrospectionVerifier` from `mcp_auth::verifier`.
//! let verifier = StaticVerifier::new().with_token(
//!     "alice-token",
//!     AuthInfo::builder()
//!         .subject("alice")
//!         .scopes(["mcp:read"])
//!         .audience("https://mcp.example.com/mcp")
//!         .build(),
//! );
//! let auth = McpAuth::builder("https://mcp.example.com/mcp")
//!     .authorization_server("https://auth.example.com")
//!     .verifier(verifier)
//!     .required_scopes(["mcp:read"])
//!     .build()?;
//! let app = Router::new()
//!     .route("/mcp", post(|info: AuthInfo| async move { format!("hello {:?}", info.subject()) }))
//!     .layer(auth);
//!
//! // No token: 401 and a pointer to the metadata.
//! let response = app.clone().oneshot(Request::post("/mcp").body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     response.headers()[header::WWW_AUTHENTICATE],
//!     "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\""
//! );
//!
//! // A good token: the handler runs and sees who called.
//! let request = Request::post("/mcp")
//!     .header(header::AUTHORIZATION, "Bearer alice-token")
//!     .body(Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(()) }
//! ```
//!
//! With rmcp, the official Rust MCP SDK, wrap its `StreamableHttpService` the same way
//! (`Router::new().nest_service("/mcp", mcp_service).layer(auth)`). Tools read the caller from
//! the request parts rmcp puts in the request context:
//!
//! ```ignore
//! #[tool(description = "Who am I?")]
//! async fn whoami(&self, Extension(parts): Extension<http::request::Parts>) -> String {
//!     let info = parts.extensions.get::<mcp_auth::AuthInfo>();
//!     format!("{:?}", info.and_then(|i| i.subject()))
//! }
//! ```
//!
//! # Feature flags
//!
//! | Feature | Default | What it adds |
//! |---|---|---|
//! | `jwt` | yes | `JwtVerifier`: RFC 9068 JWT access tokens, JWKS cache, discovery |
//! | `jwt-aws-lc-rs` | yes | jsonwebtoken's aws-lc-rs crypto backend |
//! | `jwt-rust-crypto` | no | jsonwebtoken's pure-Rust crypto backend |
//! | `introspection` | no | `IntrospectionVerifier`: RFC 7662 for opaque tokens |
//! | `axum` | no | [`AuthInfo`] as an axum extractor (`AuthInfo` and `Option<AuthInfo>`) |
//! | `testing` | no | mock verifiers and a dev/test authorization server; not for production |
//! | `tracing` | no | a span per decision and events with target `mcp_auth` (never tokens) |
//! | `metrics` | no | counters and histograms through the `metrics` facade (see `observe` below) |
//! | `redis` | no | `store::RedisStore`: sessions, DPoP replay detection and introspection answers shared by replicas |
//!
//! Features only add API; none changes or weakens a default.
//!
//! # Security considerations
//!
//! - Audience is always checked: a token must name this resource (or a configured alias) in
//!   its audience, whatever verifier is used. MCP requires it, and it is what stops a token
//!   issued for another service from being replayed here.
//! - The `Authorization` header is removed before the inner service runs, so it cannot be
//!   forwarded upstream by accident. Call upstream APIs with tokens of their own.
//! - Tokens are never logged, never put in errors, and never shown by `Debug`. Mark
//!   `Authorization` sensitive before a `TraceLayer`
//!   (`tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer`) so your own logs do not
//!   print it either.
//! - Bind sessions and state handles to [`AuthInfo::principal_key`], never to possession of a
//!   session id.
//! - The [`manual`] explains each default; `docs/security.md` in the repository is the full
//!   security guide (threat model, every default, each requirement with its test).
//!
//! # Modules
//!
//! A request takes one path through the private `authorize` module, top to bottom: metadata,
//! `Origin`, public paths, preflight, bearer extraction, verification, audience, binding and
//! [`dpop`], body peek ([`body`]) and scopes ([`policy`]), session, pass-on; every refusal is one
//! [`challenge::AuthError`]. [`McpAuth`] and its builder configure it; [`McpAuthService`] and
//! [`future`] are the tower plumbing. [`verifier`] holds the [`TokenVerifier`] trait, the JWT and
//! introspection verifiers with the claim rules and strict JSON reader they share, their token
//! cache and chains;
//! [`store`] the shared-state trait; [`metadata`] RFC 9728; `testing` the dev issuer.
//!
//! With `metrics`, the counters are `mcp_auth_requests_total{outcome,reason}`,
//! `mcp_auth_token_cache_total`, `mcp_auth_jwks_fetches_total`,
//! `mcp_auth_introspection_requests_total` and `mcp_auth_store_errors_total`; the histogram is
//! `mcp_auth_verify_seconds`.
//!
//! [`Layer`]: tower_layer::Layer

#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod macros;

mod auth_info;
mod authorize;
mod bearer;
pub mod binding;
pub mod body;
mod callback;
pub mod challenge;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod dpop;
#[cfg(not(feature = "jwt"))]
mod dpop {
    //! DPoP needs the `jwt` feature's signature checks; without it, DPoP is always off.

    use http::Method;

    use crate::challenge::AuthError;

    /// Never constructed without the `jwt` feature.
    #[derive(Debug)]
    pub(crate) enum ProofChecker {}

    impl ProofChecker {
        pub(crate) fn required(&self) -> bool {
            match *self {}
        }

        pub(crate) fn algs(&self) -> &str {
            match *self {}
        }

        pub(crate) fn algorithm_names(&self) -> Vec<String> {
            match *self {}
        }

        pub(crate) fn current_nonce(&self) -> Option<std::sync::Arc<str>> {
            match *self {}
        }

        pub(crate) async fn check(
            &self,
            _proof: &str,
            _method: &Method,
            _path: &str,
            _token: &str,
            _jkt: &str,
        ) -> Result<(), AuthError> {
            match *self {}
        }
    }
}
mod error;
pub mod future;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod jsonrpc;
mod layer;
pub mod manual;
pub mod metadata;
mod observe;
pub mod policy;
mod resource;
mod service;
mod session;
pub mod store;
pub mod verifier;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use self::{
    auth_info::{AuthInfo, AuthInfoBuilder, Strings, StringsIter},
    authorize::StreamExpiry,
    error::ConfigError,
    layer::{McpAuth, McpAuthBuilder},
    service::McpAuthService,
    verifier::{TokenVerifier, VerifyError},
};

/// A boxed error, as backends report them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
