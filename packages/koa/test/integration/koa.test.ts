// HTTP behaviour of the middleware, through supertest on an unlistened app, with the real
// LocalPasswordBackend and a real SQLite session store.
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import {
  AuthBridgeError,
  type AuthBackend,
  Authenticator,
  createUser,
  type KeyValueStore,
  LocalPasswordBackend,
  MemoryKeyValueStore,
  MemoryUserStore,
  type User,
} from '@authbridge/core';
import { SqliteKeyValueStore } from '@authbridge/core/sqlite';
import {
  type AuthState,
  authbridge,
  bearer,
  csrf,
  csrfToken,
  errorHandler,
  login,
  logout,
  requireAuth,
  requirePerm,
  sessions,
  updateSessionAuthHash,
} from '@authbridge/koa';
import { expect } from 'chai';
import Koa from 'koa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';

// A token backend for the bearer routes: pure logic, the REST backend brings the real one.
const tokenBackend: AuthBackend<{ token: string }> = {
  id: 'tokens',
  accepts: (c): c is { token: string } =>
    typeof (c as { token?: unknown } | null)?.token === 'string',
  authenticate: async (_r, c) => {
    // A backend may refuse a token with an error of its own (a replayed or malformed one).
    if (c.token === 'replayed-token') throw new AuthBridgeError('REPLAY_DETECTED');
    return c.token === 'good-token' ? createUser({ id: 'svc', username: 'svc' }) : null;
  },
  getUser: async () => null,
  // Django lets a backend grant the anonymous user permissions: here, reading the wiki.
  getAllPermissions: async (user) => new Set(user.isAuthenticated ? [] : ['wiki.read']),
  close: async () => undefined,
};

interface Harness {
  app: Koa<AuthState>;
  local: LocalPasswordBackend;
  users: MemoryUserStore;
  logins: string[];
  /** While `until` is set, POST /password calls `reached` and waits, session and user loaded. */
  hold: { until?: Promise<void>; reached?: () => void };
  cleanup(): Promise<void>;
}

