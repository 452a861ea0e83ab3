//! [`McpAuth`], the layer, and [`McpAuthBuilder`], its configuration: every setting is
//! parsed and checked once, in [`McpAuthBuilder::build`], into an
//! [`Authorizer`](crate::authorize::Authorizer).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use serde_json::{Map, Value};
use tower_layer::Layer;

#[cfg(feature = "jwt")]
use crate::dpop::Dpop;
use crate::{
    ConfigError, McpAuthService, TokenVerifier,
    auth_info::CheckedBy,
    authorize::{Authorizer, StreamExpiry},
    binding::CertificateBinding,
    callback::Callback,
    challenge::{ChallengeParts, Challenger, DefaultOnRejection, OnRejection},
    dpop::ProofChecker,
    error::{nonzero_duration, nonzero_size},
    metadata::{self, MetadataParts, ProtectedResourceMetadata, WELL_KNOWN},
    policy::{OperationKind, OperationPolicy, Requirement, ScopeHierarchy, validate_scope},
    resource::{Audiences, ResourceUri, parse_issuer, parse_origin},
    session::Sessions,
    store::{MemoryStore, Store},
};

/// Layer that applies [`McpAuthService`], making the wrapped MCP server an OAuth 2.1 resource
/// server.
///
/// See the [crate docs](crate) for an example.
#[derive(Clone, Debug)]
#[must_use]
pub struct McpAuth {
    authorizer: Arc<Authorizer>,
}

impl McpAuth {
    /// The short form: a layer for `resource`, trusting `authorization_server`, checking tokens
    /// with `verifier`, with every other setting at its default.
    ///
    /// # Panics
    ///
    /// When the configuration is invalid (for example `resource` is not an absolute `https`
    /// URL, or is `http` on a non-loopback host). Use [`McpAuth::builder`] to get a
    /// [`ConfigError`] instead.
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_auth::{McpAuth, testing::StaticVerifier};
    ///
    /// let auth = McpAuth::new(
    ///     "https://mcp.example.com/mcp",
    ///     "https://auth.example.com",
    ///     StaticVerifier::new(),
    /// );
    /// assert_eq!(auth.metadata().authorization_servers(), ["https://auth.example.com"]);
    /// ```
    #[track_caller]
    pub fn new(
        resource: impl Into<String>,
        authorization_server: impl Into<String>,
        verifier: impl TokenVerifier,
    ) -> Self {
        match Self::builder(resource)
            .authorization_server(authorization_server)
            .verifier(verifier)
            .build()
        {
            Ok(auth) => auth,
            Err(err) => panic!("invalid McpAuth configuration: {err}"),
        }
    }

    /// Starts a configuration for the protected resource `resource`: the canonical URI of the
    /// MCP endpoint (`https://mcp.example.com/mcp`), exactly as clients reach it.
    ///
    /// It is published as the metadata's `resource`, tokens must name it in their audience,
    /// and the metadata URL in challenges is derived from it.
    pub fn builder(resource: impl Into<String>) -> McpAuthBuilder {
        McpAuthBuilder::new(resource.into())
    }

    #[cfg(test)]
    pub(crate) fn authorizer(&self) -> &Arc<Authorizer> {
        &self.authorizer
    }

    /// The protected-resource metadata document this layer serves.
    #[must_use]
    pub fn metadata(&self) -> &ProtectedResourceMetadata {
        self.authorizer.metadata()
    }
}

impl<S> Layer<S> for McpAuth {
    type Service = McpAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        McpAuthService::new(inner, Arc::clone(&self.authorizer))
    }
}

