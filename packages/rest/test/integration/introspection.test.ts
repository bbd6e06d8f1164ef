// Mode 1 against a real authorization server (oidc-provider on loopback).
import { Authenticator, ManualClock, MemoryUserStore } from '@authbridge/core';
import { describeBackendConformance, expectRejection } from '@authbridge/conformance';
import {
  type ClientAuthentication,
  type RestCredentials,
  RestTokenBackend,
  type RestTokenBackendOptions,
  silentLogger,
} from '@authbridge/rest';
import { expect } from 'chai';
import { after, before, describe, it } from 'mocha';
import {
  API_RESOURCE,
  type AuthorizationServer,
  OTHER_RESOURCE,
  RS_BASIC,
  RS_JWT,
  RS_POST,
  startAuthorizationServer,
} from '@authbridge/testkit';

function introspectionBackend(
  as: AuthorizationServer,
  overrides: Partial<RestTokenBackendOptions> = {},
  clientAuth: ClientAuthentication = { method: 'client_secret_basic', ...RS_BASIC },
): RestTokenBackend {
  return new RestTokenBackend({
    store: new MemoryUserStore(),
    logger: silentLogger,
    mode: {
      kind: 'introspection',
      endpoint: as.introspectionUrl,
      issuer: as.issuer,
      audience: API_RESOURCE,
      clientAuth,
      tokenTypes: ['Bearer'],
    },
    ...overrides,
  });
}

