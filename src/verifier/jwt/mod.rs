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
//! - `iss` is a string equal byte for byte to a trusted issuer (or one resolved from an issuer
//!   template with its [tenants](TrustedIssuer::tenants)), checked **before** any network
//!   call: a token that is not a JWT, or names another issuer, is a
//!   [foreign token](crate::VerifyError::foreign_token) and costs nothing.
//! - `exp` is required; the token is rejected from `exp` on (plus leeway). `nbf` and `iat` are
//!   checked when present (not before, not issued in the future), with the same leeway.
//! - `aud`, `sub`, `client_id` and `jti` must have the right JSON type when present: a wrong
//!   type is an error, not "absent".
//! - `cnf.jkt` (DPoP) and `cnf.x5t#S256` (certificate) bindings are reported; the layer refuses
//!   a bound token without its proof.
//! - Scopes come from `scope` and `scp` (space-separated strings or arrays); [`scope_claims`]
//!   reads others (Entra's `roles`, Keycloak's `realm_access.roles`), and the other claim
//!   settings ([`allowed_clients`], [`require_claim_value`],
//!   [`danger_assume_audience_for_clients`]) fit the token shapes of real providers.
//! - An unknown `kid` on a token that may have been signed after the last key fetch, while
//!   another fetch is not yet allowed, is undecidable (`503` with `Retry-After` until the next
//!   fetch), not invalid: a key the issuer just rotated in is not a forgery.
//!
//! The audience is reported in [`AuthInfo::audiences`] and checked by the layer against the
//! resource URI; [`audiences`] adds a check in the verifier too.
//!
//! Tokens that verified are remembered (by a keyed 128-bit hash, never in clear) until they
//! expire or for at most [`token_cache_max_ttl`], so a token seen again costs a hash and a
//! lookup.
//!
//! [`max_token_size`]: JwtVerifierBuilder::max_token_size
//! [`strict_token_type`]: JwtVerifierBuilder::strict_token_type
//! [`scope_claims`]: JwtVerifierBuilder::scope_claims
//! [`allowed_clients`]: JwtVerifierBuilder::allowed_clients
//! [`require_claim_value`]: JwtVerifierBuilder::require_claim_value
//! [`danger_assume_audience_for_clients`]: JwtVerifierBuilder::danger_assume_audience_for_clients
//! [`audiences`]: JwtVerifierBuilder::audiences
//! [`token_cache_max_ttl`]: JwtVerifierBuilder::token_cache_max_ttl

mod algorithm;
mod builder;
mod header;
mod jwks;
pub(crate) mod keys;
pub(crate) mod token;

use std::{
    collections::HashMap,
    convert::Infallible,
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;

pub use self::{
    algorithm::{Algorithm, UnknownAlgorithm},
    builder::{JwtVerifierBuilder, TrustedIssuer},
};
use self::{
    header::{Header, KnownHeaders},
    jwks::{KeySource, SelectedKey},
    keys::verify_signature,
    token::{ParsedToken, check_typ},
};
use super::{
    TokenVerifier, VerifyError,
    cache::{TokenCache, Verdict},
    claims::{ClaimRules, numeric_date},
    discovery::AuthorizationServerMetadata,
    json::{Json, Object},
    shape::{Shape, shape, shape_of_oversize},
};
use crate::{AuthInfo, ConfigError};

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
/// // Not a JWT at all: not this verifier's token (the layer answers `401`).
/// let err = verifier.verify("not-a-jwt").await.unwrap_err();
/// assert!(err.is_foreign_token());
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
    strict_token_type: bool,
    claims: ClaimRules,
    max_token_size: usize,
    cache: TokenCache,
    headers: KnownHeaders,
}

struct Issuer {
    keys: KeySource,
}

/// A token's header: remembered from an earlier token with the same text, or read from it.
enum TokenHeader<'t> {
    Known(Arc<Header>),
    Read(Object<'t>),
}

