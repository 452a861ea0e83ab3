//! A bounded HTTP client for the network verifiers: JSON documents fetched from an
//! authorization server (JWKS, metadata) and form posts (introspection).
//!
//! Every request has a connect timeout and a total timeout, follows no redirects, reads at most
//! a configured number of bytes, and goes to `https` URLs only, except loopback hosts or when
//! the caller opted into `danger_allow_http`. Only a `200 OK` answer is used; any other status
//! (including other `2xx`) is an error. Errors name the URL's origin only: reqwest's errors
//! are stripped of their URL (which may carry a path, query or credentials) before they are
//! kept as a source.

use std::{fmt, sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use url::Url;

use crate::{
    ConfigError,
    error::{nonzero_duration, nonzero_size},
    resource::{check_transport, parse_http_url, parse_issuer, redacted_url},
};

/// Limits and policy for [`HttpClient`], set through the verifier builders.
#[derive(Clone, Debug)]
pub(crate) struct HttpOptions {
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_response_size: usize,
    pub(crate) danger_allow_http: bool,
}

impl HttpOptions {
    /// The defaults, with responses read up to `max_response_size` bytes.
    pub(crate) fn new(max_response_size: usize) -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(5),
            max_response_size,
            danger_allow_http: false,
        }
    }

    /// A configured URL to fetch (an endpoint, a `jwks_uri`), checked by the
    /// [transport rule](check_transport) under these options. The error names the URL without
    /// credentials.
    pub(crate) fn parse_url(&self, url: &str) -> Result<Url, ConfigError> {
        parse_http_url(url, self.danger_allow_http).map_err(|message| ConfigError::InvalidUrl {
            url: redacted_url(url),
            message,
        })
    }

    /// A configured issuer identifier, checked like [`parse_url`](Self::parse_url) and as RFC
    /// 8414 §2 asks (no query or fragment).
    pub(crate) fn parse_issuer(&self, issuer: &str) -> Result<Url, ConfigError> {
        parse_issuer(issuer, self.danger_allow_http).map_err(|message| ConfigError::InvalidIssuer {
            issuer: redacted_url(issuer),
            message,
        })
    }
}

/// The HTTP settings of the verifier builders, written once: each builder has an `http:
/// HttpOptions` field (checked by [`HttpClient::new`]) and invokes this macro in its `impl`
/// block with what its requests fetch, the default response size limit, and what
/// `danger_allow_http` risks for it.
macro_rules! http_setters {
    (
        requests: $requests:literal,
        responses: $responses:literal,
        default_max_response_size: $max:literal,
        plain_http: $plain:literal,
        plain_http_risk: $risk:literal $(,)?
    ) => {
        #[doc = concat!("Sets the connect timeout for ", $requests, " (within the total")]
        /// [`http_timeout`](Self::http_timeout)). Defaults to `3 s`.
        pub fn http_connect_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.http.connect_timeout = timeout;
            self
        }

        #[doc = concat!("Sets the total timeout (connect, headers and body) for ", $requests, ".")]
        /// Keep it below the layer's [`verify_timeout`](crate::McpAuthBuilder::verify_timeout)
        /// (10 s by default), so that discovery and one more request fit in it. Defaults to
        /// `5 s`.
        pub fn http_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.http.timeout = timeout;
            self
        }

        #[doc = concat!("Sets the largest ", $responses, " read, in bytes.")]
        #[doc = concat!("Defaults to `", $max, "`.")]
        pub fn max_response_size(mut self, bytes: usize) -> Self {
            self.http.max_response_size = bytes;
            self
        }

        #[doc = concat!("Allows plain `http` ", $plain, " on hosts other than loopback.")]
        ///
        /// # Security
        ///
        #[doc = concat!($risk, " For local development only. Defaults to `false`.")]
        pub fn danger_allow_http(mut self, allow: bool) -> Self {
            self.http.danger_allow_http = allow;
            self
        }
    };
}
pub(crate) use http_setters;

/// The HTTP client shared by the verifiers. Cheap to clone.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    options: Arc<HttpOptions>,
}

