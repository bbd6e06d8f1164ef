import {
  Authenticator,
  AuthBridgeError,
  LocalPasswordBackend,
  MemoryUserStore,
  type PasswordCredentials,
  type PasswordHasher,
  type ScryptParams,
  scryptHasher,
  type UserStore,
} from '@authbridge/core';
import { describeBackendConformance, expectRejection } from '@authbridge/conformance';
import { expect } from 'chai';

// Cheap parameters keep 100 logins fast; the defaults are tested in password-hasher.test.ts.
const fast = { logN: 10, r: 8, p: 1 };

// The scrypt hasher, logging each call with the logN of its hash (`?` for a malformed one): the
// work a login does, without measuring time.
function loggingHasher(): PasswordHasher & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    hash(password, params) {
      log.push(`hash:${params.logN}`);
      return scryptHasher.hash(password, params);
    },
    verify(password, encoded) {
      log.push(`verify:${/^scrypt\$(\d+)\$/.exec(encoded)?.[1] ?? '?'}`);
      return scryptHasher.verify(password, encoded);
    },
  };
}

describeBackendConformance<PasswordCredentials>({
  name: 'LocalPasswordBackend',
  async setup() {
    const store = new MemoryUserStore();
    const backend = new LocalPasswordBackend({ store, scrypt: fast });
    const users = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const username = `user${String(i).padStart(3, '0')}`;
        await backend.createUser({ username }, `pw-${username}`);
        return { username, credentials: { username, password: `pw-${username}` } };
      }),
    );
    return {
      backend,
      users,
      wrongSecret: { username: 'user000', password: 'wrong' },
      unknownUser: { username: 'nobody', password: 'wrong' },
      foreignCredentials: [
        { username: 'a' },
        { password: 'b' },
        { username: 1, password: 'x' },
        { token: 'abc' },
      ],
      teardown: () => store.close(),
    };
  },
});

