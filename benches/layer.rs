//! What the layer costs per request, next to the inner service alone: the authorized path with
//! a cheap verifier, the same with the per-tool body peek on a typical `tools/call`, the header
//! extraction of a short and of an ~800-byte token (a verifier that ignores the token, so the
//! difference is the layer's per-byte work), the rejections (no token, malformed header,
//! invalid token), and the layer with a real `JwtVerifier` (RS256: a cached token, 8,000
//! cached tokens in rotation, a forged signature). Compare ratios taken in one run; absolute numbers depend on the machine.
//! `benches/load.sh` measures the same paths over HTTP.
//!
//! `cargo bench --bench layer`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use mcp_auth::{
    AuthInfo, McpAuth, VerifyError,
    testing::{FnVerifier, SigningKey, StaticVerifier, TokenBuilder},
    verifier::{JwtVerifier, jwt::TrustedIssuer},
};
use tower::{Layer, Service, ServiceExt, service_fn};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const ISSUER: &str = "https://auth.example.com";
/// Two tokens in one header: `400 invalid_request` before any verification.
const MALFORMED: &str = "Bearer abc def";
const BODY: &str = r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"add_note","arguments":{"title":"Groceries","text":"milk, eggs, bread, coffee, apples","tags":["home","weekly"]},"_meta":{"progressToken":"p-42"}}}"#;

fn verifier() -> StaticVerifier {
    StaticVerifier::new().with_token("tok", info())
}

fn request(token: Option<&str>) -> Request<Full<Bytes>> {
    match token {
        Some(token) => request_with(Some(&format!("Bearer {token}"))),
        None => request_with(None),
    }
}

fn request_with(authorization: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if let Some(value) = authorization {
        req = req.header(header::AUTHORIZATION, value);
    }
    req.body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .unwrap()
}

fn info() -> AuthInfo {
    AuthInfo::builder()
        .issuer(ISSUER)
        .subject("alice")
        .audience(RESOURCE)
        .scopes(["mcp:read", "notes:write"])
        .build()
}

/// A layer whose verifier accepts every token except `bad` without looking at it, so the
/// layer's own work on the header is what varies with the token.
fn accept_all() -> McpAuth {
    let info = info();
    McpAuth::builder(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(FnVerifier::new(move |token: &str| match token {
            "bad" => Err(VerifyError::invalid_token("bad token")),
            _ => Ok(info.clone()),
        }))
        .required_scopes(["mcp:read"])
        .build()
        .unwrap()
}

/// A layer with a `JwtVerifier` trusting `key` (static key set, default token cache).
fn jwt_layer(key: &SigningKey) -> McpAuth {
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwk_set(ISSUER, key.jwks().to_string()))
        .build()
        .unwrap();
    McpAuth::builder(RESOURCE)
        .verifier(verifier)
        .required_scopes(["mcp:read"])
        .build()
        .unwrap()
}

/// An RS256 access token for `RESOURCE` of about 800 bytes, like those of `benches/load.sh`.
fn jwt(key: &SigningKey) -> TokenBuilder {
    key.token()
        .issuer(ISSUER)
        .subject("user-0000001")
        .client_id("load-client")
        .scopes(["mcp:read", "mcp:write"])
        .audience(RESOURCE)
        .claim("email", "user-0000001@load.example")
        .expires_in(Duration::from_secs(3_600))
}

