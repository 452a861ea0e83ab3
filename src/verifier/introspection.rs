//! Opaque access tokens checked by asking the authorization server (RFC 7662 token
//! introspection): [`IntrospectionVerifier`].
//!
//! # What is checked
//!
//! The token is posted to the introspection endpoint with `token_type_hint=access_token`, the
//! verifier authenticating as a client (`client_secret_basic`, `client_secret_post`, or a
//! [`ClientAuthenticator`] of your own). The answer must be a `200` JSON object, and then:
//!
//! - `active` must be `true`;
//! - `exp` (when present) must not have passed, `nbf` must have passed and `iat` must not be in
//!   the future, each with [`leeway`]; [`require_expiry`] makes `exp` mandatory;
//! - `iss`, when an issuer is configured (or discovered), must equal it when present;
//! - `token_type`, when present, must name an access token (`Bearer`, `access_token` or
//!   `urn:ietf:params:oauth:token-type:access_token`); a sender-constrained token (`DPoP`, or
//!   any `cnf`) is refused, since a bearer request carries no proof of possession;
//! - `aud` (a string or an array of strings) is reported in [`AuthInfo::audiences`], and the
//!   layer requires it to name the protected resource. An answer **without** `aud` is
//!   therefore refused, unless [`danger_assume_audience`] says otherwise;
//! - scopes come from `scope`.
//!
//! # Failures
//!
//! When the authorization server cannot answer properly (connection refused or reset, a
//! timeout, a non-`200` status, a redirect, a body that is too large, not JSON, or malformed)
//! the error is [`VerifyError::unavailable`]: the client gets `503` with `Retry-After` and keeps
//! its token. It is never `401`, and never a pass. Such errors are not cached, so the verifier
//! recovers as soon as the server does.
//!
//! # Cache
//!
//! Answers are kept in a bounded cache keyed by the SHA-256 of the token (never the token):
//! valid tokens until their `exp` and at most [`cache_max_ttl`], inactive or refused tokens
//! for [`negative_cache_ttl`], so that a flood of garbage tokens does not become a flood of
//! introspection calls. Concurrent requests carrying the same new token share one call.
//!
//! [`leeway`]: IntrospectionVerifierBuilder::leeway
//! [`require_expiry`]: IntrospectionVerifierBuilder::require_expiry
//! [`danger_assume_audience`]: IntrospectionVerifierBuilder::danger_assume_audience
//! [`cache_max_ttl`]: IntrospectionVerifierBuilder::cache_max_ttl
//! [`negative_cache_ttl`]: IntrospectionVerifierBuilder::negative_cache_ttl

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};
use moka::{Expiry, future::Cache};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

use super::{
    TokenVerifier, VerifyError,
    discovery::discover,
    http::{FetchError, HttpClient, HttpOptions, check_url},
};
use crate::{AuthInfo, BoxError};

/// The cache key: SHA-256 of the token.
type TokenHash = [u8; 32];

/// A configuration given to [`IntrospectionVerifierBuilder`] was rejected by `build()`.
///
/// Each variant carries the offending input (never a secret: credentials in a URL, the
/// `user:password@` part, are removed), so the message says what to fix.
///
/// # Formatting
///
/// The `Display` text is not stable API.
///
/// # Example
///
/// ```
/// use mcp_auth::verifier::{IntrospectionVerifier, introspection::IntrospectionConfigError};
///
/// let err = IntrospectionVerifier::new("http://auth.example.com/introspect", "rs", "secret")
///     .unwrap_err();
/// assert!(matches!(err, IntrospectionConfigError::InvalidUrl { .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionConfigError {
    /// An issuer identifier is not usable.
    #[error("invalid issuer {issuer:?}: {message}")]
    InvalidIssuer {
        /// The issuer as given, without any `user:password@`.
        issuer: String,
        /// What is wrong with it.
        message: String,
    },
    /// A numeric or duration setting is out of range.
    #[error("invalid setting {name}: {message}")]
    InvalidSetting {
        /// The setting's name.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The introspection endpoint URL is not usable.
    #[error("invalid URL {url:?}: {message}")]
    InvalidUrl {
        /// The URL as given, without any `user:password@`.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// No client authentication was configured; RFC 7662 endpoints require one.
    #[error("no client authentication configured")]
    MissingClientAuth,
    /// Neither an endpoint nor an issuer to discover it from was configured.
    #[error("no introspection endpoint configured")]
    MissingEndpoint,
}

/// Adds client authentication to an introspection request, for methods other than
/// `client_secret_basic` and `client_secret_post` (for example `private_key_jwt`, or a
/// bearer token the authorization server gave this resource server).
///
/// # Example
///
/// ```
/// use http::{HeaderValue, header};
/// use mcp_auth::{
///     BoxError,
///     verifier::{
///         IntrospectionVerifier,
///         introspection::{ClientAuthRequest, ClientAuthenticator},
///     },
/// };
///
/// #[derive(Debug)]
/// struct RsBearer;
///
/// impl ClientAuthenticator for RsBearer {
///     fn authenticate(&self, request: &mut ClientAuthRequest) -> Result<(), BoxError> {
///         assert!(request.endpoint().ends_with("/introspect"));
///         request.insert_header(header::AUTHORIZATION, HeaderValue::from_static("Bearer rs-token"));
///         request.append_param("client_id", "rs");
///         Ok(())
///     }
/// }
///
/// let verifier = IntrospectionVerifier::builder()
///     .endpoint("https://auth.example.com/introspect")
///     .client_authenticator(RsBearer)
///     .build()?;
/// assert!(format!("{verifier:?}").contains("RsBearer"));
/// # Ok::<(), mcp_auth::verifier::introspection::IntrospectionConfigError>(())
/// ```
pub trait ClientAuthenticator: fmt::Debug + Send + Sync + 'static {
    /// Adds form parameters or headers to `request`. Called once per introspection call.
    ///
    /// # Errors
    ///
    /// Any error makes the verification [unavailable](VerifyError::unavailable) (`503`).
    fn authenticate(&self, request: &mut ClientAuthRequest) -> Result<(), BoxError>;
}

