//! RFC 7662 introspection answers through `IntrospectionVerifier::verify`: the answer comes
//! from the shared-answer store (as another replica would have left it), so no network is
//! involved and every answer check runs. An accepted token had an answer that says so
//! (`active: true`, trusted issuer, an access-token type and use, current times), and the
//! verifier reports its claims faithfully; an answer without a boolean `active` is "cannot
//! tell" (`503`), never a verdict.
//!
//! Input: a flags byte (bit 0 picks the stricter verifier), then the answer (JSON).

#![no_main]

use std::{
    sync::{Mutex, OnceLock},
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mcp_auth::{
    TokenVerifier,
    store::{Store, StoreError, StoreKey},
    verifier::IntrospectionVerifier,
};
use mcp_auth_fuzz::{ISSUER, RESOURCE, audiences_of, numeric_date, scopes_of};
use serde_json::{Value, json};

const LEEWAY: f64 = 60.0;
const CLIENT: &str = "client-1";

/// Hands every lookup the answer of the current input.
#[derive(Debug, Default)]
struct Answers(Mutex<Option<Bytes>>);

#[async_trait]
impl Store for &'static Answers {
    async fn get(&self, _: &StoreKey, _: Option<Duration>) -> Result<Option<Bytes>, StoreError> {
        Ok(self.0.lock().expect("not poisoned").clone())
    }

    async fn insert(&self, _: &StoreKey, _: Bytes, _: Duration) -> Result<(), StoreError> {
        Ok(())
    }

    async fn insert_if_absent(
        &self,
        _: &StoreKey,
        _: Bytes,
        _: Duration,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }
}

fn answers() -> &'static Answers {
    static ANSWERS: OnceLock<Answers> = OnceLock::new();
    ANSWERS.get_or_init(Answers::default)
}

fn verifiers() -> &'static [IntrospectionVerifier; 2] {
    static VERIFIERS: OnceLock<[IntrospectionVerifier; 2]> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        // Nothing listens there: a lookup that missed the store would fail, not hang.
        let builder = || {
            IntrospectionVerifier::builder()
                .endpoint("http://127.0.0.1:9/introspect")
                .without_client_authentication()
                .cache_capacity(0)
                .shared_cache(answers())
        };
        let lenient = builder()
            .issuer(ISSUER)
            .build()
            .expect("the lenient verifier builds");
        let strict = builder()
            .require_expiry(true)
            .allowed_clients([CLIENT])
            .danger_assume_audience_for_clients(RESOURCE, [CLIENT])
            .build()
            .expect("the strict verifier builds");
        [lenient, strict]
    })
}

fn check_accepted(answer: &Value, strict: bool, info: &mcp_auth::AuthInfo) {
    let answer = answer.as_object().expect("an object");
    assert_eq!(answer.get("active"), Some(&Value::Bool(true)));
    match answer.get("iss") {
        None | Some(Value::Null) => {}
        Some(Value::String(iss)) => {
            if !strict {
                assert_eq!(iss, ISSUER);
            }
            assert_eq!(info.issuer(), Some(iss.as_str()));
        }
        Some(other) => panic!("iss {other}"),
    }
    match answer.get("token_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) => assert!(
            t.eq_ignore_ascii_case("bearer")
                || t.eq_ignore_ascii_case("dpop")
                || t == "access_token"
                || t == "urn:ietf:params:oauth:token-type:access_token",
            "{t}"
        ),
        Some(other) => panic!("token_type {other}"),
    }
    match answer.get("token_use") {
        None | Some(Value::Null) => {}
        Some(Value::String(used)) => assert!(used == "access_token" || used == "access", "{used}"),
        Some(other) => panic!("token_use {other}"),
    }
    let now = mcp_auth_fuzz::now();
    match answer.get("exp") {
        None | Some(Value::Null) => assert!(!strict, "exp is required"),
        Some(exp) => {
            let exp = numeric_date(exp).expect("a NumericDate");
            assert!(now < exp + LEEWAY + 1.0);
        }
    }
    for name in ["nbf", "iat"] {
        if let Some(value) = answer.get(name).filter(|v| !v.is_null()) {
            let t = numeric_date(value).expect("a NumericDate");
            assert!(t <= now + LEEWAY + 1.0, "{name}");
        }
    }
    let mut audiences = audiences_of(answer.get("aud")).expect("a well-formed aud");
    let client = ["client_id", "azp", "cid", "appid"]
        .iter()
        .find_map(|name| answer.get(*name).filter(|v| !v.is_null()))
        .map(|v| v.as_str().expect("a string client id"));
    if strict {
        assert_eq!(client, Some(CLIENT));
        if audiences.is_empty() {
            audiences.push(RESOURCE.to_owned());
        }
    }
    assert_eq!(info.client_id(), client);
    assert_eq!(info.audiences(), audiences.as_slice());
    let mut scopes = Vec::new();
    for name in ["scope", "scp"] {
        if let Some(value) = answer.get(name) {
            scopes.extend(scopes_of(value).expect("well-formed scopes"));
        }
    }
    // Granted scopes are reported once each, in claim order.
    assert_eq!(info.scopes(), mcp_auth_fuzz::dedup(scopes).as_slice());
    assert_eq!(info.subject(), answer.get("sub").and_then(Value::as_str));
}

fuzz_target!(|data: &[u8]| {
    let (flags, rest) = mcp_auth_fuzz::flags(data);
    let Ok(answer) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    // Stored as a replica shares it: the answer and when that replica forgets it (in a minute).
    let until = (mcp_auth_fuzz::now() * 1000.0) as u64 + 60_000;
    let stored = json!({ "answer": answer, "until": until }).to_string();
    *answers().0.lock().expect("not poisoned") = Some(Bytes::from(stored));
    let strict = flags & 1 == 1;
    let verifier = &verifiers()[usize::from(strict)];
    let got = mcp_auth_fuzz::runtime().block_on(verifier.verify("opaque-fuzz-token"));
    let active = answer.as_object().map(|a| a.get("active"));
    match &got {
        Ok(info) => check_accepted(&answer, strict, info),
        Err(err) => match active {
            Some(Some(Value::Bool(_))) => {
                assert!(err.is_invalid_token(), "a verdict, not {err:?}");
            }
            _ => assert!(err.is_unavailable(), "no answer, not {err:?}"),
        },
    }
});
