//! The state the layer keeps between requests: a small key-value [`Store`].
//!
//! Session bindings (which principal an `Mcp-Session-Id` belongs to) live in a store. The
//! default, [`MemoryStore`], is bounded and per process; a store shared by several replicas
//! (Redis) makes the same state visible to all of them.
//!
//! Keys are namespaced and hashed ([`StoreKey`]): a session id, a token or a proof never
//! appears in a store, only its SHA-256. Every entry has a lifetime, and values are small.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    fmt,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use bytes::Bytes;
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
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// The default [`Store`]: in process memory, bounded, every entry with its own lifetime.
/// Cheap to clone; the clones share the entries.
///
/// It never forgets a live entry to make room, because what the layer keeps here decides
/// requests: a forgotten DPoP `jti` would let its proof be replayed. When it holds `capacity`
/// live entries, writing a new key fails with [`StoreError`] (and what depends on it fails
/// closed, `503` with `Retry-After`) until entries expire. The capacity counts the whole
/// store, whichever keys fill it.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Locked one at a time, by key, so that requests do not wait on each other.
    shards: Box<[Mutex<Shard>]>,
    capacity: usize,
    /// Entries in all shards, expired ones not yet purged included.
    len: AtomicUsize,
}

const SHARDS: usize = 16;

#[derive(Default)]
struct Shard {
    entries: HashMap<StoreKey, Entry>,
    /// When to look at a key again. Each entry has exactly one deadline here that is its
    /// `scheduled` one (at or before its expiry); others for the same key are stale.
    deadlines: BinaryHeap<Reverse<(Instant, StoreKey)>>,
}

struct Entry {
    value: Bytes,
    expires: Instant,
    scheduled: Instant,
}

impl MemoryStore {
    /// A store of at most `capacity` live entries.
    #[must_use]
    pub fn new(capacity: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                capacity: usize::try_from(capacity).unwrap_or(usize::MAX),
                len: AtomicUsize::new(0),
            }),
        }
    }

    fn shard(&self, key: &StoreKey) -> MutexGuard<'_, Shard> {
        // The key ends in hex digits of a SHA-256: uniform, so the last one picks the shard.
        let nibble = match key.0.as_bytes().last() {
            Some(&digit @ b'0'..=b'9') => digit - b'0',
            Some(&digit @ b'a'..=b'f') => digit - b'a' + 10,
            _ => 0,
        };
        lock(&self.inner.shards[usize::from(nibble) % SHARDS])
    }

    /// Writes `key`; with `only_if_absent`, leaves a live entry alone. Whether it wrote.
    fn write(
        &self,
        key: &StoreKey,
        value: Bytes,
        ttl: Duration,
        only_if_absent: bool,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let expires = deadline(now, ttl);
        let mut shard = self.shard(key);
        self.forget(shard.purge(now));
        let Shard { entries, deadlines } = &mut *shard;
        if let Some(entry) = entries.get_mut(key) {
            if only_if_absent && entry.expires > now {
                return Ok(false);
            }
            entry.value = value;
            entry.set_expiry(key, expires, deadlines);
            return Ok(true);
        }
        if !self.reserve() {
            // Other shards may hold expired entries: purge those not busy, then try again.
            for other in self.inner.shards.iter() {
                if let Ok(mut other) = other.try_lock() {
                    self.forget(other.purge(now));
                }
            }
            if !self.reserve() {
                return Err(StoreError::new("the memory store is full of live entries"));
            }
        }
        entries.insert(
            key.clone(),
            Entry {
                value,
                expires,
                scheduled: expires,
            },
        );
        deadlines.push(Reverse((expires, key.clone())));
        Ok(true)
    }

    /// Counts one more entry, unless the store is full.
    fn reserve(&self) -> bool {
        let capacity = self.inner.capacity;
        self.inner
            .len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |len| {
                (len < capacity).then_some(len + 1)
            })
            .is_ok()
    }

    fn forget(&self, removed: usize) {
        if removed > 0 {
            self.inner.len.fetch_sub(removed, Ordering::AcqRel);
        }
    }
}