/// A response whose body was read within the size limit, whatever its status.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl HttpResponse {
    /// The body as JSON, for a `200 OK` answer only: RFC 7662 §2.2 and RFC 8414 §3.2 answer
    /// with it, and a `201`, `202` or `203` is no answer to rely on (a `202` may come from a
    /// proxy or a queue).
    pub(crate) fn ok_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
    ) -> Result<T, FetchError> {
        if self.status != StatusCode::OK {
            return Err(FetchError::Status {
                origin: origin(url),
                status: self.status,
            });
        }
        self.json(url)
    }

    /// The body as JSON, whatever the status.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self, url: &Url) -> Result<T, FetchError> {
        parse_json(url, &self.body)
    }
}

/// Why a fetch failed. The message names the URL's origin only, never a query or credentials.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("refusing to fetch {origin} over plain http")]
    InsecureUrl { origin: String },
    #[error("request to {origin} failed")]
    Request {
        origin: String,
        /// Always built through [`FetchError::request`], which strips the URL.
        #[source]
        source: Arc<reqwest::Error>,
    },
    #[error("request to {origin} timed out")]
    Timeout { origin: String },
    #[error("{origin} answered with status {status}")]
    Status { origin: String, status: StatusCode },
    #[error("response from {origin} is larger than {limit} bytes")]
    TooLarge { origin: String, limit: usize },
    #[error("response from {origin} is not valid JSON")]
    Json {
        origin: String,
        #[source]
        source: Arc<serde_json::Error>,
    },
}

impl FetchError {
    /// A transport error from reqwest, without the URL reqwest keeps in it (its `Display`
    /// would print the full URL, path and query included).
    fn request(url: &Url, source: reqwest::Error) -> Self {
        Self::Request {
            origin: origin(url),
            source: Arc::new(source.without_url()),
        }
    }
}

impl HttpClient {
    /// Checks the options and builds the client.
    pub(crate) fn new(options: HttpOptions) -> Result<Self, ConfigError> {
        nonzero_duration("http_connect_timeout", options.connect_timeout)?;
        nonzero_duration("http_timeout", options.timeout)?;
        nonzero_size("max_response_size", options.max_response_size)?;
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mcp-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ConfigError::setting("http client", err.to_string()))?;
        Ok(Self {
            client,
            options: Arc::new(options),
        })
    }

    /// Checks that `url` may be fetched (the [transport rule](check_transport)): URLs read
    /// from metadata documents are checked here, before any request.
    pub(crate) fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        check_transport(url, self.options.danger_allow_http).map_err(|_| FetchError::InsecureUrl {
            origin: origin(url),
        })
    }

    /// `GET url` with `Accept: application/json`, parsed as JSON.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
    ) -> Result<(T, HeaderMap), FetchError> {
        let request = self
            .client
            .get(url.clone())
            .header(header::ACCEPT, HeaderValue::from_static("application/json"));
        let response = self.send(url, request).await?;
        let value = response.ok_json(url)?;
        Ok((value, response.headers))
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body, extra request headers (for
    /// custom client authentication), and optionally HTTP Basic client authentication (which
    /// wins over a header of the same name). The answer comes back whatever its status.
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        basic_auth: Option<(&str, &str)>,
        headers: HeaderMap,
    ) -> Result<HttpResponse, FetchError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().copied())
            .finish();
        let mut request = self
            .client
            .post(url.clone())
            .header(header::ACCEPT, HeaderValue::from_static("application/json"))
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .headers(headers)
            .body(body);
        if let Some((user, password)) = basic_auth {
            // RFC 6749 §2.3.1: form-encode both parts before Basic encoding.
            let user: String = form_urlencoded::byte_serialize(user.as_bytes()).collect();
            let password: String = form_urlencoded::byte_serialize(password.as_bytes()).collect();
            request = request.basic_auth(user, Some(password));
        }
        self.send(url, request).await
    }

    async fn send(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<HttpResponse, FetchError> {
        self.check_url(url)?;
        let limit = self.options.max_response_size;
        let request_error = |source: reqwest::Error| {
            if source.is_timeout() {
                FetchError::Timeout {
                    origin: origin(url),
                }
            } else {
                FetchError::request(url, source)
            }
        };
        let mut response = request.send().await.map_err(request_error)?;
        let status = response.status();
        let too_large = || FetchError::TooLarge {
            origin: origin(url),
            limit,
        };
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(request_error)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers: response.headers().clone(),
            body: body.freeze(),
        })
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The `Max-Age` of a `Cache-Control` header, if any (`no-store`/`no-cache` count as zero).
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) fn cache_max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = match directive.split_once('=') {
                Some((name, arg)) => (name.trim(), Some(arg.trim().trim_matches('"'))),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age")
                && let Some(secs) = arg.and_then(|arg| arg.parse::<u64>().ok())
            {
                max_age = Some(Duration::from_secs(secs));
            }
        }
    }
    max_age
}

