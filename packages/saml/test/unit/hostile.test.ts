/**
 * The hostile suite: crafted responses from shared/reference/saml.md section (b), rows A–G, each
 * refused with the right code. Every input starts from a response the backend accepts (see the
 * controls), so each refusal is the mutation's doing.
 */
import {
  AuthBridgeError,
  type AuthBridgeErrorCode,
  type KeyValueStore,
  ManualClock,
  MemoryKeyValueStore,
} from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import type { SamlCredentials } from '../../src/index.js';
import {
  ACS_URL,
  type FixtureOptions,
  OTHER_ACS_URL,
  SP_ENTITY_ID,
  type SamlFixture,
  samlFixture,
} from '../support/fixture.js';
import {
  ALG,
  BEARER,
  buildAssertionXml,
  buildResponseXml,
  encodePost,
  instant,
  NS,
  type ResponseSpec,
  samlId,
  signElement,
  type SubjectConfirmationSpec,
} from '../support/saml-xml.js';
import type { IssueOptions } from '../support/test-idp.js';
import { testKeyPair } from '@authbridge/testkit';
import { parse, serialize, xsw } from '../support/xml-mutations.js';

const MAIL = 'urn:oid:0.9.2342.19200300.100.1.3';
const MFA = 'https://refeds.org/profile/mfa';
const PASSWORD = 'urn:oasis:names:tc:SAML:2.0:ac:classes:Password';
const HOLDER_OF_KEY = 'urn:oasis:names:tc:SAML:2.0:cm:holder-of-key';
const SKEW = 120_000;

interface HostileCase {
  /** Checklist row in shared/reference/saml.md. */
  readonly row: string;
  readonly name: string;
  readonly code: AuthBridgeErrorCode;
  readonly fixture?: FixtureOptions;
  /** Builds the credentials to post (may first post others, for replays). */
  input(f: SamlFixture): SamlCredentials | Promise<SamlCredentials>;
}

function post(f: SamlFixture, xml: string, idp = 'corp'): SamlCredentials {
  return f.creds(encodePost(xml), idp);
}

function issue(
  f: SamlFixture,
  overrides: Partial<ResponseSpec> = {},
  options: IssueOptions = {},
): string {
  return f.idp.issue(f.idp.spec(overrides), options).xml;
}

function confirmation(overrides: Partial<SubjectConfirmationSpec> = {}): SubjectConfirmationSpec[] {
  return [
    {
      method: BEARER,
      recipient: ACS_URL,
      notOnOrAfter: instant(Date.now() + 300_000),
      inResponseTo: undefined,
      ...overrides,
    },
  ];
}

/** A rewrite of the signed XML, as text (signature values untouched). */
function mutate(
  f: SamlFixture,
  rewrite: (xml: string) => string,
  options: IssueOptions = {},
): SamlCredentials {
  const xml = issue(f, {}, options);
  const changed = rewrite(xml);
  if (changed === xml) throw new Error('mutation did not change anything');
  return post(f, changed);
}

function firstSignature(xml: string): string {
  const m = /<ds:Signature[\s\S]*?<\/ds:Signature>/.exec(xml);
  if (m === null) throw new Error('no signature');
  return m[0];
}

async function loginRequestId(f: SamlFixture, idp = 'corp', forceAuthn?: boolean): Promise<string> {
  return (await f.backend.createLoginRequest(idp, forceAuthn === undefined ? {} : { forceAuthn }))
    .requestId;
}

async function acceptedOnce(f: SamlFixture, creds: SamlCredentials): Promise<SamlCredentials> {
  const user = await f.backend.authenticate(undefined, creds);
  expect(user, 'first submission').to.not.equal(null);
  return creds;
}

// An encrypted identifier (SAML core §2.2.4), whatever it holds: refused before any decryption.
const ENCRYPTED_ID =
  '<saml:EncryptedID><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">' +
  '<xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData>' +
  '</xenc:EncryptedData></saml:EncryptedID>';
const EPPN = 'urn:oid:1.3.6.1.4.1.5923.1.1.1.6';
// The subject comes from an attribute: a response needs no NameID to be accepted.
const SUBJECT_ATTRIBUTE: FixtureOptions = { corp: { subjectAttribute: EPPN } };

/** A response whose subject is the attribute {@link EPPN}, and whose Subject holds no NameID. */
function bySubjectAttribute(f: SamlFixture, options: IssueOptions = {}): string {
  return issue(
    f,
    { nameId: undefined, attributes: [{ name: EPPN, values: ['alice@example.com'] }] },
    options,
  );
}

const RESPONSE_ONLY: FixtureOptions = { corp: { signing: 'response' } };
const ASSERTION_ONLY: FixtureOptions = { corp: { signing: 'assertion' } };

