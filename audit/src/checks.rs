//! The checks, as data: one table ([`CHECKS`]) that the runner, the table, the JSON output and
//! the README all come from.
//!
//! Clauses name the revision and the section title of the MCP specification (`MCP 2026-07-28`,
//! `MCP 2025-11-25`) or the RFC section. Titles, not numbers, because the MCP documents number
//! their sections only when rendered. Abbreviations: *Auth* is the Authorization chapter
//! (`basic/authorization/index` in 2026-07-28, `basic/authorization` in 2025-11-25), *ASD*
//! its Authorization Server Discovery page (a section of the one page in 2025-11-25), *Sec* its
//! Security Considerations, *HTTP* the Streamable HTTP transport.

use std::fmt;

use serde::Serialize;

/// How strongly the specification asks for what a check tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum Level {
    /// A failure is a conformance failure: the exit code is non-zero.
    Must,
    /// A failure is reported as a warning.
    Should,
    /// Optional behaviour; a failure is reported as a warning.
    May,
    /// Information about the deployment (the authorization server), never a failure.
    Info,
}

impl Level {
    /// `MUST`, `SHOULD`, `MAY` or `INFO`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Must => "MUST",
            Self::Should => "SHOULD",
            Self::May => "MAY",
            Self::Info => "INFO",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Which mode runs a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Mode {
    /// Runs in both modes: needs nothing but the server URL.
    BlackBox,
    /// Runs only with `--trusted-issuer`: needs tokens the server accepts.
    Trusted,
}

impl Mode {
    /// `black-box` or `trusted`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlackBox => "black-box",
            Self::Trusted => "trusted",
        }
    }
}

/// One check: what it tests, how strongly the specification asks for it, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Check {
    /// Stable identifier, such as `challenge.no-error`.
    pub id: &'static str,
    /// Requirement level.
    pub level: Level,
    /// The mode that runs it.
    pub mode: Mode,
    /// The specification clauses it comes from.
    pub clause: &'static str,
    /// What passes, in one line.
    pub description: &'static str,
}

impl Check {
    /// The check with this id.
    #[must_use]
    pub fn get(id: &str) -> Option<&'static Self> {
        CHECKS.iter().find(|check| check.id == id)
    }
}

// Clause fragments several checks share: macros, so that `concat!` can join them at compile
// time.
macro_rules! prm_discovery {
    () => {
        "MCP 2026-07-28 ASD \"Protected Resource Metadata Discovery Requirements\"; \
     MCP 2025-11-25 Auth \"Protected Resource Metadata Discovery Requirements\""
    };
}
macro_rules! as_location {
    () => {
        "MCP 2026-07-28 ASD \"Authorization Server Location\"; \
     MCP 2025-11-25 Auth \"Authorization Server Location\""
    };
}
macro_rules! token_handling {
    () => {
        "MCP 2026-07-28 Auth \"Token Handling\"; MCP 2025-11-25 Auth \"Token Handling\""
    };
}
macro_rules! token_requirements {
    () => {
        "MCP 2026-07-28 Auth \"Token Requirements\"; MCP 2025-11-25 Auth \"Token Requirements\""
    };
}
macro_rules! audience {
    () => {
        "MCP 2026-07-28 Sec \"Token Audience Binding and Validation\", \
     \"Access Token Privilege Restriction\"; MCP 2025-11-25 Auth \"Token Audience Binding and \
     Validation\", \"Access Token Privilege Restriction\"; RFC 8707 §2; RFC 9068 §4"
    };
}
macro_rules! origin {
    () => {
        "MCP 2026-07-28 HTTP \"Security & Endpoint\"; \
     MCP 2025-11-25 Transports \"Security Warning\""
    };
}
macro_rules! as_metadata {
    () => {
        "MCP 2026-07-28 ASD \"Authorization Server Metadata Discovery\"; \
     MCP 2025-11-25 Auth \"Authorization Server Metadata Discovery\"; RFC 8414 §3"
    };
}

