//! RFC 9728 protected-resource metadata.
//!
//! The layer serves the metadata document at the path-inserted well-known URL
//! (`/.well-known/oauth-protected-resource/mcp` for `https://host/mcp`) and at the root form
//! (`/.well-known/oauth-protected-resource`). Users who mount it elsewhere use
//! [`MetadataService`].

use std::{
    convert::Infallible,
    fmt,
    future::{Ready, ready},
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::{Map, Value};

use crate::resource::ResourceUri;

/// The well-known path prefix of RFC 9728.
pub(crate) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The path-inserted well-known path of `resource` (RFC 9728 §3.1): the well-known prefix
/// between the host and the path. Equal to [`WELL_KNOWN`] for a root resource.
pub(crate) fn well_known_path(resource: &ResourceUri) -> String {
    format!("{WELL_KNOWN}{}", resource.path())
}

/// The absolute URL of the metadata document of `resource`, for `resource_metadata=`.
pub(crate) fn metadata_url(resource: &ResourceUri) -> String {
    format!("{}{}", resource.origin(), well_known_path(resource))
}

/// An RFC 9728 protected-resource metadata document.
///
/// Built by [`McpAuth::builder`](crate::McpAuth::builder) from its configuration and
/// serialised once. Read it with [`McpAuth::metadata`](crate::McpAuth::metadata), serve it
/// elsewhere with [`MetadataService`].
///
/// # Example
///
/// ```
/// use mcp_auth::{McpAuth, testing::StaticVerifier};
///
/// let auth = McpAuth::builder("https://mcp.example.com/mcp")
///     .authorization_server("https://auth.example.com")
///     .verifier(StaticVerifier::new())
///     .required_scopes(["mcp:read"])
///     .build()?;
/// let metadata = auth.metadata();
/// assert_eq!(metadata.resource(), "https://mcp.example.com/mcp");
/// assert_eq!(
///     metadata.url(),
///     "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
/// );
/// assert_eq!(metadata.scopes_supported(), ["mcp:read"]);
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ProtectedResourceMetadata {
    inner: Arc<MetadataInner>,
}

struct MetadataInner {
    resource: String,
    url: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    json: Bytes,
    cache_control: HeaderValue,
    content_length: HeaderValue,
}

/// Everything that goes into the document, collected by the builder.
pub(crate) struct MetadataParts<'a> {
    pub(crate) resource: &'a ResourceUri,
    pub(crate) authorization_servers: Vec<String>,
    pub(crate) scopes_supported: Vec<String>,
    pub(crate) resource_name: Option<String>,
    pub(crate) resource_documentation: Option<String>,
    pub(crate) extra: Map<String, Value>,
    pub(crate) max_age: Duration,
    /// The DPoP proof algorithms, and whether DPoP-bound tokens are required (RFC 9449 §5.1).
    pub(crate) dpop: Option<(Vec<String>, bool)>,
}

impl ProtectedResourceMetadata {
    pub(crate) fn new(parts: MetadataParts<'_>) -> Self {
        let mut doc = Map::new();
        doc.insert("resource".into(), parts.resource.as_str().into());
        doc.insert(
            "authorization_servers".into(),
            parts.authorization_servers.clone().into(),
        );
        if !parts.scopes_supported.is_empty() {
            doc.insert(
                "scopes_supported".into(),
                parts.scopes_supported.clone().into(),
            );
        }
        doc.insert("bearer_methods_supported".into(), vec!["header"].into());
        if let Some(name) = parts.resource_name {
            doc.insert("resource_name".into(), name.into());
        }
        if let Some(docs) = parts.resource_documentation {
            doc.insert("resource_documentation".into(), docs.into());
        }
        if let Some((algs, required)) = parts.dpop {
            doc.insert("dpop_signing_alg_values_supported".into(), algs.into());
            doc.insert("dpop_bound_access_tokens_required".into(), required.into());
        }
        for (name, value) in parts.extra {
            doc.entry(name).or_insert(value);
        }
        let json = Bytes::from(Value::Object(doc).to_string());
        let cache_control = format!("public, max-age={}", parts.max_age.as_secs());
        Self {
            inner: Arc::new(MetadataInner {
                resource: parts.resource.as_str().to_owned(),
                url: metadata_url(parts.resource),
                authorization_servers: parts.authorization_servers,
                scopes_supported: parts.scopes_supported,
                content_length: HeaderValue::from(json.len()),
                json,
                // Digits and ASCII only: always a valid header value.
                cache_control: HeaderValue::from_str(&cache_control)
                    .unwrap_or(HeaderValue::from_static("no-cache")),
            }),
        }
    }

