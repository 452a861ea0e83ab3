//! What a test can switch on a running [`DevIssuer`] and what it can read back: the
//! [`DevIssuer`] methods that do it, the types they take ([`Endpoint`], [`Fault`]) and return
//! ([`IntrospectionRequest`]), and where the switches and counters are kept.

use std::{
    collections::HashMap,
    fmt,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use http::{HeaderMap, HeaderValue, header};
use serde_json::Value;

use super::DevIssuer;

/// An endpoint of a [`DevIssuer`], for its switches and request counters.
///
/// # Example
///
/// ```
/// use mcp_auth::testing::{DevIssuer, Endpoint};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_auth::BoxError> {
/// let issuer = DevIssuer::start().await?;
/// issuer.set_down(Endpoint::Jwks, true);
/// assert_eq!(reqwest::get(issuer.jwks_uri()).await?.status(), 503);
/// assert_eq!(reqwest::get(issuer.metadata_url()).await?.status(), 200);
/// assert_eq!(issuer.requests(Endpoint::Jwks), 1);
/// assert_eq!(issuer.requests(Endpoint::Metadata), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `/authorize`, the authorization endpoint.
    Authorize,
    /// `/introspect`, RFC 7662 token introspection.
    Introspection,
    /// `/jwks`, the public keys.
    Jwks,
    /// The RFC 8414 metadata at `/.well-known/oauth-authorization-server` (plus the issuer's
    /// path, if any: RFC 8414 §3.1 path insertion).
    Metadata,
    /// The OpenID Connect discovery document at `/.well-known/openid-configuration` (after the
    /// issuer's path, if any: OpenID Connect Discovery §4). A separate endpoint from
    /// [`Metadata`](Self::Metadata), so that a test can make one fail and not the other.
    OpenIdConfiguration,
    /// `/register`, RFC 7591 dynamic client registration.
    Registration,
    /// `/token`, the token endpoint.
    Token,
}

impl Endpoint {
    /// Every endpoint, in declaration order (`ALL[e.index()] == e`).
    pub(super) const ALL: [Self; 7] = [
        Self::Authorize,
        Self::Introspection,
        Self::Jwks,
        Self::Metadata,
        Self::OpenIdConfiguration,
        Self::Registration,
        Self::Token,
    ];

