//! Opaque access tokens checked by asking the authorization server (RFC 7662 token
//! introspection): [`IntrospectionVerifier`].
//!
//! # What is sent where
//!
//! A token goes only to the server that can have issued it: a JWT whose (unverified) `iss` is
//! not this verifier's issuer is a [foreign token](VerifyError::foreign_token), refused or
//! handed to the next verifier of a chain without any call. Opaque tokens are posted to the
//! introspection endpoint with `token_type_hint=access_token`, the verifier authenticating as
//! a client (`client_secret_basic`, `client_secret_post`, or a [`ClientAuthenticator`] of your
//! own). At most [`max_concurrent_requests`] calls are in flight: past it, a verification
//! waits a second for a slot, then gets `503` (a flood of new tokens is not a flood of calls).
//!
//! # What is checked
//!
//! The answer must be a `200` JSON object, and then:
//!
//! - `active` must be `true`;
//! - `exp` (when present) must not have passed, `nbf` must have passed and `iat` must not be in
//!   the future, each with [`leeway`]; [`require_expiry`] makes `exp` mandatory;
//! - `iss`, when an issuer is configured (or discovered), must equal it when present;
//! - `token_type`, when present, must name an access token (`Bearer`, `DPoP`, `access_token`
//!   or `urn:ietf:params:oauth:token-type:access_token`), and so must `token_use` (`access_token`
//!   or `access`), which some servers send instead (Ory Hydra); a `cnf` binding is reported,
//!   and the layer accepts a bound token only with its proof;
//! - `aud` (a string or an array of strings) is reported in [`AuthInfo::audiences`], and the
//!   layer requires it to name the protected resource. An answer **without** `aud` is
//!   therefore refused, unless [`danger_assume_audience`] says otherwise;
//! - scopes come from `scope` (and `scp`), and the other claim settings apply as for JWTs.
//!
//! A malformed member (a negative `exp`, an `aud` that is a number, a scope with a tab) makes
//! the token unacceptable: `401`, like an inactive one. A `400 unsupported_token_type` (servers
//! that do not introspect JWTs) is a refusal too. An endpoint that does not speak RFC 7662
//! (Google's `tokeninfo`) is read through an [`AnswerMapper`].
//!
//! # Failures
//!
//! When the authorization server cannot answer properly (connection refused or reset, a
//! timeout, another non-`200` status, a redirect, a body that is too large or not JSON, no
//! boolean `active`) the error is [`VerifyError::unavailable`]: the client gets `503` with
//! `Retry-After` and keeps its token. It is never `401`, and never a pass. Such errors are not
//! cached, so the verifier recovers as soon as the server does. A discovered endpoint that
//! fails is discovered again at most once per `discovery_retry_interval`, and used until
//! another is found.
//!
//! # Cache
//!
//! Answers are kept in a bounded cache keyed by the SHA-256 of the token (never the token):
//! valid tokens until their `exp` and at most [`cache_max_ttl`], inactive or refused tokens
//! for [`negative_cache_ttl`], so that repeated garbage tokens do not each cost a call.
//! Concurrent requests carrying the same new token share one call, and with a
//! [`shared_cache`] the replicas of a server share answers too.
//!
//! [`max_concurrent_requests`]: IntrospectionVerifierBuilder::max_concurrent_requests
//! [`shared_cache`]: IntrospectionVerifierBuilder::shared_cache
//! [`leeway`]: IntrospectionVerifierBuilder::leeway
//! [`require_expiry`]: IntrospectionVerifierBuilder::require_expiry
//! [`danger_assume_audience`]: IntrospectionVerifierBuilder::danger_assume_audience
//! [`cache_max_ttl`]: IntrospectionVerifierBuilder::cache_max_ttl
//! [`negative_cache_ttl`]: IntrospectionVerifierBuilder::negative_cache_ttl

mod builder;
mod client_auth;
mod shared;

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use http::StatusCode;
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};
use url::Url;

