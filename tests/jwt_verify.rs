//! `JwtVerifier` token rules, at the verifier level, with keys generated here and served over
//! loopback HTTP. Each case asserts the error kind (and for rejections, that nothing leaks).

#![cfg(feature = "jwt")]

mod jwt_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mcp_auth::{
    ConfigError, TokenVerifier, VerifyError,
    testing::{DevIssuer, Endpoint},
    verifier::{
        JwtVerifier,
        jwt::{Algorithm, TrustedIssuer},
    },
};
use serde_json::{Value, json};

use jwt_support::{TestKey, b64, claims, hmac, issuer_at, issuer_with, now, publish};

const AUD: &str = "http://127.0.0.1/mcp";

/// A verifier trusting `key` (as kid "k1") through the JWKS of a dev issuer.
async fn setup(key: &TestKey) -> (DevIssuer, JwtVerifier) {
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .build()
        .expect("verifier builds");
    (issuer, verifier)
}

fn expect_invalid(result: Result<mcp_auth::AuthInfo, VerifyError>, name: &str, token: &str) {
    match result {
        Ok(_) => panic!("{name}: accepted"),
        Err(err) => {
            // Refused: invalid, or not this verifier's (an untrusted or missing issuer); the
            // layer answers both with `401 invalid_token`.
            assert!(
                err.is_invalid_token() || err.is_foreign_token(),
                "{name}: {err:?}"
            );
            if token.len() > 8 {
                assert!(!err.description().contains(token), "{name}: token leaked");
                let debug = format!("{err:?}");
                assert!(!debug.contains(token), "{name}: token leaked into Debug");
            }
        }
    }
}

#[tokio::test]
async fn valid_tokens_of_every_key_type_are_accepted_and_reported_faithfully() {
    for key in [
        TestKey::rsa(),
        TestKey::es256(),
        TestKey::es384(),
        TestKey::ed25519(),
    ] {
        let (issuer, verifier) = setup(&key).await;
        let mut c = claims(issuer.issuer(), AUD);
        c["aud"] = json!([AUD, "https://other.example"]);
        c["custom"] = json!({"team": "blue"});
        let token = key.sign(Some("k1"), &c);
        let info = verifier
            .verify(&token)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", key.alg()));
        assert_eq!(info.issuer(), Some(issuer.issuer()));
        assert_eq!(info.subject(), Some("alice"));
        assert_eq!(info.client_id(), Some("client-1"));
        assert_eq!(info.token_id(), Some("token-1"));
        assert_eq!(info.audiences(), [AUD, "https://other.example"]);
        assert_eq!(info.scopes(), ["mcp:read", "mcp:write"]);
        assert_eq!(info.claim("custom"), Some(&json!({"team": "blue"})));
        assert!(
            info.claim("scope").is_none(),
            "scope is reported through scopes()"
        );
        assert!(info.expires_at().is_some());
    }
}

