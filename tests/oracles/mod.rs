//! Oracles written from the RFCs, not from `src/`: RFC 3986 URI equivalence and an RFC 9110
//! `WWW-Authenticate` parser. Shared by `tests/properties.rs` and the fuzz targets in `fuzz/`
//! (which include this file by path), so both check the crate against the same independent
//! reading of the specifications.

#![allow(dead_code, unreachable_pub)]

/// RFC 3986: parsing (§3, Appendix B), normalisation (§6.2.2, and §6.2.3 for `http(s)`) and
/// equivalence.
pub mod rfc3986 {
    use std::net::Ipv6Addr;

    /// An absolute URI, split into its components and checked against the §3 grammar.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Uri {
        pub scheme: String,
        pub authority: Option<Authority>,
        pub path: String,
        pub query: Option<String>,
        pub fragment: Option<String>,
    }

    /// The authority of a [`Uri`].
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Authority {
        pub userinfo: Option<String>,
        pub host: String,
        pub port: Option<String>,
    }

    fn is_unreserved(b: u8) -> bool {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
    }

    fn is_sub_delim(b: u8) -> bool {
        matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        )
    }

    /// Whether `s` is made of `allowed` bytes and well-formed `%XX` escapes.
    fn chars_ok(s: &str, allowed: impl Fn(u8) -> bool) -> bool {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                if !b
                    .get(i + 1..i + 3)
                    .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 3;
            } else if allowed(b[i]) {
                i += 1;
            } else {
                return false;
            }
        }
        true
    }

    fn is_pchar(b: u8) -> bool {
        is_unreserved(b) || is_sub_delim(b) || b == b':' || b == b'@'
    }

    fn valid_host(host: &str) -> bool {
        if let Some(inner) = host.strip_prefix('[') {
            let Some(inner) = inner.strip_suffix(']') else {
                return false;
            };
            if let Some(future) = inner.strip_prefix(['v', 'V']) {
                let Some((version, rest)) = future.split_once('.') else {
                    return false;
                };
                return !version.is_empty()
                    && version.bytes().all(|b| b.is_ascii_hexdigit())
                    && !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|b| is_unreserved(b) || is_sub_delim(b) || b == b':');
            }
            return inner.parse::<Ipv6Addr>().is_ok();
        }
        chars_ok(host, |b| is_unreserved(b) || is_sub_delim(b))
    }

    /// Parses an absolute URI (`scheme ":" hier-part [ "?" query ] [ "#" fragment ]`).
    /// `None` when `s` is not one.
    #[must_use]
    pub fn parse(s: &str) -> Option<Uri> {
        split(s, true)
    }

    /// Splits `s` into the components of an absolute URI (Appendix B), checking the structure
    /// (a scheme; an authority only after `//`; no path starting with `//` without one) and,
    /// when `strict`, the characters of every component (§3).
    #[must_use]
    pub fn split(s: &str, strict: bool) -> Option<Uri> {
        // Appendix B: ^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?
        let colon = s.find(':')?;
        let scheme = &s[..colon];
        if scheme.is_empty() || scheme.contains(['/', '?', '#']) {
            return None;
        }
        let sb = scheme.as_bytes();
        if !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return None;
        }
        let mut rest = &s[colon + 1..];
        let (rest_no_fragment, fragment) = match rest.find('#') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        rest = rest_no_fragment;
        let (hier, query) = match rest.find('?') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (authority, path) = match hier.strip_prefix("//") {
            Some(after) => {
                let end = after.find('/').unwrap_or(after.len());
                (Some(&after[..end]), &after[end..])
            }
            None => (None, hier),
        };
        let authority = match authority {
            None => None,
            Some(a) => {
                let (userinfo, hostport) = match a.rfind('@') {
                    Some(i) => (Some(&a[..i]), &a[i + 1..]),
                    None => (None, a),
                };
                if strict
                    && let Some(u) = userinfo
                    && !chars_ok(u, |b| is_unreserved(b) || is_sub_delim(b) || b == b':')
                {
                    return None;
                }
                let (host, port) = if hostport.starts_with('[') {
                    let close = hostport.find(']')?;
                    let (host, after) = hostport.split_at(close + 1);
                    match after {
                        "" => (host, None),
                        _ => (host, Some(after.strip_prefix(':')?)),
                    }
                } else {
                    match hostport.split_once(':') {
                        Some((host, port)) => (host, Some(port)),
                        None => (hostport, None),
                    }
                };
                if strict && !valid_host(host) {
                    return None;
                }
                if strict
                    && let Some(port) = port
                    && !port.bytes().all(|b| b.is_ascii_digit())
                {
                    return None;
                }
                Some(Authority {
                    userinfo: userinfo.map(str::to_owned),
                    host: host.to_owned(),
                    port: port.map(str::to_owned),
                })
            }
        };
        // path-abempty with an authority; without one, the path cannot start with "//".
        if authority.is_some() && !(path.is_empty() || path.starts_with('/')) {
            return None;
        }
        if authority.is_none() && path.starts_with("//") {
            return None;
        }
        if strict && !chars_ok(path, |b| is_pchar(b) || b == b'/') {
            return None;
        }
        for part in [query, fragment].into_iter().flatten() {
            if strict && !chars_ok(part, |b| is_pchar(b) || b == b'/' || b == b'?') {
                return None;
            }
        }
        Some(Uri {
            scheme: scheme.to_owned(),
            authority,
            path: path.to_owned(),
            query: query.map(str::to_owned),
            fragment: fragment.map(str::to_owned),
        })
    }

    /// §6.2.2.2: escapes of unreserved characters decoded, other escapes in upper case.
    fn percent_normalize(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%'
                && let Some(hex) = b.get(i + 1..i + 3)
                && hex.iter().all(u8::is_ascii_hexdigit)
                && let Ok(hex) = std::str::from_utf8(hex)
                && let Ok(byte) = u8::from_str_radix(hex, 16)
            {
                if is_unreserved(byte) {
                    out.push(byte);
                } else {
                    out.push(b'%');
                    out.extend(hex.to_ascii_uppercase().bytes());
                }
                i += 3;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// §5.2.4, step by step as the RFC writes it.
    #[must_use]
    pub fn remove_dot_segments(path: &str) -> String {
        let mut input = path.to_owned();
        let mut output = String::new();
        while !input.is_empty() {
            if let Some(rest) = input.strip_prefix("../") {
                input = rest.to_owned();
            } else if let Some(rest) = input.strip_prefix("./") {
                input = rest.to_owned();
            } else if input.starts_with("/./") {
                input = input[2..].to_owned();
            } else if input == "/." {
                input = "/".to_owned();
            } else if input.starts_with("/../") || input == "/.." {
                input = format!("/{}", &input[if input == "/.." { 3 } else { 4 }..]);
                match output.rfind('/') {
                    Some(i) => output.truncate(i),
                    None => output.clear(),
                }
            } else if input == "." || input == ".." {
                input.clear();
            } else {
                let start = usize::from(input.starts_with('/'));
                let end = input[start..].find('/').map_or(input.len(), |i| start + i);
                output.push_str(&input[..end]);
                input = input[end..].to_owned();
            }
        }
        output
    }

    /// The normal form of a URI (§6.2.2 syntax-based, §6.2.3 scheme-based for `http(s)`).
    #[must_use]
    pub fn normalize(uri: &Uri) -> Uri {
        let scheme = uri.scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => Some("80"),
            "https" => Some("443"),
            _ => None,
        };
        let authority = uri.authority.as_ref().map(|a| Authority {
            userinfo: a.userinfo.as_deref().map(percent_normalize),
            host: percent_normalize(&a.host).to_ascii_lowercase(),
            port: a
                .port
                .as_deref()
                .map(percent_normalize)
                .filter(|p| !p.is_empty() && Some(p.as_str()) != default_port),
        });
        let mut path = remove_dot_segments(&percent_normalize(&uri.path));
        if default_port.is_some() && authority.is_some() && path.is_empty() {
            path = "/".to_owned();
        }
        Uri {
            scheme,
            authority,
            path,
            query: uri.query.as_deref().map(percent_normalize),
            fragment: uri.fragment.as_deref().map(percent_normalize),
        }
    }

    /// Whether `a` and `b` are the same resource: byte for byte, or both absolute URIs with
    /// the same normal form.
    ///
    /// Only the structure is required: characters that RFC 3986 does not allow in a
    /// component are compared as they are (URL parsers escape them and resolve the same
    /// way), so `https://h/%01/../x` is `https://h/x`. The crate is not a URI validator; what
    /// matters is that no string names another resource, and no path an authority.
    #[must_use]
    pub fn equivalent(a: &str, b: &str) -> bool {
        a == b
            || match (split(a, false), split(b, false)) {
                (Some(x), Some(y)) => normalize(&x) == normalize(&y),
                _ => false,
            }
    }
}

