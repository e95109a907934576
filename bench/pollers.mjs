// N concurrent status pollers against one URL until a stop file appears. Each polls as Bulk
// Data clients do: GET, and after a 202 wait what Retry-After says (at most 1 s) before the
// next GET. Prints requests/s and latency percentiles (ms) as JSON.
//   node pollers.mjs URL N STOP_FILE
import fs from 'node:fs';

const [url, n, stopFile] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const latencies = [];
let errors = 0;
const started = performance.now();
async function poller() {
  while (!fs.existsSync(stopFile)) {
    const t = performance.now();
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      latencies.push(performance.now() - t);
      const wait = Math.min(1, Number(r.headers.get('retry-after') || 0));
      if (wait > 0) await new Promise((ok) => setTimeout(ok, wait * 1000));
    } catch {
      errors++;
      await new Promise((ok) => setTimeout(ok, 10));
    }
  }
}
await Promise.all(Array.from({ length: n }, poller));
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : 0;
console.log(JSON.stringify({ requests: latencies.length, errors, seconds, rps: latencies.length / seconds,
                             p50: pct(0.5), p99: pct(0.99) }));
