//! rmcp's OAuth client (Rust) against the quickstart trusting `oidc-provider`, an
//! OpenID-certified authorization server: scenario C of `tests/interop/run.sh`, which starts
//! both (`tests/interop/oidc_as.mjs`, `examples/quickstart.rs`) and runs these tests with
//!
//! ```sh
//! MCP_AUTH_INTEROP_URL=http://127.0.0.1:<port>/mcp \
//!     cargo test --all-features --test interop_oidc -- --ignored
//! ```
//!
//! They are `#[ignore]`d because they need that stack; nothing here starts a server. The
//! client is given the server URL and nothing else (plus, for `client_credentials`, the
//! credentials `oidc_as.mjs` pre-registers): it finds the authorization server through the
//! `401` challenge and the protected-resource metadata, registers itself (RFC 7591), and is
//! sent through oidc-provider's headless login and consent by a user agent that keeps
//! cookies, as a browser does. rmcp checks `state` and the RFC 9207 `iss` of the redirect.

mod rmcp_support;

use std::collections::BTreeMap;

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

use rmcp_support::{
    auth_required_challenge, challenge_params, insufficient_scope_challenge, query, text_of,
    tool_names,
};
use url::Url;

/// The MCP endpoint of the quickstart under test.
const URL_VAR: &str = "MCP_AUTH_INTEROP_URL";
/// Where the client says the authorization server should send the user back. Nothing listens
/// there: the user agent reads the redirect instead of following it.
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
/// The user `oidc_as.mjs` logs in.
const USER: &str = "alice";
/// The `client_credentials` client `oidc_as.mjs` pre-registers.
const M2M_ID: &str = "m2m";
const M2M_SECRET: &str = "m2m-secret";
/// Redirects the user agent follows before giving up (oidc-provider takes four: login, then
/// consent, each an interaction and a resume).
const MAX_REDIRECTS: usize = 10;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type TestResult = Result<(), BoxError>;
type McpClient = RunningService<RoleClient, ClientConfig>;

