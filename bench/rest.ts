// Benchmark of @authbridge/rest (npm run bench:rest): token checks against a real authorization
// server (oidc-provider on 127.0.0.1, started in this process), side by side with
// passport-http-bearer whose verify callback introspects every request, as apps commonly write it.
//
// Rows:
// - authbridge / cached: the same token checked again and again (answered from the verdict cache);
// - authbridge / miss: every check goes to the introspection endpoint (cache off, one token per
//   worker so single-flight cannot merge them);
// - passport-http-bearer / miss: the strategy driven in-process through its success/fail/error hooks;
// - authbridge / concurrent-miss-1000: 1,000 concurrent checks of one new token (upstreamCalls
//   must be 1: single-flight).
// upstreamCalls is counted by the authorization server itself. The last stdout line is the JSON.
import { MemoryUserStore } from '@authbridge/core';
import { RestTokenBackend, silentLogger } from '@authbridge/rest';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import {
  API_RESOURCE,
  APPS,
  type AuthorizationServer,
  RS_BASIC,
  startAuthorizationServer,
} from '@authbridge/testkit';

interface Row {
  readonly impl: string;
  readonly mode: string;
  readonly perSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly upstreamCalls: number;
}

const INTROSPECTION_PATH = '/token/introspection';
const CACHED_CHECKS = 500_000;
const CACHED_PASSES = 3;
const CACHED_BUDGET_MS = 15_000;
const MISS_CHECKS = 2_000;
const MISS_WORKERS = 8;
const MISS_ROUNDS = 4;
const MISS_BUDGET_MS = 30_000;
const OP_TIMEOUT_MS = 2_000;

/** One check: resolves true for "authenticated as expected", false otherwise. */
type Check = (worker: number) => Promise<boolean>;

/**
 * Runs `total` checks on `workers` concurrent loops, stopping early at `budgetMs`. Each check's
 * latency is measured; a check that throws, returns false or exceeds OP_TIMEOUT_MS is an error.
 */
async function load(
  check: Check,
  total: number,
  workers: number,
  budgetMs: number,
): Promise<Measured> {
  const latencies = new Float64Array(total);
  let issued = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + budgetMs;
  const worker = async (id: number): Promise<void> => {
    while (issued < total && performance.now() < deadline) {
      const slot = issued;
      issued += 1;
      const t0 = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        const ok = await Promise.race([
          check(id),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => {
              resolve(false);
            }, OP_TIMEOUT_MS);
          }),
        ]);
        if (!ok) errors += 1;
      } catch {
        errors += 1;
      } finally {
        clearTimeout(timer);
      }
      latencies[slot] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, id) => worker(id)));
  return summarize([
    { latencies: latencies.slice(0, issued), elapsed: performance.now() - started, errors },
  ]);
}

/** Latencies and wall time of one or more runs of the same implementation. */
interface Measured {
  readonly perSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly runs: readonly { latencies: Float64Array; elapsed: number; errors: number }[];
}

function summarize(
  runs: readonly { latencies: Float64Array; elapsed: number; errors: number }[],
): Measured {
  const done = runs.reduce((n, r) => n + r.latencies.length, 0);
  const elapsed = runs.reduce((n, r) => n + r.elapsed, 0);
  const sorted = new Float64Array(done);
  let offset = 0;
  for (const r of runs) {
    sorted.set(r.latencies, offset);
    offset += r.latencies.length;
  }
  sorted.sort();
  const at = (q: number): number => sorted[Math.min(done - 1, Math.floor(q * done))] ?? Number.NaN;
  return {
    perSec: (done / elapsed) * 1000,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    runs,
  };
}

