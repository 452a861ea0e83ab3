//! Soak: a bounded load run against a real server on loopback, checking every response
//! against the decision it should have had.
//!
//! An axum server with `McpAuth` (JWTs by JWKS, opaque tokens by introspection, a per-tool
//! scope) is driven by concurrent HTTP clients sending a mix of valid, expired, forged,
//! unknown-key, wrong-audience, insufficient-scope, garbage and malformed credentials. During
//! the run the authorization server rotates its signing key twice (retiring the old one) and
//! stops listening for a while. The run fails on any wrong decision: a pass where a refusal
//! was due, a refusal where a pass was due, a `5xx` other than a `503` where the layer could
//! not decide (the authorization server down, a key rotation still being fetched), a `503`
//! without `Retry-After`, a `401`/`403` without its challenge. It also samples the process's
//! resident memory every second and fails if it keeps growing after warm-up.
//!
//! `MCP_AUTH_SOAK_SECONDS` sets the duration (default 10, the short mode CI runs); the full
//! run from the README:
//!
//! ```sh
//! MCP_AUTH_SOAK_SECONDS=60 cargo test --release --all-features --test soak -- --nocapture
//! ```

#![cfg(all(
    feature = "jwt",
    feature = "introspection",
    feature = "testing",
    feature = "axum"
))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Json, Router, routing::post};
use http::{StatusCode, header};
use mcp_auth::{
    McpAuth,
    testing::DevIssuer,
    verifier::{IntrospectionVerifier, JwtOrIntrospection, JwtVerifier, jwt::TrustedIssuer},
};
use serde_json::{Value, json};

const CLIENTS: usize = 32;
/// Distinct tokens of each kind per key generation: enough to exercise the caches, few
/// enough that they fill during warm-up.
const POOL: usize = 200;
/// The JWKS retry interval, and so how long a new key may be held back after a rotation.
const MIN_REFRESH: Duration = Duration::from_secs(1);
/// After a rotation or an outage, how long `503`s remain an acceptable answer.
const GRACE: Duration = Duration::from_secs(2);

/// What a client sends, and so the decision it must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A valid JWT calling a tool it has the scope for: `200`.
    Valid,
    /// A valid JWT without `notes:write` calling `add_note`: `403 insufficient_scope`.
    NarrowScope,
    /// `401 invalid_token` for each of these.
    Expired,
    Forged,
    UnknownKey,
    WrongAudience,
    /// A valid opaque token (introspection): `200`.
    Opaque,
    /// Random opaque garbage the authorization server has never issued: `401`.
    Garbage,
    /// Not a valid `Authorization` header value: `400 invalid_request`, no network call.
    Malformed,
}

impl Kind {
    const ALL: [Self; 9] = [
        Self::Valid,
        Self::NarrowScope,
        Self::Expired,
        Self::Forged,
        Self::UnknownKey,
        Self::WrongAudience,
        Self::Opaque,
        Self::Garbage,
        Self::Malformed,
    ];

    fn expected(self) -> (StatusCode, Option<&'static str>) {
        match self {
            Self::Valid | Self::Opaque => (StatusCode::OK, None),
            Self::NarrowScope => (StatusCode::FORBIDDEN, Some("insufficient_scope")),
            Self::Expired
            | Self::Forged
            | Self::UnknownKey
            | Self::WrongAudience
            | Self::Garbage => (StatusCode::UNAUTHORIZED, Some("invalid_token")),
            Self::Malformed => (StatusCode::BAD_REQUEST, Some("invalid_request")),
        }
    }

    /// Whether the layer may have to ask the authorization server, so that a `503` is the
    /// right answer while it is unreachable. JWTs signed by a key the layer already has are
    /// decided locally: the outage must not touch them.
    fn needs_network_when_down(self) -> bool {
        matches!(self, Self::UnknownKey | Self::Opaque | Self::Garbage)
    }

    fn tool(self) -> &'static str {
        match self {
            Self::NarrowScope => "add_note",
            _ => "list_notes",
        }
    }
}

/// The tokens of one key generation.
struct Pool {
    tokens: BTreeMap<Kind, Vec<String>>,
}

impl Pool {
    fn mint(issuer: &DevIssuer, generation: usize) -> Self {
        let mut tokens = BTreeMap::new();
        let subject = |kind: Kind, i: usize| format!("{kind:?}-{generation}-{i}");
        for kind in Kind::ALL {
            let list = (0..POOL)
                .map(|i| {
                    let base = issuer.token().subject(subject(kind, i));
                    let full = || base.clone().scopes(["mcp:read", "notes:write"]);
                    match kind {
                        Kind::Valid => full().sign(),
                        Kind::NarrowScope => base.clone().scopes(["mcp:read"]).sign(),
                        Kind::Expired => full().expired().sign(),
                        Kind::Forged => full().tamper_signature().sign(),
                        Kind::UnknownKey => full().untrusted_key().sign(),
                        Kind::WrongAudience => {
                            full().audience("https://elsewhere.example/mcp").sign()
                        }
                        Kind::Opaque => issuer.opaque_token(&full()),
                        Kind::Garbage => {
                            format!("never-issued-{generation}-{i}-{}", "x".repeat(i % 40))
                        }
                        Kind::Malformed => format!("two words-{i}"),
                    }
                })
                .collect();
            tokens.insert(kind, list);
        }
        Self { tokens }
    }
}

