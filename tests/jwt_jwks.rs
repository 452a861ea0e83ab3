//! The JWKS cache and discovery against the dev issuer on loopback, with its switches:
//! rotation, forged-`kid` floods, outages and faults on the wire, limits, and RFC 8414 / OIDC
//! discovery. Every failure is followed by its control: the same request succeeding once the
//! fault is gone, without a new verifier.

#![cfg(feature = "jwt")]

mod jwt_support;

use std::time::{Duration, Instant};

use mcp_auth::{
    TokenVerifier, VerifyError,
    testing::{DevIssuer, Endpoint, Fault},
    verifier::{JwtVerifier, jwt::JwtVerifierBuilder, jwt::TrustedIssuer},
};
use serde_json::json;

use jwt_support::{TestKey, claims, issuer_at, issuer_with, now, publish};

const AUD: &str = "http://127.0.0.1/mcp";
const MIN: Duration = Duration::from_millis(200);
/// The minimum interval for tests that count fetches over a run of checks: a run must fit
/// within it even when the machine stalls.
const SLOW_MIN: Duration = Duration::from_secs(1);

fn builder(issuer: &DevIssuer) -> JwtVerifierBuilder {
    JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .jwks_min_refresh_interval(MIN)
        .jwks_refresh_interval(Duration::from_secs(60))
        .token_cache_capacity(0)
}

/// A verifier that finds `issuer`'s keys by discovery, retrying every [`MIN`].
fn discovering(issuer: &DevIssuer) -> JwtVerifier {
    JwtVerifier::builder()
        .issuer(TrustedIssuer::discover(issuer.issuer()))
        .jwks_min_refresh_interval(MIN)
        .build()
        .expect("builds")
}

/// An unavailable error, as the layer turns into `503`: with a `Retry-After` of at least a
/// second and the cause kept for logs.
fn assert_unavailable(result: Result<mcp_auth::AuthInfo, VerifyError>, name: &str) {
    let err = result.expect_err(name);
    assert!(err.is_unavailable(), "{name}: {err:?}");
    assert!(
        err.retry_after()
            .is_some_and(|d| d >= Duration::from_secs(1)),
        "{name}: {err:?}"
    );
}

/// Whether `verifier` accepts a token that `key` signs under `kid` for `iss`.
async fn accepts(verifier: &JwtVerifier, key: &TestKey, kid: &str, iss: &str) -> bool {
    verifier
        .verify(&key.sign(Some(kid), &claims(iss, AUD)))
        .await
        .is_ok()
}

#[tokio::test]
async fn keys_are_fetched_lazily_and_once() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let verifier = builder(&issuer).build().expect("builds");
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        0,
        "nothing fetched at build time"
    );
    for _ in 0..5 {
        assert!(
            verifier
                .verify(&key.sign(Some("k1"), &claims(issuer.issuer(), AUD)))
                .await
                .is_ok()
        );
    }
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        1,
        "decoding keys are reused, not refetched"
    );
}