// The cached path calls the backend directly, so the harness adds no promise layer of its own,
// and uses no timer race (an in-memory answer cannot stall; a setTimeout per call would cost more
// than the check). Throughput and latency come from separate passes: reading the clock twice per
// call costs about a tenth of a cached check, so the throughput passes do not time single calls
// (they are bounded by count and by the clock, read every 1,000 calls), and a timed pass gives the
// percentiles. perSec is the median of the throughput passes.
async function throughputCached(
  backend: RestTokenBackend,
  credentials: { readonly token: string },
  total: number,
  budgetMs: number,
): Promise<{ perSec: number; errors: number }> {
  let errors = 0;
  let done = 0;
  const started = performance.now();
  const deadline = started + budgetMs;
  while (done < total && (done % 1000 !== 0 || performance.now() < deadline)) {
    if ((await backend.authenticate(undefined, credentials)) === null) errors += 1;
    done += 1;
  }
  return { perSec: (done / (performance.now() - started)) * 1000, errors };
}

async function latencyCached(
  backend: RestTokenBackend,
  credentials: { readonly token: string },
  total: number,
  budgetMs: number,
): Promise<Measured> {
  const latencies = new Float64Array(total);
  let errors = 0;
  let done = 0;
  const started = performance.now();
  const deadline = started + budgetMs;
  while (done < total) {
    const t0 = performance.now();
    if (t0 > deadline) break;
    const user = await backend.authenticate(undefined, credentials);
    latencies[done] = performance.now() - t0;
    if (user === null) errors += 1;
    done += 1;
  }
  return summarize([
    { latencies: latencies.slice(0, done), elapsed: performance.now() - started, errors },
  ]);
}

function backend(as: AuthorizationServer, cache: boolean): RestTokenBackend {
  return new RestTokenBackend({
    store: new MemoryUserStore(),
    logger: silentLogger,
    ...(cache ? {} : { cache: false as const }),
    mode: {
      kind: 'introspection',
      endpoint: as.introspectionUrl,
      issuer: as.issuer,
      audience: API_RESOURCE,
      clientAuth: { method: 'client_secret_basic', ...RS_BASIC },
    },
  });
}

/** The per-request view of a passport strategy: its action hooks and `authenticate`. */
interface StrategyRun {
  success(user: unknown): void;
  fail(): void;
  error(err: unknown): void;
  authenticate(req: object): void;
}

/** passport-http-bearer with the verify callback people write: introspect, trust `active`. */
function passportCheck(as: AuthorizationServer): (token: string) => Promise<boolean> {
  const basic = `Basic ${Buffer.from(`${RS_BASIC.clientId}:${RS_BASIC.clientSecret}`).toString('base64')}`;
  const strategy = new BearerStrategy((token, done) => {
    fetch(as.introspectionUrl, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      signal: AbortSignal.timeout(OP_TIMEOUT_MS),
    })
      .then(async (res) => {
        if (res.status !== 200) throw new Error(`introspection status ${res.status}`);
        const body = (await res.json()) as { active?: unknown; sub?: string; client_id?: string };
        if (body.active === true) done(null, { id: body.sub ?? body.client_id });
        else done(null, false);
      })
      .catch((error: unknown) => {
        done(error instanceof Error ? error : new Error(String(error)));
      });
  });
  return (token) =>
    new Promise<boolean>((resolve) => {
      // What passport.authenticate() does per request: a fresh object whose prototype is the
      // strategy, with the action hooks attached.
      const run = Object.create(strategy as object) as StrategyRun;
      run.success = (user) => {
        resolve(user !== false);
      };
      run.fail = () => {
        resolve(false);
      };
      run.error = () => {
        resolve(false);
      };
      run.authenticate({
        headers: { authorization: `Bearer ${token}` },
        query: {},
        body: {},
      });
    });
}

const round = (n: number, digits: number): number => Number(n.toFixed(digits));

