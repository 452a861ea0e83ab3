//! The request flow, top to bottom: what the layer decides for each request, and why.
//!
//! 1. **Metadata**: the RFC 9728 well-known paths are answered here, without authentication.
//! 2. **Origin**: a request whose `Origin` is not the resource's own or an allowed one gets
//!    `403` (MCP transport: DNS-rebinding defence); `null` is refused.
//! 3. **Public paths** pass on without authentication.
//! 4. **Preflight**: CORS preflights (from an allowed origin) pass on without authentication,
//!    and without what a token would have to vouch for: no body, no session id, no upgrade
//!    ([`is_preflight`]).
//! 5. **Bearer**: the token comes from the `Authorization` header only
//!    ([`bearer::extract`]); it is removed from the request, whatever happens next.
//! 6. **Verify**: the [`TokenVerifier`] decides, within `verify_timeout`: invalid → `401`,
//!    cannot decide → `503` with `Retry-After`.
//! 7. **Audience**: the token must be meant for this resource (RFC 8707).
//! 8. **Body**: with per-operation rules, the JSON-RPC body is read (bounded) to learn what is
//!    called.
//! 9. **Scopes**: the global requirement and every per-operation one; missing → `403
//!    insufficient_scope` naming every scope the request needs.
//! 10. **Session**: an `Mcp-Session-Id` must be bound to the caller ([`crate::session`]);
//!     another principal's (or an unknown) session gets `404`.
//! 11. **Pass on** with the verified [`AuthInfo`] in the request extensions.
//! 12. **After the response**: a new `Mcp-Session-Id` is bound to the caller, and an event
//!     stream ends when the token expires (if configured).
//!
//! Steps 1 to 5 look at the request line and headers only ([`Authorizer::route`]); steps 6 to
//! 11 run once the token is known ([`Authorizer::authorize`]), or at once when the verifier
//! answers without waiting and nothing else waits ([`Authorizer::authorize_now`]); step 12
//! once the inner service answered ([`Authorizer::after_response`]). Every refusal is an
//! [`AuthError`], turned into a response by [`Authorizer::reject`].

use std::{
    borrow::Cow,
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::Poll,
    time::{Duration, SystemTime},
};

use base64::{
    Engine as _, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, header, request::Parts};
use http_body::Body;

use crate::{
    AuthInfo, TokenVerifier,
    auth_info::CheckedBy,
    bearer,
    binding::CertificateBinding,
    body::{self, Connection, RequestBody, read_bounded},
    callback::Callback,
    challenge::{AuthError, AuthErrorKind, Challenger, Scheme},
    dpop::ProofChecker,
    jsonrpc,
    metadata::ProtectedResourceMetadata,
    observe,
    policy::{self, OperationPolicy, Requirement},
    resource::Audiences,
    session::{LazyOwner, SESSION_ID, Sessions},
    verifier::{VerifyError, VerifyErrorKind},
};

/// Which event streams end when the token that opened them expires, from
/// [`McpAuthBuilder::stream_expiry`](crate::McpAuthBuilder::stream_expiry).
///
/// A stream opened with a token would otherwise go on as long as the server keeps it open,
/// long after the token expired (or was revoked and expired). Ending it makes the client
/// reconnect, and the reconnection is authorized with whatever token the client has then.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamExpiry {
    /// No stream is ended.
    Never,
    /// The streams opened by `GET` (the server's stream for notifications and requests to the
    /// client) end; the stream answering a `POST` runs until the server finishes it. rmcp's,
    /// the Python SDK's and the TypeScript SDK's clients all reopen a `GET` stream with a fresh
    /// token (`tests/stream_expiry.rs`, `tests/interop`), while the TypeScript SDK loses the
    /// result of a call whose response stream ends early.
    #[default]
    GetStreams,
    /// Every event stream ends, the responses to `POST` requests too.
    All,
}

/// A request that may go on to the inner service, and what to do with its response.
pub(crate) struct Authorized<B> {
    pub(crate) request: Request<RequestBody<B>>,
    pub(crate) after: AfterResponse,
    /// The layer's decisions, handed back for [`after`](Self::after): the request's own
    /// reference, so that no other is taken.
    pub(crate) authorizer: Arc<Authorizer>,
}

/// The caller and the session id the request presented (if any), when sessions are bound.
type Session = Option<(LazyOwner, Option<HeaderValue>)>;

