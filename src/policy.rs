//! Scope requirements and scope hierarchies.
//!
//! MCP (2026-07-28) requires that "a broader scope implies narrower ones" when deciding whether
//! a token is sufficient. A [`ScopeHierarchy`] says which scopes imply which: explicit
//! implications (`admin` ⊇ `write` ⊇ `read`, transitively), and optionally the colon-prefix
//! rule (`files` ⊇ `files:read` ⊇ `files:read:own`).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fmt,
    sync::Arc,
};

/// Which scopes imply which.
///
/// # Example
///
/// ```
/// use mcp_auth::policy::ScopeHierarchy;
///
/// let hierarchy = ScopeHierarchy::new()
///     .implies("admin", ["write"])
///     .implies("write", ["read"])
///     .with_prefix_rule();
/// assert!(hierarchy.covers("admin", "read"));
/// assert!(hierarchy.covers("files", "files:write"));
/// assert!(!hierarchy.covers("read", "write"));
/// assert!(!hierarchy.covers("files", "filesystem"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct ScopeHierarchy {
    implies: BTreeMap<String, BTreeSet<String>>,
    prefix_rule: bool,
}

impl ScopeHierarchy {
    /// An empty hierarchy: every scope covers only itself.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares that `broader` implies each of `narrower` (and, transitively, whatever those
    /// imply). Defaults to no implications.
    pub fn implies<I>(mut self, broader: impl Into<String>, narrower: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.implies
            .entry(broader.into())
            .or_default()
            .extend(narrower.into_iter().map(Into::into));
        self
    }

    /// Turns on the colon-prefix rule: a scope implies every scope that extends it after a `:`
    /// (`files` implies `files:read`, `files:read` implies `files:read:own`). Defaults to off.
    pub fn with_prefix_rule(mut self) -> Self {
        self.prefix_rule = true;
        self
    }

    /// Whether a token granted `granted` satisfies a requirement for `required`.
    #[must_use]
    pub fn covers(&self, granted: &str, required: &str) -> bool {
        self.satisfiers(required).contains(granted)
    }

    /// Every scope that satisfies `required`: itself, its colon prefixes (with the prefix
    /// rule), and everything that implies one of those, transitively.
    fn satisfiers(&self, required: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut queue: Vec<String> = vec![required.to_owned()];
        while let Some(scope) = queue.pop() {
            if !found.insert(scope.clone()) {
                continue;
            }
            if self.prefix_rule
                && let Some((parent, _)) = scope.rsplit_once(':')
                && !parent.is_empty()
            {
                queue.push(parent.to_owned());
            }
            for (broader, narrower) in &self.implies {
                if narrower.contains(&scope) {
                    queue.push(broader.clone());
                }
            }
        }
        found
    }

    pub(crate) fn scopes(&self) -> impl Iterator<Item = &str> {
        self.implies
            .iter()
            .flat_map(|(k, v)| std::iter::once(k).chain(v))
            .map(String::as_str)
    }
}

impl fmt::Debug for ScopeHierarchy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeHierarchy")
            .field("implies", &self.implies)
            .field("prefix_rule", &self.prefix_rule)
            .finish()
    }
}

/// A set of required scopes, resolved against a hierarchy once at build time.
#[derive(Clone)]
pub(crate) struct Requirement {
    scopes: Box<[Required]>,
    /// The space-separated list for `scope=`; empty when nothing is required.
    challenge: Arc<str>,
}

#[derive(Clone)]
struct Required {
    /// Sorted, for binary search.
    satisfied_by: Box<[String]>,
}

impl Requirement {
    pub(crate) fn new<'a>(
        scopes: impl IntoIterator<Item = &'a str>,
        hierarchy: &ScopeHierarchy,
    ) -> Self {
        let mut names: Vec<&str> = Vec::new();
        for scope in scopes {
            if !names.contains(&scope) {
                names.push(scope);
            }
        }
        let required = names
            .iter()
            .map(|scope| Required {
                satisfied_by: hierarchy.satisfiers(scope).into_iter().collect(),
            })
            .collect();
        Self {
            scopes: required,
            challenge: Arc::from(names.join(" ")),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// The space-separated scopes, for `scope=`.
    pub(crate) fn challenge(&self) -> &Arc<str> {
        &self.challenge
    }

    /// Whether the granted scopes satisfy every required scope.
    pub(crate) fn is_satisfied_by(&self, granted: &[String]) -> bool {
        self.scopes.iter().all(|required| {
            granted
                .iter()
                .any(|g| required.satisfied_by.binary_search(g).is_ok())
        })
    }
}

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Requirement").field(&self.challenge).finish()
    }
}

/// What a per-operation rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Target {
    Method,
    Prompt,
    Resource,
    ResourcePrefix,
    Tool,
}

/// Per-operation scope rules, resolved against the hierarchy at build time.
#[derive(Clone, Default)]
pub(crate) struct OperationPolicy {
    methods: HashMap<String, Requirement>,
    tools: HashMap<String, Requirement>,
    prompts: HashMap<String, Requirement>,
    resources: HashMap<String, Requirement>,
    /// Longest prefix first, so the `Debug` output reads in match order.
    resource_prefixes: Vec<(String, Requirement)>,
}

