//! Many replicas on one Redis (issue #14): two `McpAuth` instances sharing a real
//! `redis-server`, started by this harness on a loopback port, act as two replicas of one
//! server. Replay detection and session bindings fail closed while Redis is down; the
//! introspection cache falls back; everything recovers without a restart.
//!
//! Needs `redis-server` on the `PATH` (`apt-get install redis-server`; `.ci/run` installs it).
//! Set `MCP_AUTH_SKIP_REDIS_TESTS=1` to skip these tests on a machine without it.

#![cfg(all(feature = "redis", feature = "testing", feature = "introspection"))]

use std::{
    net::{SocketAddr, TcpListener},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, routing::any};
use http::{HeaderValue, Request, Response, StatusCode, header};
use mcp_auth::{
    AuthInfo, McpAuth,
    dpop::Dpop,
    store::{RedisStore, Store, StoreKey},
    testing::{DevIssuer, DpopProof, Endpoint, SigningKey, StaticVerifier, key_thumbprint},
    verifier::IntrospectionVerifier,
};
use tower::ServiceExt;

const RESOURCE: &str = "http://127.0.0.1:8080/mcp";

/// A `redis-server` on a free loopback port, stopped when dropped.
struct RedisServer {
    addr: SocketAddr,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one, or returns `None` when the tests are to be skipped.
    async fn start() -> Option<Self> {
        if std::env::var_os("MCP_AUTH_SKIP_REDIS_TESTS").is_some() {
            eprintln!("MCP_AUTH_SKIP_REDIS_TESTS is set: skipping a Redis test");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child: None,
        };
        server.spawn().await;
        Some(server)
    }

    async fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.addr.port().to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "redis-server could not be started: install it (apt-get install redis-server) \
                 or set MCP_AUTH_SKIP_REDIS_TESTS=1",
            );
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start listening on {}", self.addr);
    }

    fn url(&self) -> String {
        format!("redis://{}/0", self.addr)
    }

    fn store(&self) -> RedisStore {
        RedisStore::new(&self.url())
            .expect("a Redis URL")
            // Long enough for a stalled machine: a stopped server is refused at once anyway.
            .timeout(Duration::from_secs(1))
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn send(app: &Router, headers: &[(&str, String)]) -> Response<Body> {
    let mut req = Request::post("/mcp").header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    app.clone()
        .oneshot(req.body(Body::from("{}")).expect("request"))
        .await
        .expect("infallible")
}

#[tokio::test]
async fn the_store_answers_and_fails_cleanly_when_redis_is_down() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let store = redis.store();
    let key = StoreKey::new("test", b"k");
    let ttl = Duration::from_secs(60);
    assert!(
        store
            .insert_if_absent(&key, "v".into(), ttl)
            .await
            .expect("answers")
    );
    assert!(
        !store
            .insert_if_absent(&key, "v".into(), ttl)
            .await
            .expect("answers")
    );
    assert_eq!(
        store
            .get(&key, Some(ttl))
            .await
            .expect("answers")
            .as_deref(),
        Some(&b"v"[..])
    );
    redis.stop();
    let started = std::time::Instant::now();
    assert!(store.get(&key, None).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the timeout"
    );
    redis.restart().await;
    // A fresh server (nothing persisted); the same store reconnects by itself.
    let mut answered = false;
    for _ in 0..20 {
        if store.get(&key, None).await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "the store recovers without a restart");
}

struct DpopSetup {
    client_key: SigningKey,
}

impl DpopSetup {
    fn replica(&self, store: RedisStore) -> Router {
        let jkt = key_thumbprint(&self.client_key);
        let verifier = StaticVerifier::new();
        verifier.insert(
            self.token(),
            AuthInfo::builder()
                .subject("alice")
                .audience(RESOURCE)
                .key_thumbprint(jkt)
                .build(),
        );
        let auth = McpAuth::builder(RESOURCE)
            .authorization_server("http://127.0.0.1:9")
            .verifier(verifier)
            .dpop(Dpop::allowed().replay_store(store))
            .build()
            .expect("layer builds");
        Router::new()
            .route("/mcp", any(|| async { "ok" }))
            .layer(auth)
    }

    fn token(&self) -> String {
        format!("bound-to-{}", key_thumbprint(&self.client_key))
    }

    fn headers(&self, proof: String) -> Vec<(&'static str, String)> {
        vec![
            ("authorization", format!("DPoP {}", self.token())),
            ("dpop", proof),
        ]
    }

    fn proof(&self) -> String {
        DpopProof::new(&self.client_key, "POST", RESOURCE)
            .access_token(&self.token())
            .sign()
    }
}

#[tokio::test]
async fn a_proof_replayed_to_another_replica_is_refused_and_replay_detection_fails_closed() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let setup = DpopSetup {
        client_key: SigningKey::es256(),
    };
    let (a, b) = (setup.replica(redis.store()), setup.replica(redis.store()));
    let proof = setup.proof();
    assert_eq!(
        send(&a, &setup.headers(proof.clone())).await.status(),
        StatusCode::OK
    );
    let replay = send(&b, &setup.headers(proof)).await;
    assert_eq!(
        replay.status(),
        StatusCode::UNAUTHORIZED,
        "replayed to replica B"
    );
    // Control: a fresh proof through B.
    assert_eq!(
        send(&b, &setup.headers(setup.proof())).await.status(),
        StatusCode::OK
    );

    // Redis down: no proof can be checked for replay, so none passes.
    redis.stop();
    let res = send(&a, &setup.headers(setup.proof())).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    redis.restart().await;
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..20 {
        status = send(&a, &setup.headers(setup.proof())).await.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK, "recovered without a restart");
}

