//! The signing keys of one issuer: a parsed JWK set, and the cache that keeps it current.
//!
//! Keys are parsed one by one, so a key this crate cannot use (an encryption key, a symmetric
//! key, a private key, a small RSA key, an unknown key type such as a post-quantum one, or bad
//! material) is skipped with a warning instead of failing the whole set. Each usable key is
//! turned into a `DecodingKey` once, when the set is loaded.
//!
//! The remote cache fetches lazily, refreshes on the schedule the server's `Cache-Control`
//! asks for (clamped), refreshes early on an unknown `kid` at most once per minimum interval
//! with one request in flight shared by every waiting caller, and keeps the last good set
//! (for a bounded time) when a refresh fails.

use std::{
    fmt,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use base64::Engine as _;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};
use tokio::sync::OwnedMutexGuard;
use url::Url;

use super::{
    VerifyError,
    discovery::{self, AuthorizationServerMetadata},
    http::{FetchError, HttpClient, cache_max_age},
    jwt::Algorithm,
};

/// The smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits (aws-lc-rs verifies up to 8192).
const MAX_RSA_BITS: usize = 8192;

/// What kind of key a [`Key`] is, which fixes the algorithms it can verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    EcP256,
    EcP384,
    Ed25519,
    Hmac,
    Rsa,
}

impl KeyFamily {
    fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        matches!(
            (self, alg),
            (Self::EcP256, Es256)
                | (Self::EcP384, Es384)
                | (Self::Ed25519, EdDsa)
                | (Self::Hmac, Hs256 | Hs384 | Hs512)
                | (Self::Rsa, Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512)
        )
    }
}

/// One usable verification key.
pub(crate) struct Key {
    kid: Option<String>,
    family: KeyFamily,
    alg: Option<Algorithm>,
    decoding: DecodingKey,
}

impl Key {
    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    fn fits(&self, alg: Algorithm) -> bool {
        self.family.fits(alg) && self.alg.is_none_or(|own| own == alg)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The outcome of looking a key up for a token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Selection {
    /// Exactly one key fits.
    Found(usize),
    /// Several keys fit (duplicate `kid`, or no `kid` and several candidates).
    Ambiguous,
    /// A key has the token's `kid` but cannot verify the token's `alg`.
    Mismatch,
    /// No key fits: the set may be out of date.
    Unknown,
}

/// A set of usable keys.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
    skipped: Vec<String>,
}

impl KeySet {
    /// Parses a JWK set document (`{"keys": [...]}`), skipping the keys that cannot be used.
    pub(crate) fn from_jwks(document: &Value) -> Result<Self, &'static str> {
        let keys = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("JWK set has no \"keys\" array")?;
        let mut set = Self::default();
        for (index, jwk) in keys.iter().enumerate() {
            match parse_jwk(jwk) {
                Ok(key) => set.keys.push(key),
                Err(reason) => {
                    let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or("");
                    log_warn!(index, kid, reason, "skipping unusable JWK");
                    set.skipped
                        .push(format!("key {index} (kid {kid:?}): {reason}"));
                }
            }
        }
        Ok(set)
    }

    /// A set holding one key without a `kid`.
    pub(crate) fn single(family: KeyFamily, decoding: DecodingKey) -> Self {
        Self {
            keys: vec![Key {
                kid: None,
                family,
                alg: None,
                decoding,
            }],
            skipped: Vec::new(),
        }
    }

    /// The number of usable keys.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Why keys were skipped, one line per key.
    pub(crate) fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The key at `index` (from [`select`](Self::select)).
    #[cfg(all(test, any(feature = "jwt-aws-lc-rs", feature = "jwt-rust-crypto")))]
    pub(crate) fn key_at(&self, index: usize) -> &Key {
        &self.keys[index]
    }