/** A store whose writes fail, as an unreachable Redis would. */
class FailingStore extends MemoryKeyValueStore implements KeyValueStore {
  override async setIfAbsent(): Promise<boolean> {
    throw new AuthBridgeError('STORE_UNAVAILABLE', undefined, { detail: 'test outage' });
  }
}

const expiryClock = new ManualClock(Date.now());

const CASES: readonly HostileCase[] = [
  // A. Parsing envelope.
  {
    row: 'A1',
    name: 'DOCTYPE with an internal entity',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, `<!DOCTYPE r [<!ENTITY x "y">]>${issue(f)}`),
  },
  {
    row: 'A1',
    name: 'DOCTYPE with an external SYSTEM id',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, `<!DOCTYPE r SYSTEM "http://127.0.0.1:9/x">${issue(f)}`),
  },
  {
    row: 'A1',
    name: 'ATTLIST default-namespace payload (CVE-2025-25292)',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        `<!DOCTYPE samlp:Response [<!ATTLIST Signature xmlns CDATA #FIXED "${NS.dsig}">]>${issue(f)}`,
      ),
  },
  {
    row: 'A2',
    name: 'signed error Response plus a second root (CVE-2022-39299)',
    code: 'PROTOCOL_INVALID',
    input: (f) => {
      const spec = f.idp.spec({ statusCode: 'urn:oasis:names:tc:SAML:2.0:status:Requester' });
      const signedError = signElement(buildResponseXml(spec, ''), 'Response', {
        privateKeyPem: f.idp.keys.privateKeyPem,
      });
      const evil = buildResponseXml(f.idp.spec({ nameId: 'admin' }));
      return post(f, signedError + evil);
    },
  },
  {
    row: 'A2',
    name: 'trailing processing instruction',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, `${issue(f)}<?evil x?>`),
  },
  {
    row: 'A3',
    name: 'DOCTYPE/comment/CDATA round trip (CVE-2025-25291)',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, `<!DOCTYPE response SYSTEM 'x"><!--'><![CDATA[-->${issue(f)}<!--]]>-->`),
  },
  {
    row: 'A4',
    name: 'XXE entity in NameID',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        `<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${issue(f, { rawNameId: '&xxe;' }, { sign: 'none' })}`,
      ),
  },
  {
    row: 'A5',
    name: 'message over the size limit',
    code: 'PROTOCOL_INVALID',
    fixture: { backend: { maxMessageBytes: 16 * 1024 } },
    input: (f) =>
      post(f, issue(f, { attributes: [{ name: 'urn:x:big', values: ['x'.repeat(20_000)] }] })),
  },
  {
    row: 'A6',
    name: 'not base64',
    code: 'PROTOCOL_INVALID',
    input: (f) => f.creds('!!!not base64!!!'),
  },
  {
    row: 'A6',
    name: 'UTF-16 encoded',
    code: 'PROTOCOL_INVALID',
    input: (f) => f.creds(Buffer.from(`\ufeff${issue(f)}`, 'utf16le').toString('base64')),
  },
  {
    row: 'A6',
    name: 'invalid UTF-8 bytes',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      f.creds(Buffer.concat([Buffer.from(issue(f)), Buffer.from([0xc3, 0x28])]).toString('base64')),
  },
  {
    row: 'A6',
    name: 'NUL character',
    code: 'PROTOCOL_INVALID',
    input: (f) => mutate(f, (x) => x.replace('</saml:Issuer>', '\u0000</saml:Issuer>')),
  },
  {
    row: 'A6',
    name: 'base64 encoded twice',
    code: 'PROTOCOL_INVALID',
    input: (f) => f.creds(Buffer.from(encodePost(issue(f))).toString('base64')),
  },
  { row: 'A6', name: 'empty message', code: 'PROTOCOL_INVALID', input: (f) => f.creds('') },
  {
    row: 'A7',
    name: 'Response Version="1.1"',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { version: '1.1' })),
  },
  {
    row: 'A7',
    name: 'Assertion Version="1.1"',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { assertionVersion: '1.1' })),
  },
  {
    row: 'A7',
    name: 'Response without IssueInstant',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(
          f,
          {},
          { responseXml: (x) => x.replace(/(<samlp:Response[^>]*?) IssueInstant="[^"]*"/, '$1') },
        ),
      ),
  },
  {
    row: 'A7',
    name: 'Assertion outside the Response, as its sibling in a wrapper',
    code: 'PROTOCOL_INVALID',
    input: (f) => {
      const assertion = signElement(buildAssertionXml(f.idp.spec()), 'Assertion', {
        privateKeyPem: f.idp.keys.privateKeyPem,
      });
      return post(f, `<w>${buildResponseXml(f.idp.spec(), '')}${assertion}</w>`);
    },
  },
  {
    row: 'A8',
    name: 'saml: prefix bound to a foreign namespace',
    code: 'PROTOCOL_INVALID',
    fixture: RESPONSE_ONLY,
    input: (f) =>
      post(
        f,
        issue(
          f,
          {},
          {
            sign: 'response',
            assertionXml: (x) =>
              x.replace(
                `<saml:Assertion xmlns:saml="${NS.assertion}"`,
                '<saml:Assertion xmlns:saml="urn:evil"',
              ),
          },
        ),
      ),
  },
  {
    row: 'A8',
    name: 'un-namespaced Signature inside StatusDetail (CVE-2025-25292 shape)',
    code: 'PROTOCOL_INVALID',
    input: (f) => {
      const sig = firstSignature(issue(f))
        .replace(/ds:/g, '')
        .replace(/ xmlns:ds="[^"]*"/, '');
      return post(
        f,
        issue(
          f,
          { nameId: 'admin' },
          {
            sign: 'none',
            responseXml: (x) =>
              x.replace(
                '</samlp:Status>',
                `<samlp:StatusDetail>${sig}</samlp:StatusDetail></samlp:Status>`,
              ),
          },
        ),
      );
    },
  },

  // B. Signature scope and crypto.
  {
    row: 'B1',
    name: 'nothing signed',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, {}, { sign: 'none' })),
  },
  {
    row: 'B2',
    name: 'signed by an attacker key with its cert in KeyInfo',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, {}, { keys: testKeyPair('attacker') })),
  },
  {
    row: 'B2',
    name: "signed by another trusted IdP's key",
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, {}, { keys: f.partner.keys })),
  },
  {
    row: 'B3',
    name: 'policy both, only the assertion signed',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, {}, { sign: 'assertion' })),
  },
  {
    row: 'B3',
    name: 'policy both, only the response signed',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, {}, { sign: 'response' })),
  },
  {
    row: 'B3',
    name: 'policy response, only the assertion signed',
    code: 'PROTOCOL_INVALID',
    fixture: RESPONSE_ONLY,
    input: (f) => post(f, issue(f, {}, { sign: 'assertion' })),
  },
  {
    row: 'B3',
    name: 'policy assertion, only the response signed',
    code: 'PROTOCOL_INVALID',
    fixture: ASSERTION_ONLY,
    input: (f) => post(f, issue(f, {}, { sign: 'response' })),
  },
  {
    row: 'B4',
    name: 'Reference URI=""',
    code: 'PROTOCOL_INVALID',
    input: (f) => mutate(f, (x) => x.replace(/URI="#[^"]+"/, 'URI=""')),
  },
  {
    row: 'B4',
    name: 'Reference to the Issuer instead of the Response',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      mutate(f, (x) =>
        x
          .replace('<saml:Issuer>', '<saml:Issuer ID="_issuer1">')
          .replace(/URI="#[^"]+"/, 'URI="#_issuer1"'),
      ),
  },
  {
    row: 'B4',
    name: 'Reference URI with a quote (XPath injection)',
    code: 'PROTOCOL_INVALID',
    input: (f) => mutate(f, (x) => x.replace(/URI="#[^"]+"/, `URI="#x' or '1'='1"`)),
  },
  {
    row: 'B5',
    name: 'two References in SignedInfo',
    code: 'PROTOCOL_INVALID',
    // The copy carries no Transforms, so the reference count is what gets it refused.
    input: (f) =>
      mutate(f, (x) =>
        x.replace(
          /<ds:Reference[\s\S]*?<\/ds:Reference>/,
          (m) => m + m.replace(/<ds:Transforms>[\s\S]*?<\/ds:Transforms>/, ''),
        ),
      ),
  },
  {
    row: 'B5',
    name: 'two Signatures on the Response',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      mutate(f, (x) => x.replace(firstSignature(x), firstSignature(x) + firstSignature(x))),
  },
  {
    row: 'B5',
    name: 'duplicate SignedInfo, two transforms in all (CVE-2025-29774)',
    code: 'PROTOCOL_INVALID',
    // The copy has no Transforms, so the total stays at two and node-saml's transform-count guard
    // does not fire first: xml-crypto's single-SignedInfo rule is what refuses it.
    input: (f) =>
      mutate(f, (x) =>
        x.replace(
          /<ds:SignedInfo>[\s\S]*?<\/ds:SignedInfo>/,
          (m) => m + m.replace(/<ds:Transforms>[\s\S]*?<\/ds:Transforms>/, ''),
        ),
      ),
  },
  {
    row: 'B6',
    name: 'three transforms',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(
          f,
          {},
          {
            transforms: [
              ALG.envelopedSignature,
              ALG.excC14n,
              'http://www.w3.org/TR/2001/REC-xml-c14n-20010315',
            ],
          },
        ),
      ),
  },
  {
    row: 'B6',
    name: 'comment-preserving c14n transform',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(f, issue(f, {}, { transforms: [ALG.envelopedSignature, ALG.excC14nWithComments] })),
  },
  {
    row: 'B6',
    name: 'XSLT transform',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      mutate(f, (x) =>
        x.replace(
          ALG.excC14n + '"/></ds:Transforms>',
          'http://www.w3.org/TR/1999/REC-xslt-19991116"/></ds:Transforms>',
        ),
      ),
  },
  ...([1, 2] as const).map((n): HostileCase => ({
    row: 'B7',
    name: `XSW${n}`,
    code: 'PROTOCOL_INVALID',
    fixture: RESPONSE_ONLY,
    input: (f) => post(f, xsw(issue(f, {}, { sign: 'response' }), n)),
  })),
  ...([3, 4, 5, 6, 7, 8] as const).map((n): HostileCase => ({
    row: 'B7',
    name: `XSW${n}`,
    code: 'PROTOCOL_INVALID',
    fixture: ASSERTION_ONLY,
    input: (f) => post(f, xsw(issue(f, {}, { sign: 'assertion' }), n)),
  })),
  {
    row: 'B8',
    name: 'unsigned second assertion appended (CVE-2022-41912)',
    code: 'PROTOCOL_INVALID',
    fixture: ASSERTION_ONLY,
    input: (f) =>
      post(
        f,
        issue(f, {}, { sign: 'assertion' }).replace(
          '</samlp:Response>',
          `${buildAssertionXml(f.idp.spec({ nameId: 'admin' }))}</samlp:Response>`,
        ),
      ),
  },
  {
    row: 'B8',
    name: 'assertion plus EncryptedAssertion',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(
          f,
          {},
          {
            responseXml: (x) =>
              x.replace('</samlp:Response>', '<saml:EncryptedAssertion/></samlp:Response>'),
          },
        ),
      ),
  },
  {
    row: 'B9',
    name: 'assertion ID copied onto an Extensions child',
    code: 'PROTOCOL_INVALID',
    fixture: ASSERTION_ONLY,
    input: (f) => {
      const spec = f.idp.spec();
      return post(
        f,
        f.idp
          .issue(spec, { sign: 'assertion' })
          .xml.replace(
            '</samlp:Status>',
            `</samlp:Status><samlp:Extensions><x ID="${spec.assertionId}"/></samlp:Extensions>`,
          ),
      );
    },
  },
  {
    row: 'B9',
    name: 'assertion ID copied into ds:Object',
    code: 'PROTOCOL_INVALID',
    fixture: ASSERTION_ONLY,
    input: (f) => {
      const spec = f.idp.spec();
      return post(
        f,
        f.idp
          .issue(spec, { sign: 'assertion' })
          .xml.replace(
            '</ds:Signature>',
            `<ds:Object><x ID="${spec.assertionId}"/></ds:Object></ds:Signature>`,
          ),
      );
    },
  },
  {
    row: 'B10',
    name: 'signed assertion hidden in the Advice of an unsigned one',
    code: 'PROTOCOL_INVALID',
    fixture: ASSERTION_ONLY,
    input: (f) => {
      const signed = signElement(buildAssertionXml(f.idp.spec()), 'Assertion', {
        privateKeyPem: f.idp.keys.privateKeyPem,
      });
      const evil = buildAssertionXml(
        f.idp.spec({ nameId: 'admin', assertionExtra: `<saml:Advice>${signed}</saml:Advice>` }),
      );
      return post(f, buildResponseXml(f.idp.spec(), evil));
    },
  },
  {
    row: 'B10',
    name: 'signed assertion in StatusDetail, unsigned one in place',
    code: 'PROTOCOL_INVALID',
    fixture: ASSERTION_ONLY,
    input: (f) => {
      const signed = signElement(buildAssertionXml(f.idp.spec()), 'Assertion', {
        privateKeyPem: f.idp.keys.privateKeyPem,
      });
      const spec = f.idp.spec({ nameId: 'admin' });
      return post(
        f,
        buildResponseXml(spec).replace(
          '</samlp:Status>',
          `<samlp:StatusDetail>${signed}</samlp:StatusDetail></samlp:Status>`,
        ),
      );
    },
  },
  {
    row: 'B11',
    name: 'comment inside DigestValue (CVE-2025-29775)',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      mutate(f, (x) =>
        x
          .replace(
            /<ds:DigestValue>([^<]*)<\/ds:DigestValue>/,
            '<ds:DigestValue><!--$1-->AAAA$1</ds:DigestValue>',
          )
          .replace('>alice<', '>admin<'),
      ),
  },
  {
    row: 'B11',
    name: 'two DigestValues',
    code: 'PROTOCOL_INVALID',
    input: (f) => mutate(f, (x) => x.replace(/(<ds:DigestValue>[^<]*<\/ds:DigestValue>)/, '$1$1')),
  },
  {
    row: 'B12',
    name: 'DigestValue planted in samlp:Extensions (CVE-2024-45409 shape)',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      mutate(f, (x) =>
        x
          .replace(
            '</samlp:Status>',
            `</samlp:Status><samlp:Extensions><ds:DigestValue xmlns:ds="${NS.dsig}">AAAA</ds:DigestValue></samlp:Extensions>`,
          )
          .replace('>alice<', '>admin<'),
      ),
  },
  {
    row: 'B14',
    name: 'HMAC-SHA1 signature method',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      mutate(f, (x) => x.replace(ALG.rsaSha256, 'http://www.w3.org/2000/09/xmldsig#hmac-sha1')),
  },
  {
    row: 'B15',
    name: 'valid RSA-SHA1 signatures with SHA-1 digests',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(f, issue(f, {}, { signatureAlgorithm: ALG.rsaSha1, digestAlgorithm: ALG.sha1 })),
  },
  {
    row: 'B15',
    name: 'valid RSA-SHA256 signatures with SHA-1 digests',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, {}, { digestAlgorithm: ALG.sha1 })),
  },
  {
    row: 'B15',
    name: 'rsa-md5 signature method',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      mutate(f, (x) => x.replace(ALG.rsaSha256, 'http://www.w3.org/2001/04/xmldsig-more#rsa-md5')),
  },
  {
    row: 'B15',
    name: 'unknown algorithm URI',
    code: 'PROTOCOL_INVALID',
    input: (f) => mutate(f, (x) => x.replace(ALG.sha256, 'urn:example:unknown')),
  },
  {
    row: 'B17',
    name: 'status Responder around a validly signed assertion',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { statusCode: 'urn:oasis:names:tc:SAML:2.0:status:Responder' })),
  },
  {
    row: 'B18',
    name: 'unsigned Requester/AuthnFailed error response',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        buildResponseXml(
          f.idp.spec({ statusCode: 'urn:oasis:names:tc:SAML:2.0:status:Requester' }),
          '',
        ),
      ),
  },
  {
    row: 'B19',
    name: 'EncryptedAssertion without a decryption key',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        buildResponseXml(f.idp.spec(), '<saml:EncryptedAssertion><x/></saml:EncryptedAssertion>'),
      ),
  },

  // C. Profile processing rules.
  {
    row: 'C1',
    name: 'Destination at the attacker',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { destination: 'https://attacker.example/acs' })),
  },
  {
    row: 'C1',
    name: 'Destination absent on a signed Response',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { destination: undefined })),
  },
  {
    row: 'C1',
    name: 'Destination = ACS + "x" (prefix match)',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { destination: `${ACS_URL}x` })),
  },
  {
    row: 'C1',
    name: 'Destination = ACS + "/../other"',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { destination: `${ACS_URL}/../other` })),
  },
  {
    row: 'C1',
    name: "Destination = another IdP's ACS",
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { destination: OTHER_ACS_URL })),
  },
  {
    row: 'C2',
    name: "Recipient = another SP's ACS",
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(f, {
          subjectConfirmations: confirmation({ recipient: 'https://other-sp.example/acs' }),
        }),
      ),
  },
  {
    row: 'C2',
    name: 'Recipient containing the ACS URL (substring match)',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(f, {
          subjectConfirmations: confirmation({ recipient: `https://evil.example/?u=${ACS_URL}` }),
        }),
      ),
  },
  {
    row: 'C2',
    name: 'Recipient missing',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(f, issue(f, { subjectConfirmations: confirmation({ recipient: undefined }) })),
  },
  {
    row: 'C3',
    name: 'no AudienceRestriction',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { audiences: [] })),
  },
  {
    row: 'C3',
    name: "another SP's audience",
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { audiences: [['https://other-sp.example']] })),
  },
  {
    row: 'C3',
    name: 'two restrictions, one without us',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { audiences: [[SP_ENTITY_ID], ['https://other-sp.example']] })),
  },
  {
    row: 'C4',
    name: 'assertion Issuer is another IdP',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { assertionIssuer: 'https://partner.example.org/idp' })),
  },
  {
    row: 'C4',
    name: "partner IdP's genuine response posted to corp's ACS",
    code: 'PROTOCOL_INVALID',
    input: (f) => f.creds(f.partner.respond({ destination: ACS_URL }).samlResponse),
  },
  {
    row: 'C5',
    name: 'Response Issuer differs from the assertion Issuer',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { responseIssuer: 'https://other-idp.example' })),
  },
  {
    row: 'C5',
    name: 'Response without Issuer',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { responseIssuer: undefined })),
  },
  {
    row: 'C6',
    name: 'no SubjectConfirmation',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { subjectConfirmations: [] })),
  },
  {
    row: 'C6',
    name: 'holder-of-key confirmation only',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(f, issue(f, { subjectConfirmations: confirmation({ method: HOLDER_OF_KEY }) })),
  },
  {
    row: 'C6',
    name: 'bearer data without NotOnOrAfter',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(f, issue(f, { subjectConfirmations: confirmation({ notOnOrAfter: undefined }) })),
  },
  {
    row: 'C6',
    name: 'bearer without SubjectConfirmationData',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { subjectConfirmations: confirmation({ noData: true }) })),
  },
  {
    row: 'C7',
    name: 'InResponseTo naming no request',
    code: 'PROTOCOL_INVALID',
    input: (f) => {
      const id = samlId();
      return post(
        f,
        issue(f, { inResponseTo: id, subjectConfirmations: confirmation({ inResponseTo: id }) }),
      );
    },
  },
  {
    row: 'C7',
    name: 'InResponseTo of a request sent to another IdP',
    code: 'PROTOCOL_INVALID',
    input: async (f) => {
      const id = await loginRequestId(f, 'partner');
      return post(
        f,
        issue(f, { inResponseTo: id, subjectConfirmations: confirmation({ inResponseTo: id }) }),
      );
    },
  },
  {
    row: 'C7',
    name: 'Response InResponseTo differs from the confirmation one',
    code: 'PROTOCOL_INVALID',
    input: async (f) => {
      const id = await loginRequestId(f);
      return post(
        f,
        issue(f, {
          inResponseTo: id,
          subjectConfirmations: confirmation({ inResponseTo: await loginRequestId(f) }),
        }),
      );
    },
  },
  {
    row: 'C7',
    name: 'unsolicited response, IdP-initiated SSO off (the default)',
    code: 'PROTOCOL_INVALID',
    input: (f) => f.creds(f.partner.respond().samlResponse, 'partner'),
  },
  {
    row: 'C7',
    name: 'expired request ID',
    code: 'PROTOCOL_INVALID',
    fixture: { replayStore: new MemoryKeyValueStore({ clock: expiryClock }) },
    input: async (f) => {
      expiryClock.set(Date.now());
      const id = await loginRequestId(f);
      // Past requestTtlMs (10 minutes) as the store sees it; the response itself is fresh.
      expiryClock.advance(11 * 60_000);
      return post(
        f,
        issue(f, { inResponseTo: id, subjectConfirmations: confirmation({ inResponseTo: id }) }),
      );
    },
  },
  {
    row: 'C8',
    name: 'Conditions NotBefore beyond the skew',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { notBefore: instant(Date.now() + SKEW + 60_000) })),
  },
  {
    row: 'C8',
    name: 'Conditions NotOnOrAfter = now - skew (exclusive bound)',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { notOnOrAfter: instant(Date.now() - SKEW) })),
  },
  {
    row: 'C8',
    name: 'unparsable date 2024-13-45',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { notOnOrAfter: '2024-13-45T00:00:00Z' })),
  },
  {
    row: 'C8',
    name: 'date without a time zone',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { authnInstant: instant(Date.now()).replace('Z', '') })),
  },
  {
    row: 'C8',
    name: 'IssueInstant far in the future',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(
          f,
          {},
          {
            responseXml: (x) =>
              x.replace(
                /IssueInstant="[^"]*"/,
                `IssueInstant="${instant(Date.now() + 86_400_000)}"`,
              ),
          },
        ),
      ),
  },
  {
    row: 'C8',
    name: 'SessionNotOnOrAfter passed',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { sessionNotOnOrAfter: instant(Date.now() - SKEW - 1000) })),
  },
  {
    row: 'C8',
    name: 'bearer NotOnOrAfter passed',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(f, {
          subjectConfirmations: confirmation({ notOnOrAfter: instant(Date.now() - SKEW - 1000) }),
        }),
      ),
  },
  {
    row: 'C8',
    name: 'AuthnInstant in the future',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { authnInstant: instant(Date.now() + SKEW + 60_000) })),
  },
  {
    row: 'C8',
    name: '30-day-old AuthnInstant answering a ForceAuthn request',
    code: 'PROTOCOL_INVALID',
    input: async (f) => {
      const id = await loginRequestId(f, 'corp', true);
      return post(
        f,
        issue(f, {
          inResponseTo: id,
          subjectConfirmations: confirmation({ inResponseTo: id }),
          authnInstant: instant(Date.now() - 30 * 86_400_000),
        }),
      );
    },
  },
  {
    row: 'C9',
    name: 'Password class when MFA is required',
    code: 'PROTOCOL_INVALID',
    fixture: { corp: { requiredAuthnContext: [MFA] } },
    input: (f) => post(f, issue(f, { authnContextClassRef: PASSWORD })),
  },
  {
    row: 'C9',
    name: 'no AuthnContextClassRef when MFA is required',
    code: 'PROTOCOL_INVALID',
    fixture: { corp: { requiredAuthnContext: [MFA] } },
    input: (f) => post(f, issue(f, { authnContextClassRef: undefined })),
  },
  {
    row: 'C10',
    name: 'no NameID',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { nameId: undefined })),
  },
  {
    row: 'C10',
    name: 'empty NameID',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { nameId: '' })),
  },
  {
    row: 'C10',
    name: 'SPNameQualifier of another SP',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(
          f,
          {},
          {
            assertionXml: (x) =>
              x.replace(
                '<saml:NameID ',
                '<saml:NameID SPNameQualifier="https://other-sp.example" ',
              ),
          },
        ),
      ),
  },
  {
    row: 'C10',
    name: 'EncryptedID in place of the NameID (subject from an attribute, so no NameID is needed)',
    code: 'PROTOCOL_INVALID',
    fixture: SUBJECT_ATTRIBUTE,
    input: (f) =>
      post(
        f,
        bySubjectAttribute(f, {
          assertionXml: (x) => x.replace('<saml:Subject>', `<saml:Subject>${ENCRYPTED_ID}`),
        }),
      ),
  },
  {
    row: 'C10',
    name: 'EncryptedID next to the NameID',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(
          f,
          {},
          { assertionXml: (x) => x.replace('</saml:NameID>', `</saml:NameID>${ENCRYPTED_ID}`) },
        ),
      ),
  },
  {
    row: 'C10',
    name: 'transient NameID as the subject',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(f, issue(f, { nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient' })),
  },
  {
    row: 'C10',
    name: 'no AuthnStatement',
    code: 'PROTOCOL_INVALID',
    input: (f) => post(f, issue(f, { authnInstant: undefined })),
  },

  // D. Replay.
  {
    row: 'D1',
    name: 'IdP-initiated response posted twice',
    code: 'REPLAY_DETECTED',
    input: (f) => acceptedOnce(f, f.creds(f.idp.respond().samlResponse)),
  },
  {
    row: 'D1',
    name: 'SP-initiated response posted twice',
    code: 'REPLAY_DETECTED',
    input: async (f) => {
      const id = await loginRequestId(f);
      return acceptedOnce(
        f,
        post(
          f,
          issue(f, { inResponseTo: id, subjectConfirmations: confirmation({ inResponseTo: id }) }),
        ),
      );
    },
  },
  {
    row: 'D2',
    name: 'signed assertion re-wrapped in a fresh Response',
    code: 'REPLAY_DETECTED',
    fixture: ASSERTION_ONLY,
    input: async (f) => {
      const first = await acceptedOnce(f, post(f, issue(f, {}, { sign: 'assertion' })));
      const original = parse(Buffer.from(first.samlResponse, 'base64').toString('utf8'));
      original.setAttribute('ID', samlId());
      return post(f, serialize(original));
    },
  },
  {
    row: 'D4',
    name: 'replay store down: fail closed',
    code: 'STORE_UNAVAILABLE',
    fixture: { replayStore: new FailingStore() },
    input: (f) => f.creds(f.idp.respond().samlResponse),
  },

  // F. Attribute mapping.
  {
    row: 'F3',
    name: 'one attribute Name twice',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(f, {
          attributes: [
            { name: MAIL, values: ['a@example.com'] },
            { name: MAIL, values: ['b@example.com'] },
          ],
        }),
      ),
  },
  {
    row: 'F4',
    name: 'two e-mail values where one is declared',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(f, { attributes: [{ name: MAIL, values: ['a@example.com', 'b@example.com'] }] }),
      ),
  },
  {
    row: 'F6',
    name: 'mapped attribute with element content',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(f, {
          attributes: [
            {
              name: MAIL,
              values: [],
              rawValues: ['<x:evil xmlns:x="urn:x">a@example.com</x:evil>'],
            },
          ],
        }),
      ),
  },
  {
    row: 'F6',
    name: 'EncryptedAttribute',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(f, {
          assertionExtra:
            '<saml:AttributeStatement><saml:EncryptedAttribute/></saml:AttributeStatement>',
        }),
      ),
  },
  {
    row: 'F',
    name: 'ambiguous FriendlyName alias',
    code: 'PROTOCOL_INVALID',
    input: (f) =>
      post(
        f,
        issue(f, {
          attributes: [
            { name: 'urn:x:a', friendlyName: 'mail', values: ['a@example.com'] },
            { name: 'urn:x:b', friendlyName: 'mail', values: ['b@example.com'] },
          ],
        }),
      ),
  },

  // G and routing.
  {
    row: 'G2',
    name: 'RelayState over 80 bytes',
    code: 'PROTOCOL_INVALID',
    input: (f) => ({ ...f.creds(f.idp.respond().samlResponse), relayState: `/${'a'.repeat(100)}` }),
  },
  {
    row: '-',
    name: 'unknown IdP id',
    code: 'PROTOCOL_INVALID',
    input: (f) => f.creds(f.idp.respond().samlResponse, 'nope'),
  },
  {
    row: '-',
    name: 'IdP id naming an Object.prototype member',
    code: 'PROTOCOL_INVALID',
    input: (f) => f.creds(f.idp.respond().samlResponse, '__proto__'),
  },
];

