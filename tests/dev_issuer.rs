//! The dev issuer driven over real HTTP, as clients and resource servers see it.
#![cfg(feature = "testing")]

use std::time::{Duration, Instant};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use mcp_auth::testing::{DevIssuer, Endpoint, Fault, KeyAlgorithm, decode_unverified};
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const RESOURCE: &str = "http://127.0.0.1:3000/mcp";
const REDIRECT: &str = "http://127.0.0.1:4000/callback";
const VERIFIER: &str = "a-very-long-pkce-code-verifier-with-enough-entropy-0123456789";

fn http() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn issuer() -> DevIssuer {
    DevIssuer::builder()
        .client("app", "app-secret")
        .public_client("cli")
        .allowed_scopes(["mcp:read", "mcp:write", "notes:write"])
        .start()
        .await
        .expect("start")
}

/// POSTs a form to `url` (with Basic credentials when given); returns status and JSON body.
async fn post_form(
    url: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = http().post(url).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("send");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Redeems `code` for the public client `client_id` with `redirect_uri` and the PKCE
/// `verifier`; returns status and JSON body.
async fn redeem(
    issuer: &DevIssuer,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    post_form(&issuer.token_endpoint(), None, &form).await
}

/// A `refresh_token` grant for the public client `cli`, narrowed to `scope` when given;
/// returns status and JSON body.
async fn refresh(
    issuer: &DevIssuer,
    refresh_token: &str,
    scope: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", "cli"),
        ("refresh_token", refresh_token),
    ];
    form.extend(scope.map(|scope| ("scope", scope)));
    post_form(&issuer.token_endpoint(), None, &form).await
}

async fn get_json(url: &str) -> (StatusCode, Value) {
    let response = http().get(url).send().await.expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Verifies `token` the way a resource server does: JWKS from the issuer, jsonwebtoken.
async fn verify(issuer: &DevIssuer, token: &str, audience: &str) -> Result<Value, String> {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let (_, jwks) = get_json(&issuer.jwks_uri()).await;
    let jwks: JwkSet = serde_json::from_value(jwks).map_err(|e| e.to_string())?;
    let (header, _) = decode_unverified(token).ok_or("not a JWT")?;
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let jwk = jwks.find(kid).ok_or("unknown kid")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let alg = match header["alg"].as_str() {
        Some("ES256") => Algorithm::ES256,
        Some("RS256") => Algorithm::RS256,
        Some("EdDSA") => Algorithm::EdDSA,
        _ => return Err("unexpected alg".to_owned()),
    };
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[issuer.issuer()]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| format!("{:?}", e.kind()))
}

/// Runs `/authorize` and returns the redirect's query parameters.
async fn authorize(
    issuer: &DevIssuer,
    params: &[(&str, &str)],
) -> (StatusCode, Vec<(String, String)>) {
    let response = http()
        .get(issuer.authorization_endpoint())
        .query(params)
        .send()
        .await
        .expect("send");
    let status = response.status();
    let query = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| url::Url::parse(l).ok())
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    (status, query)
}

/// One row of a table-driven error test.
struct Case<'a> {
    name: &'a str,
    params: Vec<(&'a str, &'a str)>,
    error: &'a str,
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Gets a code for the public client `cli` with PKCE.
async fn code_for(issuer: &DevIssuer, client_id: &str, scope: &str) -> String {
    let challenge = challenge(VERIFIER);
    let (status, query) = authorize(
        issuer,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", scope),
            ("state", "xyz"),
            ("resource", RESOURCE),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    param(&query, "code").expect("code").to_owned()
}

#[tokio::test]
async fn metadata_advertises_every_endpoint_at_both_well_known_paths() {
    let issuer = issuer().await;
    let iss = issuer.issuer();
    let expected = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/jwks"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "registration_endpoint": format!("{iss}/register"),
        "scopes_supported": ["mcp:read", "mcp:write", "notes:write"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "RS256"],
    });
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let (status, body) = get_json(&format!("{iss}{path}")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, expected, "{path}");
    }
    assert!(iss.starts_with("http://127.0.0.1:") && !iss.ends_with('/'));
    assert_eq!(issuer.requests(Endpoint::Metadata), 1);
    assert_eq!(issuer.requests(Endpoint::OpenIdConfiguration), 1);
}

#[tokio::test]
async fn jwks_publishes_public_keys_and_follows_rotation() {
    let issuer = issuer().await;
    let (status, jwks) = get_json(&issuer.jwks_uri()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks, json!({ "keys": [issuer.signing_key().public_jwk()] }));
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    assert!(key.get("d").is_none());

    let old = issuer.token().audience(RESOURCE).sign();
    let _ = issuer.rotate_key();
    let new = issuer.token().audience(RESOURCE).sign();
    let (_, jwks) = get_json(&issuer.jwks_uri()).await;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
    assert!(verify(&issuer, &old, RESOURCE).await.is_ok());
    assert!(verify(&issuer, &new, RESOURCE).await.is_ok());

    issuer.retire_old_keys();
    assert_eq!(
        verify(&issuer, &old, RESOURCE).await,
        Err("unknown kid".to_owned())
    );
    assert!(verify(&issuer, &new, RESOURCE).await.is_ok());
    assert_eq!(issuer.requests(Endpoint::Jwks), 6);
}