impl OperationPolicy {
    pub(crate) fn new(
        rules: &BTreeMap<(Target, String), Vec<String>>,
        hierarchy: &ScopeHierarchy,
    ) -> Self {
        let mut policy = Self::default();
        for ((target, key), scopes) in rules {
            let requirement = Requirement::new(scopes.iter().map(String::as_str), hierarchy);
            // Resource rules match normalised URIs, so that the layer and the server cannot
            // read one URI two ways (`..`, `%70`, upper-case scheme).
            let key = match target {
                Target::Resource | Target::ResourcePrefix => normalize_uri(key),
                _ => key.clone(),
            };
            match target {
                Target::Method => drop(policy.methods.insert(key, requirement)),
                Target::Tool => drop(policy.tools.insert(key, requirement)),
                Target::Prompt => drop(policy.prompts.insert(key, requirement)),
                Target::Resource => drop(policy.resources.insert(key, requirement)),
                Target::ResourcePrefix => policy.resource_prefixes.push((key, requirement)),
            }
        }
        policy
            .resource_prefixes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        policy
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.methods.is_empty()
            && self.tools.is_empty()
            && self.prompts.is_empty()
            && self.resources.is_empty()
            && self.resource_prefixes.is_empty()
    }

    /// Adds the requirements that apply to one JSON-RPC call to `out`.
    pub(crate) fn collect<'p>(
        &'p self,
        method: &str,
        name: Option<&str>,
        uri: Option<&str>,
        out: &mut Vec<&'p Requirement>,
    ) {
        out.extend(self.methods.get(method));
        match method {
            "tools/call" => out.extend(name.and_then(|n| self.tools.get(n))),
            "prompts/get" => out.extend(name.and_then(|n| self.prompts.get(n))),
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                if let Some(uri) = uri
                    && !(self.resources.is_empty() && self.resource_prefixes.is_empty())
                {
                    let uri = normalize_uri(uri);
                    let uri = uri.as_str();
                    out.extend(self.resources.get(uri));
                    out.extend(
                        self.resource_prefixes
                            .iter()
                            .filter(|(prefix, _)| uri.starts_with(prefix.as_str()))
                            .map(|(_, requirement)| requirement),
                    );
                }
            }
            _ => {}
        }
    }
}

impl fmt::Debug for OperationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn sorted(map: &HashMap<String, Requirement>) -> BTreeMap<&str, &str> {
            map.iter()
                .map(|(k, v)| (k.as_str(), &**v.challenge()))
                .collect()
        }
        let prefixes: Vec<(&str, &str)> = self
            .resource_prefixes
            .iter()
            .map(|(k, v)| (k.as_str(), &**v.challenge()))
            .collect();
        f.debug_struct("OperationPolicy")
            .field("methods", &sorted(&self.methods))
            .field("tools", &sorted(&self.tools))
            .field("prompts", &sorted(&self.prompts))
            .field("resources", &sorted(&self.resources))
            .field("resource_prefixes", &prefixes)
            .finish()
    }
}

/// Whether `granted` satisfies every requirement.
pub(crate) fn all_satisfied(requirements: &[&Requirement], granted: &[String]) -> bool {
    requirements.iter().all(|r| r.is_satisfied_by(granted))
}

/// The `scope=` value for a set of requirements: every scope once, in order.
pub(crate) fn union_challenge(requirements: &[&Requirement]) -> Arc<str> {
    if let [only] = requirements {
        return only.challenge().clone();
    }
    let mut seen: Vec<&str> = Vec::new();
    for requirement in requirements {
        for scope in requirement.challenge().split(' ').filter(|s| !s.is_empty()) {
            if !seen.contains(&scope) {
                seen.push(scope);
            }
        }
    }
    Arc::from(seen.join(" "))
}

/// Normalises a URI for rule matching (RFC 3986 §6.2.2): scheme and authority in lower case,
/// percent-encoded unreserved characters decoded and other escapes in upper-case hex, and dot
/// segments removed from the path.
///
/// It errs on the strict side, so that a URI the server may resolve into a protected one
/// matches the protected rule: in the path, `%2F`, `%5C` and `\` count as `/`, and empty
/// segments (`//`) are dropped before dot segments are resolved. Anything it does not
/// understand is kept as it is.
pub(crate) fn normalize_uri(uri: &str) -> String {
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
    let mut out = String::with_capacity(uri.len());
    if let Some(scheme) = scheme {
        out.push_str(&scheme.to_ascii_lowercase());
        out.push(':');
    }
    let mut rest = rest;
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '\\', '?', '#']).unwrap_or(after.len());
        out.push_str("//");
        out.push_str(&decode_unreserved(&after[..end], false).to_ascii_lowercase());
        rest = &after[end..];
    }
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    out.push_str(&normalize_path(&decode_unreserved(&rest[..path_end], true)));
    out.push_str(&decode_unreserved(&rest[path_end..], false));
    out
}

