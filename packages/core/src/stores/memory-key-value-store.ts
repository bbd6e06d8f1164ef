/**
 * An in-process {@link KeyValueStore}: for tests, the demo, and single-process deployments.
 *
 * @packageDocumentation
 */
import { type Clock, systemClock } from '../clock.js';
import { AuthBridgeError } from '../errors.js';
import { assertKeyAndTtl, type KeyValueStore } from './key-value-store.js';

interface Entry {
  readonly value: string;
  readonly expiresAt: number | undefined;
}

/** Options for {@link MemoryKeyValueStore}. */
export interface MemoryKeyValueStoreOptions {
  readonly clock?: Clock;
}

// Expired entries are dropped when read, and all of them every this many writes, so memory stays
// bounded by the live entries without a timer that would keep the process alive.
const SWEEP_EVERY_WRITES = 1024;

/** A Map with expiry. Every call is synchronous inside, hence atomic in one process. */
export class MemoryKeyValueStore implements KeyValueStore {
  readonly #entries = new Map<string, Entry>();
  readonly #clock: Clock;
  #writes = 0;
  #closed = false;

  constructor(options: MemoryKeyValueStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  /** Number of live (unexpired) entries; for tests and metrics. */
  get size(): number {
    this.#sweep();
    return this.#entries.size;
  }

  // The methods are async so that every failure, even a synchronous one, is a rejection.
  async get(key: string): Promise<string | undefined> {
    this.#assertOpen();
    assertKeyAndTtl(key, undefined);
    return this.#live(key)?.value;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.#assertOpen();
    assertKeyAndTtl(key, ttlMs);
    this.#write(key, value, ttlMs);
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    this.#assertOpen();
    assertKeyAndTtl(key, ttlMs);
    // No await between the check and the write: nothing else can run in between.
    if (this.#live(key)) return false;
    this.#write(key, value, ttlMs);
    return true;
  }

  async setIfPresent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    this.#assertOpen();
    assertKeyAndTtl(key, ttlMs);
    if (!this.#live(key)) return false;
    this.#write(key, value, ttlMs);
    return true;
  }

  async delete(key: string): Promise<boolean> {
    this.#assertOpen();
    assertKeyAndTtl(key, undefined);
    const existed = this.#live(key) !== undefined;
    this.#entries.delete(key);
    return existed;
  }

  async deleteIfEquals(key: string, value: string): Promise<boolean> {
    this.#assertOpen();
    assertKeyAndTtl(key, undefined);
    if (this.#live(key)?.value !== value) return false;
    this.#entries.delete(key);
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
  }

  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= this.#clock.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #write(key: string, value: string, ttlMs: number | undefined): void {
    const expiresAt = ttlMs === undefined ? undefined : this.#clock.now() + ttlMs;
    this.#entries.set(key, { value, expiresAt });
    if (++this.#writes % SWEEP_EVERY_WRITES === 0) this.#sweep();
  }

  #sweep(): void {
    const now = this.#clock.now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.#entries.delete(key);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new AuthBridgeError('CLOSED', 'Store is closed');
  }
}
