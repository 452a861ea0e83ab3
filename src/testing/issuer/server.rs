//! Serving the dev issuer: its own accept loop, so that it can be stopped and restarted on the
//! same address and can reset connections, and per request the switches a test set: the
//! endpoint's counter, delay and [`Fault`].

use std::{
    fmt, io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body::Frame;
use http_body_util::BodyExt as _;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{oneshot, watch},
    task::{JoinHandle, JoinSet},
};
use tower_service::Service as _;

use super::{endpoints, state::ServerState, switches::Fault};

/// How long a graceful shutdown lets open connections finish.
const GRACE: Duration = Duration::from_secs(5);

/// How many bytes [`Fault::Truncated`] promises beyond the body it sends.
const MISSING_BYTES: usize = 64;

/// The body of [`Fault::Garbage`]: what a misconfigured proxy answers.
const GARBAGE: &str = "<!doctype html><title>502 Bad Gateway</title><h1>Bad Gateway</h1>";

/// An accept loop serving in a background task. Dropping it shuts the server down gracefully,
/// without waiting.
pub(super) struct Running {
    stop: oneshot::Sender<Stop>,
    task: JoinHandle<()>,
}

#[derive(Clone, Copy)]
enum Stop {
    /// Close the listener and every connection at once.
    Abort,
    /// Close the listener and let open connections finish, for a while.
    Graceful,
}

impl Running {
    /// Starts serving `state` on `listener`.
    pub(super) fn spawn(listener: TcpListener, state: Arc<ServerState>) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, state, stopped));
        Self { stop, task }
    }

    /// Closes the listener and drops every connection; returns once the port is free.
    pub(super) async fn abort(self) {
        let _ = self.stop.send(Stop::Abort);
        let _ = self.task.await;
    }

    /// Closes the listener, lets open connections finish (at most [`GRACE`]), then drops
    /// them; returns once all of that is done.
    pub(super) async fn shut_down(self) {
        let _ = self.stop.send(Stop::Graceful);
        let _ = self.task.await;
    }
}

async fn serve(
    listener: TcpListener,
    state: Arc<ServerState>,
    mut stopped: oneshot::Receiver<Stop>,
) {
    let router = endpoints::router(Arc::clone(&state));
    let (graceful, graceful_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let stop = loop {
        tokio::select! {
            // A dropped `Running` shuts down gracefully.
            stop = &mut stopped => break stop.unwrap_or(Stop::Graceful),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(
                        stream,
                        Arc::clone(&state),
                        router.clone(),
                        graceful_rx.clone(),
                    ));
                }
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    };
    drop(listener);
    if let Stop::Graceful = stop {
        let _ = graceful.send(true);
        let _ = tokio::time::timeout(GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
    }
    connections.shutdown().await;
}

async fn serve_connection(
    stream: TcpStream,
    state: Arc<ServerState>,
    router: Router,
    mut graceful: watch::Receiver<bool>,
) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(Connection {
        stream,
        reset: Arc::clone(&reset),
    });
    let service = service_fn(move |request| {
        respond(
            Arc::clone(&state),
            router.clone(),
            Arc::clone(&reset),
            request,
        )
    });
    let connection = http1::Builder::new().serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let stopping = async move {
        let _ = graceful.wait_for(|stop| *stop).await;
    };
    tokio::select! {
        _ = connection.as_mut() => return,
        () = stopping => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// Answers one request: counts it, delays it and applies the fault of its endpoint.
async fn respond(
    state: Arc<ServerState>,
    router: Router,
    reset: Arc<AtomicBool>,
    request: Request<Incoming>,
) -> Result<Response, Aborted> {
    let Some(endpoint) = state.endpoint_at(request.uri().path()) else {
        return Ok(route(router, request).await);
    };
    let _in_flight = state.counters().record(endpoint);
    let (delay, fault) = {
        let switches = state.switches();
        (switches.delay(endpoint), switches.fault(endpoint))
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let Some(fault) = fault else {
        return Ok(route(router, request).await);
    };
    Ok(match fault {
        Fault::Garbage => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            GARBAGE,
        )
            .into_response(),
        Fault::Huge(size) => padded(route(router, request).await, size).await,
        Fault::Redirect(location) => match HeaderValue::from_str(&location) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Fault::Reset => {
            reset.store(true, Ordering::SeqCst);
            return Err(Aborted);
        }
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code)
                .ok()
                .filter(|s| (200..600).contains(&s.as_u16()))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = route(router, request).await;
            *response.status_mut() = status;
            response
        }
        Fault::Truncated => {
            let (mut parts, body) = route(router, request).await.into_parts();
            let body = collect(body).await;
            parts.headers.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(body.len() + MISSING_BYTES),
            );
            Response::from_parts(parts, Body::new(EndsEarly::new(body)))
        }
    })
}

/// The endpoint's own answer.
async fn route(mut router: Router, request: Request<Incoming>) -> Response {
    match router.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// `200 OK` with `response`'s JSON object body padded to `size` bytes.
async fn padded(response: Response, size: usize) -> Response {
    let body = collect(response.into_body()).await;
    let mut document = match serde_json::from_slice(&body) {
        Ok(Value::Object(document)) => document,
        _ => Map::new(),
    };
    document.insert("padding".to_owned(), Value::from(""));
    let unpadded = Value::Object(document.clone()).to_string().len();
    let padding = "x".repeat(size.saturating_sub(unpadded));
    document.insert("padding".to_owned(), Value::from(padding));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Value::Object(document).to_string(),
    )
        .into_response()
}

/// The bytes of a body the endpoints built in memory (empty if it fails, which they never do).
async fn collect(body: Body) -> Bytes {
    body.collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default()
}

/// The error that makes hyper drop a connection without answering.
#[derive(Debug)]
struct Aborted;

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("connection reset by a fault")
    }
}

impl std::error::Error for Aborted {}

/// A response body of unknown length that yields its bytes, gives hyper one turn to send
/// them, then fails, so that hyper closes the connection short of the `Content-Length`.
struct EndsEarly {
    data: Option<Bytes>,
    sent: bool,
}

impl EndsEarly {
    fn new(data: Bytes) -> Self {
        Self {
            data: Some(data),
            sent: false,
        }
    }
}

impl http_body::Body for EndsEarly {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if !self.sent {
            // Pending once: hyper flushes what it has before it polls again.
            self.sent = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "body truncated by a fault",
        ))))
    }
}

/// A served TCP connection that a [`Fault::Reset`] can abort: once `reset` is set it sends
/// nothing more, and closing it sends an RST instead of a FIN.
struct Connection {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Connection {
    fn is_reset(&self) -> bool {
        self.reset.load(Ordering::SeqCst)
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_reset() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.is_reset() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_reset() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_reset() {
            // No FIN: the RST comes when the socket is dropped.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.is_reset() {
            // A zero linger makes the close an abortive one (RST). Tokio deprecates
            // `set_linger` because a non-zero linger blocks the thread on close; a zero linger
            // does not (and `set_zero_linger` is newer than the Tokio this crate allows).
            #[allow(deprecated)]
            let _ = self.stream.set_linger(Some(Duration::ZERO));
        }
    }
}
