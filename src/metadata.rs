//! RFC 9728 protected-resource metadata and the canonical resource URI.
//!
//! The layer serves the metadata document at the path-inserted well-known URL
//! (`/.well-known/oauth-protected-resource/mcp` for `https://host/mcp`) and at the root form
//! (`/.well-known/oauth-protected-resource`). Users who mount it elsewhere use
//! [`MetadataService`].

use std::{
    convert::Infallible,
    fmt,
    future::{Ready, ready},
    net::IpAddr,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::{Map, Value};
use url::Url;

/// The well-known path prefix of RFC 9728.
pub(crate) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A parsed canonical resource URI (RFC 8707 §2, MCP "canonical server URI").
#[derive(Clone, Debug)]
pub(crate) struct ResourceUri {
    /// Exactly as configured; published as `resource`.
    original: String,
    /// Lower-case scheme and host, default port dropped, root path empty.
    canonical: String,
    /// `scheme://host[:port]`, as canonicalised.
    origin: String,
    /// The path, empty for the root.
    path: String,
}

impl ResourceUri {
    /// Parses a resource URI: absolute `http`/`https`, no fragment, no query, no user info.
    pub(crate) fn parse(input: &str, allow_http: bool) -> Result<Self, String> {
        let url = parse_http_url(input, allow_http)?;
        if url.query().is_some() {
            return Err("must not have a query (RFC 8707 §2)".into());
        }
        let (canonical, origin, path) = canonical_parts(&url);
        Ok(Self {
            original: input.to_owned(),
            canonical,
            origin,
            path,
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.original
    }

    /// The path-inserted well-known path of this resource.
    pub(crate) fn well_known_path(&self) -> String {
        format!("{WELL_KNOWN}{}", self.path)
    }

    /// The absolute URL of the metadata document, for `resource_metadata=`.
    pub(crate) fn metadata_url(&self) -> String {
        format!("{}{}", self.origin, self.well_known_path())
    }

    /// Whether `audience` is byte-equal to this resource as configured or canonicalised.
    pub(crate) fn is_exactly(&self, audience: &str) -> bool {
        audience == self.original || audience == self.canonical
    }

    /// Whether `audience` names this resource.
    ///
    /// Scheme and host compare case-insensitively, a default port equals no port, and a trailing
    /// slash is an alias only for the root path. Anything else compares exactly.
    pub(crate) fn matches(&self, audience: &str) -> bool {
        if self.is_exactly(audience) {
            return true;
        }
        // Only URLs can be equal in a looser sense; skip the parse for anything else.
        if !audience
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("http"))
        {
            return false;
        }
        match Url::parse(audience) {
            Ok(url) if url.fragment().is_none() && url.query().is_none() => {
                url.username().is_empty()
                    && url.password().is_none()
                    && canonical_parts(&url).0 == self.canonical
            }
            _ => false,
        }
    }
}

fn canonical_parts(url: &Url) -> (String, String, String) {
    // `Url` lower-cases the scheme and a domain host and drops a default port.
    let mut origin = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        origin.push(':');
        origin.push_str(&port.to_string());
    }
    let path = match url.path() {
        "/" => String::new(),
        path => path.to_owned(),
    };
    (format!("{origin}{path}"), origin, path)
}

/// Parses an absolute `http(s)` URL without fragment or user info, `http` only for loopback
/// hosts unless `allow_http`.
pub(crate) fn parse_http_url(input: &str, allow_http: bool) -> Result<Url, String> {
    if input.trim() != input || input.is_empty() {
        return Err("must be a non-empty URL without surrounding whitespace".into());
    }
    let url = Url::parse(input).map_err(|e| format!("not an absolute URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http || is_loopback(&url) => {}
        "http" => {
            return Err(
                "must use https (http is allowed for loopback hosts, or with danger_allow_http)"
                    .into(),
            );
        }
        _ => return Err("scheme must be https or http".into()),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must have a host".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user info".into());
    }
    Ok(url)
}

/// Whether the URL's host is a loopback name or address.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
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
        for (name, value) in parts.extra {
            doc.entry(name).or_insert(value);
        }
        let json = Bytes::from(Value::Object(doc).to_string());
        let cache_control = format!("public, max-age={}", parts.max_age.as_secs());
        Self {
            inner: Arc::new(MetadataInner {
                resource: parts.resource.as_str().to_owned(),
                url: parts.resource.metadata_url(),
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
    fn resource_parsing() {
        struct Case {
            name: &'static str,
            input: &'static str,
            ok: bool,
        }
        let cases = [
            Case {
                name: "https path",
                input: "https://mcp.example.com/mcp",
                ok: true,
            },
            Case {
                name: "https root",
                input: "https://mcp.example.com",
                ok: true,
            },
            Case {
                name: "port",
                input: "https://mcp.example.com:8443",
                ok: true,
            },
            Case {
                name: "loopback http",
                input: "http://127.0.0.1:3000/mcp",
                ok: true,
            },
            Case {
                name: "localhost http",
                input: "http://localhost:3000/mcp",
                ok: true,
            },
            Case {
                name: "ipv6 loopback",
                input: "http://[::1]:3000/mcp",
                ok: true,
            },
            Case {
                name: "remote http",
                input: "http://mcp.example.com/mcp",
                ok: false,
            },
            Case {
                name: "no scheme",
                input: "mcp.example.com/mcp",
                ok: false,
            },
            Case {
                name: "fragment",
                input: "https://mcp.example.com/mcp#x",
                ok: false,
            },
            Case {
                name: "query",
                input: "https://mcp.example.com/mcp?a=b",
                ok: false,
            },
            Case {
                name: "userinfo",
                input: "https://u:p@mcp.example.com/mcp",
                ok: false,
            },
            Case {
                name: "other scheme",
                input: "ftp://mcp.example.com",
                ok: false,
            },
            Case {
                name: "empty",
                input: "",
                ok: false,
            },
            Case {
                name: "whitespace",
                input: " https://mcp.example.com",
                ok: false,
            },
        ];
        for case in cases {
            assert_eq!(
                ResourceUri::parse(case.input, false).is_ok(),
                case.ok,
                "{}",
                case.name
            );
        }
        assert!(ResourceUri::parse("http://mcp.example.com/mcp", true).is_ok());
    }

    #[test]
    fn audience_canonicalisation() {
        struct Case {
            name: &'static str,
            resource: &'static str,
            audience: &'static str,
            matches: bool,
        }
        let cases = [
            Case {
                name: "exact",
                resource: "https://h.example/mcp",
                audience: "https://h.example/mcp",
                matches: true,
            },
            Case {
                name: "upper host",
                resource: "https://h.example/mcp",
                audience: "https://H.EXAMPLE/mcp",
                matches: true,
            },
            Case {
                name: "upper scheme",
                resource: "https://h.example/mcp",
                audience: "HTTPS://h.example/mcp",
                matches: true,
            },
            Case {
                name: "default port",
                resource: "https://h.example/mcp",
                audience: "https://h.example:443/mcp",
                matches: true,
            },
            Case {
                name: "path case",
                resource: "https://h.example/mcp",
                audience: "https://h.example/MCP",
                matches: false,
            },
            Case {
                name: "trailing slash non-root",
                resource: "https://h.example/mcp",
                audience: "https://h.example/mcp/",
                matches: false,
            },
            Case {
                name: "trailing slash root",
                resource: "https://h.example",
                audience: "https://h.example/",
                matches: true,
            },
            Case {
                name: "root configured with slash",
                resource: "https://h.example/",
                audience: "https://h.example",
                matches: true,
            },
            Case {
                name: "other host",
                resource: "https://h.example/mcp",
                audience: "https://evil.example/mcp",
                matches: false,
            },
            Case {
                name: "other port",
                resource: "https://h.example/mcp",
                audience: "https://h.example:8443/mcp",
                matches: false,
            },
            Case {
                name: "other scheme",
                resource: "https://h.example/mcp",
                audience: "http://h.example/mcp",
                matches: false,
            },
            Case {
                name: "prefix",
                resource: "https://h.example/mcp",
                audience: "https://h.example",
                matches: false,
            },
            Case {
                name: "longer path",
                resource: "https://h.example/mcp",
                audience: "https://h.example/mcp/x",
                matches: false,
            },
            Case {
                name: "query",
                resource: "https://h.example/mcp",
                audience: "https://h.example/mcp?x",
                matches: false,
            },
            Case {
                name: "fragment",
                resource: "https://h.example/mcp",
                audience: "https://h.example/mcp#x",
                matches: false,
            },
            Case {
                name: "userinfo",
                resource: "https://h.example/mcp",
                audience: "https://a@h.example/mcp",
                matches: false,
            },
            Case {
                name: "not a url",
                resource: "https://h.example/mcp",
                audience: "mcp",
                matches: false,
            },
            Case {
                name: "empty",
                resource: "https://h.example/mcp",
                audience: "",
                matches: false,
            },
            Case {
                name: "suffix host",
                resource: "https://h.example/mcp",
                audience: "https://h.example.evil/mcp",
                matches: false,
            },
        ];
        for case in cases {
            let resource = ResourceUri::parse(case.resource, false).unwrap();
            assert_eq!(
                resource.matches(case.audience),
                case.matches,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn well_known_paths() {
        let r = ResourceUri::parse("https://H.example:8443/public/mcp", false).unwrap();
        assert_eq!(
            r.well_known_path(),
            "/.well-known/oauth-protected-resource/public/mcp"
        );
        assert_eq!(
            r.metadata_url(),
            "https://h.example:8443/.well-known/oauth-protected-resource/public/mcp"
        );
        let root = ResourceUri::parse("https://h.example/", false).unwrap();
        assert_eq!(root.well_known_path(), WELL_KNOWN);
        assert_eq!(
            root.metadata_url(),
            "https://h.example/.well-known/oauth-protected-resource"
        );
    }
}
