//! Sender-constrained tokens: DPoP (RFC 9449).
//!
//! A bearer token works for whoever holds it. A DPoP-bound token (`cnf.jkt` in the JWT or in
//! the introspection answer) works only with a fresh proof, signed by the key the token is
//! bound to, for this very request: `Authorization: DPoP <token>` and `DPoP: <proof>`.
//!
//! Configure it with [`McpAuthBuilder::dpop`](crate::McpAuthBuilder::dpop):
//!
//! - without it, DPoP is off: only `Bearer` is accepted, and a token bound to a key is refused
//!   (`401`) — it is never taken as a plain bearer token;
//! - [`Dpop::allowed`]: `Bearer` and `DPoP` are both accepted, and a bound token only with its
//!   proof;
//! - [`Dpop::required`]: only DPoP-bound tokens with their proofs; `Bearer` is refused.
//!
//! Each proof is checked as RFC 9449 §4.3 asks: one `DPoP` header, a compact JWS with `typ`
//! `dpop+jwt`, an asymmetric algorithm of the allow-list, a public `jwk` without private
//! members, a valid signature, `htm` equal to the request method, `htu` equal to the resource's
//! origin and the request path (RFC 3986 normalised; never read from `Host`), `iat` no older
//! than the proof lifetime and no further ahead than the clock skew, a `jti` not seen before
//! while the proof could be accepted ([replay store](crate::store)), `ath`
//! equal to the base64url SHA-256 of the token, and the RFC 7638 thumbprint of the `jwk` equal
//! to the token's `cnf.jkt`. Every failure is `401` with `WWW-Authenticate: DPoP
//! error="invalid_dpop_proof"`, the accepted `algs`, and `resource_metadata`; audience and
//! scopes are checked exactly as for Bearer.
//!
//! The path in `htu` is the request's path as the layer sees it: put the layer where the
//! request still has the path the client signed (outside a router that strips a prefix, such
//! as axum's `nest`), or proofs for that path are refused.
//!
//! With [`Dpop::nonces`], the layer also requires a server nonce in each proof (RFC 9449 §9):
//! a proof without the current nonce gets `401 use_dpop_nonce` and a `DPoP-Nonce` header, and
//! every successful response carries the current nonce.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::Method;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{
    ConfigError,
    challenge::{AuthError, AuthErrorKind},
    resource::{ResourceUri, canonical_http},
    store::{MemoryStore, Store, StoreKey},
    verifier::jwt::{
        Algorithm,
        keys::{ensure_crypto_backend, parse_jwk, thumbprint, verify_signature},
        token::ParsedToken,
    },
};

/// The DPoP settings of a layer; see the [module docs](self).
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use mcp_auth::{McpAuth, dpop::Dpop, testing::StaticVerifier, verifier::jwt::Algorithm};
///
/// let auth = McpAuth::builder("https://mcp.example.com/mcp")
///     .authorization_server("https://auth.example.com")
///     .verifier(StaticVerifier::new())
///     .dpop(
///         Dpop::required()
///             .algorithms([Algorithm::Es256, Algorithm::EdDsa])
///             .proof_lifetime(Duration::from_secs(120))
///             .proof_clock_skew(Duration::from_secs(30)),
///     )
///     .build()?;
/// let metadata: serde_json::Value = serde_json::from_slice(&auth.metadata().to_json())?;
/// assert_eq!(metadata["dpop_signing_alg_values_supported"], serde_json::json!(["ES256", "EdDSA"]));
/// assert_eq!(metadata["dpop_bound_access_tokens_required"], true);
/// # Ok::<(), mcp_auth::BoxError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Dpop {
    required: bool,
    algorithms: Option<Vec<Algorithm>>,
    proof_lifetime: Duration,
    proof_clock_skew: Duration,
    nonces: Option<Duration>,
    replay_store: Option<Arc<dyn Store>>,
}

