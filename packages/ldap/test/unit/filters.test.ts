import { expect } from 'chai';
import { EqualityFilter, FilterParser } from 'ldapts';
import { describe, it } from 'mocha';
import { anyOf, inChain, parseConfigFilter, posixGroups, userFilter } from '@authbridge/ldap';

describe('filter building', function () {
  it('puts hostile values into equality assertions literally, escaped exactly once', function () {
    for (const value of ['*', ')(uid=*)', '\\', 'a\u0000b', 'ünï', '(|(x=*))']) {
      const filter = userFilter('uid', value);
      expect(filter).to.be.instanceOf(EqualityFilter);
      expect((filter as unknown as { value: unknown }).value).to.equal(value);
      // The string form parses back to the same single assertion: no wildcard, no extra terms.
      const reparsed = FilterParser.parseString(filter.toString());
      expect(reparsed).to.be.instanceOf(EqualityFilter);
      expect((reparsed as unknown as { value: unknown }).value).to.equal(value);
    }
    expect(userFilter('uid', '*)(uid=*').toString()).to.equal('(uid=\\2a\\29\\28uid=\\2a)');
  });

  it('ANDs the configured extra condition', function () {
    const extra = parseConfigFilter('(objectClass=inetOrgPerson)', 'f');
    expect(userFilter('uid', 'alice', extra).toString()).to.equal(
      '(&(uid=alice)(objectClass=inetOrgPerson))',
    );
  });

  it('builds member, posix and in-chain filters', function () {
    expect(anyOf(['member', 'uniqueMember'], ['cn=a\\,b,dc=org']).toString()).to.equal(
      '(|(member=cn=a\\5c,b,dc=org)(uniqueMember=cn=a\\5c,b,dc=org))',
    );
    expect(posixGroups('alice', '5000').toString()).to.equal(
      '(&(objectClass=posixGroup)(|(memberUid=alice)(gidNumber=5000)))',
    );
    expect(inChain('member', 'cn=u,dc=org').toString()).to.equal(
      '(member:1.2.840.113556.1.4.1941:=cn=u,dc=org)',
    );
  });

  it('rejects malformed configuration filters with CONFIG_INVALID', function () {
    for (const bad of ['objectClass=x', '(objectClass=x', '(&(a=b)']) {
      let code: unknown;
      try {
        parseConfigFilter(bad, 'f');
      } catch (error) {
        code = (error as { code?: unknown }).code;
      }
      expect(code, bad).to.equal('CONFIG_INVALID');
    }
  });
});
