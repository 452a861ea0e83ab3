//! The JWT verify path: a token seen for the first time (full parse, key lookup, signature and
//! claim checks) against a token already verified (hash + cache lookup) and a token with a
//! forged signature, next to the raw signature check alone: one verification done directly with
//! aws-lc-rs, with the public key parsed once (`ParsedPublicKey`) and, for comparison, parsed on
//! every call (`UnparsedPublicKey`, what a verifier that keeps only key bytes pays). So a new
//! token costs "raw verification + k": `first_sight` minus `raw_verify/<alg>/parsed_once`.
//! `jwt_overhead` shows k itself with HS256, whose MAC is cheap: the verifier alone
//! (`first_sight`), and the layer, the verifier and a full token cache together
//! (`new_token_through_the_layer`; `new_token_seen_twice` for a token the cache keeps on its
//! second verification), next to the MAC (`mac_only`).
//!
//! `cargo bench --bench jwt`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{
    convert::Infallible,
    time::{SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::{
    rand::SystemRandom,
    rsa::KeySize,
    signature::{
        self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair,
        RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm,
    },
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use mcp_auth::{
    McpAuth, TokenVerifier,
    verifier::{JwtVerifier, jwt::TrustedIssuer},
};
use serde_json::{Value, json};
use tower::{Layer, Service, service_fn};

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

/// One algorithm's key and tokens.
struct Case {
    name: &'static str,
    jwk: Value,
    token: String,
    /// `token` with its signature's first byte flipped.
    forged: String,
    /// The aws-lc-rs algorithm and public key bytes, for the raw check.
    algorithm: &'static dyn VerificationAlgorithm,
    public_key: Vec<u8>,
}

/// Flips the first byte of a compact JWS's signature.
fn forge(token: &str) -> String {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig[0] ^= 0x01;
    format!("{input}.{}", b64(&sig))
}

/// The signing input and the decoded signature of a compact JWS.
fn split(token: &str) -> (&[u8], Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').unwrap();
    (input.as_bytes(), URL_SAFE_NO_PAD.decode(sig).unwrap())
}

/// RS256, ES256 and EdDSA.
fn cases() -> Vec<Case> {
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
        Case {
            name: "RS256",
            jwk: rsa_jwk,
            forged: forge(&rsa_token),
            token: rsa_token,
            algorithm: &signature::RSA_PKCS1_2048_8192_SHA256,
            // PKCS#1 RSAPublicKey DER.
            public_key: rsa.public_key().as_ref().to_vec(),
        },
        Case {
            name: "ES256",
            jwk: ec_jwk,
            forged: forge(&ec_token),
            token: ec_token,
            algorithm: &signature::ECDSA_P256_SHA256_FIXED,
            public_key: point.to_vec(),
        },
        Case {
            name: "EdDSA",
            jwk: ed_jwk,
            forged: forge(&ed_token),
            token: ed_token,
            algorithm: &signature::ED25519,
            public_key: ed.public_key().as_ref().to_vec(),
        },
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
    let cases = cases();
    let mut group = c.benchmark_group("jwt_verify");
    for case in &cases {
        let (name, token) = (case.name, &case.token);
        let first_sight = verifier(&case.jwk, false);
        assert!(rt.block_on(first_sight.verify(token)).is_ok());
        group.bench_function(format!("{name}/first_sight"), |b| {
            b.to_async(&rt).iter(|| first_sight.verify(token));
        });

        let cached = verifier(&case.jwk, true);
        assert!(rt.block_on(cached.verify(token)).is_ok());
        group.bench_function(format!("{name}/cached"), |b| {
            b.to_async(&rt).iter(|| cached.verify(token));
        });

        // With the cache on, as deployed: a forged token is never cached, so each one costs
        // a full verification.
        let forged = &case.forged;
        let err = rt.block_on(cached.verify(forged)).unwrap_err();
        assert!(err.is_invalid_token(), "{name}: {err:?}");
        group.bench_function(format!("{name}/forged_signature"), |b| {
            b.to_async(&rt).iter(|| cached.verify(forged));
        });
    }
    group.finish();

    // HS256, whose MAC costs well under a microsecond: most of what `first_sight` measures
    // here is the verifier's own work (parsing, key lookup, claim checks, `AuthInfo`), next
    // to the MAC alone.
    let secret = [7_u8; 32];
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // The claims of the load benchmark's tokens.
    let claims = json!({
        "aud": "http://127.0.0.1:8787/mcp", "client_id": "load-client",
        "email": "user-0000000@load.example", "exp": now + 3600, "iat": now, "iss": ISS,
        "jti": "7DCKm8-dIUZrDOrc1FHtKA", "scope": "mcp:read mcp:write", "sub": "user-0000000",
    });
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
    let hs_token = token("HS256", &claims, |m| {
        aws_lc_rs::hmac::sign(&key, m).as_ref().to_vec()
    });
    let hs = JwtVerifier::builder()
        .issuer(TrustedIssuer::shared_secret(ISS, secret))
        .token_cache_capacity(0)
        .build()
        .unwrap();
    assert!(rt.block_on(hs.verify(&hs_token)).is_ok());
    let mut group = c.benchmark_group("jwt_overhead");
    group.bench_function("HS256/first_sight", |b| {
        b.to_async(&rt).iter(|| hs.verify(&hs_token));
    });
    let (message, sig) = split(&hs_token);
    group.bench_function("HS256/mac_only", |b| {
        b.iter(|| aws_lc_rs::hmac::verify(&key, message, &sig).unwrap());
    });

    // The whole new-token path of `benches/load.sh`'s `new-token` case in process: the layer,
    // the cache lookup that misses, the verification, and the cache's admission check (more
    // tokens in rotation than the default cache of 10,000 holds, each seen once in a while:
    // once the cache is full of them, a token seen for the first time is verified and not
    // kept). Against `mac_only`, what the layer and the verifier add to a new token.
    //
    // `new_token_seen_twice`: each token twice in a row, as a client that goes on using its
    // token: the first request is verified and turned away, the second verified again and
    // kept, in the place of an entry made thousands of requests before (cold in the CPU's
    // caches). The time is the mean of the two.
    let tokens: Vec<String> = (0..NEW_TOKENS)
        .map(|i| {
            let mut claims = claims.clone();
            claims["sub"] = json!(format!("user-{i:07}"));
            claims["jti"] = json!(format!("jti-{i:018}"));
            token("HS256", &claims, |m| {
                aws_lc_rs::hmac::sign(&key, m).as_ref().to_vec()
            })
        })
        .collect();
    let layer = McpAuth::builder(claims["aud"].as_str().unwrap())
        .verifier(
            JwtVerifier::builder()
                .issuer(TrustedIssuer::shared_secret(ISS, secret))
                .build()
                .unwrap(),
        )
        .required_scopes(["mcp:read"])
        .build()
        .unwrap();
    let mut svc = layer.layer(service_fn(answer));
    let request = |token: &str| {
        Request::post("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Full::new(Bytes::from_static(BODY)))
            .unwrap()
    };
    let status = rt.block_on(svc.call(request(&tokens[0]))).unwrap().status();
    assert_eq!(status, StatusCode::OK);
    let mut next = 0;
    group.bench_function("HS256/new_token_through_the_layer", |b| {
        b.to_async(&rt).iter_batched(
            || {
                next = (next + 1) % tokens.len();
                request(&tokens[next])
            },
            |req| svc.call(req),
            BatchSize::SmallInput,
        );
    });
    let mut sent = 0_usize;
    group.bench_function("HS256/new_token_seen_twice", |b| {
        b.to_async(&rt).iter_batched(
            || {
                sent += 1;
                request(&tokens[(sent / 2) % tokens.len()])
            },
            |req| svc.call(req),
            BatchSize::SmallInput,
        );
    });
    group.finish();

    // The raw signature check the targets of issue #12 refer to.
    let mut group = c.benchmark_group("raw_verify");
    for case in &cases {
        let (message, sig) = split(&case.token);
        let parsed = ParsedPublicKey::new(case.algorithm, &case.public_key).unwrap();
        assert!(parsed.verify_sig(message, &sig).is_ok());
        assert!(parsed.verify_sig(b"other", &sig).is_err());
        group.bench_function(format!("{}/parsed_once", case.name), |b| {
            b.iter(|| parsed.verify_sig(message, &sig).unwrap());
        });
        let unparsed = UnparsedPublicKey::new(case.algorithm, &case.public_key);
        assert!(unparsed.verify(message, &sig).is_ok());
        group.bench_function(format!("{}/unparsed", case.name), |b| {
            b.iter(|| unparsed.verify(message, &sig).unwrap());
        });
    }
    group.finish();
}

/// The inner service: a fixed answer.
async fn answer<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    drop(req);
    Ok(Response::new(Full::new(Bytes::from_static(b"{}"))))
}

/// How many distinct tokens `HS256/new_token_through_the_layer` cycles through: ten times the
/// default token cache.
const NEW_TOKENS: usize = 100_000;
/// The JSON-RPC body of `benches/load.sh`.
const BODY: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;

criterion_group!(benches, bench);
criterion_main!(benches);
