/**
 * EncryptedAssertion (with SP decryption-key rollover) and SP metadata generation (with
 * signing-certificate rollover, optionally signed).
 */
import { expectRejection } from '@authbridge/conformance';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import { SignedXml } from 'xml-crypto';
import { type FixtureOptions, SP_BASE_URL, SP_ENTITY_ID, samlFixture } from '../support/fixture.js';
import { ALG, NS } from '../support/saml-xml.js';
import { testKeyPair } from '@authbridge/testkit';
import { kid, kids, parse } from '../support/xml-mutations.js';

const current = testKeyPair('sp-enc-current');
const previous = testKeyPair('sp-enc-previous');
const signingNew = testKeyPair('sp-sign-new');
const signingOld = testKeyPair('sp-sign-old');

function sp(decryptionKeys: readonly (typeof current)[]): FixtureOptions {
  return {
    backend: {
      sp: {
        entityId: SP_ENTITY_ID,
        baseUrl: SP_BASE_URL,
        signingKey: signingNew.privateKeyPem,
        signingCerts: [signingNew.certPem, signingOld.certPem],
        decryptionKeys: decryptionKeys.map((k) => ({
          privateKey: k.privateKeyPem,
          certificate: k.certPem,
        })),
      },
    },
  };
}

describe('EncryptedAssertion', function () {
  it('decrypts a signed, encrypted assertion inside a signed Response', async function () {
    const f = samlFixture(sp([current]));
    const r = f.idp.respond({ nameId: 'enc-alice' }, { encryptFor: current.certPem });
    expect(r.xml).to.include('EncryptedAssertion').and.not.include('enc-alice');
    expect((await f.backend.authenticate(undefined, f.creds(r.samlResponse)))?.username).to.equal(
      'enc-alice',
    );
  });

  it('decrypts with an assertion-only signing policy', async function () {
    const f = samlFixture({ ...sp([current]), corp: { signing: 'assertion' } });
    const r = f.idp.respond(
      { nameId: 'enc-bob' },
      { sign: 'assertion', encryptFor: current.certPem },
    );
    expect((await f.backend.authenticate(undefined, f.creds(r.samlResponse)))?.username).to.equal(
      'enc-bob',
    );
  });

  it('rolls SP decryption keys over: the new and the old key both decrypt', async function () {
    const f = samlFixture(sp([current, previous]));
    for (const key of [current, previous]) {
      const r = f.idp.respond({}, { encryptFor: key.certPem });
      expect(await f.backend.authenticate(undefined, f.creds(r.samlResponse))).to.not.equal(null);
    }
  });

  it('refuses a SHA-1 signature hidden inside the EncryptedAssertion', async function () {
    const f = samlFixture(sp([current]));
    // The inner assertion is signed with `innerAlg` and encrypted; the Response is then signed
    // again with SHA-256, so SHA-1 appears nowhere in the posted bytes.
    const post = (innerAlg: string): string => {
      const inner = f.idp.respond(
        {},
        { encryptFor: current.certPem, signatureAlgorithm: innerAlg },
      );
      const outer = f.idp.issue(f.idp.spec(), {
        sign: 'response',
        responseXml: () => inner.xml.replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/, ''),
      });
      expect(outer.xml).to.not.include('rsa-sha1');
      return outer.samlResponse;
    };
    expect(await f.backend.authenticate(undefined, f.creds(post(ALG.rsaSha256)))).to.not.equal(
      null,
    );
    await expectRejection(
      f.backend.authenticate(undefined, f.creds(post(ALG.rsaSha1))),
      'PROTOCOL_INVALID',
    );
  });

  it('refuses a SHA-1 signature inside the EncryptedAssertion with an assertion-only policy (unsigned Response)', async function () {
    const f = samlFixture({ ...sp([current]), corp: { signing: 'assertion' } });
    const post = (options: { signatureAlgorithm?: string; digestAlgorithm?: string }): string => {
      const r = f.idp.respond({}, { sign: 'assertion', encryptFor: current.certPem, ...options });
      expect(r.xml).to.include('EncryptedAssertion').and.not.include('xmldsig#rsa-sha1');
      expect(r.xml).to.not.match(/<ds:Signature[\s>]/);
      return r.samlResponse;
    };
    expect(await f.backend.authenticate(undefined, f.creds(post({})))).to.not.equal(null);
    for (const options of [
      { signatureAlgorithm: ALG.rsaSha1, digestAlgorithm: ALG.sha1 },
      { signatureAlgorithm: ALG.rsaSha1 },
      { digestAlgorithm: ALG.sha1 },
    ]) {
      const rejection = await expectRejection(
        f.backend.authenticate(undefined, f.creds(post(options))),
        'PROTOCOL_INVALID',
      );
      expect(String((rejection as { detail?: unknown }).detail)).to.match(/algorithm/i);
    }
  });

  it('refuses an assertion encrypted for a key the SP does not hold', async function () {
    const f = samlFixture(sp([current, previous]));
    const r = f.idp.respond({}, { encryptFor: testKeyPair('someone-else').certPem });
    await expectRejection(
      f.backend.authenticate(undefined, f.creds(r.samlResponse)),
      'PROTOCOL_INVALID',
    );
  });

  it('refuses RSA-1_5 key transport (B19)', async function () {
    const f = samlFixture(sp([current]));
    const r = f.idp.respond(
      {},
      {
        encryptFor: current.certPem,
        encryption: { keyTransport: 'http://www.w3.org/2001/04/xmlenc#rsa-1_5' },
      },
    );
    await expectRejection(
      f.backend.authenticate(undefined, f.creds(r.samlResponse)),
      'PROTOCOL_INVALID',
    );
  });

  it("accepts RSA-OAEP's SHA-1 mask digest element, which is not a signature", async function () {
    const f = samlFixture(sp([current]));
    const r = f.idp.respond(
      {},
      { encryptFor: current.certPem, encryption: { oaepDigestElement: true } },
    );
    expect(r.xml).to.include('xmldsig#sha1');
    expect(await f.backend.authenticate(undefined, f.creds(r.samlResponse))).to.not.equal(null);
  });

  it('refuses an encrypted assertion whose ciphertext was altered (the Response signature covers it)', async function () {
    const f = samlFixture(sp([current]));
    const r = f.idp.respond({}, { encryptFor: current.certPem });
    // Flip the first character of the content ciphertext (the last CipherValue).
    const at = r.xml.lastIndexOf('<xenc:CipherValue>') + '<xenc:CipherValue>'.length;
    const tampered = r.xml.slice(0, at) + (r.xml[at] === 'A' ? 'B' : 'A') + r.xml.slice(at + 1);
    expect(tampered).to.not.equal(r.xml);
    await expectRejection(
      f.backend.authenticate(undefined, f.creds(Buffer.from(tampered).toString('base64'))),
      'PROTOCOL_INVALID',
    );
  });
});

