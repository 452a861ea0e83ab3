//! The black-box checks: what anyone can see of a server without its trust. Discovery (the 401,
//! the metadata, the authorization server), tokens it must refuse, how tokens may travel, and
//! the `Origin` rule.

use std::time::{SystemTime, UNIX_EPOCH};

use mcp_auth::testing::{KeyAlgorithm, SigningKey, TokenBuilder};
use reqwest::{Method, header};
use serde_json::Value;
use url::Url;

use crate::{
    challenge::{self, Challenge},
    config::{canonical, origin_uri},
    http::{Exchange, Request},
    mcp,
    runner::{Run, describe, shorten, strings, time_from_now},
};

/// The `Origin` of the cross-origin requests: a name that cannot be anyone's.
pub(crate) const FOREIGN_ORIGIN: &str = "https://mcp-auth-audit.invalid";

/// The subject and client of the tokens the audit makes.
pub(crate) const AUDIT_PRINCIPAL: &str = "mcp-auth-audit";

const CHALLENGE_CHECKS: &[&str] = &[
    "challenge.www-authenticate",
    "challenge.resource-metadata",
    "challenge.no-error",
    "challenge.scope",
    "challenge.scope-syntax",
];

const AS_CHECKS: &[&str] = &["as.metadata", "as.issuer", "as.pkce", "as.registration"];

/// The discovery checks: the 401 without credentials, the metadata, the authorization server.
pub(crate) async fn discovery(run: &mut Run<'_>) {
    let challenge = unauthenticated(run).await;
    metadata(run, challenge.as_ref()).await;
    offline_access(run);
    authorization_server(run).await;
}

/// An MCP `initialize` without credentials.
async fn unauthenticated(run: &mut Run<'_>) -> Option<Challenge> {
    let initialize = mcp::initialize(run.next_id());
    let exchange = match run.send(Request::mcp(&run.url, &initialize)).await {
        Ok(exchange) => exchange,
        Err(err) => {
            run.fail("challenge.status", err.to_string());
            run.skip_all(CHALLENGE_CHECKS, "no answer to read");
            run.skip("challenge.resource-metadata-document", "no answer to read");
            return None;
        }
    };
    if exchange.status != 401 {
        let why = if exchange.status.is_success() {
            ": the server answered without credentials, it does not require authorization"
        } else {
            ""
        };
        run.fail("challenge.status", format!("{}{why}", describe(&exchange)));
        run.skip_all(CHALLENGE_CHECKS, "no 401 to read");
        run.skip("challenge.resource-metadata-document", "no 401 to read");
        return None;
    }
    run.pass("challenge.status", "401");

    let www = exchange.header(&header::WWW_AUTHENTICATE);
    let challenge = match challenge::bearer(www.as_deref()) {
        Ok(challenge) => challenge,
        Err(err) => {
            run.fail("challenge.www-authenticate", err);
            run.skip_all(CHALLENGE_CHECKS, "no Bearer challenge to read");
            run.skip(
                "challenge.resource-metadata-document",
                "no Bearer challenge to read",
            );
            return None;
        }
    };
    run.pass(
        "challenge.www-authenticate",
        shorten(&www.unwrap_or_default(), 300),
    );

    match challenge.param("resource_metadata") {
        None => run.fail(
            "challenge.resource-metadata",
            "no resource_metadata: clients must guess the well-known URLs",
        ),
        Some(value) => match absolute_url(value) {
            Ok(_) => run.pass("challenge.resource-metadata", value),
            Err(err) => run.fail("challenge.resource-metadata", format!("{value:?}: {err}")),
        },
    }
    match challenge.param("error") {
        Some(error) => run.fail(
            "challenge.no-error",
            format!(
                "error={error:?} on a request without credentials: clients may take it for a rejected token"
            ),
        ),
        None => run.pass("challenge.no-error", "no error parameter"),
    }
    match challenge.param("scope") {
        Some(scope) => {
            run.pass("challenge.scope", format!("scope={scope:?}"));
            match challenge::check_scope_syntax(scope) {
                Ok(()) => run.pass("challenge.scope-syntax", format!("{scope:?}")),
                Err(err) => run.fail("challenge.scope-syntax", err),
            }
            run.facts.challenge_scope = Some(scope.to_owned());
        }
        None => {
            run.fail(
                "challenge.scope",
                "no scope: clients fall back to all of scopes_supported",
            );
            run.skip("challenge.scope-syntax", "no scope parameter");
        }
    }
    Some(challenge)
}

