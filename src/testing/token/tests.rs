//! Unit tests of the token builder: jsonwebtoken accepts its good tokens and refuses every
//! broken one.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::Jwk};

use super::*;
use crate::testing::KeyAlgorithm;

fn install_provider() {
    // With both jsonwebtoken backends enabled (`--all-features`) none is picked
    // automatically; installing fails harmlessly when one is already installed.
    #[cfg(feature = "jwt-aws-lc-rs")]
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    #[cfg(all(feature = "jwt-rust-crypto", not(feature = "jwt-aws-lc-rs")))]
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// Verifies with jsonwebtoken, as the crate's JWT verifier does, from the public JWK.
fn decode_with_jsonwebtoken(key: &SigningKey, token: &str) -> Result<Value, String> {
    install_provider();
    let jwk: Jwk = serde_json::from_value(key.public_jwk()).map_err(|e| e.to_string())?;
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    let alg = match key.algorithm() {
        KeyAlgorithm::EdDsa => Algorithm::EdDSA,
        KeyAlgorithm::Es256 => Algorithm::ES256,
        _ => Algorithm::RS256,
    };
    let mut validation = Validation::new(alg);
    // jsonwebtoken accepts a token without `aud` unless told it is required.
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    validation.validate_nbf = true;
    validation.set_audience(&["http://127.0.0.1:3000/mcp"]);
    validation.set_issuer(&["https://as.example"]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| format!("{:?}", e.kind()))
}

fn good(key: &SigningKey) -> TokenBuilder {
    key.token()
        .issuer("https://as.example")
        .audience("http://127.0.0.1:3000/mcp")
        .subject("alice")
}

#[test]
fn jsonwebtoken_accepts_good_tokens_for_every_algorithm() {
    for alg in KeyAlgorithm::ALL {
        let key = SigningKey::generate(alg);
        let claims = decode_with_jsonwebtoken(&key, &good(&key).sign());
        assert_eq!(
            claims.as_ref().map(|c| c["sub"].clone()),
            Ok(Value::from("alice")),
            "{alg}"
        );
    }
}

#[test]
fn jsonwebtoken_rejects_every_broken_token() {
    struct Case {
        name: &'static str,
        build: fn(TokenBuilder) -> TokenBuilder,
    }
    let cases = [
        Case {
            name: "expired",
            build: TokenBuilder::expired,
        },
        Case {
            name: "not yet valid",
            build: TokenBuilder::not_yet_valid,
        },
        Case {
            name: "wrong issuer",
            build: TokenBuilder::wrong_issuer,
        },
        Case {
            name: "wrong audience",
            build: TokenBuilder::wrong_audience,
        },
        Case {
            name: "missing audience",
            build: TokenBuilder::without_audience,
        },
        Case {
            name: "alg none",
            build: TokenBuilder::alg_none,
        },
        Case {
            name: "hs256 confusion",
            build: TokenBuilder::hs256_with_public_key,
        },
        Case {
            name: "untrusted key",
            build: TokenBuilder::untrusted_key,
        },
        Case {
            name: "tampered signature",
            build: TokenBuilder::tamper_signature,
        },
        Case {
            name: "tampered payload",
            build: TokenBuilder::tamper_payload,
        },
        Case {
            name: "no exp",
            build: |b| b.without_claim("exp"),
        },
    ];
    for alg in [KeyAlgorithm::EdDsa, KeyAlgorithm::Es256] {
        let key = SigningKey::generate(alg);
        for case in &cases {
            let token = (case.build)(good(&key)).sign();
            assert!(
                decode_with_jsonwebtoken(&key, &token).is_err(),
                "{} ({alg})",
                case.name
            );
        }
    }
}

#[test]
fn untrusted_and_tampered_tokens_fail_only_on_the_signature() {
    let key = SigningKey::es256();
    for token in [
        good(&key).untrusted_key().sign(),
        good(&key).tamper_signature().sign(),
        good(&key).tamper_payload().sign(),
    ] {
        assert_eq!(
            decode_with_jsonwebtoken(&key, &token),
            Err("InvalidSignature".to_owned())
        );
    }
}

#[test]
fn hs256_confusion_verifies_with_the_pem_as_secret() {
    install_provider();
    let key = SigningKey::rs256();
    let token = good(&key).hs256_with_public_key().sign();
    let secret = DecodingKey::from_secret(key.public_key_pem().as_bytes());
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["http://127.0.0.1:3000/mcp"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &secret, &validation).is_ok());
}

#[test]
fn default_claims_and_header() {
    let key = SigningKey::es256();
    let (header, claims) = decode_unverified(&key.token().sign()).unwrap_or_default();
    assert_eq!(
        header,
        serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": key.kid()})
    );
    let keys: Vec<&String> = claims
        .as_object()
        .map(|c| c.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["exp", "iat", "jti"]);
    assert_eq!(
        claims["exp"]
            .as_u64()
            .zip(claims["iat"].as_u64())
            .map(|(e, i)| e - i),
        Some(300)
    );
}

#[test]
fn jti_is_fresh_per_signature() {
    let builder = SigningKey::es256().token();
    let a = decode_unverified(&builder.sign()).unwrap_or_default().1;
    let b = decode_unverified(&builder.sign()).unwrap_or_default().1;
    assert_ne!(a["jti"], b["jti"]);
}

#[test]
fn decode_unverified_rejects_garbage() {
    for bad in [
        "",
        "a",
        "a.b",
        "a.b.c.d",
        "!!.e30.x",
        "e30.W10.x",
        "bnVsbA.e30.x",
    ] {
        assert!(decode_unverified(bad).is_none(), "{bad}");
    }
    assert!(decode_unverified("e30.e30.").is_some());
}
