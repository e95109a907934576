#!/usr/bin/env bash
# Import server load check: `fhirlake serve --warehouse` (B) pulls ~SIZE_MB from a
# `fhirlake serve --source` (A) with $import-pnp, alone and while POLLERS clients poll the job's
# status URL (each honouring Retry-After, at most 1 s; build/bench/pollers, one libcurl multi
# handle). Alternates the two ROUNDS times on a fresh warehouse each, and prints each pair with
# B's CPU seconds, the median slowdown, and the pollers' requests/s and p50/p99 latency.
# B_ARGS adds options to B, e.g. B_ARGS="--keep-alive-requests 100" to compare keep-alive.
#   [B_ARGS=...] bench/import_bench.sh [SIZE_MB=200] [POLLERS=200] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-200}
pollers=${2:-200}
rounds=${3:-3}
bin=$PWD/build/fhirlake
[ -x "$bin" ] && [ -x build/bench/pollers ] || scripts/setup
work=$PWD/build/bench-import
rm -rf "$work"; mkdir -p "$work"
. bench/common.sh
data=$(bench_data "$size_mb")
a=$(start_server "$work/a.log" --source "$data" --work-dir "$work/a-work")
params='{"resourceType":"Parameters","parameter":[{"name":"exportUrl","valueUrl":"'$a'"},{"name":"saveMode","valueCode":"overwrite"}]}'

# run_job LABEL WITH_POLLERS: prints the job's duration and B's CPU time, in seconds.
run_job() {
  rm -rf "$work/wh"
  local b t0 t1 location poll_pid=
  # shellcheck disable=SC2086  # B_ARGS is a list of options
  b=$(start_server "$work/b-$1.log" --warehouse "$work/wh" --allow-source "$a" ${B_ARGS:-})
  t0=$(date +%s.%N)
  location=$(curl -s -i -X POST "$b/\$import-pnp" -H 'Content-Type: application/fhir+json' -H 'Prefer: respond-async' \
    --data "$params" | grep -i '^content-location:' | tr -d '\r' | cut -d' ' -f2)
  rm -f "$work/stop"
  if [ "$2" = yes ]; then
    build/bench/pollers "$location" "$pollers" "$work/stop" > "$work/pollers-$1.json" &
    poll_pid=$!
  fi
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$location")" = 200 ]; do sleep 0.1; done
  t1=$(date +%s.%N)
  touch "$work/stop"
  [ -n "$poll_pid" ] && wait "$poll_pid"
  local b_pid cpu
  b_pid=$(tail -1 "$work/pids")
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$b_pid/stat")
  kill "$b_pid"
  awk -v a="$t0" -v b="$t1" -v c="$cpu" 'BEGIN { printf "%.3f %s\n", b - a, c }'
}

for r in $(seq "$rounds"); do
  read -r alone alone_cpu < <(run_job "alone-$r" no)
  read -r with with_cpu < <(run_job "polled-$r" yes)
  awk -v r="$r" -v a="$alone" -v p="$with" -v n="$pollers" -v ac="$alone_cpu" -v pc="$with_cpu" \
    'BEGIN { printf "round %d: job alone %.2f s (B %.2f CPU-s), with %d pollers %.2f s (B %.2f CPU-s): %+.1f %%\n",
             r, a, ac, n, p, pc, 100 * (p - a) / a }'
  node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
           console.log(`         pollers: ${s.requests} requests, ${s.rps.toFixed(0)} req/s, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, ${s.errors} errors`)' \
    "$work/pollers-polled-$r.json"
  echo "$alone $with" >> "$work/rounds"
done
awk '{ print 100 * ($2 - $1) / $1 }' "$work/rounds" | sort -n |
  awk '{ v[NR] = $1 } END { printf "median slowdown with pollers: %.1f %% (of %d rounds)\n", v[int((NR + 1) / 2)], NR }'
