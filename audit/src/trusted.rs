//! The trusted-issuer mode: an issuer of the audit's own ([`TrustedIssuer`], the crate's dev
//! issuer) that the server under test is configured to trust, and the checks only its tokens
//! make possible.

use std::{io, net::SocketAddr, time::Duration};

use mcp_auth::testing::{DevIssuer, KeyAlgorithm, SigningKey, TokenBuilder};
use reqwest::header;
use serde_json::{Value, json};

use crate::{
    blackbox::{AUDIT_PRINCIPAL, FOREIGN_ORIGIN, plausible},
    challenge,
    http::{Exchange, HttpError, Request},
    mcp,
    runner::{Run, describe, shorten},
};

/// An authorization server of the audit's own, on a loopback port, that the server under test
/// trusts for the trusted-issuer checks.
///
/// It is `mcp_auth`'s dev issuer: RFC 8414 and OpenID Connect metadata, a JWKS, and
/// auto-approving authorization and token endpoints. **Not for production**: trust it only for
/// the audit, on a test deployment.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use mcp_auth::testing::KeyAlgorithm;
/// use mcp_auth_audit::TrustedIssuer;
///
/// let issuer = TrustedIssuer::start(([127, 0, 0, 1], 9797).into(), KeyAlgorithm::Rs256).await?;
/// assert_eq!(issuer.issuer(), "http://127.0.0.1:9797");
/// assert_eq!(issuer.jwks_uri(), "http://127.0.0.1:9797/jwks");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TrustedIssuer {
    dev: DevIssuer,
}

impl TrustedIssuer {
    /// Starts the issuer on `addr` (port `0` picks a free one), signing with a fresh key of
    /// `algorithm`.
    ///
    /// # Errors
    ///
    /// When `addr` cannot be bound.
    pub async fn start(addr: SocketAddr, algorithm: KeyAlgorithm) -> io::Result<Self> {
        let dev = DevIssuer::builder()
            .addr(addr)
            .key_algorithm(algorithm)
            .subject(AUDIT_PRINCIPAL)
            .start()
            .await?;
        Ok(Self { dev })
    }

    /// The issuer identifier (`iss` of its tokens, and what the server must trust).
    #[must_use]
    pub fn issuer(&self) -> &str {
        self.dev.issuer()
    }

    /// Where its keys are published.
    #[must_use]
    pub fn jwks_uri(&self) -> String {
        self.dev.jwks_uri()
    }

    /// Stops it.
    pub async fn shutdown(self) {
        self.dev.shutdown().await;
    }
}

/// Every trusted check, for the black-box mode to skip.
pub(crate) const TRUSTED_CHECKS: &[&str] = &[
    "trusted.valid-token",
    "trusted.tools-list",
    "trusted.wrong-audience",
    "trusted.no-audience",
    "trusted.expired",
    "trusted.not-yet-valid",
    "trusted.wrong-issuer",
    "trusted.alg-hs256",
    "trusted.alg-none",
    "trusted.unknown-key",
    "trusted.bad-signature",
    "trusted.origin-with-token",
    "trusted.insufficient-scope",
    "trusted.step-up",
    "trusted.no-passthrough",
    "trusted.key-rotation",
];

/// The checks after the control ([`valid_token`]'s two): skipped together when the good token
/// is refused.
const NEGATIVE_CHECKS: &[&str] = TRUSTED_CHECKS.split_at(2).1;

/// A good token for the server: the trusted issuer's current key, `scopes`.
fn good(run: &Run<'_>, issuer: &TrustedIssuer, scopes: &[String]) -> TokenBuilder {
    issuer
        .dev
        .token()
        .audience(run.canonical.as_str())
        .subject(AUDIT_PRINCIPAL)
        .client_id(AUDIT_PRINCIPAL)
        .scopes(scopes.iter().cloned())
        .expires_in(Duration::from_secs(10 * 60))
}

