//! DPoP (RFC 9449) through the real `Service`: every proof check with its exact status and
//! challenge, bound tokens never accepted as bearer tokens, the required mode, nonces.

#![cfg(feature = "testing")]

use std::time::{Duration, SystemTime};

use axum::{Router, body::Body, routing::any};
use http::{Request, Response, StatusCode, header};
use mcp_auth::{
    AuthInfo, McpAuth,
    dpop::Dpop,
    store::{MemoryStore, Store, StoreError, StoreKey},
    testing::{DpopProof, SigningKey, TokenBuilder, key_thumbprint},
    verifier::{
        JwtVerifier,
        jwt::{Algorithm, TrustedIssuer},
    },
};
use serde_json::{Value, json};
use tower::ServiceExt;

const RESOURCE: &str = "https://mcp.example.com/mcp";
const ISSUER: &str = "https://auth.example.com";
const ALGS: &str = "ES256 ES384 EdDSA Ed25519 ESP256 ESP384 RS256 PS256";

struct Setup {
    issuer_key: SigningKey,
    client_key: SigningKey,
}

impl Setup {
    fn new() -> Self {
        Self {
            issuer_key: SigningKey::rs256().with_kid("as-1"),
            client_key: SigningKey::es256(),
        }
    }

    fn verifier(&self) -> JwtVerifier {
        JwtVerifier::builder()
            .issuer(TrustedIssuer::jwk_set(
                ISSUER,
                self.issuer_key.jwks().to_string(),
            ))
            .build()
            .expect("verifier builds")
    }

    fn app(&self, dpop: Option<Dpop>) -> Router {
        let mut auth = McpAuth::builder(RESOURCE)
            .verifier(self.verifier())
            .required_scopes(["mcp:read"])
            .tool_scopes("delete", ["files:write"]);
        if let Some(dpop) = dpop {
            auth = auth.dpop(dpop);
        }
        Router::new()
            .route(
                "/mcp",
                any(|req: Request<Body>| async move {
                    let info = req.extensions().get::<AuthInfo>().cloned();
                    info.and_then(|i| i.key_thumbprint().map(str::to_owned))
                        .unwrap_or_default()
                }),
            )
            .layer(auth.build().expect("layer builds"))
    }

    /// A token bound to `key` (or to none).
    fn token(&self, bound_to: Option<&SigningKey>) -> String {
        match bound_to {
            Some(key) => self.token_bound_by(json!({"jkt": key_thumbprint(key)})),
            None => self.unsigned_token().sign(),
        }
    }

    /// A token whose confirmation claim is `cnf`.
    fn token_bound_by(&self, cnf: Value) -> String {
        self.unsigned_token().claim("cnf", cnf).sign()
    }

    /// Alice's token for the resource, with `mcp:read`, to sign.
    fn unsigned_token(&self) -> TokenBuilder {
        self.issuer_key
            .token()
            .issuer(ISSUER)
            .audience(RESOURCE)
            .subject("alice")
            .scopes(["mcp:read"])
    }

    fn proof(&self, token: &str) -> DpopProof {
        DpopProof::new(&self.client_key, "POST", RESOURCE).access_token(token)
    }

    /// `token` under the DPoP scheme, with a fresh proof for it.
    async fn send_with_proof(&self, app: &Router, token: &str) -> Response<Body> {
        let proof = self.proof(token).sign();
        send(
            app,
            &[("authorization", format!("DPoP {token}")), ("dpop", proof)],
        )
        .await
    }
}

async fn send(app: &Router, headers: &[(&str, String)]) -> Response<Body> {
    let mut req = Request::post("/mcp").header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    app.clone()
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("infallible")
}

/// The `WWW-Authenticate` values, in order.
fn challenges(res: &Response<Body>) -> Vec<String> {
    res.headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().expect("ASCII").to_owned())
        .collect()
}

fn param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let end = challenge[start..].find('"')? + start;
    Some(challenge[start..end].to_owned())
}

fn dpop_challenge(res: &Response<Body>) -> String {
    challenges(res)
        .into_iter()
        .find(|c| c.starts_with("DPoP "))
        .expect("a DPoP challenge")
}

