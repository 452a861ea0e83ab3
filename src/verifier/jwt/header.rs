//! The JOSE headers a [`JwtVerifier`](super::JwtVerifier) has read before, by their text.
//!
//! An issuer writes the same header on every token it signs with one key (`alg`, `kid`,
//! `typ`): decoding and parsing it again for each new token is work whose answer is known.
//! A header is remembered only once a token carrying it has been checked through its
//! signature, so only headers a trusted issuer signed take a place, and only when every
//! member is one that names the key or the type: a header with anything else (a nonce, say)
//! could differ on every token, and is read each time. The same text always reads the same,
//! so a token whose header is byte for byte a remembered one skips only work whose result is
//! already known; every check on the rest of the token runs as before.

use std::sync::{Arc, PoisonError, RwLock, TryLockError};

use super::Algorithm;
use crate::verifier::json::Object;

/// What the verifier takes from a header that passed its checks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<Box<str>>,
}

/// The members a remembered header may have: those that name the algorithm, the key or the
/// type, which an issuer writes alike on every token signed with one key.
const STABLE_MEMBERS: [&str; 5] = ["alg", "kid", "typ", "x5t", "x5t#S256"];

/// Up to [`CAPACITY`](Self::CAPACITY) headers by their base64url text. When it is full, a new
/// header takes the place of the one remembered longest ago, so that the headers of keys an
/// issuer rotated in replace those of the keys it retired.
#[derive(Debug, Default)]
pub(crate) struct KnownHeaders {
    known: RwLock<Known>,
    /// How many times a header was found: the tests' proof that the memo is used.
    #[cfg(test)]
    hits: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Default)]
struct Known {
    headers: Vec<(Box<str>, Arc<Header>)>,
    /// The place the next header takes once `headers` is full.
    next: usize,
}

impl KnownHeaders {
    /// Eight: an issuer publishes a key or two at a time, and a verifier trusts a few issuers.
    pub(crate) const CAPACITY: usize = 8;

    /// The header read before from exactly `encoded`, if it is remembered.
    pub(crate) fn get(&self, encoded: &str) -> Option<Arc<Header>> {
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        let found = known
            .headers
            .iter()
            .find(|(text, _)| **text == *encoded)
            .map(|(_, header)| Arc::clone(header));
        #[cfg(test)]
        if found.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        found
    }