#[tokio::test]
async fn attacks_and_malformed_tokens_are_rejected() {
    let key = TestKey::rsa();
    let (issuer, verifier) = setup(&key).await;
    let iss = issuer.issuer();
    // Issued before the key set is fetched: a kid missing from the set is then a forgery
    // (401), never a key published since the fetch (503; tests/security.rs).
    let mut good = claims(iss, AUD);
    good["iat"] = json!(now() - 600);
    let attacker = TestKey::rsa();
    let header = |alg: &str| json!({"alg": alg, "typ": "at+jwt", "kid": "k1"});

    // HS256 "signed" with the RSA public key (the classic key-confusion attack).
    let jwk = key.jwk(None);
    let hs_input = format!(
        "{}.{}",
        b64(header("HS256").to_string().as_bytes()),
        b64(good.to_string().as_bytes())
    );
    let confusion = format!(
        "{hs_input}.{}",
        b64(&hmac(jwk.to_string().as_bytes(), hs_input.as_bytes()))
    );

    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64(json!({"alg": alg}).to_string().as_bytes()),
            b64(good.to_string().as_bytes())
        )
    };

    let good_token = key.sign(Some("k1"), &good);
    let (head, rest) = good_token.split_once('.').expect("three parts");
    let (payload, sig) = rest.split_once('.').expect("three parts");

    let mut cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned("none")),
        ("alg None", unsigned("None")),
        ("alg NONE", unsigned("NONE")),
        ("alg nOnE with signature", format!("{}AAAA", unsigned("nOnE"))),
        ("hs256 signed with the rsa public key", confusion),
        ("signed by another key under the same kid", attacker.sign(Some("k1"), &good)),
        (
            "embedded jwk of the attacker",
            attacker.sign_with_header(
                &json!({"alg": "RS256", "kid": "k1", "jwk": attacker.jwk(Some("k1"))}),
                &good,
            ),
        ),
        (
            "jku pointing at the attacker",
            attacker.sign_with_header(
                &json!({"alg": "RS256", "kid": "evil", "jku": issuer.jwks_uri()}),
                &good,
            ),
        ),
        (
            "x5u pointing at the attacker",
            attacker.sign_with_header(
                &json!({"alg": "RS256", "x5u": "https://evil.example/cert.pem"}),
                &good,
            ),
        ),
        (
            "x5c with the attacker certificate",
            attacker.sign_with_header(&json!({"alg": "RS256", "x5c": ["MIIB"]}), &good),
        ),
        (
            "unknown crit",
            key.sign_with_header(&json!({"alg": "RS256", "kid": "k1", "crit": ["exp"], "exp": 1}), &good),
        ),
        (
            "b64 false",
            key.sign_with_header(&json!({"alg": "RS256", "kid": "k1", "crit": ["b64"], "b64": false}), &good),
        ),
        ("empty crit", key.sign_with_header(&json!({"alg": "RS256", "kid": "k1", "crit": []}), &good)),
        ("alg lower case", key.sign_with_header(&json!({"alg": "rs256", "kid": "k1"}), &good)),
        ("alg missing", key.sign_with_header(&json!({"kid": "k1"}), &good)),
        ("alg of the wrong family", key.sign_with_header(&header("ES256"), &good)),
        ("kid not a string", key.sign_with_header(&json!({"alg": "RS256", "kid": 1}), &good)),
        ("typ of another kind", key.sign_with_header(&json!({"alg": "RS256", "kid": "k1", "typ": "dpop+jwt"}), &good)),
        ("padded signature", format!("{good_token}==")),
        ("standard base64 alphabet", format!("{head}.{payload}.{}", sig.replace('-', "+").replace('_', "/") + "+/")),
        ("non-canonical trailing bits", {
            // Flip the unused low bits of the last signature character.
            let mut s = sig.to_owned();
            let last = s.pop().expect("non-empty");
            let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let idx = alphabet.find(last).expect("b64url char");
            s.push(alphabet.as_bytes()[idx ^ 1] as char);
            format!("{head}.{payload}.{s}")
        }),
        ("broken base64 in payload", format!("{head}.{payload}!.{sig}")),
        ("whitespace inside", format!("{head}. {payload}.{sig}")),
        ("two parts", format!("{head}.{payload}")),
        ("four parts", format!("{good_token}.{sig}")),
        ("five parts (JWE)", format!("{head}.{payload}.{sig}.{sig}.{sig}")),
        ("empty signature", format!("{head}.{payload}.")),
        ("empty", String::new()),
        ("garbage", "not-a-jwt".to_owned()),
        ("header is an array", key.sign_raw("[1]", &good.to_string())),
        ("payload is a string", key.sign_raw(&header("RS256").to_string(), "\"x\"")),
        ("payload is not json", key.sign_raw(&header("RS256").to_string(), "{\"iss\":")),
        (
            "duplicate scope claim",
            key.sign_raw(
                &header("RS256").to_string(),
                &format!(
                    r#"{{"iss":"{iss}","aud":"{AUD}","exp":{},"scope":"mcp:read","scope":"admin"}}"#,
                    now() + 300
                ),
            ),
        ),
        (
            "duplicate iss",
            key.sign_raw(
                &header("RS256").to_string(),
                &format!(r#"{{"iss":"https://evil.example","iss":"{iss}","exp":{}}}"#, now() + 300),
            ),
        ),
        (
            "duplicate header alg",
            key.sign_raw(r#"{"alg":"none","alg":"RS256","kid":"k1"}"#, &good.to_string()),
        ),
        (
            "deeply nested claims",
            key.sign_raw(
                &header("RS256").to_string(),
                &format!(
                    r#"{{"iss":"{iss}","exp":{},"deep":{}1{}}}"#,
                    now() + 300,
                    "[".repeat(5_000),
                    "]".repeat(5_000)
                ),
            ),
        ),
        ("huge token", format!("{head}.{}.{sig}", "A".repeat(20_000))),
    ];

    // ECDSA with r = s = 0, against an EC key under a second issuer-less kid.
    let ec = TestKey::es256();
    publish(&issuer, vec![key.jwk(Some("k1")), ec.jwk(Some("ec"))]);
    let ec_input = format!(
        "{}.{}",
        b64(json!({"alg": "ES256", "kid": "ec"}).to_string().as_bytes()),
        b64(good.to_string().as_bytes())
    );
    cases.push(("ecdsa r = s = 0", format!("{ec_input}.{}", b64(&[0; 64]))));
    cases.push((
        "ecdsa r = s = n",
        format!("{ec_input}.{}", b64(&[0xff; 64])),
    ));
    cases.push((
        "ecdsa signature too short",
        format!("{ec_input}.{}", b64(&[1; 63])),
    ));

    for (name, token) in &cases {
        expect_invalid(verifier.verify(token).await, name, token);
    }
    // And the untampered token is fine, so the cases above fail for their own reason.
    assert!(verifier.verify(&good_token).await.is_ok());
    assert!(verifier.verify(&ec.sign(Some("ec"), &good)).await.is_ok());
}

