// Runs one SQL statement in an in-memory DuckDB and prints the rows as a JSON array.
// The tests' independent reader of what fhirlake writes:
//   node query.mjs SQL [NAME=TABLE_DIR ...]
// Each NAME=TABLE_DIR becomes a view NAME over a Delta table: the log is replayed here (the
// newest checkpoint, then add and remove actions keyed by path and deletion vector), deletion
// vectors are decoded here (Z85, DV file framing, 64-bit portable RoaringBitmaps), and DuckDB
// reads the Parquet files.
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

function z85Decode(text) {
  const out = Buffer.alloc(text.length / 5 * 4);
  for (let i = 0; i < text.length; i += 5) {
    let v = 0;
    for (let k = 0; k < 5; k++) v = v * 85 + Z85.indexOf(text[i + k]);
    out.writeUInt32BE(v, i / 5 * 4);
  }
  return out;
}

function uuidText(b) {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

// A 32-bit RoaringBitmap at buf[pos]; pushes high * 2^32 + value for each value; returns the end.
function roaring32(buf, pos, high, out) {
  const cookie = buf.readUInt32LE(pos);
  let count, runFlags = null;
  pos += 4;
  if ((cookie & 0xffff) === 12347) {
    count = (cookie >>> 16) + 1;
    runFlags = buf.subarray(pos, pos + Math.ceil(count / 8));
    pos += runFlags.length;
  } else if (cookie === 12346) {
    count = buf.readUInt32LE(pos);
    pos += 4;
  } else {
    throw new Error('unknown RoaringBitmap cookie ' + cookie);
  }
  const keys = [], cards = [];
  for (let i = 0; i < count; i++) {
    keys.push(buf.readUInt16LE(pos));
    cards.push(buf.readUInt16LE(pos + 2) + 1);
    pos += 4;
  }
  if (!runFlags || count >= 4) pos += 4 * count;
  for (let i = 0; i < count; i++) {
    const base = high * 4294967296 + keys[i] * 65536;
    if (runFlags && (runFlags[i >> 3] >> (i & 7)) & 1) {
      const runs = buf.readUInt16LE(pos);
      pos += 2;
      for (let r = 0; r < runs; r++, pos += 4) {
        const start = buf.readUInt16LE(pos), len = buf.readUInt16LE(pos + 2);
        for (let v = start; v <= start + len; v++) out.push(base + v);
      }
    } else if (cards[i] <= 4096) {
      for (let k = 0; k < cards[i]; k++, pos += 2) out.push(base + buf.readUInt16LE(pos));
    } else {
      for (let bit = 0; bit < 65536; bit++) {
        if ((buf[pos + (bit >> 3)] >> (bit & 7)) & 1) out.push(base + bit);
      }
      pos += 8192;
    }
  }
  return pos;
}

function deletedRows(tableDir, dv) {
  let bytes;
  if (dv.storageType === 'i') {
    bytes = z85Decode(dv.pathOrInlineDv).subarray(0, dv.sizeInBytes);
  } else {
    let file = dv.pathOrInlineDv;
    if (dv.storageType === 'u') {
      const prefix = file.slice(0, file.length - 20);
      file = path.join(tableDir, prefix, `deletion_vector_${uuidText(z85Decode(file.slice(-20)))}.bin`);
    }
    const all = fs.readFileSync(file);
    if (all[0] !== 1) throw new Error(file + ': unknown DV file version');
    const size = all.readUInt32BE(dv.offset);
    if (size !== dv.sizeInBytes) throw new Error(file + ': DV size differs from its descriptor');
    bytes = all.subarray(dv.offset + 4, dv.offset + 4 + size);
  }
  const rows = [];
  if (bytes.readUInt32LE(0) !== 1681511377) throw new Error('unknown DV magic number');
  const buckets = Number(bytes.readBigUInt64LE(4));
  let pos = 12;
  for (let b = 0; b < buckets; b++) {
    const key = bytes.readUInt32LE(pos);
    pos = roaring32(bytes, pos + 4, key, rows);
  }
  if (rows.length !== dv.cardinality) throw new Error('DV cardinality differs from its rows');
  return rows;
}

// The active files of a table: [{file, deleted: [row, ...]}]. Replays the newest complete
// checkpoint (classic single-file or multi-part Parquet, read by DuckDB) and the JSON commits
// after it; without a checkpoint, every commit from version 0.
async function activeFiles(connection, tableDir) {
  const log = path.join(tableDir, '_delta_log');
  const names = fs.readdirSync(log);
  const checkpoints = new Map();  // version -> [file names] of complete checkpoints
  const parts = new Map();        // "version/parts" -> [names]
  for (const n of names) {
    let m = /^(\d{20})\.checkpoint\.parquet$/.exec(n);
    if (m) checkpoints.set(Number(m[1]), [n]);
    m = /^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$/.exec(n);
    if (m) {
      const k = `${Number(m[1])}/${Number(m[3])}`;
      parts.set(k, [...(parts.get(k) ?? []), n]);
    }
  }
  for (const [k, files] of parts) {
    const [version, count] = k.split('/').map(Number);
    if (files.length === count) checkpoints.set(version, files.sort());
  }
  const start = checkpoints.size ? Math.max(...checkpoints.keys()) : -1;
  const active = new Map();
  const key = (a) => a.path + (a.deletionVector ? '#' + a.deletionVector.storageType + a.deletionVector.pathOrInlineDv +
                                                   '@' + (a.deletionVector.offset ?? '') : '');
  if (start >= 0) {
    const list = checkpoints.get(start).map((n) => `'${path.join(log, n).replaceAll("'", "''")}'`).join(',');
    const result = await connection.runAndReadAll(
      `SELECT add.path AS path, add.deletionVector AS dv FROM read_parquet([${list}]) WHERE add.path IS NOT NULL`);
    for (const row of result.getRowObjectsJson()) {
      const a = { path: row.path };
      if (row.dv && row.dv.storageType != null) {
        a.deletionVector = { ...row.dv, offset: row.dv.offset ?? undefined, cardinality: Number(row.dv.cardinality) };
      }
      active.set(key(a), a);
    }
  }
  const commits = names.filter((n) => /^\d{20}\.json$/.test(n) && Number(n.slice(0, 20)) > start).sort();
  for (const name of commits) {
    for (const line of fs.readFileSync(path.join(log, name), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const action = JSON.parse(line);
      if (action.remove) active.delete(key(action.remove));
      if (action.add) active.set(key(action.add), action.add);
    }
  }
  return [...active.values()].map((a) => ({
    file: path.join(tableDir, decodeURIComponent(a.path)),
    deleted: a.deletionVector ? deletedRows(tableDir, a.deletionVector) : [],
  }));
}

const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
try {
  for (const arg of process.argv.slice(3)) {
    const [name, dir] = [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)];
    const files = await activeFiles(connection, dir);
    if (files.length === 0) {
      await connection.run(`CREATE VIEW ${name} AS SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS _json WHERE false`);
      continue;
    }
    const quote = (s) => `'${s.replaceAll("'", "''")}'`;
    await connection.run(`CREATE TEMP TABLE ${name}__gone (f VARCHAR, r BIGINT)`);
    const gone = files.flatMap((f) => f.deleted.map((r) => `(${quote(f.file)}, ${r})`));
    for (let i = 0; i < gone.length; i += 1000) {
      await connection.run(`INSERT INTO ${name}__gone VALUES ${gone.slice(i, i + 1000).join(',')}`);
    }
    await connection.run(
      `CREATE VIEW ${name} AS SELECT p.* EXCLUDE (filename, file_row_number) FROM read_parquet([${files.map((f) => quote(f.file)).join(',')}], ` +
      `filename = true, file_row_number = true, union_by_name = true) p ANTI JOIN ${name}__gone g ON p.filename = g.f AND p.file_row_number = g.r`);
  }
  const result = await connection.runAndReadAll(process.argv[2]);
  process.stdout.write(JSON.stringify(result.getRowObjectsJson()));
} catch (e) {
  process.stderr.write(String(e.message || e));
  process.exit(1);
}
