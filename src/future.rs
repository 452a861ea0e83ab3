//! Response future for [`McpAuth`](crate::McpAuth).

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::SystemTime,
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::{
    authorize::{AfterResponse, Authorized, Authorizer, BindFuture},
    body::{Connection, RequestBody, ResponseBody},
    challenge::DPOP_NONCE,
};

type AuthorizeFuture<B> =
    Pin<Box<dyn Future<Output = Result<Authorized<B>, Response<Bytes>>> + Send>>;
type RejectFuture = Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>;

pin_project! {
    /// Response future for [`McpAuth`](crate::McpAuth).
    ///
    /// See the [crate docs](crate) for an example.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<RequestBody<B>>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<RequestBody<B>>>,
    {
        // Authorizing; the inner service waits beside the future, ready to be called.
        Authorize {
            fut: AuthorizeFuture<B>,
            inner: S,
        },
        // The inner service is answering; `after` is applied to its response.
        Inner {
            #[pin]
            fut: S::Future,
            after: Option<(Arc<Authorizer>, AfterResponse)>,
        },
        // The response waits for its session binding to be stored.
        Bind {
            fut: BindFuture,
            authorizer: Arc<Authorizer>,
            response: Option<S::Response>,
            end_stream_at: Option<SystemTime>,
        },
        // A rejection waits for the request body to be drained.
        Reject {
            fut: RejectFuture,
        },
        Ready {
            response: Option<Response<Bytes>>,
        },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>>,
{
    pub(crate) fn authorize(fut: AuthorizeFuture<B>, inner: S) -> Self {
        Self {
            state: State::Authorize { fut, inner },
        }
    }

    /// Calls `inner` with a request authorized without waiting.
    pub(crate) fn authorized(authorized: Authorized<B>, inner: &mut S) -> Self {
        let Authorized {
            request,
            after,
            authorizer,
        } = authorized;
        Self {
            state: State::Inner {
                fut: inner.call(request),
                after: Some((authorizer, after)),
            },
        }
    }

    pub(crate) fn inner(fut: S::Future) -> Self {
        Self {
            state: State::Inner { fut, after: None },
        }
    }

    pub(crate) fn reject(fut: RejectFuture) -> Self {
        Self {
            state: State::Reject { fut },
        }
    }

    pub(crate) fn ready(response: Response<Bytes>) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Authorize { fut, inner } => {
                    // `call` takes `&mut S`: the inner service stays in this state, and goes
                    // when the state is replaced.
                    let next = match ready!(fut.as_mut().poll(cx)) {
                        Ok(Authorized {
                            request,
                            after,
                            authorizer,
                        }) => State::Inner {
                            fut: inner.call(request),
                            after: Some((authorizer, after)),
                        },
                        Err(rejection) => State::Ready {
                            response: Some(rejection),
                        },
                    };
                    this.state.set(next);
                }
                StateProj::Inner { fut, after } => {
                    let res = ready!(fut.poll(cx))?;
                    let Some((authorizer, after)) = after.take() else {
                        return Poll::Ready(Ok(res.map(ResponseBody::inner)));
                    };
                    let plan = authorizer.after_response(res.headers(), after);
                    let mut res = res;
                    if let Some(nonce) = plan.dpop_nonce.as_deref()
                        && let Ok(nonce) = HeaderValue::from_str(nonce)
                    {
                        res.headers_mut().insert(DPOP_NONCE, nonce);
                    }
                    let Some(bind) = plan.bind else {
                        return Poll::Ready(Ok(finish(res, plan.end_stream_at)));
                    };
                    this.state.set(State::Bind {
                        fut: bind,
                        authorizer,
                        response: Some(res),
                        end_stream_at: plan.end_stream_at,
                    });
                }
                StateProj::Bind {
                    fut,
                    authorizer,
                    response,
                    end_stream_at,
                } => {
                    let bound = ready!(fut.as_mut().poll(cx));
                    let res = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(match bound {
                        Ok(()) => finish(res, *end_stream_at),
                        // Not bound: the session must not be usable. The body of the answer
                        // that created it is dropped unread.
                        Err(err) => authorizer
                            .reject(err, Connection::KeepAlive)
                            .map(ResponseBody::full),
                    }));
                }
                StateProj::Reject { fut } => {
                    let res = ready!(fut.as_mut().poll(cx));
                    return Poll::Ready(Ok(res.map(ResponseBody::full)));
                }
                StateProj::Ready { response } => {
                    let res = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(res.map(ResponseBody::full)));
                }
            }
        }
    }
}

/// The inner service's response as the layer sends it.
fn finish<ResBody>(
    res: Response<ResBody>,
    end_stream_at: Option<SystemTime>,
) -> Response<ResponseBody<ResBody>> {
    let mut res = res.map(ResponseBody::inner);
    if let Some(deadline) = end_stream_at {
        res.body_mut().end_at(deadline);
    }
    res
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