/// `verify_now` checks a new token in place when its key is at hand, and only then: with no
/// key set yet, or a `kid` the set does not have, it answers `None` and fetches nothing (that
/// is `verify`'s to do). What it decides is what `verify` decides.
#[tokio::test]
async fn verify_now_decides_with_the_keys_at_hand_and_never_fetches() {
    let key = TestKey::es256();
    let other = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let verifier = builder(&issuer)
        .token_cache_capacity(1_000)
        .build()
        .expect("builds");
    let iss = issuer.issuer();
    let first = key.sign(Some("k1"), &claims(iss, AUD));
    assert!(verifier.verify_now(&first).is_none(), "no key set yet");
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        0,
        "verify_now fetches nothing"
    );
    assert!(verifier.verify(&first).await.is_ok());
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);

    // A new token under a known key: decided at once, and kept as `verify` keeps it.
    let mut c = claims(iss, AUD);
    c["sub"] = json!("second-user");
    let second = key.sign(Some("k1"), &c);
    assert!(
        verifier.verify_cached(&second).is_none(),
        "not verified yet"
    );
    let info = verifier
        .verify_now(&second)
        .expect("the key is at hand")
        .expect("valid");
    assert_eq!(info.subject(), Some("second-user"));
    assert!(
        verifier.verify_cached(&second).is_some(),
        "kept in the cache"
    );

    // Refusals at once: a signature by another key under the known `kid`, an expired token,
    // an opaque token (foreign), another issuer's JWT (foreign).
    let forged = other.sign(Some("k1"), &claims(iss, AUD));
    let mut expired = claims(iss, AUD);
    expired["exp"] = json!(now() - 3_600);
    let expired = key.sign(Some("k1"), &expired);
    let foreign_jwt = key.sign(Some("k1"), &claims("https://elsewhere.example", AUD));
    for (name, token, foreign) in [
        ("forged", forged.as_str(), false),
        ("expired", expired.as_str(), false),
        ("opaque", "an-opaque-token", true),
        ("another issuer's", foreign_jwt.as_str(), true),
    ] {
        let now = verifier.verify_now(token).expect(name).expect_err(name);
        assert_eq!(now.is_foreign_token(), foreign, "{name}: {now:?}");
        assert_eq!(now.is_invalid_token(), !foreign, "{name}: {now:?}");
        // The same answer from `verify`, from a verifier that never saw the token.
        let fresh = builder(&issuer).build().expect("builds");
        let verified = fresh.verify(token).await.expect_err(name);
        assert_eq!(now.kind(), verified.kind(), "{name}");
        assert_eq!(now.description(), verified.description(), "{name}");
    }

    // A `kid` the set does not have may call for a fetch: `verify`'s, not `verify_now`'s.
    // (The fresh verifiers above fetched for themselves.)
    let fetches = issuer.requests(Endpoint::Jwks);
    let unknown_kid = other.sign(Some("k2"), &claims(iss, AUD));
    assert!(verifier.verify_now(&unknown_kid).is_none());
    assert_eq!(issuer.requests(Endpoint::Jwks), fetches, "nothing fetched");
    // Control: once the set has it (after the refresh interval), `verify` fetches it, and
    // `verify_now` decides the next token under it at once.
    tokio::time::sleep(MIN).await;
    publish(&issuer, vec![key.jwk(Some("k1")), other.jwk(Some("k2"))]);
    assert!(verifier.verify(&unknown_kid).await.is_ok());
    let fetches = issuer.requests(Endpoint::Jwks);
    let mut c = claims(iss, AUD);
    c["sub"] = json!("third-user");
    let third = other.sign(Some("k2"), &c);
    assert!(verifier.verify_now(&third).expect("at hand").is_ok());
    assert_eq!(issuer.requests(Endpoint::Jwks), fetches);
}

#[tokio::test]
async fn rotated_key_is_accepted_after_one_fetch() {
    let old = TestKey::es256();
    let new = TestKey::rsa();
    let issuer = issuer_with(vec![old.jwk(Some("old"))]).await;
    let verifier = builder(&issuer).build().expect("builds");
    let iss = issuer.issuer();
    assert!(accepts(&verifier, &old, "old", iss).await);
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);

    tokio::time::sleep(MIN).await;
    publish(&issuer, vec![old.jwk(Some("old")), new.jwk(Some("new"))]);
    assert!(accepts(&verifier, &new, "new", iss).await);
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        2,
        "exactly one refetch for the new kid"
    );
    assert!(accepts(&verifier, &old, "old", iss).await);
    assert!(accepts(&verifier, &new, "new", iss).await);
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
}

/// A `kid` the current set has, with an algorithm its key cannot verify, is refused by that
/// set, without a fetch, even when one is allowed: the key is known, the token's choice is
/// wrong. Its control, the key's own algorithm, fetches nothing either.
#[tokio::test]
async fn a_known_kid_with_another_algorithm_is_refused_without_a_fetch() {
    let rsa = TestKey::rsa();
    let ec = TestKey::es256();
    let issuer = issuer_with(vec![rsa.jwk(Some("k1"))]).await;
    let verifier = builder(&issuer).build().expect("builds");
    let iss = issuer.issuer();
    assert!(accepts(&verifier, &rsa, "k1", iss).await);
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
    // Past the minimum interval: a fetch would be allowed.
    tokio::time::sleep(MIN).await;
    let err = verifier
        .verify(&ec.sign(Some("k1"), &claims(iss, AUD)))
        .await
        .expect_err("an ES256 token under an RSA key");
    assert!(err.is_invalid_token(), "{err:?}");
    assert_eq!(
        err.description(),
        "token algorithm does not match its signing key"
    );
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        1,
        "decided by the set at hand"
    );
    assert!(accepts(&verifier, &rsa, "k1", iss).await);
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn forged_kid_flood_causes_at_most_one_fetch_per_interval() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    issuer.set_delay(Endpoint::Jwks, Duration::from_millis(50));
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .jwks_min_refresh_interval(Duration::from_secs(30))
        .token_cache_capacity(0)
        .build()
        .expect("builds");
    let iss = issuer.issuer();
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(iss, AUD)))
            .await
            .is_ok()
    );
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);

    // 200 concurrent requests with forged kids, issued now: after the fetch, so their key may
    // be newer than our set, and no refetch is allowed yet: undecidable (503), not invalid.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let verifier = verifier.clone();
        let token = key.sign(Some(&format!("forged-{i}")), &claims(iss, AUD));
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
        let mut old = claims(iss, AUD);
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
    let fetches = issuer.requests(Endpoint::Jwks);
    assert!(fetches <= 2, "fetches: {fetches}");

    // Control: the real kid still verifies after the flood, from the keys already held.
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(iss, AUD)))
            .await
            .is_ok()
    );
    assert_eq!(issuer.requests(Endpoint::Jwks), fetches);
}

