//! What the dev issuer knows: its identity and configuration, the keys, clients, codes,
//! grants and tokens it holds (`Records`), the switches a test set (`Switches`) and the request
//! counters, with the OAuth rules that read and change them.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, SystemTime},
};

use aws_lc_rs::constant_time;
use http::{HeaderMap, header};
use serde_json::{Map, Value, json};
use url::Url;

use super::{
    oauth::{OAuthError, Params, parse_basic, pkce_matches, printable, redirect_matches},
    switches::{Counters, Endpoint, Switches},
};
use crate::testing::{
    encoding::{decode_json, random_id, unix},
    keys::{KeyAlgorithm, SigningKey},
};

/// What the builder fixes for the lifetime of the issuer.
#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) allowed_scopes: Option<Vec<String>>,
    pub(super) default_scopes: Vec<String>,
    pub(super) require_resource: bool,
    pub(super) default_resource: Option<String>,
    pub(super) token_ttl: Duration,
    pub(super) opaque_tokens: bool,
    pub(super) refresh_tokens: bool,
    pub(super) dynamic_registration: bool,
    pub(super) subject: String,
}

/// Everything a running issuer knows, shared by the [`DevIssuer`](super::DevIssuer) handle and
/// the HTTP endpoints. It outlives the listener, so a stopped and restarted issuer keeps it.
pub(super) struct ServerState {
    /// `http://<addr>`, without the issuer path.
    base_url: String,
    /// Empty, or `/tenant` without a trailing slash.
    issuer_path: String,
    /// `base_url` + `issuer_path`: `iss` and the metadata's `issuer`.
    issuer: String,
    key_algorithm: KeyAlgorithm,
    config: Config,
    records: Mutex<Records>,
    switches: Mutex<Switches>,
    counters: Counters,
}

/// The keys, clients, codes, grants and tokens the issuer holds.
pub(super) struct Records {
    /// Published keys; the last one signs.
    pub(super) keys: Vec<SigningKey>,
    pub(super) clients: HashMap<String, Client>,
    pub(super) codes: HashMap<String, AuthCode>,
    pub(super) refresh_tokens: HashMap<String, Grant>,
    pub(super) opaque_tokens: HashMap<String, Map<String, Value>>,
    pub(super) revoked: HashSet<String>,
}

/// A registered client.
#[derive(Clone)]
pub(super) struct Client {
    /// `None` for public clients (`token_endpoint_auth_method: none`).
    pub(super) secret: Option<String>,
    /// Empty: any redirect URI is accepted (pre-registered dev clients).
    pub(super) redirect_uris: Vec<String>,
    /// `None`: every grant type (pre-registered clients).
    pub(super) grant_types: Option<Vec<String>>,
}

/// An authorization code waiting to be redeemed.
pub(super) struct AuthCode {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) challenge: String,
    pub(super) scopes: Vec<String>,
    pub(super) resources: Vec<String>,
    pub(super) expires_at: SystemTime,
}

/// What a client was granted: what access tokens (and refresh tokens) carry.
#[derive(Clone)]
pub(super) struct Grant {
    pub(super) client_id: String,
    pub(super) subject: String,
    pub(super) scopes: Vec<String>,
    pub(super) resources: Vec<String>,
}

impl ServerState {
    pub(super) fn new(
        addr: SocketAddr,
        issuer_path: String,
        config: Config,
        key: SigningKey,
        clients: HashMap<String, Client>,
    ) -> Self {
        let base_url = format!("http://{addr}");
        Self {
            issuer: format!("{base_url}{issuer_path}"),
            base_url,
            issuer_path,
            key_algorithm: key.algorithm(),
            config,
            records: Mutex::new(Records {
                keys: vec![key],
                clients,
                codes: HashMap::new(),
                refresh_tokens: HashMap::new(),
                opaque_tokens: HashMap::new(),
                revoked: HashSet::new(),
            }),
            switches: Mutex::new(Switches::new()),
            counters: Counters::new(),
        }
    }

    /// The issuer identifier (`iss`).
    pub(super) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `http://<addr>`.
    pub(super) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The absolute URL of `endpoint`.
    pub(super) fn url(&self, endpoint: Endpoint) -> String {
        format!("{}{}", self.base_url, self.path(endpoint))
    }

    /// The path `endpoint` is served at.
    pub(super) fn path(&self, endpoint: Endpoint) -> String {
        endpoint.path(&self.issuer_path)
    }

    /// The endpoint served at `path`, if any.
    pub(super) fn endpoint_at(&self, path: &str) -> Option<Endpoint> {
        Endpoint::ALL
            .into_iter()
            .find(|endpoint| self.path(*endpoint) == path)
    }

    pub(super) fn key_algorithm(&self) -> KeyAlgorithm {
        self.key_algorithm
    }

    pub(super) fn config(&self) -> &Config {
        &self.config
    }

    pub(super) fn counters(&self) -> &Counters {
        &self.counters
    }

    pub(super) fn records(&self) -> MutexGuard<'_, Records> {
        // The records stay consistent across a panic (every update is a single insert or
        // remove), so a poisoned lock is still usable.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn switches(&self) -> MutexGuard<'_, Switches> {
        // Every switch is a single assignment, so a poisoned lock is still usable.
        self.switches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn current_key(&self) -> SigningKey {
        let records = self.records();
        // `keys` starts with one key and `retire_old_keys` keeps the last one, so it is never
        // empty; fall back to a fresh key rather than panic all the same.
        records
            .keys
            .last()
            .cloned()
            .unwrap_or_else(|| SigningKey::generate(self.key_algorithm))
    }

