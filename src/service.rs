//! [`McpAuthService`], the middleware.

use std::{
    fmt, mem,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use tower_service::Service;

use crate::{
    body::ResponseBody,
    challenge::{AuthError, AuthErrorKind},
    future::ResponseFuture,
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
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    ReqBody: Send + 'static,
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
        let token = match self.shared.check_request(&req) {
            Ok(Step::Verify(token)) => token,
            Ok(Step::Pass) => {
                // No token passthrough, even on paths that need none.
                req.headers_mut().remove(header::AUTHORIZATION);
                return ResponseFuture::inner(self.inner.call(req));
            }
            Ok(Step::Respond(res)) => return ResponseFuture::ready(res),
            Err(err) => return ResponseFuture::ready(self.shared.reject(err)),
        };
        req.headers_mut().remove(header::AUTHORIZATION);
        // The inner service that `poll_ready` made ready is the one to call later; leave a
        // clone in its place (tower's documented pattern for services that wait before calling).
        let clone = self.inner.clone();
        let inner = mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let authorize = Box::pin(async move {
            let verified =
                tokio::time::timeout(shared.verify_timeout, shared.verifier.verify(&token));
            let info = match verified.await {
                Ok(Ok(info)) => info,
                Ok(Err(err)) => {
                    let kind = match err.kind() {
                        VerifyErrorKind::InvalidToken => AuthErrorKind::InvalidToken,
                        _ => AuthErrorKind::VerifierUnavailable,
                    };
                    log_verify_error!(err);
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
            shared.check_grant(&info)?;
            req.extensions_mut().insert(info);
            Ok(req)
        });
        ResponseFuture::authorize(authorize, inner, self.shared.clone())
    }
}

impl<S: fmt::Debug> fmt::Debug for McpAuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpAuthService")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish()
    }
}
