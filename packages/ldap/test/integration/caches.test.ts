// The DN, group and credential caches through the backend, proved from slapd's own log; the ppolicy
// lockout driven end to end; paged group searches past one page.
import { ManualClock, MemoryUserStore } from '@authbridge/core';
import { requireServer, slapdAvailable, type SlapdServer } from '@authbridge/testkit';
import { expect } from 'chai';
import { Attribute, Change, Client } from 'ldapts';
import { after, before, describe, it } from 'mocha';
import { LdapBackend, type LdapBackendOptions } from '@authbridge/ldap';
import { GROUPS, PEOPLE, RecordingLogger, searchOptions, startSlapd } from './helpers.ts';

const ALICE_DN = `uid=alice,${PEOPLE}`;
const alice = { username: 'alice', password: 'alice-password' };

/** Occurrences of `needle` in slapd's log (a literal string). */
async function logCount(server: SlapdServer, needle: string): Promise<number> {
  return (await server.log()).split(needle).length - 1;
}

/** BIND requests for `dn` (slapd logs a `method=` line once per request). */
const bindsOf = (server: SlapdServer, dn: string): Promise<number> =>
  logCount(server, `BIND dn="${dn}" method=`);

/** Searches for the user `uid` under the people base (the user lookup, not a read by DN). */
const userSearchesOf = (
  server: SlapdServer,
  uid: string,
  filter = '(objectClass=inetOrgPerson)',
): Promise<number> =>
  logCount(server, `SRCH base="${PEOPLE}" scope=2 deref=0 filter="(&(uid=${uid})${filter})"`);

/** Search requests (pages included) under the groups base. */
const groupSearches = (server: SlapdServer): Promise<number> =>
  logCount(server, `SRCH base="${GROUPS}"`);

/** An inetOrgPerson entry, for people added (and removed) by a test. */
function person(uid: string, password: string): Record<string, string> {
  return { objectClass: 'inetOrgPerson', uid, cn: uid, sn: uid, userPassword: password };
}

async function admin(server: SlapdServer): Promise<Client> {
  const client = new Client({ url: server.url });
  await client.startTLS({ ca: server.caCertPem });
  await client.bind(server.adminDN, server.adminPassword);
  return client;
}

