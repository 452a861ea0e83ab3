//! Certificate-bound tokens (RFC 8705): [`CertificateBinding`].
//!
//! A token whose confirmation names a client certificate (`cnf.x5t#S256`) may only be used
//! over a connection authenticated with that certificate. The layer does not see TLS; the
//! server that terminates it does. Without a [`CertificateBinding`] such tokens are refused
//! (`401`), never taken as plain bearer tokens.

use http::{Extensions, HeaderMap};

/// Tells the layer which client certificate the request's connection was authenticated with,
/// as the base64url SHA-256 of its DER encoding (the form of `cnf.x5t#S256`).
///
/// Read it from what your TLS terminator provides: a request extension your own connection
/// handling inserts, or a header a trusted proxy sets (and strips from client requests).
/// Closures `Fn(&HeaderMap, &Extensions) -> Option<String>` implement it.
///
/// # Example
///
/// ```
/// use http::{Extensions, HeaderMap};
/// use mcp_auth::{McpAuth, testing::StaticVerifier};
///
/// // The proxy in front of this server puts the certificate's thumbprint in a header.
/// let from_proxy = |headers: &HeaderMap, _: &Extensions| {
///     headers
///         .get("x-client-cert-sha256")
///         .and_then(|v| v.to_str().ok())
///         .map(str::to_owned)
/// };
/// let auth = McpAuth::builder("https://mcp.example.com/mcp")
///     .authorization_server("https://auth.example.com")
///     .verifier(StaticVerifier::new())
///     .certificate_binding(from_proxy)
///     .build()?;
/// # drop(auth);
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
pub trait CertificateBinding: Send + Sync + 'static {
    /// The thumbprint of the client certificate of this request's connection, if any.
    fn thumbprint(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<String>;
}

impl<F> CertificateBinding for F
where
    F: Fn(&HeaderMap, &Extensions) -> Option<String> + Send + Sync + 'static,
{
    fn thumbprint(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<String> {
        self(headers, extensions)
    }
}
