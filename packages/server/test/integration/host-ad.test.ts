// The reference host with the LDAP backend in its Active Directory flow (userBindName), configured
// from a YAML file as the README shows it, against a real AD implementation (Samba's DC).
import { createApp, type HostApp, loadConfigFile } from '@authbridge/server';
import {
  requireServer,
  sambaAvailable,
  type SambaDcServer,
  startSambaDc,
} from '@authbridge/testkit';
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import request from 'supertest';

describe('reference host with Active Directory (Samba AD DC)', function () {
  let dc: SambaDcServer;
  let dir: string;
  const apps: HostApp[] = [];

  before(async function () {
    // The first DC of a process provisions the domain (5-20 s); later ones copy it.
    this.timeout(120_000);
    requireServer(this, await sambaAvailable(), 'samba');
    dc = await startSambaDc();
    dir = mkdtempSync(join(tmpdir(), 'authbridge-host-ad-'));
  });
  after(async function () {
    for (const app of apps) await app.close();
    if ((dc as SambaDcServer | undefined) !== undefined) await dc.stop();
    if ((dir as string | undefined) !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** A host whose only backend is AD with this `userBindName` line, read from a YAML file. */
  async function hostWith(name: string, userBindNameLine: string): Promise<HostApp> {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      [
        'server:',
        '  secret: ${AB_SECRET}',
        'stores:',
        '  kind: memory',
        'backends:',
        '  - type: ldap',
        `    url: ${dc.url}`,
        '    tls:',
        `      caFile: ${dc.caCertPath}`,
        `      servername: ${dc.serverName}`,
        '    preset: activedirectory',
        '    userSearch:',
        `      base: ${dc.baseDN}`,
        `    ${userBindNameLine}`,
        '    groups:',
        `      base: ${dc.baseDN}`,
        'logging:',
        '  level: silent',
        '',
      ].join('\n'),
    );
    const app = await createApp(
      await loadConfigFile(file, { AB_SECRET: 'a-host-test-secret-of-at-least-32-chars' }),
      { logger: pino({ level: 'silent' }) },
    );
    apps.push(app);
    return app;
  }

  async function login(app: HostApp, username: string, password: string) {
    const agent = request.agent(app.callback());
    const page = await agent.get('/login').expect(200);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? '';
    const res = await agent.post('/login').type('form').send({ username, password, _csrf: token });
    return { res, agent };
  }

  for (const [form, line] of [
    // `{` opens a YAML flow mapping: the UPN template is quoted.
    ['a user principal name', () => `userBindName: '{username}@${dc.dnsDomain}'`],
    // A plain scalar keeps its backslash.
    ['a down-level logon name', () => `userBindName: ${dc.netbiosDomain}\\{username}`],
  ] as const) {
    it(`logs a user in by ${form}, with no service account, and reads nested groups`, async function () {
      const app = await hostWith(form.replaceAll(' ', '-'), line());
      const { res, agent } = await login(app, 'alice', dc.users.alice.password);
      expect(res.status).to.equal(303);
      const me = (await agent.get('/api/me').expect(200)).body as {
        username: string;
        backend: string;
        groups: string[];
      };
      expect(me).to.include({ username: 'alice', backend: 'ldap' });
      expect(me.groups).to.have.members([dc.groups.inner.sam, dc.groups.outer.sam]);
      const wrong = await login(app, 'alice', 'Wrong-Passw0rd!');
      expect(wrong.res.status).to.equal(200);
      expect(wrong.res.text).to.include('The username or password is not correct.');
    });
  }
});
