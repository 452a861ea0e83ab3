//! Test signing keys, generated at runtime: [`SigningKey`] and [`KeyAlgorithm`].

use std::{fmt, sync::Arc};

use aws_lc_rs::{
    digest,
    encoding::{AsDer, PublicKeyX509Der},
    rand::SystemRandom,
    rsa::KeySize,
    signature::{
        self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
        Ed25519KeyPair, KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
        UnparsedPublicKey,
    },
};
use serde_json::{Map, Value, json};

use super::encoding::{b64url, b64url_decode, decode_json};

/// The signature algorithm of a [`SigningKey`].
///
/// # Example
///
/// ```
/// use mcp_auth::testing::KeyAlgorithm;
///
/// assert_eq!(KeyAlgorithm::default(), KeyAlgorithm::Es256);
/// assert_eq!(KeyAlgorithm::Rs256.as_str(), "RS256");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// EdDSA over Ed25519 (`"EdDSA"`, JWK `kty: OKP`, `crv: Ed25519`).
    EdDsa,
    /// ECDSA over P-256 with SHA-256 (`"ES256"`, JWK `kty: EC`, `crv: P-256`).
    #[default]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and a 2048-bit modulus (`"RS256"`, JWK `kty: RSA`).
    Rs256,
}

impl KeyAlgorithm {
    /// Every algorithm, for tests that cover them all.
    #[cfg(test)]
    pub(crate) const ALL: [Self; 3] = [Self::EdDsa, Self::Es256, Self::Rs256];

    /// The JOSE name of the algorithm, as it appears in the `alg` header and in JWKs.
    ///
    /// ```
    /// use mcp_auth::testing::KeyAlgorithm;
    ///
    /// assert_eq!(KeyAlgorithm::EdDsa.as_str(), "EdDSA");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A private key that signs test tokens, with a key id (`kid`) and its public JWK.
///
/// Keys are generated at runtime from the system's random generator; nothing is read from or
/// written to disk. Cloning is cheap (the key pair sits behind an [`Arc`]). `Debug` shows the
/// key id and algorithm, never the private key.
///
/// The default key id is the RFC 7638 JWK thumbprint of the public key.
///
/// # Security
///
/// For tests and local development only: the private key lives in ordinary process memory.
///
/// # Example
///
/// ```
/// use mcp_auth::testing::{KeyAlgorithm, SigningKey};
///
/// let key = SigningKey::generate(KeyAlgorithm::Es256).with_kid("test-key");
/// let jwk = key.public_jwk();
/// assert_eq!(jwk["kid"], "test-key");
/// assert_eq!(jwk["kty"], "EC");
/// assert_eq!(jwk["alg"], "ES256");
/// assert!(jwk.get("d").is_none(), "no private parts in the public JWK");
/// assert_eq!(key.jwks()["keys"][0], jwk);
///
/// let token = key.token().subject("alice").sign();
/// assert_eq!(token.split('.').count(), 3);
/// ```
#[derive(Clone)]
pub struct SigningKey {
    kid: Arc<str>,
    inner: Arc<Inner>,
}

struct Inner {
    algorithm: KeyAlgorithm,
    pair: Pair,
    /// The public JWK members without `kid`, `alg` and `use`.
    public_members: Map<String, Value>,
    /// The X.509 SubjectPublicKeyInfo DER of the public key.
    spki_der: Vec<u8>,
    /// The bytes `UnparsedPublicKey` wants for verification.
    verify_bytes: Vec<u8>,
}

enum Pair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl SigningKey {
    /// Generates a fresh key for `algorithm`.
    ///
    /// RSA keys are 2048 bits; generating one takes a noticeable fraction of a second, so share
    /// them between tests where that matters.
    ///
    /// # Panics
    ///
    /// If the system's random generator fails.
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_auth::testing::{KeyAlgorithm, SigningKey};
    ///
    /// let key = SigningKey::generate(KeyAlgorithm::EdDsa);
    /// assert_eq!(key.algorithm(), KeyAlgorithm::EdDsa);
    /// assert_eq!(key.public_jwk()["crv"], "Ed25519");
    /// ```
    #[must_use]
    pub fn generate(algorithm: KeyAlgorithm) -> Self {
        // Key generation only fails when the system's random generator does; tests cannot
        // do anything useful without one, so this is a documented panic.
        const FAILED: &str = "key generation failed (system random generator unavailable)";
        let (pair, public_members, verify_bytes, spki_der) = match algorithm {
            KeyAlgorithm::Es256 => {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect(FAILED);
                let point = pair.public_key().as_ref().to_vec();
                // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
                let (x, y) = point[1..].split_at(32);
                let members = object(json!({
                    "crv": "P-256",
                    "kty": "EC",
                    "x": b64url(x),
                    "y": b64url(y),
                }));
                let spki = spki(pair.public_key().as_der()).expect(FAILED);
                (Pair::Ec(pair), members, point, spki)
            }
            KeyAlgorithm::EdDsa => {
                let pair = Ed25519KeyPair::generate().expect(FAILED);
                let raw = pair.public_key().as_ref().to_vec();
                let members = object(json!({
                    "crv": "Ed25519",
                    "kty": "OKP",
                    "x": b64url(&raw),
                }));
                let spki = spki(pair.public_key().as_der()).expect(FAILED);
                (Pair::Ed(pair), members, raw, spki)
            }
            KeyAlgorithm::Rs256 => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect(FAILED);
                let public = pair.public_key();
                let members = object(json!({
                    "e": b64url(public.exponent().big_endian_without_leading_zero()),
                    "kty": "RSA",
                    "n": b64url(public.modulus().big_endian_without_leading_zero()),
                }));
                // PKCS#1 RSAPublicKey DER, what `UnparsedPublicKey` takes for RSA.
                let pkcs1 = public.as_ref().to_vec();
                let spki = spki(public.as_der()).expect(FAILED);
                (Pair::Rsa(pair), members, pkcs1, spki)
            }
        };
        let kid = thumbprint(&public_members);
        Self {
            kid: kid.into(),
            inner: Arc::new(Inner {
                algorithm,
                pair,
                public_members,
                spki_der,
                verify_bytes,
            }),
        }
    }

