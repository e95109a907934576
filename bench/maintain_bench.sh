#!/usr/bin/env bash
# Maintenance benchmark: a Patient table after MERGES incremental merges (each 1 % of the rows
# updated with a new meta.lastUpdated), by copy-on-write, the default. Prints, before and after
# `fhirlake maintain` (retention 0, as if the window had passed): the time `fhirlake status`
# takes to open the table, the log files it reads, bytes on disk against live bytes.
#   bench/maintain_bench.sh [MERGES=200] [PATIENTS=2000]
set -euo pipefail
cd "$(dirname "$0")/.."
merges=${1:-200}
patients=${2:-2000}
bin=$PWD/build/fhirlake
[ -x "$bin" ] || scripts/setup
work=$PWD/build/bench-maintain
rm -rf "$work"; mkdir -p "$work"
"$bin" generate "$work/data" --patients "$patients" --seed 1 --quiet
mkdir -p "$work/export"
"$bin" load "$work/data" "$work/wh" --types Patient --mode overwrite >/dev/null
. bench/common.sh
figures() { table_figures "$work/wh" "$1"; }
figures "after the first load"
src=$(ls "$work"/data/Patient.*.ndjson | head -1)
for i in $(seq "$merges"); do
  now=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
  awk -v now="$now" -v k="$i" '(NR + k) % 100 == 0 { sub(/"lastUpdated":"[^"]*"/, "\"lastUpdated\":\"" now "\""); print }' \
    "$src" > "$work/export/Patient.000.ndjson"
  "$bin" load "$work/export" "$work/wh" --types Patient --mode merge >/dev/null
done
figures "after $merges merges"
"$bin" maintain "$work/wh" --retention 0s --allow-short-retention > "$work/maintain.txt"
tail -1 "$work/maintain.txt"
figures "after maintain"