impl JwtVerifier {
    /// A verifier trusting one issuer, with its keys found through discovery, and every other
    /// setting at its default.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the issuer is not an `https` URL (or `http` on loopback).
    pub fn discover(issuer: impl Into<String>) -> Result<Self, ConfigError> {
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
    /// [`TrustedIssuer::discover`], fetched on first use and kept until a fetch of the key set
    /// it names fails (then fetched again on the next call, or with the next key fetch). The
    /// introspection verifier reads its `introspection_endpoint` from here.
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

    /// Whether `token` is a JWT from a trusted issuer, before any check or network call:
    /// anything else is a [foreign token](VerifyError::foreign_token).
    fn check_issuer(&self, token: &str) -> Result<(), VerifyError> {
        self.check_shape(shape(token))
    }

    /// [`check_issuer`](Self::check_issuer), with the token's shape read already.
    fn check_shape(&self, shape: Shape) -> Result<(), VerifyError> {
        match shape {
            Shape::Jwt {
                issuer: Some(issuer),
            } if self.inner.issuers.contains_key(&issuer) => Ok(()),
            Shape::Jwt { .. } => Err(VerifyError::foreign_token("token issuer is not trusted")),
            Shape::Opaque => Err(VerifyError::foreign_token("token is not a JWT")),
        }
    }

    /// The checks of a header read from the token, before any key is looked at: the
    /// algorithm and key id it names.
    fn check_header<'h>(
        &self,
        header: &'h Object<'_>,
    ) -> Result<(Algorithm, Option<&'h str>), VerifyError> {
        let alg = header
            .get("alg")
            .and_then(Json::as_str)
            .and_then(Algorithm::from_name)
            .ok_or_else(|| VerifyError::invalid_token("token algorithm is not accepted"))?;
        if !self.inner.algorithms.contains(&alg) {
            return Err(VerifyError::invalid_token(
                "token algorithm is not accepted",
            ));
        }
        if header.contains("crit") || header.contains("b64") {
            return Err(VerifyError::invalid_token(
                "token has an unsupported critical header",
            ));
        }
        check_typ(header.get("typ"), self.inner.strict_token_type)?;
        let kid = match header.get("kid") {
            None => None,
            Some(Json::String(kid)) => Some(&**kid),
            Some(_) => return Err(VerifyError::invalid_token("token key id is malformed")),
        };
        Ok((alg, kid))
    }

    /// A token the cache does not hold, checked in place when its key is at hand. `None` when
    /// it is not (no key set yet, one due for a refresh, or none with the token's `kid`): only
    /// [`verify_uncached`](Self::verify_uncached), which may fetch, can tell.
    fn verify_local(&self, token: &str) -> Option<Result<AuthInfo, VerifyError>> {
        self.verify_with(token, |keys, kid, alg, _| {
            keys.select_now(kid, alg).ok_or(())
        })
        .ok()
    }

    /// A token the cache does not hold: checked in place when its key is at hand, or once its
    /// key set is fetched or refreshed.
    async fn verify_uncached(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        let wait = self.verify_with(token, |keys, kid, alg, signed_by| {
            keys.select_now(kid, alg).ok_or_else(|| KeyWait {
                keys,
                kid: kid.map(str::to_owned),
                alg,
                signed_by,
            })
        });
        let wait = match wait {
            Ok(decided) => return decided,
            Err(wait) => wait,
        };
        // Boxed where it starts, so that this future stays small.
        let selected = Box::pin(
            wait.keys
                .select(wait.kid.as_deref(), wait.alg, wait.signed_by),
        )
        .await;
        // The same token read again (this is the rare path) and checked with that key, which
        // was picked for the `kid` and `alg` it names: the same text names the same ones.
        let Ok(decided) = self.verify_with(token, |_, kid, alg, _| {
            let same = kid == wait.kid.as_deref() && alg == wait.alg;
            debug_assert!(same, "the token read twice names another key");
            Ok::<_, Infallible>(if same {
                selected
            } else {
                Err(VerifyError::invalid_token("token key id is malformed"))
            })
        });
        decided
    }

