//! DPoP proofs for tests: [`DpopProof`], good by default and broken on request.

use std::{fmt, time::SystemTime};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{
    SigningKey,
    encoding::{b64url, random_id, unix},
};
use crate::verifier::jwt::keys::thumbprint;

/// The RFC 7638 thumbprint of `key`'s public JWK: the `cnf.jkt` a token bound to it carries.
///
/// ```
/// use mcp_auth::testing::{SigningKey, key_thumbprint};
///
/// let key = SigningKey::es256();
/// assert_eq!(key_thumbprint(&key).len(), 43);
/// assert_ne!(key_thumbprint(&key), key_thumbprint(&SigningKey::es256()));
/// ```
#[must_use]
pub fn key_thumbprint(key: &SigningKey) -> String {
    match key.public_jwk() {
        Value::Object(jwk) => thumbprint(&jwk).unwrap_or_default(),
        _ => String::new(),
    }
}

/// A DPoP proof (RFC 9449 §4) being built: signed by `key`, for one request (`htm`, `htu`),
/// with a fresh `jti` and `iat` of now. Add the access token ([`access_token`]) for requests to
/// a resource server. Every other setter breaks the proof in one way, for tests of the
/// checks.
///
/// # Example
///
/// ```
/// use mcp_auth::testing::{DpopProof, SigningKey, decode_unverified};
///
/// let key = SigningKey::es256();
/// let proof = DpopProof::new(&key, "POST", "https://mcp.example.com/mcp")
///     .access_token("the-access-token")
///     .sign();
/// let (header, claims) = decode_unverified(&proof).unwrap();
/// assert_eq!(header["typ"], "dpop+jwt");
/// assert_eq!(header["jwk"]["kty"], "EC");
/// assert_eq!(claims["htm"], "POST");
/// assert_eq!(claims["htu"], "https://mcp.example.com/mcp");
/// assert!(claims["ath"].is_string());
/// ```
///
/// [`access_token`]: Self::access_token
#[must_use]
pub struct DpopProof {
    key: SigningKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    tamper: bool,
    unsigned: bool,
}

impl DpopProof {
    /// A good proof for `method` and `url`, signed by `key`.
    pub fn new(key: &SigningKey, method: &str, url: &str) -> Self {
        let mut header = Map::new();
        header.insert("typ".into(), "dpop+jwt".into());
        header.insert("alg".into(), key.algorithm().as_str().into());
        let mut jwk = key.public_jwk();
        if let Value::Object(members) = &mut jwk {
            // Only the key; `kid`/`use`/`alg` mean nothing in a proof.
            for name in ["kid", "use", "alg"] {
                members.remove(name);
            }
        }
        header.insert("jwk".into(), jwk);
        let mut claims = Map::new();
        claims.insert("jti".into(), random_id(16).into());
        claims.insert("htm".into(), method.into());
        claims.insert("htu".into(), url.into());
        claims.insert("iat".into(), unix(SystemTime::now()).into());
        Self {
            key: key.clone(),
            header,
            claims,
            tamper: false,
            unsigned: false,
        }
    }

    /// Binds the proof to `token` (`ath`, the base64url SHA-256 of the token).
    pub fn access_token(self, token: &str) -> Self {
        let ath = b64url(&Sha256::digest(token.as_bytes()));
        self.claim("ath", ath)
    }

    /// Sets the server nonce (`nonce`).
    pub fn nonce(self, nonce: &str) -> Self {
        self.claim("nonce", nonce)
    }

    /// Sets the proof id (`jti`).
    pub fn jti(self, jti: &str) -> Self {
        self.claim("jti", jti)
    }

    /// Sets when the proof was made (`iat`).
    pub fn issued_at(self, at: SystemTime) -> Self {
        self.claim("iat", unix(at))
    }

    /// Sets (or replaces) a claim.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets (or replaces) a header member (`typ`, `alg`, ...).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a header member.
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Puts a private-key member (`d`) into the `jwk`.
    pub fn private_jwk(mut self) -> Self {
        if let Some(Value::Object(jwk)) = self.header.get_mut("jwk") {
            jwk.insert("d".into(), "AAAA".into());
        }
        self
    }

    /// Replaces the `jwk` with another key's (the signature no longer matches it).
    pub fn jwk_of(self, other: &SigningKey) -> Self {
        let mut jwk = other.public_jwk();
        if let Value::Object(members) = &mut jwk {
            for name in ["kid", "use", "alg"] {
                members.remove(name);
            }
        }
        self.header("jwk", jwk)
    }

    /// Makes it an unsigned proof with `alg: none`.
    pub fn alg_none(mut self) -> Self {
        self.unsigned = true;
        self.header("alg", "none")
    }

    /// Flips a bit of the signature.
    pub fn tamper_signature(mut self) -> Self {
        self.tamper = true;
        self
    }

    /// The compact JWS.
    #[must_use]
    pub fn sign(&self) -> String {
        let header = b64url(Value::Object(self.header.clone()).to_string().as_bytes());
        let claims = b64url(Value::Object(self.claims.clone()).to_string().as_bytes());
        let input = format!("{header}.{claims}");
        if self.unsigned {
            return format!("{input}.");
        }
        let mut signature = self.key.sign(input.as_bytes());
        if self.tamper
            && let Some(first) = signature.first_mut()
        {
            *first ^= 1;
        }
        format!("{input}.{}", b64url(&signature))
    }
}

impl fmt::Debug for DpopProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopProof")
            .field("header", &self.header.keys().collect::<Vec<_>>())
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
