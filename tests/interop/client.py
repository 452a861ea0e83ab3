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

Without `--client-id`, `client-credentials` registers a confidential client itself through the
authorization server's RFC 7591 endpoint (found by discovery), and `auth-code` lets the SDK
register one (the SDK's own dynamic client registration).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx2
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


def challenge_params(header: str) -> dict[str, str]:
    """The auth-params of a `Bearer` challenge (quoted or token values)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise CheckFailed(f"WWW-Authenticate scheme is not Bearer: {header!r}")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " ,":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        name = rest[i:eq].strip().lower()
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


async def discover(http: httpx2.AsyncClient, url: str) -> tuple[httpx2.Response, dict[str, Any], dict[str, Any]]:
    """Unauthenticated MCP request → 401 challenge → PRM → AS metadata."""
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "mcp-auth-interop-probe", "version": "0"},
        },
    }
    response = await http.post(url, json=init, headers={"Accept": "application/json, text/event-stream"})
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
            headers={"Authorization": "Bearer not-a-valid-token", "Accept": "application/json, text/event-stream"},
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


async def cmd_tokens(args: argparse.Namespace) -> None:
    """Tokens the authorization server really issues, but not good for this server: the RS must
    refuse them (wrong `aud`, no `aud`, missing scope) and accept the right one."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "mcp-auth-interop-tokens", "version": "0"},
        },
    }
    async with http_client(follow_redirects=False) as http:
        _, prm, as_metadata = await discover(http, args.url)
        resource = prm["resource"]

        async def token(**params: str) -> str:
            data = {"grant_type": "client_credentials", **params}
            r = await http.post(as_metadata["token_endpoint"], data=data, auth=("interop-raw", "interop-secret"))
            if r.status_code != 200:
                raise CheckFailed(f"token request {params} answered {r.status_code}: {r.text}")
            return r.json()["access_token"]

        async def call(access_token: str) -> httpx2.Response:
            return await http.post(
                args.url,
                json=body,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json, text/event-stream"},
            )

        cases = [
            (
                "aud for another resource",
                {"resource": "http://127.0.0.1:9/other", "scope": args.scope},
                401,
                "invalid_token",
            ),
            ("no aud (no resource parameter)", {"scope": args.scope}, 401, "invalid_token"),
            (
                "right aud, scope without " + args.scope,
                {"resource": resource, "scope": "profile"},
                403,
                "insufficient_scope",
            ),
        ]
        for what, params, status, error in cases:
            r = await call(await token(**params))
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
        r = await call(await token(resource=resource, scope=args.scope))
        print(f"  token with aud {resource} and scope {args.scope} -> HTTP {r.status_code}")
        expect(
            r.status_code == 200 and '"result"' in r.text, "the right token is accepted", (r.status_code, r.text[:200])
        )


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
    """Plays the user agent: GETs the authorization URL without following the redirect and hands
    the parameters of the `Location` back to the SDK, as the redirect URI's listener would."""

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
        async with http_client(follow_redirects=False) as browser:
            r = await browser.get(authorization_url)
        location = r.headers.get("location")
        if r.status_code not in (301, 302, 303, 307) or not location:
            raise CheckFailed(f"authorization endpoint answered {r.status_code} without a redirect: {r.text[:300]}")
        params = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
        if "error" in params:
            raise CheckFailed(f"authorization endpoint redirected with an error: {params}")
        if "code" not in params:
            raise CheckFailed(f"no code in the redirect: {location}")
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
    p.set_defaults(func=cmd_tokens)

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
