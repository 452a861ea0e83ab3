//! Writes the seed corpora of the fuzz targets (`fuzz/corpus/<target>/`) and the public keys of
//! the seed tokens (`fuzz/keys/seed-jwks.json`, the fixed key set of the `jwt` target).
//!
//! Not a test: run it by hand after changing a target's input format, then commit the result.
//!
//! ```text
//! cargo test --test fuzz_seeds -- --ignored
//! ```
//!
//! Tokens and proofs are real: minted with `mcp_auth::testing`, with expiries in 2100 (and a
//! century-long proof lifetime in the `dpop` target), so the seeds stay valid.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, UNIX_EPOCH},
};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use mcp_auth::testing::{DpopProof, SigningKey, TokenBuilder, key_thumbprint};
use serde_json::{Value, json};

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
/// 2100-01-01T00:00:00Z.
const EXP_2100: u64 = 4_102_444_800;
/// The access token of the `dpop` target.
const DPOP_TOKEN: &str = "fuzz-access-token";

struct Corpus {
    dir: PathBuf,
}

impl Corpus {
    fn new(root: &Path, target: &str) -> Self {
        let dir = root.join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap();
        }
        fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn add(&self, name: &str, bytes: impl AsRef<[u8]>) {
        fs::write(self.dir.join(name), bytes).unwrap();
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn token(key: &SigningKey) -> TokenBuilder {
    key.token()
        .issuer(ISSUER)
        .subject("alice")
        .client_id("client-1")
        .audience(RESOURCE)
        .scopes(["mcp:read"])
        .expires_at(UNIX_EPOCH + Duration::from_secs(EXP_2100))
}

#[test]
#[ignore = "writes the fuzz seed corpora; run by hand"]
fn write_fuzz_seeds() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = fuzz.join("corpus");
    let es = SigningKey::es256().with_kid("seed-es256");
    let rs = SigningKey::rs256().with_kid("seed-rs256");
    let ed = SigningKey::ed_dsa().with_kid("seed-eddsa");
    let jwks = SigningKey::jwks_of([&es, &rs, &ed]);
    fs::create_dir_all(fuzz.join("keys")).unwrap();
    fs::write(
        fuzz.join("keys/seed-jwks.json"),
        serde_json::to_string_pretty(&jwks).unwrap() + "\n",
    )
    .unwrap();
    let good = token(&es).sign();

    // bearer: flags (bit 0: DPoP), size limit (0: 8192), then the URI and `name:value` lines.
    let c = Corpus::new(&corpus, "bearer");
    let proof = DpopProof::new(&es, "POST", RESOURCE)
        .access_token(&good)
        .sign();
    let header = |flags: u8, lines: &str| cat(&[&[flags, 0], lines.as_bytes()]);
    c.add(
        "jwt",
        header(0, &format!("/mcp\nauthorization:Bearer {good}")),
    );
    c.add(
        "dpop",
        header(1, &format!("/mcp\nauthorization:DPoP {good}\ndpop:{proof}")),
    );
    c.add(
        "dpop-off",
        header(0, &format!("/mcp\nauthorization:DPoP {good}\ndpop:{proof}")),
    );
    c.add(
        "dpop-two-proofs",
        header(
            1,
            &format!("/mcp\nauthorization:dpop {good}\nDPoP:{proof}\ndpop:{proof}"),
        ),
    );
    c.add("dpop-no-proof", header(1, "/mcp\nauthorization:DPoP abc"));
    c.add(
        "opaque",
        header(0, "/mcp\nauthorization:Bearer dev-at-abc~+/=="),
    );
    c.add("lower-tab", header(0, "/mcp\nauthorization: bearer\tabc "));
    c.add("spaces", header(0, "/mcp\nAuthorization:Bearer    abc"));
    c.add("scheme-only", header(0, "/mcp\nauthorization:Bearer"));
    c.add("basic", header(0, "/mcp\nauthorization:Basic dXNlcjpwYXNz"));
    c.add("two-tokens", header(0, "/mcp\nauthorization:Bearer a b"));
    c.add(
        "inner-padding",
        header(0, "/mcp\nauthorization:Bearer ab=c"),
    );
    c.add(
        "two-headers",
        header(0, "/mcp\nauthorization:Bearer a\nauthorization:Bearer a"),
    );
    c.add("query", header(0, "/mcp?x=1&access_token=abc"));
    c.add(
        "query-encoded",
        header(0, "/mcp?access%5Ftoken=abc\nauthorization:Bearer abc"),
    );
    c.add(
        "form",
        header(
            0,
            "/mcp\ncontent-type:Application/X-WWW-Form-Urlencoded; charset=utf-8",
        ),
    );
    c.add(
        "too-long",
        cat(&[
            &[0, 16],
            b"/mcp\nauthorization:Bearer abcdefghijklmnopqrstuvwxyz",
        ]),
    );

    // jwt: flags (bit 0: sign `header NUL claims` with the fuzz key; bit 1: strict verifier).
    let c = Corpus::new(&corpus, "jwt");
    let raw = |flags: u8, token: &str| cat(&[&[flags], token.as_bytes()]);
    c.add("es256", raw(0, &good));
    c.add("rs256", raw(0, &token(&rs).sign()));
    c.add("eddsa", raw(0, &token(&ed).sign()));
    c.add("eddsa-strict", raw(2, &token(&ed).sign()));
    c.add(
        "scp-and-audiences",
        raw(
            0,
            &token(&es)
                .scp(["mcp:read", "files:write"])
                .audiences([RESOURCE, "https://other.example.com"])
                .sign(),
        ),
    );
    c.add(
        "dpop-bound",
        raw(
            0,
            &token(&es)
                .claim("cnf", json!({"jkt": key_thumbprint(&ed)}))
                .sign(),
        ),
    );
    c.add("typ-jwt", raw(0, &token(&es).typ("JWT").sign()));
    c.add("typ-jwt-strict", raw(2, &token(&es).typ("JWT").sign()));
    c.add(
        "typ-application",
        raw(2, &token(&es).typ("application/at+jwt").sign()),
    );
    c.add("no-typ", raw(0, &token(&es).without_typ().sign()));
    c.add("no-kid", raw(0, &token(&ed).without_kid().sign()));
    c.add("unknown-kid", raw(0, &token(&es).unknown_kid().sign()));
    c.add("expired", raw(0, &token(&es).expired().sign()));
    c.add("not-yet-valid", raw(0, &token(&es).not_yet_valid().sign()));
    c.add("wrong-issuer", raw(0, &token(&es).wrong_issuer().sign()));
    c.add("alg-none", raw(0, &token(&es).alg_none().sign()));
    c.add(
        "hs256-confusion",
        raw(0, &token(&rs).hs256_with_public_key().sign()),
    );
    c.add("untrusted-key", raw(0, &token(&es).untrusted_key().sign()));
    c.add(
        "tampered-signature",
        raw(0, &token(&es).tamper_signature().sign()),
    );
    c.add(
        "tampered-payload",
        raw(0, &token(&es).tamper_payload().sign()),
    );
    c.add(
        "crit",
        raw(0, &token(&es).header("crit", json!(["exp"])).sign()),
    );
    c.add("opaque", raw(0, "dev-at-0123456789"));
    let signed = |flags: u8, header: &Value, claims: &Value| {
        cat(&[
            &[flags],
            header.to_string().as_bytes(),
            &[0],
            claims.to_string().as_bytes(),
        ])
    };
    let fuzz_header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "fuzz-ed25519"});
    let claims = json!({
        "iss": ISSUER, "sub": "alice", "client_id": "client-1", "aud": RESOURCE,
        "scope": "mcp:read mcp:write", "exp": EXP_2100, "iat": 1_700_000_000, "nbf": 1_700_000_000,
        "jti": "j-1",
    });
    c.add("signed", signed(1, &fuzz_header, &claims));
    c.add("signed-strict", signed(3, &fuzz_header, &claims));
    c.add(
        "signed-ed25519-name",
        signed(
            3,
            &json!({"alg": "Ed25519", "typ": "application/at+jwt", "kid": "fuzz-ed25519"}),
            &claims,
        ),
    );
    c.add(
        "signed-no-kid",
        signed(1, &json!({"alg": "EdDSA"}), &claims),
    );
    let mut odd = claims;
    odd["exp"] = json!(4.1e9);
    odd["iat"] = json!(-0.0);
    odd["aud"] = json!([RESOURCE, "x"]);
    odd["scp"] = json!(["a", "", "b"]);
    odd["cnf"] = json!({"jkt": "abc"});
    odd["nested"] = json!({"deep": [1, 2.5, {"x": null}]});
    c.add("signed-odd-claims", signed(1, &fuzz_header, &odd));
    c.add(
        "signed-duplicate-scope",
        cat(&[
            &[1],
            fuzz_header.to_string().as_bytes(),
            &[0],
            format!(
                r#"{{"iss":"{ISSUER}","exp":{EXP_2100},"aud":"{RESOURCE}","scope":"a","scope":"admin"}}"#
            )
            .as_bytes(),
        ]),
    );
    c.add(
        "signed-not-json",
        cat(&[&[1], fuzz_header.to_string().as_bytes(), &[0], b"not json"]),
    );

    // jsonrpc: the body.
    let c = Corpus::new(&corpus, "jsonrpc");
    let bodies = [
        (
            "initialize",
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {"roots": {"listChanged": true}},
                "clientInfo": {"name": "fuzz", "version": "1.0"}}}),
        ),
        (
            "initialized",
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        ),
        (
            "tools-list",
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"cursor": "c1"}}),
        ),
        (
            "tools-call",
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                "name": "delete_file", "arguments": {"path": "/tmp/x", "deep": [1, {"a": null}]},
                "_meta": {"progressToken": 7}}}),
        ),
        (
            "resources-read",
            json!({"jsonrpc": "2.0", "id": "r", "method": "resources/read",
                "params": {"uri": "file:///private/notes.txt"}}),
        ),
        (
            "resources-subscribe",
            json!({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe",
                "params": {"uri": "https://example.com/a/../b"}}),
        ),
        (
            "prompts-get",
            json!({"jsonrpc": "2.0", "id": 4, "method": "prompts/get",
                "params": {"name": "summarise", "arguments": {"topic": "x"}}}),
        ),
        (
            "completion-prompt",
            json!({"jsonrpc": "2.0", "id": 8, "method": "completion/complete", "params": {
                "ref": {"type": "ref/prompt", "name": "summarise"},
                "argument": {"name": "topic", "value": "se"}}}),
        ),
        (
            "completion-resource",
            json!({"jsonrpc": "2.0", "id": 9, "method": "completion/complete", "params": {
                "ref": {"type": "ref/resource", "uri": "file:///private/{name}"},
                "argument": {"name": "name", "value": "no"}}}),
        ),
        (
            "result",
            json!({"jsonrpc": "2.0", "id": 5, "result": {"name": "not a call"}}),
        ),
        (
            "error",
            json!({"jsonrpc": "2.0", "id": 6, "error": {"code": -32_601, "message": "m"}}),
        ),
        (
            "params-array",
            json!({"jsonrpc": "2.0", "id": 7, "method": "x", "params": [1, "name"]}),
        ),
        (
            "batch",
            json!([
                {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "a"}},
                {"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": "file:///b"}},
                {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
            ]),
        ),
        ("empty-batch", json!([])),
    ];
    for (name, body) in bodies {
        c.add(name, body.to_string());
    }
    c.add(
        "escapes",
        r#" {"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"delete\u005ffile"}}"#,
    );
    c.add(
        "duplicate-method",
        r#"{"method":"tools/list","method":"tools/call","params":{"name":"a"}}"#,
    );
    c.add(
        "duplicate-name",
        r#"{"method":"tools/call","params":{"name":"a","name":"b"}}"#,
    );
    c.add(
        "non-string-name",
        r#"{"method":"tools/call","params":{"name":1}}"#,
    );
    c.add(
        "deep",
        format!(
            r#"{{"method":"x","params":{{"a":{}{}}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        ),
    );
    c.add(
        "truncated",
        r#"{"method":"tools/call","params":{"name":"a"}"#,
    );

    // resource: flags (bit 0: exclusive), then the resource, an alias, and audiences.
    let c = Corpus::new(&corpus, "resource");
    let lines = |flags: u8, lines: &[&str]| cat(&[&[flags], lines.join("\n").as_bytes()]);
    c.add(
        "variants",
        lines(
            0,
            &[
                RESOURCE,
                "",
                "HTTPS://MCP.EXAMPLE.COM/mcp",
                "https://mcp.example.com:443/mcp",
                "https://mcp.example.com:/mcp",
                "https://mcp.example.com/%6Dcp",
                "https://mcp.example.com/a/../mcp",
                "https://mcp.example.com/./mcp",
                "https://mcp.example.com/mcp/",
                "https://mcp.example.com/MCP",
                "https://mcp.example.com/mcp?x",
                "https://mcp.example.com/mcp#x",
                "https://a@mcp.example.com/mcp",
                "http://mcp.example.com/mcp",
                "https://mcp.example.com.evil/mcp",
            ],
        ),
    );
    c.add(
        "root",
        lines(
            0,
            &[
                "https://mcp.example.com/",
                "",
                "https://mcp.example.com",
                "https://mcp.example.com:443",
                "https://mcp.example.com/.",
                "https://mcp.example.com/a/..",
            ],
        ),
    );
    c.add(
        "loopback",
        lines(
            0,
            &[
                "http://127.0.0.1:3000/mcp",
                "",
                "http://2130706433:3000/mcp",
                "http://127.1:3000/mcp",
                "http://[::1]:3000/mcp",
                "http://127.0.0.1:03000/mcp",
            ],
        ),
    );
    c.add(
        "ipv6",
        lines(
            0,
            &["http://[::1]:8080/a/b", "", "http://[0:0::1]:8080/a/b"],
        ),
    );
    c.add(
        "aliases",
        lines(
            0,
            &[
                RESOURCE,
                "https://old.example.com/mcp",
                "https://OLD.example.com:443/mcp",
                "other",
            ],
        ),
    );
    c.add(
        "exact-alias-exclusive",
        lines(1, &[RESOURCE, "api://mcp", RESOURCE, "api://mcp"]),
    );
    c.add(
        "exclusive-foreign",
        lines(
            1,
            &[RESOURCE, "", RESOURCE, "https://other.example.com/api"],
        ),
    );
    c.add(
        "rules",
        lines(
            0,
            &[
                "file:///private/x",
                "",
                "FILE:///public/../private/x",
                "file:///%70rivate/x",
                "file:///public%2F..%2Fprivate/x",
                "file:///public%5c..%5cprivate/x",
                "file:///public\\..\\private/x",
                "file:////private//x",
                "urn:x:Y",
                "not a uri %zz é",
                "%",
            ],
        ),
    );
    c.add(
        "encoded",
        lines(
            0,
            &[
                "https://h.example/a%2Fb",
                "",
                "https://h.example/a/b",
                "https://h.example/a%2fb",
                "https://h.example/a//b",
                "https://%68.example/a%2Fb",
            ],
        ),
    );

    // challenge: flags, error kind, retry delay (8 + 4 bytes), then NUL-separated metadata
    // URL, global scope, DPoP algorithms, description, scope, nonce.
    let c = Corpus::new(&corpus, "challenge");
    let challenge = |flags: u8, kind: u8, secs: u64, nanos: u32, strings: [&str; 6]| {
        let mut out = vec![flags, kind];
        out.extend(secs.to_le_bytes());
        out.extend(nanos.to_le_bytes());
        out.extend(strings.join("\0").into_bytes());
        out
    };
    let normal = [
        METADATA,
        "mcp:read",
        "ES256 EdDSA",
        "the access token has expired",
        "mcp:read files:write",
        "n-1",
    ];
    for kind in 0..13 {
        c.add(
            &format!("bearer-{kind}"),
            challenge(1 | 4 | 16, kind, 5, 0, normal),
        );
        c.add(
            &format!("both-{kind}"),
            challenge(1 | 2 | 4 | 8 | 64, kind, 1, 500_000_000, normal),
        );
    }
    c.add("dpop-only", challenge(2 | 8, 3, 0, 0, normal));
    c.add(
        "hostile",
        challenge(
            1 | 2 | 4 | 16 | 32 | 64,
            2,
            0,
            1,
            [
                "https://h.example/\"x\\y",
                "a\"b c\\d",
                "ES256\t\"",
                "line\r\nbreak \"quoted\" \\ é \u{7f}",
                "s\", error=\"injected",
                "n\r\n",
            ],
        ),
    );
    c.add(
        "retry-max",
        challenge(1 | 32, 12, u64::MAX, 999_999_999, normal),
    );
    c.add("retry-zero", challenge(1, 12, 0, 0, normal));

    // jwks: the document.
    let c = Corpus::new(&corpus, "jwks");
    c.add("seed", jwks.to_string());
    let fuzz_key = Ed25519KeyPair::from_seed_unchecked(&[0x42; 32]).unwrap();
    let fuzz_x = b64(fuzz_key.public_key().as_ref());
    c.add(
        "fuzz-key",
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": fuzz_x, "kid": "fuzz-ed25519"}]})
            .to_string(),
    );
    let strip = |key: &SigningKey, members: &[&str]| {
        let mut jwk = key.public_jwk();
        for member in members {
            jwk.as_object_mut().unwrap().remove(*member);
        }
        jwk
    };
    c.add(
        "without-alg-kid",
        json!({"keys": [strip(&es, &["alg", "kid"]), strip(&rs, &["alg"]), strip(&ed, &["alg", "use"])]})
            .to_string(),
    );
    let mut fully_specified = ed.public_jwk();
    fully_specified["alg"] = "Ed25519".into();
    let mut esp = es.public_jwk();
    esp["alg"] = "ESP256".into();
    esp["key_ops"] = json!(["verify"]);
    c.add(
        "fully-specified",
        json!({"keys": [fully_specified, esp]}).to_string(),
    );
    let mut duplicate = es.public_jwk();
    duplicate["alg"] = "ES256".into();
    c.add(
        "duplicate-kid",
        json!({"keys": [es.public_jwk(), duplicate, ed.public_jwk()]}).to_string(),
    );
    let n2048 = b64(&[&[0xc1_u8][..], &[0xff; 255]].concat());
    c.add(
        "junk",
        json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "RSA", "n": n2048, "e": "AQAB", "use": "enc"},
            {"kty": "RSA", "n": n2048, "e": "AQAB", "d": "AQAB"},
            {"kty": "RSA", "n": b64(&[0xc1; 128]), "e": "AQAB"},
            {"kty": "RSA", "n": n2048, "e": "Ag"},
            {"kty": "RSA", "n": n2048, "e": "AQAB=", "kid": 7},
            {"kty": "RSA", "n": n2048, "e": "AQAB", "alg": "ES256"},
            {"kty": "AKP", "alg": "ML-DSA-44", "pub": "AAAA"},
            {"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"},
            {"kty": "EC", "crv": "P-256", "x": b64(&[1; 31]), "y": b64(&[2; 32])},
            {"kty": "OKP", "crv": "Ed448", "x": b64(&[1; 57])},
            {"kty": "OKP", "crv": "Ed25519", "x": b64(&[1; 32]), "key_ops": ["sign"]},
            "not an object",
            {"kty": "RSA", "n": n2048, "e": "AQAB", "kid": "good-looking"}
        ]})
        .to_string(),
    );
    c.add("no-keys", r#"{"kids": []}"#);
    c.add("keys-not-array", r#"{"keys": {"kty": "RSA"}}"#);

    // introspection: flags (bit 0: the strict verifier), then the answer.
    let c = Corpus::new(&corpus, "introspection");
    let answer = |flags: u8, answer: Value| cat(&[&[flags], answer.to_string().as_bytes()]);
    let active = json!({
        "active": true, "iss": ISSUER, "sub": "alice", "client_id": "client-1", "aud": RESOURCE,
        "scope": "mcp:read mcp:write", "exp": EXP_2100, "iat": 1_700_000_000, "nbf": 1_700_000_000,
        "token_type": "Bearer", "username": "alice",
    });
    c.add("active", answer(0, active.clone()));
    c.add("active-strict", answer(1, active.clone()));
    let with = |changes: Value| {
        let mut out = active.clone();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                out.as_object_mut().unwrap().remove(name);
            } else {
                out[name] = value.clone();
            }
        }
        out
    };
    c.add("inactive", answer(0, json!({"active": false})));
    c.add("empty", answer(0, json!({})));
    c.add("array", answer(0, json!([])));
    c.add("active-string", answer(0, json!({"active": "true"})));
    c.add(
        "wrong-issuer",
        answer(0, with(json!({"iss": "https://evil.example.com"}))),
    );
    c.add("iss-null", answer(0, with(json!({"iss": null}))));
    c.add("expired", answer(0, with(json!({"exp": 1_000_000_000}))));
    c.add("future-nbf", answer(0, with(json!({"nbf": EXP_2100}))));
    c.add(
        "refresh-token",
        answer(0, with(json!({"token_type": "refresh_token"}))),
    );
    c.add(
        "dpop",
        answer(
            0,
            with(json!({"token_type": "DPoP", "cnf": {"jkt": "abc"}})),
        ),
    );
    c.add(
        "audiences",
        answer(
            0,
            with(json!({"aud": [RESOURCE, "https://other.example.com"]})),
        ),
    );
    c.add(
        "scp",
        answer(0, with(json!({"scope": null, "scp": ["a", "b"]}))),
    );
    c.add(
        "no-aud-strict",
        answer(1, with(json!({"aud": null, "iss": null}))),
    );
    c.add(
        "other-client-strict",
        answer(1, with(json!({"client_id": "client-2", "iss": null}))),
    );
    c.add("no-exp-strict", answer(1, with(json!({"exp": null}))));
    c.add("bad-scope", answer(0, with(json!({"scope": "a\tb"}))));

    // dpop: flags, then `method NUL path NUL payload` (see the target for the flags).
    let c = Corpus::new(&corpus, "dpop");
    let dpop = |flags: u8, method: &str, path: &str, payload: &[u8]| {
        cat(&[
            &[flags],
            method.as_bytes(),
            &[0],
            path.as_bytes(),
            &[0],
            payload,
        ])
    };
    let proof = |key: &SigningKey| DpopProof::new(key, "POST", RESOURCE).access_token(DPOP_TOKEN);
    c.add(
        "es256",
        dpop(0, "POST", "/mcp", proof(&es).sign().as_bytes()),
    );
    c.add(
        "rs256",
        dpop(0, "POST", "/mcp", proof(&rs).sign().as_bytes()),
    );
    c.add(
        "eddsa",
        dpop(0, "POST", "/mcp", proof(&ed).sign().as_bytes()),
    );
    c.add(
        "htu-variant",
        dpop(
            0,
            "GET",
            "/mcp",
            DpopProof::new(&es, "GET", "HTTPS://MCP.EXAMPLE.COM:443/a/../mcp")
                .access_token(DPOP_TOKEN)
                .sign()
                .as_bytes(),
        ),
    );
    let broken = [
        ("wrong-method", proof(&es).claim("htm", "GET")),
        (
            "wrong-uri",
            proof(&es).claim("htu", "https://mcp.example.com/other"),
        ),
        (
            "query-uri",
            proof(&es).claim("htu", "https://mcp.example.com/mcp?x=1"),
        ),
        ("no-ath", proof(&es).without_claim("ath")),
        ("typ", proof(&es).header("typ", "jwt")),
        ("alg-none", proof(&es).alg_none()),
        ("private-jwk", proof(&es).private_jwk()),
        ("tampered", proof(&es).tamper_signature()),
        ("other-jwk", proof(&es).jwk_of(&ed)),
        ("no-jti", proof(&es).without_claim("jti")),
        ("old", proof(&es).issued_at(UNIX_EPOCH)),
        ("nonce", proof(&es).nonce("n-1")),
    ];
    for (name, proof) in broken {
        c.add(name, dpop(0, "POST", "/mcp", proof.sign().as_bytes()));
    }
    c.add(
        "short-lifetime",
        dpop(128, "POST", "/mcp", proof(&ed).sign().as_bytes()),
    );
    let signed = |flags: u8, header: &Value, claims: &Value| {
        dpop(
            flags,
            "POST",
            "/mcp",
            &cat(&[
                header.to_string().as_bytes(),
                &[0],
                claims.to_string().as_bytes(),
            ]),
        )
    };
    let header = json!({"typ": "dpop+jwt", "alg": "EdDSA"});
    c.add("signed", signed(0xff, &header, &json!({"jti": "j-1"})));
    c.add(
        "signed-explicit",
        signed(
            1 | 2 | 64,
            &header,
            &json!({"jti": "j-2", "htm": "POST", "htu": RESOURCE, "iat": 1_700_000_000,
                "ath": b64(&<sha2::Sha256 as sha2::Digest>::digest(DPOP_TOKEN.as_bytes()))}),
        ),
    );
    c.add(
        "signed-typ-case",
        signed(
            0xff,
            &json!({"typ": "application/DPoP+JWT", "alg": "Ed25519"}),
            &json!({"jti": "j-3"}),
        ),
    );
    c.add(
        "signed-htu-dots",
        dpop(
            !16,
            "PUT",
            "/a/./mcp",
            &cat(&[
                header.to_string().as_bytes(),
                &[0],
                json!({"jti": "j-4", "htu": "https://mcp.example.com/a/mcp"})
                    .to_string()
                    .as_bytes(),
            ]),
        ),
    );
}
