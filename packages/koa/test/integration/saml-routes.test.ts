// The SAML routes over HTTP: a Koa app with sessions, authbridge() and samlRoutes() in front of
// the real SamlBackend, answered by the SAML package's in-process test IdP. Each test listens on
// port 0 and closes its server.
import { bodyParser } from '@koa/bodyparser';
import { Authenticator, MemoryKeyValueStore, MemoryUserStore } from '@authbridge/core';
import {
  type AuthState,
  authbridge,
  errorHandler,
  logout,
  samlLogoutMessage,
  samlRoutes,
  sendSamlMessage,
  sessions,
} from '@authbridge/koa';
import {
  SamlBackend,
  type SamlIdpOptions,
  type SamlSpOptions,
  verifyRedirectQuery,
} from '@authbridge/saml';
import { expect } from 'chai';
import Koa from 'koa';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateRawSync } from 'node:zlib';
import { BrowserlessClient, testKeyPair } from '@authbridge/testkit';
import {
  buildLogoutRequestXml,
  buildLogoutResponseXml,
  instant,
  redirectQuery,
  samlId,
} from '../../../saml/test/support/saml-xml.js';
import { TestIdp } from '../../../saml/test/support/test-idp.js';

const SP_ENTITY_ID = 'https://sp.example.com/saml/metadata';
const IDP_ENTITY_ID = 'https://idp.example.com/saml';
const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const IDP_SLO = 'https://idp.example.com/slo';
const RESPONDER = 'urn:oasis:names:tc:SAML:2.0:status:Responder';

/** A browser on the site at `base`: the testkit's cookie-keeping client, by path. */
class Browser {
  readonly #client = new BrowserlessClient();
  readonly base: string;

  constructor(base: string) {
    this.base = base;
  }

  /** GET, or POST (a form, empty unless given); redirects are not followed. */
  request(
    path: string,
    init: { method?: 'GET' | 'POST'; form?: Record<string, string> } = {},
  ): Promise<Response> {
    return this.#client.step(
      this.base + path,
      init.form ?? (init.method === 'POST' ? {} : undefined),
    );
  }

  /** The signed-in username, or null. */
  async whoami(): Promise<string | null> {
    const me = (await (await this.request('/whoami')).json()) as { username: string | null };
    return me.username;
  }

  /** This browser's cookies as a `Cookie` header (what a copy of its jar would send). */
  cookieHeader(): string {
    return this.#client.cookieHeader();
  }
}

/** A GET to `base + path` sending exactly `cookie`; redirects are not followed. */
function getWithCookies(base: string, path: string, cookie: string): Promise<Response> {
  return fetch(base + path, { headers: { cookie }, redirect: 'manual' });
}

/** The `code` of a JSON error answer. */
async function codeOf(response: Response): Promise<string> {
  return ((await response.json()) as { code: string }).code;
}

/** The XML of a Redirect-binding message in `url`. */
function inflated(url: string, param: 'SAMLRequest' | 'SAMLResponse'): string {
  const value = new URL(url).searchParams.get(param)!;
  return inflateRawSync(Buffer.from(value, 'base64')).toString('utf8');
}