pub use self::{
    builder::IntrospectionVerifierBuilder,
    client_auth::{ClientAuthRequest, ClientAuthenticator},
};
use self::{
    client_auth::ClientAuth,
    shared::{Answer, SharedAnswers},
};

use super::{
    TokenVerifier, VerifyError,
    cache::{TokenCache, Verdict},
    claims::ClaimRules,
    discovery::discover,
    http::{FetchError, HttpClient},
    json::{Object, Refusal},
    shape::{Shape, shape, shape_of_oversize},
};
use crate::{AuthInfo, ConfigError, callback::Callback, observe, resource::redacted_url};

/// What [`IntrospectionVerifierBuilder::owns_tokens`] is given: whether a token is this
/// authorization server's.
pub(crate) type OwnsTokens = dyn Fn(&str) -> bool + Send + Sync;

/// How long a verification waits for a free introspection slot before it answers `503`.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(1);

/// Turns the answers of an introspection-like endpoint that does not speak RFC 7662 (Google's
/// `tokeninfo`, an in-house token service) into RFC 7662 answers, so the verifier applies its
/// checks to them without being forked.
///
/// It sees every answer with a JSON body, whatever the status. Return the RFC 7662 answer
/// (`{"active": true, "exp": …, "aud": …, "scope": …}`, or `{"active": false}`),
/// [`VerifyError::invalid_token`] for an answer that refuses the token (cached like any
/// refusal), or [`VerifyError::unavailable`] for one that says nothing about it (`503`).
/// Closures `Fn(StatusCode, Value) -> Result<Value, VerifyError>` implement it.
///
/// # Example
///
/// ```
/// use http::StatusCode;
/// use mcp_auth::{VerifyError, verifier::IntrospectionVerifier};
/// use serde_json::{Value, json};
///
/// // Google's tokeninfo: no `active`, times as strings, the client in `azp`, errors as 400.
/// let tokeninfo = |status: StatusCode, answer: Value| match status {
///     StatusCode::OK => Ok(json!({
///         "active": true,
///         "sub": answer["sub"],
///         "client_id": answer["azp"],
///         "aud": answer["aud"],
///         "scope": answer["scope"],
///         "exp": answer["exp"].as_str().and_then(|e| e.parse::<u64>().ok()),
///     })),
///     StatusCode::BAD_REQUEST => Err(VerifyError::invalid_token("token is not valid")),
///     _ => Err(VerifyError::unavailable("tokeninfo answered with an error")),
/// };
/// let verifier = IntrospectionVerifier::builder()
///     .endpoint("https://oauth2.googleapis.com/tokeninfo")
///     .token_parameter("access_token")
///     .without_client_authentication()
///     .answer_mapper(tokeninfo)
///     .build()?;
/// # drop(verifier);
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
pub trait AnswerMapper: Send + Sync + 'static {
    /// Turns the endpoint's answer (`status`, JSON body) into an RFC 7662 answer.
    ///
    /// # Errors
    ///
    /// [`VerifyError::invalid_token`] when the answer refuses the token,
    /// [`VerifyError::unavailable`] when it says nothing about it.
    fn map(&self, status: StatusCode, answer: Value) -> Result<Value, VerifyError>;
}

impl<F> AnswerMapper for F
where
    F: Fn(StatusCode, Value) -> Result<Value, VerifyError> + Send + Sync + 'static,
{
    fn map(&self, status: StatusCode, answer: Value) -> Result<Value, VerifyError> {
        self(status, answer)
    }
}

