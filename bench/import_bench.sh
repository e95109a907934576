#!/usr/bin/env bash
# Import server load check: `fhirlake serve --warehouse` (B) pulls ~SIZE_MB from a
# `fhirlake serve --source` (A) with $import-pnp, once alone and once while 200 clients poll
# the job's status URL (each honouring Retry-After, at most 1 s). Prints the job's duration
# both times (and the slowdown), and the pollers' requests/s and p50/p99 latency.
#   bench/import_bench.sh [SIZE_MB=200] [POLLERS=200]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-200}
pollers=${2:-200}
bin=$PWD/build/fhirlake
[ -x "$bin" ] || scripts/setup
work=$PWD/build/bench-import
rm -rf "$work"; mkdir -p "$work"
. bench/common.sh
data=$(bench_data "$size_mb")
a=$(start_server "$work/a.log" --source "$data" --work-dir "$work/a-work")
params='{"resourceType":"Parameters","parameter":[{"name":"exportUrl","valueUrl":"'$a'"},{"name":"saveMode","valueCode":"overwrite"}]}'

run_job() {  # label, with_pollers
  local b
  b=$(start_server "$work/b-$1.log" --warehouse "$work/wh-$1" --allow-source "$a")
  local t0 location
  t0=$(date +%s.%N)
  location=$(curl -s -i -X POST "$b/\$import-pnp" -H 'Content-Type: application/fhir+json' -H 'Prefer: respond-async' \
    --data "$params" | grep -i '^content-location:' | tr -d '\r' | cut -d' ' -f2)
  rm -f "$work/stop"
  if [ "$2" = yes ]; then
    node bench/pollers.mjs "$location" "$pollers" "$work/stop" > "$work/pollers.json" &
    local poll_pid=$!
  fi
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$location")" = 200 ]; do sleep 0.1; done
  local t1
  t1=$(date +%s.%N)
  touch "$work/stop"
  [ "$2" = yes ] && wait $poll_pid
  awk -v a="$t0" -v b="$t1" -v l="$1" 'BEGIN { printf "%-24s job took %.2f s\n", l, b - a }'
  echo "$t0 $t1" > "$work/time-$1"
}
run_job alone no
run_job "with $pollers pollers" yes
read -r a0 a1 < "$work/time-alone"
read -r p0 p1 < "$work/time-with $pollers pollers"
awk -v a0="$a0" -v a1="$a1" -v p0="$p0" -v p1="$p1" \
  'BEGIN { a = a1 - a0; p = p1 - p0; printf "slowdown with pollers: %.1f %%\n", 100 * (p - a) / a }'
node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
         console.log(`pollers: ${s.requests} requests, ${s.rps.toFixed(0)} req/s, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, ${s.errors} errors`)' \
  "$work/pollers.json"
