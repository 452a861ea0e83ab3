//! [`McpAuth`], the layer, and its builder.

use std::{collections::BTreeMap, fmt, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, header};
use serde_json::{Map, Value};
use tower_layer::Layer;

use crate::{
    AuthInfo, ConfigError, McpAuthService, TokenVerifier, bearer,
    challenge::{AuthError, AuthErrorKind, Challenger, DefaultOnRejection, OnRejection},
    metadata::{self, MetadataParts, ProtectedResourceMetadata, ResourceUri, WELL_KNOWN},
    policy::{self, OperationPolicy, Requirement, ScopeHierarchy, Target, check_scope_token},
};

/// Layer that applies [`McpAuthService`], making the wrapped MCP server an OAuth 2.1 resource
/// server.
///
/// See the [crate docs](crate) for an example.
#[derive(Clone)]
#[must_use]
pub struct McpAuth {
    shared: Arc<Shared>,
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
    pub fn builder(resource: impl Into<String>) -> Builder {
        Builder::new(resource.into())
    }

    /// The protected-resource metadata document this layer serves.
    #[must_use]
    pub fn metadata(&self) -> &ProtectedResourceMetadata {
        &self.shared.metadata
    }
}

impl<S> Layer<S> for McpAuth {
    type Service = McpAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        McpAuthService::new(inner, self.shared.clone())
    }
}

impl fmt::Debug for McpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpAuth")
            .field("shared", &self.shared)
            .finish()
    }
}

/// Builder for [`McpAuth`]; see [`McpAuth::builder`].
///
/// Nothing is checked until [`build`](Self::build), which validates everything once.
#[must_use]
pub struct Builder {
    resource: String,
    authorization_servers: Vec<String>,
    verifier: Option<Arc<dyn TokenVerifier>>,
    required_scopes: Vec<String>,
    scopes_supported: Option<Vec<String>>,
    hierarchy: ScopeHierarchy,
    rules: BTreeMap<(Target, String), Vec<String>>,
    max_body_len: usize,
    body_timeout: Duration,
    audiences: Vec<String>,
    allowed_origins: Option<Vec<String>>,
    public_paths: Vec<String>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    metadata_fields: Map<String, Value>,
    metadata_max_age: Duration,
    max_token_len: usize,
    verify_timeout: Duration,
    retry_after: Duration,
    on_rejection: Arc<dyn OnRejection>,
    allow_http: bool,
}

