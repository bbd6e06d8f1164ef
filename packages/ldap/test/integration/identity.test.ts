// Identity and provisioning, concurrency, timing, and the conformance suite.
import { MemoryUserStore } from '@authbridge/core';
import { describeBackendConformance } from '@authbridge/conformance';
import { requireServer, slapdAvailable, type SlapdServer } from '@authbridge/testkit';
import { expect } from 'chai';
import { Attribute, Change, Client } from 'ldapts';
import { after, before, describe, it } from 'mocha';
import { LdapBackend, type LdapBackendOptions, silentLdapLogger } from '@authbridge/ldap';
import { BASE, PEOPLE, RecordingLogger, searchOptions, startSlapd } from './helpers.ts';

const EXTRA_USERS = 64;
// SHA-512 crypt with 200,000 rounds of `slow-password` (slappasswd -h '{CRYPT}' -c
// '$6$rounds=200000$%.16s'): slapd spends some 100 ms on every password check for this user.
const SLOW_HASH =
  '{CRYPT}$6$rounds=200000$qFGotNqPLt1Pl.$XBTsuYBISQ1.fL4N0YgHnm.Xb0Oa4hT.2rUizL5zc41RSOgxygji8U77qxa9sr92ex0K1CVCCHxIiHaGmtBAi1';

async function admin(server: SlapdServer): Promise<Client> {
  const client = new Client({ url: server.url });
  await client.startTLS({ ca: server.caCertPem });
  await client.bind(server.adminDN, server.adminPassword);
  return client;
}

