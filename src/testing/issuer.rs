//! An in-process OAuth 2.1 authorization server for tests and local development: [`DevIssuer`].

use std::{
    collections::{HashMap, HashSet},
    fmt, io,
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use aws_lc_rs::{constant_time, digest};
use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use serde_json::{Map, Value, json};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use url::Url;

use super::{
    encoding::{b64url, b64url_decode, decode_json, random_id, unix},
    keys::{KeyAlgorithm, SigningKey},
    token::TokenBuilder,
};

/// How long an authorization code stays usable.
const CODE_LIFETIME: Duration = Duration::from_secs(60);

/// A small OAuth 2.1 authorization server that runs in-process on a loopback port, for tests
/// and local development.
///
/// It serves:
///
/// | Path | What |
/// |------|------|
/// | `/.well-known/oauth-authorization-server`, `/.well-known/openid-configuration` | RFC 8414 metadata |
/// | `/jwks` | the public keys (JWKS) |
/// | `/authorize` | auto-approving authorization endpoint (PKCE `S256` required, RFC 9207 `iss`) |
/// | `/token` | `client_credentials`, `authorization_code`, `refresh_token` |
/// | `/introspect` | RFC 7662 introspection (client authentication required) |
/// | `/register` | RFC 7591 dynamic client registration |
///
/// Access tokens are RFC 9068 JWTs (`typ: at+jwt`, claims `iss`, `sub`, `aud`, `client_id`,
/// `scope`, `iat`, `exp`, `jti`) signed by the current key, or opaque strings when
/// [`DevIssuerBuilder::opaque_tokens`] is on. The RFC 8707 `resource` parameter becomes `aud`.
/// Clients authenticate with `client_secret_basic` or `client_secret_post`; public clients
/// (`none`) must use PKCE. Errors follow RFC 6749 §5.2 (`400`, or `401` for
/// `invalid_client`, with a JSON body).
///
/// The server stops when the `DevIssuer` is dropped or [`shutdown`](Self::shutdown) is awaited.
/// Switches ([`set_jwks_down`](Self::set_jwks_down), [`set_delay`](Self::set_delay), ...) and
/// counters ([`jwks_requests`](Self::jwks_requests), ...) help test verifiers against an
/// authorization server that misbehaves.
///
/// # Security
///
/// **Not for production.** `/authorize` approves every request without asking anyone, the
/// state lives in memory without bounds, keys are generated at start and never persisted, and
/// there is no TLS. Bind it to loopback only.
///
/// # Example
///
/// ```
/// use mcp_auth::testing::{DevIssuer, decode_unverified};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_auth::BoxError> {
/// let issuer = DevIssuer::builder().client("my-client", "s3cret").start().await?;
/// assert!(issuer.url().starts_with("http://127.0.0.1:"));
///
/// // Mint a token directly...
/// let token = issuer.token().subject("alice").scopes(["mcp:read"]).sign();
/// let claims = decode_unverified(&token).unwrap().1;
/// assert_eq!(claims["iss"], issuer.issuer());
///
/// // ...or ask the token endpoint, as a client would.
/// let response = reqwest::Client::new()
///     .post(issuer.token_endpoint())
///     .basic_auth("my-client", Some("s3cret"))
///     .form(&[
///         ("grant_type", "client_credentials"),
///         ("scope", "mcp:read"),
///         ("resource", "http://127.0.0.1:3000/mcp"),
///     ])
///     .send()
///     .await?;
/// assert_eq!(response.status(), 200);
/// let body: serde_json::Value = response.json().await?;
/// let claims = decode_unverified(body["access_token"].as_str().unwrap()).unwrap().1;
/// assert_eq!(claims["aud"], "http://127.0.0.1:3000/mcp");
/// assert_eq!(claims["client_id"], "my-client");
/// issuer.shutdown().await;
/// # Ok(()) }
/// ```
pub struct DevIssuer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Configures and starts a [`DevIssuer`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use mcp_auth::testing::{DevIssuer, KeyAlgorithm};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_auth::BoxError> {
/// let issuer = DevIssuer::builder()
///     .key_algorithm(KeyAlgorithm::Rs256)
///     .client("c1", "secret")
///     .allowed_scopes(["mcp:read", "notes:write"])
///     .default_resource("http://127.0.0.1:3000/mcp")
///     .token_ttl(Duration::from_secs(600))
///     .start()
///     .await?;
/// assert_eq!(issuer.signing_key().algorithm(), KeyAlgorithm::Rs256);
/// # Ok(()) }
/// ```
#[must_use]
pub struct DevIssuerBuilder {
    addr: SocketAddr,
    key_algorithm: KeyAlgorithm,
    signing_key: Option<SigningKey>,
    clients: HashMap<String, Client>,
    config: Config,
}

#[derive(Clone)]
struct Config {
    allowed_scopes: Option<Vec<String>>,
    default_scopes: Vec<String>,
    require_resource: bool,
    default_resource: Option<String>,
    token_ttl: Duration,
    opaque_tokens: bool,
    refresh_tokens: bool,
    dynamic_registration: bool,
    subject: String,
}

struct Shared {
    issuer: String,
    key_algorithm: KeyAlgorithm,
    config: Config,
    state: Mutex<IssuerState>,
    counters: Counters,
    jwks_down: AtomicBool,
    introspection_down: AtomicBool,
    metadata_down: AtomicBool,
    token_down: AtomicBool,
    delay: Mutex<Duration>,
}

#[derive(Default)]
struct Counters {
    authorize: AtomicU64,
    introspection: AtomicU64,
    jwks: AtomicU64,
    metadata: AtomicU64,
    registration: AtomicU64,
    token: AtomicU64,
}

struct IssuerState {
    /// Published keys; the last one signs.
    keys: Vec<SigningKey>,
    clients: HashMap<String, Client>,
    codes: HashMap<String, AuthCode>,
    refresh_tokens: HashMap<String, Grant>,
    opaque_tokens: HashMap<String, Map<String, Value>>,
    revoked: HashSet<String>,
}

#[derive(Clone)]
struct Client {
    /// `None` for public clients (`token_endpoint_auth_method: none`).
    secret: Option<String>,
    /// Empty: any redirect URI is accepted (pre-registered dev clients).
    redirect_uris: Vec<String>,
    /// `None`: every grant type (pre-registered clients).
    grant_types: Option<Vec<String>>,
}

struct AuthCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scopes: Vec<String>,
    resources: Vec<String>,
    expires_at: SystemTime,
}

#[derive(Clone)]
struct Grant {
    client_id: String,
    subject: String,
    scopes: Vec<String>,
    resources: Vec<String>,
}

impl DevIssuer {
    /// Starts a `DevIssuer` with the default configuration on `127.0.0.1` and a free port.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    ///
    /// # Example
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// let metadata: serde_json::Value = reqwest::get(issuer.metadata_url()).await?.json().await?;
    /// assert_eq!(metadata["issuer"], issuer.issuer());
    /// # Ok(()) }
    /// ```
    pub async fn start() -> io::Result<Self> {
        Self::builder().start().await
    }

    /// Starts configuring a `DevIssuer`.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().client("c", "s").start().await?;
    /// assert!(issuer.jwks_uri().ends_with("/jwks"));
    /// # Ok(()) }
    /// ```
    pub fn builder() -> DevIssuerBuilder {
        DevIssuerBuilder::new()
    }

    /// The issuer identifier, exactly as it appears in `iss` and in the metadata
    /// (`http://127.0.0.1:<port>`, no trailing slash).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert_eq!(issuer.issuer(), format!("http://{}", issuer.local_addr()));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The base URL; the same string as [`issuer`](Self::issuer).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert_eq!(issuer.url(), issuer.issuer());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn url(&self) -> &str {
        &self.shared.issuer
    }

    /// The address the server listens on.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert!(issuer.local_addr().ip().is_loopback());
    /// assert_ne!(issuer.local_addr().port(), 0);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The RFC 8414 metadata URL (`<issuer>/.well-known/oauth-authorization-server`).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert_eq!(
    ///     issuer.metadata_url(),
    ///     format!("{}/.well-known/oauth-authorization-server", issuer.url())
    /// );
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn metadata_url(&self) -> String {
        self.endpoint("/.well-known/oauth-authorization-server")
    }

    /// The JWKS URL (`<issuer>/jwks`).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// let jwks: serde_json::Value = reqwest::get(issuer.jwks_uri()).await?.json().await?;
    /// assert_eq!(jwks, issuer.jwks());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn jwks_uri(&self) -> String {
        self.endpoint("/jwks")
    }

    /// The token endpoint (`<issuer>/token`).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert!(issuer.token_endpoint().ends_with("/token"));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn token_endpoint(&self) -> String {
        self.endpoint("/token")
    }

    /// The authorization endpoint (`<issuer>/authorize`).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert!(issuer.authorization_endpoint().ends_with("/authorize"));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn authorization_endpoint(&self) -> String {
        self.endpoint("/authorize")
    }

    /// The RFC 7662 introspection endpoint (`<issuer>/introspect`).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert!(issuer.introspection_endpoint().ends_with("/introspect"));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn introspection_endpoint(&self) -> String {
        self.endpoint("/introspect")
    }

    /// The RFC 7591 registration endpoint (`<issuer>/register`).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert!(issuer.registration_endpoint().ends_with("/register"));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn registration_endpoint(&self) -> String {
        self.endpoint("/register")
    }

    /// Starts a [`TokenBuilder`] signed by the current key, with `iss` set to this issuer and
    /// `aud` to the default resource (if configured).
    ///
    /// ```
    /// # use mcp_auth::testing::{DevIssuer, decode_unverified};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().default_resource("http://r/mcp").start().await?;
    /// let (header, claims) = decode_unverified(&issuer.token().subject("bob").sign()).unwrap();
    /// assert_eq!(header["kid"], issuer.signing_key().kid());
    /// assert_eq!(claims["iss"], issuer.issuer());
    /// assert_eq!(claims["aud"], "http://r/mcp");
    /// # Ok(()) }
    /// ```
    pub fn token(&self) -> TokenBuilder {
        let builder = self.signing_key().token().issuer(self.issuer());
        match &self.shared.config.default_resource {
            Some(resource) => builder.audience(resource.as_str()),
            None => builder,
        }
    }

    /// Issues an opaque access token that carries the claims `token` would sign (plus this
    /// issuer's `iss` unless set), for testing introspection. Only `/introspect` can tell what
    /// it means.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().client("rs", "secret").start().await?;
    /// let token = issuer.opaque_token(&issuer.token().subject("alice"));
    /// assert_eq!(token.split('.').count(), 1);
    /// let body: serde_json::Value = reqwest::Client::new()
    ///     .post(issuer.introspection_endpoint())
    ///     .basic_auth("rs", Some("secret"))
    ///     .form(&[("token", token.as_str())])
    ///     .send()
    ///     .await?
    ///     .json()
    ///     .await?;
    /// assert_eq!(body["active"], true);
    /// assert_eq!(body["sub"], "alice");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn opaque_token(&self, token: &TokenBuilder) -> String {
        let mut claims = token.claims_json();
        claims
            .entry("iss")
            .or_insert_with(|| Value::from(self.issuer()));
        let opaque = format!("dev-at-{}", random_id(24));
        self.shared
            .lock()
            .opaque_tokens
            .insert(opaque.clone(), claims);
        opaque
    }

    /// The key that signs new tokens.
    ///
    /// ```
    /// # use mcp_auth::testing::{DevIssuer, KeyAlgorithm};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert_eq!(issuer.signing_key().algorithm(), KeyAlgorithm::Es256);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn signing_key(&self) -> SigningKey {
        self.shared.current_key()
    }

    /// The JWKS document `/jwks` serves now (every published key, the current one last).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert_eq!(issuer.jwks()["keys"][0]["kid"], issuer.signing_key().kid());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn jwks(&self) -> Value {
        SigningKey::jwks_of(&self.shared.lock().keys)
    }

    /// Generates a new key (of the configured algorithm) that signs from now on. The earlier
    /// keys stay published until [`retire_old_keys`](Self::retire_old_keys). Returns the new
    /// key.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// let old = issuer.signing_key();
    /// let new = issuer.rotate_key();
    /// assert_ne!(old.kid(), new.kid());
    /// assert_eq!(issuer.signing_key().kid(), new.kid());
    /// assert_eq!(issuer.jwks()["keys"].as_array().unwrap().len(), 2);
    /// # Ok(()) }
    /// ```
    #[must_use = "the new key is also available from `signing_key()`"]
    pub fn rotate_key(&self) -> SigningKey {
        self.rotate_to(SigningKey::generate(self.shared.key_algorithm))
    }

    /// Makes `key` the signing key; the earlier keys stay published. Returns `key`.
    ///
    /// ```
    /// # use mcp_auth::testing::{DevIssuer, SigningKey};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// let key = issuer.rotate_to(SigningKey::ed_dsa().with_kid("ed"));
    /// assert_eq!(issuer.signing_key().kid(), "ed");
    /// # let _ = key;
    /// # Ok(()) }
    /// ```
    #[must_use = "the new key is also available from `signing_key()`"]
    pub fn rotate_to(&self, key: SigningKey) -> SigningKey {
        self.shared.lock().keys.push(key.clone());
        key
    }

    /// Stops publishing every key but the current one.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// let _ = issuer.rotate_key();
    /// issuer.retire_old_keys();
    /// assert_eq!(issuer.jwks()["keys"].as_array().unwrap().len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn retire_old_keys(&self) {
        let mut state = self.shared.lock();
        let keep = state.keys.len().saturating_sub(1);
        state.keys.drain(..keep);
    }

    /// Registers a confidential client at runtime (like [`DevIssuerBuilder::client`]).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// issuer.add_client("late", "secret");
    /// let status = reqwest::Client::new()
    ///     .post(issuer.token_endpoint())
    ///     .basic_auth("late", Some("secret"))
    ///     .form(&[("grant_type", "client_credentials")])
    ///     .send()
    ///     .await?
    ///     .status();
    /// assert_eq!(status, 200);
    /// # Ok(()) }
    /// ```
    pub fn add_client(&self, client_id: impl Into<String>, client_secret: impl Into<String>) {
        self.shared
            .lock()
            .clients
            .insert(client_id.into(), Client::confidential(client_secret.into()));
    }

    /// Revokes an access or refresh token: introspection reports it inactive, and a revoked
    /// refresh token no longer works.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().client("rs", "secret").start().await?;
    /// let token = issuer.token().sign();
    /// issuer.revoke(&token);
    /// let body: serde_json::Value = reqwest::Client::new()
    ///     .post(issuer.introspection_endpoint())
    ///     .basic_auth("rs", Some("secret"))
    ///     .form(&[("token", token.as_str())])
    ///     .send()
    ///     .await?
    ///     .json()
    ///     .await?;
    /// assert_eq!(body, serde_json::json!({"active": false}));
    /// # Ok(()) }
    /// ```
    pub fn revoke(&self, token: &str) {
        let mut state = self.shared.lock();
        state.refresh_tokens.remove(token);
        state.revoked.insert(token.to_owned());
    }

    /// Makes `/jwks` answer `503` (`true`) or work again (`false`). Defaults to `false`.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// issuer.set_jwks_down(true);
    /// assert_eq!(reqwest::get(issuer.jwks_uri()).await?.status(), 503);
    /// assert_eq!(issuer.jwks_requests(), 1);
    /// # Ok(()) }
    /// ```
    pub fn set_jwks_down(&self, down: bool) {
        self.shared.jwks_down.store(down, Ordering::SeqCst);
    }

    /// Makes `/introspect` answer `503` (`true`) or work again (`false`). Defaults to `false`.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// issuer.set_introspection_down(true);
    /// let status = reqwest::Client::new()
    ///     .post(issuer.introspection_endpoint())
    ///     .send()
    ///     .await?
    ///     .status();
    /// assert_eq!(status, 503);
    /// # Ok(()) }
    /// ```
    pub fn set_introspection_down(&self, down: bool) {
        self.shared.introspection_down.store(down, Ordering::SeqCst);
    }

    /// Makes both metadata documents answer `503` (`true`) or work again (`false`). Defaults
    /// to `false`.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// issuer.set_metadata_down(true);
    /// assert_eq!(reqwest::get(issuer.metadata_url()).await?.status(), 503);
    /// # Ok(()) }
    /// ```
    pub fn set_metadata_down(&self, down: bool) {
        self.shared.metadata_down.store(down, Ordering::SeqCst);
    }

    /// Makes `/token` answer `503` (`true`) or work again (`false`). Defaults to `false`.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// issuer.set_token_endpoint_down(true);
    /// let status = reqwest::Client::new().post(issuer.token_endpoint()).send().await?.status();
    /// assert_eq!(status, 503);
    /// # Ok(()) }
    /// ```
    pub fn set_token_endpoint_down(&self, down: bool) {
        self.shared.token_down.store(down, Ordering::SeqCst);
    }

    /// Delays every response by `delay`, to test timeouts. Defaults to `Duration::ZERO`.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// issuer.set_delay(Duration::from_millis(200));
    /// let started = Instant::now();
    /// reqwest::get(issuer.jwks_uri()).await?;
    /// assert!(started.elapsed() >= Duration::from_millis(200));
    /// # Ok(()) }
    /// ```
    pub fn set_delay(&self, delay: Duration) {
        *self
            .shared
            .delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = delay;
    }

    /// How many requests `/jwks` received (including failed ones).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// reqwest::get(issuer.jwks_uri()).await?;
    /// reqwest::get(issuer.jwks_uri()).await?;
    /// assert_eq!(issuer.jwks_requests(), 2);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn jwks_requests(&self) -> u64 {
        self.shared.counters.jwks.load(Ordering::SeqCst)
    }

    /// How many requests `/introspect` received (including failed ones).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// reqwest::Client::new().post(issuer.introspection_endpoint()).send().await?;
    /// assert_eq!(issuer.introspection_requests(), 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn introspection_requests(&self) -> u64 {
        self.shared.counters.introspection.load(Ordering::SeqCst)
    }

    /// How many requests the two metadata documents received (including failed ones).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// reqwest::get(issuer.metadata_url()).await?;
    /// assert_eq!(issuer.metadata_requests(), 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn metadata_requests(&self) -> u64 {
        self.shared.counters.metadata.load(Ordering::SeqCst)
    }

    /// How many requests `/token` received (including failed ones).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// reqwest::Client::new().post(issuer.token_endpoint()).send().await?;
    /// assert_eq!(issuer.token_requests(), 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn token_requests(&self) -> u64 {
        self.shared.counters.token.load(Ordering::SeqCst)
    }

    /// How many requests `/authorize` received (including failed ones).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// reqwest::get(issuer.authorization_endpoint()).await?;
    /// assert_eq!(issuer.authorize_requests(), 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn authorize_requests(&self) -> u64 {
        self.shared.counters.authorize.load(Ordering::SeqCst)
    }

    /// How many requests `/register` received (including failed ones).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// reqwest::Client::new().post(issuer.registration_endpoint()).send().await?;
    /// assert_eq!(issuer.registration_requests(), 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn registration_requests(&self) -> u64 {
        self.shared.counters.registration.load(Ordering::SeqCst)
    }

    /// Stops the server and waits (at most 5 seconds) for open connections to finish.
    /// Dropping the `DevIssuer` also stops it, without waiting.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// let url = issuer.jwks_uri();
    /// issuer.shutdown().await;
    /// assert!(reqwest::get(url).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.shared.issuer)
    }
}

