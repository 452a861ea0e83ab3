//! A builder of signed test tokens, good and deliberately broken: [`TokenBuilder`].

use std::time::{Duration, SystemTime};

use aws_lc_rs::hmac;
use serde_json::{Map, Value};

use super::{
    encoding::{b64url, decode_json, random_id, unix},
    keys::SigningKey,
};

/// The `typ` header of RFC 9068 JWT access tokens.
const AT_JWT: &str = "at+jwt";

/// Builds and signs a JWT access token (RFC 9068 layout) for tests.
///
/// Start one from a key ([`SigningKey::token`], [`TokenBuilder::new`]) or from a running
/// [`DevIssuer`](super::DevIssuer) (`issuer.token()`, which fills in `iss` and the key).
///
/// By default the token has the header `{"alg": <key alg>, "typ": "at+jwt", "kid": <key id>}`
/// and the claims `iat` (now), `exp` (`iat` + 5 minutes) and a random `jti`; everything else is
/// set through the builder. `sign` is infallible.
///
/// The `deliberately broken` knobs (`expired`, `alg_none`, `hs256_with_public_key`,
/// `untrusted_key`, `tamper_signature`, ...) produce tokens a correct verifier must reject.
///
/// # Security
///
/// For tests and local development only.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use mcp_auth::testing::SigningKey;
///
/// let key = SigningKey::es256();
/// let token = key
///     .token()
///     .issuer("http://127.0.0.1:9000")
///     .subject("alice")
///     .client_id("my-client")
///     .scopes(["mcp:read", "mcp:write"])
///     .audience("http://127.0.0.1:3000/mcp")
///     .expires_in(Duration::from_secs(300))
///     .sign();
///
/// let (header, claims) = mcp_auth::testing::decode_unverified(&token).unwrap();
/// assert_eq!(header["typ"], "at+jwt");
/// assert_eq!(header["alg"], "ES256");
/// assert_eq!(claims["scope"], "mcp:read mcp:write");
/// assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
/// assert!(key.verify_jws(&token));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct TokenBuilder {
    key: SigningKey,
    claims: Map<String, Value>,
    extra_header: Map<String, Value>,
    typ: Option<String>,
    kid: Option<String>,
    issued_at: Option<SystemTime>,
    expiry: Expiry,
    not_before: Option<SystemTime>,
    defect: Option<Defect>,
}

#[derive(Clone, Copy, Debug)]
enum Expiry {
    At(SystemTime),
    In(Duration),
    Never,
}

#[derive(Clone, Copy, Debug)]
enum Defect {
    AlgNone,
    Hs256WithPublicKey,
    TamperPayload,
    TamperSignature,
    UntrustedKey,
}

impl TokenBuilder {
    /// Starts a token signed by `key`, with the defaults described on the type.
    ///
    /// ```
    /// use mcp_auth::testing::{SigningKey, TokenBuilder, decode_unverified};
    ///
    /// let key = SigningKey::es256();
    /// let (header, claims) = decode_unverified(&TokenBuilder::new(key.clone()).sign()).unwrap();
    /// assert_eq!(header["kid"], key.kid());
    /// assert!(claims["jti"].is_string());
    /// assert!(claims.get("iss").is_none());
    /// ```
    pub fn new(key: SigningKey) -> Self {
        let kid = Some(key.kid().to_owned());
        Self {
            key,
            claims: Map::new(),
            extra_header: Map::new(),
            typ: Some(AT_JWT.to_owned()),
            kid,
            issued_at: None,
            expiry: Expiry::In(Duration::from_secs(300)),
            not_before: None,
            defect: None,
        }
    }