/// Verifies opaque access tokens by asking the authorization server (RFC 7662).
///
/// Cheap to clone: the HTTP client and the cache are shared. See the [module docs](self) for
/// what is checked and how answers are cached.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use axum::{Router, body::Body, routing::post};
/// use http::{Request, StatusCode, header};
/// use mcp_auth::{McpAuth, TokenVerifier, verifier::IntrospectionVerifier};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_auth::BoxError> {
/// // The endpoint is discovered on first use, so this builds while the server is down.
/// let verifier = IntrospectionVerifier::builder()
///     .discover("http://127.0.0.1:9")
///     .client_secret_basic("my-resource-server", "s3cret")
///     .http_timeout(Duration::from_secs(1))
///     .build()?;
/// let err = verifier.verify("some-opaque-token").await.unwrap_err();
/// assert!(err.is_unavailable());
///
/// let auth = McpAuth::builder("https://mcp.example.com/mcp")
///     .authorization_server("http://127.0.0.1:9")
///     .verifier(verifier)
///     .build()?;
/// let app = Router::new().route("/mcp", post(|| async { "hello" })).layer(auth);
/// let request = Request::post("/mcp")
///     .header(header::AUTHORIZATION, "Bearer some-opaque-token")
///     .body(Body::empty())?;
/// let response = app.oneshot(request).await?;
/// // The authorization server cannot be asked: 503 with Retry-After, never 401.
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert!(response.headers().contains_key(header::RETRY_AFTER));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct IntrospectionVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    client_auth: ClientAuth,
    client: HttpClient,
    /// Bounds the calls in flight to the endpoint.
    in_flight: Arc<Semaphore>,
    /// The form parameter that carries the token (`token` in RFC 7662).
    token_parameter: String,
    /// Turns answers of an endpoint that does not speak RFC 7662 into RFC 7662 answers.
    answer_mapper: Option<Callback<dyn AnswerMapper>>,
    /// Which tokens are this server's ([`owns_tokens`](IntrospectionVerifierBuilder::owns_tokens)).
    owns_tokens: Option<Callback<OwnsTokens>>,
    /// Answers shared with other replicas.
    shared: Option<SharedAnswers>,
    max_concurrent_requests: usize,
    issuer: Option<String>,
    claims: ClaimRules,
    max_token_size: usize,
    cache: TokenCache,
}

enum Endpoint {
    Fixed(Url),
    Discover {
        issuer: String,
        issuer_url: Url,
        discovered: Discovered,
    },
}

/// What discovery found, and when it last ran: at most one discovery per `retry`.
struct Discovered {
    /// Held across a discovery (by the task that runs it), so that concurrent callers share
    /// it.
    state: Arc<Mutex<DiscoveryState>>,
    /// The endpoint found failed to answer since: discover again when `retry` allows.
    suspect: AtomicBool,
    retry: Duration,
}

#[derive(Default)]
struct DiscoveryState {
    /// The endpoint found last; kept, and used, until a discovery finds another.
    found: Option<Url>,
    /// When discovery last ran, whatever it found.
    attempted: Option<Instant>,
    /// Why the last discovery failed, while no endpoint was ever found.
    failed: Option<VerifyError>,
}

impl Discovered {
    pub(super) fn new(retry: Duration) -> Self {
        Self {
            state: Arc::default(),
            suspect: AtomicBool::new(false),
            retry,
        }
    }
}

