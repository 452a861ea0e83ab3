//! The claim checks every verifier applies, in one place: the time window (`exp`, `nbf`,
//! `iat`), `aud` as a string or an array, scopes, the subject and client claims, and the
//! [`AuthInfo`] they describe.
//!
//! A JWT's claims and an introspection answer's members mean the same things (RFC 7662 §2.2
//! borrows RFC 7519's names), so [`JwtVerifier`] and [`IntrospectionVerifier`] both hand their
//! claims to [`ClaimRules::describe`]. What differs between them (whether `exp` is required,
//! which claims carry scopes) is configuration passed in, never a second copy of a rule.
//!
//! Whatever the source, a claim that is present but malformed (a negative or non-numeric time,
//! an `aud` that is neither a string nor an array of strings, a scope outside the RFC 6749
//! character set) makes the token unacceptable: `401 invalid_token`. The authorization server
//! answered, and what it said cannot be accepted.
//!
//! [`JwtVerifier`]: super::JwtVerifier
//! [`IntrospectionVerifier`]: super::IntrospectionVerifier

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::{Map, Value};

use super::{
    VerifyError,
    json::{Json, Object},
};
use crate::{AuthInfo, AuthInfoBuilder, ConfigError, auth_info::Field, policy::is_scope_token};

/// The largest NumericDate accepted (about year 33658): beyond it a value is a mistake, and
/// converting it to a `SystemTime` could overflow.
const MAX_NUMERIC_DATE: f64 = 1e12;

/// Claims described by their own accessors in [`AuthInfo`], and so left out of
/// [`AuthInfo::claims`].
const DESCRIBED: [&str; 6] = ["iss", "sub", "aud", "exp", "jti", "client_id"];

/// Where a claim is: a top-level name (`scope`), or a path into nested objects
/// (`realm_access.roles`, `resource_access.my-client.roles`).
///
/// `From<&str>` splits on `.`; [`ClaimPath::segments`] takes names that contain dots
/// themselves.
///
/// # Example
///
/// ```
/// use mcp_auth::verifier::ClaimPath;
///
/// let path = ClaimPath::from("realm_access.roles");
/// assert_eq!(path.to_string(), "realm_access.roles");
/// let dotted = ClaimPath::segments(["resource_access", "mcp.example.com", "roles"]);
/// assert_eq!(dotted.to_string(), "resource_access.mcp.example.com.roles");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// A path from its segments, taken literally.
    #[must_use]
    pub fn segments<I>(segments: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self(segments.into_iter().map(Into::into).collect())
    }

    /// The value at this path, if every step is an object member.
    fn find<'c, 'j>(&self, claims: &'c Object<'j>) -> Option<&'c Json<'j>> {
        let (first, rest) = self.0.split_first()?;
        let mut value = claims.get(first)?;
        for segment in rest {
            match value {
                Json::Object(object) => value = object.get(segment)?,
                _ => return None,
            }
        }
        (!value.is_null()).then_some(value)
    }

    /// The top-level claim name, when the path is one.
    fn top_level(&self) -> Option<&str> {
        match self.0.as_slice() {
            [name] => Some(name),
            _ => None,
        }
    }
}

impl From<&str> for ClaimPath {
    fn from(path: &str) -> Self {
        Self::segments(path.split('.'))
    }
}

impl From<String> for ClaimPath {
    fn from(path: String) -> Self {
        Self::from(path.as_str())
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0.join("."))
    }
}

/// The audience an answer without `aud` is taken to name, and for which clients.
#[derive(Clone, Debug)]
struct AssumedAudience {
    audience: String,
    /// `None`: any client.
    clients: Option<Vec<String>>,
}

