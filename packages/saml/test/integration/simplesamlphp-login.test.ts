/**
 * Interop with a real, independent IdP: SimpleSAMLphp (Debian's) on loopback. SP-initiated login
 * end to end without a browser: our AuthnRequest → its login form → its auto-submit form →
 * our ACS checks.
 */
import { MemoryKeyValueStore, MemoryUserStore } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import {
  liveServers,
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
import { existsSync } from 'node:fs';
import { IdpMetadataSource, SamlBackend, type SamlBackendOptions } from '../../src/index.js';

const SP_ENTITY_ID = 'https://sp.example.com/saml/metadata';
const SP_BASE_URL = 'https://sp.example.com';
const ACS_URL = `${SP_BASE_URL}/saml/ssp/acs`;
const MAIL = 'urn:oid:0.9.2342.19200300.100.1.3';
const AFFILIATION = 'urn:oid:1.3.6.1.4.1.5923.1.1.1.1';
const spKeys = testKeyPair('sp-interop');

function backendFor(
  idp: SimpleSamlPhpServer,
  overrides: Partial<SamlBackendOptions> = {},
): SamlBackend {
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
    attributes: {
      email: { name: MAIL, friendlyNames: ['mail'] },
      groups: { name: AFFILIATION, friendlyNames: ['eduPersonAffiliation'] },
    },
    ...overrides,
  });
}

/** Walks the IdP's login and returns what its auto-submit form would post to our ACS. */
async function loginAt(
  backend: SamlBackend,
  username: string,
  password: string,
  relayState = '/inbox',
  browser = new BrowserlessClient(),
): Promise<{ action: string; samlResponse: string; relayState: string | undefined }> {
  const request = await backend.createLoginRequest('ssp', { relayState });
  if (request.binding !== 'redirect') throw new Error('expected the Redirect binding');
  const loginPage = await browser.go(request.url);
  const loginForm = readForm(loginPage.body, loginPage.url);
  expect(loginForm?.fields, `login form expected, got: ${pageText(loginPage)}`).to.have.property(
    'AuthState',
  );
  const posted = await browser.go(loginForm!.action, { ...loginForm!.fields, username, password });
  const form = readForm(posted.body, posted.url);
  // Error pages answer 200 too: the auto-submit form with a SAMLResponse is the only success.
  expect(form?.fields, `auto-submit form expected, got: ${pageText(posted)}`).to.have.property(
    'SAMLResponse',
  );
  return {
    action: form!.action,
    samlResponse: form!.fields['SAMLResponse']!,
    relayState: form!.fields['RelayState'],
  };
}

