//! How the introspection verifier authenticates to the introspection endpoint:
//! `client_secret_basic`, `client_secret_post`, or a [`ClientAuthenticator`] of your own.

use std::{fmt, sync::Arc};

use http::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::{BoxError, resource::redacted_url};

/// Adds client authentication to an introspection request, for methods other than
/// `client_secret_basic` and `client_secret_post` (for example `private_key_jwt`, or a
/// bearer token the authorization server gave this resource server).
///
/// # Example
///
/// ```
/// use http::{HeaderValue, header};
/// use mcp_auth::{
///     BoxError,
///     verifier::{
///         IntrospectionVerifier,
///         introspection::{ClientAuthRequest, ClientAuthenticator},
///     },
/// };
///
/// #[derive(Debug)]
/// struct RsBearer;
///
/// impl ClientAuthenticator for RsBearer {
///     fn authenticate(&self, request: &mut ClientAuthRequest) -> Result<(), BoxError> {
///         assert!(request.endpoint().ends_with("/introspect"));
///         request.insert_header(header::AUTHORIZATION, HeaderValue::from_static("Bearer rs-token"));
///         request.append_param("client_id", "rs");
///         Ok(())
///     }
/// }
///
/// let verifier = IntrospectionVerifier::builder()
///     .endpoint("https://auth.example.com/introspect")
///     .client_authenticator(RsBearer)
///     .build()?;
/// assert!(format!("{verifier:?}").contains("RsBearer"));
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
pub trait ClientAuthenticator: fmt::Debug + Send + Sync + 'static {
    /// Adds form parameters or headers to `request`. Called once per introspection call.
    ///
    /// # Errors
    ///
    /// Any error makes the verification [unavailable](crate::VerifyError::unavailable) (`503`).
    fn authenticate(&self, request: &mut ClientAuthRequest) -> Result<(), BoxError>;
}

/// An introspection request being prepared, as a [`ClientAuthenticator`] sees it.
///
/// # Example
///
/// See [`ClientAuthenticator`].
pub struct ClientAuthRequest {
    endpoint: String,
    params: Vec<(String, String)>,
    headers: HeaderMap,
}

impl ClientAuthRequest {
    /// The introspection endpoint the request goes to (for the `aud` of a client assertion).
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Appends a form parameter (such as `client_assertion`). `token` and `token_type_hint`
    /// are set by the verifier and cannot be replaced.
    pub fn append_param(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        if name != "token" && name != "token_type_hint" {
            self.params.push((name, value.into()));
        }
    }

    /// Sets a request header (such as `Authorization`).
    pub fn insert_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.insert(name, value);
    }
}

impl fmt::Debug for ClientAuthRequest {
    /// Names only: parameter values and headers carry credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<&str> = self.params.iter().map(|(name, _)| name.as_str()).collect();
        let headers: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("ClientAuthRequest")
            .field("endpoint", &redacted_url(&self.endpoint))
            .field("params", &params)
            .field("headers", &headers)
            .finish()
    }
}

/// How the verifier authenticates to the introspection endpoint.
#[derive(Clone)]
pub(crate) enum ClientAuth {
    /// No client authentication (a public token-information endpoint).
    None,
    Basic {
        id: String,
        secret: String,
    },
    Post {
        id: String,
        secret: String,
    },
    Custom(Arc<dyn ClientAuthenticator>),
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { id, .. } => f
                .debug_struct("ClientSecretBasic")
                .field("client_id", id)
                .field("client_secret", &"[redacted]")
                .finish(),
            Self::Post { id, .. } => f
                .debug_struct("ClientSecretPost")
                .field("client_id", id)
                .field("client_secret", &"[redacted]")
                .finish(),
            Self::Custom(custom) => custom.fmt(f),
            Self::None => f.write_str("None"),
        }
    }
}

/// What client authentication adds to one introspection request.
#[derive(Default)]
pub(crate) struct Credentials {
    /// Form parameters besides `token` and `token_type_hint`.
    pub(crate) params: Vec<(String, String)>,
    /// Extra request headers.
    pub(crate) headers: HeaderMap,
    /// HTTP Basic credentials (`client_secret_basic`).
    pub(crate) basic: Option<(String, String)>,
}

impl ClientAuth {
    /// The credentials for one request to `endpoint`.
    pub(crate) fn credentials(&self, endpoint: &Url) -> Result<Credentials, BoxError> {
        Ok(match self {
            Self::None => Credentials::default(),
            Self::Basic { id, secret } => Credentials {
                basic: Some((id.clone(), secret.clone())),
                ..Credentials::default()
            },
            Self::Post { id, secret } => Credentials {
                params: vec![
                    ("client_id".to_owned(), id.clone()),
                    ("client_secret".to_owned(), secret.clone()),
                ],
                ..Credentials::default()
            },
            Self::Custom(authenticator) => {
                let mut request = ClientAuthRequest {
                    endpoint: endpoint.to_string(),
                    params: Vec::new(),
                    headers: HeaderMap::new(),
                };
                authenticator.authenticate(&mut request)?;
                Credentials {
                    params: request.params,
                    headers: request.headers,
                    basic: None,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_not_credentials() {
        let request = ClientAuthRequest {
            endpoint: "https://rs:hunter2@as.example.com/introspect".to_owned(),
            params: vec![("client_assertion".to_owned(), "hunter3".to_owned())],
            headers: HeaderMap::from_iter([(
                http::header::AUTHORIZATION,
                HeaderValue::from_static("Bearer hunter4"),
            )]),
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("hunter"), "{debug}");
        assert!(debug.contains("client_assertion"), "{debug}");
        let basic = ClientAuth::Basic {
            id: "rs".into(),
            secret: "hunter5".into(),
        };
        let debug = format!("{basic:?}");
        assert!(!debug.contains("hunter"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }
}
