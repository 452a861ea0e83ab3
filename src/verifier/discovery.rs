//! Authorization server discovery: RFC 8414 metadata, with OpenID Connect Discovery as the
//! fallback.
//!
//! For an issuer `https://as.example.com/tenant` the documents are tried in the order the MCP
//! specification gives:
//!
//! 1. `https://as.example.com/.well-known/oauth-authorization-server/tenant` (RFC 8414 §3.1,
//!    path insertion),
//! 2. `https://as.example.com/.well-known/openid-configuration/tenant` (path insertion),
//! 3. `https://as.example.com/tenant/.well-known/openid-configuration` (OpenID Connect
//!    Discovery 1.0 §4, path appending).
//!
//! An issuer without a path tries `/.well-known/oauth-authorization-server` then
//! `/.well-known/openid-configuration`. The `issuer` in the document must equal the configured
//! issuer byte for byte (RFC 8414 §3.3), or the document is rejected.

use std::fmt;

use serde_json::{Map, Value};
use url::Url;

use super::http::{FetchError, HttpClient};

/// Authorization server metadata (RFC 8414), as discovered for a trusted issuer.
///
/// Get it from [`JwtVerifier::authorization_server_metadata`]; it carries the endpoints other
/// verifiers need, such as the `introspection_endpoint` for RFC 7662.
///
/// # Example
///
/// ```
/// use mcp_auth::verifier::discovery::AuthorizationServerMetadata;
///
/// let metadata = AuthorizationServerMetadata::from_json(
///     "https://auth.example.com",
///     r#"{"issuer": "https://auth.example.com",
///         "jwks_uri": "https://auth.example.com/jwks",
///         "introspection_endpoint": "https://auth.example.com/introspect"}"#,
/// )?;
/// assert_eq!(metadata.issuer(), "https://auth.example.com");
/// assert_eq!(metadata.jwks_uri(), Some("https://auth.example.com/jwks"));
/// assert_eq!(metadata.introspection_endpoint(), Some("https://auth.example.com/introspect"));
///
/// // The issuer must match byte for byte.
/// assert!(AuthorizationServerMetadata::from_json(
///     "https://auth.example.com/",
///     r#"{"issuer": "https://auth.example.com"}"#,
/// )
/// .is_err());
/// # Ok::<(), mcp_auth::verifier::discovery::MetadataError>(())
/// ```
///
/// [`JwtVerifier::authorization_server_metadata`]: crate::verifier::JwtVerifier::authorization_server_metadata
#[derive(Clone)]
pub struct AuthorizationServerMetadata {
    issuer: String,
    jwks_uri: Option<Url>,
    introspection_endpoint: Option<Url>,
    token_endpoint: Option<Url>,
    document: Map<String, Value>,
}

/// Why an authorization server metadata document was rejected.
///
/// # Formatting
///
/// The `Display` text is not stable API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("authorization server metadata is not usable: {reason}")]
pub struct MetadataError {
    reason: &'static str,
}

impl AuthorizationServerMetadata {
    /// Parses and checks a metadata document for `expected_issuer`: the document must be a
    /// JSON object whose `issuer` equals `expected_issuer` byte for byte, and whose endpoint
    /// members, when present, are absolute URLs.
    ///
    /// # Errors
    ///
    /// [`MetadataError`] when the document is not JSON, the issuer differs, or an endpoint is
    /// not a URL.
    pub fn from_json(expected_issuer: &str, json: &str) -> Result<Self, MetadataError> {
        let document: Value = serde_json::from_str(json).map_err(|_| MetadataError {
            reason: "the document is not JSON",
        })?;
        Self::from_value(expected_issuer, document)
    }

    pub(crate) fn from_value(
        expected_issuer: &str,
        document: Value,
    ) -> Result<Self, MetadataError> {
        let Value::Object(document) = document else {
            return Err(MetadataError {
                reason: "the document is not a JSON object",
            });
        };
        match document.get("issuer") {
            Some(Value::String(issuer)) if issuer == expected_issuer => {}
            Some(Value::String(_)) => {
                return Err(MetadataError {
                    reason: "the issuer does not match the configured issuer",
                });
            }
            _ => {
                return Err(MetadataError {
                    reason: "the issuer is missing",
                });
            }
        }
        let url = |name: &str| -> Result<Option<Url>, MetadataError> {
            match document.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Url::parse(s).map(Some).map_err(|_| MetadataError {
                    reason: "an endpoint is not an absolute URL",
                }),
                Some(_) => Err(MetadataError {
                    reason: "an endpoint is not a string",
                }),
            }
        };
        Ok(Self {
            issuer: expected_issuer.to_owned(),
            jwks_uri: url("jwks_uri")?,
            introspection_endpoint: url("introspection_endpoint")?,
            token_endpoint: url("token_endpoint")?,
            document,
        })
    }

    /// The issuer identifier, equal to the configured one.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `jwks_uri`: where the issuer publishes its signing keys.
    #[must_use]
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_ref().map(Url::as_str)
    }

    /// The RFC 7662 `introspection_endpoint`.
    #[must_use]
    pub fn introspection_endpoint(&self) -> Option<&str> {
        self.introspection_endpoint.as_ref().map(Url::as_str)
    }

    /// The `token_endpoint`.
    #[must_use]
    pub fn token_endpoint(&self) -> Option<&str> {
        self.token_endpoint.as_ref().map(Url::as_str)
    }

    /// Any member of the document, by name.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.document.get(name)
    }

    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn jwks_url(&self) -> Option<&Url> {
        self.jwks_uri.as_ref()
    }

    #[allow(dead_code)] // For the introspection verifier.
    pub(crate) fn introspection_url(&self) -> Option<&Url> {
        self.introspection_endpoint.as_ref()
    }
}

