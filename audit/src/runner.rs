//! One audit run: the state the checks share ([`Run`]), how they record findings, and the
//! requests they send through it.

use std::{
    collections::HashMap,
    time::{Duration, SystemTime},
};

use reqwest::header;
use serde_json::Value;
use url::Url;

use crate::{
    challenge,
    checks::{CHECKS, Check},
    config::{Config, canonical},
    http::{Exchange, Http, HttpError, Request},
    mcp,
    report::{Finding, Outcome, Report},
};

/// What the discovery steps learnt, for the checks after them.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// The `scope` of the 401 challenge.
    pub(crate) challenge_scope: Option<String>,
    /// `authorization_servers` of the metadata.
    pub(crate) authorization_servers: Vec<String>,
    /// Whether a metadata document was found.
    pub(crate) metadata_found: bool,
    /// `scopes_supported` of the metadata.
    pub(crate) scopes_supported: Vec<String>,
    /// A `kid` and `alg` from the authorization server's JWKS.
    pub(crate) as_key: Option<(String, String)>,
}

/// The state of a run.
#[derive(Debug)]
pub(crate) struct Run<'a> {
    pub(crate) config: &'a Config,
    pub(crate) http: Http,
    pub(crate) url: Url,
    /// The canonical URI of `url`: the audience tokens are minted for.
    pub(crate) canonical: String,
    pub(crate) facts: Facts,
    /// Every 401 answer to a bad token: the check, and the challenge's `error` if any.
    pub(crate) refusals: Vec<(&'static str, Option<String>)>,
    findings: HashMap<&'static str, Finding>,
    retry_waited: Duration,
    next_id: u64,
}

impl<'a> Run<'a> {
    pub(crate) fn new(config: &'a Config) -> Result<Self, String> {
        let url = config.url().clone();
        let http = Http::new(
            &url,
            config.rate(),
            config.request_budget(),
            config.request_timeout(),
        )?;
        Ok(Self {
            config,
            http,
            canonical: canonical(&url),
            url,
            facts: Facts::default(),
            refusals: Vec::new(),
            findings: HashMap::new(),
            retry_waited: Duration::ZERO,
            next_id: 0,
        })
    }

