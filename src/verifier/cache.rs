//! The token cache of the network verifiers: a token seen before costs a hash and a lookup,
//! not a signature check or a call to the authorization server.
//!
//! Entries are keyed by the SHA-256 of the token ([`TokenHash`]), never the token itself.
//! Accepted tokens live until their `exp` and no longer than a maximum (so that a revoked
//! token, or a key removed from the issuer's set, stops being honoured within that time);
//! refusals live for a short negative TTL. "Cannot decide now" is never cached. Concurrent
//! requests with the same new token share one verification.

use std::{
    collections::hash_map::RandomState,
    fmt,
    future::Future,
    hash::{BuildHasher, Hash, Hasher},
    time::{Duration, Instant, SystemTime},
};

use moka::{Expiry, future::Cache};
use sha2::{Digest, Sha256};

use super::VerifyError;
use crate::AuthInfo;

/// The SHA-256 of a token: what caches are keyed by.
///
/// Its [`Hash`] feeds 8 of the 32 bytes to the hasher as one `u64`: they are uniformly
/// distributed already, and equality still compares all 32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TokenHash([u8; 32]);

impl Hash for TokenHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut word = [0; 8];
        word.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_ne_bytes(word));
    }
}

/// The hasher of the token caches: one keyed multiply per [`TokenHash`] instead of SipHash.
///
/// The input is a SHA-256 output, but an attacker can still grind tokens whose hashes share
/// low bits (the bucket index), so the word is mixed with a per-process random key before it
/// picks a bucket: without the key, which bucket a token lands in cannot be predicted.
#[derive(Clone)]
pub(crate) struct TokenHasher {
    key: [u64; 2],
}

impl TokenHasher {
    pub(crate) fn new() -> Self {
        // The standard library's per-process random keys, without another dependency.
        let random = RandomState::new();
        Self {
            key: [random.hash_one(0_u8), random.hash_one(1_u8) | 1],
        }
    }
}

impl BuildHasher for TokenHasher {
    type Hasher = KeyedWord;

    fn build_hasher(&self) -> KeyedWord {
        KeyedWord {
            key: self.key,
            state: self.key[0],
        }
    }
}

/// The [`Hasher`] of [`TokenHasher`]: a folded 64×64→128-bit multiply per word written.
pub(crate) struct KeyedWord {
    key: [u64; 2],
    state: u64,
}

impl Hasher for KeyedWord {
    fn write_u64(&mut self, word: u64) {
        let product = u128::from(self.state ^ word) * u128::from(self.key[1]);
        // Truncation intended: the two halves of the product are folded together.
        #[allow(clippy::cast_possible_truncation)]
        let folded = (product as u64) ^ ((product >> 64) as u64);
        self.state = folded;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `TokenHash`; correct (if slower) for anything else.
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_ne_bytes(word));
        }
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

impl TokenHash {
    /// Hashes `token`.
    pub(crate) fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// What a verifier concluded about a token, as far as it can be remembered.
#[derive(Clone, Debug)]
pub(crate) enum Verdict {
    /// The token is valid, and this is what it says.
    Accepted(AuthInfo),
    /// The token is not acceptable.
    Refused(VerifyError),
    /// A verdict learnt from another replica, to be forgotten at `until` (when the replica
    /// that asked forgets it), however long it would be kept by itself.
    Until(Box<Self>, SystemTime),
}

impl Verdict {
    /// Sorts a verification result: an invalid token is a verdict, "cannot decide" is not.
    pub(crate) fn from_result(result: Result<AuthInfo, VerifyError>) -> Result<Self, VerifyError> {
        match result {
            Ok(info) => Ok(Self::Accepted(info)),
            Err(err) if err.is_invalid_token() => Ok(Self::Refused(err)),
            Err(err) => Err(err),
        }
    }

    /// This verdict, to be forgotten at `until` at the latest.
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) fn until(self, until: SystemTime) -> Self {
        Self::Until(Box::new(self), until)
    }

    fn into_result(self) -> Result<AuthInfo, VerifyError> {
        match self {
            Self::Accepted(info) => Ok(info),
            Self::Refused(err) => Err(err),
            Self::Until(verdict, _) => verdict.into_result(),
        }
    }

    /// Whether an accepted token has expired since it was cached (the entry's TTL already
    /// ends at `exp`; this guards against clock steps).
    fn is_stale(&self) -> bool {
        match self {
            Self::Accepted(info) => info
                .expires_at()
                .is_some_and(|exp| exp <= SystemTime::now()),
            Self::Refused(_) => false,
            Self::Until(verdict, until) => verdict.is_stale() || *until <= SystemTime::now(),
        }
    }
}