#[tokio::test]
async fn every_proof_check_through_the_service() {
    let setup = Setup::new();
    let app = setup.app(Some(Dpop::allowed()));
    let token = setup.token(Some(&setup.client_key));
    let other_key = SigningKey::es256();
    let now = SystemTime::now();
    let dpop = |proof: String| vec![("authorization", format!("DPoP {token}")), ("dpop", proof)];

    struct Case {
        name: &'static str,
        headers: Vec<(&'static str, String)>,
        status: StatusCode,
        error: Option<&'static str>,
    }
    let bad_proof = |name: &'static str, proof: DpopProof| Case {
        name,
        headers: dpop(proof.sign()),
        status: StatusCode::UNAUTHORIZED,
        error: Some("invalid_dpop_proof"),
    };
    let hs256 = {
        // An HS256 "proof": a MAC with some key instead of a signature.
        let proof = setup.proof(&token).header("alg", "HS256").sign();
        let (input, _) = proof.rsplit_once('.').expect("three parts");
        format!("{input}.c2lnbmF0dXJl")
    };
    let cases = vec![
        Case {
            name: "valid proof",
            headers: dpop(setup.proof(&token).sign()),
            status: StatusCode::OK,
            error: None,
        },
        bad_proof("tampered signature", setup.proof(&token).tamper_signature()),
        bad_proof("missing jti", setup.proof(&token).without_claim("jti")),
        bad_proof("missing htm", setup.proof(&token).without_claim("htm")),
        bad_proof("missing htu", setup.proof(&token).without_claim("htu")),
        bad_proof("missing iat", setup.proof(&token).without_claim("iat")),
        bad_proof("missing jwk", setup.proof(&token).without_header("jwk")),
        bad_proof("missing ath", setup.proof(&token).without_claim("ath")),
        bad_proof("wrong typ", setup.proof(&token).header("typ", "jwt")),
        // RFC 7515 §4.1.11: a `crit` the layer does not understand (it understands none).
        bad_proof(
            "critical header",
            setup.proof(&token).header("crit", json!(["exp"])),
        ),
        bad_proof(
            "unencoded payload",
            setup.proof(&token).header("b64", false),
        ),
        bad_proof("wrong htm", setup.proof(&token).claim("htm", "GET")),
        bad_proof(
            "wrong htu path",
            setup
                .proof(&token)
                .claim("htu", "https://mcp.example.com/other"),
        ),
        bad_proof(
            "proof for another resource",
            setup
                .proof(&token)
                .claim("htu", "https://evil.example.com/mcp"),
        ),
        bad_proof(
            "htu with a query",
            setup
                .proof(&token)
                .claim("htu", "https://mcp.example.com/mcp?x=1"),
        ),
        bad_proof("wrong ath", setup.proof("another-token")),
        bad_proof("private jwk", setup.proof(&token).private_jwk()),
        bad_proof("jwk of another key", setup.proof(&token).jwk_of(&other_key)),
        bad_proof("alg none", setup.proof(&token).alg_none()),
        bad_proof(
            "alg that does not fit the jwk",
            setup.proof(&token).header("alg", "ES384"),
        ),
        Case {
            name: "not a JWT (token characters only)",
            headers: dpop("abc.def.ghi".to_owned()),
            status: StatusCode::UNAUTHORIZED,
            error: Some("invalid_dpop_proof"),
        },
        Case {
            name: "two segments",
            headers: dpop("eyJhbGciOiJFUzI1NiJ9.e30".to_owned()),
            status: StatusCode::UNAUTHORIZED,
            error: Some("invalid_dpop_proof"),
        },
        Case {
            name: "alg HS256",
            headers: dpop(hs256),
            status: StatusCode::UNAUTHORIZED,
            error: Some("invalid_dpop_proof"),
        },
        Case {
            name: "iat just inside the window",
            headers: dpop(
                setup
                    .proof(&token)
                    .issued_at(now - Duration::from_secs(280))
                    .sign(),
            ),
            status: StatusCode::OK,
            error: None,
        },
        bad_proof(
            "iat just outside the window",
            setup
                .proof(&token)
                .issued_at(now - Duration::from_secs(320)),
        ),
        bad_proof(
            "iat in the future",
            setup
                .proof(&token)
                .issued_at(now + Duration::from_secs(320)),
        ),
        Case {
            name: "iat ahead of now within the clock skew (1 minute)",
            headers: dpop(
                setup
                    .proof(&token)
                    .issued_at(now + Duration::from_secs(50))
                    .sign(),
            ),
            status: StatusCode::OK,
            error: None,
        },
        bad_proof(
            "iat ahead of now by more than the clock skew, within the lifetime",
            setup.proof(&token).issued_at(now + Duration::from_secs(90)),
        ),
        Case {
            name: "cnf.jkt of another key",
            headers: vec![
                (
                    "authorization",
                    format!("DPoP {}", setup.token(Some(&other_key))),
                ),
                ("dpop", setup.proof(&setup.token(Some(&other_key))).sign()),
            ],
            status: StatusCode::UNAUTHORIZED,
            error: Some("invalid_dpop_proof"),
        },
        Case {
            name: "a bound token sent as Bearer",
            headers: vec![("authorization", format!("Bearer {token}"))],
            status: StatusCode::UNAUTHORIZED,
            error: Some("invalid_token"),
        },
        Case {
            name: "an unbound token sent with DPoP",
            headers: vec![
                ("authorization", format!("DPoP {}", setup.token(None))),
                ("dpop", setup.proof(&setup.token(None)).sign()),
            ],
            status: StatusCode::UNAUTHORIZED,
            error: Some("invalid_token"),
        },
        Case {
            name: "two DPoP headers",
            headers: vec![
                ("authorization", format!("DPoP {token}")),
                ("dpop", setup.proof(&token).sign()),
                ("dpop", setup.proof(&token).sign()),
            ],
            status: StatusCode::BAD_REQUEST,
            error: Some("invalid_request"),
        },
        Case {
            name: "no DPoP header",
            headers: vec![("authorization", format!("DPoP {token}"))],
            status: StatusCode::UNAUTHORIZED,
            error: Some("invalid_dpop_proof"),
        },
        Case {
            name: "an unbound token as Bearer (DPoP allowed)",
            headers: vec![("authorization", format!("Bearer {}", setup.token(None)))],
            status: StatusCode::OK,
            error: None,
        },
    ];
    for case in cases {
        let res = send(&app, &case.headers).await;
        assert_eq!(res.status(), case.status, "{}", case.name);
        let values = challenges(&res);
        if case.status == StatusCode::OK {
            assert!(values.is_empty(), "{}", case.name);
            continue;
        }
        // Both schemes are offered; each challenge names the metadata, DPoP its algorithms.
        assert_eq!(values.len(), 2, "{}: {values:?}", case.name);
        assert!(values[0].starts_with("Bearer "), "{}", case.name);
        let dpop = dpop_challenge(&res);
        assert_eq!(param(&dpop, "algs").as_deref(), Some(ALGS), "{}", case.name);
        for value in &values {
            assert_eq!(
                param(value, "resource_metadata").as_deref(),
                Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp"),
                "{}",
                case.name
            );
        }
        // The error sits on the challenge of the scheme the request used.
        let dpop_request = case
            .headers
            .iter()
            .any(|(n, v)| *n == "authorization" && v.starts_with("DPoP "));
        let (with_error, without) = if dpop_request {
            (&dpop, &values[0])
        } else {
            (&values[0], &dpop)
        };
        assert_eq!(
            param(with_error, "error").as_deref(),
            case.error,
            "{}: {values:?}",
            case.name
        );
        assert_eq!(param(without, "error"), None, "{}", case.name);
    }
}

