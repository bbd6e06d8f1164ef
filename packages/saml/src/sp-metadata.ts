/**
 * SP metadata: our entityID, one ACS and one SLO endpoint per IdP, every published signing
 * certificate (the first is current, the others are for rollover) and every decryption
 * certificate; optionally signed with our key (RSA-SHA256, enveloped, exclusive c14n).
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { SAML_NS, SAML_URI } from './constants.js';
import { pemBody, xmlEscape } from './xml-text.js';

/** What SP metadata describes. */
export interface SpMetadataInput {
  readonly entityId: string;
  /** ACS and SLO URL per IdP, in configuration order (the first ACS is the default). */
  readonly endpoints: readonly { readonly acsUrl: string; readonly sloUrl: string }[];
  readonly signingCerts: readonly string[];
  readonly encryptionCerts: readonly string[];
  readonly authnRequestsSigned: boolean;
  readonly nameIdFormats: readonly string[];
  /** Sign with this key (its certificate must be `signingCerts[0]`). */
  readonly signingKey?: string | undefined;
  /** `validUntil` of the document. Default none. */
  readonly validUntil?: Date | undefined;
}

const ENCRYPTION_METHODS = [
  'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
];

function keyDescriptor(use: 'signing' | 'encryption', pem: string): string {
  return (
    `<md:KeyDescriptor use="${use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${pemBody(pem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>` +
    (use === 'encryption'
      ? ENCRYPTION_METHODS.map((m) => `<md:EncryptionMethod Algorithm="${m}"/>`).join('')
      : '') +
    '</md:KeyDescriptor>'
  );
}

/** Builds (and, with `signingKey`, signs) the SP's metadata document. */
export function buildSpMetadata(input: SpMetadataInput): string {
  const id = `_${randomBytes(20).toString('hex')}`;
  const xml =
    `<md:EntityDescriptor xmlns:md="${SAML_NS.metadata}" xmlns:ds="${SAML_NS.dsig}" ID="${id}" entityID="${xmlEscape(input.entityId)}"` +
    (input.validUntil === undefined ? '' : ` validUntil="${input.validUntil.toISOString()}"`) +
    '>' +
    `<md:SPSSODescriptor AuthnRequestsSigned="${String(input.authnRequestsSigned)}" WantAssertionsSigned="true" protocolSupportEnumeration="${SAML_NS.protocol}">` +
    input.signingCerts.map((c) => keyDescriptor('signing', c)).join('') +
    input.encryptionCerts.map((c) => keyDescriptor('encryption', c)).join('') +
    input.endpoints
      .map(
        (e) =>
          `<md:SingleLogoutService Binding="${SAML_URI.bindingRedirect}" Location="${xmlEscape(e.sloUrl)}"/>` +
          `<md:SingleLogoutService Binding="${SAML_URI.bindingPost}" Location="${xmlEscape(e.sloUrl)}"/>`,
      )
      .join('') +
    input.nameIdFormats.map((f) => `<md:NameIDFormat>${xmlEscape(f)}</md:NameIDFormat>`).join('') +
    input.endpoints
      .map(
        (e, i) =>
          `<md:AssertionConsumerService Binding="${SAML_URI.bindingPost}" Location="${xmlEscape(e.acsUrl)}" index="${i}"${i === 0 ? ' isDefault="true"' : ''}/>`,
      )
      .join('') +
    '</md:SPSSODescriptor></md:EntityDescriptor>';
  if (input.signingKey === undefined) return xml;
  const sig = new SignedXml({
    privateKey: input.signingKey,
    publicCert: input.signingCerts[0],
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath: "/*[local-name(.)='EntityDescriptor']",
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
    transforms: [
      'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
      'http://www.w3.org/2001/10/xml-exc-c14n#',
    ],
  });
  sig.computeSignature(xml, {
    prefix: 'ds',
    location: { reference: "/*[local-name(.)='EntityDescriptor']", action: 'prepend' },
  });
  return sig.getSignedXml();
}