async function harness(wrap: (store: KeyValueStore) => KeyValueStore = (s) => s): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'authbridge-koa-'));
  const store = new SqliteKeyValueStore({ path: join(dir, 'sessions.db') });
  const users = new MemoryUserStore();
  const local = new LocalPasswordBackend({
    store: users,
    scrypt: { logN: 10, r: 8, p: 1 },
    groupPermissions: { editors: ['wiki.edit'] },
  });
  await local.createUser({ username: 'alice', groups: ['editors'] }, 'alice-pw');
  await local.createUser({ username: 'bob' }, 'bob-pw');
  const authenticator = new Authenticator<User>({ backends: [local, tokenBackend] });
  const logins: string[] = [];
  authenticator.events.on('loggedIn', ({ user }) => {
    logins.push(user.username);
  });

  const app = new Koa<AuthState>();
  app.use(errorHandler());
  const api = new Router<AuthState>();
  api.use(bearer({ authenticator, realm: 'api' }));
  api.get('/api/token-me', requireAuth(), async (ctx) => {
    ctx.body = { username: (await ctx.state.user).username };
  });
  api.get('/api/token-wiki', requirePerm('wiki.edit'), (ctx) => {
    ctx.body = { ok: true };
  });
  app.use(api.routes());

  const web = new Router<AuthState>();
  web.use(
    bodyParser(),
    sessions({ store: wrap(store) }),
    authbridge({ authenticator, secret: SECRET }),
    csrf(),
  );
  web.get('/csrf', (ctx) => {
    ctx.body = { token: csrfToken(ctx) };
  });
  web.get('/raw', (ctx) => {
    // Changes the session, then answers on the Node response itself (as a stream or a proxy would).
    ctx.state.session?.set('raw', 'seen');
    ctx.respond = false;
    ctx.res.writeHead(200, { 'content-type': 'text/plain' });
    ctx.res.end('raw');
  });
  web.get('/raw-seen', (ctx) => {
    ctx.body = { raw: ctx.state.session?.get('raw') ?? null };
  });
  web.get('/csrf-by-language', (ctx) => {
    ctx.vary('Accept-Language');
    ctx.body = { token: csrfToken(ctx) };
  });
  web.post('/login', async (ctx) => {
    const { username, password } = ctx.request.body as Record<string, string>;
    const user = await authenticator.authenticate(ctx, { username, password });
    if (!user) {
      ctx.status = 401;
      ctx.body = { code: 'INVALID_CREDENTIALS', message: 'Invalid credentials' };
      return;
    }
    await login(ctx, user);
    ctx.body = { ok: true };
  });
  const hold: Harness['hold'] = {};
  web.post('/password', async (ctx) => {
    const user = await ctx.state.user;
    if (!user.isAuthenticated) throw new AuthBridgeError('UNAUTHENTICATED');
    if (hold.until !== undefined) {
      hold.reached?.();
      await hold.until;
    }
    const { password } = ctx.request.body as Record<string, string>;
    await updateSessionAuthHash(ctx, await local.setPassword(user.id, password ?? ''));
    ctx.body = { ok: true };
  });
  // A change-password form that checks the current password instead of the session's user (and,
  // with `peek`, reads the session's user first, as Django's views do).
  web.post('/password-by-old', async (ctx) => {
    const { username, current, password, peek } = ctx.request.body as Record<string, string>;
    if (peek === 'yes') await ctx.state.user;
    const user = await authenticator.authenticate(ctx, { username, password: current });
    if (!user) throw new AuthBridgeError('INVALID_CREDENTIALS');
    await updateSessionAuthHash(ctx, await local.setPassword(user.id, password ?? ''));
    ctx.body = { ok: true };
  });
  web.post('/logout', async (ctx) => {
    await logout(ctx);
    ctx.body = { ok: true };
  });
  web.post('/mark', (ctx) => {
    ctx.state.session?.set('mark', Date.now());
    ctx.body = { ok: true };
  });
  web.get('/me', requireAuth(), async (ctx) => {
    const user = await ctx.state.user;
    ctx.body = { username: user.username, backend: user.backendId };
  });
  web.get('/api/mixed', requireAuth({ challenge: 'Bearer realm="api"' }), (ctx) => {
    ctx.body = { ok: true };
  });
  web.get('/wiki/read', requirePerm('wiki.read'), (ctx) => {
    ctx.body = { ok: true };
  });
  web.get('/wiki/edit', requirePerm('wiki.edit'), (ctx) => {
    ctx.body = { ok: true };
  });
  web.get('/page', requireAuth({ loginUrl: '/sign-in' }), (ctx) => {
    ctx.body = { ok: true };
  });
  web.post('/page', requireAuth({ loginUrl: '/sign-in' }), (ctx) => {
    ctx.body = { ok: true };
  });
  web.get('/wiki/page', requirePerm('wiki.edit', { loginUrl: '/sign-in?lang=en' }), (ctx) => {
    ctx.body = { ok: true };
  });
  web.get('/boom', () => {
    throw new Error('secret internals');
  });
  web.post('/logout-then-crash', async (ctx) => {
    await logout(ctx);
    throw new Error('crashed after logout');
  });
  web.post('/login-then-crash', async (ctx) => {
    const { username, password } = ctx.request.body as Record<string, string>;
    const user = await authenticator.authenticate(ctx, { username, password });
    if (user) await login(ctx, user);
    throw new Error('crashed after login');
  });
  app.use(web.routes());
  return {
    app,
    local,
    users,
    logins,
    hold,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A cookie-keeping client: supertest's agent, plus the session id it holds. */
/** The secret a masked CSRF token stands for (the first half masks the second). */
function secretOf(token: string): string {
  const bytes = Buffer.from(token, 'base64url');
  const secret = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) secret[i] = bytes[i]! ^ bytes[32 + i]!;
  return secret.toString('base64url');
}

function sid(res: request.Response): string | undefined {
  const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const c = cookies.find((x) => x.startsWith('authbridge.sid='));
  return c?.split(';')[0]?.split('=')[1];
}

async function loginAs(
  agent: request.Agent,
  username: string,
  password: string,
): Promise<request.Response> {
  const body: unknown = (await agent.get('/csrf').expect(200)).body;
  return agent
    .post('/login')
    .type('form')
    .send({ username, password, _csrf: (body as { token: string }).token });
}

/**
 * A store whose second session read once armed (the first is the next request loading its
 * session) reads at once but answers only when released: the widest possible gap between a read
 * and the write that may follow it.
 */