    /// Picks the key for a token with this `kid` and `alg`.
    ///
    /// A key with the token's `kid` is used when exactly one such key fits the algorithm. Keys
    /// without a `kid` are candidates when no key carries the token's `kid` (or the token has
    /// none). Two or more candidates are ambiguous: no "first wins".
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection {
        if let Some(kid) = kid {
            let mut named = self
                .keys
                .iter()
                .enumerate()
                .filter(|(_, key)| key.kid.as_deref() == Some(kid))
                .peekable();
            if named.peek().is_some() {
                let fitting: Vec<usize> = named
                    .filter(|(_, key)| key.fits(alg))
                    .map(|(i, _)| i)
                    .collect();
                return match fitting.as_slice() {
                    [] => Selection::Mismatch,
                    [one] => Selection::Found(*one),
                    _ => Selection::Ambiguous,
                };
            }
        }
        let mut anonymous = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, key)| key.kid.is_none() || kid.is_none())
            .filter(|(_, key)| key.fits(alg))
            .map(|(i, _)| i);
        match (anonymous.next(), anonymous.next()) {
            (None, _) => Selection::Unknown,
            (Some(one), None) => Selection::Found(one),
            (Some(_), Some(_)) => Selection::Ambiguous,
        }
    }
}

/// Parses one JWK into a usable verification key, or says why it is not usable.
fn parse_jwk(jwk: &Value) -> Result<Key, &'static str> {
    let jwk = jwk.as_object().ok_or("not a JSON object")?;
    let kty = str_member(jwk, "kty")?.ok_or("missing \"kty\"")?;
    if str_member(jwk, "use")?.is_some_and(|usage| usage != "sig") {
        return Err("\"use\" is not \"sig\"");
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops.as_array().ok_or("\"key_ops\" is not an array")?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err("\"key_ops\" does not allow \"verify\"");
        }
    }
    let kid = str_member(jwk, "kid")?.map(str::to_owned);
    let alg = match str_member(jwk, "alg")? {
        Some(alg) => Some(Algorithm::from_name(alg).ok_or("unsupported \"alg\"")?),
        None => None,
    };
    let (family, decoding) = match kty {
        "RSA" => {
            reject_private(jwk, &["d", "p", "q", "dp", "dq", "qi", "oth"])?;
            let n = b64_member(jwk, "n")?;
            let e = b64_member(jwk, "e")?;
            (KeyFamily::Rsa, rsa_decoding_key(&n, &e)?)
        }
        "EC" => {
            reject_private(jwk, &["d"])?;
            let (family, len) = match str_member(jwk, "crv")? {
                Some("P-256") => (KeyFamily::EcP256, 32),
                Some("P-384") => (KeyFamily::EcP384, 48),
                _ => return Err("unsupported or missing EC \"crv\""),
            };
            let x = b64_member(jwk, "x")?;
            let y = b64_member(jwk, "y")?;
            if x.len() != len || y.len() != len {
                return Err("EC coordinates have the wrong length");
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (family, DecodingKey::from_ec_der(&point))
        }
        "OKP" => {
            reject_private(jwk, &["d"])?;
            if str_member(jwk, "crv")? != Some("Ed25519") {
                return Err("unsupported or missing OKP \"crv\"");
            }
            let x = b64_member(jwk, "x")?;
            if x.len() != 32 {
                return Err("Ed25519 key has the wrong length");
            }
            (KeyFamily::Ed25519, DecodingKey::from_ed_der(&x))
        }
        "oct" => return Err("symmetric keys are never taken from a JWK set"),
        _ => return Err("unsupported \"kty\""),
    };
    if alg.is_some_and(|alg| !family.fits(alg)) {
        return Err("\"alg\" does not match the key type");
    }
    Ok(Key {
        kid,
        family,
        alg,
        decoding,
    })
}

fn str_member<'a>(
    jwk: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, &'static str> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err("a member has the wrong JSON type"),
    }
}

fn b64_member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, &'static str> {
    let value = str_member(jwk, name)?.ok_or("missing key material")?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| "key material is not canonical base64url")
}

fn reject_private(jwk: &Map<String, Value>, members: &[&str]) -> Result<(), &'static str> {
    if members.iter().any(|m| jwk.contains_key(*m)) {
        return Err("private key members present");
    }
    Ok(())
}