/// The proof's key is compared with the token's `cnf.jkt` before its signature is checked:
/// a proof by another key is refused as such, whatever its signature, so a mismatched key
/// costs a hash and not a signature check. A proof by the bound key with a bad signature is
/// refused for its signature.
#[tokio::test]
async fn the_proof_key_is_compared_before_its_signature_is_checked() {
    let setup = Setup::new();
    let app = setup.app(Some(Dpop::allowed()));
    let other_key = SigningKey::es256();
    let bound_to_other = setup.token(Some(&other_key));
    let bound_to_client = setup.token(Some(&setup.client_key));
    let description = |res: &Response<Body>| param(&dpop_challenge(res), "error_description");
    for (what, token, proof, status, expected) in [
        (
            "another key, good signature",
            &bound_to_other,
            setup.proof(&bound_to_other).sign(),
            StatusCode::UNAUTHORIZED,
            Some("the DPoP proof is signed by another key than the token is bound to"),
        ),
        (
            "another key, bad signature",
            &bound_to_other,
            setup.proof(&bound_to_other).tamper_signature().sign(),
            StatusCode::UNAUTHORIZED,
            Some("the DPoP proof is signed by another key than the token is bound to"),
        ),
        (
            "the bound key, bad signature",
            &bound_to_client,
            setup.proof(&bound_to_client).tamper_signature().sign(),
            StatusCode::UNAUTHORIZED,
            Some("the DPoP proof's signature is invalid"),
        ),
        (
            "the bound key, good signature",
            &bound_to_client,
            setup.proof(&bound_to_client).sign(),
            StatusCode::OK,
            None,
        ),
    ] {
        let res = send(
            &app,
            &[("authorization", format!("DPoP {token}")), ("dpop", proof)],
        )
        .await;
        assert_eq!(res.status(), status, "{what}");
        if status == StatusCode::OK {
            continue;
        }
        assert_eq!(
            param(&dpop_challenge(&res), "error").as_deref(),
            Some("invalid_dpop_proof"),
            "{what}"
        );
        assert_eq!(description(&res).as_deref(), expected, "{what}");
    }
}

