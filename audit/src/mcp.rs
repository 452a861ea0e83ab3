//! The MCP side of the requests: JSON-RPC messages as an MCP client sends them, and the
//! JSON-RPC response in an answer (a JSON body or a `text/event-stream`).

use serde_json::{Value, json};

/// The protocol revision the audit's `initialize` asks for.
pub(crate) const PROTOCOL_VERSION: &str = "2025-06-18";

/// The `MCP-Protocol-Version` header, sent after `initialize`.
pub(crate) const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";

/// The `Mcp-Session-Id` header of servers with sessions.
pub(crate) const SESSION_HEADER: &str = "mcp-session-id";

pub(crate) fn initialize(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "mcp-auth-audit", "version": env!("CARGO_PKG_VERSION") },
        },
    })
}

pub(crate) fn initialized() -> Value {
    json!({ "jsonrpc": "2.0", "method": "notifications/initialized" })
}

pub(crate) fn tools_list(id: u64) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list" })
}

pub(crate) fn tools_call(id: u64, name: &str, arguments: &Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": { "name": name, "arguments": arguments },
    })
}

/// The first JSON-RPC response (a message with `result` or `error`) in `body`: the body
/// itself when it is JSON, else the `data:` of an SSE event.
pub(crate) fn response_message(body: &[u8]) -> Option<Value> {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        return is_response(&value).then_some(value);
    }
    let text = String::from_utf8_lossy(body);
    // An event's data is its `data:` lines joined by newlines; events end at a blank line.
    let mut data = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if let Ok(value) = serde_json::from_str::<Value>(&data)
                && is_response(&value)
            {
                return Some(value);
            }
            data.clear();
        } else if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        }
    }
    None
}

fn is_response(value: &Value) -> bool {
    value.get("result").is_some() || value.get("error").is_some()
}

/// A short description of a JSON-RPC response: `result` or `error -32602: message`.
pub(crate) fn describe(message: &Value) -> String {
    match message.get("error") {
        Some(error) => format!(
            "JSON-RPC error {}: {}",
            error.get("code").unwrap_or(&Value::Null),
            error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ),
        None if message["result"]["isError"] == true => {
            "a tool result with isError: true".to_owned()
        }
        None => "a JSON-RPC result".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_sse_answers_give_the_response() {
        let json = br#"{"jsonrpc":"2.0","id":1,"result":{"ok":true}}"#;
        assert_eq!(response_message(json).unwrap()["result"]["ok"], true);
        let sse = b"event: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\r\ndata: \"error\":{\"code\":-1}}\r\n\r\n";
        assert_eq!(response_message(sse).unwrap()["error"]["code"], -1);
        let notification_first =
            b"data: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\ndata: {\"id\":2,\"result\":{}}\n";
        assert_eq!(response_message(notification_first).unwrap()["id"], 2);
        assert!(response_message(b"data: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\n").is_none());
        assert!(response_message(b"Unauthorized").is_none());
    }
}
