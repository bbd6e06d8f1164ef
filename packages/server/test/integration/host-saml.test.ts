// The reference host with a SAML backend, against the demo IdP (an in-process IdP that signs with
// keys made at start): SP-initiated login end to end over HTTP, metadata, replay, logout.
import { createApp, type HostApp, listen, parseConfig, type RunningHost } from '@authbridge/server';
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { type DemoSamlIdp, startDemoSamlIdp } from '../../../../scripts/demo-saml-idp.ts';

/** A tiny cookie-keeping client (cookies by host and name) that does not follow redirects. */
class Browser {
  readonly #cookies = new Map<string, Map<string, string>>();

  /** Another browser holding a copy of this one's cookies as they are now. */
  clone(): Browser {
    const copy = new Browser();
    for (const [host, jar] of this.#cookies) copy.#cookies.set(host, new Map(jar));
    return copy;
  }

  async request(
    url: string,
    init: { method?: string; form?: Record<string, string> } = {},
  ): Promise<Response> {
    const host = new URL(url).host;
    const headers: Record<string, string> = {};
    const jar = this.#cookies.get(host) ?? new Map<string, string>();
    this.#cookies.set(host, jar);
    if (jar.size > 0) headers['cookie'] = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      headers,
      body,
      redirect: 'manual',
    });
    for (const set of res.headers.getSetCookie()) {
      const pair = set.split(';')[0]!;
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      // An empty value is how a cookie is cleared (with an expiry in the past).
      if (value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }
}

function formOf(html: string): { action: string; fields: Record<string, string> } {
  const action = /<form method="post" action="([^"]+)"/
    .exec(html)![1]!
    .replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields[m[1]!] = m[2]!
      .replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)))
      .replace(/&amp;/g, '&');
  }
  return { action, fields };
}