    /// Every check of a token the cache does not hold, in their order, with the key that
    /// `select` picks from the issuer's set for the token's `kid` and `alg` (and the latest
    /// time it can have been signed, if it says). When `select` cannot pick now, its `Err` is
    /// returned and nothing else is done: no later check runs and nothing is remembered.
    fn verify_with<'s, W>(
        &'s self,
        token: &str,
        select: impl FnOnce(
            &'s KeySource,
            Option<&str>,
            Algorithm,
            Option<SystemTime>,
        ) -> Result<Result<SelectedKey, VerifyError>, W>,
    ) -> Result<Result<AuthInfo, VerifyError>, W> {
        let inner = &*self.inner;
        // A header read before from the same text is not read again: what it says is known.
        let known = token
            .split_once('.')
            .and_then(|(encoded, _)| inner.headers.get(encoded));
        let parsed = match known {
            Some(_) => ParsedToken::parse_with_known_header(token),
            None => ParsedToken::parse(token),
        };
        let parsed = match parsed {
            Ok(parsed) => parsed,
            // Foreign unless it is shaped like a JWT from a trusted issuer; then malformed.
            Err(malformed) => return Ok(self.malformed(token, malformed)),
        };
        let header = match known {
            Some(known) => TokenHeader::Known(known),
            None => match parsed.header() {
                Ok(header) => TokenHeader::Read(header),
                Err(malformed) => return Ok(self.malformed(token, malformed)),
            },
        };
        // The claims are parsed (strictly, as the header is) before the signature is checked,
        // once: until it holds, only `iss` (whose keys) and `iat` (how recent a key) are read
        // from them. Claims that do not parse are malformed, or foreign when `check_issuer`
        // says so.
        let claims = match parsed.claims() {
            Ok(claims) => claims,
            Err(malformed) => return Ok(self.malformed(token, malformed)),
        };
        // What `check_issuer` decides, read from the parsed token: anything but a JWT naming a
        // trusted issuer is foreign, before any other check.
        let trusted_issuer = claims
            .get("iss")
            .and_then(Json::as_str)
            .and_then(|iss| inner.issuers.get_key_value(iss));
        // A header without `alg` is not a JWS (a remembered header has one).
        if let TokenHeader::Read(header) = &header
            && header.get("alg").and_then(Json::as_str).is_none()
        {
            return Ok(Err(VerifyError::foreign_token("token is not a JWT")));
        }
        let Some((issuer, trusted)) = trusted_issuer else {
            return Ok(Err(VerifyError::foreign_token(
                "token issuer is not trusted",
            )));
        };
        let (alg, kid) = match &header {
            TokenHeader::Known(known) => (known.alg, known.kid.as_deref()),
            TokenHeader::Read(header) => match self.check_header(header) {
                Ok(checked) => checked,
                Err(err) => return Ok(Err(err)),
            },
        };

        // The unverified `iss` picked the issuer: unknown issuers cost no fetch.
        // The latest time the token can have been signed, if it says (unverified, and only
        // used to tell "key not published yet" from "unknown key").
        let signed_by = claims
            .get("iat")
            .and_then(|iat| numeric_date(iat, "").ok())
            .map(|iat| UNIX_EPOCH + Duration::from_secs_f64(iat) + inner.claims.leeway());
        let selected = match select(&trusted.keys, kid, alg, signed_by)? {
            Ok(selected) => selected,
            // No key to decide with now (its set cannot be fetched, or a key published after
            // our last fetch): still a refusal when the token's own claims refuse it, so an
            // expired or future-dated forgery cannot buy a 503 with an unknown `kid`.
            Err(err) if err.is_unavailable() => {
                return Ok(inner
                    .claims
                    .describe(&claims, None, None)
                    .and_then(|_checked| Err(err)));
            }
            Err(err) => return Ok(Err(err)),
        };
        if let Err(err) = verify_signature(
            alg,
            selected.key(),
            parsed.signing_input.as_bytes(),
            parsed.signature,
        ) {
            return Ok(Err(err));
        }
        // A trusted issuer signed this header: the next token that has it skips reading it.
        if let TokenHeader::Read(header) = &header {
            inner
                .headers
                .remember(parsed.encoded_header, header, alg, kid);
        }

        // The signature holds: now the claims are read. Those without an accessor are kept
        // as their text, read if anyone asks.
        Ok(inner
            .claims
            .describe(&claims, Some(issuer), Some(parsed.payload()))
            .map(|info| info.build()))
    }

    /// The refusal of a token over `max_token_size`, too large to check: refused only if it is
    /// this verifier's to judge; an opaque token (or another issuer's) is foreign, for the
    /// next verifier of a chain.
    fn oversize(&self, token: &str) -> VerifyError {
        match self.check_shape(shape_of_oversize(token, self.inner.max_token_size)) {
            Ok(()) => VerifyError::invalid_token("token is too large"),
            Err(foreign) => foreign,
        }
    }

    /// The answer to a token that does not parse: foreign unless it is shaped like a JWT from a
    /// trusted issuer, and `malformed` then.
    fn malformed(&self, token: &str, malformed: VerifyError) -> Result<AuthInfo, VerifyError> {
        self.check_issuer(token)?;
        Err(malformed)
    }
}

/// What [`JwtVerifier::verify_uncached`] waits for before it can check a token: a key from
/// `keys` once it is fetched or refreshed.
struct KeyWait<'s> {
    keys: &'s KeySource,
    kid: Option<String>,
    alg: Algorithm,
    signed_by: Option<SystemTime>,
}

#[async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        if token.len() > self.inner.max_token_size {
            return Err(self.oversize(token));
        }
        self.inner
            .cache
            .get_or_verify(token, || async {
                Verdict::from_result(self.verify_uncached(token).await)
            })
            .await
    }

    /// A token verified before and still in the cache. (`verify` refuses a token over
    /// `max_token_size` before its lookup; no such token is ever cached.)
    fn verify_cached(&self, token: &str) -> Option<AuthInfo> {
        self.inner.cache.cached(token)
    }

    /// The cache's verdict, or the whole check made in place when the token's key is at hand
    /// (the verdict then cached as by `verify`): `None` when it is not (no key set yet, one
    /// due for a refresh, or none with the token's `kid`), for `verify`, which may fetch.
    fn verify_now(&self, token: &str) -> Option<Result<AuthInfo, VerifyError>> {
        if token.len() > self.inner.max_token_size {
            return Some(Err(self.oversize(token)));
        }
        self.inner
            .cache
            .get_or_verify_now(token, || self.verify_local(token).map(Verdict::from_result))
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
            .field("strict_token_type", &inner.strict_token_type)
            .field("claims", &inner.claims)
            .field("max_token_size", &inner.max_token_size)
            .field("cache", &inner.cache)
            .finish_non_exhaustive()
    }
}