impl Drop for DevIssuer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.shared.issuer)
            .field("signing_key", &self.shared.current_key())
            .finish_non_exhaustive()
    }
}

impl DevIssuerBuilder {
    fn new() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            key_algorithm: KeyAlgorithm::Es256,
            signing_key: None,
            clients: HashMap::new(),
            config: Config {
                allowed_scopes: None,
                default_scopes: Vec::new(),
                require_resource: false,
                default_resource: None,
                token_ttl: Duration::from_secs(3_600),
                opaque_tokens: false,
                refresh_tokens: true,
                dynamic_registration: true,
                subject: "dev-user".to_owned(),
            },
        }
    }

    /// The address to listen on. The issuer URL is `http://<addr>` with the bound port.
    /// Defaults to `127.0.0.1:0` (a free port).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().addr(([127, 0, 0, 1], 0).into()).start().await?;
    /// assert!(issuer.url().starts_with("http://127.0.0.1:"));
    /// # Ok(()) }
    /// ```
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// The algorithm of the generated signing keys (at start and on
    /// [`DevIssuer::rotate_key`]). Defaults to `KeyAlgorithm::Es256`.
    ///
    /// ```
    /// # use mcp_auth::testing::{DevIssuer, KeyAlgorithm};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().key_algorithm(KeyAlgorithm::EdDsa).start().await?;
    /// assert_eq!(issuer.jwks()["keys"][0]["crv"], "Ed25519");
    /// # Ok(()) }
    /// ```
    pub fn key_algorithm(mut self, algorithm: KeyAlgorithm) -> Self {
        self.key_algorithm = algorithm;
        self
    }

    /// The initial signing key (its algorithm also becomes the rotation algorithm).
    /// Defaults to a fresh key of [`key_algorithm`](Self::key_algorithm).
    ///
    /// ```
    /// # use mcp_auth::testing::{DevIssuer, SigningKey};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let key = SigningKey::es256().with_kid("fixed");
    /// let issuer = DevIssuer::builder().signing_key(key).start().await?;
    /// assert_eq!(issuer.signing_key().kid(), "fixed");
    /// # Ok(()) }
    /// ```
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.key_algorithm = key.algorithm();
        self.signing_key = Some(key);
        self
    }

    /// Pre-registers a confidential client (`client_secret_basic` or `client_secret_post`, every
    /// grant type, any redirect URI). Defaults to none.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().client("c", "s").start().await?;
    /// let status = reqwest::Client::new()
    ///     .post(issuer.token_endpoint())
    ///     .form(&[("grant_type", "client_credentials"), ("client_id", "c"), ("client_secret", "s")])
    ///     .send()
    ///     .await?
    ///     .status();
    /// assert_eq!(status, 200);
    /// # Ok(()) }
    /// ```
    pub fn client(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.clients
            .insert(client_id.into(), Client::confidential(client_secret.into()));
        self
    }

    /// Pre-registers a public client (`token_endpoint_auth_method: none`, authorization code
    /// with PKCE and refresh only, any redirect URI). Defaults to none.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().public_client("spa").start().await?;
    /// let response = reqwest::Client::new()
    ///     .post(issuer.token_endpoint())
    ///     .form(&[("grant_type", "client_credentials"), ("client_id", "spa")])
    ///     .send()
    ///     .await?;
    /// assert_eq!(response.status(), 400);
    /// let body: serde_json::Value = response.json().await?;
    /// assert_eq!(body["error"], "unauthorized_client");
    /// # Ok(()) }
    /// ```
    pub fn public_client(mut self, client_id: impl Into<String>) -> Self {
        self.clients.insert(
            client_id.into(),
            Client {
                secret: None,
                redirect_uris: Vec::new(),
                grant_types: Some(vec![
                    "authorization_code".to_owned(),
                    "refresh_token".to_owned(),
                ]),
            },
        );
        self
    }

    /// The scopes clients may request; others get `invalid_scope`. Also published as
    /// `scopes_supported`. Defaults to any scope.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().client("c", "s").allowed_scopes(["mcp:read"]).start().await?;
    /// let response = reqwest::Client::new()
    ///     .post(issuer.token_endpoint())
    ///     .basic_auth("c", Some("s"))
    ///     .form(&[("grant_type", "client_credentials"), ("scope", "mcp:read admin")])
    ///     .send()
    ///     .await?;
    /// assert_eq!(response.status(), 400);
    /// assert_eq!(response.json::<serde_json::Value>().await?["error"], "invalid_scope");
    /// # Ok(()) }
    /// ```
    pub fn allowed_scopes<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.config.allowed_scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The scopes granted when a request names none. Defaults to none (no `scope` claim).
    ///
    /// ```
    /// # use mcp_auth::testing::{DevIssuer, decode_unverified};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().client("c", "s").default_scopes(["mcp:read"]).start().await?;
    /// let body: serde_json::Value = reqwest::Client::new()
    ///     .post(issuer.token_endpoint())
    ///     .basic_auth("c", Some("s"))
    ///     .form(&[("grant_type", "client_credentials")])
    ///     .send()
    ///     .await?
    ///     .json()
    ///     .await?;
    /// assert_eq!(body["scope"], "mcp:read");
    /// # Ok(()) }
    /// ```
    pub fn default_scopes<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.config.default_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Whether token and authorization requests must carry an RFC 8707 `resource` (else
    /// `invalid_target`). Defaults to `false`.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().client("c", "s").require_resource(true).start().await?;
    /// let response = reqwest::Client::new()
    ///     .post(issuer.token_endpoint())
    ///     .basic_auth("c", Some("s"))
    ///     .form(&[("grant_type", "client_credentials")])
    ///     .send()
    ///     .await?;
    /// assert_eq!(response.status(), 400);
    /// assert_eq!(response.json::<serde_json::Value>().await?["error"], "invalid_target");
    /// # Ok(()) }
    /// ```
    pub fn require_resource(mut self, require: bool) -> Self {
        self.config.require_resource = require;
        self
    }

    /// The audience of tokens whose request names no `resource` (and the `aud` of
    /// [`DevIssuer::token`]). Defaults to none: such tokens have no `aud`.
    ///
    /// ```
    /// # use mcp_auth::testing::{DevIssuer, decode_unverified};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().default_resource("http://r/mcp").start().await?;
    /// assert_eq!(decode_unverified(&issuer.token().sign()).unwrap().1["aud"], "http://r/mcp");
    /// # Ok(()) }
    /// ```
    pub fn default_resource(mut self, resource: impl Into<String>) -> Self {
        self.config.default_resource = Some(resource.into());
        self
    }

    /// The lifetime of access tokens from `/token`. Defaults to one hour
    /// (`Duration::from_secs(3_600)`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder()
    ///     .client("c", "s")
    ///     .token_ttl(Duration::from_secs(60))
    ///     .start()
    ///     .await?;
    /// let body: serde_json::Value = reqwest::Client::new()
    ///     .post(issuer.token_endpoint())
    ///     .basic_auth("c", Some("s"))
    ///     .form(&[("grant_type", "client_credentials")])
    ///     .send()
    ///     .await?
    ///     .json()
    ///     .await?;
    /// assert_eq!(body["expires_in"], 60);
    /// # Ok(()) }
    /// ```
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.config.token_ttl = ttl;
        self
    }

    /// Whether `/token` issues opaque access tokens (only `/introspect` knows them) instead
    /// of JWTs. Defaults to `false`.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().client("c", "s").opaque_tokens(true).start().await?;
    /// let body: serde_json::Value = reqwest::Client::new()
    ///     .post(issuer.token_endpoint())
    ///     .basic_auth("c", Some("s"))
    ///     .form(&[("grant_type", "client_credentials")])
    ///     .send()
    ///     .await?
    ///     .json()
    ///     .await?;
    /// assert!(!body["access_token"].as_str().unwrap().contains('.'));
    /// # Ok(()) }
    /// ```
    pub fn opaque_tokens(mut self, opaque: bool) -> Self {
        self.config.opaque_tokens = opaque;
        self
    }

    /// Whether the `authorization_code` grant also returns a refresh token (rotated on each
    /// use). `client_credentials` never does. Defaults to `true`.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().refresh_tokens(false).start().await?;
    /// # let _ = issuer;
    /// # Ok(()) }
    /// ```
    pub fn refresh_tokens(mut self, issue: bool) -> Self {
        self.config.refresh_tokens = issue;
        self
    }

    /// Whether `/register` (RFC 7591) is open and advertised. Defaults to `true`.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().dynamic_registration(false).start().await?;
    /// let metadata: serde_json::Value = reqwest::get(issuer.metadata_url()).await?.json().await?;
    /// assert!(metadata.get("registration_endpoint").is_none());
    /// let status = reqwest::Client::new()
    ///     .post(issuer.registration_endpoint())
    ///     .json(&serde_json::json!({"redirect_uris": ["http://127.0.0.1/cb"]}))
    ///     .send()
    ///     .await?
    ///     .status();
    /// assert_eq!(status, 404);
    /// # Ok(()) }
    /// ```
    pub fn dynamic_registration(mut self, enable: bool) -> Self {
        self.config.dynamic_registration = enable;
        self
    }

    /// The `sub` of tokens from the authorization-code flow (the user `/authorize` pretends
    /// logged in). Client-credentials tokens have the client id as `sub`. Defaults to
    /// `dev-user`.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().subject("alice").start().await?;
    /// # let _ = issuer;
    /// # Ok(()) }
    /// ```
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.config.subject = subject.into();
        self
    }

    /// Binds the port and starts serving in a background task.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let first = DevIssuer::start().await?;
    /// let clash = DevIssuer::builder().addr(first.local_addr()).start().await;
    /// assert!(clash.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn start(self) -> io::Result<DevIssuer> {
        let listener = TcpListener::bind(self.addr).await?;
        let addr = listener.local_addr()?;
        let key = self
            .signing_key
            .unwrap_or_else(|| SigningKey::generate(self.key_algorithm));
        let shared = Arc::new(Shared {
            issuer: format!("http://{addr}"),
            key_algorithm: self.key_algorithm,
            config: self.config,
            state: Mutex::new(IssuerState {
                keys: vec![key],
                clients: self.clients,
                codes: HashMap::new(),
                refresh_tokens: HashMap::new(),
                opaque_tokens: HashMap::new(),
                revoked: HashSet::new(),
            }),
            counters: Counters::default(),
            jwks_down: AtomicBool::new(false),
            introspection_down: AtomicBool::new(false),
            metadata_down: AtomicBool::new(false),
            token_down: AtomicBool::new(false),
            delay: Mutex::new(Duration::ZERO),
        });
        let app = router(Arc::clone(&shared));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(DevIssuer {
            shared,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

impl fmt::Debug for DevIssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut clients: Vec<&String> = self.clients.keys().collect();
        clients.sort();
        f.debug_struct("DevIssuerBuilder")
            .field("addr", &self.addr)
            .field("key_algorithm", &self.key_algorithm)
            .field("clients", &clients)
            .field("allowed_scopes", &self.config.allowed_scopes)
            .field("default_scopes", &self.config.default_scopes)
            .field("require_resource", &self.config.require_resource)
            .field("default_resource", &self.config.default_resource)
            .field("token_ttl", &self.config.token_ttl)
            .field("opaque_tokens", &self.config.opaque_tokens)
            .field("refresh_tokens", &self.config.refresh_tokens)
            .field("dynamic_registration", &self.config.dynamic_registration)
            .field("subject", &self.config.subject)
            .finish_non_exhaustive()
    }
}

