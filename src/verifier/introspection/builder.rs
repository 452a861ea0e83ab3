//! [`IntrospectionVerifierBuilder`]: the configuration of an
//! [`IntrospectionVerifier`](super::IntrospectionVerifier), checked once in `build()`.

use std::{fmt, sync::Arc, time::Duration};

use moka::future::Cache;
use tokio::sync::Semaphore;

use super::{
    AnswerMapper, Endpoint, Inner, IntrospectionVerifier, SharedAnswers,
    client_auth::{ClientAuth, ClientAuthenticator},
};
use crate::{
    ConfigError,
    callback::Callback,
    error::nonzero_size,
    resource::{parse_http_url, parse_issuer, without_userinfo},
    store::Store,
    verifier::{
        cache::TokenCache,
        claims::{ClaimRules, claim_setters},
        http::{HttpClient, HttpOptions},
    },
};

#[derive(Clone, Debug)]
enum EndpointConfig {
    Fixed(String),
    Discover(String),
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
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[must_use]
pub struct IntrospectionVerifierBuilder {
    endpoint: Option<EndpointConfig>,
    client_auth: Option<ClientAuth>,
    issuer: Option<String>,
    claims: ClaimRules,
    max_token_size: usize,
    max_concurrent_requests: usize,
    token_parameter: String,
    answer_mapper: Option<Callback<dyn AnswerMapper>>,
    shared_cache: Option<Arc<dyn Store>>,
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
            claims: ClaimRules::default(),
            max_token_size: 8 * 1024,
            max_concurrent_requests: 32,
            token_parameter: "token".to_owned(),
            answer_mapper: None,
            shared_cache: None,
            cache_capacity: 10_000,
            cache_max_ttl: Duration::from_secs(60),
            negative_cache_ttl: Duration::from_secs(5),
            http: HttpOptions::new(64 * 1024),
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
    /// reports it in [`AuthInfo::issuer`](crate::AuthInfo::issuer) when absent. Defaults to the issuer given to
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

    /// Sends no client authentication, for a public token-information endpoint (Google's
    /// `tokeninfo`). RFC 7662 endpoints require client authentication, so this must be said
    /// explicitly. Replaces any other client authentication. Defaults to none (one is
    /// required).
    pub fn without_client_authentication(mut self) -> Self {
        self.client_auth = Some(ClientAuth::None);
        self
    }

    /// Sets the form parameter that carries the token, for endpoints that are not RFC 7662
    /// (`access_token` for Google's `tokeninfo`). Defaults to `token`.
    pub fn token_parameter(mut self, name: impl Into<String>) -> Self {
        self.token_parameter = name.into();
        self
    }

    /// Maps the answers of an endpoint that does not speak RFC 7662 into RFC 7662 answers;
    /// see [`AnswerMapper`]. Defaults to none: answers must be RFC 7662 (`200` with
    /// `active`), a `400 unsupported_token_type` refuses the token, anything else is `503`.
    pub fn answer_mapper(mut self, mapper: impl AnswerMapper) -> Self {
        self.answer_mapper = Some(Callback::new(Arc::new(mapper)));
        self
    }

    /// Refuses active tokens whose answer has no `exp`. Otherwise they are accepted and cached
    /// for at most [`cache_max_ttl`](Self::cache_max_ttl). Defaults to `false`.
    pub fn require_expiry(mut self, require: bool) -> Self {
        self.claims.set_require_expiry(require);
        self
    }

    claim_setters!();

    /// Refuses tokens longer than this many bytes without asking the server. Defaults to
    /// `8192`.
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// Sets how many introspection calls may be in flight at once. A verification past the
    /// bound waits up to a second for a slot, then gets `503` with `Retry-After` (a flood of
    /// new or garbage tokens does not become a flood of calls, and cached tokens are not
    /// slowed by it). Defaults to `32`.
    pub fn max_concurrent_requests(mut self, requests: usize) -> Self {
        self.max_concurrent_requests = requests;
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

    /// Shares answers with the other replicas of this server through `store` (a
    /// [`RedisStore`](crate::store::RedisStore)), so that a token costs one call to the
    /// authorization server, not one per replica. Each replica still keeps its own cache in
    /// front; answers are shared for as long as they would be cached, and checked again when
    /// read. While the store cannot answer, replicas ask the authorization server themselves.
    /// Defaults to none.
    pub fn shared_cache(mut self, store: impl Store) -> Self {
        self.shared_cache = Some(Arc::new(store));
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
    /// [`verify_timeout`](crate::McpAuthBuilder::verify_timeout). Defaults to `5 s`.
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
    /// [`ConfigError`] for a missing endpoint or client authentication, an
    /// endpoint or issuer that is not `https` (or `http` on loopback), or zero sizes and
    /// timeouts.
    pub fn build(self) -> Result<IntrospectionVerifier, ConfigError> {
        nonzero_size("max_token_size", self.max_token_size)?;
        self.claims.validate()?;
        nonzero_size("max_concurrent_requests", self.max_concurrent_requests)?;
        if self.token_parameter.is_empty() || self.token_parameter == "token_type_hint" {
            return Err(ConfigError::setting(
                "token_parameter",
                "must name a form parameter other than token_type_hint",
            ));
        }
        if self.max_concurrent_requests > Semaphore::MAX_PERMITS {
            return Err(ConfigError::setting(
                "max_concurrent_requests",
                format!("must be at most {}", Semaphore::MAX_PERMITS),
            ));
        }
        let client_auth = self.client_auth.ok_or(ConfigError::MissingClientAuth)?;
        let allow_http = self.http.danger_allow_http;
        let (endpoint, discovered_issuer) =
            match self.endpoint.ok_or(ConfigError::MissingEndpoint)? {
                EndpointConfig::Fixed(url) => {
                    let parsed = parse_http_url(&url, allow_http).map_err(|message| {
                        ConfigError::InvalidUrl {
                            url: without_userinfo(&url),
                            message,
                        }
                    })?;
                    (Endpoint::Fixed(parsed), None)
                }
                EndpointConfig::Discover(issuer) => {
                    let issuer_url = parse_issuer(&issuer, allow_http).map_err(|message| {
                        ConfigError::InvalidIssuer {
                            issuer: without_userinfo(&issuer),
                            message,
                        }
                    })?;
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
        let client = HttpClient::new(self.http)?;
        Ok(IntrospectionVerifier {
            inner: Arc::new(Inner {
                endpoint,
                client_auth,
                client,
                in_flight: Arc::new(Semaphore::new(self.max_concurrent_requests)),
                token_parameter: self.token_parameter,
                answer_mapper: self.answer_mapper,
                shared: self.shared_cache.map(SharedAnswers::new),
                max_concurrent_requests: self.max_concurrent_requests,
                issuer: self.issuer.or(discovered_issuer),
                claims: self.claims,
                max_token_size: self.max_token_size,
                cache: TokenCache::new(
                    "introspection",
                    self.cache_capacity,
                    self.cache_max_ttl,
                    self.negative_cache_ttl,
                ),
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
            .field("claims", &self.claims)
            .field("max_token_size", &self.max_token_size)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("token_parameter", &self.token_parameter)
            .field("answer_mapper", &self.answer_mapper.is_some())
            .field("shared_cache", &self.shared_cache)
            .field("cache_capacity", &self.cache_capacity)
            .field("cache_max_ttl", &self.cache_max_ttl)
            .field("negative_cache_ttl", &self.negative_cache_ttl)
            .field("http", &self.http)
            .finish()
    }
}
