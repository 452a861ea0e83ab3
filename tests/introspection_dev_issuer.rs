//! End to end against the dev issuer: `IntrospectionVerifier` with a discovered endpoint, and
//! `JwtOrIntrospection` behind `McpAuth`. `VerifierChain` is tested in `chain.rs`.

#![cfg(all(feature = "introspection", feature = "jwt", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod layer_support;

use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use mcp_auth::{
    McpAuth, TokenVerifier,
    testing::{DevIssuer, Endpoint},
    verifier::{IntrospectionVerifier, JwtOrIntrospection, JwtVerifier},
};

use layer_support::{App, RESOURCE, assert_unavailable, dev_issuer};
/// How long a valid answer is cached: long enough for the calls that must hit the cache to do
/// so on a loaded machine.
const MAX_TTL: Duration = Duration::from_millis(1500);

/// `auth` around the counting inner service, called with `token`.
async fn call(auth: &McpAuth, token: &str) -> Response<Bytes> {
    App::new(auth.clone()).call(token).await
}

#[tokio::test]
async fn discovered_endpoint_verifies_opaque_tokens_from_the_dev_issuer() {
    let issuer = dev_issuer().await;
    let verifier = IntrospectionVerifier::builder()
        .discover(issuer.issuer())
        .client_secret_basic("rs", "rs-secret")
        .cache_max_ttl(MAX_TTL)
        .build()
        .unwrap();
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server(issuer.issuer())
        .verifier(verifier.clone())
        .required_scopes(["mcp:read"])
        .build()
        .unwrap();

    let token = issuer.opaque_token(&issuer.token().subject("alice").scopes(["mcp:read"]));
    assert_eq!(call(&auth, &token).await.status(), StatusCode::OK);
    assert_eq!(call(&auth, &token).await.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);
    assert_eq!(
        issuer.requests(Endpoint::Metadata),
        1,
        "discovery happens once"
    );
    let info = verifier.verify(&token).await.unwrap();
    assert_eq!(info.subject(), Some("alice"));
    assert_eq!(info.issuer(), Some(issuer.issuer()));

    // Not enough scope: 403, naming the scope to ask for.
    let weak = issuer.opaque_token(&issuer.token().subject("bob").scopes(["other"]));
    let res = call(&auth, &weak).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains("scope=\"mcp:read\"")
            && challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );

    // Revoked: honoured until the cache entry ends, then 401 (the cache keeps its own clock, so
    // this is a real wait).
    issuer.revoke(&token);
    tokio::time::sleep(MAX_TTL + Duration::from_millis(250)).await;
    let res = call(&auth, &token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    // Introspection down: a new token gets 503, then works once the endpoint is back.
    let fresh = issuer.opaque_token(&issuer.token().subject("carol").scopes(["mcp:read"]));
    issuer.set_down(Endpoint::Introspection, true);
    let calls = issuer.requests(Endpoint::Introspection);
    let res = call(&auth, &fresh).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_unavailable(&res);
    assert!(res.headers().get(header::WWW_AUTHENTICATE).is_none());
    assert_eq!(issuer.requests(Endpoint::Introspection), calls + 1);
    issuer.set_down(Endpoint::Introspection, false);
    assert_eq!(call(&auth, &fresh).await.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Introspection), calls + 2);

    // Wrong client secret: the server refuses us, which is our problem, not the client's.
    let misconfigured = McpAuth::builder(RESOURCE)
        .authorization_server(issuer.issuer())
        .verifier(IntrospectionVerifier::discover(issuer.issuer(), "rs", "wrong").unwrap())
        .build()
        .unwrap();
    assert_eq!(
        call(&misconfigured, &fresh).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

/// How long after a discovery the next one may run, in the tests that wait for it.
const RETRY: Duration = Duration::from_millis(400);

/// A verifier that discovers `issuer`'s endpoint, at most once per [`RETRY`].
fn discovering(issuer: &DevIssuer) -> IntrospectionVerifier {
    IntrospectionVerifier::builder()
        .discover(issuer.issuer())
        .client_secret_basic("rs", "rs-secret")
        .discovery_retry_interval(RETRY)
        .build()
        .unwrap()
}

/// While discovery fails, every request is `503` with a `Retry-After`, and the server is
/// asked once per retry interval, not once per request (a flood of new tokens is no flood of
/// metadata requests); once it answers, the same request passes without a new verifier.
#[tokio::test]
async fn discovery_waits_for_the_server_and_fails_with_503() {
    let issuer = dev_issuer().await;
    issuer.set_down(Endpoint::Metadata, true);
    issuer.set_down(Endpoint::OpenIdConfiguration, true);
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server(issuer.issuer())
        .verifier(discovering(&issuer))
        .build()
        .unwrap();
    for i in 0..5 {
        let token = issuer.opaque_token(&issuer.token().scopes(["mcp:read"]));
        let res = call(&auth, &token).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{i}");
        assert_unavailable(&res);
        assert!(res.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
    // Both discovery documents were tried once, and nothing was introspected.
    assert_eq!(issuer.requests(Endpoint::Metadata), 1);
    assert_eq!(issuer.requests(Endpoint::OpenIdConfiguration), 1);
    assert_eq!(issuer.requests(Endpoint::Introspection), 0);

    // Control: once the server is up and the interval has passed, the same request passes,
    // without a new verifier.
    issuer.set_down(Endpoint::Metadata, false);
    issuer.set_down(Endpoint::OpenIdConfiguration, false);
    tokio::time::sleep(RETRY + Duration::from_millis(100)).await;
    let token = issuer.opaque_token(&issuer.token().scopes(["mcp:read"]));
    assert_eq!(call(&auth, &token).await.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Metadata), 2);
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);
}

/// An endpoint the authorization server moved is found again: once the discovered one has
/// failed to answer and the retry interval has passed since the last discovery, the next call
/// discovers again. Until then the endpoint found is kept (a failing server costs no
/// discovery per request).
#[tokio::test]
async fn a_moved_introspection_endpoint_is_discovered_again() {
    let issuer = dev_issuer().await;
    let mut moved = issuer.metadata();
    // Port 9 (discard): nothing answers there.
    moved["introspection_endpoint"] = serde_json::json!("http://127.0.0.1:9/introspect");
    issuer.set_metadata_document(Some(moved));
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server(issuer.issuer())
        .verifier(discovering(&issuer))
        .build()
        .unwrap();
    let token = issuer.opaque_token(&issuer.token().scopes(["mcp:read"]));
    for _ in 0..3 {
        let res = call(&auth, &token).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_unavailable(&res);
    }
    assert_eq!(
        issuer.requests(Endpoint::Metadata),
        1,
        "kept within the interval"
    );

    // The server fixes its metadata. Past the interval, the next call discovers again and
    // passes.
    issuer.set_metadata_document(None);
    tokio::time::sleep(RETRY + Duration::from_millis(100)).await;
    assert_eq!(call(&auth, &token).await.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Metadata), 2);
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);
}

