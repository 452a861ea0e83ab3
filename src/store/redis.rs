//! [`RedisStore`]: the layer's state on Redis, shared by every replica.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use redis::{
    AsyncCommands, Client, ExistenceCheck, SetExpiry, SetOptions,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::sync::OnceCell;

use super::{Store, StoreError, StoreKey};
use crate::ConfigError;

/// A [`Store`] on a Redis server (feature `redis`): session bindings, DPoP replay detection
/// and introspection answers shared by every replica of a server.
///
/// It connects lazily (the server may start while Redis is down) and reconnects on its own;
/// every operation is bounded by [`timeout`](Self::timeout). While Redis cannot answer, what
/// depends on it fails closed (`503` with `Retry-After`), except the introspection cache,
/// which falls back to each replica's own cache and the authorization server.
///
/// Keys are [`StoreKey`]s (namespaced SHA-256 digests, never a token, proof or session id),
/// behind an optional [`key_prefix`](Self::key_prefix); every entry has a TTL.
///
/// Run Redis with `maxmemory-policy noeviction` (or a `volatile-*` policy only if nothing else
/// shares the server): a Redis that evicts entries to make room would forget DPoP `jti`s and
/// session bindings before their TTL. With `noeviction`, a full Redis refuses writes, and
/// the checks that need them fail closed.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use mcp_auth::{McpAuth, store::RedisStore, testing::StaticVerifier};
///
/// // `rediss://` for TLS (rustls).
/// let store = RedisStore::new("redis://127.0.0.1:6379/0")?
///     .key_prefix("prod")
///     .timeout(Duration::from_millis(200));
/// let auth = McpAuth::builder("https://mcp.example.com/mcp")
///     .authorization_server("https://auth.example.com")
///     .verifier(StaticVerifier::new())
///     .session_store(store)
///     .build()?;
/// # drop(auth);
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    connection: OnceCell<ConnectionManager>,
    prefix: String,
    timeout: Duration,
    /// The URL without credentials, its query redacted, for `Debug`.
    display: String,
}

impl RedisStore {
    /// A store on the Redis server at `url` (`redis://[user:password@]host[:port][/db]`, or
    /// `rediss://` for TLS with rustls). Nothing is connected yet.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidUrl`] when the URL is not a Redis URL.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let display = crate::resource::redacted_url(url);
        let client = Client::open(url).map_err(|err| ConfigError::InvalidUrl {
            url: display.clone(),
            message: format!("not a Redis URL (redis:// or rediss://): {:?}", err.kind()),
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                connection: OnceCell::new(),
                prefix: String::new(),
                timeout: Duration::from_millis(250),
                display,
            }),
        })
    }

    /// Puts `prefix` before every key (`prod:mcp-auth:session:…`), so that several
    /// deployments can share one Redis. Defaults to none.
    #[must_use]
    pub fn key_prefix(self, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        if !prefix.is_empty() && !prefix.ends_with(':') {
            prefix.push(':');
        }
        self.with(|inner| inner.prefix = prefix)
    }

    /// Sets how long one operation (connecting included) may take before the store counts
    /// as unavailable. Defaults to 250 ms.
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with(|inner| inner.timeout = timeout)
    }

    fn with(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            client: shared.client.clone(),
            connection: OnceCell::new(),
            prefix: shared.prefix.clone(),
            timeout: shared.timeout,
            display: shared.display.clone(),
        });
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    fn key(&self, key: &StoreKey) -> String {
        format!("{}{}", self.inner.prefix, key.as_str())
    }

    /// The connection, made on first use; it reconnects by itself afterwards.
    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let inner = &*self.inner;
        let manager = inner
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(inner.timeout))
                    .set_response_timeout(Some(inner.timeout))
                    .set_number_of_retries(1);
                ConnectionManager::new_lazy_with_config(inner.client.clone(), config)
            })
            .await
            .map_err(StoreError::new)?;
        Ok(manager.clone())
    }

    /// Runs `op` within the timeout.
    async fn run<T, F>(&self, op: impl FnOnce(ConnectionManager) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        match tokio::time::timeout(self.inner.timeout, op(connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                log_warn!(error = %err, "the Redis store failed");
                Err(StoreError::new(err))
            }
            Err(elapsed) => {
                log_warn!("the Redis store did not answer in time");
                Err(StoreError::new(elapsed))
            }
        }
    }
}

/// A TTL in milliseconds, at least one.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl Store for RedisStore {
    async fn get(
        &self,
        key: &StoreKey,
        renew: Option<Duration>,
    ) -> Result<Option<Bytes>, StoreError> {
        let key = self.key(key);
        let value: Option<Vec<u8>> = self
            .run(|mut connection| async move {
                match renew {
                    Some(ttl) => {
                        connection
                            .get_ex(&key, redis::Expiry::PX(millis(ttl)))
                            .await
                    }
                    None => connection.get(&key).await,
                }
            })
            .await?;
        Ok(value.map(Bytes::from))
    }

    async fn insert(&self, key: &StoreKey, value: Bytes, ttl: Duration) -> Result<(), StoreError> {
        let key = self.key(key);
        self.run(|mut connection| async move {
            connection
                .pset_ex::<_, _, ()>(&key, value.as_ref(), millis(ttl))
                .await
        })
        .await
    }

    async fn insert_if_absent(
        &self,
        key: &StoreKey,
        value: Bytes,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = self.key(key);
        let options = SetOptions::default()
            .conditional_set(ExistenceCheck::NX)
            .with_expiration(SetExpiry::PX(millis(ttl)));
        let stored: Option<String> = self
            .run(|mut connection| async move {
                connection.set_options(&key, value.as_ref(), options).await
            })
            .await?;
        Ok(stored.is_some())
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.display)
            .field("key_prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No password reaches `Debug` or an error, wherever the URL carries it: its user
    /// information, or the query (`redis+unix`'s `?pass=`).
    #[test]
    fn passwords_are_never_shown() {
        for url in [
            "redis://user:S3cret@127.0.0.1:6379/0",
            "redis+unix:///run/redis.sock?db=0&pass=S3cret",
            "redis+unix:///run/redis.sock?pass=S3cret",
            "redis://:my#S3cret@127.0.0.1/0",
            "rediz://user:S3cret@127.0.0.1/0?pass=S3cret",
        ] {
            let shown = match RedisStore::new(url) {
                Ok(store) => format!("{store:?}"),
                Err(err) => format!("{err} {err:?}"),
            };
            assert!(!shown.contains("S3cret"), "{url}: {shown}");
        }
        // The control: what is not secret is shown.
        let store = RedisStore::new("redis://user:S3cret@127.0.0.1:6379/0").expect("a Redis URL");
        assert!(format!("{store:?}").contains("redis://127.0.0.1:6379/0"));
    }
}