    /// Generates an ES256 (P-256) key, the default algorithm.
    ///
    /// ```
    /// use mcp_auth::testing::{KeyAlgorithm, SigningKey};
    ///
    /// assert_eq!(SigningKey::es256().algorithm(), KeyAlgorithm::Es256);
    /// ```
    #[must_use]
    pub fn es256() -> Self {
        Self::generate(KeyAlgorithm::Es256)
    }

    /// Generates an RS256 key with a 2048-bit modulus.
    ///
    /// ```
    /// use mcp_auth::testing::SigningKey;
    ///
    /// assert_eq!(SigningKey::rs256().public_jwk()["kty"], "RSA");
    /// ```
    #[must_use]
    pub fn rs256() -> Self {
        Self::generate(KeyAlgorithm::Rs256)
    }

    /// Generates an EdDSA (Ed25519) key.
    ///
    /// ```
    /// use mcp_auth::testing::SigningKey;
    ///
    /// assert_eq!(SigningKey::ed_dsa().public_jwk()["kty"], "OKP");
    /// ```
    #[must_use]
    pub fn ed_dsa() -> Self {
        Self::generate(KeyAlgorithm::EdDsa)
    }

    /// Replaces the key id. The key pair itself is shared with `self`.
    ///
    /// Defaults to the RFC 7638 JWK thumbprint of the public key (base64url, SHA-256).
    ///
    /// ```
    /// use mcp_auth::testing::SigningKey;
    ///
    /// let key = SigningKey::es256();
    /// let renamed = key.clone().with_kid("k2");
    /// assert_eq!(renamed.kid(), "k2");
    /// assert_eq!(renamed.public_jwk()["x"], key.public_jwk()["x"]);
    /// ```
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into().into();
        self
    }

    /// The key id, sent as the `kid` header and published in the JWK.
    ///
    /// ```
    /// use mcp_auth::testing::SigningKey;
    ///
    /// let key = SigningKey::es256();
    /// assert_eq!(key.kid().len(), 43, "base64url SHA-256 thumbprint");
    /// ```
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signature algorithm.
    ///
    /// ```
    /// use mcp_auth::testing::{KeyAlgorithm, SigningKey};
    ///
    /// assert_eq!(SigningKey::es256().algorithm(), KeyAlgorithm::Es256);
    /// ```
    #[must_use]
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.inner.algorithm
    }

    /// The public key as a JWK (RFC 7517) with `kid`, `alg` and `use: "sig"`.
    ///
    /// ```
    /// use mcp_auth::testing::SigningKey;
    ///
    /// let jwk = SigningKey::rs256().with_kid("r1").public_jwk();
    /// assert_eq!(jwk["kid"], "r1");
    /// assert_eq!(jwk["e"], "AQAB");
    /// assert_eq!(jwk["use"], "sig");
    /// ```
    #[must_use]
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.inner.public_members.clone();
        jwk.insert("kid".to_owned(), Value::from(&*self.kid));
        jwk.insert("alg".to_owned(), Value::from(self.inner.algorithm.as_str()));
        jwk.insert("use".to_owned(), Value::from("sig"));
        Value::Object(jwk)
    }

    /// A JWKS document (`{"keys": [..]}`) holding only this key's public JWK.
    ///
    /// ```
    /// use mcp_auth::testing::SigningKey;
    ///
    /// let key = SigningKey::es256();
    /// assert_eq!(key.jwks()["keys"].as_array().map(Vec::len), Some(1));
    /// ```
    #[must_use]
    pub fn jwks(&self) -> Value {
        Self::jwks_of([self])
    }

    /// A JWKS document holding the public JWKs of `keys`, in order.
    ///
    /// ```
    /// use mcp_auth::testing::SigningKey;
    ///
    /// let (a, b) = (SigningKey::es256(), SigningKey::ed_dsa());
    /// let jwks = SigningKey::jwks_of([&a, &b]);
    /// assert_eq!(jwks["keys"][0]["kid"], a.kid());
    /// assert_eq!(jwks["keys"][1]["kid"], b.kid());
    /// ```
    #[must_use]
    pub fn jwks_of<'a>(keys: impl IntoIterator<Item = &'a Self>) -> Value {
        let keys: Vec<Value> = keys.into_iter().map(Self::public_jwk).collect();
        json!({ "keys": keys })
    }

    /// The public key in PEM (`-----BEGIN PUBLIC KEY-----`, X.509 SubjectPublicKeyInfo).
    ///
    /// This is also the HMAC secret of [`TokenBuilder::hs256_with_public_key`]: the classic
    /// algorithm-confusion attack.
    ///
    /// [`TokenBuilder::hs256_with_public_key`]: super::TokenBuilder::hs256_with_public_key
    ///
    /// ```
    /// use mcp_auth::testing::SigningKey;
    ///
    /// let pem = SigningKey::es256().public_key_pem();
    /// assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    /// assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
    /// ```
    #[must_use]
    pub fn public_key_pem(&self) -> String {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD.encode(&self.inner.spki_der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            // Base64 output is ASCII, so every chunk is valid UTF-8.
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// Signs `message` (a JWS signing input) and returns the raw JWS signature bytes.
    ///
    /// # Panics
    ///
    /// If the system's random generator fails (ECDSA and RSA signing draw randomness).
    ///
    /// ```
    /// use mcp_auth::testing::SigningKey;
    ///
    /// assert_eq!(SigningKey::es256().sign(b"header.payload").len(), 64);
    /// assert_eq!(SigningKey::ed_dsa().sign(b"header.payload").len(), 64);
    /// ```
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        const FAILED: &str = "signing failed (system random generator unavailable)";
        match &self.inner.pair {
            Pair::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .expect(FAILED)
                .as_ref()
                .to_vec(),
            Pair::Ed(pair) => pair.sign(message).as_ref().to_vec(),
            Pair::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
                    .expect(FAILED);
                sig
            }
        }
    }

    /// Whether `signature` is this key's valid signature over `message`.
    ///
    /// ```
    /// use mcp_auth::testing::SigningKey;
    ///
    /// let key = SigningKey::es256();
    /// let sig = key.sign(b"m");
    /// assert!(key.verify(b"m", &sig));
    /// assert!(!key.verify(b"n", &sig));
    /// ```
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self.inner.algorithm {
            KeyAlgorithm::EdDsa => &ED25519,
            KeyAlgorithm::Es256 => &ECDSA_P256_SHA256_FIXED,
            KeyAlgorithm::Rs256 => &RSA_PKCS1_2048_8192_SHA256,
        };
        UnparsedPublicKey::new(alg, &self.inner.verify_bytes)
            .verify(message, signature)
            .is_ok()
    }

    /// Whether `token` is a compact JWS whose `alg` header is this key's algorithm and whose
    /// signature this key made. Claims, `kid` and `typ` are not looked at.
    ///
    /// ```
    /// use mcp_auth::testing::SigningKey;
    ///
    /// let key = SigningKey::es256();
    /// assert!(key.verify_jws(&key.token().sign()));
    /// assert!(!key.verify_jws(&key.token().tamper_signature().sign()));
    /// assert!(!SigningKey::es256().verify_jws(&key.token().sign()));
    /// assert!(!key.verify_jws("not a token"));
    /// ```
    #[must_use]
    pub fn verify_jws(&self, token: &str) -> bool {
        let Some((input, sig)) = token.rsplit_once('.') else {
            return false;
        };
        let Some((header, _payload)) = input.split_once('.') else {
            return false;
        };
        let header = decode_json(header);
        let alg_ok = header
            .as_ref()
            .and_then(|h| h.get("alg"))
            .and_then(Value::as_str)
            == Some(self.inner.algorithm.as_str());
        let Some(sig) = b64url_decode(sig) else {
            return false;
        };
        alg_ok && self.verify(input.as_bytes(), &sig)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.inner.algorithm)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn spki(
    der: Result<PublicKeyX509Der<'static>, aws_lc_rs::error::Unspecified>,
) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
    der.map(|der| der.as_ref().to_vec())
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, no spaces.
/// `serde_json::Map` is a `BTreeMap` (no `preserve_order`), so it serialises sorted.
fn thumbprint(members: &Map<String, Value>) -> String {
    let canonical = Value::Object(members.clone()).to_string();
    b64url(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in KeyAlgorithm::ALL {
            let key = SigningKey::generate(alg);
            let sig = key.sign(b"header.payload");
            assert!(key.verify(b"header.payload", &sig), "{alg}");
            assert!(!key.verify(b"header.payloaD", &sig), "{alg}");
            let other = SigningKey::generate(alg);
            assert!(!other.verify(b"header.payload", &sig), "{alg}");
        }
    }

    #[test]
    fn public_jwk_has_exactly_the_public_members() {
        let cases = [
            (
                KeyAlgorithm::EdDsa,
                &["alg", "crv", "kid", "kty", "use", "x"][..],
            ),
            (
                KeyAlgorithm::Es256,
                &["alg", "crv", "kid", "kty", "use", "x", "y"][..],
            ),
            (
                KeyAlgorithm::Rs256,
                &["alg", "e", "kid", "kty", "n", "use"][..],
            ),
        ];
        for (alg, members) in cases {
            let jwk = SigningKey::generate(alg).public_jwk();
            let keys: Vec<&str> = jwk
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            assert_eq!(keys, members, "{alg}");
        }
    }

    #[test]
    fn ec_coordinates_are_32_bytes_and_rsa_modulus_2048_bits() {
        let jwk = SigningKey::es256().public_jwk();
        for c in ["x", "y"] {
            let bytes = b64url_decode(jwk[c].as_str().unwrap_or_default());
            assert_eq!(bytes.map(|b| b.len()), Some(32), "{c}");
        }
        let jwk = SigningKey::rs256().public_jwk();
        let n = b64url_decode(jwk["n"].as_str().unwrap_or_default());
        assert_eq!(n.map(|b| b.len()), Some(256));
    }

    #[test]
    fn kid_defaults_to_rfc7638_thumbprint() {
        // RFC 7638 §3.1 example key and its thumbprint.
        let members = object(json!({
            "e": "AQAB",
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        }));
        assert_eq!(
            thumbprint(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        let key = SigningKey::es256();
        assert_eq!(key.kid(), thumbprint(&key.inner.public_members));
    }

    #[test]
    fn debug_redacts_the_private_key() {
        let key = SigningKey::es256().with_kid("k1");
        let debug = format!("{key:?}");
        assert!(debug.contains("\"k1\""), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }

    #[test]
    fn pem_decodes_to_spki() {
        use base64::Engine as _;
        let key = SigningKey::ed_dsa();
        let pem = key.public_key_pem();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body);
        assert_eq!(der.ok().as_deref(), Some(&key.inner.spki_der[..]));
        // Ed25519 SPKI is 12 bytes of prefix plus the 32-byte key.
        assert_eq!(key.inner.spki_der.len(), 44);
    }
}
