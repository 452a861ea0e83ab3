//! A bounded, minimal peek at JSON-RPC request bodies: `method`, `params.name`, `params.uri`
//! and `completion/complete`'s `params.ref`.
//!
//! Only what the per-operation policy needs is extracted; everything else is skipped without
//! being built. The parse is strict where leniency could let the layer and the MCP server read
//! one body two ways: duplicate keys and non-string `method`/`name`/`uri` (in `params` and in
//! an object `params.ref`) are errors.

use std::{borrow::Cow, fmt};

use serde::{
    Deserialize, Deserializer,
    de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor, value::MapAccessDeserializer},
};

/// One JSON-RPC message, as far as the policy is concerned.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Call<'a> {
    #[serde(default, borrow)]
    pub(crate) method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) params: Option<Params<'a>>,
}

/// `params.name`, `params.uri` and `params.ref`, when `params` is an object.
#[derive(Debug, Default)]
pub(crate) struct Params<'a> {
    pub(crate) name: Option<Cow<'a, str>>,
    pub(crate) uri: Option<Cow<'a, str>>,
    /// `params.ref` when it is an object: what a `completion/complete` completes.
    pub(crate) reference: Option<Reference<'a>>,
}

/// `completion/complete`'s `params.ref`: `{"type": "ref/prompt", "name"}` or
/// `{"type": "ref/resource", "uri"}` (a URI template).
#[derive(Debug, Default)]
pub(crate) struct Reference<'a> {
    pub(crate) kind: Option<Cow<'a, str>>,
    pub(crate) name: Option<Cow<'a, str>>,
    pub(crate) uri: Option<Cow<'a, str>>,
}

/// The value of member `key` into `slot`: a string, and the member's first occurrence.
fn read_string<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: &str,
    slot: &mut Option<Cow<'de, str>>,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(duplicate(key));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

fn duplicate<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("duplicate field `{key}`"))
}

/// `params.ref`: a [`Reference`] when it is an object, nothing when it is any other value
/// (only `completion/complete` gives it a meaning).
struct MaybeReference<'a>(Option<Reference<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for MaybeReference<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ReferenceVisitor(std::marker::PhantomData))
    }
}

struct ReferenceVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ReferenceVisitor<'a> {
    type Value = MaybeReference<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut reference = Reference::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "type" => read_string(&mut map, &key, &mut reference.kind)?,
                "name" => read_string(&mut map, &key, &mut reference.name)?,
                "uri" => read_string(&mut map, &key, &mut reference.uri)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(MaybeReference(Some(reference)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(MaybeReference(None))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(MaybeReference(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(MaybeReference(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(MaybeReference(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(MaybeReference(None))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(MaybeReference(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(MaybeReference(None))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Params<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParamsVisitor(std::marker::PhantomData))
    }
}

struct ParamsVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ParamsVisitor<'a> {
    type Value = Params<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON-RPC params (an object or an array)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut params = Params::default();
        let mut seen_ref = false;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "name" => read_string(&mut map, &key, &mut params.name)?,
                "uri" => read_string(&mut map, &key, &mut params.uri)?,
                "ref" => {
                    if seen_ref {
                        return Err(duplicate(&key));
                    }
                    seen_ref = true;
                    params.reference = map.next_value::<MaybeReference<'de>>()?.0;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(params)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Params::default())
    }
}

/// Why a body could not be read as JSON-RPC.
#[derive(Debug)]
pub(crate) enum PeekError {
    Json(serde_json::Error),
    Utf8(std::str::Utf8Error),
}

impl fmt::Display for PeekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Category and position only: the message could quote the body.
        match self {
            Self::Json(err) => write!(
                f,
                "the request body is not a valid JSON-RPC message ({:?} error at line {}, column {})",
                err.classify(),
                err.line(),
                err.column()
            ),
            Self::Utf8(err) => write!(
                f,
                "the request body is not valid UTF-8 (at byte {})",
                err.valid_up_to()
            ),
        }
    }
}

/// The most messages a batch may hold. Batches left MCP in 2025-06-18; the bound keeps a
/// body of empty objects from costing many times its size.
pub(crate) const MAX_BATCH: usize = 100;

/// A batch of at most [`MAX_BATCH`] messages.
struct Batch<'a>(Vec<Call<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Batch<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BatchVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for BatchVisitor<'a> {
            type Value = Batch<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC batch")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut calls = Vec::new();
                while let Some(Message(call)) = seq.next_element::<Message<'de>>()? {
                    if calls.len() == MAX_BATCH {
                        return Err(de::Error::custom("too many messages in the batch"));
                    }
                    calls.push(call);
                }
                Ok(Batch(calls))
            }
        }
        deserializer.deserialize_seq(BatchVisitor(std::marker::PhantomData))
    }
}

