//! The audit's only way onto the network: [`Http::send`], which enforces the safety rules.
//!
//! - a rate limit (a minimum interval between two requests) and a total request budget;
//! - a timeout on every request (connect and whole exchange) and a bound on each body read;
//! - no redirects followed;
//! - a request that carries a token (`Authorization`, `?access_token=`, a form token) goes to
//!   the server under test's origin or nowhere.

use std::{
    fmt,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use reqwest::{
    Method, StatusCode,
    header::{self, HeaderMap, HeaderName, HeaderValue},
    redirect,
};
use serde_json::Value;
use tokio::{sync::Mutex, time::Instant};
use url::{Origin, Url};

use crate::mcp;

/// The most of a response body the audit reads.
const MAX_BODY: usize = 256 * 1024;

/// A request to send, built by the checks.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    /// Whether the request carries a token anywhere (header, query or body).
    carries_token: bool,
}

impl Request {
    pub(crate) fn new(method: Method, url: &Url) -> Self {
        Self {
            method,
            url: url.clone(),
            headers: HeaderMap::new(),
            body: None,
            carries_token: false,
        }
    }

    pub(crate) fn get(url: &Url) -> Self {
        Self::new(Method::GET, url)
    }

    /// A POST shaped as an MCP client sends it: JSON-RPC `message`, `Content-Type:
    /// application/json`, `Accept: application/json, text/event-stream`.
    pub(crate) fn mcp(url: &Url, message: &Value) -> Self {
        Self::new(Method::POST, url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .body(message.to_string().into_bytes())
    }

    /// Adds a header (a second one of a name is appended, not replaced).
    pub(crate) fn header(mut self, name: HeaderName, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(value) => {
                self.headers.append(name, value);
            }
            // Only the audit's own values reach this; none has control characters.
            Err(_) => debug_assert!(false, "invalid header value for {name}"),
        }
        self
    }

    /// Adds `Authorization: Bearer <token>` (appended: twice gives two headers).
    pub(crate) fn bearer(mut self, token: &str) -> Self {
        self.carries_token = true;
        self.header(header::AUTHORIZATION, &format!("Bearer {token}"))
    }

    /// Adds `access_token=<token>` to the query string.
    pub(crate) fn query_token(mut self, token: &str) -> Self {
        self.carries_token = true;
        self.url
            .query_pairs_mut()
            .append_pair("access_token", token);
        self
    }

    /// Replaces the body with a form carrying `access_token=<token>`.
    pub(crate) fn form_token(mut self, token: &str) -> Self {
        self.carries_token = true;
        self.headers.remove(header::CONTENT_TYPE);
        self.body = Some(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("access_token", token)
                .finish()
                .into_bytes(),
        );
        self.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
    }

    pub(crate) fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }
}

/// A response, its body read (bounded).
#[derive(Clone, Debug)]
pub(crate) struct Exchange {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Exchange {
    /// The value of a header (all of them joined by `, ` when repeated), if it is text.
    pub(crate) fn header(&self, name: &HeaderName) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    pub(crate) fn content_type(&self) -> String {
        self.header(&header::CONTENT_TYPE).unwrap_or_default()
    }

    /// Whether the content type is `application/json` (parameters aside).
    pub(crate) fn is_json(&self) -> bool {
        let content_type = self.content_type().to_ascii_lowercase();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        essence == "application/json"
    }

    /// The body as JSON, if it is.
    pub(crate) fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The JSON-RPC response in the body: the JSON body itself or an SSE `data:` event.
    pub(crate) fn json_rpc(&self) -> Option<Value> {
        mcp::response_message(&self.body)
    }

    /// `Retry-After` in seconds, when it is a number; at most a day (more is a day), so that
    /// a server's number cannot overflow the waits added to it.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        const LONGEST: u64 = 24 * 60 * 60;
        let value = self.header(&header::RETRY_AFTER)?;
        let seconds = value.trim().parse::<u64>().ok()?;
        Some(Duration::from_secs(seconds.min(LONGEST)))
    }
}

/// Why a request was not answered.
#[derive(Clone, Debug)]
pub(crate) enum HttpError {
    /// The request budget (`--max-requests`) is spent.
    Budget(u32),
    /// The request would have sent a token to another origin.
    Refused(String),
    /// Connection, timeout or protocol error.
    Transport(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Budget(max) => write!(f, "request budget spent ({max} requests, --max-requests)"),
            Self::Refused(why) => write!(f, "not sent: {why}"),
            Self::Transport(why) => write!(f, "no answer: {why}"),
        }
    }
}