/// The claim rules of one verifier, fixed when it is built. The verifier builders set them
/// through [`claim_setters!`].
#[derive(Clone, Debug)]
pub(crate) struct ClaimRules {
    leeway: Duration,
    require_expiry: bool,
    scope_paths: Vec<ClaimPath>,
    client_claims: Vec<String>,
    allowed_clients: Option<Vec<String>>,
    audiences: Vec<String>,
    assumed_audience: Option<AssumedAudience>,
    required_claims: Vec<ClaimPath>,
    required_values: Vec<(ClaimPath, Vec<Value>)>,
    /// The claims [`AuthInfo::claims`] leaves out: [`DESCRIBED`] and the top-level scope
    /// claims read.
    left_out: Arc<[String]>,
}

impl Default for ClaimRules {
    /// 60 s of leeway; `exp` optional; scopes from `scope` and `scp`; the client from
    /// `client_id`, `azp`, `cid` or `appid`; every client; no audience of its own.
    fn default() -> Self {
        let mut rules = Self {
            leeway: Duration::from_secs(60),
            require_expiry: false,
            scope_paths: vec![ClaimPath::from("scope"), ClaimPath::from("scp")],
            client_claims: ["client_id", "azp", "cid", "appid"]
                .map(str::to_owned)
                .to_vec(),
            allowed_clients: None,
            audiences: Vec::new(),
            assumed_audience: None,
            required_claims: Vec::new(),
            required_values: Vec::new(),
            left_out: Arc::new([]),
        };
        rules.refresh_left_out();
        rules
    }
}

impl ClaimRules {
    pub(crate) fn set_leeway(&mut self, leeway: Duration) {
        // `Duration::MAX` ("do not check times") is 100 years: the latest time a token can
        // have been signed, `iat` plus the leeway, cannot overflow the clock.
        self.leeway = leeway.min(super::LONGEST);
    }

    pub(crate) fn set_require_expiry(&mut self, require: bool) {
        self.require_expiry = require;
    }

    pub(crate) fn set_scope_paths(&mut self, paths: Vec<ClaimPath>) {
        self.scope_paths = paths;
        self.refresh_left_out();
    }

    /// Works out [`left_out`](Self::left_out) from the scope claims read.
    fn refresh_left_out(&mut self) {
        let scope_claims = self.scope_paths.iter().filter_map(ClaimPath::top_level);
        self.left_out = DESCRIBED
            .iter()
            .copied()
            .chain(scope_claims)
            .map(str::to_owned)
            .collect();
    }

    /// The claims [`AuthInfo::claims`] leaves out, for
    /// [`AuthInfoBuilder::claims_json`].
    pub(crate) fn left_out(&self) -> Arc<[String]> {
        Arc::clone(&self.left_out)
    }