#[tokio::test]
async fn every_key_algorithm_produces_verifiable_tokens() {
    for alg in [
        KeyAlgorithm::EdDsa,
        KeyAlgorithm::Es256,
        KeyAlgorithm::Rs256,
    ] {
        let issuer = DevIssuer::builder()
            .key_algorithm(alg)
            .client("app", "s")
            .start()
            .await
            .expect("start");
        let (status, body) = post_form(
            &issuer.token_endpoint(),
            Some(("app", "s")),
            &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{alg}");
        let token = body["access_token"].as_str().unwrap_or_default();
        assert!(verify(&issuer, token, RESOURCE).await.is_ok(), "{alg}");
    }
}

#[tokio::test]
async fn client_credentials_issues_an_rfc9068_jwt() {
    let issuer = issuer().await;
    let response = http()
        .post(issuer.token_endpoint())
        .basic_auth("app", Some("app-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "mcp:read notes:write"),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3_600);
    assert_eq!(body["scope"], "mcp:read notes:write");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh for client_credentials"
    );

    let token = body["access_token"].as_str().expect("token");
    let (header, claims) = decode_unverified(token).expect("jwt");
    assert_eq!(
        header,
        json!({"alg": "ES256", "typ": "at+jwt", "kid": issuer.signing_key().kid()})
    );
    let mut names: Vec<&str> = claims
        .as_object()
        .map(|c| c.keys().map(String::as_str).collect())
        .unwrap_or_default();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "aud",
            "client_id",
            "exp",
            "iat",
            "iss",
            "jti",
            "scope",
            "sub"
        ]
    );
    assert_eq!(claims["iss"], issuer.issuer());
    assert_eq!(claims["sub"], "app");
    assert_eq!(claims["client_id"], "app");
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["scope"], "mcp:read notes:write");
    assert_eq!(
        claims["exp"]
            .as_u64()
            .zip(claims["iat"].as_u64())
            .map(|(e, i)| e - i),
        Some(3_600)
    );
    assert!(verify(&issuer, token, RESOURCE).await.is_ok());
    assert_eq!(
        verify(&issuer, token, "http://127.0.0.1:3000/other").await,
        Err("InvalidAudience".to_owned())
    );
}

#[tokio::test]
async fn client_secret_post_works_and_mixing_methods_is_rejected() {
    let issuer = issuer().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "app"),
        ("client_secret", "app-secret"),
    ];
    let (status, body) = post_form(&issuer.token_endpoint(), None, &form).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["access_token"].is_string());

    let (status, body) =
        post_form(&issuer.token_endpoint(), Some(("app", "app-secret")), &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({
            "error": "invalid_request",
            "error_description": "use one client authentication method, not several",
        })
    );
}

#[tokio::test]
async fn bad_client_credentials_get_401_invalid_client() {
    let issuer = issuer().await;
    let form = [("grant_type", "client_credentials")];
    for basic in [Some(("app", "wrong")), Some(("nobody", "x")), None] {
        let response = {
            let mut request = http().post(issuer.token_endpoint()).form(&form);
            if let Some((id, secret)) = basic {
                request = request.basic_auth(id, Some(secret));
            }
            request.send().await.expect("send")
        };
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{basic:?}");
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"dev-issuer\""
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "invalid_client", "{basic:?}");
    }
    // A public client has no secret to send, and must not get client_credentials.
    let (status, body) = post_form(
        &issuer.token_endpoint(),
        None,
        &[("grant_type", "client_credentials"), ("client_id", "cli")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unauthorized_client");

    // Control: the same request with the right credentials.
    let (status, body) =
        post_form(&issuer.token_endpoint(), Some(("app", "app-secret")), &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());
    assert_eq!(issuer.requests(Endpoint::Token), 5);
}

#[tokio::test]
async fn authorization_code_with_pkce_completes_and_the_code_is_single_use() {
    let issuer = issuer().await;
    let challenge = challenge(VERIFIER);
    let (status, query) = authorize(
        &issuer,
        &[
            ("response_type", "code"),
            ("client_id", "cli"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "mcp:read"),
            ("state", "state-123"),
            ("resource", RESOURCE),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    let names: Vec<&str> = query.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["code", "state", "iss"]);
    assert_eq!(param(&query, "state"), Some("state-123"));
    assert_eq!(param(&query, "iss"), Some(issuer.issuer()));
    let code = param(&query, "code").expect("code");

    let (status, body) = redeem(&issuer, "cli", code, REDIRECT, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "mcp:read");
    assert!(body["refresh_token"].is_string());
    let token = body["access_token"].as_str().expect("token");
    let claims = verify(&issuer, token, RESOURCE).await.expect("valid");
    assert_eq!(claims["sub"], "dev-user");
    assert_eq!(claims["client_id"], "cli");
    assert_eq!(claims["aud"], RESOURCE);

    let (status, body) = redeem(&issuer, "cli", code, REDIRECT, VERIFIER).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "unknown, used or expired code"})
    );
}

