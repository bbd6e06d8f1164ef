// Mode 3 against a real authorization server's JWKS (oidc-provider issuing RFC 9068 tokens).
import { ManualClock, MemoryUserStore } from '@authbridge/core';
import { describeBackendConformance, expectRejection } from '@authbridge/conformance';
import {
  type JwtModeOptions,
  type RestCredentials,
  RestTokenBackend,
  type RestTokenBackendOptions,
  silentLogger,
} from '@authbridge/rest';
import { expect } from 'chai';
import { decodeJwt, importJWK, type JWTPayload, SignJWT } from 'jose';
import { after, before, describe, it } from 'mocha';
import {
  type AuthorizationServer,
  JWT_RESOURCE,
  startAuthorizationServer,
} from '@authbridge/testkit';
import { closedPortUrl } from '../support/closed-port.js';
import { type InHouseApi, startInHouseApi } from '../support/in-house-api.js';

function jwtBackend(
  as: AuthorizationServer,
  mode: Partial<JwtModeOptions> = {},
  overrides: Partial<RestTokenBackendOptions> = {},
): RestTokenBackend {
  return new RestTokenBackend({
    store: new MemoryUserStore(),
    logger: silentLogger,
    mode: { kind: 'jwt', issuer: as.issuer, audience: JWT_RESOURCE, jwksUri: as.jwksUri, ...mode },
    ...overrides,
  });
}