    /// The claims [`AuthInfo::claims`] keeps, as a map.
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) fn other_claims(&self, claims: Object<'_>) -> Map<String, Value> {
        claims.into_map_filtered(|name| !self.left_out.iter().any(|left| left == name))
    }

    pub(crate) fn set_client_claims(&mut self, names: Vec<String>) {
        self.client_claims = names;
    }

    pub(crate) fn set_allowed_clients(&mut self, clients: Vec<String>) {
        self.allowed_clients = Some(clients);
    }

    pub(crate) fn set_audiences(&mut self, audiences: Vec<String>) {
        self.audiences = audiences;
    }

    pub(crate) fn set_assumed_audience(&mut self, audience: String, clients: Option<Vec<String>>) {
        self.assumed_audience = Some(AssumedAudience { audience, clients });
    }

    pub(crate) fn add_required_claims(&mut self, paths: Vec<ClaimPath>) {
        self.required_claims.extend(paths);
    }

    pub(crate) fn add_required_values(&mut self, path: ClaimPath, values: Vec<Value>) {
        self.required_values.push((path, values));
    }

    /// The clock skew tolerated for the time claims.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn leeway(&self) -> Duration {
        self.leeway
    }

    /// Checks the settings that could make every token unacceptable by mistake.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.client_claims.is_empty() && self.allowed_clients.is_some() {
            return Err(ConfigError::setting(
                "allowed_clients",
                "no client claim is read (client_claims is empty)",
            ));
        }
        if self.allowed_clients.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::setting(
                "allowed_clients",
                "the list is empty: no token would be accepted",
            ));
        }
        if let Some(assumed) = &self.assumed_audience
            && assumed.clients.as_ref().is_some_and(Vec::is_empty)
        {
            return Err(ConfigError::setting(
                "danger_assume_audience_for_clients",
                "the client list is empty",
            ));
        }
        if let Some((path, _)) = self.required_values.iter().find(|(_, v)| v.is_empty()) {
            return Err(ConfigError::setting(
                "require_claim_values",
                format!("no value is allowed for {path}"),
            ));
        }
        Ok(())
    }

    /// Checks `claims` and describes the token they belong to. `issuer` is the issuer to
    /// report, already checked by the caller. The claims without an accessor are kept as
    /// `json`, the text `claims` were parsed from, when given (less [`left_out`](Self::left_out),
    /// read on first use); otherwise the caller adds them, from
    /// [`other_claims`](Self::other_claims).
    ///
    /// # Errors
    ///
    /// [`VerifyError::invalid_token`] when a claim makes the token unacceptable.
    pub(crate) fn describe(
        &self,
        claims: &Object<'_>,
        issuer: Option<&str>,
        json: Option<&str>,
    ) -> Result<AuthInfoBuilder, VerifyError> {
        let exp = self.check_time(claims)?;

        let audiences = match optional(claims, "aud") {
            None => &[][..],
            Some(aud @ Json::String(_)) => std::slice::from_ref(aud),
            Some(Json::Array(values)) if values.iter().all(Json::is_string) => values,
            Some(_) => return Err(invalid("token audience is malformed")),
        };
        if self
            .required_claims
            .iter()
            .any(|path| path.find(claims).is_none())
        {
            return Err(VerifyError::invalid_token("token lacks a required claim"));
        }
        for (path, allowed) in &self.required_values {
            let found = path.find(claims);
            let matches = |value: &Json<'_>| allowed.iter().any(|a| value.eq_value(a));
            let ok = match found {
                Some(Json::Array(items)) => items.iter().any(matches),
                Some(value) => matches(value),
                None => false,
            };
            if !ok {
                return Err(VerifyError::invalid_token(
                    "token lacks a required claim value",
                ));
            }
        }

        let subject = string_claim(claims, "sub", "token subject is malformed")?;
        let mut client_id = None;
        for name in &self.client_claims {
            if let Some(id) = string_claim(claims, name, "token client id is malformed")? {
                client_id = Some(id);
                break;
            }
        }
        if let Some(allowed) = &self.allowed_clients
            && !client_id.is_some_and(|id| allowed.iter().any(|a| a == id))
        {
            return Err(VerifyError::invalid_token(
                "token was issued to a client that is not allowed",
            ));
        }
        let assumed = match &self.assumed_audience {
            Some(assumed)
                if audiences.is_empty()
                    && assumed.clients.as_ref().is_none_or(|clients| {
                        client_id.is_some_and(|id| clients.iter().any(|c| c == id))
                    }) =>
            {
                Some(assumed.audience.as_str())
            }
            _ => None,
        };
        let audiences = || audiences.iter().filter_map(Json::as_str).chain(assumed);
        if !self.audiences.is_empty()
            && !audiences().any(|a| self.audiences.iter().any(|own| own == a))
        {
            return Err(VerifyError::invalid_token(
                "token is not meant for this resource",
            ));
        }
        let token_id = string_claim(claims, "jti", "token id is malformed")?;
        // Confirmation (RFC 7800): the key (RFC 9449) or certificate (RFC 8705) the token is
        // bound to. The layer refuses a bound token without its proof. A `cnf` that names
        // neither (a `jwk`, `kid` or `jku`, or nothing) binds the token in a way this layer
        // cannot check: refused, never taken for a bearer token. Other members beside one of
        // them (Keycloak's `kc-jkt-type`) are read as the issuer's notes.
        let (jkt, x5t) = match optional(claims, "cnf") {
            None => (None, None),
            Some(Json::Object(cnf)) => match (
                string_claim(cnf, "jkt", "token confirmation is malformed")?,
                string_claim(cnf, "x5t#S256", "token confirmation is malformed")?,
            ) {
                (None, None) => {
                    return Err(invalid(
                        "token is bound by a confirmation method that is not supported",
                    ));
                }
                bound => bound,
            },
            Some(_) => return Err(invalid("token confirmation is malformed")),
        };
        let mut scopes = Vec::new();
        for path in &self.scope_paths {
            if let Some(value) = path.find(claims) {
                let found = parse_scopes(value)?;
                if scopes.is_empty() {
                    scopes = found;
                } else {
                    scopes.extend(found);
                }
            }
        }

        // Acceptable: the description (the caller adds the claims without an accessor).
        let fields = [
            (Field::Issuer, issuer),
            (Field::Subject, subject),
            (Field::ClientId, client_id),
            (Field::TokenId, token_id),
            (Field::KeyThumbprint, jkt),
            (Field::CertificateThumbprint, x5t),
        ];
        let bytes = fields
            .iter()
            .filter_map(|(_, v)| *v)
            .map(str::len)
            .sum::<usize>()
            + audiences().map(str::len).sum::<usize>()
            + scopes.iter().map(|s| s.len()).sum::<usize>();
        let mut info = AuthInfo::builder();
        let json_len = json.map_or(0, str::len);
        info.reserve(bytes + json_len, audiences().count() + scopes.len());
        for audience in audiences() {
            info.add_audience(audience);
        }
        info.add_scopes(scopes);
        for (field, value) in fields {
            if let Some(value) = value {
                info.set_field(field, value);
            }
        }
        if let Some(json) = json {
            info.claims_json(json, self.left_out());
        }
        if let Some(exp) = exp {
            info = info.expires_at(exp);
        }
        Ok(info)
    }

    /// `exp` (required or not), `nbf` and `iat`, each with the leeway. Returns `exp`.
    fn check_time(&self, claims: &Object<'_>) -> Result<Option<SystemTime>, VerifyError> {
        let now = now_secs();
        let leeway = self.leeway.as_secs_f64();
        let exp = optional(claims, "exp")
            .map(|v| numeric_date(v, "token expiry is malformed"))
            .transpose()?;
        match exp {
            Some(exp) if now >= exp + leeway => {
                return Err(VerifyError::invalid_token("token has expired"));
            }
            None if self.require_expiry => {
                return Err(VerifyError::invalid_token("token has no expiry"));
            }
            _ => {}
        }
        if let Some(nbf) = optional(claims, "nbf")
            && now + leeway < numeric_date(nbf, "token not-before is malformed")?
        {
            return Err(VerifyError::invalid_token("token is not yet valid"));
        }
        if let Some(iat) = optional(claims, "iat")
            && numeric_date(iat, "token issued-at is malformed")? > now + leeway
        {
            return Err(VerifyError::invalid_token("token is issued in the future"));
        }
        // In range by `numeric_date`, so the conversion cannot overflow.
        Ok(exp.map(|exp| UNIX_EPOCH + Duration::from_secs_f64(exp)))
    }
}