describe('LocalPasswordBackend', function () {
  let store: MemoryUserStore;
  let backend: LocalPasswordBackend;

  beforeEach(async function () {
    store = new MemoryUserStore();
    backend = new LocalPasswordBackend({
      store,
      scrypt: fast,
      groupPermissions: { editors: ['wiki.edit'] },
    });
  });

  it('refuses empty usernames and passwords, and oversized input, before touching the store', async function () {
    let lookups = 0;
    const counting = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'getByUsername') lookups += 1;
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const b = new LocalPasswordBackend({ store: counting, scrypt: fast });
    for (const c of [
      { username: '', password: 'x' },
      { username: 'x', password: '' },
      { username: 'x', password: 'p'.repeat(5000) },
    ]) {
      expect(await b.authenticate(undefined, c)).to.equal(null);
    }
    expect(lookups).to.equal(0);
  });

  it('refuses inactive users at login and on reload, unless allowInactive', async function () {
    const user = await backend.createUser({ username: 'bob', isActive: false }, 'pw');
    expect(await backend.authenticate(undefined, { username: 'bob', password: 'pw' })).to.equal(
      null,
    );
    expect(await backend.getUser(user.id)).to.equal(null);
    const lenient = new LocalPasswordBackend({ store, scrypt: fast, allowInactive: true });
    expect(
      (await lenient.authenticate(undefined, { username: 'bob', password: 'pw' }))?.isActive,
    ).to.equal(false);
  });

  it('makes a user deactivated mid-session anonymous on the next getUser', async function () {
    const user = await backend.createUser({ username: 'carol' }, 'pw');
    const auth = new Authenticator({ backends: [backend] });
    expect((await auth.getUser(user.id, 'local')).isAuthenticated).to.equal(true);
    await store.update(user.id, { isActive: false });
    expect((await auth.getUser(user.id, 'local')).isAuthenticated).to.equal(false);
  });

  it('rotates the session version when the password is set, but not on a rehash at login', async function () {
    const weak = new LocalPasswordBackend({ store, scrypt: { logN: 9, r: 8, p: 1 } });
    const created = await weak.createUser({ username: 'dan' }, 'pw');
    const loggedIn = await backend.authenticate(undefined, { username: 'dan', password: 'pw' });
    expect(loggedIn?.sessionVersion).to.equal(created.sessionVersion);
    expect((await store.getById(created.id))?.passwordHash).to.match(/^scrypt\$10\$/);
    const changed = await backend.setPassword(created.id, 'new');
    expect(changed.sessionVersion).to.not.equal(created.sessionVersion);
    expect(await backend.authenticate(undefined, { username: 'dan', password: 'pw' })).to.equal(
      null,
    );
    expect(
      (await backend.authenticate(undefined, { username: 'dan', password: 'new' }))?.username,
    ).to.equal('dan');
  });

  it('does not let a rehash at login undo a password reset made while it ran', async function () {
    const weak = new LocalPasswordBackend({ store, scrypt: { logN: 9, r: 8, p: 1 } });
    const created = await weak.createUser({ username: 'fay' }, 'old-pw');
    // The reset lands between the login's read of the user and its rehash write.
    let reset: Promise<unknown> | undefined;
    const racing = new (class extends MemoryUserStore {
      override async getByUsername(username: string) {
        const found = await store.getByUsername(username);
        reset ??= backend.setPassword(created.id, 'new-pw');
        await reset;
        return found;
      }
      override setPassword(...args: Parameters<MemoryUserStore['setPassword']>) {
        return store.setPassword(...args);
      }
    })();
    const rehashing = new LocalPasswordBackend({ store: racing, scrypt: fast });
    const login = await rehashing.authenticate(undefined, { username: 'fay', password: 'old-pw' });
    expect(login, 'the old password no longer logs in').to.equal(null);
    expect(
      (await backend.authenticate(undefined, { username: 'fay', password: 'new-pw' }))?.username,
    ).to.equal('fay');
    expect(await backend.authenticate(undefined, { username: 'fay', password: 'old-pw' })).to.equal(
      null,
    );
  });

  it('logs in both of two concurrent logins that upgrade the same hash', async function () {
    const weak = new LocalPasswordBackend({ store, scrypt: { logN: 9, r: 8, p: 1 } });
    const created = await weak.createUser({ username: 'gil' }, 'pw');
    // Both logins read the user (and its old hash) before either rehashes: one write wins, the
    // other is refused as written over a hash it did not check.
    let arrived = 0;
    let release: () => void = () => undefined;
    const bothRead = new Promise<void>((resolve) => (release = resolve));
    const racing = new (class extends MemoryUserStore {
      override async getByUsername(username: string) {
        const found = await store.getByUsername(username);
        if (++arrived === 2) release();
        await bothRead;
        return found;
      }
      override setPassword(...args: Parameters<MemoryUserStore['setPassword']>) {
        return store.setPassword(...args);
      }
    })();
    const { auth, failed } = countingFailures(racing);
    const logins = await Promise.all([
      auth.authenticate(undefined, { username: 'gil', password: 'pw' }),
      auth.authenticate(undefined, { username: 'gil', password: 'pw' }),
    ]);
    expect(logins.map((u) => u?.username)).to.deep.equal(['gil', 'gil']);
    expect(logins.map((u) => u?.sessionVersion)).to.deep.equal([
      created.sessionVersion,
      created.sessionVersion,
    ]);
    expect(failed()).to.equal(0);
    expect((await store.getById(created.id))?.passwordHash).to.match(/^scrypt\$10\$/);
  });

  it('fails a login (null, not NOT_FOUND) whose user is deleted before its rehash is written', async function () {
    const weak = new LocalPasswordBackend({ store, scrypt: { logN: 9, r: 8, p: 1 } });
    const created = await weak.createUser({ username: 'hal' }, 'pw');
    const racing = new (class extends MemoryUserStore {
      override getByUsername(username: string) {
        return store.getByUsername(username);
      }
      override async setPassword(...args: Parameters<MemoryUserStore['setPassword']>) {
        await store.delete(created.id);
        return store.setPassword(...args);
      }
    })();
    const { auth, failed } = countingFailures(racing);
    expect(await auth.authenticate(undefined, { username: 'hal', password: 'pw' })).to.equal(null);
    expect(failed()).to.equal(1);
  });

  it('makes a wrong password for an old, weaker hash pay the difference to the current parameters (harden_runtime)', async function () {
    const weak = new LocalPasswordBackend({ store, scrypt: { logN: 9, r: 8, p: 1 } });
    await weak.createUser({ username: 'old' }, 'pw');
    await backend.createUser({ username: 'new' }, 'pw');
    await new LocalPasswordBackend({ store, scrypt: { logN: 11, r: 8, p: 1 } }).createUser(
      { username: 'strong' },
      'pw',
    );
    await store.create({ username: 'corrupt', passwordHash: 'not-a-hash' });
    const hasher = loggingHasher();
    const logged = new LocalPasswordBackend({ store, scrypt: fast, hasher });
    const work = async (username: string, password = 'wrong'): Promise<string[]> => {
      hasher.log.length = 0;
      await logged.authenticate(undefined, { username, password });
      return [...hasher.log];
    };
    // The dummy hash is made once, on the first login that needs it.
    expect(await work('nobody')).to.deep.equal(['hash:10', 'verify:10']);
    expect(await work('nobody'), 'unknown user').to.deep.equal(['verify:10']);
    expect(await work('new'), 'current hash').to.deep.equal(['verify:10']);
    // logN 9 against 10: half the work is missing, made up by a check at the current N with half
    // the block size (2^10 · r 4), against a dummy hash of its own.
    expect(await work('old'), 'weaker hash').to.deep.equal(['verify:9', 'hash:10', 'verify:10']);
    expect(await work('old'), 'its dummy hash is kept').to.deep.equal(['verify:9', 'verify:10']);
    expect(await work('corrupt'), 'malformed hash').to.deep.equal(['verify:?', 'verify:10']);
    expect(await work('strong'), 'stronger hash: nothing to add').to.deep.equal(['verify:11']);
    // The right password is not slowed down: it pays for the rehash instead.
    expect(await work('old', 'pw')).to.deep.equal(['verify:9', 'hash:10']);
  });

  it('normalizes the typed username (NFKC) before the lookup, as the store does on create', async function () {
    await backend.createUser({ username: 'admin' }, 'pw');
    const fullwidth = '\uFF41\uFF44\uFF4D\uFF49\uFF4E'; // ａｄｍｉｎ
    expect(
      (await backend.authenticate(undefined, { username: fullwidth, password: 'pw' }))?.username,
    ).to.equal('admin');
    await backend.createUser({ username: 'Jos\u00e9' }, 'pw');
    expect(
      (await backend.authenticate(undefined, { username: 'Jose\u0301', password: 'pw' }))?.username,
    ).to.equal('Jos\u00e9');
  });

  it('answers permissions from the user and its groups, never for objects or inactive users', async function () {
    const user = await backend.createUser(
      { username: 'eve', groups: ['editors'], permissions: ['wiki.view'] },
      'pw',
    );
    const auth = new Authenticator({ backends: [backend] });
    expect([...(await auth.getAllPermissions(user))].sort()).to.deep.equal([
      'wiki.edit',
      'wiki.view',
    ]);
    expect(await auth.hasPerm(user, 'wiki.edit')).to.equal(true);
    expect(await auth.hasPerm(user, 'wiki.edit', { page: 1 })).to.equal(false);
    expect(await auth.hasModulePerms(user, 'wiki')).to.equal(true);
    const inactive = { ...user, isActive: false };
    expect((await backend.getAllPermissions(inactive)).size).to.equal(0);
  });

  it('makes the dummy hash again after a failed attempt (a full queue) rather than keep the failure', async function () {
    let hashes = 0;
    const flaky: PasswordHasher = {
      hash: (password, params) =>
        ++hashes === 1
          ? Promise.reject(new AuthBridgeError('BACKEND_UNAVAILABLE'))
          : scryptHasher.hash(password, params),
      verify: scryptHasher.verify,
    };
    const b = new LocalPasswordBackend({ store, scrypt: fast, hasher: flaky });
    await expectRejection(
      b.authenticate(undefined, { username: 'nobody', password: 'x' }),
      'BACKEND_UNAVAILABLE',
    );
    expect(await b.authenticate(undefined, { username: 'nobody', password: 'x' })).to.equal(null);
    expect(hashes).to.equal(2);
  });

  it('calls a hasher as an object (a class instance may use this)', async function () {
    class CountingHasher implements PasswordHasher {
      calls = 0;
      hash(password: string, params: ScryptParams): Promise<string> {
        this.calls++;
        return scryptHasher.hash(password, params);
      }
      verify(password: string, encoded: string): Promise<boolean> {
        this.calls++;
        return scryptHasher.verify(password, encoded);
      }
    }
    const hasher = new CountingHasher();
    const counted = new LocalPasswordBackend({ store, scrypt: fast, hasher });
    await counted.createUser({ username: 'ida' }, 'pw');
    expect(
      (await counted.authenticate(undefined, { username: 'ida', password: 'pw' }))?.username,
    ).to.equal('ida');
    expect(hasher.calls).to.equal(2);
  });

  it('runs at most maxConcurrentHashes hashes at once and refuses logins beyond the queue', async function () {
    // A hasher whose checks end only when the test says so: what is running, and what waits.
    const started: (() => void)[] = [];
    const held: PasswordHasher = {
      hash: scryptHasher.hash,
      verify: () =>
        new Promise<boolean>((resolve) => {
          started.push(() => {
            resolve(false);
          });
        }),
    };
    const users = new MemoryUserStore();
    await new LocalPasswordBackend({ store: users, scrypt: fast }).createUser(
      { username: 'gil' },
      'gil-password',
    );
    const gated = new LocalPasswordBackend({
      store: users,
      scrypt: fast,
      hasher: held,
      maxConcurrentHashes: 2,
      maxQueuedHashes: 1,
    });
    const attempt = () => gated.authenticate(undefined, { username: 'gil', password: 'wrong' });
    const first = [attempt(), attempt(), attempt()];
    await new Promise((resolve) => setImmediate(resolve));
    expect(started, 'two run, one waits').to.have.length(2);
    // The queue is full: the next login is refused at once (503), not left to pile up.
    await expectRejection(attempt(), 'BACKEND_UNAVAILABLE');
    started.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started, 'the waiting one took the freed place').to.have.length(2);
    for (const release of started.splice(0)) release();
    expect(await Promise.all(first)).to.deep.equal([null, null, null]);
    // All done: logins run again.
    const later = attempt();
    await new Promise((resolve) => setImmediate(resolve));
    started.shift()!();
    expect(await later).to.equal(null);
  });

  it('refuses a bad configuration with CONFIG_INVALID', function () {
    for (const bad of [
      {},
      { store, id: '' },
      { store, scrypt: { logN: 99, r: 8, p: 1 } },
      { store, groupPermissions: { g: 'x' } },
      { store, hasher: { hash: scryptHasher.hash } },
      { store, maxConcurrentHashes: 0 },
      { store, maxQueuedHashes: -1 },
      { store, maxConcurrentHashes: 1.5 },
    ]) {
      expect(() => new LocalPasswordBackend(bad as never))
        .to.throw(AuthBridgeError)
        .with.property('code', 'CONFIG_INVALID');
    }
  });

  it('does the same hashing work for an unknown user as for a wrong password (statistical bound)', async function () {
    this.timeout(60_000);
    // Realistic cost so the difference, if any, would dwarf noise: without the dummy hash an
    // unknown user answers ~1000x faster than a wrong password.
    const real = new LocalPasswordBackend({ store, scrypt: { logN: 14, r: 8, p: 1 } });
    await real.createUser({ username: 'frank' }, 'pw');
    const time = async (username: string): Promise<number> => {
      const start = process.hrtime.bigint();
      await real.authenticate(undefined, { username, password: 'wrong' });
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    await time('nobody'); // the dummy hash is made lazily on the first unknown user
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 15; i++) {
      unknown.push(await time(`nobody${i}`));
      wrong.push(await time('frank'));
    }
    const median = (xs: number[]): number =>
      [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratio = median(unknown) / median(wrong);
    expect(ratio, `median unknown ${median(unknown)} ms vs wrong ${median(wrong)} ms`).to.be.within(
      0.5,
      2,
    );
  });
});

// An Authenticator over `users` with the fast local backend, counting its loginFailed events.
function countingFailures(users: UserStore): { auth: Authenticator; failed: () => number } {
  const auth = new Authenticator({
    backends: [new LocalPasswordBackend({ store: users, scrypt: fast })],
  });
  let failures = 0;
  auth.events.on('loginFailed', () => {
    failures += 1;
  });
  return { auth, failed: () => failures };
}