impl Client {
    fn confidential(secret: String) -> Self {
        Self {
            secret: Some(secret),
            redirect_uris: Vec::new(),
            grant_types: None,
        }
    }

    fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types
            .as_ref()
            .is_none_or(|grants| grants.iter().any(|g| g == grant))
    }

    fn allows_redirect(&self, redirect_uri: &str) -> bool {
        self.redirect_uris.is_empty()
            || self
                .redirect_uris
                .iter()
                .any(|registered| redirect_matches(registered, redirect_uri))
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, IssuerState> {
        // The state stays consistent across a panic (every update is a single insert or
        // remove), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current_key(&self) -> SigningKey {
        let state = self.lock();
        // `keys` starts with one key and `retire_old_keys` keeps the last one, so it is never
        // empty; fall back to a fresh key rather than panic all the same.
        state
            .keys
            .last()
            .cloned()
            .unwrap_or_else(|| SigningKey::generate(self.key_algorithm))
    }

    async fn pause(&self) {
        let delay = *self.delay.lock().unwrap_or_else(PoisonError::into_inner);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    fn metadata(&self) -> Value {
        let iss = &self.issuer;
        let mut doc = json!({
            "issuer": iss,
            "authorization_endpoint": format!("{iss}/authorize"),
            "token_endpoint": format!("{iss}/token"),
            "jwks_uri": format!("{iss}/jwks"),
            "introspection_endpoint": format!("{iss}/introspect"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "token_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
        });
        if self.config.dynamic_registration {
            doc["registration_endpoint"] = Value::from(format!("{iss}/register"));
        }
        if let Some(scopes) = &self.config.allowed_scopes {
            doc["scopes_supported"] = Value::from(scopes.clone());
        }
        doc
    }

    /// Mints an access token (JWT or opaque) for `grant` and returns it.
    fn mint(&self, grant: &Grant) -> String {
        let builder = self
            .current_key()
            .token()
            .issuer(self.issuer.as_str())
            .subject(grant.subject.as_str())
            .client_id(grant.client_id.as_str())
            .expires_in(self.config.token_ttl);
        let builder = match grant.resources.as_slice() {
            [] => builder,
            [one] => builder.audience(one.as_str()),
            many => builder.audiences(many.iter().map(String::as_str)),
        };
        let builder = if grant.scopes.is_empty() {
            builder
        } else {
            builder.scopes(grant.scopes.iter().map(String::as_str))
        };
        if !self.config.opaque_tokens {
            return builder.sign();
        }
        let opaque = format!("dev-at-{}", random_id(24));
        self.lock()
            .opaque_tokens
            .insert(opaque.clone(), builder.claims_json());
        opaque
    }

    /// The claims of an active access token this issuer knows, or `None`.
    fn active_claims(&self, token: &str) -> Option<Map<String, Value>> {
        let state = self.lock();
        if state.revoked.contains(token) {
            return None;
        }
        if let Some(grant) = state.refresh_tokens.get(token) {
            let mut claims = Map::new();
            claims.insert("iss".to_owned(), Value::from(self.issuer.as_str()));
            claims.insert("sub".to_owned(), Value::from(grant.subject.as_str()));
            claims.insert(
                "client_id".to_owned(),
                Value::from(grant.client_id.as_str()),
            );
            if !grant.scopes.is_empty() {
                claims.insert("scope".to_owned(), Value::from(grant.scopes.join(" ")));
            }
            claims.insert("token_type".to_owned(), Value::from("refresh_token"));
            return Some(claims);
        }
        let claims = match state.opaque_tokens.get(token) {
            Some(claims) => claims.clone(),
            None => {
                let (header, payload) = token.split_once('.')?;
                let kid = decode_json(header)?.get("kid")?.as_str()?.to_owned();
                let key = state.keys.iter().find(|k| k.kid() == kid)?;
                if !key.verify_jws(token) {
                    return None;
                }
                let (payload, _) = payload.split_once('.')?;
                let claims = decode_json(payload)?;
                if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
                    return None;
                }
                claims
            }
        };
        drop(state);
        let now = unix(SystemTime::now());
        let exp = claims.get("exp").and_then(Value::as_u64);
        if exp.is_some_and(|exp| exp <= now) {
            return None;
        }
        let nbf = claims.get("nbf").and_then(Value::as_u64);
        if nbf.is_some_and(|nbf| nbf > now) {
            return None;
        }
        Some(claims)
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/introspect", post(introspect))
        .route("/register", post(register))
        .with_state(shared)
}

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    fn invalid_client(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            ..Self::new("invalid_client", description)
        }
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = (self.status, no_store(), Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"dev-issuer\""),
            );
        }
        response
    }
}

fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

fn unavailable() -> Response {
    let body = json!({
        "error": "temporarily_unavailable",
        "error_description": "switched off for this test",
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

fn public_json(body: Value) -> Response {
    (
        [
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            ),
        ],
        Json(body),
    )
        .into_response()
}

async fn metadata(State(shared): State<Arc<Shared>>) -> Response {
    shared.counters.metadata.fetch_add(1, Ordering::SeqCst);
    shared.pause().await;
    if shared.metadata_down.load(Ordering::SeqCst) {
        return unavailable();
    }
    public_json(shared.metadata())
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.counters.jwks.fetch_add(1, Ordering::SeqCst);
    shared.pause().await;
    if shared.jwks_down.load(Ordering::SeqCst) {
        return unavailable();
    }
    let doc = SigningKey::jwks_of(&shared.lock().keys);
    public_json(doc)
}

async fn authorize(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    shared.counters.authorize.fetch_add(1, Ordering::SeqCst);
    shared.pause().await;
    match authorize_inner(&shared, uri.query().unwrap_or_default()) {
        Ok(location) | Err(AuthorizeError::Redirect(location)) => redirect(&location),
        Err(AuthorizeError::Direct(err)) => err.into_response(),
    }
}

enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: tell the user agent, do not redirect.
    Direct(OAuthError),
    /// Report the error to the client through the redirect URI.
    Redirect(Url),
}

fn authorize_inner(shared: &Shared, query: &str) -> Result<Url, AuthorizeError> {
    let params = Params::parse(query.as_bytes()).map_err(AuthorizeError::Direct)?;
    let direct = |msg: &str| AuthorizeError::Direct(OAuthError::invalid_request(msg));
    let client_id = params
        .one("client_id")
        .ok_or_else(|| direct("client_id is required"))?;
    let client = shared
        .lock()
        .clients
        .get(client_id)
        .cloned()
        .ok_or_else(|| direct("unknown client_id"))?;
    let redirect_uri = params
        .one("redirect_uri")
        .ok_or_else(|| direct("redirect_uri is required"))?;
    let mut target = Url::parse(redirect_uri)
        .ok()
        .filter(|u| u.fragment().is_none())
        .ok_or_else(|| direct("redirect_uri is not an absolute URI without fragment"))?;
    if !client.allows_redirect(redirect_uri) {
        return Err(direct("redirect_uri is not registered for this client"));
    }
    let state = params.one("state");
    let respond = |mut target: Url, pairs: &[(&str, &str)]| {
        {
            let mut query = target.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if let Some(state) = state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &shared.issuer);
        }
        target
    };
    let fail = |code: &str, description: &str| {
        AuthorizeError::Redirect(respond(
            target.clone(),
            &[("error", code), ("error_description", description)],
        ))
    };
    if params.one("response_type") != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    if !client.allows_grant("authorization_code") {
        return Err(fail(
            "unauthorized_client",
            "client may not use authorization_code",
        ));
    }
    let Some(challenge) = params.one("code_challenge") else {
        return Err(fail("invalid_request", "code_challenge is required (PKCE)"));
    };
    if params.one("code_challenge_method") != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if challenge.len() != 43 || b64url_decode_len(challenge) != Some(32) {
        return Err(fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 hash",
        ));
    }
    let scopes = shared
        .grant_scopes(params.one("scope"))
        .map_err(|e| fail(e.code, &e.description))?;
    let resources = shared
        .resources(&params)
        .map_err(|e| fail(e.code, &e.description))?;
    let code = random_id(32);
    shared.lock().codes.insert(
        code.clone(),
        AuthCode {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            challenge: challenge.to_owned(),
            scopes,
            resources,
            expires_at: SystemTime::now() + CODE_LIFETIME,
        },
    );
    target = respond(target, &[("code", &code)]);
    Ok(target)
}