/// An endpoint found stays in use while the server is down, even when a discovery in
/// between fails: the moment the server answers again, so does the layer (no wait for the
/// retry interval).
#[tokio::test]
async fn a_found_endpoint_serves_again_as_soon_as_the_server_is_back() {
    let issuer = dev_issuer().await;
    let verifier = IntrospectionVerifier::builder()
        .discover(issuer.issuer())
        .client_secret_basic("rs", "rs-secret")
        .discovery_retry_interval(RETRY)
        .cache_capacity(0)
        .build()
        .unwrap();
    let token = issuer.opaque_token(&issuer.token().scopes(["mcp:read"]));
    assert!(verifier.verify(&token).await.is_ok());
    tokio::time::sleep(RETRY + Duration::from_millis(100)).await;
    issuer.stop().await;
    // The endpoint fails; the next call may discover again, which fails too.
    for _ in 0..2 {
        let err = verifier.verify(&token).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
    }
    // Control: the server is back, and the very next call passes.
    issuer.restart().await.unwrap();
    let verified = verifier.verify(&token).await;
    assert!(verified.is_ok(), "{verified:?}");
}

/// A discovery runs to its end whatever happens to the caller that started it: callers that
/// give up one after another cost one discovery, and the caller after them is served by it.
#[tokio::test]
async fn abandoned_callers_share_one_discovery_that_still_serves() {
    let issuer = dev_issuer().await;
    issuer.set_delay(Endpoint::Metadata, Duration::from_millis(300));
    let verifier = IntrospectionVerifier::builder()
        .discover(issuer.issuer())
        .client_secret_basic("rs", "rs-secret")
        .build()
        .unwrap();
    for _ in 0..5 {
        let garbage = tokio::time::timeout(
            Duration::from_millis(20),
            verifier.verify("garbage-opaque-token"),
        )
        .await;
        assert!(garbage.is_err(), "abandoned while the discovery runs");
    }
    let token = issuer.opaque_token(&issuer.token().scopes(["mcp:read"]));
    let verified = verifier.verify(&token).await;
    assert!(verified.is_ok(), "{verified:?}");
    assert_eq!(issuer.requests(Endpoint::Metadata), 1, "one discovery");
}