/// An introspection request being prepared, as a [`ClientAuthenticator`] sees it.
///
/// # Example
///
/// See [`ClientAuthenticator`].
pub struct ClientAuthRequest {
    endpoint: String,
    params: Vec<(String, String)>,
    headers: HeaderMap,
}

impl ClientAuthRequest {
    /// The introspection endpoint the request goes to (for the `aud` of a client assertion).
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Appends a form parameter (such as `client_assertion`). `token` and `token_type_hint`
    /// are set by the verifier and cannot be replaced.
    pub fn append_param(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        if name != "token" && name != "token_type_hint" {
            self.params.push((name, value.into()));
        }
    }

    /// Sets a request header (such as `Authorization`).
    pub fn insert_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.insert(name, value);
    }
}

impl fmt::Debug for ClientAuthRequest {
    /// Names only: parameter values and headers carry credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<&str> = self.params.iter().map(|(name, _)| name.as_str()).collect();
        let headers: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("ClientAuthRequest")
            .field("endpoint", &without_userinfo(&self.endpoint))
            .field("params", &params)
            .field("headers", &headers)
            .finish()
    }
}

/// How the verifier authenticates to the introspection endpoint.
#[derive(Clone)]
enum ClientAuth {
    Basic { id: String, secret: String },
    Post { id: String, secret: String },
    Custom(Arc<dyn ClientAuthenticator>),
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { id, .. } => f
                .debug_struct("ClientSecretBasic")
                .field("client_id", id)
                .field("client_secret", &"[redacted]")
                .finish(),
            Self::Post { id, .. } => f
                .debug_struct("ClientSecretPost")
                .field("client_id", id)
                .field("client_secret", &"[redacted]")
                .finish(),
            Self::Custom(custom) => custom.fmt(f),
        }
    }
}

#[derive(Clone, Debug)]
enum EndpointConfig {
    Fixed(String),
    Discover(String),
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
    issuer: Option<String>,
    leeway: Duration,
    require_expiry: bool,
    audiences: Vec<String>,
    assumed_audience: Option<String>,
    max_token_size: usize,
    cache: Option<Cache<TokenHash, Outcome>>,
    cache_max_ttl: Duration,
    negative_cache_ttl: Duration,
}

enum Endpoint {
    Fixed(Url),
    Discover {
        issuer: String,
        issuer_url: Url,
        found: Cache<(), Url>,
    },
}

/// A cached introspection answer.
#[derive(Clone)]
enum Outcome {
    Active(AuthInfo),
    Refused(VerifyError),
}