/// What [`Authorizer::authorize_now`] found.
pub(crate) enum Now {
    /// The request passes: on with it ([`Authorizer::pass_on_now`]).
    Passed(Passed),
    /// The verifier's answer, given without waiting (an acceptance or a refusal); the rest is
    /// [`Authorizer::authorize`]'s.
    Verified(Result<AuthInfo, VerifyError>),
    /// All of it is [`Authorizer::authorize`]'s.
    Unknown,
}

/// A request [`Authorizer::authorize_now`] passed: its token's description, and the caller
/// when sessions are bound.
pub(crate) struct Passed {
    info: AuthInfo,
    session: Session,
}

/// What the layer does once the inner service answered an authorized request.
pub(crate) struct AfterResponse {
    /// The caller, and the session id the request presented (if any), when sessions are bound.
    session: Session,
    /// When an event stream in the response must end (the token's expiry and leeway).
    stream_deadline: Option<SystemTime>,
}

/// Never the session id (whoever has it can use the session): whether there is one.
impl fmt::Debug for AfterResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfterResponse")
            .field("sessions_bound", &self.session.is_some())
            .field(
                "session_id",
                &self
                    .session
                    .as_ref()
                    .and_then(|(_, id)| id.as_ref())
                    .map(|_| "[redacted]"),
            )
            .field("stream_deadline", &self.stream_deadline)
            .finish()
    }
}

/// A session binding being written.
pub(crate) type BindFuture = Pin<Box<dyn Future<Output = Result<(), AuthError>> + Send>>;

/// What happens to one response of the inner service.
pub(crate) struct ResponsePlan {
    /// A session binding to store before the response goes out.
    pub(crate) bind: Option<BindFuture>,
    /// When the response's event stream ends.
    pub(crate) end_stream_at: Option<SystemTime>,
    /// The current DPoP nonce, for the `DPoP-Nonce` header.
    pub(crate) dpop_nonce: Option<Arc<str>>,
}

/// What [`Authorizer::route`] decided from the request line and headers.
#[derive(Debug)]
pub(crate) enum Route {
    /// Answer with this response (the metadata document).
    Respond(Response<Bytes>),
    /// Pass on without authentication (a public path).
    PassThrough,
    /// Pass on without authentication and without a body: a CORS preflight
    /// ([`is_preflight`]).
    Preflight,
    /// Verify these credentials, then [`authorize`](Authorizer::authorize) the request.
    Authenticate(Credentials),
}

/// The credentials of a request, taken out of its headers.
pub(crate) struct Credentials {
    /// The scheme, where the token is in `authorization`, and the DPoP proof.
    found: bearer::Credentials,
    /// The `Authorization` value, taken out of the request: the token is read in it, in
    /// place ([`token`](Self::token)), and never copied.
    authorization: HeaderValue,
}

/// Never the token or the proof: only their sizes.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.found.fmt(f)
    }
}

impl Credentials {
    /// The credentials of `req` ([`bearer::extract`]), with its `Authorization` and `DPoP`
    /// headers taken out of it: the token is found in the very value this keeps.
    pub(crate) fn take<B>(
        req: &mut Request<B>,
        max_token_size: usize,
        dpop: bool,
    ) -> Result<Self, AuthError> {
        let found = bearer::extract(req.headers(), req.uri(), max_token_size, dpop)?;
        let authorization = remove_credentials(req.headers_mut());
        Ok(Self {
            found,
            // `extract` found exactly one; without it, `token` fails (`malformed`).
            authorization: authorization.unwrap_or_else(|| HeaderValue::from_static("")),
        })
    }

    /// The access token.
    ///
    /// # Errors
    ///
    /// `invalid_request` if it is not ASCII, which [`bearer::extract`] ruled out.
    pub(crate) fn token(&self) -> Result<&str, AuthError> {
        bearer::token_at(self.authorization.as_bytes(), self.found.token.clone())
    }

    /// Bearer credentials with `token`, as a request would bring them.
    #[cfg(test)]
    fn bearer(token: &str) -> Self {
        let value = format!("Bearer {token}");
        Self {
            found: bearer::Credentials {
                scheme: Scheme::Bearer,
                token: 7..value.len(),
                proof: None,
            },
            authorization: HeaderValue::try_from(value).expect("a b64token"),
        }
    }
}