impl IntrospectionVerifier {
    /// A verifier for a fixed introspection `endpoint`, authenticating with
    /// `client_secret_basic`, every other setting at its default.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the endpoint is not an `https` URL (or `http` on
    /// loopback).
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_auth::verifier::IntrospectionVerifier;
    ///
    /// let verifier =
    ///     IntrospectionVerifier::new("https://auth.example.com/introspect", "rs", "s3cret")?;
    /// assert!(!format!("{verifier:?}").contains("s3cret"));
    /// # Ok::<(), mcp_auth::ConfigError>(())
    /// ```
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        Self::builder()
            .endpoint(endpoint)
            .client_secret_basic(client_id, client_secret)
            .build()
    }

    /// A verifier that finds the `introspection_endpoint` of `issuer` through RFC 8414 /
    /// OpenID Connect discovery (on first use), requires answers to come from that issuer,
    /// and authenticates with `client_secret_basic`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the issuer is not an `https` URL (or `http` on
    /// loopback).
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_auth::verifier::IntrospectionVerifier;
    ///
    /// let verifier = IntrospectionVerifier::discover("https://auth.example.com", "rs", "s3cret")?;
    /// assert_eq!(verifier.issuer(), Some("https://auth.example.com"));
    /// # Ok::<(), mcp_auth::ConfigError>(())
    /// ```
    pub fn discover(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        Self::builder()
            .discover(issuer)
            .client_secret_basic(client_id, client_secret)
            .build()
    }

    /// Starts a verifier configuration.
    ///
    /// # Example
    ///
    /// See [`IntrospectionVerifierBuilder`].
    pub fn builder() -> IntrospectionVerifierBuilder {
        IntrospectionVerifierBuilder::default()
    }

    /// The issuer answers must come from, if one is configured or discovered.
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_auth::verifier::IntrospectionVerifier;
    ///
    /// let verifier =
    ///     IntrospectionVerifier::new("https://auth.example.com/introspect", "rs", "s3cret")?;
    /// assert_eq!(verifier.issuer(), None);
    /// # Ok::<(), mcp_auth::ConfigError>(())
    /// ```
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }

    /// The verdict on `token` without the local cache: from the shared answers (other
    /// replicas asked already), or from the authorization server (and then shared).
    /// `Ok(Verdict::Refused)` is a definite "no" (cached briefly); `Err` is "cannot tell now"
    /// (never cached).
    async fn verify_uncached(&self, token: &str) -> Result<Verdict, VerifyError> {
        let shared = self.inner.shared.as_ref();
        let key = shared.map(|shared| shared.key(self.cache_scope(), token));
        if let (Some(shared), Some(key)) = (shared, &key)
            && let Some((answer, until)) = shared.get(key).await
        {
            return self.judge(answer).map(|verdict| verdict.until(until));
        }
        let answer = self.introspect(token).await?;
        let verdict = self.judge(answer.clone())?;
        if let (Some(shared), Some(key)) = (shared, &key) {
            let ttl = self.inner.cache.ttl(&verdict);
            shared.put(key, &answer, ttl).await;
        }
        Ok(verdict)
    }

    /// What answers are shared under: the issuer, or the endpoint.
    fn cache_scope(&self) -> &str {
        match (&self.inner.issuer, &self.inner.endpoint) {
            (Some(issuer), _) => issuer,
            (None, Endpoint::Fixed(url)) => url.as_str(),
            (None, Endpoint::Discover { issuer, .. }) => issuer,
        }
    }

    /// The verdict an answer gives.
    fn judge(&self, answer: Answer) -> Result<Verdict, VerifyError> {
        match answer {
            Answer::Answered(answer) => self.check_answer(answer),
            Answer::Refused(description) => Ok(refused_with(description)),
        }
    }

    /// Asks the authorization server about `token`. `Err` is "cannot tell now".
    async fn introspect(&self, token: &str) -> Result<Answer, VerifyError> {
        let inner = &*self.inner;
        let endpoint = self.endpoint().await?;
        let credentials = inner.client_auth.credentials(&endpoint).map_err(|err| {
            VerifyError::unavailable("introspection client authentication failed").with_source(err)
        })?;
        let mut params: Vec<(&str, &str)> = vec![
            (&inner.token_parameter, token),
            ("token_type_hint", "access_token"),
        ];
        params.extend(
            credentials
                .params
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        let basic = credentials
            .basic
            .as_ref()
            .map(|(id, secret)| (id.as_str(), secret.as_str()));
        // A flood of new tokens must not become a flood of calls: past the bound, wait a
        // little for a slot, then answer 503.
        let _permit = tokio::time::timeout(QUEUE_TIMEOUT, inner.in_flight.acquire())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                VerifyError::unavailable("too many introspection requests in flight")
                    .with_retry_after(Duration::from_secs(1))
            })?;
        let started = Instant::now();
        let response = inner
            .client
            .post_form(&endpoint, &params, basic, credentials.headers)
            .await;
        drop(_permit);
        let result = match &response {
            Ok(response) if response.status == StatusCode::OK => "answered",
            Ok(response) if response.status == StatusCode::BAD_REQUEST => "refused",
            _ => "error",
        };
        observe::introspection_call(result, started.elapsed());
        let response = match response {
            Ok(response) => response,
            Err(err) => {
                self.endpoint_failed();
                return Err(fetch_unavailable(err));
            }
        };
        // Read strictly, as a token's claims are: an answer that names a member twice
        // (`"active": false, "active": true`) reads one way here and another elsewhere
        // (`serde_json` keeps the last), so it is no answer.
        if let Err(Refusal::Duplicate) = Object::parse(&response.body) {
            return Err(VerifyError::unavailable(
                "introspection response names a member twice",
            ));
        }
        if let Some(mapper) = &inner.answer_mapper {
            let answer: Value = match response.json(&endpoint) {
                Ok(answer) => answer,
                Err(err) => {
                    self.endpoint_failed();
                    return Err(fetch_unavailable(err));
                }
            };
            return match mapper.map(response.status, answer) {
                Ok(answer) => Ok(Answer::Answered(answer)),
                Err(err) if err.is_invalid_token() => {
                    Ok(Answer::Refused(err.description().to_owned()))
                }
                Err(err) => Err(err),
            };
        }
        if response.status == StatusCode::BAD_REQUEST
            && response
                .json::<Value>(&endpoint)
                .is_ok_and(|answer| answer["error"] == "unsupported_token_type")
        {
            // Some servers refuse to introspect JWT-shaped tokens: the server answered, and
            // its answer is "not a token I can vouch for".
            return Ok(Answer::Refused(
                "the authorization server does not introspect this kind of token".to_owned(),
            ));
        }
        match response.ok_json(&endpoint) {
            Ok(answer) => Ok(Answer::Answered(answer)),
            Err(err) => {
                self.endpoint_failed();
                Err(fetch_unavailable(err))
            }
        }
    }

    /// The introspection endpoint: configured, or discovered. Discovery runs at most once per
    /// retry interval, in a task of its own (a caller that goes away does not cancel it;
    /// concurrent callers wait for it): the first time, and again once the endpoint found
    /// has failed to answer. An endpoint found stays in use until a discovery finds another,
    /// so a server that is down for a moment is used again as soon as it answers. With none
    /// found yet, a failed discovery is the answer until the interval has passed, with a
    /// `Retry-After` until then.
    async fn endpoint(&self) -> Result<Url, VerifyError> {
        let (issuer, issuer_url, discovered) = match &self.inner.endpoint {
            Endpoint::Fixed(url) => return Ok(url.clone()),
            Endpoint::Discover {
                issuer,
                issuer_url,
                discovered,
            } => (issuer, issuer_url, discovered),
        };
        let mut state = Arc::clone(&discovered.state).lock_owned().await;
        let retry = discovered.retry;
        let since = state.attempted.map(|at| at.elapsed());
        let due = since.is_none_or(|since| since >= retry);
        match (&state.found, &state.failed) {
            (Some(url), _) if !due || !discovered.suspect.load(Ordering::Relaxed) => {
                return Ok(url.clone());
            }
            (None, Some(err)) if !due => {
                let wait = retry.saturating_sub(since.unwrap_or_default());
                return Err(err
                    .clone()
                    .with_retry_after(wait.max(Duration::from_secs(1))));
            }
            _ => {}
        }
        discovered.suspect.store(false, Ordering::Relaxed);
        let client = self.inner.client.clone();
        let (issuer, issuer_url) = (issuer.clone(), issuer_url.clone());
        let discovery = tokio::spawn(async move {
            let found = match discover(&client, &issuer, &issuer_url).await {
                Ok(metadata) => metadata.introspection_url().cloned().ok_or_else(|| {
                    VerifyError::unavailable("authorization server has no introspection endpoint")
                }),
                Err(err) => Err(VerifyError::unavailable(
                    "authorization server metadata is not available",
                )
                .with_source(err)),
            };
            state.attempted = Some(Instant::now());
            match found {
                Ok(url) => {
                    state.found = Some(url.clone());
                    state.failed = None;
                    Ok(url)
                }
                // The endpoint found before, if any, is still the best guess.
                Err(err) => match &state.found {
                    Some(url) => Ok(url.clone()),
                    None => {
                        state.failed = Some(err.clone());
                        Err(err.with_retry_after(retry.max(Duration::from_secs(1))))
                    }
                },
            }
        });
        discovery.await.unwrap_or_else(|_| {
            Err(
                VerifyError::unavailable("authorization server metadata is not available")
                    .with_retry_after(Duration::from_secs(1)),
            )
        })
    }

    /// After the discovered `endpoint` failed to answer: the next call that the retry
    /// interval allows discovers again (the authorization server may have moved it).
    fn endpoint_failed(&self) {
        if let Endpoint::Discover { discovered, .. } = &self.inner.endpoint {
            discovered.suspect.store(true, Ordering::Relaxed);
        }
    }

    /// Applies the RFC 7662 response checks. An answer without a boolean `active` is no
    /// answer (`Err`, unavailable); everything else the server said is a verdict.
    fn check_answer(&self, answer: Value) -> Result<Verdict, VerifyError> {
        let inner = &*self.inner;
        let Value::Object(mut claims) = answer else {
            return Err(VerifyError::unavailable(
                "introspection response is malformed",
            ));
        };
        match claims.remove("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Ok(refused("token is not active")),
            _ => {
                return Err(VerifyError::unavailable(
                    "introspection response is malformed",
                ));
            }
        }
        let issuer = match claims.get("iss") {
            None | Some(Value::Null) => inner.issuer.as_deref(),
            Some(Value::String(iss)) => {
                if inner
                    .issuer
                    .as_ref()
                    .is_some_and(|expected| expected != iss)
                {
                    return Ok(refused("token issuer is not trusted"));
                }
                Some(iss.as_str())
            }
            Some(_) => return Ok(refused("token issuer is malformed")),
        };
        let dpop = match claims.get("token_type") {
            None | Some(Value::Null) => false,
            Some(Value::String(token_type)) if is_access_token_type(token_type) => {
                token_type.eq_ignore_ascii_case("dpop")
            }
            Some(_) => return Ok(refused("token is not an access token")),
        };
        // Not RFC 7662, but some servers say it instead of `token_type` (Ory Hydra:
        // `access_token` or `refresh_token`; Cognito-style `access` or `id`).
        match claims.get("token_use") {
            None | Some(Value::Null) => {}
            Some(Value::String(used)) if used == "access_token" || used == "access" => {}
            Some(_) => return Ok(refused("token is not an access token")),
        }
        let claims = Object::from_map(&claims);
        let info = inner
            .claims
            .describe(&claims, issuer, None)
            .map(|info| info.claims(inner.claims.other_claims(claims)).build());
        // A DPoP token (RFC 9449 §6.2) names its key, or it cannot be checked: never a
        // bearer token.
        if dpop
            && info
                .as_ref()
                .is_ok_and(|info| info.key_thumbprint().is_none())
        {
            return Ok(refused("token is bound by DPoP but names no key"));
        }
        Verdict::from_result(info)
    }
}

