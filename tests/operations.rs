//! Per-operation scopes: the bounded body peek and the 403 step-up, through the real `Service`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod layer_support;

use std::{
    collections::VecDeque,
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use mcp_auth::{
    AuthInfo, McpAuth, body::RequestBody, challenge::AuthError, testing::StaticVerifier,
};
use serde_json::Value;
use tower::{Layer, ServiceExt, service_fn};

use layer_support::Stalled;

const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str =
    "resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\"";

/// A request body delivered in the given frames, optionally with trailers, or failing when read.
#[derive(Default)]
struct Chunks {
    frames: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    fail: bool,
}

impl Chunks {
    fn new<I: IntoIterator<Item = &'static [u8]>>(frames: I) -> Self {
        Self {
            frames: frames.into_iter().map(Bytes::from_static).collect(),
            ..Self::default()
        }
    }
    fn one(body: impl Into<Bytes>) -> Self {
        Self {
            frames: VecDeque::from([body.into()]),
            ..Self::default()
        }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.fail {
            return Poll::Ready(Some(Err(std::io::Error::other(
                "the body must not be read",
            ))));
        }
        if let Some(data) = self.frames.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }
}

fn info(scopes: &[&str]) -> AuthInfo {
    AuthInfo::builder()
        .subject("alice")
        .audience(RESOURCE)
        .scopes(scopes.iter().copied())
        .build()
}

fn auth() -> McpAuth {
    let verifier = StaticVerifier::new()
        .with_token("base", info(&["mcp:read"]))
        .with_token("writer", info(&["mcp:read", "files:write"]))
        .with_token("files", info(&["mcp:read", "files"]))
        .with_token("empty", info(&[]))
        .with_token(
            "all",
            info(&[
                "mcp:read",
                "files:write",
                "admin",
                "prompts:secret",
                "root",
                "private:read",
            ]),
        );
    McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(verifier)
        .required_scopes(["mcp:read"])
        .scope_hierarchy(mcp_auth::policy::ScopeHierarchy::new().with_prefix_rule())
        .tool_scopes("delete_file", ["files:write"])
        .tool_scopes("admin_tool", ["admin", "files:write"])
        .prompt_scopes("secret_prompt", ["prompts:secret"])
        .resource_scopes("file:///etc/passwd", ["root"])
        .resource_prefix_scopes("file:///private/", ["private:read"])
        .max_body_size(1024)
        .build()
        .unwrap()
}

struct Outcome {
    status: StatusCode,
    challenge: Option<String>,
    /// What the inner service received, when it was called.
    received: Option<(Bytes, Option<HeaderMap>)>,
    body: Bytes,
}

async fn send(auth: &McpAuth, req: Request<Chunks>) -> Outcome {
    let inner = service_fn(|req: Request<RequestBody<Chunks>>| async move {
        assert!(!req.headers().contains_key(header::AUTHORIZATION));
        assert!(req.extensions().get::<AuthInfo>().is_some());
        let (bytes, trailers) = match req.into_body().collect().await {
            Ok(collected) => {
                let trailers = collected.trailers().cloned();
                (collected.to_bytes(), trailers)
            }
            Err(_) => (Bytes::from_static(b"<unreadable>"), None),
        };
        let mut res = Response::new(Full::new(bytes));
        if let Some(trailers) = trailers {
            res.extensions_mut().insert(trailers);
        }
        res.headers_mut().insert("x-inner", "1".parse().unwrap());
        Ok::<_, Infallible>(res)
    });
    let res = auth.layer(inner).oneshot(req).await.unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let inner_called = res.headers().contains_key("x-inner");
    let trailers = res.extensions().get::<HeaderMap>().cloned();
    if !inner_called {
        assert!(res.extensions().get::<AuthError>().is_some());
    }
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Outcome {
        status,
        challenge,
        received: inner_called.then(|| (body.clone(), trailers)),
        body,
    }
}

fn post(token: &str, body: Chunks) -> Request<Chunks> {
    Request::post("/mcp")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap()
}

fn call(tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{"path":"/tmp/x"}}}}}}"#
    )
}

struct Case {
    name: &'static str,
    token: &'static str,
    body: String,
    status: StatusCode,
    /// The `scope=` of the 403 challenge.
    scope: Option<&'static str>,
}

