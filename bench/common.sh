# Shared by the benchmark scripts (source it after `cd` to the project root and setting `bin`
# and `work`).

# bench_data SIZE_MB: prints the directory of ~SIZE_MB of generated NDJSON, generating it on
# first use (deterministic: seed 1, 200,000 resources per file; ~23.5 KB per patient).
bench_data() {
  local data=$PWD/build/bench-export/data-$1
  if [ ! -f "$data/.complete" ]; then
    mkdir -p "$(dirname "$data")"
    "$bin" generate "$data" --patients $(( $1 * 1024 * 1024 / 23500 )) --seed 1 --resources-per-file 200000 >&2
    touch "$data/.complete"
  fi
  echo "$data"
}

# start_server LOG ARGS...: starts `fhirlake serve --listen 127.0.0.1:0 ARGS...` and prints its
# FHIR base. Its PID goes to $work/pids (this runs in command substitutions, so a shell
# variable would be lost); the EXIT trap below stops every server started.
start_server() {
  local log=$1; shift
  "$bin" serve --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
  echo $! >> "$work/pids"
  for _ in $(seq 200); do grep -q 'listening on' "$log" && break; sleep 0.05; done
  sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$log"
}
trap 'pids=$(cat "$work/pids" 2>/dev/null || true); [ -z "$pids" ] || kill $pids 2>/dev/null || true; wait 2>/dev/null || true' EXIT

# report LABEL: one line from the `/usr/bin/time -f "%e %U %S %M" -o $work/time.txt` figures.
report() {
  read -r wall user sys rss < "$work/time.txt"
  awk -v l="$1" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    printf "%-34s %7.2f s wall  %6.2f s CPU  %7.1f MB peak RSS\n", l, w, u + s, r / 1024 }'
}

# table_figures WAREHOUSE LABEL [TABLE]: how `fhirlake status` sees WAREHOUSE's TABLE (default Patient): the time
# it takes (process start included), the log files opening the table listed and read of those in its log,
# bytes on disk against live bytes.
table_figures() {
  local start end
  start=$(date +%s.%N)
  "$bin" status "$1" --json > "$work/status.json"
  end=$(date +%s.%N)
  node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).tables.find((t) => t.table === process.argv[5]);
           const ms = (Number(process.argv[3]) - Number(process.argv[2])) * 1000;
           console.log(`${process.argv[4].padEnd(44)} version ${String(s.version).padStart(4)}, status ${ms.toFixed(0).padStart(4)} ms, ` +
                       `log files listed ${s.logFilesListed}, read ${s.logFilesRead} of ${s.logFiles}, ` +
                       `on disk ${(s.diskBytes / 1048576).toFixed(2)} MB vs live ${(s.liveBytes / 1048576).toFixed(2)} MB ` +
                       `(${(s.diskBytes / s.liveBytes).toFixed(2)}x), ${s.rows} rows in ${s.files} files`)' \
    "$work/status.json" "$start" "$end" "$2" "${3:-Patient}"
}
