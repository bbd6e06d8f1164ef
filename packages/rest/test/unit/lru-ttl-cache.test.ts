import { ManualClock } from '@authbridge/core';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import { LruTtlCache } from '../../src/lru-ttl-cache.js';

describe('LruTtlCache', function () {
  it('returns an entry until its expiry and never at or after it', function () {
    const clock = new ManualClock(1_000);
    const cache = new LruTtlCache<string>(10, clock);
    cache.set('k', 'v', 2_000);
    clock.set(1_999);
    expect(cache.get('k')).to.equal('v');
    clock.set(2_000);
    expect(cache.get('k')).to.equal(undefined);
    expect(cache.size).to.equal(0);
  });

  it('stores nothing for an expiry that is not in the future', function () {
    const clock = new ManualClock(5_000);
    const cache = new LruTtlCache<string>(10, clock);
    cache.set('past', 'v', 4_999);
    cache.set('now', 'v', 5_000);
    expect(cache.size).to.equal(0);
  });

  it('evicts the least recently used entry beyond its bound', function () {
    const clock = new ManualClock(0);
    const cache = new LruTtlCache<number>(2, clock);
    cache.set('a', 1, 100);
    cache.set('b', 2, 100);
    expect(cache.get('a')).to.equal(1); // a is now the most recent
    cache.set('c', 3, 100);
    expect(cache.size).to.equal(2);
    expect(cache.get('b')).to.equal(undefined);
    expect(cache.get('a')).to.equal(1);
    expect(cache.get('c')).to.equal(3);
  });

  it('keeps busy entries through heavy churn', function () {
    const clock = new ManualClock(0);
    const cache = new LruTtlCache<number>(100, clock);
    cache.set('hot', 0, 1_000);
    for (let i = 0; i < 10_000; i += 1) {
      cache.set(`cold-${i}`, i, 1_000);
      // Used every 10 insertions: far more often than half the capacity.
      if (i % 10 === 0) expect(cache.get('hot'), `after ${i} insertions`).to.equal(0);
    }
    expect(cache.size).to.equal(100);
    expect(cache.get('cold-0')).to.equal(undefined);
  });

  it('replaces, deletes and clears', function () {
    const clock = new ManualClock(0);
    const cache = new LruTtlCache<number>(5, clock);
    cache.set('a', 1, 100);
    cache.set('a', 2, 50);
    expect(cache.get('a')).to.equal(2);
    expect(cache.expiresAt('a')).to.equal(50);
    expect(cache.delete('a')).to.equal(true);
    expect(cache.get('a')).to.equal(undefined);
    cache.set('b', 1, 100);
    cache.clear();
    expect(cache.size).to.equal(0);
  });
});
