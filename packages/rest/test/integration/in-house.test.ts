// Mode 2 against a small Koa app playing the in-house API; the backend is the real thing.
import { Authenticator, ManualClock, MemoryUserStore, PermissionDenied } from '@authbridge/core';
import { describeBackendConformance, expectRejection } from '@authbridge/conformance';
import {
  type RestApiModeOptions,
  type RestCredentials,
  RestTokenBackend,
  type RestTokenBackendOptions,
  silentLogger,
} from '@authbridge/rest';
import { expect } from 'chai';
import { after, afterEach, before, describe, it } from 'mocha';
import { closedPortUrl } from '../support/closed-port.js';
import { type InHouseApi, startInHouseApi } from '../support/in-house-api.js';

const MAPPING = {
  valid: 'valid',
  subject: 'user.id',
  username: 'user.login',
  email: 'user.email',
  groups: 'user.roles',
  permissions: 'perms',
  scope: 'scope',
  expiresAt: 'exp',
  attributes: { login: 'user.login' },
} as const;

function tokenBackend(
  api: InHouseApi,
  overrides: Partial<RestTokenBackendOptions> = {},
  mode: Partial<RestApiModeOptions> = {},
): RestTokenBackend {
  return new RestTokenBackend({
    store: new MemoryUserStore(),
    logger: silentLogger,
    mode: {
      kind: 'rest',
      issuer: 'in-house',
      request: { url: `${api.url}/verify` },
      response: MAPPING,
      ...mode,
    },
    ...overrides,
  });
}

function passwordBackend(
  api: InHouseApi,
  overrides: Partial<RestTokenBackendOptions> = {},
): RestTokenBackend {
  return new RestTokenBackend({
    store: new MemoryUserStore(),
    logger: silentLogger,
    mode: {
      kind: 'rest',
      issuer: 'in-house',
      request: { url: `${api.url}/login`, token: null, password: { in: 'body' } },
      response: MAPPING,
    },
    ...overrides,
  });
}

