/**
 * Which local sessions a SAML session maps to, so an IdP-initiated logout ends the right ones
 * even without the browser's cookie: (IdP, NameID, SessionIndex) → local session ids, kept in
 * the core {@link KeyValueStore} (shared between hosts when the store is).
 *
 * @packageDocumentation
 */
import { AuthBridgeError, type Clock, type KeyValueStore } from '@authbridge/core';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

/** The SAML side of a login, as the session index keys it. */
export interface SamlSessionKey {
  readonly idp: string;
  readonly nameId: string;
  /** Absent when the IdP sent none: then only a logout naming no SessionIndex matches it. */
  readonly sessionIndex: string | undefined;
}

type Entries = Record<string, readonly string[]>;

/** What one store entry holds: session ids by SessionIndex, and when the entry expires. */
interface Stored {
  readonly exp: number;
  readonly e: Entries;
}

const NO_INDEX = '';

// The read-modify-write of one NameID's entry runs under a lock taken with the store's atomic
// setIfAbsent, so it also holds between hosts sharing the store. The lock expires on its own (a
// host that died holding it blocks others for LOCK_TTL_MS at most); waiting gives up after
// LOCK_WAIT_MS, longer than that, with STORE_UNAVAILABLE (fail closed).
const LOCK_TTL_MS = 2_000;
const LOCK_WAIT_MS = 5_000;

/** The session index over a key-value store. */
export class SessionIndexStore {
  readonly #store: KeyValueStore;
  readonly #prefix: string;
  readonly #clock: Clock;

  constructor(store: KeyValueStore, prefix: string, clock: Clock) {
    this.#store = store;
    this.#prefix = prefix;
    this.#clock = clock;
  }

  #key(idp: string, nameId: string): string {
    return `${this.#prefix}:sidx:${JSON.stringify([idp, nameId])}`;
  }

  async #read(key: string): Promise<{ exp: number; entries: Entries }> {
    const raw = await this.#store.get(key);
    // Null prototype: a SessionIndex named `__proto__` is just a key.
    const entries = Object.create(null) as Entries;
    if (raw === undefined) return { exp: 0, entries };
    const stored = JSON.parse(raw) as Stored;
    return { exp: stored.exp, entries: Object.assign(entries, stored.e) };
  }

  async #write(key: string, exp: number, entries: Entries): Promise<void> {
    const ttl = exp - this.#clock.now();
    if (Object.keys(entries).length === 0 || ttl <= 0) await this.#store.delete(key);
    else await this.#store.set(key, JSON.stringify({ exp, e: entries } satisfies Stored), ttl);
  }

  /**
   * Runs `work` holding the lock of `storeKey`. Concurrent logins and logouts of one NameID would
   * otherwise each read the entry and write it back, and one of them would forget a session id:
   * that session would then outlive the IdP's logout.
   */
  async #locked<T>(storeKey: string, work: () => Promise<T>): Promise<T> {
    const lockKey = `${storeKey}:lock`;
    const started = Date.now();
    let backoffMs = 1;
    // Real time, not the injected clock: this bounds a wait, it decides nothing about expiry.
    // The lock holds a value of its own: released below only if it is still ours.
    const holder = randomUUID();
    while (!(await this.#store.setIfAbsent(lockKey, holder, LOCK_TTL_MS))) {
      if (Date.now() - started > LOCK_WAIT_MS)
        throw new AuthBridgeError('STORE_UNAVAILABLE', undefined, {
          detail: 'saml session index: lock wait timed out',
        });
      await delay(backoffMs + Math.random() * backoffMs);
      backoffMs = Math.min(backoffMs * 2, 50);
    }
    try {
      return await work();
    } finally {
      // Not `delete`: had `work` outlasted LOCK_TTL_MS, the lock could be another holder's now.
      await this.#store.deleteIfEquals(lockKey, holder);
    }
  }

  /** Records that `localSessionId` belongs to `key`, for `ttlMs` (the session's lifetime). */
  async add(key: SamlSessionKey, localSessionId: string, ttlMs: number): Promise<void> {
    const storeKey = this.#key(key.idp, key.nameId);
    await this.#locked(storeKey, async () => {
      const { exp, entries } = await this.#read(storeKey);
      const index = key.sessionIndex ?? NO_INDEX;
      entries[index] = [...new Set([...(entries[index] ?? []), localSessionId])];
      await this.#write(storeKey, Math.max(exp, this.#clock.now() + Math.ceil(ttlMs)), entries);
    });
  }

  /**
   * Removes and returns the local sessions of `nameId` at `idp` with one of `sessionIndexes`;
   * all of that NameID's sessions when `sessionIndexes` is empty (SAML Core §3.7.3.2).
   */
  async take(idp: string, nameId: string, sessionIndexes: readonly string[]): Promise<string[]> {
    const storeKey = this.#key(idp, nameId);
    return this.#locked(storeKey, async () => {
      const { exp, entries } = await this.#read(storeKey);
      const taken: string[] = [];
      const wanted = sessionIndexes.length === 0 ? Object.keys(entries) : sessionIndexes;
      for (const index of wanted) {
        taken.push(...(entries[index] ?? []));
        // Deleting a missing key is harmless, and a null-prototype object has no inherited ones.
        // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- entries is a null-prototype map of SessionIndex → ids.
        delete entries[index];
      }
      await this.#write(storeKey, exp, entries);
      return [...new Set(taken)];
    });
  }
}
