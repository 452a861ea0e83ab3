"""Drive an MCP server protected by mcp-auth with the official Python MCP SDK (PyPI `mcp`).

Each sub-command is one interop check. It prints what it saw, `ok: <what>` lines for each
assertion, and exits non-zero (with the reason on stderr) when anything is off. The client is
given only the MCP server URL: it finds the authorization server through the 401 challenge, the
protected resource metadata (RFC 9728) and the authorization server metadata (RFC 8414 / OIDC).

    python client.py probe --url http://127.0.0.1:3000/mcp      # raw HTTP: 401, PRM, AS metadata
    python client.py tokens --url ...                             # raw HTTP: AS tokens, wrong aud/scope
    python client.py keepalive --url ...                          # raw HTTP/1.1: connection after a 401
    python client.py client-credentials --url ... [--client-id ID --client-secret S --issuer ISS]
    python client.py auth-code --url ... [--client-id ID [--client-secret S]] [--expect-subject SUB]
    python client.py algorithms --url ... --client ID [--client ID...] --client-secret S
    python client.py revocation --url ... --client-id ID --client-secret S   # introspection, RFC 7009
    python client.py dpop --url ... --client-id ID --client-secret S         # RFC 9449 proofs
    python client.py stream-expiry --url ... --auth oauth|static [--issuer ISS --client-id ID --client-secret S]

Without `--client-id`, `client-credentials` registers a confidential client itself through the
authorization server's RFC 7591 endpoint (found by discovery), and `auth-code` lets the SDK
register one (the SDK's own dynamic client registration).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import secrets
import socket
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

TIMEOUT = httpx2.Timeout(20.0)

# Connections are reused, as real clients do: a rejection that leaves the request body unread
# says `Connection: close` (see the `keepalive` command), so the pool never reuses a connection
# the server is about to close.
def http_client(**kwargs: Any) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(timeout=TIMEOUT, **kwargs)


REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the redirect is read, not followed
ACCEPT = "application/json, text/event-stream"
PROTOCOL_VERSION = "2025-06-18"  # what raw requests speak (rmcp serves it with sessions)


class CheckFailed(Exception):
    pass


def ok(what: str) -> None:
    print(f"  ok: {what}", flush=True)


def expect(condition: bool, what: str, detail: Any = None) -> None:
    if not condition:
        raise CheckFailed(f"{what}" + (f" (got: {detail!r})" if detail is not None else ""))
    ok(what)


class MemoryStorage(TokenStorage):
    """Token and client storage kept in memory for one run."""

    def __init__(self, client_info: OAuthClientInformationFull | None = None) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info = client_info

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


# ---------------------------------------------------------------------------------------------
# Discovery by hand (used by `probe` and to register a client_credentials client)


def challenge_params(header: str, scheme: str = "bearer") -> dict[str, str]:
    """The auth-params of the first challenge of `header` (quoted or token values), which must
    be of `scheme`. A second challenge in the same value (httpx joins repeated headers with
    `, `) ends the first."""
    found, _, rest = header.strip().partition(" ")
    if found.lower() != scheme:
        raise CheckFailed(f"WWW-Authenticate scheme is not {scheme}: {header!r}")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " ,":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        name = rest[i:eq].strip().lower()
        if " " in name:  # `DPoP algs=…`: the next challenge
            break
        i = eq + 1
        if i < n and rest[i] == '"':
            i += 1
            value = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(rest[i])
                i += 1
            i += 1
            params[name] = "".join(value)
        else:
            end = rest.find(",", i)
            end = n if end < 0 else end
            params[name] = rest[i:end].strip()
            i = end
    return params


def challenges(response: httpx2.Response) -> dict[str, dict[str, str]]:
    """The challenges of a response by scheme (lowercase): one per `WWW-Authenticate` header,
    as mcp-auth sends them."""
    found = {}
    for header in response.headers.get_list("www-authenticate"):
        scheme = header.strip().partition(" ")[0].lower()
        found[scheme] = challenge_params(header, scheme)
    return found


async def discover(http: httpx2.AsyncClient, url: str) -> tuple[httpx2.Response, dict[str, Any], dict[str, Any]]:
    """Unauthenticated MCP request → 401 challenge → PRM → AS metadata."""
    init = initialize_body("mcp-auth-interop-probe")
    response = await http.post(url, json=init, headers={"Accept": ACCEPT})
    header = response.headers.get("www-authenticate", "")
    params = challenge_params(header) if header else {}
    prm_url = params.get("resource_metadata")
    if prm_url is None:
        raise CheckFailed(f"no resource_metadata in WWW-Authenticate: {header!r} (status {response.status_code})")
    prm_response = await http.get(prm_url)
    if prm_response.status_code != 200:
        raise CheckFailed(f"GET {prm_url} answered {prm_response.status_code}")
    prm = prm_response.json()
    servers = prm.get("authorization_servers") or []
    if not servers:
        raise CheckFailed(f"protected resource metadata has no authorization_servers: {prm}")
    issuer = servers[0]
    as_metadata = None
    base = issuer.rstrip("/")
    parsed = urlparse(issuer)
    path = parsed.path.rstrip("/")
    origin = f"{parsed.scheme}://{parsed.netloc}"
    for candidate in (
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{origin}/.well-known/openid-configuration{path}",
        f"{base}/.well-known/openid-configuration",
    ):
        r = await http.get(candidate)
        if r.status_code == 200:
            as_metadata = r.json()
            break
    if as_metadata is None:
        raise CheckFailed(f"no authorization server metadata found for issuer {issuer}")
    return response, prm, as_metadata


async def cmd_probe(args: argparse.Namespace) -> None:
    async with http_client(follow_redirects=False) as http:
        response, prm, as_metadata = await discover(http, args.url)
        header = response.headers.get("www-authenticate", "")
        print(f"  no token -> HTTP {response.status_code}, WWW-Authenticate: {header}")
        expect(response.status_code == 401, "request without a token gets 401", response.status_code)
        params = challenge_params(header)
        expect("resource_metadata" in params, "the 401 challenge carries resource_metadata")
        expect(
            "error" not in params,
            "no error code in the challenge to a request without credentials",
            params.get("error"),
        )
        print(f"  protected resource metadata: {json.dumps(prm)}")
        expect(prm.get("resource") == args.url, "PRM resource is exactly the MCP endpoint URL", prm.get("resource"))
        if args.issuer:
            expect(
                args.issuer in prm["authorization_servers"],
                f"PRM lists the issuer {args.issuer}",
                prm["authorization_servers"],
            )
        expect(
            as_metadata.get("issuer") == prm["authorization_servers"][0],
            "AS metadata issuer is byte-identical to the PRM entry",
            as_metadata.get("issuer"),
        )
        bad = await http.post(
            args.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": "Bearer not-a-valid-token", "Accept": ACCEPT},
        )
        bad_params = challenge_params(bad.headers.get("www-authenticate", "Bearer"))
        print(f"  bogus token -> HTTP {bad.status_code}, WWW-Authenticate: {bad.headers.get('www-authenticate')}")
        expect(bad.status_code == 401, "a bogus token gets 401", bad.status_code)
        expect(bad_params.get("error") == "invalid_token", "with error=invalid_token", bad_params.get("error"))
        expect("resource_metadata" in bad_params, "and resource_metadata")


def cmd_keepalive_sync(args: argparse.Namespace) -> None:
    """A rejected request must leave the HTTP/1.1 connection usable, or say `Connection: close`.

    Sends a request without a token the way HTTP clients often do (headers, then the body in a
    second write), reads the 401, then sends a second request on the same connection.
    """
    parsed = urlparse(args.url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    head = (
        f"POST {parsed.path or '/'} HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port), timeout=10) as sock:
        reader = sock.makefile("rb")
        sock.sendall(head)
        time.sleep(0.05)
        sock.sendall(body)
        status = reader.readline().decode().strip()
        headers: dict[str, str] = {}
        while (line := reader.readline().decode().strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        reader.read(int(headers.get("content-length", "0")))
        print(f"  body after headers, no token -> {status}; connection: {headers.get('connection', '(none)')}")
        expect(" 401 " in f"{status} ", "401", status)
        if "close" in headers.get("connection", "").lower():
            ok("the server says Connection: close")
            return
        try:
            sock.sendall(f"GET {parsed.path or '/'} HTTP/1.1\r\nHost: {parsed.netloc}\r\n\r\n".encode())
            again = reader.readline().decode().strip()
        except OSError as e:
            again = f"({type(e).__name__}: {e})"
        print(f"  second request on the same connection -> {again or '(connection closed, no answer)'}")
        expect(
            again.startswith("HTTP/1.1 "),
            "the connection stays usable after the 401, or the 401 says Connection: close",
            again or "connection closed without an answer",
        )


async def cmd_keepalive(args: argparse.Namespace) -> None:
    await asyncio.to_thread(cmd_keepalive_sync, args)


def jwt_claims(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and payload of a JWT (unverified: for showing what a server issues), or
    `None` for an opaque token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        return tuple(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in parts[:2])  # type: ignore[return-value]
    except ValueError:
        return None


def show_token(what: str, token: str) -> None:
    """Prints the header and payload of a JWT (never its signature), or that it is opaque."""
    claims = jwt_claims(token)
    if claims is None:
        print(f"  {what}: opaque ({len(token)} characters)")
        return
    print(f"  {what} header:  {json.dumps(claims[0])}")
    print(f"  {what} payload: {json.dumps(claims[1])}")


async def client_credentials_token(
    http: httpx2.AsyncClient,
    as_metadata: dict[str, Any],
    client: tuple[str, str],
    headers: dict[str, str] | None = None,
    **params: str,
) -> dict[str, Any]:
    """A `client_credentials` token response (`client_secret_basic`)."""
    data = {"grant_type": "client_credentials", **params}
    r = await http.post(as_metadata["token_endpoint"], data=data, auth=client, headers=headers or {})
    if r.status_code != 200:
        raise CheckFailed(f"token request {params} answered {r.status_code}: {r.text}")
    return r.json()


def initialize_body(name: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": name, "version": "0"},
        },
    }


async def cmd_tokens(args: argparse.Namespace) -> None:
    """Tokens the authorization server really issues, but not good for this server: the RS must
    refuse them (wrong `aud`, no `aud`, missing scope) and accept the right one."""
    body = initialize_body("mcp-auth-interop-tokens")
    client = (args.client_id, args.client_secret)
    async with http_client(follow_redirects=False) as http:
        _, prm, as_metadata = await discover(http, args.url)
        resource = prm["resource"]

        async def token(**params: str) -> str:
            return (await client_credentials_token(http, as_metadata, client, **params))["access_token"]

        async def call(access_token: str) -> httpx2.Response:
            return await http.post(
                args.url,
                json=body,
                headers={"Authorization": f"Bearer {access_token}", "Accept": ACCEPT},
            )

        cases = [
            (
                f"aud for another resource ({args.foreign_resource})",
                {"resource": args.foreign_resource, "scope": args.scope},
                401,
                "invalid_token",
            ),
            ("no aud (no resource parameter)", {"scope": args.scope}, 401, "invalid_token"),
            (
                f"right aud, scope {args.narrow_scope} (without {args.scope})",
                {"resource": resource, "scope": args.narrow_scope},
                403,
                "insufficient_scope",
            ),
        ]
        for what, params, status, error in cases:
            access_token = await token(**params)
            if args.show_claims:
                show_token(f"token with {what}", access_token)
            r = await call(access_token)
            header = r.headers.get("www-authenticate", "")
            print(f"  token with {what} -> HTTP {r.status_code}, WWW-Authenticate: {header}")
            got = challenge_params(header) if header else {}
            expect(
                r.status_code == status and got.get("error") == error,
                f"token with {what} is refused: {status} {error}",
                (r.status_code, got.get("error")),
            )
            if status == 403:
                expect(args.scope in got.get("scope", "").split(), f"the 403 challenge asks for {args.scope}", got)
        # The control case: the same client, the same request, the right resource and scope.
        access_token = await token(resource=resource, scope=args.scope)
        if args.show_claims:
            show_token("the right token", access_token)
        r = await call(access_token)
        print(f"  token with aud {resource} and scope {args.scope} -> HTTP {r.status_code}")
        expect(
            r.status_code == 200 and '"result"' in r.text, "the right token is accepted", (r.status_code, r.text[:200])
        )


async def cmd_algorithms(args: argparse.Namespace) -> None:
    """The authorization server's JWTs signed with each of its algorithms are accepted: one
    client per algorithm (the server signs by client), each token shown and used."""
    body = initialize_body("mcp-auth-interop-algorithms")
    async with http_client(follow_redirects=False) as http:
        _, prm, as_metadata = await discover(http, args.url)
        for client_id in args.client:
            response = await client_credentials_token(
                http, as_metadata, (client_id, args.client_secret), resource=prm["resource"], scope=args.scope
            )
            claims = jwt_claims(response["access_token"])
            expect(claims is not None, f"{client_id}: the token is a JWT")
            header = claims[0]
            r = await http.post(
                args.url,
                json=body,
                headers={"Authorization": f"Bearer {response['access_token']}", "Accept": ACCEPT},
            )
            print(f"  {client_id}: header {json.dumps(header)} -> HTTP {r.status_code}")
            expect(
                r.status_code == 200 and '"result"' in r.text,
                f"a token signed {header.get('alg')} (key {header.get('kid')}) is accepted",
                (r.status_code, r.headers.get("www-authenticate")),
            )


# ---------------------------------------------------------------------------------------------
# Raw MCP over HTTP (for what the SDK clients do not do: DPoP, watching one token be revoked)


def json_rpc_answer(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message of an answer: the body, or the first SSE `data:` line holding one."""
    try:
        return response.json()
    except ValueError:
        pass
    for line in response.text.splitlines():
        if line.startswith("data:"):
            try:
                message = json.loads(line[5:].strip())
            except ValueError:
                continue
            if isinstance(message, dict):
                return message
    raise CheckFailed(f"no JSON-RPC message in the answer: {response.text[:300]!r}")


