//! What the layer costs per request, next to the inner service alone: the authorized path with
//! a cheap verifier, the same with the per-tool body peek on a typical `tools/call`, and the
//! cheapest rejection. Compare ratios taken in one run; absolute numbers depend on the machine.
//!
//! `cargo bench --bench layer`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use mcp_auth::{AuthInfo, McpAuth, testing::StaticVerifier};
use tower::{Layer, Service, ServiceExt, service_fn};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const BODY: &str = r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"add_note","arguments":{"title":"Groceries","text":"milk, eggs, bread, coffee, apples","tags":["home","weekly"]},"_meta":{"progressToken":"p-42"}}}"#;

fn verifier() -> StaticVerifier {
    StaticVerifier::new().with_token(
        "tok",
        AuthInfo::builder()
            .issuer("https://auth.example.com")
            .subject("alice")
            .audience(RESOURCE)
            .scopes(["mcp:read", "notes:write"])
            .build(),
    )
}

fn request(token: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if let Some(token) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    req.body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .unwrap()
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
        .authorization_server("https://auth.example.com")
        .verifier(verifier())
        .required_scopes(["mcp:read"])
        .build()
        .unwrap();
    let per_tool = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(verifier())
        .required_scopes(["mcp:read"])
        .tool_scopes("add_note", ["notes:write"])
        .tool_scopes("delete_note", ["notes:admin"])
        .build()
        .unwrap();

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
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
