//! DPoP proofs (RFC 9449 §4.3) through the layer's proof checker, for a fixed access token and
//! key binding: an accepted proof passes every documented check (by an independent reading),
//! cannot be replayed, and stops verifying once one byte of what was signed changes.
//!
//! Input: a flags byte, then `method NUL path NUL payload`. Flags: bit 0 clear: the payload is
//! the proof; set: the payload is `header NUL claims`, signed by the fixed fuzz key. For a
//! signed proof, bit 1 puts the fuzz key's `jwk` in the header (when it is an object), bit 2
//! sets `iat` to now, bit 3 sets `ath` to the token's hash, bit 4 sets `htu` to the resource
//! origin and the path, bit 5 sets `htm` to the method. Bit 6: the token is bound to the fuzz
//! key (otherwise to the proof's own `jwk`). Bit 7: proofs live 5 minutes (otherwise a
//! century, so that seed proofs stay current).

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mcp_auth::{challenge::AuthErrorKind, fuzzing, verifier::jwt::Algorithm};
use mcp_auth_fuzz::{b64, b64_decode, fuzz_jwk, oracles::rfc3986};
use serde_json::Value;
use sha2::{Digest, Sha256};

const TOKEN: &str = "fuzz-access-token";
const ORIGIN: &str = "https://mcp.example.com";

fn ath() -> String {
    b64(&Sha256::digest(TOKEN.as_bytes()))
}

/// Applies the signed-mode switches to a JSON object part.
fn patch(part: &[u8], patch: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Vec<u8> {
    match serde_json::from_slice::<Value>(part) {
        Ok(Value::Object(mut object)) => {
            patch(&mut object);
            Value::Object(object).to_string().into_bytes()
        }
        _ => part.to_vec(),
    }
}

/// What an accepted proof must be.
fn check_accepted(
    proof: &str,
    method: &str,
    path: &str,
    jkt: &str,
    (lifetime, skew): (Duration, Duration),
) {
    let jws = fuzzing::jws_parse(proof).expect("an accepted proof parses strictly");
    let (header, claims) = (&jws.header, &jws.claims);
    let typ = header["typ"].as_str().expect("typ").to_ascii_lowercase();
    assert!(typ == "dpop+jwt" || typ == "application/dpop+jwt", "{typ}");
    let alg: Algorithm = header["alg"].as_str().expect("alg").parse().expect("alg");
    assert!(fuzzing::DPOP_ALGORITHMS.contains(&alg), "{alg:?}");
    let jwk = header["jwk"].as_object().expect("a jwk object");
    for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        assert!(!jwk.contains_key(private), "{private}");
    }
    assert_eq!(fuzzing::jwk_thumbprint(jwk).as_deref(), Ok(jkt));
    let jti = claims["jti"].as_str().expect("jti");
    assert!(!jti.is_empty() && jti.len() <= 256);
    assert_eq!(claims["htm"].as_str(), Some(method));
    let htu = claims["htu"].as_str().expect("htu");
    assert!(!htu.contains(['?', '#']));
    let expected = format!("{ORIGIN}{path}");
    if rfc3986::parse(&expected).is_some() {
        assert!(
            rfc3986::equivalent(htu, &expected),
            "htu {htu:?} accepted for {expected:?}"
        );
    }
    let iat = claims["iat"].as_f64().expect("iat");
    let now = mcp_auth_fuzz::now();
    let (behind, ahead) = (lifetime.as_secs_f64() + 1.0, skew.as_secs_f64() + 1.0);
    assert!((now - behind..=now + ahead).contains(&iat), "iat {iat}");
    assert_eq!(claims["ath"].as_str(), Some(ath().as_str()));
}

fuzz_target!(|data: &[u8]| {
    let (flags, rest) = mcp_auth_fuzz::flags(data);
    let parts = mcp_auth_fuzz::fields(rest, 3);
    let [method, path, payload] = parts.as_slice() else {
        return;
    };
    // The request path as the layer sees it: `http`'s reading of the request target.
    let Ok(uri) = http::Uri::try_from(*path) else {
        return;
    };
    let path = uri.path();
    let Ok(method_text) = std::str::from_utf8(method) else {
        return;
    };
    let proof = if flags & 1 == 0 {
        match std::str::from_utf8(payload) {
            Ok(proof) => proof.to_owned(),
            Err(_) => return,
        }
    } else {
        let signed = mcp_auth_fuzz::fields(payload, 2);
        let header = patch(signed[0], |h| {
            if flags & 2 != 0 {
                h.insert("jwk".into(), fuzz_jwk());
            }
        });
        let claims = patch(signed.get(1).copied().unwrap_or_default(), |c| {
            if flags & 4 != 0 {
                c.insert("iat".into(), (mcp_auth_fuzz::now() as u64).into());
            }
            if flags & 8 != 0 {
                c.insert("ath".into(), ath().into());
            }
            if flags & 16 != 0 {
                c.insert("htu".into(), format!("{ORIGIN}{path}").into());
            }
            if flags & 32 != 0 {
                c.insert("htm".into(), method_text.into());
            }
        });
        mcp_auth_fuzz::sign(&header, &claims)
    };
    let jkt = if flags & 64 != 0 {
        fuzzing::jwk_thumbprint(fuzz_jwk().as_object().expect("an object")).expect("thumbprint")
    } else {
        // The proof's own key, read without verifying anything.
        proof
            .split('.')
            .next()
            .and_then(b64_decode)
            .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
            .and_then(|h| h.get("jwk").and_then(Value::as_object).cloned())
            .and_then(|jwk| fuzzing::jwk_thumbprint(&jwk).ok())
            .unwrap_or_default()
    };
    // The defaults, or a window wide enough for any `iat` (to reach the checks after it).
    let window = if flags & 128 != 0 {
        (Duration::from_secs(300), Duration::from_secs(60))
    } else {
        let century = Duration::from_secs(100 * 365 * 24 * 3600);
        (century, century)
    };
    let rt = mcp_auth_fuzz::runtime();
    let Some([first, second]) = rt.block_on(fuzzing::dpop_check(
        &proof, method, path, TOKEN, &jkt, window,
    )) else {
        return;
    };
    match first {
        Ok(()) => {
            check_accepted(&proof, method_text, path, &jkt, window);
            let replay = second.expect_err("a replayed proof is refused");
            assert_eq!(replay.kind(), AuthErrorKind::InvalidDpopProof);
            // One more byte in the signed claims: the signature no longer matches.
            let mut parts = proof.split('.');
            if let (Some(h), Some(c), Some(s)) = (parts.next(), parts.next(), parts.next())
                && let Some(mut claims) = b64_decode(c)
            {
                claims.push(b' ');
                let tampered = format!("{h}.{}.{s}", b64(&claims));
                let again = rt
                    .block_on(fuzzing::dpop_check(
                        &tampered, method, path, TOKEN, &jkt, window,
                    ))
                    .expect("same method");
                assert!(again[0].is_err(), "a changed proof still verifies");
            }
        }
        Err(err) => {
            assert_eq!(err.kind(), AuthErrorKind::InvalidDpopProof, "{err}");
            assert!(second.is_err());
        }
    }
});
