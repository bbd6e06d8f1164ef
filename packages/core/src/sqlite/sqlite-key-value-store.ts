/**
 * A {@link KeyValueStore} in an SQLite file: survives restarts, shared by processes on one host.
 *
 * @packageDocumentation
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { type Clock, systemClock } from '../clock.js';
import { assertKeyAndTtl, type KeyValueStore } from '../stores/key-value-store.js';
import { runSqlite } from './map-sqlite-error.js';
import { ReadCache, resolveReadCacheOptions, type SqliteReadCacheOptions } from './read-cache.js';
import { openSqliteDatabase } from './sqlite-database.js';

/** Options for {@link SqliteKeyValueStore}. */
export interface SqliteKeyValueStoreOptions {
  /** Database file path, or `:memory:`. */
  readonly path: string;
  readonly clock?: Clock;
  /** Cache for `get` (sessions are read on every request). Default on; `false` turns it off. */
  readonly readCache?: SqliteReadCacheOptions | false;
}

interface CachedValue {
  readonly value: string;
  readonly expiresAt: number | null;
}

/**
 * The expiry column's value: a whole millisecond (the STRICT table's INTEGER refuses fractions),
 * rounded up so an entry never expires early, and within what SQLite and JavaScript both hold.
 */
function expiresAt(now: number, ttlMs: number): number {
  return Math.min(Math.ceil(now + ttlMs), Number.MAX_SAFE_INTEGER);
}

// Expired rows are invisible at once and deleted in bulk every this many writes.
const SWEEP_EVERY_WRITES = 1024;

/** Key-value rows with an expiry column. `setIfAbsent` is one atomic statement. */
export class SqliteKeyValueStore implements KeyValueStore {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #get: StatementSync;
  readonly #set: StatementSync;
  readonly #setIfAbsent: StatementSync;
  readonly #setIfPresent: StatementSync;
  readonly #delete: StatementSync;
  readonly #deleteIfEquals: StatementSync;
  readonly #sweep: StatementSync;
  readonly #cache: ReadCache<CachedValue> | undefined;
  #writes = 0;
  #closed = false;

  /** @throws {AuthBridgeError} STORE_UNAVAILABLE when the file cannot be opened. */
  constructor(options: SqliteKeyValueStoreOptions) {
    const cacheOptions = resolveReadCacheOptions(options.readCache);
    this.#db = openSqliteDatabase(options.path);
    this.#clock = options.clock ?? systemClock;
    this.#get = this.#db.prepare(
      'SELECT value, expires_at FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)',
    );
    this.#set = this.#db.prepare(
      'INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at',
    );
    // One statement: the row is overwritten only while it is there and unexpired.
    this.#setIfPresent = this.#db.prepare(
      'UPDATE kv SET value = ?, expires_at = ? WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)',
    );
    // The upsert only overwrites an expired row, so `changes` is 1 exactly when the key was free.
    this.#setIfAbsent = this.#db.prepare(
      'INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?',
    );
    this.#delete = this.#db.prepare('DELETE FROM kv WHERE key = ? RETURNING expires_at');
    // One statement, so nobody can take the key between the comparison and the delete.
    this.#deleteIfEquals = this.#db.prepare(
      'DELETE FROM kv WHERE key = ? AND value = ? AND (expires_at IS NULL OR expires_at > ?)',
    );
    this.#sweep = this.#db.prepare(
      'DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?',
    );
    this.#cache = cacheOptions && new ReadCache(this.#db, this.#clock, cacheOptions);
  }

  async get(key: string): Promise<string | undefined> {
    assertKeyAndTtl(key, undefined);
    return this.#run('get', () => {
      const now = this.#clock.now();
      const cached = this.#cache?.get(key);
      // An expired entry is gone for everyone at the same instant: no need to ask the file.
      if (cached !== undefined)
        return cached.expiresAt === null || cached.expiresAt > now ? cached.value : undefined;
      const row = this.#get.get(key, now) as
        { value: string; expires_at: number | null } | undefined;
      if (row === undefined) return undefined;
      this.#cache?.set(key, { value: row.value, expiresAt: row.expires_at });
      return row.value;
    });
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    assertKeyAndTtl(key, ttlMs);
    this.#cache?.delete(key);
    this.#run('set', () => this.#set.run(key, value, this.#expiry(ttlMs)));
    this.#afterWrite();
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    assertKeyAndTtl(key, ttlMs);
    this.#cache?.delete(key);
    const now = this.#clock.now();
    const result = this.#run('setIfAbsent', () =>
      this.#setIfAbsent.run(key, value, expiresAt(now, ttlMs), now),
    );
    this.#afterWrite();
    return Number(result.changes) === 1;
  }

  async setIfPresent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    assertKeyAndTtl(key, ttlMs);
    this.#cache?.delete(key);
    const now = this.#clock.now();
    const result = this.#run('setIfPresent', () =>
      this.#setIfPresent.run(value, this.#expiry(ttlMs), key, now),
    );
    this.#afterWrite();
    return Number(result.changes) === 1;
  }

  async delete(key: string): Promise<boolean> {
    assertKeyAndTtl(key, undefined);
    this.#cache?.delete(key);
    const row = this.#run('delete', () => this.#delete.get(key)) as
      { expires_at: number | null } | undefined;
    return row !== undefined && (row.expires_at === null || row.expires_at > this.#clock.now());
  }

  async deleteIfEquals(key: string, value: string): Promise<boolean> {
    assertKeyAndTtl(key, undefined);
    this.#cache?.delete(key);
    const now = this.#clock.now();
    const result = this.#run('deleteIfEquals', () => this.#deleteIfEquals.run(key, value, now));
    return Number(result.changes) === 1;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #expiry(ttlMs: number | undefined): number | null {
    return ttlMs === undefined ? null : expiresAt(this.#clock.now(), ttlMs);
  }

  #afterWrite(): void {
    if (++this.#writes % SWEEP_EVERY_WRITES === 0)
      this.#run('sweep', () => this.#sweep.run(this.#clock.now()));
  }

  #run<T>(operation: string, work: () => T): T {
    return runSqlite(this.#closed, operation, work);
  }
}
