//! [`JwtVerifierBuilder`] and [`TrustedIssuer`]: the configuration of a
//! [`JwtVerifier`](super::JwtVerifier), checked once in `build()`.

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use serde_json::Value;

use super::{
    Inner, Issuer, JwtVerifier,
    algorithm::{ASYMMETRIC, Algorithm},
    header::KnownHeaders,
    jwks::{KeySource, RefreshPolicy, RemoteKeys, Snapshot},
    keys::{KeyFamily, KeySet, ensure_crypto_backend, pem_key},
};
use crate::{
    ConfigError,
    error::{nonzero_duration, nonzero_size},
    resource::redacted_url,
    verifier::{
        cache::TokenCache,
        claims::{ClaimRules, claim_setters},
        http::{HttpClient, HttpOptions, http_setters},
    },
};

/// One issuer a [`JwtVerifier`] trusts, and where its keys come from.
///
/// The issuer string is compared byte for byte with the token's `iss` and with the `issuer` of
/// discovered metadata, so give it exactly as the authorization server writes it.
///
/// # Example
///
/// ```
/// use mcp_auth::verifier::{JwtVerifier, jwt::TrustedIssuer};
///
/// let verifier = JwtVerifier::builder()
///     .issuer(TrustedIssuer::discover("https://auth.example.com"))
///     .issuer(TrustedIssuer::jwks_uri(
///         "https://login.example.org/tenant",
///         "https://login.example.org/tenant/keys",
///     ))
///     .build()?;
/// assert_eq!(verifier.issuers().count(), 2);
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct TrustedIssuer {
    issuer: String,
    keys: KeyConfig,
    /// The values of the `{tenant}` placeholder, for an issuer template.
    tenants: Option<Vec<String>>,
}

#[derive(Clone)]
enum KeyConfig {
    Discover,
    JwksUri(String),
    JwkSet(String),
    Pem(Vec<u8>),
    Secret(Vec<u8>),
}

impl TrustedIssuer {
    /// Trusts `issuer`, finding its `jwks_uri` through RFC 8414 / OpenID Connect discovery on
    /// first use.
    #[must_use]
    pub fn discover(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: KeyConfig::Discover,
            tenants: None,
        }
    }

    /// Trusts `issuer`, with its keys at `jwks_uri` (no discovery).
    #[must_use]
    pub fn jwks_uri(issuer: impl Into<String>, jwks_uri: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: KeyConfig::JwksUri(jwks_uri.into()),
            tenants: None,
        }
    }

    /// Trusts `issuer`, with a fixed JWK set given as JSON text (`{"keys": [...]}`). Keys that
    /// cannot be used are skipped; `build()` fails when none is left.
    #[must_use]
    pub fn jwk_set(issuer: impl Into<String>, jwk_set: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: KeyConfig::JwkSet(jwk_set.into()),
            tenants: None,
        }
    }

    /// Trusts `issuer`, with one fixed public key in PEM form (RSA, P-256, P-384 or Ed25519).
    /// The key has no `kid`, so it verifies tokens whatever their `kid`.
    #[must_use]
    pub fn pem(issuer: impl Into<String>, pem: impl Into<Vec<u8>>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: KeyConfig::Pem(pem.into()),
            tenants: None,
        }
    }

    /// Trusts `issuer`, whose tokens are signed with `HS256`/`HS384`/`HS512` and a shared
    /// secret of at least 32 bytes. This is the only way `HS*` tokens are ever accepted.
    ///
    /// # Security
    ///
    /// Anyone holding the secret can mint tokens; prefer asymmetric keys.
    #[must_use]
    pub fn shared_secret(issuer: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: KeyConfig::Secret(secret.into()),
            tenants: None,
        }
    }

    /// Makes the issuer (and a `jwks_uri`) a template: `{tenant}` in its path stands for each
    /// of `tenants`, and each resolved issuer is trusted with a key source of its own (its own
    /// discovery, or the `jwks_uri` with the same tenant). For multi-tenant authorization
    /// servers such as Entra ID (`https://login.microsoftonline.com/{tenant}/v2.0`).
    ///
    /// Only listed tenants are trusted, and the placeholder may only stand in the path (a
    /// tenant is made of unreserved URL characters), so no template can name a host it was
    /// not configured with.
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_auth::verifier::{JwtVerifier, jwt::TrustedIssuer};
    ///
    /// let verifier = JwtVerifier::builder()
    ///     .issuer(
    ///         TrustedIssuer::discover("https://login.microsoftonline.com/{tenant}/v2.0")
    ///             .tenants(["72f988bf-86f1-41af-91ab-2d7cd011db47", "contoso.example"]),
    ///     )
    ///     .build()?;
    /// assert_eq!(
    ///     verifier.issuers().collect::<Vec<_>>(),
    ///     [
    ///         "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
    ///         "https://login.microsoftonline.com/contoso.example/v2.0",
    ///     ]
    /// );
    /// # Ok::<(), mcp_auth::ConfigError>(())
    /// ```
    #[must_use]
    pub fn tenants<I>(mut self, tenants: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.tenants = Some(tenants.into_iter().map(Into::into).collect());
        self
    }

    /// The issuer identifier (a template, with [`tenants`](Self::tenants)).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The concrete issuers this entry stands for: itself, or one per tenant.
    fn resolve(self) -> Result<Vec<Self>, ConfigError> {
        let invalid = |message: &str| ConfigError::InvalidIssuer {
            issuer: redacted_url(&self.issuer),
            message: message.to_owned(),
        };
        let Some(tenants) = &self.tenants else {
            if self.issuer.contains(TENANT) {
                return Err(invalid("an issuer template needs a list of tenants"));
            }
            return Ok(vec![self]);
        };
        let authority_end = self
            .issuer
            .find("://")
            .and_then(|i| self.issuer[i + 3..].find('/').map(|j| i + 3 + j));
        match authority_end {
            Some(end)
                if self.issuer[end..].contains(TENANT) && !self.issuer[..end].contains('{') => {}
            _ => return Err(invalid("`{tenant}` must stand in the path of the issuer")),
        }
        if tenants.is_empty() {
            return Err(invalid("the list of tenants is empty"));
        }
        let mut resolved = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            let usable = !tenant.is_empty()
                && tenant != "."
                && tenant != ".."
                && tenant
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            if !usable {
                return Err(invalid(&format!(
                    "tenant {tenant:?} is not made of unreserved URL characters"
                )));
            }
            let keys = match &self.keys {
                KeyConfig::JwksUri(uri) => KeyConfig::JwksUri(uri.replace(TENANT, tenant)),
                other => other.clone(),
            };
            resolved.push(Self {
                issuer: self.issuer.replace(TENANT, tenant),
                keys,
                tenants: None,
            });
        }
        Ok(resolved)
    }
}

