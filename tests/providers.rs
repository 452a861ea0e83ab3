//! The token shapes of real authorization servers (issue #11): for each provider, its JWKS
//! shape served on loopback, tokens minted exactly as it issues them, the configuration
//! `docs/providers.md` gives, and the near misses that configuration must refuse (an ID token,
//! another tenant, Keycloak's default `aud: account`, a foreign audience, another client).
//!
//! The issuers are the providers' real issuer strings (compared byte for byte, never fetched:
//! each test points the issuer's `jwks_uri` at the loopback server).

#![cfg(all(feature = "testing", feature = "introspection"))]

use std::time::Duration;

use axum::{
    Json, Router,
    body::Body,
    routing::{any, post},
};
use http::{Request, StatusCode, header};
use mcp_auth::{
    AuthInfo, McpAuth, McpAuthBuilder, VerifyError,
    testing::{DevIssuer, TokenBuilder},
    verifier::{
        IntrospectionVerifier, JwtVerifier,
        jwt::{JwtVerifierBuilder, TrustedIssuer},
    },
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

const RESOURCE: &str = "https://mcp.example.com/mcp";

/// The loopback key server; `shape` rewrites each published JWK the way the provider does.
async fn keys(shape: impl Fn(&mut serde_json::Map<String, Value>)) -> DevIssuer {
    let issuer = DevIssuer::builder()
        .key_algorithm(mcp_auth::testing::KeyAlgorithm::Rs256)
        .start()
        .await
        .expect("key server starts");
    let mut jwks = issuer.jwks();
    for key in jwks["keys"].as_array_mut().expect("keys") {
        shape(key.as_object_mut().expect("a JWK object"));
    }
    issuer.set_jwks_document(Some(jwks));
    issuer
}

/// A token signed with the key server's key, claiming `iss`.
fn token(keys: &DevIssuer, iss: &str) -> TokenBuilder {
    keys.signing_key().token().issuer(iss)
}

/// The layer in front of a handler that echoes what the layer learned.
fn app(
    verifier: JwtVerifierBuilder,
    configure: impl FnOnce(McpAuthBuilder) -> McpAuthBuilder,
) -> Router {
    let auth =
        configure(McpAuth::builder(RESOURCE).verifier(verifier.build().expect("verifier builds")))
            .build()
            .expect("layer builds");
    echo_app(auth)
}

fn echo_app(auth: McpAuth) -> Router {
    Router::new()
        .route(
            "/mcp",
            any(|req: Request<Body>| async move {
                let info = req.extensions().get::<AuthInfo>().cloned();
                Json(info.map(|i| {
                    json!({
                        "subject": i.subject(),
                        "client_id": i.client_id(),
                        "scopes": i.scopes(),
                        "issuer": i.issuer(),
                    })
                }))
            }),
        )
        .layer(auth)
}

async fn call(app: &Router, token: &str) -> (StatusCode, Value, Option<String>) {
    let res = app
        .clone()
        .oneshot(
            Request::post("/mcp")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    let status = res.status();
    let challenge = res
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().expect("ASCII").to_owned());
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
        challenge,
    )
}

/// The good token is accepted and described as expected.
async fn accepts(app: &Router, token: &str, subject: &str, client: &str, scopes: &[&str]) {
    let (status, body, _) = call(app, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["subject"], subject, "{body}");
    assert_eq!(body["client_id"], client, "{body}");
    assert_eq!(body["scopes"], json!(scopes), "{body}");
}

/// Each near miss gets `401 invalid_token`.
async fn refuses(app: &Router, cases: Vec<(&str, String)>) {
    for (name, token) in cases {
        let (status, _, challenge) = call(app, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
        let challenge = challenge.expect("a challenge");
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{name}: {challenge}"
        );
    }
}

