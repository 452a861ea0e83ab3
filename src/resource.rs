//! URLs and URIs: the canonical resource URI (RFC 8707 §2), audience matching, the URL rules
//! for issuers and endpoints (one loopback rule for all), allowed origins, and RFC 3986
//! normalisation.
//!
//! Every place that parses or compares a URL calls into this module: the layer's builder (the
//! resource, audiences, authorization servers, origins), both verifier builders (issuers,
//! endpoints), the HTTP client (each URL before it is fetched) and the per-resource scope
//! rules.

use std::net::IpAddr;

use url::{Host, Url};

/// Whether `http` may be used for this URL without `danger_allow_http`: the host is the name
/// `localhost` or a loopback IP address.
///
/// Other names under `.localhost` are not included: RFC 6761 asks resolvers to answer them
/// with loopback, but common resolvers (glibc without a `hosts` entry) send them to DNS, where
/// anyone could answer.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The transport rule for every URL that carries tokens, keys or metadata: `https`, or `http`
/// to a loopback host, or `http` anywhere with `allow_http`.
pub(crate) fn check_transport(url: &Url, allow_http: bool) -> Result<(), &'static str> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(url) => Ok(()),
        "http" => {
            Err("must use https (http is allowed for loopback hosts, or with danger_allow_http)")
        }
        _ => Err("scheme must be https or http"),
    }
}

/// Parses an absolute `http(s)` URL with a host and without fragment or user info, under the
/// [transport rule](check_transport).
pub(crate) fn parse_http_url(input: &str, allow_http: bool) -> Result<Url, String> {
    if input.trim() != input || input.is_empty() {
        return Err("must be a non-empty URL without surrounding whitespace".into());
    }
    let url = Url::parse(input).map_err(|e| format!("not an absolute URL: {e}"))?;
    check_transport(&url, allow_http)?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must have a host".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user info".into());
    }
    Ok(url)
}

/// Parses an issuer identifier (RFC 8414 §2): an [`http(s)` URL](parse_http_url) without a
/// query either.
pub(crate) fn parse_issuer(input: &str, allow_http: bool) -> Result<Url, String> {
    let url = parse_http_url(input, allow_http)?;
    if url.query().is_some() {
        return Err("an issuer must not have a query (RFC 8414 §2)".into());
    }
    Ok(url)
}

/// `url` without the `user:password@` of its authority, for `Debug` and error messages. Works
/// on text that does not parse as a URL too.
#[cfg(any(feature = "http-client", feature = "redis"))]
pub(crate) fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// A URL as configured, kept exactly as given (an issuer compares byte for byte). `Debug`
/// shows it [without credentials](without_userinfo).
#[cfg(feature = "introspection")]
#[derive(Clone)]
pub(crate) struct ConfiguredUrl(pub(crate) String);

#[cfg(feature = "introspection")]
impl std::fmt::Debug for ConfiguredUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&without_userinfo(&self.0), f)
    }
}

/// A parsed canonical resource URI (RFC 8707 §2, MCP "canonical server URI").
#[derive(Clone, Debug)]
pub(crate) struct ResourceUri {
    /// Exactly as configured; published as `resource`.
    original: String,
    /// RFC 3986 normal form, root path empty.
    canonical: String,
    /// `scheme://host[:port]`, as the `url` crate serialises it.
    origin: String,
    /// The path, empty for the root.
    path: String,
}