#[tokio::test]
async fn a_replayed_proof_is_refused_and_a_fresh_one_accepted() {
    let setup = Setup::new();
    let app = setup.app(Some(Dpop::allowed()));
    let token = setup.token(Some(&setup.client_key));
    let proof = setup.proof(&token).sign();
    let headers = vec![("authorization", format!("DPoP {token}")), ("dpop", proof)];
    let first = send(&app, &headers).await;
    assert_eq!(first.status(), StatusCode::OK);
    // The handler saw the key the token is bound to.
    let body = axum::body::to_bytes(first.into_body(), 1024)
        .await
        .expect("body");
    assert_eq!(body, key_thumbprint(&setup.client_key).as_bytes());
    let replay = send(&app, &headers).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        param(&dpop_challenge(&replay), "error").as_deref(),
        Some("invalid_dpop_proof")
    );
    // Control: a fresh proof for the same token works.
    let fresh = vec![
        ("authorization", format!("DPoP {token}")),
        ("dpop", setup.proof(&token).sign()),
    ];
    assert_eq!(send(&app, &fresh).await.status(), StatusCode::OK);
}

/// A store that notes how long each `jti` is to be remembered.
#[derive(Debug, Clone)]
struct Recording {
    inner: MemoryStore,
    ttls: std::sync::Arc<std::sync::Mutex<Vec<Duration>>>,
}

#[async_trait::async_trait]
impl Store for Recording {
    async fn get(
        &self,
        key: &StoreKey,
        renew: Option<Duration>,
    ) -> Result<Option<bytes::Bytes>, StoreError> {
        self.inner.get(key, renew).await
    }

    async fn insert(
        &self,
        key: &StoreKey,
        value: bytes::Bytes,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.inner.insert(key, value, ttl).await
    }

    async fn insert_if_absent(
        &self,
        key: &StoreKey,
        value: bytes::Bytes,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.ttls.lock().expect("lock").push(ttl);
        self.inner.insert_if_absent(key, value, ttl).await
    }
}