fn case(
    name: &'static str,
    token: &'static str,
    body: impl Into<String>,
    status: StatusCode,
    scope: Option<&'static str>,
) -> Case {
    Case {
        name,
        token,
        body: body.into(),
        status,
        scope,
    }
}

#[tokio::test]
async fn operation_table() {
    use StatusCode as S;
    let resource = |uri: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{{"uri":"{uri}"}}}}"#
        )
    };
    let cases = [
        case("unprotected tool", "base", call("whoami"), S::OK, None),
        case(
            "unknown tool falls back to global",
            "base",
            call("no_such_tool"),
            S::OK,
            None,
        ),
        case(
            "protected tool without scope",
            "base",
            call("delete_file"),
            S::FORBIDDEN,
            Some("mcp:read files:write"),
        ),
        case(
            "protected tool with scope",
            "writer",
            call("delete_file"),
            S::OK,
            None,
        ),
        case(
            "prefix hierarchy covers tool scope",
            "files",
            call("delete_file"),
            S::OK,
            None,
        ),
        case(
            "all scopes of a tool in one challenge",
            "writer",
            call("admin_tool"),
            S::FORBIDDEN,
            Some("mcp:read admin files:write"),
        ),
        case(
            "tool with every scope",
            "all",
            call("admin_tool"),
            S::OK,
            None,
        ),
        case(
            "batch: union of items",
            "base",
            format!("[{},{}]", call("whoami"), call("delete_file")),
            S::FORBIDDEN,
            Some("mcp:read files:write"),
        ),
        case(
            "batch: two protected tools",
            "base",
            format!("[{},{}]", call("admin_tool"), call("delete_file")),
            S::FORBIDDEN,
            Some("mcp:read admin files:write"),
        ),
        case(
            "batch: all allowed",
            "writer",
            format!("[{},{}]", call("whoami"), call("delete_file")),
            S::OK,
            None,
        ),
        case("empty batch", "base", "[]", S::OK, None),
        case(
            "prompt",
            "base",
            r#"{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"secret_prompt"}}"#,
            S::FORBIDDEN,
            Some("mcp:read prompts:secret"),
        ),
        case(
            "other prompt",
            "base",
            r#"{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"hello"}}"#,
            S::OK,
            None,
        ),
        case(
            "exact resource",
            "base",
            resource("file:///etc/passwd"),
            S::FORBIDDEN,
            Some("mcp:read root"),
        ),
        case(
            "resource prefix",
            "base",
            resource("file:///private/notes.txt"),
            S::FORBIDDEN,
            Some("mcp:read private:read"),
        ),
        case(
            "resource prefix allowed",
            "all",
            resource("file:///private/notes.txt"),
            S::OK,
            None,
        ),
        case(
            "unprotected resource",
            "base",
            resource("file:///public/readme"),
            S::OK,
            None,
        ),
        case(
            "tool name in another method is not a tool call",
            "base",
            r#"{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"delete_file"}}"#,
            S::OK,
            None,
        ),
        case(
            "escaped tool name",
            "base",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"delete\u005ffile"}}"#,
            S::FORBIDDEN,
            Some("mcp:read files:write"),
        ),
        case(
            "response message",
            "base",
            r#"{"jsonrpc":"2.0","id":9,"result":{}}"#,
            S::OK,
            None,
        ),
        case(
            "notification",
            "base",
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            S::OK,
            None,
        ),
        case(
            "malformed JSON",
            "base",
            r#"{"jsonrpc":"2.0","method":"tools/call""#,
            S::BAD_REQUEST,
            None,
        ),
        case("empty body", "base", "", S::BAD_REQUEST, None),
        case(
            "duplicate method",
            "writer",
            r#"{"method":"tools/list","method":"tools/call","params":{"name":"delete_file"}}"#,
            S::BAD_REQUEST,
            None,
        ),
        case(
            "duplicate tool name",
            "writer",
            r#"{"method":"tools/call","params":{"name":"whoami","name":"delete_file"}}"#,
            S::BAD_REQUEST,
            None,
        ),
        case(
            "non-string name",
            "base",
            r#"{"method":"tools/call","params":{"name":["delete_file"]}}"#,
            S::BAD_REQUEST,
            None,
        ),
        case(
            "missing global scope is listed with the tool scope",
            "empty",
            call("delete_file"),
            S::FORBIDDEN,
            Some("mcp:read files:write"),
        ),
        case(
            "missing global scope alone",
            "empty",
            call("whoami"),
            S::FORBIDDEN,
            Some("mcp:read"),
        ),
        case(
            "unknown token",
            "nobody",
            call("delete_file"),
            S::UNAUTHORIZED,
            None,
        ),
        case(
            "dot segments cannot dodge a resource prefix",
            "base",
            resource("file:///public/../private/x"),
            S::FORBIDDEN,
            Some("mcp:read private:read"),
        ),
        case(
            "escapes cannot dodge a resource prefix",
            "base",
            resource("file:///%70rivate/x"),
            S::FORBIDDEN,
            Some("mcp:read private:read"),
        ),
        case(
            "scheme case cannot dodge an exact resource",
            "base",
            resource("FILE:///etc/passwd"),
            S::FORBIDDEN,
            Some("mcp:read root"),
        ),
        case(
            "non-ASCII resource URI",
            "base",
            resource("é%41é"),
            S::OK,
            None,
        ),
        case(
            "empty segments cannot dodge a resource prefix",
            "base",
            resource("file:////private/x"),
            S::FORBIDDEN,
            Some("mcp:read private:read"),
        ),
        case(
            "encoded slashes cannot dodge a resource prefix",
            "base",
            resource("file:///public%2F..%2Fprivate/x"),
            S::FORBIDDEN,
            Some("mcp:read private:read"),
        ),
        case(
            "an encoded step up stays under the prefix, as the server reads it",
            "base",
            resource("file:///private/%2E%2E%2Fx"),
            S::FORBIDDEN,
            Some("mcp:read private:read"),
        ),
        case(
            "..%2F is one segment to the server",
            "base",
            resource("file:///private/..%2Fx"),
            S::FORBIDDEN,
            Some("mcp:read private:read"),
        ),
        case(
            "..%5C is one segment to the server",
            "base",
            resource("file:///private/..%5Cx"),
            S::FORBIDDEN,
            Some("mcp:read private:read"),
        ),
        case(
            "file: without an authority names the same file (RFC 8089)",
            "base",
            resource("file:/private/x"),
            S::FORBIDDEN,
            Some("mcp:read private:read"),
        ),
        case(
            "file://localhost names the same file (RFC 8089)",
            "base",
            resource("file://LOCALHOST/private/x"),
            S::FORBIDDEN,
            Some("mcp:read private:read"),
        ),
        case(
            "an exact resource rule, spelt without an authority",
            "base",
            resource("file:/etc/passwd"),
            S::FORBIDDEN,
            Some("mcp:read root"),
        ),
        case(
            "another host's file is not the local one",
            "base",
            resource("file://other.example/private/x"),
            S::OK,
            None,
        ),
        case(
            "tools/call by position cannot dodge tool rules",
            "base",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["delete_file",{"path":"/x"}]}"#,
            S::BAD_REQUEST,
            None,
        ),
        case(
            "tools/call without a name",
            "all",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#,
            S::BAD_REQUEST,
            None,
        ),
        case(
            "tools/call without params",
            "all",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            S::BAD_REQUEST,
            None,
        ),
        case(
            "prompts/get by position cannot dodge prompt rules",
            "base",
            r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":["secret_prompt"]}"#,
            S::BAD_REQUEST,
            None,
        ),
        case(
            "resources/read without a uri",
            "base",
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{}}"#,
            S::BAD_REQUEST,
            None,
        ),
        case(
            "completing a protected prompt's argument needs the prompt's scopes",
            "base",
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"secret_prompt"},"argument":{"name":"a","value":"b"}}}"#,
            S::FORBIDDEN,
            Some("mcp:read prompts:secret"),
        ),
        case(
            "completing a protected prompt's argument, with the scopes",
            "all",
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"secret_prompt"},"argument":{"name":"a","value":"b"}}}"#,
            S::OK,
            None,
        ),
        case(
            "completing an open prompt's argument",
            "base",
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"open_prompt"},"argument":{"name":"a","value":"b"}}}"#,
            S::OK,
            None,
        ),
        case(
            "completing a template under a protected prefix",
            "base",
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"file:///private/{name}"},"argument":{"name":"name","value":"a"}}}"#,
            S::FORBIDDEN,
            Some("mcp:read private:read"),
        ),
        case(
            "a completion that does not say what it completes",
            "all",
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":"secret_prompt"}}"#,
            S::BAD_REQUEST,
            None,
        ),
        case(
            "a call with no rule of its kind needs no name",
            "base",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":["x"]}"#,
            S::OK,
            None,
        ),
        case(
            "batch over the limit",
            "all",
            format!("[{}]", vec!["{}"; 101].join(",")),
            S::BAD_REQUEST,
            None,
        ),
    ];
    let auth = auth();
    for case in cases {
        let out = send(&auth, post(case.token, Chunks::one(case.body.clone()))).await;
        assert_eq!(out.status, case.status, "{}: {:?}", case.name, out.body);
        if let Some(scope) = case.scope {
            let challenge = out.challenge.clone().unwrap();
            assert!(
                challenge.contains(&format!("scope=\"{scope}\"")),
                "{}: {challenge}",
                case.name
            );
            assert!(
                challenge.contains("error=\"insufficient_scope\""),
                "{}",
                case.name
            );
            assert!(challenge.contains(PRM), "{}", case.name);
            let body: Value = serde_json::from_slice(&out.body).unwrap();
            assert_eq!(body["scope"], scope, "{}", case.name);
        }
        if case.status == S::BAD_REQUEST {
            let body: Value = serde_json::from_slice(&out.body).unwrap();
            assert_eq!(body["error"], "invalid_request", "{}", case.name);
            assert!(
                out.challenge.unwrap().contains("error=\"invalid_request\""),
                "{}",
                case.name
            );
        }
        if case.status == S::OK {
            let (received, _) = out.received.expect("inner service called");
            assert_eq!(
                received,
                case.body.as_bytes(),
                "{}: body byte-identical",
                case.name
            );
        } else {
            assert!(
                out.received.is_none(),
                "{}: inner service not called",
                case.name
            );
        }
    }
}