describe('introspection mode against oidc-provider', function () {
  let as: AuthorizationServer;
  before(async function () {
    as = await startAuthorizationServer();
  });
  after(async function () {
    await as.close();
  });

  describe('client authentication', function () {
    for (const [name, auth] of [
      ['client_secret_basic', () => ({ method: 'client_secret_basic', ...RS_BASIC })],
      ['client_secret_post', () => ({ method: 'client_secret_post', ...RS_POST })],
      [
        'private_key_jwt',
        () => ({
          method: 'private_key_jwt',
          clientId: RS_JWT,
          privateKey: as.clientPrivateJwk,
          algorithm: 'ES256',
          keyId: 'client-1',
        }),
      ],
    ] as const) {
      it(`authenticates a token with ${name}`, async function () {
        const backend = introspectionBackend(as, {}, auth() as ClientAuthentication);
        const token = await as.mint('app-1', { scope: 'read write' });
        const user = await backend.authenticate(undefined, { token });
        expect(user?.username).to.equal('app-1');
        expect(user?.subject).to.equal('app-1');
        expect(user?.clientId).to.equal('app-1');
        expect(user?.scopes).to.deep.equal(['read', 'write']);
        expect(user?.expiresAt).to.be.a('number');
        await backend.close();
      });
    }

    it('sends a fresh client assertion on every call (the server rejects replays)', async function () {
      const backend = introspectionBackend(
        as,
        { cache: false },
        {
          method: 'private_key_jwt',
          clientId: RS_JWT,
          privateKey: as.clientPrivateJwk,
          algorithm: 'ES256',
        },
      );
      const token = await as.mint('app-1');
      for (let i = 0; i < 3; i += 1)
        expect(await backend.authenticate(undefined, { token })).to.not.equal(null);
      await backend.close();
    });

    it('turns a refused client authentication into BACKEND_UNAVAILABLE, never null', async function () {
      const backend = introspectionBackend(
        as,
        {},
        { method: 'client_secret_basic', clientId: RS_BASIC.clientId, clientSecret: 'wrong' },
      );
      const token = await as.mint('app-1');
      await expectRejection(backend.authenticate(undefined, { token }), 'BACKEND_UNAVAILABLE');
      await backend.close();
    });
  });

  it('returns null for an unknown token', async function () {
    const backend = introspectionBackend(as);
    expect(await backend.authenticate(undefined, { token: 'no-such-token-0123456789' })).to.equal(
      null,
    );
    await backend.close();
  });

  it('returns null for a token issued for another audience', async function () {
    const backend = introspectionBackend(as);
    const token = await as.mint('app-1', { resource: OTHER_RESOURCE });
    expect(await backend.authenticate(undefined, { token })).to.equal(null);
    await backend.close();
  });

  it('returns null for a token issued to a client outside the allow-list', async function () {
    const backend = introspectionBackend(as, {
      mode: {
        kind: 'introspection',
        endpoint: as.introspectionUrl,
        issuer: as.issuer,
        audience: API_RESOURCE,
        clientAuth: { method: 'client_secret_basic', ...RS_BASIC },
        allowedClientIds: ['app-2'],
      },
    });
    expect(await backend.authenticate(undefined, { token: await as.mint('app-1') })).to.equal(null);
    expect(await backend.authenticate(undefined, { token: await as.mint('app-2') })).to.not.equal(
      null,
    );
    await backend.close();
  });

  it('refuses a DPoP-bound token (cnf) as a bearer token unless cnf is spelled out as ignored', async function () {
    // No tokenTypes here (the default): the token_type "DPoP" alone would not stop it.
    const mode = {
      kind: 'introspection' as const,
      endpoint: as.introspectionUrl,
      issuer: as.issuer,
      audience: API_RESOURCE,
      clientAuth: { method: 'client_secret_basic' as const, ...RS_BASIC },
    };
    const bound = await as.mintDpop('app-1');
    const strict = introspectionBackend(as, { mode });
    expect(await strict.authenticate(undefined, { token: bound })).to.equal(null);
    expect(await strict.authenticate(undefined, { token: await as.mint('app-1') })).to.not.equal(
      null,
    );
    const lax = introspectionBackend(as, { mode, dangerouslyIgnoreCnf: true });
    expect(await lax.authenticate(undefined, { token: bound })).to.not.equal(null);
    await Promise.all([strict.close(), lax.close()]);
  });

  it('sees a revocation once the cache entry is invalidated (the documented window)', async function () {
    const backend = introspectionBackend(as);
    const token = await as.mint('app-1');
    expect(await backend.authenticate(undefined, { token })).to.not.equal(null);
    await as.revoke('app-1', token);
    expect(await backend.authenticate(undefined, { token }), 'still cached').to.not.equal(null);
    backend.invalidate(token);
    expect(await backend.authenticate(undefined, { token })).to.equal(null);
    await backend.close();
  });

  it('never serves a cached answer past the token exp (injected clock)', async function () {
    const clock = new ManualClock(Date.now());
    const backend = introspectionBackend(as, {
      clock,
      cache: { ttlMs: 3_600_000 },
      clockToleranceSec: 0,
    });
    const token = await as.mint('app-1');
    const user = (await backend.authenticate(undefined, { token }))!;
    const path = '/token/introspection';
    const before = as.count(path);
    clock.set(user.expiresAt! - 1);
    expect(await backend.authenticate(undefined, { token })).to.not.equal(null);
    expect(as.count(path), 'served from cache just before exp').to.equal(before);
    clock.set(user.expiresAt!);
    // At exp the entry is gone: the server is asked again, and the local exp check refuses.
    expect(await backend.authenticate(undefined, { token })).to.equal(null);
    expect(as.count(path)).to.equal(before + 1);
    await backend.close();
  });

  it('makes exactly one upstream request for 1,000 concurrent checks of one new token', async function () {
    const backend = introspectionBackend(as);
    const token = await as.mint('app-3');
    const path = '/token/introspection';
    const before = as.count(path);
    const users = await Promise.all(
      Array.from({ length: 1000 }, () => backend.authenticate(undefined, { token })),
    );
    expect(as.count(path) - before).to.equal(1);
    expect(new Set(users.map((u) => u?.id)).size).to.equal(1);
    expect(users[0]?.username).to.equal('app-3');
    expect(backend.stats().coalesced).to.equal(999);
    await backend.close();
  });

  it('answers hasPerm from the token scopes through the Authenticator', async function () {
    const backend = introspectionBackend(as, {
      permissions: { scopeMap: { read: ['api.view'], write: ['api.change'] } },
    });
    const auth = new Authenticator({ backends: [backend] });
    const user = (await auth.authenticate(undefined, {
      token: await as.mint('app-1', { scope: 'read' }),
    }))!;
    expect(await auth.hasPerm(user, 'api.view')).to.equal(true);
    expect(await auth.hasPerm(user, 'api.change')).to.equal(false);
    await auth.close();
  });
});

describeBackendConformance<RestCredentials>({
  name: 'RestTokenBackend (introspection, oidc-provider)',
  async setup() {
    const as = await startAuthorizationServer();
    const backend = introspectionBackend(as);
    return {
      backend,
      users: [
        { credentials: { token: await as.mint('app-1') }, username: 'app-1' },
        { credentials: { token: await as.mint('app-2') }, username: 'app-2' },
        { credentials: { token: await as.mint('app-3') }, username: 'app-3' },
      ],
      wrongSecret: { token: 'not-a-token-issued-by-this-server-0001' },
      unknownUser: { token: 'not-a-token-issued-by-this-server-0002' },
      foreignCredentials: [{ username: 'app-1', password: 'x' }, { token: 42 }],
      teardown: () => as.close(),
    };
  },
});