describe('SAML hostile suite', function () {
  it(`has at least 60 crafted inputs (${CASES.length})`, function () {
    expect(CASES.length).to.be.at.least(60);
  });

  describe('controls: the unmutated starting points are accepted', function () {
    const controls: readonly [string, FixtureOptions, IssueOptions][] = [
      ['both signed', {}, {}],
      ['response signed, policy response', RESPONSE_ONLY, { sign: 'response' }],
      ['assertion signed, policy assertion', ASSERTION_ONLY, { sign: 'assertion' }],
    ];
    for (const [name, fixture, options] of controls) {
      it(name, async function () {
        const f = samlFixture(fixture);
        const user = await f.backend.authenticate(undefined, post(f, issue(f, {}, options)));
        expect(user?.username).to.equal('alice');
      });
    }

    it('subject from an attribute, no NameID (the EncryptedID case without it)', async function () {
      const f = samlFixture(SUBJECT_ATTRIBUTE);
      const user = await f.backend.authenticate(undefined, post(f, bySubjectAttribute(f)));
      expect(user?.username).to.equal('alice@example.com');
    });
  });

  for (const c of CASES) {
    it(`${c.row}: ${c.name} → ${c.code}`, async function () {
      const f = samlFixture(c.fixture);
      const creds = await c.input(f);
      await expectRejection(f.backend.authenticate(undefined, creds), c.code);
    });
  }

  it('D3: of two concurrent submissions of one response exactly one logs in', async function () {
    const f = samlFixture();
    const creds = f.creds(f.idp.respond().samlResponse);
    const results = await Promise.allSettled([
      f.backend.authenticate(undefined, creds),
      f.backend.authenticate(undefined, creds),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).to.have.length(1);
    expect(failed).to.have.length(1);
    expect((failed[0]!.reason as AuthBridgeError).code).to.equal('REPLAY_DETECTED');
  });

  it('D1: an assertion ID is kept while any of its bearer confirmations could be accepted', async function () {
    const t0 = Date.now();
    let now = t0;
    const clock = { now: () => now };
    const f = samlFixture({ replayStore: new MemoryKeyValueStore({ clock }), backend: { clock } });
    // Two bearer confirmations: one for a minute, one for an hour; Conditions without times.
    const { samlResponse } = f.idp.respond({
      notBefore: undefined,
      notOnOrAfter: undefined,
      subjectConfirmations: [
        {
          method: BEARER,
          recipient: ACS_URL,
          notOnOrAfter: instant(t0 + 60_000),
          inResponseTo: undefined,
        },
        {
          method: BEARER,
          recipient: ACS_URL,
          notOnOrAfter: instant(t0 + 3_600_000),
          inResponseTo: undefined,
        },
      ],
    });
    expect(await f.backend.authenticate(undefined, f.creds(samlResponse))).to.not.equal(null);
    // The first confirmation has expired; the second would still accept the same bytes.
    now = t0 + 4 * 60_000;
    await expectRejection(
      f.backend.authenticate(undefined, f.creds(samlResponse)),
      'REPLAY_DETECTED',
    );
  });

  it('D1: a response used on one host is refused on another sharing the store', async function () {
    const store = new MemoryKeyValueStore();
    const a = samlFixture({ replayStore: store });
    const b = samlFixture({ replayStore: store });
    // Both hosts trust the same IdP key: b's IdP object signs, a's config pins it.
    const creds = b.creds(b.idp.respond().samlResponse);
    await b.backend.authenticate(undefined, creds);
    await expectRejection(a.backend.authenticate(undefined, creds), 'REPLAY_DETECTED');
  });
});