class GatedStore implements KeyValueStore {
  armed = false;
  #reads = 0;
  readonly reached: Promise<void>;
  #reached!: () => void;
  #release!: () => void;
  readonly #gate: Promise<void>;
  readonly inner: KeyValueStore;
  constructor(inner: KeyValueStore) {
    this.inner = inner;
    this.reached = new Promise((resolve) => (this.#reached = resolve));
    this.#gate = new Promise((resolve) => (this.#release = resolve));
  }
  release(): void {
    this.#release();
  }
  async get(key: string): Promise<string | undefined> {
    const value = await this.inner.get(key);
    if (this.armed && key.startsWith('session:') && ++this.#reads === 2) {
      this.#reached();
      await this.#gate;
    }
    return value;
  }
  set(key: string, value: string, ttlMs?: number): Promise<void> {
    return this.inner.set(key, value, ttlMs);
  }
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.inner.setIfAbsent(key, value, ttlMs);
  }
  setIfPresent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    return this.inner.setIfPresent(key, value, ttlMs);
  }
  delete(key: string): Promise<boolean> {
    return this.inner.delete(key);
  }
  deleteIfEquals(key: string, value: string): Promise<boolean> {
    return this.inner.deleteIfEquals(key, value);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('@authbridge/koa over HTTP', function () {
  let h: Harness;
  beforeEach(async function () {
    h = await harness();
  });
  afterEach(async function () {
    await h.cleanup();
  });

  it('answers 401 to anonymous and 403 to a user without the permission', async function () {
    const server = h.app.callback();
    await request(server)
      .get('/me')
      .expect(401)
      .expect((r) =>
        expect(r.body).to.deep.equal({
          code: 'UNAUTHENTICATED',
          message: 'Authentication required',
        }),
      );
    const alice = request.agent(server);
    await loginAs(alice, 'alice', 'alice-pw').then((r) => expect(r.status).to.equal(200));
    await alice.get('/wiki/edit').expect(200);
    const bob = request.agent(server);
    await loginAs(bob, 'bob', 'bob-pw');
    await bob
      .get('/wiki/edit')
      .expect(403)
      .expect((r) => expect((r.body as { code: string }).code).to.equal('PERMISSION_DENIED'));
  });

  it('lets the anonymous through a permission a backend grants them, as permission_required', async function () {
    const server = h.app.callback();
    await request(server).get('/wiki/read').expect(200);
    // A permission nobody grants them still sends them to log in (401), not to a 403.
    await request(server).get('/wiki/edit').expect(401);
  });

  it('marks answers made from the session Vary: Cookie, and only those', async function () {
    const agent = request.agent(h.app.callback());
    await loginAs(agent, 'alice', 'alice-pw');
    const me = await agent.get('/me').expect(200);
    expect(me.headers['vary']).to.match(/\bCookie\b/i);
    // Refusals made from the session vary by it as well: bob's 403 is not everyone's answer.
    const bob = request.agent(h.app.callback());
    await loginAs(bob, 'bob', 'bob-pw');
    expect((await bob.get('/wiki/edit').expect(403)).headers['vary']).to.match(/\bCookie\b/i);
    const page = await request(h.app.callback()).get('/csrf').expect(200);
    expect(page.headers['vary']).to.match(/\bCookie\b/i);
    // Added to what the route varies on already, not in its place.
    const both = await request(h.app.callback()).get('/csrf-by-language').expect(200);
    expect(both.headers['vary']).to.equal('Accept-Language, Cookie');
    // A route that answered on the Node response itself: too late for a header, but its session
    // change is saved all the same (setting the header then threw, and the save was skipped).
    expect((await agent.get('/raw').expect(200)).text).to.equal('raw');
    expect((await agent.get('/raw-seen').expect(200)).body).to.deep.equal({ raw: 'seen' });
    // A bearer request never reads a session.
    const api = await request(h.app.callback())
      .get('/api/token-wiki')
      .set('Authorization', 'Bearer good-token');
    expect(api.headers['vary'] ?? '').not.to.match(/\bCookie\b/i);
  });

  it('sets an HttpOnly, SameSite=Lax cookie holding only an opaque id', async function () {
    const agent = request.agent(h.app.callback());
    const res = await loginAs(agent, 'alice', 'alice-pw');
    const cookie = ([] as string[])
      .concat(res.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('authbridge.sid='))!;
    expect(cookie)
      .to.match(/httponly/i)
      .and.match(/samesite=lax/i);
    expect(sid(res)).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(cookie).to.not.include('alice');
  });

  it('finds the session cookie among others, as ctx.cookies would, and only under its name', async function () {
    const server = h.app.callback();
    const res = await loginAs(request.agent(server), 'alice', 'alice-pw');
    const id = sid(res)!;
    const me = (cookie: string) => request(server).get('/me').set('Cookie', cookie);
    await me(`theme=dark; authbridge.sid=${id}; lang=en`).expect(200);
    await me(`authbridge.sid="${id}"`).expect(200);
    // The first pair of that name counts; a longer name that ends the same is another cookie.
    await me(`authbridge.sid=${'x'.repeat(43)}; authbridge.sid=${id}`).expect(401);
    await me(`old-authbridge.sid=${id}`).expect(401);
    await me(`authbridgeXsid=${id}`).expect(401);
    for (const names of [
      { cookieName: 'a b' },
      { csrfCookieName: 'a;b' },
      { cookieName: 'same', csrfCookieName: 'same' },
    ])
      expect(() => sessions({ store: new MemoryKeyValueStore(), ...names }))
        .to.throw(AuthBridgeError)
        .with.property('code', 'CONFIG_INVALID');
  });

  it('sends anonymous visitors of a page to the login page (login_required), with next', async function () {
    const server = h.app.callback();
    await request(server)
      .get('/page?tab=a&x=%2F')
      .expect(303)
      .expect('location', `/sign-in?next=${encodeURIComponent('/page?tab=a&x=%2F')}`);
    // Any method: 303 brings the browser back with a GET.
    const visitor = request.agent(server);
    const token = ((await visitor.get('/csrf')).body as { token: string }).token;
    await visitor
      .post('/page')
      .type('form')
      .send({ _csrf: token })
      .expect(303)
      .expect('location', `/sign-in?next=${encodeURIComponent('/page')}`);
    await request(server)
      .get('/wiki/page')
      .expect(303)
      .expect('location', `/sign-in?lang=en&next=${encodeURIComponent('/wiki/page')}`);
    const alice = request.agent(server);
    await loginAs(alice, 'alice', 'alice-pw');
    await alice.get('/page').expect(200);
    await alice.get('/wiki/page').expect(200);
    const bob = request.agent(server);
    await loginAs(bob, 'bob', 'bob-pw');
    // Logged in without the permission: 403, not a login page.
    await bob.get('/wiki/page').expect(403);
    for (const options of [
      { loginUrl: 'https://evil.example/login' },
      { loginUrl: '//evil.example/login' },
      { loginUrl: '/login', challenge: 'Bearer realm="api"' },
    ]) {
      expect(() => requireAuth(options))
        .to.throw(AuthBridgeError)
        .with.property('code', 'CONFIG_INVALID');
      expect(() => requirePerm('x', options))
        .to.throw(AuthBridgeError)
        .with.property('code', 'CONFIG_INVALID');
    }
  });

  it('names the configured challenge on a 401 of a session route, none by default', async function () {
    const server = h.app.callback();
    const mixed = await request(server).get('/api/mixed').expect(401);
    expect(mixed.headers['www-authenticate']).to.equal('Bearer realm="api"');
    expect((mixed.body as { code: string }).code).to.equal('UNAUTHENTICATED');
    expect((await request(server).get('/me').expect(401)).headers['www-authenticate']).to.equal(
      undefined,
    );
    const alice = request.agent(server);
    await loginAs(alice, 'alice', 'alice-pw');
    await alice.get('/api/mixed').expect(200);
    expect(() => requireAuth({ challenge: 'Bearer\r\nSet-Cookie: x=1' }))
      .to.throw(AuthBridgeError)
      .with.property('code', 'CONFIG_INVALID');
  });

  it('does not bring back a session logged out while another request of it was saving', async function () {
    let gated: GatedStore | undefined;
    const g = await harness((store) => (gated = new GatedStore(store)));
    try {
      const server = g.app.callback();
      const agent = request.agent(server);
      const login = await loginAs(agent, 'alice', 'alice-pw');
      const id = sid(login)!;
      const token = ((await agent.get('/csrf').expect(200)).body as { token: string }).token;
      // The next request's save, if it reads the session before writing, waits at the gate.
      gated!.armed = true;
      const marking = agent
        .post('/mark')
        .type('form')
        .send({ _csrf: token })
        .then((r) => r);
      // Either the save reads first (and waits), or it writes in one step and is done.
      await Promise.race([gated!.reached, marking]);
      gated!.armed = false;
      await request(server)
        .post('/logout')
        .set('Cookie', `authbridge.sid=${id}`)
        .type('form')
        .send({ _csrf: token })
        .expect(200);
      gated!.release();
      await marking;
      await request(server).get('/me').set('Cookie', `authbridge.sid=${id}`).expect(401);
    } finally {
      await g.cleanup();
    }
  });

  it('does not bring back, under a new id, a session logged out while a password change ran on it', async function () {
    const agent = request.agent(h.app.callback());
    const id = sid(await loginAs(agent, 'alice', 'alice-pw'))!;
    const token = ((await agent.get('/csrf').expect(200)).body as { token: string }).token;
    let release!: () => void;
    h.hold.until = new Promise((resolve) => (release = resolve));
    const reached = new Promise<void>((resolve) => (h.hold.reached = resolve));
    const changing = agent
      .post('/password')
      .type('form')
      .send({ password: 'alice-new-password', _csrf: token })
      .then((r) => r);
    // The change has loaded the session and its user, and waits; the session is logged out.
    await reached;
    await request(h.app.callback())
      .post('/logout')
      .set('Cookie', `authbridge.sid=${id}`)
      .type('form')
      .send({ _csrf: token })
      .expect(200);
    release();
    const changed = await changing;
    delete h.hold.until;
    delete h.hold.reached;
    const moved = sid(changed);
    expect(moved ?? '', 'no new session id is handed out').to.equal('');
    await request(h.app.callback()).get('/me').set('Cookie', `authbridge.sid=${id}`).expect(401);
    await agent.get('/me').expect(401);
  });

  it('does not revive, with a new hash, a session an earlier password change ended', async function () {
    const here = request.agent(h.app.callback());
    await loginAs(here, 'alice', 'alice-pw');
    const token = ((await here.get('/csrf').expect(200)).body as { token: string }).token;
    // Changed elsewhere: this session is over, though nothing has looked at it since.
    const alice = await h.users.getByUsername('alice');
    await h.local.setPassword(alice!.id, 'alice-second-pw');
    // A form that checks the current password then calls updateSessionAuthHash on this request.
    await here
      .post('/password-by-old')
      .type('form')
      .send({
        username: 'alice',
        current: 'alice-second-pw',
        password: 'alice-third-pw',
        peek: 'yes',
        _csrf: token,
      })
      .expect(200);
    await here.get('/me').expect(401);
  });

  it('keeps the session through a change-password form that never read the session user', async function () {
    const here = request.agent(h.app.callback());
    await loginAs(here, 'alice', 'alice-pw');
    const token = ((await here.get('/csrf').expect(200)).body as { token: string }).token;
    await here
      .post('/password-by-old')
      .type('form')
      .send({ username: 'alice', current: 'alice-pw', password: 'alice-next-pw', _csrf: token })
      .expect(200);
    await here.get('/me').expect(200);
  });

  it('refuses a POST without the CSRF token', async function () {
    const agent = request.agent(h.app.callback());
    await agent.get('/csrf').expect(200);
    await agent
      .post('/login')
      .type('form')
      .send({ username: 'alice', password: 'alice-pw', _csrf: 'forged' })
      .expect(403)
      .expect((r) => expect((r.body as { code: string }).code).to.equal('CSRF_FAILED'));
    await request(h.app.callback())
      .post('/login')
      .type('form')
      .send({ username: 'alice', password: 'alice-pw' })
      .expect(403);
  });

  it('changes the session id at login (fixation) and rotates the CSRF token', async function () {
    const agent = request.agent(h.app.callback());
    // An anonymous session in the store: the CSRF secret plus something else.
    const first = await agent.get('/csrf');
    const marked = await agent
      .post('/mark')
      .type('form')
      .send({ _csrf: (first.body as { token: string }).token })
      .expect(200);
    const before = sid(marked);
    const res = await agent
      .post('/login')
      .type('form')
      .send({
        username: 'alice',
        password: 'alice-pw',
        _csrf: (first.body as { token: string }).token,
      });
    expect(res.status).to.equal(200);
    expect(before).to.be.a('string');
    expect(sid(res)).to.be.a('string').and.not.equal(before);
    const after = await agent.get('/csrf');
    expect((after.body as { token: string }).token).to.not.equal(
      (first.body as { token: string }).token,
    );
    // The pre-login id is dead: replaying it is anonymous.
    await request(h.app.callback())
      .get('/me')
      .set('Cookie', `authbridge.sid=${String(before)}`)
      .expect(401);
    expect(h.logins).to.deep.equal(['alice']);
  });

  it('flushes the previous user session when another user logs in on it', async function () {
    const agent = request.agent(h.app.callback());
    const a = await loginAs(agent, 'alice', 'alice-pw');
    const b = await loginAs(agent, 'bob', 'bob-pw');
    expect(sid(b)).to.not.equal(sid(a));
    await agent
      .get('/me')
      .expect(200)
      .expect((r) => expect((r.body as { username: string }).username).to.equal('bob'));
    await request(h.app.callback())
      .get('/me')
      .set('Cookie', `authbridge.sid=${String(sid(a))}`)
      .expect(401);
  });

  it('makes a deleted user anonymous on the next request', async function () {
    const agent = request.agent(h.app.callback());
    await loginAs(agent, 'bob', 'bob-pw');
    await agent.get('/me').expect(200);
    const bob = await h.users.getByUsername('bob');
    await h.users.delete(bob!.id);
    await agent.get('/me').expect(401);
  });

  it('ends other sessions when the password changes (session hash)', async function () {
    const agent = request.agent(h.app.callback());
    await loginAs(agent, 'alice', 'alice-pw');
    const alice = await h.users.getByUsername('alice');
    await h.local.setPassword(alice!.id, 'new-pw');
    await agent.get('/me').expect(401);
  });

  it('logs out: the session is gone and the old cookie is anonymous', async function () {
    const agent = request.agent(h.app.callback());
    const res = await loginAs(agent, 'alice', 'alice-pw');
    const body: unknown = (await agent.get('/csrf')).body;
    await agent
      .post('/logout')
      .send({ _csrf: (body as { token: string }).token })
      .expect(200);
    await request(h.app.callback())
      .get('/me')
      .set('Cookie', `authbridge.sid=${String(sid(res))}`)
      .expect(401);
  });

  it('bearer: no session cookie, a WWW-Authenticate challenge on every 401', async function () {
    const server = h.app.callback();
    const ok = await request(server)
      .get('/api/token-me')
      .set('Authorization', 'Bearer good-token')
      .expect(200);
    expect(ok.headers['set-cookie']).to.equal(undefined);
    const none = await request(server).get('/api/token-me').expect(401);
    expect(none.headers['www-authenticate']).to.equal('Bearer realm="api"');
    const bad = await request(server)
      .get('/api/token-me')
      .set('Authorization', 'Bearer nope')
      .expect(401);
    expect(bad.headers['www-authenticate']).to.equal('Bearer realm="api", error="invalid_token"');
    expect((bad.body as { code: string }).code).to.equal('INVALID_TOKEN');
    const malformed = await request(server)
      .get('/api/token-me')
      .set('Authorization', 'Bearer a b')
      .expect(400);
    expect(malformed.headers['www-authenticate']).to.include('error="invalid_request"');
    // Another scheme carries no bearer token: a bare challenge, as with no header at all.
    const basic = await request(server)
      .get('/api/token-me')
      .set('Authorization', 'Basic YWxpY2U6cHc=')
      .expect(401);
    expect(basic.headers['www-authenticate']).to.equal('Bearer realm="api"');
    const refusal = (path: string, token: string, status: number) =>
      request(server).get(path).set('Authorization', `Bearer ${token}`).expect(status);
    // A token a backend refuses with an error of its own: still RFC 6750's 401 and challenge.
    expect((await refusal('/api/token-me', 'replayed-token', 401)).headers).to.include({
      'www-authenticate': 'Bearer realm="api", error="invalid_token"',
    });
    // A good token without the permission: 403 insufficient_scope, with its challenge (§3.1).
    const scope = await refusal('/api/token-wiki', 'good-token', 403);
    expect(scope.headers['www-authenticate']).to.equal(
      'Bearer realm="api", error="insufficient_scope"',
    );
    expect((scope.body as { code: string }).code).to.equal('INSUFFICIENT_SCOPE');
    // The realm goes into a header: only printable ASCII without quotes or backslashes.
    const authenticator = new Authenticator({ backends: [tokenBackend] });
    for (const realm of ['API 日本', 'a"b', 'a\\b', '', 'line\nbreak'])
      expect(() => bearer({ authenticator, realm }))
        .to.throw(AuthBridgeError)
        .with.property('code', 'CONFIG_INVALID');
  });

  it('keeps the session that changed its own password and ends the others (update_session_auth_hash)', async function () {
    const here = request.agent(h.app.callback());
    const elsewhere = request.agent(h.app.callback());
    await loginAs(here, 'alice', 'alice-pw').then((r) => expect(r.status).to.equal(200));
    await loginAs(elsewhere, 'alice', 'alice-pw').then((r) => expect(r.status).to.equal(200));
    const token = ((await here.get('/csrf').expect(200)).body as { token: string }).token;
    const changed = await here
      .post('/password')
      .type('form')
      .send({ password: 'alice-new-password', _csrf: token })
      .expect(200);
    expect(sid(changed), 'the session id rotates').to.be.a('string');
    await here.get('/me').expect(200);
    await elsewhere.get('/me').expect(401);
  });

  it('does not save the session of a request that failed with a 5xx (a login then a crash)', async function () {
    const agent = request.agent(h.app.callback());
    const before = ((await agent.get('/csrf').expect(200)).body as { token: string }).token;
    const crashed = await agent
      .post('/login-then-crash')
      .type('form')
      .send({ username: 'alice', password: 'alice-pw', _csrf: before })
      .expect(500);
    expect(crashed.headers['set-cookie']).to.equal(undefined);
    await agent.get('/me').expect(401);
    // The pre-login session was not retired either: same CSRF secret, same id.
    const after = ((await agent.get('/csrf').expect(200)).body as { token: string }).token;
    expect(secretOf(after)).to.equal(secretOf(before));
  });

  it('ends the session of a logout even when the request then fails with a 5xx', async function () {
    const agent = request.agent(h.app.callback());
    const loggedIn = await loginAs(agent, 'alice', 'alice-pw');
    const id = sid(loggedIn);
    const token = ((await agent.get('/csrf').expect(200)).body as { token: string }).token;
    await agent.post('/logout-then-crash').type('form').send({ _csrf: token }).expect(500);
    // As Django's flush(): the logout stands; the old id names nothing, whatever cookie is sent.
    await agent.get('/me').expect(401);
    await request(h.app.callback()).get('/me').set('Cookie', `authbridge.sid=${id!}`).expect(401);
  });

  it('marks the cookies Secure under TLS, trusting X-Forwarded-Proto only behind a configured proxy', async function () {
    // GET /csrf creates a visitor's CSRF secret (its cookie); the login sets the session cookie.
    for (const proxy of [false, true]) {
      h.app.proxy = proxy;
      const server = h.app.callback();
      const page = await request(server)
        .get('/csrf')
        .set('Host', 'app.test')
        .set('X-Forwarded-Proto', 'https');
      // By hand: a cookie jar keeps a Secure cookie from this plain-HTTP test connection.
      const csrfCookie = String(page.headers['set-cookie']).split(';')[0]!;
      const loggedIn = await request(server)
        .post('/login')
        .set('Host', 'app.test')
        .set('X-Forwarded-Proto', 'https')
        // The page's origin, as a browser sends it: https only where the app sees https.
        .set('Origin', proxy ? 'https://app.test' : 'http://app.test')
        .set('Cookie', csrfCookie)
        .type('form')
        .send({
          username: 'alice',
          password: 'alice-pw',
          _csrf: (page.body as { token: string }).token,
        })
        .expect(200);
      const cookies = [
        ...([] as string[]).concat(page.headers['set-cookie'] ?? []),
        ...([] as string[]).concat(loggedIn.headers['set-cookie'] ?? []),
      ].filter((c) => /^authbridge\.(csrf|sid)=[^;]/.test(c));
      expect(cookies.map((c) => c.split('=')[0])).to.deep.equal([
        'authbridge.csrf',
        'authbridge.sid',
      ]);
      for (const c of cookies) {
        expect(c)
          .to.match(/;\s*httponly/i)
          .and.match(/;\s*samesite=lax/i);
        if (proxy) expect(c, 'behind a proxy, X-Forwarded-Proto counts').to.match(/;\s*secure/i);
        else expect(c, 'not behind a proxy: spoofed').to.not.match(/;\s*secure/i);
      }
    }
  });

  it("keeps a visitor's CSRF secret in a cookie: a login form stores nothing", async function () {
    let writes = 0;
    const counted = await harness((s) => ({
      get: (k) => s.get(k),
      set: (k, v, t) => (writes++, s.set(k, v, t)),
      setIfAbsent: (k, v, t) => (writes++, s.setIfAbsent(k, v, t)),
      setIfPresent: (k, v, t) => (writes++, s.setIfPresent(k, v, t)),
      delete: (k) => s.delete(k),
      deleteIfEquals: (k, v) => s.deleteIfEquals(k, v),
      close: () => s.close(),
    }));
    try {
      const server = counted.app.callback();
      const agent = request.agent(server);
      const page = await agent.get('/csrf').expect(200);
      const token = (page.body as { token: string }).token;
      expect(sid(page), 'no session cookie').to.equal(undefined);
      expect(String(page.headers['set-cookie'])).to.include(`authbridge.csrf=${secretOf(token)};`);
      // Shown again: the same secret, from the cookie, masked anew, and nothing written.
      const again = await agent.get('/csrf').expect(200);
      const second = (again.body as { token: string }).token;
      expect(second).to.not.equal(token);
      expect(secretOf(second)).to.equal(secretOf(token));
      expect(again.headers['set-cookie']).to.equal(undefined);
      expect(writes, 'store writes before login').to.equal(0);
      // The cookie alone is not the token: a form must carry it.
      await agent
        .post('/login')
        .type('form')
        .send({ username: 'alice', password: 'alice-pw' })
        .expect(403);
      await agent
        .post('/login')
        .type('form')
        .send({ username: 'alice', password: 'alice-pw', _csrf: 'A'.repeat(43) })
        .expect(403);
      // Nor is the bare secret (the cookie's value): only a masked token is.
      await agent
        .post('/login')
        .type('form')
        .send({ username: 'alice', password: 'alice-pw', _csrf: secretOf(token) })
        .expect(403);
      // A planted cookie of the wrong shape is no secret at all.
      await request(server)
        .post('/login')
        .set('Cookie', 'authbridge.csrf=short')
        .type('form')
        .send({ username: 'alice', password: 'alice-pw', _csrf: 'short' })
        .expect(403);
      const loggedIn = await agent
        .post('/login')
        .type('form')
        .send({ username: 'alice', password: 'alice-pw', _csrf: token })
        .expect(200);
      // The login moves the (rotated) secret into the session and clears the visitor's cookie.
      expect(sid(loggedIn)).to.be.a('string');
      expect(String(loggedIn.headers['set-cookie'])).to.match(/authbridge\.csrf=;/);
      const rotated = (await agent.get('/csrf').expect(200)).body as { token: string };
      expect(secretOf(rotated.token)).to.not.equal(secretOf(token));
      await agent.post('/mark').type('form').send({ _csrf: token }).expect(403);
      await agent.post('/mark').type('form').send({ _csrf: rotated.token }).expect(200);
      // Logged out: a visitor again, with a new secret in a new cookie.
      await agent.post('/logout').type('form').send({ _csrf: rotated.token }).expect(200);
      const after = await agent.get('/csrf').expect(200);
      const fresh = (after.body as { token: string }).token;
      expect(secretOf(fresh)).to.not.equal(secretOf(rotated.token)).and.not.equal(secretOf(token));
      expect(String(after.headers['set-cookie'])).to.include(`authbridge.csrf=${secretOf(fresh)};`);
    } finally {
      await counted.cleanup();
    }
  });

  it('refuses a form posted from another origin, even with a valid token (Origin, then Referer over HTTPS)', async function () {
    const server = h.app.callback();
    // A visitor's form (a fresh agent each time: a post that succeeds changes the session, and
    // its cookie turns Secure under HTTPS, which this plain-HTTP test client would not send back).
    const post = async (headers: Record<string, string>) => {
      const agent = request.agent(server);
      const page = await agent.get('/csrf').set('Host', 'app.test');
      return agent
        .post('/mark')
        .set('Host', 'app.test')
        .set(headers)
        .type('form')
        .send({ _csrf: (page.body as { token: string }).token });
    };
    // A sibling subdomain can plant the CSRF cookie (SameSite does not stop it) and post a token
    // it made for it: its Origin gives it away.
    // `null` too: a sandboxed frame or a redirected POST sends it on purpose (as Django refuses).
    for (const origin of ['https://evil.app.test', 'http://app.test:81', 'null']) {
      const res = await post({ Origin: origin });
      expect(res.status, origin).to.equal(403);
      expect((res.body as { code: string }).code).to.equal('CSRF_FAILED');
    }
    expect((await post({ Origin: 'http://app.test' })).status).to.equal(200);
    // No Origin: over plain HTTP the token decides; over HTTPS (behind the proxy) a same-origin
    // Referer is required, as Django.
    expect((await post({})).status).to.equal(200);
    h.app.proxy = true;
    try {
      const https = { 'X-Forwarded-Proto': 'https' };
      expect((await post(https)).status).to.equal(403);
      expect((await post({ ...https, Referer: 'https://evil.test/page' })).status).to.equal(403);
      expect((await post({ ...https, Referer: 'not a url' })).status).to.equal(403);
      expect((await post({ ...https, Referer: 'https://app.test/form' })).status).to.equal(200);
      expect((await post({ ...https, Origin: 'https://app.test' })).status).to.equal(200);
      expect((await post({ ...https, Origin: 'http://app.test' })).status).to.equal(403);
      expect(
        (await post({ ...https, Origin: 'null', Referer: 'https://app.test/form' })).status,
      ).to.equal(403);
    } finally {
      h.app.proxy = false;
    }
  });

  it('takes trusted origins, and refuses a trusted origin that is not an origin', function () {
    expect(() => csrf({ trustedOrigins: ['https://app.example.com/path'] }))
      .to.throw()
      .with.property('code', 'CONFIG_INVALID');
    expect(() => csrf({ trustedOrigins: ['app.example.com'] }))
      .to.throw()
      .with.property('code', 'CONFIG_INVALID');
    csrf({ trustedOrigins: ['https://app.example.com'] });
  });

  it('hides 5xx details from the client', async function () {
    const res = await request(h.app.callback()).get('/boom').expect(500);
    expect(res.body).to.deep.equal({ code: 'INTERNAL', message: 'Internal error' });
  });
});