describe('LdapBackend caches (slapd)', function () {
  let server: SlapdServer;
  const backends: LdapBackend[] = [];
  const make = (
    extra: Partial<LdapBackendOptions> = {},
  ): { backend: LdapBackend; logger: RecordingLogger; clock: ManualClock } => {
    const logger = new RecordingLogger();
    const clock = new ManualClock(1_000_000);
    const backend = new LdapBackend(searchOptions(server, logger, { clock, ...extra }));
    backends.push(backend);
    return { backend, logger, clock };
  };

  before(async function () {
    requireServer(this, await slapdAvailable(), 'slapd');
    server = await startSlapd();
  });

  after(async function () {
    for (const b of backends) await b.close();
    if ((server as SlapdServer | undefined) !== undefined) await server.stop();
  });

  describe('credential cache', function () {
    it('answers a repeat login from the cache: no second BIND reaches slapd', async function () {
      const { backend } = make({ cache: { credentialTtlMs: 60_000 } });
      const before = await bindsOf(server, ALICE_DN);
      const first = await backend.authenticate(undefined, alice);
      expect(first?.username).to.equal('alice');
      expect(await bindsOf(server, ALICE_DN)).to.equal(before + 1);
      const second = await backend.authenticate(undefined, alice);
      expect(second?.id).to.equal(first?.id);
      expect(await bindsOf(server, ALICE_DN)).to.equal(before + 1);
    });

    it('reads the local user on a cached login: a local deactivation counts at once', async function () {
      const store = new MemoryUserStore();
      const { backend } = make({ store, cache: { credentialTtlMs: 60_000 } });
      const first = await backend.authenticate(undefined, alice);
      await store.update(first!.id, { isStaff: true });
      expect((await backend.authenticate(undefined, alice))?.isStaff).to.equal(true);
      await store.update(first!.id, { isActive: false });
      const before = await bindsOf(server, ALICE_DN);
      expect(await backend.authenticate(undefined, alice)).to.equal(null);
      expect(await bindsOf(server, ALICE_DN), 'still from the cache').to.equal(before);
    });

    it('binds every time when the cache is off (the default)', async function () {
      const { backend } = make();
      const before = await bindsOf(server, ALICE_DN);
      await backend.authenticate(undefined, alice);
      await backend.authenticate(undefined, alice);
      expect(await bindsOf(server, ALICE_DN)).to.equal(before + 2);
    });

    it('never serves a wrong password from the cache, and never caches a failure', async function () {
      const { backend, logger } = make({ cache: { credentialTtlMs: 60_000 } });
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      const before = await bindsOf(server, ALICE_DN);
      for (let i = 0; i < 2; i++) {
        expect(await backend.authenticate(undefined, { username: 'alice', password: 'wrong' })).to
          .be.null;
        expect(logger.lastReason()).to.equal('invalid-credentials');
      }
      // Each wrong attempt went to the directory.
      expect(await bindsOf(server, ALICE_DN)).to.equal(before + 2);
      // A password that differs only in case, or by a prefix, is a different password.
      for (const password of ['Alice-password', 'alice-passwor', 'alice-password ']) {
        expect(await backend.authenticate(undefined, { username: 'alice', password })).to.be.null;
      }
      expect(await bindsOf(server, ALICE_DN)).to.equal(before + 5);
      // The good entry is still there.
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      expect(await bindsOf(server, ALICE_DN)).to.equal(before + 5);
    });

    it('expires entries after the TTL (injected clock)', async function () {
      const { backend, clock } = make({ cache: { credentialTtlMs: 10_000 } });
      const before = await bindsOf(server, ALICE_DN);
      await backend.authenticate(undefined, alice);
      clock.advance(9_999);
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      expect(await bindsOf(server, ALICE_DN)).to.equal(before + 1);
      clock.advance(1);
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      expect(await bindsOf(server, ALICE_DN)).to.equal(before + 2);
    });

    it('single-flight: concurrent identical logins share one BIND', async function () {
      const { backend } = make({ cache: { credentialTtlMs: 60_000 } });
      const before = await bindsOf(server, ALICE_DN);
      const users = await Promise.all(
        Array.from({ length: 24 }, () => backend.authenticate(undefined, { ...alice })),
      );
      expect(users.map((u) => u?.username)).to.deep.equal(Array(24).fill('alice'));
      expect(await bindsOf(server, ALICE_DN)).to.equal(before + 1);
    });

    it('single-flight does not merge different passwords', async function () {
      const { backend } = make({ cache: { credentialTtlMs: 60_000 } });
      const before = await bindsOf(server, ALICE_DN);
      const [good, bad] = await Promise.all([
        backend.authenticate(undefined, alice),
        backend.authenticate(undefined, { username: 'alice', password: 'wrong' }),
      ]);
      expect(good?.username).to.equal('alice');
      expect(bad).to.equal(null);
      expect(await bindsOf(server, ALICE_DN)).to.equal(before + 2);
    });
  });

  describe('DN cache', function () {
    it('skips the user search within the TTL, still binding every time', async function () {
      const { backend, clock } = make({ cache: { dnTtlMs: 10_000 } });
      const searches = await userSearchesOf(server, 'bob');
      const binds = await bindsOf(server, `uid=bob,${PEOPLE}`);
      const bob = { username: 'bob', password: 'bob-password' };
      expect((await backend.authenticate(undefined, bob))?.username).to.equal('bob');
      expect((await backend.authenticate(undefined, bob))?.username).to.equal('bob');
      expect(await userSearchesOf(server, 'bob')).to.equal(searches + 1);
      expect(await bindsOf(server, `uid=bob,${PEOPLE}`)).to.equal(binds + 2);
      clock.advance(10_000);
      expect((await backend.authenticate(undefined, bob))?.username).to.equal('bob');
      expect(await userSearchesOf(server, 'bob')).to.equal(searches + 2);
    });

    it('forgets the DN after a failed bind, so a moved entry is looked up again', async function () {
      const { backend } = make({ cache: { dnTtlMs: 60_000 } });
      const searches = await userSearchesOf(server, 'carol');
      const carol = { username: 'carol', password: 'carol-password' };
      await backend.authenticate(undefined, carol);
      expect(await backend.authenticate(undefined, { username: 'carol', password: 'x' })).to.be
        .null;
      expect((await backend.authenticate(undefined, carol))?.username).to.equal('carol');
      expect(await userSearchesOf(server, 'carol')).to.equal(searches + 2);
    });

    it('remembers the DN only: the entry (memberOf, id) is read at every login', async function () {
      const { backend } = make({
        groups: { strategies: ['memberOf'] },
        cache: { dnTtlMs: 3_600_000 },
      });
      const first = await backend.authenticate(undefined, alice);
      expect(first?.groups).to.not.include('dn-cache-probe');
      // A group added while the DN is cached shows at once (the memberof overlay writes memberOf).
      const client = await admin(server);
      try {
        await client.add(`cn=dn-cache-probe,${GROUPS}`, {
          objectClass: 'groupOfNames',
          cn: 'dn-cache-probe',
          member: ALICE_DN,
        });
        const second = await backend.authenticate(undefined, alice);
        expect(second?.groups).to.include('dn-cache-probe');
        expect(second?.id).to.equal(first?.id);
      } finally {
        await client.del(`cn=dn-cache-probe,${GROUPS}`).catch(() => undefined);
        await client.unbind();
      }
      const third = await backend.authenticate(undefined, alice);
      expect(third?.groups).to.not.include('dn-cache-probe');
    });

    it('matches the cached entry against userSearch.filter: a user it now excludes is refused at once', async function () {
      const group = `cn=dn-filter-probe,${GROUPS}`;
      const dn = `uid=filtered,${PEOPLE}`;
      const filter = `(&(objectClass=inetOrgPerson)(memberOf=${group}))`;
      const filtered = { username: 'filtered', password: 'filtered-password' };
      const { backend, logger } = make({
        userSearch: { base: PEOPLE, filter },
        cache: { dnTtlMs: 3_600_000 },
      });
      const uncached = make({ userSearch: { base: PEOPLE, filter } });
      const client = await admin(server);
      try {
        await client.add(dn, person('filtered', filtered.password));
        await client.add(group, { objectClass: 'groupOfNames', cn: 'dn-filter-probe', member: dn });
        expect((await backend.authenticate(undefined, filtered))?.username).to.equal('filtered');
        // The required group goes (the memberof overlay drops memberOf): the filter excludes them.
        await client.del(group);
        expect(await uncached.backend.authenticate(undefined, filtered)).to.equal(null);
        expect(uncached.logger.lastReason()).to.equal('user-not-found');
        // The cached DN says the same as the search, for the same (non-)reason.
        expect(await backend.authenticate(undefined, filtered)).to.equal(null);
        expect(logger.lastReason()).to.equal('user-not-found');
        // And it was forgotten: back in the group, the next login searches again.
        await client.add(group, { objectClass: 'groupOfNames', cn: 'dn-filter-probe', member: dn });
        const searches = await userSearchesOf(server, 'filtered', filter);
        expect((await backend.authenticate(undefined, filtered))?.username).to.equal('filtered');
        expect(await userSearchesOf(server, 'filtered', filter)).to.equal(searches + 1);
      } finally {
        await client.del(group).catch(() => undefined);
        await client.del(dn).catch(() => undefined);
        await client.unbind();
      }
    });

    it('matches the cached entry against the login name: after a rename the old name fails', async function () {
      // The RDN is cn, so the login name (uid) changes and the DN does not.
      const dn = `cn=Renamed Person,${PEOPLE}`;
      const { backend, logger } = make({ cache: { dnTtlMs: 3_600_000 } });
      const client = await admin(server);
      try {
        await client.add(dn, { ...person('renamed', 'renamed-password'), cn: 'Renamed Person' });
        const old = { username: 'renamed', password: 'renamed-password' };
        expect((await backend.authenticate(undefined, old))?.username).to.equal('renamed');
        await client.modify(
          dn,
          new Change({
            operation: 'replace',
            modification: new Attribute({ type: 'uid', values: ['renamed2'] }),
          }),
        );
        expect(await backend.authenticate(undefined, old)).to.equal(null);
        expect(logger.lastReason()).to.equal('user-not-found');
        const renamed = { username: 'renamed2', password: 'renamed-password' };
        expect((await backend.authenticate(undefined, renamed))?.username).to.equal('renamed2');
      } finally {
        await client.del(dn).catch(() => undefined);
        await client.unbind();
      }
    });
  });

  describe('group cache', function () {
    it('reuses the groups within the TTL (the revocation delay), then reads them again', async function () {
      const { backend, clock } = make({
        groups: { base: GROUPS, strategies: ['member'] },
        cache: { groupTtlMs: 30_000 },
      });
      const searches = await groupSearches(server);
      const first = await backend.authenticate(undefined, alice);
      expect(first?.groups).to.include('admins');
      expect(await groupSearches(server)).to.equal(searches + 1);
      // A membership change inside the TTL is not seen...
      const client = await admin(server);
      try {
        await client.add(`cn=cache-probe,${GROUPS}`, {
          objectClass: 'groupOfNames',
          cn: 'cache-probe',
          member: ALICE_DN,
        });
        const second = await backend.authenticate(undefined, alice);
        expect(second?.groups).to.not.include('cache-probe');
        expect(await groupSearches(server)).to.equal(searches + 1);
        // ... and is once it expires.
        clock.advance(30_000);
        const third = await backend.authenticate(undefined, alice);
        expect(third?.groups).to.include('cache-probe');
        expect(await groupSearches(server)).to.equal(searches + 2);
      } finally {
        await client.del(`cn=cache-probe,${GROUPS}`).catch(() => undefined);
        await client.unbind();
      }
    });

    it('keys the groups by entry id and DN: a new person at a reused DN gets none of the old groups', async function () {
      const store = new MemoryUserStore();
      const { backend } = make({
        store,
        groups: { base: GROUPS, strategies: ['member'] },
        groupPermissions: { admins: ['app.manage'] },
        cache: { groupTtlMs: 3_600_000 },
      });
      const dn = `uid=reused,${PEOPLE}`;
      const client = await admin(server);
      try {
        await client.add(dn, person('reused', 'old-password'));
        await client.modify(
          `cn=admins,${GROUPS}`,
          new Change({
            operation: 'add',
            modification: new Attribute({ type: 'member', values: [dn] }),
          }),
        );
        const old = await backend.authenticate(undefined, {
          username: 'reused',
          password: 'old-password',
        });
        expect(old?.groups).to.include('admins');
        // The person leaves (refint drops them from admins), their local account is removed, and
        // someone new is given the same DN, in no group.
        await client.del(dn);
        await store.delete(old!.id);
        await client.add(dn, person('reused', 'new-password'));
        const newcomer = await backend.authenticate(undefined, {
          username: 'reused',
          password: 'new-password',
        });
        expect(newcomer).to.not.equal(null);
        expect(newcomer?.id).to.not.equal(old?.id);
        expect(newcomer?.groups).to.deep.equal([]);
        expect(await backend.hasPerm(newcomer!, 'app.manage')).to.equal(false);
      } finally {
        await client.del(dn).catch(() => undefined);
        await client.unbind();
      }
    });
  });

  describe('paged group searches', function () {
    const EXTRA = 7;
    before(async function () {
      const client = await admin(server);
      for (let i = 0; i < EXTRA; i++) {
        await client.add(`cn=paged-${i},${GROUPS}`, {
          objectClass: 'groupOfNames',
          cn: `paged-${i}`,
          member: `uid=dave,${PEOPLE}`,
        });
      }
      await client.unbind();
    });

    it('collects every group across pages smaller than the result', async function () {
      const { backend } = make({ groups: { base: GROUPS, strategies: ['member'], pageSize: 2 } });
      const searches = await groupSearches(server);
      const user = await backend.authenticate(undefined, {
        username: 'dave',
        password: 'dave-password',
      });
      // dave: platform plus the EXTRA added groups = 8 groups, 2 per page = 4 pages (+1 empty).
      const expected = ['platform', ...Array.from({ length: EXTRA }, (_, i) => `paged-${i}`)];
      expect(user?.groups).to.have.members(expected);
      expect(user?.groups).to.have.length(expected.length);
      expect(await groupSearches(server)).to.be.at.least(searches + 4);
    });

    it('makes one request when a page holds everything (control)', async function () {
      const { backend } = make({ groups: { base: GROUPS, strategies: ['member'] } });
      const searches = await groupSearches(server);
      const user = await backend.authenticate(undefined, {
        username: 'dave',
        password: 'dave-password',
      });
      expect(user?.groups).to.have.length(EXTRA + 1);
      expect(await groupSearches(server)).to.equal(searches + 1);
    });
  });

  describe('ppolicy lockout (lockme)', function () {
    it('locks after 3 wrong passwords; the right one then fails like a wrong one, reason logged', async function () {
      const { backend, logger } = make();
      const lockmeDn = `uid=lockme,${PEOPLE}`;
      const binds = await bindsOf(server, lockmeDn);
      for (let i = 0; i < 3; i++) {
        const result = await backend.authenticate(undefined, {
          username: 'lockme',
          password: `wrong-${i}`,
        });
        expect(result).to.equal(null);
        expect(logger.lastReason()).to.equal('invalid-credentials');
      }
      // Outwardly identical: the same null, no error.
      const right = await backend.authenticate(undefined, {
        username: 'lockme',
        password: 'lockme-password',
      });
      expect(right).to.equal(null);
      expect(logger.lastReason()).to.equal('account-locked');
      // The refusal came from the directory (a real BIND), not from anything we remembered.
      expect(await bindsOf(server, lockmeDn)).to.equal(binds + 4);
      const failures = logger.events.filter((e) => e.event === 'ldap.login_failed');
      expect(failures).to.have.length(4);
      // No password in any logged field.
      for (const e of logger.events) {
        expect(JSON.stringify(e.fields)).to.not.include('lockme-password');
        expect(JSON.stringify(e.fields)).to.not.include('wrong-');
      }
    });

    after(async function () {
      // Unlock, in case another test in this file ever uses lockme.
      const client = await admin(server);
      await client
        .modify(
          `uid=lockme,${PEOPLE}`,
          new Change({
            operation: 'delete',
            modification: new Attribute({ type: 'pwdAccountLockedTime', values: [] }),
          }),
        )
        .catch(() => undefined);
      await client.unbind();
    });
  });
});
