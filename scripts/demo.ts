// `npm start`: the reference host in demo mode. A private slapd seeded with demo users (native, or
// Docker where it answers), the local backend with a break-glass admin whose password is made per
// run, and the host on 127.0.0.1. Demo only: throwaway secrets, data in a temp dir.
import { createApp, listen, parseConfig } from '@authbridge/server';
import { freePort, slapdAvailable, startSlapd } from '@authbridge/testkit';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoSamlIdp } from './demo-saml-idp.ts';
import { startDemoTokenService } from './demo-token-service.ts';

const INSTALL = ['slapd', 'ldap-utils', 'openssl'];

// The same provisioning the tests rely on: Debian packages when we are root, Docker when it
// answers, otherwise an exact instruction.
async function ensureSlapd(): Promise<void> {
  if (await slapdAvailable()) return;
  if (process.getuid?.() === 0) {
    console.log(`demo: installing ${INSTALL.join(' ')} with apt-get (one time)...`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
    const install = spawnSync(
      'apt-get',
      ['install', '-y', '-q', '--no-install-recommends', ...INSTALL],
      { stdio: 'inherit', env },
    );
    if (update.status === 0 && install.status === 0 && (await slapdAvailable())) return;
  }
  console.error(
    `demo: OpenLDAP is needed and neither slapd nor a Docker engine is available.\n` +
      `Install it with:  sudo apt-get install -y ${INSTALL.join(' ')}   (Debian/Ubuntu; on Ubuntu also: sudo aa-disable /usr/sbin/slapd)\n` +
      `or start Docker, then run npm start again.`,
  );
  process.exit(1);
}

// PORT is checked before anything starts; 0 asks for any free port.
const portText = process.env['PORT'] ?? '8080';
const requestedPort = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
if (!(requestedPort <= 65_535)) {
  console.error(`demo: PORT must be a port number (0 for any free port), not "${portText}"`);
  process.exit(2);
}

// What has started, stopped in reverse order on Ctrl-C or when a later step fails: nothing (no
// slapd, no temp dir with keys and the database) is left behind either way.
const started: (() => Promise<void> | void)[] = [];
async function stopAll(): Promise<void> {
  for (const stop of started.reverse()) await Promise.resolve(stop()).catch(() => undefined);
}
async function fail(message: string): Promise<never> {
  console.error(`demo: ${message}`);
  await stopAll();
  process.exit(1);
}

await ensureSlapd();
const slapd = await startSlapd();
started.push(() => slapd.stop());
const boot = async () => {
  const tokens = await startDemoTokenService();
  started.push(() => tokens.close());
  const dir = mkdtempSync(join(tmpdir(), 'authbridge-demo-'));
  started.push(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, 'ldap-ca.pem'), slapd.caCertPem);
  // The SAML IdP posts back to our ACS, so the public URL must be known before anything starts.
  const port = requestedPort === 0 ? await freePort() : requestedPort;
  const publicUrl = `http://127.0.0.1:${port}`;
  const idp = await startDemoSamlIdp({
    entityId: `${publicUrl}/saml/metadata`,
    acsUrl: `${publicUrl}/saml/demo/acs`,
  });
  started.push(() => idp.close());
  writeFileSync(join(dir, 'demo-idp.pem'), idp.certPem);
  return { tokens, dir, port, publicUrl, idp };
};
const { tokens, dir, port, publicUrl, idp } = await boot().catch((error: unknown) =>
  fail(`could not start: ${error instanceof Error ? error.message : String(error)}`),
);
const adminPassword = randomBytes(12).toString('base64url');

const config = parseConfig(
  {
    server: { host: '127.0.0.1', port, publicUrl, secret: randomBytes(32).toString('base64url') },
    stores: { kind: 'sqlite', path: join(dir, 'authbridge.db') },
    backends: [
      // First: a break-glass account must work while the directory is down, and an outage of an
      // earlier backend stops the chain (503) before later ones are asked.
      {
        type: 'local',
        users: [{ username: 'admin', password: adminPassword, isSuperuser: true, isStaff: true }],
      },
      {
        type: 'ldap',
        url: slapd.url,
        tls: { caFile: join(dir, 'ldap-ca.pem') },
        bindDn: slapd.serviceDN,
        bindPassword: slapd.servicePassword,
        userSearch: { base: `ou=people,${slapd.baseDN}` },
        groups: {
          base: `ou=groups,${slapd.baseDN}`,
          // `member` too: nesting follows member/uniqueMember values (dave: platform in engineering).
          strategies: ['memberOf', 'member', 'uniqueMember', 'posix'],
          nested: true,
        },
        userFlagsByGroup: { isStaff: `cn=staff,ou=groups,${slapd.baseDN}` },
        groupPermissions: {
          admins: ['hosts.restart', 'users.view'],
          staff: ['wiki.edit'],
          auditors: ['audit.view'],
        },
      },
      {
        type: 'saml',
        sp: { entityId: `${publicUrl}/saml/metadata` },
        idps: [
          {
            id: 'demo',
            entityId: idp.entityId,
            ssoUrl: idp.ssoUrl,
            signingCertFiles: [join(dir, 'demo-idp.pem')],
            displayName: 'the demo IdP',
          },
        ],
      },
      {
        type: 'rest',
        mode: {
          kind: 'introspection',
          endpoint: tokens.introspectionUrl,
          issuer: tokens.issuer,
          audience: tokens.audience,
          clientAuth: {
            method: 'client_secret_basic',
            clientId: tokens.clientId,
            clientSecret: tokens.clientSecret,
          },
        },
        permissions: { scopeMap: { read: ['reports.view'] } },
      },
    ],
    logging: { level: 'info' },
  },
  {},
);

const app = await createApp(config).catch((error: unknown) =>
  fail(`could not start: ${error instanceof Error ? error.message : String(error)}`),
);
started.push(() => app.close());
const host = await listen(app, config.server.host, config.server.port).catch((error: unknown) =>
  fail(
    (error as { code?: unknown }).code === 'EADDRINUSE'
      ? `port ${port} is taken: set PORT to a free one (PORT=0 picks any)`
      : `could not listen: ${error instanceof Error ? error.message : String(error)}`,
  ),
);
console.log(`
authbridge demo is running at ${host.url}   (demo only: throwaway secrets, data in ${dir})

  Sign in at ${host.url}/login, then see yourself at ${host.url}/api/me
  LDAP users (private slapd at ${slapd.url}):  alice / alice-password   (admins, staff, auditors)
                                               bob / bob-password       (staff)
                                               dave / dave-password     (platform, nested in engineering)
  Break-glass local admin:                     admin / ${adminPassword}
  SAML (demo IdP, "Sign in with the demo IdP"): sam / sam-password, erin / erin-password
  Bearer token (demo token service):           curl -H 'Authorization: Bearer ${tokens.token}' ${host.url}/api/me

Press Ctrl-C to stop.
`);

const stop = async (): Promise<void> => {
  await host.shutdown(5000); // closes the app too (a second close is a no-op)
  await stopAll();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
