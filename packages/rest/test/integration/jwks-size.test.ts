// JWT mode against a key-set endpoint that answers too much: the JWKS is capped like every other
// upstream answer, counted as decompressed (a small gzip body can inflate a thousandfold).
import { MemoryUserStore } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import { RestTokenBackend, silentLogger } from '@authbridge/rest';
import { expect } from 'chai';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { after, before, describe, it } from 'mocha';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

describe('JWT mode: the key set is size-capped', function () {
  let server: Server;
  let url: string;
  let token: string;
  // Padding (in bytes, before compression) the next key-set answer carries.
  let padding = 0;

  before(async function () {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('content-encoding', 'gzip');
      res.end(gzipSync(JSON.stringify({ keys: [jwk], padding: 'x'.repeat(padding) })));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/jwks`;
    token = await new SignJWT({ sub: 'user-1' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
      .setIssuer('https://as.test')
      .setAudience('https://api.test')
      .setExpirationTime('5m')
      .sign(privateKey);
  });

  after(async function () {
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  });

  const backend = (): RestTokenBackend =>
    new RestTokenBackend({
      store: new MemoryUserStore(),
      logger: silentLogger,
      maxResponseBytes: 64 * 1024,
      mode: { kind: 'jwt', issuer: 'https://as.test', audience: 'https://api.test', jwksUri: url },
    });

  it('accepts a token whose key set fits (control)', async function () {
    padding = 32 * 1024;
    const b = backend();
    expect((await b.authenticate(undefined, { token }))?.subject).to.equal('user-1');
    await b.close();
  });

  it('refuses a key set over the cap once decompressed, failing closed', async function () {
    padding = 4 * 1024 * 1024; // about 4 kB as sent
    const b = backend();
    await expectRejection(b.authenticate(undefined, { token }), 'BACKEND_UNAVAILABLE');
    await b.close();
  });
});
