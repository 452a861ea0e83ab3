//! The state the layer keeps between requests: a small key-value [`Store`].
//!
//! Session bindings (which principal an `Mcp-Session-Id` belongs to) live in a store. The
//! default, [`MemoryStore`], is bounded and per process; a store shared by several replicas
//! (Redis) makes the same state visible to all of them.
//!
//! Keys are namespaced and hashed ([`StoreKey`]): a session id, a token or a proof never
//! appears in a store, only its SHA-256. Every entry has a lifetime, and values are small.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::BoxError;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::RedisStore;

/// A key in a [`Store`]: `mcp-auth:<namespace>:<hex SHA-256 of the id>`.
///
/// # Example
///
/// ```
/// use mcp_auth::store::StoreKey;
///
/// let key = StoreKey::new("session", b"3f2a-session-id");
/// assert!(key.as_str().starts_with("mcp-auth:session:"));
/// assert!(!key.as_str().contains("3f2a"));
/// assert_eq!(key.as_str().len(), "mcp-auth:session:".len() + 64);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StoreKey(Arc<str>);

impl StoreKey {
    /// The key for `id` in `namespace` (a short ASCII name such as `session`).
    #[must_use]
    pub fn new(namespace: &str, id: &[u8]) -> Self {
        let digest = Sha256::digest(id);
        let mut key = String::with_capacity(10 + namespace.len() + 64);
        key.push_str("mcp-auth:");
        key.push_str(namespace);
        key.push(':');
        for byte in digest {
            key.push(char::from(HEX[usize::from(byte >> 4)]));
            key.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Self(key.into())
    }

    /// The key as stored.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreKey").field(&self.as_str()).finish()
    }
}

/// Why a [`Store`] could not answer (unreachable, timed out, refused).
///
/// The layer never treats an unanswered store as a "yes": what depends on it fails closed
/// (`503` with `Retry-After`).
///
/// # Formatting
///
/// The `Display` text and the source types are not stable API.
#[derive(Clone, Debug, thiserror::Error)]
#[error("the store is unavailable")]
pub struct StoreError {
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A store error caused by `source`.
    pub fn new(source: impl Into<BoxError>) -> Self {
        Self {
            source: Some(Arc::from(source.into())),
        }
    }
}

/// A small key-value store with per-entry lifetimes, shared by every request of a layer (and,
/// for a shared implementation, by every replica).
///
/// Implementations must be atomic per operation and bounded in time: a store that cannot
/// answer returns [`StoreError`] promptly rather than hanging the request.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use bytes::Bytes;
/// use mcp_auth::store::{MemoryStore, Store, StoreKey};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new(1_000);
/// let key = StoreKey::new("replay", b"jti-1");
/// let ttl = Duration::from_secs(60);
/// assert!(store.insert_if_absent(&key, Bytes::from_static(b"1"), ttl).await?);
/// assert!(!store.insert_if_absent(&key, Bytes::from_static(b"1"), ttl).await?);
/// assert_eq!(store.get(&key, None).await?.as_deref(), Some(&b"1"[..]));
/// # Ok::<(), mcp_auth::store::StoreError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait Store: fmt::Debug + Send + Sync + 'static {
    /// The value under `key`, if any. With `renew`, a found entry's lifetime starts again and
    /// lasts `renew` (an idle timeout).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot answer.
    async fn get(
        &self,
        key: &StoreKey,
        renew: Option<Duration>,
    ) -> Result<Option<Bytes>, StoreError>;

    /// Stores `value` under `key` for `ttl`, replacing any value.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot answer.
    async fn insert(&self, key: &StoreKey, value: Bytes, ttl: Duration) -> Result<(), StoreError>;

    /// Stores `value` under `key` for `ttl` unless the key is present, atomically; whether it
    /// stored.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot answer.
    async fn insert_if_absent(
        &self,
        key: &StoreKey,
        value: Bytes,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
}

/// The default [`Store`]: in process memory, bounded (the least recently used entries go
/// first when it is full), every entry with its own lifetime. Cheap to clone.
#[derive(Clone)]
pub struct MemoryStore {
    entries: Cache<StoreKey, Entry>,
}

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
}

impl MemoryStore {
    /// A store of at most `capacity` entries.
    #[must_use]
    pub fn new(capacity: u64) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(capacity)
                .expire_after(EntryExpiry)
                .build(),
        }
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &self.entries.policy().max_capacity())
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(
        &self,
        key: &StoreKey,
        renew: Option<Duration>,
    ) -> Result<Option<Bytes>, StoreError> {
        let Some(entry) = self.entries.get(key) else {
            return Ok(None);
        };
        if let Some(ttl) = renew {
            self.entries.insert(
                key.clone(),
                Entry {
                    value: entry.value.clone(),
                    ttl,
                },
            );
        }
        Ok(Some(entry.value))
    }

    async fn insert(&self, key: &StoreKey, value: Bytes, ttl: Duration) -> Result<(), StoreError> {
        self.entries.insert(key.clone(), Entry { value, ttl });
        Ok(())
    }

    async fn insert_if_absent(
        &self,
        key: &StoreKey,
        value: Bytes,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let entry = self
            .entries
            .entry(key.clone())
            .or_insert_with(|| Entry { value, ttl });
        Ok(entry.is_fresh())
    }
}

/// Each entry lives for its own `ttl`, counted again from every write.
struct EntryExpiry;

impl moka::Expiry<StoreKey, Entry> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &StoreKey,
        value: &Entry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &StoreKey,
        value: &Entry,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_expire_and_renew() {
        let store = MemoryStore::new(100);
        let key = StoreKey::new("t", b"a");
        let value = Bytes::from_static(b"v");
        store
            .insert(&key, value.clone(), Duration::from_millis(150))
            .await
            .expect("stored");
        // Renewed at 100 ms for another 150 ms: still there at 200 ms.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            store
                .get(&key, Some(Duration::from_millis(150)))
                .await
                .expect("answers"),
            Some(value.clone())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(store.get(&key, None).await.expect("answers").is_some());
        // Not renewed: gone after its lifetime.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(store.get(&key, None).await.expect("answers").is_none());
    }

    #[tokio::test]
    async fn insert_if_absent_is_atomic() {
        let store = MemoryStore::new(100);
        let key = StoreKey::new("t", b"jti");
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let store = store.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .insert_if_absent(&key, Bytes::from_static(b"1"), Duration::from_secs(60))
                    .await
            }));
        }
        let mut stored = 0;
        for task in tasks {
            stored += usize::from(task.await.expect("joins").expect("answers"));
        }
        assert_eq!(stored, 1);
    }

    #[test]
    fn keys_are_namespaced_hashes() {
        let a = StoreKey::new("session", b"id");
        assert_ne!(a, StoreKey::new("replay", b"id"));
        assert_ne!(a, StoreKey::new("session", b"id2"));
        assert_eq!(a, StoreKey::new("session", b"id"));
        assert!(!format!("{a:?}").contains("\"id\""));
    }
}