    /// Sets the `iss` claim.
    ///
    /// Defaults to none for a bare key, and to the issuer's URL for `DevIssuer::token`.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().issuer("https://as.example").sign();
    /// assert_eq!(decode_unverified(&t).unwrap().1["iss"], "https://as.example");
    /// ```
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.claim("iss", issuer.into())
    }

    /// Sets the `sub` claim. Defaults to none.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().subject("alice").sign();
    /// assert_eq!(decode_unverified(&t).unwrap().1["sub"], "alice");
    /// ```
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.claim("sub", subject.into())
    }

    /// Sets the `client_id` claim (RFC 9068 §2.2). Defaults to none.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().client_id("c1").sign();
    /// assert_eq!(decode_unverified(&t).unwrap().1["client_id"], "c1");
    /// ```
    pub fn client_id(self, client_id: impl Into<String>) -> Self {
        self.claim("client_id", client_id.into())
    }

    /// Sets the `scope` claim to the space-separated `scopes`. Defaults to none.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().scopes(["a", "b"]).sign();
    /// assert_eq!(decode_unverified(&t).unwrap().1["scope"], "a b");
    /// ```
    pub fn scopes<I>(self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        self.claim("scope", scopes.join(" "))
    }

    /// Sets the `scp` claim to a JSON array of `scopes` (the form some issuers use instead of
    /// `scope`). Defaults to none.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().scp(["a", "b"]).sign();
    /// assert_eq!(decode_unverified(&t).unwrap().1["scp"], serde_json::json!(["a", "b"]));
    /// ```
    pub fn scp<I>(self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let scopes: Vec<Value> = scopes
            .into_iter()
            .map(|s| Value::String(s.into()))
            .collect();
        self.claim("scp", scopes)
    }

    /// Sets the `aud` claim to one string.
    ///
    /// Defaults to none for a bare key, and to the issuer's default resource (if configured)
    /// for `DevIssuer::token`.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().audience("http://127.0.0.1:3000/mcp").sign();
    /// assert_eq!(decode_unverified(&t).unwrap().1["aud"], "http://127.0.0.1:3000/mcp");
    /// ```
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.claim("aud", audience.into())
    }

    /// Sets the `aud` claim to a JSON array. Defaults to none.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().audiences(["a", "b"]).sign();
    /// assert_eq!(decode_unverified(&t).unwrap().1["aud"], serde_json::json!(["a", "b"]));
    /// ```
    pub fn audiences<I>(self, audiences: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let auds: Vec<Value> = audiences
            .into_iter()
            .map(|a| Value::String(a.into()))
            .collect();
        self.claim("aud", auds)
    }

    /// Sets the `jti` claim. Defaults to a fresh random value.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().jti("id-1").sign();
    /// assert_eq!(decode_unverified(&t).unwrap().1["jti"], "id-1");
    /// ```
    pub fn jti(self, jti: impl Into<String>) -> Self {
        self.claim("jti", jti.into())
    }

    /// Sets any claim, replacing an earlier value (`iat`, `exp` and `nbf` included: a value set
    /// here wins over the computed times). Defaults to none.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().claim("tenant", "acme").claim("exp", "soon").sign();
    /// let claims = decode_unverified(&t).unwrap().1;
    /// assert_eq!(claims["tenant"], "acme");
    /// assert_eq!(claims["exp"], "soon");
    /// ```
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Removes a claim set earlier, or suppresses a computed one (`iat`, `exp`, `jti`).
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().without_claim("iat").without_claim("jti").sign();
    /// let claims = decode_unverified(&t).unwrap().1;
    /// assert!(claims.get("iat").is_none() && claims.get("jti").is_none());
    /// assert!(claims["exp"].is_u64());
    /// ```
    pub fn without_claim(mut self, name: &str) -> Self {
        match name {
            "exp" => self.expiry = Expiry::Never,
            "nbf" => self.not_before = None,
            _ => {}
        }
        // A `Null` marker means "leave it out", also for computed claims.
        self.claims.insert(name.to_owned(), Value::Null);
        self
    }

    /// Sets `iat`. Defaults to the time `sign` is called.
    ///
    /// ```
    /// # use std::time::{Duration, UNIX_EPOCH};
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().issued_at(UNIX_EPOCH + Duration::from_secs(1_000)).sign();
    /// let claims = decode_unverified(&t).unwrap().1;
    /// assert_eq!(claims["iat"], 1_000);
    /// assert_eq!(claims["exp"], 1_300);
    /// ```
    pub fn issued_at(mut self, at: SystemTime) -> Self {
        self.issued_at = Some(at);
        self
    }

    /// Sets `exp` to `iat + lifetime`. Defaults to 5 minutes (`Duration::from_secs(300)`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().expires_in(Duration::from_secs(60)).sign();
    /// let c = decode_unverified(&t).unwrap().1;
    /// assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 60);
    /// ```
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.expiry = Expiry::In(lifetime);
        self
    }

    /// Sets `exp` to a point in time. Defaults to `iat` + 5 minutes.
    ///
    /// ```
    /// # use std::time::{Duration, UNIX_EPOCH};
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().expires_at(UNIX_EPOCH + Duration::from_secs(42)).sign();
    /// assert_eq!(decode_unverified(&t).unwrap().1["exp"], 42);
    /// ```
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expiry = Expiry::At(at);
        self
    }

    /// Sets `nbf`. Defaults to none.
    ///
    /// ```
    /// # use std::time::{Duration, UNIX_EPOCH};
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().not_before(UNIX_EPOCH + Duration::from_secs(7)).sign();
    /// assert_eq!(decode_unverified(&t).unwrap().1["nbf"], 7);
    /// ```
    pub fn not_before(mut self, at: SystemTime) -> Self {
        self.not_before = Some(at);
        self
    }

    /// Broken: the token expired an hour ago (`iat` two hours ago), far beyond any leeway.
    ///
    /// ```
    /// # use std::time::{SystemTime, UNIX_EPOCH};
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().expired().sign();
    /// let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    /// assert!(decode_unverified(&t).unwrap().1["exp"].as_u64().unwrap() <= now - 3_600);
    /// ```
    pub fn expired(self) -> Self {
        let now = SystemTime::now();
        self.issued_at(now - Duration::from_secs(7_200))
            .expires_at(now - Duration::from_secs(3_600))
    }

    /// Broken: `nbf` is an hour from now, far beyond any leeway.
    ///
    /// ```
    /// # use std::time::{SystemTime, UNIX_EPOCH};
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().not_yet_valid().sign();
    /// let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    /// assert!(decode_unverified(&t).unwrap().1["nbf"].as_u64().unwrap() >= now + 3_500);
    /// ```
    pub fn not_yet_valid(self) -> Self {
        let later = SystemTime::now() + Duration::from_secs(3_600);
        self.not_before(later)
            .expires_at(later + Duration::from_secs(300))
    }

    /// Broken: `iss` is `https://wrong-issuer.invalid`.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().issuer("https://as.example").wrong_issuer().sign();
    /// assert_eq!(decode_unverified(&t).unwrap().1["iss"], "https://wrong-issuer.invalid");
    /// ```
    pub fn wrong_issuer(self) -> Self {
        self.issuer("https://wrong-issuer.invalid")
    }

    /// Broken: `aud` is `https://wrong-audience.invalid/mcp`.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().audience("http://a/mcp").wrong_audience().sign();
    /// assert_eq!(decode_unverified(&t).unwrap().1["aud"], "https://wrong-audience.invalid/mcp");
    /// ```
    pub fn wrong_audience(self) -> Self {
        self.audience("https://wrong-audience.invalid/mcp")
    }

    /// Broken: no `aud` claim.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().audience("http://a/mcp").without_audience().sign();
    /// assert!(decode_unverified(&t).unwrap().1.get("aud").is_none());
    /// ```
    pub fn without_audience(self) -> Self {
        self.without_claim("aud")
    }

    /// Sets the `typ` header (`"JWT"`, `"at+JWT"`, `"application/at+jwt"`, anything).
    /// Defaults to `at+jwt`.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().typ("JWT").sign();
    /// assert_eq!(decode_unverified(&t).unwrap().0["typ"], "JWT");
    /// ```
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// Leaves the `typ` header out. Defaults to `at+jwt`.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().without_typ().sign();
    /// assert!(decode_unverified(&t).unwrap().0.get("typ").is_none());
    /// ```
    pub fn without_typ(mut self) -> Self {
        self.typ = None;
        self
    }

    /// Sets the `kid` header without changing the signing key. Defaults to the key's id.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().kid("other").sign();
    /// assert_eq!(decode_unverified(&t).unwrap().0["kid"], "other");
    /// ```
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Leaves the `kid` header out. Defaults to the key's id.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().without_kid().sign();
    /// assert!(decode_unverified(&t).unwrap().0.get("kid").is_none());
    /// ```
    pub fn without_kid(mut self) -> Self {
        self.kid = None;
        self
    }

    /// Broken: a random `kid` no key set contains (the signature is still the real key's).
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let key = SigningKey::es256();
    /// let t = key.token().unknown_kid().sign();
    /// assert_ne!(decode_unverified(&t).unwrap().0["kid"], key.kid());
    /// assert!(key.verify_jws(&t));
    /// ```
    pub fn unknown_kid(self) -> Self {
        let kid = format!("unknown-{}", random_id(12));
        self.kid(kid)
    }

    /// Adds or replaces a header parameter: `jku`, `x5u`, `jwk`, `x5c`, `crit`, or anything. A
    /// value set here wins over the computed `alg`, `typ` and `kid`. Defaults to none.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// use serde_json::json;
    ///
    /// let key = SigningKey::es256();
    /// let t = key
    ///     .token()
    ///     .header("jku", "https://attacker.invalid/jwks")
    ///     .header("crit", json!(["exp"]))
    ///     .header("jwk", SigningKey::es256().public_jwk())
    ///     .sign();
    /// let header = decode_unverified(&t).unwrap().0;
    /// assert_eq!(header["jku"], "https://attacker.invalid/jwks");
    /// assert_eq!(header["crit"], json!(["exp"]));
    /// assert!(key.verify_jws(&t), "still signed by the real key");
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra_header.insert(name.into(), value.into());
        self
    }

    /// Broken: `alg: none` and an empty signature.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let t = SigningKey::es256().token().alg_none().sign();
    /// assert!(t.ends_with('.'));
    /// assert_eq!(decode_unverified(&t).unwrap().0["alg"], "none");
    /// ```
    pub fn alg_none(self) -> Self {
        self.with_defect(Defect::AlgNone)
    }

    /// Broken: algorithm confusion. `alg: HS256`, HMAC-signed with the key's public key PEM
    /// ([`SigningKey::public_key_pem`]) as the secret.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let key = SigningKey::rs256();
    /// let t = key.token().hs256_with_public_key().sign();
    /// assert_eq!(decode_unverified(&t).unwrap().0["alg"], "HS256");
    /// assert!(!key.verify_jws(&t));
    /// ```
    pub fn hs256_with_public_key(self) -> Self {
        self.with_defect(Defect::Hs256WithPublicKey)
    }

    /// Broken: signed by a freshly generated key of the same algorithm that no one trusts,
    /// under this key's (trusted) `kid`.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let key = SigningKey::es256();
    /// let t = key.token().untrusted_key().sign();
    /// assert_eq!(decode_unverified(&t).unwrap().0["kid"], key.kid());
    /// assert!(!key.verify_jws(&t));
    /// ```
    pub fn untrusted_key(self) -> Self {
        self.with_defect(Defect::UntrustedKey)
    }

    /// Broken: one bit of the signature flipped.
    ///
    /// ```
    /// # use mcp_auth::testing::SigningKey;
    /// let key = SigningKey::ed_dsa();
    /// assert!(!key.verify_jws(&key.token().tamper_signature().sign()));
    /// ```
    pub fn tamper_signature(self) -> Self {
        self.with_defect(Defect::TamperSignature)
    }

    /// Broken: the payload is changed after signing (a `"tampered": true` claim and the
    /// `scope` widened by `admin`), the signature kept.
    ///
    /// ```
    /// # use mcp_auth::testing::{SigningKey, decode_unverified};
    /// let key = SigningKey::es256();
    /// let t = key.token().scopes(["mcp:read"]).tamper_payload().sign();
    /// let claims = decode_unverified(&t).unwrap().1;
    /// assert_eq!(claims["scope"], "mcp:read admin");
    /// assert!(!key.verify_jws(&t));
    /// ```
    pub fn tamper_payload(self) -> Self {
        self.with_defect(Defect::TamperPayload)
    }

    /// The key this builder signs with.
    ///
    /// ```
    /// # use mcp_auth::testing::SigningKey;
    /// let key = SigningKey::es256();
    /// assert_eq!(key.token().signing_key().kid(), key.kid());
    /// ```
    #[must_use]
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Signs the token and returns it in compact serialisation (`header.payload.signature`).
    ///
    /// # Panics
    ///
    /// If the system's random generator fails.
    ///
    /// ```
    /// # use mcp_auth::testing::SigningKey;
    /// let key = SigningKey::es256();
    /// let token = key.token().subject("alice").sign();
    /// assert!(key.verify_jws(&token));
    /// ```
    #[must_use]
    pub fn sign(&self) -> String {
        let header = self.header_json();
        let claims = self.claims_json();
        let input = format!(
            "{}.{}",
            b64url(Value::Object(header).to_string().as_bytes()),
            b64url(Value::Object(claims.clone()).to_string().as_bytes())
        );
        let signature = match self.defect {
            Some(Defect::AlgNone) => Vec::new(),
            Some(Defect::Hs256WithPublicKey) => {
                let secret = self.key.public_key_pem();
                let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
                hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
            }
            Some(Defect::UntrustedKey) => {
                SigningKey::generate(self.key.algorithm()).sign(input.as_bytes())
            }
            Some(Defect::TamperSignature) => {
                let mut sig = self.key.sign(input.as_bytes());
                if let Some(first) = sig.first_mut() {
                    *first ^= 0x01;
                }
                sig
            }
            Some(Defect::TamperPayload) | None => self.key.sign(input.as_bytes()),
        };
        let input = match self.defect {
            Some(Defect::TamperPayload) => {
                let mut claims = claims;
                let scope = match claims.get("scope").and_then(Value::as_str) {
                    Some(scope) if !scope.is_empty() => format!("{scope} admin"),
                    _ => "admin".to_owned(),
                };
                claims.insert("scope".to_owned(), Value::from(scope));
                claims.insert("tampered".to_owned(), Value::Bool(true));
                let (header, _) = input.split_once('.').unwrap_or_default();
                format!(
                    "{header}.{}",
                    b64url(Value::Object(claims).to_string().as_bytes())
                )
            }
            _ => input,
        };
        format!("{input}.{}", b64url(&signature))
    }

    /// The one deliberate defect of the token; the last one set wins.
    fn with_defect(mut self, defect: Defect) -> Self {
        self.defect = Some(defect);
        self
    }

    fn header_json(&self) -> Map<String, Value> {
        let alg = match self.defect {
            Some(Defect::AlgNone) => "none",
            Some(Defect::Hs256WithPublicKey) => "HS256",
            _ => self.key.algorithm().as_str(),
        };
        let mut header = Map::new();
        header.insert("alg".to_owned(), Value::from(alg));
        if let Some(typ) = &self.typ {
            header.insert("typ".to_owned(), Value::from(typ.as_str()));
        }
        if let Some(kid) = &self.kid {
            header.insert("kid".to_owned(), Value::from(kid.as_str()));
        }
        for (name, value) in &self.extra_header {
            header.insert(name.clone(), value.clone());
        }
        header
    }

    pub(super) fn claims_json(&self) -> Map<String, Value> {
        let iat = self.issued_at.unwrap_or_else(SystemTime::now);
        let mut claims = Map::new();
        claims.insert("iat".to_owned(), Value::from(unix(iat)));
        match self.expiry {
            Expiry::At(at) => {
                claims.insert("exp".to_owned(), Value::from(unix(at)));
            }
            Expiry::In(lifetime) => {
                claims.insert("exp".to_owned(), Value::from(unix(iat + lifetime)));
            }
            Expiry::Never => {}
        }
        if let Some(nbf) = self.not_before {
            claims.insert("nbf".to_owned(), Value::from(unix(nbf)));
        }
        claims.insert("jti".to_owned(), Value::from(random_id(16)));
        for (name, value) in &self.claims {
            if value.is_null() {
                claims.remove(name);
            } else {
                claims.insert(name.clone(), value.clone());
            }
        }
        claims
    }
}

impl SigningKey {
    /// Starts a [`TokenBuilder`] that signs with this key.
    ///
    /// ```
    /// use mcp_auth::testing::SigningKey;
    ///
    /// let key = SigningKey::es256();
    /// let token = key.token().issuer("https://as.example").subject("alice").sign();
    /// assert!(key.verify_jws(&token));
    /// ```
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::new(self.clone())
    }
}

/// Decodes a compact JWS's header and claims **without verifying anything**, for assertions
/// in tests. Returns `None` when `token` is not three dot-separated parts whose first two are
/// base64url JSON objects.
///
/// ```
/// use mcp_auth::testing::{SigningKey, decode_unverified};
///
/// let token = SigningKey::es256().token().subject("alice").sign();
/// let (header, claims) = decode_unverified(&token).unwrap();
/// assert_eq!(header["alg"], "ES256");
/// assert_eq!(claims["sub"], "alice");
/// assert!(decode_unverified("a.b").is_none());
/// ```
#[must_use]
pub fn decode_unverified(token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some((
        Value::Object(decode_json(header)?),
        Value::Object(decode_json(claims)?),
    ))
}

#[cfg(test)]
mod tests;
