# Shell helpers shared by the interop scripts (tests/interop/run.sh, audit/interop/run.sh).
# Sourced, never run; the script that sources it defines `die MESSAGE` (report and exit),
# `WORK` (its scratch directory) and `PIDS` (the processes it starts), and traps EXIT with
# `cleanup`.

# cleanup: stops every process of PIDS, waits for them, removes WORK.
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}

# free_ports N: N distinct free loopback ports, space-separated.
free_ports() {
  python3 - "$1" <<'PYTHON'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PYTHON
}

# wait_for_line FILE REGEX PID SECONDS: until FILE has a line matching REGEX; fails (showing
# FILE) when PID exits or SECONDS pass first.
wait_for_line() {
  local file=$1 regex=$2 pid=$3 deadline=$((SECONDS + $4))
  until grep -Eq "$regex" "$file" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      sed 's/^/    /' "$file" >&2
      return 1
    fi
    sleep 0.2
  done
}

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# python_venv VENV REQUIREMENTS: VENV holds exactly what REQUIREMENTS pins (installed again only
# when REQUIREMENTS changed). Installs Debian's python3-venv when venv is missing and we may.
python_venv() {
  local venv=$1 requirements=$2 want
  want=$(hash_of "$requirements")
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.installed" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  if [ ! -x "$venv/bin/python" ] && ! python3 -m venv "$venv"; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; } \
        || die "apt-get install python3-venv failed"
      python3 -m venv "$venv" || die "python3 -m venv failed"
    else
      die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" \
    || die "pip install -r $requirements failed"
  echo "$want" >"$venv/.installed"
}
