//! Fault injection through the layer: for every network path the layer depends on (JWT
//! discovery, the JWKS fetch, introspection discovery and the introspection call), the
//! authorization server fails in every way the dev issuer can: error statuses, an HTML page,
//! a huge or truncated body, a redirect, a reset connection, an answer slower than the
//! timeout, a server that is not listening at all. Each case asserts what the client gets
//! (`503` with `Retry-After`, within the configured timeout, the inner service never called)
//! and its control: once the fault is cleared, the same request on the same layer succeeds.
//!
//! The per-verifier suites (`jwt_jwks.rs`, `introspection.rs`) go deeper into each path; this
//! suite is the one table that covers them all the same way.

#![cfg(all(feature = "jwt", feature = "introspection", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod layer_support;

use std::time::{Duration, Instant};

use http::StatusCode;
use mcp_auth::{
    McpAuth, TokenVerifier,
    testing::{DevIssuer, Endpoint, Fault},
    verifier::{IntrospectionVerifier, JwtVerifier, jwt::TrustedIssuer},
};

use layer_support::{App, assert_unavailable, dev_issuer};

/// The HTTP timeout every verifier here uses; a slow server answers after [`SLOW`].
const HTTP_TIMEOUT: Duration = Duration::from_millis(400);
const SLOW: Duration = Duration::from_secs(10);
/// How long a failed attempt blocks the next one (the JWKS and discovery retry interval).
const RETRY: Duration = Duration::from_millis(200);
/// What "never a hang" means here: well under [`SLOW`], with room for a loaded machine.
const BOUND: Duration = Duration::from_secs(4);

/// The network paths the layer depends on.
#[derive(Clone, Copy, Debug)]
enum Path {
    /// `JwtVerifier` with a discovered issuer: the metadata documents fail.
    JwtDiscovery,
    /// `JwtVerifier` with a configured `jwks_uri`: the key set fails.
    Jwks,
    /// `IntrospectionVerifier` with a discovered endpoint: the metadata documents fail.
    IntrospectionDiscovery,
    /// `IntrospectionVerifier` with a configured endpoint: the introspection call fails.
    Introspection,
}

impl Path {
    const ALL: [Self; 4] = [
        Self::JwtDiscovery,
        Self::Jwks,
        Self::IntrospectionDiscovery,
        Self::Introspection,
    ];

    /// The endpoints whose failure breaks this path (discovery falls back from RFC 8414 to
    /// OpenID Connect, so both documents fail).
    fn endpoints(self) -> &'static [Endpoint] {
        match self {
            Self::JwtDiscovery | Self::IntrospectionDiscovery => {
                &[Endpoint::Metadata, Endpoint::OpenIdConfiguration]
            }
            Self::Jwks => &[Endpoint::Jwks],
            Self::Introspection => &[Endpoint::Introspection],
        }
    }

    /// Where a followed redirect would lead on `elsewhere`.
    fn redirect_target(self, elsewhere: &DevIssuer) -> String {
        match self {
            Self::JwtDiscovery | Self::IntrospectionDiscovery => elsewhere.metadata_url(),
            Self::Jwks => elsewhere.jwks_uri(),
            Self::Introspection => elsewhere.introspection_endpoint(),
        }
    }

    /// A fresh layer (nothing fetched or cached yet) that depends on this path.
    fn layer(self, issuer: &DevIssuer) -> McpAuth {
        match self {
            Self::JwtDiscovery | Self::Jwks => {
                let trusted = match self {
                    Self::JwtDiscovery => TrustedIssuer::discover(issuer.issuer()),
                    _ => TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()),
                };
                let verifier = JwtVerifier::builder()
                    .issuer(trusted)
                    .jwks_min_refresh_interval(RETRY)
                    .http_timeout(HTTP_TIMEOUT)
                    .max_response_size(16 * 1024)
                    .token_cache_capacity(0)
                    .build()
                    .unwrap();
                layer(issuer, verifier)
            }
            Self::IntrospectionDiscovery | Self::Introspection => {
                let builder = IntrospectionVerifier::builder();
                let builder = match self {
                    Self::IntrospectionDiscovery => builder.discover(issuer.issuer()),
                    _ => builder
                        .endpoint(issuer.introspection_endpoint())
                        .issuer(issuer.issuer()),
                };
                let verifier = builder
                    .client_secret_basic("rs", "rs-secret")
                    .discovery_retry_interval(RETRY)
                    .http_timeout(HTTP_TIMEOUT)
                    .max_response_size(16 * 1024)
                    .cache_capacity(0)
                    .build()
                    .unwrap();
                layer(issuer, verifier)
            }
        }
    }

    /// A token this path's verifier accepts when the server is healthy.
    fn token(self, issuer: &DevIssuer) -> String {
        let token = issuer.token().subject("alice").scopes(["mcp:read"]);
        match self {
            Self::JwtDiscovery | Self::Jwks => token.sign(),
            Self::IntrospectionDiscovery | Self::Introspection => issuer.opaque_token(&token),
        }
    }
}