/// The decisions of one layer configuration, shared by every service the layer makes.
///
/// Made only by [`McpAuthBuilder::build`](crate::McpAuthBuilder::build), which parses and
/// checks every field; the request flow below is the only reader.
#[derive(Debug)]
pub(crate) struct Authorizer {
    pub(crate) verifier: Arc<dyn TokenVerifier>,
    pub(crate) audiences: Audiences,
    pub(crate) metadata: ProtectedResourceMetadata,
    /// The path-inserted and the root well-known paths (equal for a root resource).
    pub(crate) well_known: [String; 2],
    /// The allowed origins (the resource's own first), or `None` with
    /// `danger_allow_any_origin`.
    pub(crate) allowed_origins: Option<Vec<String>>,
    pub(crate) public_paths: Box<[String]>,
    pub(crate) required: Requirement,
    pub(crate) policy: OperationPolicy,
    pub(crate) max_body_size: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) max_token_size: usize,
    pub(crate) verify_timeout: Duration,
    pub(crate) challenger: Challenger,
    /// Session bindings, unless turned off.
    pub(crate) sessions: Option<Sessions>,
    /// DPoP proof checks, when DPoP is accepted.
    pub(crate) dpop: Option<ProofChecker>,
    /// How the client certificate of a connection is learned, for certificate-bound tokens.
    pub(crate) certificate_binding: Option<Callback<dyn CertificateBinding>>,
    pub(crate) stream_expiry: StreamExpiry,
    /// Added to a token's `exp` before its event streams end.
    pub(crate) expiry_leeway: Duration,
    /// This layer's number, by which a token's `AuthInfo` remembers that it passed the
    /// audience and global scope checks here ([`AuthInfo::checked_by`]).
    pub(crate) checked_by: CheckedBy,
}

impl Authorizer {
    pub(crate) fn metadata(&self) -> &ProtectedResourceMetadata {
        &self.metadata
    }

    /// Steps 1 to 5: metadata, `Origin`, public paths, preflight, token extraction.
    ///
    /// The `Authorization` and `DPoP` headers are removed from every request that passes on
    /// (no token passthrough), and from requests that carry a token to verify.
    pub(crate) fn route<B>(&self, req: &mut Request<B>) -> Result<Route, AuthError> {
        let path = req.uri().path();
        if self.well_known.iter().any(|p| p == path) {
            return Ok(Route::Respond(self.metadata.respond(req.method())));
        }
        self.check_origin(req.headers())?;
        if self.public_paths.iter().any(|p| p == path) {
            remove_credentials(req.headers_mut());
            return Ok(Route::PassThrough);
        }
        if is_preflight(req.method(), req.headers()) {
            let headers = req.headers_mut();
            remove_credentials(headers);
            // A browser names these in `Access-Control-Request-Headers`, never sends them.
            headers.remove(&SESSION_ID);
            headers.remove(&LAST_EVENT_ID);
            return Ok(Route::Preflight);
        }
        Credentials::take(req, self.max_token_size, self.dpop.is_some()).map(Route::Authenticate)
    }

    /// Step 2: every `Origin` header (not just the first) must be allowed. `null` never is.
    fn check_origin(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let Some(allowed) = &self.allowed_origins else {
            return Ok(());
        };
        let refused = headers.get_all(header::ORIGIN).iter().any(|origin| {
            !allowed
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
        });
        if refused {
            return Err(AuthError::new(
                AuthErrorKind::OriginNotAllowed,
                "the Origin of this request is not allowed",
            ));
        }
        Ok(())
    }

