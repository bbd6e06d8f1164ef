// The reference host with the LDAP backend from YAML-shaped config, against a real slapd.
import { createApp, type HostApp, parseConfig } from '@authbridge/server';
import {
  freePort,
  requireServer,
  type SlapdServer,
  slapdAvailable,
  startSlapd,
} from '@authbridge/testkit';
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import request from 'supertest';

describe('reference host with LDAP (real slapd)', function () {
  let slapd: SlapdServer;
  let dir: string;
  let app: HostApp;
  // The host's log lines, as pino writes them.
  let lines: string[];

  before(async function () {
    requireServer(this, await slapdAvailable(), 'slapd (apt-get install slapd ldap-utils)');
    slapd = await startSlapd();
  });
  after(async function () {
    await slapd.stop();
  });
  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), 'authbridge-host-ldap-'));
    writeFileSync(join(dir, 'ca.pem'), slapd.caCertPem);
    const config = parseConfig(
      {
        server: { secret: 'a-host-test-secret-of-at-least-32-chars' },
        stores: { path: join(dir, 'host.db') },
        backends: [
          {
            type: 'ldap',
            url: slapd.url,
            tls: { caFile: join(dir, 'ca.pem') },
            bindDn: '${LDAP_BIND_DN}',
            bindPassword: '${LDAP_BIND_PASSWORD}',
            userSearch: { base: 'ou=people,dc=example,dc=org' },
            groups: { base: 'ou=groups,dc=example,dc=org', strategies: ['memberOf'] },
            userFlagsByGroup: { isStaff: 'cn=staff,ou=groups,dc=example,dc=org' },
            groupPermissions: { admins: ['hosts.restart'] },
          },
          {
            type: 'local',
            users: [
              { username: 'breakglass', password: 'break-glass-password', isSuperuser: true },
            ],
          },
        ],
        logging: { level: 'silent' },
      },
      { LDAP_BIND_DN: slapd.serviceDN, LDAP_BIND_PASSWORD: slapd.servicePassword },
    );
    lines = [];
    app = await createApp(config, {
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    });
  });
  afterEach(async function () {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function login(
    agent: request.Agent,
    username: string,
    password: string,
  ): Promise<request.Response> {
    const page = await agent.get('/login').expect(200);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? '';
    return agent.post('/login').type('form').send({ username, password, _csrf: token });
  }

  it('logs an LDAP user in over StartTLS and shows groups and permissions at /api/me', async function () {
    const agent = request.agent(app.callback());
    await login(agent, 'alice', 'alice-password').then((r) => expect(r.status).to.equal(303));
    const me = await agent.get('/api/me').expect(200);
    expect(me.body).to.include({ username: 'alice', backend: 'ldap', isStaff: true });
    expect((me.body as { groups: string[] }).groups).to.include.members(['admins', 'staff']);
    expect((me.body as { permissions: string[] }).permissions).to.deep.equal(['hosts.restart']);
  });

  it('falls through to the local break-glass account, and fails generically for a wrong password', async function () {
    const agent = request.agent(app.callback());
    await login(agent, 'breakglass', 'break-glass-password').then((r) =>
      expect(r.status).to.equal(303),
    );
    expect(((await agent.get('/api/me').expect(200)).body as { backend: string }).backend).to.equal(
      'local',
    );
    const wrong = await login(request.agent(app.callback()), 'alice', 'not-her-password');
    expect(wrong.status).to.equal(200);
    expect(wrong.text).to.include('The username or password is not correct.');
    // The directory's own line says why, naming the backend once (a JSON key written twice is
    // refused by log pipelines such as Elasticsearch).
    const failed = lines.find((l) => l.includes('"msg":"ldap.login_failed"'));
    expect(failed).to.be.a('string');
    expect(failed!.match(/"backend":/g)).to.have.length(1);
    expect(JSON.parse(failed!)).to.include({ backend: 'ldap' });
  });

  it('lets a break-glass account listed first in while the directory is down', async function () {
    // A port nothing listens on: the directory is unreachable.
    const down = slapd.url.replace(/:\d+$/, `:${String(await freePort())}`);
    const outage = await createApp(
      parseConfig(
        {
          server: { secret: 'a-host-test-secret-of-at-least-32-chars' },
          stores: { kind: 'memory' },
          backends: [
            {
              type: 'local',
              users: [
                { username: 'breakglass', password: 'break-glass-password', isSuperuser: true },
              ],
            },
            {
              type: 'ldap',
              url: down,
              tls: { caFile: join(dir, 'ca.pem') },
              bindDn: slapd.serviceDN,
              bindPassword: slapd.servicePassword,
              userSearch: { base: 'ou=people,dc=example,dc=org' },
            },
          ],
          logging: { level: 'silent' },
        },
        {},
      ),
      { logger: pino({ level: 'silent' }) },
    );
    try {
      const agent = request.agent(outage.callback());
      await login(agent, 'breakglass', 'break-glass-password').then((r) =>
        expect(r.status).to.equal(303),
      );
      expect(
        ((await agent.get('/api/me').expect(200)).body as { backend: string }).backend,
      ).to.equal('local');
      // A directory user meets the outage: 503, fail closed, not "wrong password".
      const alice = await login(request.agent(outage.callback()), 'alice', 'alice-password');
      expect(alice.status).to.equal(503);
      // Its latency is measured all the same: outages are when it matters.
      const metrics = (await request(outage.callback()).get('/metrics').expect(200)).text;
      expect(metrics).to.include('authbridge_login_duration_seconds_count{backend="error"} 1');
    } finally {
      await outage.close();
    }
  });

  it('records the configured issuer and serves a repeated login from the credential cache', async function () {
    const cached = await createApp(
      parseConfig(
        {
          server: { secret: 'a-host-test-secret-of-at-least-32-chars' },
          stores: { kind: 'memory' },
          backends: [
            {
              type: 'ldap',
              url: slapd.url,
              tls: { caFile: join(dir, 'ca.pem') },
              bindDn: slapd.serviceDN,
              bindPassword: slapd.servicePassword,
              userSearch: { base: 'ou=people,dc=example,dc=org' },
              issuer: 'ldap.example.org',
              cache: { dnTtlMs: 60_000, credentialTtlMs: '${CRED_TTL}', maxEntries: 100 },
            },
          ],
          logging: { level: 'silent' },
        },
        { CRED_TTL: '60000' },
      ),
      { logger: pino({ level: 'silent' }) },
    );
    try {
      const aliceBinds = async () =>
        (await slapd.log()).split('BIND dn="uid=alice,ou=people,dc=example,dc=org" method=')
          .length - 1;
      const before = await aliceBinds();
      for (let i = 0; i < 2; i++) {
        const agent = request.agent(cached.callback());
        await login(agent, 'alice', 'alice-password').then((r) => expect(r.status).to.equal(303));
      }
      // The second login was answered from the cache: one BIND as alice, not two.
      expect((await aliceBinds()) - before).to.equal(1);
      const alice = await cached.userStore.getByUsername('alice');
      const identities = await cached.userStore.identitiesOf(alice!.id);
      expect(identities).to.have.length(1);
      expect(identities[0]).to.include({ backendId: 'ldap', issuer: 'ldap.example.org' });
    } finally {
      await cached.close();
    }
  });

  it('reports the directory in /readyz', async function () {
    const ready = await request(app.callback()).get('/readyz').expect(200);
    expect((ready.body as { checks: Record<string, string> }).checks).to.include({
      'backend:ldap': 'ok',
    });
  });
});