describe('in-house REST mode against a Koa fixture', function () {
  let api: InHouseApi;
  before(async function () {
    api = await startInHouseApi();
    api.tokens.set('tok-alice', {
      id: 1001,
      login: 'alice',
      email: 'alice@example.test',
      roles: ['staff'],
      perms: ['shop.view_order'],
      scope: 'orders:read',
    });
    api.tokens.set('tok-bob', { id: 'u-bob', login: 'bob' });
    api.passwords.set('alice', { password: 'alice-pw', user: { id: 1001, login: 'alice' } });
    api.passwords.set('bob', { password: 'bob-pw', user: { id: 'u-bob', login: 'bob' } });
  });
  afterEach(function () {
    api.behaviour = { kind: 'normal' };
    api.resetCounts();
  });
  after(async function () {
    await api.close();
  });

  it('maps the response: subject, profile, groups, scopes, permissions, attributes', async function () {
    const backend = tokenBackend(api);
    const user = (await backend.authenticate(undefined, { token: 'tok-alice' }))!;
    expect(user).to.include({
      username: 'alice',
      email: 'alice@example.test',
      subject: '1001',
      issuer: 'in-house',
    });
    expect(user.groups).to.deep.equal(['staff']);
    expect(user.scopes).to.deep.equal(['orders:read']);
    expect(user.attributes).to.deep.equal({ login: 'alice' });
    expect(await backend.hasPerm(user, 'shop.view_order')).to.equal(true);
    expect(await backend.hasPerm(user, 'shop.delete_order')).to.equal(false);
    await backend.close();
  });

  it('sends the token in the Authorization header, not in the URL', async function () {
    const backend = tokenBackend(api);
    await backend.authenticate(undefined, { token: 'tok-bob' });
    const sent = api.received.get('/verify')![0]!;
    expect(sent.headers['authorization']).to.equal('Bearer tok-bob');
    expect(api.count('/verify')).to.equal(1);
    await backend.close();
  });

  it('can put the token in a body field instead', async function () {
    const backend = tokenBackend(
      api,
      {},
      {
        request: {
          url: `${api.url}/login`,
          token: { in: 'body', field: 'username' },
          extraFields: { password: 'bob-pw' },
        },
      },
    );
    expect((await backend.authenticate(undefined, { token: 'bob' }))?.username).to.equal('bob');
    expect(JSON.parse(api.received.get('/login')![0]!.body)).to.deep.equal({
      username: 'bob',
      password: 'bob-pw',
    });
    await backend.close();
  });

  it('returns null when the service says 401', async function () {
    const backend = tokenBackend(api);
    expect(await backend.authenticate(undefined, { token: 'tok-nobody' })).to.equal(null);
    await backend.close();
  });

  it('checks usernames and passwords when configured to', async function () {
    const backend = passwordBackend(api);
    expect(backend.accepts({ token: 'x' })).to.equal(false);
    expect(
      (await backend.authenticate(undefined, { username: 'alice', password: 'alice-pw' }))
        ?.username,
    ).to.equal('alice');
    expect(
      await backend.authenticate(undefined, { username: 'alice', password: 'wrong' }),
    ).to.equal(null);
    await backend.close();
  });

  it('runs the request and response hooks', async function () {
    const seen: string[] = [];
    const backend = tokenBackend(
      api,
      {},
      {
        hooks: {
          request: (request) => ({
            ...request,
            headers: { ...request.headers, 'x-signature': 'sig-1' },
          }),
          response: ({ mapped, body }) => {
            seen.push((body['user'] as { login: string }).login);
            if (mapped?.username === 'bob') throw new PermissionDenied();
            return mapped === null
              ? null
              : { ...mapped, permissions: [...(mapped.permissions ?? []), 'hook.granted'] };
          },
        },
      },
    );
    const user = (await backend.authenticate(undefined, { token: 'tok-alice' }))!;
    expect(user.permissions).to.include('hook.granted');
    expect(api.received.get('/verify')![0]!.headers['x-signature']).to.equal('sig-1');
    // A veto from the hook stops the chain.
    await expectRejection(
      backend.authenticate(undefined, { token: 'tok-bob' }),
      'PERMISSION_DENIED',
    );
    const auth = new Authenticator({ backends: [backend] });
    expect(await auth.authenticate(undefined, { token: 'tok-bob' })).to.equal(null);
    expect(seen).to.include.members(['alice', 'bob']);
    await backend.close();
  });

  it('retries a 500 once inside the deadline, then fails closed', async function () {
    api.behaviour = { kind: 'status', status: 500 };
    const backend = tokenBackend(api);
    await expectRejection(
      backend.authenticate(undefined, { token: 'tok-alice' }),
      'BACKEND_UNAVAILABLE',
    );
    expect(api.count('/verify')).to.equal(2);
    await backend.close();
  });

  it('recovers by its retry from one 502', async function () {
    api.behaviour = { kind: 'flaky', count: 1, status: 502 };
    const backend = tokenBackend(api);
    expect((await backend.authenticate(undefined, { token: 'tok-alice' }))?.username).to.equal(
      'alice',
    );
    expect(api.count('/verify')).to.equal(2);
    await backend.close();
  });

  it('gives up at the deadline when the service is slower (BACKEND_TIMEOUT)', async function () {
    api.behaviour = { kind: 'delay', ms: 1_500 };
    const backend = tokenBackend(api, { deadlineMs: 200 });
    const started = performance.now();
    await expectRejection(
      backend.authenticate(undefined, { token: 'tok-alice' }),
      'BACKEND_TIMEOUT',
    );
    expect(performance.now() - started, 'returned well before twice the deadline').to.be.below(400);
    expect(api.count('/verify'), 'a timeout is not retried').to.equal(1);
    await backend.close();
  });

  it('fails closed on malformed JSON', async function () {
    api.behaviour = { kind: 'malformed' };
    const backend = tokenBackend(api);
    await expectRejection(
      backend.authenticate(undefined, { token: 'tok-alice' }),
      'BACKEND_UNAVAILABLE',
    );
    await backend.close();
  });

  it('fails closed when nothing listens', async function () {
    const backend = tokenBackend(api, {}, { request: { url: await closedPortUrl('/verify') } });
    await expectRejection(
      backend.authenticate(undefined, { token: 'tok-alice' }),
      'BACKEND_UNAVAILABLE',
    );
    await backend.close();
  });

  it('fails closed on a mapped field of the wrong type', async function () {
    const backend = tokenBackend(api, {}, { response: { ...MAPPING, username: 'user.id' } });
    await expectRejection(
      backend.authenticate(undefined, { token: 'tok-alice' }),
      'BACKEND_UNAVAILABLE',
    );
    await backend.close();
  });

  it('opens the circuit after repeated failures and recovers after the wait (injected clock)', async function () {
    const clock = new ManualClock(Date.now());
    const backend = tokenBackend(api, {
      clock,
      retry: false,
      circuitBreaker: { failureThreshold: 3, openMs: 10_000 },
    });
    api.behaviour = { kind: 'status', status: 503 };
    for (const token of ['t1', 't2', 't3']) {
      await expectRejection(backend.authenticate(undefined, { token }), 'BACKEND_UNAVAILABLE');
    }
    expect(api.count('/verify')).to.equal(3);
    expect(backend.stats().circuit).to.equal('open');
    // Open: refused at once, the service is not called, even once it is healthy again.
    api.behaviour = { kind: 'normal' };
    await expectRejection(
      backend.authenticate(undefined, { token: 'tok-alice' }),
      'BACKEND_UNAVAILABLE',
    );
    expect(api.count('/verify')).to.equal(3);
    clock.advance(9_999);
    await expectRejection(
      backend.authenticate(undefined, { token: 'tok-alice' }),
      'BACKEND_UNAVAILABLE',
    );
    expect(api.count('/verify')).to.equal(3);
    // After the wait one probe goes through; its success closes the circuit.
    clock.advance(1);
    expect(backend.stats().circuit).to.equal('half-open');
    expect((await backend.authenticate(undefined, { token: 'tok-alice' }))?.username).to.equal(
      'alice',
    );
    expect(backend.stats().circuit).to.equal('closed');
    expect((await backend.authenticate(undefined, { token: 'tok-bob' }))?.username).to.equal('bob');
    expect(api.count('/verify')).to.equal(5);
    await backend.close();
  });

  it('serves still-valid cached answers while the circuit is open', async function () {
    const clock = new ManualClock(Date.now());
    const backend = tokenBackend(api, {
      clock,
      retry: false,
      circuitBreaker: { failureThreshold: 1, openMs: 60_000 },
    });
    expect(await backend.authenticate(undefined, { token: 'tok-alice' })).to.not.equal(null);
    api.behaviour = { kind: 'status', status: 500 };
    await expectRejection(
      backend.authenticate(undefined, { token: 'tok-bob' }),
      'BACKEND_UNAVAILABLE',
    );
    expect(backend.stats().circuit).to.equal('open');
    expect((await backend.authenticate(undefined, { token: 'tok-alice' }))?.username).to.equal(
      'alice',
    );
    await backend.close();
  });

  describe('remote permission endpoint', function () {
    it('grants, refuses, and vetoes with PermissionDenied; caches decisions', async function () {
      api.decisions.set('shop.refund', { allowed: true });
      api.decisions.set('shop.close', { denied: true });
      const backend = tokenBackend(api, {
        permissions: {
          remote: { url: `${api.url}/permissions`, objectId: (o) => (o as { id?: string }).id },
        },
      });
      const auth = new Authenticator({ backends: [backend] });
      const user = (await auth.authenticate(undefined, { token: 'tok-bob' }))!;
      expect(await auth.hasPerm(user, 'shop.refund')).to.equal(true);
      expect(await auth.hasPerm(user, 'shop.other')).to.equal(false);
      await expectRejection(backend.hasPerm(user, 'shop.close'), 'PERMISSION_DENIED');
      expect(await auth.hasPerm(user, 'shop.close'), 'a veto is false for the chain').to.equal(
        false,
      );
      const calls = api.count('/permissions');
      expect(await auth.hasPerm(user, 'shop.refund')).to.equal(true);
      expect(api.count('/permissions'), 'cached').to.equal(calls);
      expect(await auth.hasPerm(user, 'shop.refund', { id: 'order-1' })).to.equal(true);
      expect(
        await auth.hasPerm(user, 'shop.refund', { noId: true }),
        'no object id, no question',
      ).to.equal(false);
      expect(JSON.parse(api.received.get('/permissions')!.at(-1)!.body)).to.deep.equal({
        issuer: 'in-house',
        subject: 'u-bob',
        username: 'bob',
        permission: 'shop.refund',
        object: 'order-1',
      });
      await auth.close();
    });
  });
});

