//! JWK set documents: which keys are usable (each for the documented reasons only), which key
//! a token's `kid` and `alg` select (against an independent model of the rule), and that a
//! usable key verifies a signature only if it is the key that made it.
//!
//! Input: the JWK set document (JSON).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth::{
    fuzzing::{self, KeySet, Selection},
    verifier::jwt::Algorithm,
};
use mcp_auth_fuzz::{b64, b64_decode, fuzz_key};
use serde_json::{Map, Value};

const ALGORITHMS: [Algorithm; 15] = [
    Algorithm::Ed25519,
    Algorithm::EdDsa,
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::Esp256,
    Algorithm::Esp384,
    Algorithm::Hs256,
    Algorithm::Hs384,
    Algorithm::Hs512,
    Algorithm::Ps256,
    Algorithm::Ps384,
    Algorithm::Ps512,
    Algorithm::Rs256,
    Algorithm::Rs384,
    Algorithm::Rs512,
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Family {
    P256,
    P384,
    Ed25519,
    Rsa,
}

fn family_fits(family: Family, alg: Algorithm) -> bool {
    use Algorithm::*;
    matches!(
        (family, alg),
        (Family::P256, Es256 | Esp256)
            | (Family::P384, Es384 | Esp384)
            | (Family::Ed25519, EdDsa | Ed25519)
            | (Family::Rsa, Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512)
    )
}

/// RFC 9864: the polymorphic names and their fully specified equivalents.
fn fully_specified(alg: Algorithm) -> Algorithm {
    match alg {
        Algorithm::EdDsa => Algorithm::Ed25519,
        Algorithm::Es256 => Algorithm::Esp256,
        Algorithm::Es384 => Algorithm::Esp384,
        other => other,
    }
}

/// A usable key as the documentation describes one.
struct Model {
    kid: Option<String>,
    family: Family,
    alg: Option<Algorithm>,
}

impl Model {
    fn fits(&self, alg: Algorithm) -> bool {
        family_fits(self.family, alg)
            && self
                .alg
                .is_none_or(|own| fully_specified(own) == fully_specified(alg))
    }
}

fn str_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    jwk.get(name).and_then(Value::as_str)
}

/// What a usable JWK must be: a public signature key of a supported type, with consistent
/// members.
fn model(jwk: &Value) -> Model {
    let jwk = jwk.as_object().expect("a usable JWK is an object");
    let kty = str_member(jwk, "kty").expect("kty");
    if let Some(usage) = jwk.get("use") {
        assert_eq!(usage, "sig");
    }
    if let Some(ops) = jwk.get("key_ops") {
        assert!(
            ops.as_array()
                .expect("an array")
                .iter()
                .any(|op| op == "verify")
        );
    }
    for name in ["kid", "alg", "use"] {
        assert!(
            matches!(jwk.get(name), None | Some(Value::String(_))),
            "{name}"
        );
    }
    let decoded = |name: &str| b64_decode(str_member(jwk, name).expect(name)).expect(name);
    let family = match kty {
        "RSA" => {
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
                assert!(!jwk.contains_key(private), "{private}");
            }
            let n = decoded("n");
            let n: Vec<u8> = n.into_iter().skip_while(|&b| b == 0).collect();
            let bits =
                (n.len() * 8).saturating_sub(n.first().map_or(0, |b| b.leading_zeros() as usize));
            assert!((2048..=8192).contains(&bits), "{bits} bits");
            let e: Vec<u8> = decoded("e").into_iter().skip_while(|&b| b == 0).collect();
            assert!(e.len() <= 8 && e != [1] && e.last().is_some_and(|b| b & 1 == 1));
            Family::Rsa
        }
        "EC" => {
            assert!(!jwk.contains_key("d"));
            let (family, len) = match str_member(jwk, "crv") {
                Some("P-256") => (Family::P256, 32),
                Some("P-384") => (Family::P384, 48),
                other => panic!("crv {other:?}"),
            };
            assert_eq!(decoded("x").len(), len);
            assert_eq!(decoded("y").len(), len);
            family
        }
        "OKP" => {
            assert!(!jwk.contains_key("d"));
            assert_eq!(str_member(jwk, "crv"), Some("Ed25519"));
            assert_eq!(decoded("x").len(), 32);
            Family::Ed25519
        }
        other => panic!("usable key of type {other}"),
    };
    let alg = str_member(jwk, "alg").map(|a| a.parse::<Algorithm>().expect("a known alg"));
    if let Some(alg) = alg {
        assert!(family_fits(family, alg), "{alg:?} on {family:?}");
    }
    Model {
        kid: str_member(jwk, "kid").map(str::to_owned),
        family,
        alg,
    }
}

/// The selection rule: a key with the token's `kid` when there is one; otherwise the keys
/// without a `kid` (or every key, for a token without one); exactly one must fit.
fn select(models: &[Model], kid: Option<&str>, alg: Algorithm) -> Selection {
    if let Some(kid) = kid {
        let named: Vec<usize> = (0..models.len())
            .filter(|&i| models[i].kid.as_deref() == Some(kid))
            .collect();
        if !named.is_empty() {
            let fitting: Vec<usize> = named.into_iter().filter(|&i| models[i].fits(alg)).collect();
            return match fitting.as_slice() {
                [] => Selection::Mismatch,
                [one] => Selection::Found(*one),
                _ => Selection::Ambiguous,
            };
        }
    }
    let candidates: Vec<usize> = (0..models.len())
        .filter(|&i| (kid.is_none() || models[i].kid.is_none()) && models[i].fits(alg))
        .collect();
    match candidates.as_slice() {
        [] => Selection::Unknown,
        [one] => Selection::Found(*one),
        _ => Selection::Ambiguous,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(document) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let set = KeySet::from_jwks(&document);
    let Some(keys) = document.get("keys").and_then(Value::as_array) else {
        assert!(set.is_err());
        return;
    };
    let set = set.expect("a document with a keys array parses");
    assert_eq!(set.len() + set.skipped(), keys.len());
    let usable: Vec<&Value> = keys
        .iter()
        .filter(|jwk| fuzzing::jwk_usable(jwk).is_ok())
        .collect();
    assert_eq!(usable.len(), set.len());
    let models: Vec<Model> = usable.iter().map(|jwk| model(jwk)).collect();

    let mut kids: Vec<Option<&str>> = vec![None, Some("no-such-kid")];
    kids.extend(models.iter().filter_map(|m| m.kid.as_deref()).map(Some));
    for kid in kids {
        for alg in ALGORITHMS {
            assert_eq!(
                set.select(kid, alg),
                select(&models, kid, alg),
                "{kid:?} {alg:?}"
            );
        }
    }

    // Signatures: the fuzz key's signature verifies under a usable key only if it is the
    // fuzz key; a junk signature never does.
    let message = b"mcp-auth fuzz message";
    let signature = b64(fuzz_key().sign(message).as_ref());
    let fuzz_x = b64(aws_lc_rs::signature::KeyPair::public_key(fuzz_key()).as_ref());
    for (index, (jwk, model)) in usable.iter().zip(&models).enumerate() {
        for alg in ALGORITHMS.into_iter().filter(|&alg| model.fits(alg)) {
            assert!(set.fits(index, alg));
            let verified = set.verify(index, alg, message, &signature);
            let is_fuzz_key = model.family == Family::Ed25519 && jwk["x"] == fuzz_x.as_str();
            assert_eq!(verified, is_fuzz_key, "{alg:?}");
            assert!(!set.verify(index, alg, message, "AAAA"));
        }
    }
});
