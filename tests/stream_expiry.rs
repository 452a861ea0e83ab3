//! Issue 10.11: event streams that end when their token expires
//! (`McpAuthBuilder::stream_expiry`), and what a real client does then.
//!
//! rmcp's streamable HTTP server behind [`McpAuth`] on a loopback port, the embedded
//! [`DevIssuer`], and rmcp's own client. A token whose `exp` is [`LEEWAY`] − [`LEFT`] in the past
//! is still accepted (the verifier's leeway), and a stream it opens ends [`LEFT`] later: the tests
//! watch that happen within seconds instead of a token lifetime.
//!
//! A recorder outside the layer logs every `/mcp` request: method, session, which token (the
//! expiring one the test minted, another one, none), `Last-Event-ID`, status, and for event
//! streams when the body ended (or was dropped by the client). The tests assert on that log
//! and on what the client reports.
//!
//! The same stack serves the Python and TypeScript SDK checks of `tests/interop/run.sh`
//! ([`serve_for_interop`], ignored by `cargo test`): it adds `GET /test/expiring-token` (a
//! token with [`LEFT`] to live, as the authorization server issues them to the
//! `client_credentials` client [`CLIENT_ID`]) and `GET /test/log` (the recorder's log as JSON),
//! outside the layer.

#![cfg(feature = "testing")]