/// Moments when `503` becomes acceptable, as offsets from the start of the run.
#[derive(Default)]
struct Windows {
    /// Key rotations: `[at, at + GRACE]` for every JWT.
    rotations: Vec<Duration>,
    /// Outages: `[down, up + GRACE]` for the kinds that need the network.
    outages: Vec<(Duration, Option<Duration>)>,
}

impl Windows {
    fn allows_503(&self, kind: Kind, sent: Duration, answered: Duration) -> bool {
        let overlaps = |from: Duration, to: Duration| sent <= to && answered >= from;
        let jwt = !matches!(kind, Kind::Opaque | Kind::Garbage | Kind::Malformed);
        let rotating = jwt && self.rotations.iter().any(|&at| overlaps(at, at + GRACE));
        let down = kind.needs_network_when_down()
            && self
                .outages
                .iter()
                .any(|&(down, up)| overlaps(down, up.map_or(Duration::MAX, |up| up + GRACE)));
        rotating || down
    }
}

#[derive(Default)]
struct Tally {
    by_kind: BTreeMap<(Kind, u16), u64>,
    /// How many wrong decisions, and the first few of them.
    wrong: u64,
    examples: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_mixed_tokens_through_rotation_and_an_outage() {
    let seconds: u64 = std::env::var("MCP_AUTH_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let duration = Duration::from_secs(seconds.max(6));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let issuer = Arc::new(
        DevIssuer::builder()
            .client("rs", "rs-secret")
            .default_resource(&resource)
            .start()
            .await
            .unwrap(),
    );
    let jwt = JwtVerifier::builder()
        .issuer(TrustedIssuer::jwks_uri(issuer.issuer(), issuer.jwks_uri()))
        .jwks_min_refresh_interval(MIN_REFRESH)
        .http_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let introspection = IntrospectionVerifier::builder()
        .endpoint(issuer.introspection_endpoint())
        .issuer(issuer.issuer())
        .client_secret_basic("rs", "rs-secret")
        .http_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let auth = McpAuth::builder(&resource)
        .authorization_server(issuer.issuer())
        .verifier(JwtOrIntrospection::new(jwt, introspection))
        .required_scopes(["mcp:read"])
        .tool_scopes("add_note", ["notes:write"])
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/mcp",
            post(|Json(body): Json<Value>| async move {
                Json(json!({"jsonrpc": "2.0", "id": body["id"], "result": {"content": []}}))
            }),
        )
        .layer(auth);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let pool = Arc::new(RwLock::new(Arc::new(Pool::mint(&issuer, 0))));
    let windows = Arc::new(RwLock::new(Windows::default()));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();