impl fmt::Debug for AuthorizationServerMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationServerMetadata")
            .field("issuer", &self.issuer)
            .field("jwks_uri", &self.jwks_uri())
            .field("introspection_endpoint", &self.introspection_endpoint())
            .field("token_endpoint", &self.token_endpoint())
            .finish_non_exhaustive()
    }
}

/// Why discovery failed.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum DiscoveryError {
    #[error("authorization server metadata could not be fetched")]
    Fetch(#[source] FetchError),
    #[error("authorization server metadata was rejected")]
    Invalid(#[source] MetadataError),
}

/// The metadata URLs to try for `issuer`, in order.
pub(crate) fn metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let mut base = issuer.clone();
    base.set_query(None);
    base.set_fragment(None);
    let at = |path: String| {
        let mut url = base.clone();
        url.set_path(&path);
        url
    };
    if path.is_empty() {
        vec![
            at("/.well-known/oauth-authorization-server".to_owned()),
            at("/.well-known/openid-configuration".to_owned()),
        ]
    } else {
        vec![
            at(format!("/.well-known/oauth-authorization-server{path}")),
            at(format!("/.well-known/openid-configuration{path}")),
            at(format!("{path}/.well-known/openid-configuration")),
        ]
    }
}

/// Fetches and checks the metadata of `issuer` (the configured string, compared byte for
/// byte; `issuer_url` is its parsed form).
///
/// A location that answers with an error status or a document that is not JSON moves on to
/// the next; a document with the wrong issuer fails discovery; a network error or timeout
/// stops at once (the server is down, and each try would cost a full timeout).
pub(crate) async fn discover(
    client: &HttpClient,
    issuer: &str,
    issuer_url: &Url,
) -> Result<AuthorizationServerMetadata, DiscoveryError> {
    let mut last = None;
    for url in metadata_urls(issuer_url) {
        match client.get_json::<Value>(&url).await {
            Ok((document, _)) => {
                return AuthorizationServerMetadata::from_value(issuer, document)
                    .map_err(DiscoveryError::Invalid);
            }
            Err(err @ (FetchError::Status { .. } | FetchError::Json { .. })) => last = Some(err),
            Err(err) => return Err(DiscoveryError::Fetch(err)),
        }
    }
    Err(DiscoveryError::Fetch(last.unwrap_or(
        FetchError::InsecureUrl {
            origin: issuer_url.origin().ascii_serialization(),
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_insert_the_issuer_path() {
        let urls = |issuer: &str| -> Vec<String> {
            metadata_urls(&Url::parse(issuer).expect("parses"))
                .into_iter()
                .map(String::from)
                .collect()
        };
        assert_eq!(
            urls("https://as.example.com"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://as.example.com/"),
            urls("https://as.example.com")
        );
        assert_eq!(
            urls("https://as.example.com:8443/tenant/one"),
            [
                "https://as.example.com:8443/.well-known/oauth-authorization-server/tenant/one",
                "https://as.example.com:8443/.well-known/openid-configuration/tenant/one",
                "https://as.example.com:8443/tenant/one/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn issuer_must_match_exactly() {
        let doc = r#"{"issuer": "https://as.example.com/tenant"}"#;
        assert!(
            AuthorizationServerMetadata::from_json("https://as.example.com/tenant", doc).is_ok()
        );
        for other in [
            "https://as.example.com/tenant/",
            "https://AS.example.com/tenant",
            "https://as.example.com",
        ] {
            assert!(
                AuthorizationServerMetadata::from_json(other, doc).is_err(),
                "{other}"
            );
        }
        assert!(AuthorizationServerMetadata::from_json("x", r#"{"issuer": ["x"]}"#).is_err());
        assert!(
            AuthorizationServerMetadata::from_json("x", r#"{"issuer": "x", "jwks_uri": 3}"#)
                .is_err()
        );
    }
}