/// `trusted.valid-token` and `trusted.tools-list`: the control every other trusted check needs.
/// Returns the good token when the server accepted it.
pub(crate) async fn valid_token(run: &mut Run<'_>, issuer: &TrustedIssuer) -> Option<String> {
    let scopes = run.good_scopes();
    let token = good(run, issuer, &scopes).sign();
    let session = match Session::open(run, &token).await {
        Ok(session) => session,
        Err(err) => {
            run.fail(
                "trusted.valid-token",
                format!("scope {:?}: {err}", scopes.join(" ")),
            );
            run.skip(
                "trusted.tools-list",
                "the good token was refused at initialize",
            );
            return None;
        }
    };
    run.pass(
        "trusted.valid-token",
        format!(
            "scope {:?}: initialize result (protocol {}{})",
            scopes.join(" "),
            session.protocol_version,
            if session.id.is_some() {
                ", with a session"
            } else {
                ""
            }
        ),
    );
    let list = mcp::tools_list(run.next_id());
    match session.request(run, &token, &list).await {
        Err(err) => run.skip("trusted.tools-list", err.to_string()),
        Ok(exchange) => match exchange.json_rpc() {
            Some(message) if exchange.status.is_success() && message.get("result").is_some() => {
                let names: Vec<&str> = message["result"]["tools"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|tool| tool["name"].as_str())
                    .collect();
                let names = names.join(", ");
                run.pass("trusted.tools-list", format!("tools: {names}"));
            }
            _ => run.fail(
                "trusted.tools-list",
                format!("expected a tools/list result, got {}", describe(&exchange)),
            ),
        },
    }
    Some(token)
}

