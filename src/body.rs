//! The body types of [`McpAuthService`](crate::McpAuthService), and the bounded reads the
//! layer does on request bodies.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use http::{HeaderMap, Version, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::challenge::{AuthError, AuthErrorKind};

pin_project! {
    /// Request body the inner service receives: the original body, or, when the layer had to
    /// read the body to apply per-operation scopes, the same bytes (and trailers) replayed
    /// exactly as received.
    pub struct RequestBody<B> {
        #[pin]
        kind: ReqKind<B>,
    }
}

pin_project! {
    #[project = ReqKindProj]
    enum ReqKind<B> {
        Buffered { data: Option<Bytes>, trailers: Option<HeaderMap> },
        Inner { #[pin] body: B },
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: ReqKind::Inner { body },
        }
    }

    /// No body at all.
    pub(crate) fn empty() -> Self {
        Self::buffered(Bytes::new(), None)
    }

    pub(crate) fn buffered(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        let data = (!data.is_empty()).then_some(data);
        Self {
            kind: ReqKind::Buffered { data, trailers },
        }
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            ReqKindProj::Buffered { data, trailers } => Poll::Ready(
                data.take()
                    .map(Frame::data)
                    .or_else(|| trailers.take().map(Frame::trailers))
                    .map(Ok),
            ),
            ReqKindProj::Inner { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            ReqKind::Buffered { data, trailers } => data.is_none() && trailers.is_none(),
            ReqKind::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            ReqKind::Buffered { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            ReqKind::Inner { body } => body.size_hint(),
        }
    }
}

impl<B> std::fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ReqKind::Buffered { data, .. } => f
                .debug_struct("RequestBody::Buffered")
                .field("len", &data.as_ref().map_or(0, Bytes::len))
                .finish(),
            ReqKind::Inner { .. } => f.debug_struct("RequestBody::Inner").finish_non_exhaustive(),
        }
    }
}

pin_project! {
    /// Response body of [`McpAuthService`](crate::McpAuthService): the inner service's body, or
    /// the bytes of a response the layer wrote itself (a rejection or the metadata document).
    ///
    /// It implements [`http_body::Body`] with `Data = Bytes` and the inner body's error type,
    /// so axum, hyper and rmcp accept it as they accept the inner body.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Full { data: Option<Bytes> },
        Inner { #[pin] body: B, deadline: Option<Pin<Box<Sleep>>> },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn full(data: Bytes) -> Self {
        let data = (!data.is_empty()).then_some(data);
        Self {
            kind: Kind::Full { data },
        }
    }

    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner {
                body,
                deadline: None,
            },
        }
    }

    /// Ends the inner body (cleanly, as if it were complete) at `deadline`.
    pub(crate) fn end_at(&mut self, deadline: SystemTime) {
        if let Kind::Inner { deadline: slot, .. } = &mut self.kind {
            let left = deadline
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            *slot = Some(Box::pin(tokio::time::sleep(left)));
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Inner { body, deadline } => {
                if let Some(deadline) = deadline
                    && deadline.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(None);
                }
                body.poll_frame(cx)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data } => data.is_none(),
            Kind::Inner { body, .. } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Inner { body, .. } => body.size_hint(),
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Full { data } => f
                .debug_struct("ResponseBody::Full")
                .field("len", &data.as_ref().map_or(0, Bytes::len))
                .finish(),
            Kind::Inner { .. } => f
                .debug_struct("ResponseBody::Inner")
                .finish_non_exhaustive(),
        }
    }
}

/// The most a rejection reads of a request body it did not need, to keep the connection.
pub(crate) const DRAIN_MAX: u64 = 64 * 1024;
/// How long a rejection waits for that body before it closes the connection instead.
pub(crate) const DRAIN_DEADLINE: Duration = Duration::from_secs(1);

/// What a rejection does with the connection of the request it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Connection {
    /// The request body was empty or read: the connection can carry the next request.
    KeepAlive,
    /// Body bytes were left unread on an HTTP/1 connection: the response says
    /// `Connection: close`.
    Close,
}

impl Connection {
    /// What rejecting a request with these headers, without reading its body, does to its
    /// connection.
    ///
    /// hyper closes an HTTP/1 connection whose request body was left unread; a client that is
    /// not told so would reuse it and fail ("server disconnected") on its next request.
    pub(crate) fn after_rejecting(version: Version, headers: &HeaderMap) -> Self {
        if declares_body(headers) {
            Self::after_failed_read(version)
        } else {
            Self::KeepAlive
        }
    }

