// The official TypeScript MCP SDK (npm @modelcontextprotocol/sdk, pinned in package.json) against
// an MCP server that ends event streams when their token expires (issue 10.11): the server is
// tests/stream_expiry.rs `serve_for_interop` (rmcp behind McpAuth with
// `stream_expiry(StreamExpiry::All)`), which also serves `GET /test/expiring-token` (a token
// accepted for a few more seconds) and `GET /test/log` (every /mcp request it saw).
//
//   node stream_expiry.mjs --url URL --auth oauth --issuer ISS --client-id ID --client-secret S
//   node stream_expiry.mjs --url URL --auth static
//   node stream_expiry.mjs ... --check call   (a tool call outliving the token; default: get)
//
// oauth: the SDK's ClientCredentialsProvider holding the expiring token, able to get another.
// static: the token as a fixed Authorization header (requestInit), nothing to replace it with.
// Prints `ok: ...` per assertion; exits 1 with `FAILED: ...` when one does not hold.

import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    auth: { type: 'string' },
    check: { type: 'string', default: 'get' },
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
  },
});

class CheckFailed extends Error {}
const ok = (what) => console.log(`  ok: ${what}`);
const expect = (condition, what, detail) => {
  if (!condition) {
    throw new CheckFailed(detail === undefined ? what : `${what} (got: ${JSON.stringify(detail)})`);
  }
  ok(what);
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const withTimeout = (promise, ms, what) =>
  Promise.race([promise, sleep(ms).then(() => { throw new CheckFailed(`${what} hung (${ms / 1000} s)`); })]);

const showRequest = (e) => {
  let end = '';
  if (e.ended !== null) end = `, ended at ${(e.ended / 1000).toFixed(1)}s`;
  else if (e.dropped !== null) end = `, dropped by the client at ${(e.dropped / 1000).toFixed(1)}s`;
  else if (e.event_stream) end = ', still open';
  return `${e.method} token=${e.token}${e.resume ? ' Last-Event-ID' : ''} -> ${e.status}` +
    `${e.event_stream ? ' text/event-stream' : ''} at ${(e.opened / 1000).toFixed(1)}s${end}`;
};

/** The requests of the session first seen with the expiring token `number`. */
class ServerLog {
  constructor(base, number) {
    this.base = base;
    this.number = number;
    this.session = null;
  }

  async entries() {
    const log = await (await fetch(`${this.base}/test/log`)).json();
    this.session ??= log.find((e) => e.minted === this.number && e.session)?.session ?? null;
    return log.filter((e) => this.session !== null && e.session === this.session);
  }

  async gets() {
    return (await this.entries()).filter((e) => e.method === 'GET');
  }

  async waitGets(what, seconds, done) {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const gets = await this.gets();
      if (done(gets)) return gets;
      if (Date.now() > deadline) {
        await this.show();
        throw new CheckFailed(`waited ${seconds}s for ${what}`);
      }
      await sleep(200);
    }
  }

  async show() {
    for (const e of await this.entries()) console.log(`  server saw: ${showRequest(e)}`);
  }
}

