//! Resource-URI canonicalisation and audience matching: canonical forms are fixed points, an
//! accepted audience is RFC 3986-equivalent to the resource (by an independent oracle), a
//! resource always accepts itself and its upper-cased scheme and host, and the alias and
//! `exclusive` rules combine single-audience answers as documented.
//!
//! Input: a flags byte (bit 0: exclusive), then lines: the resource, an alias (empty for
//! none), and the token's audiences.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth::fuzzing;
use mcp_auth_fuzz::oracles::rfc3986;

fn accepts(resource: &str, audience: &str) -> Option<bool> {
    fuzzing::audiences_accept(resource, &[], false, &[audience.to_owned()])
}

fn is_url_alias(alias: &str) -> bool {
    let lower = alias.get(..8).unwrap_or(alias).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

fuzz_target!(|data: &[u8]| {
    let (flags, rest) = mcp_auth_fuzz::flags(data);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let lines: Vec<&str> = text.split('\n').collect();

    for line in &lines {
        let canonical = fuzzing::canonical_http(line);
        assert_eq!(
            fuzzing::canonical_http(&canonical),
            canonical,
            "canonical form of {line:?} is not a fixed point"
        );
        for folded in [false, true] {
            let normal = fuzzing::normalize(line, folded);
            assert_eq!(
                fuzzing::normalize(&normal, folded),
                normal,
                "normal form (folded: {folded}) of {line:?} is not a fixed point"
            );
        }
    }

    let [resource, alias, audiences @ ..] = lines.as_slice() else {
        return;
    };
    if fuzzing::parse_resource(resource, true).is_err() {
        return;
    }
    assert_eq!(
        accepts(resource, resource),
        Some(true),
        "{resource:?} itself"
    );
    // Scheme and host are case-insensitive: the upper-cased authority names the same resource.
    if let Some(end) = resource.find("://").map(|i| i + 3) {
        let host_end = resource[end..]
            .find('/')
            .map_or(resource.len(), |i| end + i);
        let upper = format!(
            "{}{}",
            resource[..host_end].to_ascii_uppercase(),
            &resource[host_end..]
        );
        if rfc3986::equivalent(resource, &upper) {
            assert_eq!(accepts(resource, &upper), Some(true), "{upper:?}");
        }
    }
    // An accepted audience names the same resource, unless the configured resource is not a
    // valid URI (configuration, not input: compared byte for byte only).
    let resource_valid = rfc3986::parse(resource).is_some();
    let mut single = Vec::new();
    for audience in audiences {
        let accepted = accepts(resource, audience).expect("the resource parsed");
        if accepted && resource_valid {
            assert!(
                rfc3986::equivalent(resource, audience),
                "audience {audience:?} accepted for resource {resource:?}"
            );
        }
        single.push(accepted);
    }

    // Aliases and `exclusive` combine the single answers.
    let aliases: Vec<&str> = if alias.is_empty() {
        vec![]
    } else {
        vec![alias]
    };
    let audiences: Vec<String> = audiences.iter().map(|a| (*a).to_owned()).collect();
    let exclusive = flags & 1 == 1;
    let Some(got) = fuzzing::audiences_accept(resource, &aliases, exclusive, &audiences) else {
        return;
    };
    let ours: Vec<bool> = audiences
        .iter()
        .zip(&single)
        .map(|(aud, &by_resource)| {
            by_resource
                || aliases.iter().any(|alias| {
                    if is_url_alias(alias) {
                        accepts(alias, aud) == Some(true)
                    } else {
                        alias == aud
                    }
                })
        })
        .collect();
    let want = if exclusive {
        !ours.is_empty() && ours.iter().all(|&b| b)
    } else {
        ours.iter().any(|&b| b)
    };
    assert_eq!(got, want, "{audiences:?}");
});