    /// Remembers that `encoded`, which parses to `header`, reads as `alg` and `kid`. The
    /// caller has checked the header, and the signature of a token that carries it; a header
    /// with a member outside [`STABLE_MEMBERS`] is not remembered.
    pub(crate) fn remember(
        &self,
        encoded: &str,
        header: &Object<'_>,
        alg: Algorithm,
        kid: Option<&str>,
    ) {
        if header
            .iter()
            .any(|(name, _)| !STABLE_MEMBERS.contains(&name))
        {
            return;
        }
        // Built before the lock is taken, and the lock not waited for: a header that finds the
        // set in use (read for another token, or written) is remembered the next time.
        let entry = (
            Box::from(encoded),
            Arc::new(Header {
                alg,
                kid: kid.map(Box::from),
            }),
        );
        let mut known = match self.known.try_write() {
            Ok(known) => known,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        if known.headers.iter().any(|(text, _)| **text == *encoded) {
            return;
        }
        let replaced = if known.headers.len() < Self::CAPACITY {
            known.headers.push(entry);
            None
        } else {
            let at = known.next;
            known.next = (at + 1) % Self::CAPACITY;
            Some(std::mem::replace(&mut known.headers[at], entry))
        };
        // What the new header replaced is freed after the lock is released.
        drop(known);
        drop(replaced);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .headers
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remember(known: &KnownHeaders, json: &str, kid: &str) {
        let header = Object::parse(json.as_bytes()).expect("a header");
        known.remember(json, &header, Algorithm::Rs256, Some(kid));
    }

    #[test]
    fn a_header_is_found_by_its_exact_text_only() {
        let known = KnownHeaders::default();
        remember(&known, r#"{"alg":"RS256","kid":"k1"}"#, "k1");
        let found = known
            .get(r#"{"alg":"RS256","kid":"k1"}"#)
            .expect("remembered");
        assert_eq!(
            *found,
            Header {
                alg: Algorithm::Rs256,
                kid: Some("k1".into())
            }
        );
        // Another key's header, a prefix, a longer text, the same header spelled otherwise.
        for other in [
            r#"{"alg":"RS256","kid":"k2"}"#,
            r#"{"alg":"RS256","kid":"k1""#,
            r#"{"alg":"RS256","kid":"k1"} "#,
            r#"{"kid":"k1","alg":"RS256"}"#,
            "",
        ] {
            assert!(known.get(other).is_none(), "{other:?}");
        }
    }

    #[test]
    fn only_headers_of_stable_members_are_remembered() {
        let known = KnownHeaders::default();
        let stable = r#"{"alg":"RS256","kid":"k","typ":"at+jwt","x5t":"a","x5t#S256":"b"}"#;
        remember(&known, stable, "k");
        assert!(known.get(stable).is_some());
        for varying in [
            r#"{"alg":"RS256","kid":"k","nonce":"n1"}"#,
            r#"{"alg":"RS256","kid":"k","jwk":{}}"#,
            r#"{"alg":"RS256","kid":"k","cty":"JWT"}"#,
        ] {
            remember(&known, varying, "k");
            assert!(known.get(varying).is_none(), "{varying}");
        }
        assert_eq!(known.len(), 1);
    }

    #[test]
    fn a_full_set_replaces_the_header_remembered_longest_ago() {
        let known = KnownHeaders::default();
        let text = |i: usize| format!(r#"{{"alg":"RS256","kid":"k{i}"}}"#);
        for i in 0..KnownHeaders::CAPACITY {
            remember(&known, &text(i), &format!("k{i}"));
        }
        // Again: no second place for a header remembered already.
        remember(&known, &text(3), "k3");
        assert_eq!(known.len(), KnownHeaders::CAPACITY);
        for i in KnownHeaders::CAPACITY..KnownHeaders::CAPACITY + 2 {
            remember(&known, &text(i), &format!("k{i}"));
        }
        assert_eq!(known.len(), KnownHeaders::CAPACITY);
        assert!(known.get(&text(0)).is_none());
        assert!(known.get(&text(1)).is_none());
        for i in 2..KnownHeaders::CAPACITY + 2 {
            let found = known.get(&text(i)).expect("remembered");
            assert_eq!(found.kid.as_deref(), Some(&*format!("k{i}")));
        }
    }

    /// Through the verifier: what a remembered header changes, and what it must not.
    #[cfg(feature = "jwt-aws-lc-rs")]
    mod through_the_verifier {
        use std::time::{SystemTime, UNIX_EPOCH};

        use aws_lc_rs::hmac;
        use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
        use serde_json::json;

        use crate::{
            TokenVerifier,
            verifier::jwt::{JwtVerifier, TrustedIssuer},
        };

        const A: &str = "https://a.example";
        const B: &str = "https://b.example";

        fn verifier() -> JwtVerifier {
            JwtVerifier::builder()
                .issuer(TrustedIssuer::shared_secret(
                    A,
                    *b"secret of issuer a, 32 bytes....",
                ))
                .issuer(TrustedIssuer::shared_secret(
                    B,
                    *b"secret of issuer b, 32 bytes....",
                ))
                .token_cache_capacity(0)
                .build()
                .expect("a verifier")
        }

        fn secret(issuer: &str) -> &'static [u8; 32] {
            if issuer == A {
                b"secret of issuer a, 32 bytes...."
            } else {
                b"secret of issuer b, 32 bytes...."
            }
        }

        /// A token with `header` (JSON text) for `iss`, expiring in `exp_in` seconds, signed
        /// with the secret of `signer`.
        fn token(header: &str, iss: &str, exp_in: i64, signer: &str) -> String {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_secs()
                .cast_signed();
            let claims = json!({"iss": iss, "sub": "user", "exp": now + exp_in});
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret(signer));
            let mac = hmac::sign(&key, input.as_bytes());
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))
        }

        fn known(verifier: &JwtVerifier) -> usize {
            verifier.inner.headers.len()
        }

        fn hits(verifier: &JwtVerifier) -> usize {
            verifier
                .inner
                .headers
                .hits
                .load(std::sync::atomic::Ordering::Relaxed)
        }

        const HEADER: &str = r#"{"alg":"HS256","typ":"at+jwt"}"#;

        #[tokio::test]
        async fn a_header_is_remembered_once_a_token_with_it_verifies() {
            let verifier = verifier();
            // A forgery does not make its header known.
            let forged = token(HEADER, A, 60, B);
            let err = verifier.verify(&forged).await.expect_err("forged");
            assert!(err.is_invalid_token(), "{err:?}");
            assert_eq!(known(&verifier), 0);
            // The control: the same header on a genuine token.
            let genuine = token(HEADER, A, 60, A);
            verifier.verify(&genuine).await.expect("genuine");
            assert_eq!(known(&verifier), 1);
            assert_eq!(hits(&verifier), 0);
            // The next token with it (the cache is off) is read with the header remembered.
            let info = verifier
                .verify(&token(HEADER, B, 120, B))
                .await
                .expect("genuine");
            assert_eq!(info.issuer(), Some(B));
            assert_eq!(hits(&verifier), 1);
            // A header with a member that may differ from token to token is read each time.
            let with_nonce = token(r#"{"alg":"HS256","nonce":"n-1"}"#, A, 60, A);
            verifier.verify(&with_nonce).await.expect("genuine");
            assert_eq!(known(&verifier), 1);
        }

        /// How `verify` answered: the description of the refusal, with its kind.
        async fn answer(verifier: &JwtVerifier, token: &str) -> String {
            match verifier.verify(token).await {
                Ok(info) => format!("ok {:?}", info.issuer()),
                Err(err) => format!(
                    "invalid {} foreign {} unavailable {}: {}",
                    err.is_invalid_token(),
                    err.is_foreign_token(),
                    err.is_unavailable(),
                    err.description()
                ),
            }
        }

        #[tokio::test]
        async fn a_remembered_header_leaves_every_other_check_in_place() {
            let warmed = verifier();
            verifier_knows(&warmed).await;
            let encoded = URL_SAFE_NO_PAD.encode(HEADER);
            let probes = [
                // The header names no issuer or key: B's token is checked with B's key.
                token(HEADER, B, 60, B),
                token(HEADER, B, 60, A),
                token(HEADER, A, -3_600, A),
                token(HEADER, "https://c.example", 60, A),
                format!("{encoded}.{}.AAAA", URL_SAFE_NO_PAD.encode("not json")),
                format!(
                    "{encoded}.{}.AAAA",
                    URL_SAFE_NO_PAD.encode(r#"{"iss":1,"iss":2}"#)
                ),
                format!("{encoded}.AAAA"),
                format!("{encoded}..AAAA"),
                format!("{encoded}.e30.A==="),
            ];
            for probe in &probes {
                // Each answer is the one a verifier that never saw the header gives.
                let fresh = verifier();
                let expected = answer(&fresh, probe).await;
                let hits_before = hits(&warmed);
                assert_eq!(answer(&warmed, probe).await, expected, "{probe}");
                assert_eq!(hits(&warmed), hits_before + 1, "not remembered: {probe}");
            }
            assert_eq!(
                answer(&warmed, &probes[1]).await,
                "invalid true foreign false unavailable false: token signature is invalid"
            );
            assert!(answer(&warmed, &probes[0]).await.starts_with("ok"));
            assert!(answer(&warmed, &probes[2]).await.contains("expired"));
            assert!(answer(&warmed, &probes[3]).await.contains("foreign true"));
            assert_eq!(known(&warmed), 1);
        }

        #[tokio::test]
        async fn a_remembered_header_is_its_own_verifiers_only() {
            // The same token before a lenient verifier, then a strict one (`at+jwt` only).
            let header = r#"{"alg":"HS256","typ":"JWT"}"#;
            let lenient = verifier();
            let strict = JwtVerifier::builder()
                .issuer(TrustedIssuer::shared_secret(A, *secret(A)))
                .strict_token_type(true)
                .token_cache_capacity(0)
                .build()
                .expect("a verifier");
            let jwt = token(header, A, 60, A);
            lenient.verify(&jwt).await.expect("`typ: JWT` is accepted");
            lenient.verify(&jwt).await.expect("again, remembered");
            assert_eq!(hits(&lenient), 1);
            for _ in 0..2 {
                let err = strict.verify(&jwt).await.expect_err("not `at+jwt`");
                assert_eq!(err.description(), "token type is not accepted");
            }
            assert_eq!((known(&strict), hits(&strict)), (0, 0));
        }

        /// Two ES256 keys in one set: a remembered header keeps its own `kid`.
        #[tokio::test]
        async fn a_remembered_header_picks_the_key_its_kid_names() {
            use aws_lc_rs::{
                rand::SystemRandom,
                signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
            };

            let keys = [(); 2]
                .map(|()| EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("a key"));
            let jwk = |key: &EcdsaKeyPair, kid: &str| {
                let point = key.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "kid": kid,
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..])})
            };
            let set = json!({"keys": [jwk(&keys[0], "k1"), jwk(&keys[1], "k2")]});
            let verifier = JwtVerifier::builder()
                .issuer(TrustedIssuer::jwk_set(A, set.to_string()))
                .token_cache_capacity(0)
                .build()
                .expect("a verifier");
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_secs();
            // A token whose header names `kid`, signed with `key`.
            let es256 = |kid: &str, key: &EcdsaKeyPair| {
                let header = format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#);
                let claims = json!({"iss": A, "sub": kid, "exp": now + 60});
                let input = format!(
                    "{}.{}",
                    URL_SAFE_NO_PAD.encode(header),
                    URL_SAFE_NO_PAD.encode(claims.to_string())
                );
                let sig = key
                    .sign(&SystemRandom::new(), input.as_bytes())
                    .expect("signed");
                format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
            };
            for round in 0..2 {
                for (kid, own, other) in [("k1", &keys[0], &keys[1]), ("k2", &keys[1], &keys[0])] {
                    let info = verifier
                        .verify(&es256(kid, own))
                        .await
                        .expect("signed with the key its kid names");
                    assert_eq!(info.subject(), Some(kid));
                    let err = verifier
                        .verify(&es256(kid, other))
                        .await
                        .expect_err("signed with the other key");
                    assert_eq!(err.description(), "token signature is invalid", "{kid}");
                }
                assert_eq!(known(&verifier), 2);
                // The first round remembered both headers; the second read both from memory,
                // two tokens each.
                assert_eq!(hits(&verifier), [2, 6][round]);
            }
        }

        /// Makes `verifier` remember [`HEADER`].
        async fn verifier_knows(verifier: &JwtVerifier) {
            verifier
                .verify(&token(HEADER, A, 60, A))
                .await
                .expect("genuine");
            assert_eq!(known(verifier), 1);
        }
    }
}
