#!/usr/bin/env bash
# Load benchmark: `fhirlake load` of generated NDJSON into Delta tables, side by side with
# DuckDB converting the same files (read_json_auto → Parquet, ZSTD). Prints MB/s, CPU seconds
# and peak RSS. Uses the data of bench/export_bench.sh (generated on first use).
#   bench/load_bench.sh [SIZE_MB=1024] [TYPES=Patient,Encounter]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1024}
types=${2:-Patient,Encounter}
bin=$PWD/build/fhirlake
work=$PWD/build/bench-load
data=$PWD/build/bench-export/data-$size_mb
[ -x "$bin" ] && [ -f build/duckdb-node/query.mjs ] || scripts/setup
if [ ! -f "$data/.complete" ]; then
  mkdir -p "$(dirname "$data")"
  "$bin" generate "$data" --patients $(( size_mb * 1024 * 1024 / 23500 )) --seed 1 --resources-per-file 200000
  touch "$data/.complete"
fi
rm -rf "$work"; mkdir -p "$work/in"
IFS=, read -ra list <<< "$types"
for t in "${list[@]}"; do ln -s "$data"/"$t".*.ndjson "$work/in/"; done
bytes=$(cat "$work"/in/*.ndjson | wc -c)

report() {  # label
  read -r wall user sys rss < "$work/time.txt"
  awk -v l="$1" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$bytes" 'BEGIN {
    printf "%-28s %7.1f MB/s  %6.2f s wall  %6.2f s CPU  %7.1f MB peak RSS\n", l, b / 1048576 / w, w, u + s, r / 1024 }'
}
echo "input: $(( bytes / 1048576 )) MB of NDJSON ($types)"
/usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$bin" load "$work/in" "$work/warehouse" --mode overwrite --quiet
report "fhirlake load"
files=$(ls "$work"/in/*.ndjson | sed "s/.*/'&'/" | paste -sd,)
/usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" node build/duckdb-node/query.mjs \
  "COPY (SELECT * FROM read_json_auto([$files], maximum_object_size=134217728)) TO '$work/duck.parquet' (FORMAT parquet, COMPRESSION zstd)" >/dev/null
report "DuckDB read_json_auto→Parquet"
