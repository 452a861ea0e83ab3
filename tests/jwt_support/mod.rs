//! Shared helpers for the JWT tests: keys generated at test time, a raw JWS signer (so tests
//! can build any header or payload, including malformed ones), and a loopback authorization
//! server serving discovery and JWKS with switches.

#![allow(dead_code, unreachable_pub, clippy::needless_pass_by_value)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::{
    rand::SystemRandom,
    rsa::KeySize,
    signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents},
};
use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A signing key generated for the test.
pub enum TestKey {
    Rsa(RsaKeyPair),
    Es256(EcdsaKeyPair),
    Es384(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

impl TestKey {
    pub fn rsa() -> Self {
        Self::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa keygen"))
    }

    pub fn es256() -> Self {
        Self::Es256(
            EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                .expect("p256 keygen"),
        )
    }

    pub fn es384() -> Self {
        Self::Es384(
            EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
                .expect("p384 keygen"),
        )
    }

    pub fn ed25519() -> Self {
        Self::Ed(Ed25519KeyPair::generate().expect("ed25519 keygen"))
    }

    pub fn hmac(secret: &[u8]) -> Self {
        Self::Hmac(secret.to_vec())
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RS256",
            Self::Es256(_) => "ES256",
            Self::Es384(_) => "ES384",
            Self::Ed(_) => "EdDSA",
            Self::Hmac(_) => "HS256",
        }
    }

    /// The public JWK, with `kid` when given.
    pub fn jwk(&self, kid: Option<&str>) -> Value {
        let mut jwk = match self {
            Self::Rsa(key) => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(key.public_key());
                json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
            }
            Self::Es256(key) | Self::Es384(key) => {
                let point = key.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = if len == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "x": b64(&point[1..=len]), "y": b64(&point[1 + len..])})
            }
            Self::Ed(key) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.public_key().as_ref())})
            }
            Self::Hmac(secret) => json!({"kty": "oct", "k": b64(secret)}),
        };
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    /// The public key as SPKI PEM.
    pub fn pem(&self) -> String {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        let der: Vec<u8> = match self {
            Self::Rsa(key) => AsDer::<PublicKeyX509Der<'_>>::as_der(key.public_key())
                .expect("der")
                .as_ref()
                .to_vec(),
            Self::Es256(key) | Self::Es384(key) => {
                AsDer::<PublicKeyX509Der<'_>>::as_der(key.public_key())
                    .expect("der")
                    .as_ref()
                    .to_vec()
            }
            Self::Ed(key) => AsDer::<PublicKeyX509Der<'_>>::as_der(key.public_key())
                .expect("der")
                .as_ref()
                .to_vec(),
            Self::Hmac(_) => panic!("no PEM for a secret"),
        };
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// Raw signature over `message`.
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Self::Rsa(key) => {
                let mut sig = vec![0; key.public_modulus_len()];
                key.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .expect("rsa sign");
                sig
            }
            Self::Es256(key) | Self::Es384(key) => {
                key.sign(&rng, message).expect("ec sign").as_ref().to_vec()
            }
            Self::Ed(key) => key.sign(message).as_ref().to_vec(),
            Self::Hmac(secret) => hmac(secret, message),
        }
    }

    /// A compact JWS of exactly these header and payload texts.
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let sig = self.sign_bytes(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A compact JWS with the key's `alg`, the given `kid` and `typ: at+jwt`.
    pub fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({"alg": self.alg(), "typ": "at+jwt"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        self.sign_with_header(&header, claims)
    }

    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(&header.to_string(), &claims.to_string())
    }
}

pub fn hmac(secret: &[u8], message: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
}

/// Good claims for `issuer`, for the resource `audience`, valid for five minutes.
pub fn claims(issuer: &str, audience: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "sub": "alice",
        "aud": audience,
        "client_id": "client-1",
        "scope": "mcp:read mcp:write",
        "iat": now,
        "exp": now + 300,
        "jti": "token-1",
    })
}