#[tokio::test]
async fn claims_are_checked_only_once_the_signature_holds() {
    let key = TestKey::rsa();
    let (issuer, verifier) = setup(&key).await;
    let iss = issuer.issuer();
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}).to_string();
    // Claims the strict parser refuses (a second `scope`) behind a trusted `iss`: refused
    // as they are parsed, signed or forged, before any key is used.
    let payload = format!(
        r#"{{"iss":"{iss}","aud":"{AUD}","exp":{},"scope":"mcp:read","scope":"admin"}}"#,
        now() + 300
    );
    for signer in [&key, &TestKey::rsa()] {
        let err = verifier
            .verify(&signer.sign_raw(&header, &payload))
            .await
            .expect_err("refused");
        assert_eq!(err.description(), "token has a duplicate member");
    }
    // Claims that parse but fail the claim rules (expired, not yet valid): signed, they
    // are refused for what they say; forged, for the signature, since they are read only
    // once it holds.
    let now = now();
    for (claims, reason) in [
        (
            json!({"iss": iss, "aud": AUD, "exp": now - 600, "scope": "mcp:read"}),
            "token has expired",
        ),
        (
            json!({"iss": iss, "aud": AUD, "exp": now + 900, "nbf": now + 600}),
            "token is not yet valid",
        ),
    ] {
        let signed = verifier
            .verify(&key.sign_raw(&header, &claims.to_string()))
            .await
            .expect_err("refused");
        assert_eq!(signed.description(), reason);
        let forged = verifier
            .verify(&TestKey::rsa().sign_raw(&header, &claims.to_string()))
            .await
            .expect_err("refused");
        assert_eq!(forged.description(), "token signature is invalid");
    }
    // A second `iss` names no issuer: not this verifier's token, before any key is looked at.
    let two_issuers = format!(r#"{{"iss":"{iss}","iss":"{iss}","exp":{}}}"#, now + 300);
    let err = verifier
        .verify(&key.sign_raw(&header, &two_issuers))
        .await
        .expect_err("refused");
    assert!(err.is_foreign_token(), "{err:?}");
    // Control: the same header with ordinary claims passes.
    let good = claims(iss, AUD);
    assert!(verifier.verify(&key.sign(Some("k1"), &good)).await.is_ok());
}

