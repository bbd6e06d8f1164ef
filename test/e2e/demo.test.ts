// The README's main command, `npm start`, runs scripts/demo.ts: start it as a child process, log in
// the three ways it prints, and stop it with SIGTERM.
import { slapdAvailable, requireServer } from '@authbridge/testkit';
import { expect } from 'chai';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARTIFACTS, CHROMIUM, launchChromium } from './support/chromium.ts';

const demo = fileURLToPath(new URL('../../scripts/demo.ts', import.meta.url));

describe('npm start (the demo host)', function () {
  this.timeout(60_000);
  let child: ChildProcessWithoutNullStreams | undefined;
  let out = '';

  before(async function () {
    requireServer(this, await slapdAvailable(), 'slapd (apt-get install slapd ldap-utils)');
    child = spawn(process.execPath, ['--import', 'tsx', demo], {
      env: { ...process.env, PORT: '0' },
    });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (out.includes('Press Ctrl-C to stop.')) {
          clearInterval(timer);
          resolve();
        }
      }, 50);
      child!.once('exit', (code) => {
        clearInterval(timer);
        reject(new Error(`demo exited with ${String(code)}:\n${out}`));
      });
    });
  });

  after(async function () {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).to.equal(0);
  });

  const url = (): string => /running at (http:\/\/\S+)/.exec(out)![1]!;

  /** The `name=value` pair of the cookie `name` a response sets. */
  function named(res: Response, name: string): string {
    const set = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
    expect(set, `${name} cookie`).to.be.a('string');
    return set!.split(';')[0]!;
  }

  async function formLogin(username: string, password: string): Promise<unknown> {
    const page = await fetch(`${url()}/login`);
    const cookie = named(page, 'authbridge.csrf');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const res = await fetch(`${url()}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ username, password, _csrf: csrf }),
    });
    expect(res.status, `login ${username}`).to.equal(303);
    const session = named(res, 'authbridge.sid');
    return (await fetch(`${url()}/api/me`, { headers: { cookie: session } })).json();
  }

  it('logs in a fourth way: SAML through the demo IdP, in headless Chromium', async function () {
    requireServer(this, existsSync(CHROMIUM), 'chromium (apt-get install chromium)');
    const browser = await launchChromium();
    const page = await browser.newPage();
    try {
      await page.goto(`${url()}/login`);
      await page.getByRole('button', { name: 'Sign in with the demo IdP' }).click();
      await page.getByLabel('Username').fill('sam');
      await page.getByLabel('Password').fill('sam-password');
      await page.getByRole('button', { name: 'Sign in at the IdP' }).click();
      await page.getByRole('button', { name: 'Continue to the application' }).click();
      await page.waitForURL(`${url()}/`);
      expect(await page.locator('#username').textContent()).to.equal('sam');
      const me = (await (await page.goto(`${url()}/api/me`))!.json()) as Record<string, unknown>;
      expect(me).to.deep.include({ username: 'sam', backend: 'saml' });
      await page.goto(`${url()}/`);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(`${url()}/login`);
      expect((await page.goto(`${url()}/api/me`))!.status()).to.equal(401);
    } catch (error) {
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'demo-saml-round-trip.png'), fullPage: true });
      throw error;
    } finally {
      await browser.close();
    }
  });

  it('prints the URL and the demo credentials', function () {
    expect(out).to.match(/alice \/ alice-password/);
    expect(out).to.match(/admin \/ \S{12,}/);
    expect(out).to.match(/Authorization: Bearer demo\.\S+/);
  });

  it('logs in three ways: LDAP form, break-glass local admin, bearer token', async function () {
    expect(await formLogin('alice', 'alice-password')).to.deep.include({
      username: 'alice',
      backend: 'ldap',
    });
    const adminPassword = /admin \/ (\S+)/.exec(out)![1]!;
    expect(await formLogin('admin', adminPassword)).to.deep.include({
      username: 'admin',
      backend: 'local',
      isSuperuser: true,
    });
    const token = /Authorization: Bearer (demo\.[^'\s]+)/.exec(out)![1]!;
    const me = (await (
      await fetch(`${url()}/api/me`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as Record<string, unknown>;
    expect(me).to.deep.include({ username: 'demo-service', backend: 'rest', via: 'bearer' });
  });
});
