//! Helpers shared by the fuzz targets: input framing, a runtime, a fixed signing key with the
//! fixed key set the JWT target verifies against, and the RFC oracles of `tests/oracles`.

use std::{
    sync::OnceLock,
    time::{SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

#[path = "../../tests/oracles/mod.rs"]
pub mod oracles;

/// The issuer of every token the JWT target verifies.
pub const ISSUER: &str = "https://as.example.com";
/// The resource tokens are minted for.
pub const RESOURCE: &str = "https://mcp.example.com/mcp";
/// The key id of [`fuzz_key`] in [`key_set`].
pub const FUZZ_KID: &str = "fuzz-ed25519";
/// The public keys of the seed tokens (written by `tests/fuzz_seeds.rs` with the seeds).
pub const SEED_JWKS: &str = include_str!("../keys/seed-jwks.json");

/// Splits `data` into at most `n` fields at NUL bytes (JSON text cannot hold a raw NUL).
#[must_use]
pub fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |&b| b == 0).collect()
}

/// The first byte (flags) and the rest.
#[must_use]
pub fn flags(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&first, rest)) => (first, rest),
        None => (0, data),
    }
}

/// A current-thread runtime with time, for the async checks.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime")
    })
}

/// base64url without padding.
#[must_use]
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the epoch.
#[must_use]
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// An Ed25519 key fixed by its seed, so that its signatures are the same in every run.
pub fn fuzz_key() -> &'static Ed25519KeyPair {
    static KEY: OnceLock<Ed25519KeyPair> = OnceLock::new();
    KEY.get_or_init(|| Ed25519KeyPair::from_seed_unchecked(&[0x42; 32]).expect("a valid seed"))
}

/// The public JWK of [`fuzz_key`], without `kid` or `alg`.
#[must_use]
pub fn fuzz_jwk() -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": b64(fuzz_key().public_key().as_ref())})
}

/// A compact JWS of these exact header and payload bytes, signed by [`fuzz_key`] (EdDSA,
/// whatever the header says).
#[must_use]
pub fn sign(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = fuzz_key().sign(input.as_bytes());
    format!("{input}.{}", b64(signature.as_ref()))
}

/// The fixed key set: the seed tokens' keys and [`fuzz_key`] (kid [`FUZZ_KID`]).
#[must_use]
pub fn key_set() -> String {
    let mut set: Value = serde_json::from_str(SEED_JWKS).expect("seed-jwks.json is JSON");
    let mut fuzz = fuzz_jwk();
    fuzz["kid"] = FUZZ_KID.into();
    fuzz["alg"] = "EdDSA".into();
    set["keys"]
        .as_array_mut()
        .expect("seed-jwks.json has keys")
        .push(fuzz);
    set.to_string()
}

/// Decodes one base64url part, or `None`.
#[must_use]
pub fn b64_decode(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(part).ok()
}

/// RFC 6749 §3.3 `scope-token`.
#[must_use]
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// The scopes a `scope`-like claim grants: a space-separated string or an array of strings.
/// `None` when malformed.
#[must_use]
pub fn scopes_of(value: &Value) -> Option<Vec<String>> {
    let tokens: Vec<&str> = match value {
        Value::Null => Vec::new(),
        Value::String(s) => s.split(' ').filter(|t| !t.is_empty()).collect(),
        Value::Array(items) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect(),
        _ => return None,
    };
    tokens
        .into_iter()
        .map(|t| is_scope_token(t).then(|| t.to_owned()))
        .collect()
}

/// `items` without repeats, in first-seen order (as `AuthInfo` keeps scopes).
#[must_use]
pub fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The audiences an `aud` claim names, `None` when malformed.
#[must_use]
pub fn audiences_of(value: Option<&Value>) -> Option<Vec<String>> {
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(_) => None,
    }
}

/// A NumericDate as the crate accepts it: a number in `0..=1e12`.
#[must_use]
pub fn numeric_date(value: &Value) -> Option<f64> {
    value.as_f64().filter(|v| (0.0..=1e12).contains(v))
}
