//! Unit tests of the request flow: one table per step of [`Authorizer`](super::Authorizer).

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};

use super::*;
use crate::{McpAuth, VerifyError};

const RESOURCE: &str = "https://mcp.example.com/mcp";

/// Tokens by name; `"down"` cannot be decided, `"slow"` never answers.
#[derive(Debug, Default)]
struct Tokens(HashMap<&'static str, AuthInfo>);

#[async_trait]
impl TokenVerifier for Tokens {
    async fn verify(&self, token: &str) -> Result<AuthInfo, VerifyError> {
        match token {
            "down" => {
                Err(VerifyError::unavailable("as is down").with_retry_after(Duration::from_secs(7)))
            }
            "slow" => std::future::pending().await,
            _ => self
                .0
                .get(token)
                .cloned()
                .ok_or_else(|| VerifyError::invalid_token("unknown token")),
        }
    }
}

fn info(audience: &str, scopes: &[&str]) -> AuthInfo {
    AuthInfo::builder()
        .subject("alice")
        .audience(audience)
        .scopes(scopes.iter().copied())
        .build()
}

fn authorizer() -> Arc<Authorizer> {
    let tokens = Tokens(HashMap::from([
        ("reader", info(RESOURCE, &["mcp:read"])),
        ("writer", info(RESOURCE, &["mcp:read", "files:write"])),
        (
            "foreign",
            info("https://other.example.com/mcp", &["mcp:read"]),
        ),
        ("alias", info("https://old.example.com/mcp", &["mcp:read"])),
        ("no-scope", info(RESOURCE, &[])),
    ]));
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(tokens)
        .required_scopes(["mcp:read"])
        .tool_scopes("delete_file", ["files:write"])
        .audience("https://old.example.com/mcp")
        .allowed_origins(["https://app.example.com"])
        .public_path("/health")
        .verify_timeout(Duration::from_millis(50))
        .build()
        .expect("valid configuration");
    Arc::clone(auth.authorizer())
}

/// A request for `line` (`"POST /mcp"`) with `headers` and `body`.
fn request(line: &str, headers: &[(&str, &str)], body: &'static str) -> Request<Full<Bytes>> {
    let (method, path) = line.split_once(' ').expect("a method and a path");
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("valid request")
}

type Headers = &'static [(&'static str, &'static str)];

const BEARER: (&str, &str) = ("authorization", "Bearer reader");
const APP: (&str, &str) = ("origin", "https://app.example.com");
const EVIL: (&str, &str) = ("origin", "https://evil.example");

#[derive(Debug, PartialEq)]
enum Want {
    Respond(StatusCode),
    Pass,
    Preflight,
    Token(&'static str),
    Reject(AuthErrorKind),
}

#[test]
fn route_table() {
    use AuthErrorKind::{InvalidRequest, MissingToken, OriginNotAllowed};
    use Want::{Pass, Preflight, Reject, Respond, Token};
    const METADATA: &str = "GET /.well-known/oauth-protected-resource/mcp";
    const PREFLIGHT: Headers = &[APP, ("access-control-request-method", "POST")];
    const APP_UPPERCASE: (&str, &str) = ("origin", "HTTPS://APP.example.com");
    const NOT_BEARER: (&str, &str) = ("authorization", "Bearer a b");
    const PROOF: (&str, &str) = ("dpop", "a.b.c");
    let cases: [(&str, &str, Headers, Want); 23] = [
        (
            "metadata, path-inserted",
            METADATA,
            &[],
            Respond(StatusCode::OK),
        ),
        (
            "metadata, root",
            "GET /.well-known/oauth-protected-resource",
            &[EVIL],
            Respond(StatusCode::OK),
        ),
        (
            "metadata, other method",
            "POST /.well-known/oauth-protected-resource/mcp",
            &[],
            Respond(StatusCode::METHOD_NOT_ALLOWED),
        ),
        ("preflight", "OPTIONS /mcp", PREFLIGHT, Preflight),
        (
            "preflight with credentials",
            "OPTIONS /mcp",
            &[
                APP,
                ("access-control-request-method", "POST"),
                BEARER,
                PROOF,
            ],
            Preflight,
        ),
        (
            "preflight naming a session",
            "OPTIONS /mcp",
            &[
                APP,
                ("access-control-request-method", "GET"),
                ("mcp-session-id", "victims-session"),
            ],
            Preflight,
        ),
        (
            "preflight saying its body is empty",
            "OPTIONS /mcp",
            &[
                APP,
                ("access-control-request-method", "POST"),
                ("content-length", "0"),
            ],
            Preflight,
        ),
        (
            "an OPTIONS that brings a body is no preflight: it needs a token",
            "OPTIONS /mcp",
            &[
                APP,
                ("access-control-request-method", "POST"),
                ("content-length", "2"),
            ],
            Reject(MissingToken),
        ),
        (
            "nor is one that asks for an upgrade",
            "OPTIONS /mcp",
            &[
                APP,
                ("access-control-request-method", "GET"),
                ("upgrade", "websocket"),
            ],
            Reject(MissingToken),
        ),
        (
            "nor is one with a chunked body",
            "OPTIONS /mcp",
            &[
                APP,
                ("access-control-request-method", "POST"),
                ("transfer-encoding", "chunked"),
                BEARER,
            ],
            Token("reader"),
        ),
        (
            "OPTIONS without preflight header needs a token",
            "OPTIONS /mcp",
            &[],
            Reject(MissingToken),
        ),
        (
            "a preflight without Origin is no preflight: it needs a token",
            "OPTIONS /mcp",
            &[("access-control-request-method", "POST")],
            Reject(MissingToken),
        ),
        (
            "and with one, it is verified",
            "OPTIONS /mcp",
            &[("access-control-request-method", "POST"), BEARER],
            Token("reader"),
        ),
        (
            "origin not allowed",
            "POST /mcp",
            &[EVIL, BEARER],
            Reject(OriginNotAllowed),
        ),
        (
            "allowed origin, any case",
            "POST /mcp",
            &[APP_UPPERCASE, BEARER],
            Token("reader"),
        ),
        (
            "second origin header not allowed",
            "POST /mcp",
            &[APP, EVIL, BEARER],
            Reject(OriginNotAllowed),
        ),
        ("public path", "GET /health", &[BEARER, PROOF], Pass),
        (
            "public path is exact",
            "GET /health/x",
            &[],
            Reject(MissingToken),
        ),
        ("no token", "POST /mcp", &[], Reject(MissingToken)),
        (
            "malformed header",
            "POST /mcp",
            &[NOT_BEARER],
            Reject(InvalidRequest),
        ),
        (
            "token in the query",
            "POST /mcp?access_token=reader",
            &[],
            Reject(InvalidRequest),
        ),
        ("token", "POST /mcp", &[BEARER], Token("reader")),
        (
            "token, and a DPoP header this layer does not read",
            "POST /mcp",
            &[BEARER, PROOF],
            Token("reader"),
        ),
    ];
    let authorizer = authorizer();
    for (name, line, headers, want) in cases {
        let mut req = request(line, headers, "");
        let got = match authorizer.route(&mut req) {
            Ok(Route::Respond(res)) => Respond(res.status()),
            Ok(Route::PassThrough) => Pass,
            Ok(Route::Preflight) => Preflight,
            Ok(Route::Authenticate(credentials)) => {
                assert_eq!(credentials.token().ok(), Some("reader"), "{name}");
                // Debug output never shows the token (nor a proof).
                let debug = format!("{:?}", Route::Authenticate(credentials));
                assert!(!debug.contains("reader"), "{name}: {debug}");
                assert!(debug.contains("token_len: 6"), "{name}: {debug}");
                Token("reader")
            }
            Err(err) => Reject(err.kind()),
        };
        assert_eq!(got, want, "{name}");
        if got == Preflight {
            assert!(
                !req.headers().contains_key("mcp-session-id"),
                "{name}: a preflight carries no session id"
            );
        }
        if matches!(got, Pass | Preflight | Token(_)) {
            assert!(
                !req.headers().contains_key(header::AUTHORIZATION),
                "{name}: the token is not passed on"
            );
            assert!(
                !req.headers().contains_key("dpop"),
                "{name}: nor a DPoP proof"
            );
        }
    }
}

#[tokio::test]
async fn authorize_table() {
    use AuthErrorKind::{
        HeaderMismatch, InsufficientScope, InvalidRequest, InvalidToken, UnsupportedMediaType,
        VerifierUnavailable,
    };
    const JSON: (&str, &str) = ("content-type", "application/json");
    const DELETE: &str =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_file"}}"#;
    const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    const CALL: (&str, &str) = ("mcp-method", "tools/call");
    /// A case: its name, the token, the request's headers and body, and the rejection wanted
    /// (with the `scope` of an `insufficient_scope`), if any.
    type Case = (
        &'static str,
        &'static str,
        Headers,
        &'static str,
        Option<Rejection>,
    );
    type Rejection = (AuthErrorKind, Option<&'static str>);
    let refused = |kind| Some((kind, None));
    let cases: [Case; 13] = [
        ("valid token, global scope", "reader", &[JSON], LIST, None),
        (
            "unknown token",
            "nobody",
            &[JSON],
            LIST,
            refused(InvalidToken),
        ),
        (
            "verifier cannot decide",
            "down",
            &[JSON],
            LIST,
            refused(VerifierUnavailable),
        ),
        (
            "verifier hangs",
            "slow",
            &[JSON],
            LIST,
            refused(VerifierUnavailable),
        ),
        (
            "foreign audience",
            "foreign",
            &[JSON],
            LIST,
            refused(InvalidToken),
        ),
        ("configured alias", "alias", &[JSON], LIST, None),
        (
            "global scope missing",
            "no-scope",
            &[JSON],
            LIST,
            Some((InsufficientScope, Some("mcp:read"))),
        ),
        (
            "tool scope missing: every needed scope named",
            "reader",
            &[JSON],
            DELETE,
            Some((InsufficientScope, Some("mcp:read files:write"))),
        ),
        ("tool scope present", "writer", &[JSON], DELETE, None),
        (
            "not JSON",
            "writer",
            &[("content-type", "text/plain")],
            DELETE,
            refused(UnsupportedMediaType),
        ),
        (
            "malformed JSON-RPC",
            "writer",
            &[JSON],
            "{",
            refused(InvalidRequest),
        ),
        (
            "Mcp-Name disagrees with the body",
            "writer",
            &[JSON, CALL, ("mcp-name", "list_files")],
            DELETE,
            refused(HeaderMismatch),
        ),
        (
            "Mcp headers agree",
            "writer",
            &[JSON, CALL, ("mcp-name", "delete_file")],
            DELETE,
            None,
        ),
    ];
    let authorizer = authorizer();
    for (name, token, headers, body, want) in cases {
        let credentials = Credentials::bearer(token);
        let (parts, sent) = request("POST /mcp", headers, body).into_parts();
        let got = Arc::clone(&authorizer)
            .authorize(credentials, parts, sent, None)
            .await
            .map(|authorized| authorized.request)
            .map_err(|res| {
                res.extensions()
                    .get::<AuthError>()
                    .cloned()
                    .expect("every rejection carries its AuthError")
            });
        match (got, want) {
            (Ok(req), None) => {
                let info = req
                    .extensions()
                    .get::<AuthInfo>()
                    .expect("AuthInfo inserted");
                assert_eq!(info.subject(), Some("alice"), "{name}");
                let replayed = req.into_body().collect().await.expect("body").to_bytes();
                assert_eq!(replayed, body.as_bytes(), "{name}: body replayed");
            }
            (Err(err), Some((kind, scope))) => {
                assert_eq!(err.kind(), kind, "{name}");
                assert_eq!(err.scope(), scope, "{name}");
                if kind == VerifierUnavailable && token == "down" {
                    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
                }
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn mcp_headers_follow_the_2026_07_28_transport() {
    let call = |method: &str, name: &str| {
        format!(r#"{{"method":"{method}","params":{{"name":"{name}","uri":"{name}"}}}}"#)
    };
    let tool = |name: &str| call("tools/call", name);
    const HELLO: &str = "Hello, 世界";
    const SENTINEL: &str = "=?base64?literal?=";
    type Headers = &'static [(&'static str, &'static [u8])];
    let cases: &[(&str, Headers, String, bool)] = &[
        ("no headers", &[], tool("a"), true),
        (
            "plain",
            &[("mcp-method", b"tools/call"), ("mcp-name", b"get_weather")],
            tool("get_weather"),
            true,
        ),
        (
            "method case matters",
            &[("mcp-method", b"Tools/Call")],
            tool("a"),
            false,
        ),
        (
            "other name",
            &[("mcp-name", b"get_weather")],
            tool("delete"),
            false,
        ),
        (
            "repeated method",
            &[("mcp-method", b"tools/call"), ("mcp-method", b"tools/call")],
            tool("a"),
            false,
        ),
        (
            "repeated name",
            &[("mcp-name", b"a"), ("mcp-name", b"a")],
            tool("a"),
            false,
        ),
        (
            "encoded non-ASCII",
            &[("mcp-name", b"=?base64?SGVsbG8sIOS4lueVjA==?=")],
            tool(HELLO),
            true,
        ),
        (
            "encoded without padding",
            &[("mcp-name", b"=?base64?SGVsbG8sIOS4lueVjA?=")],
            tool(HELLO),
            true,
        ),
        (
            "encoded, other value",
            &[("mcp-name", b"=?base64?SGVsbG8=?=")],
            tool(HELLO),
            false,
        ),
        (
            "encoded sentinel literal",
            &[("mcp-name", b"=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=")],
            tool(SENTINEL),
            true,
        ),
        (
            "plain sentinel is decoded, not compared",
            &[("mcp-name", b"=?base64?literal?=")],
            tool(SENTINEL),
            false,
        ),
        (
            "bad base64",
            &[("mcp-name", b"=?base64?%%%?=")],
            tool("a"),
            false,
        ),
        (
            "base64 of bytes that are not UTF-8",
            &[("mcp-name", b"=?base64?/w==?=")],
            tool("a"),
            false,
        ),
        (
            "raw non-ASCII bytes",
            &[("mcp-name", b"caf\xc3\xa9")],
            tool("café"),
            false,
        ),
        (
            "resource by uri",
            &[
                ("mcp-method", b"resources/read"),
                ("mcp-name", b"file:///a"),
            ],
            call("resources/read", "file:///a"),
            true,
        ),
        (
            "name without one in the body",
            &[("mcp-name", b"a")],
            r#"{"method":"tools/list"}"#.to_owned(),
            false,
        ),
        (
            "batch",
            &[("mcp-method", b"tools/call")],
            format!("[{}]", tool("a")),
            false,
        ),
    ];
    for (name, headers, body, ok) in cases {
        let mut map = HeaderMap::new();
        for (header, value) in *headers {
            map.append(
                *header,
                HeaderValue::from_bytes(value).expect("valid header bytes"),
            );
        }
        let messages = jsonrpc::peek(body.as_bytes()).expect("valid JSON-RPC");
        let got = check_mcp_headers(&map, &messages);
        assert_eq!(got.is_ok(), *ok, "{name}: {got:?}");
        if let Err(err) = got {
            assert_eq!(err.kind(), AuthErrorKind::HeaderMismatch, "{name}");
        }
    }
}

#[test]
fn rejections_close_connections_with_unread_bodies() {
    let authorizer = authorizer();
    let err = || AuthError::new(AuthErrorKind::MissingToken, "no token");
    let res = authorizer.reject(err(), Connection::Close);
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()[header::CONNECTION], "close");
    let res = authorizer.reject(err(), Connection::KeepAlive);
    assert!(!res.headers().contains_key(header::CONNECTION));
    assert_eq!(
        res.headers()[header::WWW_AUTHENTICATE],
        HeaderValue::from_static(
            "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\""
        )
    );
}

#[test]
fn what_happens_after_a_response_never_shows_the_session_id() {
    let info = info(RESOURCE, &["mcp:read"]);
    let after = AfterResponse {
        session: Some((
            LazyOwner::new(&info, "reader"),
            Some(HeaderValue::from_static("secret-session-id")),
        )),
        stream_deadline: None,
    };
    let debug = format!("{after:?}");
    assert!(!debug.contains("secret-session-id"), "{debug}");
    assert!(!debug.contains("reader"), "{debug}");
    assert!(debug.contains("session_id: Some"), "{debug}");
}
