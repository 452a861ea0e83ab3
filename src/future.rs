//! Response future for [`McpAuth`](crate::McpAuth).

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::{
    authorize::Authorizer,
    body::{Connection, ResponseBody},
    challenge::AuthError,
};

type AuthorizeFuture<ReqBody> =
    Pin<Box<dyn Future<Output = Result<Request<ReqBody>, AuthError>> + Send + 'static>>;

pin_project! {
    /// Response future for [`McpAuth`](crate::McpAuth).
    ///
    /// See the [crate docs](crate) for an example.
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Authorize {
            fut: AuthorizeFuture<ReqBody>,
            inner: S,
            authorizer: Arc<Authorizer>,
            connection: Connection,
        },
        Inner {
            #[pin]
            fut: S::Future,
        },
        Ready {
            response: Option<Response<Bytes>>,
        },
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn authorize(
        fut: AuthorizeFuture<ReqBody>,
        inner: S,
        authorizer: Arc<Authorizer>,
        connection: Connection,
    ) -> Self {
        Self {
            state: State::Authorize {
                fut,
                inner,
                authorizer,
                connection,
            },
        }
    }

    pub(crate) fn inner(fut: S::Future) -> Self {
        Self {
            state: State::Inner { fut },
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

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Authorize {
                    fut,
                    inner,
                    authorizer,
                    connection,
                } => {
                    // `call` takes `&mut S`: the inner service stays in this state, and goes
                    // when the state is replaced.
                    let next = match ready!(fut.as_mut().poll(cx)) {
                        Ok(req) => State::Inner {
                            fut: inner.call(req),
                        },
                        Err(err) => State::Ready {
                            response: Some(authorizer.reject(err, *connection)),
                        },
                    };
                    this.state.set(next);
                }
                StateProj::Inner { fut } => {
                    let res = ready!(fut.poll(cx))?;
                    return Poll::Ready(Ok(res.map(ResponseBody::inner)));
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

impl<S, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