/// A claim's value, with JSON `null` read as absent (introspection answers use it so).
fn optional<'c, 'j>(claims: &'c Object<'j>, name: &str) -> Option<&'c Json<'j>> {
    claims.get(name).filter(|v| !v.is_null())
}

/// A string claim, `None` when absent; any other JSON type is malformed.
fn string_claim<'c>(
    claims: &'c Object<'_>,
    name: &str,
    what: &'static str,
) -> Result<Option<&'c str>, VerifyError> {
    match optional(claims, name) {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(what)),
    }
}

/// The claim settings of the verifier builders, written once: each builder has a `claims:
/// ClaimRules` field and invokes this macro in its `impl` block.
macro_rules! claim_setters {
    () => {
        /// Sets the clock skew tolerated for `exp`, `nbf` and `iat`. Defaults to `60 s`.
        pub fn leeway(mut self, leeway: ::std::time::Duration) -> Self {
            self.claims.set_leeway(leeway);
            self
        }

        /// Reads the granted scopes from these claims, and adds them all up: each a
        /// space-separated string (RFC 6749 §3.3) or an array of strings, at a top-level name
        /// (`scp`, Entra's app-only `roles`) or a path (`realm_access.roles`,
        /// `resource_access.my-client.roles`; see [`ClaimPath`]). Roles read this way count
        /// as scopes for the layer's scope checks. Defaults to `scope` and `scp`.
        ///
        /// [`ClaimPath`]: crate::verifier::ClaimPath
        pub fn scope_claims<I>(mut self, paths: I) -> Self
        where
            I: IntoIterator,
            I::Item: Into<$crate::verifier::ClaimPath>,
        {
            self.claims
                .set_scope_paths(paths.into_iter().map(Into::into).collect());
            self
        }

        /// Reads the client the token was issued to from the first of these claims that is
        /// present ([`AuthInfo::client_id`](crate::AuthInfo::client_id)). Defaults to
        /// `client_id`, `azp`, `cid` (Okta), `appid` (Entra v1).
        pub fn client_claims<I>(mut self, names: I) -> Self
        where
            I: IntoIterator,
            I::Item: Into<String>,
        {
            self.claims
                .set_client_claims(names.into_iter().map(Into::into).collect());
            self
        }

        /// Accepts only tokens issued to one of these clients (read from
        /// [`client_claims`](Self::client_claims)); a token of another client, or of none,
        /// gets `401`. Defaults to every client.
        pub fn allowed_clients<I>(mut self, clients: I) -> Self
        where
            I: IntoIterator,
            I::Item: Into<String>,
        {
            self.claims
                .set_allowed_clients(clients.into_iter().map(Into::into).collect());
            self
        }

        /// Requires the token's `aud` to contain one of these values. The layer always
        /// checks the audience against the resource URI; this adds the same kind of check in
        /// the verifier, for use without the layer. Defaults to no check here.
        pub fn audiences<I>(mut self, audiences: I) -> Self
        where
            I: IntoIterator,
            I::Item: Into<String>,
        {
            self.claims
                .set_audiences(audiences.into_iter().map(Into::into).collect());
            self
        }

        /// Requires these claims to be present (for example `sub`, `jti`, or a path such as
        /// `realm_access.roles`). Defaults to none beyond what the verifier always requires.
        pub fn required_claims<I>(mut self, paths: I) -> Self
        where
            I: IntoIterator,
            I::Item: Into<$crate::verifier::ClaimPath>,
        {
            self.claims
                .add_required_claims(paths.into_iter().map(Into::into).collect());
            self
        }

        /// Requires the claim at `path` to equal `value` (or, for an array claim, to contain
        /// it): `token_use` = `access` (Cognito, so ID tokens are refused), Keycloak's payload
        /// `typ` = `Bearer`. Call again for more claims. Defaults to none.
        pub fn require_claim_value(
            self,
            path: impl Into<$crate::verifier::ClaimPath>,
            value: impl Into<::serde_json::Value>,
        ) -> Self {
            self.require_claim_values(path, [value])
        }

        /// Requires the claim at `path` to equal one of `values` (or, for an array claim, to
        /// contain one): `tid` in a set of tenants. Call again for more claims. Defaults to
        /// none.
        pub fn require_claim_values<I>(
            mut self,
            path: impl Into<$crate::verifier::ClaimPath>,
            values: I,
        ) -> Self
        where
            I: IntoIterator,
            I::Item: Into<::serde_json::Value>,
        {
            self.claims
                .add_required_values(path.into(), values.into_iter().map(Into::into).collect());
            self
        }

        /// Treats a token **without** `aud` as if it named `audience` (normally your resource
        /// URI), so that the layer's audience check passes.
        ///
        /// # Security
        ///
        /// MCP requires resource servers to accept only tokens issued for them. Without
        /// `aud`, the token does not say whom it is for, so with this setting **any** such
        /// token of a trusted issuer is accepted here, including tokens a client obtained for
        /// another service, which that service (or anyone it leaks to) can then replay
        /// against yours. Use it only when the authorization server issues tokens for this
        /// resource alone and cannot be made to write `aud`; prefer
        /// [`danger_assume_audience_for_clients`](Self::danger_assume_audience_for_clients).
        /// Tokens that carry an `aud` are still checked. Defaults to none.
        pub fn danger_assume_audience(mut self, audience: impl Into<String>) -> Self {
            self.claims.set_assumed_audience(audience.into(), None);
            self
        }

        /// Treats a token **without** `aud` issued to one of `clients` as if it named
        /// `audience`: for authorization servers whose access tokens carry the client id
        /// instead of an audience (Cognito). Combine it with a claim that tells access tokens
        /// from ID tokens ([`require_claim_value`](Self::require_claim_value)`("token_use",
        /// "access")` for Cognito).
        ///
        /// # Security
        ///
        /// As [`danger_assume_audience`](Self::danger_assume_audience), restricted to tokens
        /// of the listed clients: list only clients that exist to call this resource.
        /// Defaults to none.
        pub fn danger_assume_audience_for_clients<I>(
            mut self,
            audience: impl Into<String>,
            clients: I,
        ) -> Self
        where
            I: IntoIterator,
            I::Item: Into<String>,
        {
            self.claims.set_assumed_audience(
                audience.into(),
                Some(clients.into_iter().map(Into::into).collect()),
            );
            self
        }
    };
}
pub(crate) use claim_setters;

