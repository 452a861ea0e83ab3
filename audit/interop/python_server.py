"""An MCP server from the official Python SDK (PyPI `mcp`, pinned in requirements.txt) as an
OAuth resource server, for `mcp-auth-audit`'s interop run (run.sh).

Written the way the SDK documents it: `MCPServer` with `AuthSettings` (resource server only:
`issuer_url`, `resource_server_url`, `required_scopes`) and a `TokenVerifier` of our own, a
plain PyJWT verifier of RFC 9068 JWT access tokens against the issuer's JWKS (`PyJWKClient`
with its defaults), checking signature, algorithm, issuer, audience, expiry and not-before.

Tools:
- `whoami`: the caller's subject and scopes;
- `add_note`: needs `notes:write` on top of `mcp:read`. The SDK has no per-tool scope rule,
  so the tool checks the scope itself and raises `ToolError` (a deliberate tool error);
- `echo_headers`: the HTTP request headers the tool can see (`Context.headers`).

    python python_server.py --port 8080 --issuer http://127.0.0.1:9797
"""

import argparse
import json
import logging
import warnings

import anyio
import jwt
import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

ALGORITHMS = ["RS256", "ES256", "EdDSA"]


class JwtVerifier(TokenVerifier):
    """RFC 9068 JWT access tokens, checked with PyJWT against the issuer's JWKS."""

    def __init__(self, issuer: str, jwks_uri: str, audience: str):
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwt.PyJWKClient(jwks_uri)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            key = await anyio.to_thread.run_sync(self.jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except Exception as err:  # noqa: BLE001 - any failure means "not a valid token"
            logging.getLogger("verifier").info("token refused: %s", err)
            return None
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims.get("azp") or "unknown"),
            scopes=str(claims.get("scope", "")).split(),
            expires_at=int(claims["exp"]),
            resource=self.audience,
            subject=claims.get("sub"),
            claims=claims,
        )


def build(url: str, issuer: str, jwks_uri: str) -> MCPServer:
    server = MCPServer(
        name="python-sdk-interop",
        token_verifier=JwtVerifier(issuer, jwks_uri, url),
        auth=AuthSettings(
            issuer_url=issuer,
            resource_server_url=url,
            required_scopes=["mcp:read"],
            # The verifier checks `aud` itself.
            validate_token_resource=False,
        ),
    )

    @server.tool()
    async def whoami() -> str:
        """Who is calling: the access token's subject and scopes."""
        token = get_access_token()
        return json.dumps({"subject": token.subject, "scopes": token.scopes} if token else None)

    @server.tool()
    async def add_note(text: str) -> str:
        """Add a note (needs the notes:write scope)."""
        token = get_access_token()
        if token is None or "notes:write" not in token.scopes:
            raise ToolError("notes:write is required")
        return f"note added: {text}"

    @server.tool()
    async def echo_headers(ctx: Context) -> str:
        """The HTTP request headers this tool can see."""
        return json.dumps(dict(ctx.headers or {}))

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--issuer", required=True, help="the issuer to trust (exactly its `iss`)")
    parser.add_argument("--jwks-uri", help="default: <issuer>/jwks")
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}/mcp"
    warnings.simplefilter("ignore")
    # Why each token was refused, for run.sh to show.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("verifier").setLevel(logging.INFO)
    server = build(url, args.issuer, args.jwks_uri or f"{args.issuer}/jwks")
    app = server.streamable_http_app(host="127.0.0.1")
    print(f"python-sdk-interop: {url} trusting {args.issuer}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
