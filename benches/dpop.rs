//! What a DPoP proof (RFC 9449) adds to a request: the layer with a `JwtVerifier` (RS256 access
//! tokens, cached after their first sight), once with a bearer token and once with a token bound
//! to the client's key and a fresh proof per request, signed with ES256 or EdDSA (Ed25519). The
//! difference between the two is the proof's whole cost: parsing, the signature check with the
//! proof's embedded key, the thumbprint, `htm`/`htu`/`ath`/`iat` and the replay check. Proofs
//! are signed outside the measurement (a client's cost, not the server's). Compare the rows of
//! one run; absolute numbers depend on the machine.
//!
//! `cargo bench --bench dpop`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use mcp_auth::{
    McpAuth,
    dpop::Dpop,
    testing::{DpopProof, SigningKey, key_thumbprint},
    verifier::{JwtVerifier, jwt::TrustedIssuer},
};
use serde_json::json;
use tower::{Layer, Service, ServiceExt, service_fn};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const ISSUER: &str = "https://auth.example.com";
const BODY: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;

fn layer(issuer_key: &SigningKey) -> McpAuth {
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwk_set(
            ISSUER,
            issuer_key.jwks().to_string(),
        ))
        .build()
        .unwrap();
    McpAuth::builder(RESOURCE)
        .verifier(verifier)
        .required_scopes(["mcp:read"])
        .dpop(Dpop::allowed())
        .build()
        .unwrap()
}

/// An access token for `RESOURCE`, bound to `client` when given.
fn token(issuer_key: &SigningKey, client: Option<&SigningKey>) -> String {
    let mut token = issuer_key
        .token()
        .issuer(ISSUER)
        .subject("user-0000001")
        .client_id("bench-client")
        .scopes(["mcp:read"])
        .audience(RESOURCE)
        .expires_in(Duration::from_secs(3_600));
    if let Some(client) = client {
        token = token.claim("cnf", json!({ "jkt": key_thumbprint(client) }));
    }
    token.sign()
}

fn request(authorization: &str, proof: Option<String>) -> Request<Full<Bytes>> {
    let mut req = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::AUTHORIZATION, authorization);
    if let Some(proof) = proof {
        req = req.header("dpop", proof);
    }
    req.body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .unwrap()
}

/// A request with `token` and a fresh proof (its own `jti`) signed by `client`.
fn proven(token: &str, client: &SigningKey) -> Request<Full<Bytes>> {
    let proof = DpopProof::new(client, "POST", RESOURCE)
        .access_token(token)
        .sign();
    request(&format!("DPoP {token}"), Some(proof))
}

async fn inner<B>(_: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let issuer_key = SigningKey::rs256().with_kid("as-1");
    let auth = layer(&issuer_key);
    let bearer = format!("Bearer {}", token(&issuer_key, None));
    let clients = [
        ("ES256", SigningKey::es256()),
        ("EdDSA", SigningKey::ed_dsa()),
    ];
    let bound: Vec<(&str, &SigningKey, String)> = clients
        .iter()
        .map(|(name, key)| (*name, key, token(&issuer_key, Some(key))))
        .collect();

    // Sanity, and the tokens' first sight (what follows measures cached tokens): each path
    // answers as expected; a replayed proof and a bound token without one are refused.
    rt.block_on(async {
        let status = |req| async {
            let res = auth.layer(service_fn(inner)).oneshot(req).await;
            res.unwrap().status()
        };
        assert_eq!(status(request(&bearer, None)).await, StatusCode::OK);
        for (name, key, token) in &bound {
            let req = proven(token, key);
            let replay = req.headers().clone();
            assert_eq!(status(req).await, StatusCode::OK, "{name}");
            let mut again = request("", None);
            *again.headers_mut() = replay;
            assert_eq!(
                status(again).await,
                StatusCode::UNAUTHORIZED,
                "{name} replay"
            );
            let as_bearer = request(&format!("Bearer {token}"), None);
            assert_eq!(
                status(as_bearer).await,
                StatusCode::UNAUTHORIZED,
                "{name} bearer"
            );
        }
    });

    let mut group = c.benchmark_group("dpop");
    group.bench_function("bearer token (no proof)", |b| {
        let mut svc = auth.layer(service_fn(inner));
        b.to_async(&rt).iter(|| {
            let fut = svc.call(request(&bearer, None));
            async move { fut.await.unwrap() }
        });
    });
    for (name, key, token) in &bound {
        group.bench_function(format!("bound token + {name} proof"), |b| {
            let mut svc = auth.layer(service_fn(inner));
            b.to_async(&rt).iter_batched(
                || proven(token, key),
                |req| {
                    let fut = svc.call(req);
                    async move {
                        let res = fut.await.unwrap();
                        debug_assert_eq!(res.status(), StatusCode::OK);
                        res
                    }
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
