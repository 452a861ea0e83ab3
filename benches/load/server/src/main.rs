//! The server and token generator behind `benches/load.sh`, the HTTP load benchmark. Not an
//! example to copy: it exists so that the benchmark measures a real axum server, built
//! optimised by `cargo build --profile bench -p mcp-auth-load-server` (the release settings
//! plus `debug = 1` for `perf`). It is a package of its own so that it gets the library's
//! default features and only the ones its cases need (`introspection`, `testing`), not every
//! feature the library's dev-dependencies turn on; `--features observability` adds `metrics`
//! and `tracing`. `cargo test --workspace` only builds it in debug mode.
//!
//! ```sh
//! mcp-auth-load-server gen --dir <dir> --valid <n> --bad <n>
//! mcp-auth-load-server serve --case bare|raw-rs256|jwt|introspection [--addr 127.0.0.1:8787]
//!                      [--workers 0] [--keys <dir>/jwks.json] [--token-out <file>]
//! ```
//!
//! `gen` makes a fresh RS256 (2048-bit) key and writes `jwks.json` (its public key), `valid.txt`
//! (`n` distinct valid tokens, one a line, about 800 bytes each, valid for 7 days), `bad.txt`
//! (`n` tokens with a flipped signature byte) and `meta` (counts, expiry, sizes). Signing runs
//! on every core.
//!
//! `serve` answers `POST /mcp` with a fixed JSON-RPC answer after reading the body, as an MCP
//! server does:
//!
//! - `bare`: the handler alone;
//! - `raw-rs256`: the handler after one RS256 signature check of the bearer token with a
//!   public key parsed once (aws-lc-rs `ParsedPublicKey`, from `--keys`), `401` when it fails:
//!   the physical floor of a layer that must check a new token's signature, nothing else
//!   (no claims, no cache);
//! - `jwt`: behind [`McpAuth`] with a [`JwtVerifier`] that trusts the key set in `--keys` (no
//!   network), default cache sizes, required scope `mcp:read`;
//! - `introspection`: behind [`McpAuth`] with an [`IntrospectionVerifier`] asking a
//!   [`DevIssuer`] in opaque-token mode that runs in this process; one opaque token for the
//!   resource is written to `--token-out`.
//!
//! `--workers 0` (the default) runs a current-thread Tokio runtime; `--workers n` a
//! multi-threaded one with `n` workers. `GET /load-stats` (outside the layer) answers
//! `accepted=<TCP connections accepted so far>`. When the server listens it prints
//! `READY http://<addr>/mcp`; it stops on `SIGTERM` or Ctrl-C.
//!
//! The tokens' audience is [`RESOURCE`] whatever `--addr` is: the layer compares `aud` with
//! its configured resource, not with the `Host` a request names.

use std::{
    env, fs,
    io::{self, BufWriter, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
    routing::{get, post},
    serve::ListenerExt,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use mcp_auth::{
    BoxError, McpAuth,
    testing::{DevIssuer, SigningKey},
    verifier::{IntrospectionVerifier, JwtVerifier, jwt::TrustedIssuer},
};
use tokio::{
    net::TcpListener,
    signal::unix::{SignalKind, signal},
};

/// The resource the layer protects, and the audience of every generated token.
const RESOURCE: &str = "http://127.0.0.1:8787/mcp";
/// The issuer of the generated JWTs (static keys: nothing is fetched from it).
const ISSUER: &str = "https://auth.load.example";
/// The fixed JSON-RPC answer of the handler.
const ANSWER: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}}"#;
/// How long generated tokens stay valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Tokens signed per thread and round in `gen`.
const BATCH: usize = 5_000;

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") => generate(&Options::parse(&args[1..])?),
        Some("serve") => serve(Options::parse(&args[1..])?),
        _ => Err(
            "usage: mcp-auth-load-server gen --dir <dir> --valid <n> --bad <n>\n       \
             mcp-auth-load-server serve --case bare|raw-rs256|jwt|introspection \
             [--addr <addr>] [--workers <n>] [--keys <jwks.json>] [--token-out <file>]"
                .into(),
        ),
    }
}

