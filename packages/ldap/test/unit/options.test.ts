import { MemoryUserStore } from '@authbridge/core';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import { type LdapBackendOptions, resolveLdapOptions } from '@authbridge/ldap';

const base: LdapBackendOptions = {
  url: 'ldap://ldap.example.org',
  userSearch: { base: 'ou=people,dc=example,dc=org' },
};

function codeOf(options: unknown): unknown {
  try {
    resolveLdapOptions(options as LdapBackendOptions);
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return 'resolved';
}

describe('resolveLdapOptions', function () {
  it('fills every default and freezes the result', function () {
    const o = resolveLdapOptions(base);
    expect(Object.isFrozen(o)).to.equal(true);
    expect(o.id).to.equal('ldap');
    expect(o.servers).to.deep.equal([
      {
        url: 'ldap://ldap.example.org',
        host: 'ldap.example.org',
        port: 389,
        secure: false,
        startTls: true,
      },
    ]);
    expect(o.tls.minVersion).to.equal('TLSv1.2');
    expect(o.tls.rejectUnauthorized).to.equal(true);
    expect(o.usernameAttribute).to.equal('uid');
    expect(o.idAttribute).to.equal('entryUUID');
    expect(o.timeoutMs).to.equal(10_000);
    expect(o.searchTimeLimitSeconds).to.equal(5);
    expect(o.cache).to.deep.equal({
      dnTtlMs: 0,
      groupTtlMs: 0,
      credentialTtlMs: 0,
      maxEntries: 10_000,
    });
    expect(o.dummyBind).to.equal(true);
    expect(o.poolIdlePingMs).to.equal(30_000);
    expect(o.healthCheckTimeoutMs).to.equal(2_000);
    expect(o.issuer).to.equal('ldap');
  });

  it('requires allowInsecure for plaintext and unverified TLS', function () {
    expect(codeOf({ ...base, startTls: false })).to.equal('CONFIG_INVALID');
    expect(codeOf({ ...base, startTls: false, allowInsecure: true })).to.equal('resolved');
    expect(codeOf({ ...base, tls: { rejectUnauthorized: false } })).to.equal('CONFIG_INVALID');
    expect(codeOf({ ...base, url: 'ldaps://x', startTls: true })).to.equal('CONFIG_INVALID');
    const ldaps = resolveLdapOptions({
      ...base,
      url: ['ldaps://a:1636', 'ldap://b'],
      tls: { ca: 'PEM', servername: 'ldap' },
    });
    expect(ldaps.servers.map((s) => [s.secure, s.startTls, s.port])).to.deep.equal([
      [true, false, 1636],
      [false, true, 389],
    ]);
    expect(ldaps.tls.ca).to.deep.equal(['PEM']);
    expect(ldaps.tls.servername).to.equal('ldap');
  });

  it('rejects bad configuration with CONFIG_INVALID', function () {
    const bad: unknown[] = [
      null,
      { ...base, url: 'http://x' },
      { ...base, url: [] },
      { ...base, url: 'ldap://x/dc=org' },
      { ...base, bindDn: 'cn=svc,dc=org' },
      { ...base, bindDn: 'cn=svc,dc=org', bindPassword: '' },
      { ...base, bindDn: 'not a dn', bindPassword: 'x' },
      { url: base.url },
      { ...base, userDnTemplate: 'uid={username},dc=org' },
      { url: base.url, userDnTemplate: 'uid=x,dc=org' },
      { ...base, userSearch: { base: 'nope' } },
      { ...base, userSearch: { base: [] } },
      { ...base, userSearch: { base: 'dc=org', filter: 'objectClass=x' } },
      { ...base, userSearch: { base: 'dc=org', scope: 'base' } },
      { ...base, requireGroup: 'cn=a,dc=org' },
      { ...base, groups: { strategies: ['member'] } },
      { ...base, groups: { base: 'dc=org', strategies: ['bogus'] } },
      { ...base, groups: { base: 'dc=org' }, requireGroup: { and: [] } },
      { ...base, groups: { base: 'dc=org' }, denyGroup: { xor: ['cn=a'] } },
      { ...base, groups: { base: 'dc=org' }, denyGroup: 'garbage' },
      { ...base, timeoutMs: 0 },
      { ...base, poolSize: 1.5 },
      { ...base, preset: 'novell' },
      { ...base, groupPermissions: { admins: 'app.all' } },
      { ...base, usernameAttribute: 'u id' },
      { ...base, logger: {} },
      { ...base, tls: { minVersion: 'TLSv1' } },
      { ...base, tls: { cert: 'x' } },
      { ...base, cache: { credentialTtlMs: -1 } },
      { ...base, poolIdlePingMs: -1 },
      // A retired pooled connection may live one timeoutMs longer: the lifetime must exceed it.
      { ...base, poolMaxLifetimeMs: 10_000 },
      { ...base, timeoutMs: 5_000, poolMaxLifetimeMs: 4_000 },
      { ...base, healthCheckTimeoutMs: 0 },
      { ...base, groups: { base: 'dc=org', pageSize: 0 } },
      { url: base.url, userDnTemplate: 'uid={username},dc=org', userBindName: '{username}@x.org' },
      { ...base, userBindName: '{username}' },
      { ...base, userBindName: 'x@{username}' },
      { ...base, userBindName: '{username}@a b' },
      { ...base, userBindName: 'A\\B\\{username}' },
    ];
    for (const options of bad)
      expect(codeOf(options), JSON.stringify(options)).to.equal('CONFIG_INVALID');
    expect(codeOf({ ...base, timeoutMs: 900, poolMaxLifetimeMs: 1_000 })).to.equal('resolved');
  });

  it('applies presets, explicit options winning', function () {
    const ad = resolveLdapOptions({ ...base, preset: 'activedirectory' });
    expect(ad.usernameAttribute).to.equal('sAMAccountName');
    expect(ad.idAttribute).to.equal('objectGUID');
    expect(ad.idFormat).to.equal('guid');
    const ipa = resolveLdapOptions({ ...base, preset: 'freeipa', idAttribute: 'uid' });
    expect(ipa.idAttribute).to.equal('uid');
    for (const preset of ['openldap', 'activedirectory', 'freeipa', '389ds'] as const) {
      expect(codeOf({ ...base, preset, groups: { base: 'dc=org' } }), preset).to.equal('resolved');
    }
  });

  it('compiles group gates and permissions, and takes a store', function () {
    const store = new MemoryUserStore();
    const o = resolveLdapOptions({
      ...base,
      store,
      groups: { base: 'ou=groups,dc=org', nested: true },
      requireGroup: { or: ['CN=Staff,ou=groups,dc=org', { not: 'cn=x,ou=groups,dc=org' }] },
      groupPermissions: { Admins: ['app.manage'] },
    });
    expect(o.store).to.equal(store);
    expect(o.requireGroup?.kind).to.equal('or');
    expect(o.groupPermissions.get('admins')).to.deep.equal(['app.manage']);
    expect(o.groups?.nested).to.equal(true);
    expect(o.groups?.maxDepth).to.equal(10);
  });

  it('refuses a gate or flag DN outside every groups.base, unless memberOf finds it', function () {
    // Search strategies look under groups.base only: such a DN never matches, and a deny or a
    // `not` that never matches fails open.
    const outside = 'cn=banned,ou=security,dc=org';
    const inside = 'cn=staff,ou=groups,dc=org';
    const gates: Partial<LdapBackendOptions>[] = [
      { denyGroup: outside },
      { denyGroup: { or: [inside, outside] } },
      { requireGroup: { and: [inside, { not: outside }] } },
      { requireGroup: outside },
      { userFlagsByGroup: { isActive: { not: outside } } },
      { userFlagsByGroup: { isSuperuser: outside } },
    ];
    for (const strategies of [['member'], ['uniqueMember'], ['posix'], ['inChain']] as const) {
      const groups = { base: ['ou=other,dc=org', 'ou=groups,dc=org'], strategies };
      for (const gate of gates) {
        expect(codeOf({ ...base, groups, ...gate }), JSON.stringify([strategies, gate])).to.equal(
          'CONFIG_INVALID',
        );
      }
      expect(codeOf({ ...base, groups, denyGroup: { not: inside } })).to.equal('resolved');
    }
    // memberOf lists the user's groups wherever they are.
    for (const groups of [
      { strategies: ['memberOf'] as const },
      { base: 'ou=groups,dc=org', strategies: ['memberOf', 'member'] as const },
    ]) {
      for (const gate of gates) {
        expect(codeOf({ ...base, groups, ...gate }), JSON.stringify(gate)).to.equal('resolved');
      }
    }
  });

  it('defaults the issuer to a constant, whatever the bases or the DN template', function () {
    // The identity link is (backend id, issuer, subject): an issuer taken from the bases would
    // change with them, and every stored link with it.
    for (const options of [
      base,
      { ...base, userSearch: { base: ['dc=example,dc=org', 'ou=people,dc=example,dc=org'] } },
      { ...base, userSearch: { base: 'OU=People,DC=example,DC=org' } },
      { ...base, userBindName: 'CORP\\{username}' },
      { url: base.url, userDnTemplate: 'uid={username},ou=People,dc=org' },
    ]) {
      expect(resolveLdapOptions(options).issuer, JSON.stringify(options)).to.equal('ldap');
    }
    expect(resolveLdapOptions({ ...base, issuer: 'corp-directory' }).issuer).to.equal(
      'corp-directory',
    );
    expect(codeOf({ ...base, issuer: '' })).to.equal('CONFIG_INVALID');
  });

  it('reads an Active Directory bind name as a UPN or a down-level name', function () {
    const form = (userBindName: string): unknown => {
      const flow = resolveLdapOptions({ ...base, userBindName }).flow;
      return flow.kind === 'bindName' ? flow.form : flow.kind;
    };
    expect(form('{username}@corp.example.org')).to.equal('upn');
    expect(form('CORP\\{username}')).to.equal('downLevel');
    expect(resolveLdapOptions(base).flow.kind).to.equal('search');
  });
});
