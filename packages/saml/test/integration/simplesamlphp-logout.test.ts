/**
 * Single Logout interop with SimpleSAMLphp: SP-initiated SLO, Redirect binding both ways, with
 * `sign.logout` on (its signed LogoutResponse is accepted) and off, its default (the unsigned
 * LogoutResponse is refused).
 */
import { MemoryKeyValueStore, MemoryUserStore } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import {
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
import { after, before, describe, it } from 'mocha';
import { SamlBackend } from '../../src/index.js';

const SP_ENTITY_ID = 'https://sp.example.com/saml/metadata';
const SP_BASE_URL = 'https://sp.example.com';
const ACS_URL = `${SP_BASE_URL}/saml/ssp/acs`;
const SLO_URL = `${SP_BASE_URL}/saml/ssp/slo`;
const spKeys = testKeyPair('sp-interop-slo');

function backendFor(idp: SimpleSamlPhpServer): SamlBackend {
  return new SamlBackend({
    users: new MemoryUserStore(),
    replayStore: new MemoryKeyValueStore(),
    sp: {
      entityId: SP_ENTITY_ID,
      baseUrl: SP_BASE_URL,
      signingKey: spKeys.privateKeyPem,
      signingCerts: [spKeys.certPem],
    },
    idps: [
      {
        id: 'ssp',
        entityId: idp.entityId,
        ssoUrl: idp.ssoUrl,
        sloUrl: idp.sloUrl,
        signingCerts: [idp.certPem],
      },
    ],
  });
}

/** Logs alice in with `browser` (which keeps the IdP session cookie) and returns her SAML session. */
async function login(backend: SamlBackend, browser: BrowserlessClient) {
  const request = await backend.createLoginRequest('ssp');
  const loginPage = await browser.go(request.url);
  const loginForm = readForm(loginPage.body, loginPage.url);
  expect(loginForm?.fields, pageText(loginPage)).to.have.property('AuthState');
  const posted = await browser.go(loginForm!.action, {
    ...loginForm!.fields,
    username: 'alice',
    password: 'alicepass',
  });
  const form = readForm(posted.body, posted.url);
  expect(form?.fields, pageText(posted)).to.have.property('SAMLResponse');
  const user = await backend.authenticate(undefined, {
    idp: 'ssp',
    samlResponse: form!.fields['SAMLResponse']!,
  });
  expect(user?.saml).to.not.equal(undefined);
  return user!.saml!;
}

/** Sends our LogoutRequest through the IdP and returns the raw query it redirects back with. */
async function logoutRoundTrip(
  backend: SamlBackend,
  browser: BrowserlessClient,
  idp: SimpleSamlPhpServer,
  relayState?: string,
): Promise<string> {
  const session = await login(backend, browser);
  const out = await backend.createLogoutRequest(
    session,
    relayState === undefined ? {} : { relayState },
  );
  const back = await browser.goUntilLeaving(out.url, idp.baseUrl);
  expect(back.startsWith(`${SLO_URL}?`), back).to.equal(true);
  return back.slice(back.indexOf('?') + 1);
}

describe('interop: SimpleSAMLphp Single Logout', function () {
  this.timeout(60_000);
  let signing: SimpleSamlPhpServer | undefined;
  let unsigned: SimpleSamlPhpServer | undefined;

  before(async function () {
    requireServer(
      this,
      simpleSamlPhpAvailable(),
      'SimpleSAMLphp (apt-get install simplesamlphp php-xml php-mbstring php-cli)',
    );
    const sp = {
      entityId: SP_ENTITY_ID,
      acsUrl: ACS_URL,
      sloUrl: SLO_URL,
      certPem: spKeys.certPem,
      validateRequests: true,
    };
    [signing, unsigned] = await Promise.all([
      startSimpleSamlPhp({ sp, signLogout: true }),
      startSimpleSamlPhp({ sp }),
    ]);
  });

  after(async function () {
    await Promise.all([signing?.stop(), unsigned?.stop()]);
  });

  it('SP-initiated SLO with sign.logout on: its signed LogoutResponse is accepted', async function () {
    const backend = backendFor(signing!);
    const query = await logoutRoundTrip(backend, new BrowserlessClient(), signing!, '/goodbye');
    expect(await backend.handleLogoutRedirect('ssp', query)).to.deep.equal({
      kind: 'logout-response',
      relayState: '/goodbye',
      success: true,
      status: 'urn:oasis:names:tc:SAML:2.0:status:Success',
    });
  });

  it('SP-initiated SLO with sign.logout off (its default): the unsigned LogoutResponse is refused', async function () {
    const backend = backendFor(unsigned!);
    const query = await logoutRoundTrip(backend, new BrowserlessClient(), unsigned!);
    expect(query).to.not.match(/(^|&)Signature=/);
    await expectRejection(backend.handleLogoutRedirect('ssp', query), 'PROTOCOL_INVALID');
  });

  it('IdP-initiated SLO: its signed LogoutRequest ends the recorded session, and it accepts our signed answer', async function () {
    const backend = backendFor(signing!);
    const browser = new BrowserlessClient();
    const session = await login(backend, browser);
    await backend.recordSession(session, 'local-session-1');
    const toUs = await browser.goUntilLeaving(
      `${signing!.baseUrl}/saml2/idp/initSLO.php?RelayState=${encodeURIComponent('https://sp.example.com/after')}`,
      signing!.baseUrl,
    );
    expect(toUs.startsWith(`${SLO_URL}?`), toUs).to.equal(true);
    const outcome = await backend.handleLogoutRedirect('ssp', toUs.slice(toUs.indexOf('?') + 1));
    if (outcome.kind !== 'logout-request') throw new Error('expected a LogoutRequest');
    expect(outcome.nameId).to.equal(session.nameId);
    expect(outcome.sessionIds).to.deep.equal(['local-session-1']);
    if (outcome.response?.binding !== 'redirect') throw new Error('expected the Redirect binding');
    // SimpleSAMLphp checks our signed LogoutResponse (validate.logout) and finishes its logout.
    const done = await browser.goUntilLeaving(outcome.response.url, signing!.baseUrl);
    expect(done).to.equal('https://sp.example.com/after');
  });

  it('refuses the same LogoutResponse twice', async function () {
    const backend = backendFor(signing!);
    const query = await logoutRoundTrip(backend, new BrowserlessClient(), signing!);
    await backend.handleLogoutRedirect('ssp', query);
    await expectRejection(backend.handleLogoutRedirect('ssp', query), 'PROTOCOL_INVALID');
  });
});
