import {
  ANONYMOUS_USER,
  type AuthBridgeError,
  Authenticator,
  ManualClock,
  MemoryUserStore,
} from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import {
  type FetchLike,
  RestTokenBackend,
  type RestTokenBackendOptions,
  tokenHash,
} from '@authbridge/rest';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import {
  connectionRefused,
  fakeFetch,
  type FakeFetch,
  recordingLogger,
  type Script,
} from '../support/fakes.js';

const T0 = 1_700_000_000_000;
const AUD = 'https://api.test';

/** An introspection answer for `token`: active for tokens starting with "good", with exp in `expIn` s. */
function introspectionAnswers(
  expIn = 300,
): (call: number, url: string, init: RequestInit) => Script {
  return (_call, _url, init) => {
    const token = new URLSearchParams(init.body as string).get('token') ?? '';
    if (!token.startsWith('good')) return { status: 200, body: { active: false } };
    return {
      status: 200,
      body: {
        active: true,
        sub: token,
        client_id: 'app',
        aud: AUD,
        scope: 'read write',
        exp: Math.floor(T0 / 1000) + expIn,
      },
    };
  };
}

function setup(overrides: Partial<RestTokenBackendOptions> = {}, script = introspectionAnswers()) {
  const clock = new ManualClock(T0);
  const fetch = fakeFetch(script);
  const logger = recordingLogger();
  const store = new MemoryUserStore();
  const backend = new RestTokenBackend({
    store,
    clock,
    fetch,
    logger,
    mode: {
      kind: 'introspection',
      endpoint: 'https://as.test/introspect',
      issuer: 'https://as.test',
      audience: AUD,
      clientAuth: { method: 'client_secret_basic', clientId: 'rs', clientSecret: 'rs-secret' },
    },
    ...overrides,
  });
  return { clock, fetch, logger, store, backend };
}

const upstreamCalls = (fetch: FakeFetch): number => fetch.calls.length;

