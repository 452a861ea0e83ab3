//! What operators see (issue #15): the `tracing` events and span of each decision, and the
//! `metrics` counters a few requests produce; no token ever appears in a log line.

#![cfg(all(feature = "tracing", feature = "metrics", feature = "testing"))]

use std::{
    io,
    sync::{Arc, Mutex, PoisonError},
};

use axum::{Router, body::Body, routing::any};
use http::{Request, StatusCode, header};
use mcp_auth::{
    McpAuth,
    testing::DevIssuer,
    verifier::{JwtVerifier, jwt::TrustedIssuer},
};
use metrics_util::{
    CompositeKey, MetricKind,
    debugging::{DebugValue, DebuggingRecorder},
};
use tower::ServiceExt;

const RESOURCE: &str = "http://127.0.0.1:3000/mcp";

/// Every line the `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

fn counter(
    snapshot: &[(
        CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        DebugValue,
    )],
    name: &str,
    labels: &[(&str, &str)],
) -> u64 {
    snapshot
        .iter()
        .filter(|(key, _, _, _)| key.kind() == MetricKind::Counter && key.key().name() == name)
        .filter(|(key, _, _, _)| {
            labels.iter().all(|(k, v)| {
                key.key()
                    .labels()
                    .any(|label| label.key() == *k && label.value() == *v)
            })
        })
        .map(|(_, _, _, value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

#[test]
fn decisions_are_traced_and_counted_without_tokens() {
    let lines = Lines::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let lines = lines.clone();
            move || lines.clone()
        })
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .finish();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let tokens = tracing::subscriber::with_default(subscriber, || {
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let issuer = DevIssuer::builder()
                    .default_resource(RESOURCE)
                    .start()
                    .await
                    .expect("issuer starts");
                let verifier = JwtVerifier::builder()
                    .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
                    .build()
                    .expect("verifier builds");
                let app = Router::new().route("/mcp", any(|| async { "ok" })).layer(
                    McpAuth::builder(RESOURCE)
                        .verifier(verifier)
                        .required_scopes(["mcp:read"])
                        .build()
                        .expect("layer builds"),
                );
                let send = |token: Option<String>| {
                    let app = app.clone();
                    async move {
                        let mut req = Request::post("/mcp");
                        if let Some(token) = token {
                            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
                        }
                        app.oneshot(req.body(Body::empty()).expect("request"))
                            .await
                            .expect("infallible")
                            .status()
                    }
                };
                let good = issuer
                    .token()
                    .subject("alice")
                    .client_id("notes-app")
                    .scopes(["mcp:read"])
                    .sign();
                let narrow = issuer.token().subject("bob").scopes(["other"]).sign();
                let forged = issuer.token().subject("mallory").tamper_signature().sign();
                assert_eq!(send(Some(good.clone())).await, StatusCode::OK);
                assert_eq!(send(Some(good.clone())).await, StatusCode::OK);
                assert_eq!(send(None).await, StatusCode::UNAUTHORIZED);
                assert_eq!(send(Some(forged.clone())).await, StatusCode::UNAUTHORIZED);
                assert_eq!(send(Some(narrow.clone())).await, StatusCode::FORBIDDEN);
                // Not the JWT verifier's: refused, and not a miss of its cache.
                let opaque = "an-opaque-access-token".to_owned();
                assert_eq!(send(Some(opaque.clone())).await, StatusCode::UNAUTHORIZED);
                issuer.shutdown().await;
                vec![good, narrow, forged, opaque]
            })
        })
    });

    let text = lines.text();
    // One event per decision, with the principal and the reason.
    let authorized: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("request authorized"))
        .collect();
    assert_eq!(authorized.len(), 2, "{text}");
    assert!(authorized[0].contains("subject=\"alice\""), "{text}");
    assert!(authorized[0].contains("client_id=\"notes-app\""), "{text}");
    assert!(
        authorized[0].contains("issuer=\"http://127.0.0.1:"),
        "{text}"
    );
    let rejected: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("request rejected"))
        .collect();
    assert_eq!(rejected.len(), 4, "{text}");
    assert!(
        rejected
            .iter()
            .any(|l| l.contains("reason=\"unauthorized\"")),
        "{text}"
    );
    assert!(
        rejected
            .iter()
            .any(|l| l.contains("reason=\"invalid_token\"")),
        "{text}"
    );
    assert!(
        rejected
            .iter()
            .any(|l| l.contains("reason=\"insufficient_scope\"")),
        "{text}"
    );
    // The decision span closes with its fields recorded.
    assert!(
        text.lines()
            .any(|l| l.contains("authorize{outcome=\"allowed\"") && l.contains("close")),
        "{text}"
    );
    // The JWKS fetch is attributed to the request that caused it.
    assert!(
        text.lines()
            .any(|l| l.contains("JWKS fetched") && l.contains("authorize")),
        "{text}"
    );
    // No token, and no part of one, in any line.
    for token in &tokens {
        for part in token.split('.') {
            assert!(!text.contains(part), "a token part leaked into the logs");
        }
    }

    let snapshot = snapshotter.snapshot().into_vec();
    let requests = |labels: &[(&str, &str)]| counter(&snapshot, "mcp_auth_requests_total", labels);
    assert_eq!(requests(&[("outcome", "allowed")]), 2);
    assert_eq!(
        requests(&[("outcome", "rejected"), ("reason", "unauthorized")]),
        1
    );
    assert_eq!(
        requests(&[("outcome", "rejected"), ("reason", "invalid_token")]),
        2
    );
    assert_eq!(
        requests(&[("outcome", "rejected"), ("reason", "insufficient_scope")]),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            "mcp_auth_jwks_fetches_total",
            &[("result", "ok")]
        ),
        1
    );
    let cache = |result| {
        counter(
            &snapshot,
            "mcp_auth_token_cache_total",
            &[("verifier", "jwt"), ("result", result)],
        )
    };
    assert_eq!(cache("hit"), 1, "the second request with the good token");
    assert_eq!(
        cache("miss"),
        3,
        "the first sight of each JWT, not the opaque token"
    );
    let verified = snapshot
        .iter()
        .filter(|(key, _, _, _)| {
            key.kind() == MetricKind::Histogram && key.key().name() == "mcp_auth_verify_seconds"
        })
        .map(|(_, _, _, value)| match value {
            DebugValue::Histogram(values) => values.len(),
            _ => 0,
        })
        .sum::<usize>();
    assert_eq!(verified, 5, "one latency per verification");
    let latencies = |result: &str| {
        snapshot
            .iter()
            .filter(|(key, _, _, _)| {
                key.key().name() == "mcp_auth_verify_seconds"
                    && key
                        .key()
                        .labels()
                        .any(|l| l.key() == "result" && l.value() == result)
            })
            .map(|(_, _, _, value)| match value {
                DebugValue::Histogram(values) => values.len(),
                _ => 0,
            })
            .sum::<usize>()
    };
    assert_eq!(
        (latencies("valid"), latencies("invalid")),
        (3, 2),
        "labelled by result"
    );
}
