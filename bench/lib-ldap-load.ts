// The load loop of the LDAP benchmark (bench/ldap.ts): a fixed number of closed-loop workers run
// one operation after another until a time budget or an operation count is reached, and every
// wait is bounded, so a stalled implementation is stopped and reported, never left hanging.
import { readFileSync } from 'node:fs';

/** One result row's numbers, in the shape bench/README.md prescribes. */
export interface LoadResult {
  readonly perSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

/** What one run measured; several runs of the same cell are merged by {@link summarize}. */
export interface LoadSample {
  readonly ok: number;
  readonly errors: number;
  /** Successes that finished inside the measuring window, and the window's length. */
  readonly okInWindow: number;
  readonly windowMs: number;
  /** Latencies of the successful operations, in ms. */
  readonly latencies: Float64Array;
  readonly firstError: unknown;
  /** CPU time of this process during the run, in µs. */
  readonly clientCpuUs: number;
  /** CPU time of the server process during the run (µs), when its pid is known. */
  readonly serverCpuUs: number | undefined;
}

/** One operation: resolves true when it did the right thing (the expected user came back). */
export type Operation = (seq: number) => Promise<boolean>;

export interface LoadOptions {
  /** Workers, each running one operation at a time. */
  readonly concurrency: number;
  /** Stop issuing new operations after this long. */
  readonly durationMs: number;
  /** ... or after this many operations, whichever comes first. */
  readonly maxOps: number;
  /** An operation still running after this long is counted as an error and abandoned. */
  readonly opTimeoutMs: number;
  /** The server's pid, to report its CPU time per operation (Linux /proc only). */
  readonly serverPid?: number | undefined;
}

/** utime + stime of a process in µs, from /proc (undefined elsewhere). */
function processCpuUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1e6) / 100 : undefined;
  } catch {
    return undefined;
  }
}

/** A promise that rejects after `ms`, with a way to cancel its timer. */
function timeout(ms: number): { promise: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`operation timed out after ${ms} ms`));
    }, ms);
  });
  return {
    promise,
    cancel: () => {
      clearTimeout(timer);
    },
  };
}

/**
 * Runs `op` under load. Returns after at most `durationMs + opTimeoutMs` (plus a timer tick):
 * a worker whose operation times out counts an error and moves on. Throughput counts the
 * successes that finish within `durationMs`, so the drain at the end (no new operations, the
 * last ones finishing) does not dilute it; latencies and errors cover every operation.
 */
export async function runLoad(op: Operation, options: LoadOptions): Promise<LoadSample> {
  const { concurrency, durationMs, maxOps, opTimeoutMs } = options;
  const latencies = new Float64Array(maxOps);
  let ok = 0;
  let okInWindow = 0;
  let errors = 0;
  let issued = 0;
  let firstError: unknown;
  const cpu0 = process.cpuUsage();
  const server0 = processCpuUs(options.serverPid);
  const started = performance.now();
  const stopAt = started + durationMs;
  const worker = async (): Promise<void> => {
    while (issued < maxOps && performance.now() < stopAt) {
      const seq = issued++;
      const t0 = performance.now();
      const limit = timeout(opTimeoutMs);
      try {
        const good = await Promise.race([op(seq), limit.promise]);
        const t1 = performance.now();
        if (good) {
          latencies[ok++] = t1 - t0;
          if (t1 <= stopAt) okInWindow++;
        } else {
          errors++;
          firstError ??= new Error('wrong or empty result');
        }
      } catch (error) {
        errors++;
        firstError ??= error;
      } finally {
        limit.cancel();
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = performance.now() - started;
  // Stopped by the count: the window is the whole run.
  const windowMs = issued >= maxOps ? elapsedMs : durationMs;
  if (issued >= maxOps) okInWindow = ok;
  const cpu = process.cpuUsage(cpu0);
  const server1 = processCpuUs(options.serverPid);
  return {
    ok,
    errors,
    okInWindow,
    windowMs,
    latencies: latencies.slice(0, ok),
    firstError,
    clientCpuUs: cpu.user + cpu.system,
    serverCpuUs: server0 === undefined || server1 === undefined ? undefined : server1 - server0,
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? 0;
}

const round = (n: number, digits: number): number => Number(n.toFixed(digits));

function describe(error: unknown): string | undefined {
  if (error === undefined) return undefined;
  const message = error instanceof Error ? error.message : JSON.stringify(error);
  return message.split('\n')[0] ?? '';
}

/** Merges runs of one cell: successes per second of window time, pooled percentiles. */
export function summarize(samples: readonly LoadSample[]): LoadResult & {
  readonly clientCpuUsPerOp: number;
  readonly serverCpuUsPerOp: number | undefined;
  /** The first line of the first error's message. */
  readonly firstError: string | undefined;
} {
  const ok = samples.reduce((n, s) => n + s.ok, 0);
  const errors = samples.reduce((n, s) => n + s.errors, 0);
  const okInWindow = samples.reduce((n, s) => n + s.okInWindow, 0);
  const windowMs = samples.reduce((n, s) => n + s.windowMs, 0);
  const all = new Float64Array(ok);
  let at = 0;
  for (const s of samples) {
    all.set(s.latencies, at);
    at += s.latencies.length;
  }
  all.sort();
  const ops = Math.max(1, ok + errors);
  const serverCpu = samples.every((s) => s.serverCpuUs !== undefined)
    ? samples.reduce((n, s) => n + (s.serverCpuUs ?? 0), 0)
    : undefined;
  return {
    perSec: round(windowMs > 0 ? (okInWindow * 1000) / windowMs : 0, 1),
    p50Ms: round(percentile(all, 50), 2),
    p99Ms: round(percentile(all, 99), 2),
    errors,
    clientCpuUsPerOp: Math.round(samples.reduce((n, s) => n + s.clientCpuUs, 0) / ops),
    serverCpuUsPerOp: serverCpu === undefined ? undefined : Math.round(serverCpu / ops),
    firstError: describe(samples.find((s) => s.firstError !== undefined)?.firstError),
  };
}
