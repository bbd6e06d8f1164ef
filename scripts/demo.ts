// `npm start` until the reference host (@authbridge/server) lands: a short tour of the core chain
// on the embedded SQLite store, with a break-glass admin whose password is generated per run.
import {
  Authenticator,
  LocalPasswordBackend,
  PermissionDenied,
  type AuthBackend,
  type User,
} from '@authbridge/core';
import { SqliteUserStore } from '@authbridge/core/sqlite';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'authbridge-demo-'));
const store = new SqliteUserStore({ path: join(dir, 'authbridge.db') });
const local = new LocalPasswordBackend({
  store,
  groupPermissions: { operators: ['hosts.restart'] },
});

// A second backend that vetoes one account, to show that PermissionDenied halts the chain.
const blocklist: AuthBackend<{ username: string }> = {
  id: 'blocklist',
  accepts: (c): c is { username: string } =>
    typeof (c as { username?: unknown } | null)?.username === 'string',
  authenticate: async (_r, c) => {
    if (c.username === 'mallory') throw new PermissionDenied();
    return null;
  },
  getUser: async () => null,
  close: async () => undefined,
};

const auth = new Authenticator({ backends: [blocklist, local] });
auth.events.on('loginFailed', ({ credentials, deniedBy }) => {
  console.log(
    `  loginFailed ${JSON.stringify(credentials)}${deniedBy ? ` (vetoed by ${deniedBy})` : ''}`,
  );
});

const adminPassword = randomBytes(12).toString('base64url');
await local.createUser({ username: 'admin', isSuperuser: true, isStaff: true }, adminPassword);
await local.createUser({ username: 'olga', groups: ['operators'] }, 'olga-demo-password');
await local.createUser({ username: 'mallory' }, 'mallory-demo-password');

const show = (u: User | null): string => (u ? `${u.username} via ${String(u.backendId)}` : 'null');
console.log('authbridge core demo (the Koa reference host arrives with @authbridge/server)');
console.log(`break-glass admin: admin / ${adminPassword}`);
console.log(
  `admin, right password  -> ${show(await auth.authenticate(undefined, { username: 'admin', password: adminPassword }))}`,
);
console.log(
  `admin, wrong password  -> ${show(await auth.authenticate(undefined, { username: 'admin', password: 'nope' }))}`,
);
const olga = await auth.authenticate(undefined, {
  username: 'olga',
  password: 'olga-demo-password',
});
console.log(
  `olga                   -> ${show(olga)}; hosts.restart: ${String(olga && (await auth.hasPerm(olga, 'hosts.restart')))}`,
);
console.log(
  `mallory (vetoed)       -> ${show(await auth.authenticate(undefined, { username: 'mallory', password: 'mallory-demo-password' }))}`,
);
console.log(`session reload of olga -> ${(await auth.getUser(olga?.id ?? '', 'local')).username}`);

await auth.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
