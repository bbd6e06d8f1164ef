import { ManualClock, MemoryKeyValueStore, MemoryUserStore } from '@authbridge/core';
import { SqliteKeyValueStore, SqliteUserStore } from '@authbridge/core/sqlite';
import {
  describeKeyValueStoreConformance,
  describeUserStoreConformance,
} from '@authbridge/conformance';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function tempDb(): { path: string; remove: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'authbridge-sqlite-'));
  return {
    path: join(dir, 'auth.db'),
    remove: async () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describeKeyValueStoreConformance('memory', async () => {
  const clock = new ManualClock(1_000_000);
  return {
    store: new MemoryKeyValueStore({ clock }),
    advance: async (ms) => {
      clock.advance(ms);
    },
  };
});

describeKeyValueStoreConformance('sqlite file', async () => {
  const clock = new ManualClock(1_000_000);
  const db = tempDb();
  return {
    store: new SqliteKeyValueStore({ path: db.path, clock }),
    advance: async (ms) => {
      clock.advance(ms);
    },
    teardown: db.remove,
  };
});

describeUserStoreConformance('memory', async () => ({ store: new MemoryUserStore() }));

describeUserStoreConformance('sqlite file', async () => {
  const db = tempDb();
  return { store: new SqliteUserStore({ path: db.path }), teardown: db.remove };
});