fn refused(description: &'static str) -> Verdict {
    Verdict::Refused(VerifyError::invalid_token(description))
}

fn refused_with(description: String) -> Verdict {
    Verdict::Refused(VerifyError::invalid_token(description))
}

#[async_trait]
impl TokenVerifier for IntrospectionVerifier {
    async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        self.check_token(token)?;
        // The call's state (kilobytes) is boxed when a miss starts it, never for a hit.
        self.inner
            .cache
            .get_or_verify(token, || Box::pin(self.verify_uncached(token)))
            .await
    }

    /// A token this replica's cache holds as active, and still this server's
    /// ([`owns_tokens`](IntrospectionVerifierBuilder::owns_tokens) may change its mind). (The
    /// other checks `verify` makes before its lookup depend on the token and the
    /// configuration alone, and a cached token passed them.)
    fn verify_cached(&self, token: &str) -> Option<AuthInfo> {
        if self.disowns(token) {
            return None;
        }
        self.inner.cache.cached(token)
    }

    /// What `verify` decides before it would call the server (an empty, oversized or foreign
    /// token), or this replica's cached verdict: `None` when only a call can tell.
    fn verify_now(&self, token: &str) -> Option<Result<AuthInfo, VerifyError>> {
        if let Err(err) = self.check_token(token) {
            return Some(Err(err));
        }
        self.inner.cache.get_or_verify_now(token, || None)
    }

    fn authorization_servers(&self) -> Vec<String> {
        self.issuer().map(str::to_owned).into_iter().collect()
    }
}

