// The SAML session index under concurrency, on a real SQLite store (two connections, as two hosts
// sharing one file) and on the memory store.
import { type KeyValueStore, ManualClock, MemoryKeyValueStore } from '@authbridge/core';
import { SqliteKeyValueStore } from '@authbridge/core/sqlite';
import { SessionIndexStore } from '@authbridge/saml';
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HOUR = 3_600_000;

describe('SessionIndexStore', function () {
  let dir: string;
  const open: KeyValueStore[] = [];
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'authbridge-sidx-'));
  });
  afterEach(async function () {
    await Promise.all(open.splice(0).map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  function stores(): [string, () => [KeyValueStore, KeyValueStore]][] {
    return [
      [
        'two SQLite connections to one file',
        () => {
          const a = new SqliteKeyValueStore({ path: join(dir, 'kv.db') });
          const b = new SqliteKeyValueStore({ path: join(dir, 'kv.db') });
          open.push(a, b);
          return [a, b];
        },
      ],
      [
        'one memory store',
        () => {
          const m = new MemoryKeyValueStore();
          open.push(m);
          return [m, m];
        },
      ],
    ];
  }

  for (const [name, make] of stores()) {
    it(`keeps every session of concurrent logins of one NameID (${name})`, async function () {
      const clock = new ManualClock(Date.now());
      const [a, b] = make();
      const hostA = new SessionIndexStore(a, 'saml:corp', clock);
      const hostB = new SessionIndexStore(b, 'saml:corp', clock);
      const key = { idp: 'idp', nameId: 'alice', sessionIndex: 'idx-1' };
      const ids = Array.from({ length: 24 }, (_, i) => `local-${String(i)}`);
      // Read-modify-write without the lock loses most of these: each reads the same entry.
      await Promise.all(ids.map((id, i) => (i % 2 ? hostA : hostB).add(key, id, HOUR)));
      expect((await hostA.take('idp', 'alice', ['idx-1'])).sort()).to.deep.equal([...ids].sort());
      expect(await hostB.take('idp', 'alice', [])).to.deep.equal([]);
    });
  }

  it('a logout racing a login forgets neither the ended nor the new session', async function () {
    const clock = new ManualClock(Date.now());
    const store = new MemoryKeyValueStore();
    open.push(store);
    const index = new SessionIndexStore(store, 'saml:corp', clock);
    const key = { idp: 'idp', nameId: 'bob', sessionIndex: undefined };
    await index.add(key, 'old', HOUR);
    const [taken] = await Promise.all([index.take('idp', 'bob', []), index.add(key, 'new', HOUR)]);
    const rest = await index.take('idp', 'bob', []);
    // Whichever ran first, every id is taken exactly once.
    expect([...taken, ...rest].sort()).to.deep.equal(['new', 'old']);
  });

  it('a holder whose lock expired does not release the lock another host took since', async function () {
    const clock = new ManualClock(Date.now());
    const inner = new MemoryKeyValueStore({ clock });
    open.push(inner);
    const store = new HeldReads(inner);
    const hostA = new SessionIndexStore(store, 'saml:corp', clock);
    const hostB = new SessionIndexStore(store, 'saml:corp', clock);
    const key = { idp: 'idp', nameId: 'carol', sessionIndex: 'idx' };

    const a = hostA.add(key, 'from-a', HOUR);
    await store.held(1); // A holds the lock and is reading the entry...
    clock.advance(3_000); // ...for longer than the lock lives.
    const b = hostB.add(key, 'from-b', HOUR);
    await store.held(2); // B took the expired lock and is reading the entry.
    store.release(1);
    await a; // A is done and lets go of its lock.
    const lockKey = store.lockKeys[0]!;
    expect(await inner.get(lockKey), "B's lock is still held").to.not.equal(undefined);
    store.release(2);
    await b;
    expect(await inner.get(lockKey), 'B let go of it').to.equal(undefined);
  });
});

/**
 * A store whose entry reads (not lock operations) each wait, in order, until released: the n-th
 * such read is announced by `held(n)` and resumes on `release(n)`.
 */
class HeldReads extends MemoryKeyValueStore {
  readonly lockKeys: string[] = [];
  readonly inner: MemoryKeyValueStore;
  #reads = 0;
  readonly #reached = new Map<number, () => void>();
  readonly #reachedAt = new Map<number, Promise<void>>();
  readonly #gates = new Map<number, () => void>();
  readonly #gatesAt = new Map<number, Promise<void>>();

  constructor(inner: MemoryKeyValueStore) {
    super();
    this.inner = inner;
  }

  #slot(n: number): void {
    if (this.#reachedAt.has(n)) return;
    this.#reachedAt.set(n, new Promise((resolve) => this.#reached.set(n, resolve)));
    this.#gatesAt.set(n, new Promise((resolve) => this.#gates.set(n, resolve)));
  }

  held(n: number): Promise<void> {
    this.#slot(n);
    return this.#reachedAt.get(n)!;
  }

  release(n: number): void {
    this.#slot(n);
    this.#gates.get(n)!();
  }

  override async get(key: string): Promise<string | undefined> {
    const value = await this.inner.get(key);
    if (key.endsWith(':lock')) return value;
    const n = ++this.#reads;
    this.#slot(n);
    this.#reached.get(n)!();
    await this.#gatesAt.get(n);
    return value;
  }

  override set(key: string, value: string, ttlMs?: number): Promise<void> {
    return this.inner.set(key, value, ttlMs);
  }

  override async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (!this.lockKeys.includes(key)) this.lockKeys.push(key);
    return this.inner.setIfAbsent(key, value, ttlMs);
  }

  override setIfPresent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    return this.inner.setIfPresent(key, value, ttlMs);
  }

  override delete(key: string): Promise<boolean> {
    return this.inner.delete(key);
  }

  override deleteIfEquals(key: string, value: string): Promise<boolean> {
    return this.inner.deleteIfEquals(key, value);
  }
}
