//! The HTTP endpoints of the dev issuer (axum handlers): metadata, JWKS, authorization, token,
//! introspection and registration. Request counting, delays and faults happen before these
//! run, in `server.rs`.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use serde_json::{Value, json};
use url::Url;

use super::{
    oauth::{OAuthError, Params, is_s256_challenge, no_store, printable},
    state::{AuthCode, Client, Grant, ServerState},
    switches::{Endpoint, IntrospectionRequest},
};
use crate::{
    dpop::SignedProof,
    testing::encoding::{random_id, unix},
};

/// How long an authorization code stays usable.
const CODE_LIFETIME: Duration = Duration::from_secs(60);

/// The routes of every endpoint, at the paths [`Endpoint::path`] gives.
pub(super) fn router(state: Arc<ServerState>) -> Router {
    let path = |endpoint| state.path(endpoint);
    Router::new()
        .route(&path(Endpoint::Metadata), get(metadata))
        .route(&path(Endpoint::OpenIdConfiguration), get(metadata))
        .route(&path(Endpoint::Jwks), get(jwks))
        .route(&path(Endpoint::Authorize), get(authorize))
        .route(&path(Endpoint::Token), post(token))
        .route(&path(Endpoint::Introspection), post(introspect))
        .route(&path(Endpoint::Registration), post(register))
        .with_state(state)
}

/// A public document: readable from any origin, cacheable for `cache_control`.
fn public_json(body: Value, cache_control: Option<HeaderValue>) -> Response {
    let mut response = (
        [(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        )],
        Json(body),
    )
        .into_response();
    if let Some(value) = cache_control {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

async fn metadata(State(state): State<Arc<ServerState>>) -> Response {
    public_json(
        state.metadata(),
        Some(HeaderValue::from_static("max-age=300")),
    )
}

async fn jwks(State(state): State<Arc<ServerState>>) -> Response {
    let cache_control = state.switches().jwks_cache_control();
    public_json(state.jwks(), cache_control)
}

async fn authorize(State(state): State<Arc<ServerState>>, uri: Uri) -> Response {
    match authorize_inner(&state, uri.query().unwrap_or_default()) {
        Ok(location) | Err(AuthorizeError::Redirect(location)) => redirect(&location),
        Err(AuthorizeError::Direct(err)) => err.into_response(),
    }
}

enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: tell the user agent, do not redirect.
    Direct(OAuthError),
    /// Report the error to the client through the redirect URI.
    Redirect(Url),
}

fn authorize_inner(state: &ServerState, query: &str) -> Result<Url, AuthorizeError> {
    let params = Params::parse(query.as_bytes()).map_err(AuthorizeError::Direct)?;
    let direct = |msg: &str| AuthorizeError::Direct(OAuthError::invalid_request(msg));
    let client_id = params
        .one("client_id")
        .ok_or_else(|| direct("client_id is required"))?;
    let client = state
        .records()
        .clients
        .get(client_id)
        .cloned()
        .ok_or_else(|| direct("unknown client_id"))?;
    let redirect_uri = params
        .one("redirect_uri")
        .ok_or_else(|| direct("redirect_uri is required"))?;
    let mut target = Url::parse(redirect_uri)
        .ok()
        .filter(|u| u.fragment().is_none())
        .ok_or_else(|| direct("redirect_uri is not an absolute URI without fragment"))?;
    if !client.allows_redirect(redirect_uri) {
        return Err(direct("redirect_uri is not registered for this client"));
    }
    let client_state = params.one("state");
    let respond = |mut target: Url, pairs: &[(&str, &str)]| {
        {
            let mut query = target.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if let Some(client_state) = client_state {
                query.append_pair("state", client_state);
            }
            query.append_pair("iss", state.issuer());
        }
        target
    };
    let fail = |code: &str, description: &str| {
        AuthorizeError::Redirect(respond(
            target.clone(),
            &[("error", code), ("error_description", description)],
        ))
    };
    if params.one("response_type") != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    if !client.allows_grant("authorization_code") {
        return Err(fail(
            "unauthorized_client",
            "client may not use authorization_code",
        ));
    }
    let Some(challenge) = params.one("code_challenge") else {
        return Err(fail("invalid_request", "code_challenge is required (PKCE)"));
    };
    if params.one("code_challenge_method") != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if !is_s256_challenge(challenge) {
        return Err(fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 hash",
        ));
    }
    let scopes = state
        .grant_scopes(params.one("scope"))
        .map_err(|e| fail(e.code(), e.description()))?;
    let resources = state
        .resources(&params)
        .map_err(|e| fail(e.code(), e.description()))?;
    let code = random_id(32);
    state.records().codes.insert(
        code.clone(),
        AuthCode {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            challenge: challenge.to_owned(),
            scopes,
            resources,
            expires_at: SystemTime::now() + CODE_LIFETIME,
        },
    );
    target = respond(target, &[("code", &code)]);
    Ok(target)
}