#[tokio::test]
async fn entra_id_v2_single_tenant() {
    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const APP: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3"; // the API's application id
    const CLIENT: &str = "a3f2b1c4-0000-4000-8000-000000000001";
    let iss = format!("https://login.microsoftonline.com/{TENANT}/v2.0");
    // Entra publishes RSA keys without `alg` (and with x5t/x5c, which are never used).
    let keys = keys(|jwk| {
        jwk.remove("alg");
        jwk.insert("x5t".into(), "nOo3ZDrODXEK1jKWhXslHR_KXEg".into());
        jwk.insert("x5c".into(), json!(["MIIDBTCCAe2gAwIBAgIQ"]));
    })
    .await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(&iss, keys.jwks_uri()))
        .scope_claims(["scp", "roles"])
        .allowed_clients([CLIENT]);
    let app = app(verifier, |auth| {
        auth.audience(APP).required_scopes(["Notes.Read"])
    });
    let access = || {
        token(&keys, &iss)
            .typ("JWT")
            .audience(APP)
            .subject("AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ")
            .claim("azp", CLIENT)
            .claim("tid", TENANT)
            .claim("ver", "2.0")
            .claim("scp", "Notes.Read Notes.Write")
    };
    accepts(
        &app,
        &access().sign(),
        "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        CLIENT,
        &["Notes.Read", "Notes.Write"],
    )
    .await;
    // App-only tokens carry `roles` instead of `scp`.
    let app_only = token(&keys, &iss)
        .typ("JWT")
        .audience(APP)
        .subject(CLIENT)
        .claim("azp", CLIENT)
        .claim("roles", json!(["Notes.Read"]))
        .sign();
    accepts(&app, &app_only, CLIENT, CLIENT, &["Notes.Read"]).await;
    refuses(
        &app,
        vec![
            (
                "ID token (aud = the client, nonce, no scp)",
                token(&keys, &iss)
                    .typ("JWT")
                    .audience(CLIENT)
                    .subject("s")
                    .claim("nonce", "n")
                    .claim("azp", CLIENT)
                    .sign(),
            ),
            (
                "another tenant",
                token(
                    &keys,
                    "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0",
                )
                .audience(APP)
                .claim("azp", CLIENT)
                .claim("scp", "Notes.Read")
                .sign(),
            ),
            (
                "a foreign audience (Microsoft Graph)",
                access()
                    .audience("00000003-0000-0000-c000-000000000000")
                    .sign(),
            ),
            (
                "another client",
                access().claim("azp", "other-client").sign(),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn entra_id_v1_tokens() {
    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let iss = format!("https://sts.windows.net/{TENANT}/");
    let keys = keys(|jwk| {
        jwk.remove("alg");
    })
    .await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(&iss, keys.jwks_uri()))
        .scope_claims(["scp", "roles"]);
    let app = app(verifier, |auth| auth.audience("api://mcp-notes"));
    let access = token(&keys, &iss)
        .typ("JWT")
        .audience("api://mcp-notes")
        .subject("user-oid")
        .claim("appid", "v1-client")
        .claim("ver", "1.0")
        .claim("scp", "user_impersonation");
    accepts(
        &app,
        &access.sign(),
        "user-oid",
        "v1-client",
        &["user_impersonation"],
    )
    .await;
    refuses(
        &app,
        vec![
            (
                "the v2 issuer of the same tenant is another issuer",
                token(
                    &keys,
                    &format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
                )
                .audience("api://mcp-notes")
                .sign(),
            ),
            (
                "the issuer without its trailing slash",
                token(&keys, iss.trim_end_matches('/'))
                    .audience("api://mcp-notes")
                    .sign(),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn entra_id_multi_tenant_template() {
    let keys = keys(|jwk| {
        jwk.remove("alg");
    })
    .await;
    let template = "https://login.microsoftonline.com/{tenant}/v2.0";
    let tenants = ["tenant-one", "tenant-two"];
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(template, keys.jwks_uri()).tenants(tenants))
        .scope_claims(["scp"])
        .require_claim_values("tid", tenants);
    let app = app(verifier, |auth| auth.audience("api-app-id"));
    let of = |tenant: &str, tid: &str| {
        token(
            &keys,
            &format!("https://login.microsoftonline.com/{tenant}/v2.0"),
        )
        .audience("api-app-id")
        .subject("u")
        .claim("azp", "c")
        .claim("tid", tid)
        .claim("scp", "Notes.Read")
        .sign()
    };
    accepts(
        &app,
        &of("tenant-one", "tenant-one"),
        "u",
        "c",
        &["Notes.Read"],
    )
    .await;
    accepts(
        &app,
        &of("tenant-two", "tenant-two"),
        "u",
        "c",
        &["Notes.Read"],
    )
    .await;
    refuses(
        &app,
        vec![
            ("a tenant not listed", of("tenant-three", "tenant-three")),
            (
                "a listed issuer with another tid",
                of("tenant-one", "tenant-three"),
            ),
            ("common is not a tenant", of("common", "tenant-one")),
        ],
    )
    .await;
    // The metadata lists each resolved tenant issuer, never the template.
    let auth = McpAuth::builder(RESOURCE)
        .verifier(
            JwtVerifier::builder()
                .issuer(TrustedIssuer::jwks_uri(template, keys.jwks_uri()).tenants(tenants))
                .build()
                .expect("verifier builds"),
        )
        .build()
        .expect("layer builds");
    assert_eq!(
        auth.metadata().authorization_servers(),
        [
            "https://login.microsoftonline.com/tenant-one/v2.0",
            "https://login.microsoftonline.com/tenant-two/v2.0",
        ]
    );
}

#[tokio::test]
async fn entra_id_discovery_per_tenant() {
    // The loopback server stands in for one tenant's discovery: its issuer is a tenant path.
    let server = DevIssuer::builder()
        .issuer_path("/tenant-one/v2.0")
        .start()
        .await
        .expect("server starts");
    let template = format!("{}/{{tenant}}/v2.0", server.url());
    let verifier =
        JwtVerifier::builder().issuer(TrustedIssuer::discover(template).tenants(["tenant-one"]));
    let app = app(verifier, |auth| auth.audience("api-app-id"));
    let good = server
        .token()
        .audience("api-app-id")
        .subject("u")
        .claim("azp", "c")
        .sign();
    accepts(&app, &good, "u", "c", &[]).await;
    assert_eq!(
        server.requests(mcp_auth::testing::Endpoint::Metadata)
            + server.requests(mcp_auth::testing::Endpoint::OpenIdConfiguration),
        1,
        "discovered through the tenant's own metadata"
    );
}

#[tokio::test]
async fn auth0() {
    let iss = "https://mcp-demo.us.auth0.com/";
    let keys = keys(|jwk| {
        jwk.insert("x5c".into(), json!(["MIIDDTCCAfWgAwIBAgIJ"]));
    })
    .await;
    let verifier = JwtVerifier::builder().issuer(TrustedIssuer::jwks_uri(iss, keys.jwks_uri()));
    let app = app(verifier, |auth| auth.required_scopes(["read:notes"]));
    let access = || {
        token(&keys, iss)
            .typ("at+jwt")
            .audiences([RESOURCE, "https://mcp-demo.us.auth0.com/userinfo"])
            .subject("auth0|64f1c")
            .claim("azp", "Auth0ClientId123")
            .scopes(["openid", "read:notes"])
    };
    accepts(
        &app,
        &access().sign(),
        "auth0|64f1c",
        "Auth0ClientId123",
        &["openid", "read:notes"],
    )
    .await;
    refuses(
        &app,
        vec![
            (
                "ID token",
                token(&keys, iss)
                    .typ("JWT")
                    .audience("Auth0ClientId123")
                    .subject("auth0|64f1c")
                    .claim("nonce", "n")
                    .sign(),
            ),
            (
                "the issuer without its trailing slash",
                token(&keys, iss.trim_end_matches('/'))
                    .audience(RESOURCE)
                    .scopes(["read:notes"])
                    .sign(),
            ),
            (
                "a foreign API",
                access().audience("https://api.other.example").sign(),
            ),
        ],
    )
    .await;
    // Exclusive audience: a token for this API and another API at once is refused too.
    let exclusive = app_with_exclusive(&keys, iss).await;
    let both = token(&keys, iss)
        .audiences([RESOURCE, "https://api.other.example"])
        .scopes(["read:notes"])
        .sign();
    refuses(&exclusive, vec![("this API and another", both)]).await;
}

async fn app_with_exclusive(keys: &DevIssuer, iss: &str) -> Router {
    let verifier = JwtVerifier::builder().issuer(TrustedIssuer::jwks_uri(iss, keys.jwks_uri()));
    app(verifier, |auth| auth.exclusive_audience(true))
}

#[tokio::test]
async fn okta_custom_authorization_server() {
    let iss = "https://dev-123456.okta.com/oauth2/aus8xyz";
    let keys = keys(|_| {}).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(iss, keys.jwks_uri()))
        .allowed_clients(["0oa5okta"]);
    let app = app(verifier, |auth| {
        auth.audience("api://default")
            .required_scopes(["notes.read"])
    });
    let access = || {
        token(&keys, iss)
            .without_typ()
            .audience("api://default")
            .subject("alice@example.com")
            .claim("cid", "0oa5okta")
            .claim("uid", "00u1")
            .scp(["notes.read", "notes.write"])
    };
    accepts(
        &app,
        &access().sign(),
        "alice@example.com",
        "0oa5okta",
        &["notes.read", "notes.write"],
    )
    .await;
    refuses(
        &app,
        vec![
            ("another client", access().claim("cid", "0oa9other").sign()),
            (
                "the org authorization server",
                token(&keys, "https://dev-123456.okta.com")
                    .audience("api://default")
                    .claim("cid", "0oa5okta")
                    .sign(),
            ),
            (
                "a foreign audience",
                access().audience("api://other").sign(),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn keycloak() {
    let iss = "https://kc.example.com/realms/mcp";
    // Keycloak publishes an encryption key beside the signing key: it must be skipped.
    let keys = keys(|_| {}).await;
    let mut jwks = keys.jwks();
    let mut enc = jwks["keys"][0].clone();
    enc["use"] = json!("enc");
    enc["alg"] = json!("RSA-OAEP");
    enc["kid"] = json!("enc-key");
    jwks["keys"].as_array_mut().expect("keys").push(enc);
    keys.set_jwks_document(Some(jwks));
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(iss, keys.jwks_uri()))
        .scope_claims(["scope", "realm_access.roles"])
        .require_claim_value("typ", "Bearer");
    let app = app(verifier, |auth| auth.required_scopes(["mcp:read"]));
    let access = || {
        token(&keys, iss)
            .typ("JWT")
            .audience(RESOURCE)
            .subject("f3b2-user-uuid")
            .claim("azp", "mcp-client")
            .claim("typ", "Bearer")
            .claim("scope", "openid profile mcp:read")
            .claim("realm_access", json!({"roles": ["notes-admin"]}))
    };
    accepts(
        &app,
        &access().sign(),
        "f3b2-user-uuid",
        "mcp-client",
        &["openid", "profile", "mcp:read", "notes-admin"],
    )
    .await;
    refuses(
        &app,
        vec![
            (
                "aud: account (Keycloak's default, no audience mapper)",
                access().audience("account").sign(),
            ),
            ("an ID token (typ: ID)", access().claim("typ", "ID").sign()),
            (
                "another realm",
                token(&keys, "https://kc.example.com/realms/other")
                    .audience(RESOURCE)
                    .claim("typ", "Bearer")
                    .sign(),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn cognito() {
    let iss = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123";
    let keys = keys(|_| {}).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(iss, keys.jwks_uri()))
        .require_claim_value("token_use", "access")
        .danger_assume_audience_for_clients(RESOURCE, ["3n4b5urk1ft4fl3mg5e62d9ado"]);
    let app = app(verifier, |auth| auth.required_scopes(["mcp/read"]));
    // Cognito access tokens: no `aud`, the client in `client_id`, no `typ`.
    let access = || {
        token(&keys, iss)
            .without_typ()
            .subject("b4c8-user")
            .client_id("3n4b5urk1ft4fl3mg5e62d9ado")
            .claim("token_use", "access")
            .claim("username", "alice")
            .scopes(["mcp/read"])
    };
    accepts(
        &app,
        &access().sign(),
        "b4c8-user",
        "3n4b5urk1ft4fl3mg5e62d9ado",
        &["mcp/read"],
    )
    .await;
    refuses(
        &app,
        vec![
            (
                "an ID token (aud = the client, token_use: id)",
                token(&keys, iss)
                    .audience("3n4b5urk1ft4fl3mg5e62d9ado")
                    .subject("b4c8-user")
                    .claim("token_use", "id")
                    .claim("email", "alice@example.com")
                    .sign(),
            ),
            (
                "an access token of another client",
                access().client_id("other-app-client").sign(),
            ),
            (
                "an access token without token_use",
                access().without_claim("token_use").sign(),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn workos_authkit() {
    let iss = "https://api.workos.com/user_management/client_01HXYZ";
    let keys = keys(|_| {}).await;
    let verifier = JwtVerifier::builder().issuer(TrustedIssuer::jwks_uri(iss, keys.jwks_uri()));
    let app = app(verifier, |auth| auth);
    let access = || {
        token(&keys, iss)
            .audience(RESOURCE)
            .subject("user_01HABC")
            .client_id("client_01HCLIENT")
            .claim("sid", "session_01H")
    };
    accepts(
        &app,
        &access().sign(),
        "user_01HABC",
        "client_01HCLIENT",
        &[],
    )
    .await;
    refuses(
        &app,
        vec![
            (
                "the environment default audience",
                access().audience("client_01HXYZ").sign(),
            ),
            (
                "another AuthKit environment",
                token(
                    &keys,
                    "https://api.workos.com/user_management/client_01HOTHER",
                )
                .audience(RESOURCE)
                .sign(),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn descope_issuer_forms() {
    const PROJECT: &str = "P2abcDEF";
    let keys = keys(|_| {}).await;
    // One project, several issuer forms: each is trusted, with the project's keys.
    let forms = [
        format!("https://api.descope.com/v1/apps/{PROJECT}"),
        format!("https://api.descope.com/v1/apps/agentic/{PROJECT}/M2xyz"),
        format!("https://api.descope.com/{PROJECT}"),
    ];
    let mut verifier = JwtVerifier::builder();
    for form in &forms {
        verifier = verifier.issuer(TrustedIssuer::jwks_uri(form, keys.jwks_uri()));
    }
    let app = app(verifier, |auth| auth.audience(PROJECT));
    for form in &forms {
        let good = token(&keys, form)
            .audience(PROJECT)
            .subject("U2user")
            .claim("azp", "descope-client")
            .scopes(["mcp:read"])
            .sign();
        accepts(&app, &good, "U2user", "descope-client", &["mcp:read"]).await;
    }
    refuses(
        &app,
        vec![
            (
                "another project",
                token(&keys, "https://api.descope.com/v1/apps/P2other")
                    .audience("P2other")
                    .sign(),
            ),
            (
                "a foreign audience",
                token(&keys, &forms[0]).audience("P2other").sign(),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn scalekit() {
    let env = "https://mcp-demo.scalekit.dev";
    let keys = keys(|_| {}).await;
    let verifier = JwtVerifier::builder().issuer(TrustedIssuer::jwks_uri(env, keys.jwks_uri()));
    // Tokens carry the environment root as `iss` and the resource id as `aud`; the metadata
    // must name the authorization server clients use (ScaleKit's resource-specific URL).
    let app = app(verifier, |auth| {
        auth.audience("res_92015146095558")
            .authorization_server(format!("{env}/resources/res_92015146095558"))
    });
    let good = token(&keys, env)
        .audience("res_92015146095558")
        .subject("usr_1")
        .client_id("skc_1")
        .claim("resource", RESOURCE)
        .scopes(["notes:read"])
        .sign();
    accepts(&app, &good, "usr_1", "skc_1", &["notes:read"]).await;
    refuses(
        &app,
        vec![(
            "another resource of the environment",
            token(&keys, env).audience("res_other").sign(),
        )],
    )
    .await;
}

/// Google's access tokens are opaque; `tokeninfo` answers without `active`, with times as
/// strings and the client in `azp`, and refuses with `400`. An answer mapper reads it.
#[tokio::test]
async fn google_tokeninfo() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let tokeninfo = Router::new().route(
        "/tokeninfo",
        post(|body: String| async move {
            let token = form_urlencoded::parse(body.as_bytes())
                .find(|(name, _)| name == "access_token")
                .map(|(_, value)| value.into_owned());
            let exp = (std::time::SystemTime::now() + Duration::from_secs(3_000))
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after the epoch")
                .as_secs();
            match token.as_deref() {
                Some("ya29.good") => (
                    StatusCode::OK,
                    Json(json!({
                        "azp": "1234-web.apps.googleusercontent.com",
                        "aud": "1234-web.apps.googleusercontent.com",
                        "sub": "110169484474386276334",
                        "scope": "openid https://www.googleapis.com/auth/userinfo.email",
                        "exp": exp.to_string(),
                        "expires_in": "3000",
                        "email": "alice@example.com",
                        "access_type": "online",
                    })),
                ),
                _ => (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "invalid_token", "error_description": "Invalid Value"})),
                ),
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, tokeninfo).await });

    let map = |status: StatusCode, answer: Value| match status {
        StatusCode::OK => Ok(json!({
            "active": true,
            "sub": answer["sub"],
            "client_id": answer["azp"],
            "aud": answer["aud"],
            "scope": answer["scope"],
            "exp": answer["exp"].as_str().and_then(|e| e.parse::<u64>().ok()),
            "iss": "https://accounts.google.com",
        })),
        StatusCode::BAD_REQUEST => Err(VerifyError::invalid_token("token is not valid")),
        _ => Err(VerifyError::unavailable("tokeninfo answered with an error")),
    };
    let verifier = IntrospectionVerifier::builder()
        .endpoint(format!("http://{addr}/tokeninfo"))
        .issuer("https://accounts.google.com")
        .token_parameter("access_token")
        .without_client_authentication()
        .answer_mapper(map)
        .allowed_clients(["1234-web.apps.googleusercontent.com"])
        .build()
        .expect("verifier builds");
    let auth = McpAuth::builder(RESOURCE)
        .verifier(verifier)
        // The audience of a Google token is the OAuth client: only this client's tokens.
        .audience("1234-web.apps.googleusercontent.com")
        .build()
        .expect("layer builds");
    let app = echo_app(auth);
    accepts(
        &app,
        "ya29.good",
        "110169484474386276334",
        "1234-web.apps.googleusercontent.com",
        &["openid", "https://www.googleapis.com/auth/userinfo.email"],
    )
    .await;
    refuses(
        &app,
        vec![("a token tokeninfo refuses", "ya29.bad".to_owned())],
    )
    .await;
}