/// One message of a batch: a JSON object. (A derived struct also reads an array, by
/// position; a server reads no call from one, so the layer must not either.)
struct Message<'a>(Call<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Message<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MessageVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for MessageVisitor<'a> {
            type Value = Message<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC message (an object)")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Call::deserialize(MapAccessDeserializer::new(map)).map(Message)
            }
        }
        deserializer.deserialize_map(MessageVisitor(std::marker::PhantomData))
    }
}

/// The messages of one body.
#[derive(Debug)]
pub(crate) struct Messages<'a> {
    pub(crate) calls: Vec<Call<'a>>,
    /// Whether the body was a JSON-RPC batch (an array), even of one message.
    pub(crate) batch: bool,
}

/// Reads the messages of a body: one message, or a batch.
pub(crate) fn peek(body: &[u8]) -> Result<Messages<'_>, PeekError> {
    // JSON text is UTF-8 (RFC 8259 §8.1). `serde_json` checks the strings it builds, not the
    // ones it skips, so the whole body is checked first: a server refuses (or decodes its own
    // way) a body that is not, and the layer must not read it.
    let body = std::str::from_utf8(body).map_err(PeekError::Utf8)?;
    let first = body.bytes().find(|b| !b.is_ascii_whitespace());
    if first == Some(b'[') {
        let Batch(calls) = serde_json::from_str::<Batch<'_>>(body).map_err(PeekError::Json)?;
        Ok(Messages { calls, batch: true })
    } else {
        let call = serde_json::from_str::<Call<'_>>(body).map_err(PeekError::Json)?;
        Ok(Messages {
            calls: vec![call],
            batch: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> (Option<String>, Option<String>, Option<String>) {
        let calls = peek(body.as_bytes()).unwrap().calls;
        assert_eq!(calls.len(), 1);
        let call = calls.into_iter().next().unwrap();
        let params = call.params.unwrap_or_default();
        (
            call.method.map(Cow::into_owned),
            params.name.map(Cow::into_owned),
            params.uri.map(Cow::into_owned),
        )
    }

    #[test]
    fn reads_a_completion_reference_when_it_is_an_object() {
        let reference = |body: &str| {
            let calls = peek(body.as_bytes()).map(|m| m.calls);
            calls.map(|calls| {
                let params = calls.into_iter().next().unwrap().params.unwrap();
                params
                    .reference
                    .map(|r| [r.kind, r.name, r.uri].map(|m| m.map(Cow::into_owned)))
            })
        };
        let prompt = r#"{"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p","x":[1]},"argument":{"name":"a","value":"b"}}}"#;
        assert_eq!(
            reference(prompt).unwrap(),
            Some([Some("ref/prompt".into()), Some("p".into()), None])
        );
        let template = r#"{"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"file:///{p}"}}}"#;
        assert_eq!(
            reference(template).unwrap(),
            Some([
                Some("ref/resource".into()),
                None,
                Some("file:///{p}".into())
            ])
        );
        // Any other value of `ref` means nothing here.
        for other in [r#""s""#, "1", "-1", "1.5", "true", "null", "[1,{}]"] {
            let body = format!(r#"{{"method":"x","params":{{"ref":{other}}}}}"#);
            assert_eq!(reference(&body).unwrap(), None, "{other}");
        }
        // Strict where it counts: a non-string member, a duplicate member or `ref`.
        for bad in [
            r#"{"method":"x","params":{"ref":{"type":1}}}"#,
            r#"{"method":"x","params":{"ref":{"name":"a","name":"b"}}}"#,
            r#"{"method":"x","params":{"ref":{},"ref":{}}}"#,
            r#"{"method":"x","params":{"ref":1,"ref":{"name":"b"}}}"#,
        ] {
            assert!(reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extracts_method_name_and_uri() {
        let (m, n, u) = one(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_file","arguments":{"path":"/x","deep":[1,{"a":null}]}}}"#,
        );
        assert_eq!(m.as_deref(), Some("tools/call"));
        assert_eq!(n.as_deref(), Some("delete_file"));
        assert_eq!(u, None);
        let (m, _, u) = one(
            r#"{"jsonrpc":"2.0","id":"a","method":"resources/read","params":{"uri":"file:///a"}}"#,
        );
        assert_eq!(m.as_deref(), Some("resources/read"));
        assert_eq!(u.as_deref(), Some("file:///a"));
    }

    #[test]
    fn escapes_are_decoded_like_the_server_does() {
        let (m, n, _) = one(r#"{"method":"tools\/call","params":{"name":"delete\u005ffile"}}"#);
        assert_eq!(m.as_deref(), Some("tools/call"));
        assert_eq!(n.as_deref(), Some("delete_file"));
    }

    #[test]
    fn responses_and_notifications() {
        let (m, n, _) = one(r#"{"jsonrpc":"2.0","id":1,"result":{"name":"x"}}"#);
        assert_eq!((m, n), (None, None));
        let (m, _, _) = one(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert_eq!(m.as_deref(), Some("notifications/initialized"));
        let (m, n, _) = one(r#"{"method":"x","params":[1,2]}"#);
        assert_eq!((m.as_deref(), n), (Some("x"), None));
    }

    #[test]
    fn unknown_members_are_skipped() {
        let (m, n, _) = one(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","extra":{"name":"x"},"params":{"name":"a","_meta":{}}}"#,
        );
        assert_eq!(
            (m.as_deref(), n.as_deref()),
            (Some("tools/call"), Some("a"))
        );
    }

    #[test]
    fn batches() {
        let messages =
            peek(br#" [{"method":"tools/call","params":{"name":"a"}},{"method":"tools/list"}]"#)
                .unwrap();
        assert!(messages.batch);
        let calls = messages.calls;
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].method.as_deref(), Some("tools/list"));
        assert!(peek(b"[]").unwrap().calls.is_empty());
        assert!(peek(br#"[{"method":"x"}]"#).unwrap().batch);
    }

    #[test]
    fn batch_messages_must_be_objects() {
        // Found by the `jsonrpc` fuzz target: a derived struct also reads a JSON array, by
        // position, so `[["tools/call",{"name":"x"}]]` was a call of `x` to the layer and no
        // call at all to a server.
        for body in [
            r#"[["tools/call",{"name":"delete_file"}]]"#,
            "[[]]",
            r#"[{"method":"tools/list"},["tools/call"]]"#,
        ] {
            assert!(peek(body.as_bytes()).is_err(), "{body}");
        }
        // Control: the same calls as objects.
        let messages = peek(
            br#"[{"method":"tools/call","params":{"name":"delete_file"}},{"method":"tools/list"}]"#,
        )
        .unwrap();
        assert_eq!(messages.calls.len(), 2);
        assert_eq!(
            messages.calls[0].params.as_ref().unwrap().name.as_deref(),
            Some("delete_file")
        );
    }

    #[test]
    fn batches_are_bounded() {
        let at_limit = format!("[{}]", vec!["{}"; MAX_BATCH].join(","));
        assert_eq!(peek(at_limit.as_bytes()).unwrap().calls.len(), MAX_BATCH);
        let over = format!("[{}]", vec!["{}"; MAX_BATCH + 1].join(","));
        assert!(peek(over.as_bytes()).is_err());
    }

    #[test]
    fn ambiguous_or_malformed_bodies_are_errors() {
        for body in [
            r#"{"method":"tools/list","method":"tools/call"}"#,
            r#"{"method":"tools/call","params":{"name":"a","name":"b"}}"#,
            r#"{"method":"tools/call","params":{"name":1}}"#,
            r#"{"method":5}"#,
            r#"{"method":"tools/call","params":{"name":"a"}"#,
            r#"{"method":"tools/call"} trailing"#,
            r#""a string""#,
            "",
            "not json",
        ] {
            assert!(peek(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn deep_nesting_in_skipped_values_does_not_crash() {
        let body = format!(
            r#"{{"method":"x","params":{{"a":{}{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        // Skipped values are walked without recursion; the method is still found.
        let calls = peek(body.as_bytes()).unwrap().calls;
        assert_eq!(calls[0].method.as_deref(), Some("x"));
        // Where values are built (`method`), nesting is refused by type.
        let nested = format!(
            r#"{{"method":{}1{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(peek(nested.as_bytes()).is_err());
    }

    #[test]
    fn bodies_that_are_not_utf_8_are_errors() {
        // Found by the `jsonrpc` fuzz target: invalid UTF-8 in a member the peek skips was
        // accepted, though JSON text is UTF-8 (RFC 8259 §8.1) and a server's parser refuses
        // the body, or, if lenient, decodes it its own way.
        for body in [
            &b"{\"\":{\"\xff\":true}}"[..],
            b"{\"method\":\"tools/list\",\"x\":\"\xc3\"}",
            b"[{\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":{\"p\":\"\xed\xa0\x80\"}}}]",
        ] {
            assert!(peek(body).is_err(), "{body:?}");
        }
        // Control: the same bodies in valid UTF-8.
        for body in [
            "{\"\":{\"\u{ff}\":true}}",
            "{\"method\":\"tools/list\",\"x\":\"\u{c3}\"}",
        ] {
            assert!(peek(body.as_bytes()).is_ok(), "{body:?}");
        }
        let err = peek(b"{\"method\":\"secret\xff\"}").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn error_text_does_not_quote_the_body() {
        let err = peek(br#"{"method":"secret-value-here"#).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
