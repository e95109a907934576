#!/usr/bin/env bash
# Copy-on-write merges of a realistic change against a full load, with the recency layout
# (recent rows in small files; see README, "Merges and the file layout").
#
# Part 1: an Observation table of PATIENTS generated patients is loaded in full (timed), then
# merged (copy-on-write, the default) with 1 % of its rows changed, each merge on a copy of
# the fully loaded table:
#   realistic  70 % new resources, 25 % updates and 5 % deletions of resources whose
#              meta.lastUpdated lies in the newest 10 % of the time the table spans
#   uniform    the same mix, updates and deletions spread over all rows (the worst case)
# both with the default layout and with --recent-file-mb 0 (no recent files: the layout before).
# Prints wall and CPU seconds, the share of the full load, and what the merge commit removed
# and added.
#
# Part 2: SYNCS incremental `fhirlake sync`s of an Observation table of SYNC_PATIENTS patients
# against `fhirlake serve` on loopback, each bringing a realistic 1 % change, with the default
# maintenance policy (retention 7 days); then bytes on disk against live bytes, the time
# `fhirlake status` takes and the log files it reads; then the same after `fhirlake maintain
# --retention 0s`, which is what the default policy does once 7 days have passed. A second
# warehouse gets the same syncs with --deletion-vectors, for comparison.
#   bench/merge_layout_bench.sh [PATIENTS=20000] [SYNCS=50] [SYNC_PATIENTS=4000]
set -euo pipefail
cd "$(dirname "$0")/.."
patients=${1:-20000}
syncs=${2:-50}
sync_patients=${3:-4000}
bin=$PWD/build/fhirlake
[ -x "$bin" ] || scripts/setup
work=$PWD/build/bench-merge-layout
rm -rf "$work"; mkdir -p "$work"
. bench/common.sh

# commit_figures TABLE_ROOT: what the table's newest commit removed and added.
commit_figures() {
  node -e 'const fs = require("fs"), dir = process.argv[1] + "/_delta_log";
    const last = fs.readdirSync(dir).filter((f) => /^\d{20}\.json$/.test(f)).sort().pop();
    let rm = 0, rmBytes = 0, add = 0, addBytes = 0, info = {};
    for (const line of fs.readFileSync(dir + "/" + last, "utf8").split("\n").filter(Boolean)) {
      const a = JSON.parse(line);
      if (a.remove) { rm++; rmBytes += a.remove.size || 0; }
      if (a.add) { add++; addBytes += a.add.size; }
      if (a.commitInfo) info = a.commitInfo;
    }
    const mb = (b) => (b / 1048576).toFixed(1);
    console.log(`    removed ${rm} files (${mb(rmBytes)} MB), added ${add} (${mb(addBytes)} MB), ` +
                `${info.numCopiedRows ?? "?"} rows copied, ${info.numTargetRowsInserted ?? "?"} inserted, ` +
                `${info.numTargetRowsUpdated ?? "?"} updated, ${info.numTargetRowsDeleted ?? "?"} deleted`);' "$1"
}
# layout TABLE_ROOT: the table's data files, sizes in MB, oldest first.
layout() {
  node -e 'const fs = require("fs"), dir = process.argv[1] + "/_delta_log", live = new Map();
    for (const f of fs.readdirSync(dir).filter((f) => /^\d{20}\.json$/.test(f)).sort())
      for (const line of fs.readFileSync(dir + "/" + f, "utf8").split("\n").filter(Boolean)) {
        const a = JSON.parse(line);
        if (a.add) live.set(a.add.path, a.add); if (a.remove) live.delete(a.remove.path);
      }
    const files = [...live.values()].map((a) => ({ mb: a.size / 1048576, s: JSON.parse(a.stats || "{}") }))
      .sort((x, y) => String(x.s.minValues?.meta?.lastUpdated).localeCompare(String(y.s.minValues?.meta?.lastUpdated)));
    console.log(`    ${files.length} files: ` + files.map((f) => `${f.mb.toFixed(1)} MB (${f.s.numRecords} rows, ` +
      `${(f.s.minValues?.meta?.lastUpdated ?? "?").slice(0, 10)}..${(f.s.maxValues?.meta?.lastUpdated ?? "?").slice(0, 10)})`).join(", "));' "$1"
}
# share LABEL: the last timing as a share of the full load's.
share() {
  read -r wall user sys rss < "$work/time.txt"
  awk -v l="$1" -v w="$wall" -v c="$(echo "$user + $sys" | bc)" -v fw="$full_wall" -v fc="$full_cpu" 'BEGIN {
    printf "%-34s %7.2f s wall  %6.2f s CPU  = %4.1f %% of the full load wall, %4.1f %% of its CPU\n", l, w, c, 100 * w / fw, 100 * c / fc }'
}