    /// The RFC 8414 document this issuer describes itself with.
    pub(super) fn own_metadata(&self) -> Value {
        let mut doc = json!({
            "issuer": self.issuer,
            "authorization_endpoint": self.url(Endpoint::Authorize),
            "token_endpoint": self.url(Endpoint::Token),
            "jwks_uri": self.url(Endpoint::Jwks),
            "introspection_endpoint": self.url(Endpoint::Introspection),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "token_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "RS256"],
        });
        if self.config.dynamic_registration {
            doc["registration_endpoint"] = Value::from(self.url(Endpoint::Registration));
        }
        if let Some(scopes) = &self.config.allowed_scopes {
            doc["scopes_supported"] = Value::from(scopes.clone());
        }
        doc
    }

    /// The metadata both discovery endpoints serve: the test's document, or the own one.
    pub(super) fn metadata(&self) -> Value {
        let replaced = self.switches().metadata_document().cloned();
        replaced.unwrap_or_else(|| self.own_metadata())
    }

    /// The JWKS `/jwks` serves: the test's document, or every published key.
    pub(super) fn jwks(&self) -> Value {
        let replaced = self.switches().jwks_document().cloned();
        replaced.unwrap_or_else(|| SigningKey::jwks_of(&self.records().keys))
    }

    /// Mints an access token (JWT or opaque) for `grant` and returns it.
    /// A new access token for `grant`; bound to the key with thumbprint `jkt` (DPoP) when
    /// the token request proved one.
    pub(super) fn mint(&self, grant: &Grant, jkt: Option<&str>) -> String {
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
        let builder = match jkt {
            Some(jkt) => builder.claim("cnf", json!({ "jkt": jkt })),
            None => builder,
        };
        if !self.config.opaque_tokens {
            return builder.sign();
        }
        let opaque = format!("dev-at-{}", random_id(24));
        let mut claims = builder.claims_json();
        if jkt.is_some() {
            claims.insert("token_type".to_owned(), Value::from("DPoP"));
        }
        self.records().opaque_tokens.insert(opaque.clone(), claims);
        opaque
    }

    /// The claims of an active access token this issuer knows, or `None`.
    pub(super) fn active_claims(&self, token: &str) -> Option<Map<String, Value>> {
        let records = self.records();
        if records.revoked.contains(token) {
            return None;
        }
        if let Some(grant) = records.refresh_tokens.get(token) {
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
        let claims = match records.opaque_tokens.get(token) {
            Some(claims) => claims.clone(),
            None => {
                let (header, payload) = token.split_once('.')?;
                let kid = decode_json(header)?.get("kid")?.as_str()?.to_owned();
                let key = records.keys.iter().find(|k| k.kid() == kid)?;
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
        drop(records);
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

    /// Authenticates the client of a token or introspection request (RFC 6749 §2.3).
    pub(super) fn authenticate(
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
            .records()
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
    pub(super) fn grant_scopes(&self, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
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
    pub(super) fn resources(&self, params: &Params) -> Result<Vec<String>, OAuthError> {
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

    pub(super) fn redeem_code(
        &self,
        client_id: &str,
        params: &Params,
    ) -> Result<Grant, OAuthError> {
        let code = params
            .one("code")
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let verifier = params
            .one("code_verifier")
            .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
        // A code is single use: take it out whatever happens next.
        let stored = self
            .records()
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
        let resources = self.narrowed_resources(
            stored.resources,
            params,
            "resource was not part of the authorization request",
        )?;
        Ok(Grant {
            client_id: stored.client_id,
            subject: self.config.subject.clone(),
            scopes: stored.scopes,
            resources,
        })
    }

    /// The grant behind a refresh token, narrowed as the request asks. The token is spent
    /// (rotation) only when the request is good, so a refused request leaves it usable.
    pub(super) fn refresh(&self, client_id: &str, params: &Params) -> Result<Grant, OAuthError> {
        let unknown = || OAuthError::invalid_grant("unknown or revoked refresh_token");
        let token = params
            .one("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let mut grant = self
            .records()
            .refresh_tokens
            .get(token)
            .filter(|grant| grant.client_id == client_id)
            .cloned()
            .ok_or_else(unknown)?;
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
        grant.resources = self.narrowed_resources(
            grant.resources,
            params,
            "resource was not part of the original grant",
        )?;
        // Rotation: the old refresh token is spent (unless a concurrent request spent it).
        self.records()
            .refresh_tokens
            .remove(token)
            .map(|_| grant)
            .ok_or_else(unknown)
    }

    /// The audiences for a redeemed code or a refresh: the `granted` ones, or those the
    /// request's `resource` parameters name if every one was granted (RFC 8707 §2.2), else
    /// `invalid_target` with `refused`.
    fn narrowed_resources(
        &self,
        granted: Vec<String>,
        params: &Params,
        refused: &'static str,
    ) -> Result<Vec<String>, OAuthError> {
        let requested = params.all("resource");
        if requested.is_empty() {
            return Ok(granted);
        }
        let allowed =
            granted.is_empty() || requested.iter().all(|r| granted.iter().any(|g| g == r));
        if !allowed {
            return Err(OAuthError::new("invalid_target", refused));
        }
        self.resources(params)
    }
}

impl Client {
    pub(super) fn confidential(secret: String) -> Self {
        Self {
            secret: Some(secret),
            redirect_uris: Vec::new(),
            grant_types: None,
        }
    }

    pub(super) fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types
            .as_ref()
            .is_none_or(|grants| grants.iter().any(|g| g == grant))
    }

    pub(super) fn allows_redirect(&self, redirect_uri: &str) -> bool {
        self.redirect_uris.is_empty()
            || self
                .redirect_uris
                .iter()
                .any(|registered| redirect_matches(registered, redirect_uri))
    }
}
