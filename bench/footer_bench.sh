#!/usr/bin/env bash
# Footer benchmark: how much of each Parquet data file fhirlake writes is footer (FileMetaData:
# schema, row groups, column chunk metadata and statistics). Generates Observations with the
# sample generator (`fhirlake generate`), keeps the first N (default 400,000), loads them with
# default settings (`fhirlake load`, merge into an empty warehouse) and prints, per data file,
# its bytes, its footer bytes (the 4-byte length before the trailing "PAR1", plus those 8
# bytes) and the footer's fraction of the file. Goal: at most 5 %.
#   bench/footer_bench.sh [OBSERVATIONS=400000]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-400000}
bin=$PWD/build/fhirlake
work=$PWD/build/bench-footer
[ -x "$bin" ] || scripts/setup
rm -rf "$work"; mkdir -p "$work/in"
# About 23 Observations per patient with seed 1; generate enough, then cut to exactly $count.
"$bin" generate "$work/gen" --patients $(( count / 22 + 100 )) --seed 1 --resources-per-file 1000000 >/dev/null
awk -v n="$count" 'FNR == 1 && NR > n { exit } NR <= n' "$work"/gen/Observation.*.ndjson > "$work/in/Observation.000.ndjson"
have=$(wc -l < "$work/in/Observation.000.ndjson")
[ "$have" -eq "$count" ] || { echo "generated only $have Observations" >&2; exit 1; }
rm -rf "$work/gen"
echo "input: $count Observations, $(( $(wc -c < "$work/in/Observation.000.ndjson") / 1048576 )) MB of NDJSON"
/usr/bin/time -f "%e s wall, %U s user, %M KB peak RSS" -o "$work/time.txt" "$bin" load "$work/in" "$work/warehouse" --quiet
echo "fhirlake load (defaults): $(cat "$work/time.txt")"
python3 - "$work/warehouse/Observation" <<'PY'
import json, os, struct, sys
table = sys.argv[1]
live = set()
for name in sorted(os.listdir(os.path.join(table, "_delta_log"))):
    if not name.endswith(".json"):
        continue
    for line in open(os.path.join(table, "_delta_log", name)):
        a = json.loads(line)
        if "add" in a:
            live.add(a["add"]["path"])
        if "remove" in a:
            live.discard(a["remove"]["path"])
total_file = total_footer = 0
worst = 0.0
print(f"{'file':<48} {'bytes':>12} {'footer':>9} {'fraction':>9}")
for path in sorted(live):
    full = os.path.join(table, path)
    size = os.path.getsize(full)
    with open(full, "rb") as f:
        f.seek(size - 8)
        length, magic = struct.unpack("<I4s", f.read(8))
        assert magic == b"PAR1", full
    footer = length + 8
    total_file += size
    total_footer += footer
    worst = max(worst, footer / size)
    print(f"{path:<48} {size:>12,} {footer:>9,} {100 * footer / size:>8.3f}%")
print(f"{'all ' + str(len(live)) + ' files':<48} {total_file:>12,} {total_footer:>9,} {100 * total_footer / total_file:>8.3f}%")
print(f"largest footer fraction of one file: {100 * worst:.3f}% (goal: at most 5%)")
PY
