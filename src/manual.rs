//! Why the defaults are what they are. Documentation only.
//!
//! This is the short version. The security guide, `docs/security.md` in the repository, has
//! the threat model, what the layer leaves to the operator, every default with its reason, and
//! each MCP and RFC requirement mapped to the code and the test that covers it.
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
//! a present, invalid one (DNS-rebinding protection), so the check is on without configuration:
//! the resource's own origin passes, others need
//! [`McpAuthBuilder::allowed_origins`](crate::McpAuthBuilder::allowed_origins), `null` never
//! passes, and requests without `Origin` (non-browser clients) are not affected. It runs
//! before authentication so a bad `Origin` gets `403`, not `401`. CORS preflights from allowed
//! origins pass without authentication, because browsers never send credentials on them; they
//! reach the inner service without a body, and an `OPTIONS` that announces one needs a token.
//! [`danger_allow_any_origin`](crate::McpAuthBuilder::danger_allow_any_origin) is for a proxy
//! that checks `Origin` itself.
//!
//! # Sessions
//!
//! Possession of a session id must not be authentication. Every request is authenticated,
//! and the layer binds each `Mcp-Session-Id` the MCP server hands out to the principal that
//! received it ([`AuthInfo::principal_key`](crate::AuthInfo::principal_key)); another
//! principal's, or an unknown, session id gets `404`. Bindings live in a
//! [`Store`](crate::store::Store): in memory by default, in Redis for replicas. A store that
//! cannot answer gives `503`: the check fails closed.
//!
//! # Key rotation
//!
//! A token whose `kid` the cached key set lacks, and that was issued after the set was
//! fetched, is signed by a key published since: while the next fetch is held back (at most one
//! per `jwks_min_refresh_interval`), it gets `503` with `Retry-After`, not `401`, so a client
//! does not throw a good token away. A token issued before the fetch with an unknown `kid` is
//! refused.
//!
//! # DPoP
//!
//! Off by default, because clients must support it. With
//! [`Dpop::allowed`](crate::dpop::Dpop::allowed) both schemes work; with
//! [`Dpop::required`](crate::dpop::Dpop::required) only DPoP-bound tokens do. A token bound to a
//! key or a certificate is never accepted as a plain bearer token, whatever the setting.
//!
//! # Event streams and token expiry
//!
//! A stream opened with a token would go on long after the token expired. By default
//! ([`StreamExpiry::GetStreams`](crate::StreamExpiry::GetStreams)) the layer ends the streams
//! opened by `GET` at the token's `exp` plus 60 seconds: rmcp's, the Python SDK's and the
//! TypeScript SDK's clients reopen them with a fresh token, tested with each. The stream
//! answering a `POST` runs to its end, because it carries the result of a call made while the
//! token was valid (and the TypeScript SDK loses that result when the stream ends early);
//! [`StreamExpiry::All`](crate::StreamExpiry::All) ends those too.
//!
//! # Connections of rejected requests
//!
//! Every MCP client's first request carries a JSON-RPC body and no token. hyper closes an
//! HTTP/1 connection whose request body was not read, so the layer reads and discards a body it
//! rejects when it is small (64 KiB, within 1 s) and keeps the connection; a larger or slower
//! body is left unread and the response says `Connection: close`.
//!
//! # `http` URLs
//!
//! OAuth 2.1 requires TLS for everything that carries tokens. `http` resource and
//! authorization-server URLs are accepted only for loopback hosts (local development), or
//! everywhere with [`McpAuthBuilder::danger_allow_http`](crate::McpAuthBuilder::danger_allow_http) when a
//! TLS-terminating proxy sits in front.
