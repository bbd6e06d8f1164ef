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
});