    /// Steps 6 to 11, for a request that carries `credentials`: verify the token, check the
    /// audience and its binding, read the body when per-operation rules need it, check the
    /// scopes and the session, and hand the request on with its [`AuthInfo`].
    ///
    /// A refusal comes back as the response to send, made within the request's span, on the
    /// challenge of the scheme the client used; a body it leaves unread is
    /// [drained](Connection::drain) first when it is small.
    ///
    /// One `async move` block rather than an `async fn` (or two): an `async fn`'s future keeps
    /// its arguments twice (as captured, and as moved into its body), and each `async fn` it
    /// awaits adds its own. This future is allocated for every request that
    /// [`authorize_now`](Self::authorize_now) does not decide: a token the verifier must wait
    /// for, every refusal, a bound token, a body to read, a session to look up. The futures of
    /// the rare paths (a drain, a body read, a DPoP proof, a verifier that waits) are boxed
    /// where they start, for the same reason.
    ///
    /// `verified` is the verifier's answer when [`authorize_now`](Self::authorize_now) had it
    /// already.
    #[allow(clippy::manual_async_fn)] // on purpose, as said above
    pub(crate) fn authorize<B>(
        self: Arc<Self>,
        credentials: Credentials,
        parts: Parts,
        body: B,
        verified: Option<Result<AuthInfo, VerifyError>>,
    ) -> impl Future<Output = Result<Authorized<B>, Response<Bytes>>>
    where
        B: Body<Data = Bytes>,
    {
        async move {
            let scheme = credentials.found.scheme;
            let refuse =
                |err: AuthError, connection| self.reject(err.with_scheme(scheme), connection);
            let unread = |err: AuthError, body: B| {
                Box::pin(async {
                    let connection = Connection::drain(parts.version, &parts.headers, body).await;
                    (err, connection)
                })
            };
            // Each result is bound before it is matched, so that no arm's `await` keeps it (a
            // match on a temporary keeps it until the match ends, in this future).
            let checked = self.check_credentials(&credentials, &parts, verified).await;
            let (info, must_read, token) = match checked {
                Ok(checked) => checked,
                Err(err) => {
                    let (err, connection) = unread(err, body).await;
                    return Err(refuse(err, connection));
                }
            };
            let body = if must_read {
                let read = read_bounded(&parts.headers, body, self.max_body_size);
                let (data, trailers) =
                    match Box::pin(tokio::time::timeout(self.body_timeout, read)).await {
                        Ok(Ok(read)) => read,
                        // Part of the body may be left: the connection cannot be reused.
                        Ok(Err(err)) => {
                            return Err(refuse(err, Connection::after_failed_read(parts.version)));
                        }
                        Err(_elapsed) => {
                            let err = AuthError::new(
                                AuthErrorKind::RequestTimeout,
                                "the request body did not arrive in time",
                            );
                            return Err(refuse(err, Connection::after_failed_read(parts.version)));
                        }
                    };
                if let Err(err) = self.check_operations(&info, &parts.headers, &data) {
                    return Err(refuse(err, Connection::KeepAlive));
                }
                // The global requirement was among those checked.
                info.set_checked_by(self.checked_by);
                Ok((data, trailers))
            } else {
                if !info.checked_by(self.checked_by) {
                    let scoped = self.check_scopes(&info, &[&self.required]);
                    if let Err(err) = scoped {
                        let (err, connection) = unread(err, body).await;
                        return Err(refuse(err, connection));
                    }
                    info.set_checked_by(self.checked_by);
                }
                Err(body)
            };
            let (session, body) = match &self.sessions {
                Some(sessions) => {
                    let owner = LazyOwner::new(&info, token);
                    let presented = single_header(&parts.headers, &SESSION_ID);
                    let (owner, checked) = match presented {
                        Ok(Some(id)) => {
                            let owner = owner.resolve();
                            let checked = sessions.check(&id, &owner).await.map(|()| Some(id));
                            (LazyOwner::Known(owner), checked)
                        }
                        other => (owner, other),
                    };
                    match (checked, body) {
                        (Ok(presented), body) => (Some((owner, presented)), body),
                        (Err(err), Ok(_read)) => {
                            return Err(refuse(err, Connection::KeepAlive));
                        }
                        (Err(err), Err(body)) => {
                            let (err, connection) = unread(err, body).await;
                            return Err(refuse(err, connection));
                        }
                    }
                }
                None => (None, body),
            };
            drop(credentials);
            let body = match body {
                Ok((data, trailers)) => RequestBody::buffered(data, trailers),
                Err(body) => RequestBody::inner(body),
            };
            Ok(self.pass_on(parts, body, info, session))
        }
    }

