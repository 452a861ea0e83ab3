//! The JWKS cache and discovery against a real loopback server with switches: rotation,
//! forged-`kid` floods, outages, limits, and RFC 8414 / OIDC discovery.

#![cfg(feature = "jwt")]

mod jwt_support;

use std::{sync::atomic::Ordering, time::Duration};

use mcp_auth::{
    TokenVerifier,
    verifier::{JwtVerifier, jwt::JwtVerifierBuilder, jwt::TrustedIssuer},
};
use serde_json::json;

use jwt_support::{TestAs, TestKey, claims, now};

const AUD: &str = "http://127.0.0.1/mcp";
const MIN: Duration = Duration::from_millis(200);

fn builder(server: &TestAs) -> JwtVerifierBuilder {
    JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(server.issuer(), server.jwks_uri()))
        .jwks_min_refresh_interval(MIN)
        .jwks_refresh_interval(Duration::from_secs(60))
        .token_cache_capacity(0)
}

#[tokio::test]
async fn keys_are_fetched_lazily_and_once() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    let verifier = builder(&server).build().expect("builds");
    assert_eq!(server.jwks_fetches(), 0, "nothing fetched at build time");
    for _ in 0..5 {
        assert!(
            verifier
                .verify(&key.sign(Some("k1"), &claims(&server.issuer(), AUD)))
                .await
                .is_ok()
        );
    }
    assert_eq!(
        server.jwks_fetches(),
        1,
        "decoding keys are reused, not refetched"
    );
}

#[tokio::test]
async fn rotated_key_is_accepted_after_one_fetch() {
    let old = TestKey::es256();
    let new = TestKey::rsa();
    let server = TestAs::start("").await;
    server.set_keys(vec![old.jwk(Some("old"))]);
    let verifier = builder(&server).build().expect("builds");
    let iss = server.issuer();
    assert!(
        verifier
            .verify(&old.sign(Some("old"), &claims(&iss, AUD)))
            .await
            .is_ok()
    );
    assert_eq!(server.jwks_fetches(), 1);

    tokio::time::sleep(MIN).await;
    server.set_keys(vec![old.jwk(Some("old")), new.jwk(Some("new"))]);
    assert!(
        verifier
            .verify(&new.sign(Some("new"), &claims(&iss, AUD)))
            .await
            .is_ok()
    );
    assert_eq!(
        server.jwks_fetches(),
        2,
        "exactly one refetch for the new kid"
    );
    assert!(
        verifier
            .verify(&old.sign(Some("old"), &claims(&iss, AUD)))
            .await
            .is_ok()
    );
    assert!(
        verifier
            .verify(&new.sign(Some("new"), &claims(&iss, AUD)))
            .await
            .is_ok()
    );
    assert_eq!(server.jwks_fetches(), 2);
}

#[tokio::test]
async fn forged_kid_flood_causes_at_most_one_fetch_per_interval() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    server.set_delay(Duration::from_millis(50));
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(server.issuer(), server.jwks_uri()))
        .jwks_min_refresh_interval(Duration::from_secs(30))
        .token_cache_capacity(0)
        .build()
        .expect("builds");
    let iss = server.issuer();
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(&iss, AUD)))
            .await
            .is_ok()
    );
    assert_eq!(server.jwks_fetches(), 1);

    // 200 concurrent requests with forged kids, issued now: after the fetch, so their key may
    // be newer than our set, and no refetch is allowed yet: undecidable (503), not invalid.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let verifier = verifier.clone();
        let token = key.sign(Some(&format!("forged-{i}")), &claims(&iss, AUD));
        tasks.push(tokio::spawn(async move { verifier.verify(&token).await }));
    }
    for task in tasks {
        let err = task.await.expect("task").unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        let retry = err.retry_after().expect("retry-after");
        assert!(retry <= Duration::from_secs(30), "{retry:?}");
    }
    // 200 more, issued ten minutes ago, before the fetch: a key they were signed with was
    // published before it, so an unknown kid is a forgery (401).
    for i in 0..200 {
        let mut old = claims(&iss, AUD);
        old["iat"] = json!(now() - 600);
        let token = key.sign(Some(&format!("again-{i}")), &old);
        assert!(
            verifier
                .verify(&token)
                .await
                .unwrap_err()
                .is_invalid_token()
        );
    }
    // At most one extra fetch (the first forged kid after warm-up was within the interval
    // of the warm-up fetch, so in fact none).
    assert!(
        server.jwks_fetches() <= 2,
        "fetches: {}",
        server.jwks_fetches()
    );
}

#[tokio::test]
async fn concurrent_first_requests_share_one_fetch() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    server.set_delay(Duration::from_millis(100));
    let verifier = builder(&server).build().expect("builds");
    let token = key.sign(Some("k1"), &claims(&server.issuer(), AUD));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let verifier = verifier.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move { verifier.verify(&token).await }));
    }
    for task in tasks {
        assert!(task.await.expect("task").is_ok());
    }
    assert_eq!(server.jwks_fetches(), 1, "single flight");
}