#[tokio::test]
async fn claim_rules_go_beyond_jsonwebtoken_defaults() {
    let key = TestKey::es256();
    let (issuer, verifier) = setup(&key).await;
    let iss = issuer.issuer();
    let now = now();
    let with = |changes: Value| {
        let mut c = claims(iss, AUD);
        for (k, v) in changes.as_object().expect("object") {
            if v.is_null() {
                c.as_object_mut().expect("object").remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    struct Case {
        name: &'static str,
        claims: Value,
        ok: bool,
    }
    let cases = [
        Case {
            name: "baseline",
            claims: with(json!({})),
            ok: true,
        },
        Case {
            name: "exp missing",
            claims: with(json!({"exp": null})),
            ok: false,
        },
        Case {
            name: "exp as string",
            claims: with(json!({"exp": (now + 300).to_string()})),
            ok: false,
        },
        Case {
            name: "exp negative",
            claims: with(json!({"exp": -1})),
            ok: false,
        },
        Case {
            name: "expired beyond leeway",
            claims: with(json!({"exp": now - 61})),
            ok: false,
        },
        Case {
            name: "expired within leeway",
            claims: with(json!({"exp": now - 30})),
            ok: true,
        },
        Case {
            name: "exp fractional",
            claims: with(json!({"exp": now as f64 + 300.5})),
            ok: true,
        },
        Case {
            name: "nbf in the future",
            claims: with(json!({"nbf": now + 120})),
            ok: false,
        },
        Case {
            name: "nbf within leeway",
            claims: with(json!({"nbf": now + 30})),
            ok: true,
        },
        Case {
            name: "nbf wrong type",
            claims: with(json!({"nbf": "soon"})),
            ok: false,
        },
        Case {
            name: "iat in the future",
            claims: with(json!({"iat": now + 120})),
            ok: false,
        },
        Case {
            name: "iat wrong type",
            claims: with(json!({"iat": true})),
            ok: false,
        },
        Case {
            name: "iss missing",
            claims: with(json!({"iss": null})),
            ok: false,
        },
        Case {
            name: "iss wrong",
            claims: with(json!({"iss": "https://evil.example"})),
            ok: false,
        },
        Case {
            name: "iss with trailing slash",
            claims: with(json!({"iss": format!("{iss}/")})),
            ok: false,
        },
        Case {
            name: "iss as array containing the issuer",
            claims: with(json!({"iss": [iss]})),
            ok: false,
        },
        Case {
            name: "aud as number",
            claims: with(json!({"aud": 5})),
            ok: false,
        },
        Case {
            name: "aud array with a number",
            claims: with(json!({"aud": [AUD, 5]})),
            ok: false,
        },
        Case {
            name: "sub as object",
            claims: with(json!({"sub": {"id": 1}})),
            ok: false,
        },
        Case {
            name: "client_id as number",
            claims: with(json!({"client_id": 7})),
            ok: false,
        },
        Case {
            name: "scope as number",
            claims: with(json!({"scope": 7})),
            ok: false,
        },
        Case {
            name: "scope array with a number",
            claims: with(json!({"scope": ["a", 1]})),
            ok: false,
        },
    ];
    for case in cases {
        let token = key.sign(Some("k1"), &case.claims);
        let result = verifier.verify(&token).await;
        assert_eq!(result.is_ok(), case.ok, "{}: {:?}", case.name, result.err());
        if let Err(err) = result {
            assert!(
                err.is_invalid_token() || err.is_foreign_token(),
                "{}: {err:?}",
                case.name
            );
        }
    }
}

#[tokio::test]
async fn exp_equal_to_now_is_rejected_without_leeway() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .leeway(Duration::ZERO)
        .build()
        .expect("builds");
    let mut c = claims(issuer.issuer(), AUD);
    c["exp"] = json!(now());
    let err = verifier
        .verify(&key.sign(Some("k1"), &c))
        .await
        .unwrap_err();
    assert!(err.is_invalid_token());
    assert_eq!(err.description(), "token has expired");
    // Control: a minute later is fine.
    c["exp"] = json!(now() + 60);
    assert!(verifier.verify(&key.sign(Some("k1"), &c)).await.is_ok());
}

#[tokio::test]
async fn scopes_come_from_scope_or_scp_or_a_configured_claim() {
    let key = TestKey::es256();
    let (issuer, verifier) = setup(&key).await;
    let iss = issuer.issuer();
    let mut c = claims(iss, AUD);
    c.as_object_mut().expect("object").remove("scope");
    c["scp"] = json!(["files:read", "files:write"]);
    let info = verifier
        .verify(&key.sign(Some("k1"), &c))
        .await
        .expect("scp array");
    assert_eq!(info.scopes(), ["files:read", "files:write"]);

    c["scp"] = json!("a b");
    let info = verifier
        .verify(&key.sign(Some("k1"), &c))
        .await
        .expect("scp string");
    assert_eq!(info.scopes(), ["a", "b"]);

    let custom = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(iss, issuer.jwks_uri()))
        .scope_claims(["permissions"])
        .build()
        .expect("builds");
    let mut c = claims(iss, AUD);
    c["permissions"] = json!(["x:read"]);
    let info = custom
        .verify(&key.sign(Some("k1"), &c))
        .await
        .expect("custom claim");
    assert_eq!(info.scopes(), ["x:read"]);
    assert!(
        info.claim("scope").is_some(),
        "an unused scope claim stays a plain claim"
    );
}

#[tokio::test]
async fn typ_is_lenient_by_default_and_strict_on_request() {
    let key = TestKey::es256();
    let (issuer, lenient) = setup(&key).await;
    let strict = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .strict_token_type(true)
        .build()
        .expect("builds");
    let c = claims(issuer.issuer(), AUD);
    let with_typ = |typ: Option<&str>| {
        let mut h = json!({"alg": "ES256", "kid": "k1"});
        if let Some(typ) = typ {
            h["typ"] = json!(typ);
        }
        key.sign_with_header(&h, &c)
    };
    for (typ, lenient_ok, strict_ok) in [
        (Some("at+jwt"), true, true),
        (Some("application/at+jwt"), true, true),
        (Some("JWT"), true, false),
        (None, true, false),
        (Some("id+jwt"), false, false),
    ] {
        let token = with_typ(typ);
        assert_eq!(
            lenient.verify(&token).await.is_ok(),
            lenient_ok,
            "lenient {typ:?}"
        );
        assert_eq!(
            strict.verify(&token).await.is_ok(),
            strict_ok,
            "strict {typ:?}"
        );
    }
}

#[tokio::test]
async fn id_token_is_not_an_access_token_in_strict_mode_or_for_another_audience() {
    let key = TestKey::rsa();
    let (issuer, verifier) = setup(&key).await;
    let strict = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .strict_token_type(true)
        .audiences([AUD])
        .build()
        .expect("builds");
    let mut id_token = claims(issuer.issuer(), "client-1");
    id_token["nonce"] = json!("n-0S6_WzA2Mj");
    id_token.as_object_mut().expect("object").remove("scope");
    let token = key.sign_with_header(
        &json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}),
        &id_token,
    );
    assert!(strict.verify(&token).await.unwrap_err().is_invalid_token());
    // The lenient verifier reports the audience faithfully; the layer then rejects it.
    let info = verifier
        .verify(&token)
        .await
        .expect("signature and times are fine");
    assert_eq!(info.audiences(), ["client-1"]);
}

