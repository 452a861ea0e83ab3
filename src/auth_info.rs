//! The verified principal: [`AuthInfo`].

use std::{
    fmt, mem,
    sync::{Arc, OnceLock},
    time::SystemTime,
};

use serde_json::{Map, Value};

/// What a [`TokenVerifier`] learned about a valid access token.
///
/// The layer inserts it into the request extensions after the token passed verification, the
/// audience check and the scope check. Handlers read it from there (with the `axum` feature it is
/// also an extractor). The token itself is never kept.
///
/// `AuthInfo` is cheap to clone: its data sits behind an [`Arc`].
///
/// # Example
///
/// ```
/// use mcp_auth::AuthInfo;
///
/// let info = AuthInfo::builder()
///     .issuer("https://auth.example.com")
///     .subject("alice")
///     .scopes(["mcp:read", "notes:write"])
///     .audience("https://mcp.example.com/mcp")
///     .build();
/// assert!(info.has_scope("mcp:read"));
/// assert_eq!(info.subject(), Some("alice"));
/// assert_eq!(info.principal_key(), Some(r#"["https://auth.example.com","alice"]"#));
/// ```
///
/// [`TokenVerifier`]: crate::TokenVerifier
#[derive(Clone)]
pub struct AuthInfo {
    inner: Arc<Inner>,
}

/// The fields of an [`AuthInfo`], filled in by its builder.
///
/// In declaration order (`repr(C)`): the fields the layer reads on every request come first,
/// next to the `Arc`'s counts, so that a cached token touches as few cache lines as it can.
#[derive(Default)]
#[repr(C)]
struct Inner {
    expires_at: Option<SystemTime>,
    audiences: Vec<String>,
    scopes: Vec<String>,
    key_thumbprint: Option<String>,
    certificate_thumbprint: Option<String>,
    subject: Option<String>,
    client_id: Option<String>,
    issuer: Option<String>,
    token_id: Option<String>,
    claims: Claims,
    /// Written on first use: most requests never ask for it.
    principal_key: OnceLock<Option<String>>,
}

/// The claims without a dedicated accessor. `Debug` shows their names only: their values may
/// carry personal data.
///
/// A verifier may hand them over as the token's JSON text: they are then read on first use,
/// so a request that never asks for them does not pay for building a map.
#[derive(Default)]
struct Claims {
    /// The claims: set by the builder, or read from `json` on first use.
    map: OnceLock<Map<String, Value>>,
    /// The JSON text of a verified token's claims (checked strictly already), and the names
    /// to leave out of them.
    json: Option<(Vec<u8>, Arc<[String]>)>,
}

impl Claims {
    fn get(&self) -> &Map<String, Value> {
        self.map
            .get_or_init(|| self.json.as_ref().map_or_else(Map::new, read_claims))
    }

    fn into_map(self) -> Map<String, Value> {
        let Self { map, json } = self;
        map.into_inner()
            .unwrap_or_else(|| json.as_ref().map_or_else(Map::new, read_claims))
    }
}

impl From<Map<String, Value>> for Claims {
    fn from(map: Map<String, Value>) -> Self {
        Self {
            map: OnceLock::from(map),
            json: None,
        }
    }
}

/// The claims in `json`, without those named in `left_out`. The verifier parsed the text
/// strictly before (an object without duplicate names), so `serde_json` reads it the same way
/// and does not fail.
fn read_claims((json, left_out): &(Vec<u8>, Arc<[String]>)) -> Map<String, Value> {
    let mut claims: Map<String, Value> = serde_json::from_slice(json).unwrap_or_default();
    claims.retain(|name, _| !left_out.contains(name));
    claims
}

impl AuthInfo {
    /// Starts an [`AuthInfo`]; verifiers call this once a token has been verified.
    pub fn builder() -> AuthInfoBuilder {
        AuthInfoBuilder::default()
    }

