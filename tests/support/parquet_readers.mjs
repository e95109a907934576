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
// Each Delta table found is also checked against PROTOCOL.md (checkDeltaTable): one
// {"table", "error"} object per problem.
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

// Delta tables under `p` (a table's own folders are not searched for more tables).
function deltaTables(p, out) {
  if (!fs.statSync(p).isDirectory()) return out;
  if (fs.existsSync(path.join(p, '_delta_log'))) {
    out.push(p);
    return out;
  }
  for (const name of fs.readdirSync(p).sort()) deltaTables(path.join(p, name), out);
  return out;
}

// The Spark type of a Delta schema field and the Parquet schema node of a file, compared
// (PROTOCOL.md "Schema Serialization Format"; Parquet LogicalTypes.md). Returns a problem or null.
function compareType(where, spark, node) {
  const leaf = node.element.type;
  const lt = node.element.logical_type?.type, ct = node.element.converted_type;
  const expect = (ok, what) => (ok ? null : `${where}: schemaString says ${what}, the file has ${describe(node)}`);
  if (typeof spark === 'string') {
    const dec = /^decimal\((\d+),\s*(\d+)\)$/.exec(spark);
    if (dec) {
      const [p, s] = [Number(dec[1]), Number(dec[2])];
      return expect((lt === 'DECIMAL' || ct === 'DECIMAL') && node.element.precision === p && node.element.scale === s,
                    spark);
    }
    switch (spark) {
      case 'string': return expect(leaf === 'BYTE_ARRAY' && (lt === 'STRING' || ct === 'UTF8'), spark);
      case 'binary': return expect(leaf === 'BYTE_ARRAY' && lt !== 'STRING' && ct !== 'UTF8', spark);
      case 'long': return expect(leaf === 'INT64' && !lt?.startsWith?.('TIMESTAMP') && lt !== 'TIMESTAMP' && lt !== 'DECIMAL', spark);
      case 'integer': return expect(leaf === 'INT32' && !lt && !ct, spark);
      case 'short': case 'byte': return expect(leaf === 'INT32', spark);
      case 'boolean': return expect(leaf === 'BOOLEAN', spark);
      case 'double': return expect(leaf === 'DOUBLE', spark);
      case 'float': return expect(leaf === 'FLOAT', spark);
      case 'date': return expect(leaf === 'INT32' && (lt === 'DATE' || ct === 'DATE'), spark);
      case 'timestamp':
        return expect(leaf === 'INT96' || (leaf === 'INT64' && lt === 'TIMESTAMP' && node.element.logical_type.isAdjustedToUTC), spark);
      case 'timestamp_ntz':
        return expect(leaf === 'INT64' && lt === 'TIMESTAMP' && !node.element.logical_type.isAdjustedToUTC, spark);
      default: return `${where}: schemaString has the unknown type ${JSON.stringify(spark)}`;
    }
  }
  if (spark.type === 'struct') {
    if (leaf) return `${where}: schemaString says struct, the file has ${describe(node)}`;
    return compareFields(where, spark.fields, node.children);
  }
  if (spark.type === 'array') {
    const list = node.children[0];
    if (leaf || (lt !== 'LIST' && ct !== 'LIST') || node.children.length !== 1 || list.element.repetition_type !== 'REPEATED' ||
        list.children.length !== 1) {
      return `${where}: schemaString says array, the file has ${describe(node)} (not a 3-level LIST)`;
    }
    return compareType(`${where}.element`, spark.elementType, list.children[0]);
  }
  if (spark.type === 'map') {
    const kv = node.children[0];
    if (leaf || (lt !== 'MAP' && ct !== 'MAP') || !kv || kv.children.length !== 2) {
      return `${where}: schemaString says map, the file has ${describe(node)}`;
    }
    return compareType(`${where}.key`, spark.keyType, kv.children[0]) ||
           compareType(`${where}.value`, spark.valueType, kv.children[1]);
  }
  return `${where}: schemaString has the unknown type ${JSON.stringify(spark)}`;
}

function describe(node) {
  const e = node.element;
  return [e.type ?? 'group', e.logical_type?.type, e.converted_type].filter(Boolean).join('/');
}

// Every field of the schema is a column of the file with its type, and the file has no
// column the schema lacks (a file written before a column was added may lack that column).
function compareFields(where, fields, children) {
  const byName = new Map(children.map((c) => [c.element.name, c]));
  for (const f of fields) {
    const child = byName.get(f.name);
    if (!child) continue;
    byName.delete(f.name);
    const problem = compareType(where ? `${where}.${f.name}` : f.name, f.type, child);
    if (problem) return problem;
  }
  if (byName.size) return `${where || 'the file'} has columns the schemaString lacks: ${[...byName.keys()].join(', ')}`;
  return null;
}

