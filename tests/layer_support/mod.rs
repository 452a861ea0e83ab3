//! The layer under test, for the suites that drive a verifier through `McpAuth`: an inner
//! service that counts its calls and checks what reaches it, a dev issuer with the resource
//! server's client, and the assertions every rejection shares.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use mcp_auth::{AuthInfo, McpAuth, testing::DevIssuer};
use serde_json::Value;
use tower::{Layer, ServiceExt, service_fn};

/// The protected resource every suite uses.
pub const RESOURCE: &str = "http://127.0.0.1:8080/mcp";

/// `auth` around an inner service that counts its calls, fails the test if the
/// `Authorization` header reaches it (no token passthrough), and answers `ok` with the
/// verified subject in `x-subject`.
pub struct App {
    auth: McpAuth,
    inner_calls: Arc<AtomicUsize>,
}

impl App {
    pub fn new(auth: McpAuth) -> Self {
        Self {
            auth,
            inner_calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A `tools/list` to [`RESOURCE`] with `token`; the response with its body read. Whatever
    /// the outcome, the token is never echoed.
    pub async fn call(&self, token: &str) -> Response<Bytes> {
        let inner = inner_service(Arc::clone(&self.inner_calls));
        let req = Request::post(RESOURCE)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            )))
            .unwrap();
        let res = self.auth.layer(inner).oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let res = Response::from_parts(parts, body.collect().await.unwrap().to_bytes());
        // Short test tokens could match fixed text such as `invalid_token`.
        if token.len() >= 12 {
            for value in res.headers().values() {
                assert!(
                    !value.to_str().unwrap_or("").contains(token),
                    "token echoed"
                );
            }
            assert!(
                !String::from_utf8_lossy(res.body()).contains(token),
                "token echoed in the body"
            );
        }
        res
    }

    /// How many requests reached the inner service.
    pub fn inner_calls(&self) -> usize {
        self.inner_calls.load(Ordering::SeqCst)
    }
}

/// The inner service of a protected resource: counts its calls in `calls`, fails the test if
/// the `Authorization` header reaches it (no token passthrough) or no `AuthInfo` does, and
/// answers `ok` with the verified subject in `x-subject` (`-` for none).
pub fn inner_service(
    calls: Arc<AtomicUsize>,
) -> impl tower::Service<
    Request<mcp_auth::body::RequestBody<Full<Bytes>>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    service_fn(
        move |req: Request<mcp_auth::body::RequestBody<Full<Bytes>>>| {
            calls.fetch_add(1, Ordering::SeqCst);
            assert!(
                req.headers().get(header::AUTHORIZATION).is_none(),
                "token passed through"
            );
            let subject = req
                .extensions()
                .get::<AuthInfo>()
                .expect("AuthInfo for the inner service")
                .subject()
                .unwrap_or("-")
                .to_owned();
            async move {
                let mut res = Response::new(Full::new(Bytes::from_static(b"ok")));
                res.headers_mut()
                    .insert("x-subject", HeaderValue::from_str(&subject).unwrap());
                Ok::<_, Infallible>(res)
            }
        },
    )
}

/// A dev issuer that knows the client `rs` (secret `rs-secret`) and issues tokens for
/// [`RESOURCE`].
pub async fn dev_issuer() -> DevIssuer {
    DevIssuer::builder()
        .client("rs", "rs-secret")
        .default_resource(RESOURCE)
        .start()
        .await
        .unwrap()
}

/// The `error` parameter of the challenge, if any.
pub fn error_code<B>(res: &Response<B>) -> Option<String> {
    let value = res.headers().get(header::WWW_AUTHENTICATE)?.to_str().ok()?;
    let start = value.find("error=\"")? + 7;
    let end = value[start..].find('"')? + start;
    Some(value[start..end].to_owned())
}

/// The `error` member of a JSON rejection body, if any.
pub fn body_error(res: &Response<Bytes>) -> Option<String> {
    let body: Value = serde_json::from_slice(res.body()).ok()?;
    Some(body["error"].as_str()?.to_owned())
}

/// A `503`: `Retry-After` in whole seconds (at least one), no challenge, and the
/// `temporarily_unavailable` body.
pub fn assert_unavailable(res: &Response<Bytes>) {
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after = res.headers()[header::RETRY_AFTER].to_str().unwrap();
    assert!(
        retry_after.parse::<u64>().is_ok_and(|secs| secs >= 1),
        "{retry_after}"
    );
    assert!(res.headers().get(header::WWW_AUTHENTICATE).is_none());
    assert_eq!(body_error(res).as_deref(), Some("temporarily_unavailable"));
}

/// A request body whose bytes never arrive.
pub struct Stalled;

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Pending
    }
}