impl IntrospectionVerifier {
    /// The checks of `verify` before its lookup, from the token and the configuration alone:
    /// not empty, not over `max_token_size`, and this server's to judge (foreign otherwise).
    fn check_token(&self, token: &str) -> Result<(), VerifyError> {
        if token.is_empty() {
            return Err(VerifyError::invalid_token("token is empty"));
        }
        if token.len() > self.inner.max_token_size {
            // Refused only if it is this server's to judge: another's goes on in a chain.
            self.check_owner(token, shape_of_oversize(token, self.inner.max_token_size))?;
            return Err(VerifyError::invalid_token("token is too large"));
        }
        self.check_owner(token, shape(token))
    }

    /// Whether `token` (of this `shape`) may be sent to this server: not a JWT of another
    /// issuer (a JWT goes only to the server that issued it), and owned by it when
    /// [`owns_tokens`](IntrospectionVerifierBuilder::owns_tokens) says which are. Anything
    /// else is [foreign](VerifyError::foreign_token).
    fn check_owner(&self, token: &str, shape: Shape) -> Result<(), VerifyError> {
        if let Shape::Jwt { issuer } = shape
            && (issuer.is_none() || issuer != self.inner.issuer)
        {
            return Err(VerifyError::foreign_token(
                "token is a JWT from another issuer",
            ));
        }
        if self.disowns(token) {
            return Err(VerifyError::foreign_token(
                "token is not one of this authorization server's",
            ));
        }
        Ok(())
    }