/// The trusted checks after the control: tokens to refuse, `Origin` with a good token,
/// step-up, passthrough, rotation.
pub(crate) async fn checks(run: &mut Run<'_>, issuer: &TrustedIssuer, token: Option<&str>) {
    let Some(token) = token else {
        run.skip_all(
            NEGATIVE_CHECKS,
            "the good token was refused too: a refusal here would prove nothing",
        );
        return;
    };
    let scopes = run.good_scopes();
    let base = || good(run, issuer, &scopes);
    let cases: [(&'static str, String); 7] = [
        ("trusted.wrong-audience", base().wrong_audience().sign()),
        ("trusted.no-audience", base().without_audience().sign()),
        ("trusted.expired", base().expired().sign()),
        ("trusted.not-yet-valid", base().not_yet_valid().sign()),
        ("trusted.wrong-issuer", base().wrong_issuer().sign()),
        ("trusted.alg-hs256", base().hs256_with_public_key().sign()),
        ("trusted.alg-none", base().alg_none().sign()),
    ];
    for (id, bad) in cases {
        run.expect_401(id, &bad).await;
    }
    // Signed before the server last fetched the keys (issued two minutes ago), so that a
    // server that refetches on an unknown kid has no reason to wait for the next fetch.
    let algorithm = issuer.dev.signing_key().algorithm();
    let unknown = plausible(run, &SigningKey::generate(algorithm), issuer.issuer()).sign();
    run.expect_401("trusted.unknown-key", &unknown).await;
    let forged = plausible(run, &issuer.dev.signing_key(), issuer.issuer())
        .untrusted_key()
        .sign();
    run.expect_401("trusted.bad-signature", &forged).await;

    origin_with_token(run, token).await;
    insufficient_scope(run, issuer, &scopes).await;
    step_up(run, issuer, &scopes).await;
    passthrough(run, token).await;
    rotation(run, issuer, &scopes).await;
}

async fn origin_with_token(run: &mut Run<'_>, token: &str) {
    let id = "trusted.origin-with-token";
    let initialize = mcp::initialize(run.next_id());
    let request = Request::mcp(&run.url, &initialize)
        .bearer(token)
        .header(header::ORIGIN, FOREIGN_ORIGIN);
    match run.send_retrying(request).await {
        Err(err) => run.skip(id, err.to_string()),
        Ok((exchange, _)) if exchange.status == 403 => {
            run.pass(id, format!("403 for Origin {FOREIGN_ORIGIN}"));
        }
        Ok((exchange, _)) => run.fail(
            id,
            format!(
                "expected 403 for Origin {FOREIGN_ORIGIN}, got {}",
                describe(&exchange)
            ),
        ),
    }
}

/// `trusted.insufficient-scope`: a good token without any scope, on `initialize`.
async fn insufficient_scope(run: &mut Run<'_>, issuer: &TrustedIssuer, scopes: &[String]) {
    let id = "trusted.insufficient-scope";
    if scopes.is_empty() {
        run.skip(id, "the good token has no scope to leave out");
        return;
    }
    let token = good(run, issuer, &[]).sign();
    let initialize = mcp::initialize(run.next_id());
    let request = Request::mcp(&run.url, &initialize).bearer(&token);
    let exchange = match run.send_retrying(request).await {
        Ok((exchange, _)) => exchange,
        Err(err) => {
            run.skip(id, err.to_string());
            return;
        }
    };
    if exchange.status.is_success() {
        run.skip(
            id,
            format!(
                "a token without scopes got {}: the server needs no scope for initialize",
                describe(&exchange)
            ),
        );
        return;
    }
    let Some((challenge, mut problems)) = step_up_challenge(run, id, "", &exchange) else {
        return;
    };
    if challenge.param("scope").is_none_or(str::is_empty) {
        problems.push("no scope parameter: the client cannot tell what to ask for".to_owned());
    }
    let summary = format!("403, {}", shorten(&challenge.to_string(), 200));
    if problems.is_empty() {
        run.pass(id, summary);
    } else {
        run.fail(id, format!("{summary}: {}", problems.join(", ")));
    }
}

/// The challenge of a `403` that should ask for more scope, with what is wrong with its
/// `error` and `resource_metadata`; `None` once the check has failed because the answer is
/// not a `403` with a Bearer challenge. `lacking` (empty, or ending in `: `) starts every
/// message.
fn step_up_challenge(
    run: &mut Run<'_>,
    id: &'static str,
    lacking: &str,
    exchange: &Exchange,
) -> Option<(challenge::Challenge, Vec<String>)> {
    if exchange.status != 403 {
        let why = if exchange.status == 401 {
            ": a valid token that lacks a scope is not an invalid token; clients would throw it away instead of stepping up"
        } else {
            ""
        };
        run.fail(
            id,
            format!("{lacking}expected 403, got {}{why}", describe(exchange)),
        );
        return None;
    }
    let www = exchange.header(&header::WWW_AUTHENTICATE);
    let challenge = match challenge::bearer(www.as_deref()) {
        Ok(challenge) => challenge,
        Err(err) => {
            run.fail(id, format!("{lacking}403, {err}"));
            return None;
        }
    };
    let mut problems = Vec::new();
    if challenge.param("error") != Some("insufficient_scope") {
        problems.push(format!(
            "error is {:?}, not insufficient_scope",
            challenge.param("error")
        ));
    }
    if challenge.param("resource_metadata").is_none() {
        problems.push("no resource_metadata".to_owned());
    }
    Some((challenge, problems))
}

/// `trusted.step-up`: the narrow token calls the tool (403 expected), then the wide one (the
/// control: the tool runs).
async fn step_up(run: &mut Run<'_>, issuer: &TrustedIssuer, scopes: &[String]) {
    let id = "trusted.step-up";
    let Some(tool) = run.config.tool_probe().cloned() else {
        run.skip(
            id,
            "give --tool NAME (and --tool-scope SCOPE) to test step-up: the audit calls no tool it was not told to",
        );
        return;
    };
    let narrow: Vec<String> = scopes
        .iter()
        .filter(|scope| !tool.scopes.contains(scope))
        .cloned()
        .collect();
    let narrow_token = good(run, issuer, &narrow).sign();
    let session = match Session::open(run, &narrow_token).await {
        Ok(session) => session,
        Err(err) => {
            run.skip(
                id,
                format!(
                    "the token with scope {:?} was refused at initialize: {err}",
                    narrow.join(" ")
                ),
            );
            return;
        }
    };
    let call = mcp::tools_call(run.next_id(), &tool.name, &tool.arguments);
    let exchange = match session.request(run, &narrow_token, &call).await {
        Ok(exchange) => exchange,
        Err(err) => {
            run.skip(id, err.to_string());
            return;
        }
    };
    let lacking = format!("{} with scope {:?}", tool.name, narrow.join(" "));
    if exchange.status.is_success() {
        let message = exchange.json_rpc();
        let in_band = message.as_ref().is_some_and(|message| {
            message.get("error").is_some() || message["result"]["isError"] == true
        });
        match message {
            Some(message) if in_band => run.fail(
                id,
                format!(
                    "{lacking}: {} with {}: clients cannot step up from an in-band error",
                    exchange.status.as_u16(),
                    shorten(&mcp::describe(&message), 160)
                ),
            ),
            _ if !tool.scopes.is_empty() => run.fail(
                id,
                format!(
                    "{lacking}: {}: the tool ran without {}",
                    describe(&exchange),
                    tool.scopes.join(" ")
                ),
            ),
            _ => run.skip(
                id,
                format!(
                    "{lacking}: {}: the tool needs no other scope (give --tool-scope)",
                    describe(&exchange)
                ),
            ),
        }
        return;
    }
    let prefix = format!("{lacking}: ");
    let Some((challenge, mut problems)) = step_up_challenge(run, id, &prefix, &exchange) else {
        return;
    };
    let challenged: Vec<String> = challenge
        .param("scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if challenged.is_empty() {
        problems.push("no scope parameter".to_owned());
    }
    let missing: Vec<&String> = tool
        .scopes
        .iter()
        .filter(|scope| !challenged.contains(scope))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("scope does not name {missing:?}"));
    }
    let summary = format!("{lacking}: 403, {}", shorten(&challenge.to_string(), 200));
    if !problems.is_empty() {
        run.fail(id, format!("{summary}: {}", problems.join(", ")));
        return;
    }
    // The control: a token with what the challenge named runs the tool.
    let mut wide: Vec<String> = narrow.clone();
    for scope in challenged.iter().chain(&tool.scopes) {
        if !wide.contains(scope) {
            wide.push(scope.clone());
        }
    }
    let wide_token = good(run, issuer, &wide).sign();
    let control = match Session::open(run, &wide_token).await {
        Ok(session) => {
            let call = mcp::tools_call(run.next_id(), &tool.name, &tool.arguments);
            session.request(run, &wide_token, &call).await
        }
        Err(err) => {
            run.skip(
                id,
                format!("{summary}; the control with scope {wide:?} failed at initialize: {err}"),
            );
            return;
        }
    };
    match control {
        Err(err) => run.skip(id, format!("{summary}; control: {err}")),
        Ok(exchange) if exchange.status.is_success() => run.pass(
            id,
            format!(
                "{summary}; with scope {:?}: {}",
                wide.join(" "),
                describe(&exchange)
            ),
        ),
        Ok(exchange) if exchange.status == 403 => run.fail(
            id,
            format!(
                "{summary}; with scope {:?} (all it named): 403 again, {}: not every scope in one challenge",
                wide.join(" "),
                describe(&exchange)
            ),
        ),
        Ok(exchange) => run.skip(
            id,
            format!(
                "{summary}; the control with scope {:?} got {}",
                wide.join(" "),
                describe(&exchange)
            ),
        ),
    }
}