describe('reference host with SAML (demo IdP)', function () {
  this.timeout(30_000);
  let dir: string;
  let app: HostApp;
  let host: RunningHost;
  let idp: DemoSamlIdp;
  // A second IdP, whose unsolicited (IdP-initiated) responses this host takes.
  let openIdp: DemoSamlIdp;
  const logLines: string[] = [];

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'authbridge-host-saml-'));
    // The SP's URL must be known before the IdP starts (it posts to the ACS), so listen first on a
    // fixed free port found by a throwaway listener.
    const probe = await listen(
      await createApp(
        parseConfig(
          {
            server: { secret: 'p'.repeat(32) },
            stores: { kind: 'memory' },
            backends: [{ type: 'local' }],
            logging: { level: 'silent' },
          },
          {},
        ),
        { logger: pino({ level: 'silent' }) },
      ),
      '127.0.0.1',
      0,
    );
    const publicUrl = probe.url;
    await probe.shutdown(100);
    idp = await startDemoSamlIdp({
      entityId: `${publicUrl}/saml/metadata`,
      acsUrl: `${publicUrl}/saml/demo/acs`,
    });
    writeFileSync(join(dir, 'idp.pem'), idp.certPem);
    openIdp = await startDemoSamlIdp({
      entityId: `${publicUrl}/saml/metadata`,
      acsUrl: `${publicUrl}/saml/open/acs`,
    });
    writeFileSync(join(dir, 'open-idp.pem'), openIdp.certPem);
    const config = parseConfig(
      {
        server: {
          port: Number(new URL(publicUrl).port),
          publicUrl,
          secret: 'a-host-test-secret-of-at-least-32-chars',
        },
        stores: { path: join(dir, 'host.db') },
        backends: [
          {
            type: 'saml',
            sp: { entityId: `${publicUrl}/saml/metadata` },
            // For IdPs without their own mapping; the demo IdP's replaces it whole.
            attributes: {
              groups: { name: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups' },
            },
            idps: [
              {
                id: 'demo',
                entityId: idp.entityId,
                ssoUrl: idp.ssoUrl,
                signingCertFiles: [join(dir, 'idp.pem')],
                displayName: 'Demo IdP',
                // The demo IdP's names: mail by FriendlyName only (as if its Name were another).
                attributes: {
                  email: { name: 'urn:example:email', friendlyNames: ['mail'] },
                  displayName: { name: 'urn:oid:2.16.840.1.113730.3.1.241' },
                  groups: { name: 'groups', required: '${GROUPS_REQUIRED}' },
                  extra: { uid: { name: 'urn:oid:0.9.2342.19200300.100.1.1' } },
                },
              },
              {
                id: 'open',
                entityId: openIdp.entityId,
                ssoUrl: openIdp.ssoUrl,
                signingCertFiles: [join(dir, 'open-idp.pem')],
                displayName: 'Open IdP',
                allowIdpInitiated: true,
              },
            ],
          },
        ],
        logging: { level: 'silent' },
      },
      { GROUPS_REQUIRED: 'true' },
    );
    app = await createApp(config, {
      logger: pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) }),
    });
    host = await listen(app, '127.0.0.1', config.server.port);
  });

  after(async function () {
    await host.shutdown(1000);
    await idp.close();
    await openIdp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('offers the IdP on the login page and publishes SP metadata', async function () {
    const page = await (await fetch(`${host.url}/login`)).text();
    expect(page).to.include('action="/saml/demo/login"').and.include('Sign in with Demo IdP');
    const metadata = await fetch(`${host.url}/saml/demo/metadata`);
    expect(metadata.headers.get('content-type')).to.include('samlmetadata+xml');
    expect(await metadata.text()).to.include(`${host.url}/saml/demo/acs`);
    // HEAD where GET is; a wrong method is 405 naming what the route allows.
    const head = await fetch(`${host.url}/saml/demo/metadata`, { method: 'HEAD' });
    expect(head.status).to.equal(200);
    for (const [path, method, allow] of [
      ['acs', 'GET', 'POST'],
      ['metadata', 'POST', 'GET, HEAD'],
      ['login', 'HEAD', 'GET'],
    ] as const) {
      const refused = await fetch(`${host.url}/saml/demo/${path}`, { method, redirect: 'manual' });
      expect(refused.status, `${method} ${path}`).to.equal(405);
      expect(refused.headers.get('allow')).to.equal(allow);
    }
  });

  it('logs in SP-initiated through the IdP, refuses a replay, and logs out', async function () {
    const browser = new Browser();
    const start = await browser.request(`${host.url}/saml/demo/login?next=/api/me`);
    expect(start.status).to.equal(302);
    const sso = start.headers.get('location')!;
    expect(sso.startsWith(idp.ssoUrl)).to.equal(true);
    const idpPage = await (await browser.request(sso)).text();
    const loginForm = formOf(idpPage);
    const posted = await browser.request(new URL(loginForm.action, idp.ssoUrl).href, {
      method: 'POST',
      form: { ...loginForm.fields, username: 'sam', password: 'sam-password' },
    });
    const acsForm = formOf(await posted.text());
    expect(acsForm.action).to.equal(`${host.url}/saml/demo/acs`);
    const acs = await browser.request(acsForm.action, { method: 'POST', form: acsForm.fields });
    // The cross-site POST carries no Lax cookie: the browser comes back with a GET that does.
    expect(acs.status).to.equal(303);
    const back = acs.headers.get('location')!;
    expect(back).to.match(/^\/saml\/demo\/acs\?resume=[A-Za-z0-9_-]{43}$/);
    // A copy of this browser still holds the request-ID cookie the resume clears below.
    const copy = browser.clone();
    const resumed = await browser.request(new URL(back, host.url).href);
    expect(resumed.status).to.equal(303);
    expect(resumed.headers.get('location')).to.equal('/api/me');
    // The resume link works once: the store's one-time key refuses even the copy.
    expect((await browser.request(new URL(back, host.url).href)).status).to.equal(403);
    const again = await copy.request(new URL(back, host.url).href);
    expect(again.status).to.equal(403);
    expect(((await again.json()) as { code: string }).code).to.equal('PROTOCOL_INVALID');
    expect((await copy.request(`${host.url}/api/me`)).status).to.equal(401);
    const me = (await (await browser.request(`${host.url}/api/me`)).json()) as {
      username: string;
      backend: string;
    };
    expect(me).to.include({ username: 'sam', backend: 'saml' });

    const replay = await new Browser().request(acsForm.action, {
      method: 'POST',
      form: acsForm.fields,
    });
    // 403, not 401: no HTTP authentication scheme applies to a replayed SAML message. The
    // assertion's ID is looked up before its InResponseTo: a replay is reported as one.
    expect(replay.status).to.equal(403);
    expect(replay.headers.get('www-authenticate')).to.equal(null);
    expect(((await replay.json()) as { code: string }).code).to.equal('REPLAY_DETECTED');

    const home = await (await browser.request(`${host.url}/`)).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(home)![1]!;
    const out = await browser.request(`${host.url}/logout`, {
      method: 'POST',
      form: { _csrf: csrf },
    });
    expect(out.status).to.equal(303);
    expect((await browser.request(`${host.url}/api/me`)).status).to.equal(401);
  });

  it("maps the IdP's attributes to the user's email, display name, groups and extra attributes", async function () {
    const browser = new Browser();
    const start = await browser.request(`${host.url}/saml/demo/login`);
    const loginForm = formOf(await (await browser.request(start.headers.get('location')!)).text());
    const posted = await browser.request(new URL(loginForm.action, idp.ssoUrl).href, {
      method: 'POST',
      form: { ...loginForm.fields, username: 'sam', password: 'sam-password' },
    });
    const acsForm = formOf(await posted.text());
    const acs = await browser.request(acsForm.action, { method: 'POST', form: acsForm.fields });
    await browser.request(new URL(acs.headers.get('location')!, host.url).href);
    const me = (await (await browser.request(`${host.url}/api/me`)).json()) as {
      username: string;
      groups: string[];
    };
    expect(me.username).to.equal('sam');
    expect(me.groups).to.have.members(['saml-users', 'finance']);
    const sam = await app.userStore.getByUsername('sam');
    expect(sam).to.deep.include({ email: 'sam@example.org', displayName: 'Sam Saml' });
    expect(sam?.attributes).to.deep.include({ uid: 'sam' });
  });

  it('refuses a replayed IdP-initiated response by its assertion ID alone (REPLAY_DETECTED)', async function () {
    // Unsolicited: no InResponseTo, so no request ID or browser cookie stands in the way of a
    // replay; only the replay store does.
    const posted = await fetch(openIdp.ssoUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'erin', password: 'erin-password' }).toString(),
    });
    const acsForm = formOf(await posted.text());
    expect(acsForm.action).to.equal(`${host.url}/saml/open/acs`);
    const first = new Browser();
    const acs = await first.request(acsForm.action, { method: 'POST', form: acsForm.fields });
    expect(acs.status).to.equal(303);
    expect(acs.headers.get('location')).to.equal('/');
    const me = (await (await first.request(`${host.url}/api/me`)).json()) as { username: string };
    expect(me).to.include({ username: 'erin' });

    logLines.length = 0;
    const other = new Browser();
    const replay = await other.request(acsForm.action, { method: 'POST', form: acsForm.fields });
    expect(replay.status).to.equal(403);
    expect(((await replay.json()) as { code: string }).code).to.equal('REPLAY_DETECTED');
    expect((await other.request(`${host.url}/api/me`)).status).to.equal(401);
    const audit = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['msg'] === 'login failed');
    expect(audit.at(-1)).to.include({ failedBy: 'saml', code: 'REPLAY_DETECTED', idp: 'open' });
  });

  it('takes an answer only in the browser that started the login (no login CSRF)', async function () {
    // Someone starts a login, signs in at the IdP as themselves and keeps the answer...
    const attacker = new Browser();
    const start = await attacker.request(`${host.url}/saml/demo/login`);
    const idpPage = await (await attacker.request(start.headers.get('location')!)).text();
    const loginForm = formOf(idpPage);
    const posted = await attacker.request(new URL(loginForm.action, idp.ssoUrl).href, {
      method: 'POST',
      form: { ...loginForm.fields, username: 'sam', password: 'sam-password' },
    });
    const acsForm = formOf(await posted.text());
    // ...and has another browser post it (an auto-submitting page): that browser is not logged in.
    const victim = new Browser();
    const acs = await victim.request(acsForm.action, { method: 'POST', form: acsForm.fields });
    expect(acs.status).to.equal(303);
    const resumed = await victim.request(new URL(acs.headers.get('location')!, host.url).href);
    expect(resumed.status).to.equal(403);
    expect(((await resumed.json()) as { code: string }).code).to.equal('PROTOCOL_INVALID');
    expect((await victim.request(`${host.url}/api/me`)).status).to.equal(401);
    // Audited as a refused login.
    const refused = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['msg'] === 'login failed' && l['code'] === 'PROTOCOL_INVALID');
    expect(refused.at(-1)).to.include({ failedBy: 'saml', idp: 'demo' });
  });

  it('answers a forged SAMLResponse with a generic failure, audited and counted', async function () {
    const failures = async (): Promise<number> => {
      const text = await (await fetch(`${host.url}/metrics`)).text();
      const line = /^authbridge_logins_total\{backend="saml",outcome="failure"\} (\d+)$/m.exec(
        text,
      );
      return Number(line?.[1] ?? 0);
    };
    const before = await failures();
    logLines.length = 0;
    const res = await fetch(`${host.url}/saml/demo/acs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        SAMLResponse: Buffer.from('<Response/>').toString('base64'),
      }).toString(),
    });
    expect(res.status).to.equal(403);
    expect(await res.json()).to.deep.equal({
      code: 'PROTOCOL_INVALID',
      message: 'Authentication failed',
    });
    expect(await failures()).to.equal(before + 1);
    const audit = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['msg'] === 'login failed');
    expect(audit).to.have.length(1);
    expect(audit[0]).to.include({ failedBy: 'saml', code: 'PROTOCOL_INVALID', idp: 'demo' });
    expect(audit[0]).to.have.property('reqId').that.is.a('string');
    expect(logLines.join('\n'), 'the message itself is never logged').to.not.include(
      Buffer.from('<Response/>').toString('base64'),
    );
  });

  it('reads SAML messages far above the page form limit (signed, certificate-bearing responses)', async function () {
    // ~200 KiB decoded: under the backend's 256 KiB, far over the 16 kB limit of the login form.
    const padding = `<!--${'x'.repeat(200 * 1024)}-->`;
    const res = await fetch(`${host.url}/saml/demo/acs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        SAMLResponse: Buffer.from(`<Response>${padding}</Response>`).toString('base64'),
      }).toString(),
    });
    // Refused by the SAML checks (403), not by the body parser (413).
    expect(res.status).to.equal(403);
    expect(((await res.json()) as { code: string }).code).to.equal('PROTOCOL_INVALID');
  });
});
