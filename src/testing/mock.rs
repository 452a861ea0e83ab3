//! Mock verifiers for unit tests.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use async_trait::async_trait;

use crate::{AuthInfo, TokenVerifier, VerifyError};

/// A verifier that knows a fixed set of tokens, for unit tests of your own server.
///
/// Unknown tokens get [`VerifyError::foreign_token`] (`401` from the layer, and the next
/// verifier's turn in a [`VerifierChain`](crate::verifier::VerifierChain)). [`set_unavailable`](Self::set_unavailable)
/// makes every call fail as if the authorization server were down. Clones share their tokens,
/// switch and call counter, so a test can keep one clone and hand another to the layer.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, StatusCode, header};
/// use http_body_util::Empty;
/// use mcp_auth::{AuthInfo, McpAuth, testing::StaticVerifier};
/// use tower::{ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_auth::BoxError> {
/// let verifier = StaticVerifier::new().with_token(
///     "t1",
///     AuthInfo::builder().subject("alice").audience("http://127.0.0.1:3000/mcp").build(),
/// );
/// let auth = McpAuth::new("http://127.0.0.1:3000/mcp", "http://127.0.0.1:9000", verifier.clone());
/// let app = tower::Layer::layer(&auth, service_fn(|_req: Request<_>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Empty::<Bytes>::new()))
/// }));
///
/// let ok = Request::get("/mcp").header(header::AUTHORIZATION, "Bearer t1").body(Empty::<Bytes>::new())?;
/// assert_eq!(app.clone().oneshot(ok).await?.status(), StatusCode::OK);
///
/// verifier.set_unavailable(true);
/// let down = Request::get("/mcp").header(header::AUTHORIZATION, "Bearer t1").body(Empty::<Bytes>::new())?;
/// assert_eq!(app.oneshot(down).await?.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(verifier.calls(), 2);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct StaticVerifier {
    inner: Arc<StaticInner>,
}

#[derive(Default)]
struct StaticInner {
    tokens: Mutex<HashMap<String, AuthInfo>>,
    unavailable: AtomicBool,
    calls: AtomicUsize,
}

impl StaticVerifier {
    /// A verifier that knows no token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `token`, described by `info`.
    pub fn with_token(self, token: impl Into<String>, info: AuthInfo) -> Self {
        self.insert(token, info);
        self
    }

    /// Adds `token`, described by `info`, through a shared clone.
    pub fn insert(&self, token: impl Into<String>, info: AuthInfo) {
        self.lock().insert(token.into(), info);
    }

    /// Forgets `token` (as if it had been revoked).
    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    /// Makes every call fail with [`VerifyError::unavailable`] while `unavailable` is true.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.inner.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// How many times [`verify`](TokenVerifier::verify) was called.
    #[must_use]
    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, AuthInfo>> {
        // A panic while holding this lock leaves the map intact; keep using it.
        self.inner
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl TokenVerifier for StaticVerifier {
    async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        self.inner.calls.fetch_add(1, Ordering::SeqCst);
        if self.inner.unavailable.load(Ordering::SeqCst) {
            return Err(VerifyError::unavailable(
                "the mock authorization server is down",
            ));
        }
        self.lock()
            .get(token)
            .cloned()
            .ok_or_else(|| VerifyError::foreign_token("unknown access token"))
    }
}

impl fmt::Debug for StaticVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticVerifier")
            .field("tokens", &format_args!("[redacted; {}]", self.lock().len()))
            .field(
                "unavailable",
                &self.inner.unavailable.load(Ordering::SeqCst),
            )
            .field("calls", &self.calls())
            .finish()
    }
}

/// A verifier backed by a closure, for tests that need custom answers.
///
/// # Example
///
/// ```
/// use mcp_auth::{AuthInfo, TokenVerifier, VerifyError, testing::FnVerifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let verifier = FnVerifier::new(|token: &str| match token {
///     "good" => Ok(AuthInfo::builder().subject("bob").build()),
///     _ => Err(VerifyError::invalid_token("bad token")),
/// });
/// assert!(verifier.verify("good").await.is_ok());
/// assert!(verifier.verify("bad").await.unwrap_err().is_invalid_token());
/// # }
/// ```
#[must_use]
pub struct FnVerifier<F> {
    f: F,
}

impl<F> FnVerifier<F>
where
    F: Fn(&str) -> Result<AuthInfo, VerifyError> + Send + Sync + 'static,
{
    /// A verifier that answers with `f(token)`.
    pub fn new(f: F) -> Self {
        Self { f }
    }
}

#[async_trait]
impl<F> TokenVerifier for FnVerifier<F>
where
    F: Fn(&str) -> Result<AuthInfo, VerifyError> + Send + Sync + 'static,
{
    async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        (self.f)(token)
    }
}

impl<F> fmt::Debug for FnVerifier<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnVerifier").finish_non_exhaustive()
    }
}
