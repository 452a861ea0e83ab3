//! Introspection answers shared by several replicas through a [`Store`]: one call to the
//! authorization server per token, not one per replica.
//!
//! What is shared is the server's answer (or its refusal), never a verdict: each replica
//! checks a shared answer as it checks its own, so an answer that expired while stored is
//! refused. A store that cannot answer is skipped: the replica asks the authorization server
//! itself, as if no store were configured.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use serde_json::{Value, json};

use sha2::{Digest, Sha256};

use crate::store::{Store, StoreKey};

/// What the authorization server said about a token.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// An RFC 7662 answer (perhaps mapped from another shape), to check.
    Answered(Value),
    /// A refusal that is not an RFC 7662 answer (`400 unsupported_token_type`).
    Refused(String),
}

/// The shared answers of one verifier.
#[derive(Clone)]
pub(crate) struct SharedAnswers {
    store: Arc<dyn Store>,
}

impl SharedAnswers {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The key of `token`'s answer from the server named by `scope`: the same on every
    /// replica, so it holds the token's SHA-256 (never the token), not the per-process keyed
    /// hash of the local cache.
    pub(crate) fn key(&self, scope: &str, token: &str) -> StoreKey {
        let mut id = scope.as_bytes().to_vec();
        id.push(0);
        id.extend_from_slice(&Sha256::digest(token.as_bytes()));
        StoreKey::new("introspection", &id)
    }

    /// A shared answer, if there is one and the store answers, with the time the replica
    /// that shared it forgets it: this replica must not keep it longer.
    pub(crate) async fn get(&self, key: &StoreKey) -> Option<(Answer, SystemTime)> {
        let bytes = match self.store.get(key, None).await {
            Ok(bytes) => bytes?,
            Err(_) => {
                crate::observe::store_error("introspection");
                return None;
            }
        };
        let mut stored: Value = serde_json::from_slice(&bytes).ok()?;
        let until = UNIX_EPOCH + Duration::from_millis(stored.get("until")?.as_u64()?);
        let answer = match (
            stored.get_mut("answer").map(Value::take),
            stored.get("refused"),
        ) {
            (Some(answer), _) => Answer::Answered(answer),
            (None, Some(Value::String(description))) => Answer::Refused(description.clone()),
            _ => return None,
        };
        Some((answer, until))
    }

    /// Shares `answer` for `ttl`; a store that cannot answer is skipped.
    pub(crate) async fn put(&self, key: &StoreKey, answer: &Answer, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let until = (SystemTime::now() + ttl)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        let stored = match answer {
            Answer::Answered(answer) => json!({ "answer": answer, "until": until }),
            Answer::Refused(description) => json!({ "refused": description, "until": until }),
        };
        let bytes = Bytes::from(stored.to_string());
        if self.store.insert(key, bytes, ttl).await.is_err() {
            crate::observe::store_error("introspection");
        }
    }
}

impl fmt::Debug for SharedAnswers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedAnswers").field(&self.store).finish()
    }
}