/// Checks an RSA public key's size and exponent, and builds its decoding key from the
/// big-endian components without leading zeros (which some backends refuse).
pub(crate) fn rsa_decoding_key(n: &[u8], e: &[u8]) -> Result<DecodingKey, &'static str> {
    let n = strip_leading_zeros(n);
    let bits = match n.first() {
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    };
    if bits < MIN_RSA_BITS {
        return Err("RSA key is smaller than 2048 bits");
    }
    if bits > MAX_RSA_BITS {
        return Err("RSA key is larger than 8192 bits");
    }
    let e = strip_leading_zeros(e);
    let odd = e.last().is_some_and(|last| last & 1 == 1);
    if !odd || e.len() > 8 || e == [1] {
        return Err("RSA exponent is not usable");
    }
    Ok(DecodingKey::from_rsa_raw_components(n, e))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// How often a remote key set is refreshed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RefreshPolicy {
    /// Used when the response has no usable `Cache-Control: max-age`.
    pub(crate) default_interval: Duration,
    /// Lower bound for `max-age`, and the minimum time between two fetches.
    pub(crate) min_interval: Duration,
    /// Upper bound for `max-age`.
    pub(crate) max_interval: Duration,
    /// How long past its refresh time a set is still used while refreshes fail.
    pub(crate) max_staleness: Duration,
}

/// Where an issuer's keys come from.
pub(crate) enum KeySource {
    Static(Arc<Snapshot>),
    Remote(Arc<RemoteKeys>),
}

impl KeySource {
    /// Picks the key for a token, fetching or refreshing the set when needed.
    pub(crate) async fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<SelectedKey, VerifyError> {
        match self {
            Self::Static(snapshot) => match snapshot.keys.select(kid, alg) {
                Selection::Found(index) => Ok(SelectedKey {
                    snapshot: Arc::clone(snapshot),
                    index,
                }),
                other => Err(selection_error(&other)),
            },
            Self::Remote(remote) => RemoteKeys::select(remote, kid, alg).await,
        }
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(snapshot) => f.debug_tuple("Static").field(&snapshot.keys.len()).finish(),
            Self::Remote(remote) => f.debug_tuple("Remote").field(remote).finish(),
        }
    }
}

/// A key set as loaded at one point in time.
#[derive(Debug)]
pub(crate) struct Snapshot {
    keys: KeySet,
    generation: u64,
    refresh_at: Instant,
    usable_until: Option<Instant>,
}

impl Snapshot {
    /// A set that never expires (static keys).
    pub(crate) fn fixed(keys: KeySet) -> Self {
        let now = Instant::now();
        Self {
            keys,
            generation: 0,
            refresh_at: now,
            usable_until: None,
        }
    }

    fn usable(&self, now: Instant) -> bool {
        self.usable_until.is_none_or(|until| now < until)
    }
}

/// A key picked for a token; holds its key set alive.
#[derive(Debug)]
pub(crate) struct SelectedKey {
    snapshot: Arc<Snapshot>,
    index: usize,
}

impl SelectedKey {
    pub(crate) fn key(&self) -> &Key {
        // The index came from `select` on this very snapshot, which is immutable.
        &self.snapshot.keys.keys[self.index]
    }
}

/// A JWK set fetched from the authorization server and kept current.
pub(crate) struct RemoteKeys {
    issuer: String,
    issuer_url: Url,
    jwks_uri: Option<Url>,
    client: HttpClient,
    policy: RefreshPolicy,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Held for the whole of a fetch, by the task that runs it (see `fetch_detached`).
    refresh: Arc<tokio::sync::Mutex<RefreshState>>,
}

#[derive(Default)]
struct RefreshState {
    generation: u64,
    last_attempt: Option<Instant>,
    last_error: Option<VerifyError>,
    metadata: Option<Arc<AuthorizationServerMetadata>>,
}

