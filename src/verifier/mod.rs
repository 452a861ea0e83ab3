//! Token verification: the [`TokenVerifier`] trait and its error.
//!
//! A verifier turns an access token into an [`AuthInfo`], or says why it cannot: the token is
//! invalid (the client gets `401 invalid_token`), the verifier could not reach what it needs
//! (the client gets `503` with `Retry-After`, and keeps its token), or the token is not this
//! verifier's to judge: not in its format, or from an issuer it does not trust (a
//! [foreign token](VerifyError::foreign_token), also `401` unless a
//! [`VerifierChain`] finds its owner).
//!
//! A token is a secret: a verifier sends it only to the authorization server that can have
//! issued it, and a chain hands it on only after a "foreign token", never after "invalid".
//!
//! The layer checks the audience and the scopes itself, for every verifier, so a verifier only
//! has to establish that the token is genuine and current and report what it says.

use std::{borrow::Cow, error::Error as StdError, fmt, sync::Arc, time::Duration};

use async_trait::async_trait;

use crate::{AuthInfo, BoxError};

/// The longest any configured duration is taken to mean: 100 years, "never" for a server's
/// life, and short enough that adding it to a reading of any clock cannot overflow.
#[cfg(feature = "http-client")]
pub(crate) const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

// Backends, each in its own feature-gated module (see the crate docs' feature table), and
// what they share: the token cache, the claim rules, discovery and the HTTP client.
#[cfg(feature = "http-client")]
mod cache;
#[cfg(feature = "http-client")]
mod claims;
#[cfg(feature = "http-client")]
#[cfg_attr(docsrs, doc(cfg(any(feature = "jwt", feature = "introspection"))))]
pub mod discovery;
#[cfg(feature = "http-client")]
mod http;
#[cfg(feature = "http-client")]
pub(crate) mod json;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;
#[cfg(feature = "http-client")]
mod shape;

mod chain;
#[cfg(feature = "introspection")]
#[cfg_attr(docsrs, doc(cfg(feature = "introspection")))]
pub mod introspection;

#[cfg(all(feature = "jwt", feature = "introspection"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "jwt", feature = "introspection"))))]
pub use self::chain::JwtOrIntrospection;
pub use self::chain::VerifierChain;
#[cfg(feature = "http-client")]
pub use self::claims::ClaimPath;
#[cfg(feature = "introspection")]
pub use self::introspection::IntrospectionVerifier;
#[cfg(feature = "jwt")]
pub use self::jwt::JwtVerifier;

/// Checks access tokens.
///
/// Implementations must be cheap to share: the layer holds one behind an [`Arc`], and
/// `Arc<dyn TokenVerifier>` is itself a `TokenVerifier`, so verifiers compose.
///
/// Implementations must never log, return or otherwise reveal the token.
///
/// # Example
///
/// ```
/// use async_trait::async_trait;
/// use mcp_auth::{AuthInfo, TokenVerifier, VerifyError};
///
/// #[derive(Debug)]
/// struct OneToken;
///
/// #[async_trait]
/// impl TokenVerifier for OneToken {
///     async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
///         if token == "let-me-in" {
///             Ok(AuthInfo::builder()
///                 .subject("alice")
///                 .audience("https://mcp.example.com/mcp")
///                 .build())
///         } else {
///             Err(VerifyError::invalid_token("unknown token"))
///         }
///     }
/// }
/// # tokio_test_block_on(async {
/// let info = OneToken.verify("let-me-in").await.unwrap();
/// assert_eq!(info.subject(), Some("alice"));
/// assert!(OneToken.verify("nope").await.unwrap_err().is_invalid_token());
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait]
pub trait TokenVerifier: fmt::Debug + Send + Sync + 'static {
    /// Verifies `token` and describes it.
    ///
    /// # Errors
    ///
    /// [`VerifyError::invalid_token`] when the token is not acceptable (bad signature, expired,
    /// unknown, ...), [`VerifyError::foreign_token`] when it is not this verifier's to judge
    /// (another format, an issuer it does not trust), and [`VerifyError::unavailable`] when the
    /// answer cannot be known right now (the authorization server or its keys cannot be
    /// reached).
    async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError>;

    /// What [`verify`](Self::verify) would return for `token` when it is an acceptance this
    /// verifier already holds (a cached one), without waiting and without the network;
    /// `None` otherwise. The layer asks [`verify_now`](Self::verify_now), whose default
    /// answers with this, before it calls `verify`. Defaults to `None`.
    ///
    /// An implementation must answer `Some` only where `verify`, called now, would return
    /// `Ok` with the same [`AuthInfo`]: never for a token it would refuse. It is called on the
    /// request's task with no timeout, so it must not block or wait on I/O. A verifier that
    /// wraps another and adds checks in its `verify` (a deny-list, a tenant rule) must apply
    /// them here too, or keep the default: forwarding this alone would skip them.
    fn verify_cached(&self, token: &str) -> Option<AuthInfo> {
        let _ = token;
        None
    }

    /// What [`verify`](Self::verify) would return for `token`, acceptance or refusal, when
    /// this verifier can tell without waiting: from its cache, or by a check it makes in
    /// place (a JWT whose key is at hand); `None` when only `verify` can tell (a call to the
    /// authorization server, a key set to fetch). The layer asks here first: a request whose
    /// token this accepts, with nothing else to wait for, is passed on from `call` without a
    /// future to allocate, and an answer given here is not asked of `verify` again. Defaults
    /// to [`verify_cached`](Self::verify_cached)'s acceptance.
    ///
    /// The rules of `verify_cached` hold here too: `Some` only with what `verify`, called now,
    /// would return (the same [`AuthInfo`], or an error of the same kind); on the request's
    /// task, so never blocking or waiting on I/O; and a verifier that wraps another and adds
    /// checks in its `verify` must apply them here too, or keep the default.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify), inside the `Some`.
    fn verify_now(&self, token: &str) -> Option<Result<AuthInfo, VerifyError>> {
        self.verify_cached(token).map(Ok)
    }

    /// The issuers of the tokens this verifier accepts, each exactly as its authorization
    /// server writes `issuer`. The layer lists them in the metadata's `authorization_servers`
    /// (besides those configured with
    /// [`McpAuthBuilder::authorization_server`](crate::McpAuthBuilder::authorization_server)), so clients
    /// can find every authorization server in use. Defaults to none.
    fn authorization_servers(&self) -> Vec<String> {
        Vec::new()
    }
}

