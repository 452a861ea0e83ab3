//! Unit tests of the claim rules: the time window, scopes, clients, audiences.

use serde_json::json;

use serde_json::Map;

use super::*;

fn claims(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("test claims are objects"),
    }
}

impl ClaimRules {
    /// [`describe`](ClaimRules::describe) of `claims` read both ways a verifier reads claims:
    /// viewed in a `serde_json` map (an introspection answer) and parsed from their JSON text
    /// (a JWT). The two must agree.
    #[allow(clippy::needless_pass_by_value)] // the call sites read better with a value
    fn describe_map(
        &self,
        claims: Map<String, Value>,
        issuer: Option<String>,
    ) -> Result<AuthInfo, VerifyError> {
        // As the introspection verifier does.
        let view = Object::from_map(&claims);
        let viewed = self
            .describe(&view, issuer.as_deref(), None)
            .map(|info| info.claims(self.other_claims(view)).build());
        // As the JWT verifier does.
        let text = serde_json::to_string(&claims).expect("serialises");
        let parsed = self
            .describe(
                &Object::parse(text.as_bytes()).expect("parses"),
                issuer.as_deref(),
                Some(&text),
            )
            .map(AuthInfoBuilder::build);
        match (&viewed, &parsed) {
            (Ok(a), Ok(b)) => {
                // Everything but a fractional `exp`, which may come back from its JSON text
                // one ulp apart, is equal.
                let exp = |info: &AuthInfo| {
                    info.expires_at()
                        .map(|t| t.duration_since(UNIX_EPOCH).expect("after").as_secs_f64())
                };
                match (exp(a), exp(b)) {
                    (Some(a), Some(b)) => assert!((a - b).abs() < 1e-3, "{a} / {b}"),
                    (a, b) => assert_eq!(a, b),
                }
                let fields = |info: &AuthInfo| {
                    let strings = [
                        info.subject(),
                        info.client_id(),
                        info.issuer(),
                        info.token_id(),
                        info.key_thumbprint(),
                        info.certificate_thumbprint(),
                    ]
                    .map(|s| s.map(str::to_owned));
                    let lists = [info.scopes().to_vec(), info.audiences().to_vec()];
                    (strings, lists)
                };
                assert_eq!(fields(a), fields(b));
                assert!(
                    close(
                        &Value::Object(a.claims().clone()),
                        &Value::Object(b.claims().clone())
                    ),
                    "{:?} / {:?}",
                    a.claims(),
                    b.claims()
                );
            }
            (Err(a), Err(b)) => assert_eq!(a.description(), b.description()),
            _ => panic!("the two readings disagree: {viewed:?} / {parsed:?}"),
        }
        parsed
    }
}

/// Equal JSON, but for floats, which serde_json may read back from their text one ulp apart.
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => x
            .as_f64()
            .zip(y.as_f64())
            .is_some_and(|(x, y)| (x - y).abs() <= x.abs() * 1e-15),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

/// Default rules with no leeway, changed by `f`.
fn rules(f: impl FnOnce(&mut ClaimRules)) -> ClaimRules {
    let mut rules = ClaimRules::default();
    rules.set_leeway(Duration::ZERO);
    f(&mut rules);
    rules
}