mod rmcp_support;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    env,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    body::Body,
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
    routing::get,
};
use http::request::Parts;
use http_body::Frame;
use mcp_auth::{
    AuthInfo, BoxError, McpAuth, StreamExpiry,
    testing::{DevIssuer, TokenBuilder},
    verifier::JwtVerifier,
};
use reqwest::{StatusCode, header, redirect::Policy};
use rmcp::{
    ClientHandler, ErrorData, Peer, RoleClient, RoleServer, ServerHandler, ServiceExt,
    handler::server::{router::tool::ToolRouter, tool::Extension, wrapper::Parameters},
    model::{
        CallToolRequestParams, CallToolResult, ClientConfig, ContentBlock, ProtocolVersion,
        ServerCapabilities, ServerConfig,
    },
    schemars,
    service::{NotificationContext, RunningService},
    tool, tool_handler, tool_router,
    transport::{
        StreamableHttpClientTransport,
        auth::{AuthClient, AuthorizationRequest, OAuthState},
        streamable_http_client::{StreamableHttpClientTransportConfig, StreamableHttpError},
        streamable_http_server::{
            StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
        },
    },
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use rmcp_support::{text_of, transport_error};
use url::Url;

/// The leeway the JWT verifier grants past `exp`, which the layer also adds to a stream's end.
const LEEWAY: Duration = Duration::from_secs(60);
/// How long an expiring token (and a stream it opens) has left.
const LEFT: Duration = Duration::from_secs(5);
/// A confidential client for the `client_credentials` grant (the Python and TypeScript SDKs).
const CLIENT_ID: &str = "stream-m2m";
const CLIENT_SECRET: &str = "stream-secret";
/// A public client for the authorization-code grant, whose tokens come with refresh tokens.
const PUBLIC_CLIENT: &str = "stream-app";
/// Never contacted: the test reads the redirect instead of following it.
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const USER: &str = "alice";

type TestResult = Result<(), BoxError>;
type McpClient = RunningService<RoleClient, Listener>;

// ---------------------------------------------------------------------------------------------
// rmcp: the session's GET event stream
// ---------------------------------------------------------------------------------------------

/// The GET stream opened with a token about to expire ends at its expiry; rmcp opens it again
/// after the server's `retry` (3 s): the expiring token gets `401`, rmcp refreshes it and the
/// new GET (a fresh token) gets `200`. Server notifications arrive on the new stream, and tool
/// calls go on in the same session.
#[tokio::test]
async fn rmcp_reopens_the_get_stream_with_a_refreshed_token_and_keeps_working() -> TestResult {
    let stack = Stack::start(true).await?;
    let (client, listener) = stack.refreshing_client().await?;
    let session = stack.only_session()?;
    let first = stack
        .wait_for(
            "the first GET stream to end",
            Duration::from_secs(15),
            |log| {
                gets(log, &session)
                    .first()
                    .is_some_and(|get| get.ended.is_some())
            },
        )
        .await?;
    let first = gets(&first, &session)[0].clone();
    assert_eq!(first.token, Token::Expiring, "{first:?}");
    assert_eq!(first.status, 200);
    // Ended when the token stopped being accepted: not before (allowing for rounding to
    // milliseconds), and not long after. Measured from the token's own `exp`, not from when
    // the stream opened, so a slow setup does not move the bound.
    let deadline = first
        .minted
        .and_then(|number| stack.recorder.deadline(number))
        .ok_or("the first GET's token was not minted here")?;
    let ended = first.ended.unwrap_or_default();
    assert!(
        (deadline.saturating_sub(50)..deadline.saturating_add(3_000)).contains(&ended),
        "the stream ended at the token's expiry (at {deadline} ms): {first:?}"
    );

    let log = stack
        .wait_for("a GET with a fresh token", Duration::from_secs(15), |log| {
            gets(log, &session)
                .iter()
                .any(|get| get.token == Token::Fresh && get.status == 200)
        })
        .await?;
    let gets = gets(&log, &session);
    println!("GET requests of the session:\n{}", show(&gets));
    let reopened = gets
        .iter()
        .find(|get| get.token == Token::Fresh)
        .ok_or("no GET with a fresh token")?;
    assert!(reopened.opened >= first.ended.unwrap_or_default());
    let refused = gets.iter().filter(|get| get.status == 401).count();
    assert!(
        refused <= 1,
        "at most one 401 before the refresh: {gets:#?}"
    );

    // The new stream carries what the server sends outside any request.
    let before = listener.list_changed();
    assert_eq!(call_text(&client, "notify").await?, "sent");
    listener
        .wait_list_changed(before + 1, Duration::from_secs(5))
        .await?;
    // Tool calls go on, now with the fresh token.
    let me = call_json(&client, "whoami").await?;
    assert_eq!(me["subject"], USER);
    assert!(me["expires_at"].as_u64() > Some(unix_now()), "{me}");
    assert_eq!(stack.sessions().len(), 1, "one session throughout");
    client.cancel().await?;
    Ok(())
}

/// Control: without the setting, the GET stream opened with the same expiring token is still
/// open, and was never opened again, when the token has long stopped being accepted.
#[tokio::test]
async fn without_the_setting_the_get_stream_outlives_its_token() -> TestResult {
    let stack = Stack::start(false).await?;
    let (client, _listener) = stack.refreshing_client().await?;
    let session = stack.only_session()?;
    tokio::time::sleep(LEFT + Duration::from_secs(5)).await;
    let log = stack.log();
    let gets = gets(&log, &session);
    println!("GET requests of the session:\n{}", show(&gets));
    assert_eq!(gets.len(), 1, "{gets:#?}");
    assert_eq!(gets[0].token, Token::Expiring);
    assert_eq!(gets[0].ended, None, "still streaming: {:?}", gets[0]);
    client.cancel().await?;
    Ok(())
}

/// A client holding only a static token (no way to get another): when the stream ends, its one
/// attempt to reopen it gets `401` and rmcp stops there (no loop of refused GETs); the session's
/// requests fail promptly with the challenge, as they would without the setting once the token
/// expired, and nothing hangs.
#[tokio::test]
async fn rmcp_with_a_static_token_stops_after_one_refused_reconnect() -> TestResult {
    let stack = Stack::start(true).await?;
    let token = stack.expiring_token();
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::new(),
        StreamableHttpClientTransportConfig::with_uri(stack.url.as_str()).auth_header(token),
    );
    let listener = Listener::default();
    let client = listener.clone().serve(transport).await?;
    let session = stack.only_session()?;
    assert_eq!(call_json(&client, "whoami").await?["subject"], USER);

    stack
        .wait_for("a refused GET", Duration::from_secs(15), |log| {
            gets(log, &session).iter().any(|get| get.status == 401)
        })
        .await?;
    // Long enough for several more attempts at the server's 3 s `retry`.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let log = stack.log();
    let gets = gets(&log, &session);
    println!("GET requests of the session:\n{}", show(&gets));
    assert_eq!(
        gets.len(),
        2,
        "the stream, then one refused reconnect: {gets:#?}"
    );
    assert!(gets[0].ended.is_some() && gets[1].status == 401);

    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(10), client.call_tool(whoami()))
        .await
        .map_err(|_| "a tool call after the stream ended hung")?
        .expect_err("the token has expired");
    assert!(
        matches!(
            transport_error(&err),
            Some(StreamableHttpError::AuthRequired(_))
        ),
        "{err:?}"
    );
    println!(
        "tool call after expiry: {err} (after {:?})",
        started.elapsed()
    );
    let _ = client.cancel().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// rmcp: a tool call's response stream
