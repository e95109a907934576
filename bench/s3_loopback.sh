# Sourced by the S3 benchmarks (after `cd` to the repository root, with $bin, $size_mb and
# $work set). `prepare_data` generates ~$size_mb MB of NDJSON once into $data and sets $bytes;
# `start_loopback` starts the loopback S3 test server (s3rver, bucket `bench`, objects under
# $work/s3-data) and `fhirlake serve --source $data`, sets $base (the FHIR base) and the AWS_*
# variables for the server, and stops both on exit; `measure LABEL CMD...` prints MB/s of
# $bytes, wall and CPU seconds and peak RSS of CMD.
[ -x "$bin" ] && [ -d build/s3-node/node_modules/s3rver ] || scripts/setup
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (scripts/setup installs it)"; exit 1; }

prepare_data() {
  data=$work/data-$size_mb
  mkdir -p "$work"
  if [ ! -f "$data/.complete" ]; then
    rm -rf "$data"
    local patients=$(( size_mb * 1024 * 1024 / 23500 ))  # ~23 KB of NDJSON per generated patient
    echo "generating ~${size_mb} MB ($patients patients)..."
    "$bin" generate "$data" --patients "$patients" --seed 1 --resources-per-file 200000 >/dev/null
    touch "$data/.complete"
  fi
  bytes=$(du -sb --exclude=.complete "$data" | cut -f1)
}

start_loopback() {
  export FHIRLAKE_S3_NODE_MODULES=$PWD/build/s3-node/node_modules
  node --no-warnings --openssl-legacy-provider tests/support/s3rver_launcher.mjs --dir "$work/s3-data" \
    --bucket bench >"$work/s3.log" 2>&1 &
  s3=$!
  "$bin" serve --source "$data" --listen 127.0.0.1:0 >"$work/serve.log" 2>&1 &
  server=$!
  trap 'kill $server $s3 2>/dev/null; wait $server $s3 2>/dev/null || true' EXIT
  for _ in $(seq 200); do grep -q 'listening on' "$work/serve.log" && grep -q port "$work/s3.log" && break; sleep 0.05; done
  base=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/serve.log")
  local port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$work/s3.log")
  export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
}

measure() {  # label, command...
  local label=$1; shift
  sync
  /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$@"
  read -r wall user sys rss < "$work/time.txt"
  awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$bytes" 'BEGIN {
    printf "%-28s %8.1f MB/s  %6.2f s wall  %6.2f s CPU  %8.1f MB peak RSS  (%.0f MB)\n",
           l, b / 1048576 / w, w, u + s, r / 1024, b / 1048576 }'
}
