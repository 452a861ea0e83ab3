//! `VerifierChain` behind `McpAuth`: which verifier decides, which ones see the token (only
//! foreign tokens are handed on), and what the chain answers; with mock verifiers (the table)
//! and with two dev issuers, one of which goes down and comes back.

#![cfg(feature = "testing")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod layer_support;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use bytes::Bytes;
use http::{Response, StatusCode, header};
use mcp_auth::{AuthInfo, McpAuth, VerifyError, testing::FnVerifier, verifier::VerifierChain};

use layer_support::{App, RESOURCE};

/// `auth` around the counting inner service, called with `token`.
async fn call(auth: &McpAuth, token: &str) -> Response<Bytes> {
    App::new(auth.clone()).call(token).await
}

/// What a verifier in the table says.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// Accepts the token `good`; any other is not its own (foreign).
    AcceptsGood,
    /// Owns every token and finds it invalid (`401`).
    Refuses,
    /// Owns every token and cannot decide now (`503`).
    Down,
    /// Owns no token: passes it on.
    Foreign,
}

/// A chain of verifiers answering `answers`, in order, that count their calls in `asked`.
fn chain(answers: &[Answer], asked: &Arc<AtomicUsize>) -> VerifierChain {
    answers.iter().fold(VerifierChain::new(), |chain, &answer| {
        let asked = Arc::clone(asked);
        chain.with_verifier(FnVerifier::new(move |token: &str| {
            asked.fetch_add(1, Ordering::SeqCst);
            match answer {
                Answer::AcceptsGood if token == "good" => Ok(AuthInfo::builder()
                    .subject("alice")
                    .audience(RESOURCE)
                    .build()),
                Answer::AcceptsGood | Answer::Foreign => {
                    Err(VerifyError::foreign_token("not mine"))
                }
                Answer::Refuses => Err(VerifyError::invalid_token("no")),
                Answer::Down => Err(VerifyError::unavailable("down")),
            }
        }))
    })
}

#[tokio::test]
async fn chain_hands_a_token_on_only_when_it_is_foreign() {
    use Answer::{AcceptsGood, Down, Foreign, Refuses};
    struct Case {
        name: &'static str,
        answers: &'static [Answer],
        token: &'static str,
        status: StatusCode,
        /// How many verifiers were shown the token.
        asked: usize,
    }
    let cases = [
        Case {
            name: "foreign then acceptance",
            answers: &[Foreign, AcceptsGood],
            token: "good",
            status: StatusCode::OK,
            asked: 2,
        },
        Case {
            name: "acceptance ends the chain",
            answers: &[AcceptsGood, Down],
            token: "good",
            status: StatusCode::OK,
            asked: 1,
        },
        Case {
            name: "refusal: the token is not handed on",
            answers: &[Refuses, AcceptsGood],
            token: "good",
            status: StatusCode::UNAUTHORIZED,
            asked: 1,
        },
        Case {
            name: "cannot decide: the token is not handed on",
            answers: &[Down, AcceptsGood],
            token: "good",
            status: StatusCode::SERVICE_UNAVAILABLE,
            asked: 1,
        },
        Case {
            name: "foreign then refusal",
            answers: &[Foreign, Refuses],
            token: "good",
            status: StatusCode::UNAUTHORIZED,
            asked: 2,
        },
        Case {
            name: "foreign then cannot decide",
            answers: &[Foreign, Down],
            token: "good",
            status: StatusCode::SERVICE_UNAVAILABLE,
            asked: 2,
        },
        Case {
            name: "all foreign",
            answers: &[Foreign, AcceptsGood],
            token: "bad",
            status: StatusCode::UNAUTHORIZED,
            asked: 2,
        },
        Case {
            name: "empty chain",
            answers: &[],
            token: "good",
            status: StatusCode::UNAUTHORIZED,
            asked: 0,
        },
    ];
    for case in cases {
        let asked = Arc::new(AtomicUsize::new(0));
        let auth = McpAuth::builder(RESOURCE)
            .authorization_server("https://as.example.com")
            .verifier(chain(case.answers, &asked))
            .build()
            .unwrap();
        let res = call(&auth, case.token).await;
        assert_eq!(res.status(), case.status, "{}", case.name);
        assert_eq!(asked.load(Ordering::SeqCst), case.asked, "{}", case.name);
        let challenge = res
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        match case.status {
            StatusCode::UNAUTHORIZED => {
                let challenge = challenge.unwrap_or_default();
                assert!(
                    challenge.contains("error=\"invalid_token\""),
                    "{}: {challenge}",
                    case.name
                );
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(challenge, None, "{}", case.name);
                assert!(
                    res.headers().contains_key(header::RETRY_AFTER),
                    "{}",
                    case.name
                );
            }
            _ => assert_eq!(challenge, None, "{}", case.name),
        }
    }
}

