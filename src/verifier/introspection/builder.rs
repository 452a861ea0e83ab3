//! [`IntrospectionVerifierBuilder`]: the configuration of an
//! [`IntrospectionVerifier`](super::IntrospectionVerifier), checked once in `build()`.

use std::{sync::Arc, time::Duration};

use tokio::sync::Semaphore;

use super::{
    AnswerMapper, Discovered, Endpoint, Inner, IntrospectionVerifier, OwnsTokens, SharedAnswers,
    client_auth::{ClientAuth, ClientAuthenticator},
};
use crate::{
    ConfigError,
    callback::Callback,
    error::{nonzero_duration, nonzero_size},
    resource::ConfiguredUrl,
    store::Store,
    verifier::{
        cache::TokenCache,
        claims::{ClaimRules, claim_setters},
        http::{HttpClient, HttpOptions, http_setters},
    },
};

#[derive(Clone, Debug)]
enum EndpointConfig {
    Fixed(ConfiguredUrl),
    Discover(ConfiguredUrl),
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
#[derive(Debug)]
#[must_use]
pub struct IntrospectionVerifierBuilder {
    endpoint: Option<EndpointConfig>,
    client_auth: Option<ClientAuth>,
    issuer: Option<ConfiguredUrl>,
    claims: ClaimRules,
    max_token_size: usize,
    max_concurrent_requests: usize,
    token_parameter: String,
    answer_mapper: Option<Callback<dyn AnswerMapper>>,
    owns_tokens: Option<Callback<OwnsTokens>>,
    shared_cache: Option<Arc<dyn Store>>,
    cache_capacity: u64,
    cache_max_ttl: Duration,
    negative_cache_ttl: Duration,
    discovery_retry_interval: Duration,
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
            owns_tokens: None,
            shared_cache: None,
            cache_capacity: 10_000,
            cache_max_ttl: Duration::from_secs(60),
            negative_cache_ttl: Duration::from_secs(5),
            discovery_retry_interval: Duration::from_secs(30),
            http: HttpOptions::new(64 * 1024),
        }
    }
}

