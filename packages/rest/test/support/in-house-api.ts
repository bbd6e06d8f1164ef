// The fixture playing a team's in-house services, as a small Koa app on 127.0.0.1, port 0:
// - POST /verify          "is this token good?" (token in Authorization: Bearer)
// - POST /login           "are these credentials good?" (JSON body username/password)
// - POST /introspect      a misbehaving RFC 7662 endpoint, behaviour chosen by the token
// - POST /permissions     a remote permission endpoint
// Every request is counted on the server side; `behaviour` switches the whole app into failure
// modes (500s, delays, garbage) to exercise deadlines, retries and the breaker.
import { gzipSync } from 'node:zlib';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';

export interface InHouseUser {
  readonly id: string | number;
  readonly login: string;
  readonly email?: string;
  readonly roles?: readonly string[];
  readonly perms?: readonly string[];
  readonly scope?: string;
  /** Seconds since the epoch. */
  readonly exp?: number;
}

export type Behaviour =
  | { readonly kind: 'normal' }
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'malformed' }
  /** Answer /introspect gzip-compressed, padded to `inflatedBytes` once decompressed. */
  | { readonly kind: 'gzip'; readonly inflatedBytes: number }
  /** Fail the next `count` requests with `status`, then behave normally. */
  | { readonly kind: 'flaky'; count: number; readonly status: number };

export interface InHouseApi {
  readonly url: string;
  readonly tokens: Map<string, InHouseUser>;
  readonly passwords: Map<string, { readonly password: string; readonly user: InHouseUser }>;
  /** Introspection responses by token (the raw JSON body to send). */
  readonly introspection: Map<string, string>;
  /** Permission decisions by permission name: the JSON body to send. */
  readonly decisions: Map<string, object>;
  behaviour: Behaviour;
  /** Requests per path. */
  count(path: string): number;
  /** Bodies received per path (to check what the backend sent). */
  readonly received: Map<string, { headers: Record<string, unknown>; body: string }[]>;
  resetCounts(): void;
  close(): Promise<void>;
}

export async function startInHouseApi(): Promise<InHouseApi> {
  const tokens = new Map<string, InHouseUser>();
  const passwords = new Map<string, { password: string; user: InHouseUser }>();
  const introspection = new Map<string, string>();
  const decisions = new Map<string, object>();
  const counts = new Map<string, number>();
  const received = new Map<string, { headers: Record<string, unknown>; body: string }[]>();
  const state: { behaviour: Behaviour } = { behaviour: { kind: 'normal' } };

  const app = new Koa();
  app.use(async (ctx, next) => {
    counts.set(ctx.path, (counts.get(ctx.path) ?? 0) + 1);
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    (ctx.state as { raw: string }).raw = raw;
    const list = received.get(ctx.path) ?? [];
    list.push({ headers: { ...ctx.headers }, body: raw });
    received.set(ctx.path, list);
    const b = state.behaviour;
    if (b.kind === 'status') {
      ctx.status = b.status;
      ctx.body = { error: 'failing on purpose' };
      return;
    }
    if (b.kind === 'flaky' && b.count > 0) {
      b.count -= 1;
      ctx.status = b.status;
      ctx.body = { error: 'flaky on purpose' };
      return;
    }
    if (b.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, b.ms));
    if (b.kind === 'malformed') {
      ctx.status = 200;
      ctx.type = 'application/json';
      ctx.body = '{"active": tru';
      return;
    }
    await next();
  });

  const userBody = (user: InHouseUser): object => ({
    valid: true,
    user: { id: user.id, login: user.login, email: user.email, roles: user.roles ?? [] },
    perms: user.perms ?? [],
    scope: user.scope ?? '',
    ...(user.exp === undefined ? {} : { exp: user.exp }),
  });
  const router = new Router();
  router.post('/verify', (ctx) => {
    const header = ctx.get('authorization');
    const user = header.startsWith('Bearer ') ? tokens.get(header.slice(7)) : undefined;
    if (user === undefined) {
      ctx.status = 401;
      ctx.body = { valid: false };
      return;
    }
    ctx.body = userBody(user);
  });
  router.post('/login', (ctx) => {
    let body: { username?: unknown; password?: unknown } = {};
    try {
      body = JSON.parse((ctx.state as { raw: string }).raw) as typeof body;
    } catch {
      ctx.status = 400;
      return;
    }
    const entry = typeof body.username === 'string' ? passwords.get(body.username) : undefined;
    ctx.body =
      entry !== undefined && entry.password === body.password
        ? userBody(entry.user)
        : { valid: false };
  });
  router.post('/introspect', (ctx) => {
    const form = new URLSearchParams((ctx.state as { raw: string }).raw);
    const answer = introspection.get(form.get('token') ?? '');
    ctx.type = 'application/json';
    ctx.body = answer ?? '{"active":false}';
    const b = state.behaviour;
    if (b.kind === 'gzip') {
      const padded = {
        ...(JSON.parse(ctx.body as string) as object),
        pad: 'x'.repeat(b.inflatedBytes),
      };
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = gzipSync(JSON.stringify(padded));
    }
  });
  router.post('/permissions', (ctx) => {
    const body = JSON.parse((ctx.state as { raw: string }).raw) as { permission: string };
    ctx.body = decisions.get(body.permission) ?? { allowed: false };
  });
  app.use(router.routes());

  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tokens,
    passwords,
    introspection,
    decisions,
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(value: Behaviour) {
      state.behaviour = value;
    },
    count: (path) => counts.get(path) ?? 0,
    received,
    resetCounts: () => {
      counts.clear();
      received.clear();
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => {
          error ? reject(error) : resolve();
        });
        server.closeAllConnections();
      }),
  };
}