describeBackendConformance<RestCredentials>({
  name: 'RestTokenBackend (in-house REST, tokens)',
  async setup() {
    const api = await startInHouseApi();
    api.tokens.set('tok-1', { id: 1, login: 'one' });
    api.tokens.set('tok-2', { id: 2, login: 'two' });
    return {
      backend: tokenBackend(api),
      users: [
        { credentials: { token: 'tok-1' }, username: 'one' },
        { credentials: { token: 'tok-2' }, username: 'two' },
      ],
      wrongSecret: { token: 'tok-1-but-wrong' },
      unknownUser: { token: 'tok-nobody' },
      foreignCredentials: [{ username: 'one', password: 'x' }],
      teardown: () => api.close(),
    };
  },
});

describeBackendConformance<RestCredentials>({
  name: 'RestTokenBackend (in-house REST, passwords)',
  async setup() {
    const api = await startInHouseApi();
    api.passwords.set('one', { password: 'pw-1', user: { id: 1, login: 'one' } });
    api.passwords.set('two', { password: 'pw-2', user: { id: 2, login: 'two' } });
    return {
      backend: passwordBackend(api),
      users: [
        { credentials: { username: 'one', password: 'pw-1' }, username: 'one' },
        { credentials: { username: 'two', password: 'pw-2' }, username: 'two' },
      ],
      wrongSecret: { username: 'one', password: 'wrong' },
      unknownUser: { username: 'nobody', password: 'pw-1' },
      foreignCredentials: [{ token: 'tok-1' }],
      teardown: () => api.close(),
    };
  },
});