describe('JWT mode against oidc-provider', function () {
  let as: AuthorizationServer;
  let api: InHouseApi;
  before(async function () {
    as = await startAuthorizationServer();
    api = await startInHouseApi();
  });
  after(async function () {
    await as.close();
    await api.close();
  });

  // A token signed with the provider's own key, so only the property under test differs.
  async function forge(
    payload: JWTPayload,
    header: { typ?: string } = { typ: 'at+jwt' },
  ): Promise<string> {
    const key = await importJWK(as.signingJwk, 'ES256');
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ client_id: 'app-1', scope: 'read', ...payload })
      .setProtectedHeader({ alg: 'ES256', kid: 'ec-1', ...header })
      .setIssuer(as.issuer)
      .setAudience(JWT_RESOURCE)
      .setSubject('app-1')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(key);
  }

  it('authenticates an at+jwt access token from the provider', async function () {
    const backend = jwtBackend(as);
    const token = await as.mint('app-1', { resource: JWT_RESOURCE, scope: 'read write' });
    const user = await backend.authenticate(undefined, { token });
    expect(user).to.include({
      username: 'app-1',
      subject: 'app-1',
      clientId: 'app-1',
      issuer: as.issuer,
    });
    expect(user?.scopes).to.deep.equal(['read', 'write']);
    expect(user?.expiresAt).to.equal((decodeJwt(token).exp ?? 0) * 1000);
    await backend.close();
  });

  it('a look-alike signed with the same key passes, as a control for the tests below', async function () {
    const backend = jwtBackend(as);
    expect(await backend.authenticate(undefined, { token: await forge({}) })).to.not.equal(null);
    await backend.close();
  });

  it('requires typ at+jwt (RFC 9068)', async function () {
    const backend = jwtBackend(as);
    expect(
      await backend.authenticate(undefined, { token: await forge({}, { typ: 'JWT' }) }),
    ).to.equal(null);
    expect(await backend.authenticate(undefined, { token: await forge({}, {}) })).to.equal(null);
    await backend.close();
  });

  it('refuses a DPoP-bound JWT (cnf.jkt from the provider) unless cnf is spelled out as ignored', async function () {
    const token = await as.mintDpop('app-1', { resource: JWT_RESOURCE });
    expect(decodeJwt(token)['cnf']).to.have.property('jkt');
    const strict = jwtBackend(as);
    expect(await strict.authenticate(undefined, { token })).to.equal(null);
    const lax = jwtBackend(as, {}, { dangerouslyIgnoreCnf: true });
    expect(await lax.authenticate(undefined, { token })).to.not.equal(null);
    await Promise.all([strict.close(), lax.close()]);
  });

  it('requires the audience', async function () {
    const backend = jwtBackend(as, { audience: 'https://somewhere-else.test' });
    const token = await as.mint('app-1', { resource: JWT_RESOURCE });
    expect(await backend.authenticate(undefined, { token })).to.equal(null);
    await backend.close();
  });

  it('requires the issuer', async function () {
    const backend = jwtBackend(as, { issuer: 'https://another-issuer.test' });
    expect(
      await backend.authenticate(undefined, {
        token: await as.mint('app-1', { resource: JWT_RESOURCE }),
      }),
    ).to.equal(null);
    await backend.close();
  });

  it('with allowedClientIds, refuses a token that carries no client_id', async function () {
    const backend = jwtBackend(as, { allowedClientIds: ['app-1'] });
    const { client_id: _dropped, ...noClient } = decodeJwt(await forge({}));
    expect(_dropped).to.equal('app-1');
    const key = await importJWK(as.signingJwk, 'ES256');
    const token = await new SignJWT(noClient)
      .setProtectedHeader({ alg: 'ES256', kid: 'ec-1', typ: 'at+jwt' })
      .sign(key);
    expect(decodeJwt(token)).to.not.have.property('client_id');
    expect(await backend.authenticate(undefined, { token })).to.equal(null);
    // The same token passes without the allow-list, and a listed client passes with it.
    const open = jwtBackend(as);
    expect((await open.authenticate(undefined, { token }))?.subject).to.equal('app-1');
    expect(await backend.authenticate(undefined, { token: await forge({}) })).to.not.equal(null);
    await Promise.all([backend.close(), open.close()]);
  });

  it('requires exp', async function () {
    const backend = jwtBackend(as);
    const key = await importJWK(as.signingJwk, 'ES256');
    const noExp = await new SignJWT({ client_id: 'app-1' })
      .setProtectedHeader({ alg: 'ES256', kid: 'ec-1', typ: 'at+jwt' })
      .setIssuer(as.issuer)
      .setAudience(JWT_RESOURCE)
      .setSubject('app-1')
      .sign(key);
    expect(await backend.authenticate(undefined, { token: noExp })).to.equal(null);
    await backend.close();
  });

  it('rejects an expired token (injected clock), and never caches past exp', async function () {
    const token = await as.mint('app-1', { resource: JWT_RESOURCE });
    const exp = (decodeJwt(token).exp ?? 0) * 1000;
    const clock = new ManualClock(exp - 1_000);
    const backend = jwtBackend(
      as,
      {},
      { clock, clockToleranceSec: 0, cache: { ttlMs: 3_600_000 } },
    );
    expect(await backend.authenticate(undefined, { token })).to.not.equal(null);
    clock.set(exp);
    expect(await backend.authenticate(undefined, { token })).to.equal(null);
    await backend.close();
  });

  it('enforces the algorithm allow-list', async function () {
    const backend = jwtBackend(as, { algorithms: ['RS256', 'PS256'] });
    expect(
      await backend.authenticate(undefined, {
        token: await as.mint('app-1', { resource: JWT_RESOURCE }),
      }),
    ).to.equal(null);
    await backend.close();
  });

  it('rejects a tampered signature and a tampered payload', async function () {
    const backend = jwtBackend(as, {}, { cache: false });
    const token = await as.mint('app-1', { resource: JWT_RESOURCE });
    const [h, p, s] = token.split('.') as [string, string, string];
    const flipped = `${s.slice(0, -2)}${s.at(-2) === 'A' ? 'B' : 'A'}${s.at(-1)}`;
    expect(await backend.authenticate(undefined, { token: `${h}.${p}.${flipped}` })).to.equal(null);
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const evil = Buffer.from(JSON.stringify({ ...payload, sub: 'admin' })).toString('base64url');
    expect(await backend.authenticate(undefined, { token: `${h}.${evil}.${s}` })).to.equal(null);
    await backend.close();
  });

  it('treats an opaque token as invalid without fetching keys', async function () {
    const backend = jwtBackend(as);
    const before = as.count('/jwks');
    expect(await backend.authenticate(undefined, { token: await as.mint('app-1') })).to.equal(null);
    expect(as.count('/jwks')).to.equal(before);
    await backend.close();
  });

  it('fetches the key set once for many verifications', async function () {
    const backend = jwtBackend(as, {}, { cache: false });
    const before = as.count('/jwks');
    const tokens = await Promise.all(
      (['app-1', 'app-2', 'app-3'] as const).map((app) => as.mint(app, { resource: JWT_RESOURCE })),
    );
    const users = await Promise.all(
      tokens.flatMap((token) =>
        Array.from({ length: 20 }, () => backend.authenticate(undefined, { token })),
      ),
    );
    expect(users.every((u) => u !== null)).to.equal(true);
    expect(as.count('/jwks') - before).to.equal(1);
    await backend.close();
  });

  it('fails closed when the key set cannot be fetched', async function () {
    const backend = jwtBackend(as, { jwksUri: await closedPortUrl('/jwks') });
    const token = await as.mint('app-1', { resource: JWT_RESOURCE });
    await expectRejection(backend.authenticate(undefined, { token }), 'BACKEND_UNAVAILABLE');
    await backend.close();
  });

  it('fails closed when the key set endpoint answers 500', async function () {
    api.behaviour = { kind: 'status', status: 500 };
    try {
      const backend = jwtBackend(as, { jwksUri: `${api.url}/jwks` });
      const token = await as.mint('app-1', { resource: JWT_RESOURCE });
      await expectRejection(backend.authenticate(undefined, { token }), 'BACKEND_UNAVAILABLE');
      await backend.close();
    } finally {
      api.behaviour = { kind: 'normal' };
    }
  });

  it('with revocation, also needs the token to be active at the introspection endpoint', async function () {
    // oidc-provider refuses to introspect JWT access tokens (it treats them as self-contained), so
    // the fixture's RFC 7662 endpoint plays the revocation list here.
    const backend = jwtBackend(as, {
      revocation: {
        endpoint: `${api.url}/introspect`,
        clientAuth: { method: 'client_secret_basic', clientId: 'rs', clientSecret: 'rs-secret' },
      },
    });
    const token = await as.mint('app-1', { resource: JWT_RESOURCE });
    api.introspection.set(token, JSON.stringify({ active: true }));
    expect(await backend.authenticate(undefined, { token })).to.not.equal(null);
    api.introspection.set(token, JSON.stringify({ active: false }));
    backend.invalidate(token);
    expect(await backend.authenticate(undefined, { token })).to.equal(null);
    const sent = api.received.get('/introspect')!.at(-1)!;
    expect(new URLSearchParams(sent.body).get('token')).to.equal(token);
    await backend.close();
  });

  it('with revocation, is not ready while the introspection endpoint fails, and reports its circuit', async function () {
    const backend = jwtBackend(
      as,
      {
        revocation: {
          endpoint: `${api.url}/introspect`,
          clientAuth: { method: 'client_secret_basic', clientId: 'rs', clientSecret: 'rs-secret' },
        },
      },
      { circuitBreaker: { failureThreshold: 2, openMs: 60_000 }, retry: false },
    );
    api.resetCounts();
    try {
      // A working endpoint says `active: false` about the probe's made-up token.
      await backend.healthCheck();
      const probe = new URLSearchParams(api.received.get('/introspect')!.at(-1)!.body);
      expect(probe.get('token')).to.match(/^authbridge-readiness-/);
      api.behaviour = { kind: 'status', status: 503 };
      await expectRejection(backend.healthCheck(), 'BACKEND_UNAVAILABLE');
      const token = await as.mint('app-1', { resource: JWT_RESOURCE });
      await expectRejection(backend.authenticate(undefined, { token }), 'BACKEND_UNAVAILABLE');
      // The key set is fine; the revocation endpoint's breaker opened: that is the mode's state.
      expect(backend.stats().circuit).to.equal('open');
      api.behaviour = { kind: 'normal' };
      const asked = api.received.get('/introspect')!.length;
      await expectRejection(backend.healthCheck(), 'BACKEND_UNAVAILABLE');
      expect(api.received.get('/introspect')!.length, 'not asked while open').to.equal(asked);
    } finally {
      api.behaviour = { kind: 'normal' };
      await backend.close();
    }
  });
});

describeBackendConformance<RestCredentials>({
  name: 'RestTokenBackend (JWT, oidc-provider JWKS)',
  async setup() {
    const as = await startAuthorizationServer();
    const backend = jwtBackend(as);
    const mint = (app: 'app-1' | 'app-2' | 'app-3'): Promise<string> =>
      as.mint(app, { resource: JWT_RESOURCE });
    const good = await mint('app-1');
    const [h, p] = good.split('.') as [string, string];
    return {
      backend,
      users: [
        { credentials: { token: good }, username: 'app-1' },
        { credentials: { token: await mint('app-2') }, username: 'app-2' },
        { credentials: { token: await mint('app-3') }, username: 'app-3' },
      ],
      // A real token's header and payload with a bad signature, and a well-formed token nobody issued.
      wrongSecret: { token: `${h}.${p}.AAAA` },
      unknownUser: { token: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.AAAA' },
      teardown: () => as.close(),
    };
  },
});