fn redirect(location: &Url) -> Response {
    match HeaderValue::from_str(location.as_str()) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => OAuthError::invalid_request("redirect_uri cannot be used").into_response(),
    }
}

async fn token(State(state): State<Arc<ServerState>>, headers: HeaderMap, body: Bytes) -> Response {
    match token_inner(&state, &headers, &body) {
        Ok(body) => (no_store(), Json(body)).into_response(),
        Err(err) => err.into_response(),
    }
}

fn token_inner(state: &ServerState, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = Params::form(headers, body)?;
    let grant_type = params
        .one("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if !matches!(
        grant_type,
        "authorization_code" | "client_credentials" | "refresh_token"
    ) {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "supported: authorization_code, client_credentials, refresh_token",
        ));
    }
    let (client_id, client) = state.authenticate(headers, &params)?;
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::new(
            "unauthorized_client",
            format!("client may not use {grant_type}"),
        ));
    }
    let (grant, refresh) = match grant_type {
        "client_credentials" => {
            if client.secret.is_none() {
                return Err(OAuthError::new(
                    "unauthorized_client",
                    "public clients may not use client_credentials",
                ));
            }
            let grant = Grant {
                subject: client_id.clone(),
                client_id,
                scopes: state.grant_scopes(params.one("scope"))?,
                resources: state.resources(&params)?,
            };
            (grant, false)
        }
        "authorization_code" => (state.redeem_code(&client_id, &params)?, true),
        _ => (state.refresh(&client_id, &params)?, true),
    };
    // RFC 9449 §5: a token request with a DPoP proof gets a token bound to the proof's key.
    let jkt = dpop_thumbprint(headers, &state.url(Endpoint::Token))?;
    let access_token = state.mint(&grant, jkt.as_deref());
    let mut response = json!({
        "access_token": access_token,
        "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": state.config().token_ttl.as_secs(),
    });
    if !grant.scopes.is_empty() {
        response["scope"] = Value::from(grant.scopes.join(" "));
    }
    if refresh && state.config().refresh_tokens {
        let refresh_token = format!("dev-rt-{}", random_id(32));
        state
            .records()
            .refresh_tokens
            .insert(refresh_token.clone(), grant);
        response["refresh_token"] = Value::from(refresh_token);
    }
    Ok(response)
}

/// The key thumbprint of the token request's DPoP proof, if it has one (RFC 9449 §4.3, for
/// the token endpoint: no `ath`). A proof that does not hold is `invalid_dpop_proof`.
fn dpop_thumbprint(
    headers: &HeaderMap,
    token_endpoint: &str,
) -> Result<Option<String>, OAuthError> {
    let mut proofs = headers.get_all("dpop").iter();
    let Some(proof) = proofs.next() else {
        return Ok(None);
    };
    let invalid = |why: &str| OAuthError::new("invalid_dpop_proof", why);
    if proofs.next().is_some() {
        return Err(invalid("more than one DPoP header"));
    }
    let proof = proof.to_str().map_err(|_| invalid("not a compact JWS"))?;
    let SignedProof { claims, jkt } =
        SignedProof::verify(proof, |_| true, None).map_err(invalid)?;
    if claims.get("htm").and_then(Value::as_str) != Some("POST")
        || claims.get("htu").and_then(Value::as_str) != Some(token_endpoint)
    {
        return Err(invalid("htm/htu do not name this token endpoint"));
    }
    let fresh = claims
        .get("iat")
        .and_then(Value::as_u64)
        .is_some_and(|iat| unix(SystemTime::now()).abs_diff(iat) <= 300);
    if !fresh || claims.get("jti").and_then(Value::as_str).is_none() {
        return Err(invalid("iat is not recent, or jti is missing"));
    }
    Ok(Some(jkt))
}