/// A layer with the resource `rules`: token `base` has the global scope only, `root` has it
/// and `root_scopes`.
fn resource_layer(
    root_scopes: &[&str],
    rules: impl FnOnce(mcp_auth::McpAuthBuilder) -> mcp_auth::McpAuthBuilder,
) -> McpAuth {
    let root: Vec<&str> = std::iter::once("mcp:read")
        .chain(root_scopes.iter().copied())
        .collect();
    let verifier = StaticVerifier::new()
        .with_token("base", info(&["mcp:read"]))
        .with_token("root", info(&root));
    let builder = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(verifier)
        .required_scopes(["mcp:read"]);
    rules(builder).build().unwrap()
}

/// A `resources/read` of `uri`.
fn resources_read(uri: &str) -> String {
    let params = serde_json::json!({ "uri": uri });
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{params}}}"#)
}

/// A server on the TypeScript SDK (`new URL`) or the Python SDK (pydantic, on the `url`
/// crate) reads a resource URI as a WHATWG URL parser does. Every spelling such a parser
/// resolves to a protected URI needs that URI's scopes: default ports, missing or extra
/// slashes, backslashes, surrounding spaces, tabs and newlines, raw non-ASCII, IDNA hosts.
#[tokio::test]
async fn resource_rules_cover_what_a_whatwg_parser_resolves() {
    let auth = resource_layer(&["root", "private:read"], |builder| {
        builder
            .resource_scopes("file:///etc/passwd", ["root"])
            .resource_scopes("https://api.example.com/secret", ["root"])
            .resource_scopes("file:///caf%C3%A9", ["root"])
            .resource_prefix_scopes("file:///private/", ["private:read"])
    });
    let read = resources_read;
    let spellings = [
        ("file:///etc/passwd", "file:///etc/passwd"),
        (
            "https://api.example.com/secret",
            "https://api.example.com/secret",
        ),
        ("file:///private/x", "file:///private/x"),
        ("file:///caf%C3%A9", "file:///caf%C3%A9"),
        (
            "https://api.example.com:443/secret",
            "https://api.example.com/secret",
        ),
        ("file:etc/passwd", "file:///etc/passwd"),
        (" file:///etc/passwd", "file:///etc/passwd"),
        ("file:///etc/pass\twd", "file:///etc/passwd"),
        ("file:///pri\nvate/x", "file:///private/x"),
        ("file:///café", "file:///caf%C3%A9"),
        (
            "https://\u{ff41}pi.example.com/secret",
            "https://api.example.com/secret",
        ),
        (
            "https:api.example.com/secret",
            "https://api.example.com/secret",
        ),
        (
            "https:/api.example.com/secret",
            "https://api.example.com/secret",
        ),
        (
            "https:///api.example.com/secret",
            "https://api.example.com/secret",
        ),
        (
            "https:\\\\api.example.com\\secret",
            "https://api.example.com/secret",
        ),
    ];
    for (spelling, protected) in spellings {
        // The oracle: what a WHATWG parser makes of it.
        assert_eq!(
            url::Url::parse(spelling).unwrap().as_str(),
            protected,
            "{spelling:?}"
        );
        let denied = send(&auth, post("base", Chunks::one(read(spelling)))).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{spelling:?}");
        assert!(denied.received.is_none(), "{spelling:?}");
        // Control: with the scopes, the same request passes, body untouched.
        let allowed = send(&auth, post("root", Chunks::one(read(spelling)))).await;
        assert_eq!(allowed.status, StatusCode::OK, "{spelling:?}");
        assert_eq!(allowed.received.unwrap().0, read(spelling).as_bytes());
    }
    // An unprotected resource stays open.
    let open = send(
        &auth,
        post("base", Chunks::one(read("https://api.example.com/public"))),
    )
    .await;
    assert_eq!(open.status, StatusCode::OK);
}

