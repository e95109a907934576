#!/usr/bin/env bash
# Sync-to-S3 benchmark: ~SIZE_MB of generated NDJSON served by `fhirlake serve` on loopback and
# synced by `fhirlake sync` into a directory warehouse and, in the same run, into an s3://
# warehouse on the loopback test server (s3rver from build/s3-node, storing on this machine's
# disk). Prints MB/s of source NDJSON, CPU seconds and peak RSS for each, and checks that the S3
# tables (downloaded with the AWS SDK) hold as many rows as the directory's (DuckDB).
# What it measures: fhirlake's warehouse path over the store (multipart data files, ranged
# reads, put-if-absent commits, the archive upload) against the same machine's disk; s3rver
# (Node.js) is part of the S3 figure. It does not measure AWS.
#   bench/sync_s3_bench.sh [SIZE_MB=256]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-256}
bin=$PWD/build/fhirlake
work=$PWD/build/bench-sync-s3
. bench/s3_loopback.sh
prepare_data

rm -rf "$work/s3-data" "$work/wh-disk" "$work/work" "$work/readback"
start_loopback

echo "data: $(( bytes / 1048576 )) MB in $(ls "$data" | wc -l) files"
measure "sync to disk" "$bin" sync --source "$base" --warehouse "$work/wh-disk" --poll-interval 100ms --quiet
measure "sync to s3:// (s3rver)" "$bin" sync --source "$base" --warehouse s3://bench/wh --work-dir "$work/work" \
  --poll-interval 100ms --quiet

# The AWS SDK downloads the S3 warehouse; DuckDB counts the rows of both copies' Patient tables.
node --no-warnings tests/support/s3_read.mjs sync bench wh/ "$work/readback"
count() {  # the tests' Delta reader (log replay) with DuckDB over the Parquet files
  node --no-warnings build/duckdb-node/query.mjs "SELECT count(*) AS n FROM t" "t=$1" | sed -n 's/.*"n":"\{0,1\}\([0-9]*\).*/\1/p'
}
disk_rows=$(count "$work/wh-disk/Patient" || echo "?")
s3_rows=$(count "$work/readback/Patient" || echo "?")
echo "Patient rows: $disk_rows in the directory warehouse, $s3_rows in the S3 warehouse (read back with @aws-sdk/client-s3)"
