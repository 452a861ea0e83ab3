#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time, one after the other; prints, per
# target, the time run, the executions, the coverage reached and the crashes found.
#
#   fuzz/run.sh [seconds-per-target] [target...]    (default: 60 seconds, every target)
#
# Each run starts from the committed seeds (fuzz/corpus/<target>) plus what earlier runs added
# (fuzz/work/<target>, not committed). A crash or failed invariant stops that target's run,
# leaves its input in fuzz/artifacts/<target>/ and makes the script exit non-zero; reproduce
# it with `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>`.
#
# cargo-fuzz (installed from crates.io when missing) drives libFuzzer with unstable rustc
# flags; on a stable toolchain RUSTC_BOOTSTRAP=1 allows them, as here.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
export RUSTC_BOOTSTRAP=1
# The fuzz crate builds into fuzz/target, never into the crate's target directory.
unset CARGO_TARGET_DIR

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

build_start=$SECONDS
cargo fuzz build
echo "fuzz: built ${#targets[@]} targets in $((SECONDS - build_start))s"

mkdir -p fuzz/work
summary=()
failed=0
for target in "${targets[@]}"; do
  mkdir -p "fuzz/work/$target" "fuzz/artifacts/$target"
  log="fuzz/work/$target.log"
  start=$SECONDS
  status=0
  # New inputs go to the first directory (work); the seeds are only read. No leak detection:
  # the verifiers' caches keep allocations from one input to the next by design, and LeakSanitizer
  # would scan the heap after each of them (five times slower); -rss_limit_mb still bounds memory.
  cargo fuzz run "$target" "fuzz/work/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$secs" -timeout=10 -detect_leaks=0 -print_final_stats=1 >"$log" 2>&1 ||
    status=$?
  elapsed=$((SECONDS - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  coverage=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
  corpus=$(grep -Eo 'corp: [0-9]+' "$log" | tail -n 1 | grep -Eo '[0-9]+' || true)
  crashes=0
  if [ "$status" -ne 0 ]; then
    crashes=1
    failed=1
    echo "fuzz: $target FAILED (exit $status); last lines of $log:"
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|assertion|left|right' "$log" | head -n 20 || true
  fi
  summary+=("$(printf '%-14s %6ss %12s execs  %-22s corpus %-6s crashes %s' \
    "$target" "$elapsed" "${execs:-?}" "${coverage:-cov: ?}" "${corpus:-?}" "$crashes")")
done

echo
echo "fuzz: ${secs}s per target"
printf '%s\n' "${summary[@]}"
exit "$failed"