    // Resident memory, once a second.
    let rss = Arc::new(Mutex::new(Vec::<(u64, u64)>::new()));
    let sampler = {
        let rss = Arc::clone(&rss);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                rss.lock()
                    .unwrap()
                    .push((start.elapsed().as_secs(), resident_kib()));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (pool, windows, tally, stop) = (
            Arc::clone(&pool),
            Arc::clone(&windows),
            Arc::clone(&tally),
            Arc::clone(&stop),
        );
        let url = resource.clone();
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            let mut rng = 0x9e37_79b9_7f4a_7c15_u64 ^ (client as u64 + 1);
            let mut id = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                let kind = Kind::ALL[(next(&mut rng) % Kind::ALL.len() as u64) as usize];
                let tokens = Arc::clone(&pool.read().unwrap());
                let list = &tokens.tokens[&kind];
                let token = &list[(next(&mut rng) % list.len() as u64) as usize];
                id += 1;
                let body = json!({
                    "jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": kind.tool(), "arguments": {}},
                });
                let sent = start.elapsed();
                let res = http
                    .post(&url)
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .json(&body)
                    .send()
                    .await;
                let answered = start.elapsed();
                let verdict = match res {
                    Err(err) => Err(format!("transport error: {err}")),
                    Ok(res) => {
                        let status = res.status();
                        let challenge = res
                            .headers()
                            .get(header::WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let retry_after = res.headers().contains_key(header::RETRY_AFTER);
                        let body = res.bytes().await.unwrap_or_default();
                        let body_text = String::from_utf8_lossy(&body);
                        let windows = windows.read().unwrap();
                        check(
                            kind,
                            status,
                            challenge.as_deref(),
                            retry_after,
                            &body_text,
                            || windows.allows_503(kind, sent, answered),
                        )
                        .map(|()| status)
                        .map_err(|why| format!("{status}: {why}"))
                    }
                };
                let mut tally = tally.lock().unwrap();
                match verdict {
                    Ok(status) => *tally.by_kind.entry((kind, status.as_u16())).or_default() += 1,
                    Err(why) => {
                        *tally.by_kind.entry((kind, 0)).or_default() += 1;
                        tally.wrong += 1;
                        if tally.examples.len() < 20 {
                            tally.examples.push(format!(
                                "{kind:?} sent at {sent:?}, answered at {answered:?}: {why}"
                            ));
                        }
                    }
                }
            }
        }));
    }

    // The schedule: rotations at 20 % and 70 %, an outage from 40 % to 55 %.
    let at = |percent: u32| duration * percent / 100;
    let rotate = |generation: usize| {
        let _ = issuer.rotate_key();
        windows.write().unwrap().rotations.push(start.elapsed());
        let fresh = Pool::mint(&issuer, generation);
        *pool.write().unwrap() = Arc::new(fresh);
    };
    tokio::time::sleep_until((start + at(20)).into()).await;
    rotate(1);
    tokio::time::sleep(GRACE).await;
    issuer.retire_old_keys();

    tokio::time::sleep_until((start + at(40)).into()).await;
    windows
        .write()
        .unwrap()
        .outages
        .push((start.elapsed(), None));
    issuer.stop().await;
    tokio::time::sleep_until((start + at(55)).into()).await;
    issuer.restart().await.expect("restarts on its port");
    windows.write().unwrap().outages[0].1 = Some(start.elapsed());

    tokio::time::sleep_until((start + at(70)).into()).await;
    rotate(2);
    tokio::time::sleep(GRACE).await;
    issuer.retire_old_keys();

    tokio::time::sleep_until((start + duration).into()).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    sampler.await.unwrap();

    // The report.
    let tally = tally.lock().unwrap();
    let total: u64 = tally.by_kind.values().sum();
    let mut report = format!(
        "soak: {seconds} s, {CLIENTS} clients, {total} requests ({:.0}/s)\n",
        total as f64 / duration.as_secs_f64()
    );
    for kind in Kind::ALL {
        let line: Vec<String> = tally
            .by_kind
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, status), n)| match status {
                0 => format!("WRONG {n}"),
                s => format!("{s} {n}"),
            })
            .collect();
        writeln!(report, "  {:<14} {}", format!("{kind:?}"), line.join(", ")).unwrap();
    }
    let rss = rss.lock().unwrap();
    let series: Vec<String> = rss
        .iter()
        .map(|(s, kib)| format!("{s}s {} MiB", kib / 1024))
        .collect();
    writeln!(report, "  RSS: {}", series.join(", ")).unwrap();
    println!("{report}");

    assert_eq!(
        tally.wrong,
        0,
        "wrong decisions, the first ones:\n{}",
        tally.examples.join("\n")
    );
    for kind in Kind::ALL {
        let (status, _) = kind.expected();
        assert!(
            tally
                .by_kind
                .get(&(kind, status.as_u16()))
                .copied()
                .unwrap_or(0)
                > 0,
            "{kind:?} never got its expected {status}"
        );
    }
    // Memory after warm-up (the first quarter: caches and pools filled) stays flat: the
    // peak of the rest is within a quarter (and at least 16 MiB) of the level at warm-up.
    let warm = rss
        .iter()
        .find(|(s, _)| Duration::from_secs(*s) >= at(25))
        .map(|&(_, kib)| kib)
        .expect("sampled after warm-up");
    let peak = rss.iter().map(|&(_, kib)| kib).max().unwrap();
    assert!(
        peak <= warm + (warm / 4).max(16 * 1024),
        "RSS grew from {warm} KiB after warm-up to {peak} KiB"
    );
}

/// Whether a response is the decision `kind` should have had; `allows_503` says whether the
/// authorization server was unreachable (or a new key not yet fetched) around it.
fn check(
    kind: Kind,
    status: StatusCode,
    challenge: Option<&str>,
    retry_after: bool,
    body: &str,
    allows_503: impl FnOnce() -> bool,
) -> Result<(), String> {
    let (expected, code) = kind.expected();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        if !allows_503() {
            return Err(format!("503 while the authorization server was up: {body}"));
        }
        if !retry_after {
            return Err("503 without Retry-After".to_owned());
        }
        return Ok(());
    }
    if status != expected {
        return Err(format!("expected {expected}: {body}"));
    }
    match (status, code) {
        (StatusCode::OK, _) => {
            if !body.contains("\"result\"") {
                return Err(format!("200 without the handler's answer: {body}"));
            }
        }
        (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, Some(code)) => {
            let challenge = challenge.ok_or("no WWW-Authenticate")?;
            if !challenge.contains(&format!("error=\"{code}\""))
                || !challenge.contains("resource_metadata=")
            {
                return Err(format!("challenge {challenge:?}"));
            }
        }
        (_, Some(code)) => {
            if !body.contains(code) {
                return Err(format!("body without {code}: {body}"));
            }
        }
        (_, None) => {}
    }
    Ok(())
}

/// xorshift64: enough to mix the kinds, with no dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// This process's resident set size in KiB (0 where `/proc` is unavailable).
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
