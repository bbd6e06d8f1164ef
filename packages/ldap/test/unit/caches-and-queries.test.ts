import { ManualClock } from '@authbridge/core';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import {
  compileGroupQuery,
  CredentialCache,
  evaluateGroupQuery,
  normalizeDn,
} from '@authbridge/ldap';
import { FailureTiming, type Timer } from '../../src/failure-timing.ts';
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

describe('FailureTiming', function () {
  /** A clock that only moves when told to, or by the waits it is asked for. */
  class ManualTimer implements Timer {
    at = 0;
    readonly waits: number[] = [];
    now(): number {
      return this.at;
    }
    async sleep(ms: number): Promise<void> {
      this.waits.push(ms);
      this.at += ms;
      return Promise.resolve();
    }
  }
  /** A failed login that took `ms` before its failure was settled; resolves to the wait added. */
  const fail = async (
    timer: ManualTimer,
    timing: FailureTiming,
    ms: number,
    kind?: 'refused-bind' | 'no-user',
  ): Promise<number> => {
    const started = timing.now();
    timer.at += ms;
    const waits = timer.waits.length;
    await timing.settle(started, kind);
    return timer.waits.slice(waits).reduce((a, b) => a + b, 0);
  };

  it('makes unknown users take, in the median, as long as refused binds', async function () {
    const timer = new ManualTimer();
    const timing = new FailureTiming(0, 10_000, timer);
    expect(await fail(timer, timing, 5, 'no-user'), 'nothing to compare with yet').to.equal(0);
    for (const ms of [100, 300, 200]) {
      expect(await fail(timer, timing, ms, 'refused-bind'), 'a refused bind waits not').to.equal(0);
    }
    // Medians: refused binds 200, unknown users 5 (of 5, 5, then 5, 5, 9).
    expect(await fail(timer, timing, 5, 'no-user')).to.equal(195);
    expect(await fail(timer, timing, 9, 'no-user'), 'the same wait for each').to.equal(195);
    expect(await fail(timer, timing, 5), 'other failures').to.equal(0);
    // Unknown users as slow as refused binds (a fast hash, a costly dummy bind): no wait at all.
    const even = new FailureTiming(0, 10_000, timer);
    await fail(timer, even, 7, 'refused-bind');
    expect(await fail(timer, even, 7.9, 'no-user'), 'not for a fraction of a ms').to.equal(0);
    expect(await fail(timer, even, 6.5, 'no-user')).to.equal(0);
  });

  it('keeps the last 32 of each, and never waits past the deadline', async function () {
    const timer = new ManualTimer();
    const timing = new FailureTiming(0, 500, timer);
    for (let i = 0; i < 32; i++) await fail(timer, timing, 1_000, 'refused-bind');
    expect(await fail(timer, timing, 10, 'no-user'), 'capped by timeoutMs').to.equal(490);
    for (let i = 0; i < 32; i++) await fail(timer, timing, 40, 'refused-bind');
    expect(await fail(timer, timing, 10, 'no-user'), 'older samples forgotten').to.equal(30);
  });

  it('keeps minFailureMs as the floor of every failure', async function () {
    const timer = new ManualTimer();
    const timing = new FailureTiming(100, 10_000, timer);
    expect(await fail(timer, timing, 30)).to.equal(70);
    expect(await fail(timer, timing, 50, 'refused-bind')).to.equal(50);
    expect(await fail(timer, timing, 10, 'no-user'), 'the floor is above 10 + (50 - 10)').to.equal(
      90,
    );
    await fail(timer, timing, 400, 'refused-bind');
    await fail(timer, timing, 400, 'refused-bind');
    expect(await fail(timer, timing, 10, 'no-user'), '10 + (400 - 10) is above the floor').to.equal(
      390,
    );
  });
});