/// The switches of a [`TestAs`].
#[derive(Default)]
pub struct AsState {
    pub issuer: Mutex<String>,
    pub jwks: Mutex<Value>,
    pub cache_control: Mutex<Option<String>>,
    pub down: AtomicBool,
    pub delay: Mutex<Duration>,
    pub jwks_fetches: AtomicUsize,
    pub metadata_fetches: AtomicUsize,
    /// Serve metadata only at the OpenID Connect location.
    pub oidc_only: AtomicBool,
    /// Put this issuer in the metadata instead of the real one.
    pub metadata_issuer: Mutex<Option<String>>,
    /// Pad the JWKS response to this many bytes.
    pub pad_to: Mutex<Option<usize>>,
}

/// An authorization server on loopback serving discovery and a JWKS.
pub struct TestAs {
    pub base: String,
    pub state: Arc<AsState>,
}

impl TestAs {
    /// Starts a server whose issuer is its base URL, plus `path` (e.g. "" or "/tenant").
    pub async fn start(path: &str) -> Self {
        let state = Arc::new(AsState::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        *state.issuer.lock().expect("lock") = format!("{base}{path}");
        let app = Router::new()
            .route("/jwks", get(jwks))
            .route("/redirect-jwks", get(redirect))
            .route(
                "/.well-known/oauth-authorization-server",
                get(oauth_metadata),
            )
            .route(
                "/.well-known/oauth-authorization-server/{*rest}",
                get(oauth_metadata),
            )
            .route("/.well-known/openid-configuration", get(oidc_metadata))
            .route("/{*rest}", get(oidc_appended))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, state }
    }

    pub fn issuer(&self) -> String {
        self.state.issuer.lock().expect("lock").clone()
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.base)
    }

    pub fn set_keys(&self, keys: Vec<Value>) {
        *self.state.jwks.lock().expect("lock") = json!({ "keys": keys });
    }

    pub fn set_jwks_document(&self, doc: Value) {
        *self.state.jwks.lock().expect("lock") = doc;
    }

    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().expect("lock") = delay;
    }

    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.state.cache_control.lock().expect("lock") = value.map(str::to_owned);
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn metadata_fetches(&self) -> usize {
        self.state.metadata_fetches.load(Ordering::SeqCst)
    }
}

async fn pause(state: &AsState) {
    let delay = *state.delay.lock().expect("lock");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

async fn jwks(State(state): State<Arc<AsState>>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    pause(&state).await;
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let doc = state.jwks.lock().expect("lock").clone();
    let mut body = doc.to_string();
    if let Some(pad) = *state.pad_to.lock().expect("lock") {
        let mut padded = doc;
        padded["padding"] = json!("x".repeat(pad));
        body = padded.to_string();
    }
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(cc) = state.cache_control.lock().expect("lock").clone() {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_str(&cc).expect("header value"),
        );
    }
    response
}

async fn redirect() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/jwks")]).into_response()
}

fn metadata(state: &AsState) -> Value {
    let issuer = state.issuer.lock().expect("lock").clone();
    let shown = state
        .metadata_issuer
        .lock()
        .expect("lock")
        .clone()
        .unwrap_or_else(|| issuer.clone());
    let base = issuer.split('/').take(3).collect::<Vec<_>>().join("/");
    json!({
        "issuer": shown,
        "jwks_uri": format!("{base}/jwks"),
        "introspection_endpoint": format!("{base}/introspect"),
        "token_endpoint": format!("{base}/token"),
    })
}

async fn oauth_metadata(State(state): State<Arc<AsState>>) -> Response {
    state.metadata_fetches.fetch_add(1, Ordering::SeqCst);
    pause(&state).await;
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if state.oidc_only.load(Ordering::SeqCst) {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(metadata(&state)).into_response()
}

async fn oidc_metadata(State(state): State<Arc<AsState>>) -> Response {
    state.metadata_fetches.fetch_add(1, Ordering::SeqCst);
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    Json(metadata(&state)).into_response()
}

/// `/<issuer path>/.well-known/openid-configuration` (OIDC path appending).
async fn oidc_appended(
    State(state): State<Arc<AsState>>,
    axum::extract::Path(rest): axum::extract::Path<String>,
) -> Response {
    if !rest.ends_with(".well-known/openid-configuration") {
        return StatusCode::NOT_FOUND.into_response();
    }
    oidc_metadata(State(state)).await
}