echo "== Part 1: one merge of a 1 % change vs a full load ($patients patients, Observation)"
"$bin" generate "$work/gen" --patients "$patients" --seed 1 --resources-per-file 100000000 --quiet
src=$work/gen/Observation.000.ndjson
echo "source: $(wc -l < "$src") Observations, $(( $(stat -c %s "$src") / 1048576 )) MB of NDJSON"
for kind in realistic uniform; do
  recent=0.1; [ $kind = uniform ] && recent=1
  node bench/merge_change.mjs export "$src" "$work/change-$kind" Observation 0.01 $recent 7
done
for layout in default none; do
  flags=(); [ $layout = none ] && flags=(--recent-file-mb 0)
  /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" \
    "$bin" load "$work/gen" "$work/wh-$layout" --types Observation --mode overwrite "${flags[@]}" >> "$work/load.log" 2>&1
  report "full load, layout $layout"
  read -r full_wall user sys rss < "$work/time.txt"; full_cpu=$(echo "$user + $sys" | bc)
  layout "$work/wh-$layout/Observation"
  for kind in realistic uniform; do
    rm -rf "$work/wh-copy"; cp -r "$work/wh-$layout" "$work/wh-copy"
    /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" \
      "$bin" load "$work/change-$kind" "$work/wh-copy" --mode merge "${flags[@]}" >> "$work/load.log" 2>&1
    share "merge $kind, layout $layout"
    commit_figures "$work/wh-copy/Observation"
  done
done
rm -rf "$work/wh-copy"

echo
echo "== Part 2: $syncs syncs of a realistic 1 % change each ($sync_patients patients, Observation), default policy"
"$bin" generate "$work/source" --patients "$sync_patients" --seed 2 --resources-per-file 100000000 --quiet
find "$work/source" -name '*.ndjson' ! -name 'Observation.*' -delete
base=$(start_server "$work/serve.log" --source "$work/source" --work-dir "$work/serve-work" --retry-after 0)
wh=$work/wh-sync
wh_dv=$work/wh-sync-dv
sync_once() {  # WAREHOUSE FLAGS...
  local into=$1; shift
  "$bin" sync --source "$base" --warehouse "$into" --types Observation --poll-interval 20ms --quiet "$@"
}
sync_once "$wh"
sync_once "$wh_dv" --deletion-vectors
layout "$wh/Observation"
spent=0
for i in $(seq "$syncs"); do
  sleep 0.01  # the change's meta.lastUpdated is after the previous export's transactionTime
  node bench/merge_change.mjs source "$work/source/Observation.000.ndjson" "$work/source/deleted/Bundle.000.ndjson" \
    Observation 0.01 0.1 "$i" 2> /dev/null
  start=$(date +%s.%N)
  sync_once "$wh"
  spent=$(echo "$spent + $(date +%s.%N) - $start" | bc)
  sync_once "$wh_dv" --deletion-vectors
  case $i in 10|25)
    table_figures "$wh" "after $i syncs" Observation
    table_figures "$wh_dv" "after $i syncs, deletion vectors" Observation ;;
  esac
done
awk -v t="$spent" -v n="$syncs" 'BEGIN { printf "%d syncs: %.1f s (%.0f ms per sync)\n", n, t, 1000 * t / n }'
table_figures "$wh" "after $syncs syncs (default policy, 7d)" Observation
table_figures "$wh_dv" "after $syncs syncs, deletion vectors" Observation
layout "$wh/Observation"
"$bin" maintain "$wh" --types Observation --retention 0s --allow-short-retention > /dev/null
table_figures "$wh" "then maintain --retention 0s" Observation
"$bin" maintain "$wh_dv" --types Observation --retention 0s --allow-short-retention > /dev/null
table_figures "$wh_dv" "deletion vectors, then maintain --retention 0s" Observation
