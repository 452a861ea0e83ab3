//! Composition: several verifiers behind one [`TokenVerifier`].
//!
//! - [`VerifierChain`] asks verifiers in the order given and takes the first acceptance.
//! - [`JwtOrIntrospection`] sends JWT-shaped tokens from a trusted issuer to a
//!   [`JwtVerifier`] (no network call on the hot path) and every other token to an
//!   [`IntrospectionVerifier`].
//!
//! Either way, every authorization server whose tokens the composition accepts is listed in
//! the protected-resource metadata: [`TokenVerifier::authorization_servers`] of a composition
//! is the union of its parts', and [`McpAuthBuilder::build`](crate::McpAuthBuilder::build)
//! copies it into `authorization_servers`.
//!
//! [`JwtVerifier`]: super::JwtVerifier
//! [`IntrospectionVerifier`]: super::IntrospectionVerifier

use std::{fmt, sync::Arc};

use async_trait::async_trait;

use super::{TokenVerifier, VerifyError};
use crate::AuthInfo;

/// Asks verifiers in order, until one owns the token.
///
/// A verifier that says the token is foreign (not in its format, or from an issuer it does not
/// trust) passes it on to the next. The first other answer is the chain's: an acceptance, a
/// refusal (`401`: the verifier that owns the token found it invalid; the token is not shown to
/// anyone else), or "cannot decide" (`503`: the owner cannot be asked now; the token is not
/// shown to anyone else either). When every verifier says foreign, the token is refused
/// (`401`). An [`IntrospectionVerifier`](super::IntrospectionVerifier) takes every opaque
/// token as its own (their form does not say whose they are) unless
/// [`owns_tokens`](super::introspection::IntrospectionVerifierBuilder::owns_tokens) says
/// which are its server's: give it that, or put it last. A chain never accepts a token that
/// no verifier accepted; an empty chain accepts nothing.
///
/// # Example
///
/// ```
/// use mcp_auth::{AuthInfo, TokenVerifier, testing::StaticVerifier, verifier::VerifierChain};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // `StaticVerifier` says "foreign" for tokens it does not know.
/// let staff = StaticVerifier::new().with_token("staff-token", AuthInfo::builder().subject("staff").build());
/// let bots = StaticVerifier::new().with_token("bot-token", AuthInfo::builder().subject("bot").build());
/// let chain = VerifierChain::new().with_verifier(staff).with_verifier(bots);
/// assert_eq!(chain.len(), 2);
/// assert_eq!(chain.verify("bot-token").await.unwrap().subject(), Some("bot"));
/// assert!(chain.verify("nobody").await.unwrap_err().is_foreign_token());
/// # });
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct VerifierChain {
    verifiers: Vec<Arc<dyn TokenVerifier>>,
}

impl VerifierChain {
    /// An empty chain.
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_auth::verifier::VerifierChain;
    ///
    /// assert!(VerifierChain::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a verifier, asked after those added before.
    ///
    /// # Example
    ///
    /// See [`VerifierChain`].
    pub fn with_verifier(self, verifier: impl TokenVerifier) -> Self {
        self.with_shared_verifier(Arc::new(verifier))
    }

    /// Appends a shared verifier, asked after those added before.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use mcp_auth::{TokenVerifier, testing::StaticVerifier, verifier::VerifierChain};
    ///
    /// let shared: Arc<dyn TokenVerifier> = Arc::new(StaticVerifier::new());
    /// let chain = VerifierChain::new().with_shared_verifier(shared);
    /// assert_eq!(chain.len(), 1);
    /// ```
    pub fn with_shared_verifier(mut self, verifier: Arc<dyn TokenVerifier>) -> Self {
        self.verifiers.push(verifier);
        self
    }

    /// The number of verifiers.
    ///
    /// # Example
    ///
    /// See [`VerifierChain`].
    #[must_use]
    pub fn len(&self) -> usize {
        self.verifiers.len()
    }

    /// Whether the chain has no verifier.
    ///
    /// # Example
    ///
    /// See [`VerifierChain::new`].
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.verifiers.is_empty()
    }
}

