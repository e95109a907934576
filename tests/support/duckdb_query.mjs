// Runs one SQL statement in an in-memory DuckDB and prints the rows as a JSON array.
// The tests' independent reader of the Parquet files fhirlake writes.
import { DuckDBInstance } from '@duckdb/node-api';

const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
try {
  const result = await connection.runAndReadAll(process.argv[2]);
  process.stdout.write(JSON.stringify(result.getRowObjectsJson()));
} catch (e) {
  process.stderr.write(String(e.message || e));
  process.exit(1);
}