async fn introspect(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state
        .switches()
        .record_introspection(IntrospectionRequest::new(headers.clone(), &body));
    let result = Params::form(&headers, &body).and_then(|params| {
        state.authenticate(&headers, &params)?;
        let token = params
            .one("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        if let Some(answer) = state.switches().introspection_answer(token) {
            return Ok(answer);
        }
        Ok(match state.active_claims(token) {
            Some(mut claims) => {
                claims.insert("active".to_owned(), Value::Bool(true));
                claims
                    .entry("token_type")
                    .or_insert_with(|| Value::from("Bearer"));
                Value::Object(claims)
            }
            None => json!({ "active": false }),
        })
    });
    match result {
        Ok(body) => (no_store(), Json(body)).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn register(State(state): State<Arc<ServerState>>, body: Bytes) -> Response {
    if !state.config().dynamic_registration {
        return StatusCode::NOT_FOUND.into_response();
    }
    match register_inner(&state, &body) {
        Ok(body) => (StatusCode::CREATED, no_store(), Json(body)).into_response(),
        Err(err) => err.into_response(),
    }
}

fn register_inner(state: &ServerState, body: &[u8]) -> Result<Value, OAuthError> {
    let metadata_error = |msg: &str| OAuthError::new("invalid_client_metadata", msg);
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
        return Err(metadata_error("the body must be a JSON object"));
    };
    let strings = |name: &str| -> Result<Option<Vec<String>>, OAuthError> {
        match request.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| metadata_error("array members must be strings")),
            Some(_) => Err(metadata_error("expected an array of strings")),
        }
    };
    let grant_types =
        strings("grant_types")?.unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    if let Some(bad) = grant_types.iter().find(|g| {
        !matches!(
            g.as_str(),
            "authorization_code" | "client_credentials" | "refresh_token"
        )
    }) {
        return Err(metadata_error(&format!(
            "unsupported grant type: {}",
            printable(bad)
        )));
    }
    let redirect_uris = strings("redirect_uris")?.unwrap_or_default();
    for uri in &redirect_uris {
        if !Url::parse(uri).is_ok_and(|u| u.fragment().is_none()) {
            return Err(OAuthError::new(
                "invalid_redirect_uri",
                "redirect_uris must be absolute URIs without fragment",
            ));
        }
    }
    if grant_types.iter().any(|g| g == "authorization_code") && redirect_uris.is_empty() {
        return Err(OAuthError::new(
            "invalid_redirect_uri",
            "redirect_uris is required for authorization_code",
        ));
    }
    let method = match request.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => "client_secret_basic",
        Some(Value::String(m))
            if matches!(
                m.as_str(),
                "client_secret_basic" | "client_secret_post" | "none"
            ) =>
        {
            m.as_str()
        }
        Some(_) => {
            return Err(metadata_error(
                "token_endpoint_auth_method must be client_secret_basic, client_secret_post or none",
            ));
        }
    };
    if method == "none" && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(metadata_error(
            "public clients may not use client_credentials",
        ));
    }
    let client_id = format!("dev-client-{}", random_id(12));
    let secret = (method != "none").then(|| random_id(32));
    let mut response = request.clone();
    response.insert("client_id".to_owned(), Value::from(client_id.as_str()));
    response.insert(
        "client_id_issued_at".to_owned(),
        Value::from(unix(SystemTime::now())),
    );
    response.insert("token_endpoint_auth_method".to_owned(), Value::from(method));
    response.insert("grant_types".to_owned(), Value::from(grant_types.clone()));
    response.insert(
        "redirect_uris".to_owned(),
        Value::from(redirect_uris.clone()),
    );
    response
        .entry("response_types")
        .or_insert_with(|| json!(["code"]));
    if let Some(secret) = &secret {
        response.insert("client_secret".to_owned(), Value::from(secret.as_str()));
        response.insert("client_secret_expires_at".to_owned(), Value::from(0));
    }
    state.records().clients.insert(
        client_id,
        Client {
            secret,
            redirect_uris,
            grant_types: Some(grant_types),
        },
    );
    Ok(Value::Object(response))
}
