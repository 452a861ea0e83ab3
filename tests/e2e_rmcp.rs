//! End to end with software written by others: the examples' MCP server (rmcp's streamable
//! HTTP server, `examples/support/notes_server.rs`) behind [`McpAuth`] on a loopback port, the
//! embedded [`DevIssuer`] as authorization server, and rmcp's own OAuth client, given nothing
//! but the server URL (and, for `client_credentials`, its pre-registered credentials).
//!
//! The client finds everything itself: the `401` challenge's `resource_metadata`, the
//! protected-resource metadata, the authorization server's RFC 8414 metadata, dynamic client
//! registration, and the token endpoint. The authorization-code flow runs headless: the
//! auto-approving dev `/authorize` is fetched without following redirects and its `Location`
//! is handed back to rmcp, which checks `state` and the RFC 9207 `iss`.

#![cfg(feature = "testing")]

mod rmcp_support;

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    body::Body,
    extract::Request,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use mcp_auth::{
    BoxError, McpAuth, McpAuthBuilder,
    testing::{DevIssuer, Endpoint},
    verifier::JwtVerifier,
};
use reqwest::{StatusCode, header, redirect::Policy};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, ClientConfig},
    service::RunningService,
    transport::{
        StreamableHttpClientTransport,
        auth::{AuthClient, AuthorizationRequest, ClientCredentialsConfig, OAuthState},
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use url::Url;

use rmcp_support::{
    auth_required_challenge, challenge_params, insufficient_scope_challenge, query, text_of,
    tool_names,
};

/// The MCP server of the examples, served here on an ephemeral port.
#[allow(dead_code)]
#[path = "../examples/support/notes_server.rs"]
mod notes_server;

/// Where the client says the authorization server should send the user back. Nothing listens
/// there: the test reads the redirect instead of following it.
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const M2M_ID: &str = "m2m-client";
const M2M_SECRET: &str = "m2m-secret";
const USER: &str = "alice";
/// The protocol revision raw requests speak (rmcp 3.9 serves it with sessions).
const PROTOCOL_VERSION: &str = "2025-06-18";

type TestResult = Result<(), BoxError>;
type McpClient = RunningService<RoleClient, ClientConfig>;

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn client_credentials_client_discovers_everything_from_the_401_and_calls_whoami() -> TestResult
{
    let stack = Stack::start().await?;

    let mut oauth = OAuthState::new(stack.url.as_str(), None).await?;
    oauth
        .authenticate_client_credentials(ClientCredentialsConfig::ClientSecret {
            client_id: M2M_ID.to_owned(),
            client_secret: M2M_SECRET.to_owned(),
            scopes: vec!["mcp:read".to_owned()],
            resource: Some(stack.url.clone()),
        })
        .await?;
    let manager = oauth
        .into_authorization_manager()
        .ok_or("client_credentials did not end in the authorized state")?;

    // Discovery started at the MCP endpoint: an unauthenticated request got the 401 challenge,
    // whose `resource_metadata` led to the metadata document, which named the issuer.
    let log = stack.log();
    let probe = log
        .iter()
        .position(|entry| entry.path == "/mcp" && !entry.authorized)
        .ok_or("the client never probed the MCP endpoint")?;
    assert_eq!(log[probe].status, StatusCode::UNAUTHORIZED);
    let metadata = log
        .iter()
        .position(|entry| entry.path == "/.well-known/oauth-protected-resource/mcp")
        .ok_or("the client never fetched the protected-resource metadata")?;
    assert!(
        probe < metadata,
        "metadata fetched before the 401: {log:#?}"
    );
    assert_eq!(log[metadata].status, StatusCode::OK);
    assert_eq!(stack.issuer.requests(Endpoint::Metadata), 1);
    assert_eq!(stack.issuer.requests(Endpoint::Token), 1);

    let client = stack
        .connect(AuthClient::new(reqwest::Client::new(), manager))
        .await?;
    assert_eq!(
        tool_names(&client).await?,
        ["add_note", "list_notes", "whoami"]
    );

    let me = call_json(&client, "whoami").await?;
    assert_eq!(
        me,
        json!({
            "subject": M2M_ID,
            "client_id": M2M_ID,
            "issuer": stack.issuer.issuer(),
            "scopes": ["mcp:read"],
        })
    );
    assert_eq!(call_json(&client, "list_notes").await?, json!([]));

    // Every MCP request after the handshake carried the token, and none was refused.
    let mcp: Vec<_> = stack
        .log()
        .into_iter()
        .filter(|entry| entry.path == "/mcp" && entry.authorized)
        .collect();
    assert!(
        mcp.len() >= 3,
        "initialize, tools/list, tools/call: {mcp:#?}"
    );
    assert!(
        mcp.iter().all(|entry| entry.status.is_success()),
        "{mcp:#?}"
    );

    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn authorization_code_client_registers_itself_and_calls_whoami() -> TestResult {
    let stack = Stack::start().await?;

    let client = stack.authorization_code_client(None).await?;
    let granted = client
        .auth
        .auth_manager
        .lock()
        .await
        .get_current_scopes()
        .await;
    // The client registered itself (RFC 7591) and was sent through `/authorize` once.
    assert_eq!(stack.issuer.requests(Endpoint::Registration), 1);
    assert_eq!(stack.issuer.requests(Endpoint::Authorize), 1);
    assert_eq!(stack.issuer.requests(Endpoint::Token), 1);

    let me = call_json(&client.service, "whoami").await?;
    assert_eq!(me["subject"], USER);
    assert_eq!(me["issuer"], stack.issuer.issuer());
    // Whatever rmcp chose to ask for (the challenged `mcp:read`, and by its scope policy also
    // what the metadata lists) is what the tool sees.
    assert_eq!(me["scopes"], json!(granted));
    assert!(
        granted.iter().any(|scope| scope == "mcp:read"),
        "{granted:?}"
    );
    let client_id = me["client_id"].as_str().ok_or("whoami has no client_id")?;
    assert!(!client_id.is_empty() && client_id != M2M_ID, "{client_id}");

    assert_eq!(
        tool_names(&client.service).await?,
        ["add_note", "list_notes", "whoami"]
    );
    client.service.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn narrow_token_gets_403_step_up_and_succeeds_after_scope_upgrade() -> TestResult {
    let stack = Stack::start().await?;
    let client = stack.authorization_code_client(Some(&["mcp:read"])).await?;
    let narrow_token = client.auth.get_access_token().await?;
    let add_note = CallToolRequestParams::new("add_note").with_arguments(
        json!({ "text": "buy milk" })
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );

    // rmcp's client sees the 403 as an insufficient-scope error carrying the challenge.
    let err = client
        .service
        .call_tool(add_note.clone())
        .await
        .expect_err("add_note with only mcp:read must be refused");
    let challenge = insufficient_scope_challenge(&err)?;
    stack.assert_step_up_challenge(&challenge);
    assert_eq!(stack.add_note_calls(), 0);

    // The same request over raw HTTP: exact status, header and body.
    let response = stack
        .post_mcp(
            &narrow_token,
            "application/json",
            &tools_call_add_note(),
            None,
        )
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let header = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()?
        .to_owned();
    stack.assert_step_up_challenge(&header);
    assert_eq!(
        response.headers()["access-control-expose-headers"],
        "WWW-Authenticate"
    );
    let body: Value = response.json().await?;
    assert_eq!(body["error"], "insufficient_scope");

    // Step up: rmcp asks for the union of what it has and what the challenge names, through
    // the same headless authorization-code flow, and the running client retries.
    let required = challenge_params(&challenge)["scope"].clone();
    let upgrade_url = {
        let manager = client.auth.auth_manager.lock().await;
        manager.request_scope_upgrade(&required).await?
    };
    let requested = query(&upgrade_url)?;
    assert_eq!(requested["scope"], "mcp:read notes:write");
    let callback = approve(&upgrade_url).await?;
    {
        let manager = client.auth.auth_manager.lock().await;
        manager
            .exchange_code_for_token_with_issuer(
                &callback["code"],
                &callback["state"],
                Some(&callback["iss"]),
            )
            .await?;
    }
    let wide_token = client.auth.get_access_token().await?;
    assert_ne!(wide_token, narrow_token);

    let added = client.service.call_tool(add_note).await?;
    assert_eq!(text_of(&added)?, "note 1 added");
    assert_eq!(stack.add_note_calls(), 1);
    assert_eq!(
        call_json(&client.service, "list_notes").await?,
        json!(["buy milk"])
    );
    let me = call_json(&client.service, "whoami").await?;
    assert_eq!(me["scopes"], json!(["mcp:read", "notes:write"]));

    // The narrow token is still refused: the grant was widened by a new token, not by state.
    let response = stack
        .post_mcp(
            &narrow_token,
            "application/json",
            &tools_call_add_note(),
            None,
        )
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(stack.add_note_calls(), 1);

    client.service.cancel().await?;
    Ok(())
}

/// With per-tool rules the layer refuses a `POST` that is not JSON (`415`) instead of letting
/// a server that might parse it anyway see an unchecked tool call: a `tools/call` for
/// `add_note` sent as `text/plain` in a live session, with a token that lacks `notes:write`,
/// never reaches the tool.
#[tokio::test]
async fn text_plain_tools_call_with_narrow_token_never_runs_the_tool() -> TestResult {
    let stack = Stack::start().await?;
    let narrow = stack.mint(&["mcp:read"]);
    let wide = stack.mint(&["mcp:read", "notes:write"]);
    let session = stack.raw_session(&narrow).await?;

    let response = stack
        .post_mcp(
            &narrow,
            "text/plain",
            &tools_call_add_note(),
            Some(&session),
        )
        .await?;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = serde_json::from_str(&response.text().await?)?;
    assert_eq!(
        body["error"], "unsupported_media_type",
        "refused by the layer"
    );
    assert_eq!(stack.add_note_calls(), 0);

    // Controls: the same request as JSON is stopped by the layer with the narrow token...
    let response = stack
        .post_mcp(
            &narrow,
            "application/json",
            &tools_call_add_note(),
            Some(&session),
        )
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(stack.add_note_calls(), 0);

    // ...and runs the tool with the wide token, so the session and the request were good and
    // only the content type stopped the first one.
    let response = stack
        .post_mcp(
            &wide,
            "application/json",
            &tools_call_add_note(),
            Some(&session),
        )
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await?;
    assert!(body.contains("note 1 added"), "{body}");
    assert_eq!(stack.add_note_calls(), 1);
    Ok(())
}

#[tokio::test]
async fn client_credentials_step_up_with_a_new_wider_token() -> TestResult {
    let stack = Stack::start().await?;
    let narrow = stack.client_credentials_client(&["mcp:read"]).await?;
    let err = narrow
        .call_tool(
            CallToolRequestParams::new("add_note").with_arguments(
                json!({ "text": "m2m" })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await
        .expect_err("add_note with only mcp:read must be refused");
    let challenge = insufficient_scope_challenge(&err)?;
    stack.assert_step_up_challenge(&challenge);
    narrow.cancel().await?;

    // A machine client has no user to ask: it requests exactly the challenged scopes.
    let scope = challenge_params(&challenge)["scope"].clone();
    let scopes: Vec<&str> = scope.split(' ').collect();
    let wide = stack.client_credentials_client(&scopes).await?;
    let added = wide
        .call_tool(
            CallToolRequestParams::new("add_note").with_arguments(
                json!({ "text": "m2m" })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await?;
    assert_eq!(text_of(&added)?, "note 1 added");
    assert_eq!(stack.add_note_calls(), 1);
    assert_eq!(call_json(&wide, "list_notes").await?, json!(["m2m"]));
    wide.cancel().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The stack: dev issuer + rmcp server behind McpAuth, on loopback
// ---------------------------------------------------------------------------------------------

/// Issue 10: Bob's valid token on Alice's `Mcp-Session-Id` must not reach her session: `404`
/// as if it did not exist, for POST, the GET event stream and DELETE alike; Alice goes on.
#[tokio::test]
async fn a_session_belongs_to_the_principal_it_was_created_for() -> TestResult {
    let stack = Stack::start().await?;
    let alice = stack.mint_for(Some("alice"), None, &["mcp:read"]);
    let bob = stack.mint_for(Some("bob"), None, &["mcp:read"]);
    let session = stack.raw_session(&alice).await?;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();

    for method in [
        reqwest::Method::POST,
        reqwest::Method::GET,
        reqwest::Method::DELETE,
    ] {
        let body = (method == reqwest::Method::POST).then_some(list.as_str());
        let response = stack
            .on_session(method.clone(), &bob, &session, body)
            .await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
        let text = response.text().await?;
        assert!(text.contains("session_not_found"), "{method}: {text}");
    }
    // Alice's session is untouched (Bob's DELETE did not reach it).
    let response = stack
        .on_session(reqwest::Method::POST, &alice, &session, Some(&list))
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await?.contains("whoami"));
    // A session id nobody was given: 404 for Alice too.
    let response = stack
        .on_session(
            reqwest::Method::POST,
            &alice,
            "made-up-session",
            Some(&list),
        )
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Control: with session binding off, Bob's token reaches Alice's session (what the
    // default prevents).
    let open = Stack::start_with(|auth| auth.session_binding(false)).await?;
    let alice = open.mint_for(Some("alice"), None, &["mcp:read"]);
    let bob = open.mint_for(Some("bob"), None, &["mcp:read"]);
    let session = open.raw_session(&alice).await?;
    let response = open
        .on_session(reqwest::Method::POST, &bob, &session, Some(&list))
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}

/// Issue 10: callers whose token names no subject and no client are refused by the notes
/// tools, never pooled into one bucket; client-only callers keep separate notes.
#[tokio::test]
async fn callers_without_a_principal_are_refused_not_pooled() -> TestResult {
    let stack = Stack::start().await?;
    let scopes = ["mcp:read", "notes:write"];
    let anonymous = stack.mint_for(None, None, &scopes);
    let session = stack.raw_session(&anonymous).await?;
    let answer = stack
        .call_tool(&anonymous, &session, "add_note", json!({"text": "secret"}))
        .await?;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("names neither")),
        "{answer}"
    );
    let answer = stack
        .call_tool(&anonymous, &session, "list_notes", json!({}))
        .await?;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");

    // Control: tokens that name only a client work, each client with its own notes.
    let (one, other) = (
        stack.mint_for(None, Some("client-one"), &scopes),
        stack.mint_for(None, Some("client-two"), &scopes),
    );
    let (s1, s2) = (
        stack.raw_session(&one).await?,
        stack.raw_session(&other).await?,
    );
    let answer = stack
        .call_tool(&one, &s1, "add_note", json!({"text": "from one"}))
        .await?;
    assert!(answer.get("error").is_none(), "{answer}");
    let mine = stack.call_tool(&one, &s1, "list_notes", json!({})).await?;
    assert!(mine.to_string().contains("from one"), "{mine}");
    let theirs = stack
        .call_tool(&other, &s2, "list_notes", json!({}))
        .await?;
    assert!(!theirs.to_string().contains("from one"), "{theirs}");
    Ok(())
}

struct Stack {
    issuer: DevIssuer,
    url: String,
    log: Log,
    add_note_calls: Arc<AtomicUsize>,
    http: reqwest::Client,
}

/// What the server answered, seen from outside the layer.
#[derive(Debug, Clone)]
struct Entry {
    path: String,
    authorized: bool,
    status: StatusCode,
}

type Log = Arc<Mutex<Vec<Entry>>>;

/// An rmcp client authorized through the authorization-code flow, with its OAuth state.
struct CodeClient {
    service: McpClient,
    auth: AuthClient<reqwest::Client>,
}

impl Stack {
    async fn start() -> Result<Self, BoxError> {
        Self::start_with(|auth| auth).await
    }

    /// A stack whose layer configuration `configure` changes.
    async fn start_with(
        configure: impl FnOnce(McpAuthBuilder) -> McpAuthBuilder,
    ) -> Result<Self, BoxError> {
        let issuer = DevIssuer::builder()
            .client(M2M_ID, M2M_SECRET)
            .subject(USER)
            .start()
            .await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}/mcp");

        let auth = configure(
            McpAuth::builder(url.clone())
                .authorization_server(issuer.issuer())
                .verifier(JwtVerifier::discover(issuer.issuer())?)
                .required_scopes(["mcp:read"])
                .tool_scopes("add_note", ["notes:write"]),
        )
        .build()?;
        let add_note_calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&add_note_calls);
        let log = Log::default();
        let recorder = Arc::clone(&log);
        let app = notes_server::router(notes_server::server_config(&url, addr))
            .layer(middleware::from_fn(move |request: Request, next: Next| {
                let counter = Arc::clone(&counter);
                async move { guard(counter, request, next).await }
            }))
            .layer(auth)
            .layer(middleware::from_fn(move |request: Request, next: Next| {
                let log = Arc::clone(&recorder);
                async move { record(log, request, next).await }
            }));
        tokio::spawn(async move { axum::serve(listener, app).await });

        Ok(Self {
            issuer,
            url,
            log,
            add_note_calls,
            http: reqwest::Client::new(),
        })
    }

    fn log(&self) -> Vec<Entry> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn add_note_calls(&self) -> usize {
        self.add_note_calls.load(Ordering::SeqCst)
    }

    async fn connect(&self, auth: AuthClient<reqwest::Client>) -> Result<McpClient, BoxError> {
        let transport = StreamableHttpClientTransport::with_client(
            auth,
            StreamableHttpClientTransportConfig::with_uri(self.url.as_str()),
        );
        Ok(ClientConfig::default().serve(transport).await?)
    }

    async fn client_credentials_client(&self, scopes: &[&str]) -> Result<McpClient, BoxError> {
        let mut oauth = OAuthState::new(self.url.as_str(), None).await?;
        oauth
            .authenticate_client_credentials(ClientCredentialsConfig::ClientSecret {
                client_id: M2M_ID.to_owned(),
                client_secret: M2M_SECRET.to_owned(),
                scopes: scopes.iter().map(|&scope| scope.to_owned()).collect(),
                resource: Some(self.url.clone()),
            })
            .await?;
        let manager = oauth
            .into_authorization_manager()
            .ok_or("client_credentials did not end in the authorized state")?;
        self.connect(AuthClient::new(reqwest::Client::new(), manager))
            .await
    }

    /// The reactive flow of an MCP client that knows only the URL: connect without a token,
    /// take the challenge from the 401, authorize (registering itself), connect again.
    ///
    /// `scopes`: what to ask for; `None` lets rmcp choose from the challenge and the metadata.
    async fn authorization_code_client(
        &self,
        scopes: Option<&[&str]>,
    ) -> Result<CodeClient, BoxError> {
        let err = ClientConfig::default()
            .serve(StreamableHttpClientTransport::from_uri(self.url.as_str()))
            .await
            .expect_err("connecting without a token must fail");
        let challenge = auth_required_challenge(&err)?;
        let params = challenge_params(&challenge);
        assert_eq!(params.get("error"), None, "no credentials: no error code");
        assert_eq!(params["scope"], "mcp:read");
        assert_eq!(
            params["resource_metadata"],
            self.url
                .replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
        );

        let mut oauth = OAuthState::new(self.url.as_str(), None).await?;
        let mut request = AuthorizationRequest::new(REDIRECT_URI)
            .with_client_name("mcp-auth e2e")
            .with_challenge(challenge);
        if let Some(scopes) = scopes {
            request = request.with_scopes(scopes.iter().copied());
        }
        oauth.start_authorization(request).await?;
        let authorization_url = oauth.get_authorization_url().await?;
        let requested = query(&authorization_url)?;
        match scopes {
            Some(scopes) => assert_eq!(requested["scope"], scopes.join(" ")),
            None => assert!(
                requested["scope"]
                    .split(' ')
                    .any(|scope| scope == "mcp:read"),
                "the challenged scope is requested: {requested:?}"
            ),
        }
        assert_eq!(requested["resource"], self.url);
        assert_eq!(requested["code_challenge_method"], "S256");
        let callback = approve(&authorization_url).await?;
        assert_eq!(callback["iss"], self.issuer.issuer());
        let mut location = Url::parse(REDIRECT_URI)?;
        location.query_pairs_mut().extend_pairs(&callback);
        oauth.handle_callback_url(location.as_str()).await?;

        let manager = oauth
            .into_authorization_manager()
            .ok_or("authorization did not end in the authorized state")?;
        let auth = AuthClient::new(reqwest::Client::new(), manager);
        let service = self.connect(auth.clone()).await?;
        Ok(CodeClient { service, auth })
    }

    /// A token for this resource naming `subject` and `client` (either may be absent).
    fn mint_for(&self, subject: Option<&str>, client: Option<&str>, scopes: &[&str]) -> String {
        let mut token = self
            .issuer
            .token()
            .without_claim("sub")
            .scopes(scopes.iter().copied())
            .audience(self.url.as_str());
        if let Some(subject) = subject {
            token = token.subject(subject);
        }
        if let Some(client) = client {
            token = token.client_id(client);
        }
        token.sign()
    }

    /// A raw request of `method` on an existing session, as `token`.
    async fn on_session(
        &self,
        method: reqwest::Method,
        token: &str,
        session: &str,
        body: Option<&str>,
    ) -> Result<reqwest::Response, BoxError> {
        let mut request = self
            .http
            .request(method, &self.url)
            .bearer_auth(token)
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", PROTOCOL_VERSION);
        if let Some(body) = body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.to_owned());
        }
        Ok(request.send().await?)
    }

    /// A `tools/call` on a session, answered as JSON-RPC (from an SSE or a JSON body).
    async fn call_tool(
        &self,
        token: &str,
        session: &str,
        tool: &str,
        arguments: Value,
    ) -> Result<Value, BoxError> {
        let body = json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": { "name": tool, "arguments": arguments },
        })
        .to_string();
        let response = self
            .on_session(reqwest::Method::POST, token, session, Some(&body))
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
        json_rpc_answer(&response.text().await?)
    }

    /// A token straight from the issuer's token builder, for this resource.
    fn mint(&self, scopes: &[&str]) -> String {
        self.issuer
            .token()
            .subject("bob")
            .scopes(scopes.iter().copied())
            .audience(self.url.as_str())
            .sign()
    }

    /// A raw `POST /mcp`; `session` is an `Mcp-Session-Id` from [`Self::raw_session`].
    async fn post_mcp(
        &self,
        token: &str,
        content_type: &str,
        body: &str,
        session: Option<&str>,
    ) -> Result<reqwest::Response, BoxError> {
        let mut request = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ACCEPT, "application/json, text/event-stream")
            .body(body.to_owned());
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", PROTOCOL_VERSION);
        }
        Ok(request.send().await?)
    }

    /// An initialized MCP session opened over raw HTTP; returns its `Mcp-Session-Id`.
    async fn raw_session(&self, token: &str) -> Result<String, BoxError> {
        let initialize = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": { "name": "raw", "version": "1.0" },
            },
        });
        let response = self
            .post_mcp(token, "application/json", &initialize.to_string(), None)
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
        let session = response
            .headers()
            .get("mcp-session-id")
            .ok_or("initialize answered without Mcp-Session-Id")?
            .to_str()?
            .to_owned();
        let body = response.text().await?;
        assert!(body.contains(PROTOCOL_VERSION), "{body}");
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let response = self
            .post_mcp(
                token,
                "application/json",
                &initialized.to_string(),
                Some(&session),
            )
            .await?;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        Ok(session)
    }

    /// Issue 6: `Bearer error="insufficient_scope", scope="mcp:read notes:write",
    /// resource_metadata="…"`, every parameter checked.
    fn assert_step_up_challenge(&self, challenge: &str) {
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        let params = challenge_params(challenge);
        assert_eq!(params["error"], "insufficient_scope", "{challenge}");
        assert_eq!(params["scope"], "mcp:read notes:write", "{challenge}");
        assert_eq!(
            params["resource_metadata"],
            self.url
                .replace("/mcp", "/.well-known/oauth-protected-resource/mcp"),
            "{challenge}"
        );
        let known = ["error", "error_description", "scope", "resource_metadata"];
        assert!(
            params.keys().all(|name| known.contains(&name.as_str())),
            "{challenge}"
        );
    }
}