    /// The path this endpoint is served at, for an issuer whose own path is `issuer_path`
    /// (empty, or `/tenant` without a trailing slash).
    pub(super) fn path(self, issuer_path: &str) -> String {
        match self {
            Self::Metadata => format!("/.well-known/oauth-authorization-server{issuer_path}"),
            Self::OpenIdConfiguration => format!("{issuer_path}/.well-known/openid-configuration"),
            Self::Authorize => format!("{issuer_path}/authorize"),
            Self::Introspection => format!("{issuer_path}/introspect"),
            Self::Jwks => format!("{issuer_path}/jwks"),
            Self::Registration => format!("{issuer_path}/register"),
            Self::Token => format!("{issuer_path}/token"),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How an endpoint misbehaves, set with [`DevIssuer::set_fault`].
///
/// A fault answers every request to its endpoint until it is cleared. The request is still
/// counted and delayed first. Faults that need the endpoint's own answer ([`Status`],
/// [`Huge`], [`Truncated`]) let the endpoint run, so its side effects (a spent code, a minted
/// token) happen as they would when a response is lost on the way.
///
/// [`Status`]: Self::Status
/// [`Huge`]: Self::Huge
/// [`Truncated`]: Self::Truncated
///
/// # Example
///
/// ```
/// use mcp_auth::testing::{DevIssuer, Endpoint, Fault};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_auth::BoxError> {
/// let issuer = DevIssuer::start().await?;
/// issuer.set_fault(Endpoint::Jwks, Some(Fault::Garbage));
/// let response = reqwest::get(issuer.jwks_uri()).await?;
/// assert_eq!(response.status(), 200);
/// assert!(response.json::<serde_json::Value>().await.is_err());
///
/// issuer.set_fault(Endpoint::Jwks, None);
/// let jwks: serde_json::Value = reqwest::get(issuer.jwks_uri()).await?.json().await?;
/// assert_eq!(jwks, issuer.jwks());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// `200 OK`, `Content-Type: application/json`, and a body that is not JSON (an HTML error
    /// page, as a misconfigured proxy sends). The endpoint does not run.
    Garbage,
    /// `200 OK` with the endpoint's own JSON body, padded by an extra `padding` member to this
    /// many bytes (or left as it is when it is longer already): only the size is wrong.
    Huge(usize),
    /// `302 Found` with this `Location` and no body. The endpoint does not run. A location
    /// that is not a valid header value answers `500`.
    Redirect(String),
    /// A TCP reset: once the request has arrived, the connection is aborted (`SO_LINGER` 0)
    /// without an answer. The endpoint does not run.
    Reset,
    /// The endpoint's own response with this status instead, so that only the status tells
    /// the failure apart (a client that ignores it would be fooled). A code outside 200–599
    /// answers `500`.
    Status(u16),
    /// The endpoint's own status, headers and complete body, but a `Content-Length` larger
    /// than the body; the connection then closes, so the body ends early.
    Truncated,
}

/// The last request `/introspect` received, from
/// [`DevIssuer::last_introspection_request`].
///
/// Recorded before the request is checked, so malformed requests are kept too; requests a
/// [`Fault`] answers without running the endpoint (`Garbage`, `Redirect`, `Reset`) are not.
/// `Debug` shows the names of the parameters and headers, never their values (the token,
/// client secrets, credentials).
///
/// # Example
///
/// ```
/// use mcp_auth::testing::DevIssuer;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_auth::BoxError> {
/// let issuer = DevIssuer::builder().client("rs", "secret").start().await?;
/// reqwest::Client::new()
///     .post(issuer.introspection_endpoint())
///     .basic_auth("rs", Some("secret"))
///     .form(&[("token", "abc"), ("token_type_hint", "access_token")])
///     .send()
///     .await?;
/// let request = issuer.last_introspection_request().unwrap();
/// assert_eq!(request.param("token_type_hint"), Some("access_token"));
/// assert_eq!(request.params("token"), ["abc"]);
/// assert!(request.uses_basic_auth());
/// assert!(!format!("{request:?}").contains("abc"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct IntrospectionRequest {
    params: Vec<(String, String)>,
    headers: HeaderMap,
}

impl IntrospectionRequest {
    pub(super) fn new(headers: HeaderMap, body: &[u8]) -> Self {
        Self {
            params: form_urlencoded::parse(body).into_owned().collect(),
            headers,
        }
    }

    /// The first value of the form parameter `name`, decoded.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// # let issuer = DevIssuer::start().await?;
    /// reqwest::Client::new()
    ///     .post(issuer.introspection_endpoint())
    ///     .form(&[("client_id", "r s"), ("token", "t")])
    ///     .send()
    ///     .await?;
    /// let request = issuer.last_introspection_request().unwrap();
    /// assert_eq!(request.param("client_id"), Some("r s"));
    /// assert_eq!(request.param("client_secret"), None);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    /// Every value of the form parameter `name`, in order (empty when absent).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// # let issuer = DevIssuer::start().await?;
    /// reqwest::Client::new()
    ///     .post(issuer.introspection_endpoint())
    ///     .form(&[("token", "a"), ("token", "b")])
    ///     .send()
    ///     .await?;
    /// let request = issuer.last_introspection_request().unwrap();
    /// assert_eq!(request.params("token"), ["a", "b"]);
    /// assert!(request.params("resource").is_empty());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn params(&self, name: &str) -> Vec<&str> {
        self.values(name).collect()
    }

