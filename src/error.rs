//! Configuration errors.

/// A configuration given to [`McpAuth::builder`](crate::McpAuth::builder) was rejected by
/// `build()`.
///
/// Each variant carries the offending input, so the message says what to fix.
///
/// # Formatting
///
/// The `Display` text is not stable API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
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
    /// No authorization server was configured; MCP requires at least one in the metadata.
    #[error("no authorization server configured: MCP requires at least one")]
    MissingAuthorizationServer,
    /// No token verifier was configured.
    #[error("no token verifier configured")]
    MissingVerifier,
}
