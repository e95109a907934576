#!/usr/bin/env bash
# View benchmark: the SQL on FHIR view tests/data/views/observation_values.json (Observation id,
# patient key, effective, LOINC code, display, value, unit, and one row per component) run by
# `fhirlake view run` over the generated Observation NDJSON and over the same Observations
# loaded into a warehouse, side by side with DuckDB doing the same flattening in SQL over the
# NDJSON (read_json_auto, unnest of the components). All three write Parquet. Prints rows/s,
# MB/s, CPU seconds and peak RSS. Uses the data of bench/export_bench.sh (generated on first
# use; SIZE_MB is the whole sample, of which Observations are a part).
#   bench/view_bench.sh [SIZE_MB=1024]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1024}
bin=$PWD/build/fhirlake
work=$PWD/build/bench-view
view=$PWD/tests/data/views/observation_values.json
[ -x "$bin" ] && [ -f build/duckdb-node/query.mjs ] || scripts/setup
rm -rf "$work"; mkdir -p "$work/in"; touch "$work/pids"
. bench/common.sh
data=$(bench_data "$size_mb")
ln -s "$data"/Observation.*.ndjson "$work/in/"
bytes=$(cat "$work"/in/*.ndjson | wc -c)
resources=$(cat "$work"/in/*.ndjson | wc -l)

run_report() {  # label rows
  read -r wall user sys rss < "$work/time.txt"
  awk -v l="$1" -v n="$2" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$bytes" 'BEGIN {
    printf "%-30s %9.0f rows/s %6.1f MB/s %9.0f rows/CPU-s  %6.2f s wall  %6.2f s CPU  %7.1f MB peak RSS\n",
           l, n / w, b / 1048576 / w, n / (u + s), w, u + s, r / 1024 }'
}
count() { node build/duckdb-node/query.mjs "SELECT count(*)::INTEGER AS n FROM read_parquet('$1')" | sed -n 's/.*"n":\([0-9]*\).*/\1/p'; }

echo "input: $(( bytes / 1048576 )) MB of Observation NDJSON, $resources resources ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
/usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$bin" view run "$view" --ndjson "$work/in" \
  --format parquet --out "$work/fhirlake.parquet" 2>/dev/null
rows=$(count "$work/fhirlake.parquet")
run_report "fhirlake view run --ndjson" "$rows"

files=$(ls "$work"/in/*.ndjson | sed "s/.*/'&'/" | paste -sd,)
/usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" node build/duckdb-node/query.mjs "
COPY (
  WITH o AS (
    SELECT *, unnest(CASE WHEN component IS NULL OR len(component) = 0 THEN [NULL] ELSE component END) AS c
    FROM read_json_auto([$files], maximum_object_size=134217728))
  SELECT id, regexp_extract(subject.reference, '[^/]+$') AS patient_id, effectiveDateTime AS effective,
         list_filter(code.coding, x -> x.system = 'http://loinc.org')[1].code AS code,
         code.coding[1].display AS display, valueQuantity.value AS value, valueQuantity.unit AS unit,
         c.code.coding[1].code AS component_code, c.valueQuantity.value AS component_value
  FROM o
) TO '$work/duckdb.parquet' (FORMAT parquet, COMPRESSION zstd)" >/dev/null
duck_rows=$(count "$work/duckdb.parquet")
run_report "DuckDB SQL over the NDJSON" "$duck_rows"
[ "$rows" = "$duck_rows" ] || echo "note: row counts differ (fhirlake $rows, DuckDB $duck_rows)"

"$bin" load "$work/in" "$work/warehouse" --mode overwrite --quiet
/usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$bin" view run "$view" --warehouse "$work/warehouse" \
  --format parquet --out "$work/warehouse.parquet" 2>/dev/null
run_report "fhirlake view run --warehouse" "$(count "$work/warehouse.parquet")"
