#!/usr/bin/env bash
# Export-to-S3 benchmark: ~SIZE_MB of generated NDJSON served by `fhirlake serve` on loopback,
# exported by `fhirlake export` into a local directory and, in the same run, into an S3 prefix
# of the loopback test server (s3rver from build/s3-node, which stores objects on this machine's
# disk). Prints MB/s, CPU seconds and peak RSS for each, and checks the S3 copy with the AWS SDK.
# What it measures: fhirlake's upload path (SigV4, multipart, the staging directory) against the
# same machine's disk; s3rver itself (Node.js) is part of the S3 figure. It does not measure AWS.
#   bench/s3_bench.sh [SIZE_MB=512] [PARALLEL=4]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-512}
parallel=${2:-4}
bin=$PWD/build/fhirlake
[ -x "$bin" ] && [ -d build/s3-node/node_modules/s3rver ] || scripts/setup
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (scripts/setup installs it)"; exit 1; }

work=$PWD/build/bench-s3
data=$work/data-$size_mb
mkdir -p "$work"
if [ ! -f "$data/.complete" ]; then
  rm -rf "$data"
  patients=$(( size_mb * 1024 * 1024 / 23500 ))  # ~23 KB of NDJSON per generated patient
  echo "generating ~${size_mb} MB ($patients patients)..."
  "$bin" generate "$data" --patients "$patients" --seed 1 --resources-per-file 200000 >/dev/null
  touch "$data/.complete"
fi
bytes=$(du -sb --exclude=.complete "$data" | cut -f1)

rm -rf "$work/s3-data"
export FHIRLAKE_S3_NODE_MODULES=$PWD/build/s3-node/node_modules
node --no-warnings --openssl-legacy-provider tests/support/s3rver_launcher.mjs --dir "$work/s3-data" \
  --bucket bench >"$work/s3.log" 2>&1 &
s3=$!
"$bin" serve --source "$data" --listen 127.0.0.1:0 >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server $s3 2>/dev/null; wait $server $s3 2>/dev/null || true' EXIT
for _ in $(seq 200); do grep -q 'listening on' "$work/serve.log" && grep -q port "$work/s3.log" && break; sleep 0.05; done
base=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/serve.log")
port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$work/s3.log")
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1

measure() {  # label, command...
  local label=$1; shift
  sync
  /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$@"
  read -r wall user sys rss < "$work/time.txt"
  awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$bytes" 'BEGIN {
    printf "%-28s %8.1f MB/s  %6.2f s wall  %6.2f s CPU  %8.1f MB peak RSS  (%.0f MB)\n",
           l, b / 1048576 / w, w, u + s, r / 1024, b / 1048576 }'
}

echo "data: $(( bytes / 1048576 )) MB in $(ls "$data" | wc -l) files; parallel $parallel"
rm -rf "$work/out-disk"
measure "export to disk" "$bin" export "$base" "$work/out-disk" --parallel "$parallel" --quiet --no-gzip
measure "export to s3:// (s3rver)" "$bin" export "$base" s3://bench/run1 --parallel "$parallel" --quiet --no-gzip \
  --staging "$work/staging"

# The AWS SDK reads the S3 copy back; it must equal the disk export byte for byte.
rm -rf "$work/readback"
node --no-warnings tests/support/s3_read.mjs sync bench run1/ "$work/readback"
for f in "$work"/out-disk/*.ndjson; do
  name=$(basename "$f")
  [ "$name" = log.ndjson ] && continue
  cmp -s "$f" "$work/readback/$name" || { echo "MISMATCH: $name"; exit 1; }
done
echo "S3 objects identical to the disk export (read back with @aws-sdk/client-s3)"