/// A proof's `iat` may be behind now by the lifetime and ahead by the clock skew, each its
/// own setting; its `jti` is remembered until the proof is older than the lifetime by a
/// clock behind ours by the skew (a replica's, sharing the store), and no longer.
#[tokio::test]
async fn a_jti_is_remembered_while_any_clock_within_the_skew_accepts_the_proof() {
    let setup = Setup::new();
    let store = Recording {
        inner: MemoryStore::new(100),
        ttls: std::sync::Arc::default(),
    };
    let app = setup.app(Some(
        Dpop::allowed()
            .proof_lifetime(Duration::from_secs(200))
            .proof_clock_skew(Duration::from_secs(100))
            .replay_store(store.clone()),
    ));
    let token = setup.token(Some(&setup.client_key));
    let now = SystemTime::now();
    let with_iat = |iat: SystemTime| {
        vec![
            ("authorization", format!("DPoP {token}")),
            ("dpop", setup.proof(&token).issued_at(iat).sign()),
        ]
    };
    // (iat relative to now, status, how long its jti is kept: iat + 200 s + 100 s - now)
    let cases = [
        (-190_i64, StatusCode::OK, Some(110_u64)),
        (0, StatusCode::OK, Some(300)),
        (90, StatusCode::OK, Some(390)),
        (-210, StatusCode::UNAUTHORIZED, None),
        (110, StatusCode::UNAUTHORIZED, None),
    ];
    for (offset, status, kept) in cases {
        let iat = if offset < 0 {
            now - Duration::from_secs(offset.unsigned_abs())
        } else {
            now + Duration::from_secs(offset.unsigned_abs())
        };
        let before = store.ttls.lock().expect("lock").len();
        let res = send(&app, &with_iat(iat)).await;
        assert_eq!(res.status(), status, "iat {offset:+} s");
        let ttls = store.ttls.lock().expect("lock").clone();
        match kept {
            None => assert_eq!(ttls.len(), before, "iat {offset:+} s: nothing stored"),
            Some(kept) => {
                let ttl = ttls.last().expect("a jti stored").as_secs_f64();
                // The proof's iat has whole seconds; the test took some time since `now`.
                assert!(
                    (kept as f64 - 3.0..=kept as f64 + 1.0).contains(&ttl),
                    "iat {offset:+} s: kept {ttl} s, expected about {kept} s"
                );
            }
        }
    }
}

/// A replay store that fills up (an attacker's own valid proofs, or heavy traffic) never
/// forgets a proof within its lifetime: the captured proof stays refused, and new proofs get
/// `503` with `Retry-After` (replay detection cannot answer), never a pass.
#[tokio::test]
async fn a_full_replay_store_fails_closed_and_still_refuses_replays() {
    let setup = Setup::new();
    let app = setup.app(Some(Dpop::allowed().replay_store(MemoryStore::new(100))));
    let victim = setup.token(Some(&setup.client_key));
    let captured = vec![
        ("authorization", format!("DPoP {victim}")),
        ("dpop", setup.proof(&victim).sign()),
    ];
    assert_eq!(send(&app, &captured).await.status(), StatusCode::OK);

    let attacker_key = SigningKey::es256();
    let attacker = setup.token(Some(&attacker_key));
    let attack = || {
        vec![
            ("authorization", format!("DPoP {attacker}")),
            (
                "dpop",
                DpopProof::new(&attacker_key, "POST", RESOURCE)
                    .access_token(&attacker)
                    .sign(),
            ),
        ]
    };
    let mut accepted = 0;
    let mut unavailable = 0;
    for _ in 0..300 {
        let res = send(&app, &attack()).await;
        match res.status() {
            StatusCode::OK => accepted += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                unavailable += 1;
                let retry = res.headers().get(header::RETRY_AFTER).expect("Retry-After");
                assert!(retry.to_str().expect("ASCII").parse::<u64>().is_ok());
            }
            other => panic!("unexpected {other}"),
        }
    }
    // The store holds 100 proofs: the victim's and 99 of the attacker's.
    assert_eq!((accepted, unavailable), (99, 201));
    let replay = send(&app, &captured).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        param(&dpop_challenge(&replay), "error").as_deref(),
        Some("invalid_dpop_proof")
    );
}