/// A bounded cache of verdicts. Cheap to clone.
#[derive(Clone)]
pub(crate) struct TokenCache {
    cache: Option<Cache<TokenHash, Verdict, TokenHasher>>,
    max_ttl: Duration,
    negative_ttl: Duration,
    /// The verifier it serves, for metrics.
    verifier: &'static str,
    /// Whether concurrent misses on one token share one verification.
    single_flight: bool,
}

impl TokenCache {
    /// A cache of at most `capacity` entries: accepted tokens kept at most `max_ttl`, refusals
    /// `negative_ttl`. A zero capacity or `max_ttl` turns caching (and the sharing of
    /// concurrent verifications) off.
    pub(crate) fn new(
        verifier: &'static str,
        capacity: u64,
        max_ttl: Duration,
        negative_ttl: Duration,
    ) -> Self {
        let cache = (capacity > 0 && !max_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(VerdictExpiry {
                    max_ttl,
                    negative_ttl,
                })
                .build_with_hasher(TokenHasher::new())
        });
        Self {
            cache,
            max_ttl,
            negative_ttl,
            verifier,
            single_flight: true,
        }
    }

    /// Concurrent misses on one token each verify it, instead of waiting for one
    /// verification: for a verifier that works locally, sharing costs more than it saves.
    pub(crate) fn without_single_flight(mut self) -> Self {
        self.single_flight = false;
        self
    }

    /// The cached verdict on the token hashed to `key`, or the one `verify` reaches. Concurrent
    /// callers with the same `key` share one `verify`; its `Err` ("cannot decide") is handed to
    /// each of them and not kept.
    pub(crate) async fn get_or_verify<F>(
        &self,
        key: TokenHash,
        verify: impl Fn() -> F,
    ) -> Result<AuthInfo, VerifyError>
    where
        F: Future<Output = Result<Verdict, VerifyError>>,
    {
        let Some(cache) = &self.cache else {
            return verify().await?.into_result();
        };
        if let Some(verdict) = cache.get(&key).await {
            if !verdict.is_stale() {
                crate::observe::token_cache(self.verifier, true);
                return verdict.into_result();
            }
            cache.invalidate(&key).await;
        }
        crate::observe::token_cache(self.verifier, false);
        if !self.single_flight {
            let verdict = verify().await?;
            if !self.ttl(&verdict).is_zero() {
                cache.insert(key, verdict.clone()).await;
            }
            return verdict.into_result();
        }
        cache
            .try_get_with(key, verify())
            .await
            .map_err(|err| (*err).clone())?
            .into_result()
    }

    /// How long `verdict` is kept.
    pub(crate) fn ttl(&self, verdict: &Verdict) -> Duration {
        VerdictExpiry {
            max_ttl: self.max_ttl,
            negative_ttl: self.negative_ttl,
        }
        .ttl(verdict)
    }

    /// The number of entries (approximate; for tests).
    #[cfg(test)]
    pub(crate) async fn len(&self) -> u64 {
        match &self.cache {
            Some(cache) => {
                cache.run_pending_tasks().await;
                cache.entry_count()
            }
            None => 0,
        }
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field(
                "capacity",
                &self.cache.as_ref().and_then(|c| c.policy().max_capacity()),
            )
            .field("max_ttl", &self.max_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .finish()
    }
}

/// Accepted tokens live until `exp` and at most `max_ttl`; refusals `negative_ttl`.
struct VerdictExpiry {
    max_ttl: Duration,
    negative_ttl: Duration,
}

impl VerdictExpiry {
    fn ttl(&self, verdict: &Verdict) -> Duration {
        match verdict {
            Verdict::Accepted(info) => match info.expires_at() {
                Some(exp) => exp
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
                    .min(self.max_ttl),
                None => self.max_ttl,
            },
            Verdict::Refused(_) => self.negative_ttl,
            Verdict::Until(verdict, until) => self.ttl(verdict).min(
                until
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO),
            ),
        }
    }
}

