import { ManualClock } from '@authbridge/core';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import {
  compileGroupQuery,
  CredentialCache,
  evaluateGroupQuery,
  normalizeDn,
} from '@authbridge/ldap';
import { ServerSet } from '../../src/server-set.ts';
import { TtlCache } from '../../src/ttl-cache.ts';

describe('group queries', function () {
  const A = 'cn=a,ou=groups,dc=org';
  const B = 'cn=b,ou=groups,dc=org';
  const member = (...dns: string[]): Set<string> => new Set(dns.map(normalizeDn));
  it('evaluates DNs (normalised), and, or, not', function () {
    const q = compileGroupQuery({ and: ['CN=A,ou=Groups,dc=org', { not: B }] }, 'q');
    expect(evaluateGroupQuery(q, member(A))).to.equal(true);
    expect(evaluateGroupQuery(q, member(A, B))).to.equal(false);
    expect(evaluateGroupQuery(q, member())).to.equal(false);
    const or = compileGroupQuery({ or: [A, B] }, 'q');
    expect(evaluateGroupQuery(or, member(B))).to.equal(true);
    expect(evaluateGroupQuery(or, member())).to.equal(false);
  });
});

describe('TtlCache', function () {
  it('expires entries and bounds its size; TTL 0 keeps nothing', function () {
    const clock = new ManualClock(0);
    const cache = new TtlCache<string, number>(100, 2, clock);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    expect(cache.get('a')).to.equal(undefined);
    expect(cache.get('c')).to.equal(3);
    clock.advance(100);
    expect(cache.get('c')).to.equal(undefined);
    const off = new TtlCache<string, number>(0, 2, clock);
    off.set('a', 1);
    expect(off.get('a')).to.equal(undefined);
  });
});

describe('CredentialCache', function () {
  it('answers repeat credentials from the cache, and only those', async function () {
    const clock = new ManualClock(0);
    const cache = new CredentialCache<string>(1000, 10, clock);
    let loads = 0;
    const load = async (): Promise<string> => `v${++loads}`;
    expect(await cache.get('alice', 'pw', load, () => true)).to.equal('v1');
    expect(await cache.get('alice', 'pw', load, () => true)).to.equal('v1');
    expect(await cache.get('alice', 'other', load, () => true)).to.equal('v2');
    // Length prefixes: ("alice", "pw") and ("alicep", "w") are different credentials.
    expect(await cache.get('alicep', 'w', load, () => true)).to.equal('v3');
    clock.advance(1000);
    expect(await cache.get('alice', 'other', load, () => true)).to.equal('v4');
    expect(await cache.get('bob', 'x', load, () => false)).to.equal('v5');
    expect(await cache.get('bob', 'x', load, () => false)).to.equal('v6');
  });

  it('shares one load among concurrent identical calls (single-flight)', async function () {
    const cache = new CredentialCache<number>(1000, 10, new ManualClock(0));
    let loads = 0;
    const load = async (): Promise<number> => {
      loads += 1;
      await new Promise((r) => setTimeout(r, 10));
      return loads;
    };
    const results = await Promise.all(
      Array.from({ length: 10 }, () => cache.get('a', 'p', load, () => true)),
    );
    expect(loads).to.equal(1);
    expect(new Set(results)).to.deep.equal(new Set([1]));
  });

  it('is a pass-through when off', async function () {
    const cache = new CredentialCache<number>(0, 10, new ManualClock(0));
    let loads = 0;
    const load = async (): Promise<number> => ++loads;
    await cache.get('a', 'p', load, () => true);
    await cache.get('a', 'p', load, () => true);
    expect(loads).to.equal(2);
  });
});

describe('ServerSet', function () {
  it('moves a failed server behind healthy ones until its backoff ends', function () {
    const a = { url: 'ldap://a', host: 'a', port: 389, secure: false, startTls: true };
    const b = { ...a, url: 'ldap://b', host: 'b' };
    const set = new ServerSet([a, b], 1000);
    expect(set.order(0)).to.deep.equal([a, b]);
    set.markFailed(a, 0);
    expect(set.order(500)).to.deep.equal([b, a]);
    expect(set.order(1000)).to.deep.equal([a, b]);
    set.markFailed(a, 1000);
    // Doubled backoff after a second failure in a row.
    expect(set.order(2500)).to.deep.equal([b, a]);
    set.markOk(a);
    expect(set.order(2500)).to.deep.equal([a, b]);
  });
});