#[tokio::test]
async fn concurrent_first_requests_share_one_fetch() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    issuer.set_delay(Endpoint::Jwks, Duration::from_millis(100));
    let verifier = builder(&issuer).build().expect("builds");
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let verifier = verifier.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move { verifier.verify(&token).await }));
    }
    for task in tasks {
        assert!(task.await.expect("task").is_ok());
    }
    assert_eq!(issuer.requests(Endpoint::Jwks), 1, "single flight");
}

#[tokio::test]
async fn jwks_down_after_warm_up_keeps_known_keys_and_503s_unknown_ones() {
    let key = TestKey::es256();
    let other = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let verifier = builder(&issuer)
        .jwks_refresh_interval(MIN)
        .jwks_max_staleness(Duration::from_secs(60))
        .build()
        .expect("builds");
    let iss = issuer.issuer();
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(iss, AUD)))
            .await
            .is_ok()
    );

    issuer.set_down(Endpoint::Jwks, true);
    tokio::time::sleep(MIN + Duration::from_millis(50)).await;
    // The set is due for refresh and the refresh fails: the known key keeps working.
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(iss, AUD)))
            .await
            .is_ok()
    );
    assert_eq!(issuer.requests(Endpoint::Jwks), 2, "the refresh was tried");
    // An unknown kid may be in the set we cannot get: 503, not 401.
    tokio::time::sleep(MIN).await;
    assert_unavailable(
        verifier
            .verify(&other.sign(Some("k2"), &claims(iss, AUD)))
            .await,
        "unknown kid while down",
    );
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(iss, AUD)))
            .await
            .is_ok()
    );

    issuer.set_down(Endpoint::Jwks, false);
    publish(&issuer, vec![key.jwk(Some("k1")), other.jwk(Some("k2"))]);
    tokio::time::sleep(MIN).await;
    assert!(
        verifier
            .verify(&other.sign(Some("k2"), &claims(iss, AUD)))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn stale_keys_stop_working_after_max_staleness_and_work_again_after_a_refresh() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let verifier = builder(&issuer)
        .jwks_refresh_interval(MIN)
        .jwks_max_staleness(Duration::from_millis(100))
        .build()
        .expect("builds");
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));
    assert!(verifier.verify(&token).await.is_ok());
    issuer.set_down(Endpoint::Jwks, true);
    tokio::time::sleep(MIN + Duration::from_millis(150)).await;
    assert_unavailable(verifier.verify(&token).await, "stale keys");

    // Control: the same token verifies again once a refresh succeeds.
    issuer.set_down(Endpoint::Jwks, false);
    tokio::time::sleep(MIN).await;
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn jwks_down_at_start_gives_503_then_recovers_without_restart() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    issuer.set_down(Endpoint::Jwks, true);
    // A second between fetches, not `MIN`: the ten retries below must all come within it,
    // even on a stalled machine.
    let verifier = builder(&issuer)
        .jwks_min_refresh_interval(SLOW_MIN)
        .build()
        .expect("builds while the AS is down");
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));
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
    let fetches = issuer.requests(Endpoint::Jwks);
    assert_eq!(fetches, 1);
    for _ in 0..10 {
        assert!(verifier.verify(&token).await.unwrap_err().is_unavailable());
    }
    assert_eq!(issuer.requests(Endpoint::Jwks), fetches);

    issuer.set_down(Endpoint::Jwks, false);
    tokio::time::sleep(SLOW_MIN).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.requests(Endpoint::Jwks), fetches + 1);
}