impl Dpop {
    /// DPoP and Bearer both accepted; a DPoP-bound token only with its proof.
    pub fn allowed() -> Self {
        Self {
            required: false,
            algorithms: None,
            proof_lifetime: Duration::from_secs(5 * 60),
            proof_clock_skew: Duration::from_secs(60),
            nonces: None,
            replay_store: None,
        }
    }

    /// Only DPoP-bound tokens with their proofs; `Bearer` is refused (`401`), and the metadata
    /// says `dpop_bound_access_tokens_required: true`.
    pub fn required() -> Self {
        Self {
            required: true,
            ..Self::allowed()
        }
    }

    setters! {
        /// Sets the algorithms a proof may be signed with (asymmetric ones only). Defaults to
        /// `ES256`, `ES384`, `EdDSA`, `Ed25519`, `ESP256`, `ESP384`, `RS256`, `PS256`.
        algorithms(algorithms: impl IntoIterator<Item = Algorithm>) =>
            algorithms = Some(algorithms.into_iter().collect());

        /// Sets how old a proof may be: how far its `iat` may be behind now. Defaults to 5
        /// minutes.
        proof_lifetime(lifetime: Duration) => proof_lifetime = lifetime;

        /// Sets how far a proof's `iat` may be ahead of now: how fast a client's clock may
        /// run. A proof dated later is refused, so that a proof made in advance (by someone
        /// who had the key for a moment) is not good for longer than the lifetime and this.
        ///
        /// It is also the margin for replicas that share a
        /// [replay store](Self::replay_store): a proof's `jti` is remembered until the proof
        /// is older than the lifetime plus this, so that a replica whose clock is up to this
        /// much behind cannot accept it again. With several replicas, keep it above the
        /// difference between their clocks, even if clients' clocks are exact. Defaults to 1
        /// minute.
        proof_clock_skew(skew: Duration) => proof_clock_skew = skew;

        /// Requires a server nonce in every proof (RFC 9449 §9), rotated every `rotation` (a
        /// nonce stays valid for one more rotation). Defaults to no nonces.
        nonces(rotation: Duration) => nonces = Some(rotation);

        /// Sets where seen proof ids (`jti`) are remembered. A store shared by several replicas
        /// catches a proof replayed to another replica. Defaults to a [`MemoryStore`] of
        /// `100_000` entries; a store that is full (or cannot answer) makes new proofs `503`
        /// with `Retry-After`, never forgets a `jti` it holds. A `jti` is kept for at most the
        /// proof lifetime plus twice the clock skew (7 minutes by default): size the store for
        /// the proofs of that long at peak (100,000 covers about 240 DPoP requests a second
        /// with the defaults: 100,000 in 420 s).
        replay_store(store: impl Store) => replay_store = Some(Arc::new(store));
    }
}

/// The algorithms accepted by default: asymmetric, and common for proof keys.
pub(crate) const DEFAULT_ALGORITHMS: [Algorithm; 8] = [
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::EdDsa,
    Algorithm::Ed25519,
    Algorithm::Esp256,
    Algorithm::Esp384,
    Algorithm::Rs256,
    Algorithm::Ps256,
];

/// The longest `jti` accepted.
const MAX_JTI: usize = 256;

/// Checks DPoP proofs for one layer.
#[derive(Debug)]
pub(crate) struct ProofChecker {
    required: bool,
    algorithms: Vec<Algorithm>,
    /// The algorithm names, space-separated, for `algs=`.
    algs: String,
    lifetime: Duration,
    /// How far ahead of now an `iat` may be.
    skew: Duration,
    /// `scheme://host[:port]` of the resource: `htu` is this and the request path.
    origin: String,
    replay: Arc<dyn Store>,
    nonces: Option<Nonces>,
}

