/**
 * Building blocks of an in-process test IdP: SAML 2.0 Response XML from a plain description, and
 * XML-DSig signing with xml-crypto (enveloped + exclusive c14n, RSA-SHA256 by default). No
 * dependency on the SP under test, so a demo IdP can reuse them.
 */
import {
  constants,
  createCipheriv,
  publicEncrypt,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { SignedXml } from 'xml-crypto';

export const NS = Object.freeze({
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xs: 'http://www.w3.org/2001/XMLSchema',
  md: 'urn:oasis:names:tc:SAML:2.0:metadata',
});

export const ALG = Object.freeze({
  rsaSha256: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  rsaSha1: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
  sha1: 'http://www.w3.org/2000/09/xmldsig#sha1',
  envelopedSignature: 'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
  excC14n: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  excC14nWithComments: 'http://www.w3.org/2001/10/xml-exc-c14n#WithComments',
});

export const STATUS_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
export const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
export const NAMEID_PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
export const PASSWORD_PROTECTED_TRANSPORT =
  'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';

/** A SAML ID: `_` and 40 hex digits, as node-saml makes them. */
export function samlId(): string {
  return `_${randomBytes(20).toString('hex')}`;
}

/** ISO instant without milliseconds, as most IdPs write them. */
export function instant(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Escapes text and attribute values. */
export function xmlEscape(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** One `<saml:Attribute>`. */
export interface AttributeSpec {
  readonly name: string;
  readonly friendlyName?: string;
  readonly values: readonly string[];
  /** Raw XML placed in each AttributeValue instead of escaped text. */
  readonly rawValues?: readonly string[];
}

/** Everything a Response can vary in; `undefined` optional fields are left out of the XML. */
export interface ResponseSpec {
  readonly responseId: string;
  readonly assertionId: string;
  readonly issueInstant: string;
  readonly version: string;
  readonly assertionVersion: string;
  readonly destination: string | undefined;
  readonly inResponseTo: string | undefined;
  readonly responseIssuer: string | undefined;
  readonly assertionIssuer: string;
  readonly statusCode: string;
  readonly nameId: string | undefined;
  /** Raw XML for the NameID content (comment-injection tests); overrides `nameId`. */
  readonly rawNameId?: string;
  readonly nameIdFormat: string | undefined;
  readonly subjectConfirmations: readonly SubjectConfirmationSpec[];
  readonly notBefore: string | undefined;
  readonly notOnOrAfter: string | undefined;
  readonly audiences: readonly (readonly string[])[];
  readonly authnInstant: string | undefined;
  readonly sessionIndex: string | undefined;
  readonly sessionNotOnOrAfter: string | undefined;
  readonly authnContextClassRef: string | undefined;
  readonly attributes: readonly AttributeSpec[];
  /** Raw XML appended inside the assertion (Advice, extra statements...). */
  readonly assertionExtra?: string;
  /** Raw XML placed after Status, before the assertion. */
  readonly responseExtra?: string;
}

/** One `<saml:SubjectConfirmation>`. */
export interface SubjectConfirmationSpec {
  readonly method: string;
  readonly recipient: string | undefined;
  readonly notOnOrAfter: string | undefined;
  readonly notBefore?: string | undefined;
  readonly inResponseTo: string | undefined;
  /** Leave SubjectConfirmationData out entirely. */
  readonly noData?: boolean;
}

function attr(name: string, value: string | undefined): string {
  return value === undefined ? '' : ` ${name}="${xmlEscape(value)}"`;
}

/** The `<saml:Assertion>` element of `spec`, unsigned. */
export function buildAssertionXml(spec: ResponseSpec): string {
  const confirmations = spec.subjectConfirmations
    .map(
      (c) =>
        `<saml:SubjectConfirmation Method="${xmlEscape(c.method)}">` +
        (c.noData === true
          ? ''
          : `<saml:SubjectConfirmationData${attr('NotBefore', c.notBefore)}${attr('NotOnOrAfter', c.notOnOrAfter)}${attr('Recipient', c.recipient)}${attr('InResponseTo', c.inResponseTo)}/>`) +
        '</saml:SubjectConfirmation>',
    )
    .join('');
  const nameId =
    spec.rawNameId !== undefined
      ? `<saml:NameID${attr('Format', spec.nameIdFormat)}>${spec.rawNameId}</saml:NameID>`
      : spec.nameId === undefined
        ? ''
        : `<saml:NameID${attr('Format', spec.nameIdFormat)}>${xmlEscape(spec.nameId)}</saml:NameID>`;
  const conditions =
    spec.notBefore === undefined && spec.notOnOrAfter === undefined && spec.audiences.length === 0
      ? ''
      : `<saml:Conditions${attr('NotBefore', spec.notBefore)}${attr('NotOnOrAfter', spec.notOnOrAfter)}>` +
        spec.audiences
          .map(
            (list) =>
              '<saml:AudienceRestriction>' +
              list.map((a) => `<saml:Audience>${xmlEscape(a)}</saml:Audience>`).join('') +
              '</saml:AudienceRestriction>',
          )
          .join('') +
        '</saml:Conditions>';
  const authn =
    spec.authnInstant === undefined
      ? ''
      : `<saml:AuthnStatement AuthnInstant="${spec.authnInstant}"${attr('SessionIndex', spec.sessionIndex)}${attr('SessionNotOnOrAfter', spec.sessionNotOnOrAfter)}>` +
        '<saml:AuthnContext>' +
        (spec.authnContextClassRef === undefined
          ? ''
          : `<saml:AuthnContextClassRef>${xmlEscape(spec.authnContextClassRef)}</saml:AuthnContextClassRef>`) +
        '</saml:AuthnContext></saml:AuthnStatement>';
  const attributes =
    spec.attributes.length === 0
      ? ''
      : '<saml:AttributeStatement>' +
        spec.attributes
          .map(
            (a) =>
              `<saml:Attribute Name="${xmlEscape(a.name)}"${attr('FriendlyName', a.friendlyName)} NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">` +
              (a.rawValues ?? a.values.map(xmlEscape))
                .map((v) => `<saml:AttributeValue xsi:type="xs:string">${v}</saml:AttributeValue>`)
                .join('') +
              '</saml:Attribute>',
          )
          .join('') +
        '</saml:AttributeStatement>';
  return (
    `<saml:Assertion xmlns:saml="${NS.assertion}" xmlns:xsi="${NS.xsi}" xmlns:xs="${NS.xs}" ID="${spec.assertionId}" Version="${xmlEscape(spec.assertionVersion)}" IssueInstant="${spec.issueInstant}">` +
    `<saml:Issuer>${xmlEscape(spec.assertionIssuer)}</saml:Issuer>` +
    `<saml:Subject>${nameId}${confirmations}</saml:Subject>` +
    conditions +
    authn +
    attributes +
    (spec.assertionExtra ?? '') +
    '</saml:Assertion>'
  );
}

/** The whole `<samlp:Response>` with `assertionXml` (default: built from `spec`) inside, unsigned. */
export function buildResponseXml(spec: ResponseSpec, assertionXml?: string): string {
  return (
    `<samlp:Response xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${spec.responseId}" Version="${xmlEscape(spec.version)}" IssueInstant="${spec.issueInstant}"${attr('Destination', spec.destination)}${attr('InResponseTo', spec.inResponseTo)}>` +
    (spec.responseIssuer === undefined
      ? ''
      : `<saml:Issuer>${xmlEscape(spec.responseIssuer)}</saml:Issuer>`) +
    `<samlp:Status><samlp:StatusCode Value="${xmlEscape(spec.statusCode)}"/></samlp:Status>` +
    (spec.responseExtra ?? '') +
    (assertionXml ?? buildAssertionXml(spec)) +
    '</samlp:Response>'
  );
}

/** How to sign. */
export interface SignOptions {
  readonly privateKeyPem: string;
  /** Put into KeyInfo (the SP must ignore it and use its pinned keys). */
  readonly certPem?: string;
  readonly signatureAlgorithm?: string;
  readonly digestAlgorithm?: string;
  readonly transforms?: readonly string[];
  readonly canonicalizationAlgorithm?: string;
}

/**
 * Signs the element `localName` (`Response` or `Assertion`, the first one in document order) with
 * an enveloped signature placed right after its Issuer, as SAML requires.
 */
export function signElement(
  xml: string,
  localName:
    | 'Response'
    | 'Assertion'
    | 'LogoutRequest'
    | 'LogoutResponse'
    | 'EntityDescriptor'
    | 'EntitiesDescriptor',
  options: SignOptions,
): string {
  const sig = new SignedXml({
    privateKey: options.privateKeyPem,
    publicCert: options.certPem,
    signatureAlgorithm: options.signatureAlgorithm ?? ALG.rsaSha256,
    canonicalizationAlgorithm: options.canonicalizationAlgorithm ?? ALG.excC14n,
  });
  const target = `//*[local-name(.)='${localName}']`;
  sig.addReference({
    xpath: target,
    digestAlgorithm: options.digestAlgorithm ?? ALG.sha256,
    transforms: [...(options.transforms ?? [ALG.envelopedSignature, ALG.excC14n])],
  });
  // After the Issuer when there is one, else as the first child.
  const hasIssuer = new RegExp(`<(\\w+:)?${localName}\\b[^>]*>\\s*<(\\w+:)?Issuer\\b`).test(xml);
  sig.computeSignature(xml, {
    prefix: 'ds',
    location: hasIssuer
      ? { reference: `${target}/*[local-name(.)='Issuer']`, action: 'after' }
      : { reference: target, action: 'prepend' },
  });
  return sig.getSignedXml();
}

/** Base64 of the UTF-8 bytes: the HTTP-POST binding's `SAMLResponse`. */
export function encodePost(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

/** A `<samlp:LogoutRequest>` from an IdP, unsigned. */
export interface LogoutRequestSpec {
  readonly id: string;
  readonly issueInstant: string;
  readonly issuer: string;
  readonly destination: string | undefined;
  readonly nameId: string;
  readonly sessionIndexes: readonly string[];
  readonly notOnOrAfter?: string | undefined;
}

/** The LogoutRequest XML of `spec`. */
export function buildLogoutRequestXml(spec: LogoutRequestSpec): string {
  return (
    `<samlp:LogoutRequest xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${spec.id}" Version="2.0" IssueInstant="${spec.issueInstant}"${attr('Destination', spec.destination)}${attr('NotOnOrAfter', spec.notOnOrAfter)}>` +
    `<saml:Issuer>${xmlEscape(spec.issuer)}</saml:Issuer>` +
    `<saml:NameID Format="${NAMEID_PERSISTENT}">${xmlEscape(spec.nameId)}</saml:NameID>` +
    spec.sessionIndexes
      .map((i) => `<samlp:SessionIndex>${xmlEscape(i)}</samlp:SessionIndex>`)
      .join('') +
    '</samlp:LogoutRequest>'
  );
}

/** A `<samlp:LogoutResponse>` from an IdP, unsigned. */
export interface LogoutResponseSpec {
  readonly id: string;
  readonly issueInstant: string;
  readonly issuer: string;
  readonly destination: string | undefined;
  readonly inResponseTo: string | undefined;
  readonly statusCode: string;
}

/** The LogoutResponse XML of `spec`. */
export function buildLogoutResponseXml(spec: LogoutResponseSpec): string {
  return (
    `<samlp:LogoutResponse xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${spec.id}" Version="2.0" IssueInstant="${spec.issueInstant}"${attr('Destination', spec.destination)}${attr('InResponseTo', spec.inResponseTo)}>` +
    `<saml:Issuer>${xmlEscape(spec.issuer)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${xmlEscape(spec.statusCode)}"/></samlp:Status>` +
    '</samlp:LogoutResponse>'
  );
}

/** How to encode an HTTP-Redirect message. */
export interface RedirectOptions {
  readonly relayState?: string;
  /** Sign with this key (PEM); unsigned when absent. */
  readonly privateKeyPem?: string;
  /** SigAlg URI. Default RSA-SHA256. */
  readonly sigAlg?: string;
}

/** The query string (no `?`) carrying `xml` by the HTTP-Redirect binding. */
export function redirectQuery(
  kind: 'SAMLRequest' | 'SAMLResponse',
  xml: string,
  options: RedirectOptions = {},
): string {
  const value = encodeURIComponent(deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64'));
  let query = `${kind}=${value}`;
  if (options.relayState !== undefined)
    query += `&RelayState=${encodeURIComponent(options.relayState)}`;
  if (options.privateKeyPem === undefined) return query;
  const sigAlg = options.sigAlg ?? ALG.rsaSha256;
  query += `&SigAlg=${encodeURIComponent(sigAlg)}`;
  const hash = sigAlg.endsWith('sha1') ? 'sha1' : 'sha256';
  const signature = sign(hash, Buffer.from(query, 'utf8'), options.privateKeyPem).toString(
    'base64',
  );
  return `${query}&Signature=${encodeURIComponent(signature)}`;
}

/** How {@link encryptAssertion} encrypts. */
export interface EncryptOptions {
  /** Key transport URI. Default RSA-OAEP (MGF1, SHA-1 mask), the common default. */
  readonly keyTransport?: string;
  /** Write the optional SHA-1 DigestMethod inside the key transport's EncryptionMethod. */
  readonly oaepDigestElement?: boolean;
}

/**
 * Wraps an (already signed) assertion in `<saml:EncryptedAssertion>` for `recipientCertPem`:
 * AES-256-GCM content encryption, the key transported with RSA-OAEP, as xmlenc 1.1 specifies.
 */
export function encryptAssertion(
  assertionXml: string,
  recipientCertPem: string,
  options: EncryptOptions = {},
): string {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const data = Buffer.concat([
    iv,
    cipher.update(assertionXml, 'utf8'),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  const transport = options.keyTransport ?? 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p';
  const wrapped = publicEncrypt(
    {
      key: new X509Certificate(recipientCertPem).publicKey,
      padding: transport.endsWith('rsa-1_5')
        ? constants.RSA_PKCS1_PADDING
        : constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha1',
    },
    key,
  );
  const digest =
    options.oaepDigestElement === true ? `<ds:DigestMethod Algorithm="${ALG.sha1}"/>` : '';
  return (
    `<saml:EncryptedAssertion xmlns:saml="${NS.assertion}">` +
    `<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element">` +
    '<xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>' +
    `<ds:KeyInfo xmlns:ds="${NS.dsig}"><xenc:EncryptedKey>` +
    `<xenc:EncryptionMethod Algorithm="${transport}">${digest}</xenc:EncryptionMethod>` +
    `<xenc:CipherData><xenc:CipherValue>${wrapped.toString('base64')}</xenc:CipherValue></xenc:CipherData>` +
    '</xenc:EncryptedKey></ds:KeyInfo>' +
    `<xenc:CipherData><xenc:CipherValue>${data.toString('base64')}</xenc:CipherValue></xenc:CipherData>` +
    '</xenc:EncryptedData></saml:EncryptedAssertion>'
  );
}

/** An IdP's metadata, as a test IdP would publish it. */
export interface IdpMetadataSpec {
  readonly entityId: string;
  readonly signingCerts?: readonly string[];
  readonly encryptionCerts?: readonly string[];
  /** Certificates in a KeyDescriptor without `use` (signing and encryption). */
  readonly anyUseCerts?: readonly string[];
  readonly ssoRedirect?: string;
  readonly ssoPost?: string;
  readonly sloRedirect?: string;
  readonly sloPost?: string;
  /** ResponseLocation of the SingleLogoutService endpoints. Default none. */
  readonly sloResponseLocation?: string;
  readonly validUntil?: string;
  readonly cacheDuration?: string;
  readonly wantAuthnRequestsSigned?: boolean;
  readonly nameIdFormats?: readonly string[];
}

function keyDescriptorXml(use: string | undefined, pem: string): string {
  const body = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
  return `<md:KeyDescriptor${attr('use', use)}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`;
}

/** The `<md:EntityDescriptor>` of an IdP (with an ID, so it can be signed). */
export function buildIdpEntityXml(spec: IdpMetadataSpec, standalone = true): string {
  return (
    `<md:EntityDescriptor${standalone ? ` xmlns:md="${NS.md}" xmlns:ds="${NS.dsig}"` : ''} ID="${samlId()}" entityID="${xmlEscape(spec.entityId)}"${attr('validUntil', spec.validUntil)}${attr('cacheDuration', spec.cacheDuration)}>` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="${NS.protocol}"${spec.wantAuthnRequestsSigned === true ? ' WantAuthnRequestsSigned="true"' : ''}>` +
    (spec.signingCerts ?? []).map((c) => keyDescriptorXml('signing', c)).join('') +
    (spec.encryptionCerts ?? []).map((c) => keyDescriptorXml('encryption', c)).join('') +
    (spec.anyUseCerts ?? []).map((c) => keyDescriptorXml(undefined, c)).join('') +
    (spec.sloRedirect === undefined
      ? ''
      : `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${xmlEscape(spec.sloRedirect)}"${attr('ResponseLocation', spec.sloResponseLocation)}/>`) +
    (spec.sloPost === undefined
      ? ''
      : `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${xmlEscape(spec.sloPost)}"${attr('ResponseLocation', spec.sloResponseLocation)}/>`) +
    (spec.nameIdFormats ?? [NAMEID_PERSISTENT])
      .map((f) => `<md:NameIDFormat>${xmlEscape(f)}</md:NameIDFormat>`)
      .join('') +
    (spec.ssoRedirect === undefined
      ? ''
      : `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${xmlEscape(spec.ssoRedirect)}"/>`) +
    (spec.ssoPost === undefined
      ? ''
      : `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${xmlEscape(spec.ssoPost)}"/>`) +
    '</md:IDPSSODescriptor></md:EntityDescriptor>'
  );
}

/** An `<md:EntitiesDescriptor>` aggregate of entity XML fragments (from `buildIdpEntityXml(…, false)`). */
export function buildAggregateXml(entities: readonly string[], validUntil?: string): string {
  return (
    `<md:EntitiesDescriptor xmlns:md="${NS.md}" xmlns:ds="${NS.dsig}" ID="${samlId()}"${attr('validUntil', validUntil)}>` +
    entities.join('') +
    '</md:EntitiesDescriptor>'
  );
}