describe('LdapBackend identity (slapd)', function () {
  let server: SlapdServer;
  const backends: LdapBackend[] = [];
  const make = (
    extra: Partial<LdapBackendOptions> = {},
  ): { backend: LdapBackend; logger: RecordingLogger } => {
    const logger = new RecordingLogger();
    const backend = new LdapBackend(searchOptions(server, logger, extra));
    backends.push(backend);
    return { backend, logger };
  };

  before(async function () {
    requireServer(this, await slapdAvailable(), 'slapd');
    server = await startSlapd({ logLevel: 'none' });
    const client = await admin(server);
    for (let i = 0; i < EXTRA_USERS; i++) {
      const uid = `user${String(i).padStart(3, '0')}`;
      await client.add(`uid=${uid},${PEOPLE}`, {
        objectClass: ['inetOrgPerson'],
        uid,
        cn: uid,
        sn: uid,
        userPassword: `${uid}-password`,
      });
    }
    await client.add(`uid=slow,${PEOPLE}`, {
      objectClass: ['inetOrgPerson'],
      uid: 'slow',
      cn: 'slow',
      sn: 'slow',
      userPassword: SLOW_HASH,
    });
    await client.unbind();
  });

  after(async function () {
    for (const b of backends) await b.close();
    if ((server as SlapdServer | undefined) !== undefined) await server.stop();
  });

  it('keys users by entryUUID and answers getUser from the store', async function () {
    const store = new MemoryUserStore();
    const { backend } = make({ store });
    const user = (await backend.authenticate(undefined, {
      username: 'alice',
      password: 'alice-password',
    }))!;
    const client = await admin(server);
    const { searchEntries } = await client.search(`uid=alice,${PEOPLE}`, {
      scope: 'base',
      attributes: ['entryUUID'],
    });
    await client.unbind();
    const identities = await store.identitiesOf(user.id);
    expect(identities).to.deep.equal([
      {
        backendId: 'ldap',
        issuer: 'ldap',
        subject: searchEntries[0]!['entryUUID'],
      },
    ]);
    expect((await backend.getUser(user.id))?.username).to.equal('alice');
    expect(await backend.getUser('no-such-id')).to.equal(null);
    // A local user the backend did not provision is not its to vouch for.
    const local = await store.create({ username: 'local-admin' });
    expect(await backend.getUser(local.id)).to.equal(null);
  });

  it('keeps every user linked when the search bases are widened or reordered', async function () {
    const store = new MemoryUserStore();
    const alice = { username: 'alice', password: 'alice-password' };
    const first = await make({ store }).backend.authenticate(undefined, alice);
    expect(first).to.not.equal(null);
    for (const base of [BASE, [`ou=service,${BASE}`, PEOPLE]]) {
      const { backend } = make({ store, userSearch: { base } });
      const again = await backend.authenticate(undefined, alice);
      expect(again?.id, JSON.stringify(base)).to.equal(first?.id);
    }
  });

  it('updates the profile from the directory on each login, keeping the id', async function () {
    const store = new MemoryUserStore();
    const { backend } = make({ store, extraAttributes: { surname: 'sn' } });
    const first = (await backend.authenticate(undefined, {
      username: 'bob',
      password: 'bob-password',
    }))!;
    const client = await admin(server);
    await client.modify(
      `uid=bob,${PEOPLE}`,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'mail', values: ['robert@example.org'] }),
      }),
    );
    await client.unbind();
    const second = (await backend.authenticate(undefined, {
      username: 'bob',
      password: 'bob-password',
    }))!;
    expect(second.id).to.equal(first.id);
    expect(second.email).to.equal('robert@example.org');
    expect((await store.getById(first.id))?.attributes['surname']).to.be.a('string');
    const frozen = make({ store, updateUsers: 'never' }).backend;
    const client2 = await admin(server);
    await client2.modify(
      `uid=bob,${PEOPLE}`,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'mail', values: ['bob2@example.org'] }),
      }),
    );
    await client2.unbind();
    expect(
      (await frozen.authenticate(undefined, { username: 'bob', password: 'bob-password' }))?.email,
    ).to.equal('robert@example.org');
  });

  it('keeps a local deactivation: the next LDAP login is refused, outwardly like a wrong password', async function () {
    const store = new MemoryUserStore();
    const { backend, logger } = make({ store });
    const bob = await backend.authenticate(undefined, {
      username: 'bob',
      password: 'bob-password',
    });
    expect(bob?.isActive).to.equal(true);
    await store.update(bob!.id, { isActive: false });
    expect(
      await backend.authenticate(undefined, { username: 'bob', password: 'bob-password' }),
    ).to.equal(null);
    expect(logger.lastReason()).to.equal('inactive');
    expect((await store.getById(bob!.id))?.isActive).to.equal(false);
  });

  it('refuses unknown identities with noNewUsers, admits linked ones', async function () {
    const store = new MemoryUserStore();
    const { backend, logger } = make({ store, noNewUsers: true });
    expect(await backend.authenticate(undefined, { username: 'carol', password: 'carol-password' }))
      .to.be.null;
    expect(logger.lastReason()).to.equal('no-new-users');
    // Provision carol through a permissive backend sharing the store: she is known from then on.
    await make({ store }).backend.authenticate(undefined, {
      username: 'carol',
      password: 'carol-password',
    });
    expect(
      (await backend.authenticate(undefined, { username: 'carol', password: 'carol-password' }))
        ?.username,
    ).to.equal('carol');
  });

  it('gives 256 concurrent logins of different users each their own user', async function () {
    const { backend } = make({ logger: silentLdapLogger, poolSize: 4 });
    const names = Array.from(
      { length: 256 },
      (_, i) => `user${String(i % EXTRA_USERS).padStart(3, '0')}`,
    );
    const results = await Promise.all(
      names.map((username) =>
        backend.authenticate(undefined, { username, password: `${username}-password` }),
      ),
    );
    results.forEach((user, i) => expect(user?.username, `call ${i}`).to.equal(names[i]));
    const ids = new Map<string, string>();
    for (const user of results) {
      const seen = ids.get(user!.username);
      if (seen !== undefined) expect(user!.id).to.equal(seen);
      ids.set(user!.username, user!.id);
    }
    expect(new Set(ids.values()).size).to.equal(EXTRA_USERS);
  });

  it('takes indistinguishable time for an unknown user and a wrong password', async function () {
    this.timeout(60_000);
    const { backend } = make({ logger: silentLdapLogger });
    const time = async (username: string): Promise<number> => {
      const t = performance.now();
      expect(await backend.authenticate(undefined, { username, password: 'wrong-password' })).to.be
        .null;
      return performance.now() - t;
    };
    await time('alice');
    await time('nobody');
    const known: number[] = [];
    const unknown: number[] = [];
    // Interleaved, so drift in machine load hits both samples alike.
    for (let i = 0; i < 60; i++) {
      known.push(await time('alice'));
      unknown.push(await time(`nobody-${i}`));
    }
    const median = (xs: number[]): number =>
      [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const mk = median(known);
    const mu = median(unknown);
    // Mann-Whitney U: the probability that a random unknown-user login is slower than a random
    // wrong-password login. 0.5 = indistinguishable; an early return gives ~0.
    let wins = 0;
    for (const u of unknown) for (const k of known) wins += u > k ? 1 : u === k ? 0.5 : 0;
    const auc = wins / (known.length * unknown.length);
    expect(
      auc,
      `AUC ${auc.toFixed(2)}; medians known ${mk.toFixed(2)} ms, unknown ${mu.toFixed(2)} ms`,
    ).to.be.within(0.25, 0.75);
    // Without the dummy bind the same measurement does tell them apart (the test can fail).
    const leaky = make({ logger: silentLdapLogger, dummyBind: false }).backend;
    const leak = async (username: string): Promise<number> => {
      const t = performance.now();
      await leaky.authenticate(undefined, { username, password: 'wrong-password' });
      return performance.now() - t;
    };
    const k2: number[] = [];
    const u2: number[] = [];
    for (let i = 0; i < 30; i++) {
      k2.push(await leak('alice'));
      u2.push(await leak(`nobody-${i}`));
    }
    let wins2 = 0;
    for (const u of u2) for (const k of k2) wins2 += u > k ? 1 : u === k ? 0.5 : 0;
    expect(wins2 / (k2.length * u2.length)).to.be.below(0.25);
  });

  it('makes an unknown user wait as long as a wrong password of a user with a slow hash', async function () {
    this.timeout(60_000);
    // The dummy bind costs no password check (slapd refuses a DN that does not exist at once):
    // only the wait for the difference of the median times makes the two alike.
    const { backend } = make({ logger: silentLdapLogger });
    expect(
      (await backend.authenticate(undefined, { username: 'slow', password: 'slow-password' }))
        ?.username,
    ).to.equal('slow');
    const time = async (username: string): Promise<number> => {
      const t = performance.now();
      expect(await backend.authenticate(undefined, { username, password: 'wrong-password' })).to.be
        .null;
      return performance.now() - t;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 8; i++) {
      known.push(await time('slow'));
      unknown.push(await time(`nobody-${i}`));
    }
    const median = (xs: number[]): number =>
      [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const mk = median(known);
    const mu = median(unknown);
    const medians = `medians: known ${mk.toFixed(1)} ms, unknown ${mu.toFixed(1)} ms`;
    expect(mk, `the hash check is slow; ${medians}`).to.be.above(30);
    // Generous: without the wait it is a few ms against 100 and more.
    expect(mu, medians).to.be.at.least(mk / 2);
  });
});

describeBackendConformance({
  name: 'LdapBackend (slapd, search-then-bind)',
  concurrency: 100,
  async setup() {
    const server = await startSlapd({ logLevel: 'none' });
    const backend = new LdapBackend(searchOptions(server, silentLdapLogger));
    return {
      backend,
      users: [
        { credentials: { username: 'alice', password: 'alice-password' }, username: 'alice' },
        { credentials: { username: 'bob', password: 'bob-password' }, username: 'bob' },
        { credentials: { username: 'carol', password: 'carol-password' }, username: 'carol' },
      ],
      wrongSecret: { username: 'alice', password: 'wrong' },
      unknownUser: { username: 'nobody', password: 'wrong' },
      foreignCredentials: [{ username: 'alice' }, { token: 'x' }, { username: 1, password: 'x' }],
      teardown: () => server.stop(),
    };
  },
});
