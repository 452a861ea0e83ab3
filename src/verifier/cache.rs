//! The verified-token cache: a token seen and verified before is accepted again for a hash
//! and a lookup.
//!
//! Entries are keyed by the SHA-256 of the token, never the token itself, and live no longer
//! than the token's `exp` and no longer than a configured maximum (so that a key removed from
//! the issuer's set, or a revoked session, stops being honoured within that time).

use std::{
    fmt,
    time::{Duration, Instant, SystemTime},
};

use moka::{Expiry, future::Cache};
use sha2::{Digest, Sha256};

use crate::AuthInfo;

/// The cache key: SHA-256 of the token.
pub(crate) type TokenHash = [u8; 32];

/// A bounded cache of verified tokens. Cheap to clone.
#[derive(Clone)]
pub(crate) struct TokenCache {
    cache: Option<Cache<TokenHash, AuthInfo>>,
    max_ttl: Duration,
}

impl TokenCache {
    /// A cache of at most `capacity` entries, each kept at most `max_ttl`. A zero capacity or
    /// TTL disables caching.
    pub(crate) fn new(capacity: u64, max_ttl: Duration) -> Self {
        let cache = (capacity > 0 && !max_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(TokenExpiry { max_ttl })
                .build()
        });
        Self { cache, max_ttl }
    }

    /// Hashes a token into its cache key.
    pub(crate) fn hash(token: &str) -> TokenHash {
        Sha256::digest(token.as_bytes()).into()
    }

    /// A cached, still unexpired verification result.
    pub(crate) async fn get(&self, key: &TokenHash) -> Option<AuthInfo> {
        let info = self.cache.as_ref()?.get(key).await?;
        // The entry's TTL already ends at `exp`; this guards against clock steps.
        match info.expires_at() {
            Some(exp) if exp > SystemTime::now() => Some(info),
            _ => None,
        }
    }

    /// Remembers a verification result until the token expires (or the maximum TTL).
    pub(crate) async fn insert(&self, key: TokenHash, info: AuthInfo) {
        let Some(cache) = &self.cache else { return };
        if ttl_for(&info, self.max_ttl).is_some_and(|ttl| !ttl.is_zero()) {
            cache.insert(key, info).await;
        }
    }

    /// The number of entries (approximate; for tests and debugging).
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
            .field("enabled", &self.cache.is_some())
            .field(
                "capacity",
                &self.cache.as_ref().and_then(|c| c.policy().max_capacity()),
            )
            .field("max_ttl", &self.max_ttl)
            .finish()
    }
}

/// How long an entry may live: until `exp`, capped at `max_ttl`. `None` without an `exp`.
fn ttl_for(info: &AuthInfo, max_ttl: Duration) -> Option<Duration> {
    let exp = info.expires_at()?;
    let left = exp
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Some(left.min(max_ttl))
}

struct TokenExpiry {
    max_ttl: Duration,
}

impl Expiry<TokenHash, AuthInfo> for TokenExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenHash,
        value: &AuthInfo,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(ttl_for(value, self.max_ttl).unwrap_or(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_live_no_longer_than_exp() {
        let cache = TokenCache::new(100, Duration::from_secs(3600));
        let soon = AuthInfo::builder()
            .expires_at(SystemTime::now() + Duration::from_millis(200))
            .build();
        let key = TokenCache::hash("token-a");
        cache.insert(key, soon).await;
        assert!(cache.get(&key).await.is_some());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(cache.get(&key).await.is_none());
    }

    #[tokio::test]
    async fn entries_live_no_longer_than_max_ttl() {
        let cache = TokenCache::new(100, Duration::from_millis(100));
        let later = AuthInfo::builder()
            .expires_at(SystemTime::now() + Duration::from_secs(3600))
            .build();
        let key = TokenCache::hash("token-b");
        cache.insert(key, later).await;
        assert!(cache.get(&key).await.is_some());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(cache.get(&key).await.is_none());
    }

    #[tokio::test]
    async fn tokens_without_exp_or_with_caching_off_are_not_kept() {
        let cache = TokenCache::new(100, Duration::from_secs(60));
        cache
            .insert(TokenCache::hash("x"), AuthInfo::builder().build())
            .await;
        assert_eq!(cache.len().await, 0);

        let off = TokenCache::new(0, Duration::from_secs(60));
        let info = AuthInfo::builder()
            .expires_at(SystemTime::now() + Duration::from_secs(60))
            .build();
        off.insert(TokenCache::hash("y"), info).await;
        assert!(off.get(&TokenCache::hash("y")).await.is_none());
    }

    #[test]
    fn key_is_a_hash_not_the_token() {
        let key = TokenCache::hash("secret-token");
        assert_eq!(key.len(), 32);
        assert!(!key.windows(6).any(|w| w == b"secret"));
        assert_ne!(key, TokenCache::hash("secret-token2"));
    }
}