fn redirect(location: &Url) -> Response {
    match HeaderValue::from_str(location.as_str()) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => OAuthError::invalid_request("redirect_uri cannot be used").into_response(),
    }
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.counters.token.fetch_add(1, Ordering::SeqCst);
    shared.pause().await;
    if shared.token_down.load(Ordering::SeqCst) {
        return unavailable();
    }
    match token_inner(&shared, &headers, &body) {
        Ok(body) => (no_store(), Json(body)).into_response(),
        Err(err) => err.into_response(),
    }
}

fn token_inner(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = Params::form(headers, body)?;
    let grant_type = params
        .one("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if !matches!(
        grant_type,
        "authorization_code" | "client_credentials" | "refresh_token"
    ) {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "supported: authorization_code, client_credentials, refresh_token",
        ));
    }
    let (client_id, client) = shared.authenticate(headers, &params)?;
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::new(
            "unauthorized_client",
            format!("client may not use {grant_type}"),
        ));
    }
    let (grant, refresh) = match grant_type {
        "client_credentials" => {
            if client.secret.is_none() {
                return Err(OAuthError::new(
                    "unauthorized_client",
                    "public clients may not use client_credentials",
                ));
            }
            let grant = Grant {
                subject: client_id.clone(),
                client_id,
                scopes: shared.grant_scopes(params.one("scope"))?,
                resources: shared.resources(&params)?,
            };
            (grant, false)
        }
        "authorization_code" => (shared.redeem_code(&client_id, &params)?, true),
        _ => (shared.refresh(&client_id, &params)?, true),
    };
    let access_token = shared.mint(&grant);
    let mut response = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": shared.config.token_ttl.as_secs(),
    });
    if !grant.scopes.is_empty() {
        response["scope"] = Value::from(grant.scopes.join(" "));
    }
    if refresh && shared.config.refresh_tokens {
        let refresh_token = format!("dev-rt-{}", random_id(32));
        shared
            .lock()
            .refresh_tokens
            .insert(refresh_token.clone(), grant);
        response["refresh_token"] = Value::from(refresh_token);
    }
    Ok(response)
}

