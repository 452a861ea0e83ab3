//! The JWT verify path: a token seen for the first time (full parse, key lookup, signature and
//! claim checks) against a token already verified (hash + cache lookup).
//!
//! `cargo bench --bench jwt`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::{
    rand::SystemRandom,
    rsa::KeySize,
    signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth::{
    TokenVerifier,
    verifier::{JwtVerifier, jwt::TrustedIssuer},
};
use serde_json::{Value, json};

const ISS: &str = "https://auth.example.com";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn token(alg: &str, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let header = json!({"alg": alg, "typ": "at+jwt", "kid": "k1"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// (name, JWK, token) for RS256, ES256 and EdDSA.
fn cases() -> Vec<(&'static str, Value, String)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": ISS, "sub": "alice", "aud": "https://mcp.example.com/mcp",
        "client_id": "client-1", "scope": "mcp:read mcp:write",
        "iat": now, "exp": now + 3600, "jti": "bench",
    });
    let rng = SystemRandom::new();

    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let c = RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
    let rsa_jwk = json!({"kty": "RSA", "kid": "k1", "n": b64(&c.n), "e": b64(&c.e)});
    let rsa_token = token("RS256", &claims, |m| {
        let mut sig = vec![0; rsa.public_modulus_len()];
        rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, m, &mut sig)
            .unwrap();
        sig
    });

    let ec = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = ec.public_key().as_ref();
    let ec_jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k1", "x": b64(&point[1..33]), "y": b64(&point[33..])});
    let ec_token = token("ES256", &claims, |m| {
        ec.sign(&rng, m).unwrap().as_ref().to_vec()
    });

    let ed = Ed25519KeyPair::generate().unwrap();
    let ed_jwk =
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": b64(ed.public_key().as_ref())});
    let ed_token = token("EdDSA", &claims, |m| ed.sign(m).as_ref().to_vec());

    vec![
        ("RS256", rsa_jwk, rsa_token),
        ("ES256", ec_jwk, ec_token),
        ("EdDSA", ed_jwk, ed_token),
    ]
}

fn verifier(jwk: &Value, cache: bool) -> JwtVerifier {
    JwtVerifier::builder()
        .issuer(TrustedIssuer::jwk_set(
            ISS,
            json!({"keys": [jwk]}).to_string(),
        ))
        .token_cache_capacity(if cache { 10_000 } else { 0 })
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("jwt_verify");
    for (name, jwk, token) in cases() {
        let first_sight = verifier(&jwk, false);
        assert!(rt.block_on(first_sight.verify(&token)).is_ok());
        group.bench_function(format!("{name}/first_sight"), |b| {
            b.to_async(&rt).iter(|| first_sight.verify(&token));
        });

        let cached = verifier(&jwk, true);
        assert!(rt.block_on(cached.verify(&token)).is_ok());
        group.bench_function(format!("{name}/cached"), |b| {
            b.to_async(&rt).iter(|| cached.verify(&token));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