    /// Steps 6 to 10 without waiting, for the most common request: a bearer token the
    /// verifier accepts without waiting ([`TokenVerifier::verify_now`]: one it holds, or a JWT
    /// whose key is at hand), meant for this resource with the global scopes (checked here
    /// once for each token, then remembered: [`AuthInfo::checked_by`]), bound to nothing, with
    /// no body to read and no session to look up. Such a request goes on with
    /// [`pass_on_now`](Self::pass_on_now).
    ///
    /// Anything else, and so every refusal, is [`authorize`](Self::authorize)'s, with the
    /// verifier's answer when it gave one here ([`Now::Verified`]).
    pub(crate) fn authorize_now(&self, credentials: &Credentials, parts: &Parts) -> Now {
        // A DPoP proof is checked in `authorize`; a bearer token where DPoP is required is
        // refused there before it is verified.
        if credentials.found.scheme != Scheme::Bearer
            || self.dpop.as_ref().is_some_and(ProofChecker::required)
        {
            return Now::Unknown;
        }
        let Ok(token) = credentials.token() else {
            return Now::Unknown;
        };
        let timer = observe::Timer::start();
        let Some(verified) = self.verifier.verify_now(token) else {
            return Now::Unknown;
        };
        observe::verification(outcome(&verified), timer);
        let info = match verified {
            Ok(info) => info,
            refused @ Err(_) => return Now::Verified(refused),
        };
        // A token this layer has not passed before: the audience and the global scopes, which
        // do not change with the request, are checked once (a refusal is `authorize`'s).
        if !info.checked_by(self.checked_by) {
            if self.check_audience(&info).is_err()
                || self.check_scopes(&info, &[&self.required]).is_err()
            {
                return Now::Verified(Ok(info));
            }
            info.set_checked_by(self.checked_by);
        }
        // A bound token is checked against its proof or certificate in `authorize` only, so
        // that a certificate callback runs once, in the request's span.
        if info.key_thumbprint().is_some()
            || info.certificate_thumbprint().is_some()
            || !matches!(self.must_read_body(parts), Ok(false))
        {
            return Now::Verified(Ok(info));
        }
        let session = match &self.sessions {
            None => None,
            Some(_) => match single_header(&parts.headers, &SESSION_ID) {
                Ok(None) => Some((LazyOwner::new(&info, token), None)),
                _ => return Now::Verified(Ok(info)),
            },
        };
        Now::Passed(Passed { info, session })
    }

    /// Step 11 for a request [`authorize_now`](Self::authorize_now) passed.
    pub(crate) fn pass_on_now<B>(
        self: Arc<Self>,
        passed: Passed,
        parts: Parts,
        body: B,
    ) -> Authorized<B> {
        // The request's span is made only for a request that passed: one left to `authorize`
        // gets its span there.
        observe::in_request_span_now(|| {
            self.pass_on(parts, RequestBody::inner(body), passed.info, passed.session)
        })
    }

    /// Step 11: the request goes on with `info` in its extensions; what is to be done with
    /// its response is noted.
    fn pass_on<B>(
        self: Arc<Self>,
        parts: Parts,
        body: RequestBody<B>,
        info: AuthInfo,
        session: Session,
    ) -> Authorized<B> {
        let ends_streams = match self.stream_expiry {
            StreamExpiry::Never => false,
            StreamExpiry::GetStreams => parts.method == Method::GET,
            StreamExpiry::All => true,
        };
        let mut request = Request::from_parts(parts, body);
        let after = AfterResponse {
            session,
            stream_deadline: ends_streams
                // An `exp` so late that the leeway overflows the clock (a custom verifier's)
                // ends nothing.
                .then(|| {
                    info.expires_at()
                        .and_then(|exp| exp.checked_add(self.expiry_leeway))
                })
                .flatten(),
        };
        observe::allowed(&info);
        request.extensions_mut().insert(info);
        Authorized {
            request,
            after,
            authorizer: self,
        }
    }