    /// The `sub` claim: whom the token was issued for.
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.inner.subject.as_deref()
    }

    /// The `client_id` claim: the OAuth client the token was issued to.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.inner.client_id.as_deref()
    }

    /// The `iss` claim: the authorization server that issued the token.
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }

    /// The granted scopes, in the order the token listed them, without duplicates.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.inner.scopes
    }

    /// Whether `scope` was granted literally.
    ///
    /// This ignores scope hierarchies; the layer applies those when it checks requirements.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.inner.scopes.iter().any(|s| s == scope)
    }

    /// The audiences (`aud`) the token is meant for.
    #[must_use]
    pub fn audiences(&self) -> &[String] {
        &self.inner.audiences
    }

    /// When the token expires (`exp`).
    #[must_use]
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner.expires_at
    }

    /// The token identifier (`jti`).
    #[must_use]
    pub fn token_id(&self) -> Option<&str> {
        self.inner.token_id.as_deref()
    }

    /// The RFC 7638 thumbprint of the key the token is bound to (`cnf.jkt`, RFC 9449): the
    /// layer accepts the token only with a DPoP proof signed by that key. Bind state to it to
    /// bind it to the client's key rather than to the user.
    #[must_use]
    pub fn key_thumbprint(&self) -> Option<&str> {
        self.inner.key_thumbprint.as_deref()
    }

    /// The SHA-256 thumbprint of the client certificate the token is bound to
    /// (`cnf.x5t#S256`, RFC 8705).
    #[must_use]
    pub fn certificate_thumbprint(&self) -> Option<&str> {
        self.inner.certificate_thumbprint.as_deref()
    }

    /// The claims not exposed by a dedicated accessor.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        self.inner.claims.get()
    }

    /// One claim by name, from [`claims`](Self::claims).
    #[must_use]
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.inner.claims.get().get(name)
    }

    /// A stable key for the principal, made of the issuer and the subject.
    ///
    /// Bind server-side state (sessions, state handles) to this key, never to the token: the MCP
    /// security best practices require that possession of a session or state handle is not
    /// taken as authentication. The key is the JSON array `["<iss>","<sub>"]`, so it is
    /// unambiguous whatever characters the two values hold.
    ///
    /// `None` when the token has no subject (RFC 7662 lets an introspection answer omit it,
    /// and machine-to-machine tokens may carry only a client). Then bind to the issuer and
    /// [`client_id`](Self::client_id) if the token names a client, and otherwise refuse the
    /// request: never put callers without a principal into one shared bucket, or they read
    /// each other's data. (The layer's session binding does the same, and falls back to the
    /// token itself.)
    #[must_use]
    pub fn principal_key(&self) -> Option<&str> {
        let inner = &*self.inner;
        inner
            .principal_key
            .get_or_init(|| {
                let sub = inner.subject.as_deref()?;
                let iss = inner.issuer.as_deref().unwrap_or("");
                Some(Value::Array(vec![Value::from(iss), Value::from(sub)]).to_string())
            })
            .as_deref()
    }
}

impl fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `principal_key` is left out: it is made of the issuer and subject shown here.
        f.debug_struct("AuthInfo")
            .field("subject", &self.subject)
            .field("client_id", &self.client_id)
            .field("issuer", &self.issuer)
            .field("scopes", &self.scopes)
            .field("audiences", &self.audiences)
            .field("expires_at", &self.expires_at)
            .field("token_id", &self.token_id)
            .field("key_thumbprint", &self.key_thumbprint)
            .field("certificate_thumbprint", &self.certificate_thumbprint)
            .field("claims", &self.claims)
            .finish()
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.get().keys()).finish()
    }
}

/// Builder for [`AuthInfo`], used by [`TokenVerifier`] implementations.
///
/// [`TokenVerifier`]: crate::TokenVerifier
#[derive(Debug, Default)]
#[must_use]
pub struct AuthInfoBuilder {
    inner: Inner,
}

impl AuthInfoBuilder {
    setters! {
        /// Sets the subject (`sub`). Defaults to none.
        subject(subject: impl Into<String>) => inner.subject = Some(subject.into());

        /// Sets the client id (`client_id`). Defaults to none.
        client_id(client_id: impl Into<String>) => inner.client_id = Some(client_id.into());

        /// Sets the issuer (`iss`). Defaults to none.
        issuer(issuer: impl Into<String>) => inner.issuer = Some(issuer.into());
    }