    /// The values of the form parameter `name`, in order.
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.params
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of the request header `name` (case-insensitive), if it is visible
    /// ASCII.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// # let issuer = DevIssuer::start().await?;
    /// reqwest::Client::new()
    ///     .post(issuer.introspection_endpoint())
    ///     .header("X-Tenant", "blue")
    ///     .form(&[("token", "t")])
    ///     .send()
    ///     .await?;
    /// let request = issuer.last_introspection_request().unwrap();
    /// assert_eq!(request.header("x-tenant"), Some("blue"));
    /// assert_eq!(request.header("authorization"), None);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the client authenticated with an `Authorization: Basic …` header
    /// (`client_secret_basic`).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// # let issuer = DevIssuer::start().await?;
    /// reqwest::Client::new()
    ///     .post(issuer.introspection_endpoint())
    ///     .form(&[("token", "t"), ("client_id", "rs"), ("client_secret", "s")])
    ///     .send()
    ///     .await?;
    /// assert!(!issuer.last_introspection_request().unwrap().uses_basic_auth());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn uses_basic_auth(&self) -> bool {
        self.headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split_once(' ')
                    .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            })
    }
}

impl fmt::Debug for IntrospectionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<&str> = self.params.iter().map(|(n, _)| n.as_str()).collect();
        let headers: Vec<&str> = self.headers.keys().map(|n| n.as_str()).collect();
        f.debug_struct("IntrospectionRequest")
            .field("params", &params)
            .field("headers", &headers)
            .finish()
    }
}

/// The test switches.
impl DevIssuer {
    /// Makes `endpoint` answer `503 Service Unavailable` (`true`) or work again (`false`):
    /// shorthand for [`set_fault`](Self::set_fault) with `Some(Fault::Status(503))` or `None`,
    /// so the body is still the endpoint's own and only the status says it failed. Defaults
    /// to `false`.
    ///
    /// ```
    /// use mcp_auth::testing::{DevIssuer, Endpoint};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// issuer.set_down(Endpoint::Jwks, true);
    /// assert_eq!(reqwest::get(issuer.jwks_uri()).await?.status(), 503);
    /// issuer.set_down(Endpoint::Jwks, false);
    /// assert_eq!(reqwest::get(issuer.jwks_uri()).await?.status(), 200);
    /// assert_eq!(issuer.requests(Endpoint::Jwks), 2);
    /// # Ok(()) }
    /// ```
    pub fn set_down(&self, endpoint: Endpoint, down: bool) {
        self.set_fault(endpoint, down.then_some(Fault::Status(503)));
    }

    /// Makes `endpoint` fail with `fault` until it is set to `None`. Defaults to `None`.
    ///
    /// See [`Fault`] for what each one does on the wire.
    ///
    /// ```
    /// use mcp_auth::testing::{DevIssuer, Endpoint, Fault};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// let other = "http://127.0.0.1:9/jwks";
    /// issuer.set_fault(Endpoint::Jwks, Some(Fault::Redirect(other.to_owned())));
    /// let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    /// let response = client.get(issuer.jwks_uri()).send().await?;
    /// assert_eq!(response.status(), 302);
    /// assert_eq!(response.headers()["location"], other);
    ///
    /// issuer.set_fault(Endpoint::Jwks, Some(Fault::Reset));
    /// let err = client.get(issuer.jwks_uri()).send().await.unwrap_err();
    /// assert!(!err.is_status());
    ///
    /// issuer.set_fault(Endpoint::Jwks, None);
    /// assert_eq!(client.get(issuer.jwks_uri()).send().await?.status(), 200);
    /// # Ok(()) }
    /// ```
    pub fn set_fault(&self, endpoint: Endpoint, fault: Option<Fault>) {
        self.state.switches().set_fault(endpoint, fault);
    }

    /// Delays every answer of `endpoint` by `delay` (faults included), to test timeouts and
    /// single flight. Defaults to `Duration::ZERO`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// use mcp_auth::testing::{DevIssuer, Endpoint};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// issuer.set_delay(Endpoint::Jwks, Duration::from_millis(200));
    /// let started = Instant::now();
    /// reqwest::get(issuer.jwks_uri()).await?;
    /// assert!(started.elapsed() >= Duration::from_millis(200));
    /// let started = Instant::now();
    /// reqwest::get(issuer.metadata_url()).await?;
    /// assert!(started.elapsed() < Duration::from_millis(200), "other endpoints are not slowed");
    /// # Ok(()) }
    /// ```
    pub fn set_delay(&self, endpoint: Endpoint, delay: Duration) {
        self.state.switches().set_delay(endpoint, delay);
    }

