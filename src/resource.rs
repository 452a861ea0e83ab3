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

/// `url` for `Debug` and error messages: without the `user:password@` of its authority, and
/// with its query and fragment redacted (some clients read a password there: `redis+unix`'s
/// `?pass=`, an API key in a query). Works on text that does not parse as a URL too.
#[cfg(any(feature = "http-client", feature = "redis"))]
pub(crate) fn redacted_url(url: &str) -> String {
    const REDACTED: &str = "<redacted>";
    // A scheme only where `://` comes before any query or fragment.
    let marks = url.find(['?', '#']).unwrap_or(url.len());
    let (scheme, rest) = match url[..marks].find("://") {
        Some(at) => (Some(&url[..at]), &url[at + 3..]),
        None => (None, url),
    };
    let mut shown = String::with_capacity(url.len());
    let rest = match scheme {
        Some(scheme) => {
            shown.push_str(scheme);
            shown.push_str("://");
            // Up to the path, everything before the last `@` is user information. With a
            // `?` or `#` in it, that `@` may as well be in a query or fragment (or in a
            // password left unescaped): nothing after the scheme is shown.
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) if rest[..at].contains(['?', '#']) => {
                    shown.push_str(REDACTED);
                    return shown;
                }
                Some(at) => &rest[at + 1..],
                None => rest,
            }
        }
        None => rest,
    };
    let (kept, redacted) = rest.split_at(rest.find(['?', '#']).unwrap_or(rest.len()));
    shown.push_str(kept);
    if let Some(mark) = redacted.chars().next() {
        shown.push(mark);
        shown.push_str(REDACTED);
    }
    shown
}

/// A URL as configured, kept exactly as given (an issuer compares byte for byte). `Debug`
/// shows it [redacted](redacted_url).
#[cfg(feature = "introspection")]
#[derive(Clone)]
pub(crate) struct ConfiguredUrl(pub(crate) String);

#[cfg(feature = "introspection")]
impl std::fmt::Debug for ConfiguredUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&redacted_url(&self.0), f)
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
    pub(crate) fn accept<'a>(&self, audiences: impl IntoIterator<Item = &'a str>) -> bool {
        let ours = |aud: &str| {
            self.resource.matches(aud) || self.aliases.iter().any(|alias| alias.matches(aud))
        };
        let mut audiences = audiences.into_iter().peekable();
        if self.exclusive {
            audiences.peek().is_some() && audiences.all(ours)
        } else {
            audiences.any(ours)
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

/// The readings of a resource URI that access rules must cover, so that no spelling a server
/// resolves to a protected URI dodges its rule: the URI as written and as a WHATWG URL parser
/// reads it, each normalised both ways ([`Separators`]), without repeats.
///
/// The WHATWG reading is how servers on the TypeScript SDK (`new URL`) and on the Python SDK
/// (pydantic, built on the `url` crate used here) read a URI: without default ports, tabs,
/// newlines or surrounding spaces, with `\` as `/`, `https:host/p` as `https://host/p`, hosts
/// mapped (IDNA) and non-ASCII percent-encoded. The exact reading keeps `..%2F` one segment,
/// as such servers do (a template `file:///secret/{name}` matches it); the folded one reads it
/// as a step up, as a server that decodes before it resolves paths does.
pub(crate) fn rule_readings(uri: &str) -> Vec<String> {
    let whatwg = Url::parse(uri).ok();
    let mut readings = Vec::with_capacity(4);
    for spelling in std::iter::once(uri).chain(whatwg.as_ref().map(Url::as_str)) {
        for separators in [Separators::Folded, Separators::Exact] {
            let reading = normalize(spelling, separators);
            if !readings.contains(&reading) {
                readings.push(reading);
            }
        }
    }
    readings
}

/// The readings of a resource URI named in a request that rules must cover: the
/// [`rule_readings`] of the URI, and of what a server fetches or opens for it. That is the URI
/// as written and, read as a URL, without user info and without the trailing dot of a
/// fully-qualified host (the same host to a resolver); each of those whole, without its
/// fragment (never part of what is dereferenced, RFC 3986 §3.5), and without its query (a
/// file path, a template matched on the path, or a fetch the server routes by path alone).
/// Each extra reading can only add rules to a request, never take one away.
pub(crate) fn request_readings(uri: &str) -> Vec<String> {
    let mut bases = vec![uri.to_owned()];
    if let Ok(mut url) = Url::parse(uri) {
        // Both fail only for URLs that cannot have user info: then there is none to drop.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        bases.push(url.to_string());
        let trimmed = url.host_str().and_then(|host| host.strip_suffix('.'));
        if let Some(host) = trimmed.filter(|host| !host.is_empty()).map(str::to_owned)
            && url.set_host(Some(&host)).is_ok()
        {
            bases.push(url.to_string());
        }
    }
    let mut spellings: Vec<&str> = Vec::with_capacity(3 * bases.len());
    for base in &bases {
        let no_fragment = base.split('#').next().unwrap_or(base);
        let no_query = no_fragment.split('?').next().unwrap_or(no_fragment);
        for spelling in [base.as_str(), no_fragment, no_query] {
            if !spellings.contains(&spelling) {
                spellings.push(spelling);
            }
        }
    }
    let mut readings: Vec<String> = Vec::with_capacity(4);
    for spelling in spellings {
        for reading in rule_readings(spelling) {
            if !readings.contains(&reading) {
                readings.push(reading);
            }
        }
    }
    readings
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
mod tests;
