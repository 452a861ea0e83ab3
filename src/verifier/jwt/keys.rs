//! Verification keys: JWK and PEM parsing, key selection for a token, and the signature
//! check.
//!
//! Keys are parsed one by one, so a key this crate cannot use (an encryption key, a symmetric
//! key, a private key, a small RSA key, an unknown key type such as a post-quantum one, or bad
//! material) is skipped with a warning instead of failing the whole set. Each usable key is
//! turned into a `DecodingKey` once, when the set is loaded; with the aws-lc-rs backend it is
//! also parsed into an aws-lc-rs key (a public key, or an HMAC key for a shared secret) on its
//! first use with each algorithm and kept, so that no signature check rebuilds the key (for
//! RSA, its Montgomery context).

use std::fmt;

use base64::Engine as _;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};
use sha2::Digest as _;

use super::algorithm::Algorithm;
use crate::{ConfigError, verifier::VerifyError};

/// The smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits (aws-lc-rs verifies up to 8192).
const MAX_RSA_BITS: usize = 8192;

/// What kind of key a [`Key`] is, which fixes the algorithms it can verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    EcP256,
    EcP384,
    Ed25519,
    Hmac,
    Rsa,
}

impl KeyFamily {
    fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        matches!(
            (self, alg),
            (Self::EcP256, Es256 | Esp256)
                | (Self::EcP384, Es384 | Esp384)
                | (Self::Ed25519, EdDsa | Ed25519)
                | (Self::Hmac, Hs256 | Hs384 | Hs512)
                | (Self::Rsa, Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512)
        )
    }
}

/// One usable verification key.
pub(crate) struct Key {
    kid: Option<String>,
    family: KeyFamily,
    alg: Option<Algorithm>,
    decoding: DecodingKey,
    #[cfg(feature = "jwt-aws-lc-rs")]
    parsed: parsed::ParsedKeys,
}

impl Key {
    fn new(
        kid: Option<String>,
        family: KeyFamily,
        alg: Option<Algorithm>,
        decoding: DecodingKey,
    ) -> Self {
        Self {
            kid,
            family,
            alg,
            decoding,
            #[cfg(feature = "jwt-aws-lc-rs")]
            parsed: parsed::ParsedKeys::default(),
        }
    }

    /// Whether this key can verify a signature made with `alg`.
    pub(crate) fn fits(&self, alg: Algorithm) -> bool {
        self.family.fits(alg)
            && self
                .alg
                .is_none_or(|own| own.fully_specified() == alg.fully_specified())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The outcome of looking a key up for a token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Selection {
    /// Exactly one key fits.
    Found(usize),
    /// Several keys fit (duplicate `kid`, or no `kid` and several candidates).
    Ambiguous,
    /// A key has the token's `kid` but cannot verify the token's `alg`.
    Mismatch,
    /// No key fits: the set may be out of date.
    Unknown,
}

/// A set of usable keys.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
    skipped: Vec<String>,
}

impl KeySet {
    /// Parses a JWK set document (`{"keys": [...]}`), skipping the keys that cannot be used.
    pub(crate) fn from_jwks(document: &Value) -> Result<Self, &'static str> {
        let keys = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("JWK set has no \"keys\" array")?;
        let mut set = Self::default();
        for (index, jwk) in keys.iter().enumerate() {
            match parse_jwk(jwk) {
                Ok(key) => set.keys.push(key),
                Err(reason) => {
                    let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or("");
                    log_warn!(index, kid, reason, "skipping unusable JWK");
                    set.skipped
                        .push(format!("key {index} (kid {kid:?}): {reason}"));
                }
            }
        }
        Ok(set)
    }

    /// A set holding one key without a `kid`.
    pub(crate) fn single(family: KeyFamily, decoding: DecodingKey) -> Self {
        Self {
            keys: vec![Key::new(None, family, None, decoding)],
            skipped: Vec::new(),
        }
    }

    /// The number of usable keys.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Why keys were skipped, one line per key.
    pub(crate) fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The key at `index` (from [`select`](Self::select)).
    pub(crate) fn key_at(&self, index: usize) -> &Key {
        &self.keys[index]
    }

