// Mode 1 against an introspection endpoint that misbehaves on purpose (the Koa fixture): each
// answer a real authorization server should never give, and each way it can fail to answer; also a
// valid answer oidc-provider cannot be made to give (no client_id).
import { ManualClock, MemoryUserStore } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import { RestTokenBackend, type RestTokenBackendOptions, silentLogger } from '@authbridge/rest';
import { expect } from 'chai';
import { after, afterEach, before, describe, it } from 'mocha';
import { closedPortUrl } from '../support/closed-port.js';
import { omit } from '../support/fakes.js';
import { type InHouseApi, startInHouseApi } from '../support/in-house-api.js';

const ISSUER = 'https://as.test';
const AUD = 'https://api.test';

describe('introspection mode against a misbehaving endpoint', function () {
  let api: InHouseApi;
  const now = (): number => Math.floor(Date.now() / 1000);
  const answer = (token: string, body: object | string): void => {
    api.introspection.set(token, typeof body === 'string' ? body : JSON.stringify(body));
  };
  const good = (extra: object = {}): object => ({
    active: true,
    iss: ISSUER,
    aud: AUD,
    sub: 'user-1',
    client_id: 'app',
    exp: now() + 300,
    ...extra,
  });

  function backend(overrides: Partial<RestTokenBackendOptions> = {}): RestTokenBackend {
    return new RestTokenBackend({
      store: new MemoryUserStore(),
      logger: silentLogger,
      mode: {
        kind: 'introspection',
        endpoint: `${api.url}/introspect`,
        issuer: ISSUER,
        audience: AUD,
        clientAuth: { method: 'client_secret_post', clientId: 'rs', clientSecret: 'rs-secret' },
      },
      ...overrides,
    });
  }

  before(async function () {
    api = await startInHouseApi();
  });
  afterEach(function () {
    api.behaviour = { kind: 'normal' };
    api.resetCounts();
    api.introspection.clear();
  });
  after(async function () {
    await api.close();
  });

  it('accepts a well-formed active answer (the control for the cases below)', async function () {
    answer('t-good', good());
    const b = backend();
    expect((await b.authenticate(undefined, { token: 't-good' }))?.subject).to.equal('user-1');
    const form = new URLSearchParams(api.received.get('/introspect')![0]!.body);
    expect(form.get('client_id')).to.equal('rs');
    expect(form.get('client_secret')).to.equal('rs-secret');
    await b.close();
  });

  it('is ready when the endpoint answers, and not when it fails, is unreachable or its circuit is open', async function () {
    const b = backend({ circuitBreaker: { failureThreshold: 2, openMs: 60_000 } });
    // A working server says `active: false` about the probe's made-up token.
    await b.healthCheck();
    const probe = new URLSearchParams(api.received.get('/introspect')!.at(-1)!.body);
    expect(probe.get('token')).to.match(/^authbridge-readiness-/);
    api.behaviour = { kind: 'status', status: 503 };
    await expectRejection(b.healthCheck(), 'BACKEND_UNAVAILABLE');
    await expectRejection(b.healthCheck(), 'BACKEND_UNAVAILABLE');
    // Two failures opened the circuit: not ready without asking, even once the server is back.
    api.behaviour = { kind: 'normal' };
    const asked = api.received.get('/introspect')!.length;
    await expectRejection(b.healthCheck(), 'BACKEND_UNAVAILABLE');
    expect(api.received.get('/introspect')!.length).to.equal(asked);
    await b.close();
    await expectRejection(b.healthCheck(), 'CLOSED');
    const unreachable = backend({
      mode: {
        kind: 'introspection',
        endpoint: await closedPortUrl('/introspect'),
        issuer: ISSUER,
        audience: AUD,
        clientAuth: { method: 'client_secret_post', clientId: 'rs', clientSecret: 'rs-secret' },
      },
    });
    await expectRejection(unreachable.healthCheck(), 'BACKEND_UNAVAILABLE');
    await unreachable.close();
  });

  it('with allowedClientIds, refuses an active answer that names no client_id (it is optional in RFC 7662)', async function () {
    answer('t-no-client', omit(good(), 'client_id'));
    answer('t-app', good());
    const open = backend();
    expect((await open.authenticate(undefined, { token: 't-no-client' }))?.subject).to.equal(
      'user-1',
    );
    const allowList = {
      kind: 'introspection' as const,
      endpoint: `${api.url}/introspect`,
      issuer: ISSUER,
      audience: AUD,
      clientAuth: {
        method: 'client_secret_post' as const,
        clientId: 'rs',
        clientSecret: 'rs-secret',
      },
      allowedClientIds: ['app'],
    };
    const strict = backend({ mode: allowList });
    expect(await strict.authenticate(undefined, { token: 't-no-client' })).to.equal(null);
    expect((await strict.authenticate(undefined, { token: 't-app' }))?.clientId).to.equal('app');
    await Promise.all([open.close(), strict.close()]);
  });

  it('reads an answer that starts with a UTF-8 byte order mark, as fetch().json() does', async function () {
    // RFC 8259 §8.1: a parser may ignore the BOM; some servers send one.
    answer('t-bom', `\uFEFF${JSON.stringify(good())}`);
    const b = backend();
    expect((await b.authenticate(undefined, { token: 't-bom' }))?.subject).to.equal('user-1');
    await b.close();
  });

  it('does not accept "active": "true" as a string: a broken server, fail closed', async function () {
    answer('t-string', good({ active: 'true' }));
    await expectRejection(
      backend().authenticate(undefined, { token: 't-string' }),
      'BACKEND_UNAVAILABLE',
    );
  });

  it('does not accept an answer without "active"', async function () {
    answer('t-none', omit(good(), 'active'));
    await expectRejection(
      backend().authenticate(undefined, { token: 't-none' }),
      'BACKEND_UNAVAILABLE',
    );
  });

  it('refuses a token the server calls active but whose exp has passed', async function () {
    answer('t-expired', good({ exp: now() - 3600 }));
    expect(await backend().authenticate(undefined, { token: 't-expired' })).to.equal(null);
  });

  it('refuses a token for another audience', async function () {
    answer('t-aud', good({ aud: ['https://other.test'] }));
    expect(await backend().authenticate(undefined, { token: 't-aud' })).to.equal(null);
  });

  it('refuses a token that is not valid yet, or from another issuer', async function () {
    answer('t-nbf', good({ nbf: now() + 3600 }));
    answer('t-iss', good({ iss: 'https://evil.test' }));
    const b = backend();
    expect(await b.authenticate(undefined, { token: 't-nbf' })).to.equal(null);
    expect(await b.authenticate(undefined, { token: 't-iss' })).to.equal(null);
  });

  it('returns null for active:false', async function () {
    answer('t-inactive', { active: false });
    expect(await backend().authenticate(undefined, { token: 't-inactive' })).to.equal(null);
  });

  it('fails closed on malformed JSON, a non-object, or a claim of the wrong type', async function () {
    answer('t-html', '<html>maintenance</html>');
    answer('t-array', '[true]');
    answer('t-exp', good({ exp: 'soon' }));
    const b = backend();
    for (const token of ['t-html', 't-array', 't-exp']) {
      await expectRejection(b.authenticate(undefined, { token }), 'BACKEND_UNAVAILABLE');
    }
    api.behaviour = { kind: 'malformed' };
    await expectRejection(b.authenticate(undefined, { token: 't-other' }), 'BACKEND_UNAVAILABLE');
  });

  it('caps the answer as decompressed, not as sent: a gzip bomb is refused', async function () {
    answer('t-small', good());
    answer('t-bomb', good());
    const b = backend({ maxResponseBytes: 64 * 1024 });
    // Sent gzipped, about 2 kB either way; the control inflates to 32 kB, the bomb to 2 MB.
    api.behaviour = { kind: 'gzip', inflatedBytes: 32 * 1024 };
    expect((await b.authenticate(undefined, { token: 't-small' }))?.subject).to.equal('user-1');
    api.behaviour = { kind: 'gzip', inflatedBytes: 2 * 1024 * 1024 };
    await expectRejection(b.authenticate(undefined, { token: 't-bomb' }), 'BACKEND_UNAVAILABLE');
    await b.close();
  });

  it('fails closed on 500 after one retry', async function () {
    api.behaviour = { kind: 'status', status: 500 };
    await expectRejection(
      backend().authenticate(undefined, { token: 't-x' }),
      'BACKEND_UNAVAILABLE',
    );
    expect(api.count('/introspect')).to.equal(2);
  });

  it('fails closed when the server is down', async function () {
    const b = new RestTokenBackend({
      store: new MemoryUserStore(),
      logger: silentLogger,
      mode: {
        kind: 'introspection',
        endpoint: await closedPortUrl('/introspect'),
        issuer: ISSUER,
        audience: AUD,
        clientAuth: { method: 'client_secret_basic', clientId: 'rs', clientSecret: 's' },
      },
    });
    await expectRejection(b.authenticate(undefined, { token: 't-x' }), 'BACKEND_UNAVAILABLE');
  });

  it('gives up at the deadline when the server is slower', async function () {
    answer('t-slow', good());
    api.behaviour = { kind: 'delay', ms: 1_500 };
    const started = performance.now();
    await expectRejection(
      backend({ deadlineMs: 200 }).authenticate(undefined, { token: 't-slow' }),
      'BACKEND_TIMEOUT',
    );
    expect(performance.now() - started).to.be.below(400);
  });

  it('a cache entry never outlives exp (server-side count, injected clock)', async function () {
    const clock = new ManualClock(Date.now());
    const exp = Math.floor(clock.now() / 1000) + 30;
    answer('t-short', good({ exp }));
    const b = backend({ clock, clockToleranceSec: 0, cache: { ttlMs: 600_000 } });
    expect(await b.authenticate(undefined, { token: 't-short' })).to.not.equal(null);
    clock.set(exp * 1000 - 1);
    expect(await b.authenticate(undefined, { token: 't-short' })).to.not.equal(null);
    expect(api.count('/introspect')).to.equal(1);
    clock.set(exp * 1000);
    expect(await b.authenticate(undefined, { token: 't-short' })).to.equal(null);
    expect(api.count('/introspect')).to.equal(2);
  });
});