/// Command-line options of both subcommands.
#[derive(Debug)]
struct Options {
    dir: PathBuf,
    valid: usize,
    bad: usize,
    case: String,
    addr: SocketAddr,
    workers: usize,
    keys: Option<PathBuf>,
    token_out: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, BoxError> {
        let mut options = Self {
            dir: PathBuf::from("target/load"),
            valid: 150_000,
            bad: 2_000,
            case: "bare".to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], 8787)),
            workers: 0,
            keys: None,
            token_out: None,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--dir" => options.dir = value.into(),
                "--valid" => options.valid = value.parse()?,
                "--bad" => options.bad = value.parse()?,
                "--case" => options.case.clone_from(value),
                "--addr" => options.addr = value.parse()?,
                "--workers" => options.workers = value.parse()?,
                "--keys" => options.keys = Some(value.into()),
                "--token-out" => options.token_out = Some(value.into()),
                _ => return Err(format!("unknown option {flag}").into()),
            }
        }
        Ok(options)
    }
}

/// `gen`: a key, its JWKS, valid and bad-signature tokens.
fn generate(options: &Options) -> Result<(), BoxError> {
    let started = Instant::now();
    fs::create_dir_all(&options.dir)?;
    let key = SigningKey::rs256();
    fs::write(options.dir.join("jwks.json"), key.jwks().to_string())?;
    let valid = write_tokens(&options.dir.join("valid.txt"), &key, options.valid, false)?;
    let bad = write_tokens(&options.dir.join("bad.txt"), &key, options.bad, true)?;
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)?
        .saturating_add(TOKEN_LIFETIME)
        .as_secs();
    let avg = valid.checked_div(options.valid as u64).unwrap_or(0);
    fs::write(
        options.dir.join("meta"),
        format!(
            "valid={}\nbad={}\nexp={exp}\nvalid_avg_bytes={avg}\nbad_bytes={bad}\nresource={RESOURCE}\n",
            options.valid, options.bad
        ),
    )?;
    println!(
        "generated {} valid and {} bad RS256 tokens ({avg} bytes on average) in {:.1} s into {}",
        options.valid,
        options.bad,
        started.elapsed().as_secs_f64(),
        options.dir.display()
    );
    Ok(())
}

/// Writes `count` tokens to `path`, one a line, signed on every core; returns the bytes of
/// tokens written (without newlines).
fn write_tokens(path: &Path, key: &SigningKey, count: usize, bad: bool) -> io::Result<u64> {
    let threads = thread::available_parallelism().map_or(1, usize::from);
    let mut out = BufWriter::new(fs::File::create(path)?);
    let mut bytes = 0_u64;
    let mut done = 0;
    while done < count {
        let round = (count - done).min(threads * BATCH);
        let per_thread = round.div_ceil(threads);
        let chunks: Vec<Vec<String>> = thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let start = done + t * per_thread;
                    let end = (start + per_thread).min(done + round);
                    scope.spawn(move || (start..end).map(|i| token(key, i, bad)).collect())
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap_or_default())
                .collect()
        });
        for token in chunks.iter().flatten() {
            bytes += token.len() as u64;
            out.write_all(token.as_bytes())?;
            out.write_all(b"\n")?;
        }
        let written: usize = chunks.iter().map(Vec::len).sum();
        if written != round {
            return Err(io::Error::other("a signing thread failed"));
        }
        done += round;
    }
    out.flush()?;
    Ok(bytes)
}

/// Token number `i`: RFC 9068 claims for [`RESOURCE`], a random `jti`, about 800 bytes.
fn token(key: &SigningKey, i: usize, bad: bool) -> String {
    let builder = key
        .token()
        .issuer(ISSUER)
        .subject(format!("user-{i:07}"))
        .client_id("load-client")
        .scopes(["mcp:read", "mcp:write"])
        .audience(RESOURCE)
        .claim("email", format!("user-{i:07}@load.example"))
        .expires_in(TOKEN_LIFETIME);
    if bad {
        builder.tamper_signature().sign()
    } else {
        builder.sign()
    }
}

/// `serve`: the server of one benchmark case.
fn serve(options: Options) -> Result<(), BoxError> {
    let runtime = match options.workers {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        workers => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?,
    };
    runtime.block_on(run(options))
}