/// A shard, also when a panic elsewhere poisoned its lock: every change to a shard is one map
/// update and one heap push, which a panic cannot leave half done.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shard {
    /// Drops the entries whose lifetime has passed; how many.
    fn purge(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        while let Some(Reverse((due, _))) = self.deadlines.peek()
            && *due <= now
        {
            let Some(Reverse((due, key))) = self.deadlines.pop() else {
                break;
            };
            match self.entries.get_mut(&key) {
                // A deadline replaced by an earlier one, or of an earlier entry of this key.
                Some(entry) if entry.scheduled != due => {}
                Some(entry) if entry.expires <= now => {
                    self.entries.remove(&key);
                    removed += 1;
                }
                // Renewed since: look again when the renewed lifetime ends.
                Some(entry) => {
                    entry.scheduled = entry.expires;
                    self.deadlines.push(Reverse((entry.expires, key)));
                }
                None => {}
            }
        }
        removed
    }
}

impl Entry {
    /// Sets when the entry expires; a deadline earlier than the scheduled one is scheduled,
    /// so that an entry whose lifetime was shortened stops counting when it ends.
    fn set_expiry(
        &mut self,
        key: &StoreKey,
        expires: Instant,
        deadlines: &mut BinaryHeap<Reverse<(Instant, StoreKey)>>,
    ) {
        self.expires = expires;
        if expires < self.scheduled {
            self.scheduled = expires;
            deadlines.push(Reverse((expires, key.clone())));
        }
    }
}

