// An independent authorization server for the interop test: npm `oauth2-mock-server`, on
// loopback, with the few hooks an MCP deployment needs (see shared/SPEC.md §3.1):
//
// - `aud` <- the RFC 8707 `resource` parameter (the mock only knows a non-standard `aud` param);
// - `token_endpoint_auth_methods_supported` lists client_secret_basic/post (it says only "none");
// - for authorization_code, the token gets the scope asked for at /authorize (the mock uses the
//   token request's `scope`, default "dummy"), remembered per code;
// - client_credentials tokens get `sub` = `client_id` = the client (RFC 9068 §2.2; the mock sets none);
// - the issuer is `http://localhost:<port>` (the mock's own default for a loopback bind), printed.
//
// Everything else is the mock's own behaviour: OIDC discovery only (no RFC 8414 document), RS256
// JWTs with `typ: JWT` (not `at+jwt`), no client authentication checks, no DCR.
//
// Usage: node mock_as.mjs <port>   (binds 127.0.0.1:<port>; prints `ISSUER=<url>` when ready)

import { OAuth2Server } from 'oauth2-mock-server';

const port = Number.parseInt(process.argv[2] ?? '0', 10);
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

/** code -> { scope, resource } from the /authorize request. */
const codes = new Map();

function clientIdOf(req) {
  const auth = req.headers.authorization ?? '';
  if (auth.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    return decodeURIComponent(decoded.slice(0, decoded.indexOf(':')));
  }
  return req.body?.client_id;
}

server.service.on('beforeWellKnownOpenIdConfiguration', (config) => {
  config.body.token_endpoint_auth_methods_supported = ['client_secret_basic', 'client_secret_post', 'none'];
});

server.service.on('beforeAuthorizeRedirect', (redirect, req) => {
  const code = redirect.url.searchParams.get('code');
  if (code) {
    codes.set(code, { scope: req.query.scope, resource: req.query.resource });
  }
});

server.service.on('beforeTokenSigning', (token, req) => {
  const body = req.body ?? {};
  const payload = token.payload;
  // buildIdTokens() signs an ID token through the same hook; leave it alone (it has no scope).
  if (body.grant_type === 'authorization_code' && !('scope' in payload)) return;
  const granted = body.grant_type === 'authorization_code' ? codes.get(body.code) : undefined;
  const resource = body.resource ?? granted?.resource;
  if (resource !== undefined) payload.aud = resource;
  if (granted?.scope !== undefined && body.scope === undefined) payload.scope = granted.scope;
  if (payload.scope === undefined) delete payload.scope;
  const clientId = clientIdOf(req);
  if (clientId !== undefined) {
    payload.client_id = clientId;
    if (body.grant_type === 'client_credentials') payload.sub = clientId;
  }
});

server.service.on('beforeResponse', (response, req) => {
  const body = req.body ?? {};
  if (body.grant_type !== 'authorization_code') return;
  const granted = codes.get(body.code);
  codes.delete(body.code);
  if (granted?.scope !== undefined && body.scope === undefined) response.body.scope = granted.scope;
});

await server.start(port, '127.0.0.1');
console.log(`ISSUER=${server.issuer.url}`);

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
