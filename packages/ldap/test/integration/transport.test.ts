// TLS: ldaps:// and StartTLS with a pinned CA, plaintext refused, failed StartTLS aborts.
import { expectRejection } from '@authbridge/conformance';
import { requireServer, slapdAvailable, type SlapdServer } from '@authbridge/testkit';
import { expect } from 'chai';
import { after, before, describe, it } from 'mocha';
import { backendMaker, bindCount, startSlapd } from './helpers.ts';

describe('LdapBackend transport (slapd)', function () {
  let server: SlapdServer;
  const { make, closeAll } = backendMaker(() => server);
  const alice = { username: 'alice', password: 'alice-password' };

  before(async function () {
    requireServer(this, await slapdAvailable(), 'slapd');
    server = await startSlapd();
  });

  after(async function () {
    await closeAll();
    if ((server as SlapdServer | undefined) !== undefined) await server.stop();
  });

  it('logs in over StartTLS with the pinned CA', async function () {
    expect((await make({}).authenticate(undefined, alice))?.username).to.equal('alice');
    expect((await server.log()).includes('STARTTLS')).to.equal(true);
  });

  it('logs in over ldaps:// with the pinned CA', async function () {
    expect(
      (await make({ url: server.ldapsUrl }).authenticate(undefined, alice))?.username,
    ).to.equal('alice');
  });

  it('verifies against an explicit servername', async function () {
    const ok = make({
      url: server.ldapsUrl,
      tls: { ca: server.caCertPem, servername: server.serverName },
    });
    expect((await ok.authenticate(undefined, alice))?.username).to.equal('alice');
    const wrong = make({
      url: server.ldapsUrl,
      tls: { ca: server.caCertPem, servername: 'evil.example.com' },
    });
    await expectRejection(wrong.authenticate(undefined, alice), 'BACKEND_UNAVAILABLE');
  });

  it('refuses plaintext ldap:// unless allowInsecure is written in the config', function () {
    for (const options of [
      { startTls: false },
      { startTls: false, allowInsecure: false },
      { tls: { ca: server.caCertPem, rejectUnauthorized: false } },
    ]) {
      let caught: unknown;
      try {
        make(options);
      } catch (error) {
        caught = error;
      }
      expect((caught as { code?: unknown } | undefined)?.code).to.equal('CONFIG_INVALID');
    }
  });

  it('works in plaintext with allowInsecure', async function () {
    const plain = make({ startTls: false, allowInsecure: true });
    expect((await plain.authenticate(undefined, alice))?.username).to.equal('alice');
  });

  it('aborts when StartTLS fails (untrusted certificate): nothing is sent in plaintext', async function () {
    const before = await bindCount(server);
    // No pinned CA: Node's public roots do not include the test CA.
    const backend = make({ tls: {} });
    await expectRejection(backend.authenticate(undefined, alice), 'BACKEND_UNAVAILABLE');
    expect(await bindCount(server)).to.equal(before);
  });

  it('rejects an ldaps:// certificate from an untrusted CA', async function () {
    const backend = make({ url: server.ldapsUrl, tls: {} });
    await expectRejection(backend.authenticate(undefined, alice), 'BACKEND_UNAVAILABLE');
  });
});
