/**
 * HTTP-POST logout messages: node-saml's signature verification (pinned keys, one Reference to
 * the root, unique ID) on node-saml's own parse, returning only the bytes the signature covered.
 *
 * @packageDocumentation
 */
// node-saml exports its XML helpers only from this module (it has no exports map). Its typings
// name DOM types this DOM-less build cannot see, so they are restated here.
import * as nodeSamlXml from '@node-saml/node-saml/lib/xml.js';
import { mapSamlError } from './map-saml-error.js';
import { protocolInvalid } from './protocol-error.js';

interface NodeSamlXml {
  readonly parseDomFromString: (xml: string) => Promise<{ readonly documentElement: unknown }>;
  readonly getVerifiedXml: (fullXml: string, node: unknown, pemFiles: string[]) => string | null;
}
const { getVerifiedXml, parseDomFromString } = nodeSamlXml as unknown as NodeSamlXml;

/**
 * Verifies the enveloped signature on a POSTed logout message's root element.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID when unsigned, signed by another key, or malformed
 */
export async function verifyPostLogout(xml: string, certs: readonly string[]): Promise<string> {
  let signed: string | null;
  try {
    const doc = await parseDomFromString(xml);
    signed = getVerifiedXml(xml, doc.documentElement, [...certs]);
  } catch (error) {
    throw mapSamlError(error);
  }
  if (signed === null) throw protocolInvalid('logout message is not signed by a pinned key');
  return signed;
}