#[tokio::test]
async fn optional_audience_check_and_required_claims() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .audiences([AUD])
        .required_claims(["sub", "client_id"])
        .build()
        .expect("builds");
    let iss = issuer.issuer();
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(iss, AUD)))
            .await
            .is_ok()
    );
    let refused = |result: Result<mcp_auth::AuthInfo, VerifyError>, name: &str| {
        let err = result.expect_err(name);
        assert!(err.is_invalid_token(), "{name}: {err:?}");
    };
    let mut c = claims(iss, "https://other.example/mcp");
    refused(
        verifier.verify(&key.sign(Some("k1"), &c)).await,
        "other aud",
    );
    c["aud"] = json!(["https://other.example/mcp", AUD]);
    assert!(verifier.verify(&key.sign(Some("k1"), &c)).await.is_ok());
    c.as_object_mut().expect("object").remove("aud");
    refused(
        verifier.verify(&key.sign(Some("k1"), &c)).await,
        "missing aud",
    );
    for claim in ["sub", "client_id"] {
        let mut c = claims(iss, AUD);
        c.as_object_mut().expect("object").remove(claim);
        refused(verifier.verify(&key.sign(Some("k1"), &c)).await, claim);
    }
}

#[tokio::test]
async fn tokens_without_kid_work_when_unambiguous() {
    let one = TestKey::es256();
    let two = TestKey::es256();
    let issuer = issuer_with(vec![one.jwk(Some("a"))]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .build()
        .expect("builds");
    let c = claims(issuer.issuer(), AUD);
    assert!(
        verifier.verify(&one.sign(None, &c)).await.is_ok(),
        "single key"
    );

    // Two keys of the same type: a kid-less token is ambiguous.
    let issuer2 = issuer_with(vec![one.jwk(Some("a")), two.jwk(Some("b"))]).await;
    let verifier2 = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(
            issuer2.issuer(),
            issuer2.jwks_uri(),
        ))
        .build()
        .expect("builds");
    let c2 = claims(issuer2.issuer(), AUD);
    let err = verifier2.verify(&one.sign(None, &c2)).await.unwrap_err();
    assert_eq!(err.description(), "token signing key is ambiguous");
    assert!(verifier2.verify(&two.sign(Some("b"), &c2)).await.is_ok());

    // A duplicate kid is ambiguous, not "first wins".
    let issuer3 = issuer_with(vec![one.jwk(Some("a")), two.jwk(Some("a"))]).await;
    let verifier3 = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(
            issuer3.issuer(),
            issuer3.jwks_uri(),
        ))
        .build()
        .expect("builds");
    let c3 = claims(issuer3.issuer(), AUD);
    let err = verifier3
        .verify(&one.sign(Some("a"), &c3))
        .await
        .unwrap_err();
    assert_eq!(err.description(), "token signing key is ambiguous");
}

#[tokio::test]
async fn static_keys_from_jwk_set_pem_and_secret() {
    let iss = "https://as.example.com";
    let ec = TestKey::es256();
    let rsa = TestKey::rsa();
    let ed = TestKey::ed25519();
    let p384 = TestKey::es384();
    let secret = [42_u8; 32];
    let hs = TestKey::hmac(&secret);
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwk_set(
            iss,
            json!({"keys": [ec.jwk(Some("ec")), {"kty": "AKP", "alg": "ML-DSA-65", "pub": "AA"}]})
                .to_string(),
        ))
        .issuer(TrustedIssuer::pem("https://rsa.example.com", rsa.pem()))
        .issuer(TrustedIssuer::pem("https://ed.example.com", ed.pem()))
        .issuer(TrustedIssuer::pem("https://p384.example.com", p384.pem()))
        .issuer(TrustedIssuer::shared_secret(
            "https://hs.example.com",
            secret,
        ))
        .build()
        .expect("builds");
    assert!(
        verifier
            .verify(&ec.sign(Some("ec"), &claims(iss, AUD)))
            .await
            .is_ok()
    );
    for (issuer, key) in [
        ("https://rsa.example.com", &rsa),
        ("https://ed.example.com", &ed),
        ("https://p384.example.com", &p384),
        ("https://hs.example.com", &hs),
    ] {
        let token = key.sign(Some("whatever"), &claims(issuer, AUD));
        assert!(verifier.verify(&token).await.is_ok(), "{issuer}");
    }
    // HS256 with the secret, but claiming the asymmetric issuer: its keys are not HMAC keys.
    let forged = hs.sign(Some("ec"), &claims(iss, AUD));
    assert!(
        verifier
            .verify(&forged)
            .await
            .unwrap_err()
            .is_invalid_token()
    );
    // A key of one issuer does not verify another issuer's tokens.
    let cross = rsa.sign(None, &claims(iss, AUD));
    assert!(
        verifier
            .verify(&cross)
            .await
            .unwrap_err()
            .is_invalid_token()
    );
}