/// A metadata document fetched from one URL.
#[derive(Debug)]
struct Fetched {
    url: Url,
    /// The document, when the answer was a 200 with a JSON object.
    doc: Option<Value>,
    /// What is wrong with the answer, if anything.
    problem: Option<String>,
}

impl Fetched {
    fn summary(&self) -> String {
        match &self.problem {
            Some(problem) => format!("{}: {problem}", self.url),
            None => format!("200 application/json from {}", self.url),
        }
    }
}

async fn fetch_document(run: &Run<'_>, url: &Url) -> Fetched {
    let request = Request::get(url).header(header::ACCEPT, "application/json");
    let (doc, problem) = match run.send(request).await {
        Err(err) => (None, Some(err.to_string())),
        Ok(exchange) if exchange.status != 200 => {
            (None, Some(exchange.status.as_u16().to_string()))
        }
        Ok(exchange) => match exchange.json() {
            Some(doc @ Value::Object(_)) if exchange.is_json() => (Some(doc), None),
            Some(doc @ Value::Object(_)) => {
                let problem = format!(
                    "a JSON object, but Content-Type {:?} is not application/json",
                    exchange.content_type()
                );
                (Some(doc), Some(problem))
            }
            Some(_) => (None, Some("200, but not a JSON object".to_owned())),
            None => (None, Some("200, but the body is not JSON".to_owned())),
        },
    };
    Fetched {
        url: url.clone(),
        doc,
        problem,
    }
}

/// The RFC 9728 well-known URL of `resource`: path-inserted, or at the root.
pub(crate) fn well_known(resource: &Url, path_inserted: bool) -> Url {
    let mut url = resource.clone();
    url.set_query(None);
    let path = resource.path().trim_end_matches('/');
    if path_inserted && !path.is_empty() {
        url.set_path(&format!("/.well-known/oauth-protected-resource{path}"));
    } else {
        url.set_path("/.well-known/oauth-protected-resource");
    }
    url
}

