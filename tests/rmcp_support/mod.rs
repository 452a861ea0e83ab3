//! What the suites that drive rmcp's client share: reading tool results, the errors rmcp's
//! streamable HTTP transport reports for `401` and `403`, and the parameters of a challenge.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use mcp_auth::BoxError;
use rmcp::{
    RoleClient, Service, ServiceError,
    model::CallToolResult,
    service::{ClientInitializeError, RunningService},
    transport::streamable_http_client::StreamableHttpError,
};
use url::Url;

/// The names of the server's tools, sorted.
pub async fn tool_names<S: Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
) -> Result<Vec<String>, BoxError> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await?
        .into_iter()
        .map(|tool| tool.name.into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// The single text content of a successful tool result.
pub fn text_of(result: &CallToolResult) -> Result<String, BoxError> {
    assert_ne!(result.is_error, Some(true), "tool failed: {result:?}");
    match result.content.as_slice() {
        [content] => Ok(content
            .as_text()
            .ok_or("tool result is not text")?
            .text
            .clone()),
        other => Err(format!("expected one content block, got {other:?}").into()),
    }
}

/// The query parameters of `url`.
pub fn query(url: &str) -> Result<BTreeMap<String, String>, BoxError> {
    Ok(Url::parse(url)?.query_pairs().into_owned().collect())
}

/// The rmcp transport error behind a failed call.
pub fn transport_error(err: &ServiceError) -> Option<&StreamableHttpError<reqwest::Error>> {
    match err {
        ServiceError::TransportSend(err) => err.error.downcast_ref(),
        _ => None,
    }
}

/// The `WWW-Authenticate` of the `403 insufficient_scope` behind a failed call.
pub fn insufficient_scope_challenge(err: &ServiceError) -> Result<String, BoxError> {
    match transport_error(err) {
        Some(StreamableHttpError::InsufficientScope(scope)) => {
            Ok(scope.www_authenticate_header.clone())
        }
        _ => Err(format!("expected an insufficient-scope error, got {err:?}").into()),
    }
}

/// The `WWW-Authenticate` of the `401` behind a failed initialization.
pub fn auth_required_challenge(err: &ClientInitializeError) -> Result<String, BoxError> {
    if let ClientInitializeError::TransportError { error, .. } = err
        && let Some(StreamableHttpError::<reqwest::Error>::AuthRequired(required)) =
            error.error.downcast_ref()
    {
        return Ok(required.www_authenticate_header.clone());
    }
    Err(format!("expected a 401 challenge, got {err:?}").into())
}

/// The `name="value"` parameters of the first challenge in `challenge` (RFC 9110 quoted
/// strings); a second challenge in the same value (`, DPoP algs=…`) ends it. A parameter
/// twice, or one not quoted, fails the test.
pub fn challenge_params(challenge: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut rest = challenge
        .strip_prefix("Bearer")
        .unwrap_or(challenge)
        .trim_start();
    while let Some((name, after)) = rest.split_once('=') {
        let name = name.trim().trim_start_matches(',').trim().to_owned();
        if name.contains(' ') {
            break;
        }
        let Some(quoted) = after.strip_prefix('"') else {
            panic!("unquoted parameter {name} in {challenge}");
        };
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let mut end = quoted.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        assert!(
            params.insert(name, value).is_none(),
            "repeated parameter: {challenge}"
        );
        rest = quoted[end..].trim_start();
    }
    params
}
