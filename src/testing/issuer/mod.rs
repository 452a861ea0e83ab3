//! An in-process OAuth 2.1 authorization server for tests and local development:
//! [`DevIssuer`].
//!
//! The handle and its public methods live here, except the test switches: those, with the
//! types they take and return ([`Endpoint`], [`Fault`], [`IntrospectionRequest`]), are in
//! `switches.rs`. [`DevIssuerBuilder`] is in `builder.rs`; what the server knows in
//! `state.rs`; the accept loop and the faults on the wire in `server.rs`; the axum handlers in
//! `endpoints.rs`; the OAuth helpers they share in `oauth.rs`.

use std::{
    fmt, io,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use serde_json::Value;
use tokio::net::TcpListener;

pub use self::{
    builder::DevIssuerBuilder,
    switches::{Endpoint, Fault, IntrospectionRequest},
};
use self::{
    server::Running,
    state::{Client, ServerState},
};
use super::{encoding::random_id, keys::SigningKey, token::TokenBuilder};

mod builder;
mod endpoints;
mod oauth;
mod server;
mod state;
mod switches;

/// A small OAuth 2.1 authorization server that runs in-process on a loopback port, for tests
/// and local development.
///
/// It serves:
///
/// | Path | What |
/// |------|------|
/// | `/.well-known/oauth-authorization-server`, `/.well-known/openid-configuration` | RFC 8414 metadata, OpenID Connect discovery |
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
/// With an [issuer path](DevIssuerBuilder::issuer_path) the endpoints move below it and the
/// metadata is served at the RFC 8414 path-inserted and OpenID Connect path-appended locations.
///
/// # Testing clients against a misbehaving authorization server
///
/// Every [`Endpoint`] counts its requests ([`requests`](Self::requests)) and can be delayed
/// ([`set_delay`](Self::set_delay)), switched off ([`set_down`](Self::set_down)) or made to
/// fail in a chosen way ([`set_fault`](Self::set_fault): a status, garbage, an oversized or
/// truncated body, a redirect, a TCP reset). The JWKS document and its `Cache-Control`, the
/// metadata document and the introspection answer for given tokens can be replaced, and the
/// last introspection request is kept for assertions. [`stop`](Self::stop) and
/// [`restart`](Self::restart) take the whole server off its port and back, with its keys and
/// state, to test recovery without restarting the resource server.
///
/// The server stops when the `DevIssuer` is dropped or [`shutdown`](Self::shutdown) is awaited.
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
    state: Arc<ServerState>,
    addr: SocketAddr,
    /// `None` while stopped.
    running: Mutex<Option<Running>>,
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
    /// (`http://127.0.0.1:<port>` and the [issuer path](DevIssuerBuilder::issuer_path), no
    /// trailing slash).
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
        self.state.issuer()
    }

    /// The base URL, `http://<addr>`: the same string as [`issuer`](Self::issuer) unless an
    /// [issuer path](DevIssuerBuilder::issuer_path) is set.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert_eq!(issuer.url(), issuer.issuer());
    /// let tenant = DevIssuer::builder().issuer_path("/t").start().await?;
    /// assert_eq!(format!("{}/t", tenant.url()), tenant.issuer());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn url(&self) -> &str {
        self.state.base_url()
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

    /// The RFC 8414 metadata URL (`<url>/.well-known/oauth-authorization-server`, followed by
    /// the issuer path if there is one).
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
        self.state.url(Endpoint::Metadata)
    }

    /// The OpenID Connect discovery URL (`<issuer>/.well-known/openid-configuration`).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().issuer_path("/t").start().await?;
    /// assert_eq!(
    ///     issuer.openid_configuration_url(),
    ///     format!("{}/.well-known/openid-configuration", issuer.issuer())
    /// );
    /// let metadata: serde_json::Value =
    ///     reqwest::get(issuer.openid_configuration_url()).await?.json().await?;
    /// assert_eq!(metadata["issuer"], issuer.issuer());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn openid_configuration_url(&self) -> String {
        self.state.url(Endpoint::OpenIdConfiguration)
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
        self.state.url(Endpoint::Jwks)
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
        self.state.url(Endpoint::Token)
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
        self.state.url(Endpoint::Authorize)
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
        self.state.url(Endpoint::Introspection)
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
        self.state.url(Endpoint::Registration)
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
        match &self.state.config().default_resource {
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
        self.state
            .records()
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
        self.state.current_key()
    }

    /// The JWKS document `/jwks` serves now: every published key, the current one last, or
    /// the document set with [`set_jwks_document`](Self::set_jwks_document).
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
        self.state.jwks()
    }

    /// The metadata document both discovery endpoints serve now: the issuer's own, or the one
    /// set with [`set_metadata_document`](Self::set_metadata_document).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// assert_eq!(issuer.metadata()["issuer"], issuer.issuer());
    /// assert_eq!(issuer.metadata()["jwks_uri"], issuer.jwks_uri());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn metadata(&self) -> Value {
        self.state.metadata()
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
        self.rotate_to(SigningKey::generate(self.state.key_algorithm()))
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
        self.state.records().keys.push(key.clone());
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
        let mut state = self.state.records();
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
        self.state
            .records()
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
        let mut state = self.state.records();
        state.refresh_tokens.remove(token);
        state.revoked.insert(token.to_owned());
    }

    /// Takes the server off its port, as if the authorization server had gone down: the
    /// listener closes (connections are refused) and every open connection is dropped at
    /// once. Keys, clients, tokens, switches and counters are kept for
    /// [`restart`](Self::restart). Stopping a stopped issuer does nothing.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// issuer.stop().await;
    /// let err = reqwest::get(issuer.jwks_uri()).await.unwrap_err();
    /// assert!(err.is_connect());
    /// # Ok(()) }
    /// ```
    pub async fn stop(&self) {
        let running = self.running().take();
        if let Some(running) = running {
            running.abort().await;
        }
    }

    /// Serves again on the same address after [`stop`](Self::stop), with the same keys and
    /// state. A running issuer is stopped first (its connections are dropped).
    ///
    /// # Errors
    ///
    /// When the address cannot be bound again (another process took the port meanwhile).
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::start().await?;
    /// let before: serde_json::Value = reqwest::get(issuer.jwks_uri()).await?.json().await?;
    /// issuer.stop().await;
    /// issuer.restart().await?;
    /// let after: serde_json::Value = reqwest::get(issuer.jwks_uri()).await?.json().await?;
    /// assert_eq!(before, after, "same address, same keys");
    /// # Ok(()) }
    /// ```
    pub async fn restart(&self) -> io::Result<()> {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await?;
        let running = Running::spawn(listener, Arc::clone(&self.state));
        // A concurrent `restart` may have bound first; the later one's bind fails above.
        *self.running() = Some(running);
        Ok(())
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
    pub async fn shutdown(self) {
        let running = self.running().take();
        if let Some(running) = running {
            running.shut_down().await;
        }
    }

    /// Starts serving `state` on `listener`.
    fn serve(listener: TcpListener, addr: SocketAddr, state: ServerState) -> Self {
        let state = Arc::new(state);
        let running = Running::spawn(listener, Arc::clone(&state));
        Self {
            state,
            addr,
            running: Mutex::new(Some(running)),
        }
    }

    fn running(&self) -> MutexGuard<'_, Option<Running>> {
        // Only ever a single `take` or assignment under the lock.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.state.issuer())
            .field("signing_key", &self.state.current_key())
            .field("running", &self.running().is_some())
            .finish_non_exhaustive()
    }
}