impl Builder {
    fn new(resource: String) -> Self {
        Self {
            resource,
            authorization_servers: Vec::new(),
            verifier: None,
            required_scopes: Vec::new(),
            scopes_supported: None,
            hierarchy: ScopeHierarchy::new(),
            rules: BTreeMap::new(),
            max_body_len: 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            audiences: Vec::new(),
            allowed_origins: None,
            public_paths: Vec::new(),
            resource_name: None,
            resource_documentation: None,
            metadata_fields: Map::new(),
            metadata_max_age: Duration::from_secs(3_600),
            max_token_len: 8_192,
            verify_timeout: Duration::from_secs(10),
            retry_after: Duration::from_secs(5),
            on_rejection: Arc::new(DefaultOnRejection),
            allow_http: false,
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

    /// Sets the verifier that checks tokens. Required.
    pub fn verifier(mut self, verifier: impl TokenVerifier) -> Self {
        self.verifier = Some(Arc::new(verifier));
        self
    }

    /// Sets the verifier from an existing `Arc`, to share one verifier between layers.
    /// Required (this or [`verifier`](Self::verifier)).
    pub fn shared_verifier(mut self, verifier: Arc<dyn TokenVerifier>) -> Self {
        self.verifier = Some(verifier);
        self
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
    /// [`max_body_len`](Self::max_body_len)); see [`tool_scopes`](Self::tool_scopes).
    pub fn method_scopes<I>(self, method: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.rule(Target::Method, method.into(), scopes)
    }

    /// Requires `scopes` to call the tool `tool` (`tools/call` with `params.name == tool`), on
    /// top of the global and method scopes. A token without them gets `403
    /// insufficient_scope` naming every scope the call needs, so the client can step up.
    /// Defaults to none.
    ///
    /// The layer reads the body of `POST` requests with a JSON content type to find the tool,
    /// up to [`max_body_len`](Self::max_body_len), after the token is verified, and hands the
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
        self.rule(Target::Tool, tool.into(), scopes)
    }

    /// Requires `scopes` to get the prompt `prompt` (`prompts/get` with `params.name`).
    /// Defaults to none.
    pub fn prompt_scopes<I>(self, prompt: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.rule(Target::Prompt, prompt.into(), scopes)
    }

    /// Requires `scopes` to read (or subscribe to) the resource whose URI is exactly `uri`.
    /// Defaults to none.
    pub fn resource_scopes<I>(self, uri: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.rule(Target::Resource, uri.into(), scopes)
    }

    /// Requires `scopes` to read (or subscribe to) any resource whose URI starts with `prefix`.
    /// Every matching prefix applies. Defaults to none.
    pub fn resource_prefix_scopes<I>(self, prefix: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.rule(Target::ResourcePrefix, prefix.into(), scopes)
    }

    fn rule<I>(mut self, target: Target, key: String, scopes: I) -> Self
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

    /// Sets the largest body the layer reads to apply per-operation rules; larger bodies get
    /// `413`. Only used when such rules exist. Defaults to 1 MiB.
    pub fn max_body_len(mut self, max: usize) -> Self {
        self.max_body_len = max;
        self
    }

    /// Sets how long the layer waits for a body it must read (see
    /// [`tool_scopes`](Self::tool_scopes)); a slower one gets `408`. Defaults to 30 seconds.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Sets which scopes imply which. Defaults to an empty hierarchy.
    pub fn scope_hierarchy(mut self, hierarchy: ScopeHierarchy) -> Self {
        self.hierarchy = hierarchy;
        self
    }

    /// Accepts tokens whose audience is `audience` besides the resource itself (an alias
    /// such as an older URL, or an identifier your authorization server uses). URLs compare
    /// like the resource; anything else compares exactly. Defaults to none.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Only allows these `Origin`s (`https://app.example.com`); a request with any other
    /// `Origin` gets `403` before authentication, as the MCP transport requires. Requests
    /// without `Origin` are not affected. Defaults to no `Origin` check.
    pub fn allowed_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.allowed_origins
            .get_or_insert_with(Vec::new)
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// Lets requests for `path` (exact match, such as `/health`) through without a token.
    /// Their `Authorization` header is still removed. Defaults to none.
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.public_paths.push(path.into());
        self
    }

    /// Sets the metadata's `resource_name`. Defaults to none.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Sets the metadata's `resource_documentation` URL. Defaults to none.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// Adds a field to the metadata document; the fields this builder sets cannot be
    /// overridden. Defaults to none.
    pub fn metadata_field(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata_fields.insert(name.into(), value.into());
        self
    }

    /// Sets the `max-age` of the metadata's `Cache-Control`. Defaults to one hour.
    pub fn metadata_max_age(mut self, max_age: Duration) -> Self {
        self.metadata_max_age = max_age;
        self
    }

    /// Sets the largest token accepted, in bytes; larger ones get `401 invalid_token` before
    /// any verification work. Defaults to `8192`.
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    /// Sets how long a verification may take before the request gets `503`. A safety net
    /// over the verifier's own network timeouts. Defaults to 10 seconds.
    pub fn verify_timeout(mut self, timeout: Duration) -> Self {
        self.verify_timeout = timeout;
        self
    }

    /// Sets the `Retry-After` of a `503` when the verifier does not suggest one. Defaults to
    /// 5 seconds.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Sets how rejection bodies are made. Defaults to [`DefaultOnRejection`] (JSON).
    pub fn on_rejection(mut self, on_rejection: impl OnRejection) -> Self {
        self.on_rejection = Arc::new(on_rejection);
        self
    }

    /// Allows `http` URLs for the resource and the authorization servers on any host.
    /// OAuth 2.1 requires TLS for everything that carries tokens, so only use this behind a
    /// TLS-terminating proxy. `http` on loopback hosts is allowed without it. Defaults to
    /// `false`.
    pub fn danger_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Validates the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid setting.
    pub fn build(self) -> Result<McpAuth, ConfigError> {
        let resource = ResourceUri::parse(&self.resource, self.allow_http).map_err(|message| {
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
            let parsed = metadata::parse_http_url(url, self.allow_http).map_err(|message| {
                ConfigError::InvalidAuthorizationServer {
                    url: url.clone(),
                    message,
                }
            })?;
            if parsed.query().is_some() {
                return Err(ConfigError::InvalidAuthorizationServer {
                    url: url.clone(),
                    message: "an issuer must not have a query (RFC 8414 §2)".into(),
                });
            }
        }
        for ((_, key), scopes) in &self.rules {
            if key.is_empty() {
                return Err(ConfigError::InvalidSetting {
                    name: "per-operation rule",
                    message: "the method, tool, prompt or resource name is empty".into(),
                });
            }
            if scopes.is_empty() {
                return Err(ConfigError::InvalidSetting {
                    name: "per-operation rule",
                    message: format!("the rule for {key:?} names no scope"),
                });
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
            check_scope_token(scope).map_err(|message| ConfigError::InvalidScope {
                scope: scope.to_owned(),
                message,
            })?;
        }
        let required = Requirement::new(
            self.required_scopes.iter().map(String::as_str),
            &self.hierarchy,
        );
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

        let audiences = self
            .audiences
            .into_iter()
            .map(|audience| Audience::parse(audience, self.allow_http))
            .collect::<Result<Vec<_>, _>>()?;

        let allowed_origins = self
            .allowed_origins
            .map(|origins| origins.iter().map(|o| parse_origin(o)).collect())
            .transpose()?;

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
        if self.max_token_len == 0 {
            return Err(ConfigError::InvalidSetting {
                name: "max_token_len",
                message: "must be at least 1".into(),
            });
        }
        if self.max_body_len == 0 {
            return Err(ConfigError::InvalidSetting {
                name: "max_body_len",
                message: "must be at least 1".into(),
            });
        }
        if self.body_timeout.is_zero() {
            return Err(ConfigError::InvalidSetting {
                name: "body_timeout",
                message: "must be more than zero".into(),
            });
        }
        if self.verify_timeout.is_zero() {
            return Err(ConfigError::InvalidSetting {
                name: "verify_timeout",
                message: "must be more than zero".into(),
            });
        }

        let metadata = ProtectedResourceMetadata::new(MetadataParts {
            resource: &resource,
            authorization_servers,
            scopes_supported,
            resource_name: self.resource_name,
            resource_documentation: self.resource_documentation,
            extra: self.metadata_fields,
            max_age: self.metadata_max_age,
        });
        let challenger = Challenger::new(
            metadata.url(),
            (!required.is_empty()).then(|| &**required.challenge()),
            self.retry_after,
            self.on_rejection,
        );
        let well_known = [resource.well_known_path(), WELL_KNOWN.to_owned()];
        Ok(McpAuth {
            shared: Arc::new(Shared {
                verifier,
                resource,
                audiences,
                metadata,
                well_known,
                allowed_origins,
                public_paths: self.public_paths.into(),
                required,
                policy,
                max_body_len: self.max_body_len,
                body_timeout: self.body_timeout,
                max_token_len: self.max_token_len,
                verify_timeout: self.verify_timeout,
                challenger,
            }),
        })
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("resource", &self.resource)
            .field("authorization_servers", &self.authorization_servers)
            .field("verifier", &self.verifier)
            .field("required_scopes", &self.required_scopes)
            .field("hierarchy", &self.hierarchy)
            .field("rules", &self.rules)
            .field("audiences", &self.audiences)
            .field("allowed_origins", &self.allowed_origins)
            .field("public_paths", &self.public_paths)
            .finish_non_exhaustive()
    }
}

const RESERVED_FIELDS: &[&str] = &[
    "resource",
    "authorization_servers",
    "scopes_supported",
    "bearer_methods_supported",
    "resource_name",
    "resource_documentation",
];

/// An accepted audience besides the resource.
#[derive(Debug)]
enum Audience {
    Uri(ResourceUri),
    Exact(String),
}

impl Audience {
    fn parse(audience: String, allow_http: bool) -> Result<Self, ConfigError> {
        if audience.is_empty() {
            return Err(ConfigError::InvalidAudience {
                audience,
                message: "is empty".into(),
            });
        }
        let lower = audience.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            return ResourceUri::parse(&audience, allow_http)
                .map(Audience::Uri)
                .map_err(|message| ConfigError::InvalidAudience { audience, message });
        }
        Ok(Self::Exact(audience))
    }

    fn matches(&self, audience: &str) -> bool {
        match self {
            Self::Uri(uri) => uri.matches(audience),
            Self::Exact(exact) => exact == audience,
        }
    }

    fn is_exactly(&self, audience: &str) -> bool {
        match self {
            Self::Uri(uri) => uri.is_exactly(audience),
            Self::Exact(exact) => exact == audience,
        }
    }
}

fn parse_origin(origin: &str) -> Result<String, ConfigError> {
    let invalid = |message: &str| ConfigError::InvalidOrigin {
        origin: origin.to_owned(),
        message: message.into(),
    };
    if origin == "null" {
        return Err(invalid("the opaque origin `null` cannot be allowed"));
    }
    let url = url::Url::parse(origin).map_err(|_| invalid("not an absolute URL"))?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("an origin has no path, query or fragment"));
    }
    if origin.ends_with('/') {
        return Err(invalid("an origin has no trailing slash"));
    }
    Ok(url.origin().ascii_serialization())
}

