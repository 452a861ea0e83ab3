//! Unit tests of key parsing, key selection and signature checks.

use serde_json::json;

use super::*;
use crate::verifier::{JwtVerifier, jwt::TrustedIssuer};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_n(bits: usize) -> String {
    let mut n = vec![0xff_u8; bits / 8];
    n[0] = 0xc1;
    b64(&n)
}

fn ec(kid: &str) -> Value {
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&[1; 32]), "y": b64(&[2; 32])})
}

#[test]
fn unusable_keys_are_skipped_not_fatal() {
    let rsa = |extra: Value| {
        let mut key = json!({"kty": "RSA", "kid": "r", "n": rsa_n(2048), "e": "AQAB"});
        if let (Some(key), Some(extra)) = (key.as_object_mut(), extra.as_object()) {
            key.extend(extra.clone());
        }
        key
    };
    let cases = [
        ("good rsa", rsa(json!({})), true),
        ("good rsa with alg", rsa(json!({"alg": "PS256"})), true),
        ("encryption key", rsa(json!({"use": "enc"})), false),
        (
            "key_ops without verify",
            rsa(json!({"key_ops": ["encrypt"]})),
            false,
        ),
        ("private rsa", rsa(json!({"d": "AQAB"})), false),
        ("small rsa", rsa(json!({"n": rsa_n(1024)})), false),
        ("even exponent", rsa(json!({"e": "Ag"})), false),
        ("alg of another family", rsa(json!({"alg": "ES256"})), false),
        ("unknown alg", rsa(json!({"alg": "RSA-OAEP"})), false),
        ("padded base64", rsa(json!({"e": "AQAB="})), false),
        ("kid of wrong type", rsa(json!({"kid": 7})), false),
        ("symmetric", json!({"kty": "oct", "k": "c2VjcmV0"}), false),
        (
            "post-quantum",
            json!({"kty": "AKP", "alg": "ML-DSA-44", "pub": "AAAA"}),
            false,
        ),
        (
            "secp256k1",
            json!({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}),
            false,
        ),
        (
            "short ec",
            json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 31]), "y": b64(&[1; 32])}),
            false,
        ),
        ("good ec", ec("e"), true),
        (
            "ed448",
            json!({"kty": "OKP", "crv": "Ed448", "x": b64(&[1; 57])}),
            false,
        ),
        (
            "good ed25519",
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[1; 32])}),
            true,
        ),
        ("not an object", json!("key"), false),
    ];
    for (name, jwk, usable) in cases {
        let set = KeySet::from_jwks(&json!({ "keys": [jwk] })).expect("set parses");
        assert_eq!(set.len() == 1, usable, "{name}: {:?}", set.skipped());
        assert_eq!(set.skipped().len() == 1, !usable, "{name}");
    }
    assert!(KeySet::from_jwks(&json!({"kids": []})).is_err());
}

#[test]
fn selection_is_never_first_wins() {
    let set = KeySet::from_jwks(&json!({"keys": [ec("a"), ec("b"), ec("b")]})).expect("set parses");
    assert_eq!(set.select(Some("a"), Algorithm::Es256), Selection::Found(0));
    assert_eq!(
        set.select(Some("b"), Algorithm::Es256),
        Selection::Ambiguous
    );
    assert_eq!(set.select(Some("c"), Algorithm::Es256), Selection::Unknown);
    assert_eq!(set.select(Some("a"), Algorithm::Rs256), Selection::Mismatch);
    assert_eq!(set.select(None, Algorithm::Es256), Selection::Ambiguous);

    let one = KeySet::from_jwks(&json!({"keys": [ec("a")]})).expect("set parses");
    assert_eq!(one.select(None, Algorithm::Es256), Selection::Found(0));
    assert_eq!(one.select(None, Algorithm::Es384), Selection::Unknown);

    let mut anonymous = ec("x");
    if let Some(key) = anonymous.as_object_mut() {
        key.remove("kid");
    }
    let wildcard = KeySet::from_jwks(&json!({"keys": [anonymous]})).expect("set parses");
    assert_eq!(
        wildcard.select(Some("any"), Algorithm::Es256),
        Selection::Found(0)
    );
}

