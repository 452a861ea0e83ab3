//! [`McpAuthService`], the middleware: plumbing around [`Authorizer`], which decides.

use std::{
    fmt, mem,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::{
    authorize::{Authorizer, Now, Route},
    body::{Connection, RequestBody, ResponseBody},
    future::ResponseFuture,
    observe,
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
    authorizer: Arc<Authorizer>,
}

impl<S> McpAuthService<S> {
    pub(crate) fn new(inner: S, authorizer: Arc<Authorizer>) -> Self {
        Self { inner, authorizer }
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
    type Future = ResponseFuture<S, ReqBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        match self.authorizer.route(&mut req) {
            // The metadata document: a body sent with the request is not read, as for a
            // rejection.
            Ok(Route::Respond(mut res)) => answer_unread(req, move |connection| {
                connection.mark(&mut res);
                res
            }),
            Ok(Route::PassThrough) => {
                ResponseFuture::inner(self.inner.call(req.map(RequestBody::inner)))
            }
            Ok(Route::Preflight) => {
                ResponseFuture::inner(self.inner.call(req.map(|_| RequestBody::empty())))
            }
            Ok(Route::Authenticate(credentials)) => {
                let (parts, body) = req.into_parts();
                // A token the verifier accepts without waiting, and nothing else to wait
                // for: decided now, and the inner service called at once.
                let verified = match self.authorizer.authorize_now(&credentials, &parts) {
                    Now::Passed(passed) => {
                        let authorized =
                            Arc::clone(&self.authorizer).pass_on_now(passed, parts, body);
                        return ResponseFuture::authorized(authorized, &mut self.inner);
                    }
                    Now::Verified(verified) => Some(verified),
                    Now::Unknown => None,
                };
                // The inner service that `poll_ready` made ready is the one to call later;
                // leave a clone in its place (tower's pattern for services that wait before
                // calling).
                let clone = self.inner.clone();
                let inner = mem::replace(&mut self.inner, clone);
                let authorize = observe::in_request_span(Arc::clone(&self.authorizer).authorize(
                    credentials,
                    parts,
                    body,
                    verified,
                ));
                ResponseFuture::authorize(Box::pin(authorize), inner)
            }
            Err(err) => {
                let authorizer = Arc::clone(&self.authorizer);
                answer_unread(req, move |connection| {
                    observe::in_request_span_now(|| authorizer.reject(err, connection))
                })
            }
        }
    }
}

/// Answers `req` with what `answer` makes for its connection, without reading its body: at
/// once when no body is on its way, or once a small one is [drained](Connection::drain) (so
/// that the client's HTTP/1 connection can carry its next request).
fn answer_unread<S, B>(
    req: Request<B>,
    answer: impl FnOnce(Connection) -> Response<Bytes> + Send + 'static,
) -> ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>>,
    B: Body<Data = Bytes> + Send + 'static,
{
    match Connection::after_rejecting(req.version(), req.headers()) {
        Connection::KeepAlive => ResponseFuture::ready(answer(Connection::KeepAlive)),
        Connection::Close => {
            let (parts, body) = req.into_parts();
            ResponseFuture::reject(Box::pin(async move {
                let connection = Connection::drain(parts.version, &parts.headers, body).await;
                answer(connection)
            }))
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for McpAuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpAuthService")
            .field("inner", &self.inner)
            .field("authorizer", &self.authorizer)
            .finish()
    }
}