/// `Arc<V>` and `Box<V>` verify as `V` does, so shared and boxed verifiers (`Arc<dyn
/// TokenVerifier>`) compose. Every method of the trait is forwarded here, once for both.
macro_rules! forward_to_pointee {
    ($($pointer:ident),+) => {$(
        #[async_trait]
        impl<T: TokenVerifier + ?Sized> TokenVerifier for $pointer<T> {
            async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
                (**self).verify(token).await
            }

            fn verify_cached(&self, token: &str) -> Option<AuthInfo> {
                (**self).verify_cached(token)
            }

            fn verify_now(&self, token: &str) -> Option<Result<AuthInfo, VerifyError>> {
                (**self).verify_now(token)
            }

            fn authorization_servers(&self) -> Vec<String> {
                (**self).authorization_servers()
            }
        }
    )+};
}
forward_to_pointee!(Arc, Box);

/// Why a [`TokenVerifier`] did not accept a token.
///
/// It is cheap to clone (the source sits behind an [`Arc`]), so caches can hand it out.
///
/// # Formatting
///
/// The `Display` text and the source types are not stable API. The description is sent to the
/// client as `error_description`, so it must never contain the token or a secret; build it from
/// fixed text.
#[derive(Clone, Debug)]
pub struct VerifyError {
    kind: VerifyErrorKind,
    description: Cow<'static, str>,
    retry_after: Option<Duration>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

/// The kind of a [`VerifyError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VerifyErrorKind {
    /// The token is not this verifier's to judge: not in its format, or from an issuer it
    /// does not trust. `401 invalid_token` unless another verifier of a [`VerifierChain`]
    /// accepts it.
    ForeignToken,
    /// The token is not acceptable: `401 invalid_token`.
    InvalidToken,
    /// The verifier cannot decide now (authorization server down, keys unreachable): `503`.
    Unavailable,
}

impl VerifyError {
    /// The token is not acceptable. `description` is sent to the client as `error_description`.
    pub fn invalid_token(description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind: VerifyErrorKind::InvalidToken,
            description: description.into(),
            retry_after: None,
            source: None,
        }
    }

    /// The token is not this verifier's to judge: it is not in a format the verifier reads, or
    /// it names an issuer the verifier does not trust. Nothing about it was sent anywhere.
    /// `description` is sent to the client as `error_description` if no other verifier takes
    /// the token.
    pub fn foreign_token(description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind: VerifyErrorKind::ForeignToken,
            description: description.into(),
            retry_after: None,
            source: None,
        }
    }

    /// The verifier cannot decide now; the client should retry later with the same token.
    pub fn unavailable(description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind: VerifyErrorKind::Unavailable,
            description: description.into(),
            retry_after: None,
            source: None,
        }
    }

    /// Attaches the underlying error, reported through [`Error::source`](StdError::source).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// Suggests how long the client should wait before retrying (for
    /// [`VerifyErrorKind::Unavailable`]); the layer sends it as `Retry-After`.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// The kind of error.
    #[must_use]
    pub fn kind(&self) -> VerifyErrorKind {
        self.kind
    }

    /// Whether the token was found not acceptable.
    #[must_use]
    pub fn is_invalid_token(&self) -> bool {
        self.kind == VerifyErrorKind::InvalidToken
    }

    /// Whether the token is not this verifier's to judge.
    #[must_use]
    pub fn is_foreign_token(&self) -> bool {
        self.kind == VerifyErrorKind::ForeignToken
    }

    /// Whether the verifier could not decide.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        self.kind == VerifyErrorKind::Unavailable
    }

    /// The description sent to the client.
    #[must_use]
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The suggested retry delay, if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.description)
    }
}

impl StdError for VerifyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_ref()
            .map(|source| &**source as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_is_reported() {
        let io = std::io::Error::other("connection refused");
        let err = VerifyError::unavailable("jwks unreachable").with_source(io);
        assert!(err.is_unavailable());
        assert_eq!(err.to_string(), "jwks unreachable");
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("connection refused")
        );
    }

    #[test]
    fn verifier_is_object_safe() {
        fn takes(_: Arc<dyn TokenVerifier>) {}
        #[derive(Debug)]
        struct Never;
        #[async_trait]
        impl TokenVerifier for Never {
            async fn verify(&self, _token: &str) -> Result<AuthInfo, VerifyError> {
                Err(VerifyError::invalid_token("never"))
            }
        }
        takes(Arc::new(Never));
        takes(Arc::new(Arc::new(Never)));
    }
}
