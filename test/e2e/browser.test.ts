// Browser tests: Debian's Chromium, headless, driven by playwright-core, against the reference host
// with a real slapd. A failing test leaves a screenshot in artifacts/.
import { createApp, type HostApp, listen, parseConfig, type RunningHost } from '@authbridge/server';
import { requireServer, type SlapdServer, slapdAvailable, startSlapd } from '@authbridge/testkit';
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ARTIFACTS, CHROMIUM, launchChromium } from './support/chromium.ts';

describe('browser: login through the reference host (headless Chromium)', function () {
  this.timeout(60_000);
  // Unset when `before` stopped early (a missing server), so `after` checks each one.
  let slapd: SlapdServer | undefined;
  let dir: string;
  let host: RunningHost | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;

  const url = (): string => host!.url;

  before(async function () {
    requireServer(this, existsSync(CHROMIUM), 'chromium (apt-get install chromium)');
    requireServer(this, await slapdAvailable(), 'slapd (apt-get install slapd ldap-utils)');
    slapd = await startSlapd();
    dir = mkdtempSync(join(tmpdir(), 'authbridge-e2e-'));
    writeFileSync(join(dir, 'ca.pem'), slapd.caCertPem);
    const config = parseConfig(
      {
        server: { port: 0, secret: 'an-e2e-test-secret-of-at-least-32-chars' },
        stores: { path: join(dir, 'e2e.db') },
        backends: [
          {
            type: 'ldap',
            url: slapd.url,
            tls: { caFile: join(dir, 'ca.pem') },
            bindDn: slapd.serviceDN,
            bindPassword: slapd.servicePassword,
            userSearch: { base: 'ou=people,dc=example,dc=org' },
            groups: { base: 'ou=groups,dc=example,dc=org', strategies: ['memberOf'] },
          },
        ],
        logging: { level: 'silent' },
      },
      {},
    );
    const app: HostApp = await createApp(config, { logger: pino({ level: 'silent' }) });
    host = await listen(app, '127.0.0.1', 0);
    browser = await launchChromium();
  });

  after(async function () {
    await browser?.close();
    await host?.shutdown(2000);
    await slapd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async function () {
    context = await browser!.newContext();
    page = await context.newPage();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      mkdirSync(ARTIFACTS, { recursive: true });
      const name = this.currentTest
        .fullTitle()
        .replace(/[^A-Za-z0-9]+/g, '-')
        .slice(0, 120);
      await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    }
    await context.close();
  });

  it('LDAP form login, then /api/me shows the groups; logout ends the session', async function () {
    await page.goto(`${url()}/login`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('alice-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${url()}/`);
    expect(await page.locator('#username').textContent()).to.equal('alice');
    const me = (await (await page.goto(`${url()}/api/me`))!.json()) as {
      username: string;
      groups: string[];
      backend: string;
    };
    expect(me.username).to.equal('alice');
    expect(me.backend).to.equal('ldap');
    expect(me.groups).to.include.members(['admins', 'staff']);
    await page.goto(`${url()}/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${url()}/login`);
    const after = await page.goto(`${url()}/api/me`);
    expect(after!.status()).to.equal(401);
  });

  it('a wrong password shows the generic error', async function () {
    await page.goto(`${url()}/login`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    expect(await alert.textContent()).to.equal('The username or password is not correct.');
    expect(await page.getByLabel('Username').inputValue()).to.equal('alice');
  });
});
