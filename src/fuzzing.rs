//! Entry points for the fuzz targets in `fuzz/`: thin wrappers that make the crate-private
//! parsers and checks reachable from the fuzz crate, with plain inputs and outputs.
//!
//! Internal: compiled only with the `fuzzing` feature, hidden from the docs, and not covered by
//! semver. Nothing here is meant for applications.

use std::{fmt, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, Uri, header};

use crate::{
    bearer,
    challenge::{AuthError, AuthErrorKind, ChallengeParts, Challenger, DefaultOnRejection, Scheme},
    jsonrpc,
    resource::{self, Audiences, ResourceUri, Separators},
};

/// The most messages a batch may hold.
pub const MAX_BATCH: usize = jsonrpc::MAX_BATCH;

/// Every [`AuthErrorKind`], so a fuzz input can pick one by index.
pub const ERROR_KINDS: [AuthErrorKind; 13] = [
    AuthErrorKind::InvalidRequest,
    AuthErrorKind::InvalidToken,
    AuthErrorKind::InsufficientScope,
    AuthErrorKind::InvalidDpopProof,
    AuthErrorKind::UseDpopNonce,
    AuthErrorKind::HeaderMismatch,
    AuthErrorKind::MissingToken,
    AuthErrorKind::OriginNotAllowed,
    AuthErrorKind::PayloadTooLarge,
    AuthErrorKind::RequestTimeout,
    AuthErrorKind::SessionNotFound,
    AuthErrorKind::UnsupportedMediaType,
    AuthErrorKind::VerifierUnavailable,
];

/// The credentials `bearer` extracted.
#[non_exhaustive]
pub struct Credentials {
    /// The scheme of the `Authorization` header.
    pub scheme: Scheme,
    /// The access token.
    pub token: String,
    /// The `DPoP` proof, for the `DPoP` scheme.
    pub proof: Option<String>,
}

/// Never the token or the proof, even here: only their sizes.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        bearer::debug_sizes(f, self.scheme, self.token.len(), self.proof.as_deref())
    }
}

/// The `Authorization` (and `DPoP`) header extraction for a request to `uri` with `headers`,
/// in order. `None` when `http` cannot represent such a request (a bad name, value or URI).
#[must_use]
pub fn bearer(
    headers: &[(&[u8], &[u8])],
    uri: &[u8],
    max_len: usize,
    dpop: bool,
) -> Option<Result<Credentials, AuthError>> {
    let uri = Uri::try_from(uri).ok()?;
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name).ok()?,
            HeaderValue::from_bytes(value).ok()?,
        );
    }
    let found = match bearer::extract(&map, &uri, max_len, dpop) {
        Ok(found) => found,
        Err(err) => return Some(Err(err)),
    };
    let value = map.get(header::AUTHORIZATION)?.as_bytes();
    Some(
        bearer::token_at(value, found.token).map(|token| Credentials {
            scheme: found.scheme,
            token: token.to_owned(),
            proof: found.proof,
        }),
    )
}

/// One JSON-RPC message as `jsonrpc_peek` read it.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Call {
    /// `method`.
    pub method: Option<String>,
    /// `params.name`.
    pub name: Option<String>,
    /// `params.uri`.
    pub uri: Option<String>,
    /// `params.ref.type`, `params.ref.name` and `params.ref.uri`, when `params.ref` is an
    /// object.
    pub reference: Option<[Option<String>; 3]>,
}

/// The JSON-RPC body peek: whether the body is a batch, and its messages.
///
/// # Errors
///
/// The peek's error message when the body is refused.
pub fn jsonrpc_peek(body: &[u8]) -> Result<(bool, Vec<Call>), String> {
    let messages = jsonrpc::peek(body).map_err(|err| err.to_string())?;
    let calls = messages
        .calls
        .into_iter()
        .map(|call| {
            let params = call.params.unwrap_or_default();
            Call {
                method: call.method.map(Into::into),
                name: params.name.map(Into::into),
                uri: params.uri.map(Into::into),
                reference: params
                    .reference
                    .map(|r| [r.kind, r.name, r.uri].map(|m| m.map(Into::into))),
            }
        })
        .collect();
    Ok((messages.batch, calls))
}

/// The canonical form of an `http(s)` URI used for audience matching.
#[must_use]
pub fn canonical_http(uri: &str) -> String {
    resource::canonical_http(uri)
}

/// RFC 3986 normalisation, with `%2F`, `%5C` and `\` folded into `/` when `folded` (the form
/// resource rules are matched in).
#[must_use]
pub fn normalize(uri: &str, folded: bool) -> String {
    let separators = if folded {
        Separators::Folded
    } else {
        Separators::Exact
    };
    resource::normalize(uri, separators)
}

/// A parsed resource URI: its origin and path.
///
/// # Errors
///
/// Why `input` is not a resource URI.
pub fn parse_resource(input: &str, allow_http: bool) -> Result<(String, String), String> {
    let resource = ResourceUri::parse(input, allow_http)?;
    Ok((resource.origin().to_owned(), resource.path().to_owned()))
}