impl Expiry<TokenHash, Verdict> for VerdictExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenHash,
        value: &Verdict,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(self.ttl(value))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn accepted_until(exp: Option<SystemTime>) -> Verdict {
        let mut info = AuthInfo::builder().subject("alice");
        if let Some(exp) = exp {
            info = info.expires_at(exp);
        }
        Verdict::Accepted(info.build())
    }

    #[test]
    fn token_hasher_is_keyed_and_equality_uses_every_byte() {
        let a = TokenHash::of("a");
        let (one, two) = (TokenHasher::new(), TokenHasher::new());
        assert_eq!(one.hash_one(a), one.hash_one(a));
        assert_ne!(one.hash_one(a), two.hash_one(a), "keys differ per hasher");
        // The same first 8 bytes: the same bucket, still two keys.
        let mut b = a;
        b.0[31] ^= 1;
        assert_eq!(one.hash_one(a), one.hash_one(b));
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn hashes_sharing_a_prefix_are_separate_entries() {
        let cache = TokenCache::new("test", 10, Duration::from_secs(60), Duration::from_secs(5));
        let a = TokenHash::of("a");
        let mut b = a;
        b.0[31] ^= 1;
        let alice = cache
            .get_or_verify(a, || async { Ok(accepted_until(None)) })
            .await
            .unwrap();
        let refused = cache
            .get_or_verify(b, || async {
                Ok(Verdict::Refused(VerifyError::invalid_token("no")))
            })
            .await;
        assert_eq!(alice.subject(), Some("alice"));
        assert!(refused.is_err());
        assert!(
            cache
                .get_or_verify(a, || async { unreachable!() })
                .await
                .is_ok()
        );
    }

    #[test]
    fn entries_live_until_exp_capped_by_max_ttl() {
        let policy = VerdictExpiry {
            max_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
        };
        let now = SystemTime::now();
        // Before the cap: until `exp` (less the few instants since `now`).
        let until_exp = policy.ttl(&accepted_until(Some(now + Duration::from_secs(20))));
        assert!(until_exp <= Duration::from_secs(20), "{until_exp:?}");
        assert!(until_exp > Duration::from_secs(19), "{until_exp:?}");
        // Beyond the cap, or without `exp`: the cap.
        assert_eq!(
            policy.ttl(&accepted_until(Some(now + Duration::from_secs(3600)))),
            policy.max_ttl
        );
        assert_eq!(policy.ttl(&accepted_until(None)), policy.max_ttl);
        // Already expired (or a clock step past it): gone at once.
        assert_eq!(
            policy.ttl(&accepted_until(Some(now - Duration::from_secs(1)))),
            Duration::ZERO
        );
        // Refusals: the negative TTL, whatever else.
        let refused = Verdict::Refused(VerifyError::invalid_token("token is not active"));
        assert_eq!(policy.ttl(&refused), policy.negative_ttl);
    }

    #[tokio::test]
    async fn entries_are_dropped_at_exp() {
        let cache = TokenCache::new("test", 100, Duration::from_secs(3600), Duration::ZERO);
        let calls = AtomicUsize::new(0);
        // moka keeps its own clock, so this waits in real time.
        let exp = SystemTime::now() + Duration::from_millis(300);
        let verify = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(accepted_until(Some(exp)))
        };
        let key = TokenHash::of("token-a");
        assert!(cache.get_or_verify(key, verify).await.is_ok());
        assert!(cache.get_or_verify(key, verify).await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the second call is a hit");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(cache.get_or_verify(key, verify).await.is_ok());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "gone at exp, verified again"
        );
    }

    #[tokio::test]
    async fn refusals_live_for_the_negative_ttl_and_errors_not_at_all() {
        let cache = TokenCache::new(
            "test",
            100,
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        let calls = AtomicUsize::new(0);
        let refuse = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Verdict::Refused(VerifyError::invalid_token("no")))
        };
        let key = TokenHash::of("bad");
        for _ in 0..3 {
            let err = cache.get_or_verify(key, refuse).await.expect_err("refused");
            assert!(err.is_invalid_token());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let unavailable = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(VerifyError::unavailable("down"))
        };
        let key = TokenHash::of("unknown");
        for _ in 0..3 {
            let err = cache
                .get_or_verify(key, unavailable)
                .await
                .expect_err("unavailable");
            assert!(err.is_unavailable());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4, "errors are not cached");
        assert_eq!(cache.len().await, 1);
    }

    #[tokio::test]
    async fn caching_off_verifies_every_time() {
        let off = TokenCache::new("test", 0, Duration::from_secs(60), Duration::ZERO);
        let calls = AtomicUsize::new(0);
        let verify = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(accepted_until(None))
        };
        for _ in 0..2 {
            assert!(off.get_or_verify(TokenHash::of("y"), verify).await.is_ok());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn key_is_a_hash_not_the_token() {
        let key = TokenHash::of("secret-token");
        assert!(!key.as_bytes().windows(6).any(|w| w == b"secret"));
        assert_ne!(key, TokenHash::of("secret-token2"));
    }
}