    /// How many requests `endpoint` received, whatever the method and whatever the answer
    /// (faults included).
    ///
    /// ```
    /// use mcp_auth::testing::{DevIssuer, Endpoint};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// reqwest::get(issuer.jwks_uri()).await?;
    /// reqwest::Client::new().post(issuer.token_endpoint()).send().await?;
    /// assert_eq!(issuer.requests(Endpoint::Jwks), 1);
    /// assert_eq!(issuer.requests(Endpoint::Token), 1);
    /// assert_eq!(issuer.requests(Endpoint::Introspection), 0);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        self.state.counters().get(endpoint)
    }

    /// The most requests to `endpoint` that were being answered at once (a delay set with
    /// [`set_delay`](Self::set_delay) keeps them in flight), to check a client's bound on
    /// concurrent calls.
    ///
    /// ```
    /// use mcp_auth::testing::{DevIssuer, Endpoint};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert_eq!(issuer.peak_concurrency(Endpoint::Jwks), 0);
    /// reqwest::get(issuer.jwks_uri()).await?;
    /// assert_eq!(issuer.peak_concurrency(Endpoint::Jwks), 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn peak_concurrency(&self, endpoint: Endpoint) -> u64 {
        self.state.counters().peak(endpoint)
    }

    /// Makes `/jwks` serve `document` verbatim (`Some`), or the published keys again
    /// (`None`), to test key sets no real issuer would sign with: foreign or unusable keys,
    /// malformed documents. Defaults to `None`.
    ///
    /// ```
    /// use mcp_auth::testing::{DevIssuer, SigningKey};
    /// use serde_json::json;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// let other = SigningKey::ed_dsa();
    /// issuer.set_jwks_document(Some(other.jwks()));
    /// let served: serde_json::Value = reqwest::get(issuer.jwks_uri()).await?.json().await?;
    /// assert_eq!(served, other.jwks());
    ///
    /// issuer.set_jwks_document(None);
    /// let served: serde_json::Value = reqwest::get(issuer.jwks_uri()).await?.json().await?;
    /// assert_eq!(served, issuer.signing_key().jwks());
    /// # Ok(()) }
    /// ```
    pub fn set_jwks_document(&self, document: Option<Value>) {
        self.state.switches().set_jwks_document(document);
    }

    /// The `Cache-Control` header of `/jwks` (`None`: no header), to test how verifiers
    /// schedule refreshes. Defaults to `max-age=300`.
    ///
    /// # Panics
    ///
    /// When `value` is not a valid header value (control characters).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// let cache_control = |response: &reqwest::Response| response.headers().get("cache-control").cloned();
    /// assert_eq!(cache_control(&reqwest::get(issuer.jwks_uri()).await?).unwrap(), "max-age=300");
    /// issuer.set_jwks_cache_control(Some("public, max-age=0"));
    /// assert_eq!(cache_control(&reqwest::get(issuer.jwks_uri()).await?).unwrap(), "public, max-age=0");
    /// issuer.set_jwks_cache_control(None);
    /// assert!(cache_control(&reqwest::get(issuer.jwks_uri()).await?).is_none());
    /// # Ok(()) }
    /// ```
    pub fn set_jwks_cache_control(&self, value: Option<&str>) {
        let value = value.map(|value| match HeaderValue::from_str(value) {
            Ok(value) => value,
            Err(_) => panic!("Cache-Control {value:?} is not a valid header value"),
        });
        self.state.switches().set_jwks_cache_control(value);
    }

    /// Makes both discovery endpoints serve `document` verbatim (`Some`), or the issuer's own
    /// metadata again (`None`), to test how clients check metadata (a wrong `issuer`, missing
    /// endpoints). Defaults to `None`.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// let mut impostor = issuer.metadata();
    /// impostor["issuer"] = format!("{}/", issuer.issuer()).into();
    /// issuer.set_metadata_document(Some(impostor.clone()));
    /// let served: serde_json::Value = reqwest::get(issuer.metadata_url()).await?.json().await?;
    /// assert_eq!(served, impostor);
    /// issuer.set_metadata_document(None);
    /// let served: serde_json::Value = reqwest::get(issuer.metadata_url()).await?.json().await?;
    /// assert_eq!(served["issuer"], issuer.issuer());
    /// # Ok(()) }
    /// ```
    pub fn set_metadata_document(&self, document: Option<Value>) {
        self.state.switches().set_metadata_document(document);
    }

    /// Makes `/introspect` answer `answer` (with `200 OK`) for `token`, whatever the issuer
    /// knows about it, once the client has authenticated as usual; the answer need not be
    /// valid RFC 7662 (a missing `active`, a JSON array), to test how verifiers check it.
    /// Setting it again replaces it. Defaults to no fixed answers.
    ///
    /// ```
    /// use serde_json::json;
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().client("rs", "secret").start().await?;
    /// issuer.set_introspection_answer("opaque-1", json!({"active": true, "sub": "alice"}));
    /// let introspect = || {
    ///     reqwest::Client::new()
    ///         .post(issuer.introspection_endpoint())
    ///         .basic_auth("rs", Some("secret"))
    ///         .form(&[("token", "opaque-1")])
    ///         .send()
    /// };
    /// let answer: serde_json::Value = introspect().await?.json().await?;
    /// assert_eq!(answer, json!({"active": true, "sub": "alice"}));
    ///
    /// issuer.set_introspection_answer("opaque-1", json!({"active": false}));
    /// let answer: serde_json::Value = introspect().await?.json().await?;
    /// assert_eq!(answer, json!({"active": false}));
    /// # Ok(()) }
    /// ```
    pub fn set_introspection_answer(&self, token: impl Into<String>, answer: Value) {
        self.state
            .switches()
            .set_introspection_answer(token.into(), answer);
    }

    /// The last request `/introspect` received, to check what a verifier sends: see
    /// [`IntrospectionRequest`]. `None` before the first one.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().client("rs", "secret").start().await?;
    /// assert!(issuer.last_introspection_request().is_none());
    /// reqwest::Client::new()
    ///     .post(issuer.introspection_endpoint())
    ///     .form(&[("token", "t"), ("client_id", "rs"), ("client_secret", "secret")])
    ///     .send()
    ///     .await?;
    /// let request = issuer.last_introspection_request().unwrap();
    /// assert_eq!(request.param("client_id"), Some("rs"));
    /// assert!(!request.uses_basic_auth());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn last_introspection_request(&self) -> Option<IntrospectionRequest> {
        self.state.switches().last_introspection()
    }
}