    /// What a request whose body was left partly read does to its connection: an HTTP/1
    /// connection cannot carry the next request. HTTP/2 streams are independent, and it
    /// forbids `Connection` (RFC 9113 §8.2.2).
    pub(crate) fn after_failed_read(version: Version) -> Self {
        if version <= Version::HTTP_11 {
            Self::Close
        } else {
            Self::KeepAlive
        }
    }

    /// Says so in `res`: `Connection: close` for [`Close`](Self::Close).
    pub(crate) fn mark<B>(self, res: &mut http::Response<B>) {
        if self == Self::Close {
            res.headers_mut()
                .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
        }
    }

    /// Reads and discards the body of a request about to be rejected, so that its HTTP/1
    /// connection can carry the next request: a client whose first request has no token
    /// (as every MCP client's has) then retries on the same connection.
    ///
    /// Only a small body is read: at most [`DRAIN_MAX`] bytes (by its `Content-Length` and as
    /// it arrives) within [`DRAIN_DEADLINE`]; a larger, slower or broken one, or one the client
    /// holds back until `100 Continue`, is left unread and the connection closed.
    pub(crate) async fn drain<B>(version: Version, headers: &HeaderMap, body: B) -> Self
    where
        B: Body<Data = Bytes>,
    {
        if Self::after_rejecting(version, headers) == Self::KeepAlive {
            return Self::KeepAlive;
        }
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|len| len.to_str().ok())
            .and_then(|len| len.parse::<u64>().ok());
        if headers.contains_key(header::EXPECT) || declared.is_some_and(|len| len > DRAIN_MAX) {
            return Self::Close;
        }
        let read = async {
            let mut body = std::pin::pin!(body);
            let mut seen = 0_u64;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { return false };
                if let Some(data) = frame.data_ref() {
                    seen += data.len() as u64;
                    if seen > DRAIN_MAX {
                        return false;
                    }
                }
            }
            true
        };
        match tokio::time::timeout(DRAIN_DEADLINE, read).await {
            Ok(true) => Self::KeepAlive,
            Ok(false) | Err(_) => Self::Close,
        }
    }
}

/// Whether a request's headers say a body follows them (`Transfer-Encoding`, or a
/// `Content-Length` other than `0`). Without either, an HTTP/1 request has none; an HTTP/2
/// one may still send one.
pub(crate) fn declares_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|len| len.as_bytes() != b"0")
}

/// Reads a whole body (and its trailers), refusing to hold more than `max` bytes: `413`
/// when the declared or the actual length is larger.
pub(crate) async fn read_bounded<B>(
    headers: &HeaderMap,
    body: B,
    max: usize,
) -> Result<(Bytes, Option<HeaderMap>), AuthError>
where
    B: Body<Data = Bytes>,
{
    let too_large = || {
        AuthError::new(
            AuthErrorKind::PayloadTooLarge,
            format!("the request body is larger than {max} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large());
    }
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            AuthError::new(
                AuthErrorKind::InvalidRequest,
                "the request body could not be read",
            )
        })?;
        match frame.into_data() {
            Ok(data) => {
                let len = first.as_ref().map_or(0, Bytes::len) + rest.len() + data.len();
                if len > max {
                    return Err(too_large());
                }
                // One frame (the usual case) is kept as is; more are joined.
                match &first {
                    None if rest.is_empty() => first = Some(data),
                    _ => {
                        if let Some(f) = first.take() {
                            rest.extend_from_slice(&f);
                        }
                        rest.extend_from_slice(&data);
                    }
                }
            }
            Err(frame) => {
                if let Ok(t) = frame.into_trailers() {
                    trailers = Some(t);
                }
            }
        }
    }
    let data = first.unwrap_or_else(|| Bytes::from(rest));
    Ok((data, trailers))
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Empty};

    use super::*;

    #[tokio::test]
    async fn full_body_yields_its_bytes_once() {
        let body = ResponseBody::<Empty<Bytes>>::full(Bytes::from_static(b"{}"));
        assert_eq!(body.size_hint().exact(), Some(2));
        assert!(!body.is_end_stream());
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(collected, Bytes::from_static(b"{}"));
        let empty = ResponseBody::<Empty<Bytes>>::full(Bytes::new());
        assert!(empty.is_end_stream());
    }
}
