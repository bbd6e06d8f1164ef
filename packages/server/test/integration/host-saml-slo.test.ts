// The reference host with a SAML backend against SimpleSAMLphp (sign.logout on): SP-initiated
// login without a browser, then Single Logout both ways over HTTP — POST /logout through the IdP
// back to /saml/<idp>/slo, and an IdP-initiated LogoutRequest that ends the recorded session.
import { createApp, type HostApp, listen, parseConfig, type RunningHost } from '@authbridge/server';
import {
  freePort,
  requireServer,
  type SimpleSamlPhpServer,
  simpleSamlPhpAvailable,
  startSimpleSamlPhp,
  BrowserlessClient,
  pageText,
  readForm,
  testKeyPair,
} from '@authbridge/testkit';
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';

const IDP = 'ssp';

/** The host and SimpleSAMLphp, each configured with the other. */
interface SloSetup {
  readonly publicUrl: string;
  readonly idp: SimpleSamlPhpServer;
  close(): Promise<void>;
}

/** Starts SimpleSAMLphp (sign.logout on) and the host, both using `sloBinding` for logout. */
async function startSloSetup(sloBinding: 'redirect' | 'post'): Promise<SloSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'authbridge-host-saml-slo-'));
  let idp: SimpleSamlPhpServer | undefined;
  let host: RunningHost | undefined;
  try {
    // SimpleSAMLphp is configured with our ACS and SLO URLs, so the port is chosen first.
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const spEntityId = `${publicUrl}/saml/metadata`;
    const spKeys = testKeyPair('host-saml-slo-sp');
    idp = await startSimpleSamlPhp({
      sp: {
        entityId: spEntityId,
        acsUrl: `${publicUrl}/saml/${IDP}/acs`,
        sloUrl: `${publicUrl}/saml/${IDP}/slo`,
        sloBinding,
        certPem: spKeys.certPem,
        validateRequests: true,
      },
      signLogout: true,
    });
    writeFileSync(join(dir, 'sp-key.pem'), spKeys.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'sp-cert.pem'), spKeys.certPem);
    writeFileSync(join(dir, 'idp.pem'), idp.certPem);
    const config = parseConfig(
      {
        server: { port, publicUrl, secret: 'a-host-test-secret-of-at-least-32-chars' },
        stores: { path: join(dir, 'host.db') },
        backends: [
          {
            type: 'saml',
            sp: {
              entityId: spEntityId,
              signingKeyFile: join(dir, 'sp-key.pem'),
              signingCertFiles: [join(dir, 'sp-cert.pem')],
            },
            idps: [
              {
                id: IDP,
                entityId: idp.entityId,
                ssoUrl: idp.ssoUrl,
                sloUrl: idp.sloUrl,
                sloBinding,
                signingCertFiles: [join(dir, 'idp.pem')],
                displayName: 'SimpleSAMLphp',
              },
            ],
          },
        ],
        logging: { level: 'silent' },
      },
      {},
    );
    const app: HostApp = await createApp(config, { logger: pino({ level: 'silent' }) });
    host = await listen(app, '127.0.0.1', port);
    const [started, server] = [idp, host];
    return {
      publicUrl,
      idp: started,
      async close() {
        await server.shutdown(1000);
        await started.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await host?.shutdown(1000);
    await idp?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Logs alice in through the host's SAML routes; the client keeps both sites' cookies. */
async function loginAlice(browser: BrowserlessClient, setup: SloSetup): Promise<void> {
  const { publicUrl, idp } = setup;
  const sso = await browser.goUntilLeaving(`${publicUrl}/saml/${IDP}/login`, publicUrl);
  expect(sso.startsWith(idp.ssoUrl), sso).to.equal(true);
  const loginPage = await browser.go(sso);
  const loginForm = readForm(loginPage.body, loginPage.url);
  expect(loginForm?.fields, pageText(loginPage)).to.have.property('AuthState');
  const posted = await browser.go(loginForm!.action, {
    ...loginForm!.fields,
    username: 'alice',
    password: 'alicepass',
  });
  const acsForm = readForm(posted.body, posted.url);
  expect(acsForm?.fields, pageText(posted)).to.have.property('SAMLResponse');
  expect(acsForm!.action).to.equal(`${publicUrl}/saml/${IDP}/acs`);
  const home = await browser.go(acsForm!.action, acsForm!.fields);
  expect(home.status, pageText(home)).to.equal(200);
  const me = await browser.go(`${publicUrl}/api/me`);
  expect(me.status).to.equal(200);
  expect(JSON.parse(me.body)).to.include({ username: 'alice', backend: 'saml', via: 'session' });
}

/** The CSRF token of the home page (POST /logout needs it). */
async function csrfToken(browser: BrowserlessClient, publicUrl: string): Promise<string> {
  const home = await browser.go(`${publicUrl}/`);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(home.body)?.[1];
  expect(csrf, 'CSRF token on the home page').to.be.a('string');
  return csrf!;
}

describe('reference host with SAML Single Logout (SimpleSAMLphp, Redirect binding)', function () {
  this.timeout(60_000);
  let setup: SloSetup | undefined;
  let publicUrl: string;
  let idp: SimpleSamlPhpServer;

  before(async function () {
    requireServer(
      this,
      simpleSamlPhpAvailable(),
      'SimpleSAMLphp (apt-get install simplesamlphp php-xml php-mbstring php-cli)',
    );
    setup = await startSloSetup('redirect');
    ({ publicUrl, idp } = setup);
  });

  after(async function () {
    await setup?.close();
  });

  it('POST /logout: a signed LogoutRequest to the IdP, its LogoutResponse at /saml/<idp>/slo, then /login', async function () {
    const browser = new BrowserlessClient();
    await loginAlice(browser, setup!);
    const out = await browser.step(`${publicUrl}/logout`, {
      _csrf: await csrfToken(browser, publicUrl),
    });
    expect(out.status).to.equal(303);
    const location = new URL(out.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).to.equal(idp.sloUrl);
    expect(location.searchParams.get('SAMLRequest')).to.be.a('string');
    expect(location.searchParams.get('SigAlg')).to.equal(
      'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    );
    expect(location.searchParams.get('Signature')).to.be.a('string');
    // The local session ended with the POST.
    expect((await browser.go(`${publicUrl}/api/me`)).status).to.equal(401);

    // SimpleSAMLphp checks our signature (validate.logout), ends its session and answers.
    const back = await browser.goUntilLeaving(location.href, idp.baseUrl);
    expect(back.startsWith(`${publicUrl}/saml/${IDP}/slo?SAMLResponse=`), back).to.equal(true);
    expect(back).to.match(/[?&]Signature=/);
    const slo = await browser.step(back);
    expect(slo.status).to.equal(302);
    expect(slo.headers.get('location')).to.equal('/login');
    expect((await browser.go(`${publicUrl}/api/me`)).status).to.equal(401);
    // The LogoutResponse is consumed once: a second delivery is refused.
    expect((await browser.step(back)).status).to.equal(403);
  });

  it('IdP-initiated SLO: the recorded local session is destroyed and the IdP gets our answer', async function () {
    const browser = new BrowserlessClient();
    await loginAlice(browser, setup!);
    const stolen = browser.cookieHeader();
    const after = `${publicUrl}/after-logout`;
    const toUs = await browser.goUntilLeaving(
      `${idp.baseUrl}/saml2/idp/initSLO.php?RelayState=${encodeURIComponent(after)}`,
      idp.baseUrl,
    );
    expect(toUs.startsWith(`${publicUrl}/saml/${IDP}/slo?SAMLRequest=`), toUs).to.equal(true);
    // Without our cookie: the IdP's LogoutRequest alone names the session to end.
    const slo = await fetch(toUs, { redirect: 'manual' });
    expect(slo.status).to.equal(302);
    const answer = slo.headers.get('location')!;
    expect(answer.startsWith(`${idp.sloUrl}?SAMLResponse=`), answer).to.equal(true);
    expect(answer).to.match(/[?&]Signature=/);
    // The old cookie no longer names a session.
    const me = await fetch(`${publicUrl}/api/me`, { headers: { cookie: stolen } });
    expect(me.status).to.equal(401);
    // SimpleSAMLphp accepts our signed LogoutResponse and sends the browser to its RelayState.
    expect(await browser.goUntilLeaving(answer, idp.baseUrl)).to.equal(after);
  });
});

describe('reference host with SAML Single Logout (SimpleSAMLphp, HTTP-POST binding)', function () {
  this.timeout(60_000);
  let setup: SloSetup | undefined;
  let publicUrl: string;
  let idp: SimpleSamlPhpServer;

  before(async function () {
    requireServer(
      this,
      simpleSamlPhpAvailable(),
      'SimpleSAMLphp (apt-get install simplesamlphp php-xml php-mbstring php-cli)',
    );
    setup = await startSloSetup('post');
    ({ publicUrl, idp } = setup);
  });

  after(async function () {
    await setup?.close();
  });

  it('POST /logout: a form posting our signed LogoutRequest; the posted LogoutResponse ends at /login', async function () {
    const browser = new BrowserlessClient();
    await loginAlice(browser, setup!);
    const out = await browser.step(`${publicUrl}/logout`, {
      _csrf: await csrfToken(browser, publicUrl),
    });
    expect(out.status).to.equal(200);
    expect(out.headers.get('content-security-policy')).to.include(
      `form-action 'self' ${new URL(idp.baseUrl).origin}`,
    );
    const page = await out.text();
    expect(page).to.include('<button type="submit">Continue</button>').and.not.include('<script');
    const form = readForm(page, `${publicUrl}/logout`);
    expect(form?.action).to.equal(idp.sloUrl);
    expect(Object.keys(form!.fields).sort()).to.deep.equal(['RelayState', 'SAMLRequest']);
    expect(Buffer.from(form!.fields['SAMLRequest']!, 'base64').toString('utf8')).to.include(
      '<ds:SignatureValue>',
    );
    expect((await browser.go(`${publicUrl}/api/me`)).status).to.equal(401);

    // SimpleSAMLphp checks the enveloped signature (validate.logout) and posts its answer back.
    const idpPage = await browser.go(form!.action, form!.fields);
    const back = readForm(idpPage.body, idpPage.url);
    expect(back?.action, pageText(idpPage)).to.equal(`${publicUrl}/saml/${IDP}/slo`);
    expect(back!.fields).to.have.property('SAMLResponse');
    const slo = await browser.step(back!.action, back!.fields);
    expect(slo.status).to.equal(302);
    expect(slo.headers.get('location')).to.equal('/login');
    expect((await browser.step(back!.action, back!.fields)).status).to.equal(403);
  });

  it('IdP-initiated SLO: its posted LogoutRequest ends the session; our posted answer is accepted', async function () {
    const browser = new BrowserlessClient();
    await loginAlice(browser, setup!);
    const stolen = browser.cookieHeader();
    const after = `${publicUrl}/after-logout`;
    const idpPage = await browser.go(
      `${idp.baseUrl}/saml2/idp/initSLO.php?RelayState=${encodeURIComponent(after)}`,
    );
    const toUs = readForm(idpPage.body, idpPage.url);
    expect(toUs?.action, pageText(idpPage)).to.equal(`${publicUrl}/saml/${IDP}/slo`);
    expect(toUs!.fields).to.have.property('SAMLRequest');
    // Without our cookie: the IdP's LogoutRequest alone names the session to end.
    const slo = await fetch(toUs!.action, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(toUs!.fields).toString(),
    });
    expect(slo.status).to.equal(200);
    const answer = readForm(await slo.text(), toUs!.action);
    expect(answer?.action).to.equal(idp.sloUrl);
    expect(answer!.fields).to.have.property('SAMLResponse');
    expect((await fetch(`${publicUrl}/api/me`, { headers: { cookie: stolen } })).status).to.equal(
      401,
    );
    // SimpleSAMLphp checks our signed, posted LogoutResponse and sends the browser on.
    const done = await browser.step(answer!.action, answer!.fields);
    const location = done.headers.get('location');
    expect(location, `HTTP ${done.status}: ${(await done.text()).slice(0, 400)}`).to.equal(after);
  });
});