const textOf = (result) => (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');

/** A tool call still running when the token expires: its response stream (a POST answered with
 * text/event-stream, which began with a priming event carrying an id) ends first.
 *
 * What SDK 1.32.2 does (the assertions below): it resumes with a GET carrying Last-Event-ID and
 * the expired token, which gets 401; its auth provider gets a new token, and then
 * `_authThenStart` opens a GET *without* the Last-Event-ID (`resumptionToken: undefined`), a
 * new stream, not the call's: the result never arrives and the call ends with the SDK's
 * request timeout (60 s by default; shortened here). Should a later SDK resume it, the check
 * fails and says so. */
async function slowCallOutlivingItsToken(client, log, left) {
  const seconds = left + 4;
  const timeout = (seconds + 6) * 1000;
  let outcome;
  try {
    const result = await withTimeout(
      client.callTool({ name: 'slow', arguments: { seconds } }, undefined, { timeout }),
      timeout + 10000, 'slow');
    outcome = `answered: ${textOf(result)}`;
  } catch (error) {
    if (error instanceof CheckFailed) throw error;
    outcome = `raised ${error?.constructor?.name} ${error?.code}: ${error?.message}`;
  }
  await log.show();
  console.log(`  slow(${seconds}) with a ${timeout / 1000} s request timeout ${outcome}`);
  const entries = await log.entries();
  const cut = entries.filter((e) => e.method === 'POST' && e.event_stream && e.ended !== null && e.ended - e.opened >= (left - 2) * 1000);
  expect(cut.length === 1 && cut[0].token === 'expiring', "the server ended the tool call's response stream at the token's expiry");
  const after = entries.filter((e) => e.method === 'GET' && e.opened >= cut[0].ended);
  expect(after.some((e) => e.resume && e.token === 'expiring' && e.status === 401),
    'the SDK tried to resume it (GET with Last-Event-ID), with the expired token: 401');
  expect(!after.some((e) => e.resume && e.token === 'fresh'),
    'after getting a new token the SDK did not resume it (no GET with Last-Event-ID and the new token)',
    after.map(showRequest));
  expect(!outcome.startsWith('answered'),
    "the tool call's result was lost: the call failed with the request timeout (a later SDK that resumes fails this check: update the finding)",
    outcome);
  expect(outcome.includes('-32001'), 'the failure is the SDK\'s request timeout (McpError -32001)', outcome);
}

async function main() {
  const base = args.url.replace(/\/mcp$/, '');
  const minted = await (await fetch(`${base}/test/expiring-token`)).json();
  const { access_token: token, left } = minted;
  const log = new ServerLog(base, minted.number);
  console.log(`  the client's token is accepted for ${left}s more (exp + the verifier's leeway)`);

  let options;
  if (args.auth === 'oauth') {
    const provider = new ClientCredentialsProvider({
      clientId: args['client-id'],
      clientSecret: args['client-secret'],
      scope: 'mcp:read',
      expectedIssuer: args.issuer,
    });
    // No expires_in: the server's 401 is what says the token expired.
    provider.saveTokens({ access_token: token, token_type: 'Bearer' });
    options = { authProvider: provider };
  } else if (args.auth === 'static') {
    options = { requestInit: { headers: { Authorization: `Bearer ${token}` } } };
  } else {
    throw new CheckFailed('--auth must be oauth or static');
  }

  const transport = new StreamableHTTPClientTransport(new URL(args.url), options);
  const client = new Client({ name: 'mcp-auth interop (typescript sdk)', version: '1.0.0' });
  const errors = [];
  client.onerror = (error) => {
    errors.push(String(error?.message ?? error));
    console.log(`  sdk onerror: ${error?.message ?? error}`);
  };
  let listChanged = 0;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    listChanged += 1;
  });
  const started = Date.now();
  await client.connect(transport);
  try {
    const me = JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} })));
    expect(Boolean(me.subject), `a session on ${transport.protocolVersion ?? 'the SDK\'s revision'} (initialize, GET stream); whoami works`, me);
    if (args.check === 'call') {
      await slowCallOutlivingItsToken(client, log, left);
      return;
    }
    let gets = await log.waitGets('the GET stream', 10, (gets) => gets.length >= 1);
    expect(gets[0].token === 'expiring' && gets[0].status === 200, 'the SDK opened the GET stream with the token', gets[0]);
    gets = await log.waitGets('the server to end the GET stream', left + 10, (gets) => gets[0].ended !== null);
    const lived = gets[0].ended - gets[0].opened;
    expect(lived >= (left - 2) * 1000, `the server ended the GET stream at the token's expiry (${(lived / 1000).toFixed(1)}s after it opened)`);

    if (args.auth === 'oauth') {
      gets = await log.waitGets('a GET with a new token answered 200', 20,
        (gets) => gets.some((g) => g.token === 'fresh' && g.status === 200));
      await log.show();
      const reopened = gets.find((g) => g.token === 'fresh' && g.status === 200);
      ok(`the SDK re-opened the GET stream with a new token (${((reopened.opened - gets[0].ended) / 1000).toFixed(1)}s after it ended)`);
      const refused = gets.filter((g) => g.status === 401);
      expect(refused.length <= 1, 'at most one GET refused (401) before the SDK got a new token', refused.length);
      const before = listChanged;
      expect(textOf(await client.callTool({ name: 'notify', arguments: {} })) === 'sent', 'notify: the server sent tools/list_changed');
      const deadline = Date.now() + 5000;
      while (listChanged === before && Date.now() < deadline) await sleep(100);
      expect(listChanged > before, 'the notification arrived on the re-opened GET stream');
      const after = JSON.parse(textOf(await withTimeout(client.callTool({ name: 'whoami', arguments: {} }), 15000, 'whoami')));
      expect(after.expires_at > Date.now() / 1000, 'whoami after the stream ended: works, with the new token', after);
      const sessions = new Set((await log.entries()).map((e) => e.session));
      expect(sessions.size === 1, 'one session throughout');
    } else {
      await log.waitGets('a refused GET (401)', 20, (gets) => gets.some((g) => g.status === 401));
      await sleep(8000); // more attempts would come at the server's retry interval (3 s)
      await log.show();
      gets = await log.gets();
      const refused = gets.filter((g) => g.status === 401);
      expect(refused.length >= 1 && refused.length <= 2 && gets.length === 1 + refused.length,
        `the SDK tried to re-open the GET stream ${refused.length} time(s), was refused (401), and stopped`,
        gets.map(showRequest));
      let outcome;
      try {
        const result = await withTimeout(client.callTool({ name: 'whoami', arguments: {} }), 15000, 'a tool call after the stream ended');
        outcome = `answered: ${textOf(result)}`;
      } catch (error) {
        if (error instanceof CheckFailed) throw error;
        outcome = `raised ${error?.constructor?.name}: ${error?.message}`;
      }
      console.log(`  whoami with the expired token ${outcome}`);
      expect(!outcome.startsWith('answered'), 'a tool call with the expired token fails promptly (no hang)');
    }
  } finally {
    await client.close().catch(() => {});
  }
  console.log(`  done after ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error instanceof CheckFailed ? `FAILED: ${error.message}` : error);
    process.exit(1);
  },
);