/// Whether a token with these `audiences` is meant for `resource` (with `aliases`), as the
/// layer decides it. `None` when the resource or an alias is not accepted as configuration.
#[must_use]
pub fn audiences_accept(
    resource: &str,
    aliases: &[&str],
    exclusive: bool,
    audiences: &[String],
) -> Option<bool> {
    let mut accepted = Audiences::new(ResourceUri::parse(resource, true).ok()?);
    accepted.exclusive(exclusive);
    for alias in aliases {
        accepted.alias(alias, true).ok()?;
    }
    Some(accepted.accept(audiences.iter().map(String::as_str)))
}

/// What the rejection of one request is made from: the layer's configuration and the error.
#[derive(Debug)]
#[allow(clippy::exhaustive_structs)] // Built by the fuzz targets field by field.
pub struct Rejection<'a> {
    /// The metadata URL for `resource_metadata=`.
    pub metadata_url: &'a str,
    /// The global scope requirement, space-separated.
    pub global_scope: Option<&'a str>,
    /// Whether `Bearer` is accepted.
    pub bearer: bool,
    /// The DPoP algorithms, when DPoP is accepted.
    pub dpop_algs: Option<&'a str>,
    /// The kind of rejection.
    pub kind: AuthErrorKind,
    /// The scheme the request used.
    pub scheme: Scheme,
    /// The error description.
    pub description: &'a str,
    /// The scopes for `insufficient_scope`.
    pub scope: Option<&'a str>,
    /// The verifier's suggested retry delay.
    pub retry_after: Option<Duration>,
    /// The layer's default retry delay.
    pub default_retry_after: Duration,
    /// A DPoP nonce for the client.
    pub dpop_nonce: Option<&'a str>,
}

/// The rejection response the layer writes for `rejection`, and the `WWW-Authenticate` values
/// alone (as `Challenger::www_authenticate` builds them).
#[must_use]
pub fn reject(rejection: &Rejection<'_>) -> (Response<Bytes>, Vec<HeaderValue>) {
    let challenger = Challenger::new(ChallengeParts {
        metadata_url: rejection.metadata_url,
        global_scope: rejection.global_scope,
        bearer: rejection.bearer,
        dpop_algs: rejection.dpop_algs,
        default_retry_after: rejection.default_retry_after,
        on_rejection: crate::callback::Callback::new(std::sync::Arc::new(DefaultOnRejection)),
    });
    let mut err = AuthError::new(rejection.kind, rejection.description.to_owned())
        .with_scheme(rejection.scheme);
    if let Some(scope) = rejection.scope {
        err = err.with_scope(scope.into());
    }
    if let Some(retry_after) = rejection.retry_after {
        err = err.with_retry_after(retry_after);
    }
    if let Some(nonce) = rejection.dpop_nonce {
        err = err.with_dpop_nonce(nonce.into());
    }
    let challenges = challenger.www_authenticate(&err);
    (challenger.response(err), challenges)
}

#[cfg(feature = "jwt")]
pub use self::jwt::*;

#[cfg(feature = "jwt")]
mod jwt {
    use std::{
        collections::HashSet,
        sync::{Arc, Mutex},
        time::Duration,
    };

    use async_trait::async_trait;
    use bytes::Bytes;
    use http::Method;
    use serde_json::{Map, Value};

    use crate::{
        challenge::AuthError,
        dpop::{Dpop, ProofChecker},
        resource::ResourceUri,
        store::{Store, StoreError, StoreKey},
        verifier::{
            VerifyError,
            json::{Object, Refusal},
            jwt::{Algorithm, keys, token::ParsedToken},
        },
    };

    /// The resource the DPoP checks of `dpop_check` are for.
    pub const DPOP_RESOURCE: &str = "https://mcp.example.com/mcp";
    /// The proof algorithms `Dpop` accepts by default.
    pub const DPOP_ALGORITHMS: [Algorithm; 8] = crate::dpop::DEFAULT_ALGORITHMS;

    /// A compact JWS, as the strict parser read it.
    #[derive(Debug)]
    #[non_exhaustive]
    pub struct Jws {
        /// The protected header.
        pub header: Map<String, Value>,
        /// The claims.
        pub claims: Map<String, Value>,
        /// The first two parts and their dot.
        pub signing_input: String,
        /// The third part.
        pub signature: String,
    }

