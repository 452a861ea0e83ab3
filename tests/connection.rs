//! What a rejection does to the client's connection.
//!
//! hyper closes an HTTP/1 connection whose request body was not read. Every MCP client's
//! first request carries a JSON-RPC body and no token, so a layer that rejects without
//! reading would cost each client a new connection (and say `Connection: close` so that it
//! does not reuse a dead one). The layer reads and discards a small body (at most 64 KiB,
//! within a second) before it answers, and keeps the connection; a larger, slower or
//! announced (`Expect: 100-continue`) body is left unread and the connection closed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod layer_support;

use std::{
    collections::VecDeque,
    convert::Infallible,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use mcp_auth::{AuthInfo, McpAuth, testing::StaticVerifier};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tower::{Layer, ServiceExt, service_fn};

use layer_support::Stalled;

const RESOURCE: &str = "http://127.0.0.1/mcp";
const JSON: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add_note"}}"#;

fn auth(per_tool: bool) -> McpAuth {
    let info = |scopes: &[&str]| {
        AuthInfo::builder()
            .issuer("https://auth.example.com")
            .subject("alice")
            .audiences([RESOURCE])
            .scopes(scopes.iter().copied())
            .build()
    };
    let verifier = StaticVerifier::new()
        .with_token("good", info(&["mcp:read", "notes:write"]))
        .with_token("noscope", info(&[]))
        .with_token("readonly", info(&["mcp:read"]));
    let mut builder = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(verifier)
        .required_scopes(["mcp:read"])
        .max_body_size(32 * 1024);
    if per_tool {
        builder = builder.tool_scopes("add_note", ["notes:write"]);
    }
    builder.build().unwrap()
}

type TestBody = BoxBody<Bytes, Infallible>;

fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into()).boxed()
}

/// A `POST` with `body`, declared by `Content-Length` (or chunked when `None`).
fn post(token: Option<&str>, body: TestBody, length: Option<usize>) -> Request<TestBody> {
    let mut req = Request::post("/mcp").header(header::CONTENT_TYPE, "application/json");
    req = match length {
        Some(len) => req.header(header::CONTENT_LENGTH, len),
        None => req.header(header::TRANSFER_ENCODING, "chunked"),
    };
    if let Some(token) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    req.body(body).unwrap()
}

async fn send(auth: &McpAuth, req: Request<TestBody>) -> (StatusCode, HeaderMap) {
    let inner = service_fn(
        |req: Request<mcp_auth::body::RequestBody<TestBody>>| async move {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            Ok::<_, Infallible>(Response::new(Full::new(body)))
        },
    );
    let res = auth.layer(inner).oneshot(req).await.unwrap();
    (res.status(), res.headers().clone())
}

fn closes(headers: &HeaderMap) -> bool {
    match headers.get(header::CONNECTION) {
        Some(value) => {
            assert_eq!(value, "close");
            true
        }
        None => false,
    }
}

#[tokio::test]
async fn small_bodies_are_drained_and_the_connection_kept() {
    for per_tool in [false, true] {
        let auth = auth(per_tool);
        let cases = [
            ("no token", None, StatusCode::UNAUTHORIZED),
            ("unknown token", Some("nope"), StatusCode::UNAUTHORIZED),
            ("no scope", Some("noscope"), StatusCode::FORBIDDEN),
        ];
        for (name, token, status) in cases {
            let (got, headers) = send(&auth, post(token, full(JSON), Some(JSON.len()))).await;
            assert_eq!(got, status, "{name}, per-tool rules {per_tool}");
            assert!(!closes(&headers), "{name}, per-tool rules {per_tool}");
            // Chunked, several frames: drained all the same.
            let chunks = chunked(&[&JSON[..10], &JSON[10..]]);
            let (got, headers) = send(&auth, post(token, chunks, None)).await;
            assert_eq!(got, status, "{name} chunked");
            assert!(!closes(&headers), "{name} chunked");
        }
    }
    // With per-tool rules the layer read the whole body to learn the tool: a refusal after
    // that keeps the connection too.
    let (status, headers) = send(
        &auth(true),
        post(Some("readonly"), full(JSON), Some(JSON.len())),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!closes(&headers));
    // Control: accepted requests are not touched.
    let (status, headers) = send(
        &auth(true),
        post(Some("good"), full(JSON), Some(JSON.len())),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!closes(&headers));
}

