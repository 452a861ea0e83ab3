//! The rejection builder: every `WWW-Authenticate` value is a valid header value that an
//! RFC 9110 parser reads back into exactly the parameters meant (after the documented
//! replacement of characters a header cannot carry), one challenge per accepted scheme with
//! the error on the right one; status, `Retry-After`, `DPoP-Nonce` and the JSON body match.
//!
//! Input: flags, error kind, 12 bytes of retry delay, then NUL-separated strings: metadata
//! URL, global scope, DPoP algorithms, description, scope, nonce.

#![no_main]

use std::time::Duration;

use http::header;
use libfuzzer_sys::fuzz_target;
use mcp_auth::{
    challenge::{AuthError, AuthErrorKind as Kind, Scheme},
    fuzzing::{self, Rejection},
};
use mcp_auth_fuzz::oracles::challenge::{self, description_form, quoted_form};

fn has_challenge(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::InvalidRequest
            | Kind::InvalidToken
            | Kind::InsufficientScope
            | Kind::InvalidDpopProof
            | Kind::UseDpopNonce
            | Kind::MissingToken
            | Kind::OriginNotAllowed
    )
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 14 {
        return;
    }
    let (head, rest) = data.split_at(14);
    let flags = head[0];
    let kind = fuzzing::ERROR_KINDS[usize::from(head[1]) % fuzzing::ERROR_KINDS.len()];
    let secs = u64::from_le_bytes(head[2..10].try_into().expect("8 bytes"));
    let nanos = u32::from_le_bytes(head[10..14].try_into().expect("4 bytes")) % 1_000_000_000;
    let strings: Vec<String> = mcp_auth_fuzz::fields(rest, 6)
        .into_iter()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let get = |i: usize| strings.get(i).map_or("", String::as_str);
    let pick = |bit: u8, i: usize| (flags & bit != 0).then(|| get(i));

    let bearer = flags & 1 != 0;
    let dpop_algs = pick(2, 2);
    let retry = Duration::new(secs, nanos);
    let rejection = Rejection {
        metadata_url: get(0),
        global_scope: pick(4, 1),
        bearer,
        dpop_algs,
        kind,
        scheme: if flags & 8 != 0 {
            Scheme::Dpop
        } else {
            Scheme::Bearer
        },
        description: get(3),
        scope: pick(16, 4),
        retry_after: (flags & 32 != 0).then_some(retry),
        default_retry_after: if flags & 32 != 0 {
            Duration::from_secs(5)
        } else {
            retry
        },
        dpop_nonce: pick(64, 5),
    };
    let (response, values) = fuzzing::reject(&rejection);

    assert_eq!(response.status(), kind.status());
    let headers = response.headers();
    let written: Vec<_> = headers.get_all(header::WWW_AUTHENTICATE).iter().collect();
    assert_eq!(written.len(), values.len());

    // One challenge per accepted scheme, Bearer first.
    let schemes: Vec<&str> = if has_challenge(kind) {
        [(bearer, "Bearer"), (dpop_algs.is_some(), "DPoP")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect()
    } else {
        Vec::new()
    };
    assert_eq!(values.len(), schemes.len(), "{kind:?}");
    let error_on = match (rejection.scheme, dpop_algs.is_some()) {
        (Scheme::Dpop, true) => "DPoP",
        (_, true) if !bearer => "DPoP",
        _ => "Bearer",
    };
    let with_error = !matches!(kind, Kind::MissingToken | Kind::OriginNotAllowed);
    let scope = rejection.scope.or(rejection.global_scope);
    for (value, scheme) in values.iter().zip(&schemes) {
        let text = value.to_str().expect("visible ASCII only");
        let parsed = challenge::parse(text).unwrap_or_else(|| panic!("unparsable: {text}"));
        let [one] = parsed.as_slice() else {
            panic!("not one challenge: {text}");
        };
        assert_eq!(one.scheme, *scheme, "{text}");
        let mut want = vec![(
            "resource_metadata".to_owned(),
            quoted_form(rejection.metadata_url),
        )];
        if *scheme == "DPoP" {
            want.insert(0, ("algs".to_owned(), quoted_form(dpop_algs.unwrap_or(""))));
        }
        if let Some(scope) = scope {
            want.push(("scope".to_owned(), quoted_form(scope)));
        }
        if with_error && *scheme == error_on {
            want.push(("error".to_owned(), kind.error_code().to_owned()));
            want.push((
                "error_description".to_owned(),
                description_form(rejection.description),
            ));
        }
        assert_eq!(one.params, want, "{text}");
    }

    // Retry-After: whole seconds, rounded up, at least one; only for 503.
    let retry_after = headers.get(header::RETRY_AFTER).map(|v| {
        v.to_str()
            .expect("digits")
            .parse::<u128>()
            .expect("a number")
    });
    if kind == Kind::VerifierUnavailable {
        let delay = rejection
            .retry_after
            .unwrap_or(rejection.default_retry_after);
        let secs = u128::from(delay.as_secs()) + u128::from(delay.subsec_nanos() > 0);
        // The largest header value is `u64::MAX` seconds.
        assert_eq!(retry_after, Some(secs.clamp(1, u128::from(u64::MAX))));
    } else {
        assert_eq!(retry_after, None);
    }
    let nonce = rejection
        .dpop_nonce
        .filter(|n| http::HeaderValue::from_str(n).is_ok());
    assert_eq!(
        headers.get("dpop-nonce").map(|v| v.as_bytes()),
        nonce.map(str::as_bytes)
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let err = response
        .extensions()
        .get::<AuthError>()
        .expect("the error is attached");
    assert_eq!(err.kind(), kind);

    // The default body says the same thing, as JSON.
    let body: serde_json::Value = serde_json::from_slice(response.body()).expect("JSON body");
    if kind == Kind::HeaderMismatch {
        assert_eq!(body["error"]["code"], -32_020);
        assert_eq!(body["error"]["message"], rejection.description);
    } else {
        assert_eq!(body["error"], kind.error_code());
        assert_eq!(body["error_description"], rejection.description);
        assert_eq!(body.get("scope").and_then(|s| s.as_str()), rejection.scope);
    }
});
