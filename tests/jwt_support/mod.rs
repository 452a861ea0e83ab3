//! Shared helpers for the JWT tests: keys generated at test time, a raw JWS signer (so tests
//! can build any header or payload, including malformed ones, and sign with key types
//! `testing::SigningKey` does not have), and a [`DevIssuer`] publishing those keys.

#![allow(dead_code, unreachable_pub, clippy::needless_pass_by_value)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair, KeyPair},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use mcp_auth::testing::{DevIssuer, SigningKey};
use serde_json::{Value, json};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A signing key generated for the test: the crate's [`SigningKey`] where it has the
/// algorithm, raw keys for ES384 and HMAC.
pub enum TestKey {
    Signing(SigningKey),
    Es384(EcdsaKeyPair),
    Hmac(Vec<u8>),
}

impl TestKey {
    pub fn rsa() -> Self {
        Self::Signing(SigningKey::rs256())
    }

    pub fn es256() -> Self {
        Self::Signing(SigningKey::es256())
    }

    pub fn es384() -> Self {
        Self::Es384(
            EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
                .expect("p384 keygen"),
        )
    }

    pub fn ed25519() -> Self {
        Self::Signing(SigningKey::ed_dsa())
    }

    pub fn hmac(secret: &[u8]) -> Self {
        Self::Hmac(secret.to_vec())
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Self::Signing(key) => key.algorithm().as_str(),
            Self::Es384(_) => "ES384",
            Self::Hmac(_) => "HS256",
        }
    }

    /// The public JWK (key members only: no `alg` or `use`), with `kid` when given.
    pub fn jwk(&self, kid: Option<&str>) -> Value {
        let mut jwk = match self {
            Self::Signing(key) => {
                let mut jwk = key.public_jwk();
                let members = jwk.as_object_mut().expect("object");
                for name in ["kid", "alg", "use"] {
                    members.remove(name);
                }
                jwk
            }
            Self::Es384(key) => {
                let point = key.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                json!({"kty": "EC", "crv": "P-384", "x": b64(&point[1..=len]), "y": b64(&point[1 + len..])})
            }
            Self::Hmac(secret) => json!({"kty": "oct", "k": b64(secret)}),
        };
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    /// The public key as SPKI PEM.
    pub fn pem(&self) -> String {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        let der = match self {
            Self::Signing(key) => return key.public_key_pem(),
            Self::Es384(key) => AsDer::<PublicKeyX509Der<'_>>::as_der(key.public_key())
                .expect("der")
                .as_ref()
                .to_vec(),
            Self::Hmac(_) => panic!("no PEM for a secret"),
        };
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// Raw signature over `message`.
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Signing(key) => key.sign(message),
            Self::Es384(key) => key
                .sign(&SystemRandom::new(), message)
                .expect("ec sign")
                .as_ref()
                .to_vec(),
            Self::Hmac(secret) => hmac(secret, message),
        }
    }

    /// A compact JWS of exactly these header and payload texts.
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let sig = self.sign_bytes(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A compact JWS with the key's `alg`, the given `kid` and `typ: at+jwt`.
    pub fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({"alg": self.alg(), "typ": "at+jwt"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        self.sign_with_header(&header, claims)
    }

    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(&header.to_string(), &claims.to_string())
    }
}

pub fn hmac(secret: &[u8], message: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
}

/// Good claims for `issuer`, for the resource `audience`, valid for five minutes.
pub fn claims(issuer: &str, audience: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "sub": "alice",
        "aud": audience,
        "client_id": "client-1",
        "scope": "mcp:read mcp:write",
        "iat": now,
        "exp": now + 300,
        "jti": "token-1",
    })
}

/// A [`DevIssuer`] (with `issuer_path`, `""` for none) whose `/jwks` serves `keys` and no
/// `Cache-Control`, so that a verifier's own refresh intervals apply.
pub async fn issuer_at(issuer_path: &str, keys: Vec<Value>) -> DevIssuer {
    let issuer = DevIssuer::builder()
        .issuer_path(issuer_path)
        .start()
        .await
        .expect("dev issuer starts");
    issuer.set_jwks_cache_control(None);
    publish(&issuer, keys);
    issuer
}

/// [`issuer_at`] without an issuer path.
pub async fn issuer_with(keys: Vec<Value>) -> DevIssuer {
    issuer_at("", keys).await
}

/// Makes `issuer`'s `/jwks` serve exactly `keys`.
pub fn publish(issuer: &DevIssuer, keys: Vec<Value>) {
    issuer.set_jwks_document(Some(json!({ "keys": keys })));
}