#[tokio::test]
async fn wrong_code_verifier_or_redirect_uri_is_invalid_grant() {
    let issuer = issuer().await;
    let cases = [
        (
            "wrong verifier",
            "another-long-pkce-code-verifier-that-does-not-match-0000",
            REDIRECT,
        ),
        (
            "wrong redirect_uri",
            VERIFIER,
            "http://127.0.0.1:4000/elsewhere",
        ),
    ];
    for (name, verifier, redirect) in cases {
        let code = code_for(&issuer, "cli", "mcp:read").await;
        let (status, body) = redeem(&issuer, "cli", &code, redirect, verifier).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(body["error"], "invalid_grant", "{name}");
        // The failed attempt spent the code.
        let (status, _) = redeem(&issuer, "cli", &code, REDIRECT, VERIFIER).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
    }
    // A code issued to one client cannot be redeemed by another.
    let code = code_for(&issuer, "cli", "mcp:read").await;
    let (status, body) = post_form(
        &issuer.token_endpoint(),
        Some(("app", "app-secret")),
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Control: a fresh code redeemed by its client with the right verifier and redirect.
    let code = code_for(&issuer, "cli", "mcp:read").await;
    let (status, body) = redeem(&issuer, "cli", &code, REDIRECT, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn authorize_reports_errors_by_redirect_or_directly() {
    let issuer = issuer().await;
    let challenge = challenge(VERIFIER);
    // Redirected errors carry state and iss.
    let cases = [
        Case {
            name: "no PKCE",
            params: vec![],
            error: "invalid_request",
        },
        Case {
            name: "plain PKCE",
            params: vec![
                ("code_challenge", &challenge),
                ("code_challenge_method", "plain"),
            ],
            error: "invalid_request",
        },
        Case {
            name: "token response type",
            params: vec![("response_type", "token")],
            error: "unsupported_response_type",
        },
        Case {
            name: "scope not allowed",
            params: vec![
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("scope", "admin"),
            ],
            error: "invalid_scope",
        },
    ];
    for Case {
        name,
        params: extra,
        error,
    } in cases
    {
        let mut params = vec![
            ("client_id", "cli"),
            ("redirect_uri", REDIRECT),
            ("state", "s1"),
        ];
        if !extra.iter().any(|(n, _)| *n == "response_type") {
            params.push(("response_type", "code"));
        }
        params.extend(extra);
        let (status, query) = authorize(&issuer, &params).await;
        assert_eq!(status, StatusCode::FOUND, "{name}");
        assert_eq!(param(&query, "error"), Some(error), "{name}");
        assert_eq!(param(&query, "state"), Some("s1"), "{name}");
        assert_eq!(param(&query, "iss"), Some(issuer.issuer()), "{name}");
        assert_eq!(param(&query, "code"), None, "{name}");
    }
    // Untrusted client or redirect: no redirect at all.
    for (name, client, redirect) in [
        ("unknown client", "nobody", REDIRECT),
        ("relative redirect", "cli", "/callback"),
    ] {
        let response = http()
            .get(issuer.authorization_endpoint())
            .query(&[
                ("response_type", "code"),
                ("client_id", client),
                ("redirect_uri", redirect),
            ])
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name}");
        assert!(response.headers().get(header::LOCATION).is_none(), "{name}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "invalid_request", "{name}");
    }
    // Control: the same request with PKCE and a known client gets a code.
    let (status, query) = authorize(
        &issuer,
        &[
            ("response_type", "code"),
            ("client_id", "cli"),
            ("redirect_uri", REDIRECT),
            ("state", "s1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(param(&query, "code").is_some_and(|code| !code.is_empty()));
    assert_eq!(param(&query, "error"), None);
    assert_eq!(issuer.requests(Endpoint::Authorize), 7);
}

#[tokio::test]
async fn refresh_token_rotates_and_may_narrow_scope() {
    let issuer = issuer().await;
    let code = code_for(&issuer, "cli", "mcp:read mcp:write").await;
    let (_, body) = redeem(&issuer, "cli", &code, REDIRECT, VERIFIER).await;
    let first = body["refresh_token"].as_str().expect("refresh").to_owned();

    let (status, body) = refresh(&issuer, &first, Some("mcp:read")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "mcp:read");
    let second = body["refresh_token"].as_str().expect("rotated").to_owned();
    assert_ne!(first, second);
    let claims = verify(
        &issuer,
        body["access_token"].as_str().unwrap_or_default(),
        RESOURCE,
    )
    .await
    .expect("valid");
    assert_eq!(claims["scope"], "mcp:read");

    // The spent refresh token is dead.
    let (status, body) = refresh(&issuer, &first, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Scope cannot grow beyond the grant.
    let (status, body) = refresh(&issuer, &second, Some("mcp:read mcp:write")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );

    // Another client cannot use it.
    let (status, body) = post_form(
        &issuer.token_endpoint(),
        Some(("app", "app-secret")),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", second.as_str()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Control: the refused requests did not spend it; its own client still can.
    let (status, body) = refresh(&issuer, &second, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "mcp:read", "the narrowed grant");
}

#[tokio::test]
async fn dynamic_registration_then_tokens() {
    let issuer = issuer().await;
    // A confidential machine client.
    let response = http()
        .post(issuer.registration_endpoint())
        .json(&json!({
            "client_name": "robot",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_post",
        }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    let reg: Value = response.json().await.expect("json");
    assert_eq!(reg["client_name"], "robot");
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(reg["client_secret_expires_at"], 0);
    let (id, secret) = (
        reg["client_id"].as_str().expect("id"),
        reg["client_secret"].as_str().expect("secret"),
    );
    let (status, body) = post_form(
        &issuer.token_endpoint(),
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", "mcp:read"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = decode_unverified(body["access_token"].as_str().unwrap_or_default())
        .expect("jwt")
        .1;
    assert_eq!(claims["client_id"], id);
    // Registered for client_credentials only.
    let (status, body) = post_form(
        &issuer.token_endpoint(),
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", id),
            ("client_secret", secret),
            ("refresh_token", "x"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );

    // A public client as MCP clients register themselves: authorization code with PKCE.
    let (status, reg) = {
        let response = http()
            .post(issuer.registration_endpoint())
            .json(&json!({
                "redirect_uris": ["http://127.0.0.1/callback"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
            }))
            .send()
            .await
            .expect("send");
        (
            response.status(),
            response.json::<Value>().await.expect("json"),
        )
    };
    assert_eq!(status, StatusCode::CREATED);
    assert!(reg.get("client_secret").is_none());
    let id = reg["client_id"].as_str().expect("id");
    // Loopback redirect URIs match on any port (RFC 8252 §7.3).
    let code = code_for(&issuer, id, "mcp:read").await;
    let (status, body) = redeem(&issuer, id, &code, REDIRECT, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn dynamic_registration_rejects_bad_metadata() {
    let issuer = issuer().await;
    let cases = [
        ("no redirect_uris", json!({}), "invalid_redirect_uri"),
        (
            "relative redirect",
            json!({"redirect_uris": ["/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            "not strings",
            json!({"redirect_uris": [1]}),
            "invalid_client_metadata",
        ),
        (
            "unknown auth method",
            json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        ("not an object", json!(["x"]), "invalid_client_metadata"),
    ];
    for (name, body, error) in cases {
        let response = http()
            .post(issuer.registration_endpoint())
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], error, "{name}");
    }
    let response = http()
        .post(issuer.registration_endpoint())
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Control: well-formed metadata registers.
    let response = http()
        .post(issuer.registration_endpoint())
        .json(&json!({"redirect_uris": ["http://127.0.0.1/cb"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    assert!(body["client_id"].is_string() && body["client_secret"].is_string());
}

#[tokio::test]
async fn introspection_reports_active_and_inactive_tokens() {
    let issuer = issuer().await;
    let (_, body) = post_form(
        &issuer.token_endpoint(),
        Some(("app", "app-secret")),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "mcp:read"),
            ("resource", RESOURCE),
        ],
    )
    .await;
    let token = body["access_token"].as_str().expect("token").to_owned();
    let introspect = |token: String| {
        let url = issuer.introspection_endpoint();
        async move {
            post_form(
                &url,
                Some(("app", "app-secret")),
                &[("token", token.as_str())],
            )
            .await
        }
    };

    let (status, body) = introspect(token.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["active"], true);
    assert_eq!(body["iss"], issuer.issuer());
    assert_eq!(body["sub"], "app");
    assert_eq!(body["client_id"], "app");
    assert_eq!(body["aud"], RESOURCE);
    assert_eq!(body["scope"], "mcp:read");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["exp"].is_u64() && body["iat"].is_u64() && body["jti"].is_string());

    let inactive = json!({ "active": false });
    for (name, token) in [
        ("garbage", "not-a-token".to_owned()),
        ("expired", issuer.token().expired().sign()),
        ("not yet valid", issuer.token().not_yet_valid().sign()),
        ("untrusted key", issuer.token().untrusted_key().sign()),
        ("tampered", issuer.token().tamper_payload().sign()),
        ("alg none", issuer.token().alg_none().sign()),
        ("foreign issuer", issuer.token().wrong_issuer().sign()),
    ] {
        assert_eq!(
            introspect(token).await,
            (StatusCode::OK, inactive.clone()),
            "{name}"
        );
    }
    issuer.revoke(&token);
    assert_eq!(introspect(token).await, (StatusCode::OK, inactive));

    // Client authentication is required.
    let (status, body) = post_form(&issuer.introspection_endpoint(), None, &[("token", "x")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert_eq!(issuer.requests(Endpoint::Introspection), 10);
}

#[tokio::test]
async fn opaque_tokens_are_only_understood_by_introspection() {
    let issuer = DevIssuer::builder()
        .client("app", "s")
        .opaque_tokens(true)
        .default_resource(RESOURCE)
        .start()
        .await
        .expect("start");
    let (status, body) = post_form(
        &issuer.token_endpoint(),
        Some(("app", "s")),
        &[("grant_type", "client_credentials"), ("scope", "mcp:read")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = body["access_token"].as_str().expect("token");
    assert!(decode_unverified(token).is_none());
    let (status, body) = post_form(
        &issuer.introspection_endpoint(),
        None,
        &[
            ("token", token),
            ("client_id", "app"),
            ("client_secret", "s"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["active"], true);
    assert_eq!(body["aud"], RESOURCE);
    assert_eq!(body["scope"], "mcp:read");
    assert_eq!(body["sub"], "app");
}

#[tokio::test]
async fn resource_becomes_aud_and_can_be_required() {
    let issuer = DevIssuer::builder()
        .client("app", "s")
        .require_resource(true)
        .start()
        .await
        .expect("start");
    let url = issuer.token_endpoint();
    let (status, body) = post_form(
        &url,
        Some(("app", "s")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_target", "error_description": "resource is required"})
    );
    let (status, body) = post_form(
        &url,
        Some(("app", "s")),
        &[
            ("grant_type", "client_credentials"),
            ("resource", "not a uri"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
    let (status, body) = post_form(
        &url,
        Some(("app", "s")),
        &[
            ("grant_type", "client_credentials"),
            ("resource", RESOURCE),
            ("resource", "http://127.0.0.1:3001/mcp"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let claims = decode_unverified(body["access_token"].as_str().unwrap_or_default())
        .expect("jwt")
        .1;
    assert_eq!(
        claims["aud"],
        json!([RESOURCE, "http://127.0.0.1:3001/mcp"])
    );

    // Without a resource and without a default, the token has no audience.
    let open = DevIssuer::builder()
        .client("app", "s")
        .start()
        .await
        .expect("start");
    let (_, body) = post_form(
        &open.token_endpoint(),
        Some(("app", "s")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let claims = decode_unverified(body["access_token"].as_str().unwrap_or_default())
        .expect("jwt")
        .1;
    assert!(claims.get("aud").is_none());
    assert!(claims.get("scope").is_none());
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc6749() {
    let issuer = issuer().await;
    let url = issuer.token_endpoint();
    let basic = Some(("app", "app-secret"));
    let cases = [
        Case {
            name: "missing grant_type",
            params: vec![],
            error: "invalid_request",
        },
        Case {
            name: "password grant",
            params: vec![("grant_type", "password")],
            error: "unsupported_grant_type",
        },
        Case {
            name: "scope not allowed",
            params: vec![
                ("grant_type", "client_credentials"),
                ("scope", "mcp:read admin"),
            ],
            error: "invalid_scope",
        },
        Case {
            name: "repeated parameter",
            params: vec![
                ("grant_type", "client_credentials"),
                ("scope", "a"),
                ("scope", "b"),
            ],
            error: "invalid_request",
        },
        Case {
            name: "code without code",
            params: vec![("grant_type", "authorization_code")],
            error: "invalid_request",
        },
    ];
    for Case {
        name,
        params: form,
        error,
    } in cases
    {
        let (status, body) = post_form(&url, basic, &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(body["error"], error, "{name}");
        assert!(body["error_description"].is_string(), "{name}");
    }
    // JSON instead of a form.
    let response = http()
        .post(&url)
        .basic_auth("app", Some("app-secret"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");
    // Methods other than POST.
    let response = http().get(&url).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Control: a well-formed request from the same client.
    let (status, body) = post_form(
        &url,
        basic,
        &[("grant_type", "client_credentials"), ("scope", "mcp:read")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "mcp:read");
}

#[tokio::test]
async fn garbage_input_never_breaks_the_server() {
    let issuer = issuer().await;
    let garbage: [&[u8]; 6] = [
        b"",
        b"%%%%",
        b"grant_type=%FF%FE&client_id=\x00",
        b"\xff\xfe\xfd",
        b"a=1&a=1&a=1",
        b"{\"grant_type\":\"client_credentials\"}",
    ];
    for body in garbage {
        for path in ["/token", "/introspect", "/register"] {
            let response = http()
                .post(format!("{}{path}", issuer.url()))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::AUTHORIZATION, "Basic %%%")
                .body(body.to_vec())
                .send()
                .await
                .expect("send");
            assert!(response.status().is_client_error(), "{path} {body:?}");
        }
    }
    let response = http()
        .get(format!("{}/authorize?%FF=%00&client_id=%ZZ", issuer.url()))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Still serving.
    let (status, _) = get_json(&issuer.metadata_url()).await;
    assert_eq!(status, StatusCode::OK);
}

/// Every endpoint with a request that works, and the answer's status when it does.
fn endpoints(issuer: &DevIssuer) -> Vec<(Endpoint, reqwest::RequestBuilder, StatusCode)> {
    let client = http();
    let token = || {
        client
            .post(issuer.token_endpoint())
            .basic_auth("app", Some("app-secret"))
            .form(&[("grant_type", "client_credentials")])
    };
    let challenge = challenge(VERIFIER);
    vec![
        (
            Endpoint::Metadata,
            client.get(issuer.metadata_url()),
            StatusCode::OK,
        ),
        (
            Endpoint::OpenIdConfiguration,
            client.get(issuer.openid_configuration_url()),
            StatusCode::OK,
        ),
        (
            Endpoint::Jwks,
            client.get(issuer.jwks_uri()),
            StatusCode::OK,
        ),
        (
            Endpoint::Authorize,
            client.get(issuer.authorization_endpoint()).query(&[
                ("response_type", "code"),
                ("client_id", "cli"),
                ("redirect_uri", REDIRECT),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ]),
            StatusCode::FOUND,
        ),
        (Endpoint::Token, token(), StatusCode::OK),
        (
            Endpoint::Introspection,
            client
                .post(issuer.introspection_endpoint())
                .basic_auth("app", Some("app-secret"))
                .form(&[("token", "x")]),
            StatusCode::OK,
        ),
        (
            Endpoint::Registration,
            client
                .post(issuer.registration_endpoint())
                .json(&json!({"redirect_uris": [REDIRECT]})),
            StatusCode::CREATED,
        ),
    ]
}

#[tokio::test]
async fn set_down_gives_503_with_the_endpoints_own_body_until_it_is_up_again() {
    let issuer = issuer().await;
    for (endpoint, request, ok) in endpoints(&issuer) {
        let name = format!("{endpoint:?}");
        let again = request.try_clone().expect("cloneable");
        issuer.set_down(endpoint, true);
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{name}");
        let down_body = response.text().await.expect("body");
        assert_eq!(issuer.requests(endpoint), 1, "{name}: counted when down");

        // Control: the same request works once the endpoint is up, and only the status differed.
        issuer.set_down(endpoint, false);
        let response = again.send().await.expect("send");
        assert_eq!(response.status(), ok, "{name}");
        let up_body = response.text().await.expect("body");
        if matches!(
            endpoint,
            Endpoint::Metadata | Endpoint::OpenIdConfiguration | Endpoint::Jwks
        ) {
            assert_eq!(down_body, up_body, "{name}");
        }
        assert_eq!(issuer.requests(endpoint), 2, "{name}");
    }
    for endpoint in [
        Endpoint::Metadata,
        Endpoint::Jwks,
        Endpoint::Token,
        Endpoint::Introspection,
    ] {
        assert_eq!(
            issuer.requests(endpoint),
            2,
            "{endpoint:?}: no other endpoint counted"
        );
    }
}

/// The `io::ErrorKind` at the bottom of an error's source chain, if there is one.
fn io_error_kind(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source = Some(err);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = err.source();
    }
    None
}

#[tokio::test]
async fn faults_break_the_wire_as_described_and_clearing_them_heals() {
    let issuer = issuer().await;
    let jwks = issuer.jwks();
    let jwks_len = jwks.to_string().len();
    let client = http();
    let mut expected_requests = 0;
    for fault in [
        Fault::Status(500),
        Fault::Status(42),
        Fault::Garbage,
        Fault::Huge(50_000),
        Fault::Truncated,
        Fault::Redirect("http://127.0.0.1:9/elsewhere".to_owned()),
        Fault::Reset,
    ] {
        let name = format!("{fault:?}");
        issuer.set_fault(Endpoint::Jwks, Some(fault.clone()));
        let result = client.get(issuer.jwks_uri()).send().await;
        expected_requests += 1;
        match fault {
            Fault::Status(code) => {
                let response = result.expect("answered");
                // Codes outside 200-599 answer 500.
                assert_eq!(response.status().as_u16(), 500, "{name} ({code})");
                let body: Value = response.json().await.expect("the own body");
                assert_eq!(body, jwks, "{name}");
            }
            Fault::Garbage => {
                let response = result.expect("answered");
                assert_eq!(response.status(), StatusCode::OK);
                assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
                let text = response.text().await.expect("body");
                assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
            }
            Fault::Huge(size) => {
                let response = result.expect("answered");
                assert_eq!(response.status(), StatusCode::OK);
                let text = response.text().await.expect("body");
                assert_eq!(text.len(), size);
                let mut body: Value = serde_json::from_str(&text).expect("still JSON");
                body.as_object_mut().expect("object").remove("padding");
                assert_eq!(body, jwks, "the own document, padded");
            }
            Fault::Truncated => {
                let response = result.expect("the head arrives");
                assert_eq!(response.status(), StatusCode::OK);
                assert_eq!(
                    response.headers()[header::CONTENT_LENGTH],
                    (jwks_len + 64).to_string().as_str()
                );
                let err = response.bytes().await.expect_err("the body ends early");
                assert!(err.is_body() || err.is_decode(), "{err:?}");
            }
            Fault::Redirect(location) => {
                let response = result.expect("answered");
                assert_eq!(response.status(), StatusCode::FOUND);
                assert_eq!(response.headers()[header::LOCATION], location.as_str());
            }
            Fault::Reset => {
                let err = result.expect_err("no answer");
                assert_eq!(
                    io_error_kind(&err),
                    Some(std::io::ErrorKind::ConnectionReset),
                    "{err:?}"
                );
            }
            _ => unreachable!("{name}"),
        }
        // Control: the same request works once the fault is cleared.
        issuer.set_fault(Endpoint::Jwks, None);
        let (status, body) = get_json(&issuer.jwks_uri()).await;
        expected_requests += 1;
        assert_eq!((status, body), (StatusCode::OK, jwks.clone()), "{name}");
        assert_eq!(issuer.requests(Endpoint::Jwks), expected_requests, "{name}");
    }
    assert_eq!(issuer.requests(Endpoint::Metadata), 0);
}

#[tokio::test]
async fn delay_slows_one_endpoint_only() {
    let issuer = issuer().await;
    // A delay far above what a stalled machine adds, and bounds well below it.
    let delay = Duration::from_secs(3);
    let bound = Duration::from_secs(1);
    issuer.set_delay(Endpoint::Jwks, delay);
    let started = Instant::now();
    let slow = http()
        .get(issuer.jwks_uri())
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(slow.is_err_and(|e| e.is_timeout()));
    assert!(started.elapsed() < bound);
    let started = Instant::now();
    assert_eq!(get_json(&issuer.metadata_url()).await.0, StatusCode::OK);
    assert!(started.elapsed() < bound, "metadata is not slowed");
    issuer.set_delay(Endpoint::Jwks, Duration::ZERO);
    let started = Instant::now();
    assert_eq!(get_json(&issuer.jwks_uri()).await.0, StatusCode::OK);
    assert!(started.elapsed() < bound);
}

#[tokio::test]
async fn stop_refuses_connections_and_restart_serves_the_same_state_at_the_same_address() {
    let issuer = issuer().await;
    let client = http();
    let token = issuer.token().audience(RESOURCE).sign();
    let jwks = issuer.jwks();
    issuer.add_client("late", "late-secret");
    // A keep-alive connection from before the stop must not survive it.
    assert_eq!(
        client
            .get(issuer.jwks_uri())
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::OK
    );

    issuer.stop().await;
    issuer.stop().await;
    for _ in 0..3 {
        let err = client
            .get(issuer.jwks_uri())
            .send()
            .await
            .expect_err("stopped");
        assert!(err.is_connect() || err.is_request(), "{err:?}");
        let err = Client::new()
            .get(issuer.jwks_uri())
            .send()
            .await
            .expect_err("refused");
        assert!(err.is_connect(), "{err:?}");
    }
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        1,
        "nothing reached the stopped server"
    );

    issuer.restart().await.expect("same address again");
    let (status, body) = get_json(&issuer.jwks_uri()).await;
    assert_eq!((status, body), (StatusCode::OK, jwks), "same keys");
    assert!(verify(&issuer, &token, RESOURCE).await.is_ok());
    let (status, _) = post_form(
        &issuer.token_endpoint(),
        Some(("late", "late-secret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "clients kept");
    assert_eq!(issuer.requests(Endpoint::Jwks), 3, "counters kept");

    // Restarting a running issuer drops its connections and serves on.
    issuer.restart().await.expect("restart while running");
    assert_eq!(get_json(&issuer.metadata_url()).await.0, StatusCode::OK);
}

#[tokio::test]
async fn jwks_document_and_cache_control_can_be_replaced() {
    let issuer = issuer().await;
    let response = http().get(issuer.jwks_uri()).send().await.expect("send");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "max-age=300");

    let foreign = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "sym"}]});
    issuer.set_jwks_document(Some(foreign.clone()));
    issuer.set_jwks_cache_control(Some("no-cache"));
    let response = http().get(issuer.jwks_uri()).send().await.expect("send");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    assert_eq!(response.json::<Value>().await.expect("json"), foreign);
    assert_eq!(issuer.jwks(), foreign);

    issuer.set_jwks_cache_control(None);
    let response = http().get(issuer.jwks_uri()).send().await.expect("send");
    assert!(response.headers().get(header::CACHE_CONTROL).is_none());

    // Control: the keys' own document again.
    issuer.set_jwks_document(None);
    let (_, body) = get_json(&issuer.jwks_uri()).await;
    assert_eq!(body, json!({ "keys": [issuer.signing_key().public_jwk()] }));
}

#[tokio::test]
async fn introspection_answers_are_fixed_per_token_behind_client_authentication() {
    let issuer = issuer().await;
    let fixed = json!({"active": true, "sub": "fixed", "scope": "x"});
    issuer.set_introspection_answer("opaque-fixed", fixed.clone());
    let url = issuer.introspection_endpoint();
    let introspect = |basic: Option<(&'static str, &'static str)>, token: &'static str| {
        let url = url.clone();
        async move {
            post_form(
                &url,
                basic,
                &[("token", token), ("token_type_hint", "access_token")],
            )
            .await
        }
    };
    assert_eq!(
        introspect(Some(("app", "app-secret")), "opaque-fixed").await,
        (StatusCode::OK, fixed.clone())
    );
    let request = issuer.last_introspection_request().expect("recorded");
    assert_eq!(request.params("token"), ["opaque-fixed"]);
    assert_eq!(request.param("token_type_hint"), Some("access_token"));
    assert!(request.uses_basic_auth());
    assert!(!format!("{request:?}").contains("opaque-fixed"));

    // The client must still authenticate.
    let (status, body) = introspect(Some(("app", "wrong")), "opaque-fixed").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // Other tokens are unaffected.
    assert_eq!(
        introspect(Some(("app", "app-secret")), "opaque-other").await,
        (StatusCode::OK, json!({"active": false}))
    );
    issuer.set_introspection_answer("opaque-fixed", json!({"active": false}));
    assert_eq!(
        introspect(Some(("app", "app-secret")), "opaque-fixed").await,
        (StatusCode::OK, json!({"active": false}))
    );
    assert_eq!(issuer.requests(Endpoint::Introspection), 4);
}

#[tokio::test]
async fn an_issuer_path_moves_the_endpoints_and_the_metadata_locations() {
    let issuer = DevIssuer::builder()
        .issuer_path("/tenant/one")
        .client("app", "s")
        .start()
        .await
        .expect("start");
    let base = issuer.url().to_owned();
    assert_eq!(issuer.issuer(), format!("{base}/tenant/one"));
    for url in [
        format!("{base}/.well-known/oauth-authorization-server/tenant/one"),
        format!("{base}/tenant/one/.well-known/openid-configuration"),
    ] {
        let (status, body) = get_json(&url).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(body["issuer"], issuer.issuer(), "{url}");
        assert_eq!(body["jwks_uri"], format!("{base}/tenant/one/jwks"), "{url}");
        assert_eq!(
            body["token_endpoint"],
            format!("{base}/tenant/one/token"),
            "{url}"
        );
    }
    // The root locations and endpoints are not served: the issuer lives below its path.
    for url in [
        format!("{base}/.well-known/oauth-authorization-server"),
        format!("{base}/.well-known/openid-configuration"),
        format!("{base}/jwks"),
    ] {
        assert_eq!(get_json(&url).await.0, StatusCode::NOT_FOUND, "{url}");
    }
    let (status, body) = post_form(
        &issuer.token_endpoint(),
        Some(("app", "s")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let claims = decode_unverified(body["access_token"].as_str().unwrap_or_default())
        .expect("jwt")
        .1;
    assert_eq!(claims["iss"], issuer.issuer());
    assert_eq!(issuer.requests(Endpoint::Metadata), 1);
    assert_eq!(issuer.requests(Endpoint::OpenIdConfiguration), 1);
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        0,
        "the root /jwks is not the issuer's"
    );
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let issuer = issuer().await;
    let url = issuer.metadata_url();
    assert_eq!(get_json(&url).await.0, StatusCode::OK);
    issuer.shutdown().await;
    assert!(http().get(&url).send().await.is_err());

    let issuer = DevIssuer::start().await.expect("start");
    let url = issuer.metadata_url();
    drop(issuer);
    // Graceful shutdown runs in the background; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if Client::new().get(&url).send().await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "still serving after drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