impl IntrospectionVerifier {
    /// A verifier for a fixed introspection `endpoint`, authenticating with
    /// `client_secret_basic`, every other setting at its default.
    ///
    /// # Errors
    ///
    /// [`IntrospectionConfigError`] when the endpoint is not an `https` URL (or `http` on
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
    /// # Ok::<(), mcp_auth::verifier::introspection::IntrospectionConfigError>(())
    /// ```
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, IntrospectionConfigError> {
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
    /// [`IntrospectionConfigError`] when the issuer is not an `https` URL (or `http` on
    /// loopback).
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_auth::verifier::IntrospectionVerifier;
    ///
    /// let verifier = IntrospectionVerifier::discover("https://auth.example.com", "rs", "s3cret")?;
    /// assert_eq!(verifier.issuer(), Some("https://auth.example.com"));
    /// # Ok::<(), mcp_auth::verifier::introspection::IntrospectionConfigError>(())
    /// ```
    pub fn discover(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, IntrospectionConfigError> {
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
    /// # Ok::<(), mcp_auth::verifier::introspection::IntrospectionConfigError>(())
    /// ```
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }

    /// Asks the authorization server about `token`, without the cache. `Ok(Outcome::Refused)`
    /// is a definite "no" (cached briefly); `Err` is "cannot tell now" (never cached).
    async fn introspect(&self, token: &str) -> Result<Outcome, VerifyError> {
        let inner = &*self.inner;
        let endpoint = self.endpoint().await?;
        let mut params: Vec<(&str, &str)> =
            vec![("token", token), ("token_type_hint", "access_token")];
        let mut basic = None;
        let mut custom = None;
        match &inner.client_auth {
            ClientAuth::Basic { id, secret } => basic = Some((id.as_str(), secret.as_str())),
            ClientAuth::Post { id, secret } => {
                params.push(("client_id", id));
                params.push(("client_secret", secret));
            }
            ClientAuth::Custom(authenticator) => {
                let mut request = ClientAuthRequest {
                    endpoint: endpoint.to_string(),
                    params: Vec::new(),
                    headers: HeaderMap::new(),
                };
                authenticator.authenticate(&mut request).map_err(|err| {
                    VerifyError::unavailable("introspection client authentication failed")
                        .with_source(err)
                })?;
                custom = Some(request);
            }
        }
        let headers = match &custom {
            Some(request) => {
                params.extend(request.params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
                request.headers.clone()
            }
            None => HeaderMap::new(),
        };
        let (answer, _): (Value, _) = inner
            .client
            .post_form_json_with_headers(&endpoint, &params, basic, headers)
            .await
            .map_err(fetch_unavailable)?;
        self.check_answer(answer)
    }

    /// The introspection endpoint: configured, or discovered once (concurrent first calls
    /// share one discovery; a failure is not kept, so the next request tries again).
    async fn endpoint(&self) -> Result<Url, VerifyError> {
        match &self.inner.endpoint {
            Endpoint::Fixed(url) => Ok(url.clone()),
            Endpoint::Discover {
                issuer,
                issuer_url,
                found,
            } => found
                .try_get_with((), async {
                    let metadata = discover(&self.inner.client, issuer, issuer_url)
                        .await
                        .map_err(|err| {
                            VerifyError::unavailable(
                                "authorization server metadata is not available",
                            )
                            .with_source(err)
                        })?;
                    metadata.introspection_url().cloned().ok_or_else(|| {
                        VerifyError::unavailable(
                            "authorization server has no introspection endpoint",
                        )
                    })
                })
                .await
                .map_err(|err| (*err).clone()),
        }
    }

    /// Applies the RFC 7662 response checks.
    fn check_answer(&self, answer: Value) -> Result<Outcome, VerifyError> {
        let inner = &*self.inner;
        let Value::Object(mut claims) = answer else {
            return Err(malformed());
        };
        match claims.remove("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return refused("token is not active"),
            _ => return Err(malformed()),
        }

        let now = now_secs();
        let leeway = inner.leeway.as_secs_f64();
        let exp = claims.get("exp").map(numeric_date).transpose()?;
        match exp {
            Some(exp) if now >= exp + leeway => return refused("token has expired"),
            None if inner.require_expiry => return refused("token has no expiry"),
            _ => {}
        }
        if let Some(nbf) = claims.get("nbf").map(numeric_date).transpose()?
            && now + leeway < nbf
        {
            return refused("token is not yet valid");
        }
        if let Some(iat) = claims.get("iat").map(numeric_date).transpose()?
            && iat > now + leeway
        {
            return refused("token is issued in the future");
        }

        let issuer = opt_string(&claims, "iss")?;
        if let (Some(expected), Some(actual)) = (&inner.issuer, &issuer)
            && expected != actual
        {
            return refused("token issuer is not trusted");
        }
        if let Some(token_type) = opt_string(&claims, "token_type")?
            && !is_access_token_type(&token_type)
        {
            return refused("token is not a bearer access token");
        }
        if claims.contains_key("cnf") {
            return refused("token is sender-constrained");
        }

        let mut audiences = match claims.get("aud") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(values)) => values
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(malformed)?,
            Some(_) => return Err(malformed()),
        };
        if audiences.is_empty()
            && let Some(assumed) = &inner.assumed_audience
        {
            audiences.push(assumed.clone());
        }
        if !inner.audiences.is_empty() && !audiences.iter().any(|a| inner.audiences.contains(a)) {
            return refused("token is not meant for this resource");
        }

        let scopes: Vec<String> = match claims.get("scope") {
            None | Some(Value::Null) => Vec::new(),
            // Any run of ASCII whitespace separates; no empty scopes.
            Some(Value::String(scope)) => {
                scope.split_ascii_whitespace().map(str::to_owned).collect()
            }
            // Not RFC 7662, but some servers send an array.
            Some(Value::Array(values)) => values
                .iter()
                .filter(|v| v.as_str() != Some(""))
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(malformed)?,
            Some(_) => return Err(malformed()),
        };
        let subject = opt_string(&claims, "sub")?;
        let client_id = opt_string(&claims, "client_id")?;
        let token_id = opt_string(&claims, "jti")?;
        let expires_at = match exp {
            Some(exp) => Some(
                Duration::try_from_secs_f64(exp)
                    .ok()
                    .and_then(|d| UNIX_EPOCH.checked_add(d))
                    .ok_or_else(malformed)?,
            ),
            None => None,
        };

        for name in ["iss", "sub", "aud", "exp", "jti", "client_id", "scope"] {
            claims.remove(name);
        }
        let mut builder = AuthInfo::builder()
            .audiences(audiences)
            .scopes(scopes)
            .claims(claims);
        if let Some(issuer) = issuer.or_else(|| inner.issuer.clone()) {
            builder = builder.issuer(issuer);
        }
        if let Some(subject) = subject {
            builder = builder.subject(subject);
        }
        if let Some(client_id) = client_id {
            builder = builder.client_id(client_id);
        }
        if let Some(token_id) = token_id {
            builder = builder.token_id(token_id);
        }
        if let Some(expires_at) = expires_at {
            builder = builder.expires_at(expires_at);
        }
        Ok(Outcome::Active(builder.build()))
    }

    /// Whether a cached valid answer is still usable (the entry's TTL already ends at `exp`;
    /// this guards against clock steps).
    fn still_valid(&self, info: &AuthInfo) -> bool {
        match info.expires_at() {
            Some(exp) => exp
                .checked_add(self.inner.leeway)
                .is_none_or(|end| end > SystemTime::now()),
            None => true,
        }
    }
}

#[async_trait]
impl TokenVerifier for IntrospectionVerifier {
    async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        if token.is_empty() {
            return Err(VerifyError::invalid_token("token is empty"));
        }
        if token.len() > self.inner.max_token_size {
            return Err(VerifyError::invalid_token("token is too large"));
        }
        let Some(cache) = &self.inner.cache else {
            return self.introspect(token).await?.into_result();
        };
        let key: TokenHash = Sha256::digest(token.as_bytes()).into();
        let mut outcome = cache
            .try_get_with(key, self.introspect(token))
            .await
            .map_err(|err| (*err).clone())?;
        if let Outcome::Active(info) = &outcome
            && !self.still_valid(info)
        {
            cache.invalidate(&key).await;
            outcome = cache
                .try_get_with(key, self.introspect(token))
                .await
                .map_err(|err| (*err).clone())?;
        }
        outcome.into_result()
    }
    fn authorization_servers(&self) -> Vec<String> {
        self.issuer().map(str::to_owned).into_iter().collect()
    }
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let endpoint = match &inner.endpoint {
            Endpoint::Fixed(url) => without_userinfo(url.as_str()),
            Endpoint::Discover { issuer, .. } => {
                format!("discovered from {}", without_userinfo(issuer))
            }
        };
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &endpoint)
            .field("client_auth", &inner.client_auth)
            .field("issuer", &inner.issuer.as_deref().map(without_userinfo))
            .field("leeway", &inner.leeway)
            .field("require_expiry", &inner.require_expiry)
            .field("audiences", &inner.audiences)
            .field("assumed_audience", &inner.assumed_audience)
            .field("max_token_size", &inner.max_token_size)
            .field(
                "cache_capacity",
                &inner
                    .cache
                    .as_ref()
                    .and_then(|c| c.policy().max_capacity())
                    .unwrap_or(0),
            )
            .field("cache_max_ttl", &inner.cache_max_ttl)
            .field("negative_cache_ttl", &inner.negative_cache_ttl)
            .field("client", &inner.client)
            .finish()
    }
}