/// The header the audit sends to the echo tool, to know that it echoes request headers.
const MARKER_HEADER: &str = "x-mcp-auth-audit";

/// `trusted.no-passthrough`: an echo tool must not see the token.
async fn passthrough(run: &mut Run<'_>, token: &str) {
    let id = "trusted.no-passthrough";
    let Some(echo) = run.config.echo().map(str::to_owned) else {
        run.skip(
            id,
            "not observable from outside; give --echo-tool NAME for a tool that returns the request headers it received",
        );
        return;
    };
    let session = match Session::open(run, token).await {
        Ok(session) => session,
        Err(err) => {
            run.skip(id, err);
            return;
        }
    };
    let marker = format!("echo-{}", run.next_id());
    let call = mcp::tools_call(run.next_id(), &echo, &json!({}));
    let request = session
        .build(run, token, &call)
        .header(header::HeaderName::from_static(MARKER_HEADER), &marker);
    let exchange = match run.send_retrying(request).await {
        Ok((exchange, _)) => exchange,
        Err(err) => {
            run.skip(id, err.to_string());
            return;
        }
    };
    let Some(message) = exchange.json_rpc().filter(|_| exchange.status.is_success()) else {
        run.skip(id, format!("{echo}: {}", describe(&exchange)));
        return;
    };
    let echoed = message.to_string();
    if !echoed.contains(&marker) {
        run.skip(
            id,
            format!(
                "{echo}'s answer does not contain the {MARKER_HEADER} header the audit sent: is it an echo of request headers?"
            ),
        );
        return;
    }
    let signature = token.rsplit('.').next().unwrap_or(token);
    if echoed.contains(token) || (signature.len() > 16 && echoed.contains(signature)) {
        run.fail(id, format!("{echo} received the access token"));
    } else {
        run.pass(
            id,
            format!("{echo} echoed the request ({MARKER_HEADER} seen) without the token"),
        );
    }
}

