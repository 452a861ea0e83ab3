//! [`DevIssuerBuilder`]: the configuration a [`DevIssuer`] starts with.

use std::{
    collections::HashMap,
    fmt, io,
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use tokio::net::TcpListener;

use super::{
    DevIssuer,
    state::{Client, Config, ServerState},
};
use crate::testing::keys::{KeyAlgorithm, SigningKey};

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
    issuer_path: String,
    key_algorithm: KeyAlgorithm,
    signing_key: Option<SigningKey>,
    clients: HashMap<String, Client>,
    config: Config,
}

impl DevIssuerBuilder {
    pub(super) fn new() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            issuer_path: String::new(),
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

    setters! {
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
        addr(addr: SocketAddr) => addr = addr;
    }

    /// A path for the issuer identifier, as multi-tenant authorization servers have
    /// (`http://127.0.0.1:<port>/tenant/one`). The endpoints are served below it, the RFC 8414
    /// metadata at the path-inserted `/.well-known/oauth-authorization-server/tenant/one` and
    /// the OpenID Connect document at the path-appended
    /// `/tenant/one/.well-known/openid-configuration`. A missing leading slash is added and
    /// trailing slashes are dropped. Defaults to none: the issuer is `http://<addr>`.
    ///
    /// ```
    /// # use mcp_auth::testing::DevIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_auth::BoxError> {
    /// let issuer = DevIssuer::builder().issuer_path("tenant/one/").start().await?;
    /// assert_eq!(issuer.issuer(), format!("{}/tenant/one", issuer.url()));
    /// assert_eq!(
    ///     issuer.metadata_url(),
    ///     format!("{}/.well-known/oauth-authorization-server/tenant/one", issuer.url())
    /// );
    /// let metadata: serde_json::Value = reqwest::get(issuer.metadata_url()).await?.json().await?;
    /// assert_eq!(metadata["issuer"], issuer.issuer());
    /// assert_eq!(metadata["jwks_uri"], format!("{}/jwks", issuer.issuer()));
    /// # Ok(()) }
    /// ```
    pub fn issuer_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        let path = path.trim_matches('/');
        self.issuer_path = if path.is_empty() {
            String::new()
        } else {
            format!("/{path}")
        };
        self
    }

    setters! {
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
        key_algorithm(algorithm: KeyAlgorithm) => key_algorithm = algorithm;
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

    setters! {
        /// Whether token and authorization requests must carry an RFC 8707 `resource` (else
        /// `invalid_target`). Defaults to `false`.
        ///
        /// ```
        /// # use mcp_auth::testing::DevIssuer;
        /// # #[tokio::main(flavor = "current_thread")]
        /// # async fn main() -> Result<(), mcp_auth::BoxError> {
        /// let issuer = DevIssuer::builder()
        ///     .client("c", "s")
        ///     .require_resource(true)
        ///     .start()
        ///     .await?;
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
        require_resource(require: bool) => config.require_resource = require;

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
        default_resource(resource: impl Into<String>) =>
            config.default_resource = Some(resource.into());

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
        token_ttl(ttl: Duration) => config.token_ttl = ttl;

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
        opaque_tokens(opaque: bool) => config.opaque_tokens = opaque;

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
        refresh_tokens(issue: bool) => config.refresh_tokens = issue;

        /// Whether `/register` (RFC 7591) is open and advertised. Defaults to `true`.
        ///
        /// ```
        /// # use mcp_auth::testing::DevIssuer;
        /// # #[tokio::main(flavor = "current_thread")]
        /// # async fn main() -> Result<(), mcp_auth::BoxError> {
        /// let issuer = DevIssuer::builder().dynamic_registration(false).start().await?;
        /// let metadata: serde_json::Value =
        ///     reqwest::get(issuer.metadata_url()).await?.json().await?;
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
        dynamic_registration(enable: bool) => config.dynamic_registration = enable;

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
        subject(subject: impl Into<String>) => config.subject = subject.into();
    }

    /// Binds the port and starts serving in a background task.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound, or the [issuer path](Self::issuer_path) is not a
    /// plain URL path (`?`, `#`, `%`, spaces, control characters).
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
    /// let query = DevIssuer::builder().issuer_path("/t?x=1").start().await;
    /// assert_eq!(query.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok(()) }
    /// ```
    pub async fn start(self) -> io::Result<DevIssuer> {
        let plain = |c: char| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '%');
        if !self.issuer_path.chars().all(plain) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the issuer path must be a plain URL path",
            ));
        }
        let listener = TcpListener::bind(self.addr).await?;
        let addr = listener.local_addr()?;
        let key = self
            .signing_key
            .unwrap_or_else(|| SigningKey::generate(self.key_algorithm));
        let state = ServerState::new(addr, self.issuer_path, self.config, key, self.clients);
        Ok(DevIssuer::serve(listener, addr, state))
    }
}

impl fmt::Debug for DevIssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Client ids only: the secrets stay out.
        let mut clients: Vec<&String> = self.clients.keys().collect();
        clients.sort();
        f.debug_struct("DevIssuerBuilder")
            .field("addr", &self.addr)
            .field("issuer_path", &self.issuer_path)
            .field("key_algorithm", &self.key_algorithm)
            .field("clients", &clients)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