/// The switches of a running issuer, behind one lock.
pub(super) struct Switches {
    faults: [Option<Fault>; Endpoint::ALL.len()],
    delays: [Duration; Endpoint::ALL.len()],
    jwks_document: Option<Value>,
    jwks_cache_control: Option<HeaderValue>,
    metadata_document: Option<Value>,
    introspection_answers: HashMap<String, Value>,
    last_introspection: Option<IntrospectionRequest>,
}

impl Switches {
    pub(super) fn new() -> Self {
        Self {
            faults: Default::default(),
            delays: [Duration::ZERO; Endpoint::ALL.len()],
            jwks_document: None,
            jwks_cache_control: Some(HeaderValue::from_static("max-age=300")),
            metadata_document: None,
            introspection_answers: HashMap::new(),
            last_introspection: None,
        }
    }

    pub(super) fn fault(&self, endpoint: Endpoint) -> Option<Fault> {
        self.faults[endpoint.index()].clone()
    }

    pub(super) fn set_fault(&mut self, endpoint: Endpoint, fault: Option<Fault>) {
        self.faults[endpoint.index()] = fault;
    }

    pub(super) fn delay(&self, endpoint: Endpoint) -> Duration {
        self.delays[endpoint.index()]
    }

    pub(super) fn set_delay(&mut self, endpoint: Endpoint, delay: Duration) {
        self.delays[endpoint.index()] = delay;
    }

