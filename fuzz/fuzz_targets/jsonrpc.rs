//! The JSON-RPC body peek against `serde_json::Value`, the reading an MCP server makes: every
//! method, tool name, resource URI and completion reference the peek reports is the one the
//! JSON holds, and nothing is reported for a message that has none.
//!
//! Input: the request body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth::fuzzing::{self, Call};
use serde_json::Value;

/// A member that is a string.
fn string_member<'a>(object: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Value::as_str)
}

type Reading<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<[Option<&'a str>; 3]>,
);

/// The message as a server reads it: `method`, and `params.name` / `params.uri` /
/// `params.ref`'s `type`, `name` and `uri` when `params` (and `ref`) are objects. `None` for
/// a message that is not an object.
fn server_reading(message: &Value) -> Option<Reading<'_>> {
    let object = message.as_object()?;
    let params = object.get("params").and_then(Value::as_object);
    let reference = params
        .and_then(|p| p.get("ref"))
        .and_then(Value::as_object)
        .map(|r| ["type", "name", "uri"].map(|member| string_member(r, member)));
    Some((
        string_member(object, "method"),
        params.and_then(|p| string_member(p, "name")),
        params.and_then(|p| string_member(p, "uri")),
        reference,
    ))
}

fn peek_reading(call: &Call) -> Reading<'_> {
    (
        call.method.as_deref(),
        call.name.as_deref(),
        call.uri.as_deref(),
        call.reference
            .as_ref()
            .map(|r| [r[0].as_deref(), r[1].as_deref(), r[2].as_deref()]),
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok((batch, calls)) = fuzzing::jsonrpc_peek(data) else {
        return;
    };
    let first = data.iter().find(|b| !b.is_ascii_whitespace());
    assert_eq!(
        batch,
        first == Some(&b'['),
        "batch is decided by the first byte"
    );
    let value = match serde_json::from_slice::<Value>(data) {
        Ok(value) => value,
        // Limits of this parser, not of JSON: the peek walks skipped values without recursion,
        // and does not convert skipped numbers (`1e400`) or strings (`"\ud800"`, an escaped
        // lone surrogate, reported as one of the last three) that the JSON grammar allows and
        // `Value` cannot hold. A server that refuses such a body does no harm. (Invalid UTF-8
        // the peek refuses itself.)
        Err(err)
            if [
                "recursion limit",
                "number out of range",
                "lone leading surrogate",
                "unexpected end of hex escape",
                "invalid unicode code point",
            ]
            .iter()
            .any(|limit| err.to_string().contains(limit)) =>
        {
            assert!(std::str::from_utf8(data).is_ok());
            return;
        }
        Err(err) => panic!("the peek accepted a body that is not JSON: {err}"),
    };
    let messages: Vec<&Value> = match (&value, batch) {
        (Value::Array(items), true) => items.iter().collect(),
        (other, false) => vec![other],
        (other, true) => panic!("a batch that is not an array: {other}"),
    };
    assert_eq!(messages.len(), calls.len());
    assert!(calls.len() <= fuzzing::MAX_BATCH.max(1));
    for (message, call) in messages.iter().zip(&calls) {
        let Some(server) = server_reading(message) else {
            panic!("the peek read {call:?} from a message that is not an object: {message}");
        };
        assert_eq!(peek_reading(call), server, "{message}");
    }
});