fn parse_json<T: serde::de::DeserializeOwned>(url: &Url, body: &[u8]) -> Result<T, FetchError> {
    serde_json::from_slice(body).map_err(|source| FetchError::Json {
        origin: origin(url),
        source: Arc::new(source),
    })
}

/// `scheme://host[:port]`: enough to say where a request went without leaking paths or
/// queries (which may carry secrets) into errors.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut headers = HeaderMap::new();
        assert_eq!(cache_max_age(&headers), None);
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300, must-revalidate"),
        );
        assert_eq!(cache_max_age(&headers), Some(Duration::from_secs(300)));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        assert_eq!(cache_max_age(&headers), Some(Duration::ZERO));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=abc"),
        );
        assert_eq!(cache_max_age(&headers), None);
    }

    #[test]
    fn errors_name_the_origin_only() {
        let url = Url::parse("https://user:pw@as.example.com/jwks?secret=1").expect("parses");
        let err = FetchError::Status {
            origin: origin(&url),
            status: StatusCode::NOT_FOUND,
        };
        assert_eq!(
            err.to_string(),
            "https://as.example.com answered with status 404 Not Found"
        );
    }

    /// Serves every connection one raw HTTP/1.1 response with `status` and a JSON body.
    async fn one_status_server(status: &'static str) -> Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0_u8; 4096];
                let _ = stream.read(&mut buf).await;
                let body = r#"{"active":true}"#;
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        Url::parse(&format!("http://{addr}/introspect")).expect("parses")
    }

    #[tokio::test]
    async fn only_200_ok_is_used() {
        let client = HttpClient::new(HttpOptions::new(64 * 1024)).expect("client builds");
        let url = one_status_server("200 OK").await;
        let value: serde_json::Value = client
            .post_form(&url, &[("token", "t")], None, HeaderMap::new())
            .await
            .and_then(|response| response.ok_json(&url))
            .expect("200 is used");
        assert_eq!(value, serde_json::json!({"active": true}));
        for status in [
            "201 Created",
            "202 Accepted",
            "203 Non-Authoritative Information",
        ] {
            let url = one_status_server(status).await;
            let err = client
                .post_form(&url, &[("token", "t")], None, HeaderMap::new())
                .await
                .and_then(|response| response.ok_json::<serde_json::Value>(&url))
                .expect_err(status);
            assert!(
                matches!(err, FetchError::Status { .. }),
                "{status}: {err:?}"
            );
            let err = client
                .get_json::<serde_json::Value>(&url)
                .await
                .expect_err(status);
            assert!(
                matches!(err, FetchError::Status { .. }),
                "{status}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn transport_errors_do_not_carry_the_url() {
        // A port where nothing listens.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        drop(listener);
        let url = Url::parse(&format!(
            "http://user:hunter2@127.0.0.1:{port}/secret-path?token=hunter3"
        ))
        .expect("parses");
        let client = HttpClient::new(HttpOptions::new(64 * 1024)).expect("client builds");
        let err = client
            .get_json::<serde_json::Value>(&url)
            .await
            .expect_err("connection refused");
        assert!(matches!(err, FetchError::Request { .. }), "{err:?}");
        let mut texts = vec![err.to_string(), format!("{err:?}")];
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            texts.push(cause.to_string());
            texts.push(format!("{cause:?}"));
            source = cause.source();
        }
        for text in &texts {
            for secret in ["hunter2", "hunter3", "secret-path", "user"] {
                assert!(!text.contains(secret), "{secret} leaked: {text}");
            }
        }
        assert!(
            texts[0].contains(&format!("http://127.0.0.1:{port}")),
            "{texts:?}"
        );
    }
}
