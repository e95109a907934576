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
figures() {
  local start end
  start=$(date +%s.%N)
  "$bin" status "$work/wh" --json > "$work/status.json"
  end=$(date +%s.%N)
  node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).tables.find((t) => t.table === "Patient");
           const ms = (Number(process.argv[3]) - Number(process.argv[2])) * 1000;
           console.log(`${process.argv[4].padEnd(28)} version ${s.version}, status ${ms.toFixed(0)} ms, ` +
                       `log files read ${s.logFilesRead} of ${s.logFiles}, ` +
                       `on disk ${(s.diskBytes / 1048576).toFixed(1)} MB vs live ${(s.liveBytes / 1048576).toFixed(1)} MB ` +
                       `(${(s.diskBytes / s.liveBytes).toFixed(2)}x), ${s.rows} rows in ${s.files} files`)' \
    "$work/status.json" "$start" "$end" "$1"
}
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