/// The placeholder of an issuer template.
const TENANT: &str = "{tenant}";

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.keys {
            KeyConfig::Discover => "discover".to_owned(),
            KeyConfig::JwksUri(uri) => format!("jwks_uri {}", redacted_url(uri)),
            KeyConfig::JwkSet(_) => "static JWK set".to_owned(),
            KeyConfig::Pem(_) => "static PEM key".to_owned(),
            KeyConfig::Secret(_) => "shared secret [redacted]".to_owned(),
        };
        f.debug_struct("TrustedIssuer")
            .field("issuer", &redacted_url(&self.issuer))
            .field("keys", &keys)
            .field("tenants", &self.tenants)
            .finish()
    }
}

/// Configuration for a [`JwtVerifier`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use mcp_auth::verifier::{JwtVerifier, jwt::{Algorithm, TrustedIssuer}};
///
/// let verifier = JwtVerifier::builder()
///     .issuer(TrustedIssuer::discover("https://auth.example.com"))
///     .algorithms([Algorithm::Es256, Algorithm::Rs256])
///     .leeway(Duration::from_secs(30))
///     .strict_token_type(true)
///     .token_cache_max_ttl(Duration::from_secs(60))
///     .build()?;
/// assert!(format!("{verifier:?}").contains("strict_token_type: true"));
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct JwtVerifierBuilder {
    issuers: Vec<TrustedIssuer>,
    algorithms: Option<Vec<Algorithm>>,
    strict_token_type: bool,
    claims: ClaimRules,
    max_token_size: usize,
    token_cache_capacity: u64,
    token_cache_max_ttl: Duration,
    refresh: RefreshPolicy,
    http: HttpOptions,
}

impl Default for JwtVerifierBuilder {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            algorithms: None,
            strict_token_type: false,
            claims: ClaimRules::default(),
            max_token_size: 8 * 1024,
            token_cache_capacity: 10_000,
            token_cache_max_ttl: Duration::from_secs(5 * 60),
            refresh: RefreshPolicy::default(),
            http: HttpOptions::new(256 * 1024),
        }
    }
}

