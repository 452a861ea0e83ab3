//! The attack table through the layer: `JwtVerifier` behind `McpAuth`, keys served by the dev
//! issuer over loopback HTTP, each case asserting the exact status, `error` code in the
//! challenge and in the body, and whether the inner service ran.

#![cfg(feature = "jwt")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod jwt_support;
mod layer_support;

use std::time::Duration;

use http::{StatusCode, header};
use mcp_auth::{
    McpAuth,
    testing::{DevIssuer, Endpoint},
    verifier::{JwtVerifier, jwt::TrustedIssuer},
};
use serde_json::{Value, json};

use jwt_support::{TestKey, b64, claims, hmac, issuer_with, now};
use layer_support::{App, RESOURCE, assert_unavailable, body_error, error_code};

/// The status and `error` code a case must get.
type Expected = (StatusCode, Option<&'static str>);

/// `McpAuth` requiring `mcp:read`, with a `JwtVerifier` trusting `issuer` that may refetch
/// its keys every `min_refresh`.
fn app_refetching_after(issuer: &DevIssuer, min_refresh: Duration) -> App {
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .jwks_min_refresh_interval(min_refresh)
        .build()
        .unwrap();
    App::new(
        McpAuth::builder(RESOURCE)
            .authorization_server(issuer.issuer())
            .verifier(verifier)
            .required_scopes(["mcp:read"])
            .build()
            .unwrap(),
    )
}

/// [`app_refetching_after`] with the verifier's default interval.
fn app(issuer: &DevIssuer) -> App {
    app_refetching_after(issuer, Duration::from_secs(30))
}

#[tokio::test]
async fn attack_table_through_the_layer() {
    let key = TestKey::rsa();
    let ec = TestKey::es256();
    let attacker = TestKey::rsa();
    let issuer = issuer_with(vec![key.jwk(Some("k1")), ec.jwk(Some("ec"))]).await;
    let app = app(&issuer);
    let iss = issuer.issuer();
    let good = claims(iss, RESOURCE);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        f(&mut c);
        c
    };
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64(json!({"alg": alg, "typ": "at+jwt"}).to_string().as_bytes()),
            b64(good.to_string().as_bytes())
        )
    };
    let hs_input = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "kid": "k1"}).to_string().as_bytes()),
        b64(good.to_string().as_bytes())
    );
    let confusion = format!(
        "{hs_input}.{}",
        b64(&hmac(
            key.jwk(None).to_string().as_bytes(),
            hs_input.as_bytes()
        ))
    );
    let ec_input = format!(
        "{}.{}",
        b64(json!({"alg": "ES256", "kid": "ec"}).to_string().as_bytes()),
        b64(good.to_string().as_bytes())
    );
    let good_token = key.sign(Some("k1"), &good);
    let (head, rest) = good_token.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    let mut id_token = claims(iss, "client-1");
    id_token["nonce"] = json!("abc");

    let ok = (StatusCode::OK, None);
    let invalid = (StatusCode::UNAUTHORIZED, Some("invalid_token"));
    let cases: Vec<(&str, String, Expected)> = vec![
        ("valid", good_token.clone(), ok),
        (
            "valid with aud array",
            key.sign(
                Some("k1"),
                &with(&|c| c["aud"] = json!(["https://x.example", RESOURCE])),
            ),
            ok,
        ),
        ("valid es256", ec.sign(Some("ec"), &good), ok),
        ("alg none", unsigned("none"), invalid),
        ("alg NoNe", unsigned("NoNe"), invalid),
        ("hs256 with the rsa public key", confusion, invalid),
        // Issued before the key set was fetched: its key would be in the set (a forged kid
        // issued after the fetch is undecidable until the next fetch: tests/security.rs).
        (
            "forged kid",
            key.sign(
                Some("forged"),
                &with(&|c| c["iat"] = json!(now() - 600)),
            ),
            invalid,
        ),
        (
            "other key, same kid",
            attacker.sign(Some("k1"), &good),
            invalid,
        ),
        (
            "jku to attacker",
            attacker.sign_with_header(
                &json!({"alg": "RS256", "jku": "https://evil.example/jwks"}),
                &good,
            ),
            invalid,
        ),
        (
            "x5u to attacker",
            attacker.sign_with_header(
                &json!({"alg": "RS256", "x5u": "https://evil.example/c"}),
                &good,
            ),
            invalid,
        ),
        (
            "embedded jwk",
            attacker.sign_with_header(&json!({"alg": "RS256", "jwk": attacker.jwk(None)}), &good),
            invalid,
        ),
        (
            "unknown crit",
            key.sign_with_header(
                &json!({"alg": "RS256", "kid": "k1", "crit": ["x"], "x": 1}),
                &good,
            ),
            invalid,
        ),
        (
            "ecdsa r = s = 0",
            format!("{ec_input}.{}", b64(&[0; 64])),
            invalid,
        ),
        (
            "wrong aud",
            key.sign(
                Some("k1"),
                &with(&|c| c["aud"] = json!("https://other.example/mcp")),
            ),
            invalid,
        ),
        (
            "missing aud",
            key.sign(
                Some("k1"),
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("aud");
                }),
            ),
            invalid,
        ),
        (
            "wrong iss",
            key.sign(
                Some("k1"),
                &with(&|c| c["iss"] = json!("https://evil.example")),
            ),
            invalid,
        ),
        (
            "expired",
            key.sign(Some("k1"), &with(&|c| c["exp"] = json!(now() - 3600))),
            invalid,
        ),
        (
            "not yet valid",
            key.sign(Some("k1"), &with(&|c| c["nbf"] = json!(now() + 3600))),
            invalid,
        ),
        (
            "non-canonical base64",
            format!("{head}.{payload}.{sig}A"),
            invalid,
        ),
        (
            "broken base64 (token68 chars)",
            format!("{head}.{payload}~.{sig}"),
            invalid,
        ),
        (
            "standard alphabet",
            format!("{head}.{payload}.{sig}+/"),
            invalid,
        ),
        (
            "not token68 at all",
            format!("{head}.{payload}!.{sig}"),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
        ),
        (
            "deeply nested claims",
            key.sign_raw(
                &json!({"alg": "RS256", "kid": "k1"}).to_string(),
                &format!(
                    r#"{{"iss":"{iss}","aud":"{RESOURCE}","exp":{},"x":{}1{}}}"#,
                    now() + 300,
                    "[".repeat(200),
                    "]".repeat(200)
                ),
            ),
            invalid,
        ),
        (
            "aud array without the resource",
            key.sign(
                Some("k1"),
                &with(&|c| c["aud"] = json!(["https://a.example/mcp", "https://b.example/mcp"])),
            ),
            invalid,
        ),
        (
            "x5c with an attacker key",
            attacker.sign_with_header(
                &json!({"alg": "RS256", "kid": "k1", "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
                &good,
            ),
            invalid,
        ),
        (
            "id token as access token",
            key.sign_with_header(
                &json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}),
                &id_token,
            ),
            invalid,
        ),
        (
            "insufficient scope",
            key.sign(Some("k1"), &with(&|c| c["scope"] = json!("files:read"))),
            (StatusCode::FORBIDDEN, Some("insufficient_scope")),
        ),
    ];
    for (name, token, (status, error)) in cases {
        let inner_calls = app.inner_calls();
        let res = app.call(&token).await;
        assert_eq!(res.status(), status, "{name}");
        assert_eq!(error_code(&res).as_deref(), error, "{name}");
        if status == StatusCode::OK {
            assert_eq!(
                app.inner_calls(),
                inner_calls + 1,
                "{name}: inner service ran"
            );
            assert_eq!(res.body().as_ref(), b"ok", "{name}");
            continue;
        }
        assert_eq!(
            app.inner_calls(),
            inner_calls,
            "{name}: inner service not called"
        );
        assert_eq!(body_error(&res).as_deref(), error, "{name}: body");
        let challenge = res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.starts_with(
                "Bearer resource_metadata=\"http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp\""
            ),
            "{name}: {challenge}"
        );
        assert!(!challenge.contains(&token), "{name}: token echoed");
    }
    // Every key was fetched once, and forged kids did not cost a fetch each.
    assert!(
        issuer.requests(Endpoint::Jwks) <= 2,
        "{}",
        issuer.requests(Endpoint::Jwks)
    );
}