fn layer(issuer: &DevIssuer, verifier: impl TokenVerifier) -> McpAuth {
    McpAuth::builder(layer_support::RESOURCE)
        .authorization_server(issuer.issuer())
        .verifier(verifier)
        .required_scopes(["mcp:read"])
        // Longer than every HTTP timeout here, so the verifiers' own bounds are what is tested.
        .verify_timeout(Duration::from_secs(8))
        .build()
        .unwrap()
}

/// How the server breaks.
#[derive(Debug)]
enum Break {
    Fault(Fault),
    /// The endpoints answer after [`SLOW`], far past the HTTP timeout.
    Slow,
    /// The whole server stops listening (connection refused) and is restarted afterwards.
    Stopped,
}

impl Break {
    fn all(path: Path, elsewhere: &DevIssuer) -> Vec<Self> {
        vec![
            Self::Fault(Fault::Status(500)),
            Self::Fault(Fault::Status(502)),
            Self::Fault(Fault::Status(404)),
            Self::Fault(Fault::Status(401)),
            Self::Fault(Fault::Status(204)),
            Self::Fault(Fault::Garbage),
            Self::Fault(Fault::Huge(100_000)),
            Self::Fault(Fault::Truncated),
            Self::Fault(Fault::Redirect(path.redirect_target(elsewhere))),
            Self::Fault(Fault::Reset),
            Self::Slow,
            Self::Stopped,
        ]
    }

    async fn apply(&self, path: Path, issuer: &DevIssuer) {
        for &endpoint in path.endpoints() {
            match self {
                Self::Fault(fault) => issuer.set_fault(endpoint, Some(fault.clone())),
                Self::Slow => issuer.set_delay(endpoint, SLOW),
                Self::Stopped => {}
            }
        }
        if let Self::Stopped = self {
            issuer.stop().await;
        }
    }

    async fn clear(&self, path: Path, issuer: &DevIssuer) {
        for &endpoint in path.endpoints() {
            issuer.set_fault(endpoint, None);
            issuer.set_delay(endpoint, Duration::ZERO);
        }
        if let Self::Stopped = self {
            issuer
                .restart()
                .await
                .expect("the dev issuer restarts on its port");
        }
    }
}

#[tokio::test]
async fn every_fault_on_every_path_is_a_bounded_503_and_heals_without_a_restart() {
    let issuer = dev_issuer().await;
    // A healthy server a followed redirect would reach: it must never be asked.
    let elsewhere = dev_issuer().await;
    for path in Path::ALL {
        let token = path.token(&issuer);
        for broken in Break::all(path, &elsewhere) {
            let name = format!("{path:?} / {broken:?}");
            let app = App::new(path.layer(&issuer));
            broken.apply(path, &issuer).await;

            let started = Instant::now();
            let res = app.call(&token).await;
            let took = started.elapsed();
            assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{name}");
            assert_unavailable(&res);
            assert!(took < BOUND, "{name}: answered after {took:?}");
            // A second request while the server is still broken: still 503, never a pass.
            tokio::time::sleep(RETRY).await;
            assert_unavailable(&app.call(&token).await);
            assert_eq!(app.inner_calls(), 0, "{name}: never a pass");

            // Control: the same request on the same layer succeeds once the server is back.
            broken.clear(path, &issuer).await;
            tokio::time::sleep(RETRY).await;
            let res = app.call(&token).await;
            assert_eq!(res.status(), StatusCode::OK, "{name}: {res:?}");
            assert_eq!(res.headers()["x-subject"], "alice", "{name}");
            assert_eq!(app.inner_calls(), 1, "{name}");
        }
    }
    for endpoint in [
        Endpoint::Metadata,
        Endpoint::OpenIdConfiguration,
        Endpoint::Jwks,
        Endpoint::Introspection,
    ] {
        assert_eq!(
            elsewhere.requests(endpoint),
            0,
            "{endpoint:?}: redirect followed"
        );
    }
}

/// The layer's own bound: a verifier that takes longer than `verify_timeout` (here, an HTTP
/// timeout far longer than it) is cut off with `503`, and the same layer serves the token
/// once the server answers promptly.
#[tokio::test]
async fn the_layers_verify_timeout_bounds_a_slow_verifier() {
    let issuer = dev_issuer().await;
    let verifier = IntrospectionVerifier::builder()
        .endpoint(issuer.introspection_endpoint())
        .issuer(issuer.issuer())
        .client_secret_basic("rs", "rs-secret")
        .http_timeout(Duration::from_secs(30))
        .cache_capacity(0)
        .build()
        .unwrap();
    let auth = McpAuth::builder(layer_support::RESOURCE)
        .authorization_server(issuer.issuer())
        .verifier(verifier)
        .verify_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let app = App::new(auth);
    let token = Path::Introspection.token(&issuer);
    issuer.set_delay(Endpoint::Introspection, SLOW);

    let started = Instant::now();
    let res = app.call(&token).await;
    assert_unavailable(&res);
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
    assert_eq!(app.inner_calls(), 0);

    // Control.
    issuer.set_delay(Endpoint::Introspection, Duration::ZERO);
    assert_eq!(app.call(&token).await.status(), StatusCode::OK);
    assert_eq!(app.inner_calls(), 1);
}
