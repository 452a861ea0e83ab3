#!/usr/bin/env bash
# HTTP load benchmark of mcp-auth against a bare handler (issue #12).
#
#   benches/load.sh                 every case, 5 s each
#   benches/load.sh --short         every case, about 1 s each (CI: does it work?)
#   benches/load.sh --rss           the bare handler and 1,000,000 distinct valid tokens: peak RSS
#   benches/load.sh --profile       also `perf record -g` the server and print its top symbols
#   benches/load.sh --repeat 3      every case 3 times; the table shows each case's median run
#   benches/load.sh --only bare,new-token --duration 10 --port 8787
#   benches/load.sh --poll-idle     idle CPUs poll instead of halting while the cases run
#   benches/load.sh --features observability   the library's metrics and tracing compiled in
#
# --poll-idle holds /dev/cpu_dma_latency at 0 (needs root), as tuned's latency profiles do, so
# that an idle CPU polls for work instead of halting. On a virtual machine whose idle CPUs
# halt at once (haltpoll with guest_halt_poll_ns=0, as on the CI machines), every response
# that finds wrk idle costs the server an inter-processor interrupt to wake it, 2-5 us of
# kernel time charged to the server, and the more so the slower the server: a cost of the
# machine, not of the code under test. docs/performance.md shows the runs both ways.
#
# Environment: LOAD_PORT (8787), LOAD_VALID_TOKENS (200000), LOAD_RSS_TOKENS (1000000),
# LOAD_PERF_RECORD (`-g`; `--call-graph dwarf` for whole call stacks with --profile).
#
# One axum server (benches/load/server, a package of its own) answers `POST /mcp` with a fixed
# JSON-RPC result, bare or behind McpAuth. It is built once with `cargo build --profile bench
# -p mcp-auth-load-server` (the release settings plus `debug = 1` for perf), with the library's
# default features and the ones its cases need: `--features observability` adds the library's
# `metrics` and `tracing` (compiled in, with no recorder or subscriber installed). For each
# case the server starts afresh, pinned to core 0 with a current-thread Tokio runtime, and
# `wrk -t1 -c32` runs pinned to core 1 over loopback. Tokens are RS256-2048 JWTs of about 800
# bytes, generated once into $CARGO_TARGET_DIR/load/ and reused while valid. The script prints
# one table (docs/performance.md says what each column means). It never asserts a timing: it fails
# only when a case answers with an unexpected status, the server does not start, or a tool is
# missing.
#
# Installs wrk with apt-get when it is missing and we are root; uses perf when it works.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=5
repeat=1
rss=0
profile=0
only=""
poll_idle=0
features=""
port=${LOAD_PORT:-8787}
valid_tokens=${LOAD_VALID_TOKENS:-200000}
rss_tokens=${LOAD_RSS_TOKENS:-1000000}
connections=32

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --short) duration=1 ;;
    --duration) duration=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --rss) rss=1 ;;
    --profile) profile=1 ;;
    --poll-idle) poll_idle=1 ;;
    --only) only=$2; shift ;;
    --features) features=$2; shift ;;
    --port) port=$2; shift ;;
    -h | --help) usage 0 ;;
    *) echo "load.sh: unknown option $1" >&2; usage 2 >&2 ;;
  esac
  shift
done

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf '\nload.sh: FAILED: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Tools.

as_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
  as_root || return 1
  command -v apt-get >/dev/null || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null 2>&1 ||
    { DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null 2>&1; }
}

if ! command -v wrk >/dev/null; then
  log "installing wrk (apt-get install -y wrk)"
  apt_install wrk || die "wrk is missing; install it (apt-get install wrk) or run as root"
fi
for tool in taskset curl awk; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done

perf_ok=0
if [ "$profile" = 1 ] && ! command -v perf >/dev/null; then
  log "installing perf (apt-get install -y linux-perf)"
  apt_install linux-perf || true
fi
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  perf_ok=1
elif [ "$profile" = 1 ]; then
  die "--profile needs a working perf"
fi