#[tokio::test]
async fn huge_token_is_rejected_cheaply() {
    let key = TestKey::rsa();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let app = app(&issuer);
    let token = format!(
        "{}.{}.{}",
        "A".repeat(10),
        "A".repeat(100_000),
        "A".repeat(10)
    );
    let res = app.call(&token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_token"));
    assert_eq!(body_error(&res).as_deref(), Some("invalid_token"));
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        0,
        "no key lookup for an oversized token"
    );
    assert_eq!(app.inner_calls(), 0);

    // Control: a token of ordinary size is looked up and accepted.
    let res = app
        .call(&key.sign(Some("k1"), &claims(issuer.issuer(), RESOURCE)))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
    assert_eq!(app.inner_calls(), 1);
}

#[tokio::test]
async fn jwks_down_gives_503_with_retry_after_then_recovers() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    issuer.set_down(Endpoint::Jwks, true);
    let app = app_refetching_after(&issuer, Duration::from_millis(100));
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), RESOURCE));
    let res = app.call(&token).await;
    assert_unavailable(&res);
    assert_eq!(app.inner_calls(), 0, "never a pass");
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);

    // Control: the same request passes once the server is up, through the same layer.
    issuer.set_down(Endpoint::Jwks, false);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let res = app.call(&token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.inner_calls(), 1);
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
}