/// A NumericDate (RFC 7519 §2): a JSON number of seconds since the epoch, not negative, at most
/// [`MAX_NUMERIC_DATE`].
pub(crate) fn numeric_date(value: &Json<'_>, what: &'static str) -> Result<f64, VerifyError> {
    match value.as_f64() {
        Some(secs) if (0.0..=MAX_NUMERIC_DATE).contains(&secs) => Ok(secs),
        _ => Err(invalid(what)),
    }
}

/// The granted scopes of a scope claim: an RFC 6749 §3.3 string (`scope-token *( SP
/// scope-token )`) or an array of scope tokens.
///
/// Only U+0020 separates; empty tokens (doubled or surrounding spaces) are skipped, and any
/// token with a character outside `%x21 / %x23-5B / %x5D-7E` (a tab, a newline, a quote)
/// makes the whole claim malformed: a scope is never granted by splitting one the
/// authorization server did not write.
pub(crate) fn parse_scopes<'j>(value: &'j Json<'_>) -> Result<Vec<&'j str>, VerifyError> {
    let check = |token: &'j str| {
        if is_scope_token(token) {
            Ok(token)
        } else {
            Err(invalid("token scope is malformed"))
        }
    };
    match value {
        Json::String(s) => s.split(' ').filter(|t| !t.is_empty()).map(check).collect(),
        Json::Array(items) => items
            .iter()
            .filter(|item| item.as_str() != Some(""))
            .map(|item| {
                item.as_str()
                    .ok_or_else(|| invalid("token scope is malformed"))
                    .and_then(check)
            })
            .collect(),
        Json::Null => Ok(Vec::new()),
        _ => Err(invalid("token scope is malformed")),
    }
}

fn invalid(description: &'static str) -> VerifyError {
    VerifyError::invalid_token(description)
}

/// Seconds since the epoch, now.
pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests;