    /// Picks the key for a token with this `kid` and `alg`.
    ///
    /// A key with the token's `kid` is used when exactly one such key fits the algorithm. Keys
    /// without a `kid` are candidates when no key carries the token's `kid` (or the token has
    /// none). Two or more candidates are ambiguous: no "first wins".
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection {
        if let Some(kid) = kid {
            let mut named = self
                .keys
                .iter()
                .enumerate()
                .filter(|(_, key)| key.kid.as_deref() == Some(kid))
                .peekable();
            if named.peek().is_some() {
                let mut fitting = named.filter(|(_, key)| key.fits(alg)).map(|(i, _)| i);
                return match (fitting.next(), fitting.next()) {
                    (None, _) => Selection::Mismatch,
                    (Some(one), None) => Selection::Found(one),
                    (Some(_), Some(_)) => Selection::Ambiguous,
                };
            }
        }
        let mut anonymous = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, key)| key.kid.is_none() || kid.is_none())
            .filter(|(_, key)| key.fits(alg))
            .map(|(i, _)| i);
        match (anonymous.next(), anonymous.next()) {
            (None, _) => Selection::Unknown,
            (Some(one), None) => Selection::Found(one),
            (Some(_), Some(_)) => Selection::Ambiguous,
        }
    }
}

/// Parses one JWK into a usable verification key, or says why it is not usable.
pub(crate) fn parse_jwk(jwk: &Value) -> Result<Key, &'static str> {
    let jwk = jwk.as_object().ok_or("not a JSON object")?;
    let kty = str_member(jwk, "kty")?.ok_or("missing \"kty\"")?;
    if str_member(jwk, "use")?.is_some_and(|usage| usage != "sig") {
        return Err("\"use\" is not \"sig\"");
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops.as_array().ok_or("\"key_ops\" is not an array")?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err("\"key_ops\" does not allow \"verify\"");
        }
    }
    let kid = str_member(jwk, "kid")?.map(str::to_owned);
    let alg = match str_member(jwk, "alg")? {
        Some(alg) => Some(Algorithm::from_name(alg).ok_or("unsupported \"alg\"")?),
        None => None,
    };
    let (family, decoding) = match kty {
        "RSA" => {
            reject_private(jwk, &["d", "p", "q", "dp", "dq", "qi", "oth"])?;
            let n = b64_member(jwk, "n")?;
            let e = b64_member(jwk, "e")?;
            (KeyFamily::Rsa, rsa_decoding_key(&n, &e)?)
        }
        "EC" => {
            reject_private(jwk, &["d"])?;
            let (family, len) = match str_member(jwk, "crv")? {
                Some("P-256") => (KeyFamily::EcP256, 32),
                Some("P-384") => (KeyFamily::EcP384, 48),
                _ => return Err("unsupported or missing EC \"crv\""),
            };
            let x = b64_member(jwk, "x")?;
            let y = b64_member(jwk, "y")?;
            if x.len() != len || y.len() != len {
                return Err("EC coordinates have the wrong length");
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (family, DecodingKey::from_ec_der(&point))
        }
        "OKP" => {
            reject_private(jwk, &["d"])?;
            if str_member(jwk, "crv")? != Some("Ed25519") {
                return Err("unsupported or missing OKP \"crv\"");
            }
            let x = b64_member(jwk, "x")?;
            if x.len() != 32 {
                return Err("Ed25519 key has the wrong length");
            }
            (KeyFamily::Ed25519, DecodingKey::from_ed_der(&x))
        }
        "oct" => return Err("symmetric keys are never taken from a JWK set"),
        _ => return Err("unsupported \"kty\""),
    };
    if alg.is_some_and(|alg| !family.fits(alg)) {
        return Err("\"alg\" does not match the key type");
    }
    Ok(Key::new(kid, family, alg, decoding))
}

/// The RFC 7638 thumbprint of a public JWK: the base64url SHA-256 of its required members,
/// in lexicographic order, as JSON without white space.
pub(crate) fn thumbprint(jwk: &Map<String, Value>) -> Result<String, &'static str> {
    let kty = str_member(jwk, "kty")?.ok_or("missing \"kty\"")?;
    let members: &[&str] = match kty {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "RSA" => &["e", "kty", "n"],
        _ => return Err("unsupported \"kty\""),
    };
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = str_member(jwk, name)?.ok_or("missing key material")?;
        if i > 0 {
            canonical.push(',');
        }
        // Names and base64url values need no escaping, but serialise them to be sure.
        canonical.push_str(&Value::from(*name).to_string());
        canonical.push(':');
        canonical.push_str(&Value::from(value).to_string());
    }
    canonical.push('}');
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(canonical.as_bytes())))
}

fn str_member<'a>(
    jwk: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, &'static str> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err("a member has the wrong JSON type"),
    }
}

fn b64_member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, &'static str> {
    let value = str_member(jwk, name)?.ok_or("missing key material")?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| "key material is not canonical base64url")
}

fn reject_private(jwk: &Map<String, Value>, members: &[&str]) -> Result<(), &'static str> {
    if members.iter().any(|m| jwk.contains_key(*m)) {
        return Err("private key members present");
    }
    Ok(())
}