#[tokio::test]
async fn authorization_server_down_then_back_recovers_without_restarting_the_layer() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let app = app_refetching_after(&issuer, Duration::from_millis(100));
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), RESOURCE));
    issuer.stop().await;
    let res = app.call(&token).await;
    assert_unavailable(&res);
    assert_eq!(app.inner_calls(), 0);

    issuer.restart().await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(app.call(&token).await.status(), StatusCode::OK);
    assert_eq!(app.inner_calls(), 1);
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn deeply_nested_claims_are_refused_by_the_parser_not_by_size() {
    let key = TestKey::rsa();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let app = app(&issuer);
    let iss = issuer.issuer();
    let payload = |x: &str| {
        format!(
            r#"{{"iss":"{iss}","aud":"{RESOURCE}","exp":{},"scope":"mcp:read","x":{x}}}"#,
            now() + 300,
        )
    };
    let header = json!({"alg": "RS256", "kid": "k1"}).to_string();
    let nested = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let token = key.sign_raw(&header, &payload(&nested));
    assert!(token.len() < 8_192, "fits under every size limit");
    let res = app.call(&token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(
        challenge.contains("error_description=\"token is malformed\""),
        "{challenge}"
    );
    assert_eq!(body_error(&res).as_deref(), Some("invalid_token"));
    assert_eq!(app.inner_calls(), 0);

    // Control: the same claims with a shallow `x` pass.
    let res = app.call(&key.sign_raw(&header, &payload("[[1]]"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.inner_calls(), 1);
}

#[tokio::test]
async fn the_metadata_lists_the_verifiers_issuers() {
    let issuer = issuer_with(vec![]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .issuer(TrustedIssuer::jwks_uri(
            "https://other.example.com",
            "https://other.example.com/jwks",
        ))
        .build()
        .unwrap();
    // No `authorization_server(..)`: the verifier's trusted issuers are the metadata's.
    let auth = McpAuth::builder(RESOURCE)
        .verifier(verifier.clone())
        .build()
        .unwrap();
    assert_eq!(
        auth.metadata().authorization_servers(),
        [issuer.issuer(), "https://other.example.com"]
    );
    // Configured ones come first and are not repeated.
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server("https://other.example.com")
        .verifier(verifier)
        .build()
        .unwrap();
    assert_eq!(
        auth.metadata().authorization_servers(),
        ["https://other.example.com", issuer.issuer()]
    );
    assert_eq!(issuer.requests(Endpoint::Jwks), 0, "listing costs no fetch");
}
