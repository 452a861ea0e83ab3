//! The introspection verify path: a token seen for the first time (a loopback round trip to a
//! stand-in RFC 7662 endpoint, the response checks, the cache insert) against a token already
//! introspected (SHA-256 + cache lookup).
//!
//! `cargo bench --all-features --bench introspection`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/introspection_support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth::{TokenVerifier, verifier::IntrospectionVerifier};

use support::{ISSUER, StandIn, active};

fn verifier(endpoint: &str) -> IntrospectionVerifier {
    IntrospectionVerifier::builder()
        .endpoint(endpoint)
        .issuer(ISSUER)
        .client_secret_basic("rs", "secret")
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(StandIn::start());
    // Every token is active, so each new token costs exactly one call.
    server.set_body(Some(active().to_string()));

    let mut group = c.benchmark_group("introspection_verify");

    let first = verifier(&server.endpoint());
    let counter = AtomicU64::new(0);
    assert!(rt.block_on(first.verify("warm-up")).is_ok());
    group.bench_function("first_call", |b| {
        b.to_async(&rt).iter(|| {
            let token = format!("opaque-{}", counter.fetch_add(1, Ordering::Relaxed));
            let first = &first;
            async move { first.verify(&token).await.unwrap() }
        });
    });

    let cached = verifier(&server.endpoint());
    let token = "opaque-token-0123456789abcdef0123456789abcdef";
    assert!(rt.block_on(cached.verify(token)).is_ok());
    let calls = server.calls();
    group.bench_function("cached", |b| {
        b.to_async(&rt).iter(|| cached.verify(token));
    });
    assert_eq!(server.calls(), calls, "the cached path makes no call");
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