    /// Steps 6 to 8 up to the body: the token, its audience and binding, and whether the
    /// body must be read. Returns the token too, read once.
    async fn check_credentials<'c>(
        &self,
        credentials: &'c Credentials,
        parts: &Parts,
        verified: Option<Result<AuthInfo, VerifyError>>,
    ) -> Result<(AuthInfo, bool, &'c str), AuthError> {
        if credentials.found.scheme == Scheme::Bearer
            && self.dpop.as_ref().is_some_and(|d| d.required())
        {
            return Err(AuthError::new(
                AuthErrorKind::InvalidToken,
                "this resource accepts DPoP-bound access tokens only",
            ));
        }
        let token = credentials.token()?;
        let info = match verified {
            Some(verified) => judge(verified)?,
            None => self.verify(token).await?,
        };
        if !info.checked_by(self.checked_by) {
            self.check_audience(&info)?;
        }
        // Bound before it is matched: a `?` in the condition would keep its temporaries, in
        // this future, across the `await` below.
        let binding = self.check_binding(credentials, &info, parts)?;
        if let Some((method, path)) = binding
            && let (Some(dpop), Some(jkt)) = (&self.dpop, info.key_thumbprint())
        {
            let proof = credentials.found.proof.as_deref().unwrap_or_default();
            Box::pin(dpop.check(proof, &method, &path, token, jkt)).await?;
        }
        let must_read = self.must_read_body(parts)?;
        Ok((info, must_read, token))
    }

    /// Step 12, once the inner service answered with `headers`: a session id it handed out
    /// is to be bound to the caller before the response goes out (the client may use it at
    /// once), and an event stream is to end when the token expires.
    pub(crate) fn after_response(
        self: &Arc<Self>,
        headers: &HeaderMap,
        after: AfterResponse,
    ) -> ResponsePlan {
        let end_stream_at = after.stream_deadline.filter(|_| is_event_stream(headers));
        let bind = after.session.and_then(|(owner, presented)| {
            let issued = headers.get(&SESSION_ID)?.clone();
            if presented.as_ref() == Some(&issued) {
                return None;
            }
            let this = Arc::clone(self);
            let bind: BindFuture = Box::pin(async move {
                match &this.sessions {
                    Some(sessions) => sessions.bind(&issued, &owner.resolve()).await,
                    None => Ok(()),
                }
            });
            Some(bind)
        });
        ResponsePlan {
            bind,
            end_stream_at,
            dpop_nonce: self.dpop.as_ref().and_then(ProofChecker::current_nonce),
        }
    }

    /// Step 6: the verifier's answer, within `verify_timeout`.
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        let timer = observe::Timer::start();
        // Through the trait object itself: `Arc<dyn TokenVerifier>` is a verifier too, whose
        // `verify` would box the future a second time.
        let verifier: &dyn TokenVerifier = &*self.verifier;
        let mut verify = verifier.verify(token);
        // A cached token is answered at the first poll: no timer (and no clock read) for it.
        let verified = match std::future::poll_fn(|cx| Poll::Ready(verify.as_mut().poll(cx))).await
        {
            Poll::Ready(verified) => Ok(verified),
            Poll::Pending => Box::pin(tokio::time::timeout(self.verify_timeout, verify)).await,
        };
        match verified {
            Ok(verified) => {
                observe::verification(outcome(&verified), timer);
                judge(verified)
            }
            Err(_elapsed) => {
                observe::verification("unavailable", timer);
                Err(AuthError::new(
                    AuthErrorKind::VerifierUnavailable,
                    "token verification timed out",
                ))
            }
        }
    }

    /// Step 7: a token bound to a key (DPoP) or a certificate is accepted only with its proof,
    /// never as a plain bearer token. Returns the request's method and path when a DPoP proof
    /// must be checked against them.
    fn check_binding(
        &self,
        credentials: &Credentials,
        info: &AuthInfo,
        req: &Parts,
    ) -> Result<Option<(Method, String)>, AuthError> {
        let refuse =
            |description: &'static str| AuthError::new(AuthErrorKind::InvalidToken, description);
        if let Some(bound) = info.certificate_thumbprint() {
            let presented = self
                .certificate_binding
                .as_ref()
                .and_then(|binding| binding.thumbprint(&req.headers, &req.extensions));
            if presented.as_deref() != Some(bound) {
                return Err(refuse(
                    "the access token is bound to a client certificate this connection did not present",
                ));
            }
        }
        match (credentials.found.scheme, info.key_thumbprint(), &self.dpop) {
            (Scheme::Bearer, None, _) => Ok(None),
            (Scheme::Bearer, Some(_), _) => Err(refuse(
                "the access token is bound to a key: it needs the DPoP scheme and a proof",
            )),
            (Scheme::Dpop, None, _) => Err(refuse(
                "the access token is not bound to a key, but was sent with DPoP",
            )),
            (Scheme::Dpop, Some(_), Some(_)) => {
                Ok(Some((req.method.clone(), req.uri.path().to_owned())))
            }
            (Scheme::Dpop, Some(_), None) => Err(refuse("this resource does not accept DPoP")),
        }
    }

    /// Step 7: the token must be meant for this resource.
    fn check_audience(&self, info: &AuthInfo) -> Result<(), AuthError> {
        if !self.audiences.accept(info.audiences()) {
            let description = if info.audiences().is_empty() {
                "the access token names no audience: it must be issued for this resource"
            } else {
                "the access token is not meant for this resource (audience mismatch)"
            };
            return Err(AuthError::new(AuthErrorKind::InvalidToken, description));
        }
        Ok(())
    }

    /// Step 8: whether this request's body must be read to apply per-operation rules.
    ///
    /// With such rules, every `POST` is read: one that is not JSON gets `415`, because a
    /// server that parsed it anyway would see a tool call the layer never checked.
    fn must_read_body(&self, req: &Parts) -> Result<bool, AuthError> {
        if self.policy.is_empty() || req.method != Method::POST {
            return Ok(false);
        }
        if !is_json(&req.headers) {
            return Err(AuthError::new(
                AuthErrorKind::UnsupportedMediaType,
                "MCP requests must be sent as Content-Type: application/json",
            ));
        }
        // The layer reads the bytes as sent: a decoding layer inside it would hand the
        // server other bytes than those checked (RFC 9110 §15.5.16: 415 for a coding).
        if !is_identity_coded(&req.headers) {
            return Err(AuthError::new(
                AuthErrorKind::UnsupportedMediaType,
                "MCP requests must be sent without Content-Encoding",
            ));
        }
        Ok(true)
    }

    /// Steps 8 and 9 for a body that was read: what it calls, and the scopes that needs.
    fn check_operations(
        &self,
        info: &AuthInfo,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), AuthError> {
        let messages = jsonrpc::peek(body)
            .map_err(|err| AuthError::new(AuthErrorKind::InvalidRequest, err.to_string()))?;
        check_mcp_headers(headers, &messages)?;
        let mut requirements = vec![&self.required];
        for call in &messages.calls {
            if let Some(method) = call.method.as_deref() {
                self.policy
                    .collect(method, call.params.as_ref(), &mut requirements)
                    .map_err(|missing| AuthError::new(AuthErrorKind::InvalidRequest, missing))?;
            }
        }
        self.check_scopes(info, &requirements)
    }

    /// Step 9: the token must carry every scope of `requirements` (the global requirement
    /// first, then the per-operation ones).
    fn check_scopes(
        &self,
        info: &AuthInfo,
        requirements: &[&Requirement],
    ) -> Result<(), AuthError> {
        if policy::all_satisfied(requirements, info.scopes()) {
            return Ok(());
        }
        let needed: Vec<&Requirement> = requirements
            .iter()
            .copied()
            .filter(|r| !r.is_empty())
            .collect();
        Err(AuthError::new(
            AuthErrorKind::InsufficientScope,
            "the access token lacks a scope this request needs",
        )
        .with_scope(policy::union_challenge(&needed)))
    }

    /// The response for `err`.
    pub(crate) fn reject(&self, err: AuthError, connection: Connection) -> Response<Bytes> {
        let mut res = self.challenger.response(err);
        connection.mark(&mut res);
        res
    }
}

