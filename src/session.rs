//! Session binding: an `Mcp-Session-Id` belongs to the principal it was handed to.
//!
//! MCP servers of the 2025 revisions (rmcp's streamable HTTP server among them) give each
//! client a session id on `initialize`. Possession of that id must not be authentication (MCP
//! security best practices): Bob's valid token on Alice's session id must not reach Alice's
//! session. The layer remembers which principal the inner service's response handed a new
//! session id to, and answers a request that carries a session id bound to someone else, or to
//! no one it knows, with `404`, as if the session did not exist.
//!
//! The owner is [`AuthInfo::principal_key`] (issuer and subject); for a token without a
//! subject, the issuer and client id; for a token without either, the token itself (only that
//! token can use the session). Only a digest is stored.

use std::{fmt, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

use crate::{
    AuthInfo,
    challenge::{AuthError, AuthErrorKind},
    store::{Store, StoreError, StoreKey},
};

/// The header that carries the session id (MCP streamable HTTP, 2025-03-26 to 2025-11-25).
pub(crate) const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

/// Whom a session belongs to: a digest of the principal, never the principal or the token.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Owner(Bytes);

impl Owner {
    /// The owner of sessions created by a request with `info` (verified from `token`).
    pub(crate) fn of(info: &AuthInfo, token: &str) -> Self {
        Self::of_principal(info).unwrap_or_else(|| {
            let mut hasher = Sha256::new();
            hasher.update(b"token\0");
            hasher.update(token.as_bytes());
            Self(Bytes::copy_from_slice(&hasher.finalize()))
        })
    }

    /// The owner named by `info` alone: its principal, or its issuer and client.
    fn of_principal(info: &AuthInfo) -> Option<Self> {
        let mut hasher = Sha256::new();
        if let Some(principal) = info.principal_key() {
            hasher.update(b"principal\0");
            hasher.update(principal.as_bytes());
        } else if let Some(client) = info.client_id() {
            hasher.update(b"client\0");
            hasher.update(info.issuer().unwrap_or_default().as_bytes());
            hasher.update(b"\0");
            hasher.update(client.as_bytes());
        } else {
            return None;
        }
        Some(Self(Bytes::copy_from_slice(&hasher.finalize())))
    }
}

/// The owner of a request's sessions, worked out when a session is checked or bound rather
/// than on every request: most requests present a session the server does not renew.
#[derive(Debug)]
pub(crate) enum LazyOwner {
    Known(Owner),
    /// Named by the principal in this `AuthInfo` (so the token is not needed later).
    Principal(AuthInfo),
}

impl LazyOwner {
    pub(crate) fn new(info: &AuthInfo, token: &str) -> Self {
        // `principal_key` is `Some` exactly when there is a subject; asked only when needed.
        if info.subject().is_some() || info.client_id().is_some() {
            Self::Principal(info.clone())
        } else {
            Self::Known(Owner::of(info, token))
        }
    }

    pub(crate) fn resolve(self) -> Owner {
        match self {
            Self::Known(owner) => owner,
            // `new` checked that the principal names an owner (and `AuthInfo` is immutable).
            Self::Principal(info) => {
                Owner::of_principal(&info).expect("the principal was checked by `LazyOwner::new`")
            }
        }
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Owner(..)")
    }
}

/// The session bindings of one layer.
#[derive(Clone, Debug)]
pub(crate) struct Sessions {
    store: Arc<dyn Store>,
    idle_timeout: Duration,
}

impl Sessions {
    pub(crate) fn new(store: Arc<dyn Store>, idle_timeout: Duration) -> Self {
        Self {
            store,
            idle_timeout,
        }
    }

    /// The session `id` must be bound to `owner`; a use renews the binding.
    ///
    /// Bound to someone else, or unknown: `404`, as if the session did not exist. The store
    /// cannot answer: `503` (never a pass).
    pub(crate) async fn check(&self, id: &HeaderValue, owner: &Owner) -> Result<(), AuthError> {
        let bound = self
            .store
            .get(&key(id), Some(self.idle_timeout))
            .await
            .map_err(unavailable)?;
        match bound {
            Some(bound) if bound == owner.0 => Ok(()),
            Some(_) => {
                log_warn!("a session id was presented by another principal than its owner");
                Err(not_found())
            }
            None => Err(not_found()),
        }
    }

    /// Binds the new session `id` to `owner`.
    pub(crate) async fn bind(&self, id: &HeaderValue, owner: &Owner) -> Result<(), AuthError> {
        self.store
            .insert(&key(id), owner.0.clone(), self.idle_timeout)
            .await
            .map_err(unavailable)
    }
}

fn key(id: &HeaderValue) -> StoreKey {
    StoreKey::new("session", id.as_bytes())
}

fn not_found() -> AuthError {
    AuthError::new(AuthErrorKind::SessionNotFound, "the session does not exist")
}

fn unavailable(_err: StoreError) -> AuthError {
    crate::observe::store_error("session");
    AuthError::new(
        AuthErrorKind::VerifierUnavailable,
        "session bindings are unavailable",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn sessions_belong_to_their_owner() {
        let sessions = Sessions::new(Arc::new(MemoryStore::new(100)), Duration::from_secs(60));
        let alice = AuthInfo::builder()
            .issuer("https://as")
            .subject("alice")
            .build();
        let bob = AuthInfo::builder()
            .issuer("https://as")
            .subject("bob")
            .build();
        let (alice, bob) = (Owner::of(&alice, "t1"), Owner::of(&bob, "t2"));
        let id = HeaderValue::from_static("session-1");
        assert_eq!(
            sessions.check(&id, &alice).await.unwrap_err().kind(),
            AuthErrorKind::SessionNotFound,
            "unknown session"
        );
        sessions.bind(&id, &alice).await.expect("bound");
        assert!(sessions.check(&id, &alice).await.is_ok());
        assert_eq!(
            sessions.check(&id, &bob).await.unwrap_err().kind(),
            AuthErrorKind::SessionNotFound
        );
    }

    #[test]
    fn owners() {
        let with = |sub: Option<&str>, client: Option<&str>| {
            let mut info = AuthInfo::builder().issuer("https://as");
            if let Some(sub) = sub {
                info = info.subject(sub);
            }
            if let Some(client) = client {
                info = info.client_id(client);
            }
            info.build()
        };
        // The same principal with another token or client: the same owner.
        assert_eq!(
            Owner::of(&with(Some("alice"), Some("c1")), "t1"),
            Owner::of(&with(Some("alice"), Some("c2")), "t2")
        );
        // No subject: the client.
        assert_eq!(
            Owner::of(&with(None, Some("c1")), "t1"),
            Owner::of(&with(None, Some("c1")), "t2")
        );
        assert_ne!(
            Owner::of(&with(None, Some("c1")), "t1"),
            Owner::of(&with(None, Some("c2")), "t1")
        );
        // A client id is not a subject of the same name.
        assert_ne!(
            Owner::of(&with(None, Some("alice")), "t"),
            Owner::of(&with(Some("alice"), None), "t")
        );
        // Neither: only the same token.
        assert_eq!(
            Owner::of(&with(None, None), "t1"),
            Owner::of(&with(None, None), "t1")
        );
        assert_ne!(
            Owner::of(&with(None, None), "t1"),
            Owner::of(&with(None, None), "t2")
        );
        assert!(!format!("{:?}", Owner::of(&with(None, None), "t1")).contains("t1"));
    }
}