impl RemoteKeys {
    /// Keys from `jwks_uri`, or from the `jwks_uri` that discovery on `issuer` finds.
    pub(crate) fn new(
        issuer: String,
        issuer_url: Url,
        jwks_uri: Option<Url>,
        client: HttpClient,
        policy: RefreshPolicy,
    ) -> Self {
        Self {
            issuer,
            issuer_url,
            jwks_uri,
            client,
            policy,
            current: RwLock::new(None),
            refresh: Arc::new(tokio::sync::Mutex::new(RefreshState::default())),
        }
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        // A poisoned lock only means a panic elsewhere while holding it; the value (an `Arc`
        // swap) is always consistent, so keep using it.
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn store(&self, snapshot: Arc<Snapshot>) {
        match self.current.write() {
            Ok(mut guard) => *guard = Some(snapshot),
            Err(poisoned) => *poisoned.into_inner() = Some(snapshot),
        }
    }

    async fn select(
        this: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<SelectedKey, VerifyError> {
        let mut seen_generation = None;
        if let Some(snapshot) = this.current() {
            let now = Instant::now();
            if snapshot.usable(now) {
                let snapshot = if now >= snapshot.refresh_at {
                    Self::refresh_if_idle(this).await;
                    this.current().unwrap_or(snapshot)
                } else {
                    snapshot
                };
                match snapshot.keys.select(kid, alg) {
                    Selection::Found(index) => return Ok(SelectedKey { snapshot, index }),
                    Selection::Unknown => seen_generation = Some(snapshot.generation),
                    other => return Err(selection_error(&other)),
                }
            }
        }

        // No usable set, or the key is unknown: fetch, unless a fetch happened since we looked
        // or one happened too recently. One fetch at a time; the others wait for its result.
        let mut state = Arc::clone(&this.refresh).lock_owned().await;
        let now = Instant::now();
        let fresh = this
            .current()
            .filter(|s| s.usable(now) && Some(s.generation) != seen_generation);
        let snapshot = match fresh {
            Some(snapshot) => Some(snapshot),
            None if this.may_fetch(&state, now) => {
                Self::fetch_detached(this, state).await;
                state = Arc::clone(&this.refresh).lock_owned().await;
                this.current().filter(|s| s.usable(Instant::now()))
            }
            None => this.current().filter(|s| s.usable(now)),
        };
        let Some(snapshot) = snapshot else {
            return Err(this.unavailable(&state));
        };
        match snapshot.keys.select(kid, alg) {
            Selection::Found(index) => Ok(SelectedKey { snapshot, index }),
            // The newest set does not have the key. If the last fetch failed, the key may be
            // in the set we could not get: that is not the token's fault.
            Selection::Unknown if state.last_error.is_some() => Err(this.unavailable(&state)),
            other => Err(selection_error(&other)),
        }
    }

    /// Refreshes a set that is due, unless a refresh is already running (then the caller goes
    /// on with the current set) or the last attempt was too recent.
    async fn refresh_if_idle(this: &Arc<Self>) {
        let Ok(state) = Arc::clone(&this.refresh).try_lock_owned() else {
            return;
        };
        let due = this
            .current()
            .is_none_or(|snapshot| Instant::now() >= snapshot.refresh_at);
        if due && this.may_fetch(&state, Instant::now()) {
            Self::fetch_detached(this, state).await;
        }
    }

    /// Runs a fetch in its own task, which holds the refresh lock until the fetch is done.
    ///
    /// The request that started it may be dropped (the client went away, the layer's timeout
    /// fired) without aborting the fetch: otherwise a cancelled fetch would leave no key set and
    /// a recent `last_attempt`, and every request would get `503` until the next allowed fetch.
    async fn fetch_detached(this: &Arc<Self>, mut state: OwnedMutexGuard<RefreshState>) {
        let task_this = Arc::clone(this);
        let task = tokio::spawn(async move {
            // Errors are kept in `state`.
            let _ = task_this.fetch(&mut state).await;
        });
        // A failed join means the fetch task panicked; the caller reads the state as it is.
        let _ = task.await;
    }

    fn may_fetch(&self, state: &RefreshState, now: Instant) -> bool {
        state
            .last_attempt
            .is_none_or(|last| now.saturating_duration_since(last) >= self.policy.min_interval)
    }

    fn unavailable(&self, state: &RefreshState) -> VerifyError {
        let wait = state.last_attempt.map_or(Duration::ZERO, |last| {
            self.policy.min_interval.saturating_sub(last.elapsed())
        });
        let err = state
            .last_error
            .clone()
            .unwrap_or_else(|| VerifyError::unavailable("signing keys are unavailable"));
        err.with_retry_after(wait.max(Duration::from_secs(1)))
    }

    /// Fetches the key set (discovering the JWKS URL first if needed) and stores it.
    async fn fetch(&self, state: &mut RefreshState) -> Result<(), VerifyError> {
        state.last_attempt = Some(Instant::now());
        let result = self.fetch_inner(state).await;
        match &result {
            Ok(snapshot) => {
                state.last_error = None;
                self.store(Arc::clone(snapshot));
            }
            Err(err) => {
                log_warn!(issuer = %self.issuer, error = %err, "JWKS refresh failed");
                state.last_error = Some(err.clone());
            }
        }
        result.map(|_| ())
    }

    async fn fetch_inner(&self, state: &mut RefreshState) -> Result<Arc<Snapshot>, VerifyError> {
        let jwks_uri = match &self.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let metadata = self.metadata_locked(state).await?;
                metadata.jwks_url().cloned().ok_or_else(|| {
                    VerifyError::unavailable("signing keys are unavailable")
                        .with_source("authorization server metadata has no jwks_uri")
                })?
            }
        };
        let (document, headers) =
            self.client
                .get_json::<Value>(&jwks_uri)
                .await
                .map_err(|err| {
                    if err.is_not_found() && self.jwks_uri.is_none() {
                        // The metadata may be out of date: discover again next time.
                        state.metadata = None;
                    }
                    fetch_unavailable(err)
                })?;
        let keys = KeySet::from_jwks(&document).map_err(|reason| {
            VerifyError::unavailable("signing keys are unavailable").with_source(reason)
        })?;
        let policy = self.policy;
        let interval = cache_max_age(&headers)
            .unwrap_or(policy.default_interval)
            .clamp(
                policy.min_interval,
                policy.max_interval.max(policy.min_interval),
            );
        let now = Instant::now();
        state.generation += 1;
        Ok(Arc::new(Snapshot {
            keys,
            generation: state.generation,
            refresh_at: now + interval,
            usable_until: Some(now + interval + policy.max_staleness),
        }))
    }

