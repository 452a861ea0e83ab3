//! The request flow, top to bottom: what the layer decides for each request, and why.
//!
//! 1. **Metadata**: the RFC 9728 well-known paths are answered here, without authentication.
//! 2. **Preflight**: CORS preflights pass on without authentication.
//! 3. **Origin**: with an allow-list, a request with another `Origin` gets `403`.
//! 4. **Public paths** pass on without authentication.
//! 5. **Bearer**: the token comes from the `Authorization` header only
//!    ([`bearer::extract`]); it is removed from the request, whatever happens next.
//! 6. **Verify**: the [`TokenVerifier`] decides, within `verify_timeout`: invalid → `401`,
//!    cannot decide → `503` with `Retry-After`.
//! 7. **Audience**: the token must be meant for this resource (RFC 8707).
//! 8. **Body**: with per-operation rules, the JSON-RPC body is read (bounded) to learn what is
//!    called.
//! 9. **Scopes**: the global requirement and every per-operation one; missing → `403
//!    insufficient_scope` naming every scope the request needs.
//! 10. **Pass on** with the verified [`AuthInfo`] in the request extensions.
//!
//! Steps 1 to 5 look at the request line and headers only ([`Authorizer::route`]); steps 6 to
//! 10 run once the token is known ([`Authorizer::authorize`]). Every refusal is an
//! [`AuthError`], turned into a response by [`Authorizer::reject`].

use std::{fmt, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, header};
use http_body::Body;

use crate::{
    AuthInfo, TokenVerifier, bearer,
    body::{Connection, RequestBody, read_bounded},
    challenge::{AuthError, AuthErrorKind, Challenger},
    jsonrpc,
    metadata::ProtectedResourceMetadata,
    policy::{self, OperationPolicy, Requirement},
    resource::Audiences,
    verifier::VerifyErrorKind,
};

/// What [`Authorizer::route`] decided from the request line and headers.
#[derive(Debug)]
pub(crate) enum Route {
    /// Answer with this response (the metadata document).
    Respond(Response<Bytes>),
    /// Pass on without authentication (a preflight, a public path).
    PassThrough,
    /// Verify this token, then [`authorize`](Authorizer::authorize) the request.
    Authenticate(String),
}

/// Everything an [`Authorizer`] is made of, parsed and checked by
/// [`McpAuthBuilder::build`](crate::McpAuthBuilder::build).
pub(crate) struct AuthorizerParts {
    pub(crate) verifier: Arc<dyn TokenVerifier>,
    pub(crate) audiences: Audiences,
    pub(crate) metadata: ProtectedResourceMetadata,
    /// The path-inserted and the root well-known paths (equal for a root resource).
    pub(crate) well_known: [String; 2],
    pub(crate) allowed_origins: Option<Vec<String>>,
    pub(crate) public_paths: Vec<String>,
    pub(crate) required: Requirement,
    pub(crate) policy: OperationPolicy,
    pub(crate) max_body_size: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) max_token_size: usize,
    pub(crate) verify_timeout: Duration,
    pub(crate) challenger: Challenger,
}

/// The decisions of one layer configuration, shared by every service the layer makes.
pub(crate) struct Authorizer {
    verifier: Arc<dyn TokenVerifier>,
    audiences: Audiences,
    metadata: ProtectedResourceMetadata,
    well_known: [String; 2],
    allowed_origins: Option<Vec<String>>,
    public_paths: Box<[String]>,
    required: Requirement,
    policy: OperationPolicy,
    max_body_size: usize,
    body_timeout: Duration,
    max_token_size: usize,
    verify_timeout: Duration,
    challenger: Challenger,
}

impl Authorizer {
    pub(crate) fn new(parts: AuthorizerParts) -> Self {
        let AuthorizerParts {
            verifier,
            audiences,
            metadata,
            well_known,
            allowed_origins,
            public_paths,
            required,
            policy,
            max_body_size,
            body_timeout,
            max_token_size,
            verify_timeout,
            challenger,
        } = parts;
        Self {
            verifier,
            audiences,
            metadata,
            well_known,
            allowed_origins,
            public_paths: public_paths.into(),
            required,
            policy,
            max_body_size,
            body_timeout,
            max_token_size,
            verify_timeout,
            challenger,
        }
    }

    pub(crate) fn metadata(&self) -> &ProtectedResourceMetadata {
        &self.metadata
    }