/// Checks an RSA public key's size and exponent, and builds its decoding key from the
/// big-endian components without leading zeros (which some backends refuse).
pub(crate) fn rsa_decoding_key(n: &[u8], e: &[u8]) -> Result<DecodingKey, &'static str> {
    let n = strip_leading_zeros(n);
    let bits = match n.first() {
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    };
    if bits < MIN_RSA_BITS {
        return Err("RSA key is smaller than 2048 bits");
    }
    if bits > MAX_RSA_BITS {
        return Err("RSA key is larger than 8192 bits");
    }
    let e = strip_leading_zeros(e);
    let odd = e.last().is_some_and(|last| last & 1 == 1);
    if !odd || e.len() > 8 || e == [1] {
        return Err("RSA exponent is not usable");
    }
    Ok(DecodingKey::from_rsa_raw_components(n, e))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Reads a PEM public key: RSA (PKCS#1 or SPKI), P-256/P-384 or Ed25519 (SPKI).
pub(crate) fn pem_key(pem: &[u8]) -> Result<(KeyFamily, DecodingKey), &'static str> {
    use DecodingKey;
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        let der = key.try_get_as_bytes().map_err(|_| "unreadable RSA key")?;
        let (n, e) = rsa_public_key_der(der).ok_or("unreadable RSA key")?;
        return Ok((KeyFamily::Rsa, rsa_decoding_key(n, e)?));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        let point = key.try_get_as_bytes().map_err(|_| "unreadable EC key")?;
        let family = match (point.len(), point.first()) {
            (65, Some(4)) => KeyFamily::EcP256,
            (97, Some(4)) => KeyFamily::EcP384,
            _ => return Err("unsupported EC key (P-256 and P-384 only)"),
        };
        return Ok((family, key));
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        if key.try_get_as_bytes().map(<[u8]>::len) != Ok(32) {
            return Err("unsupported EdDSA key (Ed25519 only)");
        }
        return Ok((KeyFamily::Ed25519, key));
    }
    Err("not a PEM public key (RSA, P-256, P-384 or Ed25519)")
}

/// Splits a DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key_der(der: &[u8]) -> Option<(&[u8], &[u8])> {
    fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&first, rest) = input.split_first()?;
        if first != tag {
            return None;
        }
        let (&len0, rest) = rest.split_first()?;
        let (len, rest) = if len0 < 0x80 {
            (usize::from(len0), rest)
        } else {
            let count = usize::from(len0 & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, rest) = rest.split_at(count);
            (
                bytes
                    .iter()
                    .fold(0_usize, |acc, b| (acc << 8) | usize::from(*b)),
                rest,
            )
        };
        (rest.len() >= len).then(|| rest.split_at(len))
    }
    let (body, _) = tlv(der, 0x30)?;
    let (n, rest) = tlv(body, 0x02)?;
    let (e, _) = tlv(rest, 0x02)?;
    Some((n, e))
}

/// Checks `signature` (base64url, as in the token) over `message` with `key`, which must
/// [fit](Key::fits) `alg`.
pub(crate) fn verify_signature(
    alg: Algorithm,
    key: &Key,
    message: &[u8],
    signature: &str,
) -> Result<(), VerifyError> {
    let invalid = || VerifyError::invalid_token("token signature is invalid");
    // Callers pick a key that fits; checked here too, so that no key is ever used with an
    // algorithm of another family (an HMAC key made of a public key's bytes, say).
    if !key.fits(alg) {
        return Err(invalid());
    }
    #[cfg(feature = "jwt-aws-lc-rs")]
    if let Some(verified) = parsed::verify(key, alg, message, signature) {
        return verified.map_err(|()| invalid());
    }
    match jsonwebtoken::crypto::verify(signature, message, &key.decoding, alg.to_jsonwebtoken()) {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(invalid()),
    }
}

/// Public keys parsed once for aws-lc-rs.
///
/// jsonwebtoken keeps a key's components and hands them to the backend on every check,
/// which parses them again (for RSA, a new Montgomery context each time: most of the cost of
/// a verification). Here each key keeps one parsed key per algorithm, built on first use.
#[cfg(feature = "jwt-aws-lc-rs")]
mod parsed {
    use std::sync::OnceLock;

    use aws_lc_rs::{
        hmac,
        signature::{self, ParsedPublicKey, RsaParameters, VerificationAlgorithm},
    };
    use base64::Engine as _;
    use jsonwebtoken::DecodingKeyKind;

    use super::{Algorithm, Key};

    /// The longest signature accepted: RSA-8192.
    const MAX_SIGNATURE: usize = 1024;

    /// One slot per algorithm a key family can verify (RSA has six, a shared secret three);
    /// `None` in a slot when aws-lc-rs refused the key for that algorithm.
    #[derive(Default)]
    pub(super) struct ParsedKeys([OnceLock<Option<Parsed>>; 6]);