    /// Whether [`owns_tokens`](IntrospectionVerifierBuilder::owns_tokens) says `token` is
    /// not this server's.
    fn disowns(&self, token: &str) -> bool {
        self.inner
            .owns_tokens
            .as_ref()
            .is_some_and(|owns| !owns(token))
    }
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let endpoint = match &inner.endpoint {
            Endpoint::Fixed(url) => redacted_url(url.as_str()),
            Endpoint::Discover { issuer, .. } => {
                format!("discovered from {}", redacted_url(issuer))
            }
        };
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &endpoint)
            .field("client_auth", &inner.client_auth)
            .field("issuer", &inner.issuer.as_deref().map(redacted_url))
            .field("claims", &inner.claims)
            .field("max_token_size", &inner.max_token_size)
            .field("max_concurrent_requests", &inner.max_concurrent_requests)
            .field("token_parameter", &inner.token_parameter)
            .field("owns_tokens", &inner.owns_tokens.is_some())
            .field("answer_mapper", &inner.answer_mapper.is_some())
            .field("cache", &inner.cache)
            .field("shared", &inner.shared)
            .field("client", &inner.client)
            .finish()
    }
}

fn fetch_unavailable(err: FetchError) -> VerifyError {
    let description = match &err {
        FetchError::Timeout { .. } => "introspection request timed out",
        FetchError::Status { .. } => "introspection endpoint answered with an error",
        FetchError::Json { .. } | FetchError::TooLarge { .. } => {
            "introspection response is malformed"
        }
        _ => "introspection endpoint is not reachable",
    };
    VerifyError::unavailable(description).with_source(err)
}

/// `Bearer`, or `DPoP` for a sender-constrained token (whose `cnf` the layer enforces).
fn is_access_token_type(token_type: &str) -> bool {
    token_type.eq_ignore_ascii_case("bearer")
        || token_type.eq_ignore_ascii_case("dpop")
        || token_type == "access_token"
        || token_type == "urn:ietf:params:oauth:token-type:access_token"
}
