// Active Directory behaviour against a real AD implementation (Samba's DC from the testkit): UPN
// and down-level binds followed by the user's own entry, the `data XXX` sub-codes, in-chain nested
// groups, objectGUID as the stable id, and the activedirectory preset's account-state filter.
import { MemoryUserStore, type User } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import {
  requireServer,
  sambaAvailable,
  type SambaDcServer,
  type SambaUsers,
  startSambaDc,
} from '@authbridge/testkit';
import { expect } from 'chai';
import { Attribute, Change, Client } from 'ldapts';
import { after, before, describe, it } from 'mocha';
import { LdapBackend, type LdapBackendOptions, normalizeDn } from '@authbridge/ldap';
import { RecordingLogger } from './helpers.ts';

/** The standard textual GUID of AD's binary objectGUID (little-endian first three fields). */
function guidString(bytes: Buffer): string {
  const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
  return [
    hex(bytes.readUInt32LE(0), 8),
    hex(bytes.readUInt16LE(4), 4),
    hex(bytes.readUInt16LE(6), 4),
    bytes.subarray(8, 10).toString('hex'),
    bytes.subarray(10, 16).toString('hex'),
  ].join('-');
}

/** The DN the backend recorded for `user` (normalised), from the store. */
async function dnOf(store: MemoryUserStore, user: User | null): Promise<string | undefined> {
  if (user === null) return undefined;
  const dn = (await store.getById(user.id))?.attributes['dn'];
  return typeof dn === 'string' ? normalizeDn(dn) : undefined;
}

async function adminClient(dc: SambaDcServer): Promise<Client> {
  const client = new Client({
    url: dc.ldapsUrl,
    tlsOptions: { ca: [dc.caCertPem], servername: dc.serverName },
  });
  await client.bind(dc.adminUPN, dc.adminPassword);
  return client;
}

async function objectGuidOf(dc: SambaDcServer, dn: string): Promise<string> {
  const client = await adminClient(dc);
  try {
    const { searchEntries } = await client.search(dn, {
      scope: 'base',
      attributes: ['objectGUID'],
      explicitBufferAttributes: ['objectGUID'],
    });
    return guidString(searchEntries[0]!['objectGUID'] as Buffer);
  } finally {
    await client.unbind();
  }
}