/// The rate-limited, bounded HTTP client.
#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    server: Origin,
    interval: Duration,
    next_slot: Mutex<Instant>,
    sent: AtomicU32,
    max_requests: u32,
}

impl Http {
    pub(crate) fn new(
        server: &Url,
        requests_per_second: f64,
        max_requests: u32,
        timeout: Duration,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("mcp-auth-audit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        Ok(Self {
            client,
            server: server.origin(),
            interval: Duration::from_secs_f64(1.0 / requests_per_second.max(0.01)),
            next_slot: Mutex::new(Instant::now()),
            sent: AtomicU32::new(0),
            max_requests,
        })
    }

    /// How many requests went out.
    pub(crate) fn sent(&self) -> u32 {
        self.sent.load(Ordering::SeqCst).min(self.max_requests)
    }

    /// Sends `request` (after its turn in the rate limit) and reads the body, bounded. An
    /// event stream is read until it has carried a JSON-RPC response.
    pub(crate) async fn send(&self, request: Request) -> Result<Exchange, HttpError> {
        if request.carries_token && request.url.origin() != self.server {
            return Err(HttpError::Refused(format!(
                "a token may only go to the server under test ({}), not {}",
                self.server.ascii_serialization(),
                request.url.origin().ascii_serialization()
            )));
        }
        if self.sent.fetch_add(1, Ordering::SeqCst) >= self.max_requests {
            return Err(HttpError::Budget(self.max_requests));
        }
        self.wait_turn().await;

        let mut builder = self
            .client
            .request(request.method, request.url)
            .headers(request.headers);
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder
            .send()
            .await
            .map_err(|err| HttpError::Transport(error_chain(&err)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let event_stream = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.to_ascii_lowercase().starts_with("text/event-stream"));
        let mut body = Vec::new();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                // A stream cut short after the message arrived is as good as a finished one.
                Err(_) if event_stream && mcp::response_message(&body).is_some() => break,
                Err(err) => return Err(HttpError::Transport(error_chain(&err))),
            };
            let room = MAX_BODY.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_BODY || (event_stream && mcp::response_message(&body).is_some()) {
                break;
            }
        }
        Ok(Exchange {
            status,
            headers,
            body,
        })
    }

    async fn wait_turn(&self) {
        let mut next = self.next_slot.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep_until(*next).await;
        }
        *next = Instant::now().max(*next) + self.interval;
    }
}

/// An error and its sources, on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_token_never_leaves_the_server_origin() {
        let server = Url::parse("http://127.0.0.1:9/mcp").unwrap();
        let http = Http::new(&server, 10.0, 10, Duration::from_secs(1)).unwrap();
        let elsewhere = Url::parse("http://127.0.0.1:10/mcp").unwrap();
        for request in [
            Request::get(&elsewhere).bearer("t"),
            Request::get(&elsewhere).query_token("t"),
            Request::new(Method::POST, &elsewhere).form_token("t"),
        ] {
            let err = http.send(request).await.unwrap_err();
            assert!(matches!(err, HttpError::Refused(_)), "{err}");
        }
        // Refused before counting: nothing went out.
        assert_eq!(http.sent(), 0);
    }

    #[test]
    fn retry_after_is_read_as_seconds_and_capped_at_a_day() {
        let exchange = |value: &str| Exchange {
            status: StatusCode::SERVICE_UNAVAILABLE,
            headers: HeaderMap::from_iter([(header::RETRY_AFTER, value.parse().unwrap())]),
            body: Vec::new(),
        };
        assert_eq!(exchange("7").retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(exchange(" 7 ").retry_after(), Some(Duration::from_secs(7)));
        for huge in ["86401", "18446744073709551615"] {
            assert_eq!(
                exchange(huge).retry_after(),
                Some(Duration::from_secs(86_400)),
                "{huge}"
            );
        }
        for not_seconds in [
            "-1",
            "soon",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "99999999999999999999",
        ] {
            assert_eq!(exchange(not_seconds).retry_after(), None, "{not_seconds}");
        }
    }
}
