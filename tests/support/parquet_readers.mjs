// Reads every Parquet file under the given files or directories (in a Delta table: the files
// its commits added, and its checkpoints) with two readers that share no
// code with fhirlake or DuckDB, and prints one JSON object per file:
//   node parquet_readers.mjs PATH...
//   [{"file", "footerRows", "arrowRows", "hyparquetRows", "error"?}, ...]
// - parquet-wasm: arrow-rs's Parquet reader compiled to WebAssembly, reading the whole file
//   into Arrow record batches (every column, every row group);
// - hyparquet (with hyparquet-compressors for ZSTD and Snappy): a JavaScript reader, reading
//   every row as objects.
// A file that either reader fails on, or whose row counts disagree with the footer, has "error".
import fs from 'node:fs';
import path from 'node:path';
import { readParquet } from 'parquet-wasm/node';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

// The data files some commit of the Delta table at `table` added (live or since removed):
// files no commit names are a crashed writer's leftovers, which no reader ever sees.
function committedFiles(table) {
  const log = path.join(table, '_delta_log');
  const files = new Set();
  for (const name of fs.readdirSync(log)) {
    if (!name.endsWith('.json')) continue;
    for (const line of fs.readFileSync(path.join(log, name), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const action = JSON.parse(line);
      if (action.add) files.add(path.join(table, decodeURIComponent(action.add.path)));
    }
  }
  return files;
}

// Parquet files under `p`; inside a Delta table only its committed data files and its
// checkpoints.
function parquetFiles(p, out, committed = null) {
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    if (fs.existsSync(path.join(p, '_delta_log'))) committed = committedFiles(p);
    for (const name of fs.readdirSync(p).sort()) parquetFiles(path.join(p, name), out, committed);
  } else if (p.endsWith('.parquet') &&
             (!committed || committed.has(p) || path.basename(path.dirname(p)) === '_delta_log')) {
    out.push(p);
  }
  return out;
}

const results = [];
for (const file of process.argv.slice(2).flatMap((p) => parquetFiles(p, []))) {
  const r = { file };
  try {
    const bytes = fs.readFileSync(file);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const meta = parquetMetadata(buffer);
    r.footerRows = Number(meta.num_rows);
    try {
      const table = readParquet(new Uint8Array(bytes));
      let rows = 0;
      for (let i = 0; i < table.numBatches; i++) rows += table.recordBatch(i).numRows;
      r.arrowRows = rows;
    } catch (e) {
      r.error = `parquet-wasm: ${e.message ?? e}`;
    }
    try {
      const rows = await parquetReadObjects({ file: buffer, metadata: meta, compressors });
      r.hyparquetRows = rows.length;
    } catch (e) {
      r.error = (r.error ? r.error + '; ' : '') + `hyparquet: ${e.message ?? e}`;
    }
    if (!r.error && (r.arrowRows !== r.footerRows || r.hyparquetRows !== r.footerRows)) {
      r.error = 'row counts disagree with the footer';
    }
  } catch (e) {
    r.error = `footer: ${e.message ?? e}`;
  }
  results.push(r);
}
console.log(JSON.stringify(results));