/// Configuration for an [`IntrospectionVerifier`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use mcp_auth::verifier::IntrospectionVerifier;
///
/// let verifier = IntrospectionVerifier::builder()
///     .endpoint("https://auth.example.com/oauth2/introspect")
///     .issuer("https://auth.example.com")
///     .client_secret_post("my-resource-server", "s3cret")
///     .leeway(Duration::from_secs(30))
///     .cache_max_ttl(Duration::from_secs(30))
///     .negative_cache_ttl(Duration::from_secs(2))
///     .http_timeout(Duration::from_secs(3))
///     .build()?;
/// let debug = format!("{verifier:?}");
/// assert!(debug.contains("ClientSecretPost"));
/// assert!(debug.contains("[redacted]") && !debug.contains("s3cret"));
/// # Ok::<(), mcp_auth::verifier::introspection::IntrospectionConfigError>(())
/// ```
#[must_use]
pub struct IntrospectionVerifierBuilder {
    endpoint: Option<EndpointConfig>,
    client_auth: Option<ClientAuth>,
    issuer: Option<String>,
    leeway: Duration,
    require_expiry: bool,
    audiences: Vec<String>,
    assumed_audience: Option<String>,
    max_token_size: usize,
    cache_capacity: u64,
    cache_max_ttl: Duration,
    negative_cache_ttl: Duration,
    http: HttpOptions,
}

impl Default for IntrospectionVerifierBuilder {
    fn default() -> Self {
        Self {
            endpoint: None,
            client_auth: None,
            issuer: None,
            leeway: Duration::from_secs(60),
            require_expiry: false,
            audiences: Vec::new(),
            assumed_audience: None,
            max_token_size: 8 * 1024,
            cache_capacity: 10_000,
            cache_max_ttl: Duration::from_secs(60),
            negative_cache_ttl: Duration::from_secs(5),
            http: HttpOptions {
                connect_timeout: Duration::from_secs(3),
                timeout: Duration::from_secs(5),
                max_response_size: 64 * 1024,
                danger_allow_http: false,
            },
        }
    }
}