#[test]
fn time_window() {
    let now = now_secs();
    let strict = rules(|r| {
        r.set_leeway(Duration::from_secs(60));
        r.set_require_expiry(true);
    });
    let cases = [
        ("valid", json!({"exp": now + 10.0}), Ok(())),
        ("within leeway", json!({"exp": now - 30.0}), Ok(())),
        (
            "expired",
            json!({"exp": now - 61.0}),
            Err("token has expired"),
        ),
        ("no exp", json!({}), Err("token has no expiry")),
        ("null exp", json!({"exp": null}), Err("token has no expiry")),
        (
            "negative exp",
            json!({"exp": -1}),
            Err("token expiry is malformed"),
        ),
        (
            "string exp",
            json!({"exp": "soon"}),
            Err("token expiry is malformed"),
        ),
        (
            "huge exp",
            json!({"exp": 1e300}),
            Err("token expiry is malformed"),
        ),
        (
            "nbf later",
            json!({"exp": now + 600.0, "nbf": now + 120.0}),
            Err("token is not yet valid"),
        ),
        (
            "nbf within leeway",
            json!({"exp": now + 600.0, "nbf": now + 30.0}),
            Ok(()),
        ),
        (
            "iat in the future",
            json!({"exp": now + 600.0, "iat": now + 120.0}),
            Err("token is issued in the future"),
        ),
        (
            "iat malformed",
            json!({"exp": now + 600.0, "iat": true}),
            Err("token issued-at is malformed"),
        ),
        (
            "negative nbf",
            json!({"exp": now + 600.0, "nbf": -5}),
            Err("token not-before is malformed"),
        ),
    ];
    for (name, value, want) in cases {
        let got = strict.describe_map(claims(value), None).map(|_| ());
        match (got, want) {
            (Ok(()), Ok(())) => {}
            (Err(err), Err(description)) => {
                assert!(err.is_invalid_token(), "{name}");
                assert_eq!(err.description(), description, "{name}");
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
    assert!(rules(|_| {}).describe_map(claims(json!({})), None).is_ok());
}

#[test]
fn scopes_split_on_single_spaces_only() {
    let cases = [
        (json!("a b"), Ok(vec!["a", "b"])),
        (json!(" a  b "), Ok(vec!["a", "b"])),
        (json!(""), Ok(vec![])),
        (json!(["a", "", "b"]), Ok(vec!["a", "b"])),
        (json!("mcp:read\tnotes:write"), Err(())),
        (json!("mcp:read\nnotes:write"), Err(())),
        (json!("mcp:read\r\nnotes:write"), Err(())),
        (json!("a\u{a0}b"), Err(())),
        (json!("a \"b\""), Err(())),
        (json!("a\\b"), Err(())),
        (json!(["a b"]), Err(())),
        (json!(["a", 1]), Err(())),
        (json!({"a": 1}), Err(())),
        (json!(5), Err(())),
    ];
    for (value, want) in cases {
        let json = Json::from_value(&value);
        let got = parse_scopes(&json).map_err(|err| {
            assert!(err.is_invalid_token(), "{value}");
        });
        assert_eq!(got, want, "{value}");
    }
}

#[test]
fn token_is_described() {
    let info = rules(|r| r.set_require_expiry(true))
        .describe_map(
            claims(json!({
                "iss": "https://as.example.com", "sub": "alice", "azp": "c1",
                "scp": ["a", "b"], "aud": ["r1", "r2"], "exp": 4_000_000_000_u64,
                "jti": "j", "email": "alice@example.com",
            })),
            Some("https://as.example.com".into()),
        )
        .expect("accepted");
    assert_eq!(info.issuer(), Some("https://as.example.com"));
    assert_eq!(info.subject(), Some("alice"));
    assert_eq!(info.client_id(), Some("c1"));
    assert_eq!(info.scopes(), ["a", "b"]);
    assert_eq!(info.audiences(), ["r1", "r2"]);
    assert_eq!(info.token_id(), Some("j"));
    assert_eq!(
        info.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(4_000_000_000))
    );
    assert_eq!(info.claim("email"), Some(&json!("alice@example.com")));
    for described in ["iss", "sub", "aud", "exp", "jti", "scp"] {
        assert!(info.claim(described).is_none(), "{described}");
    }
    // `azp` names the client when `client_id` is absent, and stays readable as a claim.
    assert_eq!(info.claim("azp"), Some(&json!("c1")));
}

#[test]
fn scopes_from_several_claims_and_paths() {
    let keycloak = rules(|r| {
        r.set_scope_paths(vec![
            ClaimPath::from("scope"),
            ClaimPath::from("realm_access.roles"),
            ClaimPath::segments(["resource_access", "mcp.example.com", "roles"]),
        ]);
    });
    let info = keycloak
        .describe_map(
            claims(json!({
                "scope": "openid mcp:read",
                "realm_access": {"roles": ["admin"]},
                "resource_access": {"mcp.example.com": {"roles": ["notes:write"]}},
            })),
            None,
        )
        .expect("accepted");
    assert_eq!(
        info.scopes(),
        ["openid", "mcp:read", "admin", "notes:write"]
    );
    // Nested claims stay readable; the top-level scope claim is described by scopes().
    assert!(info.claim("realm_access").is_some());
    assert!(info.claim("scope").is_none());
    // A malformed role is a malformed token.
    assert!(
        keycloak
            .describe_map(claims(json!({"realm_access": {"roles": ["a b"]}})), None)
            .is_err()
    );
    // A missing path is no scope, not an error.
    assert!(
        keycloak
            .describe_map(claims(json!({"realm_access": 5})), None)
            .expect("accepted")
            .scopes()
            .is_empty()
    );
}

#[test]
fn clients_and_required_values() {
    let okta = rules(|r| r.set_allowed_clients(vec!["app-1".into()]));
    assert!(
        okta.describe_map(claims(json!({"cid": "app-1"})), None)
            .is_ok()
    );
    for refused in [json!({"cid": "app-2"}), json!({})] {
        let err = okta
            .describe_map(claims(refused.clone()), None)
            .expect_err("refused");
        assert!(err.is_invalid_token(), "{refused}");
    }

    let tenants = rules(|r| {
        r.add_required_values(ClaimPath::from("tid"), vec![json!("t1"), json!("t2")]);
        r.add_required_values(ClaimPath::from("amr"), vec![json!("mfa")]);
    });
    assert!(
        tenants
            .describe_map(claims(json!({"tid": "t2", "amr": ["pwd", "mfa"]})), None)
            .is_ok()
    );
    for refused in [
        json!({"tid": "t3", "amr": ["mfa"]}),
        json!({"tid": "t1", "amr": ["pwd"]}),
        json!({"tid": "t1"}),
        json!({"tid": ["t9"], "amr": "mfa"}),
    ] {
        assert!(
            tenants.describe_map(claims(refused.clone()), None).is_err(),
            "{refused}"
        );
    }
}

#[test]
fn the_client_is_read_only_from_the_configured_claims() {
    let both = json!({"client_id": "c1", "azp": "c2"});
    // `client_id` first by default; `azp` stays a claim, `client_id` leaves the claims.
    let info = rules(|_| {})
        .describe_map(claims(both.clone()), None)
        .expect("ok");
    assert_eq!(info.client_id(), Some("c1"));
    assert_eq!(info.claim("azp"), Some(&json!("c2")));
    assert!(info.claim("client_id").is_none());
    // Only `azp` configured: `client_id` is not the client, and still not a claim.
    let azp = rules(|r| r.set_client_claims(vec!["azp".into()]));
    let info = azp.describe_map(claims(both), None).expect("ok");
    assert_eq!(info.client_id(), Some("c2"));
    assert!(info.claim("client_id").is_none());
    let info = azp
        .describe_map(claims(json!({"client_id": "c1"})), None)
        .expect("ok");
    assert_eq!(info.client_id(), None);
    // `azp` after `client_id`: the first present wins.
    let later = rules(|r| r.set_client_claims(vec!["azp".into(), "client_id".into()]));
    let info = later
        .describe_map(claims(json!({"client_id": "c1"})), None)
        .expect("ok");
    assert_eq!(info.client_id(), Some("c1"));
}

#[test]
fn described_values_are_moved_not_changed() {
    let info = rules(|_| {})
        .describe_map(
            claims(json!({
                "aud": "r", "sub": "s", "jti": "j", "scope": "b a b  c",
                "cnf": {"jkt": "k"}, "iat": 1,
            })),
            None,
        )
        .expect("ok");
    assert_eq!(info.audiences(), ["r"]);
    assert_eq!(info.subject(), Some("s"));
    assert_eq!(info.token_id(), Some("j"));
    assert_eq!(info.scopes(), ["b", "a", "c"]);
    assert_eq!(info.key_thumbprint(), Some("k"));
    assert_eq!(info.claim("cnf"), Some(&json!({"jkt": "k"})));
    assert_eq!(info.claim("iat"), Some(&json!(1)));
    assert_eq!(info.claims().len(), 2);
}

#[test]
fn an_empty_audience_list_takes_the_assumed_audience() {
    // Found by review: `"aud": []` names no audience, as a missing `aud` does.
    let assumed = rules(|r| r.set_assumed_audience("https://mcp.example".into(), None));
    for claims_without_aud in [json!({"sub": "s", "aud": []}), json!({"sub": "s"})] {
        let info = assumed
            .describe_map(claims(claims_without_aud.clone()), None)
            .expect("ok");
        assert_eq!(
            info.audiences(),
            ["https://mcp.example"],
            "{claims_without_aud}"
        );
    }
    let info = assumed
        .describe_map(claims(json!({"aud": ["x"]})), None)
        .expect("ok");
    assert_eq!(info.audiences(), ["x"]);
}

#[test]
fn malformed_claims_are_invalid_tokens() {
    for value in [
        json!({"aud": 5}),
        json!({"aud": ["a", 5]}),
        json!({"sub": 1}),
        json!({"client_id": []}),
        json!({"jti": {}}),
        json!({"scope": {"a": 1}}),
    ] {
        let err = rules(|_| {})
            .describe_map(claims(value.clone()), None)
            .expect_err("malformed");
        assert!(err.is_invalid_token(), "{value}");
    }
}

#[test]
fn audience_rules() {
    let own = rules(|r| r.set_audiences(vec!["r".into()]));
    assert!(
        own.describe_map(claims(json!({"aud": ["x", "r"]})), None)
            .is_ok()
    );
    assert!(own.describe_map(claims(json!({"aud": "x"})), None).is_err());

    let assumed = rules(|r| r.set_assumed_audience("r".into(), None));
    let info = assumed
        .describe_map(claims(json!({})), None)
        .expect("accepted");
    assert_eq!(info.audiences(), ["r"]);
    let info = assumed
        .describe_map(claims(json!({"aud": "x"})), None)
        .expect("accepted");
    assert_eq!(info.audiences(), ["x"], "an aud present is never replaced");

    let cognito = rules(|r| r.set_assumed_audience("r".into(), Some(vec!["c1".into()])));
    let of = |value: Value| cognito.describe_map(claims(value), None).expect("accepted");
    assert_eq!(of(json!({"client_id": "c1"})).audiences(), ["r"]);
    assert!(of(json!({"client_id": "c2"})).audiences().is_empty());
    assert!(of(json!({})).audiences().is_empty());

    let required = rules(|r| r.add_required_claims(vec!["sub".into()]));
    assert!(required.describe_map(claims(json!({})), None).is_err());
    assert!(
        required
            .describe_map(claims(json!({"sub": "a"})), None)
            .is_ok()
    );
}

#[test]
fn settings_that_would_refuse_everything_are_refused() {
    assert!(rules(|r| r.set_allowed_clients(vec![])).validate().is_err());
    assert!(
        rules(|r| r.set_assumed_audience("r".into(), Some(vec![])))
            .validate()
            .is_err()
    );
    assert!(
        rules(|r| r.add_required_values("tid".into(), vec![]))
            .validate()
            .is_err()
    );
    assert!(
        rules(|r| r.set_allowed_clients(vec!["c".into()]))
            .validate()
            .is_ok()
    );
}

#[test]
fn a_confirmation_the_layer_cannot_check_is_refused() {
    let rules = rules(|_| {});
    let bound = |cnf: Value| {
        rules
            .describe_map(claims(json!({"aud": "r", "cnf": cnf})), None)
            .map(|info| {
                (
                    info.key_thumbprint().map(str::to_owned),
                    info.certificate_thumbprint().map(str::to_owned),
                )
            })
            .map_err(|err| err.description().to_owned())
    };
    let some = |s: &str| Some(s.to_owned());
    // What the layer checks: a key (DPoP) or a certificate (mTLS), with other members beside
    // it read as the issuer's notes (Keycloak adds `kc-jkt-type`).
    assert_eq!(bound(json!({"jkt": "k"})), Ok((some("k"), None)));
    assert_eq!(bound(json!({"x5t#S256": "t"})), Ok((None, some("t"))));
    assert_eq!(
        bound(json!({"jkt": "k", "kc-jkt-type": "dpop"})),
        Ok((some("k"), None))
    );
    assert_eq!(
        bound(json!({"jkt": "k", "jwk": {"kty": "OKP"}})),
        Ok((some("k"), None))
    );
    // Bound some other way (RFC 7800), or to nothing named: never a bearer token.
    for cnf in [
        json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}}),
        json!({"kid": "k1"}),
        json!({"jku": "https://as.example.com/jwks"}),
        json!({"jwe": "a.b.c.d.e"}),
        json!({"x5t": "t"}),
        json!({"kc-jkt-type": "dpop"}),
        json!({}),
        json!({"jkt": null}),
    ] {
        assert_eq!(
            bound(cnf.clone()),
            Err("token is bound by a confirmation method that is not supported".to_owned()),
            "{cnf}"
        );
    }
    for cnf in [json!({"jkt": 1}), json!({"x5t#S256": ["t"]}), json!("k")] {
        assert_eq!(
            bound(cnf.clone()),
            Err("token confirmation is malformed".to_owned()),
            "{cnf}"
        );
    }
    // The control: no `cnf`, a bearer token.
    let info = rules
        .describe_map(claims(json!({"aud": "r"})), None)
        .expect("a bearer token");
    assert_eq!(
        (info.key_thumbprint(), info.certificate_thumbprint()),
        (None, None)
    );
}
