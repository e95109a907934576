// Makes one change set for a resource type's NDJSON, as a sync would bring it: FRACTION of the
// rows, of which 70 % new resources (copies of existing ones under new ids), 25 % updates and
// 5 % deletions. Updates and deletions pick rows whose meta.lastUpdated is in the newest
// RECENT of the time the rows span (`--recent 1`: any row, the uniform case). Changed and new
// rows get meta.lastUpdated NOW. Deterministic for a SEED.
//   node bench/merge_change.mjs export SOURCE.ndjson OUT_DIR TYPE FRACTION RECENT SEED
//     writes OUT_DIR/TYPE.000.ndjson and OUT_DIR/deleted/Bundle.000.ndjson (an export dir).
//   node bench/merge_change.mjs source SOURCE.ndjson DELETED.ndjson TYPE FRACTION RECENT SEED
//     applies the change to SOURCE.ndjson in place and appends the deletions to DELETED.ndjson
//     (a `fhirlake serve --source` directory).
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

const [mode, source, out, type, fractionText, recentText, seedText] = process.argv.slice(2);
const fraction = Number(fractionText), recent = Number(recentText);
let seed = Number(seedText) >>> 0 || 1;
const random = () => {  // mulberry32
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const timeOf = (line) => Date.parse(/"lastUpdated":"([^"]*)"/.exec(line)?.[1] ?? "");
const idOf = (line) => /"id":"([^"]*)"/.exec(line)?.[1];

async function* lines(file) {
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) if (line.trim()) yield line;
}

// Pass 1: times, to find the recent window.
const times = [];
for await (const line of lines(source)) times.push(timeOf(line));
const known = times.filter((t) => !Number.isNaN(t));
const hi = known.reduce((a, b) => Math.max(a, b), -Infinity);
const minTime = known.reduce((a, b) => Math.min(a, b), Infinity);
const from = hi - recent * (hi - minTime);
const candidates = [];
times.forEach((t, i) => { if (t >= from) candidates.push(i); });
const changes = Math.max(1, Math.round(times.length * fraction));
const want = { update: Math.round(changes * 0.25), remove: Math.round(changes * 0.05) };
want.insert = changes - want.update - want.remove;
const action = new Map();  // row → "update" | "remove"
for (const kind of ["update", "remove"]) {
  for (let n = 0; n < want[kind] && action.size < candidates.length;) {
    const row = candidates[Math.floor(random() * candidates.length)];
    if (!action.has(row)) { action.set(row, kind); ++n; }
  }
}
const copies = new Set();
while (copies.size < Math.min(want.insert, times.length)) copies.add(Math.floor(random() * times.length));

// Pass 2: write the change.
const now = new Date().toISOString();
const stamp = (line) => line.replace(/"lastUpdated":"[^"]*"/, `"lastUpdated":"${now}"`);
const tag = `${now.replace(/[^0-9]/g, "")}-${seedText}`;
const changed = [], deleted = [], kept = [];
let row = 0, copy = 0;
for await (const line of lines(source)) {
  const a = action.get(row);
  if (a === "update") changed.push(stamp(line));
  if (a === "remove") deleted.push(idOf(line));
  if (copies.has(row)) changed.push(stamp(line).replace(/"id":"[^"]*"/, `"id":"new-${tag}-${copy++}"`));
  if (mode === "source" && a !== "remove" && a !== "update") kept.push(line);
  ++row;
}
const bundle = (id) => JSON.stringify({ resourceType: "Bundle", type: "transaction", meta: { lastUpdated: now },
                                        entry: [{ request: { method: "DELETE", url: `${type}/${id}` } }] });
if (mode === "export") {
  fs.mkdirSync(path.join(out, "deleted"), { recursive: true });
  fs.writeFileSync(path.join(out, `${type}.000.ndjson`), changed.join("\n") + "\n");
  fs.writeFileSync(path.join(out, "deleted", "Bundle.000.ndjson"), deleted.map(bundle).join("\n") + (deleted.length ? "\n" : ""));
} else {
  fs.writeFileSync(source + ".new", kept.concat(changed).join("\n") + "\n");
  fs.renameSync(source + ".new", source);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  if (deleted.length) fs.appendFileSync(out, deleted.map(bundle).join("\n") + "\n");
}
console.error(`${type}: ${times.length} rows, window from ${new Date(from).toISOString()} (${candidates.length} rows): ` +
              `${want.insert} new, ${[...action.values()].filter((a) => a === "update").length} updated, ${deleted.length} deleted`);
