/**
 * A bounded, least-recently-used map whose entries expire on an injectable clock.
 *
 * @packageDocumentation
 */
import type { Clock } from '@authbridge/core';

interface Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
  /** The insertion count when this entry last moved to the young end. */
  tick: number;
}

/**
 * A `Map` in insertion order is an LRU list for free: a hit is moved to the end by deleting and
 * re-inserting it, and the first key is the one evicted.
 *
 * Moving costs a delete and an insert on every hit, which is a tenth of a cached token check. So
 * a hit moves its entry only when at least half the capacity has been inserted since the entry
 * last moved: an entry used at least that often is never the oldest, so the bound and the
 * "busy entries stay" property hold while most hits are a plain lookup.
 */
export class LruTtlCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #maxEntries: number;
  readonly #moveAfter: number;
  readonly #clock: Clock;
  #tick = 0;

  constructor(maxEntries: number, clock: Clock) {
    this.#maxEntries = maxEntries;
    this.#moveAfter = Math.floor(maxEntries / 2);
    this.#clock = clock;
  }

  /** The value, or undefined when absent or expired (an expired entry is dropped). */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    // `>=`: an entry whose expiry is now is already gone, so a cache never outlives a token's exp.
    if (this.#clock.now() >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    if (this.#tick - entry.tick >= this.#moveAfter) {
      this.#entries.delete(key);
      this.#tick += 1;
      entry.tick = this.#tick;
      this.#entries.set(key, entry);
    }
    return entry.value;
  }

  /** The absolute expiry (clock ms) of a live entry, else undefined. Does not touch LRU order. */
  expiresAt(key: string): number | undefined {
    const entry = this.#entries.get(key);
    return entry === undefined || this.#clock.now() >= entry.expiresAt
      ? undefined
      : entry.expiresAt;
  }

  /** Stores `value` until `expiresAt` (clock ms); a time not in the future stores nothing. */
  set(key: string, value: V, expiresAt: number): void {
    this.#entries.delete(key);
    if (!(expiresAt > this.#clock.now())) return;
    this.#tick += 1;
    this.#entries.set(key, { value, expiresAt, tick: this.#tick });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }

  delete(key: string): boolean {
    return this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Entries held, expired ones included until they are touched or evicted. */
  get size(): number {
    return this.#entries.size;
  }
}