/// Configuration for [`McpAuth`]; see [`McpAuth::builder`].
///
/// Nothing is checked until [`build`](Self::build), which validates everything once.
#[derive(Debug)]
#[must_use]
pub struct McpAuthBuilder {
    resource: String,
    authorization_servers: Vec<String>,
    verifier: Option<Arc<dyn TokenVerifier>>,
    required_scopes: Vec<String>,
    scopes_supported: Option<Vec<String>>,
    hierarchy: ScopeHierarchy,
    rules: BTreeMap<(OperationKind, String), Vec<String>>,
    max_body_size: usize,
    body_timeout: Duration,
    audiences: Vec<String>,
    exclusive_audience: bool,
    allowed_origins: Vec<String>,
    allow_any_origin: bool,
    public_paths: Vec<String>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    metadata_fields: Map<String, Value>,
    metadata_max_age: Duration,
    max_token_size: usize,
    verify_timeout: Duration,
    retry_after: Duration,
    on_rejection: Callback<dyn OnRejection>,
    allow_http: bool,
    session_binding: bool,
    session_store: Option<Arc<dyn Store>>,
    session_idle_timeout: Duration,
    stream_expiry: StreamExpiry,
    #[cfg(feature = "jwt")]
    dpop: Option<Dpop>,
    certificate_binding: Option<Callback<dyn CertificateBinding>>,
}

impl McpAuthBuilder {
    fn new(resource: String) -> Self {
        Self {
            resource,
            authorization_servers: Vec::new(),
            verifier: None,
            required_scopes: Vec::new(),
            scopes_supported: None,
            hierarchy: ScopeHierarchy::new(),
            rules: BTreeMap::new(),
            max_body_size: 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            audiences: Vec::new(),
            exclusive_audience: false,
            allowed_origins: Vec::new(),
            allow_any_origin: false,
            public_paths: Vec::new(),
            resource_name: None,
            resource_documentation: None,
            metadata_fields: Map::new(),
            metadata_max_age: Duration::from_secs(3_600),
            max_token_size: 8_192,
            verify_timeout: Duration::from_secs(10),
            retry_after: Duration::from_secs(5),
            on_rejection: Callback::new(Arc::new(DefaultOnRejection)),
            allow_http: false,
            session_binding: true,
            session_store: None,
            session_idle_timeout: Duration::from_secs(60 * 60),
            stream_expiry: StreamExpiry::default(),
            #[cfg(feature = "jwt")]
            dpop: None,
            certificate_binding: None,
        }
    }

    /// Adds an authorization server to the metadata's `authorization_servers`. The URL must be
    /// byte-identical to that server's `issuer`: clients compare them. The issuers the verifier
    /// reports ([`TokenVerifier::authorization_servers`]) are added after these; at least one
    /// authorization server is required in all. Defaults to none.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    setters! {
        /// Sets the verifier that checks tokens. Required.
        verifier(verifier: impl TokenVerifier) => verifier = Some(Arc::new(verifier));