class RawSession:
    """An MCP session over plain HTTP requests. `credentials(method)` gives the headers that
    authorize one request (a DPoP proof is good for one request only)."""

    def __init__(self, http: httpx2.AsyncClient, url: str, credentials: Any) -> None:
        self.http, self.url, self.credentials = http, url, credentials
        self.session_id: str | None = None
        self.next_id = 1

    async def post(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> httpx2.Response:
        """POSTs `message`, authorized by `headers` (default: fresh ones from `credentials`)."""
        all_headers = {"Accept": ACCEPT, **(headers if headers is not None else self.credentials("POST"))}
        if self.session_id is not None:
            all_headers["Mcp-Session-Id"] = self.session_id
            all_headers["Mcp-Protocol-Version"] = PROTOCOL_VERSION
        return await self.http.post(self.url, json=message, headers=all_headers)

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        return message

    async def open(self, client_name: str) -> None:
        """initialize (keeping the `Mcp-Session-Id`), then notifications/initialized."""
        r = await self.post(initialize_body(client_name))
        expect(r.status_code == 200, "initialize -> 200", (r.status_code, r.headers.get("www-authenticate")))
        self.session_id = r.headers.get("mcp-session-id")
        expect(self.session_id is not None, "the server opened a session (Mcp-Session-Id)")
        answer = json_rpc_answer(r)
        expect("result" in answer, "initialize has a result", answer)
        r = await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        expect(r.status_code == 202, "notifications/initialized -> 202", r.status_code)

    async def call(
        self, method: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[httpx2.Response, dict[str, Any] | None]:
        """One request; its JSON-RPC result when the server answered 200."""
        r = await self.post(self.request(method, params), headers)
        if r.status_code != 200:
            return r, None
        answer = json_rpc_answer(r)
        if "result" not in answer:
            raise CheckFailed(f"{method}: no result: {answer}")
        return r, answer["result"]


def whoami_of(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON that the quickstart's `whoami` tool answers."""
    if result.get("isError"):
        raise CheckFailed(f"whoami failed: {result}")
    return json.loads(result["content"][0]["text"])


async def cmd_revocation(args: argparse.Namespace) -> None:
    """The introspection example trusting the authorization server: an opaque token it issued
    for this resource works, is revoked at the revocation endpoint (RFC 7009), and is refused
    once the example's cached introspection answer has expired. Before that, the refusals
    that need no revocation: an opaque token naming no audience, and a JWT (which the
    authorization server will not introspect)."""
    client = (args.client_id, args.client_secret)
    async with http_client(follow_redirects=False) as http:
        _, prm, as_metadata = await discover(http, args.url)
        resource = prm["resource"]
        for endpoint in ("introspection_endpoint", "revocation_endpoint"):
            expect(endpoint in as_metadata, f"the authorization server advertises its {endpoint}")

        async def refused(what: str, token: str) -> None:
            r = await http.post(
                args.url,
                json=initialize_body("mcp-auth-interop-revocation"),
                headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT},
            )
            error = challenges(r).get("bearer", {}).get("error")
            print(f"  {what} -> HTTP {r.status_code}, WWW-Authenticate: {r.headers.get('www-authenticate')}")
            expect(
                r.status_code == 401 and error == "invalid_token",
                f"{what} is refused: 401 invalid_token",
                (r.status_code, error),
            )

        no_aud = await client_credentials_token(http, as_metadata, client, scope=args.scope)
        show_token("token without resource", no_aud["access_token"])
        await refused("an opaque token without aud (no resource parameter)", no_aud["access_token"])
        if args.jwt_resource:
            jwt = await client_credentials_token(
                http, as_metadata, client, resource=args.jwt_resource, scope=args.scope
            )
            expect(jwt_claims(jwt["access_token"]) is not None, f"a token for {args.jwt_resource} is a JWT")
            await refused(
                "a JWT (its introspection answers 400 unsupported_token_type)", jwt["access_token"]
            )

        response = await client_credentials_token(http, as_metadata, client, resource=resource, scope=args.scope)
        token = response["access_token"]
        show_token(f"token for {resource}", token)
        expect(jwt_claims(token) is None, "the token for this resource is opaque")
        session = RawSession(http, args.url, lambda _method: {"Authorization": f"Bearer {token}"})
        # The verifier's first answer about this token, cached from here on.
        first_introspection = time.monotonic()
        await session.open("mcp-auth-interop-revocation")
        whoami = {"name": "whoami", "arguments": {}}
        _, result = await session.call("tools/call", whoami)
        expect(result is not None, "whoami -> 200")
        me = whoami_of(result)
        print(f"  whoami -> {json.dumps(me)}")
        expect(me.get("client_id") == args.client_id, f"whoami client_id is {args.client_id}", me)
        expect(args.scope in (me.get("scopes") or []), f"whoami scopes include {args.scope}", me)

        r = await http.post(
            as_metadata["revocation_endpoint"], data={"token": token, "token_type_hint": "access_token"}, auth=client
        )
        expect(r.status_code == 200, "revoked at the revocation endpoint: 200", (r.status_code, r.text))
        revoked = time.monotonic()
        accepted = 0
        while True:
            r, result = await session.call("tools/call", whoami)
            if r.status_code == 401:
                break
            if r.status_code != 200:
                raise CheckFailed(f"the revoked token got HTTP {r.status_code} before a 401")
            accepted += 1
            if time.monotonic() - revoked > args.deadline:
                raise CheckFailed(f"the revoked token is still accepted {args.deadline:g} s after its revocation")
            await asyncio.sleep(args.interval)
        refused = time.monotonic()
        error = challenges(r).get("bearer", {}).get("error")
        print(
            f"  revoked token: accepted {accepted} more time(s) (the cached answer), then "
            f"HTTP {r.status_code}, WWW-Authenticate: {r.headers.get('www-authenticate')}"
        )
        cached = refused - first_introspection
        print(
            f"  measured: refused {refused - revoked:.1f} s after the revocation, {cached:.1f} s after the answer "
            f"was cached (polling every {args.interval:g} s; the example caches answers at most {args.cache_ttl:g} s)"
        )
        expect(error == "invalid_token", "the revoked token is refused: 401 invalid_token", error)
        expect(
            cached <= args.cache_ttl + args.interval + 1,
            f"within the verifier's cache TTL ({args.cache_ttl:g} s, give or take one poll)",
            f"{cached:.1f} s",
        )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class DpopKey:
    """A DPoP key pair (P-256, ES256) and the proofs it signs (RFC 9449 §4.2)."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        numbers = self._key.public_key().public_numbers()
        self.jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
        # RFC 7638: the required members in lexicographic order, no whitespace.
        canonical = json.dumps({k: self.jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
        self.thumbprint = b64url(hashlib.sha256(canonical.encode()).digest())

    def proof(self, htm: str, htu: str, access_token: str | None = None) -> str:
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}
        payload: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": htm, "htu": htu, "iat": int(time.time())}
        if access_token is not None:
            payload["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


async def cmd_dpop(args: argparse.Namespace) -> None:
    """DPoP end to end (RFC 9449): a token bound to this client's key by the authorization
    server, used on an MCP session with a fresh proof per request; a replayed proof and the
    same token sent as Bearer are refused, and the session still works after both."""
    key = DpopKey()
    client = (args.client_id, args.client_secret)
    async with http_client(follow_redirects=False) as http:
        _, prm, as_metadata = await discover(http, args.url)
        algs = as_metadata.get("dpop_signing_alg_values_supported") or []
        expect("ES256" in algs, "the authorization server takes ES256 DPoP proofs", algs)
        endpoint = as_metadata["token_endpoint"]
        response = await client_credentials_token(
            http,
            as_metadata,
            client,
            headers={"DPoP": key.proof("POST", endpoint)},
            resource=prm["resource"],
            scope=args.scope,
        )
        token = response["access_token"]
        show_token("DPoP-bound token", token)
        expect(str(response.get("token_type")).lower() == "dpop", "token_type is DPoP", response.get("token_type"))
        claims = jwt_claims(token)
        expect(claims is not None, "the token is a JWT")
        jkt = (claims[1].get("cnf") or {}).get("jkt")
        expect(jkt == key.thumbprint, "cnf.jkt is the thumbprint of the proof key (RFC 7638)", jkt)

        proofs: list[str] = []

        def dpop(method: str) -> dict[str, str]:
            proofs.append(key.proof(method, args.url, token))
            return {"Authorization": f"DPoP {token}", "DPoP": proofs[-1]}

        session = RawSession(http, args.url, dpop)
        await session.open("mcp-auth-interop-dpop")
        r, result = await session.call("tools/list")
        expect(
            result is not None, "tools/list with a fresh proof -> 200", (r.status_code, r.headers.get("www-authenticate"))
        )
        replayed = proofs[-1]
        names = sorted(tool["name"] for tool in result["tools"])
        print(f"  tools: {names}")
        expect("whoami" in names, "tools/list includes whoami", names)
        r, result = await session.call("tools/call", {"name": "whoami", "arguments": {}})
        expect(
            result is not None, "whoami with a fresh proof -> 200", (r.status_code, r.headers.get("www-authenticate"))
        )
        me = whoami_of(result)
        print(f"  whoami -> {json.dumps(me)}")
        expect(me.get("client_id") == args.client_id, f"whoami client_id is {args.client_id}", me)
        expect(args.scope in (me.get("scopes") or []), f"whoami scopes include {args.scope}", me)
        print(f"  {len(proofs)} requests so far, each with its own proof (htm POST, htu {args.url}, iat, jti, ath)")

        r, _ = await session.call("tools/list", headers={"Authorization": f"DPoP {token}", "DPoP": replayed})
        found = challenges(r)
        print(f"  the tools/list proof again -> HTTP {r.status_code}, WWW-Authenticate: {r.headers.get_list('www-authenticate')}")
        expect(
            r.status_code == 401 and found.get("dpop", {}).get("error") == "invalid_dpop_proof",
            "a replayed proof is refused: 401, DPoP error=invalid_dpop_proof",
            (r.status_code, found),
        )
        r, _ = await session.call("tools/list", headers={"Authorization": f"Bearer {token}"})
        found = challenges(r)
        print(f"  the token as Bearer -> HTTP {r.status_code}, WWW-Authenticate: {r.headers.get_list('www-authenticate')}")
        expect(
            r.status_code == 401 and found.get("bearer", {}).get("error") == "invalid_token",
            "the DPoP-bound token sent as Bearer is refused: 401 invalid_token",
            (r.status_code, found),
        )
        r, result = await session.call("tools/list")
        expect(result is not None, "with a fresh proof the session works again -> 200", r.status_code)


# ---------------------------------------------------------------------------------------------
# MCP session: initialize, list tools, call whoami


def tool_text(result: Any) -> str:
    parts = []
    for item in getattr(result, "content", None) or []:
        text = getattr(item, "text", None)
        if text is not None:
            parts.append(text)
    structured = getattr(result, "structured_content", None) or getattr(result, "structuredContent", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured))
    return "\n".join(parts)


def failed(result: Any) -> bool:
    return bool(getattr(result, "is_error", False))


def find_field(data: Any, names: tuple[str, ...]) -> Any:
    if isinstance(data, dict):
        for name in names:
            if name in data:
                return data[name]
        for value in data.values():
            found = find_field(value, names)
            if found is not None:
                return found
    return None


async def run_session(url: str, http: httpx2.AsyncClient, args: argparse.Namespace) -> None:
    async with Client(streamable_http_client(url, http_client=http), mode=args.mode) as client:
        session = client.session
        print(f"  connected: protocol {session.protocol_version}, server {client.server_info}")
        how = "initialize handshake" if args.mode == "legacy" else f"mode {args.mode}: server/discover, else initialize"
        ok(f"MCP session established through the OAuth flow ({how})")
        tools = await client.list_tools()
        names = sorted(t.name for t in tools.tools)
        print(f"  tools: {names}")
        expect({"whoami"} <= set(names), "tools/list includes whoami", names)
        result = await client.call_tool("whoami", {})
        text = tool_text(result)
        print(f"  whoami -> {text}")
        expect(not failed(result), "whoami succeeded", text)
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = None
        if args.expect_subject:
            subject = find_field(data, ("subject", "sub")) if data is not None else None
            if subject is not None:
                expect(subject == args.expect_subject, f"whoami subject is {args.expect_subject}", subject)
            else:
                expect(args.expect_subject in text, f"whoami mentions subject {args.expect_subject}", text)
        for scope in args.expect_scope or []:
            scopes = find_field(data, ("scopes", "scope")) if data is not None else None
            if isinstance(scopes, str):
                scopes = scopes.split()
            if scopes is not None:
                expect(scope in scopes, f"whoami scopes include {scope}", scopes)
            else:
                expect(scope in text, f"whoami mentions scope {scope}", text)
        if args.call_list_notes:
            notes = await client.call_tool("list_notes", {})
            print(f"  list_notes -> {tool_text(notes)}")
            expect(not failed(notes), "list_notes succeeded", tool_text(notes))


# ---------------------------------------------------------------------------------------------
# client_credentials


async def register_client(
    http: httpx2.AsyncClient, as_metadata: dict[str, Any], body: dict[str, Any]
) -> dict[str, Any]:
    endpoint = as_metadata.get("registration_endpoint")
    if not endpoint:
        raise CheckFailed("the authorization server offers no registration_endpoint; pass --client-id/--client-secret")
    r = await http.post(endpoint, json=body)
    if r.status_code not in (200, 201):
        raise CheckFailed(f"registration at {endpoint} answered {r.status_code}: {r.text}")
    return r.json()


async def cmd_client_credentials(args: argparse.Namespace) -> None:
    client_id, client_secret, issuer = args.client_id, args.client_secret, args.issuer
    if client_id is None or issuer is None:
        async with http_client(follow_redirects=False) as http:
            _, _, as_metadata = await discover(http, args.url)
            issuer = issuer or as_metadata["issuer"]
            if client_id is None:
                reg = await register_client(
                    http,
                    as_metadata,
                    {
                        "client_name": "mcp-auth interop (python mcp, client_credentials)",
                        "grant_types": ["client_credentials"],
                        "token_endpoint_auth_method": args.auth_method,
                    },
                )
                client_id, client_secret = reg["client_id"], reg.get("client_secret")
                print(f"  registered client_credentials client {client_id} at {as_metadata['registration_endpoint']}")
                if not client_secret:
                    raise CheckFailed(f"registration returned no client_secret: {reg}")
    print(f"  issuer {issuer}, client {client_id}, auth method {args.auth_method}, scope {args.scope}")
    provider = ClientCredentialsOAuthProvider(
        server_url=args.url,
        storage=MemoryStorage(),
        client_id=client_id,
        client_secret=client_secret,
        token_endpoint_auth_method=args.auth_method,
        scope=args.scope,
        issuer=issuer,
    )
    if args.expect_subject == "@client_id":
        args.expect_subject = client_id
    async with http_client(auth=provider) as http:
        await run_session(args.url, http, args)


# ---------------------------------------------------------------------------------------------
# authorization_code + PKCE, headless


class HeadlessBrowser:
    """Plays the user agent: follows the authorization server's redirects (keeping its cookies,
    as a browser does, through any headless login and consent pages) up to the redirect to
    `REDIRECT_URI`, which it reads instead of following, and hands the parameters of that
    `Location` back to the SDK, as the redirect URI's listener would."""

    MAX_HOPS = 10

    def __init__(self) -> None:
        self.result: AuthorizationCodeResult | None = None
        self.authorization_urls: list[str] = []

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        query = parse_qs(urlparse(authorization_url).query)
        print(
            f"  authorize: scope={query.get('scope')} resource={query.get('resource')} "
            f"code_challenge_method={query.get('code_challenge_method')}"
        )
        # A separate client without the OAuth auth: reusing the auth-wrapped one deadlocks.
        url, hops = authorization_url, 0
        async with http_client(follow_redirects=False) as browser:
            while True:
                r = await browser.get(url)
                location = r.headers.get("location")
                if r.status_code not in (301, 302, 303, 307) or not location:
                    raise CheckFailed(
                        f"{url.split('?')[0]} answered {r.status_code} without a redirect: {r.text[:300]}"
                    )
                url = urljoin(url, location)
                if url.startswith(REDIRECT_URI):
                    break
                hops += 1
                if hops >= self.MAX_HOPS:
                    raise CheckFailed(f"more than {self.MAX_HOPS} redirects before the client's redirect URI")
        if hops:
            print(f"  the authorization server redirected {hops} times before the client's redirect URI")
        params = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        if "error" in params:
            raise CheckFailed(f"authorization endpoint redirected with an error: {params}")
        if "code" not in params:
            raise CheckFailed(f"no code in the redirect: {url}")
        self.result = AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    async def callback_handler(self) -> AuthorizationCodeResult:
        if self.result is None:
            raise CheckFailed("callback without a redirect")
        result, self.result = self.result, None
        return result


async def cmd_auth_code(args: argparse.Namespace) -> None:
    metadata = OAuthClientMetadata(
        client_name="mcp-auth interop (python mcp, authorization_code)",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="client_secret_post" if args.client_secret else "none",
        scope=args.scope,
    )
    client_info = None
    if args.client_id:
        client_info = OAuthClientInformationFull(
            client_id=args.client_id,
            client_secret=args.client_secret,
            **metadata.model_dump(exclude_none=True),
        )
    storage = MemoryStorage(client_info)
    browser = HeadlessBrowser()
    provider = OAuthClientProvider(
        server_url=args.url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=browser.redirect_handler,
        callback_handler=browser.callback_handler,
    )
    async with http_client(auth=provider) as http:
        await run_session(args.url, http, args)
        if args.client_id is None:
            expect(storage.client_info is not None, "the SDK registered itself (RFC 7591)")
            print(f"  registered client {storage.client_info.client_id}")
        expect(len(browser.authorization_urls) >= 1, "went through /authorize (PKCE S256)")
        expect(storage.tokens is not None, "holds an access token from the code exchange")
        print(f"  token scope: {storage.tokens.scope}")
        if args.step_up_tool:
            async with Client(streamable_http_client(args.url, http_client=http), mode=args.mode) as client:
                before = len(browser.authorization_urls)
                result = await client.call_tool(args.step_up_tool, json.loads(args.step_up_args))
                text = tool_text(result)
                print(f"  {args.step_up_tool} -> {text}")
                expect(
                    len(browser.authorization_urls) == before + 1,
                    f"{args.step_up_tool} needed a 403 insufficient_scope step-up (re-authorized once)",
                    len(browser.authorization_urls) - before,
                )
                expect(not failed(result), f"{args.step_up_tool} succeeded after the step-up", text)
                print(f"  token scope after step-up: {storage.tokens.scope}")


# ---------------------------------------------------------------------------------------------
# Event streams that the server ends when their token expires (issue 10.11). The server is
# tests/stream_expiry.rs `serve_for_interop`: rmcp behind McpAuth with
# `stream_expiry(StreamExpiry::All)`, which also serves `GET /test/expiring-token` (a token
# accepted for a few more seconds) and `GET /test/log` (every /mcp request it saw: method,
# token, status, and when an event stream ended).


def show_request(entry: dict[str, Any]) -> str:
    end = ""
    if entry["ended"] is not None:
        end = f", ended at {entry['ended'] / 1000:.1f}s"
    elif entry["dropped"] is not None:
        end = f", dropped by the client at {entry['dropped'] / 1000:.1f}s"
    elif entry["event_stream"]:
        end = ", still open"
    return (
        f"{entry['method']} token={entry['token']}{' Last-Event-ID' if entry['resume'] else ''}"
        f" -> {entry['status']}{' text/event-stream' if entry['event_stream'] else ''}"
        f" at {entry['opened'] / 1000:.1f}s{end}"
    )


class ServerLog:
    """The requests of one MCP session, as the server recorded them: the session first seen
    with the expiring token number `number`."""

    def __init__(self, http: httpx2.AsyncClient, base: str, number: int) -> None:
        self.http, self.base, self.number = http, base, number
        self.session: str | None = None

    async def entries(self) -> list[dict[str, Any]]:
        log = (await self.http.get(f"{self.base}/test/log")).json()
        if self.session is None:
            self.session = next((e["session"] for e in log if e["minted"] == self.number and e["session"]), None)
        return [e for e in log if self.session is not None and e["session"] == self.session]

    async def gets(self) -> list[dict[str, Any]]:
        return [e for e in await self.entries() if e["method"] == "GET"]

    async def wait_gets(self, what: str, seconds: float, done: Any) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while True:
            gets = await self.gets()
            if done(gets):
                return gets
            if time.monotonic() > deadline:
                await self.show()
                raise CheckFailed(f"waited {seconds:.0f}s for {what}")
            await asyncio.sleep(0.2)

    async def show(self) -> None:
        for entry in await self.entries():
            print(f"  server saw: {show_request(entry)}")


async def slow_call_outliving_its_token(client: Client, log: ServerLog, left: int) -> None:
    """A tool call still running when the token expires: its response stream (a POST answered
    with text/event-stream, which began with a priming event carrying an id) ends first."""
    seconds = left + 4
    outcome: str
    try:
        result = await asyncio.wait_for(client.call_tool("slow", {"seconds": seconds}), seconds + 20)
        outcome = f"answered: {tool_text(result)}"
    except asyncio.TimeoutError:
        outcome = "no answer within 20 s of the tool's end"
    except Exception as e:  # noqa: BLE001 - what the SDK raises is the finding
        outcome = f"raised {type(e).__name__}: {e}"
    await log.show()
    print(f"  slow({seconds}) {outcome}")
    entries = await log.entries()
    cut = [e for e in entries if e["method"] == "POST" and e["event_stream"] and e["ended"] is not None
           and e["ended"] - e["opened"] >= (left - 2) * 1000]
    expect(len(cut) == 1 and cut[0]["token"] == "expiring", "the server ended the tool call's response stream at the token's expiry")
    resumed = [e for e in entries if e["method"] == "GET" and e["resume"] and e["token"] == "fresh" and e["status"] == 200]
    expect(bool(resumed), "the SDK resumed it (GET with Last-Event-ID) with a new token")
    expect(outcome == f"answered: slept {seconds} s", "the tool call's result arrived on the resumed stream", outcome)


async def cmd_stream_expiry(args: argparse.Namespace) -> None:
    import logging

    # The SDK says when it reconnects (INFO); its DEBUG tracebacks stay out.
    logging.basicConfig(level=logging.WARNING, format="  sdk log: %(name)s %(levelname)s %(message)s")
    logging.getLogger("mcp.client.streamable_http").setLevel(logging.INFO)

    base = args.url.rsplit("/mcp", 1)[0]
    async with http_client() as plain:
        minted = (await plain.get(f"{base}/test/expiring-token")).json()
        token, left = minted["access_token"], minted["left"]
        log = ServerLog(plain, base, minted["number"])
        print(f"  the client's token is accepted for {left}s more (exp + the verifier's leeway)")
        if args.auth == "oauth":
            # What an app with stored credentials runs: the SDK's OAuth provider holding the
            # token (no expires_in, so the server's 401 is what says it expired), able to get
            # another through client_credentials.
            storage = MemoryStorage()
            storage.tokens = OAuthToken(access_token=token, token_type="Bearer")
            provider = ClientCredentialsOAuthProvider(
                server_url=args.url,
                storage=storage,
                client_id=args.client_id,
                client_secret=args.client_secret,
                scope="mcp:read",
                issuer=args.issuer,
            )
            http = http_client(auth=provider)
        else:
            http = http_client(headers={"Authorization": f"Bearer {token}"})

        list_changed: list[float] = []

        async def on_message(message: Any) -> None:
            root = getattr(message, "root", message)
            if getattr(root, "method", None) == "notifications/tools/list_changed":
                list_changed.append(time.monotonic())

        started = time.monotonic()
        async with http:
            client = Client(streamable_http_client(args.url, http_client=http), mode="legacy", message_handler=on_message)
            async with client:
                me = json.loads(tool_text(await client.call_tool("whoami", {})))
                expect(bool(me.get("subject")), "a session on 2025-11-25 (initialize, GET stream); whoami works", me)
                if args.check == "call":
                    await slow_call_outliving_its_token(client, log, left)
                    return
                gets = await log.wait_gets("the GET stream", 10, lambda gets: len(gets) >= 1)
                expect(gets[0]["token"] == "expiring" and gets[0]["status"] == 200, "the SDK opened the GET stream with the token", gets[0])
                gets = await log.wait_gets(
                    "the server to end the GET stream", left + 10, lambda gets: gets[0]["ended"] is not None
                )
                ended = gets[0]["ended"] - gets[0]["opened"]
                expect(ended >= (left - 2) * 1000, f"the server ended the GET stream at the token's expiry ({ended / 1000:.1f}s after it opened)")

                if args.auth == "oauth":
                    gets = await log.wait_gets(
                        "a GET with a new token answered 200",
                        20,
                        lambda gets: any(g["token"] == "fresh" and g["status"] == 200 for g in gets),
                    )
                    await log.show()
                    reopened = next(g for g in gets if g["token"] == "fresh" and g["status"] == 200)
                    expect(True, f"the SDK re-opened the GET stream with a new token ({(reopened['opened'] - gets[0]['ended']) / 1000:.1f}s after it ended)")
                    refused = [g for g in gets if g["status"] == 401]
                    expect(len(refused) <= 1, "at most one GET refused (401) before the SDK got a new token", len(refused))
                    before = len(list_changed)
                    expect(tool_text(await client.call_tool("notify", {})) == "sent", "notify: the server sent tools/list_changed")
                    deadline = time.monotonic() + 5
                    while len(list_changed) == before and time.monotonic() < deadline:
                        await asyncio.sleep(0.1)
                    expect(len(list_changed) > before, "the notification arrived on the re-opened GET stream")
                    me = json.loads(tool_text(await asyncio.wait_for(client.call_tool("whoami", {}), 15)))
                    expect(me.get("expires_at", 0) > time.time(), "whoami after the stream ended: works, with the new token", me)
                    expect(len({e["session"] for e in await log.entries()}) == 1, "one session throughout")
                    return

                # Static token: nothing can replace it once it expires.
                gets = await log.wait_gets(
                    "a refused GET (401)", 20, lambda gets: any(g["status"] == 401 for g in gets)
                )
                await asyncio.sleep(8)  # more attempts would come at the server's retry interval (3 s)
                await log.show()
                gets = await log.gets()
                refused = [g for g in gets if g["status"] == 401]
                expect(
                    1 <= len(refused) <= 2 and len(gets) == 1 + len(refused),
                    f"the SDK tried to re-open the GET stream {len(refused)} time(s), was refused (401), and stopped",
                    [show_request(g) for g in gets],
                )
                outcome: str
                try:
                    result = await asyncio.wait_for(client.call_tool("whoami", {}), 15)
                    outcome = f"answered: {tool_text(result)}"
                except asyncio.TimeoutError:
                    raise CheckFailed("a tool call after the stream ended hung (15 s)") from None
                except Exception as e:  # noqa: BLE001 - what the SDK raises is the finding
                    outcome = f"raised {type(e).__name__}: {e}"
                print(f"  whoami with the expired token {outcome}")
                expect(not outcome.startswith("answered"), "a tool call with the expired token fails promptly (no hang)")
        print(f"  done after {time.monotonic() - started:.1f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", required=True, help="the MCP endpoint, e.g. http://127.0.0.1:3000/mcp")
        p.add_argument("--issuer", help="the authorization server's issuer identifier")
        p.add_argument("--mode", default="auto", help="Client mode: auto (default) or legacy")
        p.add_argument("--scope", help="scope to request (default: what the server challenges for)")
        p.add_argument("--expect-subject", help="subject whoami must report (@client_id: the client id)")
        p.add_argument("--expect-scope", action="append", help="a scope whoami must report (repeatable)")
        p.add_argument("--call-list-notes", action="store_true", help="also call list_notes")

    p = sub.add_parser("probe", help="raw HTTP: 401 challenge and metadata")
    p.add_argument("--url", required=True)
    p.add_argument("--issuer")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("keepalive", help="raw HTTP/1.1: a 401 leaves the connection usable or says close")
    p.add_argument("--url", required=True)
    p.set_defaults(func=cmd_keepalive)

    p = sub.add_parser("tokens", help="raw HTTP: AS-issued tokens with the wrong aud, no aud, missing scope")
    p.add_argument("--url", required=True)
    p.add_argument("--scope", default="mcp:read", help="the scope the server requires")
    p.add_argument("--client-id", default="interop-raw", help="a client_credentials client")
    p.add_argument("--client-secret", default="interop-secret")
    p.add_argument("--foreign-resource", default="http://127.0.0.1:9/other", help="another resource the AS knows")
    p.add_argument("--narrow-scope", default="profile", help="a scope the client may get, without --scope")
    p.add_argument("--show-claims", action="store_true", help="print each JWT's header and payload")
    p.set_defaults(func=cmd_tokens)

    p = sub.add_parser("algorithms", help="raw HTTP: the AS's JWTs signed with each algorithm are accepted")
    p.add_argument("--url", required=True)
    p.add_argument("--scope", default="mcp:read")
    p.add_argument("--client", action="append", required=True, help="a client the AS signs for (repeatable)")
    p.add_argument("--client-secret", required=True, help="their secret")
    p.set_defaults(func=cmd_algorithms)

    p = sub.add_parser("revocation", help="raw HTTP: an introspected opaque token, revoked, refused in time")
    p.add_argument("--url", required=True)
    p.add_argument("--scope", default="mcp:read")
    p.add_argument("--client-id", required=True, help="a client_credentials client")
    p.add_argument("--client-secret", required=True)
    p.add_argument("--jwt-resource", help="a resource the AS issues JWTs for: such a token must be refused too")
    p.add_argument("--cache-ttl", type=float, default=60.0, help="the verifier's longest cache TTL, seconds")
    p.add_argument("--deadline", type=float, default=90.0, help="give up after this many seconds")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between two tries")
    p.set_defaults(func=cmd_revocation)

    p = sub.add_parser("dpop", help="raw HTTP: a DPoP-bound token and a proof per request")
    p.add_argument("--url", required=True)
    p.add_argument("--scope", default="mcp:read")
    p.add_argument("--client-id", required=True, help="a client_credentials client")
    p.add_argument("--client-secret", required=True)
    p.set_defaults(func=cmd_dpop)

    p = sub.add_parser("client-credentials", help="client_credentials grant")
    common(p)
    p.add_argument("--client-id")
    p.add_argument("--client-secret")
    p.add_argument(
        "--auth-method", default="client_secret_basic", choices=["client_secret_basic", "client_secret_post"]
    )
    p.set_defaults(func=cmd_client_credentials)

    p = sub.add_parser("auth-code", help="authorization_code + PKCE through an auto-approving /authorize")
    common(p)
    p.add_argument("--client-id", help="a pre-registered client (default: dynamic registration)")
    p.add_argument("--client-secret")
    p.add_argument("--step-up-tool", help="then call this tool, which needs a wider scope (403 step-up)")
    p.add_argument("--step-up-args", default="{}", help="its JSON arguments")
    p.set_defaults(func=cmd_auth_code)

    p = sub.add_parser("stream-expiry", help="the GET event stream ended at token expiry: reconnect or not")
    p.add_argument("--url", required=True, help="tests/stream_expiry.rs serve_for_interop's URL")
    p.add_argument("--auth", choices=["oauth", "static"], required=True,
                   help="oauth: the SDK's client_credentials provider, which can get a new token; static: a fixed header")
    p.add_argument("--check", choices=["get", "call"], default="get",
                   help="get: the session's GET stream; call: a tool call outliving the token")
    p.add_argument("--issuer")
    p.add_argument("--client-id")
    p.add_argument("--client-secret")
    p.set_defaults(func=cmd_stream_expiry)

    args = parser.parse_args()
    try:
        asyncio.run(args.func(args))
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - any SDK error fails the check, loudly
        leaves = list(leaf_exceptions(e))
        failed = [leaf for leaf in leaves if isinstance(leaf, CheckFailed)]
        if failed:
            for leaf in failed:
                print(f"FAILED: {leaf}", file=sys.stderr)
            return 1
        import traceback

        traceback.print_exception(e)
        for leaf in leaves:
            print(f"FAILED: {type(leaf).__name__}: {leaf}", file=sys.stderr)
        return 1
    return 0


def leaf_exceptions(e: BaseException):
    """The exceptions inside (nested) exception groups, or `e` itself."""
    if isinstance(e, BaseExceptionGroup):
        for inner in e.exceptions:
            yield from leaf_exceptions(inner)
    else:
        yield e


if __name__ == "__main__":
    sys.exit(main())
