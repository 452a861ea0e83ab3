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

use crate::{
    Strings,
    jsonrpc::Params,
    resource::{request_readings, rule_readings},
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
#[derive(Clone, Default, PartialEq, Eq, Debug)]
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
    /// (`files` implies `files:read`, `files:read` implies `files:read:own`). A scope with a
    /// `/` in it is a URI (`https://api.example.com/read`, `api://app/Files.Read`), whose
    /// colons are not levels: the rule gives it no broader scope (`https` does not imply it).
    /// Defaults to off.
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
                && !scope.contains('/')
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
    pub(crate) fn is_satisfied_by(&self, granted: Strings<'_>) -> bool {
        self.scopes.iter().all(|required| {
            granted.iter().any(|g| {
                required
                    .satisfied_by
                    .binary_search_by(|s| s.as_str().cmp(g))
                    .is_ok()
            })
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
pub(crate) enum OperationKind {
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
        rules: &BTreeMap<(OperationKind, String), Vec<String>>,
        hierarchy: &ScopeHierarchy,
    ) -> Self {
        // Resource rules match every reading of a URI (`..`, `%70`, upper-case scheme, a
        // default port...), so that the layer and the server cannot read one URI two ways.
        // Two rules that name one resource in different spellings both apply: their scopes
        // merge, as the scopes of one rule given twice do.
        let mut merged: BTreeMap<(OperationKind, String), Vec<&str>> = BTreeMap::new();
        for ((target, key), scopes) in rules {
            let keys = match target {
                OperationKind::Resource | OperationKind::ResourcePrefix => rule_readings(key),
                _ => vec![key.clone()],
            };
            for key in keys {
                merged
                    .entry((*target, key))
                    .or_default()
                    .extend(scopes.iter().map(String::as_str));
            }
        }
        let mut policy = Self::default();
        for ((target, key), scopes) in merged {
            let requirement = Requirement::new(scopes, hierarchy);
            match target {
                OperationKind::Method => drop(policy.methods.insert(key, requirement)),
                OperationKind::Tool => drop(policy.tools.insert(key, requirement)),
                OperationKind::Prompt => drop(policy.prompts.insert(key, requirement)),
                OperationKind::Resource => drop(policy.resources.insert(key, requirement)),
                OperationKind::ResourcePrefix => policy.resource_prefixes.push((key, requirement)),
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

    /// Adds the requirements that apply to one JSON-RPC call to `out`: those of its method,
    /// and those of the tool, prompt or resource it names. A `completion/complete` needs what
    /// the prompt or resource (template) it completes an argument of needs.
    ///
    /// # Errors
    ///
    /// What is missing, when rules could apply to the call but it does not say what it calls
    /// (`params` not an object, or without its string `name`, `uri` or `ref`, as MCP
    /// requires): a server that read such a call some other way (by position, say) would
    /// dodge the rules.
    pub(crate) fn collect<'p>(
        &'p self,
        method: &str,
        params: Option<&Params<'_>>,
        out: &mut Vec<&'p Requirement>,
    ) -> Result<(), &'static str> {
        out.extend(self.methods.get(method));
        let name = params.and_then(|p| p.name.as_deref());
        let uri = params.and_then(|p| p.uri.as_deref());
        match method {
            "tools/call" => out.extend(named(&self.tools, name, "tools/call needs params.name")?),
            "prompts/get" => {
                out.extend(named(&self.prompts, name, "prompts/get needs params.name")?);
            }
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                self.collect_resource(uri, "resource requests need params.uri", out)?;
            }
            "completion/complete" => {
                let reference = params.and_then(|p| p.reference.as_ref());
                match reference.and_then(|r| r.kind.as_deref()) {
                    Some("ref/prompt") => out.extend(named(
                        &self.prompts,
                        reference.and_then(|r| r.name.as_deref()),
                        "completion/complete needs params.ref.name",
                    )?),
                    Some("ref/resource") => self.collect_resource(
                        reference.and_then(|r| r.uri.as_deref()),
                        "completion/complete needs params.ref.uri",
                        out,
                    )?,
                    _ if self.prompts.is_empty() && !self.has_resource_rules() => {}
                    _ => return Err("completion/complete needs params.ref with its type"),
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn has_resource_rules(&self) -> bool {
        !(self.resources.is_empty() && self.resource_prefixes.is_empty())
    }

    /// The rules for a resource URI (or a URI template, matched as written: prefix rules
    /// cover the templates under their prefix), in every reading of it.
    fn collect_resource<'p>(
        &'p self,
        uri: Option<&str>,
        missing: &'static str,
        out: &mut Vec<&'p Requirement>,
    ) -> Result<(), &'static str> {
        if !self.has_resource_rules() {
            return Ok(());
        }
        let uri = uri.ok_or(missing)?;
        for uri in &request_readings(uri) {
            let exact = self.resources.get(uri);
            let prefixes = self
                .resource_prefixes
                .iter()
                .filter(|(prefix, _)| uri.starts_with(prefix.as_str()))
                .map(|(_, requirement)| requirement);
            for requirement in exact.into_iter().chain(prefixes) {
                if !out.iter().any(|seen| std::ptr::eq(*seen, requirement)) {
                    out.push(requirement);
                }
            }
        }
        Ok(())
    }
}

/// The rule for `name` among `rules`; an error when there are rules but no name.
fn named<'p>(
    rules: &'p HashMap<String, Requirement>,
    name: Option<&str>,
    missing: &'static str,
) -> Result<Option<&'p Requirement>, &'static str> {
    match name {
        Some(name) => Ok(rules.get(name)),
        None if rules.is_empty() => Ok(None),
        None => Err(missing),
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
pub(crate) fn all_satisfied(requirements: &[&Requirement], granted: Strings<'_>) -> bool {
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

/// Whether `scope` is an RFC 6749 §3.3 `scope-token`: `1*( %x21 / %x23-5B / %x5D-7E )`.
///
/// The one rule for scope names, used for configured scopes and for the scopes a token
/// grants.
pub(crate) fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// Checks a configured scope: a [scope token](is_scope_token), and not `offline_access`
/// (MCP servers should not advertise it).
pub(crate) fn validate_scope(scope: &str) -> Result<(), String> {
    if scope.is_empty() {
        return Err("is empty".into());
    }
    if !is_scope_token(scope) {
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

    fn granted(scopes: &[&str]) -> crate::AuthInfo {
        crate::AuthInfo::builder().scopes(scopes).build()
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
                req.is_satisfied_by(granted(case.granted).scopes()),
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
    fn uri_scopes_have_no_prefix_parents() {
        let h = ScopeHierarchy::new().with_prefix_rule();
        for (granted, required) in [
            ("https", "https://api.example.com/read"),
            (
                "https://api.example.com",
                "https://api.example.com:8443/read",
            ),
            ("api", "api://app/Files.Read"),
        ] {
            assert!(!h.covers(granted, required), "{granted} covers {required}");
            // Control: itself, and an explicit implication.
            assert!(h.covers(required, required));
            assert!(
                h.clone()
                    .implies(granted, [required])
                    .covers(granted, required)
            );
        }
        // Colon scopes keep their parents.
        assert!(h.covers("files", "files:read:own"));
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
    fn scope_tokens() {
        assert!(validate_scope("mcp:read").is_ok());
        assert!(validate_scope("https://api.example/read").is_ok());
        for bad in ["", "a b", "a\"b", "a\\b", "é", "offline_access", "a\nb"] {
            assert!(validate_scope(bad).is_err(), "{bad:?}");
        }
    }
}