#[tokio::test]
async fn authorization_server_off_its_port_gives_503_and_recovery_needs_no_new_verifier() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let verifier = builder(&issuer).build().expect("builds");
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));

    // Connection refused: nothing listens on the port.
    issuer.stop().await;
    let err = verifier.verify(&token).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        err.retry_after()
            .is_some_and(|d| d >= Duration::from_secs(1)),
        "{err:?}"
    );
    assert!(std::error::Error::source(&err).is_some(), "cause kept");
    assert_eq!(issuer.requests(Endpoint::Jwks), 0, "nothing reached it");

    // Control: the same address serves again, and the same token verifies.
    issuer.restart().await.expect("restarts");
    tokio::time::sleep(MIN).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn slow_jwks_times_out_as_503_and_a_fast_one_serves_again() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    issuer.set_delay(Endpoint::Jwks, Duration::from_secs(5));
    let verifier = builder(&issuer)
        .http_timeout(Duration::from_millis(200))
        .build()
        .expect("builds");
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));
    let started = Instant::now();
    assert_unavailable(verifier.verify(&token).await, "slow");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded by the timeout"
    );

    // Control: without the delay the same token verifies.
    issuer.set_delay(Endpoint::Jwks, Duration::ZERO);
    tokio::time::sleep(MIN).await;
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn every_fault_on_the_jwks_fetch_is_503_and_clearing_it_heals() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    // A second server that would hand out the right keys, to prove redirects are not followed.
    let elsewhere = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));
    let faults = [
        // The body of these is the real key set: only the status says it failed.
        Fault::Status(500),
        Fault::Status(404),
        Fault::Status(204),
        Fault::Garbage,
        Fault::Huge(100_000),
        // A complete key set, but less than the declared length.
        Fault::Truncated,
        Fault::Redirect(elsewhere.jwks_uri()),
        Fault::Reset,
    ];
    for fault in faults {
        let name = format!("{fault:?}");
        let verifier = builder(&issuer)
            .max_response_size(16 * 1024)
            .build()
            .expect("builds");
        let before = issuer.requests(Endpoint::Jwks);
        issuer.set_fault(Endpoint::Jwks, Some(fault));
        assert_unavailable(verifier.verify(&token).await, &name);
        assert_eq!(issuer.requests(Endpoint::Jwks), before + 1, "{name}");

        issuer.set_fault(Endpoint::Jwks, None);
        tokio::time::sleep(MIN).await;
        let result = verifier.verify(&token).await;
        assert!(result.is_ok(), "{name}: {result:?}");
        assert_eq!(issuer.requests(Endpoint::Jwks), before + 2, "{name}");
    }
    assert_eq!(
        elsewhere.requests(Endpoint::Jwks),
        0,
        "no redirect followed"
    );
}

#[tokio::test]
async fn oversized_jwks_is_refused_and_a_small_one_accepted() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    issuer.set_fault(Endpoint::Jwks, Some(Fault::Huge(10_000)));
    let verifier = builder(&issuer)
        .max_response_size(4_096)
        .build()
        .expect("builds");
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));
    assert_unavailable(verifier.verify(&token).await, "oversized");

    // Control: the same key set within the limit.
    issuer.set_fault(Endpoint::Jwks, Some(Fault::Huge(4_000)));
    tokio::time::sleep(MIN).await;
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn unusable_keys_in_a_remote_set_are_skipped() {
    let key = TestKey::ed25519();
    let issuer = issuer_with(vec![
        json!({"kty": "AKP", "alg": "ML-DSA-44", "kid": "pq", "pub": "AAAA"}),
        json!({"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"}),
        json!({"kty": "oct", "kid": "sym", "k": "c2VjcmV0"}),
        json!({"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"}),
        key.jwk(Some("good")),
    ])
    .await;
    let verifier = builder(&issuer).build().expect("builds");
    assert!(
        verifier
            .verify(&key.sign(Some("good"), &claims(issuer.issuer(), AUD)))
            .await
            .is_ok()
    );
    // The skipped keys cannot verify anything, even under their own kid (a token issued
    // before the fetch, so its kid cannot be a key published since).
    let mut old = claims(issuer.issuer(), AUD);
    old["iat"] = json!(now() - 600);
    let err = verifier
        .verify(&key.sign(Some("sym"), &old))
        .await
        .unwrap_err();
    assert!(err.is_invalid_token(), "{err:?}");
}

