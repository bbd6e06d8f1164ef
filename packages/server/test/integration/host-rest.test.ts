// The reference host with the REST token backend, against a real authorization server
// (oidc-provider on loopback, from the REST package's test support).
import { expectRejection } from '@authbridge/conformance';
import { createApp, type HostApp, parseConfig } from '@authbridge/server';
import { expect } from 'chai';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import request from 'supertest';
import {
  API_RESOURCE,
  type AuthorizationServer,
  freePort,
  RS_BASIC,
  RS_JWT,
  startAuthorizationServer,
} from '@authbridge/testkit';

describe('reference host with the REST token backend (real oidc-provider)', function () {
  let as: AuthorizationServer;
  let dir: string;
  let app: HostApp;

  before(async function () {
    as = await startAuthorizationServer();
  });
  after(async function () {
    await as.close();
  });
  // A host whose REST backend introspects at `endpoint`, with its store in `db`.
  const hostFor = (endpoint: string, db: string): Promise<HostApp> =>
    createApp(
      parseConfig(
        {
          server: { secret: 'a-host-test-secret-of-at-least-32-chars' },
          stores: { path: join(dir, db) },
          backends: [
            {
              type: 'rest',
              mode: {
                kind: 'introspection',
                endpoint,
                issuer: as.issuer,
                audience: API_RESOURCE,
                clientAuth: {
                  method: 'client_secret_basic',
                  clientId: RS_BASIC.clientId,
                  clientSecret: '${RS_SECRET}',
                },
              },
              permissions: { scopeMap: { read: ['reports.view'] } },
            },
          ],
          logging: { level: 'silent' },
        },
        { RS_SECRET: RS_BASIC.clientSecret },
      ),
      { logger: pino({ level: 'silent' }) },
    );

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), 'authbridge-host-rest-'));
    app = await hostFor(as.introspectionUrl, 'host.db');
  });
  afterEach(async function () {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers /api/me for a bearer token, statelessly, and caches the introspection', async function () {
    const token = await as.mint('app-1', { resource: API_RESOURCE, scope: 'read' });
    const before = as.count('/token/introspection');
    for (let i = 0; i < 3; i++) {
      const res = await request(app.callback())
        .get('/api/me')
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
      expect(res.body).to.include({ backend: 'rest', via: 'bearer' });
      expect((res.body as { permissions: string[] }).permissions).to.include('reports.view');
      expect(res.headers['set-cookie']).to.equal(undefined);
    }
    expect(as.count('/token/introspection') - before).to.equal(1);
    const metrics = await request(app.callback()).get('/metrics').expect(200);
    expect(metrics.text).to.include('# TYPE authbridge_token_cache_hits_total counter');
    expect(metrics.text).to.include('authbridge_token_cache_hits_total{backend="rest"} 2');
    expect(metrics.text).to.include('authbridge_token_cache_misses_total{backend="rest"} 1');
    expect(metrics.text).to.include('authbridge_circuit_open{backend="rest"} 0');
  });

  it('is ready while the authorization server answers, and not when it is gone', async function () {
    const ready = await request(app.callback()).get('/readyz').expect(200);
    expect((ready.body as { checks: Record<string, string> }).checks).to.include({
      'backend:rest': 'ok',
    });
    // The same host against an endpoint where nothing listens: /api/me would be 503, so is /readyz.
    const gone = await hostFor(
      `http://127.0.0.1:${String(await freePort())}/introspect`,
      'gone.db',
    );
    try {
      const res = await request(gone.callback()).get('/readyz').expect(503);
      expect((res.body as { checks: Record<string, string> }).checks).to.include({
        'backend:rest': 'BACKEND_UNAVAILABLE',
      });
    } finally {
      await gone.close();
    }
  });

  it('introspects with private_key_jwt, signing with the key in a PEM file', async function () {
    const keyFile = join(dir, 'client-key.pem');
    writeFileSync(
      keyFile,
      createPrivateKey({ key: as.clientPrivateJwk, format: 'jwk' }).export({
        type: 'pkcs8',
        format: 'pem',
      }),
    );
    const withKey = (clientAuth: object) =>
      parseConfig(
        {
          server: { secret: 'a-host-test-secret-of-at-least-32-chars' },
          stores: { kind: 'memory' },
          backends: [
            {
              type: 'rest',
              mode: {
                kind: 'introspection',
                endpoint: as.introspectionUrl,
                issuer: as.issuer,
                audience: API_RESOURCE,
                clientAuth: {
                  method: 'private_key_jwt',
                  clientId: RS_JWT,
                  privateKeyFile: keyFile,
                  algorithm: 'ES256',
                  keyId: 'client-1',
                  lifetimeSec: '${ASSERTION_TTL}',
                  ...clientAuth,
                },
              },
            },
          ],
          logging: { level: 'silent' },
        },
        { ASSERTION_TTL: '30' },
      );
    const signed = await createApp(withKey({}), { logger: pino({ level: 'silent' }) });
    try {
      const token = await as.mint('app-1', { resource: API_RESOURCE, scope: 'read' });
      const me = await request(signed.callback())
        .get('/api/me')
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
      expect(me.body).to.include({ backend: 'rest', via: 'bearer' });
    } finally {
      await signed.close();
    }
    // A key that cannot make the signature asked for is refused at start-up, not per request.
    const rsaFile = join(dir, 'rsa-key.pem');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    writeFileSync(rsaFile, rsa.export({ type: 'pkcs8', format: 'pem' }));
    for (const [clientAuth, message] of [
      [{ algorithm: 'ES384' }, 'cannot sign ES384'],
      [{ privateKeyFile: rsaFile }, 'cannot sign ES256'],
      [{ privateKeyFile: join(dir, 'host.db') }, 'holds no unencrypted PEM private key'],
    ] as const) {
      const error = (await expectRejection(
        createApp(withKey(clientAuth), { logger: pino({ level: 'silent' }) }),
        'CONFIG_INVALID',
      )) as Error;
      expect(error.message)
        .to.include(`backends[0] (rest): mode.clientAuth.privateKeyFile: `)
        .and.include(message);
    }
  });

  it('challenges an unknown token with invalid_token', async function () {
    const res = await request(app.callback())
      .get('/api/me')
      .set('Authorization', 'Bearer forged-token-value')
      .expect(401);
    expect(res.headers['www-authenticate']).to.include('error="invalid_token"');
  });
});
