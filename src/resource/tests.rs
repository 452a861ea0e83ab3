use super::*;

#[test]
fn one_loopback_rule() {
    let cases = [
        ("https://as.example.com/jwks", false, true),
        ("http://as.example.com/jwks", false, false),
        ("http://as.example.com/jwks", true, true),
        ("http://127.0.0.1:8080/jwks", false, true),
        ("http://127.8.9.10/jwks", false, true),
        ("http://[::1]:80/jwks", false, true),
        ("http://localhost:3000/jwks", false, true),
        ("http://LOCALHOST:3000/jwks", false, true),
        ("http://auth.localhost/jwks", false, false),
        ("http://localhost./jwks", false, false),
        ("http://localhost.example.com/jwks", false, false),
        ("http://10.0.0.1/jwks", false, false),
        ("ftp://127.0.0.1/jwks", true, false),
    ];
    for (url, allow_http, ok) in cases {
        let parsed = Url::parse(url).expect("test URL parses");
        assert_eq!(
            check_transport(&parsed, allow_http).is_ok(),
            ok,
            "{url} allow_http={allow_http}"
        );
        assert_eq!(
            parse_issuer(url, allow_http).is_ok(),
            ok,
            "{url} allow_http={allow_http}"
        );
    }
}

#[test]
fn resource_parsing() {
    let cases = [
        ("https path", "https://mcp.example.com/mcp", true),
        ("https root", "https://mcp.example.com", true),
        ("port", "https://mcp.example.com:8443", true),
        ("loopback http", "http://127.0.0.1:3000/mcp", true),
        ("localhost http", "http://localhost:3000/mcp", true),
        ("ipv6 loopback", "http://[::1]:3000/mcp", true),
        ("remote http", "http://mcp.example.com/mcp", false),
        ("no scheme", "mcp.example.com/mcp", false),
        ("fragment", "https://mcp.example.com/mcp#x", false),
        ("query", "https://mcp.example.com/mcp?a=b", false),
        ("userinfo", "https://u:p@mcp.example.com/mcp", false),
        ("other scheme", "ftp://mcp.example.com", false),
        ("empty", "", false),
        ("whitespace", " https://mcp.example.com", false),
    ];
    for (name, input, ok) in cases {
        assert_eq!(ResourceUri::parse(input, false).is_ok(), ok, "{name}");
    }
    assert!(ResourceUri::parse("http://mcp.example.com/mcp", true).is_ok());
    let r = ResourceUri::parse("https://H.example:8443/public/mcp", false).expect("parses");
    assert_eq!(r.origin(), "https://h.example:8443");
    assert_eq!(r.path(), "/public/mcp");
    let root = ResourceUri::parse("https://h.example/", false).expect("parses");
    assert_eq!(root.path(), "");
}

