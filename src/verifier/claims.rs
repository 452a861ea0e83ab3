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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::VerifyError;
use crate::{AuthInfo, policy::is_scope_token};

/// The largest NumericDate accepted (about year 33658): beyond it a value is a mistake, and
/// converting it to a `SystemTime` could overflow.
const MAX_NUMERIC_DATE: f64 = 1e12;

/// Claims described by their own accessors in [`AuthInfo`], and so left out of
/// [`AuthInfo::claims`].
const DESCRIBED: [&str; 6] = ["iss", "sub", "aud", "exp", "jti", "client_id"];

/// The claim rules of one verifier, fixed when it is built.
#[derive(Clone, Debug)]
pub(crate) struct ClaimRules {
    leeway: Duration,
    require_expiry: bool,
    scope_claims: Vec<String>,
    client_claims: Vec<String>,
    audiences: Vec<String>,
    assumed_audience: Option<String>,
    required_claims: Vec<String>,
}

impl ClaimRules {
    /// Rules with `leeway` for the time claims; `exp` optional; scopes from `scope`; the client
    /// from `client_id`, else `azp`; no audience of its own.
    pub(crate) fn new(leeway: Duration) -> Self {
        Self {
            leeway,
            require_expiry: false,
            scope_claims: vec!["scope".to_owned()],
            client_claims: vec!["client_id".to_owned(), "azp".to_owned()],
            audiences: Vec::new(),
            assumed_audience: None,
            required_claims: Vec::new(),
        }
    }

    /// Whether a token without `exp` is refused.
    pub(crate) fn require_expiry(mut self, require: bool) -> Self {
        self.require_expiry = require;
        self
    }

    /// The claims that carry scopes, tried in order: the first present one is used.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn scope_claims(mut self, claims: Vec<String>) -> Self {
        self.scope_claims = claims;
        self
    }

    /// Values of which `aud` must contain one (empty: no check here; the layer checks the
    /// audience anyway).
    pub(crate) fn audiences(mut self, audiences: Vec<String>) -> Self {
        self.audiences = audiences;
        self
    }

    /// The audience reported when the claims carry none.
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) fn assumed_audience(mut self, audience: Option<String>) -> Self {
        self.assumed_audience = audience;
        self
    }

    /// Claims that must be present.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn required_claims(mut self, claims: Vec<String>) -> Self {
        self.required_claims = claims;
        self
    }

    /// The clock skew tolerated for the time claims.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn leeway(&self) -> Duration {
        self.leeway
    }

    /// Checks `claims` and describes the token they belong to. `issuer` is the issuer to
    /// report, already checked by the caller.
    ///
    /// # Errors
    ///
    /// [`VerifyError::invalid_token`] when a claim makes the token unacceptable.
    pub(crate) fn describe(
        &self,
        mut claims: Map<String, Value>,
        issuer: Option<String>,
    ) -> Result<AuthInfo, VerifyError> {
        let exp = self.check_time(&claims)?;

        let mut audiences = match claims.get("aud") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(values)) => values
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid("token audience is malformed"))?,
            Some(_) => return Err(invalid("token audience is malformed")),
        };
        if audiences.is_empty()
            && let Some(assumed) = &self.assumed_audience
        {
            audiences.push(assumed.clone());
        }
        if !self.audiences.is_empty() && !audiences.iter().any(|a| self.audiences.contains(a)) {
            return Err(VerifyError::invalid_token(
                "token is not meant for this resource",
            ));
        }
        if self
            .required_claims
            .iter()
            .any(|name| !claims.contains_key(name))
        {
            return Err(VerifyError::invalid_token("token lacks a required claim"));
        }

        let subject = string_claim(&claims, "sub", "token subject is malformed")?;
        let mut client_id = None;
        for name in &self.client_claims {
            if let Some(id) = string_claim(&claims, name, "token client id is malformed")? {
                client_id = Some(id);
                break;
            }
        }
        let token_id = string_claim(&claims, "jti", "token id is malformed")?;
        let mut scopes = Vec::new();
        let mut scope_claim = None;
        for name in &self.scope_claims {
            if let Some(value) = claims.get(name.as_str()) {
                scopes = parse_scopes(value)?;
                scope_claim = Some(name.as_str());
                break;
            }
        }

        for name in DESCRIBED.iter().copied().chain(scope_claim) {
            claims.remove(name);
        }
        let mut info = AuthInfo::builder()
            .audiences(audiences)
            .scopes(scopes)
            .claims(claims);
        if let Some(issuer) = issuer {
            info = info.issuer(issuer);
        }
        if let Some(subject) = subject {
            info = info.subject(subject);
        }
        if let Some(client_id) = client_id {
            info = info.client_id(client_id);
        }
        if let Some(token_id) = token_id {
            info = info.token_id(token_id);
        }
        if let Some(exp) = exp {
            info = info.expires_at(exp);
        }
        Ok(info.build())
    }

    /// `exp` (required or not), `nbf` and `iat`, each with the leeway. Returns `exp`.
    fn check_time(&self, claims: &Map<String, Value>) -> Result<Option<SystemTime>, VerifyError> {
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
fn optional<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    claims.get(name).filter(|v| !v.is_null())
}