#[tokio::test]
async fn hs_is_refused_without_a_secret_and_secrets_are_redacted() {
    let key = TestKey::es256();
    let (issuer, verifier) = setup(&key).await;
    let hs = TestKey::hmac(&[1; 32]);
    let err = verifier
        .verify(&hs.sign(Some("k1"), &claims(issuer.issuer(), AUD)))
        .await
        .unwrap_err();
    assert!(err.is_invalid_token());
    assert_eq!(err.description(), "token algorithm is not accepted");
    // Control: the same claims signed by the trusted key.
    assert!(
        verifier
            .verify(&key.sign(Some("k1"), &claims(issuer.issuer(), AUD)))
            .await
            .is_ok()
    );

    let secret = "super-secret-value-0123456789abcdef";
    let issuer = TrustedIssuer::shared_secret("https://hs.example.com", secret.as_bytes());
    let debug = format!("{issuer:?}");
    assert!(
        debug.contains("[redacted]") && !debug.contains(secret),
        "{debug}"
    );
    let verifier = JwtVerifier::builder()
        .issuer(issuer)
        .build()
        .expect("builds");
    assert!(!format!("{verifier:?}").contains(secret));

    // A key set's URL with an API key in its query, or user info: redacted in `Debug`, in
    // the issuer's, the builder's and the built verifier's, which still shows the host.
    let jwks_uri = "https://user:hunter2@as.example.com/keys?api_key=hunter3#hunter4";
    let issuer = TrustedIssuer::jwks_uri("https://as.example.com", jwks_uri);
    let builder = JwtVerifier::builder().issuer(issuer.clone());
    for debug in [format!("{issuer:?}"), format!("{builder:?}")] {
        assert!(debug.contains("as.example.com/keys"), "{debug}");
        for hidden in ["hunter2", "hunter3", "hunter4", "api_key"] {
            assert!(!debug.contains(hidden), "{hidden}: {debug}");
        }
    }
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(
            "https://as.example.com",
            "https://as.example.com/keys?api_key=hunter3",
        ))
        .build()
        .expect("builds");
    let debug = format!("{verifier:?}");
    assert!(
        debug.contains("as.example.com") && !debug.contains("hunter3"),
        "{debug}"
    );
}