    /// A fresh JSON-RPC id.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn record(&mut self, id: &'static str, outcome: Outcome, detail: impl Into<String>) {
        // Every id the checks record is a literal from `CHECKS` (the tests run every path).
        let check = Check::get(id).unwrap_or_else(|| panic!("unknown check id {id}"));
        debug_assert!(!self.findings.contains_key(id), "{id} recorded twice");
        self.findings.entry(id).or_insert(Finding {
            check,
            outcome,
            detail: detail.into(),
        });
    }

    pub(crate) fn pass(&mut self, id: &'static str, detail: impl Into<String>) {
        self.record(id, Outcome::Pass, detail);
    }

    pub(crate) fn fail(&mut self, id: &'static str, detail: impl Into<String>) {
        self.record(id, Outcome::Fail, detail);
    }

    pub(crate) fn skip(&mut self, id: &'static str, detail: impl Into<String>) {
        self.record(id, Outcome::Skip, detail);
    }

    /// Skips every check of `ids` that has no finding yet.
    pub(crate) fn skip_all(&mut self, ids: &[&'static str], detail: &str) {
        for &id in ids {
            if !self.findings.contains_key(id) {
                self.skip(id, detail);
            }
        }
    }

    pub(crate) fn recorded(&self, id: &str) -> Option<Outcome> {
        self.findings.get(id).map(|finding| finding.outcome)
    }

    pub(crate) async fn send(&self, request: Request) -> Result<Exchange, HttpError> {
        self.http.send(request).await
    }

    /// Sends `request`; a `503` with `Retry-After` is retried after the wait the server asked
    /// for, while the run's retry budget lasts. Returns the answer and a note on the waits.
    pub(crate) async fn send_retrying(
        &mut self,
        request: Request,
    ) -> Result<(Exchange, String), HttpError> {
        let mut waits = Vec::new();
        loop {
            let exchange = self.http.send(request.clone()).await?;
            let wait = match exchange.retry_after() {
                Some(wait) if exchange.status == 503 && waits.len() < 3 => wait,
                _ => {
                    let note = if waits.is_empty() {
                        String::new()
                    } else {
                        let waits: Vec<String> = waits
                            .iter()
                            .map(|wait: &Duration| format!("{} s", wait.as_secs()))
                            .collect();
                        format!(" (after 503 with Retry-After, waited {})", waits.join(", "))
                    };
                    return Ok((exchange, note));
                }
            };
            let wait = wait.max(Duration::from_secs(1)) + Duration::from_millis(250);
            if self.retry_waited.saturating_add(wait) > self.config.retry_budget() {
                return Ok((
                    exchange,
                    format!(
                        " (503 with Retry-After {} s: past the retry budget, --max-retry-wait)",
                        wait.as_secs()
                    ),
                ));
            }
            self.retry_waited += wait;
            waits.push(wait);
            tokio::time::sleep(wait).await;
        }
    }

    /// An MCP `initialize` as `token`, expecting `401`: records the check, and the refusal
    /// for `token.invalid-token-code`.
    pub(crate) async fn expect_401(&mut self, id: &'static str, token: &str) {
        let initialize = mcp::initialize(self.next_id());
        let request = Request::mcp(&self.url, &initialize).bearer(token);
        match self.send_retrying(request).await {
            Err(err) => self.skip(id, err.to_string()),
            Ok((exchange, note)) if exchange.status == 401 => {
                let code = challenge::bearer(exchange.header(&header::WWW_AUTHENTICATE).as_deref())
                    .ok()
                    .and_then(|challenge| challenge.param("error").map(str::to_owned));
                self.refusals.push((id, code));
                self.pass(id, format!("{}{note}", describe(&exchange)));
            }
            Ok((exchange, note)) => {
                self.fail(
                    id,
                    format!("expected 401, got {}{note}", describe(&exchange)),
                );
            }
        }
    }

    /// The scopes of a good token: `--scope`, else the challenge's, else `scopes_supported`.
    pub(crate) fn good_scopes(&self) -> Vec<String> {
        if let Some(scopes) = self.config.good_scopes() {
            return scopes.to_vec();
        }
        if let Some(scope) = &self.facts.challenge_scope {
            return scope.split_whitespace().map(str::to_owned).collect();
        }
        self.facts
            .scopes_supported
            .iter()
            .filter(|scope| *scope != "offline_access")
            .cloned()
            .collect()
    }

    /// The issuer tokens of this server would name: the metadata's first authorization
    /// server, else a name that resolves nowhere (`.invalid`, RFC 2606).
    pub(crate) fn first_issuer(&self) -> String {
        self.facts
            .authorization_servers
            .first()
            .cloned()
            .unwrap_or_else(|| "https://issuer.invalid".to_owned())
    }

    pub(crate) fn into_report(mut self, issuer: Option<String>) -> Report {
        let findings = CHECKS
            .iter()
            .map(|check| {
                self.findings.remove(check.id).unwrap_or_else(|| Finding {
                    check,
                    outcome: Outcome::Skip,
                    detail: "not reached".to_owned(),
                })
            })
            .collect();
        Report {
            url: self.url.to_string(),
            issuer,
            requests: self.http.sent(),
            findings,
        }
    }
}

/// A one-line description of an answer: the status, what it means for a token, and the
/// challenge or JSON-RPC message when there is one.
pub(crate) fn describe(exchange: &Exchange) -> String {
    let mut out = exchange.status.as_u16().to_string();
    if exchange.status.is_success() {
        out.push_str(" (accepted");
        if let Some(message) = exchange.json_rpc() {
            out.push_str(", ");
            out.push_str(&mcp::describe(&message));
        }
        out.push(')');
    }
    if let Some(www) = exchange.header(&header::WWW_AUTHENTICATE) {
        out.push_str(", ");
        out.push_str(&challenge_summary(&www));
    }
    out
}

/// The parts of a challenge that tell one refusal from another: the Bearer challenge's `error`,
/// `error_description` and `scope` (its `resource_metadata` has its own checks), or the raw
/// header when it is not a Bearer challenge.
fn challenge_summary(www: &str) -> String {
    let Ok(bearer) = challenge::bearer(Some(www)) else {
        return format!("WWW-Authenticate: {}", shorten(www, 200));
    };
    let parts: Vec<String> = ["error", "error_description", "scope"]
        .into_iter()
        .filter_map(|name| {
            let value = bearer.param(name)?;
            Some(format!("{name}={:?}", shorten(value, 80)))
        })
        .collect();
    if parts.is_empty() {
        format!("{} challenge", bearer.scheme)
    } else {
        format!("{} {}", bearer.scheme, parts.join(", "))
    }
}

/// `text`, cut to about `max` characters.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

/// Seconds since the epoch, `offset` seconds away from now.
pub(crate) fn time_from_now(offset: i64) -> SystemTime {
    let now = SystemTime::now();
    let delta = Duration::from_secs(offset.unsigned_abs());
    if offset < 0 { now - delta } else { now + delta }
}

/// A JSON value as a list of strings (non-strings dropped).
pub(crate) fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
