//! End to end against the dev issuer: `IntrospectionVerifier` with a discovered endpoint, and
//! the compositions (`JwtOrIntrospection`, `VerifierChain`) behind `McpAuth`.

#![cfg(all(feature = "introspection", feature = "jwt", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use mcp_auth::{
    AuthInfo, McpAuth, TokenVerifier, VerifyError,
    testing::{DevIssuer, FnVerifier, StaticVerifier},
    verifier::{IntrospectionVerifier, JwtOrIntrospection, JwtVerifier, VerifierChain},
};
use tower::{Layer, ServiceExt, service_fn};

const RESOURCE: &str = "http://127.0.0.1:8080/mcp";
/// How long a valid answer is cached: long enough for the calls that must hit the cache to do
/// so on a loaded machine.
const MAX_TTL: Duration = Duration::from_millis(1500);

async fn call(auth: &McpAuth, token: &str) -> Response<()> {
    let inner = service_fn(
        |_req: Request<mcp_auth::body::RequestBody<Full<Bytes>>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        },
    );
    let req = Request::post(RESOURCE)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    auth.layer(inner).oneshot(req).await.unwrap().map(|_| ())
}

async fn issuer() -> DevIssuer {
    DevIssuer::builder()
        .client("rs", "rs-secret")
        .default_resource(RESOURCE)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn discovered_endpoint_verifies_opaque_tokens_from_the_dev_issuer() {
    let issuer = issuer().await;
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
    assert_eq!(issuer.introspection_requests(), 1);
    assert_eq!(issuer.metadata_requests(), 1, "discovery happens once");
    let info = verifier.verify(&token).await.unwrap();
    assert_eq!(info.subject(), Some("alice"));
    assert_eq!(info.issuer(), Some(issuer.issuer()));

    // Not enough scope: 403.
    let weak = issuer.opaque_token(&issuer.token().subject("bob").scopes(["other"]));
    assert_eq!(call(&auth, &weak).await.status(), StatusCode::FORBIDDEN);

    // Revoked: honoured until the cache entry ends, then 401 (moka keeps its own clock, so
    // this is a real wait).
    issuer.revoke(&token);
    tokio::time::sleep(MAX_TTL + Duration::from_millis(250)).await;
    assert_eq!(call(&auth, &token).await.status(), StatusCode::UNAUTHORIZED);

    // Introspection down: a new token gets 503, then works once the endpoint is back.
    let fresh = issuer.opaque_token(&issuer.token().subject("carol").scopes(["mcp:read"]));
    issuer.set_introspection_down(true);
    let res = call(&auth, &fresh).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    issuer.set_introspection_down(false);
    assert_eq!(call(&auth, &fresh).await.status(), StatusCode::OK);

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

#[tokio::test]
async fn discovery_waits_for_the_server_and_fails_with_503() {
    let issuer = issuer().await;
    issuer.set_metadata_down(true);
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server(issuer.issuer())
        .verifier(IntrospectionVerifier::discover(issuer.issuer(), "rs", "rs-secret").unwrap())
        .build()
        .unwrap();
    let token = issuer.opaque_token(&issuer.token().scopes(["mcp:read"]));
    assert_eq!(
        call(&auth, &token).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(issuer.introspection_requests(), 0);
    issuer.set_metadata_down(false);
    assert_eq!(call(&auth, &token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn jwt_or_introspection_routes_by_shape_and_trusted_issuer() {
    let issuer = issuer().await;
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
    assert_eq!(issuer.introspection_requests(), 0);

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
    assert_eq!(issuer.introspection_requests(), 0);

    // An opaque token: introspected.
    let opaque = issuer.opaque_token(&issuer.token().subject("bob").scopes(["mcp:read"]));
    assert_eq!(call(&auth, &opaque).await.status(), StatusCode::OK);
    assert_eq!(issuer.introspection_requests(), 1);

    // A JWT from an issuer neither verifier trusts is refused without any network call: a
    // token is only ever sent to the server that can have issued it.
    let foreign = stranger.token().subject("eve").scopes(["mcp:read"]).sign();
    assert_eq!(
        call(&auth, &foreign).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(issuer.introspection_requests(), 1);
    assert_eq!(stranger.jwks_requests(), 0);
    assert_eq!(stranger.introspection_requests(), 0);
}

#[tokio::test]
async fn metadata_lists_every_authorization_server() {
    let first = issuer().await;
    let second = issuer().await;
    // No `authorization_server(..)`: the chain reports both issuers itself.
    let auth = McpAuth::builder(RESOURCE)
        .verifier(
            VerifierChain::new()
                .with_verifier(JwtVerifier::discover(first.issuer()).unwrap())
                .with_verifier(
                    IntrospectionVerifier::discover(second.issuer(), "rs", "rs-secret").unwrap(),
                ),
        )
        .required_scopes(["mcp:read"])
        .build()
        .unwrap();
    assert_eq!(
        auth.metadata().authorization_servers(),
        [first.issuer(), second.issuer()]
    );
    // Tokens of both servers are accepted.
    let jwt = first.token().scopes(["mcp:read"]).sign();
    let opaque = second.opaque_token(&second.token().scopes(["mcp:read"]));
    assert_eq!(call(&auth, &jwt).await.status(), StatusCode::OK);
    assert_eq!(call(&auth, &opaque).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn chain_hands_a_token_on_only_when_it_is_foreign() {
    let ok = || {
        StaticVerifier::new().with_token(
            "good",
            AuthInfo::builder()
                .subject("alice")
                .audience(RESOURCE)
                .build(),
        )
    };
    let down = || FnVerifier::new(|_: &str| Err(VerifyError::unavailable("down")));
    let no = || FnVerifier::new(|_: &str| Err(VerifyError::invalid_token("no")));
    let foreign = || FnVerifier::new(|_: &str| Err(VerifyError::foreign_token("not mine")));

    struct Case {
        name: &'static str,
        first: Box<dyn Fn() -> VerifierChain>,
        token: &'static str,
        status: StatusCode,
        second_called: bool,
    }
    let then_ok = |first: VerifierChain| first;
    let cases = [
        Case {
            name: "foreign then acceptance",
            first: Box::new(move || VerifierChain::new().with_verifier(foreign())),
            token: "good",
            status: StatusCode::OK,
            second_called: true,
        },
        Case {
            name: "refusal: the token is not handed on",
            first: Box::new(move || VerifierChain::new().with_verifier(no())),
            token: "good",
            status: StatusCode::UNAUTHORIZED,
            second_called: false,
        },
        Case {
            name: "cannot decide: the token is not handed on",
            first: Box::new(move || VerifierChain::new().with_verifier(down())),
            token: "good",
            status: StatusCode::SERVICE_UNAVAILABLE,
            second_called: false,
        },
        Case {
            name: "all foreign",
            first: Box::new(move || VerifierChain::new().with_verifier(foreign())),
            token: "bad",
            status: StatusCode::UNAUTHORIZED,
            second_called: true,
        },
    ];
    for case in cases {
        let second = ok();
        let chain = then_ok((case.first)()).with_verifier(second.clone());
        let auth = McpAuth::builder(RESOURCE)
            .authorization_server("https://as.example.com")
            .verifier(chain)
            .build()
            .unwrap();
        assert_eq!(
            call(&auth, case.token).await.status(),
            case.status,
            "{}",
            case.name
        );
        assert_eq!(
            second.calls() > 0,
            case.second_called,
            "{}: second verifier asked",
            case.name
        );
    }
    let empty = McpAuth::builder(RESOURCE)
        .authorization_server("https://as.example.com")
        .verifier(VerifierChain::new())
        .build()
        .unwrap();
    assert_eq!(
        call(&empty, "good").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
