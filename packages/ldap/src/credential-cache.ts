/**
 * The optional credential cache: a repeat login with the same username and password within the
 * TTL is answered without asking the directory.
 *
 * Only an HMAC-SHA256 of the length-prefixed username and password is kept, under a random key
 * made per process (so a heap dump or a leaked cache is useless offline), compared in constant
 * time. Concurrent logins with the same credentials share one directory round trip
 * (single-flight). Revocation delay: a password change, lock or deletion in the directory takes
 * effect for cached credentials only when the entry expires (the TTL).
 *
 * @packageDocumentation
 */
import type { Clock } from '@authbridge/core';
import { createHmac, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { TtlCache } from './ttl-cache.js';

/** Caches a value per (username, password), keyed by username, verified by HMAC. */
export class CredentialCache<V> {
  // A KeyObject, not a Buffer: createHmac re-imports a Buffer key on every call (~6x slower).
  readonly #key = createSecretKey(randomBytes(32));
  readonly #cache: TtlCache<string, { mac: Buffer; value: V }>;
  readonly #inFlight = new Map<string, Promise<V>>();

  constructor(ttlMs: number, maxEntries: number, clock: Clock) {
    this.#cache = new TtlCache(ttlMs, maxEntries, clock);
  }

  /** Whether the cache is on. */
  get enabled(): boolean {
    return this.#cache.enabled;
  }

  #mac(username: string, password: string): Buffer {
    const u = Buffer.from(username, 'utf8');
    const p = Buffer.from(password, 'utf8');
    const len = Buffer.alloc(8);
    // Length prefixes: ("ab", "c") and ("a", "bc") must not collide.
    len.writeUInt32BE(u.length, 0);
    len.writeUInt32BE(p.length, 4);
    return createHmac('sha256', this.#key).update(len).update(u).update(p).digest();
  }

  /**
   * The cached value for these credentials, or the result of `load` (cached only when `keep`
   * says so, e.g. only successful logins). Concurrent identical calls share one `load`.
   */
  async get(
    username: string,
    password: string,
    load: () => Promise<V>,
    keep: (value: V) => boolean,
  ): Promise<V> {
    if (!this.enabled) return load();
    const mac = this.#mac(username, password);
    const hit = this.#cache.get(username);
    if (hit !== undefined && timingSafeEqual(hit.mac, mac)) return hit.value;
    const flightKey = `${username}\u0000${mac.toString('base64')}`;
    const pending = this.#inFlight.get(flightKey);
    if (pending !== undefined) return pending;
    const p = load()
      .then((value) => {
        if (keep(value)) this.#cache.set(username, { mac, value });
        return value;
      })
      .finally(() => this.#inFlight.delete(flightKey));
    this.#inFlight.set(flightKey, p);
    return p;
  }

  /** Forgets a user (e.g. after a failed login with other credentials). */
  forget(username: string): void {
    this.#cache.delete(username);
  }

  clear(): void {
    this.#cache.clear();
  }
}