impl IntrospectionVerifierBuilder {
    setters! {
        /// Sets the introspection endpoint URL. Replaces [`discover`](Self::discover). Defaults
        /// to none (an endpoint or an issuer to discover is required).
        endpoint(url: impl Into<String>) =>
            endpoint = Some(EndpointConfig::Fixed(ConfiguredUrl(url.into())));

        /// Finds the `introspection_endpoint` in the metadata of `issuer` (RFC 8414, then OpenID
        /// Connect discovery), fetched on first use and kept while the endpoint answers. Unless
        /// [`issuer`](Self::issuer) says otherwise, answers must then come from this issuer.
        /// Replaces [`endpoint`](Self::endpoint). Defaults to none.
        discover(issuer: impl Into<String>) =>
            endpoint = Some(EndpointConfig::Discover(ConfiguredUrl(issuer.into())));

        /// Requires the `iss` of answers, when present, to equal `issuer` byte for byte, and
        /// reports it in [`AuthInfo::issuer`](crate::AuthInfo::issuer) when absent. Defaults to the
        /// issuer given to [`discover`](Self::discover), or no check with a fixed endpoint.
        issuer(issuer: impl Into<String>) => issuer = Some(ConfiguredUrl(issuer.into()));
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

    setters! {
        /// Authenticates with a method of your own. Replaces any other client authentication.
        /// Defaults to none (one is required).
        client_authenticator(authenticator: impl ClientAuthenticator) =>
            client_auth = Some(ClientAuth::Custom(Arc::new(authenticator)));
    }

    /// Sends no client authentication, for a public token-information endpoint (Google's
    /// `tokeninfo`). RFC 7662 endpoints require client authentication, so this must be said
    /// explicitly. Replaces any other client authentication. Defaults to none (one is
    /// required).
    pub fn without_client_authentication(mut self) -> Self {
        self.client_auth = Some(ClientAuth::None);
        self
    }

    setters! {
        /// Sets the form parameter that carries the token, for endpoints that are not RFC 7662
        /// (`access_token` for Google's `tokeninfo`). Defaults to `token`.
        token_parameter(name: impl Into<String>) => token_parameter = name.into();

        /// Maps the answers of an endpoint that does not speak RFC 7662 into RFC 7662 answers;
        /// see [`AnswerMapper`]. Defaults to none: answers must be RFC 7662 (`200` with
        /// `active`), a `400 unsupported_token_type` refuses the token, anything else is `503`.
        answer_mapper(mapper: impl AnswerMapper) =>
            answer_mapper = Some(Callback::new(Arc::new(mapper)));

        /// Says which tokens are this authorization server's: a token for which `owns`
        /// returns `false` is never sent to it, and is [foreign](super::VerifyError::foreign_token)
        /// (a [`VerifierChain`](crate::verifier::VerifierChain) hands it to the next verifier).
        /// Opaque tokens cannot be told apart by their form, so without this an introspection
        /// verifier takes every opaque token as its own: in a chain it must come last, or the
        /// tokens of the verifiers after it go to its server (and are refused there). Most
        /// servers mark their tokens (a prefix such as Google's `ya29.`); `owns` is asked
        /// before the cache and the network, about the token alone. Defaults to none: every
        /// token but a JWT from another issuer.
        owns_tokens(owns: impl Fn(&str) -> bool + Send + Sync + 'static) =>
            owns_tokens = Some(Callback::new(Arc::new(owns)));
    }

    /// Refuses active tokens whose answer has no `exp`. Otherwise they are accepted and cached
    /// for at most [`cache_max_ttl`](Self::cache_max_ttl). Defaults to `false`.
    pub fn require_expiry(mut self, require: bool) -> Self {
        self.claims.set_require_expiry(require);
        self
    }

    claim_setters!();

    setters! {
        /// Refuses tokens longer than this many bytes without asking the server, if they are
        /// its own; others (see [`owns_tokens`](Self::owns_tokens)) are foreign. Only a token
        /// up to four times this size is decoded to tell a JWT's issuer. Defaults to `8192`.
        max_token_size(bytes: usize) => max_token_size = bytes;

        /// Sets how many introspection calls may be in flight at once. A verification past the
        /// bound waits up to a second for a slot, then gets `503` with `Retry-After` (a flood of
        /// new or garbage tokens does not become a flood of calls, and cached tokens are not
        /// slowed by it). Defaults to `32`.
        max_concurrent_requests(requests: usize) => max_concurrent_requests = requests;

        /// Sets how many answers are remembered; `0` turns the cache off (and with it the sharing
        /// of concurrent calls for the same token). Defaults to `10_000`.
        cache_capacity(entries: u64) => cache_capacity = entries;

        /// Sets the longest time a valid token's answer is remembered (never past its `exp`). This
        /// bounds how long a revoked token keeps working. Defaults to `60 s`.
        cache_max_ttl(ttl: Duration) => cache_max_ttl = ttl;

        /// Shares answers with the other replicas of this server through `store` (a
        /// [`RedisStore`](crate::store::RedisStore)), so that a token costs one call to the
        /// authorization server, not one per replica. Each replica still keeps its own cache in
        /// front; answers are shared for as long as they would be cached, and checked again when
        /// read. While the store cannot answer, replicas ask the authorization server themselves.
        /// Defaults to none.
        shared_cache(store: impl Store) => shared_cache = Some(Arc::new(store));

        /// Sets how long an inactive or refused token's answer is remembered, so that repeated
        /// bad tokens do not each cost a call. `Duration::ZERO` turns this off. Defaults to `5 s`.
        negative_cache_ttl(ttl: Duration) => negative_cache_ttl = ttl;

        /// With [`discover`](Self::discover): the least time between two discoveries. Until
        /// an endpoint is found, a failed discovery answers `503` with a `Retry-After` until
        /// this has passed, without asking the server (a flood of new tokens is no flood of
        /// metadata requests). An endpoint found that stops answering is discovered again,
        /// once this has passed since the last discovery, and stays in use until another is
        /// found: an endpoint the authorization server moved is found without a restart, and
        /// one that was down for a moment serves again as soon as it answers. Defaults to
        /// `30 s`.
        discovery_retry_interval(interval: Duration) => discovery_retry_interval = interval;
    }

    http_setters! {
        requests: "introspection and metadata requests",
        responses: "introspection or metadata response",
        default_max_response_size: "65_536",
        plain_http: "endpoints and issuers",
        plain_http_risk: "Tokens and the client secret then cross the network in clear, and \
                          anyone on the path can answer \"active\".",
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
        nonzero_duration("discovery_retry_interval", self.discovery_retry_interval)?;
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
        let (endpoint, discovered_issuer) =
            match self.endpoint.ok_or(ConfigError::MissingEndpoint)? {
                EndpointConfig::Fixed(ConfiguredUrl(url)) => {
                    (Endpoint::Fixed(self.http.parse_url(&url)?), None)
                }
                EndpointConfig::Discover(ConfiguredUrl(issuer)) => {
                    let issuer_url = self.http.parse_issuer(&issuer)?;
                    (
                        Endpoint::Discover {
                            issuer: issuer.clone(),
                            issuer_url,
                            discovered: Discovered::new(
                                self.discovery_retry_interval.min(crate::verifier::LONGEST),
                            ),
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
                owns_tokens: self.owns_tokens,
                shared: self.shared_cache.map(SharedAnswers::new),
                max_concurrent_requests: self.max_concurrent_requests,
                issuer: self.issuer.map(|issuer| issuer.0).or(discovered_issuer),
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