/// The JSON-RPC message of an answer: the body itself, or the first SSE `data:` line that
/// holds one.
fn json_rpc_answer(body: &str) -> Result<Value, BoxError> {
    if let Ok(message) = serde_json::from_str(body) {
        return Ok(message);
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .find_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .ok_or_else(|| format!("no JSON-RPC message in {body:?}").into())
}

async fn record(log: Log, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let authorized = request.headers().contains_key(header::AUTHORIZATION);
    let response = next.run(request).await;
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Entry {
            path,
            authorized,
            status: response.status(),
        });
    response
}

/// Between the layer and the MCP server: counts the `tools/call` requests for `add_note` that
/// get through (so a test can show a refused one never reached the tool), and refuses any
/// request that still carries `Authorization` (no token passthrough).
async fn guard(add_note_calls: Arc<AtomicUsize>, request: Request, next: Next) -> Response {
    if request.headers().contains_key(header::AUTHORIZATION) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Authorization reached the MCP server",
        )
            .into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let calls_add_note = |message: &Value| {
        message["method"] == "tools/call" && message["params"]["name"] == "add_note"
    };
    let counted = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(batch)) => batch.iter().filter(|m| calls_add_note(m)).count(),
        Ok(message) => usize::from(calls_add_note(&message)),
        Err(_) => 0,
    };
    add_note_calls.fetch_add(counted, Ordering::SeqCst);
    next.run(Request::from_parts(parts, Body::from(body))).await
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Calls `tool` and parses its single text content as JSON.
async fn call_json(client: &McpClient, tool: &'static str) -> Result<Value, BoxError> {
    let result = client.call_tool(CallToolRequestParams::new(tool)).await?;
    Ok(serde_json::from_str(&text_of(&result)?)?)
}

fn tools_call_add_note() -> String {
    json!({
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": { "name": "add_note", "arguments": { "text": "sneaky" } },
    })
    .to_string()
}

/// Plays the user agent at the auto-approving dev `/authorize`: one GET, no redirects
/// followed, and the parameters of the redirect back to the client.
async fn approve(authorization_url: &str) -> Result<BTreeMap<String, String>, BoxError> {
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()?;
    let response = browser.get(authorization_url).send().await?;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[header::LOCATION].to_str()?;
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    let params = query(location)?;
    assert_eq!(params["state"], query(authorization_url)?["state"]);
    assert!(!params["code"].is_empty());
    Ok(params)
}