    pub(super) fn jwks_document(&self) -> Option<&Value> {
        self.jwks_document.as_ref()
    }

    pub(super) fn set_jwks_document(&mut self, document: Option<Value>) {
        self.jwks_document = document;
    }

    pub(super) fn jwks_cache_control(&self) -> Option<HeaderValue> {
        self.jwks_cache_control.clone()
    }

    pub(super) fn set_jwks_cache_control(&mut self, value: Option<HeaderValue>) {
        self.jwks_cache_control = value;
    }

    pub(super) fn metadata_document(&self) -> Option<&Value> {
        self.metadata_document.as_ref()
    }

    pub(super) fn set_metadata_document(&mut self, document: Option<Value>) {
        self.metadata_document = document;
    }

    pub(super) fn introspection_answer(&self, token: &str) -> Option<Value> {
        self.introspection_answers.get(token).cloned()
    }

    pub(super) fn set_introspection_answer(&mut self, token: String, answer: Value) {
        self.introspection_answers.insert(token, answer);
    }

    pub(super) fn last_introspection(&self) -> Option<IntrospectionRequest> {
        self.last_introspection.clone()
    }

    pub(super) fn record_introspection(&mut self, request: IntrospectionRequest) {
        self.last_introspection = Some(request);
    }
}

/// How many requests each endpoint received.
pub(super) struct Counters {
    requests: [AtomicU64; Endpoint::ALL.len()],
    in_flight: [AtomicU64; Endpoint::ALL.len()],
    peak: [AtomicU64; Endpoint::ALL.len()],
}

impl Counters {
    pub(super) fn new() -> Self {
        Self {
            requests: Default::default(),
            in_flight: Default::default(),
            peak: Default::default(),
        }
    }

    /// Counts a request to `endpoint`; it is in flight until the guard is dropped.
    pub(super) fn record(&self, endpoint: Endpoint) -> InFlight<'_> {
        let i = endpoint.index();
        self.requests[i].fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight[i].fetch_add(1, Ordering::SeqCst) + 1;
        self.peak[i].fetch_max(now, Ordering::SeqCst);
        InFlight {
            counter: &self.in_flight[i],
        }
    }

    pub(super) fn get(&self, endpoint: Endpoint) -> u64 {
        self.requests[endpoint.index()].load(Ordering::SeqCst)
    }

    pub(super) fn peak(&self, endpoint: Endpoint) -> u64 {
        self.peak[endpoint.index()].load(Ordering::SeqCst)
    }
}

/// A request being answered.
pub(super) struct InFlight<'a> {
    counter: &'a AtomicU64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_endpoint_at_its_index() {
        for (i, endpoint) in Endpoint::ALL.into_iter().enumerate() {
            assert_eq!(endpoint.index(), i, "{endpoint:?}");
        }
    }

    #[test]
    fn paths_insert_or_append_the_issuer_path() {
        assert_eq!(
            Endpoint::Metadata.path("/t/1"),
            "/.well-known/oauth-authorization-server/t/1"
        );
        assert_eq!(
            Endpoint::OpenIdConfiguration.path("/t/1"),
            "/t/1/.well-known/openid-configuration"
        );
        assert_eq!(Endpoint::Jwks.path(""), "/jwks");
        let paths: Vec<String> = Endpoint::ALL.iter().map(|e| e.path("")).collect();
        for (i, path) in paths.iter().enumerate() {
            assert!(!paths[..i].contains(path), "{path} twice");
        }
    }

    #[test]
    fn debug_of_a_recorded_request_shows_names_only() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic cnM6c2VjcmV0"),
        );
        let request = IntrospectionRequest::new(headers, b"token=tok-123&client_secret=hunter2");
        let debug = format!("{request:?}");
        for secret in ["tok-123", "hunter2", "cnM6c2VjcmV0"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("client_secret") && debug.contains("authorization"));
        assert!(request.uses_basic_auth());
    }
}