    /// The `resource` identifier, exactly as configured.
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.inner.resource
    }

    /// The absolute URL of the document at the path-inserted well-known location; the value
    /// of `resource_metadata=` in every challenge.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The `authorization_servers`, each exactly as configured.
    #[must_use]
    pub fn authorization_servers(&self) -> &[String] {
        &self.inner.authorization_servers
    }

    /// The `scopes_supported`; never contains `offline_access`.
    #[must_use]
    pub fn scopes_supported(&self) -> &[String] {
        &self.inner.scopes_supported
    }

    /// The serialised JSON document.
    #[must_use]
    pub fn to_json(&self) -> Bytes {
        self.inner.json.clone()
    }

    /// A [`Service`](tower_service::Service) that serves this document, for mounting it on a
    /// route of your own.
    pub fn into_service(self) -> MetadataService {
        MetadataService { metadata: self }
    }

    /// Answers a request for the document: `GET`/`HEAD` get it, `OPTIONS` gets the CORS
    /// preflight answer, other methods get 405.
    pub(crate) fn respond(&self, method: &Method) -> Response<Bytes> {
        let mut res = Response::new(Bytes::new());
        let headers = res.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        let allow = HeaderValue::from_static("GET, HEAD, OPTIONS");
        match *method {
            Method::GET | Method::HEAD => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                headers.insert(header::CACHE_CONTROL, self.inner.cache_control.clone());
                headers.insert(header::CONTENT_LENGTH, self.inner.content_length.clone());
                if *method == Method::GET {
                    *res.body_mut() = self.inner.json.clone();
                }
            }
            Method::OPTIONS => {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, allow.clone());
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("*"),
                );
                headers.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static("86400"),
                );
                headers.insert(header::ALLOW, allow);
                *res.status_mut() = StatusCode::NO_CONTENT;
            }
            _ => {
                headers.insert(header::ALLOW, allow);
                *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            }
        }
        res
    }
}

impl fmt::Debug for ProtectedResourceMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResourceMetadata")
            .field("resource", &self.inner.resource)
            .field("url", &self.inner.url)
            .field("authorization_servers", &self.inner.authorization_servers)
            .field("scopes_supported", &self.inner.scopes_supported)
            .finish_non_exhaustive()
    }
}

/// Service that serves a [`ProtectedResourceMetadata`] document on any path it is mounted at.
///
/// `GET` and `HEAD` get the document with open CORS and `Cache-Control`, `OPTIONS` gets a
/// preflight answer, anything else gets `405 Method Not Allowed`.
///
/// # Example
///
/// ```
/// use http::{Request, StatusCode};
/// use mcp_auth::{McpAuth, testing::StaticVerifier};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_auth::BoxError> {
/// let auth = McpAuth::builder("https://mcp.example.com/mcp")
///     .authorization_server("https://auth.example.com")
///     .verifier(StaticVerifier::new())
///     .build()?;
/// let service = auth.metadata().clone().into_service();
/// let response = service.oneshot(Request::new(())).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct MetadataService {
    metadata: ProtectedResourceMetadata,
}

impl<B> tower_service::Service<Request<B>> for MetadataService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ready(Ok(self.metadata.respond(req.method()).map(Full::new)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_paths() {
        let r = ResourceUri::parse("https://H.example:8443/public/mcp", false).expect("parses");
        assert_eq!(
            well_known_path(&r),
            "/.well-known/oauth-protected-resource/public/mcp"
        );
        assert_eq!(
            metadata_url(&r),
            "https://h.example:8443/.well-known/oauth-protected-resource/public/mcp"
        );
        let root = ResourceUri::parse("https://h.example/", false).expect("parses");
        assert_eq!(well_known_path(&root), WELL_KNOWN);
        assert_eq!(
            metadata_url(&root),
            "https://h.example/.well-known/oauth-protected-resource"
        );
    }
}