impl Shared {
    /// Authenticates the client of a token or introspection request (RFC 6749 §2.3).
    fn authenticate(
        &self,
        headers: &HeaderMap,
        params: &Params,
    ) -> Result<(String, Client), OAuthError> {
        let mut basic = None;
        let mut authorizations = headers.get_all(header::AUTHORIZATION).iter();
        if let Some(value) = authorizations.next() {
            if authorizations.next().is_some() {
                return Err(OAuthError::invalid_request(
                    "more than one Authorization header",
                ));
            }
            basic = Some(
                parse_basic(value)
                    .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?,
            );
        }
        let post_id = params.one("client_id");
        let post_secret = params.one("client_secret");
        let (client_id, secret) = match (basic, post_id, post_secret) {
            (Some(_), _, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not several",
                ));
            }
            (Some((id, _)), Some(post_id), None) if id != post_id => {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the Authorization header",
                ));
            }
            (Some((id, secret)), _, None) => (id, Some(secret)),
            (None, Some(id), secret) => (id.to_owned(), secret.map(str::to_owned)),
            (None, None, _) => {
                return Err(OAuthError::invalid_client("client authentication required"));
            }
        };
        let client = self
            .lock()
            .clients
            .get(&client_id)
            .cloned()
            .ok_or_else(|| OAuthError::invalid_client("unknown client or bad credentials"))?;
        let authenticated = match (&client.secret, &secret) {
            (Some(expected), Some(given)) => {
                constant_time::verify_slices_are_equal(expected.as_bytes(), given.as_bytes())
                    .is_ok()
            }
            (None, None) => true,
            _ => false,
        };
        if !authenticated {
            return Err(OAuthError::invalid_client(
                "unknown client or bad credentials",
            ));
        }
        Ok((client_id, client))
    }

    /// The scopes to grant for a `scope` request parameter.
    fn grant_scopes(&self, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
        let requested: Vec<String> = match requested {
            Some(scope) => scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None => Vec::new(),
        };
        if requested.is_empty() {
            return Ok(self.config.default_scopes.clone());
        }
        if let Some(allowed) = &self.config.allowed_scopes
            && let Some(bad) = requested.iter().find(|s| !allowed.contains(s))
        {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("scope not allowed: {}", printable(bad)),
            ));
        }
        let mut scopes = Vec::with_capacity(requested.len());
        for scope in requested {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(scopes)
    }

    /// The audiences for the RFC 8707 `resource` parameters of a request.
    fn resources(&self, params: &Params) -> Result<Vec<String>, OAuthError> {
        let resources = params.all("resource");
        for resource in &resources {
            let valid = Url::parse(resource).is_ok_and(|u| u.fragment().is_none());
            if !valid {
                return Err(OAuthError::new(
                    "invalid_target",
                    "resource must be an absolute URI without fragment",
                ));
            }
        }
        if !resources.is_empty() {
            return Ok(resources.into_iter().map(str::to_owned).collect());
        }
        if self.config.require_resource {
            return Err(OAuthError::new("invalid_target", "resource is required"));
        }
        Ok(self.config.default_resource.iter().cloned().collect())
    }

    fn redeem_code(&self, client_id: &str, params: &Params) -> Result<Grant, OAuthError> {
        let code = params
            .one("code")
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let verifier = params
            .one("code_verifier")
            .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
        // A code is single use: take it out whatever happens next.
        let stored = self
            .lock()
            .codes
            .remove(code)
            .ok_or_else(|| OAuthError::invalid_grant("unknown, used or expired code"))?;
        if stored.expires_at <= SystemTime::now() {
            return Err(OAuthError::invalid_grant("unknown, used or expired code"));
        }
        if stored.client_id != client_id {
            return Err(OAuthError::invalid_grant(
                "code was issued to another client",
            ));
        }
        if params.one("redirect_uri") != Some(stored.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        if !pkce_matches(verifier, &stored.challenge) {
            return Err(OAuthError::invalid_grant("code_verifier does not match"));
        }
        let requested = params.all("resource");
        let resources = if requested.is_empty() {
            stored.resources
        } else {
            let allowed = stored.resources.is_empty()
                || requested
                    .iter()
                    .all(|r| stored.resources.iter().any(|s| s == r));
            if !allowed {
                return Err(OAuthError::new(
                    "invalid_target",
                    "resource was not part of the authorization request",
                ));
            }
            self.resources(params)?
        };
        Ok(Grant {
            client_id: stored.client_id,
            subject: self.config.subject.clone(),
            scopes: stored.scopes,
            resources,
        })
    }

    fn refresh(&self, client_id: &str, params: &Params) -> Result<Grant, OAuthError> {
        let token = params
            .one("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let mut state = self.lock();
        let owned = state
            .refresh_tokens
            .get(token)
            .is_some_and(|grant| grant.client_id == client_id);
        if !owned {
            return Err(OAuthError::invalid_grant(
                "unknown or revoked refresh_token",
            ));
        }
        // Rotation: the old refresh token is spent.
        let Some(mut grant) = state.refresh_tokens.remove(token) else {
            return Err(OAuthError::invalid_grant(
                "unknown or revoked refresh_token",
            ));
        };
        drop(state);
        if let Some(scope) = params.one("scope") {
            let narrower: Vec<String> = scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(bad) = narrower.iter().find(|s| !grant.scopes.contains(s)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!("scope was not granted: {}", printable(bad)),
                ));
            }
            grant.scopes = narrower;
        }
        let requested = params.all("resource");
        if !requested.is_empty() {
            let allowed = grant.resources.is_empty()
                || requested
                    .iter()
                    .all(|r| grant.resources.iter().any(|s| s == r));
            if !allowed {
                return Err(OAuthError::new(
                    "invalid_target",
                    "resource was not part of the original grant",
                ));
            }
            grant.resources = self.resources(params)?;
        }
        Ok(grant)
    }
}

