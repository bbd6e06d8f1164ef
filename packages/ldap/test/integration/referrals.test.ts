// Referrals from the directory (RFC 4511 §4.1.10, §4.5.3) are never followed: a referral names
// another server, and following it would send the service account's or the user's password there.
// Against real slapd, with a referral entry under the people subtree that points at a listener
// counting who calls.
import { expectRejection } from '@authbridge/conformance';
import { requireServer, slapdAvailable, type SlapdServer } from '@authbridge/testkit';
import { expect } from 'chai';
import { Client } from 'ldapts';
import { after, before, describe, it } from 'mocha';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { backendMaker, PEOPLE, startSlapd } from './helpers.ts';

describe('LdapBackend and referrals (slapd)', function () {
  let server: SlapdServer;
  let elsewhere: Server;
  let calls = 0;
  const { make, closeAll } = backendMaker(() => server);
  const alice = { username: 'alice', password: 'alice-password' };

  before(async function () {
    requireServer(this, await slapdAvailable(), 'slapd');
    server = await startSlapd();
    elsewhere = createServer((socket) => {
      calls++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    const port = (elsewhere.address() as AddressInfo).port;
    const admin = new Client({ url: server.url });
    await admin.bind(server.adminDN, server.adminPassword);
    await admin.add(`ou=branch,${PEOPLE}`, {
      objectClass: ['referral', 'extensibleObject'],
      ou: 'branch',
      ref: `ldap://127.0.0.1:${String(port)}/ou=people,dc=branch,dc=example`,
    });
    await admin.unbind();
  });

  after(async function () {
    await closeAll();
    await new Promise<void>((resolve) => {
      elsewhere.close(() => {
        resolve();
      });
    });
    if ((server as SlapdServer | undefined) !== undefined) await server.stop();
  });

  it('logs a user in although the search also returns a continuation reference', async function () {
    const backend = make();
    expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
    expect(await backend.authenticate(undefined, { ...alice, password: 'wrong' })).to.equal(null);
    expect(calls, 'the referred server was contacted').to.equal(0);
  });

  it('fails closed, naming the referral, when the search base itself is behind one', async function () {
    const backend = make({ userSearch: { base: `ou=branch,${PEOPLE}` } });
    const error = await expectRejection(
      backend.authenticate(undefined, alice),
      'BACKEND_UNAVAILABLE',
    );
    expect((error as { detail?: string }).detail)
      .to.include('LDAP result 10')
      .and.include('referral to another server, not followed');
    expect(calls, 'the referred server was contacted').to.equal(0);
  });
});