describe('SP metadata', function () {
  it('lists each IdP ACS and SLO URL, all signing certificates and the encryption ones', function () {
    const f = samlFixture(sp([current, previous]));
    const root = parse(f.backend.spMetadata());
    expect(root.getAttribute('entityID')).to.equal(SP_ENTITY_ID);
    const descriptor = kid(root, NS.md, 'SPSSODescriptor');
    expect(descriptor.getAttribute('WantAssertionsSigned')).to.equal('true');
    expect(descriptor.getAttribute('AuthnRequestsSigned')).to.equal('true');
    const acs = kids(descriptor, NS.md, 'AssertionConsumerService').map((e) =>
      e.getAttribute('Location'),
    );
    expect(acs).to.deep.equal([`${SP_BASE_URL}/saml/corp/acs`, `${SP_BASE_URL}/saml/partner/acs`]);
    const slo = kids(descriptor, NS.md, 'SingleLogoutService').map((e) =>
      e.getAttribute('Location'),
    );
    expect(slo).to.include(`${SP_BASE_URL}/saml/corp/slo`);
    const uses = kids(descriptor, NS.md, 'KeyDescriptor').map((e) => e.getAttribute('use'));
    expect(uses).to.deep.equal(['signing', 'signing', 'encryption', 'encryption']);
    expect(kids(root, NS.dsig, 'Signature')).to.have.length(0);
  });

  it('gives each IdP a document with only its own endpoints, its ACS the default', function () {
    const f = samlFixture(sp([current]));
    for (const idp of ['corp', 'partner']) {
      const descriptor = kid(parse(f.backend.spMetadata({ idp })), NS.md, 'SPSSODescriptor');
      const acs = kids(descriptor, NS.md, 'AssertionConsumerService');
      expect(acs.map((e) => e.getAttribute('Location'))).to.deep.equal([
        `${SP_BASE_URL}/saml/${idp}/acs`,
      ]);
      expect(acs[0]!.getAttribute('isDefault')).to.equal('true');
      const slo = kids(descriptor, NS.md, 'SingleLogoutService').map((e) =>
        e.getAttribute('Location'),
      );
      expect(new Set(slo)).to.deep.equal(new Set([`${SP_BASE_URL}/saml/${idp}/slo`]));
    }
    expect(() => f.backend.spMetadata({ idp: 'nobody' }))
      .to.throw()
      .with.property('code', 'NOT_FOUND');
  });

  it('is signed with the current SP key when asked (RSA-SHA256)', function () {
    const f = samlFixture(sp([]));
    const xml = f.backend.spMetadata({ sign: true, validUntil: new Date(Date.now() + 86_400_000) });
    const root = parse(xml);
    const signature = kid(root, NS.dsig, 'Signature');
    const sig = new SignedXml({ publicCert: signingNew.certPem });
    sig.loadSignature(signature);
    expect(sig.checkSignature(xml)).to.equal(true);
    expect(root.getAttribute('validUntil')).to.match(/Z$/);
  });

  it('cannot be signed without an SP key', async function () {
    await expectRejection(
      Promise.resolve().then(() => samlFixture().backend.spMetadata({ sign: true })),
      'INVALID_REQUEST',
    );
  });
});