// ---------------------------------------------------------------------------------------------

/// A tool call that outlives the token: its response stream (a POST answered with
/// `text/event-stream`) ends at the token's expiry before the result. rmcp resumes it with a
/// GET carrying `Last-Event-ID` (the stream's priming event), refreshes the refused token, and
/// the result arrives on the resumed stream.
#[tokio::test]
async fn rmcp_resumes_a_tool_call_whose_response_stream_ended_at_expiry() -> TestResult {
    let stack = Stack::start(true).await?;
    let (client, _listener) = stack.refreshing_client().await?;
    let session = stack.only_session()?;
    let seconds = LEFT.as_secs() + 4;
    let call = CallToolRequestParams::new("slow").with_arguments(
        json!({ "seconds": seconds })
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    let result = tokio::time::timeout(Duration::from_secs(30), client.call_tool(call))
        .await
        .map_err(|_| "the slow tool call hung")??;
    assert_eq!(text_of(&result)?, format!("slept {seconds} s"));

    let log = stack.log();
    let requests: Vec<Entry> = log
        .iter()
        .filter(|e| e.session.as_deref() == Some(&session))
        .cloned()
        .collect();
    println!("requests of the session:\n{}", show(&requests));
    let cut = requests
        .iter()
        .find(|e| {
            e.method == "POST"
                && e.event_stream
                && e.ended.is_some_and(|end| end - e.opened >= 2_000)
        })
        .ok_or("no POST stream was ended at the token's expiry")?;
    assert_eq!(cut.token, Token::Expiring);
    let resumed = requests
        .iter()
        .find(|e| e.method == "GET" && e.resume && e.status == 200 && e.opened >= cut.opened)
        .ok_or("the response stream was not resumed")?;
    assert_eq!(resumed.token, Token::Fresh);
    client.cancel().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The interop server for tests/interop/run.sh
// ---------------------------------------------------------------------------------------------

/// Serves the stack on `MCP_AUTH_STREAMS_ADDR` (default `127.0.0.1:0`) until killed, for the
/// Python and TypeScript SDK checks in `tests/interop/run.sh`. Prints `URL=`, `ISSUER=`,
/// `CLIENT_ID=`, `CLIENT_SECRET=` and then `listening`.
#[tokio::test]
#[ignore = "a server for tests/interop/run.sh: runs until killed"]
async fn serve_for_interop() -> TestResult {
    let addr = env::var("MCP_AUTH_STREAMS_ADDR").unwrap_or_else(|_| "127.0.0.1:0".to_owned());
    let stack = Stack::start_on(TcpListener::bind(&addr).await?, true).await?;
    println!("URL={}", stack.url);
    println!("ISSUER={}", stack.issuer.issuer());
    println!("CLIENT_ID={CLIENT_ID}");
    println!("CLIENT_SECRET={CLIENT_SECRET}");
    println!("LEFT={}", LEFT.as_secs());
    println!("listening");
    std::future::pending::<()>().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The MCP server
// ---------------------------------------------------------------------------------------------

/// The MCP server: `whoami` (the token's subject and `exp`), `slow` (answers after some
/// seconds), `notify` (sends `notifications/tools/list_changed` outside any request, so on the
/// session's GET stream).
#[derive(Clone)]
struct ExpiryServer {
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Slow {
    /// How long to wait before answering.
    seconds: u64,
}

#[tool_router]
impl ExpiryServer {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "The subject and the expiry (unix seconds) of the access token")]
    async fn whoami(
        &self,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let info = parts
            .extensions
            .get::<AuthInfo>()
            .ok_or_else(|| ErrorData::internal_error("no AuthInfo", None))?;
        let expires_at = info
            .expires_at()
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .map(|at| at.as_secs());
        let body = json!({ "subject": info.subject(), "expires_at": expires_at });
        Ok(CallToolResult::success(vec![ContentBlock::json(body)?]))
    }

    #[tool(description = "Answers after the given number of seconds")]
    async fn slow(
        &self,
        Parameters(Slow { seconds }): Parameters<Slow>,
    ) -> Result<CallToolResult, ErrorData> {
        tokio::time::sleep(Duration::from_secs(seconds.min(60))).await;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "slept {seconds} s"
        ))]))
    }

    #[tool(description = "Sends notifications/tools/list_changed on the session's GET stream")]
    async fn notify(&self, peer: Peer<RoleServer>) -> Result<CallToolResult, ErrorData> {
        peer.notify_tool_list_changed()
            .await
            .map_err(|err| ErrorData::internal_error(err.to_string(), None))?;
        Ok(CallToolResult::success(vec![ContentBlock::text("sent")]))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ExpiryServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The stack: dev issuer + the server behind McpAuth + the recorder, on loopback
// ---------------------------------------------------------------------------------------------

struct Stack {
    issuer: DevIssuer,
    url: String,
    recorder: Recorder,
}

impl Stack {
    async fn start(end_streams: bool) -> Result<Self, BoxError> {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await?, end_streams).await
    }

    async fn start_on(listener: TcpListener, end_streams: bool) -> Result<Self, BoxError> {
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}/mcp");
        let issuer = DevIssuer::builder()
            .client(CLIENT_ID, CLIENT_SECRET)
            .public_client(PUBLIC_CLIENT)
            .subject(USER)
            .default_resource(url.clone())
            .start()
            .await?;
        let auth = McpAuth::builder(url.clone())
            .authorization_server(issuer.issuer())
            .verifier(JwtVerifier::discover(issuer.issuer())?)
            .required_scopes(["mcp:read"])
            .stream_expiry(if end_streams {
                StreamExpiry::All
            } else {
                StreamExpiry::Never
            })
            .build()?;

        let config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(["127.0.0.1".to_owned(), addr.ip().to_string()]);
        let mcp = StreamableHttpService::new(
            || Ok(ExpiryServer::new()),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        let protected = Router::new().nest_service("/mcp", mcp).layer(auth);
        let recorder = Recorder {
            started: Instant::now(),
            entries: Arc::default(),
            expiring: Arc::default(),
            deadlines: Arc::default(),
            minter: Arc::new(Minter {
                issuer: issuer.token(),
                url: url.clone(),
            }),
        };
        let app = Router::new()
            .route("/test/expiring-token", get(expiring_token_route))
            .route("/test/log", get(log_route))
            .fallback_service(protected)
            .layer(middleware::from_fn_with_state(recorder.clone(), record))
            .with_state(recorder.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            issuer,
            url,
            recorder,
        })
    }

    /// A token for `mcp:read` that is accepted for [`LEFT`] more (its `exp` is [`LEEWAY`] −
    /// [`LEFT`] ago); the recorder labels it [`Token::Expiring`].
    fn expiring_token(&self) -> String {
        self.recorder.expiring_token()
    }

    fn log(&self) -> Vec<Entry> {
        self.recorder.log()
    }

    fn sessions(&self) -> HashSet<String> {
        self.log().into_iter().filter_map(|e| e.session).collect()
    }

    fn only_session(&self) -> Result<String, BoxError> {
        let sessions = self.sessions();
        match sessions.len() {
            1 => Ok(sessions.into_iter().next().unwrap_or_default()),
            n => Err(format!("expected one MCP session, found {n}: {:#?}", self.log()).into()),
        }
    }

    /// Polls the log until `done` holds, for at most `limit`.
    async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&[Entry]) -> bool,
    ) -> Result<Vec<Entry>, BoxError> {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log();
            if done(&log) {
                return Ok(log);
            }
            if Instant::now() >= deadline {
                return Err(format!("waited {limit:?} for {what}:\n{}", show(&log)).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An rmcp client as an app with stored credentials would run it: an access token (here
    /// the expiring one) and a refresh token (from a real authorization-code flow), restored
    /// with `OAuthState::set_credentials`, behind rmcp's `AuthClient`, which refreshes a token
    /// the server refuses. The session is on the 2025-11-25 revision (`initialize`, a GET
    /// event stream); rmcp's default 2026-07-28 has neither.
    async fn refreshing_client(&self) -> Result<(McpClient, Listener), BoxError> {
        let mut oauth = OAuthState::new(self.url.as_str(), None).await?;
        oauth
            .start_authorization(
                AuthorizationRequest::new(REDIRECT_URI)
                    .with_preregistered_client(PUBLIC_CLIENT)
                    .with_scopes(["mcp:read"]),
            )
            .await?;
        let callback = approve(&oauth.get_authorization_url().await?).await?;
        oauth.handle_callback_url(&callback).await?;
        let (client_id, Some(granted)) = oauth.get_credentials().await? else {
            return Err("the authorization-code flow stored no token".into());
        };
        let mut restored = serde_json::to_value(&granted)?;
        let refresh = restored["refresh_token"].clone();
        assert!(
            refresh.is_string(),
            "the dev issuer returned a refresh token"
        );
        restored["access_token"] = Value::String(self.expiring_token());
        // No `expires_in` (it is optional, RFC 6749 §5.1): the client learns that the token
        // expired from the server's 401, not from its own clock.
        if let Some(fields) = restored.as_object_mut() {
            fields.remove("expires_in");
        }
        let mut oauth = OAuthState::new(self.url.as_str(), None).await?;
        oauth
            .set_credentials(&client_id, serde_json::from_value(restored)?)
            .await?;
        let manager = oauth
            .into_authorization_manager()
            .ok_or("set_credentials did not end in the authorized state")?;
        let transport = StreamableHttpClientTransport::with_client(
            AuthClient::new(reqwest::Client::new(), manager),
            StreamableHttpClientTransportConfig::with_uri(self.url.as_str()),
        );
        let listener = Listener::default();
        let client = listener.clone().serve(transport).await?;
        Ok((client, listener))
    }
}

/// Mints the expiring tokens and remembers them, so the log can tell them apart.
#[derive(Clone)]
struct Recorder {
    started: Instant,
    entries: Arc<Mutex<Vec<Entry>>>,
    /// The expiring tokens minted so far, each with its number.
    expiring: Arc<Mutex<HashMap<String, usize>>>,
    /// By number, when each expiring token stops being accepted (`exp` + [`LEEWAY`]), in
    /// [`Recorder::millis`].
    deadlines: Arc<Mutex<Vec<u64>>>,
    minter: Arc<Minter>,
}

struct Minter {
    issuer: TokenBuilder,
    url: String,
}

impl Recorder {
    fn expiring_token(&self) -> String {
        self.mint(USER, None).0
    }

    /// An expiring token for `subject` (and `client`) and its number, which the log shows for
    /// the requests it made.
    fn mint(&self, subject: &str, client: Option<&str>) -> (String, usize) {
        let mut token = self.minter.issuer.clone().subject(subject);
        if let Some(client) = client {
            token = token.client_id(client);
        }
        let exp = SystemTime::now() - (LEEWAY - LEFT);
        let token = token
            .scopes(["mcp:read"])
            .audience(self.minter.url.as_str())
            .issued_at(SystemTime::now() - LEEWAY)
            .expires_at(exp)
            .sign();
        // `exp` is whole seconds in the token, so the token has 4 to 5 s left, not `LEFT`.
        let exp_secs = exp.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let accepted_until = UNIX_EPOCH + Duration::from_secs(exp_secs) + LEEWAY;
        let left = accepted_until
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let deadline = self
            .millis()
            .saturating_add(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
        let mut expiring = self.expiring.lock().unwrap_or_else(PoisonError::into_inner);
        let number = expiring.len();
        expiring.insert(token.clone(), number);
        self.deadlines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(deadline);
        (token, number)
    }

    /// When the expiring token `number` stops being accepted, in [`Recorder::millis`].
    fn deadline(&self, number: usize) -> Option<u64> {
        self.deadlines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(number)
            .copied()
    }

    fn log(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn update(&self, seq: usize, f: impl FnOnce(&mut Entry)) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(seq) {
            f(entry);
        }
    }
}

/// Which token a request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Token {
    /// One of the expiring tokens this stack minted.
    Expiring,
    /// Any other token (one the client got from the authorization server).
    Fresh,
    None,
}

/// One `/mcp` request as seen outside the layer. Times are milliseconds since the stack
/// started.
#[derive(Clone, Debug, Serialize)]
struct Entry {
    seq: usize,
    method: String,
    session: Option<String>,
    token: Token,
    /// The number of the expiring token, when it was one.
    minted: Option<usize>,
    /// The request carried `Last-Event-ID` (a resumed stream).
    resume: bool,
    status: u16,
    event_stream: bool,
    opened: u64,
    /// When the event stream's body ended (the server, or the layer, finished it).
    ended: Option<u64>,
    /// When the client went away before the body ended.
    dropped: Option<u64>,
}

async fn record(State(recorder): State<Recorder>, request: Request, next: Next) -> Response {
    if request.uri().path() != "/mcp" {
        return next.run(request).await;
    }
    let headers = request.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let bearer = header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned));
    let minted = bearer.as_ref().and_then(|token| {
        let expiring = recorder
            .expiring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        expiring.get(token).copied()
    });
    let token = match (&bearer, minted) {
        (None, _) => Token::None,
        (Some(_), Some(_)) => Token::Expiring,
        (Some(_), None) => Token::Fresh,
    };
    let method = request.method().to_string();
    let resume = header("last-event-id").is_some();
    let session = header("mcp-session-id");
    let opened = recorder.millis();
    let response = next.run(request).await;
    let session = session.or_else(|| {
        response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let event_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let seq = {
        let mut entries = recorder
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let seq = entries.len();
        entries.push(Entry {
            seq,
            method,
            session,
            token,
            minted,
            resume,
            status: response.status().as_u16(),
            event_stream,
            opened,
            ended: None,
            dropped: None,
        });
        seq
    };
    if !event_stream {
        return response;
    }
    response.map(|body| {
        Body::new(Watched {
            inner: body,
            recorder,
            seq,
            done: false,
        })
    })
}

/// A response body that tells the recorder when it ended or was dropped.
struct Watched {
    inner: Body,
    recorder: Recorder,
    seq: usize,
    done: bool,
}

impl http_body::Body for Watched {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled
            && !self.done
        {
            self.done = true;
            let at = self.recorder.millis();
            self.recorder.update(self.seq, |e| e.ended = Some(at));
        }
        polled
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if !self.done {
            let at = self.recorder.millis();
            self.recorder.update(self.seq, |e| e.dropped = Some(at));
        }
    }
}

async fn expiring_token_route(State(recorder): State<Recorder>) -> Json<Value> {
    // As the authorization server issues them to the client_credentials client: the layer
    // binds a session to its principal, so a new token for another subject would not get it.
    let (token, number) = recorder.mint(CLIENT_ID, Some(CLIENT_ID));
    Json(json!({ "access_token": token, "number": number, "left": LEFT.as_secs() }))
}

async fn log_route(State(recorder): State<Recorder>) -> Json<Vec<Entry>> {
    Json(recorder.log())
}

// ---------------------------------------------------------------------------------------------
// The rmcp client side
// ---------------------------------------------------------------------------------------------

/// The client's handler: speaks 2025-11-25 and counts `notifications/tools/list_changed`.
///
/// (rmcp 3.9's client asking for its default 2026-07-28 ends up on 2025-11-25 with this server
/// too; it is pinned so that the session, and its GET stream, do not depend on that.)
#[derive(Clone, Default)]
struct Listener {
    list_changed: Arc<AtomicUsize>,
}

impl Listener {
    fn list_changed(&self) -> usize {
        self.list_changed.load(Ordering::SeqCst)
    }

    async fn wait_list_changed(&self, count: usize, limit: Duration) -> TestResult {
        let deadline = Instant::now() + limit;
        while self.list_changed() < count {
            if Instant::now() >= deadline {
                return Err(format!("no notifications/tools/list_changed within {limit:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

impl ClientHandler for Listener {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::default().with_protocol_version(ProtocolVersion::V_2025_11_25)
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn gets(log: &[Entry], session: &str) -> Vec<Entry> {
    log.iter()
        .filter(|e| e.method == "GET" && e.session.as_deref() == Some(session))
        .cloned()
        .collect()
}

fn show(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| {
            let end = match (e.ended, e.dropped) {
                (Some(at), _) => format!(", ended at {at} ms"),
                (None, Some(at)) => format!(", dropped by the client at {at} ms"),
                (None, None) if e.event_stream => ", still open".to_owned(),
                _ => String::new(),
            };
            format!(
                "  #{} {} token={:?}{} -> {}{} at {} ms{end}",
                e.seq,
                e.method,
                e.token,
                if e.resume { " Last-Event-ID" } else { "" },
                e.status,
                if e.event_stream {
                    " text/event-stream"
                } else {
                    ""
                },
                e.opened,
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn whoami() -> CallToolRequestParams {
    CallToolRequestParams::new("whoami")
}

async fn call_text(client: &McpClient, tool: &'static str) -> Result<String, BoxError> {
    text_of(&client.call_tool(CallToolRequestParams::new(tool)).await?)
}

async fn call_json(client: &McpClient, tool: &'static str) -> Result<Value, BoxError> {
    Ok(serde_json::from_str(&call_text(client, tool).await?)?)
}

/// Plays the user agent at the auto-approving dev `/authorize`: one GET, no redirects
/// followed; returns the redirect back to the client.
async fn approve(authorization_url: &str) -> Result<String, BoxError> {
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()?;
    let response = browser.get(authorization_url).send().await?;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[header::LOCATION].to_str()?.to_owned();
    let params: BTreeMap<String, String> =
        Url::parse(&location)?.query_pairs().into_owned().collect();
    assert!(params.contains_key("code"), "{location}");
    Ok(location)
}
