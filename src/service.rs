//! [`McpAuthService`], the middleware.

use std::{
    fmt, mem,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::BodyExt;
use tower_service::Service;

use crate::{
    body::{RequestBody, ResponseBody},
    challenge::{AuthError, AuthErrorKind},
    future::ResponseFuture,
    jsonrpc,
    layer::{Shared, Step},
    verifier::VerifyErrorKind,
};

/// Middleware that makes the inner service an OAuth 2.1 resource server: it serves the
/// protected-resource metadata, verifies the bearer token, checks audience and scopes, and
/// passes authorized requests on with [`AuthInfo`](crate::AuthInfo) in their extensions and
/// without their `Authorization` header.
///
/// See the [crate docs](crate) for an example.
#[derive(Clone)]
#[must_use]
pub struct McpAuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> McpAuthService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// Gets a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Gets a mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for McpAuthService<S>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, RequestBody<ReqBody>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let token = match self.shared.check_request(&req) {
            Ok(Step::Verify(token)) => token,
            Ok(Step::Pass) => {
                // No token passthrough, even on paths that need none.
                req.headers_mut().remove(header::AUTHORIZATION);
                return ResponseFuture::inner(self.inner.call(req.map(RequestBody::inner)));
            }
            Ok(Step::Respond(res)) => return ResponseFuture::ready(res),
            Err(err) => {
                let close = body_left_unread(&req);
                return ResponseFuture::ready(self.shared.reject(err, close));
            }
        };
        req.headers_mut().remove(header::AUTHORIZATION);
        // The inner service that `poll_ready` made ready is the one to call later; leave a
        // clone in its place (tower's documented pattern for services that wait before calling).
        let clone = self.inner.clone();
        let inner = mem::replace(&mut self.inner, clone);
        let close = body_left_unread(&req);
        let authorize = Box::pin(authorize(self.shared.clone(), token, req));
        ResponseFuture::authorize(authorize, inner, self.shared.clone(), close)
    }
}

/// Whether rejecting this request leaves body bytes unread on an HTTP/1 connection.
///
/// The rejection then says `Connection: close`: hyper closes such a connection after the
/// response, and a client that does not know why would reuse it and fail ("server
/// disconnected") on its next request.
fn body_left_unread<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    req.version() <= http::Version::HTTP_11
        && (headers.contains_key(header::TRANSFER_ENCODING)
            || headers
                .get(header::CONTENT_LENGTH)
                .is_some_and(|len| len.as_bytes() != b"0"))
}

/// Steps 5 to 7 of the request flow, for a request that carries a token: verify it, check the
/// audience, read the body if per-operation rules need it, check the scopes.
async fn authorize<B>(
    shared: Arc<Shared>,
    token: String,
    req: Request<B>,
) -> Result<Request<RequestBody<B>>, AuthError>
where
    B: Body<Data = Bytes>,
{
    let verified = tokio::time::timeout(shared.verify_timeout, shared.verifier.verify(&token));
    // The token is not needed past this point.
    let info = match verified.await {
        Ok(Ok(info)) => info,
        Ok(Err(err)) => {
            log_verify_error!(err);
            let kind = match err.kind() {
                VerifyErrorKind::InvalidToken => AuthErrorKind::InvalidToken,
                _ => AuthErrorKind::VerifierUnavailable,
            };
            let mut rejection = AuthError::new(kind, err.description().to_owned());
            if let Some(retry_after) = err.retry_after() {
                rejection = rejection.with_retry_after(retry_after);
            }
            return Err(rejection);
        }
        Err(_elapsed) => {
            return Err(AuthError::new(
                AuthErrorKind::VerifierUnavailable,
                "token verification timed out",
            ));
        }
    };
    drop(token);
    shared.check_audience(&info)?;

    let mut req = if shared.needs_peek(&req)? {
        let (parts, body) = req.into_parts();
        let read = read_bounded(&parts.headers, body, shared.max_body_len);
        let (data, trailers) = tokio::time::timeout(shared.body_timeout, read)
            .await
            .map_err(|_elapsed| {
                AuthError::new(
                    AuthErrorKind::RequestTimeout,
                    "the request body did not arrive in time",
                )
            })??;
        let messages = jsonrpc::peek(&data)
            .map_err(|err| AuthError::new(AuthErrorKind::InvalidRequest, err.to_string()))?;
        check_mcp_headers(&parts.headers, &messages)?;
        let calls = messages.calls;
        let mut requirements = vec![&shared.required];
        for call in &calls {
            if let Some(method) = call.method.as_deref() {
                let params = call.params.as_ref();
                shared.policy.collect(
                    method,
                    params.and_then(|p| p.name.as_deref()),
                    params.and_then(|p| p.uri.as_deref()),
                    &mut requirements,
                );
            }
        }
        shared.check_scopes(&info, &requirements)?;
        drop(calls);
        Request::from_parts(parts, RequestBody::buffered(data, trailers))
    } else {
        shared.check_scopes(&info, &[&shared.required])?;
        req.map(RequestBody::inner)
    };
    req.extensions_mut().insert(info);
    Ok(req)
}