async fn metadata(run: &mut Run<'_>, challenge: Option<&Challenge>) {
    let path_url = well_known(&run.url, true);
    let root_url = well_known(&run.url, false);

    let path = fetch_document(run, &path_url).await;
    match &path.problem {
        None => run.pass("prm.path-inserted", path.summary()),
        Some(_) => run.fail("prm.path-inserted", path.summary()),
    }
    let root = if root_url == path_url {
        run.skip(
            "prm.root",
            "the server URL has no path: the root URL is the path-inserted one",
        );
        None
    } else {
        let root = fetch_document(run, &root_url).await;
        match &root.problem {
            None => run.pass("prm.root", root.summary()),
            Some(_) => run.fail("prm.root", root.summary()),
        }
        Some(root)
    };

    // The document the challenge points to.
    let pointed = challenge
        .and_then(|challenge| challenge.param("resource_metadata"))
        .and_then(|value| absolute_url(value).ok());
    let header_doc = match &pointed {
        None => None,
        Some(url) if *url == path_url => None,
        Some(url) if *url == root_url => None,
        Some(url) => Some(fetch_document(run, url).await),
    };
    let from_header = match &pointed {
        None => None,
        Some(url) if *url == path_url => Some(&path),
        Some(url) if *url == root_url => root.as_ref(),
        Some(_) => header_doc.as_ref(),
    };
    match (from_header, &pointed) {
        (Some(fetched), _) => pointed_document(run, fetched, &path),
        (None, Some(url)) => run.fail(
            "challenge.resource-metadata-document",
            format!("{url}: not fetched"),
        ),
        (None, None) => {
            if run
                .recorded("challenge.resource-metadata-document")
                .is_none()
            {
                run.skip(
                    "challenge.resource-metadata-document",
                    "no usable resource_metadata in the challenge",
                );
            }
        }
    }

    // The document clients use: the one the challenge points to, else the well-known ones.
    let candidates = [from_header, Some(&path), root.as_ref()];
    let primary = candidates
        .iter()
        .flatten()
        .find(|fetched| fetched.doc.is_some())
        .copied();
    let Some(primary) = primary else {
        let tried: Vec<String> = candidates
            .iter()
            .flatten()
            .map(|fetched| fetched.summary())
            .collect();
        run.fail(
            "prm.discoverable",
            format!("no metadata document: {}", tried.join("; ")),
        );
        run.skip_all(
            &[
                "prm.resource",
                "prm.authorization-servers",
                "prm.bearer-methods",
                "prm.cors",
                "prm.head",
                "prm.options",
            ],
            "no metadata document",
        );
        return;
    };
    run.pass("prm.discoverable", format!("from {}", primary.url));
    run.facts.metadata_found = true;

    // `resource` of every document found.
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for (fetched, is_root) in [
        (from_header, false),
        (Some(&path), path_url == root_url),
        (root.as_ref(), true),
    ] {
        let Some(fetched) = fetched else { continue };
        let Some(doc) = &fetched.doc else { continue };
        if seen.contains(&fetched.url) {
            continue;
        }
        seen.push(fetched.url.clone());
        if let Err(err) = check_resource(doc, &run.url, is_root) {
            problems.push(format!("{}: {err}", fetched.url));
        }
    }
    if problems.is_empty() {
        run.pass(
            "prm.resource",
            format!("resource {:?} in {} document(s)", run.canonical, seen.len()),
        );
    } else {
        run.fail("prm.resource", problems.join("; "));
    }

    let Some(doc) = primary.doc.as_ref() else {
        return;
    };
    let primary_url = primary.url.clone();
    authorization_servers(run, doc);
    bearer_methods(run, doc);
    run.facts.scopes_supported = strings(doc.get("scopes_supported"));
    cors(run, &primary_url).await;
}

/// `challenge.resource-metadata-document`: the document `resource_metadata` names is this
/// resource's, and the same as the path-inserted well-known one.
fn pointed_document(run: &mut Run<'_>, fetched: &Fetched, path: &Fetched) {
    let id = "challenge.resource-metadata-document";
    let Some(doc) = &fetched.doc else {
        run.fail(id, fetched.summary());
        return;
    };
    if let Err(err) = check_resource(doc, &run.url, false) {
        run.fail(id, format!("{}: {err}", fetched.url));
        return;
    }
    match &path.doc {
        Some(well_known) if fetched.url != path.url && well_known != doc => run.fail(
            id,
            format!("{} and {} serve different documents", fetched.url, path.url),
        ),
        _ => run.pass(id, format!("{} is this resource's metadata", fetched.url)),
    }
}

/// The `resource` of a metadata document against the server URL: the canonical URI, or for a
/// root document also the origin.
fn check_resource(doc: &Value, server: &Url, is_root: bool) -> Result<(), String> {
    let Some(resource) = doc.get("resource").and_then(Value::as_str) else {
        return Err("no resource (RFC 9728 §2: REQUIRED)".to_owned());
    };
    let expected = canonical(server);
    let parsed = Url::parse(resource).map_err(|err| format!("resource {resource:?}: {err}"))?;
    let found = canonical(&parsed);
    if found == expected {
        return Ok(());
    }
    if is_root && found == origin_uri(server) {
        return Ok(());
    }
    Err(format!(
        "resource {resource:?} is not {expected:?} (clients compare them and stop)"
    ))
}

fn authorization_servers(run: &mut Run<'_>, doc: &Value) {
    let id = "prm.authorization-servers";
    let Some(list) = doc.get("authorization_servers").and_then(Value::as_array) else {
        run.fail(id, "no authorization_servers array");
        return;
    };
    if list.is_empty() {
        run.fail(id, "authorization_servers is empty");
        return;
    }
    let mut problems = Vec::new();
    let mut servers = Vec::new();
    for entry in list {
        let Some(text) = entry.as_str() else {
            problems.push(format!("{entry} is not a string"));
            continue;
        };
        match absolute_url(text) {
            Ok(_) => servers.push(text.to_owned()),
            Err(err) => problems.push(format!("{text:?}: {err}")),
        }
    }
    if problems.is_empty() {
        run.pass(id, servers.join(", "));
    } else {
        run.fail(id, problems.join("; "));
    }
    run.facts.authorization_servers = servers;
}

