#!/usr/bin/env bash
# Bytes on disk against live bytes as a function of how many syncs the retention spans.
#
# Vacuum keeps every file removed less than the retention ago, so after many syncs a table
# holds its live files plus what the syncs (and their compactions) inside one retention window
# replaced. This runs SYNCS rounds, INTERVAL seconds apart, of a realistic 1 % change of an
# Observation table of SYNC_PATIENTS patients (bench/merge_change.mjs: 70 % new, 25 % updates and
# 5 % deletions in the newest 10 % of the time), each round synced by `fhirlake sync` (against
# `fhirlake serve` on loopback) into six warehouses: copy-on-write (the default) and
# --deletion-vectors, each with a retention that keeps the files replaced by 0, 1 and 3 syncs
# (0 s, INTERVAL/2 and 2.5 × INTERVAL, with --allow-short-retention; the default policy
# otherwise). Prints on disk / live after every round, and the mean of the last half.
# A retention of 7 days with hourly syncs spans 168 syncs.
#   bench/retention_bench.sh [SYNCS=12] [INTERVAL=8] [SYNC_PATIENTS=4000]
set -euo pipefail
cd "$(dirname "$0")/.."
syncs=${1:-12}
interval=${2:-8}
sync_patients=${3:-4000}
bin=$PWD/build/fhirlake
[ -x "$bin" ] || scripts/setup
work=$PWD/build/bench-retention
rm -rf "$work"; mkdir -p "$work"
. bench/common.sh

"$bin" generate "$work/source" --patients "$sync_patients" --seed 2 --resources-per-file 100000000 --quiet
find "$work/source" -name '*.ndjson' ! -name 'Observation.*' -delete
base=$(start_server "$work/serve.log" --source "$work/source" --work-dir "$work/serve-work" --retry-after 0)

# Each warehouse: a name, its retention and its merge flags.
names=() retentions=() flags=()
for strategy in cow dv; do
  for kept in 0 1 3; do
    names+=("$strategy-$kept")
    retentions+=("$(awk -v k="$kept" -v i="$interval" 'BEGIN { printf "%gs", k == 0 ? 0 : (k - 0.5) * i }')")
    if [ "$strategy" = dv ]; then flags+=(--deletion-vectors); else flags+=(""); fi
  done
done
sync_into() {  # INDEX
  local i=$1
  # shellcheck disable=SC2086
  "$bin" sync --source "$base" --warehouse "$work/wh-${names[$i]}" --types Observation --poll-interval 20ms --quiet \
    --retention "${retentions[$i]}" --allow-short-retention ${flags[$i]}
}
ratio() {  # INDEX: on disk / live of the Observation table
  "$bin" status "$work/wh-${names[$1]}" --json |
    node -e 'let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => {
      const t = JSON.parse(s).tables.find((t) => t.table === "Observation");
      console.log((t.diskBytes / t.liveBytes).toFixed(2)); })'
}

for i in "${!names[@]}"; do sync_into "$i"; done
declare -A figures
for round in $(seq "$syncs"); do
  echo "round $round of $syncs" >&2
  start=$(date +%s.%N)
  sleep 0.01  # the change's meta.lastUpdated is after the previous export's transactionTime
  node bench/merge_change.mjs source "$work/source/Observation.000.ndjson" "$work/source/deleted/Bundle.000.ndjson" \
    Observation 0.01 0.1 "$round" 2> /dev/null
  for i in "${!names[@]}"; do
    sync_into "$i"
    figures[$i,$round]=$(ratio "$i")
  done
  left=$(echo "$start + $interval - $(date +%s.%N)" | bc)
  if [ "$(echo "$left > 0" | bc)" = 1 ]; then sleep "$left"; else echo "round $round took longer than $interval s" >&2; fi
done

echo "== on disk / live bytes of Observation after each of $syncs syncs, $interval s apart ($sync_patients patients)"
printf '%-26s %-10s' "strategy" "retention"
for round in $(seq "$syncs"); do printf ' %5s' "#$round"; done
printf '   mean of the last %d\n' $(( (syncs + 1) / 2 ))
for i in "${!names[@]}"; do
  case ${names[$i]} in cow-*) label="copy-on-write" ;; *) label="deletion vectors" ;; esac
  label="$label, ${names[$i]##*-} kept"
  printf '%-26s %-10s' "$label" "${retentions[$i]}"
  sum=0 n=0
  for round in $(seq "$syncs"); do
    printf ' %5s' "${figures[$i,$round]}"
    if [ "$round" -gt $(( syncs / 2 )) ]; then sum=$(echo "$sum + ${figures[$i,$round]}" | bc); n=$((n + 1)); fi
  done
  awk -v s="$sum" -v n="$n" 'BEGIN { printf "   %.2f\n", s / n }'
done
