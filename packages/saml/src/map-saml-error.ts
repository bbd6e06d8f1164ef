/**
 * The one place that reads node-saml's error messages. node-saml throws plain `Error`s whose only
 * content is the message, so each known message is listed here with the reason it stands for;
 * the tests pin every entry against the installed node-saml, so a wording change upstream fails
 * the build instead of silently changing behaviour.
 *
 * @packageDocumentation
 */
import { AuthBridgeError, type AuthBridgeErrorCode, isAuthBridgeError } from '@authbridge/core';

/** Why node-saml refused a message, in our words. */
export type SamlFailureReason =
  | 'xml-invalid'
  | 'signature-invalid'
  | 'signature-structure'
  | 'multiple-assertions'
  | 'assertion-missing'
  | 'encrypted-assertion-invalid'
  | 'idp-status'
  | 'in-response-to'
  | 'subject-confirmation'
  | 'conditions'
  | 'time-window'
  | 'audience'
  | 'issuer'
  | 'logout-message'
  | 'query-signature'
  | 'unrecognised';

/** One known node-saml message. */
export interface KnownSamlMessage {
  /** The exact message, or a pattern for messages with variable parts. */
  readonly match: string | RegExp;
  readonly reason: SamlFailureReason;
}

/**
 * node-saml 5.1's messages, each copied from its source (lib/saml.js, lib/xml.js,
 * lib/date-time.js, lib/utility.js), then the xmldom and xml-crypto messages that pass through it.
 * Exported for the pinning tests.
 */
export const KNOWN_SAML_MESSAGES: readonly KnownSamlMessage[] = Object.freeze([
  { match: 'Not a valid XML document', reason: 'xml-invalid' },
  { match: /^Error parsing \w+: '.*' is not a valid date$/s, reason: 'time-window' },
  { match: 'Invalid document signature', reason: 'signature-invalid' },
  { match: 'Invalid signature', reason: 'signature-invalid' },
  { match: 'Invalid signature from encrypted assertion', reason: 'signature-invalid' },
  { match: 'Invalid signature on documentElement', reason: 'signature-invalid' },
  { match: 'Invalid signature: NoPassive', reason: 'signature-invalid' },
  { match: 'Invalid signature: No response found', reason: 'signature-invalid' },
  { match: 'Invalid signature, too many transforms', reason: 'signature-structure' },
  { match: 'Too many signatures found for this element', reason: 'signature-structure' },
  {
    match: 'ref URI included quote character \' or ". Not a valid ID, and not allowed',
    reason: 'signature-structure',
  },
  {
    match: 'Invalid signature: ID cannot refer to more than one element',
    reason: 'signature-structure',
  },
  {
    match: "Invalid signature: Referenced node does not refer to it's parent element",
    reason: 'signature-structure',
  },
  { match: 'signature reference uri not found', reason: 'signature-structure' },
  { match: 'Invalid signature: multiple assertions', reason: 'multiple-assertions' },
  { match: 'Cannot obtain assertion from signed data', reason: 'assertion-missing' },
  { match: 'Missing SAML assertion', reason: 'assertion-missing' },
  { match: 'Unknown SAML response message', reason: 'assertion-missing' },
  { match: 'Invalid EncryptedAssertion content', reason: 'encrypted-assertion-invalid' },
  {
    match: 'No decryption key for encrypted SAML response',
    reason: 'encrypted-assertion-invalid',
  },
  { match: /^SAML provider returned \w+ error: /s, reason: 'idp-status' },
  { match: 'InResponseTo is not valid', reason: 'in-response-to' },
  { match: 'InResponseTo is missing from response', reason: 'in-response-to' },
  { match: 'InResponseTo does not match subjectInResponseTo', reason: 'in-response-to' },
  { match: 'SubjectInResponseTo is not valid', reason: 'in-response-to' },
  {
    match: 'No valid subject confirmation found among those available in the SAML assertion',
    reason: 'subject-confirmation',
  },
  { match: 'Unable to process multiple conditions in SAML assertion', reason: 'conditions' },
  { match: 'SAML assertion not yet valid', reason: 'time-window' },
  { match: 'SAML assertion expired: clocks skewed too much', reason: 'time-window' },
  { match: 'SAML assertion expired: assertion too old', reason: 'time-window' },
  { match: 'SAML assertion has no AudienceRestriction', reason: 'audience' },
  { match: 'SAML assertion AudienceRestriction has no Audience value', reason: 'audience' },
  { match: /^SAML assertion audience mismatch\. Expected: /s, reason: 'audience' },
  { match: /^Unknown SAML issuer\. Expected: /s, reason: 'issuer' },
  { match: 'Missing SAML issuer', reason: 'issuer' },
  { match: /^Bad status code: /s, reason: 'logout-message' },
  { match: 'Missing SAML LogoutRequest ID', reason: 'logout-message' },
  { match: 'Missing SAML NameID', reason: 'logout-message' },
  { match: 'Unknown SAML request message', reason: 'logout-message' },
  { match: 'Invalid query signature', reason: 'query-signature' },
  { match: / is not supported$/s, reason: 'query-signature' },
  // Raised below node-saml and passed through it unchanged: xmldom 0.8 and xml-crypto 6.
  { match: /^\[xmldom (error|fatalError|warning)\]/, reason: 'xml-invalid' },
  {
    match: /^could not load signature that contains multiple SignedInfo nodes/,
    reason: 'signature-structure',
  },
  {
    match: /^could not load reference for a node that contains multiple DigestValue nodes/,
    reason: 'signature-structure',
  },
]);

/** The reason for a node-saml error message; `unrecognised` when it is not in the table. */
export function samlFailureReason(message: string): SamlFailureReason {
  for (const known of KNOWN_SAML_MESSAGES) {
    if (typeof known.match === 'string' ? known.match === message : known.match.test(message)) {
      return known.reason;
    }
  }
  return 'unrecognised';
}

/**
 * Turns whatever node-saml (or xml-crypto, xmldom, xml2js below it) threw into an
 * {@link AuthBridgeError}. Our own errors pass through unchanged (a store outage stays
 * STORE_UNAVAILABLE); everything else is PROTOCOL_INVALID with the reason in `detail`: an
 * unrecognised error is still a refusal, never a success.
 */
export function mapSamlError(
  error: unknown,
  code: AuthBridgeErrorCode = 'PROTOCOL_INVALID',
): AuthBridgeError {
  if (isAuthBridgeError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const reason = samlFailureReason(message);
  return new AuthBridgeError(code, undefined, {
    detail: `node-saml: ${reason}: ${message}`,
    cause: error,
  });
}