fn bearer_methods(run: &mut Run<'_>, doc: &Value) {
    let id = "prm.bearer-methods";
    match doc.get("bearer_methods_supported") {
        None => run.fail(
            id,
            "absent: clients cannot tell that only the header is accepted",
        ),
        Some(value) => {
            let methods = strings(Some(value));
            if methods == ["header"] {
                run.pass(id, "[\"header\"]");
            } else {
                run.fail(id, format!("{value}: MCP clients send the header only"));
            }
        }
    }
}

/// `prm.cors`, `prm.head` and `prm.options` on the metadata URL clients use.
async fn cors(run: &mut Run<'_>, url: &Url) {
    let request = Request::get(url).header(header::ORIGIN, FOREIGN_ORIGIN);
    match run.send(request).await {
        Err(err) => run.skip("prm.cors", err.to_string()),
        Ok(exchange) => match allow_origin(&exchange) {
            Some(allowed) if exchange.status == 200 => run.pass(
                "prm.cors",
                format!("Access-Control-Allow-Origin: {allowed}"),
            ),
            _ => run.fail(
                "prm.cors",
                format!(
                    "{} without Access-Control-Allow-Origin for {FOREIGN_ORIGIN}: browser-based clients cannot read it",
                    exchange.status.as_u16()
                ),
            ),
        },
    }
    match run.send(Request::new(Method::HEAD, url)).await {
        Err(err) => run.skip("prm.head", err.to_string()),
        Ok(exchange) if exchange.status == 200 => run.pass("prm.head", "200"),
        Ok(exchange) => run.fail("prm.head", exchange.status.as_u16().to_string()),
    }
    let preflight = Request::new(Method::OPTIONS, url)
        .header(header::ORIGIN, FOREIGN_ORIGIN)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET");
    match run.send(preflight).await {
        Err(err) => run.skip("prm.options", err.to_string()),
        Ok(exchange) => match allow_origin(&exchange) {
            Some(allowed) if exchange.status.is_success() => run.pass(
                "prm.options",
                format!(
                    "{}, Access-Control-Allow-Origin: {allowed}",
                    exchange.status.as_u16()
                ),
            ),
            _ => run.fail(
                "prm.options",
                format!(
                    "{}{}",
                    exchange.status.as_u16(),
                    if exchange.status.is_success() {
                        " without Access-Control-Allow-Origin"
                    } else {
                        ""
                    }
                ),
            ),
        },
    }
}

/// `Access-Control-Allow-Origin`, when it lets [`FOREIGN_ORIGIN`] read.
fn allow_origin(exchange: &Exchange) -> Option<String> {
    let value = exchange.header(&header::ACCESS_CONTROL_ALLOW_ORIGIN)?;
    (value == "*" || value == FOREIGN_ORIGIN).then_some(value)
}

fn offline_access(run: &mut Run<'_>) {
    let id = "scope.no-offline-access";
    if !run.facts.metadata_found && run.facts.challenge_scope.is_none() {
        run.skip(id, "neither metadata nor a challenge scope to read");
        return;
    }
    let in_metadata = run
        .facts
        .scopes_supported
        .iter()
        .any(|s| s == "offline_access");
    let in_challenge = run
        .facts
        .challenge_scope
        .as_deref()
        .is_some_and(|scope| scope.split(' ').any(|s| s == "offline_access"));
    match (in_metadata, in_challenge) {
        (false, false) => run.pass(id, "not advertised"),
        (true, false) => run.fail(id, "scopes_supported lists offline_access"),
        (false, true) => run.fail(id, "the challenge's scope asks for offline_access"),
        (true, true) => run.fail(
            id,
            "scopes_supported and the challenge's scope both list offline_access",
        ),
    }
}

