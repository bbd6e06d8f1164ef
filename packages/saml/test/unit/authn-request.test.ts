/**
 * SP-initiated SSO: AuthnRequests over HTTP-Redirect and HTTP-POST, signed with RSA-SHA256 when
 * configured, carrying ForceAuthn, IsPassive, NameIDPolicy and RequestedAuthnContext.
 */
import { createVerify } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { expectRejection } from '@authbridge/conformance';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import { SignedXml } from 'xml-crypto';
import type { LoginRequest } from '../../src/index.js';
import { ACS_URL, type FixtureOptions, SP_ENTITY_ID, samlFixture } from '../support/fixture.js';
import { NS } from '../support/saml-xml.js';
import { testKeyPair } from '@authbridge/testkit';
import { kid, kids, parse } from '../support/xml-mutations.js';

const spKeys = testKeyPair('sp-signing');
const SIGNING: FixtureOptions = {
  backend: {
    sp: {
      entityId: SP_ENTITY_ID,
      baseUrl: 'https://sp.example.com',
      signingKey: spKeys.privateKeyPem,
      signingCerts: [spKeys.certPem],
    },
  },
};
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';

function redirectXml(request: LoginRequest): string {
  if (request.binding !== 'redirect') throw new Error('expected redirect');
  const param = new URL(request.url).searchParams.get('SAMLRequest');
  return inflateRawSync(Buffer.from(param!, 'base64')).toString('utf8');
}

describe('SamlBackend.createLoginRequest', function () {
  it('builds an unsigned Redirect AuthnRequest for the IdP', async function () {
    const f = samlFixture();
    const request = await f.backend.createLoginRequest('corp', { relayState: '/inbox?x=1' });
    const url = new URL(request.url);
    expect(url.origin + url.pathname).to.equal('https://idp.example.com/sso');
    expect(url.searchParams.get('RelayState')).to.equal('/inbox?x=1');
    expect(url.searchParams.has('Signature')).to.equal(false);
    const xml = parse(redirectXml(request));
    expect(xml.localName).to.equal('AuthnRequest');
    expect(xml.getAttribute('ID')).to.equal(request.requestId);
    expect(xml.getAttribute('AssertionConsumerServiceURL')).to.equal(ACS_URL);
    expect(xml.getAttribute('Destination')).to.equal('https://idp.example.com/sso');
    expect(xml.hasAttribute('ForceAuthn')).to.equal(false);
    expect(xml.hasAttribute('IsPassive')).to.equal(false);
    expect(kid(xml, NS.protocol, 'NameIDPolicy').getAttribute('Format')).to.equal(
      'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    );
    expect(kids(xml, NS.protocol, 'RequestedAuthnContext')).to.have.length(0);
  });

  it('carries ForceAuthn, IsPassive, NameIDPolicy and RequestedAuthnContext', async function () {
    const f = samlFixture({
      corp: {
        nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
        requestedAuthnContext: ['https://refeds.org/profile/mfa'],
        authnContextComparison: 'minimum',
      },
    });
    const xml = parse(
      redirectXml(
        await f.backend.createLoginRequest('corp', { forceAuthn: true, isPassive: true }),
      ),
    );
    expect(xml.getAttribute('ForceAuthn')).to.equal('true');
    expect(xml.getAttribute('IsPassive')).to.equal('true');
    expect(kid(xml, NS.protocol, 'NameIDPolicy').getAttribute('Format')).to.equal(
      'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
    );
    const rac = kid(xml, NS.protocol, 'RequestedAuthnContext');
    expect(rac.getAttribute('Comparison')).to.equal('minimum');
    expect(kid(rac, NS.assertion, 'AuthnContextClassRef').textContent).to.equal(
      'https://refeds.org/profile/mfa',
    );
  });

  it('signs the Redirect query with RSA-SHA256 over the exact query bytes', async function () {
    const f = samlFixture(SIGNING);
    const request = await f.backend.createLoginRequest('corp', { relayState: '/home' });
    const query = new URL(request.url).search.slice(1);
    const params = new URLSearchParams(query);
    expect(params.get('SigAlg')).to.equal(RSA_SHA256);
    const signedPart = query
      .split('&')
      .filter((p) => !p.startsWith('Signature='))
      .join('&');
    const verifier = createVerify('RSA-SHA256');
    verifier.update(signedPart);
    expect(verifier.verify(spKeys.certPem, params.get('Signature')!, 'base64')).to.equal(true);
  });

  it('signs a POST AuthnRequest (enveloped, RSA-SHA256) and does not deflate it', async function () {
    const f = samlFixture({ ...SIGNING, corp: { authnRequestBinding: 'post' } });
    const request = await f.backend.createLoginRequest('corp', { relayState: '/home' });
    if (request.binding !== 'post') throw new Error('expected post');
    expect(request.url).to.equal('https://idp.example.com/sso');
    expect(request.fields['RelayState']).to.equal('/home');
    const xml = Buffer.from(request.fields['SAMLRequest']!, 'base64').toString('utf8');
    const root = parse(xml);
    expect(root.getAttribute('ID')).to.equal(request.requestId);
    const signature = kid(root, NS.dsig, 'Signature');
    const method = kid(kid(signature, NS.dsig, 'SignedInfo'), NS.dsig, 'SignatureMethod');
    expect(method.getAttribute('Algorithm')).to.equal(RSA_SHA256);
    const sig = new SignedXml({ publicCert: spKeys.certPem });
    sig.loadSignature(signature);
    expect(sig.checkSignature(xml)).to.equal(true);
  });

  it('refuses a RelayState that leaves the origin', async function () {
    const f = samlFixture();
    for (const relayState of [
      'https://evil.example/',
      '//evil.example',
      '/\\evil.example',
      'javascript:alert(1)',
    ]) {
      await expectRejection(
        f.backend.createLoginRequest('corp', { relayState }),
        'INVALID_REQUEST',
      );
    }
  });

  it('refuses an unknown IdP', async function () {
    await expectRejection(samlFixture().backend.createLoginRequest('nope'), 'INVALID_REQUEST');
  });

  it('records each request ID once, for its IdP only', async function () {
    const f = samlFixture();
    const a = await f.backend.createLoginRequest('corp');
    const b = await f.backend.createLoginRequest('corp');
    expect(a.requestId).to.not.equal(b.requestId);
    expect(await f.replayStore.get(`saml:saml:req:corp:${a.requestId}`)).to.be.a('string');
    expect(await f.replayStore.get(`saml:saml:req:partner:${a.requestId}`)).to.equal(undefined);
  });
});