impl ResourceUri {
    /// Parses a resource URI: absolute `http`/`https`, no fragment, no query, no user info.
    pub(crate) fn parse(input: &str, allow_http: bool) -> Result<Self, String> {
        let url = parse_http_url(input, allow_http)?;
        if url.query().is_some() {
            return Err("must not have a query (RFC 8707 §2)".into());
        }
        let origin = url.origin().ascii_serialization();
        let path = match url.path() {
            "/" => String::new(),
            path => path.to_owned(),
        };
        Ok(Self {
            original: input.to_owned(),
            canonical: canonical_http(input),
            origin,
            path,
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.original
    }

    /// `scheme://host[:port]`: the origin clients of this resource send.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// The path, empty for the root.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Whether `audience` names this resource.
    ///
    /// Byte equality with the configured form first (the usual case), then RFC 3986 §6.2.2
    /// equivalence: scheme and host case, percent-encoding, dot segments, a default port, and a
    /// trailing slash as an alias of the root path only. Hosts are compared as written, never
    /// re-read as a browser would (`2130706433` is not `127.0.0.1`).
    pub(crate) fn matches(&self, audience: &str) -> bool {
        audience == self.original
            || (audience
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("http"))
                && canonical_http(audience) == self.canonical)
    }
}

/// An audience accepted besides the resource itself.
#[derive(Clone, Debug)]
enum Alias {
    Uri(ResourceUri),
    Exact(String),
}

impl Alias {
    fn matches(&self, audience: &str) -> bool {
        match self {
            Self::Uri(uri) => uri.matches(audience),
            Self::Exact(exact) => exact == audience,
        }
    }
}

/// Which audiences make a token meant for this resource: the resource URI and its aliases.
#[derive(Clone, Debug)]
pub(crate) struct Audiences {
    resource: ResourceUri,
    aliases: Vec<Alias>,
    /// Every audience of a token must be this resource (or an alias).
    exclusive: bool,
}

impl Audiences {
    pub(crate) fn new(resource: ResourceUri) -> Self {
        Self {
            resource,
            aliases: Vec::new(),
            exclusive: false,
        }
    }

    /// Refuses tokens that also name other resources.
    pub(crate) fn exclusive(&mut self, exclusive: bool) {
        self.exclusive = exclusive;
    }

    /// Adds an alias: URLs compare like the resource, anything else byte for byte.
    pub(crate) fn alias(&mut self, audience: &str, allow_http: bool) -> Result<(), String> {
        if audience.is_empty() {
            return Err("is empty".into());
        }
        let lower = audience.get(..8).unwrap_or(audience).to_ascii_lowercase();
        let alias = if lower.starts_with("https://") || lower.starts_with("http://") {
            Alias::Uri(ResourceUri::parse(audience, allow_http)?)
        } else {
            Alias::Exact(audience.to_owned())
        };
        self.aliases.push(alias);
        Ok(())
    }

    /// Whether a token with these audiences (`aud`) is meant for this resource: one of them
    /// names it, or, when exclusive, all of them do.
    pub(crate) fn accept(&self, audiences: &[String]) -> bool {
        let ours = |aud: &String| {
            self.resource.matches(aud) || self.aliases.iter().any(|alias| alias.matches(aud))
        };
        if self.exclusive {
            !audiences.is_empty() && audiences.iter().all(ours)
        } else {
            audiences.iter().any(ours)
        }
    }
}

/// Parses an allowed `Origin` (`https://app.example.com`) into its ASCII serialisation.
pub(crate) fn parse_origin(origin: &str) -> Result<String, String> {
    if origin == "null" {
        return Err("the opaque origin `null` cannot be allowed".into());
    }
    let url = Url::parse(origin).map_err(|_| "not an absolute URL".to_owned())?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("an origin has no path, query or fragment".into());
    }
    if origin.ends_with('/') {
        return Err("an origin has no trailing slash".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("an origin has no user info".into());
    }
    Ok(url.origin().ascii_serialization())
}

/// How [`normalize`] reads path separators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Separators {
    /// As RFC 3986 defines them: only `/` separates, `%2F` is data.
    Exact,
    /// The stricter reading for access rules: `%2F`, `%5C` and `\` count as `/` and empty
    /// segments are dropped, so a URI that some server may resolve into a protected one
    /// matches the protected rule.
    Folded,
}