/// RFC 9110 §11.6.1 `WWW-Authenticate`, §5.6 lists, tokens and quoted strings.
pub mod challenge {
    /// One challenge: its scheme and parameters (names in lower case, values unquoted).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Challenge {
        pub scheme: String,
        pub params: Vec<(String, String)>,
    }

    impl Challenge {
        /// The value of parameter `name`.
        #[must_use]
        pub fn param(&self, name: &str) -> Option<&str> {
            self.params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    fn is_tchar(b: u8) -> bool {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            )
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn ows(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.i += 1;
            }
        }

        fn token(&mut self) -> Option<String> {
            let start = self.i;
            while self.peek().is_some_and(is_tchar) {
                self.i += 1;
            }
            (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
        }

        fn quoted(&mut self) -> Option<String> {
            if self.peek() != Some(b'"') {
                return None;
            }
            self.i += 1;
            let mut out = Vec::new();
            loop {
                let b = self.peek()?;
                self.i += 1;
                match b {
                    b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                    b'\\' => {
                        let escaped = self.peek()?;
                        if !(escaped == b'\t' || escaped == b' ' || escaped >= 0x21)
                            || escaped == 0x7f
                        {
                            return None;
                        }
                        out.push(escaped);
                        self.i += 1;
                    }
                    b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => out.push(b),
                    _ => return None,
                }
            }
        }

        /// After a scheme and its space: whether an `auth-param` (token BWS "=") starts here.
        fn at_param(&self) -> bool {
            let mut j = self.i;
            while self.s.get(j).copied().is_some_and(is_tchar) {
                j += 1;
            }
            if j == self.i {
                return false;
            }
            while matches!(self.s.get(j), Some(b' ' | b'\t')) {
                j += 1;
            }
            // `token68` ends in "=" too, but is then followed by nothing or a comma.
            self.s.get(j) == Some(&b'=') && {
                let mut k = j;
                while self.s.get(k) == Some(&b'=') {
                    k += 1;
                }
                while matches!(self.s.get(k), Some(b' ' | b'\t')) {
                    k += 1;
                }
                !matches!(self.s.get(k), None | Some(b','))
            }
        }
    }

    /// Parses a `WWW-Authenticate` field value into its challenges. `None` on any syntax
    /// error; auth-params only (no `token68`).
    #[must_use]
    pub fn parse(value: &str) -> Option<Vec<Challenge>> {
        let mut p = Parser {
            s: value.as_bytes(),
            i: 0,
        };
        let mut challenges: Vec<Challenge> = Vec::new();
        loop {
            // Empty list elements are allowed.
            p.ows();
            while p.peek() == Some(b',') {
                p.i += 1;
                p.ows();
            }
            if p.peek().is_none() {
                break;
            }
            let scheme = p.token()?;
            let mut params: Vec<(String, String)> = Vec::new();
            if p.peek() == Some(b' ') {
                while p.peek() == Some(b' ') {
                    p.i += 1;
                }
                loop {
                    if !p.at_param() {
                        break;
                    }
                    let name = p.token()?.to_ascii_lowercase();
                    p.ows();
                    if p.peek() != Some(b'=') {
                        return None;
                    }
                    p.i += 1;
                    p.ows();
                    let value = match p.peek() {
                        Some(b'"') => p.quoted()?,
                        _ => p.token()?,
                    };
                    if params.iter().any(|(n, _)| *n == name) {
                        // RFC 9110 §11.2: each parameter name at most once per challenge.
                        return None;
                    }
                    params.push((name, value));
                    p.ows();
                    match p.peek() {
                        None => break,
                        Some(b',') => {
                            // Another parameter, or the next challenge.
                            let save = p.i;
                            p.i += 1;
                            p.ows();
                            while p.peek() == Some(b',') {
                                p.i += 1;
                                p.ows();
                            }
                            if !p.at_param() {
                                p.i = save;
                                break;
                            }
                        }
                        Some(_) => return None,
                    }
                }
            }
            challenges.push(Challenge { scheme, params });
            p.ows();
            match p.peek() {
                None => break,
                Some(b',') => p.i += 1,
                Some(_) => return None,
            }
        }
        Some(challenges)
    }

    /// What a parameter value becomes in a quoted-string the layer writes: visible ASCII,
    /// space and tab kept, anything else `?`.
    #[must_use]
    pub fn quoted_form(value: &str) -> String {
        value
            .chars()
            .map(|c| match c {
                ' ' | '\t' | '!'..='~' => c,
                _ => '?',
            })
            .collect()
    }

    /// What an `error_description` becomes (RFC 6750 §3: `%x20-21 / %x23-5B / %x5D-7E`):
    /// `"` and `\` as `'`, anything else outside the set `?`.
    #[must_use]
    pub fn description_form(value: &str) -> String {
        value
            .chars()
            .map(|c| match c {
                '"' | '\\' => '\'',
                ' '..='~' => c,
                _ => '?',
            })
            .collect()
    }
}