    async fn metadata_locked(
        &self,
        state: &mut RefreshState,
    ) -> Result<Arc<AuthorizationServerMetadata>, VerifyError> {
        if let Some(metadata) = &state.metadata {
            return Ok(Arc::clone(metadata));
        }
        let metadata = discovery::discover(&self.client, &self.issuer, &self.issuer_url)
            .await
            .map(Arc::new)
            .map_err(|err| {
                VerifyError::unavailable("authorization server metadata is unavailable")
                    .with_source(err)
            })?;
        state.metadata = Some(Arc::clone(&metadata));
        Ok(metadata)
    }

    /// The authorization server's metadata, discovered once and kept.
    pub(crate) async fn metadata(&self) -> Result<Arc<AuthorizationServerMetadata>, VerifyError> {
        let mut state = self.refresh.lock().await;
        self.metadata_locked(&mut state).await
    }
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("issuer", &self.issuer)
            .field("jwks_uri", &self.jwks_uri.as_ref().map(Url::as_str))
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn fetch_unavailable(err: FetchError) -> VerifyError {
    VerifyError::unavailable("signing keys are unavailable").with_source(err)
}

fn selection_error(selection: &Selection) -> VerifyError {
    VerifyError::invalid_token(match selection {
        Selection::Ambiguous => "token signing key is ambiguous",
        Selection::Mismatch => "token algorithm does not match its signing key",
        Selection::Found(_) | Selection::Unknown => "token signing key is unknown",
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn rsa_n(bits: usize) -> String {
        let mut n = vec![0xff_u8; bits / 8];
        n[0] = 0xc1;
        b64(&n)
    }

    fn ec(kid: &str) -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&[1; 32]), "y": b64(&[2; 32])})
    }

    #[test]
    fn unusable_keys_are_skipped_not_fatal() {
        let rsa = |extra: Value| {
            let mut key = json!({"kty": "RSA", "kid": "r", "n": rsa_n(2048), "e": "AQAB"});
            if let (Some(key), Some(extra)) = (key.as_object_mut(), extra.as_object()) {
                key.extend(extra.clone());
            }
            key
        };
        let cases = [
            ("good rsa", rsa(json!({})), true),
            ("good rsa with alg", rsa(json!({"alg": "PS256"})), true),
            ("encryption key", rsa(json!({"use": "enc"})), false),
            (
                "key_ops without verify",
                rsa(json!({"key_ops": ["encrypt"]})),
                false,
            ),
            ("private rsa", rsa(json!({"d": "AQAB"})), false),
            ("small rsa", rsa(json!({"n": rsa_n(1024)})), false),
            ("even exponent", rsa(json!({"e": "Ag"})), false),
            ("alg of another family", rsa(json!({"alg": "ES256"})), false),
            ("unknown alg", rsa(json!({"alg": "RSA-OAEP"})), false),
            ("padded base64", rsa(json!({"e": "AQAB="})), false),
            ("kid of wrong type", rsa(json!({"kid": 7})), false),
            ("symmetric", json!({"kty": "oct", "k": "c2VjcmV0"}), false),
            (
                "post-quantum",
                json!({"kty": "AKP", "alg": "ML-DSA-44", "pub": "AAAA"}),
                false,
            ),
            (
                "secp256k1",
                json!({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}),
                false,
            ),
            (
                "short ec",
                json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 31]), "y": b64(&[1; 32])}),
                false,
            ),
            ("good ec", ec("e"), true),
            (
                "ed448",
                json!({"kty": "OKP", "crv": "Ed448", "x": b64(&[1; 57])}),
                false,
            ),
            (
                "good ed25519",
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[1; 32])}),
                true,
            ),
            ("not an object", json!("key"), false),
        ];
        for (name, jwk, usable) in cases {
            let set = KeySet::from_jwks(&json!({ "keys": [jwk] })).expect("set parses");
            assert_eq!(set.len() == 1, usable, "{name}: {:?}", set.skipped());
            assert_eq!(set.skipped().len() == 1, !usable, "{name}");
        }
        assert!(KeySet::from_jwks(&json!({"kids": []})).is_err());
    }

    #[test]
    fn selection_is_never_first_wins() {
        let set =
            KeySet::from_jwks(&json!({"keys": [ec("a"), ec("b"), ec("b")]})).expect("set parses");
        assert_eq!(set.select(Some("a"), Algorithm::Es256), Selection::Found(0));
        assert_eq!(
            set.select(Some("b"), Algorithm::Es256),
            Selection::Ambiguous
        );
        assert_eq!(set.select(Some("c"), Algorithm::Es256), Selection::Unknown);
        assert_eq!(set.select(Some("a"), Algorithm::Rs256), Selection::Mismatch);
        assert_eq!(set.select(None, Algorithm::Es256), Selection::Ambiguous);

        let one = KeySet::from_jwks(&json!({"keys": [ec("a")]})).expect("set parses");
        assert_eq!(one.select(None, Algorithm::Es256), Selection::Found(0));
        assert_eq!(one.select(None, Algorithm::Es384), Selection::Unknown);

        let mut anonymous = ec("x");
        if let Some(key) = anonymous.as_object_mut() {
            key.remove("kid");
        }
        let wildcard = KeySet::from_jwks(&json!({"keys": [anonymous]})).expect("set parses");
        assert_eq!(
            wildcard.select(Some("any"), Algorithm::Es256),
            Selection::Found(0)
        );
    }
}