/// `trusted.key-rotation`: a token signed by a new key, once the issuer published it.
async fn rotation(run: &mut Run<'_>, issuer: &TrustedIssuer, scopes: &[String]) {
    let id = "trusted.key-rotation";
    let new_key = issuer.dev.rotate_key();
    let token = good(run, issuer, scopes).sign();
    let initialize = mcp::initialize(run.next_id());
    let request = Request::mcp(&run.url, &initialize).bearer(&token);
    match run.send_retrying(request).await {
        Err(err) => run.skip(id, err.to_string()),
        Ok((exchange, note)) if exchange.status.is_success() => run.pass(
            id,
            format!("kid {}: {}{note}", new_key.kid(), describe(&exchange)),
        ),
        Ok((exchange, note)) => run.fail(
            id,
            format!(
                "kid {}: expected 2xx, got {}{note}",
                new_key.kid(),
                describe(&exchange)
            ),
        ),
    }
}

/// An initialized MCP conversation: the session id (for servers with sessions) and the
/// negotiated protocol version.
#[derive(Debug)]
struct Session {
    id: Option<String>,
    protocol_version: String,
}

impl Session {
    /// `initialize` and `notifications/initialized` as `token`.
    async fn open(run: &mut Run<'_>, token: &str) -> Result<Self, String> {
        let initialize = mcp::initialize(run.next_id());
        let request = Request::mcp(&run.url, &initialize).bearer(token);
        let (exchange, note) = run
            .send_retrying(request)
            .await
            .map_err(|err| err.to_string())?;
        let result = exchange
            .json_rpc()
            .filter(|_| exchange.status.is_success())
            .and_then(|message| message.get("result").cloned());
        let Some(result) = result else {
            return Err(format!("initialize: {}{note}", describe(&exchange)));
        };
        let session = Self {
            id: exchange
                .header(&header::HeaderName::from_static(mcp::SESSION_HEADER))
                .filter(|id| !id.is_empty()),
            protocol_version: result["protocolVersion"]
                .as_str()
                .unwrap_or(mcp::PROTOCOL_VERSION)
                .to_owned(),
        };
        let initialized = mcp::initialized();
        let exchange = session
            .request(run, token, &initialized)
            .await
            .map_err(|err| err.to_string())?;
        if !exchange.status.is_success() {
            return Err(format!(
                "notifications/initialized: {}",
                describe(&exchange)
            ));
        }
        Ok(session)
    }

    fn build(&self, run: &Run<'_>, token: &str, message: &Value) -> Request {
        let mut request = Request::mcp(&run.url, message).bearer(token).header(
            header::HeaderName::from_static(mcp::PROTOCOL_VERSION_HEADER),
            &self.protocol_version,
        );
        if let Some(id) = &self.id {
            request = request.header(header::HeaderName::from_static(mcp::SESSION_HEADER), id);
        }
        request
    }

    async fn request(
        &self,
        run: &mut Run<'_>,
        token: &str,
        message: &Value,
    ) -> Result<Exchange, HttpError> {
        let request = self.build(run, token, message);
        run.send_retrying(request)
            .await
            .map(|(exchange, _)| exchange)
    }
}

/// `KeyAlgorithm` from its JOSE name (`RS256`, `ES256`, `EdDSA`), case-insensitive.
#[must_use]
pub fn key_algorithm(name: &str) -> Option<KeyAlgorithm> {
    match name.to_ascii_lowercase().as_str() {
        "rs256" => Some(KeyAlgorithm::Rs256),
        "es256" => Some(KeyAlgorithm::Es256),
        "eddsa" => Some(KeyAlgorithm::EdDsa),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{CHECKS, Mode};

    #[test]
    fn trusted_check_lists_match_the_table() {
        let trusted: Vec<&str> = CHECKS
            .iter()
            .filter(|check| check.mode == Mode::Trusted)
            .map(|check| check.id)
            .collect();
        assert_eq!(TRUSTED_CHECKS, trusted.as_slice());
        assert_eq!(NEGATIVE_CHECKS[0], "trusted.wrong-audience");
    }

    #[test]
    fn key_algorithms_by_jose_name() {
        assert_eq!(key_algorithm("RS256"), Some(KeyAlgorithm::Rs256));
        assert_eq!(key_algorithm("es256"), Some(KeyAlgorithm::Es256));
        assert_eq!(key_algorithm("EdDSA"), Some(KeyAlgorithm::EdDsa));
        assert_eq!(key_algorithm("HS256"), None);
    }
}