#[tokio::test]
async fn jwks_down_after_warm_up_keeps_known_keys_and_503s_unknown_ones() {
    let key = TestKey::es256();
    let other = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    let verifier = builder(&server)
        .jwks_refresh_interval(MIN)
        .jwks_max_staleness(Duration::from_secs(60))
        .build()
        .expect("builds");
    let iss = server.issuer();
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(&iss, AUD)))
            .await
            .is_ok()
    );

    server.set_down(true);
    tokio::time::sleep(MIN + Duration::from_millis(50)).await;
    // The set is due for refresh and the refresh fails: the known key keeps working.
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(&iss, AUD)))
            .await
            .is_ok()
    );
    // An unknown kid may be in the set we cannot get: 503, not 401.
    tokio::time::sleep(MIN).await;
    let err = verifier
        .verify(&other.sign(Some("k2"), &claims(&iss, AUD)))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.retry_after().is_some());
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(&iss, AUD)))
            .await
            .is_ok()
    );

    server.set_down(false);
    server.set_keys(vec![key.jwk(Some("k1")), other.jwk(Some("k2"))]);
    tokio::time::sleep(MIN).await;
    assert!(
        verifier
            .verify(&other.sign(Some("k2"), &claims(&iss, AUD)))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn stale_keys_stop_working_after_max_staleness() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    let verifier = builder(&server)
        .jwks_refresh_interval(MIN)
        .jwks_max_staleness(Duration::from_millis(100))
        .build()
        .expect("builds");
    let token = key.sign(Some("k1"), &claims(&server.issuer(), AUD));
    assert!(verifier.verify(&token).await.is_ok());
    server.set_down(true);
    tokio::time::sleep(MIN + Duration::from_millis(150)).await;
    let err = verifier.verify(&token).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
async fn jwks_down_at_start_gives_503_then_recovers_without_restart() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    server.set_down(true);
    let verifier = builder(&server)
        .build()
        .expect("builds while the AS is down");
    let token = key.sign(Some("k1"), &claims(&server.issuer(), AUD));
    let err = verifier.verify(&token).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        err.retry_after()
            .is_some_and(|d| d >= Duration::from_secs(1))
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "cause kept for logs"
    );
    // Retries within the interval do not hammer the AS.
    let fetches = server.jwks_fetches();
    for _ in 0..10 {
        assert!(verifier.verify(&token).await.unwrap_err().is_unavailable());
    }
    assert_eq!(server.jwks_fetches(), fetches);

    server.set_down(false);
    tokio::time::sleep(MIN).await;
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn unreachable_jwks_gives_503() {
    let key = TestKey::es256();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let issuer = format!("http://127.0.0.1:{port}");
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(
            issuer.clone(),
            format!("{issuer}/jwks"),
        ))
        .build()
        .expect("builds");
    let err = verifier
        .verify(&key.sign(Some("k1"), &claims(&issuer, AUD)))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
async fn slow_jwks_times_out_as_503() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    server.set_delay(Duration::from_secs(5));
    let verifier = builder(&server)
        .http_timeout(Duration::from_millis(200))
        .build()
        .expect("builds");
    let started = std::time::Instant::now();
    let err = verifier
        .verify(&key.sign(Some("k1"), &claims(&server.issuer(), AUD)))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded by the timeout"
    );
}

#[tokio::test]
async fn oversized_jwks_is_refused() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    *server.state.pad_to.lock().expect("lock") = Some(10_000);
    let verifier = builder(&server)
        .max_response_size(4_096)
        .build()
        .expect("builds");
    let err = verifier
        .verify(&key.sign(Some("k1"), &claims(&server.issuer(), AUD)))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(
            server.issuer(),
            format!("{}/redirect-jwks", server.base),
        ))
        .build()
        .expect("builds");
    let err = verifier
        .verify(&key.sign(Some("k1"), &claims(&server.issuer(), AUD)))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(
        server.jwks_fetches(),
        0,
        "the redirect target was never fetched"
    );
}

#[tokio::test]
async fn unusable_keys_in_a_remote_set_are_skipped() {
    let key = TestKey::ed25519();
    let server = TestAs::start("").await;
    server.set_jwks_document(json!({"keys": [
        {"kty": "AKP", "alg": "ML-DSA-44", "kid": "pq", "pub": "AAAA"},
        {"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"},
        {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
        {"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"},
        key.jwk(Some("good")),
    ]}));
    let verifier = builder(&server).build().expect("builds");
    assert!(
        verifier
            .verify(&key.sign(Some("good"), &claims(&server.issuer(), AUD)))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn invalid_jwks_document_is_503_and_keeps_the_last_good_set() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_jwks_document(json!({"not": "a jwks"}));
    let verifier = builder(&server)
        .jwks_refresh_interval(MIN)
        .build()
        .expect("builds");
    let iss = server.issuer();
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(&iss, AUD)))
            .await
            .unwrap_err()
            .is_unavailable()
    );
    server.set_keys(vec![key.jwk(Some("k1"))]);
    tokio::time::sleep(MIN).await;
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(&iss, AUD)))
            .await
            .is_ok()
    );
    server.set_jwks_document(json!("garbage"));
    tokio::time::sleep(MIN).await;
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(&iss, AUD)))
            .await
            .is_ok(),
        "last good set kept"
    );
}