async fn run(options: Options) -> Result<(), BoxError> {
    // Keeps the in-process authorization server of the introspection case alive.
    let mut dev_issuer = None;
    let handler = Router::new().route("/mcp", post(answer));
    let app = match options.case.as_str() {
        "bare" => handler,
        "raw-rs256" => {
            let keys = options
                .keys
                .as_ref()
                .ok_or("--case raw-rs256 needs --keys")?;
            let key = parsed_rs256_key(&fs::read_to_string(keys)?)?;
            Router::new()
                .route("/mcp", post(raw_answer))
                .with_state(Arc::new(key))
        }
        "jwt" => {
            let keys = options.keys.as_ref().ok_or("--case jwt needs --keys")?;
            let verifier = JwtVerifier::builder()
                .issuer(TrustedIssuer::jwk_set(ISSUER, fs::read_to_string(keys)?))
                .build()?;
            handler.layer(
                McpAuth::builder(RESOURCE)
                    .verifier(verifier)
                    .required_scopes(["mcp:read"])
                    .build()?,
            )
        }
        "introspection" => {
            let out = options
                .token_out
                .as_ref()
                .ok_or("--case introspection needs --token-out")?;
            let issuer = DevIssuer::builder()
                .client("load-rs", "load-rs-secret")
                .opaque_tokens(true)
                .default_resource(RESOURCE)
                .start()
                .await?;
            let token = issuer.opaque_token(
                &issuer
                    .token()
                    .subject("load-user")
                    .client_id("load-client")
                    .scopes(["mcp:read", "mcp:write"])
                    .audience(RESOURCE)
                    .expires_in(Duration::from_secs(3_600)),
            );
            fs::write(out, format!("{token}\n"))?;
            let verifier = IntrospectionVerifier::builder()
                .endpoint(issuer.introspection_endpoint())
                .issuer(issuer.issuer())
                .client_secret_basic("load-rs", "load-rs-secret")
                .build()?;
            dev_issuer = Some(issuer);
            handler.layer(
                McpAuth::builder(RESOURCE)
                    .verifier(verifier)
                    .required_scopes(["mcp:read"])
                    .build()?,
            )
        }
        other => return Err(format!("unknown case {other:?}").into()),
    };

    let accepted = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&accepted);
    let app = app.route(
        "/load-stats",
        get(move || {
            let accepted = counter.load(Ordering::Relaxed);
            async move { format!("accepted={accepted}\n") }
        }),
    );
    let listener = TcpListener::bind(options.addr).await?;
    let addr = listener.local_addr()?;
    let counter = Arc::clone(&accepted);
    let listener = listener.tap_io(move |tcp| {
        counter.fetch_add(1, Ordering::Relaxed);
        // As `axum::serve` users are told to; a failure only costs latency.
        let _ = tcp.set_nodelay(true);
    });
    println!("READY http://{addr}/mcp");
    io::stdout().flush()?;

    tokio::select! {
        served = axum::serve(listener, app) => served?,
        () = stop() => {}
    }
    drop(dev_issuer);
    Ok(())
}

/// The handler: reads the whole body, as an MCP server does, and answers a fixed result.
async fn answer(body: Bytes) -> impl IntoResponse {
    drop(body);
    ([(header::CONTENT_TYPE, "application/json")], ANSWER)
}

/// The `raw-rs256` handler: one signature check of the bearer token, then [`answer`].
async fn raw_answer(
    State(key): State<Arc<ParsedPublicKey>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    let checked = token.and_then(|token| {
        let dot = token.iter().rposition(|&b| b == b'.')?;
        let mut signature = [0_u8; 512];
        let len = URL_SAFE_NO_PAD
            .decode_slice(&token[dot + 1..], &mut signature)
            .ok()?;
        key.verify_sig(&token[..dot], &signature[..len]).ok()
    });
    match checked {
        Some(()) => answer(body).await.into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// The RS256 public key of a one-key JWKS, parsed for aws-lc-rs.
fn parsed_rs256_key(jwks: &str) -> Result<ParsedPublicKey, BoxError> {
    let jwks: serde_json::Value = serde_json::from_str(jwks)?;
    let component = |name: &str| -> Result<Vec<u8>, BoxError> {
        let value = jwks["keys"][0][name]
            .as_str()
            .ok_or_else(|| format!("the key set has no {name}"))?;
        Ok(URL_SAFE_NO_PAD.decode(value)?)
    };
    let (n, e) = (component("n")?, component("e")?);
    RsaPublicKeyComponents { n, e }
        .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
        .map_err(|err| format!("the key does not parse: {err}").into())
}

/// Resolves on `SIGTERM` or Ctrl-C.
async fn stop() {
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