cores=$(nproc)
if [ "$cores" -ge 2 ]; then
  server_cpus=0
  wrk_cpus=1
  both_cpus=0,1
else
  log "warning: one core only; server and wrk share it"
  server_cpus=0
  wrk_cpus=0
  both_cpus=0
fi
clk_tck=$(getconf CLK_TCK)

idle="idle CPUs as configured"
if [ "$poll_idle" = 1 ]; then
  # Held open until the script exits; the kernel drops the request when it is closed.
  exec {latency_fd}>/dev/cpu_dma_latency 2>/dev/null ||
    die "--poll-idle needs to write /dev/cpu_dma_latency (root)"
  printf '\0\0\0\0' >&"$latency_fd"
  idle="idle CPUs polling (cpu_dma_latency 0)"
fi

# ---------------------------------------------------------------------------------------------
# The server binary and the tokens.

target=${CARGO_TARGET_DIR:-target}
build=(cargo build --quiet --profile bench -p mcp-auth-load-server)
[ -n "$features" ] && build+=(--features "$features")
log "${build[*]}"
"${build[@]}"
bin=$target/release/mcp-auth-load-server
[ -x "$bin" ] || die "no $bin after the build"

out=$target/load
mkdir -p "$out/runs"
lua=benches/load/tokens.lua

# tokens <dir> <valid> <bad>: generates the set unless one with these counts is still valid
# for a day.
tokens() {
  local dir=$1 valid=$2 bad=$3 now
  now=$(date +%s)
  if [ -f "$dir/meta" ] &&
    grep -qx "valid=$valid" "$dir/meta" && grep -qx "bad=$bad" "$dir/meta" &&
    [ "$(sed -n 's/^exp=//p' "$dir/meta")" -gt $((now + 86400)) ]; then
    return
  fi
  log "generating $valid valid and $bad bad-signature RS256 tokens into $dir (once)"
  "$bin" gen --dir "$dir" --valid "$valid" --bad "$bad" >&2
}

body='{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'
url=http://127.0.0.1:$port/mcp
server_pid=""
perf_pid=""
keys="" # the key set the jwt server trusts

