#!/usr/bin/env bash
# Maintenance during syncs: a Patient table after SYNCS incremental `fhirlake sync` runs against
# `fhirlake serve` on loopback, each run bringing a small change (1 % of the patients with a
# new meta.lastUpdated), merged by copy-on-write (the default). Two warehouses: one synced with
# --no-maintenance, one with the default maintenance policy after every sync (compaction,
# checkpoint every 10 commits, vacuum after 7 days, log cleanup after 30 days). For each,
# prints what `fhirlake status` needs to open the table (wall time, log files read of those in
# the log) and bytes on disk against live bytes, after 10, 50, 100 and SYNCS syncs; for the first, also after `fhirlake maintain`
# with the default retention (7 days: nothing of this run is old enough) and with --retention 0s
# (as once the window has passed).
#   bench/sync_maintain_bench.sh [SYNCS=200] [PATIENTS=2000]
set -euo pipefail
cd "$(dirname "$0")/.."
syncs=${1:-200}
patients=${2:-2000}
bin=$PWD/build/fhirlake
[ -x "$bin" ] || scripts/setup
work=$PWD/build/bench-sync-maintain
rm -rf "$work"; mkdir -p "$work"
. bench/common.sh
"$bin" generate "$work/source" --patients "$patients" --seed 1 --quiet
base=$(start_server "$work/serve.log" --source "$work/source" --work-dir "$work/serve-work" --retry-after 0)
src=$(ls "$work"/source/Patient.*.ndjson | head -1)

sync_once() {  # WAREHOUSE FLAGS...
  local wh=$1; shift
  "$bin" sync --source "$base" --warehouse "$wh" --types Patient --poll-interval 20ms --quiet "$@"
}

for policy in no-maintenance default; do
  wh="$work/wh-$policy"
  flags=(); [ $policy = no-maintenance ] && flags=(--no-maintenance)
  sync_once "$wh" "${flags[@]}"
  start=$(date +%s.%N)
  for i in $(seq "$syncs"); do
    now=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
    awk -v now="$now" -v k="$i" '(NR + k) % 100 == 0 { sub(/"lastUpdated":"[^"]*"/, "\"lastUpdated\":\"" now "\"") } { print }' \
      "$src" > "$src.new"
    mv "$src.new" "$src"
    sync_once "$wh" "${flags[@]}"
    case $i in 10|50|100) table_figures "$wh" "after $i syncs, $policy" ;; esac
  done
  end=$(date +%s.%N)
  table_figures "$wh" "after $syncs syncs, $policy"
  awk -v s="$start" -v e="$end" -v n="$syncs" -v p="$policy" \
    'BEGIN { printf "%d syncs, %s: %.1f s (%.0f ms per sync, figures above included)\n", n, p, e - s, 1000 * (e - s) / n }'
done
"$bin" maintain "$work/wh-no-maintenance" --types Patient > "$work/maintain-default.txt"
table_figures "$work/wh-no-maintenance" "then fhirlake maintain (retention 7d)"
"$bin" maintain "$work/wh-no-maintenance" --types Patient --retention 0s --allow-short-retention > "$work/maintain-0s.txt"
table_figures "$work/wh-no-maintenance" "then fhirlake maintain --retention 0s"
"$bin" maintain "$work/wh-default" --types Patient --retention 0s --allow-short-retention > "$work/maintain-default-0s.txt"
table_figures "$work/wh-default" "default policy, then maintain --retention 0s"