/// The metadata URLs of an issuer, in the order MCP clients try them.
fn as_metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let with_path = |path: String| {
        let mut url = issuer.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.set_path(&path);
        url
    };
    if path.is_empty() {
        vec![
            with_path("/.well-known/oauth-authorization-server".to_owned()),
            with_path("/.well-known/openid-configuration".to_owned()),
        ]
    } else {
        vec![
            with_path(format!("/.well-known/oauth-authorization-server{path}")),
            with_path(format!("/.well-known/openid-configuration{path}")),
            with_path(format!("{path}/.well-known/openid-configuration")),
        ]
    }
}

/// The authorization server's metadata, for information.
async fn authorization_server(run: &mut Run<'_>) {
    let Some(issuer) = run.facts.authorization_servers.first().cloned() else {
        run.skip_all(AS_CHECKS, "no authorization server in the metadata");
        return;
    };
    let Ok(issuer_url) = Url::parse(&issuer) else {
        run.skip_all(AS_CHECKS, "the authorization server is not a URL");
        return;
    };
    let mut tried = Vec::new();
    let mut found = None;
    for url in as_metadata_urls(&issuer_url) {
        let fetched = fetch_document(run, &url).await;
        if fetched.doc.is_some() {
            found = Some(fetched);
            break;
        }
        tried.push(fetched.summary());
    }
    let Some(Fetched {
        url,
        doc: Some(doc),
        ..
    }) = found
    else {
        run.fail("as.metadata", format!("none found: {}", tried.join("; ")));
        run.skip_all(AS_CHECKS, "no authorization server metadata");
        return;
    };
    run.pass("as.metadata", format!("from {url}"));
    match doc.get("issuer").and_then(Value::as_str) {
        Some(found) if found == issuer => run.pass("as.issuer", found),
        Some(found) => run.fail(
            "as.issuer",
            format!("issuer {found:?} differs from the metadata's entry {issuer:?}"),
        ),
        None => run.fail("as.issuer", "no issuer"),
    }
    let methods = strings(doc.get("code_challenge_methods_supported"));
    if methods.iter().any(|method| method == "S256") {
        run.pass(
            "as.pkce",
            format!("code_challenge_methods_supported: {methods:?}"),
        );
    } else {
        run.fail(
            "as.pkce",
            format!("code_challenge_methods_supported: {methods:?}, without S256"),
        );
    }
    let registration = doc.get("registration_endpoint").and_then(Value::as_str);
    let cimd = doc.get("client_id_metadata_document_supported") == Some(&Value::Bool(true));
    match (registration, cimd) {
        (Some(endpoint), true) => run.pass(
            "as.registration",
            format!("registration_endpoint {endpoint}, client ID metadata documents"),
        ),
        (Some(endpoint), false) => {
            run.pass(
                "as.registration",
                format!("registration_endpoint {endpoint}"),
            );
        }
        (None, true) => run.pass("as.registration", "client ID metadata documents"),
        (None, false) => run.fail(
            "as.registration",
            "neither: clients need a pre-registered client id",
        ),
    }
    // A key id to forge under, when the issuer publishes one.
    if let Some(jwks_uri) = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .and_then(|uri| Url::parse(uri).ok())
        && let Some(jwks) = fetch_document(run, &jwks_uri).await.doc
    {
        run.facts.as_key = jwks["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|key| Some((key["kid"].as_str()?.to_owned(), key_algorithm(key)?)));
    }
}

/// The JWS algorithm of a JWK: its `alg`, or the one its key type implies.
fn key_algorithm(key: &Value) -> Option<String> {
    if let Some(alg) = key["alg"].as_str() {
        return Some(alg.to_owned());
    }
    Some(
        match (key["kty"].as_str()?, key["crv"].as_str()) {
            ("RSA", _) => "RS256",
            ("EC", Some("P-256")) => "ES256",
            ("OKP", Some("Ed25519")) => "EdDSA",
            _ => return None,
        }
        .to_owned(),
    )
}

/// A token with the claims a good token would have, for `issuer`, signed by `key`; issued two
/// minutes ago (before any key fetch the server made during the audit).
pub(crate) fn plausible(run: &Run<'_>, key: &SigningKey, issuer: &str) -> TokenBuilder {
    key.token()
        .issuer(issuer)
        .audience(run.canonical.as_str())
        .subject(AUDIT_PRINCIPAL)
        .client_id(AUDIT_PRINCIPAL)
        .scopes(run.good_scopes())
        .issued_at(time_from_now(-120))
        .expires_in(std::time::Duration::from_secs(15 * 60))
}

/// Tokens any server must refuse: garbage, `alg: none`, expired, forged.
pub(crate) async fn tokens(run: &mut Run<'_>) {
    let issuer = run.first_issuer();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let garbage = format!("mcp-auth-audit-not-a-token-{nanos:x}");
    run.expect_401("token.garbage", &garbage).await;

    let none = plausible(run, &SigningKey::es256(), &issuer)
        .alg_none()
        .sign();
    run.expect_401("token.alg-none", &none).await;

    let expired = plausible(run, &SigningKey::es256(), &issuer)
        .expired()
        .sign();
    run.expect_401("token.expired", &expired).await;

    let key = match &run.facts.as_key {
        Some((kid, alg)) => {
            let algorithm = match alg.as_str() {
                "RS256" => KeyAlgorithm::Rs256,
                "EdDSA" => KeyAlgorithm::EdDsa,
                _ => KeyAlgorithm::Es256,
            };
            SigningKey::generate(algorithm).with_kid(kid.as_str())
        }
        None => SigningKey::es256(),
    };
    let forged = plausible(run, &key, &issuer).sign();
    run.expect_401("token.forged", &forged).await;
}

/// How tokens may travel, with `token` (a token the server accepts in the header when there is
/// one, else a forged one), and the `Origin` rule.
pub(crate) async fn transport(run: &mut Run<'_>, token: &str, kind: &str) {
    let initialize = mcp::initialize(run.next_id());
    let query = Request::mcp(&run.url, &initialize).query_token(token);
    expect_4xx(run, "transport.query-token", query, kind).await;

    let form = Request::new(Method::POST, &run.url)
        .header(header::ACCEPT, "application/json, text/event-stream")
        .form_token(token);
    expect_4xx(run, "transport.form-token", form, kind).await;

    let initialize = mcp::initialize(run.next_id());
    let twice = Request::mcp(&run.url, &initialize)
        .bearer(token)
        .bearer("mcp-auth-audit-second-token");
    match run.send_retrying(twice).await {
        Err(err) => run.skip("transport.duplicate-authorization", err.to_string()),
        Ok((exchange, note)) if exchange.status == 400 => run.pass(
            "transport.duplicate-authorization",
            format!("{} (first: {kind}){note}", describe(&exchange)),
        ),
        Ok((exchange, note)) => run.fail(
            "transport.duplicate-authorization",
            format!(
                "expected 400, got {} (first: {kind}){note}",
                describe(&exchange)
            ),
        ),
    }

    let initialize = mcp::initialize(run.next_id());
    let foreign = Request::mcp(&run.url, &initialize).header(header::ORIGIN, FOREIGN_ORIGIN);
    match run.send(foreign).await {
        Err(err) => run.skip("transport.origin", err.to_string()),
        Ok(exchange) if exchange.status == 403 => {
            run.pass(
                "transport.origin",
                format!("403 for Origin {FOREIGN_ORIGIN}"),
            );
        }
        Ok(exchange) => {
            let why = if exchange.status == 401 {
                ": the Origin is checked after authentication, or not at all"
            } else {
                ""
            };
            run.fail(
                "transport.origin",
                format!(
                    "expected 403 for Origin {FOREIGN_ORIGIN}, got {}{why}",
                    describe(&exchange)
                ),
            );
        }
    }
    let preflight = Request::new(Method::OPTIONS, &run.url)
        .header(header::ORIGIN, FOREIGN_ORIGIN)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization, content-type, mcp-protocol-version",
        );
    match run.send(preflight).await {
        Err(err) => run.skip("transport.origin-preflight", err.to_string()),
        Ok(exchange) if !exchange.status.is_success() => run.pass(
            "transport.origin-preflight",
            format!("{} for Origin {FOREIGN_ORIGIN}", exchange.status.as_u16()),
        ),
        Ok(exchange) => run.fail(
            "transport.origin-preflight",
            format!(
                "{} for Origin {FOREIGN_ORIGIN}{}",
                exchange.status.as_u16(),
                allow_origin(&exchange)
                    .map(|allowed| format!(", Access-Control-Allow-Origin: {allowed}"))
                    .unwrap_or_default()
            ),
        ),
    }
}

