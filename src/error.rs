//! Configuration errors, for the layer and every verifier builder.

use std::time::Duration;

/// A configuration was rejected by a `build()`: [`McpAuthBuilder::build`], or a verifier
/// builder's.
///
/// Each variant carries the offending input (never a secret or key material, and URLs without
/// their `user:password@`), so the message says what to fix. One type for every builder, so
/// `?` works across them.
///
/// # Formatting
///
/// The `Display` text is not stable API.
///
/// [`McpAuthBuilder::build`]: crate::McpAuthBuilder::build
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The same issuer was configured twice.
    #[error("issuer {issuer:?} is configured twice")]
    DuplicateIssuer {
        /// The issuer as given.
        issuer: String,
    },
    /// No JWS algorithm would be accepted.
    #[error("no JWS algorithm is allowed")]
    EmptyAlgorithms,
    /// An extra audience is not usable.
    #[error("invalid audience {audience:?}: {message}")]
    InvalidAudience {
        /// The audience as given.
        audience: String,
        /// What is wrong with it.
        message: String,
    },
    /// An authorization server URL is not usable.
    #[error("invalid authorization server {url:?}: {message}")]
    InvalidAuthorizationServer {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// An issuer identifier is not usable.
    #[error("invalid issuer {issuer:?}: {message}")]
    InvalidIssuer {
        /// The issuer as given, without any `user:password@`.
        issuer: String,
        /// What is wrong with it.
        message: String,
    },
    /// An issuer's keys are not usable.
    #[error("invalid keys for issuer {issuer:?}: {message}")]
    InvalidKeys {
        /// The issuer as given.
        issuer: String,
        /// What is wrong with them.
        message: String,
    },
    /// A metadata field is not usable.
    #[error("invalid metadata field {name:?}: {message}")]
    InvalidMetadataField {
        /// The field name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// An allowed `Origin` is not usable.
    #[error("invalid origin {origin:?}: {message}")]
    InvalidOrigin {
        /// The origin as given.
        origin: String,
        /// What is wrong with it.
        message: String,
    },
    /// A public path is not usable.
    #[error("invalid public path {path:?}: {message}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The canonical resource URI is not usable.
    #[error("invalid resource {resource:?}: {message}")]
    InvalidResource {
        /// The resource as given.
        resource: String,
        /// What is wrong with it.
        message: String,
    },
    /// A scope is not usable.
    #[error("invalid scope {scope:?}: {message}")]
    InvalidScope {
        /// The scope as given.
        scope: String,
        /// What is wrong with it.
        message: String,
    },
    /// A numeric or duration setting is out of range.
    #[error("invalid setting {name}: {message}")]
    InvalidSetting {
        /// The setting's name.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A URL (a JWKS URL, an introspection endpoint) is not usable.
    #[error("invalid URL {url:?}: {message}")]
    InvalidUrl {
        /// The URL as given, without any `user:password@`.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// No authorization server was configured; MCP requires at least one in the metadata.
    #[error("no authorization server configured: MCP requires at least one")]
    MissingAuthorizationServer,
    /// No client authentication was configured; RFC 7662 endpoints require one.
    #[error("no client authentication configured")]
    MissingClientAuth,
    /// The crate was built without a crypto backend: enable `jwt-aws-lc-rs` (the default) or
    /// `jwt-rust-crypto`.
    #[error("no crypto backend: enable the jwt-aws-lc-rs or jwt-rust-crypto feature")]
    MissingCryptoBackend,
    /// Neither an introspection endpoint nor an issuer to discover it from was configured.
    #[error("no introspection endpoint configured")]
    MissingEndpoint,
    /// No trusted issuer was configured.
    #[error("no trusted issuer configured")]
    MissingIssuer,
    /// No token verifier was configured.
    #[error("no token verifier configured")]
    MissingVerifier,
}

impl ConfigError {
    pub(crate) fn setting(name: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidSetting {
            name,
            message: message.into(),
        }
    }
}

/// Checks that a size setting is at least one.
pub(crate) fn nonzero_size(name: &'static str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::setting(name, "must be greater than zero"));
    }
    Ok(())
}

/// Checks that a duration setting is more than zero.
pub(crate) fn nonzero_duration(name: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::setting(name, "must be greater than zero"));
    }
    Ok(())
}
