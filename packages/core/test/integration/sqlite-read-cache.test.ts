import { expectRejection } from '@authbridge/conformance';
import { ManualClock } from '@authbridge/core';
import { SqliteKeyValueStore, SqliteUserStore } from '@authbridge/core/sqlite';
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Two stores on one file stand for two processes: each has its own SQLite connection, which is
// all PRAGMA data_version (and so the cache) can tell apart.
describe('SQLite read caches (two connections to one real file)', function () {
  let dir: string;
  let path: string;
  let clock: ManualClock;
  const open: { close(): Promise<void> }[] = [];
  function track<T extends { close(): Promise<void> }>(store: T): T {
    open.push(store);
    return store;
  }
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'authbridge-read-cache-'));
    path = join(dir, 'auth.db');
    clock = new ManualClock(1_000_000);
  });
  afterEach(async function () {
    await Promise.all(open.splice(0).map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  describe('SqliteUserStore.getById', function () {
    it('serves from the cache within coherenceMs and sees another connection’s commit after it', async function () {
      const a = track(new SqliteUserStore({ path, clock, readCache: { coherenceMs: 5 } }));
      const b = track(new SqliteUserStore({ path }));
      const user = await a.create({ username: 'alice' });
      expect((await a.getById(user.id))?.isActive).to.equal(true);
      await b.update(user.id, { isActive: false });
      // Inside the window the cached row is still served: that is the documented bound...
      expect((await a.getById(user.id))?.isActive).to.equal(true);
      clock.advance(5);
      // ...and once it has passed, the other connection's commit is seen.
      expect((await a.getById(user.id))?.isActive).to.equal(false);
    });

    it('sees another connection’s delete after coherenceMs', async function () {
      const a = track(new SqliteUserStore({ path, clock, readCache: { coherenceMs: 5 } }));
      const b = track(new SqliteUserStore({ path }));
      const user = await a.create({ username: 'alice' });
      await a.getById(user.id);
      expect(await b.delete(user.id)).to.equal(true);
      clock.advance(5);
      expect(await a.getById(user.id)).to.equal(undefined);
    });

    it('sees its own writes at once, whatever the window', async function () {
      const a = track(new SqliteUserStore({ path, clock, readCache: { coherenceMs: 60_000 } }));
      const user = await a.create({ username: 'alice', permissions: ['app.view'] });
      await a.getById(user.id);
      await a.update(user.id, { permissions: [] });
      expect((await a.getById(user.id))?.permissions).to.deep.equal([]);
      await a.setPassword(user.id, undefined);
      const after = await a.getById(user.id);
      expect(after?.sessionVersion).to.not.equal(user.sessionVersion);
      await a.delete(user.id);
      expect(await a.getById(user.id)).to.equal(undefined);
    });

    it('caches identity links the same way: another connection’s link after the window, its own at once', async function () {
      const a = track(new SqliteUserStore({ path, clock, readCache: { coherenceMs: 5 } }));
      const b = track(new SqliteUserStore({ path, clock }));
      const user = await a.create({ username: 'alice' });
      const ldap = { backendId: 'ldap', issuer: 'ldap://dc1', subject: 'alice-guid' };
      const rest = { backendId: 'rest', issuer: 'https://as', subject: 'alice' };
      expect(await a.identitiesOf(user.id)).to.deep.equal([]);
      await b.link(user.id, ldap);
      expect(await a.identitiesOf(user.id)).to.deep.equal([]);
      clock.advance(5);
      expect(await a.identitiesOf(user.id)).to.deep.equal([ldap]);
      await a.link(user.id, rest);
      expect(await a.identitiesOf(user.id)).to.deep.equal([ldap, rest]);
      expect(Object.isFrozen(await a.identitiesOf(user.id))).to.equal(true);
    });

    it('checks the file before every read with coherenceMs 0, and not at all when off', async function () {
      const exact = track(new SqliteUserStore({ path, clock, readCache: { coherenceMs: 0 } }));
      const off = track(new SqliteUserStore({ path, clock, readCache: false }));
      const b = track(new SqliteUserStore({ path }));
      const user = await b.create({ username: 'alice' });
      await exact.getById(user.id);
      await off.getById(user.id);
      await b.update(user.id, { username: 'alice2' });
      expect((await exact.getById(user.id))?.username).to.equal('alice2');
      expect((await off.getById(user.id))?.username).to.equal('alice2');
    });

    it('keeps at most maxEntries, evicting the oldest', async function () {
      const a = track(
        new SqliteUserStore({ path, clock, readCache: { maxEntries: 1, coherenceMs: 60_000 } }),
      );
      const b = track(new SqliteUserStore({ path }));
      const u1 = await a.create({ username: 'u1' });
      const u2 = await a.create({ username: 'u2' });
      await a.getById(u1.id);
      await a.getById(u2.id); // evicts u1
      await b.update(u1.id, { username: 'u1-new' });
      await b.update(u2.id, { username: 'u2-new' });
      // u2 is still cached (the window is long); u1 was evicted, so it is read from the file.
      expect((await a.getById(u2.id))?.username).to.equal('u2');
      expect((await a.getById(u1.id))?.username).to.equal('u1-new');
    });

    it('refuses bad cache settings with CONFIG_INVALID before opening the file', async function () {
      for (const readCache of [{ maxEntries: 0 }, { maxEntries: 1.5 }, { coherenceMs: -1 }]) {
        await expectRejection(
          Promise.resolve().then(() => track(new SqliteUserStore({ path, readCache }))),
          'CONFIG_INVALID',
        );
        await expectRejection(
          Promise.resolve().then(() => track(new SqliteKeyValueStore({ path, readCache }))),
          'CONFIG_INVALID',
        );
      }
      expect(existsSync(path), 'no database file left behind').to.equal(false);
    });
  });

  describe('SqliteKeyValueStore.get', function () {
    it('sees another connection’s delete after coherenceMs (a logout in another process)', async function () {
      const a = track(new SqliteKeyValueStore({ path, clock, readCache: { coherenceMs: 5 } }));
      const b = track(new SqliteKeyValueStore({ path, clock }));
      await a.set('session:x', 'data', 60_000);
      expect(await a.get('session:x')).to.equal('data');
      expect(await b.delete('session:x')).to.equal(true);
      expect(await a.get('session:x')).to.equal('data');
      clock.advance(5);
      expect(await a.get('session:x')).to.equal(undefined);
    });

    it('sees its own writes and deletes at once', async function () {
      const a = track(new SqliteKeyValueStore({ path, clock, readCache: { coherenceMs: 60_000 } }));
      await a.set('k', 'v1', 60_000);
      expect(await a.get('k')).to.equal('v1');
      await a.set('k', 'v2', 60_000);
      expect(await a.get('k')).to.equal('v2');
      await a.delete('k');
      expect(await a.get('k')).to.equal(undefined);
      expect(await a.setIfAbsent('k', 'v3', 60_000)).to.equal(true);
      expect(await a.get('k')).to.equal('v3');
    });

    it('never serves a cached value past its expiry', async function () {
      const a = track(new SqliteKeyValueStore({ path, clock, readCache: { coherenceMs: 60_000 } }));
      await a.set('k', 'v', 1_000);
      expect(await a.get('k')).to.equal('v');
      clock.advance(999);
      expect(await a.get('k')).to.equal('v');
      clock.advance(1);
      expect(await a.get('k')).to.equal(undefined);
    });
  });
});