/// An inner service that reads the whole body, as an MCP server does.
async fn inner<B: http_body::Body>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let len = match req.into_body().collect().await {
        Ok(body) => body.to_bytes().len(),
        Err(_) => 0,
    };
    Ok(Response::new(Full::new(Bytes::from(len.to_string()))))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let plain = McpAuth::builder(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(verifier())
        .required_scopes(["mcp:read"])
        .build()
        .unwrap();
    let per_tool = McpAuth::builder(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(verifier())
        .required_scopes(["mcp:read"])
        .tool_scopes("add_note", ["notes:write"])
        .tool_scopes("delete_note", ["notes:admin"])
        .build()
        .unwrap();

    let any = accept_all();
    // The size of an RS256 access token with the usual claims (`benches/load.sh` sends these).
    let long_token = "a".repeat(782);
    let key = SigningKey::rs256();
    let rs256 = jwt_layer(&key);
    let good = jwt(&key).sign();
    let forged = jwt(&key).tamper_signature().sign();

    // Sanity: every path answers as expected before it is measured.
    rt.block_on(async {
        let ok = plain
            .layer(service_fn(inner))
            .oneshot(request(Some("tok")))
            .await;
        assert_eq!(ok.unwrap().status(), StatusCode::OK);
        let ok = per_tool
            .layer(service_fn(inner))
            .oneshot(request(Some("tok")))
            .await;
        assert_eq!(ok.unwrap().status(), StatusCode::OK);
        let no = plain.layer(service_fn(inner)).oneshot(request(None)).await;
        assert_eq!(no.unwrap().status(), StatusCode::UNAUTHORIZED);
        for (token, status) in [
            ("t", StatusCode::OK),
            (long_token.as_str(), StatusCode::OK),
            ("bad", StatusCode::UNAUTHORIZED),
        ] {
            let res = any
                .layer(service_fn(inner))
                .oneshot(request(Some(token)))
                .await;
            assert_eq!(res.unwrap().status(), status, "{token}");
        }
        let res = any
            .layer(service_fn(inner))
            .oneshot(request_with(Some(MALFORMED)))
            .await;
        assert_eq!(res.unwrap().status(), StatusCode::BAD_REQUEST);
        let res = rs256
            .layer(service_fn(inner))
            .oneshot(request(Some(&good)))
            .await;
        assert_eq!(res.unwrap().status(), StatusCode::OK);
        let res = rs256
            .layer(service_fn(inner))
            .oneshot(request(Some(&forged)))
            .await;
        assert_eq!(res.unwrap().status(), StatusCode::UNAUTHORIZED);
    });

    let mut group = c.benchmark_group("layer");
    group.bench_function("inner service alone", |b| {
        let mut svc = service_fn(inner);
        b.to_async(&rt).iter(|| {
            let fut = svc.call(request(Some("tok")));
            async move { fut.await.unwrap() }
        });
    });
    group.bench_function("authorized, global scopes", |b| {
        let mut svc = plain.layer(service_fn(inner));
        b.to_async(&rt).iter(|| {
            let fut = svc.call(request(Some("tok")));
            async move { fut.await.unwrap() }
        });
    });
    group.bench_function("authorized, per-tool peek of tools/call", |b| {
        let mut svc = per_tool.layer(service_fn(inner));
        b.to_async(&rt).iter(|| {
            let fut = svc.call(request(Some("tok")));
            async move { fut.await.unwrap() }
        });
    });
    group.bench_function("rejected, no token", |b| {
        let mut svc = plain.layer(service_fn(inner));
        b.to_async(&rt).iter(|| {
            let fut = svc.call(request(None));
            async move { fut.await.unwrap() }
        });
    });
    for (name, token) in [
        ("extract, 1-byte token", "t"),
        ("extract, 782-byte token", long_token.as_str()),
        ("rejected, invalid token (401)", "bad"),
    ] {
        group.bench_function(name, |b| {
            let mut svc = any.layer(service_fn(inner));
            b.to_async(&rt).iter(|| {
                let fut = svc.call(request(Some(token)));
                async move { fut.await.unwrap() }
            });
        });
    }
    group.bench_function("rejected, malformed header (400)", |b| {
        let mut svc = any.layer(service_fn(inner));
        b.to_async(&rt).iter(|| {
            let fut = svc.call(request_with(Some(MALFORMED)));
            async move { fut.await.unwrap() }
        });
    });
    for (name, token) in [
        ("JwtVerifier RS256, cached token", good.as_str()),
        ("JwtVerifier RS256, forged signature (401)", forged.as_str()),
    ] {
        group.bench_function(name, |b| {
            let mut svc = rs256.layer(service_fn(inner));
            b.to_async(&rt).iter(|| {
                let fut = svc.call(request(Some(token)));
                async move { fut.await.unwrap() }
            });
        });
    }
    // Tokens in rotation, more than the CPU's caches hold with their entries and `AuthInfo`s
    // (as `rotate-10k` of `benches/load.sh`), within the default cache of 10,000: each request
    // finds its token cached, in memory no request touched for a while. Against `cached
    // token` above, the difference is what those cache misses cost.
    let rotation: Vec<String> = (0..ROTATION)
        .map(|i| jwt(&key).subject(format!("user-{i:07}")).sign())
        .collect();
    group.bench_function("JwtVerifier RS256, 8,000 cached tokens in rotation", |b| {
        let mut svc = rs256.layer(service_fn(inner));
        let mut next = 0;
        b.to_async(&rt).iter(|| {
            next = (next + 1) % rotation.len();
            let fut = svc.call(request(Some(&rotation[next])));
            async move {
                let res = fut.await.unwrap();
                debug_assert_eq!(res.status(), StatusCode::OK);
                res
            }
        });
    });
    group.finish();
}

/// How many tokens `…, cached tokens in rotation` cycles through.
const ROTATION: usize = 8_000;

criterion_group!(benches, bench);
criterion_main!(benches);
