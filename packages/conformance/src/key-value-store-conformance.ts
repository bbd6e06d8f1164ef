/**
 * The conformance suite for {@link KeyValueStore} implementations (memory, SQLite, later Redis).
 *
 * @packageDocumentation
 */
import type { KeyValueStore } from '@authbridge/core';
import { expect } from 'chai';
import { afterEach, beforeEach, describe, it } from 'mocha';

/** A store under test and a way to move its time forward. */
export interface KeyValueStoreSubject {
  readonly store: KeyValueStore;
  /** Makes `ms` milliseconds pass for the store (a manual clock, or real waiting for a server). */
  advance(ms: number): Promise<void>;
  teardown?(): Promise<void>;
}

/** Registers the key-value store suite with mocha. */
export function describeKeyValueStoreConformance(
  name: string,
  setup: () => Promise<KeyValueStoreSubject>,
): void {
  describe(`KeyValueStore conformance: ${name}`, function () {
    let s: KeyValueStoreSubject;
    beforeEach(async function () {
      s = await setup();
    });
    afterEach(async function () {
      await s.store.close();
      await s.teardown?.();
    });

    it('gets what was set, and nothing after delete', async function () {
      expect(await s.store.get('k')).to.equal(undefined);
      await s.store.set('k', 'v1');
      expect(await s.store.get('k')).to.equal('v1');
      await s.store.set('k', 'v2');
      expect(await s.store.get('k')).to.equal('v2');
      expect(await s.store.delete('k')).to.equal(true);
      expect(await s.store.delete('k')).to.equal(false);
      expect(await s.store.get('k')).to.equal(undefined);
    });

    it('expires entries after their TTL', async function () {
      await s.store.set('t', 'v', 1000);
      await s.advance(999);
      expect(await s.store.get('t')).to.equal('v');
      await s.advance(2);
      expect(await s.store.get('t')).to.equal(undefined);
      expect(await s.store.delete('t')).to.equal(false);
    });

    it('setIfAbsent succeeds exactly once among concurrent callers', async function () {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => s.store.setIfAbsent('once', `v${i}`, 60_000)),
      );
      expect(results.filter(Boolean)).to.have.length(1);
      const winner = results.indexOf(true);
      expect(await s.store.get('once')).to.equal(`v${winner}`);
    });

    it('setIfAbsent refuses a live key and takes an expired one', async function () {
      expect(await s.store.setIfAbsent('r', 'a', 1000)).to.equal(true);
      expect(await s.store.setIfAbsent('r', 'b', 1000)).to.equal(false);
      expect(await s.store.get('r')).to.equal('a');
      await s.advance(1001);
      expect(await s.store.setIfAbsent('r', 'c', 1000)).to.equal(true);
      expect(await s.store.get('r')).to.equal('c');
    });

    it('setIfPresent overwrites a live key only: never one deleted or expired', async function () {
      expect(await s.store.setIfPresent('p', 'a', 1000)).to.equal(false);
      expect(await s.store.get('p')).to.equal(undefined);
      await s.store.set('p', 'a', 1000);
      expect(await s.store.setIfPresent('p', 'b', 5000)).to.equal(true);
      expect(await s.store.get('p')).to.equal('b');
      // The new TTL counts from now.
      await s.advance(4000);
      expect(await s.store.get('p')).to.equal('b');
      expect(await s.store.setIfPresent('p', 'c')).to.equal(true);
      await s.advance(10_000);
      expect(await s.store.get('p'), 'no TTL: kept').to.equal('c');
      await s.store.delete('p');
      expect(await s.store.setIfPresent('p', 'd', 1000)).to.equal(false);
      expect(await s.store.get('p'), 'a deleted key stays deleted').to.equal(undefined);
      await s.store.set('q', 'a', 1000);
      await s.advance(1001);
      expect(await s.store.setIfPresent('q', 'b', 1000)).to.equal(false);
      expect(await s.store.get('q'), 'an expired key stays expired').to.equal(undefined);
    });

    it('deleteIfEquals removes a live key holding that value only', async function () {
      await s.store.set('l', 'mine', 1000);
      expect(await s.store.deleteIfEquals('l', 'theirs')).to.equal(false);
      expect(await s.store.deleteIfEquals('l', 'min')).to.equal(false);
      expect(await s.store.get('l'), 'another value stays').to.equal('mine');
      expect(await s.store.deleteIfEquals('l', 'mine')).to.equal(true);
      expect(await s.store.get('l')).to.equal(undefined);
      expect(await s.store.deleteIfEquals('l', 'mine'), 'already gone').to.equal(false);
      // A lock that expired and was taken by another holder is not released by the first.
      expect(await s.store.setIfAbsent('lock', 'first', 1000)).to.equal(true);
      await s.advance(1001);
      expect(await s.store.deleteIfEquals('lock', 'first'), 'expired').to.equal(false);
      expect(await s.store.setIfAbsent('lock', 'second', 1000)).to.equal(true);
      expect(await s.store.deleteIfEquals('lock', 'first')).to.equal(false);
      expect(await s.store.get('lock')).to.equal('second');
      expect(await s.store.setIfAbsent('lock', 'third', 1000), 'still held').to.equal(false);
    });

    it('takes any positive finite TTL: fractions and far futures', async function () {
      await s.store.set('f', 'v', 1500.5);
      expect(await s.store.setIfAbsent('g', 'v', 0.5)).to.equal(true);
      expect(await s.store.setIfPresent('f', 'w', 1e20)).to.equal(true);
      expect(await s.store.get('f')).to.equal('w');
      expect(await s.store.get('g')).to.equal('v');
      await s.advance(1);
      expect(await s.store.get('g'), 'expired after its (fractional) TTL').to.equal(undefined);
      await s.advance(10 * 365 * 24 * 3_600_000);
      expect(await s.store.get('f'), 'a far-future TTL').to.equal('w');
    });

    it('treats keys as opaque strings', async function () {
      const keys = ["a'b", 'a"b', 'x%_y', '\u{1F600}', 'k\u0000nul', ' '.repeat(3)];
      for (const [i, key] of keys.entries()) await s.store.set(key, String(i));
      for (const [i, key] of keys.entries()) expect(await s.store.get(key)).to.equal(String(i));
    });

    it('rejects an empty key and a bad TTL with a TypeError', async function () {
      for (const run of [
        () => s.store.set('', 'v'),
        () => s.store.set('k', 'v', 0),
        () => s.store.set('k', 'v', -5),
        () => s.store.setIfAbsent('k', 'v', Number.NaN),
        () => s.store.setIfAbsent('k', 'v', Number.POSITIVE_INFINITY),
        () => s.store.setIfPresent('', 'v'),
        () => s.store.setIfPresent('k', 'v', 0),
        () => s.store.deleteIfEquals('', 'v'),
      ]) {
        let error: unknown;
        try {
          await run();
        } catch (e) {
          error = e;
        }
        expect(error).to.be.instanceOf(TypeError);
      }
    });

    it('closes idempotently', async function () {
      await s.store.close();
      await s.store.close();
    });
  });
}