    enum Parsed {
        Public(ParsedPublicKey),
        /// Boxed: an aws-lc-rs HMAC key holds its precomputed state (over 1 KiB).
        Hmac(Box<hmac::Key>),
    }

    enum Params {
        Rsa(&'static RsaParameters),
        Other(&'static dyn VerificationAlgorithm),
        Hmac(hmac::Algorithm),
    }

    /// The slot and aws-lc-rs algorithm for `alg`.
    fn params(alg: Algorithm) -> Option<(usize, Params)> {
        use Algorithm::*;
        Some(match alg {
            Rs256 => (0, Params::Rsa(&signature::RSA_PKCS1_2048_8192_SHA256)),
            Rs384 => (1, Params::Rsa(&signature::RSA_PKCS1_2048_8192_SHA384)),
            Rs512 => (2, Params::Rsa(&signature::RSA_PKCS1_2048_8192_SHA512)),
            Ps256 => (3, Params::Rsa(&signature::RSA_PSS_2048_8192_SHA256)),
            Ps384 => (4, Params::Rsa(&signature::RSA_PSS_2048_8192_SHA384)),
            Ps512 => (5, Params::Rsa(&signature::RSA_PSS_2048_8192_SHA512)),
            Es256 | Esp256 => (0, Params::Other(&signature::ECDSA_P256_SHA256_FIXED)),
            Es384 | Esp384 => (0, Params::Other(&signature::ECDSA_P384_SHA384_FIXED)),
            EdDsa | Ed25519 => (0, Params::Other(&signature::ED25519)),
            Hs256 => (0, Params::Hmac(hmac::HMAC_SHA256)),
            Hs384 => (1, Params::Hmac(hmac::HMAC_SHA384)),
            Hs512 => (2, Params::Hmac(hmac::HMAC_SHA512)),
        })
    }

    fn parse(decoding: &jsonwebtoken::DecodingKey, params: Params) -> Option<Parsed> {
        match (decoding.kind(), params) {
            (DecodingKeyKind::RsaModulusExponent { n, e }, Params::Rsa(params)) => {
                signature::RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(params)
                    .ok()
                    .map(Parsed::Public)
            }
            (DecodingKeyKind::SecretOrDer(bytes), Params::Other(params)) => {
                ParsedPublicKey::new(params, bytes).ok().map(Parsed::Public)
            }
            (DecodingKeyKind::SecretOrDer(secret), Params::Hmac(algorithm)) => {
                Some(Parsed::Hmac(Box::new(hmac::Key::new(algorithm, secret))))
            }
            _ => None,
        }
    }

    /// `Some(result)` when aws-lc-rs checked the signature with a parsed key; `None` to leave
    /// the check to jsonwebtoken.
    pub(super) fn verify(
        key: &Key,
        alg: Algorithm,
        message: &[u8],
        signature: &str,
    ) -> Option<Result<(), ()>> {
        let (slot, params) = params(alg)?;
        let parsed = key.parsed.0[slot]
            .get_or_init(|| parse(&key.decoding, params))
            .as_ref()?;
        let mut bytes = [0_u8; MAX_SIGNATURE];
        let Ok(len) =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode_slice(signature, &mut bytes)
        else {
            return Some(Err(()));
        };
        let signature = &bytes[..len];
        Some(match parsed {
            Parsed::Public(key) => key.verify_sig(message, signature).map_err(|_| ()),
            // Compared in constant time.
            Parsed::Hmac(key) => hmac::verify(key, message, signature).map_err(|_| ()),
        })
    }
}

/// Makes sure jsonwebtoken has a crypto provider, so that no verification can hit its
/// "no provider" panic. With both backends enabled (`--all-features`) jsonwebtoken would not
/// pick one by itself; aws-lc-rs wins. A provider the application installed first is kept.
pub(crate) fn ensure_crypto_backend() -> Result<(), ConfigError> {
    #[cfg(feature = "jwt-aws-lc-rs")]
    {
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        );
        Ok(())
    }
    #[cfg(all(feature = "jwt-rust-crypto", not(feature = "jwt-aws-lc-rs")))]
    {
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
        );
        Ok(())
    }
    #[cfg(not(any(feature = "jwt-aws-lc-rs", feature = "jwt-rust-crypto")))]
    {
        Err(ConfigError::MissingCryptoBackend)
    }
}

#[cfg(test)]
mod tests;

/// Google's Wycheproof vectors through the same key parsing (JWK → key set) and signature
/// check the verifier uses for every token.
#[cfg(all(test, any(feature = "jwt-aws-lc-rs", feature = "jwt-rust-crypto")))]
mod wycheproof_vectors;