/// Normalises a URI (RFC 3986 §6.2.2): scheme and host in lower case, percent-encoded
/// unreserved characters decoded and other escapes in upper-case hex, dot segments removed.
/// Anything it does not understand is kept as it is.
pub(crate) fn normalize(uri: &str, separators: Separators) -> String {
    let (scheme, rest) = match uri.split_once(':') {
        Some((scheme, rest))
            if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) =>
        {
            (Some(scheme), rest)
        }
        _ => (None, uri),
    };
    let folded = separators == Separators::Folded;
    let mut out = String::with_capacity(uri.len());
    if let Some(scheme) = scheme {
        out.push_str(&scheme.to_ascii_lowercase());
        out.push(':');
    }
    let mut rest = rest;
    let mut authority = rest.starts_with("//");
    if let Some(after) = rest.strip_prefix("//") {
        let ends: &[char] = if folded {
            &['/', '\\', '?', '#']
        } else {
            &['/', '?', '#']
        };
        let end = after.find(ends).unwrap_or(after.len());
        let host = decode_unreserved(&after[..end], false).to_ascii_lowercase();
        out.push_str("//");
        // RFC 8089 §2: `file://localhost/p` is `file:///p`.
        if !(folded
            && scheme.is_some_and(|s| s.eq_ignore_ascii_case("file"))
            && host == "localhost")
        {
            out.push_str(&host);
        }
        rest = &after[end..];
    }
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    let path = remove_dot_segments(&decode_unreserved(&rest[..path_end], folded), folded);
    // `file:/p` and `file:///p` name one file (RFC 8089 §2), and a server may read any `x:/p`
    // as `x:///p`: for rules, no authority and an empty one are the same.
    if folded && scheme.is_some() && !authority && path.starts_with('/') {
        out.push_str("//");
        authority = true;
    }
    // Without an authority a path cannot start with `//` (RFC 3986 §3.3): one that dot
    // segments made so (`https:/.//host`) keeps a `/.` in front, or it would read as one.
    // Likewise, without a scheme a first segment with a `:` keeps a `./` (§4.2).
    if !authority && path.starts_with("//") {
        out.push_str("/.");
    } else if scheme.is_none()
        && !authority
        && path
            .split('/')
            .next()
            .is_some_and(|first| first.contains(':'))
    {
        out.push_str("./");
    }
    out.push_str(&path);
    out.push_str(&decode_unreserved(&rest[path_end..], false));
    out
}

/// The canonical form of an `http(s)` URI for identity: [`normalize`]d, a default port
/// (RFC 3986 §6.2.3) dropped, and an empty or `/` path made empty.
pub(crate) fn canonical_http(uri: &str) -> String {
    let mut out = normalize(uri, Separators::Exact);
    let default_port = if out.starts_with("https://") {
        ":443"
    } else if out.starts_with("http://") {
        ":80"
    } else {
        return out;
    };
    let authority_start = out.find("//").map_or(0, |i| i + 2);
    let authority_end = out[authority_start..]
        .find(['/', '?', '#'])
        .map_or(out.len(), |i| authority_start + i);
    let authority = &out[authority_start..authority_end];
    // `host:` with an empty port is the host alone (RFC 3986 §6.2.3). Only the port of a
    // `host:port` authority is dropped (the host an IP literal, or without `:`), so that the
    // result is canonical itself.
    let drop = match authority.rsplit_once(':') {
        Some((host, port)) if port.is_empty() || port == &default_port[1..] => {
            let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
            let well_formed = match host.strip_prefix('[') {
                Some(literal) => literal
                    .strip_suffix(']')
                    .is_some_and(|inner| !inner.contains(['[', ']'])),
                None => !host.contains([':', '[', ']']),
            };
            if well_formed { port.len() + 1 } else { 0 }
        }
        _ => 0,
    };
    out.replace_range(authority_end - drop..authority_end, "");
    let authority_end = authority_end - drop;
    if &out[authority_end..] == "/" {
        out.truncate(authority_end);
    }
    out
}