interface Site {
  readonly base: string;
  readonly idp: TestIdp;
  /** What the routes logged as warnings. */
  readonly warnings: { fields: Record<string, unknown>; message: string }[];
  /** Logs `nameId` in through /saml/corp/login (with `next` when given); the final response. */
  login(browser: Browser, nameId: string, next?: string): Promise<Response>;
  /**
   * Starts a login in `browser` and posts the IdP's answer to the ACS, stopping before the
   * browser comes back: the resume path the ACS redirected to.
   */
  answered(browser: Browser, nameId: string, next?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * An app with one SAML backend whose IdP `corp` is `idp` (overrides apply to it), and any
 * `otherIdps` after it.
 */
async function startSite(
  idpOptions: Partial<SamlIdpOptions> = {},
  sp: Partial<SamlSpOptions> = {},
  otherIdps: readonly SamlIdpOptions[] = [],
): Promise<Site> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  const idp = new TestIdp({
    entityId: IDP_ENTITY_ID,
    sp: { entityId: SP_ENTITY_ID, acsUrl: `${base}/saml/corp/acs` },
  });
  const store = new MemoryKeyValueStore();
  const backend = new SamlBackend({
    users: new MemoryUserStore(),
    replayStore: store,
    sp: { entityId: SP_ENTITY_ID, baseUrl: base, ...sp },
    idps: [
      {
        id: 'corp',
        entityId: idp.entityId,
        ssoUrl: 'https://idp.example.com/sso',
        signingCerts: [idp.keys.certPem],
        ...idpOptions,
      },
      ...otherIdps,
    ],
  });
  const authenticator = new Authenticator({ backends: [backend] });
  const warnings: Site['warnings'] = [];
  const app = new Koa<AuthState>();
  app.silent = true;
  app.use(errorHandler());
  app.use(bodyParser({ enableTypes: ['form'] }));
  app.use(sessions({ store }));
  app.use(authbridge({ authenticator, secret: SECRET }));
  app.use(
    samlRoutes({
      backend,
      authenticator,
      sessionStore: store,
      logger: {
        warn: (fields, message) => {
          warnings.push({ fields, message });
        },
      },
    }),
  );
  app.use(async (ctx, next) => {
    if (ctx.path === '/whoami') {
      const user = await ctx.state.user;
      ctx.body = { username: user.isAuthenticated ? user.username : null };
    } else if (ctx.path === '/logout' && ctx.method === 'POST') {
      // As the reference host does: SAML users also log out at their IdP when it can be done.
      const message = await samlLogoutMessage(ctx, backend, '/login');
      await logout(ctx);
      ctx.status = 303;
      if (message === undefined) ctx.redirect('/login');
      else sendSamlMessage(ctx, message, 'out');
    } else {
      await next();
    }
  });
  const handle = app.callback();
  server.on('request', (req, res) => {
    void handle(req, res);
  });
  const site: Site = {
    base,
    idp,
    warnings,
    async login(browser, nameId, next) {
      return browser.request(await site.answered(browser, nameId, next));
    },
    async answered(browser, nameId, next) {
      const start = await browser.request(
        `/saml/corp/login${next === undefined ? '' : `?next=${encodeURIComponent(next)}`}`,
      );
      expect(start.status, await start.clone().text()).to.equal(302);
      const location = start.headers.get('location')!;
      const requestId = /ID="([^"]+)"/.exec(inflated(location, 'SAMLRequest'))![1]!;
      const relayState = new URL(location).searchParams.get('RelayState');
      const answer = idp.respond({
        nameId,
        inResponseTo: requestId,
        subjectConfirmations: [
          {
            method: 'urn:oasis:names:tc:SAML:2.0:cm:bearer',
            recipient: idp.sp.acsUrl,
            notOnOrAfter: instant(Date.now() + 300_000),
            inResponseTo: requestId,
          },
        ],
      });
      const acs = await browser.request('/saml/corp/acs', {
        method: 'POST',
        form: {
          SAMLResponse: answer.samlResponse,
          ...(relayState === null ? {} : { RelayState: relayState }),
        },
      });
      expect(acs.status, await acs.clone().text()).to.equal(303);
      return acs.headers.get('location')!;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
  return site;
}

describe('SAML routes over HTTP', function () {
  let site: Site | undefined;
  afterEach(async function () {
    await site?.close();
    site = undefined;
  });

  it('logs in through the IdP and back to next', async function () {
    site = await startSite();
    const browser = new Browser(site.base);
    const done = await site.login(browser, 'alice', '/inbox');
    expect(done.status).to.equal(303);
    expect(done.headers.get('location')).to.equal('/inbox');
    expect(await browser.whoami()).to.equal('alice');
  });

  it('takes a resume key once, even from a copy of the browser that holds the request cookie', async function () {
    site = await startSite();
    const browser = new Browser(site.base);
    const resume = await site.answered(browser, 'alice', '/inbox');
    expect(resume).to.match(/^\/saml\/corp\/acs\?resume=[A-Za-z0-9_-]{43}$/);
    // A second browser with this one's cookies (a copied jar, or a stale tab): it still names the
    // AuthnRequest this answer is to, so only the store's one-time delete can refuse it.
    const copied = browser.cookieHeader();
    expect(copied).to.include('authbridge.saml-requests=');
    const first = await browser.request(resume);
    expect(first.status).to.equal(303);
    expect(first.headers.get('location')).to.equal('/inbox');
    expect(await browser.whoami()).to.equal('alice');
    const again = await getWithCookies(site.base, resume, copied);
    expect(again.status).to.equal(403);
    expect(await codeOf(again)).to.equal('PROTOCOL_INVALID');
    expect(again.headers.getSetCookie().join('\n'), 'no session for the copy').to.not.include(
      'authbridge.sid',
    );
  });

  it('of two concurrent uses of one resume key, exactly one logs in', async function () {
    site = await startSite();
    const browser = new Browser(site.base);
    const resume = await site.answered(browser, 'alice');
    const cookie = browser.cookieHeader();
    const answers = await Promise.all([
      getWithCookies(site.base, resume, cookie),
      getWithCookies(site.base, resume, cookie),
    ]);
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).to.deep.equal([303, 403]);
    const refused = answers.find((a) => a.status === 403)!;
    expect(await codeOf(refused)).to.equal('PROTOCOL_INVALID');
  });

  it("refuses a resume key under another IdP's route, though this browser started the login", async function () {
    site = await startSite({}, {}, [
      {
        id: 'partner',
        entityId: 'https://partner.example.com/saml',
        ssoUrl: 'https://partner.example.com/sso',
        signingCerts: [testKeyPair('koa-saml-routes-partner').certPem],
      },
    ]);
    const browser = new Browser(site.base);
    const resume = await site.answered(browser, 'alice');
    const elsewhere = resume.replace('/saml/corp/acs?', '/saml/partner/acs?');
    expect(elsewhere).to.not.equal(resume);
    const answer = await browser.request(elsewhere);
    expect(answer.status).to.equal(403);
    expect(await codeOf(answer)).to.equal('PROTOCOL_INVALID');
    expect(await browser.whoami()).to.equal(null);
  });

  it('logs in without RelayState when next is longer than the 80 bytes RelayState may hold', async function () {
    site = await startSite();
    const browser = new Browser(site.base);
    const next = `/reports/quarterly?from=2024-01-01&to=2024-03-31&region=emea&sort=desc&page=${'2'.repeat(10)}`;
    expect(Buffer.byteLength(next)).to.be.greaterThan(80);
    const done = await site.login(browser, 'alice', next);
    expect(done.status).to.equal(303);
    expect(done.headers.get('location'), 'the default page').to.equal('/');
    expect(await browser.whoami()).to.equal('alice');
  });

  it("signs a next holding space ~ ! ' ( ) so that the IdP can verify it, and returns there", async function () {
    const spKeys = testKeyPair('koa-saml-routes-sp');
    site = await startSite(
      {},
      { signingKey: spKeys.privateKeyPem, signingCerts: [spKeys.certPem] },
    );
    const browser = new Browser(site.base);
    const next = "/~alice/docs/(draft) it's!";
    const start = await browser.request(`/saml/corp/login?next=${encodeURIComponent(next)}`);
    const location = start.headers.get('location')!;
    const message = verifyRedirectQuery(new URL(location).search.slice(1), [spKeys.certPem], 1e6);
    expect(message.relayState).to.equal('/%7Ealice/docs/%28draft%29%20it%27s%21');
    const done = await site.login(new Browser(site.base), 'alice', next);
    expect(done.headers.get('location')).to.equal('/%7Ealice/docs/%28draft%29%20it%27s%21');
  });

  it('a non-Success LogoutResponse to our LogoutRequest ends like a success, with a warning', async function () {
    const spKeys = testKeyPair('koa-saml-routes-sp');
    site = await startSite(
      { sloUrl: IDP_SLO },
      { signingKey: spKeys.privateKeyPem, signingCerts: [spKeys.certPem] },
    );
    const browser = new Browser(site.base);
    await site.login(browser, 'alice');
    const out = await browser.request('/logout', { method: 'POST' });
    expect(out.status).to.equal(303);
    const requestUrl = out.headers.get('location')!;
    expect(requestUrl.startsWith(`${IDP_SLO}?`)).to.equal(true);
    const requestId = /ID="([^"]+)"/.exec(inflated(requestUrl, 'SAMLRequest'))![1]!;
    const answer = (statusCode: string, privateKeyPem?: string): string =>
      redirectQuery(
        'SAMLResponse',
        buildLogoutResponseXml({
          id: samlId(),
          issueInstant: instant(Date.now()),
          issuer: IDP_ENTITY_ID,
          destination: `${site!.base}/saml/corp/slo`,
          inResponseTo: requestId,
          statusCode,
        }),
        { relayState: '/login', ...(privateKeyPem === undefined ? {} : { privateKeyPem }) },
      );
    // Unsigned, or signed by another key: refused as before, and nothing is logged.
    expect((await browser.request(`/saml/corp/slo?${answer(RESPONDER)}`)).status).to.equal(403);
    const attacker = testKeyPair('koa-saml-routes-attacker').privateKeyPem;
    expect(
      (await browser.request(`/saml/corp/slo?${answer(RESPONDER, attacker)}`)).status,
    ).to.equal(403);
    expect(site.warnings).to.deep.equal([]);
    const slo = await browser.request(
      `/saml/corp/slo?${answer(RESPONDER, site.idp.keys.privateKeyPem)}`,
    );
    expect(slo.status).to.equal(302);
    expect(slo.headers.get('location')).to.equal('/login');
    expect(await browser.whoami()).to.equal(null);
    expect(site.warnings).to.have.length(1);
    expect(site.warnings[0]!.fields).to.include({ idp: 'corp', status: RESPONDER });
  });

  it('without an SP signing key, logout is local only: no unsigned LogoutRequest to the IdP', async function () {
    site = await startSite({ sloUrl: IDP_SLO });
    const browser = new Browser(site.base);
    await site.login(browser, 'alice');
    const out = await browser.request('/logout', { method: 'POST' });
    expect(out.status).to.equal(303);
    expect(out.headers.get('location')).to.equal('/login');
    expect(await browser.whoami()).to.equal(null);
  });

  it('an IdP-initiated logout from an IdP without SingleLogoutService ends the session, then /login', async function () {
    site = await startSite();
    const browser = new Browser(site.base);
    await site.login(browser, 'alice');
    expect(await browser.whoami()).to.equal('alice');
    const request = buildLogoutRequestXml({
      id: samlId(),
      issueInstant: instant(Date.now()),
      issuer: IDP_ENTITY_ID,
      destination: `${site.base}/saml/corp/slo`,
      nameId: 'alice',
      sessionIndexes: [],
    });
    // Another client than the browser: the LogoutRequest alone names the session to end.
    const slo = await new Browser(site.base).request(
      `/saml/corp/slo?${redirectQuery('SAMLRequest', request, { privateKeyPem: site.idp.keys.privateKeyPem })}`,
    );
    expect(slo.status).to.equal(302);
    expect(slo.headers.get('location')).to.equal('/login');
    expect(await browser.whoami()).to.equal(null);
  });
});