impl ProofChecker {
    pub(crate) fn new(config: Dpop, resource: &ResourceUri) -> Result<Self, ConfigError> {
        // Proof signatures go through jsonwebtoken's crypto, whatever the token verifier is.
        ensure_crypto_backend()?;
        let algorithms = config
            .algorithms
            .unwrap_or_else(|| DEFAULT_ALGORITHMS.to_vec());
        if algorithms.is_empty() {
            return Err(ConfigError::setting(
                "dpop algorithms",
                "no algorithm would be accepted",
            ));
        }
        if let Some(symmetric) = algorithms.iter().find(|alg| !alg.is_asymmetric()) {
            return Err(ConfigError::setting(
                "dpop algorithms",
                format!("{symmetric} is symmetric; DPoP proofs are signed with public keys"),
            ));
        }
        if config.proof_lifetime.is_zero() {
            return Err(ConfigError::setting(
                "dpop proof_lifetime",
                "must be greater than zero",
            ));
        }
        let nonces = config.nonces.map(Nonces::new).transpose()?;
        let algs = algorithms
            .iter()
            .map(|alg| alg.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Self {
            required: config.required,
            algorithms,
            algs,
            lifetime: config.proof_lifetime,
            skew: config.proof_clock_skew,
            origin: resource.origin().to_owned(),
            replay: config
                .replay_store
                .unwrap_or_else(|| Arc::new(MemoryStore::new(100_000))),
            nonces,
        })
    }

    /// Whether `Bearer` is refused.
    pub(crate) fn required(&self) -> bool {
        self.required
    }

    /// The accepted algorithms, space-separated.
    pub(crate) fn algs(&self) -> &str {
        &self.algs
    }

    /// The accepted algorithm names, for the metadata.
    pub(crate) fn algorithm_names(&self) -> Vec<String> {
        self.algorithms
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect()
    }

    /// The nonce to hand out now, when nonces are on.
    pub(crate) fn current_nonce(&self) -> Option<Arc<str>> {
        self.nonces.as_ref().map(|nonces| nonces.current(now()))
    }

    /// Checks `proof` for a request (`method`, `path`) that carries `token`, bound to the key
    /// whose thumbprint is `jkt`.
    pub(crate) async fn check(
        &self,
        proof: &str,
        method: &Method,
        path: &str,
        token: &str,
        jkt: &str,
    ) -> Result<(), AuthError> {
        let SignedProof {
            claims,
            jkt: proof_jkt,
        } = SignedProof::verify(proof, |alg| self.algorithms.contains(&alg), Some(jkt))
            .map_err(invalid)?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let jti = text("jti")
            .filter(|jti| !jti.is_empty() && jti.len() <= MAX_JTI)
            .ok_or_else(|| invalid("the DPoP proof has no usable jti"))?;
        if text("htm") != Some(method.as_str()) {
            return Err(invalid("the DPoP proof is for another method"));
        }
        let htu = text("htu").ok_or_else(|| invalid("the DPoP proof has no htu"))?;
        let expected = format!("{}{path}", self.origin);
        if htu.contains(['?', '#']) || canonical_http(htu) != canonical_http(&expected) {
            return Err(invalid("the DPoP proof is for another URI"));
        }
        let iat = claims
            .get("iat")
            .and_then(Value::as_f64)
            .ok_or_else(|| invalid("the DPoP proof has no iat"))?;
        let now = now();
        let (lifetime, skew) = (self.lifetime.as_secs_f64(), self.skew.as_secs_f64());
        if !(now - lifetime..=now + skew).contains(&iat) {
            return Err(invalid("the DPoP proof is too old or from the future"));
        }
        let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
        if text("ath") != Some(ath.as_str()) {
            return Err(invalid("the DPoP proof is for another access token"));
        }
        if let Some(nonces) = &self.nonces
            && !text("nonce").is_some_and(|nonce| nonces.is_valid(nonce, now))
        {
            return Err(AuthError::new(
                AuthErrorKind::UseDpopNonce,
                "the DPoP proof must carry the nonce in DPoP-Nonce",
            )
            .with_dpop_nonce(nonces.current(now)));
        }
        // Last, so that proofs that fail any other check cannot fill the store.
        let mut id = proof_jkt.into_bytes();
        id.push(0);
        id.extend_from_slice(jti.as_bytes());
        let fresh = self
            .replay
            .insert_if_absent(
                &StoreKey::new("dpop-jti", &id),
                Bytes::from_static(b"1"),
                remember_for(iat, now, lifetime, skew),
            )
            .await
            .map_err(|_| {
                crate::observe::store_error("dpop");
                AuthError::new(
                    AuthErrorKind::VerifierUnavailable,
                    "DPoP replay detection is unavailable",
                )
            })?;
        if !fresh {
            return Err(invalid("the DPoP proof was used before"));
        }
        Ok(())
    }
}