#[test]
fn audience_matching() {
    let cases = [
        (
            "exact",
            "https://h.example/mcp",
            "https://h.example/mcp",
            true,
        ),
        (
            "upper host",
            "https://h.example/mcp",
            "https://H.EXAMPLE/mcp",
            true,
        ),
        (
            "upper scheme",
            "https://h.example/mcp",
            "HTTPS://h.example/mcp",
            true,
        ),
        (
            "default port",
            "https://h.example/mcp",
            "https://h.example:443/mcp",
            true,
        ),
        (
            "empty port",
            "https://h.example/mcp",
            "https://h.example:/mcp",
            true,
        ),
        (
            "http default port",
            "http://127.0.0.1/mcp",
            "http://127.0.0.1:80/mcp",
            true,
        ),
        (
            "encoded unreserved",
            "https://h.example/mcp",
            "https://h.example/%6Dcp",
            true,
        ),
        (
            "dot segments",
            "https://h.example/mcp",
            "https://h.example/a/../mcp",
            true,
        ),
        (
            "path case",
            "https://h.example/mcp",
            "https://h.example/MCP",
            false,
        ),
        (
            "trailing slash non-root",
            "https://h.example/mcp",
            "https://h.example/mcp/",
            false,
        ),
        (
            "trailing slash root",
            "https://h.example",
            "https://h.example/",
            true,
        ),
        (
            "root configured with slash",
            "https://h.example/",
            "https://h.example",
            true,
        ),
        (
            "other host",
            "https://h.example/mcp",
            "https://evil.example/mcp",
            false,
        ),
        (
            "other port",
            "https://h.example/mcp",
            "https://h.example:8443/mcp",
            false,
        ),
        (
            "other scheme",
            "https://h.example/mcp",
            "http://h.example/mcp",
            false,
        ),
        (
            "prefix",
            "https://h.example/mcp",
            "https://h.example",
            false,
        ),
        (
            "longer path",
            "https://h.example/mcp",
            "https://h.example/mcp/x",
            false,
        ),
        (
            "query",
            "https://h.example/mcp",
            "https://h.example/mcp?x",
            false,
        ),
        (
            "fragment",
            "https://h.example/mcp",
            "https://h.example/mcp#x",
            false,
        ),
        (
            "userinfo",
            "https://h.example/mcp",
            "https://a@h.example/mcp",
            false,
        ),
        ("not a url", "https://h.example/mcp", "mcp", false),
        ("empty", "https://h.example/mcp", "", false),
        (
            "suffix host",
            "https://h.example/mcp",
            "https://h.example.evil/mcp",
            false,
        ),
        (
            "encoded slash",
            "https://h.example/a/b",
            "https://h.example/a%2Fb",
            false,
        ),
        (
            "empty segment",
            "https://h.example/a/b",
            "https://h.example/a//b",
            false,
        ),
        (
            "decimal ipv4",
            "http://127.0.0.1:3000/mcp",
            "http://2130706433:3000/mcp",
            false,
        ),
        (
            "hex ipv4",
            "http://127.0.0.1:3000/mcp",
            "http://0x7f.0.0.1:3000/mcp",
            false,
        ),
        (
            "short ipv4",
            "http://127.0.0.1:3000/mcp",
            "http://127.1:3000/mcp",
            false,
        ),
        (
            "octal ipv4",
            "http://127.0.0.1:3000/mcp",
            "http://0177.0.0.1:3000/mcp",
            false,
        ),
        (
            "leading zero port",
            "https://h.example:8443/mcp",
            "https://h.example:08443/mcp",
            false,
        ),
        (
            "ipv6 case",
            "http://[::1]:3000/mcp",
            "http://[::1]:3000/mcp",
            true,
        ),
    ];
    for (name, resource, audience, want) in cases {
        let resource = ResourceUri::parse(resource, false).expect("resource parses");
        assert_eq!(resource.matches(audience), want, "{name}");
    }
}

#[test]
fn aliases() {
    let resource = ResourceUri::parse("https://h.example/mcp", false).expect("parses");
    let mut audiences = Audiences::new(resource);
    audiences
        .alias("https://old.example/mcp", false)
        .expect("url alias");
    audiences.alias("api://mcp", false).expect("exact alias");
    assert!(audiences.alias("", false).is_err());
    assert!(audiences.alias("http://old.example/mcp", false).is_err());
    let accept = |aud: &[&str]| audiences.accept(aud.iter().copied());
    assert!(accept(&["https://h.example/mcp"]));
    assert!(accept(&["other", "HTTPS://OLD.example/mcp"]));
    assert!(accept(&["api://mcp"]));
    assert!(!accept(&["API://mcp"]));
    assert!(!accept(&[]));

    audiences.exclusive(true);
    let accept = |aud: &[&str]| audiences.accept(aud.iter().copied());
    assert!(accept(&["https://h.example/mcp", "api://mcp"]));
    assert!(!accept(&[
        "https://h.example/mcp",
        "https://other.example/api"
    ]));
    assert!(!accept(&[]));
}

#[test]
fn origins() {
    assert_eq!(
        parse_origin("https://App.Example.com").as_deref(),
        Ok("https://app.example.com")
    );
    for bad in [
        "null",
        "app.example.com",
        "https://app.example.com/",
        "https://app.example.com/x",
        "https://u@app.example.com",
    ] {
        assert!(parse_origin(bad).is_err(), "{bad}");
    }
}