#[tokio::test]
async fn algorithm_allow_list_is_enforced() {
    let key = TestKey::ed25519();
    let allowed = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1")), allowed.jwk(Some("k2"))]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .algorithms([Algorithm::Es256])
        .build()
        .expect("builds");
    let err = verifier
        .verify(&key.sign(Some("k1"), &claims(issuer.issuer(), AUD)))
        .await
        .unwrap_err();
    assert!(err.is_invalid_token());
    assert_eq!(err.description(), "token algorithm is not accepted");
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        0,
        "rejected before any fetch"
    );
    // Control: a token in the allowed algorithm, from the same key set.
    assert!(
        verifier
            .verify(&allowed.sign(Some("k2"), &claims(issuer.issuer(), AUD)))
            .await
            .is_ok()
    );
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn several_issuers_route_by_iss_and_unknown_issuers_cost_no_fetch() {
    let a_key = TestKey::es256();
    let b_key = TestKey::rsa();
    let a = issuer_with(vec![a_key.jwk(Some("a"))]).await;
    let b = issuer_at("/tenant", vec![b_key.jwk(Some("b"))]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(a.issuer(), a.jwks_uri()))
        .issuer(TrustedIssuer::discover(b.issuer()))
        .build()
        .expect("builds");
    assert_eq!(
        verifier.issuers().collect::<Vec<_>>(),
        [a.issuer(), b.issuer()]
    );

    let info = verifier
        .verify(&a_key.sign(Some("a"), &claims(a.issuer(), AUD)))
        .await
        .expect("a");
    assert_eq!(info.issuer(), Some(a.issuer()));
    let info = verifier
        .verify(&b_key.sign(Some("b"), &claims(b.issuer(), AUD)))
        .await
        .expect("b");
    assert_eq!(info.issuer(), Some(b.issuer()));
    assert_eq!(
        (a.requests(Endpoint::Jwks), b.requests(Endpoint::Jwks)),
        (1, 1)
    );

    // A's key claiming to be B: B's keys are used, and the kid is unknown there. (Issued
    // before B's keys were fetched, so the kid cannot be a key B published since.)
    let mut old = claims(b.issuer(), AUD);
    old["iat"] = json!(now() - 600);
    let cross = a_key.sign(Some("a"), &old);
    assert!(
        verifier
            .verify(&cross)
            .await
            .unwrap_err()
            .is_invalid_token()
    );

    let a2 = a.requests(Endpoint::Jwks);
    let b2 = b.requests(Endpoint::Jwks);
    for i in 0..20 {
        let c = claims(&format!("https://unknown-{i}.example"), AUD);
        let err = verifier
            .verify(&a_key.sign(Some(&format!("x{i}")), &c))
            .await
            .unwrap_err();
        assert_eq!(err.description(), "token issuer is not trusted");
    }
    assert_eq!(
        (a.requests(Endpoint::Jwks), b.requests(Endpoint::Jwks)),
        (a2, b2),
        "no fetch for unknown issuers"
    );

    // The discovered metadata is kept for the introspection verifier.
    let metadata = verifier
        .authorization_server_metadata(b.issuer())
        .await
        .expect("metadata");
    assert_eq!(
        metadata.introspection_endpoint(),
        Some(b.introspection_endpoint().as_str())
    );
    assert!(
        verifier
            .authorization_server_metadata("https://unknown.example")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn verified_tokens_are_cached_by_hash_until_exp() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        // 1.5 s: far beyond the 60 ms the test waits below, so a stalled machine still
        // reads the token from the cache.
        .token_cache_max_ttl(Duration::from_millis(1_500))
        .jwks_min_refresh_interval(Duration::from_millis(50))
        .jwks_refresh_interval(Duration::from_millis(50))
        .build()
        .expect("builds");
    let token = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));
    assert!(verifier.verify(&token).await.is_ok());
    // The key disappears from the set; the cached token still passes without a fetch...
    publish(&issuer, vec![]);
    tokio::time::sleep(Duration::from_millis(60)).await;
    let fetches = issuer.requests(Endpoint::Jwks);
    assert!(
        verifier.verify(&token).await.is_ok(),
        "served from the cache"
    );
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        fetches,
        "no key lookup for a cached token"
    );
    let cached = verifier.verify_cached(&token).expect("cached");
    assert_eq!(cached.audiences().iter().collect::<Vec<_>>(), [AUD]);
    // ...but only up to the cache's maximum TTL, so key removal takes effect.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert!(
        verifier.verify_cached(&token).is_none(),
        "past the maximum TTL"
    );
    let err = verifier.verify(&token).await.unwrap_err();
    assert!(err.is_invalid_token(), "{err:?}");
}