cleanup() {
  [ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null && wait "$perf_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  return 0
}
trap cleanup EXIT

# cpu_ticks <pid>: utime + stime of every thread of the process, in clock ticks.
cpu_ticks() {
  # Fields after the `(comm)`: state is field 3, utime 14, stime 15.
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

status_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

accepted() { curl -s "http://127.0.0.1:$port/load-stats" | sed -n 's/^accepted=//p'; }

# kv <file> <key>: the value of the first `key=value` line.
kv() { awk -v k="$2=" 'index($0, k) == 1 { print substr($0, length(k) + 1); exit }' "$1"; }

# statuses <result>: "200=123 401=4" from a run's results.
statuses() { sed -n 's/^status_//p' "$1" | tr '\n' ' ' | sed 's/ $//'; }

# busy_ticks: CPU time of the whole machine (every core) spent outside idle and iowait.
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# wrk_run <result> <tokens> <limit> <skip> <max> <seconds> <cpus>; wrk's user+sys seconds go
# to <result>.time.
wrk_run() {
  local TIMEFORMAT='%U %S'
  { time LOAD_OUT=$1 LOAD_TOKENS=$2 LOAD_LIMIT=$3 LOAD_SKIP=$4 LOAD_MAX=$5 \
    taskset -c "$7" wrk -t1 -c"$connections" -d"$6"s --latency -s "$lua" "$url" \
    >"$1.wrk" 2>&1; } 2>"$1.time" || die "wrk failed: $(cat "$1.wrk")"
  [ -s "$1" ] || die "wrk wrote no results: $(cat "$1.wrk")"
}

# check_statuses <case> <result> <expected status>
check_statuses() {
  local name=$1 result=$2 expected=$3 total got
  total=$(kv "$result" requests)
  got=$(kv "$result" "status_$expected")
  got=${got:-0}
  [ "$total" -gt 0 ] || die "$name: no response at all ($(cat "$result.wrk"))"
  if [ "$got" != "$total" ]; then
    die "$name: expected every response to be $expected; got $(statuses "$result") of $total"
  fi
}

# run_case <run> <name> <server case> <workers> <placement> <tokens> <cycle> <status> <warm-up>
#          <max>: see the case table below. The results go to $out/runs/<run>.
run_case() {
  local run=$out/runs/$1 name=$2 kind=$3 workers=$4 placement=$5 file=$6 limit=$7 expected=$8
  local warm=$9 max=${10} keys scpus=$server_cpus wcpus=$wrk_cpus
  local first code cpu0 cpu1 acc0 acc1 busy0 busy1 t0 t1 seconds skip
  if [ "$placement" = shared ]; then
    scpus=$both_cpus
    wcpus=$both_cpus
  fi
  file=$out/$file
  keys=$(dirname "$file")/jwks.json
  log "case $name ($1)"
  rm -f "$run".*
  # Another server on the port (another load.sh?) would answer in place of ours.
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
    die "something already listens on 127.0.0.1:$port; stop it or pick another --port"
  fi
  taskset -c "$scpus" "$bin" serve --case "$kind" --workers "$workers" \
    --addr "127.0.0.1:$port" --keys "$keys" --token-out "$run.token" \
    >"$run.server" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    grep -q '^READY' "$run.server" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || die "$name: the server exited: $(cat "$run.server")"
    sleep 0.1
  done
  grep -q '^READY' "$run.server" || die "$name: the server did not start: $(cat "$run.server")"
  [ "$file" = "$out/-" ] && file=$run.token

  # The first request must get the expected status.
  first=$(head -n 1 "$file")
  code=$(curl -s -o "$run.first" -w '%{http_code}' -X POST "$url" \
    -H "Authorization: Bearer $first" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' --data "$body")
  [ "$code" = "$expected" ] ||
    die "$name: the first request got $code, expected $expected: $(cat "$run.first")"

  if [ "$warm" -gt 0 ]; then
    wrk_run "$run.warm" "$file" "$limit" 0 "$warm" 600 "$wcpus"
    check_statuses "$name (warm-up)" "$run.warm" "$expected"
  fi

  seconds=$duration
  [ "$max" -gt 0 ] && seconds=3600
  acc0=$(accepted)
  cpu0=$(cpu_ticks "$server_pid")
  busy0=$(busy_ticks)
  t0=$EPOCHREALTIME
  perf_pid=""
  if [ "$profile" = 1 ]; then
    # shellcheck disable=SC2086 # LOAD_PERF_RECORD splits into flags on purpose
    perf record ${LOAD_PERF_RECORD:--g} -q -o "$run.perf.data" -p "$server_pid" >/dev/null 2>&1 &
    perf_pid=$!
  elif [ "$perf_ok" = 1 ]; then
    perf stat -e task-clock -x, -o "$run.perfstat" -p "$server_pid" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  sleep 0.2 # let perf attach
  # Runs over the whole file skip the token checked above, so that every token is new.
  skip=0
  [ "$limit" = 0 ] && skip=1
  wrk_run "$run" "$file" "$limit" "$skip" "$max" "$seconds" "$wcpus"
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    perf_pid=""
  fi
  cpu1=$(cpu_ticks "$server_pid")
  busy1=$(busy_ticks)
  t1=$EPOCHREALTIME
  acc1=$(accepted)
  {
    echo "cpu_ticks=$((cpu1 - cpu0))"
    echo "busy_ticks=$((busy1 - busy0))"
    echo "wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
    echo "wrk_cpu_s=$(awk '{ print $1 + $2 }' "$run.time")"
    # Connections beyond wrk's -c: minus the /load-stats request's own connection and the
    # one wrk opens first to probe the address.
    echo "reconnects=$((acc1 - acc0 - 2 - connections))"
    echo "vm_hwm_kb=$(status_field "$server_pid" VmHWM | awk '{ print $1 }')"
    echo "threads=$(status_field "$server_pid" Threads)"
    if [ -s "$run.perfstat" ]; then
      echo "task_clock_ms=$(awk -F, '$3 ~ /task-clock/ { print $1 }' "$run.perfstat")"
    fi
  } >>"$run"
  # The CPU time other processes took meanwhile, in cores: what makes a run unreliable.
  awk -v b="$(kv "$run" busy_ticks)" -v t="$(kv "$run" cpu_ticks)" -v hz="$clk_tck" \
    -v w="$(kv "$run" wrk_cpu_s)" -v wall="$(kv "$run" wall_s)" \
    'BEGIN { o = (b / hz - t / hz - w) / wall; printf "other_cores=%.2f\n", (o < 0) ? 0 : o }' \
    >>"$run"
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  check_statuses "$name" "$run" "$expected"
}

# ---------------------------------------------------------------------------------------------
# The cases.

selected() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

# Each case: its name; the server (`bare`, `raw-rs256`, `jwt`, `introspection`); Tokio workers (0: the
# current-thread runtime); placement (`apart`: server on one core, wrk on the other; `shared`:
# both may use every core); the token file under $out (`-`: the introspection server's own
# opaque token); how many of its tokens to cycle through (0: all); the status every response
# must have; warm-up requests before the measured run (so caches hold what the case cycles
# through); and a request count that ends the run instead of the duration (0: timed).
if [ "$rss" = 1 ]; then
  tokens "$out/tokens" "$valid_tokens" 2000
  tokens "$out/rss" "$rss_tokens" 1
  # rss-1m: curl checks the first token, wrk sends each of the others once.
  cases="
    bare           bare          0 apart  tokens/valid.txt 1     200 2000  0
    rss-1m         jwt           0 apart  rss/valid.txt    0     200 0     $((rss_tokens - 1))"
else
  tokens "$out/tokens" "$valid_tokens" 2000
  cases="
    bare           bare          0 apart  tokens/valid.txt 1     200 2000  0
    raw-rs256      raw-rs256     0 apart  tokens/valid.txt 10000 200 0     0
    same-token     jwt           0 apart  tokens/valid.txt 1     200 2000  0
    rotate-10k     jwt           0 apart  tokens/valid.txt 10000 200 12000 0
    new-token      jwt           0 apart  tokens/valid.txt 0     200 0     0
    bad-signature  jwt           0 apart  tokens/bad.txt   0     401 2000  0
    introspection  introspection 0 apart  -                1     200 2000  0
    same-token-mt1 jwt           1 shared tokens/valid.txt 1     200 2000  0
    same-token-mt2 jwt           2 shared tokens/valid.txt 1     200 2000  0"
fi
results=()
while read -r name _ <&3; do
  [ -n "$name" ] && selected "$name" && results+=("$name")
done 3<<<"$cases"
[ "${#results[@]}" -gt 0 ] || die "no case selected by --only $only"
for k in $(seq 1 "$repeat"); do
  while read -r name rest <&3; do
    [ -n "$name" ] && selected "$name" || continue
    # shellcheck disable=SC2086 # the fields split on purpose
    run_case "$name.$k" "$name" $rest
  done 3<<<"$cases"
done

# ---------------------------------------------------------------------------------------------
# The table.

# The row format, shared by the header (with %s for every column).
cells=(%-15s %7s %6s %6s %10s %11s %6s %11s %8s %8s %5s %7s %6s %6s %8s)
header_format="| $(printf '%s | ' "${cells[@]}")"
header_format="${header_format% }\n"

# row <run> <bare CPU us per request, or ""> <name>: one line of the table.
row() {
  local r=$1
  awk -v name="$3" -v n="$(kv "$r" requests)" -v us="$(kv "$r" duration_us)" \
    -v p50="$(kv "$r" p50_us)" -v p99="$(kv "$r" p99_us)" -v t="$(kv "$r" cpu_ticks)" \
    -v hz="$clk_tck" -v tc="$(kv "$r" task_clock_ms)" -v bare="$2" \
    -v other="$(kv "$r" other_cores)" -v wrk="$(kv "$r" wrk_cpu_s)" \
    -v closes="$(kv "$r" closes)" -v reconn="$(kv "$r" reconnects)" \
    -v hwm="$(kv "$r" vm_hwm_kb)" -v format="$header_format" \
    -v ok="$(sed -n 's/^status_2[0-9][0-9]=//p' "$r" | awk '{ s += $1 } END { print s + 0 }')" '
    BEGIN {
      secs = us / 1e6
      cpu = t * 1e6 / hz / n
      delta = cpu - bare
      if (delta > -0.005 && delta < 0.005) delta = 0
      printf format, name, sprintf("%.0f", n / secs), p50, p99, sprintf("%.2f", cpu),
        (tc == "") ? "-" : sprintf("%.2f", tc * 1000 / n),
        (bare == "") ? "-" : sprintf("%.2f", cpu / bare),
        (bare == "") ? "-" : sprintf("%+.2f", delta),
        sprintf("%.0f%%", t / hz / secs * 100), sprintf("%.0f%%", wrk / secs * 100),
        other, n - ok, closes, reconn,
        sprintf("%.0f MB", hwm / 1024)
    }'
}

# cpu_per_request <run>: server CPU us per request.
cpu_per_request() {
  awk -v t="$(kv "$1" cpu_ticks)" -v n="$(kv "$1" requests)" -v hz="$clk_tck" \
    'BEGIN { printf "%.10g\n", t * 1e6 / hz / n }'
}

# median_run <name>: the run of that case with the median CPU per request.
median_run() {
  local k
  for k in $(seq 1 "$repeat"); do
    echo "$(cpu_per_request "$out/runs/$1.$k") $out/runs/$1.$k"
  done | sort -g | awk '{ runs[NR] = $2 } END { print runs[int((NR + 1) / 2)] }'
}

bare_cpu=""
if [[ " ${results[*]} " == *" bare "* ]]; then
  bare_cpu=$(cpu_per_request "$(median_run bare)")
fi

model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
echo
runs="one run a case"
[ "$repeat" -gt 1 ] && runs="median of $repeat runs by CPU per request"
built="the library's default features, introspection and testing"
[ -n "$features" ] && built="$built; the server's features: $features"
echo "mcp-auth load benchmark, $(date -u +%Y-%m-%dT%H:%MZ): wrk -t1 -c$connections," \
  "${duration} s a case, $runs; $cores cores (${model:-unknown}); server on core" \
  "$server_cpus (current-thread runtime), wrk on core $wrk_cpus; mt1/mt2: multi-thread runtime" \
  "with 1/2 workers, server and wrk sharing cores $both_cpus; $idle; $built"
echo
# shellcheck disable=SC2059 # the format is built above
header=$(printf "$header_format" case 'req/s' 'p50 us' 'p99 us' 'CPU us/req' 'perf us/req' \
  'x bare' '+us vs bare' 'srv CPU' 'wrk CPU' 'other' 'non-2xx' 'closes' 'reconn' 'peak RSS')
echo "$header"
# The separator: dashes under each column, numbers right-aligned (Markdown).
echo "$header" | awk -F'|' '{
  line = "|"
  for (i = 2; i < NF; i++) {
    dashes = $i; gsub(/./, "-", dashes)
    if (i > 2) dashes = substr(dashes, 2) ":"
    line = line dashes "|"
  }
  print line
}'
notes=()
busy=()
for name in "${results[@]}"; do
  r=$(median_run "$name")
  row "$r" "$bare_cpu" "$name"
  note="$name: $(kv "$r" requests) responses ($(statuses "$r")), $(kv "$r" sent) requests sent"
  note="$note, socket errors: connect $(kv "$r" errors_connect), read $(kv "$r" errors_read)"
  note="$note, write $(kv "$r" errors_write), timeout $(kv "$r" errors_timeout)"
  note="$note; server threads: $(kv "$r" threads)"
  case "$name" in
    new-token | rss-*)
      if [ "$(kv "$r" wraps)" -gt 0 ]; then
        note="$note; WARNING: the token file ran out ($(kv "$r" wraps) wraps): tokens seen twice"
      else
        note="$note; every token distinct"
      fi
      ;;
  esac
  notes+=("$note")
  for k in $(seq 1 "$repeat"); do
    other=$(kv "$out/runs/$name.$k" other_cores)
    awk -v o="$other" 'BEGIN { exit !(o > 0.1) }' && busy+=("$name.$k: $other cores")
  done
done
echo
printf '%s\n' "${notes[@]}"

# The targets of issue #12, from the medians above (a report, never a failure).
# cpu_of <name>: the median CPU per request of a case that ran, or nothing.
cpu_of() {
  [[ " ${results[*]} " == *" $1 "* ]] && cpu_per_request "$(median_run "$1")"
}
# paired <name> <ratio|raw>: with --repeat, the median and range over the repeats of the case's
# figure against bare's run (and raw-rs256's) of the same repeat: runs close in time share the
# machine's drift, so these move less than the medians of each case do.
paired() {
  local name=$1 mode=$2 k c b r
  [ "$repeat" -gt 1 ] || return 0
  for k in $(seq 1 "$repeat"); do
    c=$(cpu_per_request "$out/runs/$name.$k")
    b=$(cpu_per_request "$out/runs/bare.$k")
    r=$b
    [ "$mode" = raw ] && r=$(cpu_per_request "$out/runs/raw-rs256.$k")
    awk -v c="$c" -v b="$b" -v r="$r" -v m="$mode" \
      'BEGIN { if (m == "raw") print (c - b) / (r - b); else print c / b }'
  done | sort -g | awk '{ v[NR] = $1 } END {
    printf "; paired by repeat: median %.2f (%.2f to %.2f)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
raw_cpu=$(cpu_of raw-rs256 || true)
targets=()
if [ -n "$bare_cpu" ]; then
  for pair in same-token:1.10 rotate-10k:1.15 introspection:1.10; do
    name=${pair%%:*} limit=${pair#*:}
    cpu=$(cpu_of "$name" || true)
    [ -n "$cpu" ] || continue
    targets+=("$(awk -v n="$name" -v c="$cpu" -v b="$bare_cpu" -v l="$limit" 'BEGIN {
      printf "%-14s %.2f x bare (target <= %.2f): %s", n, c / b, l, (c / b <= l) ? "met" : "not met" }')$(paired "$name" ratio)")
  done
  if [ -n "$raw_cpu" ]; then
    for name in new-token bad-signature; do
      cpu=$(cpu_of "$name" || true)
      [ -n "$cpu" ] || continue
      targets+=("$(awk -v n="$name" -v c="$cpu" -v b="$bare_cpu" -v r="$raw_cpu" 'BEGIN {
        add = c - b; one = r - b
        printf "%-14s bare %+.2f us = %.2f x one RS256 check (raw-rs256 - bare = %.2f us; target <= 1.20): %s",
          n, add, add / one, one, (add <= 1.2 * one) ? "met" : "not met" }')$(paired "$name" raw)")
    done
  fi
fi
if [ "${#targets[@]}" -gt 0 ]; then
  echo
  echo "Targets of issue #12 (server CPU per request, medians of this run):"
  printf '  %s\n' "${targets[@]}"
fi
if [ "${#busy[@]}" -gt 0 ]; then
  echo
  echo "WARNING: other processes used the cores during these runs ($(printf '%s; ' "${busy[@]}" |
    sed 's/; $//')):" \
    "rates and latencies are not reliable, CPU per request less so. Run again on a quiet machine."
fi

if [ "$profile" = 1 ]; then
  for name in "${results[@]}"; do
    data=$(median_run "$name").perf.data
    [ -s "$data" ] || continue
    echo
    echo "perf record -g, $name: top 15 symbols by self time ($data)"
    # (awk reads to the end: `head` would close the pipe early, a failure under pipefail.)
    if ! perf report -i "$data" --no-children --sort symbol -g none --stdio 2>/dev/null |
      grep -E '^ +[0-9.]+%' | sed -E 's/[ -]*$//' | awk 'NR <= 15'; then
      echo "(perf report failed on $data)"
    fi
  done
  echo
  echo "(--profile: the figures above were taken with perf record attached)"
fi