#[tokio::test]
async fn jwt_or_introspection_routes_by_shape_and_trusted_issuer() {
    let issuer = dev_issuer().await;
    let stranger = DevIssuer::builder()
        .default_resource(RESOURCE)
        .start()
        .await
        .unwrap();
    let verifier = JwtOrIntrospection::new(
        JwtVerifier::discover(issuer.issuer()).unwrap(),
        IntrospectionVerifier::discover(issuer.issuer(), "rs", "rs-secret").unwrap(),
    );
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server(issuer.issuer())
        .verifier(verifier)
        .required_scopes(["mcp:read"])
        .build()
        .unwrap();

    // A JWT from the trusted issuer: verified locally, no introspection.
    let jwt = issuer.token().subject("alice").scopes(["mcp:read"]).sign();
    assert_eq!(call(&auth, &jwt).await.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Introspection), 0);

    // A forged JWT claiming the trusted issuer: refused by the JWT verifier, not introspected.
    let forged = issuer
        .token()
        .subject("mallory")
        .scopes(["mcp:read"])
        .untrusted_key()
        .sign();
    assert_eq!(
        call(&auth, &forged).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(issuer.requests(Endpoint::Introspection), 0);

    // An opaque token: introspected.
    let opaque = issuer.opaque_token(&issuer.token().subject("bob").scopes(["mcp:read"]));
    assert_eq!(call(&auth, &opaque).await.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);

    // A JWT from an issuer neither verifier trusts is refused without any network call: a
    // token is only ever sent to the server that can have issued it.
    let foreign = stranger.token().subject("eve").scopes(["mcp:read"]).sign();
    assert_eq!(
        call(&auth, &foreign).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);
    assert_eq!(stranger.requests(Endpoint::Jwks), 0);
    assert_eq!(stranger.requests(Endpoint::Introspection), 0);
}