#[tokio::test]
#[ignore = "needs the stack of tests/interop/run.sh (scenario C): set MCP_AUTH_INTEROP_URL"]
async fn authorization_code_client_registers_itself_calls_tools_and_steps_up() -> TestResult {
    let url = server_url()?;

    // Connecting without a token: the 401 challenge is where discovery starts.
    let err = ClientConfig::default()
        .serve(StreamableHttpClientTransport::from_uri(url.as_str()))
        .await
        .expect_err("connecting without a token must fail");
    let challenge = auth_required_challenge(&err)?;
    let params = challenge_params(&challenge);
    assert_eq!(params.get("error"), None, "no credentials, no error code");
    assert_eq!(params["scope"], "mcp:read", "{challenge}");
    assert_eq!(
        params["resource_metadata"],
        url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    );

    // rmcp reads the metadata, registers itself and builds the authorization URL. It asks
    // for the challenged scope alone: by default it would add every scope the metadata lists
    // (`notes:write` too) and never need the step-up this test is about.
    let challenged = params["scope"].clone();
    let mut oauth = OAuthState::new(url.as_str(), None).await?;
    oauth
        .start_authorization(
            AuthorizationRequest::new(REDIRECT_URI)
                .with_client_name("mcp-auth interop (rmcp)")
                .with_challenge(challenge)
                .with_scopes(challenged.split(' ')),
        )
        .await?;
    let authorization_url = oauth.get_authorization_url().await?;
    let requested = query(&authorization_url)?;
    println!("authorization URL asks for: {requested:?}");
    assert_eq!(requested["resource"], url);
    assert_eq!(requested["code_challenge_method"], "S256");
    // rmcp adds `offline_access` when the authorization server offers it.
    let asked: Vec<&str> = requested["scope"]
        .split(' ')
        .filter(|&scope| scope != "offline_access")
        .collect();
    assert_eq!(asked.join(" "), challenged);

    let callback = approve(&authorization_url).await?;
    let issuer = callback
        .get("iss")
        .cloned()
        .ok_or("no iss in the redirect")?;
    let mut location = Url::parse(REDIRECT_URI)?;
    location.query_pairs_mut().extend_pairs(&callback);
    oauth.handle_callback_url(location.as_str()).await?;
    let (client_id, _) = oauth.get_credentials().await?;
    println!("registered client {client_id}; issuer {issuer}");
    let manager = oauth
        .into_authorization_manager()
        .ok_or("authorization did not end in the authorized state")?;
    let auth = AuthClient::new(reqwest::Client::new(), manager);
    let client = connect(&url, auth.clone()).await?;

    assert_eq!(
        tool_names(&client).await?,
        ["add_note", "list_notes", "whoami"]
    );
    let me = call_json(&client, CallToolRequestParams::new("whoami")).await?;
    println!("whoami -> {me}");
    assert_eq!(me["subject"], USER);
    assert_eq!(me["client_id"], client_id.as_str());
    assert_eq!(me["issuer"], issuer.as_str());
    assert_eq!(me["scopes"], json!(["mcp:read"]));
    // Notes are kept per user, and other clients of `alice` may have added some.
    let notes = call_json(&client, CallToolRequestParams::new("list_notes")).await?;
    let before = notes.as_array().ok_or("list_notes is not an array")?.len();

    // add_note needs notes:write too: 403, which rmcp reports with the challenge.
    let text = "hello from rmcp through oidc-provider";
    let add_note = CallToolRequestParams::new("add_note").with_arguments(
        json!({ "text": text })
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    let err = client
        .call_tool(add_note.clone())
        .await
        .expect_err("add_note with only mcp:read must be refused");
    let challenge = insufficient_scope_challenge(&err)?;
    println!("add_note -> 403, WWW-Authenticate: {challenge}");
    let params = challenge_params(&challenge);
    assert_eq!(params["error"], "insufficient_scope", "{challenge}");
    assert_eq!(params["scope"], "mcp:read notes:write", "{challenge}");

    // Step up: rmcp asks for the union of what it has and what the challenge names, through
    // the same headless flow, and the running client retries with the new token.
    let upgrade_url = {
        let manager = auth.auth_manager.lock().await;
        manager.request_scope_upgrade(&params["scope"]).await?
    };
    let requested = query(&upgrade_url)?;
    println!("step-up authorization URL asks for: {requested:?}");
    let callback = approve(&upgrade_url).await?;
    {
        let manager = auth.auth_manager.lock().await;
        manager
            .exchange_code_for_token_with_issuer(
                &callback["code"],
                &callback["state"],
                callback.get("iss").map(String::as_str),
            )
            .await?;
    }
    let added = text_of(&client.call_tool(add_note).await?)?;
    println!("add_note after the step-up -> {added}");
    assert_eq!(added, format!("note {} added", before + 1));
    let notes = call_json(&client, CallToolRequestParams::new("list_notes")).await?;
    assert_eq!(
        notes.as_array().and_then(|notes| notes.last()),
        Some(&json!(text))
    );
    let me = call_json(&client, CallToolRequestParams::new("whoami")).await?;
    println!("whoami -> {me}");
    let scopes = me["scopes"].as_array().ok_or("whoami has no scopes")?;
    assert!(scopes.contains(&json!("notes:write")), "{me}");

    client.cancel().await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the stack of tests/interop/run.sh (scenario C): set MCP_AUTH_INTEROP_URL"]
async fn client_credentials_client_finds_the_issuer_and_calls_whoami() -> TestResult {
    let url = server_url()?;
    let mut oauth = OAuthState::new(url.as_str(), None).await?;
    oauth
        .authenticate_client_credentials(ClientCredentialsConfig::ClientSecret {
            client_id: M2M_ID.to_owned(),
            client_secret: M2M_SECRET.to_owned(),
            scopes: vec!["mcp:read".to_owned()],
            resource: Some(url.clone()),
        })
        .await?;
    let manager = oauth
        .into_authorization_manager()
        .ok_or("client_credentials did not end in the authorized state")?;
    let client = connect(&url, AuthClient::new(reqwest::Client::new(), manager)).await?;

    assert_eq!(
        tool_names(&client).await?,
        ["add_note", "list_notes", "whoami"]
    );
    let me = call_json(&client, CallToolRequestParams::new("whoami")).await?;
    println!("whoami -> {me}");
    assert_eq!(me["subject"], M2M_ID);
    assert_eq!(me["client_id"], M2M_ID);
    assert_eq!(me["scopes"], json!(["mcp:read"]));
    let issuer = me["issuer"].as_str().ok_or("whoami has no issuer")?;
    assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");
    call_json(&client, CallToolRequestParams::new("list_notes")).await?;

    client.cancel().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn server_url() -> Result<String, BoxError> {
    std::env::var(URL_VAR).map_err(|_| {
        format!(
            "{URL_VAR} is not set: these tests need the quickstart and oidc-provider that \
             tests/interop/run.sh starts (scenario C)"
        )
        .into()
    })
}

async fn connect(url: &str, auth: AuthClient<reqwest::Client>) -> Result<McpClient, BoxError> {
    let transport = StreamableHttpClientTransport::with_client(
        auth,
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    Ok(ClientConfig::default().serve(transport).await?)
}

/// Plays the user's browser: follows the authorization server's redirects through its
/// headless login and consent, keeping the cookies it sets, up to the redirect to the client,
/// whose parameters it returns.
async fn approve(authorization_url: &str) -> Result<BTreeMap<String, String>, BoxError> {
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()?;
    let mut cookies = CookieJar::default();
    let mut url = Url::parse(authorization_url)?;
    for _ in 0..MAX_REDIRECTS {
        let mut request = browser.get(url.clone());
        if let Some(cookie) = cookies.header() {
            request = request.header(header::COOKIE, cookie);
        }
        let response = request.send().await?;
        cookies.store(&response);
        let status = response.status();
        if !matches!(status, StatusCode::FOUND | StatusCode::SEE_OTHER) {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("{} answered {status}, not a redirect: {body}", url.path()).into());
        }
        let location = response
            .headers()
            .get(header::LOCATION)
            .ok_or("a redirect without Location")?
            .to_str()?;
        url = url.join(location)?;
        if url.as_str().starts_with(REDIRECT_URI) {
            let params = query(url.as_str())?;
            assert_eq!(params.get("error"), None, "{params:?}");
            assert_eq!(params["state"], query(authorization_url)?["state"]);
            assert!(!params["code"].is_empty());
            return Ok(params);
        }
    }
    Err(format!("more than {MAX_REDIRECTS} redirects before the client's redirect URI").into())
}

/// The cookies of one authorization server, by name (paths and expiry are not needed for
/// the few requests of one authorization).
#[derive(Default)]
struct CookieJar(BTreeMap<String, String>);

impl CookieJar {
    fn store(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            let Some((name, value)) = value
                .to_str()
                .ok()
                .and_then(|cookie| cookie.split(';').next())
                .and_then(|pair| pair.split_once('='))
            else {
                continue;
            };
            // An empty value is how a server deletes a cookie.
            if value.is_empty() {
                self.0.remove(name.trim());
            } else {
                self.0.insert(name.trim().to_owned(), value.to_owned());
            }
        }
    }

    fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// Calls a tool and parses its single text content as JSON.
async fn call_json(client: &McpClient, call: CallToolRequestParams) -> Result<Value, BoxError> {
    let result = client.call_tool(call).await?;
    Ok(serde_json::from_str(&text_of(&result)?)?)
}