/// Decodes `%XX` escapes of unreserved characters and upper-cases the hex of the others; with
/// `folded`, `%2F`, `%5C` and `\` become `/`.
fn decode_unreserved(s: &str, folded: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && hex.iter().all(u8::is_ascii_hexdigit)
        {
            // Two ASCII hex digits: a valid `u8`.
            let byte = hex.iter().fold(0u8, |acc, &h| {
                acc * 16 + (h as char).to_digit(16).unwrap_or(0) as u8
            });
            // A hex digit decoded after a stray `%` (and perhaps one hex digit) would make a
            // new escape: it stays encoded, so that the result is normal itself.
            let tail = out.as_bytes();
            let makes_escape = byte.is_ascii_hexdigit()
                && (tail.last() == Some(&b'%')
                    || tail.len() >= 2
                        && tail[tail.len() - 2] == b'%'
                        && tail[tail.len() - 1].is_ascii_hexdigit());
            if (byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~'))
                && !makes_escape
            {
                out.push(char::from(byte));
            } else if folded && matches!(byte, b'/' | b'\\') {
                out.push('/');
            } else {
                out.push('%');
                out.push(char::from(hex[0].to_ascii_uppercase()));
                out.push(char::from(hex[1].to_ascii_uppercase()));
            }
            i += 3;
            continue;
        }
        if folded && bytes[i] == b'\\' {
            out.push('/');
            i += 1;
            continue;
        }
        // Copy up to the next byte that needs a look; both are ASCII, so the cut is on a
        // character boundary.
        let next = bytes[i + 1..]
            .iter()
            .position(|&b| b == b'%' || (folded && b == b'\\'))
            .map_or(bytes.len(), |n| i + 1 + n);
        out.push_str(&s[i..next]);
        i = next;
    }
    out
}

/// Resolves `.` and `..` segments (RFC 3986 §5.2.4); with `folded`, empty segments are
/// dropped too.
fn remove_dot_segments(path: &str, folded: bool) -> String {
    let has_dots = path.split('/').any(|s| s == "." || s == "..");
    if !(has_dots || folded && path.contains("//")) {
        return path.to_owned();
    }
    let absolute = path.starts_with('/');
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    let body = if absolute { &path[1..] } else { path };
    for segment in body.split('/') {
        trailing_slash = false;
        match segment {
            "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            "" if folded => trailing_slash = true,
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    if absolute {
        out.push('/');
    }
    out.push_str(&segments.join("/"));
    // After a last segment, even an empty one (`//.` is `//`), the slash is needed.
    if trailing_slash && (!segments.is_empty() || !out.ends_with('/')) {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
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
        let accept = |aud: &[&str]| {
            audiences.accept(&aud.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        };
        assert!(accept(&["https://h.example/mcp"]));
        assert!(accept(&["other", "HTTPS://OLD.example/mcp"]));
        assert!(accept(&["api://mcp"]));
        assert!(!accept(&["API://mcp"]));
        assert!(!accept(&[]));

        audiences.exclusive(true);
        let accept = |aud: &[&str]| {
            audiences.accept(&aud.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        };
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
            "", ".", "..", "%2E", "%2e%2E", "a", "B", "%41", "%7e", "%2F", "%5C", "\\", "é", "%",
            "%4", ":", "@",
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
    fn userinfo_is_removed_for_display() {
        assert_eq!(
            without_userinfo("https://u:p@as.example.com/i?x=1"),
            "https://as.example.com/i?x=1"
        );
        assert_eq!(
            without_userinfo("https://u@as.example.com"),
            "https://as.example.com"
        );
        assert_eq!(
            without_userinfo("https://as.example.com/a@b"),
            "https://as.example.com/a@b"
        );
        assert_eq!(without_userinfo("not a url @ all"), "not a url @ all");
    }
}