/// Replicas sharing answers through a store: a replica that learns an answer from another
/// forgets it when that replica does, so a revoked token stops working everywhere within
/// `cache_max_ttl` of the one call, not twice that.
#[tokio::test]
async fn a_shared_answer_is_forgotten_when_the_replica_that_asked_forgets_it() {
    let issuer = dev_issuer().await;
    let store = mcp_auth::store::MemoryStore::new(1_000);
    let replica = || {
        IntrospectionVerifier::builder()
            .discover(issuer.issuer())
            .client_secret_basic("rs", "rs-secret")
            .cache_max_ttl(Duration::from_secs(3))
            .shared_cache(store.clone())
            .build()
            .unwrap()
    };
    let (a, b) = (replica(), replica());
    let token = issuer.opaque_token(&issuer.token().subject("alice").scopes(["mcp:read"]));

    assert!(a.verify(&token).await.is_ok());
    let asked_at = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(b.verify(&token).await.is_ok(), "b learns a's answer");
    assert_eq!(
        issuer.requests(Endpoint::Introspection),
        1,
        "one call for both"
    );

    issuer.revoke(&token);
    // Past a's three seconds, well before b's own three would end (at 4 s).
    tokio::time::sleep(Duration::from_millis(3300).saturating_sub(asked_at.elapsed())).await;
    assert!(
        b.verify(&token).await.is_err(),
        "b asked again and learnt of the revocation"
    );
    assert!(a.verify(&token).await.is_err());
    assert!(issuer.requests(Endpoint::Introspection) >= 2);
}

/// Opaque tokens cannot be told apart by their form: an introspection verifier takes every
/// one as its own unless told which are its server's (`owns_tokens`). In a chain of two
/// authorization servers, the second's tokens went to the first, which refused them; with
/// `owns_tokens`, each server sees only its own tokens.
#[tokio::test]
async fn each_server_sees_only_the_opaque_tokens_it_owns() {
    use std::{
        collections::HashSet,
        sync::{Arc, Mutex},
    };

    use mcp_auth::verifier::VerifierChain;

    let (a, b) = (dev_issuer().await, dev_issuer().await);
    let issued_by_a: Arc<Mutex<HashSet<String>>> = Arc::default();
    let introspection = |issuer: &DevIssuer| {
        IntrospectionVerifier::builder()
            .endpoint(issuer.introspection_endpoint())
            .issuer(issuer.issuer())
            .client_secret_basic("rs", "rs-secret")
    };
    let layer = |first: IntrospectionVerifier| {
        McpAuth::builder(RESOURCE)
            .verifier(
                VerifierChain::new()
                    .with_verifier(first)
                    .with_verifier(introspection(&b).build().unwrap()),
            )
            .build()
            .unwrap()
    };
    let token_a = a.opaque_token(&a.token().subject("alice"));
    issued_by_a.lock().unwrap().insert(token_a.clone());
    let token_b = b.opaque_token(&b.token().subject("bob"));

    // Without `owns_tokens`, the first server is asked about every opaque token.
    let claims_all = layer(introspection(&a).build().unwrap());
    assert_eq!(
        call(&claims_all, &token_b).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        a.requests(Endpoint::Introspection),
        1,
        "b's token went to a"
    );
    assert_eq!(b.requests(Endpoint::Introspection), 0);

    // With it, b's token goes to b alone, and a's to a alone.
    let owned = Arc::clone(&issued_by_a);
    let first = introspection(&a)
        .owns_tokens(move |token| owned.lock().unwrap().contains(token))
        .build()
        .unwrap();
    assert!(format!("{first:?}").contains("owns_tokens: true"));
    let owns = layer(first);
    assert_eq!(call(&owns, &token_b).await.status(), StatusCode::OK);
    assert_eq!(a.requests(Endpoint::Introspection), 1, "a was not asked");
    assert_eq!(b.requests(Endpoint::Introspection), 1);
    assert_eq!(call(&owns, &token_a).await.status(), StatusCode::OK);
    assert_eq!(a.requests(Endpoint::Introspection), 2);
    assert_eq!(b.requests(Endpoint::Introspection), 1, "b was not asked");

    // `owns_tokens` changes its mind: a's cached acceptance is not served any more, not even
    // by the layer's fast path; the token goes on to b (which does not know it).
    issued_by_a.lock().unwrap().clear();
    assert_eq!(
        call(&owns, &token_a).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(a.requests(Endpoint::Introspection), 2, "a was not asked");
    assert_eq!(b.requests(Endpoint::Introspection), 2);
}