#[test]
fn rfc_7638_thumbprint() {
    // The example key of RFC 7638 §3.1 and its thumbprint.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    let jwk = jwk.as_object().expect("object");
    assert_eq!(
        thumbprint(jwk).expect("thumbprint"),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    assert!(thumbprint(json!({"kty": "oct", "k": "a"}).as_object().expect("object")).is_err());
}

#[test]
fn rsa_der_is_split() {
    // SEQUENCE { INTEGER 0x00c1.., INTEGER 65537 } with a long-form length.
    let mut n = vec![0x00, 0xc1];
    n.extend(std::iter::repeat_n(0xff, 255));
    let mut der = vec![0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01];
    der.extend_from_slice(&n);
    der.extend_from_slice(&[0x02, 0x03, 0x01, 0x00, 0x01]);
    let (got_n, got_e) = rsa_public_key_der(&der).expect("splits");
    assert_eq!(got_n, n.as_slice());
    assert_eq!(got_e, [1, 0, 1]);
    assert!(rsa_decoding_key(got_n, got_e).is_ok());
    assert!(rsa_public_key_der(&der[..20]).is_none());
}

#[test]
fn crypto_backend_is_present_or_reported() {
    let built = JwtVerifier::builder()
        .issuer(TrustedIssuer::shared_secret(
            "https://as.example.com",
            [7; 32],
        ))
        .build();
    #[cfg(any(feature = "jwt-aws-lc-rs", feature = "jwt-rust-crypto"))]
    {
        let verifier = built.expect("builds with a backend");
        // A real signature check (through jsonwebtoken with the RustCrypto backend alone):
        // would panic without a provider.
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
        let input = format!("{header}.e30");
        let mac = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[7; 32]),
            input.as_bytes(),
        );
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.as_ref());
        let set = KeySet::single(KeyFamily::Hmac, DecodingKey::from_secret(&[7; 32]));
        let key = set.key_at(0);
        assert!(verify_signature(Algorithm::Hs256, key, input.as_bytes(), &sig).is_ok());
        assert!(verify_signature(Algorithm::Hs256, key, input.as_bytes(), "AAAA").is_err());
        drop(verifier);
    }
    #[cfg(not(any(feature = "jwt-aws-lc-rs", feature = "jwt-rust-crypto")))]
    assert_eq!(built.unwrap_err(), ConfigError::MissingCryptoBackend);
}

#[cfg(any(feature = "jwt-aws-lc-rs", feature = "jwt-rust-crypto"))]
#[test]
fn shared_secrets_verify_each_hmac_and_no_key_crosses_families() {
    use aws_lc_rs::{
        hmac,
        rand::SystemRandom,
        signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
    };
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let input = b"header.claims";
    let secret = [9_u8; 64];
    let set = KeySet::single(KeyFamily::Hmac, DecodingKey::from_secret(&secret));
    let key = set.key_at(0);
    for (alg, mac) in [
        (Algorithm::Hs256, hmac::HMAC_SHA256),
        (Algorithm::Hs384, hmac::HMAC_SHA384),
        (Algorithm::Hs512, hmac::HMAC_SHA512),
    ] {
        let tag = hmac::sign(&hmac::Key::new(mac, &secret), input);
        let sig = b64(tag.as_ref());
        // Twice: the second check uses the key kept from the first.
        for _ in 0..2 {
            assert!(verify_signature(alg, key, input, &sig).is_ok(), "{alg:?}");
        }
        assert!(verify_signature(alg, key, b"header.other", &sig).is_err());
        let mut short = tag.as_ref().to_vec();
        short.pop();
        assert!(verify_signature(alg, key, input, &b64(&short)).is_err());
        assert!(verify_signature(Algorithm::Rs256, key, input, &sig).is_err());
    }
    // An HS256 "signature" made with a public key's bytes as the secret: refused, whatever
    // the backend would make of those bytes.
    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("generates");
    let point = ec.public_key().as_ref();
    let set = KeySet::single(KeyFamily::EcP256, DecodingKey::from_ec_der(point));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, point), input);
    assert!(verify_signature(Algorithm::Hs256, set.key_at(0), input, &b64(tag.as_ref())).is_err());
    let sig = ec.sign(&SystemRandom::new(), input).expect("signs");
    assert!(verify_signature(Algorithm::Es256, set.key_at(0), input, &b64(sig.as_ref())).is_ok());
}