describe('interop: SimpleSAMLphp IdP', function () {
  this.timeout(60_000);
  let idp: SimpleSamlPhpServer | undefined;

  before(async function () {
    requireServer(
      this,
      simpleSamlPhpAvailable(),
      'SimpleSAMLphp (apt-get install simplesamlphp php-xml php-mbstring php-cli)',
    );
    idp = await startSimpleSamlPhp({
      sp: {
        entityId: SP_ENTITY_ID,
        acsUrl: ACS_URL,
        certPem: spKeys.certPem,
        validateRequests: true,
      },
    });
  });

  after(async function () {
    await idp?.stop();
  });

  it('logs alice in, SP-initiated, with a signed AuthnRequest', async function () {
    const backend = backendFor(idp!);
    const posted = await loginAt(backend, 'alice', 'alicepass');
    expect(posted.action).to.equal(ACS_URL);
    expect(posted.relayState).to.equal('/inbox');
    const user = await backend.authenticate(undefined, {
      idp: 'ssp',
      samlResponse: posted.samlResponse,
      relayState: posted.relayState,
    });
    expect(user?.username).to.equal('alice');
    expect(user?.email).to.equal('alice@example.com');
    expect(user?.groups).to.deep.equal(['member', 'staff']);
    expect(user?.saml?.sessionIndex).to.be.a('string');
    expect(user?.saml?.nameIdFormat).to.equal(
      'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    );
  });

  it('refuses the same SimpleSAMLphp response twice', async function () {
    const backend = backendFor(idp!);
    const posted = await loginAt(backend, 'bob', 'bobpass');
    await backend.authenticate(undefined, { idp: 'ssp', samlResponse: posted.samlResponse });
    await expectRejection(
      backend.authenticate(undefined, { idp: 'ssp', samlResponse: posted.samlResponse }),
      'REPLAY_DETECTED',
    );
  });

  it('refuses its response when another SP instance issued the request', async function () {
    const posted = await loginAt(backendFor(idp!), 'alice', 'alicepass');
    await expectRejection(
      backendFor(idp!).authenticate(undefined, { idp: 'ssp', samlResponse: posted.samlResponse }),
      'PROTOCOL_INVALID',
    );
  });

  it('refuses its response when the IdP key is not the pinned one', async function () {
    const backend = backendFor(idp!);
    const posted = await loginAt(backend, 'alice', 'alicepass');
    const other = backendFor(idp!, {
      idps: [
        {
          id: 'ssp',
          entityId: idp!.entityId,
          ssoUrl: idp!.ssoUrl,
          signingCerts: [testKeyPair('not-the-idp').certPem],
        },
      ],
    });
    await expectRejection(
      other.authenticate(undefined, { idp: 'ssp', samlResponse: posted.samlResponse }),
      'PROTOCOL_INVALID',
    );
  });

  it('configures the IdP from its published metadata and logs in with it', async function () {
    const source = await IdpMetadataSource.load({
      url: idp!.metadataUrl,
      entityId: idp!.entityId,
      // The harness serves plain http on loopback; production keeps both guards on.
      allowHttp: true,
      allowPrivateAddresses: true,
    });
    try {
      expect(source.current.sso.redirect).to.equal(idp!.ssoUrl);
      expect(source.current.slo.redirect).to.equal(idp!.sloUrl);
      const backend = backendFor(idp!, { idps: [source.idpOptions({ id: 'ssp' })] });
      const posted = await loginAt(backend, 'bob', 'bobpass');
      const user = await backend.authenticate(undefined, {
        idp: 'ssp',
        samlResponse: posted.samlResponse,
      });
      expect(user?.username).to.equal('bob');
    } finally {
      source.close();
    }
  });

  it('refuses an unsigned AuthnRequest when the IdP requires signed ones (its error page is HTTP 200)', async function () {
    const backend = backendFor(idp!, { sp: { entityId: SP_ENTITY_ID, baseUrl: SP_BASE_URL } });
    const request = await backend.createLoginRequest('ssp');
    const page = await new BrowserlessClient().go(request.url);
    expect(page.status).to.equal(200);
    expect(page.body).to.match(/error|exception/i);
    expect(readForm(page.body, page.url)?.fields ?? {}).to.not.have.property('AuthState');
  });

  it('stops cleanly: no live server and no directory left', async function () {
    const other = await startSimpleSamlPhp({ sp: { entityId: SP_ENTITY_ID, acsUrl: ACS_URL } });
    expect(liveServers().some((s) => s.dir === other.dir)).to.equal(true);
    await other.stop();
    await other.stop();
    expect(liveServers().some((s) => s.dir === other.dir)).to.equal(false);
    expect(existsSync(other.dir)).to.equal(false);
  });

  it('shows a wrong password as an HTTP 200 page without a SAMLResponse', async function () {
    const backend = backendFor(idp!);
    const browser = new BrowserlessClient();
    const request = await backend.createLoginRequest('ssp');
    const loginPage = await browser.go(request.url);
    const loginForm = readForm(loginPage.body, loginPage.url)!;
    const posted = await browser.go(loginForm.action, {
      ...loginForm.fields,
      username: 'alice',
      password: 'wrong',
    });
    expect(posted.status).to.equal(200);
    expect(readForm(posted.body, posted.url)?.fields).to.not.have.property('SAMLResponse');
  });
});