/// What a server dereferences for a URI leaves out its fragment and, as a file path or a
/// route, its query; a fetch goes to the same host with user info or a trailing dot. Each
/// such spelling of a protected URI needs that URI's scopes, exact rules and prefix rules
/// alike, in `resources/read` and in `completion/complete`.
#[tokio::test]
async fn resource_rules_cover_the_uri_without_fragment_query_user_info_or_trailing_dot() {
    let auth = resource_layer(&["root"], |builder| {
        builder
            .resource_scopes("file:///etc/passwd", ["root"])
            .resource_scopes("https://api.example.com/secret", ["root"])
            .resource_prefix_scopes("https://files.example.com/private/", ["root"])
            .resource_scopes("https://api.example.com/data?id=42", ["root"])
    });
    let read = resources_read;
    let complete = |uri: &str| {
        let params = serde_json::json!({
            "ref": { "type": "ref/resource", "uri": uri },
            "argument": { "name": "n", "value": "v" },
        });
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{params}}}"#)
    };
    let spellings = [
        "file:///etc/passwd#x",
        "file:///etc/passwd#",
        "file:///etc/passwd?",
        "file:///etc/passwd?a=1",
        "file:///etc/passwd?a=1#x",
        "https://api.example.com/secret#x",
        "https://api.example.com/secret?v=2",
        "https://x@api.example.com/secret",
        "https://x:y@api.example.com/secret",
        "https://api.example.com./secret",
        "https://API.example.com.:443/secret#top",
        "https://x@files.example.com/private/a",
        "https://files.example.com./private/a",
        // A rule with a query: user info or the dot dropped, the query kept.
        "https://x@api.example.com/data?id=42",
        "https://api.example.com./data?id=42",
        "https://x@api.example.com./data?id=42#f",
    ];
    for spelling in spellings {
        for body in [read(spelling), complete(spelling)] {
            let denied = send(&auth, post("base", Chunks::one(body.clone()))).await;
            assert_eq!(denied.status, StatusCode::FORBIDDEN, "{spelling:?}");
            let challenge = denied.challenge.unwrap();
            assert!(
                challenge.contains(r#"scope="mcp:read root""#),
                "{spelling:?}: {challenge}"
            );
            assert!(denied.received.is_none(), "{spelling:?}");
            // Control: with the scope, the same request passes, body untouched.
            let allowed = send(&auth, post("root", Chunks::one(body.clone()))).await;
            assert_eq!(allowed.status, StatusCode::OK, "{spelling:?}");
            assert_eq!(allowed.received.unwrap().0, body.as_bytes());
        }
    }
    // Other resources stay open: another path, another host, a query that is part of the
    // path's name only in the rule's absence.
    for open in [
        "file:///etc/hosts#x",
        "https://api.example.com/secretive",
        "https://x@api.example.org/secret",
        "https://files.example.com/public/a?x#y",
    ] {
        let out = send(&auth, post("base", Chunks::one(read(open)))).await;
        assert_eq!(out.status, StatusCode::OK, "{open:?}");
    }
}

