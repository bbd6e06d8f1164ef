/**
 * The store behind sessions, replay caches and token caches.
 *
 * Values are strings (callers serialise), keys are the caller's to namespace. Kept small on
 * purpose so that every implementation (memory, SQLite, Redis) can make each call atomic.
 *
 * @packageDocumentation
 */

/** A key-value store with per-entry expiry. Every method may reject with STORE_UNAVAILABLE. */
export interface KeyValueStore {
  /** The value, or undefined when absent or expired. */
  get(key: string): Promise<string | undefined>;
  /** Writes `value`; with `ttlMs` it expires after that many milliseconds, else never. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /**
   * Writes `value` only if `key` is absent or expired, atomically: of any number of concurrent
   * calls for one key, exactly one returns true. SAML replay protection rests on this.
   */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /**
   * Overwrites `key` only if it is present and unexpired, atomically: a value deleted by someone
   * else is not brought back. Sessions rest on this (a logout elsewhere stays a logout).
   */
  setIfPresent(key: string, value: string, ttlMs?: number): Promise<boolean>;
  /** Removes `key`; true when something unexpired was there. */
  delete(key: string): Promise<boolean>;
  /**
   * Removes `key` only if it holds exactly `value` and is unexpired, atomically; true when it did.
   * Locks rest on this: a holder whose lock expired and was taken by another does not release the
   * other's.
   */
  deleteIfEquals(key: string, value: string): Promise<boolean>;
  /** Releases resources. Idempotent. */
  close(): Promise<void>;
}

/**
 * Validates a key and TTL once for every implementation.
 *
 * @throws {TypeError} for an empty key or a TTL that is not a positive finite number.
 */
export function assertKeyAndTtl(key: string, ttlMs: number | undefined): void {
  if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string');
  if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs > 0)) {
    throw new TypeError('ttlMs must be a positive, finite number of milliseconds');
  }
}