/// An inner service that opens a session on a request without one.
fn session_replica(store: RedisStore, verifier: StaticVerifier) -> Router {
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server("http://127.0.0.1:9")
        .verifier(verifier)
        .session_store(store)
        .build()
        .expect("layer builds");
    Router::new()
        .route(
            "/mcp",
            any(|req: Request<Body>| async move {
                let mut res = Response::new(Body::from("ok"));
                if !req.headers().contains_key("mcp-session-id") {
                    res.headers_mut()
                        .insert("mcp-session-id", HeaderValue::from_static("session-7f3a"));
                }
                res
            }),
        )
        .layer(auth)
}

#[tokio::test]
async fn a_session_is_bound_across_replicas_and_binding_fails_closed() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let verifier = StaticVerifier::new();
    for who in ["alice", "bob"] {
        verifier.insert(
            who,
            AuthInfo::builder()
                .issuer("https://as")
                .subject(who)
                .audience(RESOURCE)
                .build(),
        );
    }
    let a = session_replica(redis.store(), verifier.clone());
    let b = session_replica(redis.store(), verifier);
    let as_alice = vec![("authorization", "Bearer alice".to_owned())];
    let created = send(&a, &as_alice).await;
    assert_eq!(created.status(), StatusCode::OK);
    let session = created.headers()["mcp-session-id"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let with = |who: &str| {
        vec![
            ("authorization", format!("Bearer {who}")),
            ("mcp-session-id", session.clone()),
        ]
    };
    assert_eq!(send(&b, &with("bob")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(send(&b, &with("alice")).await.status(), StatusCode::OK);

    redis.stop();
    let res = send(&b, &with("alice")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    // A new session cannot be bound either: refused rather than left unbound.
    assert_eq!(
        send(&a, &as_alice).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    redis.restart().await;
    // Redis forgot everything (no persistence here): the old session is unknown, a new one
    // binds again.
    let mut created = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..20 {
        created = send(&a, &as_alice).await.status();
        if created == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(created, StatusCode::OK, "recovered without a restart");
    assert_eq!(send(&b, &with("alice")).await.status(), StatusCode::OK);
    assert_eq!(send(&b, &with("bob")).await.status(), StatusCode::NOT_FOUND);
}

fn introspection_replica(issuer: &DevIssuer, store: RedisStore) -> Router {
    let verifier = IntrospectionVerifier::builder()
        .endpoint(issuer.introspection_endpoint())
        .issuer(issuer.issuer())
        .client_secret_basic("rs", "rs-secret")
        .shared_cache(store)
        .build()
        .expect("verifier builds");
    let auth = McpAuth::builder(RESOURCE)
        .verifier(verifier)
        .build()
        .expect("layer builds");
    Router::new()
        .route("/mcp", any(|| async { "ok" }))
        .layer(auth)
}

#[tokio::test]
async fn one_introspection_per_token_across_replicas_and_a_fallback_without_redis() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let issuer = DevIssuer::builder()
        .client("rs", "rs-secret")
        .default_resource(RESOURCE)
        .start()
        .await
        .expect("issuer starts");
    let a = introspection_replica(&issuer, redis.store());
    let b = introspection_replica(&issuer, redis.store());

    // 100 concurrent requests with one new token, spread over both replicas: each replica
    // shares one call among its own concurrent requests, and at most one of them asks the
    // server before the other's answer is in Redis.
    let token = issuer.opaque_token(&issuer.token().subject("alice"));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let app = if i % 2 == 0 { a.clone() } else { b.clone() };
        let token = token.clone();
        let ok = Arc::clone(&ok);
        tasks.push(tokio::spawn(async move {
            let res = send(&app, &[("authorization", format!("Bearer {token}"))]).await;
            if res.status() == StatusCode::OK {
                ok.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for task in tasks {
        task.await.expect("joins");
    }
    assert_eq!(ok.load(Ordering::SeqCst), 100);
    let calls = issuer.requests(Endpoint::Introspection);
    assert!((1..=2).contains(&calls), "{calls} introspection calls");

    // A third replica, started later, reads the shared answer: no call.
    let c = introspection_replica(&issuer, redis.store());
    let res = send(&c, &[("authorization", format!("Bearer {token}"))]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Introspection), calls);

    // Redis down: no 503 for that alone; the replica asks the server itself.
    redis.stop();
    let fresh = issuer.opaque_token(&issuer.token().subject("bob"));
    let res = send(&a, &[("authorization", format!("Bearer {fresh}"))]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Introspection), calls + 1);
    // And a refused token is still refused.
    let res = send(&b, &[("authorization", "Bearer not-a-token".to_owned())]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