#[tokio::test]
async fn an_expired_token_is_not_served_from_the_cache() {
    let key = TestKey::es256();
    let issuer = issuer_with(vec![key.jwk(Some("k1"))]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .leeway(Duration::ZERO)
        .build()
        .expect("builds");
    // Two seconds ahead, not one: `now()` truncates, so `now() + 1` can be a few
    // milliseconds away and expire before the first check (CI saw it).
    let exp = now() + 2;
    let mut c = claims(issuer.issuer(), AUD);
    c["exp"] = json!(exp);
    let token = key.sign(Some("k1"), &c);
    assert!(verifier.verify_cached(&token).is_none(), "not verified yet");
    assert!(verifier.verify(&token).await.is_ok(), "valid until exp");
    assert!(verifier.verify_cached(&token).is_some(), "cached");
    // Sleep until just past `exp` by the wall clock, the clock the verifier reads.
    let past_exp = UNIX_EPOCH + Duration::from_secs(exp) + Duration::from_millis(100);
    let wait = past_exp
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    tokio::time::sleep(wait).await;
    assert!(verifier.verify_cached(&token).is_none(), "expired");
    assert!(
        verifier
            .verify(&token)
            .await
            .unwrap_err()
            .is_invalid_token()
    );
}

#[test]
fn configuration_errors_name_the_input() {
    struct Case {
        name: &'static str,
        result: Result<JwtVerifier, ConfigError>,
        /// The variant the error must be.
        is: fn(&ConfigError) -> bool,
        /// The offending input the message must quote, where there is one.
        names: Option<&'static str>,
    }
    let as_example = "https://as.example.com";
    let cases = [
        Case {
            name: "no issuer",
            result: JwtVerifier::builder().build(),
            is: |e| matches!(e, ConfigError::MissingIssuer),
            names: None,
        },
        Case {
            name: "plain http issuer",
            result: JwtVerifier::discover("http://as.example.com"),
            is: |e| matches!(e, ConfigError::InvalidIssuer { .. }),
            names: Some("http://as.example.com"),
        },
        Case {
            name: "relative issuer",
            result: JwtVerifier::discover("as.example.com"),
            is: |e| matches!(e, ConfigError::InvalidIssuer { .. }),
            names: Some("as.example.com"),
        },
        Case {
            name: "issuer with query",
            result: JwtVerifier::discover("https://as.example.com/?x=1"),
            is: |e| matches!(e, ConfigError::InvalidIssuer { .. }),
            // Named with its query redacted, as every URL in an error is.
            names: Some("https://as.example.com/?<redacted>"),
        },
        Case {
            name: "plain http jwks",
            result: JwtVerifier::builder()
                .issuer(TrustedIssuer::jwks_uri(
                    as_example,
                    "http://as.example.com/jwks",
                ))
                .build(),
            is: |e| matches!(e, ConfigError::InvalidUrl { .. }),
            names: Some("http://as.example.com/jwks"),
        },
        Case {
            name: "short secret",
            result: JwtVerifier::builder()
                .issuer(TrustedIssuer::shared_secret(as_example, [1; 16]))
                .build(),
            is: |e| matches!(e, ConfigError::InvalidKeys { .. }),
            names: Some(as_example),
        },
        Case {
            name: "no usable static key",
            result: JwtVerifier::builder()
                .issuer(TrustedIssuer::jwk_set(
                    as_example,
                    r#"{"keys":[{"kty":"oct","k":"AA"}]}"#,
                ))
                .build(),
            is: |e| matches!(e, ConfigError::InvalidKeys { .. }),
            names: Some(as_example),
        },
        Case {
            name: "bad pem",
            result: JwtVerifier::builder()
                .issuer(TrustedIssuer::pem(
                    as_example,
                    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                ))
                .build(),
            is: |e| matches!(e, ConfigError::InvalidKeys { .. }),
            names: Some(as_example),
        },
        Case {
            name: "duplicate issuer",
            result: JwtVerifier::builder()
                .issuer(TrustedIssuer::discover(as_example))
                .issuer(TrustedIssuer::discover(as_example))
                .build(),
            is: |e| matches!(e, ConfigError::DuplicateIssuer { .. }),
            names: Some(as_example),
        },
        Case {
            name: "empty algorithms",
            result: JwtVerifier::builder()
                .issuer(TrustedIssuer::discover(as_example))
                .algorithms([])
                .build(),
            is: |e| matches!(e, ConfigError::EmptyAlgorithms),
            names: None,
        },
    ];
    for case in cases {
        let err = case.result.expect_err(case.name);
        assert!((case.is)(&err), "{}: {err:?}", case.name);
        if let Some(input) = case.names {
            assert!(
                err.to_string().contains(&format!("{input:?}")),
                "{}: {err}",
                case.name
            );
        }
    }
    // Controls: the same shapes, valid.
    assert!(
        JwtVerifier::builder()
            .issuer(TrustedIssuer::discover("http://as.internal"))
            .danger_allow_http(true)
            .build()
            .is_ok()
    );
    assert!(JwtVerifier::discover("http://localhost:8080").is_ok());
    assert!(JwtVerifier::discover(as_example).is_ok());
    assert!(
        JwtVerifier::builder()
            .issuer(TrustedIssuer::shared_secret(as_example, [1; 32]))
            .build()
            .is_ok()
    );
}

/// A token over `max_token_size` is refused only when it is this verifier's to judge (a JWT
/// from a trusted issuer); another is foreign, so a chain (`JwtOrIntrospection`) hands a
/// large opaque token on to introspection instead of refusing it.
#[tokio::test]
async fn a_token_too_large_to_check_is_refused_only_if_it_is_ours() {
    let key = TestKey::es256();
    let (issuer, _) = setup(&key).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .max_token_size(1024)
        .build()
        .expect("verifier builds");
    let mut big = claims(issuer.issuer(), AUD);
    big["padding"] = json!("x".repeat(2048));
    let ours = key.sign(Some("k1"), &big);
    let err = verifier.verify(&ours).await.expect_err("too large");
    assert!(err.is_invalid_token(), "{err:?}");
    big["iss"] = json!("https://other.example.com");
    let theirs = key.sign(Some("k1"), &big);
    let err = verifier.verify(&theirs).await.expect_err("too large");
    assert!(err.is_foreign_token(), "{err:?}");
    let opaque = "o".repeat(4096);
    let err = verifier.verify(&opaque).await.expect_err("too large");
    assert!(err.is_foreign_token(), "{err:?}");
    // Control: within the size, our token is accepted.
    let small = key.sign(Some("k1"), &claims(issuer.issuer(), AUD));
    assert!(verifier.verify(&small).await.is_ok());
}