#[tokio::test]
async fn cache_control_max_age_is_clamped() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    // max-age=0 is raised to the minimum interval: no fetch per request.
    server.set_cache_control(Some("max-age=0"));
    let verifier = builder(&server).build().expect("builds");
    let token = key.sign(Some("k1"), &claims(&server.issuer(), AUD));
    for _ in 0..10 {
        assert!(verifier.verify(&token).await.is_ok());
    }
    assert_eq!(server.jwks_fetches(), 1);
    // Past the minimum, the set is refreshed once.
    tokio::time::sleep(MIN + Duration::from_millis(20)).await;
    for _ in 0..10 {
        assert!(verifier.verify(&token).await.is_ok());
    }
    assert_eq!(server.jwks_fetches(), 2);

    // A huge max-age is capped by the maximum interval.
    let server2 = TestAs::start("").await;
    server2.set_keys(vec![key.jwk(Some("k1"))]);
    server2.set_cache_control(Some("public, max-age=31536000"));
    let verifier2 = builder(&server2)
        .jwks_max_refresh_interval(Duration::from_millis(250))
        .build()
        .expect("builds");
    let token2 = key.sign(Some("k1"), &claims(&server2.issuer(), AUD));
    assert!(verifier2.verify(&token2).await.is_ok());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(verifier2.verify(&token2).await.is_ok());
    assert_eq!(server2.jwks_fetches(), 2);
}

#[tokio::test]
async fn discovery_uses_rfc_8414_path_insertion() {
    let key = TestKey::es256();
    let server = TestAs::start("/tenant/one").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    let verifier = JwtVerifier::discover(server.issuer()).expect("builds");
    assert_eq!(server.metadata_fetches(), 0, "lazy");
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(&server.issuer(), AUD)))
            .await
            .is_ok()
    );
    assert_eq!(server.metadata_fetches(), 1);
    assert_eq!(server.jwks_fetches(), 1);
}

#[tokio::test]
async fn discovery_falls_back_to_openid_configuration() {
    let key = TestKey::es256();
    for path in ["", "/tenant"] {
        let server = TestAs::start(path).await;
        server.set_keys(vec![key.jwk(Some("k1"))]);
        server.state.oidc_only.store(true, Ordering::SeqCst);
        let verifier = JwtVerifier::discover(server.issuer()).expect("builds");
        let result = verifier
            .verify(&key.sign(Some("k1"), &claims(&server.issuer(), AUD)))
            .await;
        assert!(result.is_ok(), "{path}: {result:?}");
        let metadata = verifier
            .authorization_server_metadata(&server.issuer())
            .await
            .expect("kept");
        assert_eq!(metadata.issuer(), server.issuer());
    }
}

#[tokio::test]
async fn discovered_issuer_must_match_byte_for_byte() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    *server.state.metadata_issuer.lock().expect("lock") = Some(format!("{}/", server.issuer()));
    let verifier = JwtVerifier::discover(server.issuer()).expect("builds");
    let err = verifier
        .verify(&key.sign(Some("k1"), &claims(&server.issuer(), AUD)))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(
        server.jwks_fetches(),
        0,
        "keys from a mismatched document are never fetched"
    );
}

#[tokio::test]
async fn discovery_down_gives_503() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_down(true);
    let verifier = JwtVerifier::discover(server.issuer()).expect("builds");
    let err = verifier
        .verify(&key.sign(Some("k1"), &claims(&server.issuer(), AUD)))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        verifier
            .authorization_server_metadata(&server.issuer())
            .await
            .unwrap_err()
            .is_unavailable()
    );
}

#[tokio::test]
async fn a_cancelled_request_does_not_cancel_the_key_fetch() {
    let key = TestKey::es256();
    let server = TestAs::start("").await;
    server.set_keys(vec![key.jwk(Some("k1"))]);
    server.set_delay(Duration::from_millis(600));
    let verifier = builder(&server).build().expect("builds");
    let token = key.sign(Some("k1"), &claims(&server.issuer(), AUD));

    // The first request gives up (a client disconnect, or the layer's timeout) mid-fetch.
    let gave_up = tokio::time::timeout(Duration::from_millis(100), verifier.verify(&token)).await;
    assert!(gave_up.is_err(), "the first request was cut off");

    // The fetch it started goes on; the next request waits for it instead of getting 503.
    let info = verifier
        .verify(&token)
        .await
        .expect("the detached fetch delivers the keys");
    assert!(info.audiences().iter().any(|a| a == AUD));
    assert_eq!(server.jwks_fetches(), 1, "one fetch, shared");
}