#[async_trait]
impl TokenVerifier for VerifierChain {
    async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        let mut foreign = None;
        for verifier in &self.verifiers {
            // The trait object's own `verify`, not the one of `Arc` (which boxes once more).
            match verifier.as_ref().verify(token).await {
                Err(err) if err.is_foreign_token() => foreign = Some(err),
                owned => return owned,
            }
        }
        Err(foreign.unwrap_or_else(no_verifier_accepts))
    }

    /// The first verifier's cached acceptance: `verify` would return it, as the first
    /// verifier decides every token it does not call foreign. A later verifier's is not
    /// asked, since whether the ones before it would call the token foreign is not known
    /// without asking them.
    fn verify_cached(&self, token: &str) -> Option<AuthInfo> {
        self.verifiers.first()?.verify_cached(token)
    }

    /// `verify`'s answer, when each verifier asked can give its own without waiting: those
    /// before the first that owns the token call it foreign, and the owner decides. `None` as
    /// soon as one of them cannot tell now (`verify` then asks them all again, in order).
    fn verify_now(&self, token: &str) -> Option<Result<AuthInfo, VerifyError>> {
        let mut foreign = None;
        for verifier in &self.verifiers {
            match verifier.verify_now(token)? {
                Err(err) if err.is_foreign_token() => foreign = Some(err),
                owned => return Some(owned),
            }
        }
        Some(Err(foreign.unwrap_or_else(no_verifier_accepts)))
    }

    fn authorization_servers(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for issuer in self
            .verifiers
            .iter()
            .flat_map(|v| v.authorization_servers())
        {
            if !all.contains(&issuer) {
                all.push(issuer);
            }
        }
        all
    }
}

/// The answer of a chain none of whose verifiers owns the token, because it has none.
fn no_verifier_accepts() -> VerifyError {
    VerifyError::foreign_token("no verifier accepts this token")
}

impl fmt::Debug for VerifierChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.verifiers).finish()
    }
}

#[cfg(all(feature = "jwt", feature = "introspection"))]
pub use self::routed::JwtOrIntrospection;

#[cfg(all(feature = "jwt", feature = "introspection"))]
mod routed {
    use std::fmt;

    use async_trait::async_trait;

    use super::VerifierChain;
    use crate::{
        AuthInfo,
        verifier::{IntrospectionVerifier, JwtVerifier, TokenVerifier, VerifyError},
    };

    /// Sends each token to the verifier that can check it: JWTs from a trusted issuer to a
    /// [`JwtVerifier`] (no network call once its keys are known), opaque tokens and JWTs from
    /// the introspection verifier's issuer to an [`IntrospectionVerifier`].
    ///
    /// It is the [`VerifierChain`] of the two: each verifier says "foreign token" for what is
    /// not its own, from the token's shape and **unverified** `iss`, before anything is sent
    /// anywhere. A JWT from a trusted issuer that fails is refused (`401`) or, when its keys
    /// cannot be fetched, gets `503`: it is never handed to introspection. A JWT from an issuer
    /// neither verifier trusts is refused without any network call.
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_auth::{
    ///     McpAuth,
    ///     verifier::{IntrospectionVerifier, JwtOrIntrospection, JwtVerifier},
    /// };
    ///
    /// let jwt = JwtVerifier::discover("https://login.example.com")?;
    /// let introspection =
    ///     IntrospectionVerifier::discover("https://auth.example.com", "rs", "s3cret")?;
    /// // Both authorization servers are listed in the metadata, from the verifiers.
    /// let auth = McpAuth::builder("https://mcp.example.com/mcp")
    ///     .verifier(JwtOrIntrospection::new(jwt, introspection))
    ///     .build()?;
    /// assert_eq!(
    ///     auth.metadata().authorization_servers(),
    ///     ["https://login.example.com", "https://auth.example.com"]
    /// );
    /// # Ok::<(), mcp_auth::BoxError>(())
    /// ```
    #[derive(Clone)]
    pub struct JwtOrIntrospection {
        chain: VerifierChain,
    }

    impl JwtOrIntrospection {
        /// Routes JWTs from `jwt`'s trusted issuers to `jwt`, the rest to `introspection`.
        ///
        /// # Example
        ///
        /// See [`JwtOrIntrospection`].
        #[must_use]
        pub fn new(jwt: JwtVerifier, introspection: IntrospectionVerifier) -> Self {
            Self {
                chain: VerifierChain::new()
                    .with_verifier(jwt)
                    .with_verifier(introspection),
            }
        }
    }

    #[async_trait]
    impl TokenVerifier for JwtOrIntrospection {
        async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
            self.chain.verify(token).await
        }

        /// The JWT verifier's cached acceptance (the chain's first).
        fn verify_cached(&self, token: &str) -> Option<AuthInfo> {
            self.chain.verify_cached(token)
        }

        fn verify_now(&self, token: &str) -> Option<Result<AuthInfo, VerifyError>> {
            self.chain.verify_now(token)
        }

        fn authorization_servers(&self) -> Vec<String> {
            self.chain.authorization_servers()
        }
    }

    impl fmt::Debug for JwtOrIntrospection {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_tuple("JwtOrIntrospection")
                .field(&self.chain)
                .finish()
        }
    }
}
