/**
 * Outbound logout messages over HTTP-POST (Bindings §3.5): node-saml builds them for the
 * Redirect binding only, so the LogoutRequest and LogoutResponse are written here and signed
 * enveloped (RSA-SHA256, SHA-256 digest, exclusive c14n) with xml-crypto when the SP has a key.
 *
 * @packageDocumentation
 */
import { SignedXml } from 'xml-crypto';
import { SAML_NS, SAML_URI } from './constants.js';
import { xmlEscape } from './xml-text.js';

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

/** The SP key that signs outbound messages. */
export interface SpSigner {
  readonly privateKey: string;
  /** Published in KeyInfo (the IdP still uses the certificate from our metadata). */
  readonly certificate: string;
}

/** What every outbound logout message carries. */
export interface OutboundHeader {
  readonly id: string;
  readonly issueInstant: Date;
  /** The IdP's SingleLogoutService URL. */
  readonly destination: string;
  /** Our entityID. */
  readonly issuer: string;
}

/** A LogoutRequest to write. */
export interface LogoutRequestFields extends OutboundHeader {
  readonly nameId: string;
  readonly nameIdFormat: string | undefined;
  readonly nameQualifier?: string | undefined;
  readonly spNameQualifier?: string | undefined;
  readonly sessionIndex: string | undefined;
}

/** A LogoutResponse to write. */
export interface LogoutResponseFields extends OutboundHeader {
  readonly inResponseTo: string;
  /** Default Success. */
  readonly statusCode?: string;
}

function open(name: string, header: OutboundHeader, extra: string): string {
  return (
    `<samlp:${name} xmlns:samlp="${SAML_NS.protocol}" xmlns:saml="${SAML_NS.assertion}"` +
    ` ID="${xmlEscape(header.id)}" Version="2.0"` +
    ` IssueInstant="${header.issueInstant.toISOString()}"` +
    ` Destination="${xmlEscape(header.destination)}"${extra}>` +
    `<saml:Issuer>${xmlEscape(header.issuer)}</saml:Issuer>`
  );
}

/** A LogoutRequest (Core §3.7.1), unsigned. */
export function logoutRequestXml(fields: LogoutRequestFields): string {
  const attr = (name: string, value: string | undefined): string =>
    value === undefined ? '' : ` ${name}="${xmlEscape(value)}"`;
  const qualifiers =
    attr('NameQualifier', fields.nameQualifier) + attr('SPNameQualifier', fields.spNameQualifier);
  const format = attr('Format', fields.nameIdFormat);
  const sessionIndex =
    fields.sessionIndex === undefined
      ? ''
      : `<samlp:SessionIndex>${xmlEscape(fields.sessionIndex)}</samlp:SessionIndex>`;
  return (
    open('LogoutRequest', fields, '') +
    `<saml:NameID${qualifiers}${format}>${xmlEscape(fields.nameId)}</saml:NameID>` +
    sessionIndex +
    '</samlp:LogoutRequest>'
  );
}

/** A LogoutResponse (Core §3.7.2), unsigned. */
export function logoutResponseXml(fields: LogoutResponseFields): string {
  return (
    open('LogoutResponse', fields, ` InResponseTo="${xmlEscape(fields.inResponseTo)}"`) +
    `<samlp:Status><samlp:StatusCode Value="${xmlEscape(fields.statusCode ?? SAML_URI.statusSuccess)}"/></samlp:Status>` +
    '</samlp:LogoutResponse>'
  );
}

/**
 * Signs the root element enveloped: one Reference to the root's ID, the Signature right after
 * the Issuer (where the schema puts it).
 */
export function signEnveloped(xml: string, signer: SpSigner): string {
  const sig = new SignedXml({
    privateKey: signer.privateKey,
    publicCert: signer.certificate,
    signatureAlgorithm: RSA_SHA256,
    canonicalizationAlgorithm: EXC_C14N,
  });
  sig.addReference({
    xpath: '/*',
    digestAlgorithm: SHA256,
    transforms: [ENVELOPED, EXC_C14N],
  });
  sig.computeSignature(xml, {
    prefix: 'ds',
    location: { reference: "/*/*[local-name(.)='Issuer']", action: 'after' },
  });
  return sig.getSignedXml();
}

/** The form fields of an HTTP-POST message: base64 (not deflated) and RelayState when given. */
export function postFields(
  kind: 'SAMLRequest' | 'SAMLResponse',
  xml: string,
  relayState: string | undefined,
): Readonly<Record<string, string>> {
  const fields = Object.create(null) as Record<string, string>;
  fields[kind] = Buffer.from(xml, 'utf8').toString('base64');
  if (relayState !== undefined && relayState !== '') fields['RelayState'] = relayState;
  return Object.freeze(fields);
}