    /// The strict JSON reader of headers, claims and introspection answers, as a
    /// `serde_json` map.
    ///
    /// # Errors
    ///
    /// `"duplicate member"` or `"malformed"`.
    pub fn json_object(json: &[u8]) -> Result<Map<String, Value>, &'static str> {
        match Object::parse(json) {
            Ok(object) => Ok(object.into_map()),
            Err(Refusal::Duplicate) => Err("duplicate member"),
            Err(Refusal::Malformed) => Err("malformed"),
        }
    }

    /// The strict compact-JWS parser that tokens and DPoP proofs go through.
    ///
    /// # Errors
    ///
    /// The parser's refusal.
    pub fn jws_parse(token: &str) -> Result<Jws, VerifyError> {
        let parsed = ParsedToken::parse(token)?;
        let header = parsed.header()?.into_map();
        let claims = parsed.claims()?.into_map();
        Ok(Jws {
            header,
            claims,
            signing_input: parsed.signing_input.to_owned(),
            signature: parsed.signature.to_owned(),
        })
    }

    /// What `KeySet::select` found.
    #[derive(Debug, PartialEq, Eq)]
    #[non_exhaustive]
    pub enum Selection {
        /// The usable key at this index.
        Found(usize),
        /// Several keys fit.
        Ambiguous,
        /// The key with the token's `kid` cannot verify its `alg`.
        Mismatch,
        /// No key fits.
        Unknown,
    }

    /// A parsed JWK set.
    #[derive(Debug)]
    pub struct KeySet(keys::KeySet);

    impl KeySet {
        /// Parses a JWK set document, skipping unusable keys.
        ///
        /// # Errors
        ///
        /// When the document has no `keys` array.
        pub fn from_jwks(document: &Value) -> Result<Self, &'static str> {
            keys::KeySet::from_jwks(document).map(Self)
        }

        /// The number of usable keys.
        #[must_use]
        pub fn len(&self) -> usize {
            self.0.len()
        }

        /// Whether no key is usable.
        #[must_use]
        pub fn is_empty(&self) -> bool {
            self.0.len() == 0
        }

        /// The number of skipped keys.
        #[must_use]
        pub fn skipped(&self) -> usize {
            self.0.skipped().len()
        }

        /// The key for a token with this `kid` and `alg`.
        #[must_use]
        pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection {
            match self.0.select(kid, alg) {
                keys::Selection::Found(index) => Selection::Found(index),
                keys::Selection::Ambiguous => Selection::Ambiguous,
                keys::Selection::Mismatch => Selection::Mismatch,
                keys::Selection::Unknown => Selection::Unknown,
            }
        }

        /// Whether the usable key at `index` accepts `alg`.
        #[must_use]
        pub fn fits(&self, index: usize, alg: Algorithm) -> bool {
            self.0.key_at(index).fits(alg)
        }

        /// Whether the usable key at `index` verifies `signature` (base64url) over `message`
        /// with `alg`.
        #[must_use]
        pub fn verify(
            &self,
            index: usize,
            alg: Algorithm,
            message: &[u8],
            signature: &str,
        ) -> bool {
            let key = self.0.key_at(index);
            keys::verify_signature(alg, key, message, signature).is_ok()
        }
    }

    /// Whether one JWK is usable as a verification key.
    ///
    /// # Errors
    ///
    /// Why it is not.
    pub fn jwk_usable(jwk: &Value) -> Result<(), &'static str> {
        keys::parse_jwk(jwk).map(drop)
    }

    /// The RFC 7638 thumbprint of a public JWK.
    ///
    /// # Errors
    ///
    /// When the key type or its members are not supported.
    pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Result<String, &'static str> {
        keys::thumbprint(jwk)
    }

    /// The DPoP proof check of a layer for `DPOP_RESOURCE` (`iat` at most `lifetime` behind
    /// now and `skew` ahead, every default algorithm), run twice on the same proof with a
    /// fresh replay store: the second result is the replay's. `None` when `method` is not an
    /// HTTP method.
    pub async fn dpop_check(
        proof: &str,
        method: &[u8],
        path: &str,
        token: &str,
        jkt: &str,
        (lifetime, skew): (Duration, Duration),
    ) -> Option<[Result<(), AuthError>; 2]> {
        let method = Method::from_bytes(method).ok()?;
        let resource = ResourceUri::parse(DPOP_RESOURCE, false).ok()?;
        let config = Dpop::allowed()
            .proof_lifetime(lifetime)
            .proof_clock_skew(skew)
            .replay_store(ReplayStore::default());
        let checker = ProofChecker::new(config, &resource).ok()?;
        let first = checker.check(proof, &method, path, token, jkt).await;
        let second = checker.check(proof, &method, path, token, jkt).await;
        Some([first, second])
    }

    /// A replay store for one fuzz input: a set, without lifetimes.
    #[derive(Debug, Default)]
    struct ReplayStore(Arc<Mutex<HashSet<StoreKey>>>);

    #[async_trait]
    impl Store for ReplayStore {
        async fn get(
            &self,
            key: &StoreKey,
            _renew: Option<Duration>,
        ) -> Result<Option<Bytes>, StoreError> {
            let seen = self.0.lock().map_err(|_| StoreError::new("poisoned"))?;
            Ok(seen.contains(key).then(|| Bytes::from_static(b"1")))
        }

        async fn insert(
            &self,
            key: &StoreKey,
            _value: Bytes,
            _ttl: Duration,
        ) -> Result<(), StoreError> {
            let mut seen = self.0.lock().map_err(|_| StoreError::new("poisoned"))?;
            seen.insert(key.clone());
            Ok(())
        }

        async fn insert_if_absent(
            &self,
            key: &StoreKey,
            _value: Bytes,
            _ttl: Duration,
        ) -> Result<bool, StoreError> {
            let mut seen = self.0.lock().map_err(|_| StoreError::new("poisoned"))?;
            Ok(seen.insert(key.clone()))
        }
    }
}
