//! What a Redis lookup adds on the cached-introspection path. Three verifiers of the same token
//! against the dev issuer's RFC 7662 endpoint, each in its steady state:
//! - the replica's own cache (the usual path: no network at all);
//! - no cache of its own, the answer another replica shared in Redis (one `GET` on loopback,
//!   the JSON decode and the answer checks): what a replica pays on a local miss;
//! - no cache at all: one introspection call per request, for scale.
//!
//! Starts its own `redis-server` on a free loopback port (Debian: `apt-get install
//! redis-server`). `cargo bench --all-features --bench redis`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth::{
    TokenVerifier,
    store::RedisStore,
    testing::{DevIssuer, Endpoint},
    verifier::{IntrospectionVerifier, introspection::IntrospectionVerifierBuilder},
};

/// A `redis-server` on a free loopback port, stopped when dropped.
struct RedisServer(Child, u16);

impl RedisServer {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        // Stopped by `Drop`, also when it does not come up.
        let server = Self(child, port);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start listening on port {port}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let redis = RedisServer::start();
    let store = RedisStore::new(&format!("redis://127.0.0.1:{}/0", redis.1)).unwrap();
    let issuer = rt
        .block_on(DevIssuer::builder().client("rs", "secret").start())
        .unwrap();
    let builder = || -> IntrospectionVerifierBuilder {
        IntrospectionVerifier::builder()
            .endpoint(issuer.introspection_endpoint())
            .issuer(issuer.issuer())
            .client_secret_basic("rs", "secret")
    };
    let local = builder().build().unwrap();
    let shared = builder()
        .cache_capacity(0)
        .shared_cache(store)
        .build()
        .unwrap();
    let uncached = builder().cache_capacity(0).build().unwrap();
    let token = issuer.opaque_token(&issuer.token().subject("alice").scopes(["mcp:read"]));

    // Warm each path; then the first two make no introspection call at all.
    rt.block_on(async {
        for verifier in [&local, &shared, &uncached] {
            assert!(verifier.verify(&token).await.is_ok());
        }
    });
    let calls = issuer.requests(Endpoint::Introspection);

    let mut group = c.benchmark_group("introspection_shared");
    group.bench_function("cached, this replica's cache", |b| {
        b.to_async(&rt).iter(|| local.verify(&token));
    });
    group.bench_function("cached, shared answer from Redis", |b| {
        b.to_async(&rt).iter(|| shared.verify(&token));
    });
    assert_eq!(
        issuer.requests(Endpoint::Introspection),
        calls,
        "both cached paths make no introspection call"
    );
    group.bench_function("no cache, one introspection call", |b| {
        b.to_async(&rt).iter(|| uncached.verify(&token));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
