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
work=$PWD/build/bench-s3
. bench/s3_loopback.sh
prepare_data

rm -rf "$work/s3-data"
start_loopback

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
