import { expect } from 'chai';
import { describe, it } from 'mocha';
import {
  compileGroupQuery,
  dnEquals,
  escapeDnValue,
  evaluateGroupQuery,
  firstRdnValue,
  formatDn,
  isDnWithin,
  normalizeDn,
  parseDn,
  tryNormalizeDn,
} from '@authbridge/ldap';

describe('RFC 4514 DNs', function () {
  it('parses RDNs, types case-insensitively, and hex and character escapes', function () {
    expect(parseDn('CN=Smith\\, John,OU=People,dc=example,dc=org')).to.deep.equal([
      [{ type: 'cn', value: 'Smith, John' }],
      [{ type: 'ou', value: 'People' }],
      [{ type: 'dc', value: 'example' }],
      [{ type: 'dc', value: 'org' }],
    ]);
    expect(parseDn('cn=Smith\\2C John,dc=org')[0]).to.deep.equal([
      { type: 'cn', value: 'Smith, John' },
    ]);
    // Hex escapes are UTF-8 bytes.
    expect(parseDn('uid=j\\C3\\BCrgen')[0]).to.deep.equal([{ type: 'uid', value: 'jürgen' }]);
    expect(parseDn('')).to.deep.equal([]);
  });

  it('parses multi-valued RDNs and #hex values', function () {
    expect(parseDn('cn=a+uid=b,dc=org')[0]).to.deep.equal([
      { type: 'cn', value: 'a' },
      { type: 'uid', value: 'b' },
    ]);
    expect(parseDn('1.3.6.1.4.1.1466.0=#04024869,dc=org')[0]).to.deep.equal([
      { type: '1.3.6.1.4.1.1466.0', value: '#04024869', hex: true },
    ]);
  });

  it('tells a #hex value from a text value that starts with an escaped #', function () {
    // RFC 4514 §2.4: only an unescaped leading # starts hex; `\#` is the character.
    expect(parseDn('cn=#ABcd,dc=org')[0]).to.deep.equal([
      { type: 'cn', value: '#abcd', hex: true },
    ]);
    expect(parseDn('cn=\\#ABcd,dc=org')[0]).to.deep.equal([{ type: 'cn', value: '#ABcd' }]);
    expect(dnEquals('cn=\\#ab,dc=org', 'cn=#ab,dc=org')).to.equal(false);
    expect(dnEquals('cn=\\23ab,dc=org', 'cn=#ab,dc=org')).to.equal(false);
    // The text value is case-folded and re-escaped like any other.
    expect(normalizeDn('cn=\\#LEAD,dc=org')).to.equal('cn=\\#lead,dc=org');
    for (const variant of ['cn=\\#lead,dc=org', 'CN=\\23Lead,DC=org', 'cn=\\#LEAD  ,dc=org']) {
      expect(dnEquals(variant, 'cn=\\#LEAD,dc=org'), variant).to.equal(true);
    }
    // A group named `#LEAD` in a gate matches the user's group `#lead`.
    const deny = compileGroupQuery('cn=\\#LEAD,ou=groups,dc=org', 'denyGroup');
    const groups = new Set([normalizeDn('cn=\\#lead,ou=groups,dc=org')]);
    expect(evaluateGroupQuery(deny, groups)).to.equal(true);
    // Hex stays hex: its digits fold, nothing else.
    expect(normalizeDn('cn=#ABCD,dc=org')).to.equal('cn=#abcd,dc=org');
    expect(formatDn(parseDn('cn=\\#x+uid=#00,dc=org'))).to.equal('cn=\\#x+uid=#00,dc=org');
  });

  it('maps well-known OIDs to names', function () {
    expect(normalizeDn('2.5.4.3=Admins,0.9.2342.19200300.100.1.25=org')).to.equal(
      normalizeDn('cn=admins,dc=org'),
    );
  });

  it('normalises case, spaces, escapes and RDN order', function () {
    const canonical = normalizeDn('cn=Smith\\, John,ou=people,dc=example,dc=org');
    for (const variant of [
      'CN=Smith\\2C John,OU=People,DC=Example,DC=Org',
      'cn = smith\\, john , ou=people,dc=example,dc=org',
      'cn=SMITH\\,  JOHN,ou=people,dc=example,dc=org',
    ]) {
      expect(normalizeDn(variant), variant).to.equal(canonical);
    }
    expect(normalizeDn('uid=b+cn=a,dc=org')).to.equal(normalizeDn('CN=A+UID=B,dc=org'));
    expect(dnEquals('cn=a,dc=org', 'cn=b,dc=org')).to.equal(false);
  });

  it('keeps an escaped comma distinct from an RDN separator', function () {
    expect(dnEquals('cn=a\\,ou=x,dc=org', 'cn=a,ou=x,dc=org')).to.equal(false);
    expect(parseDn('cn=a\\,ou=x,dc=org')).to.have.length(2);
  });

  it('rejects malformed DNs with INVALID_REQUEST', function () {
    for (const bad of [
      'cn',
      'cn=a,',
      '=a',
      'cn=a\\',
      'cn=a\\zz',
      'cn=a"b',
      'c n=a',
      ',cn=a',
      'cn=#0',
      'cn=\\ff',
    ]) {
      let code: unknown;
      try {
        parseDn(bad);
      } catch (error) {
        code = (error as { code?: unknown }).code;
      }
      expect(code, bad).to.equal('INVALID_REQUEST');
      expect(tryNormalizeDn(bad), bad).to.equal(undefined);
    }
  });

  it('escapes values so they round-trip and cannot inject RDNs', function () {
    const hostile = [
      ',',
      '+',
      '"',
      '\\',
      '<',
      '>',
      ';',
      '=',
      '#lead',
      ' lead',
      'trail ',
      'a\u0000b',
      'x,uid=admin',
      'ünï',
    ];
    for (const value of hostile) {
      const dn = `uid=${escapeDnValue(value)},dc=org`;
      const rdns = parseDn(dn);
      expect(rdns, value).to.have.length(2);
      expect(rdns[0], value).to.deep.equal([{ type: 'uid', value }]);
    }
    expect(escapeDnValue('Smith, John')).to.equal('Smith\\, John');
  });

  it('answers first-RDN values and containment', function () {
    expect(firstRdnValue('cn=Research\\, Development,ou=groups,dc=org')).to.equal(
      'Research, Development',
    );
    expect(isDnWithin('uid=a,ou=People,dc=org', 'ou=people,DC=org')).to.equal(true);
    expect(isDnWithin('uid=a,ou=other,dc=org', 'ou=people,dc=org')).to.equal(false);
  });
});