describe('RestTokenBackend (unit, scripted upstream)', function () {
  it('accepts { token } only', async function () {
    const { backend } = setup();
    expect(backend.accepts({ token: 'a' })).to.equal(true);
    for (const c of [
      null,
      {},
      { token: 1 },
      { username: 'a', password: 'b' },
      { token: 'a', password: 'b' },
    ]) {
      expect(backend.accepts(c)).to.equal(false);
    }
  });

  it('sends the token as a form with client authentication and the hint', async function () {
    const { backend, fetch } = setup();
    await backend.authenticate(undefined, { token: 'good-1' });
    const { init } = fetch.calls[0]!;
    expect(init.method).to.equal('POST');
    const headers = new Headers(init.headers);
    expect(headers.get('content-type')).to.equal('application/x-www-form-urlencoded');
    expect(headers.get('authorization')).to.equal(
      `Basic ${Buffer.from('rs:rs-secret').toString('base64')}`,
    );
    const form = new URLSearchParams(init.body as string);
    expect(form.get('token')).to.equal('good-1');
    expect(form.get('token_type_hint')).to.equal('access_token');
  });

  it('returns null for credentials it would not accept, when called directly', async function () {
    const { backend, fetch } = setup();
    for (const c of [{}, { token: undefined, username: 'a', password: 'b' }, { token: 5 }]) {
      expect(await backend.authenticate(undefined, c as never)).to.equal(null);
    }
    expect(upstreamCalls(fetch)).to.equal(0);
  });

  it('refuses malformed tokens without asking upstream', async function () {
    const { backend, fetch } = setup();
    for (const token of ['', 'a b', 'a\nb', 'x'.repeat(9000), 'é']) {
      expect(await backend.authenticate(undefined, { token })).to.equal(null);
    }
    expect(upstreamCalls(fetch)).to.equal(0);
  });

  describe('cache', function () {
    it('keeps a good answer for the configured TTL when exp is later', async function () {
      const { backend, fetch, clock } = setup({ cache: { ttlMs: 60_000 } });
      const first = await backend.authenticate(undefined, { token: 'good-1' });
      clock.advance(59_999);
      expect(await backend.authenticate(undefined, { token: 'good-1' })).to.deep.equal(first);
      expect(upstreamCalls(fetch)).to.equal(1);
      clock.advance(1);
      await backend.authenticate(undefined, { token: 'good-1' });
      expect(upstreamCalls(fetch)).to.equal(2);
    });

    it('answers from the cache with the local user as it is now: deactivation counts at once', async function () {
      const { backend, fetch, store } = setup({ cache: { ttlMs: 60_000 } });
      const first = await backend.authenticate(undefined, { token: 'good-1' });
      expect(first?.isStaff).to.equal(false);
      await store.update(first!.id, { isStaff: true });
      expect((await backend.authenticate(undefined, { token: 'good-1' }))?.isStaff).to.equal(true);
      await store.update(first!.id, { isActive: false });
      expect(await backend.authenticate(undefined, { token: 'good-1' })).to.equal(null);
      await store.delete(first!.id);
      expect(await backend.authenticate(undefined, { token: 'good-1' })).to.equal(null);
      // All from the cache: the token's verdict is reused, the user is not.
      expect(upstreamCalls(fetch)).to.equal(1);
    });

    it('never keeps an entry past the token exp', async function () {
      // exp is 30 s away, the TTL 60 s: the entry must die at exp.
      const { backend, fetch, clock } = setup(
        { cache: { ttlMs: 60_000 }, clockToleranceSec: 0 },
        introspectionAnswers(30),
      );
      expect(await backend.authenticate(undefined, { token: 'good-1' })).to.not.equal(null);
      clock.advance(29_999);
      expect(await backend.authenticate(undefined, { token: 'good-1' })).to.not.equal(null);
      expect(upstreamCalls(fetch)).to.equal(1);
      clock.advance(1);
      // At exp the cache no longer answers; the upstream is asked again and the local exp check
      // (tolerance 0) refuses the token.
      expect(await backend.authenticate(undefined, { token: 'good-1' })).to.equal(null);
      expect(upstreamCalls(fetch)).to.equal(2);
    });

    it('keeps a bad answer for the negative TTL only', async function () {
      const { backend, fetch, clock } = setup({ cache: { negativeTtlMs: 5_000 } });
      expect(await backend.authenticate(undefined, { token: 'bad-1' })).to.equal(null);
      clock.advance(4_999);
      expect(await backend.authenticate(undefined, { token: 'bad-1' })).to.equal(null);
      expect(upstreamCalls(fetch)).to.equal(1);
      clock.advance(1);
      await backend.authenticate(undefined, { token: 'bad-1' });
      expect(upstreamCalls(fetch)).to.equal(2);
    });

    it('never caches errors', async function () {
      const { backend, fetch } = setup({ retry: false }, () => ({ status: 500 }));
      await expectRejection(
        backend.authenticate(undefined, { token: 'good-1' }),
        'BACKEND_UNAVAILABLE',
      );
      await expectRejection(
        backend.authenticate(undefined, { token: 'good-1' }),
        'BACKEND_UNAVAILABLE',
      );
      expect(upstreamCalls(fetch)).to.equal(2);
      expect(backend.stats().cacheSize).to.equal(0);
    });

    it('is bounded, evicting the least recently used', async function () {
      const { backend, fetch } = setup({ cache: { maxEntries: 2 } });
      await backend.authenticate(undefined, { token: 'good-1' });
      await backend.authenticate(undefined, { token: 'good-2' });
      await backend.authenticate(undefined, { token: 'good-1' });
      await backend.authenticate(undefined, { token: 'good-3' });
      expect(backend.stats().cacheSize).to.equal(2);
      expect(upstreamCalls(fetch)).to.equal(3);
      await backend.authenticate(undefined, { token: 'good-1' });
      expect(upstreamCalls(fetch), 'good-1 still cached').to.equal(3);
      await backend.authenticate(undefined, { token: 'good-2' });
      expect(upstreamCalls(fetch), 'good-2 evicted').to.equal(4);
    });

    it('forgets one token, a token hash, or everything on invalidate', async function () {
      const { backend, fetch } = setup();
      await backend.authenticate(undefined, { token: 'good-1' });
      await backend.authenticate(undefined, { token: 'good-2' });
      backend.invalidate('good-1');
      await backend.authenticate(undefined, { token: 'good-1' });
      await backend.authenticate(undefined, { token: 'good-2' });
      expect(upstreamCalls(fetch)).to.equal(3);
      backend.invalidateHash(tokenHash('good-2'));
      await backend.authenticate(undefined, { token: 'good-2' });
      expect(upstreamCalls(fetch)).to.equal(4);
      backend.invalidate();
      await backend.authenticate(undefined, { token: 'good-1' });
      await backend.authenticate(undefined, { token: 'good-2' });
      expect(upstreamCalls(fetch)).to.equal(6);
    });

    it('does not cache an answer that arrives after an invalidation', async function () {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const answers = introspectionAnswers();
      let calls = 0;
      const fetch: FetchLike = async (url, init) => {
        calls += 1;
        if (calls === 1) await gate;
        const answer = answers(calls, String(url), init) as { status: number; body: object };
        return new Response(JSON.stringify(answer.body), { status: answer.status });
      };
      const { backend } = setup({ fetch });
      const pending = backend.authenticate(undefined, { token: 'good-1' });
      await new Promise((resolve) => setImmediate(resolve)); // the first call is now in flight
      backend.invalidate('good-1');
      release();
      expect(await pending).to.not.equal(null);
      await backend.authenticate(undefined, { token: 'good-1' });
      expect(calls).to.equal(2);
    });

    it('can be turned off entirely', async function () {
      const { backend, fetch } = setup({ cache: false });
      await backend.authenticate(undefined, { token: 'good-1' });
      await backend.authenticate(undefined, { token: 'good-1' });
      expect(upstreamCalls(fetch)).to.equal(2);
    });
  });

  describe('failure modes', function () {
    it('fails closed by default: an unreachable upstream is BACKEND_UNAVAILABLE, never null', async function () {
      const { backend } = setup({}, () => ({ throws: connectionRefused() }));
      await expectRejection(
        backend.authenticate(undefined, { token: 'good-1' }),
        'BACKEND_UNAVAILABLE',
      );
      // The chain propagates it: a weaker backend after this one is never asked.
      let asked = false;
      const auth = new Authenticator({
        backends: [
          backend,
          {
            id: 'weaker',
            accepts: (c): c is unknown => typeof c === 'object',
            authenticate: async () => {
              asked = true;
              return null;
            },
            getUser: async () => null,
            close: async () => undefined,
          },
        ],
      });
      await expectRejection(
        auth.authenticate(undefined, { token: 'good-2' }),
        'BACKEND_UNAVAILABLE',
      );
      expect(asked).to.equal(false);
    });

    it('fails open only with the flag, and logs every use', async function () {
      const { backend, logger, fetch } = setup({ dangerouslyFailOpen: true, retry: false }, () => ({
        status: 503,
      }));
      expect(logger.records.filter((r) => r.event === 'rest.fail_open_enabled')).to.have.length(1);
      expect(await backend.authenticate(undefined, { token: 'good-1' })).to.equal(null);
      expect(await backend.authenticate(undefined, { token: 'good-1' })).to.equal(null);
      const uses = logger.records.filter((r) => r.event === 'rest.fail_open');
      expect(uses).to.have.length(2);
      expect(uses.every((r) => r.level === 'warn')).to.equal(true);
      expect(backend.stats().failOpen).to.equal(2);
      expect(upstreamCalls(fetch), 'fail-open results are not cached').to.equal(2);
    });

    it('treats a non-boolean active as a broken upstream, not a valid token', async function () {
      const { backend } = setup({}, () => ({
        status: 200,
        body: { active: 'true', sub: 'x', aud: AUD },
      }));
      await expectRejection(
        backend.authenticate(undefined, { token: 'good-1' }),
        'BACKEND_UNAVAILABLE',
      );
    });

    it('treats a 401 from the authorization server (our client credentials) as an outage', async function () {
      const { backend } = setup({}, () => ({ status: 401, body: { error: 'invalid_client' } }));
      await expectRejection(
        backend.authenticate(undefined, { token: 'good-1' }),
        'BACKEND_UNAVAILABLE',
      );
    });

    it('throws CLOSED after close, which is idempotent', async function () {
      const { backend } = setup();
      await backend.close();
      await backend.close();
      await expectRejection(backend.authenticate(undefined, { token: 'good-1' }), 'CLOSED');
    });

    it('close() stops a check in flight: its request is aborted and it rejects with CLOSED', async function () {
      let reached!: () => void;
      const upstreamAsked = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const { backend, fetch } = setup({ dangerouslyFailOpen: true }, () => {
        reached();
        return { hang: true };
      });
      const pending = backend.authenticate(undefined, { token: 'good-1' });
      await upstreamAsked;
      await backend.close();
      // Aborted by close(), not by the 2 s deadline: the connection is released now.
      expect(fetch.calls[0]!.init.signal!.aborted).to.equal(true);
      // CLOSED even with fail-open: the backend is gone, not the upstream.
      await expectRejection(pending, 'CLOSED');
      await backend.close();
    });

    it('a check whose answer arrives after close() hands out no user', async function () {
      // A fetch that ignores the abort signal and answers when told to.
      let answer!: (response: Response) => void;
      let reached!: () => void;
      const upstreamAsked = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const fetch: FetchLike = () =>
        new Promise<Response>((resolve) => {
          answer = resolve;
          reached();
        });
      const { backend } = setup({ fetch });
      const pending = backend.authenticate(undefined, { token: 'good-1' });
      await upstreamAsked;
      await backend.close();
      answer(Response.json({ active: true, sub: 'good-1', aud: AUD, exp: T0 / 1000 + 300 }));
      await expectRejection(pending, 'CLOSED');
    });
  });

  it('never logs a token, only a hash prefix', async function () {
    const secret = 'good-SECRET-TOKEN-VALUE-1234567890';
    for (const script of [
      introspectionAnswers(),
      () => ({ status: 500 }) as Script,
      () => ({ throws: connectionRefused() }) as Script,
    ]) {
      const { backend, logger } = setup({ dangerouslyFailOpen: true }, script);
      await backend.authenticate(undefined, { token: secret });
      await backend.authenticate(undefined, { token: 'bad-SECRET-TOKEN-VALUE-0987654321' });
      const text = logger.text();
      expect(text).to.not.contain('SECRET-TOKEN-VALUE');
      expect(text).to.not.contain('rs-secret');
      expect(logger.records.length).to.be.greaterThan(0);
    }
  });

  it('never logs a token a request hook put into the URL: the upstream is named by its configured URL', async function () {
    const secret = 'SECRET-TOKEN-VALUE-1234567890';
    const { backend, logger, fetch } = setup(
      {
        mode: {
          kind: 'rest',
          issuer: 'sessions',
          request: { url: 'https://sessions.test/sessions', method: 'GET' },
          response: { subject: 'id' },
          hooks: {
            // GET /sessions/{token}: the hook's URL carries the credential.
            request: (req, c) => ({
              ...req,
              url: new URL(`${req.url.href}/${c.kind === 'token' ? c.token : ''}`),
            }),
          },
        },
      },
      () => ({ status: 500 }),
    );
    const error = await expectRejection(
      backend.authenticate(undefined, { token: secret }),
      'BACKEND_UNAVAILABLE',
    );
    expect(fetch.calls[0]!.url).to.contain(secret);
    expect(logger.records.some((r) => r.event === 'rest.upstream_failed')).to.equal(true);
    expect(logger.text()).to.not.contain(secret);
    const { detail } = error as AuthBridgeError;
    expect(detail).to.contain('https://sessions.test/sessions');
    expect(detail).to.not.contain(secret);
  });

  describe('permissions', function () {
    it('maps scopes to permissions and answers hasPerm from them', async function () {
      const { backend } = setup({
        permissions: {
          scopeMap: { read: ['shop.view_order'], admin: ['shop.delete_order'] },
          scopePrefix: 'SCOPE_',
        },
      });
      const user = (await backend.authenticate(undefined, { token: 'good-1' }))!;
      expect(user.scopes).to.deep.equal(['read', 'write']);
      expect(await backend.hasPerm(user, 'shop.view_order')).to.equal(true);
      expect(await backend.hasPerm(user, 'SCOPE_write')).to.equal(true);
      expect(await backend.hasPerm(user, 'shop.delete_order')).to.equal(false);
      expect(await backend.hasPerm(user, 'shop.view_order', { id: 1 })).to.equal(false);
      expect([...(await backend.getAllPermissions(user))].sort()).to.deep.equal([
        'SCOPE_read',
        'SCOPE_write',
        'shop.view_order',
      ]);
      const auth = new Authenticator({ backends: [backend] });
      const tagged = (await auth.authenticate(undefined, { token: 'good-1' }))!;
      expect(await auth.hasPerm(tagged, 'shop.view_order')).to.equal(true);
      expect(await auth.hasModulePerms(tagged, 'shop')).to.equal(true);
    });

    it('asks a remote endpoint for the rest; an explicit deny is PermissionDenied', async function () {
      const decisions: Record<string, object> = {
        'shop.refund': { allowed: true },
        'shop.close': { denied: true },
      };
      const answers = introspectionAnswers();
      const { backend, fetch } = setup(
        {
          permissions: {
            remote: { url: 'https://perms.test/check', objectId: (o) => (o as { id: string }).id },
          },
        },
        (n, url, init) => {
          if (!url.startsWith('https://perms.test/')) return answers(n, url, init);
          const { permission } = JSON.parse(init.body as string) as { permission: string };
          return { status: 200, body: decisions[permission] ?? {} };
        },
      );
      const user = (await backend.authenticate(undefined, { token: 'good-1' }))!;
      expect(await backend.hasPerm(user, 'shop.refund')).to.equal(true);
      expect(await backend.hasPerm(user, 'shop.other')).to.equal(false);
      await expectRejection(backend.hasPerm(user, 'shop.close'), 'PERMISSION_DENIED');
      const before = fetch.calls.length;
      expect(await backend.hasPerm(user, 'shop.refund')).to.equal(true);
      expect(fetch.calls.length, 'decision cached').to.equal(before);
      expect(await backend.hasPerm(user, 'shop.refund', { id: 'order-9' })).to.equal(true);
      const sent = JSON.parse(fetch.calls.at(-1)!.init.body as string) as Record<string, unknown>;
      expect(sent).to.deep.equal({
        issuer: 'https://as.test',
        subject: 'good-1',
        username: 'good-1',
        permission: 'shop.refund',
        object: 'order-9',
      });
      const auth = new Authenticator({ backends: [backend] });
      expect(await auth.hasPerm(user, 'shop.close')).to.equal(false);
    });

    it('close() cancels a permission question in flight and refuses later ones with CLOSED', async function () {
      const answers = introspectionAnswers();
      let reached!: () => void;
      const asked = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const { backend, fetch } = setup(
        { permissions: { remote: { url: 'https://perms.test/check' } } },
        (n, url, init) => {
          if (!url.startsWith('https://perms.test/')) return answers(n, url, init);
          reached();
          return { hang: true };
        },
      );
      const user = (await backend.authenticate(undefined, { token: 'good-1' }))!;
      const pending = backend.hasPerm(user, 'shop.refund');
      await asked;
      await backend.close();
      // Cancelled by close(), not left to its deadline.
      expect(fetch.calls.at(-1)!.init.signal!.aborted).to.equal(true);
      await expectRejection(pending, 'CLOSED');
      const calls = fetch.calls.length;
      await expectRejection(backend.hasPerm(user, 'shop.refund'), 'CLOSED');
      expect(fetch.calls.length, 'nothing asked after close()').to.equal(calls);
    });

    it('fails closed when the permission endpoint is down', async function () {
      const answers = introspectionAnswers();
      const { backend } = setup(
        { permissions: { remote: { url: 'https://perms.test/check' } } },
        (n, url, init) =>
          url.startsWith('https://perms.test/') ? { status: 500 } : answers(n, url, init),
      );
      const user = (await backend.authenticate(undefined, { token: 'good-1' }))!;
      await expectRejection(backend.hasPerm(user, 'shop.refund'), 'BACKEND_UNAVAILABLE');
    });

    it('grants nothing to anonymous, inactive or foreign users', async function () {
      const { backend } = setup({
        permissions: { scopeMap: { read: ['shop.view_order'] } },
      });
      const user = (await backend.authenticate(undefined, { token: 'good-1' }))!;
      expect(await backend.hasPerm({ ...user, isActive: false }, 'shop.view_order')).to.equal(
        false,
      );
      expect(await backend.hasPerm({ ...user, backendId: 'other' }, 'shop.view_order')).to.equal(
        false,
      );
      expect(
        await backend.hasPerm({ ...user, issuer: 'https://evil.test' }, 'shop.view_order'),
      ).to.equal(false);
      expect(await backend.hasPerm(ANONYMOUS_USER, 'shop.view_order')).to.equal(false);
    });
  });

  describe('local users', function () {
    it('links the principal to one local user by issuer and subject, and reloads it', async function () {
      const { backend, store } = setup();
      const a = (await backend.authenticate(undefined, { token: 'good-1' }))!;
      backend.invalidate();
      const b = (await backend.authenticate(undefined, { token: 'good-1' }))!;
      expect(b.id).to.equal(a.id);
      expect(await store.identitiesOf(a.id)).to.deep.equal([
        { backendId: 'rest', issuer: 'https://as.test', subject: 'good-1' },
      ]);
      const reloaded = (await backend.getUser(a.id))!;
      expect(reloaded.username).to.equal('good-1');
      expect(reloaded.scopes, 'a session carries no token scopes').to.deep.equal([]);
    });

    it('refuses a locally deactivated user (no opinion), and reloads none', async function () {
      const { backend, store } = setup();
      const a = (await backend.authenticate(undefined, { token: 'good-1' }))!;
      await store.update(a.id, { isActive: false });
      backend.invalidate();
      expect(await backend.authenticate(undefined, { token: 'good-1' })).to.equal(null);
      expect(await backend.getUser(a.id)).to.equal(null);
    });

    it('keeps what the local administrator set across logins', async function () {
      const { backend, store } = setup();
      const a = (await backend.authenticate(undefined, { token: 'good-1' }))!;
      await store.update(a.id, {
        isStaff: true,
        isSuperuser: true,
        groups: ['ops'],
        permissions: ['x.y'],
      });
      backend.invalidate();
      const b = (await backend.authenticate(undefined, { token: 'good-1' }))!;
      expect(b).to.include({ id: a.id, isStaff: true, isSuperuser: true });
      expect(b.groups).to.deep.equal(['ops']);
      expect((await store.getById(a.id))!.permissions).to.deep.equal(['x.y']);
    });

    it('does not create users when provisioning.create is false', async function () {
      const { backend } = setup({ provisioning: { create: false } });
      expect(await backend.authenticate(undefined, { token: 'good-1' })).to.equal(null);
    });

    it('does not reload users it did not link', async function () {
      const { backend, store } = setup();
      const local = await store.create({ username: 'local-admin' });
      expect(await backend.getUser(local.id)).to.equal(null);
    });
  });
});
