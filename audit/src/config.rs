//! What to audit and how: [`Config`].

use std::{error::Error, fmt, time::Duration};

use serde_json::Value;
use url::Url;

/// What to audit, and the bounds the audit keeps to.
///
/// ```
/// use std::time::Duration;
///
/// let config = mcp_auth_audit::Config::new("http://127.0.0.1:3000/mcp")?
///     .requests_per_second(5.0)
///     .timeout(Duration::from_secs(5))
///     .tool("add_note", ["notes:write"], serde_json::json!({ "text": "audit" }));
/// assert_eq!(config.url().as_str(), "http://127.0.0.1:3000/mcp");
/// # Ok::<(), mcp_auth_audit::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Config {
    url: Url,
    requests_per_second: f64,
    max_requests: u32,
    timeout: Duration,
    max_retry_wait: Duration,
    scopes: Option<Vec<String>>,
    tool: Option<ToolProbe>,
    echo_tool: Option<String>,
}

/// A tool to test step-up with.
#[derive(Clone, Debug)]
pub(crate) struct ToolProbe {
    pub(crate) name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) arguments: Value,
}

impl Config {
    /// Audits the MCP endpoint at `url` (`http` or `https`, no fragment, no user info).
    ///
    /// # Errors
    ///
    /// When `url` is not such a URL.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let url = Url::parse(url).map_err(|err| ConfigError(format!("{url:?}: {err}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError(format!("{url}: not an http or https URL")));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError(format!("{url}: no host")));
        }
        if url.fragment().is_some() {
            return Err(ConfigError(format!(
                "{url}: a resource URI has no fragment (RFC 8707 §2)"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError(format!(
                "{url}: user info in the URL would be sent as credentials; remove it"
            )));
        }
        Ok(Self {
            url,
            requests_per_second: 10.0,
            max_requests: 200,
            timeout: Duration::from_secs(10),
            max_retry_wait: Duration::from_secs(60),
            scopes: None,
            tool: None,
            echo_tool: None,
        })
    }

    /// The URL audited.
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The most requests per second. Defaults to `10.0`.
    pub fn requests_per_second(mut self, rate: f64) -> Self {
        self.requests_per_second = rate;
        self
    }

    /// The most requests in all; past it, the remaining checks are skipped. Defaults to `200`.
    pub fn max_requests(mut self, max: u32) -> Self {
        self.max_requests = max;
        self
    }

    /// The timeout of each request (connecting, and the whole exchange). Defaults to 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long the audit waits in all for `503` answers with `Retry-After` (a server
    /// refetching keys may ask for it) before it takes the `503` as the answer. Defaults to
    /// 60 s.
    pub fn max_retry_wait(mut self, wait: Duration) -> Self {
        self.max_retry_wait = wait;
        self
    }

    /// The scopes of the tokens the trusted issuer mints as "good". Defaults to the `scope` of
    /// the server's 401 challenge, else its metadata's `scopes_supported` (without
    /// `offline_access`), else none.
    pub fn scopes<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// A tool to test step-up with (trusted-issuer mode): called with `arguments` by a token
    /// without `scopes` (which must get `403 insufficient_scope`), then by one with them. With
    /// no `scopes`, the scopes are learnt from the 403. Defaults to none: the audit calls no
    /// tool it was not told to.
    pub fn tool<I>(mut self, name: impl Into<String>, scopes: I, arguments: Value) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.tool = Some(ToolProbe {
            name: name.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
            arguments,
        });
        self
    }

    /// A tool that returns the request headers it received, to check that the token does not
    /// reach the tools (trusted-issuer mode). Defaults to none: the check is skipped.
    pub fn echo_tool(mut self, name: impl Into<String>) -> Self {
        self.echo_tool = Some(name.into());
        self
    }

    pub(crate) fn rate(&self) -> f64 {
        self.requests_per_second
    }

    pub(crate) fn request_budget(&self) -> u32 {
        self.max_requests
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn retry_budget(&self) -> Duration {
        self.max_retry_wait
    }

    pub(crate) fn good_scopes(&self) -> Option<&[String]> {
        self.scopes.as_deref()
    }

    pub(crate) fn tool_probe(&self) -> Option<&ToolProbe> {
        self.tool.as_ref()
    }

    pub(crate) fn echo(&self) -> Option<&str> {
        self.echo_tool.as_deref()
    }
}

/// An unusable configuration: the message says what and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for ConfigError {}

/// The canonical form of a resource URI (MCP "Canonical Server URI", RFC 8707 §2): scheme and
/// host in lowercase, no default port, no fragment, and no trailing slash for an empty path.
pub(crate) fn canonical(url: &Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    if url.path() != "/" {
        out.push_str(url.path());
    }
    if let Some(query) = url.query() {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The origin of `url` as a canonical URI (`https://host[:port]`).
pub(crate) fn origin_uri(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uris() {
        for (input, expected) in [
            ("HTTPS://MCP.Example.com:443/", "https://mcp.example.com"),
            ("http://127.0.0.1:3000/mcp", "http://127.0.0.1:3000/mcp"),
            ("https://h/mcp/", "https://h/mcp/"),
            ("https://h:8443", "https://h:8443"),
        ] {
            assert_eq!(canonical(&Url::parse(input).unwrap()), expected, "{input}");
        }
    }

    #[test]
    fn unusable_urls_are_refused() {
        for url in [
            "ftp://h/mcp",
            "https://h/mcp#x",
            "https://user:pw@h/mcp",
            "not a url",
        ] {
            assert!(Config::new(url).is_err(), "{url}");
        }
    }
}
