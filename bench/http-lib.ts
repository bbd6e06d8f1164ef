// Shared pieces of the HTTP benchmark: autocannon in a child process (so the load generator does not
// share the server's event loop) and the JSON row it becomes.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** One row of the suite's JSON line. */
export interface HttpRow {
  impl: string;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

const AUTOCANNON = fileURLToPath(
  new URL('../node_modules/autocannon/autocannon.js', import.meta.url),
);

interface AutocannonJson {
  requests: { average: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

/** Runs autocannon against `url` for `seconds` with `connections`, sending `headers`. */
export function autocannon(
  impl: string,
  url: string,
  headers: Record<string, string>,
  seconds: number,
  connections: number,
): Promise<HttpRow> {
  const args = [AUTOCANNON, '-j', '-d', String(seconds), '-c', String(connections), '-t', '10'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`autocannon exited with ${String(code)}`));
        return;
      }
      const r = JSON.parse(out) as AutocannonJson;
      resolve({
        impl,
        perSec: Math.round(r.requests.average),
        p50Ms: r.latency.p50,
        p99Ms: r.latency.p99,
        errors: r.errors + r.timeouts + r.non2xx,
      });
    });
  });
}