async fn expect_4xx(run: &mut Run<'_>, id: &'static str, request: Request, kind: &str) {
    match run.send_retrying(request).await {
        Err(err) => run.skip(id, err.to_string()),
        Ok((exchange, note)) if exchange.status.is_client_error() => {
            run.pass(id, format!("{} ({kind}){note}", describe(&exchange)));
        }
        Ok((exchange, note)) => run.fail(
            id,
            format!("expected 4xx, got {} ({kind}){note}", describe(&exchange)),
        ),
    }
}

/// `token.invalid-token-code`, from every 401 given to a bad token during the run.
pub(crate) fn invalid_token_code(run: &mut Run<'_>) {
    let id = "token.invalid-token-code";
    if run.refusals.is_empty() {
        run.skip(id, "no bad token was refused with 401");
        return;
    }
    let without: Vec<String> = run
        .refusals
        .iter()
        .filter(|(_, code)| code.as_deref() != Some("invalid_token"))
        .map(|(check, code)| match code {
            Some(code) => format!("{check} (error={code:?})"),
            None => format!("{check} (no error)"),
        })
        .collect();
    if without.is_empty() {
        run.pass(
            id,
            format!(
                "{} refusals, all error=\"invalid_token\"",
                run.refusals.len()
            ),
        );
    } else {
        run.fail(id, format!("not invalid_token: {}", without.join(", ")));
    }
}

