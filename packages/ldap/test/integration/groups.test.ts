// Group strategies, nesting, gates, flags and permissions against a real slapd.
import { Authenticator } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import { requireServer, slapdAvailable, type SlapdServer } from '@authbridge/testkit';
import { expect } from 'chai';
import { Change, Attribute, Client } from 'ldapts';
import { after, before, describe, it } from 'mocha';
import { type GroupStrategy, LdapBackend, type LdapBackendOptions } from '@authbridge/ldap';
import { GROUPS, PEOPLE, RecordingLogger, searchOptions, startSlapd } from './helpers.ts';

describe('LdapBackend groups (slapd)', function () {
  let server: SlapdServer;
  const backends: LdapBackend[] = [];
  const make = (
    extra: Partial<LdapBackendOptions>,
  ): { backend: LdapBackend; logger: RecordingLogger } => {
    const logger = new RecordingLogger();
    const backend = new LdapBackend(searchOptions(server, logger, extra));
    backends.push(backend);
    return { backend, logger };
  };
  const groupsOf = async (
    strategies: GroupStrategy[],
    username: string,
    nested = false,
    maxDepth = 10,
  ): Promise<string[]> => {
    const { backend } = make({ groups: { base: GROUPS, strategies, nested, maxDepth } });
    const user = await backend.authenticate(undefined, {
      username,
      password: `${username}-password`,
    });
    expect(user, username).to.not.equal(null);
    return [...user!.groups];
  };

  before(async function () {
    requireServer(this, await slapdAvailable(), 'slapd');
    server = await startSlapd();
    // carol into cycle-b (a cycle: cycle-a ⊃ cycle-b ⊃ cycle-a), and a third level above
    // engineering for the depth limit. The memberof overlay maintains memberOf at runtime.
    const admin = new Client({ url: server.url });
    await admin.startTLS({ ca: server.caCertPem });
    await admin.bind(server.adminDN, server.adminPassword);
    await admin.modify(
      `cn=cycle-b,${GROUPS}`,
      new Change({
        operation: 'add',
        modification: new Attribute({ type: 'member', values: [`uid=carol,${PEOPLE}`] }),
      }),
    );
    await admin.add(`cn=division,${GROUPS}`, {
      objectClass: 'groupOfNames',
      cn: 'division',
      member: `cn=engineering,${GROUPS}`,
    });
    await admin.unbind();
  });

  after(async function () {
    for (const b of backends) await b.close();
    if ((server as SlapdServer | undefined) !== undefined) await server.stop();
  });

  it('reads memberOf (including a group DN with an escaped comma)', async function () {
    expect(await groupsOf(['memberOf'], 'alice')).to.deep.equal(['admins', 'staff']);
    expect(await groupsOf(['memberOf'], 'jsmith')).to.deep.equal([
      'Research, Development',
      'staff',
    ]);
  });

  it('names groups from inside groups.base only: a same-named group elsewhere grants nothing', async function () {
    // A delegated subtree whose owner made an "admins" group of their own, with bob in it.
    const elsewhere = 'ou=delegated,dc=example,dc=org';
    const admin = new Client({ url: server.url });
    await admin.startTLS({ ca: server.caCertPem });
    await admin.bind(server.adminDN, server.adminPassword);
    try {
      await admin.add(elsewhere, { objectClass: 'organizationalUnit', ou: 'delegated' });
      await admin.add(`cn=admins,${elsewhere}`, {
        objectClass: 'groupOfNames',
        cn: 'admins',
        member: `uid=bob,${PEOPLE}`,
      });
      const permissions = { admins: ['app.manage'] };
      const { backend } = make({
        groups: { base: GROUPS, strategies: ['memberOf'] },
        groupPermissions: permissions,
      });
      const bob = await backend.authenticate(undefined, {
        username: 'bob',
        password: 'bob-password',
      });
      expect(bob?.groups).to.deep.equal(['staff']);
      expect([...(await backend.getAllPermissions(bob!))]).to.deep.equal([]);
      // Without a base, memberOf names every group the directory lists (documented).
      const unscoped = make({
        groups: { strategies: ['memberOf'] },
        groupPermissions: permissions,
      });
      const anywhere = await unscoped.backend.authenticate(undefined, {
        username: 'bob',
        password: 'bob-password',
      });
      expect(anywhere?.groups).to.include('admins');
    } finally {
      await admin.del(`cn=admins,${elsewhere}`).catch(() => undefined);
      await admin.del(elsewhere).catch(() => undefined);
      await admin.unbind();
    }
  });

  it('searches groupOfNames and groupOfUniqueNames by member DN', async function () {
    expect(await groupsOf(['member'], 'alice')).to.deep.equal(['admins', 'staff']);
    expect(await groupsOf(['uniqueMember'], 'alice')).to.deep.equal(['auditors']);
    expect(await groupsOf(['uniqueMember'], 'carol')).to.deep.equal(['auditors']);
  });

  it('finds posixGroups by memberUid and by primary gidNumber', async function () {
    expect(await groupsOf(['posix'], 'alice')).to.deep.equal(['developers', 'users']);
    expect(await groupsOf(['posix'], 'bob')).to.deep.equal(['developers']);
  });

  it('resolves nested groups, terminates on a cycle, and honours the depth limit', async function () {
    expect(await groupsOf(['member'], 'dave')).to.deep.equal(['platform']);
    expect(await groupsOf(['member'], 'dave', true)).to.deep.equal([
      'division',
      'engineering',
      'platform',
    ]);
    expect(await groupsOf(['member'], 'dave', true, 1)).to.deep.equal(['engineering', 'platform']);
    expect(await groupsOf(['member', 'uniqueMember'], 'carol', true)).to.deep.equal([
      'auditors',
      'cycle-a',
      'cycle-b',
    ]);
  });

  it('fails the login when a group lookup fails, never yielding fewer groups', async function () {
    const { backend } = make({ groups: { base: `ou=missing,${GROUPS}`, strategies: ['member'] } });
    await expectRejection(
      backend.authenticate(undefined, { username: 'alice', password: 'alice-password' }),
      'BACKEND_UNAVAILABLE',
    );
  });

  it('gates logins with require-group and deny-group boolean queries', async function () {
    const admins = `cn=admins,${GROUPS}`;
    const staff = `cn=staff,${GROUPS}`;
    const groups = { base: GROUPS, strategies: ['member'] as GroupStrategy[] };
    const require = make({ groups, requireGroup: { and: [staff, { not: admins }] } });
    expect(
      await require.backend.authenticate(undefined, {
        username: 'alice',
        password: 'alice-password',
      }),
    ).to.be.null;
    expect(require.logger.lastReason()).to.equal('require-group');
    expect(
      (await require.backend.authenticate(undefined, { username: 'bob', password: 'bob-password' }))
        ?.username,
    ).to.equal('bob');

    const deny = make({ groups, denyGroup: { or: [admins, `cn=nobody,${GROUPS}`] } });
    await expectRejection(
      deny.backend.authenticate(undefined, { username: 'alice', password: 'alice-password' }),
      'PERMISSION_DENIED',
    );
    // Without the right password, membership of the deny group is not revealed.
    expect(await deny.backend.authenticate(undefined, { username: 'alice', password: 'wrong' })).to
      .be.null;
    expect(
      (await deny.backend.authenticate(undefined, { username: 'bob', password: 'bob-password' }))
        ?.username,
    ).to.equal('bob');
  });

  it('sets user flags by group and refuses inactive users', async function () {
    const { backend, logger } = make({
      groups: { base: GROUPS, strategies: ['member', 'uniqueMember'] },
      userFlagsByGroup: {
        isActive: { not: `cn=auditors,${GROUPS}` },
        isStaff: `cn=staff,${GROUPS}`,
        isSuperuser: `cn=admins,${GROUPS}`,
      },
    });
    const bob = await backend.authenticate(undefined, {
      username: 'bob',
      password: 'bob-password',
    });
    expect([bob?.isActive, bob?.isStaff, bob?.isSuperuser]).to.deep.equal([true, true, false]);
    expect(await backend.authenticate(undefined, { username: 'carol', password: 'carol-password' }))
      .to.be.null;
    expect(logger.lastReason()).to.equal('inactive');
    const admin = make({
      groups: { base: GROUPS, strategies: ['member'] },
      userFlagsByGroup: { isStaff: `cn=staff,${GROUPS}`, isSuperuser: `cn=admins,${GROUPS}` },
    }).backend;
    const alice = await admin.authenticate(undefined, {
      username: 'alice',
      password: 'alice-password',
    });
    expect([alice?.isStaff, alice?.isSuperuser]).to.deep.equal([true, true]);
  });

  it('answers getAllPermissions and hasPerm from a group → permission map', async function () {
    const { backend } = make({
      groups: { base: GROUPS, strategies: ['member'] },
      groupPermissions: { admins: ['app.manage'], staff: ['app.view'] },
    });
    const alice = (await backend.authenticate(undefined, {
      username: 'alice',
      password: 'alice-password',
    }))!;
    const bob = (await backend.authenticate(undefined, {
      username: 'bob',
      password: 'bob-password',
    }))!;
    expect([...(await backend.getAllPermissions(alice))].sort()).to.deep.equal([
      'app.manage',
      'app.view',
    ]);
    expect([...(await backend.getAllPermissions(bob))]).to.deep.equal(['app.view']);
    expect(await backend.hasPerm(bob, 'app.manage')).to.equal(false);
    expect(await backend.hasPerm(alice, 'app.manage')).to.equal(true);
    expect(await backend.hasModulePerms(bob, 'app')).to.equal(true);
    expect(await backend.hasModulePerms(bob, 'other')).to.equal(false);
    expect((await backend.getAllPermissions(alice, { some: 'object' })).size).to.equal(0);
    const auth = new Authenticator({ backends: [backend] });
    expect(await auth.hasPerm(bob, 'app.view')).to.equal(true);
  });
});