        /// Sets the verifier from an existing `Arc`, to share one verifier between layers.
        /// Required (this or [`verifier`](Self::verifier)).
        shared_verifier(verifier: Arc<dyn TokenVerifier>) => verifier = Some(verifier);
    }

    /// Adds scopes every request needs; a token without them gets `403 insufficient_scope`,
    /// and they are named in the `scope=` of every challenge. Defaults to none.
    pub fn required_scopes<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.required_scopes
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Sets the metadata's `scopes_supported` explicitly. Defaults to the required scopes
    /// followed by the scopes named in the hierarchy.
    pub fn scopes_supported<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Requires `scopes` for every JSON-RPC request whose `method` is `method` (`tools/list`,
    /// `resources/read`, any method string), on top of the global scopes. Defaults to none.
    ///
    /// Per-operation rules make the layer read `POST` bodies with a JSON content type (up to
    /// [`max_body_size`](Self::max_body_size)); see [`tool_scopes`](Self::tool_scopes).
    pub fn method_scopes<I>(self, method: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.rule(OperationKind::Method, method.into(), scopes)
    }

    /// Requires `scopes` to call the tool `tool` (`tools/call` with `params.name == tool`), on
    /// top of the global and method scopes. A token without them gets `403
    /// insufficient_scope` naming every scope the call needs, so the client can step up.
    /// Defaults to none.
    ///
    /// The layer reads the body of `POST` requests with a JSON content type to find the tool,
    /// up to [`max_body_size`](Self::max_body_size), after the token is verified, and hands the
    /// inner service the identical bytes. JSON-RPC batches need the union of their items.
    /// Malformed JSON, duplicate keys, and `Mcp-Method`/`Mcp-Name` headers that disagree with
    /// the body get `400 invalid_request`. Requests with another content type are not read;
    /// the MCP server must refuse them (rmcp does).
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
    ///     .tool_scopes("delete_file", ["files:write"])
    ///     .build()?;
    /// assert_eq!(auth.metadata().scopes_supported(), ["mcp:read", "files:write"]);
    /// # Ok::<(), mcp_auth::ConfigError>(())
    /// ```
    pub fn tool_scopes<I>(self, tool: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.rule(OperationKind::Tool, tool.into(), scopes)
    }

    /// Requires `scopes` to get the prompt `prompt` (`prompts/get` with `params.name`).
    /// Defaults to none.
    pub fn prompt_scopes<I>(self, prompt: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.rule(OperationKind::Prompt, prompt.into(), scopes)
    }

    /// Requires `scopes` to read (or subscribe to) the resource whose URI is exactly `uri`.
    /// Defaults to none.
    pub fn resource_scopes<I>(self, uri: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.rule(OperationKind::Resource, uri.into(), scopes)
    }

    /// Requires `scopes` to read (or subscribe to) any resource whose URI starts with `prefix`.
    /// Every matching prefix applies. Defaults to none.
    pub fn resource_prefix_scopes<I>(self, prefix: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.rule(OperationKind::ResourcePrefix, prefix.into(), scopes)
    }

    fn rule<I>(mut self, target: OperationKind, key: String, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let entry = self.rules.entry((target, key)).or_default();
        for scope in scopes {
            let scope = scope.into();
            if !entry.contains(&scope) {
                entry.push(scope);
            }
        }
        self
    }

    setters! {
        /// Sets the largest body the layer reads to apply per-operation rules; larger bodies get
        /// `413`. Only used when such rules exist. Defaults to 1 MiB.
        max_body_size(max: usize) => max_body_size = max;

        /// Sets how long the layer waits for a body it must read (see
        /// [`tool_scopes`](Self::tool_scopes)); a slower one gets `408`. Defaults to 30 seconds.
        body_timeout(timeout: Duration) => body_timeout = timeout;

        /// Sets which scopes imply which. Defaults to an empty hierarchy.
        scope_hierarchy(hierarchy: ScopeHierarchy) => hierarchy = hierarchy;
    }

    /// Accepts tokens whose audience is `audience` besides the resource itself (an alias
    /// such as an older URL, or an identifier your authorization server uses). URLs compare
    /// like the resource; anything else compares exactly. Defaults to none.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    setters! {
        /// Refuses tokens meant for other resources too: every value of a token's `aud` must name
        /// this resource or an [`audience`](Self::audience) alias, so a token issued for several
        /// services at once cannot be replayed here. Defaults to `false` (one value naming this
        /// resource is enough).
        exclusive_audience(exclusive: bool) => exclusive_audience = exclusive;
    }

    /// Allows these `Origin`s (`https://app.example.com`) besides the resource's own.
    ///
    /// The MCP transport requires servers to validate `Origin` (a defence against DNS
    /// rebinding): a request whose `Origin` is neither the resource's origin nor one of these
    /// gets `403` before authentication, CORS preflights included, and `Origin: null` is always
    /// refused. Requests without `Origin` (non-browser clients) are not affected. Defaults to
    /// the resource's own origin only.
    pub fn allowed_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.allowed_origins
            .extend(origins.into_iter().map(Into::into));
        self
    }

    setters! {
        /// Turns the `Origin` check off: requests from any origin reach authentication.
        ///
        /// # Security
        ///
        /// The MCP transport requires servers to validate `Origin`. Without the check, a web page
        /// on any site can make a browser send requests to this server (DNS rebinding against a
        /// local server, or a confused browser client that holds a token). Only use this when a
        /// proxy in front of the layer validates `Origin` itself. Defaults to `false`.
        danger_allow_any_origin(allow: bool) => allow_any_origin = allow;
    }

    /// Lets requests for `path` (exact match, such as `/health`) through without a token.
    /// Their `Authorization` header is still removed. Defaults to none.
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.public_paths.push(path.into());
        self
    }

    setters! {
        /// Sets the metadata's `resource_name`. Defaults to none.
        resource_name(name: impl Into<String>) => resource_name = Some(name.into());

        /// Sets the metadata's `resource_documentation` URL. Defaults to none.
        resource_documentation(url: impl Into<String>) => resource_documentation = Some(url.into());
    }

    /// Adds a field to the metadata document; the fields this builder sets cannot be
    /// overridden. Defaults to none.
    pub fn metadata_field(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata_fields.insert(name.into(), value.into());
        self
    }

    setters! {
        /// Sets the `max-age` of the metadata's `Cache-Control`. Defaults to one hour.
        metadata_max_age(max_age: Duration) => metadata_max_age = max_age;

        /// Sets the largest token accepted, in bytes; larger ones get `401 invalid_token` before
        /// any verification work. Defaults to `8192`.
        max_token_size(max: usize) => max_token_size = max;

        /// Sets how long a verification may take before the request gets `503`. A safety net
        /// over the verifier's own network timeouts. Defaults to 10 seconds.
        verify_timeout(timeout: Duration) => verify_timeout = timeout;

        /// Sets the `Retry-After` of a `503` when the verifier does not suggest one. Defaults to
        /// 5 seconds.
        retry_after(retry_after: Duration) => retry_after = retry_after;

        /// Sets how rejection bodies are made. Defaults to [`DefaultOnRejection`] (JSON).
        on_rejection(on_rejection: impl OnRejection) =>
            on_rejection = Callback::new(Arc::new(on_rejection));

        /// Allows `http` URLs for the resource and the authorization servers on any host.
        /// OAuth 2.1 requires TLS for everything that carries tokens, so only use this behind a
        /// TLS-terminating proxy. `http` on loopback hosts is allowed without it. Defaults to
        /// `false`.
        danger_allow_http(allow: bool) => allow_http = allow;

        /// Binds `Mcp-Session-Id`s to the caller: the layer remembers which principal the inner
        /// service's response handed a new session id to, and a request that carries a session id
        /// bound to another principal (or to none the layer knows) gets `404`, as if the session
        /// did not exist: GET streams, POST and DELETE alike. A token's principal is its issuer
        /// and subject, or, without a subject, its issuer and client id, or, without either, the
        /// token itself.
        ///
        /// Turn it off only for a server that does not use sessions, or binds them to
        /// [`AuthInfo::principal_key`](crate::AuthInfo::principal_key) itself. Defaults to `true`.
        session_binding(enabled: bool) => session_binding = enabled;

        /// Sets where session bindings are kept. A store shared by several replicas (see
        /// [`store`](crate::store)) lets a session created through one replica be used through
        /// another. Defaults to a [`MemoryStore`] of `100_000` entries; a full store refuses
        /// new sessions (`503`) rather than forget a live one.
        session_store(store: impl Store) => session_store = Some(Arc::new(store));

        /// Sets how long a session binding lives without use; every use renews it. Defaults to
        /// one hour.
        session_idle_timeout(timeout: Duration) => session_idle_timeout = timeout;

        /// Sets which event streams (`text/event-stream` responses) end when the token that
        /// opened them expires (`exp` plus 60 seconds of leeway), so the client reconnects with
        /// a fresh token instead of streaming on an expired one. A stream ends cleanly, as if
        /// the server had closed it. Defaults to [`StreamExpiry::GetStreams`].
        stream_expiry(policy: StreamExpiry) => stream_expiry = policy;

        /// Accepts DPoP-bound tokens (RFC 9449) with their proofs: [`Dpop::allowed`] (Bearer too)
        /// or [`Dpop::required`] (DPoP only). Whatever this says, a token bound to a key is never
        /// accepted as a plain bearer token. Defaults to DPoP off.
        ///
        /// [`Dpop::allowed`]: crate::dpop::Dpop::allowed
        /// [`Dpop::required`]: crate::dpop::Dpop::required
        #[cfg(feature = "jwt")]
        #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
        dpop(dpop: Dpop) => dpop = Some(dpop);

        /// Says how to learn the client certificate of a request's connection, so that tokens
        /// bound to a certificate (`cnf.x5t#S256`, RFC 8705) are accepted over that connection.
        /// Defaults to none: such tokens are refused (`401`).
        certificate_binding(binding: impl CertificateBinding) =>
            certificate_binding = Some(Callback::new(Arc::new(binding)));
    }

    /// Validates the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid setting.
    pub fn build(self) -> Result<McpAuth, ConfigError> {
        let allow_http = self.allow_http;
        let resource = ResourceUri::parse(&self.resource, allow_http).map_err(|message| {
            ConfigError::InvalidResource {
                resource: self.resource.clone(),
                message,
            }
        })?;
        let verifier = self.verifier.ok_or(ConfigError::MissingVerifier)?;
        // Every authorization server whose tokens the verifier accepts is listed, configured
        // ones first.
        let mut authorization_servers = self.authorization_servers;
        for issuer in verifier.authorization_servers() {
            if !authorization_servers.contains(&issuer) {
                authorization_servers.push(issuer);
            }
        }
        if authorization_servers.is_empty() {
            return Err(ConfigError::MissingAuthorizationServer);
        }
        for url in &authorization_servers {
            parse_issuer(url, allow_http).map_err(|message| {
                ConfigError::InvalidAuthorizationServer {
                    url: url.clone(),
                    message,
                }
            })?;
        }

        for ((_, key), scopes) in &self.rules {
            if key.is_empty() {
                return Err(ConfigError::setting(
                    "per-operation rule",
                    "the method, tool, prompt or resource name is empty",
                ));
            }
            if scopes.is_empty() {
                return Err(ConfigError::setting(
                    "per-operation rule",
                    format!("the rule for {key:?} names no scope"),
                ));
            }
        }
        for scope in self
            .required_scopes
            .iter()
            .chain(self.scopes_supported.iter().flatten())
            .chain(self.rules.values().flatten())
            .map(String::as_str)
            .chain(self.hierarchy.scopes())
        {
            validate_scope(scope).map_err(|message| ConfigError::InvalidScope {
                scope: scope.to_owned(),
                message,
            })?;
        }
        if let Some(supported) = &self.scopes_supported
            && let Some(missing) = self
                .required_scopes
                .iter()
                .chain(self.rules.values().flatten())
                .find(|scope| !supported.contains(scope))
        {
            return Err(ConfigError::InvalidScope {
                scope: missing.clone(),
                message: "required by the configuration but missing from scopes_supported".into(),
            });
        }
        let required = Requirement::new(
            self.required_scopes.iter().map(String::as_str),
            &self.hierarchy,
        );
        let policy = OperationPolicy::new(&self.rules, &self.hierarchy);
        let scopes_supported = self.scopes_supported.unwrap_or_else(|| {
            let mut all: Vec<String> = Vec::new();
            let named = self
                .required_scopes
                .iter()
                .chain(self.rules.values().flatten())
                .map(String::as_str)
                .chain(self.hierarchy.scopes());
            for scope in named {
                if !all.iter().any(|s| s == scope) {
                    all.push(scope.to_owned());
                }
            }
            all
        });

        let mut audiences = Audiences::new(resource.clone());
        audiences.exclusive(self.exclusive_audience);
        for audience in self.audiences {
            audiences.alias(&audience, allow_http).map_err(|message| {
                ConfigError::InvalidAudience {
                    audience: audience.clone(),
                    message,
                }
            })?;
        }

        let mut allowed_origins = vec![resource.origin().to_owned()];
        for origin in &self.allowed_origins {
            let origin = parse_origin(origin).map_err(|message| ConfigError::InvalidOrigin {
                origin: origin.clone(),
                message,
            })?;
            if !allowed_origins.contains(&origin) {
                allowed_origins.push(origin);
            }
        }
        let allowed_origins = (!self.allow_any_origin).then_some(allowed_origins);

        for path in &self.public_paths {
            if !path.starts_with('/') || path.contains(['?', '#']) {
                return Err(ConfigError::InvalidPath {
                    path: path.clone(),
                    message: "must be an absolute path without query or fragment".into(),
                });
            }
        }

        for name in self.metadata_fields.keys() {
            if RESERVED_FIELDS.contains(&name.as_str()) {
                return Err(ConfigError::InvalidMetadataField {
                    name: name.clone(),
                    message: "set by the builder; use its setter".into(),
                });
            }
        }
        if let Some(docs) = &self.resource_documentation {
            url::Url::parse(docs).map_err(|e| ConfigError::InvalidMetadataField {
                name: "resource_documentation".into(),
                message: format!("not an absolute URL: {e}"),
            })?;
        }
        nonzero_size("max_token_size", self.max_token_size)?;
        nonzero_size("max_body_size", self.max_body_size)?;
        nonzero_duration("body_timeout", self.body_timeout)?;
        nonzero_duration("verify_timeout", self.verify_timeout)?;
        nonzero_duration("session_idle_timeout", self.session_idle_timeout)?;
        let sessions = self.session_binding.then(|| {
            let store = self
                .session_store
                .unwrap_or_else(|| Arc::new(MemoryStore::new(100_000)));
            Sessions::new(store, self.session_idle_timeout)
        });

        #[cfg(feature = "jwt")]
        let dpop = self
            .dpop
            .map(|dpop| ProofChecker::new(dpop, &resource))
            .transpose()?;
        #[cfg(not(feature = "jwt"))]
        let dpop: Option<ProofChecker> = None;

        let metadata = ProtectedResourceMetadata::new(MetadataParts {
            resource: &resource,
            authorization_servers,
            scopes_supported,
            resource_name: self.resource_name,
            resource_documentation: self.resource_documentation,
            extra: self.metadata_fields,
            max_age: self.metadata_max_age,
            dpop: dpop
                .as_ref()
                .map(|dpop| (dpop.algorithm_names(), dpop.required())),
        });
        let challenger = Challenger::new(ChallengeParts {
            metadata_url: metadata.url(),
            global_scope: (!required.is_empty()).then(|| &**required.challenge()),
            bearer: !dpop.as_ref().is_some_and(ProofChecker::required),
            dpop_algs: dpop.as_ref().map(ProofChecker::algs),
            default_retry_after: self.retry_after,
            on_rejection: self.on_rejection,
        });
        let well_known = [metadata::well_known_path(&resource), WELL_KNOWN.to_owned()];
        Ok(McpAuth {
            authorizer: Arc::new(Authorizer {
                checked_by: CheckedBy::new(),
                verifier,
                audiences,
                metadata,
                well_known,
                allowed_origins,
                public_paths: self.public_paths.into(),
                required,
                policy,
                max_body_size: self.max_body_size,
                body_timeout: self.body_timeout,
                max_token_size: self.max_token_size,
                verify_timeout: self.verify_timeout,
                challenger,
                sessions,
                dpop,
                certificate_binding: self.certificate_binding,
                stream_expiry: self.stream_expiry,
                expiry_leeway: Duration::from_secs(60),
            }),
        })
    }
}

const RESERVED_FIELDS: &[&str] = &[
    "resource",
    "authorization_servers",
    "scopes_supported",
    "bearer_methods_supported",
    "resource_name",
    "resource_documentation",
    "dpop_signing_alg_values_supported",
    "dpop_bound_access_tokens_required",
];