    /// Steps 1 to 5: metadata, preflight, `Origin`, public paths, token extraction.
    ///
    /// The `Authorization` header is removed from every request that passes on (no token
    /// passthrough), and from requests that carry a token to verify.
    pub(crate) fn route<B>(&self, req: &mut Request<B>) -> Result<Route, AuthError> {
        let path = req.uri().path();
        if self.well_known.iter().any(|p| p == path) {
            return Ok(Route::Respond(self.metadata.respond(req.method())));
        }
        if is_preflight(req.method(), req.headers()) {
            req.headers_mut().remove(header::AUTHORIZATION);
            return Ok(Route::PassThrough);
        }
        self.check_origin(req.headers())?;
        if self.public_paths.iter().any(|p| p == path) {
            req.headers_mut().remove(header::AUTHORIZATION);
            return Ok(Route::PassThrough);
        }
        let token = bearer::extract(req.headers(), req.uri(), self.max_token_size)?.to_owned();
        req.headers_mut().remove(header::AUTHORIZATION);
        Ok(Route::Authenticate(token))
    }

    /// Step 3: every `Origin` header (not just the first) must be allowed.
    fn check_origin(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let Some(allowed) = &self.allowed_origins else {
            return Ok(());
        };
        let refused = headers.get_all(header::ORIGIN).iter().any(|origin| {
            !allowed
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
        });
        if refused {
            return Err(AuthError::new(
                AuthErrorKind::OriginNotAllowed,
                "the Origin of this request is not allowed",
            ));
        }
        Ok(())
    }

    /// Steps 6 to 10, for a request that carries `token`: verify it, check the audience, read
    /// the body when per-operation rules need it, check the scopes, and hand the request on
    /// with its [`AuthInfo`].
    pub(crate) async fn authorize<B>(
        self: Arc<Self>,
        token: String,
        req: Request<B>,
    ) -> Result<Request<RequestBody<B>>, AuthError>
    where
        B: Body<Data = Bytes>,
    {
        let info = self.verify(token).await?;
        self.check_audience(&info)?;
        let mut req = if self.must_read_body(&req)? {
            let (parts, body) = req.into_parts();
            let read = read_bounded(&parts.headers, body, self.max_body_size);
            let (data, trailers) = tokio::time::timeout(self.body_timeout, read)
                .await
                .map_err(|_elapsed| {
                    AuthError::new(
                        AuthErrorKind::RequestTimeout,
                        "the request body did not arrive in time",
                    )
                })??;
            self.check_operations(&info, &parts.headers, &data)?;
            Request::from_parts(parts, RequestBody::buffered(data, trailers))
        } else {
            self.check_scopes(&info, &[&self.required])?;
            req.map(RequestBody::inner)
        };
        req.extensions_mut().insert(info);
        Ok(req)
    }

    /// Step 6: the verifier's answer, within `verify_timeout`. The token is dropped here.
    async fn verify(&self, token: String) -> Result<AuthInfo, AuthError> {
        let verified = tokio::time::timeout(self.verify_timeout, self.verifier.verify(&token));
        match verified.await {
            Ok(Ok(info)) => Ok(info),
            Ok(Err(err)) => {
                log_verify_error!(err);
                let kind = match err.kind() {
                    VerifyErrorKind::InvalidToken => AuthErrorKind::InvalidToken,
                    _ => AuthErrorKind::VerifierUnavailable,
                };
                let mut rejection = AuthError::new(kind, err.description().to_owned());
                if let Some(retry_after) = err.retry_after() {
                    rejection = rejection.with_retry_after(retry_after);
                }
                Err(rejection)
            }
            Err(_elapsed) => Err(AuthError::new(
                AuthErrorKind::VerifierUnavailable,
                "token verification timed out",
            )),
        }
    }

    /// Step 7: the token must be meant for this resource.
    fn check_audience(&self, info: &AuthInfo) -> Result<(), AuthError> {
        if !self.audiences.accept(info.audiences()) {
            return Err(AuthError::new(
                AuthErrorKind::InvalidToken,
                "the access token is not meant for this resource (audience mismatch)",
            ));
        }
        Ok(())
    }

    /// Step 8: whether this request's body must be read to apply per-operation rules.
    ///
    /// With such rules, every `POST` is read: one that is not JSON gets `415`, because a
    /// server that parsed it anyway would see a tool call the layer never checked.
    fn must_read_body<B>(&self, req: &Request<B>) -> Result<bool, AuthError> {
        if self.policy.is_empty() || req.method() != Method::POST {
            return Ok(false);
        }
        if !is_json(req.headers()) {
            return Err(AuthError::new(
                AuthErrorKind::UnsupportedMediaType,
                "MCP requests must be sent as Content-Type: application/json",
            ));
        }
        Ok(true)
    }