describe('LdapBackend with Active Directory (Samba AD DC)', function () {
  let dc: SambaDcServer;
  const backends: LdapBackend[] = [];
  /** StartTLS (the default) with the DC's CA; the certificate names the DC, not 127.0.0.1. */
  const make = (
    extra: Partial<LdapBackendOptions> = {},
  ): { backend: LdapBackend; logger: RecordingLogger } => {
    const logger = new RecordingLogger();
    const backend = new LdapBackend({
      url: dc.url,
      tls: { ca: dc.caCertPem, servername: dc.serverName },
      preset: 'activedirectory',
      userSearch: { base: dc.baseDN },
      userBindName: `{username}@${dc.dnsDomain}`,
      logger,
      ...extra,
    });
    backends.push(backend);
    return { backend, logger };
  };
  const login = (backend: LdapBackend, user: keyof SambaUsers, password?: string) =>
    backend.authenticate(undefined, {
      username: dc.users[user].sam,
      password: password ?? dc.users[user].password,
    });
  const lastFailure = (logger: RecordingLogger) =>
    logger.events.filter((e) => e.event === 'ldap.login_failed').at(-1)?.fields;

  before(async function () {
    // The first DC of a process provisions the domain (5-20 s); later ones copy it.
    this.timeout(120_000);
    requireServer(this, await sambaAvailable(), 'samba');
    dc = await startSambaDc();
  });

  after(async function () {
    for (const b of backends) await b.close();
    if ((dc as SambaDcServer | undefined) !== undefined) await dc.stop();
  });

  describe('bind as user@domain or DOMAIN\\user, then read the own entry', function () {
    it('logs in by UPN and reads the entry as the user', async function () {
      const store = new MemoryUserStore();
      const { backend } = make({ store });
      const user = await login(backend, 'alice');
      expect(user?.username).to.equal('alice');
      expect(await dnOf(store, user)).to.equal(normalizeDn(dc.users.alice.dn));
    });

    it('logs in by down-level name to the same identity', async function () {
      const store = new MemoryUserStore();
      const upn = make({ store }).backend;
      const downLevel = make({ store, userBindName: `${dc.netbiosDomain}\\{username}` }).backend;
      const a = await login(upn, 'alice');
      const b = await login(downLevel, 'alice');
      expect(b?.username).to.equal('alice');
      expect(b?.id).to.equal(a?.id);
      // A CN with a comma: the entry is found by sAMAccountName, not by building a DN.
      const bob = await login(downLevel, 'bob');
      expect(bob?.username).to.equal('bob');
      expect(await dnOf(store, bob)).to.equal(normalizeDn(dc.users.bob.dn));
    });

    it('logs in by the implicit UPN sAMAccountName@domain when the userPrincipalName differs', async function () {
      // A private copy of the DC: this test changes userPrincipalNames.
      const own = await startSambaDc();
      try {
        const client = await adminClient(own);
        const setUpn = (dn: string, upn: string): Promise<void> =>
          client.modify(
            dn,
            new Change({
              operation: 'replace',
              modification: new Attribute({ type: 'userPrincipalName', values: [upn] }),
            }),
          );
        try {
          // AD still binds bob@<its DNS domain>, whatever bob's userPrincipalName says.
          await setUpn(own.users.bob.dn, 'bob.builder@example.com');
          // An alternate suffix names no domain: bob@example.com is alice's, and binds her.
          await setUpn(own.users.alice.dn, 'bob@example.com');
        } finally {
          await client.unbind();
        }
        const store = new MemoryUserStore();
        const logger = new RecordingLogger();
        const options = (extra: Partial<LdapBackendOptions>): LdapBackendOptions => ({
          url: own.url,
          tls: { ca: own.caCertPem, servername: own.serverName },
          preset: 'activedirectory',
          userSearch: { base: own.baseDN },
          store,
          logger,
          ...extra,
        });
        const backend = new LdapBackend(options({ userBindName: `{username}@${own.dnsDomain}` }));
        const alt = new LdapBackend(options({ userBindName: '{username}@example.com' }));
        // Her entry not found (outside the filter), bob's (found by sAMAccountName) is not hers.
        const altFiltered = new LdapBackend(
          options({
            userBindName: '{username}@example.com',
            userSearch: {
              base: own.baseDN,
              filter: '(&(objectClass=user)(!(sAMAccountName=alice)))',
            },
          }),
        );
        backends.push(backend, alt, altFiltered);
        const bob = await backend.authenticate(undefined, {
          username: 'bob',
          password: own.users.bob.password,
        });
        expect(bob?.username, String(logger.lastReason())).to.equal('bob');
        expect(await dnOf(store, bob)).to.equal(normalizeDn(own.users.bob.dn));
        const asAlice = { username: 'bob', password: own.users.alice.password };
        expect((await alt.authenticate(undefined, asAlice))?.username).to.equal('alice');
        expect(await altFiltered.authenticate(undefined, asAlice)).to.equal(null);
        expect(logger.lastReason()).to.equal('user-not-found');

        // Windows AD does not keep UPNs unique: alice may hold bob@<domain> as her explicit UPN,
        // and binding that name is then hers. Past Samba's checks (which refuse the clash) here.
        this.timeout(120_000);
        await own.forceAttribute(own.users.alice.dn, 'userPrincipalName', [`bob@${own.dnsDomain}`]);
        const domainFiltered = new LdapBackend(
          options({
            userBindName: `{username}@${own.dnsDomain}`,
            userSearch: {
              base: own.baseDN,
              filter: '(&(objectClass=user)(!(sAMAccountName=alice)))',
            },
          }),
        );
        const domainOpen = new LdapBackend(
          options({ userBindName: `{username}@${own.dnsDomain}` }),
        );
        backends.push(domainFiltered, domainOpen);
        // The directory binds alice for bob@<domain> with her password (found by her UPN)...
        expect((await domainOpen.authenticate(undefined, asAlice))?.username).to.equal('alice');
        // ...so with her entry out of the filter, bob's (same name, same domain) is not taken.
        expect(await domainFiltered.authenticate(undefined, asAlice)).to.equal(null);
        expect(logger.lastReason()).to.equal('user-not-found');
      } finally {
        await own.stop();
      }
    });

    it('returns null for a wrong password, with AD sub-code 52e in the log', async function () {
      const { backend, logger } = make();
      expect(await login(backend, 'alice', 'Wrong-Passw0rd!')).to.equal(null);
      expect(lastFailure(logger)?.['reason']).to.equal('invalid-credentials');
      expect(lastFailure(logger)?.['adSubCode']).to.equal('52e');
      expect(await backend.authenticate(undefined, { username: 'nobody', password: 'X-1y' })).to.be
        .null;
      expect(lastFailure(logger)?.['adSubCode']).to.equal('52e');
    });

    it('refuses names that would address another domain or account, before any bind', async function () {
      const { backend, logger } = make();
      const password = dc.users.alice.password;
      for (const username of [
        `alice@${dc.dnsDomain}`,
        'alice@evil.test',
        `${dc.netbiosDomain}\\alice`,
        'alice\u0001',
      ]) {
        expect(await backend.authenticate(undefined, { username, password }), username).to.equal(
          null,
        );
        expect(lastFailure(logger)?.['reason'], username).to.equal('user-not-found');
      }
    });

    it('rejects an unusable bind name template with CONFIG_INVALID', function () {
      for (const userBindName of [
        '{username}',
        'x@{username}',
        '{username}@a b',
        'A\\B\\{username}',
      ]) {
        let code: unknown;
        try {
          make({ userBindName });
        } catch (error) {
          code = (error as { code?: unknown }).code;
        }
        expect(code, userBindName).to.equal('CONFIG_INVALID');
      }
    });
  });

  describe('account states: AD sub-codes become reasons, outwardly null', function () {
    const cases: [keyof SambaUsers, string, string][] = [
      ['disabled', '533', 'account-disabled'],
      ['expired', '701', 'account-expired'],
      ['mustChange', '773', 'must-change-password'],
      ['passwordExpired', '532', 'password-expired'],
      ['logonHours', '530', 'logon-hours'],
      ['workstation', '531', 'workstation-restricted'],
      ['locked', '775', 'account-locked'],
    ];
    for (const [user, subCode, reason] of cases) {
      it(`${user}: data ${subCode} → ${reason}`, async function () {
        const { backend, logger } = make();
        // The right password: only the account state can refuse it.
        expect(await login(backend, user)).to.equal(null);
        expect(lastFailure(logger)?.['reason']).to.equal(reason);
        expect(lastFailure(logger)?.['adSubCode']).to.equal(subCode);
      });
    }
  });

  describe('groups', function () {
    it('resolves nested groups server-side with LDAP_MATCHING_RULE_IN_CHAIN', async function () {
      const { backend } = make({ groups: { base: dc.baseDN } });
      expect([...((await login(backend, 'alice'))?.groups ?? [])]).to.have.members([
        dc.groups.inner.sam,
        dc.groups.outer.sam,
      ]);
      expect((await login(backend, 'bob'))?.groups).to.deep.equal([]);
      // memberOf alone sees only the direct group: the outer one came from the in-chain rule.
      const direct = make({ groups: { strategies: ['memberOf'] } }).backend;
      expect((await login(direct, 'alice'))?.groups).to.deep.equal([dc.groups.inner.sam]);
    });

    it('gates on a group reached only through nesting', async function () {
      const { backend, logger } = make({
        groups: { base: dc.baseDN },
        requireGroup: dc.groups.outer.dn,
      });
      expect((await login(backend, 'alice'))?.username).to.equal('alice');
      expect(await login(backend, 'bob')).to.equal(null);
      expect(lastFailure(logger)?.['reason']).to.equal('require-group');
    });
  });

  describe('identity', function () {
    it('keys users by objectGUID, formatted as the standard GUID string, stable across a rename', async function () {
      // A private copy of the DC: this test renames an entry.
      const own = await startSambaDc();
      try {
        const store = new MemoryUserStore();
        const logger = new RecordingLogger();
        const backend = new LdapBackend({
          url: own.url,
          tls: { ca: own.caCertPem, servername: own.serverName },
          preset: 'activedirectory',
          userSearch: { base: own.baseDN },
          userBindName: `${own.netbiosDomain}\\{username}`,
          store,
          logger,
        });
        backends.push(backend);
        const password = own.users.alice.password;
        const first = await backend.authenticate(undefined, { username: 'alice', password });
        const guid = await objectGuidOf(own, own.users.alice.dn);
        expect(guid).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        expect(await store.identitiesOf(first!.id)).to.deep.equal([
          { backendId: 'ldap', issuer: 'ldap', subject: guid },
        ]);
        const client = await adminClient(own);
        const renamed = own.users.alice.dn.replace('CN=Alice Liddell', 'CN=Alice Pleasance');
        try {
          await client.modifyDN(own.users.alice.dn, renamed.split(',')[0]!);
        } finally {
          await client.unbind();
        }
        const second = await backend.authenticate(undefined, { username: 'alice', password });
        expect(second?.id).to.equal(first?.id);
        expect(await dnOf(store, second)).to.equal(normalizeDn(renamed));
      } finally {
        await own.stop();
      }
    });
  });

  describe('a login name that matches two entries (bind name flow)', function () {
    // AD refuses a second userPrincipalName over LDAP, but a directory can hold one (an import, a
    // replication conflict): a DC of its own gets the duplicate written past Samba's checks. The
    // twin is a person that is not a user, so Samba's own bind (which looks the UPN up among
    // users) still finds one account; a userSearch.filter that does not ask for objectClass=user
    // finds both. (A duplicate sAMAccountName cannot be tried this way: Samba's down-level bind
    // then refuses the name itself.)
    let own: SambaDcServer;
    const twin = { sam: 'twin', password: 'Kilo-Passw0rd-11!' };
    const shadowDn = (): string => `CN=Twin Shadow,OU=People,${own.baseDN}`;
    const personFilter =
      '(&(objectCategory=person)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))';
    const twinLogin = async (
      filter?: string,
    ): Promise<{ user: User | null; logger: RecordingLogger }> => {
      const logger = new RecordingLogger();
      const backend = new LdapBackend({
        url: own.url,
        tls: { ca: own.caCertPem, servername: own.serverName },
        preset: 'activedirectory',
        userSearch: { base: own.baseDN, ...(filter === undefined ? {} : { filter }) },
        userBindName: `{username}@${own.dnsDomain}`,
        logger,
      });
      backends.push(backend);
      const user = await backend.authenticate(undefined, {
        username: twin.sam,
        password: twin.password,
      });
      return { user, logger };
    };

    before(async function () {
      this.timeout(60_000);
      own = await startSambaDc();
      const admin = await adminClient(own);
      try {
        await admin.add(`CN=Twin Account,OU=People,${own.baseDN}`, [
          new Attribute({
            type: 'objectClass',
            values: ['top', 'person', 'organizationalPerson', 'user'],
          }),
          new Attribute({ type: 'sAMAccountName', values: [twin.sam] }),
          new Attribute({ type: 'userPrincipalName', values: [`${twin.sam}@${own.dnsDomain}`] }),
          new Attribute({
            type: 'unicodePwd',
            values: [Buffer.from(`"${twin.password}"`, 'utf16le')],
          }),
          new Attribute({ type: 'userAccountControl', values: ['512'] }),
        ]);
        await admin.add(shadowDn(), [
          new Attribute({ type: 'objectClass', values: ['top', 'person'] }),
          new Attribute({ type: 'sn', values: ['Shadow'] }),
        ]);
      } finally {
        await admin.unbind();
      }
    });

    after(async function () {
      if ((own as SambaDcServer | undefined) !== undefined) await own.stop();
    });

    it('logs the twin in by UPN while the name is its own (the control)', async function () {
      expect((await twinLogin(personFilter)).user?.username).to.equal(twin.sam);
    });

    it('refuses it (null, ambiguous-user) once another entry carries the same UPN', async function () {
      this.timeout(60_000);
      // A name of its own too, so that taking either entry would log someone in.
      await own.forceAttribute(shadowDn(), 'sAMAccountName', ['twin-shadow']);
      await own.forceAttribute(shadowDn(), 'userPrincipalName', [`${twin.sam}@${own.dnsDomain}`]);
      const { user, logger } = await twinLogin(personFilter);
      expect(user).to.equal(null);
      expect(lastFailure(logger)?.['reason']).to.equal('ambiguous-user');
      // The preset's filter (users only) finds one entry: the same password still logs in.
      expect((await twinLogin()).user?.username).to.equal(twin.sam);
    });
  });

  describe('search-then-bind with the activedirectory preset', function () {
    const service = (): Partial<LdapBackendOptions> => ({
      userBindName: undefined,
      bindDn: dc.users.service.dn,
      bindPassword: dc.users.service.password,
    });

    it('finds users by sAMAccountName with the service account and binds as them', async function () {
      const { backend } = make(service());
      expect((await login(backend, 'alice'))?.username).to.equal('alice');
      expect((await login(backend, 'bob'))?.username).to.equal('bob');
    });

    it('never finds a disabled account: the preset filter excludes it before any bind', async function () {
      const { backend, logger } = make(service());
      expect(await login(backend, 'disabled')).to.equal(null);
      expect(lastFailure(logger)?.['reason']).to.equal('user-not-found');
      // Control: without the account-state condition the entry is found, and the bind says 533.
      const plain = make({
        ...service(),
        userSearch: { base: dc.baseDN, filter: '(objectClass=user)' },
      });
      expect(await login(plain.backend, 'disabled')).to.equal(null);
      expect(lastFailure(plain.logger)?.['reason']).to.equal('account-disabled');
    });

    it('answers healthCheck on AD (root DSE), and rejects BACKEND_UNAVAILABLE when frozen', async function () {
      const { backend } = make({ ...service(), healthCheckTimeoutMs: 500 });
      await backend.healthCheck();
      dc.pause();
      try {
        await expectRejection(backend.healthCheck(), 'BACKEND_UNAVAILABLE');
      } finally {
        dc.resume();
      }
      await backend.healthCheck();
    });
  });
});
