//! The `Authorization` (and `DPoP`) header extraction against an independent reading of
//! RFC 6750 §2.1 and RFC 9449 §7: same token, same proof, same kind of refusal.
//!
//! Input: a flags byte (bit 0: DPoP accepted), a byte choosing the size limit, then lines: the
//! request URI, and `name:value` headers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth::{challenge::AuthErrorKind as Kind, challenge::Scheme, fuzzing};

/// RFC 6750 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(t: &[u8]) -> bool {
    let body = t.len() - t.iter().rev().take_while(|&&b| b == b'=').count();
    body > 0
        && t[..body]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// What the extraction must answer: the token and proof, or the kind of refusal.
fn expected(
    headers: &[(&[u8], &[u8])],
    query: Option<&str>,
    max_len: usize,
    dpop: bool,
) -> Result<(Scheme, Vec<u8>, Option<Vec<u8>>), Kind> {
    let named = |name: &str| -> Vec<&[u8]> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| *v)
            .collect()
    };
    if query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(n, _)| n == "access_token"))
    {
        return Err(Kind::InvalidRequest);
    }
    let authorization = named("authorization");
    let value = match authorization.as_slice() {
        [] => {
            let form = named("content-type").first().is_some_and(|ct| {
                let essence = ct.split(|&b| b == b';').next().unwrap_or_default();
                essence
                    .trim_ascii()
                    .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
            });
            return Err(if form {
                Kind::InvalidRequest
            } else {
                Kind::MissingToken
            });
        }
        [one] => one.trim_ascii(),
        _ => return Err(Kind::InvalidRequest),
    };
    let split = value.iter().position(|&b| b == b' ' || b == b'\t');
    let (scheme, rest) = match split {
        Some(i) => (&value[..i], value[i..].trim_ascii_start()),
        None => (value, &b""[..]),
    };
    let scheme = if scheme.eq_ignore_ascii_case(b"Bearer") {
        Scheme::Bearer
    } else if dpop && scheme.eq_ignore_ascii_case(b"DPoP") {
        Scheme::Dpop
    } else {
        return Err(Kind::MissingToken);
    };
    if rest.is_empty() {
        return Err(Kind::InvalidRequest);
    }
    if rest.len() > max_len {
        return Err(Kind::InvalidToken);
    }
    if !is_b64token(rest) {
        return Err(Kind::InvalidRequest);
    }
    let proof = match scheme {
        Scheme::Bearer => None,
        _ => {
            let proofs = named("dpop");
            let proof = match proofs.as_slice() {
                [] => return Err(Kind::InvalidDpopProof),
                [one] => *one,
                _ => return Err(Kind::InvalidRequest),
            };
            if proof.len() > max_len
                || !proof
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(Kind::InvalidDpopProof);
            }
            Some(proof.to_vec())
        }
    };
    Ok((scheme, rest.to_vec(), proof))
}

fuzz_target!(|data: &[u8]| {
    let (flags, rest) = mcp_auth_fuzz::flags(data);
    let dpop = flags & 1 == 1;
    let (limit, rest) = mcp_auth_fuzz::flags(rest);
    let max_len = if limit == 0 { 8192 } else { usize::from(limit) };
    let mut lines = rest.split(|&b| b == b'\n');
    let uri = lines.next().unwrap_or_default();
    let headers: Vec<(&[u8], &[u8])> = lines
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            Some((&line[..colon], &line[colon + 1..]))
        })
        .collect();
    let Some(got) = fuzzing::bearer(&headers, uri, max_len, dpop) else {
        return;
    };
    // `http` trims nothing and keeps the bytes: the oracle reads the same values.
    let parsed: http::Uri = http::Uri::try_from(uri).expect("accepted by fuzzing::bearer");
    let want = expected(&headers, parsed.query(), max_len, dpop);
    match (&got, &want) {
        (Ok(credentials), Ok((scheme, token, proof))) => {
            assert_eq!(credentials.scheme, *scheme);
            assert_eq!(credentials.token.as_bytes(), token.as_slice());
            assert_eq!(
                credentials.proof.as_ref().map(|p| p.as_bytes().to_vec()),
                *proof
            );
        }
        (Err(err), Err(kind)) => {
            assert_eq!(err.kind(), *kind, "{err}");
            // DPoP proof errors are reported on the DPoP challenge.
            if err.kind() == Kind::InvalidDpopProof {
                assert_eq!(err.scheme(), Scheme::Dpop);
            }
        }
        _ => panic!("extraction {got:?}, oracle {want:?}"),
    }
});
