// `npm run bench:http`: the reference host's /api/me under autocannon, with a bearer token (cached
// by the REST backend) and with a session cookie, next to a bare Koa JSON endpoint on the same
// machine in the same run. Prints one JSON line last (each row: the median of BENCH_ROUNDS rounds
// of BENCH_SECONDS, errors summed over all rounds).
import { tokenHash } from '@authbridge/rest';
import { createApp, listen, parseConfig, type RunningHost } from '@authbridge/server';
import Router from '@koa/router';
import Koa from 'koa';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { API_RESOURCE, RS_BASIC, startAuthorizationServer } from '@authbridge/testkit';
import { autocannon, type HttpRow } from './http-lib.ts';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

const dir = mkdtempSync(join(tmpdir(), 'authbridge-bench-http-'));
const as = await startAuthorizationServer();

// A bare Koa JSON endpoint: the ceiling for any Koa middleware.
const bare = new Koa();
bare.use((ctx) => {
  ctx.body = { id: 'u1', username: 'bench' };
});
const bareServer = await serve(bare);
const bareUrl = `http://127.0.0.1:${(bareServer.address() as AddressInfo).port}/api/me`;

// Context, measured in the same rounds and printed on stderr only (not rows of the suite): bare
// Koa answering with what /api/me must send — its body and the host's security headers — but
// doing nothing to make it; and the floor: the least any Koa host must do for the bearer row
// under the rules this project follows, and nothing more (see the floor below). They show how
// much of the 0.7× budget the answer's shape takes, and how much the required minimum takes.
const ME = {
  id: 'b9be0ca6-fb1f-41dc-b7f0-69dcd93354f0',
  username: 'bench',
  backend: 'rest',
  via: 'bearer',
  groups: [],
  isStaff: false,
  isSuperuser: false,
  permissions: [],
};
// The request id and security headers the host's edge sends on a JSON answer.
const setHostHeaders = (res: ServerResponse, reqId: string): void => {
  res.setHeader('X-Request-Id', reqId);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
};
const shaped = new Koa();
shaped.use((ctx) => {
  ctx.body = ME;
  setHostHeaders(ctx.res, randomUUID());
});
// The floor: dispatch by @koa/router (the host's router), a request id and the security headers
// (the issue asks for both), and a verdict cache keyed by the token's SHA-256 (RFC 9700 §4.9.3: a
// resource server must not keep tokens in plaintext, so every cached check hashes the token).
// Nothing else: no user-store read (a deactivated user must lose access), no permission union,
// no metrics, one route instead of all of the host's. Whatever /api/me does, it does at least this.
const floorToken = `floor-${randomUUID()}`;
const floorCache = new Map([[tokenHash(floorToken), ME]]);
const floor = new Koa();
floor.use(async (ctx, next) => {
  const reqId = randomUUID();
  await next();
  setHostHeaders(ctx.res, reqId);
});
const floorRouter = new Router();
floorRouter.get('/api/me', (ctx) => {
  const user = floorCache.get(
    tokenHash((ctx.req.headers.authorization ?? '').slice('Bearer '.length)),
  );
  if (user === undefined) {
    ctx.status = 401;
    return;
  }
  ctx.body = { ...user };
});
floor.use(floorRouter.routes());
const contextServers = [await serve(shaped), await serve(floor)];
const contextUrl = (i: number): string =>
  `http://127.0.0.1:${(contextServers[i]!.address() as AddressInfo).port}/api/me`;

const config = parseConfig(
  {
    server: { port: 0, secret: 'a-bench-secret-that-is-at-least-32-chars' },
    stores: { kind: 'sqlite', path: join(dir, 'bench.db') },
    backends: [
      {
        type: 'rest',
        mode: {
          kind: 'introspection',
          endpoint: as.introspectionUrl,
          issuer: as.issuer,
          audience: API_RESOURCE,
          clientAuth: { method: 'client_secret_basic', ...RS_BASIC },
        },
      },
      { type: 'local', users: [{ username: 'bench', password: 'bench-password-123' }] },
    ],
    logging: { level: 'silent' },
  },
  {},
);
const app = await createApp(config, { logger: pino({ level: 'silent' }) });
const host: RunningHost = await listen(app, '127.0.0.1', 0);

// A session: log in once through the form.
const loginPage = await fetch(`${host.url}/login`);
// The response's cookie of that name, as `name=value` ('' when it sets none).
const named = (res: Response, name: string): string =>
  res.headers
    .getSetCookie()
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0] ?? '';
const cookie = named(loginPage, 'authbridge.csrf');
const csrf = /name="_csrf" value="([^"]+)"/.exec(await loginPage.text())?.[1] ?? '';
const login = await fetch(`${host.url}/login`, {
  method: 'POST',
  redirect: 'manual',
  headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
  body: new URLSearchParams({ username: 'bench', password: 'bench-password-123', _csrf: csrf }),
});
const sessionCookie = named(login, 'authbridge.sid');
if (login.status !== 303 || sessionCookie === '')
  throw new Error(`bench login failed: ${login.status}`);

const token = await as.mint('app-1', { resource: API_RESOURCE, scope: 'read' });
const warm = await fetch(`${host.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
if (warm.status !== 200) throw new Error(`bench bearer warm-up failed: ${warm.status}`);

// The three targets, measured in interleaved rounds after one warm-up each (JIT, caches): on a
// shared 2-core machine a single 5 s sample swings by ±30%, so each row is the median round.
const targets: [impl: string, url: string, headers: Record<string, string>][] = [
  ['koa-bare', bareUrl, {}],
  ['authbridge-bearer', `${host.url}/api/me`, { authorization: `Bearer ${token}` }],
  ['authbridge-session', `${host.url}/api/me`, { cookie: sessionCookie }],
  ['(context) koa-bare answering /api/me-shaped', contextUrl(0), {}],
  [
    '(context) floor: @koa/router, headers, SHA-256 cache key',
    contextUrl(1),
    {
      authorization: `Bearer ${floorToken}`,
    },
  ],
];
const SUITE_ROWS = 3;
for (const [impl, url, headers] of targets) await autocannon(impl, url, headers, 1, CONNECTIONS);
const rounds = new Map<string, HttpRow[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [impl, url, headers] of targets) {
    const row = await autocannon(impl, url, headers, SECONDS, CONNECTIONS);
    rounds.set(impl, [...(rounds.get(impl) ?? []), row]);
  }
}
const medians: HttpRow[] = [...rounds.values()].map((rows) => {
  const median = [...rows].sort((a, b) => a.perSec - b.perSec)[Math.floor(rows.length / 2)]!;
  return { ...median, errors: rows.reduce((sum, r) => sum + r.errors, 0) };
});
const results = medians.slice(0, SUITE_ROWS);

await host.shutdown(2000);
for (const server of [bareServer, ...contextServers]) {
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}
await as.close();
rmSync(dir, { recursive: true, force: true });

for (const [impl, rows] of rounds)
  console.error(`${impl} rounds: ${rows.map((r) => r.perSec).join(', ')} req/s`);
const base = results[0]!.perSec;
for (const r of medians)
  console.error(
    `${r.impl}: ${r.perSec}/s (${(r.perSec / base).toFixed(2)}x koa-bare), p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, errors ${r.errors}`,
  );
console.log(JSON.stringify({ suite: 'http', results }));

/** Listens with `app` on a free loopback port. */
async function serve(app: Koa): Promise<Server> {
  const handler = app.callback();
  const server = createServer((req, res) => {
    void handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
