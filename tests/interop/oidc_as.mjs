// A certified authorization server for the interop test: npm `oidc-provider` (panva,
// OpenID-certified), on loopback, configured the way an MCP deployment uses one. TEST ONLY:
// open dynamic registration, every user is `alice`, and consent is given without asking.
//
// - Resource indicators (RFC 8707): a `resource` named with --resource gets an RFC 9068 JWT
//   access token (`typ: at+jwt`, `aud` = the resource, `scope`, `client_id`); one named with
//   --opaque-resource gets an opaque token whose introspection answer carries that `aud`. A
//   request without `resource` gets an opaque token with no audience at all; an unknown
//   resource is refused (`invalid_target`).
// - Dynamic client registration (RFC 7591), open; PKCE (S256 only) mandatory for public clients.
// - Introspection (RFC 7662) and revocation (RFC 7009); oidc-provider refuses to introspect or
//   revoke its JWTs (`400 unsupported_token_type`).
// - DPoP (RFC 9449) without nonces: a token request with a DPoP proof gets `token_type: DPoP`
//   and a token bound to the proof's key (`cnf.jkt`).
// - A headless interaction: GET /interaction/<uid> logs `alice` in, or grants every scope the
//   request asked for (the consent prompt), and redirects back, as the user's click would. A
//   user agent that keeps cookies (as browsers do) follows the redirects to the client's
//   redirect URI: /auth -> /interaction/<uid> (login) -> /auth/<uid> -> /interaction/<uid2>
//   (consent) -> /auth/<uid2> -> redirect_uri?code=…&state=…&iss=….
//
// Pre-registered clients (client_secret_basic or client_secret_post):
//
// | client id         | secret          | for                                                    |
// |-------------------|-----------------|--------------------------------------------------------|
// | `mcp-rs`          | `mcp-rs-secret` | the resource server: introspection                     |
// | `m2m`             | `m2m-secret`    | client_credentials; JWTs signed RS256                  |
// | `m2m-<alg>`       | `m2m-secret`    | the same, JWTs signed with <alg> (see SIGNING_ALGS)    |
//
// Usage: node oidc_as.mjs --port <port> --resource <uri> [--resource <uri>...]
//                         [--opaque-resource <uri>...]
// Binds 127.0.0.1:<port> (0: any free port). The issuer is `http://127.0.0.1:<port>` (no
// trailing slash). Prints `ISSUER=<issuer>` on stdout when ready; logs go to stderr.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

// oidc-provider prints its notices on stdout; stdout is for the ready line.
console.info = console.error;
console.log = console.error;

const { default: Provider, errors } = await import('oidc-provider');

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    resource: { type: 'string', multiple: true, default: [] },
    'opaque-resource': { type: 'string', multiple: true, default: [] },
  },
  strict: true,
});

/** Scopes a resource server grants; `notes:write` is the quickstart's step-up scope. */
const RESOURCE_SCOPES = ['mcp:read', 'notes:write'];
const USER = 'alice';
/** The resource server's own client, for introspection. */
const RESOURCE_SERVER = 'mcp-rs';
const ACCESS_TOKEN_TTL = 3600;
/** Access-token signing algorithm by client id; the others get RS256. */
const SIGNING_ALGS = {
  'm2m-ps256': 'PS256',
  'm2m-es256': 'ES256',
  'm2m-ed25519': 'Ed25519', // RFC 9864's fully-specified name
  'm2m-eddsa': 'EdDSA', // the polymorphic name RFC 9864 deprecates
};

/** resource URI -> access token format */
const resources = new Map();
for (const [list, format] of [[args.resource, 'jwt'], [args['opaque-resource'], 'opaque']]) {
  for (const uri of list) {
    if (!URL.canParse(uri) || uri.includes('#')) {
      console.error(`oidc_as: not a resource URI: ${uri}`);
      process.exit(2);
    }
    resources.set(uri, format);
  }
}
if (resources.size === 0) {
  console.error('oidc_as: give at least one --resource or --opaque-resource');
  process.exit(2);
}

// Keys are made at start and never written. The RSA and Ed25519 keys carry no `alg`, as many
// providers publish them (one RSA key serves RS256 and PS256, one Ed25519 key serves `Ed25519`
// and `EdDSA`); oidc-provider adds `alg: ES256` to the P-256 key itself.
function signingKey(type, options, kid) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}
const generation = crypto.randomBytes(4).toString('hex'); // new keys, new key ids
const jwks = {
  keys: [
    signingKey('rsa', { modulusLength: 2048 }, `rsa-${generation}`),
    signingKey('ec', { namedCurve: 'P-256' }, `ec-${generation}`),
    signingKey('ed25519', {}, `ed25519-${generation}`),
  ],
};