/// Reads a whole body, refusing to hold more than `max` bytes.
async fn read_bounded<B>(
    headers: &http::HeaderMap,
    body: B,
    max: usize,
) -> Result<(Bytes, Option<http::HeaderMap>), AuthError>
where
    B: Body<Data = Bytes>,
{
    let too_large = || {
        AuthError::new(
            AuthErrorKind::PayloadTooLarge,
            format!("the request body is larger than {max} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large());
    }
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            AuthError::new(
                AuthErrorKind::InvalidRequest,
                "the request body could not be read",
            )
        })?;
        match frame.into_data() {
            Ok(data) => {
                let len = first.as_ref().map_or(0, Bytes::len) + rest.len() + data.len();
                if len > max {
                    return Err(too_large());
                }
                // One frame (the usual case) is kept as is; more are joined.
                match &first {
                    None if rest.is_empty() => first = Some(data),
                    _ => {
                        if let Some(f) = first.take() {
                            rest.extend_from_slice(&f);
                        }
                        rest.extend_from_slice(&data);
                    }
                }
            }
            Err(frame) => {
                if let Ok(t) = frame.into_trailers() {
                    trailers = Some(t);
                }
            }
        }
    }
    let data = first.unwrap_or_else(|| Bytes::from(rest));
    Ok((data, trailers))
}

/// `Mcp-Method` and `Mcp-Name` (MCP 2026-07-28) must agree with the body, which is the
/// source of truth.
fn check_mcp_headers(
    headers: &http::HeaderMap,
    messages: &jsonrpc::Messages<'_>,
) -> Result<(), AuthError> {
    let method_header = headers.get("mcp-method");
    let name_header = headers.get("mcp-name");
    if method_header.is_none() && name_header.is_none() {
        return Ok(());
    }
    let mismatch = |what: &'static str| {
        AuthError::new(
            AuthErrorKind::InvalidRequest,
            format!("the {what} header does not match the request body"),
        )
    };
    // The headers mirror one request; a batch cannot match them.
    let (false, [call]) = (messages.batch, &messages.calls[..]) else {
        return Err(mismatch("Mcp-Method"));
    };
    if let Some(value) = method_header
        && call.method.as_deref().map(str::as_bytes) != Some(value.as_bytes())
    {
        return Err(mismatch("Mcp-Method"));
    }
    if let Some(value) = name_header {
        let params = call.params.as_ref();
        let body_name = match call.method.as_deref() {
            Some("resources/read" | "resources/subscribe" | "resources/unsubscribe") => {
                params.and_then(|p| p.uri.as_deref())
            }
            _ => params.and_then(|p| p.name.as_deref()),
        };
        // Header values are ASCII; a non-ASCII name may be encoded in the header, which the
        // MCP server checks. Plain ASCII values must be equal.
        match body_name {
            Some(name) if name.is_ascii() => {
                if name.as_bytes() != value.as_bytes() {
                    return Err(mismatch("Mcp-Name"));
                }
            }
            Some(_) => {}
            None => return Err(mismatch("Mcp-Name")),
        }
    }
    Ok(())
}

impl<S: fmt::Debug> fmt::Debug for McpAuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpAuthService")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish()
    }
}