/// A DPoP proof whose JWS holds (RFC 9449 §4.3, checks 2 to 6): a compact JWS with `typ`
/// `dpop+jwt`, an accepted asymmetric `alg`, a public `jwk` that fits it, and a signature by
/// that key. What the claims must say depends on who checks the proof (the layer, or the dev
/// issuer's token endpoint), so they are left to the caller.
pub(crate) struct SignedProof {
    pub(crate) claims: Map<String, Value>,
    /// The RFC 7638 thumbprint of the proof's `jwk`.
    pub(crate) jkt: String,
}

impl SignedProof {
    /// Checks the JWS of `proof`, signed with an algorithm `accepts` allows, and, when the
    /// proof is for a bound token, by the key of thumbprint `bound_to`.
    ///
    /// # Errors
    ///
    /// The `error_description` of an `invalid_dpop_proof`.
    pub(crate) fn verify(
        proof: &str,
        accepts: impl Fn(Algorithm) -> bool,
        bound_to: Option<&str>,
    ) -> Result<Self, &'static str> {
        let parsed = ParsedToken::parse(proof).map_err(|_| "the DPoP proof is malformed")?;
        let header = &parsed
            .header()
            .map_err(|_| "the DPoP proof is malformed")?
            .into_map();
        let typ = header
            .get("typ")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let typ = typ.strip_prefix("application/").unwrap_or(typ);
        if !typ.eq_ignore_ascii_case("dpop+jwt") {
            return Err("the DPoP proof's typ is not dpop+jwt");
        }
        // No extension is understood (RFC 7515 §4.1.11), as for access tokens.
        if header.contains_key("crit") || header.contains_key("b64") {
            return Err("the DPoP proof has an unsupported critical header");
        }
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(Algorithm::from_name)
            .filter(|alg| alg.is_asymmetric() && accepts(*alg))
            .ok_or("the DPoP proof's algorithm is not accepted")?;
        let jwk = header
            .get("jwk")
            .and_then(Value::as_object)
            .ok_or("the DPoP proof has no jwk")?;
        let key = parse_jwk(&Value::Object(jwk.clone()))
            .map_err(|_| "the DPoP proof's jwk is not a usable public key")?;
        if !key.fits(alg) {
            return Err("the DPoP proof's algorithm does not fit its key");
        }
        // The key is compared before its signature is checked: a proof by another key than
        // the token's costs a hash, not a signature check (RSA-8192, say).
        let jkt = thumbprint(jwk).map_err(|_| "the DPoP proof's jwk is unusable")?;
        if bound_to.is_some_and(|bound_to| bound_to != jkt) {
            return Err("the DPoP proof is signed by another key than the token is bound to");
        }
        verify_signature(alg, &key, parsed.signing_input.as_bytes(), parsed.signature)
            .map_err(|_| "the DPoP proof's signature is invalid")?;
        // Parsed once the signature holds.
        let claims = parsed
            .claims()
            .map_err(|_| "the DPoP proof is malformed")?
            .into_map();
        Ok(Self { claims, jkt })
    }
}

fn invalid(description: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidDpopProof, description)
}

/// How long the `jti` of a proof dated `iat` is remembered, from `now` (seconds since the
/// Unix epoch): until the proof is older than the lifetime on every clock that may judge it,
/// that is, until `iat` + lifetime by a clock up to `skew` behind this one. At least a second
/// (the store's own clock may be a little behind), at most a century.
fn remember_for(iat: f64, now: f64, lifetime: f64, skew: f64) -> Duration {
    const CENTURY: f64 = 100.0 * 365.25 * 86_400.0;
    // `iat` is within [now - lifetime, now + skew]: finite, and the sum is not negative.
    let seconds = (iat + lifetime + skew - now).clamp(1.0, CENTURY);
    // Longer, not shorter, if it cannot be said.
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::from_secs(CENTURY as u64))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Stateless server nonces: the rotation slot and its HMAC under a secret of this process.
struct Nonces {
    secret: [u8; 32],
    rotation: f64,
}