    /// Steps 8 and 9 for a body that was read: what it calls, and the scopes that needs.
    fn check_operations(
        &self,
        info: &AuthInfo,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), AuthError> {
        let messages = jsonrpc::peek(body)
            .map_err(|err| AuthError::new(AuthErrorKind::InvalidRequest, err.to_string()))?;
        check_mcp_headers(headers, &messages)?;
        let mut requirements = vec![&self.required];
        for call in &messages.calls {
            if let Some(method) = call.method.as_deref() {
                let params = call.params.as_ref();
                self.policy.collect(
                    method,
                    params.and_then(|p| p.name.as_deref()),
                    params.and_then(|p| p.uri.as_deref()),
                    &mut requirements,
                );
            }
        }
        self.check_scopes(info, &requirements)
    }

    /// Step 9: the token must carry every scope of `requirements` (the global requirement
    /// first, then the per-operation ones).
    fn check_scopes(
        &self,
        info: &AuthInfo,
        requirements: &[&Requirement],
    ) -> Result<(), AuthError> {
        if policy::all_satisfied(requirements, info.scopes()) {
            return Ok(());
        }
        let needed: Vec<&Requirement> = requirements
            .iter()
            .copied()
            .filter(|r| !r.is_empty())
            .collect();
        Err(AuthError::new(
            AuthErrorKind::InsufficientScope,
            "the access token lacks a scope this request needs",
        )
        .with_scope(policy::union_challenge(&needed)))
    }

    /// The response for `err`.
    pub(crate) fn reject(&self, err: AuthError, connection: Connection) -> Response<Bytes> {
        let mut res = self.challenger.response(err);
        if connection == Connection::Close {
            res.headers_mut()
                .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        res
    }
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("resource", &self.audiences.resource().as_str())
            .field("verifier", &self.verifier)
            .field("audiences", &self.audiences)
            .field("allowed_origins", &self.allowed_origins)
            .field("public_paths", &self.public_paths)
            .field("required", &self.required)
            .field("policy", &self.policy)
            .field("max_token_size", &self.max_token_size)
            .field("verify_timeout", &self.verify_timeout)
            .finish_non_exhaustive()
    }
}

/// `Mcp-Method` and `Mcp-Name` (MCP 2026-07-28) must agree with the body, which is the
/// source of truth.
fn check_mcp_headers(
    headers: &HeaderMap,
    messages: &jsonrpc::Messages<'_>,
) -> Result<(), AuthError> {
    let method_header = headers.get("mcp-method");
    let name_header = headers.get("mcp-name");
    if method_header.is_none() && name_header.is_none() {
        return Ok(());
    }
    let mismatch = |what: &'static str| {
        AuthError::new(
            AuthErrorKind::InvalidRequest,
            format!("the {what} header does not match the request body"),
        )
    };
    // The headers mirror one request; a batch cannot match them.
    let (false, [call]) = (messages.batch, &messages.calls[..]) else {
        return Err(mismatch("Mcp-Method"));
    };
    if let Some(value) = method_header
        && call.method.as_deref().map(str::as_bytes) != Some(value.as_bytes())
    {
        return Err(mismatch("Mcp-Method"));
    }
    if let Some(value) = name_header {
        let params = call.params.as_ref();
        let body_name = match call.method.as_deref() {
            Some("resources/read" | "resources/subscribe" | "resources/unsubscribe") => {
                params.and_then(|p| p.uri.as_deref())
            }
            _ => params.and_then(|p| p.name.as_deref()),
        };
        // Header values are ASCII; a non-ASCII name may be encoded in the header, which the
        // MCP server checks. Plain ASCII values must be equal.
        match body_name {
            Some(name) if name.is_ascii() => {
                if name.as_bytes() != value.as_bytes() {
                    return Err(mismatch("Mcp-Name"));
                }
            }
            Some(_) => {}
            None => return Err(mismatch("Mcp-Name")),
        }
    }
    Ok(())
}

/// Whether the content type is JSON (`application/json` or `application/*+json`).
fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|ct| {
        let essence = ct
            .as_bytes()
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        let Some((kind, subtype)) = essence.split_at_checked(12) else {
            return false;
        };
        kind.eq_ignore_ascii_case(b"application/")
            && (subtype.eq_ignore_ascii_case(b"json")
                || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case(b"+json"))
    })
}

fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}