/// How a verification ended, for metrics: `valid`, `invalid` (refused or foreign) or
/// `unavailable`.
fn outcome(verified: &Result<AuthInfo, VerifyError>) -> &'static str {
    match verified {
        Ok(_) => "valid",
        Err(err) if !err.is_unavailable() => "invalid",
        Err(_) => "unavailable",
    }
}

/// Step 6's answer: the verifier's refusal as the layer's, `401 invalid_token` for anything
/// but "cannot decide now" (`503`).
fn judge(verified: Result<AuthInfo, VerifyError>) -> Result<AuthInfo, AuthError> {
    let err = match verified {
        Ok(info) => return Ok(info),
        Err(err) => err,
    };
    log_verify_error!(err);
    let kind = match err.kind() {
        VerifyErrorKind::Unavailable => AuthErrorKind::VerifierUnavailable,
        // Invalid, foreign, or a kind this version does not know: never a pass.
        _ => AuthErrorKind::InvalidToken,
    };
    let mut rejection = AuthError::new(kind, err.description().to_owned());
    if let Some(retry_after) = err.retry_after() {
        rejection = rejection.with_retry_after(retry_after);
    }
    Err(rejection)
}

/// `Mcp-Method` and `Mcp-Name` (MCP 2026-07-28, "Server Validation") must agree with the body,
/// which is the source of truth: each at most once, in valid characters, `Mcp-Name` decoded
/// from its `=?base64?…?=` form, and then equal to the body's value byte for byte.
fn check_mcp_headers(
    headers: &HeaderMap,
    messages: &jsonrpc::Messages<'_>,
) -> Result<(), AuthError> {
    let method_header = mcp_header(headers, "mcp-method", "Mcp-Method")?;
    let name_header = mcp_header(headers, "mcp-name", "Mcp-Name")?;
    if method_header.is_none() && name_header.is_none() {
        return Ok(());
    }
    // The headers mirror one request; a batch cannot match them.
    let (false, [call]) = (messages.batch, &messages.calls[..]) else {
        return Err(header_mismatch("Mcp-Method", "the body is a batch"));
    };
    if let Some(value) = method_header
        && call.method.as_deref() != Some(&*value)
    {
        return Err(header_mismatch("Mcp-Method", "does not match the body"));
    }
    if let Some(value) = name_header {
        let params = call.params.as_ref();
        let body_name = match call.method.as_deref() {
            Some("resources/read" | "resources/subscribe" | "resources/unsubscribe") => {
                params.and_then(|p| p.uri.as_deref())
            }
            _ => params.and_then(|p| p.name.as_deref()),
        };
        if body_name != Some(&*value) {
            return Err(header_mismatch("Mcp-Name", "does not match the body"));
        }
    }
    Ok(())
}