#[tokio::test]
async fn invalid_jwks_document_is_503_and_keeps_the_last_good_set() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![]).await;
    issuer.set_jwks_document(Some(json!({"not": "a jwks"})));
    let verifier = builder(&issuer)
        .jwks_refresh_interval(MIN)
        .build()
        .expect("builds");
    let iss = issuer.issuer();
    assert_unavailable(
        verifier
            .verify(&key.sign(Some("k1"), &claims(iss, AUD)))
            .await,
        "not a jwks",
    );
    publish(&issuer, vec![key.jwk(Some("k1"))]);
    tokio::time::sleep(MIN).await;
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(iss, AUD)))
            .await
            .is_ok()
    );
    issuer.set_jwks_document(Some(json!("garbage")));
    tokio::time::sleep(MIN).await;
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(iss, AUD)))
            .await
            .is_ok(),
        "last good set kept"
    );
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        3,
        "the garbage was fetched"
    );
}

#[tokio::test]
async fn cache_control_max_age_is_clamped() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    // max-age=0 is raised to the minimum interval: no fetch per request.
    issuer.set_jwks_cache_control(Some("max-age=0"));
    // `SLOW_MIN`: each run of ten checks must fit within the minimum interval.
    let verifier = builder(&issuer)
        .jwks_min_refresh_interval(SLOW_MIN)
        .build()
        .expect("builds");
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));
    for _ in 0..10 {
        assert!(verifier.verify(&token).await.is_ok());
    }
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
    // Past the minimum, the set is refreshed once.
    tokio::time::sleep(SLOW_MIN + Duration::from_millis(20)).await;
    for _ in 0..10 {
        assert!(verifier.verify(&token).await.is_ok());
    }
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);

    // A huge max-age is capped by the maximum interval.
    let issuer2 = issuer_with(vec![key.jwk(Some("k1"))]).await;
    issuer2.set_jwks_cache_control(Some("public, max-age=31536000"));
    let verifier2 = builder(&issuer2)
        .jwks_max_refresh_interval(Duration::from_millis(250))
        .build()
        .expect("builds");
    let token2 = key.sign(Some("k1"), &claims(issuer2.issuer(), AUD));
    assert!(verifier2.verify(&token2).await.is_ok());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(verifier2.verify(&token2).await.is_ok());
    assert_eq!(issuer2.requests(Endpoint::Jwks), 2);
}

#[tokio::test]
async fn discovery_uses_rfc_8414_path_insertion() {
    let key = TestKey::es256();
    let issuer = issuer_at("/tenant/one", vec![key.jwk(Some("k1"))]).await;
    let verifier = JwtVerifier::discover(issuer.issuer()).expect("builds");
    assert_eq!(issuer.requests(Endpoint::Metadata), 0, "lazy");
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(issuer.issuer(), AUD)))
            .await
            .is_ok()
    );
    assert_eq!(issuer.requests(Endpoint::Metadata), 1);
    assert_eq!(issuer.requests(Endpoint::OpenIdConfiguration), 0);
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn discovery_falls_back_to_openid_configuration() {
    let key = TestKey::es256();
    for path in ["", "/tenant"] {
        let issuer = issuer_at(path, vec![key.jwk(Some("k1"))]).await;
        issuer.set_fault(Endpoint::Metadata, Some(Fault::Status(404)));
        let verifier = JwtVerifier::discover(issuer.issuer()).expect("builds");
        let result = verifier
            .verify(&key.sign(Some("k1"), &claims(issuer.issuer(), AUD)))
            .await;
        assert!(result.is_ok(), "{path}: {result:?}");
        let metadata = verifier
            .authorization_server_metadata(issuer.issuer())
            .await
            .expect("kept");
        assert_eq!(metadata.issuer(), issuer.issuer());
        // The RFC 8414 document was asked for first, and refused.
        assert_eq!(issuer.requests(Endpoint::Metadata), 1, "{path}");
        assert_eq!(issuer.requests(Endpoint::OpenIdConfiguration), 1, "{path}");
    }
}

