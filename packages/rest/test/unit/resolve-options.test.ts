import { MemoryUserStore } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import { RestTokenBackend, type RestTokenBackendOptions, silentLogger } from '@authbridge/rest';
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'mocha';
import { omit } from '../support/fakes.js';

const store = new MemoryUserStore();
const introspection: RestTokenBackendOptions = {
  store,
  logger: silentLogger,
  mode: {
    kind: 'introspection',
    endpoint: 'https://as.test/introspect',
    issuer: 'https://as.test',
    audience: 'https://api.test',
    clientAuth: { method: 'client_secret_basic', clientId: 'rs', clientSecret: 's' },
  },
};

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !(value instanceof MemoryUserStore)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

async function configError(options: unknown): Promise<void> {
  await expectRejection(
    (async () => new RestTokenBackend(options as RestTokenBackendOptions))(),
    'CONFIG_INVALID',
  );
}

describe('RestTokenBackend options', function () {
  it('expects TLS: plain http only on loopback or with allowInsecureHttp spelled out', async function () {
    const http = (endpoint: string) => ({
      ...introspection,
      mode: { ...introspection.mode, endpoint },
    });
    await configError(http('http://as.example.org/introspect'));
    await configError(http('http://10.0.0.7/introspect'));
    for (const ok of [
      http('http://127.0.0.1:8080/introspect'),
      http('http://localhost/introspect'),
      http('http://[::1]/introspect'),
      { ...http('http://as.example.org/introspect'), allowInsecureHttp: true },
    ]) {
      await new RestTokenBackend(ok).close();
    }
  });

  it("accepts deeply frozen options (the caller's object is never written to)", async function () {
    const options = deepFreeze({
      ...introspection,
      permissions: { scopeMap: { read: ['a.view'] } },
    });
    const backend = new RestTokenBackend(options);
    expect(backend.id).to.equal('rest');
    await backend.close();
  });

  it('refuses a missing store or mode', async function () {
    await configError(undefined);
    await configError({ ...introspection, store: undefined });
    await configError({ ...introspection, mode: undefined });
    await configError({ ...introspection, mode: { ...introspection.mode, kind: 'magic' } });
  });

  it('requires an explicit audience decision for introspection', async function () {
    const noAudience = omit(introspection.mode, 'audience');
    await configError({ ...introspection, mode: noAudience });
    const backend = new RestTokenBackend({
      ...introspection,
      mode: { ...introspection.mode, audience: null } as RestTokenBackendOptions['mode'],
    });
    await backend.close();
  });

  it('refuses bad client authentication', async function () {
    const mode = introspection.mode;
    await configError({ ...introspection, mode: { ...mode, clientAuth: undefined } });
    await configError({
      ...introspection,
      mode: { ...mode, clientAuth: { method: 'client_secret_basic', clientId: 'rs' } },
    });
    await configError({
      ...introspection,
      mode: { ...mode, clientAuth: { method: 'none', clientId: 'rs' } },
    });
    await configError({
      ...introspection,
      mode: {
        ...mode,
        clientAuth: {
          method: 'private_key_jwt',
          clientId: 'rs',
          algorithm: 'HS256',
          privateKey: {},
        },
      },
    });
    await configError({
      ...introspection,
      mode: { ...mode, clientAuth: { method: 'tls_client_auth', clientId: 'rs' } },
    });
  });

  it('refuses at construction a private_key_jwt key that cannot sign its algorithm', async function () {
    const withKey = (privateKey: unknown, algorithm: string) => ({
      ...introspection,
      mode: {
        ...introspection.mode,
        clientAuth: { method: 'private_key_jwt', clientId: 'rs', algorithm, privateKey },
      },
    });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const ed = generateKeyPairSync('ed25519').privateKey;
    // Each fits: the backend is built.
    for (const [key, algorithm] of [
      [ec.privateKey, 'ES256'],
      [rsa, 'RS256'],
      [rsa, 'PS384'],
      [ed, 'EdDSA'],
    ] as const) {
      new RestTokenBackend(withKey(key, algorithm) as RestTokenBackendOptions);
    }
    // Another curve, another key type, a public key, a short RSA key, an unknown algorithm.
    await configError(withKey(ec.privateKey, 'ES384'));
    await configError(withKey(rsa, 'ES256'));
    await configError(withKey(ec.publicKey, 'ES256'));
    await configError(withKey(small, 'RS256'));
    await configError(withKey(ed, 'RS256'));
    await configError(withKey(ec.privateKey, 'ES256K'));
  });

  it('refuses out-of-range numbers and wrong types', async function () {
    await configError({ ...introspection, deadlineMs: 0 });
    await configError({ ...introspection, deadlineMs: 60_000 });
    await configError({ ...introspection, deadlineMs: '2000' });
    await configError({ ...introspection, cache: { ttlMs: -1 } });
    await configError({ ...introspection, cache: { maxEntries: 0 } });
    await configError({ ...introspection, circuitBreaker: { failureThreshold: 0 } });
    await configError({ ...introspection, dangerouslyFailOpen: 'yes' });
    await configError({ ...introspection, retry: 1 });
    await configError({
      ...introspection,
      mode: { ...introspection.mode, endpoint: 'ftp://as.test/x' },
    });
    await configError({
      ...introspection,
      mode: { ...introspection.mode, endpoint: 'https://u:p@as.test/x' },
    });
    await configError({ ...introspection, permissions: { scopeMap: { read: [1] } } });
  });

  it('needs audience, one key source and asymmetric algorithms for JWT', async function () {
    const jwt = {
      kind: 'jwt',
      issuer: 'https://as.test',
      audience: 'https://api.test',
      jwksUri: 'https://as.test/jwks',
    };
    new RestTokenBackend({ ...introspection, mode: jwt as RestTokenBackendOptions['mode'] });
    await configError({ ...introspection, mode: { ...jwt, audience: undefined } });
    await configError({ ...introspection, mode: { ...jwt, jwks: { keys: [] } } });
    await configError({ ...introspection, mode: { ...jwt, jwksUri: undefined } });
    await configError({ ...introspection, mode: { ...jwt, algorithms: ['HS256'] } });
    await configError({ ...introspection, mode: { ...jwt, algorithms: ['none'] } });
  });

  it('validates the in-house template and mapping', async function () {
    const rest = {
      kind: 'rest',
      issuer: 'in-house',
      request: { url: 'https://auth.internal/verify' },
      response: { subject: 'user.id' },
    };
    new RestTokenBackend({ ...introspection, mode: rest as RestTokenBackendOptions['mode'] });
    await configError({ ...introspection, mode: { ...rest, response: undefined } });
    await configError({ ...introspection, mode: { ...rest, response: { subject: 'a..b' } } });
    await configError({
      ...introspection,
      mode: { ...rest, response: { subject: '__proto__.x' } },
    });
    await configError({
      ...introspection,
      mode: { ...rest, request: { url: rest.request.url, token: { in: 'query', param: 't' } } },
    });
    await configError({
      ...introspection,
      mode: { ...rest, request: { url: rest.request.url, method: 'GET', token: { in: 'body' } } },
    });
    await configError({
      ...introspection,
      mode: { ...rest, request: { url: rest.request.url, token: null } },
    });
    await configError({ ...introspection, mode: { ...rest, invalidStatuses: [500] } });
    new RestTokenBackend({
      ...introspection,
      mode: {
        ...rest,
        request: {
          url: rest.request.url,
          token: { in: 'query', param: 't', dangerouslyAllowTokenInQuery: true },
        },
      } as RestTokenBackendOptions['mode'],
    });
  });
});