/// The value of a standard MCP header: at most one, in header-safe characters (visible ASCII,
/// space, tab), decoded when it uses the Base64 sentinel form `=?base64?{value}?=`.
fn mcp_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
    display: &'static str,
) -> Result<Option<Cow<'h, str>>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(header_mismatch(display, "is repeated"));
    }
    let bytes = value.as_bytes();
    if !bytes
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Err(header_mismatch(display, "contains invalid characters"));
    }
    // Visible ASCII, space and tab only: valid UTF-8.
    let text = std::str::from_utf8(bytes)
        .map_err(|_| header_mismatch(display, "contains invalid characters"))?;
    let Some(encoded) = text
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    else {
        return Ok(Some(Cow::Borrowed(text)));
    };
    BASE64
        .decode(encoded)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .map(|decoded| Some(Cow::Owned(decoded)))
        .ok_or_else(|| header_mismatch(display, "is not valid Base64 of UTF-8 text"))
}

/// Standard Base64, padded or not (the MCP header sentinel form).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn header_mismatch(header: &'static str, problem: &'static str) -> AuthError {
    AuthError::new(
        AuthErrorKind::HeaderMismatch,
        format!("header mismatch: the {header} header {problem}"),
    )
}

/// Whether the content type is JSON (`application/json` or `application/*+json`).
fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|ct| {
        let essence = ct
            .as_bytes()
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        let Some((kind, subtype)) = essence.split_at_checked(12) else {
            return false;
        };
        kind.eq_ignore_ascii_case(b"application/")
            && (subtype.eq_ignore_ascii_case(b"json")
                || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case(b"+json"))
    })
}

/// Whether the body is sent as it is: no `Content-Encoding`, or only `identity`.
fn is_identity_coded(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .all(|coding| {
            let coding = coding.trim_ascii();
            coding.is_empty() || coding.eq_ignore_ascii_case(b"identity")
        })
}

/// Whether the response is an event stream (`text/event-stream`).
fn is_event_stream(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|ct| {
        ct.as_bytes()
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii()
            .eq_ignore_ascii_case(b"text/event-stream")
    })
}

/// Takes the `Authorization` and `DPoP` headers out of `headers`; returns the (first)
/// `Authorization` value.
fn remove_credentials(headers: &mut HeaderMap) -> Option<HeaderValue> {
    headers.remove(&bearer::DPOP);
    headers.remove(header::AUTHORIZATION)
}

/// A header that may appear at most once: two are a malformed request.
fn single_header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<HeaderValue>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next().cloned();
    if values.next().is_some() {
        return Err(AuthError::new(
            AuthErrorKind::InvalidRequest,
            format!("more than one {name} header"),
        ));
    }
    Ok(first)
}

/// A CORS preflight: `OPTIONS` with `Access-Control-Request-Method`, from an origin (a
/// browser's always names one, and [`check_origin`](Authorizer::check_origin) has let it
/// through), without a body or an `Upgrade` (a browser's has neither). Anything else needs a
/// token, whatever it asks.
///
/// The headers are the client's to write, so they prove nothing: a preflight goes on with
/// nothing a token would have to vouch for, in case the handler answers every method alike.
/// Its body is replaced by an empty one, whatever arrives after its headers (HTTP/2 need not
/// announce one), and `Mcp-Session-Id` and `Last-Event-ID` are removed (a session is only
/// ever used with its owner's token).
fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && headers.contains_key(header::ORIGIN)
        && !headers.contains_key(header::UPGRADE)
        && !body::declares_body(headers)
}

/// The header with which a client resumes an event stream.
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

#[cfg(test)]
mod tests;
