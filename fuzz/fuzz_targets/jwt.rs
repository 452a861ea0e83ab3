//! The JWT path: the strict JWS parser, and `JwtVerifier::verify` (header and claims decoding
//! and every check) with a fixed key set, on a current-thread runtime. A parsed token is
//! canonical and reads as `serde_json` reads it; an accepted token satisfies every RFC 9068
//! rule the verifier documents, reports its claims faithfully, and stops verifying once one
//! byte of what was signed changes.
//!
//! Input: a flags byte; bit 0 clear: the rest is a token. Bit 0 set: the rest is
//! `header NUL claims`, signed (EdDSA) by the fixed fuzz key, whose `kid` is `fuzz-ed25519`.
//! Bit 1 picks the stricter verifier. Bit 2 asks `verify_now` before `verify`, not after:
//! either way, it answers at once (the keys are at hand) and as `verify` does.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcp_auth::{
    TokenVerifier, fuzzing,
    verifier::{
        JwtVerifier,
        jwt::{Algorithm, TrustedIssuer},
    },
};
use mcp_auth_fuzz::{ISSUER, audiences_of, b64, b64_decode, numeric_date, scopes_of};
use serde_json::Value;

const LEEWAY: f64 = 60.0;

struct Verifier {
    verifier: JwtVerifier,
    algorithms: Option<&'static [Algorithm]>,
    strict_typ: bool,
}

fn verifiers() -> &'static [Verifier; 2] {
    static VERIFIERS: OnceLock<[Verifier; 2]> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        let keys = mcp_auth_fuzz::key_set();
        let lenient = JwtVerifier::builder()
            .issuer(TrustedIssuer::jwk_set(ISSUER, keys.clone()))
            .token_cache_capacity(256)
            .build()
            .expect("the lenient verifier builds");
        const STRICT_ALGS: &[Algorithm] = &[Algorithm::EdDsa, Algorithm::Es256];
        let strict = JwtVerifier::builder()
            .issuer(TrustedIssuer::jwk_set(ISSUER, keys))
            .algorithms(STRICT_ALGS.iter().copied())
            .strict_token_type(true)
            .token_cache_capacity(0)
            .build()
            .expect("the strict verifier builds");
        [
            Verifier {
                verifier: lenient,
                algorithms: None,
                strict_typ: false,
            },
            Verifier {
                verifier: strict,
                algorithms: Some(STRICT_ALGS),
                strict_typ: true,
            },
        ]
    })
}

/// The strict parser's answer is canonical and agrees with `serde_json`.
fn check_parse(token: &str) {
    let Ok(jws) = fuzzing::jws_parse(token) else {
        return;
    };
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(jws.signing_input, format!("{}.{}", parts[0], parts[1]));
    assert_eq!(jws.signature, parts[2]);
    assert!(!jws.signature.is_empty());
    for (i, part) in parts.iter().enumerate() {
        let decoded = b64_decode(part).expect("each part decodes");
        assert_eq!(b64(&decoded), *part, "part {i} is canonical base64url");
        if i < 2 {
            let lenient: Value = serde_json::from_slice(&decoded).expect("lenient JSON");
            let strict = if i == 0 { &jws.header } else { &jws.claims };
            assert_eq!(lenient, Value::Object(strict.clone()), "part {i}");
        }
    }
}

/// The strict JSON reader against `serde_json`: the same object when it accepts; when it
/// refuses as malformed, `serde_json` reads no object either. (A duplicate member is refused
/// as soon as its object ends, so what follows may be anything.)
fn check_json(json: &[u8]) {
    let lenient = serde_json::from_slice::<Value>(json);
    match fuzzing::json_object(json) {
        Ok(strict) => assert_eq!(lenient.expect("lenient JSON"), Value::Object(strict)),
        Err("duplicate member") => {}
        Err(_) => assert!(!lenient.is_ok_and(|v| v.is_object()), "an object refused"),
    }
}

