#!/usr/bin/env bash
# Query-time effect of the Delta file statistics fhirlake writes (add.stats). Builds an
# Observation table of many files the way incremental syncs do: N (default 40) merges, each of
# the next slice of Observations in meta.lastUpdated order, so each merge adds a file of later
# changes. Then DuckDB (no delta extension here: it reads the Parquet files) runs
#   SELECT count(*) FROM read_parquet([files]) WHERE id = X
#   SELECT count(*) FROM read_parquet([files]) WHERE meta.lastUpdated > T
# over every live file, and over only the files whose add.stats admit X / T (what a Delta
# engine's file skipping reads), and prints both medians. DuckDB also skips row groups by the
# Parquet footers' statistics in both cases, so the difference is what the Delta stats add.
#   bench/stats_pruning_bench.sh [OBSERVATIONS=400000] [LOADS=40]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-400000}
loads=${2:-40}
bin=$PWD/build/fhirlake
work=$PWD/build/bench-pruning
[ -x "$bin" ] && [ -d build/duckdb-node/node_modules ] || scripts/setup
rm -rf "$work"; mkdir -p "$work"
"$bin" generate "$work/gen" --patients $(( count / 22 + 100 )) --seed 1 --resources-per-file 1000000 >/dev/null
awk -v n="$count" 'FNR == 1 && NR > n { exit } NR <= n' "$work"/gen/Observation.*.ndjson |
  python3 -c '
import json, sys
rows = [(json.loads(l)["meta"]["lastUpdated"], l) for l in sys.stdin]
rows.sort(key=lambda r: r[0])
sys.stdout.writelines(l for _, l in rows)' > "$work/sorted.ndjson"
rm -rf "$work/gen"
per=$(( (count + loads - 1) / loads ))
split -l "$per" -d -a 3 "$work/sorted.ndjson" "$work/slice."
for s in "$work"/slice.*; do
  mkdir -p "$s.d"; mv "$s" "$s.d/Observation.000.ndjson"
  "$bin" load "$s.d" "$work/warehouse" --quiet
done
table=$work/warehouse/Observation
echo "table: $(ls "$table"/*.parquet | wc -l) data files, $(du -sm "$table" | cut -f1) MB, $count Observations in $loads merges"
# An id from the middle of the 7th slice, and the instant 90 % through the data.
id=$(sed -n "$(( per * 6 + per / 2 ))p" "$work/sorted.ndjson" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["id"])')
after=$(sed -n "$(( count * 9 / 10 ))p" "$work/sorted.ndjson" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["meta"]["lastUpdated"])')
ln -sfn "$(readlink -f build/duckdb-node/node_modules)" "$work/node_modules"  # resolves @duckdb/node-api
cp bench/stats_pruning.mjs "$work/stats_pruning.mjs"
node "$work/stats_pruning.mjs" "$table" "$id" "$after" "${RUNS:-7}"
