// What Delta file statistics (add.stats) save a query engine: the same DuckDB query over every
// data file of a table, and over only the files whose stats admit the predicate (the file
// skipping a Delta reader does before it opens any file). Copied by
// bench/stats_pruning_bench.sh beside a link to build/duckdb-node's node_modules and run there:
//   node stats_pruning.mjs TABLE_DIR ID LAST_UPDATED_AFTER [RUNS=5]
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const [table, id, after, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 5);

// The live add actions (no checkpoint handling needed: the bench's table is written fresh and
// its commits are read in order; a checkpoint, when present, only repeats them).
const live = new Map();
const log = path.join(table, '_delta_log');
for (const name of fs.readdirSync(log).filter((n) => /^\d{20}\.json$/.test(n)).sort()) {
  for (const line of fs.readFileSync(path.join(log, name), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const a = JSON.parse(line);
    if (a.add) live.set(a.add.path, JSON.parse(a.add.stats));
    if (a.remove) live.delete(a.remove.path);
  }
}
const all = [...live.keys()];
// Delta readers widen a timestamp max by a millisecond (stats are cut to milliseconds).
const afterMs = Date.parse(after);
const byId = all.filter((p) => {
  const s = live.get(p);
  return !(s.minValues?.id > id || s.maxValues?.id < id);
});
const byTime = all.filter((p) => {
  const max = live.get(p).maxValues?.meta?.lastUpdated;
  return max === undefined || Date.parse(max) + 1 > afterMs;
});

const db = await (await DuckDBInstance.create(':memory:')).connect();
const list = (files) => '[' + files.map((f) => `'${path.join(table, f)}'`).join(',') + ']';
async function time(sql) {
  await db.runAndReadAll(sql);  // warm the page cache and DuckDB's metadata cache
  const ms = [];
  let rows;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    rows = (await db.runAndReadAll(sql)).getRowObjects();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)], rows: rows[0] };
}
async function compare(label, where, pruned) {
  const q = (files) => `SELECT count(*)::INTEGER AS n FROM read_parquet(${list(files)}) WHERE ${where}`;
  const full = await time(q(all));
  const skip = pruned.length ? await time(q(pruned)) : { median: 0, rows: { n: 0 } };
  if (full.rows.n !== skip.rows.n) throw new Error(`${label}: ${full.rows.n} rows over all files, ${skip.rows.n} over the pruned ones`);
  console.log(`${label}: ${full.rows.n} rows; all ${all.length} files ${full.median.toFixed(1)} ms, ` +
              `the ${pruned.length} files the stats admit ${skip.median.toFixed(1)} ms ` +
              `(${(full.median / Math.max(skip.median, 0.001)).toFixed(1)}x; median of ${runs})`);
}
await compare(`WHERE id = '${id}'`, `id = '${id}'`, byId);
await compare(`WHERE meta.lastUpdated > '${after}'`, `meta.lastUpdated > TIMESTAMPTZ '${after}'`, byTime);