/// Decodes `%XX` escapes of unreserved characters and upper-cases the hex of the others; with
/// `slashes`, `%2F`, `%5C` and `\` become `/`.
fn decode_unreserved(s: &str, slashes: bool) -> String {
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
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(byte));
            } else if slashes && matches!(byte, b'/' | b'\\') {
                out.push('/');
            } else {
                out.push('%');
                out.push(char::from(hex[0].to_ascii_uppercase()));
                out.push(char::from(hex[1].to_ascii_uppercase()));
            }
            i += 3;
            continue;
        }
        if slashes && bytes[i] == b'\\' {
            out.push('/');
            i += 1;
            continue;
        }
        // Copy up to the next byte that needs a look; both are ASCII, so the cut is on a
        // character boundary.
        let next = bytes[i + 1..]
            .iter()
            .position(|&b| b == b'%' || (slashes && b == b'\\'))
            .map_or(bytes.len(), |n| i + 1 + n);
        out.push_str(&s[i..next]);
        i = next;
    }
    out
}

/// Drops empty segments and resolves `.` and `..` (RFC 3986 §5.2.4).
fn normalize_path(path: &str) -> String {
    if !path.contains("/.") && !path.contains("//") && !path.starts_with('.') {
        return path.to_owned();
    }
    let absolute = path.starts_with('/');
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/') {
        trailing_slash = false;
        match segment {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    if absolute {
        out.push('/');
    }
    out.push_str(&segments.join("/"));
    if trailing_slash && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Checks an RFC 6749 §3.3 `scope-token`: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn check_scope_token(scope: &str) -> Result<(), String> {
    if scope.is_empty() {
        return Err("is empty".into());
    }
    if !scope
        .bytes()
        .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
    {
        return Err("contains a character not allowed in a scope (RFC 6749 §3.3)".into());
    }
    if scope == "offline_access" {
        return Err(
            "offline_access is not a resource scope; MCP servers should not advertise it".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn requirement_table() {
        let hierarchy = ScopeHierarchy::new()
            .implies("admin", ["write"])
            .implies("write", ["read"])
            .implies("root", ["files"])
            .with_prefix_rule();
        struct Case {
            name: &'static str,
            required: &'static [&'static str],
            granted: &'static [&'static str],
            ok: bool,
        }
        let cases = [
            Case {
                name: "nothing required",
                required: &[],
                granted: &[],
                ok: true,
            },
            Case {
                name: "literal",
                required: &["read"],
                granted: &["read"],
                ok: true,
            },
            Case {
                name: "missing",
                required: &["read"],
                granted: &["other"],
                ok: false,
            },
            Case {
                name: "direct implication",
                required: &["read"],
                granted: &["write"],
                ok: true,
            },
            Case {
                name: "transitive implication",
                required: &["read"],
                granted: &["admin"],
                ok: true,
            },
            Case {
                name: "not upward",
                required: &["admin"],
                granted: &["read"],
                ok: false,
            },
            Case {
                name: "all needed",
                required: &["read", "files:write"],
                granted: &["read"],
                ok: false,
            },
            Case {
                name: "all present",
                required: &["read", "files:write"],
                granted: &["read", "files"],
                ok: true,
            },
            Case {
                name: "prefix rule",
                required: &["files:write:own"],
                granted: &["files:write"],
                ok: true,
            },
            Case {
                name: "prefix is not substring",
                required: &["filesystem"],
                granted: &["files"],
                ok: false,
            },
            Case {
                name: "prefix plus implication",
                required: &["files:write"],
                granted: &["root"],
                ok: true,
            },
            Case {
                name: "child does not cover parent",
                required: &["files"],
                granted: &["files:write"],
                ok: false,
            },
            Case {
                name: "empty granted",
                required: &["read"],
                granted: &[],
                ok: false,
            },
        ];
        for case in cases {
            let req = Requirement::new(case.required.iter().copied(), &hierarchy);
            assert_eq!(
                req.is_satisfied_by(&granted(case.granted)),
                case.ok,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn prefix_rule_is_opt_in() {
        let flat = ScopeHierarchy::new();
        assert!(!flat.covers("files", "files:read"));
        assert!(flat.covers("files", "files"));
    }

    #[test]
    fn cycles_terminate() {
        let h = ScopeHierarchy::new()
            .implies("a", ["b"])
            .implies("b", ["a"]);
        assert!(h.covers("a", "b"));
        assert!(h.covers("b", "a"));
    }

    #[test]
    fn challenge_lists_each_scope_once_in_order() {
        let req = Requirement::new(["b", "a", "b"], &ScopeHierarchy::new());
        assert_eq!(&**req.challenge(), "b a");
    }

    #[test]
    fn uri_normalisation() {
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
            (
                "https://h.example/a%2Fb?x=%2F",
                "https://h.example/a/b?x=%2F",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_uri(input), want, "{input}");
        }
    }

    #[test]
    fn scope_tokens() {
        assert!(check_scope_token("mcp:read").is_ok());
        assert!(check_scope_token("https://api.example/read").is_ok());
        for bad in ["", "a b", "a\"b", "a\\b", "é", "offline_access", "a\nb"] {
            assert!(check_scope_token(bad).is_err(), "{bad:?}");
        }
    }
}