impl IntrospectionVerifierBuilder {
    /// Sets the introspection endpoint URL. Replaces [`discover`](Self::discover). Defaults
    /// to none (an endpoint or an issuer to discover is required).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(EndpointConfig::Fixed(url.into()));
        self
    }

    /// Finds the `introspection_endpoint` in the metadata of `issuer` (RFC 8414, then OpenID
    /// Connect discovery), fetched on first use and kept. Unless [`issuer`](Self::issuer) says
    /// otherwise, answers must then come from this issuer. Replaces
    /// [`endpoint`](Self::endpoint). Defaults to none.
    pub fn discover(mut self, issuer: impl Into<String>) -> Self {
        self.endpoint = Some(EndpointConfig::Discover(issuer.into()));
        self
    }

    /// Requires the `iss` of answers, when present, to equal `issuer` byte for byte, and
    /// reports it in [`AuthInfo::issuer`] when absent. Defaults to the issuer given to
    /// [`discover`](Self::discover), or no check with a fixed endpoint.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Authenticates with `client_secret_basic` (HTTP Basic, RFC 6749 §2.3.1). Replaces any
    /// other client authentication. Defaults to none (one is required).
    pub fn client_secret_basic(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.client_auth = Some(ClientAuth::Basic {
            id: client_id.into(),
            secret: client_secret.into(),
        });
        self
    }

    /// Authenticates with `client_secret_post` (`client_id` and `client_secret` in the form
    /// body). Replaces any other client authentication. Defaults to none (one is required).
    pub fn client_secret_post(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.client_auth = Some(ClientAuth::Post {
            id: client_id.into(),
            secret: client_secret.into(),
        });
        self
    }

    /// Authenticates with a method of your own. Replaces any other client authentication.
    /// Defaults to none (one is required).
    pub fn client_authenticator(mut self, authenticator: impl ClientAuthenticator) -> Self {
        self.client_auth = Some(ClientAuth::Custom(Arc::new(authenticator)));
        self
    }

    /// Sets the clock skew tolerated for `exp`, `nbf` and `iat`. Defaults to `60 s`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Refuses active tokens whose answer has no `exp`. Otherwise they are accepted and cached
    /// for at most [`cache_max_ttl`](Self::cache_max_ttl). Defaults to `false`.
    pub fn require_expiry(mut self, require: bool) -> Self {
        self.require_expiry = require;
        self
    }

    /// Requires the answer's `aud` to contain one of these values. The layer always checks the
    /// audience against the resource URI; this adds the same kind of check in the verifier,
    /// for use without the layer. Defaults to no check here.
    pub fn audiences<I>(mut self, audiences: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Treats an answer **without** `aud` as if it named `audience` (normally your resource
    /// URI), so that the layer's audience check passes.
    ///
    /// # Security
    ///
    /// MCP requires resource servers to accept only tokens issued for them. Without `aud`,
    /// the answer does not say whom the token is for, so with this setting **any** active
    /// token of the authorization server is accepted here, including tokens a client obtained
    /// for another service, which that service (or anyone it leaks to) can then replay against
    /// yours. Use it only when the authorization server issues tokens for this resource alone
    /// and cannot be made to return `aud`; answers that carry an `aud` are still checked.
    /// Defaults to none (an answer without `aud` is refused by the layer).
    pub fn danger_assume_audience(mut self, audience: impl Into<String>) -> Self {
        self.assumed_audience = Some(audience.into());
        self
    }

    /// Refuses tokens longer than this many bytes without asking the server. Defaults to
    /// `8192`.
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// Sets how many answers are remembered; `0` turns the cache off (and with it the sharing
    /// of concurrent calls for the same token). Defaults to `10_000`.
    pub fn cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Sets the longest time a valid token's answer is remembered (never past its `exp`). This
    /// bounds how long a revoked token keeps working. Defaults to `60 s`.
    pub fn cache_max_ttl(mut self, ttl: Duration) -> Self {
        self.cache_max_ttl = ttl;
        self
    }

    /// Sets how long an inactive or refused token's answer is remembered, so that repeated
    /// bad tokens do not each cost a call. `Duration::ZERO` turns this off. Defaults to `5 s`.
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_cache_ttl = ttl;
        self
    }

    /// Sets the connect timeout for introspection and metadata requests (within the total
    /// [`http_timeout`](Self::http_timeout)). Defaults to `3 s`.
    pub fn http_connect_timeout(mut self, timeout: Duration) -> Self {
        self.http.connect_timeout = timeout;
        self
    }

    /// Sets the total timeout (connect, headers and body) for introspection and metadata
    /// requests. Keep it below the layer's
    /// [`verify_timeout`](crate::Builder::verify_timeout). Defaults to `5 s`.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http.timeout = timeout;
        self
    }

    /// Sets the largest response read, in bytes. Defaults to `65_536`.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.http.max_response_size = bytes;
        self
    }

    /// Allows plain `http` endpoints and issuers on hosts other than loopback.
    ///
    /// # Security
    ///
    /// Tokens and the client secret then cross the network in clear, and anyone on the path
    /// can answer "active". For local development only. Defaults to `false`.
    pub fn danger_allow_http(mut self, allow: bool) -> Self {
        self.http.danger_allow_http = allow;
        self
    }

    /// Checks the configuration and builds the verifier. Nothing is fetched yet.
    ///
    /// # Errors
    ///
    /// [`IntrospectionConfigError`] for a missing endpoint or client authentication, an
    /// endpoint or issuer that is not `https` (or `http` on loopback), or zero sizes and
    /// timeouts.
    pub fn build(self) -> Result<IntrospectionVerifier, IntrospectionConfigError> {
        let setting =
            |name: &'static str, message: &str| IntrospectionConfigError::InvalidSetting {
                name,
                message: message.to_owned(),
            };
        if self.max_token_size == 0 {
            return Err(setting("max_token_size", "must be greater than zero"));
        }
        if self.http.timeout.is_zero() {
            return Err(setting("http_timeout", "must be greater than zero"));
        }
        if self.http.connect_timeout.is_zero() {
            return Err(setting("http_connect_timeout", "must be greater than zero"));
        }
        if self.http.max_response_size == 0 {
            return Err(setting("max_response_size", "must be greater than zero"));
        }
        let client_auth = self
            .client_auth
            .ok_or(IntrospectionConfigError::MissingClientAuth)?;
        let allow_http = self.http.danger_allow_http;
        let (endpoint, discovered_issuer) = match self
            .endpoint
            .ok_or(IntrospectionConfigError::MissingEndpoint)?
        {
            EndpointConfig::Fixed(url) => {
                let invalid = |message: &str| IntrospectionConfigError::InvalidUrl {
                    url: without_userinfo(&url),
                    message: message.to_owned(),
                };
                let parsed = Url::parse(&url).map_err(|_| invalid("not an absolute URL"))?;
                check_url(&parsed, allow_http)
                    .map_err(|_| invalid("must be https (http only on loopback)"))?;
                (Endpoint::Fixed(parsed), None)
            }
            EndpointConfig::Discover(issuer) => {
                let invalid = |message: &str| IntrospectionConfigError::InvalidIssuer {
                    issuer: without_userinfo(&issuer),
                    message: message.to_owned(),
                };
                let issuer_url = Url::parse(&issuer).map_err(|_| invalid("not an absolute URL"))?;
                if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
                    return Err(invalid("must not have a query or fragment"));
                }
                check_url(&issuer_url, allow_http)
                    .map_err(|_| invalid("must be https (http only on loopback)"))?;
                let found = Cache::builder().max_capacity(1).build();
                (
                    Endpoint::Discover {
                        issuer: issuer.clone(),
                        issuer_url,
                        found,
                    },
                    Some(issuer),
                )
            }
        };
        let client =
            HttpClient::new(self.http).map_err(|err| IntrospectionConfigError::InvalidSetting {
                name: "http client",
                message: err.to_string(),
            })?;
        let cache = (self.cache_capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(self.cache_capacity)
                .expire_after(OutcomeExpiry {
                    max_ttl: self.cache_max_ttl,
                    negative_ttl: self.negative_cache_ttl,
                })
                .build()
        });
        Ok(IntrospectionVerifier {
            inner: Arc::new(Inner {
                endpoint,
                client_auth,
                client,
                issuer: self.issuer.or(discovered_issuer),
                leeway: self.leeway,
                require_expiry: self.require_expiry,
                audiences: self.audiences,
                assumed_audience: self.assumed_audience,
                max_token_size: self.max_token_size,
                cache,
                cache_max_ttl: self.cache_max_ttl,
                negative_cache_ttl: self.negative_cache_ttl,
            }),
        })
    }
}