/// Every check, in the order they run and are reported.
pub static CHECKS: &[Check] = &[
    // --- Protected-resource metadata (RFC 9728) ---------------------------------------------
    Check {
        id: "prm.path-inserted",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: concat!(prm_discovery!(), "; ", "RFC 9728 §3.1, §3.2"),
        description: "metadata at the path-inserted well-known URL: 200, application/json, a JSON object",
    },
    Check {
        id: "prm.root",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: concat!(prm_discovery!(), "; ", "RFC 9728 §3.2"),
        description: "metadata at the root well-known URL (the clients' last fallback): 200, application/json, a JSON object",
    },
    Check {
        id: "prm.discoverable",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: concat!(prm_discovery!(), "; ", "RFC 9728 §3, §5.1"),
        description: "metadata found by at least one mechanism: the 401's resource_metadata or a well-known URL",
    },
    Check {
        id: "prm.resource",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: "RFC 9728 §3.3; MCP 2026-07-28 Auth \"Canonical Server URI\"; MCP 2025-11-25 Auth \"Canonical Server URI\"",
        description: "every metadata document's resource is the canonical URI of the server URL (a root document: or its origin)",
    },
    Check {
        id: "prm.authorization-servers",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: concat!(as_location!(), "; ", "RFC 9728 §2"),
        description: "authorization_servers lists at least one issuer URL (https, or http on loopback)",
    },
    Check {
        id: "prm.bearer-methods",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: concat!(token_requirements!(), "; ", "RFC 9728 §2"),
        description: "bearer_methods_supported is [\"header\"], the only method MCP clients use",
    },
    Check {
        id: "prm.cors",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: "RFC 9728 §3 (a public document); Fetch \"CORS protocol\" (browser-based MCP clients)",
        description: "metadata readable cross-origin: Access-Control-Allow-Origin on a GET with an Origin",
    },
    Check {
        id: "prm.head",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: "RFC 9110 §9.1, §9.3.2",
        description: "HEAD on the metadata URL answers 200, like GET",
    },
    Check {
        id: "prm.options",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: "RFC 9110 §9.3.7; Fetch \"CORS protocol\" (preflight)",
        description: "a CORS preflight (OPTIONS) of the metadata URL answers 2xx with Access-Control-Allow-Origin",
    },
    // --- The 401 without credentials ----------------------------------------------------------
    Check {
        id: "challenge.status",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: "MCP 2026-07-28 Auth \"Error Handling\"; MCP 2025-11-25 Auth \"Error Handling\"; RFC 6750 §3",
        description: "an MCP initialize without credentials gets 401",
    },
    Check {
        id: "challenge.www-authenticate",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: "RFC 6750 §3; RFC 9110 §11.6.1; MCP 2026-07-28 ASD \"Protected Resource Metadata Discovery Requirements\"",
        description: "the 401 has a WWW-Authenticate header that parses (RFC 9110) with a Bearer challenge",
    },
    Check {
        id: "challenge.resource-metadata",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: concat!(
            prm_discovery!(),
            "; ",
            "MCP 2025-06-18 Auth (MUST there); RFC 9728 §5.1"
        ),
        description: "the Bearer challenge has resource_metadata, an absolute http(s) URL",
    },
    Check {
        id: "challenge.resource-metadata-document",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: "RFC 9728 §5.1, §3.3",
        description: "resource_metadata is reachable and is this resource's metadata (the same document as the well-known URL)",
    },
    Check {
        id: "challenge.no-error",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: "RFC 6750 §3.1 (\"SHOULD NOT include an error code\")",
        description: "the challenge to a request without credentials has no error parameter",
    },
    Check {
        id: "challenge.scope",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: "MCP 2026-07-28 Auth \"Scope Selection Strategy\"; MCP 2025-11-25 Auth \"Scope Selection Strategy\"; RFC 6750 §3",
        description: "the challenge has a scope parameter naming the scopes to ask for",
    },
    Check {
        id: "challenge.scope-syntax",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: "RFC 6750 §3; RFC 6749 §3.3",
        description: "the challenge's scope, if any, is space-separated RFC 6749 scope tokens",
    },
    Check {
        id: "scope.no-offline-access",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: "MCP 2026-07-28 Auth \"Refresh Tokens\"",
        description: "offline_access is neither in scopes_supported nor in a challenge's scope",
    },
    // --- The authorization server, for information ------------------------------------------
    Check {
        id: "as.metadata",
        level: Level::Info,
        mode: Mode::BlackBox,
        clause: as_metadata!(),
        description: "the first authorization server serves RFC 8414 or OpenID Connect metadata",
    },
    Check {
        id: "as.issuer",
        level: Level::Info,
        mode: Mode::BlackBox,
        clause: "MCP 2026-07-28 ASD \"Authorization Server Metadata Discovery\"; MCP 2025-11-25 Auth \"Authorization Server Metadata Discovery\"; RFC 8414 §3.3",
        description: "its issuer is identical to the authorization_servers entry (clients reject any difference)",
    },
    Check {
        id: "as.pkce",
        level: Level::Info,
        mode: Mode::BlackBox,
        clause: "MCP 2026-07-28 Sec \"Authorization Code Protection\"; MCP 2025-11-25 Auth \"Authorization Code Protection\"",
        description: "code_challenge_methods_supported includes S256 (clients refuse to proceed otherwise)",
    },
    Check {
        id: "as.registration",
        level: Level::Info,
        mode: Mode::BlackBox,
        clause: "MCP 2026-07-28 Client Registration \"Client ID Metadata Documents\", \"Dynamic Client Registration\"; MCP 2025-11-25 Auth \"Client Registration Approaches\"",
        description: "a registration_endpoint or client_id_metadata_document_supported",
    },
    // --- Tokens the server must refuse, without trusting anything -------------------------
    Check {
        id: "token.garbage",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: token_handling!(),
        description: "a random non-JWT bearer token gets 401",
    },
    Check {
        id: "token.alg-none",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: concat!(token_handling!(), "; ", "RFC 9068 §4; RFC 8725 §3.1"),
        description: "an unsigned JWT (alg: none) with plausible claims gets 401",
    },
    Check {
        id: "token.expired",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: concat!(token_handling!(), "; ", "RFC 9068 §4"),
        description: "an expired-looking JWT (exp an hour ago, signed by an unknown key) gets 401",
    },
    Check {
        id: "token.forged",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: concat!(token_handling!(), "; ", "RFC 9068 §4"),
        description: "a JWT with plausible claims signed by a random key (under the issuer's kid when known) gets 401",
    },
    Check {
        id: "token.invalid-token-code",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: "RFC 6750 §3.1 (invalid_token); MCP 2026-07-28 Auth \"Token Handling\" (OAuth 2.1 §5.3)",
        description: "every 401 for a bad token has a Bearer challenge with error=\"invalid_token\"",
    },
    // --- How tokens may travel, and the Origin ----------------------------------------------
    Check {
        id: "transport.query-token",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: concat!(
            token_requirements!(),
            "; ",
            "OAuth 2.1 §5.1 (no query method); RFC 6750 §5.3"
        ),
        description: "a token in the query string (?access_token=) is not accepted: 4xx",
    },
    Check {
        id: "transport.form-token",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: concat!(token_requirements!(), "; ", "RFC 6750 §2.2"),
        description: "a token in a form body (access_token=) is not accepted: 4xx",
    },
    Check {
        id: "transport.duplicate-authorization",
        level: Level::Should,
        mode: Mode::BlackBox,
        clause: "MCP 2026-07-28 Auth \"Error Handling\" (400); RFC 6750 §3.1 (invalid_request); RFC 9110 §11.6.2",
        description: "two Authorization headers get 400",
    },
    Check {
        id: "transport.origin",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: origin!(),
        description: "a request from an invalid Origin gets 403 (before any 401)",
    },
    Check {
        id: "transport.origin-preflight",
        level: Level::Must,
        mode: Mode::BlackBox,
        clause: origin!(),
        description: "a CORS preflight (OPTIONS) from an invalid Origin is not answered 2xx",
    },
    // --- With tokens from the audit's own trusted issuer ------------------------------------
    Check {
        id: "trusted.valid-token",
        level: Level::Must,
        mode: Mode::Trusted,
        clause: token_handling!(),
        description: "a good token (right issuer, audience, scopes, times) gets 2xx and an initialize result",
    },
    Check {
        id: "trusted.tools-list",
        level: Level::Must,
        mode: Mode::Trusted,
        clause: "MCP 2026-07-28 Auth \"Token Requirements\" (authorization in every request)",
        description: "the good token works on a following request too: tools/list gets a result",
    },
    Check {
        id: "trusted.wrong-audience",
        level: Level::Must,
        mode: Mode::Trusted,
        clause: audience!(),
        description: "a token for another resource (aud https://wrong-audience.invalid/mcp) gets 401",
    },
    Check {
        id: "trusted.no-audience",
        level: Level::Must,
        mode: Mode::Trusted,
        clause: audience!(),
        description: "a token without aud gets 401",
    },
    Check {
        id: "trusted.expired",
        level: Level::Must,
        mode: Mode::Trusted,
        clause: concat!(token_handling!(), "; ", "RFC 9068 §4"),
        description: "an expired token (exp an hour ago) gets 401",
    },
    Check {
        id: "trusted.not-yet-valid",
        level: Level::Must,
        mode: Mode::Trusted,
        clause: concat!(token_handling!(), "; ", "RFC 7519 §4.1.5"),
        description: "a token not valid before an hour from now (nbf) gets 401",
    },
    Check {
        id: "trusted.wrong-issuer",
        level: Level::Must,
        mode: Mode::Trusted,
        clause: concat!(token_handling!(), "; ", "RFC 9068 §4 (iss)"),
        description: "a token signed by the trusted key but naming another issuer gets 401",
    },
    Check {
        id: "trusted.alg-hs256",
        level: Level::Must,
        mode: Mode::Trusted,
        clause: concat!(token_handling!(), "; ", "RFC 8725 §2.1, §3.1"),
        description: "algorithm confusion: HS256 keyed with the issuer's public key gets 401",
    },
    Check {
        id: "trusted.alg-none",
        level: Level::Must,
        mode: Mode::Trusted,
        clause: concat!(token_handling!(), "; ", "RFC 9068 §4; RFC 8725 §3.1"),
        description: "alg: none with the trusted issuer's claims gets 401",
    },
    Check {
        id: "trusted.unknown-key",
        level: Level::Must,
        mode: Mode::Trusted,
        clause: concat!(token_handling!(), "; ", "RFC 9068 §4"),
        description: "a token signed by a key the issuer never published (unknown kid) gets 401",
    },
    Check {
        id: "trusted.bad-signature",
        level: Level::Must,
        mode: Mode::Trusted,
        clause: concat!(token_handling!(), "; ", "RFC 9068 §4"),
        description: "a token under the trusted kid but signed by another key gets 401",
    },
    Check {
        id: "trusted.origin-with-token",
        level: Level::Must,
        mode: Mode::Trusted,
        clause: origin!(),
        description: "a good token from an invalid Origin gets 403",
    },
    Check {
        id: "trusted.insufficient-scope",
        level: Level::Should,
        mode: Mode::Trusted,
        clause: "MCP 2026-07-28 Auth \"Error Handling\" (403), \"Runtime Insufficient Scope Errors\"; MCP 2025-11-25 Auth \"Error Handling\", \"Runtime Insufficient Scope Errors\"; RFC 6750 §3.1",
        description: "a good token without any scope gets 403 insufficient_scope naming the scopes to ask for (unless the server needs none)",
    },
    Check {
        id: "trusted.step-up",
        level: Level::Should,
        mode: Mode::Trusted,
        clause: "MCP 2026-07-28 Auth \"Runtime Insufficient Scope Errors\"; MCP 2025-11-25 Auth \"Runtime Insufficient Scope Errors\"; RFC 6750 §3.1",
        description: "a token without a tool's scope gets 403 insufficient_scope naming the needed scopes, not a 200 with a JSON-RPC error",
    },
    Check {
        id: "trusted.no-passthrough",
        level: Level::Should,
        mode: Mode::Trusted,
        clause: "MCP 2026-07-28 Sec \"Access Token Privilege Restriction\" (MUST NOT pass the token through; keeping it from tool code is the defence in depth); MCP 2025-11-25 Auth \"Access Token Privilege Restriction\"",
        description: "the token does not reach tool code, from where it could be passed through (an echo tool, --echo-tool, does not see it)",
    },
    Check {
        id: "trusted.key-rotation",
        level: Level::Should,
        mode: Mode::Trusted,
        clause: "RFC 8414 §2 (jwks_uri); RFC 7517 §5; OpenID Connect Core §10.1.1",
        description: "after the issuer rotates its key, a token signed by the new key gets 2xx (after a 503 with Retry-After at most)",
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_unique_and_every_check_is_described() {
        let mut ids = HashSet::new();
        for check in CHECKS {
            assert!(ids.insert(check.id), "{} twice", check.id);
            assert!(
                check
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'),
                "{}",
                check.id
            );
            assert!(
                !check.clause.is_empty() && !check.description.is_empty(),
                "{}",
                check.id
            );
            assert_eq!(Check::get(check.id), Some(check));
        }
    }

    #[test]
    fn trusted_checks_carry_the_trusted_prefix() {
        for check in CHECKS {
            assert_eq!(
                check.mode == Mode::Trusted,
                check.id.starts_with("trusted."),
                "{}",
                check.id
            );
        }
    }
}