impl Nonces {
    fn new(rotation: Duration) -> Result<Self, ConfigError> {
        if rotation.is_zero() {
            return Err(ConfigError::setting(
                "dpop nonces",
                "must be greater than zero",
            ));
        }
        let mut secret = [0; 32];
        getrandom::fill(&mut secret).map_err(|err| {
            ConfigError::setting(
                "dpop nonces",
                format!("no randomness for the secret: {err}"),
            )
        })?;
        Ok(Self {
            secret,
            rotation: rotation.as_secs_f64(),
        })
    }

    fn slot(&self, now: f64) -> u64 {
        // Non-negative and finite: seconds since the epoch over a positive rotation.
        (now / self.rotation) as u64
    }

    fn nonce_for(&self, slot: u64) -> Arc<str> {
        let mac = hmac_sha256(&self.secret, &slot.to_be_bytes());
        let mut raw = slot.to_be_bytes().to_vec();
        raw.extend_from_slice(&mac[..16]);
        Arc::from(URL_SAFE_NO_PAD.encode(raw))
    }

    fn current(&self, now: f64) -> Arc<str> {
        self.nonce_for(self.slot(now))
    }

    /// This slot's nonce or the previous one.
    fn is_valid(&self, nonce: &str, now: f64) -> bool {
        let slot = self.slot(now);
        [slot, slot.saturating_sub(1)]
            .into_iter()
            .any(|slot| *self.nonce_for(slot) == *nonce)
    }
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret stays out.
        f.debug_struct("Nonces")
            .field("rotation", &self.rotation)
            .finish_non_exhaustive()
    }
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut inner = Sha256::new();
    let mut outer = Sha256::new();
    let mut block = [0_u8; 64];
    block[..32].copy_from_slice(key);
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_outlives_every_clock_that_accepts_its_proof() {
        let now = 1_800_000_000.0;
        let (lifetime, skew) = (300.0, 60.0);
        for iat in [now - lifetime, now - 1.5, now, now + 0.5, now + skew] {
            let kept = remember_for(iat, now, lifetime, skew).as_secs_f64();
            // A clock `skew` behind ours accepts the proof until `iat + lifetime` by it.
            assert!((now + kept - (iat + lifetime + skew)).abs() < 1e-6, "{iat}");
        }
        // No skew, the oldest proof there is: a second, not nothing.
        assert_eq!(
            remember_for(now - lifetime, now, lifetime, 0.0),
            Duration::from_secs(1)
        );
        // `Duration::MAX` settings: a century, no panic.
        let max = Duration::MAX.as_secs_f64();
        let century = remember_for(now, now, max, max);
        assert_eq!(century.as_secs() / (365 * 86_400), 100);
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2 uses a short key; case 1 a 20-byte key. Ours are 32 bytes, so
        // check the construction against case 1 padded with zeros (the same HMAC: a key is
        // zero-padded to the block size).
        let mut key = [0_u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        let mac = hmac_sha256(&key, b"Hi There");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn nonces_rotate_and_stay_valid_for_one_more_slot() {
        let nonces = Nonces::new(Duration::from_secs(60)).expect("nonces");
        let now = 1_800_000_000.0;
        let current = nonces.current(now);
        assert!(nonces.is_valid(&current, now));
        assert!(nonces.is_valid(&current, now + 60.0), "one rotation later");
        assert!(
            !nonces.is_valid(&current, now + 120.0),
            "two rotations later"
        );
        assert!(!nonces.is_valid("made-up", now));
        let other = Nonces::new(Duration::from_secs(60)).expect("nonces");
        assert!(!other.is_valid(&current, now), "another secret");
    }
}