#[test]
fn folded_normalisation_for_rules() {
    let cases = [
        ("file:///private/x", "file:///private/x"),
        ("FILE:///private/x", "file:///private/x"),
        ("file:///public/../private/x", "file:///private/x"),
        ("file:///public/./../private/./x", "file:///private/x"),
        ("file:///%70rivate/x", "file:///private/x"),
        ("file:///%2E%2E/private/x", "file:///private/x"),
        ("file:///a%2fb", "file:///a/b"),
        ("file:///a%3fb", "file:///a%3Fb"),
        (
            "HTTPS://Example.COM/A/../b?q=%41",
            "https://example.com/b?q=A",
        ),
        ("file:///private/", "file:///private/"),
        ("file:///private/..", "file:///"),
        ("urn:x:Y", "urn:x:Y"),
        ("not a uri %zz é", "not a uri %zz é"),
        ("%", "%"),
        ("", ""),
        ("é", "é"),
        ("x:é", "x:é"),
        ("file:///%41é", "file:///Aé"),
        ("file:///é%", "file:///é%"),
        ("file:///a%é", "file:///a%é"),
        ("file:////private/x", "file:///private/x"),
        ("file:///public//../private/x", "file:///private/x"),
        ("file:///public%2F..%2Fprivate/x", "file:///private/x"),
        ("file:///public%5c..%5cprivate/x", "file:///private/x"),
        ("file:///public\\..\\private/x", "file:///private/x"),
        // One file, however the authority is spelt (RFC 8089 §2).
        ("file:/private/x", "file:///private/x"),
        ("file://localhost/private/x", "file:///private/x"),
        ("FILE://LocalHost/private/x", "file:///private/x"),
        ("file:/public/../private/x", "file:///private/x"),
        ("notes:/a", "notes:///a"),
        ("file://other/private/x", "file://other/private/x"),
        ("notes://localhost/a", "notes://localhost/a"),
        ("file:private/x", "file:private/x"),
        (
            "https://h.example/a%2Fb?x=%2F",
            "https://h.example/a/b?x=%2F",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(normalize(input, Separators::Folded), want, "{input}");
    }
}

#[test]
fn exact_normalisation_keeps_separators() {
    let cases = [
        ("https://h.example/a%2Fb", "https://h.example/a%2Fb"),
        ("https://h.example/a//b", "https://h.example/a//b"),
        ("https://h.example/a/./b/../c", "https://h.example/a/c"),
        ("https://h.example/a\\b", "https://h.example/a\\b"),
        ("https://h.example/..", "https://h.example/"),
    ];
    for (input, want) in cases {
        assert_eq!(normalize(input, Separators::Exact), want, "{input}");
    }
}

#[test]
fn canonical_forms_are_fixed_points() {
    // Found by the `resource` fuzz target: an empty port was dropped from authorities that
    // are not `host:port`, one `:` per pass (`http://::` → `http://:` → `http://`).
    for uri in [
        "http://::",
        "http://[::?]:8080/a/b",
        "http://[:",
        "https://h.example::/mcp",
        "https://h.example:443:/mcp",
        "https://h.example:443:443/mcp",
        "https://[::1:443",
        "https://u:p@h.example:443/mcp",
    ] {
        let once = canonical_http(uri);
        assert_eq!(canonical_http(&once), once, "{uri}");
    }
    // Control: default and empty ports after a host are still dropped.
    let cases = [
        ("https://h.example:443/mcp", "https://h.example/mcp"),
        ("https://h.example:/mcp", "https://h.example/mcp"),
        ("http://[::1]:80/", "http://[::1]"),
        ("http://[::1]:/x", "http://[::1]/x"),
        ("https://u:p@h.example:443/mcp", "https://u:p@h.example/mcp"),
        ("https://h.example:8443/mcp", "https://h.example:8443/mcp"),
    ];
    for (uri, want) in cases {
        assert_eq!(canonical_http(uri), want, "{uri}");
    }
}

#[test]
fn empty_segments_before_a_dot_segment_are_kept() {
    // Found by the audience property test: `//.` lost its empty segment, so
    // `https://h.example//.` (path `//`) named the root and `/mcp//.` named `/mcp/`.
    assert_eq!(
        normalize("https://h.example//.", Separators::Exact),
        "https://h.example//"
    );
    assert_eq!(
        normalize("https://h.example/a//./b/..", Separators::Exact),
        "https://h.example/a//"
    );
    let root = ResourceUri::parse("https://h.example", false).expect("parses");
    assert!(!root.matches("https://h.example//."));
    let slash = ResourceUri::parse("https://h.example/mcp/", false).expect("parses");
    assert!(!slash.matches("https://h.example/mcp//."));
    // Control: dot segments without an empty one still resolve.
    assert!(root.matches("https://h.example/."));
    assert!(slash.matches("https://h.example/mcp/."));
    assert!(slash.matches("https://h.example/mcp/x/.."));
    // Folded, empty segments are dropped anyway.
    assert_eq!(normalize("file:///a//.", Separators::Folded), "file:///a/");
}

#[test]
fn a_path_never_becomes_an_authority() {
    // Found by the audience property test: `https:/.//mcp.example.com/mcp` has no
    // authority (its path is `/.//mcp.example.com/mcp`), but removing the dot segment
    // made it `https://mcp.example.com/mcp`. DPoP's `htu` is compared the same way.
    let resource = ResourceUri::parse("https://mcp.example.com/mcp", false).expect("parses");
    for audience in [
        "https:/.//mcp.example.com/mcp",
        "https:/x/..//mcp.example.com/mcp",
        "HTTPS:/.//MCP.example.com:443/mcp",
    ] {
        assert!(!resource.matches(audience), "{audience}");
        assert_ne!(
            canonical_http(audience),
            canonical_http("https://mcp.example.com/mcp"),
            "{audience}"
        );
    }
    assert_eq!(
        normalize("https:/.//h.example/mcp", Separators::Exact),
        "https:/.//h.example/mcp"
    );
    // Control: with an authority, the same dot segments still resolve.
    assert!(resource.matches("https://mcp.example.com/./mcp"));
    assert!(resource.matches("https://mcp.example.com/x/../mcp"));
}

#[test]
fn a_relative_reference_never_becomes_a_uri() {
    // Found by the `resource` fuzz target (`./S:` normalised to `S:`, which has a scheme):
    // removing dot segments from a reference without a scheme could leave a first segment
    // that reads as one, so `http/../https://mcp.example.com/mcp` (no scheme, no
    // authority) named `https://mcp.example.com/mcp`. DPoP's `htu` is compared the same way.
    let resource = ResourceUri::parse("https://mcp.example.com/mcp", false).expect("parses");
    for audience in [
        "http/../https://mcp.example.com/mcp",
        "HTTP/./../https://mcp.example.com/mcp",
        "https/x/../../https://mcp.example.com/mcp",
    ] {
        assert!(!resource.matches(audience), "{audience}");
        assert_ne!(
            canonical_http(audience),
            canonical_http("https://mcp.example.com/mcp"),
            "{audience}"
        );
    }
    for uri in ["./S:", "a/../b:c/d", "x/../s://h/p"] {
        let once = normalize(uri, Separators::Exact);
        assert_eq!(normalize(&once, Separators::Exact), once, "{uri}");
        let once = canonical_http(uri);
        assert_eq!(canonical_http(&once), once, "{uri}");
    }
    assert_eq!(normalize("a/../b:c/d", Separators::Exact), "./b:c/d");
    // Control: references whose first segment has no colon, and URIs, are as before.
    assert_eq!(normalize("a/../b/c", Separators::Exact), "b/c");
    assert_eq!(normalize("urn:x:Y", Separators::Folded), "urn:x:Y");
    assert!(resource.matches("https://mcp.example.com/x/../mcp"));
}

#[test]
fn decoding_never_makes_a_new_escape() {
    // Found by the `resource` fuzz target: after a stray `%`, a decoded hex digit made a
    // new escape (`%4%32` became `%42`, then `B`), so normal forms were not fixed points.
    for uri in [
        "https%4%32Fb",
        "https://h.example/%4%32",
        "https://h.example/%%34%31",
        "file:///a%%32%46b",
    ] {
        for separators in [Separators::Exact, Separators::Folded] {
            let once = normalize(uri, separators);
            assert_eq!(normalize(&once, separators), once, "{uri}");
        }
        let once = canonical_http(uri);
        assert_eq!(canonical_http(&once), once, "{uri}");
    }
    assert_eq!(
        normalize("https://h.example/%4%32", Separators::Exact),
        "https://h.example/%4%32"
    );
    // Control: escapes of unreserved characters are still decoded, after a stray `%` too
    // when they are not hex digits.
    assert_eq!(
        normalize("https://h.example/%41%4%47%42", Separators::Exact),
        "https://h.example/A%4GB"
    );
}

/// URI-like strings with what normalisation acts on: case, escapes, dot and empty
/// segments, ports, separators that fold.
fn uri_like() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let prefix = proptest::sample::select(vec![
        "https://h.example",
        "HTTP://H.Example",
        "https://h.example:",
        "https://h.example:443",
        "https://h.example::443:",
        "http://[::1]:80",
        "http://[",
        "https:",
        "https:/",
        "file://",
        "x:",
        "",
    ]);
    let segment = proptest::sample::select(vec![
        "", ".", "..", "%2E", "%2e%2E", "a", "B", "%41", "%7e", "%2F", "%5C", "\\", "é", "%", "%4",
        ":", "@",
    ]);
    let suffix = proptest::sample::select(vec!["", "?", "?q=%41/..", "#f", "#%2F"]);
    (
        prefix,
        proptest::collection::vec(segment, 0..6),
        any::<bool>(),
        suffix,
    )
        .prop_map(|(prefix, segments, absolute, suffix)| {
            let path = segments.join("/");
            let slash = if absolute { "/" } else { "" };
            format!("{prefix}{slash}{path}{suffix}")
        })
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: 512,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    })]

    /// Canonical and normal forms are fixed points, for URI-like and arbitrary input.
    #[test]
    fn canonical_and_normal_forms_are_fixed_points(
        uri in proptest::prop_oneof![uri_like(), ".{0,24}"],
    ) {
        let canonical = canonical_http(&uri);
        proptest::prop_assert_eq!(canonical_http(&canonical), canonical);
        for separators in [Separators::Exact, Separators::Folded] {
            let normal = normalize(&uri, separators);
            proptest::prop_assert_eq!(normalize(&normal, separators), normal);
        }
    }
}