#[tokio::test]
async fn bound_tokens_are_never_bearer_tokens_even_with_dpop_off() {
    let setup = Setup::new();
    let off = setup.app(None);
    let bound = setup.token(Some(&setup.client_key));
    let res = send(&off, &[("authorization", format!("Bearer {bound}"))]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let values = challenges(&res);
    assert_eq!(values.len(), 1, "Bearer only: {values:?}");
    assert_eq!(param(&values[0], "error").as_deref(), Some("invalid_token"));
    // Control: the same layer accepts an unbound token.
    let unbound = setup.token(None);
    let res = send(&off, &[("authorization", format!("Bearer {unbound}"))]).await;
    assert_eq!(res.status(), StatusCode::OK);
    // With DPoP off, the DPoP scheme is not one the layer reads: 401 without error.
    let proof = setup.proof(&bound).sign();
    let res = send(
        &off,
        &[("authorization", format!("DPoP {bound}")), ("dpop", proof)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(param(&challenges(&res)[0], "error"), None);
}

/// A token bound some way the layer cannot check (RFC 7800's `jwk`, `kid`, `jku`, or a `cnf`
/// naming nothing) is refused as a bearer token, with DPoP on or off; an issuer's own note
/// beside `jkt` (Keycloak's `kc-jkt-type`) does not stop a proof from binding it.
#[tokio::test]
async fn tokens_bound_by_other_confirmation_methods_are_refused() {
    let setup = Setup::new();
    for app in [setup.app(None), setup.app(Some(Dpop::allowed()))] {
        for cnf in [
            json!({"jwk": setup.client_key.public_jwk()}),
            json!({"kid": "client-key-1"}),
            json!({"jku": "https://client.example.com/jwks"}),
            json!({}),
        ] {
            let token = setup.token_bound_by(cnf.clone());
            let res = send(&app, &[("authorization", format!("Bearer {token}"))]).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{cnf}");
            let values = challenges(&res);
            assert_eq!(
                param(&values[0], "error").as_deref(),
                Some("invalid_token"),
                "{cnf}"
            );
            assert_eq!(
                param(&values[0], "error_description").as_deref(),
                Some("token is bound by a confirmation method that is not supported"),
                "{cnf}"
            );
        }
    }
    // With `jkt` and a note beside it: bound, and accepted with its proof.
    let app = setup.app(Some(Dpop::allowed()));
    let noted = setup.token_bound_by(json!({
        "jkt": key_thumbprint(&setup.client_key),
        "kc-jkt-type": "dpop",
    }));
    let res = send(&app, &[("authorization", format!("Bearer {noted}"))]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "bound: no bearer");
    let res = setup.send_with_proof(&app, &noted).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn required_mode_refuses_bearer_and_says_so_in_the_metadata() {
    let setup = Setup::new();
    let app = setup.app(Some(Dpop::required()));
    let unbound = setup.token(None);
    let res = send(&app, &[("authorization", format!("Bearer {unbound}"))]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let values = challenges(&res);
    assert_eq!(values.len(), 1, "DPoP only: {values:?}");
    assert!(values[0].starts_with("DPoP "));
    assert_eq!(param(&values[0], "error").as_deref(), Some("invalid_token"));
    // No credentials: the DPoP challenge, without error.
    let res = send(&app, &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(param(&dpop_challenge(&res), "error"), None);
    // Control: a bound token with its proof passes.
    let bound = setup.token(Some(&setup.client_key));
    let res = setup.send_with_proof(&app, &bound).await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .clone()
        .oneshot(
            Request::get("/.well-known/oauth-protected-resource/mcp")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    let body = axum::body::to_bytes(res.into_body(), 4096)
        .await
        .expect("body");
    let metadata: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(metadata["dpop_bound_access_tokens_required"], true);
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(ALGS.split(' ').collect::<Vec<_>>())
    );
}

#[tokio::test]
async fn scopes_are_checked_for_dpop_as_for_bearer() {
    let setup = Setup::new();
    let app = setup.app(Some(Dpop::allowed()));
    let token = setup.token(Some(&setup.client_key));
    let mut req = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("DPoP {token}"))
        .header("dpop", setup.proof(&token).sign());
    req = req.header("x-ignored", "1");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete"}}"#;
    let res = app
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let dpop = dpop_challenge(&res);
    assert_eq!(param(&dpop, "error").as_deref(), Some("insufficient_scope"));
    assert_eq!(
        param(&dpop, "scope").as_deref(),
        Some("mcp:read files:write")
    );
}

#[tokio::test]
async fn nonces_are_required_when_asked_and_handed_out() {
    let setup = Setup::new();
    let app = setup.app(Some(Dpop::allowed().nonces(Duration::from_secs(60))));
    let token = setup.token(Some(&setup.client_key));
    let res = setup.send_with_proof(&app, &token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        param(&dpop_challenge(&res), "error").as_deref(),
        Some("use_dpop_nonce")
    );
    let nonce = res.headers()["dpop-nonce"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let res = send(
        &app,
        &[
            ("authorization", format!("DPoP {token}")),
            ("dpop", setup.proof(&token).nonce(&nonce).sign()),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("dpop-nonce"), "handed out again");
    // A made-up nonce is refused like a missing one.
    let res = send(
        &app,
        &[
            ("authorization", format!("DPoP {token}")),
            ("dpop", setup.proof(&token).nonce("made-up").sign()),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// The dev issuer binds a token to the key of the DPoP proof on the token request (RFC 9449
/// §5), as JWT (`cnf.jkt`) and as an opaque token (introspected `cnf`, `token_type: DPoP`);
/// the layer accepts either only with proofs from that key.
#[tokio::test]
async fn dev_issuer_tokens_bound_with_dpop_end_to_end() {
    use mcp_auth::{testing::DevIssuer, verifier::IntrospectionVerifier};

    const RS: &str = "http://127.0.0.1:8080/mcp";
    for opaque in [false, true] {
        let issuer = DevIssuer::builder()
            .client("m2m", "m2m-secret")
            .client("rs", "rs-secret")
            .default_resource(RS)
            .opaque_tokens(opaque)
            .start()
            .await
            .expect("issuer starts");
        let key = SigningKey::es256();
        let token_request = |proof: Option<String>| {
            let mut request = reqwest::Client::new()
                .post(issuer.token_endpoint())
                .basic_auth("m2m", Some("m2m-secret"))
                .form(&[("grant_type", "client_credentials"), ("resource", RS)]);
            if let Some(proof) = proof {
                request = request.header("dpop", proof);
            }
            request.send()
        };
        let answer: Value = token_request(Some(
            DpopProof::new(&key, "POST", &issuer.token_endpoint()).sign(),
        ))
        .await
        .expect("token request")
        .json()
        .await
        .expect("JSON");
        assert_eq!(answer["token_type"], "DPoP", "opaque={opaque}");
        let token = answer["access_token"].as_str().expect("a token").to_owned();
        if !opaque {
            let (_, claims) = mcp_auth::testing::decode_unverified(&token).expect("a JWT");
            assert_eq!(claims["cnf"]["jkt"], key_thumbprint(&key));
        }
        // A proof for another endpoint is refused by the issuer.
        let bad = token_request(Some(DpopProof::new(&key, "POST", RS).sign()))
            .await
            .expect("token request");
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

        let verifier: Box<dyn mcp_auth::TokenVerifier> = if opaque {
            Box::new(
                IntrospectionVerifier::builder()
                    .endpoint(issuer.introspection_endpoint())
                    .issuer(issuer.issuer())
                    .client_secret_basic("rs", "rs-secret")
                    .build()
                    .expect("verifier builds"),
            )
        } else {
            Box::new(JwtVerifier::discover(issuer.issuer()).expect("verifier builds"))
        };
        let auth = McpAuth::builder(RS)
            .verifier(verifier)
            .dpop(Dpop::allowed())
            .build()
            .expect("layer builds");
        let app = Router::new()
            .route("/mcp", any(|| async { "ok" }))
            .layer(auth);
        let proof = DpopProof::new(&key, "POST", RS).access_token(&token).sign();
        let with_proof = vec![("authorization", format!("DPoP {token}")), ("dpop", proof)];
        assert_eq!(
            send(&app, &with_proof).await.status(),
            StatusCode::OK,
            "opaque={opaque}"
        );
        assert_eq!(
            send(&app, &with_proof).await.status(),
            StatusCode::UNAUTHORIZED,
            "the same proof again (opaque={opaque})"
        );
        assert_eq!(
            send(&app, &[("authorization", format!("Bearer {token}"))])
                .await
                .status(),
            StatusCode::UNAUTHORIZED,
            "the bound token as Bearer (opaque={opaque})"
        );
        let stolen = DpopProof::new(&SigningKey::es256(), "POST", RS)
            .access_token(&token)
            .sign();
        assert_eq!(
            send(
                &app,
                &[("authorization", format!("DPoP {token}")), ("dpop", stolen)]
            )
            .await
            .status(),
            StatusCode::UNAUTHORIZED,
            "a proof from another key (opaque={opaque})"
        );
    }
}

#[test]
fn symmetric_proof_algorithms_are_refused_when_the_layer_is_built() {
    let setup = Setup::new();
    let build = |algorithms: Vec<Algorithm>| {
        McpAuth::builder(RESOURCE)
            .verifier(setup.verifier())
            .dpop(Dpop::allowed().algorithms(algorithms))
            .build()
    };
    assert!(build(vec![Algorithm::Es256, Algorithm::Hs256]).is_err());
    assert!(build(vec![]).is_err(), "no algorithm at all");
    // Control.
    assert!(build(vec![Algorithm::Es256]).is_ok());
}

/// RFC 8705: a token bound to a client certificate (`cnf.x5t#S256`) is accepted only on a
/// connection that presented that certificate, as the configured `CertificateBinding` reports.
#[tokio::test]
async fn certificate_bound_tokens_need_their_certificate() {
    let setup = Setup::new();
    let thumbprint = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2";
    let bound = setup.token_bound_by(json!({"x5t#S256": thumbprint}));
    let app = |binding: bool| {
        let mut auth = McpAuth::builder(RESOURCE)
            .verifier(setup.verifier())
            .required_scopes(["mcp:read"]);
        if binding {
            // A TLS-terminating proxy reports the certificate in a header.
            auth = auth.certificate_binding(|headers: &http::HeaderMap, _: &http::Extensions| {
                headers
                    .get("x-client-cert-sha256")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            });
        }
        Router::new()
            .route(
                "/mcp",
                any(|req: Request<Body>| async move {
                    req.extensions()
                        .get::<AuthInfo>()
                        .and_then(|i| i.certificate_thumbprint().map(str::to_owned))
                        .unwrap_or_default()
                }),
            )
            .layer(auth.build().expect("layer builds"))
    };
    let bearer = ("authorization", format!("Bearer {bound}"));
    let with_cert = app(true);

    let res = send(
        &with_cert,
        &[
            bearer.clone(),
            ("x-client-cert-sha256", thumbprint.to_owned()),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = axum::body::to_bytes(res.into_body(), 1024)
        .await
        .expect("body");
    assert_eq!(body, thumbprint, "the handler sees the binding");

    for (name, headers) in [
        (
            "another certificate",
            vec![bearer.clone(), ("x-client-cert-sha256", "AAAA".to_owned())],
        ),
        ("no certificate", vec![bearer.clone()]),
    ] {
        let res = send(&with_cert, &headers).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(
            param(&challenges(&res)[0], "error").as_deref(),
            Some("invalid_token"),
            "{name}"
        );
    }
    // A layer that cannot see certificates refuses certificate-bound tokens outright.
    let res = send(
        &app(false),
        &[bearer, ("x-client-cert-sha256", thumbprint.to_owned())],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Control: an unbound token needs no certificate.
    let res = send(
        &with_cert,
        &[("authorization", format!("Bearer {}", setup.token(None)))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}
