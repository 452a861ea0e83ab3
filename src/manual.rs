//! Why the defaults are what they are. Documentation only.
//!
//! # Audience checks are mandatory
//!
//! MCP servers "MUST validate that access tokens were issued specifically for them" (RFC 8707
//! §2, MCP Authorization "Token Audience Binding"). Without it, any token the authorization
//! server issued for any other service (another MCP server, an internal API) would be accepted
//! here, and a malicious MCP server could replay tokens its users sent it. The layer therefore
//! checks the audience itself, after every verifier, and no feature or setting turns it off.
//! A token without an audience is rejected. Aliases are added with
//! [`McpAuthBuilder::audience`](crate::McpAuthBuilder::audience).
//!
//! Comparison follows the canonical URI rules of the MCP specification: scheme and host are
//! compared case-insensitively, a default port equals no port, and `https://host/` equals
//! `https://host` only for the root path (some clients append the slash). `https://host/mcp/`
//! is *not* `https://host/mcp`.
//!
//! # Tokens are never passed through
//!
//! The MCP server "MUST NOT pass through the token it received from the MCP client". The
//! layer removes `Authorization` from every request it passes on, public paths included, so
//! the token cannot be forwarded by a proxying handler or leak into a handler's logs. Handlers
//! get [`AuthInfo`](crate::AuthInfo) instead. Calls to upstream APIs need tokens of their own.
//!
//! # Status codes
//!
//! - No credentials: `401` with a challenge and **no** `error` (RFC 6750 §3.1), so clients
//!   start discovery instead of reporting an error.
//! - Malformed credentials, two `Authorization` headers, a token in the query or a form body:
//!   `400 invalid_request`. OAuth 2.1 removed the query method; a token there is refused
//!   loudly rather than silently ignored.
//! - A bad, expired, oversized, or foreign token: `401 invalid_token`.
//! - Missing scopes: `403 insufficient_scope` naming *all* scopes the request needs, so the
//!   client can step up once instead of once per scope.
//! - Verifier unavailable (authorization server or its keys unreachable, timeouts): `503` with
//!   `Retry-After`. A `401` here would make clients discard a good token and send their users
//!   through the authorization flow again; a pass would be a security hole.
//!
//! # Clock leeway
//!
//! Clocks drift. JWT verifiers accept `exp`, `nbf` and `iat` within a leeway of 60 seconds by
//! default: long enough for real clock skew between an authorization server and a resource
//! server, short enough that a stolen expired token is of little use.
//!
//! # `Origin`
//!
//! The MCP Streamable HTTP transport requires servers to validate `Origin` and answer `403` to
//! a present, invalid one (DNS-rebinding protection). Configure the allow-list with
//! [`McpAuthBuilder::allowed_origins`](crate::McpAuthBuilder::allowed_origins); the check runs before
//! authentication so a bad `Origin` gets `403`, not `401`. CORS preflights pass without
//! authentication, because browsers never send credentials on them.
//!
//! # `http` URLs
//!
//! OAuth 2.1 requires TLS for everything that carries tokens. `http` resource and
//! authorization-server URLs are accepted only for loopback hosts (local development), or
//! everywhere with [`McpAuthBuilder::danger_allow_http`](crate::McpAuthBuilder::danger_allow_http) when a
//! TLS-terminating proxy sits in front.
