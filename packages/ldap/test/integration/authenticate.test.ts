// Search-then-bind and direct bind against a real slapd: the flows, hostile input, ppolicy.
import { requireServer, slapdAvailable, type SlapdServer } from '@authbridge/testkit';
import { expect } from 'chai';
import { after, before, describe, it } from 'mocha';
import { LdapBackend } from '@authbridge/ldap';
import {
  acceptCount,
  BASE,
  bindCount,
  PEOPLE,
  RecordingLogger,
  searchOptions,
  startSlapd,
} from './helpers.ts';

describe('LdapBackend authentication (slapd)', function () {
  let server: SlapdServer;
  const backends: LdapBackend[] = [];
  const make = (
    extra: Partial<ConstructorParameters<typeof LdapBackend>[0]> = {},
  ): { backend: LdapBackend; logger: RecordingLogger } => {
    const logger = new RecordingLogger();
    const backend = new LdapBackend(searchOptions(server, logger, extra));
    backends.push(backend);
    return { backend, logger };
  };

  before(async function () {
    requireServer(this, await slapdAvailable(), 'slapd');
    server = await startSlapd();
  });

  after(async function () {
    for (const b of backends) await b.close();
    if ((server as SlapdServer | undefined) !== undefined) await server.stop();
  });

  describe('search-then-bind', function () {
    it('logs in with good credentials and maps attributes', async function () {
      const { backend } = make();
      const user = await backend.authenticate(undefined, {
        username: 'alice',
        password: 'alice-password',
      });
      expect(user?.username).to.equal('alice');
      expect(user?.email).to.equal('alice@example.org');
      expect(user?.displayName).to.equal('Alice Adams');
    });

    it('returns null for a wrong password and for an unknown user, with distinct logged reasons', async function () {
      const { backend, logger } = make();
      expect(await backend.authenticate(undefined, { username: 'alice', password: 'nope' })).to.be
        .null;
      expect(logger.lastReason()).to.equal('invalid-credentials');
      expect(await backend.authenticate(undefined, { username: 'nobody', password: 'nope' })).to.be
        .null;
      expect(logger.lastReason()).to.equal('user-not-found');
    });

    it('refuses a username that matches two entries (twin)', async function () {
      const { backend, logger } = make();
      for (const password of ['twin-password', 'twin-contractor-password']) {
        expect(await backend.authenticate(undefined, { username: 'twin', password })).to.be.null;
        expect(logger.lastReason()).to.equal('ambiguous-user');
      }
    });

    it('finds the twin with a one-level search', async function () {
      const { backend } = make({ userSearch: { base: PEOPLE, scope: 'one' } });
      const user = await backend.authenticate(undefined, {
        username: 'twin',
        password: 'twin-password',
      });
      expect(user?.username).to.equal('twin');
    });

    it('unites several search bases by DN', async function () {
      // Overlapping bases find alice twice: one entry, not an ambiguity.
      const overlapping = make({ userSearch: { base: [PEOPLE, BASE] } }).backend;
      expect(
        (
          await overlapping.authenticate(undefined, {
            username: 'alice',
            password: 'alice-password',
          })
        )?.username,
      ).to.equal('alice');
      // Disjoint one-level bases find both twins: ambiguous.
      const { backend, logger } = make({
        userSearch: { base: [PEOPLE, `ou=contractors,${PEOPLE}`], scope: 'one' },
      });
      expect(await backend.authenticate(undefined, { username: 'twin', password: 'twin-password' }))
        .to.be.null;
      expect(logger.lastReason()).to.equal('ambiguous-user');
    });

    it('handles an escaped DN and a non-ASCII uid', async function () {
      const { backend } = make();
      expect(
        (await backend.authenticate(undefined, { username: 'jsmith', password: 'jsmith-password' }))
          ?.displayName,
      ).to.equal('Smith, John');
      expect(
        (await backend.authenticate(undefined, { username: 'jürgen', password: 'pässwörd-jürgen' }))
          ?.username,
      ).to.equal('jürgen');
    });

    it('returns null without a crash for hostile usernames, matching nothing', async function () {
      const { backend, logger } = make();
      const hostile = [
        '*',
        ')(uid=*)',
        '*)(|(uid=*',
        '\\',
        'alice\\',
        'a,b',
        'uid=alice',
        '=',
        'ali*',
        '(alice)',
        'ålïçé',
        'alice,ou=people',
        'x'.repeat(10 * 1024),
        'alice\u0000',
      ];
      for (const username of hostile) {
        const password = 'alice-password';
        expect(await backend.authenticate(undefined, { username, password }), username.slice(0, 20))
          .to.be.null;
        // Never a wildcard: nothing is found, so no "ambiguous" either.
        expect(logger.lastReason(), username.slice(0, 20)).to.be.oneOf([
          'user-not-found',
          'empty-credentials',
        ]);
      }
    });

    it('refuses empty or missing credentials before any I/O', async function () {
      const { backend, logger } = make();
      const bindsBefore = await bindCount(server);
      const acceptsBefore = await acceptCount(server);
      const cases: unknown[] = [
        { username: 'alice', password: '' },
        { username: '', password: 'alice-password' },
        { username: '   ', password: 'alice-password' },
        { username: 'alice', password: undefined },
        { username: undefined, password: 'alice-password' },
        { username: 'alice', password: 'x'.repeat(5000) },
      ];
      for (const c of cases) {
        expect(await backend.authenticate(undefined, c as { username: string; password: string }))
          .to.be.null;
        expect(logger.lastReason()).to.equal('empty-credentials');
      }
      expect(await bindCount(server)).to.equal(bindsBefore);
      expect(await acceptCount(server)).to.equal(acceptsBefore);
    });
  });

  describe('direct bind', function () {
    it('binds from a DN template', async function () {
      const { backend } = make({
        userSearch: undefined,
        bindDn: undefined,
        bindPassword: undefined,
        userDnTemplate: `uid={username},${PEOPLE}`,
      });
      expect(
        (await backend.authenticate(undefined, { username: 'alice', password: 'alice-password' }))
          ?.username,
      ).to.equal('alice');
      expect(await backend.authenticate(undefined, { username: 'alice', password: 'wrong' })).to.be
        .null;
      expect(await backend.authenticate(undefined, { username: 'nobody', password: 'wrong' })).to.be
        .null;
    });

    it('escapes the value per RFC 4514 (a comma in the RDN)', async function () {
      const { backend } = make({
        userSearch: undefined,
        userDnTemplate: `cn={username},${PEOPLE}`,
        usernameAttribute: 'uid',
      });
      const user = await backend.authenticate(undefined, {
        username: 'Smith, John',
        password: 'jsmith-password',
      });
      expect(user?.username).to.equal('jsmith');
    });

    it('cannot be steered to another entry by DN syntax in the username', async function () {
      const { backend } = make({
        userSearch: undefined,
        userDnTemplate: `uid={username},${PEOPLE}`,
      });
      for (const username of ['bob,ou=people', 'x+uid=bob', 'bob\\', 'bob"', '#bob']) {
        expect(
          await backend.authenticate(undefined, { username, password: 'bob-password' }),
          username,
        ).to.be.null;
      }
    });

    it('puts the username into the template literally: `$&` and friends are not patterns', async function () {
      const { backend } = make({
        userSearch: undefined,
        userDnTemplate: `uid={username},${PEOPLE}`,
      });
      for (const username of ['$&', "$'", '$`', '$$']) {
        expect(await backend.authenticate(undefined, { username, password: 'x' }), username).to.be
          .null;
        expect(await server.log(), username).to.include(`BIND dn="uid=${username},${PEOPLE}"`);
      }
    });
  });

  describe('password policy (ppolicy control)', function () {
    it('maps locked, expired, grace and must-change to reasons, outwardly null', async function () {
      const { backend, logger } = make();
      const expected: Record<string, string> = {
        locked: 'account-locked',
        expired: 'password-expired',
        grace: 'grace-login',
        mustchange: 'must-change-password',
      };
      for (const [username, reason] of Object.entries(expected)) {
        expect(
          await backend.authenticate(undefined, { username, password: `${username}-password` }),
          username,
        ).to.be.null;
        expect(logger.lastReason(), username).to.equal(reason);
      }
    });

    it('lets grace logins through when configured, with a warning', async function () {
      const { backend, logger } = make({ allowGraceLogins: true });
      const user = await backend.authenticate(undefined, {
        username: 'grace',
        password: 'grace-password',
      });
      expect(user?.username).to.equal('grace');
      expect(logger.events.some((e) => e.event === 'ldap.grace_login')).to.equal(true);
    });
  });
});
