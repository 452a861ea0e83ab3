#!/usr/bin/env bash
# Interop: mcp-auth-audit against an MCP server written by others, the official Python SDK's
# (PyPI `mcp`, pinned in requirements.txt) as a resource server: python_server.py.
#
# 1. Installs the SDK into audit/interop/.venv (idempotent) and builds mcp-auth-audit.
# 2. Starts the Python server trusting the issuer on a fixed free port, then the audit in
#    trusted-issuer mode on that port, waiting (on a pipe) before its checks.
# 3. While the audit's issuer is up, runs the audit in black-box mode (the server's metadata
#    names that issuer, so the authorization-server checks have one to read).
# 4. Releases the trusted-mode audit and prints both reports.
#
# Needs: cargo, python3 (with venv), curl. Run from anywhere: audit/interop/run.sh
# Extra arguments go to both audit runs (e.g. --verbose, --json).
# Exits 0 when both audits ran (whatever they found), non-zero when the run itself failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcp-auth-audit-interop.XXXXXX")
PIDS=()
# shellcheck source=../../tests/interop/common.sh
source "$ROOT/tests/interop/common.sh"

trap cleanup EXIT
die() {
  printf '\ninterop: FATAL: %s\n' "$*" >&2
  exit 2
}
section() { printf '\n=== %s\n' "$*"; }

# ---------------------------------------------------------------------------------------------
section "install: the Python MCP SDK (audit/interop/.venv)"
for tool in python3 curl cargo sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
VENV="$HERE/.venv"
PY="$VENV/bin/python"
python_venv "$VENV" "$HERE/requirements.txt"
"$PY" -c 'import importlib.metadata as m, sys; print("python", sys.version.split()[0], "mcp", m.version("mcp"), "PyJWT", m.version("PyJWT"))' \
  || die "the venv has no usable mcp package"

section "build: cargo build -p mcp-auth-audit"
cd "$ROOT"
cargo build -p mcp-auth-audit || die "cargo build failed"
TARGET=$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
AUDIT="$TARGET/debug/mcp-auth-audit"
[ -x "$AUDIT" ] || die "no $AUDIT"
"$AUDIT" --version

read -r PORT_MCP PORT_AS <<<"$(free_ports 2)"
URL="http://127.0.0.1:$PORT_MCP/mcp"
ISSUER="http://127.0.0.1:$PORT_AS"

# ---------------------------------------------------------------------------------------------
section "start: the Python SDK server at $URL, trusting $ISSUER"
"$PY" "$HERE/python_server.py" --port "$PORT_MCP" --issuer "$ISSUER" >"$WORK/server.log" 2>&1 &
PIDS+=("$!")
SERVER=$!
wait_for_line "$WORK/server.log" '^python-sdk-interop:' "$SERVER" 60 \
  || die "the Python server did not start"
deadline=$((SECONDS + 60))
until curl -s -o /dev/null "$URL" 2>/dev/null; do
  kill -0 "$SERVER" 2>/dev/null || die "the Python server exited"
  [ "$SECONDS" -lt "$deadline" ] || die "the Python server does not answer on $URL"
  sleep 0.2
done
sed 's/^/    /' "$WORK/server.log"

section "start: mcp-auth-audit --trusted-issuer --issuer-port $PORT_AS (waiting for Enter)"
mkfifo "$WORK/enter"
exec 3<>"$WORK/enter" # held open read-write, so that neither side blocks on open
"$AUDIT" "$URL" --trusted-issuer --issuer-port "$PORT_AS" --wait \
  --tool add_note --tool-scope notes:write --tool-args '{"text": "written by mcp-auth-audit"}' \
  --echo-tool echo_headers "$@" \
  <"$WORK/enter" >"$WORK/trusted.out" 2>"$WORK/trusted.err" &
TRUSTED=$!
PIDS+=("$TRUSTED")
wait_for_line "$WORK/trusted.err" 'Press Enter' "$TRUSTED" 60 || die "the trusted-mode audit did not start its issuer"
sed 's/^/    /' "$WORK/trusted.err"

# ---------------------------------------------------------------------------------------------
section "audit, black-box mode: mcp-auth-audit $URL"
set +e
"$AUDIT" "$URL" "$@"
BLACK_BOX=$?
set -e

section "audit, trusted-issuer mode (the server trusts $ISSUER)"
echo >&3
set +e
wait "$TRUSTED"
TRUSTED_RC=$?
set -e
cat "$WORK/trusted.out"
tail -n +2 "$WORK/trusted.err" | grep -v '^ *issuer:\|^ *jwks_uri:\|^$\|audience\|Press Enter\|^Configure' || true

section "the Python server's log (why its verifier refused each token)"
sed 's/^/    /' "$WORK/server.log"

section "summary"
echo "black-box mode: exit $BLACK_BOX; trusted-issuer mode: exit $TRUSTED_RC (0: no MUST failed, 1: a MUST failed, 2: error)"
[ "$BLACK_BOX" -le 1 ] && [ "$TRUSTED_RC" -le 1 ]