/// Two rules that name one resource in different spellings both apply; neither replaces the
/// other.
#[tokio::test]
async fn rules_for_spellings_of_one_resource_merge() {
    let verifier = StaticVerifier::new()
        .with_token("root", info(&["mcp:read", "root"]))
        .with_token("both", info(&["mcp:read", "root", "audit"]));
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(verifier)
        .required_scopes(["mcp:read"])
        .resource_scopes("file:///etc/passwd", ["root"])
        .resource_scopes("FILE:///etc/%70asswd", ["audit"])
        .build()
        .unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}"#;
    let denied = send(&auth, post("root", Chunks::one(body))).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let challenge = denied.challenge.unwrap();
    assert!(
        challenge.contains(r#"scope="mcp:read audit root""#),
        "{challenge}"
    );
    let allowed = send(&auth, post("both", Chunks::one(body))).await;
    assert_eq!(allowed.status, StatusCode::OK);
}

#[tokio::test]
async fn chunked_body_with_trailers_reaches_the_inner_service_unchanged() {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    let mut body = Chunks::new([
        &b"{\"jsonrpc\":\"2.0\",\"id\":1,"[..],
        &b"\"method\":\"tools/call\",\"params\":"[..],
        &b"{\"name\":\"delete_file\"}}"[..],
    ]);
    body.trailers = Some(trailers.clone());
    let out = send(&auth(), post("writer", body)).await;
    assert_eq!(out.status, StatusCode::OK);
    let (received, got_trailers) = out.received.unwrap();
    assert_eq!(
        received,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"delete_file\"}}"
    );
    assert_eq!(got_trailers, Some(trailers));

    // The same split body is still checked.
    let body = Chunks::new([
        &b"{\"method\":\"tools/call\",\"params\":{\"na"[..],
        &b"me\":\"delete_file\"}}"[..],
    ]);
    let out = send(&auth(), post("base", body)).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn body_at_the_limit_is_read_and_over_it_gets_413() {
    let auth = auth();
    let head = call("whoami");
    // Pad inside the JSON with whitespace so the body stays valid.
    let at_limit = format!("{head}{}", " ".repeat(1024 - head.len()));
    assert_eq!(at_limit.len(), 1024);
    let out = send(&auth, post("base", Chunks::one(at_limit))).await;
    assert_eq!(out.status, StatusCode::OK);

    let over = format!("{head}{}", " ".repeat(1025 - head.len()));
    let out = send(&auth, post("base", Chunks::one(over.clone()))).await;
    assert_eq!(out.status, StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(body["error"], "request_too_large");
    assert!(body["error_description"].as_str().unwrap().contains("1024"));

    // Declared too large: refused before reading.
    let mut declared = post(
        "base",
        Chunks {
            fail: true,
            ..Chunks::default()
        },
    );
    declared
        .headers_mut()
        .insert(header::CONTENT_LENGTH, "5000".parse().unwrap());
    assert_eq!(
        send(&auth, declared).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // Chunked (no length) and too large: refused while reading.
    let chunks: Vec<&'static [u8]> = vec![&[b' '; 600][..], &[b' '; 600][..]];
    let out = send(&auth, post("base", Chunks::new(chunks))).await;
    assert_eq!(out.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn bodies_are_not_read_when_no_rule_can_apply() {
    let auth = auth();
    let unreadable = || Chunks {
        fail: true,
        ..Chunks::default()
    };

    // No token: rejected before the body is touched.
    let mut req = post("x", unreadable());
    req.headers_mut().remove(header::AUTHORIZATION);
    let out = send(&auth, req).await;
    assert_eq!(out.status, StatusCode::UNAUTHORIZED);
    assert!(!out.challenge.unwrap().contains("files:write"));

    // Not JSON: refused unread, so a server that would parse it anyway never sees a tool
    // call the layer did not check.
    for content_type in [Some("text/plain"), Some("application/x-json-ish"), None] {
        let mut req = post("base", unreadable());
        match content_type {
            Some(ct) => {
                req.headers_mut()
                    .insert(header::CONTENT_TYPE, ct.parse().unwrap());
            }
            None => {
                req.headers_mut().remove(header::CONTENT_TYPE);
            }
        }
        let out = send(&auth, req).await;
        assert_eq!(
            out.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(body["error"], "unsupported_media_type");
    }

    // Content-coded: refused unread, whatever the coding; a decoding layer inside this one
    // would give the server other bytes than those checked. `identity` is no coding.
    for coding in ["gzip", "br", "zstd", "identity, gzip", "x-custom"] {
        let mut req = post("base", unreadable());
        req.headers_mut()
            .insert(header::CONTENT_ENCODING, coding.parse().unwrap());
        let out = send(&auth, req).await;
        assert_eq!(out.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{coding}");
        assert!(out.received.is_none(), "{coding}");
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(body["error"], "unsupported_media_type", "{coding}");
    }
    for coding in ["identity", "IDENTITY", ""] {
        let mut req = post("base", Chunks::one(call("whoami")));
        req.headers_mut()
            .insert(header::CONTENT_ENCODING, coding.parse().unwrap());
        let out = send(&auth, req).await;
        assert_eq!(out.status, StatusCode::OK, "{coding:?}");
        assert_eq!(out.received.unwrap().0, call("whoami").as_bytes());
    }

    // GET (the SSE stream) is never read.
    let mut req = post("base", unreadable());
    *req.method_mut() = Method::GET;
    let out = send(&auth, req).await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.received.unwrap().0, "<unreadable>");

    // A layer without per-operation rules never reads bodies.
    let plain = McpAuth::new(
        RESOURCE,
        "https://auth.example.com",
        StaticVerifier::new().with_token("base", info(&["mcp:read"])),
    );
    let out = send(&plain, post("base", unreadable())).await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.received.unwrap().0, "<unreadable>");
}

#[tokio::test]
async fn json_content_type_variants_are_read() {
    let auth = auth();
    for content_type in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json-rpc+json",
    ] {
        let mut req = post("base", Chunks::one(call("delete_file")));
        req.headers_mut()
            .insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        assert_eq!(
            send(&auth, req).await.status,
            StatusCode::FORBIDDEN,
            "{content_type}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_gets_408_after_the_body_timeout() {
    let auth = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(StaticVerifier::new().with_token("base", info(&["mcp:read"])))
        .tool_scopes("delete_file", ["files:write"])
        .body_timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    let inner = service_fn(|_req: Request<RequestBody<Stalled>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let req = Request::post("/mcp")
        .header(header::AUTHORIZATION, "Bearer base")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Stalled)
        .unwrap();
    let started = tokio::time::Instant::now();
    let res = auth.layer(inner).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(started.elapsed(), std::time::Duration::from_secs(2));
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "request_timeout");
}

#[tokio::test]
async fn unreadable_body_gets_400() {
    let out = send(
        &auth(),
        post(
            "base",
            Chunks {
                fail: true,
                ..Chunks::default()
            },
        ),
    )
    .await;
    assert_eq!(out.status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(
        body["error_description"],
        "the request body could not be read"
    );
}

#[tokio::test]
async fn mcp_method_and_name_headers_must_match_the_body() {
    struct HeaderCase {
        name: &'static str,
        method: Option<&'static str>,
        mcp_name: Option<&'static str>,
        body: String,
        status: StatusCode,
    }
    let resource =
        r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///public/a"}}"#;
    let cases = [
        HeaderCase {
            name: "both match",
            method: Some("tools/call"),
            mcp_name: Some("whoami"),
            body: call("whoami"),
            status: StatusCode::OK,
        },
        HeaderCase {
            name: "method only",
            method: Some("tools/call"),
            mcp_name: None,
            body: call("whoami"),
            status: StatusCode::OK,
        },
        HeaderCase {
            name: "method mismatch",
            method: Some("tools/list"),
            mcp_name: None,
            body: call("delete_file"),
            status: StatusCode::BAD_REQUEST,
        },
        HeaderCase {
            name: "name mismatch hides a protected tool",
            method: Some("tools/call"),
            mcp_name: Some("whoami"),
            body: call("delete_file"),
            status: StatusCode::BAD_REQUEST,
        },
        HeaderCase {
            name: "name for a call without one",
            method: None,
            mcp_name: Some("x"),
            body: r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.into(),
            status: StatusCode::BAD_REQUEST,
        },
        HeaderCase {
            name: "resource uri",
            method: Some("resources/read"),
            mcp_name: Some("file:///public/a"),
            body: resource.into(),
            status: StatusCode::OK,
        },
        HeaderCase {
            name: "resource uri mismatch",
            method: Some("resources/read"),
            mcp_name: Some("file:///public/b"),
            body: resource.into(),
            status: StatusCode::BAD_REQUEST,
        },
        HeaderCase {
            name: "headers on a batch",
            method: Some("tools/call"),
            mcp_name: None,
            body: format!("[{}]", call("whoami")),
            status: StatusCode::BAD_REQUEST,
        },
        HeaderCase {
            name: "a Base64-encoded name is decoded (MCP 2026-07-28 value encoding)",
            method: Some("tools/call"),
            mcp_name: Some("=?base64?d2hvYW1p?="),
            body: call("whoami"),
            status: StatusCode::OK,
        },
        HeaderCase {
            name: "an encoded name that decodes to another tool",
            method: Some("tools/call"),
            mcp_name: Some("=?base64?d2hvYW1p?="),
            body: call("delete_file"),
            status: StatusCode::BAD_REQUEST,
        },
    ];
    let auth = auth();
    for case in cases {
        let mut req = post("base", Chunks::one(case.body.clone()));
        if let Some(method) = case.method {
            req.headers_mut()
                .insert("mcp-method", method.parse().unwrap());
        }
        if let Some(name) = case.mcp_name {
            req.headers_mut().insert("mcp-name", name.parse().unwrap());
        }
        let out = send(&auth, req).await;
        assert_eq!(out.status, case.status, "{}", case.name);
        if case.status == StatusCode::BAD_REQUEST {
            // The JSON-RPC error the transport specifies, and no challenge: the credentials
            // are fine.
            let body: Value = serde_json::from_slice(&out.body).unwrap();
            assert_eq!(body["error"]["code"], -32020, "{}", case.name);
            assert_eq!(body["jsonrpc"], "2.0", "{}", case.name);
            assert_eq!(out.challenge, None, "{}", case.name);
        }
    }
    // Two `Mcp-Name` headers: refused, whatever the first says.
    let mut req = post("base", Chunks::one(call("whoami")));
    req.headers_mut()
        .append("mcp-name", "whoami".parse().unwrap());
    req.headers_mut()
        .append("mcp-name", "whoami".parse().unwrap());
    let out = send(&auth, req).await;
    assert_eq!(out.status, StatusCode::BAD_REQUEST);
    // Control: the same request with one header passes.
    let mut req = post("base", Chunks::one(call("whoami")));
    req.headers_mut()
        .append("mcp-name", "whoami".parse().unwrap());
    assert_eq!(send(&auth, req).await.status, StatusCode::OK);
}

#[test]
fn metadata_lists_every_scope_the_policy_can_ask_for() {
    let auth = auth();
    assert_eq!(
        auth.metadata().scopes_supported(),
        [
            "mcp:read",
            "prompts:secret",
            "root",
            "private:read",
            "admin",
            "files:write"
        ]
    );
}

#[test]
fn policy_is_readable_when_printed_and_validated_at_build() {
    let debug = format!("{:?}", auth());
    assert!(
        debug.contains("\"delete_file\": \"files:write\""),
        "{debug}"
    );
    assert!(debug.contains("\"file:///private/\""), "{debug}");

    let err = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(StaticVerifier::new())
        .tool_scopes("x", ["offline_access"])
        .build()
        .unwrap_err();
    assert!(
        matches!(err, mcp_auth::ConfigError::InvalidScope { .. }),
        "{err}"
    );
    let err = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(StaticVerifier::new())
        .tool_scopes("x", Vec::<String>::new())
        .build()
        .unwrap_err();
    assert!(
        matches!(err, mcp_auth::ConfigError::InvalidSetting { .. }),
        "{err}"
    );
    let err = McpAuth::builder(RESOURCE)
        .authorization_server("https://auth.example.com")
        .verifier(StaticVerifier::new())
        .tool_scopes("x", ["files:write"])
        .scopes_supported(["mcp:read"])
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, mcp_auth::ConfigError::InvalidScope { scope, .. } if scope == "files:write"),
        "{err}"
    );
}
