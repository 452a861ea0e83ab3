//! The MCP server the examples share: notes per caller, behind `McpAuth`. Each example includes
//! it with `#[path = "support/notes_server.rs"] mod notes_server;`, and so does the end-to-end
//! test (`tests/e2e_rmcp.rs`), which serves [`router`] on an ephemeral port.

use std::{
    collections::HashMap,
    io::{self, Write},
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
};

use axum::Router;
use http::request::Parts;
use mcp_auth::{AuthInfo, McpAuth};
use rmcp::{
    ErrorData, ServerHandler,
    handler::server::{router::tool::ToolRouter, tool::Extension, wrapper::Parameters},
    model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig},
    schemars, tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

/// The scope `add_note` needs on top of the global ones.
pub(crate) const WRITE_SCOPE: &str = "notes:write";

/// The notes of every caller, keyed by [`AuthInfo::principal_key`] (issuer and subject): state
/// is bound to the verified principal, never to a session id.
#[derive(Clone, Default)]
struct Notes(Arc<Mutex<HashMap<String, Vec<String>>>>);

/// The MCP server: one per session, sharing the notes.
#[derive(Clone)]
struct NotesServer {
    notes: Notes,
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct AddNote {
    /// The text of the note.
    text: String,
}

#[tool_router]
impl NotesServer {
    fn new(notes: Notes) -> Self {
        Self {
            notes,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Who is calling: subject, client id and scopes of the access token")]
    async fn whoami(
        &self,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let info = auth_info(&parts)?;
        let body = json!({
            "subject": info.subject(),
            "client_id": info.client_id(),
            "issuer": info.issuer(),
            "scopes": info.scopes(),
        });
        Ok(CallToolResult::success(vec![ContentBlock::json(body)?]))
    }

    #[tool(description = "List your notes")]
    async fn list_notes(
        &self,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let key = principal(auth_info(&parts)?)?;
        let notes = self.notes.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = notes.get(&key).cloned().unwrap_or_default();
        Ok(CallToolResult::success(vec![ContentBlock::json(mine)?]))
    }

    #[tool(description = "Add a note (needs the notes:write scope)")]
    async fn add_note(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(AddNote { text }): Parameters<AddNote>,
    ) -> Result<CallToolResult, ErrorData> {
        // The layer already refused callers without `notes:write` (403 step-up); checking again
        // here keeps the tool safe if it is ever mounted without that rule.
        let info = auth_info(&parts)?;
        if !info.has_scope(WRITE_SCOPE) {
            return Err(ErrorData::invalid_request("notes:write is required", None));
        }
        let key = principal(info)?;
        let count = {
            let mut notes = self.notes.0.lock().unwrap_or_else(PoisonError::into_inner);
            let mine = notes.entry(key).or_default();
            mine.push(text);
            mine.len()
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "note {count} added"
        ))]))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for NotesServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "Notes per caller. `whoami` shows what the access token says about you.",
        )
    }
}

/// The verified principal the layer put into the request extensions.
fn auth_info(parts: &Parts) -> Result<&AuthInfo, ErrorData> {
    parts.extensions.get::<AuthInfo>().ok_or_else(|| {
        ErrorData::internal_error("no AuthInfo: is McpAuth in front of this server?", None)
    })
}

/// The key notes are stored under: the issuer and subject, or, for a token without a subject,
/// the issuer and client id. A token that names neither (RFC 7662 lets an introspection answer
/// omit both) is refused: callers without a principal must never share one bucket.
fn principal(info: &AuthInfo) -> Result<String, ErrorData> {
    match (info.principal_key(), info.client_id()) {
        (Some(key), _) => Ok(key.to_owned()),
        (None, Some(client)) => Ok(format!(
            "client:{}",
            serde_json::json!([info.issuer().unwrap_or_default(), client])
        )),
        (None, None) => Err(ErrorData::invalid_request(
            "this server keeps notes per user or client: the access token names neither (no sub, no client_id)",
            None,
        )),
    }
}

/// rmcp checks `Host` against an allow-list (DNS-rebinding protection): loopback names, the
/// listen address and the resource's host.
fn allowed_hosts(resource: &str, addr: SocketAddr) -> Vec<String> {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for host in [Some(addr.ip().to_string()), url_host(resource)]
        .into_iter()
        .flatten()
    {
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

/// The host of `url`, without brackets for IPv6.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(host, _)| host.to_owned());
    }
    Some(authority.split(':').next()?.to_owned())
}

/// Ctrl-C, or `SIGTERM` on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Prints a `curl` line that initializes an MCP session with `token`, and the ready line.
pub(crate) fn print_try_it(out: &mut impl Write, resource: &str, token: &str) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "# initialize an MCP session (without the Authorization header: 401 with resource_metadata):"
    )?;
    writeln!(
        out,
        "curl -sS -i -X POST {resource} -H 'Content-Type: application/json' \
         -H 'Accept: application/json, text/event-stream' -H \"Authorization: Bearer {token}\" \
         -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":\
         {{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{{}},\
         \"clientInfo\":{{\"name\":\"curl\",\"version\":\"1.0\"}}}}}}'"
    )?;
    writeln!(out)?;
    writeln!(out, "listening; Ctrl-C to stop")?;
    out.flush()
}

/// rmcp's transport configuration for serving `resource` on `addr`; its cancellation token
/// ends rmcp's sessions and open SSE streams.
pub(crate) fn server_config(resource: &str, addr: SocketAddr) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts(resource, addr))
}

/// The notes server at `/mcp`, not yet behind `McpAuth`: add it with `.layer(auth)`.
pub(crate) fn router(config: StreamableHttpServerConfig) -> Router {
    let notes = Notes::default();
    let mcp = StreamableHttpService::new(
        move || Ok(NotesServer::new(notes.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new().nest_service("/mcp", mcp)
}

/// Serves the notes server at `/mcp` behind `auth` until Ctrl-C or `SIGTERM`.
pub(crate) async fn serve(
    listener: TcpListener,
    resource: &str,
    addr: SocketAddr,
    auth: McpAuth,
) -> io::Result<()> {
    let config = server_config(resource, addr);
    let cancel = config.cancellation_token.clone();
    let app = router(config).layer(auth);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Ends rmcp's sessions and open SSE streams, so that the graceful shutdown
            // does not wait for clients that keep a stream open.
            cancel.cancel();
        })
        .await
}