async fn introspect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.counters.introspection.fetch_add(1, Ordering::SeqCst);
    shared.pause().await;
    if shared.introspection_down.load(Ordering::SeqCst) {
        return unavailable();
    }
    let result = Params::form(&headers, &body).and_then(|params| {
        shared.authenticate(&headers, &params)?;
        let token = params
            .one("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        Ok(match shared.active_claims(token) {
            Some(mut claims) => {
                claims.insert("active".to_owned(), Value::Bool(true));
                claims
                    .entry("token_type")
                    .or_insert_with(|| Value::from("Bearer"));
                Value::Object(claims)
            }
            None => json!({ "active": false }),
        })
    });
    match result {
        Ok(body) => (no_store(), Json(body)).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn register(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    shared.counters.registration.fetch_add(1, Ordering::SeqCst);
    shared.pause().await;
    if !shared.config.dynamic_registration {
        return StatusCode::NOT_FOUND.into_response();
    }
    match register_inner(&shared, &body) {
        Ok(body) => (StatusCode::CREATED, no_store(), Json(body)).into_response(),
        Err(err) => err.into_response(),
    }
}

fn register_inner(shared: &Shared, body: &[u8]) -> Result<Value, OAuthError> {
    let metadata_error = |msg: &str| OAuthError::new("invalid_client_metadata", msg);
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
        return Err(metadata_error("the body must be a JSON object"));
    };
    let strings = |name: &str| -> Result<Option<Vec<String>>, OAuthError> {
        match request.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| metadata_error("array members must be strings")),
            Some(_) => Err(metadata_error("expected an array of strings")),
        }
    };
    let grant_types =
        strings("grant_types")?.unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    if let Some(bad) = grant_types.iter().find(|g| {
        !matches!(
            g.as_str(),
            "authorization_code" | "client_credentials" | "refresh_token"
        )
    }) {
        return Err(metadata_error(&format!(
            "unsupported grant type: {}",
            printable(bad)
        )));
    }
    let redirect_uris = strings("redirect_uris")?.unwrap_or_default();
    for uri in &redirect_uris {
        if !Url::parse(uri).is_ok_and(|u| u.fragment().is_none()) {
            return Err(OAuthError::new(
                "invalid_redirect_uri",
                "redirect_uris must be absolute URIs without fragment",
            ));
        }
    }
    if grant_types.iter().any(|g| g == "authorization_code") && redirect_uris.is_empty() {
        return Err(OAuthError::new(
            "invalid_redirect_uri",
            "redirect_uris is required for authorization_code",
        ));
    }
    let method = match request.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => "client_secret_basic",
        Some(Value::String(m))
            if matches!(
                m.as_str(),
                "client_secret_basic" | "client_secret_post" | "none"
            ) =>
        {
            m.as_str()
        }
        Some(_) => {
            return Err(metadata_error(
                "token_endpoint_auth_method must be client_secret_basic, client_secret_post or none",
            ));
        }
    };
    if method == "none" && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(metadata_error(
            "public clients may not use client_credentials",
        ));
    }
    let client_id = format!("dev-client-{}", random_id(12));
    let secret = (method != "none").then(|| random_id(32));
    let mut response = request.clone();
    response.insert("client_id".to_owned(), Value::from(client_id.as_str()));
    response.insert(
        "client_id_issued_at".to_owned(),
        Value::from(unix(SystemTime::now())),
    );
    response.insert("token_endpoint_auth_method".to_owned(), Value::from(method));
    response.insert("grant_types".to_owned(), Value::from(grant_types.clone()));
    response.insert(
        "redirect_uris".to_owned(),
        Value::from(redirect_uris.clone()),
    );
    response
        .entry("response_types")
        .or_insert_with(|| json!(["code"]));
    if let Some(secret) = &secret {
        response.insert("client_secret".to_owned(), Value::from(secret.as_str()));
        response.insert("client_secret_expires_at".to_owned(), Value::from(0));
    }
    shared.lock().clients.insert(
        client_id,
        Client {
            secret,
            redirect_uris,
            grant_types: Some(grant_types),
        },
    );
    Ok(Value::Object(response))
}

