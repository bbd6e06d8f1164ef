/**
 * A bounded read cache for one SQLite connection that stays coherent with every other connection
 * to the same file — the other stores of this process and other processes — through
 * `PRAGMA data_version`.
 *
 * @packageDocumentation
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Clock } from '../clock.js';
import { AuthBridgeError } from '../errors.js';

/**
 * Read-cache settings of an SQLite store. `false` turns the cache off: every read goes to the
 * file.
 */
export interface SqliteReadCacheOptions {
  /** Most entries kept (the oldest go first). Default 10 000. */
  readonly maxEntries?: number;
  /**
   * How long, in ms, cached reads are served before the file is checked again for commits by other
   * connections. A commit by another process is seen by every read that starts this long (plus
   * the clock's 1 ms resolution) after it; this process's own writes through the same store are
   * seen at once. 0 checks before every read. Default 10.
   */
  readonly coherenceMs?: number;
}

/** Read-cache settings with every default filled in. */
export interface ResolvedReadCacheOptions {
  readonly maxEntries: number;
  readonly coherenceMs: number;
}

const DEFAULT_MAX_ENTRIES = 10_000;
// 10 ms: far below anything a person or a network round trip can notice, while under load the
// check (a read transaction: file-lock system calls) runs once per hundreds of requests, not per few.
const DEFAULT_COHERENCE_MS = 10;

/**
 * Why a cache at all: one point read through `node:sqlite` costs a read transaction, i.e. file-lock
 * system calls, several microseconds even when the page is in memory — and the session and user
 * lookups run on every request. Checking `data_version` is itself a read transaction, so it runs at
 * most once per `coherenceMs`, not per read. When it changed (another connection committed), the
 * whole cache is dropped: we do not know what changed, and writes are rare next to reads.
 * `data_version` does not move for this connection's own commits, so the owning store must call
 * {@link ReadCache.delete} or {@link ReadCache.clear} on every write.
 */
export class ReadCache<V> {
  readonly #entries = new Map<string, V>();
  readonly #dataVersion: StatementSync;
  readonly #clock: Clock;
  readonly #maxEntries: number;
  readonly #coherenceMs: number;
  #version: unknown;
  #checkedAt = Number.NEGATIVE_INFINITY;

  constructor(db: DatabaseSync, clock: Clock, options: ResolvedReadCacheOptions) {
    this.#maxEntries = options.maxEntries;
    this.#coherenceMs = options.coherenceMs;
    this.#dataVersion = db.prepare('PRAGMA data_version');
    this.#clock = clock;
  }

  /**
   * The cached value, after making sure the cache may still be trusted. Call it and, on a miss,
   * read the file and {@link ReadCache.set} in the same synchronous step.
   */
  get(key: string): V | undefined {
    const now = this.#clock.now();
    if (now - this.#checkedAt >= this.#coherenceMs || now < this.#checkedAt) {
      this.#checkedAt = now;
      const version = (this.#dataVersion.get() as { data_version: unknown }).data_version;
      if (version !== this.#version) {
        this.#version = version;
        this.#entries.clear();
      }
    }
    // No reordering on a hit (so eviction is oldest-first, not least-recently-used): re-inserting
    // would store this request's fresh key string in a long-lived map, and the garbage collector
    // would then promote one string per request to the old generation.
    return this.#entries.get(key);
  }

  /** Keeps a value just read from the file. */
  set(key: string, value: V): void {
    this.#entries.set(key, value);
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  /** Forgets one key (this connection wrote it). */
  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Forgets everything (this connection wrote something the keys do not name). */
  clear(): void {
    this.#entries.clear();
  }
}

/**
 * Validates and completes a store's `readCache` option; `undefined` when caching is off. Called
 * before the store opens its file, so bad settings leave nothing open behind them.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID for a non-positive `maxEntries` or a negative
 * `coherenceMs`.
 */
export function resolveReadCacheOptions(
  options: SqliteReadCacheOptions | false | undefined,
): ResolvedReadCacheOptions | undefined {
  if (options === false) return undefined;
  const maxEntries = options?.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const coherenceMs = options?.coherenceMs ?? DEFAULT_COHERENCE_MS;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1)
    throw new AuthBridgeError('CONFIG_INVALID', 'readCache.maxEntries must be a positive integer');
  if (!Number.isFinite(coherenceMs) || coherenceMs < 0)
    throw new AuthBridgeError('CONFIG_INVALID', 'readCache.coherenceMs must be 0 or more');
  return Object.freeze({ maxEntries, coherenceMs });
}
