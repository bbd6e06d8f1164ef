import { expectRejection } from '@authbridge/conformance';
import { findByTypedUsername, LocalPasswordBackend } from '@authbridge/core';
import { SCHEMA_VERSION, SqliteKeyValueStore, SqliteUserStore } from '@authbridge/core/sqlite';
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const childScript = fileURLToPath(new URL('../fixtures/provision-forever.ts', import.meta.url));

describe('SQLite stores (real files)', function () {
  let dir: string;
  let path: string;
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'authbridge-sqlite-'));
    path = join(dir, 'auth.db');
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('migrates once and reopens an existing file', async function () {
    const a = new SqliteUserStore({ path });
    const user = await a.create({ username: 'admin' });
    await a.close();
    const b = new SqliteUserStore({ path });
    expect((await b.getById(user.id))?.username).to.equal('admin');
    await b.close();
    const raw = new DatabaseSync(path);
    expect(raw.prepare('PRAGMA user_version').get()).to.deep.equal({
      user_version: SCHEMA_VERSION,
    });
    raw.close();
  });

  it('keeps a username stored before normalization until it is renamed', async function () {
    const store = new SqliteUserStore({ path, readCache: false });
    await store.create({ username: 'admin' });
    const lookalike = await store.create({ username: 'impostor' });
    // A file from before usernames were normalized: `ａｄｍｉｎ` beside `admin`.
    const raw = new DatabaseSync(path);
    raw
      .prepare('UPDATE users SET username = ? WHERE id = ?')
      .run('\uFF41\uFF44\uFF4D\uFF49\uFF4E', lookalike.id);
    raw.close();
    // Deactivating it must not rename it onto `admin` (a clash), nor anywhere else.
    const deactivated = await store.update(lookalike.id, { isActive: false });
    expect(deactivated).to.include({ username: '\uFF41\uFF44\uFF4D\uFF49\uFF4E', isActive: false });
    const renamed = await store.update(lookalike.id, { username: '\uFF4C\uFF4F\uFF4F\uFF4B' });
    expect(renamed.username).to.equal('look');
    await store.close();
  });

  it('lets a local user stored before normalization log in by the name as typed', async function () {
    const store = new SqliteUserStore({ path, readCache: false });
    const local = new LocalPasswordBackend({ store, scrypt: { logN: 10, r: 8, p: 1 } });
    const taro = await local.createUser({ username: 'taro' }, 'taro-password');
    // A file from before: the name as typed with the IME on (fullwidth), not NFKC.
    const raw = new DatabaseSync(path);
    raw
      .prepare('UPDATE users SET username = ? WHERE id = ?')
      .run('\uFF54\uFF41\uFF52\uFF4F', taro.id);
    raw.close();
    const login = (username: string) =>
      local.authenticate(undefined, { username, password: 'taro-password' });
    expect((await login('\uFF54\uFF41\uFF52\uFF4F'))?.id).to.equal(taro.id);
    expect(await findByTypedUsername(store, '\uFF54\uFF41\uFF52\uFF4F')).to.include({
      id: taro.id,
    });
    // An NFKC-stored user wins over such a row: it is what the name means now.
    const modern = await local.createUser({ username: 'taro' }, 'other-password-1');
    expect((await findByTypedUsername(store, '\uFF54\uFF41\uFF52\uFF4F'))?.id).to.equal(modern.id);
    await store.close();
  });

  it('refuses a file written by a newer schema with STORE_UNAVAILABLE', async function () {
    const raw = new DatabaseSync(path);
    raw.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    await expectRejection(
      Promise.resolve().then(() => new SqliteUserStore({ path })),
      'STORE_UNAVAILABLE',
    );
  });

  it('shares state between two connections to one file (two processes on one host)', async function () {
    const a = new SqliteKeyValueStore({ path });
    const b = new SqliteKeyValueStore({ path });
    expect(await a.setIfAbsent('assertion:1', 'x', 60_000)).to.equal(true);
    expect(await b.setIfAbsent('assertion:1', 'y', 60_000)).to.equal(false);
    await Promise.all([a.close(), b.close()]);
  });

  it('fails closed with STORE_UNAVAILABLE when the file cannot be opened', async function () {
    await expectRejection(
      Promise.resolve().then(() => new SqliteKeyValueStore({ path: join(dir, 'missing', 'x.db') })),
      'STORE_UNAVAILABLE',
    );
  });

  it('leaves no half-created user when the process is killed mid-write', async function () {
    this.timeout(60_000);
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', childScript, path], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => {
          resolve();
        });
        child.once('exit', (code) => {
          reject(new Error(`child exited early with ${String(code)}`));
        });
      });
      await delay(50 + Math.floor(Math.random() * 150));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    const raw = new DatabaseSync(path);
    const users = raw.prepare('SELECT count(*) AS n FROM users').get() as { n: number };
    const orphans = raw
      .prepare(
        'SELECT count(*) AS n FROM users u WHERE NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id)',
      )
      .get() as { n: number };
    const check = raw.prepare('PRAGMA integrity_check').get() as { integrity_check: string };
    raw.close();
    expect(users.n, 'users written before the kills').to.be.greaterThan(3);
    expect(orphans.n, 'users without their identity link').to.equal(0);
    expect(check.integrity_check).to.equal('ok');
  });
});