impl JwtVerifierBuilder {
    /// Adds a trusted issuer; call once per issuer. Tokens are routed to an issuer's keys by
    /// their `iss` claim. Defaults to none (at least one is required).
    pub fn issuer(mut self, issuer: TrustedIssuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    setters! {
        /// Sets the accepted signature algorithms. `HS*` entries only take effect for issuers
        /// configured with [`TrustedIssuer::shared_secret`]. Defaults to every asymmetric
        /// algorithm (`RS*`, `PS*`, `ES256`, `ES384`, `EdDSA`, and the RFC 9864 names `ESP256`,
        /// `ESP384`, `Ed25519`), plus `HS256`/`HS384`/`HS512` when
        /// a shared-secret issuer is configured.
        algorithms(algorithms: impl IntoIterator<Item = Algorithm>) =>
            algorithms = Some(algorithms.into_iter().collect());

        /// Requires the RFC 9068 header `typ: at+jwt` (or `application/at+jwt`); otherwise `JWT`
        /// and a missing `typ` are accepted too. Defaults to `false`.
        strict_token_type(strict: bool) => strict_token_type = strict;
    }

    claim_setters!();

    setters! {
        /// Refuses tokens longer than this many bytes without checking them: a JWT of a trusted
        /// issuer is invalid, anything else foreign (a chain hands it on). Only a token up to
        /// four times this size is decoded to tell which. Defaults to `8192`.
        max_token_size(bytes: usize) => max_token_size = bytes;

        /// Sets how many verified tokens are remembered; `0` turns the cache off. Defaults to
        /// `10_000`.
        token_cache_capacity(entries: u64) => token_cache_capacity = entries;

        /// Sets the longest time a verified token is remembered (never past its `exp`), which
        /// bounds how long a key removed from the issuer's set keeps working for tokens already
        /// seen. Defaults to `5 min`.
        token_cache_max_ttl(ttl: Duration) => token_cache_max_ttl = ttl;

        /// Sets how long a fetched key set is used before it is refreshed when the response carries
        /// no `Cache-Control: max-age`. Defaults to `5 min`.
        jwks_refresh_interval(interval: Duration) => refresh.default_interval = interval;

        /// Sets the minimum time between two key set fetches: the lower bound for `max-age`, and
        /// the rate limit for refreshes caused by unknown `kid`s and for retries after failures.
        /// Defaults to `30 s`.
        jwks_min_refresh_interval(interval: Duration) => refresh.min_interval = interval;

        /// Sets the upper bound for `Cache-Control: max-age` on key sets. Defaults to `24 h`.
        jwks_max_refresh_interval(interval: Duration) => refresh.max_interval = interval;

        /// Sets how long past its refresh time a key set is still used while refreshes fail.
        /// After that, tokens get `503` until a fetch succeeds. Defaults to `1 h`.
        jwks_max_staleness(staleness: Duration) => refresh.max_staleness = staleness;
    }

    http_setters! {
        requests: "metadata and key set requests",
        responses: "metadata or key set response",
        default_max_response_size: "262_144",
        plain_http: "issuers and JWKS URLs",
        plain_http_risk: "Anyone on the network path can then substitute their own keys.",
    }

    /// Checks the configuration and builds the verifier. Nothing is fetched yet: keys are
    /// fetched on first use.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an issuer or URL that is not `https` (or `http` on loopback), a
    /// static key set with no usable key, a short shared secret, an empty algorithm list, or
    /// zero durations and sizes where they make no sense.
    pub fn build(self) -> Result<JwtVerifier, ConfigError> {
        ensure_crypto_backend()?;
        if self.issuers.is_empty() {
            return Err(ConfigError::MissingIssuer);
        }
        nonzero_size("max_token_size", self.max_token_size)?;
        // RFC 9068 §2.2: `exp` is required in JWT access tokens.
        let mut claims = self.claims;
        claims.set_require_expiry(true);
        claims.validate()?;
        nonzero_duration("jwks_min_refresh_interval", self.refresh.min_interval)?;
        let client = HttpClient::new(self.http.clone())?;

        let has_secret = self
            .issuers
            .iter()
            .any(|i| matches!(i.keys, KeyConfig::Secret(_)));
        let algorithms = match self.algorithms {
            Some(algorithms) => algorithms,
            None if has_secret => {
                let mut all = ASYMMETRIC.to_vec();
                all.extend([Algorithm::Hs256, Algorithm::Hs384, Algorithm::Hs512]);
                all
            }
            None => ASYMMETRIC.to_vec(),
        };
        if algorithms.is_empty() {
            return Err(ConfigError::EmptyAlgorithms);
        }

        let mut issuers = HashMap::new();
        let mut issuer_order = Vec::new();
        for trusted in self.issuers.into_iter().map(TrustedIssuer::resolve) {
            for trusted in trusted? {
                let name = trusted.issuer.clone();
                let keys = build_keys(trusted, &client, self.refresh.bounded(), &self.http)?;
                if issuers.insert(name.clone(), Issuer { keys }).is_some() {
                    return Err(ConfigError::DuplicateIssuer { issuer: name });
                }
                issuer_order.push(name);
            }
        }

        Ok(JwtVerifier {
            inner: Arc::new(Inner {
                issuers,
                issuer_order,
                algorithms,
                strict_token_type: self.strict_token_type,
                claims,
                max_token_size: self.max_token_size,
                cache: TokenCache::new(
                    "jwt",
                    self.token_cache_capacity,
                    self.token_cache_max_ttl,
                    Duration::ZERO,
                )
                .without_single_flight(),
                headers: KnownHeaders::default(),
            }),
        })
    }
}

fn build_keys(
    trusted: TrustedIssuer,
    client: &HttpClient,
    refresh: RefreshPolicy,
    http: &HttpOptions,
) -> Result<KeySource, ConfigError> {
    let TrustedIssuer { issuer, keys, .. } = trusted;
    let issuer_url = http.parse_issuer(&issuer)?;
    let invalid_keys = |message: &str| ConfigError::InvalidKeys {
        issuer: issuer.clone(),
        message: message.to_owned(),
    };
    let fixed = |set: KeySet| KeySource::Static(Arc::new(Snapshot::fixed(set)));
    Ok(match keys {
        KeyConfig::Discover => KeySource::Remote(Arc::new(RemoteKeys::new(
            issuer.clone(),
            issuer_url,
            None,
            client.clone(),
            refresh,
        ))),
        KeyConfig::JwksUri(uri) => {
            let jwks_url = http.parse_url(&uri)?;
            KeySource::Remote(Arc::new(RemoteKeys::new(
                issuer.clone(),
                issuer_url,
                Some(jwks_url),
                client.clone(),
                refresh,
            )))
        }
        KeyConfig::JwkSet(json) => {
            let document: Value =
                serde_json::from_str(&json).map_err(|_| invalid_keys("the JWK set is not JSON"))?;
            let set = KeySet::from_jwks(&document).map_err(invalid_keys)?;
            if set.len() == 0 {
                return Err(invalid_keys(&format!(
                    "no usable key: {}",
                    set.skipped().join("; ")
                )));
            }
            fixed(set)
        }
        KeyConfig::Pem(pem) => {
            let (family, key) = pem_key(&pem).map_err(invalid_keys)?;
            fixed(KeySet::single(family, key))
        }
        KeyConfig::Secret(secret) => {
            if secret.len() < 32 {
                return Err(invalid_keys("the shared secret must be at least 32 bytes"));
            }
            fixed(KeySet::single(
                KeyFamily::Hmac,
                jsonwebtoken::DecodingKey::from_secret(&secret),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_templates_resolve_only_listed_tenants_in_the_path() {
        let resolved = TrustedIssuer::jwks_uri(
            "https://login.example.com/{tenant}/v2.0",
            "https://login.example.com/{tenant}/keys",
        )
        .tenants(["t1", "t-2"])
        .resolve()
        .expect("resolves");
        let got: Vec<(String, String)> = resolved
            .into_iter()
            .map(|t| match t.keys {
                KeyConfig::JwksUri(uri) => (t.issuer, uri),
                _ => unreachable!("a jwks_uri issuer"),
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "https://login.example.com/t1/v2.0".to_owned(),
                    "https://login.example.com/t1/keys".to_owned()
                ),
                (
                    "https://login.example.com/t-2/v2.0".to_owned(),
                    "https://login.example.com/t-2/keys".to_owned()
                ),
            ]
        );
        let refused = [
            (
                "no tenants",
                TrustedIssuer::discover("https://a.example/{tenant}"),
            ),
            (
                "placeholder in the host",
                TrustedIssuer::discover("https://{tenant}.example/").tenants(["t"]),
            ),
            (
                "empty list",
                TrustedIssuer::discover("https://a.example/{tenant}").tenants(Vec::<String>::new()),
            ),
            (
                "tenant with a slash",
                TrustedIssuer::discover("https://a.example/{tenant}").tenants(["t/../x"]),
            ),
            (
                "tenant with an @",
                TrustedIssuer::discover("https://a.example/{tenant}").tenants(["evil@x"]),
            ),
            (
                "dot-dot tenant",
                TrustedIssuer::discover("https://a.example/{tenant}").tenants([".."]),
            ),
            (
                "no placeholder",
                TrustedIssuer::discover("https://a.example/fixed").tenants(["t"]),
            ),
        ];
        for (name, issuer) in refused {
            assert!(
                matches!(issuer.resolve(), Err(ConfigError::InvalidIssuer { .. })),
                "{name}"
            );
        }
    }
}