#[cfg(any(feature = "http-client", feature = "redis"))]
#[test]
fn urls_are_redacted_for_display() {
    for (url, shown) in [
        (
            "https://u:p@as.example.com/i?x=1",
            "https://as.example.com/i?<redacted>",
        ),
        ("https://u@as.example.com", "https://as.example.com"),
        ("https://as.example.com/a@b", "https://as.example.com/a@b"),
        ("https://as.example.com/i", "https://as.example.com/i"),
        (
            "https://as.example.com/i#k",
            "https://as.example.com/i#<redacted>",
        ),
        (
            "https://as.example.com?k=1#f",
            "https://as.example.com?<redacted>",
        ),
        // A password in the query (redis+unix reads `pass=` there).
        (
            "redis+unix:///run/redis.sock?db=1&pass=S3cret",
            "redis+unix:///run/redis.sock?<redacted>",
        ),
        // An `@` after a `?` or `#` in the authority: a password left unescaped, or a query
        // or fragment holding an `@`. Nothing after the scheme is shown.
        ("redis://:my#S3cret@host:6379/0", "redis://<redacted>"),
        ("redis://u:my?S3cret@host", "redis://<redacted>"),
        ("https://h?q=S3c@ret", "https://<redacted>"),
        ("https://h?k=S3cret@b/c", "https://<redacted>"),
        ("https://u:p@h#S3cret@x", "https://<redacted>"),
        // A query that holds `@` and `/` after the host.
        ("https://host?next=a/b@c", "https://host?<redacted>"),
        (
            "https://[::1]:8080/i?k=S3cret",
            "https://[::1]:8080/i?<redacted>",
        ),
        ("not a url @ all", "not a url @ all"),
        ("not a url ? S3cret", "not a url ?<redacted>"),
        // `://` inside the query is no scheme.
        ("unix:/sock?pass=S3cret://b", "unix:/sock?<redacted>"),
        ("", ""),
        ("://", "://"),
        ("héllo://ü:S3cret@ö/ä?é", "héllo://ö/ä?<redacted>"),
    ] {
        assert_eq!(redacted_url(url), shown, "{url}");
        assert!(!redacted_url(url).contains("S3cret"), "{url}");
    }
}