#[cfg(all(feature = "jwt", feature = "introspection"))]
mod with_dev_issuers {
    use std::time::Duration;

    use mcp_auth::{
        testing::Endpoint,
        verifier::{IntrospectionVerifier, JwtVerifier, jwt::TrustedIssuer},
    };

    use super::{layer_support::dev_issuer, *};

    #[tokio::test]
    async fn metadata_lists_every_authorization_server() {
        let first = dev_issuer().await;
        let second = dev_issuer().await;
        // No `authorization_server(..)`: the chain reports both issuers itself.
        let auth = McpAuth::builder(RESOURCE)
            .verifier(
                VerifierChain::new()
                    .with_verifier(JwtVerifier::discover(first.issuer()).unwrap())
                    .with_verifier(
                        IntrospectionVerifier::discover(second.issuer(), "rs", "rs-secret")
                            .unwrap(),
                    ),
            )
            .required_scopes(["mcp:read"])
            .build()
            .unwrap();
        assert_eq!(
            auth.metadata().authorization_servers(),
            [first.issuer(), second.issuer()]
        );
        // Tokens of both servers are accepted.
        let jwt = first.token().scopes(["mcp:read"]).sign();
        let opaque = second.opaque_token(&second.token().scopes(["mcp:read"]));
        assert_eq!(call(&auth, &jwt).await.status(), StatusCode::OK);
        assert_eq!(call(&auth, &opaque).await.status(), StatusCode::OK);
        // Each was decided by its own server's verifier, the JWT without introspection.
        assert_eq!(first.requests(Endpoint::Jwks), 1);
        assert_eq!(first.requests(Endpoint::Introspection), 0);
        assert_eq!(second.requests(Endpoint::Jwks), 0);
        assert_eq!(second.requests(Endpoint::Introspection), 1);
    }

    #[tokio::test]
    async fn one_authorization_server_down_gives_503_for_its_tokens_only_until_it_is_back() {
        let first = dev_issuer().await;
        let second = dev_issuer().await;
        let jwt_verifier = JwtVerifier::builder()
            .issuer(TrustedIssuer::discover(first.issuer()))
            .jwks_min_refresh_interval(Duration::from_millis(100))
            .build()
            .unwrap();
        let auth = McpAuth::builder(RESOURCE)
            .verifier(
                VerifierChain::new()
                    .with_verifier(jwt_verifier)
                    .with_verifier(
                        IntrospectionVerifier::discover(second.issuer(), "rs", "rs-secret")
                            .unwrap(),
                    ),
            )
            .build()
            .unwrap();
        let jwt = first.token().subject("alice").sign();
        let opaque = second.opaque_token(&second.token().subject("bob"));

        first.stop().await;
        // The first server's token: its verifier owns it and cannot decide, and the token is
        // not shown to the second server.
        let res = call(&auth, &jwt).await;
        layer_support::assert_unavailable(&res);
        assert_eq!(second.requests(Endpoint::Introspection), 0, "not handed on");
        // The second server's tokens are unaffected.
        assert_eq!(call(&auth, &opaque).await.status(), StatusCode::OK);

        // Control: once the first server is back, its token passes through the same layer.
        first.restart().await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(call(&auth, &jwt).await.status(), StatusCode::OK);
        assert_eq!(first.requests(Endpoint::Jwks), 1);
    }
}
