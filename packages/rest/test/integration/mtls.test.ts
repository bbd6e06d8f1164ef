// RFC 8705 tls_client_auth: the backend authenticates to oidc-provider's introspection endpoint
// with a TLS client certificate, over HTTPS with a pinned test CA.
import { MemoryUserStore } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import { RestTokenBackend, silentLogger } from '@authbridge/rest';
import { expect } from 'chai';
import { after, before, describe, it } from 'mocha';
import {
  API_RESOURCE,
  type AuthorizationServer,
  RS_MTLS,
  startAuthorizationServer,
} from '@authbridge/testkit';
import { makePki, type Pki } from '../support/tls-material.js';

describe('introspection with mTLS client authentication (tls_client_auth)', function () {
  let pki: Pki;
  let rogue: Pki;
  let as: AuthorizationServer;
  before(async function () {
    pki = await makePki([RS_MTLS, 'intruder']);
    rogue = await makePki([RS_MTLS], 'rogue CA');
    as = await startAuthorizationServer({
      tls: { caPem: pki.caPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem },
    });
  });
  after(async function () {
    await as.close();
  });

  function backend(client: { certPem: string; keyPem: string }): RestTokenBackend {
    return new RestTokenBackend({
      store: new MemoryUserStore(),
      logger: silentLogger,
      mode: {
        kind: 'introspection',
        endpoint: as.introspectionUrl,
        issuer: as.issuer,
        audience: API_RESOURCE,
        clientAuth: {
          method: 'tls_client_auth',
          clientId: RS_MTLS,
          tls: { cert: client.certPem, key: client.keyPem, ca: pki.caPem },
        },
      },
    });
  }

  it('authenticates a token when the registered certificate is presented', async function () {
    const b = backend(pki.clients[RS_MTLS]!);
    const token = await as.mint('app-1');
    expect((await b.authenticate(undefined, { token }))?.username).to.equal('app-1');
    await b.close();
  });

  it('is refused (fail closed) with a certificate for another subject', async function () {
    const b = backend(pki.clients['intruder']!);
    await expectRejection(
      b.authenticate(undefined, { token: await as.mint('app-1') }),
      'BACKEND_UNAVAILABLE',
    );
    await b.close();
  });

  it('is refused (fail closed) with a certificate from an untrusted CA', async function () {
    const b = backend(rogue.clients[RS_MTLS]!);
    await expectRejection(
      b.authenticate(undefined, { token: await as.mint('app-1') }),
      'BACKEND_UNAVAILABLE',
    );
    await b.close();
  });

  it('does not trust a server whose certificate is not from the pinned CA', async function () {
    const b = new RestTokenBackend({
      store: new MemoryUserStore(),
      logger: silentLogger,
      mode: {
        kind: 'introspection',
        endpoint: as.introspectionUrl,
        issuer: as.issuer,
        audience: API_RESOURCE,
        clientAuth: {
          method: 'tls_client_auth',
          clientId: RS_MTLS,
          tls: {
            cert: pki.clients[RS_MTLS]!.certPem,
            key: pki.clients[RS_MTLS]!.keyPem,
            ca: rogue.caPem,
          },
        },
      },
    });
    const error = await expectRejection(
      b.authenticate(undefined, { token: await as.mint('app-1') }),
      'BACKEND_UNAVAILABLE',
    );
    expect(error).to.have.property('detail').that.is.a('string');
    await b.close();
  });
});