    /// Adds granted scopes; duplicates and empty strings are dropped. Defaults to none.
    pub fn scopes<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let scopes = scopes.into_iter().map(Into::into);
        let kept = &mut self.inner.scopes;
        let before = kept.len();
        if before == 0 {
            // Collected in place when `scopes` is a `Vec<String>`.
            *kept = scopes.collect();
        } else {
            kept.extend(scopes);
        }
        // The new ones that are neither empty nor already there move up; the rest goes.
        let mut len = before;
        for i in before..kept.len() {
            if !kept[i].is_empty() && !kept[..len].contains(&kept[i]) {
                kept.swap(len, i);
                len += 1;
            }
        }
        kept.truncate(len);
        self
    }

    /// Adds the scopes of an RFC 6749 space-separated `scope` string. Defaults to none.
    pub fn scope_string(self, scope: &str) -> Self {
        self.scopes(scope.split(' '))
    }

    /// Adds one audience (`aud`). Defaults to none.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.inner.audiences.push(audience.into());
        self
    }

    /// Adds audiences (`aud`). Defaults to none.
    pub fn audiences<I>(mut self, audiences: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let audiences = audiences.into_iter().map(Into::into);
        if self.inner.audiences.is_empty() {
            // Collected in place when `audiences` is a `Vec<String>`.
            self.inner.audiences = audiences.collect();
        } else {
            self.inner.audiences.extend(audiences);
        }
        self
    }

    setters! {
        /// Sets the expiry (`exp`). Defaults to none.
        expires_at(expires_at: SystemTime) => inner.expires_at = Some(expires_at);

        /// Sets the token identifier (`jti`). Defaults to none.
        token_id(token_id: impl Into<String>) => inner.token_id = Some(token_id.into());

        /// Sets the thumbprint of the key the token is bound to (`cnf.jkt`). Defaults to none.
        key_thumbprint(jkt: impl Into<String>) => inner.key_thumbprint = Some(jkt.into());

        /// Sets the thumbprint of the client certificate the token is bound to
        /// (`cnf.x5t#S256`). Defaults to none.
        certificate_thumbprint(thumbprint: impl Into<String>) =>
            inner.certificate_thumbprint = Some(thumbprint.into());
    }

    /// Adds a claim that has no dedicated accessor. Defaults to none.
    pub fn claim(mut self, name: impl Into<String>, value: Value) -> Self {
        let mut claims = mem::take(&mut self.inner.claims).into_map();
        claims.insert(name.into(), value);
        self.inner.claims = claims.into();
        self
    }

    setters! {
        /// Sets all other claims at once, replacing those added before. Defaults to none.
        claims(claims: Map<String, Value>) => inner.claims = claims.into();
    }

    /// Sets all other claims at once as the JSON text of a verified token's claims (an object
    /// without duplicate names), leaving out the names in `left_out`: they are read when
    /// first asked for.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn claims_json(mut self, json: Vec<u8>, left_out: Arc<[String]>) -> Self {
        self.inner.claims = Claims {
            map: OnceLock::new(),
            json: Some((json, left_out)),
        };
        self
    }

    /// Finishes the [`AuthInfo`].
    #[must_use]
    pub fn build(self) -> AuthInfo {
        AuthInfo {
            inner: Arc::new(self.inner),
        }
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum::{
        extract::{FromRequestParts, OptionalFromRequestParts},
        http::{StatusCode, request::Parts},
    };

    use super::AuthInfo;

    /// Extracts the [`AuthInfo`] the layer inserted.
    ///
    /// Rejects with `500 Internal Server Error` when it is missing, since that means the handler
    /// is not behind [`McpAuth`](crate::McpAuth) (or sits on a public path): a server
    /// misconfiguration, not a client error. Use `Option<AuthInfo>` on routes that may be public.
    impl<S: Send + Sync> FromRequestParts<S> for AuthInfo {
        type Rejection = (StatusCode, &'static str);

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            parts.extensions.get::<Self>().cloned().ok_or((
                StatusCode::INTERNAL_SERVER_ERROR,
                "missing AuthInfo: is the route behind the McpAuth layer?",
            ))
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthInfo {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<Self>().cloned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_deduplicated_and_empty_ones_dropped() {
        let info = AuthInfo::builder().scope_string("a  b a").build();
        assert_eq!(info.scopes(), ["a", "b"]);
        let info = AuthInfo::builder()
            .scopes(["", "c", "c", "a"])
            .scopes(["b", "a", "", "b"])
            .audiences(["r1"])
            .audiences(vec!["r2".to_owned()])
            .build();
        assert_eq!(info.scopes(), ["c", "a", "b"]);
        assert_eq!(info.audiences(), ["r1", "r2"]);
    }

    #[test]
    fn principal_key_is_unambiguous() {
        let one = AuthInfo::builder().issuer("a\",\"b").subject("c").build();
        let two = AuthInfo::builder().issuer("a").subject("b\",\"c").build();
        assert_ne!(one.principal_key(), two.principal_key());
        assert_eq!(AuthInfo::builder().build().principal_key(), None);
    }

    #[test]
    fn claims_given_as_json_are_read_on_first_use_without_the_left_out_ones() {
        let json = br#"{"sub":"s","email":"a@example.com","n":1}"#.to_vec();
        let left_out: Arc<[String]> = Arc::new(["sub".to_owned()]);
        let info = AuthInfo::builder()
            .claims_json(json.clone(), Arc::clone(&left_out))
            .build();
        assert!(info.inner.claims.map.get().is_none(), "not read yet");
        assert_eq!(info.claim("email"), Some(&Value::from("a@example.com")));
        assert_eq!(info.claims().len(), 2);
        assert_eq!(info.claim("sub"), None);
        // A claim added after them joins them; claims set after them replace them.
        let added = AuthInfo::builder()
            .claims_json(json.clone(), Arc::clone(&left_out))
            .claim("extra", Value::Bool(true))
            .build();
        assert_eq!(added.claims().len(), 3);
        let replaced = AuthInfo::builder()
            .claims_json(json, left_out)
            .claims(Map::new())
            .build();
        assert!(replaced.claims().is_empty());
    }

    #[test]
    fn debug_shows_claim_names_not_values() {
        let info = AuthInfo::builder()
            .claim("email", Value::from("alice@example.com"))
            .build();
        let debug = format!("{info:?}");
        assert!(debug.contains("email"));
        assert!(!debug.contains("alice@example.com"));
    }
}