const m2m = (clientId) => ({
  client_id: clientId,
  client_secret: 'm2m-secret',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  scope: RESOURCE_SCOPES.join(' '),
});

const configuration = {
  jwks,
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  // Listed here too so that a request without a resource indicator keeps them (in an opaque
  // token); with a resource indicator the resource server's scopes below apply.
  scopes: ['openid', 'offline_access', ...RESOURCE_SCOPES],
  claims: { openid: ['sub'] },
  clients: [
    {
      client_id: RESOURCE_SERVER,
      client_secret: 'mcp-rs-secret',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
    m2m('m2m'),
    ...Object.keys(SIGNING_ALGS).map(m2m),
  ],
  // A client's registered `scope` limits what it may ask for (RFC 7591 lets a server do so).
  // MCP clients register with the scope of their first 401 challenge and step up later
  // without registering again (the Python SDK does), so every client may also ask for all the
  // resource scopes; the user still consents to each request.
  extraClientMetadata: {
    properties: ['scope'],
    validator: (ctx, key, value, metadata) => {
      if (key === 'scope' && typeof value === 'string') {
        metadata.scope = [...new Set([...value.split(' '), ...RESOURCE_SCOPES])].join(' ');
      }
    },
  },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
  responseTypes: ['code'],
  pkce: { required: (ctx, client) => client.clientAuthMethod === 'none' },
  features: {
    devInteractions: { enabled: false }, // replaced by the headless route below
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    // The resource server may introspect any token, a client its own.
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => client.clientId === RESOURCE_SERVER
        || token.clientId === client.clientId,
    },
    // Only the client a token was issued to may revoke it (oidc-provider's default).
    revocation: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => {
        if (token.clientId === client.clientId) return true;
        throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
      },
    },
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No resource asked for: no audience, an opaque token.
      defaultResource: async () => undefined,
      // A grant for exactly one resource yields a token for it even when the token request
      // does not repeat `resource`.
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator, client) => {
        const format = resources.get(resourceIndicator);
        if (format === undefined) {
          throw new errors.InvalidTarget(`unknown resource indicator: ${resourceIndicator}`);
        }
        return {
          scope: RESOURCE_SCOPES.join(' '),
          audience: resourceIndicator,
          accessTokenTTL: ACCESS_TOKEN_TTL,
          accessTokenFormat: format,
          ...(format === 'jwt' && {
            jwt: { sign: { alg: SIGNING_ALGS[client?.clientId] ?? 'RS256' } },
          }),
        };
      },
    },
  },
  // Refresh tokens for every client registered for the grant (oidc-provider's OIDC default
  // also asks for `offline_access`).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    ClientCredentials: ACCESS_TOKEN_TTL,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
    IdToken: 3600,
    RefreshToken: 3600,
  },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  // JSON instead of an HTML page for errors that cannot go back to the client.
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
};

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number.parseInt(args.port, 10), '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;
const provider = new Provider(issuer, configuration);

// The headless interaction: what oidc-provider's own dev interaction form does when the user
// submits it (lib/actions/interaction.js), without the form.
const INTERACTION = /^\/interaction\/[A-Za-z0-9_-]+$/;
provider.use(async (ctx, next) => {
  if (ctx.method !== 'GET' || !INTERACTION.test(ctx.path)) return next();
  const {
    prompt: { name, details }, grantId, session, params,
  } = await provider.interactionDetails(ctx.req, ctx.res);
  let result;
  if (name === 'login') {
    result = { login: { accountId: USER } };
  } else if (name === 'consent') {
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    ctx.status = 501;
    ctx.body = { error: 'server_error', error_description: `no headless answer to ${name}` };
    return undefined;
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result);
  ctx.status = 303;
  ctx.redirect(returnTo);
  return undefined;
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));
for (const event of ['grant.error', 'authorization.error', 'introspection.error',
  'revocation.error', 'registration_create.error', 'resume.error']) {
  // error_detail has the reason where error_description is generic ("grant request is invalid").
  provider.on(event, (ctx, err) => console.error(event, err.error, '|', err.error_description,
    err.error_detail ? `| ${err.error_detail}` : ''));
}

server.on('request', provider.callback());
const { version } = JSON.parse(
  readFileSync(new URL('./node_modules/oidc-provider/package.json', import.meta.url)),
);
console.error(`oidc-provider ${version}; resources: ${JSON.stringify(Object.fromEntries(resources))}`);
process.stdout.write(`ISSUER=${issuer}\n`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
