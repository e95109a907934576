#!/usr/bin/env bash
# Sync benchmark: a full `fhirlake sync` of ~SIZE_MB of generated NDJSON served by
# `fhirlake serve` on loopback, then the source changes by 1 % (updated resources with a new
# meta.lastUpdated, 0.2 % deleted with deleted/ entries) and an incremental sync runs, merging
# by copy-on-write (the default) and, on a copy of the warehouse, with --deletion-vectors.
# Prints wall time, CPU seconds and peak RSS of each, and the incremental/full ratio.
#   bench/sync_bench.sh [SIZE_MB=1024]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1024}
bin=$PWD/build/fhirlake
[ -x "$bin" ] || scripts/setup
work=$PWD/build/bench-sync
rm -rf "$work"; mkdir -p "$work"
. bench/common.sh
data=$(bench_data "$size_mb")
cp -r "$data" "$work/source"   # this copy is changed below; the generated data stays as it is
rm -f "$work/source/.complete"

base=$(start_server "$work/serve.log" --source "$work/source" --work-dir "$work/serve-work")
echo "source: $(du -sm "$work/source" | cut -f1) MB of NDJSON"
/usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$bin" sync --source "$base" --warehouse "$work/wh" --quiet --poll-interval 100ms
report "full sync (first run)"
read -r full_wall _ < "$work/time.txt"

# 1 % of every file gets a new meta.lastUpdated; 0.2 % is deleted.
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
mkdir -p "$work/source/deleted"
for f in "$work"/source/*.ndjson; do
  awk -v now="$now" -v del="$work/source/deleted/Bundle.000.ndjson" '
    NR % 500 == 50 {
      match($0, /"resourceType":"[A-Za-z]+"/); t = substr($0, RSTART + 16, RLENGTH - 17)
      match($0, /"id":"[^"]*"/); i = substr($0, RSTART + 6, RLENGTH - 7)
      printf "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"meta\":{\"lastUpdated\":\"%s\"},\"entry\":[{\"request\":{\"method\":\"DELETE\",\"url\":\"%s/%s\"}}]}\n", now, t, i >> del
      next
    }
    NR % 100 == 0 { sub(/"lastUpdated":"[^"]*"/, "\"lastUpdated\":\"" now "\"") }
    { print }' "$f" > "$f.new"
  mv "$f.new" "$f"
done
sleep 1   # the change must be later than the first export's transactionTime
cp -r "$work/wh" "$work/wh-dv"
for strategy in copy-on-write deletion-vectors; do
  if [ $strategy = copy-on-write ]; then flags=(); wh="$work/wh"; else flags=(--deletion-vectors); wh="$work/wh-dv"; fi
  /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$bin" sync --source "$base" --warehouse "$wh" --json --poll-interval 100ms "${flags[@]}" \
    > "$work/summary-$strategy.json"
  report "incremental sync, $strategy"
  read -r wall _ < "$work/time.txt"
  awk -v m="$wall" -v f="$full_wall" 'BEGIN { printf "  = %.1f %% of the full sync (wall time)\n", 100 * m / f }'
  node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
           console.log(`  ${s.resources} resources exported, ${s.inserted} inserted, ${s.updated} updated, ${s.deleted} deleted`)' \
    "$work/summary-$strategy.json" 2>/dev/null || true
done