/// An absolute `https` URL, or `http` on a loopback host.
fn absolute_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|err| format!("not an absolute URL: {err}"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err("http on a non-loopback host (must be https)".to_owned()),
        scheme => Err(format!("scheme {scheme} (must be https)")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(domain)) => {
            domain.eq_ignore_ascii_case("localhost") || domain.ends_with(".localhost")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_urls_insert_the_path() {
        let url = Url::parse("https://h:8443/public/mcp?x=1").unwrap();
        assert_eq!(
            well_known(&url, true).as_str(),
            "https://h:8443/.well-known/oauth-protected-resource/public/mcp"
        );
        assert_eq!(
            well_known(&url, false).as_str(),
            "https://h:8443/.well-known/oauth-protected-resource"
        );
        let root = Url::parse("https://h/").unwrap();
        assert_eq!(well_known(&root, true), well_known(&root, false));
    }

    #[test]
    fn authorization_server_metadata_urls_follow_the_mcp_order() {
        let with_path = as_metadata_urls(&Url::parse("https://as/tenant1").unwrap());
        let with_path: Vec<&str> = with_path.iter().map(Url::as_str).collect();
        assert_eq!(
            with_path,
            [
                "https://as/.well-known/oauth-authorization-server/tenant1",
                "https://as/.well-known/openid-configuration/tenant1",
                "https://as/tenant1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            as_metadata_urls(&Url::parse("https://as").unwrap()).len(),
            2
        );
    }

    #[test]
    fn resource_must_be_the_canonical_uri() {
        let server = Url::parse("http://127.0.0.1:3000/mcp").unwrap();
        let doc = |resource: &str| serde_json::json!({ "resource": resource });
        assert!(check_resource(&doc("http://127.0.0.1:3000/mcp"), &server, false).is_ok());
        assert!(check_resource(&doc("HTTP://127.0.0.1:3000/mcp"), &server, false).is_ok());
        assert!(check_resource(&doc("http://127.0.0.1:3000/mcp/"), &server, false).is_err());
        assert!(check_resource(&doc("http://127.0.0.1:3000"), &server, false).is_err());
        assert!(check_resource(&doc("http://127.0.0.1:3000/"), &server, true).is_ok());
        assert!(check_resource(&serde_json::json!({}), &server, true).is_err());
    }
}