async function main(): Promise<void> {
  const as = await startAuthorizationServer({ accessTokenTtlSec: 3600 });
  const results: Row[] = [];
  const upstream = (): number => as.count(INTROSPECTION_PATH);
  const row = (
    impl: string,
    mode: string,
    r: { perSec: number; p50Ms: number; p99Ms: number; errors: number },
    upstreamCalls: number,
  ): void => {
    const out: Row = {
      impl,
      mode,
      perSec: Math.round(r.perSec),
      p50Ms: round(r.p50Ms, 4),
      p99Ms: round(r.p99Ms, 4),
      errors: r.errors,
      upstreamCalls,
    };
    results.push(out);
    console.log(
      `${impl.padEnd(22)} ${mode.padEnd(20)} ${String(out.perSec).padStart(9)}/s  p50 ${out.p50Ms} ms  p99 ${out.p99Ms} ms  errors ${out.errors}  upstream ${upstreamCalls}`,
    );
  };

  try {
    const tokens = await Promise.all(
      Array.from({ length: MISS_WORKERS }, (_, i) => as.mint(APPS[i % APPS.length]!)),
    );

    // authbridge, cached hits.
    {
      const cached = backend(as, true);
      const credentials = { token: tokens[0]! };
      // Warm-up: the one upstream call, then enough hits for the JIT.
      await throughputCached(cached, credentials, 200_000, CACHED_BUDGET_MS);
      const before = upstream();
      const passes: { perSec: number; errors: number }[] = [];
      for (let p = 0; p < CACHED_PASSES; p += 1) {
        passes.push(await throughputCached(cached, credentials, CACHED_CHECKS, CACHED_BUDGET_MS));
      }
      const latency = await latencyCached(cached, credentials, CACHED_CHECKS, CACHED_BUDGET_MS);
      const median = passes.map((p) => p.perSec).sort((a, b) => a - b)[
        Math.floor(CACHED_PASSES / 2)
      ]!;
      row(
        'authbridge',
        'cached',
        {
          perSec: median,
          p50Ms: latency.p50Ms,
          p99Ms: latency.p99Ms,
          errors: latency.errors + passes.reduce((n, p) => n + p.errors, 0),
        },
        upstream() - before,
      );
      await cached.close();
    }

    // Misses: authbridge (cache off) and passport-http-bearer, against the same server. They run
    // in alternating rounds after a common warm-up, so neither gets a warmer server or a quieter
    // moment than the other.
    {
      const missing = backend(as, false);
      const passport = passportCheck(as);
      const impls: {
        name: string;
        check: Check;
        runs: Measured['runs'][number][];
        calls: number;
      }[] = [
        {
          name: 'authbridge',
          check: async (w) =>
            (await missing.authenticate(undefined, { token: tokens[w]! })) !== null,
          runs: [],
          calls: 0,
        },
        { name: 'passport-http-bearer', check: (w) => passport(tokens[w]!), runs: [], calls: 0 },
      ];
      for (const impl of impls) await load(impl.check, 300, MISS_WORKERS, MISS_BUDGET_MS);
      for (let r = 0; r < MISS_ROUNDS; r += 1) {
        for (const impl of r % 2 === 0 ? impls : [...impls].reverse()) {
          const before = upstream();
          impl.runs.push(
            ...(await load(impl.check, MISS_CHECKS / MISS_ROUNDS, MISS_WORKERS, MISS_BUDGET_MS))
              .runs,
          );
          impl.calls += upstream() - before;
        }
      }
      for (const impl of impls) row(impl.name, 'miss', summarize(impl.runs), impl.calls);
      await missing.close();
    }

    // authbridge, 1,000 concurrent checks of one token nobody has checked yet.
    {
      const fresh = backend(as, true);
      const token = await as.mint('app-3');
      const before = upstream();
      const r = await load(
        async () => (await fresh.authenticate(undefined, { token })) !== null,
        1_000,
        1_000,
        MISS_BUDGET_MS,
      );
      row('authbridge', 'concurrent-miss-1000', r, upstream() - before);
      await fresh.close();
    }
  } finally {
    await as.close();
  }
  console.log(JSON.stringify({ suite: 'rest', results }));
}

await main();