/// `now + ttl`, or a century from now for a lifetime too long to add (`Instant` reaches far
/// beyond on every supported platform, so the last fallback is never taken).
fn deadline(now: Instant, ttl: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);
    now.checked_add(ttl.min(CENTURY)).unwrap_or(now)
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &self.inner.capacity)
            .field("entries", &self.inner.len.load(Ordering::Acquire))
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
        let mut shard = self.shard(key);
        let now = Instant::now();
        let Shard { entries, deadlines } = &mut *shard;
        let Some(entry) = entries.get_mut(key).filter(|e| e.expires > now) else {
            return Ok(None);
        };
        if let Some(ttl) = renew {
            entry.set_expiry(key, deadline(now, ttl), deadlines);
        }
        Ok(Some(entry.value.clone()))
    }

    async fn insert(&self, key: &StoreKey, value: Bytes, ttl: Duration) -> Result<(), StoreError> {
        self.write(key, value, ttl, false).map(drop)
    }

    async fn insert_if_absent(
        &self,
        key: &StoreKey,
        value: Bytes,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.write(key, value, ttl, true)
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
            .insert(&key, value.clone(), Duration::from_secs(1))
            .await
            .expect("stored");
        // Renewed at 500 ms for another second: still there at 1.1 s, past its first
        // lifetime. (Margins of 400 ms and more: a stalled CI machine wakes sleeps late.)
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            store
                .get(&key, Some(Duration::from_secs(1)))
                .await
                .expect("answers"),
            Some(value.clone())
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(store.get(&key, None).await.expect("answers").is_some());
        // Not renewed again: gone after its lifetime.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
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

    /// A full store refuses new keys (the layer fails closed) and never forgets a live entry
    /// to make room: a remembered DPoP `jti` stays remembered for its whole lifetime.
    #[tokio::test]
    async fn a_full_store_refuses_new_keys_and_keeps_live_ones() {
        let store = MemoryStore::new(100);
        let one = Bytes::from_static(b"1");
        // Long enough that the refused writes below all come before it ends.
        let short = Duration::from_secs(1);
        let long = Duration::from_secs(600);
        let victim = StoreKey::new("dpop-jti", b"victim");
        assert!(
            store
                .insert_if_absent(&victim, one.clone(), long)
                .await
                .unwrap()
        );
        for i in 0..99u32 {
            let key = StoreKey::new("dpop-jti", &i.to_be_bytes());
            assert!(
                store
                    .insert_if_absent(&key, one.clone(), short)
                    .await
                    .unwrap()
            );
        }
        // Full: a 101st key is refused, by both writes; the victim's entry is still there.
        for i in 100..110u32 {
            let key = StoreKey::new("dpop-jti", &i.to_be_bytes());
            assert!(
                store
                    .insert_if_absent(&key, one.clone(), long)
                    .await
                    .is_err()
            );
            assert!(store.insert(&key, one.clone(), long).await.is_err());
        }
        assert!(
            !store
                .insert_if_absent(&victim, one.clone(), long)
                .await
                .unwrap()
        );
        // A key already present may still be written.
        store.insert(&victim, one.clone(), long).await.unwrap();
        // Control: once the short-lived entries expire, there is room again.
        tokio::time::sleep(short + Duration::from_millis(100)).await;
        for i in 100..199u32 {
            let key = StoreKey::new("dpop-jti", &i.to_be_bytes());
            assert!(
                store
                    .insert_if_absent(&key, one.clone(), long)
                    .await
                    .unwrap()
            );
        }
        assert!(
            !store
                .insert_if_absent(&victim, one.clone(), long)
                .await
                .unwrap()
        );
        assert!(format!("{store:?}").contains("entries: 100"), "{store:?}");
    }

    /// An entry renewed past its first deadline survives that deadline's purge.
    #[tokio::test]
    async fn renewed_entries_survive_the_purge_of_their_first_deadline() {
        let store = MemoryStore::new(10);
        let one = Bytes::from_static(b"1");
        let key = StoreKey::new("session", b"s");
        store
            .insert(&key, one.clone(), Duration::from_millis(500))
            .await
            .unwrap();
        assert!(
            store
                .get(&key, Some(Duration::from_secs(60)))
                .await
                .unwrap()
                .is_some(),
            "renewed while live"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        // A write purges what is due: the renewed entry is not.
        store
            .insert(
                &StoreKey::new("session", b"t"),
                one,
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert!(store.get(&key, None).await.unwrap().is_some());
    }

    /// The capacity is the whole store's, whichever shards the keys fall in.
    #[tokio::test]
    async fn the_capacity_counts_the_whole_store() {
        let store = MemoryStore::new(32_768);
        let one = Bytes::from_static(b"1");
        let mut stored = 0u32;
        for i in 0..40_000u32 {
            let key = StoreKey::new("t", &i.to_be_bytes());
            if store
                .insert(&key, one.clone(), Duration::from_secs(60))
                .await
                .is_ok()
            {
                stored += 1;
            }
        }
        assert_eq!(stored, 32_768);
        // Keys chosen to fall in one shard (as a client choosing `jti`s could) fill it no
        // sooner than others would.
        let store = MemoryStore::new(100);
        let mut stored = 0;
        for i in 0..10_000u32 {
            let key = StoreKey::new("t", &i.to_be_bytes());
            if key.as_str().ends_with('0') {
                assert!(
                    store
                        .insert(&key, one.clone(), Duration::from_secs(60))
                        .await
                        .is_ok()
                );
                stored += 1;
                if stored == 100 {
                    break;
                }
            }
        }
        assert_eq!(stored, 100);
    }

    /// An entry whose lifetime was shortened (by a write or a renewal) stops taking room
    /// when the shorter lifetime ends, not the longer one.
    #[tokio::test]
    async fn a_shortened_entry_frees_its_room_when_it_expires() {
        let one = Bytes::from_static(b"1");
        let long = Duration::from_secs(600);
        let short = Duration::from_millis(10);
        for renew in [false, true] {
            let store = MemoryStore::new(1);
            let a = StoreKey::new("session", b"a");
            store.insert(&a, one.clone(), long).await.unwrap();
            if renew {
                store.get(&a, Some(short)).await.unwrap();
            } else {
                store.insert(&a, one.clone(), short).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(
                store.get(&a, None).await.unwrap().is_none(),
                "renew={renew}"
            );
            let b = StoreKey::new("session", b"b");
            store.insert(&b, one.clone(), long).await.unwrap();
            assert!(format!("{store:?}").contains("entries: 1"), "renew={renew}");
            // And an entry lengthened again after a shortening lives its longer lifetime.
            store.insert(&b, one.clone(), short).await.unwrap();
            store.insert(&b, one.clone(), long).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            store.insert(&a, one.clone(), long).await.unwrap_err();
            assert!(
                store.get(&b, None).await.unwrap().is_some(),
                "renew={renew}"
            );
        }
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