/// A string claim, `None` when absent; any other JSON type is malformed.
fn string_claim(
    claims: &Map<String, Value>,
    name: &str,
    what: &'static str,
) -> Result<Option<String>, VerifyError> {
    match optional(claims, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(what)),
    }
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds since the epoch, not negative, at most
/// [`MAX_NUMERIC_DATE`].
pub(crate) fn numeric_date(value: &Value, what: &'static str) -> Result<f64, VerifyError> {
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
pub(crate) fn parse_scopes(value: &Value) -> Result<Vec<String>, VerifyError> {
    let check = |token: &str| {
        if is_scope_token(token) {
            Ok(token.to_owned())
        } else {
            Err(invalid("token scope is malformed"))
        }
    };
    match value {
        Value::String(s) => s.split(' ').filter(|t| !t.is_empty()).map(check).collect(),
        Value::Array(items) => items
            .iter()
            .filter(|item| item.as_str() != Some(""))
            .map(|item| {
                item.as_str()
                    .ok_or_else(|| invalid("token scope is malformed"))
                    .and_then(check)
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
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
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test claims are objects"),
        }
    }

    #[test]
    fn time_window() {
        let now = now_secs();
        let rules = ClaimRules::new(Duration::from_secs(60)).require_expiry(true);
        let cases = [
            ("valid", json!({"exp": now + 10.0}), Ok(())),
            ("within leeway", json!({"exp": now - 30.0}), Ok(())),
            (
                "expired",
                json!({"exp": now - 61.0}),
                Err("token has expired"),
            ),
            ("no exp", json!({}), Err("token has no expiry")),
            ("null exp", json!({"exp": null}), Err("token has no expiry")),
            (
                "negative exp",
                json!({"exp": -1}),
                Err("token expiry is malformed"),
            ),
            (
                "string exp",
                json!({"exp": "soon"}),
                Err("token expiry is malformed"),
            ),
            (
                "huge exp",
                json!({"exp": 1e300}),
                Err("token expiry is malformed"),
            ),
            (
                "nbf later",
                json!({"exp": now + 600.0, "nbf": now + 120.0}),
                Err("token is not yet valid"),
            ),
            (
                "nbf within leeway",
                json!({"exp": now + 600.0, "nbf": now + 30.0}),
                Ok(()),
            ),
            (
                "iat in the future",
                json!({"exp": now + 600.0, "iat": now + 120.0}),
                Err("token is issued in the future"),
            ),
            (
                "iat malformed",
                json!({"exp": now + 600.0, "iat": true}),
                Err("token issued-at is malformed"),
            ),
            (
                "negative nbf",
                json!({"exp": now + 600.0, "nbf": -5}),
                Err("token not-before is malformed"),
            ),
        ];
        for (name, value, want) in cases {
            let got = rules.describe(claims(value), None).map(|_| ());
            match (got, want) {
                (Ok(()), Ok(())) => {}
                (Err(err), Err(description)) => {
                    assert!(err.is_invalid_token(), "{name}");
                    assert_eq!(err.description(), description, "{name}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
        let lenient = ClaimRules::new(Duration::ZERO);
        assert!(lenient.describe(claims(json!({})), None).is_ok());
    }

    #[test]
    fn scopes_split_on_single_spaces_only() {
        let cases = [
            (json!("a b"), Ok(vec!["a", "b"])),
            (json!(" a  b "), Ok(vec!["a", "b"])),
            (json!(""), Ok(vec![])),
            (json!(["a", "", "b"]), Ok(vec!["a", "b"])),
            (json!("mcp:read\tnotes:write"), Err(())),
            (json!("mcp:read\nnotes:write"), Err(())),
            (json!("mcp:read\r\nnotes:write"), Err(())),
            (json!("a\u{a0}b"), Err(())),
            (json!("a \"b\""), Err(())),
            (json!("a\\b"), Err(())),
            (json!(["a b"]), Err(())),
            (json!(["a", 1]), Err(())),
            (json!({"a": 1}), Err(())),
            (json!(5), Err(())),
        ];
        for (value, want) in cases {
            let got = parse_scopes(&value).map_err(|err| {
                assert!(err.is_invalid_token(), "{value}");
            });
            let want = want.map(|v| v.into_iter().map(str::to_owned).collect::<Vec<_>>());
            assert_eq!(got, want, "{value}");
        }
    }

    #[test]
    fn token_is_described() {
        let rules = ClaimRules::new(Duration::ZERO)
            .scope_claims(vec!["scope".into(), "scp".into()])
            .require_expiry(true);
        let info = rules
            .describe(
                claims(json!({
                    "iss": "https://as.example.com", "sub": "alice", "azp": "c1",
                    "scp": ["a", "b"], "aud": ["r1", "r2"], "exp": 4_000_000_000_u64,
                    "jti": "j", "email": "alice@example.com",
                })),
                Some("https://as.example.com".into()),
            )
            .expect("accepted");
        assert_eq!(info.issuer(), Some("https://as.example.com"));
        assert_eq!(info.subject(), Some("alice"));
        assert_eq!(info.client_id(), Some("c1"));
        assert_eq!(info.scopes(), ["a", "b"]);
        assert_eq!(info.audiences(), ["r1", "r2"]);
        assert_eq!(info.token_id(), Some("j"));
        assert_eq!(
            info.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(4_000_000_000))
        );
        assert_eq!(info.claim("email"), Some(&json!("alice@example.com")));
        for described in ["iss", "sub", "aud", "exp", "jti", "scp"] {
            assert!(info.claim(described).is_none(), "{described}");
        }
        // `azp` names the client when `client_id` is absent, and stays readable as a claim.
        assert_eq!(info.claim("azp"), Some(&json!("c1")));
    }

    #[test]
    fn malformed_claims_are_invalid_tokens() {
        let rules = ClaimRules::new(Duration::ZERO);
        for value in [
            json!({"aud": 5}),
            json!({"aud": ["a", 5]}),
            json!({"sub": 1}),
            json!({"client_id": []}),
            json!({"jti": {}}),
            json!({"scope": {"a": 1}}),
        ] {
            let err = rules
                .describe(claims(value.clone()), None)
                .expect_err("malformed");
            assert!(err.is_invalid_token(), "{value}");
        }
    }

    #[test]
    fn audience_rules() {
        let rules = ClaimRules::new(Duration::ZERO).audiences(vec!["r".into()]);
        assert!(
            rules
                .describe(claims(json!({"aud": ["x", "r"]})), None)
                .is_ok()
        );
        assert!(rules.describe(claims(json!({"aud": "x"})), None).is_err());
        let assumed = ClaimRules::new(Duration::ZERO).assumed_audience(Some("r".into()));
        let info = assumed.describe(claims(json!({})), None).expect("accepted");
        assert_eq!(info.audiences(), ["r"]);
        let info = assumed
            .describe(claims(json!({"aud": "x"})), None)
            .expect("accepted");
        assert_eq!(info.audiences(), ["x"]);
        let required = ClaimRules::new(Duration::ZERO).required_claims(vec!["sub".into()]);
        assert!(required.describe(claims(json!({})), None).is_err());
        assert!(required.describe(claims(json!({"sub": "a"})), None).is_ok());
    }
}