/// What the layer decided from the request line and headers alone.
#[derive(Debug)]
pub(crate) enum Step {
    /// Answer with this response (the metadata document).
    Respond(Response<Bytes>),
    /// Pass on without authentication (preflight, public path).
    Pass,
    /// Verify this token.
    Verify(String),
}

/// The configuration shared by the layer and every service it makes.
pub(crate) struct Shared {
    pub(crate) verifier: Arc<dyn TokenVerifier>,
    resource: ResourceUri,
    audiences: Vec<Audience>,
    metadata: ProtectedResourceMetadata,
    /// The path-inserted and the root well-known paths (equal for a root resource).
    well_known: [String; 2],
    allowed_origins: Option<Vec<String>>,
    public_paths: Box<[String]>,
    pub(crate) required: Requirement,
    pub(crate) policy: OperationPolicy,
    pub(crate) max_body_len: usize,
    pub(crate) body_timeout: Duration,
    max_token_len: usize,
    pub(crate) verify_timeout: Duration,
    pub(crate) challenger: Challenger,
}

impl Shared {
    /// Steps 1 to 4 of the request flow: metadata, preflight, `Origin`, public paths, token
    /// extraction. Pure: it reads the request and changes nothing.
    pub(crate) fn check_request<B>(&self, req: &Request<B>) -> Result<Step, AuthError> {
        let path = req.uri().path();
        if self.well_known.iter().any(|p| p == path) {
            return Ok(Step::Respond(self.metadata.respond(req.method())));
        }
        if is_preflight(req.method(), req.headers()) {
            return Ok(Step::Pass);
        }
        if let Some(allowed) = &self.allowed_origins {
            // Every `Origin` header must be allowed, not just the first.
            let refused = req.headers().get_all(header::ORIGIN).iter().any(|origin| {
                !allowed
                    .iter()
                    .any(|a| a.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
            });
            if refused {
                return Err(AuthError::new(
                    AuthErrorKind::OriginNotAllowed,
                    "the Origin of this request is not allowed",
                ));
            }
        }
        if self.public_paths.iter().any(|p| p == path) {
            return Ok(Step::Pass);
        }
        let token = bearer::extract(req.headers(), req.uri(), self.max_token_len)?;
        Ok(Step::Verify(token.to_owned()))
    }

    /// Step 6: the token must be meant for this resource.
    pub(crate) fn check_audience(&self, info: &AuthInfo) -> Result<(), AuthError> {
        // Byte-equal names first, the usual case; URL canonicalisation only if none is.
        let audiences = info.audiences();
        let for_us = audiences.iter().any(|aud| {
            self.resource.is_exactly(aud) || self.audiences.iter().any(|a| a.is_exactly(aud))
        }) || audiences
            .iter()
            .any(|aud| self.resource.matches(aud) || self.audiences.iter().any(|a| a.matches(aud)));
        if !for_us {
            return Err(AuthError::new(
                AuthErrorKind::InvalidToken,
                "the access token is not meant for this resource (audience mismatch)",
            ));
        }
        Ok(())
    }

    /// Step 7: the token must carry every scope of `requirements` (the global requirement
    /// first, then the per-operation ones).
    pub(crate) fn check_scopes(
        &self,
        info: &AuthInfo,
        requirements: &[&Requirement],
    ) -> Result<(), AuthError> {
        if policy::all_satisfied(requirements, info.scopes()) {
            return Ok(());
        }
        let needed: Vec<&Requirement> = requirements
            .iter()
            .copied()
            .filter(|r| !r.is_empty())
            .collect();
        Err(AuthError::new(
            AuthErrorKind::InsufficientScope,
            "the access token lacks a scope this request needs",
        )
        .with_scope(policy::union_challenge(&needed)))
    }

    /// Whether this request's body must be read to apply per-operation rules.
    ///
    /// With such rules, every `POST` is read: one that is not JSON gets `415`, because a
    /// server that parsed it anyway would see a tool call the layer never checked.
    pub(crate) fn needs_peek<B>(&self, req: &Request<B>) -> Result<bool, AuthError> {
        if self.policy.is_empty() || req.method() != Method::POST {
            return Ok(false);
        }
        if !is_json(req.headers()) {
            return Err(AuthError::new(
                AuthErrorKind::UnsupportedMediaType,
                "MCP requests must be sent as Content-Type: application/json",
            ));
        }
        Ok(true)
    }

    /// The response for `err`; `close` when the request's body was left unread.
    pub(crate) fn reject(&self, err: AuthError, close: bool) -> Response<Bytes> {
        let mut res = self.challenger.response(err);
        if close {
            res.headers_mut()
                .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        res
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("resource", &self.resource.as_str())
            .field("verifier", &self.verifier)
            .field("audiences", &self.audiences)
            .field("allowed_origins", &self.allowed_origins)
            .field("public_paths", &self.public_paths)
            .field("required", &self.required)
            .field("policy", &self.policy)
            .field("max_token_len", &self.max_token_len)
            .field("verify_timeout", &self.verify_timeout)
            .finish_non_exhaustive()
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|ct| {
        let essence = ct
            .as_bytes()
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        let Some((kind, subtype)) = essence.split_at_checked(12) else {
            return false;
        };
        kind.eq_ignore_ascii_case(b"application/")
            && (subtype.eq_ignore_ascii_case(b"json")
                || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case(b"+json"))
    })
}

fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}