/// What an accepted token must be.
fn check_accepted(token: &str, verifier: &Verifier, info: &mcp_auth::AuthInfo) {
    let jws = fuzzing::jws_parse(token).expect("an accepted token parses strictly");
    let (header, claims) = (&jws.header, &jws.claims);
    let alg: Algorithm = header["alg"]
        .as_str()
        .expect("alg is a string")
        .parse()
        .expect("a known alg");
    assert!(alg.is_asymmetric(), "no shared-secret issuer is configured");
    if let Some(allowed) = verifier.algorithms {
        assert!(allowed.contains(&alg), "{alg:?}");
    }
    assert!(!header.contains_key("crit") && !header.contains_key("b64"));
    match header.get("typ") {
        None => assert!(!verifier.strict_typ),
        Some(Value::String(typ)) => {
            let typ = typ.to_ascii_lowercase();
            let bare = typ.strip_prefix("application/").unwrap_or(&typ);
            assert!(
                bare == "at+jwt" || (!verifier.strict_typ && bare == "jwt"),
                "{typ}"
            );
        }
        Some(other) => panic!("typ {other}"),
    }
    assert!(matches!(header.get("kid"), None | Some(Value::String(_))));

    assert_eq!(claims.get("iss").and_then(Value::as_str), Some(ISSUER));
    assert_eq!(info.issuer(), Some(ISSUER));
    let now = mcp_auth_fuzz::now();
    let exp = claims
        .get("exp")
        .and_then(numeric_date)
        .expect("exp is required and a NumericDate");
    assert!(now < exp + LEEWAY + 1.0, "expired: {exp}");
    for name in ["nbf", "iat"] {
        match claims.get(name) {
            None | Some(Value::Null) => {}
            Some(value) => {
                let t = numeric_date(value).expect("a NumericDate");
                assert!(t <= now + LEEWAY + 1.0, "{name} in the future: {t}");
            }
        }
    }
    assert_eq!(
        Some(info.audiences().to_vec()),
        audiences_of(claims.get("aud")),
        "aud"
    );
    let mut scopes = Vec::new();
    for name in ["scope", "scp"] {
        if let Some(value) = claims.get(name) {
            scopes.extend(scopes_of(value).expect("well-formed scopes"));
        }
    }
    // Granted scopes are reported once each, in claim order.
    assert_eq!(info.scopes(), mcp_auth_fuzz::dedup(scopes).as_slice());
    assert_eq!(info.subject(), claims.get("sub").and_then(Value::as_str));
    assert_eq!(
        info.key_thumbprint(),
        claims
            .get("cnf")
            .and_then(|cnf| cnf.get("jkt"))
            .and_then(Value::as_str)
    );
}

/// The same token with one more byte in its signed claims.
fn tampered(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
    let mut claims = b64_decode(claims)?;
    claims.push(b' ');
    Some(format!("{header}.{}.{signature}", b64(&claims)))
}

fuzz_target!(|data: &[u8]| {
    let (flags, rest) = mcp_auth_fuzz::flags(data);
    let token = if flags & 1 == 0 {
        match std::str::from_utf8(rest) {
            Ok(token) => token.to_owned(),
            Err(_) => return,
        }
    } else {
        let parts = mcp_auth_fuzz::fields(rest, 2);
        for part in &parts {
            check_json(part);
        }
        mcp_auth_fuzz::sign(parts[0], parts.get(1).copied().unwrap_or_default())
    };
    check_parse(&token);
    let verifier = &verifiers()[usize::from(flags >> 1 & 1)];
    let rt = mcp_auth_fuzz::runtime();
    let now_first = (flags & 4 != 0).then(|| verifier.verifier.verify_now(&token));
    let first = rt.block_on(verifier.verifier.verify(&token));
    match &first {
        Ok(info) => {
            check_accepted(&token, verifier, info);
            if let Some(tampered) = tampered(&token) {
                let again = rt.block_on(verifier.verifier.verify(&tampered));
                assert!(again.is_err(), "a changed token still verifies");
            }
        }
        Err(err) => assert!(
            !err.is_unavailable(),
            "static keys are always available: {err}"
        ),
    }
    // The second time gives the same answer: from the lenient verifier's token cache, and
    // from the strict one (no cache) with the token's header remembered if its signature
    // held the first time. (So a finding that needs a remembered header reproduces from its
    // input alone.)
    let second = rt.block_on(verifier.verifier.verify(&token));
    let refusal = |verified: &Result<mcp_auth::AuthInfo, mcp_auth::VerifyError>| {
        verified.as_ref().err().map(|err| {
            let kind = [
                err.is_invalid_token(),
                err.is_foreign_token(),
                err.is_unavailable(),
            ];
            (kind, err.description().to_owned())
        })
    };
    assert_eq!(
        refusal(&first),
        refusal(&second),
        "the second answer differs"
    );
    let now = now_first
        .unwrap_or_else(|| verifier.verifier.verify_now(&token))
        .expect("static keys decide at once");
    let subject = |verified: &Result<mcp_auth::AuthInfo, mcp_auth::VerifyError>| {
        verified
            .as_ref()
            .ok()
            .map(|info| info.subject().map(str::to_owned))
    };
    assert_eq!(
        (refusal(&first), subject(&first)),
        (refusal(&now), subject(&now)),
        "verify_now answers otherwise"
    );
});