impl fmt::Debug for IntrospectionVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoint = self.endpoint.as_ref().map(|endpoint| match endpoint {
            EndpointConfig::Fixed(url) => EndpointConfig::Fixed(without_userinfo(url)),
            EndpointConfig::Discover(issuer) => EndpointConfig::Discover(without_userinfo(issuer)),
        });
        f.debug_struct("IntrospectionVerifierBuilder")
            .field("endpoint", &endpoint)
            .field("client_auth", &self.client_auth)
            .field("issuer", &self.issuer.as_deref().map(without_userinfo))
            .field("leeway", &self.leeway)
            .field("require_expiry", &self.require_expiry)
            .field("audiences", &self.audiences)
            .field("assumed_audience", &self.assumed_audience)
            .field("max_token_size", &self.max_token_size)
            .field("cache_capacity", &self.cache_capacity)
            .field("cache_max_ttl", &self.cache_max_ttl)
            .field("negative_cache_ttl", &self.negative_cache_ttl)
            .field("http", &self.http)
            .finish()
    }
}

impl Outcome {
    fn into_result(self) -> Result<AuthInfo, VerifyError> {
        match self {
            Self::Active(info) => Ok(info),
            Self::Refused(err) => Err(err),
        }
    }
}

/// Positive entries live until `exp` and at most `max_ttl`; negative ones `negative_ttl`.
struct OutcomeExpiry {
    max_ttl: Duration,
    negative_ttl: Duration,
}

impl Expiry<TokenHash, Outcome> for OutcomeExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenHash,
        value: &Outcome,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(match value {
            Outcome::Active(info) => match info.expires_at() {
                Some(exp) => exp
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
                    .min(self.max_ttl),
                None => self.max_ttl,
            },
            Outcome::Refused(_) => self.negative_ttl,
        })
    }
}

/// `url` without the `user:password@` of its authority, for `Debug` and error messages. Works
/// on text that does not parse as a URL too.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

fn refused(description: &'static str) -> Result<Outcome, VerifyError> {
    Ok(Outcome::Refused(VerifyError::invalid_token(description)))
}

fn malformed() -> VerifyError {
    VerifyError::unavailable("introspection response is malformed")
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

fn is_access_token_type(token_type: &str) -> bool {
    token_type.eq_ignore_ascii_case("bearer")
        || token_type == "access_token"
        || token_type == "urn:ietf:params:oauth:token-type:access_token"
}

fn opt_string(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, VerifyError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(malformed()),
    }
}

