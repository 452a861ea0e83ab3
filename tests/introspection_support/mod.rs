//! A switchable RFC 7662 introspection endpoint on loopback, for the introspection tests and
//! benchmark: per-token answers, and switches for delay, status, raw body and connection
//! resets, with a call counter and the last request kept for inspection.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream},
};

pub const RESOURCE: &str = "http://127.0.0.1:8080/mcp";
pub const ISSUER: &str = "https://as.example.com";

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// A well-formed active answer for this resource.
pub fn active() -> Value {
    json!({
        "active": true,
        "iss": ISSUER,
        "sub": "alice",
        "client_id": "client-1",
        "scope": "mcp:read mcp:write",
        "aud": RESOURCE,
        "token_type": "Bearer",
        "iat": now() as u64,
        "exp": now() as u64 + 3600,
    })
}

/// `active()` with `f` applied.
pub fn active_with(f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut answer = active();
    f(answer.as_object_mut().expect("object"));
    answer
}

/// What the endpoint received last.
#[derive(Clone, Debug, Default)]
pub struct Received {
    pub headers: HeaderMap,
    pub form: Vec<(String, String)>,
}

impl Received {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Switches {
    delay: Duration,
    status: Option<StatusCode>,
    body: Option<String>,
    answers: HashMap<String, Value>,
    last: Option<Received>,
}

struct Shared {
    calls: AtomicUsize,
    redirected: AtomicUsize,
    switches: Mutex<Switches>,
}

/// The stand-in introspection endpoint. Unknown tokens are inactive.
pub struct StandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            calls: AtomicUsize::new(0),
            redirected: AtomicUsize::new(0),
            switches: Mutex::new(Switches::default()),
        });
        let app = Router::new()
            .route("/introspect", post(introspect))
            .route("/elsewhere", post(elsewhere))
            .with_state(Arc::clone(&shared));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, shared, task }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}/introspect", self.addr)
    }

    /// How many introspection requests arrived.
    pub fn calls(&self) -> usize {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// How many requests followed a redirect.
    pub fn redirected(&self) -> usize {
        self.shared.redirected.load(Ordering::SeqCst)
    }

    /// The answer for `token` (200, JSON).
    pub fn answer(&self, token: &str, answer: Value) {
        self.switches().answers.insert(token.to_owned(), answer);
    }

    /// Delays every answer.
    pub fn set_delay(&self, delay: Duration) {
        self.switches().delay = delay;
    }

    /// Answers every request with this status (a `Location` is added for 3xx).
    pub fn set_status(&self, status: Option<StatusCode>) {
        self.switches().status = status;
    }

    /// Answers every request with this raw body (as `application/json`, status 200 unless set).
    pub fn set_body(&self, body: Option<String>) {
        self.switches().body = body;
    }

    /// Back to normal: no delay, status, or raw body.
    pub fn heal(&self) {
        let mut switches = self.switches();
        switches.delay = Duration::ZERO;
        switches.status = None;
        switches.body = None;
    }

    pub fn last(&self) -> Received {
        self.switches()
            .last
            .clone()
            .expect("a request was received")
    }

    fn switches(&self) -> std::sync::MutexGuard<'_, Switches> {
        self.shared.switches.lock().unwrap()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn introspect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.calls.fetch_add(1, Ordering::SeqCst);
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let (delay, status, raw, answer) = {
        let mut switches = shared.switches.lock().unwrap();
        let token = form
            .iter()
            .find(|(n, _)| n == "token")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        switches.last = Some(Received {
            headers,
            form: form.clone(),
        });
        (
            switches.delay,
            switches.status,
            switches.body.clone(),
            switches
                .answers
                .get(&token)
                .cloned()
                .unwrap_or_else(|| json!({"active": false})),
        )
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = status.unwrap_or(StatusCode::OK);
    let body = raw.unwrap_or_else(|| answer.to_string());
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status.is_redirection() {
        response
            .headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/elsewhere"));
    }
    response
}

async fn elsewhere(State(shared): State<Arc<Shared>>) -> Response {
    shared.redirected.fetch_add(1, Ordering::SeqCst);
    axum::Json(active()).into_response()
}

/// A loopback endpoint that reads the request and then resets the connection (a TCP RST,
/// not a graceful close).
pub async fn resetting_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0_u8; 4096];
            let _ = stream.read(&mut buf).await;
            reset(stream);
        }
    });
    (format!("http://{addr}/introspect"), task)
}

/// Drops `stream` with `SO_LINGER` set to zero, so the kernel aborts the connection with an
/// RST instead of a FIN.
fn reset(stream: TcpStream) {
    // Deprecated in recent tokio because a non-zero linger blocks the thread on drop; a zero
    // linger does not block (and `set_zero_linger` is not in every tokio we allow).
    #[allow(deprecated)]
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
}

/// A loopback URL where nothing listens.
pub async fn closed_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/introspect")
}
