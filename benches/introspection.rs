//! The introspection verify path: a token seen for the first time (a loopback round trip to
//! the dev issuer's RFC 7662 endpoint, the response checks, the cache insert) against a token
//! already introspected (SHA-256 + cache lookup).
//!
//! `cargo bench --all-features --bench introspection`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mcp_auth::{
    TokenVerifier,
    testing::{DevIssuer, Endpoint},
    verifier::IntrospectionVerifier,
};

fn verifier(issuer: &DevIssuer) -> IntrospectionVerifier {
    IntrospectionVerifier::builder()
        .endpoint(issuer.introspection_endpoint())
        .issuer(issuer.issuer())
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
    let issuer = rt
        .block_on(DevIssuer::builder().client("rs", "secret").start())
        .unwrap();
    // Every token is a new active one, so each costs exactly one call; minting it is setup,
    // outside the measurement.
    let new_token = || issuer.opaque_token(&issuer.token().subject("alice").scopes(["mcp:read"]));

    let mut group = c.benchmark_group("introspection_verify");

    let first = verifier(&issuer);
    assert!(rt.block_on(first.verify(&new_token())).is_ok());
    group.bench_function("first_call", |b| {
        b.to_async(&rt).iter_batched(
            new_token,
            |token| {
                let first = &first;
                async move { first.verify(&token).await.unwrap() }
            },
            BatchSize::SmallInput,
        );
    });

    let cached = verifier(&issuer);
    let token = new_token();
    assert!(rt.block_on(cached.verify(&token)).is_ok());
    let calls = issuer.requests(Endpoint::Introspection);
    group.bench_function("cached", |b| {
        b.to_async(&rt).iter(|| cached.verify(&token));
    });
    assert_eq!(
        issuer.requests(Endpoint::Introspection),
        calls,
        "the cached path makes no call"
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