#[tokio::test]
async fn discovered_issuer_must_match_byte_for_byte() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let mut impostor = issuer.metadata();
    impostor["issuer"] = json!(format!("{}/", issuer.issuer()));
    issuer.set_metadata_document(Some(impostor));
    let verifier = discovering(&issuer);
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));
    assert_unavailable(verifier.verify(&token).await, "mismatched issuer");
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        0,
        "keys from a mismatched document are never fetched"
    );

    // Control: the issuer's own document is accepted by the same verifier.
    issuer.set_metadata_document(None);
    tokio::time::sleep(MIN).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn discovery_down_gives_503_and_recovers() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    issuer.set_down(Endpoint::Metadata, true);
    issuer.set_down(Endpoint::OpenIdConfiguration, true);
    let verifier = discovering(&issuer);
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));
    assert_unavailable(verifier.verify(&token).await, "discovery down");
    assert!(
        verifier
            .authorization_server_metadata(issuer.issuer())
            .await
            .unwrap_err()
            .is_unavailable()
    );
    assert_eq!(issuer.requests(Endpoint::Jwks), 0);

    // Control: once the documents are back, discovery and the same token succeed.
    issuer.set_down(Endpoint::Metadata, false);
    issuer.set_down(Endpoint::OpenIdConfiguration, false);
    tokio::time::sleep(MIN).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn a_cancelled_request_does_not_cancel_the_key_fetch() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    issuer.set_delay(Endpoint::Jwks, Duration::from_millis(600));
    let verifier = builder(&issuer).build().expect("builds");
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));

    // The first request gives up (a client disconnect, or the layer's timeout) mid-fetch.
    let gave_up = tokio::time::timeout(Duration::from_millis(100), verifier.verify(&token)).await;
    assert!(gave_up.is_err(), "the first request was cut off");

    // The fetch it started goes on; the next request waits for it instead of getting 503.
    let info = verifier
        .verify(&token)
        .await
        .expect("the detached fetch delivers the keys");
    assert!(info.audiences().iter().any(|a| a == AUD));
    assert_eq!(issuer.requests(Endpoint::Jwks), 1, "one fetch, shared");
}

/// `Duration::MAX` in a time setting means "never" (taken as 100 years): tokens are checked
/// as with any other setting, with no clock overflow, in the request or in the key fetch.
#[tokio::test]
async fn duration_max_settings_mean_never_and_verify_as_usual() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .leeway(Duration::MAX)
        .jwks_refresh_interval(Duration::MAX)
        .jwks_min_refresh_interval(Duration::MAX)
        .jwks_max_refresh_interval(Duration::MAX)
        .jwks_max_staleness(Duration::MAX)
        .token_cache_capacity(0)
        .build()
        .expect("builds");
    for _ in 0..3 {
        assert!(accepts(&verifier, &key, "k1", issuer.issuer()).await);
    }
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        1,
        "the set is kept: never refreshed"
    );
    // Still refused: a forged signature, and an unknown key (no second fetch, whose rate
    // limit is "never").
    let other = TestKey::es256();
    let forged = verifier
        .verify(&other.sign(Some("k1"), &claims(issuer.issuer(), AUD)))
        .await
        .unwrap_err();
    assert!(forged.is_invalid_token(), "{forged:?}");
    let unknown = verifier
        .verify(&other.sign(Some("k2"), &claims(issuer.issuer(), AUD)))
        .await;
    assert!(unknown.is_err());
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
}

/// Metadata found by discovery is not kept past a failed fetch of the key set it names: when
/// the authorization server fixes its metadata (a key set moved, a `jwks_uri` added), the
/// next attempt discovers again and the same token is accepted, without a restart.
#[tokio::test]
async fn discovered_metadata_that_leads_nowhere_is_discovered_again() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));
    let broken = |jwks_uri: Option<&str>| {
        let mut metadata = issuer.metadata();
        match jwks_uri {
            Some(uri) => metadata["jwks_uri"] = json!(uri),
            None => {
                metadata
                    .as_object_mut()
                    .expect("an object")
                    .remove("jwks_uri");
            }
        }
        metadata
    };
    // A key set moved off a port nothing listens on (port 9: discard), then metadata naming
    // no key set at all.
    for (what, metadata) in [
        (
            "jwks_uri leads nowhere",
            broken(Some("http://127.0.0.1:9/jwks")),
        ),
        ("no jwks_uri", broken(None)),
    ] {
        let fetches = issuer.requests(Endpoint::Jwks);
        issuer.set_metadata_document(Some(metadata));
        let verifier = discovering(&issuer);
        assert_unavailable(verifier.verify(&token).await, what);
        assert_eq!(issuer.requests(Endpoint::Jwks), fetches, "{what}");
        // Control: the metadata is fixed; after the rate limit the same verifier discovers
        // again and accepts the token.
        issuer.set_metadata_document(None);
        tokio::time::sleep(MIN * 2).await;
        let verified = verifier.verify(&token).await;
        assert!(verified.is_ok(), "{what}: {verified:?}");
        assert_eq!(issuer.requests(Endpoint::Jwks), fetches + 1, "{what}");
    }
}