// The file's schema (flattened SchemaElements) as a tree.
function schemaTree(elements) {
  let i = 0;
  const build = () => {
    const element = elements[i++];
    const children = [];
    for (let c = 0; c < (element.num_children ?? 0); c++) children.push(build());
    return { element, children };
  };
  return build();
}

// PROTOCOL.md checks of the Delta table at `table`, replaying its JSON commits in order (a
// table whose early commits were cleaned up is checked from its oldest kept commit):
// - protocol: reader version 1..3, writer 1..7; readerFeatures exactly at reader 3, and then
//   writer 7; writerFeatures exactly at writer 7; every reader feature also a writer feature;
//   deletion vectors (in an add, or delta.enableDeletionVectors=true) only with the
//   deletionVectors feature at 3/7;
// - metaData: format.provider "parquet"; schemaString parses as a struct; partitionColumns an
//   array;
// - every file a commit adds: its Parquet schema has the columns of the schemaString in effect
//   at that commit, with the Parquet types the Spark types map to.
// Returns the problems found.
export function checkDeltaTable(table) {
  const log = path.join(table, '_delta_log');
  const problems = [];
  const commits = fs.readdirSync(log).filter((n) => /^\d{20}\.json$/.test(n)).sort();
  let protocol = null, metaData = null, schema = null;
  const dvFiles = [];
  for (const name of commits) {
    const actions = fs.readFileSync(path.join(log, name), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    for (const a of actions) {
      if (a.protocol) protocol = a.protocol;
      if (a.metaData) {
        metaData = a.metaData;
        if (metaData.format?.provider !== 'parquet') {
          problems.push(`${name}: metaData.format.provider is ${JSON.stringify(metaData.format?.provider)}, not "parquet"`);
        }
        if (!Array.isArray(metaData.partitionColumns)) problems.push(`${name}: metaData.partitionColumns is not an array`);
        try {
          schema = JSON.parse(metaData.schemaString);
          if (schema?.type !== 'struct' || !Array.isArray(schema.fields)) throw new Error('not a struct with fields');
        } catch (e) {
          problems.push(`${name}: metaData.schemaString does not parse: ${e.message}`);
          schema = null;
        }
      }
    }
    for (const a of actions) {
      if (!a.add) continue;
      if (a.add.deletionVector) dvFiles.push(`${name}: ${a.add.path}`);
      if (!schema) continue;
      const file = path.join(table, decodeURIComponent(a.add.path));
      if (!fs.existsSync(file)) continue;  // vacuumed since
      try {
        const bytes = fs.readFileSync(file);
        const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        const problem = compareFields('', schema.fields, schemaTree(meta.schema).children);
        if (problem) problems.push(`${a.add.path} (added in ${name}): ${problem}`);
      } catch (e) {
        problems.push(`${a.add.path}: footer: ${e.message ?? e}`);
      }
    }
  }
  if (commits.length && !protocol && commits[0] === '00000000000000000000.json') problems.push('no protocol action');
  if (commits.length && !metaData && commits[0] === '00000000000000000000.json') problems.push('no metaData action');
  if (protocol) {
    const r = protocol.minReaderVersion, w = protocol.minWriterVersion;
    const rf = protocol.readerFeatures, wf = protocol.writerFeatures;
    if (!(r >= 1 && r <= 3)) problems.push(`protocol: minReaderVersion ${r}`);
    if (!(w >= 1 && w <= 7)) problems.push(`protocol: minWriterVersion ${w}`);
    if ((r === 3) !== Array.isArray(rf)) problems.push(`protocol: readerFeatures ${JSON.stringify(rf)} at reader version ${r}`);
    if ((w === 7) !== Array.isArray(wf)) problems.push(`protocol: writerFeatures ${JSON.stringify(wf)} at writer version ${w}`);
    if (r === 3 && w !== 7) problems.push(`protocol: reader version 3 needs writer version 7, not ${w}`);
    for (const f of rf ?? []) if (!(wf ?? []).includes(f)) problems.push(`protocol: reader feature ${f} is not a writer feature`);
    const dvs = r === 3 && w === 7 && rf.includes('deletionVectors') && wf.includes('deletionVectors');
    if (dvFiles.length && !dvs) problems.push(`protocol ${JSON.stringify(protocol)} has no deletionVectors feature, but ${dvFiles[0]} has a deletion vector`);
    if (metaData?.configuration?.['delta.enableDeletionVectors'] === 'true' && !dvs) {
      problems.push('delta.enableDeletionVectors is true without the deletionVectors feature at reader 3 / writer 7');
    }
  }
  return problems;
}

const results = [];
for (const table of process.argv.slice(2).flatMap((p) => deltaTables(p, []))) {
  for (const error of checkDeltaTable(table)) results.push({ table, error });
}
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
