#!/usr/bin/env bash
# Export benchmark: ~SIZE_MB of generated NDJSON served by `fhirlake serve` on loopback, fetched
# by `fhirlake export` and, in the same run, by plain curl (the practical limit) with the same
# parallelism. Prints MB/s, CPU seconds and peak RSS for each, and the export's peak RSS for a
# smaller subset to show memory does not grow with export size.
#   bench/export_bench.sh [SIZE_MB=1024] [PARALLEL=4]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1024}
parallel=${2:-4}
bin=$PWD/build/fhirlake
[ -x "$bin" ] || scripts/setup
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (scripts/setup installs it)"; exit 1; }

work=$PWD/build/bench-export
data=$work/data-$size_mb
mkdir -p "$work"
if [ ! -f "$data/.complete" ]; then
  rm -rf "$data"
  # ~23 KB of NDJSON per generated patient
  patients=$(( size_mb * 1024 * 1024 / 23500 ))
  echo "generating ~${size_mb} MB ($patients patients)..."
  /usr/bin/time -f "generate: %e s wall, %U+%S s CPU, %M KB peak RSS" \
    "$bin" generate "$data" --patients "$patients" --seed 1 --resources-per-file 200000
  touch "$data/.complete"
fi
bytes=$(du -sb --exclude=.complete "$data" | cut -f1)

log=$work/serve.log
"$bin" serve --source "$data" --listen 127.0.0.1:0 --work-dir "$work/serve-work" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 200); do grep -q 'listening on' "$log" && break; sleep 0.05; done
base=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$log")

measure() {  # label, out dir, command...
  local label=$1 out=$2; shift 2
  rm -rf "$out"; mkdir -p "$out"
  sync
  /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$@"
  read -r wall user sys rss < "$work/time.txt"
  local got
  got=$(du -sb "$out" | cut -f1)
  awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$got" 'BEGIN {
    printf "%-34s %8.1f MB/s  %6.2f s wall  %6.2f s CPU  %8.1f MB peak RSS  (%.0f MB)\n",
           l, b / 1048576 / w, w, u + s, r / 1024, b / 1048576 }'
}

echo "data: $(( bytes / 1048576 )) MB in $(ls "$data" | wc -l) files; parallel $parallel; server $base"
measure "fhirlake export" "$work/out-fhirlake" \
  "$bin" export "$base" "$work/out-fhirlake" --parallel "$parallel" --quiet --no-gzip

# The download phase alone (manifest to last file), from the export's own log.
sed -n 's/.*"bytes":\([0-9]*\),"duration":\([0-9]*\).*"export_complete".*/\1 \2/p' "$work/out-fhirlake/log.ndjson" |
  awk '{ printf "%-34s %8.1f MB/s  %6.2f s (kick-off and server wait excluded; files fdatasync-ed)\n",
         "fhirlake export, download phase", $1 / 1048576 / ($2 / 1000), $2 / 1000 }'

# The same file URLs, fetched by curl processes with the same parallelism (no fsync).
grep -o '"url": *"[^"]*"' "$work/out-fhirlake/manifest.json" | sed 's/"url": *"\(.*\)"/\1/' > "$work/urls.txt"
fetch_all() { cd "$1" && xargs -P "$3" -n 1 curl -sSfO < "$2"; }
export -f fetch_all
measure "curl (xargs -P $parallel, per process)" "$work/out-curl" bash -c "fetch_all $work/out-curl $work/urls.txt $parallel"

for f in "$work"/out-curl/*; do
  cmp -s "$f" "$work/out-fhirlake/$(basename "$f")" || { echo "MISMATCH: $(basename "$f")"; exit 1; }
done
echo "files identical between fhirlake and curl"

measure "fhirlake export, Patient only" "$work/out-small" \
  "$bin" export "$base" "$work/out-small" --type Patient --parallel "$parallel" --quiet --no-gzip