#[tokio::test]
async fn large_or_announced_bodies_close_the_connection() {
    let auth = auth(false);
    let big = vec![b' '; 70 * 1024];
    // Declared larger than 64 KiB: not read at all.
    let (status, headers) = send(&auth, post(None, full(big.clone()), Some(big.len()))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(closes(&headers));
    // Chunked, and larger than 64 KiB as it arrives.
    let (status, headers) = send(&auth, post(None, full(big.clone()), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(closes(&headers));
    // The client waits for `100 Continue` before sending: asking for the body would only
    // delay the refusal.
    let mut req = post(None, full(JSON), Some(JSON.len()));
    req.headers_mut()
        .insert(header::EXPECT, "100-continue".parse().unwrap());
    let (status, headers) = send(&auth, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(closes(&headers));
    // Per-tool rules, a body over `max_body_size`: 413, partly read, closed.
    let big = vec![b' '; 40 * 1024];
    let (status, headers) = send(&self::auth(true), post(Some("good"), full(big), None)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(closes(&headers));
    // HTTP/2 and requests without a body have no connection to save.
    let mut req = post(None, full(big_body()), Some(100_000));
    *req.version_mut() = http::Version::HTTP_2;
    let (status, headers) = send(&auth, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!closes(&headers));
    // Nor a body over `max_body_size` on HTTP/2, which forbids `Connection` (RFC 9113
    // §8.2.2): the same 413 as on HTTP/1.1 above, without the header.
    let mut req = post(Some("good"), full(vec![b' '; 40 * 1024]), None);
    *req.version_mut() = http::Version::HTTP_2;
    let (status, headers) = send(&self::auth(true), req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!closes(&headers));
}

/// The metadata's path answers without authentication, and without reading a body: a small
/// one is drained first, as for a rejection, so the connection stays; a large one closes it.
#[tokio::test]
async fn a_body_sent_to_the_metadata_is_drained_or_the_connection_closed() {
    let auth = auth(false);
    let metadata = |body: TestBody, length: usize| {
        Request::post("/.well-known/oauth-protected-resource/mcp")
            .header(header::CONTENT_LENGTH, length)
            .body(body)
            .unwrap()
    };
    let read = Arc::new(AtomicBool::new(false));
    let watched = Watched {
        inner: Full::new(Bytes::from_static(JSON)),
        read: Arc::clone(&read),
    };
    let (status, headers) = send(&auth, metadata(watched.boxed(), JSON.len())).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!closes(&headers));
    assert!(
        read.load(Ordering::SeqCst),
        "the small body was read to its end"
    );
    let (status, headers) = send(&auth, metadata(full(big_body()), 100_000)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(closes(&headers));
    // The same large body over HTTP/2: no connection to save, no header.
    let mut req = metadata(full(big_body()), 100_000);
    *req.version_mut() = http::Version::HTTP_2;
    let (status, headers) = send(&auth, req).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!closes(&headers));
    // Control: a GET without a body is the document, as always.
    let req = Request::get("/.well-known/oauth-protected-resource/mcp")
        .body(full(Bytes::new()))
        .unwrap();
    let (status, headers) = send(&auth, req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!closes(&headers));
}

fn big_body() -> Bytes {
    Bytes::from(vec![b' '; 100_000])
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_is_given_up_after_the_deadline() {
    let auth = auth(false);
    let started = tokio::time::Instant::now();
    let (status, headers) = send(&auth, post(None, Stalled.boxed(), Some(JSON.len()))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(closes(&headers));
    // The drain deadline (one second), on the paused clock.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
}

/// A body that notes when it has been read to its end.
struct Watched {
    inner: Full<Bytes>,
    read: Arc<AtomicBool>,
}

impl Body for Watched {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = frame {
            self.read.store(true, Ordering::SeqCst);
        }
        frame
    }
}

/// A body sent in several data frames.
struct Chunks(VecDeque<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

fn chunked(chunks: &[&[u8]]) -> TestBody {
    Chunks(chunks.iter().map(|c| Bytes::copy_from_slice(c)).collect()).boxed()
}

/// The same over a real socket: a client whose first request is refused sends its next
/// request on the same connection.
#[tokio::test]
async fn a_refused_client_reuses_its_connection() {
    let app = axum::Router::new()
        .route(
            "/mcp",
            axum::routing::post(|body: Bytes| async move { body }),
        )
        .layer(auth(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = |token: Option<&str>, body: &[u8]| {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let mut bytes = format!(
            "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        bytes
    };
    // Refused, then served, then refused and served again: one connection throughout.
    for (token, status) in [
        (None, 401),
        (Some("good"), 200),
        (Some("nope"), 401),
        (Some("good"), 200),
    ] {
        stream.write_all(&request(token, JSON)).await.unwrap();
        let (got, head, body) = read_response(&mut stream).await;
        assert_eq!(got, status, "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        if status == 200 {
            assert_eq!(body, JSON);
        }
    }

    // The metadata's path, with a body: drained, and the connection goes on.
    let post_metadata = format!(
        "POST /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        JSON.len()
    );
    stream.write_all(post_metadata.as_bytes()).await.unwrap();
    // The body a moment after the head: the server has it only if it waits for it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(JSON).await.unwrap();
    let (got, head, _) = read_response(&mut stream).await;
    assert_eq!(got, 405, "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    stream
        .write_all(&request(Some("good"), JSON))
        .await
        .unwrap();
    let (got, head, body) = read_response(&mut stream).await;
    assert_eq!(got, 200, "{head}");
    assert_eq!(body, JSON);

    // A large body is not waited for: `Connection: close`, and the server hangs up.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(
            format!(
                "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (status, head, _) = read_response(&mut stream).await;
    assert_eq!(status, 401);
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the server closes: {read:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Reads one HTTP/1.1 response with a `Content-Length` body: status, head, body.
async fn read_response(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed inside a body");
        buf.extend_from_slice(&chunk[..n]);
    }
    (status, head, buf[head_end..head_end + length].to_vec())
}
