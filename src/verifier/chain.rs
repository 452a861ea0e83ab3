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

/// Asks verifiers in order; the first that accepts the token wins.
///
/// A verifier that refuses the token passes it on to the next. When none accepts, the result
/// is `503` (unavailable) if any of them could not decide (a verifier that could not be asked
/// might have accepted), and otherwise the last refusal (`401`). A chain never accepts a
/// token that no verifier accepted; an empty chain accepts nothing.
///
/// # Example
///
/// ```
/// use mcp_auth::{AuthInfo, TokenVerifier, testing::StaticVerifier, verifier::VerifierChain};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let staff = StaticVerifier::new().with_token("staff-token", AuthInfo::builder().subject("staff").build());
/// let bots = StaticVerifier::new().with_token("bot-token", AuthInfo::builder().subject("bot").build());
/// let chain = VerifierChain::new().with_verifier(staff).with_verifier(bots);
/// assert_eq!(chain.len(), 2);
/// assert_eq!(chain.verify("bot-token").await.unwrap().subject(), Some("bot"));
/// assert!(chain.verify("nobody").await.unwrap_err().is_invalid_token());
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
        let mut unavailable = None;
        let mut refused = None;
        for verifier in &self.verifiers {
            match verifier.verify(token).await {
                Ok(info) => return Ok(info),
                Err(err) if err.is_invalid_token() => refused = Some(err),
                Err(err) => {
                    unavailable.get_or_insert(err);
                }
            }
        }
        Err(unavailable
            .or(refused)
            .unwrap_or_else(|| VerifyError::invalid_token("no verifier accepts tokens")))
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
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    use serde::Deserialize;

    use crate::{
        AuthInfo,
        verifier::{IntrospectionVerifier, JwtVerifier, TokenVerifier, VerifyError},
    };

    /// Sends each token to the verifier that can check it: JWTs from a trusted issuer to a
    /// [`JwtVerifier`], everything else (opaque tokens, JWTs from other issuers, encrypted
    /// JWTs) to an [`IntrospectionVerifier`].
    ///
    /// The route is picked from the token's shape and its **unverified** `iss`, before any
    /// check; that is safe because each verifier then checks the token fully, and a JWT from a
    /// trusted issuer that fails is refused (`401`) or, when its keys cannot be fetched, gets
    /// `503`: it is not retried by introspection. For another order, use a
    /// [`VerifierChain`](super::VerifierChain).
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
    /// let auth = McpAuth::builder("https://mcp.example.com/mcp")
    ///     // Both authorization servers are listed in the metadata.
    ///     .authorization_server("https://login.example.com")
    ///     .authorization_server("https://auth.example.com")
    ///     .verifier(JwtOrIntrospection::new(jwt, introspection))
    ///     .build()?;
    /// assert_eq!(auth.metadata().authorization_servers().len(), 2);
    /// # Ok::<(), mcp_auth::BoxError>(())
    /// ```
    #[derive(Clone)]
    pub struct JwtOrIntrospection {
        jwt: JwtVerifier,
        introspection: IntrospectionVerifier,
    }

    impl JwtOrIntrospection {
        /// Routes JWTs from `jwt`'s trusted issuers to `jwt`, the rest to `introspection`.
        ///
        /// # Example
        ///
        /// See [`JwtOrIntrospection`].
        #[must_use]
        pub fn new(jwt: JwtVerifier, introspection: IntrospectionVerifier) -> Self {
            Self { jwt, introspection }
        }

        /// Whether `token` is a signed JWT whose (unverified) `iss` is trusted by the JWT
        /// verifier.
        fn routes_to_jwt(&self, token: &str) -> bool {
            #[derive(Deserialize)]
            struct Header<'a> {
                #[serde(borrow)]
                alg: Option<&'a str>,
            }
            #[derive(Deserialize)]
            struct Claims {
                iss: Option<String>,
            }
            let mut parts = token.split('.');
            let (Some(header), Some(claims), Some(_), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return false;
            };
            let Ok(header) = URL_SAFE_NO_PAD.decode(header) else {
                return false;
            };
            if !serde_json::from_slice::<Header<'_>>(&header).is_ok_and(|h| h.alg.is_some()) {
                return false;
            }
            let Ok(claims) = URL_SAFE_NO_PAD.decode(claims) else {
                return false;
            };
            match serde_json::from_slice::<Claims>(&claims) {
                Ok(Claims { iss: Some(iss) }) => self.jwt.issuers().any(|trusted| trusted == iss),
                _ => false,
            }
        }
    }

    #[async_trait]
    impl TokenVerifier for JwtOrIntrospection {
        async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
            if self.routes_to_jwt(token) {
                self.jwt.verify(token).await
            } else {
                self.introspection.verify(token).await
            }
        }

        fn authorization_servers(&self) -> Vec<String> {
            let mut all = self.jwt.authorization_servers();
            for issuer in self.introspection.authorization_servers() {
                if !all.contains(&issuer) {
                    all.push(issuer);
                }
            }
            all
        }
    }

    impl fmt::Debug for JwtOrIntrospection {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("JwtOrIntrospection")
                .field("jwt", &self.jwt)
                .field("introspection", &self.introspection)
                .finish()
        }
    }
}