/// A NumericDate (seconds since the epoch, possibly fractional).
fn numeric_date(value: &Value) -> Result<f64, VerifyError> {
    value
        .as_f64()
        .filter(|secs| secs.is_finite() && *secs >= 0.0)
        .ok_or_else(malformed)
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn verifier() -> IntrospectionVerifier {
        IntrospectionVerifier::builder()
            .endpoint("https://as.example.com/introspect")
            .issuer("https://as.example.com")
            .client_secret_basic("rs", "secret")
            .leeway(Duration::ZERO)
            .build()
            .expect("valid config")
    }

    fn check(answer: Value) -> Result<Result<AuthInfo, VerifyError>, VerifyError> {
        verifier().check_answer(answer).map(Outcome::into_result)
    }

    #[test]
    fn answer_checks() {
        let now = now_secs() as u64;
        struct Case {
            name: &'static str,
            answer: Value,
            // None: unavailable; Some(true): accepted; Some(false): refused.
            expect: Option<bool>,
        }
        let cases = [
            Case {
                name: "active",
                answer: json!({"active": true, "exp": now + 60, "aud": "r"}),
                expect: Some(true),
            },
            Case {
                name: "inactive",
                answer: json!({"active": false}),
                expect: Some(false),
            },
            Case {
                name: "active missing",
                answer: json!({"sub": "x"}),
                expect: None,
            },
            Case {
                name: "active as string",
                answer: json!({"active": "true"}),
                expect: None,
            },
            Case {
                name: "not an object",
                answer: json!([true]),
                expect: None,
            },
            Case {
                name: "expired",
                answer: json!({"active": true, "exp": now - 1}),
                expect: Some(false),
            },
            Case {
                name: "exp as string",
                answer: json!({"active": true, "exp": "soon"}),
                expect: None,
            },
            Case {
                name: "not yet valid",
                answer: json!({"active": true, "nbf": now + 60}),
                expect: Some(false),
            },
            Case {
                name: "issued in the future",
                answer: json!({"active": true, "iat": now + 60}),
                expect: Some(false),
            },
            Case {
                name: "wrong issuer",
                answer: json!({"active": true, "iss": "https://evil.example.com"}),
                expect: Some(false),
            },
            Case {
                name: "refresh token",
                answer: json!({"active": true, "token_type": "refresh_token"}),
                expect: Some(false),
            },
            Case {
                name: "dpop token",
                answer: json!({"active": true, "token_type": "DPoP"}),
                expect: Some(false),
            },
            Case {
                name: "sender-constrained",
                answer: json!({"active": true, "cnf": {"jkt": "x"}}),
                expect: Some(false),
            },
            Case {
                name: "bearer in any case",
                answer: json!({"active": true, "token_type": "bearer"}),
                expect: Some(true),
            },
            Case {
                name: "aud of wrong type",
                answer: json!({"active": true, "aud": 5}),
                expect: None,
            },
            Case {
                name: "scope of wrong type",
                answer: json!({"active": true, "scope": {"a": 1}}),
                expect: None,
            },
            Case {
                name: "sub of wrong type",
                answer: json!({"active": true, "sub": 1}),
                expect: None,
            },
        ];
        for case in cases {
            match (check(case.answer), case.expect) {
                (Err(err), None) => assert!(err.is_unavailable(), "{}", case.name),
                (Ok(Ok(_)), Some(true)) => {}
                (Ok(Err(err)), Some(false)) => assert!(err.is_invalid_token(), "{}", case.name),
                (other, _) => panic!("{}: unexpected {other:?}", case.name),
            }
        }
    }

    #[test]
    fn active_answer_is_described() {
        let info = check(json!({
            "active": true, "sub": "alice", "client_id": "c1", "scope": "a b",
            "aud": ["r1", "r2"], "exp": 4_000_000_000_u64, "jti": "j", "username": "al",
        }))
        .expect("well-formed")
        .expect("accepted");
        assert_eq!(info.subject(), Some("alice"));
        assert_eq!(info.client_id(), Some("c1"));
        assert_eq!(info.scopes(), ["a", "b"]);
        assert_eq!(info.audiences(), ["r1", "r2"]);
        assert_eq!(info.token_id(), Some("j"));
        // The configured issuer stands in for an absent `iss`.
        assert_eq!(info.issuer(), Some("https://as.example.com"));
        assert_eq!(info.claim("username"), Some(&json!("al")));
        assert!(info.claim("active").is_none());
        assert_eq!(
            info.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(4_000_000_000))
        );
    }

    #[test]
    fn scopes_are_split_on_any_ascii_whitespace() {
        for (scope, want) in [
            (json!("a b"), vec!["a", "b"]),
            (json!("  a\t b\n\r c  "), vec!["a", "b", "c"]),
            (json!(""), vec![]),
            (json!("   "), vec![]),
            (json!(["a", "", "b"]), vec!["a", "b"]),
        ] {
            let info = check(json!({"active": true, "scope": scope}))
                .expect("well-formed")
                .expect("accepted");
            assert_eq!(info.scopes(), want, "{scope}");
        }
    }

    fn active_until(exp: Option<SystemTime>) -> Outcome {
        let mut info = AuthInfo::builder().subject("alice");
        if let Some(exp) = exp {
            info = info.expires_at(exp);
        }
        Outcome::Active(info.build())
    }

    /// The entry lifetime alone, apart from the `still_valid` re-check on read.
    #[test]
    fn cache_entries_live_until_exp_capped_by_max_ttl() {
        let policy = OutcomeExpiry {
            max_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
        };
        let ttl = |outcome: &Outcome| {
            policy
                .expire_after_create(&[0; 32], outcome, Instant::now())
                .expect("every entry expires")
        };
        let now = SystemTime::now();

        // Before the cap: until `exp` (less the few instants since `now`).
        let until_exp = ttl(&active_until(Some(now + Duration::from_secs(20))));
        assert!(until_exp <= Duration::from_secs(20), "{until_exp:?}");
        assert!(until_exp > Duration::from_secs(19), "{until_exp:?}");
        // Beyond the cap, or without `exp`: the cap.
        assert_eq!(
            ttl(&active_until(Some(now + Duration::from_secs(3600)))),
            policy.max_ttl
        );
        assert_eq!(ttl(&active_until(None)), policy.max_ttl);
        // Already expired (or a clock step past it): gone at once.
        assert_eq!(
            ttl(&active_until(Some(now - Duration::from_secs(1)))),
            Duration::ZERO
        );
        assert_eq!(ttl(&active_until(Some(UNIX_EPOCH))), Duration::ZERO);
        // Refusals: the negative TTL, whatever else.
        let refused = Outcome::Refused(VerifyError::invalid_token("token is not active"));
        assert_eq!(ttl(&refused), policy.negative_ttl);
        let off = OutcomeExpiry {
            max_ttl: Duration::from_secs(60),
            negative_ttl: Duration::ZERO,
        };
        assert_eq!(
            off.expire_after_create(&[0; 32], &refused, Instant::now()),
            Some(Duration::ZERO)
        );
    }

    /// The verifier's cache uses that policy: an entry is gone at `exp` although the max TTL
    /// is an hour, read straight from the cache (no `still_valid` re-check).
    #[tokio::test]
    async fn cache_drops_entries_at_exp() {
        let verifier = IntrospectionVerifier::builder()
            .endpoint("https://as.example.com/introspect")
            .client_secret_basic("rs", "secret")
            .cache_max_ttl(Duration::from_secs(3600))
            .build()
            .expect("valid config");
        let cache = verifier.inner.cache.as_ref().expect("cache on by default");
        // moka keeps its own clock, so this waits in real time; 2 s leaves room for a slow
        // machine between the insert and the first read.
        let exp = SystemTime::now() + Duration::from_secs(2);
        let key = [7; 32];
        cache.insert(key, active_until(Some(exp))).await;
        assert!(cache.get(&key).await.is_some(), "alive before exp");
        let wait = exp
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait + Duration::from_millis(200)).await;
        assert!(cache.get(&key).await.is_none(), "gone at exp");
    }

    #[test]
    fn userinfo_is_not_shown() {
        assert_eq!(
            without_userinfo("https://u:p@as.example.com/i?x=1"),
            "https://as.example.com/i?x=1"
        );
        assert_eq!(
            without_userinfo("https://u@as.example.com"),
            "https://as.example.com"
        );
        assert_eq!(
            without_userinfo("https://as.example.com/a@b"),
            "https://as.example.com/a@b"
        );
        assert_eq!(without_userinfo("not a url @ all"), "not a url @ all");

        let builder = IntrospectionVerifier::builder()
            .endpoint("https://rs:hunter2@as.example.com/introspect")
            .issuer("https://rs:hunter3@as.example.com")
            .client_secret_basic("rs", "secret");
        let debug = format!("{builder:?}");
        assert!(!debug.contains("hunter"), "{debug}");
        assert!(
            debug.contains("https://as.example.com/introspect"),
            "{debug}"
        );
        let debug = format!("{:?}", builder.build().expect("valid config"));
        assert!(!debug.contains("hunter"), "{debug}");
        assert!(
            debug.contains("https://as.example.com/introspect"),
            "{debug}"
        );
        let debug = format!(
            "{:?}",
            IntrospectionVerifier::discover("https://rs:hunter2@as.example.com", "rs", "s")
                .expect("valid config")
        );
        assert!(!debug.contains("hunter"), "{debug}");

        let request = ClientAuthRequest {
            endpoint: "https://rs:hunter2@as.example.com/introspect".to_owned(),
            params: vec![("client_assertion".to_owned(), "hunter3".to_owned())],
            headers: HeaderMap::from_iter([(
                http::header::AUTHORIZATION,
                HeaderValue::from_static("Bearer hunter4"),
            )]),
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("hunter"), "{debug}");
        assert!(debug.contains("client_assertion"), "{debug}");

        for err in [
            IntrospectionVerifier::new("http://rs:hunter2@as.example.com/i", "rs", "s")
                .expect_err("plain http"),
            IntrospectionVerifier::new("https://rs:hunter2@as example/i", "rs", "s")
                .expect_err("not absolute"),
            IntrospectionVerifier::discover("http://rs:hunter2@as.example.com", "rs", "s")
                .expect_err("plain http"),
            IntrospectionVerifier::discover("https://rs:hunter2@as.example.com?x", "rs", "s")
                .expect_err("query"),
        ] {
            let text = format!("{err} {err:?}");
            assert!(!text.contains("hunter"), "{text}");
        }
    }

    #[test]
    fn config_is_checked() {
        let err = IntrospectionVerifier::builder()
            .endpoint("https://as.example.com/introspect")
            .build()
            .unwrap_err();
        assert_eq!(err, IntrospectionConfigError::MissingClientAuth);
        let err = IntrospectionVerifier::builder()
            .client_secret_basic("a", "b")
            .build()
            .unwrap_err();
        assert_eq!(err, IntrospectionConfigError::MissingEndpoint);
        assert!(matches!(
            IntrospectionVerifier::discover("https://as.example.com?x=1", "a", "b"),
            Err(IntrospectionConfigError::InvalidIssuer { .. })
        ));
        assert!(
            IntrospectionVerifier::builder()
                .endpoint("http://as.example.com/introspect")
                .client_secret_basic("a", "b")
                .danger_allow_http(true)
                .build()
                .is_ok()
        );
    }
}