// ---------------------------------------------------------------------------------------------
// Parsing helpers

/// Request parameters; every name but `resource` may appear at most once (RFC 6749 §3.1,
/// §3.2), and empty values count as absent.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(input: &[u8]) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(input)
            .into_owned()
            .filter(|(_, value)| !value.is_empty())
            .collect();
        for (i, (name, _)) in pairs.iter().enumerate() {
            if name != "resource" && pairs[..i].iter().any(|(seen, _)| seen == name) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter repeated: {}",
                    printable(name)
                )));
            }
        }
        Ok(Self(pairs))
    }

    /// Parses a form body, insisting on the form content type.
    fn form(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Self::parse(body)
    }

    fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let id = unescape(id);
    (!id.is_empty()).then(|| (id, unescape(secret)))
}

/// RFC 7636 §4.6 with S256, and the §4.1 verifier syntax.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = b64url(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref());
    well_formed
        && constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

fn b64url_decode_len(text: &str) -> Option<usize> {
    b64url_decode(text).map(|bytes| bytes.len())
}

/// Exact match, or RFC 8252 §7.3 loopback: any port for `http` on 127.0.0.1, [::1] or localhost.
fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(mut registered), Ok(mut given)) = (Url::parse(registered), Url::parse(given)) else {
        return false;
    };
    let loopback = |u: &Url| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
    };
    if !loopback(&registered) || !loopback(&given) {
        return false;
    }
    let _ = registered.set_port(None);
    let _ = given.set_port(None);
    registered == given
}

/// Input echoed into an error description: short, printable ASCII only.
fn printable(input: &str) -> String {
    input
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(verifier: &str) -> String {
        b64url(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref())
    }

    #[test]
    fn pkce_s256_checks_the_verifier_and_its_syntax() {
        // Expected value computed independently (Python hashlib + base64).
        let verifier = "dBjftJeZ4CVP-mJ0kvZEtOg9UfhdPQW-1oCPGpbX6hI";
        let expected = "u6BrRYktrnAbe6LCK5sUCQKP7jEfKkTiiMrzpFijWfE";
        assert_eq!(challenge(verifier), expected);
        assert!(pkce_matches(verifier, expected));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mJ0kvZEtOg9UfhdPQW-1oCPGpbX6hJ",
            expected
        ));
        assert!(!pkce_matches("short", &challenge("short")));
        assert!(!pkce_matches(
            &"a".repeat(129),
            &challenge(&"a".repeat(129))
        ));
        let spaced = format!("{verifier} x");
        assert!(!pkce_matches(&spaced, &challenge(&spaced)));
    }

    #[test]
    fn params_reject_repeats_but_allow_several_resources() {
        assert!(Params::parse(b"a=1&a=2").is_err());
        let params = Params::parse(b"resource=x&resource=y&a=&b=%20").map_err(|e| e.code);
        let params = params.expect("valid");
        assert_eq!(params.all("resource"), ["x", "y"]);
        assert_eq!(params.one("a"), None, "empty counts as absent");
        assert_eq!(params.one("b"), Some(" "));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = |raw: &str| HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(raw)));
        let value = header("my%3Aid:p%40ss+word").expect("ascii");
        assert_eq!(
            parse_basic(&value),
            Some(("my:id".to_owned(), "p@ss word".to_owned()))
        );
        for bad in ["Basic !!!", "Bearer abc", "Basic", ""] {
            let value = HeaderValue::from_str(bad).expect("ascii");
            assert_eq!(parse_basic(&value), None, "{bad}");
        }
        assert_eq!(parse_basic(&header(":secret").expect("ascii")), None);
        assert_eq!(parse_basic(&header("nocolon").expect("ascii")), None);
    }

    #[test]
    fn loopback_redirects_match_on_any_port() {
        struct Case {
            registered: &'static str,
            given: &'static str,
            matches: bool,
        }
        let cases = [
            Case {
                registered: "http://127.0.0.1/cb",
                given: "http://127.0.0.1:5000/cb",
                matches: true,
            },
            Case {
                registered: "http://localhost:1/cb",
                given: "http://localhost:2/cb",
                matches: true,
            },
            Case {
                registered: "http://127.0.0.1/cb",
                given: "http://127.0.0.1:5000/other",
                matches: false,
            },
            Case {
                registered: "https://app.example/cb",
                given: "https://app.example:8443/cb",
                matches: false,
            },
            Case {
                registered: "https://app.example/cb",
                given: "https://app.example/cb",
                matches: true,
            },
            Case {
                registered: "http://127.0.0.1/cb",
                given: "http://evil.example/cb",
                matches: false,
            },
        ];
        for case in cases {
            assert_eq!(
                redirect_matches(case.registered, case.given),
                case.matches,
                "{} vs {}",
                case.registered,
                case.given
            );
        }
    }

    #[test]
    fn printable_truncates_and_masks() {
        assert_eq!(printable("ok:scope"), "ok:scope");
        assert_eq!(printable("a\r\nb\"é"), "a??b\"?");
        assert_eq!(printable(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn oauth_error_status_and_body() {
        let response = OAuthError::invalid_client("nope").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(HeaderValue::as_bytes),
            Some(&b"Basic realm=\"dev-issuer\""[..])
        );
        assert_eq!(
            response
                .headers()
                .get(header::CACHE_CONTROL)
                .map(HeaderValue::as_bytes),
            Some(&b"no-store"[..])
        );
        let response = OAuthError::invalid_grant("used").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
}
